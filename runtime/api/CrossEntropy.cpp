#include <array>
#include <atomic>
#include <mutex>
#include <vector>

#include "compiler/Error.h"
#include "runtime/CrossEntropyOp.h"
#include "runtime/api/Validation.h"
#include "runtime/collective/NcclCollective.h"
#include "runtime/collective/NcclLibrary.h"
#include "runtime/collective/Partition.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "xent/xent.hpp"

namespace xent {
namespace {

using api::Call;

// The API's one error type: internal exceptions become Error with the status the C API reports.
template <typename F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const cuda::DriverUnavailable& e) {
    throw Error(Status::NoDriver, e.what());
  } catch (const nccl::NcclUnavailable& e) {
    throw Error(Status::Collective, e.what());
  } catch (const nccl::NcclError& e) {
    throw Error(Status::Collective, e.what());
  } catch (const UserError& e) {
    throw Error(Status::InvalidArgument, e.what());
  } catch (const cuda::CudaError& e) {
    throw Error(Status::Cuda, e.what());
  } catch (const std::exception& e) {
    throw Error(Status::Internal, e.what());
  }
}

// The kernels index only dimensions of extent > 1; a zero stride elsewhere keeps the aligned variant's stride facts.
RowTensorRef ref(const Rows& t, const Args& a) { return {t.data, a.d0 > 1 ? t.stride0 : 0, a.d1 > 1 ? t.stride1 : 0}; }

// What the logits (and, when written, the gradient) allow; see Alignment in kernels/CrossEntropySpec.h.
Alignment alignment_of(const RowTensorRef& logits, const RowTensorRef* grad, int element_bytes) {
  const int64_t per_vector = 16 / element_bytes;
  auto rows_aligned = [&](const RowTensorRef& t) { return t.s0 % per_vector == 0 && t.s1 % per_vector == 0; };
  if (logits.address % 16 || (grad && grad->address % 16)) return Alignment::None;
  if (rows_aligned(logits) && (!grad || rows_aligned(*grad))) return Alignment::Rows;
  if (!grad || (grad->s0 == logits.s0 && grad->s1 == logits.s1)) return Alignment::Base;
  return Alignment::None;
}

void copy_to_host(void* host, CUdeviceptr device, size_t bytes, CUstream stream) {
  XENT_CU_CHECK(cuda::driver().cuMemcpyDtoHAsync(host, device, bytes, stream));
  XENT_CU_CHECK(cuda::driver().cuStreamSynchronize(stream));
}

// A per-row integer tensor's values in row order (I32 or I64), read back after the stream's work.
std::vector<int64_t> row_values(const RowTensorRef& t, ElementType type, int64_t d0, int64_t d1, CUstream stream) {
  const int bytes = api::element_bytes(type);
  const int64_t span = (d0 - 1) * t.s0 + (d1 - 1) * t.s1 + 1;
  std::vector<char> host(span * bytes);
  copy_to_host(host.data(), t.address, host.size(), stream);
  std::vector<int64_t> values;
  for (int64_t i0 = 0; i0 < d0; ++i0)
    for (int64_t i1 = 0; i1 < d1; ++i1) {
      const char* at = host.data() + (i0 * t.s0 + i1 * t.s1) * bytes;
      values.push_back(bytes == 8 ? *reinterpret_cast<const int64_t*>(at) : *reinterpret_cast<const int32_t*>(at));
    }
  return values;
}

}  // namespace

Error::Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
Error::~Error() = default;

BadLabelsError::BadLabelsError(int64_t count, int64_t first_row, int64_t first_label)
    : Error(Status::BadLabels,
            cat("labels: ", count, " out of range (outside [0, V) and not ignore_index); the first is ", first_label,
                " at row ", first_row)),
      count_(count),
      first_row_(first_row),
      first_label_(first_label) {}
BadLabelsError::~BadLabelsError() = default;

struct CrossEntropy::Impl {
  CrossEntropyOptions options;
  CrossEntropySpec spec;  // the variant for 16-byte-aligned rows
  // One variant per Alignment, created at first use and kept; `ready` lets later calls skip the lock.
  std::mutex mutex;
  std::array<std::unique_ptr<CrossEntropyOp>, 3> ops;
  std::array<std::atomic<const CrossEntropyOp*>, 3> ready{};
  std::shared_ptr<Collective> collective;  // set by bind: forward then exchanges the partials itself

