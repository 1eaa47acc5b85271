#!/usr/bin/env bash
# The training diagnostics' command lines (`vgtrain probe`, `vgtrain binding-probe`, `vgtrain evaluate
# --guide-model`) on tiny random models (and one committed latent pair): each runs end to end and
# prints the tables it promises, and each bad option is refused with a clear message and exit status 1 (never a crash or a silent clamp).
# Usage: Scripts/test-diagnostics-cli.sh [path to vgtrain] (default: the release build's).
set -euo pipefail
cd "$(dirname "$0")/.."
vgtrain=${1:-$(swift build -c release -Xswiftc -enable-testing --show-bin-path)/vgtrain}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$vgtrain" tiny-model -o "$out/tiny.vgpk" >/dev/null
"$vgtrain" tiny-model --latent -o "$out/tiny-latent.vgpk" >/dev/null

# probe: one table row per level, the judge's table with --judge, a PNG with --sheet.
"$vgtrain" probe --model "$out/tiny.vgpk" --limit 2 --levels 0.5,1 --judge --sheet "$out/probe.png" --threads 1 > "$out/probe.txt"
[ "$(grep -c '^| 0.50 |' "$out/probe.txt")" = 2 ] || fail "probe: expected an MSE row and a judge row at s = 0.50"
[ "$(grep -c '^| 1.00 |' "$out/probe.txt")" = 2 ] || fail "probe: expected an MSE row and a judge row at s = 1.00"
grep -q '(2 detailed prompts' "$out/probe.txt" || fail "probe: the prompt count is missing"
[ "$(head -c 8 "$out/probe.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "probe --sheet did not write a PNG"
"$vgtrain" probe --model "$out/tiny-latent.vgpk" --limit 2 --levels 0.3 --input-shape star --input-blur 1 --threads 1 > "$out/probe-latent.txt"
grep -q '^| 0.30 |' "$out/probe-latent.txt" || fail "probe on a latent model printed no row"

# binding-probe: one row per attribute asked for, each with a ratio per level.
"$vgtrain" binding-probe --model "$out/tiny.vgpk" --limit 2 --levels 0.5,1 --attributes color,shape --threads 1 > "$out/binding.txt"
for a in color shape; do
    grep -Eq "^\| $a \| [0-9.]+ / [0-9.]+ = [0-9.]+ \| [0-9.]+ / [0-9.]+ = [0-9.]+ \|$" "$out/binding.txt" || fail "binding-probe: no row for $a"
done
grep -q '^| size |' "$out/binding.txt" && fail "binding-probe: a row for an attribute not asked for"

# evaluate with autoguidance on latent models: a packed guide, and a safetensors guide that needs the
# model's --autoencoder (phase 52 guided by phase 42, both committed, 2-frame latent clips).
"$vgtrain" evaluate --model "$out/tiny-latent.vgpk" --guide-model "$out/tiny-latent.vgpk" --limit 1 --levels detailed \
    --steps 2 --threads 1 --out "$out/eval-guided" > /dev/null
grep -q 'autoguided by tiny-latent.vgpk' "$out/eval-guided/shapebench.md" || fail "evaluate --guide-model: no autoguidance line in the table"
"$vgtrain" evaluate --model Models/checkpoints/base-run/phase52/raw-step10000.safetensors \
    --guide-model Models/checkpoints/base-run/phase42/raw-step2600.safetensors \
    --autoencoder Models/checkpoints/autoencoder/ae1.safetensors --limit 1 --levels detailed --steps 2 --threads 1 \
    --out "$out/eval-guided-latent" > /dev/null
grep -q 'autoguided by raw-step2600.safetensors' "$out/eval-guided-latent/shapebench.md" || fail "evaluate: a latent safetensors guide was not used"

# evaluate --seed-offset: the same prompt from other starting noise draws another clip (the sheets
# differ), the same offset draws the same clip again, and the table names the offset.
for run in a:0 b:1000003 c:1000003; do
    "$vgtrain" evaluate --model "$out/tiny.vgpk" --limit 1 --levels detailed --steps 2 --threads 1 \
        --seed-offset "${run#*:}" --sheet "$out/seed-${run%%:*}.png" --sheet-count 1 --out "$out/eval-seed-${run%%:*}" > /dev/null
done
cmp -s "$out/seed-a.png" "$out/seed-b.png" && fail "evaluate --seed-offset: the same clip from other seeds"
cmp -s "$out/seed-b.png" "$out/seed-c.png" || fail "evaluate --seed-offset: one offset drew two different clips"
grep -q 'sampling seeds offset by 1000003' "$out/eval-seed-b/shapebench.md" || fail "evaluate --seed-offset: the table does not name the offset"

# Bad input: exit status 1 and a message that names the option.
refused=0
refuse() {
    local expect=$1; shift
    refused=$((refused + 1))
    local rc=0
    "$vgtrain" "$@" > /dev/null 2> "$out/err" || rc=$?
    [ "$rc" = 1 ] || fail "'$*' exited with $rc, expected 1"
    grep -q -- "$expect" "$out/err" || fail "'$*' said: $(cat "$out/err") (expected it to mention $expect)"
}
m=(--model "$out/tiny.vgpk" --threads 1)
refuse --levels probe "${m[@]}" --levels 1.5
refuse --levels probe "${m[@]}" --levels a,b
refuse --limit probe "${m[@]}" --limit 0
refuse --limit probe "${m[@]}" --limit 321
refuse --input-shape probe "${m[@]}" --input-shape hexagon
refuse --input-blur probe "${m[@]}" --input-blur=-1
refuse --caption probe "${m[@]}" --caption weird
refuse --rollout-from probe "${m[@]}" --rollout-from 2
refuse "cannot read" probe --model "$out/missing.vgpk"
head -c 100 "$out/tiny.vgpk" > "$out/truncated.vgpk"
refuse "runs past the end" probe --model "$out/truncated.vgpk"
refuse --attributes binding-probe "${m[@]}" --attributes colour
refuse --levels binding-probe "${m[@]}" --levels 0.5,9
refuse --limit binding-probe "${m[@]}" --limit 0
refuse --limit evaluate "${m[@]}" --limit 0 --out "$out/eval"
refuse --seed-offset evaluate "${m[@]}" --seed-offset=-1 --out "$out/eval"
refuse "both be pixel models or both latent" evaluate "${m[@]}" --guide-model "$out/tiny-latent.vgpk" --limit 1 --out "$out/eval"
refuse "guide-model .*phase13.*is a pixel model" evaluate --model Models/checkpoints/base-run/phase52/raw-step10000.safetensors \
    --autoencoder Models/checkpoints/autoencoder/ae1.safetensors --threads 1 \
    --guide-model Models/checkpoints/base-run/phase13/raw-step16000.safetensors --limit 1 --out "$out/eval"

# shape-classifier: trains a tiny classifier on ae1 latents and evaluates it; pretrain reads it for the
# classifier term (a tiny latent config, two steps) and logs the term's figures.
ae=Models/checkpoints/autoencoder/ae1.safetensors
"$vgtrain" shape-classifier --autoencoder "$ae" --out "$out/cls.safetensors" --steps 3 --batch 2 --clips 4 --widths 4,4 --threads 1 \
    --adversarial-radius 1 --adversarial-steps 2 > "$out/cls.txt" 2> /dev/null
grep -q '^attacked, L2 radius 2 per frame (5 steps): right [0-9.]*$' "$out/cls.txt" || fail "shape-classifier printed no attacked accuracy"
"$vgtrain" shape-classifier --autoencoder "$ae" --init-from "$out/cls.safetensors" --out "$out/cls2.safetensors" --steps 2 --batch 2 --clips 2 --threads 1 > /dev/null 2>&1
[ -s "$out/cls2.safetensors" ] || fail "shape-classifier --init-from wrote no classifier"
grep -q '^noise 0.0: right [0-9.]*, cross-entropy [0-9.]* (circle [0-9]*/[0-9]*' "$out/cls.txt" || fail "shape-classifier printed no held-out accuracy"
"$vgtrain" shape-classifier --autoencoder "$ae" --evaluate "$out/cls.safetensors" --clips 2 --threads 1 > "$out/cls-eval.txt"
[ "$(grep -c '^noise ' "$out/cls-eval.txt")" = 4 ] || fail "shape-classifier --evaluate: expected four noise levels"
grep -q '^each object of 1 clean multi-object clips ([2-3] objects, [0-9]* frames) through its window: right [0-9.]*; the object alone: [0-9.]*$' \
    "$out/cls-eval.txt" || fail "shape-classifier --evaluate: no reading of each object through its window"
# The same command reads the same figures (a reading of freed memory once made them differ run to run).
"$vgtrain" shape-classifier --autoencoder "$ae" --evaluate "$out/cls.safetensors" --clips 32 --threads 1 > "$out/cls-eval2.txt"
"$vgtrain" shape-classifier --autoencoder "$ae" --evaluate "$out/cls.safetensors" --clips 32 --threads 1 > "$out/cls-eval3.txt"
cmp -s "$out/cls-eval2.txt" "$out/cls-eval3.txt" || fail "shape-classifier --evaluate: two runs differ: $(diff "$out/cls-eval2.txt" "$out/cls-eval3.txt")"
cat > "$out/tiny-latent.json" <<'JSON'
{"frames":2,"height":64,"width":64,"channels":3,"patchT":2,"patchH":8,"patchW":8,"modelWidth":16,"depth":1,"heads":2,"mlpRatio":2,
 "timeFrequencies":8,"vocabSize":300,"maxTextTokens":32,"textWidth":16,"textDepth":1,"textHeads":2,"samplingShift":3,
 "minNoiseLevel":0.05,"videoPositionEmbedding":true,"crossAttentionGate":true}
JSON
p=(pretrain --config "$out/tiny-latent.json" --autoencoder "$ae" --steps 2 --batch 2 --max-objects 1 --web-share 0 --threads 1 --tokenizer-corpus 300)
"$vgtrain" "${p[@]}" --out "$out/pre" --classifier "$out/cls.safetensors" --classifier-weight 0.1 > /dev/null 2>&1
grep -q '"classifierLoss"' "$out/pre/train-log.jsonl" || fail "pretrain --classifier logged no classifier figures"
"$vgtrain" evaluate --model Models/checkpoints/base-run/phase52/raw-step10000.safetensors --autoencoder "$ae" --limit 1 \
    --levels detailed --steps 2 --threads 1 --out "$out/eval-cls" --shape-classifier "$out/cls.safetensors" > /dev/null 2>&1
grep -q '^Learned shape classifier (cls.safetensors) on the sampled latents of the single-object prompts: [0-9]* of 2 frames' \
    "$out/eval-cls/shapebench.md" || fail "evaluate --shape-classifier: no classifier line"
refuse "shape-classifier .*reads 16 x 16 x 8 latent frames" evaluate "${m[@]}" --limit 1 --out "$out/eval" --shape-classifier "$out/cls.safetensors"
refuse --adversarial-steps shape-classifier --autoencoder "$ae" --out "$out/c.safetensors" --adversarial-steps 0
refuse "init-from .*not a shape classifier" shape-classifier --autoencoder "$ae" --out "$out/c.safetensors" --init-from "$ae"
refuse --sheet-count evaluate "${m[@]}" --limit 1 --out "$out/eval" --sheet "$out/s.png" --sheet-count 0
refuse --frames shape-classifier --autoencoder "$ae" --out "$out/c.safetensors" --frames 0
refuse --max-noise shape-classifier --autoencoder "$ae" --out "$out/c.safetensors" --max-noise 2
refuse --widths shape-classifier --autoencoder "$ae" --out "$out/c.safetensors" --widths 4,x
refuse "not a shape classifier" shape-classifier --autoencoder "$ae" --evaluate "$ae"
refuse "autoencoder $out/missing" shape-classifier --autoencoder "$out/missing" --out "$out/c.safetensors"
refuse "go together" "${p[@]}" --out "$out/pre2" --classifier "$out/cls.safetensors"
refuse "give --autoencoder" pretrain --out "$out/pre3" --classifier "$out/cls.safetensors" --classifier-weight 0.1
refuse "classifier term: $out/missing" "${p[@]}" --out "$out/pre4" --classifier "$out/missing" --classifier-weight 0.1
# --classifier-each-object: multi-object scenes only, so the term's figures are logged only when it reads each object.
e=(pretrain --config "$out/tiny-latent.json" --autoencoder "$ae" --steps 2 --batch 2 --max-objects 3 --multi-object-share 1 --web-share 0
   --threads 1 --tokenizer-corpus 300 --classifier "$out/cls.safetensors" --classifier-weight 0.1)
"$vgtrain" "${e[@]}" --out "$out/pre8" > /dev/null 2>&1 || fail "pretrain (multi-object scenes, whole-frame term) failed"
! grep -q '"classifierLoss"' "$out/pre8/train-log.jsonl" || fail "the whole-frame classifier term read a multi-object scene"
"$vgtrain" "${e[@]}" --classifier-each-object --out "$out/pre9" > /dev/null 2>&1 || fail "pretrain --classifier-each-object failed"
grep -q '"classifierLoss"' "$out/pre9/train-log.jsonl" || fail "pretrain --classifier-each-object logged no classifier figures"
grep -q '"eachObject":true' "$out/pre9/options.json" || fail "pretrain --classifier-each-object: not in options.json"
refuse "needs --classifier" "${p[@]}" --out "$out/pre10" --classifier-each-object
# --classifier-object-weight: recorded with the term on each object; refused without it, or <= 0.
"$vgtrain" "${e[@]}" --classifier-each-object --classifier-object-weight 0.3 --out "$out/pre11" > /dev/null 2>&1 \
    || fail "pretrain --classifier-object-weight failed"
grep -q '"objectWeight":0.3' "$out/pre11/options.json" || fail "pretrain --classifier-object-weight: not in options.json"
refuse "needs --classifier-each-object" "${e[@]}" --classifier-object-weight 0.3 --out "$out/pre12"
refuse "object weight" "${e[@]}" --classifier-each-object --classifier-object-weight 0 --out "$out/pre12"
# --multi-object-share: recorded in the run's data mix; a resume with another share is refused.
q=(pretrain --config "$out/tiny-latent.json" --autoencoder "$ae" --batch 2 --web-share 0 --threads 1 --tokenizer-corpus 300)
"$vgtrain" "${q[@]}" --steps 2 --max-objects 3 --multi-object-share 0.2 --out "$out/pre5" > /dev/null 2>&1 || fail "pretrain --multi-object-share failed"
grep -q '"multiObjectShare":0.2' "$out/pre5/data-mix.json" || fail "pretrain --multi-object-share: not in data-mix.json: $(cat "$out/pre5/data-mix.json")"
refuse "data mix" "${q[@]}" --steps 3 --max-objects 3 --multi-object-share 0.3 --out "$out/pre5"
refuse --ema-decay "${q[@]}" --steps 2 --ema-decay 1 --out "$out/pre6"
"$vgtrain" "${q[@]}" --steps 2 --max-objects 1 --ema-decay 0.9 --out "$out/pre7" > /dev/null 2>&1 || fail "pretrain --ema-decay 0.9 failed"
grep -q '"emaDecay":0.9' "$out/pre7/options.json" || fail "pretrain --ema-decay: not in options.json"
refuse --multi-object-share "${q[@]}" --steps 2 --max-objects 3 --multi-object-share 1.5 --out "$out/pre6"
refuse "needs --max-objects 2 or 3" "${q[@]}" --steps 2 --max-objects 1 --multi-object-share 0.2 --out "$out/pre6"
# vgbench opens its model files before any timing: a missing file or one that is not a model is exit 2 with the option named.
vgbench="$(dirname "$vgtrain")/vgbench"
for option in --pack-weights --train-weights --runtime; do
    for bad in "$out/missing" README.md; do
        set +e; "$vgbench" "$option" "$bad" > "$out/bench.txt" 2> "$out/bench.err"; status=$?; set -e
        [ "$status" = 2 ] && grep -q "vgbench: $option $bad: " "$out/bench.err" && [ ! -s "$out/bench.txt" ] \
            || fail "vgbench $option $bad: status $status, $(head -c 300 "$out/bench.err")"
        refused=$((refused + 1))
    done
done
echo "diagnostics CLI: probe and binding-probe ran on pixel and latent tiny models, evaluate ran autoguided on latent models, shape-classifier trained and evaluated, pretrain and evaluate read it, evaluate --seed-offset drew other clips, pretrain recorded --multi-object-share and read each object with --classifier-each-object, and $refused bad inputs were refused (exit status 1; vgbench's model files, 2)"
