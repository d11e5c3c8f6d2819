#include "tools/verify/CrossEntropyProblem.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <list>
#include <numeric>
#include <random>
#include <sstream>

#include "compiler/Error.h"
#include "compiler/ir/Semantics.h"
#include "runtime/cpu/CpuBackend.h"

namespace xent::verify {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Where element (i0, i1, j) of a row tensor lives in its buffer: offset + i0 * s0 + i1 * s1 + j.
struct Placement {
  int64_t s0, s1, offset, elements;
};

Placement place(Layout layout, int64_t d0, int64_t d1, int64_t width) {
  switch (layout) {
    case Layout::Contiguous: return {d1 * width, width, 0, d0 * d1 * width};
    case Layout::Transposed: return {width, d0 * width, 0, d0 * d1 * width};  // [S,B,V] view of a [B,S,V] buffer
    case Layout::Sliced: return {(d1 + 1) * width, width, 0, d0 * (d1 + 1) * width};  // logits[:, :-1]
  }
  return {};
}

Placement place_labels(Layout layout, int64_t d0, int64_t d1) {
  if (layout == Layout::Sliced) return {d1 + 1, 1, 1, d0 * (d1 + 1)};  // labels[:, 1:]
  return place(layout, d0, d1, 1);
}

// A typed host array that is uploaded to the backend.
struct Staged {
  std::vector<uint8_t> bytes;
  uint64_t address = 0;
};

void put(DType dtype, std::vector<uint8_t>& bytes, int64_t index, double value) {
  float f = static_cast<float>(value);
  if (dtype == DType::F32) return std::memcpy(&bytes[index * 4], &f, 4), void();
  uint16_t bits = dtype == DType::BF16 ? ir::float_to_bf16_bits(f) : ir::float_to_f16_bits(f);
  std::memcpy(&bytes[index * 2], &bits, 2);
}

double get(DType dtype, const std::vector<uint8_t>& bytes, int64_t index) {
  if (dtype == DType::F32) {
    float f;
    std::memcpy(&f, &bytes[index * 4], 4);
    return f;
  }
  uint16_t bits;
  std::memcpy(&bits, &bytes[index * 2], 2);
  return dtype == DType::BF16 ? ir::bf16_bits_to_float(bits) : ir::f16_bits_to_float(bits);
}

double round_to(DType dtype, double v) {
  std::vector<uint8_t> cell(4);
  put(dtype, cell, 0, v);
  return get(dtype, cell, 0);
}

// The global inputs, in row order i = i0 * d1 + i1.
struct Inputs {
  ReferenceProblem reference;
  std::vector<float> grad_output;  // 1 or rows
};

// The problem must fit this machine's memory: the reference holds each of the rows x vocab elements in fp64 three
// times (logits, gradient and its terms) and the run holds them again as the kernels' inputs and outputs, about 40
// bytes an element. Past that, allocation would fail or the system would kill the process.
void check_fits_in_memory(const ProblemOptions& o) {
  constexpr double kBytesPerElement = 40;
  const double elements = double(o.d0) * double(o.d1) * double(o.spec.vocab);
  const double physical = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  const auto gib = [](double bytes) { return int64_t(bytes / double(1 << 30)); };
  if (physical > 0 && elements * kBytesPerElement > physical)
    throw UserError(cat("rows x vocab: ", o.d0 * o.d1, " x ", o.spec.vocab, " elements need about ",
                        gib(elements * kBytesPerElement), " GiB of host memory for the fp64 reference, more than ",
                        "this machine's ", gib(physical), " GiB; use fewer rows or a smaller vocab"));
}

Inputs generate(const ProblemOptions& o) {
  check_fits_in_memory(o);
  const int64_t rows = o.d0 * o.d1, V = o.spec.vocab;
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::uniform_int_distribution<int64_t> column(0, V - 1);
  Inputs in;
  ReferenceProblem& r = in.reference;
  r.rows = rows;
  r.vocab = V;
  r.ignore_index = o.ignore_index;
  r.label_smoothing = o.spec.label_smoothing;
  r.z_loss = o.spec.z_loss;
  r.reduction = o.spec.reduction;
  if (o.num_label_tokens >= 0) r.num_label_tokens = o.num_label_tokens;
  r.logits.resize(rows * V);
  for (double& x : r.logits) x = o.logit_scale * normal(rng);
  for (int64_t i = 0; i < rows; ++i) {
    double u = uniform(rng);
    int64_t y = column(rng);
    if (i % 7 == 1) y = 0;
    if (i % 7 == 2) y = V - 1;
    if (u < o.ignore_fraction)
      y = o.ignore_index;
    else if (u < o.ignore_fraction + o.bad_label_fraction)
      y = i % 2 ? V : -5;
    r.labels.push_back(y);
    if (o.confident_rows && i % 3 == 0 && y >= 0 && y < V) r.logits[i * V + y] += 25.0;
  }
  if (o.minus_inf_blocks) {
    for (int64_t j = 0; j < std::min<int64_t>(64, V); ++j) r.logits[j] = -kInf;  // row 0: a -inf first block
    if (rows > 1) {
      int64_t width = o.shards.empty() ? V / 2 : o.shards[0];
      for (int64_t j = 0; j < width; ++j) r.logits[V + j] = -kInf;  // row 1: the first shard all -inf
      if (r.labels[1] >= 0 && r.labels[1] < width) r.labels[1] = V - 1;
    }
    if (rows > 2) {
      for (int64_t j = 0; j < V; ++j) r.logits[2 * V + j] = -kInf;  // row 2: all -inf gives NaN
      r.labels[2] = 0;
    }
  }
  if (o.nan_logits && rows > 3) r.logits[3 * V + V / 2] = std::numeric_limits<double>::quiet_NaN();
  for (double& x : r.logits) x = round_to(o.spec.dtype, x);
  if (o.spec.has_mask)
    for (int64_t i = 0; i < rows; ++i) r.mask.push_back(uniform(rng) < o.masked_fraction ? 0 : 1 + int32_t(i % 3));
  if (o.spec.has_weights)
    for (int64_t i = 0; i < rows; ++i) r.weights.push_back(static_cast<float>(0.25 + uniform(rng)));
  if (o.upstream == Upstream::PerRow)
    for (int64_t i = 0; i < rows; ++i) in.grad_output.push_back(static_cast<float>(4 * uniform(rng) - 2));
  else
    in.grad_output.push_back(o.upstream == Upstream::One ? 1.0f : 0.37f);
  r.grad_output.assign(in.grad_output.begin(), in.grad_output.end());
  return in;
}

template <typename T>
uint64_t upload(Backend& b, const std::vector<T>& values) {
  uint64_t at = b.allocate(std::max<size_t>(values.size() * sizeof(T), 4));
  if (!values.empty()) b.upload(at, values.data(), values.size() * sizeof(T));
  return at;
}

template <typename T>
std::vector<T> download(Backend& b, uint64_t at, int64_t n) {
  std::vector<T> out(n);
  if (n) b.download(out.data(), at, n * sizeof(T));
  return out;
}

// The per-row inputs every rank reads, uploaded once.
struct RowInputs {
  uint64_t labels = 0, mask = 0, weights = 0, grad_output = 0;
};

StagedRank prepare_rank(const ProblemOptions& o, const Inputs& in, Backend& b, int rank, int64_t offset, int64_t width,
                        const RowInputs& rows) {
  const int64_t V = o.spec.vocab, elem = dtype_bytes(o.spec.dtype);
  StagedRank r;
  r.width = width;
  r.spec = o.spec;
  r.spec.vocab_shard = width;
  r.spec.alignment = o.misaligned ? Alignment::None : (width * elem) % 16 == 0 ? Alignment::Rows : Alignment::Base;
  Placement p = place(o.layout, o.d0, o.d1, width);
  if (o.misaligned) {
    p.offset += 1;
    p.elements += 1;
  }
  r.grad_offset = p.offset;
  r.grad_elements = p.elements;
  std::vector<uint8_t> bytes(p.elements * elem);
  for (int64_t i0 = 0; i0 < o.d0; ++i0)
    for (int64_t i1 = 0; i1 < o.d1; ++i1)
      for (int64_t j = 0; j < width; ++j)
        put(o.spec.dtype, bytes, p.offset + i0 * p.s0 + i1 * p.s1 + j,
            in.reference.logits[(i0 * o.d1 + i1) * V + offset + j]);
  uint64_t logits = upload(b, bytes);
  r.grad_buffer = o.spec.in_place ? logits : b.allocate(bytes.size());

  Placement lp = place_labels(o.layout, o.d0, o.d1);
  CrossEntropyCall& c = r.call;
  c.d0 = o.d0;
  c.d1 = o.d1;
  uint64_t start = uint64_t(p.offset) * elem;
  c.logits = {logits + start, p.s0, p.s1};
  c.grad = {r.grad_buffer + start, p.s0, p.s1};
  c.labels = {rows.labels + uint64_t(lp.offset) * (o.spec.label_type == LabelType::I32 ? 4 : 8), lp.s0, lp.s1};
  c.mask = {rows.mask, o.d1, 1};
  c.weights = rows.weights;
  c.grad_output =
      in.grad_output.size() == 1 ? RowTensorRef{rows.grad_output, 0, 0} : RowTensorRef{rows.grad_output, o.d1, 1};
  c.ignore_index = o.ignore_index;
  c.normalizer = o.num_label_tokens;
  c.grad_scale = in.grad_output[0];
  c.vocab_offset = offset;
  c.rank = rank;
  c.world = static_cast<int>(std::max<size_t>(o.shards.size(), 1));
  r.workspace = b.allocate(workspace_bytes(c.rows(), c.world));
  c.workspace = carve_workspace(r.workspace, c.rows(), c.world);
  c.tickets = b.allocate(4);  // apart from the workspace, so that a kernel counting on the workspace's shows
  return r;
}

uint64_t upload_labels(const ProblemOptions& o, const Inputs& in, Backend& b) {
  Placement lp = place_labels(o.layout, o.d0, o.d1);
  std::vector<int64_t> wide(lp.elements, 0);
  for (int64_t i0 = 0; i0 < o.d0; ++i0)
    for (int64_t i1 = 0; i1 < o.d1; ++i1)
      wide[lp.offset + i0 * lp.s0 + i1 * lp.s1] = in.reference.labels[i0 * o.d1 + i1];
  if (o.spec.label_type == LabelType::I64) return upload(b, wide);
  return upload(b, std::vector<int32_t>(wide.begin(), wide.end()));
}

RowInputs upload_row_inputs(const ProblemOptions& o, const Inputs& in, Backend& b) {
  RowInputs rows;
  rows.labels = upload_labels(o, in, b);
  if (o.spec.has_mask) rows.mask = upload(b, in.reference.mask);
  std::vector<float> weights(in.reference.weights.begin(), in.reference.weights.end());
  if (o.spec.has_weights) rows.weights = upload(b, weights);
  rows.grad_output = upload(b, in.grad_output);
  return rows;
}

RankResult collect(const ProblemOptions& o, Backend& b, const StagedRank& r) {
  const int64_t rows = r.call.rows();
  const Workspace& w = r.call.workspace;
  RankResult out;
  out.row_loss = download<float>(b, w.loss_rows, rows);
  out.lse = download<float>(b, w.lse, rows);
  out.logprob = download<float>(b, w.logprob, rows);
  out.entropy = download<float>(b, w.entropy, rows);
  out.loss = download<float>(b, w.loss, 1)[0];
  out.bad_labels = download<int32_t>(b, w.bad, 1)[0];
  out.tickets = download<int32_t>(b, r.call.tickets, 1)[0];
  if (o.mode == Mode::ForwardOnly) return out;
  const RowTensorRef& g = r.call.grad;
  const int64_t elem = dtype_bytes(o.spec.dtype);
  std::vector<uint8_t> bytes = download<uint8_t>(b, r.grad_buffer, r.grad_elements * elem);
  for (int64_t i0 = 0; i0 < o.d0; ++i0)
    for (int64_t i1 = 0; i1 < o.d1; ++i1)
      for (int64_t j = 0; j < r.width; ++j)
        out.grad.push_back(static_cast<float>(get(o.spec.dtype, bytes, r.grad_offset + i0 * g.s0 + i1 * g.s1 + j)));
  return out;
}

// The in-process all-gather: every rank's slice of the partials into every rank's partials.
void exchange_partials(Backend& b, const std::vector<StagedRank>& ranks) {
  const int64_t slice = ranks[0].call.rows() * kPartialFields;
  std::vector<float> gathered(slice * ranks.size());
  for (size_t r = 0; r < ranks.size(); ++r) {
    std::vector<float> own = download<float>(b, ranks[r].call.workspace.partials + r * slice * 4, slice);
    std::copy(own.begin(), own.end(), gathered.begin() + r * slice);
  }
  for (const StagedRank& r : ranks) b.upload(r.call.workspace.partials, gathered.data(), gathered.size() * 4);
}

// Distance in units in the last place between two values of `dtype` (0 when equal, also for +0 and -0).
int64_t ulp_distance(DType dtype, double a, double b) {
  auto ordered = [&](double v) -> int64_t {
    std::vector<uint8_t> cell(4);
    put(dtype, cell, 0, v);
    int64_t bits = 0, sign_bit = dtype == DType::F32 ? int64_t{1} << 31 : 1 << 15;
    std::memcpy(&bits, cell.data(), dtype == DType::F32 ? 4 : 2);
    return bits & sign_bit ? -(bits & (sign_bit - 1)) : bits;
  };
  return std::llabs(ordered(a) - ordered(b));
}

bool same_special(double got, double want) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return false;
}

