#include <gtest/gtest.h>

#include "compiler/Error.h"
#include "compiler/ir/Builder.h"
#include "compiler/ir/Printer.h"
#include "compiler/ir/Verifier.h"

using namespace xent;
using namespace xent::ir;

TEST(Builder, BuildsAndPrintsARowKernel) {
  KernelBuilder k("scale");
  Expr x = k.param(ptr(ScalarType::BF16), "x", {16});
  Expr row = k.program_id(0);
  Expr cols = k.arange(0, 128);
  Expr p = k.addptr(x, cols + row * 128);
  Expr v = k.load(p).to(ScalarType::F32);
  Expr m = k.reduce_max(v);
  k.store(p, (v - m).to(ScalarType::BF16));
  auto kernel = k.finish();
  std::string text = print(*kernel);
  EXPECT_NE(text.find("kernel @scale(%x: ptr<bf16> {align = 16})"), std::string::npos) << text;
  EXPECT_NE(text.find("reduce max"), std::string::npos) << text;
  EXPECT_NE(text.find("store"), std::string::npos) << text;
}

TEST(Builder, RejectsMismatchedTypesWithLocation) {
  KernelBuilder k("bad");
  Expr x = k.param(ptr(ScalarType::F32), "x");
  Expr a = k.load(k.addptr(x, k.arange(0, 4))).to(ScalarType::BF16);
  Expr b = k.load(k.addptr(x, k.arange(0, 4)));
  try {
    k.binary(OpKind::Add, a, b);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("ir_builder_test.cpp"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'add'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bf16[4] and f32[4]"), std::string::npos) << msg;
  }
}

TEST(Builder, LoopAndIf) {
  KernelBuilder k("loop");
  Expr out = k.param(ptr(ScalarType::F32), "out");
  Expr zero = k.constant_int(0, ScalarType::I32);
  Expr n = k.constexpr_param("n", ScalarType::I32);
  Exprs sum = k.for_loop(zero, n, k.constant_int(1, ScalarType::I32), {k.constant(0.0, ScalarType::F32)},
                         [&](Expr iv, const Exprs& acc) { return Exprs{acc[0] + iv.to(ScalarType::F32)}; });
  Exprs r = k.if_else(
      sum[0] > 10.0, [&] { return Exprs{sum[0]}; }, [&] { return Exprs{-sum[0]}; });
  k.store(out, r[0]);
  auto kernel = k.finish();
  std::string text = print(*kernel);
  EXPECT_NE(text.find("iter_args("), std::string::npos) << text;
  EXPECT_NE(text.find("} else {"), std::string::npos) << text;
}
