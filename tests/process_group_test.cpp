// The process group behind `xent run --tp` (tools/xent/ProcessGroup.h), driven with shell commands as members: a
// member that breaks stops the others at once, a failed check does not, and every end is described.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>

#include "compiler/Error.h"
#include "tools/xent/ProcessGroup.h"

using namespace xent::tools;

namespace {

// Members that wait long run `exec sleep`, so that stopping one leaves no orphan behind.
std::vector<std::string> shell(const std::string& script) { return {"sh", "-c", script}; }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST(ProcessGroup, AllPass) {
  const GroupEnd end = run_group("/bin/sh", {shell("exit 0"), shell("sleep 0.1")});
  ASSERT_EQ(end.members.size(), 2u);
  EXPECT_EQ(end.first_broken, -1);
  EXPECT_EQ(end.interrupted, 0);
  for (const MemberEnd& m : end.members) EXPECT_EQ(describe(m), "passed");
}

TEST(ProcessGroup, AFailedCheckLetsTheOthersFinish) {
  const GroupEnd end = run_group("/bin/sh", {shell("sleep 0.3"), shell("exit 1")});
  EXPECT_EQ(end.first_broken, -1);
  EXPECT_EQ(describe(end.members[0]), "passed");
  EXPECT_EQ(describe(end.members[1]), "failed its check (see its output above)");
}

TEST(ProcessGroup, AMemberThatBreaksStopsTheOthers) {
  const auto start = std::chrono::steady_clock::now();
  const GroupEnd end = run_group("/bin/sh", {shell("exec sleep 60"), shell("exit 3"), shell("exec sleep 60")});
  EXPECT_LT(seconds_since(start), 20.0) << "the members blocked forever were not stopped";
  EXPECT_EQ(end.first_broken, 1);
  EXPECT_EQ(describe(end.members[1]), "exited with status 3 (see its error above)");
  for (int i : {0, 2}) {
    EXPECT_TRUE(end.members[i].stopped);
    EXPECT_EQ(describe(end.members[i]), "was stopped");
  }
}

TEST(ProcessGroup, ACrashIsNamedBySignal) {
  const GroupEnd end = run_group("/bin/sh", {shell("ulimit -c 0; kill -SEGV $$"), shell("exec sleep 60")});
  EXPECT_EQ(end.first_broken, 0);
  EXPECT_EQ(describe(end.members[0]), "was killed by signal 11 (Segmentation fault)");
  EXPECT_TRUE(end.members[1].stopped);
}

TEST(ProcessGroup, AMemberThatIgnoresSigtermIsKilled) {
  const auto start = std::chrono::steady_clock::now();
  const GroupEnd end = run_group("/bin/sh", {shell("trap '' TERM; exec sleep 60"), shell("sleep 0.3; exit 2")},
                                 std::chrono::milliseconds(200));
  EXPECT_LT(seconds_since(start), 20.0);
  EXPECT_EQ(describe(end.members[0]), "was stopped");
  EXPECT_EQ(WTERMSIG(end.members[0].status), SIGKILL);
}

TEST(ProcessGroup, AProgramThatCannotStartIsAClearError) {
  try {
    run_group("/nonexistent/xent", {{"xent"}});
    FAIL() << "run_group returned";
  } catch (const xent::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot start /nonexistent/xent"), std::string::npos) << e.what();
  }
}