// Collects failures; keeps the first few messages.
class Checker {
 public:
  explicit Checker(Verdict& v) : v_(v) {}
  void fail(const std::string& message) {
    v_.ok = false;
    if (v_.failures.size() < 8) v_.failures.push_back(message);
  }
  // got == want within `tolerance`, or the same NaN/inf.
  bool close(const char* what, int64_t row, double got, double want, double tolerance) {
    bool good = std::isfinite(want) ? std::fabs(got - want) <= tolerance : same_special(got, want);
    if (!good) fail(cat(what, " of row ", row, ": got ", got, ", want ", want, " (tolerance ", tolerance, ")"));
    return good;
  }

 private:
  Verdict& v_;
};

}  // namespace

std::vector<int64_t> even_shards(int64_t vocab, int world) {
  std::vector<int64_t> shards(world, vocab / world);
  for (int r = 0; r < vocab % world; ++r) ++shards[r];
  return shards;
}

ProblemOptions ProblemOptions::whole_vocab(DType dtype, int64_t vocab, Mode mode, int64_t d0, int64_t d1) {
  ProblemOptions o;
  o.spec.dtype = dtype;
  o.spec.vocab = o.spec.vocab_shard = vocab;
  o.mode = mode;
  o.d0 = d0;
  o.d1 = d1;
  return o;
}

