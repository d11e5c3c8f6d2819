// Staging a row in shared memory (Tuning::staging): the row cut into pieces, a piece copied with cp.async and read
// from there, and the statistics walk over a row that stages what fits and streams the rest.
#pragma once

#include <vector>

#include "kernels/Row.h"

namespace xent::ce {

// A stretch of a row's offsets that a walk covers on its own: `row` walks only them (its columns numbered as in the
// whole row, so masks and the label's column hold), starting `from` offsets into the whole row.
struct RowPiece {
  Row row;
  Expr from;  // i32; undefined: 0
};

// The `extent` offsets of `row` from `from` (an i32, undefined for 0) as a row of their own: its accesses start `from`
// offsets further. Offsets of the piece below `width` must be columns of the row whatever `from` (for_each_tile runs
// them unmasked), and the tiles must end with the piece (`extent` a whole number of tiles, unless the piece ends the
// row: its tail is masked by the row's end). A piece of a row without a head that holds only columns (width =
// extent) numbers its columns from `from`, so its tail's mask is known at specialization; any other piece keeps the
// row's columns, with a head of the row's less `from` (columns = offsets - head) and masks computed at run time.
RowPiece piece_of(KernelBuilder& k, const Row& row, Expr from, int64_t width, int64_t extent);

// A piece of a row copied into shared memory: the piece reading from there (its offsets, heads included, index the
// copy), and where the second of its two groups of copies starts (0: the copies are one group).
struct StagedPiece {
  RowPiece whole;
  int64_t second_group_at = 0;
};

// Starts copying `piece` into shared memory, every tile at once. With `in_halves`, a piece of two or more groups of
// tiles goes in two groups of copies, so that the first half can be folded while the second still lands
// (fold_staged): for a cluster's parts (docs/performance.md, change 30: +4-6 points at 151936 and 256000, but -2 to
// -4 on rows one program stages). The second half must start a group of tiles of the walk's body, where the walk
// waits for it (for_each_tile's `at_group`), and the first be all columns (piece_of): else one group.
StagedPiece start_staging(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const RowPiece& piece,
                          bool in_halves);

// Folds the statistics of a staged piece into `stats`: with two groups of copies, the first as soon as it has
// landed, waiting for the second at its first group of tiles. `whole_row` (optional) receives the logits when the
// piece is one tile (then one group).
LaneStats fold_staged(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const StagedPiece& staged,
                      LaneStats stats, Expr* whole_row = nullptr);

// The shard's statistics of the row, lanes accumulating tile by tile (met by finish_statistics). With
// Staging::Shared the row's first piece (the whole row when it fits) is copied into shared memory while the rest
// streams through the statistics, and then read from there. `pieces` (optional) receives the row's pieces in the
// order a second walk takes them, each reading where its data waits: the streamed rest first, backward from its end,
// which is still in L2. `whole_row` (optional) receives the logits when the row is one tile.
LaneStats read_row(KernelBuilder& k, const CrossEntropySpec& spec, const Tuning& tuning, const Constexprs& c,
                   const Row& row, std::vector<RowPiece>* pieces = nullptr, Expr* whole_row = nullptr);

}  // namespace xent::ce
