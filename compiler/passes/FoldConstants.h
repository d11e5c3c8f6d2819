// Constant folding and the simplifications that specialization makes possible: this is where a zero label smoothing,
// a full tile's mask or a single-trip loop stops being a runtime question.
#pragma once

#include "compiler/ir/IR.h"

namespace xent::passes {

// Afterwards, at a fixed point: no elementwise op (unary, binary, cmp, cast, select) has only constant or splatted
// constant operands; integer x+0, x-0, x*1, x*0, i1 and/or with a constant, and float x*1.0, x/1.0 are simplified;
// `cmp` of an arange against a constant that is the same for every element is a constant; no load or store has a
// constant mask (all-true masks are dropped, all-false ones remove the access); no `if` has a constant condition; and
// no `for` with constant bounds runs zero or one time. Values are computed with Semantics.h, as the interpreter does.
void fold_constants(ir::Kernel& kernel);

}  // namespace xent::passes
