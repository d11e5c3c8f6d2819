// `xent run --tp` and `xent bench --tp` end to end on the GPU, through real processes and NCCL: W = 1 (NCCL world 1)
// on any GPU machine, and W = every GPU of the machine where it has several. Skips without a GPU or NCCL.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "runtime/collective/NcclLibrary.h"
#include "runtime/cuda/Context.h"
#include "tests/xent_binary.h"

namespace {

using Result = xent::testing::XentResult;
using xent::testing::run_xent;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class GpuCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!std::filesystem::exists(xent::testing::xent_binary())) GTEST_SKIP() << "the xent program was not built";
    if (!xent::cuda::gpu_available(&why)) GTEST_SKIP() << "no GPU: " << why;
    if (!xent::nccl::available(&why)) GTEST_SKIP() << "no NCCL: " << why;
  }

  // Every rank checked its shard against fp64, the whole vocabulary on its GPU and rank 0's loss; the parent agrees.
  static void expect_run_passes(int world, const std::string& arguments) {
    const std::string tp = "--tp " + std::to_string(world);
    Result r = run_xent("run " + tp + " " + arguments);
    EXPECT_EQ(r.status, 0) << r.output;
    for (int rank = 0; rank < world; ++rank)
      EXPECT_TRUE(contains(r.output, "xent run " + tp + ", rank " + std::to_string(rank) + ": PASS")) << r.output;
    EXPECT_TRUE(contains(r.output, "loss bitwise equal on ")) << r.output;
    EXPECT_TRUE(contains(r.output, "xent run " + tp + ": PASS on ")) << r.output;
  }

  static void expect_bench_passes(int world, const std::string& arguments) {
    const std::string tp = "--tp " + std::to_string(world);
    Result r = run_xent("bench " + tp + " " + arguments);
    EXPECT_EQ(r.status, 0) << r.output;
    for (const char* vocab : {"V = 128256 over ", "V = 151936 over "})
      EXPECT_TRUE(contains(r.output, vocab)) << r.output;
    EXPECT_TRUE(contains(r.output, "step / one GPU")) << r.output;
    EXPECT_TRUE(contains(r.output, "xent bench " + tp + ": PASS on ")) << r.output;
  }
};

}  // namespace

TEST_F(GpuCli, TensorParallelOnOneGpu) {
  expect_run_passes(1, "--vocab 50257 --tokens 512 --label-smoothing 0.1");
  expect_run_passes(1, "--vocab 32000 --tokens 256 --mode fwd --dtype f32");
  expect_bench_passes(1, "--tokens 1024 --iterations 5");
}

TEST_F(GpuCli, TensorParallelOnEveryGpu) {
  const int gpus = xent::cuda::device_count();
  if (gpus < 2) GTEST_SKIP() << "one GPU: tensor parallelism across processes needs a machine with several";
  expect_run_passes(gpus, "--vocab 50257 --tokens 1024 --label-smoothing 0.1 --z-loss 1e-4");
  expect_bench_passes(gpus, "--tokens 1024 --iterations 5");
}
