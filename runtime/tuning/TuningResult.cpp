#include "runtime/tuning/TuningResult.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "compiler/Error.h"
#include "kernels/CrossEntropyTuning.h"

namespace xent::runtime {

const TunedVariant* TuningResult::variant(const Tuning& tuning) const {
  auto it = std::find_if(variants.begin(), variants.end(), [&](const TunedVariant& v) { return v.tuning == tuning; });
  return it == variants.end() ? nullptr : &*it;
}

double TuningResult::winner_ms() const {
  const TunedVariant* v = variant(winner);
  return v ? v->ms : 0;
}

std::optional<double> TuningResult::heuristic_ratio() const {
  const TunedVariant* h = variant(heuristic);
  if (!h || !h->ran() || winner_ms() <= 0) return std::nullopt;
  return h->ms / winner_ms();
}

void to_json(nlohmann::json& j, const TunedVariant& v) {
  j = {{"tuning", v.tuning}};
  if (v.ran()) {
    j["ms"] = v.ms;
    j["registers"] = v.registers;
    j["spill_bytes"] = v.spill_bytes;
  } else {
    j["error"] = v.error;
  }
}

void from_json(const nlohmann::json& j, TunedVariant& v) {
  v = TunedVariant{};
  j.at("tuning").get_to(v.tuning);
  if (j.contains("error")) {
    j.at("error").get_to(v.error);
    return;
  }
  j.at("ms").get_to(v.ms);
  j.at("registers").get_to(v.registers);
  j.at("spill_bytes").get_to(v.spill_bytes);
}

void to_json(nlohmann::json& j, const TuningResult& r) {
  std::optional<double> ratio = r.heuristic_ratio();
  const TunedVariant* heuristic = r.variant(r.heuristic);
  j = {{"spec", r.spec},
       {"kernel", kernel_name(r.kernel)},
       {"device", r.device},
       {"sm", r.sm},
       {"driver", r.driver},
       {"rows", r.rows},
       {"rows_bucket", r.rows_bucket},
       {"iterations", r.iterations},
       {"variants", r.variants},
       {"winner", {{"tuning", r.winner}, {"ms", r.winner_ms()}}},
       {"heuristic",
        {{"tuning", r.heuristic},
         {"ms", heuristic && heuristic->ran() ? nlohmann::json(heuristic->ms) : nlohmann::json()},
         {"ratio", ratio ? nlohmann::json(*ratio) : nlohmann::json()}}}};
}

void from_json(const nlohmann::json& j, TuningResult& r) {
  r = TuningResult{};
  j.at("spec").get_to(r.spec);
  r.kernel = kernel_from_name(j.at("kernel").get<std::string>());
  j.at("device").get_to(r.device);
  j.at("sm").get_to(r.sm);
  j.at("driver").get_to(r.driver);
  j.at("rows").get_to(r.rows);
  j.at("rows_bucket").get_to(r.rows_bucket);
  j.at("iterations").get_to(r.iterations);
  j.at("variants").get_to(r.variants);
  j.at("winner").at("tuning").get_to(r.winner);
  j.at("heuristic").at("tuning").get_to(r.heuristic);
  const TunedVariant* winner = r.variant(r.winner);
  if (!winner || !winner->ran())
    throw UserError(cat("tuning result: the winner ", to_string(r.winner), " is not a variant that ran"));
}

}  // namespace xent::runtime
