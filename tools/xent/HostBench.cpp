// `xent bench --host`: the host side of a call, through the public C++ API as an engine would use it:
//  - the time to create the CUDA context (an engine usually has one already),
//  - the first call, which loads the op's kernels (from the disk cache when warm, else compiling them),
//  - the host time per call afterwards (validation, plan, cuLaunchKernel), on a tiny problem so the GPU keeps up.
#include "tools/xent/HostBench.h"

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <xent/xent.hpp>

#include "runtime/Jit.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"

namespace xent::tools {
namespace {

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

nlohmann::json host_bench(int64_t vocab) {
  auto start = std::chrono::steady_clock::now();
  cuda::ensure_context();
  double context_ms = milliseconds_since(start);

  CrossEntropyOptions options;
  options.vocab = vocab;
  xent::CrossEntropy op(options);
  const int64_t rows = 1;
  cuda::DeviceBuffer logits(rows * vocab * 2), grad(rows * vocab * 2), labels(rows * 8);
  cuda::DeviceBuffer workspace(xent::CrossEntropy::workspace_bytes(rows, 1));
  Args args;
  args.d0 = 1;
  args.d1 = rows;
  args.logits = {logits.address(), rows * vocab, vocab, ElementType::BF16};
  args.grad = {grad.address(), rows * vocab, vocab, ElementType::BF16};
  args.labels = {labels.address(), rows, 1, ElementType::I64};
  args.workspace = workspace.address();
  args.workspace_bytes = workspace.bytes();

  runtime::JitCounters before = runtime::PtxJit::instance().counters();
  auto first = std::chrono::steady_clock::now();
  op.fused(args, nullptr);
  XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(nullptr));
  double first_call_ms = milliseconds_since(first);
  runtime::JitCounters after = runtime::PtxJit::instance().counters();

  // Batches small enough that the launch queue never fills, so the host never waits for the GPU inside a batch.
  const int batches = 20, calls = 200;
  double host_ms = 0;
  for (int b = 0; b < batches; ++b) {
    auto t = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) op.fused(args, nullptr);
    host_ms += milliseconds_since(t);
    XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(nullptr));
  }
  double per_call_us = host_ms * 1e3 / (batches * calls);

  std::cout << "host side (fused, bf16, V=" << vocab << ", 1 row, 1 launch per call: fused_small):\n"
            << "  CUDA context: " << context_ms << " ms\n"
            << "  first call: " << first_call_ms << " ms (" << after.compiles - before.compiles << " kernels compiled, "
            << after.disk_hits - before.disk_hits << " from the disk cache)\n"
            << "  host time per call afterwards: " << per_call_us << " us\n";
  return {{"vocab", vocab},
          {"context_ms", context_ms},
          {"first_call_ms", first_call_ms},
          {"compiled", after.compiles - before.compiles},
          {"disk_hits", after.disk_hits - before.disk_hits},
          {"host_us_per_call", per_call_us}};
}

}  // namespace xent::tools
