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
  result.winner = {512, 18992, 1, 1};
  result.variants = {{result.heuristic, 0.672, 40, 0, ""}, {result.winner, 0.64, 96, 0, ""}};
  runtime::store_tuning(cache, spec, result);

  Result r = run_xent("tune --show", "XENT_CACHE_DIR=" + dir.path().string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, ": 1\n")) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "ce_fused  NVIDIA H100 80GB HBM3 (sm_90)  bucket 16384  winner "
                       "threads=512;block=18992;unroll=1;cluster=1 0.640 ms  heuristic "
                       "threads=256;block=2048;unroll=1;cluster=1 0.672 ms  ratio 1.05\n"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "    " + spec.canonical() + "\n")) << r.output;
  EXPECT_FALSE(contains(r.output, "another xent build")) << r.output;
}
