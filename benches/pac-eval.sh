#!/usr/bin/env bash
# PAC evaluation cost per FindProxyForURL call in Node (V8): the default template against the
# Microsoft-compatible shExpMatch chain, on the built-in catalogue and on synthetic catalogues
# of 10k and 100k patterns, with a mix of catalogue and non-catalogue hosts; plus each PAC's
# size raw and gzipped. Everything is local: no network.
#
# usage: benches/pac-eval.sh [SECONDS_PER_CASE]     (needs node and python3)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-2}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v node >/dev/null || { echo "needs node (apt-get install -y nodejs)" >&2; exit 1; }
cargo build --release --quiet --bin pacwarden
PW=target/release/pacwarden

# Synthetic catalogues: N patterns (half exact names, half *.suffix) spread over the three
# categories, and a host list per catalogue: half instantiated catalogue patterns, half names
# outside it, shuffled.
python3 - "$work" <<'PY'
import json, random, sys
work = sys.argv[1]
random.seed(11)
def catalogue(n, path):
    cats = {"Optimize": [], "Allow": [], "Default": []}
    names = []
    for i in range(n):
        base = f"svc{i}.d{i % 997}.example{i % 13}.test"
        pat = base if i % 2 else f"*.{base}"
        cats[("Optimize", "Allow", "Default")[i % 3]].append(pat)
        names.append(pat)
    with open(path, "w") as f:
        f.write('[meta]\nname = "synthetic"\nversion = "1"\n')
        for sid, (cat, pats) in enumerate(cats.items(), 1):
            f.write(f'[[sets]]\nid = {sid}\ncategory = "{cat}"\nhosts = {json.dumps(pats)}\n')
    return names
def hosts(patterns, path, count=1000):
    inside = [p.replace("*", "www") for p in random.sample(patterns, min(count // 2, len(patterns)))]
    outside = [f"host{i}.outside{i % 50}.example.net" for i in range(count - len(inside))]
    mix = inside + outside
    random.shuffle(mix)
    open(path, "w").write("\n".join(mix) + "\n")
for n in (10000, 100000):
    pats = catalogue(n, f"{work}/synthetic-{n}.toml")
    hosts(pats, f"{work}/hosts-{n}.txt")
    with open(f"{work}/synthetic-{n}.config.toml", "w") as f:
        f.write(f'[[catalogue.sources]]\nkind = "native"\npath = "synthetic-{n}.toml"\n')
PY
# The built-in catalogue's hosts come from its own JSON view.
$PW serve --listen 127.0.0.1:18271 > "$work/pw.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:18271/catalogue -o "$work/catalogue.json" 2>/dev/null && break; sleep 0.2; done
kill $pid
python3 - "$work" <<'PY'
import json, random, sys
work = sys.argv[1]
random.seed(12)
cat = json.load(open(f"{work}/catalogue.json"))
pats = [h["pattern"] for s in cat["sets"] if s["direction"] != "inbound" for h in s["hosts"]]
inside = [p.replace("*", "www") for p in random.sample(pats, min(500, len(pats)))]
outside = [f"host{i}.outside{i % 50}.example.net" for i in range(1000 - len(inside))]
mix = inside + outside
random.shuffle(mix)
open(f"{work}/hosts-real.txt", "w").write("\n".join(mix) + "\n")
open(f"{work}/real.config.toml", "w").write("")
PY

printf '%-10s %-22s %10s %10s %12s %10s\n' catalogue template bytes gzipped "us/call" "load ms"
for case in real 10000 100000; do
  cfg="$work/$( [ "$case" = real ] && echo real || echo "synthetic-$case").config.toml"
  hosts="$work/hosts-$case.txt"
  for t in default.pac.j2 microsoft-compatible.pac.j2; do
    pac="$work/$case-$t.pac"
    if [ "$case" = real ]; then
      $PW pac render --profile type2 --template "$t" > "$pac" 2>/dev/null
    else
      $PW pac render --config "$cfg" --profile type2 --template "$t" > "$pac" 2>/dev/null
    fi
    raw=$(wc -c < "$pac"); gz=$(gzip -9 -c "$pac" | wc -c)
    res=$(node benches/pac-eval.mjs "$pac" "$hosts" "$SECS")
    us=$(echo "$res" | python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["us_per_call"])')
    ms=$(echo "$res" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["load_ms"])')
    printf '%-10s %-22s %10s %10s %12s %10s\n' "$case" "${t%.pac.j2}" "$raw" "$gz" "$us" "$ms"
    echo "$us" > "$work/$case-$t.us"
  done
done
python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
us = lambda c, t: float(open(f"{w}/{c}-{t}.pac.j2.us").read())
for c in ("real", "10000", "100000"):
    print(f"{c}: default is {us(c, 'microsoft-compatible') / us(c, 'default'):.0f}x faster than the Microsoft-style chain")
print(f"default template, 100k vs real catalogue: {us('100000', 'default') / us('real', 'default'):.2f}x the cost per call")
PY
