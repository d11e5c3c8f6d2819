#include "compiler/codegen/PTXTarget.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/IR/IntrinsicsNVPTX.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/TargetSelect.h>

#include <array>
#include <mutex>

#include "compiler/Error.h"

namespace xent::codegen {
namespace {

constexpr std::array<PTXArch, 4> kArchs{{
    {"sm_80", "sm_80", ""},
    {"sm_86", "sm_86", ""},
    {"sm_89", "sm_89", ""},
    {"sm_90", "sm_90", ""},
}};

// Code generation's Loop Strength Reduction took 58% of NVPTX code generation (23 of 40 ms for ce_fused), to fold
// address arithmetic that ptxas folds again anyway (docs/performance.md, change 18). LLVM offers no per-TargetMachine
// switch, only the process-wide `-disable-lsr` option, set here once before any compile.
void disable_loop_strength_reduction() {
  auto& options = llvm::cl::getRegisteredOptions();
  auto found = options.find("disable-lsr");
  if (found == options.end()) throw InternalError("LLVM has no 'disable-lsr' option");
  static_cast<llvm::cl::opt<bool>*>(found->second)->setValue(true);
}

void initialize_nvptx_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    disable_loop_strength_reduction();
  });
}

#if LLVM_VERSION_MAJOR < 21
void add_annotation(llvm::Function& f, llvm::StringRef key, int value) {
  llvm::LLVMContext& ctx = f.getContext();
  llvm::Metadata* operands[] = {
      llvm::ValueAsMetadata::get(&f), llvm::MDString::get(ctx, key),
      llvm::ConstantAsMetadata::get(llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), value))};
  f.getParent()->getOrInsertNamedMetadata("nvvm.annotations")->addOperand(llvm::MDNode::get(ctx, operands));
}
#endif

}  // namespace

const PTXArch& ptx_arch(std::string_view sm) {
  for (const PTXArch& arch : kArchs)
    if (arch.sm == sm) return arch;
  std::string names;
  for (const PTXArch& arch : kArchs) names += cat(names.empty() ? "" : ", ", arch.sm);
  throw UserError(cat("unsupported GPU architecture '", sm, "'; supported: ", names));
}

const PTXArch& ptx_arch_for_device(int major, int minor) {
  const PTXArch* best = nullptr;
  int device = major * 10 + minor;
  for (const PTXArch& arch : kArchs)
    if (std::stoi(std::string(arch.sm.substr(3))) <= device) best = &arch;
  if (!best)
    throw UserError(cat("GPU of compute capability ", major, ".", minor, " is too old; xent needs sm_80 or newer"));
  return *best;
}

std::unique_ptr<llvm::TargetMachine> create_target_machine(std::string_view sm) {
  const PTXArch& arch = ptx_arch(sm);
  initialize_nvptx_once();
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(std::string(kNVPTXTriple), error);
  if (!target) throw InternalError(cat("NVPTX target not found: ", error));
  llvm::TargetOptions options;
  options.AllowFPOpFusion = llvm::FPOpFusion::Fast;
  std::unique_ptr<llvm::TargetMachine> machine(
      target->createTargetMachine(std::string(kNVPTXTriple), arch.cpu, arch.features, options, llvm::Reloc::PIC_,
                                  std::nullopt, llvm::CodeGenOptLevel::Default));  // see the header
  if (!machine) throw InternalError(cat("cannot create an NVPTX target machine for ", sm));
  return machine;
}

void configure_module(llvm::Module& module, const llvm::TargetMachine& machine) {
  module.setTargetTriple(std::string(kNVPTXTriple));
  module.setDataLayout(machine.createDataLayout());
}

void mark_kernel(llvm::Function& function, int threads, bool exact) {
  function.setCallingConv(llvm::CallingConv::PTX_Kernel);
  // `.minnctapersm 1`: without it ptxas may cut registers to fit more programs per SM and spill to do so (seen with
  // 256 and 512 threads: 4-20 bytes of spills); the programs' register needs are small, so none is lost this way.
#if LLVM_VERSION_MAJOR >= 21
  function.addFnAttr(exact ? "nvvm.reqntid" : "nvvm.maxntid", std::to_string(threads));
  function.addFnAttr("nvvm.minctasm", "1");
#else
  // LLVM 19 reads launch bounds from nvvm.annotations only; the "nvvm.maxntid" attribute is silently ignored.
  add_annotation(function, exact ? "reqntidx" : "maxntidx", threads);
  add_annotation(function, "minctasm", 1);
#endif
  // fp32 denormals are kept (IEEE), as the interpreter keeps them. Flushing them (the "denormal-fp-math-f32" =
  // "preserve-sign" attribute) would also be wrong code in LLVM 19: after InstCombine narrows a compare of an
  // upcast bf16 value to a bf16 compare, NVPTX emits `setp.*.ftz.bf16`, which ptxas rejects. The exp/log/div
  // intrinsics flush on their own, where it is harmless.
}

