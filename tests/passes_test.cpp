// The IR passes and the pipeline, checked on small kernels through a few lines of their printed IR.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "compiler/Error.h"
#include "compiler/interp/Interpreter.h"
#include "compiler/ir/Builder.h"
#include "compiler/ir/Printer.h"
#include "compiler/ir/Semantics.h"
#include "compiler/ir/Verifier.h"
#include "compiler/passes/EliminateDeadCode.h"
#include "compiler/passes/FoldConstants.h"
#include "compiler/passes/PeelLoops.h"
#include "compiler/passes/Pipeline.h"
#include "compiler/passes/Specialize.h"

using namespace xent;
using namespace xent::ir;
using namespace xent::passes;

namespace {

constexpr ScalarType I1 = ScalarType::I1;
constexpr ScalarType I32 = ScalarType::I32;
constexpr ScalarType F32 = ScalarType::F32;
constexpr double kInf = std::numeric_limits<double>::infinity();

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// The printed lines that contain `needle`, indentation included (2 spaces per nesting level).
std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (has(line, needle)) lines.push_back(line);
  return lines;
}

// The carried values of a printed `for` line.
int carried_count(const std::string& for_line) {
  size_t at = for_line.find("iter_args(");
  return at == std::string::npos ? 0 : count(for_line.substr(at), " = %");
}

// The value a printed line defines: "%7" for "    %7 = max %5, %6 : f32".
std::string defined_name(const std::string& line) {
  size_t begin = line.find('%');
  return line.substr(begin, line.find(" =") - begin);
}

// A load prints its operands between "load " and " :"; a masked load has more than one.
bool is_masked_load(const std::string& line) { return has(line.substr(0, line.find(" : ")), ","); }

std::string after(void (*pass)(Kernel&), Kernel& kernel) {
  pass(kernel);
  verify(kernel);
  return print(kernel);
}

// The max of each row of V floats, read in chunks of `block` columns with a `column < V` mask: the shape of the
// cross-entropy kernels' row loops.
std::unique_ptr<Kernel> chunked_row_max(int64_t block) {
  KernelBuilder k("row_max");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  Expr vocab = k.constexpr_param("V", I32);
  Expr row = k.program_id(0);
  Expr base = k.addptr(x, row * vocab);
  Exprs m = k.for_loop(k.constant_int(0, I32), vocab, k.constant_int(block, I32), {k.constant(-kInf, F32)},
                       [&](Expr column, const Exprs& acc) {
                         Expr columns = column + k.arange(0, block);
                         Expr v = k.load(k.addptr(base, columns), columns < vocab, k.constant(-kInf, F32));
                         return Exprs{k.max(acc[0], k.reduce_max(v))};
                       });
  k.store(k.addptr(out, row), m[0]);
  return k.finish();
}

// Log-sum-exp of a row, minus eps times its mean when eps > 0: the running Σx exists only for the smoothing term.
std::unique_ptr<Kernel> smoothed_row_kernel() {
  KernelBuilder k("smoothed");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  Expr vocab = k.constexpr_param("V", I32);
  Expr eps = k.constexpr_param("eps", F32);
  Expr smoothing = eps > 0.0;
  Expr row = k.program_id(0);
  Expr base = k.addptr(x, row * vocab);
  Exprs sums =
      k.for_loop(k.constant_int(0, I32), vocab, k.constant_int(256, I32), {k.constant(0.0, F32), k.constant(0.0, F32)},
                 [&](Expr column, const Exprs& acc) {
                   Expr columns = column + k.arange(0, 256);
                   Expr v = k.load(k.addptr(base, columns), columns < vocab, k.constant(0.0, F32));
                   Exprs sx = k.if_else(
                       smoothing, [&] { return Exprs{acc[1] + k.reduce_sum(v)}; }, [&] { return Exprs{acc[1]}; });
                   return Exprs{acc[0] + k.reduce_sum(k.exp(v)), sx[0]};
                 });
  Expr lse = k.log(sums[0]);
  Exprs loss = k.if_else(
      smoothing, [&] { return Exprs{lse - eps * sums[1] / vocab.to(F32)}; }, [&] { return Exprs{lse}; });
  k.store(k.addptr(out, row), loss[0]);
  return k.finish();
}

