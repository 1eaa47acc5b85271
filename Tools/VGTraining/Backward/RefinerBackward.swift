import VGCore
import VGModel

/// Scratch of the output refiner's backward (N = F·H·W pixels, C channels), next to its forward in
/// VGModel/OutputRefiner.swift.
final class RefinerBackwardScratch: @unchecked Sendable {
    let dPixels: Tensor   // [N, 3]   gradient of the refined prediction, then of x0_hat
    let dCols2: Tensor    // [N, 9C]
    let dAct: Tensor      // [N, C]
    let dHidden: Tensor   // [N, C]
    let dCols1: Tensor    // [N, 9Cin]
    let dInput: Tensor    // [N, Cin]
    let dPatches: Tensor  // [T, P]   gradient of the DiT's own prediction
    let dFeaturePixels: Tensor?  // [N, K]   gradient of the refiner features per pixel (K > 0 only)
    let dFeatures: Tensor?       // [T, PK]  the same per token: what `refiner.features` wrote
    init(_ c: ModelConfig) throws {
        let n = c.frames * c.height * c.width, ch = c.refinerChannels, cin = c.refinerInputChannels
        dPixels = try Tensor(zeros: [n, 3]); dCols2 = try Tensor(zeros: [n, 9 * ch]); dAct = try Tensor(zeros: [n, ch])
        dHidden = try Tensor(zeros: [n, ch]); dCols1 = try Tensor(zeros: [n, 9 * cin]); dInput = try Tensor(zeros: [n, cin])
        dPatches = try Tensor(zeros: [c.tokens, c.patchValues])
        dFeaturePixels = c.refinerFeatures > 0 ? try Tensor(zeros: [n, c.refinerFeatures]) : nil
        dFeatures = c.refinerFeatures > 0 ? try Tensor(zeros: [c.tokens, c.featureValues]) : nil
    }
}

extension ModelBackward {
    /// Backward of `VideoDiT.refine`: accumulates the refiner's parameter gradients into `g` and returns
    /// the gradient of the DiT's prediction x0_hat as patches `[T, P]` (x0 = x0_hat + conv2(GELU(conv1(.)))).
    /// With refiner features, also the gradient of `refiner.features`' output in `scratch.dFeatures`
    /// (`[T, PK]`), which the caller takes back through that linear.
    func refinerBackward(_ ctx: ComputeContext, model: VideoDiT, acts: ModelActivations, dOutput: Tensor, grads g: ModelWeights,
                         scratch s: RefinerBackwardScratch) throws -> Tensor {
        let c = config, w = model.weights
        guard let r = acts.refiner, let conv1 = w.refinerConv1, let conv2 = w.refinerConv2,
              let g1 = g.refinerConv1, let g2 = g.refinerConv2 else {
            throw ModelError.badInput("refiner backward: the model has no output refiner")
        }
        let clip = [c.frames, c.height, c.width, 3], cin = c.refinerInputChannels, k = c.refinerFeatures
        try model.unpatchify(dOutput, into: try s.dPixels.view(clip))
        // conv2: delta = cols2 W2ᵀ + b2
        try ctx.linearBackward(s.dPixels, x: r.cols2, weight: f32(conv2.weight), dx: s.dCols2, dWeight: f32(g2.weight), dBias: g2.bias)
        OutputRefiner.scatterNeighbourhoods(s.dCols2.floats.baseAddress!, channels: c.refinerChannels, frames: c.frames,
                                            height: c.height, width: c.width, into: s.dAct.floats.baseAddress!)
        try ctx.geluBackward(s.dAct, x: r.hidden, dx: s.dHidden)
        // conv1: hidden = cols1 W1ᵀ + b1
        try ctx.linearBackward(s.dHidden, x: r.cols1, weight: f32(conv1.weight), dx: s.dCols1, dWeight: f32(g1.weight), dBias: g1.bias)
        OutputRefiner.scatterNeighbourhoods(s.dCols1.floats.baseAddress!, channels: cin, frames: c.frames,
                                            height: c.height, width: c.width, into: s.dInput.floats.baseAddress!)
        // x0_hat reaches the output directly and through the refiner's first three input channels
        // (x_s, s and 1 - s need no gradient).
        let dp = s.dPixels.floats, di = s.dInput.floats
        for p in 0..<(dp.count / 3) { for ch in 0..<3 { dp[3 * p + ch] += di[p * cin + ch] } }
        if k > 0, let dfp = s.dFeaturePixels, let df = s.dFeatures {
            let f = dfp.floats, base = OutputRefiner.inputChannels
            for p in 0..<(dp.count / 3) { for j in 0..<k { f[p * k + j] = di[p * cin + base + j] } }
            try model.patchify(dfp, into: df, channels: k)
        }
        try model.patchify(try s.dPixels.view(clip), into: s.dPatches)
        return s.dPatches
    }
}
