#include "runtime/tuning/TunedKernels.h"

#include <bit>
#include <iostream>

#include "compiler/Error.h"
#include "compiler/codegen/Compile.h"
#include "runtime/Jit.h"
#include "runtime/cuda/Context.h"
#include "runtime/tuning/TuningLookup.h"

namespace xent::runtime {

TuningDevice current_tuning_device() {
  const cuda::DeviceInfo& device = cuda::current_device();
  return {device.name, codegen::target_for_device(device.sm_major, device.sm_minor)};
}

TunedKernels::TunedKernels(const CrossEntropySpec& spec, TuningDevice device)
    : spec_(spec), device_(std::move(device)) {}

const DeviceKernel& TunedKernels::choose(CrossEntropyKernel kernel, int64_t rows, const DeviceKernel& fallback) const {
  auto& slot = chosen_[size_t(kernel)][std::countr_zero(uint64_t(rows_bucket(rows)))];
  if (const DeviceKernel* chosen = slot.load(std::memory_order_acquire)) return *chosen;
  std::lock_guard lock(mutex_);
  if (const DeviceKernel* chosen = slot.load(std::memory_order_relaxed)) return *chosen;
  const DeviceKernel& chosen = decide(kernel, rows, fallback);
  slot.store(&chosen, std::memory_order_release);
  return chosen;
}

const DeviceKernel& TunedKernels::decide(CrossEntropyKernel kernel, int64_t rows, const DeviceKernel& fallback) const {
  std::optional<Tuning> winner = stored_winner(PtxJit::instance().disk(), spec_, kernel, device_, rows);
  if (!winner || *winner == fallback.tuning) return fallback;
  std::string id = cat(kernel_name(kernel), " ", to_string(*winner));
  auto& loaded = winners_[id];
  if (!loaded) {
    CrossEntropySpec tuned = spec_;
    tuned.tuning = *winner;
    try {
      loaded = load_kernel(tuned, kernel);
    } catch (const std::exception& e) {
      winners_.erase(id);
      std::cerr << "xent: warning: the tuned " << id << " (from `xent tune`) did not load, so the heuristic's "
                << to_string(fallback.tuning) << " runs instead: " << e.what() << "\n";
      return fallback;
    }
  }
  return *loaded;
}

}  // namespace xent::runtime
