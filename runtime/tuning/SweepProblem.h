// The tensors an autotuning sweep launches its variants on (Autotuner.h): one call of `rows` rows of a spec's shard
// in device memory, with random logits (normal, sigma 3, as `xent bench` uses) and labels, laid out as the spec's
// alignment promises (rows padded to a multiple of 16 bytes for Alignment::Rows), and a keep-all mask and unit
// weights when the spec has them. Timing does not depend on the values, but random ones keep every code path (label
// in this shard or not, large exponents) as in real use.
#pragma once

#include <vector>

#include "kernels/CrossEntropyLaunch.h"
#include "runtime/cuda/Memory.h"

namespace xent::runtime {

class SweepProblem {
 public:
  // In the current context.
  SweepProblem(const CrossEntropySpec& spec, int64_t rows);

  // The launch of `kernel` in the plan of this call (`spec` is the problem's, with any tuning: plans do not depend
  // on it).
  Launch launch_of(const CrossEntropySpec& spec, CrossEntropyKernel kernel) const;

 private:
  cuda::DeviceBuffer logits_, grad_, labels_, mask_, weights_, upstream_, workspace_;
  CrossEntropyCall call_;
};

}  // namespace xent::runtime
