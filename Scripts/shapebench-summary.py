#!/usr/bin/env python3
"""Summarise `vgtrain evaluate` reports (<out>/<level>.json) for the docs.

For each report: every attribute's accuracy with its number of checks and standard error, on all
prompts, on the single-object prompts and on the multi-object ones. (The shape matrix and the objects found per clip are in
the run's own shapebench.md, from ShapeBench's report.) With two or more reports of the same
prompts (another model, or other sampling seeds), the shape checks are also compared pairwise: how
many the first gets wrong and the other right, and the reverse.

Usage: Scripts/shapebench-summary.py runs/a/detailed.json [runs/b/detailed.json ...]
"""
import json
import math
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def tally(reports, objects=None):
    """{attribute: (right, checks)} over the reports' checks: every prompt's (objects None), the
    single-object prompts' ("single") or the multi-object prompts' ("multi")."""
    out = {}
    for r in reports:
        checks = r["checks"]
        single = any(c["attribute"] == "count" and c["expected"] == "1" for c in checks)
        if (objects == "single" and not single) or (objects == "multi" and single):
            continue
        for c in checks:
            right, n = out.get(c["attribute"], (0, 0))
            out[c["attribute"]] = (right + (1 if c["correct"] else 0), n + 1)
    return out


def shape_checks(reports):
    """{(prompt id, object index): correct} of the shape checks."""
    return {(r["id"], c.get("object", 0)): c["correct"] for r in reports for c in r["checks"] if c["attribute"] == "shape"}


def summarise(path, data):
    reports = data["reports"]
    print(f"## {path}: {len(reports)} videos, mean per video {data['attributeAccuracy']:.3f}")
    for label, objects in (("all prompts", None), ("single-object prompts", "single"), ("multi-object prompts", "multi")):
        t = tally(reports, objects)
        cells = []
        for a, (right, n) in t.items():
            p = right / n
            cells.append(f"{a} {p:.3f} ({right}/{n}, se {math.sqrt(p * (1 - p) / n):.3f})")
        print(f"{label}: " + "; ".join(cells))


def main(paths):
    if not paths:
        print(__doc__.strip())
        return 1
    datas = [load(p) for p in paths]
    for p, d in zip(paths, datas):
        summarise(p, d)
    first = shape_checks(datas[0]["reports"])
    for p, d in zip(paths[1:], datas[1:]):
        other = shape_checks(d["reports"])
        both = first.keys() & other.keys()
        gain = sum(1 for k in both if other[k] and not first[k])
        loss = sum(1 for k in both if first[k] and not other[k])
        print(f"shape checks of {paths[0]} and {p} on the same objects ({len(both)}): "
              f"{p} right where the first was wrong {gain}, the reverse {loss}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
