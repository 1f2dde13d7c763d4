#!/usr/bin/env bash
# Load benchmark for /decide and /proxy.pac: pacwarden (release) against the floor (a minimal
# hyper server answering a fixed JSON, examples/floor.rs) and the peer an operator could build
# instead (nginx answering allow/deny from a `map $arg_host { hostnames; ... }` generated from
# the same catalogue). All three are driven alternately with wrk on loopback, in one run, with
# the same request script (wrk's Lua costs client CPU on this shared machine, so every server
# gets the same handicap; the floor ignores the path).
#
# Rounds alternate the three servers so that drift on a shared machine hits them alike; the
# summary gives the best round of each and the median of the per-round ratios. With `perf`
# (linux-perf) installed it also measures each server's CPU time per request, two servers
# loaded at the same time, which is far steadier than requests/s on a noisy machine.
#
# usage: [ROUNDS=3] benches/load.sh [DURATION_SECONDS]    (needs: apt-get install -y wrk nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
ROUNDS="${ROUNDS:-3}"
THREADS=1          # the machine has 2 cores: one for wrk, one for the server
CONNS=32
WORKERS="${WORKERS:-1}"  # worker threads (TOKIO_WORKER_THREADS) for pacwarden and the floor; nginx runs one
# Servers on one core, the load generator on the other: otherwise the kernel now and then
# parks a server thread behind the busy client for a whole time slice, which shows as
# milliseconds in the p99 of whichever server it happens to.
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER_CPU="taskset -c 1"; CLIENT_CPU="taskset -c 0"
else
  SERVER_CPU=""; CLIENT_CPU=""
fi
PW=127.0.0.1:18181; FLOOR=127.0.0.1:18182; NGX=127.0.0.1:18183
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; rm -rf "$work"' EXIT

command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx (apt-get install -y wrk nginx)" >&2; exit 1; }
cargo build --release --quiet --bin pacwarden --example floor --example paced

TOKIO_WORKER_THREADS=$WORKERS $SERVER_CPU target/release/pacwarden serve --listen "$PW" > "$work/pw.log" &
TOKIO_WORKER_THREADS=$WORKERS $SERVER_CPU target/release/examples/floor "$FLOOR" > "$work/floor.log" &
for _ in $(seq 50); do curl -fs "http://$PW/healthz" >/dev/null 2>&1 && curl -fs "http://$FLOOR/" >/dev/null 2>&1 && break; sleep 0.2; done

# Hosts: catalogue names (patterns filled in), catalogue addresses, and names outside it.
curl -fs "http://$PW/catalogue" > "$work/catalogue.json"
python3 benches/paths.py "$work"
cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;   # hyper has no per-connection request limit either
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  map_hash_bucket_size 128;
  include $work/map.conf;
  server {
    listen $NGX;
    location /decide {
      default_type application/json;
      if (\$decision = allow) { return 200 '{"decision":"allow"}'; }
      return 403 '{"decision":"deny"}';
    }
  }
}
NGINX
$SERVER_CPU nginx -c "$work/nginx.conf" -p "$work"
sleep 0.5

run() { # name url [script]
  local out
  if [ -n "${3:-}" ]; then
    out=$($CLIENT_CPU wrk -t$THREADS -c$CONNS -d"${DUR}s" --latency -s "$3" "$2")
  else
    out=$($CLIENT_CPU wrk -t$THREADS -c$CONNS -d"${DUR}s" --latency "$2")
  fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  printf '%-28s %12s req/s   p50 %8s   p99 %8s\n' "$1" "$rps" "$p50" "$p99"
  echo "$rps" > "$work/$1.rps"
}

echo "wrk -t$THREADS -c$CONNS -d${DUR}s on loopback, $(nproc) cores, servers on ${SERVER_CPU:-any cpu} with $WORKERS worker(s), $ROUNDS rounds"
for round in $(seq "$ROUNDS"); do
  run "floor-$round" "http://$FLOOR" "$work/paths.lua"
  run "nginx-map-$round" "http://$NGX" "$work/paths.lua"
  run "pacwarden-decide-$round" "http://$PW" "$work/paths.lua"
done
run "pacwarden-proxy.pac" "http://$PW/proxy.pac"
python3 - "$work" "$ROUNDS" <<'PY' | tee "$work/summary.txt"
import sys, statistics
w, rounds = sys.argv[1], int(sys.argv[2])
rps = lambda n: [float(open(f"{w}/{n}-{r}.rps").read()) for r in range(1, rounds + 1)]
floor, ngx, pw = rps("floor"), rps("nginx-map"), rps("pacwarden-decide")
print(f"best of {rounds}: floor {max(floor):.0f}, nginx map {max(ngx):.0f}, pacwarden /decide {max(pw):.0f} req/s")
print(f"  pacwarden/floor = {max(pw) / max(floor):.3f}   pacwarden/nginx = {max(pw) / max(ngx):.3f}   nginx/floor = {max(ngx) / max(floor):.3f}")
med = statistics.median
print(f"median of {rounds} rounds: floor {med(floor):.0f}, nginx map {med(ngx):.0f}, pacwarden /decide {med(pw):.0f} req/s")
print(f"  per-round ratios, median: pacwarden/floor = {med([p / f for p, f in zip(pw, floor)]):.3f}"
      f"   pacwarden/nginx = {med([p / n for p, n in zip(pw, ngx)]):.3f}"
      f"   nginx/floor = {med([n / f for n, f in zip(ngx, floor)]):.3f}")
