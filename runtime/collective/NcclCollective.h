// The NCCL collective: an existing communicator adopted from the caller (an engine's or PyTorch's; not owned), or one
// xent creates from an ncclUniqueId that rank 0 made and the caller shared (owned, destroyed with this object).
//
// Communicators xent creates keep NVLink multicast (NVLS) off unless the environment asks for it: NCCL_NVLS_ENABLE is
// set to 0 when unset, so NCCL creates no multicast objects. A 24-byte-per-row all-gather gains nothing from them, and
// some machines (and containers) refuse them. An adopted communicator keeps its owner's configuration.
#pragma once

#include <memory>

#include "runtime/collective/Collective.h"

namespace xent {

inline constexpr size_t kNcclUniqueIdBytes = 128;

class NcclCollective : public Collective {
 public:
  // `comm` is an ncclComm_t; it must outlive this object.
  static std::unique_ptr<NcclCollective> adopt(void* comm);
  // Joins rank `rank` of `world` on the calling thread's current device; blocks until every rank has joined.
  static std::unique_ptr<NcclCollective> create(const void* unique_id, int rank, int world);
  // A new ncclUniqueId (kNcclUniqueIdBytes bytes) into `out`, made on one rank and shared with the others.
  static void unique_id(void* out);
  ~NcclCollective() override;
  NcclCollective(const NcclCollective&) = delete;
  NcclCollective& operator=(const NcclCollective&) = delete;

  int rank() const override { return rank_; }
  int world() const override { return world_; }
  void all_gather(CUdeviceptr send, CUdeviceptr receive, size_t bytes_per_rank, CUstream stream) override;

 private:
  NcclCollective(void* comm, bool owned);

  void* comm_;
  bool owned_;
  int rank_ = 0, world_ = 1;
};

}  // namespace xent
