#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "compiler/Error.h"
#include "compiler/ir/Builder.h"
#include "compiler/ir/Parser.h"
#include "compiler/ir/Printer.h"

using namespace xent;
using namespace xent::ir;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void expect_round_trip(const Kernel& kernel) {
  std::string text = print(kernel);
  std::unique_ptr<Kernel> parsed = parse_kernel(text);
  EXPECT_EQ(print(*parsed), text);
}

// The UserError message parse_kernel gives for `text`.
std::string parse_error(const std::string& text) {
  try {
    parse_kernel(text);
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a parse error for:\n" << text;
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Every operation found in `block` and its regions, in order.
void collect(const Block& block, std::vector<const Operation*>& out) {
  for (const auto& op : block.ops()) {
    out.push_back(op.get());
    for (size_t r = 0; r < op->num_regions(); ++r) collect(op->region(r), out);
  }
}

}  // namespace

TEST(Parser, RoundTripsLeavesAndElementwiseOps) {
  KernelBuilder k("elementwise");
  Expr x = k.param(ptr(ScalarType::F32), "x", {16});
  Expr out = k.param(ptr(ScalarType::F32), "out");
  Expr out_h = k.param(ptr(ScalarType::BF16), "out_h", {8});
  Expr n = k.param(i32(), "n");
  k.set_attribute("threads", 128);
  k.set_attribute("warps", 4);

  Expr row = k.program_id(0);
  k.program_id(2);
  Expr vocab = k.constexpr_param("vocab", ScalarType::I32);
  k.constant_int(-3, ScalarType::I64);
  k.constant_int(1, ScalarType::I1);
  Expr inf = k.constant(kInf, ScalarType::F32);
  Expr neg_inf = k.constant(-kInf, ScalarType::F32);
  Expr nan = k.constant(std::nan(""), ScalarType::F32);
  Expr tiny = k.constant(1e-05, ScalarType::F32);
  Expr third = k.constant(1.0 / 3.0, ScalarType::F32);
  k.constant(-0.25, ScalarType::BF16);
  k.constant(65504.0, ScalarType::F16);

  Expr cols = k.arange(0, 128);
  k.arange(-4, 4);
  Expr offsets = cols + row * vocab;
  Expr in_range = cols < n;
  Expr v = k.load(k.addptr(x, offsets), in_range, neg_inf);

  Expr acc = k.splat(tiny, {128});
  for (OpKind kind : {OpKind::Neg, OpKind::Exp, OpKind::Exp2, OpKind::Log, OpKind::Log2, OpKind::Tanh})
    acc = acc + k.unary(kind, v);
  for (OpKind kind : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div, OpKind::Max, OpKind::Min})
    acc = k.binary(kind, acc, v);
  acc = k.max(acc, inf) - nan * third;
  Expr ints = (cols % 3) & (cols | offsets);
  Expr mask = in_range;
  for (CmpPredicate p :
       {CmpPredicate::Eq, CmpPredicate::Ne, CmpPredicate::Lt, CmpPredicate::Le, CmpPredicate::Gt, CmpPredicate::Ge})
    mask = mask | k.cmp(p, ints, offsets);
  mask = mask & (acc != 0.0);
  Expr chosen = k.select(mask, acc, ints.to(ScalarType::F32));
  k.store(k.addptr(out, offsets.to(ScalarType::I64)), chosen, in_range);
  k.store(k.addptr(out_h, offsets), chosen.to(ScalarType::BF16));
  std::unique_ptr<Kernel> kernel = k.finish();

  expect_round_trip(*kernel);
  std::unique_ptr<Kernel> parsed = parse_kernel(print(*kernel));
  EXPECT_EQ(parsed->param(0)->name(), "x");
  EXPECT_EQ(parsed->param_info(0).align, 16);
  EXPECT_EQ(parsed->param_info(1).align, 0);
  EXPECT_EQ(parsed->attribute("warps", 0), 4);
}

