#!/usr/bin/env python3
"""Rescale the cross-attention queries and keys of an exported vgrt model (f16/f32 safetensors).

Usage: rescale_cross_attention.py IN.safetensors OUT.safetensors FACTOR [OUT_FACTOR]

Multiplies every DiT block's cross-attention query projection (cross.q weight and bias) and the key
half of its key/value projection (the first D rows of cross.kv) by FACTOR, so the attention logits
grow by FACTOR**2 while the values are unchanged; with OUT_FACTOR, also multiplies the output
projection (cross.out weight and bias), so the cross-attention's addition to the residual stream
grows by OUT_FACTOR (phase 12: it was 0.4-5 % of the residual's norm). A training experiment (docs/PIPELINE.md, "Why
phase 9"): with the std-0.02 initialisation the cross-attention logits of the base stayed below
about 0.2, i.e. near-uniform attention over the prompt's tokens. Metadata (config, tokenizer) is
copied unchanged. A development tool; nothing in the runtime uses Python.
"""
import json, sys
from safetensors_edit import SafeTensorsFile

def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    src, dst, factor = sys.argv[1], sys.argv[2], float(sys.argv[3])
    out_factor = float(sys.argv[4]) if len(sys.argv) == 5 else 1.0
    f = SafeTensorsFile(src)
    width = json.loads(f.metadata["vgrt.config"])["modelWidth"]
    touched = 0
    for name in f.names():
        if name.endswith("cross.q.weight") or name.endswith("cross.q.bias"):
            t = f.get(name) * factor
        elif name.endswith("cross.out.weight") or name.endswith("cross.out.bias"):
            if out_factor == 1.0:
                continue
            t = f.get(name) * out_factor
        elif name.endswith("cross.kv.weight") or name.endswith("cross.kv.bias"):
            t = f.get(name)
            t[:width] *= factor          # rows 0..D-1 make the keys, D..2D-1 the values
        else:
            continue
        f.set(name, t)
        touched += 1
    if touched == 0:
        sys.exit(f"{src}: no cross-attention tensors found")
    f.save(dst)
    print(f"rescaled {touched} tensors (q, k by {factor}; out by {out_factor}): {dst}")

if __name__ == "__main__":
    main()
