// The cross-entropy op on the GPU against the fp64 reference (SPEC.md's test list). Skips without a GPU.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <regex>
#include <thread>

#include "compiler/ir/Semantics.h"
#include "kernels/CrossEntropyReference.h"
#include "runtime/CrossEntropyOp.h"
#include "runtime/Jit.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"
#include "tests/xent_binary.h"
#include "tools/verify/CudaBackend.h"

using namespace xent;
using namespace xent::verify;

namespace {

class GpuCrossEntropy : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda::gpu_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  }
  static void check(const ProblemOptions& o) {
    auto backend = cuda_backend();
    Verdict verdict = check_against_reference(o, run_problem(o, *backend));
    EXPECT_TRUE(verdict.ok) << o.str() << "\n" << verdict.str();
  }
  static ProblemOptions base(DType dtype, int64_t vocab, Mode mode = Mode::ForwardBackward) {
    return ProblemOptions::whole_vocab(dtype, vocab, mode, 4, 16);
  }
};

}  // namespace

TEST_F(GpuCrossEntropy, VocabSizesAndDtypes) {
  for (DType dtype : {DType::F32, DType::BF16, DType::F16})
    for (int64_t vocab : {1, 2, 7, 127, 128, 129, 1000, 4095, 4096, 4097, 16032, 18992, 32000, 37984, 50257}) {
      ProblemOptions o = base(dtype, vocab, Mode::Fused);
      o.seed = vocab + int(dtype) * 7;
      for (const ProblemOptions& path : on_every_path(o)) check(path);
    }
}

// An op loads a kernel at the first call that launches it: a fused call of few rows asks the JIT for fused_small
// alone (compiled, or read from the disk cache), a second call for nothing, and a forward then for forward and reduce.
TEST_F(GpuCrossEntropy, AnOpLoadsOnlyTheKernelsItsCallsLaunch) {
  ProblemOptions o = base(DType::BF16, 3011, Mode::Fused);
  o.spec.label_smoothing = 0.03;  // a spec no other test builds, so that no kernel of it is in memory yet
  auto backend = cuda_backend();
  StagedProblem staged = stage_problem(o, *backend);
  const StagedRank& r = staged.ranks.at(0);
  CrossEntropyOp op(r.spec);
  auto loaded_since = [&, before = runtime::PtxJit::instance().counters()]() {
    runtime::JitCounters now = runtime::PtxJit::instance().counters();
    return now.compiles + now.disk_hits - before.compiles - before.disk_hits;
  };
  EXPECT_EQ(loaded_since(), 0u) << "the op loaded kernels before its first call";
  op.enqueue(plan_fused(r.spec, r.call), nullptr);
  EXPECT_EQ(loaded_since(), 1u);
  op.enqueue(plan_fused(r.spec, r.call), nullptr);
  EXPECT_EQ(loaded_since(), 1u);
  XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(nullptr));
  Verdict verdict = check_against_reference(o, collect_outcome(o, *backend, staged));
  EXPECT_TRUE(verdict.ok) << verdict.str();
  op.enqueue(plan_forward(r.spec, r.call), nullptr);
  EXPECT_EQ(loaded_since(), 3u);
  XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(nullptr));
}

TEST_F(GpuCrossEntropy, LargeVocabularies) {
  for (int64_t vocab : {128256, 151936, 256000}) {
    ProblemOptions o = base(DType::BF16, vocab, Mode::Fused);
    o.d0 = 1;
    o.d1 = 8;
    o.spec.label_smoothing = 0.1;
    check(o);
  }
}

TEST_F(GpuCrossEntropy, LayoutsLabelTypesAndAlignment) {
  for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Sliced})
    for (LabelType labels : {LabelType::I32, LabelType::I64})
      for (bool misaligned : {false, true}) {
        ProblemOptions o = base(DType::BF16, 4096);
        o.layout = layout;
        o.spec.label_type = labels;
        o.misaligned = misaligned;
        check(o);
      }
}

TEST_F(GpuCrossEntropy, ReductionsWeightsMasksUpstream) {
  for (Reduction reduction : {Reduction::None, Reduction::Sum, Reduction::Mean})
    for (Upstream upstream : {Upstream::One, Upstream::Scalar, Upstream::PerRow}) {
      ProblemOptions o = base(DType::BF16, 5000);
      o.spec.reduction = reduction;
      o.spec.has_mask = o.spec.has_weights = true;
      o.upstream = upstream;
      o.ignore_index = 7;
      for (const ProblemOptions& path : on_every_path(o)) check(path);
    }
  ProblemOptions o = base(DType::F32, 3000, Mode::Fused);
  o.spec.reduction = Reduction::Sum;
  o.num_label_tokens = 0.0f;
  for (const ProblemOptions& path : on_every_path(o)) check(path);
  o.ignore_fraction = 1.0;
  o.spec.reduction = Reduction::Mean;
  for (const ProblemOptions& path : on_every_path(o)) check(path);
}

