// The kernels that work on tiles of rows rather than on a row's columns: count, combine (which also reduces the loss
// of a sharded forward, LossReduction) and reduce (the loss of a fused call on many rows or of a one-shard forward).
// They touch O(rows) bytes, a small fraction of the logits' traffic.

#include <optional>

#include "kernels/CrossEntropyCommon.h"
#include "kernels/CrossEntropyKernels.h"

namespace xent::ce {
namespace {

using ir::Kernel;

// The count and reduce kernels' step: 8 rows a thread.
constexpr int64_t kRowSetTile = int64_t{kRowSetThreads} * 8;

}  // namespace

std::unique_ptr<Kernel> build_count(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_count");
  RowTensor labels = RowTensor::declare(k, "labels", element_of(spec.label_type));
  RowTensor mask;
  if (spec.has_mask) mask = RowTensor::declare(k, "mask", ScalarType::I32);
  Expr inv_den = f32_param(k, "inv_den"), bad_count = k.param(ir::ptr(ScalarType::I32), "bad");
  Expr tickets = k.param(ir::ptr(ScalarType::I32), "tickets");
  Expr rows = k.param(ir::i64(), "rows"), d1 = k.param(ir::i64(), "d1");
  Expr ignore_index = k.param(ir::i64(), "ignore_index"), normalizer = k.param(ir::f32(), "normalizer");
  Constexprs c = Constexprs::declare(k);

  LabelCounts counts = count_labels(k, labels, spec.has_mask ? &mask : nullptr, rows, d1, ignore_index, c, kRowSetTile);
  k.store(inv_den, reduction_scale(k, counts.ok, normalizer, c));
  k.store(bad_count, counts.bad);
  k.store(tickets, k.constant_int(0, ScalarType::I32));  // for combine's LossReduction
  k.set_attribute("threads", kRowSetThreads);
  return k.finish();
}

std::unique_ptr<Kernel> build_combine(const CrossEntropySpec& spec) {
  KernelBuilder k("ce_combine");
  Expr partials = f32_param(k, "partials");
  RowTensor labels = RowTensor::declare(k, "labels", element_of(spec.label_type));
  RowTensor mask;
  if (spec.has_mask) mask = RowTensor::declare(k, "mask", ScalarType::I32);
  Expr weights = spec.has_weights ? f32_param(k, "weights") : Expr();
  Expr loss_rows = f32_param(k, "loss_rows"), lse_rows = f32_param(k, "lse"), rest_rows = f32_param(k, "rest");
  Expr logprob_rows = f32_param(k, "logprob"), entropy_rows = f32_param(k, "entropy");
  Expr rows = k.param(ir::i64(), "rows"), d1 = k.param(ir::i64(), "d1");
  Expr ignore_index = k.param(ir::i64(), "ignore_index"), world = k.param(ir::i32(), "world");
  std::optional<LossReduction> reduction;
  if (spec.reduction != Reduction::None)
    reduction = LossReduction::declare(k, loss_rows, f32_param(k, "inv_den"), rows);
  Constexprs c = Constexprs::declare(k);

  Expr row =
      (k.program_id(0) * double(kCombineRowsPerProgram) + k.arange(0, kCombineRowsPerProgram)).to(ScalarType::I64);
  Expr in_range = row < rows;
  LabelFacts facts = label_facts(k, labels, spec.has_mask ? &mask : nullptr, row, d1, ignore_index, c, in_range);
  Expr zero = k.splat(k.constant(0.0, ScalarType::F32), {kCombineRowsPerProgram});
  auto field = [&](Expr rank, int f) {
    Expr at = (rank.to(ScalarType::I64) * rows + row) * double(kPartialFields) + double(f);
    return k.load(k.addptr(partials, at), in_range, k.constant(0.0, ScalarType::F32));
  };
  RowOutputs out = row_outputs(merge_partials(world, field, zero, c), facts, c);
  Expr weight = weights.defined() ? k.load(k.addptr(weights, row), in_range, k.constant(0.0, ScalarType::F32)) : Expr();
  auto store_rows = [&](Expr base, Expr value) { k.store(k.addptr(base, row), value, in_range); };
  store_rows(loss_rows, weight.defined() ? out.loss * weight : out.loss);
  store_rows(lse_rows, out.lse);
  store_rows(rest_rows, out.rest);
  store_rows(logprob_rows, out.logprob);
  k.if_then(c.entropy != 0.0, [&] { store_rows(entropy_rows, out.entropy); });
  if (reduction) {
    Expr programs = (rows + double(kCombineRowsPerProgram - 1)) / double(kCombineRowsPerProgram);
    reduction->store_in_last_program(k, programs, kCombineRowsPerProgram);
  }
  k.set_attribute("threads", kCombineRowsPerProgram);
  return k.finish();
}

std::unique_ptr<Kernel> build_reduce(const CrossEntropySpec&) {
  KernelBuilder k("ce_reduce");
  Expr loss_rows = f32_param(k, "loss_rows"), inv_den = f32_param(k, "inv_den"), loss = f32_param(k, "loss");
  Expr rows = k.param(ir::i64(), "rows");
  k.store(loss, sum_row_losses(k, loss_rows, rows, kRowSetTile) * k.load(inv_den));
  k.set_attribute("threads", kRowSetThreads);
  return k.finish();
}

}  // namespace xent::ce
