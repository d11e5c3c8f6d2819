// The public API on the GPU against the fp64 reference: the C API's forward + backward, fused, the two-phase form
// with the caller exchanging the partials (W = 2 by hand), aligned and unaligned tensors, in place, the checking mode,
// CUDA-graph capture of fused, and two threads with different specs at once. The problems are tools/verify's, staged
// on the GPU and run through the API instead of the launch plans. Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <thread>

#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "tools/verify/CudaBackend.h"
#include "xent/xent.h"
#include "xent/xent.hpp"

using namespace xent;
using namespace xent::verify;

namespace {

#define ASSERT_XENT_OK(call) ASSERT_EQ((call), XENT_OK) << xent_last_error()

xent_dtype dtype_of(DType d) { return d == DType::F32 ? XENT_F32 : d == DType::BF16 ? XENT_BF16 : XENT_F16; }

xent_rows rows(const RowTensorRef& t, xent_dtype dtype) { return {t.address, t.s0, t.s1, dtype}; }

// The op of one staged rank.
xent_options options_of(const StagedRank& r, int64_t offset, bool check_labels = false) {
  const CrossEntropySpec& s = r.spec;
  xent_options o{};
  o.dtype = dtype_of(s.dtype);
  o.label_dtype = s.label_type == LabelType::I32 ? XENT_I32 : XENT_I64;
  o.vocab = s.vocab;
  o.vocab_offset = offset;
  o.vocab_shard = s.vocab_shard;
  o.rank = r.call.rank;
  o.world = r.call.world;
  o.label_smoothing = s.label_smoothing;
  o.z_loss = s.z_loss;
  o.reduction = static_cast<xent_reduction>(s.reduction);
  o.has_mask = s.has_mask;
  o.has_weights = s.has_weights;
  o.entropy = s.entropy;
  o.in_place = s.in_place;
  o.check_labels = check_labels;
  return o;
}

// The call's tensors as API arguments; the workspace is the one the staging carved.
xent_args args_of(const StagedRank& r) {
  const CrossEntropyCall& c = r.call;
  const xent_dtype dtype = dtype_of(r.spec.dtype);
  xent_args a{};
  a.d0 = c.d0;
  a.d1 = c.d1;
  a.logits = rows(c.logits, dtype);
  a.labels = rows(c.labels, r.spec.label_type == LabelType::I32 ? XENT_I32 : XENT_I64);
  a.mask = rows(c.mask, XENT_I32);
  a.weights = c.weights;
  a.grad = rows(c.grad, dtype);
  a.grad_output = rows(c.grad_output, XENT_F32);
  a.grad_scale = c.grad_scale;
  a.ignore_index = c.ignore_index;
  a.num_label_tokens = c.normalizer;
  a.workspace = r.workspace;
  EXPECT_EQ(xent_workspace_bytes(c.rows(), c.world, &a.workspace_bytes), XENT_OK);
  return a;
}

struct Op {
  explicit Op(const xent_options& o) { EXPECT_EQ(xent_create(&o, &op), XENT_OK) << xent_last_error(); }
  ~Op() { xent_destroy(op); }
  xent_op* op = nullptr;
};

struct Stream {
  explicit Stream(unsigned flags = CU_STREAM_DEFAULT) { XENT_CU_CHECK(cuda::driver().cuStreamCreate(&stream, flags)); }
  ~Stream() { XENT_CU_CHECK_NOEXCEPT(cuda::driver().cuStreamDestroy(stream)); }
  void sync() const { XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(stream)); }
  CUstream stream = nullptr;
};

// A one-rank problem staged on the GPU, with the op and the API arguments of its call.
struct OneRank {
  explicit OneRank(const ProblemOptions& o)
      : options(o),
        backend(cuda_backend()),
        staged(stage_problem(o, *backend)),
        op(options_of(staged.ranks[0], 0)),
        args(args_of(staged.ranks[0])) {}
  const CrossEntropyCall& call() const { return staged.ranks[0].call; }
  // What the calls left in the staged buffers, and its comparison with the reference.
  Outcome outcome() const { return collect_outcome(options, *backend, staged); }
  Verdict verdict() const { return check_against_reference(options, outcome()); }

