#include "runtime/StreamTickets.h"

#include <algorithm>

#include "runtime/cuda/Check.h"
#include "runtime/cuda/Driver.h"

namespace xent::runtime {

StreamTickets::StreamTickets() : counters_(kStreams * sizeof(int32_t)) { streams_.reserve(kStreams); }

CUdeviceptr StreamTickets::zeroed(CUstream stream, CUdeviceptr spare) const {
  if (CUdeviceptr counter = own(stream)) return counter;
  XENT_CU_CHECK(cuda::driver().cuMemsetD8Async(spare, 0, sizeof(int32_t), stream));
  return spare;
}

CUdeviceptr StreamTickets::own(CUstream stream) const {
  if (stream == CU_STREAM_PER_THREAD) return 0;
  CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
  // An error here (the legacy stream queried while another stream is captured in global mode) means no counter, and
  // the memset that follows reports it.
  if (cuda::driver().cuStreamIsCapturing(stream, &capture) != CUDA_SUCCESS || capture != CU_STREAM_CAPTURE_STATUS_NONE)
    return 0;
  std::lock_guard lock(mutex_);
  auto known = std::find(streams_.begin(), streams_.end(), stream);
  if (known == streams_.end()) {
    if (streams_.size() == kStreams) return 0;
    known = streams_.insert(streams_.end(), stream);
  }
  return counters_.address() + (known - streams_.begin()) * sizeof(int32_t);
}

}  // namespace xent::runtime
