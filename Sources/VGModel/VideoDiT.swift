import Foundation
import VGCore

/// The text-to-video model's forward pass: text encoder, conditioning, and the diffusion transformer
/// that predicts the clean clip x0 from a noisy clip x_s at noise level s (pixel-space x-prediction,
/// JiT; the sampler turns it into a velocity). This is the one definition of the forward: the runtime
/// runs it with packed weights, the trainer with f32 weights and `saveForBackward` activations.
///
/// Shapes (legend in ModelConfig): clip [F, H, W, Ch]; patches [T, P]; video tokens [T, D];
/// text tokens [L] -> text states [L, Dt] -> context [L, D]; conditioning vectors [D].
public struct VideoDiT: @unchecked Sendable {
    public let weights: ModelWeights
    public var config: ModelConfig { weights.config }
    /// 3-D rotary table over the (t, y, x) token grid for the DiT's self-attention.
    public let rope: RoPETable

    public init(weights: ModelWeights) throws {
        self.weights = weights
        let c = weights.config, g = c.grid
        rope = try RoPETable.threeD(frames: g.t, height: g.y, width: g.x, headDim: c.headDim)
    }

    // MARK: text

    /// Runs the text encoder on `tokens` and stores, in `acts`, the text states, the pooled
    /// conditioning `text_pool(mean(states))` and the cross-attention context `context_proj(states)`.
    /// These do not depend on the noise level: a sampler calls this once per prompt.
    public func encodeText(_ ctx: ComputeContext, tokens: [Int32], acts: ModelActivations) throws {
        let c = config, w = weights, dt = c.textWidth, l = tokens.count
        guard (1...c.maxTextTokens).contains(l) else { throw ModelError.badInput("\(l) text tokens; the model takes 1...\(c.maxTextTokens)") }
        guard tokens.allSatisfy({ $0 >= 0 && Int($0) < c.vocabSize }) else { throw ModelError.badInput("token id outside 0..<\(c.vocabSize)") }
        acts.textTokens = tokens
        // x = token embedding + position embedding   [L, Dt]
        let x0 = try Tensor(viewing: acts.textBlock(0).input, shape: [l, dt])
        let e = w.tokenEmbedding.floats, p = w.positionEmbedding.floats, xp = x0.floats
        for i in 0..<l { for j in 0..<dt { xp[i * dt + j] = e[Int(tokens[i]) * dt + j] + p[i * dt + j] } }
        for i in 0..<c.textDepth {
            let a = acts.textBlock(i), b = w.textBlocks[i]
            let input = try Tensor(viewing: a.input, shape: [l, dt]), n1 = try Tensor(viewing: a.norm1, shape: [l, dt])
            let qkv = try Tensor(viewing: a.qkv, shape: [l, 3 * dt]), att = try Tensor(viewing: a.attn, shape: [l, dt])
            let x1 = try Tensor(viewing: a.afterAttn, shape: [l, dt]), n2 = try Tensor(viewing: a.norm2, shape: [l, dt])
            let f1 = try Tensor(viewing: a.fc1, shape: [l, 4 * dt]), g = try Tensor(viewing: a.gelu, shape: [l, 4 * dt])
            try ctx.layerNorm(input, gamma: b.norm1.weight, beta: b.norm1.bias, into: n1)
            try ctx.linear(n1, b.qkv.weight, bias: b.qkv.bias, into: qkv)
            try selfAttention(ctx, qkv: qkv, tokens: l, width: dt, heads: c.textHeads, rope: nil, into: att)
            try ctx.linear(att, b.out.weight, bias: b.out.bias, into: x1)
            try ctx.gatedAdd(x1, input, gate: nil)                                    // x1 = x + out(att)
            try ctx.layerNorm(x1, gamma: b.norm2.weight, beta: b.norm2.bias, into: n2)
            try ctx.linear(n2, b.fc1.weight, bias: b.fc1.bias, into: f1)
            try ctx.gelu(f1, into: g)
            let next = i + 1 < c.textDepth ? try Tensor(viewing: acts.textBlock(i + 1).input, shape: [l, dt]) : try acts.textFinalInput()
            try ctx.linear(g, b.fc2.weight, bias: b.fc2.bias, into: next)
            try ctx.gatedAdd(next, x1, gate: nil)                                     // x2 = x1 + fc2(gelu(fc1(.)))
        }
        let out = try acts.textOutput()
        try ctx.layerNorm(try acts.textFinalInput(), gamma: w.textNorm.weight, beta: w.textNorm.bias, into: out)
        // pooled = mean over tokens   [Dt]
        let o = out.floats, pl = acts.pooled.floats
        for j in 0..<dt { var s: Float = 0; for i in 0..<l { s += o[i * dt + j] }; pl[j] = s / Float(l) }
        try ctx.linear(acts.pooled.view([1, dt]), w.textPool.weight, bias: w.textPool.bias, into: acts.pooledCond.view([1, c.modelWidth]))
        try ctx.linear(out, w.contextProj.weight, bias: w.contextProj.bias, into: try acts.context())
    }

