#!/bin/bash
# Session 9's second device call, refused twice. For the next session, from the repository root, carrying the ignored
# folders gpubin/ (HEAD's build) and gpubin-old/ (6600c59's), packed as in docs/gpu-status.md: the two fixed GPU tests,
# compare.py, changes 37-39 against 6600c59 (host, small batches), and forward+backward and forward-only in bf16, f32
# and f16.
set -u
OUT=$1
for d in gpubin gpubin-old; do gunzip -f $d/libxent.so.gz; chmod +x $d/*; done
export XENT_CACHE_DIR=/tmp/xent-c2
(
  export LD_LIBRARY_PATH=$PWD/gpubin
  timeout 90 gpubin/xent_tests --gtest_filter='GpuCrossEntropy.ReductionsWeightsMasksUpstream:GpuCrossEntropy.WarmCacheProcessStartLoadsWithoutCompiling' >$OUT/fixed_tests.log 2>&1
  echo "exit $?" >>$OUT/fixed_tests.log
  PYTHONPATH=$PWD/runtime/python timeout 180 python3 tools/bench/compare.py --library gpubin/libxent.so \
    --json $OUT/compare.json --png $OUT/compare.png >$OUT/compare.log 2>&1
  echo "compare exit $?" >>$OUT/compare.log
)
STAGES="host latency" timeout 130 tools/gpu/compare_builds.sh gpubin-old gpubin $OUT/ab37 125 >/dev/null 2>&1
(
  export LD_LIBRARY_PATH=$PWD/gpubin
  mkdir -p /tmp/benchjson
  for dt in bf16 f32 f16; do
    for m in fwd-bwd fwd; do timeout 30 gpubin/xent bench --dtype $dt --mode $m --json /tmp/benchjson/bench_${m}_$dt.json; done
  done >$OUT/bench.log 2>&1
  tar -C /tmp -czf $OUT/bench.tgz benchjson
)
