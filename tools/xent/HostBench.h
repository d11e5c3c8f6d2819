// The host-side figures of `xent bench --host` (see HostBench.cpp).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

namespace xent::tools {

// Prints and returns: CUDA context creation, the first call's kernel loading, and the host time per call.
nlohmann::json host_bench(int64_t vocab);

}  // namespace xent::tools
