// The kernels that run one program per row and walk the row's columns: stats, backward and fused.
#include <algorithm>
#include <limits>

#include "kernels/CrossEntropyCommon.h"
#include "kernels/CrossEntropyKernels.h"

namespace xent::ce {
namespace {

using ir::Kernel;

// One tile of a row: its columns of the row (i32 tile), their offsets from where the row's accesses start (the
// columns plus the row's head), the mask of the columns inside the row (undefined when all are), and whether the tile
// is the whole row (built without a loop, so its values stay usable afterwards).
struct Tile {
  Expr columns, offsets, in_row;
  bool whole_row;
};

// The offsets a row's walk covers: the row, and with a head (Alignment::Base) up to one vector more. The same number
// as row_extent (CrossEntropyKernels.h), which the tuning side uses: a row has a head exactly when alignment_for is Base.
int64_t walk_extent(const CrossEntropySpec& spec, bool has_head) {
  return spec.vocab_shard + (has_head ? 16 / dtype_bytes(spec.dtype) - 1 : 0);
}

// Visits a row in tiles of `block` columns: `body(tile, carried)` returns the new carried values.
using TileBody = std::function<Exprs(const Tile& tile, const Exprs& carried)>;
Exprs for_each_tile(KernelBuilder& k, const CrossEntropySpec& spec, int64_t block, const Constexprs& c, Expr head,
                    Exprs carried, const TileBody& body) {
  int64_t extent = walk_extent(spec, head.defined());
  auto tile_at = [&](Expr offsets, bool whole_row) -> Tile {
    if (!head.defined()) return {offsets, offsets, whole_row ? Expr() : offsets < c.vocab_shard, whole_row};
    Expr columns = offsets - head;
    return {columns, offsets, (columns >= 0.0) & (columns < c.vocab_shard), whole_row};
  };
  if (block >= extent) return body(tile_at(k.arange(0, extent), true), carried);
  Expr zero = k.constant_int(0, ScalarType::I32), step = k.constant_int(block, ScalarType::I32);
  Expr end = c.vocab_shard + double(extent - spec.vocab_shard);
  return k.for_loop(zero, end, step, carried, [&](Expr start, const Exprs& inner) {
    return body(tile_at(start + k.arange(0, block), false), inner);
  });
}

// The logits of a tile in fp32; -inf past the row's end.
Expr load_logits(KernelBuilder& k, Expr row_start, Expr cols, Expr in_row) {
  Expr at = k.addptr(row_start, cols);
  if (!in_row.defined()) return k.load(at).to(ScalarType::F32);
  Expr minus_inf = k.constant(-std::numeric_limits<double>::infinity(), row_start.type().pointee());
  return k.load(at, in_row, minus_inf).to(ScalarType::F32);
}

// The parameters every row kernel starts with.
struct RowInputs {
  RowTensor logits, labels, mask;
  bool has_mask;
  Expr weights;
  static RowInputs declare(KernelBuilder& k, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                           bool with_weights) {
    RowInputs in;
    in.logits = RowTensor::declare(k, "logits", element_of(spec.dtype), alignment_for(spec, kernel));
    in.labels = RowTensor::declare(k, "labels", element_of(spec.label_type));
    in.has_mask = spec.has_mask;
    if (spec.has_mask) in.mask = RowTensor::declare(k, "mask", ScalarType::I32);
    if (with_weights && spec.has_weights) in.weights = k.param(ir::ptr(ScalarType::F32), "weights");
    return in;
  }
  const RowTensor* mask_or_null() const { return has_mask ? &mask : nullptr; }
  // weight_i, or 1 without weights.
  Expr weight(KernelBuilder& k, Expr row) const {
    return weights.defined() ? k.load(k.addptr(weights, row)) : k.constant(1.0, ScalarType::F32);
  }
};

// This program's row: its index, its label facts, the label's column in this shard, and where its logits start.
struct Row {
  Expr index;
  LabelFacts facts;
  Expr label_column;
  RowStart logits;
  static Row begin(KernelBuilder& k, const RowInputs& in, Expr d1, Expr ignore_index, Expr vocab_offset,
                   const Constexprs& c) {
    Row r;
    r.index = k.program_id(0).to(ScalarType::I64);
    r.facts = label_facts(k, in.labels, in.mask_or_null(), r.index, d1, ignore_index, c);
    r.label_column = local_label_column(r.facts, vocab_offset, c);
    r.logits = in.logits.row_start(r.index, d1);
    return r;
  }
  // Walks the row's tiles (see for_each_tile).
  Exprs walk(KernelBuilder& k, const CrossEntropySpec& spec, int64_t block, const Constexprs& c, Exprs carried,
             const TileBody& body) const {
    return for_each_tile(k, spec, block, c, logits.head, std::move(carried), body);
  }
};

// The shard's statistics of the row: lanes accumulate tile by tile and meet once at the end. When the row is one tile,
// `whole_row` receives its logits (to be reused).
RowStats row_statistics(KernelBuilder& k, const CrossEntropySpec& spec, int64_t block, const Constexprs& c,
                        const Row& row, Expr* whole_row = nullptr) {
  int64_t lanes = std::min(block, walk_extent(spec, row.logits.head.defined()));
  LaneStats stats = LaneStats::from(
      row.walk(k, spec, block, c, LaneStats::empty(k, {lanes}).to_exprs(), [&](const Tile& tile, const Exprs& carried) {
        Expr x = load_logits(k, row.logits.pointer, tile.offsets, tile.in_row);
        Expr is_label = tile.columns == row.label_column;
        if (!tile.whole_row) return LaneStats::from(carried).accumulate(x, tile.in_row, is_label, c).to_exprs();
        if (whole_row) *whole_row = x;
        return LaneStats::first(x, tile.in_row, is_label, c).to_exprs();
      }));
  // The label's logit, read once instead of being picked out of every tile.
  Expr owns_label = row.label_column >= 0.0;
  Expr column = k.select(owns_label, row.label_column, k.constant_int(0, ScalarType::I32));
  if (row.logits.head.defined()) column = column + row.logits.head;
  Expr zero = k.constant(0.0, row.logits.pointer.type().pointee());
  Expr x_label = k.load(k.addptr(row.logits.pointer, column), owns_label, zero).to(ScalarType::F32);
  return stats.finish(x_label, owns_label, c);
}

// Writes the gradient of the row, tile by tile; `whole_row` (when defined) holds the logits already.
void write_gradient(KernelBuilder& k, const CrossEntropySpec& spec, int64_t block, const Constexprs& c, const Row& row,
                    Expr grad_start, Expr lse, Expr rest, Expr scale, Expr whole_row = {}) {
  row.walk(k, spec, block, c, {}, [&](const Tile& tile, const Exprs&) {
    Expr x = whole_row.defined() ? whole_row : load_logits(k, row.logits.pointer, tile.offsets, tile.in_row);
    Expr g = gradient(x, tile.columns == row.label_column, lse, rest, scale, row.facts.ok, c);
    k.store(k.addptr(grad_start, tile.offsets), g.to(grad_start.type().pointee()), tile.in_row);
    return Exprs{};
  });
}

}  // namespace

std::unique_ptr<Kernel> build_stats(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_stats");
  RowInputs in = RowInputs::declare(k, spec, CrossEntropyKernel::Stats, false);
  Expr partials = k.param(ir::ptr(ScalarType::F32), "partials");
  Expr d1 = k.param(ir::i64(), "d1"), ignore_index = k.param(ir::i64(), "ignore_index");
  Expr vocab_offset = k.param(ir::i64(), "vocab_offset");
  Constexprs c = Constexprs::declare(k);

  Row row = Row::begin(k, in, d1, ignore_index, vocab_offset, c);
  Tuning tuning = tuning_for(spec, CrossEntropyKernel::Stats);
  RowStats stats = row_statistics(k, spec, tuning.block, c, row);

  Expr out = k.addptr(partials, row.index * double(kPartialFields));
  auto field = [&](int f) { return k.addptr(out, k.constant_int(f, ScalarType::I64)); };
  k.store(field(0), stats.m);
  k.store(field(1), stats.d_rest);
  k.store(field(2), stats.e_label);
  k.store(field(3), stats.x_label);
  k.if_then(c.smoothing_on(), [&] { k.store(field(4), stats.sum_x); });
  k.if_then(c.entropy != 0.0, [&] { k.store(field(5), stats.sum_ex); });
  k.set_attribute("threads", tuning.threads);
  return k.finish();
}

std::unique_ptr<Kernel> build_backward(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_backward");
  RowInputs in = RowInputs::declare(k, spec, CrossEntropyKernel::Backward, true);
  Expr lse_rows = k.param(ir::ptr(ScalarType::F32), "lse"), rest_rows = k.param(ir::ptr(ScalarType::F32), "rest");
  RowTensor grad_output = RowTensor::declare(k, "grad_output", ScalarType::F32);
  Expr inv_den = k.param(ir::ptr(ScalarType::F32), "inv_den");
  RowTensor grad =
      spec.in_place ? in.logits : RowTensor::declare(k, "grad", element_of(spec.dtype), in.logits.alignment);
  Expr d1 = k.param(ir::i64(), "d1"), ignore_index = k.param(ir::i64(), "ignore_index");
  Expr vocab_offset = k.param(ir::i64(), "vocab_offset");
  Constexprs c = Constexprs::declare(k);

  Tuning tuning = tuning_for(spec, CrossEntropyKernel::Backward);
  Row row = Row::begin(k, in, d1, ignore_index, vocab_offset, c);
  Expr scale = k.load(grad_output.row_pointer(row.index, d1)) * in.weight(k, row.index) * k.load(inv_den);
  Expr lse = k.load(k.addptr(lse_rows, row.index)), rest = k.load(k.addptr(rest_rows, row.index));
  // Alignment::Base promises the gradient has the logits' strides, so its rows have the same head.
  write_gradient(k, spec, tuning.block, c, row, grad.row_start(row.index, d1).pointer, lse, rest, scale);
  k.set_attribute("threads", tuning.threads);
  return k.finish();
}

std::unique_ptr<Kernel> build_fused(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_fused");
  RowInputs in = RowInputs::declare(k, spec, CrossEntropyKernel::Fused, true);
  Expr inv_den = k.param(ir::ptr(ScalarType::F32), "inv_den");
  Expr loss_rows = k.param(ir::ptr(ScalarType::F32), "loss_rows");
  Expr lse_rows = k.param(ir::ptr(ScalarType::F32), "lse"), rest_rows = k.param(ir::ptr(ScalarType::F32), "rest");
  RowTensor grad =
      spec.in_place ? in.logits : RowTensor::declare(k, "grad", element_of(spec.dtype), in.logits.alignment);
  Expr d1 = k.param(ir::i64(), "d1"), ignore_index = k.param(ir::i64(), "ignore_index");
  Expr grad_scale = k.param(ir::f32(), "grad_scale");
  Constexprs c = Constexprs::declare(k);

  Row row = Row::begin(k, in, d1, ignore_index, k.constant_int(0, ScalarType::I64), c);
  Expr whole_row;  // the row's logits, kept when the row is one tile so that it is read once
  Tuning tuning = tuning_for(spec, CrossEntropyKernel::Fused);
  RowStats stats = row_statistics(k, spec, tuning.block, c, row, &whole_row);

  Expr d = stats.d_rest + stats.e_label;
  Expr lse = log_sum_exp(stats.m, d), rest = stats.d_rest / d;
  Expr weight = in.weight(k, row.index);
  k.store(k.addptr(loss_rows, row.index), row_loss(lse, stats.x_label, stats.sum_x, row.facts, c) * weight);
  k.store(k.addptr(lse_rows, row.index), lse);
  k.store(k.addptr(rest_rows, row.index), rest);
  Expr scale = grad_scale * weight * k.load(inv_den);
  write_gradient(k, spec, tuning.block, c, row, grad.row_start(row.index, d1).pointer, lse, rest, scale, whole_row);
  k.set_attribute("threads", tuning.threads);
  return k.finish();
}

}  // namespace xent::ce
