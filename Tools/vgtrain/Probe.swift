import ArgumentParser
import Foundation
import ShapeBench
import ShapeWorld
import VGCore
import VGModel
import VGText
import VGTraining
import VGVideo

/// `vgtrain probe`: how well a model denoises, noise level by noise level. For benchmark prompts it
/// renders the true clip x0, noises it to x_s with a fixed seed, and measures the model's clean-clip
/// prediction against x0 with the prompt and with the empty prompt. The gap between the two says how
/// much the text steers the model at each level; the error at s = 1 says whether it has learned the
/// layout a caption implies (background colour, objects) or only a mean grey. With `--judge` it also
/// scores each level's prompted prediction with ShapeBench; with `--input-shape` the input (and the
/// clip the errors are measured against) has every object turned into one shape, while ShapeBench
/// still judges against the prompt's own shapes.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-noise-level x0 error of a model with and without the prompt (a training diagnostic).",
        discussion: """
        Example:
          vgtrain probe --model Models/checkpoints/base.safetensors --limit 16 --sheet probe.png
        """)

    @Option(help: "Model weights or checkpoint (.safetensors), or a packed .vgpk.") var model: String
    @Flag(help: "Use the checkpoint's EMA weights (ema.* tensors).") var ema = false
    @Option(help: "Prompts (spread over the 320 of v1).") var limit = 16
    @Option(help: "Comma-separated noise levels in [0, 1].") var levels = "0.1,0.3,0.5,0.7,0.9,1.0"
    @Option(help: "Caption level: detailed or terse.") var caption = "detailed"
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Write a PNG: per prompt the truth, then the prediction at each level (every 4th frame).") var sheet: String?
    @Option(help: "Render the noised input with every object turned into this shape (circle, square, triangle, ring, star), judged against the prompt's own shapes: whether the shape word overrides what the input shows at each level (with --judge, only objects whose prompted shape differs are counted for shape).") var inputShape: String?
    @Option(help: "Blur the noised input inside each frame by a Gaussian of this many pixels while the x0 prediction is still scored against the sharp clip (0 = off): whether the model redraws outlines that its input shows only as blobs, as the sampler's path does.") var inputBlur: Float = 0
    @Option(help: "Roll the input out from this level (0 = off): for each level below it, the clip is noised to this level and the model's own prompted Euler steps (--rollout-steps, no guidance) carry it down to the level, as `pretrain --rollout-share` does; whether the model draws the caption from the states its own path makes.") var rolloutFrom: Float = 0
    @Option(help: "Euler steps of --rollout-from's rollout.") var rolloutSteps = 3
    @Option(help: "The latent autoencoder of a latent model (truth and inputs are encoded, predictions decoded).") var autoencoder: String?
    @Flag(help: "Also score each level's prompted x0 prediction with ShapeBench: which attributes the model's estimate of the clean clip already carries at that level.") var judge = false

    func run() throws {
        let lv = try parseNoiseLevels(levels)
        guard caption == "detailed" || caption == "terse" else { throw CLIError("--caption takes detailed or terse") }
        var swapTo: ShapeKind?
        if let inputShape {
            guard let k = ShapeKind(rawValue: inputShape) else {
                throw CLIError("--input-shape: one of \(ShapeKind.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(inputShape)\")")
            }
            swapTo = k
        }
        guard inputBlur.isFinite, (0...16).contains(inputBlur) else { throw CLIError("--input-blur: pixels in [0, 16] (got \(inputBlur))") }
        guard rolloutFrom.isFinite, (0...1).contains(rolloutFrom), (1...64).contains(rolloutSteps) else {
            throw CLIError("--rollout-from: a level in [0, 1] (0 = off); --rollout-steps: 1...64")
        }
        let m = try EvaluationModel(path: model, ema: ema, autoencoder: autoencoder)
        let (c, tokenizer, dit, render) = (m.config, m.tokenizer, m.dit, m.render)
        let ctx = try ComputeContext(threads: threads)
        let prompts = try benchmarkPrompts(limit: limit), n = prompts.count
        let cond = try ModelActivations(config: c, saveForBackward: false)
        let uncond = try ModelActivations(config: c, saveForBackward: false)
        try dit.encodeText(ctx, tokens: [BPETokenizer.bosID, BPETokenizer.eosID], acts: uncond)
        let x0 = try Tensor(zeros: [c.frames, c.height, c.width, c.channels]), xs = try Tensor(zeros: x0.shape)
        // A latent model's clips are its autoencoder's latents: the truth and the input are encoded.
        let pixelClip = try Tensor(zeros: [c.frames, render.height, render.width, 3])
        func modelValues(_ pixels: [Float]) throws -> [Float] {
            guard let codec = m.codec else { return pixels }
            let pv = pixelClip.floats
            for i in 0..<pv.count { pv[i] = pixels[i] }
            return try codec.encode(ctx, clip: pixelClip).toArray()
        }
        let pred = try Tensor(zeros: x0.shape)
        // Sums over prompts: [level] x0 MSE with the prompt, with the empty prompt, and of the clip's own mean colour.
        var mseCond = [Double](repeating: 0, count: lv.count), mseEmpty = mseCond
        var meanColourMSE: Double = 0
        // With --judge: [level] ShapeBench checks of the prompted x0 prediction, per attribute (right, all).
        var judged = [CheckTally](repeating: CheckTally(), count: lv.count)
        var strips: [(rgb: [UInt8], width: Int, height: Int)] = []
        for (pi, p) in prompts.enumerated() {
            var input = p
            if let swapTo { for i in input.spec.objects.indices { input.spec.objects[i].shape = swapTo } }
            let frames = try renderPrompt(input, config: render, degradations: [])
            let xv = x0.floats, truth = try modelValues(frames.map { $0 * 2 - 1 })
            for i in 0..<xv.count { xv[i] = truth[i] }
            // The clip under the noise: the clip itself, or with --input-blur its blurred frames.
            let inputValues = try modelValues((inputBlur > 0 ? ClipFilters.gaussianBlurred(frames, config: render, sigma: inputBlur) : frames).map { $0 * 2 - 1 })
            // The error of the best constant colour (per channel): what a model that only got the global
            // tint right would reach.
            let ch = c.channels
            var mean = [Double](repeating: 0, count: ch)
            for i in 0..<xv.count { mean[i % ch] += Double(xv[i]) }
            let px = Double(xv.count / ch)
            var e: Double = 0
            for i in 0..<xv.count { let d = Double(xv[i]) - mean[i % ch] / px; e += d * d }
            meanColourMSE += e / Double(xv.count)
            let text = caption == "detailed" ? p.detailed : p.terse
            try dit.encodeText(ctx, tokens: try tokenizer.encode(text, maxLength: c.maxTextTokens, addBos: true, addEos: true), acts: cond)
            if sheet != nil, pi < 6 { strips.append(Sheet.strip(frames, config: render, every: 4, scale: 1)) }
            for (li, s) in lv.enumerated() {
                var rng = SeededRandom(seed: p.seed &+ UInt64(li))
                let nv = xs.floats
                rng.fillGaussian(nv)
                if rolloutFrom > s, s > 0 {
                    // The model's own path: x at --rollout-from from the clip, then its Euler steps down to s.
                    for i in 0..<nv.count { nv[i] = (1 - rolloutFrom) * inputValues[i] + rolloutFrom * nv[i] }
                    try FlowMatchingTrainer.rollOut(model: dit, ctx: ctx, acts: cond, state: xs, from: rolloutFrom, to: s,
                                                    steps: rolloutSteps, scratch: pred)
                } else {
                    for i in 0..<nv.count { nv[i] = (1 - s) * inputValues[i] + s * nv[i] }
                }
                for (acts, isCond) in [(cond, true), (uncond, false)] {
                    try dit.unpatchify(try dit.predict(ctx, noisy: xs, level: s, acts: acts), into: pred)
                    let pv = pred.floats
                    var err: Double = 0
                    for i in 0..<pv.count { let d = Double(pv[i] - xv[i]); err += d * d }
                    if isCond { mseCond[li] += err / Double(pv.count) } else { mseEmpty[li] += err / Double(pv.count) }
                    let predicted = isCond && (judge || (sheet != nil && pi < 6)) ? try m.frames(ctx, clip: pred) : []
                    if isCond, judge {
                        let report = try ShapeBench.score(frames: predicted, config: render, spec: p.spec, id: p.id)
                        for check in report.checks where !(check.attribute == "shape" && check.expected == swapTo?.rawValue) {
                            // Prompted circles are counted apart too: a model that draws discs gets them right for free.
                            judged[li].add(check)
                            if check.attribute == "shape", check.expected != ShapeKind.circle.rawValue {
                                judged[li].add(check, as: "shape, not circle")
                                // By the asked size: whether outlines survive for objects spanning one patch or several.
                                if let o = check.object, p.spec.objects.indices.contains(o) {
                                    judged[li].add(check, as: "not circle, \(p.spec.objects[o].size.rawValue)")
                                }
                            }
                        }
                    }
                    if isCond, sheet != nil, pi < 6 {
                        strips.append(Sheet.strip(predicted, config: render, every: 4, scale: 1))
                    }
                }
            }
        }
        var md = "| noise level s | x0 MSE, prompt | x0 MSE, empty prompt | empty / prompt |\n|---|---|---|---|\n"
        for (li, s) in lv.enumerated() {
            let a = mseCond[li] / Double(n), b = mseEmpty[li] / Double(n)
            md += String(format: "| %.2f | %.4f | %.4f | %.2f |\n", s, a, b, b / max(a, 1e-12))
        }
        md += String(format: "\n(%d %@ prompts; a constant per-clip mean colour scores x0 MSE %.4f)\n", n, caption, meanColourMSE / Double(n))
        if judge {
            let names = ShapeBench.attributes + ["shape, not circle"] + SizeClass.allCases.map { "not circle, \($0.rawValue)" }
            md += "\nShapeBench on the prompted x0 prediction (accuracy, checks in brackets):\n\n| noise level s | " + names.joined(separator: " | ") + " |\n"
            md += "|---|" + String(repeating: "---|", count: names.count) + "\n"
            for (li, s) in lv.enumerated() {
                md += String(format: "| %.2f | ", s) + names.map { judged[li].cell($0) }.joined(separator: " | ") + " |\n"
            }
        }
        print(md)
        if let sheet, !strips.isEmpty {
            // Per prompt: truth, then one strip per level, side by side in a row.
            let per = 1 + lv.count
            var rows: [(rgb: [UInt8], width: Int, height: Int)] = []
            for r in stride(from: 0, to: strips.count, by: per) { rows.append(Sheet.row(Array(strips[r..<min(r + per, strips.count)]))) }
            let s = Sheet.stack(rows)
            try VideoIO.writePNG(rgb: s.rgb, width: s.width, height: s.height, to: sheet)
            print("wrote \(sheet)")
        }
    }
}