std::string ProblemOptions::str() const {
  std::ostringstream out;
  out << spec.canonical() << " d0=" << d0 << " d1=" << d1 << " layout=" << int(layout) << " upstream=" << int(upstream)
      << " mode=" << int(mode) << " fused_count=" << int(fused_count) << " shards=" << shards.size()
      << " misaligned=" << misaligned << " seed=" << seed;
  return out.str();
}

std::vector<ProblemOptions> on_every_path(ProblemOptions o) {
  std::vector<ProblemOptions> paths;
  if (o.upstream != Upstream::PerRow)
    for (FusedCount counting : {FusedCount::Launch, FusedCount::InKernel}) {
      o.mode = Mode::Fused;
      o.fused_count = counting;
      paths.push_back(o);
    }
  o.mode = Mode::ForwardBackward;
  o.fused_count = FusedCount::Auto;
  paths.push_back(o);
  return paths;
}

StagedProblem stage_problem(const ProblemOptions& o, Backend& b) {
  if (o.mode == Mode::Fused && o.upstream == Upstream::PerRow)
    throw UserError(
        "a fused call takes one upstream gradient (grad_scale): Upstream::PerRow needs Mode::ForwardBackward");
  Inputs in = generate(o);
  StagedProblem staged;
  staged.reference = reference_cross_entropy(in.reference);
  std::vector<int64_t> widths = o.shards.empty() ? std::vector<int64_t>{o.spec.vocab} : o.shards;
  const RowInputs rows = upload_row_inputs(o, in, b);
  int64_t offset = 0;
  for (size_t r = 0; r < widths.size(); ++r) {
    staged.offsets.push_back(offset);
    staged.ranks.push_back(prepare_rank(o, in, b, int(r), offset, widths[r], rows));
    offset += widths[r];
  }
  return staged;
}

