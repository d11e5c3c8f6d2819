#include "runtime/collective/InProcessCollective.h"

#include "compiler/Error.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Driver.h"

namespace xent {

void InProcessGroup::device_copy(CUdeviceptr to, CUdeviceptr from, size_t bytes, CUstream stream) {
  XENT_CU_CHECK(cuda::driver().cuMemcpyDtoDAsync(to, from, bytes, stream));
}

InProcessGroup::InProcessGroup(int world, Copy copy, std::chrono::milliseconds timeout)
    : world_(world), copy_(std::move(copy)), timeout_(timeout) {
  if (world < 1) throw UserError(cat("InProcessGroup: world must be at least 1, got ", world));
  arrivals_.resize(world);
}

int64_t InProcessGroup::rounds() const {
  std::lock_guard lock(mutex_);
  return round_;
}

void InProcessGroup::all_gather(int rank, CUdeviceptr send, CUdeviceptr receive, size_t bytes, CUstream stream) {
  std::unique_lock lock(mutex_);
  const int64_t round = round_;
  if (arrivals_[rank].present)
    throw UserError(cat("in-process all_gather: rank ", rank, " called twice in round ", round,
                        "; every rank calls once per round"));
  if (arrived_ > 0 && (bytes != bytes_ || stream != stream_))
    throw UserError(cat("in-process all_gather: rank ", rank, " passed ", bytes, " bytes per rank on stream ",
                        static_cast<void*>(stream), " but the round has ", bytes_, " bytes on stream ",
                        static_cast<void*>(stream_), "; all ranks of a group use one stream and one size"));
  arrivals_[rank] = {send, receive, true};
  bytes_ = bytes;
  stream_ = stream;
  if (++arrived_ == world_) {
    complete_round();
    if (failure_) std::rethrow_exception(failure_);
    return;
  }
  if (!released_.wait_for(lock, timeout_, [&] { return round_ != round; })) {
    std::string missing;
    for (int r = 0; r < world_; ++r)
      if (!arrivals_[r].present) missing += cat(missing.empty() ? "" : ", ", r);
    arrivals_[rank] = {};
    --arrived_;
    throw UserError(cat("in-process all_gather: rank ", rank, " waited ", timeout_.count(), " ms for rank(s) ", missing,
                        " of ", world_, "; each rank must call from its own thread"));
  }
  if (failure_) std::rethrow_exception(failure_);
}

void InProcessGroup::complete_round() {
  failure_ = nullptr;
  try {
    for (int from = 0; from < world_; ++from)
      for (int to = 0; to < world_; ++to) {
        const CUdeviceptr target = arrivals_[to].receive + from * bytes_;
        if (bytes_ > 0 && target != arrivals_[from].send) copy_(target, arrivals_[from].send, bytes_, stream_);
      }
  } catch (...) {
    failure_ = std::current_exception();
  }
  arrivals_.assign(world_, {});
  arrived_ = 0;
  ++round_;
  released_.notify_all();
}

InProcessCollective::InProcessCollective(std::shared_ptr<InProcessGroup> group, int rank)
    : group_(std::move(group)), rank_(rank) {
  if (!group_) throw UserError("InProcessCollective: null group");
  if (rank < 0 || rank >= group_->world())
    throw UserError(cat("InProcessCollective: rank must be in [0, world = ", group_->world(), "), got ", rank));
}

}  // namespace xent
