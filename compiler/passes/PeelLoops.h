// Loop peeling: a chunked row loop (for c = 0 to V step BLOCK, mask `c + arange(0, BLOCK) < V`) becomes a loop over the
// full tiles, whose mask is provably all-true, and one masked tail. This is what makes unusual vocab sizes fast.
#pragma once

#include "compiler/ir/IR.h"

namespace xent::passes {

// Afterwards, every `for` with constant bounds and a positive step runs a whole number of steps: when ub - lb is not a
// multiple of the step, the loop stops at the last full step and a copy of its body follows it for the last, partial
// step. In such loops, a `cmp` of `splat(iv) + arange` against a constant that is the same on every iteration (the
// mask of a full tile) is a splat of that constant; fold_constants then drops the masks.
void peel_loops(ir::Kernel& kernel);

}  // namespace xent::passes
