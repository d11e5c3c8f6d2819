// Content-addressed keys for the disk cache (DiskCache.h): the SHA-256 of a canonical text of named fields, one
// "name: value" line each, in the order they were added. Everything that can change an artefact's bytes must be a
// field, so that a stale entry is never found again (reference/llvm19-nvptx.md B4, "For us"):
//
//   kind           ptx, cubin or tuning
//   kernel, sm     the kernel's name and the target SM
//   spec           CrossEntropySpec::canonical(), every field of the spec
//   xent_version   PROJECT_VERSION, git_commit (as of configure time, "unknown" outside a git tree) and xent_build,
//                  the GNU build id of the binary that holds this code: a rebuild with any code change, committed or
//                  not, gives new keys
//   cache_format   kCacheFormatVersion
//   llvm, ptx_target, codegen_flags   what the code generator adds (compiler/codegen/Version.h)
//   driver         cubins only: the CUDA driver version that linked them
//
// The text is kept in full: each cache entry stores it and a load compares it, so a digest collision or a misplaced
// file is a miss rather than a wrong kernel.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kernels/CrossEntropyKernels.h"
#include "kernels/CrossEntropySpec.h"

namespace xent::runtime {

// Bump when the entry layout (DiskCache.cpp) or the meaning of a payload changes; it is in every key and every header.
inline constexpr int kCacheFormatVersion = 1;

// What an entry holds. The name is the entry file's extension: <digest>.ptx.
enum class Artifact : uint8_t { Ptx, Cubin, Tuning };
std::string_view to_string(Artifact artifact);
// The artefact named `name`; nullopt for a name that is not one.
std::optional<Artifact> artifact_from_name(std::string_view name);

struct CacheKey {
  std::string text;    // the full canonical text, "name: value\n" per field
  std::string digest;  // lowercase hex SHA-256 of `text`

  class Builder {
   public:
    // Names are [a-z0-9_]+ and appear once; values are one line. Breaking either is an InternalError: keys are made
    // by xent code, never from user text verbatim.
    Builder& field(std::string_view name, std::string_view value);
    Builder& field(std::string_view name, int64_t value);
    CacheKey build() const;

   private:
    std::string text_;
  };

  // The value of field `name` in a key text; nullopt when absent.
  static std::optional<std::string> field_value(std::string_view text, std::string_view name);
};

// Lowercase hex SHA-256 of `data` (OpenSSL).
std::string sha256_hex(std::string_view data);

// The GNU build id of the binary that holds xent's code, as hex; "unknown" when it has none.
const std::string& build_id();

// A builder holding the kind and the version fields of the list above (xent_version, git_commit, xent_build,
// cache_format, llvm, codegen_flags): the start of every key.
CacheKey::Builder versioned_key(Artifact artifact);

// versioned_key plus kernel, sm, ptx_target and spec: the key of one kernel's artefact. A cubin adds its "driver"
// field before build().
CacheKey::Builder kernel_key(Artifact artifact, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                             std::string_view sm);

}  // namespace xent::runtime
