// A row of the logits as the row kernels see it: its parameters, where it starts, its label, and the two walks over
// it that every row kernel makes (the statistics of its columns, the gradient of its columns).
#pragma once

#include <functional>

#include "kernels/CrossEntropyCommon.h"
#include "kernels/CrossEntropyKernels.h"
#include "kernels/RowWalk.h"

namespace xent::ce {

// The logits of a tile in fp32; -inf past the row's end.
Expr load_logits(KernelBuilder& k, Expr row_start, Expr cols, Expr in_row);

// The parameters every row kernel starts with.
struct RowInputs {
  RowTensor logits, labels, mask;
  bool has_mask;
  Expr weights;
  RowShape shape;
  static RowInputs declare(KernelBuilder& k, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                           const Tuning& tuning, bool with_weights);
  const RowTensor* mask_or_null() const { return has_mask ? &mask : nullptr; }
  // weight_i, or 1 without weights.
  Expr weight(KernelBuilder& k, Expr row) const;
};

// The program's row: its index (i64), its label facts, the label's column in this shard, and where its logits start.
// With `compares_label_group_only`, only the group of tiles that holds the label compares columns with it
// (for_each_tile): a cluster's part, whose walks over shared memory issue an instruction on most cycles (Nsight
// Compute, docs/performance.md change 29). Other rows compare every element: their loads set the pace, and one copy
// of the fold compiles in half the time of two.
struct Row {
  Expr index;
  LabelFacts facts;
  Expr label_column;
  RowStart logits;
  RowShape shape;
  bool compares_label_group_only = false;
  // Row `index`, by default the program's index (one program per row).
  static Row begin(KernelBuilder& k, const RowInputs& in, Expr d1, Expr ignore_index, Expr vocab_offset,
                   const Constexprs& c, Expr index = {});
  // Where the label sits in offsets from where the row's accesses start (its column plus the head).
  Expr label_offset() const { return logits.head.defined() ? label_column + logits.head : label_column; }
  // Walks the row's tiles (see for_each_tile).
  Exprs walk(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, Exprs carried, const TileWalk& tile_walk,
             WalkOrder order = WalkOrder::Forward) const;
  // The logits of a tile in fp32; -inf past the row's end.
  Expr load(const Tile& tile) const;
};

// The label's logit (f32), read once instead of being picked out of every tile; 0 unless `owns_label`.
Expr label_logit(KernelBuilder& k, const Row& row, Expr owns_label);

// The statistics of no tile yet, for the lanes of the row's tiles.
LaneStats no_statistics(KernelBuilder& k, const Tuning& tuning, const Row& row);

// Folds the row's tiles into `stats`, lane by lane. When the row is one tile, `whole_row` receives its logits (to be
// reused). `at_group` (optional): see TileWalk.
LaneStats fold_statistics(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const Row& row, LaneStats stats,
                          Expr* whole_row = nullptr, std::function<void(Expr start)> at_group = {});

// The lanes met: the row's statistics, with its label's logit read directly.
RowStats finish_statistics(KernelBuilder& k, const Constexprs& c, const Row& row, const LaneStats& stats);

// Writes the gradient of the row, tile by tile in `order`; `whole_row` (when defined) holds the logits already. Rows
// that are not ok (ignored, masked or bad) get zeros without reading their logits: decided once per row, not per
// element.
void write_gradient(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const Row& row, WalkOrder order,
                    Expr grad_start, Expr lse, Expr rest, Expr scale, Expr whole_row = {});

}  // namespace xent::ce
