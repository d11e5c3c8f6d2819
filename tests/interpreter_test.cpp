// The CPU interpreter against hand-computed values and fp64 references: elementwise math, 16-bit rounding, masks,
// bounds errors, reductions, control flow, 2-D tiles, grids and argument checking.
#include "compiler/interp/Interpreter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "compiler/Error.h"
#include "compiler/ir/Builder.h"
#include "tests/user_error.h"
#include "compiler/ir/Semantics.h"

using namespace xent;
using namespace xent::ir;
using xent::testing::user_error;
using namespace xent::interp;

namespace {

constexpr ScalarType F32 = ScalarType::F32;
constexpr ScalarType I32 = ScalarType::I32;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

template <class T>
Buffer buffer(std::vector<T>& v) {
  return {v.data(), v.size() * sizeof(T)};
}

std::string hex(const void* p) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%" PRIxPTR, reinterpret_cast<uintptr_t>(p));
  return text;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// out[i] = x[i] converted to `type`, for i < n.
std::unique_ptr<Kernel> narrowing_kernel(ScalarType type, int64_t n) {
  KernelBuilder k("narrow");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(type), "out");
  Expr i = k.arange(0, n);
  k.store(k.addptr(out, i), k.load(k.addptr(x, i)).to(type));
  return k.finish();
}

}  // namespace

TEST(Interpreter, FloatMathMatchesHandComputedValues) {
  KernelBuilder k("math");
  Expr x = k.param(ptr(F32), "x");
  Expr y = k.param(ptr(F32), "y");
  Expr out = k.param(ptr(F32), "out");
  Expr i = k.arange(0, 6);
  Expr a = k.load(k.addptr(x, i));
  Expr b = k.load(k.addptr(y, i));
  Expr r = k.exp(a) + b * 2.0 - k.log(b) / a;
  r = k.max(r, k.unary(OpKind::Tanh, a)) + k.min(-a, k.unary(OpKind::Exp2, b)) * k.unary(OpKind::Log2, b);
  r = k.select(a < b, r, r - 1.0);
  k.store(k.addptr(out, i), r);
  auto kernel = k.finish();

  std::vector<float> xs = {0.5f, -1.25f, 3.0f, 7.5f, -0.1f, 2.0f};
  std::vector<float> ys = {1.5f, 0.25f, 2.0f, 9.0f, 0.3f, 1.0f};
  std::vector<float> got(6);
  run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::pointer(ys.data()), Arg::pointer(got.data())},
      std::vector{buffer(xs), buffer(ys), buffer(got)});
  for (size_t j = 0; j < xs.size(); ++j) {
    float p = xs[j], q = ys[j];
    float e = std::exp(p) + q * 2.0f - std::log(q) / p;
    e = std::fmax(e, std::tanh(p)) + std::fmin(-p, std::exp2(q)) * std::log2(q);
    e = p < q ? e : e - 1.0f;
    EXPECT_EQ(got[j], e) << "element " << j;
  }
}

TEST(Interpreter, SixteenBitArithmeticRoundsEachResult) {
  KernelBuilder k("bf16_math");
  Expr x = k.param(ptr(ScalarType::BF16), "x");
  Expr out = k.param(ptr(ScalarType::BF16), "out");
  Expr i = k.arange(0, 2);
  Expr v = k.load(k.addptr(x, i));
  k.store(k.addptr(out, i), v + k.constant(0x1p-8, ScalarType::BF16));
  auto kernel = k.finish();
  // 1 + 2^-8 is a tie between bf16 neighbours 1 and 1 + 2^-7: even wins. 1 + 2^-7 + 2^-8 ties up to 1 + 2^-6.
  std::vector<uint16_t> xs = {float_to_bf16_bits(1.0f), float_to_bf16_bits(1.0f + 0x1p-7f)}, got(2);
  run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::pointer(got.data())},
      std::vector{buffer(xs), buffer(got)});
  EXPECT_EQ(got[0], 0x3F80);
  EXPECT_EQ(got[1], 0x3F82);
}

