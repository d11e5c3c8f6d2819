// The kernels that run one program per row and walk the row's columns: stats, forward, backward and fused.
#include <algorithm>
#include <limits>
#include <numeric>

#include "kernels/CrossEntropyCommon.h"
#include "kernels/CrossEntropyKernels.h"
#include "kernels/RowWalk.h"

namespace xent::ce {
namespace {

using ir::Kernel;

// The columns of a lane: one 16-byte vector where the rows' accesses are aligned to one (else a single column), and
// when the row streams in tiles, no more than divides the tile, so that every tile starts on a whole lane.
int64_t lane_width(const CrossEntropySpec& spec, CrossEntropyKernel kernel, const Tuning& tuning, int64_t extent) {
  if (alignment_for(spec, kernel) == Alignment::None) return 1;
  int64_t vector = vector_elements(spec.dtype);
  return tuning.block >= extent ? vector : std::gcd(vector, tuning.block);
}

// The columns each program of a cluster holds: the shard split `cluster` ways, rounded up to whole 16-byte vectors so
// that every part starts 16-byte aligned when the rows do.
int64_t cluster_part_width(const CrossEntropySpec& spec, int cluster) {
  int64_t vector = vector_elements(spec.dtype);
  int64_t width = (spec.vocab_shard + cluster - 1) / cluster;
  return (width + vector - 1) / vector * vector;
}

// The logits of a tile in fp32; -inf past the row's end.
Expr load_logits(KernelBuilder& k, Expr row_start, Expr cols, Expr in_row) {
  Expr at = k.addptr(row_start, cols);
  if (!in_row.defined()) return k.load(at).to(ScalarType::F32);
  Expr minus_inf = k.constant(-std::numeric_limits<double>::infinity(), row_start.type().pointee());
  return k.load(at, in_row, minus_inf).to(ScalarType::F32);
}

// The parameters every row kernel starts with.
struct RowInputs {
  RowTensor logits, labels, mask;
  bool has_mask;
  Expr weights;
  RowShape shape;
  static RowInputs declare(KernelBuilder& k, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                           const Tuning& tuning, bool with_weights) {
    RowInputs in;
    in.logits = RowTensor::declare(k, "logits", element_of(spec.dtype), alignment_for(spec, kernel));
    in.labels = RowTensor::declare(k, "labels", element_of(spec.label_type));
    in.has_mask = spec.has_mask;
    int64_t extent = row_extent(spec, kernel);
    in.shape = {spec.vocab_shard, extent, lane_width(spec, kernel, tuning, extent)};
    if (spec.has_mask) in.mask = RowTensor::declare(k, "mask", ScalarType::I32);
    if (with_weights && spec.has_weights) in.weights = f32_param(k, "weights");
    return in;
  }
  const RowTensor* mask_or_null() const { return has_mask ? &mask : nullptr; }
  // weight_i, or 1 without weights.
  Expr weight(KernelBuilder& k, Expr row) const {
    return weights.defined() ? k.load(k.addptr(weights, row)) : k.constant(1.0, ScalarType::F32);
  }
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
                   const Constexprs& c, Expr index = {}) {
    Row r;
    r.index = index.defined() ? index : k.program_id(0).to(ScalarType::I64);
    r.facts = label_facts(k, in.labels, in.mask_or_null(), r.index, d1, ignore_index, c);
    r.label_column = local_label_column(r.facts, vocab_offset, c);
    r.logits = in.logits.row_start(r.index, d1);
    r.shape = in.shape;
    return r;
  }
  // Where the label sits in offsets from where the row's accesses start (its column plus the head).
  Expr label_offset() const { return logits.head.defined() ? label_column + logits.head : label_column; }
  // Walks the row's tiles (see for_each_tile).
  Exprs walk(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, Exprs carried, const TileWalk& tile_walk,
             WalkOrder order = WalkOrder::Forward) const {
    Expr label_at = tile_walk.looks_for_label && compares_label_group_only ? label_offset() : Expr();
    return for_each_tile(k, shape, tuning, c, logits.head, label_at, std::move(carried), tile_walk, order);
  }
  // The logits of a tile in fp32; -inf past the row's end. A readable tile in shared memory loads whole vectors and
  // masks their values: a masked load becomes code element by element, which took the staged fused kernel with heads
  // 5 ms of compile and 18 registers more. (From global memory, whole vectors raised the streaming kernels' registers
  // instead: backward 62 -> 71.)
  Expr load(const Tile& tile) const {
    KernelBuilder& k = logits.pointer.builder();
    if (!tile.readable || logits.pointer.type().space() != ir::MemorySpace::Shared)
      return load_logits(k, logits.pointer, tile.offsets, tile.in_row);
    Expr x = load_logits(k, logits.pointer, tile.offsets, Expr());
    return k.select(tile.in_row, x, k.literal(-std::numeric_limits<double>::infinity(), x));
  }
};

// The label's logit (f32), read once instead of being picked out of every tile; 0 unless `owns_label`.
Expr label_logit(KernelBuilder& k, const Row& row, Expr owns_label) {
  Expr column = k.select(owns_label, row.label_column, k.constant_int(0, ScalarType::I32));
  if (row.logits.head.defined()) column = column + row.logits.head;
  Expr zero = k.constant(0.0, row.logits.pointer.type().pointee());
  return k.load(k.addptr(row.logits.pointer, column), owns_label, zero).to(ScalarType::F32);
}

// The statistics of no tile yet, for the lanes of the row's tiles.
LaneStats no_statistics(KernelBuilder& k, const Tuning& tuning, const Row& row) {
  return LaneStats::empty(k, (std::min(tuning.block, row.shape.extent) + row.shape.chunk - 1) / row.shape.chunk);
}

// Folds the row's tiles into `stats`, lane by lane. When the row is one tile, `whole_row` receives its logits (to be
// reused). `at_group` (optional): see TileWalk.
LaneStats fold_statistics(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const Row& row, LaneStats stats,
                          Expr* whole_row = nullptr, std::function<void(Expr start)> at_group = {}) {
  auto load = [&](const Tile& tile) { return row.load(tile); };
  auto fold = [&](const Tile& tile, Expr x, const Exprs& carried) {
    if (tile.whole_row && whole_row) *whole_row = x;
    return LaneStats::from(carried).accumulate(x, tile.in_row, tile.is_label(row.label_column), c).to_exprs();
  };
  return LaneStats::from(row.walk(k, tuning, c, stats.to_exprs(), {load, fold, true, std::move(at_group)}));
}

// The lanes met: the row's statistics, with its label's logit read directly.
RowStats finish_statistics(KernelBuilder& k, const Constexprs& c, const Row& row, const LaneStats& stats) {
  Expr owns_label = row.label_column >= 0.0;
  return stats.finish(label_logit(k, row, owns_label), owns_label, c);
}

// Writes the gradient of the row, tile by tile in `order`; `whole_row` (when defined) holds the logits already. Rows
// that are not ok (ignored, masked or bad) get zeros without reading their logits: decided once per row, not per
// element.
void write_gradient(KernelBuilder& k, const CrossEntropySpec& spec, const Tuning& tuning, const Constexprs& c,
                    const Row& row, WalkOrder order, Expr grad_start, Expr lse, Expr rest, Expr scale,
                    Expr whole_row = {}) {
  ScalarType element = grad_start.type().pointee();
  auto store = [&](const Tile& tile, Expr g) {
    k.store(k.addptr(grad_start, tile.offsets), g.to(element), tile.in_row);
    return Exprs{};
  };
  auto load = [&](const Tile& tile) { return whole_row.defined() ? whole_row : row.load(tile); };
  auto fold = [&](const Tile& tile, Expr x, const Exprs&) {
    return store(tile, gradient(x, tile.is_label(row.label_column), lse, rest, scale, c));
  };
  auto zeros = [&](const Tile& tile, Expr, const Exprs&) {
    return store(tile, k.splat(k.constant(0.0, element), tile.offsets.type().shape()));
  };
  k.if_else(
      row.facts.ok,
      [&] {
        return row.walk(k, tuning, c, {}, {load, fold, true, {}}, order);
      },
      [&] {
        return row.walk(k, tuning, c, {}, {[](const Tile&) { return Expr(); }, zeros, false, {}}, order);
      });
}

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

// Folds the statistics of a staged piece into `stats`: with two groups of copies, the first as soon as it has
// landed, waiting for the second at its first group of tiles. `whole_row` (optional) receives the logits when the
// piece is one tile (then one group).
LaneStats fold_staged(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const StagedPiece& staged,
                      LaneStats stats, Expr* whole_row = nullptr) {
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

// The shard's statistics of the row, lanes accumulating tile by tile (met by finish_statistics). With
// Staging::Shared the row's first piece (the whole row when it fits) is copied into shared memory while the rest
// streams through the statistics, and then read from there. `pieces` (optional) receives the row's pieces in the
// order a second walk takes them, each reading where its data waits: the streamed rest first, backward from its end,
// which is still in L2. `whole_row` (optional) receives the logits when the row is one tile.
LaneStats read_row(KernelBuilder& k, const CrossEntropySpec& spec, const Tuning& tuning, const Constexprs& c,
                   const Row& row, std::vector<RowPiece>* pieces = nullptr, Expr* whole_row = nullptr) {
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

// The fused kernel's pass over its row: the row, its global statistics, and what the gradient is written from.
struct FusedPass {
  Row row;
  RowStats stats;
  std::vector<RowPiece> pieces;  // the row's pieces in the gradient walk's order, each read where its data waits
  Tile part;                     // cluster: the columns this program writes
  Expr x;                        // the logits of `part`, or of the row when it is one tile (else undefined)
  Expr stores_row_outputs;       // i1: this program stores the row's loss, lse and rest; undefined: always
};

// One program per row, streaming it (or holding it as one tile when the block covers it), or staging it (read_row).
FusedPass stream_row(KernelBuilder& k, const CrossEntropySpec& spec, const Tuning& tuning, const RowInputs& in, Expr d1,
                     Expr ignore_index, const Constexprs& c) {
  FusedPass pass;
  pass.row = Row::begin(k, in, d1, ignore_index, k.constant_int(0, ScalarType::I64), c);
  pass.stats = finish_statistics(k, c, pass.row, read_row(k, spec, tuning, c, pass.row, &pass.pieces, &pass.x));
  return pass;
}

// A program of a cluster of C programs per row (grid = rows x C): its index, and its rank in the cluster.
struct ClusterSeat {
  Expr program, rank;
  static ClusterSeat take(KernelBuilder& k, const Tuning& tuning) {
    Expr program = k.program_id(0).to(ScalarType::I64);
    return {program, program % double(tuning.cluster)};
  }
  Row begin_row(KernelBuilder& k, const Tuning& tuning, const RowInputs& in, Expr d1, Expr ignore_index,
                const Constexprs& c) const {
    return Row::begin(k, in, d1, ignore_index, k.constant_int(0, ScalarType::I64), c, program / double(tuning.cluster));
  }
};

// Publishes the program's statistics of its part of the row in `exchange`, waits for the others at the cluster
// barrier, and merges all C partials itself (a few loads from L2): the row's statistics.
RowStats exchange_statistics(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, Expr exchange,
                             const ClusterSeat& seat, const Row& row, const RowStats& mine) {
  store_partials(k, k.addptr(exchange, seat.program * double(kPartialFields)), mine, c);
  k.cluster_barrier();
  Expr partials = k.addptr(exchange, row.index * double(tuning.cluster * kPartialFields));
  return merge_partials(
      k.constant_int(tuning.cluster, ScalarType::I32),
      [&](Expr r, int f) { return k.load(k.addptr(partials, r * double(kPartialFields) + double(f))); },
      k.constant(0.0, ScalarType::F32), c);
}

// A cluster of C programs per row, each holding its part in registers as one tile.
FusedPass cluster_row(KernelBuilder& k, const CrossEntropySpec& spec, const Tuning& tuning, const RowInputs& in,
                      Expr d1, Expr ignore_index, Expr exchange, const Constexprs& c) {
  FusedPass pass;
  ClusterSeat seat = ClusterSeat::take(k, tuning);
  Row& row = pass.row = seat.begin_row(k, tuning, in, d1, ignore_index, c);
  int64_t width = cluster_part_width(spec, tuning.cluster);
  Expr first = (seat.rank * double(width)).to(ScalarType::I32);
  Expr columns = chunked_columns(k, first, 0, width, row.shape.chunk);
  pass.part = {columns, columns, columns < c.vocab_shard, true};
  pass.x = load_logits(k, row.logits.pointer, columns, pass.part.in_row);
  Expr owns_label = (row.label_column >= first) & (row.label_column < first + double(width));
  RowStats mine = LaneStats::empty(k, width / row.shape.chunk)
                      .accumulate(pass.x, pass.part.in_row, columns == row.label_column, c)
                      .finish(label_logit(k, row, owns_label), owns_label, c);
  pass.stats = exchange_statistics(k, tuning, c, exchange, seat, row, mine);
  pass.stores_row_outputs = seat.rank == 0.0;
  return pass;
}

// A cluster of C programs per row, each staging its part of the row in shared memory: it folds the part's statistics
// from there, exchanges them, and writes its part's gradient from shared memory. The row is read from DRAM once,
// with several programs per SM.
FusedPass cluster_staged_row(KernelBuilder& k, const CrossEntropySpec& spec, const Tuning& tuning, const RowInputs& in,
                             Expr d1, Expr ignore_index, Expr exchange, const Constexprs& c) {
  FusedPass pass;
  ClusterSeat seat = ClusterSeat::take(k, tuning);
  const Row& row = pass.row = seat.begin_row(k, tuning, in, d1, ignore_index, c);
  const int64_t width = staged_part_width(spec, tuning);
  Expr first = (seat.rank * double(width)).to(ScalarType::I32);
  // Offsets below V - (C - 1) * width (what the last part holds of the row's columns) are columns in every part.
  RowPiece part = piece_of(k, row, first, spec.vocab_shard - (tuning.cluster - 1) * width, width);
  // Where the label sits in the part, in offsets from the part's start (the same in both numberings of piece_of).
  Expr label_offset = part.row.label_offset();
  Expr owns_label = (row.label_column >= 0.0) & (label_offset >= 0.0) & (label_offset < double(width));
  part.row.compares_label_group_only = true;
  StagedPiece staged = start_staging(k, tuning, c, part, true);
  LaneStats lanes = fold_staged(k, tuning, c, staged, no_statistics(k, tuning, part.row));
  RowStats mine = lanes.finish(label_logit(k, row, owns_label), owns_label, c);
  pass.stats = exchange_statistics(k, tuning, c, exchange, seat, row, mine);
  pass.pieces = {staged.whole};
  pass.stores_row_outputs = seat.rank == 0.0;
  return pass;
}

}  // namespace

std::unique_ptr<Kernel> build_stats(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_stats");
  Tuning tuning = tuning_for(spec, CrossEntropyKernel::Stats);
  RowInputs in = RowInputs::declare(k, spec, CrossEntropyKernel::Stats, tuning, false);
  Expr partials = f32_param(k, "partials");
  Expr d1 = k.param(ir::i64(), "d1"), ignore_index = k.param(ir::i64(), "ignore_index");
  Expr vocab_offset = k.param(ir::i64(), "vocab_offset");
  Constexprs c = Constexprs::declare(k);

  Row row = Row::begin(k, in, d1, ignore_index, vocab_offset, c);
  RowStats stats = finish_statistics(k, c, row, read_row(k, spec, tuning, c, row));

  store_partials(k, k.addptr(partials, row.index * double(kPartialFields)), stats, c);
  k.set_attribute("threads", tuning.threads);
  return k.finish();
}

// A single shard's forward in one launch: the statistics kernel's walk, then what combine would store of the row
// (there are no partials to merge). Program 0 also counts the call's labels, for the scale that reduce and backward
// read and the bad-label count: count's work, without its launch (a forward on few rows is mostly launches).
std::unique_ptr<Kernel> build_forward(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_forward");
  Tuning tuning = tuning_for(spec, CrossEntropyKernel::Forward);
  RowInputs in = RowInputs::declare(k, spec, CrossEntropyKernel::Forward, tuning, true);
  Expr loss_rows = f32_param(k, "loss_rows"), lse_rows = f32_param(k, "lse"), rest_rows = f32_param(k, "rest");
  Expr logprob_rows = f32_param(k, "logprob"), entropy_rows = f32_param(k, "entropy");
  Expr inv_den = f32_param(k, "inv_den"), bad_count = k.param(ir::ptr(ScalarType::I32), "bad");
  Expr rows = k.param(ir::i64(), "rows"), d1 = k.param(ir::i64(), "d1");
  Expr ignore_index = k.param(ir::i64(), "ignore_index"), normalizer = k.param(ir::f32(), "normalizer");
  Constexprs c = Constexprs::declare(k);

  Row row = Row::begin(k, in, d1, ignore_index, k.constant_int(0, ScalarType::I64), c);
  RowOutputs out = row_outputs(finish_statistics(k, c, row, read_row(k, spec, tuning, c, row)), row.facts, c);
  auto store_row = [&](Expr base, Expr value) { k.store(k.addptr(base, row.index), value); };
  store_row(loss_rows, out.loss * in.weight(k, row.index));
  store_row(lse_rows, out.lse);
  store_row(rest_rows, out.rest);
  store_row(logprob_rows, out.logprob);
  k.if_then(c.entropy != 0.0, [&] { store_row(entropy_rows, out.entropy); });
  k.if_then(row.index == 0.0, [&] {
    // Four rows a thread a step: eight (as the count kernel takes them) raised the kernel from 53 to 72 registers.
    LabelCounts n = count_labels(k, in.labels, in.mask_or_null(), rows, d1, ignore_index, c, 4 * tuning.threads);
    k.store(inv_den, reduction_scale(k, n.ok, normalizer, c));
    k.store(bad_count, n.bad);
  });
  k.set_attribute("threads", tuning.threads);
  return k.finish();
}

std::unique_ptr<Kernel> build_backward(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_backward");
  Tuning tuning = tuning_for(spec, CrossEntropyKernel::Backward);
  RowInputs in = RowInputs::declare(k, spec, CrossEntropyKernel::Backward, tuning, true);
  Expr lse_rows = f32_param(k, "lse"), rest_rows = f32_param(k, "rest");
  RowTensor grad_output = RowTensor::declare(k, "grad_output", ScalarType::F32);
  Expr inv_den = f32_param(k, "inv_den");
  RowTensor grad =
      spec.in_place ? in.logits : RowTensor::declare(k, "grad", element_of(spec.dtype), in.logits.alignment);
  Expr d1 = k.param(ir::i64(), "d1"), ignore_index = k.param(ir::i64(), "ignore_index");
  Expr vocab_offset = k.param(ir::i64(), "vocab_offset");
  Constexprs c = Constexprs::declare(k);

  Row row = Row::begin(k, in, d1, ignore_index, vocab_offset, c);
  Expr scale = k.load(grad_output.row_pointer(row.index, d1)) * in.weight(k, row.index) * k.load(inv_den);
  Expr lse = k.load(k.addptr(lse_rows, row.index)), rest = k.load(k.addptr(rest_rows, row.index));
  // Alignment::Base promises the gradient has the logits' strides, so its rows have the same head.
  write_gradient(k, spec, tuning, c, row, WalkOrder::Forward, grad.row_start(row.index, d1).pointer, lse, rest, scale);
  k.set_attribute("threads", tuning.threads);
  return k.finish();
}

namespace {

// The fused kernel, taking the reduction's scale from the count kernel (ce_fused), or with `counts_labels` counting
// the call's labels in every program first (ce_fused_small: no count launch before it, for calls on few rows; program
// 0 stores the scale and the bad-label count, as count would).
std::unique_ptr<Kernel> fused_kernel(const CrossEntropySpec& spec, bool counts_labels) {
  KernelBuilder k(counts_labels ? "ce_fused_small" : "ce_fused");
  Tuning tuning = tuning_for(spec, CrossEntropyKernel::Fused);
  RowInputs in = RowInputs::declare(k, spec, CrossEntropyKernel::Fused, tuning, true);
  Expr inv_den = f32_param(k, "inv_den");
  Expr loss_rows = f32_param(k, "loss_rows");
  Expr lse_rows = f32_param(k, "lse"), rest_rows = f32_param(k, "rest");
  RowTensor grad =
      spec.in_place ? in.logits : RowTensor::declare(k, "grad", element_of(spec.dtype), in.logits.alignment);
  Expr d1 = k.param(ir::i64(), "d1"), ignore_index = k.param(ir::i64(), "ignore_index");
  Expr grad_scale = k.param(ir::f32(), "grad_scale");
  // Always a parameter, so that every tuning of the kernel has one ABI (a stored `xent tune` winner may use a cluster).
  Expr exchange = f32_param(k, "exchange");
  Expr rows, normalizer, bad_count;
  if (counts_labels) {
    rows = k.param(ir::i64(), "rows"), normalizer = k.param(ir::f32(), "normalizer");
    bad_count = k.param(ir::ptr(ScalarType::I32), "bad");
  }
  Constexprs c = Constexprs::declare(k);

  FusedPass pass = tuning.cluster == 1 ? stream_row(k, spec, tuning, in, d1, ignore_index, c)
                   : tuning.staging == Staging::Shared
                       ? cluster_staged_row(k, spec, tuning, in, d1, ignore_index, exchange, c)
                       : cluster_row(k, spec, tuning, in, d1, ignore_index, exchange, c);
  const Row& row = pass.row;
  const RowStats& stats = pass.stats;
  Expr d = stats.d_rest + stats.e_label;
  Expr lse = log_sum_exp(stats.m, d), rest = stats.d_rest / d;
  Expr weight = in.weight(k, row.index);
  auto store_row_outputs = [&] {
    k.store(k.addptr(loss_rows, row.index), row_loss(lse, stats.x_label, stats.sum_x, row.facts, c) * weight);
    k.store(k.addptr(lse_rows, row.index), lse);
    k.store(k.addptr(rest_rows, row.index), rest);
  };
  if (pass.stores_row_outputs.defined())
    k.if_then(pass.stores_row_outputs, store_row_outputs);
  else
    store_row_outputs();

  Expr inv_den_value;
  if (counts_labels) {
    // One row a thread a step: the calls are short, and the walk's registers stay the kernel's most.
    LabelCounts n = count_labels(k, in.labels, in.mask_or_null(), rows, d1, ignore_index, c, tuning.threads);
    inv_den_value = reduction_scale(k, n.ok, normalizer, c);
    k.if_then(k.program_id(0) == 0.0, [&] {
      k.store(inv_den, inv_den_value);
      k.store(bad_count, n.bad);
    });
  } else {
    inv_den_value = k.load(inv_den);
  }
  Expr scale = grad_scale * weight * inv_den_value;
  Expr grad_start = grad.row_start(row.index, d1).pointer;
  if (!pass.part.columns.defined()) {
    // The row's second read: backward, so that it starts with the columns still in L2.
    for (const RowPiece& piece : pass.pieces) {
      Expr piece_grad = piece.from.defined() ? k.addptr(grad_start, piece.from) : grad_start;
      write_gradient(k, spec, tuning, c, piece.row, WalkOrder::Backward, piece_grad, lse, rest, scale, pass.x);
    }
  } else {
    Expr g = gradient(pass.x, pass.part.is_label(row.label_column), lse, rest, scale, c);
    g = k.select(row.facts.ok, g, k.literal(0.0, g));  // zeros for rows that are not ok, whatever their logits
    k.store(k.addptr(grad_start, pass.part.offsets), g.to(grad_start.type().pointee()), pass.part.in_row);
  }
  k.set_attribute("threads", tuning.threads);
  k.set_attribute("cluster", tuning.cluster);
  return k.finish();
}

}  // namespace

std::unique_ptr<Kernel> build_fused(const CrossEntropySpec& spec) { return fused_kernel(spec, false); }
std::unique_ptr<Kernel> build_fused_small(const CrossEntropySpec& spec) { return fused_kernel(spec, true); }

}  // namespace xent::ce
