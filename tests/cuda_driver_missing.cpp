// A machine without an NVIDIA driver, simulated by pointing XENT_CUDA_LIBRARY at a file that does not exist: every
// way into the driver reports the same clear UserError, and nothing crashes. Its own executable, because the driver is
// resolved once per process.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "compiler/Error.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"
#include "runtime/cuda/Module.h"

using namespace xent;

TEST(CudaDriverMissing, IsAClearErrorNotACrash) {
  ASSERT_EQ(setenv("XENT_CUDA_LIBRARY", "/nonexistent/libcuda.so.1", 1), 0);

  std::string why;
  EXPECT_FALSE(cuda::driver_available(&why));
  EXPECT_EQ(why.rfind("CUDA driver not available: /nonexistent/libcuda.so.1: cannot open shared object file", 0), 0)
      << why;
  EXPECT_NE(why.find("xent needs an NVIDIA driver to run kernels on the GPU; CPU-only commands still work"),
            std::string::npos)
      << why;

  try {
    cuda::driver();
    FAIL() << "driver() returned without a driver";
  } catch (const UserError& e) {
    EXPECT_EQ(e.what(), why);
  }

  std::string gpu_why;
  EXPECT_FALSE(cuda::gpu_available(&gpu_why));
  EXPECT_EQ(gpu_why, why);
  EXPECT_THROW(cuda::ensure_context(), cuda::DriverUnavailable);
  EXPECT_THROW(cuda::current_device(), cuda::DriverUnavailable);
  EXPECT_THROW(cuda::DeviceBuffer(64), cuda::DriverUnavailable);
  EXPECT_THROW(cuda::link_cubin(".version 7.8", "k"), cuda::DriverUnavailable);
}
