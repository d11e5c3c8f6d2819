#include "compiler/passes/FoldConstants.h"

#include "compiler/ir/Semantics.h"
#include "compiler/passes/Rewrite.h"

namespace xent::passes {
namespace {

using namespace ir;

bool is_integer_constant(const Value* v, int64_t x) {
  auto c = constant_value(v);
  return c && v->type().is_integer() && c->integer == x;
}

bool is_float_one(const Value* v) {
  auto c = constant_value(v);
  return c && v->type().is_float() && c->real == 1.0;
}

// Each rule returns true when it rewrote `op`; a rewrite replaces or erases `op` and inserts new operations only in
// front of it, so the sweep below may go on from the operation after it.
class Folder {
 public:
  bool block(Block& b) {
    bool changed = false;
    for (auto it = b.ops().begin(); it != b.ops().end();) {
      Operation& op = **it++;
      for (size_t r = 0; r < op.num_regions(); ++r) changed |= block(op.region(r));
      changed |= operation(op);
    }
    return changed;
  }

 private:
  bool operation(Operation& op) {
    switch (op.kind()) {
      case OpKind::Select: return select(op);
      case OpKind::Cmp: return evaluate(op) || arange_comparison(op);
      case OpKind::Load: return load(op);
      case OpKind::Store: return store(op);
      case OpKind::If: return if_else(op);
      case OpKind::For: return for_loop(op);
      case OpKind::Cast: return evaluate(op);
      default:
        if (op.info().category == OpCategory::Unary) return evaluate(op);
        if (op.info().category == OpCategory::Binary) return evaluate(op) || identity(op);
        return false;
    }
  }

  // Replaces `op` by a new constant of its result type.
  bool fold_to(Operation& op, Literal value) {
    Block& b = *op.parent();
    replace_op(op, {make_constant(b, b.find(&op), op.result()->type(), value)});
    return true;
  }

  bool evaluate(Operation& op) {
    std::vector<Literal> in;
    for (Value* v : op.operands()) {
      auto c = constant_value(v);
      if (!c) return false;
      in.push_back(*c);
    }
    ScalarType type = op.operand(0)->type().element();
    switch (op.kind()) {
      case OpKind::Cmp: return fold_to(op, bool_literal(eval_cmp(op.attributes().predicate, type, in[0], in[1])));
      case OpKind::Cast: return fold_to(op, eval_cast(type, op.result()->type().element(), in[0]));
      default: break;
    }
    if (op.num_operands() == 1) return fold_to(op, eval_unary(op.kind(), type, in[0]));
    // Integer division by zero is the kernel's bug, reported when (and if) that code runs.
    bool divides = op.kind() == OpKind::Div || op.kind() == OpKind::Rem;
    if (divides && is_integer(type) && in[1].integer == 0) return false;
    return fold_to(op, eval_binary(op.kind(), type, in[0], in[1]));
  }

  bool identity(Operation& op) {
    Value* a = op.operand(0);
    Value* b = op.operand(1);
    auto commutes = [&](auto rule) { return rule(a, b) || rule(b, a); };
    switch (op.kind()) {
      case OpKind::Add: return commutes([&](Value* x, Value* c) { return is_integer_constant(c, 0) && keep(op, x); });
      case OpKind::Sub: return is_integer_constant(b, 0) && keep(op, a);
      case OpKind::Mul:
        return commutes([&](Value* x, Value* c) {
          return ((is_integer_constant(c, 1) || is_float_one(c)) && keep(op, x)) ||
                 (is_integer_constant(c, 0) && keep(op, c));
        });
      case OpKind::Div: return is_float_one(b) && keep(op, a);
      case OpKind::And:
      case OpKind::Or: {
        if (!a->type().is_bool()) return false;
        // x & true = x, x & false = false; x | false = x, x | true = true.
        bool true_absorbs = op.kind() == OpKind::Or;
        return commutes([&](Value* x, Value* c) {
          auto l = constant_value(c);
          return l && keep(op, (l->integer != 0) == true_absorbs ? c : x);
        });
      }
      default: return false;
    }
  }

  bool keep(Operation& op, Value* value) {
    replace_op(op, {value});
    return true;
  }

  bool select(Operation& op) {
    auto c = constant_value(op.operand(0));
    return c && keep(op, op.operand(c->integer ? 1 : 2));
  }

  // A mask `arange < C` over a tile that lies wholly below C (or wholly above it).
  bool arange_comparison(Operation& op) {
    auto range_of = [](const Value* v) -> std::optional<Interval> {
      const Operation* def = v->defining_op();
      if (!def || def->kind() != OpKind::Arange) return std::nullopt;
      return Interval{def->attributes().start, def->attributes().end - 1};
    };
    auto uniform = uniform_comparison(op, range_of);
    return uniform && fold_to(op, bool_literal(*uniform));
  }

  bool load(Operation& op) {
    if (op.num_operands() < 2) return false;
    auto mask = constant_value(op.operand(1));
    if (!mask) return false;
    if (mask->integer) {
      op.set_operands({op.operand(0)});
      return true;
    }
    if (op.num_operands() == 3) return keep(op, op.operand(2));
    return fold_to(op, Literal{});
  }

  bool store(Operation& op) {
    if (op.num_operands() < 3) return false;
    auto mask = constant_value(op.operand(2));
    if (!mask) return false;
    if (mask->integer)
      op.set_operands({op.operand(0), op.operand(1)});
    else
      op.parent()->erase(op.parent()->find(&op));
    return true;
  }

  bool if_else(Operation& op) {
    auto c = constant_value(op.operand(0));
    if (!c) return false;
    inline_region(op, c->integer ? 0 : 1, {});
    return true;
  }

  bool for_loop(Operation& op) {
    auto bounds = constant_bounds(op);
    if (!bounds || bounds->distance() > static_cast<uint64_t>(bounds->step)) return false;
    std::vector<Value*> inits(op.operands().begin() + 3, op.operands().end());
    if (bounds->distance() == 0) {
      replace_op(op, inits);
      return true;
    }
    inits.insert(inits.begin(), op.operand(0));
    inline_region(op, 0, inits);
    return true;
  }
};

}  // namespace

void fold_constants(Kernel& kernel) {
  while (Folder().block(kernel.body())) {
  }
}

}  // namespace xent::passes
