// Everything that is specific to NVPTX or to the LLVM version, in one place (reference/llvm19-nvptx.md, B2 and B3):
// the triple and SM table, target initialisation and the TargetMachine, how a function becomes a kernel with launch
// bounds and flush-to-zero, and the NVVM intrinsics the lowering uses. Spellings that changed after LLVM 19 (the
// barrier, launch-bound attributes) sit behind `#if LLVM_VERSION_MAJOR` in PTXTarget.cpp, so the lowering never
// names an intrinsic or a metadata string itself.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>
#include <string_view>

namespace xent::codegen {

inline constexpr std::string_view kNVPTXTriple = "nvptx64-nvidia-cuda";
inline constexpr int kWarpSize = 32;
inline constexpr int kGlobalAddressSpace = 1;
inline constexpr int kSharedAddressSpace = 3;

// One supported GPU architecture: the LLVM CPU name and the PTX feature string. The feature is empty by default, so
// LLVM picks the lowest PTX ISA the SM allows (sm_90 -> PTX 7.8), which the widest range of drivers can JIT.
struct PTXArch {
  std::string_view sm;
  std::string_view cpu;
  std::string_view features;
};

// The entry for `sm` ("sm_80", "sm_86", "sm_89", "sm_90"); a UserError listing the supported names otherwise.
const PTXArch& ptx_arch(std::string_view sm);

// The newest supported architecture a device of compute capability major.minor can run: its own when listed, else the
// newest older one (a newer GPU JIT-compiles that PTX). A UserError for devices older than every entry.
const PTXArch& ptx_arch_for_device(int major, int minor);

// A TargetMachine for `sm` with FMA contraction (FPOpFusion::Fast) and the default code generation level: the IR is
// already optimized at O3 (optimize_module), and the aggressive level only renumbered PTX virtual registers (which
// ptxas allocates anew) while taking 10% longer (docs/performance.md, change 10). Initialises the NVPTX target once per
// process (std::call_once; the target registry is global), with code generation's loop strength reduction off
// (process-wide: LLVM has no per-machine switch; change 18 in docs/performance.md). Safe to call from several threads.
std::unique_ptr<llvm::TargetMachine> create_target_machine(std::string_view sm);

// Sets the module's triple and the data layout the TargetMachine dictates (never a hard-coded layout string).
void configure_module(llvm::Module& module, const llvm::TargetMachine& machine);

// Makes `function` a kernel entry (`.visible .entry`) launched with `threads` threads per program: the PTX_Kernel
// calling convention, launch bounds (`.reqntid` when `exact`, the kernel being written for exactly that many threads,
// else `.maxntid`). fp32 denormals are kept, as in the interpreter (see PTXTarget.cpp).
void mark_kernel(llvm::Function& function, int threads, bool exact);

// Special registers: %tid.x and %ctaid.{x,y,z}.
llvm::Value* thread_index(llvm::IRBuilder<>& b);
llvm::Value* program_index(llvm::IRBuilder<>& b, int axis);

// `bar.sync 0`: every thread of the program waits here.
void barrier(llvm::IRBuilder<>& b);

// `barrier.cluster.arrive` + `barrier.cluster.wait`: every thread of every program of the thread-block cluster waits
// here. Their default .release/.acquire semantics make the memory writes before the barrier visible to the cluster's
// reads after it. Clusters exist from sm_90 on: for an older `machine` this is a UserError.
void cluster_barrier(llvm::IRBuilder<>& b, const llvm::TargetMachine& machine);
// `membar.gl` (fence.sc at GPU scope): this thread's memory accesses before it are seen by every thread of the GPU
// before its accesses after it, and what other threads made visible before theirs is seen after it.
void fence_gpu(llvm::IRBuilder<>& b);
// cp.async of `bytes` (4, 8 or 16) from global to shared memory; 16-byte copies bypass L1 (.cg), as the data is read
// once.
void copy_async_to_shared(llvm::IRBuilder<>& b, llvm::Value* shared, llvm::Value* global, int bytes);
// cp.async.commit_group: this thread's copies since the last commit form a group.
void async_commit(llvm::IRBuilder<>& b);
// Waits for this thread's cp.async copies (with `pending` > 0, for all but those of the `pending` groups committed
// last, and those not committed), then for every thread of the program (so each sees all the copies waited for).
void async_wait(llvm::IRBuilder<>& b, int pending);

// Fast fp32 math: one MUFU instruction each (ex2.approx.ftz, lg2.approx.ftz, div.approx.ftz; div's error is at most
// 2 ulp for divisors of magnitude in [2^-126, 2^126]).
llvm::Value* exp2_approx(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* log2_approx(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* divide_approx(llvm::IRBuilder<>& b, llvm::Value* numerator, llvm::Value* denominator);

// `shfl.sync.bfly.b32` over the full warp: the value held by lane (lane ^ lane_mask). `value` is f32 or i32.
llvm::Value* shuffle_xor(llvm::IRBuilder<>& b, llvm::Value* value, int lane_mask);

}  // namespace xent::codegen
