#include "compiler/ir/IR.h"

#include <algorithm>

#include "compiler/Error.h"

namespace xent::ir {

std::string Location::str() const { return file.empty() ? "<pass>" : file + ":" + std::to_string(line); }

void Value::replace_all_uses_with(Value* replacement) {
  if (replacement == this) return;
  while (!uses_.empty()) {
    Use use = uses_.back();
    use.user->set_operand(use.operand_index, replacement);
  }
}

Operation::Operation(OpKind kind, Attributes attributes, Location location)
    : kind_(kind), attributes_(std::move(attributes)), location_(std::move(location)) {}

std::unique_ptr<Operation> Operation::create(OpKind kind, std::vector<Value*> operands, std::vector<Type> result_types,
                                             Attributes attributes, unsigned num_regions, Location location) {
  std::unique_ptr<Operation> op(new Operation(kind, std::move(attributes), std::move(location)));
  op->set_operands(std::move(operands));
  for (unsigned i = 0; i < result_types.size(); ++i)
    op->results_.push_back(std::make_unique<Value>(std::move(result_types[i]), op.get(), nullptr, i));
  for (unsigned i = 0; i < num_regions; ++i) op->regions_.push_back(std::make_unique<Block>(op.get()));
  return op;
}

Operation::~Operation() { drop_all_references(); }

void Operation::set_operand(size_t i, Value* value) {
  Value* old = operands_.at(i);
  if (old) {
    auto& uses = old->uses_;
    auto it =
        std::find_if(uses.begin(), uses.end(), [&](const Use& u) { return u.user == this && u.operand_index == i; });
    if (it != uses.end()) uses.erase(it);
  }
  operands_[i] = value;
  if (value) value->uses_.push_back({this, static_cast<unsigned>(i)});
}

void Operation::set_operands(std::vector<Value*> values) {
  for (size_t i = 0; i < operands_.size(); ++i) set_operand(i, nullptr);
  operands_.assign(values.size(), nullptr);
  for (size_t i = 0; i < values.size(); ++i) set_operand(i, values[i]);
}

std::vector<Value*> Operation::results() const {
  std::vector<Value*> out;
  for (const auto& r : results_) out.push_back(r.get());
  return out;
}

void Operation::drop_all_references() {
  for (size_t i = 0; i < operands_.size(); ++i) set_operand(i, nullptr);
  for (auto& region : regions_)
    for (auto& op : region->ops()) op->drop_all_references();
}

Block::~Block() {
  // Users come after their definitions; drop every reference first so destruction order does not matter.
  for (auto& op : ops_) op->drop_all_references();
}

Value* Block::add_argument(Type type, std::string name) {
  arguments_.push_back(
      std::make_unique<Value>(std::move(type), nullptr, this, static_cast<unsigned>(arguments_.size())));
  arguments_.back()->set_name(std::move(name));
  return arguments_.back().get();
}

Operation* Block::insert(iterator before, std::unique_ptr<Operation> op) {
  op->parent_ = this;
  return ops_.insert(before, std::move(op))->get();
}

bool Block::inside_loop() const {
  for (const Operation* up = parent_op_; up; up = up->parent() ? up->parent()->parent_op() : nullptr)
    if (up->kind() == OpKind::For) return true;
  return false;
}

Block::iterator Block::find(const Operation* op) {
  return std::find_if(ops_.begin(), ops_.end(), [&](const auto& p) { return p.get() == op; });
}

Block::iterator Block::erase(iterator it) {
  for (Value* result : (*it)->results())
    if (result->has_uses()) throw InternalError(cat("erasing '", (*it)->info().name, "' whose result is still used"));
  return ops_.erase(it);
}

void Block::splice(iterator before, Block& other, bool skip_terminator) {
  auto last = other.ops_.end();
  if (skip_terminator && !other.ops_.empty()) --last;
  for (auto it = other.ops_.begin(); it != last; ++it) (*it)->parent_ = this;
  ops_.splice(before, other.ops_, other.ops_.begin(), last);
}

Kernel::Kernel(std::string name) : name_(std::move(name)), body_(std::make_unique<Block>()) {}

Value* Kernel::add_param(Type type, std::string name, ParamInfo info) {
  param_info_.push_back(info);
  return body_->add_argument(std::move(type), std::move(name));
}

int64_t Kernel::attribute(const std::string& key, int64_t fallback) const {
  auto it = attributes_.find(key);
  return it == attributes_.end() ? fallback : it->second;
}

std::unique_ptr<Kernel> Kernel::clone() const {
  auto copy = std::make_unique<Kernel>(name_);
  ValueMap map;
  for (size_t i = 0; i < num_params(); ++i)
    map[param(i)] = copy->add_param(param(i)->type(), param(i)->name(), param_info_[i]);
  for (const auto& op : body_->ops()) clone_operation(*op, copy->body(), copy->body().ops().end(), map);
  copy->attributes_ = attributes_;
  return copy;
}

Operation* clone_operation(const Operation& op, Block& dest, Block::iterator before, ValueMap& map) {
  std::vector<Value*> operands;
  for (Value* v : op.operands()) {
    auto it = map.find(v);
    operands.push_back(it == map.end() ? v : it->second);
  }
  std::vector<Type> types;
  for (Value* r : op.results()) types.push_back(r->type());
  Operation* copy = dest.insert(before, Operation::create(op.kind(), operands, types, op.attributes(),
                                                          static_cast<unsigned>(op.num_regions()), op.location()));
  for (size_t i = 0; i < op.num_results(); ++i) {
    copy->result(i)->set_name(op.result(i)->name());
    map[op.result(i)] = copy->result(i);
  }
  for (size_t r = 0; r < op.num_regions(); ++r) {
    Block& src = op.region(r);
    Block& dst = copy->region(r);
    for (const auto& arg : src.arguments()) map[arg.get()] = dst.add_argument(arg->type(), arg->name());
    for (const auto& inner : src.ops()) clone_operation(*inner, dst, dst.ops().end(), map);
  }
  return copy;
}

}  // namespace xent::ir
