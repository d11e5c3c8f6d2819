#include "kernels/CrossEntropySpec.h"

#include <array>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "compiler/Error.h"
#include "compiler/ir/IR.h"

namespace xent {
namespace {

constexpr std::array<const char*, 3> kDTypeNames = {"f32", "bf16", "f16"};
constexpr std::array<const char*, 2> kLabelTypeNames = {"i32", "i64"};
constexpr std::array<const char*, 3> kReductionNames = {"none", "sum", "mean"};
constexpr std::array<const char*, 3> kAlignmentNames = {"none", "base", "rows"};
constexpr std::array<const char*, 3> kStagingNames = {"heuristic", "global", "shared"};

template <typename Enum, size_t N>
Enum parse_name(const std::array<const char*, N>& names, const std::string& text, const std::string& argument) {
  std::string accepted;
  for (size_t i = 0; i < N; ++i) {
    if (text == names[i]) return static_cast<Enum>(i);
    accepted += (i ? ", " : "") + std::string(names[i]);
  }
  throw UserError(cat(argument, ": unknown value '", text, "'; use one of ", accepted));
}

}  // namespace

std::string to_string(DType d) { return kDTypeNames[static_cast<size_t>(d)]; }
std::string to_string(LabelType t) { return kLabelTypeNames[static_cast<size_t>(t)]; }
std::string to_string(Reduction r) { return kReductionNames[static_cast<size_t>(r)]; }
std::string to_string(Alignment a) { return kAlignmentNames[static_cast<size_t>(a)]; }
std::string to_string(Staging s) { return kStagingNames[static_cast<size_t>(s)]; }
DType parse_dtype(const std::string& text, const std::string& argument) {
  return parse_name<DType>(kDTypeNames, text, argument);
}
LabelType parse_label_type(const std::string& text, const std::string& argument) {
  return parse_name<LabelType>(kLabelTypeNames, text, argument);
}
Reduction parse_reduction(const std::string& text, const std::string& argument) {
  return parse_name<Reduction>(kReductionNames, text, argument);
}
Alignment parse_alignment(const std::string& text, const std::string& argument) {
  return parse_name<Alignment>(kAlignmentNames, text, argument);
}
Staging parse_staging(const std::string& text, const std::string& argument) {
  return parse_name<Staging>(kStagingNames, text, argument);
}
int dtype_bytes(DType d) { return d == DType::F32 ? 4 : 2; }
int vector_elements(DType d) { return 16 / dtype_bytes(d); }

std::string to_string(const Tuning& t) {
  return cat("threads=", t.threads, ";block=", t.block, ";unroll=", t.unroll, ";cluster=", t.cluster,
             ";staging=", to_string(t.staging));
}

void CrossEntropySpec::validate() const {
  if (vocab < 1) throw UserError(cat("vocab: must be at least 1, got ", vocab));
  if (vocab_shard < 1)
    throw UserError(cat("vocab_shard: must be at least 1, got ", vocab_shard, " (every rank holds some columns)"));
  if (vocab_shard > vocab) throw UserError(cat("vocab_shard: ", vocab_shard, " exceeds the global vocab ", vocab));
  if (vocab > (int64_t{1} << 31) - 1) throw UserError(cat("vocab: at most 2^31 - 1 columns, got ", vocab));
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw UserError(cat("label_smoothing: must be in [0, 1], got ", label_smoothing));
  if (!(z_loss >= 0.0) || std::isinf(z_loss)) throw UserError(cat("z_loss: must be finite and >= 0, got ", z_loss));
  if (shared_memory < 0) throw UserError(cat("shared_memory: must be >= 0 (0 = an H100's), got ", shared_memory));
  if (tuning.threads != 0 && (tuning.threads < 32 || tuning.threads > 1024 || tuning.threads % 32))
    throw UserError(cat("tuning.threads: must be a multiple of 32 in [32, 1024], got ", tuning.threads));
  if (tuning.block < 0) throw UserError(cat("tuning.block: must be >= 0 (0 = heuristic), got ", tuning.block));
  if (tuning.unroll < 0 || tuning.unroll > 8)
    throw UserError(cat("tuning.unroll: must be in [0, 8] (0 = heuristic), got ", tuning.unroll));
  if (tuning.cluster < 0 || tuning.cluster > ir::kMaxCluster)
    throw UserError(cat("tuning.cluster: must be in [0, ", ir::kMaxCluster, "] (0 = heuristic), got ", tuning.cluster));
}

std::string CrossEntropySpec::canonical() const {
  std::ostringstream out;
  out << std::setprecision(17) << "dtype=" << to_string(dtype) << ";labels=" << to_string(label_type)
      << ";vocab=" << vocab << ";vocab_shard=" << vocab_shard << ";label_smoothing=" << label_smoothing
      << ";z_loss=" << z_loss << ";reduction=" << to_string(reduction) << ";mask=" << has_mask
      << ";weights=" << has_weights << ";entropy=" << entropy << ";in_place=" << in_place
      << ";alignment=" << to_string(alignment) << ";shared_memory=" << shared_memory << ";clusters=" << clusters << ";"
      << to_string(tuning);
  return out.str();
}

}  // namespace xent
