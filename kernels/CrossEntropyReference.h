// The fp64 reference of SPEC.md: what every kernel variant, on the interpreter or the GPU, is checked against.
// It works on the whole (unsharded) vocabulary, row by row, in the most direct form of the math.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/CrossEntropySpec.h"

namespace xent {

struct ReferenceProblem {
  int64_t rows = 0;
  int64_t vocab = 0;
  std::vector<double> logits;   // rows x vocab, contiguous, the values the kernels see (already rounded)
  std::vector<int64_t> labels;  // rows
  std::vector<int32_t> mask;    // empty, or rows (nonzero = keep)
  std::vector<double> weights;  // empty, or rows
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  double z_loss = 0.0;
  Reduction reduction = Reduction::Mean;
  std::optional<double> num_label_tokens;  // sum only
  std::vector<double> grad_output;         // one value (a scalar) or one per row
};

struct ReferenceResult {
  std::vector<double> row_loss;  // weight_i · loss_i; NaN for bad labels, 0 for rows not kept
  double loss = 0.0;             // reduced (for `none`: unused)
  std::vector<double> lse;       // per row
  std::vector<double> logprob;   // x_label - lse for ok rows, else 0
  std::vector<double> entropy;   // per row
  std::vector<bool> ok;          // the row is kept and its label in range: it has a loss and a gradient
  std::vector<double> grad;  // rows x vocab: s_i · (p − ε/V − (1 − ε)·onehot + 2z·lse·p), 0 for rows not ok
  // rows x vocab: |s_i| · (p + ε/V + (1 − ε)·onehot + |2z·lse|·p), the size of the terms each gradient element is
  // formed from. Where they cancel (p close to ε/V), fp32 arithmetic can only be accurate relative to this.
  std::vector<double> grad_terms;
  int64_t bad_labels = 0;
};

ReferenceResult reference_cross_entropy(const ReferenceProblem& problem);

}  // namespace xent
