#!/usr/bin/env python3
"""Overwrite the learned video position table of an exported vgrt model with a 3-D sin-cos table.

Usage: sincos_position_embedding.py IN.safetensors OUT.safetensors NORM

The DiT's `pos_embedding` [T, D] (tokens in (t, y, x) order) is replaced by a fixed-form 3-D
sinusoidal table (DiT / MAE style: D split in three parts for t, y and x, each half sines, half
cosines of the grid coordinate at geometric frequencies), scaled so that every token's row has
Euclidean norm NORM. The table stays a learned parameter; this only sets its starting value.
Why (docs/PIPELINE.md, "Why phase 10"): the zero-initialised table of phase 5 had grown to a norm of
about 0.15 per token, against about 6.6 for the patch embedding of pure noise, so at high noise no
token could tell where it is and the prompt's position words had nothing to act on. A development
tool; nothing in the runtime uses Python.
"""
import json, sys
import numpy as np
from safetensors_edit import SafeTensorsFile

def sincos_1d(dim, positions, extent):
    """[len(positions), dim]: sin in the first half, cos in the second, at frequencies from 1 down to
    1 / extent radians per token (an axis of 8 tokens needs no slower ones; DiT's base of 10000 is
    for long axes and would leave most of the table constant here)."""
    half = dim // 2
    freqs = 1.0 / (float(max(extent, 2)) ** (np.arange(half) / max(half - 1, 1)))
    angles = np.outer(positions, freqs)
    cols = [np.sin(angles), np.cos(angles)]
    if dim % 2 == 1:
        cols.append(np.zeros((len(positions), 1)))   # an odd remainder: one unused column (as in Swift)
    return np.concatenate(cols, axis=1)

def table(gt, gy, gx, width):
    parts = [width // 3 // 2 * 2] * 2
    parts.append(width - sum(parts))          # t, y, x shares of the width, each even
    t, y, x = np.meshgrid(np.arange(gt), np.arange(gy), np.arange(gx), indexing="ij")
    rows = np.concatenate([sincos_1d(parts[0], t.ravel(), gt), sincos_1d(parts[1], y.ravel(), gy),
                           sincos_1d(parts[2], x.ravel(), gx)], axis=1)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)

def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, norm = sys.argv[1], sys.argv[2], float(sys.argv[3])
    f = SafeTensorsFile(src)
    c = json.loads(f.metadata["vgrt.config"])
    if "pos_embedding" not in f.names():
        sys.exit(f"{src} has no pos_embedding (a model without videoPositionEmbedding)")
    g = (c["frames"] // c["patchT"], c["height"] // c["patchH"], c["width"] // c["patchW"])
    rows = table(*g, c["modelWidth"]) * norm
    f.set("pos_embedding", rows)
    f.save(dst)
    print(f"pos_embedding {rows.shape} set to a 3-D sin-cos table of norm {norm} per token: {dst}")

if __name__ == "__main__":
    main()