TEST(Interpreter, IntegerMathWrapsAndTruncates) {
  KernelBuilder k("ints");
  Expr a = k.param(ptr(I32), "a");
  Expr b = k.param(ptr(I32), "b");
  Expr out = k.param(ptr(I32), "out");
  Expr wide = k.param(ptr(ScalarType::I64), "wide");
  Expr i = k.arange(0, 4);
  Expr p = k.load(k.addptr(a, i));
  Expr q = k.load(k.addptr(b, i));
  k.store(k.addptr(out, i), p + q);
  k.store(k.addptr(out, i + 4), p * q);
  k.store(k.addptr(out, i + 8), p / q);
  k.store(k.addptr(out, i + 12), p % q);
  k.store(k.addptr(out, i + 16), (p.to(F32) * 1e9).to(I32));
  k.store(k.addptr(wide, i), p.to(ScalarType::I64) * q.to(ScalarType::I64) * 3);
  auto kernel = k.finish();

  std::vector<int32_t> as = {INT32_MAX, -7, 7, -8}, bs = {1, 2, -2, 3}, got(20);
  std::vector<int64_t> wides(4);
  run(*kernel, {},
      std::vector{Arg::pointer(as.data()), Arg::pointer(bs.data()), Arg::pointer(got.data()),
                  Arg::pointer(wides.data())},
      std::vector{buffer(as), buffer(bs), buffer(got), buffer(wides)});
  EXPECT_EQ(std::vector<int32_t>(got.begin(), got.begin() + 4), (std::vector<int32_t>{INT32_MIN, -5, 5, -5}));
  EXPECT_EQ(std::vector<int32_t>(got.begin() + 4, got.begin() + 8), (std::vector<int32_t>{INT32_MAX, -14, -14, -24}));
  EXPECT_EQ(std::vector<int32_t>(got.begin() + 8, got.begin() + 12), (std::vector<int32_t>{INT32_MAX, -3, -3, -2}));
  EXPECT_EQ(std::vector<int32_t>(got.begin() + 12, got.begin() + 16), (std::vector<int32_t>{0, -1, 1, -2}));
  // float -> int saturates.
  EXPECT_EQ(std::vector<int32_t>(got.begin() + 16, got.end()),
            (std::vector<int32_t>{INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN}));
  EXPECT_EQ(wides, (std::vector<int64_t>{3LL * INT32_MAX, -42, -42, -72}));
}

TEST(Interpreter, IntegerDivisionByZeroIsAUserError) {
  KernelBuilder k("divide");
  Expr out = k.param(ptr(I32), "out");
  Expr d = k.param(i32(), "d");
  // Through binary(), which records this line (the operators record their own).
  k.store(out, k.binary(OpKind::Div, k.constant_int(7, I32), d));
  auto kernel = k.finish();
  std::vector<int32_t> got(1);
  std::string msg = user_error([&] {
    run(*kernel, {}, std::vector{Arg::pointer(got.data()), Arg::i32(0)}, std::vector{buffer(got)});
  });
  EXPECT_TRUE(contains(msg, "kernel 'divide'")) << msg;
  EXPECT_TRUE(contains(msg, "by zero")) << msg;
  EXPECT_TRUE(contains(msg, "'div' at interpreter_test.cpp:")) << msg;
}

TEST(Interpreter, Bf16StoresRoundToNearestEven) {
  std::vector<float> xs = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-16f, -1.0f - 0x1p-8f, 0x1p-133f};
  std::vector<uint16_t> got(xs.size());
  auto kernel = narrowing_kernel(ScalarType::BF16, xs.size());
  run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::pointer(got.data())},
      std::vector{buffer(xs), buffer(got)});
  // ties to even (down, up), just above a tie (up), a negative tie, a subnormal kept.
  EXPECT_EQ(got, (std::vector<uint16_t>{0x3F80, 0x3F82, 0x3F81, 0xBF80, 0x0001}));
}

TEST(Interpreter, F16StoresRoundToNearestEven) {
  std::vector<float> xs = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65519.0f, 65520.0f, 0x1p-25f, 0x1.8p-25f};
  std::vector<uint16_t> got(xs.size());
  auto kernel = narrowing_kernel(ScalarType::F16, xs.size());
  run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::pointer(got.data())},
      std::vector{buffer(xs), buffer(got)});
  // ties to even; 65520 is the tie between the largest f16 and 2^16, so it overflows; 2^-25 is half the smallest
  // subnormal (to zero) and 1.5 * 2^-25 rounds up to it.
  EXPECT_EQ(got, (std::vector<uint16_t>{0x3C00, 0x3C02, 0x7BFF, 0x7C00, 0x0000, 0x0001}));
}

