// The on-disk artefact cache: PTX, cubins and tuning results under content-addressed keys (CacheKey.h).
//
// Directory: XENT_CACHE_DIR, else ~/.cache/xent; created on the first store with mode 0700. Entries live at
// <dir>/<first 2 hex of the digest>/<digest>.<artifact>. An entry file is a short text header, then the key, then the
// payload:
//
//   xent-cache <kCacheFormatVersion>\n
//   <key bytes> <payload bytes> <sha256 of the payload, hex>\n
//   <key text><payload>
//
// and nothing after it. A load re-verifies all of it (magic, version, sizes, the key text equal to the key asked
// for, the payload checksum); any mismatch, a truncated or an unreadable file is a miss and the file is removed, so
// the caller recompiles and stores a good entry. A load that hits refreshes the file's mtime: prune's age is the time
// since last use.
//
// Writers never expose a partial entry: the entry is written to <digest>.<artifact>.tmp.<pid>.<random> in the same
// directory and rename()d into place, which is atomic, so any number of processes and threads may store and load at
// once (the last writer wins, with the same content). When the directory cannot be created or written, the cache
// keeps working from memory for this process and prints one warning per process saying how to fix it; it never throws
// to its caller. Reads from a read-only directory still hit.
//
// Maintenance (`xent cache`) touches only files of the entry and temporary forms inside two-hex-digit directories,
// so a cache directory pointed at the wrong place loses nothing else.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/cache/CacheKey.h"

namespace xent::runtime {

struct CacheEntryInfo {
  std::filesystem::path path;
  std::string artifact;  // the file's extension
  uint64_t size = 0;     // bytes on disk
  std::filesystem::file_time_type mtime;
  std::string key_text;  // as stored in the header; empty when the header cannot be read
};

struct VerifyReport {
  size_t checked = 0;
  size_t ok = 0;
  std::vector<std::pair<std::filesystem::path, std::string>> removed;  // a bad entry and what was wrong with it
};

struct PruneOptions {
  std::optional<std::chrono::seconds> older_than;  // remove entries not used for this long
  std::optional<uint64_t> max_total_bytes;         // then remove the least recently used until the rest fit
};

struct PruneReport {
  size_t removed = 0;
  uint64_t removed_bytes = 0;
  size_t kept = 0;
  uint64_t kept_bytes = 0;
};

class DiskCache {
 public:
  explicit DiskCache(std::filesystem::path directory);
  // XENT_CACHE_DIR, else $HOME/.cache/xent.
  static std::filesystem::path default_directory();

  const std::filesystem::path& directory() const { return directory_; }
  // False once a store failed and the cache fell back to memory.
  bool writable() const;

  std::optional<std::string> load(const CacheKey& key, Artifact artifact);
  // Whether an entry is there (without reading or checking it: a load may still find it damaged).
  bool contains(const CacheKey& key, Artifact artifact) const;
  void store(const CacheKey& key, Artifact artifact, std::string_view payload);

  // The path an entry has, whether or not it exists.
  std::filesystem::path entry_path(const CacheKey& key, Artifact artifact) const;

  std::vector<CacheEntryInfo> list() const;
  // Checks every entry as a load would (its key text must hash to the digest of its name); removes the bad ones.
  VerifyReport verify();
  // Also removes temporary files left by writers that died more than an hour ago.
  PruneReport prune(const PruneOptions& options);
  // Removes every entry and temporary file; returns how many files went.
  size_t clear();

 private:
  bool ensure_directory(const std::filesystem::path& dir);
  void fall_back_to_memory(const std::string& why);

  std::filesystem::path directory_;
  mutable std::mutex mutex_;
  bool writable_ = true;
  std::map<std::string, std::string> memory_;  // digest.artifact -> payload, used once not writable
};

}  // namespace xent::runtime
