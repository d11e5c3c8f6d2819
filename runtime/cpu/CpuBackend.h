// The CPU backend: runs cross-entropy launch plans (kernels/CrossEntropyLaunch.h) through the IR interpreter on host
// memory. It is how CI, the tests and `xent demo` on a machine without a GPU execute the very kernels the GPU runs.
#pragma once

#include <span>
#include <vector>

#include "compiler/interp/Interpreter.h"
#include "kernels/CrossEntropyLaunch.h"

namespace xent::cpu {

// The kernel specialized for `spec` through the pass pipeline, compiled once per (spec, kernel) and shared;
// thread-safe.
const ir::Kernel& specialized_kernel(CrossEntropyKernel kernel, const CrossEntropySpec& spec);

// Runs `launches` in order. Every address in their arguments must lie in one of `buffers`.
void execute(const CrossEntropySpec& spec, const std::vector<Launch>& launches,
             std::span<const interp::Buffer> buffers);

}  // namespace xent::cpu
