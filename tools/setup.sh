#!/usr/bin/env bash
# Installs what building xent needs on Debian 12, skipping what is already there. Run as root (or with sudo).
set -euo pipefail
packages=(cmake ninja-build g++ llvm-19-dev nlohmann-json3-dev libcli11-dev libgtest-dev libbenchmark-dev libssl-dev
          zlib1g-dev libzstd-dev python3-pytest)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The CUDA toolkit's ptxas (tests check the generated PTX with it) and headers are expected at /usr/local/cuda.
[ -x /usr/local/cuda/bin/ptxas ] || echo "setup: note: /usr/local/cuda/bin/ptxas not found; the ptxas checks will skip"
