#include "kernels/RowStaging.h"

#include <algorithm>

namespace xent::ce {
namespace {

// The offsets of a row the fused kernel stages in shared memory: all of them when they fit in max_staged_row_bytes,
// else the most whole groups of tiles that do, leaving at least two groups to stream (so that the streamed piece has
// the tiles, and the lanes, of the staged one); 0 when not one group fits.
int64_t staged_extent(const CrossEntropySpec& spec, const Tuning& tuning, const RowShape& shape) {
  const int64_t most = max_staged_row_bytes(spec);
  if (shape.extent * dtype_bytes(spec.dtype) <= most) return shape.extent;
  const int64_t group = tuning.block * tuning.unroll;
  int64_t groups = most / dtype_bytes(spec.dtype) / group;
  return std::max<int64_t>(0, std::min(groups, shape.extent / group - 2)) * group;
}

}  // namespace

RowPiece piece_of(KernelBuilder& k, const Row& row, Expr from, int64_t width, int64_t extent) {
  RowPiece piece{row, from};
  Row& r = piece.row;
  r.shape = {width, extent, row.shape.chunk};
  if (!from.defined()) return piece;
  r.logits.pointer = k.addptr(row.logits.pointer, from);
  if (!row.logits.head.defined() && width == extent)
    r.label_column = row.label_column - from;
  else
    r.logits.head = row.logits.head.defined() ? row.logits.head - from : -from;
  return piece;
}

StagedPiece start_staging(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const RowPiece& piece,
                          bool in_halves) {
  const Row& row = piece.row;
  Expr staged = k.shared_alloc(row.logits.pointer.type().pointee(), row.shape.extent);
  const int64_t group = tuning.block * tuning.unroll;
  const int64_t half = in_halves ? row.shape.extent / group / 2 * group : 0;
  StagedPiece out{piece, 0};
  std::vector<RowPiece> copies{RowPiece{row, Expr()}};
  if (half > 0 && half + group <= row.shape.width) {
    out.second_group_at = half;
    copies = {piece_of(k, row, {}, half, half),
              piece_of(k, row, k.constant_int(half, ScalarType::I32), row.shape.width - half, row.shape.extent - half)};
  }
  for (const RowPiece& g : copies) {
    Expr destination = g.from.defined() ? k.addptr(staged, g.from) : staged;
    auto copy = [&](const Tile& tile) {
      Expr mask = tile.readable ? Expr() : tile.in_row;
      k.async_copy(k.addptr(destination, tile.offsets), k.addptr(g.row.logits.pointer, tile.offsets), mask);
      return Expr();
    };
    g.row.walk(k, tuning, c, {}, {copy, [](const Tile&, Expr, const Exprs&) { return Exprs{}; }, false, {}});
    if (copies.size() > 1) k.async_commit();  // one group: the last wait takes every copy
  }
  out.whole.row.logits.pointer = staged;
  return out;
}

LaneStats fold_staged(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const StagedPiece& staged,
                      LaneStats stats, Expr* whole_row) {
  const Row& row = staged.whole.row;
  if (staged.second_group_at == 0) {
    k.async_wait(0);
    return fold_statistics(k, tuning, c, row, stats, whole_row);
  }
  k.async_wait(1);
  auto wait_for_second = [&](Expr start) {
    k.if_then(start == double(staged.second_group_at), [&] { k.async_wait(0); });
  };
  return fold_statistics(k, tuning, c, row, stats, nullptr, wait_for_second);
}

LaneStats read_row(KernelBuilder& k, const CrossEntropySpec& spec, const Tuning& tuning, const Constexprs& c,
                   const Row& row, std::vector<RowPiece>* pieces, Expr* whole_row) {
  LaneStats stats = no_statistics(k, tuning, row);
  const int64_t staged = tuning.staging == Staging::Shared ? staged_extent(spec, tuning, row.shape) : 0;
  std::vector<RowPiece> order;
  if (staged == 0) {
    stats = fold_statistics(k, tuning, c, row, stats, whole_row);
    order = {{row, Expr()}};
  } else {
    StagedPiece in_shared = start_staging(
        k, tuning, c, staged == row.shape.extent ? RowPiece{row, Expr()} : piece_of(k, row, {}, staged, staged), false);
    if (staged < row.shape.extent) {
      RowPiece streamed = piece_of(k, row, k.constant_int(staged, ScalarType::I32), row.shape.width - staged,
                                   row.shape.extent - staged);
      stats = fold_statistics(k, tuning, c, streamed.row, stats);
      order.push_back(streamed);
    }
    stats = fold_staged(k, tuning, c, in_shared, stats, order.empty() ? whole_row : nullptr);
    order.push_back(in_shared.whole);
  }
  if (pieces) *pieces = std::move(order);
  return stats;
}

}  // namespace xent::ce
