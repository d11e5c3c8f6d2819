// CUDA contexts and the device they run on.
//
// xent never creates a context of its own. When the calling thread already has one current (PyTorch, an inference
// engine, the caller's own code), xent works in it, so its allocations, modules and launches share that context with
// the host application. Otherwise it retains the device's primary context, the one the CUDA runtime uses too, and makes
// it current: the same context any cudart-based library in the process ends up in (Triton's ensureCudaContext).
#pragma once

#include <cuda.h>

#include <string>

namespace xent::cuda {

// The calling thread's current context, or device `device_ordinal`'s primary context made current when there is none
// (the ordinal is only used then). cuInit runs once per process; each primary context is retained once per process
// and never released, since objects with static lifetime may still hold modules and memory in it at exit.
CUcontext ensure_context(int device_ordinal = 0);

// Makes `context` current on the calling thread when the thread has none (a framework's worker thread, such as
// PyTorch's autograd thread, may never have touched the driver); leaves a current context alone. One cheap driver
// query (cuCtxGetCurrent), no synchronization.
void adopt_context(CUcontext context);

// What kernel selection and code generation need to know about a device, queried once per device.
struct DeviceInfo {
  int ordinal = 0;
  std::string name;  // "NVIDIA H100 80GB HBM3"
  int sm_major = 0;
  int sm_minor = 0;
  int driver_version = 0;  // cuDriverGetVersion: 13000 for CUDA 13.0
  int multiprocessors = 0;
  int l2_bytes = 0;
  int max_shared_per_block_optin = 0;  // with CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES raised

  // The target name codegen takes: "sm_90".
  std::string sm() const { return "sm_" + std::to_string(sm_major) + std::to_string(sm_minor); }
};

// The device of the current context (ensure_context() first). Cached per device and never invalidated, so the
// reference stays valid for the life of the process.
const DeviceInfo& current_device();

// For tests and tools: the driver loads, cuInit succeeds and at least one device is present. If not and `why` is
// given, the reason.
bool gpu_available(std::string* why = nullptr);

// The number of devices the driver sees (0 when cuInit finds none). Throws DriverUnavailable without a driver, so a
// caller can tell "no driver" from "too few GPUs".
int device_count();

}  // namespace xent::cuda
