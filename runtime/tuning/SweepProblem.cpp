#include "runtime/tuning/SweepProblem.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "compiler/Error.h"
#include "compiler/ir/Semantics.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Driver.h"

namespace xent::runtime {
namespace {

// Elements from one row to the next.
int64_t row_stride(const CrossEntropySpec& spec) {
  const int64_t vector = vector_elements(spec.dtype);
  if (spec.alignment != Alignment::Rows) return spec.vocab_shard;
  return (spec.vocab_shard + vector - 1) / vector * vector;
}

// `count` random logits of `dtype`, as bytes.
std::vector<uint8_t> random_logits(DType dtype, int64_t count) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const int bytes = dtype_bytes(dtype);
  std::vector<uint8_t> out(size_t(count) * bytes);
  for (int64_t i = 0; i < count; ++i) {
    float v = normal(rng);
    if (dtype == DType::F32) {
      std::memcpy(&out[i * 4], &v, 4);
    } else {
      uint16_t half = dtype == DType::BF16 ? ir::float_to_bf16_bits(v) : ir::float_to_f16_bits(v);
      std::memcpy(&out[i * 2], &half, 2);
    }
  }
  return out;
}

// Fills `buffer` by repeating `pattern` (uploaded once, then copied on the device); done when it returns.
void fill_repeating(cuda::DeviceBuffer& buffer, const std::vector<uint8_t>& pattern) {
  const size_t chunk = std::min(pattern.size(), buffer.bytes());
  buffer.upload(pattern.data(), chunk);
  for (size_t at = chunk; at < buffer.bytes(); at += chunk)
    XENT_CU_CHECK(cuda::driver().cuMemcpyDtoDAsync(buffer.address() + at, buffer.address(),
                                                   std::min(chunk, buffer.bytes() - at), nullptr));
  XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(nullptr));
}

}  // namespace

SweepProblem::SweepProblem(const CrossEntropySpec& spec, int64_t rows) {
  const int64_t stride = row_stride(spec), elements = rows * stride, sample_rows = std::min<int64_t>(rows, 64);
  logits_ = cuda::DeviceBuffer(size_t(elements) * dtype_bytes(spec.dtype));
  fill_repeating(logits_, random_logits(spec.dtype, sample_rows * stride));
  if (!spec.in_place) grad_ = cuda::DeviceBuffer(logits_.bytes());

  std::mt19937_64 rng(11);
  if (spec.label_type == LabelType::I64) {
    std::vector<int64_t> labels(rows);
    for (int64_t& y : labels) y = int64_t(rng() % uint64_t(spec.vocab));
    labels_ = cuda::DeviceBuffer(labels.size() * 8);
    labels_.upload(labels);
  } else {
    std::vector<int32_t> labels(rows);
    for (int32_t& y : labels) y = int32_t(rng() % uint64_t(spec.vocab));
    labels_ = cuda::DeviceBuffer(labels.size() * 4);
    labels_.upload(labels);
  }
  if (spec.has_mask) {
    mask_ = cuda::DeviceBuffer(rows * 4);
    mask_.upload(std::vector<int32_t>(rows, 1));
  }
  if (spec.has_weights) {
    weights_ = cuda::DeviceBuffer(rows * 4);
    weights_.upload(std::vector<float>(rows, 1.0f));
  }
  const float one = 1.0f;
  upstream_ = cuda::DeviceBuffer(4);
  upstream_.upload(&one, 4);
  workspace_ = cuda::DeviceBuffer(workspace_bytes(rows, 1));

  call_.d0 = 1;
  call_.d1 = rows;
  call_.logits = {logits_.address(), elements, stride};
  call_.grad = spec.in_place ? call_.logits : RowTensorRef{grad_.address(), elements, stride};
  call_.labels = {labels_.address(), rows, 1};
  call_.mask = {mask_.address(), rows, 1};
  call_.weights = weights_.address();
  call_.grad_output = {upstream_.address(), 0, 0};
  call_.workspace = carve_workspace(workspace_.address(), rows, 1);
  call_.tickets = call_.workspace.tickets;  // zero from the allocation on: every launch's last program zeroes it again
}

Launch SweepProblem::launch_of(const CrossEntropySpec& spec, CrossEntropyKernel kernel) const {
  std::vector<Launch> plan = kernel == CrossEntropyKernel::Fused        ? plan_fused(spec, call_, FusedCount::Launch)
                             : kernel == CrossEntropyKernel::FusedSmall ? plan_fused(spec, call_, FusedCount::InKernel)
                             : kernel == CrossEntropyKernel::Forward    ? plan_forward(spec, call_)
                             : kernel == CrossEntropyKernel::Backward   ? plan_backward(spec, call_)
                                                                        : plan_statistics(spec, call_);
  for (Launch& launch : plan)
    if (launch.kernel == kernel) return std::move(launch);
  throw InternalError(cat("SweepProblem: no ", kernel_name(kernel), " launch in its plan"));
}

}  // namespace xent::runtime
