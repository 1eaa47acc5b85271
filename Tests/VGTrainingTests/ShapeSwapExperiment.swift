import XCTest
import Foundation
import VGCore
import VGModel
import VGTraining
import VGText
import VGFormat
import ShapeWorld
import ShapeBench
import VGVideo

/// The shape-swap experiment of docs/PIPELINE.md ("Session 14"): can a DiT learn to draw the shape
/// its caption names where its noisy input shows another one, and does the patch size decide it?
/// Trains a small model on single static objects (every non-round shape upright, detailed captions,
/// `SWAP_FRAMES` x 32 x 32) where a share of the inputs at levels >= `SWAP_FROM` show the scene with
/// its shapes swapped (`SceneSampler.shapesSwapped`), then, on 48 held-out scenes with a non-circle,
/// predicts x0 from the noised scene with its object turned into a circle and counts how often the
/// prediction is nearer the captioned scene than the circle one ("caption wins"), and where it lies
/// between the two along the pixels in which they differ (0 = the circle its input shows, 1 = the
/// caption's shape), with the noised true scene as the control. A
/// training run of minutes, not a test: it runs only with VGRT_EXPERIMENTS=1:
///
///     VGRT_EXPERIMENTS=1 SWAP_PATCH=4 SWAP_SHARE=0.5 swift test -c release --filter ShapeSwapExperiment
///
/// SWAP_STEPS (2000), SWAP_PATCH (spatial patch, 4), SWAP_FRAMES (4), SWAP_SHARE (0.5), SWAP_FROM
/// (0.25), SWAP_WIDTH (96), SWAP_DEPTH (2), SWAP_LR (3e-4), SWAP_GUIDANCE (guidances of the sampled
/// clips at 20 steps and shift 3, "2"; e.g. "2,5"), SWAP_SAMPLERS (instead, samplers as
/// "steps:shift:guidance:stochasticity,...", e.g. "20:3:2:0,50:1:2:0"), SWAP_SEED (noise and caption dropout, 43),
/// SWAP_SHEET (a PNG path: for 12 held-out scenes, the
/// truth, the x0 prediction from it noised to 0.9 / 0.7 / 0.5, and the first sampler's clip; frame 0, 4x).
/// It also prints how often ShapeBench reads the right shape in the x0 prediction from the noised true
/// scene at each level, on the 60 sampled scenes: look at the sheet before trusting the numbers
/// (docs/PIPELINE.md "Session 15": at 1500 steps the model draws no object to judge).
final class ShapeSwapExperiment: XCTestCase {
    func testShapeSwapExperiment() throws {
        let env = try ExperimentEnvironment()
        let steps = try env.value("SWAP_STEPS", 2000), patch = try env.value("SWAP_PATCH", 4), frames = try env.value("SWAP_FRAMES", 4)
        let share = try env.value("SWAP_SHARE", Float(0.5)), from = try env.value("SWAP_FROM", Float(0.25)), width = try env.value("SWAP_WIDTH", 96)
        var o = PretrainOptions()
        o.model = ModelConfig(frames: frames, height: 32, width: 32, patchT: 2, patchH: patch, patchW: patch, modelWidth: width,
                              depth: try env.value("SWAP_DEPTH", 2), heads: 2, mlpRatio: 4, timeFrequencies: 64, vocabSize: 1024,
                              maxTextTokens: 64, textWidth: 96, textDepth: 2, textHeads: 2)
        o.model.crossAttentionGate = true; o.model.samplingShift = 3
        o.steps = steps; o.batchSize = 8; o.lanes = 2; o.threads = 1; o.seed = try env.value("SWAP_SEED", UInt64(43)); o.checkpointEvery = 100_000
        o.noiseLevels = NoiseLevelDistribution(shift: 1, mean: 0, std: 1, tailShare: 0.1, tailFloor: 0.9, pureShare: 0.1)
        o.objectWeight = 4; o.optimizer.warmupSteps = 200; o.optimizer.totalSteps = steps
        o.optimizer.learningRate = try env.value("SWAP_LR", Float(3e-4))
        o.tokenizerCorpus = 5000
        o.alteredInputFrom = share > 0 ? from : nil
        let render = RenderConfig(frames: frames, height: 32, width: 32, fps: 8)
        let source = NarrowedShapeWorldSource(config: render, singleObject: true, staticObjects: true, yellowOnBlack: false,
                                              captions: .detailed, upright: true, swapShare: share)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shapeswap-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try Pretrainer(options: o, source: source, directory: dir)
        let start = Date()
        var recent: [Float] = []
        let trainer = try run.run(progress: { l in
            recent.append(l.loss)
            if l.step % 250 == 0 {
                print(String(format: "step %d loss (last 250) %.4f  %.0f s", l.step, recent.reduce(0, +) / Float(recent.count), Date().timeIntervalSince(start)))
                recent = []
            }
        })

        guard let tj = try SafeTensorsFile(contentsOf: run.checkpointURL).metadata[TrainingCheckpoint.tokenizerKey] else {
            throw CLIFailure("checkpoint without tokenizer")
        }
        let tokenizer = try BPETokenizer(jsonString: tj)
        let model = try VideoDiT(weights: try ModelWeights(trainer.params, config: o.model))
        let acts = try ModelActivations(config: o.model, saveForBackward: false), ctx = try ComputeContext(threads: 2)
        let shape = [frames, 32, 32, 3]
        let truth = try Tensor(zeros: shape), circle = try Tensor(zeros: shape), noise = try Tensor(zeros: shape)
        let xs = try Tensor(zeros: shape), out = try Tensor(zeros: shape)
        let levels: [Float] = [0.3, 0.5, 0.7, 0.9]
        var wins = [[Int]](repeating: [0, 0], count: levels.count), total = 0
        // Where the prediction lies between the circle scene (0) and the captioned one (1), along
        // the pixels in which the two differ: <out - circle, truth - circle> / |truth - circle|².
        var along = [[Double]](repeating: [0, 0], count: levels.count)
        var index = 900_000
        var rng = SeededRandom(seed: 77)
        func mse(_ a: Tensor, _ b: Tensor) -> Double {
            var s = 0.0
            for i in 0..<a.count { let d = Double(a.floats[i] - b.floats[i]); s += d * d }
            return s / Double(a.count)
        }
        while total < 48 {
            index += 1
            let spec = source.spec(index)
            guard spec.objects[0].shape != .circle else { continue }
            total += 1
            let caption = try source.example(index, into: truth)
            var srng = SplitMix64(seed: 1)
            try source.write(SceneSampler.shapesSwapped(spec, uprightShare: 1, using: &srng), clip: circle, coverage: nil)
            try model.encodeText(ctx, tokens: try tokenizer.encode(caption, maxLength: 64, addBos: true, addEos: true), acts: acts)
            for (li, s) in levels.enumerated() {
                rng.fillGaussian(noise.floats)
                for (k, input) in [circle, truth].enumerated() {
                    for i in 0..<xs.count { xs.floats[i] = (1 - s) * input.floats[i] + s * noise.floats[i] }
                    try model.unpatchify(try model.predict(ctx, noisy: xs, level: s, acts: acts), into: out)
                    if mse(out, truth) < mse(out, circle) { wins[li][k] += 1 }
                    var num = 0.0, den = 0.0
                    for i in 0..<out.count {
                        let d = Double(truth.floats[i] - circle.floats[i])
                        num += Double(out.floats[i] - circle.floats[i]) * d; den += d * d
                    }
                    along[li][k] += den > 0 ? num / den : 0
                }
            }
        }
        // Sampled from pure noise (20 steps, each guidance of SWAP_GUIDANCE, e.g. "2,5") for 60
        // held-out scenes of every shape, judged by ShapeBench; the rendered scenes as the judge's control.
        // Samplers: SWAP_SAMPLERS="steps:shift:guidance:stochasticity,..." (default: SWAP_GUIDANCE's
        // guidances at 20 steps, shift 3, no stochasticity).
        let guidances = try (env["SWAP_GUIDANCE"] ?? "2").split(separator: ",").map {
            guard let g = Float($0) else { throw CLIFailure("SWAP_GUIDANCE: \($0) does not parse") }
            return g
        }
        let samplers: [FlowSampler.Options] = try env["SWAP_SAMPLERS"].map { text in
            try text.split(separator: ",").map { item in
                let f = item.split(separator: ":").compactMap { Float($0) }
                guard f.count == 4, let steps = Int(exactly: f[0]) else { throw CLIFailure("SWAP_SAMPLERS: \(item) is not steps:shift:guidance:stochasticity") }
                return FlowSampler.Options(steps: steps, guidance: f[2], shift: f[1], stochasticity: f[3])
            }
        } ?? guidances.map { FlowSampler.Options(steps: 20, guidance: $0, shift: 3) }
        let empty = try tokenizer.encode("", maxLength: 64, addBos: true, addEos: true)
        // The shape ShapeBench reads in the x0 prediction from the noised true scene, per level, on the
        // same 60 scenes (every shape): can the model draw the captioned shape where its input shows it?
        var judgedRight = [Int](repeating: 0, count: levels.count)
        var sheetRows: [[[Float]]] = []   // per scene: truth, x0 at 0.9 / 0.7 / 0.5, sample (frame 0, [H, W, 3] in [0, 1])
        func frame0(_ t: Tensor) -> [Float] { Array(t.toArray()[0..<(32 * 32 * 3)]).map { min(1, max(0, ($0 + 1) / 2)) } }
        for k in 0..<60 {
            let i = 950_000 + k
            let spec = source.spec(i)
            let caption = try source.example(i, into: truth)
            try model.encodeText(ctx, tokens: try tokenizer.encode(caption, maxLength: 64, addBos: true, addEos: true), acts: acts)
            var row = [frame0(truth)]
            for (li, s) in levels.enumerated() {
                rng.fillGaussian(noise.floats)
                for j in 0..<xs.count { xs.floats[j] = (1 - s) * truth.floats[j] + s * noise.floats[j] }
                try model.unpatchify(try model.predict(ctx, noisy: xs, level: s, acts: acts), into: out)
                let f = out.toArray().map { min(1, max(0, ($0 + 1) / 2)) }
                for check in try ShapeBench.score(frames: f, config: render, spec: spec).checks where check.attribute == "shape" && check.correct {
                    judgedRight[li] += 1
                }
                if s >= 0.5 { row.insert(frame0(out), at: 1) }
            }
            if k < 12 { sheetRows.append(row) }
        }
        print("x0 from the noised true scene, shape right (60 scenes): " + zip(levels, judgedRight).map { String(format: "s %.1f: %d", $0, $1) }.joined(separator: ", "))
        for (samplerIndex, sampling) in samplers.enumerated() {
            var sampledRight = 0, renderRight = 0, judged = 0, verdicts: [String: [String: Int]] = [:]
            for k in 0..<60 {
                let i = 950_000 + k
                let spec = source.spec(i)
                let caption = try source.example(i, into: truth)
                let sampler = try FlowSampler(model: model, context: ctx, prompt: try tokenizer.encode(caption, maxLength: 64, addBos: true, addEos: true),
                                              empty: empty, options: .init(steps: sampling.steps, guidance: sampling.guidance, shift: sampling.shift,
                                                                           seed: UInt64(i), stochasticity: sampling.stochasticity))
                var it = sampler.makeIterator()
                var last: Tensor?
                while let step = it.next() { last = step.clip }
                guard let clip = last else { throw CLIFailure("sampling: \(it.error.map { "\($0)" } ?? "no steps")") }
                if samplerIndex == 0 && k < sheetRows.count { sheetRows[k].append(frame0(clip)) }
                let frames = clip.toArray().map { min(1, max(0, ($0 + 1) / 2)) }
                let truthFrames = truth.toArray().map { ($0 + 1) / 2 }
                for (k2, f) in [frames, truthFrames].enumerated() {
                    for check in try ShapeBench.score(frames: f, config: render, spec: spec).checks where check.attribute == "shape" {
                        if k2 == 0 {
                            judged += 1; if check.correct { sampledRight += 1 }
                            verdicts[check.expected, default: [:]][check.observed, default: 0] += 1
                        } else if check.correct { renderRight += 1 }
                    }
                }
            }
            print(String(format: "sampled (%d steps, shift %.1f, guidance %.1f, stochasticity %.1f): shape right %d of %d (%.3f); the rendered scenes: %d right",
                         sampling.steps, sampling.shift, sampling.guidance, sampling.stochasticity, sampledRight, judged, Double(sampledRight) / Double(max(1, judged)), renderRight))
            for (expected, row) in verdicts.sorted(by: { $0.key < $1.key }) {
                print("  prompted \(expected): " + row.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
        if let path = env["SWAP_SHEET"] {
            // Rows of scenes, 4x: truth | x0 from the noised truth at 0.9, 0.7, 0.5 | the first sampler's clip.
            let cols = sheetRows.map(\.count).max() ?? 0, z = 4, cell = 32 * z + 4
            let w = cols * cell, h = sheetRows.count * cell
            var rgb = [UInt8](repeating: 255, count: w * h * 3)
            for (r, row) in sheetRows.enumerated() {
                for (c, img) in row.enumerated() {
                    for y in 0..<(32 * z) { for x in 0..<(32 * z) { for ch in 0..<3 {
                        rgb[((r * cell + y) * w + c * cell + x) * 3 + ch] = UInt8(img[((y / z) * 32 + x / z) * 3 + ch] * 255)
                    } } }
                }
            }
            try VideoIO.writePNG(rgb: rgb, width: w, height: h, to: path)
        }
        print("patch \(patch), frames \(frames), width \(width), swap share \(share) from \(from), \(steps) steps, \(Int(Date().timeIntervalSince(start))) s")
        print("| s | input a circle: caption wins | input a circle: circle -> caption | control (input the truth): wins | control: circle -> caption |")
        for (li, s) in levels.enumerated() {
            let n = Double(total)
            print(String(format: "| %.1f | %.3f (%d of %d) | %.3f | %.3f | %.3f |", s, Double(wins[li][0]) / n, wins[li][0], total,
                         along[li][0] / n, Double(wins[li][1]) / n, along[li][1] / n))
        }
    }
}
