#include "tools/verify/CudaBackend.h"

#include <list>
#include <map>
#include <string>

#include "runtime/CrossEntropyOp.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"

namespace xent::verify {
namespace {

class CudaBackend : public Backend {
 public:
  CudaBackend() { cuda::ensure_context(); }

  uint64_t allocate(size_t bytes) override { return buffers_.emplace_back(std::max<size_t>(bytes, 16)).address(); }

  void upload(uint64_t address, const void* host, size_t bytes) override {
    XENT_CU_CHECK(cuda::driver().cuMemcpyHtoD(address, host, bytes));
  }

  void download(void* host, uint64_t address, size_t bytes) override {
    XENT_CU_CHECK(cuda::driver().cuMemcpyDtoH(host, address, bytes));
  }

  void execute(const CrossEntropySpec& spec, const std::vector<Launch>& launches) override {
    auto& op = ops_[spec.canonical()];
    if (!op) op = std::make_unique<CrossEntropyOp>(spec);
    op->enqueue(launches, nullptr);
    XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(nullptr));
  }

 private:
  std::list<cuda::DeviceBuffer> buffers_;
  std::map<std::string, std::unique_ptr<CrossEntropyOp>> ops_;
};

}  // namespace

std::unique_ptr<Backend> cuda_backend() { return std::make_unique<CudaBackend>(); }

std::unique_ptr<Backend> preferred_backend(bool cpu_only, std::string& where) {
  std::string why = "asked for the CPU";
  if (!cpu_only && cuda::gpu_available(&why)) {
    auto backend = cuda_backend();
    where = cuda::current_device().name;
    return backend;
  }
  where = "the CPU interpreter (" + why + ")";
  return interpreter_backend();
}

}  // namespace xent::verify
