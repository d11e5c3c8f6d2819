#include "runtime/cuda/Module.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "compiler/Error.h"
#include "compiler/ir/IR.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"

namespace xent::cuda {
namespace {

constexpr size_t kLogBytes = 64 * 1024;
constexpr int kDefaultSharedLimit = 48 * 1024;

struct LinkState {
  CUlinkState state = nullptr;
  ~LinkState() {
    if (state) XENT_CU_CHECK_NOEXCEPT(driver().cuLinkDestroy(state));
  }
};

// How to see the failure outside xent: the PTX in a file and the ptxas command for this device.
std::string reproduction(const std::string& ptx, const std::string& kernel_name) {
  std::error_code ignored;
  std::filesystem::path path =
      std::filesystem::temp_directory_path(ignored) / cat("xent-", kernel_name, "-", getpid(), ".ptx");
  std::ofstream(path) << ptx;
  std::string arch = current_device().sm();
  if (!std::filesystem::exists(path, ignored))
    return cat("to reproduce, write the PTX to kernel.ptx and run: ptxas -arch=", arch, " -v kernel.ptx");
  return cat("the PTX is in ", path.string(), "; to reproduce, run: ptxas -arch=", arch, " -v ", path.string());
}

int function_attribute(CUfunction function, CUfunction_attribute which) {
  int value = 0;
  XENT_CU_CHECK(driver().cuFuncGetAttribute(&value, which, function));
  return value;
}

}  // namespace

std::vector<char> link_cubin(const std::string& ptx, const std::string& kernel_name) {
  ensure_context();
  std::vector<char> info_log(kLogBytes), error_log(kLogBytes);
  CUjit_option options[] = {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void* values[] = {info_log.data(), reinterpret_cast<void*>(uintptr_t{kLogBytes - 1}), error_log.data(),
                    reinterpret_cast<void*>(uintptr_t{kLogBytes - 1})};
  LinkState link;
  XENT_CU_CHECK(driver().cuLinkCreate(std::size(options), options, values, &link.state));
  void* cubin = nullptr;
  size_t cubin_bytes = 0;
  try {
    // The driver reads the PTX as a C string; the size it is given counts the terminator.
    XENT_CU_CHECK(driver().cuLinkAddData(link.state, CU_JIT_INPUT_PTX, const_cast<char*>(ptx.c_str()), ptx.size() + 1,
                                         kernel_name.c_str(), 0, nullptr, nullptr));
    XENT_CU_CHECK(driver().cuLinkComplete(link.state, &cubin, &cubin_bytes));
  } catch (const CudaError& e) {
    throw CudaError(e.result(), cat(e.what(), "\nlinking the PTX of kernel ", kernel_name, " failed:\n",
                                    error_log.data(), "\n", info_log.data(), "\n", reproduction(ptx, kernel_name)));
  }
  // The cubin belongs to the link state, which the return destroys.
  const char* bytes = static_cast<const char*>(cubin);
  return std::vector<char>(bytes, bytes + cubin_bytes);
}

LoadedKernel::LoadedKernel(std::span<const char> cubin, const std::string& kernel_name, int dynamic_shared_bytes,
                           int cluster)
    : name_(kernel_name) {
  ensure_context();
  CUmodule module = nullptr;
  XENT_CU_CHECK(driver().cuModuleLoadData(&module, cubin.data()));
  module_.reset(module);
  XENT_CU_CHECK(driver().cuModuleGetFunction(&function_, module, kernel_name.c_str()));
  registers_ = function_attribute(function_, CU_FUNC_ATTRIBUTE_NUM_REGS);
  local_bytes_ = function_attribute(function_, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES);
  max_threads_per_block_ = function_attribute(function_, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
  if (cluster > ir::kMaxPortableCluster)
    XENT_CU_CHECK(driver().cuFuncSetAttribute(function_, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1));
  // Past 48 KiB of static and dynamic shared memory together, a launch needs the opt-in attribute set first.
  if (dynamic_shared_bytes == 0) return;
  int static_shared = function_attribute(function_, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
  if (static_shared + dynamic_shared_bytes <= kDefaultSharedLimit) return;
  const DeviceInfo& device = current_device();
  if (static_shared + dynamic_shared_bytes > device.max_shared_per_block_optin)
    throw UserError(cat("kernel ", kernel_name, " needs ", static_shared, " bytes of static and ", dynamic_shared_bytes,
                        " bytes of dynamic shared memory per block, but ", device.name, " offers at most ",
                        device.max_shared_per_block_optin,
                        "; choose a tuning that needs less (a smaller tile, a larger cluster, or staging global)"));
  XENT_CU_CHECK(
      driver().cuFuncSetAttribute(function_, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, dynamic_shared_bytes));
}

void LoadedKernel::Unload::operator()(CUmod_st* module) const noexcept {
  XENT_CU_CHECK_NOEXCEPT(driver().cuModuleUnload(module));
}

void launch(const LoadedKernel& kernel, unsigned grid_x, unsigned block_x, unsigned cluster, unsigned shared_bytes,
            CUstream stream, void** params) {
  if (cluster <= 1) {
    XENT_CU_CHECK(
        driver().cuLaunchKernel(kernel.function(), grid_x, 1, 1, block_x, 1, 1, shared_bytes, stream, params, nullptr));
    return;
  }
  CUlaunchAttribute attribute{};
  attribute.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  attribute.value.clusterDim = {cluster, 1, 1};
  CUlaunchConfig config{};
  config.gridDimX = grid_x, config.gridDimY = 1, config.gridDimZ = 1;
  config.blockDimX = block_x, config.blockDimY = 1, config.blockDimZ = 1;
  config.sharedMemBytes = shared_bytes;
  config.hStream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  XENT_CU_CHECK(driver().cuLaunchKernelEx(&config, kernel.function(), params, nullptr));
}

}  // namespace xent::cuda
