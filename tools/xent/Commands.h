// The subcommands of the `xent` program. Each adds itself to the CLI11 app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <stdexcept>

namespace xent::tools {

// A command ran but its result is a failure (a check that did not pass): `xent` exits with status 1.
struct CommandFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A row count (--tokens, --rows): at least 1, and at most a grid's x extent, as the kernels run a program per row.
inline const CLI::Range kRowCount(int64_t{1}, int64_t{2147483647});

void add_demo_command(CLI::App& app);
void add_compile_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_cache_command(CLI::App& app);
void add_tune_command(CLI::App& app);

}  // namespace xent::tools
