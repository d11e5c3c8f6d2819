// The `xent` program, for tests that run it as a user would: where it is (beside the test binary in a carried build,
// or in the build tree's tools/), and running it with its output captured.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace xent::testing {

inline std::string xent_binary() {
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  for (const auto& candidate : {self / "xent", self / ".." / "tools" / "xent"})
    if (std::filesystem::exists(candidate)) return candidate.string();
  return (self / "xent").string();
}

struct XentResult {
  int status;          // the exit status, or -1 when the program did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs `xent arguments` with `environment` ("NAME=value ...") prepended to the shell command.
inline XentResult run_xent(const std::string& arguments, const std::string& environment = {}) {
  std::string command = environment + " " + xent_binary() + " " + arguments + " 2>&1";
  XentResult r{-1, {}};
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) r.output.append(buffer.data(), n);
  int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace xent::testing
