// NCCL, reached through dlopen like the CUDA driver (runtime/cuda/Driver.h): libxent.so never links libnccl, so it
// builds and runs everywhere, and only the one-call tensor-parallel forms need NCCL on the machine.
//
// Loading happens once per process, at first use: dlopen("libnccl.so.2") (or $XENT_NCCL_LIBRARY, for tests), then
// dlsym of the few entry points below. A missing library is an NcclUnavailable naming what to do instead.
#pragma once

#include <nccl.h>

#include <stdexcept>
#include <string>

#include "compiler/Error.h"

namespace xent::nccl {

#define XENT_NCCL_ENTRY_POINTS(X) \
  X(ncclGetVersion)               \
  X(ncclGetUniqueId)              \
  X(ncclCommInitRank)             \
  X(ncclCommDestroy)              \
  X(ncclCommCount)                \
  X(ncclCommUserRank)             \
  X(ncclAllGather)                \
  X(ncclGetErrorString)           \
  X(ncclGetLastError)

struct Library {
#define XENT_NCCL_MEMBER(name) decltype(&::name) name = nullptr;
  XENT_NCCL_ENTRY_POINTS(XENT_NCCL_MEMBER)
#undef XENT_NCCL_MEMBER
};

// NCCL cannot be loaded. A UserError: what to change is the machine, or the caller's choice of API.
class NcclUnavailable : public UserError {
 public:
  using UserError::UserError;
};

// An NCCL call failed; the message names the call, NCCL's error string and last error, and the source location.
class NcclError : public std::runtime_error {
 public:
  NcclError(ncclResult_t result, const std::string& message) : std::runtime_error(message), result_(result) {}
  ncclResult_t result() const { return result_; }

 private:
  ncclResult_t result_;
};

// The resolved table, loaded on first call; thread-safe. Throws NcclUnavailable, with the same message every time.
const Library& library();

// Whether library() would succeed; if not and `why` is given, the reason ("NCCL not available: ...").
bool available(std::string* why = nullptr);

// Throws NcclError unless `result` is ncclSuccess.
void check(ncclResult_t result, const char* call, const char* file, int line);

}  // namespace xent::nccl

#define XENT_NCCL_CHECK(expr) ::xent::nccl::check((expr), #expr, __FILE__, __LINE__)
