// The public API's argument checks (SPEC.md "Bad input"). They run before any work, and before the CUDA driver is
// touched, so a bad argument is reported the same way on a machine without a GPU. Each throws UserError naming the
// argument and what to change.
#pragma once

#include "kernels/CrossEntropySpec.h"
#include "xent/xent.hpp"

namespace xent::api {

enum class Call { Forward, Backward, Fused, Partials, FinishForward };

std::string to_string(ElementType type);
int element_bytes(ElementType type);

// The kernel spec the options describe (the 16-byte-aligned variant), once they are consistent: dtypes, vocabulary
// shard against rank and world, and the spec's own ranges (label smoothing, z-loss, tuning).
CrossEntropySpec checked_spec(const CrossEntropyOptions& options);

// The leading shape and the workspace: what outputs() and bad_labels() need.
void check_workspace(const CrossEntropyOptions& options, const Args& args);

// Everything `call` reads or writes: presence, dtypes, strides, element alignment, rows that do not overlap.
void check_args(const CrossEntropyOptions& options, const CrossEntropySpec& spec, const Args& args, Call call);

}  // namespace xent::api
