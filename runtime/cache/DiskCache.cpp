#include "runtime/cache/DiskCache.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>

#include "compiler/Error.h"

namespace xent::runtime {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kMagic = "xent-cache ";
constexpr size_t kDigestChars = 64;
constexpr std::string_view kTemporaryMarker = ".tmp.";
constexpr std::chrono::hours kStaleTemporary{1};

std::string entry_name(std::string_view digest, Artifact artifact) { return cat(digest, ".", to_string(artifact)); }

struct Decoded {
  std::string error;  // empty when the entry is well formed
  std::string_view key_text;
  std::string_view payload;
};

std::string encode(std::string_view key_text, std::string_view payload) {
  return cat(kMagic, kCacheFormatVersion, "\n", key_text.size(), " ", payload.size(), " ", sha256_hex(payload), "\n",
             key_text, payload);
}

bool parse_size(std::string_view text, uint64_t& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

Decoded failure(std::string why) {
  Decoded d;
  d.error = std::move(why);
  return d;
}

Decoded decode(std::string_view file) {
  size_t line1 = file.find('\n');
  size_t line2 = line1 == std::string_view::npos ? line1 : file.find('\n', line1 + 1);
  if (line2 == std::string_view::npos || !file.starts_with(kMagic)) return failure("not a cache entry (no header)");
  std::string_view version = file.substr(kMagic.size(), line1 - kMagic.size());
  if (version != std::to_string(kCacheFormatVersion))
    return failure(cat("cache format ", version, ", expected ", kCacheFormatVersion));
  std::string_view sizes = file.substr(line1 + 1, line2 - line1 - 1);
  size_t space1 = sizes.find(' ');
  size_t space2 = space1 == std::string_view::npos ? space1 : sizes.find(' ', space1 + 1);
  uint64_t key_bytes = 0, payload_bytes = 0;
  if (space2 == std::string_view::npos || !parse_size(sizes.substr(0, space1), key_bytes) ||
      !parse_size(sizes.substr(space1 + 1, space2 - space1 - 1), payload_bytes))
    return failure("malformed header");
  std::string_view checksum = sizes.substr(space2 + 1);
  uint64_t body = file.size() - (line2 + 1);
  if (key_bytes > body || payload_bytes != body - key_bytes)
    return failure(cat("size mismatch: header says ", key_bytes, " + ", payload_bytes, " bytes, file holds ", body));
  Decoded d;
  d.key_text = file.substr(line2 + 1, key_bytes);
  d.payload = file.substr(line2 + 1 + key_bytes);
  if (sha256_hex(d.payload) != checksum) d.error = "payload checksum mismatch";
  return d;
}

// The whole file and its identity; false when it cannot be opened or read.
bool read_file(const fs::path& path, std::string& contents, struct stat& info) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
  if (ok) {
    contents.resize(info.st_size);
    size_t done = 0;
    while (ok && done < contents.size()) {
      ssize_t n = ::read(fd, contents.data() + done, contents.size() - done);
      if (n < 0 && errno == EINTR) continue;
      ok = n > 0;
      if (ok) done += n;
    }
  }
  ::close(fd);
  return ok;
}

// Removes `path` only if it still is the file that was read: a writer may have renamed a good entry over it since.
void remove_if_unchanged(const fs::path& path, const struct stat& read) {
  struct stat now;
  if (::stat(path.c_str(), &now) == 0 && now.st_dev == read.st_dev && now.st_ino == read.st_ino) ::unlink(path.c_str());
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(n);
  }
  return true;
}

// mkdir -p with mode 0700 for every directory it creates.
bool make_directories(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return true;
  if (errno != ENOENT || dir == dir.parent_path()) return false;
  return make_directories(dir.parent_path()) && (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST);
}

bool is_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct ScannedFile {
  fs::path path;
  std::string digest;
  std::string artifact;
  bool temporary = false;
  uint64_t size = 0;
  fs::file_time_type mtime;
};

// The entry and temporary files under `directory`; anything else is not ours and is left alone. Files that vanish
// while scanning (other processes prune or replace them) are skipped.
std::vector<ScannedFile> scan(const fs::path& directory) {
  std::vector<ScannedFile> files;
  std::error_code ec;
  for (const fs::directory_entry& sub : fs::directory_iterator(directory, ec)) {
    std::string sub_name = sub.path().filename();
    if (sub_name.size() != 2 || !is_hex(sub_name) || !sub.is_directory(ec)) continue;
    for (const fs::directory_entry& file : fs::directory_iterator(sub.path(), ec)) {
      std::string name = file.path().filename();
      size_t dot = name.find('.');
      if (dot != kDigestChars || !name.starts_with(sub_name) || !is_hex(name.substr(0, dot))) continue;
      ScannedFile f;
      f.path = file.path();
      f.digest = name.substr(0, dot);
      f.artifact = name.substr(dot + 1);
      size_t marker = f.artifact.find(kTemporaryMarker);
      f.temporary = marker != std::string::npos;
      if (f.temporary) f.artifact.resize(marker);
      if (!artifact_from_name(f.artifact) || !file.is_regular_file(ec)) continue;
      f.size = file.file_size(ec);
      if (ec) continue;
      f.mtime = file.last_write_time(ec);
      if (ec) continue;
      files.push_back(std::move(f));
    }
  }
  return files;
}

// Why `file` is not a good entry; empty when it is.
std::string check_entry(const ScannedFile& file, const std::string& contents) {
  Decoded d = decode(contents);
  if (d.error.empty() && sha256_hex(d.key_text) != file.digest) d.error = "key text does not hash to the file's name";
  return d.error;
}

}  // namespace