TEST(Parser, RoundTripsBroadcastAndReductions) {
  KernelBuilder k("reductions");
  Expr x = k.param(ptr(ScalarType::F32), "x");
  Expr out = k.param(ptr(ScalarType::F32), "out");
  Expr rows = k.broadcast(k.arange(0, 4), {4, 8}, 0);
  Expr cols = k.broadcast(k.arange(0, 8), {4, 8}, 1);
  Expr tile = k.load(k.addptr(x, rows * 8 + cols));
  Expr col_sums = k.reduce(ReduceKind::Sum, tile, 0);
  Expr row_maxes = k.reduce(ReduceKind::Max, tile, 1);
  Expr col_mins = k.reduce(ReduceKind::Min, tile, 0);
  Expr total = k.reduce_sum(col_sums) + k.reduce_max(row_maxes) + k.reduce(ReduceKind::Min, col_mins);
  k.store(out, total);
  k.store(k.addptr(out, k.arange(1, 9)), col_sums);
  std::unique_ptr<Kernel> kernel = k.finish();

  std::string text = print(*kernel);
  EXPECT_TRUE(contains(text, "broadcast")) << text;
  EXPECT_TRUE(contains(text, "reduce min")) << text;
  expect_round_trip(*kernel);
}

TEST(Parser, RoundTripsNestedLoopsAndIfs) {
  KernelBuilder k("control");
  Expr out = k.param(ptr(ScalarType::F32), "out");
  Expr n = k.param(i32(), "n");
  Expr zero = k.constant_int(0, ScalarType::I32);
  Expr one = k.constant_int(1, ScalarType::I32);
  Exprs outer = k.for_loop(zero, n, one, {k.constant(0.0, ScalarType::F32), k.constant(-kInf, ScalarType::F32)},
                           [&](Expr i, const Exprs& acc) {
                             Exprs inner = k.for_loop(zero, i, one, {acc[0]}, [&](Expr j, const Exprs& s) {
                               return Exprs{s[0] + j.to(ScalarType::F32)};
                             });
                             return k.if_else(
                                 i > 3.0,
                                 [&] {
                                   return Exprs{inner[0], acc[1]};
                                 },
                                 [&] {
                                   return Exprs{acc[0], k.max(acc[1], inner[0])};
                                 });
                           });
  k.if_then(outer[0] > 0.0, [&] { k.store(out, outer[1]); });
  k.for_loop(zero, n, one, {}, [&](Expr i, const Exprs&) {
    k.store(k.addptr(out, i), i.to(ScalarType::F32));
    return Exprs{};
  });
  std::unique_ptr<Kernel> kernel = k.finish();

  std::string text = print(*kernel);
  EXPECT_TRUE(contains(text, "iter_args(")) << text;
  EXPECT_TRUE(contains(text, "%iv_")) << text;
  expect_round_trip(*kernel);

  // Every loop's induction variable keeps its hint "iv", even where the printer had to spell it %iv_N.
  std::unique_ptr<Kernel> parsed = parse_kernel(text);
  std::vector<const Operation*> ops;
  collect(parsed->body(), ops);
  int loops = 0;
  for (const Operation* op : ops)
    if (op->kind() == OpKind::For) {
      ++loops;
      EXPECT_EQ(op->region(0).argument(0)->name(), "iv");
    }
  EXPECT_EQ(loops, 3);
}

TEST(Parser, ReadsHandWrittenTextWithLiteralsAndNames) {
  const std::string text =
      "kernel @hand(%x: ptr<f32> {align = 16}, %n: i32) attributes {threads = 256} {\n"
      "  %2 = constant 1e-05 : f32\n"
      "  %3 = constant -inf : f32\n"
      "  %4 = constant nan : f32\n"
      "  %5 = constant -42 : i64\n"
      "  %6 = constant 1.0 : bf16\n"
      "  %7 = constexpr \"vocab\" : i32\n"
      "  %range = arange -4 to 4 : i32[8]\n"
      "  %y = max %2, %3 : f32\n"
      "  store %x, %y\n"
      "  return\n"
      "}\n";
  std::unique_ptr<Kernel> kernel = parse_kernel(text);
  EXPECT_EQ(print(*kernel), text);
  EXPECT_EQ(kernel->name(), "hand");
  EXPECT_EQ(kernel->attribute("threads", 0), 256);

  std::vector<const Operation*> ops;
  collect(kernel->body(), ops);
  ASSERT_EQ(ops.size(), 10u);
  EXPECT_EQ(ops[0]->attributes().literal.real, 1e-05);
  EXPECT_EQ(ops[1]->attributes().literal.real, -kInf);
  EXPECT_TRUE(std::isnan(ops[2]->attributes().literal.real));
  EXPECT_EQ(ops[3]->attributes().literal.integer, -42);
  EXPECT_EQ(ops[3]->result()->type(), i64());
  EXPECT_EQ(ops[4]->attributes().literal.real, 1.0);
  EXPECT_EQ(ops[5]->attributes().symbol, "vocab");
  EXPECT_EQ(ops[6]->attributes().start, -4);
  EXPECT_EQ(ops[6]->result()->name(), "range");
  EXPECT_EQ(ops[7]->result()->name(), "y");
  EXPECT_EQ(ops[0]->result()->name(), "");  // a number carries no hint
  EXPECT_EQ(ops[7]->operand(1), ops[1]->result());
}

