// One rank of `xent run --tp W`.
#include <chrono>
#include <cstring>
#include <numeric>

#include "compiler/Error.h"
#include "runtime/cuda/Stream.h"
#include "tools/verify/ApiArguments.h"
#include "tools/verify/CudaBackend.h"
#include "tools/xent/Commands.h"
#include "tools/xent/RankCommands.h"

namespace xent::tools {
namespace {

// The first rank whose reduced loss or row losses differ in any bit from rank 0's, or -1.
int first_disagreeing_rank(Collective& collective, const verify::RankResult& mine, CUstream stream) {
  std::vector<float> losses = {mine.loss};
  losses.insert(losses.end(), mine.row_loss.begin(), mine.row_loss.end());
  const size_t bytes = losses.size() * sizeof(float);
  std::vector<float> all(losses.size() * collective.world());
  gather_from_ranks(collective, losses.data(), bytes, all.data(), stream);
  for (int r = 1; r < collective.world(); ++r)
    if (std::memcmp(&all[r * losses.size()], all.data(), bytes)) return r;
  return -1;
}

}  // namespace

void run_rank(verify::ProblemOptions problem, const TensorParallelOptions& tp) {
  const auto start = std::chrono::steady_clock::now();
  const Rank rank = join_ranks(tp);
  problem.shards = verify::even_shards(problem.spec.vocab, rank.world);
  auto backend = verify::cuda_backend();
  const verify::RankProblem staged = verify::stage_rank(problem, *backend, rank.rank);
  const verify::StagedRank& mine = staged.shard.ranks[0];

  // The rank's step as an engine makes it: the public API, bound to the NCCL communicator of every rank.
  cuda::Stream stream;
  CrossEntropy op(verify::api_options(mine));
  op.bind(rank.collective, stream);
  const Args args = verify::api_args(mine);
  op.forward(args, stream);
  if (problem.mode == verify::Mode::ForwardBackward) op.backward(args, stream);
  stream.synchronize();
  const verify::Outcome sharded = verify::collect_outcome(problem, *backend, staged.shard);
  const int disagreeing = first_disagreeing_rank(*rank.collective, sharded.ranks[0], stream);

  // The last collective is behind us: what follows is this rank's alone, so a failure here blocks no other rank.
  verify::ProblemOptions whole = problem;
  whole.shards.clear();
  const verify::Outcome one_gpu = verify::run_staged(whole, *backend, staged.whole);
  const verify::Verdict fp64 = verify::check_against_reference(problem, sharded);
  const verify::Verdict against_one = verify::compare_with_single(problem, sharded, one_gpu);
  const bool ok = fp64.ok && against_one.ok && disagreeing < 0;

  const int64_t offset = staged.shard.offsets[0], width = mine.width;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_whole(cat("xent run --tp ", rank.world, ", rank ", rank.rank, ": ", ok ? "PASS" : "FAIL", "\n  against fp64: ",
                  fp64.str(), "\n  against the whole vocabulary on this GPU: ", against_one.str(), "\n  ",
                  disagreeing < 0 ? cat("loss bitwise equal on ", all_ranks(rank.world))
                                  : cat("FAIL: rank ", disagreeing, "'s loss differs from rank 0's"),
                  "\n  on GPU ", rank.rank, " (", rank.device, "), columns [", offset, ", ", offset + width, ") of ",
                  problem.spec.vocab, ", ", mine.spec.canonical(), ", ", problem.d0 * problem.d1, " rows, ", seconds,
                  " s including setup and the references\n"));
  if (!ok) throw CommandFailed("the shard disagrees with the fp64 reference, the whole vocabulary or rank 0");
}

}  // namespace xent::tools
