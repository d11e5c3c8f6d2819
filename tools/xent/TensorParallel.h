// `xent run --tp W` and `xent bench --tp W`: W processes, one per GPU, joined through NCCL.
//
// The process the user starts is the parent. It checks that the machine has W GPUs, makes an ncclUniqueId through the
// NCCL library xent's runtime loads, writes it to a file in a private temporary directory, and starts W copies of the
// xent program with the user's arguments plus the hidden --tp-rank R and --tp-id-file PATH. Each copy makes device R
// current and joins the communicator from the id. The id travels in a file (0700 directory) rather than on the command
// line, where any user of the machine could read it and join the group. The parent waits for every rank: a rank that
// dies (a crash, an error exit) may leave the others blocked in a collective forever, so the parent then stops them,
// and reports each rank that did not pass, and how it ended.
//
// Every rank runs with NCCL_NVLS_ENABLE=0: never NVLink multicast (see runtime/collective/NcclCollective.h).
#pragma once

#include <cuda.h>

#include <CLI/CLI.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/collective/Collective.h"

namespace xent::tools {

struct TensorParallelOptions {
  int world = 0;        // --tp: ranks, one GPU each; 0 = not tensor parallel
  int rank = -1;        // --tp-rank (hidden): set by the parent in the processes it starts
  std::string id_file;  // --tp-id-file (hidden): where the parent wrote the NCCL unique id

  void add_to(CLI::App& command);
  bool enabled() const { return world > 0; }
  bool is_rank() const { return rank >= 0; }
};

// The parent: `xent <command> --tp W` on this machine. Throws UserError when the machine has fewer than W GPUs (or
// no usable driver, or no NCCL), CommandFailed naming every rank that did not pass. Returns when all W passed.
void launch_ranks(const std::string& command, int world);

// Runs `work`, one rank's part of a command; an error it throws names the rank (W ranks share one terminal) and keeps
// its kind (CommandFailed, UserError, other), which sets the rank's exit status.
void run_as_rank(const TensorParallelOptions& options, const std::function<void()>& work);

// A rank after join_ranks: its device is current on the calling thread, and its collective holds every rank.
struct Rank {
  int rank = 0, world = 1;
  std::shared_ptr<Collective> collective;
  std::string device;  // the GPU's name
};

// Makes device `options.rank` current and joins the NCCL communicator from the id file; blocks until every rank has
// joined. Throws UserError naming the hidden option when the parent's arguments are unusable.
Rank join_ranks(const TensorParallelOptions& options);

// Every rank's `bytes` bytes at `mine`, in rank order, into `all` (world x bytes): one small all-gather through the
// collective, then a synchronization of `stream`. How ranks compare their losses and rank 0 collects the timings.
void gather_from_ranks(Collective& collective, const void* mine, size_t bytes, void* all, CUstream stream);

template <typename T>
std::vector<T> gather_from_ranks(Collective& collective, const T& mine, CUstream stream) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::vector<T> all(collective.world());
  gather_from_ranks(collective, &mine, sizeof(T), all.data(), stream);
  return all;
}

// Writes `text` to stdout in one write(2), so that the lines of ranks printing at the same time do not interleave.
void print_whole(const std::string& text);

// "1 rank" or "all W ranks", for messages.
std::string all_ranks(int world);

}  // namespace xent::tools