  ProblemOptions options;
  std::unique_ptr<Backend> backend;
  StagedProblem staged;
  Op op;
  xent_args args;
};

// Runs a one-rank problem through the C API (fused, or forward then backward) and checks it.
void check_single_rank(const ProblemOptions& o) {
  OneRank r(o);
  Stream s;
  if (o.mode == Mode::Fused) {
    ASSERT_XENT_OK(xent_fused(r.op.op, &r.args, s.stream));
  } else {
    ASSERT_XENT_OK(xent_forward(r.op.op, &r.args, s.stream));
    ASSERT_XENT_OK(xent_backward(r.op.op, &r.args, s.stream));
  }
  s.sync();
  Verdict verdict = r.verdict();
  EXPECT_TRUE(verdict.ok) << o.str() << "\n" << verdict.str();
}

ProblemOptions problem(DType dtype, int64_t vocab, Mode mode) {
  return ProblemOptions::whole_vocab(dtype, vocab, mode, 4, 16);
}

float read_f32(CUdeviceptr at) {
  float value = 0;
  XENT_CU_CHECK(cuda::driver().cuMemcpyDtoH(&value, at, sizeof(value)));
  return value;
}

class GpuApi : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda::gpu_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  }
};

}  // namespace

TEST_F(GpuApi, ForwardBackwardAndFusedAlignedAndNot) {
  for (Mode mode : {Mode::ForwardBackward, Mode::Fused})
    for (bool misaligned : {false, true}) {
      ProblemOptions o = problem(DType::BF16, 4096, mode);  // 16-byte rows: the aligned variant unless misaligned
      o.misaligned = misaligned;
      o.layout = Layout::Transposed;
      o.spec.label_smoothing = 0.1;
      check_single_rank(o);
    }
  ProblemOptions o = problem(DType::F32, 50257, Mode::ForwardBackward);  // odd rows: unaligned
  o.spec.has_mask = o.spec.has_weights = o.spec.entropy = true;
  o.upstream = Upstream::PerRow;
  o.layout = Layout::Sliced;
  o.spec.label_type = LabelType::I32;
  check_single_rank(o);
}

TEST_F(GpuApi, InPlace) {
  for (Mode mode : {Mode::ForwardBackward, Mode::Fused}) {
    ProblemOptions o = problem(DType::BF16, 32000, mode);
    o.spec.in_place = true;
    o.spec.z_loss = 1e-4;
    o.upstream = Upstream::Scalar;
    check_single_rank(o);
  }
}

TEST_F(GpuApi, TwoPhaseWithTheCallersExchange) {
  ProblemOptions o = problem(DType::BF16, 5003, Mode::ForwardBackward);
  o.shards = {2500, 2503};
  o.spec.label_smoothing = 0.1;
  o.spec.reduction = Reduction::Sum;
  auto backend = cuda_backend();
  StagedProblem staged = stage_problem(o, *backend);
  Stream s;
  std::vector<std::unique_ptr<Op>> ops;
  std::vector<xent_args> args;
  std::vector<struct xent_outputs> outputs(2);
  for (int r = 0; r < 2; ++r) {
    ops.push_back(std::make_unique<Op>(options_of(staged.ranks[r], staged.offsets[r])));
    args.push_back(args_of(staged.ranks[r]));
    ASSERT_XENT_OK(xent_outputs(ops[r]->op, &args[r], &outputs[r]));
    ASSERT_XENT_OK(xent_partials(ops[r]->op, &args[r], s.stream));
  }
  // The all-gather, done by the caller: each rank's slice into the other's partials region.
  const size_t slice = outputs[0].partials_rank_bytes;
  for (int from = 0; from < 2; ++from)
    XENT_CU_CHECK(cuda::driver().cuMemcpyDtoDAsync(outputs[1 - from].partials + from * slice,
                                                   outputs[from].partials + from * slice, slice, s.stream));
  for (int r = 0; r < 2; ++r) {
    ASSERT_XENT_OK(xent_finish_forward(ops[r]->op, &args[r], s.stream));
    ASSERT_XENT_OK(xent_backward(ops[r]->op, &args[r], s.stream));
  }
  s.sync();
  Verdict verdict = check_against_reference(o, collect_outcome(o, *backend, staged));
  EXPECT_TRUE(verdict.ok) << verdict.str();
}

