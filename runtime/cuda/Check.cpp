#include "runtime/cuda/Check.h"

#include <iostream>

#include "compiler/Error.h"
#include "runtime/cuda/Driver.h"

namespace xent::cuda {
namespace {

std::string message(CUresult result, const char* call, const char* file, int line) {
  return cat(call, " failed: ", describe(result), " at ", file, ":", line);
}

}  // namespace

std::string describe(CUresult result) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (driver_available()) {
    driver().cuGetErrorName(result, &name);
    driver().cuGetErrorString(result, &text);
  }
  if (!name) return cat("CUresult ", static_cast<int>(result));
  return text ? cat(name, " (", text, ")") : std::string(name);
}

void check(CUresult result, const char* call, const char* file, int line) {
  if (result != CUDA_SUCCESS) throw CudaError(result, message(result, call, file, line));
}

void check_noexcept(CUresult result, const char* call, const char* file, int line) noexcept {
  if (result == CUDA_SUCCESS || result == CUDA_ERROR_DEINITIALIZED) return;
  try {
    std::cerr << "xent: " << message(result, call, file, line) << "\n";
  } catch (...) {
    // Nothing is left to report with: the message could not even be built.
  }
}

}  // namespace xent::cuda