TEST(Interpreter, SixteenBitLoadsWidenExactly) {
  KernelBuilder k("widen");
  Expr x = k.param(ptr(ScalarType::BF16), "x");
  Expr h = k.param(ptr(ScalarType::F16), "h");
  Expr out = k.param(ptr(F32), "out");
  Expr i = k.arange(0, 2);
  k.store(k.addptr(out, i), k.load(k.addptr(x, i)).to(F32));
  k.store(k.addptr(out, i + 2), k.load(k.addptr(h, i)).to(F32));
  auto kernel = k.finish();
  std::vector<uint16_t> bf = {0x3F81, 0xC2F7}, hf = {0x3C01, 0x0001};
  std::vector<float> got(4);
  run(*kernel, {}, std::vector{Arg::pointer(bf.data()), Arg::pointer(hf.data()), Arg::pointer(got.data())},
      std::vector{buffer(bf), buffer(hf), buffer(got)});
  EXPECT_EQ(got, (std::vector<float>{1.0078125f, -123.5f, 1.0f + 0x1p-10f, 0x1p-24f}));
}

TEST(Interpreter, MaskedLanesTouchNoMemory) {
  KernelBuilder k("masked");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  Expr loaded = k.param(ptr(F32), "loaded");
  Expr n = k.param(i32(), "n");
  Expr i = k.arange(0, 8);
  Expr m = i < n;
  Expr v = k.load(k.addptr(x, i), m, k.constant(-1.0, F32));
  k.store(k.addptr(out, i), v * 2.0, m);
  k.store(k.addptr(loaded, i), v);
  auto kernel = k.finish();

  // x holds 5 elements: lanes 5..7 point past it, and are masked off.
  std::vector<float> xs = {1, 2, 3, 4, 5}, outs(8, 42.0f), loads(8);
  run(*kernel, {},
      std::vector{Arg::pointer(xs.data()), Arg::pointer(outs.data()), Arg::pointer(loads.data()), Arg::i32(5)},
      std::vector{buffer(xs), buffer(outs), buffer(loads)});
  EXPECT_EQ(outs, (std::vector<float>{2, 4, 6, 8, 10, 42, 42, 42}));
  EXPECT_EQ(loads, (std::vector<float>{1, 2, 3, 4, 5, -1, -1, -1}));
}

TEST(Interpreter, OutOfBoundsLoadNamesTheAddress) {
  KernelBuilder k("oob");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  Expr i = k.arange(0, 8);
  k.store(k.addptr(out, i), k.load(k.addptr(x, i)));
  auto kernel = k.finish();
  std::vector<float> xs(5), outs(8);
  std::string msg = user_error([&] {
    run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::pointer(outs.data())},
        std::vector{buffer(xs), buffer(outs)});
  });
  EXPECT_TRUE(contains(msg, "kernel 'oob'")) << msg;
  EXPECT_TRUE(contains(msg, "'load' at interpreter_test.cpp:")) << msg;
  EXPECT_TRUE(contains(msg, "element 5")) << msg;
  EXPECT_TRUE(contains(msg, hex(xs.data() + 5))) << msg;
  EXPECT_TRUE(contains(msg, "nearest buffer is #0 [" + hex(xs.data()) + ", " + hex(xs.data() + 5) + ")")) << msg;
  EXPECT_TRUE(contains(msg, "0 bytes past its end")) << msg;
}

TEST(Interpreter, OutOfBoundsStoreAndMisalignedLoadAreUserErrors) {
  KernelBuilder k("copy");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  Expr i = k.arange(0, 4);
  k.store(k.addptr(out, i), k.load(k.addptr(x, i)));
  auto kernel = k.finish();
  std::vector<float> xs(8), outs(3);
  std::string msg = user_error([&] {
    run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::pointer(outs.data())},
        std::vector{buffer(xs), buffer(outs)});
  });
  EXPECT_TRUE(contains(msg, "'store'")) << msg;
  EXPECT_TRUE(contains(msg, hex(outs.data() + 3))) << msg;

  const void* odd = reinterpret_cast<const char*>(xs.data()) + 2;
  msg = user_error([&] {
    run(*kernel, {}, std::vector{Arg::pointer(odd), Arg::pointer(xs.data())}, std::vector{buffer(xs)});
  });
  EXPECT_TRUE(contains(msg, "not aligned to 4 bytes")) << msg;
  EXPECT_TRUE(contains(msg, hex(odd))) << msg;
}

