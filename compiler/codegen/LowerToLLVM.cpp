#include "compiler/codegen/LowerToLLVM.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include <functional>
#include <limits>
#include <set>

#include "compiler/Error.h"
#include "compiler/codegen/EmitPTX.h"
#include "compiler/codegen/PTXTarget.h"

namespace xent::codegen {

using ir::CmpPredicate;
using ir::Operation;
using ir::OpKind;
using ir::ReduceKind;
using ir::ScalarType;
using Slots = std::vector<llvm::Value*>;

namespace {

constexpr double kLog2E = 1.4426950408889634;
constexpr double kLn2 = 0.6931471805599453;

// The pointer parameters some store may write through. Pointers reach a store through splat, addptr, select and
// values carried by `for` and `if`; anything else is unknown, and then every pointer counts as written.
class WrittenParams {
 public:
  explicit WrittenParams(const ir::Kernel& kernel) { visit(kernel.body()); }
  bool written(const ir::Value* param) const { return unknown_ || roots_.count(param) != 0; }

 private:
  void visit(const ir::Block& block) {
    for (const auto& op : block.ops()) {
      if (op->kind() == OpKind::Store) trace(op->operand(0));
      for (size_t i = 0; i < op->num_regions(); ++i) visit(op->region(i));
    }
  }

  void trace(const ir::Value* v) {
    if (!seen_.insert(v).second) return;
    if (const ir::Block* owner = v->argument_owner()) {
      const Operation* loop = owner->parent_op();
      if (!loop) return void(roots_.insert(v));
      if (loop->kind() != OpKind::For || v->index() == 0) return void(unknown_ = true);
      trace(loop->operand(3 + v->index() - 1));
      trace(loop->region(0).terminator()->operand(v->index() - 1));
      return;
    }
    const Operation* def = v->defining_op();
    switch (def->kind()) {
      case OpKind::Splat:
      case OpKind::AddPtr: return trace(def->operand(0));
      case OpKind::Select: trace(def->operand(1)); return trace(def->operand(2));
      case OpKind::For:
        trace(def->operand(3 + v->index()));
        return trace(def->region(0).terminator()->operand(v->index()));
      case OpKind::If:
        for (size_t r = 0; r < 2; ++r) trace(def->region(r).terminator()->operand(v->index()));
        return;
      default: unknown_ = true;
    }
  }

  std::set<const ir::Value*> seen_, roots_;
  bool unknown_ = false;
};

class Lowering {
 public:
  Lowering(const ir::Kernel& kernel, const LayoutMap& layouts, llvm::LLVMContext& context,
           const llvm::TargetMachine& machine)
      : kernel_(kernel), layouts_(layouts), ctx_(context), b_(context), machine_(machine) {
    module_ = std::make_unique<llvm::Module>(kernel.name(), context);
    configure_module(*module_, machine);
  }

  LoweredModule run() {
    create_function();
    lower_block(kernel_.body());
    verify_module(*module_, "after lowering");
    return {std::move(module_), shared_bytes_, dynamic_shared_bytes_};
  }

 private:
  // ---- Types and constants.

  llvm::Type* type_of(ScalarType t) {
    switch (t) {
      case ScalarType::I1: return b_.getInt1Ty();
      case ScalarType::I32: return b_.getInt32Ty();
      case ScalarType::I64: return b_.getInt64Ty();
      case ScalarType::F16: return b_.getHalfTy();
      case ScalarType::BF16: return b_.getBFloatTy();
      case ScalarType::F32: return b_.getFloatTy();
      case ScalarType::Ptr: return b_.getPtrTy(kGlobalAddressSpace);
    }
    throw InternalError("unknown scalar type");
  }

  // Reductions and float math run in f32 (integers in their own type).
  llvm::Type* compute_type(ScalarType t) { return ir::is_float(t) ? b_.getFloatTy() : type_of(t); }
  llvm::Value* to_compute(llvm::Value* v, ScalarType t) {
    return ir::is_float(t) && t != ScalarType::F32 ? b_.CreateFPExt(v, b_.getFloatTy()) : v;
  }
  llvm::Value* from_compute(llvm::Value* v, ScalarType t) {
    return ir::is_float(t) && t != ScalarType::F32 ? b_.CreateFPTrunc(v, type_of(t)) : v;
  }

  llvm::Value* f32(double v) { return llvm::ConstantFP::get(b_.getFloatTy(), v); }

  // ---- The function and its parameters.

