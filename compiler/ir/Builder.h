// KernelBuilder: how kernel authors write IR from C++, in Triton's style.
//
//   KernelBuilder k("scale_rows");
//   Expr x_ptr = k.param(ptr(ScalarType::BF16), "x");
//   Expr row = k.program_id(0);
//   Expr cols = k.arange(0, 1024);
//   Expr x = k.load(k.addptr(x_ptr, cols + row * 1024)).to(ScalarType::F32);
//   k.store(..., (x - k.reduce_max(x)).to(ScalarType::BF16));
//   std::unique_ptr<Kernel> kernel = k.finish();
//
// Every factory checks its operand types with the rules of TypeRules.h and throws a UserError that names the
// operation, what is wrong, and the author's source line. Binary operations splat a scalar operand to the other
// operand's tile shape and turn C++ number literals into constants of the other operand's type.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include "compiler/ir/IR.h"

namespace xent::ir {

class KernelBuilder;

// An SSA value together with the builder that made it, so kernels read like math.
class Expr {
 public:
  Expr() = default;
  Expr(KernelBuilder* builder, Value* value) : builder_(builder), value_(value) {}

  Value* value() const { return value_; }
  const Type& type() const;
  KernelBuilder& builder() const { return *builder_; }
  bool defined() const { return value_ != nullptr; }

  // Converts the elements to `element` (no-op when already of that type).
  Expr to(ScalarType element, std::source_location loc = std::source_location::current()) const;

 private:
  KernelBuilder* builder_ = nullptr;
  Value* value_ = nullptr;
};

using Exprs = std::vector<Expr>;

class KernelBuilder {
 public:
  using SrcLoc = std::source_location;

  explicit KernelBuilder(std::string kernel_name);

  Expr param(Type type, std::string name, ParamInfo info = {});
  void set_attribute(const std::string& key, int64_t value);

  // Leaves.
  Expr constant(double value, ScalarType type, SrcLoc loc = SrcLoc::current());
  Expr constant_int(int64_t value, ScalarType type, SrcLoc loc = SrcLoc::current());
  Expr constexpr_param(std::string name, ScalarType type, SrcLoc loc = SrcLoc::current());
  Expr program_id(int axis, SrcLoc loc = SrcLoc::current());
  Expr arange(int64_t start, int64_t end, SrcLoc loc = SrcLoc::current());

  // Shapes.
  Expr splat(Expr scalar, Type::Shape shape, SrcLoc loc = SrcLoc::current());
  Expr broadcast(Expr tile, Type::Shape shape, int axis, SrcLoc loc = SrcLoc::current());

  // Math. Binary forms splat a scalar operand to the other's shape.
  Expr unary(OpKind kind, Expr x, SrcLoc loc = SrcLoc::current());
  Expr binary(OpKind kind, Expr a, Expr b, SrcLoc loc = SrcLoc::current());
  Expr exp(Expr x, SrcLoc loc = SrcLoc::current()) { return unary(OpKind::Exp, x, loc); }
  Expr log(Expr x, SrcLoc loc = SrcLoc::current()) { return unary(OpKind::Log, x, loc); }
  Expr max(Expr a, Expr b, SrcLoc loc = SrcLoc::current()) { return binary(OpKind::Max, a, b, loc); }
  Expr min(Expr a, Expr b, SrcLoc loc = SrcLoc::current()) { return binary(OpKind::Min, a, b, loc); }
  Expr cmp(CmpPredicate predicate, Expr a, Expr b, SrcLoc loc = SrcLoc::current());
  Expr select(Expr condition, Expr if_true, Expr if_false, SrcLoc loc = SrcLoc::current());
  Expr cast(Expr x, ScalarType element, SrcLoc loc = SrcLoc::current());

  // Memory. addptr splats a scalar pointer or offset to the other's shape.
  Expr addptr(Expr pointer, Expr offset, SrcLoc loc = SrcLoc::current());
  Expr load(Expr pointer, Expr mask = {}, Expr other = {}, SrcLoc loc = SrcLoc::current());
  void store(Expr pointer, Expr value, Expr mask = {}, SrcLoc loc = SrcLoc::current());
  // `count` elements of `element` in the program's shared memory; top level only (OpKind.h).
  Expr shared_alloc(ScalarType element, int64_t count, SrcLoc loc = SrcLoc::current());
  // Starts copying *source (global) to *destination (shared) where `mask` holds; done at the next async_wait. A
  // scalar destination or source is splatted to the other's shape.
  void async_copy(Expr destination, Expr source, Expr mask = {}, SrcLoc loc = SrcLoc::current());
  // Closes the group of the async copies started since the last commit, so that an async_wait may leave it in flight
  // while waiting for the earlier ones; top level only.
  void async_commit(SrcLoc loc = SrcLoc::current());
  // Waits for the program's async copies, in every thread: all of them, or with `pending` > 0 all but those of the
  // `pending` groups committed last (and those not committed yet). Anywhere: conditions and trip counts are scalars,
  // the same in every thread of the program, so all its threads reach the wait's barrier together.
  void async_wait(int pending = 0, SrcLoc loc = SrcLoc::current());
  // Waits for every program of the thread-block cluster (kernel attribute "cluster"); top level only (OpKind.h).
  void cluster_barrier(SrcLoc loc = SrcLoc::current());