TEST_F(GpuCrossEntropy, SmoothingZLossEntropy) {
  for (double eps : {0.0, 0.1, 1.0})
    for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
      ProblemOptions o = base(DType::BF16, 20000, mode);
      o.spec.label_smoothing = eps;
      o.spec.z_loss = 1e-4;
      check(o);
    }
  ProblemOptions o = base(DType::BF16, 20000, Mode::ForwardOnly);
  o.spec.entropy = true;
  o.spec.reduction = Reduction::None;
  check(o);
}

TEST_F(GpuCrossEntropy, HardValues) {
  for (DType dtype : {DType::BF16, DType::F16, DType::F32})
    for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
      ProblemOptions o = base(dtype, 6000, mode);
      o.confident_rows = o.minus_inf_blocks = o.nan_logits = true;
      o.bad_label_fraction = 0.1;
      o.ignore_fraction = 0.05;
      check(o);
    }
}

TEST_F(GpuCrossEntropy, InPlaceAndTunings) {
  for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
    ProblemOptions o = base(DType::BF16, 18992, mode);
    o.spec.in_place = true;
    check(o);
  }
  for (int threads : {128, 256, 512, 1024})
    for (int64_t block : {int64_t{0}, int64_t{1024}, int64_t{4096}, int64_t{18992}}) {
      ProblemOptions o = base(DType::BF16, 18992, Mode::Fused);
      o.spec.tuning = {threads, block};
      check(o);
    }
}

// The fused kernel with each row split over a thread-block cluster (sm_90): every cluster size, odd and large
// vocabularies, every option that changes the merged statistics, in place, and unaligned rows.
TEST_F(GpuCrossEntropy, ClusterFusedRows) {
  const cuda::DeviceInfo& device = cuda::current_device();
  if (device.sm_major < 9) GTEST_SKIP() << "thread-block clusters need sm_90; " << device.name << " is " << device.sm();
  for (int cluster : {2, 3, 4, 8})
    for (int64_t vocab : {int64_t{7}, int64_t{4097}, int64_t{50257}, int64_t{151936}})
      for (DType dtype : {DType::BF16, DType::F32}) {
        if (vocab == 151936 && cluster < 8) continue;  // parts of 19k+ columns and more: long compiles, spills
        ProblemOptions o = base(dtype, vocab, Mode::Fused);
        o.spec.tuning = {.threads = 512, .block = 0, .cluster = cluster};
        o.spec.label_smoothing = cluster == 2 ? 0.1 : 0.0;
        o.spec.z_loss = cluster == 4 ? 1e-4 : 0.0;
        o.spec.has_mask = o.spec.has_weights = cluster == 8;
        o.spec.in_place = cluster == 3;
        o.misaligned = vocab == 50257 && dtype == DType::BF16;
        if (o.misaligned) o.spec.alignment = Alignment::Base;
        o.seed = cluster * 100 + vocab;
        check(o);
      }
}

// The fused kernel with its row staged in shared memory (cp.async): short rows, and long ones whose first 200 KiB are
// staged while the rest streams, every dtype, odd rows read from their 16-byte boundary, in place, and the
// statistics' options.
TEST_F(GpuCrossEntropy, StagedFusedRows) {
  for (int64_t vocab : {int64_t{7}, int64_t{4097}, int64_t{16032}, int64_t{50257}, int64_t{100000}, int64_t{151937}})
    for (DType dtype : {DType::BF16, DType::F32, DType::F16}) {
      ProblemOptions o = base(dtype, vocab, Mode::Fused);
      o.spec.tuning = {.threads = vocab > 20000 ? 1024 : 256, .staging = Staging::Shared};
      o.spec.label_smoothing = vocab == 4097 ? 0.1 : 0.0;
      o.spec.has_mask = o.spec.has_weights = vocab == 16032;
      o.spec.in_place = dtype == DType::F16;
      o.misaligned = vocab % 8 != 0 && dtype != DType::F32;
      if (o.misaligned) o.spec.alignment = Alignment::Base;
      o.seed = vocab + static_cast<int>(dtype);
      check(o);
    }
}