RankProblem stage_rank(const ProblemOptions& o, Backend& b, int rank) {
  if (rank < 0 || rank >= int(o.shards.size()))
    throw UserError(cat("rank: ", rank, " is not one of the problem's ", o.shards.size(), " shards"));
  Inputs in = generate(o);
  RankProblem staged;
  staged.shard.reference = reference_cross_entropy(in.reference);
  const RowInputs rows = upload_row_inputs(o, in, b);
  const int64_t offset = std::accumulate(o.shards.begin(), o.shards.begin() + rank, int64_t{0});
  staged.shard.offsets = {offset};
  staged.shard.ranks.push_back(prepare_rank(o, in, b, rank, offset, o.shards[rank], rows));
  ProblemOptions whole = o;
  whole.shards.clear();
  staged.whole.offsets = {0};
  staged.whole.ranks.push_back(prepare_rank(whole, in, b, 0, 0, o.spec.vocab, rows));
  return staged;
}

Outcome collect_outcome(const ProblemOptions& o, Backend& b, const StagedProblem& staged) {
  Outcome outcome;
  outcome.reference = staged.reference;
  outcome.offsets = staged.offsets;
  for (const StagedRank& r : staged.ranks) outcome.ranks.push_back(collect(o, b, r));
  return outcome;
}

