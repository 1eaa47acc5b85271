#!/usr/bin/env bash
# Training throughput at the shipped base's config, in one run (docs/BENCHMARKS.md, "Training the
# shipped base's recipe"):
#   1. the bare training step (vgbench --train-weights): the DiT's forward + backward + AdamW on one
#      sample, on 1 and 2 threads and as two single-threaded lanes, with the 2-core sgemm rate
#      measured beside it;
#   2. the whole recipe the base was trained with (phase 56 of docs/PIPELINE.md: latents from the
#      autoencoder, pure-noise caption draws, object weights, the classifier term), RUNS short
#      `vgtrain pretrain` runs of STEPS steps from the shipped weights, each timed: samples/s is the
#      median of the steps' rates after the first four (start-up and warm-up left out), and the share
#      of the sgemm rate counts the DiT's FLOPs only (the autoencoder and classifier work is extra).
# usage: Scripts/bench-training.sh [BUILD_DIR] [RUNS] [STEPS]   (BUILD_DIR default .build/release)
# Several binaries side by side: VGTRAIN=/path/to/other/vgtrain Scripts/bench-training.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/release}
runs=${2:-2}
steps=${3:-40}
vgtrain=${VGTRAIN:-$bin/vgtrain}
for b in "$bin/vgbench" "$vgtrain"; do
    [ -x "$b" ] || { echo "bench-training: $b not built (swift build -c release)" >&2; exit 2; }
done
case "$runs$steps" in *[!0-9]*) echo "bench-training: RUNS and STEPS are counts" >&2; exit 2;; esac
[ "$steps" -ge 6 ] || { echo "bench-training: STEPS must be at least 6" >&2; exit 2; }
weights=Models/checkpoints/base.safetensors
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin/vgbench" --no-pack --train-weights "$weights" | tee "$work/vgbench.txt" | sed -n '/## Training/,$p'
flops=$(sed -n 's/.*; \([0-9.]*\) GFLOP per sample.*/\1/p' "$work/vgbench.txt")
sgemm=$(grep '^| 2 (2 lanes' "$work/vgbench.txt" | awk -F'|' '{gsub(/ /, "", $5); print $5}')
echo
echo "## The phase-56 recipe, $steps steps from $weights ($vgtrain)"
echo
echo "| run | samples/s (median, steps 5-$steps) | DiT GFLOP/s | share of the 2-core sgemm rate ($sgemm GFLOP/s) | wall s | user s | sys s |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq 1 "$runs"); do
    out="$work/run$r"
    /usr/bin/time -f "%e %U %S" -o "$work/time$r" "$vgtrain" pretrain --out "$out" --init-from "$weights" \
        --autoencoder Models/checkpoints/autoencoder/ae1.safetensors --steps "$steps" --batch 8 --lanes 2 --threads 1 \
        --seed 73 --lr 1e-4 --warmup 50 --noise-shift 3 --noise-tail 0.1 --noise-pure 0.4 --object-weight 4 \
        --object-weight-high 0 --object-weight-high-from 0.7 --pure-noise-draws 3 --max-objects 1 --web-share 0 \
        --degraded-share 0 --upright-share 1 --checkpoint-every 1000 \
        --classifier Models/checkpoints/shape-classifier/cls-ae1-robust.safetensors --classifier-weight 0.05 >/dev/null 2>&1
    python3 - "$out/train-log.jsonl" "$flops" "$sgemm" "$r" $(cat "$work/time$r") <<'EOF'
import json, statistics, sys
log, flops, sgemm, run, wall, user, sys_ = sys.argv[1:8]
rates = [json.loads(line)["samplesPerSecond"] for line in open(log)][4:]
sps = statistics.median(rates)
rate = sps * float(flops)
print(f"| {run} | {sps:.2f} | {rate:.1f} | {100 * rate / float(sgemm):.1f}% | {wall} | {user} | {sys_} |")
EOF
done
