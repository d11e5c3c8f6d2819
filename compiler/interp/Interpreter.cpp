#include "compiler/interp/Interpreter.h"

#include <algorithm>
#include <array>
#include <barrier>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include "compiler/Error.h"
#include "compiler/interp/Memory.h"
#include "compiler/interp/TileOps.h"
#include "compiler/ir/Semantics.h"

namespace xent::interp {
namespace {

using ir::OpKind;
using ir::ScalarType;

struct Step;

// A block ready to run: the slots of its arguments, its operations, and the slots its terminator yields.
struct Region {
  std::vector<uint32_t> arguments;
  std::vector<Step> steps;
  std::vector<uint32_t> yielded;
};

// One operation with its operand and result slots resolved.
struct Step {
  const ir::Operation* op;
  std::vector<uint32_t> operands;
  std::vector<uint32_t> results;
  std::vector<Region> regions;
};

ir::Literal integer_literal(int64_t v) {
  ir::Literal l;
  l.integer = v;
  return l;
}

ir::Literal real_literal(float v) {
  ir::Literal l;
  l.real = v;
  return l;
}

class Machine {
 public:
  Machine(const ir::Kernel& kernel, std::span<const Buffer> buffers) : kernel_(kernel), memory_(buffers) {
    body_ = prepare(kernel.body());
  }

  void bind(std::span<const Arg> args) {
    size_t n = kernel_.num_params();
    if (args.size() != n) {
      std::string params;
      for (size_t i = 0; i < n; ++i)
        params += cat(i ? ", " : "", kernel_.param(i)->name(), ": ", kernel_.param(i)->type().str());
      throw UserError(cat("kernel '", kernel_.name(), "' takes ", n, " arguments (", params, "), got ", args.size()));
    }
    for (size_t i = 0; i < n; ++i) {
      const ir::Type& type = kernel_.param(i)->type();
      const Arg& arg = args[i];
      if (type.is_tile() || type.element() != arg.type())
        throw UserError(cat("kernel '", kernel_.name(), "': argument ", i, " ('", kernel_.param(i)->name(),
                            "') must be ", type.str(), ", got ", arg.str()));
      Slot& slot = slots_[body_.arguments[i]];
      if (arg.type() == ScalarType::Ptr) {
        slot.data<uint64_t>()[0] = reinterpret_cast<uintptr_t>(arg.address());
        continue;
      }
      with_host_type(arg.type(),
                     [&]<class T>(std::type_identity<T>) { slot.data<T>()[0] = from_literal<T>(arg.value()); });
    }
  }

  // Runs program (x, y, z); `cluster` is the barrier its cluster_barrier operations wait at (none: a cluster of 1).
  void run_program(std::array<int64_t, 3> program, std::barrier<>* cluster) {
    program_ = program;
    cluster_ = cluster;
    // Copies a program never waited for are never read legitimately; they must not land in the next one's memory.
    uncommitted_.clear();
    committed_.clear();
    execute(body_);
  }

 private:
  Region prepare(const ir::Block& block) {
    Region region;
    for (const auto& arg : block.arguments()) region.arguments.push_back(define(arg.get()));
    for (const auto& op : block.ops()) {
      if (op->kind() == OpKind::ConstExpr)
        throw UserError(cat("kernel '", kernel_.name(), "': constexpr \"", op->attributes().symbol, "\" (built at ",
                            op->location().str(), ") is not specialized; bind it before running the kernel"));
      if (op->info().category == ir::OpCategory::Terminator) {
        for (const ir::Value* v : op->operands()) region.yielded.push_back(slot_of(v));
        continue;
      }
      Step step{op.get(), {}, {}, {}};
      for (const ir::Value* v : op->operands()) step.operands.push_back(slot_of(v));
      for (size_t r = 0; r < op->num_regions(); ++r) step.regions.push_back(prepare(op->region(r)));
      for (const ir::Value* v : op->results()) step.results.push_back(define(v));
      region.steps.push_back(std::move(step));
    }
    return region;
  }

