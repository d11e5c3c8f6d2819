#include "compiler/passes/Rewrite.h"

#include "compiler/ir/Semantics.h"

namespace xent::passes {

using namespace ir;

std::optional<Literal> constant_value(const Value* value) {
  const Operation* def = value->defining_op();
  if (def && def->kind() == OpKind::Splat) def = def->operand(0)->defining_op();
  if (!def || def->kind() != OpKind::Constant) return std::nullopt;
  return def->attributes().literal;
}

Literal bool_literal(bool value) {
  Literal literal;
  literal.integer = value;
  return literal;
}

Value* make_constant(Block& block, Block::iterator before, const Type& type, Literal literal) {
  Attributes attributes;
  attributes.literal = literal;
  auto constant = Operation::create(OpKind::Constant, {}, {type.element_type()}, attributes);
  Value* scalar = block.insert(before, std::move(constant))->result();
  if (!type.is_tile()) return scalar;
  return block.insert(before, Operation::create(OpKind::Splat, {scalar}, {type}))->result();
}

void replace_op(Operation& op, const std::vector<Value*>& values) {
  for (size_t i = 0; i < values.size(); ++i) op.result(i)->replace_all_uses_with(values[i]);
  Block& block = *op.parent();
  block.erase(block.find(&op));
}

void inline_region(Operation& op, size_t region, const std::vector<Value*>& arguments) {
  Block& body = op.region(region);
  for (size_t i = 0; i < arguments.size(); ++i) body.argument(i)->replace_all_uses_with(arguments[i]);
  std::vector<Value*> yielded = body.terminator()->operands();
  Block& block = *op.parent();
  block.splice(block.find(&op), body, /*skip_terminator=*/true);
  replace_op(op, yielded);
}

std::optional<ConstantBounds> constant_bounds(const Operation& loop) {
  auto lb = constant_value(loop.operand(0));
  auto ub = constant_value(loop.operand(1));
  auto step = constant_value(loop.operand(2));
  if (!lb || !ub || !step || step->integer <= 0) return std::nullopt;
  return ConstantBounds{lb->integer, ub->integer, step->integer};
}

std::optional<bool> uniform_comparison(const Operation& cmp, const RangeOf& range_of) {
  CmpPredicate p = cmp.attributes().predicate;
  if (p == CmpPredicate::Eq || p == CmpPredicate::Ne) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    std::optional<Interval> range = range_of(cmp.operand(side));
    std::optional<Literal> bound = constant_value(cmp.operand(1 - side));
    if (!range || !bound) continue;
    auto at = [&](int64_t x) {
      Literal element;
      element.integer = x;
      return side == 0 ? eval_cmp(p, ScalarType::I64, element, *bound) : eval_cmp(p, ScalarType::I64, *bound, element);
    };
    bool lo = at(range->lo), hi = at(range->hi);
    if (lo == hi) return lo;
  }
  return std::nullopt;
}

}  // namespace xent::passes
