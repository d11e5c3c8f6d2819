#include "runtime/collective/NcclCollective.h"

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "runtime/collective/NcclLibrary.h"
#include "runtime/cuda/Context.h"
#include "xent/xent.h"

namespace xent {
namespace {

static_assert(sizeof(ncclUniqueId) == kNcclUniqueIdBytes && kNcclUniqueIdBytes == XENT_NCCL_UNIQUE_ID_BYTES);

ncclComm_t comm_of(void* comm) { return static_cast<ncclComm_t>(comm); }

}  // namespace

NcclCollective::NcclCollective(void* comm, bool owned) : comm_(comm), owned_(owned) {
  const nccl::Library& l = nccl::library();
  XENT_NCCL_CHECK(l.ncclCommUserRank(comm_of(comm_), &rank_));
  XENT_NCCL_CHECK(l.ncclCommCount(comm_of(comm_), &world_));
}

std::unique_ptr<NcclCollective> NcclCollective::adopt(void* comm) {
  if (!comm) throw UserError("nccl_comm: null pointer; pass an initialized ncclComm_t");
  nccl::library();
  return std::unique_ptr<NcclCollective>(new NcclCollective(comm, false));
}

std::unique_ptr<NcclCollective> NcclCollective::create(const void* unique_id, int rank, int world) {
  if (!unique_id) throw UserError("unique_id: null pointer; pass the 128 bytes of xent_nccl_unique_id from rank 0");
  const nccl::Library& l = nccl::library();
  cuda::ensure_context();  // NCCL works on the current device
  setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
  ncclUniqueId id;
  std::memcpy(&id, unique_id, sizeof(id));
  ncclComm_t comm = nullptr;
  XENT_NCCL_CHECK(l.ncclCommInitRank(&comm, world, id, rank));
  try {
    return std::unique_ptr<NcclCollective>(new NcclCollective(comm, true));
  } catch (...) {
    l.ncclCommDestroy(comm);
    throw;
  }
}

NcclCollective::~NcclCollective() {
  if (!owned_) return;
  if (ncclResult_t r = nccl::library().ncclCommDestroy(comm_of(comm_)); r != ncclSuccess)
    std::cerr << "xent: ncclCommDestroy failed: " << nccl::library().ncclGetErrorString(r) << "\n";
}

void NcclCollective::all_gather(CUdeviceptr send, CUdeviceptr receive, size_t bytes_per_rank, CUstream stream) {
  XENT_NCCL_CHECK(nccl::library().ncclAllGather(reinterpret_cast<const void*>(send), reinterpret_cast<void*>(receive),
                                                bytes_per_rank, ncclInt8, comm_of(comm_), stream));
}

void NcclCollective::unique_id(void* out) {
  if (!out) throw UserError("unique_id: null pointer; pass 128 bytes to receive the id");
  ncclUniqueId id;
  XENT_NCCL_CHECK(nccl::library().ncclGetUniqueId(&id));
  std::memcpy(out, &id, sizeof(id));
}

}  // namespace xent
