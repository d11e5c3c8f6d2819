#include "runtime/tuning/TuningStore.h"

#include <bit>
#include <nlohmann/json.hpp>

#include "compiler/Error.h"

namespace xent::runtime {
namespace {

CrossEntropySpec untuned(CrossEntropySpec spec) {
  spec.tuning = {};
  return spec;
}

// The result in `payload`; the reason it is not one otherwise.
std::optional<TuningResult> parse(const std::string& payload, std::string* why = nullptr) {
  try {
    return nlohmann::json::parse(payload).get<TuningResult>();
  } catch (const std::exception& e) {  // nlohmann::json::exception or UserError
    if (why) *why = e.what();
    return std::nullopt;
  }
}

}  // namespace

int64_t rows_bucket(int64_t rows) {
  constexpr int64_t largest = int64_t{1} << kMaxBucketExponent;
  if (rows > largest) return largest;
  return rows < 1 ? 1 : int64_t(std::bit_ceil(uint64_t(rows)));
}

CacheKey tuning_key(const CrossEntropySpec& spec, CrossEntropyKernel kernel, const TuningDevice& device,
                    int64_t bucket) {
  return kernel_key(Artifact::Tuning, untuned(spec), kernel, device.sm)
      .field("device", device.name)
      .field("rows_bucket", bucket)
      .build();
}

void store_tuning(DiskCache& cache, const CrossEntropySpec& spec, const TuningResult& result) {
  if (untuned(spec).canonical() != result.spec)
    throw InternalError(cat("store_tuning: result for ", result.spec, " stored under ", spec.canonical()));
  CacheKey key = tuning_key(spec, result.kernel, {result.device, result.sm}, result.rows_bucket);
  cache.store(key, Artifact::Tuning, nlohmann::json(result).dump(2));
}

std::optional<TuningResult> load_tuning(DiskCache& cache, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                                        const TuningDevice& device, int64_t bucket) {
  std::optional<std::string> payload = cache.load(tuning_key(spec, kernel, device, bucket), Artifact::Tuning);
  return payload ? parse(*payload) : std::nullopt;
}

std::vector<StoredTuning> list_tuning(DiskCache& cache) {
  // Keys start with the version fields (versioned_key): an entry of this build starts with the same text.
  const std::string this_build = versioned_key(Artifact::Tuning).build().text;
  std::vector<StoredTuning> stored;
  for (const CacheEntryInfo& entry : cache.list()) {
    if (entry.artifact != to_string(Artifact::Tuning)) continue;
    StoredTuning s;
    s.path = entry.path;
    s.current = entry.key_text.starts_with(this_build);
    std::optional<std::string> payload;
    if (!entry.key_text.empty()) payload = cache.load({entry.key_text, sha256_hex(entry.key_text)}, Artifact::Tuning);
    if (!payload)
      s.error = "unreadable entry";
    else if (std::optional<TuningResult> result = parse(*payload, &s.error))
      s.result = std::move(*result);
    stored.push_back(std::move(s));
  }
  return stored;
}

}  // namespace xent::runtime
