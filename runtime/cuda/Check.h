// The one check every CUresult in xent goes through (Dr.Jit's cuda_check). A failure becomes a CudaError whose message
// names the call as written, the error's name and description from the driver (cuGetErrorName/cuGetErrorString), and
// the source location:
//
//   driver().cuMemAlloc(&address_, bytes) failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory) at .../cuda/Memory.cpp:24
//
// Destructors, which must not throw, use the _NOEXCEPT form: the same message, printed to stderr.
#pragma once

#include <cuda.h>

#include <stdexcept>
#include <string>

namespace xent::cuda {

class CudaError : public std::runtime_error {
 public:
  CudaError(CUresult result, const std::string& message) : std::runtime_error(message), result_(result) {}
  CUresult result() const { return result_; }

 private:
  CUresult result_;
};

// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)"; "CUresult 2" when the driver cannot name it (or is not loaded).
std::string describe(CUresult result);

// Throws CudaError unless `result` is CUDA_SUCCESS.
void check(CUresult result, const char* call, const char* file, int line);

// Prints the message to stderr unless `result` is CUDA_SUCCESS or CUDA_ERROR_DEINITIALIZED (objects destroyed at
// process exit may outlive the driver, which is not worth a message).
void check_noexcept(CUresult result, const char* call, const char* file, int line) noexcept;

}  // namespace xent::cuda

#define XENT_CU_CHECK(expr) ::xent::cuda::check((expr), #expr, __FILE__, __LINE__)
#define XENT_CU_CHECK_NOEXCEPT(expr) ::xent::cuda::check_noexcept((expr), #expr, __FILE__, __LINE__)
