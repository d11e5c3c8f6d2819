#include "tools/verify/ApiArguments.h"

namespace xent::verify {
namespace {

ElementType element_type(DType d) {
  return d == DType::F32 ? ElementType::F32 : d == DType::BF16 ? ElementType::BF16 : ElementType::F16;
}

ElementType label_type(const CrossEntropySpec& s) {
  return s.label_type == LabelType::I32 ? ElementType::I32 : ElementType::I64;
}

Rows rows(const RowTensorRef& t, ElementType type) { return {t.address, t.s0, t.s1, type}; }

}  // namespace

CrossEntropyOptions api_options(const StagedRank& r) {
  const CrossEntropySpec& s = r.spec;
  CrossEntropyOptions o;
  o.dtype = element_type(s.dtype);
  o.label_dtype = label_type(s);
  o.vocab = s.vocab, o.vocab_offset = r.call.vocab_offset, o.vocab_shard = s.vocab_shard;
  o.rank = r.call.rank, o.world = r.call.world;
  o.label_smoothing = s.label_smoothing, o.z_loss = s.z_loss;
  o.reduction = static_cast<LossReduction>(s.reduction);
  o.has_mask = s.has_mask, o.has_weights = s.has_weights, o.entropy = s.entropy, o.in_place = s.in_place;
  o.tuning = {s.tuning.threads, s.tuning.block};
  return o;
}

Args api_args(const StagedRank& r) {
  const CrossEntropyCall& c = r.call;
  const ElementType type = element_type(r.spec.dtype);
  return {.d0 = c.d0,
          .d1 = c.d1,
          .logits = rows(c.logits, type),
          .labels = rows(c.labels, label_type(r.spec)),
          .mask = rows(c.mask, ElementType::I32),
          .weights = c.weights,
          .grad = rows(c.grad, type),
          .grad_output = rows(c.grad_output, ElementType::F32),
          .grad_scale = c.grad_scale,
          .ignore_index = c.ignore_index,
          .num_label_tokens = c.normalizer,
          .workspace = r.workspace,
          .workspace_bytes = CrossEntropy::workspace_bytes(c.rows(), c.world)};
}

}  // namespace xent::verify
