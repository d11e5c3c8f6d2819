// Cross-rank consistency of a sharded op: every rank must describe the same partition of the same problem, or the
// combine would silently mix different problems. Each rank's options are checked alone at construction
// (api::checked_spec); what only the ranks together can check is checked here, once, when an op is bound to a
// collective: one all-gather of a fixed-size descriptor and one synchronization of the stream. Per call there is no
// extra exchange and no host synchronization.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/collective/Collective.h"
#include "xent/xent.hpp"

namespace xent {

// What one rank says about the partition and the problem; trivially copyable, gathered as raw bytes.
struct ShardDescriptor {
  int32_t rank = 0, world = 1;
  int64_t vocab = 0, vocab_offset = 0, vocab_shard = 0;
  double label_smoothing = 0.0, z_loss = 0.0;
  int32_t reduction = 0, entropy = 0, has_mask = 0, has_weights = 0;
};

ShardDescriptor describe(const CrossEntropyOptions& options);

// "" when the gathered descriptors (slot r from rank r) describe one partition: the same world, V, ε, z, reduction
// and flags as rank 0, shards contiguous from 0 and ending at V. Otherwise the first disagreement, naming the rank and
// the field.
std::string partition_mismatch(const std::vector<ShardDescriptor>& gathered);

// The collective's rank and world against the options, then the all-gather and the check above on `stream` (which it
// synchronizes). Every rank must call it together. Throws UserError.
void check_partition(Collective& collective, const CrossEntropyOptions& options, CUstream stream);

}  // namespace xent
