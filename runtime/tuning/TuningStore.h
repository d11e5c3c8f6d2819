// Tuning results in the disk cache (DiskCache.h), one entry of Artifact::Tuning per kernel, spec, device and row
// bucket. The key is a kernel's key (kernel_key in CacheKey.h: the xent build, LLVM, the code generation target and
// the spec) with the spec's tuning zeroed, plus
//
//   device        the device's name ("NVIDIA H100 80GB HBM3"): the timings belong to that card
//   rows_bucket   rows_bucket(rows) of the timed launches: the best tile for 1024 rows (less than one program per SM
//                 thread slot) need not be the best for 16384
//
// So results are found again exactly where they were measured, and a new xent build (new kernel code) starts without
// them, as it starts without cached kernels. The driver version is recorded in the result, not keyed: it changes the
// machine code a little, not which variant wins.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "runtime/cache/DiskCache.h"
#include "runtime/tuning/TuningResult.h"

namespace xent::runtime {

// The device a result belongs to: its name and the code generation target its kernels are compiled for.
struct TuningDevice {
  std::string name;
  std::string sm;
};

// The power of two at or above `rows` (1 for rows < 1; at most 2^kMaxBucketExponent): calls of 8193 to 16384 rows
// share bucket 16384.
inline constexpr int kMaxBucketExponent = 62;
int64_t rows_bucket(int64_t rows);

// The key of the result for `kernel` of `spec` (its tuning ignored) on `device` at row bucket `bucket`.
CacheKey tuning_key(const CrossEntropySpec& spec, CrossEntropyKernel kernel, const TuningDevice& device,
                    int64_t bucket);

// Stores `result` under the key of `spec` (whose zero-tuning canonical text must be result.spec), result.kernel,
// result's device and result.rows_bucket.
void store_tuning(DiskCache& cache, const CrossEntropySpec& spec, const TuningResult& result);

// The result stored for exactly this key; nullopt when there is none or it is not a result (a payload that does not
// parse is a miss, like a damaged entry).
std::optional<TuningResult> load_tuning(DiskCache& cache, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                                        const TuningDevice& device, int64_t bucket);

// Every tuning entry in the cache, for `xent tune --show`. `current` is false for entries of another xent build or
// cache format, which this build never looks up; `error` says why an entry could not be read (then `result` is
// empty).
struct StoredTuning {
  std::filesystem::path path;
  bool current = false;
  std::string error;
  TuningResult result;
};
std::vector<StoredTuning> list_tuning(DiskCache& cache);

}  // namespace xent::runtime
