#include "compiler/ir/TypeRules.h"

#include "compiler/Error.h"

namespace xent::ir {
namespace {

[[noreturn]] void fail(OpKind kind, const std::string& what) {
  throw UserError(cat("'", op_info(kind).name, "': ", what));
}

void expect_count(OpKind kind, std::span<const Type> operands, size_t lo, size_t hi) {
  if (operands.size() < lo || operands.size() > hi)
    fail(kind, cat("takes ", lo == hi ? std::to_string(lo) : cat(lo, " to ", hi), " operands, got ", operands.size()));
}

void expect_same(OpKind kind, const Type& a, const Type& b, const char* what) {
  if (a != b) fail(kind, cat(what, " must have the same type, got ", a.str(), " and ", b.str()));
}

void expect_same_shape(OpKind kind, const Type& a, const Type& b, const char* what) {
  if (a.shape() != b.shape())
    fail(kind, cat(what, " must have the same shape, got ", a.str(), " and ", b.str(), " (splat or broadcast one)"));
}

Type unary(OpKind kind, const Type& x) {
  if (kind == OpKind::Neg ? (x.is_pointer() || x.is_bool()) : !x.is_float())
    fail(kind, cat("needs a float operand", kind == OpKind::Neg ? " or an integer" : "", ", got ", x.str()));
  return x;
}

Type binary(OpKind kind, const Type& a, const Type& b) {
  expect_same(kind, a, b, "both operands");
  if (a.is_pointer()) fail(kind, cat("cannot take pointers, got ", a.str(), " (use addptr for address arithmetic)"));
  bool logical = kind == OpKind::And || kind == OpKind::Or;
  if (logical && a.is_float()) fail(kind, cat("needs i1 or integer operands, got ", a.str()));
  if (!logical && a.is_bool()) fail(kind, cat("cannot take i1 operands; use and/or/select"));
  if (kind == OpKind::Rem && !a.is_integer()) fail(kind, cat("needs integer operands, got ", a.str()));
  return a;
}

Type declared_or_fail(OpKind kind, const std::optional<Type>& declared) {
  if (!declared) fail(kind, "needs a declared result type");
  return *declared;
}

}  // namespace

bool needs_declared_type(OpKind kind) {
  return kind == OpKind::Constant || kind == OpKind::ConstExpr || kind == OpKind::Splat || kind == OpKind::Broadcast ||
         kind == OpKind::Cast || kind == OpKind::SharedAlloc;
}

std::optional<Type> infer_result_type(OpKind kind, std::span<const Type> operands, const Attributes& attributes,
                                      const std::optional<Type>& declared) {
  switch (op_info(kind).category) {
    case OpCategory::Unary: expect_count(kind, operands, 1, 1); return unary(kind, operands[0]);
    case OpCategory::Binary: expect_count(kind, operands, 2, 2); return binary(kind, operands[0], operands[1]);
    case OpCategory::ControlFlow:
    case OpCategory::Terminator: fail(kind, "has no inferred result type (checked structurally by the verifier)");
    default: break;
  }
  switch (kind) {
    case OpKind::Constant:
    case OpKind::ConstExpr: {
      expect_count(kind, operands, 0, 0);
      Type t = declared_or_fail(kind, declared);
      if (t.is_tile() || t.is_pointer()) fail(kind, cat("must be a scalar integer or float, got ", t.str()));
      return t;
    }
    case OpKind::ProgramId:
      expect_count(kind, operands, 0, 0);
      if (attributes.axis < 0 || attributes.axis > 2) fail(kind, cat("axis must be 0, 1 or 2, got ", attributes.axis));
      return i32();
    case OpKind::Arange:
      expect_count(kind, operands, 0, 0);
      if (attributes.end <= attributes.start)
        fail(kind, cat("needs start < end, got [", attributes.start, ", ", attributes.end, ")"));
      return i32().with_shape({attributes.end - attributes.start});
    case OpKind::Splat: {
      expect_count(kind, operands, 1, 1);
      Type t = declared_or_fail(kind, declared);
      if (operands[0].is_tile()) fail(kind, cat("needs a scalar operand, got ", operands[0].str()));
      if (!t.is_tile() || t.element_type() != operands[0])
        fail(kind, cat("result must be a tile of ", operands[0].str(), ", got ", t.str()));
      return t;
    }
    case OpKind::Broadcast: {
      expect_count(kind, operands, 1, 1);
      Type t = declared_or_fail(kind, declared);
      const Type& x = operands[0];
      if (x.rank() != 1 || t.rank() != 2)
        fail(kind, cat("maps a 1-D tile to a 2-D tile, got ", x.str(), " to ", t.str()));
      if (attributes.axis < 0 || attributes.axis > 1) fail(kind, cat("axis must be 0 or 1, got ", attributes.axis));
      if (t.element_type() != x.element_type() || t.shape()[attributes.axis] != x.shape()[0])
        fail(kind, cat("result ", t.str(), " must have ", x.str(), "'s elements along axis ", attributes.axis));
      return t;
    }
    case OpKind::Cmp:
      expect_count(kind, operands, 2, 2);
      expect_same(kind, operands[0], operands[1], "both operands");
      if (operands[0].is_pointer()) fail(kind, "cannot compare pointers");
      return operands[0].with_element(ScalarType::I1);
    case OpKind::Select:
      expect_count(kind, operands, 3, 3);
      if (!operands[0].is_bool()) fail(kind, cat("condition must be i1, got ", operands[0].str()));
      expect_same(kind, operands[1], operands[2], "both choices");
      expect_same_shape(kind, operands[0], operands[1], "condition and choices");
      return operands[1];
    case OpKind::Cast: {
      expect_count(kind, operands, 1, 1);
      Type t = declared_or_fail(kind, declared);
      if (operands[0].is_pointer() || t.is_pointer()) fail(kind, "cannot cast pointers");
      if (t.shape() != operands[0].shape())
        fail(kind, cat("keeps the shape: cannot cast ", operands[0].str(), " to ", t.str()));
      return t;
    }
    case OpKind::AddPtr:
      expect_count(kind, operands, 2, 2);
      if (!operands[0].is_pointer()) fail(kind, cat("first operand must be a pointer, got ", operands[0].str()));
      if (!operands[1].is_integer() || operands[1].is_bool())
        fail(kind, cat("offset must be i32 or i64, got ", operands[1].str()));
      expect_same_shape(kind, operands[0], operands[1], "pointer and offset");
      return operands[0];
    case OpKind::Load: {
      expect_count(kind, operands, 1, 3);
      const Type& p = operands[0];
      if (!p.is_pointer()) fail(kind, cat("needs a pointer, got ", p.str()));
      Type loaded = p.with_element(p.pointee());
      if (operands.size() > 1 && operands[1] != p.with_element(ScalarType::I1))
        fail(kind, cat("mask must be ", p.with_element(ScalarType::I1).str(), ", got ", operands[1].str()));
      if (operands.size() > 2) expect_same(kind, operands[2], loaded, "'other' and the loaded value");
      return loaded;
    }
    case OpKind::Store: {
      expect_count(kind, operands, 2, 3);
      const Type& p = operands[0];
      if (!p.is_pointer()) fail(kind, cat("needs a pointer, got ", p.str()));
      if (p.space() != MemorySpace::Global)
        fail(kind, cat("writes global memory only, got ", p.str(), " (shared memory is filled by async_copy)"));
      expect_same(kind, operands[1], p.with_element(p.pointee()), "the stored value and the pointee");
      if (operands.size() > 2 && operands[2] != p.with_element(ScalarType::I1))
        fail(kind, cat("mask must be ", p.with_element(ScalarType::I1).str(), ", got ", operands[2].str()));
      return std::nullopt;
    }
    case OpKind::SharedAlloc: {
      expect_count(kind, operands, 0, 0);
      Type t = declared_or_fail(kind, declared);
      if (t.is_tile() || !t.is_pointer() || t.space() != MemorySpace::Shared)
        fail(kind, cat("gives a scalar shared pointer (ptr<T, shared>), got ", t.str()));
      return t;
    }
    case OpKind::AsyncCopy: {
      expect_count(kind, operands, 2, 3);
      const Type &dst = operands[0], &src = operands[1];
      if (!dst.is_pointer() || dst.space() != MemorySpace::Shared)
        fail(kind, cat("destination must be shared pointers, got ", dst.str()));
      if (!src.is_pointer() || src.space() != MemorySpace::Global)
        fail(kind, cat("source must be global pointers, got ", src.str()));
      if (dst.pointee() != src.pointee() || dst.shape() != src.shape())
        fail(kind, cat("destination and source must have one shape and pointee, got ", dst.str(), " and ", src.str()));
      if (operands.size() > 2 && operands[2] != dst.with_element(ScalarType::I1))
        fail(kind, cat("mask must be ", dst.with_element(ScalarType::I1).str(), ", got ", operands[2].str()));
      return std::nullopt;
    }
    case OpKind::AsyncCommit:
    case OpKind::AsyncWait:
    case OpKind::ClusterBarrier: expect_count(kind, operands, 0, 0); return std::nullopt;
    case OpKind::AtomicAdd: {
      expect_count(kind, operands, 2, 2);
      const Type& p = operands[0];
      if (p.is_tile() || !p.is_pointer() || p.space() != MemorySpace::Global || p.pointee() != ScalarType::I32)
        fail(kind, cat("needs a scalar global pointer to i32, got ", p.str()));
      expect_same(kind, operands[1], p.with_element(ScalarType::I32), "the added value and the pointee");
      return operands[1];
    }
    case OpKind::Reduce: {
      expect_count(kind, operands, 1, 1);
      const Type& x = operands[0];
      if (!x.is_tile() || x.is_pointer() || x.is_bool()) fail(kind, cat("needs a tile of numbers, got ", x.str()));
      if (attributes.axis < 0 || attributes.axis >= x.rank())
        fail(kind, cat("axis ", attributes.axis, " is out of range for ", x.str()));
      if (x.rank() == 1) return x.element_type();
      return x.with_shape({x.shape()[1 - attributes.axis]});
    }
    default: fail(kind, "unexpected operation kind");
  }
}

}  // namespace xent::ir
