// The PTX JIT: one compile per key under concurrent requests, disk hits across instances, damaged or foreign entries
// recompiled, errors that leave nothing behind, and the memory-only fallback. CPU only: it stops at PTX.
#include "runtime/Jit.h"

#include <gtest/gtest.h>

#include <barrier>
#include <thread>

#include "compiler/Error.h"
#include "tests/cache_test_support.h"

using namespace xent;
using namespace xent::runtime;
using xent::cache_testing::ScratchDir;
namespace fs = std::filesystem;

namespace {

CrossEntropySpec small_spec(int64_t vocab = 1000) {
  CrossEntropySpec spec;
  spec.vocab = spec.vocab_shard = vocab;
  return spec;
}

constexpr CrossEntropyKernel kFused = CrossEntropyKernel::Fused;

TEST(PtxJit, ConcurrentRequestsForOneKeyCompileOnce) {
  ScratchDir dir;
  PtxJit jit(std::make_shared<DiskCache>(dir.path()));
  constexpr int kThreads = 8;
  std::barrier start(kThreads);
  std::vector<std::shared_ptr<const codegen::CompiledKernel>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      results[t] = jit.get(small_spec(), kFused, "sm_90");
    });
  for (std::thread& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_EQ(result, results[0]);
  JitCounters c = jit.counters();
  EXPECT_EQ(c.compiles, 1u);
  EXPECT_EQ(c.memory_hits, uint64_t(kThreads - 1));
  EXPECT_EQ(c.disk_hits, 0u);
  EXPECT_EQ(results[0]->name, "ce_fused");
  EXPECT_NE(results[0]->ptx.find(".entry ce_fused"), std::string::npos);
  EXPECT_GT(results[0]->threads, 0);
}

TEST(PtxJit, DifferentKeysCompileSeparately) {
  ScratchDir dir;
  PtxJit jit(std::make_shared<DiskCache>(dir.path()));
  std::vector<std::thread> threads;
  for (int64_t vocab : {1000, 1001, 1002, 1003})
    threads.emplace_back([&, vocab] { jit.get(small_spec(vocab), kFused, "sm_90"); });
  for (std::thread& thread : threads) thread.join();
  jit.get(small_spec(1000), kFused, "sm_80");
  jit.get(small_spec(1000), CrossEntropyKernel::Count, "sm_90");
  EXPECT_EQ(jit.counters().compiles, 6u);
  EXPECT_EQ(jit.disk().list().size(), 6u);
}

TEST(PtxJit, SecondInstanceHitsTheDisk) {
  ScratchDir dir;
  PtxJit first(std::make_shared<DiskCache>(dir.path()));
  auto compiled = first.get(small_spec(), kFused, "sm_90");
  PtxJit second(std::make_shared<DiskCache>(dir.path()));
  auto loaded = second.get(small_spec(), kFused, "sm_90");
  EXPECT_EQ(second.counters().compiles, 0u);
  EXPECT_EQ(second.counters().disk_hits, 1u);
  EXPECT_EQ(loaded->ptx, compiled->ptx);
  EXPECT_EQ(loaded->name, compiled->name);
  EXPECT_EQ(loaded->threads, compiled->threads);
  EXPECT_EQ(loaded->shared_bytes, compiled->shared_bytes);
  EXPECT_EQ(second.get(small_spec(), kFused, "sm_90"), loaded);
  EXPECT_EQ(second.counters().memory_hits, 1u);
}

TEST(PtxJit, HoldsWhatItWouldAnswerWithoutCompiling) {
  ScratchDir dir;
  PtxJit first(std::make_shared<DiskCache>(dir.path()));
  EXPECT_FALSE(first.holds(small_spec(), kFused, "sm_90"));
  first.get(small_spec(), kFused, "sm_90");
  EXPECT_TRUE(first.holds(small_spec(), kFused, "sm_90"));
  EXPECT_FALSE(first.holds(small_spec(1001), kFused, "sm_90"));
  EXPECT_FALSE(first.holds(small_spec(), kFused, "sm_80"));
  EXPECT_FALSE(first.holds(small_spec(), CrossEntropyKernel::Count, "sm_90"));
  PtxJit second(std::make_shared<DiskCache>(dir.path()));
  EXPECT_TRUE(second.holds(small_spec(), kFused, "sm_90")) << "from the disk";
  EXPECT_EQ(second.counters().compiles + second.counters().disk_hits, 0u) << "holds reads nothing";
}

