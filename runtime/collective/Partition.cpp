#include "runtime/collective/Partition.h"

#include <type_traits>

#include "compiler/Error.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"

namespace xent {

static_assert(std::is_trivially_copyable_v<ShardDescriptor>);

ShardDescriptor describe(const CrossEntropyOptions& o) {
  return {.rank = o.rank,
          .world = o.world,
          .vocab = o.vocab,
          .vocab_offset = o.vocab_offset,
          .vocab_shard = o.vocab_shard == -1 ? o.vocab : o.vocab_shard,
          .label_smoothing = o.label_smoothing,
          .z_loss = o.z_loss,
          .reduction = static_cast<int32_t>(o.reduction),
          .entropy = o.entropy,
          .has_mask = o.has_mask,
          .has_weights = o.has_weights};
}

std::string partition_mismatch(const std::vector<ShardDescriptor>& g) {
  const ShardDescriptor& first = g.at(0);
  for (size_t r = 0; r < g.size(); ++r) {
    const ShardDescriptor& d = g[r];
    auto differs = [&](const char* field, auto mine, auto rank0) {
      return cat("rank ", r, " disagrees with rank 0 on options.", field, ": ", mine, " against ", rank0,
                 "; every rank must describe the same problem");
    };
    if (d.rank != int32_t(r))
      return cat("rank ", r, " describes itself as options.rank ", d.rank, "; the collective's rank must match");
    if (d.world != first.world) return differs("world", d.world, first.world);
    if (d.vocab != first.vocab) return differs("vocab", d.vocab, first.vocab);
    if (d.label_smoothing != first.label_smoothing)
      return differs("label_smoothing", d.label_smoothing, first.label_smoothing);
    if (d.z_loss != first.z_loss) return differs("z_loss", d.z_loss, first.z_loss);
    if (d.reduction != first.reduction) return differs("reduction", d.reduction, first.reduction);
    if (d.entropy != first.entropy) return differs("entropy", d.entropy, first.entropy);
    if (d.has_mask != first.has_mask) return differs("has_mask", d.has_mask, first.has_mask);
    if (d.has_weights != first.has_weights) return differs("has_weights", d.has_weights, first.has_weights);
    const int64_t expected = r == 0 ? 0 : g[r - 1].vocab_offset + g[r - 1].vocab_shard;
    if (d.vocab_offset != expected)
      return cat("rank ", r, ": options.vocab_offset is ", d.vocab_offset, " but ",
                 r == 0 ? std::string("rank 0 starts at 0") : cat("rank ", r - 1, "'s shard ends at ", expected),
                 "; shards must be contiguous and in rank order");
  }
  const ShardDescriptor& last = g.back();
  if (last.vocab_offset + last.vocab_shard != first.vocab)
    return cat("rank ", g.size() - 1, ": options.vocab_shard ends the shards at ", last.vocab_offset + last.vocab_shard,
               ", not at vocab = ", first.vocab, "; the shards must sum to V");
  return "";
}

void check_partition(Collective& collective, const CrossEntropyOptions& o, CUstream stream) {
  if (collective.rank() != o.rank || collective.world() != o.world)
    throw UserError(cat("bind: the collective is rank ", collective.rank(), " of ", collective.world(),
                        " but the options say rank ", o.rank, " of ", o.world));
  cuda::ensure_context();
  const size_t bytes = sizeof(ShardDescriptor);
  cuda::DeviceBuffer gathered(bytes * o.world);
  const ShardDescriptor mine = describe(o);
  gathered.upload(&mine, bytes, bytes * o.rank);
  collective.all_gather(gathered.address() + bytes * o.rank, gathered.address(), bytes, stream);
  XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(stream));
  std::vector<ShardDescriptor> all(o.world);
  gathered.download(all.data(), bytes * o.world);
  if (std::string why = partition_mismatch(all); !why.empty()) throw UserError("bind: " + why);
}

}  // namespace xent