TEST_F(GpuApi, ZeroRowsGiveZeroLoss) {
  OneRank r(problem(DType::BF16, 1000, Mode::Fused));
  xent_args& a = r.args;
  ASSERT_XENT_OK(xent_fused(r.op.op, &a, nullptr));
  struct xent_outputs out {};
  ASSERT_XENT_OK(xent_outputs(r.op.op, &a, &out));
  EXPECT_NE(read_f32(out.loss), 0.0f);
  a.d0 = 0;
  a.logits.data = a.labels.data = a.grad.data = 0;  // empty tensors may have no storage
  ASSERT_XENT_OK(xent_fused(r.op.op, &a, nullptr));
  EXPECT_EQ(read_f32(out.loss), 0.0f);
}

TEST_F(GpuApi, CheckingModeRaisesWithTheFirstBadRow) {
  ProblemOptions o = problem(DType::F32, 3000, Mode::Fused);
  o.bad_label_fraction = 0.2;
  o.seed = 5;
  auto backend = cuda_backend();
  StagedProblem staged = stage_problem(o, *backend);
  const ReferenceResult& ref = staged.reference;
  ASSERT_GT(ref.bad_labels, 0);
  int64_t first = 0;
  while (!std::isnan(ref.row_loss[first])) ++first;  // a bad label's row has a NaN loss
  Op checking(options_of(staged.ranks[0], 0, true));
  xent_args a = args_of(staged.ranks[0]);
  for (auto call : {xent_fused, xent_forward}) {
    EXPECT_EQ(call(checking.op, &a, nullptr), XENT_ERROR_BAD_LABELS);
    const std::string message = xent_last_error();
    EXPECT_NE(message.find(std::to_string(ref.bad_labels) + " out of range"), std::string::npos) << message;
    EXPECT_NE(message.find("at row " + std::to_string(first)), std::string::npos) << message;
  }
  Op plain(options_of(staged.ranks[0], 0));
  ASSERT_XENT_OK(xent_fused(plain.op, &a, nullptr));  // no check: NaN losses, and the count
  int64_t count = 0;
  ASSERT_XENT_OK(xent_bad_labels(plain.op, &a, nullptr, &count));
  EXPECT_EQ(count, ref.bad_labels);

  CrossEntropyOptions cpp;
  cpp.dtype = ElementType::F32;
  cpp.vocab = 3000;
  cpp.check_labels = true;
  CrossEntropy op(cpp);
  Args args;
  args.d0 = a.d0, args.d1 = a.d1;
  args.logits = {a.logits.data, a.logits.stride0, a.logits.stride1, ElementType::F32};
  args.labels = {a.labels.data, a.labels.stride0, a.labels.stride1, ElementType::I64};
  args.workspace = a.workspace, args.workspace_bytes = a.workspace_bytes;
  try {
    op.forward(args, nullptr);
    FAIL() << "bad labels not reported";
  } catch (const BadLabelsError& e) {
    EXPECT_EQ(e.count(), ref.bad_labels);
    EXPECT_EQ(e.first_row(), first);
  }
}

