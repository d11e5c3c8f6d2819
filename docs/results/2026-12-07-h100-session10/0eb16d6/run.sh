#!/bin/bash
# Session 10's device call: changes 42 (the run loop) and 43 (one launch for small fused calls) at 0eb16d6
# (gpubin-final) against 5379036 (gpubin, session 9's GPU-verified build): the fused benchmark on the long rows, host
# time and small batches, then every GPU suite on gpubin-final.
set -u
OUT=$1
for d in gpubin gpubin-final; do gunzip -f $d/libxent.so.gz; chmod +x $d/*; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
STAGES=bench MODES=fused DTYPES="bf16 f16 f32" VOCABS="128256 151936 256000" timeout 150 \
  tools/gpu/compare_builds.sh gpubin gpubin-final $OUT/ab42 145 >/dev/null 2>&1
STAGES="host latency" timeout 100 tools/gpu/compare_builds.sh gpubin gpubin-final $OUT/ab43 95 >/dev/null 2>&1
timeout 320 tools/gpu/run_suites.sh gpubin-final $OUT/suites suites >$OUT/suites_stdout.log 2>&1
grep -E "^\[  (FAILED|PASSED)|exit" $OUT/suites/summary.log
grep -E "^==|V=|%|us|ms" $OUT/ab42/compare_builds.log | head -60
