// One rank of `xent bench --tp W`.
#include <cstring>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <string_view>

#include "compiler/Error.h"
#include "runtime/collective/NcclLibrary.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"
#include "runtime/cuda/Stream.h"
#include "runtime/cuda/Timer.h"
#include "tools/xent/BenchData.h"
#include "tools/xent/Commands.h"
#include "tools/xent/RankCommands.h"
#include "xent/xent.hpp"

namespace xent::tools {
namespace {

constexpr int kWarmups = 3;

// What one rank measured for one shape; rank 0 gathers every rank's.
struct RankTiming {
  int64_t offset = 0, columns = 0;
  double step_ms = 0, exchange_ms = 0, one_gpu_ms = 0;
  uint64_t loss_bits = 0;  // FNV-1a of the reduced loss and the row losses: the same on every rank
  char device[96] = {};
};

// Mean GPU milliseconds of `work` over `iterations` runs on `stream`, after warm-ups that load the kernels and let
// NCCL set up its connections.
template <typename Work>
double mean_ms(Work&& work, int iterations, CUstream stream) {
  for (int i = 0; i < kWarmups; ++i) work();
  cuda::StreamTimer timer(stream);
  timer.start();
  for (int i = 0; i < iterations; ++i) work();
  return timer.stop() / iterations;
}

CrossEntropyOptions options_for(const CrossEntropySpec& s, int64_t vocab, int64_t offset, int64_t columns, int rank,
                                int world) {
  CrossEntropyOptions o;
  o.dtype = s.dtype == DType::F32 ? ElementType::F32 : s.dtype == DType::BF16 ? ElementType::BF16 : ElementType::F16;
  o.label_dtype = ElementType::I64;  // random_labels' type
  o.vocab = vocab, o.vocab_offset = offset, o.vocab_shard = columns, o.rank = rank, o.world = world;
  o.label_smoothing = s.label_smoothing, o.z_loss = s.z_loss;
  o.reduction = static_cast<LossReduction>(s.reduction);
  o.tuning = {s.tuning.threads, s.tuning.block};
  return o;
}

// The buffers of one op: `rows` rows of `columns` logits and gradient, labels, grad_output 1, a workspace.
struct Tensors {
  cuda::DeviceBuffer logits, grad, labels, upstream, workspace;
  Args args;

  Tensors(const CrossEntropyOptions& o, DType dtype, int64_t rows, CUstream stream)
      : logits(size_t(rows) * o.vocab_shard * dtype_bytes(dtype)),
        grad(logits.bytes()),
        labels(random_labels(rows, o.vocab)),
        upstream(sizeof(float)),
        workspace(CrossEntropy::workspace_bytes(rows, o.world)) {
    fill_logits(logits, dtype, o.vocab_shard, stream);
    const float one = 1.0f;
    upstream.upload(&one, sizeof(one));
    args.d0 = 1, args.d1 = rows;
    args.logits = {logits.address(), rows * o.vocab_shard, o.vocab_shard, o.dtype};
    args.grad = {grad.address(), rows * o.vocab_shard, o.vocab_shard, o.dtype};
    args.labels = {labels.address(), rows, 1, ElementType::I64};
    args.grad_output = {upstream.address(), 0, 0, ElementType::F32};
    args.workspace = workspace.address(), args.workspace_bytes = workspace.bytes();
  }
};

uint64_t loss_fingerprint(const CrossEntropy& op, const Args& args, int64_t rows, const cuda::Stream& stream) {
  const Outputs out = op.outputs(args);
  std::vector<float> losses(rows + 1);
  stream.synchronize();
  XENT_CU_CHECK(cuda::driver().cuMemcpyDtoH(losses.data(), out.loss, sizeof(float)));
  XENT_CU_CHECK(cuda::driver().cuMemcpyDtoH(losses.data() + 1, out.row_loss, rows * sizeof(float)));
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char byte : std::string_view(reinterpret_cast<const char*>(losses.data()), losses.size() * 4))
    hash = (hash ^ byte) * 1099511628211ull;
  return hash;
}

RankTiming time_shape(const TensorParallelBench& o, const Rank& rank, int64_t vocab, const cuda::Stream& stream) {
  const std::vector<int64_t> widths = verify::even_shards(vocab, rank.world);
  RankTiming t;
  t.columns = widths[rank.rank];
  t.offset = std::accumulate(widths.begin(), widths.begin() + rank.rank, int64_t{0});
  std::strncpy(t.device, rank.device.c_str(), sizeof(t.device) - 1);
  const int64_t rows = o.tokens;

  const CrossEntropyOptions sharded = options_for(o.spec, vocab, t.offset, t.columns, rank.rank, rank.world);
  CrossEntropy op(sharded);
  op.bind(rank.collective, stream);
  Tensors mine(sharded, o.spec.dtype, rows, stream);
  auto step_ms = [&](CrossEntropy& step_op, Tensors& tensors) {
    return mean_ms(
        [&] {
          step_op.forward(tensors.args, stream);
          if (o.backward) step_op.backward(tensors.args, stream);
        },
        o.iterations, stream);
  };
  t.step_ms = step_ms(op, mine);
  t.loss_bits = loss_fingerprint(op, mine.args, rows, stream);
  const Outputs out = op.outputs(mine.args);
  const size_t slice = out.partials_rank_bytes;
  t.exchange_ms =
      mean_ms([&] { rank.collective->all_gather(out.partials + rank.rank * slice, out.partials, slice, stream); },
              o.iterations, stream);

  // One GPU, no exchange, a vocabulary as wide as this rank's shard: what the step would cost without the others.
  const CrossEntropyOptions alone = options_for(o.spec, t.columns, 0, t.columns, 0, 1);
  CrossEntropy one(alone);
  Tensors whole(alone, o.spec.dtype, rows, stream);
  t.one_gpu_ms = step_ms(one, whole);
  return t;
}

std::string nccl_version() {
  int v = 0;
  XENT_NCCL_CHECK(nccl::library().ncclGetVersion(&v));
  return cat(v / 10000, ".", v % 10000 / 100, ".", v % 100);
}

std::string table(int64_t vocab, const std::vector<RankTiming>& all) {
  std::ostringstream out;
  out << "V = " << vocab << " over " << all.size() << " rank" << (all.size() > 1 ? "s" : "") << "\n"
      << " rank  GPU                              columns    step ms  exchange ms  one-GPU ms  step / one GPU\n"
      << std::fixed;
  for (size_t r = 0; r < all.size(); ++r) {
    const RankTiming& t = all[r];
    out << std::setw(5) << r << "  " << std::left << std::setw(32) << t.device << std::right << std::setw(8)
        << t.columns << std::setprecision(3) << std::setw(11) << t.step_ms << std::setw(13) << t.exchange_ms
        << std::setw(12) << t.one_gpu_ms << std::setprecision(2) << std::setw(15) << t.step_ms / t.one_gpu_ms << "\n";
  }
  return out.str();
}

nlohmann::json shape_json(int64_t vocab, const std::vector<RankTiming>& all) {
  nlohmann::json ranks = nlohmann::json::array();
  for (size_t r = 0; r < all.size(); ++r) {
    const RankTiming& t = all[r];
    ranks.push_back({{"rank", r},
                     {"device", t.device},
                     {"offset", t.offset},
                     {"columns", t.columns},
                     {"step_ms", t.step_ms},
                     {"exchange_ms", t.exchange_ms},
                     {"one_gpu_ms", t.one_gpu_ms},
                     {"step_over_one_gpu", t.step_ms / t.one_gpu_ms}});
  }
  return {{"vocab", vocab}, {"ranks", ranks}};
}

}  // namespace

