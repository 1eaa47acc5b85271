import ArgumentParser
import Foundation
import ShapeBench
import ShapeWorld
import VGCore
import VGFormat
import VGModel
import VGPack
import VGText
import VGTraining
import VGVideo

/// `vgtrain evaluate`: generates the benchmark prompts with a model and scores the clips with
/// ShapeBench, once with the detailed captions and once with the terse prompts people type.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate ShapeBench prompts with a model (detailed and terse captions) and score them.",
        discussion: """
        --model takes exported weights (f16/f32 safetensors with vgrt.config and vgrt.tokenizer), a training
        checkpoint (add --ema to use its EMA weights), or a packed .vgpk model (run on its quantised kernels).
        Prompts are spread evenly over the fixed v1 set. The set cycles its first object's shape with
        period 5 (circle, square, triangle, ring, star), so a limit whose stride is a multiple of 5
        (64: every 5th prompt) is mostly circles; use 160 or 320 to measure shape.

        Example:
          vgtrain evaluate --model Models/checkpoints/base.safetensors --limit 64 --out evals/base --sheet docs/base-samples.png
        """)

    @Option(help: "Model weights or checkpoint (.safetensors), or a packed .vgpk.") var model: String = ""
    @Flag(help: "Use the checkpoint's EMA weights (ema.* tensors).") var ema = false
    @Option(help: "Prompts (spread over the 320 of v1).") var limit = 64
    @Option(help: "Euler steps.") var steps = 20
    @Option(help: "Guidance weight.") var guidance: Float = 4
    @Option(help: "Stochasticity a of SDE sampling steps (0: the deterministic ODE).") var stochasticity: Float = 0
    @Option(help: "Grid shift k of the sampler (default: the model's samplingShift).") var shift: Float?
    @Option(help: "Guidance interval 'lo,hi': guide only the steps whose noise level s lies in [lo, hi] (default 0,1: every step).")
    var guidanceInterval = "0,1"
    @Option(help: "Share of the guidance update kept along the prompted prediction (adaptive projected guidance; 1: plain guidance, 0: only the orthogonal part).")
    var parallelGuidance: Float = 1
    @Option(help: "Share of guidance rescale (the guided prediction rescaled to the prompted one's standard deviation; 0: off).")
    var guidanceRescale: Float = 0
    @Flag(help: "Clamp every clean-clip prediction to the data range [-1, 1] (static thresholding).") var clampPrediction = false
    @Option(help: "Frequency-decoupled guidance: the guidance weight of the high frequencies (the part of the guidance update a Gaussian blur removes); --guidance then weighs the low ones.") var highFrequencyGuidance: Float?
    @Option(help: "Standard deviation in pixels of the blur that splits low and high frequencies.") var frequencySplitSigma: Float = 1
    @Option(help: "Autoguidance: a weaker model (same clip shape and tokenizer) whose prompted prediction replaces the unprompted one in guidance.")
    var guideModel: String?
    @Flag(help: "Use the guide checkpoint's EMA weights.") var guideEma = false
    @Option(help: "Negative caption (an experiment): guidance pushes away from the prompt's own caption with every object's shape word changed to this shape (circle, square, triangle, ring, star) instead of from the empty prompt, so it amplifies only what the shape words change.")
    var negativeShape: String?
    @Option(help: "A latent shape classifier (`vgtrain shape-classifier`) that also names the shape in each frame of the sampled latents of the single-object prompts, beside ShapeBench's verdict on the decoded frames (a latent model only; a diagnostic: does a sample that fools the classifier draw the shape?).") var shapeClassifier: String?
    @Option(help: "Added to every prompt's sampling seed (0: the benchmark's own seeds; another value draws a second, independent set of starting noises for the same prompts).")
    var seedOffset = 0
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Output directory for the JSON reports and markdown tables.") var out: String
    @Option(help: "Write a contact sheet PNG of the first --sheet-count prompts (detailed captions).") var sheet: String?
    @Option(help: "Prompts on the --sheet.") var sheetCount = 8
    @Flag(help: "Put only single-object prompts on the --sheet.") var sheetSingleObject = false
    @Option(help: "Caption levels to run: detailed, terse or both.") var levels = "both"
    @Option(help: "The latent autoencoder of a latent model (its frames are decoded before they are judged).") var autoencoder: String?
    @Flag(help: "Also score the x0 prediction of every sampling step (trace-<level>.md): at which noise level the sampler settles each attribute, and which shapes its predictions show on the way.") var trace = false
    @Option(help: "Instead of a model, score rendered clips: 'truth' (each prompt's own scene, the ceiling) or 'shuffled' (another prompt's scene, by a fixed permutation: the chance level of each attribute).")
    var baseline: String?

    func run() throws {
        if let baseline { return try runBaseline(baseline) }
        guard !model.isEmpty else { throw CLIError("--model is needed (or --baseline)") }
        let interval = try parseRange(guidanceInterval, option: "--guidance-interval", within: 0...1)
        let m = try EvaluationModel(path: model, ema: ema, autoencoder: autoencoder)
        let (config, tokenizer, dit, render) = (m.config, m.tokenizer, m.dit, m.render)
        // A latent guide works in the model's latent space: a safetensors guide is loaded with the
        // model's --autoencoder (a packed one carries its own; the sampler refuses one whose clip
        // shape differs). Errors name the guide, since --autoencoder was given for the model.
        let guide = try guideModel.map { path -> EvaluationModel in
            let guideAutoencoder = path.hasSuffix(".vgpk") || m.codec == nil ? nil : autoencoder
            let g: EvaluationModel
            do { g = try EvaluationModel(path: path, ema: guideEma, autoencoder: guideAutoencoder) } catch {
                throw CLIError("--guide-model \(path): \(error)")
            }
            guard (g.codec == nil) == (m.codec == nil) else {
                throw CLIError("--guide-model \(path): the guide and the model must both be pixel models or both latent models")
            }
            return g
        }
        if let guide, guide.tokenizer != m.tokenizer { throw CLIError("the guide model's tokenizer differs from the model's") }
        guard seedOffset >= 0 else { throw CLIError("--seed-offset: 0 or more (got \(seedOffset))") }
        let ctx = try ComputeContext(threads: threads)
        let prompts = try benchmarkPrompts(limit: limit)
        guard (1...320).contains(sheetCount) else { throw CLIError("--sheet-count: 1...320 prompts (got \(sheetCount))") }
        let empty: [Int32] = [BPETokenizer.bosID, BPETokenizer.eosID]
        let negativeKind = try negativeShape.map { name -> ShapeKind in
            guard let k = ShapeKind(rawValue: name) else { throw CLIError("--negative-shape: one of \(ShapeKind.allCases.map(\.rawValue).joined(separator: ", ")) (got \(name))") }
            return k
        }
        let classifier = try shapeClassifier.map { path -> LatentShapeClassifier in
            let c: LatentShapeClassifier
            do { c = try LatentShapeClassifier.load(URL(fileURLWithPath: path)) } catch { throw CLIError("--shape-classifier \(path): \(error)") }
            guard [c.config.height, c.config.width, c.config.channels] == [config.height, config.width, config.channels] else {
                throw CLIError("--shape-classifier \(path) reads \(c.config.height) x \(c.config.width) x \(c.config.channels) latent frames; the model makes \(config.height) x \(config.width) x \(config.channels) (a latent model with its --autoencoder)")
            }
            return c
        }
        try makeDirectory(out)
        var tables: [String] = []
        var sheetStrips: [(rgb: [UInt8], width: Int, height: Int)] = []
        let start = Date()
        let runLevels = levels == "both" ? ["detailed", "terse"] : [levels]
        guard runLevels.allSatisfy({ $0 == "detailed" || $0 == "terse" }) else { throw CLIError("--levels takes detailed, terse or both") }
        for level in runLevels {
            var reports: [VideoReport] = []
            // With --shape-classifier: single-object prompts' frames the classifier names right, of all.
            var learned = (right: 0, frames: 0), reencoded = (right: 0, frames: 0)
            // With --trace: [step] (level, checks per attribute (right, all), shape verdicts by name).
            var traced: [(level: Float, checks: CheckTally, shapes: [String: Int])] = []
            for (i, p) in prompts.enumerated() {
                let caption = level == "detailed" ? p.detailed : p.terse
                let tokens = try tokenizer.encode(caption, maxLength: config.maxTextTokens, addBos: true, addEos: true)
                var negative = empty
                if let negativeKind {
                    var scene = p.spec
                    for o in scene.objects.indices { scene.objects[o].shape = negativeKind }
                    let rewritten = try p.captions(describing: scene)
                    let text = level == "detailed" ? rewritten.detailed : rewritten.terse
                    negative = try tokenizer.encode(text, maxLength: config.maxTextTokens, addBos: true, addEos: true)
                }
                let sampler = try FlowSampler(model: dit, context: ctx, prompt: tokens, empty: negative,
                                              options: .init(steps: steps, guidance: guidance, shift: shift ?? config.samplingShift, seed: p.seed &+ UInt64(seedOffset),
                                                             stochasticity: stochasticity, guidanceInterval: interval,
                                                             parallelGuidance: parallelGuidance, guidanceRescale: guidanceRescale,
                                                             clampPrediction: clampPrediction, highFrequencyGuidance: highFrequencyGuidance,
                                                             frequencySplitSigma: frequencySplitSigma),
                                              guide: guide?.dit)
                var it = sampler.makeIterator()
                var last: Tensor?
                var k = 0
                while let step = it.next() {
                    last = step.clip
                    if trace {
                        if traced.count <= k { traced.append((FlowSampler.grid(steps: steps, shift: shift ?? config.samplingShift)[k], CheckTally(), [:])) }
                        let x0 = try m.frames(ctx, clip: step.predicted)
                        for check in try ShapeBench.score(frames: x0, config: render, spec: p.spec, id: p.id).checks {
                            traced[k].checks.add(check)
                            if check.attribute == "shape" { traced[k].shapes[check.observed, default: 0] += 1 }
                        }
                    }
                    k += 1
                }
                if let e = it.error { throw CLIError("sampling \(p.id): \(e)") }
                guard let clip = last else { throw CLIError("no steps") }
                let frames = try m.frames(ctx, clip: clip)
                if let classifier, let codec = m.codec, p.spec.objects.count == 1, let label = ShapeKind.allCases.firstIndex(of: p.spec.objects[0].shape) {
                    // On the sampled latents, and on the decoded frames the judge sees, encoded again: a
                    // verdict that holds on the first and not on the second was carried by latent values
                    // the decoder does not draw.
                    let labels = Array(repeating: label, count: clip.shape[0])
                    var none: LatentShapeClassifier.Trace? = nil
                    let ce = try LatentShapeClassifier.crossEntropy(logits: try classifier.logits(ctx, latents: clip, trace: &none), labels: labels)
                    learned.right += ce.correct; learned.frames += ce.counted
                    let px = try Tensor(shape: [clip.shape[0], render.height, render.width, 3], values: frames.map { $0 * 2 - 1 })
                    let again = try LatentShapeClassifier.crossEntropy(logits: try classifier.logits(ctx, latents: try codec.encode(ctx, clip: px), trace: &none),
                                                                       labels: labels)
                    reencoded.right += again.correct; reencoded.frames += again.counted
                }
                reports.append(try ShapeBench.score(frames: frames, config: render, spec: p.spec, id: p.id))
                if level == "detailed", sheet != nil, sheetStrips.count < 2 * sheetCount, !sheetSingleObject || p.spec.objects.count == 1 {
                    sheetStrips.append(Sheet.strip(frames, config: render, every: 2, scale: 2))
                    let text = BitmapFont.render(BitmapFont.wrap(caption, columns: 90), width: sheetStrips.last!.width, scale: 1)
                    sheetStrips.append(text)
                }
                var stderr = StandardError()
                print("\(level) \(i + 1)/\(prompts.count)  \(p.id)  accuracy \(String(format: "%.2f", reports.last!.attributeAccuracy))  "
                      + "\(formatDuration(Date().timeIntervalSince(start)))", to: &stderr)
            }
            let report = BenchReport(reports: reports)
            try report.json().write(to: URL(fileURLWithPath: out).appendingPathComponent("\(level).json"))
            if trace { try writeText(traceTable(traced, level: level, prompts: prompts.count, sampling: samplingLabel(interval)), to: URL(fileURLWithPath: out).appendingPathComponent("trace-\(level).md").path) }
            tables.append(report.markdown(title: "ShapeBench, \(level) prompts (\(prompts.count) prompts, \(samplingLabel(interval)))"))
            if let path = shapeClassifier, learned.frames > 0 {
                tables.append(String(format: "Learned shape classifier (%@) on the sampled latents of the single-object prompts: %d of %d frames named as asked (%.3f); on the decoded frames encoded again: %d of %d (%.3f).\n",
                                     URL(fileURLWithPath: path).lastPathComponent, learned.right, learned.frames, Double(learned.right) / Double(learned.frames),
                                     reencoded.right, reencoded.frames, Double(reencoded.right) / Double(max(reencoded.frames, 1))))
            }
        }
        let md = tables.joined(separator: "\n")
        try writeText(md, to: URL(fileURLWithPath: out).appendingPathComponent("shapebench.md").path)
        print(md)
        if let sheet, !sheetStrips.isEmpty {
            let s = Sheet.stack(sheetStrips)
            try VideoIO.writePNG(rgb: s.rgb, width: s.width, height: s.height, to: sheet)
            print("wrote \(sheet)")
        }
    }

    /// The sampler settings of a run, as its table titles name them.
    func samplingLabel(_ interval: ClosedRange<Float>) -> String {
        "\(steps) steps, guidance \(guidance)"
            + (shift.map { ", shift \($0)" } ?? "")
            + (interval == 0...1 ? "" : ", guided at s in [\(interval.lowerBound), \(interval.upperBound)]")
            + (parallelGuidance == 1 ? "" : ", parallel share \(parallelGuidance)")
            + (guidanceRescale == 0 ? "" : ", rescale \(guidanceRescale)")
            + (clampPrediction ? ", x0 clamped to [-1, 1]" : "")
            + (highFrequencyGuidance.map { ", high frequencies (above a \(frequencySplitSigma)-pixel blur) guided \($0)" } ?? "")
            + (guideModel.map { ", autoguided by \(URL(fileURLWithPath: $0).lastPathComponent)" } ?? "")
            + (stochasticity > 0 ? ", SDE a = \(stochasticity)" : "")
            + (seedOffset == 0 ? "" : ", sampling seeds offset by \(seedOffset)")
    }

    /// The --trace table: per sampling step, the level it starts from, each attribute's accuracy on
    /// that step's x0 prediction, and the shape verdicts.
    func traceTable(_ rows: [(level: Float, checks: CheckTally, shapes: [String: Int])], level: String, prompts: Int,
                    sampling: String) -> String {
        let names = ShapeBench.attributes, shapes = ShapeKind.allCases.map(\.rawValue)
        var md = "ShapeBench on each sampling step's x0 prediction, \(level) prompts (\(prompts) prompts, \(sampling)); "
            + "accuracy (checks), then how many shape verdicts were each shape\n\n"
            + "| step | from s | " + names.joined(separator: " | ") + " | " + shapes.joined(separator: " | ") + " |\n"
            + "|---|---|" + String(repeating: "---|", count: names.count + shapes.count) + "\n"
        for (k, r) in rows.enumerated() {
            md += String(format: "| %d | %.3f | ", k + 1, r.level) + names.map { r.checks.cell($0) }.joined(separator: " | ") + " | "
                + shapes.map { "\(r.shapes[$0] ?? 0)" }.joined(separator: " | ") + " |\n"
        }
        return md
    }

    /// Scores rendered ground truth against the prompts (the ceiling) or against the next prompt's
    /// spec (the empirical chance level), with the geometry of the default model.
    func runBaseline(_ kind: String) throws {
        guard kind == "truth" || kind == "shuffled" else { throw CLIError("--baseline takes truth or shuffled") }
        let c = ModelConfig()
        let render = RenderConfig(frames: c.frames, height: c.height, width: c.width, fps: 8)
        let prompts = try benchmarkPrompts(limit: limit), n = prompts.count
        var reports: [VideoReport] = []
        for (i, p) in prompts.enumerated() {
            // Shuffled: a fixed permutation (7919 is prime to any set size used here) that moves every prompt.
            var j = (i &* 7919 &+ 131) % prompts.count
            if j == i { j = (i + 1) % prompts.count }
            let source = kind == "truth" ? p : prompts[j]
            let frames = try renderPrompt(source, config: render, degradations: [])
            reports.append(try ShapeBench.score(frames: frames, config: render, spec: p.spec, id: p.id))
        }
        try makeDirectory(out)
        let report = BenchReport(reports: reports)
        try report.json().write(to: URL(fileURLWithPath: out).appendingPathComponent("\(kind).json"))
        let md = report.markdown(title: "ShapeBench, \(kind == "truth" ? "rendered ground truth" : "shuffled ground truth (chance level)") (\(n) prompts)")
        try writeText(md, to: URL(fileURLWithPath: out).appendingPathComponent("\(kind).md").path)
        print(md)
    }
}
