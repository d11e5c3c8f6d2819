#include "kernels/RowWalk.h"

#include <algorithm>

namespace xent::ce {

Expr chunked_columns(KernelBuilder& k, Expr start, int64_t at, int64_t count, int64_t chunk) {
  int64_t lanes = (count + chunk - 1) / chunk;
  ir::Type::Shape shape{lanes, chunk};
  Expr lane_starts = k.broadcast(k.arange(at / chunk, at / chunk + lanes), shape, 0) * double(chunk);
  Expr columns = lane_starts + k.broadcast(k.arange(0, chunk), shape, 1);
  return start.defined() ? start + columns : columns;
}

namespace {

// One walk of for_each_tile: the row's geometry in groups of tiles, and the ways of visiting them.
class RowWalk {
 public:
  RowWalk(KernelBuilder& k, const RowShape& row, const Tuning& tuning, const Constexprs& c, Expr head,
          const TileWalk& walk, WalkOrder order)
      : k_(k),
        row_(row),
        tuning_(tuning),
        c_(c),
        head_(head),
        walk_(walk),
        backward_(order == WalkOrder::Backward),
        block_(tuning.block),
        group_(tuning.block * tuning.unroll),
        // Offsets from one vector on and below the row's width are inside the row whatever its head (under one vector).
        first_end_(head.defined() ? group_ : 0),
        body_end_(std::max(first_end_, row.width / group_ * group_)),
        // Offsets past the last whole group, up to a whole group more: a masked group then reaches past the extent.
        groups_end_((row.extent + group_ - 1) / group_ * group_) {}

  // The row as one tile, when one block covers it.
  Exprs whole_row(Exprs carried) {
    Expr offsets = columns({}, 0, row_.extent);
    Tile whole =
        head_.defined() || row_.extent % row_.chunk ? tile_at(offsets, true) : Tile{offsets, offsets, Expr(), true};
    whole.whole_row = true;
    return visit({whole}, carried);
  }

  // The first group (with a head) and the tail straight-line, masked; the body between them a loop, unmasked.
  Exprs in_three_parts(Exprs carried) {
    auto body = [&](Exprs values) {
      return loop(first_end_, body_end_, values,
                  [&](Expr start, const Exprs& inner) { return visit(group_at(start, false), inner); });
    };
    if (backward_) return visit_masked(0, first_end_, visit_masked(body_end_, row_.extent, body(carried)));
    return visit_masked(body_end_, row_.extent, body(visit_masked(0, first_end_, carried)));
  }

  // Every group in one loop, the label's, the first and the tail taking the masked visit that compares.
  Exprs comparing_label_group_only(Expr label_offset, Exprs carried) {
    return loop(0, groups_end_, carried, [&](Expr start, const Exprs& inner) {
      // A range, not `start == label's group`: given that equality, LLVM would rewrite the comparing branch's
      // columns as invariants of the loop and hoist them with their compares, which then held registers across it.
      // As a difference in [0, group), LLVM makes it one unsigned compare.
      Expr from_start = label_offset - start;
      Expr special = (from_start >= 0.0) & (from_start < double(group_));
      if (first_end_ > 0) special = special | (start < double(first_end_));
      if (body_end_ < groups_end_) special = special | (start >= double(body_end_));
      return k_.if_else(
          special, [&] { return visit(group_at(start, true), inner); },
          [&] {
            std::vector<Tile> without_label = group_at(start, false);
            for (Tile& tile : without_label) tile.may_hold_label = false;
            return visit(without_label, inner);
          });
    });
  }

 private:
  Expr columns(Expr start, int64_t at, int64_t count) { return chunked_columns(k_, start, at, count, row_.chunk); }
  Expr i32(int64_t v) { return k_.constant_int(v, ScalarType::I32); }

  Tile tile_at(Expr offsets, bool masked) {
    if (!head_.defined()) return {offsets, offsets, masked ? offsets < double(row_.width) : Expr(), false};
    Expr columns = offsets - head_;
    return {columns, offsets, masked ? (columns >= 0.0) & (columns < c_.vocab_shard) : Expr(), false};
  }

  // Loads every tile of `tiles`, then folds them in order.
  Exprs visit(const std::vector<Tile>& tiles, Exprs values) {
    std::vector<Expr> data;
    for (const Tile& tile : tiles) data.push_back(walk_.load(tile));
    for (size_t i = 0; i < tiles.size(); ++i) values = walk_.fold(tiles[i], data[i], values);
    return values;
  }

  // The masked tiles of offsets [begin, end), straight-line. A masked tile of a row with a head is readable when its
  // offsets are below the row's width: its columns are then below the width too, and the ones before the row, from
  // the 16-byte boundary on, hold bytes of the row before it (or of nothing, for a tensor's first row, whose head is
  // 0, the tensor being aligned).
  Exprs visit_masked(int64_t begin, int64_t end, Exprs values) {
    std::vector<Tile> tiles;
    for (int64_t start = begin; start < end; start += block_) {
      tiles.push_back(tile_at(columns({}, start, block_), true));
      tiles.back().readable = head_.defined() && start + block_ <= row_.width;
    }
    return tiles.empty() ? values : visit(tiles, values);
  }

  // The group of tiles starting at `start` (i32), its tiles in the walk's order. `masked`: each masked to the row
  // and to the walk's offsets (a piece's offsets past its extent may be columns of the row).
  std::vector<Tile> group_at(Expr start, bool masked) {
    std::vector<Tile> tiles;
    for (int64_t u = 0; u < tuning_.unroll; ++u) {
      Tile tile = tile_at(columns(start, (backward_ ? tuning_.unroll - 1 - u : u) * block_, block_), masked);
      if (masked && head_.defined() && groups_end_ > row_.extent)
        tile.in_row = tile.in_row & (tile.offsets < double(row_.extent));
      tiles.push_back(tile);
    }
    return tiles;
  }

  // The groups starting in [first, last) (multiples of the group) in the walk's order, each visited by `visit_group`.
  Exprs loop(int64_t first, int64_t last, Exprs values, const std::function<Exprs(Expr, const Exprs&)>& visit_group) {
    if (last == first) return values;
    Expr begin = i32(first), end = i32(last);
    return k_.for_loop(i32(0), end - begin, i32(group_), values, [&](Expr i, const Exprs& inner) {
      Expr start = backward_ ? end - double(group_) - i : begin + i;
      if (walk_.at_group) walk_.at_group(start);
      return visit_group(start, inner);
    });
  }

  KernelBuilder& k_;
  const RowShape& row_;
  const Tuning& tuning_;
  const Constexprs& c_;
  Expr head_;
  const TileWalk& walk_;
  const bool backward_;
  const int64_t block_, group_, first_end_, body_end_, groups_end_;
};

}  // namespace

Exprs for_each_tile(KernelBuilder& k, const RowShape& row, const Tuning& tuning, const Constexprs& c, Expr head,
                    Expr label_offset, Exprs carried, const TileWalk& walk, WalkOrder order) {
  RowWalk row_walk(k, row, tuning, c, head, walk, order);
  if (tuning.block >= row.extent) return row_walk.whole_row(std::move(carried));
  if (!label_offset.defined()) return row_walk.in_three_parts(std::move(carried));
  return row_walk.comparing_label_group_only(label_offset, std::move(carried));
}

}  // namespace xent::ce
