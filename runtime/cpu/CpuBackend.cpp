#include "runtime/cpu/CpuBackend.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "compiler/passes/Pipeline.h"

namespace xent::cpu {
namespace {

interp::Arg to_interpreter(const KernelArg& a) {
  switch (a.kind) {
    case KernelArg::Kind::Pointer: return interp::Arg::pointer(reinterpret_cast<const void*>(a.pointer));
    case KernelArg::Kind::I32: return interp::Arg::i32(static_cast<int32_t>(a.integer));
    case KernelArg::Kind::I64: return interp::Arg::i64(a.integer);
    case KernelArg::Kind::F32: return interp::Arg::f32(a.real);
  }
  return interp::Arg::i32(0);
}

}  // namespace

const ir::Kernel& specialized_kernel(CrossEntropyKernel kernel, const CrossEntropySpec& spec) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<ir::Kernel>> compiled;
  std::string key = spec.canonical() + ";kernel=" + std::string(kernel_name(kernel));
  std::lock_guard lock(mutex);
  auto& slot = compiled[key];
  if (!slot) {
    std::unique_ptr<ir::Kernel> k = build_kernel(kernel, spec);
    passes::run_pipeline(*k, constexpr_bindings(spec));
    slot = std::move(k);
  }
  return *slot;
}

void execute(const CrossEntropySpec& spec, const std::vector<Launch>& launches,
             std::span<const interp::Buffer> buffers) {
  for (const Launch& launch : launches) {
    std::vector<interp::Arg> args;
    for (const KernelArg& a : launch.args) args.push_back(to_interpreter(a));
    const ir::Kernel& kernel = specialized_kernel(launch.kernel, spec);
    interp::run(kernel, {launch.grid * kernel.attribute("cluster", 1), 1, 1}, args, buffers);
  }
}

}  // namespace xent::cpu
