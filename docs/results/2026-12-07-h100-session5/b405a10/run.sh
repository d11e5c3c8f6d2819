#!/bin/bash
# Session 5's second GPU run, most important first (a timeout keeps what is written): the heuristic of change 26,
# the parallel loads of change 27, then compare.py.
B=$PWD/gpubin; export LD_LIBRARY_PATH=$B XENT_CACHE_DIR=/tmp/xent-cache; R=$OUT/r; mkdir -p $R; L=$OUT/main.log
{ cat gpubin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u; } > $L
timeout 60 $B/xent_tests --gtest_filter='GpuCrossEntropy.HeuristicLongFusedRows:GpuCrossEntropy.StagedClusterFusedRows' > $R/checks.log 2>&1
echo "checks exit $?" >> $R/checks.log; grep -E "exit|OK|FAIL|PASS" $R/checks.log >> $L; date -u >> $L
for m in fused fwd-bwd fwd; do timeout 40 $B/xent bench --mode $m --json $R/bench_$m.json >> $L 2>&1; done; date -u >> $L
{ for v in 128256 151936 256000; do timeout 30 $B/xent tune --dtype bf16 --vocab $v --tokens 16384 --mode fused --json $R/tune_bf16_$v.json 2>&1 | tr '\r' '\n' | grep -v '\[#*\.*\]'; done
  for v in 128256 151936; do timeout 30 $B/xent tune --dtype f32 --vocab $v --tokens 16384 --mode fused --json $R/tune_f32_$v.json 2>&1 | tr '\r' '\n' | grep -v '\[#*\.*\]'; done; } > $R/tune.log 2>&1
grep winner $R/tune.log >> $L; date -u >> $L
for i in 1 2; do XENT_CACHE_DIR=/tmp/hc timeout 30 $B/xent bench --host --json $R/host_$i.json; done >> $L 2>&1
for d in f32 f16; do timeout 40 $B/xent bench --mode fused --dtype $d --json $R/bench_fused_$d.json; done >> $L 2>&1
timeout 30 $B/xent bench --latency --vocabs 50257 --json $R/bench_latency.json >> $L 2>&1; date -u >> $L
PYTHONPATH=$PWD/runtime/python timeout 170 python3 tools/bench/compare.py --library $B/libxent.so --json $OUT/compare.json --png $OUT/compare.png > $OUT/compare.log 2>&1
echo "compare exit $?" >> $OUT/compare.log; date -u >> $L
cat $L; tail -16 $OUT/compare.log
