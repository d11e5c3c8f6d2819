// `xent tune`: the autotuning sweep (runtime/tuning/Autotuner.h) for the kernels of one mode of a spec, with a
// progress bar on stderr; then each kernel's variants by time, the winner against the heuristic's choice (the issue
// asks the heuristic to be within 10% of the winner), and the results stored in the disk cache, where every later op
// of that spec on this device finds them (runtime/tuning/TuningLookup.h). `--json PATH` also writes them to a file.
// `xent tune --show` lists the stored results (TuneShow.cpp); it needs no GPU.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "compiler/Error.h"
#include "runtime/Jit.h"
#include "runtime/cuda/Context.h"
#include "runtime/tuning/Autotuner.h"
#include "runtime/tuning/TuningStore.h"
#include "tools/xent/Commands.h"
#include "tools/xent/SpecOptions.h"
#include "tools/xent/TuneShow.h"

namespace xent::tools {
namespace {

using runtime::TunedVariant;
using runtime::TuneProgress;
using runtime::TuningResult;

// The bound on the heuristic: at most this much slower than the tuned winner.
constexpr double kHeuristicAllowance = 1.10;

struct TuneOptions {
  SpecOptions spec;
  int64_t tokens = 16384;
  std::string mode = "fused";
  int iterations = 20;
  std::string json;
  bool show = false;
  CLI::Option* alignment = nullptr;  // to tell --alignment given from its default
};

// The kernels that calls of `mode` on `tokens` rows launch to walk their rows (plan_forward, plan_fused).
std::vector<CrossEntropyKernel> kernels_of(const std::string& mode, const CrossEntropySpec& spec, int64_t tokens) {
  // A shard's forward walks its rows in the statistics kernel, one shard's in the forward kernel.
  const CrossEntropyKernel forward = spec.single_shard() ? CrossEntropyKernel::Forward : CrossEntropyKernel::Stats;
  if (mode == "fwd") return {forward};
  if (mode == "fwd-bwd") return {forward, CrossEntropyKernel::Backward};
  if (!spec.single_shard())
    throw UserError(
        "--mode fused: the fused kernel needs the whole vocabulary on one rank (leave out --vocab-shard); "
        "use --mode fwd-bwd or fwd for a shard");
  return {tokens <= kMaxFusedSmallRows ? CrossEntropyKernel::FusedSmall : CrossEntropyKernel::Fused};
}

// The alignment the runtime picks for contiguous rows of this spec, unless --alignment says otherwise: a sweep of
// another layout would be stored for a spec that calls never use.
CrossEntropySpec tuned_spec(const TuneOptions& o) {
  CrossEntropySpec spec = o.spec.spec();
  if (!*o.alignment)
    spec.alignment = spec.vocab_shard * dtype_bytes(spec.dtype) % 16 == 0 ? Alignment::Rows : Alignment::Base;
  return spec;
}

std::string describe(const TunedVariant& v) {
  return cat(to_string(v.tuning), " ", std::fixed, std::setprecision(3), v.ms, " ms");
}

// One line on stderr, redrawn in place on a terminal; elsewhere (a log file) one line per timed variant.
class ProgressBar {
 public:
  ProgressBar() : terminal_(isatty(fileno(stderr))) {}

  void operator()(const TuneProgress& p) {
    std::string name(kernel_name(p.kernel));
    if (p.phase == TuneProgress::Phase::Compiling) {
      if (terminal_ || p.done == p.total) show(cat(name, ": built ", p.done, "/", p.total, " variants"), false);
      return;
    }
    const int width = 20, filled = int(width * p.done / p.total);
    std::string line =
        cat(name, " [", std::string(filled, '#'), std::string(width - filled, '.'), "] ", p.done, "/", p.total, "  ",
            p.latest->ran() ? describe(*p.latest) : to_string(p.latest->tuning) + " failed");
    if (p.best) line += cat("  best ", describe(*p.best));
    show(line, p.done == p.total);
  }