llvm::Value* thread_index(llvm::IRBuilder<>& b) {
  return b.CreateIntrinsic(llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x, {}, {});
}

llvm::Value* program_index(llvm::IRBuilder<>& b, int axis) {
  static constexpr llvm::Intrinsic::ID kIds[] = {llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x,
                                                 llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_y,
                                                 llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_z};
  return b.CreateIntrinsic(kIds[axis], {}, {});
}

void barrier(llvm::IRBuilder<>& b) {
#if LLVM_VERSION_MAJOR >= 21
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier_cta_sync_aligned_all, {}, {b.getInt32(0)});
#else
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
#endif
}

void cluster_barrier(llvm::IRBuilder<>& b, const llvm::TargetMachine& machine) {
  std::string sm(machine.getTargetCPU());
  if (std::stoi(sm.substr(3)) < 90)
    throw UserError(cat("cluster_barrier needs thread-block clusters (sm_90 or newer), but the kernel is compiled for ",
                        sm, "; build it without a cluster (tuning cluster = 1)"));
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier_cluster_arrive, {}, {});
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier_cluster_wait, {}, {});
}

void copy_async_to_shared(llvm::IRBuilder<>& b, llvm::Value* shared, llvm::Value* global, int bytes) {
  llvm::Intrinsic::ID id = bytes == 16  ? llvm::Intrinsic::nvvm_cp_async_cg_shared_global_16
                           : bytes == 8 ? llvm::Intrinsic::nvvm_cp_async_ca_shared_global_8
                                        : llvm::Intrinsic::nvvm_cp_async_ca_shared_global_4;
  if (bytes != 16 && bytes != 8 && bytes != 4) throw InternalError(cat("cp.async of ", bytes, " bytes"));
  b.CreateIntrinsic(id, {}, {shared, global});
}

void fence_gpu(llvm::IRBuilder<>& b) { b.CreateIntrinsic(llvm::Intrinsic::nvvm_membar_gl, {}, {}); }

void async_commit(llvm::IRBuilder<>& b) { b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_commit_group, {}, {}); }

void async_wait(llvm::IRBuilder<>& b, int pending) {
  if (pending == 0)
    b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_wait_all, {}, {});
  else
    b.CreateIntrinsic(llvm::Intrinsic::nvvm_cp_async_wait_group, {}, {b.getInt32(pending)});
  barrier(b);
}

llvm::Value* exp2_approx(llvm::IRBuilder<>& b, llvm::Value* x) {
  return b.CreateIntrinsic(llvm::Intrinsic::nvvm_ex2_approx_ftz_f, {}, {x});
}

llvm::Value* log2_approx(llvm::IRBuilder<>& b, llvm::Value* x) {
  return b.CreateIntrinsic(llvm::Intrinsic::nvvm_lg2_approx_ftz_f, {}, {x});
}

llvm::Value* divide_approx(llvm::IRBuilder<>& b, llvm::Value* numerator, llvm::Value* denominator) {
  return b.CreateIntrinsic(llvm::Intrinsic::nvvm_div_approx_ftz_f, {}, {numerator, denominator});
}

llvm::Value* shuffle_xor(llvm::IRBuilder<>& b, llvm::Value* value, int lane_mask) {
  auto id = value->getType()->isFloatTy() ? llvm::Intrinsic::nvvm_shfl_sync_bfly_f32
                                          : llvm::Intrinsic::nvvm_shfl_sync_bfly_i32;
  return b.CreateIntrinsic(id, {}, {b.getInt32(-1), value, b.getInt32(lane_mask), b.getInt32(kWarpSize - 1)});
}

}  // namespace xent::codegen