// Runs a kernel with parameters (x, out) over `rows` rows of `vocab` floats and returns `out`.
std::vector<float> run_rows(const Kernel& kernel, int64_t rows, int64_t vocab) {
  std::vector<float> x(rows * vocab), out(rows, 0.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
  interp::Arg args[] = {interp::Arg::pointer(x.data()), interp::Arg::pointer(out.data())};
  interp::Buffer buffers[] = {{x.data(), x.size() * sizeof(float)}, {out.data(), out.size() * sizeof(float)}};
  interp::run(kernel, {rows, 1, 1}, args, buffers);
  return out;
}

std::string run_quietly(Kernel& kernel, const ConstexprBindings& bindings) {
  run_pipeline(kernel, bindings, PipelineOptions{});
  return print(kernel);
}

}  // namespace

// ---- specialize ----

TEST(Specialize, BindsEveryConstexpr) {
  KernelBuilder k("bind");
  Expr out = k.param(ptr(F32), "out");
  Expr n = k.constexpr_param("n", I32);
  k.store(out, k.constexpr_param("eps", F32) + n.to(F32));
  auto kernel = k.finish();
  std::string text = after([](Kernel& kk) { specialize(kk, {{"n", 1000}, {"eps", 0.5}, {"unused", 3}}); }, *kernel);
  EXPECT_FALSE(has(text, "constexpr")) << text;
  EXPECT_TRUE(has(text, "constant 1000 : i32")) << text;
  EXPECT_TRUE(has(text, "constant 0.5 : f32")) << text;
}

TEST(Specialize, RoundsFloatsToTheirType) {
  KernelBuilder k("round");
  Expr out = k.param(ptr(F32), "out");
  k.store(out, k.constexpr_param("eps", F32));
  auto kernel = k.finish();
  specialize(*kernel, {{"eps", 0.1}});
  EXPECT_TRUE(has(print(*kernel), "constant " + format_real(0.1f) + " : f32")) << print(*kernel);
}

TEST(Specialize, UnboundNameIsAUserErrorListingTheBoundNames) {
  KernelBuilder k("unbound");
  Expr out = k.param(ptr(I32), "out");
  k.store(out, k.constexpr_param("V", I32));
  auto kernel = k.finish();
  try {
    specialize(*kernel, {{"eps", 0.0}, {"block", 256}});
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    std::string msg = e.what();
    EXPECT_TRUE(has(msg, "\"V\"")) << msg;
    EXPECT_TRUE(has(msg, "not bound")) << msg;
    EXPECT_TRUE(has(msg, "block, eps")) << msg;
  }
}

TEST(Specialize, ValueThatDoesNotFitIsAUserError) {
  for (auto [type, value] : {std::pair{I32, 2.5}, {I32, 3e9}, {I1, 2.0}, {F32, 1e300}}) {
    KernelBuilder k("bad_value");
    Expr out = k.param(ptr(F32), "out");
    k.store(out, k.constexpr_param("p", type).to(F32));
    auto kernel = k.finish();
    EXPECT_THROW(specialize(*kernel, {{"p", value}}), UserError) << to_string(type) << " " << value;
  }
}

// ---- fold_constants ----

