#!/usr/bin/env bash
# Runs every GPU suite and the benchmarks on the GPU machine, from a carried build (no compiler there).
# Usage: tools/gpu/run_suites.sh BIN_DIR OUT_DIR   (BIN_DIR holds libxent.so, xent, xent_tests, xent_driver_missing_test)
# Writes OUT_DIR/{environment.txt, gpu_tests.log, gpu_tests.json, bench.log, bench_*.json, run.log}.
set -u
bin=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
export LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" XENT_CACHE_DIR=/tmp/xent-cache
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  ldd "$bin/libxent.so"
} >"$out/environment.txt" 2>&1

"$bin/xent_tests" --gtest_filter='Gpu*:Cuda*' --gtest_output="json:$out/gpu_tests.json" >"$out/gpu_tests.log" 2>&1
echo "gpu suites exit: $?" >>"$out/gpu_tests.log"
"$bin/xent_driver_missing_test" >>"$out/gpu_tests.log" 2>&1

{
  "$bin/xent" run --vocab 50257 --tokens 8192 --label-smoothing 0.1
  "$bin/xent" run --vocab 151936 --tokens 1024 --mode fused --dtype bf16
} >"$out/run.log" 2>&1

{
  "$bin/xent" bench --mode fused --json "$out/bench_fused.json"
  "$bin/xent" bench --mode fwd-bwd --json "$out/bench_fwd_bwd.json"
  "$bin/xent" bench --mode fwd --json "$out/bench_fwd.json"
} >"$out/bench.log" 2>&1
tail -n 40 "$out/gpu_tests.log" "$out/run.log" "$out/bench.log"
