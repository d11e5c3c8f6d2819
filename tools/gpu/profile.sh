#!/usr/bin/env bash
# Profiles xent's row kernels with Nsight Compute on the GPU machine, from a carried build: DRAM and L2 traffic,
# occupancy, registers and warp stall reasons of one launch per kernel and vocabulary size.
# Usage: tools/gpu/profile.sh BIN_DIR OUT_DIR [V...]   (default V: 16032 50257 128256)
# Writes OUT_DIR/profile.log (the report as text); prints why when ncu is missing.
set -u
bin=$(cd "$1" && pwd)
out=$2
shift 2
vocabs=${*:-16032 50257 128256}
mkdir -p "$out"
export LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" XENT_CACHE_DIR=/tmp/xent-profile-cache
ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -z "$ncu" ]; then
  echo "profile skipped: no ncu on this machine" | tee "$out/profile.log"
  exit 0
fi
sections="--section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats --section WarpStateStats"
{
  "$ncu" --version
  for v in $vocabs; do
    for mode in fused fwd; do
      echo "=== V=$v mode=$mode"
      # Skip the warm-up launches; one timed launch per kernel is enough for counters.
      "$ncu" --kernel-name regex:'ce_(fused|stats)' --launch-skip 2 --launch-count 1 $sections \
        "$bin/xent" bench --mode "$mode" --vocabs "$v" --iterations 1
    done
  done
} >"$out/profile.log" 2>&1
