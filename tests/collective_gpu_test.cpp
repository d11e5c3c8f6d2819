// Tensor parallelism on the GPU through the one-call forms: W ranks of the in-process collective on one GPU (each rank
// on its own thread, all on one stream), forward + backward through CrossEntropy::forward bound to the collective,
// checked against the fp64 reference, across ranks (bitwise the same loss) and against the single-GPU run of the same
// problem (each rank's gradient is its slice); the partition check at bind; NCCL with world 1 through
// xent_create_nccl_from_id and through a communicator the test makes itself, as an engine would. Skips without a GPU,
// and the NCCL tests without libnccl.so.2.
#include <gtest/gtest.h>

#include <bit>
#include <thread>

#include "runtime/collective/InProcessCollective.h"
#include "runtime/collective/NcclLibrary.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "tools/verify/ApiArguments.h"
#include "tools/verify/CudaBackend.h"
#include "xent/xent.h"
#include "xent/xent.hpp"

using namespace xent;
using namespace xent::verify;

namespace {

#define ASSERT_XENT_OK(call) ASSERT_EQ((call), XENT_OK) << xent_last_error()

xent_rows c_rows(const Rows& t) { return {t.data, t.stride0, t.stride1, static_cast<xent_dtype>(t.dtype)}; }

xent_options c_options(const CrossEntropyOptions& o) {
  xent_options c{};
  c.dtype = static_cast<xent_dtype>(o.dtype), c.label_dtype = static_cast<xent_dtype>(o.label_dtype);
  c.vocab = o.vocab, c.vocab_offset = o.vocab_offset, c.vocab_shard = o.vocab_shard;
  c.rank = o.rank, c.world = o.world;
  c.label_smoothing = o.label_smoothing, c.z_loss = o.z_loss;
  c.reduction = static_cast<xent_reduction>(o.reduction);
  c.has_mask = o.has_mask, c.has_weights = o.has_weights, c.entropy = o.entropy, c.in_place = o.in_place;
  return c;
}

xent_args c_args(const Args& a) {
  return {a.d0,
          a.d1,
          c_rows(a.logits),
          c_rows(a.labels),
          c_rows(a.mask),
          a.weights,
          c_rows(a.grad),
          c_rows(a.grad_output),
          a.grad_scale,
          a.ignore_index,
          a.num_label_tokens,
          a.workspace,
          a.workspace_bytes};
}

struct Stream {
  Stream() { XENT_CU_CHECK(cuda::driver().cuStreamCreate(&stream, CU_STREAM_DEFAULT)); }
  ~Stream() { XENT_CU_CHECK_NOEXCEPT(cuda::driver().cuStreamDestroy(stream)); }
  void sync() const { XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(stream)); }
  CUstream stream = nullptr;
};

// W ranks of `o` through the in-process collective: bind, forward, backward, each rank on its own thread.
Outcome run_in_process(const ProblemOptions& o, Backend& backend) {
  StagedProblem staged = stage_problem(o, backend);
  const int W = int(staged.ranks.size());
  auto group = std::make_shared<InProcessGroup>(W);
  Stream s;
  std::vector<std::thread> threads;
  for (int r = 0; r < W; ++r)
    threads.emplace_back([&, r] {
      try {
        CrossEntropy op(api_options(staged.ranks[r]));
        op.bind(std::make_shared<InProcessCollective>(group, r), s.stream);
        const Args a = api_args(staged.ranks[r]);
        op.forward(a, s.stream);
        op.backward(a, s.stream);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "rank " << r << ": " << e.what();
      }
    });
  for (auto& t : threads) t.join();
  s.sync();
  return collect_outcome(o, backend, staged);
}

class GpuCollective : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda::gpu_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  }
};

struct Case {
  DType dtype;
  std::vector<int64_t> shards;
  double label_smoothing, z_loss;
  bool entropy;
  Reduction reduction;
};

}  // namespace

