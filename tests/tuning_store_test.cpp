// Tuning results (runtime/tuning/): their JSON, their cache key, storing, finding and listing them through
// DiskCache, and the lookup that decides which tuning an op builds, all without a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "compiler/Error.h"
#include "kernels/CrossEntropyTuning.h"
#include "runtime/tuning/TuningLookup.h"
#include "tests/cache_test_support.h"

using namespace xent;
using namespace xent::runtime;
using xent::cache_testing::ScratchDir;

namespace {

CrossEntropySpec spec_of(int64_t vocab) {
  CrossEntropySpec spec;
  spec.vocab = spec.vocab_shard = vocab;
  return spec;
}

const TuningDevice kH100{"NVIDIA H100 80GB HBM3", "sm_90"};

// A result for `kernel` of `spec` whose winner is `winner` (with the heuristic 5% slower).
TuningResult result_of(const CrossEntropySpec& spec, CrossEntropyKernel kernel, int64_t bucket, Tuning winner,
                       const TuningDevice& device = kH100) {
  CrossEntropySpec untuned = spec;
  untuned.tuning = {};
  TuningResult r;
  r.spec = untuned.canonical();
  r.kernel = kernel;
  r.device = device.name;
  r.sm = device.sm;
  r.driver = 13000;
  r.rows = r.rows_bucket = bucket;
  r.iterations = 20;
  r.heuristic = tuning_for(untuned, kernel);
  r.winner = winner;
  r.variants = {{r.heuristic, 1.05, 40, 0, ""}, {winner, 1.0, 64, 0, ""}, {{1024, 4096}, 0, 0, 0, "launch failed"}};
  return r;
}

}  // namespace

TEST(TuningResultJson, RoundTripsAndRejectsAWinnerThatDidNotRun) {
  TuningResult r = result_of(spec_of(18992), CrossEntropyKernel::Fused, 16384, {512, 18992});
  nlohmann::json j = r;
  EXPECT_EQ(nlohmann::json::parse(j.dump()).get<TuningResult>(), r);
  EXPECT_EQ(j["winner"]["ms"], 1.0);
  EXPECT_DOUBLE_EQ(j["heuristic"]["ratio"].get<double>(), 1.05);
  EXPECT_EQ(j["variants"][2]["error"], "launch failed");
  EXPECT_FALSE(j["variants"][2].contains("ms"));
  EXPECT_DOUBLE_EQ(*r.heuristic_ratio(), 1.05);

  r.variants[0] = {r.heuristic, 0, 0, 0, "build failed"};  // the heuristic did not run: no ratio
  EXPECT_FALSE(r.heuristic_ratio());
  j = r;
  EXPECT_TRUE(j["heuristic"]["ratio"].is_null());
  EXPECT_EQ(j.get<TuningResult>(), r);

  j["winner"]["tuning"] = Tuning{1024, 4096};  // a variant that failed cannot win
  EXPECT_THROW(j.get<TuningResult>(), UserError);
  j.erase("device");
  EXPECT_THROW(j.get<TuningResult>(), nlohmann::json::exception);
}

TEST(TuningKey, DiffersByDeviceBucketSpecAndKernelButNotTheSpecsTuning) {
  CrossEntropySpec spec = spec_of(18992);
  CacheKey base = tuning_key(spec, CrossEntropyKernel::Fused, kH100, 16384);
  std::set<std::string> digests = {base.digest};
  EXPECT_TRUE(
      digests.insert(tuning_key(spec, CrossEntropyKernel::Fused, {"NVIDIA H200", "sm_90"}, 16384).digest).second);
  EXPECT_TRUE(digests.insert(tuning_key(spec, CrossEntropyKernel::Fused, {kH100.name, "sm_80"}, 16384).digest).second);
  EXPECT_TRUE(digests.insert(tuning_key(spec, CrossEntropyKernel::Fused, kH100, 8192).digest).second);
  EXPECT_TRUE(digests.insert(tuning_key(spec, CrossEntropyKernel::Stats, kH100, 16384).digest).second);
  EXPECT_TRUE(digests.insert(tuning_key(spec_of(18993), CrossEntropyKernel::Fused, kH100, 16384).digest).second);
  CrossEntropySpec smoothed = spec;
  smoothed.label_smoothing = 0.1;
  EXPECT_TRUE(digests.insert(tuning_key(smoothed, CrossEntropyKernel::Fused, kH100, 16384).digest).second);

  CrossEntropySpec tuned = spec;
  tuned.tuning = {512, 4096};
  EXPECT_EQ(tuning_key(tuned, CrossEntropyKernel::Fused, kH100, 16384).text, base.text);
  EXPECT_EQ(CacheKey::field_value(base.text, "kind"), "tuning");
  EXPECT_EQ(CacheKey::field_value(base.text, "device"), kH100.name);
  EXPECT_EQ(CacheKey::field_value(base.text, "rows_bucket"), "16384");
  EXPECT_TRUE(CacheKey::field_value(base.text, "xent_build").has_value());
}

TEST(TuningKey, RowsBucketIsThePowerOfTwoAtOrAbove) {
  EXPECT_EQ(rows_bucket(0), 1);
  EXPECT_EQ(rows_bucket(1), 1);
  EXPECT_EQ(rows_bucket(1000), 1024);
  EXPECT_EQ(rows_bucket(16384), 16384);
  EXPECT_EQ(rows_bucket(16385), 32768);
  EXPECT_EQ(rows_bucket(INT64_MAX), int64_t{1} << kMaxBucketExponent);
}