print(f"rate for the fixed-rate runs: {int(med(pw) / 2)}")
PY

# Latency at half of pacwarden's maximum rate (the median of its rounds: single rounds swing
# by a quarter on a shared machine): wrk is closed-loop (always at saturation), so a
# fixed-rate client of our own (examples/paced.rs) sends the same paths on a schedule. One
# stall of the VM puts milliseconds into whichever server's p99 it meets, so each server runs
# once per round, alternately, and the summary gives the median p99 of its rounds.
half=$(awk '/^rate for the fixed-rate runs/ {print $NF}' "$work/summary.txt")
echo "fixed rate $half req/s (half of pacwarden's median maximum), $CONNS connections, ${DUR}s, $ROUNDS rounds:"
for round in $(seq "$ROUNDS"); do
  for s in "floor $FLOOR" "nginx-map $NGX" "pacwarden-decide $PW"; do
    set -- $s
    out=$($CLIENT_CPU target/release/examples/paced "$2" "$half" "$DUR" "$CONNS" "$work/paths.txt")
    printf '%-22s %s\n' "$1-$round" "$out"
    echo "$out" | grep -o 'p99 [0-9]* us' | awk '{print $2}' >> "$work/$1.p99"
  done
done
python3 - "$work" <<'PY'
import sys, statistics
w = sys.argv[1]
print("p99 at the fixed rate, median of the rounds (range):")
for name in ("floor", "nginx-map", "pacwarden-decide"):
    p = [int(l) for l in open(f"{w}/{name}.p99") if l.strip()]
    print(f"  {name:<18} {statistics.median(p):7.0f} us   ({min(p)}-{max(p)} us)")
PY

# Server CPU time per request, from the kernel's accounting of each server process (nginx: its
# worker), measured in pairs: two servers on the same core, each sent half of the fixed rate
# at the same time. Both then meet the same machine — steal time, cache pressure, how many
# requests each wake-up finds — which swings CPU time per request by a quarter from one
# measurement to the next here; the ratio within a pair moves by one or two per cent.
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  pid_of() { # name
    case "$1" in
      floor) pgrep -f "examples/floor $FLOOR" ;;
      nginx-map) pgrep -P "$(cat "$work/nginx.pid")" | head -1 ;;
      pacwarden-decide) pgrep -f "pacwarden serve --listen $PW" ;;
    esac
  }
  rate=$((half / 2))
  for round in $(seq "$ROUNDS"); do
    for pair in "floor $FLOOR pacwarden-decide $PW" "nginx-map $NGX pacwarden-decide $PW" "floor $FLOOR nginx-map $NGX"; do
      set -- $pair
      $CLIENT_CPU target/release/examples/paced "$2" "$rate" 6 $((CONNS / 2)) "$work/paths.txt" > /dev/null &
      c1=$!
      $CLIENT_CPU target/release/examples/paced "$4" "$rate" 6 $((CONNS / 2)) "$work/paths.txt" > /dev/null &
      c2=$!
      sleep 1
      perf stat -x, -e task-clock -p "$(pid_of "$1")" -- sleep 4 2> "$work/perf-a.txt" &
      p1=$!
      perf stat -x, -e task-clock -p "$(pid_of "$3")" -- sleep 4 2> "$work/perf-b.txt"
      wait "$p1" "$c1" "$c2"
      for x in "a $1" "b $3"; do
        set -- $x
        awk -F, -v r="$rate" '/task-clock/ {printf "%.2f\n", $1 * 1000 / (r * 4)}' "$work/perf-$1.txt" \
          >> "$work/$2-with-$(echo "$pair" | awk '{print $1 "-" $3}').cpu"
      done
    done
  done
  python3 - "$work" "$rate" <<'PY'
import sys, statistics
w, rate = sys.argv[1], sys.argv[2]
med = statistics.median
print(f"server CPU per request, two servers at a time on one core, {rate} req/s each (µs; median ratio of the rounds):")
for a, b in [("floor", "pacwarden-decide"), ("nginx-map", "pacwarden-decide"), ("floor", "nginx-map")]:
    xa = [float(l) for l in open(f"{w}/{a}-with-{a}-{b}.cpu")]
    xb = [float(l) for l in open(f"{w}/{b}-with-{a}-{b}.cpu")]
    ratios = [x / y for x, y in zip(xa, xb)]
    print(f"  {b} vs {a}: {a} {xa}, {b} {xb}")
    print(f"    as a throughput ratio (CPU per request, inverted): {b}/{a} = {med(ratios):.3f}"
          f"   (rounds {min(ratios):.3f}-{max(ratios):.3f})")
PY
else
  echo "(perf not available: skipping the CPU-per-request measurement)"
fi
