// The cache key and the disk cache: key sensitivity to every field, entry round trips, damaged entries as misses,
// the memory fallback for an unusable directory, maintenance (list, verify, prune, clear) and many writers at once.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <set>
#include <thread>

#include "compiler/Error.h"
#include "runtime/cache/CacheKey.h"
#include "runtime/cache/DiskCache.h"
#include "tests/cache_test_support.h"

using namespace xent;
using namespace xent::runtime;
using xent::cache_testing::ScratchDir;
namespace fs = std::filesystem;

namespace {

CacheKey key_of(const CrossEntropySpec& spec, CrossEntropyKernel kernel = CrossEntropyKernel::Fused,
                std::string_view sm = "sm_90", Artifact artifact = Artifact::Ptx) {
  return kernel_key(artifact, spec, kernel, sm).build();
}

CacheKey simple_key(const std::string& name) { return CacheKey::Builder().field("test", name).build(); }

TEST(CacheKey, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CacheKey, EverySpecFieldChangesTheDigest) {
  using Edit = void (*)(CrossEntropySpec&);
  const std::vector<std::pair<const char*, Edit>> edits = {
      {"dtype", [](CrossEntropySpec& s) { s.dtype = DType::F16; }},
      {"labels", [](CrossEntropySpec& s) { s.label_type = LabelType::I32; }},
      {"vocab", [](CrossEntropySpec& s) { s.vocab = 50258; }},
      {"vocab_shard", [](CrossEntropySpec& s) { s.vocab_shard = 25000; }},
      {"label_smoothing", [](CrossEntropySpec& s) { s.label_smoothing = 0.1; }},
      {"label_smoothing_last_bit", [](CrossEntropySpec& s) { s.label_smoothing = std::nextafter(0.1, 1.0); }},
      {"z_loss", [](CrossEntropySpec& s) { s.z_loss = 1e-4; }},
      {"reduction", [](CrossEntropySpec& s) { s.reduction = Reduction::Sum; }},
      {"mask", [](CrossEntropySpec& s) { s.has_mask = true; }},
      {"weights", [](CrossEntropySpec& s) { s.has_weights = true; }},
      {"entropy", [](CrossEntropySpec& s) { s.entropy = true; }},
      {"in_place", [](CrossEntropySpec& s) { s.in_place = true; }},
      {"alignment", [](CrossEntropySpec& s) { s.alignment = Alignment::Base; }},
      {"threads", [](CrossEntropySpec& s) { s.tuning.threads = 256; }},
      {"block", [](CrossEntropySpec& s) { s.tuning.block = 4096; }},
  };
  CrossEntropySpec base;
  base.label_smoothing = 0.05;
  std::set<std::string> digests = {key_of(base).digest};
  for (const auto& [field, edit] : edits) {
    CrossEntropySpec spec = base;
    edit(spec);
    EXPECT_TRUE(digests.insert(key_of(spec).digest).second) << field << " does not change the key";
  }
  EXPECT_EQ(key_of(base).digest, key_of(base).digest);
}

TEST(CacheKey, KernelSmAndArtifactChangeTheDigest) {
  CrossEntropySpec spec;
  std::set<std::string> digests;
  for (CrossEntropyKernel kernel : {CrossEntropyKernel::Fused, CrossEntropyKernel::Stats, CrossEntropyKernel::Count})
    for (const char* sm : {"sm_80", "sm_90"})
      for (Artifact artifact : {Artifact::Ptx, Artifact::Cubin, Artifact::Tuning})
        EXPECT_TRUE(digests.insert(key_of(spec, kernel, sm, artifact).digest).second);
  CacheKey cubin = kernel_key(Artifact::Cubin, spec, CrossEntropyKernel::Fused, "sm_90").field("driver", 13000).build();
  EXPECT_TRUE(digests.insert(cubin.digest).second);
  EXPECT_THROW(key_of(spec, CrossEntropyKernel::Fused, "sm_75"), UserError);
}

TEST(CacheKey, HoldsEveryVersionField) {
  CacheKey key = key_of(CrossEntropySpec{});
  for (const char* field : {"kind", "xent_version", "git_commit", "xent_build", "cache_format", "llvm", "codegen_flags",
                            "kernel", "sm", "ptx_target", "spec"})
    EXPECT_TRUE(CacheKey::field_value(key.text, field).has_value()) << field << " missing from\n" << key.text;
  EXPECT_EQ(CacheKey::field_value(key.text, "spec"), CrossEntropySpec{}.canonical());
  EXPECT_EQ(CacheKey::field_value(key.text, "kernel"), "ce_fused");
  EXPECT_EQ(CacheKey::field_value(key.text, "cache_format"), std::to_string(kCacheFormatVersion));
  EXPECT_NE(build_id(), "unknown");
  EXPECT_EQ(key.digest, sha256_hex(key.text));
}

TEST(CacheKey, EveryBuilderFieldChangesTheDigest) {
  auto build = [](const char* changed) {
    CacheKey::Builder b;
    for (const char* name : {"a", "b", "c"}) b.field(name, std::string(name) == changed ? "2" : "1");
    return b.build().digest;
  };
  std::set<std::string> digests = {build(""), build("a"), build("b"), build("c")};
  EXPECT_EQ(digests.size(), 4u);
  // A value holding a line break could forge a field of its own.
  EXPECT_THROW(CacheKey::Builder().field("a", "1\nb: 2"), InternalError);
  EXPECT_THROW(CacheKey::Builder().field("a", "1").field("a", "2"), InternalError);
  EXPECT_THROW(CacheKey::Builder().field("A b", "1"), InternalError);
}

TEST(DiskCache, RoundTripAndLayout) {
  ScratchDir dir;
  DiskCache cache(dir.path() / "nested" / "cache");
  CacheKey key = simple_key("round trip");
  EXPECT_FALSE(cache.load(key, Artifact::Ptx));
  std::string payload("binary\0payload\nwith lines", 25);
  cache.store(key, Artifact::Ptx, payload);
  EXPECT_EQ(cache.load(key, Artifact::Ptx), payload);
  EXPECT_FALSE(cache.load(key, Artifact::Cubin));
  fs::path path = cache.entry_path(key, Artifact::Ptx);
  EXPECT_EQ(path, dir.path() / "nested" / "cache" / key.digest.substr(0, 2) / (key.digest + ".ptx"));
  EXPECT_TRUE(fs::is_regular_file(path));
  struct stat info;
  ASSERT_EQ(::stat((dir.path() / "nested" / "cache").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  cache.store(key, Artifact::Ptx, "");
  EXPECT_EQ(cache.load(key, Artifact::Ptx), "");
  EXPECT_TRUE(cache.writable());
}

TEST(DiskCache, DefaultDirectoryFollowsTheEnvironment) {
  const char* before = std::getenv("XENT_CACHE_DIR");
  std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  ::setenv("XENT_CACHE_DIR", "/some/where", 1);
  EXPECT_EQ(DiskCache::default_directory(), "/some/where");
  ::unsetenv("XENT_CACHE_DIR");
  EXPECT_EQ(DiskCache::default_directory().filename(), "xent");
  if (saved) ::setenv("XENT_CACHE_DIR", saved->c_str(), 1);
}

TEST(DiskCache, EveryDamageIsAMissThatRemovesTheFile) {
  ScratchDir dir;
  DiskCache cache(dir.path());
  CacheKey key = simple_key("victim"), other = simple_key("other");
  cache.store(other, Artifact::Ptx, "the other payload");
  std::string other_entry = cache_testing::read_bytes(cache.entry_path(other, Artifact::Ptx));
  for (const cache_testing::Damage& damage : cache_testing::damages()) {
    cache.store(key, Artifact::Ptx, "the good payload, long enough to be truncated");
    fs::path path = cache.entry_path(key, Artifact::Ptx);
    std::string good = cache_testing::read_bytes(path);
    cache_testing::write_bytes(path, damage.apply(good, other_entry));
    EXPECT_FALSE(cache.load(key, Artifact::Ptx)) << damage.name;
    EXPECT_FALSE(fs::exists(path)) << damage.name;
    cache.store(key, Artifact::Ptx, "fresh");
    EXPECT_EQ(cache.load(key, Artifact::Ptx), "fresh") << damage.name;
  }
  EXPECT_EQ(cache.load(other, Artifact::Ptx), "the other payload");
}

TEST(DiskCache, UnusableDirectoryFallsBackToMemoryWithOneWarning) {
  ScratchDir dir;
  fs::path blocker = dir.path() / "a-file";
  cache_testing::write_bytes(blocker, "not a directory");
  fs::path wanted = blocker / "sub";
  std::string log;
  int rc = cache_testing::run_in_child(
      [&] {
        ::setenv("XENT_CACHE_DIR", wanted.c_str(), 1);
        DiskCache first(DiskCache::default_directory()), second(DiskCache::default_directory());
        CacheKey a = simple_key("a"), b = simple_key("b");
        first.store(a, Artifact::Ptx, "payload a");
        first.store(b, Artifact::Ptx, "payload b");
        second.store(a, Artifact::Cubin, "payload c");
        bool ok = first.load(a, Artifact::Ptx) == "payload a" && first.load(b, Artifact::Ptx) == "payload b" &&
                  second.load(a, Artifact::Cubin) == "payload c" && !first.writable() && !second.writable() &&
                  first.list().empty() && first.verify().checked == 0;
        return ok ? 0 : 1;
      },
      &log);
  EXPECT_EQ(rc, 0) << log;
  size_t first_warning = log.find("warning");
  ASSERT_NE(first_warning, std::string::npos) << log;
  EXPECT_EQ(log.find("warning", first_warning + 1), std::string::npos) << "more than one warning:\n" << log;
  EXPECT_NE(log.find(wanted.string()), std::string::npos) << log;
  EXPECT_NE(log.find("XENT_CACHE_DIR"), std::string::npos) << log;
}

TEST(DiskCache, ListVerifyAndClearTouchOnlyEntries) {
  ScratchDir dir;
  DiskCache cache(dir.path());
  std::vector<CacheKey> keys = {simple_key("k0"), simple_key("k1"), simple_key("k2")};
  for (const CacheKey& key : keys) cache.store(key, Artifact::Ptx, "payload of " + key.text);
  cache.store(keys[0], Artifact::Tuning, "{}");
  cache_testing::write_bytes(dir.path() / "README", "not ours");
  fs::path stranger = cache.entry_path(keys[0], Artifact::Ptx).parent_path() / "notes.txt";
  cache_testing::write_bytes(stranger, "not ours either");

  std::vector<CacheEntryInfo> entries = cache.list();
  ASSERT_EQ(entries.size(), 4u);
  std::set<std::string> texts;
  for (const CacheEntryInfo& e : entries) {
    texts.insert(e.key_text + e.artifact);
    EXPECT_EQ(e.size, fs::file_size(e.path));
  }
  EXPECT_TRUE(texts.count(keys[1].text + "ptx") && texts.count(keys[0].text + "tuning"));

  fs::path damaged = cache.entry_path(keys[1], Artifact::Ptx);
  std::string bytes = cache_testing::read_bytes(damaged);
  cache_testing::write_bytes(damaged, cache_testing::flip_bit(bytes, bytes.size() - 1));
  // A good entry under another entry's name: its key does not hash to the name.
  fs::copy_file(cache.entry_path(keys[0], Artifact::Ptx), cache.entry_path(keys[2], Artifact::Ptx),
                fs::copy_options::overwrite_existing);
  VerifyReport report = cache.verify();
  EXPECT_EQ(report.checked, 4u);
  EXPECT_EQ(report.ok, 2u);
  ASSERT_EQ(report.removed.size(), 2u);
  EXPECT_FALSE(fs::exists(damaged));
  EXPECT_EQ(cache.verify().removed.size(), 0u);

  EXPECT_EQ(cache.clear(), 2u);
  EXPECT_TRUE(cache.list().empty());
  EXPECT_TRUE(fs::exists(dir.path() / "README"));
  EXPECT_TRUE(fs::exists(stranger));
}

TEST(DiskCache, PruneByAgeThenBySize) {
  ScratchDir dir;
  DiskCache cache(dir.path());
  auto now = fs::file_time_type::clock::now();
  std::vector<CacheKey> keys;
  for (int i = 0; i < 4; ++i) {
    keys.push_back(simple_key("k" + std::to_string(i)));
    cache.store(keys[i], Artifact::Ptx, std::string(1000, 'x'));
    fs::last_write_time(cache.entry_path(keys[i], Artifact::Ptx), now - std::chrono::hours(24 * (10 - i)));
  }
  fs::path sub = cache.entry_path(keys[0], Artifact::Ptx).parent_path();
  fs::path stale = sub / (keys[0].digest + ".ptx.tmp.1.dead"), fresh = sub / (keys[0].digest + ".ptx.tmp.2.live");
  cache_testing::write_bytes(stale, "half written");
  cache_testing::write_bytes(fresh, "being written");
  fs::last_write_time(stale, now - std::chrono::hours(2));

  // A load counts as a use: k0 becomes the most recently used entry.
  EXPECT_TRUE(cache.load(keys[0], Artifact::Ptx));
  PruneOptions age;
  age.older_than = std::chrono::hours(24 * 7 + 12);
  PruneReport by_age = cache.prune(age);
  EXPECT_EQ(by_age.removed, 3u);  // k1, k2 (9 and 8 days) and the stale temporary file
  EXPECT_EQ(by_age.kept, 2u);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_TRUE(cache.load(keys[0], Artifact::Ptx) && cache.load(keys[3], Artifact::Ptx));

  uint64_t one_entry = fs::file_size(cache.entry_path(keys[0], Artifact::Ptx));
  fs::last_write_time(cache.entry_path(keys[3], Artifact::Ptx), now - std::chrono::hours(1));
  PruneOptions size;
  size.max_total_bytes = one_entry;
  PruneReport by_size = cache.prune(size);
  EXPECT_EQ(by_size.removed, 1u);
  EXPECT_EQ(by_size.kept_bytes, one_entry);
  EXPECT_FALSE(cache.load(keys[3], Artifact::Ptx));
  EXPECT_TRUE(cache.load(keys[0], Artifact::Ptx));
}

// 4 processes x 4 threads store and load 8 shared keys and keys of their own; every load sees nothing or the exact
// payload, and afterwards every entry is intact and no temporary file is left.
TEST(DiskCache, ManyProcessesAndThreadsAtOnce) {
  constexpr int kProcesses = 4, kThreads = 4, kOwnKeys = 20, kSharedKeys = 8;
  ScratchDir dir;
  auto payload_of = [](const CacheKey& key) {
    std::string p = key.text;
    while (p.size() < 40000) p += key.digest;
    return p;
  };
  std::vector<pid_t> children;
  for (int process = 0; process < kProcesses; ++process) {
    pid_t pid = ::fork();
    if (pid == 0) {
      DiskCache cache(dir.path());
      std::atomic<int> errors{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
          for (int i = 0; i < kOwnKeys; ++i) {
            CacheKey shared = simple_key("shared " + std::to_string(i % kSharedKeys));
            std::optional<std::string> seen = cache.load(shared, Artifact::Ptx);
            if (seen && *seen != payload_of(shared)) ++errors;
            cache.store(shared, Artifact::Ptx, payload_of(shared));
            CacheKey own = simple_key(std::to_string(process) + "/" + std::to_string(t) + "/" + std::to_string(i));
            cache.store(own, Artifact::Ptx, payload_of(own));
            if (cache.load(own, Artifact::Ptx) != payload_of(own)) ++errors;
            if (cache.load(shared, Artifact::Ptx) != payload_of(shared)) ++errors;
          }
        });
      for (std::thread& thread : threads) thread.join();
      ::_exit(errors == 0 && cache.writable() ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  DiskCache cache(dir.path());
  VerifyReport report = cache.verify();
  EXPECT_TRUE(report.removed.empty());
  EXPECT_EQ(report.checked, size_t(kSharedKeys + kProcesses * kThreads * kOwnKeys));
  EXPECT_EQ(report.ok, report.checked);
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir.path()))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

}  // namespace
