// The cross-entropy kernels, run by the interpreter, against the fp64 reference (SPEC.md's test list, CPU side).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "compiler/Error.h"
#include "compiler/ir/Printer.h"
#include "compiler/passes/Pipeline.h"
#include "tests/user_error.h"
#include "tools/verify/CrossEntropyProblem.h"

using namespace xent;
using namespace xent::verify;

namespace {

void check(const ProblemOptions& o) {
  auto backend = interpreter_backend();
  Verdict verdict = check_against_reference(o, run_problem(o, *backend));
  EXPECT_TRUE(verdict.ok) << o.str() << "\n" << verdict.str();
}

ProblemOptions base(DType dtype, int64_t vocab, Mode mode = Mode::ForwardBackward) {
  return ProblemOptions::whole_vocab(dtype, vocab, mode);
}

// The `if`s of printed IR whose condition is a constant (what folding removes).
std::vector<std::string> ifs_on_constants(const std::string& text) {
  std::vector<std::string> found;
  for (size_t at = text.find(" if %"); at != std::string::npos; at = text.find(" if %", at + 1)) {
    size_t start = at + 4, end = text.find_first_of(" {", start);
    std::string condition = text.substr(start, end - start);
    if (text.find(condition + " = constant") != std::string::npos) found.push_back(condition);
  }
  return found;
}

}  // namespace

struct VocabCase {
  DType dtype;
  int64_t vocab;
};

class CrossEntropyVocab : public ::testing::TestWithParam<VocabCase> {};

TEST_P(CrossEntropyVocab, FusedAndForwardBackwardMatchReference) {
  ProblemOptions o = base(GetParam().dtype, GetParam().vocab);
  o.seed = GetParam().vocab * 3;
  for (const ProblemOptions& path : on_every_path(o)) check(path);
}

INSTANTIATE_TEST_SUITE_P(Sizes, CrossEntropyVocab,
                         ::testing::Values(VocabCase{DType::F32, 1}, VocabCase{DType::BF16, 2},
                                           VocabCase{DType::F16, 7}, VocabCase{DType::BF16, 127},
                                           VocabCase{DType::F32, 128}, VocabCase{DType::BF16, 129},
                                           VocabCase{DType::F16, 1000}, VocabCase{DType::BF16, 4095},
                                           VocabCase{DType::F32, 4096}, VocabCase{DType::BF16, 4097},
                                           VocabCase{DType::BF16, 18992}, VocabCase{DType::F16, 32000},
                                           VocabCase{DType::BF16, 50257}));

TEST(CrossEntropy, LayoutsAndLabelTypes) {
  for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Sliced})
    for (LabelType labels : {LabelType::I32, LabelType::I64}) {
      ProblemOptions o = base(DType::BF16, 300);
      o.layout = layout;
      o.spec.label_type = labels;
      o.d0 = 3;
      o.d1 = 4;
      check(o);
    }
}

TEST(CrossEntropy, ReductionsAndNormalizers) {
  for (Reduction reduction : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    ProblemOptions o = base(DType::F32, 257);
    o.spec.reduction = reduction;
    for (const ProblemOptions& path : on_every_path(o)) check(path);
  }
  for (float tokens : {0.0f, 7.0f}) {
    ProblemOptions o = base(DType::BF16, 257);
    o.spec.reduction = Reduction::Sum;
    o.num_label_tokens = tokens;
    for (const ProblemOptions& path : on_every_path(o)) check(path);
  }
}

TEST(CrossEntropy, AllRowsIgnoredGivesZeroLossAndGradient) {
  for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
    ProblemOptions o = base(DType::BF16, 100, mode);
    o.ignore_fraction = 1.0;
    auto backend = interpreter_backend();
    Outcome out = run_problem(o, *backend);
    EXPECT_TRUE(check_against_reference(o, out).ok);
    EXPECT_EQ(out.ranks[0].loss, 0.0f);
    for (float g : out.ranks[0].grad) ASSERT_EQ(g, 0.0f);
  }
}

TEST(CrossEntropy, CustomIgnoreIndexMaskAndWeights) {
  ProblemOptions o = base(DType::BF16, 500);
  o.ignore_index = 3;
  o.spec.has_mask = true;
  o.spec.has_weights = true;
  for (Upstream up : {Upstream::One, Upstream::Scalar, Upstream::PerRow}) {
    o.upstream = up;
    check(o);
  }
}

