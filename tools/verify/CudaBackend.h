// The GPU backend of the verification problems: device memory and the CUDA cross-entropy op, on one stream.
#pragma once

#include <memory>
#include <string>

#include "tools/verify/CrossEntropyProblem.h"

namespace xent::verify {

// Needs a GPU (see cuda::gpu_available). Every execute() waits for the stream, so results can be downloaded.
std::unique_ptr<Backend> cuda_backend();

// The GPU backend when a GPU is usable (and `cpu_only` is false), else the interpreter. `where` receives a short
// description: the device's name, or why the interpreter runs.
std::unique_ptr<Backend> preferred_backend(bool cpu_only, std::string& where);

}  // namespace xent::verify
