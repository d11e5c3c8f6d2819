#include "runtime/cache/CacheKey.h"

#include <elf.h>
#include <link.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "compiler/Error.h"
#include "compiler/codegen/Version.h"

namespace xent::runtime {
namespace {

constexpr std::array<std::string_view, 3> kArtifactNames = {"ptx", "cubin", "tuning"};

std::string to_hex(const unsigned char* bytes, size_t size) {
  std::string hex;
  for (size_t i = 0; i < size; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02x", bytes[i]);
    hex += byte;
  }
  return hex;
}

// Finds the loaded object that contains this function and reads its NT_GNU_BUILD_ID note.
int find_build_id(dl_phdr_info* info, size_t, void* out) {
  auto self = reinterpret_cast<ElfW(Addr)>(&find_build_id);
  bool contains_self = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    ElfW(Addr) start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && self >= start && self < start + ph.p_memsz) contains_self = true;
  }
  if (!contains_self) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    auto* note = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    auto* end = note + ph.p_memsz;
    while (note + sizeof(ElfW(Nhdr)) <= end) {
      auto* header = reinterpret_cast<const ElfW(Nhdr)*>(note);
      const char* name = note + sizeof(ElfW(Nhdr));
      const auto* desc = reinterpret_cast<const unsigned char*>(name + ((header->n_namesz + 3) & ~3u));
      if (header->n_type == NT_GNU_BUILD_ID && header->n_namesz == 4 && std::string_view(name, 3) == "GNU") {
        *static_cast<std::string*>(out) = to_hex(desc, header->n_descsz);
        return 1;
      }
      note = reinterpret_cast<const char*>(desc) + ((header->n_descsz + 3) & ~3u);
    }
  }
  return 1;
}

}  // namespace

std::string_view to_string(Artifact artifact) { return kArtifactNames[static_cast<size_t>(artifact)]; }

std::optional<Artifact> artifact_from_name(std::string_view name) {
  auto it = std::find(kArtifactNames.begin(), kArtifactNames.end(), name);
  if (it == kArtifactNames.end()) return std::nullopt;
  return static_cast<Artifact>(it - kArtifactNames.begin());
}

CacheKey::Builder& CacheKey::Builder::field(std::string_view name, std::string_view value) {
  bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!name_ok) throw InternalError(cat("cache key: bad field name '", name, "'"));
  if (value.find('\n') != std::string_view::npos) throw InternalError(cat("cache key: field ", name, " spans lines"));
  if (field_value(text_, name)) throw InternalError(cat("cache key: field ", name, " given twice"));
  text_ += cat(name, ": ", value, "\n");
  return *this;
}

CacheKey::Builder& CacheKey::Builder::field(std::string_view name, int64_t value) {
  return field(name, std::to_string(value));
}

CacheKey CacheKey::Builder::build() const { return {text_, sha256_hex(text_)}; }

std::optional<std::string> CacheKey::field_value(std::string_view text, std::string_view name) {
  std::string prefix = cat(name, ": ");
  for (size_t line = 0; line < text.size();) {
    size_t end = std::min(text.find('\n', line), text.size());
    std::string_view current = text.substr(line, end - line);
    if (current.starts_with(prefix)) return std::string(current.substr(prefix.size()));
    line = end + 1;
  }
  return std::nullopt;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest;
  unsigned size = 0;
  if (!EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr))
    throw InternalError("OpenSSL EVP_Digest(sha256) failed");
  return to_hex(digest.data(), size);
}

const std::string& build_id() {
  static const std::string id = [] {
    std::string hex;
    dl_iterate_phdr(find_build_id, &hex);
    return hex.empty() ? std::string("unknown") : hex;
  }();
  return id;
}

CacheKey::Builder versioned_key(Artifact artifact) {
  CacheKey::Builder key;
  key.field("kind", to_string(artifact))
      .field("xent_version", XENT_VERSION)
      .field("git_commit", XENT_GIT_COMMIT)
      .field("xent_build", build_id())
      .field("cache_format", kCacheFormatVersion)
      .field("llvm", codegen::llvm_version())
      .field("codegen_flags", codegen::codegen_flags());
  return key;
}

CacheKey::Builder kernel_key(Artifact artifact, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                             std::string_view sm) {
  CacheKey::Builder key = versioned_key(artifact);
  key.field("kernel", kernel_name(kernel)).field("sm", sm).field("ptx_target", codegen::ptx_target(sm));
  key.field("spec", spec.canonical());
  return key;
}

}  // namespace xent::runtime
