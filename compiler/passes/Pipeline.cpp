#include "compiler/passes/Pipeline.h"

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iomanip>

#include "compiler/Error.h"
#include "compiler/ir/Printer.h"
#include "compiler/ir/Verifier.h"
#include "compiler/passes/EliminateDeadCode.h"
#include "compiler/passes/FoldConstants.h"
#include "compiler/passes/PeelLoops.h"

namespace xent::passes {
namespace {

class PassRunner {
 public:
  PassRunner(ir::Kernel& kernel, const PipelineOptions& options) : kernel_(kernel), options_(options) {}

  void run(const std::string& name, const std::function<void(ir::Kernel&)>& pass) {
    // Printing the IR before the pass is how "(unchanged)" is detected; only pay for it when printing.
    std::string before = options_.print_after_each_pass ? ir::print(kernel_) : "";
    auto start = std::chrono::steady_clock::now();
    pass(kernel_);
    std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
    timings_.push_back({name, elapsed.count()});
    try {
      ir::verify(kernel_);
    } catch (const InternalError& e) {
      throw InternalError(cat("after pass '", name, "': ", e.what()));
    }
    if (!options_.print_after_each_pass) return;
    std::string after = ir::print(kernel_);
    *options_.log << "// IR after " << name << ":\n" << (after == before ? "(unchanged)\n" : after);
  }

  std::vector<PassTiming> finish() const {
    if (options_.time_passes) {
      *options_.log << "// pass timings for kernel '" << kernel_.name() << "':\n";
      for (const PassTiming& t : timings_)
        *options_.log << "//   " << std::left << std::setw(22) << t.pass << std::right << std::fixed
                      << std::setprecision(3) << t.milliseconds << " ms\n";
    }
    return timings_;
  }

 private:
  ir::Kernel& kernel_;
  const PipelineOptions& options_;
  std::vector<PassTiming> timings_;
};

}  // namespace

PipelineOptions pipeline_options_from_environment() {
  PipelineOptions options;
  const char* debug = std::getenv("XENT_DEBUG");
  const char* time = std::getenv("XENT_TIME_PASSES");
  options.print_after_each_pass = debug && std::atoi(debug) >= 2;
  options.time_passes = time && std::atoi(time) >= 1;
  return options;
}

std::vector<PassTiming> run_pipeline(ir::Kernel& kernel, const ConstexprBindings& bindings,
                                     const PipelineOptions& options) {
  PassRunner runner(kernel, options);
  runner.run("specialize", [&](ir::Kernel& k) { specialize(k, bindings); });
  runner.run("fold_constants", fold_constants);
  runner.run("eliminate_dead_code", eliminate_dead_code);
  runner.run("peel_loops", peel_loops);
  runner.run("fold_constants", fold_constants);
  runner.run("eliminate_dead_code", eliminate_dead_code);
  return runner.finish();
}

}  // namespace xent::passes
