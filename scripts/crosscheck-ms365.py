#!/usr/bin/env python3
"""Cross-check pacwarden's decisions against an independent reference on a Microsoft 365
web-service snapshot.

The reference here is written from the matching rules in the README alone, shares no code
with pacwarden, and does the obvious slow thing: every pattern as a regular expression, a
linear scan, most specific pattern (exact, then most literal characters), highest category
among the sets listing it; longest prefix for addresses.

usage: crosscheck-ms365.py PACWARDEN_BINARY SNAPSHOT.json
Probes: every pattern with its wildcards filled in one and several labels, the bare suffix,
a child of every name, and addresses at, inside and just outside every prefix. Exits 1 on
any disagreement.
"""
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

RANK = {"Default": 0, "Allow": 1, "Optimize": 2}


def reference(data):
    pats, nets = {}, {}
    for s in data:
        for u in s.get("urls", []):
            pats.setdefault(u.lower(), []).append(s)
        for ip in s.get("ips", []):
            nets.setdefault(ipaddress.ip_network(ip, strict=False), []).append(s)
    regex = {p: re.compile(re.escape(p).replace(r"\*", ".*")) for p in pats}

    def specificity(p):
        if "*" not in p:
            return (2, 0, "")
        simple = p.startswith("*.") and "*" not in p[2:]
        return (1, len(p) - p.count("*"), 1 if simple else 0)

    def decide(host):
        try:
            ip = ipaddress.ip_address(host)
            covering = [n for n in nets if ip in n]
            if not covering:
                return None
            best = max(covering, key=lambda n: n.prefixlen)
            sets, rule = nets[best], str(best)
        except ValueError:
            matching = [p for p in pats if regex[p].fullmatch(host)]
            if not matching:
                return None
            top = max(specificity(p) for p in matching)
            rule = min(p for p in matching if specificity(p) == top)
            sets = pats[rule]
        top = max(RANK[s["category"]] for s in sets)
        ids = sorted({s["id"] for s in sets if RANK[s["category"]] == top})
        return rule, [k for k, v in RANK.items() if v == top][0], ids

    return pats, nets, decide


def probes(pats, nets):
    out = set()
    for p in pats:
        for fill in ("x", "a.b"):
            out.add(p.replace("*", fill))
        out.add("zz." + p.replace("*", "q"))
        if p.startswith("*.") and "*" not in p[2:]:
            out.add(p[2:])
    for n in nets:
        out.add(str(n.network_address))
        out.add(str(n.broadcast_address))
        out.add(str(n.network_address + n.num_addresses // 2))
        for step in (-1, 1):
            edge = n.network_address if step < 0 else n.broadcast_address
            try:
                out.add(str(edge + step))
            except (ValueError, ipaddress.AddressValueError):
                pass
    return sorted(out)


def main():
    binary, snapshot = sys.argv[1], os.path.abspath(sys.argv[2])
    data = json.load(open(snapshot))
    pats, nets, decide = reference(data)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as cfg:
        cfg.write(f'[[catalogue.sources]]\nkind = "ms365"\npath = {json.dumps(snapshot)}\n')
    mismatches = 0
    hosts = probes(pats, nets)
    for host in hosts:
        r = subprocess.run([binary, "decide", "-c", cfg.name, host], capture_output=True, text=True)
        if r.returncode == 2:
            print("bad input:", host, r.stderr.strip())
            mismatches += 1
            continue
        d = json.loads(r.stdout)
        got = None
        if d["decision"] == "allow":
            got = (d["rule"], d["category"], sorted(d["endpoint_sets"]))
        want = decide(host)
        if got != want:
            mismatches += 1
            print(f"MISMATCH {host}: pacwarden {got}, reference {want}")
    os.unlink(cfg.name)
    print(f"crosscheck: {len(hosts) - mismatches} passed, {mismatches} failed")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