// A fused call takes one upstream scalar (grad_scale), so a per-row upstream gradient runs forward then backward
// only, and the harness refuses it in a fused call instead of comparing against a reference it cannot match.
TEST(CrossEntropy, PerRowUpstreamRunsForwardThenBackwardOnly) {
  ProblemOptions o = base(DType::BF16, 500);
  o.upstream = Upstream::PerRow;
  std::vector<ProblemOptions> paths = on_every_path(o);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0].mode, Mode::ForwardBackward);
  o.mode = Mode::Fused;
  auto backend = interpreter_backend();
  try {
    run_problem(o, *backend);
    ADD_FAILURE() << "a fused call with a per-row upstream gradient ran";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("Upstream::PerRow needs Mode::ForwardBackward"), std::string::npos)
        << e.what();
  }
}

TEST(CrossEntropy, LabelSmoothingAndZLoss) {
  for (double eps : {0.0, 0.1, 1.0})
    for (double z : {0.0, 1e-4})
      for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
        ProblemOptions o = base(DType::F32, 333, mode);
        o.spec.label_smoothing = eps;
        o.spec.z_loss = z;
        check(o);
      }
}

TEST(CrossEntropy, ConfidentRowsKeepTheirSmallGradient) {
  for (DType dtype : {DType::BF16, DType::F16, DType::F32}) {
    ProblemOptions o = base(dtype, 1000, Mode::Fused);
    o.confident_rows = true;
    o.ignore_fraction = 0.0;
    check(o);
  }
}

TEST(CrossEntropy, MinusInfinityAndNaN) {
  for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
    ProblemOptions o = base(DType::BF16, 300, mode);
    o.minus_inf_blocks = true;
    o.nan_logits = true;
    o.ignore_fraction = 0.0;
    check(o);
  }
}

TEST(CrossEntropy, OutOfRangeLabelsAreCountedAndGiveNaNLoss) {
  ProblemOptions o = base(DType::BF16, 200);
  o.bad_label_fraction = 0.3;
  o.spec.reduction = Reduction::None;
  auto backend = interpreter_backend();
  Outcome out = run_problem(o, *backend);
  EXPECT_TRUE(check_against_reference(o, out).ok);
  EXPECT_GT(out.ranks[0].bad_labels, 0);
}

// One shard's forward is the forward kernel alone (then reduce, when the spec reduces): its program 0 counts the
// call's labels in steps of 4 x 128 rows, so 600 rows take two, and the bad count and the mean's scale must still
// match the reference.
TEST(CrossEntropy, OneShardForwardIsOneLaunchWhoseFirstProgramCountsTheLabels) {
  for (Reduction reduction : {Reduction::None, Reduction::Mean}) {
    ProblemOptions o = base(DType::BF16, 200, Mode::ForwardBackward);
    o.d0 = 2, o.d1 = 300;
    o.bad_label_fraction = 0.05;
    o.spec.reduction = reduction;
    auto backend = interpreter_backend();
    StagedProblem staged = stage_problem(o, *backend);
    const StagedRank& r = staged.ranks.at(0);
    std::vector<Launch> plan = plan_forward(r.spec, r.call);
    ASSERT_EQ(plan.size(), reduction == Reduction::None ? 1u : 2u);
    EXPECT_EQ(plan.front().kernel, CrossEntropyKernel::Forward);
    Outcome out = run_staged(o, *backend, staged);
    EXPECT_GT(out.ranks[0].bad_labels, 0);
    Verdict verdict = check_against_reference(o, out);
    EXPECT_TRUE(verdict.ok) << verdict.str();
  }
}