TEST_F(GpuApi, FusedCapturedInAGraphReplays) {
  OneRank r(problem(DType::BF16, 18992, Mode::Fused));
  Stream s(CU_STREAM_NON_BLOCKING);
  ASSERT_XENT_OK(xent_fused(r.op.op, &r.args, s.stream));  // compiles and loads outside the capture
  s.sync();
  const Outcome eager = r.outcome();

  const cuda::Driver& d = cuda::driver();
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  XENT_CU_CHECK(d.cuStreamBeginCapture(s.stream, CU_STREAM_CAPTURE_MODE_GLOBAL));
  ASSERT_XENT_OK(xent_fused(r.op.op, &r.args, s.stream));
  XENT_CU_CHECK(d.cuStreamEndCapture(s.stream, &graph));
  XENT_CU_CHECK(d.cuGraphInstantiate(&exec, graph, 0));
  for (int replay = 0; replay < 2; ++replay) {
    XENT_CU_CHECK(d.cuMemsetD8(r.staged.ranks[0].grad_buffer, 0, r.staged.ranks[0].grad_elements * 2));
    // A captured small call counts on the workspace's tickets, which the graph zeroes first (runtime/StreamTickets.h):
    // whatever they hold before a replay.
    XENT_CU_CHECK(d.cuMemsetD8(r.call().workspace.tickets, 0x5A, 4));
    XENT_CU_CHECK(d.cuGraphLaunch(exec, s.stream));
    s.sync();
    const Outcome replayed = r.outcome();
    EXPECT_EQ(replayed.ranks[0].grad, eager.ranks[0].grad) << "replay " << replay;
    EXPECT_EQ(replayed.ranks[0].loss, eager.ranks[0].loss) << "replay " << replay;
    Verdict verdict = check_against_reference(r.options, replayed);
    EXPECT_TRUE(verdict.ok) << verdict.str();
  }
  XENT_CU_CHECK(d.cuGraphExecDestroy(exec));
  XENT_CU_CHECK(d.cuGraphDestroy(graph));
}

// Small fused calls are one launch that counts its programs on the op's ticket counter for the stream: calls on two
// streams at once, each on its own problem, must each find their own last program, call after call.
TEST_F(GpuApi, SmallFusedCallsOnTwoStreamsAtOnce) {
  ProblemOptions first = problem(DType::BF16, 32000, Mode::Fused), second = first;
  second.seed = 2;
  auto backend = cuda_backend();
  StagedProblem staged[2] = {stage_problem(first, *backend), stage_problem(second, *backend)};
  Op op(options_of(staged[0].ranks[0], 0));
  xent_args args[2] = {args_of(staged[0].ranks[0]), args_of(staged[1].ranks[0])};
  Stream streams[2] = {Stream(CU_STREAM_NON_BLOCKING), Stream(CU_STREAM_NON_BLOCKING)};
  for (int call = 0; call < 50; ++call)
    for (int i = 0; i < 2; ++i) ASSERT_XENT_OK(xent_fused(op.op, &args[i], streams[i].stream));
  for (int i = 0; i < 2; ++i) {
    streams[i].sync();
    const ProblemOptions& o = i == 0 ? first : second;
    Verdict verdict = check_against_reference(o, collect_outcome(o, *backend, staged[i]));
    EXPECT_TRUE(verdict.ok) << "stream " << i << ": " << verdict.str();
  }
}

// An op has ticket counters for 64 streams; a small fused call on a stream past those, or on the per-thread default
// stream, zeroes the workspace's counter on the stream and counts on that (runtime/StreamTickets.h). Each call must
// still reduce its loss: it is cleared on the stream before each call.
TEST_F(GpuApi, SmallFusedCallsPastTheStreamCounters) {
  OneRank r(problem(DType::BF16, 16032, Mode::Fused));
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < 66; ++i) streams.push_back(std::make_unique<Stream>(CU_STREAM_NON_BLOCKING));
  auto call_on = [&](CUstream stream, const std::string& which) {
    XENT_CU_CHECK(cuda::driver().cuMemsetD8Async(r.call().workspace.loss, 0, 4, stream));
    ASSERT_XENT_OK(xent_fused(r.op.op, &r.args, stream));
    XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(stream));
    Verdict verdict = r.verdict();
    EXPECT_TRUE(verdict.ok) << which << ": " << verdict.str();
  };
  for (size_t i = 0; i < streams.size(); ++i) call_on(streams[i]->stream, "stream " + std::to_string(i));
  call_on(CU_STREAM_PER_THREAD, "the per-thread stream");
}

TEST_F(GpuApi, TwoThreadsCreateAndLaunchDifferentSpecs) {
  ProblemOptions fused = problem(DType::BF16, 3001, Mode::Fused);
  ProblemOptions split = problem(DType::F16, 777, Mode::ForwardBackward);
  split.spec.label_smoothing = 0.2;
  std::thread a([&] { check_single_rank(fused); });
  std::thread b([&] { check_single_rank(split); });
  a.join();
  b.join();
}