TEST(Interpreter, ReduceSumIsAccurateOverAMillionElements) {
  constexpr int64_t n = 1'000'000;
  KernelBuilder k("sum");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  k.store(out, k.reduce_sum(k.load(k.addptr(x, k.arange(0, n)))));
  auto kernel = k.finish();

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> xs(n), got(1);
  double reference = 0.0;
  for (float& v : xs) {
    v = uniform(rng);
    reference += v;
  }
  run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::pointer(got.data())},
      std::vector{buffer(xs), buffer(got)});
  // A sequential fp32 sum is off by ~1e-4 here; a pairwise one by a few ulps.
  EXPECT_LT(std::abs(got[0] - reference) / reference, 1e-6) << got[0] << " vs " << reference;
}

TEST(Interpreter, ReduceMaxAndMinIgnoreNaN) {
  KernelBuilder k("extremes");
  Expr x = k.param(ptr(F32), "x");
  Expr hi = k.param(ptr(F32), "hi");
  Expr lo = k.param(ptr(F32), "lo");
  Expr row = k.program_id(0);
  Expr v = k.load(k.addptr(x, k.arange(0, 4) + row * 4));
  k.store(k.addptr(hi, row), k.reduce_max(v));
  k.store(k.addptr(lo, row), k.reduce(ReduceKind::Min, v));
  auto kernel = k.finish();
  std::vector<float> xs = {kNaN, -kInf, 3.0f, kNaN, kNaN, kNaN, kNaN, kNaN, -kInf, -kInf, -kInf, -kInf}, his(3), los(3);
  run(*kernel, {3}, std::vector{Arg::pointer(xs.data()), Arg::pointer(his.data()), Arg::pointer(los.data())},
      std::vector{buffer(xs), buffer(his), buffer(los)});
  EXPECT_EQ(his[0], 3.0f);
  EXPECT_EQ(los[0], -kInf);
  EXPECT_TRUE(std::isnan(his[1]) && std::isnan(los[1]));
  EXPECT_EQ(his[2], -kInf);
  EXPECT_EQ(los[2], -kInf);
}

TEST(Interpreter, ForLoopCarriesValues) {
  KernelBuilder k("loop");
  Expr sums = k.param(ptr(I32), "sums");
  Expr outs = k.param(ptr(F32), "outs");
  Expr n = k.param(i32(), "n");
  Expr step = k.param(i32(), "step");
  Expr i = k.arange(0, 4);
  Expr acc0 = k.load(k.addptr(outs, i));
  Exprs r = k.for_loop(k.constant_int(0, I32), n, step,
                       {k.constant_int(0, I32), acc0, k.constant(5.0, F32), k.constant(7.0, F32)},
                       [&](Expr iv, const Exprs& c) {
                         // The last two swap places every iteration.
                         return Exprs{c[0] + iv, c[1] + iv.to(F32), c[3], c[2]};
                       });
  k.store(sums, r[0]);
  k.store(k.addptr(outs, i), r[1]);
  k.store(k.addptr(outs, k.constant_int(4, I32)), r[2]);
  k.store(k.addptr(outs, k.constant_int(5, I32)), r[3]);
  auto kernel = k.finish();

  auto go = [&](int32_t count, int32_t stride) {
    std::vector<int32_t> s(1);
    std::vector<float> o = {1, 2, 3, 4, 0, 0};
    run(*kernel, {}, std::vector{Arg::pointer(s.data()), Arg::pointer(o.data()), Arg::i32(count), Arg::i32(stride)},
        std::vector{buffer(s), buffer(o)});
    o.insert(o.begin(), static_cast<float>(s[0]));
    return o;
  };
  EXPECT_EQ(go(10, 3), (std::vector<float>{18, 19, 20, 21, 22, 5, 7}));  // iv = 0, 3, 6, 9
  EXPECT_EQ(go(7, 3), (std::vector<float>{9, 10, 11, 12, 13, 7, 5}));    // iv = 0, 3, 6
  EXPECT_EQ(go(0, 3), (std::vector<float>{0, 1, 2, 3, 4, 5, 7}));        // no iteration: the initial values
  std::string msg = user_error([&] { go(4, 0); });
  EXPECT_TRUE(contains(msg, "'for'")) << msg;
  EXPECT_TRUE(contains(msg, "step must be positive, got 0")) << msg;
}