 private:
  void show(const std::string& line, bool last) {
    if (terminal_)
      std::cerr << "\r\033[K" << line << (last ? "\n" : "") << std::flush;
    else
      std::cerr << line << "\n";
  }
  bool terminal_;
};

void print(const TuningResult& r) {
  std::cout << kernel_name(r.kernel) << " on " << r.device << " (" << r.sm << "), " << r.rows << " rows (bucket "
            << r.rows_bucket << "), median of " << r.iterations << " launches per variant:\n";
  std::vector<const TunedVariant*> order;
  for (const TunedVariant& v : r.variants) order.push_back(&v);
  std::stable_sort(order.begin(), order.end(), [](const TunedVariant* a, const TunedVariant* b) {
    return a->ran() && (!b->ran() || a->ms < b->ms);
  });
  for (const TunedVariant* v : order) {
    std::cout << "  " << std::left << std::setw(28) << to_string(v->tuning) << std::right;
    if (!v->ran()) {
      std::cout << "  " << v->error << "\n";
      continue;
    }
    std::cout << std::fixed << std::setprecision(3) << std::setw(9) << v->ms << " ms" << std::setw(5) << v->registers
              << " regs" << (v->spill_bytes ? cat("  ", v->spill_bytes, " B spilled") : "")
              << (v->tuning == r.winner ? "  winner" : "") << (v->tuning == r.heuristic ? "  heuristic" : "") << "\n";
  }
  std::cout << "  winner " << describe(*r.variant(r.winner)) << "; heuristic " << to_string(r.heuristic);
  if (std::optional<double> ratio = r.heuristic_ratio())
    std::cout << " " << std::setprecision(3) << r.variant(r.heuristic)->ms << " ms, ratio " << std::setprecision(2)
              << *ratio << (*ratio <= kHeuristicAllowance ? " (within 10%)" : " (more than 10% slower)") << "\n";
  else
    std::cout << " did not run\n";
}

void write_json(const std::string& path, const TuneOptions& o, const CrossEntropySpec& spec,
                const std::vector<TuningResult>& results) {
  nlohmann::json doc = {{"mode", o.mode},
                        {"spec", spec.canonical()},
                        {"tokens", o.tokens},
                        {"iterations", o.iterations},
                        {"results", results}};
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  if (!out) throw UserError(cat("--json: cannot write ", path));
}

void run_tune(const TuneOptions& o) {
  if (o.show) return show_tuning();
  CrossEntropySpec spec = tuned_spec(o);
  runtime::TuneRequest request{spec, kernels_of(o.mode, spec, o.tokens), o.tokens, o.iterations, {}};
  std::string why;
  if (!cuda::gpu_available(&why))
    throw UserError(cat("xent tune times kernels on an NVIDIA GPU, and none is usable here: ", why,
                        " (`xent tune --show` lists stored results without one)"));
  ProgressBar bar;
  std::vector<TuningResult> results = runtime::autotune(request, std::ref(bar));
  runtime::DiskCache& cache = runtime::PtxJit::instance().disk();
  for (const TuningResult& r : results) {
    runtime::store_tuning(cache, spec, r);
    print(r);
  }
  std::cout << "stored in " << cache.directory().string() << " for " << spec.canonical() << "\n";
  if (!o.json.empty()) write_json(o.json, o, spec, results);
}

}  // namespace

void add_tune_command(CLI::App& app) {
  auto o = std::make_shared<TuneOptions>();
  CLI::App* tune = app.add_subcommand(
      "tune", "time every tuning of a mode's kernels on the GPU and store the winners, which ops then use");
  o->spec.add_to(*tune);
  // The sweep chooses these itself.
  tune->remove_option(tune->get_option("--threads"));
  tune->remove_option(tune->get_option("--block"));
  o->alignment = tune->get_option("--alignment");
  o->alignment->default_str("")->description(
      "rows, base or none (default: what contiguous rows of V allow, as the runtime picks for them)");
  CLI::Option* tokens =
      tune->add_option("--tokens", o->tokens, "rows per launch")->capture_default_str()->check(kRowCount);
  CLI::Option* mode =
      tune->add_option("--mode", o->mode,
                       "fused (ce_fused; ce_fused_small up to 512 tokens), fwd-bwd (ce_forward, ce_backward) or fwd "
                       "(ce_forward; ce_stats for a --vocab-shard)")
          ->capture_default_str()
          ->check(CLI::IsMember({"fused", "fwd-bwd", "fwd"}));
  CLI::Option* iterations = tune->add_option("--iterations", o->iterations, "timed launches per variant (median)")
                                ->capture_default_str()
                                ->check(CLI::Range(int64_t{1}, int64_t{2147483647}));
  CLI::Option* json =
      tune->add_option("--json", o->json, "also write every variant's time and the winners to this JSON file");
  tune->add_flag("--show", o->show, "list the stored tuning results instead (needs no GPU)")
      ->excludes(tokens)
      ->excludes(mode)
      ->excludes(iterations)
      ->excludes(json);
  tune->callback([o] { run_tune(*o); });
}

}  // namespace xent::tools
