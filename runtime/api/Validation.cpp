#include "runtime/api/Validation.h"

#include <algorithm>
#include <array>

#include "compiler/Error.h"
#include "kernels/CrossEntropyLaunch.h"

namespace xent::api {
namespace {

constexpr int64_t kMaxRows = (int64_t{1} << 31) - 1;  // one program per row along the grid's x dimension

bool is_float(ElementType t) { return t == ElementType::F32 || t == ElementType::BF16 || t == ElementType::F16; }
bool is_label(ElementType t) { return t == ElementType::I32 || t == ElementType::I64; }

void check_dtype(const char* name, ElementType got, ElementType want, const char* source) {
  if (got != want)
    throw UserError(cat(name, ".dtype: ", to_string(got), " does not match ", source, " ", to_string(want)));
}

// A row tensor's own checks; `width` is its row length (0 for per-row tensors).
void check_rows(const char* name, const Rows& t, const Args& a, int64_t width) {
  const int64_t rows = a.d0 * a.d1;
  if (t.stride0 < 0 || t.stride1 < 0)
    throw UserError(cat(name, ": strides must be >= 0, got [", t.stride0, ", ", t.stride1, "]"));
  if (rows == 0) return;  // an empty tensor may have no storage
  if (t.data == 0)
    throw UserError(
        cat(name, ": null pointer; pass the device address of its [d0, d1", width ? ", V_r" : "", "] elements"));
  if (t.data % element_bytes(t.dtype))
    throw UserError(cat(name, ": address 0x", std::hex, t.data, std::dec, " is not aligned to its ",
                        element_bytes(t.dtype), "-byte elements"));
  if (width == 0) return;
  // Rows of `width` elements at i0 * s0 + i1 * s1 are disjoint when, taking the dimensions of extent > 1 by increasing
  // stride, each stride steps over everything the smaller ones span. Stride 0 with extent > 1 never does.
  std::array<std::pair<int64_t, int64_t>, 2> dims = {{{t.stride0, a.d0}, {t.stride1, a.d1}}};
  std::sort(dims.begin(), dims.end());
  __int128 span = width;
  for (auto [stride, extent] : dims) {
    if (extent <= 1) continue;
    if (stride < span)
      throw UserError(cat(name, ": strides [", t.stride0, ", ", t.stride1, "] make rows of shape [", a.d0, ", ", a.d1,
                          "] with ", width, " columns overlap; each row needs its own ", width,
                          " elements (contiguous: [", a.d1 * width, ", ", width, "])"));
    span += __int128(extent - 1) * stride;
  }
}

}  // namespace

std::string to_string(ElementType type) {
  constexpr std::array<const char*, 5> names = {"F32", "BF16", "F16", "I32", "I64"};
  int i = static_cast<int>(type);
  return i >= 0 && i < int(names.size()) ? names[i] : cat("unknown type ", i);
}

int element_bytes(ElementType type) {
  return type == ElementType::BF16 || type == ElementType::F16 ? 2 : type == ElementType::I64 ? 8 : 4;
}

CrossEntropySpec checked_spec(const CrossEntropyOptions& o) {
  if (!is_float(o.dtype)) throw UserError(cat("options.dtype: must be F32, BF16 or F16, got ", to_string(o.dtype)));
  if (!is_label(o.label_dtype))
    throw UserError(cat("options.label_dtype: must be I32 or I64, got ", to_string(o.label_dtype)));
  int reduction = static_cast<int>(o.reduction);
  if (reduction < 0 || reduction > 2)
    throw UserError(cat("options.reduction: unknown value ", reduction, "; use None, Sum or Mean"));
  if (o.vocab < 1) throw UserError(cat("options.vocab: must be at least 1, got ", o.vocab));
  const int64_t V = o.vocab, shard = o.vocab_shard == -1 ? V : o.vocab_shard, r = o.rank, W = o.world;
  if (shard < 1)
    throw UserError(
        cat("options.vocab_shard: must be at least 1 (every rank holds some columns) or -1 for the whole "
            "vocabulary, got ",
            o.vocab_shard));
  if (W < 1 || W > V) throw UserError(cat("options.world: must be in [1, vocab = ", V, "], got ", W));
  if (r < 0 || r >= W) throw UserError(cat("options.rank: must be in [0, world = ", W, "), got ", r));
  // Every rank holds at least one column, so rank r's shard lies in [r, V - (W - 1 - r)); the first starts at 0 and
  // the last ends at V.
  if (o.vocab_offset < r || o.vocab_offset + shard > V - (W - 1 - r) || (r == 0 && o.vocab_offset != 0) ||
      (r == W - 1 && o.vocab_offset + shard != V))
    throw UserError(cat("options.vocab_offset, options.vocab_shard: columns [", o.vocab_offset, ", ",
                        o.vocab_offset + shard, ") cannot be rank ", r, "'s shard of a vocabulary of ", V, " over ", W,
                        " ranks (rank 0 starts at 0, the last rank ends at V, every rank holds a column)"));
  CrossEntropySpec spec;
  spec.dtype = o.dtype == ElementType::F32 ? DType::F32 : o.dtype == ElementType::BF16 ? DType::BF16 : DType::F16;
  spec.label_type = o.label_dtype == ElementType::I32 ? LabelType::I32 : LabelType::I64;
  spec.vocab = V;
  spec.vocab_shard = shard;
  spec.label_smoothing = o.label_smoothing;
  spec.z_loss = o.z_loss;
  spec.reduction = o.reduction == LossReduction::None  ? Reduction::None
                   : o.reduction == LossReduction::Sum ? Reduction::Sum
                                                       : Reduction::Mean;
  spec.has_mask = o.has_mask;
  spec.has_weights = o.has_weights;
  spec.entropy = o.entropy;
  spec.in_place = o.in_place;
  spec.tuning = {o.tuning.threads, o.tuning.block};
  spec.validate();
  return spec;
}

void check_workspace(const CrossEntropyOptions& o, const Args& a) {
  if (a.d0 < 0 || a.d1 < 0)
    throw UserError(cat("d0, d1: the leading shape must be >= 0, got [", a.d0, ", ", a.d1, "]"));
  if (a.d1 > 0 && a.d0 > kMaxRows / a.d1)
    throw UserError(cat("d0, d1: at most 2^31 - 1 rows, got ", a.d0, " x ", a.d1));
  const uint64_t need = workspace_bytes(a.d0 * a.d1, o.world);
  if (a.workspace == 0)
    throw UserError(cat("workspace: null pointer; pass ", need, " bytes of device memory (workspace_bytes)"));
  if (a.workspace % 16) throw UserError("workspace: must be 16-byte aligned");
  if (a.workspace_bytes < need)
    throw UserError(cat("workspace_bytes: ", a.workspace_bytes, " bytes is less than the ", need, " needed for ",
                        a.d0 * a.d1, " rows and ", o.world, " ranks (workspace_bytes)"));
}

void check_args(const CrossEntropyOptions& o, const CrossEntropySpec& spec, const Args& a, Call call) {
  check_workspace(o, a);
  if ((call == Call::Forward || call == Call::Fused) && o.world != 1)
    throw UserError(cat(call == Call::Forward ? "forward" : "fused", ": this op is rank ", o.rank, " of ", o.world,
                        "; a sharded vocabulary needs bind() to a collective before forward(), or partials(), an "
                        "all-gather of the partials, then "
                        "finish_forward()"));
  const bool logits = call != Call::FinishForward;
  const bool grad = (call == Call::Backward || call == Call::Fused) && !o.in_place;
  const bool weights = o.has_weights && call != Call::Partials;
  if (logits) {
    check_dtype("logits", a.logits.dtype, o.dtype, "options.dtype");
    check_rows("logits", a.logits, a, spec.vocab_shard);
  }
  check_dtype("labels", a.labels.dtype, o.label_dtype, "options.label_dtype");
  check_rows("labels", a.labels, a, 0);
  if (o.has_mask) {
    check_dtype("mask", a.mask.dtype, ElementType::I32, "the mask's type");
    check_rows("mask", a.mask, a, 0);
  }
  if (weights && a.d0 * a.d1 > 0 && (a.weights == 0 || a.weights % 4))
    throw UserError("weights: options.has_weights needs the device address of d0 * d1 F32 weights (4-byte aligned)");
  if ((call == Call::Backward || call == Call::Fused) && o.in_place && a.grad.data && a.grad.data != a.logits.data)
    throw UserError("grad: options.in_place writes the gradient over the logits; pass grad.data = 0");
  if (grad) {
    check_dtype("grad", a.grad.dtype, o.dtype, "options.dtype");
    check_rows("grad", a.grad, a, spec.vocab_shard);
  }
  if (call == Call::Backward) {
    check_dtype("grad_output", a.grad_output.dtype, ElementType::F32, "the upstream gradient's type");
    check_rows("grad_output", a.grad_output, a, 0);
  }
}

}  // namespace xent::api
