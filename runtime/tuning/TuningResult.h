// The outcome of sweeping one kernel's tuning space on one device (Autotuner.h): every variant's time or error, the
// winner and the heuristic's choice. `xent tune` prints it and writes it with --json; the disk cache keeps it as JSON
// (TuningStore.h), and the runtime launches its winner afterwards (TunedKernels.h).
//
// JSON form (to_json / from_json; the `ms` and `ratio` beside winner and heuristic are for readers and are recomputed
// from the variants when read back):
//
//   {"spec": "<canonical spec, tuning zero>", "kernel": "ce_fused", "device": "NVIDIA H100 80GB HBM3",
//    "sm": "sm_90", "driver": 13000, "rows": 16384, "rows_bucket": 16384, "iterations": 20,
//    "variants": [{"tuning": {"threads": 1024, "block": 8192}, "ms": 0.61, "registers": 56, "spill_bytes": 0},
//                 {"tuning": {...}, "error": "why it did not run"}, ...],
//    "winner": {"tuning": {...}, "ms": 0.58},
//    "heuristic": {"tuning": {...}, "ms": 0.61, "ratio": 1.05}}
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kernels/CrossEntropyKernels.h"

namespace xent::runtime {

struct TunedVariant {
  Tuning tuning;
  double ms = 0;        // median time of one launch over the sweep's iterations; 0 when it did not run
  int registers = 0;    // per thread
  int spill_bytes = 0;  // local memory per thread (spills)
  std::string error;    // why it did not run (compile, link, load or launch failure); empty when it ran
  bool ran() const { return error.empty(); }
  bool operator==(const TunedVariant&) const = default;
};

struct TuningResult {
  std::string spec;  // CrossEntropySpec::canonical() of the swept spec with zero tuning
  CrossEntropyKernel kernel = CrossEntropyKernel::Fused;
  std::string device;  // the device's name
  std::string sm;      // the code generation target the variants were compiled for
  int driver = 0;      // CUDA driver version, for the record (not part of the cache key)
  int64_t rows = 0;    // rows per timed launch
  int64_t rows_bucket = 0;
  int iterations = 0;
  std::vector<TunedVariant> variants;  // in sweep order
  Tuning winner;                       // the variant that ran fastest
  Tuning heuristic;                    // tuning_for with zero fields: what the runtime uses without a result

  // The variant of `tuning`; null when it was not swept.
  const TunedVariant* variant(const Tuning& tuning) const;
  double winner_ms() const;
  // The heuristic's time over the winner's (1 when the heuristic wins); nullopt when the heuristic did not run.
  std::optional<double> heuristic_ratio() const;
  bool operator==(const TuningResult&) const = default;
};

void to_json(nlohmann::json& j, const TunedVariant& v);
void from_json(const nlohmann::json& j, TunedVariant& v);
void to_json(nlohmann::json& j, const TuningResult& r);
// A missing or mistyped field throws nlohmann::json::exception; a winner that is not a variant that ran, UserError.
void from_json(const nlohmann::json& j, TuningResult& r);

}  // namespace xent::runtime
