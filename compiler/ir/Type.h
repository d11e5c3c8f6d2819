// The types of xent IR values.
//
// Every value is either a scalar or a tile (a 1-D or 2-D block of scalars that one program instance works on, as in
// Triton). Scalars are integers (i1, i32, i64), floats (f16, bf16, f32) or pointers that know the scalar type they
// point to and their memory: global (the tensors, what kernel parameters point to) or the program's shared memory
// (what shared_alloc gives; OpKind.h). A tile's shape is static; it need not be a power of two (the layout pass
// decides how its elements spread over threads).
//
// Text form: `f32`, `ptr<bf16>`, `ptr<bf16, shared>`, `f32[1024]`, `i1[4,256]`, `ptr<f32>[128]`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xent::ir {

enum class ScalarType : uint8_t { I1, I32, I64, F16, BF16, F32, Ptr };
enum class MemorySpace : uint8_t { Global, Shared };

bool is_integer(ScalarType t);
bool is_float(ScalarType t);
int bit_width(ScalarType t);  // storage size in bits; pointers are 64-bit
std::string to_string(ScalarType t);

class Type {
 public:
  using Shape = std::vector<int64_t>;

  Type() = default;
  static Type scalar(ScalarType element);
  static Type pointer_to(ScalarType pointee, MemorySpace space = MemorySpace::Global);

  // The same element type with the given shape (an empty shape gives the scalar).
  Type with_shape(Shape shape) const;
  // The same shape with another scalar element (pointee is dropped unless `element` is Ptr).
  Type with_element(ScalarType element, ScalarType pointee = ScalarType::F32) const;
  // The scalar type of one element.
  Type element_type() const { return with_shape({}); }

  ScalarType element() const { return element_; }
  ScalarType pointee() const { return pointee_; }  // meaningful for pointers only
  MemorySpace space() const { return space_; }     // meaningful for pointers only
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  bool is_tile() const { return !shape_.empty(); }
  int64_t num_elements() const;

  bool is_pointer() const { return element_ == ScalarType::Ptr; }
  bool is_float() const { return xent::ir::is_float(element_); }
  bool is_integer() const { return xent::ir::is_integer(element_); }
  bool is_bool() const { return element_ == ScalarType::I1; }

  bool operator==(const Type& other) const = default;
  std::string str() const;

 private:
  ScalarType element_ = ScalarType::F32;
  ScalarType pointee_ = ScalarType::F32;
  MemorySpace space_ = MemorySpace::Global;
  Shape shape_;
};

// Shorthands for kernel authors and tests.
inline Type i1() { return Type::scalar(ScalarType::I1); }
inline Type i32() { return Type::scalar(ScalarType::I32); }
inline Type i64() { return Type::scalar(ScalarType::I64); }
inline Type f16() { return Type::scalar(ScalarType::F16); }
inline Type bf16() { return Type::scalar(ScalarType::BF16); }
inline Type f32() { return Type::scalar(ScalarType::F32); }
inline Type ptr(ScalarType pointee) { return Type::pointer_to(pointee); }
inline Type shared_ptr(ScalarType pointee) { return Type::pointer_to(pointee, MemorySpace::Shared); }

}  // namespace xent::ir
