// What one cross-entropy kernel family is specialized for: the dtypes, the vocab shard, the options of SPEC.md that
// change the code (label smoothing, z-loss, reduction, mask, weights, entropy) and the tuning choices.
// Values that vary per call (row count, strides, ignore_index, the shard's vocab offset) are kernel arguments instead.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace xent {

enum class DType : uint8_t { F32, BF16, F16 };
enum class LabelType : uint8_t { I32, I64 };
enum class Reduction : uint8_t { None, Sum, Mean };

// What the caller's addresses allow for 16-byte vector accesses to the logits and the gradient.
enum class Alignment : uint8_t {
  None,  // no guarantee: element-wise accesses
  Base,  // the tensors start 16-byte aligned and the gradient has the logits' strides, but rows start anywhere (odd V,
         // e.g. 50257): each row is read from the 16-byte boundary before it, its head masked off
  Rows,  // every row starts 16-byte aligned
};

// Where the fused kernel keeps its row between the statistics walk and the gradient walk.
enum class Staging : uint8_t {
  Heuristic,  // tuning_for decides
  Global,     // the gradient walk reads the row from global memory again (from L2 while it is still there)
  Shared,     // the row is first copied into shared memory (cp.async, no registers held), and both walks read it there:
              // the logits leave DRAM once, and a program has its whole row in flight at once. Of a row past 200 KiB
              // (less on a GPU with less shared memory: shared_memory below) the first 200 KiB are staged, the rest
              // streams (and is re-read mostly from L2)
};

std::string to_string(DType d);
std::string to_string(LabelType t);
std::string to_string(Reduction r);
std::string to_string(Alignment a);
std::string to_string(Staging s);
// Parse the names above ("bf16", "i64", "mean"); throw UserError naming `argument` and the accepted names.
DType parse_dtype(const std::string& text, const std::string& argument = "dtype");
LabelType parse_label_type(const std::string& text, const std::string& argument = "label type");
Reduction parse_reduction(const std::string& text, const std::string& argument = "reduction");
Alignment parse_alignment(const std::string& text, const std::string& argument = "alignment");
Staging parse_staging(const std::string& text, const std::string& argument = "staging");
int dtype_bytes(DType d);
// Elements of `d` in one 16-byte vector, the widest access a thread makes.
int vector_elements(DType d);

// How a kernel maps onto the GPU. Zeros mean "the built-in heuristic decides" (tuning_for in CrossEntropyKernels.h).
// A new field needs a line in to_string below, in to_json/from_json (CrossEntropyTuning.cpp) and in validate();
// everything else (the autotuner, the stored results, their lookup) handles Tuning values as a whole.
struct Tuning {
  int threads = 0;    // threads per program (a multiple of 32, at most 1024)
  int64_t block = 0;  // columns per tile when streaming the row; a block >= the row's extent (row_extent in
                      // CrossEntropyKernels.h) holds the whole row as one tile
  int unroll = 0;     // tiles whose loads are in flight together per step of the walk over a row
  int cluster = 0;    // fused kernel: programs sharing a row (a thread-block cluster, sm_90), each holding its part
                      // of the row in registers so that the logits are read once; 1 = one program streams the row
  Staging staging = Staging::Heuristic;  // fused kernel: where the row (a cluster: each part) waits for its second
                                         // walk; statistics kernel: Shared stages it as a deep prefetch
  bool operator==(const Tuning&) const = default;
};

// Every field, "threads=256;block=2048": the tuning's part of CrossEntropySpec::canonical() and its name in reports.
std::string to_string(const Tuning& t);

struct CrossEntropySpec {
  DType dtype = DType::BF16;  // logits and gradient
  LabelType label_type = LabelType::I64;
  int64_t vocab = 50257;         // V: the global vocabulary, the sum of all shards
  int64_t vocab_shard = 50257;   // V_r: the columns this rank holds
  double label_smoothing = 0.0;  // ε in [0, 1]
  double z_loss = 0.0;           // z >= 0
  Reduction reduction = Reduction::Mean;
  bool has_mask = false;                  // a per-row keep mask (nonzero = keep)
  bool has_weights = false;               // per-row fp32 loss weights
  bool entropy = false;                   // forward-only: also compute the per-row entropy
  bool in_place = false;                  // the gradient overwrites the logits
  Alignment alignment = Alignment::Rows;  // what the logits' and gradient's addresses allow
  int shared_memory = 0;  // bytes of shared memory one program may use on the GPU the kernels run on (its opt-in
                          // limit; the runtime sets it from the device); 0: an H100's 227 KiB
  bool clusters = true;   // the GPU runs thread-block clusters (sm_90 on; the runtime sets it from the device): the
                          // fused kernel's heuristic may then split long rows over a cluster
  Tuning tuning;

  // Throws UserError naming the first invalid field and its accepted range.
  void validate() const;
  // A stable, complete text of every field: the spec's identity in cache keys and test names.
  std::string canonical() const;
  // True when one rank holds the whole vocabulary (the fused single-pass kernel applies).
  bool single_shard() const { return vocab_shard == vocab; }
  bool operator==(const CrossEntropySpec&) const = default;
};

}  // namespace xent