// A fused call counts its labels in every program of fused_small up to kMaxFusedSmallRows rows, which also reduces the
// loss (one launch, counting its programs on the call's tickets), and in a count launch before ce_fused on more.
// Counting in the kernel over 600 rows takes three steps of 256 rows: the bad count and every gradient's
// 1 / (ok rows) must still match the reference, and the last program must leave the tickets zero (the harness checks).
TEST(CrossEntropy, FusedSmallCountsTheLabelsInEveryProgram) {
  CrossEntropySpec spec;
  CrossEntropyCall call;
  call.d0 = 1;
  auto kernels = [&](int64_t rows) {
    call.d1 = rows;
    std::vector<CrossEntropyKernel> launched;
    for (const Launch& l : plan_fused(spec, call)) launched.push_back(l.kernel);
    return launched;
  };
  using K = CrossEntropyKernel;
  EXPECT_EQ(kernels(kMaxFusedSmallRows + 1), (std::vector<K>{K::Count, K::Fused, K::Reduce}));
  EXPECT_NE(xent::testing::user_error([&] { kernels(kMaxFusedSmallRows); }).find("tickets"), std::string::npos);
  call.tickets = 16;
  EXPECT_EQ(kernels(kMaxFusedSmallRows), (std::vector<K>{K::FusedSmall}));

  ProblemOptions o = base(DType::BF16, 200, Mode::Fused);
  o.d0 = 2, o.d1 = 300;
  o.bad_label_fraction = 0.05;
  o.fused_count = FusedCount::InKernel;
  auto backend = interpreter_backend();
  Outcome out = run_problem(o, *backend);
  EXPECT_GT(out.ranks[0].bad_labels, 0);
  Verdict verdict = check_against_reference(o, out);
  EXPECT_TRUE(verdict.ok) << verdict.str();
}

TEST(CrossEntropy, ForwardOnlyLogProbAndEntropy) {
  ProblemOptions o = base(DType::BF16, 1000, Mode::ForwardOnly);
  o.spec.entropy = true;
  o.spec.reduction = Reduction::None;
  check(o);
}

TEST(CrossEntropy, InPlaceGradient) {
  for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
    ProblemOptions o = base(DType::BF16, 4100, mode);
    o.spec.in_place = true;
    check(o);
  }
}

TEST(CrossEntropy, StreamingTilesMatchWholeRowTiles) {
  for (int64_t block : {int64_t{256}, int64_t{1000}, int64_t{0}}) {
    ProblemOptions o = base(DType::BF16, 3000, Mode::Fused);
    o.spec.tuning.block = block;
    o.spec.tuning.threads = 128;
    o.spec.label_smoothing = 0.1;
    check(o);
  }
}

// Unrolled walks: unmasked groups, then a masked tail of up to `unroll` tiles (none when the groups cover the row), and
// with row heads (Alignment::Base) masked groups throughout.
TEST(CrossEntropy, UnrolledWalksMatchTheReference) {
  for (int unroll : {2, 3})
    for (int64_t vocab : {int64_t{3000}, int64_t{3072}, int64_t{3001}})
      for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
        ProblemOptions o = base(DType::BF16, vocab, mode);
        o.spec.tuning = {.threads = 64, .block = 512, .unroll = unroll};
        o.spec.label_smoothing = unroll == 3 ? 0.1 : 0.0;
        o.misaligned = vocab == 3001;
        if (o.misaligned) o.spec.alignment = Alignment::Base;
        check(o);
      }
}

// The options that change a row's statistics or where its data lies, as the fused-kernel cases below vary them.
struct RowOptions {
  double smoothing = 0.0, z_loss = 0.0;
  bool mask_and_weights = false, in_place = false, misaligned = false;
  void apply(ProblemOptions& o) const {
    o.spec.label_smoothing = smoothing, o.spec.z_loss = z_loss;
    o.spec.has_mask = o.spec.has_weights = mask_and_weights;
    o.spec.in_place = in_place;
    o.misaligned = misaligned;
    if (misaligned) o.spec.alignment = Alignment::Base;
  }
};

