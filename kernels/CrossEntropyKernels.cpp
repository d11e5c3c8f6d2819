#include "kernels/CrossEntropyKernels.h"

#include <algorithm>
#include <array>

#include "compiler/Error.h"

namespace xent {
namespace ce {
std::unique_ptr<ir::Kernel> build_count(const CrossEntropySpec& spec);
std::unique_ptr<ir::Kernel> build_stats(const CrossEntropySpec& spec);
std::unique_ptr<ir::Kernel> build_combine(const CrossEntropySpec& spec);
std::unique_ptr<ir::Kernel> build_reduce(const CrossEntropySpec& spec);
std::unique_ptr<ir::Kernel> build_backward(const CrossEntropySpec& spec);
std::unique_ptr<ir::Kernel> build_fused(const CrossEntropySpec& spec);
std::unique_ptr<ir::Kernel> build_forward(const CrossEntropySpec& spec);
std::unique_ptr<ir::Kernel> build_fused_small(const CrossEntropySpec& spec);
}  // namespace ce

namespace {
constexpr std::array<std::string_view, kKernelKinds> kNames = {
    "ce_count", "ce_stats", "ce_combine", "ce_reduce", "ce_backward", "ce_fused", "ce_forward", "ce_fused_small"};
}

std::string_view kernel_name(CrossEntropyKernel kernel) { return kNames[static_cast<size_t>(kernel)]; }

std::string kernel_names() {
  std::string names;
  for (size_t i = 0; i < kNames.size(); ++i) names += (i ? ", " : "") + std::string(kNames[i]);
  return names;
}

CrossEntropyKernel kernel_from_name(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<CrossEntropyKernel>(i);
  throw UserError(cat("kernel: unknown kernel '", name, "'; the cross-entropy kernels are ", kernel_names()));
}

bool needs_whole_vocabulary(CrossEntropyKernel kernel) {
  return kernel == CrossEntropyKernel::Forward || kernel == CrossEntropyKernel::Fused ||
         kernel == CrossEntropyKernel::FusedSmall;
}

std::vector<CrossEntropyKernel> kernels_for(const CrossEntropySpec& spec) {
  std::vector<CrossEntropyKernel> kernels;
  for (size_t i = 0; i < kKernelKinds; ++i) {
    const auto kernel = static_cast<CrossEntropyKernel>(i);
    if (spec.single_shard() || !needs_whole_vocabulary(kernel)) kernels.push_back(kernel);
  }
  return kernels;
}

namespace {

// The shared memory one program may use: the spec's (the device's), else an H100's.
int64_t shared_memory_limit(const CrossEntropySpec& spec) {
  constexpr int64_t kH100SharedMemory = 227 * 1024;
  return spec.shared_memory > 0 ? spec.shared_memory : kH100SharedMemory;
}

int64_t staged_row_bytes(const CrossEntropySpec& spec) {
  // Up to one vector more than the row: rows read from the 16-byte boundary before them (Alignment::Base).
  return (spec.vocab_shard + vector_elements(spec.dtype) - 1) * dtype_bytes(spec.dtype);
}

// Tunings that build the same code are written the same: a cluster that holds its parts in registers holds each as
// one tile (written as the row's extent), and a whole-row tile has nothing to unroll.
Tuning as_built(const CrossEntropySpec& spec, CrossEntropyKernel kernel, Tuning t) {
  const int64_t extent = row_extent(spec, kernel);
  t.block = t.cluster > 1 && t.staging != Staging::Shared ? extent : std::min(t.block, extent);
  if (t.block == extent) t.unroll = 1;
  return t;
}

// The cluster over which the fused kernel's heuristic splits a row too long for one program's shared memory, as
// `xent tune` and `xent bench` ranked them on an H100 (docs/performance.md, changes 26 and 32): the fewest programs
// (2, 4, 8 or 16) whose parts fit three to an SM's shared memory (bf16 128256: 4 programs, 2.92 ms, against 3.21 for
// one program streaming what it cannot stage; bf16 151936: 4, 3.35 ms; bf16 256000: 8, 6.02 ms; f32 256000: 16,
// 13.5 ms against 15.4 streaming), when the row splits evenly into whole vectors (parts of their own, see
// staged_part_width). 1 otherwise, for rows that fit one program, and on a GPU without clusters.
int heuristic_cluster(const CrossEntropySpec& spec) {
  if (!spec.clusters || spec.alignment != Alignment::Rows) return 1;
  if (staged_row_bytes(spec) <= max_staged_row_bytes(spec)) return 1;
  for (int cluster : {2, 4, 8, 16}) {
    const bool even = spec.vocab_shard % (int64_t{cluster} * vector_elements(spec.dtype)) == 0;
    if (even && 3 * (spec.vocab_shard * dtype_bytes(spec.dtype) / cluster) <= shared_memory_limit(spec)) return cluster;
  }
  return 1;
}

// The fused kernel with its row in shared memory. Its walks read shared memory, so the loads in flight no longer
// matter: `xent tune` on an H100 (change 19) found 256 threads of two 16-byte vectors a tile, one tile a step, within
// 2% of the best staged tuning for rows up to 100 KB (bf16 16032-50264, f32 16032), and 512 threads for longer rows
// (within 1% at bf16 65536 and 100000, f32 32000 and 50257; 256 threads lost 5-10% there). Rows past 200 KiB stream
// their rest, which wants loads in flight: 1024 threads of one vector (change 20; two vectors or two tiles a step
// spilled). Parts of clusters of 8 or 16 programs take 128 threads (change 35: f32 256000 over 16 programs 11.61 ms
// against 12.20 with 256; `xent tune`'s winner at bf16 256000 over 8 had 128 threads too).
Tuning staged_tuning(const CrossEntropySpec& spec, Tuning t) {
  if (t.cluster == 0) t.cluster = heuristic_cluster(spec);
  const int64_t bytes = staged_row_bytes(spec) / t.cluster;  // a cluster's program stages its part
  const bool streams_rest = bytes > max_staged_row_bytes(spec);
  if (t.threads == 0) t.threads = streams_rest ? 1024 : t.cluster >= 8 ? 128 : bytes > 120 * 1024 ? 512 : 256;
  if (t.block == 0) t.block = int64_t{streams_rest ? 1 : 2} * vector_elements(spec.dtype) * t.threads;
  if (t.unroll == 0) t.unroll = 1;
  t.staging = Staging::Shared;
  return as_built(spec, CrossEntropyKernel::Fused, t);
}

}  // namespace

int64_t max_staged_row_bytes(const CrossEntropySpec& spec) {
  return std::max<int64_t>(0, std::min<int64_t>(200 * 1024, shared_memory_limit(spec) - 2 * 1024));
}

int64_t staged_part_width(const CrossEntropySpec& spec, const Tuning& tuning) {
  auto round_up = [](int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; };
  const int64_t extent = row_extent(spec, CrossEntropyKernel::Fused);
  const int64_t vectors = round_up((extent + tuning.cluster - 1) / tuning.cluster, vector_elements(spec.dtype));
  const bool head = alignment_for(spec, CrossEntropyKernel::Fused) == Alignment::Base;
  if (!head && vectors * tuning.cluster == extent) return vectors;
  return round_up((extent + tuning.cluster - 1) / tuning.cluster, tuning.block);
}

bool uses_tuning(CrossEntropyKernel kernel) {
  return kernel == CrossEntropyKernel::Stats || kernel == CrossEntropyKernel::Forward ||
         kernel == CrossEntropyKernel::Backward || kernel == CrossEntropyKernel::Fused ||
         kernel == CrossEntropyKernel::FusedSmall;
}

CrossEntropyKernel row_walk_of(CrossEntropyKernel kernel) {
  return kernel == CrossEntropyKernel::FusedSmall ? CrossEntropyKernel::Fused : kernel;
}

Staging fused_staging(const CrossEntropySpec& spec) {
  if (spec.tuning.staging != Staging::Heuristic) return spec.tuning.staging;
  if (spec.tuning.cluster > 1) return Staging::Global;
  if (spec.tuning.cluster == 0 && heuristic_cluster(spec) > 1) return Staging::Shared;
  // Staged rows reached 87-98% of copy bandwidth against 62-81% streamed (docs/performance.md, change 19). Of longer
  // rows the first 200 KiB are staged (change 20: 71-93% against 68-71%), with 1024 threads, whose 64 registers have
  // no room for label smoothing's third per-lane sum: those rows stream.
  if (staged_row_bytes(spec) <= max_staged_row_bytes(spec) || spec.label_smoothing == 0) return Staging::Shared;
  return Staging::Global;
}

Tuning tuning_for(const CrossEntropySpec& spec, CrossEntropyKernel kernel) {
  kernel = row_walk_of(kernel);
  Tuning t = spec.tuning;
  if (kernel == CrossEntropyKernel::Fused && fused_staging(spec) == Staging::Shared) return staged_tuning(spec, t);
  // 1024 threads leave 64 registers a thread: enough for the two per-lane sums of a plain fused row, not for the
  // third that label smoothing adds or for fp32 rows, so those keep 512 threads (128 registers), 8 columns each.
  bool long_fused_row = kernel == CrossEntropyKernel::Fused && spec.vocab_shard > 20000;
  bool lean = spec.label_smoothing == 0 && spec.dtype != DType::F32;
  // Plain fused rows of 20000-40000 columns: `xent tune` found 256 threads with 16 columns each 13-14% faster than
  // 1024 threads at V = 32000 and 37984 (docs/performance.md, change 9).
  bool mid_fused_row = long_fused_row && lean && spec.vocab_shard < 40000;
  int threads = !long_fused_row || mid_fused_row ? 256 : lean ? 1024 : 512;
  // The statistics kernel: 128 threads won `xent tune` at seven of eight V (by up to 8% on short rows, and never lost
  // by more than 0.4%), docs/performance.md, change 11. The forward kernel walks its row the same way.
  const bool statistics_walk = kernel == CrossEntropyKernel::Stats || kernel == CrossEntropyKernel::Forward;
  if (statistics_walk) threads = 128;
  if (t.threads == 0) t.threads = threads;
  if (t.block == 0) t.block = int64_t{mid_fused_row ? 16 : 8} * threads;
  // Two tiles in flight per step: measured +1-4 points of copy bandwidth on the streaming kernels and on fused rows
  // of 50257 and 151936 columns (docs/performance.md, change 7), and since statistics fold per lane (change 13) on
  // short fused rows too (`xent tune`: 6% at V = 16032, 10% at 32000).
  if (t.unroll == 0) t.unroll = 2;
  // Only the fused kernel splits a row over a cluster; the others walk their rows alone. The statistics and forward
  // kernels may stage their row too (as deep prefetch; they read the row once), when asked; backward never does.
  if (kernel != CrossEntropyKernel::Fused || t.cluster == 0) t.cluster = 1;
  bool staged = statistics_walk && t.staging == Staging::Shared;
  t.staging = staged ? Staging::Shared : Staging::Global;
  return as_built(spec, kernel, t);
}

int64_t row_extent(const CrossEntropySpec& spec, CrossEntropyKernel kernel) {
  kernel = row_walk_of(kernel);
  bool head = alignment_for(spec, kernel) == Alignment::Base;
  return spec.vocab_shard + (head ? vector_elements(spec.dtype) - 1 : 0);
}

Alignment alignment_for(const CrossEntropySpec& spec, CrossEntropyKernel kernel) {
  kernel = row_walk_of(kernel);
  // Row heads (Alignment::Base) let a kernel read 16-byte vectors from rows that do not start on one. On an H100 at
  // V = 50257 they took forward+backward's gradient kernel from 60% to 81% of copy bandwidth, and once statistics
  // folded per 16-byte lane (change 13) the statistics kernel from 85% to 91%, and with only the first group masked
  // (change 17) the gradient kernel to 91% of forward+backward. The fused kernel did not gain from them (47% against
  // 58% before change 13, 53% against 61% after it, 60% against 61% after change 17), so it keeps plain 2-byte
  // accesses, coalesced across the warp as they are.
  // A fused kernel that stages its row copies it with cp.async, which moves 4 bytes or more: it takes row heads.
  if (spec.alignment == Alignment::Base && kernel == CrossEntropyKernel::Fused &&
      fused_staging(spec) != Staging::Shared)
    return Alignment::None;
  return spec.alignment;
}

std::unique_ptr<ir::Kernel> build_kernel(CrossEntropyKernel kernel, const CrossEntropySpec& spec) {
  spec.validate();
  if (needs_whole_vocabulary(kernel) && !spec.single_shard())
    throw UserError(cat(kernel_name(kernel), " needs the whole vocabulary on one rank (vocab_shard ", spec.vocab_shard,
                        " != vocab ", spec.vocab, "); a shard uses stats, combine and backward"));
  switch (kernel) {
    case CrossEntropyKernel::Count: return ce::build_count(spec);
    case CrossEntropyKernel::Stats: return ce::build_stats(spec);
    case CrossEntropyKernel::Forward: return ce::build_forward(spec);
    case CrossEntropyKernel::Combine: return ce::build_combine(spec);
    case CrossEntropyKernel::Reduce: return ce::build_reduce(spec);
    case CrossEntropyKernel::Backward: return ce::build_backward(spec);
    case CrossEntropyKernel::Fused: return ce::build_fused(spec);
    case CrossEntropyKernel::FusedSmall: return ce::build_fused_small(spec);
  }
  throw InternalError("build_kernel: unknown kernel");
}

passes::ConstexprBindings constexpr_bindings(const CrossEntropySpec& spec) {
  return {{"vocab", double(spec.vocab)},
          {"vocab_shard", double(spec.vocab_shard)},
          {"label_smoothing", spec.label_smoothing},
          {"z_loss", spec.z_loss},
          {"reduction", double(static_cast<int>(spec.reduction))},
          {"entropy", spec.entropy ? 1.0 : 0.0}};
}

}  // namespace xent
