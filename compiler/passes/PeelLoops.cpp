#include "compiler/passes/PeelLoops.h"

#include "compiler/ir/Semantics.h"
#include "compiler/passes/Rewrite.h"

namespace xent::passes {
namespace {

using namespace ir;

void collect_loops(Block& block, std::vector<Operation*>& loops) {
  for (auto& op : block.ops()) {
    for (size_t r = 0; r < op->num_regions(); ++r) collect_loops(op->region(r), loops);
    if (op->kind() == OpKind::For) loops.push_back(op.get());
  }
}

// Where `value` is `splat(iv) + arange(a, b)` (either order) with iv in [first, last]: [first + a, last + b - 1],
// provided no element wraps around.
std::optional<Interval> offset_range(const Value* value, const Value* iv, int64_t first, int64_t last) {
  const Operation* add = value->defining_op();
  if (!add || add->kind() != OpKind::Add) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const Operation* splat = add->operand(side)->defining_op();
    const Operation* arange = add->operand(1 - side)->defining_op();
    if (!splat || splat->kind() != OpKind::Splat || splat->operand(0) != iv) continue;
    if (!arange || arange->kind() != OpKind::Arange) continue;
    Interval range{first + arange->attributes().start, last + arange->attributes().end - 1};
    ScalarType type = iv->type().element();
    if (wrap_integer(type, range.lo) != range.lo || wrap_integer(type, range.hi) != range.hi) return std::nullopt;
    return range;
  }
  return std::nullopt;
}

// Replaces each comparison in `block` (nested regions included) that has one value for iv in [first, last].
void prove_masks(Block& block, const Value* iv, int64_t first, int64_t last) {
  for (auto it = block.ops().begin(); it != block.ops().end();) {
    Operation& op = **it++;
    for (size_t r = 0; r < op.num_regions(); ++r) prove_masks(op.region(r), iv, first, last);
    if (op.kind() != OpKind::Cmp) continue;
    auto range_of = [&](const Value* v) { return offset_range(v, iv, first, last); };
    if (auto uniform = uniform_comparison(op, range_of))
      replace_op(op, {make_constant(block, block.find(&op), op.result()->type(), bool_literal(*uniform))});
  }
}

// Copies the body of `loop` after it for one more step at `iv`, carrying the loop's results; the copy's yielded
// values take the place of the loop's results.
void append_tail(Operation& loop, Value* iv) {
  Block& body = loop.region(0);
  Block& parent = *loop.parent();
  std::vector<std::vector<Use>> uses;
  ValueMap map{{body.argument(0), iv}};
  for (size_t i = 0; i < loop.num_results(); ++i) {
    uses.push_back(loop.result(i)->uses());  // before the copy adds its own
    map[body.argument(i + 1)] = loop.result(i);
  }
  auto after = std::next(parent.find(&loop));
  for (auto& op : body.ops())
    if (op.get() != body.terminator()) clone_operation(*op, parent, after, map);
  for (size_t i = 0; i < uses.size(); ++i) {
    Value* yielded = body.terminator()->operand(i);
    Value* tail_value = map.contains(yielded) ? map.at(yielded) : yielded;
    for (const Use& use : uses[i]) use.user->set_operand(use.operand_index, tail_value);
  }
}

void peel(Operation& loop) {
  auto bounds = constant_bounds(loop);
  if (!bounds || bounds->distance() == 0) return;
  uint64_t partial = bounds->distance() % static_cast<uint64_t>(bounds->step);
  int64_t full_end = static_cast<int64_t>(static_cast<uint64_t>(bounds->lb) + (bounds->distance() - partial));
  if (partial) {
    Block& parent = *loop.parent();
    Literal end;
    end.integer = full_end;
    Value* main_ub = make_constant(parent, parent.find(&loop), loop.operand(1)->type(), end);
    append_tail(loop, main_ub);
    loop.set_operand(1, main_ub);
  }
  Block& body = loop.region(0);
  if (full_end > bounds->lb) prove_masks(body, body.argument(0), bounds->lb, full_end - bounds->step);
}

}  // namespace

void peel_loops(Kernel& kernel) {
  // Inner loops first, so that an outer loop's tail copies inner loops that are already peeled.
  std::vector<Operation*> loops;
  collect_loops(kernel.body(), loops);
  for (Operation* loop : loops) peel(*loop);
}

}  // namespace xent::passes
