// `xent bench`: xent alone on the GPU. Measures the device's copy bandwidth first, then for each vocabulary size the
// time of one cross-entropy step and its useful bandwidth (the bytes a perfect kernel must move, over the time) as a
// fraction of that copy bandwidth (DESIGN.md, "Performance: how it is measured"). Optionally writes JSON. With --tp W:
// W processes, one per GPU, timing the sharded step with its NCCL exchange (TensorParallel.h, RankCommands.h).
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "compiler/Error.h"
#include "runtime/CrossEntropyOp.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Memory.h"
#include "runtime/cuda/Timer.h"
#include "tools/xent/BenchData.h"
#include "tools/xent/Commands.h"
#include "tools/xent/HostBench.h"
#include "tools/xent/RankCommands.h"
#include "tools/xent/SpecOptions.h"
#include "tools/xent/TensorParallel.h"

namespace xent::tools {
namespace {

struct BenchOptions {
  SpecOptions spec;
  int64_t tokens = 16384;
  std::vector<int64_t> vocabs = {16032, 18992, 32000, 37984, 50257, 128256, 151936, 256000};
  std::string mode = "fused";
  int iterations = 20;
  std::string json;
  bool host = false;
  bool latency = false;
  TensorParallelOptions tp;
  bool vocabs_given = false, mode_given = false;  // else --tp has defaults of its own
};

// The launch-latency floor of `plan`: as many back-to-back launches of the count kernel over zero rows (one program
// that stores three numbers), so that only the cost of launching remains. The count launch is plan_statistics' first.
std::vector<Launch> launch_floor(const CrossEntropySpec& spec, const std::vector<Launch>& plan, CrossEntropyCall call) {
  call.d0 = 0;
  return std::vector<Launch>(plan.size(), plan_statistics(spec, call).front());
}

// Mean milliseconds per enqueue of `plan`, after warm-ups.
double time_plan(const CrossEntropyOp& op, const std::vector<Launch>& plan, int iterations, CUstream stream) {
  for (int i = 0; i < 3; ++i) op.enqueue(plan, stream);
  cuda::StreamTimer timer(stream);
  timer.start();
  for (int i = 0; i < iterations; ++i) op.enqueue(plan, stream);
  return timer.stop() / iterations;
}

// Bytes read plus bytes written by a device-to-device copy, per second.
double copy_bandwidth(CUstream stream) {
  const size_t bytes = size_t{1} << 30;
  cuda::DeviceBuffer src(bytes), dst(bytes);
  cuda::StreamTimer timer(stream);
  auto copy = [&] { XENT_CU_CHECK(cuda::driver().cuMemcpyDtoDAsync(dst.address(), src.address(), bytes, stream)); };
  copy();
  timer.start();
  const int repeats = 10;
  for (int i = 0; i < repeats; ++i) copy();
  return 2.0 * bytes * repeats / (timer.stop() * 1e-3);
}

nlohmann::json bench_one(const BenchOptions& o, int64_t vocab, double copy_bw, CUstream stream) {
  CrossEntropySpec spec = o.spec.spec();
  spec.vocab = spec.vocab_shard = vocab;
  const int64_t rows = o.tokens, elem = dtype_bytes(spec.dtype);
  spec.alignment = (vocab * elem) % 16 == 0 ? Alignment::Rows : Alignment::Base;
  CrossEntropyOp op(spec);

  cuda::DeviceBuffer logits(size_t(rows) * vocab * elem), grad(size_t(rows) * vocab * elem);
  cuda::DeviceBuffer labels = random_labels(rows, vocab), upstream(4), workspace(workspace_bytes(rows, 1));
  fill_logits(logits, spec.dtype, vocab, stream);
  float one = 1.0f;
  upstream.upload(&one, 4);

  CrossEntropyCall call;
  call.d0 = 1;
  call.d1 = rows;
  call.logits = {logits.address(), rows * vocab, vocab};
  call.grad = {grad.address(), rows * vocab, vocab};
  call.labels = {labels.address(), rows, 1};
  call.grad_output = {upstream.address(), 0, 0};
  call.workspace = carve_workspace(workspace.address(), rows, 1);
  if (reduces_in_fused_small(spec, call)) call.tickets = op.zeroed_tickets(stream, call.workspace.tickets);

  std::vector<Launch> plan;
  auto append = [&](std::vector<Launch> more) { plan.insert(plan.end(), more.begin(), more.end()); };
  double passes;  // useful bytes per logit element, in units of the element size
  if (o.mode == "fused") {
    append(plan_fused(spec, call));
    passes = 2;
  } else if (o.mode == "fwd-bwd") {
    append(plan_forward(spec, call));
    append(plan_backward(spec, call));
    passes = 3;
  } else if (o.mode == "fwd") {
    append(plan_forward(spec, call));
    passes = 1;
  } else {
    throw UserError(cat("--mode: unknown mode '", o.mode, "'; use fused, fwd-bwd or fwd"));
  }

  double ms = time_plan(op, plan, o.iterations, stream);
  double useful = passes * double(rows) * vocab * elem;
  // The kernel the timed calls launched to walk the rows: a stored `xent tune` winner when there is one, else the
  // heuristic's.
  auto walks = std::find_if(plan.begin(), plan.end(), [](const Launch& l) { return uses_tuning(l.kernel); });
  const DeviceKernel& main = op.kernel(walks->kernel, rows);
  nlohmann::json r = {{"vocab", vocab},
                      {"ms", ms},
                      {"useful_gb_per_s", useful / (ms * 1e-3) / 1e9},
                      {"fraction_of_copy", useful / (ms * 1e-3) / copy_bw},
                      {"floor_ms", useful / copy_bw * 1e3},
                      {"registers", main.module.registers()},
                      {"spill_bytes", main.module.local_bytes()},
                      {"threads", main.threads},
                      {"block", main.tuning.block},
                      {"unroll", main.tuning.unroll},
                      {"cluster", main.cluster},
                      {"staging", to_string(main.tuning.staging)},
                      {"launches", plan.size()}};
  if (o.latency) {
    const std::vector<Launch> empty = launch_floor(spec, plan, call);
    r["launch_floor_ms"] = time_plan(op, empty, o.iterations, stream);
    r["one_launch_ms"] = time_plan(op, {empty.front()}, o.iterations, stream);
  }
  return r;
}

// Small batches (the inference case): the time of a step against two floors, each the larger of a launch latency and
// the useful bytes at copy bandwidth: the latency of as many empty launches as the step makes, and of one (no step can
// do with less).
nlohmann::json bench_latency(const BenchOptions& o, double copy_bw, CUstream stream) {
  const int64_t vocab = o.vocabs.empty() ? 50257 : o.vocabs.front();
  std::cout << "small batches, " << o.mode << ", V = " << vocab
            << ": time per step against the launch latency (as many empty launches, "
            << "or one) or the useful bytes at copy bandwidth, whichever is longer\n"
            << "  rows   step us  launches  their us  one us  bytes us  ratio  ratio to one\n";
  nlohmann::json results = nlohmann::json::array();
  for (int64_t rows : {1, 8, 64, 512}) {
    BenchOptions one = o;
    one.tokens = rows;
    nlohmann::json r = bench_one(one, vocab, copy_bw, stream);
    r["rows"] = rows;
    double step = r["ms"].get<double>() * 1e3, launches = r["launch_floor_ms"].get<double>() * 1e3;
    double single = r["one_launch_ms"].get<double>() * 1e3, bytes = r["floor_ms"].get<double>() * 1e3;
    std::cout << std::setw(6) << rows << std::setw(10) << std::setprecision(1) << step << std::setw(10)
              << r["launches"].get<size_t>() << std::setw(10) << launches << std::setw(8) << single << std::setw(10)
              << bytes << std::setw(7) << std::setprecision(2) << step / std::max(launches, bytes) << std::setw(14)
              << step / std::max(single, bytes) << "\n";
    results.push_back(r);
  }
  return results;
}

void run_bench(const BenchOptions& o) {
  if (o.host) {
    nlohmann::json host = host_bench(o.vocabs.empty() ? 50257 : o.vocabs.front());
    if (!o.json.empty()) std::ofstream(o.json) << host.dump(2) << "\n";
    return;
  }
  cuda::ensure_context();
  const cuda::DeviceInfo& device = cuda::current_device();
  CUstream stream;
  XENT_CU_CHECK(cuda::driver().cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
  double copy_bw = copy_bandwidth(stream);
  std::cout << "device: " << device.name << " (" << device.sm() << "), copy bandwidth " << std::fixed
            << std::setprecision(0) << copy_bw / 1e9 << " GB/s (read + write)\n";
  if (o.latency) {
    nlohmann::json results = bench_latency(o, copy_bw, stream);
    XENT_CU_CHECK(cuda::driver().cuStreamDestroy(stream));
    if (!o.json.empty())
      std::ofstream(o.json) << nlohmann::json{{"device", device.name}, {"mode", o.mode}, {"results", results}}.dump(2)
                            << "\n";
    return;
  }
  std::cout << "mode " << o.mode << ", " << o.spec.dtype << ", " << o.tokens << " rows\n";
  std::cout << "     V        ms   useful GB/s  of copy   floor ms  regs  threads  block  cluster\n";
  nlohmann::json results = nlohmann::json::array();
  for (int64_t vocab : o.vocabs) {
    nlohmann::json r = bench_one(o, vocab, copy_bw, stream);
    std::cout << std::setw(6) << vocab << std::setw(10) << std::setprecision(3) << r["ms"].get<double>()
              << std::setw(14) << std::setprecision(0) << r["useful_gb_per_s"].get<double>() << std::setw(8)
              << std::setprecision(0) << 100 * r["fraction_of_copy"].get<double>() << "%" << std::setw(11)
              << std::setprecision(3) << r["floor_ms"].get<double>() << std::setw(6) << r["registers"].get<int>()
              << std::setw(9) << r["threads"].get<int>() << std::setw(7) << r["block"].get<int64_t>() << std::setw(9)
              << r["cluster"].get<int>() << "\n";
    results.push_back(r);
  }
  XENT_CU_CHECK(cuda::driver().cuStreamDestroy(stream));
  if (!o.json.empty()) {
    nlohmann::json doc = {{"device", device.name},
                          {"sm", device.sm()},
                          {"driver", device.driver_version},
                          {"copy_gb_per_s", copy_bw / 1e9},
                          {"mode", o.mode},
                          {"dtype", o.spec.dtype},
                          {"tokens", o.tokens},
                          {"iterations", o.iterations},
                          {"results", results}};
    std::ofstream(o.json) << doc.dump(2) << "\n";
  }
}

// The shapes of DESIGN.md's large vocabularies, split over the ranks.
const std::vector<int64_t> kTensorParallelVocabs = {128256, 151936};

void run_tensor_parallel(const BenchOptions& o) {
  TensorParallelBench b;
  b.spec = o.spec.spec();
  if (o.spec.vocab_shard) throw UserError("--vocab-shard: with --tp each rank takes its share of each V; leave it out");
  if (o.host) throw UserError("--host: measures one process's host side; leave out --tp");
  const std::string mode = o.mode_given ? o.mode : "fwd-bwd";
  if (mode == "fused")
    throw UserError("--mode: fused is one pass over whole rows, with no exchange; with --tp use fwd-bwd or fwd");
  if (mode != "fwd-bwd" && mode != "fwd") throw UserError(cat("--mode: unknown mode '", mode, "'; use fwd-bwd or fwd"));
  b.backward = mode == "fwd-bwd";
  b.vocabs = o.vocabs_given ? o.vocabs : kTensorParallelVocabs;
  for (int64_t vocab : b.vocabs)
    if (vocab < o.tp.world) throw UserError(cat("--vocabs: ", o.tp.world, " ranks cannot share ", vocab, " columns"));
  if (o.tokens < 1) throw UserError(cat("--tokens: ", o.tokens, " rows; give at least 1"));
  if (o.iterations < 1) throw UserError(cat("--iterations: ", o.iterations, "; give at least 1"));
  b.tokens = o.tokens;
  b.iterations = o.iterations;
  b.json = o.json;
  if (o.tp.is_rank()) return run_as_rank(o.tp, [&] { bench_rank(b, o.tp); });
  launch_ranks("bench", o.tp.world);
  std::cout << "xent bench --tp " << o.tp.world << ": PASS on " << all_ranks(o.tp.world) << "\n";
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* bench =
      app.add_subcommand("bench", "time xent on the GPU: copy bandwidth, then ms and useful bandwidth per V");
  o->spec.add_to(*bench);
  bench->add_option("--tokens", o->tokens, "rows (tokens)")->capture_default_str()->check(kRowCount);
  CLI::Option* vocabs = bench->add_option("--vocabs", o->vocabs, "vocabulary sizes to time (with --tp: 128256,151936)")
                            ->delimiter(',')
                            ->capture_default_str();
  CLI::Option* mode =
      bench
          ->add_option(
              "--mode", o->mode,
              "fused (1 read + 1 write), fwd-bwd (2 reads + 1 write) or fwd (1 read); with --tp: fwd-bwd or fwd")
          ->capture_default_str();
  bench->add_option("--iterations", o->iterations, "timed repetitions per shape")->capture_default_str();
  bench->add_option("--json", o->json, "also write the results to this JSON file");
  bench->add_flag("--host", o->host,
                  "measure the host side instead: context creation, first-call kernel loading, host time per call "
                  "(first V of --vocabs)");
  bench->add_flag("--latency", o->latency,
                  "small batches instead: 1 to 512 rows of the first V of --vocabs, each step's time against the "
                  "launch-latency floor of as many empty launches");
  o->tp.add_to(*bench);
  bench->callback([o, vocabs, mode] {
    if (!o->tp.enabled()) return run_bench(*o);
    o->vocabs_given = vocabs->count() > 0;
    o->mode_given = mode->count() > 0;
    run_tensor_parallel(*o);
  });
}

}  // namespace xent::tools
