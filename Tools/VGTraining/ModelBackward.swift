import VGCore
import VGModel

/// The backward pass of `VideoDiT` (text encoder included), next to its forward in VGModel:
/// reads the activations that a `saveForBackward` forward left in `ModelActivations`, and
/// accumulates every parameter's gradient into a `ParameterSet` of the same layout.
public final class ModelBackward: @unchecked Sendable {
    public let config: ModelConfig
    // Scratch gradients, allocated once.  T tokens, D width, R MLP width, P patch values.
    let dH, dH2, dA, dB, dXhat, dAttn, dCrossQ, dTmpTD: Tensor       // [T, D]
    let dQKV: Tensor                                                  // [T, 3D]
    let dR1, dR2: Tensor                                              // [T, R]
    let xhat: Tensor                                                  // [T, D] LN recomputed
    let dMod: Tensor, dSharedMod: Tensor, dCondAct: Tensor, dCond: Tensor, dTime: Tensor, dTimeHidden: Tensor   // [6D | 7D] / [D]
    let dContextStore, dKVStore: AlignedBuffer                        // [Lmax, D], [Lmax, 2D]
    let dTextA, dTextB, dTextC, dTextQKV, dTextF, dTextF2: AlignedBuffer  // text-side [Lmax, ...]
    let dPooled: Tensor                                               // [Dt]
    let dParts: [Tensor]                                              // six or seven [D] slices of dMod
    let refiner: RefinerBackwardScratch?                              // the output refiner's (nil without one)

    public init(config: ModelConfig) throws {
        try config.validate()
        self.config = config
        let t = config.tokens, d = config.modelWidth, r = config.mlpRatio * d, l = config.maxTextTokens, dt = config.textWidth
        func td() throws -> Tensor { try Tensor(zeros: [t, d]) }
        dH = try td(); dH2 = try td(); dA = try td(); dB = try td(); dXhat = try td(); dAttn = try td(); dCrossQ = try td(); dTmpTD = try td()
        xhat = try td()
        dQKV = try Tensor(zeros: [t, 3 * d]); dR1 = try Tensor(zeros: [t, r]); dR2 = try Tensor(zeros: [t, r])
        let m = config.adaLNSlices
        dMod = try Tensor(zeros: [m * d]); dSharedMod = try Tensor(zeros: [m * d]); dCondAct = try Tensor(zeros: [d]); dCond = try Tensor(zeros: [d])
        dTime = try Tensor(zeros: [d]); dTimeHidden = try Tensor(zeros: [d])
        dContextStore = try AlignedBuffer(byteCount: l * d * 4); dKVStore = try AlignedBuffer(byteCount: l * 2 * d * 4)
        dTextA = try AlignedBuffer(byteCount: l * dt * 4); dTextB = try AlignedBuffer(byteCount: l * dt * 4)
        dTextC = try AlignedBuffer(byteCount: l * dt * 4); dTextQKV = try AlignedBuffer(byteCount: l * 3 * dt * 4)
        dTextF = try AlignedBuffer(byteCount: l * 4 * dt * 4); dTextF2 = try AlignedBuffer(byteCount: l * 4 * dt * 4)
        dPooled = try Tensor(zeros: [dt])
        dParts = try (0..<m).map { _ in try Tensor(zeros: [d]) }
        refiner = config.refinerChannels > 0 ? try RefinerBackwardScratch(config) : nil
    }

