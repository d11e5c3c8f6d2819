#include "kernels/CrossEntropyCommon.h"

#include <limits>
#include <optional>

#include "compiler/passes/Rewrite.h"

namespace xent::ce {

using ir::ParamInfo;
using ir::ReduceKind;
using ir::Type;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

ScalarType element_of(DType dtype) {
  switch (dtype) {
    case DType::F32: return ScalarType::F32;
    case DType::BF16: return ScalarType::BF16;
    case DType::F16: return ScalarType::F16;
  }
  return ScalarType::F32;
}

Expr f32_param(KernelBuilder& k, const char* name) { return k.param(ir::ptr(ScalarType::F32), name); }

ScalarType element_of(LabelType type) { return type == LabelType::I32 ? ScalarType::I32 : ScalarType::I64; }

namespace {
int elements_per_vector(ScalarType element) { return 16 / (ir::bit_width(element) / 8); }
}  // namespace

RowTensor RowTensor::declare(KernelBuilder& k, const std::string& name, ScalarType element, Alignment alignment) {
  ParamInfo address{alignment != Alignment::None ? 16 : 0};
  ParamInfo stride{alignment == Alignment::Rows ? elements_per_vector(element) : 0};
  Expr pointer = k.param(Type::pointer_to(element), name, address);
  Expr s0 = k.param(ir::i64(), name + "_s0", stride);
  Expr s1 = k.param(ir::i64(), name + "_s1", stride);
  return {pointer, s0, s1, alignment};
}

Expr RowTensor::row_pointer(Expr row, Expr d1) const {
  KernelBuilder& k = row.builder();
  return k.addptr(pointer, (row / d1) * s0 + (row % d1) * s1);
}

RowStart RowTensor::row_start(Expr row, Expr d1) const {
  if (alignment != Alignment::Base) return {row_pointer(row, d1), Expr()};
  KernelBuilder& k = row.builder();
  // Rounding the offset down to a whole vector is what lets codegen prove the accesses 16-byte aligned.
  double vector = elements_per_vector(pointer.type().pointee());
  Expr offset = (row / d1) * s0 + (row % d1) * s1;
  Expr aligned = (offset / vector) * vector;
  return {k.addptr(pointer, aligned), (offset - aligned).to(ScalarType::I32)};
}

Constexprs Constexprs::declare(KernelBuilder& k) {
  return {k.constexpr_param("vocab", ScalarType::I64),           k.constexpr_param("vocab_shard", ScalarType::I32),
          k.constexpr_param("label_smoothing", ScalarType::F32), k.constexpr_param("z_loss", ScalarType::F32),
          k.constexpr_param("reduction", ScalarType::I32),       k.constexpr_param("entropy", ScalarType::I32)};
}

Expr Constexprs::smoothing_on() const { return label_smoothing != 0.0; }
Expr Constexprs::z_loss_on() const { return z_loss != 0.0; }

Expr when(Expr flag, const std::function<Expr()>& then, Expr otherwise) {
  return flag.builder().if_else(
      flag, [&] { return Exprs{then()}; }, [&] { return Exprs{otherwise}; })[0];
}

LabelFacts label_facts(KernelBuilder& k, const RowTensor& labels, const RowTensor* mask, Expr row, Expr d1,
                       Expr ignore_index, const Constexprs& c, Expr in_range) {
  // Rows past the end (in_range false) read nothing and count as ignored.
  auto load_row = [&](const RowTensor& t) {
    Expr zero = k.constant_int(0, t.pointer.type().pointee());
    return in_range.defined() ? k.load(t.row_pointer(row, d1), in_range, zero) : k.load(t.row_pointer(row, d1));
  };
  Expr label = load_row(labels).to(ScalarType::I64);
  Expr kept = label != ignore_index;
  if (in_range.defined()) kept = kept & in_range;
  if (mask) kept = kept & (load_row(*mask) != 0.0);
  Expr bad = kept & ((label < 0.0) | (label >= c.vocab));
  Expr ok = kept & (bad == 0.0);
  return {label, kept, bad, ok};
}

Expr local_label_column(const LabelFacts& facts, Expr vocab_offset, const Constexprs& c) {
  KernelBuilder& k = vocab_offset.builder();
  Expr local = facts.label - vocab_offset;
  Expr owned = facts.ok & (local >= 0.0) & (local < c.vocab_shard.to(ScalarType::I64));
  return k.select(owned, local.to(ScalarType::I32), k.literal(-1, local).to(ScalarType::I32));
}

Exprs for_each_row_tile(KernelBuilder& k, Expr rows, int64_t tile, Exprs carried, const RowTileBody& body) {
  Expr zero = k.constant_int(0, ScalarType::I64), step = k.constant_int(tile, ScalarType::I64);
  return k.for_loop(zero, rows, step, carried, [&](Expr start, const Exprs& inner) {
    Expr row = start + k.arange(0, tile).to(ScalarType::I64);
    return body(row, row < rows, inner);
  });
}

LabelCounts count_labels(KernelBuilder& k, const RowTensor& labels, const RowTensor* mask, Expr rows, Expr d1,
                         Expr ignore_index, const Constexprs& c, int64_t tile) {
  Expr zero = k.splat(k.constant_int(0, ScalarType::I32), {tile}), one = k.constant_int(1, ScalarType::I32);
  Exprs counts = for_each_row_tile(k, rows, tile, {zero, zero}, [&](Expr row, Expr in_range, const Exprs& n) {
    LabelFacts facts = label_facts(k, labels, mask, row, d1, ignore_index, c, in_range);
    return Exprs{n[0] + k.select(facts.ok, one, zero), n[1] + k.select(facts.bad, one, zero)};
  });
  return {k.reduce_sum(counts[0]), k.reduce_sum(counts[1])};
}

Expr reduction_scale(KernelBuilder& k, Expr ok_rows, Expr normalizer, const Constexprs& c) {
  Expr ok = ok_rows.to(ScalarType::F32);
  Expr zero = k.constant(0.0, ScalarType::F32), one = k.constant(1.0, ScalarType::F32);
  Expr mean_scale = k.select(ok > 0.0, 1.0 / ok, zero);
  Expr sum_scale = k.select(normalizer < 0.0, one, k.select(normalizer == 0.0, zero, 1.0 / normalizer));
  return k.select(c.reduction == 2.0, mean_scale, k.select(c.reduction == 1.0, sum_scale, one));
}

Expr sum_row_losses(KernelBuilder& k, Expr loss_rows, Expr rows, int64_t tile) {
  Expr zero = k.constant(0.0, ScalarType::F32);
  Exprs sum = for_each_row_tile(k, rows, tile, {k.splat(zero, {tile})}, [&](Expr row, Expr in_range, const Exprs& acc) {
    return Exprs{acc[0] + k.load(k.addptr(loss_rows, row), in_range, zero)};
  });
  return k.reduce_sum(sum[0]);
}

LossReduction LossReduction::declare(KernelBuilder& k, Expr loss_rows, Expr inv_den, Expr rows) {
  return {loss_rows, inv_den, f32_param(k, "loss"), k.param(ir::ptr(ScalarType::I32), "tickets"), rows};
}

void LossReduction::store_in_last_program(KernelBuilder& k, Expr programs, int64_t threads) const {
  Expr ticket = k.atomic_add(tickets, k.constant_int(1, ScalarType::I32)).to(ScalarType::I64);
  k.if_then(ticket == programs - 1.0, [&] {
    // Four rows a thread a step: few registers, whatever the kernel's own walk holds.
    k.store(loss, sum_row_losses(k, loss_rows, rows, 4 * threads) * k.load(inv_den));
    k.store(tickets, k.constant_int(0, ScalarType::I32));
  });
}

Expr safe_max(Expr m) { return m.builder().select(m == -kInf, m.builder().literal(0.0, m), m); }

Expr log_sum_exp(Expr m, Expr d) { return safe_max(m) + m.builder().log(d); }

LaneStats LaneStats::empty(KernelBuilder& k, int64_t lanes) {
  Expr zero = k.splat(k.constant(0.0, ScalarType::F32), {lanes});
  return {k.splat(k.constant(-kInf, ScalarType::F32), {lanes}), zero, zero, zero};
}

LaneStats LaneStats::accumulate(Expr x, Expr in_row, Expr is_label, const Constexprs& c) const {
  KernelBuilder& k = x.builder();
  auto fold_lanes = [&](ReduceKind kind, Expr t) { return k.reduce(kind, t, 1); };
  auto to_columns = [&](Expr lanes) { return k.broadcast(lanes, x.type().shape(), 0); };
  Expr zero = k.literal(0.0, x);
  // Max ignores NaN, so a NaN logit stays out of the max and reaches the sums through its exp.
  Expr m_new = k.max(m, fold_lanes(ReduceKind::Max, x));
  Expr shift = safe_max(m_new);
  Expr rescale = k.exp(m - shift), e = k.exp(x - to_columns(shift));  // 0 for -inf, never NaN
  LaneStats next;
  next.m = m_new;
  next.d_rest = d_rest * rescale + fold_lanes(ReduceKind::Sum, is_label.defined() ? k.select(is_label, zero, e) : e);
  next.sum_x = when(
      c.smoothing_on(),
      [&] { return sum_x + fold_lanes(ReduceKind::Sum, in_row.defined() ? k.select(in_row, x, zero) : x); }, sum_x);
  // p·x tends to 0 as p does: a -inf logit adds 0, not 0·(-inf) = NaN.
  next.sum_ex = when(
      c.entropy != 0.0, [&] { return sum_ex * rescale + fold_lanes(ReduceKind::Sum, k.select(e > 0.0, e * x, zero)); },
      sum_ex);
  return next;
}

RowStats LaneStats::finish(Expr x_label, Expr owns_label, const Constexprs& c) const {
  KernelBuilder& k = m.builder();
  RowStats row;
  row.m = k.reduce_max(m);
  Expr shift = safe_max(row.m);
  Expr lane_scale = k.exp(m - shift);
  Expr f_zero = k.constant(0.0, ScalarType::F32);
  row.d_rest = k.reduce_sum(d_rest * lane_scale);
  row.x_label = k.select(owns_label, x_label, f_zero);
  row.e_label = k.select(owns_label, k.exp(x_label - shift), f_zero);
  row.sum_x = when(
      c.smoothing_on(), [&] { return k.reduce_sum(sum_x); }, f_zero);
  row.sum_ex = when(
      c.entropy != 0.0, [&] { return k.reduce_sum(sum_ex * lane_scale); }, f_zero);
  return row;
}

RowStats merge_partials(Expr count, const PartialField& field, Expr zero, const Constexprs& c) {
  KernelBuilder& k = count.builder();
  // Over r = 0 .. count - 1: unrolled here when the count is a constant (a cluster's size), else a loop (a group's
  // world size). Left to LLVM, a loop of 16 stayed a loop, and the values the gradient needs after it stayed live
  // across it: 92 registers a thread for 16-program clusters, 72 unrolled.
  const std::optional<ir::Literal> constant_count = passes::constant_value(count.value());
  auto over_partials = [&](Exprs carried, const KernelBuilder::LoopBody& body) {
    if (!constant_count) {
      Expr first = k.constant_int(0, ScalarType::I32), one = k.constant_int(1, ScalarType::I32);
      return k.for_loop(first, count, one, std::move(carried), body);
    }
    for (int64_t r = 0; r < constant_count->integer; ++r) carried = body(k.constant_int(r, ScalarType::I32), carried);
    return carried;
  };
  Expr minus_inf = k.literal(-kInf, zero);
  Expr m = over_partials({minus_inf}, [&](Expr r, const Exprs& acc) { return Exprs{k.max(acc[0], field(r, 0))}; })[0];
  Expr shift = safe_max(m);
  return RowStats::from(over_partials({m, zero, zero, zero, zero, zero}, [&](Expr r, const Exprs& acc) {
    RowStats s = RowStats::from(acc);
    Expr rescale = k.exp(field(r, 0) - shift);
    s.d_rest = s.d_rest + field(r, 1) * rescale;
    s.e_label = s.e_label + field(r, 2) * rescale;
    s.x_label = s.x_label + field(r, 3);
    s.sum_x = when(
        c.smoothing_on(), [&] { return s.sum_x + field(r, 4); }, s.sum_x);
    s.sum_ex = when(
        c.entropy != 0.0, [&] { return s.sum_ex + field(r, 5) * rescale; }, s.sum_ex);
    return s.to_exprs();
  }));
}

void store_partials(KernelBuilder& k, Expr out, const RowStats& stats, const Constexprs& c) {
  auto field = [&](int f) { return k.addptr(out, k.constant_int(f, ScalarType::I64)); };
  k.store(field(0), stats.m);
  k.store(field(1), stats.d_rest);
  k.store(field(2), stats.e_label);
  k.store(field(3), stats.x_label);
  k.if_then(c.smoothing_on(), [&] { k.store(field(4), stats.sum_x); });
  k.if_then(c.entropy != 0.0, [&] { k.store(field(5), stats.sum_ex); });
}

Expr row_loss(Expr lse, Expr x_label, Expr sum_x, const LabelFacts& facts, const Constexprs& c) {
  KernelBuilder& k = lse.builder();
  Expr eps = c.label_smoothing;
  Expr loss = when(
      c.smoothing_on(),
      [&] { return (1.0 - eps) * (lse - x_label) + eps * (lse - sum_x / c.vocab.to(ScalarType::F32)); }, lse - x_label);
  loss = when(
      c.z_loss_on(), [&] { return loss + c.z_loss * lse * lse; }, loss);
  Expr nan = k.literal(std::numeric_limits<double>::quiet_NaN(), loss);
  return k.select(facts.bad, nan, k.select(facts.ok, loss, k.literal(0.0, loss)));
}

RowOutputs row_outputs(const RowStats& global, const LabelFacts& facts, const Constexprs& c) {
  KernelBuilder& k = global.m.builder();
  Expr d = global.d_rest + global.e_label;
  Expr lse = log_sum_exp(global.m, d);
  Expr logprob = k.select(facts.ok, global.x_label - lse, k.literal(0.0, lse));
  return {row_loss(lse, global.x_label, global.sum_x, facts, c), lse, global.d_rest / d, logprob,
          lse - global.sum_ex / d};
}

Expr gradient(Expr x, Expr is_label, Expr lse, Expr rest, Expr scale, const Constexprs& c) {
  KernelBuilder& k = x.builder();
  Expr eps = c.label_smoothing;
  Expr p = k.exp(x - lse);
  Expr uniform = when(
      c.smoothing_on(), [&] { return eps / c.vocab.to(ScalarType::F32); }, k.constant(0.0, ScalarType::F32));
  Expr other = when(
      c.smoothing_on(), [&] { return p - uniform; }, p);
  Expr g = other;
  if (is_label.defined()) {
    // p_label − (1 − ε) − ε/V as −(1 − ε)·rest + ε·p_label − ε/V: no term near 1 is ever subtracted from another.
    Expr target = when(
        c.smoothing_on(), [&] { return eps * p - uniform - (1.0 - eps) * rest; }, k.splat(-rest, x.type().shape()));
    g = k.select(is_label, target, other);
  }
  g = when(
      c.z_loss_on(), [&] { return g + (2.0 * c.z_loss * lse) * p; }, g);
  return g * scale;
}

}  // namespace xent::ce
