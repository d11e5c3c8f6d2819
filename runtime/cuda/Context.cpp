#include "runtime/cuda/Context.h"

#include <map>
#include <mutex>

#include "runtime/cuda/Check.h"
#include "runtime/cuda/Driver.h"

namespace xent::cuda {
namespace {

// cuInit once per process; a failure (no device, driver/kernel-module mismatch) is reported by every caller.
void initialize() {
  static const CUresult result = driver().cuInit(0);
  check(result, "cuInit(0)", __FILE__, __LINE__);
}

CUcontext retained_primary_context(int ordinal) {
  static std::mutex mutex;
  static std::map<int, CUcontext> contexts;
  std::lock_guard lock(mutex);
  if (auto it = contexts.find(ordinal); it != contexts.end()) return it->second;
  CUdevice device = 0;
  XENT_CU_CHECK(driver().cuDeviceGet(&device, ordinal));
  CUcontext context = nullptr;
  XENT_CU_CHECK(driver().cuDevicePrimaryCtxRetain(&context, device));
  contexts.emplace(ordinal, context);
  return context;
}

int attribute(CUdevice device, CUdevice_attribute which) {
  int value = 0;
  XENT_CU_CHECK(driver().cuDeviceGetAttribute(&value, which, device));
  return value;
}

DeviceInfo query(CUdevice device) {
  DeviceInfo info;
  info.ordinal = device;  // CUdevice handles are the ordinals
  char name[256] = {};
  XENT_CU_CHECK(driver().cuDeviceGetName(name, sizeof(name) - 1, device));
  info.name = name;
  info.sm_major = attribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
  info.sm_minor = attribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
  XENT_CU_CHECK(driver().cuDriverGetVersion(&info.driver_version));
  info.multiprocessors = attribute(device, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  info.l2_bytes = attribute(device, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
  info.max_shared_per_block_optin = attribute(device, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
  return info;
}

}  // namespace

void adopt_context(CUcontext context) {
  CUcontext current = nullptr;
  XENT_CU_CHECK(driver().cuCtxGetCurrent(&current));
  if (!current) XENT_CU_CHECK(driver().cuCtxSetCurrent(context));
}

CUcontext ensure_context(int device_ordinal) {
  initialize();
  CUcontext current = nullptr;
  XENT_CU_CHECK(driver().cuCtxGetCurrent(&current));
  if (current) return current;
  CUcontext primary = retained_primary_context(device_ordinal);
  XENT_CU_CHECK(driver().cuCtxSetCurrent(primary));
  return primary;
}

const DeviceInfo& current_device() {
  ensure_context();
  CUdevice device = 0;
  XENT_CU_CHECK(driver().cuCtxGetDevice(&device));
  static std::mutex mutex;
  static std::map<CUdevice, DeviceInfo> devices;  // map nodes never move, so the references handed out stay valid
  std::lock_guard lock(mutex);
  auto it = devices.find(device);
  if (it == devices.end()) it = devices.emplace(device, query(device)).first;
  return it->second;
}

bool gpu_available(std::string* why) {
  std::string reason;
  try {
    initialize();
    int count = 0;
    XENT_CU_CHECK(driver().cuDeviceGetCount(&count));
    if (count == 0) reason = "the CUDA driver reports no devices";
  } catch (const DriverUnavailable& e) {
    reason = e.what();
  } catch (const CudaError& e) {
    reason = e.what();
  }
  if (why) *why = reason;
  return reason.empty();
}

int device_count() {
  try {
    initialize();
  } catch (const CudaError& e) {
    if (e.result() == CUDA_ERROR_NO_DEVICE) return 0;
    throw;
  }
  int count = 0;
  XENT_CU_CHECK(driver().cuDeviceGetCount(&count));
  return count;
}

}  // namespace xent::cuda
