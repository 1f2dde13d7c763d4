#!/usr/bin/env bash
# CPU time per request of two running servers, loaded at the same time: the comparison this
# machine does not blur. Measured one after the other, CPU time per request swings by a
# quarter between runs here (steal time, cache pressure, how many requests each wake-up
# finds); two servers on the same core under the same load meet the same machine, and the
# ratio between them moves by one or two per cent. `benches/load.sh` measures its pairs the
# same way; this script pairs any two builds or settings, e.g. a change against main.
#
# usage: [PATHS_A=FILE] [PATHS_B=FILE] benches/pair.sh ADDR_A ADDR_B [RATE] [ROUNDS]
#
# Start both servers first, pinned to one core, e.g.
#   TOKIO_WORKER_THREADS=1 taskset -c 1 target/release/pacwarden serve --listen 127.0.0.1:18601 &
#   TOKIO_WORKER_THREADS=1 taskset -c 1 target/release/examples/floor 127.0.0.1:18602 &
#   benches/pair.sh 127.0.0.1:18602 127.0.0.1:18601
# Each round, a client on core 0 sends RATE requests/s (default 12 000) to each server for
# 6 s over 16 connections, and `perf stat` reads each server process's task-clock over the
# middle 4 s. The request paths are one per line in PATHS_A / PATHS_B (e.g. `/healthz`
# repeated); by default the `/decide` mix of benches/paths.py, made from the catalogue of
# whichever server answers `/catalogue`. The server process is the one listening on the
# address (so not nginx, whose master holds the socket; benches/load.sh handles nginx).
#
# Needs: perf (linux-perf), ss (iproute2), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '9p' "$0" | sed 's/^# //' >&2; exit 2; }
A=$1 B=$2 RATE=${3:-12000} ROUNDS=${4:-5}
for tool in perf ss curl python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
cargo build --release --quiet --example paced
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

pid_of() { # address
  ss -ltnpH "sport = :${1##*:}" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2
}
PA=$(pid_of "$A") PB=$(pid_of "$B")
[ -n "$PA" ] && [ -n "$PB" ] || { echo "no process listens on $A or $B" >&2; exit 1; }

if [ -z "${PATHS_A:-}" ] || [ -z "${PATHS_B:-}" ]; then
  for addr in "$A" "$B"; do
    if curl -fs "http://$addr/catalogue" > "$work/catalogue.json" \
      && python3 -c 'import json, sys; json.load(open(sys.argv[1]))["sets"]' "$work/catalogue.json" 2>/dev/null; then
      python3 benches/paths.py "$work"
      break
    fi
  done
  [ -f "$work/paths.txt" ] || { echo "give PATHS_A and PATHS_B: neither server answers /catalogue" >&2; exit 1; }
fi
PATHS_A=${PATHS_A:-$work/paths.txt} PATHS_B=${PATHS_B:-$work/paths.txt}

CLIENT_CPU=""
command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] && CLIENT_CPU="taskset -c 0"
echo "CPU per request (µs), $RATE req/s to each of A=$A and B=$B, $ROUNDS rounds:"
for round in $(seq "$ROUNDS"); do
  $CLIENT_CPU target/release/examples/paced "$A" "$RATE" 6 16 "$PATHS_A" > "$work/a.out" &
  c1=$!
  $CLIENT_CPU target/release/examples/paced "$B" "$RATE" 6 16 "$PATHS_B" > "$work/b.out" &
  c2=$!
  sleep 1
  perf stat -x, -e task-clock -p "$PA" -- sleep 4 2> "$work/perf-a.txt" &
  p1=$!
  perf stat -x, -e task-clock -p "$PB" -- sleep 4 2> "$work/perf-b.txt"
  wait "$p1" "$c1" "$c2"
  for x in a b; do
    awk -F, -v r="$RATE" '/task-clock/ {printf "%.2f\n", $1 * 1000 / (r * 4)}' "$work/perf-$x.txt" >> "$work/$x.cpu"
  done
done
python3 - "$work" <<'PY'
import statistics, sys
w = sys.argv[1]
a = [float(l) for l in open(f"{w}/a.cpu")]
b = [float(l) for l in open(f"{w}/b.cpu")]
ratios = [x / y for x, y in zip(a, b)]
for i, (x, y, r) in enumerate(zip(a, b, ratios), 1):
    print(f"  round {i}: A {x:.2f}  B {y:.2f}  B's throughput relative to A {r:.3f}")
print(f"B relative to A (A's CPU per request / B's): median {statistics.median(ratios):.3f}, "
      f"rounds {min(ratios):.3f}-{max(ratios):.3f}")
PY
