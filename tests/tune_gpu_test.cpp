// The autotuner on the GPU: a tiny sweep times its variants and finds a winner; stored, the winner is what the next
// op of the spec launches (and it computes the right numbers); XENT_TUNING=off goes back to the heuristic. Skips
// without a GPU. The test removes the result it stores, so the process's cache keeps no tuning for its tiny spec.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "runtime/CrossEntropyOp.h"
#include "runtime/Jit.h"
#include "runtime/cuda/Context.h"
#include "runtime/tuning/Autotuner.h"
#include "runtime/tuning/TunedKernels.h"
#include "tools/verify/CudaBackend.h"

using namespace xent;
using namespace xent::runtime;

namespace {

class GpuTune : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda::gpu_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  }
};

// Removes a stored tuning entry at the end of the scope.
struct RemoveEntry {
  std::filesystem::path path;
  ~RemoveEntry() { std::filesystem::remove(path); }
};

}  // namespace

TEST_F(GpuTune, ATinySweepStoresAWinnerThatTheNextOpLaunches) {
  CrossEntropySpec spec;
  spec.vocab = spec.vocab_shard = 4096;
  const CrossEntropyKernel fused = CrossEntropyKernel::Fused;
  CrossEntropySpec whole = spec;
  whole.tuning = {128, 4096};
  const Tuning heuristic = tuning_for(spec, fused), whole_row = tuning_for(whole, fused);  // as built: one tile
  ASSERT_NE(heuristic, whole_row);

  size_t built = 0, timed = 0;
  TuneRequest request{spec, {fused}, 1024, 5, {heuristic, whole_row}};
  std::vector<TuningResult> results = autotune(
      request, [&](const TuneProgress& p) { (p.phase == TuneProgress::Phase::Compiling ? built : timed) = p.done; });
  ASSERT_EQ(results.size(), 1u);
  const TuningResult& r = results[0];
  EXPECT_EQ(built, 2u);
  EXPECT_EQ(timed, 2u);
  ASSERT_EQ(r.variants.size(), 2u);
  for (const TunedVariant& v : r.variants) {
    EXPECT_TRUE(v.ran()) << to_string(v.tuning) << ": " << v.error;
    EXPECT_GT(v.ms, 0.0) << to_string(v.tuning);
  }
  EXPECT_TRUE(r.winner == heuristic || r.winner == whole_row) << to_string(r.winner);
  EXPECT_EQ(r.heuristic, heuristic);
  ASSERT_TRUE(r.heuristic_ratio());
  EXPECT_GE(*r.heuristic_ratio(), 1.0);
  EXPECT_EQ(r.rows_bucket, 1024);

  DiskCache& cache = PtxJit::instance().disk();
  const TuningDevice device = current_tuning_device();
  RemoveEntry cleanup{cache.entry_path(tuning_key(spec, fused, device, 1024), Artifact::Tuning)};
  store_tuning(cache, spec, r);
  EXPECT_EQ(load_tuning(cache, spec, fused, device, 1024), r);
  EXPECT_EQ(CrossEntropyOp(spec).kernel(fused, 1024).tuning, r.winner);

  // Whichever won, a result naming the other variant is what the next op launches, with the right numbers.
  TuningResult other = r;
  other.winner = r.winner == heuristic ? whole_row : heuristic;
  store_tuning(cache, spec, other);
  CrossEntropyOp op(spec);
  const DeviceKernel& chosen = op.kernel(fused, 1000);
  EXPECT_EQ(chosen.tuning, other.winner);
  EXPECT_EQ(chosen.threads, other.winner.threads);
  verify::ProblemOptions problem;
  problem.spec = spec;
  problem.mode = verify::Mode::Fused;
  problem.d0 = 1;
  problem.d1 = 1000;
  auto backend = verify::cuda_backend();
  verify::Verdict verdict = verify::check_against_reference(problem, verify::run_problem(problem, *backend));
  EXPECT_TRUE(verdict.ok) << verdict.str();

  ASSERT_EQ(setenv("XENT_TUNING", "off", 1), 0);
  EXPECT_EQ(CrossEntropyOp(spec).kernel(fused, 1024).tuning, heuristic);
  ASSERT_EQ(unsetenv("XENT_TUNING"), 0);
}