TEST(Parser, ReportsSyntaxErrorsWithLineAndColumn) {
  std::string msg = parse_error(
      "kernel @k() {\n"
      "  %0 = program_id axis 0 i32\n"
      "  return\n"
      "}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 26: expected ':' before the result type, got 'i32'")) << msg;

  msg = parse_error("kernel @k() {\n  return\n");
  EXPECT_TRUE(contains(msg, "line 3, col 1: expected an operation name, got end of input")) << msg;

  msg = parse_error("kernel @k(%x f32) {\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 1, col 14: expected ':' after the parameter name")) << msg;

  msg = parse_error("kernel @k() {\n  %0 = constant 1.0 : f32 #\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 27: unexpected character '#'")) << msg;
}

TEST(Parser, ReportsUnknownOpsAndBadValues) {
  std::string msg =
      parse_error("kernel @k() {\n  %0 = program_id axis 0 : i32\n  %1 = frobnicate %0 : i32\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 3, col 8: unknown operation 'frobnicate'")) << msg;

  msg = parse_error("kernel @k(%x: i32) {\n  %1 = add %x, %y : i32\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 16: undefined value %y")) << msg;

  msg = parse_error("kernel @k(%x: i32) {\n  %x = add %x, %x : i32\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 3: value %x is defined twice")) << msg;

  msg = parse_error("kernel @k() {\n  %0 = cmp within %0, %0 : i1\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 12: unknown predicate 'within'")) << msg;

  msg = parse_error("kernel @k(%p: ptr<f32>) {\n  %0 = store %p, %p\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 3: 'store' has no result")) << msg;
}

TEST(Parser, ReportsBadTypes) {
  std::string msg = parse_error("kernel @k(%x: f33) {\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 1, col 15: expected a type")) << msg;
  EXPECT_TRUE(contains(msg, "got 'f33'")) << msg;

  msg = parse_error("kernel @k(%x: ptr<i1>) {\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 1, col 15: bad type")) << msg;
  EXPECT_TRUE(contains(msg, "cannot point to i1")) << msg;

  msg = parse_error("kernel @k() {\n  %0 = arange 0 to 4 : i32[4,4,4]\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 24: bad type: tiles have rank 1 or 2")) << msg;

  msg = parse_error("kernel @k(%a: i32, %b: f32) {\n  %2 = add %a, %b : i32\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 8: 'add': both operands must have the same type, got i32 and f32")) << msg;

  msg = parse_error("kernel @k(%a: i32) {\n  %1 = neg %a : i64\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 8: 'neg': the result type is i64, expected i32")) << msg;

  msg = parse_error("kernel @k() {\n  %0 = constant 1.5 : i32\n  return\n}\n");
  EXPECT_TRUE(contains(msg, "line 2, col 17: '1.5' is not a literal of type i32")) << msg;
}

TEST(Parser, ReportsIRTheVerifierRejects) {
  std::string msg = parse_error(
      "kernel @k(%n: i32) {\n"
      "  %1 = constant 0 : i32\n"
      "  %2 = constant 1 : i32\n"
      "  for %iv = %1 to %n step %2 {\n"
      "    %4 = add %iv, %iv : i32\n"
      "    yield\n"
      "  }\n"
      "  %5 = add %4, %4 : i32\n"
      "  return\n"
      "}\n");
  EXPECT_TRUE(contains(msg, "not valid IR")) << msg;
  EXPECT_TRUE(contains(msg, "used before its definition or out of its scope")) << msg;

  msg = parse_error("kernel @k() {\n}\n");
  EXPECT_TRUE(contains(msg, "the kernel body must end in 'return'")) << msg;
}
