// Small rewriting helpers shared by the passes: recognising constants, making them, replacing an operation by values
// or by the contents of one of its regions, and deciding comparisons over integer ranges.
//
// Every helper keeps the IR valid: new operations go in front of the operation they serve, so they dominate its uses,
// and an operation is erased only after its results have been replaced.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "compiler/ir/IR.h"

namespace xent::passes {

// The literal of a `constant`, or of a `splat` of one; nullopt for anything else.
std::optional<ir::Literal> constant_value(const ir::Value* value);

// The i1 literal of `value`.
ir::Literal bool_literal(bool value);

// A constant of `type`'s element type with `literal`, splatted when `type` is a tile; inserted before `before`.
ir::Value* make_constant(ir::Block& block, ir::Block::iterator before, const ir::Type& type, ir::Literal literal);

// Replaces the results of `op` by `values` (one per result) and erases `op`.
void replace_op(ir::Operation& op, const std::vector<ir::Value*>& values);

// Moves the operations of region `region` of `op` in front of `op`, with the region's arguments replaced by
// `arguments`; `op`'s results are replaced by the yielded values and `op` is erased.
void inline_region(ir::Operation& op, size_t region, const std::vector<ir::Value*>& arguments);

// The bounds of a `for` whose bounds are constants and whose step is a positive constant.
struct ConstantBounds {
  int64_t lb, ub, step;
  // ub - lb, or 0 for an empty range; unsigned because the distance between two i64 bounds may not fit an int64_t.
  uint64_t distance() const { return ub > lb ? static_cast<uint64_t>(ub) - static_cast<uint64_t>(lb) : 0; }
};
std::optional<ConstantBounds> constant_bounds(const ir::Operation& loop);

// Every element of an integer tile lies in [lo, hi] (as a mathematical integer: a range that may wrap around the
// tile's type is no range).
struct Interval {
  int64_t lo, hi;
};
using RangeOf = std::function<std::optional<Interval>(const ir::Value*)>;

// The value every element of the `cmp` operation `cmp` has, when one operand lies in the interval `range_of` gives it
// and the other is a constant. Only lt, le, gt and ge are decided: they are monotone in each operand, so agreeing at
// both ends of the interval proves every element.
std::optional<bool> uniform_comparison(const ir::Operation& cmp, const RangeOf& range_of);

}  // namespace xent::passes