  void create_function() {
    WrittenParams written(kernel_);
    std::vector<llvm::Type*> params;
    for (size_t i = 0; i < kernel_.num_params(); ++i) {
      const ir::Type& t = kernel_.param(i)->type();
      bool passable = !t.is_tile() && (t.is_pointer() || t.element() == ScalarType::I32 ||
                                       t.element() == ScalarType::I64 || t.element() == ScalarType::F32);
      if (!passable)
        throw UserError(cat("kernel '", kernel_.name(), "': parameter '", kernel_.param(i)->name(), "' of type ",
                            t.str(), " cannot be passed at launch; use a pointer, i32, i64 or f32"));
      params.push_back(type_of(t.element()));
    }
    auto* type = llvm::FunctionType::get(b_.getVoidTy(), params, false);
    function_ = llvm::Function::Create(type, llvm::Function::ExternalLinkage, kernel_.name(), *module_);
    mark_kernel(*function_, layouts_.threads(), kernel_.attributes().count("threads") != 0);
    for (size_t i = 0; i < kernel_.num_params(); ++i) {
      llvm::Argument* arg = function_->getArg(i);
      arg->setName(kernel_.param(i)->name());
      if (kernel_.param(i)->type().is_pointer()) {
        arg->addAttr(llvm::Attribute::NoAlias);
        if (!written.written(kernel_.param(i))) arg->addAttr(llvm::Attribute::ReadOnly);
        int align = kernel_.param_info(i).align;
        if (align > 0) {
          if ((align & (align - 1)) != 0)
            throw UserError(cat("kernel '", kernel_.name(), "': parameter '", kernel_.param(i)->name(),
                                "' has alignment ", align, ", which is not a power of two"));
          arg->addAttr(llvm::Attribute::getWithAlignment(ctx_, llvm::Align(align)));
        }
      }
      values_[kernel_.param(i)] = {arg};
    }
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", function_));
    // Computed once in the entry block, so they dominate every use.
    llvm::Value* tid = thread_index(b_);
    for (int w = 1; w <= 16; w *= 2) thread_times_[w] = b_.CreateMul(tid, b_.getInt32(w), "", true, true);
    warp_ = b_.CreateLShr(tid, b_.getInt32(5));
    is_thread0_ = b_.CreateICmpEQ(tid, b_.getInt32(0));
  }

  // ---- Slots of the layout.

  const Layout& layout(const ir::Value* v) const { return layouts_.at(v); }
  const Slots& slots(const ir::Value* v) const { return values_.at(v); }

  // The flat element index (i32) this thread holds in `slot`.
  llvm::Value* element_index(const Layout& l, int slot) {
    return b_.CreateAdd(b_.getInt32(static_cast<int32_t>(l.slot_base(slot))), thread_times_.at(l.vector), "", true,
                        true);
  }
  // Whether `slot` is inside the tile; nullptr when it is for every thread.
  llvm::Value* in_tile(const Layout& l, int slot) {
    if (l.always_in_tile(slot)) return nullptr;
    return b_.CreateICmpULT(element_index(l, slot), b_.getInt32(static_cast<int32_t>(l.elements)));
  }
  // a && b, where nullptr or a constant true means "always".
  llvm::Value* both(llvm::Value* a, llvm::Value* c) {
    auto always = [](llvm::Value* v) {
      return !v || (llvm::isa<llvm::ConstantInt>(v) && llvm::cast<llvm::ConstantInt>(v)->isOne());
    };
    if (always(a)) return always(c) ? nullptr : c;
    return always(c) ? a : b_.CreateAnd(a, c);
  }

  // ---- Control-flow helpers.

  // Branches on `condition` and merges the two values produced (nullptr when neither produces one).
  llvm::Value* branch(llvm::Value* condition, const std::function<llvm::Value*()>& then,
                      const std::function<llvm::Value*()>& otherwise) {
    auto* then_block = llvm::BasicBlock::Create(ctx_, "then", function_);
    auto* else_block = llvm::BasicBlock::Create(ctx_, "else", function_);
    auto* join = llvm::BasicBlock::Create(ctx_, "join", function_);
    b_.CreateCondBr(condition, then_block, else_block);
    b_.SetInsertPoint(then_block);
    llvm::Value* a = then();
    llvm::BasicBlock* then_end = b_.GetInsertBlock();
    b_.CreateBr(join);
    b_.SetInsertPoint(else_block);
    llvm::Value* c = otherwise();
    llvm::BasicBlock* else_end = b_.GetInsertBlock();
    b_.CreateBr(join);
    b_.SetInsertPoint(join);
    if (!a) return nullptr;
    llvm::PHINode* phi = b_.CreatePHI(a->getType(), 2);
    phi->addIncoming(a, then_end);
    phi->addIncoming(c, else_end);
    return phi;
  }

  // ---- Blocks and operations.

  std::vector<Slots> lower_block(const ir::Block& block) {
    for (const auto& op : block.ops()) {
      if (op->kind() == OpKind::Yield) {
        std::vector<Slots> yielded;
        for (const ir::Value* v : op->operands()) yielded.push_back(slots(v));
        return yielded;
      }
      if (op->kind() == OpKind::Return) {
        b_.CreateRetVoid();
        return {};
      }
      lower(*op);
    }
    throw InternalError("a block without a terminator reached the lowering");
  }

  void lower(const Operation& op) {
    const ir::Attributes& a = op.attributes();
    switch (op.kind()) {
      case OpKind::ConstExpr:
        throw UserError(cat("kernel '", kernel_.name(), "' still holds constexpr '", a.symbol,
                            "'; specialize it (run the pass pipeline with its bindings) before lowering"));
      case OpKind::Constant: return define(op, {constant(op.result()->type().element(), a.literal)});
      case OpKind::ProgramId: return define(op, {program_index(b_, static_cast<int>(a.axis))});
      case OpKind::Arange: {
        const Layout& l = layout(op.result());
        Slots out;
        for (int s = 0; s < l.slots; ++s)
          out.push_back(b_.CreateAdd(element_index(l, s), b_.getInt32(static_cast<int32_t>(a.start))));
        return define(op, out);
      }
      case OpKind::Splat: return define(op, Slots(layout(op.result()).slots, slots(op.operand(0))[0]));
      case OpKind::Broadcast: return lower_broadcast(op);
      case OpKind::AddPtr: return lower_addptr(op);
      case OpKind::Load: return lower_load(op);
      case OpKind::Store: return lower_store(op);
      case OpKind::SharedAlloc: return lower_shared_alloc(op);
      case OpKind::AsyncCopy: return lower_async_copy(op);
      case OpKind::AsyncCommit: return async_commit(b_);
      case OpKind::AsyncWait: return async_wait(b_, static_cast<int>(op.attributes().pending));
      case OpKind::ClusterBarrier: return cluster_barrier(b_, machine_);
      case OpKind::AtomicAdd: return lower_atomic_add(op);
      case OpKind::Reduce: return op.operand(0)->type().rank() == 1 ? lower_reduce(op) : lower_reduce_2d(op);
      case OpKind::For: return lower_for(op);
      case OpKind::If: return lower_if(op);
      default: return lower_elementwise(op);
    }
  }

