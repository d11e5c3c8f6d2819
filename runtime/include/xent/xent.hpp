// xent's C++ API: softmax cross-entropy over (possibly vocab-sharded) logits on the GPU, with the semantics of SPEC.md.
//
// One CrossEntropy object is one configuration (dtypes, vocabulary shard, options). Its calls take device tensors and
// enqueue kernels on the caller's stream:
//
//   forward         loss, per-row statistics (world 1)                     then  backward  gradient from them
//   fused           loss and gradient in one pass, upstream scale known up front (world 1)
//   partials        this rank's partial statistics (world W)  ->  caller all-gathers Outputs::partials  ->
//   finish_forward  the loss on every rank                                 then  backward  this rank's gradient shard
//
// Or, bound to a Collective (bind), forward on world W does partials, the all-gather and finish_forward itself, on
// the caller's stream. Collectives come from nccl_collective (NCCL's libnccl.so.2, opened at first use); xent's own
// in-process one, for tests, is internal.
//
// Guarantees:
//  - No call allocates device memory or synchronizes the host, except bad_labels() and the checking mode
//    (CrossEntropyOptions::check_labels), which synchronize the stream, and the first calls (below). Everything else
//    can be captured in a CUDA graph once each kind of call has run.
//  - The first call that needs them compiles (or loads from the disk cache) the kernels for the device of the calling
//    thread's current CUDA context (the device's primary context when none is current), and allocates 256 bytes of
//    ticket counters; the object keeps them, so later calls make no driver queries but one: whether the stream of a
//    small fused call is being captured. Use one object per device.
//  - A reduced fused() of up to 512 rows is one kernel, counting its finished programs on the object's counter for
//    the stream (xent.h says more).
//  - Arguments are checked before any work: a bad one throws Error(Status::InvalidArgument) naming it and what to
//    change, and nothing has been enqueued.
//  - Objects are thread-safe: any number of threads may call one object at once.
//
// This header includes nothing of xent's internals (pimpl), only <cuda.h> for CUdeviceptr and CUstream. The C API is
// xent.h. The names differ from the kernel specification's internal ones (xent::DType, xent::Reduction, xent::Tuning),
// which live in the same namespace inside the library.
#pragma once

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace xent {

// Element types of the tensors the op reads and writes.
enum class ElementType : int { F32 = 0, BF16 = 1, F16 = 2, I32 = 3, I64 = 4 };
enum class LossReduction : int { None = 0, Sum = 1, Mean = 2 };

// Why a call failed; the C API's xent_status has the same values.
enum class Status : int {
  Ok = 0,
  InvalidArgument = 1,
  NoDriver = 2,
  Cuda = 3,
  BadLabels = 4,
  Internal = 5,
  Collective = 6
};

// Every failure of the API. InvalidArgument: the message names the argument and what to change. NoDriver: no usable
// CUDA driver (the message is the driver loader's). Cuda: a driver call failed (the message names it). BadLabels: see
// BadLabelsError. Internal: a bug in xent. Collective: NCCL is missing or one of its calls failed (the message names
// it).
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message);
  ~Error() override;
  Status status() const { return status_; }

 private:
  Status status_;
};

// The checking mode found labels outside [0, V) that are not ignore_index (on rows that are kept).
class BadLabelsError : public Error {
 public:
  BadLabelsError(int64_t count, int64_t first_row, int64_t first_label);
  ~BadLabelsError() override;
  int64_t count() const { return count_; }
  int64_t first_row() const { return first_row_; }  // in row order i = i0 * d1 + i1
  int64_t first_label() const { return first_label_; }

 private:
  int64_t count_, first_row_, first_label_;
};

// Kernel tuning; zeros let xent's heuristic choose.
struct KernelTuning {
  int threads = 0;    // threads per program: a multiple of 32 in [32, 1024]
  int64_t block = 0;  // columns per tile when streaming a row
};

// What is fixed for the life of an op.
struct CrossEntropyOptions {
  ElementType dtype = ElementType::BF16;       // logits and gradient: F32, BF16 or F16
  ElementType label_dtype = ElementType::I64;  // labels: I32 or I64
  int64_t vocab = 0;                           // V, the global vocabulary
  int64_t vocab_offset = 0;                    // this rank's first column
  int64_t vocab_shard = -1;                    // this rank's number of columns V_r; -1 = the whole vocabulary
  int rank = 0, world = 1;                     // tensor parallel: this rank of `world` (each holding a shard)
  double label_smoothing = 0.0;                // ε in [0, 1]
  double z_loss = 0.0;                         // z >= 0
  LossReduction reduction = LossReduction::Mean;
  bool has_mask = false;     // Args::mask is given
  bool has_weights = false;  // Args::weights is given
  bool entropy = false;      // forward also writes the per-row entropy
  bool in_place = false;     // the gradient overwrites the logits (Args::grad unused)
  // forward, fused and partials synchronize the stream and throw BadLabelsError when a label is out of range.
  bool check_labels = false;
  KernelTuning tuning;
};

// A device tensor of rows: element (i0, i1, j) at data + (i0 * stride0 + i1 * stride1 + j) * element size, for the
// leading shape [d0, d1] of Args. Strides are in elements and >= 0; per-row tensors have no j.
struct Rows {
  CUdeviceptr data = 0;
  int64_t stride0 = 0, stride1 = 0;
  ElementType dtype = ElementType::F32;
};

