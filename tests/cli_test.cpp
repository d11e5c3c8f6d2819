// The `xent` program as a user runs it: exit codes and messages, through a real process.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "runtime/tuning/TuningStore.h"
#include "tests/cache_test_support.h"
#include "tests/xent_binary.h"

namespace {

using Result = xent::testing::XentResult;
using xent::testing::run_xent;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// `xent args` fails and says `message`.
void expect_refused(const std::string& args, const std::string& message) {
  Result r = run_xent(args);
  EXPECT_NE(r.status, 0) << args;
  EXPECT_TRUE(contains(r.output, message)) << args << "\n" << r.output;
}

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
  for (const char* command : {"demo", "compile", "run", "bench", "tune", "cache"})
    EXPECT_TRUE(contains(r.output, command));
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

// Row counts outside what a grid can launch, and problems the host cannot hold, are refused before any work.
TEST_F(Cli, DemoAndRunRejectRowCountsAndSizesByName) {
  expect_refused("demo --cpu --no-ir --rows -1", "--rows: Value -1 not in range 1 to 2147483647");
  expect_refused("run --cpu --tokens 0", "--tokens: Value 0 not in range 1 to 2147483647");
  expect_refused("run --cpu --tokens 100000000 --vocab 100000000",
                 "rows x vocab: 100000000 x 100000000 elements need about");
}

TEST_F(Cli, TuneWithoutAGpuFailsNamingWhatIsMissing) {
  Result r = run_xent("tune --vocab 4096 --tokens 64", "XENT_CUDA_LIBRARY=/nonexistent/libcuda.so.1");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "xent tune times kernels on an NVIDIA GPU, and none is usable here: CUDA driver not "
                       "available: /nonexistent/libcuda.so.1"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "`xent tune --show` lists stored results without one")) << r.output;
}

TEST_F(Cli, TuneRejectsBadArgumentsByName) {
  Result r = run_xent("tune --mode sideways");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.output, "--mode: sideways not in {fused,fwd-bwd,fwd}")) << r.output;
  r = run_xent("tune --threads 256");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.output, "--threads")) << r.output;
  r = run_xent("tune --vocab 1000 --vocab-shard 500");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.output, "--mode fused: the fused kernel needs the whole vocabulary on one rank")) << r.output;
  r = run_xent("tune --tokens 0");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.output, "--tokens")) << r.output;
}

TEST_F(Cli, TuneShowOnAnEmptyCache) {
  xent::cache_testing::ScratchDir dir;
  Result r = run_xent("tune --show", "XENT_CACHE_DIR=" + dir.path().string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "tuning results in " + dir.path().string() + ": 0")) << r.output;
  EXPECT_TRUE(contains(r.output, "(none yet: `xent tune` on a GPU machine stores them)")) << r.output;
}

TEST_F(Cli, TuneShowListsStoredResults) {
  using namespace xent;
  xent::cache_testing::ScratchDir dir;
  runtime::DiskCache cache(dir.path());
  CrossEntropySpec spec;
  spec.vocab = spec.vocab_shard = 18992;
  runtime::TuningResult result;
  result.spec = spec.canonical();
  result.kernel = CrossEntropyKernel::Fused;
  result.device = "NVIDIA H100 80GB HBM3";
  result.sm = "sm_90";
  result.rows = result.rows_bucket = 16384;
  result.iterations = 20;
  result.heuristic = tuning_for(spec, CrossEntropyKernel::Fused);
  result.winner = {512, 18992, 1, 1, Staging::Shared};
  result.variants = {{result.heuristic, 0.672, 40, 0, ""}, {result.winner, 0.64, 96, 0, ""}};
  runtime::store_tuning(cache, spec, result);

  Result r = run_xent("tune --show", "XENT_CACHE_DIR=" + dir.path().string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, ": 1\n")) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "ce_fused  NVIDIA H100 80GB HBM3 (sm_90)  bucket 16384  winner "
                       "threads=512;block=18992;unroll=1;cluster=1;staging=shared 0.640 ms  heuristic "
                       "threads=256;block=4096;unroll=1;cluster=1;staging=shared 0.672 ms  ratio 1.05\n"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "    " + spec.canonical() + "\n")) << r.output;
  EXPECT_FALSE(contains(r.output, "another xent build")) << r.output;
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