TEST(Interpreter, IfRunsOneBranch) {
  KernelBuilder k("branch");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  Expr flag = k.param(ptr(I32), "flag");
  Expr row = k.program_id(0);
  Expr v = k.load(k.addptr(x, row));
  Exprs r = k.if_else(
      row % 2 == 0, [&] { return Exprs{v * 2.0}; }, [&] { return Exprs{v + 100.0}; });
  k.store(k.addptr(out, row), r[0]);
  k.if_then(row == 2, [&] { k.store(flag, row); });
  auto kernel = k.finish();
  std::vector<float> xs = {1, 2, 3, 4}, got(4);
  std::vector<int32_t> flags = {-1};
  run(*kernel, {4}, std::vector{Arg::pointer(xs.data()), Arg::pointer(got.data()), Arg::pointer(flags.data())},
      std::vector{buffer(xs), buffer(got), buffer(flags)});
  EXPECT_EQ(got, (std::vector<float>{2, 102, 6, 104}));
  EXPECT_EQ(flags[0], 2);
}

TEST(Interpreter, TwoDimensionalTilesBroadcastAndReduceAlongEachAxis) {
  KernelBuilder k("tiles");
  Expr x = k.param(ptr(F32), "x");
  Expr cols = k.param(ptr(F32), "cols");  // 4 column sums, then 4 column maxima
  Expr rows = k.param(ptr(F32), "rows");  // 3 row sums, then 3 row minima
  Expr centered = k.param(ptr(F32), "centered");
  Expr r = k.broadcast(k.arange(0, 3), {3, 4}, 0);
  Expr c = k.broadcast(k.arange(0, 4), {3, 4}, 1);
  Expr index = r * 4 + c;
  Expr v = k.load(k.addptr(x, index));
  Expr jc = k.arange(0, 4);
  Expr jr = k.arange(0, 3);
  k.store(k.addptr(cols, jc), k.reduce(ReduceKind::Sum, v, 0));
  k.store(k.addptr(cols, jc + 4), k.reduce(ReduceKind::Max, v, 0));
  k.store(k.addptr(rows, jr), k.reduce(ReduceKind::Sum, v, 1));
  Expr row_min = k.reduce(ReduceKind::Min, v, 1);
  k.store(k.addptr(rows, jr + 3), row_min);
  k.store(k.addptr(centered, index), v - k.broadcast(row_min, {3, 4}, 0));
  auto kernel = k.finish();

  std::vector<float> xs = {1,  5, 2,  8,  //
                           -3, 0, 4,  1,  //
                           6,  2, -7, 3};
  std::vector<float> col(8), row(6), cen(12);
  run(*kernel, {},
      std::vector{Arg::pointer(xs.data()), Arg::pointer(col.data()), Arg::pointer(row.data()),
                  Arg::pointer(cen.data())},
      std::vector{buffer(xs), buffer(col), buffer(row), buffer(cen)});
  EXPECT_EQ(col, (std::vector<float>{4, 7, -1, 12, 6, 5, 4, 8}));
  EXPECT_EQ(row, (std::vector<float>{16, 2, 4, 1, -3, -7}));
  EXPECT_EQ(cen, (std::vector<float>{0, 4, 1, 7, 0, 3, 7, 4, 13, 9, 0, 10}));
}

TEST(Interpreter, ProgramIdsCoverTheGridXFastest) {
  KernelBuilder k("grid");
  Expr counter = k.param(ptr(I32), "counter");
  Expr order = k.param(ptr(I32), "order");
  Expr ids = k.param(ptr(I32), "ids");
  Expr x = k.program_id(0), y = k.program_id(1), z = k.program_id(2);
  Expr linear = x + y * 3 + z * 6;
  Expr seen = k.load(counter);
  k.store(counter, seen + 1);
  k.store(k.addptr(order, linear), seen);
  k.store(k.addptr(ids, linear), x + y * 10 + z * 100);
  auto kernel = k.finish();
  std::vector<int32_t> count = {0}, orders(12, -1), id(12, -1);
  run(*kernel, {3, 2, 2}, std::vector{Arg::pointer(count.data()), Arg::pointer(orders.data()), Arg::pointer(id.data())},
      std::vector{buffer(count), buffer(orders), buffer(id)});
  EXPECT_EQ(count[0], 12);
  for (int32_t j = 0; j < 12; ++j) {
    EXPECT_EQ(orders[j], j);
    EXPECT_EQ(id[j], j % 3 + (j / 3) % 2 * 10 + j / 6 * 100);
  }
}

