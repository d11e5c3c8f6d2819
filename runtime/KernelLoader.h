// From a spec and a kernel of its family to a function on the current device:
//   PTX from the JIT (memory, disk cache, or compiled now) -> cubin from the disk cache, keyed also by the device's
//   SM and the driver version, or linked now by the driver (cuLink*) and stored -> the loaded module.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/CrossEntropyKernels.h"
#include "runtime/cuda/Module.h"

namespace xent {

struct DeviceKernel {
  std::string name;
  cuda::LoadedKernel module;
  int threads = 0;               // threads per program to launch with
  int cluster = 1;               // programs per thread-block cluster: the launch runs Launch::grid clusters of them
  int dynamic_shared_bytes = 0;  // shared memory per program to launch with
  Tuning tuning;                 // what it was built with (tuning_for); zeros for a kernel that takes no tuning
};

// `spec` as the current device builds it: staging no more shared memory than the device lets a program have, and
// splitting rows over thread-block clusters only where it runs them.
CrossEntropySpec for_current_device(CrossEntropySpec spec);

// The kernel of `spec` (taken for_current_device) on the current device.
std::unique_ptr<DeviceKernel> load_kernel(const CrossEntropySpec& spec, CrossEntropyKernel kernel);

// Compiles the PTX of those of `kernels` (of `spec`, taken for_current_device) that the JIT holds neither in memory nor
// on disk, side by side on a pool of threads (each compile has its own LLVM context), so that a cold op costs about
// its slowest kernel rather than the sum; load_kernel then finds them. A warm start, everything on disk, starts no
// thread: loading kernels from threads made it slower (docs/performance.md, change 27).
void compile_in_parallel(const CrossEntropySpec& spec, const std::vector<CrossEntropyKernel>& kernels);

// Runs `body(i)` for every i below n on a pool of threads (up to one per core), each in the caller's current context.
// Rethrows the first exception of any `body`.
void run_in_parallel(size_t n, const std::function<void(size_t)>& body);

}  // namespace xent
