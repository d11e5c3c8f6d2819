// atomic_add through every layer that sees it: builder, verifier and parser, the interpreter (programs one after the
// other, and a cluster's programs on threads of their own), the lowering to a fenced atom.global.add, and a GPU run in
// which the last of thousands of programs, told so by its ticket, reads what every other program stored.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "compiler/codegen/Compile.h"
#include "compiler/interp/Interpreter.h"
#include "compiler/ir/Builder.h"
#include "compiler/ir/Parser.h"
#include "compiler/ir/Printer.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Memory.h"
#include "runtime/cuda/Module.h"
#include "tests/codegen_check.h"
#include "tests/user_error.h"

using namespace xent;
using namespace xent::ir;
using xent::testing::user_error;

namespace {

constexpr int kTile = 256;

// Program p stores ones into its kTile elements of `values`, takes a ticket from `counter` and writes it to
// tickets[p]; the program whose ticket is the last one sums every program's values into `total`. The sum is right
// only if each program's stores happen before its ticket and the last program sees all of them.
std::unique_ptr<Kernel> last_program_sums(int cluster = 1) {
  KernelBuilder k("last_program_sums");
  Expr values = k.param(ptr(ScalarType::F32), "values"), tickets = k.param(ptr(ScalarType::I32), "tickets");
  Expr counter = k.param(ptr(ScalarType::I32), "counter"), total = k.param(ptr(ScalarType::F32), "total");
  Expr programs = k.param(i32(), "programs");
  Expr program = k.program_id(0);
  Expr cols = k.arange(0, kTile);
  k.store(k.addptr(values, program * double(kTile) + cols), k.splat(k.constant(1.0, ScalarType::F32), {kTile}));
  Expr ticket = k.atomic_add(counter, k.constant_int(1, ScalarType::I32));
  k.store(k.addptr(tickets, program), ticket);
  k.if_then(ticket == programs - 1.0, [&] {
    Expr zero = k.constant_int(0, ScalarType::I32), step = k.constant_int(1, ScalarType::I32);
    Exprs sum = k.for_loop(
        zero, programs, step, {k.splat(k.constant(0.0, ScalarType::F32), {kTile})},
        [&](Expr p, const Exprs& acc) { return Exprs{acc[0] + k.load(k.addptr(values, p * double(kTile) + cols))}; });
    k.store(total, k.reduce_sum(sum[0]));
  });
  k.set_attribute("threads", 128);
  k.set_attribute("cluster", cluster);
  return k.finish();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Exact in fp32 in any order: every partial sum is an integer below 2^24.
float expected_total(int programs) { return float(kTile) * float(programs); }

void expect_each_ticket_once(std::vector<int32_t> tickets) {
  std::sort(tickets.begin(), tickets.end());
  for (size_t i = 0; i < tickets.size(); ++i) ASSERT_EQ(tickets[i], int32_t(i)) << "the tickets, sorted";
}

TEST(AtomicAdd, RoundTripsThroughText) {
  std::string text = print(*last_program_sums());
  EXPECT_TRUE(contains(text, "atomic_add")) << text;
  EXPECT_EQ(print(*parse_kernel(text)), text);
}

TEST(AtomicAdd, RulesNameWhatToChange) {
  KernelBuilder k("rules");
  Expr counter = k.param(ptr(ScalarType::I32), "counter"), reals = k.param(ptr(ScalarType::F32), "reals");
  Expr one = k.constant_int(1, ScalarType::I32);
  Expr zero = k.constant_int(0, ScalarType::I32);
  std::string message = user_error([&] {
    k.for_loop(zero, one, one, {}, [&](Expr, const Exprs&) {
      k.atomic_add(counter, one);
      return Exprs{};
    });
  });
  EXPECT_TRUE(contains(message, "must not be inside a loop")) << message;
  message = user_error([] {
    parse_kernel(
        "kernel @k(%counter: ptr<i32>) {\n  %1 = constant 1 : i32\n  for %iv = %1 to %1 step %1 {\n"
        "    %2 = atomic_add %counter, %1 : i32\n    yield\n  }\n  return\n}\n");
  });
  EXPECT_TRUE(contains(message, "must not be inside a loop")) << message;
  message = user_error([&] { k.atomic_add(reals, k.constant(1.0, ScalarType::F32)); });
  EXPECT_TRUE(contains(message, "needs a scalar global pointer to i32")) << message;
  message = user_error([&] { k.atomic_add(k.addptr(counter, k.arange(0, 4)), k.splat(one, {4})); });
  EXPECT_TRUE(contains(message, "needs a scalar global pointer to i32")) << message;
  message = user_error([&] { k.atomic_add(counter, k.constant_int(1, ScalarType::I64)); });
  EXPECT_TRUE(contains(message, "the added value and the pointee")) << message;
}

TEST(AtomicAdd, InterpreterGivesEachProgramItsOwnTicket) {
  for (int cluster : {1, 4}) {
    const int programs = 24;
    std::vector<float> values(programs * kTile, 0.0f);
    std::vector<int32_t> tickets(programs, -1);
    int32_t counter = 0;
    float total = 0;
    std::vector<interp::Buffer> buffers = {
        {values.data(), values.size() * 4}, {tickets.data(), tickets.size() * 4}, {&counter, 4}, {&total, 4}};
    std::vector<interp::Arg> args = {interp::Arg::pointer(values.data()), interp::Arg::pointer(tickets.data()),
                                     interp::Arg::pointer(&counter), interp::Arg::pointer(&total),
                                     interp::Arg::i32(programs)};
    interp::run(*last_program_sums(cluster), {programs, 1, 1}, args, buffers);
    EXPECT_EQ(counter, programs) << "cluster " << cluster;
    EXPECT_EQ(total, expected_total(programs)) << "cluster " << cluster;
    expect_each_ticket_once(tickets);
  }
}

TEST(AtomicAdd, LowersToAFencedAtomBetweenBarriers) {
  codegen::CompiledKernel compiled = codegen::compile_to_ptx(*last_program_sums(), {.sm = "sm_80"});
  EXPECT_TRUE(xent::testing::file_check(
      compiled.ptx, {"CHECK: bar.sync", "CHECK: membar.gl", "CHECK: atom.global.add", "CHECK: membar.gl",
                     "CHECK: st.shared", "CHECK: bar.sync", "CHECK: ld.shared"}))
      << compiled.ptx;
  if (!xent::testing::ptxas_path().empty()) {
    auto assembled = xent::testing::run_ptxas(compiled.ptx, "sm_80");
    EXPECT_EQ(assembled.status, 0) << assembled.output;
  }
}

TEST(GpuAtomicAdd, TheLastProgramSeesEveryOtherProgramsStores) {
  std::string why;
  if (!cuda::gpu_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  codegen::CompiledKernel compiled = codegen::compile_to_ptx(*last_program_sums(), {cuda::current_device().sm()});
  std::vector<char> cubin = cuda::link_cubin(compiled.ptx, compiled.name);
  cuda::LoadedKernel kernel(cubin, compiled.name, compiled.dynamic_shared_bytes);
  const int programs = 8000;  // many waves of programs, finishing in no particular order
  cuda::DeviceBuffer values(size_t(programs) * kTile * 4), tickets(programs * 4), counter(4), total(4);
  for (int repetition = 0; repetition < 5; ++repetition) {
    const int32_t zero = 0;
    counter.upload(&zero, 4);
    values.upload(std::vector<float>(size_t(programs) * kTile, 0.0f));  // a missed store reads 0
    CUdeviceptr values_ptr = values.address(), tickets_ptr = tickets.address();
    CUdeviceptr counter_ptr = counter.address(), total_ptr = total.address();
    int32_t count = programs;
    void* params[] = {&values_ptr, &tickets_ptr, &counter_ptr, &total_ptr, &count};
    cuda::launch(kernel, programs, compiled.threads, 1, compiled.dynamic_shared_bytes, nullptr, params);
    float sum = 0;
    int32_t taken = 0;
    std::vector<int32_t> handed(programs);
    total.download(&sum, 4);
    counter.download(&taken, 4);
    tickets.download(handed.data(), handed.size() * 4);
    EXPECT_EQ(taken, programs) << "repetition " << repetition;
    EXPECT_EQ(sum, expected_total(programs)) << "repetition " << repetition;
    expect_each_ticket_once(handed);
  }
}

}  // namespace