TEST(Interpreter, UnspecializedConstexprIsNamed) {
  KernelBuilder k("generic");
  Expr out = k.param(ptr(I32), "out");
  k.store(out, k.constexpr_param("vocab", I32));
  auto kernel = k.finish();
  std::vector<int32_t> got(1);
  std::string msg =
      user_error([&] { run(*kernel, {}, std::vector{Arg::pointer(got.data())}, std::vector{buffer(got)}); });
  EXPECT_TRUE(contains(msg, "\"vocab\"")) << msg;
  EXPECT_TRUE(contains(msg, "not specialized")) << msg;
}

TEST(Interpreter, ArgumentsAreCheckedAgainstTheParameters) {
  KernelBuilder k("args");
  Expr x = k.param(ptr(F32), "x");
  Expr n = k.param(i32(), "n");
  Expr scale = k.param(bf16(), "scale");
  k.store(x, (k.load(x).to(ScalarType::BF16) * scale).to(F32) + n.to(F32));
  auto kernel = k.finish();
  std::vector<float> xs = {2};
  std::vector<Buffer> buffers = {buffer(xs)};

  std::string msg = user_error([&] { run(*kernel, {}, std::vector{Arg::pointer(xs.data())}, buffers); });
  EXPECT_TRUE(contains(msg, "takes 3 arguments (x: ptr<f32>, n: i32, scale: bf16), got 1")) << msg;
  msg = user_error([&] { run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::i64(3), Arg::bf16(1)}, buffers); });
  EXPECT_TRUE(contains(msg, "argument 1 ('n') must be i32, got i64 3")) << msg;
  msg = user_error([&] { run(*kernel, {}, std::vector{Arg::f32(1), Arg::i32(3), Arg::bf16(1)}, buffers); });
  EXPECT_TRUE(contains(msg, "argument 0 ('x') must be ptr<f32>")) << msg;
  msg = user_error([&] { run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::i32(3), Arg::f32(1)}, buffers); });
  EXPECT_TRUE(contains(msg, "('scale') must be bf16, got f32 1")) << msg;

  // bf16(1.01) rounds to 1.0078125 before the kernel sees it.
  run(*kernel, {}, std::vector{Arg::pointer(xs.data()), Arg::i32(3), Arg::bf16(1.01f)}, buffers);
  EXPECT_EQ(xs[0], 2.015625f + 3.0f);
}

TEST(Interpreter, ThroughputOnAMillionElements) {
  constexpr int64_t n = 1'000'000, block = 1024;
  KernelBuilder k("exp_add");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  Expr offsets = k.arange(0, block) + k.program_id(0) * block;
  Expr m = offsets < static_cast<double>(n);
  Expr v = k.load(k.addptr(x, offsets), m);
  k.store(k.addptr(out, offsets), k.exp(v) + v, m);
  auto kernel = k.finish();
  int64_t tile_ops = 0;
  for (const auto& op : kernel->body().ops())
    if ((op->num_results() && op->result()->type().is_tile()) || op->kind() == OpKind::Store) ++tile_ops;

  std::vector<float> xs(n), got(n);
  for (int64_t j = 0; j < n; ++j) xs[j] = static_cast<float>(j % 1000) * 1e-3f - 0.5f;
  int64_t programs = (n + block - 1) / block;
  auto start = std::chrono::steady_clock::now();
  run(*kernel, {programs}, std::vector{Arg::pointer(xs.data()), Arg::pointer(got.data())},
      std::vector{buffer(xs), buffer(got)});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (int64_t j : {int64_t{0}, int64_t{12345}, n - 1}) EXPECT_EQ(got[j], std::exp(xs[j]) + xs[j]);
  double element_ops = static_cast<double>(tile_ops) * programs * block;
  std::printf("[ interp   ] %" PRId64 " tile ops x %" PRId64
              " elements in %.1f ms: %.0f M element-ops/s, %.0f M elements/s\n",
              tile_ops, programs * block, seconds * 1e3, element_ops / seconds / 1e6, n / seconds / 1e6);
  EXPECT_GT(element_ops / seconds, 5e6);  // a loose floor: the machine is shared
}
