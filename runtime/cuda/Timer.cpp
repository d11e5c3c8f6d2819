#include "runtime/cuda/Timer.h"

#include "runtime/cuda/Check.h"
#include "runtime/cuda/Driver.h"

namespace xent::cuda {

StreamTimer::StreamTimer(CUstream stream) : stream_(stream) {
  XENT_CU_CHECK(driver().cuEventCreate(&begin_, CU_EVENT_DEFAULT));
  XENT_CU_CHECK(driver().cuEventCreate(&end_, CU_EVENT_DEFAULT));
}

StreamTimer::~StreamTimer() {
  XENT_CU_CHECK_NOEXCEPT(driver().cuEventDestroy(begin_));
  XENT_CU_CHECK_NOEXCEPT(driver().cuEventDestroy(end_));
}

void StreamTimer::start() { XENT_CU_CHECK(driver().cuEventRecord(begin_, stream_)); }

float StreamTimer::stop() {
  XENT_CU_CHECK(driver().cuEventRecord(end_, stream_));
  XENT_CU_CHECK(driver().cuEventSynchronize(end_));
  float ms = 0;
  XENT_CU_CHECK(driver().cuEventElapsedTime(&ms, begin_, end_));
  return ms;
}

}  // namespace xent::cuda
