// The C API over the C++ one: struct conversion, and every exception turned into a status and a thread-local message.
#include <memory>
#include <string>

#include "xent/xent.h"
#include "xent/xent.hpp"

struct xent_op {
  xent::CrossEntropy op;
};

namespace {

using namespace xent;

static_assert(XENT_ERROR_INVALID_ARGUMENT == int(Status::InvalidArgument) &&
              XENT_ERROR_NO_DRIVER == int(Status::NoDriver) && XENT_ERROR_CUDA == int(Status::Cuda) &&
              XENT_ERROR_BAD_LABELS == int(Status::BadLabels) && XENT_ERROR_INTERNAL == int(Status::Internal) &&
              XENT_ERROR_COLLECTIVE == int(Status::Collective));
static_assert(XENT_F32 == int(ElementType::F32) && XENT_BF16 == int(ElementType::BF16) &&
              XENT_F16 == int(ElementType::F16) && XENT_I32 == int(ElementType::I32) &&
              XENT_I64 == int(ElementType::I64));
static_assert(XENT_REDUCTION_NONE == int(LossReduction::None) && XENT_REDUCTION_SUM == int(LossReduction::Sum) &&
              XENT_REDUCTION_MEAN == int(LossReduction::Mean));

thread_local std::string last_error;

xent_status fail(xent_status status, const char* message) {
  last_error = message;
  return status;
}

template <typename F>
xent_status guarded(F&& f) {
  try {
    f();
    return XENT_OK;
  } catch (const Error& e) {
    return fail(static_cast<xent_status>(e.status()), e.what());
  } catch (const std::exception& e) {
    return fail(XENT_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(XENT_ERROR_INTERNAL, "unknown exception");
  }
}

void require(const void* pointer, const char* name) {
  if (!pointer) throw Error(Status::InvalidArgument, std::string(name) + ": null pointer");
}

Rows rows(const xent_rows& r) { return {r.data, r.stride0, r.stride1, static_cast<ElementType>(r.dtype)}; }

CrossEntropyOptions options(const xent_options& o) {
  CrossEntropyOptions c;
  c.dtype = static_cast<ElementType>(o.dtype);
  c.label_dtype = static_cast<ElementType>(o.label_dtype);
  c.vocab = o.vocab;
  c.vocab_offset = o.vocab_offset;
  c.vocab_shard = o.vocab_shard;
  c.rank = o.rank;
  c.world = o.world;
  c.label_smoothing = o.label_smoothing;
  c.z_loss = o.z_loss;
  c.reduction = static_cast<LossReduction>(o.reduction);
  c.has_mask = o.has_mask;
  c.has_weights = o.has_weights;
  c.entropy = o.entropy;
  c.in_place = o.in_place;
  c.check_labels = o.check_labels;
  c.tuning = {o.tuning_threads, o.tuning_block};
  return c;
}

Args args(const xent_args* a) {
  require(a, "args");
  return {.d0 = a->d0,
          .d1 = a->d1,
          .logits = rows(a->logits),
          .labels = rows(a->labels),
          .mask = rows(a->mask),
          .weights = a->weights,
          .grad = rows(a->grad),
          .grad_output = rows(a->grad_output),
          .grad_scale = a->grad_scale,
          .ignore_index = a->ignore_index,
          .num_label_tokens = a->num_label_tokens,
          .workspace = a->workspace,
          .workspace_bytes = a->workspace_bytes};
}

const CrossEntropy& op_of(const xent_op* op) {
  require(op, "op");
  return op->op;
}

// The four calls that enqueue work share one shape.
xent_status enqueue(const xent_op* op, const xent_args* a, CUstream stream,
                    void (CrossEntropy::*call)(const Args&, CUstream) const) {
  return guarded([&] { (op_of(op).*call)(args(a), stream); });
}

}  // namespace

extern "C" {

const char* xent_version(void) { return XENT_VERSION; }

const char* xent_last_error(void) { return last_error.c_str(); }

xent_status xent_create(const xent_options* options_in, xent_op** op) {
  return guarded([&] {
    require(op, "op");
    *op = nullptr;
    require(options_in, "options");
    *op = new xent_op{CrossEntropy(options(*options_in))};
  });
}

xent_status xent_nccl_unique_id(void* unique_id) {
  return guarded([&] { nccl_unique_id(unique_id); });
}

// The options are checked (by the op's constructor) before NCCL is loaded or a communicator made.
xent_status xent_create_nccl(const xent_options* options_in, void* nccl_comm, xent_op** op) {
  return guarded([&] {
    require(op, "op");
    *op = nullptr;
    require(options_in, "options");
    auto created = std::make_unique<xent_op>(CrossEntropy(options(*options_in)));
    created->op.bind(nccl_collective(nccl_comm));
    *op = created.release();
  });
}

xent_status xent_create_nccl_from_id(const xent_options* options_in, const void* unique_id, xent_op** op) {
  return guarded([&] {
    require(op, "op");
    *op = nullptr;
    require(options_in, "options");
    auto created = std::make_unique<xent_op>(CrossEntropy(options(*options_in)));
    created->op.bind(nccl_collective(unique_id, options_in->rank, options_in->world));
    *op = created.release();
  });
}

void xent_destroy(xent_op* op) { delete op; }

xent_status xent_workspace_bytes(int64_t rows, int world, size_t* bytes) {
  return guarded([&] {
    require(bytes, "bytes");
    *bytes = CrossEntropy::workspace_bytes(rows, world);
  });
}

xent_status xent_forward(const xent_op* op, const xent_args* a, CUstream s) {
  return enqueue(op, a, s, &CrossEntropy::forward);
}
xent_status xent_backward(const xent_op* op, const xent_args* a, CUstream s) {
  return enqueue(op, a, s, &CrossEntropy::backward);
}
xent_status xent_fused(const xent_op* op, const xent_args* a, CUstream s) {
  return enqueue(op, a, s, &CrossEntropy::fused);
}
xent_status xent_partials(const xent_op* op, const xent_args* a, CUstream s) {
  return enqueue(op, a, s, &CrossEntropy::partials);
}
xent_status xent_finish_forward(const xent_op* op, const xent_args* a, CUstream s) {
  return enqueue(op, a, s, &CrossEntropy::finish_forward);
}

xent_status xent_outputs(const xent_op* op, const xent_args* a, struct xent_outputs* outputs) {
  return guarded([&] {
    require(outputs, "outputs");
    Outputs o = op_of(op).outputs(args(a));
    *outputs = {.loss = o.loss,
                .row_loss = o.row_loss,
                .lse = o.lse,
                .logprob = o.logprob,
                .entropy = o.entropy,
                .scale = o.scale,
                .bad_labels = o.bad_labels,
                .partials = o.partials,
                .partials_rank_bytes = o.partials_rank_bytes};
  });
}

xent_status xent_bad_labels(const xent_op* op, const xent_args* a, CUstream stream, int64_t* count) {
  return guarded([&] {
    require(count, "count");
    *count = op_of(op).bad_labels(args(a), stream);
  });
}

}  // extern "C"
