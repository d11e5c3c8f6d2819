#!/usr/bin/env bash
# The PTX of every kernel at a set of specs, from one or more builds, side by side: PTX lines, and with ptxas (the CUDA
# toolkit's, /usr/local/cuda/bin) registers and spill bytes, and whether each build's PTX is byte-identical to the
# first's. For a kernel change on a machine without a GPU: which kernels it touched, and what it did to their registers
# before any device time is spent (session 10's change 42 took the cluster kernels from 55 to 70-77 registers; the
# GPU then measured them slower).
# Usage: tools/ptx_report.sh BUILD [BUILD...]
#   BUILD: a CMake build folder (tools/xent, runtime/libxent.so) or a packed one (xent, libxent.so or libxent.so.gz).
#   SPECS (optional): specs separated by ';', each `dtype vocab [xent compile flags]`; KERNELS (optional): kernel names.
#   In each build's column: `=` the PTX is byte-identical to the first build's, `*` it differs.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,10p "$0"; exit 2; }
ptxas=${PTXAS:-/usr/local/cuda/bin/ptxas}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each build's xent binary and library folder (xents[i], libs[i]), a gzipped library unpacked once into $work/build$i.
xents=() libs=()
for b in "$@"; do
  i=${#xents[@]}
  if [ -x "$b/tools/xent" ]; then
    xents+=("$b/tools/xent") libs+=("$b/runtime")
  elif [ -f "$b/libxent.so" ]; then
    xents+=("$b/xent") libs+=("$b")
  elif [ -f "$b/libxent.so.gz" ]; then
    mkdir -p "$work/build$i" && gunzip -c "$b/libxent.so.gz" >"$work/build$i/libxent.so"
    xents+=("$b/xent") libs+=("$work/build$i")
  else
    echo "ptx_report: $b holds neither tools/xent nor libxent.so(.gz)" >&2
    exit 2
  fi
done

IFS=';' read -ra specs <<<"${SPECS:-bf16 16032;bf16 50257;bf16 50257 --label-smoothing 0.1;bf16 128256;bf16 151936;bf16 256000;f32 256000;f16 32000;bf16 151936 --alignment base}"
read -ra kernels <<<"${KERNELS:-ce_stats ce_forward ce_backward ce_fused ce_fused_small}"

printf '%-18s %-40s' kernel spec
for b in "$@"; do printf ' | %-26s' "$(basename "$b")"; done
printf '\n'
same=0 differ=0
for spec in "${specs[@]}"; do
  read -ra words <<<"$spec"
  for kernel in "${kernels[@]}"; do
    printf '%-18s %-40s' "$kernel" "$spec"
    first=""
    for i in "${!xents[@]}"; do
      ptx=$work/$i.ptx
      if ! LD_LIBRARY_PATH=${libs[$i]} XENT_CACHE_DIR=$work/cache$i "${xents[$i]}" compile --kernel "$kernel" \
        --dtype "${words[0]}" --vocab "${words[1]}" "${words[@]:2}" --emit ptx >"$ptx" 2>/dev/null; then
        printf ' | %-26s' "fails"
        continue
      fi
      regs=""
      if [ -x "$ptxas" ]; then
        regs=$("$ptxas" -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 |
          sed -n 's/.*Used \([0-9]*\) registers.*/\1 regs/p;s/.*\([0-9][0-9]*\) bytes spill stores.*/\1 B spilled/p' |
          grep -v '^0 B' | paste -sd' ')
      fi
      mark=""
      if [ $i -eq 0 ]; then
        first=$ptx.first && cp "$ptx" "$first"
      elif cmp -s "$ptx" "$first"; then
        mark="=" same=$((same + 1))
      else
        mark="*" differ=$((differ + 1))
      fi
      printf ' | %-26s' "$mark $(wc -l <"$ptx") lines, $regs"
    done
    printf '\n'
  done
done
[ $# -gt 1 ] && echo "against the first build: $same identical, $differ different"
exit 0