    /// Accumulates into `grads` the gradient of a loss whose gradient with respect to the predicted
    /// patches `[T, P]` is `dOutput`, for the forward that filled `acts` (with `saveForBackward`).
    /// `blockOutputGradients` add other losses' gradients with respect to blocks' outputs `[T, D]`
    /// (the auxiliary heads'), each joined where the backward pass reaches its block.
    public func backward(_ ctx: ComputeContext, model: VideoDiT, acts: ModelActivations, dOutput: Tensor, grads: ParameterSet,
                         blockOutputGradients: [(block: Int, gradient: Tensor)] = []) throws {
        guard acts.saveForBackward else { throw ModelError.badInput("backward needs activations saved by the forward") }
        let c = config, d = c.modelWidth, w = model.weights
        let g = try ModelWeights(grads, config: c)
        let l = acts.textLength
        guard dOutput.shape == [c.tokens, c.patchValues] else { throw ModelError.badInput("dOutput is \(dOutput.shape)") }
        dCondAct.fill(0)
        let dContext = try Tensor(viewing: dContextStore, shape: [l, d]); dContext.fill(0)

        // Output refiner (when the config has one): from the refined prediction back to the DiT's own.
        var dPredicted = dOutput
        if let scratch = refiner {
            dPredicted = try refinerBackward(ctx, model: model, acts: acts, dOutput: dOutput, grads: g, scratch: scratch)
        }
        // Final layer: out = linear(modulate(LN(hF), shift, scale))
        try ctx.linearBackward(dPredicted, x: acts.finalNorm, weight: f32(w.finalLinear.weight), dx: dA,
                               dWeight: f32(g.finalLinear.weight), dBias: g.finalLinear.bias)
        // Refiner features read the same modulated tokens: features = linear(modulate(LN(hF), ...)).
        if let df = refiner?.dFeatures {
            guard let lf = w.refinerFeatures, let gf = g.refinerFeatures else { throw ModelError.badInput("backward: no refiner features") }
            try ctx.linearBackward(df, x: acts.finalNorm, weight: f32(lf.weight), dx: dA, accumulate: true,
                                   dWeight: f32(gf.weight), dBias: gf.bias)
        }
        try ctx.layerNorm(acts.finalInput, into: xhat)
        let dShift = dParts[0], dScale = dParts[1]; dShift.fill(0); dScale.fill(0)
        try ctx.modulateBackward(dA, xhat: xhat, scale: acts.finalScale, dx: dXhat, dShift: dShift, dScale: dScale)
        try ctx.layerNormBackward(dXhat, x: acts.finalInput, gamma: nil, dx: dH, dGamma: nil, dBeta: nil)
        try concat([dShift, dScale], into: dMod.view([2 * d]))
        try ctx.linearBackward(dMod.view([1, 2 * d]), x: acts.condAct.view([1, d]), weight: f32(w.finalAdaLN.weight),
                               dx: dCondAct.view([1, d]), accumulate: true, dWeight: f32(g.finalAdaLN.weight), dBias: g.finalAdaLN.bias)

        // Blocks, last to first: dH holds the gradient of the block output, then of its input.
        dSharedMod.fill(0)
        for extra in blockOutputGradients {
            guard (0..<c.depth).contains(extra.block), extra.gradient.shape == [c.tokens, d] else {
                throw ModelError.badInput("block output gradient of block \(extra.block), \(extra.gradient.shape)")
            }
        }
        for i in stride(from: c.depth - 1, through: 0, by: -1) {
            for extra in blockOutputGradients where extra.block == i { try ctx.gatedAdd(dH, extra.gradient, gate: nil) }
            try blockBackward(ctx, i, model: model, grads: g, acts: acts.block(i), context: try acts.context(), dContext: dContext)
        }
        // Shared adaLN: sharedMod = adaln(condAct); every block's mod = sharedMod + table.
        try ctx.linearBackward(dSharedMod.view([1, c.adaLNSlices * d]), x: acts.condAct.view([1, d]), weight: f32(w.adaln.weight),
                               dx: dCondAct.view([1, d]), accumulate: true, dWeight: f32(g.adaln.weight), dBias: g.adaln.bias)
        // Position embedding: tokens = patch_embed(patches) + pos, so d(pos) = d(tokens).
        if let gPos = g.videoPositionEmbedding { try ctx.gatedAdd(gPos, dH, gate: nil) }
        // Patch embedding (the input clip needs no gradient).
        try ctx.linearBackward(dH, x: acts.patches, weight: f32(w.patchEmbed.weight), dx: nil,
                               dWeight: f32(g.patchEmbed.weight), dBias: g.patchEmbed.bias)
        // Conditioning: condAct = SiLU(cond), cond = fc2(SiLU(fc1(freq))) + text_pool(pooled).
        try ctx.siluBackward(dCondAct, x: acts.cond, dx: dCond)
        try ctx.linearBackward(dCond.view([1, d]), x: acts.timeAct.view([1, d]), weight: f32(w.timeFC2.weight), dx: dTime.view([1, d]),
                               dWeight: f32(g.timeFC2.weight), dBias: g.timeFC2.bias)
        try ctx.siluBackward(dTime, x: acts.timeHidden, dx: dTimeHidden)
        try ctx.linearBackward(dTimeHidden.view([1, d]), x: acts.timeFreq.view([1, 2 * c.timeFrequencies]), weight: f32(w.timeFC1.weight),
                               dx: nil, dWeight: f32(g.timeFC1.weight), dBias: g.timeFC1.bias)
        try ctx.linearBackward(dCond.view([1, d]), x: acts.pooled.view([1, c.textWidth]), weight: f32(w.textPool.weight),
                               dx: dPooled.view([1, c.textWidth]), dWeight: f32(g.textPool.weight), dBias: g.textPool.bias)
        try textBackward(ctx, model: model, grads: g, acts: acts, dContext: dContext)
    }

