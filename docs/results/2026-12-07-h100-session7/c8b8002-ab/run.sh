#!/bin/bash
# Session 7's second GPU run, most important first (a timeout keeps main.log): host A/B (HEAD against v0 = 4bd4aee),
# GPU suites on HEAD, benchmark A/B, compare.py, f32 cluster variants, tune, xent run, pytest.
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
for lib in $bin $v0; do n=$(basename $lib); export LD_LIBRARY_PATH=$lib XENT_CACHE_DIR=/tmp/cache-$n
  for m in fused fwd-bwd fwd; do timeout 30 $lib/xent bench --mode $m --json $R/bench_${n}_$m.json 2>&1 | grep -E "^ *[0-9]+ |copy" | sed "s|^|$n $m: |"; done
  for d in f32 f16; do timeout 30 $lib/xent bench --mode fused --dtype $d --json $R/bench_${n}_fused_$d.json 2>&1 | grep -E "^ *[0-9]+ " | sed "s|^|$n $d: |"; done
  for v in 50257 128256; do timeout 30 $lib/xent bench --latency --vocabs $v --json $R/latency_${n}_$v.json 2>&1 | sed "s|^|$n: |"; done
done >> $L; export LD_LIBRARY_PATH=$bin XENT_CACHE_DIR=/tmp/xent-cache; t "benchmarks A/B"
PYTHONPATH=$PWD/runtime/python timeout 100 python3 tools/bench/compare.py --library $bin/libxent.so --json $OUT/compare.json --png $OUT/compare.png > $OUT/compare.log 2>&1
echo "compare exit $?" >> $OUT/compare.log; t "compare.py"
b() { timeout 15 $bin/xent bench --mode fused --iterations 30 "$@" 2>&1 | grep -E "^ *[0-9]+ " ; }
{ for v in 128256 151936; do for th in 256 128; do echo -n "f32 $v t=$th c=8: "; b --dtype f32 --vocabs $v --threads $th --block $((th*8)) --cluster 8 --staging shared; done; done
  echo -n "bf16 256000 t=256 c=8: "; b --vocabs 256000 --threads 256 --block 4096 --cluster 8 --staging shared; } >> $L 2>&1; t "variants"
late 420 || { timeout 60 $bin/xent tune --dtype bf16 --vocab 128256 --tokens 16384 --mode fused --json $R/tune_128256.json > $R/tune_128256.log 2>&1; t "tune exit $?"; tail -3 $R/tune_128256.log >> $L; }
late 470 || { timeout 30 $bin/xent run --vocab 151936 --tokens 1024 --mode fused --dtype bf16; timeout 40 $bin/xent run --tp 1 --vocab 50257 --tokens 2048 --label-smoothing 0.1; echo "run --tp 1 exit $?"; timeout 20 $bin/xent demo --no-ir; } > $R/run.log 2>&1; t "xent run"
late 500 || { PYTHONPATH=$PWD/runtime/python XENT_LIBRARY=$bin/libxent.so timeout 60 python3 -m pytest -q runtime/python/tests > $R/pytest.log 2>&1; t "pytest exit $?"; tail -3 $R/pytest.log >> $L; }
tar -C $OUT -czf $OUT/r.tgz r && rm -rf $R
cat $L; tail -14 $OUT/compare.log
