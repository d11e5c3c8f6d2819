// The tuning space of the cross-entropy kernels (kernels/CrossEntropyTuning.h): the candidates of each kernel, where
// a row becomes one tile, and the JSON form of a Tuning.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "compiler/Error.h"
#include "compiler/ir/Printer.h"
#include "kernels/CrossEntropyTuning.h"

using namespace xent;

namespace {

CrossEntropySpec spec_of(int64_t vocab, DType dtype = DType::BF16, Alignment alignment = Alignment::Rows) {
  CrossEntropySpec spec;
  spec.vocab = spec.vocab_shard = vocab;
  spec.dtype = dtype;
  spec.alignment = alignment;
  return spec;
}

constexpr CrossEntropyKernel kTuned[] = {CrossEntropyKernel::Stats, CrossEntropyKernel::Backward,
                                         CrossEntropyKernel::Fused};

bool contains(const std::vector<Tuning>& list, const Tuning& t) {
  return std::find(list.begin(), list.end(), t) != list.end();
}

}  // namespace

TEST(TuningCandidates, AreValidDistinctAsBuiltAndStartWithTheHeuristic) {
  for (int64_t vocab : {1000, 4096, 18992, 50257, 151936})
    for (DType dtype : {DType::BF16, DType::F32})
      for (Alignment alignment : {Alignment::Rows, Alignment::Base, Alignment::None})
        for (CrossEntropyKernel kernel : kTuned) {
          CrossEntropySpec spec = spec_of(vocab, dtype, alignment);
          std::vector<Tuning> candidates = tuning_candidates(spec, kernel);
          SCOPED_TRACE(spec.canonical() + " " + std::string(kernel_name(kernel)));
          ASSERT_FALSE(candidates.empty());
          EXPECT_EQ(candidates.front(), tuning_for(spec, kernel));
          std::set<std::string> seen;
          for (const Tuning& t : candidates) {
            EXPECT_TRUE(seen.insert(to_string(t)).second) << to_string(t) << " listed twice";
            CrossEntropySpec variant = spec;
            variant.tuning = t;
            EXPECT_NO_THROW(variant.validate()) << to_string(t);
            EXPECT_EQ(tuning_for(variant, kernel), t) << "not written as built: " << to_string(t);
            EXPECT_LE(t.block, row_extent(variant, kernel));
          }
        }
}

TEST(TuningCandidates, SweepThreadsTilesAndTheWholeRowWhenItFits) {
  CrossEntropySpec spec = spec_of(18992);
  spec.clusters = false;
  std::vector<Tuning> fused = tuning_candidates(spec, CrossEntropyKernel::Fused);
  for (int threads : {128, 256, 512, 1024})
    for (int vectors : {1, 2, 4})
      for (int unroll : {1, 2}) {
        CrossEntropySpec variant = spec;
        variant.tuning = {threads, threads * 8 * vectors, unroll, 1};
        Tuning t = tuning_for(variant, CrossEntropyKernel::Fused);  // 1024 x 4 vectors is the whole row: unroll 1
        EXPECT_TRUE(contains(fused, t)) << to_string(t);
      }
  for (int threads : {256, 512, 1024})
    for (Staging staging : {Staging::Global, Staging::Shared})
      EXPECT_TRUE(contains(fused, {threads, 18992, 1, 1, staging})) << threads;
  EXPECT_FALSE(contains(fused, {128, 18992, 1, 1, Staging::Global})) << "149 elements a thread do not fit in registers";
  // 4 thread counts x 3 tiles x 2 unrolls, less the 1024 x 4-vector pair that is the whole row, plus 3 whole rows;
  // each also with the row staged in shared memory (38 KB).
  EXPECT_EQ(fused.size(), 2 * (24u - 2u + 3u));
  for (const Tuning& t : tuning_candidates(spec, CrossEntropyKernel::Backward))
    EXPECT_EQ(t.staging, Staging::Global) << "the backward kernel reads its row once, in order";

  for (CrossEntropyKernel kernel : kTuned) {
    CrossEntropySpec wide = spec_of(151936);
    wide.clusters = false;
    for (const Tuning& t : tuning_candidates(wide, kernel)) EXPECT_LT(t.block, row_extent(wide, kernel));
  }
  // The spec's own tuning does not change the space.
  CrossEntropySpec tuned = spec;
  tuned.tuning = {64, 512};
  EXPECT_EQ(tuning_candidates(tuned, CrossEntropyKernel::Fused), fused);
}

TEST(TuningCandidates, ClustersOnlyForTheFusedKernelWhereTheDeviceHasThem) {
  CrossEntropySpec spec = spec_of(151936);
  std::vector<Tuning> fused = tuning_candidates(spec, CrossEntropyKernel::Fused);
  EXPECT_TRUE(contains(fused, {1024, 151936, 1, 8, Staging::Global}));
  EXPECT_FALSE(contains(fused, {256, 151936, 1, 2, Staging::Global}))
      << "a 75968-column part does not fit in 256 threads' registers";
  EXPECT_TRUE(contains(fused, {1024, 8192, 2, 1, Staging::Shared})) << "its first 200 KiB staged";
  CrossEntropySpec no_clusters = spec;
  no_clusters.clusters = false;
  for (const Tuning& t : tuning_candidates(no_clusters, CrossEntropyKernel::Fused)) EXPECT_EQ(t.cluster, 1);
  for (CrossEntropyKernel kernel : {CrossEntropyKernel::Stats, CrossEntropyKernel::Backward})
    for (const Tuning& t : tuning_candidates(spec, kernel)) EXPECT_EQ(t.cluster, 1) << kernel_name(kernel);
}