    /// One DiT block backward: dH (gradient of the block output) becomes the gradient of its input;
    /// dCondAct and dContext accumulate.
    func blockBackward(_ ctx: ComputeContext, _ i: Int, model: VideoDiT, grads g: ModelWeights, acts a: ModelActivations.Block,
                       context: Tensor, dContext: Tensor) throws {
        let c = config, d = c.modelWidth, t = c.tokens, l = context.shape[0], b = model.weights.blocks[i], gb = g.blocks[i]
        for p in dParts { p.fill(0) }
        let (dShift1, dScale1, dGate1, dShift2, dScale2, dGate2) = (dParts[0], dParts[1], dParts[2], dParts[3], dParts[4], dParts[5])
        // out = afterCross + gate2 * mlpOut
        try ctx.gatedAddBackward(dH, r: a.mlpOut, gate: a.gate2, dr: dA, dGate: dGate2)
        try ctx.linearBackward(dA, x: a.gelu, weight: f32(b.fc2.weight), dx: dR1, dWeight: f32(gb.fc2.weight), dBias: gb.fc2.bias)
        try ctx.geluBackward(dR1, x: a.fc1, dx: dR2)
        try ctx.linearBackward(dR2, x: a.norm2, weight: f32(b.fc1.weight), dx: dA, dWeight: f32(gb.fc1.weight), dBias: gb.fc1.bias)
        try ctx.layerNorm(a.afterCross, into: xhat)
        try ctx.modulateBackward(dA, xhat: xhat, scale: a.scale2, dx: dXhat, dShift: dShift2, dScale: dScale2)
        try ctx.layerNormBackward(dXhat, x: a.afterCross, gamma: nil, dx: dH, accumulate: true, dGamma: nil, dBeta: nil)
        // afterCross = afterAttn + [gateCross *] crossOut(crossAttn);  dH is now d(afterCross)
        var dCrossProj = dH
        if c.crossAttentionGate {
            try ctx.gatedAddBackward(dH, r: a.crossProj, gate: a.gateCross, dr: dTmpTD, dGate: dParts[6])
            dCrossProj = dTmpTD
        }
        try ctx.linearBackward(dCrossProj, x: a.crossAttn, weight: f32(b.crossOut.weight), dx: dAttn, dWeight: f32(gb.crossOut.weight), dBias: gb.crossOut.bias)
        let kv = try a.crossKV(l, d), dKV = try Tensor(viewing: dKVStore, shape: [l, 2 * d])
        let kvp = kv.floats.baseAddress!, dkvp = dKV.floats.baseAddress!
        try ctx.attentionBackwardUnchecked(dOut: dAttn.floats.baseAddress!, ldo: d, out: a.crossAttn.floats.baseAddress!,
                                           q: a.crossQ.floats.baseAddress!, ldq: d, k: kvp, ldk: 2 * d, v: kvp + d, ldv: 2 * d,
                                           dq: dCrossQ.floats.baseAddress!, lddq: d, dk: dkvp, lddk: 2 * d, dv: dkvp + d, lddv: 2 * d,
                                           tq: t, tk: l, heads: c.heads, headDim: c.headDim, scale: 1 / Float(c.headDim).squareRoot())
        try ctx.linearBackward(dKV, x: context, weight: f32(b.crossKV.weight), dx: dContext, accumulate: true,
                               dWeight: f32(gb.crossKV.weight), dBias: gb.crossKV.bias)
        try ctx.linearBackward(dCrossQ, x: a.crossIn, weight: f32(b.crossQ.weight), dx: dB, dWeight: f32(gb.crossQ.weight), dBias: gb.crossQ.bias)
        try ctx.layerNormBackward(dB, x: a.afterAttn, gamma: b.crossNorm.weight, dx: dH, accumulate: true,
                                  dGamma: gb.crossNorm.weight, dBeta: gb.crossNorm.bias)
        // afterAttn = input + gate1 * attnOut(attn(qkv(modulate(LN(input)))));  dH is now d(afterAttn)
        try ctx.gatedAddBackward(dH, r: a.attnProj, gate: a.gate1, dr: dA, dGate: dGate1)
        try ctx.linearBackward(dA, x: a.attn, weight: f32(b.attnOut.weight), dx: dAttn, dWeight: f32(gb.attnOut.weight), dBias: gb.attnOut.bias)
        try selfAttentionBackward(ctx, dAttn: dAttn, qkv: a.qkv, out: a.attn, dQKV: dQKV, tokens: t, width: d, heads: c.heads, rope: model.rope)
        try ctx.linearBackward(dQKV, x: a.norm1, weight: f32(b.qkv.weight), dx: dA, dWeight: f32(gb.qkv.weight), dBias: gb.qkv.bias)
        try ctx.layerNorm(a.input, into: xhat)
        try ctx.modulateBackward(dA, xhat: xhat, scale: a.scale1, dx: dXhat, dShift: dShift1, dScale: dScale1)
        try ctx.layerNormBackward(dXhat, x: a.input, gamma: nil, dx: dH, accumulate: true, dGamma: nil, dBeta: nil)
        // mod = sharedMod + table: both get dMod.
        try concat(dParts, into: dMod)          // shift1, scale1, gate1, shift2, scale2, gate2 (, gateCross)
        try ctx.gatedAdd(gb.adalnTable, dMod, gate: nil)
        try ctx.gatedAdd(dSharedMod, dMod, gate: nil)
    }