TEST(FoldConstants, EvaluatesScalarAndTileOperations) {
  KernelBuilder k("evaluate");
  Expr out = k.param(ptr(F32), "out");
  Expr tile_out = k.param(ptr(F32), "tile_out");
  k.store(out, k.constant(1.5, F32) * 4.0 + 1.0);
  Expr tile = k.splat(k.constant(4.0, F32), {8});
  Expr positive = k.cast(k.cmp(CmpPredicate::Gt, tile, k.literal(0.0, tile)), I32).to(F32);
  k.store(k.addptr(tile_out, k.arange(0, 8)), k.exp(tile - 4.0) + positive);
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  EXPECT_TRUE(has(text, "constant 7.0 : f32")) << text;
  EXPECT_TRUE(has(text, "constant 2.0 : f32")) << text;  // exp(0) + 1, splatted for the tile store
  for (const char* gone : {" mul ", " add ", " sub ", " exp ", " cmp ", " cast "})
    EXPECT_FALSE(has(text, gone)) << gone << text;
}

TEST(FoldConstants, RoundsBf16ResultsLikeTheInterpreter) {
  KernelBuilder k("bf16");
  Expr out = k.param(ptr(ScalarType::BF16), "out");
  k.store(out, k.constant(1.0, ScalarType::BF16) + k.constant(0.01, ScalarType::BF16));
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  Literal one, hundredth;
  one.real = 1.0;
  hundredth.real = 0.01;
  double expected = eval_binary(OpKind::Add, ScalarType::BF16, one, hundredth).real;
  EXPECT_EQ(expected, round_to(ScalarType::BF16, static_cast<float>(expected)));
  EXPECT_TRUE(has(text, "constant " + format_real(expected) + " : bf16")) << text;
}

TEST(FoldConstants, ComparesFloatsAtTheirType) {
  KernelBuilder k("float_compare");
  Expr out = k.param(ptr(I32), "out");
  k.store(out, k.cast(k.constexpr_param("eps", F32) == k.constant(0.1, F32), I32));
  auto kernel = k.finish();
  specialize(*kernel, {{"eps", 0.1}});
  std::string text = after(fold_constants, *kernel);
  EXPECT_TRUE(has(text, "constant 1 : i32")) << text;
}

TEST(FoldConstants, LeavesIntegerDivisionByZeroToRunTime) {
  KernelBuilder k("div0");
  Expr out = k.param(ptr(I32), "out");
  k.store(out, k.constant_int(1, I32) / k.constant_int(0, I32));
  auto kernel = k.finish();
  EXPECT_TRUE(has(after(fold_constants, *kernel), " div ")) << print(*kernel);
}

TEST(FoldConstants, IntegerIdentities) {
  KernelBuilder k("identities");
  Expr out = k.param(ptr(I32), "out");
  Expr x = k.program_id(0);
  k.store(k.addptr(out, k.constant_int(0, I32)), (x + 0) * 1 - 0);
  k.store(k.addptr(out, k.constant_int(1, I32)), 0 + x * 0);
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  EXPECT_FALSE(has(text, " mul ")) << text;
  EXPECT_FALSE(has(text, " sub ")) << text;
  EXPECT_FALSE(has(text, " add ")) << text;
  std::vector<std::string> stores = lines_with(text, "store");
  ASSERT_EQ(stores.size(), 2u) << text;
  EXPECT_TRUE(has(stores[0], ", " + defined_name(lines_with(text, "program_id")[0]))) << text;
  EXPECT_TRUE(has(text, "constant 0 : i32")) << text;
}

TEST(FoldConstants, FloatIdentitiesKeepAddingZero) {
  KernelBuilder k("float_identities");
  Expr out = k.param(ptr(F32), "out");
  Expr x = k.load(k.param(ptr(F32), "x"));
  k.store(out, (x * 1.0) / 1.0 + 0.0);  // -0.0 + 0.0 is +0.0: x + 0.0 is not x
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  EXPECT_FALSE(has(text, " mul ")) << text;
  EXPECT_FALSE(has(text, " div ")) << text;
  EXPECT_TRUE(has(text, " add ")) << text;
}

