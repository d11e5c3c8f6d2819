// The subcommands of the `xent` program. Each adds itself to the CLI11 app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>

namespace xent::tools {

void add_demo_command(CLI::App& app);
void add_compile_command(CLI::App& app);

}  // namespace xent::tools