  uint32_t define(const ir::Value* v) {
    auto id = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back().allocate(v->type());
    slot_ids_[v] = id;
    return id;
  }

  uint32_t slot_of(const ir::Value* v) const {
    auto it = slot_ids_.find(v);
    if (it == slot_ids_.end())
      throw InternalError(cat("kernel '", kernel_.name(), "': a value is used before its definition (verify the IR)"));
    return it->second;
  }

  void execute(const Region& region) {
    for (const Step& step : region.steps) {
      OpKind kind = step.op->kind();
      if (kind == OpKind::For)
        loop(step);
      else if (kind == OpKind::If)
        branch(step);
      else
        compute(step);
    }
  }

  // Adds the kernel, the operation and the program instance to the errors the tile operations report.
  void compute(const Step& step) {
    try {
      evaluate(step);
    } catch (const UserError& e) {
      fail(step, e.what());
    }
  }

  void evaluate(const Step& step) {
    const ir::Operation& op = *step.op;
    const ir::Attributes& a = op.attributes();
    auto in = [&](size_t i) -> const Slot& { return slots_[step.operands[i]]; };
    auto optional = [&](size_t i) { return i < step.operands.size() ? &slots_[step.operands[i]] : nullptr; };
    Slot* out = step.results.empty() ? nullptr : &slots_[step.results[0]];
    switch (op.kind()) {
      case OpKind::Constant:
        return with_host_type(out->element(),
                              [&]<class T>(std::type_identity<T>) { out->data<T>()[0] = from_literal<T>(a.literal); });
      case OpKind::ProgramId: out->data<int32_t>()[0] = static_cast<int32_t>(program_[a.axis]); return;
      case OpKind::Arange: {
        int32_t* o = out->data<int32_t>();
        for (int64_t i = 0, n = out->size(); i < n; ++i) o[i] = static_cast<int32_t>(a.start + i);
        return;
      }
      case OpKind::Splat: return splat(in(0), *out);
      case OpKind::Broadcast: return broadcast(in(0), a.axis, *out);
      case OpKind::Cmp: return compare(a.predicate, in(0), in(1), *out);
      case OpKind::Select: return select(in(0), in(1), in(2), *out);
      case OpKind::Cast: return cast(in(0), *out);
      case OpKind::AddPtr: return add_pointer(in(0), in(1), *out);
      case OpKind::Load: return memory_.load(in(0), optional(1), optional(2), *out);
      case OpKind::Store: return memory_.store(in(0), in(1), optional(2));
      case OpKind::AtomicAdd: return memory_.atomic_add(in(0), in(1), *out);
      case OpKind::SharedAlloc: return shared_alloc(op, *out);
      case OpKind::AsyncCopy: return start_copy(in(0), in(1), optional(2));
      case OpKind::AsyncCommit: return commit_copies();
      case OpKind::AsyncWait: return land_copies(a.pending);
      case OpKind::Reduce: return reduce(a.reduction, a.axis, in(0), *out);
      case OpKind::ClusterBarrier:
        if (cluster_) cluster_->arrive_and_wait();
        return;
      default:
        if (op.info().category == ir::OpCategory::Unary) return unary(op.kind(), in(0), *out);
        if (op.info().category == ir::OpCategory::Binary) return binary(op.kind(), in(0), in(1), *out);
        throw InternalError(cat("interpreter: no evaluation for '", op.info().name, "'"));
    }
  }

  // An async_copy: its source read now, its destination written when a wait lands it.
  void start_copy(const Slot& destination, const Slot& source, const Slot* mask) {
    memory_.check(destination, mask, "store");
    PendingCopy copy{destination, {}, mask ? std::optional<Slot>(*mask) : std::nullopt};
    copy.data.allocate(destination.type().with_element(destination.type().pointee()));
    memory_.load(source, mask, nullptr, copy.data);
    uncommitted_.push_back(std::move(copy));
  }