    // MARK: video

    /// Predicts the clean clip's patches `[T, P]` (in `acts.output`) from a noisy clip `[F, H, W, Ch]`
    /// at noise level `s` in [0, 1], conditioned on the prompt last given to `encodeText`.
    /// `shouldStop` is asked between blocks; when it answers true the pass throws `ModelError.cancelled`.
    @discardableResult
    public func predict(_ ctx: ComputeContext, noisy: Tensor, level s: Float, acts: ModelActivations,
                        shouldStop: (() -> Bool)? = nil) throws -> Tensor {
        let c = config, w = weights, d = c.modelWidth
        guard acts.textLength > 0 else { throw ModelError.badInput("encodeText must run before predict") }
        guard noisy.shape == [c.frames, c.height, c.width, c.channels], noisy.dtype == .f32 else {
            throw ModelError.badInput("clip is \(noisy.shape), the model takes [\(c.frames), \(c.height), \(c.width), \(c.channels)]")
        }
        guard s.isFinite, (0...1).contains(s) else { throw ModelError.badInput("noise level \(s) outside [0, 1]") }
        // Conditioning: cond = time_mlp(sinusoid(s)) + text_pool(pooled text);  condAct = SiLU(cond)   [D]
        timestepEmbedding(s, into: acts.timeFreq)
        try ctx.linear(acts.timeFreq.view([1, 2 * c.timeFrequencies]), w.timeFC1.weight, bias: w.timeFC1.bias, into: acts.timeHidden.view([1, d]))
        try ctx.silu(acts.timeHidden, into: acts.timeAct)
        try ctx.linear(acts.timeAct.view([1, d]), w.timeFC2.weight, bias: w.timeFC2.bias, into: acts.cond.view([1, d]))
        try ctx.gatedAdd(acts.cond, acts.pooledCond, gate: nil)
        try ctx.silu(acts.cond, into: acts.condAct)
        try ctx.linear(acts.condAct.view([1, d]), w.adaln.weight, bias: w.adaln.bias, into: acts.sharedMod.view([1, c.adaLNSlices * d]))
        // Tokens: patchify and embed   [T, P] -> [T, D]
        try patchify(noisy, into: acts.patches)
        try ctx.linear(acts.patches, w.patchEmbed.weight, bias: w.patchEmbed.bias, into: acts.block(0).input)
        if let pos = w.videoPositionEmbedding { try ctx.gatedAdd(acts.block(0).input, pos, gate: nil) }   // + pos   [T, D]
        let context = try acts.context()
        for i in 0..<c.depth {
            if let shouldStop, shouldStop() { throw ModelError.cancelled }
            let next = i + 1 < c.depth ? acts.block(i + 1).input : acts.finalInput
            try block(ctx, i, context: context, acts: acts.block(i), sharedMod: acts.sharedMod, next: next)
        }
        if let shouldStop, shouldStop() { throw ModelError.cancelled }
        // Final layer: adaLN (shift, scale), LN, linear to patch values   [T, D] -> [T, P]
        try ctx.linear(acts.condAct.view([1, d]), w.finalAdaLN.weight, bias: w.finalAdaLN.bias, into: acts.finalMod.view([1, 2 * d]))
        try split(acts.finalMod, into: [acts.finalShift, acts.finalScale])
        try ctx.layerNorm(acts.finalInput, into: acts.finalNorm)
        try ctx.modulate(acts.finalNorm, shift: acts.finalShift, scale: acts.finalScale, into: acts.finalNorm)
        try ctx.linear(acts.finalNorm, w.finalLinear.weight, bias: w.finalLinear.bias, into: acts.output)
        // Output refiner at full resolution (configs that have one): x0 = x0_hat + conv2(GELU(conv1(.)))
        if c.refinerChannels > 0 { try refine(ctx, noisy: noisy, level: s, acts: acts) }
        return acts.output
    }