  explicit Impl(const CrossEntropyOptions& o) : options(o), spec(api::checked_spec(o)) {}

  const CrossEntropyOp* loaded(Alignment a) const { return ready[size_t(a)].load(std::memory_order_acquire); }

  const CrossEntropyOp& op(Alignment a) {
    if (const CrossEntropyOp* op = loaded(a)) return *op;
    std::lock_guard lock(mutex);
    auto& slot = ops[size_t(a)];
    if (!slot) {
      CrossEntropySpec variant = spec;
      variant.alignment = a;
      slot = std::make_unique<CrossEntropyOp>(variant);
      ready[size_t(a)].store(slot.get(), std::memory_order_release);
    }
    return *slot;
  }

  // finish_forward's kernels (combine, reduce) read no logits, so any variant already loaded serves.
  Alignment any_loaded() const {
    for (Alignment a : {Alignment::Rows, Alignment::Base, Alignment::None})
      if (loaded(a)) return a;
    return Alignment::Rows;
  }

  CrossEntropyCall call(const Args& a) const {
    CrossEntropyCall c;
    c.d0 = a.d0;
    c.d1 = a.d1;
    c.logits = ref(a.logits, a);
    c.labels = ref(a.labels, a);
    c.mask = ref(a.mask, a);
    c.grad = ref(a.grad, a);
    c.grad_output = ref(a.grad_output, a);
    c.weights = a.weights;
    c.ignore_index = a.ignore_index;
    c.normalizer = a.num_label_tokens;
    c.grad_scale = a.grad_scale;
    c.vocab_offset = options.vocab_offset;
    c.rank = options.rank;
    c.world = options.world;
    c.workspace = carve_workspace(a.workspace, c.rows(), c.world);
    return c;
  }

  void run(Call kind, const Args& a, CUstream stream) {
    api::check_args(options, spec, a, kind);
    CrossEntropyCall c = call(a);
    if (c.rows() == 0) {
      if (kind == Call::Backward) return;
      cuda::ensure_context();
      XENT_CU_CHECK(cuda::driver().cuMemsetD8Async(c.workspace.loss, 0, 4, stream));
      XENT_CU_CHECK(cuda::driver().cuMemsetD8Async(c.workspace.bad, 0, 4, stream));
      return;
    }
    const int bytes = api::element_bytes(options.dtype);
    const bool writes_grad = (kind == Call::Backward || kind == Call::Fused) && !options.in_place;
    Alignment alignment =
        kind == Call::FinishForward ? any_loaded() : alignment_of(c.logits, writes_grad ? &c.grad : nullptr, bytes);
    const CrossEntropyOp& variant = op(alignment);
    if (kind == Call::Fused && reduces_in_fused_small(variant.spec(), c))
      c.tickets = variant.zeroed_tickets(stream, c.workspace.tickets);
    std::vector<Launch> plan;
    switch (kind) {
      case Call::Forward: plan = plan_forward(variant.spec(), c); break;  // world 1 (check_args): a single shard
      case Call::Partials: plan = plan_statistics(variant.spec(), c); break;
      case Call::FinishForward: plan = plan_loss(variant.spec(), c); break;
      case Call::Backward: plan = plan_backward(variant.spec(), c); break;
      case Call::Fused: plan = plan_fused(variant.spec(), c); break;
    }
    variant.enqueue(plan, stream);
    if (options.check_labels && kind != Call::Backward && kind != Call::FinishForward) check_labels(a, c, stream);
  }

  int32_t bad_count(const CrossEntropyCall& c, CUstream stream) const {
    int32_t count = 0;
    copy_to_host(&count, c.workspace.bad, sizeof(count), stream);
    return count;
  }

