// GPU time of the work enqueued on a stream between start() and stop(), measured with CUDA events (the GPU's own
// clock, so host overhead between launches does not count when the stream is kept busy).
#pragma once

#include <cuda.h>

namespace xent::cuda {

class StreamTimer {
 public:
  explicit StreamTimer(CUstream stream);
  ~StreamTimer();
  StreamTimer(const StreamTimer&) = delete;
  StreamTimer& operator=(const StreamTimer&) = delete;

  void start();
  // Waits for the stream to reach the stop event; returns milliseconds since start().
  float stop();

 private:
  CUstream stream_;
  CUevent begin_ = nullptr, end_ = nullptr;
};

}  // namespace xent::cuda