    /// Backward of `VideoDiT.selfAttention`: attention backward on the rotated q, k, then the inverse
    /// rotation of dq and dk (a rotation's transpose is its inverse).
    func selfAttentionBackward(_ ctx: ComputeContext, dAttn: Tensor, qkv: Tensor, out: Tensor, dQKV: Tensor,
                               tokens n: Int, width: Int, heads: Int, rope: RoPETable?) throws {
        let p = qkv.floats.baseAddress!, dp = dQKV.floats.baseAddress!, dh = width / heads
        try ctx.attentionBackwardUnchecked(dOut: dAttn.floats.baseAddress!, ldo: width, out: out.floats.baseAddress!,
                                           q: p, ldq: 3 * width, k: p + width, ldk: 3 * width, v: p + 2 * width, ldv: 3 * width,
                                           dq: dp, lddq: 3 * width, dk: dp + width, lddk: 3 * width, dv: dp + 2 * width, lddv: 3 * width,
                                           tq: n, tk: n, heads: heads, headDim: dh, scale: 1 / Float(dh).squareRoot())
        if let rope {
            ctx.applyRoPEUnchecked(dp, ld: 3 * width, heads: heads, table: rope, inverse: true)
            ctx.applyRoPEUnchecked(dp + width, ld: 3 * width, heads: heads, table: rope, inverse: true)
        }
    }