TEST(FoldConstants, BooleanAndOrWithConstants) {
  KernelBuilder k("logic");
  Expr out = k.param(ptr(F32), "out");
  Expr n = k.param(i32(), "n");
  Expr columns = k.arange(0, 16);
  Expr mask = columns < n;
  Expr yes = k.splat(k.constant_int(1, I1), {16});
  Expr no = k.splat(k.constant_int(0, I1), {16});
  Expr p = k.addptr(out, columns);
  Expr ones = k.splat(k.constant(1.0, F32), {16});
  k.store(p, ones, (mask & yes) | no);    // = mask
  k.store(p, ones, (mask | yes) & mask);  // = mask
  k.store(p, ones, mask & no);            // = false: removed
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  EXPECT_FALSE(has(text, " and ")) << text;
  EXPECT_FALSE(has(text, " or ")) << text;
  EXPECT_EQ(count(text, "store"), 2) << text;
  for (const std::string& line : lines_with(text, "store")) EXPECT_EQ(count(line, ","), 2) << line;  // still masked
}

TEST(FoldConstants, SelectWithConstantCondition) {
  KernelBuilder k("choose");
  Expr out = k.param(ptr(F32), "out");
  Expr a_ptr = k.param(ptr(F32), "a");
  Expr b_ptr = k.param(ptr(F32), "b");
  Expr a = k.load(a_ptr);
  Expr b = k.load(b_ptr);
  k.store(out, k.select(k.constant(1.0, F32) < 2.0, a, b));
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  EXPECT_FALSE(has(text, "select")) << text;
  EXPECT_FALSE(has(text, "cmp")) << text;
}

TEST(FoldConstants, ConstantMasks) {
  KernelBuilder k("masks");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  Expr columns = k.arange(0, 8);
  Expr yes = k.splat(k.constant_int(1, I1), {8});
  Expr no = k.splat(k.constant_int(0, I1), {8});
  Expr loaded = k.load(k.addptr(x, columns), yes, k.splat(k.constant(5.0, F32), {8}));
  Expr skipped = k.load(k.addptr(x, columns), no, k.splat(k.constant(7.0, F32), {8}));
  Expr zeros = k.load(k.addptr(x, columns), no);
  Expr p = k.addptr(out, columns);
  k.store(p, loaded + skipped + zeros, yes);
  k.store(p, loaded, no);
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  std::vector<std::string> loads = lines_with(text, "load");
  ASSERT_EQ(loads.size(), 1u) << text;
  EXPECT_FALSE(is_masked_load(loads[0])) << text;
  EXPECT_TRUE(has(text, "constant 7.0 : f32")) << text;
  EXPECT_TRUE(has(text, "constant 0.0 : f32")) << text;
  std::vector<std::string> stores = lines_with(text, "store");
  ASSERT_EQ(stores.size(), 1u) << text;
  EXPECT_EQ(count(stores[0], ","), 1) << text;
}

TEST(FoldConstants, ArangeAgainstAConstant) {
  KernelBuilder k("arange_masks");
  Expr x = k.param(ptr(F32), "x");
  Expr out = k.param(ptr(F32), "out");
  Expr columns = k.arange(0, 256);
  Expr whole = k.load(k.addptr(x, columns), columns < 256);             // always true
  Expr partial = k.load(k.addptr(x, columns), columns < 100);           // depends on the column
  Expr none = k.load(k.addptr(x, columns), k.arange(300, 556) <= 299);  // always false
  k.store(k.addptr(out, columns), whole + partial + none);
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  std::vector<std::string> loads = lines_with(text, "load");
  ASSERT_EQ(loads.size(), 2u) << text;
  EXPECT_FALSE(is_masked_load(loads[0])) << text;
  EXPECT_TRUE(is_masked_load(loads[1])) << text;
  EXPECT_EQ(count(text, "cmp"), 1) << text;
}

