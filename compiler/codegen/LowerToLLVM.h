// Lowering of a specialized xent kernel (no constexpr left) to an LLVM module for NVPTX, built with IRBuilder.
//
// Each tile value becomes, in every thread, one LLVM scalar per register slot of its layout (Layout.h); slots are
// compile-time, so every tile operation unrolls into per-slot scalar code. Scalars are uniform: every thread computes
// the same value.
//  - Parameters: pointers are `ptr addrspace(1)` with noalias (kernel buffers never overlap), readonly when the kernel
//    only loads through them (which gives ld.global.nc), and their ParamInfo alignment; scalars are i32, i64 or f32.
//  - Memory: a tile access moves `access` contiguous slots at once (a 16-byte vector when the layout proved it).
//    Lanes that are masked off or out of the tile never touch memory: a fully valid group is one vector access,
//    otherwise the group branches between that and llvm.masked.load/store, which the backend scalarizes into
//    per-lane guarded accesses. A scalar store is done by thread 0 only.
//  - Math: bf16 and f16 operations compute in fp32 and round the result (as Semantics.h defines). exp(x) is
//    ex2.approx(x * log2 e), log(x) is lg2.approx(x) * ln 2, tanh(x) = 1 - 2 / (exp(2x) + 1); fp32 division is
//    div.approx.ftz (fast; 2 ulp for divisors within [2^-126, 2^126], enough for softmax denominators and scales).
//    max/min are llvm.maxnum/minnum, float to integer casts saturate (llvm.fptosi.sat).
//  - reduce (1-D) folds a thread's valid slots as a balanced tree, then the warp with shfl.sync.bfly, then the warps
//    through a static shared array: each warp writes its partial, a barrier, every thread folds all
//    partials in the same order (so all threads hold the same bits). 2-D reduce and broadcast move the tile through
//    shared memory. An operation inside a `for` ends with another barrier, so the next iteration cannot overwrite
//    the buffer while a slower warp still reads it.
//  - for is an LLVM loop (signed `iv < ub`, for a positive step) with one phi per carried slot; if is a branch and
//    phis. Conditions and bounds are scalars, hence uniform, so barriers inside them are safe.
// The module is verified before it is returned (an InternalError that prints it otherwise).
#pragma once

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>

#include "compiler/codegen/Layout.h"
#include "compiler/ir/IR.h"

namespace xent::codegen {

struct LoweredModule {
  std::unique_ptr<llvm::Module> module;
  int shared_bytes = 0;          // static shared memory the kernel uses (the reductions' scratch)
  int dynamic_shared_bytes = 0;  // the shared_alloc operations' memory, which the launch must provide
};

// A UserError when the kernel still holds a constexpr or has a parameter type a launch cannot pass (tiles, i1,
// f16, bf16: pass those as i32 or f32).
LoweredModule lower_to_llvm(const ir::Kernel& kernel, const LayoutMap& layouts, llvm::LLVMContext& context,
                            const llvm::TargetMachine& machine);

}  // namespace xent::codegen
