// A CUDA stream owned by one object, for the tools and tests that make their own (the op itself always works on the
// caller's stream): cuStreamCreate in the constructor, cuStreamDestroy in the destructor.
#pragma once

#include <cuda.h>

namespace xent::cuda {

class Stream {
 public:
  // In the current context (ensure_context()). CU_STREAM_DEFAULT synchronizes with the legacy default stream, which
  // tools/verify's GPU backend uses.
  explicit Stream(unsigned flags = CU_STREAM_DEFAULT);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  CUstream get() const { return stream_; }
  operator CUstream() const { return stream_; }
  // Waits for the work enqueued so far.
  void synchronize() const;

 private:
  CUstream stream_ = nullptr;
};

}  // namespace xent::cuda
