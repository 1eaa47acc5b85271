#!/usr/bin/env python3
"""Per-attribute accuracy and per-shape verdicts of ShapeBench reports (`vgtrain score --json` or
`vgtrain evaluate`'s detailed.json) on a subset of prompt ids (e.g. the 170 single-object prompts).

  python3 single_object_shapes.py IDS.txt REPORT.json [REPORT.json ...]
"""
import collections, json, sys

SHAPES = ["circle", "square", "triangle", "ring", "star"]

ids = set(open(sys.argv[1]).read().split())
for path in sys.argv[2:]:
    reports = json.load(open(path))["reports"]
    asked, verdicts, attrs = collections.Counter(), collections.Counter(), collections.defaultdict(lambda: [0, 0])
    for report in reports:
        if report["id"] not in ids:
            continue
        for check in report["checks"]:
            a = attrs[check["attribute"]]; a[0] += check["correct"]; a[1] += 1
            if check["attribute"] == "shape":
                asked[check["expected"]] += 1; verdicts[(check["expected"], check["observed"])] += 1
    print(path, {k: f"{right / n:.3f} ({n})" for k, (right, n) in attrs.items()})
    print("   shape right of asked:", {s: f"{verdicts[(s, s)]}/{asked[s]}" for s in SHAPES})
