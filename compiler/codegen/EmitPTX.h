// From a lowered llvm::Module to PTX text (reference/llvm19-nvptx.md, B2 steps 12-15): the O3 pipeline of the new
// pass manager (which already includes NVVMReflect and NVVMIntrRange through the TargetMachine's callbacks), then the
// legacy code generation pipeline, which is the only one LLVM 19 has for NVPTX.
#pragma once

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <string>
#include <string_view>

namespace xent::codegen {

// Throws InternalError with the module's text when `module` is not valid LLVM IR; `stage` says where it was checked.
void verify_module(const llvm::Module& module, std::string_view stage);

// Runs the O3 pipeline on `module`, then verifies it.
void optimize_module(llvm::Module& module, llvm::TargetMachine& machine);

// Generates PTX for `module` (which the code generator may change) and checks that it holds exactly one
// `.visible .entry kernel_name`.
std::string emit_ptx(llvm::Module& module, llvm::TargetMachine& machine, std::string_view kernel_name);

}  // namespace xent::codegen
