// The cross-entropy kernel family (SPEC.md), written with the IR builder and specialized by a CrossEntropySpec.
//
// One op is a short sequence of these kernels on one stream (no host synchronization anywhere):
//
//   count     1 program    per-row validity over all rows: the reduction's scale 1/den and the bad-label count;
//                          zeroes the tickets of combine's loss reduction
//   stats     1 per row    this shard's partial statistics of each row               (reads the logits once)
//   combine   1 per 256 rows  merges the W ranks' partials: loss, lse, 1 - p_label, log-prob, entropy per row;
//                          its last program reduces the row losses (LossReduction in CrossEntropyRowSetKernels.cpp)
//   forward   1 per row    single shard: stats and combine's outputs in one pass over the row; program 0 also
//                          does count's work                                        (reads the logits once)
//   reduce    1 program    the reduced loss of a fused call or a one-shard forward, in a fixed order
//   backward  1 per row    gradient from the saved lse and 1 - p_label, times the upstream gradient
//   fused     1 per row    single shard: statistics, loss and gradient in one pass over the row, staged in shared
//                          memory (Tuning::staging) so that the logits leave DRAM once (or a cluster of programs
//                          per row, each holding a part of it)
//   fused_small            the fused kernel for calls on few rows: every program also counts the call's labels
//                          (each reads them all), so no count launch precedes it; program 0 stores what count would;
//                          its last program reduces the row losses (LossReduction)
//
// Forward then backward: count, stats, [exchange of partials], combine, later backward;
//                         one shard: forward, reduce (not for `none`), later backward.
// Fused (one shard):      count, fused, reduce; up to kMaxFusedSmallRows rows fused_small alone (counting on the
//                         call's ticket counter: CrossEntropyCall::tickets).
// Combine and fused_small reduce the loss themselves, in the last program to finish, by a ticket counter that must be
// zero when they start: count zeroes the workspace's for combine. The fused kernel leaves its loss to reduce: its many
// short programs lose 8-13% of their bandwidth to the ticket's fences (docs/performance.md, change 36), and a
// one-shard forward has no launch before it to zero a ticket.
// The reduced loss is summed in one fixed order for a given kernel (deterministic).
//
// Numbers that shape the code are constexpr parameters bound by the specialization pass (constexpr_bindings):
// "vocab" (V), "vocab_shard" (V_r), "label_smoothing" (ε), "z_loss" (z), "reduction" (0 none, 1 sum, 2 mean),
// "entropy" (0/1). A zero ε or z leaves no trace of its code after constant folding.
//
// Launch ABI: the parameters of each kernel, in order (a "row tensor" T is three parameters: T pointer, T_s0 and
// T_s1, the element strides of the two leading dimensions; rows are numbered i = i0 * d1 + i1). Per-row outputs are
// contiguous fp32 arrays of `rows` elements.
//   count:    labels[T], mask[T]?, inv_den ptr<f32>, bad ptr<i32>, tickets ptr<i32>, rows i64, d1 i64,
//             ignore_index i64, normalizer f32 (sum only: < 0 means none, 0 gives a zero loss and gradient)
//   stats:    logits[T], labels[T], mask[T]?, partials ptr<f32> (this rank's slice), d1 i64, ignore_index i64,
//             vocab_offset i64
//   combine:  partials ptr<f32>, labels[T], mask[T]?, weights ptr<f32>?, loss_rows, lse, rest, logprob, entropy
//             (ptr<f32> each), rows i64, d1 i64, ignore_index i64, world i32, inv_den ptr<f32>^, loss ptr<f32>^,
//             tickets ptr<i32>^
//   reduce:   loss_rows ptr<f32>, inv_den ptr<f32>, loss ptr<f32>, rows i64
//   forward:  logits[T], labels[T], mask[T]?, weights ptr<f32>?, loss_rows, lse, rest, logprob, entropy (ptr<f32>
//             each), inv_den ptr<f32>, bad ptr<i32>, rows i64, d1 i64, ignore_index i64, normalizer f32
//   backward: logits[T], labels[T], mask[T]?, weights ptr<f32>?, lse ptr<f32>, rest ptr<f32>, grad_output[T] (f32),
//             inv_den ptr<f32>, grad[T] (absent when in place), d1 i64, ignore_index i64, vocab_offset i64
//   fused:    logits[T], labels[T], mask[T]?, weights ptr<f32>?, inv_den ptr<f32>, loss_rows, lse, rest (ptr<f32>),
//             grad[T] (absent when in place), d1 i64, ignore_index i64, grad_scale f32,
//             exchange ptr<f32> (rows x cluster x kPartialFields; used only with a cluster)
//   fused_small: fused's, then rows i64, normalizer f32, bad ptr<i32> (inv_den is then written by program 0),
//             loss ptr<f32>^, tickets ptr<i32>^
// `?` marks parameters present only when the spec has a mask / weights, `^` those present only when it reduces
// (reduction sum or mean).
//
// Row kernels run one program per row (grid = rows), so they need no row count but to count labels (forward,
// fused_small); the fused kernels with a cluster of C (Tuning::cluster, sm_90) run C programs per row (grid =
// rows x C), program i holding part i % C of row i / C.
//
// Partials: rank r writes partials[r * rows * kPartialFields + i * kPartialFields + f] for row i, fields
// (m, d_rest, e_label, x_label, sum_x, sum_ex): the shard's row max, Σ exp(x - m) over columns other than the label,
// exp(x_label - m) and x_label when the shard owns the label (else 0), Σ x (when ε > 0) and Σ exp(x - m)·x (entropy).
// Keeping the label's term apart is what gives 1 - p_label without cancellation (SPEC.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/IR.h"
#include "compiler/passes/Specialize.h"
#include "kernels/CrossEntropySpec.h"

