#include "compiler/ir/Builder.h"

#include <filesystem>

#include "compiler/Error.h"
#include "compiler/ir/Semantics.h"
#include "compiler/ir/TypeRules.h"
#include "compiler/ir/Verifier.h"

namespace xent::ir {

namespace {

Location location_of(const std::source_location& loc) {
  return {std::filesystem::path(loc.file_name()).filename().string(), static_cast<int>(loc.line())};
}

}  // namespace

const Type& Expr::type() const { return value_->type(); }

Expr Expr::to(ScalarType element, std::source_location loc) const { return builder_->cast(*this, element, loc); }

KernelBuilder::KernelBuilder(std::string kernel_name)
    : kernel_(std::make_unique<Kernel>(std::move(kernel_name))), insertion_block_(&kernel_->body()) {}

void KernelBuilder::user_error(const SrcLoc& loc, const std::string& what) const {
  throw UserError(cat(location_of(loc).str(), ": in kernel '", kernel_->name(), "': ", what));
}

Expr KernelBuilder::make(OpKind kind, const Exprs& operands, const Attributes& attributes,
                         const std::optional<Type>& declared, const SrcLoc& loc) {
  std::vector<Type> types;
  std::vector<Value*> values;
  for (const Expr& e : operands) {
    if (!e.defined()) user_error(loc, cat("'", op_info(kind).name, "': an operand is an undefined Expr"));
    if (&e.builder() != this) user_error(loc, cat("'", op_info(kind).name, "': an operand comes from another kernel"));
    types.push_back(e.type());
    values.push_back(e.value());
  }
  std::optional<Type> result;
  try {
    result = infer_result_type(kind, types, attributes, declared);
  } catch (const UserError& e) {
    user_error(loc, e.what());
  }
  std::vector<Type> results;
  if (result) results.push_back(*result);
  Location where = location_of(loc);
  Operation* op = insertion_block_->push_back(Operation::create(kind, values, results, attributes, 0, where));
  return result ? wrap(op->result()) : Expr();
}

Expr KernelBuilder::param(Type type, std::string name, ParamInfo info) {
  if (!kernel_->body().empty())
    throw UserError(cat("kernel '", kernel_->name(), "': declare parameter '", name, "' before any operation"));
  return wrap(kernel_->add_param(std::move(type), std::move(name), info));
}

void KernelBuilder::set_attribute(const std::string& key, int64_t value) { kernel_->attributes()[key] = value; }

Expr KernelBuilder::constant(double value, ScalarType type, SrcLoc loc) {
  if (is_integer(type)) return constant_int(static_cast<int64_t>(value), type, loc);
  Attributes a;
  // Semantics.h: a float literal holds a value of its type (so folding and the interpreter see the same number).
  a.literal.real = round_to(type, static_cast<float>(value));
  return make(OpKind::Constant, {}, a, Type::scalar(type), loc);
}

Expr KernelBuilder::constant_int(int64_t value, ScalarType type, SrcLoc loc) {
  if (is_float(type)) return constant(static_cast<double>(value), type, loc);
  Attributes a;
  a.literal.integer = value;
  return make(OpKind::Constant, {}, a, Type::scalar(type), loc);
}

Expr KernelBuilder::constexpr_param(std::string name, ScalarType type, SrcLoc loc) {
  Attributes a;
  a.symbol = std::move(name);
  return make(OpKind::ConstExpr, {}, a, Type::scalar(type), loc);
}

Expr KernelBuilder::program_id(int axis, SrcLoc loc) {
  Attributes a;
  a.axis = axis;
  return make(OpKind::ProgramId, {}, a, std::nullopt, loc);
}

Expr KernelBuilder::arange(int64_t start, int64_t end, SrcLoc loc) {
  Attributes a;
  a.start = start;
  a.end = end;
  return make(OpKind::Arange, {}, a, std::nullopt, loc);
}

Expr KernelBuilder::splat(Expr scalar, Type::Shape shape, SrcLoc loc) {
  if (!scalar.defined()) user_error(loc, "'splat': the operand is an undefined Expr");
  return make(OpKind::Splat, {scalar}, {}, scalar.type().with_shape(std::move(shape)), loc);
}

Expr KernelBuilder::broadcast(Expr tile, Type::Shape shape, int axis, SrcLoc loc) {
  if (!tile.defined()) user_error(loc, "'broadcast': the operand is an undefined Expr");
  Attributes a;
  a.axis = axis;
  return make(OpKind::Broadcast, {tile}, a, tile.type().with_shape(std::move(shape)), loc);
}

void KernelBuilder::match_shapes(Expr& a, Expr& b, const SrcLoc& loc) {
  if (!a.defined() || !b.defined()) return;  // make() reports it
  if (a.type().is_tile() && !b.type().is_tile())
    b = splat(b, a.type().shape(), loc);
  else if (b.type().is_tile() && !a.type().is_tile())
    a = splat(a, b.type().shape(), loc);
}

Expr KernelBuilder::literal(double value, const Expr& like, SrcLoc loc) {
  if (!like.defined()) user_error(loc, "a number literal needs a defined Expr beside it");
  ScalarType t = like.type().element();
  if (t == ScalarType::Ptr) user_error(loc, "a number cannot be combined with a pointer (use addptr)");
  Expr c = constant(value, t, loc);
  return like.type().is_tile() ? splat(c, like.type().shape(), loc) : c;
}

Expr KernelBuilder::unary(OpKind kind, Expr x, SrcLoc loc) { return make(kind, {x}, {}, std::nullopt, loc); }

Expr KernelBuilder::binary(OpKind kind, Expr a, Expr b, SrcLoc loc) {
  match_shapes(a, b, loc);
  return make(kind, {a, b}, {}, std::nullopt, loc);
}

Expr KernelBuilder::cmp(CmpPredicate predicate, Expr a, Expr b, SrcLoc loc) {
  match_shapes(a, b, loc);
  Attributes attr;
  attr.predicate = predicate;
  return make(OpKind::Cmp, {a, b}, attr, std::nullopt, loc);
}

Expr KernelBuilder::select(Expr condition, Expr if_true, Expr if_false, SrcLoc loc) {
  match_shapes(if_true, if_false, loc);
  match_shapes(condition, if_true, loc);
  match_shapes(condition, if_false, loc);
  return make(OpKind::Select, {condition, if_true, if_false}, {}, std::nullopt, loc);
}

Expr KernelBuilder::cast(Expr x, ScalarType element, SrcLoc loc) {
  if (!x.defined()) user_error(loc, "'cast': the operand is an undefined Expr");
  if (x.type().element() == element) return x;
  if (element == ScalarType::Ptr) user_error(loc, "'cast': cannot cast to a pointer");
  return make(OpKind::Cast, {x}, {}, x.type().with_element(element), loc);
}

Expr KernelBuilder::addptr(Expr pointer, Expr offset, SrcLoc loc) {
  match_shapes(pointer, offset, loc);
  return make(OpKind::AddPtr, {pointer, offset}, {}, std::nullopt, loc);
}

Expr KernelBuilder::load(Expr pointer, Expr mask, Expr other, SrcLoc loc) {
  Exprs operands{pointer};
  if (mask.defined()) operands.push_back(mask);
  if (other.defined()) {
    if (!mask.defined()) user_error(loc, "'load': 'other' is only meaningful with a mask");
    if (pointer.defined() && pointer.type().is_tile() && !other.type().is_tile())
      other = splat(other, pointer.type().shape(), loc);
    operands.push_back(other);
  }
  return make(OpKind::Load, operands, {}, std::nullopt, loc);
}

void KernelBuilder::store(Expr pointer, Expr value, Expr mask, SrcLoc loc) {
  if (pointer.defined() && value.defined() && pointer.type().is_tile() && !value.type().is_tile())
    value = splat(value, pointer.type().shape(), loc);
  Exprs operands{pointer, value};
  if (mask.defined()) operands.push_back(mask);
  make(OpKind::Store, operands, {}, std::nullopt, loc);
}

Expr KernelBuilder::shared_alloc(ScalarType element, int64_t count, SrcLoc loc) {
  if (insertion_block_ != &kernel_->body())
    user_error(loc, "'shared_alloc' must be at the kernel's top level, so that its memory is allocated once");
  if (count < 1) user_error(loc, cat("'shared_alloc': allocates ", count, " elements; allocate at least 1"));
  Attributes a;
  a.literal.integer = count;
  return make(OpKind::SharedAlloc, {}, a, shared_ptr(element), loc);
}

void KernelBuilder::async_copy(Expr destination, Expr source, Expr mask, SrcLoc loc) {
  match_shapes(destination, source, loc);
  Exprs operands{destination, source};
  if (mask.defined()) operands.push_back(mask);
  make(OpKind::AsyncCopy, operands, {}, std::nullopt, loc);
}

void KernelBuilder::async_commit(SrcLoc loc) {
  if (insertion_block_ != &kernel_->body())
    user_error(loc, "'async_commit' must be at the kernel's top level, where every thread of the program reaches it");
  make(OpKind::AsyncCommit, {}, {}, std::nullopt, loc);
}

void KernelBuilder::async_wait(int pending, SrcLoc loc) {
  if (pending < 0 || pending > kMaxPendingGroups)
    user_error(loc, cat("'async_wait': pending must be in [0, ", kMaxPendingGroups, "], got ", pending));
  Attributes a;
  a.pending = pending;
  make(OpKind::AsyncWait, {}, a, std::nullopt, loc);
}

Expr KernelBuilder::atomic_add(Expr pointer, Expr value, SrcLoc loc) {
  if (insertion_block_->inside_loop())
    user_error(loc, "'atomic_add' must not be inside a loop: it runs once per program");
  return make(OpKind::AtomicAdd, {pointer, value}, {}, std::nullopt, loc);
}

void KernelBuilder::cluster_barrier(SrcLoc loc) {
  if (insertion_block_ != &kernel_->body())
    user_error(loc,
               "'cluster_barrier' must be at the kernel's top level, where every program of the cluster reaches it");
  make(OpKind::ClusterBarrier, {}, {}, std::nullopt, loc);
}

Expr KernelBuilder::reduce(ReduceKind kind, Expr tile, int axis, SrcLoc loc) {
  Attributes a;
  a.reduction = kind;
  a.axis = axis;
  return make(OpKind::Reduce, {tile}, a, std::nullopt, loc);
}

Exprs KernelBuilder::build_region(Block& block, const std::function<Exprs()>& body) {
  Block* saved = insertion_block_;
  insertion_block_ = &block;
  Exprs yielded;
  try {
    yielded = body();
  } catch (...) {
    insertion_block_ = saved;
    throw;
  }
  std::vector<Value*> values;
  for (const Expr& e : yielded) values.push_back(e.value());
  block.push_back(Operation::create(OpKind::Yield, values, {}));
  insertion_block_ = saved;
  return yielded;
}

Exprs KernelBuilder::for_loop(Expr lower, Expr upper, Expr step, Exprs initial, const LoopBody& body, SrcLoc loc) {
  for (const Expr* bound : {&lower, &upper, &step})
    if (!bound->defined() || bound->type().is_tile() || !bound->type().is_integer() || bound->type().is_bool())
      user_error(loc, "'for': bounds and step must be scalar i32 or i64");
  if (upper.type() != lower.type() || step.type() != lower.type())
    user_error(loc, cat("'for': bounds and step must have one type, got ", lower.type().str(), ", ", upper.type().str(),
                        ", ", step.type().str()));
  std::vector<Value*> operands{lower.value(), upper.value(), step.value()};
  std::vector<Type> types;
  for (const Expr& e : initial) {
    if (!e.defined()) user_error(loc, "'for': a loop-carried initial value is undefined");
    operands.push_back(e.value());
    types.push_back(e.type());
  }
  Location where = location_of(loc);
  Operation* op = insertion_block_->push_back(Operation::create(OpKind::For, operands, types, {}, 1, where));
  Block& region = op->region(0);
  Expr iv = wrap(region.add_argument(lower.type(), "iv"));
  Exprs carried;
  for (const Expr& e : initial) carried.push_back(wrap(region.add_argument(e.type())));
  Exprs yielded = build_region(region, [&] { return body(iv, carried); });
  if (yielded.size() != initial.size())
    user_error(loc, cat("'for': the body yields ", yielded.size(), " values for ", initial.size(), " carried ones"));
  for (size_t i = 0; i < yielded.size(); ++i)
    if (!yielded[i].defined() || yielded[i].type() != types[i])
      user_error(loc, cat("'for': carried value ", i, " is ", types[i].str(), " but the body yields ",
                          yielded[i].defined() ? yielded[i].type().str() : "an undefined Expr"));
  Exprs results;
  for (Value* r : op->results()) results.push_back(wrap(r));
  return results;
}

Exprs KernelBuilder::if_else(Expr condition, const Branch& then_branch, const Branch& else_branch, SrcLoc loc) {
  if (!condition.defined() || condition.type() != i1()) user_error(loc, "'if': the condition must be a scalar i1");
  Location where = location_of(loc);
  auto created = Operation::create(OpKind::If, {condition.value()}, {}, {}, 2, where);
  Operation* op = created.get();
  Exprs then_values = build_region(op->region(0), then_branch);
  Exprs else_values = build_region(op->region(1), else_branch);
  if (then_values.size() != else_values.size())
    user_error(loc, cat("'if': the branches yield ", then_values.size(), " and ", else_values.size(), " values"));
  std::vector<Type> types;
  for (size_t i = 0; i < then_values.size(); ++i) {
    if (!then_values[i].defined() || !else_values[i].defined() || then_values[i].type() != else_values[i].type())
      user_error(loc, cat("'if': value ", i, " differs in type between the branches"));
    types.push_back(then_values[i].type());
  }
  // Recreate with result types now that they are known, moving the built regions over.
  auto final_op = Operation::create(OpKind::If, {condition.value()}, types, {}, 2, where);
  for (size_t r = 0; r < 2; ++r) final_op->region(r).splice(final_op->region(r).ops().end(), op->region(r), false);
  created.reset();
  Operation* placed = insertion_block_->push_back(std::move(final_op));
  Exprs results;
  for (Value* v : placed->results()) results.push_back(wrap(v));
  return results;
}

void KernelBuilder::if_then(Expr condition, const std::function<void()>& then_branch, SrcLoc loc) {
  if_else(
      condition,
      [&] {
        then_branch();
        return Exprs{};
      },
      [] { return Exprs{}; }, loc);
}

std::unique_ptr<Kernel> KernelBuilder::finish() {
  kernel_->body().push_back(Operation::create(OpKind::Return, {}, {}));
  verify(*kernel_);
  std::unique_ptr<Kernel> done = std::move(kernel_);
  kernel_ = std::make_unique<Kernel>(done->name());
  insertion_block_ = &kernel_->body();
  return done;
}

// Operators.
Expr operator+(Expr a, Expr b) { return a.builder().binary(OpKind::Add, a, b); }
Expr operator-(Expr a, Expr b) { return a.builder().binary(OpKind::Sub, a, b); }
Expr operator*(Expr a, Expr b) { return a.builder().binary(OpKind::Mul, a, b); }
Expr operator/(Expr a, Expr b) { return a.builder().binary(OpKind::Div, a, b); }
Expr operator%(Expr a, Expr b) { return a.builder().binary(OpKind::Rem, a, b); }
Expr operator-(Expr a) { return a.builder().unary(OpKind::Neg, a); }
Expr operator&(Expr a, Expr b) { return a.builder().binary(OpKind::And, a, b); }
Expr operator|(Expr a, Expr b) { return a.builder().binary(OpKind::Or, a, b); }
Expr operator<(Expr a, Expr b) { return a.builder().cmp(CmpPredicate::Lt, a, b); }
Expr operator<=(Expr a, Expr b) { return a.builder().cmp(CmpPredicate::Le, a, b); }
Expr operator>(Expr a, Expr b) { return a.builder().cmp(CmpPredicate::Gt, a, b); }
Expr operator>=(Expr a, Expr b) { return a.builder().cmp(CmpPredicate::Ge, a, b); }
Expr operator==(Expr a, Expr b) { return a.builder().cmp(CmpPredicate::Eq, a, b); }
Expr operator!=(Expr a, Expr b) { return a.builder().cmp(CmpPredicate::Ne, a, b); }

}  // namespace xent::ir
