// The kernels that run one program per row and walk the row's columns: stats, forward, backward and fused (the row
// and its walks in Row.h, staging in RowStaging.h, the walk in tiles in RowWalk.h).

#include <optional>

#include "kernels/CrossEntropyCommon.h"
#include "kernels/CrossEntropyKernels.h"
#include "kernels/Row.h"
#include "kernels/RowStaging.h"

namespace xent::ce {
namespace {

using ir::Kernel;

// The columns each program of a cluster holds: the shard split `cluster` ways, rounded up to whole 16-byte vectors so
// that every part starts 16-byte aligned when the rows do.
int64_t cluster_part_width(const CrossEntropySpec& spec, int cluster) {
  int64_t vector = vector_elements(spec.dtype);
  int64_t width = (spec.vocab_shard + cluster - 1) / cluster;
  return (width + vector - 1) / vector * vector;
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
  write_gradient(k, tuning, c, row, WalkOrder::Forward, grad.row_start(row.index, d1).pointer, lse, rest, scale);
  k.set_attribute("threads", tuning.threads);
  return k.finish();
}

namespace {

// The fused kernel, taking the reduction's scale from the count kernel (ce_fused), or with `counts_labels` counting
// the call's labels in every program first (ce_fused_small: no count launch before it, for calls on few rows; program
// 0 stores the scale and the bad-label count, as count would), and reducing the loss in its last program when the spec
// reduces (LossReduction: the call is then one launch).
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
  std::optional<LossReduction> reduction;
  if (counts_labels) {
    rows = k.param(ir::i64(), "rows"), normalizer = k.param(ir::f32(), "normalizer");
    bad_count = k.param(ir::ptr(ScalarType::I32), "bad");
    if (spec.reduction != Reduction::None) reduction = LossReduction::declare(k, loss_rows, inv_den, rows);
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
      write_gradient(k, tuning, c, piece.row, WalkOrder::Backward, piece_grad, lse, rest, scale, pass.x);
    }
  } else {
    Expr g = gradient(pass.x, pass.part.is_label(row.label_column), lse, rest, scale, c);
    g = k.select(row.facts.ok, g, k.literal(0.0, g));  // zeros for rows that are not ok, whatever their logits
    k.store(k.addptr(grad_start, pass.part.offsets), g.to(grad_start.type().pointee()), pass.part.in_row);
  }
  if (reduction) reduction->store_in_last_program(k, rows * double(tuning.cluster), tuning.threads);
  k.set_attribute("threads", tuning.threads);
  k.set_attribute("cluster", tuning.cluster);
  return k.finish();
}

}  // namespace

std::unique_ptr<Kernel> build_fused(const CrossEntropySpec& spec) { return fused_kernel(spec, false); }
std::unique_ptr<Kernel> build_fused_small(const CrossEntropySpec& spec) { return fused_kernel(spec, true); }

}  // namespace xent::ce
