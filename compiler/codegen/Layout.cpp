#include "compiler/codegen/Layout.h"

#include <algorithm>

#include "compiler/Error.h"

namespace xent::codegen {

using ir::Block;
using ir::Operation;
using ir::OpKind;
using ir::Type;
using ir::Value;

int64_t Layout::slot_base(int slot) const {
  return static_cast<int64_t>(slot / vector) * threads * vector + slot % vector;
}
int64_t Layout::element(int thread, int slot) const { return slot_base(slot) + static_cast<int64_t>(thread) * vector; }
int Layout::thread_of(int64_t e) const { return static_cast<int>((e / vector) % threads); }
int Layout::slot_of(int64_t e) const {
  return static_cast<int>((e / (static_cast<int64_t>(threads) * vector)) * vector + e % vector);
}
bool Layout::always_in_tile(int slot) const {
  return static_cast<int64_t>(slot / vector + 1) * threads * vector <= elements;
}
std::string Layout::str() const {
  return cat("T=", threads, " w=", vector, " slots=", slots, access ? cat(" access=", access) : "");
}

const Layout& LayoutMap::at(const Value* value) const {
  auto it = layouts_.find(value);
  if (it == layouts_.end()) throw InternalError(cat("no layout for a value of type ", value->type().str()));
  return it->second;
}

namespace {

constexpr int64_t kUnbounded = int64_t{1} << 30;
constexpr int kAccessBytes = 16;

int64_t pow2_divisor(int64_t v) {
  if (v == 0) return kUnbounded;
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  return std::min<int64_t>(kUnbounded, static_cast<int64_t>(u & (~u + 1)));
}

// Triton-style facts about an integer or pointer value along the flat element index (see Layout.h). A scalar is a
// constant "tile" (unbounded constancy), so splat and the binary rules need no special cases.
struct AxisInfo {
  int64_t contiguity = 1;
  int64_t divisibility = 1;  // of each contiguous run's first element (of every element when contiguity is 1)
  int64_t constancy = 1;
};

// The divisibility of the first element of runs cut to `length` <= x.contiguity.
int64_t run_divisibility(const AxisInfo& x, int64_t length) {
  if (x.contiguity == 1 || length == x.contiguity) return x.divisibility;
  return std::min(x.divisibility, length);
}
int64_t element_divisibility(const AxisInfo& x) { return run_divisibility(x, 1); }

AxisInfo restrict_runs(const AxisInfo& x, int64_t length) {
  AxisInfo r;
  r.contiguity = std::min(x.contiguity, length);
  r.divisibility = run_divisibility(x, r.contiguity);
  r.constancy = std::min(x.constancy, length);
  return r;
}

// x + y or x - y (only x may be the contiguous one for a difference).
AxisInfo add(const AxisInfo& x, const AxisInfo& y, bool subtract) {
  int64_t from_x = std::min(x.contiguity, y.constancy);
  int64_t from_y = subtract ? 1 : std::min(x.constancy, y.contiguity);
  const AxisInfo& run = from_x >= from_y ? x : y;
  const AxisInfo& other = from_x >= from_y ? y : x;
  AxisInfo r;
  r.contiguity = std::max(from_x, from_y);
  r.divisibility = std::min(run_divisibility(run, r.contiguity), element_divisibility(other));
  r.constancy = std::min(x.constancy, y.constancy);
  return r;
}

AxisInfo multiply(const AxisInfo& x, const AxisInfo& y) {
  AxisInfo r;
  r.divisibility = std::min(kUnbounded, element_divisibility(x) * element_divisibility(y));
  r.constancy = std::min(x.constancy, y.constancy);
  return r;
}

// select(c, x, y): whichever of x and y, element by element as c says.
AxisInfo either(const AxisInfo& c, const AxisInfo& x, const AxisInfo& y) {
  AxisInfo r;
  r.divisibility = std::min(element_divisibility(x), element_divisibility(y));
  r.constancy = std::min({c.constancy, x.constancy, y.constancy});
  return r;
}

class Assigner {
 public:
  explicit Assigner(const ir::Kernel& kernel) : kernel_(kernel) {}