TEST(TuningStore, StoresFindsAndListsAResult) {
  ScratchDir dir;
  DiskCache cache(dir.path());
  CrossEntropySpec spec = spec_of(18992);
  TuningResult r = result_of(spec, CrossEntropyKernel::Fused, 16384, {512, 18992});
  store_tuning(cache, spec, r);
  EXPECT_EQ(load_tuning(cache, spec, CrossEntropyKernel::Fused, kH100, 16384), r);
  EXPECT_FALSE(load_tuning(cache, spec, CrossEntropyKernel::Fused, kH100, 8192));
  EXPECT_FALSE(load_tuning(cache, spec, CrossEntropyKernel::Stats, kH100, 16384));
  EXPECT_FALSE(load_tuning(cache, spec, CrossEntropyKernel::Fused, {"NVIDIA A100", "sm_80"}, 16384));

  std::vector<StoredTuning> listed = list_tuning(cache);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(listed[0].current);
  EXPECT_EQ(listed[0].error, "");
  EXPECT_EQ(listed[0].result, r);

  CrossEntropySpec other = spec_of(4096);
  EXPECT_THROW(store_tuning(cache, other, r), InternalError);
}

TEST(TuningStore, ListsEntriesOfAnotherBuildAsNotCurrent) {
  ScratchDir dir;
  DiskCache cache(dir.path());
  CrossEntropySpec spec = spec_of(18992);
  TuningResult r = result_of(spec, CrossEntropyKernel::Fused, 16384, {512, 18992});
  CacheKey::Builder old;
  old.field("kind", "tuning").field("xent_version", "0.0.1").field("spec", r.spec);
  cache.store(old.build(), Artifact::Tuning, nlohmann::json(r).dump());
  cache.store(CacheKey::Builder().field("kind", "tuning").build(), Artifact::Tuning, "not json");
  std::vector<StoredTuning> listed = list_tuning(cache);
  ASSERT_EQ(listed.size(), 2u);
  int readable = 0;
  for (const StoredTuning& s : listed) {
    EXPECT_FALSE(s.current);
    if (s.error.empty()) {
      ++readable;
      EXPECT_EQ(s.result, r);
    }
  }
  EXPECT_EQ(readable, 1);
}

TEST(TuningLookup, PrefersTheStoredWinnerOfTheNearestBucketWithinTwo) {
  ScratchDir dir;
  DiskCache cache(dir.path());
  CrossEntropySpec spec = spec_of(18992);
  const Tuning winner{512, 18992};
  store_tuning(cache, spec, result_of(spec, CrossEntropyKernel::Fused, 16384, winner));
  auto chosen = [&](int64_t rows) { return stored_winner(cache, spec, CrossEntropyKernel::Fused, kH100, rows); };
  for (int64_t rows : {16384, 9000, 5000, 4096, 3000, 16385, 40000, 65536}) EXPECT_EQ(chosen(rows), winner) << rows;
  for (int64_t rows : {2048, 1, 65537, 1 << 20}) EXPECT_FALSE(chosen(rows)) << rows;

  // Of two results at the same distance, the larger bucket's.
  const Tuning small{256, 2048}, large{1024, 18992};
  store_tuning(cache, spec, result_of(spec, CrossEntropyKernel::Fused, 1024, small));
  store_tuning(cache, spec, result_of(spec, CrossEntropyKernel::Fused, 4096, large));
  EXPECT_EQ(chosen(2048), large);
  EXPECT_EQ(chosen(1024), small);

  // Nothing for another device, another kernel, a spec with its own tuning.
  EXPECT_FALSE(stored_winner(cache, spec, CrossEntropyKernel::Fused, {"NVIDIA A100", "sm_80"}, 16384));
  EXPECT_FALSE(stored_winner(cache, spec, CrossEntropyKernel::Stats, kH100, 16384));
  EXPECT_FALSE(stored_winner(cache, spec, CrossEntropyKernel::Count, kH100, 16384));
  CrossEntropySpec own = spec;
  own.tuning.threads = 256;
  EXPECT_FALSE(stored_winner(cache, own, CrossEntropyKernel::Fused, kH100, 16384));
}

TEST(TuningLookup, XentTuningOffTurnsItOff) {
  ScratchDir dir;
  DiskCache cache(dir.path());
  CrossEntropySpec spec = spec_of(18992);
  store_tuning(cache, spec, result_of(spec, CrossEntropyKernel::Fused, 16384, {512, 18992}));
  ASSERT_EQ(setenv("XENT_TUNING", "off", 1), 0);
  EXPECT_FALSE(stored_winner(cache, spec, CrossEntropyKernel::Fused, kH100, 16384));
  ASSERT_EQ(setenv("XENT_TUNING", "of", 1), 0);
  try {
    stored_winner(cache, spec, CrossEntropyKernel::Fused, kH100, 16384);
    ADD_FAILURE() << "a bad XENT_TUNING was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("XENT_TUNING: unknown value 'of'; use on or off"), std::string::npos);
  }
  ASSERT_EQ(setenv("XENT_TUNING", "on", 1), 0);
  EXPECT_TRUE(stored_winner(cache, spec, CrossEntropyKernel::Fused, kH100, 16384));
  ASSERT_EQ(unsetenv("XENT_TUNING"), 0);
}

TEST(TuningLookup, IgnoresAWinnerThisBuildRejects) {
  ScratchDir dir;
  DiskCache cache(dir.path());
  CrossEntropySpec spec = spec_of(18992);
  TuningResult r = result_of(spec, CrossEntropyKernel::Fused, 16384, {33, 4096});
  store_tuning(cache, spec, r);
  EXPECT_FALSE(stored_winner(cache, spec, CrossEntropyKernel::Fused, kH100, 16384));
}
