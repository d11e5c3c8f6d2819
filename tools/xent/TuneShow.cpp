#include "tools/xent/TuneShow.h"

#include <iomanip>
#include <iostream>

#include "runtime/tuning/TuningStore.h"

namespace xent::tools {

void show_tuning() {
  runtime::DiskCache cache(runtime::DiskCache::default_directory());
  std::vector<runtime::StoredTuning> stored = runtime::list_tuning(cache);
  std::cout << "tuning results in " << cache.directory().string() << ": " << stored.size() << "\n";
  if (stored.empty()) std::cout << "(none yet: `xent tune` on a GPU machine stores them)\n";
  for (const runtime::StoredTuning& s : stored) {
    if (!s.error.empty()) {
      std::cout << "  " << s.path.string() << ": cannot be read: " << s.error << "\n";
      continue;
    }
    const runtime::TuningResult& r = s.result;
    std::cout << "  " << kernel_name(r.kernel) << "  " << r.device << " (" << r.sm << ")  bucket " << r.rows_bucket
              << "  winner " << to_string(r.winner) << " " << std::fixed << std::setprecision(3) << r.winner_ms()
              << " ms  heuristic " << to_string(r.heuristic);
    if (std::optional<double> ratio = r.heuristic_ratio())
      std::cout << " " << r.variant(r.heuristic)->ms << " ms  ratio " << std::setprecision(2) << *ratio;
    else
      std::cout << " (did not run)";
    std::cout << (s.current ? "" : "  [another xent build: not used]") << "\n    " << r.spec << "\n";
  }
}

}  // namespace xent::tools
