// The CUDA Driver API, reached through dlopen so that libxent.so builds, links and runs its CPU work on machines
// without an NVIDIA driver (CI, the development machine). Nothing in xent links libcuda; every driver call goes through
// the table that driver() returns.
//
// Loading happens once per process, at first use: dlopen("libcuda.so.1") (or $XENT_CUDA_LIBRARY, for tests), dlsym of
// cuGetProcAddress_v2 only, then cuGetProcAddress for every entry point by its base name at the ABI of CUDA 12.0.
// Asking the driver for a fixed ABI version, instead of dlsym on names, is what keeps a signature from changing under
// us: CUDA 13 gave cuCtxGetDevice and cuCtxSynchronize a context argument, and cuda.h maps several names to _v2/_v3
// symbols whose signatures differ from the base ones. The member types are therefore cudaTypedefs.h's versioned PFNs,
// each the newest version at or below 12.0, never decltype of cuda.h's prototypes (which follow the 13.0 headers).
//
// cuda.h #defines some base names (cuMemAlloc -> cuMemAlloc_v2, ...), so those members are renamed by the preprocessor
// too; declaration and use both see the macro, so `driver().cuMemAlloc(...)` works as written.
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>

#include <string>

#include "compiler/Error.h"

namespace xent::cuda {

// The CUDA version whose ABI every entry point is requested at (cuGetProcAddress's cudaVersion).
inline constexpr int kDriverAbiVersion = 12000;

// X(member, PFN type, name asked of cuGetProcAddress). The name differs from the member only for cuGraphInstantiate,
// whose base symbol kept the CUDA 10 signature; the flags form is what CUDA 12's cuGraphInstantiate means.
#define XENT_CUDA_DRIVER_ENTRY_POINTS(X)                                                                \
  X(cuInit, PFN_cuInit_v2000, "cuInit")                                                                 \
  X(cuDriverGetVersion, PFN_cuDriverGetVersion_v2020, "cuDriverGetVersion")                             \
  X(cuDeviceGet, PFN_cuDeviceGet_v2000, "cuDeviceGet")                                                  \
  X(cuDeviceGetCount, PFN_cuDeviceGetCount_v2000, "cuDeviceGetCount")                                   \
  X(cuDeviceGetName, PFN_cuDeviceGetName_v2000, "cuDeviceGetName")                                      \
  X(cuDeviceGetAttribute, PFN_cuDeviceGetAttribute_v2000, "cuDeviceGetAttribute")                       \
  X(cuDevicePrimaryCtxRetain, PFN_cuDevicePrimaryCtxRetain_v7000, "cuDevicePrimaryCtxRetain")           \
  X(cuDevicePrimaryCtxRelease, PFN_cuDevicePrimaryCtxRelease_v11000, "cuDevicePrimaryCtxRelease")       \
  X(cuCtxGetCurrent, PFN_cuCtxGetCurrent_v4000, "cuCtxGetCurrent")                                      \
  X(cuCtxSetCurrent, PFN_cuCtxSetCurrent_v4000, "cuCtxSetCurrent")                                      \
  X(cuCtxGetDevice, PFN_cuCtxGetDevice_v2000, "cuCtxGetDevice")                                         \
  X(cuCtxSynchronize, PFN_cuCtxSynchronize_v2000, "cuCtxSynchronize")                                   \
  X(cuGetErrorName, PFN_cuGetErrorName_v6000, "cuGetErrorName")                                         \
  X(cuGetErrorString, PFN_cuGetErrorString_v6000, "cuGetErrorString")                                   \
  X(cuMemAlloc, PFN_cuMemAlloc_v3020, "cuMemAlloc")                                                     \
  X(cuMemFree, PFN_cuMemFree_v3020, "cuMemFree")                                                        \
  X(cuMemcpyHtoD, PFN_cuMemcpyHtoD_v3020, "cuMemcpyHtoD")                                               \
  X(cuMemcpyDtoH, PFN_cuMemcpyDtoH_v3020, "cuMemcpyDtoH")                                               \
  X(cuMemcpyDtoDAsync, PFN_cuMemcpyDtoDAsync_v3020, "cuMemcpyDtoDAsync")                                \
  X(cuMemcpyHtoDAsync, PFN_cuMemcpyHtoDAsync_v3020, "cuMemcpyHtoDAsync")                                \
  X(cuMemcpyDtoHAsync, PFN_cuMemcpyDtoHAsync_v3020, "cuMemcpyDtoHAsync")                                \
  X(cuMemsetD8, PFN_cuMemsetD8_v3020, "cuMemsetD8")                                                     \
  X(cuMemsetD8Async, PFN_cuMemsetD8Async_v3020, "cuMemsetD8Async")                                      \
  X(cuStreamCreate, PFN_cuStreamCreate_v2000, "cuStreamCreate")                                         \
  X(cuStreamDestroy, PFN_cuStreamDestroy_v4000, "cuStreamDestroy")                                      \
  X(cuStreamSynchronize, PFN_cuStreamSynchronize_v2000, "cuStreamSynchronize")                          \
  X(cuStreamBeginCapture, PFN_cuStreamBeginCapture_v10010, "cuStreamBeginCapture")                      \
  X(cuStreamEndCapture, PFN_cuStreamEndCapture_v10000, "cuStreamEndCapture")                            \
  X(cuStreamIsCapturing, PFN_cuStreamIsCapturing_v10000, "cuStreamIsCapturing")                         \
  X(cuGraphInstantiate, PFN_cuGraphInstantiateWithFlags_v11040, "cuGraphInstantiateWithFlags")          \
  X(cuGraphLaunch, PFN_cuGraphLaunch_v10000, "cuGraphLaunch")                                           \
  X(cuGraphDestroy, PFN_cuGraphDestroy_v10000, "cuGraphDestroy")                                        \
  X(cuGraphExecDestroy, PFN_cuGraphExecDestroy_v10000, "cuGraphExecDestroy")                            \
  X(cuEventCreate, PFN_cuEventCreate_v2000, "cuEventCreate")                                            \
  X(cuEventRecord, PFN_cuEventRecord_v2000, "cuEventRecord")                                            \
  X(cuEventElapsedTime, PFN_cuEventElapsedTime_v2000, "cuEventElapsedTime")                             \
  X(cuEventSynchronize, PFN_cuEventSynchronize_v2000, "cuEventSynchronize")                             \
  X(cuEventDestroy, PFN_cuEventDestroy_v4000, "cuEventDestroy")                                         \
  X(cuLinkCreate, PFN_cuLinkCreate_v6050, "cuLinkCreate")                                               \
  X(cuLinkAddData, PFN_cuLinkAddData_v6050, "cuLinkAddData")                                            \
  X(cuLinkComplete, PFN_cuLinkComplete_v5050, "cuLinkComplete")                                         \
  X(cuLinkDestroy, PFN_cuLinkDestroy_v5050, "cuLinkDestroy")                                            \
  X(cuModuleLoadData, PFN_cuModuleLoadData_v2000, "cuModuleLoadData")                                   \
  X(cuModuleUnload, PFN_cuModuleUnload_v2000, "cuModuleUnload")                                         \
  X(cuModuleGetFunction, PFN_cuModuleGetFunction_v2000, "cuModuleGetFunction")                          \
  X(cuFuncGetAttribute, PFN_cuFuncGetAttribute_v2020, "cuFuncGetAttribute")                             \
  X(cuFuncSetAttribute, PFN_cuFuncSetAttribute_v9000, "cuFuncSetAttribute")                             \
  X(cuLaunchKernel, PFN_cuLaunchKernel_v4000, "cuLaunchKernel")                                         \
  X(cuLaunchKernelEx, PFN_cuLaunchKernelEx_v11060, "cuLaunchKernelEx")                                  \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor, PFN_cuOccupancyMaxActiveBlocksPerMultiprocessor_v6050, \
    "cuOccupancyMaxActiveBlocksPerMultiprocessor")

struct Driver {
#define XENT_CUDA_DRIVER_MEMBER(member, type, name) type member = nullptr;
  XENT_CUDA_DRIVER_ENTRY_POINTS(XENT_CUDA_DRIVER_MEMBER)
#undef XENT_CUDA_DRIVER_MEMBER
};

// The driver cannot be used here: no libcuda, a driver older than CUDA 12, or an entry point it lacks. A UserError:
// what to change is the machine (install an NVIDIA driver), and CPU-only work is unaffected.
class DriverUnavailable : public UserError {
 public:
  using UserError::UserError;
};

// The resolved table, loaded on first call; thread-safe. Throws DriverUnavailable, with the same message every time.
const Driver& driver();

// Whether driver() would succeed; if not and `why` is given, the reason ("CUDA driver not available: ...").
bool driver_available(std::string* why = nullptr);

}  // namespace xent::cuda
