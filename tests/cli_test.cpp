// The `xent` program as a user runs it: exit codes and messages, through a real process.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/xent_binary.h"

namespace {

using Result = xent::testing::XentResult;
using xent::testing::run_xent;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(xent::testing::xent_binary())) GTEST_SKIP() << "the xent program was not built";
  }
};

}  // namespace

TEST_F(Cli, HelpListsTheSubcommands) {
  Result r = run_xent("--help");
  EXPECT_EQ(r.status, 0) << r.output;
  for (const char* command : {"demo", "compile", "run", "bench", "cache"}) EXPECT_TRUE(contains(r.output, command));
}

TEST_F(Cli, BadFlagsFailWithAMessage) {
  Result r = run_xent("compile --emit=bogus");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.output, "--emit")) << r.output;
  r = run_xent("compile --emit=ir --dtype bf17");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.output, "--dtype: unknown value 'bf17'; use one of f32, bf16, f16")) << r.output;
  r = run_xent("run --cpu --label-smoothing 2");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.output, "label_smoothing: must be in [0, 1]")) << r.output;
}

TEST_F(Cli, CompilePrintsTheRequestedStage) {
  Result r = run_xent("compile --vocab 1000 --emit=ir --kernel ce_fused");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "kernel @ce_fused(")) << r.output;
  r = run_xent("compile --vocab 1000 --emit=ptx --kernel ce_stats --sm sm_80");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, ".visible .entry ce_stats")) << r.output;
}

TEST_F(Cli, DemoAndRunOnTheInterpreterPass) {
  Result r = run_xent("demo --cpu --no-ir --vocab 300 --rows 4");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "xent demo: PASS")) << r.output;
  r = run_xent("run --cpu --vocab 500 --tokens 8 --mode fused");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "xent run: PASS")) << r.output;
}

// `--tp W` needs W GPUs of this machine: fewer (XENT_FAKE_GPU_COUNT GPUs of a stand-in driver) or no driver at all is a
// clear error before any process starts, for both commands.
TEST_F(Cli, TensorParallelNeedsAGpuPerRank) {
  if (!std::filesystem::exists(XENT_FAKE_CUDA_LIBRARY)) GTEST_SKIP() << "the stand-in driver was not built";
  const std::string fake = std::string("XENT_CUDA_LIBRARY=") + XENT_FAKE_CUDA_LIBRARY;
  for (const std::string command : {"run", "bench"}) {
    Result r = run_xent(command + " --tp 2", fake + " XENT_FAKE_GPU_COUNT=1");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "--tp 2: xent " + command + " needs 2 GPUs, one per rank; this machine has 1"))
        << r.output;
    r = run_xent(command + " --tp 4 --tokens 8", fake + " XENT_FAKE_GPU_COUNT=0");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "--tp 4: xent " + command + " needs 4 GPUs, one per rank; this machine has 0"))
        << r.output;
    r = run_xent(command + " --tp 2", "XENT_CUDA_LIBRARY=/nonexistent/libcuda.so.1");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "--tp 2: xent " + command +
                                       " needs 2 GPUs, one per rank, and finds none: CUDA driver not available: "
                                       "/nonexistent/libcuda.so.1"))
        << r.output;
  }
}

TEST_F(Cli, TensorParallelRejectsBadArgumentsNamingThem) {
  for (const char* world : {"0", "-1", "65"}) {
    Result r = run_xent(std::string("run --tp ") + world);
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "--tp: Value " + std::string(world) + " not in range 1 to 64")) << r.output;
    r = run_xent(std::string("bench --tp ") + world);
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "--tp:")) << r.output;
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"run --tp 2 --mode fused", "--mode: fused is one pass over whole rows"},
      {"run --tp 2 --cpu", "--cpu: --tp runs on GPUs"},
      {"run --tp 2 --vocab 1000 --vocab-shard 500", "--vocab-shard: with --tp each rank takes its share"},
      {"run --tp 8 --vocab 5", "--tp: 8 ranks cannot share 5 columns"},
      {"bench --tp 2 --mode fused", "--mode: fused is one pass over whole rows"},
      {"bench --tp 2 --host", "--host: measures one process's host side"},
      {"bench --tp 4 --vocabs 128256,3", "--vocabs: 4 ranks cannot share 3 columns"},
  };
  for (const auto& [arguments, message] : cases) {
    Result r = run_xent(arguments);
    EXPECT_EQ(r.status, 2) << arguments << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, message)) << arguments << "\n" << r.output;
  }
  Result r = run_xent("run --tp-rank 0");  // the hidden options belong to the processes --tp starts
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "--tp")) << r.output;
}

// The whole parent side of `--tp` on a machine without GPUs: a stand-in driver with two GPUs that cannot make a
// context, so both ranks start (with the NCCL id the parent wrote) and fail, or one fails and the other is stopped; the
// parent names each rank and how it ended, and exits 1.
TEST_F(Cli, TensorParallelReportsEveryRankThatFails) {
  if (!std::filesystem::exists(XENT_FAKE_CUDA_LIBRARY)) GTEST_SKIP() << "the stand-in driver was not built";
  const std::string two_gpus = std::string("XENT_CUDA_LIBRARY=") + XENT_FAKE_CUDA_LIBRARY + " XENT_FAKE_GPU_COUNT=2";
  for (const std::string command : {"run", "bench"}) {
    Result r = run_xent(command + " --tp 2 --vocab 1000 --tokens 8", two_gpus);
    if (contains(r.output, "NCCL not available")) GTEST_SKIP() << r.output;
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "xent: " + command + " --tp 2: rank 0 (GPU 0) ")) << r.output;
    EXPECT_TRUE(contains(r.output, "; rank 1 (GPU 1) ")) << r.output;
    // The first rank to fail names itself in its own error (the other may be stopped before it prints its own).
    EXPECT_TRUE(contains(r.output, "xent: internal error: rank 0: ") ||
                contains(r.output, "xent: internal error: rank 1: "))
        << r.output;
  }
}
