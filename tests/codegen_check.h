// Test helpers for code generation: a tiny FileCheck (ordered substring CHECKs with CHECK-NOTs between them) and a
// ptxas runner that reports whether the PTX assembles and whether anything spilled.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "compiler/codegen/Compile.h"

namespace xent::testing {

// `checks` are "CHECK: text" (found after the previous match) and "CHECK-NOT: text" (absent between the previous
// match and the next CHECK's match, or the end).
inline ::testing::AssertionResult file_check(const std::string& text, const std::vector<std::string>& checks) {
  const std::string kCheck = "CHECK: ", kNot = "CHECK-NOT: ";
  size_t position = 0;
  std::vector<std::string> pending_not;
  auto check_nots = [&](size_t end) -> std::string {
    for (const std::string& n : pending_not) {
      size_t at = text.find(n, position);
      if (at != std::string::npos && at < end) return n;
    }
    pending_not.clear();
    return {};
  };
  for (const std::string& c : checks) {
    if (c.rfind(kNot, 0) == 0) {
      pending_not.push_back(c.substr(kNot.size()));
      continue;
    }
    std::string wanted = c.substr(kCheck.size());
    size_t at = text.find(wanted, position);
    if (at == std::string::npos) return ::testing::AssertionFailure() << "no '" << wanted << "' in:\n" << text;
    if (std::string bad = check_nots(at); !bad.empty())
      return ::testing::AssertionFailure() << "'" << bad << "' found before '" << wanted << "' in:\n" << text;
    position = at + wanted.size();
  }
  if (std::string bad = check_nots(std::string::npos); !bad.empty())
    return ::testing::AssertionFailure() << "'" << bad << "' found in:\n" << text;
  return ::testing::AssertionSuccess();
}

inline std::string ptxas_path() {
  const char* env = std::getenv("PTXAS");
  std::string path = env ? env : "/usr/local/cuda/bin/ptxas";
  return std::filesystem::exists(path) ? path : std::string();
}

struct PtxasResult {
  int status = -1;
  std::string output;  // ptxas -v's report (registers, spills) or its errors
};

inline PtxasResult run_ptxas(const std::string& ptx, const std::string& sm) {
  namespace fs = std::filesystem;
  std::string stem = (fs::temp_directory_path() / ("xent-ptxas-" + std::to_string(::getpid()) + "-" +
                                                   std::to_string(reinterpret_cast<uintptr_t>(&ptx))))
                         .string();
  std::ofstream(stem + ".ptx") << ptx;
  std::string command = ptxas_path() + " --gpu-name " + sm + " -v " + stem + ".ptx -o " + stem + ".cubin 2>&1";
  PtxasResult result;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
    result.status = ::pclose(pipe);
  }
  fs::remove(stem + ".ptx");
  fs::remove(stem + ".cubin");
  return result;
}

// Compiles `kernel` for sm_80 and sm_90 and expects ptxas to accept each PTX without spills.
inline void expect_ptxas_accepts(const ir::Kernel& kernel) {
  for (const char* sm : {"sm_80", "sm_90"}) {
    std::string ptx = codegen::compile_to_ptx(kernel, {sm}).ptx;
    PtxasResult r = run_ptxas(ptx, sm);
    EXPECT_EQ(r.status, 0) << sm << ":\n" << r.output << "\n" << ptx;
    EXPECT_NE(r.output.find("bytes spill stores"), std::string::npos) << sm << ":\n" << r.output;
    EXPECT_FALSE(std::regex_search(r.output, std::regex("[1-9][0-9]* bytes spill"))) << sm << ":\n" << r.output;
  }
}

#define XENT_SKIP_WITHOUT_PTXAS() \
  if (::xent::testing::ptxas_path().empty()) GTEST_SKIP() << "ptxas not found (set PTXAS or install CUDA)"

}  // namespace xent::testing
