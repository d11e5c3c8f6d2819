#include "compiler/passes/EliminateDeadCode.h"

#include <unordered_set>

namespace xent::passes {
namespace {

using namespace ir;

// True when `op`, or an operation nested in it, does more than compute its results; ending a region does not count.
bool has_effects(const Operation& op) {
  if (op.info().has_side_effects && op.info().category != OpCategory::Terminator) return true;
  for (size_t r = 0; r < op.num_regions(); ++r)
    for (const auto& inner : op.region(r).ops())
      if (has_effects(*inner)) return true;
  return false;
}

bool is_dead(const Operation& op) {
  if (op.info().has_side_effects || has_effects(op)) return false;
  for (Value* r : op.results())
    if (r->has_uses()) return false;
  return true;
}

// True when everything computed from `v` only flows into operand `slot` of `yield`, through operations that have no
// side effects and no regions: then the carried value of that slot cannot affect anything but itself.
bool only_feeds(const Value* v, const Operation* yield, unsigned slot, std::unordered_set<const Value*>& seen) {
  if (!seen.insert(v).second) return true;
  for (const Use& use : v->uses()) {
    if (use.user == yield && use.operand_index == slot) continue;
    const Operation& user = *use.user;
    if (user.info().has_side_effects || user.num_regions()) return false;
    for (Value* r : user.results())
      if (!only_feeds(r, yield, slot, seen)) return false;
  }
  return true;
}

// Rebuilds `loop` without the carried values that are not in `keep` and returns the new loop, which takes its place.
// A dropped value's block argument is replaced by its initial value, which leaves unused the operations that computed
// its next value.
Operation& drop_carried_values(Operation& loop, const std::vector<bool>& keep) {
  Block& body = loop.region(0);
  std::vector<Value*> operands(loop.operands().begin(), loop.operands().begin() + 3);
  std::vector<Value*> yielded, kept_results;
  std::vector<Type> types;
  for (size_t i = 0; i < keep.size(); ++i) {
    if (!keep[i]) continue;
    operands.push_back(loop.operand(i + 3));
    types.push_back(loop.result(i)->type());
    yielded.push_back(body.terminator()->operand(i));
    kept_results.push_back(loop.result(i));
  }
  // Before the arguments are replaced, so that a yielded argument follows its replacement.
  body.terminator()->set_operands(yielded);
  Block& parent = *loop.parent();
  auto created = Operation::create(OpKind::For, operands, types, loop.attributes(), 1, loop.location());
  Operation& rebuilt = *parent.insert(parent.find(&loop), std::move(created));
  Block& new_body = rebuilt.region(0);
  for (size_t i = 0; i < body.num_arguments(); ++i) {
    Value* arg = body.argument(i);
    bool kept = i == 0 || keep[i - 1];
    arg->replace_all_uses_with(kept ? new_body.add_argument(arg->type(), arg->name()) : loop.operand(i + 2));
  }
  new_body.splice(new_body.ops().end(), body, /*skip_terminator=*/false);
  for (size_t i = 0; i < kept_results.size(); ++i) kept_results[i]->replace_all_uses_with(rebuilt.result(i));
  parent.erase(parent.find(&loop));
  return rebuilt;
}

// The loop without its carried values whose results are unused and that influence nothing but themselves, or nullptr
// when there are none.
Operation* drop_unused_carried_values(Operation& loop) {
  const Block& body = loop.region(0);
  std::vector<bool> keep(loop.num_results(), true);
  bool dropped = false;
  for (unsigned i = 0; i < keep.size(); ++i) {
    std::unordered_set<const Value*> seen;
    if (loop.result(i)->has_uses() || !only_feeds(body.argument(i + 1), body.terminator(), i, seen)) continue;
    keep[i] = false;
    dropped = true;
  }
  return dropped ? &drop_carried_values(loop, keep) : nullptr;
}

// Sweeps backwards so that users go before the values they use, which frees whole chains in one sweep.
bool sweep(Block& block) {
  bool changed = false;
  for (auto it = block.ops().end(); it != block.ops().begin();) {
    Operation& op = **--it;
    for (size_t r = 0; r < op.num_regions(); ++r) changed |= sweep(op.region(r));
    if (is_dead(op)) {
      it = block.erase(it);
      changed = true;
    } else if (Operation* rebuilt = op.kind() == OpKind::For ? drop_unused_carried_values(op) : nullptr) {
      it = block.find(rebuilt);
      changed = true;
    }
  }
  return changed;
}

}  // namespace

void eliminate_dead_code(Kernel& kernel) {
  while (sweep(kernel.body())) {
  }
}

}  // namespace xent::passes
