// The interpreter's whole-tile kernels: each applies one operation to every element of its operand slots in one tight
// loop (the operation and element type are chosen once per tile, never per element).
//
// Results equal Semantics.h element by element, so the interpreter and constant folding agree. Fast paths exist for
// the common cases (f32 arithmetic and math functions, i32/i64 add/sub/mul, compare, select, casts between floats and
// from integers), each written as the very expression Semantics.h evaluates; every other case calls Semantics.h.
//
// Operands have the shapes the verifier guarantees (elementwise operands share one shape), and `out` is a slot of the
// result type, distinct from every operand.
#pragma once

#include "compiler/interp/Slot.h"

namespace xent::interp {

void unary(ir::OpKind kind, const Slot& x, Slot& out);
// Throws UserError on integer division or remainder by zero.
void binary(ir::OpKind kind, const Slot& a, const Slot& b, Slot& out);
void compare(ir::CmpPredicate predicate, const Slot& a, const Slot& b, Slot& out);
void select(const Slot& condition, const Slot& if_true, const Slot& if_false, Slot& out);
void cast(const Slot& x, Slot& out);

void splat(const Slot& scalar, Slot& out);
// `x` (1-D) lies along `axis` of the 2-D `out` and is repeated along the other axis.
void broadcast(const Slot& x, int64_t axis, Slot& out);
// Folds `x` along `axis`. Float sums are pairwise in fp32 (a balanced tree, as a GPU reduces across threads, so the
// error grows with log2 of the extent rather than with the extent), rounded once to the element type at the end;
// max and min ignore NaN unless every element is NaN; integer sums wrap.
void reduce(ir::ReduceKind kind, int64_t axis, const Slot& x, Slot& out);
// Addresses p + offset * sizeof(pointee), wrapping like the GPU's 64-bit address arithmetic.
void add_pointer(const Slot& pointers, const Slot& offsets, Slot& out);

}  // namespace xent::interp
