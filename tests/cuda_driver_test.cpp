// The CUDA driver layer on any machine, with or without a driver: availability is reported consistently, the one
// CUresult check names the call and the place, and what needs no GPU works without one.
#include <gtest/gtest.h>

#include <string>

#include "compiler/Error.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"

using namespace xent;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(CudaDriver, AvailabilityIsConsistent) {
  std::string why;
  if (cuda::driver_available(&why)) {
    EXPECT_TRUE(why.empty());
    const cuda::Driver& d = cuda::driver();
#define XENT_EXPECT_RESOLVED(member, type, name) EXPECT_NE(d.member, nullptr) << name;
    XENT_CUDA_DRIVER_ENTRY_POINTS(XENT_EXPECT_RESOLVED)
#undef XENT_EXPECT_RESOLVED
    return;
  }
  EXPECT_EQ(why.rfind("CUDA driver not available: ", 0), 0) << why;
  EXPECT_TRUE(contains(why, "CPU-only commands still work")) << why;
  try {
    cuda::driver();
    FAIL() << "driver() returned although driver_available() is false";
  } catch (const cuda::DriverUnavailable& e) {
    EXPECT_EQ(e.what(), why);
  }
}

TEST(CudaDriver, GpuAvailableSaysWhyNot) {
  std::string why = "unchanged";
  bool available = cuda::gpu_available(&why);
  EXPECT_EQ(available, why.empty()) << why;
}

TEST(CudaDriver, CheckPassesSuccess) { EXPECT_NO_THROW(cuda::check(CUDA_SUCCESS, "cuInit(0)", "file.cpp", 1)); }

TEST(CudaDriver, CheckNamesCallErrorAndPlace) {
  try {
    cuda::check(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc(&address, 64)", "Memory.cpp", 12);
    FAIL() << "check() accepted an error";
  } catch (const cuda::CudaError& e) {
    std::string message = e.what();
    EXPECT_EQ(e.result(), CUDA_ERROR_OUT_OF_MEMORY);
    EXPECT_EQ(message.rfind("cuMemAlloc(&address, 64) failed: ", 0), 0) << message;
    EXPECT_TRUE(contains(message, " at Memory.cpp:12")) << message;
    // The driver names errors; without one the number has to do.
    std::string name = cuda::driver_available() ? "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" : "CUresult 2";
    EXPECT_TRUE(contains(message, name)) << message;
  }
}

TEST(CudaDriver, MacroQuotesTheCallAsWritten) {
  auto failing_call = [] { return CUDA_ERROR_INVALID_VALUE; };
  try {
    XENT_CU_CHECK(failing_call());
    FAIL() << "XENT_CU_CHECK accepted an error";
  } catch (const cuda::CudaError& e) {
    EXPECT_TRUE(contains(e.what(), "failing_call() failed: ")) << e.what();
    EXPECT_TRUE(contains(e.what(), "cuda_driver_test.cpp:")) << e.what();
  }
}

TEST(CudaDriver, DeviceInfoNamesTheTarget) {
  cuda::DeviceInfo hopper;
  hopper.sm_major = 9;
  EXPECT_EQ(hopper.sm(), "sm_90");
  cuda::DeviceInfo ampere;
  ampere.sm_major = 8;
  ampere.sm_minor = 6;
  EXPECT_EQ(ampere.sm(), "sm_86");
}

// An empty buffer touches no driver, and its bounds are checked before any copy.
TEST(CudaDriver, EmptyBufferNeedsNoDriver) {
  cuda::DeviceBuffer empty(0);
  EXPECT_EQ(empty.address(), 0u);
  EXPECT_EQ(empty.bytes(), 0u);
  EXPECT_NO_THROW(empty.upload(nullptr, 0));
  EXPECT_TRUE(empty.download<float>().empty());
  char byte = 0;
  EXPECT_THROW(empty.upload(&byte, 1), UserError);
  EXPECT_THROW(empty.download(&byte, 1), UserError);
  cuda::DeviceBuffer moved(std::move(empty));
  EXPECT_EQ(moved.bytes(), 0u);
}
