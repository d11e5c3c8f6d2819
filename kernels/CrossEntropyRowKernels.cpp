// The kernels that run one program per row and walk the row's columns: stats, backward and fused.
#include <algorithm>
#include <limits>

#include "kernels/CrossEntropyKernels.h"
#include "kernels/CrossEntropyCommon.h"

namespace xent::ce {
namespace {

using ir::Kernel;

// Visits a row in tiles of `block` columns. `body(cols, in_row, carried)` gets the tile's column indices (i32 tile),
// the mask of the columns inside the row (undefined when the whole row is one tile) and the carried values, and
// returns the new carried values. A row of one tile is built without a loop, so its values stay usable afterwards.
using TileBody = std::function<Exprs(Expr cols, Expr in_row, const Exprs& carried)>;
Exprs for_each_tile(KernelBuilder& k, const CrossEntropySpec& spec, int64_t block, const Constexprs& c, Exprs carried,
                    const TileBody& body) {
  if (block >= spec.vocab_shard) return body(k.arange(0, spec.vocab_shard), Expr(), carried);
  Expr zero = k.constant_int(0, ScalarType::I32), step = k.constant_int(block, ScalarType::I32);
  return k.for_loop(zero, c.vocab_shard, step, carried, [&](Expr start, const Exprs& inner) {
    Expr cols = start + k.arange(0, block);
    return body(cols, cols < c.vocab_shard, inner);
  });
}

// The logits of a tile in fp32; -inf past the row's end.
Expr load_logits(KernelBuilder& k, Expr row_start, Expr cols, Expr in_row) {
  Expr at = k.addptr(row_start, cols);
  if (!in_row.defined()) return k.load(at).to(ScalarType::F32);
  Expr minus_inf = k.constant(-std::numeric_limits<double>::infinity(), row_start.type().pointee());
  return k.load(at, in_row, minus_inf).to(ScalarType::F32);
}

void store_gradient(KernelBuilder& k, Expr grad_row, Expr cols, Expr in_row, Expr g) {
  k.store(k.addptr(grad_row, cols), g.to(grad_row.type().pointee()), in_row);
}

// The parameters every row kernel starts with.
struct RowInputs {
  RowTensor logits, labels, mask;
  bool has_mask;
  Expr weights;
  static RowInputs declare(KernelBuilder& k, const CrossEntropySpec& spec, bool with_weights) {
    RowInputs in;
    in.logits = RowTensor::declare(k, "logits", element_of(spec.dtype), spec.aligned);
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
  Expr logits;
  static Row begin(KernelBuilder& k, const RowInputs& in, Expr d1, Expr ignore_index, Expr vocab_offset,
                   const Constexprs& c) {
    Row r;
    r.index = k.program_id(0).to(ScalarType::I64);
    r.facts = label_facts(k, in.labels, in.mask_or_null(), r.index, d1, ignore_index, c);
    r.label_column = local_label_column(r.facts, vocab_offset, c);
    r.logits = in.logits.row_pointer(r.index, d1);
    return r;
  }
};

// The shard's statistics of the row: lanes accumulate tile by tile and meet once at the end. When the row is one tile,
// `whole_row` receives its logits (to be reused).
RowStats row_statistics(KernelBuilder& k, const CrossEntropySpec& spec, int64_t block, const Constexprs& c,
                        const Row& row, Expr* whole_row = nullptr) {
  ir::Type::Shape lanes{std::min(block, spec.vocab_shard)};
  LaneStats stats = LaneStats::from(for_each_tile(k, spec, block, c, LaneStats::empty(k, lanes).to_exprs(),
                                                  [&](Expr cols, Expr in_row, const Exprs& carried) {
    Expr x = load_logits(k, row.logits, cols, in_row);
    Expr is_label = cols == row.label_column;
    if (in_row.defined()) return LaneStats::from(carried).accumulate(x, in_row, is_label, c).to_exprs();
    if (whole_row) *whole_row = x;
    return LaneStats::first(x, in_row, is_label, c).to_exprs();
  }));
  // The label's logit, read once instead of being picked out of every tile.
  Expr owns_label = row.label_column >= 0.0;
  Expr column = k.select(owns_label, row.label_column, k.constant_int(0, ScalarType::I32));
  Expr zero = k.constant(0.0, row.logits.type().pointee());
  Expr x_label = k.load(k.addptr(row.logits, column), owns_label, zero).to(ScalarType::F32);
  return stats.finish(x_label, owns_label, c);
}

}  // namespace

std::unique_ptr<Kernel> build_stats(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_stats");
  RowInputs in = RowInputs::declare(k, spec, false);
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
  RowInputs in = RowInputs::declare(k, spec, true);
  Expr lse_rows = k.param(ir::ptr(ScalarType::F32), "lse"), rest_rows = k.param(ir::ptr(ScalarType::F32), "rest");
  RowTensor grad_output = RowTensor::declare(k, "grad_output", ScalarType::F32);
  Expr inv_den = k.param(ir::ptr(ScalarType::F32), "inv_den");
  RowTensor grad = spec.in_place ? in.logits : RowTensor::declare(k, "grad", element_of(spec.dtype), spec.aligned);
  Expr d1 = k.param(ir::i64(), "d1"), ignore_index = k.param(ir::i64(), "ignore_index");
  Expr vocab_offset = k.param(ir::i64(), "vocab_offset");
  Constexprs c = Constexprs::declare(k);

  Tuning tuning = tuning_for(spec, CrossEntropyKernel::Backward);
  Row row = Row::begin(k, in, d1, ignore_index, vocab_offset, c);
  Expr scale = k.load(grad_output.row_pointer(row.index, d1)) * in.weight(k, row.index) * k.load(inv_den);
  Expr lse = k.load(k.addptr(lse_rows, row.index)), rest = k.load(k.addptr(rest_rows, row.index));
  Expr grad_row = grad.row_pointer(row.index, d1);
  for_each_tile(k, spec, tuning.block, c, {}, [&](Expr cols, Expr in_row, const Exprs&) {
    Expr x = load_logits(k, row.logits, cols, in_row);
    Expr g = gradient(x, cols == row.label_column, lse, rest, scale, row.facts.ok, c);
    store_gradient(k, grad_row, cols, in_row, g);
    return Exprs{};
  });
  k.set_attribute("threads", tuning.threads);
  return k.finish();
}

std::unique_ptr<Kernel> build_fused(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_fused");
  RowInputs in = RowInputs::declare(k, spec, true);
  Expr inv_den = k.param(ir::ptr(ScalarType::F32), "inv_den");
  Expr loss_rows = k.param(ir::ptr(ScalarType::F32), "loss_rows");
  Expr lse_rows = k.param(ir::ptr(ScalarType::F32), "lse"), rest_rows = k.param(ir::ptr(ScalarType::F32), "rest");
  RowTensor grad = spec.in_place ? in.logits : RowTensor::declare(k, "grad", element_of(spec.dtype), spec.aligned);
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
  Expr grad_row = grad.row_pointer(row.index, d1);
  for_each_tile(k, spec, tuning.block, c, {}, [&](Expr cols, Expr in_row, const Exprs&) {
    Expr x = whole_row.defined() ? whole_row : load_logits(k, row.logits, cols, in_row);
    Expr g = gradient(x, cols == row.label_column, lse, rest, scale, row.facts.ok, c);
    store_gradient(k, grad_row, cols, in_row, g);
    return Exprs{};
  });
  k.set_attribute("threads", tuning.threads);
  return k.finish();
}

}  // namespace xent::ce
