#include "runtime/cuda/Stream.h"

#include "runtime/cuda/Check.h"
#include "runtime/cuda/Driver.h"

namespace xent::cuda {

Stream::Stream(unsigned flags) { XENT_CU_CHECK(driver().cuStreamCreate(&stream_, flags)); }

Stream::~Stream() { XENT_CU_CHECK_NOEXCEPT(driver().cuStreamDestroy(stream_)); }

void Stream::synchronize() const { XENT_CU_CHECK(driver().cuStreamSynchronize(stream_)); }

}  // namespace xent::cuda
