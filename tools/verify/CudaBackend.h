// The GPU backend of the verification problems: device memory and the CUDA cross-entropy op, on one stream.
#pragma once

#include <memory>

#include "tools/verify/CrossEntropyProblem.h"

namespace xent::verify {

// Needs a GPU (see cuda::gpu_available). Every execute() waits for the stream, so results can be downloaded.
std::unique_ptr<Backend> cuda_backend();

}  // namespace xent::verify