  // Adds the scalar `value` to *pointer (global i32) once for the program and gives every thread the old value; the
  // program's earlier stores happen before it (OpKind.h). Not inside a loop.
  Expr atomic_add(Expr pointer, Expr value, SrcLoc loc = SrcLoc::current());

  Expr reduce(ReduceKind kind, Expr tile, int axis = 0, SrcLoc loc = SrcLoc::current());
  Expr reduce_sum(Expr tile, SrcLoc loc = SrcLoc::current()) { return reduce(ReduceKind::Sum, tile, 0, loc); }
  Expr reduce_max(Expr tile, SrcLoc loc = SrcLoc::current()) { return reduce(ReduceKind::Max, tile, 0, loc); }

  // Structured control flow. The body functions build into the new region and return the values to yield.
  using LoopBody = std::function<Exprs(Expr induction_variable, const Exprs& carried)>;
  Exprs for_loop(Expr lower, Expr upper, Expr step, Exprs initial, const LoopBody& body,
                 SrcLoc loc = SrcLoc::current());
  using Branch = std::function<Exprs()>;
  Exprs if_else(Expr condition, const Branch& then_branch, const Branch& else_branch, SrcLoc loc = SrcLoc::current());
  void if_then(Expr condition, const std::function<void()>& then_branch, SrcLoc loc = SrcLoc::current());

  // Number literals as constants of `like`'s element type (splatted to its shape).
  Expr literal(double value, const Expr& like, SrcLoc loc = SrcLoc::current());

  // Ends the kernel with `return`, verifies it and hands it over. The builder is empty afterwards.
  std::unique_ptr<Kernel> finish();

 private:
  Expr make(OpKind kind, const Exprs& operands, const Attributes& attributes, const std::optional<Type>& declared,
            const SrcLoc& loc);
  Expr wrap(Value* v) { return Expr(this, v); }
  // Splats whichever of a, b is a scalar to the other's tile shape.
  void match_shapes(Expr& a, Expr& b, const SrcLoc& loc);
  Exprs build_region(Block& block, const std::function<Exprs()>& body);
  [[noreturn]] void user_error(const SrcLoc& loc, const std::string& what) const;

  std::unique_ptr<Kernel> kernel_;
  Block* insertion_block_;
};

// Operators, so kernels read like math. Number literals take the other operand's element type.
Expr operator+(Expr a, Expr b);
Expr operator-(Expr a, Expr b);
Expr operator*(Expr a, Expr b);
Expr operator/(Expr a, Expr b);
Expr operator%(Expr a, Expr b);
Expr operator-(Expr a);
Expr operator&(Expr a, Expr b);
Expr operator|(Expr a, Expr b);
Expr operator<(Expr a, Expr b);
Expr operator<=(Expr a, Expr b);
Expr operator>(Expr a, Expr b);
Expr operator>=(Expr a, Expr b);
Expr operator==(Expr a, Expr b);
Expr operator!=(Expr a, Expr b);

#define XENT_EXPR_LITERAL_OPERATOR(op)                                                 \
  inline Expr operator op(Expr a, double b) { return a op a.builder().literal(b, a); } \
  inline Expr operator op(double a, Expr b) { return b.builder().literal(a, b) op b; }
XENT_EXPR_LITERAL_OPERATOR(+)
XENT_EXPR_LITERAL_OPERATOR(-)
XENT_EXPR_LITERAL_OPERATOR(*)
XENT_EXPR_LITERAL_OPERATOR(/)
XENT_EXPR_LITERAL_OPERATOR(%)
XENT_EXPR_LITERAL_OPERATOR(<)
XENT_EXPR_LITERAL_OPERATOR(<=)
XENT_EXPR_LITERAL_OPERATOR(>)
XENT_EXPR_LITERAL_OPERATOR(>=)
XENT_EXPR_LITERAL_OPERATOR(==)
XENT_EXPR_LITERAL_OPERATOR(!=)
#undef XENT_EXPR_LITERAL_OPERATOR

}  // namespace xent::ir
