// Which stored tuning result an op uses, decided without a GPU (the op's side is TunedKernels.h).
//
// An op whose spec leaves the tuning to xent (every field zero) prefers a stored winner over the heuristic. Which
// one depends on the call's row count, which only the call knows, so the op asks per row bucket, at the first call
// of that bucket, and keeps the answer (TunedKernels). The answer is the result stored for the call's own bucket,
// else for the nearest bucket at most two away (a factor of 4 in rows; of two at the same distance, the larger),
// else none:
//   - nearby buckets, because a winner is a property of the row length far more than of the row count: a model that
//     was tuned at 16384 tokens and runs 12000 or 40000 should get the tuned kernel;
//   - not far ones, because a much smaller call (a few rows per SM) is a different regime, where the heuristic
//     (tuned on large calls, like most sweeps) is no worse a guess than a winner from 64x more rows;
//   - and at most 5 entries to probe on the first call of a bucket (a key, its SHA-256 and a failed open each: 150 us
//     for all five on the 2-core development machine), while scanning the cache directory would grow with it.
// XENT_TUNING=off turns the lookup off (every op uses the heuristic, as before any `xent tune`).
#pragma once

#include <optional>

#include "runtime/tuning/TuningStore.h"

namespace xent::runtime {

inline constexpr int kTuningBucketReach = 2;

// False when XENT_TUNING is "off"; true when it is unset, empty or "on". Any other value is a UserError naming it.
bool tuning_lookup_enabled();

// The tuning `kernel` of `spec` should be built with for a call of `rows` rows on `device`, when a stored result
// says so: nullopt for a spec that sets its own tuning, a kernel that takes none, a disabled lookup, or no result
// within reach (then the spec's own tuning, i.e. the heuristic, applies).
std::optional<Tuning> stored_winner(DiskCache& cache, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                                    const TuningDevice& device, int64_t rows);

}  // namespace xent::runtime
