#!/usr/bin/env bash
# Installs the Debian 12 packages Fulcrum needs to build, run and test, but only those missing,
# so `make run` and `make test` are quick on a machine that already has them.
# Usage: scripts/install-deps.sh [build|test|bench]
set -euo pipefail
profile="${1:-build}"

pkgs=(cmake ninja-build g++ pkg-config make
      libasio-dev libssl-dev libyaml-cpp-dev libre2-dev libfmt-dev prometheus-cpp-dev
      nlohmann-json3-dev libedit-dev libnghttp2-dev)
case "$profile" in
  build) ;;
  test)  pkgs+=(libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
               python3 curl wrk prometheus nghttp2-client nghttp2-server openssl
               python3-h2) ;;
  bench) pkgs+=(wrk nghttp2-client iperf3 openssl python3 util-linux nginx
               libnginx-mod-stream haproxy caddy) ;;
  *) echo "install-deps: unknown profile '$profile' (build|test|bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
