#!/bin/bash
# Session 7's GPU run, most important first (a timeout keeps main.log): GPU suites on HEAD, benchmarks, compare.py,
# small batches, tune of 128256, host, xent run / pytest.
set -u
bin=$PWD/gpubin; R=$OUT/r; mkdir -p $R; L=$OUT/main.log
export XENT_CACHE_DIR=/tmp/xent-cache LD_LIBRARY_PATH=$bin
start=$(date +%s); late() { [ $(( $(date +%s) - start )) -gt $1 ] && echo "skipped (late)" >> $L; }; t() { echo "[$(( $(date +%s) - start )) s] $*" >> $L; }
{ echo "HEAD $(cat $bin/COMMIT)"; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader; date -u; } > $L
for i in cold warm; do XENT_CACHE_DIR=/tmp/hc timeout 30 $bin/xent bench --host --json $R/host_$i.json; done >> $L 2>&1; t "host"
timeout 280 $bin/xent_tests --gtest_filter='Gpu*:Cuda*' > $R/gpu_tests.log 2>&1; t "gpu tests exit $?"
grep -E "^\[  (FAILED|PASSED|SKIPPED) |Failure" $R/gpu_tests.log | head -20 >> $L
for x in xent_driver_missing_test xent_api_validation_test; do timeout 20 $bin/$x > $R/$x.log 2>&1; t "$x exit $?"; done
timeout 30 $bin/xent bench --mode fused --json $R/bench_fused.json >> $L 2>&1
for m in fwd-bwd fwd; do timeout 30 $bin/xent bench --mode $m --json $R/bench_$m.json >> $L 2>&1; done
for d in f32 f16; do timeout 30 $bin/xent bench --mode fused --dtype $d --json $R/bench_fused_$d.json >> $L 2>&1; done; t "benchmarks"
for v in 50257 128256; do timeout 30 $bin/xent bench --latency --vocabs $v --json $R/latency_$v.json >> $L 2>&1; done; t "latency"
PYTHONPATH=$PWD/runtime/python timeout 100 python3 tools/bench/compare.py --library $bin/libxent.so --json $OUT/compare.json --png $OUT/compare.png > $OUT/compare.log 2>&1
echo "compare exit $?" >> $OUT/compare.log; t "compare.py"
b() { timeout 15 $bin/xent bench --mode fused --iterations 30 "$@" 2>&1 | grep -E "^ *[0-9]+ " ; }
{ for cfg in "256 1024 16" "256 2048 16" "128 1024 16"; do set -- $cfg; echo -n "f32 256000 t=$1 b=$2 c=$3: "; b --dtype f32 --vocabs 256000 --threads $1 --block $2 --cluster $3 --staging shared; done; } >> $L 2>&1; t "variants"
late 440 || timeout 60 $bin/xent tune --dtype bf16 --vocab 128256 --tokens 16384 --mode fused --json $R/tune_128256.json > $R/tune_128256.log 2>&1; t "tune exit $?"
tail -4 $R/tune_128256.log >> $L
late 480 || { timeout 30 $bin/xent run --vocab 151936 --tokens 1024 --mode fused --dtype bf16; timeout 60 $bin/xent run --tp 1 --vocab 50257 --tokens 2048 --label-smoothing 0.1; echo "run --tp 1 exit $?"; } > $R/run.log 2>&1; t "xent run"
late 480 || PYTHONPATH=$PWD/runtime/python XENT_LIBRARY=$bin/libxent.so timeout 75 python3 -m pytest -q runtime/python/tests > $R/pytest.log 2>&1; t "pytest exit $?"
tail -3 $R/pytest.log >> $L
tar -C $OUT -czf $OUT/r.tgz r && rm -rf $R
cat $L; tail -14 $OUT/compare.log
