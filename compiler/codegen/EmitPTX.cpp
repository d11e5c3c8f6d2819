#include "compiler/codegen/EmitPTX.h"

#include <llvm/ADT/SmallString.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/Error.h"

namespace xent::codegen {

void verify_module(const llvm::Module& module, std::string_view stage) {
  std::string problems;
  llvm::raw_string_ostream out(problems);
  if (!llvm::verifyModule(module, &out)) return;
  std::string text;
  llvm::raw_string_ostream module_out(text);
  module.print(module_out, nullptr);
  throw InternalError(cat("invalid LLVM IR ", stage, ":\n", problems, "\n", text));
}

void optimize_module(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  // The lowering already gives each thread whole 16-byte lanes, so LLVM's vectorizers find nothing to do here (the
  // PTX of 168 kernel sets was byte-identical without them) and only cost time: ~1 ms of a 15-30 ms compile.
  llvm::PipelineTuningOptions options;
  options.LoopVectorization = false;
  options.LoopInterleaving = false;
  options.SLPVectorization = false;
  llvm::PassBuilder builder(&machine, options);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);
  verify_module(module, "after the O3 pipeline");
}

std::string emit_ptx(llvm::Module& module, llvm::TargetMachine& machine, std::string_view kernel_name) {
  llvm::SmallString<0> buffer;
  llvm::raw_svector_ostream out(buffer);
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, out, nullptr, llvm::CodeGenFileType::AssemblyFile))
    throw InternalError("the NVPTX target cannot emit assembly");
  passes.run(module);
  std::string ptx(buffer.str());
  std::string entry = cat(".visible .entry ", kernel_name, "(");
  size_t first = ptx.find(entry);
  if (first == std::string::npos || ptx.find(".visible .entry", first + 1) != std::string::npos)
    throw InternalError(cat("the PTX must hold exactly one entry '", kernel_name, "':\n", ptx));
  return ptx;
}

}  // namespace xent::codegen
