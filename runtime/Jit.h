// The JIT entry point for PTX (DESIGN.md, "The runtime"): spec + kernel + SM -> compiled kernel, through
//
//   in-process table -> canonical key (kernel_key) -> disk cache (Artifact::Ptx) -> compile
//
// The table is keyed by kernel, SM and the canonical spec text only: the other fields of the full key are constant
// within a process, and skipping its SHA-256 keeps a hit at a few microseconds.
// where compile is build_kernel, run_pipeline with constexpr_bindings, then compile_to_ptx. Concurrent requests for
// one key in one process compile once: the first inserts a shared future into the table and the others wait on it;
// different keys compile in parallel (compile_to_ptx builds its own LLVM context per call). A failed compile reaches
// every waiter and leaves no entry behind, so a later request tries again.
//
// On disk an entry holds what a launch needs, as JSON: {"name", "threads", "cluster", "shared_bytes",
// "dynamic_shared_bytes", "ptx"}. A kernel loaded from disk therefore has no llvm_ir and no stage timings. A payload
// that is not that JSON (an entry written before a field existed) is recompiled and overwritten.
//
// Cubins are another artefact of the same cache: a loader takes the PTX from here and stores the driver's cubin
// under kernel_key(Artifact::Cubin, ...).field("driver", ...) in disk().
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "compiler/codegen/Compile.h"
#include "kernels/CrossEntropyKernels.h"
#include "runtime/cache/DiskCache.h"

namespace xent::runtime {

struct JitCounters {
  uint64_t compiles = 0;     // kernels compiled by this instance
  uint64_t disk_hits = 0;    // kernels read from the disk cache
  uint64_t memory_hits = 0;  // requests answered by the in-process table, including waits on a compile in flight
};

class PtxJit {
 public:
  explicit PtxJit(std::shared_ptr<DiskCache> disk);
  // The process-wide JIT on DiskCache::default_directory(), created at first use.
  static PtxJit& instance();

  // The kernel compiled for `spec` and `sm` ("sm_90"). Throws UserError for an invalid spec or an unsupported SM.
  std::shared_ptr<const codegen::CompiledKernel> get(const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                                                     std::string_view sm);

  // Whether get() would answer without compiling: the kernel is in the table or its entry is on disk.
  bool holds(const CrossEntropySpec& spec, CrossEntropyKernel kernel, std::string_view sm);

  JitCounters counters() const;
  DiskCache& disk() { return *disk_; }

 private:
  using Result = std::shared_ptr<const codegen::CompiledKernel>;
  Result load_or_compile(const CacheKey& key, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                         std::string_view sm);

  std::shared_ptr<DiskCache> disk_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_future<Result>> table_;  // by kernel, SM and canonical spec
  std::atomic<uint64_t> compiles_{0}, disk_hits_{0}, memory_hits_{0};
};

}  // namespace xent::runtime
