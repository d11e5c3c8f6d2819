// Random inputs on the device for `xent bench` and `xent bench --tp`: timing needs plausible values, not a reference.
#pragma once

#include <cstdint>

#include "kernels/CrossEntropySpec.h"
#include "runtime/cuda/Memory.h"

namespace xent::tools {

// Fills `buffer` with random values of `dtype` (generated for a few rows on the host, then replicated on the device).
void fill_logits(cuda::DeviceBuffer& buffer, DType dtype, int64_t row_elements, CUstream stream);

// `rows` int64 labels in [0, vocab), the same on every call with the same arguments (and so on every rank).
cuda::DeviceBuffer random_labels(int64_t rows, int64_t vocab);

}  // namespace xent::tools
