#include "kernels/CrossEntropyLaunch.h"

#include "compiler/Error.h"
#include "compiler/ir/IR.h"

namespace xent {
namespace {

uint64_t round_up(uint64_t n) { return (n + 15) / 16 * 16; }

// Appends arguments in ABI order.
class Args {
 public:
  Args& ptr(uint64_t a) { return add(KernelArg::ptr(a)); }
  Args& i32(int32_t v) { return add(KernelArg::i32(v)); }
  Args& i64(int64_t v) { return add(KernelArg::i64(v)); }
  Args& f32(float v) { return add(KernelArg::f32(v)); }
  Args& tensor(const RowTensorRef& t) { return ptr(t.address).i64(t.s0).i64(t.s1); }
  Args& tensor_if(bool present, const RowTensorRef& t) { return present ? tensor(t) : *this; }
  Args& ptr_if(bool present, uint64_t a) { return present ? ptr(a) : *this; }
  std::vector<KernelArg> take() { return std::move(args_); }

 private:
  Args& add(KernelArg a) {
    args_.push_back(a);
    return *this;
  }
  std::vector<KernelArg> args_;
};

Launch count(const CrossEntropySpec& spec, const CrossEntropyCall& c) {
  const Workspace& w = c.workspace;
  Args a;
  a.tensor(c.labels).tensor_if(spec.has_mask, c.mask).ptr(w.inv_den).ptr(w.bad).ptr(w.tickets);
  a.i64(c.rows()).i64(c.d1).i64(c.ignore_index).f32(c.normalizer);
  return {CrossEntropyKernel::Count, 1, a.take(), c.rows()};
}

Launch reduce(const CrossEntropyCall& c) {
  const Workspace& w = c.workspace;
  return {CrossEntropyKernel::Reduce, 1, Args().ptr(w.loss_rows).ptr(w.inv_den).ptr(w.loss).i64(c.rows()).take(),
          c.rows()};
}

// Whether a fused call counts its labels in fused_small rather than in a count launch before ce_fused.
bool in_fused_small(const CrossEntropyCall& c, FusedCount counting) {
  return counting == FusedCount::InKernel || (counting == FusedCount::Auto && c.rows() <= kMaxFusedSmallRows);
}

void check(const CrossEntropyCall& c) {
  if (c.d0 < 0 || c.d1 < 1)
    throw UserError(cat("rows: leading dimensions must be d0 >= 0 and d1 >= 1, got ", c.d0, " x ", c.d1));
  if (c.world < 1 || c.rank < 0 || c.rank >= c.world)
    throw UserError(cat("rank: must be in [0, world) with world >= 1, got rank ", c.rank, " of ", c.world));
}

}  // namespace

uint64_t workspace_bytes(int64_t rows, int world) {
  uint64_t n = static_cast<uint64_t>(rows);
  return round_up(n * world * kPartialFields * 4) + 4 * 16 + 5 * round_up(n * 4) +
         round_up(n * ir::kMaxCluster * kPartialFields * 4);
}

Workspace carve_workspace(uint64_t base, int64_t rows, int world) {
  uint64_t n = static_cast<uint64_t>(rows), at = base;
  auto take = [&](uint64_t bytes) {
    uint64_t here = at;
    at += round_up(bytes);
    return here;
  };
  // The scalars first, so that their addresses do not depend on the row count.
  Workspace w;
  w.inv_den = take(4);
  w.bad = take(4);
  w.loss = take(4);
  w.tickets = take(4);
  w.loss_rows = take(n * 4);
  w.lse = take(n * 4);
  w.rest = take(n * 4);
  w.logprob = take(n * 4);
  w.entropy = take(n * 4);
  w.cluster_partials = take(n * ir::kMaxCluster * kPartialFields * 4);
  w.partials = take(n * world * kPartialFields * 4);
  return w;
}

std::vector<Launch> plan_statistics(const CrossEntropySpec& spec, const CrossEntropyCall& c) {
  check(c);
  uint64_t own_partials = c.workspace.partials + uint64_t(c.rank) * c.rows() * kPartialFields * 4;
  Args a;
  a.tensor(c.logits).tensor(c.labels).tensor_if(spec.has_mask, c.mask).ptr(own_partials);
  a.i64(c.d1).i64(c.ignore_index).i64(c.vocab_offset);
  return {count(spec, c), {CrossEntropyKernel::Stats, c.rows(), a.take(), c.rows()}};
}

std::vector<Launch> plan_forward(const CrossEntropySpec& spec, const CrossEntropyCall& c) {
  check(c);
  if (!spec.single_shard())
    throw UserError(
        "forward: the one-pass forward needs the whole vocabulary on one rank; a shard plans statistics, "
        "the exchange of partials and loss");
  const Workspace& w = c.workspace;
  Args a;
  a.tensor(c.logits).tensor(c.labels).tensor_if(spec.has_mask, c.mask).ptr_if(spec.has_weights, c.weights);
  a.ptr(w.loss_rows).ptr(w.lse).ptr(w.rest).ptr(w.logprob).ptr(w.entropy).ptr(w.inv_den).ptr(w.bad);
  a.i64(c.rows()).i64(c.d1).i64(c.ignore_index).f32(c.normalizer);
  std::vector<Launch> launches = {{CrossEntropyKernel::Forward, c.rows(), a.take(), c.rows()}};
  if (spec.reduction != Reduction::None) launches.push_back(reduce(c));
  return launches;
}

std::vector<Launch> plan_loss(const CrossEntropySpec& spec, const CrossEntropyCall& c) {
  check(c);
  const Workspace& w = c.workspace;
  Args a;
  a.ptr(w.partials).tensor(c.labels).tensor_if(spec.has_mask, c.mask).ptr_if(spec.has_weights, c.weights);
  a.ptr(w.loss_rows).ptr(w.lse).ptr(w.rest).ptr(w.logprob).ptr(w.entropy);
  a.i64(c.rows()).i64(c.d1).i64(c.ignore_index).i32(c.world);
  if (spec.reduction != Reduction::None) a.ptr(w.inv_den).ptr(w.loss).ptr(w.tickets);
  int64_t programs = (c.rows() + kCombineRowsPerProgram - 1) / kCombineRowsPerProgram;
  return {{CrossEntropyKernel::Combine, programs, a.take(), c.rows()}};
}

std::vector<Launch> plan_backward(const CrossEntropySpec& spec, const CrossEntropyCall& c) {
  check(c);
  const Workspace& w = c.workspace;
  Args a;
  a.tensor(c.logits).tensor(c.labels).tensor_if(spec.has_mask, c.mask).ptr_if(spec.has_weights, c.weights);
  a.ptr(w.lse).ptr(w.rest).tensor(c.grad_output).ptr(w.inv_den).tensor_if(!spec.in_place, c.grad);
  a.i64(c.d1).i64(c.ignore_index).i64(c.vocab_offset);
  return {{CrossEntropyKernel::Backward, c.rows(), a.take(), c.rows()}};
}

bool reduces_in_fused_small(const CrossEntropySpec& spec, const CrossEntropyCall& c, FusedCount counting) {
  return in_fused_small(c, counting) && spec.reduction != Reduction::None;
}

std::vector<Launch> plan_fused(const CrossEntropySpec& spec, const CrossEntropyCall& c, FusedCount counting) {
  check(c);
  if (!spec.single_shard()) throw UserError("fused: the fused pass needs the whole vocabulary on one rank");
  const Workspace& w = c.workspace;
  Args a;
  a.tensor(c.logits).tensor(c.labels).tensor_if(spec.has_mask, c.mask).ptr_if(spec.has_weights, c.weights);
  a.ptr(w.inv_den).ptr(w.loss_rows).ptr(w.lse).ptr(w.rest).tensor_if(!spec.in_place, c.grad);
  a.i64(c.d1).i64(c.ignore_index).f32(c.grad_scale);
  a.ptr(w.cluster_partials);
  if (!in_fused_small(c, counting)) {
    std::vector<Launch> launches = {count(spec, c), {CrossEntropyKernel::Fused, c.rows(), a.take(), c.rows()}};
    if (spec.reduction != Reduction::None) launches.push_back(reduce(c));
    return launches;
  }
  a.i64(c.rows()).f32(c.normalizer).ptr(w.bad);
  if (reduces_in_fused_small(spec, c, counting)) {
    if (!c.tickets) throw UserError("tickets: a reduced fused call of few rows needs a ticket counter that is zero");
    a.ptr(w.loss).ptr(c.tickets);
  }
  return {{CrossEntropyKernel::FusedSmall, c.rows(), a.take(), c.rows()}};
}

}  // namespace xent
