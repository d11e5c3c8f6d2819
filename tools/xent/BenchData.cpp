#include "tools/xent/BenchData.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/cuda/Check.h"
#include "runtime/cuda/Driver.h"

namespace xent::tools {

void fill_logits(cuda::DeviceBuffer& buffer, DType dtype, int64_t row_elements, CUstream stream) {
  const int64_t sample_rows = 64, elem = dtype_bytes(dtype);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<uint8_t> host(sample_rows * row_elements * elem);
  for (int64_t i = 0; i < sample_rows * row_elements; ++i) {
    float v = normal(rng);
    if (dtype == DType::F32)
      std::memcpy(&host[i * 4], &v, 4);
    else {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      uint16_t half = dtype == DType::BF16 ? uint16_t(bits >> 16) : uint16_t(0x3C00 | (bits & 0x3FF));
      std::memcpy(&host[i * 2], &half, 2);
    }
  }
  size_t chunk = std::min(host.size(), buffer.bytes());
  buffer.upload(host.data(), chunk);
  for (size_t at = chunk; at < buffer.bytes(); at += chunk)
    XENT_CU_CHECK(cuda::driver().cuMemcpyDtoDAsync(buffer.address() + at, buffer.address(),
                                                   std::min(chunk, buffer.bytes() - at), stream));
}

cuda::DeviceBuffer random_labels(int64_t rows, int64_t vocab) {
  std::vector<int64_t> host(rows);
  std::mt19937_64 rng(11);
  for (int64_t& y : host) y = int64_t(rng() % uint64_t(vocab));
  cuda::DeviceBuffer labels(rows * sizeof(int64_t));
  labels.upload(host);
  return labels;
}

}  // namespace xent::tools
