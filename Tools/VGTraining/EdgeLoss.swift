import VGCore
import VGModel

/// The outline term of the flow-matching loss: the squared error of the prediction's spatial
/// differences, Σ over every frame, channel and pair of horizontal or vertical neighbours p, q of
/// ((x̂_p - x̂_q) - (x_p - x_q))², that is of the differences of the error e = x̂ - x.
///
/// Its minimiser is the same as the plain loss's (both are quadratic forms in e whose only zero is
/// e = 0 up to a constant, and the constant is pinned by the plain term), so it changes not what a
/// perfect model learns but where a small one spends its capacity: the spectrum of the error is
/// weighted by |k|², which puts the weight on outlines — a corner of a star, the hole of a ring — that
/// cover a few pixels and barely move the plain mean (docs/DESIGN-NOTES.md "An outline term").
struct EdgeLoss {
    let frames: Int, height: Int, width: Int
    /// Values per position (3 for RGB, C for latents).
    var channels = 3

    /// Σ (Δe)² over the neighbour pairs of `error` (`[F, H, W, channels]`, pixel order), and into `gradient`
    /// (same layout, overwritten) `scale` times its derivative with respect to e.
    func apply(error e: UnsafeMutableBufferPointer<Float>, scale: Float, gradient g: UnsafeMutableBufferPointer<Float>) throws -> Double {
        let rowStride = width * channels, frameStride = height * rowStride
        guard e.count == frames * frameStride, g.count == e.count else {
            throw ModelError.badInput("outline term: \(e.count) errors and \(g.count) gradients, expected \(frames * frameStride)")
        }
        for i in 0..<g.count { g[i] = 0 }
        var sum: Double = 0
        for f in 0..<frames {
            for y in 0..<height {
                for x in 0..<width {
                    let p = f * frameStride + y * rowStride + x * channels
                    for ch in 0..<channels {
                        let i = p + ch
                        if x + 1 < width {
                            let d = e[i + channels] - e[i]
                            sum += Double(d * d)
                            g[i + channels] += 2 * scale * d; g[i] -= 2 * scale * d
                        }
                        if y + 1 < height {
                            let d = e[i + rowStride] - e[i]
                            sum += Double(d * d)
                            g[i + rowStride] += 2 * scale * d; g[i] -= 2 * scale * d
                        }
                    }
                }
            }
        }
        return sum
    }
}

/// Scratch of the outline term for one worker: the error and its gradient in pixel order and as patches.
final class EdgeScratch: @unchecked Sendable {
    let error: Tensor, gradient: Tensor   // [F, H, W, Ch]
    let patches: Tensor                   // [T, P]
    let loss: EdgeLoss
    init(config c: ModelConfig) throws {
        error = try Tensor(zeros: [c.frames, c.height, c.width, c.channels]); gradient = try Tensor(zeros: [c.frames, c.height, c.width, c.channels])
        patches = try Tensor(zeros: [c.tokens, c.patchValues])
        loss = EdgeLoss(frames: c.frames, height: c.height, width: c.width, channels: c.channels)
    }

    /// Adds the outline term of `output` against `target` (both patches `[T, P]`) to `dOutput`, each
    /// term's gradient times `scale`; returns Σ (Δe)².
    func add(output: UnsafeMutableBufferPointer<Float>, target: UnsafeMutableBufferPointer<Float>, scale: Float,
             model: VideoDiT, into dOutput: UnsafeMutableBufferPointer<Float>) throws -> Double {
        let pv = patches.floats
        guard output.count == pv.count, target.count == pv.count, dOutput.count == pv.count else {
            throw ModelError.badInput("outline term: \(output.count) outputs, \(target.count) targets, expected \(pv.count)")
        }
        for i in 0..<pv.count { pv[i] = output[i] - target[i] }
        try model.unpatchify(patches, into: error)
        let sum = try loss.apply(error: error.floats, scale: scale, gradient: gradient.floats)
        try model.patchify(gradient, into: patches)
        for i in 0..<pv.count { dOutput[i] += pv[i] }
        return sum
    }
}