  // The checking mode: after the count kernel, find the first bad row on the host (the kernels only count them).
  void check_labels(const Args& a, const CrossEntropyCall& c, CUstream stream) const {
    const int32_t count = bad_count(c, stream);
    if (count == 0) return;
    std::vector<int64_t> labels = row_values(c.labels, options.label_dtype, a.d0, a.d1, stream);
    std::vector<int64_t> mask = options.has_mask ? row_values(c.mask, ElementType::I32, a.d0, a.d1, stream)
                                                 : std::vector<int64_t>(labels.size(), 1);
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] != a.ignore_index && mask[i] != 0 && (labels[i] < 0 || labels[i] >= options.vocab))
        throw BadLabelsError(count, static_cast<int64_t>(i), labels[i]);
    throw BadLabelsError(count, -1, 0);  // the labels changed since the count
  }
};

CrossEntropy::CrossEntropy(const CrossEntropyOptions& options)
    : impl_(guarded([&] { return std::make_unique<Impl>(options); })) {}
CrossEntropy::~CrossEntropy() = default;
CrossEntropy::CrossEntropy(CrossEntropy&&) noexcept = default;
CrossEntropy& CrossEntropy::operator=(CrossEntropy&&) noexcept = default;

const CrossEntropyOptions& CrossEntropy::options() const { return impl_->options; }

void CrossEntropy::bind(std::shared_ptr<Collective> collective, CUstream stream) {
  guarded([&] {
    if (!collective) throw UserError("bind: null collective");
    check_partition(*collective, impl_->options, stream);
    impl_->collective = std::move(collective);
  });
}

void CrossEntropy::forward(const Args& args, CUstream stream) const {
  guarded([&] {
    if (!impl_->collective) return impl_->run(Call::Forward, args, stream);
    impl_->run(Call::Partials, args, stream);
    const Outputs out = outputs(args);
    const size_t slice = out.partials_rank_bytes;
    impl_->collective->all_gather(out.partials + impl_->options.rank * slice, out.partials, slice, stream);
    impl_->run(Call::FinishForward, args, stream);
  });
}
void CrossEntropy::backward(const Args& args, CUstream stream) const {
  guarded([&] { impl_->run(Call::Backward, args, stream); });
}
void CrossEntropy::fused(const Args& args, CUstream stream) const {
  guarded([&] { impl_->run(Call::Fused, args, stream); });
}
void CrossEntropy::partials(const Args& args, CUstream stream) const {
  guarded([&] { impl_->run(Call::Partials, args, stream); });
}
void CrossEntropy::finish_forward(const Args& args, CUstream stream) const {
  guarded([&] { impl_->run(Call::FinishForward, args, stream); });
}

Outputs CrossEntropy::outputs(const Args& args) const {
  return guarded([&] {
    api::check_workspace(impl_->options, args);
    const CrossEntropyCall c = impl_->call(args);
    const Workspace& w = c.workspace;
    return Outputs{.loss = w.loss,
                   .row_loss = w.loss_rows,
                   .lse = w.lse,
                   .logprob = w.logprob,
                   .entropy = w.entropy,
                   .scale = w.inv_den,
                   .bad_labels = w.bad,
                   .partials = w.partials,
                   .partials_rank_bytes = size_t(c.rows()) * kPartialFields * sizeof(float)};
  });
}

int64_t CrossEntropy::bad_labels(const Args& args, CUstream stream) const {
  return guarded([&] {
    api::check_workspace(impl_->options, args);
    return int64_t{impl_->bad_count(impl_->call(args), stream)};
  });
}

std::shared_ptr<Collective> nccl_collective(void* nccl_comm) {
  return guarded([&] { return std::shared_ptr<Collective>(NcclCollective::adopt(nccl_comm)); });
}

std::shared_ptr<Collective> nccl_collective(const void* unique_id, int rank, int world) {
  return guarded([&] { return std::shared_ptr<Collective>(NcclCollective::create(unique_id, rank, world)); });
}

void nccl_unique_id(void* unique_id) {
  guarded([&] { NcclCollective::unique_id(unique_id); });
}

size_t CrossEntropy::workspace_bytes(int64_t rows, int world) {
  return guarded([&] {
    if (rows < 0 || world < 1)
      throw UserError(cat("workspace_bytes: needs rows >= 0 and world >= 1, got ", rows, " and ", world));
    return size_t(xent::workspace_bytes(rows, world));
  });
}

}  // namespace xent