namespace xent {

enum class CrossEntropyKernel : uint8_t { Count, Stats, Combine, Reduce, Backward, Fused, Forward, FusedSmall };
inline constexpr size_t kKernelKinds = 8;

inline constexpr int kPartialFields = 6;
inline constexpr int kCombineRowsPerProgram = 256;
inline constexpr int kRowSetThreads = 1024;  // the count and reduce kernels' one program
// The most rows a fused call counts its labels on in the fused kernel (fused_small) rather than in a count launch
// before it: every program reads all of them, 4 KB at 512 rows against a row's 32-512 KB, and the launch saved is a
// few microseconds, a large part of a small call and a vanishing one of a long call.
inline constexpr int64_t kMaxFusedSmallRows = 512;
// The most shared memory a kernel stages a row in: 200 KiB (the H100 sweeps of docs/performance.md stop there), or
// less on a GPU with less (spec.shared_memory), keeping 2 KiB for the reductions' scratch.
int64_t max_staged_row_bytes(const CrossEntropySpec& spec);

std::string_view kernel_name(CrossEntropyKernel kernel);
// Every kernel's name, comma-separated ("ce_count, ce_stats, ..."), for messages and help texts.
std::string kernel_names();
// The kernel named `name` ("ce_fused"); throws UserError listing the names otherwise.
CrossEntropyKernel kernel_from_name(std::string_view name);
// Whether `kernel` needs the whole vocabulary on one rank (forward, fused, fused_small): a shard uses the others.
bool needs_whole_vocabulary(CrossEntropyKernel kernel);
// The kernels an op with this spec uses: all of them for a single shard, else those a shard uses.
std::vector<CrossEntropyKernel> kernels_for(const CrossEntropySpec& spec);

// The kernels whose code depends on the spec's Tuning (stats, forward, backward, fused, fused_small: the ones that walk
// a row). The others take none and are built the same for every tuning.
bool uses_tuning(CrossEntropyKernel kernel);

// The kernel whose walk over a row `kernel` shares, and with it the tuning (tuning_for, tuning_candidates), the
// alignment and the row extent: fused for fused_small, else the kernel itself.
CrossEntropyKernel row_walk_of(CrossEntropyKernel kernel);

// The tuning a kernel of the family is built with: the spec's choices, and the built-in heuristic's for zero fields,
// with a block longer than the row's extent cut to it (both hold the row as one tile, so they build the same code).
// The heuristic comes from sweeps on an H100 (docs/performance.md): the fused kernel stages rows in shared memory
// (fused_staging) and walks them with 256 threads (512 past 120 KiB) of two 16-byte vectors a tile, one tile a step;
// on a GPU with clusters it splits rows past 200 KiB over the fewest programs (2-16) whose parts fit three to an SM
// (128 threads a part for clusters of 8 or 16), elsewhere it stages their first 200 KiB, with 1024 threads of one
// vector, and streams the rest. Row-streaming kernels keep one 16-byte bf16 vector per thread per tile with 256 threads
// (128 for the statistics and forward kernels); the streaming fused kernel (rows past 200 KiB with label smoothing)
// uses 512 threads, 8 columns each; two tiles are loaded per step. `xent tune` measures how far it is from the best of
// its space (kernels/CrossEntropyTuning.h) and stores the winners that the runtime then prefers (runtime/tuning/).
Tuning tuning_for(const CrossEntropySpec& spec, CrossEntropyKernel kernel);

// Where the fused kernel keeps its row: the spec's choice, else the heuristic's: Global for a cluster the spec asks for
// (its programs hold their parts in registers), Shared for the heuristic's own clusters (their parts staged), else
// Shared, but for rows past max_staged_row_bytes with label smoothing. It depends on the spec alone, not on the row's
// extent, since the extent depends on it (alignment_for).
Staging fused_staging(const CrossEntropySpec& spec);

// The offsets each program of the fused kernel's cluster stages (`tuning.cluster` programs staging their parts): the
// row split evenly into whole 16-byte vectors where it splits so (V = 151936 or 256000 in 8, rows without heads:
// every part is a row of its own, only its tail tile masked, by a mask known at specialization), else the row's
// extent split `tuning.cluster` ways rounded up to whole tiles (every part starts 16-byte aligned and its tiles end
// with it; the masks depend on the part).
int64_t staged_part_width(const CrossEntropySpec& spec, const Tuning& tuning);

// The columns a row kernel's walk covers: the shard, plus up to one vector before each row when the kernel reads rows
// from the 16-byte boundary before them (Alignment::Base, see alignment_for). A block at least this long holds the
// whole row as one tile (for_each_tile in RowWalk.h).
int64_t row_extent(const CrossEntropySpec& spec, CrossEntropyKernel kernel);

// The alignment a kernel relies on: the spec's, or less where that measured faster (see the .cpp).
Alignment alignment_for(const CrossEntropySpec& spec, CrossEntropyKernel kernel);

// The kernel as written, before specialization (it still holds constexpr parameters).
std::unique_ptr<ir::Kernel> build_kernel(CrossEntropyKernel kernel, const CrossEntropySpec& spec);
passes::ConstexprBindings constexpr_bindings(const CrossEntropySpec& spec);

}  // namespace xent