TEST(FoldConstants, IfWithConstantConditionIsInlined) {
  KernelBuilder k("branch");
  Expr out = k.param(ptr(F32), "out");
  Expr x = k.load(k.param(ptr(F32), "x"));
  Exprs r = k.if_else(
      k.constant_int(0, I1), [&] { return Exprs{k.exp(x)}; }, [&] { return Exprs{k.log(x)}; });
  k.store(out, r[0]);
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  EXPECT_FALSE(has(text, "if ")) << text;
  EXPECT_TRUE(has(text, " log ")) << text;
  EXPECT_FALSE(has(text, " exp ")) << text;
}

TEST(FoldConstants, LoopsOfZeroAndOneTrip) {
  KernelBuilder k("trips");
  Expr out = k.param(ptr(F32), "out");
  Expr x = k.load(k.param(ptr(F32), "x"));
  auto loop = [&](int64_t lb, int64_t ub, Expr init) {
    return k.for_loop(k.constant_int(lb, I32), k.constant_int(ub, I32), k.constant_int(4, I32), {init},
                      [&](Expr iv, const Exprs& acc) { return Exprs{acc[0] * iv.to(F32)}; })[0];
  };
  k.store(out, loop(8, 8, x) + loop(8, 12, k.exp(x)));
  auto kernel = k.finish();
  std::string text = after(fold_constants, *kernel);
  EXPECT_FALSE(has(text, "for ")) << text;
  EXPECT_EQ(count(text, " mul "), 1) << text;  // exp(x) * 8.0
  EXPECT_TRUE(has(text, "constant 8.0 : f32")) << text;
}

TEST(FoldConstants, KeepsLoopsOfSeveralTrips) {
  KernelBuilder k("several");
  Expr out = k.param(ptr(F32), "out");
  Exprs r = k.for_loop(k.constant_int(0, I32), k.constant_int(9, I32), k.constant_int(4, I32), {k.constant(1.0, F32)},
                       [&](Expr iv, const Exprs& acc) { return Exprs{acc[0] + iv.to(F32)}; });
  k.store(out, r[0]);
  auto kernel = k.finish();
  EXPECT_TRUE(has(after(fold_constants, *kernel), "for ")) << print(*kernel);
}

// ---- eliminate_dead_code ----

TEST(DeadCode, RemovesUnusedPureOperationsAndKeepsStores) {
  KernelBuilder k("dead");
  Expr out = k.param(ptr(F32), "out");
  Expr x = k.load(k.param(ptr(F32), "x"));
  k.exp(k.log(x));  // unused
  k.for_loop(k.constant_int(0, I32), k.constant_int(4, I32), k.constant_int(1, I32), {x},
             [&](Expr, const Exprs& acc) { return Exprs{acc[0] + 1.0}; });  // unused, stores nothing
  k.for_loop(k.constant_int(0, I32), k.constant_int(4, I32), k.constant_int(1, I32), {}, [&](Expr iv, const Exprs&) {
    k.store(k.addptr(out, iv), x);
    return Exprs{};
  });
  auto kernel = k.finish();
  std::string text = after(eliminate_dead_code, *kernel);
  EXPECT_FALSE(has(text, " exp ")) << text;
  EXPECT_FALSE(has(text, " log ")) << text;
  EXPECT_FALSE(has(text, " add ")) << text;
  EXPECT_EQ(count(text, "for "), 1) << text;
  EXPECT_TRUE(has(text, "store")) << text;
}

TEST(DeadCode, DropsUnusedLoopCarriedValues) {
  KernelBuilder k("carried");
  Expr out = k.param(ptr(F32), "out");
  Expr x = k.param(ptr(F32), "x");
  Exprs r =
      k.for_loop(k.constant_int(0, I32), k.constant_int(64, I32), k.constant_int(16, I32),
                 {k.constant(0.0, F32), k.constant(0.0, F32), k.constant(-kInf, F32)}, [&](Expr iv, const Exprs& acc) {
                   Expr v = k.load(k.addptr(x, iv + k.arange(0, 16)));
                   Expr used = acc[0] + k.reduce_sum(k.exp(v));
                   Expr unused = acc[1] + k.reduce_sum(v);
                   // Unused as a result, but it feeds the used sum: must stay.
                   Expr feeding = k.max(acc[2], k.reduce_max(v));
                   return Exprs{used + feeding - feeding, unused, feeding};
                 });
  k.store(out, r[0]);
  auto kernel = k.finish();
  std::string text = after(eliminate_dead_code, *kernel);
  std::vector<std::string> loops = lines_with(text, "for ");
  ASSERT_EQ(loops.size(), 1u) << text;
  EXPECT_EQ(carried_count(loops[0]), 2) << text;
  EXPECT_EQ(count(text, "reduce sum"), 1) << text;
  EXPECT_TRUE(has(text, "reduce max")) << text;
}