Outcome run_staged(const ProblemOptions& o, Backend& b, const StagedProblem& staged) {
  const std::vector<StagedRank>& ranks = staged.ranks;
  if (o.mode == Mode::Fused) {
    for (const StagedRank& r : ranks) b.execute(r.spec, plan_fused(r.spec, r.call, o.fused_count));
  } else {
    if (ranks.size() == 1 && ranks[0].spec.single_shard()) {
      b.execute(ranks[0].spec, plan_forward(ranks[0].spec, ranks[0].call));
    } else {
      for (const StagedRank& r : ranks) b.execute(r.spec, plan_statistics(r.spec, r.call));
      exchange_partials(b, ranks);
      for (const StagedRank& r : ranks) b.execute(r.spec, plan_loss(r.spec, r.call));
    }
    if (o.mode == Mode::ForwardBackward)
      for (const StagedRank& r : ranks) b.execute(r.spec, plan_backward(r.spec, r.call));
  }
  return collect_outcome(o, b, staged);
}

Outcome run_problem(const ProblemOptions& o, Backend& b) { return run_staged(o, b, stage_problem(o, b)); }

std::string Verdict::str() const {
  std::ostringstream out;
  out << (ok ? "PASS" : "FAIL") << ": worst loss error " << worst_loss_error << " (relative), worst gradient error "
      << worst_gradient_error << " (fp32: relative; 16-bit: ulp)";
  if (cancelling_elements)
    out << ", " << cancelling_elements << " gradient elements within the allowance for cancelling terms";
  for (const std::string& f : failures) out << "\n  " << f;
  return out.str();
}

