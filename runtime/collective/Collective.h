// The one exchange a vocab-sharded op needs, behind an interface with two implementations: NCCL (NcclCollective.h,
// across processes and machines) and an in-process group that runs W ranks on one GPU (InProcessCollective.h, for
// tests and single-GPU simulation, since NCCL refuses two ranks on one GPU).
//
// Why an all-gather of the packed per-row partials rather than an all-reduce: each rank's partials are six fp32 fields
// per row (24 B, kPartialFields), so one all-gather moves world x 24 B per row, and the combine kernel then merges the
// W slices on every rank in the same order. That is exact (the label's term stays apart, so 1 - p_label has no
// cancellation) and deterministic: every rank computes bitwise the same loss. An all-reduce cannot do this in one call:
// the max and the rescaled sums need two calls (max, then sum of exp(x - max)), and folding them into one log-sum-exp
// reduction depends on the collective's reduction order, which differs across ranks and algorithms, so ranks would
// disagree in the last bits and lose the label's separate term.
#pragma once

#include <cuda.h>

#include <cstddef>

namespace xent {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Every rank's `bytes_per_rank` bytes at `send` into `receive` of every rank, rank r's at receive + r *
  // bytes_per_rank. Enqueued on `stream`, ordered after the work already there, with no host synchronization. `send`
  // may be this rank's own slice of `receive` (in place). Every rank of the group must call it, in the same order.
  virtual void all_gather(CUdeviceptr send, CUdeviceptr receive, size_t bytes_per_rank, CUstream stream) = 0;
};

}  // namespace xent
