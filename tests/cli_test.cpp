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
