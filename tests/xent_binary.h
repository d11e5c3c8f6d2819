// Where the `xent` program is: beside the test binary (a carried build) or in the build tree's tools/.
#pragma once

#include <filesystem>
#include <string>

namespace xent::testing {

inline std::string xent_binary() {
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  for (const auto& candidate : {self / "xent", self / ".." / "tools" / "xent"})
    if (std::filesystem::exists(candidate)) return candidate.string();
  return (self / "xent").string();
}

}  // namespace xent::testing
