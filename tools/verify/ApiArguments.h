// A staged rank of a verification problem (CrossEntropyProblem.h) as the public C++ API's options and arguments, for
// the suites and tools that run problems through xent.hpp (bound to a collective) instead of launch plans.
#pragma once

#include "tools/verify/CrossEntropyProblem.h"
#include "xent/xent.hpp"

namespace xent::verify {

// The op of the rank: its spec's dtypes, vocabulary, shard (offset, width, rank, world), options and tuning.
CrossEntropyOptions api_options(const StagedRank& rank);
// The rank's staged tensors and workspace.
Args api_args(const StagedRank& rank);

}  // namespace xent::verify