Verdict check_against_reference(const ProblemOptions& o, const Outcome& outcome) {
  Verdict verdict;
  Checker check(verdict);
  const ReferenceResult& ref = outcome.reference;
  const int64_t rows = o.d0 * o.d1, V = o.spec.vocab;
  const RankResult& first = outcome.ranks[0];
  for (int64_t i = 0; i < rows; ++i) {
    double lse_scale = 1.0 + (std::isfinite(ref.lse[i]) ? std::fabs(ref.lse[i]) : 0.0);
    double want = ref.row_loss[i];
    if (check.close("loss", i, first.row_loss[i], want, 1e-5 * std::fabs(want) + 1e-6 * lse_scale) &&
        std::isfinite(want) && want != 0)
      verdict.worst_loss_error =
          std::max(verdict.worst_loss_error, std::fabs(first.row_loss[i] - want) / std::fabs(want));
    if (!ref.ok[i] || o.mode == Mode::Fused) continue;  // the fused pass writes no log-probs
    check.close("logprob", i, first.logprob[i], ref.logprob[i], 1e-5 * std::fabs(ref.logprob[i]) + 1e-6 * lse_scale);
    check.close("lse", i, first.lse[i], ref.lse[i], 1e-6 * lse_scale);
    if (o.spec.entropy) check.close("entropy", i, first.entropy[i], ref.entropy[i], 1e-5 * lse_scale);
  }
  if (o.spec.reduction != Reduction::None)
    check.close("reduced loss", -1, first.loss, ref.loss, 1e-5 * std::fabs(ref.loss) + 1e-6);
  if (first.bad_labels != ref.bad_labels)
    check.fail(cat("bad label count: got ", first.bad_labels, ", want ", ref.bad_labels));

  for (size_t r = 0; r < outcome.ranks.size(); ++r) {
    const RankResult& mine = outcome.ranks[r];
    // Every rank computes the same loss, bit for bit.
    if (std::memcmp(mine.row_loss.data(), first.row_loss.data(), rows * 4) || std::memcmp(&mine.loss, &first.loss, 4))
      check.fail(cat("rank ", r, " computes a different loss than rank 0"));
    if (mine.tickets != 0) check.fail(cat("rank ", r, " left its ticket counter at ", mine.tickets, ", not 0"));
    if (o.mode == Mode::ForwardOnly) continue;
    const int64_t width = rows ? static_cast<int64_t>(mine.grad.size()) / rows : 0;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < width; ++j) {
        int64_t at = i * V + outcome.offsets[r] + j;
        double got = mine.grad[i * width + j], want = ref.grad[at];
        // fp32 evaluation of terms that cancel is accurate to ~1e-7 of the terms, not of their difference.
        double cancellation = 1e-6 * ref.grad_terms[at];
        double error = 0.0;
        bool strict, good;  // strict: within the plain bound; good: within it or the cancellation allowance
        if (!std::isfinite(want)) {
          strict = good = same_special(got, want);
        } else if (o.spec.dtype == DType::F32) {
          error = want != 0 ? std::fabs(got - want) / std::fabs(want) : std::fabs(got);
          strict = std::fabs(got - want) <= 1e-5 * std::fabs(want) + 1e-36;
          good = strict || std::fabs(got - want) <= 1e-5 * std::fabs(want) + cancellation + 1e-36;
        } else {
          double rounded = round_to(o.spec.dtype, want);
          error = static_cast<double>(ulp_distance(o.spec.dtype, got, rounded));
          strict = error <= 1;
          good = strict || std::fabs(got - want) <= cancellation + std::fabs(rounded - want) * 2;
        }
        if (strict && std::isfinite(error))
          verdict.worst_gradient_error = std::max(verdict.worst_gradient_error, error);
        if (!strict && good) ++verdict.cancelling_elements;
        if (!good)
          check.fail(cat("gradient of rank ", r, " row ", i, " column ", outcome.offsets[r] + j, ": got ", got,
                         ", want ", want));
      }
  }
  return verdict;
}

