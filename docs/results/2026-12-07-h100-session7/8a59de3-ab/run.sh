#!/bin/bash
# Session 7's third GPU run (8a59de3: change 36 only for calls of up to 64 rows), most important first: host A/B
# against v0 = 4bd4aee, GPU suites, benchmarks (HEAD, and v0's fused bf16 for the A/B), small batches, compare.py.
set -u
gunzip -f gpubin/libxent.so.gz gpubin/v0/libxent.so.gz
bin=$PWD/gpubin; v0=$PWD/gpubin/v0; R=$OUT/r; mkdir -p $R; L=$OUT/main.log
export XENT_CACHE_DIR=/tmp/xent-cache LD_LIBRARY_PATH=$bin
start=$(date +%s); late() { [ $(( $(date +%s) - start )) -gt $1 ] && echo "skipped (late)" >> $L; }; t() { echo "[$(( $(date +%s) - start )) s] $*" >> $L; }
{ echo "HEAD $(cat $bin/COMMIT), v0 $(cat $v0/COMMIT)"; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader; date -u; } > $L
for round in 1 2; do for lib in $bin $v0; do n=$(basename $lib); for i in cold warm; do
  LD_LIBRARY_PATH=$lib XENT_CACHE_DIR=/tmp/hc-$n-$round timeout 30 $lib/xent bench --host --json $R/host_${n}_${round}_$i.json 2>&1 | sed "s|^|$n: |"; done; done; done >> $L; t "host"
timeout 280 $bin/xent_tests --gtest_filter='Gpu*:Cuda*' > $R/gpu_tests.log 2>&1; t "gpu tests exit $?"
grep -E "^\[  (FAILED|PASSED|SKIPPED) |Failure" $R/gpu_tests.log | head -20 >> $L
for x in xent_driver_missing_test xent_api_validation_test; do timeout 20 $bin/$x > $R/$x.log 2>&1; t "$x exit $?"; done
{ for m in fused fwd-bwd fwd; do timeout 30 $bin/xent bench --mode $m --json $R/bench_$m.json 2>&1 | grep -E "^ *[0-9]+ |copy" | sed "s|^|$m: |"; done
  for d in f32 f16; do timeout 30 $bin/xent bench --mode fused --dtype $d --json $R/bench_fused_$d.json 2>&1 | grep -E "^ *[0-9]+ " | sed "s|^|$d: |"; done
  LD_LIBRARY_PATH=$v0 XENT_CACHE_DIR=/tmp/cache-v0 timeout 30 $v0/xent bench --mode fused --json $R/bench_v0_fused.json 2>&1 | grep -E "^ *[0-9]+ |copy" | sed "s|^|v0 fused: |"
  for v in 50257 128256; do timeout 30 $bin/xent bench --latency --vocabs $v --json $R/latency_$v.json 2>&1; done
  for v in 50257 128256; do LD_LIBRARY_PATH=$v0 XENT_CACHE_DIR=/tmp/cache-v0 timeout 30 $v0/xent bench --latency --vocabs $v --json $R/latency_v0_$v.json 2>&1 | sed "s|^|v0: |"; done
} >> $L; t "benchmarks"
PYTHONPATH=$PWD/runtime/python timeout 100 python3 tools/bench/compare.py --library $bin/libxent.so --json $OUT/compare.json --png $OUT/compare.png > $OUT/compare.log 2>&1
echo "compare exit $?" >> $OUT/compare.log; t "compare.py"
late 370 || { timeout 30 $bin/xent run --vocab 151936 --tokens 1024 --mode fused --dtype bf16; timeout 40 $bin/xent run --tp 1 --vocab 50257 --tokens 2048 --label-smoothing 0.1; echo "run --tp 1 exit $?"; timeout 20 $bin/xent demo --no-ir; } > $R/run.log 2>&1; t "xent run"; tail -4 $R/run.log >> $L
late 410 || { PYTHONPATH=$PWD/runtime/python XENT_LIBRARY=$bin/libxent.so timeout 50 python3 -m pytest -q runtime/python/tests > $R/pytest.log 2>&1; t "pytest exit $?"; tail -3 $R/pytest.log >> $L; }
tar -C $OUT -czf $OUT/r.tgz r && rm -rf $R
cat $L; tail -14 $OUT/compare.log
