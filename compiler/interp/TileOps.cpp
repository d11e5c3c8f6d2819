#include "compiler/interp/TileOps.h"

#include <algorithm>
#include <cmath>

#include "compiler/ir/Semantics.h"

namespace xent::interp {
namespace {

using ir::OpKind;
using ir::ScalarType;

template <class In, class Out, class F>
void map1(const In* x, Out* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

template <class A, class B, class Out, class F>
void map2(const A* a, const B* b, Out* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
}

// Host types that take part in arithmetic: every one but the addresses of pointers.
template <class T>
constexpr bool is_number = !std::is_same_v<T, uint64_t>;

// eval_unary on f32 is the libm float function followed by round_to(f32), the identity.
bool unary_f32(OpKind kind, const float* x, float* out, int64_t n) {
  switch (kind) {
    case OpKind::Neg: map1(x, out, n, [](float v) { return -v; }); return true;
    case OpKind::Exp: map1(x, out, n, [](float v) { return std::exp(v); }); return true;
    case OpKind::Exp2: map1(x, out, n, [](float v) { return std::exp2(v); }); return true;
    case OpKind::Log: map1(x, out, n, [](float v) { return std::log(v); }); return true;
    case OpKind::Log2: map1(x, out, n, [](float v) { return std::log2(v); }); return true;
    case OpKind::Tanh: map1(x, out, n, [](float v) { return std::tanh(v); }); return true;
    default: return false;
  }
}

// eval_binary on f32 is the fp32 operation followed by round_to(f32), the identity.
bool binary_f32(OpKind kind, const float* a, const float* b, float* out, int64_t n) {
  switch (kind) {
    case OpKind::Add: map2(a, b, out, n, [](float x, float y) { return x + y; }); return true;
    case OpKind::Sub: map2(a, b, out, n, [](float x, float y) { return x - y; }); return true;
    case OpKind::Mul: map2(a, b, out, n, [](float x, float y) { return x * y; }); return true;
    case OpKind::Div: map2(a, b, out, n, [](float x, float y) { return x / y; }); return true;
    case OpKind::Max: map2(a, b, out, n, [](float x, float y) { return std::fmax(x, y); }); return true;
    case OpKind::Min: map2(a, b, out, n, [](float x, float y) { return std::fmin(x, y); }); return true;
    default: return false;
  }
}

// eval_binary computes in 64 bits and wraps to the width; unsigned arithmetic at the width keeps the same low bits.
template <class T>
bool binary_wrapping(OpKind kind, const T* a, const T* b, T* out, int64_t n) {
  using U = std::make_unsigned_t<T>;
  switch (kind) {
    case OpKind::Add: map2(a, b, out, n, [](T x, T y) { return static_cast<T>(U(x) + U(y)); }); return true;
    case OpKind::Sub: map2(a, b, out, n, [](T x, T y) { return static_cast<T>(U(x) - U(y)); }); return true;
    case OpKind::Mul: map2(a, b, out, n, [](T x, T y) { return static_cast<T>(U(x) * U(y)); }); return true;
    default: return false;
  }
}

// Folds `count` rows of `len` contiguous elements into row 0 as a balanced tree: row i absorbs row i + half, halving
// the rows each round, so each result passes through about log2(count) roundings.
template <class T, class Combine>
void tree_fold(T* rows, int64_t count, int64_t len, Combine combine) {
  while (count > 1) {
    int64_t half = (count + 1) / 2;
    const T* upper = rows + half * len;
    for (int64_t k = 0, end = (count - half) * len; k < end; ++k) rows[k] = combine(rows[k], upper[k]);
    count = half;
  }
}

template <class T>
void fold(ir::ReduceKind kind, T* rows, int64_t count, int64_t len) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (kind) {
      case ir::ReduceKind::Sum: return tree_fold(rows, count, len, [](T x, T y) { return x + y; });
      case ir::ReduceKind::Max: return tree_fold(rows, count, len, [](T x, T y) { return std::fmax(x, y); });
      case ir::ReduceKind::Min: return tree_fold(rows, count, len, [](T x, T y) { return std::fmin(x, y); });
    }
  } else {
    using U = std::make_unsigned_t<T>;
    switch (kind) {
      case ir::ReduceKind::Sum:
        return tree_fold(rows, count, len, [](T x, T y) { return static_cast<T>(U(x) + U(y)); });
      case ir::ReduceKind::Max: return tree_fold(rows, count, len, [](T x, T y) { return std::max(x, y); });
      case ir::ReduceKind::Min: return tree_fold(rows, count, len, [](T x, T y) { return std::min(x, y); });
    }
  }
}

}  // namespace

void unary(OpKind kind, const Slot& x, Slot& out) {
  ScalarType type = x.element();
  if (type == ScalarType::F32 && unary_f32(kind, x.data<float>(), out.data<float>(), x.size())) return;
  with_host_type(type, [&]<class T>(std::type_identity<T>) {
    if constexpr (is_number<T>)
      map1(x.data<T>(), out.data<T>(), x.size(),
           [&](T v) { return from_literal<T>(ir::eval_unary(kind, type, to_literal(v))); });
  });
}

