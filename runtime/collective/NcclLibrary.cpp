#include "runtime/collective/NcclLibrary.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace xent::nccl {
namespace {

struct Loaded {
  Library library;
  std::string error;  // empty when NCCL is usable
};

std::string load(Library& l) {
  const char* override_path = std::getenv("XENT_NCCL_LIBRARY");
  std::string path = override_path && *override_path ? override_path : "libnccl.so.2";
  // Never closed: function pointers into it live in a process-wide table.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return cat("NCCL not available: ", dlerror(),
               "; install NCCL (libnccl.so.2) or use the two-phase API (partials, your own all-gather, "
               "finish_forward) with your own collective");
#define XENT_NCCL_RESOLVE(name)                                                                      \
  l.name = reinterpret_cast<decltype(l.name)>(dlsym(handle, #name));                                 \
  if (!l.name)                                                                                       \
    return cat("NCCL not available: ", path, " has no ", #name, " (NCCL 2.13 or newer is needed); ", \
               "or use the two-phase API with your own collective");
  XENT_NCCL_ENTRY_POINTS(XENT_NCCL_RESOLVE)
#undef XENT_NCCL_RESOLVE
  return "";
}

const Loaded& loaded() {
  static Loaded state;
  static std::once_flag once;
  std::call_once(once, [] { state.error = load(state.library); });
  return state;
}

}  // namespace

const Library& library() {
  const Loaded& state = loaded();
  if (!state.error.empty()) throw NcclUnavailable(state.error);
  return state.library;
}

bool available(std::string* why) {
  const Loaded& state = loaded();
  if (why) *why = state.error;
  return state.error.empty();
}

void check(ncclResult_t result, const char* call, const char* file, int line) {
  if (result == ncclSuccess) return;
  const Library& l = library();
  // ncclGetLastError keeps the thread's last message whatever the communicator, so none is needed.
  const char* last = l.ncclGetLastError(nullptr);
  throw NcclError(result, cat(call, " failed: ", l.ncclGetErrorString(result), " (", last && *last ? last : "no detail",
                              ") at ", file, ":", line));
}

}  // namespace xent::nccl