    /// One DiT block: adaLN-modulated self-attention with 3-D RoPE, cross-attention to the text
    /// (gated too with `crossAttentionGate`), adaLN-modulated MLP; gated residuals (adaLN-Zero). Writes the block output into `next`.
    func block(_ ctx: ComputeContext, _ i: Int, context: Tensor, acts a: ModelActivations.Block, sharedMod: Tensor, next: Tensor) throws {
        let c = config, b = weights.blocks[i], d = c.modelWidth, t = c.tokens, l = context.shape[0]
        try a.mod.copy(from: sharedMod)
        try ctx.gatedAdd(a.mod, b.adalnTable, gate: nil)
        try split(a.mod, into: a.modSlices)
        // Self-attention: h1 = h + gate1 * out(attn(rope(qkv(modulate(LN(h))))))
        try ctx.layerNorm(a.input, into: a.norm1)
        try ctx.modulate(a.norm1, shift: a.shift1, scale: a.scale1, into: a.norm1)
        try ctx.linear(a.norm1, b.qkv.weight, bias: b.qkv.bias, into: a.qkv)
        try selfAttention(ctx, qkv: a.qkv, tokens: t, width: d, heads: c.heads, rope: rope, into: a.attn)
        try ctx.linear(a.attn, b.attnOut.weight, bias: b.attnOut.bias, into: a.attnProj)
        try a.afterAttn.copy(from: a.input)
        try ctx.gatedAdd(a.afterAttn, a.attnProj, gate: a.gate1)
        // Cross-attention to the text context: h2 = h1 + [gateCross *] out(attn(q(LN(h1)), kv(context)))
        try ctx.layerNorm(a.afterAttn, gamma: b.crossNorm.weight, beta: b.crossNorm.bias, into: a.crossIn)
        try ctx.linear(a.crossIn, b.crossQ.weight, bias: b.crossQ.bias, into: a.crossQ)
        let kv = try a.crossKV(l, d)
        try ctx.linear(context, b.crossKV.weight, bias: b.crossKV.bias, into: kv)
        let kvp = kv.floats.baseAddress!
        try ctx.attentionUnchecked(q: a.crossQ.floats.baseAddress!, k: kvp, v: kvp + d, out: a.crossAttn.floats.baseAddress!,
                                   batch: 1, tq: t, tk: l, heads: c.heads, headDim: c.headDim,
                                   ldq: d, ldk: 2 * d, ldv: 2 * d, ldo: d, scale: 1 / Float(c.headDim).squareRoot())
        if c.crossAttentionGate {
            try ctx.linear(a.crossAttn, b.crossOut.weight, bias: b.crossOut.bias, into: a.crossProj)
            try a.afterCross.copy(from: a.afterAttn)
            try ctx.gatedAdd(a.afterCross, a.crossProj, gate: a.gateCross)
        } else {
            try ctx.linear(a.crossAttn, b.crossOut.weight, bias: b.crossOut.bias, into: a.afterCross)
            try ctx.gatedAdd(a.afterCross, a.afterAttn, gate: nil)
        }
        // MLP: h3 = h2 + gate2 * fc2(gelu(fc1(modulate(LN(h2)))))
        try ctx.layerNorm(a.afterCross, into: a.norm2)
        try ctx.modulate(a.norm2, shift: a.shift2, scale: a.scale2, into: a.norm2)
        try ctx.linear(a.norm2, b.fc1.weight, bias: b.fc1.bias, into: a.fc1)
        try ctx.gelu(a.fc1, into: a.gelu)
        try ctx.linear(a.gelu, b.fc2.weight, bias: b.fc2.bias, into: a.mlpOut)
        try next.copy(from: a.afterCross)
        try ctx.gatedAdd(next, a.mlpOut, gate: a.gate2)
    }

