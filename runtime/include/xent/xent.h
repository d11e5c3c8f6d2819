/* xent's C API: softmax cross-entropy over (possibly vocab-sharded) logits on the GPU, with the semantics of SPEC.md.
 * For inference engines and language bindings (ctypes); the C++ API (xent.hpp) has the same model, and this header
 * mirrors its structs field by field.
 *
 * Model: a handle (xent_op) is one configuration, created from xent_options and immutable afterwards. Each call takes
 * device tensors (xent_args), a workspace the caller allocated (xent_workspace_bytes) and an explicit CUstream, and
 * enqueues kernels on that stream:
 *
 *   xent_forward         loss and per-row statistics (world 1)         then  xent_backward  the gradient
 *   xent_fused           loss and gradient in one pass (world 1)
 *   xent_partials        this rank's partial statistics (world W)  ->  the caller all-gathers the partials region of
 *                        xent_outputs  ->  xent_finish_forward  the loss  ->  xent_backward  this rank's gradient shard
 *
 * A handle made by xent_create_nccl or xent_create_nccl_from_id does the exchange itself: its xent_forward on world W
 * is the partials, NCCL's all-gather of them and the finish, on the caller's stream. NCCL (libnccl.so.2) is opened at
 * first use; without it these calls fail with XENT_ERROR_COLLECTIVE and the two-phase form still works.
 *
 * Rules:
 *  - Every function returns an xent_status; on failure, xent_last_error() gives the message, which names the argument
 *    and what to change. No C++ exception crosses this boundary.
 *  - Arguments are checked before any work and before the CUDA driver is touched: XENT_ERROR_INVALID_ARGUMENT means
 *    nothing was enqueued.
 *  - No call allocates device memory or synchronizes the host, except xent_bad_labels and the checking mode
 *    (xent_options.check_labels), which synchronize the stream, and the first calls (below); the rest can be captured
 *    in a CUDA graph once each kind of call has run.
 *  - The first call that needs them compiles (or loads from xent's disk cache) the kernels for the device of the
 *    calling thread's current CUDA context (its primary context when none is current), and allocates 256 bytes of
 *    ticket counters; later calls reuse them. Use one handle per device.
 *  - A reduced xent_fused of up to 512 rows is one kernel, which counts its finished programs on the handle's counter
 *    for the stream (work on one stream runs in order, so the stream's calls share it safely). While the stream is
 *    captured, and on CU_STREAM_PER_THREAD, the call zeroes the workspace's counter on the stream and uses that.
 *    Destroy a stream only once its work is done: a new stream given its handle would count on the same counter.
 *  - Thread-safe: any number of threads may use one handle at once.
 *
 * Tensors are row tensors (xent_rows): element (i0, i1, j) lies at data + (i0 * stride0 + i1 * stride1 + j) * element
 * size, for the leading shape [d0, d1] of xent_args, strides in elements and >= 0, rows numbered i = i0 * d1 + i1. */
#ifndef XENT_XENT_H
#define XENT_XENT_H

#include <cuda.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Why a call failed. */
typedef enum xent_status {
  XENT_OK = 0,
  XENT_ERROR_INVALID_ARGUMENT = 1, /**< a bad argument or option; nothing was done */
  XENT_ERROR_NO_DRIVER = 2,        /**< no usable CUDA driver on this machine */
  XENT_ERROR_CUDA = 3,             /**< a CUDA driver call failed (the message names it) */
  XENT_ERROR_BAD_LABELS = 4,       /**< the checking mode found out-of-range labels */
  XENT_ERROR_INTERNAL = 5,         /**< a bug in xent */
  XENT_ERROR_COLLECTIVE = 6        /**< NCCL is missing, or one of its calls failed (the message names it) */
} xent_status;

/** Element types of the tensors. */
typedef enum xent_dtype { XENT_F32 = 0, XENT_BF16 = 1, XENT_F16 = 2, XENT_I32 = 3, XENT_I64 = 4 } xent_dtype;

