// The host work of one fused call before the driver: the public API's argument checks and the launch plan (what
// `xent bench --host` measures on a GPU, less the driver's cuLaunchKernel). A call of one row, bf16, V = 16032.
#include <benchmark/benchmark.h>

#include "kernels/CrossEntropyLaunch.h"
#include "runtime/api/Validation.h"

namespace {

struct OneRowCall {
  xent::CrossEntropyOptions options;
  xent::CrossEntropySpec spec;
  xent::Args args;
  OneRowCall() {
    options.vocab = 16032;
    spec = xent::api::checked_spec(options);
    const uint64_t base = uint64_t{1} << 32;  // addresses only; nothing is read
    args.d0 = 1;
    args.d1 = 1;
    args.logits = {base, 16032, 16032, xent::ElementType::BF16};
    args.grad = {base + (uint64_t{1} << 20), 16032, 16032, xent::ElementType::BF16};
    args.labels = {base + (uint64_t{2} << 20), 1, 1, xent::ElementType::I64};
    args.workspace = base + (uint64_t{3} << 20);
    args.workspace_bytes = xent::workspace_bytes(1, 1);
  }
};

void check_args(benchmark::State& state) {
  OneRowCall c;
  for (auto _ : state) xent::api::check_args(c.options, c.spec, c.args, xent::api::Call::Fused);
}

void plan_fused(benchmark::State& state) {
  OneRowCall c;
  xent::CrossEntropyCall call;
  call.logits = {c.args.logits.data, 16032, 16032};
  call.grad = {c.args.grad.data, 16032, 16032};
  call.labels = {c.args.labels.data, 1, 1};
  call.workspace = xent::carve_workspace(c.args.workspace, 1, 1);
  call.tickets = call.workspace.tickets;
  for (auto _ : state) benchmark::DoNotOptimize(xent::plan_fused(c.spec, call).size());
}

BENCHMARK(check_args)->Unit(benchmark::kMicrosecond);
BENCHMARK(plan_fused)->Unit(benchmark::kMicrosecond);

}  // namespace
