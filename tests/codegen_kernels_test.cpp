// Every cross-entropy kernel of the family, for a spread of dtypes, vocab shards and label smoothing, goes through the
// pass pipeline and code generation, and ptxas accepts its PTX for sm_80 and sm_90 without spills. Kernels whose
// specialized IR is identical to one already checked (count, reduce, ... do not depend on the vocab) are checked once.
#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "compiler/Error.h"
#include "compiler/codegen/Compile.h"
#include "compiler/ir/Printer.h"
#include "compiler/passes/Pipeline.h"
#include "kernels/CrossEntropyKernels.h"
#include "tests/codegen_check.h"

using namespace xent;

namespace {

struct Case {
  DType dtype;
  int64_t shard;
  double smoothing;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string s = to_string(info.param.dtype) + "_V" + std::to_string(info.param.shard);
  return s + (info.param.smoothing > 0 ? "_smoothing" : "");
}

class CodegenKernels : public ::testing::TestWithParam<Case> {};

// True the first time a specialized kernel text is seen in this process.
bool first_time(const std::string& text) {
  static std::mutex mutex;
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> lock(mutex);
  return seen.insert(text).second;
}

TEST_P(CodegenKernels, LowerAndAssemble) {
  XENT_SKIP_WITHOUT_PTXAS();
  const Case& c = GetParam();
  // A single shard (the fused path) and the same shard as one of several (stats, combine, backward).
  for (int64_t world : {1, 4}) {
    CrossEntropySpec spec;
    spec.dtype = c.dtype;
    spec.vocab_shard = c.shard;
    spec.vocab = c.shard * world;
    spec.label_smoothing = c.smoothing;
    for (CrossEntropyKernel kernel : kernels_for(spec)) {
      SCOPED_TRACE(cat(kernel_name(kernel), " ", spec.canonical()));
      std::unique_ptr<ir::Kernel> k = build_kernel(kernel, spec);
      passes::run_pipeline(*k, constexpr_bindings(spec), passes::PipelineOptions{});
      if (!first_time(ir::print(*k))) continue;
      xent::testing::expect_ptxas_accepts(*k);
    }
  }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (DType dtype : {DType::F32, DType::BF16, DType::F16})
    for (int64_t shard : {1, 7, 128, 1000, 4096, 4097, 18992, 50257, 32000})
      for (double smoothing : {0.0, 0.1}) out.push_back({dtype, shard, smoothing});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Family, CodegenKernels, ::testing::ValuesIn(cases()), case_name);

// The fused kernel stages no more shared memory than the GPU it is built for lets a program have (spec.shared_memory,
// the device's opt-in limit): 200 KiB on an H100 (the default), less on an A100 (163 KiB) or an RTX 4090 (99 KiB),
// the rest of a longer row streamed.
TEST(CodegenKernelsSharedMemory, StagedRowsFitTheGpu) {
  for (int shared_memory : {0, 232448, 166912, 101376, 48 * 1024})
    for (int64_t vocab : {int64_t{50257}, int64_t{128256}}) {
      CrossEntropySpec spec;
      spec.vocab = spec.vocab_shard = vocab;
      spec.shared_memory = shared_memory;
      spec.clusters = false;  // built for sm_80 below
      SCOPED_TRACE(spec.canonical());
      std::unique_ptr<ir::Kernel> k = build_kernel(CrossEntropyKernel::Fused, spec);
      passes::run_pipeline(*k, constexpr_bindings(spec), passes::PipelineOptions{});
      codegen::CompiledKernel out = codegen::compile_to_ptx(*k, {.sm = "sm_80"});
      const int limit = shared_memory ? shared_memory : 227 * 1024;
      EXPECT_GT(out.dynamic_shared_bytes, 0) << "the row is staged";
      EXPECT_LE(out.dynamic_shared_bytes, max_staged_row_bytes(spec));
      EXPECT_LE(out.shared_bytes + out.dynamic_shared_bytes, limit);
    }
  CrossEntropySpec h100;
  EXPECT_EQ(max_staged_row_bytes(h100), 200 * 1024);
  h100.shared_memory = 232448;
  EXPECT_EQ(max_staged_row_bytes(h100), 200 * 1024);
}

}  // namespace
