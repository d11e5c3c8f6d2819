#include "runtime/tuning/TuningLookup.h"

#include <bit>
#include <cstdlib>
#include <string>

#include "compiler/Error.h"

namespace xent::runtime {

bool tuning_lookup_enabled() {
  const char* value = std::getenv("XENT_TUNING");
  std::string text = value ? value : "";
  if (text.empty() || text == "on") return true;
  if (text == "off") return false;
  throw UserError(cat("XENT_TUNING: unknown value '", text, "'; use on or off (off: ignore `xent tune` results)"));
}

std::optional<Tuning> stored_winner(DiskCache& cache, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                                    const TuningDevice& device, int64_t rows) {
  if (!(spec.tuning == Tuning{}) || !uses_tuning(kernel) || !tuning_lookup_enabled()) return std::nullopt;
  const int exponent = std::countr_zero(uint64_t(rows_bucket(rows)));
  for (int distance = 0; distance <= kTuningBucketReach; ++distance) {
    for (int near : {exponent + distance, exponent - distance}) {
      if (near < 0 || near > kMaxBucketExponent || (distance > 0 && near == exponent)) continue;
      std::optional<TuningResult> result = load_tuning(cache, spec, kernel, device, int64_t{1} << near);
      if (!result) continue;
      CrossEntropySpec tuned = spec;
      tuned.tuning = result->winner;
      try {
        tuned.validate();
        return result->winner;
      } catch (const UserError&) {
        continue;  // not a tuning this build accepts: as good as no result
      }
    }
  }
  return std::nullopt;
}

}  // namespace xent::runtime