    /// Text encoder backward from d(context) and d(pooled).
    func textBackward(_ ctx: ComputeContext, model: VideoDiT, grads g: ModelWeights, acts: ModelActivations, dContext: Tensor) throws {
        let c = config, w = model.weights, dt = c.textWidth, l = acts.textLength
        let dX = try Tensor(viewing: dTextA, shape: [l, dt]), dN = try Tensor(viewing: dTextB, shape: [l, dt])
        let dAtt = try Tensor(viewing: dTextC, shape: [l, dt]), dQKVt = try Tensor(viewing: dTextQKV, shape: [l, 3 * dt])
        let dF = try Tensor(viewing: dTextF, shape: [l, 4 * dt])
        // context = context_proj(textOut);  pooled = mean(textOut)
        try ctx.linearBackward(dContext, x: try acts.textOutput(), weight: f32(w.contextProj.weight), dx: dN,
                               dWeight: f32(g.contextProj.weight), dBias: g.contextProj.bias)
        let dn = dN.floats, dpl = dPooled.floats
        for i in 0..<l { for j in 0..<dt { dn[i * dt + j] += dpl[j] / Float(l) } }
        try ctx.layerNormBackward(dN, x: try acts.textFinalInput(), gamma: w.textNorm.weight, dx: dX,
                                  dGamma: g.textNorm.weight, dBeta: g.textNorm.bias)
        for i in stride(from: c.textDepth - 1, through: 0, by: -1) {
            let a = acts.textBlock(i), b = w.textBlocks[i], gb = g.textBlocks[i]
            let input = try Tensor(viewing: a.input, shape: [l, dt]), n1 = try Tensor(viewing: a.norm1, shape: [l, dt])
            let qkv = try Tensor(viewing: a.qkv, shape: [l, 3 * dt]), att = try Tensor(viewing: a.attn, shape: [l, dt])
            let x1 = try Tensor(viewing: a.afterAttn, shape: [l, dt]), n2 = try Tensor(viewing: a.norm2, shape: [l, dt])
            let f1 = try Tensor(viewing: a.fc1, shape: [l, 4 * dt]), ge = try Tensor(viewing: a.gelu, shape: [l, 4 * dt])
            let dF2 = try Tensor(viewing: dTextF2, shape: [l, 4 * dt])
            // x2 = x1 + fc2(gelu(fc1(LN2(x1))));  dX = d(x2)
            try ctx.linearBackward(dX, x: ge, weight: f32(b.fc2.weight), dx: dF, dWeight: f32(gb.fc2.weight), dBias: gb.fc2.bias)
            try ctx.geluBackward(dF, x: f1, dx: dF2)
            try ctx.linearBackward(dF2, x: n2, weight: f32(b.fc1.weight), dx: dN, dWeight: f32(gb.fc1.weight), dBias: gb.fc1.bias)
            try ctx.layerNormBackward(dN, x: x1, gamma: b.norm2.weight, dx: dX, accumulate: true, dGamma: gb.norm2.weight, dBeta: gb.norm2.bias)
            // x1 = x + out(attn(qkv(LN1(x))));  dX = d(x1)
            try ctx.linearBackward(dX, x: att, weight: f32(b.out.weight), dx: dAtt, dWeight: f32(gb.out.weight), dBias: gb.out.bias)
            try selfAttentionBackward(ctx, dAttn: dAtt, qkv: qkv, out: att, dQKV: dQKVt, tokens: l, width: dt, heads: c.textHeads, rope: nil)
            try ctx.linearBackward(dQKVt, x: n1, weight: f32(b.qkv.weight), dx: dN, dWeight: f32(gb.qkv.weight), dBias: gb.qkv.bias)
            try ctx.layerNormBackward(dN, x: input, gamma: b.norm1.weight, dx: dX, accumulate: true, dGamma: gb.norm1.weight, dBeta: gb.norm1.bias)
        }
        // Embeddings: x = E[token] + pos
        let tokens = acts.textTokens, dx = dX.floats, de = g.tokenEmbedding.floats, dp = g.positionEmbedding.floats
        for i in 0..<l {
            let tok = Int(tokens[i])
            for j in 0..<dt { de[tok * dt + j] += dx[i * dt + j]; dp[i * dt + j] += dx[i * dt + j] }
        }
    }

    func concat(_ parts: [Tensor], into out: Tensor) throws {
        var o = 0
        let dst = out.floats
        for p in parts { guard o + p.count <= dst.count else { throw ModelError.badInput("concat") }; (dst.baseAddress! + o).update(from: p.floats.baseAddress!, count: p.count); o += p.count }
    }

    func f32(_ w: WeightMatrix) throws -> Tensor {
        guard case .f32(let t) = w else { throw ModelError.badParameter("training needs f32 weights") }
        return t
    }
}
