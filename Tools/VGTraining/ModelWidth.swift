import VGCore
import VGModel

/// Doubling the width of a trained DiT so that the wider model computes what the narrower one did
/// (Net2WiderNet, Chen et al. 2016; docs/DESIGN-NOTES.md "Doubling the width").
///
/// Every DiT vector of width D becomes two copies side by side, `h' = [h, h]` (index j' reads j' mod D),
/// and the number of heads doubles at the same head size, so head i + H is a copy of head i. A layer
/// norm of `[h, h]` is the copy of the norm of `h` (same mean and variance), rotary positions act per
/// head, and a linear layer that reads a doubled vector halves its weights on each copy, so its
/// output is unchanged. Vectors made of slices (qkv, the adaLN slices, cross-attention's k and v) are
/// doubled slice by slice. The text encoder keeps its width. With `noise` = 0 the prediction is the
/// same up to rounding (tested); a small relative noise on the weight matrices lets the two copies
/// of every unit learn different things (with identical copies, gradients stay identical).
public enum ModelWidth {
    /// How one axis of a tensor maps from the wider model to the narrower one.
    enum Axis {
        /// Unchanged (e.g. the patch values, the text width).
        case fixed
        /// Slices of `n` values each (as many as the axis holds), every slice doubled: s·2n + j reads s·n + (j mod n).
        case slices(of: Int)
    }

    /// Returns `params` widened to twice the model width and heads (the text encoder unchanged).
    /// `noise`: each weight matrix of the DiT gets Gaussian noise of this many times its RMS value.
    public static func doubled(_ params: ParameterSet, noise: Float = 0, seed: UInt64 = 1) throws -> ParameterSet {
        let c = params.config
        guard c.refinerChannels == 0 else { throw ModelError.invalidConfig("doubling the width of a model with an output refiner is not supported") }
        guard noise.isFinite, noise >= 0 else { throw ModelError.invalidConfig("noise must be finite and >= 0 (got \(noise))") }
        var wide = c
        wide.modelWidth = 2 * c.modelWidth; wide.heads = 2 * c.heads
        let out = try ParameterSet(config: wide)
        let d = c.modelWidth, hid = c.mlpRatio * d
        let dup = Axis.slices(of: d)
        var rng = SeededRandom(seed: seed)
        for name in out.names {
            let old = try params.tensor(name), new = try out.tensor(name)
            // (rows, columns, whether the columns are a doubled input of a linear layer: halve them)
            let rows: Axis, cols: Axis, halve: Bool
            switch name {
            case _ where name.hasPrefix("text."):
                try new.copy(from: old); continue
            case "pos_embedding":
                (rows, cols, halve) = (.fixed, dup, false)
            case "patch_embed.weight", "time_mlp.fc1.weight", "text_pool.weight", "context_proj.weight":
                (rows, cols, halve) = (dup, .fixed, false)
            case "adaln.weight":
                (rows, cols, halve) = (.slices(of: d), dup, true)
            case "adaln.bias":
                (rows, cols, halve) = (.slices(of: d), .fixed, false)
            case "final.adaln.weight":
                (rows, cols, halve) = (.slices(of: d), dup, true)
            case "final.adaln.bias":
                (rows, cols, halve) = (.slices(of: d), .fixed, false)
            case "final.linear.weight":
                (rows, cols, halve) = (.fixed, dup, true)
            case "final.linear.bias":
                (rows, cols, halve) = (.fixed, .fixed, false)
            case _ where name.hasSuffix(".adaln_table"):
                (rows, cols, halve) = (.slices(of: d), .fixed, false)
            case _ where name.hasSuffix(".attn.qkv.weight"):
                (rows, cols, halve) = (.slices(of: d), dup, true)
            case _ where name.hasSuffix(".attn.qkv.bias"):
                (rows, cols, halve) = (.slices(of: d), .fixed, false)
            case _ where name.hasSuffix(".cross.kv.weight"):
                (rows, cols, halve) = (.slices(of: d), dup, true)
            case _ where name.hasSuffix(".cross.kv.bias"):
                (rows, cols, halve) = (.slices(of: d), .fixed, false)
            case _ where name.hasSuffix(".mlp.fc1.weight"):
                (rows, cols, halve) = (.slices(of: hid), dup, true)
            case _ where name.hasSuffix(".mlp.fc1.bias"):
                (rows, cols, halve) = (.slices(of: hid), .fixed, false)
            case _ where name.hasSuffix(".mlp.fc2.weight"):
                (rows, cols, halve) = (dup, .slices(of: hid), true)
            case _ where name.hasSuffix(".weight") && new.shape.count == 2:
                // d x d linears of the blocks and the time MLP's second layer: both sides doubled.
                (rows, cols, halve) = (dup, dup, true)
            default:
                // Biases and layer-norm parameters of width D.
                (rows, cols, halve) = (dup, .fixed, false)
            }
            let newRows = new.shape[0], newCols = new.shape.count == 2 ? new.shape[1] : 1
            let oldCols = old.shape.count == 2 ? old.shape[1] : 1
            func source(_ i: Int, _ axis: Axis) -> Int {
                switch axis {
                case .fixed: return i
                case let .slices(n): return (i / (2 * n)) * n + (i % (2 * n)) % n
                }
            }
            let o = old.floats, w = new.floats, scale: Float = halve ? 0.5 : 1
            for r in 0..<newRows {
                let sr = source(r, rows)
                for k in 0..<newCols { w[r * newCols + k] = o[sr * oldCols + source(k, cols)] * scale }
            }
            if noise > 0, new.shape.count == 2, name != "pos_embedding" {
                let rms = (o.reduce(0) { $0 + $1 * $1 } / Float(max(o.count, 1))).squareRoot() * scale
                let n = try Tensor(zeros: new.shape)
                rng.fillGaussian(n.floats, scale: noise * rms)
                for i in 0..<w.count { w[i] += n.floats[i] }
            }
        }
        return out
    }
}
