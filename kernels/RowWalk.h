// Walking a row in tiles: the geometry every row kernel shares (which columns a tile holds, which tiles are masked,
// in which order groups of tiles are loaded and folded), apart from what a walk does with each tile.
#pragma once

#include <functional>

#include "kernels/CrossEntropyCommon.h"

namespace xent::ce {

// One tile of a row: its columns of the row (an i32 [lanes, chunk] tile, see chunked_columns), their offsets from
// where the row's accesses start (the columns plus the row's head), the mask of the columns inside the row (undefined
// when all are), whether the tile is the whole row (built without a loop, so its values stay usable afterwards),
// whether it may hold the label's column (else no element needs comparing with it), and whether every offset may be
// read, the masked-off ones too (`readable`: loads and copies then need no mask, only the values and the stores do).
struct Tile {
  Expr columns, offsets, in_row;
  bool whole_row;
  bool may_hold_label = true;
  bool readable = false;
  // Where the tile holds `label_column` (an i1 tile); undefined when it cannot hold it.
  Expr is_label(Expr label_column) const { return may_hold_label ? columns == label_column : Expr(); }
};

// Columns `start` + [at, at + count) as a [ceil(count / chunk), chunk] tile, row-major (it runs past the end when chunk
// does not divide count). With `chunk` a row's 16-byte vector, each thread holds whole lanes (Layout.h), so folding a
// tile into its lanes moves no data between threads.
Expr chunked_columns(KernelBuilder& k, Expr start, int64_t at, int64_t count, int64_t chunk);

// What a walk over a row does with each tile: `load` its data, then `fold` the data into the carried values; whether
// the fold looks for the label's column (Tile::is_label); and, optionally, what to do at the start of each group of
// the body before its loads (`at_group`, given the group's first offset: e.g. wait for copies still landing).
struct TileWalk {
  std::function<Expr(const Tile& tile)> load;
  std::function<Exprs(const Tile& tile, Expr data, const Exprs& carried)> fold;
  bool looks_for_label = true;
  std::function<void(Expr start)> at_group;
};

// A row's geometry for a walk: its columns (the shard's width), the offsets a walk covers (row_extent: the width, and
// with a head up to one vector more) and the columns of a lane of its tiles (lane_width).
struct RowShape {
  int64_t width, extent, chunk;
};

// A second walk over a row goes `Backward`: the columns the first walk read last are the ones still in L2, so they
// are re-read first; forward, every column would wait a whole row's traffic of every program in flight, and long rows
// would miss L2 entirely.
enum class WalkOrder { Forward, Backward };

// Visits a row in tiles of `tuning.block` columns, `tuning.unroll` tiles at a time: the group's loads are all issued
// before the first fold, so that every thread keeps that many 16-byte loads in flight. The groups wholly inside every
// row run unmasked in a loop (the body); the rest is straight-line masked tiles, loaded together as well: the tail
// past the body (its length known at specialization, as V is) and, when rows are read from the 16-byte boundary
// before them (a `head` of 0 to one vector less one columns), the first group, which holds the head. Backward: the
// body's groups from the last one down, then the tail, then the first group (the straight-line tail comes after the
// body in either order: read first, its registers made ptxas spill the 1024-thread fused kernel).
//
// Given the offset of the row's label (`label_offset`, i32; -1 or any offset outside the row when the row has none
// here), only the group that holds it compares its columns with the label's, so the other groups do no per-element
// work for the label. Then one loop covers every group, the first and the tail included (backward: from the last one
// down): each group branches, uniformly across the program, to the masked visit that compares (the label's group,
// the first group and the tail) or to the plain one. Two visits of a group to compile, where loops before and after
// the label's group and the straight-line first group and tail would be five (docs/performance.md, change 40).
// Undefined: every tile compares.
Exprs for_each_tile(KernelBuilder& k, const RowShape& row, const Tuning& tuning, const Constexprs& c, Expr head,
                    Expr label_offset, Exprs carried, const TileWalk& walk, WalkOrder order);

}  // namespace xent::ce