// Clusters whose programs each stage their part of the row in shared memory (sm_90), long and odd rows.
TEST_F(GpuCrossEntropy, StagedClusterFusedRows) {
  const cuda::DeviceInfo& device = cuda::current_device();
  if (device.sm_major < 9) GTEST_SKIP() << "thread-block clusters need sm_90; " << device.name << " is " << device.sm();
  for (int cluster : {2, 4, 8, 16})
    for (int64_t vocab : {int64_t{4097}, int64_t{151936}, int64_t{256001}}) {
      if (cluster == 2 && vocab == 256001) continue;   // 250 KiB parts: more than a program's shared memory
      if (cluster == 16 && vocab == 151936) continue;  // 256001 (odd, heads) and 4097 cover the non-portable size
      ProblemOptions o = base(DType::BF16, vocab, Mode::Fused);
      o.spec.tuning = {.threads = 512, .cluster = cluster, .staging = Staging::Shared};
      o.spec.label_smoothing = cluster == 2 ? 0.1 : 0.0;
      o.spec.has_mask = o.spec.has_weights = cluster == 8;
      o.misaligned = vocab % 8 != 0;
      if (o.misaligned) o.spec.alignment = Alignment::Base;
      o.seed = cluster * 1000 + vocab;
      check(o);
    }
  // f32 rows of 1 MB over 16 programs of 64 KB each (the non-portable cluster size).
  ProblemOptions o = base(DType::F32, 256000, Mode::Fused);
  o.spec.tuning = {.threads = 256, .cluster = 16, .staging = Staging::Shared};
  check(o);
}

// The heuristic's own choices for rows past one program's shared memory: on sm_90 clusters of 4, 8 or 16 programs
// staging parts of their own (bf16 128256, 151936 and 256000, f32 128256, 151936 and 256000, f16 151936); elsewhere
// the first 200 KiB staged and the rest streamed.
TEST_F(GpuCrossEntropy, HeuristicLongFusedRows) {
  struct Case {
    DType dtype;
    int64_t vocab;
  };
  for (const Case& c :
       {Case{DType::BF16, 128256}, Case{DType::BF16, 151936}, Case{DType::BF16, 256000}, Case{DType::F32, 128256},
        Case{DType::F32, 151936}, Case{DType::F32, 256000}, Case{DType::F16, 151936}}) {
    ProblemOptions o = base(c.dtype, c.vocab, Mode::Fused);
    o.seed = c.vocab + static_cast<int>(c.dtype);
    check(o);
  }
}

TEST_F(GpuCrossEntropy, TensorParallelInProcess) {
  std::vector<std::vector<int64_t>> partitions = {{8000, 8000},
                                                  {6284, 6283, 6283},
                                                  {4000, 4001, 3999, 4000},
                                                  {6283, 6283, 6283, 6283, 6283, 6283, 6283, 6276},
                                                  {100, 1, 20000, 64}};
  for (const auto& shards : partitions)
    for (double eps : {0.0, 0.1}) {
      ProblemOptions o = base(DType::BF16, 0);
      for (int64_t w : shards) o.spec.vocab += w;
      o.shards = shards;
      o.spec.label_smoothing = eps;
      o.spec.z_loss = 1e-4;
      o.spec.entropy = true;
      o.minus_inf_blocks = true;
      check(o);
      o.mode = Mode::ForwardOnly;
      check(o);
    }
}

// Rows whose elements lie past 2^31 (SPEC.md: "N·V_r beyond 2^31 elements is addressed correctly"). Constant rows
// have an exact answer (loss ln V, gradient 1/V − onehot); the last row holds random logits, checked against fp64.
TEST_F(GpuCrossEntropy, RowsPastTwoToThe31Elements) {
  const int64_t V = 65536, rows = 32800;  // rows · V = 2.15e9 elements
  CrossEntropySpec spec;
  spec.dtype = DType::BF16;
  spec.vocab = spec.vocab_shard = V;
  spec.in_place = true;
  spec.reduction = Reduction::Sum;
  CrossEntropyOp op(spec);

  cuda::DeviceBuffer logits(size_t(rows) * V * 2), labels(rows * 8), workspace(workspace_bytes(rows, 1));
  std::vector<int64_t> host_labels(rows);
  for (int64_t i = 0; i < rows; ++i) host_labels[i] = (i * 7919) % V;
  labels.upload(host_labels);
  ReferenceProblem last;
  last.rows = 1;
  last.vocab = V;
  last.reduction = Reduction::Sum;
  last.grad_output = {1.0};
  last.labels = {host_labels.back()};
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<uint16_t> row(V);
  for (int64_t j = 0; j < V; ++j) {
    row[j] = ir::float_to_bf16_bits(normal(rng));
    last.logits.push_back(ir::bf16_bits_to_float(row[j]));
  }
  logits.upload(row.data(), V * 2, size_t(rows - 1) * V * 2);

  CrossEntropyCall call;
  call.d0 = 1;
  call.d1 = rows;
  call.logits = call.grad = {logits.address(), rows * V, V};
  call.labels = {labels.address(), rows, 1};
  call.workspace = carve_workspace(workspace.address(), rows, 1);
  op.enqueue(plan_fused(spec, call), nullptr);
  XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(nullptr));

  std::vector<float> losses(rows);
  XENT_CU_CHECK(cuda::driver().cuMemcpyDtoH(losses.data(), call.workspace.loss_rows, rows * 4));
  for (int64_t i = 0; i < rows - 1; i += 997)
    ASSERT_NEAR(losses[i], std::log(double(V)), 1e-5 * std::log(double(V))) << i;
  ReferenceResult ref = reference_cross_entropy(last);
  EXPECT_NEAR(losses.back(), ref.row_loss[0], 1e-5 * std::fabs(ref.row_loss[0]));

  auto gradient_row = [&](int64_t i) {
    std::vector<uint16_t> bits(V);
    logits.download(bits.data(), V * 2, size_t(i) * V * 2);
    std::vector<double> g(V);
    for (int64_t j = 0; j < V; ++j) g[j] = ir::bf16_bits_to_float(bits[j]);
    return g;
  };
  std::vector<double> constant = gradient_row(rows - 2), random = gradient_row(rows - 1);
  for (int64_t j = 0; j < V; ++j) {
    double want = 1.0 / V - (j == host_labels[rows - 2] ? 1.0 : 0.0);
    ASSERT_NEAR(constant[j], want, std::fabs(want) / 128) << "column " << j;
    ASSERT_NEAR(random[j], ref.grad[j], std::fabs(ref.grad[j]) / 128 + 1e-6 * ref.grad_terms[j]) << "column " << j;
  }
}

