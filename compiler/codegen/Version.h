// What identifies the code generator's output apart from the kernel itself, for cache keys (runtime/cache): the LLVM
// version, the PTX target of an SM and the code generation flags. It is a header without LLVM includes, so that
// runtime/ (built without LLVM's headers) can name them.
#pragma once

#include <string>
#include <string_view>

namespace xent::codegen {

// LLVM_VERSION_STRING of the LLVM linked into libxent, e.g. "19.1.7".
std::string llvm_version();

// The PTX target of `sm` as the TargetMachine sees it: "cpu=sm_90;features=" (an empty feature string lets LLVM pick
// the lowest PTX ISA the SM allows). UserError for an unsupported SM, as ptx_arch.
std::string ptx_target(std::string_view sm);

// The fixed code generation choices of PTXTarget.cpp that change the PTX for the same IR: optimisation level, FMA
// contraction, denormal flushing and the approximate math intrinsics. Bump it with any change to those choices.
std::string_view codegen_flags();

}  // namespace xent::codegen