  void define(const Operation& op, Slots values) { values_[op.result()] = std::move(values); }

  llvm::Value* constant(ScalarType t, const ir::Literal& literal) {
    if (ir::is_float(t)) return llvm::ConstantFP::get(type_of(t), literal.real);
    return llvm::ConstantInt::get(type_of(t), static_cast<uint64_t>(literal.integer), true);
  }

  void lower_elementwise(const Operation& op) {
    size_t count = slots(op.operand(0)).size();
    Slots out;
    for (size_t s = 0; s < count; ++s) {
      std::vector<llvm::Value*> args;
      for (const ir::Value* v : op.operands()) args.push_back(slots(v)[s]);
      out.push_back(compute(op, args));
    }
    define(op, out);
  }

  llvm::Value* compute(const Operation& op, const std::vector<llvm::Value*>& x) {
    ScalarType t = op.operand(0)->type().element();
    switch (op.kind()) {
      case OpKind::Select: return b_.CreateSelect(x[0], x[1], x[2]);
      case OpKind::Cast: return cast(x[0], t, op.result()->type().element());
      case OpKind::Cmp: return compare(op.attributes().predicate, t, x[0], x[1]);
      default: break;
    }
    if (!ir::is_float(t)) return integer_math(op.kind(), x);
    std::vector<llvm::Value*> f;
    for (llvm::Value* v : x) f.push_back(to_compute(v, t));
    return from_compute(float_math(op.kind(), f), t);
  }

  llvm::Value* float_math(OpKind kind, const std::vector<llvm::Value*>& x) {
    switch (kind) {
      case OpKind::Neg: return b_.CreateFNeg(x[0]);
      case OpKind::Exp: return exp2_approx(b_, b_.CreateFMul(x[0], f32(kLog2E)));
      case OpKind::Exp2: return exp2_approx(b_, x[0]);
      case OpKind::Log: return b_.CreateFMul(log2_approx(b_, x[0]), f32(kLn2));
      case OpKind::Log2: return log2_approx(b_, x[0]);
      case OpKind::Tanh: {
        llvm::Value* e = exp2_approx(b_, b_.CreateFMul(x[0], f32(2 * kLog2E)));
        return b_.CreateFSub(f32(1), divide_approx(b_, f32(2), b_.CreateFAdd(e, f32(1))));
      }
      case OpKind::Add: return b_.CreateFAdd(x[0], x[1]);
      case OpKind::Sub: return b_.CreateFSub(x[0], x[1]);
      case OpKind::Mul: return b_.CreateFMul(x[0], x[1]);
      case OpKind::Div: return divide_approx(b_, x[0], x[1]);
      case OpKind::Max: return b_.CreateMaxNum(x[0], x[1]);
      case OpKind::Min: return b_.CreateMinNum(x[0], x[1]);
      default: throw InternalError(cat("'", op_info(kind).name, "' is not a float operation"));
    }
  }

  llvm::Value* integer_math(OpKind kind, const std::vector<llvm::Value*>& x) {
    switch (kind) {
      case OpKind::Neg: return b_.CreateNeg(x[0]);
      case OpKind::Add: return b_.CreateAdd(x[0], x[1]);
      case OpKind::Sub: return b_.CreateSub(x[0], x[1]);
      case OpKind::Mul: return b_.CreateMul(x[0], x[1]);
      case OpKind::Div: return b_.CreateSDiv(x[0], x[1]);
      case OpKind::Rem: return b_.CreateSRem(x[0], x[1]);
      case OpKind::Max: return b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x[0], x[1]);
      case OpKind::Min: return b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x[0], x[1]);
      case OpKind::And: return b_.CreateAnd(x[0], x[1]);
      case OpKind::Or: return b_.CreateOr(x[0], x[1]);
      default: throw InternalError(cat("'", op_info(kind).name, "' is not an integer operation"));
    }
  }

  llvm::Value* compare(CmpPredicate p, ScalarType t, llvm::Value* x, llvm::Value* y) {
    using P = llvm::CmpInst::Predicate;
    if (ir::is_float(t)) {
      static constexpr P kFloat[] = {P::FCMP_OEQ, P::FCMP_UNE, P::FCMP_OLT, P::FCMP_OLE, P::FCMP_OGT, P::FCMP_OGE};
      return b_.CreateFCmp(kFloat[static_cast<int>(p)], to_compute(x, t), to_compute(y, t));
    }
    // i1 holds 0 or 1, so it compares unsigned.
    static constexpr P kSigned[] = {P::ICMP_EQ, P::ICMP_NE, P::ICMP_SLT, P::ICMP_SLE, P::ICMP_SGT, P::ICMP_SGE};
    static constexpr P kUnsigned[] = {P::ICMP_EQ, P::ICMP_NE, P::ICMP_ULT, P::ICMP_ULE, P::ICMP_UGT, P::ICMP_UGE};
    return b_.CreateICmp((t == ScalarType::I1 ? kUnsigned : kSigned)[static_cast<int>(p)], x, y);
  }