// A row split over a cluster of programs (Tuning::cluster), each part in registers or staged in shared memory and
// walked in tiles: parts of every size, the label in any part, every option that changes the merged statistics, rows
// past the vocabulary's end in the last part (or a last part with no column at all), odd rows with heads, and rows
// that split evenly into whole vectors (staged parts then number their own columns, with a masked tail tile).
TEST(CrossEntropy, ClusterPartsMatchTheReference) {
  struct Case {
    DType dtype;
    int64_t vocab;
    int cluster;
    RowOptions options;
  };
  for (const Case& c : {Case{DType::BF16, 3000, 2, {}},
                        Case{DType::F32, 257, 4, {.smoothing = 0.1, .z_loss = 1e-4, .mask_and_weights = true}},
                        Case{DType::F16, 1001, 8, {.in_place = true}},
                        Case{DType::BF16, 50257, 8, {.smoothing = 0.1, .misaligned = true}},
                        Case{DType::BF16, 5, 8, {.smoothing = 1.0, .mask_and_weights = true}},
                        Case{DType::BF16, 2400, 2, {.smoothing = 0.1, .in_place = true}},
                        Case{DType::F32, 1200, 4, {.z_loss = 1e-4, .mask_and_weights = true}}})
    for (Staging staging : {Staging::Global, Staging::Shared}) {
      ProblemOptions o = base(c.dtype, c.vocab, Mode::Fused);
      o.spec.tuning = {
          .threads = 128, .block = staging == Staging::Shared ? 256 : 0, .cluster = c.cluster, .staging = staging};
      c.options.apply(o);
      o.d1 = 23;
      check(o);
    }
}

// Rows staged in shared memory (Staging::Shared), by the fused or the statistics kernel: every dtype, masked tails,
// unrolled walks, whole-row tiles, row heads (odd rows of a 16-byte aligned tensor), in place, every option of the
// statistics, and rows too long for shared memory (their first 200 KiB staged, the rest streamed).
// The interpreter fills shared memory with NaN at each program's start, so a column read but never copied fails.
TEST(CrossEntropy, StagedRowsMatchTheReference) {
  struct Case {
    DType dtype;
    int64_t vocab, block;
    int unroll;
    RowOptions options;
  };
  for (const Case& c :
       {Case{DType::BF16, 3000, 512, 2, {}},
        Case{DType::BF16, 3001, 256, 2, {.smoothing = 0.1, .mask_and_weights = true, .misaligned = true}},
        Case{DType::F32, 1001, 0, 1, {.in_place = true}}, Case{DType::F16, 4096, 4096, 1, {.smoothing = 0.1}},
        // rows with heads (Alignment::Base) longer than a group: the first group copied and read as whole vectors
        Case{DType::BF16, 3001, 256, 2, {.smoothing = 0.1}}, Case{DType::F32, 1001, 128, 2, {.mask_and_weights = true}},
        Case{DType::BF16, 7, 0, 2, {.smoothing = 1.0, .mask_and_weights = true, .in_place = true, .misaligned = true}},
        // 234 KiB rows: the first 200 KiB staged, the rest streamed
        Case{DType::F32, 60000, 4096, 2, {.smoothing = 0.1}},
        Case{DType::BF16, 120001, 2048, 1, {.in_place = true, .misaligned = true}}})
    // Forward then backward: the statistics kernel stages its row, the backward kernel never does.
    for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
      ProblemOptions o = base(c.dtype, c.vocab, mode);
      o.spec.tuning = {.threads = 64, .block = c.block, .unroll = c.unroll, .staging = Staging::Shared};
      c.options.apply(o);
      o.d1 = 7;
      check(o);
    }
}

// On a GPU with little shared memory (spec.shared_memory), rows stage what fits and stream the rest.
TEST(CrossEntropy, StagedRowsOnAGpuWithLittleSharedMemory) {
  for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
    ProblemOptions o = base(DType::BF16, 30001, mode);
    o.spec.shared_memory = 20 * 1024;
    o.spec.tuning = {.threads = 64, .block = 1024, .staging = Staging::Shared};
    o.misaligned = true;
    o.spec.alignment = Alignment::Base;
    check(o);
  }
}

// Staged cluster parts of one tile each on odd rows with heads: the parts split rows at every column offset, so a
// row's label often sits in a part's first columns, where the part's offsets and the row's columns differ by the head.
TEST(CrossEntropy, StagedClusterPartsOwnTheLabelByOffset) {
  ProblemOptions o = base(DType::BF16, 61, Mode::Fused);
  o.spec.tuning = {.threads = 32, .block = 8, .cluster = 8, .staging = Staging::Shared};
  o.spec.alignment = Alignment::Base;
  o.misaligned = true;
  o.d0 = 4, o.d1 = 25;
  o.ignore_fraction = 0.0;
  check(o);
}

