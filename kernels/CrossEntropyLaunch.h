// How one cross-entropy call becomes kernel launches: grids and arguments in each kernel's ABI order
// (CrossEntropyKernels.h), for any backend. The interpreter and the CUDA runtime both execute these plans, so the
// argument packing is written once. Addresses are plain integers in the backend's memory (host or device).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/CrossEntropyKernels.h"

namespace xent {

struct KernelArg {
  enum class Kind : uint8_t { Pointer, I32, I64, F32 };
  Kind kind;
  uint64_t pointer = 0;
  int64_t integer = 0;
  float real = 0.0f;
  static KernelArg ptr(uint64_t address) { return {Kind::Pointer, address, 0, 0.0f}; }
  static KernelArg i32(int32_t v) { return {Kind::I32, 0, v, 0.0f}; }
  static KernelArg i64(int64_t v) { return {Kind::I64, 0, v, 0.0f}; }
  static KernelArg f32(float v) { return {Kind::F32, 0, 0, v}; }
};

struct Launch {
  CrossEntropyKernel kernel;
  int64_t grid;  // programs along x, or clusters of programs for a kernel built with a cluster (its programs number
                 // grid x cluster), so that a plan does not depend on which tuning of a kernel runs it
  std::vector<KernelArg> args;
  int64_t rows = 0;  // the call's row count: the CUDA runtime picks a tuned variant by it (runtime/tuning/)
};

// A tensor addressed by rows: its address and the element strides of the two leading dimensions.
struct RowTensorRef {
  uint64_t address = 0;
  int64_t s0 = 0, s1 = 0;
};

// The O(rows) buffers an op works in (one float or int each, or one per row; partials for every rank).
struct Workspace {
  uint64_t partials = 0;          // world x rows x kPartialFields fp32
  uint64_t cluster_partials = 0;  // rows x kMaxCluster x kPartialFields fp32: the fused kernel's exchange in a cluster
  uint64_t inv_den = 0;           // 1 fp32: the reduction's scale
  uint64_t bad = 0;               // 1 i32: the out-of-range label count
  uint64_t loss_rows = 0, lse = 0, rest = 0, logprob = 0, entropy = 0;  // rows fp32 each
  uint64_t loss = 0;                                                    // 1 fp32: the reduced loss
  uint64_t tickets = 0;  // 1 i32: programs finished (combine; fused_small without a counter of its own)
};

// The workspace's size in bytes for `rows` rows and `world` ranks, and its carving from one allocation at `base`
// (each part 16-byte aligned; the scalars come first, at addresses that do not depend on `rows`, and the partials
// last, so that a caller exchanging them sees one contiguous tail).
uint64_t workspace_bytes(int64_t rows, int world);
Workspace carve_workspace(uint64_t base, int64_t rows, int world);

// One call's arguments. Row tensors have `rows` = d0 * d1 rows; `mask` and `weights` are used when the spec has them.
struct CrossEntropyCall {
  int64_t d0 = 0, d1 = 1;
  RowTensorRef logits, labels, mask, grad, grad_output;
  uint64_t weights = 0;
  int64_t ignore_index = -100;
  float normalizer = -1.0f;  // num_label_tokens for `sum`; < 0 = not given
  float grad_scale = 1.0f;   // the fused path's upstream gradient
  int64_t vocab_offset = 0;  // this rank's first column
  int rank = 0, world = 1;
  Workspace workspace;
  // A ticket counter (1 i32) that is zero when the call runs and that no kernel running beside it counts on, for a
  // fused call whose fused_small reduces the loss in its last program (reduces_in_fused_small): the op's counter for
  // the stream, or the workspace's tickets zeroed first (runtime/StreamTickets.h). The last program leaves it zero.
  uint64_t tickets = 0;
  int64_t rows() const { return d0 * d1; }
};

// The launches before the exchange of partials: count, then this rank's stats into its slice of the partials.
std::vector<Launch> plan_statistics(const CrossEntropySpec& spec, const CrossEntropyCall& call);
// After the exchange (partials hold every rank's slice): combine, which also reduces the loss (not for `none`).
std::vector<Launch> plan_loss(const CrossEntropySpec& spec, const CrossEntropyCall& call);
// Single shard, one pass: forward, then reduce (not for `none`): what plan_statistics and plan_loss do without an
// exchange, in one or two launches instead of three.
std::vector<Launch> plan_forward(const CrossEntropySpec& spec, const CrossEntropyCall& call);
// The gradient from the saved statistics and grad_output.
std::vector<Launch> plan_backward(const CrossEntropySpec& spec, const CrossEntropyCall& call);
// Where a fused call counts its labels (the reduction's scale, the bad-label count): in a count launch before the fused
// kernel, or in every program of fused_small (a launch fewer; each program reads every label). Auto: fused_small up to
// kMaxFusedSmallRows rows.
enum class FusedCount : uint8_t { Auto, Launch, InKernel };
// Single shard, one pass: count, fused, reduce (not for `none`); or fused_small alone, one launch, which then also
// reduces the loss (counting its programs on `call.tickets`).
std::vector<Launch> plan_fused(const CrossEntropySpec& spec, const CrossEntropyCall& call,
                               FusedCount count = FusedCount::Auto);
// Whether plan_fused runs fused_small and it reduces the loss, so that the call needs its `tickets`.
bool reduces_in_fused_small(const CrossEntropySpec& spec, const CrossEntropyCall& call,
                            FusedCount count = FusedCount::Auto);

}  // namespace xent
