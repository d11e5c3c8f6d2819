#include "compiler/ir/Type.h"

#include "compiler/Error.h"

namespace xent::ir {

bool is_integer(ScalarType t) { return t == ScalarType::I1 || t == ScalarType::I32 || t == ScalarType::I64; }

bool is_float(ScalarType t) { return t == ScalarType::F16 || t == ScalarType::BF16 || t == ScalarType::F32; }

int bit_width(ScalarType t) {
  switch (t) {
    case ScalarType::I1: return 1;
    case ScalarType::I32: return 32;
    case ScalarType::I64: return 64;
    case ScalarType::F16: return 16;
    case ScalarType::BF16: return 16;
    case ScalarType::F32: return 32;
    case ScalarType::Ptr: return 64;
  }
  throw InternalError("bit_width: unknown scalar type");
}

std::string to_string(ScalarType t) {
  switch (t) {
    case ScalarType::I1: return "i1";
    case ScalarType::I32: return "i32";
    case ScalarType::I64: return "i64";
    case ScalarType::F16: return "f16";
    case ScalarType::BF16: return "bf16";
    case ScalarType::F32: return "f32";
    case ScalarType::Ptr: return "ptr";
  }
  throw InternalError("to_string: unknown scalar type");
}

Type Type::scalar(ScalarType element) {
  if (element == ScalarType::Ptr) throw UserError("Type::scalar: a pointer needs its pointee; use Type::pointer_to");
  Type t;
  t.element_ = element;
  return t;
}

Type Type::pointer_to(ScalarType pointee, MemorySpace space) {
  if (pointee == ScalarType::Ptr || pointee == ScalarType::I1)
    throw UserError(cat("Type::pointer_to: cannot point to ", to_string(pointee), "; point to i32, i64 or a float"));
  Type t;
  t.element_ = ScalarType::Ptr;
  t.pointee_ = pointee;
  t.space_ = space;
  return t;
}

Type Type::with_shape(Shape shape) const {
  if (shape.size() > 2) throw UserError(cat("tiles have rank 1 or 2, got rank ", shape.size()));
  for (int64_t extent : shape)
    if (extent < 1) throw UserError(cat("tile extents must be positive, got ", extent));
  Type t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Type Type::with_element(ScalarType element, ScalarType pointee) const {
  Type t = element == ScalarType::Ptr ? pointer_to(pointee) : scalar(element);
  t.shape_ = shape_;
  return t;
}

int64_t Type::num_elements() const {
  int64_t n = 1;
  for (int64_t extent : shape_) n *= extent;
  return n;
}

std::string Type::str() const {
  std::string s = is_pointer() ? cat("ptr<", to_string(pointee_), space_ == MemorySpace::Shared ? ", shared>" : ">")
                               : to_string(element_);
  if (shape_.empty()) return s;
  s += "[";
  for (size_t i = 0; i < shape_.size(); ++i) s += (i ? "," : "") + std::to_string(shape_[i]);
  return s + "]";
}

}  // namespace xent::ir
