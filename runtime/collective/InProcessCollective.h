// W ranks in one process on one GPU: the collective of tests and of single-GPU simulation of tensor parallelism (NCCL
// itself refuses two ranks on one GPU). One InProcessGroup is shared by W InProcessCollective objects, one per rank.
//
// A round of all_gather: each rank arrives with its (send, receive) and waits; the last rank to arrive performs every
// copy (every rank's slice into every rank's receive buffer) on its own stream, then releases the others. So each rank
// runs on its own thread (a one-call forward on rank 0 cannot return before rank W - 1 has computed its partials), and
// all ranks must enqueue on the same stream: the copies then follow every rank's partials on it, and every rank's
// later work follows the copies. A round whose ranks pass different streams or sizes is an error, not a race.
// A rank that waits longer than the group's timeout gets an error naming the ranks that never came.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/collective/Collective.h"

namespace xent {

class InProcessGroup {
 public:
  // How one slice moves; cuMemcpyDtoDAsync by default, host memcpy in the CPU tests of the bookkeeping.
  using Copy = std::function<void(CUdeviceptr to, CUdeviceptr from, size_t bytes, CUstream stream)>;
  static void device_copy(CUdeviceptr to, CUdeviceptr from, size_t bytes, CUstream stream);

  explicit InProcessGroup(int world, Copy copy = device_copy,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));
  int world() const { return world_; }
  int64_t rounds() const;  // completed all_gather rounds

  void all_gather(int rank, CUdeviceptr send, CUdeviceptr receive, size_t bytes_per_rank, CUstream stream);

 private:
  struct Arrival {
    CUdeviceptr send = 0, receive = 0;
    bool present = false;
  };
  void complete_round();  // the last arrival's copies; called with the lock held

  const int world_;
  const Copy copy_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::vector<Arrival> arrivals_;
  int arrived_ = 0;
  size_t bytes_ = 0;
  CUstream stream_ = nullptr;
  int64_t round_ = 0;
  std::exception_ptr failure_;  // why the last round's copies failed, rethrown on every rank of the round
};

class InProcessCollective : public Collective {
 public:
  InProcessCollective(std::shared_ptr<InProcessGroup> group, int rank);
  int rank() const override { return rank_; }
  int world() const override { return group_->world(); }
  void all_gather(CUdeviceptr send, CUdeviceptr receive, size_t bytes_per_rank, CUstream stream) override {
    group_->all_gather(rank_, send, receive, bytes_per_rank, stream);
  }

 private:
  std::shared_ptr<InProcessGroup> group_;
  int rank_;
};

}  // namespace xent
