// Helpers for the disk cache and JIT suites: a scratch cache directory, whole-file edits that damage entries, and a
// forked child for what is process-wide (the one warning per process) or needs several processes at once.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

namespace xent::cache_testing {

// A fresh directory under /tmp, removed with everything in it at the end of the scope.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "xent-cache-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The ways an entry file can go bad, each a function of the good file's bytes and of another key's entry (what a
// digest collision would put at this path).
struct Damage {
  const char* name;
  std::function<std::string(const std::string& good, const std::string& other_entry)> apply;
};

inline std::string flip_bit(std::string bytes, size_t at) {
  bytes.at(at) ^= 0x01;
  return bytes;
}

inline std::vector<Damage> damages() {
  auto line2 = [](const std::string& g) { return g.find('\n') + 1; };
  auto body = [](const std::string& g) { return g.find('\n', g.find('\n') + 1) + 1; };
  return {
      {"truncated_payload", [](const std::string& g, const std::string&) { return g.substr(0, g.size() - 7); }},
      {"truncated_header", [](const std::string& g, const std::string&) { return g.substr(0, 15); }},
      {"empty", [](const std::string&, const std::string&) { return std::string(); }},
      {"trailing_bytes", [](const std::string& g, const std::string&) { return g + "xx"; }},
      {"payload_byte", [](const std::string& g, const std::string&) { return flip_bit(g, g.size() - 1); }},
      {"magic", [](const std::string& g, const std::string&) { return flip_bit(g, 0); }},
      {"format_version", [=](const std::string& g, const std::string&) { return flip_bit(g, line2(g) - 2); }},
      {"header_size", [=](const std::string& g, const std::string&) { return flip_bit(g, line2(g)); }},
      {"header_checksum", [=](const std::string& g, const std::string&) { return flip_bit(g, body(g) - 2); }},
      {"key_text_byte", [=](const std::string& g, const std::string&) { return flip_bit(g, body(g) + 3); }},
      {"other_key", [](const std::string&, const std::string& other) { return other; }},
      {"garbage",
       [](const std::string& g, const std::string&) {
         std::string junk(g.size(), '\0');
         for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 7919 + 13) % 251);
         return junk;
       }},
  };
}

// Runs `body` in a forked child with its stderr captured; returns the child's exit status (body's result, or -1 when
// it did not exit normally). Only async-signal-safe work is guaranteed after fork, so callers keep the parent
// single-threaded when forking (GoogleTest runs tests on one thread).
inline int run_in_child(const std::function<int()>& body, std::string* captured_stderr = nullptr) {
  std::string log = (std::filesystem::temp_directory_path() / ("xent-child-" + std::to_string(::getpid()))).string();
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stderr);
    int rc = f ? body() : 99;
    std::fflush(stderr);
    ::_exit(rc);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (captured_stderr) *captured_stderr = read_bytes(log);
  std::filesystem::remove(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace xent::cache_testing