  // The layout of every tile value.
  std::unordered_map<const Value*, Layout> run(int threads) {
    for (size_t i = 0; i < kernel_.num_params(); ++i) info_[kernel_.param(i)] = param_info(i);
    visit(kernel_.body());

    // The widest access proven for any pointer tile of a group sets the group's chunk width.
    std::unordered_map<const Value*, int> group_vector;
    for (const Value* v : tiles_) {
      int& w = group_vector[find(v)];
      w = std::max({w, 1, v->type().is_pointer() ? provable_access(v) : 1});
    }
    std::unordered_map<const Value*, Layout> layouts;
    for (const Value* v : tiles_) {
      Layout l;
      l.shape = v->type().shape();
      l.elements = v->type().num_elements();
      l.threads = threads;
      l.vector = group_vector.at(find(v));
      int64_t per_round = static_cast<int64_t>(l.threads) * l.vector;
      l.slots = static_cast<int>((l.elements + per_round - 1) / per_round * l.vector);
      l.access = v->type().is_pointer() ? std::min(l.vector, provable_access(v)) : 0;
      layouts.emplace(v, std::move(l));
    }
    for (const Value* v : tiles_) {
      if (layouts.at(v).shape != layouts.at(find(v)).shape)
        throw InternalError(cat("layout assignment joined tiles of different shapes in kernel '", kernel_.name(), "'"));
    }
    return layouts;
  }

 private:
  AxisInfo param_info(size_t i) const {
    const Type& t = kernel_.param(i)->type();
    AxisInfo info{1, 1, kUnbounded};
    int align = kernel_.param_info(i).align;
    if (t.is_pointer())
      info.divisibility = std::max(1, align / (ir::bit_width(t.pointee()) / 8));
    else if (t.is_integer() && align > 0)
      info.divisibility = pow2_divisor(align);
    return info;
  }

  AxisInfo info(const Value* v) const {
    auto it = info_.find(v);
    if (it != info_.end()) return it->second;
    return {1, 1, v->type().is_tile() ? 1 : kUnbounded};
  }

  int provable_access(const Value* pointer) const {
    AxisInfo p = info(pointer);
    int a = kAccessBytes / (ir::bit_width(pointer->type().pointee()) / 8);
    while (a > 1 && (p.contiguity < a || run_divisibility(p, a) < a)) a /= 2;
    return a;
  }

  const Value* find(const Value* v) {
    auto it = parent_.find(v);
    if (it == parent_.end() || it->second == v) return v;
    return it->second = find(it->second);
  }
  void join(const Value* a, const Value* b) {
    if (!a->type().is_tile() || !b->type().is_tile()) return;
    const Value* ra = find(a);
    const Value* rb = find(b);
    if (ra != rb) parent_[ra] = rb;
  }

  void note(const Value* v) {
    if (v->type().is_tile()) tiles_.push_back(v);
  }

  void visit(const Block& block) {
    for (const auto& arg : block.arguments()) note(arg.get());
    for (const auto& op : block.ops()) visit(*op);
  }

