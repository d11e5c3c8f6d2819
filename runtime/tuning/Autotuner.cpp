#include "runtime/tuning/Autotuner.h"

#include <algorithm>
#include <mutex>

#include "compiler/Error.h"
#include "kernels/CrossEntropyTuning.h"
#include "runtime/CrossEntropyOp.h"
#include "runtime/cuda/Check.h"
#include "runtime/cuda/Context.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/Timer.h"
#include "runtime/tuning/SweepProblem.h"
#include "runtime/tuning/TunedKernels.h"
#include "runtime/tuning/TuningStore.h"

namespace xent::runtime {
namespace {

class Stream {
 public:
  Stream() { XENT_CU_CHECK(cuda::driver().cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING)); }
  ~Stream() { XENT_CU_CHECK_NOEXCEPT(cuda::driver().cuStreamDestroy(stream_)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  CUstream get() const { return stream_; }

 private:
  CUstream stream_ = nullptr;
};

void check(const TuneRequest& request) {
  CrossEntropySpec untuned = request.spec;
  untuned.tuning = {};
  untuned.validate();
  if (request.rows < 1) throw UserError(cat("tune: rows must be at least 1, got ", request.rows));
  if (request.iterations < 1) throw UserError(cat("tune: iterations must be at least 1, got ", request.iterations));
  if (request.kernels.empty()) throw UserError("tune: no kernel to tune");
  for (CrossEntropyKernel kernel : request.kernels) {
    if (!uses_tuning(kernel)) throw UserError(cat("tune: ", kernel_name(kernel), " takes no tuning"));
    if (needs_whole_vocabulary(kernel) && !request.spec.single_shard())
      throw UserError(
          cat("tune: ", kernel_name(kernel), " needs the whole vocabulary on one rank (vocab_shard == vocab)"));
  }
}

// The spec a variant is built from: the heuristic's is the spec with zero tuning, as an op builds it.
CrossEntropySpec variant_spec(const CrossEntropySpec& base, const Tuning& tuning, const Tuning& heuristic) {
  CrossEntropySpec spec = base;
  if (!(tuning == heuristic)) spec.tuning = tuning;
  return spec;
}

// Compiles, links and loads every variant on a pool of threads; a failure goes into the variant's error.
std::vector<std::unique_ptr<DeviceKernel>> load_variants(const CrossEntropySpec& base, CrossEntropyKernel kernel,
                                                         TuningResult& result, const TuneProgressFn& progress) {
  const size_t n = result.variants.size();
  std::vector<std::unique_ptr<DeviceKernel>> loaded(n);
  std::mutex mutex;
  size_t done = 0;
  run_in_parallel(n, [&](size_t i) {
    TunedVariant& v = result.variants[i];
    try {
      loaded[i] = load_kernel(variant_spec(base, v.tuning, result.heuristic), kernel);
    } catch (const std::exception& e) {
      v.error = cat("build failed: ", e.what());
    }
    std::lock_guard lock(mutex);
    if (progress) progress({TuneProgress::Phase::Compiling, kernel, ++done, n});
  });
  return loaded;
}

// The median time of `iterations` launches, each after a write that evicts L2.
double time_launches(const DeviceKernel& k, const Launch& launch, int iterations, const cuda::DeviceBuffer& flush,
                     CUstream stream) {
  launch_kernel(k, launch, stream);
  cuda::StreamTimer timer(stream);
  std::vector<double> ms(iterations);
  for (double& t : ms) {
    XENT_CU_CHECK(cuda::driver().cuMemsetD8Async(flush.address(), 0, flush.bytes(), stream));
    timer.start();
    launch_kernel(k, launch, stream);
    t = timer.stop();
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

TuningResult sweep(const TuneRequest& request, CrossEntropyKernel kernel, const SweepProblem& problem,
                   const cuda::DeviceBuffer& flush, CUstream stream, const TuneProgressFn& progress) {
  CrossEntropySpec base = request.spec;
  base.tuning = {};
  const CrossEntropySpec built = for_current_device(base);  // the heuristic that ops launch, the space the GPU runs
  const cuda::DeviceInfo& device = cuda::current_device();
  TuningResult result;
  result.spec = base.canonical();
  result.kernel = kernel;
  result.device = device.name;
  result.sm = current_tuning_device().sm;
  result.driver = device.driver_version;
  result.rows = request.rows;
  result.rows_bucket = rows_bucket(request.rows);
  result.iterations = request.iterations;
  result.heuristic = tuning_for(built, kernel);
  std::vector<Tuning> tunings = request.candidates.empty() ? tuning_candidates(built, kernel) : request.candidates;
  for (const Tuning& t : tunings) {
    CrossEntropySpec spec = built;
    spec.tuning = t;
    result.variants.emplace_back().tuning = tuning_for(spec, kernel);  // as built: candidates may leave fields to it
  }

  std::vector<std::unique_ptr<DeviceKernel>> loaded = load_variants(base, kernel, result, progress);
  const Launch launch = problem.launch_of(base, kernel);
  const TunedVariant* best = nullptr;
  for (size_t i = 0; i < result.variants.size(); ++i) {
    TunedVariant& v = result.variants[i];
    if (loaded[i]) {
      try {
        v.ms = time_launches(*loaded[i], launch, request.iterations, flush, stream);
        v.registers = loaded[i]->module.registers();
        v.spill_bytes = loaded[i]->module.local_bytes();
      } catch (const std::exception& e) {
        v.error = cat("launch failed: ", e.what());
      }
    }
    if (v.ran() && (!best || v.ms < best->ms)) best = &v;
    if (progress) progress({TuneProgress::Phase::Timing, kernel, i + 1, result.variants.size(), &v, best});
  }
  if (!best)
    throw UserError(cat("tune: no variant of ", kernel_name(kernel), " ran; the first: ", result.variants[0].error));
  result.winner = best->tuning;
  return result;
}

}  // namespace

std::vector<TuningResult> autotune(const TuneRequest& request, const TuneProgressFn& progress) {
  check(request);
  cuda::ensure_context();
  const cuda::DeviceInfo& device = cuda::current_device();
  Stream stream;
  SweepProblem problem(request.spec, request.rows);
  cuda::DeviceBuffer flush(std::max<size_t>(2 * size_t(device.l2_bytes), size_t{1} << 20));
  std::vector<TuningResult> results;
  for (CrossEntropyKernel kernel : request.kernels)
    results.push_back(sweep(request, kernel, problem, flush, stream.get(), progress));
  return results;
}

}  // namespace xent::runtime
