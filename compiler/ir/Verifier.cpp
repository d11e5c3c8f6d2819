#include "compiler/ir/Verifier.h"

#include <unordered_set>

#include "compiler/Error.h"
#include "compiler/ir/Printer.h"
#include "compiler/ir/TypeRules.h"

namespace xent::ir {
namespace {

struct Failure {
  const Operation* op;
  std::string what;
};

class Verifier {
 public:
  void kernel(const Kernel& k) {
    int64_t cluster = k.attribute("cluster", 1);
    if (cluster < 1 || cluster > kMaxCluster)
      throw Failure{nullptr, cat("the attribute cluster = ", cluster, " must lie in [1, ", kMaxCluster, "]")};
    for (size_t i = 0; i < k.num_params(); ++i) {
      const Type& t = k.param(i)->type();
      if (t.is_pointer() && t.space() != MemorySpace::Global)
        throw Failure{nullptr,
                      cat("parameter '", k.param(i)->name(), "' is ", t.str(), "; parameters point to global memory")};
      visible_.insert(k.param(i));
    }
    const Operation* last = k.body().terminator();
    if (!last || last->kind() != OpKind::Return) throw Failure{last, "the kernel body must end in 'return'"};
    block(k.body());
  }

 private:
  void block(const Block& b) {
    for (const auto& arg : b.arguments()) visible_.insert(arg.get());
    for (const auto& op : b.ops()) {
      bool is_last = op.get() == b.terminator();
      if ((op->info().category == OpCategory::Terminator) != is_last)
        throw Failure{op.get(),
                      is_last ? "a block must end in 'yield' or 'return'" : "a terminator must end its block"};
      operation(*op);
      for (Value* r : op->results()) visible_.insert(r);
    }
  }

  void operation(const Operation& op) {
    if (op.num_regions() != op.info().num_regions)
      throw Failure{&op, cat("has ", op.num_regions(), " regions, expected ", op.info().num_regions)};
    for (size_t i = 0; i < op.num_operands(); ++i) {
      Value* v = op.operand(i);
      if (!v) throw Failure{&op, cat("operand ", i, " is missing")};
      if (!visible_.count(v))
        throw Failure{&op, cat("operand ", i, " is used before its definition or out of its scope")};
    }
    switch (op.kind()) {
      case OpKind::For: return for_loop(op);
      case OpKind::If: return if_else(op);
      case OpKind::Yield:
        if (!op.parent() || !op.parent()->parent_op()) throw Failure{&op, "'yield' outside a region"};
        return;
      case OpKind::ClusterBarrier:
        // The programs of a cluster take branches and loops each on its own scalars: inside one, a program could
        // skip the barrier, and the others would wait forever.
        top_level(op, "where every program of the cluster reaches it");
        return typed(op);
      case OpKind::AsyncWait:
        // Its barrier is the program's: `if` conditions and loop bounds are scalars, the same in every thread, so
        // every thread reaches it wherever it is.
        if (op.attributes().pending < 0 || op.attributes().pending > kMaxPendingGroups)
          throw Failure{&op, cat("leaves ", op.attributes().pending, " groups of copies pending; leave 0 to ",
                                 kMaxPendingGroups)};
        return typed(op);
      case OpKind::AtomicAdd:
        // Its lowering waits for every thread of the program, before and after the one that adds: an `if` is fine
        // (its condition is a scalar, the same in every thread), a loop would repeat its shared word.
        if (op.parent() && op.parent()->inside_loop())
          throw Failure{&op, "'atomic_add' must not be inside a loop: it runs once per program"};
        return typed(op);
      case OpKind::AsyncCommit:
        // Every thread closes the same groups, so that a later wait means the same copies in all of them.
        top_level(op, "where every thread reaches it");
        return typed(op);
      case OpKind::SharedAlloc:
        top_level(op, "so that its memory is allocated once");
        if (op.attributes().literal.integer < 1)
          throw Failure{&op, cat("allocates ", op.attributes().literal.integer, " elements; allocate at least 1")};
        return typed(op);
      case OpKind::Return:
        if (op.parent() && op.parent()->parent_op()) throw Failure{&op, "'return' inside a region"};
        if (op.num_operands()) throw Failure{&op, "'return' takes no operands"};
        return;
      default: return typed(op);
    }
  }

