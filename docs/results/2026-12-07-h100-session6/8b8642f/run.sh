#!/bin/bash
# Session 6's GPU run, most important first (a timeout keeps main.log): GPU suites on HEAD, A/B of change 30 (HEAD
# against v29/, change 29 alone), benchmarks, compare.py, 16-program clusters and other variants, host.
set -u
bin=$PWD/gpubin; v29=$PWD/gpubin/v29; R=$OUT/r; mkdir -p $R; L=$OUT/main.log
export XENT_CACHE_DIR=/tmp/xent-cache
start=$(date +%s); t() { echo "[$(( $(date +%s) - start )) s] $*" >> $L; }
{ echo "HEAD $(cat $bin/COMMIT), v29 $(cat $v29/COMMIT)"; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader; date -u; } > $L
export LD_LIBRARY_PATH=$bin
timeout 200 $bin/xent_tests --gtest_filter='Gpu*:Cuda*' > $OUT/gpu_tests.log 2>&1; t "gpu tests exit $?"
grep -E "^\[  (FAILED|PASSED|SKIPPED) |Failure" $OUT/gpu_tests.log | head -20 >> $L
for x in xent_driver_missing_test xent_api_validation_test; do timeout 20 $bin/$x > $R/$x.log 2>&1; t "$x exit $?"; done
for lib in $bin $v29; do
  LD_LIBRARY_PATH=$lib XENT_CACHE_DIR=/tmp/cache-$(basename $lib) timeout 30 $bin/xent bench --mode fused 2>&1 | grep -E "^ *[0-9]+ |copy" | sed "s|^|$(basename $lib): |" >> $L
  LD_LIBRARY_PATH=$lib XENT_CACHE_DIR=/tmp/cache-$(basename $lib) timeout 30 $bin/xent bench --mode fused --dtype f32 --vocabs 128256,151936,256000 2>&1 | grep -E "^ *[0-9]+ " | sed "s|^|$(basename $lib) f32: |" >> $L
done; t "A/B (gpubin = HEAD, v29 = change 29 alone)"
timeout 30 $bin/xent bench --mode fused --json $R/bench_fused.json >> $L 2>&1
for m in fwd-bwd fwd; do timeout 30 $bin/xent bench --mode $m --json $R/bench_$m.json >> $L 2>&1; done
for d in f32 f16; do timeout 30 $bin/xent bench --mode fused --dtype $d --json $R/bench_fused_$d.json >> $L 2>&1; done; t "benchmarks"
b() { timeout 15 $bin/xent bench --mode fused --iterations 30 "$@" 2>&1 | grep -E "^ *[0-9]+ " ; }
{
for cfg in "256 2048 16" "256 4096 16"; do set -- $cfg; echo -n "bf16 256000 t=$1 b=$2 c=$3: "; b --vocabs 256000 --threads $1 --block $2 --cluster $3 --staging shared; done
echo -n "bf16 151936 t=256 b=2048 c=8: "; b --vocabs 151936 --threads 256 --block 2048 --cluster 8 --staging shared
for v in 128256 256000; do for cfg in "256 1024 16" "256 2048 16"; do set -- $cfg; echo -n "f32 $v t=$1 b=$2 c=$3: "; b --dtype f32 --vocabs $v --threads $1 --block $2 --cluster $3 --staging shared; done; done
} >> $L 2>&1; t "variants"
PYTHONPATH=$PWD/runtime/python timeout 90 python3 tools/bench/compare.py --library $bin/libxent.so --json $OUT/compare.json --png $OUT/compare.png > $OUT/compare.log 2>&1
echo "compare exit $?" >> $OUT/compare.log; t "compare.py"
for i in 1 2; do XENT_CACHE_DIR=/tmp/hc timeout 20 $bin/xent bench --host --json $R/host_$i.json; done >> $L 2>&1; t "host"
tar -C $OUT -czf $OUT/r.tgz r && rm -rf $R
cat $L; tail -14 $OUT/compare.log
