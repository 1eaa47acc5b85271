#!/usr/bin/env python3
"""Plots a vgtrain train-log.jsonl (loss per step, with a running median) to a PNG for the docs.
Development tooling only (needs matplotlib); nothing in vgrt depends on Python.
Usage: plot-training-log.py runs/base/train-log.jsonl docs/base-loss.png "title"
"""
import json
import statistics
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

log, out = sys.argv[1], sys.argv[2]
title = sys.argv[3] if len(sys.argv) > 3 else "training loss"
rows = [json.loads(line) for line in open(log) if line.strip()]
steps = [r["step"] for r in rows]
loss = [r["loss"] for r in rows]
window = 25
median = [statistics.median(loss[max(0, i - window + 1): i + 1]) for i in range(len(loss))]
fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
ax.plot(steps, loss, color="#bbbbbb", linewidth=0.6, label="per step (batch of 8)")
ax.plot(steps, median, color="#1f5fbf", linewidth=1.6, label=f"running median ({window} steps)")
ax.set_yscale("log")
ax.set_xlabel("optimizer step")
ax.set_ylabel("flow-matching v-loss")
ax.set_title(title)
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(out)
print(f"wrote {out}: {len(rows)} steps, last running median {median[-1]:.4f}")