  void top_level(const Operation& op, const char* why) {
    if (op.parent() && op.parent()->parent_op())
      throw Failure{&op, cat("'", op.info().name, "' must be at the kernel's top level, ", why)};
  }

  void typed(const Operation& op) {
    std::vector<Type> types;
    for (Value* v : op.operands()) types.push_back(v->type());
    std::optional<Type> declared;
    if (needs_declared_type(op.kind()) && op.num_results() == 1) declared = op.result()->type();
    std::optional<Type> expected;
    try {
      expected = infer_result_type(op.kind(), types, op.attributes(), declared);
    } catch (const UserError& e) {
      throw Failure{&op, e.what()};
    }
    if (op.num_results() != (expected ? 1u : 0u)) throw Failure{&op, cat("has ", op.num_results(), " results")};
    if (expected && *expected != op.result()->type())
      throw Failure{&op, cat("result is ", op.result()->type().str(), ", expected ", expected->str())};
  }

  void yields(const Operation& op, const Block& region, const char* which) {
    const Operation* y = region.terminator();
    if (!y || y->kind() != OpKind::Yield) throw Failure{&op, cat("the ", which, " must end in 'yield'")};
    if (y->num_operands() != op.num_results())
      throw Failure{y, cat("yields ", y->num_operands(), " values, the parent has ", op.num_results(), " results")};
    for (size_t i = 0; i < y->num_operands(); ++i)
      if (y->operand(i) && y->operand(i)->type() != op.result(i)->type())
        throw Failure{y, cat("yielded value ", i, " is ", y->operand(i)->type().str(), ", the result is ",
                             op.result(i)->type().str())};
  }

  void scoped(const Block& region) {
    auto saved = visible_;
    block(region);
    visible_ = std::move(saved);
  }

  void for_loop(const Operation& op) {
    if (op.num_operands() < 3) throw Failure{&op, "'for' needs lower bound, upper bound and step"};
    const Type& index = op.operand(0)->type();
    if (index != i32() && index != i64()) throw Failure{&op, "loop bounds must be scalar i32 or i64"};
    if (op.operand(1)->type() != index || op.operand(2)->type() != index)
      throw Failure{&op, "bounds and step must have one type"};
    size_t carried = op.num_operands() - 3;
    if (op.num_results() != carried) throw Failure{&op, "one result per loop-carried value"};
    const Block& body = op.region(0);
    if (body.num_arguments() != carried + 1)
      throw Failure{&op, "the body takes the induction variable and each carried value"};
    if (body.argument(0)->type() != index) throw Failure{&op, "the induction variable must have the bounds' type"};
    for (size_t i = 0; i < carried; ++i)
      if (body.argument(i + 1)->type() != op.operand(i + 3)->type() ||
          op.result(i)->type() != op.operand(i + 3)->type())
        throw Failure{&op, cat("carried value ", i, " changes type")};
    yields(op, body, "loop body");
    scoped(body);
  }

  void if_else(const Operation& op) {
    if (op.num_operands() != 1 || op.operand(0)->type() != i1())
      throw Failure{&op, "'if' needs one scalar i1 condition"};
    for (size_t r = 0; r < 2; ++r) {
      if (op.region(r).num_arguments()) throw Failure{&op, "'if' regions take no arguments"};
      yields(op, op.region(r), r == 0 ? "then region" : "else region");
      scoped(op.region(r));
    }
  }

  std::unordered_set<const Value*> visible_;
};

}  // namespace

void verify(const Kernel& kernel) {
  try {
    Verifier().kernel(kernel);
  } catch (const Failure& f) {
    std::string where = f.op ? cat("'", f.op->info().name, "' (built at ", f.op->location().str(), "): ") : "";
    throw InternalError(
        cat("IR verification failed in kernel '", kernel.name(), "': ", where, f.what, "\n", print(kernel)));
  }
}

}  // namespace xent::ir
