// Verification problems for the cross-entropy op: random inputs in every layout SPEC.md lists, sharded over W ranks,
// run through a backend (the interpreter, or the GPU) and checked against the fp64 reference with SPEC.md's
// tolerances. Used by the test suites, `xent demo` and `xent run`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/CrossEntropyLaunch.h"
#include "kernels/CrossEntropyReference.h"

namespace xent::verify {

enum class Layout {
  Contiguous,
  Transposed,
  Sliced
};                                            // [B,S,V]; [S,B,V] view of [B,S,V]; logits[:, :-1], labels[:, 1:]
enum class Upstream { One, Scalar, PerRow };  // grad_output: 1, another scalar, one value per row
enum class Mode { Fused, ForwardBackward, ForwardOnly };

struct ProblemOptions {
  CrossEntropySpec spec;        // the global problem: vocab, dtypes, options (vocab_shard is set per rank)
  std::vector<int64_t> shards;  // column widths per rank, summing to spec.vocab; empty = one rank
  int64_t d0 = 2, d1 = 5;
  Layout layout = Layout::Contiguous;
  Upstream upstream = Upstream::One;
  Mode mode = Mode::ForwardBackward;
  FusedCount fused_count = FusedCount::Auto;  // Mode::Fused: where the call counts its labels (plan_fused)
  double logit_scale = 3.0;
  double ignore_fraction = 0.1;
  double bad_label_fraction = 0.0;
  double masked_fraction = 0.2;  // with spec.has_mask
  int64_t ignore_index = -100;
  float num_label_tokens = -1.0f;  // `sum`'s normalizer; < 0 = not given
  bool confident_rows = false;     // some rows with the label's logit far above the rest
  bool minus_inf_blocks = false;   // -inf runs of columns, a whole -inf shard, a whole -inf row
  bool nan_logits = false;         // a NaN in one row
  bool misaligned = false;         // logits and gradient start one element past a 16-byte boundary
  uint64_t seed = 1;
  std::string str() const;
  // One rank holding all `vocab` columns of `dtype`, run in `mode` over d0 x d1 rows; the rest as declared above.
  static ProblemOptions whole_vocab(DType dtype, int64_t vocab, Mode mode, int64_t d0 = 2, int64_t d1 = 5);
};

// `o` on each way a single shard's call runs, for suites that cover them all: fused after a count launch, fused_small
// counting its own labels, and forward then backward. A per-row upstream gradient (Upstream::PerRow) runs forward then
// backward only: a fused call takes one scalar (grad_scale).
std::vector<ProblemOptions> on_every_path(ProblemOptions o);

// V columns over W ranks as evenly as they go: V / W each, and the first V % W ranks one column more (50257 over 8:
// one rank of 6283, seven of 6282).
std::vector<int64_t> even_shards(int64_t vocab, int world);

// What one rank's run produced, in the global row order; `grad` holds this rank's columns, rows x width.
struct RankResult {
  std::vector<float> row_loss, lse, logprob, entropy, grad;
  float loss = 0.0f;
  int32_t bad_labels = 0;
  int32_t tickets = 0;  // the call's ticket counter afterwards: its last program must leave it zero
};

// Where a problem runs: memory the kernels can address, and a way to run launch plans on it.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual uint64_t allocate(size_t bytes) = 0;  // zero-filled
  virtual void upload(uint64_t address, const void* host, size_t bytes) = 0;
  virtual void download(void* host, uint64_t address, size_t bytes) = 0;
  virtual void execute(const CrossEntropySpec& spec, const std::vector<Launch>& launches) = 0;
};

// Builds the problem, runs every rank (exchanging partials between ranks as the in-process collective does) and
// returns the ranks' results and the reference.
struct Outcome {
  std::vector<RankResult> ranks;
  ReferenceResult reference;
  std::vector<int64_t> offsets;  // each rank's first column
};
Outcome run_problem(const ProblemOptions& options, Backend& backend);

// run_problem in two halves, for callers that make the calls themselves (the public API's tests): the inputs staged
// on the backend with each rank's spec and call (its workspace starts at call.workspace.partials), then the results
// read back from those calls' buffers.
struct StagedRank {
  CrossEntropySpec spec;
  CrossEntropyCall call;
  uint64_t workspace = 0;                                 // the workspace's allocation, carved into call.workspace
  uint64_t grad_buffer = 0;                               // the gradient's allocation (the logits' when in place)
  int64_t grad_offset = 0, grad_elements = 0, width = 0;  // the first row's element, the buffer's elements, V_r
};
struct StagedProblem {
  std::vector<StagedRank> ranks;
  ReferenceResult reference;
  std::vector<int64_t> offsets;
};
StagedProblem stage_problem(const ProblemOptions& options, Backend& backend);
Outcome collect_outcome(const ProblemOptions& options, Backend& backend, const StagedProblem& staged);
// The launch plans of every staged rank, with the in-process exchange between them, then collect_outcome.
Outcome run_staged(const ProblemOptions& options, Backend& backend, const StagedProblem& staged);

// One rank of a sharded problem, for a process that runs that rank alone against the other ranks' processes
// (`xent run --tp`): the inputs are generated once (the same on every rank, from options.seed), then staged twice:
// `shard` holds rank `rank`'s columns as a rank of options.shards.size() (its offsets[0] is the first column), and
// `whole` the whole vocabulary as one rank (world 1), to compare with. Only `shard` carries the reference.
struct RankProblem {
  StagedProblem shard, whole;
};
RankProblem stage_rank(const ProblemOptions& options, Backend& backend, int rank);

// The comparison of an outcome with its reference (SPEC.md tolerances) and across ranks.
struct Verdict {
  bool ok = true;
  std::vector<std::string> failures;  // the first few, each naming the quantity, row and column
  double worst_loss_error = 0.0;      // relative, over rows with a finite loss
  double worst_gradient_error = 0.0;  // fp32: relative; bf16/f16: units in the last place (elements within the
                                      // plain bound)
  int64_t cancelling_elements = 0;    // elements that needed the allowance for cancelling terms (p close to ε/V)
  std::string str() const;            // one line: PASS/FAIL with the worst errors
};
// `outcome` may hold only some of the ranks (the offsets say which columns each holds): every rank it holds is checked.
Verdict check_against_reference(const ProblemOptions& options, const Outcome& outcome);

// A sharded outcome against a one-rank run of the same problem (`single`): each rank's losses within twice the
// reference's tolerance of the one-rank losses (each run is within it of fp64), and its gradient the matching slice
// of the one-rank gradient within one unit in the last place (fp32: 1e-5 relative), or within both runs' allowances
// for cancelling terms. The worst errors it reports are against the one-rank run. `sharded.reference` supplies the
// sizes of the cancelling terms.
Verdict compare_with_single(const ProblemOptions& options, const Outcome& sharded, const Outcome& single);

// The interpreter backend: host memory, kernels run by the IR interpreter.
std::unique_ptr<Backend> interpreter_backend();

}  // namespace xent::verify
