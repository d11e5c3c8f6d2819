// Lowering of small hand-built kernels to PTX: a few CHECK lines per feature, and ptxas must accept the result for
// sm_80 and sm_90 without spills.
#include <gtest/gtest.h>

#include "compiler/Error.h"
#include "compiler/codegen/Compile.h"
#include "compiler/ir/Builder.h"
#include "tests/codegen_check.h"

using namespace xent;
using namespace xent::ir;
using xent::testing::file_check;

namespace {

// Compiles the kernel for sm_90, checks the PTX, then assembles it for sm_80 and sm_90.
codegen::CompiledKernel check(KernelBuilder& k, const std::vector<std::string>& checks) {
  auto kernel = k.finish();
  codegen::CompiledKernel out = codegen::compile_to_ptx(*kernel);
  EXPECT_TRUE(file_check(out.ptx, checks));
  if (!xent::testing::ptxas_path().empty()) xent::testing::expect_ptxas_accepts(*kernel);
  return out;
}

TEST(CodegenLowering, ElementwiseVectorizes) {
  KernelBuilder k("scale");
  Expr x = k.param(ptr(ScalarType::F32), "x", {16});
  Expr y = k.param(ptr(ScalarType::F32), "y", {16});
  Expr offset = k.program_id(0) * 1024;
  Expr cols = k.arange(0, 1024) + offset;
  k.store(k.addptr(y, cols), k.exp(k.load(k.addptr(x, cols))) * 2.0);
  auto out = check(k, {"CHECK: .visible .entry scale(", "CHECK: .maxntid 128, 1, 1", "CHECK: ld.global.nc.v4.f32",
                       "CHECK: ex2.approx.ftz.f32", "CHECK: st.global.v4.f32"});
  EXPECT_EQ(out.threads, 128);
}

}  // namespace
