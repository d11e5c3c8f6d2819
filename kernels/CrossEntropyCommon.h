// Building blocks shared by the cross-entropy kernels: parameter groups, the per-row label facts, the online
// statistics of a row, the loss of a row and the gradient of a tile. They hold the SPEC.md math in one place; the
// kernels in CrossEntropyRowKernels.cpp and CrossEntropyRowSetKernels.cpp only arrange them.
#pragma once

#include <functional>
#include <string>

#include "compiler/ir/Builder.h"
#include "kernels/CrossEntropySpec.h"

namespace xent::ce {

using ir::Expr;
using ir::Exprs;
using ir::KernelBuilder;
using ir::ScalarType;

ScalarType element_of(DType dtype);
ScalarType element_of(LabelType type);

// Where a row's accesses start: `pointer`, and with Alignment::Base the `head` (i32) of elements between it (the
// 16-byte boundary at or before the row) and the row's first element; undefined head = 0.
struct RowStart {
  Expr pointer, head;
};

// A ptr<f32> parameter: the per-row outputs and the workspace's scalars.
Expr f32_param(KernelBuilder& k, const char* name);

// A tensor addressed by rows with two leading strides (shape [d0, d1, ...], strides [s0, s1, 1]): three parameters.
struct RowTensor {
  Expr pointer, s0, s1;
  Alignment alignment = Alignment::None;
  // Declares `name`, `name_s0`, `name_s1` with what `alignment` guarantees about them (ParamInfo).
  static RowTensor declare(KernelBuilder& k, const std::string& name, ScalarType element,
                           Alignment alignment = Alignment::None);
  // The address of row `row` (an i64 scalar or tile), rows numbered i = i0 * d1 + i1.
  Expr row_pointer(Expr row, Expr d1) const;
  // Where the accesses of row `row` (an i64 scalar) start: the row itself, or for Alignment::Base the 16-byte
  // boundary before it.
  RowStart row_start(Expr row, Expr d1) const;
};

// The compile-time numbers of a cross-entropy kernel, as constexpr operations (bound by specialization).
struct Constexprs {
  Expr vocab;            // i64: V
  Expr vocab_shard;      // i32: V_r
  Expr label_smoothing;  // f32: ε
  Expr z_loss;           // f32: z
  Expr reduction;        // i32: 0 none, 1 sum, 2 mean
  Expr entropy;          // i32: 0 or 1
  static Constexprs declare(KernelBuilder& k);
  Expr smoothing_on() const;  // ε != 0
  Expr z_loss_on() const;     // z != 0
};

// `then()` when `flag` holds, else `otherwise`, as an `if` that folding removes once `flag` is a constant.
Expr when(Expr flag, const std::function<Expr()>& then, Expr otherwise);

// What a row's label says: `label` (i64), `kept` (not ignored and not masked off), `bad` (kept but outside
// [0, V)), `ok` (kept and not bad: the row contributes a loss and a gradient). Scalars for one row, tiles for a tile
// of rows (then `in_range` masks the rows past the end).
struct LabelFacts {
  Expr label, kept, bad, ok;
};
LabelFacts label_facts(KernelBuilder& k, const RowTensor& labels, const RowTensor* mask, Expr row, Expr d1,
                       Expr ignore_index, const Constexprs& c, Expr in_range = {});

// The label's column in this shard (i32), or -1 when the shard does not own it or the row is not ok.
Expr local_label_column(const LabelFacts& facts, Expr vocab_offset, const Constexprs& c);

// Iterates over all `rows` in tiles of `tile` rows; `body(row, in_range, carried)` gets the rows (i64 tile) and the
// mask of those below `rows`. The carried values are tiles of that shape: each thread accumulates its own rows and the
// caller reduces once after the walk, so the loop's loads do not wait on a block-wide reduction each step (one
// reduction per 1024 rows made the count and reduce kernels of a 16384-row call take about 45 us together).
using RowTileBody = std::function<Exprs(Expr row, Expr in_range, const Exprs& carried)>;
Exprs for_each_row_tile(KernelBuilder& k, Expr rows, int64_t tile, Exprs carried, const RowTileBody& body);

// The call's label counts over all `rows` rows (i32 scalars), walked `tile` rows a step: the rows that are ok, and the
// bad ones (kept, label outside [0, V)).
struct LabelCounts {
  Expr ok, bad;
};
LabelCounts count_labels(KernelBuilder& k, const RowTensor& labels, const RowTensor* mask, Expr rows, Expr d1,
                         Expr ignore_index, const Constexprs& c, int64_t tile);

// The reduction's scale 1/den (f32) from the ok rows (i32): mean 1 / (ok rows); sum 1 / normalizer when given (f32,
// < 0 means not given; 0 gives a zero loss and gradient), else 1; none 1. 0 when there is nothing to divide by.
Expr reduction_scale(KernelBuilder& k, Expr ok_rows, Expr normalizer, const Constexprs& c);

// Σ loss_rows[0, rows) (f32 scalar) in one fixed order, the same every run: per thread over steps of `tile` rows, then
// across the program.
Expr sum_row_losses(KernelBuilder& k, Expr loss_rows, Expr rows, int64_t tile);

// The reduced loss computed by the last program of a kernel to finish, so that no launch follows for it (combine;
// fused_small given a ticket counter). The last program is told so by its ticket (atomic_add on `tickets`, which must
// be zero when the launch starts); it sums the `rows` row losses with sum_row_losses, stores the sum times *inv_den at
// *loss, and zeroes the tickets again for the next launch. The ticket's fences wait for each program's stores: the
// fused kernel's many short programs lost 8-13% of their bandwidth to them (docs/performance.md, change 36), so only
// calls of few rows reduce this way.
struct LossReduction {
  Expr loss_rows, inv_den, loss, tickets, rows;  // ptr<f32> x3, ptr<i32>, i64
  // Declares `loss` and `tickets` (the kernel already has the others).
  static LossReduction declare(KernelBuilder& k, Expr loss_rows, Expr inv_den, Expr rows);
  // At the kernel's end: `programs` (i64) is the grid's size, `threads` the kernel's threads per program.
  void store_in_last_program(KernelBuilder& k, Expr programs, int64_t threads) const;
};

// One shard's statistics of a row, relative to its max m (see the partials in CrossEntropyKernels.h).
struct RowStats {
  Expr m, d_rest, e_label, x_label, sum_x, sum_ex;
  Exprs to_exprs() const { return {m, d_rest, e_label, x_label, sum_x, sum_ex}; }
  static RowStats from(const Exprs& e) { return {e[0], e[1], e[2], e[3], e[4], e[5]}; }
};

// Online softmax statistics of a row streaming through in tiles. A tile is 2-D, [lanes, chunk]: each lane is a run of
// `chunk` contiguous columns that one thread holds (a 16-byte vector; see chunked_columns in RowWalk.h), so a tile
// folds into its lanes inside the threads, with one max and one rescale per lane instead of per element. Every lane
// carries its own running max, Σ exp(x - max) over columns other than the label, Σ x and Σ exp(x - max)·x. Nothing
// is reduced across threads until the row ends (finish), so the walk over the row needs no barrier.
struct LaneStats {
  Expr m, d_rest, sum_x, sum_ex;  // [lanes] tiles
  Exprs to_exprs() const { return {m, d_rest, sum_x, sum_ex}; }
  static LaneStats from(const Exprs& e) { return {e[0], e[1], e[2], e[3]}; }
  // The statistics of no tile yet, for `lanes` lanes.
  static LaneStats empty(KernelBuilder& k, int64_t lanes);
  // Folds in the next [lanes, chunk] tile x (f32, -inf where `in_row` is false; `in_row` undefined when every column
  // is in the row); `is_label` marks the label's column (undefined where the tile cannot hold it).
  LaneStats accumulate(Expr x, Expr in_row, Expr is_label, const Constexprs& c) const;
  // The row's statistics: lanes merged by block-wide reductions; the label's logit `x_label` (f32, read directly)
  // counts when `owns_label`.
  RowStats finish(Expr x_label, Expr owns_label, const Constexprs& c) const;
};

// The statistics of a row from `count` (i32) partial statistics of its parts, each relative to its own max: the ranks
// of a tensor-parallel group (a loop), or the programs of a cluster (a constant count: unrolled). `field(r, f)` loads
// field f (in RowStats order: m, d_rest, e_label, x_label, sum_x, sum_ex) of partial r; `zero` is an f32 zero of the
// shape of one row's (or tile of rows') statistics.
using PartialField = std::function<Expr(Expr r, int f)>;
RowStats merge_partials(Expr count, const PartialField& field, Expr zero, const Constexprs& c);

// Stores `stats` as the kPartialFields floats at `out` (the fields that the spec never reads are left alone).
void store_partials(KernelBuilder& k, Expr out, const RowStats& stats, const Constexprs& c);

// The row's loss from its global statistics (SPEC.md): NaN for bad rows, 0 for rows that are not kept.
Expr row_loss(Expr lse, Expr x_label, Expr sum_x, const LabelFacts& facts, const Constexprs& c);

// What a forward leaves of a row (or a tile of rows), from its global statistics: the loss (before any weight), lse,
// 1 - p_label (`rest`, which the backward kernel reads), the label's log-probability (0 unless the row is ok) and the
// entropy (which the kernels store only when the spec asks for it, c.entropy).
struct RowOutputs {
  Expr loss, lse, rest, logprob, entropy;
};
RowOutputs row_outputs(const RowStats& global, const LabelFacts& facts, const Constexprs& c);

// lse = m + ln d, safe when the whole row is -inf (then lse is -inf and the loss NaN, as in PyTorch).
Expr log_sum_exp(Expr m, Expr d);
// m, or 0 when m is -inf, so that exp(x - m) is 0 rather than NaN for -inf entries.
Expr safe_max(Expr m);

// The gradient of a tile (before rounding): scale · (p − ε/V − (1 − ε)·onehot + 2z·lse·p), the label's element
// formed as −(1 − ε)·rest + ε·p − ε/V + 2z·lse·p without cancellation; `rest` = 1 − p_label; `is_label` undefined
// where the tile cannot hold the label's column. For rows that are ok: the others' gradient is exactly 0, whatever
// their logits hold, which the callers write instead.
Expr gradient(Expr x, Expr is_label, Expr lse, Expr rest, Expr scale, const Constexprs& c);

}  // namespace xent::ce
