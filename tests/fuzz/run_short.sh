#!/usr/bin/env bash
# Compiles one fuzz target with clang (libFuzzer + ASan + UBSan) and fuzzes it for a short while
# over a copy of its seed corpus, so the checked-in seeds never grow. Exits non-zero on any
# finding; the crashing input is left in BUILD_DIR as crash-*/leak-*/timeout-*.
# Usage: run_short.sh TARGET CLANGXX SOURCE_DIR BUILD_DIR [SECONDS]
#   TARGET is a folder of tests/fuzz (http1, proxy_protocol, client_hello).
set -euo pipefail
name=$1
cxx=$2
src=$3
out=$4
secs=${5:-30}

# The sources each target's code under test is built from (the fuzz build proper links the
# CMake libraries instead; here only what the codec needs, to keep the compile short).
case "$name" in
  http1) sources=("$src"/l7/http1/*.cc) ;;
  proxy_protocol) sources=("$src"/l4/proxy_protocol.cc) ;;
  client_hello) sources=("$src"/l4/client_hello.cc) ;;
  *) echo "run_short.sh: unknown fuzz target '$name'" >&2; exit 2 ;;
esac

bin="$out/fuzz_${name}_short"
work="$out/fuzz_${name}_short_corpus"
mkdir -p "$out"
"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all -DASIO_STANDALONE -DASIO_NO_DEPRECATED -I"$src" \
  "${sources[@]}" "$src/tests/fuzz/$name/fuzz_$name.cc" -o "$bin"

rm -rf "$work"
mkdir -p "$work"
cp "$src/tests/fuzz/$name/corpus/"* "$work"/
exec "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$out/${name}-" "$work"
