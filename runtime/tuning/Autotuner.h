// The sweep behind `xent tune`: for each kernel asked for, every candidate tuning (tuning_candidates,
// kernels/CrossEntropyTuning.h) is compiled, linked and loaded on a pool of CPU threads, one per hardware thread (the
// JIT compiles different keys in parallel, and the driver links and loads modules from several threads at once),
// then timed on the GPU one variant after the other:
//
//   - every variant runs the same launch on the same tensors: `rows` rows of the spec's shard, random logits and
//     labels, laid out as the spec's alignment promises (rows padded to 16 bytes for Alignment::Rows);
//   - a fixed number of timed launches per variant, never fewer or more depending on the timings, so that the ranks
//     of a tensor-parallel job tuning side by side run the same work;
//   - before each timed launch, a write of twice the device's L2 (cuMemsetD8Async), so that no launch finds the
//     previous one's data in L2, as a training step would not; CUDA events (StreamTimer) bracket the launch alone;
//   - a variant's time is the median of its launches, after one untimed launch.
//
// A variant that fails to compile, link, load or launch keeps its error and is left out of the race. The heuristic's
// variant (tuning_for with zero fields) is built from the spec with zero tuning, as an op without stored results
// builds it, so the sweep leaves that kernel in the cache too. Results are returned, not stored: the caller stores
// them (store_tuning, TuningStore.h).
#pragma once

#include <functional>
#include <vector>

#include "runtime/tuning/TuningResult.h"

namespace xent::runtime {

struct TuneRequest {
  CrossEntropySpec spec;                    // its tuning is ignored
  std::vector<CrossEntropyKernel> kernels;  // swept one after the other; each must take a tuning (uses_tuning)
  int64_t rows = 16384;                     // rows per launch
  int iterations = 20;                      // timed launches per variant
  std::vector<Tuning> candidates;           // when not empty, swept instead of tuning_candidates (for tests)
};

struct TuneProgress {
  enum class Phase { Compiling, Timing };
  Phase phase = Phase::Compiling;
  CrossEntropyKernel kernel = CrossEntropyKernel::Fused;
  size_t done = 0, total = 0;            // variants compiled, or timed (failures included)
  const TunedVariant* latest = nullptr;  // timing: the variant just finished
  const TunedVariant* best = nullptr;    // timing: the fastest so far; null while none ran
};

// Called on the sweeping thread while timing, and from the pool's threads (one at a time) while compiling.
using TuneProgressFn = std::function<void(const TuneProgress&)>;

// Sweeps on the current context's device (made current if none is). One result per kernel, in request order. A
// UserError for a bad request, or when no variant of a kernel ran (it names the first variant's error).
std::vector<TuningResult> autotune(const TuneRequest& request, const TuneProgressFn& progress = {});

}  // namespace xent::runtime