  // async_commit: the open group of copies becomes the newest committed one.
  void commit_copies() {
    committed_.push_back(std::move(uncommitted_));
    uncommitted_.clear();
  }

  // async_wait `pending`: lands every copy (0, as cp.async.wait_all commits the open group first), or all but those
  // of the `pending` groups committed last and of the open group.
  void land_copies(int64_t pending) {
    if (pending == 0) commit_copies();
    while (static_cast<int64_t>(committed_.size()) > pending) {
      for (const PendingCopy& c : committed_.front()) memory_.store(c.destination, c.data, c.mask ? &*c.mask : nullptr);
      committed_.pop_front();
    }
  }

  // Each shared_alloc gets one buffer per machine, reused by the programs it runs one after another. A program reads
  // what it did not write there as garbage, as on a GPU: the buffer is refilled with 0xff bytes (NaN, or -1) at every
  // allocation, so a kernel that relies on such elements fails its tests.
  void shared_alloc(const ir::Operation& op, Slot& out) {
    std::vector<std::byte>& buffer = shared_[&op];
    if (buffer.empty()) {
      buffer.resize(static_cast<size_t>(op.attributes().literal.integer) * ir::bit_width(out.type().pointee()) / 8);
      memory_.add({buffer.data(), buffer.size()});
    }
    std::fill(buffer.begin(), buffer.end(), std::byte{0xff});
    out.data<uint64_t>()[0] = reinterpret_cast<uintptr_t>(buffer.data());
  }

  void loop(const Step& step) {
    int64_t lower = integer(step.operands[0]), upper = integer(step.operands[1]), stride = integer(step.operands[2]);
    if (stride <= 0) fail(step, cat("the step must be positive, got ", stride));
    const Region& body = step.regions[0];
    size_t carried = step.results.size();
    for (size_t k = 0; k < carried; ++k) slots_[body.arguments[k + 1]] = slots_[step.operands[k + 3]];
    if (transfer_.size() < carried) transfer_.resize(carried);
    Slot& iv = slots_[body.arguments[0]];
    bool wide = iv.element() == ScalarType::I64;
    // The bounds fit the induction variable's type, so i only leaves it once i >= upper (or on i64 overflow).
    for (int64_t i = lower; i < upper;) {
      if (wide)
        iv.data<int64_t>()[0] = i;
      else
        iv.data<int32_t>()[0] = static_cast<int32_t>(i);
      execute(body);
      // Through a copy, since a yield may pass one carried argument on as another.
      for (size_t k = 0; k < carried; ++k) transfer_[k] = slots_[body.yielded[k]];
      for (size_t k = 0; k < carried; ++k) std::swap(slots_[body.arguments[k + 1]], transfer_[k]);
      if (__builtin_add_overflow(i, stride, &i)) break;
    }
    for (size_t k = 0; k < carried; ++k) slots_[step.results[k]] = slots_[body.arguments[k + 1]];
  }

  void branch(const Step& step) {
    const Region& taken = step.regions[slots_[step.operands[0]].data<uint8_t>()[0] ? 0 : 1];
    execute(taken);
    for (size_t k = 0; k < step.results.size(); ++k) slots_[step.results[k]] = slots_[taken.yielded[k]];
  }

  int64_t integer(uint32_t slot) const {
    const Slot& s = slots_[slot];
    return s.element() == ScalarType::I64 ? s.data<int64_t>()[0] : s.data<int32_t>()[0];
  }

  [[noreturn]] void fail(const Step& step, const std::string& what) const {
    throw UserError(cat("kernel '", kernel_.name(), "': '", step.op->info().name, "' at ", step.op->location().str(),
                        " in program (", program_[0], ", ", program_[1], ", ", program_[2], "): ", what));
  }

