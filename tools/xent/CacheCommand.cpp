// `xent cache`: look after the disk cache of compiled kernels (runtime/cache/DiskCache.h).
//   ls       one line per entry: artefact, size, last use, kernel, SM and spec (--keys: the full key text)
//   verify   re-checks every entry as a load would and removes the bad ones (exit status 1 if there were any)
//   prune    removes entries unused for --older-than DAYS, then the least recently used beyond --max-bytes
//   clear    removes every entry
// Each prints the directory it works on first: XENT_CACHE_DIR, else ~/.cache/xent.
#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "compiler/Error.h"
#include "runtime/cache/DiskCache.h"
#include "tools/xent/Commands.h"

namespace xent::tools {
namespace {

using runtime::CacheKey;
using runtime::DiskCache;

struct CacheOptions {
  bool keys = false;
  double older_than_days = 0;
  uint64_t max_bytes = 0;
  CLI::Option* older_than = nullptr;  // to tell a flag given from its default
  CLI::Option* max_bytes_flag = nullptr;
};

std::unique_ptr<DiskCache> open_cache() {
  auto cache = std::make_unique<DiskCache>(DiskCache::default_directory());
  std::cout << "cache directory: " << cache->directory().string() << "\n";
  return cache;
}

std::string local_time(std::filesystem::file_time_type t) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(std::chrono::file_clock::to_sys(t));
  std::tm tm{};
  localtime_r(&seconds, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%d %H:%M");
  return out.str();
}

void run_ls(const CacheOptions& options) {
  uint64_t total = 0;
  std::vector<runtime::CacheEntryInfo> entries = open_cache()->list();
  for (const runtime::CacheEntryInfo& e : entries) {
    total += e.size;
    auto field = [&](const char* name) { return CacheKey::field_value(e.key_text, name).value_or("?"); };
    std::cout << std::left << std::setw(7) << e.artifact << std::right << std::setw(10) << e.size << "  "
              << local_time(e.mtime) << "  " << e.path.filename().string().substr(0, 12) << "  " << field("kernel")
              << " " << field("sm") << " " << field("spec") << "\n";
    if (options.keys) std::cout << e.key_text << "\n";
  }
  std::cout << entries.size() << " entries, " << total << " bytes\n";
}

void run_verify() {
  runtime::VerifyReport report = open_cache()->verify();
  for (const auto& [path, why] : report.removed) std::cout << "removed " << path.string() << ": " << why << "\n";
  std::cout << report.checked << " entries checked, " << report.ok << " good, " << report.removed.size()
            << " bad removed\n";
  if (!report.removed.empty()) throw CommandFailed(cat(report.removed.size(), " bad cache entries (removed)"));
}

void run_prune(const CacheOptions& options) {
  if (!*options.older_than && !*options.max_bytes_flag)
    throw UserError("cache prune: give --older-than DAYS, --max-bytes N or both");
  runtime::PruneOptions prune;
  if (*options.older_than)
    prune.older_than = std::chrono::seconds(static_cast<int64_t>(options.older_than_days * 86400));
  if (*options.max_bytes_flag) prune.max_total_bytes = options.max_bytes;
  runtime::PruneReport report = open_cache()->prune(prune);
  std::cout << "removed " << report.removed << " files (" << report.removed_bytes << " bytes), kept " << report.kept
            << " entries (" << report.kept_bytes << " bytes)\n";
}

void run_clear() {
  size_t removed = open_cache()->clear();
  std::cout << "removed " << removed << " files\n";
}

}  // namespace

void add_cache_command(CLI::App& app) {
  auto options = std::make_shared<CacheOptions>();
  CLI::App* cache = app.add_subcommand(
      "cache", "list, verify, prune or clear the disk cache of compiled kernels (XENT_CACHE_DIR, else ~/.cache/xent)");
  cache->require_subcommand(1);

  CLI::App* ls = cache->add_subcommand("ls", "list the entries: artefact, size, last use, kernel, SM and spec");
  ls->add_flag("--keys", options->keys, "also print each entry's full key text");
  ls->callback([options] { run_ls(*options); });

  cache->add_subcommand("verify", "re-check every entry (header, key, checksum) and remove the bad ones")
      ->callback(run_verify);

  CLI::App* prune = cache->add_subcommand("prune", "remove entries not used for a while, or beyond a total size");
  options->older_than = prune
                            ->add_option("--older-than", options->older_than_days,
                                         "remove entries not used for this many days (fractions allowed)")
                            ->check(CLI::NonNegativeNumber);
  options->max_bytes_flag = prune
                                ->add_option("--max-bytes", options->max_bytes,
                                             "then remove the least recently used entries until the rest fit in "
                                             "this size: bytes, or with a unit (500MB, 2GiB; K = 1024)")
                                ->transform(CLI::AsSizeValue(false));
  prune->callback([options] { run_prune(*options); });

  cache->add_subcommand("clear", "remove every entry")->callback(run_clear);
}

}  // namespace xent::tools