Verdict compare_with_single(const ProblemOptions& o, const Outcome& sharded, const Outcome& single) {
  Verdict verdict;
  Checker check(verdict);
  const ReferenceResult& ref = sharded.reference;
  const RankResult& whole = single.ranks.at(0);
  const int64_t rows = o.d0 * o.d1, V = o.spec.vocab;
  // Each run is within the reference's tolerance of fp64, so the two are within twice it of each other.
  const double unit = o.spec.dtype == DType::F32 ? 1e-5 : o.spec.dtype == DType::BF16 ? 0x1p-7 : 0x1p-10;
  // Below the smallest normal a relative bound stops meaning one unit in the last place: one subnormal step more.
  const double subnormal = o.spec.dtype == DType::F32 ? 0x1p-149 : o.spec.dtype == DType::BF16 ? 0x1p-133 : 0x1p-24;
  for (size_t r = 0; r < sharded.ranks.size(); ++r) {
    const RankResult& mine = sharded.ranks[r];
    for (int64_t i = 0; i < rows; ++i) {
      const double lse_scale = 1.0 + (std::isfinite(ref.lse[i]) ? std::fabs(ref.lse[i]) : 0.0);
      const double want = whole.row_loss[i], got = mine.row_loss[i];
      if (check.close("loss against one GPU", i, got, want, 2 * (1e-5 * std::fabs(want) + 1e-6 * lse_scale)) &&
          std::isfinite(want) && want != 0)
        verdict.worst_loss_error = std::max(verdict.worst_loss_error, std::fabs(got - want) / std::fabs(want));
    }
    if (o.spec.reduction != Reduction::None)
      check.close("reduced loss against one GPU", -1, mine.loss, whole.loss, 2 * (1e-5 * std::fabs(whole.loss) + 1e-6));
    if (o.mode == Mode::ForwardOnly) continue;
    const int64_t width = rows ? static_cast<int64_t>(mine.grad.size()) / rows : 0;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < width; ++j) {
        const int64_t column = sharded.offsets[r] + j;
        const double got = mine.grad[i * width + j], want = whole.grad[i * V + column];
        bool strict, good;  // as in check_against_reference, with both runs' allowances for cancelling terms
        if (!std::isfinite(got) || !std::isfinite(want)) {
          strict = good = same_special(got, want);
        } else {
          const double bound = unit * std::max(std::fabs(got), std::fabs(want)) + subnormal;
          strict = std::fabs(got - want) <= bound;
          good = strict || std::fabs(got - want) <= bound + 2e-6 * ref.grad_terms[i * V + column];
        }
        if (strict && std::isfinite(want))
          verdict.worst_gradient_error = std::max(
              verdict.worst_gradient_error, o.spec.dtype == DType::F32
                                                ? (want != 0 ? std::fabs(got - want) / std::fabs(want) : std::fabs(got))
                                                : static_cast<double>(ulp_distance(o.spec.dtype, got, want)));
        if (!strict && good) ++verdict.cancelling_elements;
        if (!good)
          check.fail(cat("gradient of rank ", r, " row ", i, " column ", column, ": got ", got, ", one GPU ", want));
      }
  }
  return verdict;
}

namespace {

class InterpreterBackend : public Backend {
 public:
  uint64_t allocate(size_t bytes) override {
    // 16-byte aligned, like device allocations.
    auto& block = blocks_.emplace_back((bytes + 15) / 16);
    return reinterpret_cast<uint64_t>(block.data());
  }
  void upload(uint64_t address, const void* host, size_t bytes) override {
    std::memcpy(reinterpret_cast<void*>(address), host, bytes);
  }
  void download(void* host, uint64_t address, size_t bytes) override {
    std::memcpy(host, reinterpret_cast<const void*>(address), bytes);
  }
  void execute(const CrossEntropySpec& spec, const std::vector<Launch>& launches) override {
    std::vector<interp::Buffer> buffers;
    for (auto& block : blocks_) buffers.push_back({block.data(), block.size() * 16});
    cpu::execute(spec, launches, buffers);
  }

 private:
  struct alignas(16) Chunk {
    uint8_t bytes[16];
  };
  std::list<std::vector<Chunk>> blocks_;
};

}  // namespace

std::unique_ptr<Backend> interpreter_backend() { return std::make_unique<InterpreterBackend>(); }

}  // namespace xent::verify
