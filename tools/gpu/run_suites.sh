#!/usr/bin/env bash
# Runs every GPU suite and the benchmarks on the GPU machine, from a carried build (no compiler there).
# Usage: tools/gpu/run_suites.sh BIN_DIR OUT_DIR [all|suites|benchmarks]
#   suites: the GPU test suites, host timings, `xent run` checks and the Python package's pytest suite;
#   benchmarks: `xent bench` (bf16, f32, f16, small batches), `xent tune` and compare.py. Each part fits in one
#   10-minute device call; `all` (the default) runs both.
#   BIN_DIR holds libxent.so, xent, xent_tests, xent_driver_missing_test, xent_api_validation_test.
# Writes OUT_DIR/results.tgz (every log and JSON, in results/) and OUT_DIR/summary.log (their tails): the device tool
# brings back at most 8 files. Where python3 has PyTorch, also OUT_DIR/{compare.log, compare.json, compare.png}:
# xent beside torch eager and torch.compile (tools/bench/compare.py), and the Python package's pytest suite.
# Under `timeout N` (which signals the whole process group, so the running step stops too), a stop still writes
# results.tgz and summary.log with what ran.
set -u
bin=$(cd "$1" && pwd)
out=$2
part=${3:-all}
work=$(mktemp -d)/results
mkdir -p "$work" "$out"
export LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" XENT_CACHE_DIR=/tmp/xent-cache
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  ldd "$bin/libxent.so"
} >"$work/environment.txt" 2>&1

repo=$(cd "$(dirname "$0")/../.." && pwd)

# What has run so far, in the files the device tool brings back: at the end, or when a timeout stops the script.
pack() {
  tar -C "$(dirname "$work")" -czf "$out/results.tgz" results
  {
    grep -E "^\[  (FAILED|PASSED)|exit:" "$work/gpu_tests.log"
    tail -n 30 "$work/pytest.log"
    cat "$work/host.log" "$work/run.log" "$work/bench.log" "$work/tune.log" "$out/compare.log"
  } >"$out/summary.log"
}
trap 'pack; echo "stopped early (signal); results.tgz holds what ran" >>"$out/summary.log"; exit 124' TERM INT
has_torch=0
python3 -c "import torch" >/dev/null 2>&1 && has_torch=1
: >"$work/host.log"; : >"$work/run.log"; : >"$work/bench.log"; : >"$work/tune.log"; : >"$work/pytest.log"
: >"$work/gpu_tests.log"; : >"$out/compare.log"

if [ "$part" != benchmarks ]; then
# Host side first, while the cache is cold: the first process compiles, the second loads from the disk cache.
{
  XENT_CACHE_DIR=/tmp/xent-host-cache "$bin/xent" bench --host --json "$work/host_cold.json"
  XENT_CACHE_DIR=/tmp/xent-host-cache "$bin/xent" bench --host --json "$work/host_warm.json"
} >"$work/host.log" 2>&1

"$bin/xent_tests" --gtest_filter='Gpu*:Cuda*' --gtest_output="json:$work/gpu_tests.json" >"$work/gpu_tests.log" 2>&1
echo "gpu suites exit: $?" >>"$work/gpu_tests.log"
for t in xent_driver_missing_test xent_api_validation_test; do
  "$bin/$t" >>"$work/gpu_tests.log" 2>&1
  echo "$t exit: $?" >>"$work/gpu_tests.log"
done

# Tensor parallel through processes and NCCL: world 1 on any machine, every GPU where there are several.
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
{
  "$bin/xent" demo --no-ir
  "$bin/xent" run --vocab 50257 --tokens 8192 --label-smoothing 0.1
  "$bin/xent" run --vocab 151936 --tokens 1024 --mode fused --dtype bf16
  "$bin/xent" run --tp 1 --vocab 50257 --tokens 2048 --label-smoothing 0.1
  echo "run --tp 1 exit: $?"
  "$bin/xent" bench --tp 1 --json "$work/bench_tp1.json"
  echo "bench --tp 1 exit: $?"
  if [ "$gpus" -gt 1 ]; then
    "$bin/xent" run --tp "$gpus" --vocab 50257 --tokens 8192 --label-smoothing 0.1
    echo "run --tp $gpus exit: $?"
    "$bin/xent" bench --tp "$gpus" --json "$work/bench_tp$gpus.json"
    echo "bench --tp $gpus exit: $?"
  fi
} >"$work/run.log" 2>&1

if [ $has_torch = 1 ]; then
  PYTHONPATH="$repo/runtime/python${PYTHONPATH:+:$PYTHONPATH}" XENT_LIBRARY="$bin/libxent.so" python3 -m pytest -q \
    --junitxml="$work/pytest.xml" "$repo/runtime/python/tests" >"$work/pytest.log" 2>&1
  echo "pytest exit: $?" >>"$work/pytest.log"
else
  echo "pytest skipped: python3 cannot import torch" >"$work/pytest.log"
fi
fi

if [ "$part" != suites ]; then
{
  for mode in fused fwd-bwd fwd; do
    "$bin/xent" bench --mode "$mode" --json "$work/bench_$mode.json"
  done
  for dtype in f32 f16; do
    for mode in fused fwd-bwd fwd; do
      "$bin/xent" bench --dtype "$dtype" --mode "$mode" --json "$work/bench_${mode}_$dtype.json"
    done
  done
  # Small batches: training's fused step and inference's forward, on a row that one program holds and on one split
  # over a cluster.
  for mode in fused fwd; do
    for vocab in 50257 128256; do
      "$bin/xent" bench --latency --mode "$mode" --vocabs "$vocab" --json "$work/bench_latency_${mode}_$vocab.json"
    done
  done
} >"$work/bench.log" 2>&1

# The autotuner after the benchmarks (which therefore time the heuristic): the fused kernel's tuning space, each
# winner against the heuristic's choice (docs/tuning.md).
{
  for vocab in 16032 50257 128256 151936 256000; do
    "$bin/xent" tune --dtype bf16 --vocab "$vocab" --tokens 16384 --mode fused --json "$work/tune_$vocab.json"
    echo "tune V=$vocab exit: $?"
  done
  "$bin/xent" tune --show
  # The same shapes again: ops now launch the stored winners.
  "$bin/xent" bench --mode fused --vocabs 16032,50257,128256,151936,256000 --json "$work/bench_fused_tuned.json"
} >"$work/tune.log" 2>&1

# The peers in the same process on the same tensors; PyTorch is optional on the GPU machine.
if [ $has_torch = 1 ]; then
  PYTHONPATH="$repo/runtime/python${PYTHONPATH:+:$PYTHONPATH}" python3 "$repo/tools/bench/compare.py" \
    --library "$bin/libxent.so" --json "$out/compare.json" --png "$out/compare.png" >"$out/compare.log" 2>&1
  echo "compare exit: $?" >>"$out/compare.log"
else
  echo "compare.py skipped: python3 cannot import torch" >"$out/compare.log"
fi
fi

pack
cat "$out/summary.log"
