#include "compiler/ir/Semantics.h"

#include <bit>
#include <cmath>
#include <limits>

#include "compiler/Error.h"

namespace xent::ir {

uint16_t float_to_bf16_bits(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // keep it a (quiet) NaN
  uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float bf16_bits_to_float(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t float_to_f16_bits(float value) { return std::bit_cast<uint16_t>(static_cast<_Float16>(value)); }

float f16_bits_to_float(uint16_t bits) { return static_cast<float>(std::bit_cast<_Float16>(bits)); }

float round_to(ScalarType type, float value) {
  switch (type) {
    case ScalarType::BF16: return bf16_bits_to_float(float_to_bf16_bits(value));
    case ScalarType::F16: return f16_bits_to_float(float_to_f16_bits(value));
    default: return value;
  }
}

int64_t wrap_integer(ScalarType type, int64_t value) {
  switch (type) {
    case ScalarType::I1: return value & 1;
    case ScalarType::I32: return static_cast<int32_t>(static_cast<uint32_t>(value));
    default: return value;
  }
}

namespace {

Literal real(ScalarType type, float value) {
  Literal l;
  l.real = round_to(type, value);
  return l;
}

Literal integer(ScalarType type, int64_t value) {
  Literal l;
  l.integer = wrap_integer(type, value);
  return l;
}

Literal eval_float_binary(OpKind kind, ScalarType type, float a, float b) {
  switch (kind) {
    case OpKind::Add: return real(type, a + b);
    case OpKind::Sub: return real(type, a - b);
    case OpKind::Mul: return real(type, a * b);
    case OpKind::Div: return real(type, a / b);
    case OpKind::Max: return real(type, std::fmax(a, b));
    case OpKind::Min: return real(type, std::fmin(a, b));
    default: throw InternalError(cat("eval_binary: '", op_info(kind).name, "' is not defined on floats"));
  }
}

Literal eval_integer_binary(OpKind kind, ScalarType type, int64_t a, int64_t b) {
  // Unsigned arithmetic wraps without undefined behaviour; wrap_integer brings it back to the type's width.
  auto ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  switch (kind) {
    case OpKind::Add: return integer(type, static_cast<int64_t>(ua + ub));
    case OpKind::Sub: return integer(type, static_cast<int64_t>(ua - ub));
    case OpKind::Mul: return integer(type, static_cast<int64_t>(ua * ub));
    case OpKind::Div:
    case OpKind::Rem:
      if (b == 0) throw UserError(cat("integer ", op_info(kind).name, " by zero"));
      if (b == -1) return integer(type, kind == OpKind::Div ? static_cast<int64_t>(0 - ua) : 0);
      return integer(type, kind == OpKind::Div ? a / b : a % b);
    case OpKind::Max: return integer(type, std::max(a, b));
    case OpKind::Min: return integer(type, std::min(a, b));
    case OpKind::And: return integer(type, a & b);
    case OpKind::Or: return integer(type, a | b);
    default: throw InternalError(cat("eval_binary: '", op_info(kind).name, "' is not defined on integers"));
  }
}

}  // namespace

Literal eval_unary(OpKind kind, ScalarType type, Literal x) {
  if (is_integer(type)) {
    if (kind != OpKind::Neg) throw InternalError(cat("eval_unary: '", op_info(kind).name, "' needs a float"));
    return integer(type, static_cast<int64_t>(0 - static_cast<uint64_t>(x.integer)));
  }
  float v = static_cast<float>(x.real);
  switch (kind) {
    case OpKind::Neg: return real(type, -v);
    case OpKind::Exp: return real(type, std::exp(v));
    case OpKind::Exp2: return real(type, std::exp2(v));
    case OpKind::Log: return real(type, std::log(v));
    case OpKind::Log2: return real(type, std::log2(v));
    case OpKind::Tanh: return real(type, std::tanh(v));
    default: throw InternalError(cat("eval_unary: '", op_info(kind).name, "' is not unary"));
  }
}

Literal eval_binary(OpKind kind, ScalarType type, Literal a, Literal b) {
  if (is_float(type)) return eval_float_binary(kind, type, static_cast<float>(a.real), static_cast<float>(b.real));
  return eval_integer_binary(kind, type, a.integer, b.integer);
}

bool eval_cmp(CmpPredicate predicate, ScalarType type, Literal a, Literal b) {
  if (is_float(type)) {
    double x = a.real, y = b.real;  // exact: both hold values of `type`
    switch (predicate) {
      case CmpPredicate::Eq: return x == y;
      case CmpPredicate::Ne: return !(x == y);  // unordered: NaN != anything
      case CmpPredicate::Lt: return x < y;
      case CmpPredicate::Le: return x <= y;
      case CmpPredicate::Gt: return x > y;
      case CmpPredicate::Ge: return x >= y;
    }
  }
  int64_t x = a.integer, y = b.integer;
  switch (predicate) {
    case CmpPredicate::Eq: return x == y;
    case CmpPredicate::Ne: return x != y;
    case CmpPredicate::Lt: return x < y;
    case CmpPredicate::Le: return x <= y;
    case CmpPredicate::Gt: return x > y;
    case CmpPredicate::Ge: return x >= y;
  }
  throw InternalError("eval_cmp: unknown predicate");
}

Literal eval_cast(ScalarType from, ScalarType to, Literal x) {
  if (is_float(from) && is_float(to)) return real(to, static_cast<float>(x.real));
  if (is_integer(from) && is_float(to)) return real(to, static_cast<float>(x.integer));
  if (is_integer(from) && is_integer(to)) return integer(to, from == ScalarType::I1 ? (x.integer & 1) : x.integer);
  // float -> integer: truncate, NaN -> 0, saturate.
  double v = std::trunc(x.real);
  Literal out;
  if (std::isnan(v)) return out;
  if (to == ScalarType::I1) {
    out.integer = v != 0.0;
    return out;
  }
  double lo = to == ScalarType::I32 ? std::numeric_limits<int32_t>::min() : -9223372036854775808.0;
  double hi = to == ScalarType::I32 ? std::numeric_limits<int32_t>::max() : 9223372036854775807.0;
  if (v <= lo)
    out.integer = static_cast<int64_t>(lo);
  else if (v >= hi)
    out.integer = to == ScalarType::I32 ? static_cast<int64_t>(hi) : std::numeric_limits<int64_t>::max();
  else
    out.integer = static_cast<int64_t>(v);
  return out;
}

}  // namespace xent::ir
