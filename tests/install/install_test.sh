#!/usr/bin/env bash
# Installs a built xent into a temporary prefix, then configures, builds and runs the consumer project beside this
# script against it (find_package(xent)). Usage: install_test.sh CMAKE BUILD_DIR CONSUMER_SOURCE_DIR GENERATOR
set -euo pipefail
cmake=$1 build=$2 consumer=$3 generator=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cmake" --install "$build" --prefix "$work/prefix" >"$work/install.log" || { cat "$work/install.log"; exit 1; }
# Only the public headers are installed.
headers=$(cd "$work/prefix/include" && find . -type f | sort | tr '\n' ' ')
[ "$headers" = "./xent/xent.h ./xent/xent.hpp " ] || { echo "installed headers: $headers"; exit 1; }
"$cmake" -S "$consumer" -B "$work/build" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix"
"$cmake" --build "$work/build"
"$work/build/consumer_c"
"$work/build/consumer_cpp"
