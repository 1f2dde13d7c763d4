#!/usr/bin/env python3
"""Print the median of every criterion benchmark under target/criterion (run after
`cargo bench`), one line each, for docs/performance.md."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def fmt(ns):
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"


for est in sorted(root.glob("**/new/estimates.json")):
    bench = est.parent.parent.relative_to(root)
    data = json.loads(est.read_text())
    print(f"{str(bench):45} median {fmt(data['median']['point_estimate']):>10}")
