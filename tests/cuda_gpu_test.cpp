// The CUDA driver layer on a GPU: contexts, device information, device memory, and a kernel built with KernelBuilder
// taken through the pass pipeline, compile_to_ptx, link_cubin and LoadedKernel to a launch whose output is checked.
// Every test skips when there is no GPU.
#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "compiler/Error.h"
#include "compiler/codegen/Compile.h"
#include "compiler/ir/Builder.h"
#include "compiler/passes/Pipeline.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"
#include "runtime/cuda/Module.h"

using namespace xent;
using namespace xent::ir;

namespace {

#define XENT_REQUIRE_GPU()                                             \
  do {                                                                 \
    std::string why;                                                   \
    if (!cuda::gpu_available(&why)) GTEST_SKIP() << "no GPU: " << why; \
  } while (0)

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

constexpr int kTile = 1024;
constexpr int kPrograms = 4;

// y[i] = 2 * x[i], one tile of kTile floats per program.
codegen::CompiledKernel compile_doubling_kernel() {
  KernelBuilder k("twice");
  Expr x = k.param(ptr(ScalarType::F32), "x", {16});
  Expr y = k.param(ptr(ScalarType::F32), "y", {16});
  Expr cols = k.arange(0, kTile) + k.program_id(0) * kTile;
  k.store(k.addptr(y, cols), k.load(k.addptr(x, cols)) * 2.0);
  std::unique_ptr<Kernel> kernel = k.finish();
  passes::run_pipeline(*kernel, {});
  return codegen::compile_to_ptx(*kernel, {cuda::current_device().sm()});
}

struct Stream {
  CUstream stream = nullptr;
  Stream() { XENT_CU_CHECK(cuda::driver().cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING)); }
  ~Stream() { XENT_CU_CHECK_NOEXCEPT(cuda::driver().cuStreamDestroy(stream)); }
};

// Runs `enqueue` (which puts the doubling kernel on the stream it is given) and checks y against x.
template <typename Enqueue>
void expect_doubled(Enqueue enqueue) {
  std::vector<float> input(kTile * kPrograms);
  std::iota(input.begin(), input.end(), -100.0f);
  cuda::DeviceBuffer x(input.size() * sizeof(float)), y(input.size() * sizeof(float));
  x.upload(input);
  Stream stream;
  CUdeviceptr x_address = x.address(), y_address = y.address();
  void* params[] = {&x_address, &y_address};
  enqueue(stream.stream, params);
  XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(stream.stream));
  std::vector<float> output = y.download<float>();
  for (size_t i = 0; i < input.size(); ++i) ASSERT_EQ(output[i], 2 * input[i]) << "at " << i;
}

}  // namespace

TEST(CudaGpu, ContextIsTheCurrentOneOrThePrimary) {
  XENT_REQUIRE_GPU();
  XENT_CU_CHECK(cuda::driver().cuCtxSetCurrent(nullptr));
  CUcontext primary = cuda::ensure_context();
  ASSERT_NE(primary, nullptr);
  CUcontext current = nullptr;
  XENT_CU_CHECK(cuda::driver().cuCtxGetCurrent(&current));
  EXPECT_EQ(current, primary);
  EXPECT_EQ(cuda::ensure_context(), primary);
  // A new thread has no current context and gets the same primary one, retained once.
  CUcontext from_thread = nullptr;
  std::thread([&] { from_thread = cuda::ensure_context(); }).join();
  EXPECT_EQ(from_thread, primary);
}

TEST(CudaGpu, DeviceInfo) {
  XENT_REQUIRE_GPU();
  const cuda::DeviceInfo& device = cuda::current_device();
  EXPECT_FALSE(device.name.empty());
  EXPECT_GE(device.sm_major, 8);
  EXPECT_EQ(device.sm().rfind("sm_", 0), 0u);
  EXPECT_GE(device.driver_version, 12000);
  EXPECT_GT(device.multiprocessors, 0);
  EXPECT_GT(device.l2_bytes, 0);
  EXPECT_GE(device.max_shared_per_block_optin, 48 * 1024);
  EXPECT_EQ(&cuda::current_device(), &device);
}

TEST(CudaGpu, BufferRoundTrip) {
  XENT_REQUIRE_GPU();
  cuda::DeviceBuffer buffer(1000 * sizeof(int));
  ASSERT_NE(buffer.address(), 0u);
  EXPECT_EQ(buffer.download<int>(), std::vector<int>(1000, 0));
  std::vector<int> values(1000);
  std::iota(values.begin(), values.end(), 7);
  buffer.upload(values);
  EXPECT_EQ(buffer.download<int>(), values);
  int patch[] = {-1, -2};
  buffer.upload(patch, sizeof(patch), 10 * sizeof(int));
  values[10] = -1;
  values[11] = -2;
  EXPECT_EQ(buffer.download<int>(), values);
  EXPECT_THROW(buffer.upload(patch, sizeof(patch), 999 * sizeof(int)), UserError);

  CUdeviceptr address = buffer.address();
  cuda::DeviceBuffer moved(std::move(buffer));
  EXPECT_EQ(moved.address(), address);
  EXPECT_EQ(buffer.address(), 0u);
}

TEST(CudaGpu, CompileLinkLoadLaunch) {
  XENT_REQUIRE_GPU();
  codegen::CompiledKernel compiled = compile_doubling_kernel();
  std::vector<char> cubin = cuda::link_cubin(compiled.ptx, compiled.name);
  ASSERT_FALSE(cubin.empty());
  cuda::LoadedKernel kernel(cubin, compiled.name);
  EXPECT_NE(kernel.function(), nullptr);
  EXPECT_GT(kernel.registers(), 0);
  EXPECT_EQ(kernel.local_bytes(), 0);
  EXPECT_GE(kernel.max_threads_per_block(), compiled.threads);
  expect_doubled(
      [&](CUstream stream, void** params) { cuda::launch(kernel, kPrograms, compiled.threads, compiled.cluster, 0, stream, params); });
}