  const ir::Kernel& kernel_;
  Memory memory_;
  std::unordered_map<const ir::Value*, uint32_t> slot_ids_;  // only while preparing
  std::vector<Slot> slots_;
  Region body_;
  std::vector<Slot> transfer_;  // a loop's yielded values on their way to its arguments
  std::unordered_map<const ir::Operation*, std::vector<std::byte>> shared_;  // shared_alloc's buffers
  std::array<int64_t, 3> program_{};
  std::barrier<>* cluster_ = nullptr;
  // The program's async copies not landed yet: the open group, and the committed groups, oldest first.
  struct PendingCopy {
    Slot destination, data;
    std::optional<Slot> mask;
  };
  std::vector<PendingCopy> uncommitted_;
  std::deque<std::vector<PendingCopy>> committed_;
};

void check_grid(const ir::Kernel& kernel, Grid grid, int64_t cluster) {
  for (int64_t extent : {grid.x, grid.y, grid.z})
    if (extent < 0 || extent > int64_t{INT32_MAX} + 1)
      throw UserError(cat("kernel '", kernel.name(), "': grid extents must lie in [0, 2^31], got (", grid.x, ", ",
                          grid.y, ", ", grid.z, ")"));
  if (cluster < 1 || grid.x % cluster != 0)
    throw UserError(cat("kernel '", kernel.name(), "': the grid's x extent ", grid.x,
                        " must be a multiple of its cluster size ", cluster));
}

// The programs of one cluster run on threads of their own, so that each can wait at the cluster's barrier for the
// others. A program that fails leaves the barrier (arrive_and_drop) so that the others finish instead of waiting for
// it; the first failure is rethrown.
void run_cluster(std::vector<std::unique_ptr<Machine>>& machines, int64_t x0, int64_t y, int64_t z) {
  std::barrier<> barrier(static_cast<std::ptrdiff_t>(machines.size()));
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::vector<std::thread> threads;
  for (size_t r = 0; r < machines.size(); ++r)
    threads.emplace_back([&, r] {
      try {
        machines[r]->run_program({x0 + int64_t(r), y, z}, &barrier);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        barrier.arrive_and_drop();
      }
    });
  for (std::thread& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

Arg Arg::pointer(const void* p) { return Arg(ScalarType::Ptr, p, {}); }
Arg Arg::i1(bool v) { return Arg(ScalarType::I1, nullptr, integer_literal(v)); }
Arg Arg::i32(int32_t v) { return Arg(ScalarType::I32, nullptr, integer_literal(v)); }
Arg Arg::i64(int64_t v) { return Arg(ScalarType::I64, nullptr, integer_literal(v)); }
Arg Arg::f16(float v) { return Arg(ScalarType::F16, nullptr, real_literal(ir::round_to(ScalarType::F16, v))); }
Arg Arg::bf16(float v) { return Arg(ScalarType::BF16, nullptr, real_literal(ir::round_to(ScalarType::BF16, v))); }
Arg Arg::f32(float v) { return Arg(ScalarType::F32, nullptr, real_literal(v)); }

std::string Arg::str() const {
  if (type_ == ScalarType::Ptr) return cat("ptr ", address_);
  return cat(ir::to_string(type_), " ", ir::is_float(type_) ? cat(value_.real) : cat(value_.integer));
}

void run(const ir::Kernel& kernel, Grid grid, std::span<const Arg> args, std::span<const Buffer> buffers) {
  const int64_t cluster = kernel.attribute("cluster", 1);
  check_grid(kernel, grid, cluster);
  std::vector<std::unique_ptr<Machine>> machines;
  for (int64_t r = 0; r < cluster; ++r) {
    machines.push_back(std::make_unique<Machine>(kernel, buffers));
    machines.back()->bind(args);
  }
  for (int64_t z = 0; z < grid.z; ++z)
    for (int64_t y = 0; y < grid.y; ++y)
      for (int64_t x = 0; x < grid.x; x += cluster) {
        if (cluster == 1)
          machines[0]->run_program({x, y, z}, nullptr);
        else
          run_cluster(machines, x, y, z);
      }
}

}  // namespace xent::interp
