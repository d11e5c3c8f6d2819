// Dead-code elimination: removes what specialization and folding left unused, e.g. the running Σx that only a
// non-zero label smoothing needs.
#pragma once

#include "compiler/ir/IR.h"

namespace xent::passes {

// Afterwards, at a fixed point: every operation without side effects (see op_info) has a used result, a `for` or `if`
// is gone when its results are unused and its regions store nothing, and every loop-carried value of a `for` either
// has a used result or influences something other than its own next value.
void eliminate_dead_code(ir::Kernel& kernel);

}  // namespace xent::passes