// Rows too long for one program's shared memory are split over a cluster whose parts stage at most 64 KiB, where the
// GPU runs clusters and the row splits evenly into whole vectors; else the first 200 KiB are staged, the rest streamed.
TEST(TuningHeuristic, SplitsLongRowsOverAClusterWhereTheGpuHasThem) {
  struct Case {
    int64_t vocab;
    DType dtype;
    Alignment alignment;
    bool clusters;
    int cluster;
    int64_t threads;
  };
  for (const Case& c : {Case{50257, DType::BF16, Alignment::Rows, true, 1, 256},
                        Case{128256, DType::BF16, Alignment::Rows, true, 4, 256},
                        Case{128256, DType::BF16, Alignment::Rows, false, 1, 1024},
                        Case{151936, DType::BF16, Alignment::Rows, true, 4, 256},
                        Case{256000, DType::BF16, Alignment::Rows, true, 8, 128},
                        Case{128256, DType::F32, Alignment::Rows, true, 8, 128},
                        Case{151936, DType::BF16, Alignment::Rows, false, 1, 1024},
                        Case{151937, DType::BF16, Alignment::Base, true, 1, 1024},
                        Case{151944, DType::BF16, Alignment::Base, true, 1, 1024},
                        Case{256000, DType::F32, Alignment::Rows, true, 16, 128}}) {
    CrossEntropySpec spec = spec_of(c.vocab, c.dtype, c.alignment);
    spec.clusters = c.clusters;
    SCOPED_TRACE(spec.canonical());
    Tuning t = tuning_for(spec, CrossEntropyKernel::Fused);
    EXPECT_EQ(t.cluster, c.cluster);
    EXPECT_EQ(t.threads, c.threads);
    EXPECT_EQ(t.staging, Staging::Shared);
    if (c.cluster > 1) {
      EXPECT_EQ(staged_part_width(spec, t) * c.cluster, c.vocab) << "parts of their own";
    }
  }
}

TEST(TuningCandidates, NoneForKernelsThatTakeNoTuning) {
  for (CrossEntropyKernel kernel : {CrossEntropyKernel::Count, CrossEntropyKernel::Combine, CrossEntropyKernel::Reduce})
    EXPECT_TRUE(tuning_candidates(spec_of(18992), kernel).empty()) << kernel_name(kernel);
}

// row_extent must agree with the row walk of the kernels: a block of exactly the extent is one tile (no loop), one
// column less is streamed (more tiles, so more loads). With Alignment::Base the row kernels but the fused one read a
// head before each row, so their extent is longer. Without a reduction, whose loop over the row losses ends the fused
// kernel, the walk is the only loop.
TEST(TuningCandidates, RowExtentIsWhereTheWalkBecomesOneTile) {
  for (Alignment alignment : {Alignment::Rows, Alignment::Base})
    for (CrossEntropyKernel kernel : kTuned) {
      CrossEntropySpec spec = spec_of(alignment == Alignment::Base ? 5001 : 5000, DType::BF16, alignment);
      spec.reduction = Reduction::None;
      int64_t extent = row_extent(spec, kernel);
      EXPECT_EQ(extent, spec.vocab_shard + (alignment_for(spec, kernel) == Alignment::Base ? 7 : 0));
      auto printed = [&](int64_t block) {
        CrossEntropySpec variant = spec;
        variant.tuning = {256, block, 1};
        return ir::print(*build_kernel(kernel, variant));
      };
      auto loads = [](const std::string& ir) {
        size_t count = 0;
        for (size_t at = ir.find(" = load "); at != std::string::npos; at = ir.find(" = load ", at + 1)) ++count;
        return count;
      };
      SCOPED_TRACE(spec.canonical() + " " + std::string(kernel_name(kernel)));
      std::string whole = printed(extent), streamed = printed(extent - 1);
      EXPECT_EQ(whole.find(" for "), std::string::npos);
      EXPECT_GT(loads(streamed), loads(whole));
    }
}

TEST(TuningJson, TuningRoundTrips) {
  Tuning t{256, 2048, 2, 1, Staging::Shared};
  nlohmann::json j = t;
  EXPECT_EQ(j.dump(), R"({"block":2048,"cluster":1,"staging":"shared","threads":256,"unroll":2})");
  EXPECT_EQ(j.get<Tuning>(), t);
  EXPECT_THROW(nlohmann::json::parse(R"({"threads":1,"block":1,"unroll":1,"cluster":1,"staging":"l2"})").get<Tuning>(),
               UserError);
  EXPECT_THROW(nlohmann::json::parse(R"({"threads":256})").get<Tuning>(), nlohmann::json::exception);
  EXPECT_THROW(nlohmann::json::parse(R"({"threads":"x","block":1})").get<Tuning>(), nlohmann::json::exception);
}
