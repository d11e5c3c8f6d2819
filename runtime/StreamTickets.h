// Ticket counters for the kernels that reduce the loss in their last program (LossReduction in
// kernels/CrossEntropyCommon.h), so that a small fused call is one launch instead of two. Such a kernel needs a counter
// that is zero when it starts and that no kernel running beside it counts on; its last program leaves it zero again.
// Calls on one stream run one after another, so one counter per stream serves them all. The counters are allocated,
// zeroed, with the op, so that a call allocates nothing.
//
// A stream gets no counter of its own where that reasoning fails or would bind later work: while it is captured into a
// graph (the graph would keep the counter, and its replays, on any stream, would share it with this stream's calls),
// the per-thread default stream (one handle, a stream per thread), and streams past the first kStreams. There the
// call's own spare word (the workspace's tickets) is zeroed on the stream first: a memset, in a graph a memset node.
// A stream destroyed with a call still running and a new one given its handle would share its counter: destroy a
// stream once its work is done.
#pragma once

#include <cuda.h>

#include <mutex>
#include <vector>

#include "runtime/cuda/Memory.h"

namespace xent::runtime {

class StreamTickets {
 public:
  static constexpr size_t kStreams = 64;

  // In the current context.
  StreamTickets();

  // A counter that is zero when the next work enqueued on `stream` runs: the stream's own, or `spare` (4 bytes of
  // device memory) zeroed on the stream.
  CUdeviceptr zeroed(CUstream stream, CUdeviceptr spare) const;

 private:
  // The stream's own counter, or 0 where it gets none.
  CUdeviceptr own(CUstream stream) const;

  cuda::DeviceBuffer counters_;  // kStreams i32, zero between calls
  mutable std::mutex mutex_;
  mutable std::vector<CUstream> streams_;  // counter i belongs to streams_[i]
};

}  // namespace xent::runtime
