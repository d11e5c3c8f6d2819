// Slot: where the interpreter keeps one SSA value while a kernel runs.
//
// Every value of the kernel gets one Slot, numbered once before the run, so evaluating an operation reads and writes
// flat arrays instead of looking values up per element. A slot holds every element of its value in row-major order,
// each as the host type of its scalar type:
//
//   i1 -> uint8_t (0 or 1)   i32 -> int32_t   i64 -> int64_t   f16, bf16, f32 -> float   ptr<T> -> uint64_t (address)
//
// f16 and bf16 elements are floats that already hold values of their type (every producer rounds with Semantics.h),
// which is how the GPU computes too: 16-bit floats are widened to fp32 in registers.
//
// Storage is a variant of typed vectors, so no memory is ever reinterpreted as another type. Copying a slot into one of
// the same type reuses its memory (loops copy their carried values every iteration).
#pragma once

#include <cstdint>
#include <type_traits>
#include <variant>
#include <vector>

#include "compiler/Error.h"
#include "compiler/ir/OpKind.h"
#include "compiler/ir/Type.h"

namespace xent::interp {

// Calls f(std::type_identity<Host>{}) with the host type of `type` (see above).
template <class F>
decltype(auto) with_host_type(ir::ScalarType type, F&& f) {
  switch (type) {
    case ir::ScalarType::I1: return f(std::type_identity<uint8_t>{});
    case ir::ScalarType::I32: return f(std::type_identity<int32_t>{});
    case ir::ScalarType::I64: return f(std::type_identity<int64_t>{});
    case ir::ScalarType::F16:
    case ir::ScalarType::BF16:
    case ir::ScalarType::F32: return f(std::type_identity<float>{});
    case ir::ScalarType::Ptr: return f(std::type_identity<uint64_t>{});
  }
  throw InternalError("with_host_type: unknown scalar type");
}

class Slot {
 public:
  // Sizes the slot for values of `type`; the elements are zero until written.
  void allocate(const ir::Type& type) {
    type_ = type;
    size_ = type.num_elements();
    with_host_type(type.element(), [&]<class T>(std::type_identity<T>) { storage_ = std::vector<T>(size_); });
  }

  const ir::Type& type() const { return type_; }
  ir::ScalarType element() const { return type_.element(); }
  int64_t size() const { return size_; }

  template <class T>
  T* data() {
    return std::get<std::vector<T>>(storage_).data();
  }
  template <class T>
  const T* data() const {
    return std::get<std::vector<T>>(storage_).data();
  }

 private:
  ir::Type type_;
  int64_t size_ = 0;
  std::variant<std::vector<uint8_t>, std::vector<int32_t>, std::vector<int64_t>, std::vector<float>,
               std::vector<uint64_t>>
      storage_;
};

// Conversions between host elements and Semantics.h literals. Exact both ways: a float literal holds a value of its
// type, an integer literal a value already wrapped to its width.
template <class T>
ir::Literal to_literal(T value) {
  ir::Literal l;
  if constexpr (std::is_floating_point_v<T>)
    l.real = value;
  else
    l.integer = static_cast<int64_t>(value);
  return l;
}

template <class T>
T from_literal(const ir::Literal& l) {
  if constexpr (std::is_floating_point_v<T>)
    return static_cast<T>(l.real);
  else
    return static_cast<T>(l.integer);
}

}  // namespace xent::interp
