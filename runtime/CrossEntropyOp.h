// The cross-entropy op on the GPU: a spec's kernels loaded for the current device, and the launch of plans
// (kernels/CrossEntropyLaunch.h) on the caller's stream.
//
// A kernel is compiled or loaded (through the JIT and its disk cache) at the first plan that launches it, together
// with the plan's other kernels not loaded yet (compiled side by side), and its function resolved once: a process
// that only makes fused calls loads the three kernels those launch, not all seven. After that a call builds its
// launch plan and enqueues cuLaunchKernel calls on the caller's stream: no device allocation, no host
// synchronization and no driver queries but one (whether a small fused call's stream is being captured: see
// zeroed_tickets), so the op can be captured in a CUDA graph once each kernel has run. The caller owns the workspace
// (workspace_bytes) and every tensor; the op keeps no per-call state, only a ticket counter per stream.
//
// The one other exception is tuning: when the spec leaves it to xent (zero fields), the first call of each row-count
// bucket looks for a winner that `xent tune` stored for this device and loads its kernel
// (runtime/tuning/TunedKernels.h); later calls of the bucket launch it without any of that.
#pragma once

#include <cuda.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/CrossEntropyLaunch.h"
#include "runtime/KernelLoader.h"
#include "runtime/StreamTickets.h"
#include "runtime/tuning/TunedKernels.h"

namespace xent {

class CrossEntropyOp {
 public:
  // Checks the spec and takes the device of the current context (made current if none is); loads no kernel yet.
  explicit CrossEntropyOp(const CrossEntropySpec& spec);

  const CrossEntropySpec& spec() const { return spec_; }

  // Enqueues `launches` on `stream`, in order, from any thread: a thread without a current context gets the op's.
  // Another context current on the thread is the caller's error (the modules are loaded in the op's).
  void enqueue(const std::vector<Launch>& launches, CUstream stream) const;

  // A ticket counter for a call on `stream` (CrossEntropyCall::tickets) that is zero when the call runs: the op's
  // counter for the stream, or `spare` zeroed on the stream (runtime/StreamTickets.h says when).
  CUdeviceptr zeroed_tickets(CUstream stream, CUdeviceptr spare) const { return tickets_->zeroed(stream, spare); }

  // The kernel a call of `rows` rows launches for `which` (a tuned one, when stored), e.g. to report its tuning,
  // registers and spills.
  const DeviceKernel& kernel(CrossEntropyKernel which, int64_t rows) const;

 private:
  // The kernel built from the spec (loaded now if it is not yet).
  const DeviceKernel& built(CrossEntropyKernel which) const;
  // Loads those of `kernels` that are not loaded yet; UserError for one a shard cannot use (needs_whole_vocabulary).
  void load(const std::vector<CrossEntropyKernel>& kernels) const;

  CrossEntropySpec spec_;
  CUcontext context_;  // where the kernels are loaded
  // Built from the spec, indexed by CrossEntropyKernel: null until loaded, then set once (read without the mutex).
  mutable std::array<std::atomic<const DeviceKernel*>, kKernelKinds> loaded_{};
  mutable std::array<std::unique_ptr<DeviceKernel>, kKernelKinds> owned_;
  mutable std::mutex load_mutex_;
  std::unique_ptr<runtime::TunedKernels> tuned_;
  std::unique_ptr<runtime::StreamTickets> tickets_;
};

// One launch of `kernel` on `stream`, in the current context: what enqueue does for each launch of a plan. The
// autotuner times a variant's kernel with it.
void launch_kernel(const DeviceKernel& kernel, const Launch& launch, CUstream stream);

}  // namespace xent