DiskCache::DiskCache(fs::path directory) : directory_(std::move(directory)) {}

fs::path DiskCache::default_directory() {
  if (const char* dir = std::getenv("XENT_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "xent";
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    const passwd* user = ::getpwuid(::getuid());
    home = user ? user->pw_dir : "/tmp";
  }
  return fs::path(home) / ".cache" / "xent";
}

bool DiskCache::writable() const {
  std::lock_guard lock(mutex_);
  return writable_;
}

fs::path DiskCache::entry_path(const CacheKey& key, Artifact artifact) const {
  return directory_ / key.digest.substr(0, 2) / entry_name(key.digest, artifact);
}

bool DiskCache::contains(const CacheKey& key, Artifact artifact) const {
  {
    std::lock_guard lock(mutex_);
    if (memory_.contains(entry_name(key.digest, artifact))) return true;
  }
  std::error_code error;
  return fs::exists(entry_path(key, artifact), error);
}

std::optional<std::string> DiskCache::load(const CacheKey& key, Artifact artifact) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = memory_.find(entry_name(key.digest, artifact)); it != memory_.end()) return it->second;
  }
  fs::path path = entry_path(key, artifact);
  std::string contents;
  struct stat info;
  if (!read_file(path, contents, info)) return std::nullopt;
  Decoded d = decode(contents);
  if (!d.error.empty() || d.key_text != key.text) {
    remove_if_unchanged(path, info);
    return std::nullopt;
  }
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
  return std::string(d.payload);
}

void DiskCache::store(const CacheKey& key, Artifact artifact, std::string_view payload) {
  {
    std::lock_guard lock(mutex_);
    if (!writable_) {
      memory_[entry_name(key.digest, artifact)] = payload;
      return;
    }
  }
  fs::path path = entry_path(key, artifact);
  if (!make_directories(path.parent_path())) {
    int error = errno;
    fall_back_to_memory(cat("cannot create ", path.parent_path().string(), ": ", std::strerror(error)));
    return store(key, artifact, payload);
  }
  std::random_device random;
  fs::path temporary = cat(path.string(), kTemporaryMarker, ::getpid(), ".", std::hex, random(), random());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int error = errno;
    fall_back_to_memory(cat("cannot create a file in ", path.parent_path().string(), ": ", std::strerror(error)));
    return store(key, artifact, payload);
  }
  bool written = write_all(fd, encode(key.text, payload));
  int error = errno;
  written = ::close(fd) == 0 && written;
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    error = written ? errno : error;
    ::unlink(temporary.c_str());
    fall_back_to_memory(cat("cannot write ", path.string(), ": ", std::strerror(error)));
    return store(key, artifact, payload);
  }
}

void DiskCache::fall_back_to_memory(const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    writable_ = false;
  }
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    std::cerr << "xent: warning: the kernel cache directory " << directory_ << " is not writable (" << why
              << "). Compiled kernels are kept in memory for this process only; set XENT_CACHE_DIR to a writable "
                 "directory to keep them across runs.\n";
}

std::vector<CacheEntryInfo> DiskCache::list() const {
  std::vector<CacheEntryInfo> entries;
  for (const ScannedFile& file : scan(directory_)) {
    if (file.temporary) continue;
    CacheEntryInfo info{file.path, file.artifact, file.size, file.mtime, {}};
    std::string contents;
    struct stat st;
    if (read_file(file.path, contents, st)) {
      Decoded d = decode(contents);
      if (d.error.empty()) info.key_text = d.key_text;
    }
    entries.push_back(std::move(info));
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return entries;
}

VerifyReport DiskCache::verify() {
  VerifyReport report;
  for (const ScannedFile& file : scan(directory_)) {
    if (file.temporary) continue;
    std::string contents;
    struct stat st;
    if (!read_file(file.path, contents, st)) continue;
    ++report.checked;
    std::string error = check_entry(file, contents);
    if (error.empty()) {
      ++report.ok;
    } else {
      remove_if_unchanged(file.path, st);
      report.removed.emplace_back(file.path, error);
    }
  }
  return report;
}

PruneReport DiskCache::prune(const PruneOptions& options) {
  PruneReport report;
  auto now = fs::file_time_type::clock::now();
  std::vector<ScannedFile> kept;
  auto remove = [&](const ScannedFile& file) {
    std::error_code ec;
    if (fs::remove(file.path, ec)) {
      ++report.removed;
      report.removed_bytes += file.size;
    }
  };
  for (ScannedFile& file : scan(directory_)) {
    auto age = now - file.mtime;
    if (file.temporary ? age > kStaleTemporary : options.older_than && age > *options.older_than)
      remove(file);
    else if (!file.temporary)
      kept.push_back(std::move(file));
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.mtime < b.mtime; });
  uint64_t total = 0;
  for (const ScannedFile& file : kept) total += file.size;
  for (const ScannedFile& file : kept) {
    if (options.max_total_bytes && total > *options.max_total_bytes) {
      remove(file);
      total -= file.size;
    } else {
      ++report.kept;
      report.kept_bytes += file.size;
    }
  }
  return report;
}

size_t DiskCache::clear() {
  size_t removed = 0;
  std::error_code ec;
  for (const ScannedFile& file : scan(directory_)) {
    removed += fs::remove(file.path, ec);
    fs::remove(file.path.parent_path(), ec);  // only once it is empty
  }
  return removed;
}

}  // namespace xent::runtime
