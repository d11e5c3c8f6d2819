#include "runtime/cuda/Memory.h"

#include <utility>

#include "compiler/Error.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"

namespace xent::cuda {
namespace {

void check_range(size_t offset, size_t bytes, size_t size, const char* what) {
  if (offset > size || bytes > size - offset)
    throw UserError(
        cat(what, " of ", bytes, " bytes at offset ", offset, " runs past the end of a ", size, "-byte device buffer"));
}

}  // namespace

DeviceBuffer::DeviceBuffer(size_t bytes) {
  if (bytes == 0) return;
  ensure_context();
  XENT_CU_CHECK(driver().cuMemAlloc(&address_, bytes));
  bytes_ = bytes;
  try {
    // cuMemsetD8 runs on the legacy stream, which non-blocking streams do not wait for.
    XENT_CU_CHECK(driver().cuMemsetD8(address_, 0, bytes));
    XENT_CU_CHECK(driver().cuCtxSynchronize());
  } catch (...) {
    release();
    throw;
  }
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : address_(std::exchange(other.address_, 0)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    release();
    address_ = std::exchange(other.address_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::release() noexcept {
  if (address_) XENT_CU_CHECK_NOEXCEPT(driver().cuMemFree(address_));
  address_ = 0;
  bytes_ = 0;
}

void DeviceBuffer::upload(const void* host, size_t bytes, size_t offset) {
  check_range(offset, bytes, bytes_, "an upload");
  if (bytes == 0) return;
  // From pageable memory the copy may still be in flight on the legacy stream when cuMemcpyHtoD returns.
  XENT_CU_CHECK(driver().cuMemcpyHtoD(address_ + offset, host, bytes));
  XENT_CU_CHECK(driver().cuCtxSynchronize());
}

void DeviceBuffer::download(void* host, size_t bytes, size_t offset) const {
  check_range(offset, bytes, bytes_, "a download");
  if (bytes == 0) return;
  XENT_CU_CHECK(driver().cuCtxSynchronize());
  XENT_CU_CHECK(driver().cuMemcpyDtoH(host, address_ + offset, bytes));
}

}  // namespace xent::cuda
