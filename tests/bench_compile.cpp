// Cold compile time of one cross-entropy kernel variant: specialized IR -> layout -> LLVM IR -> O3 -> PTX, each
// iteration in a fresh LLVMContext (what a cache miss costs the runtime). The pass pipeline runs once, outside.
#include <benchmark/benchmark.h>

#include "compiler/codegen/Compile.h"
#include "compiler/passes/Pipeline.h"
#include "kernels/CrossEntropyKernels.h"

namespace {

void compile_kernel(benchmark::State& state, xent::CrossEntropyKernel which, xent::DType dtype, int64_t vocab,
                    xent::Alignment alignment = xent::Alignment::Rows) {
  xent::CrossEntropySpec spec;
  spec.dtype = dtype;
  spec.vocab = spec.vocab_shard = vocab;
  spec.alignment = alignment;
  spec.label_smoothing = 0.1;
  std::unique_ptr<xent::ir::Kernel> kernel = xent::build_kernel(which, spec);
  xent::passes::run_pipeline(*kernel, xent::constexpr_bindings(spec), xent::passes::PipelineOptions{});
  for (auto _ : state) benchmark::DoNotOptimize(xent::codegen::compile_to_ptx(*kernel, {"sm_90"}).ptx.size());
}

BENCHMARK_CAPTURE(compile_kernel, fused_bf16_50257, xent::CrossEntropyKernel::Fused, xent::DType::BF16, 50257)
    ->Unit(benchmark::kMillisecond);
// A contiguous tensor of odd rows (GPT-2's vocabulary): rows read from the 16-byte boundary before them, with heads.
BENCHMARK_CAPTURE(compile_kernel, fused_bf16_50257_heads, xent::CrossEntropyKernel::Fused, xent::DType::BF16, 50257,
                  xent::Alignment::Base)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(compile_kernel, fused_f32_18992, xent::CrossEntropyKernel::Fused, xent::DType::F32, 18992)
    ->Unit(benchmark::kMillisecond);
// Rows past what one program stages: the heuristic splits them over clusters of 4 and 8 programs.
BENCHMARK_CAPTURE(compile_kernel, fused_bf16_151936, xent::CrossEntropyKernel::Fused, xent::DType::BF16, 151936)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(compile_kernel, fused_bf16_256000, xent::CrossEntropyKernel::Fused, xent::DType::BF16, 256000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(compile_kernel, count_bf16, xent::CrossEntropyKernel::Count, xent::DType::BF16, 50257)
    ->Unit(benchmark::kMillisecond);

}  // namespace