void bench_rank(const TensorParallelBench& o, const TensorParallelOptions& tp) {
  const Rank rank = join_ranks(tp);
  cuda::Stream stream;
  const bool reporter = rank.rank == 0;
  const std::string mode = o.backward ? "fwd-bwd" : "fwd";
  if (reporter)
    print_whole(cat("xent bench --tp ", rank.world, ": ", to_string(o.spec.dtype), ", ", o.tokens,
                    " rows on every rank, mode ", mode, ", NCCL ", nccl_version(), ", mean of ", o.iterations,
                    " after ", kWarmups, " warm-ups\n  step: forward with the exchange",
                    o.backward ? ", then backward" : "", "; exchange: the all-gather of the partials alone (",
                    o.tokens * kPartialFields * 4, " B per rank); one GPU: the same step without exchange, for a ",
                    "vocabulary as wide as the rank's shard\n"));
  nlohmann::json shapes = nlohmann::json::array();
  std::vector<int64_t> disagreeing;  // vocabularies on which some rank's loss differs from rank 0's
  for (int64_t vocab : o.vocabs) {
    const std::vector<RankTiming> all = gather_from_ranks(*rank.collective, time_shape(o, rank, vocab, stream), stream);
    for (const RankTiming& t : all)
      if (t.loss_bits != all[0].loss_bits) {
        disagreeing.push_back(vocab);
        break;
      }
    if (!reporter) continue;
    print_whole(table(vocab, all));
    shapes.push_back(shape_json(vocab, all));
  }
  if (reporter) {
    print_whole(disagreeing.empty() ? cat("losses bitwise equal on ", all_ranks(rank.world), " for every shape\n")
                                    : cat("FAIL: the ranks' losses differ for V = ", disagreeing.front(), "\n"));
    if (!o.json.empty()) {
      const cuda::DeviceInfo& device = cuda::current_device();
      nlohmann::json doc = {{"world", rank.world},
                            {"device", device.name},
                            {"sm", device.sm()},
                            {"driver", device.driver_version},
                            {"nccl", nccl_version()},
                            {"dtype", to_string(o.spec.dtype)},
                            {"mode", mode},
                            {"tokens", o.tokens},
                            {"iterations", o.iterations},
                            {"warmups", kWarmups},
                            {"shapes", shapes}};
      std::ofstream out(o.json);
      out << doc.dump(2) << "\n";
      if (!out) throw UserError(cat("--json: cannot write ", o.json));
    }
  }
  if (!disagreeing.empty()) throw CommandFailed(cat("the ranks' losses differ for V = ", disagreeing.front()));
}

}  // namespace xent::tools
