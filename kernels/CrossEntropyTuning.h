// The tuning space of the cross-entropy kernels: what `xent tune` sweeps (runtime/tuning/Autotuner.h), and the JSON
// form of one Tuning that its stored results use.
//
// For each kernel that takes a tuning (uses_tuning), the candidates are
//   threads 128, 256, 512, 1024  x  tiles of 1, 2 or 4 16-byte vectors per thread (bf16: 8, 16 or 32 columns)
//     x  1 or 2 tiles loaded per step (unroll),
//   plus, per thread count, the whole row as one tile (block = row_extent) when the threads can hold it,
//   plus, for the fused kernel on a GPU with thread-block clusters (spec.clusters), threads 256, 512, 1024 x clusters
//   of 2, 4,
//     8 programs per row when each program can hold its part in registers, and the same with each part staged in
//     shared memory (two vectors a thread a tile) when it fits in 200 KiB,
//   plus, for the fused and statistics kernels, each of those with the row staged in shared memory
//     (Staging::Shared; rows past 200 KiB stage their first 200 KiB),
// each written as tuning_for writes it (a tile that covers the row is the whole-row tile) and listed once. The
// heuristic's choice (tuning_for with zero fields) always comes first, so a sweep always times it.
//
// "Can hold it": a thread keeps about two fp32 registers per element of a whole-row tile (the value, kept for the
// gradient, and what the statistics make of it), and a thread of a T-thread program gets at most min(255, 65536 / T)
// registers. Rows needing more would spill to local memory, which no sweep needs to measure to reject: at
// V = 151936 no thread count holds the row; at V = 18992 every count from 256 up does.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "kernels/CrossEntropyKernels.h"

namespace xent {

// The candidates for `kernel` of `spec` (whose own tuning is ignored), the heuristic's first; empty for a kernel that
// takes no tuning.
std::vector<Tuning> tuning_candidates(const CrossEntropySpec& spec, CrossEntropyKernel kernel);

// {"threads": 256, "block": 2048, "unroll": 2, "cluster": 1, "staging": "shared"}: every field, by its name in
// Tuning. nlohmann::json finds these by ADL, so `json j = tuning` and `j.get<Tuning>()` work; a missing field or a
// wrong type throws nlohmann::json::exception, an unknown staging name UserError.
void to_json(nlohmann::json& j, const Tuning& t);
void from_json(const nlohmann::json& j, Tuning& t);

}  // namespace xent
