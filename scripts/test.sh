#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit + property tests, end-to-end tests of the
# real binary, and a cross-check against an independent reference implementation.
# Installs what the tests need on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v python3 >/dev/null || need+=(python3)
command -v node >/dev/null || need+=(nodejs)   # runs generated PAC files in V8
command -v curl >/dev/null || need+=(curl)     # HTTP/2 client in the tests
command -v chromium >/dev/null || need+=(chromium)   # headless browser obeying the PAC
command -v unshare >/dev/null || need+=(util-linux)  # browser tests run in their own network namespace
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/sbin/nginx ] || need+=(nginx)             # auth_request end to end
[ -x /usr/sbin/squid ] || need+=(squid)             # external ACL helper end to end
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

# Every step runs even when an earlier one fails; the last line says what failed.
failed=()
step() {
  local name=$1
  shift
  echo "== $name: $*"
  "$@" || failed+=("$name")
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step fmt cargo fmt --check
step clippy cargo clippy --all-targets --locked -- -D warnings
# Property tests: compiled matcher vs naive reference. Raise for a longer soak. Every test
# binary runs, even after one fails.
tests() {
  PROPTEST_CASES="${PROPTEST_CASES:-1024}" cargo test --locked --no-fail-fast 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}
step tests tests
# Decisions vs a reference written in Python from the README's rules alone.
step build cargo build --locked --quiet
step crosscheck python3 scripts/crosscheck-ms365.py target/debug/pacwarden tests/data/ms365/worldwide-trimmed.json
# The container image, when a Docker daemon is usable here.
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  step docker docker build -f docker/Dockerfile --target runtime -t pacwarden:test .
else
  echo "docker: no usable Docker daemon here; the image (docker/Dockerfile) was not built"
fi

counts=$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$log")
if [ ${#failed[@]} -gt 0 ]; then
  echo "test.sh: FAILED (${failed[*]}); tests: $counts"
  exit 1
fi
echo "test.sh: all steps passed; tests: $counts"