// The launch captured into a CUDA graph, replayed between two timing events.
TEST(CudaGpu, LaunchInAGraph) {
  XENT_REQUIRE_GPU();
  codegen::CompiledKernel compiled = compile_doubling_kernel();
  cuda::LoadedKernel kernel(cuda::link_cubin(compiled.ptx, compiled.name), compiled.name);
  const cuda::Driver& d = cuda::driver();
  expect_doubled([&](CUstream stream, void** params) {
    XENT_CU_CHECK(d.cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
    cuda::launch(kernel, kPrograms, compiled.threads, compiled.cluster, 0, stream, params);
    CUgraph graph = nullptr;
    XENT_CU_CHECK(d.cuStreamEndCapture(stream, &graph));
    CUgraphExec exec = nullptr;
    XENT_CU_CHECK(d.cuGraphInstantiate(&exec, graph, 0));
    CUevent start = nullptr, stop = nullptr;
    XENT_CU_CHECK(d.cuEventCreate(&start, CU_EVENT_DEFAULT));
    XENT_CU_CHECK(d.cuEventCreate(&stop, CU_EVENT_DEFAULT));
    XENT_CU_CHECK(d.cuEventRecord(start, stream));
    XENT_CU_CHECK(d.cuGraphLaunch(exec, stream));
    XENT_CU_CHECK(d.cuEventRecord(stop, stream));
    XENT_CU_CHECK(d.cuEventSynchronize(stop));
    float milliseconds = -1;
    XENT_CU_CHECK(d.cuEventElapsedTime(&milliseconds, start, stop));
    EXPECT_GE(milliseconds, 0);
    XENT_CU_CHECK(d.cuEventDestroy(start));
    XENT_CU_CHECK(d.cuEventDestroy(stop));
    XENT_CU_CHECK(d.cuGraphExecDestroy(exec));
    XENT_CU_CHECK(d.cuGraphDestroy(graph));
  });
}

// Past 48 KiB of dynamic shared memory the limit is raised at load time; past the device's limit it is a UserError.
TEST(CudaGpu, LargeDynamicSharedMemory) {
  XENT_REQUIRE_GPU();
  codegen::CompiledKernel compiled = compile_doubling_kernel();
  std::vector<char> cubin = cuda::link_cubin(compiled.ptx, compiled.name);
  const int optin = cuda::current_device().max_shared_per_block_optin;
  EXPECT_THROW(cuda::LoadedKernel(cubin, compiled.name, optin + 1), UserError);
  const unsigned shared = 64 * 1024;
  ASSERT_GE(optin, static_cast<int>(shared + compiled.shared_bytes));
  cuda::LoadedKernel kernel(cubin, compiled.name, shared);
  expect_doubled([&](CUstream stream, void** params) {
    cuda::launch(kernel, kPrograms, compiled.threads, compiled.cluster, shared, stream, params);
  });
}

TEST(CudaGpu, BadPtxCarriesTheLinkerLog) {
  XENT_REQUIRE_GPU();
  std::string ptx =
      ".version 7.8\n.target sm_80\n.address_size 64\n\n.visible .entry broken()\n{\n  frobnicate.b32;\n"
      "  ret;\n}\n";
  try {
    cuda::link_cubin(ptx, "broken");
    FAIL() << "link_cubin accepted bad PTX";
  } catch (const cuda::CudaError& e) {
    std::string message = e.what();
    EXPECT_EQ(e.result(), CUDA_ERROR_INVALID_PTX) << message;
    EXPECT_TRUE(contains(message, "driver().cuLink")) << message;  // cuLinkAddData or cuLinkComplete
    EXPECT_TRUE(contains(message, "linking the PTX of kernel broken failed")) << message;
    EXPECT_TRUE(contains(message, "frobnicate")) << message;  // the linker's log quotes the culprit
    EXPECT_TRUE(contains(message, "ptxas -arch=" + cuda::current_device().sm())) << message;
  }
}

TEST(CudaGpu, FailedCallsAreNamed) {
  XENT_REQUIRE_GPU();
  CUdevice device = 0;
  try {
    XENT_CU_CHECK(cuda::driver().cuDeviceGet(&device, 1 << 20));
    FAIL() << "a device with ordinal 2^20 exists";
  } catch (const cuda::CudaError& e) {
    EXPECT_EQ(e.result(), CUDA_ERROR_INVALID_DEVICE);
    EXPECT_TRUE(contains(e.what(), "cuDeviceGet(&device, 1 << 20) failed: CUDA_ERROR_INVALID_DEVICE")) << e.what();
    EXPECT_TRUE(contains(e.what(), "cuda_gpu_test.cpp:")) << e.what();
  }

  codegen::CompiledKernel compiled = compile_doubling_kernel();
  std::vector<char> cubin = cuda::link_cubin(compiled.ptx, compiled.name);
  try {
    cuda::LoadedKernel missing(cubin, "no_such_kernel");
    FAIL() << "loaded a kernel that the cubin does not have";
  } catch (const cuda::CudaError& e) {
    EXPECT_EQ(e.result(), CUDA_ERROR_NOT_FOUND);
    EXPECT_TRUE(contains(e.what(), "cuModuleGetFunction")) << e.what();
  }
}
