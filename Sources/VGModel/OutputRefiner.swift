import VGCore

/// The output refiner (`ModelConfig.refinerChannels` > 0): a two-layer convolutional network at full
/// resolution on top of the DiT's prediction,
///
///     x0 = x0_hat + conv2(GELU(conv1([x0_hat, x_s, s, 1 - s, f])))
///
/// with 3 x 3 kernels applied inside each frame (zero padding at the frame's border). The DiT writes
/// every 2 x 8 x 8 patch through one D-wide token, and the base measured that this loses the corners
/// of small stars even from a nearly clean input (docs/PIPELINE.md "Session 12"); the refiner sees
/// each pixel, its neighbours and the noisy input itself. Both convolutions run as linears over
/// 3 x 3 neighbourhoods (im2col), so they use the same GEMM kernels (and quantised weights) as the
/// rest of the model. `refiner.conv2` starts at zero, so a model that gains a refiner starts out
/// computing exactly what it computed before. With `ModelConfig.refinerFeatures` K > 0, f is K values
/// per pixel that the linear `refiner.features` writes from each final token (as the final linear
/// writes x0_hat), so the refiner is also a per-pixel nonlinear decoder of the DiT's tokens; without,
/// f is empty.
///
/// Shapes: N = F·H·W pixels in (f, y, x) order; neighbourhood columns [N, 9·Cin] with the neighbour
/// (ky, kx) major and the channel minor, matching the weights' `[out, 9·Cin]` layout.
public enum OutputRefiner {
    /// Image channels of the first convolution's input: x0_hat (3), x_s (3), s and 1 - s; the config's
    /// K refiner features follow them (`ModelConfig.refinerInputChannels`).
    public static let inputChannels = 8

    /// Calls `body(pixel, slot, neighbour)` for every pixel of `frames` frames of `height` x `width`
    /// and each of its nine 3 x 3 slots (row-major, (ky, kx) from (-1, -1)); `neighbour` is the pixel
    /// in that slot, or nil outside the frame.
    @inline(__always)
    static func forEachNeighbour(frames: Int, height: Int, width: Int, _ body: (_ pixel: Int, _ slot: Int, _ neighbour: Int?) -> Void) {
        for f in 0..<frames { for y in 0..<height { for x in 0..<width {
            let p = (f * height + y) * width + x
            var slot = 0
            for ky in -1...1 { for kx in -1...1 {
                let yy = y + ky, xx = x + kx
                body(p, slot, yy >= 0 && yy < height && xx >= 0 && xx < width ? (f * height + yy) * width + xx : nil)
                slot += 1
            } }
        } } }
    }

    /// Writes the 3 x 3 neighbourhoods of `source` (`[N, cin]`, pixels of `frames` frames of
    /// `height` x `width`) into `cols` (`[N, 9·cin]`), with zeros outside each frame.
    package static func neighbourhoods(_ source: UnsafePointer<Float>, channels cin: Int, frames: Int, height: Int, width: Int,
                                      into cols: UnsafeMutablePointer<Float>) {
        forEachNeighbour(frames: frames, height: height, width: width) { p, slot, q in
            let o = cols + (p * 9 + slot) * cin
            if let q { o.update(from: source + q * cin, count: cin) } else { o.update(repeating: 0, count: cin) }
        }
    }

    /// The adjoint of `neighbourhoods`: sums each column entry's gradient back onto the pixel it was
    /// read from, into `dSource` (`[N, cin]`, overwritten).
    package static func scatterNeighbourhoods(_ dCols: UnsafePointer<Float>, channels cin: Int, frames: Int, height: Int, width: Int,
                                             into dSource: UnsafeMutablePointer<Float>) {
        dSource.update(repeating: 0, count: frames * height * width * cin)
        forEachNeighbour(frames: frames, height: height, width: width) { p, slot, q in
            guard let q else { return }
            let i = dCols + (p * 9 + slot) * cin, d = dSource + q * cin
            for ch in 0..<cin { d[ch] += i[ch] }
        }
    }
}

extension VideoDiT {
    /// Runs the output refiner on the DiT's prediction in `acts.output` (patches `[T, P]`) and writes
    /// the refined prediction back into it; `noisy` is the model's input clip `[F, H, W, 3]`.
    func refine(_ ctx: ComputeContext, noisy: Tensor, level s: Float, acts: ModelActivations) throws {
        let c = config
        guard let r = acts.refiner, let conv1 = weights.refinerConv1, let conv2 = weights.refinerConv2 else {
            throw ModelError.badInput("the config has an output refiner but the weights or activations have none")
        }
        let n = c.frames * c.height * c.width, cin = c.refinerInputChannels, k = c.refinerFeatures
        try unpatchify(acts.output, into: r.base.view([c.frames, c.height, c.width, 3]))
        if k > 0 {
            // features [T, PK] = finalNorm [T, D] x Wfᵀ, then per pixel [N, K]
            guard let lf = weights.refinerFeatures, let feat = r.features, let fp = r.featurePixels else {
                throw ModelError.badInput("the config has refiner features but the weights or activations have none")
            }
            try ctx.linear(acts.finalNorm, lf.weight, bias: lf.bias, into: feat)
            try unpatchify(feat, into: fp, channels: k)
        }
        let b = r.base.floats, xs = noisy.floats, inp = r.input.floats
        let fpx = r.featurePixels?.floats
        for p in 0..<n {
            let o = p * cin
            inp[o] = b[3 * p]; inp[o + 1] = b[3 * p + 1]; inp[o + 2] = b[3 * p + 2]
            inp[o + 3] = xs[3 * p]; inp[o + 4] = xs[3 * p + 1]; inp[o + 5] = xs[3 * p + 2]
            inp[o + 6] = s; inp[o + 7] = 1 - s
            if let fpx { for j in 0..<k { inp[o + 8 + j] = fpx[p * k + j] } }
        }
        OutputRefiner.neighbourhoods(inp.baseAddress!, channels: cin, frames: c.frames, height: c.height, width: c.width,
                                     into: r.cols1.floats.baseAddress!)
        try ctx.linear(r.cols1, conv1.weight, bias: conv1.bias, into: r.hidden)
        try ctx.gelu(r.hidden, into: r.act)
        OutputRefiner.neighbourhoods(r.act.floats.baseAddress!, channels: c.refinerChannels, frames: c.frames, height: c.height,
                                     width: c.width, into: r.cols2.floats.baseAddress!)
        try ctx.linear(r.cols2, conv2.weight, bias: conv2.bias, into: r.delta)
        try ctx.gatedAdd(r.delta, r.base, gate: nil)                                   // delta = x0_hat + conv2(...)
        try patchify(r.delta.view([c.frames, c.height, c.width, 3]), into: acts.output)
    }
}
