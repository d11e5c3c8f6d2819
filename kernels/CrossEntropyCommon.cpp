#include "kernels/CrossEntropyCommon.h"

#include <limits>

namespace xent::ce {

using ir::ParamInfo;
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

ScalarType element_of(LabelType type) { return type == LabelType::I32 ? ScalarType::I32 : ScalarType::I64; }

RowTensor RowTensor::declare(KernelBuilder& k, const std::string& name, ScalarType element, bool vector_aligned) {
  int elements_per_vector = 16 / (ir::bit_width(element) / 8);
  ParamInfo address{vector_aligned ? 16 : 0}, stride{vector_aligned ? elements_per_vector : 0};
  Expr pointer = k.param(Type::pointer_to(element), name, address);
  Expr s0 = k.param(ir::i64(), name + "_s0", stride);
  Expr s1 = k.param(ir::i64(), name + "_s1", stride);
  return {pointer, s0, s1};
}

Expr RowTensor::row_pointer(Expr row, Expr d1) const {
  KernelBuilder& k = row.builder();
  return k.addptr(pointer, (row / d1) * s0 + (row % d1) * s1);
}

Constexprs Constexprs::declare(KernelBuilder& k) {
  return {k.constexpr_param("vocab", ScalarType::I64),          k.constexpr_param("vocab_shard", ScalarType::I32),
          k.constexpr_param("label_smoothing", ScalarType::F32), k.constexpr_param("z_loss", ScalarType::F32),
          k.constexpr_param("reduction", ScalarType::I32),       k.constexpr_param("entropy", ScalarType::I32)};
}

Expr Constexprs::smoothing_on() const { return label_smoothing != 0.0; }
Expr Constexprs::z_loss_on() const { return z_loss != 0.0; }

Expr when(Expr flag, const std::function<Expr()>& then, Expr otherwise) {
  return flag.builder().if_else(flag, [&] { return Exprs{then()}; }, [&] { return Exprs{otherwise}; })[0];
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

RowStats RowStats::initial(KernelBuilder& k) {
  Expr zero = k.constant(0.0, ScalarType::F32);
  return {k.constant(-kInf, ScalarType::F32), zero, zero, zero, zero, zero};
}

Expr safe_max(Expr m) { return m.builder().select(m == -kInf, m.builder().literal(0.0, m), m); }

Expr log_sum_exp(Expr m, Expr d) { return safe_max(m) + m.builder().log(d); }

RowStats RowStats::accumulate(Expr x, Expr in_row, Expr is_label, const Constexprs& c) const {
  KernelBuilder& k = x.builder();
  Expr m_new = k.max(m, k.reduce_max(x));
  Expr shift = safe_max(m_new);
  Expr rescale = k.exp(m - shift);  // 0 while m is -inf
  Expr e = k.exp(x - shift);        // 0 for -inf entries and for columns past the row
  Expr zero = k.literal(0.0, x);
  RowStats next = *this;
  next.m = m_new;
  next.d_rest = d_rest * rescale + k.reduce_sum(k.select(is_label, zero, e));
  next.e_label = e_label * rescale + k.reduce_sum(k.select(is_label, e, zero));
  next.x_label = x_label + k.reduce_sum(k.select(is_label, x, zero));
  Expr in = in_row.defined() ? in_row : k.splat(k.constant_int(1, ScalarType::I1), x.type().shape());
  next.sum_x = when(c.smoothing_on(), [&] { return sum_x + k.reduce_sum(k.select(in, x, zero)); }, sum_x);
  // p·x tends to 0 as p does: exclude e == 0 so that a -inf logit adds 0, not 0·(-inf) = NaN.
  next.sum_ex = when(c.entropy != 0.0,
                     [&] { return sum_ex * rescale + k.reduce_sum(k.select(e > 0.0, e * x, zero)); }, sum_ex);
  return next;
}

Expr row_loss(Expr lse, Expr x_label, Expr sum_x, const LabelFacts& facts, const Constexprs& c) {
  KernelBuilder& k = lse.builder();
  Expr eps = c.label_smoothing;
  Expr loss = when(
      c.smoothing_on(),
      [&] { return (1.0 - eps) * (lse - x_label) + eps * (lse - sum_x / c.vocab.to(ScalarType::F32)); },
      lse - x_label);
  loss = when(c.z_loss_on(), [&] { return loss + c.z_loss * lse * lse; }, loss);
  Expr nan = k.literal(std::numeric_limits<double>::quiet_NaN(), loss);
  return k.select(facts.bad, nan, k.select(facts.ok, loss, k.literal(0.0, loss)));
}

Expr gradient(Expr x, Expr is_label, Expr lse, Expr rest, Expr scale, Expr ok, const Constexprs& c) {
  KernelBuilder& k = x.builder();
  Expr eps = c.label_smoothing;
  Expr p = k.exp(x - lse);
  Expr uniform = when(c.smoothing_on(), [&] { return eps / c.vocab.to(ScalarType::F32); }, k.constant(0.0, ScalarType::F32));
  Expr other = when(c.smoothing_on(), [&] { return p - uniform; }, p);
  // p_label − (1 − ε) − ε/V as −(1 − ε)·rest + ε·p_label − ε/V: no term near 1 is ever subtracted from another.
  Expr target = when(c.smoothing_on(), [&] { return eps * p - uniform - (1.0 - eps) * rest; },
                     k.splat(-rest, x.type().shape()));
  Expr g = k.select(is_label, target, other);
  g = when(c.z_loss_on(), [&] { return g + (2.0 * c.z_loss * lse) * p; }, g);
  return k.select(ok, g * scale, k.literal(0.0, g));
}

}  // namespace xent::ce
