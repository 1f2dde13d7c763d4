"""The request mix of the load benchmarks, from pacwarden's /catalogue JSON.

usage: python3 benches/paths.py WORKDIR   (reads WORKDIR/catalogue.json)

Writes WORKDIR/paths.txt (one /decide path per line, for examples/paced.rs and
benches/instructions.sh), WORKDIR/paths.lua (the same for wrk) and WORKDIR/map.conf (the
nginx peer's allow list). The mix: 300 catalogue names (patterns filled in), 100 catalogue
addresses and 200 names outside the catalogue, shuffled with a fixed seed.
"""
import json, sys, random
work = sys.argv[1]
cat = json.load(open(f"{work}/catalogue.json"))
random.seed(7)
names, addrs, patterns = [], [], set()
for s in cat["sets"]:
    if s["direction"] == "inbound" or s["action"] == "deny":
        continue
    for h in s["hosts"]:
        p = h["pattern"]
        names.append(p.replace("*", "x"))
        if p.startswith("*.") and "*" not in p[2:]:
            patterns.add(p)
        elif "*" not in p:
            patterns.add(p)
    for n in s["prefixes"]:
        if ":" not in n:
            addrs.append(n.split("/")[0])
misses = [f"www{i}.example{i}.com" for i in range(200)]
mix = random.sample(names, min(300, len(names))) + random.sample(addrs, min(100, len(addrs))) + misses
random.shuffle(mix)
with open(f"{work}/paths.txt", "w") as f:
    for h in mix:
        f.write(f"/decide?{'ip' if h[0].isdigit() else 'host'}={h}\n")
with open(f"{work}/paths.lua", "w") as f:
    f.write("paths = {\n")
    for h in mix:
        key = "ip" if h[0].isdigit() else "host"
        f.write(f'  "/decide?{key}={h}",\n')
    f.write("}\ni = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n")
# nginx: the same allow list as a hostnames map (mid-label wildcards cannot be expressed).
with open(f"{work}/map.conf", "w") as f:
    f.write("map $arg_host $decision {\n  hostnames;\n  default deny;\n")
    for p in sorted(patterns):
        f.write(f"  {p} allow;\n")
    f.write("}\n")
