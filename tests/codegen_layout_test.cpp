// Layout assignment: the element -> (thread, slot) rule, vector widths proven from alignment and divisibility, and
// groups of tiles sharing one layout.
#include <gtest/gtest.h>

#include "compiler/Error.h"
#include "compiler/codegen/Layout.h"
#include "compiler/ir/Builder.h"

using namespace xent;
using namespace xent::ir;
using codegen::Layout;

namespace {

TEST(CodegenLayout, ElementToThreadAndSlotRoundTrips) {
  Layout l{{50257}, 50257, 128, 8, 0, 8};
  l.slots = static_cast<int>((l.elements + 1023) / 1024 * 8);
  EXPECT_EQ(l.slots, 400);
  for (int64_t e : {0, 1, 7, 8, 1023, 1024, 50000, 50256}) {
    EXPECT_EQ(l.element(l.thread_of(e), l.slot_of(e)), e) << e;
    EXPECT_EQ(l.thread_of(e), (e / 8) % 128);
  }
  EXPECT_TRUE(l.always_in_tile(0));
  EXPECT_TRUE(l.always_in_tile(391));   // chunk 48 ends at 49 * 1024 = 50176 <= 50257
  EXPECT_FALSE(l.always_in_tile(392));  // chunk 49 holds the tail
}

// A bf16 row read at 16-byte aligned addresses with a stride known to be a multiple of 8 elements.
TEST(CodegenLayout, ProvesSixteenByteAccesses) {
  KernelBuilder k("rows");
  k.set_attribute("threads", 256);
  Expr x = k.param(ptr(ScalarType::BF16), "x", {16});
  Expr y = k.param(ptr(ScalarType::F32), "y", {16});
  Expr stride = k.param(i64(), "stride", {8});
  Expr row = k.program_id(0).to(ScalarType::I64) * stride;
  Expr cols = k.arange(0, 50257);
  Expr v = k.load(k.addptr(k.addptr(x, row), cols)).to(ScalarType::F32);
  Expr out = k.addptr(y, cols);
  k.store(out, v);
  auto kernel = k.finish();
  codegen::LayoutMap map = codegen::assign_layouts(*kernel);
  EXPECT_EQ(map.threads(), 256);
  EXPECT_EQ(map.at(v.value()).vector, 8);
  EXPECT_EQ(map.at(v.value()).slots, 200);   // ceil(50257 / 2048) * 8
  EXPECT_EQ(map.at(out.value()).access, 4);  // f32: 4 per 16 bytes
  std::string text = map.str(*kernel);
  EXPECT_NE(text.find("load bf16[50257]: T=256 w=8 slots=200"), std::string::npos) << text;
}

TEST(CodegenLayout, UnprovenAlignmentFallsBackToScalarAccess) {
  auto width = [](ParamInfo pointer, ParamInfo stride, int64_t start) {
    KernelBuilder k("rows");
    Expr x = k.param(ptr(ScalarType::F32), "x", pointer);
    Expr s = k.param(i32(), "stride", stride);
    Expr p = k.addptr(x, k.arange(start, start + 1000) + k.program_id(0) * s);
    k.store(p, k.load(p) * 2.0);
    auto kernel = k.finish();
    return codegen::assign_layouts(*kernel).at(p.value()).access;
  };
  EXPECT_EQ(width({16}, {4}, 0), 4);
  EXPECT_EQ(width({16}, {4}, 2), 2);  // arange from 2: runs start at 2 mod 4
  EXPECT_EQ(width({16}, {0}, 0), 1);  // unknown stride
  EXPECT_EQ(width({4}, {4}, 0), 1);   // pointer only 4-byte aligned
  EXPECT_EQ(width({8}, {64}, 0), 2);
}

// A select between two offsets keeps what both share: a tile starting at either of two multiples of 8 (as where a walk
// splits around a row's label) still loads 16 bytes at a time; one odd choice brings it to scalar accesses.
TEST(CodegenLayout, SelectKeepsTheDivisibilityBothChoicesShare) {
  auto width = [](int64_t other) {
    KernelBuilder k("split");
    Expr x = k.param(ptr(ScalarType::BF16), "x", {16});
    Expr y = k.param(ptr(ScalarType::F32), "y", {16});
    Expr label = k.param(i32(), "label");
    Expr start = k.select(label > 0.0, label / 8.0 * 8.0, k.constant_int(other, ScalarType::I32));
    Expr p = k.addptr(x, k.arange(0, 1024) + start);
    k.store(k.addptr(y, k.arange(0, 1024)), k.load(p).to(ScalarType::F32));
    auto kernel = k.finish();
    return codegen::assign_layouts(*kernel).at(p.value()).access;
  };
  EXPECT_EQ(width(4096), 8);
  EXPECT_EQ(width(4097), 1);
}

TEST(CodegenLayout, GathersAreScalar) {
  KernelBuilder k("gather");
  Expr x = k.param(ptr(ScalarType::F32), "x", {16});
  Expr idx = k.param(ptr(ScalarType::I32), "idx", {16});
  Expr i = k.load(k.addptr(idx, k.arange(0, 256)));
  Expr g = k.addptr(x, i);
  k.store(k.addptr(x, k.arange(0, 256)), k.load(g));
  auto kernel = k.finish();
  codegen::LayoutMap map = codegen::assign_layouts(*kernel);
  EXPECT_EQ(map.at(g.value()).access, 1);
  EXPECT_EQ(map.at(g.value()).vector, 4);  // one group with the contiguous accesses
}

TEST(CodegenLayout, RejectsBadThreadCounts) {
  for (int threads : {0, 16, 100, 2048}) {
    KernelBuilder k("t");
    k.set_attribute("threads", threads);
    auto kernel = k.finish();
    EXPECT_THROW(codegen::assign_layouts(*kernel), UserError) << threads;
  }
}

}  // namespace
