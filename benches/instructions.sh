#!/usr/bin/env bash
# User-space instructions per /decide request, pacwarden against the floor (examples/floor.rs),
# counted by callgrind: unlike requests/s or CPU time on a shared machine, the count does not
# move from run to run, so it shows what a change to the request path costs.
#
# Each server runs under valgrind with one tokio worker; curl sends the request mix of
# benches/paths.py once to warm up, the counters are zeroed, the same N requests go again on
# one keep-alive connection, and the counters are dumped. Kernel time is not counted.
#
# usage: benches/instructions.sh [N]    (needs: apt-get install -y valgrind curl)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-4000}"
command -v valgrind >/dev/null && command -v curl >/dev/null || { echo "needs valgrind and curl (apt-get install -y valgrind curl)" >&2; exit 1; }
cargo build --release --quiet --bin pacwarden --example floor
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

count() { # name port command...
  local name=$1 port=$2; shift 2
  TOKIO_WORKER_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" "$@" > "$work/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 150); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.2; done
  [ -f "$work/paths.txt" ] || { curl -fs "http://127.0.0.1:$port/catalogue" > "$work/catalogue.json"; python3 benches/paths.py "$work"; }
  python3 - "${PATHS:-$work/paths.txt}" "$port" "$N" > "$work/$name.curl" <<'PY'
import sys
paths = [l.strip() for l in open(sys.argv[1]) if l.strip()]
for i in range(int(sys.argv[3])):
    print(f'url = "http://127.0.0.1:{sys.argv[2]}{paths[i % len(paths)]}"\noutput = "/dev/null"')
PY
  curl -s -K "$work/$name.curl" > /dev/null
  callgrind_control -z "$pid" > /dev/null 2>&1
  curl -s -K "$work/$name.curl" > /dev/null
  callgrind_control -d "$pid" > /dev/null 2>&1
  sleep 0.5
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local total
  total=$(callgrind_annotate "$work/$name.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo $((total / N)) > "$work/$name.count"
  printf '%-20s %8d instructions per request\n' "$name" "$((total / N))"
}

echo "callgrind, $N requests of the /decide mix (and of /healthz), one keep-alive connection:"
count pacwarden-decide 18391 target/release/pacwarden serve --listen 127.0.0.1:18391
count floor 18392 target/release/examples/floor 127.0.0.1:18392
# The same server answering /healthz: the listener, watchdog, metrics and routing without the
# decision, which separates what the stack costs from what /decide adds.
yes /healthz | head -600 > "$work/healthz.txt" || true
PATHS="$work/healthz.txt" count pacwarden-healthz 18393 target/release/pacwarden serve --listen 127.0.0.1:18393
python3 - "$work" <<'PY'
import sys
c = {n: int(open(f"{sys.argv[1]}/{n}.count").read()) for n in ("floor", "pacwarden-decide", "pacwarden-healthz")}
f, d, h = c["floor"], c["pacwarden-decide"], c["pacwarden-healthz"]
print(f"pacwarden - floor = {d - f} instructions per request ({d / f:.2f}x): "
      f"{h - f} in the stack (/healthz), {d - h} in /decide itself")
PY
