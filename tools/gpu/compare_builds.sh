#!/usr/bin/env bash
# Times two builds one after the other on the same card, for an optimization's before and after (docs/performance.md
# wants both from one machine): the host side (`xent bench --host`, cold cache, then warm twice), small batches
# (`--latency`, fused and forward mode, V = 50257 and 128256), then `xent bench` at N = 16384 in every mode.
# Usage: [STAGES=...] [MODES=...] [DTYPES=...] [VOCABS=...] tools/gpu/compare_builds.sh BEFORE_BIN AFTER_BIN OUT_DIR [SECONDS]
#   each BIN_DIR holds libxent.so and xent (as for run_suites.sh). A stage that would end past SECONDS (default 540)
#   is skipped; every stage repacks OUT_DIR/builds.tgz (the JSON of each run, named by build), and
#   OUT_DIR/compare_builds.log holds what both printed, so a stop keeps what ran.
#   To spend less device time on a change that touches some kernels only: STAGES (default "host latency bench"),
#   MODES for the benchmark at N = 16384 (default "fused fwd-bwd fwd"), DTYPES (default bf16), VOCABS (default:
#   xent bench's eight).
set -u
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
out=$3
budget=${4:-540}
work=$(mktemp -d)/builds
mkdir -p "$work" "$out"
log="$out/compare_builds.log"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader
  echo "before: $before ($(cat "$before/COMMIT" 2>/dev/null)), after: $after ($(cat "$after/COMMIT" 2>/dev/null))"
} >"$log" 2>&1

pack() {
  tar -C "$(dirname "$work")" -czf "$out/builds.tgz" builds
  echo "[$SECONDS s] $1" >>"$log"
}
# Whether a stage of about $1 seconds still ends within the budget.
room() { [ $((SECONDS + $1)) -le "$budget" ] || { echo "[$SECONDS s] skipped: $2 (past $budget s)" >>"$log"; false; }; }
# xent of build $1 (before or after) with the remaining arguments, each build with a disk cache of its own under
# $cache (the host runs start from an empty one).
xent() {
  local name=$1 bin
  shift
  bin=$([ "$name" = before ] && echo "$before" || echo "$after")
  echo "== $name: xent $*"
  LD_LIBRARY_PATH="$bin" XENT_CACHE_DIR="$cache/$name" timeout 90 "$bin/xent" "$@"
}

stages=" ${STAGES:-host latency bench} "
vocabs=()
[ -n "${VOCABS:-}" ] && vocabs=(--vocabs $VOCABS)
cache=$(mktemp -d)
if [[ $stages == *" host "* ]]; then
  for name in before after; do
    for run in cold warm warm2; do xent "$name" bench --host --json "$work/${name}_host_$run.json"; done
  done >>"$log" 2>&1
  pack host
fi
if [[ $stages == *" latency "* ]]; then
  for mode in fused fwd; do
    for vocab in 50257 128256; do
      room 25 "latency $mode $vocab" || continue
      for name in before after; do
        xent "$name" bench --latency --mode "$mode" --vocabs "$vocab" --json "$work/${name}_latency_${mode}_$vocab.json"
      done >>"$log" 2>&1
    done
  done
  pack latency
fi
if [[ $stages == *" bench "* ]]; then
  for dtype in ${DTYPES:-bf16}; do
    for mode in ${MODES:-fused fwd-bwd fwd}; do
      room 60 "bench $dtype $mode" || continue
      for name in before after; do
        xent "$name" bench --dtype "$dtype" --mode "$mode" "${vocabs[@]}" --json "$work/${name}_${dtype}_$mode.json"
      done >>"$log" 2>&1
    done
  done
  pack "bench at N = 16384"
fi
cat "$log"
