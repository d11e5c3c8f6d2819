// The verifier: checks that a kernel is well formed, and is run after construction and between passes.
//
// It checks that every operand is defined before its use in the same or an enclosing block (dominance for structured
// control flow), every operation's types follow TypeRules.h, every region ends in a `yield` whose values match its
// parent's results (and a `for` body's block arguments match the loop-carried values), the kernel body ends in
// `return`, no terminator appears elsewhere, cluster_barrier, async_wait and shared_alloc appear only at the top level,
// parameters point to global memory, and the kernel attribute "cluster" (programs per thread-block cluster) lies in
// [1, kMaxCluster].
#pragma once

#include "compiler/ir/IR.h"

namespace xent::ir {

// Throws InternalError naming the offending operation and its location, followed by the printed kernel.
void verify(const Kernel& kernel);

}  // namespace xent::ir
