// Shared memory through every layer that sees it: shared_alloc, async_copy, async_commit and async_wait in the builder,
// verifier and parser, their lowering to cp.async (with the masked and 2-byte fallbacks) in dynamic shared memory, the
// interpreter, and a GPU run in which every thread reads what other threads copied.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "compiler/Error.h"
#include "compiler/codegen/Compile.h"
#include "compiler/interp/Interpreter.h"
#include "compiler/ir/Builder.h"
#include "compiler/ir/Parser.h"
#include "compiler/ir/Printer.h"
#include "compiler/ir/Semantics.h"
#include "compiler/passes/Pipeline.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Memory.h"
#include "runtime/cuda/Module.h"
#include "tests/codegen_check.h"
#include "tests/user_error.h"

using namespace xent;
using namespace xent::ir;
using xent::testing::user_error;

namespace {

constexpr int kTile = 1024;
constexpr int kValid = 1000;  // the copy is masked past it, so the tail groups take the masked path
constexpr int kPrograms = 3;

// Program p copies its kTile-element tile of x into shared memory (the first kValid elements), waits, and writes
// the valid elements to y in reverse order: y[p, i] = x[p, kValid - 1 - i]. Element i is copied by one thread and read
// by another, so the result is right only if async_wait publishes every thread's copies. With `read_past`, y[p, 0]
// reads the element at kValid instead, which no copy wrote. With `in_halves`, the two halves are copied as two
// groups and written in a loop of two steps: the outputs read from the first half after a wait that leaves the
// second group in flight, the others after a wait inside the loop, in a branch taken at its second step (as the
// cross-entropy walks wait for a staged row's second half).
std::unique_ptr<Kernel> reverse_kernel(ScalarType element, bool read_past = false, bool in_halves = false) {
  KernelBuilder k("reverse");
  Expr x = k.param(ptr(element), "x", {16});
  Expr y = k.param(ptr(element), "y", {16});
  Expr start = k.program_id(0) * kTile;
  Expr staged = k.shared_alloc(element, kTile);
  Expr cols = k.arange(0, kTile);
  Expr valid = cols < double(kValid);
  Expr source =
      k.select(cols == 0.0, k.splat(k.constant_int(read_past ? kValid : kValid - 1, ScalarType::I32), {kTile}),
               (kValid - 1.0) - cols);
  auto copy = [&](Expr mask) { k.async_copy(k.addptr(staged, cols), k.addptr(x, cols + start), mask); };
  auto write = [&](Expr mask) { k.store(k.addptr(y, cols + start), k.load(k.addptr(staged, source), mask), mask); };
  if (in_halves) {
    const double half = kValid / 2;
    copy(cols < half);
    k.async_commit();
    copy(valid & (cols >= half));
    k.async_commit();
    k.async_wait(1);
    auto i32 = [&](int64_t v) { return k.constant_int(v, ScalarType::I32); };
    k.for_loop(i32(0), i32(2), i32(1), {}, [&](Expr step, const Exprs&) {
      k.if_then(step == 1.0, [&] { k.async_wait(); });
      Expr from = step * half;
      write(valid & (source >= from) & (source < from + half));
      return Exprs{};
    });
  } else {
    copy(valid);
    k.async_wait();
    write(valid);
  }
  k.set_attribute("threads", 128);
  std::unique_ptr<Kernel> kernel = k.finish();
  passes::run_pipeline(*kernel, {});
  return kernel;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<float> numbers(int count) {
  std::vector<float> v(count);
  for (int i = 0; i < count; ++i) v[i] = static_cast<float>(i % 251) - 125.0f;
  return v;
}

}  // namespace

TEST(SharedMemory, RoundTripsThroughText) {
  auto kernel = reverse_kernel(ScalarType::BF16);
  std::string text = print(*kernel);
  EXPECT_TRUE(contains(text, "shared_alloc 1024 : ptr<bf16, shared>")) << text;
  EXPECT_TRUE(contains(text, "async_copy")) << text;
  EXPECT_TRUE(contains(text, "async_wait")) << text;
  EXPECT_EQ(print(*parse_kernel(text)), text);
  text = print(*reverse_kernel(ScalarType::BF16, false, true));
  EXPECT_TRUE(contains(text, "async_commit\n")) << text;
  EXPECT_TRUE(contains(text, "async_wait pending 1\n")) << text;
  EXPECT_EQ(print(*parse_kernel(text)), text);
}

TEST(SharedMemory, RulesNameWhatToChange) {
  KernelBuilder k("rules");
  Expr x = k.param(ptr(ScalarType::F32), "x");
  Expr staged = k.shared_alloc(ScalarType::F32, 128);
  Expr cols = k.arange(0, 128);
  std::string message = user_error([&] { k.store(k.addptr(staged, cols), k.load(k.addptr(x, cols))); });
  EXPECT_TRUE(contains(message, "shared memory is filled by async_copy")) << message;
  message = user_error([&] { k.async_copy(k.addptr(x, cols), k.addptr(x, cols)); });
  EXPECT_TRUE(contains(message, "destination must be shared pointers")) << message;
  message = user_error([&] { k.async_copy(k.addptr(staged, cols), k.addptr(staged, cols)); });
  EXPECT_TRUE(contains(message, "source must be global pointers")) << message;
  message = user_error([&] { k.if_then(k.program_id(0) == 0.0, [&] { k.async_commit(); }); });
  EXPECT_TRUE(contains(message, "top level")) << message;
  message = user_error([&] { k.async_wait(static_cast<int>(kMaxPendingGroups) + 1); });
  EXPECT_TRUE(contains(message, "pending must be in [0, 7]")) << message;
  message = user_error([&] { k.if_then(k.program_id(0) == 0.0, [&] { k.shared_alloc(ScalarType::F32, 4); }); });
  EXPECT_TRUE(contains(message, "top level")) << message;
  message = user_error([&] { k.shared_alloc(ScalarType::F32, 0); });
  EXPECT_TRUE(contains(message, "at least 1")) << message;

  message = user_error([] { parse_kernel("kernel @k() {\n  async_wait pending 9\n  return\n}\n"); });
  EXPECT_TRUE(contains(message, "leaves 9 groups of copies pending; leave 0 to 7")) << message;
  message = user_error([] { parse_kernel("kernel @k(%p: ptr<f32, local>) {\n  return\n}\n"); });
  EXPECT_TRUE(contains(message, "expected 'shared'")) << message;
  message = user_error([] { parse_kernel("kernel @k(%p: ptr<f32, shared>) {\n  return\n}\n"); });
  EXPECT_TRUE(contains(message, "parameters point to global memory")) << message;
}

TEST(SharedMemory, InterpreterCopiesAndPoisonsWhatNoCopyWrote) {
  for (ScalarType element : {ScalarType::F32, ScalarType::BF16}) {
    const int bytes = bit_width(element) / 8;
    std::vector<float> input = numbers(kTile * kPrograms);
    std::vector<uint16_t> x16(input.size()), y16(input.size());
    std::vector<float> y32(input.size());
    for (size_t i = 0; i < input.size(); ++i) x16[i] = float_to_bf16_bits(input[i]);
    const void* x = element == ScalarType::F32 ? static_cast<const void*>(input.data()) : x16.data();
    void* y = element == ScalarType::F32 ? static_cast<void*>(y32.data()) : y16.data();
    std::vector<interp::Buffer> buffers = {{x, input.size() * bytes}, {y, input.size() * bytes}};
    std::vector<interp::Arg> args = {interp::Arg::pointer(x), interp::Arg::pointer(y)};
    auto out = [&](int i) { return element == ScalarType::F32 ? y32[i] : bf16_bits_to_float(y16[i]); };

    for (bool in_halves : {false, true}) {
      interp::run(*reverse_kernel(element, false, in_halves), {kPrograms, 1, 1}, args, buffers);
      for (int p = 0; p < kPrograms; ++p)
        for (int i = 0; i < kValid; ++i)
          ASSERT_EQ(out(p * kTile + i), input[p * kTile + kValid - 1 - i]) << p << " " << i << " " << in_halves;
    }

    interp::run(*reverse_kernel(element, true), {kPrograms, 1, 1}, args, buffers);
    for (int p = 0; p < kPrograms; ++p) EXPECT_TRUE(std::isnan(out(p * kTile))) << "program " << p;
  }
}

// The interpreter lands a copy at the wait that completes its group, not when it starts: reads before that see the
// 0xff poison (NaN), so the CPU suites catch a kernel that waits too late or not at all.
TEST(SharedMemory, InterpreterLandsCopiesAtTheirWait) {
  constexpr int kCount = 64;
  KernelBuilder k("lands");
  Expr x = k.param(ptr(ScalarType::F32), "x");
  Expr y = k.param(ptr(ScalarType::F32), "y");
  Expr staged = k.shared_alloc(ScalarType::F32, kCount);
  Expr cols = k.arange(0, kCount);
  Expr first_half = cols < double(kCount / 2);
  auto read_into = [&](int row) { k.store(k.addptr(y, cols + double(row * kCount)), k.load(k.addptr(staged, cols))); };
  k.async_copy(k.addptr(staged, cols), k.addptr(x, cols), first_half);
  k.async_commit();
  k.async_copy(k.addptr(staged, cols), k.addptr(x, cols), cols >= double(kCount / 2));
  k.async_commit();
  read_into(0);  // nothing landed
  k.async_wait(1);
  read_into(1);  // the first group landed
  k.async_wait();
  read_into(2);  // everything landed
  k.set_attribute("threads", 32);
  std::unique_ptr<Kernel> kernel = k.finish();

  std::vector<float> input = numbers(kCount), output(3 * kCount);
  std::vector<interp::Buffer> buffers = {{input.data(), input.size() * 4}, {output.data(), output.size() * 4}};
  std::vector<interp::Arg> args = {interp::Arg::pointer(input.data()), interp::Arg::pointer(output.data())};
  interp::run(*kernel, {1, 1, 1}, args, buffers);
  for (int i = 0; i < kCount; ++i) {
    EXPECT_TRUE(std::isnan(output[i])) << i;
    if (i < kCount / 2)
      EXPECT_EQ(output[kCount + i], input[i]) << i;
    else
      EXPECT_TRUE(std::isnan(output[kCount + i])) << i;
    EXPECT_EQ(output[2 * kCount + i], input[i]) << i;
  }
}

TEST(SharedMemory, LowersToCpAsyncInDynamicSharedMemory) {
  codegen::CompiledKernel bf16 = codegen::compile_to_ptx(*reverse_kernel(ScalarType::BF16), {.sm = "sm_80"});
  EXPECT_EQ(bf16.dynamic_shared_bytes, kTile * 2);
  EXPECT_TRUE(xent::testing::file_check(
      bf16.ptx, {"CHECK: .extern .shared .align 16 .b8 dynamic_shared[]", "CHECK: cp.async.cg.shared.global",
                 "CHECK: cp.async.wait_all", "CHECK: bar.sync", "CHECK: ld.shared"}))
      << bf16.ptx;
  codegen::CompiledKernel halves =
      codegen::compile_to_ptx(*reverse_kernel(ScalarType::BF16, false, true), {.sm = "sm_80"});
  EXPECT_TRUE(xent::testing::file_check(
      halves.ptx, {"CHECK: cp.async.cg.shared.global", "CHECK: cp.async.commit_group", "CHECK: cp.async.commit_group",
                   "CHECK: cp.async.wait_group 1", "CHECK: bar.sync", "CHECK: cp.async.wait_all", "CHECK: bar.sync"}))
      << halves.ptx;
  // A 2-byte access cannot be a cp.async (4 bytes at least): unaligned rows are copied through registers.
  KernelBuilder k("unaligned");
  Expr x = k.param(ptr(ScalarType::BF16), "x");
  Expr y = k.param(ptr(ScalarType::BF16), "y");
  Expr staged = k.shared_alloc(ScalarType::BF16, 256);
  Expr cols = k.arange(0, 256);
  k.async_copy(k.addptr(staged, cols), k.addptr(x, cols + k.program_id(0)));
  k.async_wait();
  k.store(k.addptr(y, cols), k.load(k.addptr(staged, cols)));
  std::unique_ptr<Kernel> kernel = k.finish();
  codegen::CompiledKernel unaligned = codegen::compile_to_ptx(*kernel, {.sm = "sm_80"});
  EXPECT_FALSE(contains(unaligned.ptx, "cp.async.cg")) << unaligned.ptx;
  EXPECT_TRUE(contains(unaligned.ptx, "st.shared")) << unaligned.ptx;
  for (const codegen::CompiledKernel* compiled : {&bf16, &halves, &unaligned})
    if (!xent::testing::ptxas_path().empty()) {
      auto assembled = xent::testing::run_ptxas(compiled->ptx, "sm_80");
      EXPECT_EQ(assembled.status, 0) << assembled.output;
    }
}

TEST(GpuSharedMemory, ThreadsReadWhatOtherThreadsCopied) {
  std::string why;
  if (!cuda::gpu_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  for (bool in_halves : {false, true}) {
    codegen::CompiledKernel compiled =
        codegen::compile_to_ptx(*reverse_kernel(ScalarType::F32, false, in_halves), {cuda::current_device().sm()});
    std::vector<char> cubin = cuda::link_cubin(compiled.ptx, compiled.name);
    cuda::LoadedKernel kernel(cubin, compiled.name, compiled.dynamic_shared_bytes);
    std::vector<float> input = numbers(kTile * kPrograms), output(input.size(), -1.0f);
    cuda::DeviceBuffer x(input.size() * 4), y(input.size() * 4);
    x.upload(input.data(), input.size() * 4);
    CUdeviceptr x_ptr = x.address(), y_ptr = y.address();
    void* params[] = {&x_ptr, &y_ptr};
    cuda::launch(kernel, kPrograms, compiled.threads, 1, compiled.dynamic_shared_bytes, nullptr, params);
    y.download(output.data(), output.size() * 4);
    for (int p = 0; p < kPrograms; ++p)
      for (int i = 0; i < kValid; ++i)
        ASSERT_EQ(output[p * kTile + i], input[p * kTile + kValid - 1 - i])
            << "program " << p << ", element " << i << (in_halves ? ", copied in halves" : "");
  }
}
