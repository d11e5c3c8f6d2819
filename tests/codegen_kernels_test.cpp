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

}  // namespace