TEST_F(GpuCollective, InProcessRanksMatchTheReferenceEachOtherAndOneGpu) {
  const std::vector<Case> cases = {
      {DType::BF16, even_shards(5000, 2), 0.0, 0.0, false, Reduction::Mean},
      {DType::F32, {1700, 1650, 1651}, 0.1, 1e-4, true, Reduction::Sum},
      {DType::BF16, even_shards(4096, 4), 0.1, 0.0, true, Reduction::Mean},
      {DType::F16, {1000, 3000, 1, 999}, 0.0, 1e-4, false, Reduction::None},
      {DType::BF16, even_shards(50257, 8), 0.1, 1e-4, true, Reduction::Mean},
      {DType::F32, even_shards(50257, 8), 1.0, 0.0, false, Reduction::Sum},
  };
  auto backend = cuda_backend();
  for (const Case& c : cases) {
    ProblemOptions o;
    o.spec.dtype = c.dtype;
    int64_t vocab = 0;
    for (int64_t s : c.shards) vocab += s;
    o.spec.vocab = vocab;
    o.spec.label_smoothing = c.label_smoothing, o.spec.z_loss = c.z_loss, o.spec.entropy = c.entropy;
    o.spec.reduction = c.reduction;
    o.shards = c.shards;
    o.d0 = 3, o.d1 = 41;
    o.mode = Mode::ForwardBackward;
    o.upstream = Upstream::PerRow;
    SCOPED_TRACE(o.str());
    const Outcome sharded = run_in_process(o, *backend);
    const Verdict verdict = check_against_reference(o, sharded);
    EXPECT_TRUE(verdict.ok) << verdict.str();

    for (size_t r = 1; r < sharded.ranks.size(); ++r) {
      EXPECT_EQ(std::bit_cast<uint32_t>(sharded.ranks[r].loss), std::bit_cast<uint32_t>(sharded.ranks[0].loss))
          << "rank " << r;
      for (size_t i = 0; i < sharded.ranks[0].row_loss.size(); ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(sharded.ranks[r].row_loss[i]),
                  std::bit_cast<uint32_t>(sharded.ranks[0].row_loss[i]))
            << "rank " << r << " row " << i;
    }

    ProblemOptions single = o;
    single.shards.clear();
    const Verdict against_one = compare_with_single(o, sharded, run_problem(single, *backend));
    EXPECT_TRUE(against_one.ok) << against_one.str();
  }
}

TEST_F(GpuCollective, BindNamesTheRankThatDisagrees) {
  ProblemOptions o;
  o.spec.dtype = DType::BF16;
  o.spec.vocab = 3000;
  o.shards = {1000, 2000};
  auto backend = cuda_backend();
  StagedProblem staged = stage_problem(o, *backend);
  auto group = std::make_shared<InProcessGroup>(2);
  Stream s;
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      CrossEntropyOptions options = api_options(staged.ranks[r]);
      if (r == 1) options.label_smoothing = 0.1;
      try {
        CrossEntropy(options).bind(std::make_shared<InProcessCollective>(group, r), s.stream);
      } catch (const Error& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (const std::string& e : errors)
    EXPECT_NE(e.find("rank 1 disagrees with rank 0 on options.label_smoothing"), std::string::npos) << e;
}

class GpuNccl : public GpuCollective {
 protected:
  void SetUp() override {
    GpuCollective::SetUp();
    if (IsSkipped()) return;
    std::string why;
    if (!nccl::available(&why)) GTEST_SKIP() << "no NCCL: " << why;
  }

  // One rank holding the whole vocabulary, forward + backward through `op`, against the reference.
  static void check_world_one(xent_op* op, const ProblemOptions& o, Backend& backend, const StagedProblem& staged) {
    xent_args a = c_args(api_args(staged.ranks[0]));
    Stream s;
    ASSERT_XENT_OK(xent_forward(op, &a, s.stream));
    ASSERT_XENT_OK(xent_backward(op, &a, s.stream));
    s.sync();
    const Verdict verdict = check_against_reference(o, collect_outcome(o, backend, staged));
    EXPECT_TRUE(verdict.ok) << verdict.str();
  }

  static ProblemOptions problem() {
    ProblemOptions o;
    o.spec.dtype = DType::BF16;
    o.spec.vocab = 32000;
    o.spec.label_smoothing = 0.1;
    o.spec.entropy = true;
    o.mode = Mode::ForwardBackward;
    return o;
  }
};

TEST_F(GpuNccl, WorldOneFromAUniqueId) {
  const ProblemOptions o = problem();
  auto backend = cuda_backend();
  StagedProblem staged = stage_problem(o, *backend);
  char id[XENT_NCCL_UNIQUE_ID_BYTES];
  ASSERT_XENT_OK(xent_nccl_unique_id(id));
  const xent_options options = c_options(api_options(staged.ranks[0]));
  xent_op* op = nullptr;
  ASSERT_XENT_OK(xent_create_nccl_from_id(&options, id, &op));
  check_world_one(op, o, *backend, staged);
  xent_destroy(op);
}

TEST_F(GpuNccl, TheCallersCommunicator) {
  const ProblemOptions o = problem();
  auto backend = cuda_backend();
  StagedProblem staged = stage_problem(o, *backend);
  const nccl::Library& l = nccl::library();
  ncclUniqueId id;
  XENT_NCCL_CHECK(l.ncclGetUniqueId(&id));
  ncclComm_t comm = nullptr;
  XENT_NCCL_CHECK(l.ncclCommInitRank(&comm, 1, id, 0));
  const xent_options options = c_options(api_options(staged.ranks[0]));
  xent_op* op = nullptr;
  ASSERT_XENT_OK(xent_create_nccl(&options, comm, &op));
  check_world_one(op, o, *backend, staged);
  xent_destroy(op);

  xent_options wrong = options;  // rank 0 of 2 against a communicator of 1
  wrong.world = 2, wrong.vocab_shard = 16000;
  EXPECT_EQ(xent_create_nccl(&wrong, comm, &op), XENT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(xent_last_error()).find("the collective is rank 0 of 1"), std::string::npos)
      << xent_last_error();
  XENT_NCCL_CHECK(l.ncclCommDestroy(comm));  // still the caller's: the ops did not own it
}