// ---- peel_loops ----

TEST(PeelLoops, SplitsAChunkedLoopIntoFullTilesAndAMaskedTail) {
  auto kernel = chunked_row_max(256);
  std::string text = run_quietly(*kernel, {{"V", 1000}});
  std::vector<std::string> loops = lines_with(text, "for ");
  ASSERT_EQ(loops.size(), 1u) << text;
  EXPECT_TRUE(has(text, "constant 768 : i32")) << text;
  std::vector<std::string> loads = lines_with(text, "load");
  ASSERT_EQ(loads.size(), 2u) << text;
  EXPECT_EQ(loads[0].rfind("    %", 0), 0u) << "first load is in the loop body\n" << text;
  EXPECT_FALSE(is_masked_load(loads[0])) << text;
  EXPECT_EQ(loads[1].rfind("  %", 0), 0u) << "second load is the tail, after the loop\n" << text;
  EXPECT_TRUE(is_masked_load(loads[1])) << text;
  EXPECT_EQ(count(text, "cmp lt"), 1) << text;
}

TEST(PeelLoops, TailCarriesTheLoopResults) {
  auto kernel = chunked_row_max(256);
  specialize(*kernel, {{"V", 1000}});
  fold_constants(*kernel);
  std::string text = after(peel_loops, *kernel);
  // The tail's max combines the loop's result, and the store takes the tail's value.
  std::vector<std::string> maxes = lines_with(text, "= max %");
  ASSERT_EQ(maxes.size(), 2u) << text;
  EXPECT_TRUE(has(maxes[1], "max " + defined_name(lines_with(text, " = for ")[0]) + ",")) << text;
  EXPECT_TRUE(has(lines_with(text, "store")[0], ", " + defined_name(maxes[1]))) << text;
}

TEST(PeelLoops, PeeledKernelsComputeExactlyWhatTheyDidBefore) {
  for (int64_t vocab : {1000, 1024, 200}) {
    ConstexprBindings bindings{{"V", vocab}, {"eps", 0.1}};
    for (auto make : {+[] { return chunked_row_max(256); }, +smoothed_row_kernel}) {
      auto before = make();
      specialize(*before, bindings);
      auto optimized = before->clone();
      run_pipeline(*optimized, bindings, PipelineOptions{});
      EXPECT_EQ(run_rows(*before, 3, vocab), run_rows(*optimized, 3, vocab)) << print(*optimized);
    }
  }
}

TEST(PeelLoops, WholeMultipleOfTheBlockNeedsNoTailAndNoMask) {
  auto kernel = chunked_row_max(256);
  std::string text = run_quietly(*kernel, {{"V", 1024}});
  EXPECT_EQ(count(text, "for "), 1) << text;
  std::vector<std::string> loads = lines_with(text, "load");
  ASSERT_EQ(loads.size(), 1u) << text;
  EXPECT_FALSE(is_masked_load(loads[0])) << text;
  EXPECT_FALSE(has(text, "cmp")) << text;
}

TEST(PeelLoops, SingleTileRowNeedsNoLoop) {
  auto kernel = chunked_row_max(256);
  std::string text = run_quietly(*kernel, {{"V", 200}});
  EXPECT_FALSE(has(text, "for ")) << text;
  std::vector<std::string> loads = lines_with(text, "load");
  ASSERT_EQ(loads.size(), 1u) << text;
  EXPECT_TRUE(is_masked_load(loads[0])) << text;
}

