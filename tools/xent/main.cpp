// `xent`: compile, run, benchmark, tune and cache cross-entropy kernels. `xent --help` lists the subcommands.
#include <iostream>

#include "compiler/Error.h"
#include "tools/xent/Commands.h"

int main(int argc, char** argv) {
  CLI::App app{"xent: a JIT kernel generator for softmax cross-entropy (forward, backward, tensor parallel)"};
  app.require_subcommand(1);
  xent::tools::add_demo_command(app);
  xent::tools::add_compile_command(app);
  xent::tools::add_run_command(app);
  xent::tools::add_bench_command(app);
  xent::tools::add_tune_command(app);
  xent::tools::add_cache_command(app);
  // Each message goes out in one piece: the ranks of `--tp` share the terminal and may be stopped at any moment.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const xent::tools::CommandFailed& e) {
    std::cerr << xent::cat("xent: ", e.what(), "\n");
    return 1;
  } catch (const xent::UserError& e) {
    std::cerr << xent::cat("xent: error: ", e.what(), "\n");
    return 2;
  } catch (const std::exception& e) {
    std::cerr << xent::cat("xent: internal error: ", e.what(), "\n");
    return 3;
  }
  return 0;
}
