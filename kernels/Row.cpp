#include "kernels/Row.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace xent::ce {
namespace {

// The columns of a lane: one 16-byte vector where the rows' accesses are aligned to one (else a single column), and
// when the row streams in tiles, no more than divides the tile, so that every tile starts on a whole lane.
int64_t lane_width(const CrossEntropySpec& spec, CrossEntropyKernel kernel, const Tuning& tuning, int64_t extent) {
  if (alignment_for(spec, kernel) == Alignment::None) return 1;
  int64_t vector = vector_elements(spec.dtype);
  return tuning.block >= extent ? vector : std::gcd(vector, tuning.block);
}

}  // namespace

Expr load_logits(KernelBuilder& k, Expr row_start, Expr cols, Expr in_row) {
  Expr at = k.addptr(row_start, cols);
  if (!in_row.defined()) return k.load(at).to(ScalarType::F32);
  Expr minus_inf = k.constant(-std::numeric_limits<double>::infinity(), row_start.type().pointee());
  return k.load(at, in_row, minus_inf).to(ScalarType::F32);
}

RowInputs RowInputs::declare(KernelBuilder& k, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
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

Expr RowInputs::weight(KernelBuilder& k, Expr row) const {
  return weights.defined() ? k.load(k.addptr(weights, row)) : k.constant(1.0, ScalarType::F32);
}

Row Row::begin(KernelBuilder& k, const RowInputs& in, Expr d1, Expr ignore_index, Expr vocab_offset,
               const Constexprs& c, Expr index) {
  Row r;
  r.index = index.defined() ? index : k.program_id(0).to(ScalarType::I64);
  r.facts = label_facts(k, in.labels, in.mask_or_null(), r.index, d1, ignore_index, c);
  r.label_column = local_label_column(r.facts, vocab_offset, c);
  r.logits = in.logits.row_start(r.index, d1);
  r.shape = in.shape;
  return r;
}

Exprs Row::walk(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, Exprs carried, const TileWalk& tile_walk,
                WalkOrder order) const {
  Expr label_at = tile_walk.looks_for_label && compares_label_group_only ? label_offset() : Expr();
  return for_each_tile(k, shape, tuning, c, logits.head, label_at, std::move(carried), tile_walk, order);
}

// A readable tile in shared memory loads whole vectors and masks their values: a masked load becomes code element by
// element, which took the staged fused kernel with heads 5 ms of compile and 18 registers more. (From global memory,
// whole vectors raised the streaming kernels' registers instead: backward 62 -> 71.)
Expr Row::load(const Tile& tile) const {
  KernelBuilder& k = logits.pointer.builder();
  if (!tile.readable || logits.pointer.type().space() != ir::MemorySpace::Shared)
    return load_logits(k, logits.pointer, tile.offsets, tile.in_row);
  Expr x = load_logits(k, logits.pointer, tile.offsets, Expr());
  return k.select(tile.in_row, x, k.literal(-std::numeric_limits<double>::infinity(), x));
}

Expr label_logit(KernelBuilder& k, const Row& row, Expr owns_label) {
  Expr column = k.select(owns_label, row.label_column, k.constant_int(0, ScalarType::I32));
  if (row.logits.head.defined()) column = column + row.logits.head;
  Expr zero = k.constant(0.0, row.logits.pointer.type().pointee());
  return k.load(k.addptr(row.logits.pointer, column), owns_label, zero).to(ScalarType::F32);
}

LaneStats no_statistics(KernelBuilder& k, const Tuning& tuning, const Row& row) {
  return LaneStats::empty(k, (std::min(tuning.block, row.shape.extent) + row.shape.chunk - 1) / row.shape.chunk);
}

LaneStats fold_statistics(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const Row& row, LaneStats stats,
                          Expr* whole_row, std::function<void(Expr start)> at_group) {
  auto load = [&](const Tile& tile) { return row.load(tile); };
  auto fold = [&](const Tile& tile, Expr x, const Exprs& carried) {
    if (tile.whole_row && whole_row) *whole_row = x;
    return LaneStats::from(carried).accumulate(x, tile.in_row, tile.is_label(row.label_column), c).to_exprs();
  };
  return LaneStats::from(row.walk(k, tuning, c, stats.to_exprs(), {load, fold, true, std::move(at_group)}));
}

RowStats finish_statistics(KernelBuilder& k, const Constexprs& c, const Row& row, const LaneStats& stats) {
  Expr owns_label = row.label_column >= 0.0;
  return stats.finish(label_logit(k, row, owns_label), owns_label, c);
}

void write_gradient(KernelBuilder& k, const Tuning& tuning, const Constexprs& c, const Row& row, WalkOrder order,
                    Expr grad_start, Expr lse, Expr rest, Expr scale, Expr whole_row) {
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

}  // namespace xent::ce
