// One rank's work in `xent run --tp W` and `xent bench --tp W`, in a process the parent started (TensorParallel.h).
#pragma once

#include <string>
#include <vector>

#include "tools/verify/CrossEntropyProblem.h"
#include "tools/xent/TensorParallel.h"

namespace xent::tools {

// Joins the other ranks, runs `problem` (the global problem; this sets its shards) sharded over them through the public
// API bound to NCCL, and checks this rank's loss and gradient slice against the fp64 reference, against the whole
// vocabulary run on this rank's GPU, and its loss against every other rank's (bitwise). Prints one verdict; throws
// CommandFailed when a check fails.
void run_rank(verify::ProblemOptions problem, const TensorParallelOptions& tp);

struct TensorParallelBench {
  CrossEntropySpec spec;  // dtype, labels and options; the vocabulary is each shape's
  int64_t tokens = 16384;
  std::vector<int64_t> vocabs;
  bool backward = true;  // fwd-bwd; else fwd
  int iterations = 20;
  std::string json;
};

// Joins the other ranks; for each vocabulary, times this rank's step (forward with the NCCL exchange, then backward),
// the exchange alone, and the same step on one GPU for a vocabulary of this rank's width. Rank 0 prints a table per
// shape and writes the JSON. Throws CommandFailed when the ranks' losses differ.
void bench_rank(const TensorParallelBench& options, const TensorParallelOptions& tp);

}  // namespace xent::tools
