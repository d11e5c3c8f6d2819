// The xent IR: SSA values, operations in blocks, structured control flow.
//
// A Kernel is one program, run by a grid of program instances (Triton's model). Its body is a Block whose arguments
// are the kernel parameters. Every Operation lives in exactly one Block, takes Values as operands, defines Values as
// results, and may own nested Blocks (regions): `for` owns its body, `if` owns a then and an else block. A region
// ends in `yield`, the kernel body in `return`. Values know their uses, so passes can replace them in place.
//
// Operations are created through the KernelBuilder (type-checked) or by passes through Operation::create followed by
// the verifier. The operation set and the typing rules are listed in OpKind.h and TypeRules.h.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <source_location>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/ir/OpKind.h"
#include "compiler/ir/Type.h"

namespace xent::ir {

class Block;
class Operation;

// Where the kernel author built an operation; shown in user errors. An empty file means "made by a pass".
struct Location {
  std::string file;
  int line = 0;
  static Location here(std::source_location loc = std::source_location::current()) {
    return {loc.file_name(), static_cast<int>(loc.line())};
  }
  std::string str() const;
};

struct Use {
  Operation* user;
  unsigned operand_index;
};

class Value {
 public:
  Value(Type type, Operation* def, Block* owner, unsigned index)
      : type_(std::move(type)), def_(def), owner_(owner), index_(index) {}
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;

  const Type& type() const { return type_; }
  // The operation that defines this value, or nullptr for a block argument.
  Operation* defining_op() const { return def_; }
  // For a block argument: its block. For a result: nullptr (ask the defining op for its block).
  Block* argument_owner() const { return owner_; }
  // Result number or argument number.
  unsigned index() const { return index_; }

  // A readable name kept by the printer when it is unique (kernel parameters, loop variables).
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  const std::vector<Use>& uses() const { return uses_; }
  bool has_uses() const { return !uses_.empty(); }
  void replace_all_uses_with(Value* replacement);

 private:
  friend class Operation;
  Type type_;
  Operation* def_;
  Block* owner_;
  unsigned index_;
  std::string name_;
  std::vector<Use> uses_;
};

// Attributes of an operation; which ones an operation kind uses is given by op_info(kind).attributes.
struct Attributes {
  Literal literal;             // constant
  std::string symbol;          // constexpr: the parameter's name
  int64_t axis = 0;            // program_id, reduce, broadcast
  int64_t start = 0, end = 0;  // arange: [start, end)
  CmpPredicate predicate = CmpPredicate::Eq;
  ReduceKind reduction = ReduceKind::Sum;
  int64_t pending = 0;  // async_wait: the groups of copies it leaves in flight
};

class Operation {
 public:
  static std::unique_ptr<Operation> create(OpKind kind, std::vector<Value*> operands, std::vector<Type> result_types,
                                           Attributes attributes = {}, unsigned num_regions = 0,
                                           Location location = {});
  ~Operation();
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  OpKind kind() const { return kind_; }
  const OpInfo& info() const { return op_info(kind_); }

  const std::vector<Value*>& operands() const { return operands_; }
  size_t num_operands() const { return operands_.size(); }
  Value* operand(size_t i) const { return operands_.at(i); }
  void set_operand(size_t i, Value* value);
  void set_operands(std::vector<Value*> values);

  size_t num_results() const { return results_.size(); }
  Value* result(size_t i = 0) const { return results_.at(i).get(); }
  std::vector<Value*> results() const;

  size_t num_regions() const { return regions_.size(); }
  Block& region(size_t i) const { return *regions_.at(i); }

  Block* parent() const { return parent_; }
  Attributes& attributes() { return attributes_; }
  const Attributes& attributes() const { return attributes_; }
  const Location& location() const { return location_; }

  // Removes this operation's uses of its operands, and recursively those of the operations in its regions.
  void drop_all_references();

