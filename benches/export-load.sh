#!/usr/bin/env bash
# /decide while 200 connections keep asking for /export/json: exports are rendered once per
# generation and served from memory, so they must not starve the decisions. Loopback only.
#
# usage: benches/export-load.sh [SECONDS]      (needs wrk: apt-get install -y wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
PORT=18611
command -v wrk >/dev/null || { echo "needs wrk (apt-get install -y wrk)" >&2; exit 1; }
cargo build --release --quiet --bin pacwarden
work=$(mktemp -d)
target/release/pacwarden serve --listen "127.0.0.1:$PORT" > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
wrk -t1 -c200 -d"$((SECS + 2))s" "http://127.0.0.1:$PORT/export/json" > "$work/exports.txt" 2>&1 &
exports=$!
sleep 1
wrk -t1 -c4 -d"${SECS}s" --latency "http://127.0.0.1:$PORT/decide?host=outlook.office365.com" > "$work/decide.txt" 2>&1
wait $exports
echo "/export/json, 200 connections:"; grep -E "Requests/sec|Latency  " "$work/exports.txt"
echo "/decide at the same time, 4 connections:"; grep -E "Requests/sec|Latency  |99%|Non-2xx" "$work/decide.txt"
