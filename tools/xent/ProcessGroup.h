// A group of child processes that succeed or fail together: the W ranks of `xent run --tp W`, where a rank that dies
// can leave the others blocked in a collective forever.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace xent::tools {

struct MemberEnd {
  int status = 0;        // waitpid's status
  bool stopped = false;  // ended by run_group's SIGTERM (or SIGKILL), after another member broke or an interruption
};

struct GroupEnd {
  std::vector<MemberEnd> members;
  int first_broken = -1;  // the first member that broke, or -1
  int interrupted = 0;    // the signal (SIGINT, SIGTERM, SIGHUP) that interrupted this process, or 0
};

// Starts `program` once per argument list (argv[0] included, the environment inherited) and waits for every member.
// Exit status 0 or 1 means a member finished its work (xent exits 1 when a check fails, after its last collective);
// anything else (another status, a signal) means it broke, and the members still running may be waiting for it: they
// get SIGTERM, and SIGKILL after `grace`. SIGINT, SIGTERM and SIGHUP sent to this process stop the members the same
// way (and do not end this process), so the caller can report and clean up. Throws UserError when a member cannot be
// started (after stopping those already started).
GroupEnd run_group(const std::string& program, const std::vector<std::vector<std::string>>& arguments,
                   std::chrono::milliseconds grace = std::chrono::seconds(5));

// How a member ended, for messages: "passed", "failed its check (see its output above)", "exited with status 3 (see
// its error above)", "was killed by signal 11 (Segmentation fault)", "was stopped".
std::string describe(const MemberEnd& end);

}  // namespace xent::tools
