#include "kernels/CrossEntropyReference.h"

#include <cmath>
#include <limits>

namespace xent {

ReferenceResult reference_cross_entropy(const ReferenceProblem& pb) {
  const int64_t V = pb.vocab;
  const double eps = pb.label_smoothing, z = pb.z_loss, nan = std::numeric_limits<double>::quiet_NaN();
  ReferenceResult r;
  r.row_loss.assign(pb.rows, 0.0);
  r.lse.assign(pb.rows, 0.0);
  r.logprob.assign(pb.rows, 0.0);
  r.entropy.assign(pb.rows, 0.0);
  r.grad.assign(pb.rows * V, 0.0);
  r.grad_terms.assign(pb.rows * V, 0.0);

  std::vector<bool>& ok = r.ok;
  ok.assign(pb.rows, false);
  int64_t ok_rows = 0;
  for (int64_t i = 0; i < pb.rows; ++i) {
    int64_t y = pb.labels[i];
    bool kept = y != pb.ignore_index && (pb.mask.empty() || pb.mask[i] != 0);
    bool bad = kept && (y < 0 || y >= V);
    ok[i] = kept && !bad;
    ok_rows += ok[i];
    r.bad_labels += bad;
    const double* x = &pb.logits[i * V];
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < V; ++j) m = std::fmax(m, x[j]);
    double shift = std::isinf(m) && m < 0 ? 0.0 : m;
    double d = 0.0, sum_x = 0.0, sum_px = 0.0;
    for (int64_t j = 0; j < V; ++j) {
      double e = std::exp(x[j] - shift);
      d += e;
      sum_x += x[j];
      if (e > 0) sum_px += e * x[j];
    }
    double lse = shift + std::log(d);
    r.lse[i] = lse;
    r.entropy[i] = lse - sum_px / d;
    if (bad) r.row_loss[i] = nan;
    if (!ok[i]) continue;
    double weight = pb.weights.empty() ? 1.0 : pb.weights[i];
    // Terms with a zero coefficient are left out, not multiplied by 0: their factor may be infinite.
    double loss = (1 - eps) * (lse - x[y]);
    if (eps != 0) loss += eps * (lse - sum_x / V);
    if (z != 0) loss += z * lse * lse;
    r.row_loss[i] = weight * loss;
    r.logprob[i] = x[y] - lse;
  }

  double inv_den = 1.0;
  if (pb.reduction == Reduction::Mean) inv_den = ok_rows ? 1.0 / ok_rows : 0.0;
  if (pb.reduction == Reduction::Sum && pb.num_label_tokens)
    inv_den = *pb.num_label_tokens ? 1.0 / *pb.num_label_tokens : 0.0;
  double total = 0.0;
  for (double l : r.row_loss) total += l;
  r.loss = total * inv_den;

  for (int64_t i = 0; i < pb.rows; ++i) {
    if (!ok[i]) continue;
    double upstream = pb.grad_output.size() == 1 ? pb.grad_output[0] : pb.grad_output[i];
    double s = upstream * (pb.weights.empty() ? 1.0 : pb.weights[i]) * inv_den;
    const double* x = &pb.logits[i * V];
    for (int64_t j = 0; j < V; ++j) {
      double p = std::exp(x[j] - r.lse[i]);
      double onehot = j == pb.labels[i] ? 1.0 : 0.0;
      double z_term = z != 0 ? 2 * z * r.lse[i] * p : 0.0;
      r.grad[i * V + j] = s * (p - eps / V - (1 - eps) * onehot + z_term);
      r.grad_terms[i * V + j] = std::fabs(s) * (p + eps / V + (1 - eps) * onehot + std::fabs(z_term));
    }
  }
  return r;
}

}  // namespace xent
