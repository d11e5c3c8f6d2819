#include "runtime/CrossEntropyOp.h"

#include <algorithm>

#include "compiler/Error.h"
#include "runtime/cuda/Context.h"

namespace xent {
namespace {

// cuLaunchKernel takes a pointer to each argument's value; the values must outlive the call.
struct PackedArgs {
  explicit PackedArgs(const std::vector<KernelArg>& args) {
    values.reserve(args.size());
    pointers.reserve(args.size());
    for (const KernelArg& a : args) {
      Value v{};
      switch (a.kind) {
        case KernelArg::Kind::Pointer: v.u64 = a.pointer; break;
        case KernelArg::Kind::I64: v.i64 = a.integer; break;
        case KernelArg::Kind::I32: v.i32 = static_cast<int32_t>(a.integer); break;
        case KernelArg::Kind::F32: v.f32 = a.real; break;
      }
      values.push_back(v);
    }
    for (Value& v : values) pointers.push_back(&v);
  }
  union Value {
    uint64_t u64;
    int64_t i64;
    int32_t i32;
    float f32;
  };
  std::vector<Value> values;
  std::vector<void*> pointers;
};

}  // namespace

CrossEntropyOp::CrossEntropyOp(const CrossEntropySpec& spec) : spec_(spec) {
  spec_.validate();
  context_ = cuda::ensure_context();
  tuned_ = std::make_unique<runtime::TunedKernels>(spec_, runtime::current_tuning_device());
  tickets_ = std::make_unique<runtime::StreamTickets>();
}

void CrossEntropyOp::load(const std::vector<CrossEntropyKernel>& kernels) const {
  std::vector<CrossEntropyKernel> missing;
  for (CrossEntropyKernel k : kernels) {
    if (needs_whole_vocabulary(k) && !spec_.single_shard())
      throw UserError(cat(kernel_name(k), " is not part of this op (", spec_.canonical(), ")"));
    if (!loaded_[size_t(k)].load(std::memory_order_acquire) &&
        std::find(missing.begin(), missing.end(), k) == missing.end())
      missing.push_back(k);
  }
  if (missing.empty()) return;
  std::lock_guard lock(load_mutex_);
  cuda::adopt_context(context_);
  compile_in_parallel(spec_, missing);
  for (CrossEntropyKernel k : missing) {
    if (owned_[size_t(k)]) continue;  // another thread loaded it meanwhile
    owned_[size_t(k)] = load_kernel(spec_, k);
    loaded_[size_t(k)].store(owned_[size_t(k)].get(), std::memory_order_release);
  }
}

const DeviceKernel& CrossEntropyOp::built(CrossEntropyKernel which) const {
  if (const DeviceKernel* k = loaded_[size_t(which)].load(std::memory_order_acquire)) return *k;
  load({which});
  return *loaded_[size_t(which)].load(std::memory_order_acquire);
}

const DeviceKernel& CrossEntropyOp::kernel(CrossEntropyKernel which, int64_t rows) const {
  const DeviceKernel& k = built(which);
  return uses_tuning(which) ? tuned_->choose(which, rows, k) : k;
}

void CrossEntropyOp::enqueue(const std::vector<Launch>& launches, CUstream stream) const {
  cuda::adopt_context(context_);
  std::vector<CrossEntropyKernel> kernels;
  for (const Launch& launch : launches)
    if (!loaded_[size_t(launch.kernel)].load(std::memory_order_acquire)) kernels.push_back(launch.kernel);
  if (!kernels.empty()) load(kernels);  // the plan's first run: its kernels side by side
  for (const Launch& launch : launches) {
    if (launch.grid == 0) continue;  // zero rows: nothing to launch
    launch_kernel(kernel(launch.kernel, launch.rows), launch, stream);
  }
}

void launch_kernel(const DeviceKernel& kernel, const Launch& launch, CUstream stream) {
  PackedArgs args(launch.args);
  cuda::launch(kernel.module, static_cast<unsigned>(launch.grid * kernel.cluster),
               static_cast<unsigned>(kernel.threads), static_cast<unsigned>(kernel.cluster),
               static_cast<unsigned>(kernel.dynamic_shared_bytes), stream, args.pointers.data());
}

}  // namespace xent