typedef enum xent_reduction { XENT_REDUCTION_NONE = 0, XENT_REDUCTION_SUM = 1, XENT_REDUCTION_MEAN = 2 } xent_reduction;

/** What is fixed for the life of a handle. Flags are 0 or 1. */
typedef struct xent_options {
  xent_dtype dtype;       /**< logits and gradient: XENT_F32, XENT_BF16 or XENT_F16 */
  xent_dtype label_dtype; /**< labels: XENT_I32 or XENT_I64 */
  int64_t vocab;          /**< V, the global vocabulary */
  int64_t vocab_offset;   /**< this rank's first column */
  int64_t vocab_shard;    /**< this rank's number of columns; -1 = the whole vocabulary */
  int rank, world;        /**< tensor parallel: this rank of `world`; 0 and 1 for one GPU */
  double label_smoothing; /**< in [0, 1] */
  double z_loss;          /**< >= 0 */
  xent_reduction reduction;
  int has_mask;         /**< xent_args.mask is given */
  int has_weights;      /**< xent_args.weights is given */
  int entropy;          /**< forward also writes the per-row entropy */
  int in_place;         /**< the gradient overwrites the logits (xent_args.grad unused) */
  int check_labels;     /**< forward, fused and partials synchronize and fail with XENT_ERROR_BAD_LABELS */
  int tuning_threads;   /**< 0 = xent's heuristic; else a multiple of 32 in [32, 1024] */
  int64_t tuning_block; /**< 0 = xent's heuristic; else columns per tile when streaming a row */
} xent_options;

/** A device tensor of rows (see the top of this file). */
typedef struct xent_rows {
  CUdeviceptr data;
  int64_t stride0, stride1;
  xent_dtype dtype;
} xent_rows;

/** One call's tensors. A call with d0 * d1 = 0 rows launches nothing and sets the loss to 0. */
typedef struct xent_args {
  int64_t d0, d1;         /**< the leading shape */
  xent_rows logits;       /**< [d0, d1, V_r] of options.dtype, last dimension contiguous */
  xent_rows labels;       /**< [d0, d1] of options.label_dtype: ids in [0, V), or ignore_index */
  xent_rows mask;         /**< [d0, d1] XENT_I32, nonzero = keep (options.has_mask) */
  CUdeviceptr weights;    /**< d0 * d1 XENT_F32 in row order (options.has_weights) */
  xent_rows grad;         /**< [d0, d1, V_r] of options.dtype, written by backward and fused (not in place) */
  xent_rows grad_output;  /**< backward: XENT_F32 [d0, d1], or a scalar with strides 0, 0 */
  float grad_scale;       /**< fused: the upstream gradient (1 for a plain loss) */
  int64_t ignore_index;   /**< PyTorch's default is -100 */
  float num_label_tokens; /**< the `sum` normalizer; < 0 = not given */
  CUdeviceptr workspace;  /**< xent_workspace_bytes(d0 * d1, options.world) bytes, 16-byte aligned */
  size_t workspace_bytes; /**< its size */
} xent_args;

/** Device addresses of the results inside xent_args.workspace, valid until the next call with that workspace.
 *  No typedef: like `struct stat` and stat(), the struct is named `struct xent_outputs` beside the function. */
struct xent_outputs {
  CUdeviceptr loss;       /**< 1 F32: the reduced loss (sum and mean) */
  CUdeviceptr row_loss;   /**< rows F32: weight_i * loss_i */
  CUdeviceptr lse;        /**< rows F32 */
  CUdeviceptr logprob;    /**< rows F32 (forward, finish_forward) */
  CUdeviceptr entropy;    /**< rows F32 (forward, finish_forward, with options.entropy) */
  CUdeviceptr scale;      /**< 1 F32: the reduction's factor on every row */
  CUdeviceptr bad_labels; /**< 1 I32: the out-of-range label count */
  CUdeviceptr partials;   /**< every rank's partials: rank r's slice at partials + r * partials_rank_bytes */
  size_t partials_rank_bytes;
};

