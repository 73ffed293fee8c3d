#!/usr/bin/env bash
# Compiles the HTTP/1 fuzz target with clang (libFuzzer + ASan + UBSan) and fuzzes it for a short
# while over a copy of the seed corpus, so the checked-in seeds never grow. Exits non-zero on any
# finding; the crashing input is left in BUILD_DIR as crash-*/leak-*/timeout-*.
# Usage: run_short.sh CLANGXX SOURCE_DIR BUILD_DIR [SECONDS]
set -euo pipefail
cxx=$1
src=$2
out=$3
secs=${4:-30}

bin="$out/fuzz_http1_short"
work="$out/fuzz_http1_short_corpus"
mkdir -p "$out"
"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all -I"$src" \
  "$src"/l7/http1/*.cc "$src"/tests/fuzz/http1/fuzz_http1.cc -o "$bin"

rm -rf "$work"
mkdir -p "$work"
cp "$src"/tests/fuzz/http1/corpus/* "$work"/
exec "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$out/" "$work"
