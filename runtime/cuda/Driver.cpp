#include "runtime/cuda/Driver.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <type_traits>

namespace xent::cuda {
namespace {

constexpr const char* kConsequence =
    "; xent needs an NVIDIA driver to run kernels on the GPU; CPU-only commands still work";

struct Loaded {
  Driver driver;
  std::string error;  // empty when the driver is usable
};

// Returns the reason the driver cannot be used, or "" after filling `d`.
std::string load(Driver& d) {
  const char* override_path = std::getenv("XENT_CUDA_LIBRARY");
  std::string path = override_path && *override_path ? override_path : "libcuda.so.1";
  // Never closed: function pointers into it live in a process-wide table.
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) return cat("CUDA driver not available: ", dlerror(), kConsequence);

  auto get_proc_address = reinterpret_cast<PFN_cuGetProcAddress_v12000>(dlsym(library, "cuGetProcAddress_v2"));
  if (!get_proc_address)
    return cat("CUDA driver not available: ", path, " has no cuGetProcAddress_v2 (a CUDA 12 or newer driver is needed)",
               kConsequence);

  auto resolve = [&](const char* name, auto& member) -> std::string {
    void* pfn = nullptr;
    CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    CUresult result = get_proc_address(name, &pfn, kDriverAbiVersion, CU_GET_PROC_ADDRESS_DEFAULT, &status);
    if (result == CUDA_ERROR_STUB_LIBRARY)
      return cat("CUDA driver not available: ", path, " is the CUDA toolkit's link-time stub, not a driver",
                 kConsequence);
    if (result != CUDA_SUCCESS || status != CU_GET_PROC_ADDRESS_SUCCESS || !pfn)
      return cat("CUDA driver not available: ", path, " does not provide ", name, " for CUDA ",
                 kDriverAbiVersion / 1000, ".", kDriverAbiVersion % 1000 / 10, " (cuGetProcAddress returned ",
                 static_cast<int>(result), ", status ", static_cast<int>(status), ")", kConsequence);
    member = reinterpret_cast<std::remove_reference_t<decltype(member)>>(pfn);
    return "";
  };
#define XENT_CUDA_DRIVER_RESOLVE(member, type, name) \
  if (std::string error = resolve(name, d.member); !error.empty()) return error;
  XENT_CUDA_DRIVER_ENTRY_POINTS(XENT_CUDA_DRIVER_RESOLVE)
#undef XENT_CUDA_DRIVER_RESOLVE
  return "";
}

const Loaded& loaded() {
  static Loaded state;
  static std::once_flag once;
  std::call_once(once, [] { state.error = load(state.driver); });
  return state;
}

}  // namespace

const Driver& driver() {
  const Loaded& state = loaded();
  if (!state.error.empty()) throw DriverUnavailable(state.error);
  return state.driver;
}

bool driver_available(std::string* why) {
  const Loaded& state = loaded();
  if (why) *why = state.error;
  return state.error.empty();
}

}  // namespace xent::cuda
