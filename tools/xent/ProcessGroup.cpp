#include "tools/xent/ProcessGroup.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "compiler/Error.h"

namespace xent::tools {
namespace {

volatile std::sig_atomic_t caught_signal = 0;
void remember_signal(int signal) { caught_signal = signal; }

// While it lives, SIGINT, SIGTERM and SIGHUP are remembered instead of ending this process. (Ctrl-C reaches the
// members too: they are in the terminal's process group.) Handlers, unlike ignored signals, do not pass to the
// members through exec.
class SignalCatcher {
 public:
  SignalCatcher() {
    caught_signal = 0;
    struct sigaction action {};
    action.sa_handler = remember_signal;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &action, &previous_[i]);
  }
  ~SignalCatcher() {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &previous_[i], nullptr);
  }
  SignalCatcher(const SignalCatcher&) = delete;
  SignalCatcher& operator=(const SignalCatcher&) = delete;
  int caught() const { return caught_signal; }

 private:
  static constexpr std::array<int, 3> kSignals = {SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> previous_{};
};

struct Member {
  pid_t pid = 0;
  bool done = false, signalled = false;
  MemberEnd end;
};

pid_t spawn(const std::string& program, std::vector<std::string> arguments) {
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  // posix_spawn, not fork: the caller may have threads (NCCL's bootstrap), and only exec is safe after fork then.
  if (int error = posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ))
    throw UserError(cat("cannot start ", program, ": ", std::strerror(error)));
  return pid;
}

// Collects `m` if it has ended (with `block`, once it ends). True when it was collected now.
bool reap(Member& m, bool block) {
  if (m.done) return false;
  int status = 0;
  const pid_t got = waitpid(m.pid, &status, block ? 0 : WNOHANG);
  if (got != m.pid) return false;
  m.done = true;
  m.end.status = status;
  // Stopped: ended by the signal run_group sent, not by something of its own that happened first.
  m.end.stopped = m.signalled && WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGKILL);
  return true;
}

bool any_running(const std::vector<Member>& members) {
  return std::any_of(members.begin(), members.end(), [](const Member& m) { return !m.done; });
}

bool broke(const MemberEnd& end) { return !WIFEXITED(end.status) || WEXITSTATUS(end.status) > 1; }

// SIGTERM to every member still running, then SIGKILL to those still there after `grace`.
void stop(std::vector<Member>& members, std::chrono::milliseconds grace) {
  for (Member& m : members)
    if (!m.done) kill(m.pid, SIGTERM), m.signalled = true;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (any_running(members) && std::chrono::steady_clock::now() < deadline) {
    for (Member& m : members) reap(m, false);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (Member& m : members)
    if (!m.done) kill(m.pid, SIGKILL), reap(m, true);
}

}  // namespace

GroupEnd run_group(const std::string& program, const std::vector<std::vector<std::string>>& arguments,
                   std::chrono::milliseconds grace) {
  SignalCatcher signals;
  std::vector<Member> members;
  try {
    for (const std::vector<std::string>& a : arguments) {
      Member started;
      started.pid = spawn(program, a);
      members.push_back(started);
    }
  } catch (...) {
    stop(members, grace);
    throw;
  }
  GroupEnd group;
  // Polled rather than blocked in waitpid, so that a signal arriving at any moment is seen within one period.
  while (any_running(members)) {
    bool collected = false;
    for (size_t i = 0; i < members.size(); ++i)
      if (reap(members[i], false)) {
        collected = true;
        if (broke(members[i].end) && group.first_broken < 0) group.first_broken = int(i);
      }
    if (group.first_broken >= 0 || signals.caught()) {
      stop(members, grace);
      break;
    }
    if (!collected) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  group.interrupted = signals.caught();
  for (const Member& m : members) group.members.push_back(m.end);
  return group;
}

std::string describe(const MemberEnd& end) {
  const int s = end.status;
  if (end.stopped) return "was stopped";
  if (WIFEXITED(s) && WEXITSTATUS(s) == 0) return "passed";
  if (WIFEXITED(s) && WEXITSTATUS(s) == 1) return "failed its check (see its output above)";
  if (WIFEXITED(s)) return cat("exited with status ", WEXITSTATUS(s), " (see its error above)");
  if (WIFSIGNALED(s)) return cat("was killed by signal ", WTERMSIG(s), " (", strsignal(WTERMSIG(s)), ")");
  return cat("ended with wait status ", s);
}

}  // namespace xent::tools