 private:
  friend class Block;
  Operation(OpKind kind, Attributes attributes, Location location);
  OpKind kind_;
  std::vector<Value*> operands_;
  std::vector<std::unique_ptr<Value>> results_;
  std::vector<std::unique_ptr<Block>> regions_;
  Block* parent_ = nullptr;
  Attributes attributes_;
  Location location_;
};

class Block {
 public:
  using OpList = std::list<std::unique_ptr<Operation>>;
  using iterator = OpList::iterator;

  explicit Block(Operation* parent_op = nullptr) : parent_op_(parent_op) {}
  ~Block();
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  // The operation owning this block as a region, or nullptr for a kernel body.
  Operation* parent_op() const { return parent_op_; }
  // Whether this block is a `for` body or nested in one: its operations may run more than once.
  bool inside_loop() const;

  Value* add_argument(Type type, std::string name = {});
  const std::vector<std::unique_ptr<Value>>& arguments() const { return arguments_; }
  Value* argument(size_t i) const { return arguments_.at(i).get(); }
  size_t num_arguments() const { return arguments_.size(); }

  OpList& ops() { return ops_; }
  const OpList& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  Operation* terminator() const { return ops_.empty() ? nullptr : ops_.back().get(); }

  Operation* insert(iterator before, std::unique_ptr<Operation> op);
  Operation* push_back(std::unique_ptr<Operation> op) { return insert(ops_.end(), std::move(op)); }
  iterator find(const Operation* op);
  // Destroys `op`, which must have no remaining uses of its results. Returns the iterator after it.
  iterator erase(iterator it);
  // Moves the operations of `other` (all but its terminator when `skip_terminator`) in front of `before`.
  void splice(iterator before, Block& other, bool skip_terminator);

 private:
  Operation* parent_op_;
  std::vector<std::unique_ptr<Value>> arguments_;
  OpList ops_;
};

// What the caller guarantees about a parameter, so that codegen may use 16-byte vector accesses (Triton's
// divisibility specialization): for a pointer, the address is a multiple of `align` bytes; for an integer, the value
// is a multiple of `align`. 0 = no guarantee beyond the element size.
struct ParamInfo {
  int align = 0;
};

// The largest thread-block cluster every sm_90 GPU runs (the "portable" cluster size of the CUDA programming guide),
// and the largest an H100 runs once the kernel allows non-portable sizes (the runtime does for larger clusters).
inline constexpr int64_t kMaxPortableCluster = 8;
inline constexpr int64_t kMaxCluster = 16;
// The most groups of async copies an async_wait may leave in flight (cp.async.wait_group's count): a program stages
// a few pieces at most.
inline constexpr int64_t kMaxPendingGroups = 7;

class Kernel {
 public:
  explicit Kernel(std::string name);

  const std::string& name() const { return name_; }
  Block& body() { return *body_; }
  const Block& body() const { return *body_; }

  Value* add_param(Type type, std::string name, ParamInfo info = {});
  size_t num_params() const { return body_->num_arguments(); }
  Value* param(size_t i) const { return body_->argument(i); }
  const ParamInfo& param_info(size_t i) const { return param_info_.at(i); }

  // Kernel-wide facts chosen at specialization, printed with the kernel: "threads" per program, and "cluster", the
  // programs per thread-block cluster (1 to kMaxCluster; default 1).
  std::map<std::string, int64_t>& attributes() { return attributes_; }
  const std::map<std::string, int64_t>& attributes() const { return attributes_; }
  int64_t attribute(const std::string& key, int64_t fallback) const;

  std::unique_ptr<Kernel> clone() const;

 private:
  std::string name_;
  std::unique_ptr<Block> body_;
  std::vector<ParamInfo> param_info_;
  std::map<std::string, int64_t> attributes_;
};

// Maps values of a source region to their copies.
using ValueMap = std::unordered_map<const Value*, Value*>;

// Copies `op` (with its regions) in front of `before` in `dest`, remapping operands through `map` (values not in the
// map are used as they are, which is right for values defined outside the copied region). Records the copy's results
// in `map` and returns the copy.
Operation* clone_operation(const Operation& op, Block& dest, Block::iterator before, ValueMap& map);

}  // namespace xent::ir
