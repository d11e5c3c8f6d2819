// `xent run`: one forward and backward on random data, on the GPU when there is one (else on the interpreter),
// checked against the fp64 reference, with a one-line verdict. With --tp W: W processes, one per GPU, each running its
// shard through NCCL (TensorParallel.h, RankCommands.h).
#include <chrono>
#include <iostream>

#include "compiler/Error.h"
#include "tools/verify/CudaBackend.h"
#include "tools/xent/Commands.h"
#include "tools/xent/RankCommands.h"
#include "tools/xent/SpecOptions.h"
#include "tools/xent/TensorParallel.h"

namespace xent::tools {
namespace {

struct RunOptions {
  SpecOptions spec;
  int64_t tokens = 8192;
  std::string mode = "fwd-bwd";
  bool cpu = false;
  TensorParallelOptions tp;
};

verify::Mode parse_mode(const std::string& mode) {
  if (mode == "fused") return verify::Mode::Fused;
  if (mode == "fwd-bwd") return verify::Mode::ForwardBackward;
  if (mode == "fwd") return verify::Mode::ForwardOnly;
  throw UserError(cat("--mode: unknown mode '", mode, "'; use fused, fwd-bwd or fwd"));
}

// With --tp, the command-line checks happen in the parent, before any process starts.
void check_tensor_parallel(const RunOptions& o, const verify::ProblemOptions& problem) {
  if (!problem.spec.single_shard())
    throw UserError("--vocab-shard: with --tp each rank takes its share of --vocab; leave it out");
  if (problem.mode == verify::Mode::Fused)
    throw UserError("--mode: fused is one pass over whole rows, with no exchange; with --tp use fwd-bwd or fwd");
  if (o.cpu) throw UserError("--cpu: --tp runs on GPUs; leave one of them out");
  if (o.tokens < 1) throw UserError(cat("--tokens: ", o.tokens, " rows; with --tp give at least 1"));
  if (o.tp.world > problem.spec.vocab)
    throw UserError(cat("--tp: ", o.tp.world, " ranks cannot share ", problem.spec.vocab, " columns"));
}

void run(const RunOptions& o) {
  verify::ProblemOptions problem;
  problem.spec = o.spec.spec();
  problem.mode = parse_mode(o.mode);
  problem.d0 = 1;
  problem.d1 = o.tokens;
  if (o.tp.enabled()) {
    check_tensor_parallel(o, problem);
    if (o.tp.is_rank()) return run_as_rank(o.tp, [&] { run_rank(problem, o.tp); });
    launch_ranks("run", o.tp.world);
    std::cout << "xent run --tp " << o.tp.world << ": PASS on " << all_ranks(o.tp.world) << "\n";
    return;
  }
  if (!problem.spec.single_shard()) throw UserError("--vocab-shard: `xent run` runs one rank; leave it out");
  std::string where;
  auto backend = verify::preferred_backend(o.cpu, where);
  auto start = std::chrono::steady_clock::now();
  verify::Outcome outcome = verify::run_problem(problem, *backend);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  verify::Verdict verdict = verify::check_against_reference(problem, outcome);
  std::cout << "xent run: " << verdict.str() << "\n  on " << where << ", " << problem.spec.canonical() << ", "
            << o.tokens << " rows, mode " << o.mode << ", " << seconds << " s including setup and the reference\n";
  if (!verdict.ok) throw CommandFailed("the result disagrees with the fp64 reference");
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* command = app.add_subcommand("run", "one forward and backward on random data, checked against fp64");
  o->spec.add_to(*command);
  command->add_option("--tokens", o->tokens, "rows (tokens)")->capture_default_str()->check(kRowCount);
  command->add_option("--mode", o->mode, "fused, fwd-bwd or fwd")->capture_default_str();
  command->add_flag("--cpu", o->cpu, "run on the CPU interpreter even when a GPU is present");
  o->tp.add_to(*command);
  command->callback([o] { run(*o); });
}

}  // namespace xent::tools