// A process that finds the kernels in the disk cache loads them without compiling (the second `xent bench --host`):
// the kernels the first process compiled (those its calls launch, change 38) are the ones the second one loads.
TEST_F(GpuCrossEntropy, WarmCacheProcessStartLoadsWithoutCompiling) {
  std::filesystem::path cache = std::filesystem::temp_directory_path() / ("xent-warm-" + std::to_string(getpid()));
  std::filesystem::remove_all(cache);
  auto run = [&] {
    xent::testing::XentResult r = xent::testing::run_xent("bench --host", "XENT_CACHE_DIR=" + cache.string());
    EXPECT_EQ(r.status, 0) << r.output;
    return r.output;
  };
  std::string cold = run(), warm = run();
  std::smatch compiled;
  ASSERT_TRUE(std::regex_search(cold, compiled, std::regex(R"(\((\d+) kernels compiled, 0 from the disk cache\))")))
      << cold;
  EXPECT_GT(std::stoi(compiled[1]), 0) << cold;
  EXPECT_NE(warm.find("(0 kernels compiled, " + compiled[1].str() + " from the disk cache)"), std::string::npos)
      << warm;
  std::filesystem::remove_all(cache);
}

// A framework's worker thread (PyTorch runs backward on its own thread) may have no current context: the op's
// launches still run there, in the op's context, with the same result as on the thread that created it.
TEST_F(GpuCrossEntropy, LaunchesFromAThreadWithoutAContext) {
  const int64_t V = 3000, rows = 64;
  CrossEntropySpec spec;
  spec.vocab = spec.vocab_shard = V;
  spec.alignment = Alignment::Base;
  CrossEntropyOp op(spec);
  cuda::DeviceBuffer logits(rows * V * 2), grad(rows * V * 2), labels(rows * 8), workspace(workspace_bytes(rows, 1));
  std::vector<uint16_t> host(rows * V);
  for (size_t i = 0; i < host.size(); ++i) host[i] = ir::float_to_bf16_bits(float(i % 97) / 13.0f);
  logits.upload(host);
  std::vector<int64_t> host_labels(rows);
  for (int64_t i = 0; i < rows; ++i) host_labels[i] = (i * 31) % V;
  labels.upload(host_labels);
  CrossEntropyCall call;
  call.d0 = 1;
  call.d1 = rows;
  call.logits = {logits.address(), rows * V, V};
  call.grad = {grad.address(), rows * V, V};
  call.labels = {labels.address(), rows, 1};
  call.workspace = carve_workspace(workspace.address(), rows, 1);
  call.tickets = call.workspace.tickets;  // zero from the allocation on; each call's last program zeroes it again
  const std::vector<Launch> plan = plan_fused(spec, call);

  auto run_and_read = [&] {
    op.enqueue(plan, nullptr);
    XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(nullptr));
    std::vector<float> losses(rows);
    XENT_CU_CHECK(cuda::driver().cuMemcpyDtoH(losses.data(), call.workspace.loss_rows, rows * 4));
    return losses;
  };
  std::vector<float> here = run_and_read(), there;
  std::thread worker([&] {
    CUcontext current = nullptr;
    XENT_CU_CHECK(cuda::driver().cuCtxGetCurrent(&current));
    EXPECT_EQ(current, nullptr) << "a new thread starts without a context";
    there = run_and_read();
  });
  worker.join();
  EXPECT_EQ(here, there);
}