// Clusters past the portable 8 programs (16, which an H100 runs once the kernel allows it), on rows that split into
// whole vectors (parts of their own, each staged in two groups of copies) and odd rows.
TEST(CrossEntropy, SixteenProgramClusters) {
  for (int64_t vocab : {int64_t{4096}, int64_t{4001}}) {
    ProblemOptions o = base(DType::BF16, vocab, Mode::Fused);
    o.spec.tuning = {.threads = 32, .block = 64, .cluster = 16, .staging = Staging::Shared};
    o.misaligned = vocab % 8 != 0;
    if (o.misaligned) o.spec.alignment = Alignment::Base;
    o.d0 = 2, o.d1 = 3;
    check(o);
  }
}

// The combine kernel reduces the loss in its last program, which zeroes the tickets again: a second launch of it
// alone (no count kernel before it, as when a caller repeats finish_forward) stores the same loss.
TEST(CrossEntropy, CombinesLastProgramReducesTheLossOnEveryLaunch) {
  ProblemOptions o = base(DType::BF16, 1000, Mode::ForwardBackward);
  o.d0 = 3, o.d1 = 100;  // 300 rows: two combine programs
  auto backend = interpreter_backend();
  StagedProblem staged = stage_problem(o, *backend);
  const StagedRank& r = staged.ranks.at(0);
  std::vector<Launch> forward = plan_statistics(r.spec, r.call);
  for (Launch& l : plan_loss(r.spec, r.call)) forward.push_back(std::move(l));
  auto loss = [&] {
    float value = 0;
    backend->download(&value, r.call.workspace.loss, 4);
    return value;
  };
  backend->execute(r.spec, forward);
  const float first = loss();
  EXPECT_TRUE(std::isfinite(first) && first > 0.0f) << first;
  const float poison = -1.0f;
  backend->upload(r.call.workspace.loss, &poison, 4);
  ASSERT_EQ(forward.back().kernel, CrossEntropyKernel::Combine);
  backend->execute(r.spec, {forward.back()});
  EXPECT_EQ(loss(), first);
  int32_t tickets = -1;
  backend->download(&tickets, r.call.workspace.tickets, 4);
  EXPECT_EQ(tickets, 0);
}

struct ShardCase {
  std::vector<int64_t> shards;
  double smoothing;
};

class TensorParallel : public ::testing::TestWithParam<ShardCase> {};

TEST_P(TensorParallel, EveryRankAgreesWithTheSingleShardReference) {
  const ShardCase& c = GetParam();
  ProblemOptions o = base(DType::BF16, 0);
  for (int64_t w : c.shards) o.spec.vocab += w;
  o.shards = c.shards;
  o.spec.label_smoothing = c.smoothing;
  o.spec.z_loss = 1e-4;
  o.spec.entropy = true;
  o.minus_inf_blocks = true;
  o.ignore_fraction = 0.05;
  check(o);
  o.mode = Mode::ForwardOnly;
  check(o);
}

INSTANTIATE_TEST_SUITE_P(Shards, TensorParallel,
                         ::testing::Values(ShardCase{{700}, 0.0}, ShardCase{{350, 350}, 0.1},
                                           ShardCase{{333, 334, 333}, 0.1}, ShardCase{{100, 1, 500, 64}, 0.0},
                                           ShardCase{{6283, 6282, 6282, 6282, 6282, 6282, 6282, 6282}, 0.1}));