// ---- the pipeline ----

TEST(Pipeline, ZeroLabelSmoothingLeavesNoTrace) {
  auto kernel = smoothed_row_kernel();
  std::string text = run_quietly(*kernel, {{"V", 1024}, {"eps", 0.0}});
  EXPECT_FALSE(has(text, "if ")) << text;
  EXPECT_FALSE(has(text, "constexpr")) << text;
  EXPECT_EQ(count(text, "reduce sum"), 1) << text;  // Σexp only
  EXPECT_EQ(count(text, " mul "), 1) << text;       // the row offset only
  EXPECT_FALSE(has(text, " div ")) << text;
  std::vector<std::string> loops = lines_with(text, "for ");
  ASSERT_EQ(loops.size(), 1u) << text;
  EXPECT_EQ(carried_count(loops[0]), 1) << text;
}

TEST(Pipeline, NonZeroLabelSmoothingKeepsItsTerm) {
  auto kernel = smoothed_row_kernel();
  std::string text = run_quietly(*kernel, {{"V", 1024}, {"eps", 0.1}});
  EXPECT_FALSE(has(text, "if ")) << text;  // the condition is a constant: the branch is inlined
  EXPECT_EQ(count(text, "reduce sum"), 2) << text;
  EXPECT_EQ(count(text, " mul "), 2) << text;
  EXPECT_TRUE(has(text, " div ")) << text;
  std::vector<std::string> loops = lines_with(text, "for ");
  ASSERT_EQ(loops.size(), 1u) << text;
  EXPECT_EQ(carried_count(loops[0]), 2) << text;
}

TEST(Pipeline, PrintsTheIRAfterEachPassAndTimings) {
  KernelBuilder k("tiny");
  Expr out = k.param(ptr(F32), "out");
  k.store(out, k.constexpr_param("eps", F32) * 2.0);
  auto kernel = k.finish();
  std::ostringstream log;
  PipelineOptions options;
  options.print_after_each_pass = true;
  options.time_passes = true;
  options.log = &log;
  std::vector<PassTiming> timings = run_pipeline(*kernel, {{"eps", 0.25}}, options);
  std::string text = log.str();
  ASSERT_EQ(timings.size(), 6u);
  for (const char* pass : {"specialize", "fold_constants", "eliminate_dead_code", "peel_loops"}) {
    EXPECT_TRUE(has(text, std::string("// IR after ") + pass + ":\n")) << text;
    EXPECT_TRUE(has(text, std::string("//   ") + pass)) << text;
  }
  EXPECT_EQ(timings[3].pass, "peel_loops");
  EXPECT_TRUE(has(text, "// IR after peel_loops:\n(unchanged)\n")) << text;
  EXPECT_TRUE(has(text, "constant 0.5 : f32")) << text;
}

TEST(Pipeline, OptionsComeFromTheEnvironment) {
  setenv("XENT_DEBUG", "2", 1);
  setenv("XENT_TIME_PASSES", "1", 1);
  PipelineOptions on = pipeline_options_from_environment();
  setenv("XENT_DEBUG", "1", 1);
  unsetenv("XENT_TIME_PASSES");
  PipelineOptions off = pipeline_options_from_environment();
  unsetenv("XENT_DEBUG");
  EXPECT_TRUE(on.print_after_each_pass);
  EXPECT_TRUE(on.time_passes);
  EXPECT_FALSE(off.print_after_each_pass);
  EXPECT_FALSE(off.time_passes);
}

TEST(Pipeline, QuietByDefault) {
  auto kernel = chunked_row_max(128);
  std::ostringstream log;
  PipelineOptions options;
  options.log = &log;
  run_pipeline(*kernel, {{"V", 300}}, options);
  EXPECT_TRUE(log.str().empty());
}
