// The tuned kernels of one op (CrossEntropyOp): per kernel and row bucket, the kernel its launches use. The choice
// for a bucket is made at the first call of that bucket (stored_winner, TuningLookup.h, says why per bucket and
// which bucket's result) and kept; later calls read one atomic pointer, so the launch path stays free of locks,
// files and driver queries after that first call.
//
// A stored winner's kernel is loaded then (from the disk cache, where `xent tune` left it) and shared by every bucket
// that chose it. Without a winner, or when it is the heuristic's own choice, the bucket uses the op's kernel built
// from its spec. A winner that fails to load (a damaged cache, a driver that refuses it) leaves the bucket on the
// op's kernel, with one warning on stderr: a tuning result is a hint, never a reason for a call to fail.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/KernelLoader.h"
#include "runtime/tuning/TuningStore.h"

namespace xent::runtime {

// The current context's device, as tuning results name it.
TuningDevice current_tuning_device();

class TunedKernels {
 public:
  // `spec` is the op's; its kernels are loaded on `device` (the current context's).
  TunedKernels(const CrossEntropySpec& spec, TuningDevice device);

  // The kernel to launch for `kernel` in a call of `rows` rows: a stored winner's, else `fallback` (the op's kernel
  // built from the spec, which must outlive this object).
  const DeviceKernel& choose(CrossEntropyKernel kernel, int64_t rows, const DeviceKernel& fallback) const;

 private:
  const DeviceKernel& decide(CrossEntropyKernel kernel, int64_t rows, const DeviceKernel& fallback) const;

  CrossEntropySpec spec_;
  TuningDevice device_;
  mutable std::mutex mutex_;
  // [kernel][log2 of the bucket]: null until the bucket's first call.
  mutable std::array<std::array<std::atomic<const DeviceKernel*>, kMaxBucketExponent + 1>, kKernelKinds> chosen_{};
  mutable std::map<std::string, std::unique_ptr<DeviceKernel>> winners_;  // by kernel name and tuning text
};

}  // namespace xent::runtime
