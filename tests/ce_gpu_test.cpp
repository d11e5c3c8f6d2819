// The cross-entropy op on the GPU against the fp64 reference (SPEC.md's test list). Skips without a GPU.
#include <gtest/gtest.h>

#include "runtime/cuda/Context.h"
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
    ProblemOptions o;
    o.spec.dtype = dtype;
    o.spec.vocab = o.spec.vocab_shard = vocab;
    o.mode = mode;
    o.d0 = 4;
    o.d1 = 16;
    return o;
  }
};

}  // namespace

TEST_F(GpuCrossEntropy, VocabSizesAndDtypes) {
  for (DType dtype : {DType::F32, DType::BF16, DType::F16})
    for (int64_t vocab : {1, 2, 7, 127, 128, 129, 1000, 4095, 4096, 4097, 16032, 18992, 32000, 37984, 50257})
      for (Mode mode : {Mode::Fused, Mode::ForwardBackward}) {
        ProblemOptions o = base(dtype, vocab, mode);
        o.seed = vocab + int(dtype) * 7 + int(mode);
        check(o);
      }
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
      check(o);
    }
  ProblemOptions o = base(DType::F32, 3000, Mode::Fused);
  o.spec.reduction = Reduction::Sum;
  o.num_label_tokens = 0.0f;
  check(o);
  o.ignore_fraction = 1.0;
  o.spec.reduction = Reduction::Mean;
  check(o);
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

TEST_F(GpuCrossEntropy, TensorParallelInProcess) {
  std::vector<std::vector<int64_t>> partitions = {
      {8000, 8000}, {6284, 6283, 6283}, {4000, 4001, 3999, 4000}, {6283, 6283, 6283, 6283, 6283, 6283, 6283, 6276},
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
