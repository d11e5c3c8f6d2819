// The one entry point of code generation: a specialized xent kernel in, PTX out.
//
//   layout assignment (Layout.h) -> lowering to LLVM IR (LowerToLLVM.h) -> O3 -> NVPTX code generation (EmitPTX.h)
//
// Each call builds its own LLVMContext, TargetMachine and module, so compiles may run on several threads at once.
// The kernel must have gone through specialization (passes/Pipeline.h): a constexpr left over is a UserError.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/IR.h"

namespace xent::codegen {

struct TargetOptions {
  std::string sm = "sm_90";   // sm_80, sm_86, sm_89 or sm_90 (PTXTarget.h)
  bool keep_llvm_ir = false;  // also return the optimized LLVM IR as text (for `xent compile --emit=llvm`)
};

struct StageTiming {
  std::string stage;  // "layout", "lower", "optimize", "ptx"
  double milliseconds = 0;
};

struct CompiledKernel {
  std::string name;  // the PTX entry's name (the kernel's)
  std::string ptx;
  std::string llvm_ir;           // the optimized module, as text (only with TargetOptions::keep_llvm_ir)
  int threads = 0;               // threads per program the kernel must be launched with
  int cluster = 1;               // programs per thread-block cluster to launch with (the kernel attribute "cluster")
  int shared_bytes = 0;          // static shared memory per program
  int dynamic_shared_bytes = 0;  // dynamic shared memory per program, to pass at launch (shared_alloc)
  std::vector<StageTiming> timings;
};

CompiledKernel compile_to_ptx(const ir::Kernel& specialized, const TargetOptions& target = {});

// The `TargetOptions::sm` to compile for a device of compute capability major.minor (its own architecture when
// supported, else the newest older one, whose PTX the driver JIT-compiles for the device).
std::string target_for_device(int major, int minor);

// Whether code compiled for `sm` runs thread-block clusters (sm_90 and newer).
bool has_clusters(std::string_view sm);

}  // namespace xent::codegen