// One call's tensors. Rows are numbered i = i0 * d1 + i1; a call with d0 * d1 = 0 launches nothing and sets the loss
// to 0.
struct Args {
  int64_t d0 = 0, d1 = 1;
  Rows logits;              // [d0, d1, V_r] of options.dtype, last dimension contiguous
  Rows labels;              // [d0, d1] of options.label_dtype: global ids in [0, V), or ignore_index
  Rows mask;                // [d0, d1] I32, nonzero = keep (options.has_mask)
  CUdeviceptr weights = 0;  // d0 * d1 F32 in row order: per-row loss weights (options.has_weights)
  Rows grad;                // [d0, d1, V_r] of options.dtype: backward and fused write it (not in place)
  Rows grad_output;         // backward: F32 [d0, d1], or a scalar with strides 0, 0
  float grad_scale = 1.0f;  // fused: the upstream gradient, known up front
  int64_t ignore_index = -100;
  float num_label_tokens = -1.0f;  // `sum`'s normalizer; < 0 = not given
  CUdeviceptr workspace = 0;       // at least workspace_bytes(d0 * d1, options.world) bytes, 16-byte aligned
  size_t workspace_bytes = 0;      // its size
};

// Where the results of a call lie: device addresses inside Args::workspace, valid until the next call with it.
struct Outputs {
  CUdeviceptr loss = 0;        // 1 F32: the reduced loss (sum and mean reductions)
  CUdeviceptr row_loss = 0;    // rows F32: weight_i * loss_i (NaN for out-of-range labels, 0 for rows not kept)
  CUdeviceptr lse = 0;         // rows F32: log-sum-exp of each row
  CUdeviceptr logprob = 0;     // rows F32: log-probability of the label (forward, finish_forward)
  CUdeviceptr entropy = 0;     // rows F32 (forward, finish_forward, with options.entropy)
  CUdeviceptr scale = 0;       // 1 F32: the reduction's factor applied to every row (1 / valid rows for mean)
  CUdeviceptr bad_labels = 0;  // 1 I32: the out-of-range label count of the last forward, fused or partials
  // The partials of every rank: rank r's slice, which partials() writes, is partials_rank_bytes long at
  // partials + r * partials_rank_bytes. Before finish_forward, the caller all-gathers the slices into this region.
  CUdeviceptr partials = 0;
  size_t partials_rank_bytes = 0;
};

// The exchange between the ranks of a sharded op (defined inside the library): NCCL, or xent's in-process one.
class Collective;

// An NCCL collective over the caller's communicator (an ncclComm_t, which must outlive every op bound to it).
std::shared_ptr<Collective> nccl_collective(void* nccl_comm);
// An NCCL collective whose communicator xent creates (and destroys with the last op bound to it): rank `rank` of
// `world`, from the 128-byte id that nccl_unique_id made on one rank. Blocks until every rank has joined; works on the
// calling thread's current CUDA device.
std::shared_ptr<Collective> nccl_collective(const void* unique_id, int rank, int world);
void nccl_unique_id(void* unique_id);

class CrossEntropy {
 public:
  // Checks the options (throws Error(InvalidArgument)); needs no GPU and compiles nothing yet.
  explicit CrossEntropy(const CrossEntropyOptions& options);
  ~CrossEntropy();
  CrossEntropy(CrossEntropy&&) noexcept;
  CrossEntropy& operator=(CrossEntropy&&) noexcept;

  const CrossEntropyOptions& options() const;

  // Binds the op to the collective of its rank (same rank and world as the options). Every rank binds together:
  // one all-gather of a small descriptor and one synchronization of `stream` check that all ranks describe the same
  // partition and problem, else Error(InvalidArgument) names the rank and the option that disagrees. Later calls make
  // no extra exchange and no host synchronization. Not concurrent with other calls on this object.
  void bind(std::shared_ptr<Collective> collective, CUstream stream = nullptr);

  // Count, statistics, loss and reduction. Unbound: one rank holding the whole vocabulary (world 1). Bound: this
  // rank's partials, the collective's all-gather of them, then finish_forward, all on `stream`; every rank calls it
  // with the same rows.
  void forward(const Args& args, CUstream stream) const;
  // The gradient from the statistics of the last forward or finish_forward on this workspace, times grad_output.
  void backward(const Args& args, CUstream stream) const;
  // One rank holding the whole vocabulary: loss and gradient in one pass, for the upstream scale args.grad_scale.
  void fused(const Args& args, CUstream stream) const;
  // Two-phase forward for callers that own their collectives: partials() writes this rank's slice of
  // Outputs::partials; the caller all-gathers the slices of every rank; finish_forward() then computes the loss.
  void partials(const Args& args, CUstream stream) const;
  void finish_forward(const Args& args, CUstream stream) const;

  Outputs outputs(const Args& args) const;
  // The out-of-range label count of the last forward, fused or partials on args.workspace. Synchronizes the stream.
  int64_t bad_labels(const Args& args, CUstream stream) const;

  // Workspace bytes for `rows` rows and `world` ranks (the partials of every rank live in it).
  static size_t workspace_bytes(int64_t rows, int world);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xent