  llvm::Value* cast(llvm::Value* x, ScalarType from, ScalarType to) {
    if (from == to) return x;
    if (ir::is_float(from) && ir::is_float(to)) return from_compute(to_compute(x, from), to);
    if (ir::is_float(to)) {
      llvm::Value* f =
          from == ScalarType::I1 ? b_.CreateUIToFP(x, b_.getFloatTy()) : b_.CreateSIToFP(x, b_.getFloatTy());
      return from_compute(f, to);
    }
    if (ir::is_float(from)) {
      llvm::Value* f = to_compute(x, from);
      // trunc(x) != 0, false for NaN.
      if (to == ScalarType::I1) return b_.CreateFCmpOGE(b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, f), f32(1));
      return b_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {type_of(to), f->getType()}, {f});
    }
    if (from == ScalarType::I1) return b_.CreateZExt(x, type_of(to));
    return b_.CreateSExtOrTrunc(x, type_of(to));
  }

  // ---- Memory.

  void lower_addptr(const Operation& op) {
    llvm::Type* pointee = type_of(op.operand(0)->type().pointee());
    const Slots& p = slots(op.operand(0));
    const Slots& offset = slots(op.operand(1));
    Slots out;
    for (size_t s = 0; s < p.size(); ++s) out.push_back(b_.CreateInBoundsGEP(pointee, p[s], offset[s]));
    define(op, out);
  }

  int element_bytes(const ir::Value* pointer) const { return ir::bit_width(pointer->type().pointee()) / 8; }

  // The per-lane conditions of the `count` slots from `first`: in the tile and not masked off.
  std::vector<llvm::Value*> lane_conditions(const Layout& l, int first, int count, const Slots* mask) {
    std::vector<llvm::Value*> conditions;
    for (int s = first; s < first + count; ++s) conditions.push_back(both(in_tile(l, s), mask ? (*mask)[s] : nullptr));
    return conditions;
  }

  llvm::Value* all_of(const std::vector<llvm::Value*>& conditions) {
    llvm::Value* all = nullptr;
    for (llvm::Value* c : conditions) all = both(all, c);
    return all;
  }

  llvm::Value* mask_vector(const std::vector<llvm::Value*>& conditions) {
    llvm::Value* v = llvm::PoisonValue::get(llvm::FixedVectorType::get(b_.getInt1Ty(), conditions.size()));
    for (size_t i = 0; i < conditions.size(); ++i)
      v = b_.CreateInsertElement(v, conditions[i] ? conditions[i] : b_.getTrue(), i);
    return v;
  }

  llvm::Value* pack(const Slots& values, int first, int count) {
    llvm::Value* v = llvm::PoisonValue::get(llvm::FixedVectorType::get(values[first]->getType(), count));
    for (int i = 0; i < count; ++i) v = b_.CreateInsertElement(v, values[first + i], i);
    return v;
  }

  void lower_load(const Operation& op) {
    const ir::Value* pointer = op.operand(0);
    ScalarType element = pointer->type().pointee();
    llvm::Type* type = type_of(element);
    llvm::Align align(element_bytes(pointer));
    const Slots& p = slots(pointer);
    const Slots* mask = op.num_operands() > 1 ? &slots(op.operand(1)) : nullptr;
    Slots other = op.num_operands() > 2 ? slots(op.operand(2)) : Slots(p.size(), llvm::Constant::getNullValue(type));
    if (!pointer->type().is_tile()) {
      auto load = [&] { return b_.CreateAlignedLoad(type, p[0], align); };
      return define(op, {mask ? branch((*mask)[0], load, [&] { return other[0]; }) : load()});
    }
    const Layout& l = layout(pointer);
    Slots out;
    for (int first = 0; first < l.slots; first += l.access) {
      std::vector<llvm::Value*> conditions = lane_conditions(l, first, l.access, mask);
      llvm::Value* all = all_of(conditions);
      if (l.access == 1) {
        auto load = [&] { return b_.CreateAlignedLoad(type, p[first], align); };
        out.push_back(all ? branch(all, load, [&] { return other[first]; }) : load());
        continue;
      }
      auto* vector = llvm::FixedVectorType::get(type, l.access);
      auto load = [&]() -> llvm::Value* {
        return b_.CreateAlignedLoad(vector, p[first], llvm::Align(align.value() * l.access));
      };
      auto masked = [&]() -> llvm::Value* {
        return b_.CreateMaskedLoad(vector, p[first], align, mask_vector(conditions), pack(other, first, l.access));
      };
      llvm::Value* v = all ? branch(all, load, masked) : load();
      for (int i = 0; i < l.access; ++i) out.push_back(b_.CreateExtractElement(v, i));
    }
    define(op, out);
  }

  void lower_store(const Operation& op) {
    const ir::Value* pointer = op.operand(0);
    llvm::Align align(element_bytes(pointer));
    const Slots& p = slots(pointer);
    const Slots& value = slots(op.operand(1));
    const Slots* mask = op.num_operands() > 2 ? &slots(op.operand(2)) : nullptr;
    auto nothing = []() -> llvm::Value* { return nullptr; };
    if (!pointer->type().is_tile()) {
      branch(
          both(is_thread0_, mask ? (*mask)[0] : nullptr),
          [&]() -> llvm::Value* {
            b_.CreateAlignedStore(value[0], p[0], align);
            return nullptr;
          },
          nothing);
      return;
    }
    const Layout& l = layout(pointer);
    for (int first = 0; first < l.slots; first += l.access) {
      std::vector<llvm::Value*> conditions = lane_conditions(l, first, l.access, mask);
      llvm::Value* all = all_of(conditions);
      auto store = [&]() -> llvm::Value* {
        llvm::Value* v = l.access == 1 ? value[first] : pack(value, first, l.access);
        b_.CreateAlignedStore(v, p[first], llvm::Align(align.value() * l.access));
        return nullptr;
      };
      auto masked = [&]() -> llvm::Value* {
        b_.CreateMaskedStore(pack(value, first, l.access), p[first], align, mask_vector(conditions));
        return nullptr;
      };
      if (!all)
        store();
      else
        branch(all, store, l.access == 1 ? nothing : std::function<llvm::Value*()>(masked));
    }
  }

  // shared_alloc: the next 16-byte aligned place in the program's dynamic shared memory (one extern array, sized at
  // launch), so that kernels may hold more than the 48 KiB that static shared memory allows.
  void lower_shared_alloc(const Operation& op) {
    int64_t bytes = op.attributes().literal.integer * element_bytes(op.result());
    if (bytes > std::numeric_limits<int>::max() - dynamic_shared_bytes_)
      throw UserError(cat("kernel '", kernel_.name(), "': shared_alloc of ", bytes, " bytes is more than any GPU has"));
    if (!dynamic_shared_) {
      dynamic_shared_ = new llvm::GlobalVariable(*module_, llvm::ArrayType::get(b_.getInt8Ty(), 0), false,
                                                 llvm::GlobalValue::ExternalLinkage, nullptr, "dynamic_shared", nullptr,
                                                 llvm::GlobalValue::NotThreadLocal, kSharedAddressSpace);
      dynamic_shared_->setAlignment(llvm::Align(16));
    }
    llvm::Value* start = b_.CreateInBoundsGEP(b_.getInt8Ty(), dynamic_shared_, b_.getInt64(dynamic_shared_bytes_));
    dynamic_shared_bytes_ += static_cast<int>((bytes + 15) / 16 * 16);
    define(op, {start});
  }

  // async_copy: each access group of a thread (its 16-, 8- or 4-byte runs that are contiguous and aligned in both
  // tiles) becomes one cp.async when all its elements are copied; the rest (masked groups, 2-byte runs) are copied
  // with an ordinary load and store, which async_wait's barrier publishes as well.
  void lower_async_copy(const Operation& op) {
    const ir::Value *destination = op.operand(0), *source = op.operand(1);
    const Slots &to = slots(destination), &from = slots(source);
    const Slots* mask = op.num_operands() > 2 ? &slots(op.operand(2)) : nullptr;
    llvm::Type* type = type_of(source->type().pointee());
    const int bytes = element_bytes(source);
    auto copy_now = [&](int first, int count, const std::vector<llvm::Value*>& conditions) {
      llvm::Align align(bytes);
      if (count == 1) {
        auto copy = [&]() -> llvm::Value* {
          b_.CreateAlignedStore(b_.CreateAlignedLoad(type, from[first], align), to[first], align);
          return nullptr;
        };
        if (llvm::Value* all = all_of(conditions)) return void(branch(all, copy, [] { return nullptr; }));
        return void(copy());
      }
      auto* vector = llvm::FixedVectorType::get(type, count);
      llvm::Value* lanes = mask_vector(conditions);
      llvm::Value* data = b_.CreateMaskedLoad(vector, from[first], align, lanes, llvm::PoisonValue::get(vector));
      b_.CreateMaskedStore(data, to[first], align, lanes);
    };
    if (!destination->type().is_tile()) return copy_now(0, 1, {both(is_thread0_, mask ? (*mask)[0] : nullptr)});
    const Layout &l = layout(destination), &ls = layout(source);
    const int access = std::min(l.access, ls.access);
    for (int first = 0; first < l.slots; first += access) {
      std::vector<llvm::Value*> conditions = lane_conditions(l, first, access, mask);
      if (access * bytes < 4) {
        copy_now(first, access, conditions);
        continue;
      }
      auto copy_async = [&]() -> llvm::Value* {
        copy_async_to_shared(b_, to[first], from[first], access * bytes);
        return nullptr;
      };
      llvm::Value* all = all_of(conditions);
      if (!all) {
        copy_async();
        continue;
      }
      branch(all, copy_async, [&]() -> llvm::Value* {
        copy_now(first, access, conditions);
        return nullptr;
      });
    }
  }

  // Thread 0 adds for the program, between two GPU-scope fences: the barrier before puts every thread's earlier stores
  // before its first fence, and the old value reaches the other threads through shared memory after the second
  // (atomic_add is never inside a loop, so this shared word is written at most once).
  void lower_atomic_add(const Operation& op) {
    llvm::Value* pointer = slots(op.operand(0))[0];
    llvm::Value* value = slots(op.operand(1))[0];
    llvm::Value* old_value = shared_at(shared_array(b_.getInt32Ty(), 1), b_.getInt32(0));
    barrier(b_);
    branch(
        is_thread0_,
        [&]() -> llvm::Value* {
          fence_gpu(b_);
          llvm::Value* old = b_.CreateAtomicRMW(llvm::AtomicRMWInst::Add, pointer, value, llvm::MaybeAlign(4),
                                                llvm::AtomicOrdering::Monotonic);
          fence_gpu(b_);
          b_.CreateStore(old, old_value);
          return nullptr;
        },
        [] { return nullptr; });
    barrier(b_);
    define(op, {b_.CreateLoad(b_.getInt32Ty(), old_value)});
  }

  // A static shared array of `count` elements, private to one operation.
  llvm::GlobalVariable* shared_array(llvm::Type* element, int64_t count) {
    auto* type = llvm::ArrayType::get(element, count);
    auto* array =
        new llvm::GlobalVariable(*module_, type, false, llvm::GlobalValue::InternalLinkage, llvm::UndefValue::get(type),
                                 "shared", nullptr, llvm::GlobalValue::NotThreadLocal, kSharedAddressSpace);
    array->setAlignment(llvm::Align(16));
    int64_t bytes = (module_->getDataLayout().getTypeAllocSize(type).getFixedValue() + 15) / 16 * 16;
    shared_bytes_ += static_cast<int>(bytes);
    if (shared_bytes_ > 48 * 1024)
      throw UserError(cat("kernel '", kernel_.name(), "' needs ", shared_bytes_,
                          " bytes of static shared memory (more than 48 KiB); use smaller 2-D tiles"));
    return array;
  }
  llvm::Value* shared_at(llvm::GlobalVariable* array, llvm::Value* index) {
    return b_.CreateInBoundsGEP(array->getValueType()->getArrayElementType(), array, {index});
  }

  // Waits for every thread after a buffer was read, when the operation runs again in a later iteration.
  void barrier_if_repeated() {
    if (loop_depth_ > 0) barrier(b_);
  }

  // ---- Reductions.

  llvm::Value* identity(ReduceKind kind, llvm::Type* type) {
    if (type->isFloatTy()) {
      double inf = std::numeric_limits<double>::infinity();
      return f32(kind == ReduceKind::Sum ? 0.0 : kind == ReduceKind::Max ? -inf : inf);
    }
    unsigned bits = type->getIntegerBitWidth();
    if (kind == ReduceKind::Sum) return llvm::ConstantInt::get(type, 0);
    return llvm::ConstantInt::get(
        ctx_, kind == ReduceKind::Max ? llvm::APInt::getSignedMinValue(bits) : llvm::APInt::getSignedMaxValue(bits));
  }

  llvm::Value* combine(ReduceKind kind, llvm::Value* x, llvm::Value* y) {
    bool real = x->getType()->isFloatTy();
    switch (kind) {
      case ReduceKind::Sum: return real ? b_.CreateFAdd(x, y) : b_.CreateAdd(x, y);
      case ReduceKind::Max: return real ? b_.CreateMaxNum(x, y) : b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, y);
      case ReduceKind::Min: return real ? b_.CreateMinNum(x, y) : b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, y);
    }
    throw InternalError("unknown reduction");
  }

  // A balanced tree: shorter dependency chains than a left fold, and the same order in every thread.
  llvm::Value* fold(ReduceKind kind, std::vector<llvm::Value*> values) {
    while (values.size() > 1) {
      std::vector<llvm::Value*> next;
      for (size_t i = 0; i + 1 < values.size(); i += 2) next.push_back(combine(kind, values[i], values[i + 1]));
      if (values.size() % 2) next.push_back(values.back());
      values = std::move(next);
    }
    return values.front();
  }

  llvm::Value* shuffle(llvm::Value* v, int lane_mask) {
    if (!v->getType()->isIntegerTy(64)) return shuffle_xor(b_, v, lane_mask);
    llvm::Value* lo = shuffle_xor(b_, b_.CreateTrunc(v, b_.getInt32Ty()), lane_mask);
    llvm::Value* hi = shuffle_xor(b_, b_.CreateTrunc(b_.CreateLShr(v, 32), b_.getInt32Ty()), lane_mask);
    return b_.CreateOr(b_.CreateZExt(lo, b_.getInt64Ty()), b_.CreateShl(b_.CreateZExt(hi, b_.getInt64Ty()), 32));
  }

  void lower_reduce(const Operation& op) {
    const ir::Value* x = op.operand(0);
    ReduceKind kind = op.attributes().reduction;
    ScalarType element = x->type().element();
    llvm::Type* type = compute_type(element);
    const Layout& l = layout(x);
    std::vector<llvm::Value*> values;
    for (int s = 0; s < l.slots; ++s) {
      llvm::Value* v = to_compute(slots(x)[s], element);
      if (llvm::Value* valid = in_tile(l, s)) v = b_.CreateSelect(valid, v, identity(kind, type));
      values.push_back(v);
    }
    llvm::Value* acc = fold(kind, values);
    for (int lane_mask = kWarpSize / 2; lane_mask >= 1; lane_mask /= 2)
      acc = combine(kind, acc, shuffle(acc, lane_mask));
    int warps = layouts_.threads() / kWarpSize;
    if (warps > 1) {
      // After the butterfly every lane holds the same bits (each step combines the same two values, commutatively),
      // so all lanes write their warp's partial: one same-address store, and no predicate to keep alive.
      llvm::GlobalVariable* partials = shared_array(type, warps);
      b_.CreateStore(acc, shared_at(partials, warp_));
      barrier(b_);
      std::vector<llvm::Value*> all;
      for (int w = 0; w < warps; ++w) all.push_back(b_.CreateLoad(type, shared_at(partials, b_.getInt32(w))));
      acc = fold(kind, all);
      barrier_if_repeated();
    }
    define(op, {from_compute(acc, element)});
  }

  // True when every row of the 2-D `tile` is one chunk of its thread and `rows` (the tile's rows as a 1-D tile) has
  // chunks of one element: then row r and element r of `rows` sit in the same thread, in slot group r / T of each, so
  // a reduction along the rows or a broadcast of `rows` along them moves no data between threads (Layout.h).
  bool rows_are_chunks(const ir::Value* tile, const ir::Value* rows) const {
    return layout(tile).vector == tile->type().shape()[1] && layout(rows).vector == 1;
  }

  // Each row of a tile folded inside its thread: result slot j folds the operand's slots j·C to j·C + C − 1.
  void lower_reduce_rows_in_thread(const Operation& op) {
    const ir::Value* x = op.operand(0);
    ReduceKind kind = op.attributes().reduction;
    ScalarType element = x->type().element();
    int columns = static_cast<int>(x->type().shape()[1]);
    Slots result;
    for (int j = 0; j < layout(op.result()).slots; ++j) {
      std::vector<llvm::Value*> row;
      for (int c = 0; c < columns; ++c) row.push_back(to_compute(slots(x)[j * columns + c], element));
      result.push_back(from_compute(fold(kind, row), element));
    }
    define(op, result);
  }

  // The tile goes to shared memory; each result slot folds its row or column there, in order. Rows held whole by
  // their threads fold in place instead.
  void lower_reduce_2d(const Operation& op) {
    const ir::Value* x = op.operand(0);
    int64_t axis = op.attributes().axis;
    if (axis == 1 && rows_are_chunks(x, op.result())) return lower_reduce_rows_in_thread(op);
    ReduceKind kind = op.attributes().reduction;
    ScalarType element = x->type().element();
    llvm::Type* type = compute_type(element);
    int64_t rows = x->type().shape()[0], columns = x->type().shape()[1];
    llvm::GlobalVariable* tile = shared_array(type, rows * columns);
    store_to_shared(tile, x, [&](llvm::Value* v) { return to_compute(v, element); });
    barrier(b_);

    const Layout& out = layout(op.result());
    std::vector<llvm::Value*> starts, strides;  // the first element and the step of each slot's row or column
    for (int s = 0; s < out.slots; ++s) {
      llvm::Value* o = clamp_to_tile(out, s);
      starts.push_back(axis == 1 ? b_.CreateMul(o, b_.getInt32(static_cast<int32_t>(columns))) : o);
    }
    int32_t step = axis == 1 ? 1 : static_cast<int32_t>(columns);
    int64_t length = axis == 1 ? columns : rows;

    llvm::BasicBlock* before = b_.GetInsertBlock();
    auto* loop = llvm::BasicBlock::Create(ctx_, "fold", function_);
    auto* done = llvm::BasicBlock::Create(ctx_, "folded", function_);
    b_.CreateBr(loop);
    b_.SetInsertPoint(loop);
    llvm::PHINode* k = b_.CreatePHI(b_.getInt32Ty(), 2);
    k->addIncoming(b_.getInt32(0), before);
    std::vector<llvm::PHINode*> accs;
    for (int s = 0; s < out.slots; ++s) {
      llvm::PHINode* acc = b_.CreatePHI(type, 2);
      acc->addIncoming(identity(kind, type), before);
      accs.push_back(acc);
    }
    llvm::Value* offset = b_.CreateMul(k, b_.getInt32(step));
    std::vector<llvm::Value*> next;
    for (int s = 0; s < out.slots; ++s) {
      llvm::Value* v = b_.CreateLoad(type, shared_at(tile, b_.CreateAdd(starts[s], offset)));
      next.push_back(combine(kind, accs[s], v));
    }
    llvm::Value* k_next = b_.CreateAdd(k, b_.getInt32(1));
    llvm::BasicBlock* latch = b_.GetInsertBlock();
    k->addIncoming(k_next, latch);
    for (int s = 0; s < out.slots; ++s) accs[s]->addIncoming(next[s], latch);
    b_.CreateCondBr(b_.CreateICmpULT(k_next, b_.getInt32(static_cast<int32_t>(length))), loop, done);
    b_.SetInsertPoint(done);
    barrier_if_repeated();
    Slots result;
    for (int s = 0; s < out.slots; ++s) result.push_back(from_compute(next[s], element));
    define(op, result);
  }

  // The slot's element index, or 0 for slots out of the tile (so shared-memory reads stay inside the array).
  llvm::Value* clamp_to_tile(const Layout& l, int slot) {
    llvm::Value* e = element_index(l, slot);
    llvm::Value* valid = in_tile(l, slot);
    return valid ? b_.CreateSelect(valid, e, b_.getInt32(0)) : e;
  }

  // Every thread writes its in-tile slots of `x` at their flat index.
  void store_to_shared(llvm::GlobalVariable* array, const ir::Value* x,
                       const std::function<llvm::Value*(llvm::Value*)>& convert) {
    const Layout& l = layout(x);
    for (int s = 0; s < l.slots; ++s) {
      auto store = [&]() -> llvm::Value* {
        b_.CreateStore(convert(slots(x)[s]), shared_at(array, element_index(l, s)));
        return nullptr;
      };
      if (llvm::Value* valid = in_tile(l, s))
        branch(valid, store, [] { return nullptr; });
      else
        store();
    }
  }

  // Element (r, c) of the result is x[r] (axis 0) or x[c] (axis 1). An arange is recomputed in place; any other
  // tile moves through shared memory.
  void lower_broadcast(const Operation& op) {
    const ir::Value* x = op.operand(0);
    int64_t columns = op.result()->type().shape()[1];
    bool along_rows = op.attributes().axis == 0;
    const Layout& out = layout(op.result());
    auto coordinate = [&](int s) {
      llvm::Value* e = clamp_to_tile(out, s);
      llvm::Value* c = b_.getInt32(static_cast<int32_t>(columns));
      return along_rows ? b_.CreateUDiv(e, c) : b_.CreateURem(e, c);
    };
    Slots result;
    if (along_rows && rows_are_chunks(op.result(), x)) {
      // Result slot s holds column s % C of the row in operand slot s / C, in the same thread.
      for (int s = 0; s < out.slots; ++s) result.push_back(slots(x)[s / columns]);
      return define(op, result);
    }
    const Operation* def = x->defining_op();
    if (def && def->kind() == OpKind::Arange) {
      for (int s = 0; s < out.slots; ++s)
        result.push_back(b_.CreateAdd(coordinate(s), b_.getInt32(static_cast<int32_t>(def->attributes().start))));
      return define(op, result);
    }
    llvm::Type* type = type_of(x->type().element());
    llvm::GlobalVariable* array = shared_array(type, x->type().shape()[0]);
    store_to_shared(array, x, [](llvm::Value* v) { return v; });
    barrier(b_);
    for (int s = 0; s < out.slots; ++s) result.push_back(b_.CreateLoad(type, shared_at(array, coordinate(s))));
    barrier_if_repeated();
    define(op, result);
  }

  // ---- Structured control flow.

  void lower_for(const Operation& op) {
    llvm::Value* lower_bound = slots(op.operand(0))[0];
    llvm::Value* upper_bound = slots(op.operand(1))[0];
    llvm::Value* step = slots(op.operand(2))[0];
    const ir::Block& body = op.region(0);
    llvm::BasicBlock* before = b_.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(ctx_, "loop", function_);
    auto* body_block = llvm::BasicBlock::Create(ctx_, "body", function_);
    auto* exit = llvm::BasicBlock::Create(ctx_, "exit", function_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode* iv = b_.CreatePHI(lower_bound->getType(), 2, "iv");
    iv->addIncoming(lower_bound, before);
    std::vector<std::vector<llvm::PHINode*>> carried;
    for (size_t i = 0; i < op.num_results(); ++i) {
      carried.emplace_back();
      Slots phis;
      for (llvm::Value* init : slots(op.operand(3 + i))) {
        llvm::PHINode* phi = b_.CreatePHI(init->getType(), 2);
        phi->addIncoming(init, before);
        carried.back().push_back(phi);
        phis.push_back(phi);
      }
      values_[body.argument(1 + i)] = phis;
      values_[op.result(i)] = phis;
    }
    values_[body.argument(0)] = {iv};
    b_.CreateCondBr(b_.CreateICmpSLT(iv, upper_bound), body_block, exit);
    b_.SetInsertPoint(body_block);
    ++loop_depth_;
    std::vector<Slots> yielded = lower_block(body);
    --loop_depth_;
    llvm::BasicBlock* latch = b_.GetInsertBlock();
    iv->addIncoming(b_.CreateAdd(iv, step), latch);
    for (size_t i = 0; i < carried.size(); ++i)
      for (size_t s = 0; s < carried[i].size(); ++s) carried[i][s]->addIncoming(yielded[i][s], latch);
    b_.CreateBr(header);
    b_.SetInsertPoint(exit);
  }

  void lower_if(const Operation& op) {
    auto* then_block = llvm::BasicBlock::Create(ctx_, "if.then", function_);
    auto* else_block = llvm::BasicBlock::Create(ctx_, "if.else", function_);
    auto* join = llvm::BasicBlock::Create(ctx_, "if.join", function_);
    b_.CreateCondBr(slots(op.operand(0))[0], then_block, else_block);
    std::vector<Slots> yielded[2];
    llvm::BasicBlock* ends[2];
    llvm::BasicBlock* starts[2] = {then_block, else_block};
    for (int r = 0; r < 2; ++r) {
      b_.SetInsertPoint(starts[r]);
      yielded[r] = lower_block(op.region(r));
      ends[r] = b_.GetInsertBlock();
      b_.CreateBr(join);
    }
    b_.SetInsertPoint(join);
    for (size_t i = 0; i < op.num_results(); ++i) {
      Slots merged;
      for (size_t s = 0; s < yielded[0][i].size(); ++s) {
        llvm::PHINode* phi = b_.CreatePHI(yielded[0][i][s]->getType(), 2);
        phi->addIncoming(yielded[0][i][s], ends[0]);
        phi->addIncoming(yielded[1][i][s], ends[1]);
        merged.push_back(phi);
      }
      values_[op.result(i)] = merged;
    }
  }

  const ir::Kernel& kernel_;
  const LayoutMap& layouts_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  const llvm::TargetMachine& machine_;
  std::unique_ptr<llvm::Module> module_;
  llvm::Function* function_ = nullptr;
  std::map<int, llvm::Value*> thread_times_;  // tid * w for each vector width
  llvm::Value* warp_ = nullptr;
  llvm::Value* is_thread0_ = nullptr;
  std::unordered_map<const ir::Value*, Slots> values_;
  int loop_depth_ = 0;
  int shared_bytes_ = 0;
  llvm::GlobalVariable* dynamic_shared_ = nullptr;
  int dynamic_shared_bytes_ = 0;
};

}  // namespace

LoweredModule lower_to_llvm(const ir::Kernel& kernel, const LayoutMap& layouts, llvm::LLVMContext& context,
                            const llvm::TargetMachine& machine) {
  return Lowering(kernel, layouts, context, machine).run();
}

}  // namespace xent::codegen