/** An op: one configuration and its compiled kernels. */
typedef struct xent_op xent_op;

/** xent's version, "major.minor.patch". Never fails. */
const char* xent_version(void);

/** The message of the most recent failed call on this thread ("" if none). Valid until this thread's next call. */
const char* xent_last_error(void);

/** Creates an op after checking the options; needs no GPU (kernels are compiled at first use).
 *  @param options the configuration
 *  @param op receives the handle (NULL on failure); release it with xent_destroy */
xent_status xent_create(const xent_options* options, xent_op** op);

/** The size of an NCCL unique id: the bytes xent_nccl_unique_id writes and xent_create_nccl_from_id reads. */
#define XENT_NCCL_UNIQUE_ID_BYTES 128

/** A new NCCL unique id, made on one rank (rank 0) and shared with the others by the caller.
 *  @param unique_id receives XENT_NCCL_UNIQUE_ID_BYTES bytes */
xent_status xent_nccl_unique_id(void* unique_id);

/** Creates an op bound to the caller's NCCL communicator (an ncclComm_t, which must outlive the op), whose rank and
 *  size must be options->rank and options->world. Every rank calls it together: one all-gather and one
 *  synchronization (on the default stream) check that all ranks describe the same partition and problem, else
 *  XENT_ERROR_INVALID_ARGUMENT names the rank and the option. Calls after that add no synchronization. */
xent_status xent_create_nccl(const xent_options* options, void* nccl_comm, xent_op** op);

/** As xent_create_nccl, with a communicator xent creates for rank options->rank of options->world from the id of
 *  xent_nccl_unique_id, on the calling thread's current CUDA device, and destroys with the op. Blocks until every
 *  rank has joined. */
xent_status xent_create_nccl_from_id(const xent_options* options, const void* unique_id, xent_op** op);

/** Destroys an op (NULL is ignored). No call may be running on it. */
void xent_destroy(xent_op* op);

/** The workspace size for `rows` rows and `world` ranks.
 *  @param bytes receives the size */
xent_status xent_workspace_bytes(int64_t rows, int world, size_t* bytes);

/** Forward on a rank holding the whole vocabulary: loss, per-row loss, lse, log-prob, entropy and the statistics
 *  backward needs, in the workspace. */
xent_status xent_forward(const xent_op* op, const xent_args* args, CUstream stream);

/** The gradient into args->grad (or over the logits in place) from the statistics of the last forward or
 *  finish_forward on this workspace, times args->grad_output. */
xent_status xent_backward(const xent_op* op, const xent_args* args, CUstream stream);

/** Loss and gradient in one pass on a rank holding the whole vocabulary, for the upstream scale args->grad_scale. */
xent_status xent_fused(const xent_op* op, const xent_args* args, CUstream stream);

/** Phase one of a sharded forward: this rank's slice of the partials region (see xent_outputs). */
xent_status xent_partials(const xent_op* op, const xent_args* args, CUstream stream);

/** Phase two, after the caller all-gathered every rank's slice into the partials region: the loss, as forward. */
xent_status xent_finish_forward(const xent_op* op, const xent_args* args, CUstream stream);

/** Where the results of calls with `args` lie (only the shape and workspace of args are used).
 *  @param outputs receives the addresses */
xent_status xent_outputs(const xent_op* op, const xent_args* args, struct xent_outputs* outputs);

/** The out-of-range label count of the last forward, fused or partials on args->workspace. Synchronizes the stream.
 *  @param count receives the count */
xent_status xent_bad_labels(const xent_op* op, const xent_args* args, CUstream stream, int64_t* count);

#ifdef __cplusplus
}
#endif

#endif /* XENT_XENT_H */