    /// Multi-head self-attention over a fused qkv `[N, 3 * width]` (q, k, v side by side), with the
    /// rotary table applied to q and k in place when given.
    func selfAttention(_ ctx: ComputeContext, qkv: Tensor, tokens n: Int, width: Int, heads: Int, rope: RoPETable?, into out: Tensor) throws {
        let p = qkv.floats.baseAddress!
        if let rope {
            ctx.applyRoPEUnchecked(p, ld: 3 * width, heads: heads, table: rope)
            ctx.applyRoPEUnchecked(p + width, ld: 3 * width, heads: heads, table: rope)
        }
        let dh = width / heads
        try ctx.attentionUnchecked(q: p, k: p + width, v: p + 2 * width, out: out.floats.baseAddress!, batch: 1, tq: n, tk: n,
                                   heads: heads, headDim: dh, ldq: 3 * width, ldk: 3 * width, ldv: 3 * width, ldo: width,
                                   scale: 1 / Float(dh).squareRoot())
    }

    /// Copies consecutive slices of `source` into `parts` (each [D]).
    func split(_ source: Tensor, into parts: [Tensor]) throws {
        var offset = 0
        let s = source.floats
        for p in parts {
            let n = p.count
            guard offset + n <= s.count else { throw ModelError.badInput("split: \(source.shape) is too small") }
            p.floats.baseAddress!.update(from: s.baseAddress! + offset, count: n)
            offset += n
        }
    }

    /// Sinusoidal embedding of the noise level: [cos(1000 s f_i), sin(1000 s f_i)], f_i = 10000^(-i/F).
    public func timestepEmbedding(_ s: Float, into out: Tensor) {
        let nf = config.timeFrequencies, o = out.floats
        for i in 0..<nf {
            let f = Foundation.exp(-Foundation.log(10_000.0) * Double(i) / Double(nf))
            let a = Double(s) * 1000 * f
            o[i] = Float(Foundation.cos(a)); o[nf + i] = Float(Foundation.sin(a))
        }
    }

    // MARK: patches

    /// Clip `[F, H, W, Ch]` -> patches `[T, P]`; tokens in (t, y, x) order, values in (dt, dy, dx, c) order.
    public func patchify(_ clip: Tensor, into patches: Tensor) throws { try patchify(clip, into: patches, channels: config.channels) }

    /// Patches `[T, P]` -> clip `[F, H, W, Ch]`, the inverse of `patchify`.
    public func unpatchify(_ patches: Tensor, into clip: Tensor) throws { try unpatchify(patches, into: clip, channels: config.channels) }

    /// `patchify` for `channels` values per pixel: `[F, H, W, channels]` -> `[T, pt·ph·pw·channels]`.
    public func patchify(_ clip: Tensor, into patches: Tensor, channels: Int) throws {
        try checkPatches(clip, patches, channels: channels, "patchify")
        movePatches(clip.floats.baseAddress!, patches.floats.baseAddress!, channels: channels, toPatches: true)
    }

    /// The inverse of `patchify(_:into:channels:)`.
    public func unpatchify(_ patches: Tensor, into clip: Tensor, channels: Int) throws {
        try checkPatches(clip, patches, channels: channels, "unpatchify")
        movePatches(clip.floats.baseAddress!, patches.floats.baseAddress!, channels: channels, toPatches: false)
    }

    private func checkPatches(_ clip: Tensor, _ patches: Tensor, channels: Int, _ what: String) throws {
        let c = config, pixels = c.frames * c.height * c.width
        guard channels > 0, clip.count == pixels * channels, patches.count == pixels * channels else {
            throw ModelError.badInput("\(what): clip \(clip.shape), patches \(patches.shape), \(channels) channels")
        }
    }

    private func movePatches(_ clip: UnsafeMutablePointer<Float>, _ patches: UnsafeMutablePointer<Float>, channels ch: Int, toPatches: Bool) {
        let c = config, g = c.grid, perToken = c.patchT * c.patchH * c.patchW * ch
        var tok = 0
        for gt in 0..<g.t { for gy in 0..<g.y { for gx in 0..<g.x {
            var v = tok * perToken
            for dt in 0..<c.patchT { for dy in 0..<c.patchH {
                let f = gt * c.patchT + dt, y = gy * c.patchH + dy
                let base = ((f * c.height + y) * c.width + gx * c.patchW) * ch
                for i in 0..<(c.patchW * ch) {
                    if toPatches { patches[v] = clip[base + i] } else { clip[base + i] = patches[v] }
                    v += 1
                }
            } }
            tok += 1
        } } }
    }
}
