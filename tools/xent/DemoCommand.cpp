// `xent demo`: the README's main job. Builds the default cross-entropy kernels (bf16, V = 50257, label smoothing 0.1),
// prints their IR after the pass pipeline, runs the fused and the forward/backward paths on random data (on the GPU
// when there is one, else through the interpreter) and checks them against the fp64 reference, ending with a one-line
// verdict.
#include <iostream>
#include <memory>

#include "compiler/Error.h"
#include "compiler/ir/Printer.h"
#include "kernels/CrossEntropyLaunch.h"
#include "runtime/cpu/CpuBackend.h"
#include "tools/verify/CudaBackend.h"
#include "tools/xent/Commands.h"
#include "tools/xent/SpecOptions.h"

namespace xent::tools {
namespace {

struct DemoOptions {
  SpecOptions spec;
  int64_t rows = 16;
  bool print_ir = true;
  bool cpu_only = false;
};

namespace {

// The kernels a call of `problem` launches, in order, as the launch plans name them.
std::string launched_kernels(const CrossEntropySpec& spec, const verify::ProblemOptions& problem) {
  CrossEntropyCall call;
  call.d0 = problem.d0;
  call.d1 = problem.d1;
  call.tickets = 16;  // stands for the harness's counter: only the kernels' names are wanted
  std::vector<Launch> plan = problem.mode == verify::Mode::Fused ? plan_fused(spec, call) : plan_forward(spec, call);
  if (problem.mode == verify::Mode::ForwardBackward)
    for (Launch& l : plan_backward(spec, call)) plan.push_back(std::move(l));
  std::string names;
  for (const Launch& l : plan) names += (names.empty() ? "" : ", ") + std::string(kernel_name(l.kernel));
  return names;
}

}  // namespace

void run_demo(const DemoOptions& options) {
  CrossEntropySpec spec = options.spec.spec();
  if (!spec.single_shard()) throw UserError("--vocab-shard: the demo runs one rank; leave it out");
  if (options.print_ir)
    for (CrossEntropyKernel kernel : kernels_for(spec))
      std::cout << ir::print(cpu::specialized_kernel(kernel, spec)) << "\n";

  verify::ProblemOptions problem;
  problem.spec = spec;
  problem.d0 = 1;
  problem.d1 = options.rows;
  problem.confident_rows = true;
  bool all_ok = true;
  std::string where;
  auto backend = verify::preferred_backend(options.cpu_only, where);
  for (verify::Mode mode : {verify::Mode::Fused, verify::Mode::ForwardBackward}) {
    problem.mode = mode;
    verify::Verdict verdict = verify::check_against_reference(problem, verify::run_problem(problem, *backend));
    std::cout << (mode == verify::Mode::Fused ? "fused" : "forward/backward") << " (" << launched_kernels(spec, problem)
              << "): " << verdict.str() << "\n";
    all_ok = all_ok && verdict.ok;
  }
  std::cout << "xent demo: " << (all_ok ? "PASS" : "FAIL") << " - " << to_string(spec.dtype) << " V=" << spec.vocab
            << " label_smoothing=" << spec.label_smoothing << ", " << options.rows << " rows on " << where
            << " against the fp64 reference\n";
  if (!all_ok) throw CommandFailed("the kernels disagree with the reference");
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  options->spec.label_smoothing = 0.1;
  CLI::App* demo = app.add_subcommand("demo", "build the default kernels, print their IR, check them on random data");
  options->spec.add_to(*demo);
  demo->add_option("--rows", options->rows, "rows of random data")->capture_default_str()->check(kRowCount);
  demo->add_flag("!--no-ir", options->print_ir, "do not print the kernels' IR");
  demo->add_flag("--cpu", options->cpu_only, "run on the CPU interpreter even when a GPU is present");
  demo->callback([options] { run_demo(*options); });
}

}  // namespace xent::tools
