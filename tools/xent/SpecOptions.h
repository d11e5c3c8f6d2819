// The command-line flags that describe a cross-entropy spec, shared by every subcommand that builds kernels.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "kernels/CrossEntropySpec.h"

namespace xent::tools {

// Flag values as typed; `spec()` validates them and names the flag of the first bad one.
struct SpecOptions {
  std::string dtype = "bf16";
  std::string labels = "i64";
  int64_t vocab = 50257;
  int64_t vocab_shard = 0;  // 0 = the whole vocabulary
  double label_smoothing = 0.0;
  double z_loss = 0.0;
  std::string reduction = "mean";
  std::string alignment = "rows";
  int threads = 0;
  int64_t block = 0;
  int unroll = 0;
  int shared_memory = 0;
  std::string staging = "heuristic";
  int cluster = 0;

  void add_to(CLI::App& command);
  CrossEntropySpec spec() const;
};

}  // namespace xent::tools