TEST(PtxJit, DamagedEntriesAreRecompiled) {
  ScratchDir dir;
  auto disk = std::make_shared<DiskCache>(dir.path());
  std::string ptx = PtxJit(disk).get(small_spec(), kFused, "sm_90")->ptx;
  fs::path path = disk->entry_path(kernel_key(Artifact::Ptx, small_spec(), kFused, "sm_90").build(), Artifact::Ptx);
  std::string good = cache_testing::read_bytes(path);
  PtxJit(disk).get(small_spec(2000), kFused, "sm_90");
  std::string other = cache_testing::read_bytes(
      disk->entry_path(kernel_key(Artifact::Ptx, small_spec(2000), kFused, "sm_90").build(), Artifact::Ptx));
  for (const cache_testing::Damage& damage : cache_testing::damages()) {
    cache_testing::write_bytes(path, damage.apply(good, other));
    PtxJit jit(disk);
    EXPECT_EQ(jit.get(small_spec(), kFused, "sm_90")->ptx, ptx) << damage.name;
    EXPECT_EQ(jit.counters().compiles, 1u) << damage.name;
    EXPECT_EQ(cache_testing::read_bytes(path), good) << damage.name << ": the recompile did not store a good entry";
  }
}

TEST(PtxJit, PayloadThatIsNotAKernelIsRecompiled) {
  ScratchDir dir;
  auto disk = std::make_shared<DiskCache>(dir.path());
  CacheKey key = kernel_key(Artifact::Ptx, small_spec(), kFused, "sm_90").build();
  for (const char* payload : {"not json", "{\"name\": \"ce_fused\"}", "[1, 2]", "{\"name\": 1, \"threads\": \"x\"}"}) {
    disk->store(key, Artifact::Ptx, payload);
    PtxJit jit(disk);
    EXPECT_NE(jit.get(small_spec(), kFused, "sm_90")->ptx.find(".entry ce_fused"), std::string::npos) << payload;
    EXPECT_EQ(jit.counters().compiles, 1u) << payload;
  }
  PtxJit after(disk);
  after.get(small_spec(), kFused, "sm_90");
  EXPECT_EQ(after.counters().disk_hits, 1u);
}

TEST(PtxJit, ErrorsReachTheCallerAndLeaveNothingBehind) {
  ScratchDir dir;
  PtxJit jit(std::make_shared<DiskCache>(dir.path()));
  CrossEntropySpec bad = small_spec();
  bad.vocab_shard = 500;  // ce_fused needs the whole vocabulary on one rank
  EXPECT_THROW(jit.get(bad, kFused, "sm_90"), UserError);
  EXPECT_THROW(jit.get(bad, kFused, "sm_90"), UserError);
  bad.vocab = -1;
  EXPECT_THROW(jit.get(bad, kFused, "sm_90"), UserError);
  EXPECT_THROW(jit.get(small_spec(), kFused, "sm_75"), UserError);
  EXPECT_EQ(jit.counters().compiles, 0u);
  EXPECT_TRUE(jit.disk().list().empty());
}

TEST(PtxJit, UnusableDirectoryCompilesOnceAndWarnsOnce) {
  ScratchDir dir;
  fs::path blocker = dir.path() / "a-file";
  cache_testing::write_bytes(blocker, "not a directory");
  std::string log;
  int rc = cache_testing::run_in_child(
      [&] {
        auto disk = std::make_shared<DiskCache>(blocker / "sub");
        PtxJit first(disk), second(disk);
        std::string a = first.get(small_spec(), kFused, "sm_90")->ptx;
        first.get(small_spec(1001), kFused, "sm_90");
        std::string b = second.get(small_spec(), kFused, "sm_90")->ptx;
        JitCounters c1 = first.counters(), c2 = second.counters();
        bool held = second.holds(small_spec(1001), kFused, "sm_90");  // kept in the memory fallback
        return a == b && held && c1.compiles == 2 && c2.compiles == 0 && c2.disk_hits == 1 ? 0 : 1;
      },
      &log);
  EXPECT_EQ(rc, 0) << log;
  size_t warning = log.find("warning");
  ASSERT_NE(warning, std::string::npos);
  EXPECT_EQ(log.find("warning", warning + 1), std::string::npos) << log;
}

}  // namespace
