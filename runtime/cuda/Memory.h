// Device memory owned by one object: cuMemAlloc in the constructor, cuMemFree in the destructor.
//
// Allocation and the copies here synchronize, so they belong off the launch path: tests, tools, and workspace an
// embedding engine allocates once. A new buffer is zero-filled and the fill has finished when the constructor returns,
// so a kernel on any stream, blocking or not, sees zeros. upload() has finished writing when it returns; download()
// first waits for all work in the context, so it sees what kernels on any stream wrote.
#pragma once

#include <cuda.h>

#include <cstddef>
#include <vector>

namespace xent::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // In the current context (ensure_context()). Zero bytes allocate nothing and give address 0.
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();

  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  CUdeviceptr address() const { return address_; }
  size_t bytes() const { return bytes_; }

  // Copy `bytes` at byte `offset` of the buffer; a range past its end is a UserError.
  void upload(const void* host, size_t bytes, size_t offset = 0);
  void download(void* host, size_t bytes, size_t offset = 0) const;

  template <typename T>
  void upload(const std::vector<T>& host) {
    upload(host.data(), host.size() * sizeof(T));
  }
  // The whole buffer as elements of T (bytes() / sizeof(T) of them).
  template <typename T>
  std::vector<T> download() const {
    std::vector<T> host(bytes_ / sizeof(T));
    download(host.data(), host.size() * sizeof(T));
    return host;
  }

 private:
  void release() noexcept;

  CUdeviceptr address_ = 0;
  size_t bytes_ = 0;
};

}  // namespace xent::cuda
