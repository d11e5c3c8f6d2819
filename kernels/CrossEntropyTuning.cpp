#include "kernels/CrossEntropyTuning.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace xent {
namespace {

constexpr int kThreadCounts[] = {128, 256, 512, 1024};
constexpr int kVectorsPerThread[] = {1, 2, 4};
constexpr int kUnrolls[] = {1, 2};
constexpr int kClusterThreads[] = {128, 256, 512, 1024};
constexpr int kClusters[] = {2, 4, 8, 16};
// A staged part's tiles: one 16-byte vector a thread needs the fewest registers (more programs an SM), two keep more
// loads in flight.
constexpr int kStagedVectorsPerThread[] = {1, 2};

bool holds_whole_row(int64_t extent, int threads) {
  int64_t elements = (extent + threads - 1) / threads;
  int registers = std::min(255, 65536 / threads);
  return 2 * elements <= registers;
}

}  // namespace

std::vector<Tuning> tuning_candidates(const CrossEntropySpec& spec, CrossEntropyKernel kernel) {
  if (!uses_tuning(kernel)) return {};
  kernel = row_walk_of(kernel);
  CrossEntropySpec base = spec;
  base.tuning = {};
  std::vector<Tuning> candidates = {tuning_for(base, kernel)};
  auto add = [&](Tuning t) {
    CrossEntropySpec variant = base;
    variant.tuning = t;
    t = tuning_for(variant, kernel);
    if (std::find(candidates.begin(), candidates.end(), t) == candidates.end()) candidates.push_back(t);
  };
  const int64_t vector = vector_elements(spec.dtype), extent = row_extent(base, kernel);
  std::vector<Staging> stagings = {Staging::Global};
  if (kernel != CrossEntropyKernel::Backward) stagings.push_back(Staging::Shared);
  for (Staging staging : stagings)
    for (int threads : kThreadCounts) {
      for (int vectors : kVectorsPerThread)
        for (int unroll : kUnrolls) add({threads, threads * vectors * vector, unroll, 1, staging});
      if (holds_whole_row(extent, threads)) add({threads, extent, 1, 1, staging});
    }
  if (spec.clusters && kernel == CrossEntropyKernel::Fused)
    for (int threads : kClusterThreads)
      for (int cluster : kClusters) {
        if (holds_whole_row((extent + cluster - 1) / cluster, threads)) add({threads, extent, 1, cluster});
        for (int vectors : kStagedVectorsPerThread) {
          Tuning staged{threads, vectors * vector * threads, 1, cluster, Staging::Shared};
          CrossEntropySpec variant = base;
          variant.tuning = staged;
          if (staged_part_width(variant, staged) * dtype_bytes(spec.dtype) <= max_staged_row_bytes(spec)) add(staged);
        }
      }
  return candidates;
}

void to_json(nlohmann::json& j, const Tuning& t) {
  j = {{"threads", t.threads},
       {"block", t.block},
       {"unroll", t.unroll},
       {"cluster", t.cluster},
       {"staging", to_string(t.staging)}};
}

void from_json(const nlohmann::json& j, Tuning& t) {
  t = Tuning{};
  j.at("threads").get_to(t.threads);
  j.at("block").get_to(t.block);
  j.at("unroll").get_to(t.unroll);
  j.at("cluster").get_to(t.cluster);
  t.staging = parse_staging(j.at("staging").get<std::string>(), "staging");
}

}  // namespace xent
