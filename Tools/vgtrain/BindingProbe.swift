import ArgumentParser
import Foundation
import ShapeBench
import ShapeWorld
import VGCore
import VGModel
import VGText

/// `vgtrain binding-probe`: does the model use one attribute of its prompt? For benchmark prompts it
/// renders the true clip x0, noises it to x_s with a fixed seed, and measures the model's clean-clip
/// prediction twice: with the detailed caption of the true scene and with the caption of the same
/// scene with one attribute changed (every object's colour, shape, size, motion or start position; or
/// the background colour). The error is measured on the pixels that the objects of either scene cover
/// (the background on all pixels): over the true objects alone a larger or displaced object would cost
/// nothing there.
/// Both captions come from the same caption seed, so they differ in the changed words only.
/// swapped / true > 1 means the words of that attribute steer the prediction at that noise level;
/// 1.00 means the model ignores them.
struct BindingProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binding-probe",
        abstract: "Per-noise-level x0 error with the true caption vs one with an attribute changed (a training diagnostic).",
        discussion: """
        Example:
          vgtrain binding-probe --model Models/checkpoints/base.safetensors --limit 32 --attributes color,background
        """)

    @Option(help: "Model weights or checkpoint (.safetensors), or a packed .vgpk.") var model: String
    @Flag(help: "Use the checkpoint's EMA weights (ema.* tensors).") var ema = false
    @Option(help: "Prompts (spread over the 320 of v1).") var limit = 32
    @Option(help: "Comma-separated noise levels in [0, 1].") var levels = "0.5,0.8,0.9,0.95,0.98,1.0"
    @Option(help: "Comma-separated attributes to change: color, shape, size, motion, position, background.") var attributes = "color,shape,size,motion,position,background"
    @Option(help: "Threads.") var threads = 2
    @Option(help: "The latent autoencoder of a latent model checkpoint (a .vgpk carries its own): the truth is encoded, the predictions decoded, and the errors measured on pixels.") var autoencoder: String?
    @Flag(help: "Also print, for the first prompt at the highest level: each text token's share of every block's cross-attention, the cross-attention's share of the residual stream, and how far changing the colour moves the values, the residual stream and the output.") var attentionMap = false

    static let known = SceneAttribute.allCases.map(\.rawValue)

    func run() throws {
        let lv = try parseNoiseLevels(levels)
        let attrs = try attributes.split(separator: ",").map { name -> SceneAttribute in
            guard let a = SceneAttribute(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw CLIError("--attributes: a comma-separated subset of \(Self.known.joined(separator: ", ")) (got \"\(name)\")")
            }
            return a
        }
        guard !attrs.isEmpty else { throw CLIError("--attributes: name at least one attribute") }
        let m = try EvaluationModel(path: model, ema: ema, autoencoder: autoencoder)
        let (c, tokenizer, dit, render) = (m.config, m.tokenizer, m.dit, m.render)
        let ctx = try ComputeContext(threads: threads)
        let prompts = try benchmarkPrompts(limit: limit), n = prompts.count
        // saveForBackward keeps every block's cross-attention queries and keys for the selectivity table.
        let acts = try ModelActivations(config: c, saveForBackward: true)
        // The model's clip (pixels, or a latent model's latents) and the rendered truth in [-1, 1] as
        // pixels [F, H, W, 3]: the errors are always measured on pixels, so a latent model's are comparable.
        let x0 = try Tensor(zeros: [c.frames, c.height, c.width, c.channels]), xs = try Tensor(zeros: x0.shape)
        let pred = try Tensor(zeros: x0.shape)
        let truthPixels = try Tensor(zeros: [c.frames, render.height, render.width, 3])
        // [attribute][level] sums over prompts of the weighted x0 MSE with the true and the changed caption.
        var trueErr = [[Double]](repeating: [Double](repeating: 0, count: lv.count), count: attrs.count), swapErr = trueErr
        var example: [SceneAttribute: (String, String)] = [:]
        // [block] sums over prompts, levels, tokens and heads of the largest cross-attention weight and of its
        // uniform value 1 / L, and of the logits' standard deviation over the text tokens.
        var maxWeight = [Double](repeating: 0, count: c.depth), uniform = maxWeight, logitStd = maxWeight
        var attentionRows = 0.0
        for p in prompts {
            let frames = try renderPrompt(p, config: render, degradations: [])
            let xp = truthPixels.floats
            for i in 0..<xp.count { xp[i] = frames[i] * 2 - 1 }
            let encoded = try m.codec.map { try $0.encode(ctx, clip: truthPixels).toArray() }
            let xv = x0.floats
            for i in 0..<xv.count { xv[i] = encoded?[i] ?? xp[i] }
            let coverage = try Renderer.objectCoverage(p.spec, config: render)   // [F, H, W]
            // Per-pixel squared x0 error (summed over the channels) of the prediction for `caption`, at every level.
            // The noise of a level is the same for every caption (and whatever the level list).
            func errors(_ caption: String, selectivity: Bool) throws -> [[Float]] {
                try dit.encodeText(ctx, tokens: try tokenizer.encode(caption, maxLength: c.maxTextTokens, addBos: true, addEos: true), acts: acts)
                return try lv.map { s in
                    var rng = SeededRandom(seed: p.seed &+ UInt64(s.bitPattern))
                    let nv = xs.floats
                    rng.fillGaussian(nv)
                    for i in 0..<nv.count { nv[i] = (1 - s) * xv[i] + s * nv[i] }
                    try dit.unpatchify(try dit.predict(ctx, noisy: xs, level: s, acts: acts), into: pred)
                    // The prediction as pixels in [-1, 1] (a latent model's decoded; a pixel model's as it is).
                    let pv = m.codec == nil ? Array(pred.floats) : try m.frames(ctx, clip: pred).map { $0 * 2 - 1 }
                    if selectivity {
                        for b in 0..<c.depth {
                            let m = try Self.selectivity(q: acts.block(b).crossQ, kv: try acts.block(b).crossKV(acts.textLength, c.modelWidth),
                                                         tokens: c.tokens, text: acts.textLength, heads: c.heads, headDim: c.headDim)
                            maxWeight[b] += m.max; uniform[b] += m.uniform; logitStd[b] += m.std
                        }
                        attentionRows += 1
                    }
                    return (0..<(pv.count / 3)).map { px in
                        var e: Float = 0
                        for ch in 0..<3 { let d = pv[3 * px + ch] - xp[3 * px + ch]; e += d * d }
                        return e
                    }
                }
            }
            // Mean squared error per value, weighted per pixel (nil: every pixel alike).
            func weightedMean(_ e: [Float], _ w: [Float]?) -> Double {
                guard let w else { return e.reduce(0.0) { $0 + Double($1) } / Double(3 * e.count) }
                var sum = 0.0, weight = 0.0
                for px in e.indices where w[px] > 0 { sum += Double(w[px] * e[px]); weight += 3 * Double(w[px]) }
                return sum / max(weight, 1e-9)
            }
            // Both captions from one caption seed, so they differ only in the changed words.
            var r1 = SplitMix64(seed: p.seed)
            let trueCaption = Captioner.detailed(p.spec, using: &r1)
            let truth = try errors(trueCaption, selectivity: true)
            for (ai, attr) in attrs.enumerated() {
                var r2 = SplitMix64(seed: p.seed)
                let changedSpec = p.spec.changing(attr)
                let swapCaption = Captioner.detailed(changedSpec, using: &r2)
                if example[attr] == nil { example[attr] = (trueCaption, swapCaption) }
                let swapped = try errors(swapCaption, selectivity: false)
                // Object attributes: the pixels either scene's objects cover. Over the true objects' pixels
                // alone, a caption that asks for a larger object (or one moving across them) would be
                // rewarded for painting more of the frame in the object's colour.
                var weights: [Float]?
                if attr != .background {
                    let changedCoverage = try Renderer.objectCoverage(changedSpec, config: render)
                    weights = zip(coverage, changedCoverage).map { max($0, $1) }
                }
                for li in lv.indices {
                    trueErr[ai][li] += weightedMean(truth[li], weights)
                    swapErr[ai][li] += weightedMean(swapped[li], weights)
                }
            }
        }
        if attentionMap, let p = prompts.first, let s = lv.max() {
            try printAttentionMap(p, level: s, model: m, ctx: ctx, acts: acts)
        }
        var md = "| attribute changed | " + lv.map { String(format: "s = %.2f", $0) }.joined(separator: " | ") + " |\n"
        md += "|---|" + String(repeating: "---|", count: lv.count) + "\n"
        for (ai, attr) in attrs.enumerated() {
            let cells = (0..<lv.count).map { li in
                String(format: "%.4f / %.4f = %.2f", trueErr[ai][li] / Double(n), swapErr[ai][li] / Double(n), swapErr[ai][li] / max(trueErr[ai][li], 1e-12))
            }
            md += "| \(attr.rawValue) | " + cells.joined(separator: " | ") + " |\n"
        }
        md += "\nEach cell: x0 MSE on the pixels that the objects of the true or of the changed scene cover (background: all pixels) with the true caption / with the changed one = their ratio; \(n) prompts.\n"
        for attr in attrs { if let e = example[attr] { md += "\n- \(attr.rawValue): \"\(e.0)\" -> \"\(e.1)\"" } }
        md += "\n\n| DiT block | largest cross-attention weight (mean over video tokens and heads) | uniform 1 / L | logit std over the text tokens |\n|---|---|---|---|\n"
        for b in 0..<c.depth {
            md += String(format: "| %d | %.3f | %.3f | %.3f |\n", b, maxWeight[b] / attentionRows, uniform[b] / attentionRows, logitStd[b] / attentionRows)
        }
        md += "\n(true captions, every level above; a weight near 1 / L means the video tokens read the prompt as an average of its tokens)\n"
        print(md)
    }

    /// The share of cross-attention each text token receives (mean over video tokens and heads), per
    /// block, for prompt `p`'s detailed caption at level `s`: which words the video reads.
    func printAttentionMap(_ p: BenchmarkPrompt, level s: Float, model m: EvaluationModel, ctx: ComputeContext, acts: ModelActivations) throws {
        let c = m.config
        var r = SplitMix64(seed: p.seed)
        let caption = Captioner.detailed(p.spec, using: &r)
        let tokens = try m.tokenizer.encode(caption, maxLength: c.maxTextTokens, addBos: true, addEos: true)
        try m.dit.encodeText(ctx, tokens: tokens, acts: acts)
        let frames = try renderPrompt(p, config: m.render, degradations: [])
        let pixels = try Tensor(zeros: [c.frames, m.render.height, m.render.width, 3])
        for i in 0..<pixels.count { pixels.floats[i] = frames[i] * 2 - 1 }
        let truth = try m.codec.map { try $0.encode(ctx, clip: pixels) } ?? pixels   // [F, h, w, C]: what the model denoises
        let xs = try Tensor(zeros: [c.frames, c.height, c.width, c.channels])
        var rng = SeededRandom(seed: p.seed &+ UInt64(s.bitPattern))
        rng.fillGaussian(xs.floats)
        for i in 0..<xs.count { xs.floats[i] = (1 - s) * truth.floats[i] + s * xs.floats[i] }
        try m.dit.predict(ctx, noisy: xs, level: s, acts: acts)
        let l = tokens.count, d = c.modelWidth, dh = c.headDim, scale = 1 / Float(dh).squareRoot()
        var md = "Cross-attention per text token, s = \(s): \"\(caption)\"\n\n| token | " + (0..<c.depth).map { "block \($0)" }.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: c.depth) + "\n"
        var share = [[Double]](repeating: [Double](repeating: 0, count: l), count: c.depth)
        for b in 0..<c.depth {
            let q = acts.block(b).crossQ.floats, kv = try acts.block(b).crossKV(l, d).floats
            var logits = [Float](repeating: 0, count: l)
            for i in 0..<c.tokens { for h in 0..<c.heads {
                for j in 0..<l {
                    var dot: Float = 0
                    for e in 0..<dh { dot += q[i * d + h * dh + e] * kv[j * 2 * d + h * dh + e] }
                    logits[j] = dot * scale
                }
                let top = logits.max()!
                let ex = logits.map { Foundation.exp($0 - top) }, z = ex.reduce(0, +)
                for j in 0..<l { share[b][j] += Double(ex[j] / z) / Double(c.tokens * c.heads) }
            } }
        }
        // The value vectors of every text token under this caption, to compare with the colour-changed one,
        // and how large the cross-attention's addition to the residual stream is: per block, the mean over
        // video tokens of |h2 - h1| / |h1| (h1 before the cross-attention, h2 after it).
        let values = try (0..<c.depth).map { b in Array(try acts.block(b).crossKV(l, d).floats) }
        let residuals = (0..<c.depth).map { b in Array(acts.block(b).afterCross.floats) }
        let output = Array(acts.output.floats)
        func rowRatio(_ a: [Float], _ b: [Float], _ ref: [Float]) -> Double {
            var sum = 0.0
            for i in 0..<c.tokens {
                var num: Float = 0, den: Float = 0
                for e in 0..<d { let x = a[i * d + e] - b[i * d + e]; num += x * x; den += ref[i * d + e] * ref[i * d + e] }
                sum += Double((num / max(den, 1e-12)).squareRoot())
            }
            return sum / Double(c.tokens)
        }
        var valueNote = "\nCross-attention's addition to the residual stream, mean |h2 - h1| / |h1| over video tokens: "
        valueNote += (0..<c.depth).map { b in String(format: "block %d %.3f", b, rowRatio(residuals[b], Array(acts.block(b).afterAttn.floats), Array(acts.block(b).afterAttn.floats))) }.joined(separator: ", ") + "\n"
        var r2 = SplitMix64(seed: p.seed)
        let changed = Captioner.detailed(p.spec.changing(.color), using: &r2)
        let changedTokens = try m.tokenizer.encode(changed, maxLength: c.maxTextTokens, addBos: true, addEos: true)
        if changedTokens.count == l {
            try m.dit.encodeText(ctx, tokens: changedTokens, acts: acts)
            try m.dit.predict(ctx, noisy: xs, level: s, acts: acts)
            valueNote += "\nWith the colour changed (\"\(changed)\"): per block, the distance between the two captions' value vectors at each differing token, relative to the value's norm:\n\n"
            for j in 0..<l where tokens[j] != changedTokens[j] {
                let text = (try? m.tokenizer.decode([tokens[j]], skipSpecialTokens: false)) ?? "?"
                let cells = try (0..<c.depth).map { b -> String in
                    let other = try acts.block(b).crossKV(l, d).floats, mine = values[b]
                    var dist: Float = 0, norm: Float = 0
                    for e in 0..<d { let a = mine[j * 2 * d + d + e], o = other[j * 2 * d + d + e]; dist += (a - o) * (a - o); norm += a * a }
                    return String(format: "block %d %.2f", b, (dist / max(norm, 1e-12)).squareRoot())
                }
                valueNote += "- \(text): " + cells.joined(separator: ", ") + "\n"
            }
            valueNote += "\nHow far the colour-changed caption moves the residual stream after each block's cross-attention, mean |h2' - h2| / |h2|: "
            valueNote += (0..<c.depth).map { b in String(format: "block %d %.3f", b, rowRatio(Array(acts.block(b).afterCross.floats), residuals[b], residuals[b])) }.joined(separator: ", ")
            let out2 = acts.output.floats
            var num: Float = 0, den: Float = 0
            for i in 0..<output.count { num += (out2[i] - output[i]) * (out2[i] - output[i]); den += output[i] * output[i] }
            valueNote += String(format: "; and the predicted patches, |x0' - x0| / |x0|: %.4f\n", (num / max(den, 1e-12)).squareRoot())
        }
        for j in 0..<l {
            let text = (try? m.tokenizer.decode([tokens[j]], skipSpecialTokens: false)) ?? "?"
            let shown = text.replacingOccurrences(of: "|", with: "/").replacingOccurrences(of: " ", with: "_")
            md += "| \(shown) | " + (0..<c.depth).map { String(format: "%.3f", share[$0][j]) }.joined(separator: " | ") + " |\n"
        }
        print(md + valueNote)
    }

    /// How selective the cross-attention of one block is: for every video token and head, the largest
    /// softmax weight over the text tokens and the standard deviation of the logits, averaged.
    static func selectivity(q: Tensor, kv: Tensor, tokens t: Int, text l: Int, heads: Int, headDim dh: Int) throws -> (max: Double, uniform: Double, std: Double) {
        let d = heads * dh, qv = q.floats, kvv = kv.floats, scale = 1 / Float(dh).squareRoot()
        var sumMax = 0.0, sumStd = 0.0
        var logits = [Float](repeating: 0, count: l)
        for i in 0..<t {
            for h in 0..<heads {
                for j in 0..<l {
                    var dot: Float = 0
                    for e in 0..<dh { dot += qv[i * d + h * dh + e] * kvv[j * 2 * d + h * dh + e] }
                    logits[j] = dot * scale
                }
                let top = logits.max()!, mean = logits.reduce(0, +) / Float(l)
                let z = logits.reduce(Float(0)) { $0 + Foundation.exp($1 - top) }
                sumMax += Double(1 / z)
                sumStd += Double((logits.reduce(Float(0)) { $0 + ($1 - mean) * ($1 - mean) } / Float(l)).squareRoot())
            }
        }
        let rows = Double(t * heads)
        return (sumMax / rows, 1 / Double(l), sumStd / rows)
    }
}
