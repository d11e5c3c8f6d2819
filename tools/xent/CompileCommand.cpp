// `xent compile`: builds the cross-entropy kernels of a spec and prints one stage of their compilation, Toy-style:
//   ir            the IR after the pass pipeline (what code generation receives)
//   ir-after-all  the IR as built, then after each pass
//   llvm          the optimized LLVM IR
//   ptx           the PTX
// Each kernel's stage timings (passes, then layout, lower, optimize, ptx) go to stderr, so stdout stays clean text.
#include <iomanip>
#include <iostream>
#include <memory>

#include "compiler/Error.h"
#include "compiler/codegen/Compile.h"
#include "compiler/ir/Printer.h"
#include "compiler/passes/Pipeline.h"
#include "kernels/CrossEntropyKernels.h"
#include "tools/xent/Commands.h"
#include "tools/xent/SpecOptions.h"

namespace xent::tools {
namespace {

struct CompileOptions {
  SpecOptions spec;
  std::string sm = "sm_90";
  std::string emit = "ptx";
  std::string kernel;  // empty: every kernel the spec uses
};

void report_timings(const std::string& kernel, const std::vector<passes::PassTiming>& passes,
                    const std::vector<codegen::StageTiming>& stages) {
  std::cerr << kernel << ":";
  auto item = [](const std::string& name, double ms) {
    std::cerr << " " << name << " " << std::fixed << std::setprecision(2) << ms << " ms";
  };
  double total = 0;
  for (const auto& p : passes) item(p.pass, p.milliseconds), total += p.milliseconds;
  for (const auto& s : stages) item(s.stage, s.milliseconds), total += s.milliseconds;
  item("total", total);
  std::cerr << "\n";
}

void run_compile(const CompileOptions& options) {
  CrossEntropySpec spec = options.spec.spec();
  spec.clusters = codegen::has_clusters(options.sm);
  codegen::TargetOptions target{options.sm, options.emit == "llvm"};
  std::vector<CrossEntropyKernel> kernels =
      options.kernel.empty() ? kernels_for(spec) : std::vector<CrossEntropyKernel>{kernel_from_name(options.kernel)};
  for (CrossEntropyKernel which : kernels) {
    std::unique_ptr<ir::Kernel> kernel = build_kernel(which, spec);
    passes::PipelineOptions pipeline;
    pipeline.print_after_each_pass = options.emit == "ir-after-all";
    pipeline.log = &std::cout;
    if (pipeline.print_after_each_pass) std::cout << "// " << kernel_name(which) << " as built\n" << ir::print(*kernel);
    std::vector<passes::PassTiming> pass_times = passes::run_pipeline(*kernel, constexpr_bindings(spec), pipeline);
    if (options.emit == "ir") std::cout << ir::print(*kernel) << "\n";
    std::vector<codegen::StageTiming> stage_times;
    if (options.emit == "llvm" || options.emit == "ptx") {
      codegen::CompiledKernel compiled = codegen::compile_to_ptx(*kernel, target);
      std::cout << (options.emit == "llvm" ? compiled.llvm_ir : compiled.ptx) << "\n";
      stage_times = compiled.timings;
    }
    report_timings(std::string(kernel_name(which)), pass_times, stage_times);
  }
}

}  // namespace

void add_compile_command(CLI::App& app) {
  auto options = std::make_shared<CompileOptions>();
  CLI::App* compile = app.add_subcommand(
      "compile", "build the cross-entropy kernels of a spec and print their IR, LLVM IR or PTX (timings on stderr)");
  options->spec.add_to(*compile);
  compile->add_option("--sm", options->sm, "GPU architecture: sm_80, sm_86, sm_89 or sm_90")
      ->capture_default_str()
      ->check(CLI::IsMember({"sm_80", "sm_86", "sm_89", "sm_90"}));
  compile
      ->add_option("--emit", options->emit,
                   "stage to print: ir (after the passes), ir-after-all (as built and after each pass), llvm "
                   "(optimized LLVM IR) or ptx")
      ->capture_default_str()
      ->check(CLI::IsMember({"ir", "ir-after-all", "llvm", "ptx"}));
  compile->add_option("--kernel", options->kernel,
                      "only this kernel (" + kernel_names() + "); default: every kernel the spec uses");
  compile->callback([options] { run_compile(*options); });
}

}  // namespace xent::tools
