#!/bin/bash
# The device commands of session 9's second H100 run, on the builds packed from 5379036 (gpubin/) and 6600c59
# (gpubin-old/), in four calls on one warm machine.
set -u; for d in gpubin gpubin-old; do gunzip -f $d/libxent.so.gz; chmod +x $d/*; done; export XENT_CACHE_DIR=/tmp/xc
(export LD_LIBRARY_PATH=$PWD/gpubin; timeout 90 gpubin/xent_tests --gtest_filter='GpuCrossEntropy.ReductionsWeightsMasksUpstream:GpuCrossEntropy.WarmCacheProcessStartLoadsWithoutCompiling' > $OUT/fixed_tests.log 2>&1)
STAGES="host latency" timeout 120 tools/gpu/compare_builds.sh gpubin-old gpubin $OUT/ab37 115
(export LD_LIBRARY_PATH=$PWD/gpubin; PYTHONPATH=$PWD/runtime/python timeout 150 python3 tools/bench/compare.py --library gpubin/libxent.so --json $OUT/compare.json --png $OUT/compare.png > $OUT/compare.log 2>&1)
# second call
export LD_LIBRARY_PATH=$PWD/gpubin
for dt in bf16 f32 f16; do for m in fwd-bwd fwd; do timeout 30 gpubin/xent bench --dtype $dt --mode $m --json bench/bench_${m}_$dt.json; done; done
# third and fourth calls
for v in 256000 128256 151936; do gpubin/xent tune --dtype bf16 --vocab $v --tokens 16384 --mode fused --json tune/tune_$v.json; done
