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

// A tile of 1000 bf16 elements: 16-byte loads for full chunks, the partial chunk predicated per lane.
TEST(CodegenLowering, OddExtentLoadsArePredicated) {
  KernelBuilder k("odd");
  Expr x = k.param(ptr(ScalarType::BF16), "x", {16});
  Expr y = k.param(ptr(ScalarType::F32), "y", {16});
  Expr cols = k.arange(0, 1000);
  k.store(k.addptr(y, cols), k.load(k.addptr(x, cols)).to(ScalarType::F32));
  check(k, {"CHECK: ld.global.nc.v4.u32", "CHECK: f32.bf16", "CHECK: st.global.v4.f32"});
}

// A whole row of V = 18992 in one tile, masked against a runtime column count, reduced to its max and sum.
TEST(CodegenLowering, SoftmaxRowOfOddLength) {
  KernelBuilder k("softmax_row");
  k.set_attribute("threads", 1024);
  Expr x = k.param(ptr(ScalarType::BF16), "x", {16});
  Expr out = k.param(ptr(ScalarType::F32), "out");
  Expr n = k.param(i32(), "n");
  Expr cols = k.arange(0, 18992);
  Expr in_row = cols < k.splat(n, {18992});
  Expr v = k.load(k.addptr(x, cols), in_row, k.constant(-1.0 / 0.0, ScalarType::BF16)).to(ScalarType::F32);
  Expr m = k.reduce_max(v);
  Expr d = k.reduce_sum(k.exp(v - m));
  k.store(out, m + k.log(d));
  auto ptx = check(k, {"CHECK: .reqntid 1024, 1, 1", "CHECK: ld.global.nc.v4.u32", "CHECK: shfl.sync.bfly.b32",
                       "CHECK: bar.sync", "CHECK: ex2.approx.ftz.f32", "CHECK: lg2.approx.ftz.f32"})
                 .ptx;
  EXPECT_EQ(ptx.find(".local"), std::string::npos) << ptx;
}

// V = 50257 f16 elements in one tile (the last chunk partial), summed.
TEST(CodegenLowering, SumOfOddTile) {
  KernelBuilder k("sum_row");
  k.set_attribute("threads", 1024);
  Expr x = k.param(ptr(ScalarType::F16), "x", {16});
  Expr out = k.param(ptr(ScalarType::F32), "out");
  k.store(out, k.reduce_sum(k.load(k.addptr(x, k.arange(0, 50257))).to(ScalarType::F32)));
  check(k, {"CHECK: ld.global.nc.v4.u32", "CHECK: ld.global.nc.u16", "CHECK: shfl.sync.bfly.b32", "CHECK: bar.sync"});
}

// A row streamed in blocks with two carried tiles and a masked tail.
TEST(CodegenLowering, LoopCarriesTiles) {
  KernelBuilder k("stream");
  k.set_attribute("threads", 256);
  Expr x = k.param(ptr(ScalarType::F32), "x", {16});
  Expr out = k.param(ptr(ScalarType::F32), "out");
  Expr n = k.param(i32(), "n");
  Expr zero = k.constant_int(0, ScalarType::I32);
  Expr step = k.constant_int(2048, ScalarType::I32);
  Expr ninf = k.splat(k.constant(-1.0 / 0.0, ScalarType::F32), {2048});
  Exprs acc = k.for_loop(zero, n, step, {ninf, k.splat(k.constant(0.0, ScalarType::F32), {2048})},
                         [&](Expr start, const Exprs& carried) {
                           Expr cols = k.arange(0, 2048) + start;
                           Expr v = k.load(k.addptr(x, cols), cols < n, ninf);
                           return Exprs{k.max(carried[0], v), carried[1] + v};
                         });
  k.store(out, k.reduce_max(acc[0]) + k.reduce_sum(acc[1]));
  check(k, {"CHECK: .reqntid 256, 1, 1", "CHECK: ld.global.nc.v4.f32", "CHECK: max.f32", "CHECK: bra.uni",
            "CHECK: shfl.sync.bfly.b32"});
}

TEST(CodegenLowering, IfYieldsTiles) {
  KernelBuilder k("choose");
  Expr x = k.param(ptr(ScalarType::F16), "x", {16});
  Expr flag = k.param(i32(), "flag");
  Expr p = k.addptr(x, k.arange(0, 512));
  Expr v = k.load(p);
  Exprs r = k.if_else(
      flag > 0, [&] { return Exprs{v * 2.0}; }, [&] { return Exprs{k.exp(v)}; });
  k.store(p, r[0]);
  auto out =
      check(k, {"CHECK: ld.global.v4.b32", "CHECK: f32.f16", "CHECK: cvt.rn.f16.f32", "CHECK: st.global.v4.b32"});
  // Stored through: not read-only, so no ld.global.nc.
  EXPECT_EQ(out.ptx.find("ld.global.nc"), std::string::npos);
}

// Rows of a [4, 256] tile: reduce along the rows, broadcast the sums back, and a masked 2-D store.
TEST(CodegenLowering, TwoDimensionalReduceAndBroadcast) {
  KernelBuilder k("rows2d");
  Expr x = k.param(ptr(ScalarType::F32), "x", {16});
  Expr sums = k.param(ptr(ScalarType::F32), "sums", {16});
  Expr stride = k.param(i32(), "stride", {4});
  Expr rows = k.arange(0, 4) + k.program_id(0) * 4;
  Expr offsets = k.broadcast(rows * k.splat(stride, {4}), {4, 256}, 0) + k.broadcast(k.arange(0, 256), {4, 256}, 1);
  Expr p = k.addptr(x, offsets);
  Expr v = k.load(p);
  Expr s = k.reduce(ReduceKind::Sum, v, 1);
  k.store(k.addptr(sums, rows), s);
  Expr centered = v - k.broadcast(s, {4, 256}, 0);
  k.store(p, centered, centered > 0.0);
  check(k, {"CHECK: ld.global.v4.f32", "CHECK: bar.sync", "CHECK: bar.sync"});
}

// Lanes of one 16-byte vector ([256, 8] bf16, each row one thread's chunk), as the row kernels fold their tiles: the
// per-lane max, its broadcast back and the per-lane sum stay in registers; only the final fold over all lanes (the
// lanes' layout has one element per chunk) meets in shared memory.
TEST(CodegenLowering, ReduceAlongLanesHeldByThreadsStaysInRegisters) {
  KernelBuilder k("lanes");
  Expr x = k.param(ptr(ScalarType::BF16), "x", {16});
  Expr out = k.param(ptr(ScalarType::F32), "out", {16});
  ir::Type::Shape shape{256, 8};
  Expr offsets = k.broadcast(k.arange(0, 256), shape, 0) * 8 + k.broadcast(k.arange(0, 8), shape, 1);
  Expr v = k.load(k.addptr(x, offsets)).to(ScalarType::F32);
  Expr m = k.reduce(ReduceKind::Max, v, 1);
  Expr d = k.reduce(ReduceKind::Sum, k.exp(v - k.broadcast(m, shape, 0)), 1);
  k.store(out, k.reduce_sum(m + k.log(d)));
  check(k, {"CHECK: ld.global.nc.v4.u32", "CHECK-NOT: st.shared", "CHECK: ex2.approx", "CHECK-NOT: st.shared",
            "CHECK: lg2.approx", "CHECK: shfl.sync", "CHECK: st.shared", "CHECK: bar.sync"});
}

}  // namespace