  void visit(const Operation& op) {
    for (const Value* r : op.results()) note(r);
    if (op.kind() == OpKind::For) {
      // iv = lb + k * step
      int64_t d = std::min(element_divisibility(info(op.operand(0))), element_divisibility(info(op.operand(2))));
      info_[op.region(0).argument(0)] = {1, d, kUnbounded};
    }
    for (size_t i = 0; i < op.num_regions(); ++i) visit(op.region(i));
    switch (op.kind()) {
      case OpKind::For:
        for (size_t i = 0; i < op.num_results(); ++i) {
          join(op.result(i), op.operand(3 + i));
          join(op.result(i), op.region(0).argument(1 + i));
          join(op.result(i), op.region(0).terminator()->operand(i));
        }
        return;
      case OpKind::If:
        for (size_t i = 0; i < op.num_results(); ++i)
          for (size_t r = 0; r < 2; ++r) join(op.result(i), op.region(r).terminator()->operand(i));
        return;
      case OpKind::Yield:
      case OpKind::AsyncCommit:
      case OpKind::AsyncWait:
      case OpKind::ClusterBarrier:
      case OpKind::Return: return;
      case OpKind::Splat:
      case OpKind::Arange:
      case OpKind::Broadcast:
      case OpKind::Reduce: break;
      default: {
        // Elementwise, including addptr, load, store and async_copy: every tile operand and result shares one layout.
        std::vector<const Value*> values(op.operands().begin(), op.operands().end());
        for (const Value* r : op.results()) values.push_back(r);
        for (const Value* v : values) join(values.front(), v);
      }
    }
    if (op.num_results() == 1) info_[op.result()] = derive(op);
  }

  AxisInfo derive(const Operation& op) const {
    const ir::Attributes& a = op.attributes();
    auto operand = [&](size_t i) { return info(op.operand(i)); };
    switch (op.kind()) {
      case OpKind::Constant:
        return {1, op.result()->type().is_integer() ? pow2_divisor(a.literal.integer) : 1, kUnbounded};
      case OpKind::Arange: return {kUnbounded, pow2_divisor(a.start), 1};
      // Shared allocations are 16-byte aligned (the lowering places them so).
      case OpKind::SharedAlloc:
        return {1, kAccessBytes / (ir::bit_width(op.result()->type().pointee()) / 8), kUnbounded};
      case OpKind::Splat: return {1, element_divisibility(operand(0)), kUnbounded};
      case OpKind::Broadcast: {
        int64_t row_runs = pow2_divisor(op.result()->type().shape()[1]);
        if (a.axis == 1) return restrict_runs(operand(0), row_runs);
        return {1, element_divisibility(operand(0)), row_runs};
      }
      case OpKind::Add:
      case OpKind::AddPtr: return add(operand(0), operand(1), false);
      case OpKind::Sub: return add(operand(0), operand(1), true);
      case OpKind::Mul: return multiply(operand(0), operand(1));
      case OpKind::Select: return either(operand(0), operand(1), operand(2));
      case OpKind::Cast:
        if (op.result()->type().is_integer() && op.operand(0)->type().is_integer() && !op.operand(0)->type().is_bool())
          return operand(0);
        break;
      default: break;
    }
    return {1, 1, op.result()->type().is_tile() ? 1 : kUnbounded};
  }

  const ir::Kernel& kernel_;
  std::vector<const Value*> tiles_;
  std::unordered_map<const Value*, const Value*> parent_;
  std::unordered_map<const Value*, AxisInfo> info_;
};

void print_block(std::string& out, const Block& block, const LayoutMap& map, int depth) {
  for (const auto& op : block.ops()) {
    for (const Value* r : op->results())
      if (r->type().is_tile())
        out += cat(std::string(2 * depth, ' '), op->info().name, " ", r->type().str(), ": ", map.at(r).str(), "\n");
    for (size_t i = 0; i < op->num_regions(); ++i) print_block(out, op->region(i), map, depth + 1);
  }
}

}  // namespace

std::string LayoutMap::str(const ir::Kernel& kernel) const {
  std::string out = cat("layouts of @", kernel.name(), " (threads ", threads_, ")\n");
  print_block(out, kernel.body(), *this, 1);
  return out;
}

LayoutMap assign_layouts(const ir::Kernel& kernel) {
  int64_t threads = kernel.attribute("threads", 128);
  if (threads < 32 || threads > 1024 || threads % 32 != 0)
    throw UserError(
        cat("kernel '", kernel.name(), "': attribute threads = ", threads, " must be a multiple of 32 in [32, 1024]"));
  LayoutMap map;
  map.threads_ = static_cast<int>(threads);
  map.layouts_ = Assigner(kernel).run(map.threads_);
  return map;
}

}  // namespace xent::codegen
