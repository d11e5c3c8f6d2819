#include "runtime/KernelLoader.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>

#include "compiler/codegen/Compile.h"
#include "runtime/Jit.h"
#include "runtime/cache/CacheKey.h"
#include "runtime/cuda/Context.h"

namespace xent {

namespace {

// The PTX target of the current device ("sm_90").
std::string current_target() {
  const cuda::DeviceInfo& device = cuda::current_device();
  return codegen::target_for_device(device.sm_major, device.sm_minor);
}

}  // namespace

CrossEntropySpec for_current_device(CrossEntropySpec spec) {
  spec.shared_memory = cuda::current_device().max_shared_per_block_optin;
  spec.clusters = codegen::has_clusters(current_target());
  return spec;
}

std::unique_ptr<DeviceKernel> load_kernel(const CrossEntropySpec& op_spec, CrossEntropyKernel kernel) {
  const cuda::DeviceInfo& device = cuda::current_device();
  const std::string sm = current_target();
  const CrossEntropySpec spec = for_current_device(op_spec);
  runtime::PtxJit& jit = runtime::PtxJit::instance();
  std::shared_ptr<const codegen::CompiledKernel> ptx = jit.get(spec, kernel, sm);

  // The driver's linker turns the PTX into machine code for this very device; the result depends on the driver.
  runtime::CacheKey key = runtime::kernel_key(runtime::Artifact::Cubin, spec, kernel, sm)
                              .field("device_sm", device.sm())
                              .field("driver", device.driver_version)
                              .build();
  std::optional<std::string> cubin = jit.disk().load(key, runtime::Artifact::Cubin);
  if (!cubin) {
    std::vector<char> linked = cuda::link_cubin(ptx->ptx, ptx->name);
    cubin.emplace(linked.begin(), linked.end());
    jit.disk().store(key, runtime::Artifact::Cubin, *cubin);
  }
  Tuning tuning = uses_tuning(kernel) ? tuning_for(spec, kernel) : Tuning{};
  return std::make_unique<DeviceKernel>(DeviceKernel{
      ptx->name, cuda::LoadedKernel(std::span<const char>(*cubin), ptx->name, ptx->dynamic_shared_bytes, ptx->cluster),
      ptx->threads, ptx->cluster, ptx->dynamic_shared_bytes, tuning});
}

void compile_in_parallel(const CrossEntropySpec& op_spec, const std::vector<CrossEntropyKernel>& kernels) {
  const CrossEntropySpec spec = for_current_device(op_spec);
  const std::string sm = current_target();
  runtime::PtxJit& jit = runtime::PtxJit::instance();
  std::vector<CrossEntropyKernel> missing;
  for (CrossEntropyKernel kernel : kernels)
    if (!jit.holds(spec, kernel, sm)) missing.push_back(kernel);
  if (missing.size() < 2) return;  // one compile gains nothing from a thread
  run_in_parallel(missing.size(), [&](size_t i) { jit.get(spec, missing[i], sm); });
}

void run_in_parallel(size_t n, const std::function<void(size_t)>& body) {
  CUcontext context = cuda::ensure_context();
  std::vector<std::exception_ptr> errors(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < n;) {
      try {
        cuda::adopt_context(context);
        body(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool(std::min<size_t>(n, std::max(1u, std::thread::hardware_concurrency())));
  for (std::thread& t : pool) t = std::thread(work);
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace xent
