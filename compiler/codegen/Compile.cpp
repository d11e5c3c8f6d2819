#include "compiler/codegen/Compile.h"

#include <llvm/Support/raw_ostream.h>

#include <chrono>

#include "compiler/codegen/EmitPTX.h"
#include "compiler/codegen/Layout.h"
#include "compiler/codegen/LowerToLLVM.h"
#include "compiler/codegen/PTXTarget.h"
#include "compiler/ir/Verifier.h"

namespace xent::codegen {
namespace {

// Runs `stage` and appends its wall time to `timings`.
template <typename F>
auto timed(std::vector<StageTiming>& timings, const char* name, F&& stage) {
  auto start = std::chrono::steady_clock::now();
  auto finish = [&] {
    timings.push_back(
        {name, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()});
  };
  if constexpr (std::is_void_v<decltype(stage())>) {
    stage();
    finish();
  } else {
    auto result = stage();
    finish();
    return result;
  }
}

}  // namespace

CompiledKernel compile_to_ptx(const ir::Kernel& specialized, const TargetOptions& target) {
  ir::verify(specialized);
  CompiledKernel out;
  out.name = specialized.name();
  LayoutMap layouts = timed(out.timings, "layout", [&] { return assign_layouts(specialized); });
  out.threads = layouts.threads();
  out.cluster = static_cast<int>(specialized.attribute("cluster", 1));
  std::unique_ptr<llvm::TargetMachine> machine = create_target_machine(target.sm);
  llvm::LLVMContext context;
  LoweredModule lowered =
      timed(out.timings, "lower", [&] { return lower_to_llvm(specialized, layouts, context, *machine); });
  out.shared_bytes = lowered.shared_bytes;
  out.dynamic_shared_bytes = lowered.dynamic_shared_bytes;
  timed(out.timings, "optimize", [&] { optimize_module(*lowered.module, *machine); });
  if (target.keep_llvm_ir) {
    llvm::raw_string_ostream ir_text(out.llvm_ir);
    lowered.module->print(ir_text, nullptr);
  }
  out.ptx = timed(out.timings, "ptx", [&] { return emit_ptx(*lowered.module, *machine, out.name); });
  return out;
}

std::string target_for_device(int major, int minor) { return std::string(ptx_arch_for_device(major, minor).sm); }

bool has_clusters(std::string_view sm) { return std::stoi(std::string(ptx_arch(sm).sm.substr(3))) >= 90; }

}  // namespace xent::codegen
