// From PTX to a launched kernel (reference/llvm19-nvptx.md B4):
//  - link_cubin: the driver's own PTX assembler (cuLinkCreate / cuLinkAddData(CU_JIT_INPUT_PTX) / cuLinkComplete),
//    for the current context's device. The result is a cubin that the disk cache keeps, keyed by SM and driver
//    version, so later processes skip the assembly.
//  - LoadedKernel: a cubin loaded as a module, and the one kernel xent wants out of it, with its resource usage read
//    once at load time.
//  - launch: cuLaunchKernel and nothing else, for the hot path.
#pragma once

#include <cuda.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace xent::cuda {

// Assembles `ptx` for the current context's device (ensure_context() first). `kernel_name` names the input in the
// linker's messages and the file a failure leaves behind. A failure is a CudaError whose message holds the linker's
// error and info logs and a ptxas command line that reproduces it on a PTX file written to the temporary directory.
std::vector<char> link_cubin(const std::string& ptx, const std::string& kernel_name);

class LoadedKernel {
 public:
  // Loads `cubin` into the current context and looks up `kernel_name`. A kernel launched with more than 48 KiB of
  // dynamic shared memory must declare it here: past 48 KiB the driver refuses the launch unless
  // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES was raised first. More than the device offers (static shared
  // memory included) is a UserError. A kernel launched in thread-block clusters of more than 8 programs (the portable
  // size) declares its `cluster` here, which allows the non-portable size.
  LoadedKernel(std::span<const char> cubin, const std::string& kernel_name, int dynamic_shared_bytes = 0,
               int cluster = 1);

  LoadedKernel(LoadedKernel&&) noexcept = default;
  LoadedKernel& operator=(LoadedKernel&&) noexcept = default;

  CUfunction function() const { return function_; }
  const std::string& name() const { return name_; }
  int registers() const { return registers_; }  // per thread
  // Local memory per thread: register spills and stack arrays. xent's kernels are meant to keep it at 0.
  int local_bytes() const { return local_bytes_; }
  int max_threads_per_block() const { return max_threads_per_block_; }  // what registers leave possible

 private:
  struct Unload {
    void operator()(CUmod_st* module) const noexcept;
  };

  std::unique_ptr<CUmod_st, Unload> module_;
  CUfunction function_ = nullptr;
  std::string name_;
  int registers_ = 0;
  int local_bytes_ = 0;
  int max_threads_per_block_ = 0;
};

// One-dimensional launch on the caller's stream; `params` points at each kernel parameter's value, in order. With
// `cluster` > 1 the programs run in thread-block clusters of that many (cuLaunchKernelEx; grid_x must divide by it).
// No allocation, synchronization or driver query: the launch path can afford none of them.
void launch(const LoadedKernel& kernel, unsigned grid_x, unsigned block_x, unsigned cluster, unsigned shared_bytes,
            CUstream stream, void** params);

}  // namespace xent::cuda