void binary(OpKind kind, const Slot& a, const Slot& b, Slot& out) {
  ScalarType type = a.element();
  int64_t n = a.size();
  if (type == ScalarType::F32 && binary_f32(kind, a.data<float>(), b.data<float>(), out.data<float>(), n)) return;
  if (type == ScalarType::I32 && binary_wrapping(kind, a.data<int32_t>(), b.data<int32_t>(), out.data<int32_t>(), n))
    return;
  if (type == ScalarType::I64 && binary_wrapping(kind, a.data<int64_t>(), b.data<int64_t>(), out.data<int64_t>(), n))
    return;
  with_host_type(type, [&]<class T>(std::type_identity<T>) {
    if constexpr (is_number<T>)
      map2(a.data<T>(), b.data<T>(), out.data<T>(), n,
           [&](T x, T y) { return from_literal<T>(ir::eval_binary(kind, type, to_literal(x), to_literal(y))); });
  });
}

void compare(ir::CmpPredicate predicate, const Slot& a, const Slot& b, Slot& out) {
  with_host_type(a.element(), [&]<class T>(std::type_identity<T>) {
    if constexpr (is_number<T>) {
      // eval_cmp compares floats widened to double, which is exact, so comparing them as floats is the same.
      auto apply = [&](auto f) { map2(a.data<T>(), b.data<T>(), out.data<uint8_t>(), a.size(), f); };
      switch (predicate) {
        case ir::CmpPredicate::Eq: return apply([](T x, T y) -> uint8_t { return x == y; });
        case ir::CmpPredicate::Ne: return apply([](T x, T y) -> uint8_t { return !(x == y); });
        case ir::CmpPredicate::Lt: return apply([](T x, T y) -> uint8_t { return x < y; });
        case ir::CmpPredicate::Le: return apply([](T x, T y) -> uint8_t { return x <= y; });
        case ir::CmpPredicate::Gt: return apply([](T x, T y) -> uint8_t { return x > y; });
        case ir::CmpPredicate::Ge: return apply([](T x, T y) -> uint8_t { return x >= y; });
      }
    }
  });
}

void select(const Slot& condition, const Slot& if_true, const Slot& if_false, Slot& out) {
  with_host_type(if_true.element(), [&]<class T>(std::type_identity<T>) {
    const uint8_t* c = condition.data<uint8_t>();
    const T* x = if_true.data<T>();
    const T* y = if_false.data<T>();
    T* o = out.data<T>();
    for (int64_t i = 0, n = out.size(); i < n; ++i) o[i] = c[i] ? x[i] : y[i];
  });
}

void cast(const Slot& x, Slot& out) {
  ScalarType from = x.element(), to = out.element();
  with_host_type(from, [&]<class F>(std::type_identity<F>) {
    with_host_type(to, [&]<class T>(std::type_identity<T>) {
      if constexpr (is_number<F> && is_number<T>) {
        const F* in = x.data<F>();
        T* o = out.data<T>();
        int64_t n = x.size();
        if constexpr (std::is_floating_point_v<T>) {
          // eval_cast to a float: one conversion to fp32, then round_to the target (the identity for f32).
          if (to == ScalarType::F32)
            map1(in, o, n, [](F v) { return static_cast<float>(v); });
          else
            map1(in, o, n, [to](F v) { return ir::round_to(to, static_cast<float>(v)); });
        } else if constexpr (std::is_integral_v<F>) {
          // eval_cast between integers wraps to the target width (an i1 source already holds 0 or 1).
          map1(in, o, n, [to](F v) { return static_cast<T>(ir::wrap_integer(to, static_cast<int64_t>(v))); });
        } else {
          map1(in, o, n, [from, to](F v) { return from_literal<T>(ir::eval_cast(from, to, to_literal(v))); });
        }
      }
    });
  });
}

void splat(const Slot& scalar, Slot& out) {
  with_host_type(scalar.element(),
                 [&]<class T>(std::type_identity<T>) { std::fill_n(out.data<T>(), out.size(), scalar.data<T>()[0]); });
}

void broadcast(const Slot& x, int64_t axis, Slot& out) {
  int64_t rows = out.type().shape()[0], cols = out.type().shape()[1];
  with_host_type(x.element(), [&]<class T>(std::type_identity<T>) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      if (axis == 0)
        std::fill_n(o + r * cols, cols, in[r]);
      else
        std::copy_n(in, cols, o + r * cols);
    }
  });
}

void reduce(ir::ReduceKind kind, int64_t axis, const Slot& x, Slot& out) {
  const ir::Type::Shape& shape = x.type().shape();
  // Lay the tile out as `count` rows of `len` contiguous elements; row k holds the k-th element of every fold.
  int64_t count = shape[axis], len = x.size() / count;
  with_host_type(x.element(), [&]<class T>(std::type_identity<T>) {
    if constexpr (is_number<T>) {
      const T* in = x.data<T>();
      std::vector<T> rows(in, in + x.size());
      if (shape.size() == 2 && axis == 1)
        for (int64_t i = 0; i < shape[0]; ++i)
          for (int64_t j = 0; j < shape[1]; ++j) rows[j * shape[0] + i] = in[i * shape[1] + j];
      fold(kind, rows.data(), count, len);
      T* o = out.data<T>();
      ScalarType type = x.element();
      for (int64_t k = 0; k < len; ++k) {
        if constexpr (std::is_floating_point_v<T>)
          o[k] = ir::round_to(type, rows[k]);
        else
          o[k] = rows[k];
      }
    }
  });
}

void add_pointer(const Slot& pointers, const Slot& offsets, Slot& out) {
  uint64_t size = ir::bit_width(pointers.type().pointee()) / 8;
  with_host_type(offsets.element(), [&]<class T>(std::type_identity<T>) {
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>)
      map2(pointers.data<uint64_t>(), offsets.data<T>(), out.data<uint64_t>(), out.size(),
           [size](uint64_t p, T offset) { return p + static_cast<uint64_t>(static_cast<int64_t>(offset)) * size; });
  });
}

}  // namespace xent::interp
