// The pass pipeline: one linear function from a built kernel to the kernel that lowering receives (Halide's
// lower_impl). With XENT_DEBUG=2 it prints the IR after each pass ("(unchanged)" when a pass changed nothing), and
// with XENT_TIME_PASSES=1 a table of per-pass wall times.
#pragma once

#include <iostream>
#include <string>
#include <vector>

#include "compiler/ir/IR.h"
#include "compiler/passes/Specialize.h"

namespace xent::passes {

struct PipelineOptions {
  bool print_after_each_pass = false;
  bool time_passes = false;
  std::ostream* log = &std::cerr;
};

// Reads XENT_DEBUG (>=2: print IR after each pass, or "(unchanged)" when a pass changed nothing) and
// XENT_TIME_PASSES=1.
PipelineOptions pipeline_options_from_environment();

struct PassTiming {
  std::string pass;
  double milliseconds;
};

// specialize -> fold_constants -> eliminate_dead_code -> peel_loops -> fold_constants -> eliminate_dead_code,
// verifying after every pass (verification failure = InternalError with the IR). Returns per-pass wall times.
std::vector<PassTiming> run_pipeline(ir::Kernel& kernel, const ConstexprBindings& bindings,
                                     const PipelineOptions& options = pipeline_options_from_environment());

}  // namespace xent::passes
