// The cross-entropy op on the GPU: a spec's kernels loaded for the current device, and the launch of plans
// (kernels/CrossEntropyLaunch.h) on the caller's stream.
//
// Construction compiles or loads every kernel of the spec (through the JIT and its disk cache) and resolves the
// functions once; after that a call builds its launch plan and enqueues cuLaunchKernel calls on the caller's stream:
// no device allocation, no host synchronization and no driver queries, so the op can be captured in a CUDA graph.
// The caller owns the workspace (workspace_bytes) and every tensor; the op keeps no per-call state.
#pragma once

#include <cuda.h>

#include <array>
#include <memory>
#include <vector>

#include "kernels/CrossEntropyLaunch.h"
#include "runtime/KernelLoader.h"

namespace xent {

class CrossEntropyOp {
 public:
  // Loads the spec's kernels for the device of the current context (made current if none is).
  explicit CrossEntropyOp(const CrossEntropySpec& spec);

  const CrossEntropySpec& spec() const { return spec_; }

  // Enqueues `launches` on `stream`, in order, from any thread: a thread without a current context gets the op's.
  // Another context current on the thread is the caller's error (the modules are loaded in the op's).
  void enqueue(const std::vector<Launch>& launches, CUstream stream) const;

  // The loaded kernel, e.g. to report its registers and spills.
  const DeviceKernel& kernel(CrossEntropyKernel which) const;

 private:
  CrossEntropySpec spec_;
  CUcontext context_;                                     // where the kernels are loaded
  std::array<std::unique_ptr<DeviceKernel>, 6> kernels_;  // indexed by CrossEntropyKernel
};

}  // namespace xent