TEST(TensorParallelShards, EvenShardsGiveTheFirstRanksTheRemainder) {
  EXPECT_EQ(even_shards(50257, 8), (std::vector<int64_t>{6283, 6282, 6282, 6282, 6282, 6282, 6282, 6282}));
  EXPECT_EQ(even_shards(10, 4), (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(even_shards(7, 1), (std::vector<int64_t>{7}));
}

// What `xent run --tp` does in each rank's process, on the interpreter: every rank stages the problem alone
// (stage_rank, the same seed), the shards exchange their partials, and each rank checks only its own shard against the
// reference and against the whole vocabulary it staged beside it.
TEST(TensorParallelShards, EachRankAloneMatchesTheReferenceAndTheWholeVocabulary) {
  for (Mode mode : {Mode::ForwardBackward, Mode::ForwardOnly}) {
    ProblemOptions o = base(DType::BF16, 1001, mode);
    o.shards = even_shards(1001, 3);
    o.spec.label_smoothing = 0.1;
    o.spec.z_loss = 1e-4;
    o.upstream = Upstream::PerRow;
    auto backend = interpreter_backend();
    std::vector<RankProblem> ranks;
    StagedProblem together;  // the shards of the ranks' separate stagings, exchanging as NCCL would between them
    for (int r = 0; r < 3; ++r) {
      ranks.push_back(stage_rank(o, *backend, r));
      together.ranks.push_back(ranks[r].shard.ranks[0]);
      together.offsets.push_back(ranks[r].shard.offsets[0]);
    }
    EXPECT_EQ(together.offsets, (std::vector<int64_t>{0, 334, 668}));
    together.reference = ranks[0].shard.reference;
    const Outcome all = run_staged(o, *backend, together);
    ProblemOptions whole = o;
    whole.shards.clear();
    for (int r = 0; r < 3; ++r) {
      SCOPED_TRACE(cat("rank ", r, " mode ", int(mode)));
      Outcome mine;
      mine.ranks = {all.ranks[r]};
      mine.offsets = ranks[r].shard.offsets;
      mine.reference = ranks[r].shard.reference;
      const Verdict fp64 = check_against_reference(o, mine);
      EXPECT_TRUE(fp64.ok) << fp64.str();
      const Outcome one = run_staged(whole, *backend, ranks[r].whole);
      const Verdict against_one = compare_with_single(o, mine, one);
      EXPECT_TRUE(against_one.ok) << against_one.str();
    }
  }
}

TEST(TensorParallelShards, TheComparisonWithOneGpuFindsAWrongElement) {
  ProblemOptions o = base(DType::F32, 500);
  o.shards = even_shards(500, 2);
  auto backend = interpreter_backend();
  const Outcome sharded = run_problem(o, *backend);
  ProblemOptions whole = o;
  whole.shards.clear();
  const Outcome one = run_problem(whole, *backend);
  EXPECT_TRUE(compare_with_single(o, sharded, one).ok);
  Outcome wrong = sharded;
  wrong.ranks[1].grad[3 * 250 + 7] += 1e-3f;
  Verdict v = compare_with_single(o, wrong, one);
  EXPECT_FALSE(v.ok);
  ASSERT_FALSE(v.failures.empty());
  EXPECT_NE(v.failures[0].find("gradient of rank 1 row 3 column 257"), std::string::npos) << v.str();
  wrong = sharded;
  wrong.ranks[0].row_loss[2] *= 1.001f;
  v = compare_with_single(o, wrong, one);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.str().find("loss against one GPU of row 2"), std::string::npos) << v.str();
}

TEST(CrossEntropyKernels, ZeroLabelSmoothingLeavesNoTrace) {
  CrossEntropySpec spec;
  spec.vocab = spec.vocab_shard = 50257;
  for (CrossEntropyKernel kernel : kernels_for(spec)) {
    auto k = build_kernel(kernel, spec);
    passes::PipelineOptions quiet;
    quiet.log = nullptr;
    passes::run_pipeline(*k, constexpr_bindings(spec), quiet);
    std::string text = ir::print(*k);
    EXPECT_EQ(text.find("constexpr"), std::string::npos) << text;
    // The ifs left branch on the row (its label, whether it is ok), never on a specialized constant.
    EXPECT_TRUE(ifs_on_constants(text).empty()) << kernel_name(kernel) << " keeps an if on a constant:\n" << text;
  }
}

TEST(CrossEntropyKernels, BadSpecsNameTheField) {
  CrossEntropySpec spec;
  spec.label_smoothing = 1.5;
  EXPECT_THROW(build_kernel(CrossEntropyKernel::Stats, spec), UserError);
  spec.label_smoothing = 0;
  spec.vocab_shard = spec.vocab + 1;
  try {
    build_kernel(CrossEntropyKernel::Stats, spec);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_shard"), std::string::npos) << e.what();
  }
  spec.vocab_shard = 10;
  EXPECT_THROW(build_kernel(CrossEntropyKernel::Fused, spec), UserError);
  EXPECT_THROW(build_kernel(CrossEntropyKernel::Forward, spec), UserError);
}
