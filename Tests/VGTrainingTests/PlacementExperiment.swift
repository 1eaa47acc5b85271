import XCTest
import Foundation
import VGCore
import VGModel
import VGTraining
import VGText
import VGFormat
import ShapeWorld

/// A ShapeWorld source narrowed for the placement experiment: the stream's scenes with (optionally)
/// only their first object, (optionally) every object static, (optionally) a yellow object on black,
/// and one of three caption forms: the detailed caption, only the start region ("region"), or
/// "<colour> <background> <region>" ("short"). Caption draws as in `vgtrain pretrain`.
struct NarrowedShapeWorldSource: CaptionedClipSource {
    enum CaptionForm: String { case detailed, region, short }
    let config: RenderConfig
    let singleObject: Bool, staticObjects: Bool, yellowOnBlack: Bool
    let captions: CaptionForm
    /// When not empty, every object gets one of these motions (picked per scene) at fast speed.
    var motions: [Motion] = []
    /// Every non-round shape upright (rotation 0).
    var upright = false
    /// Share of examples whose altered input (`alteredInput`) is the scene with its shapes swapped.
    var swapShare: Float = 0

    func spec(_ index: Int) -> SceneSpec {
        var rng = SplitMix64(seed: UInt64(index) &* 0x9E37_79B9_7F4A_7C15 &+ 7)
        while true {
            let s = SceneSampler.random(using: &rng)
            var objects = singleObject ? [s.objects[0]] : s.objects
            if staticObjects { for i in objects.indices { objects[i].motion = .static } }
            if !motions.isEmpty {
                for i in objects.indices { objects[i].motion = rng.pick(motions) ?? .static; objects[i].speed = .fast }
            }
            var background = s.background
            if upright { for i in objects.indices where !objects[i].shape.isRound { objects[i].rotation = 0 } }
            if yellowOnBlack { objects[0].color = .yellow; background = Background(color: .black) }
            if let placed = SceneSampler.place(objects, background: background, using: &rng) { return placed }
        }
    }

    func example(_ index: Int, into clip: Tensor) throws -> String {
        let s = spec(index)
        try write(s, clip: clip, coverage: nil)
        let region = StartRegion(x: s.objects[0].x, y: s.objects[0].y).rawValue
        switch captions {
        case .region: return region
        case .short: return "\(s.objects[0].color.rawValue) \(s.background.color.rawValue) \(region)"
        case .detailed:
            var rng = SplitMix64(seed: UInt64(index) ^ 0xABC)
            return Captioner.detailed(s, using: &rng)
        }
    }

    func objectCoverage(_ index: Int, into coverage: Tensor) throws -> Bool {
        let c = try Renderer.objectCoverage(spec(index), config: config), d = coverage.floats
        for i in 0..<d.count { d[i] = c[i] }
        return true
    }

    func alteredInput(_ index: Int, into clip: Tensor) throws -> Bool {
        var rng = SplitMix64(seed: UInt64(index) ^ 0x5A_A9)
        guard swapShare > 0, rng.chance(swapShare) else { return false }
        try write(SceneSampler.shapesSwapped(spec(index), uprightShare: upright ? 1 : 0, using: &rng), clip: clip, coverage: nil)
        return true
    }

    func captionDraws(_ index: Int, captionDropped: Bool, count: Int) -> CaptionDraws? {
        guard captions == .detailed || captionDropped else { return nil }
        let s = spec(index), this = self
        return CaptionDraws(count: count) { k, clip, coverage in
            var rng = SplitMix64(seed: UInt64(index) &* 31 &+ UInt64(k) &+ 99)
            try this.write(captionDropped ? SceneSampler.random(using: &rng) : SceneSampler.redrawn(s, using: &rng), clip: clip, coverage: coverage)
        }
    }

    func write(_ s: SceneSpec, clip: Tensor, coverage: Tensor?) throws {
        let f = try Renderer.render(s, config: config), d = clip.floats
        for i in 0..<d.count { d[i] = f[i] * 2 - 1 }
        if let coverage {
            let c = try Renderer.objectCoverage(s, config: config), e = coverage.floats
            for i in 0..<e.count { e[i] = c[i] }
        }
    }
}

/// The placement experiment of docs/PIPELINE.md ("Why the position and motion words are not read"):
/// trains the small recipe's model (8 x 32 x 32, width 96, depth 2) on a narrowed ShapeWorld, then
/// asks it, at pure noise, for "a big yellow disc starting at the <region>" in the four corner
/// regions and prints the mean prediction per quadrant and a score: the own quadrant's mean minus the
/// other three's, averaged over the four prompts (about 0.55 when the region words place the
/// object, 0 when they are ignored). A training run of minutes, not a test: it runs only with
/// VGRT_EXPERIMENTS=1, and is configured by environment variables:
///
///     VGRT_EXPERIMENTS=1 PLACE_STEPS=4500 PLACE_PURE=1 PLACE_TAIL=0 PLACE_SINGLE=1 PLACE_STATIC=1 \
///       swift test -c release --filter PlacementExperiment
///
/// PLACE_CAPTIONS (detailed | region | short), PLACE_YELLOW=1, PLACE_DRAWS (caption draws, default 15),
/// PLACE_LR, PLACE_HEADS, PLACE_TEXT_DEPTH, PLACE_DEPTH. PLACE_MOTIONS=right,left gives every object one of
/// these motions (fast) and scores the motion words instead of the region words.
final class PlacementExperiment: XCTestCase {
    func testPlacementExperiment() throws {
        let env = try ExperimentEnvironment()
        let steps = try env.value("PLACE_STEPS", 1500)
        var o = PretrainOptions()
        o.model = ModelConfig(frames: 8, height: 32, width: 32, patchT: 2, patchH: 4, patchW: 4, modelWidth: 96, depth: try env.value("PLACE_DEPTH", 2),
                              heads: try env.value("PLACE_HEADS", 2), mlpRatio: 4, timeFrequencies: 64, vocabSize: 1024, maxTextTokens: 64,
                              textWidth: 96, textDepth: try env.value("PLACE_TEXT_DEPTH", 2), textHeads: 2)
        o.model.crossAttentionGate = true; o.model.samplingShift = 3
        o.steps = steps; o.batchSize = 8; o.lanes = 2; o.threads = 1; o.seed = 41; o.checkpointEvery = 100_000
        o.noiseLevels = NoiseLevelDistribution(shift: 3, tailShare: try env.value("PLACE_TAIL", Float(0.15)), pureShare: try env.value("PLACE_PURE", Float(0.5)))
        o.objectWeight = 4; o.optimizer.warmupSteps = 200; o.optimizer.totalSteps = steps
        o.optimizer.learningRate = try env.value("PLACE_LR", Float(3e-4))
        o.pureNoiseDraws = try env.value("PLACE_DRAWS", 15); o.tokenizerCorpus = 5000
        guard let form = NarrowedShapeWorldSource.CaptionForm(rawValue: env["PLACE_CAPTIONS"] ?? "detailed") else {
            throw CLIFailure("PLACE_CAPTIONS: detailed, region or short")
        }
        let source = NarrowedShapeWorldSource(config: RenderConfig(frames: 8, height: 32, width: 32, fps: 8),
                                              singleObject: env["PLACE_SINGLE"] == "1", staticObjects: env["PLACE_STATIC"] == "1",
                                              yellowOnBlack: env["PLACE_YELLOW"] == "1", captions: form,
                                              motions: try (env["PLACE_MOTIONS"].map { $0.split(separator: ",") } ?? []).map {
                                                  guard let m = Motion(rawValue: String($0)) else { throw CLIFailure("PLACE_MOTIONS: unknown motion \($0)") }
                                                  return m
                                              })
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("placement-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try Pretrainer(options: o, source: source, directory: dir)
        let trainer = try run.run(progress: { l in if l.step % 250 == 0 { print("step \(l.step) loss \(l.loss)") } })

        guard let tj = try SafeTensorsFile(contentsOf: run.checkpointURL).metadata[TrainingCheckpoint.tokenizerKey] else {
            throw CLIFailure("checkpoint without tokenizer")
        }
        let tokenizer = try BPETokenizer(jsonString: tj)
        let model = try VideoDiT(weights: try ModelWeights(trainer.params, config: o.model))
        let acts = try ModelActivations(config: o.model, saveForBackward: false), ctx = try ComputeContext(threads: 1)
        let noise = try Tensor(zeros: [8, 32, 32, 3]), out = try Tensor(zeros: [8, 32, 32, 3])
        var rng = SeededRandom(seed: 9); rng.fillGaussian(noise.floats)
        if !source.motions.isEmpty {
            // Motion mode: "a big yellow disc starting at the centre" moving fast left or right, at pure
            // noise. Per frame, the mean prediction of the right half minus the left half; the score is
            // half the difference between the two prompts of (last frame - first frame): about the
            // object's contrast times its travel share when the motion words are read, 0 when not.
            var shift: [Float] = []
            for m in [Motion.right, .left] {
                let o = ObjectSpec(shape: .circle, color: .yellow, size: .large, motion: m, speed: .fast, x: 0.5, y: 0.5)
                var crng = SplitMix64(seed: 5)
                let caption = Captioner.detailed(SceneSpec(objects: [o], background: Background(color: .black)), using: &crng)
                try model.encodeText(ctx, tokens: try tokenizer.encode(caption, maxLength: 64, addBos: true, addEos: true), acts: acts)
                try model.unpatchify(try model.predict(ctx, noisy: noise, level: 1, acts: acts), into: out)
                var perFrame = [Float](repeating: 0, count: 8)
                for i in 0..<out.count {
                    let p = i / 3, x = p % 32, f = p / (32 * 32)
                    perFrame[f] += (x < 16 ? -1 : 1) * out.floats[i] / Float(32 * 32 * 3 / 2)
                }
                print("\(caption)\n  right-minus-left per frame: " + perFrame.map { String(format: "%.3f", $0) }.joined(separator: " "))
                shift.append(perFrame[7] - perFrame[0])
            }
            print(String(format: "motion score %.3f", (shift[0] - shift[1]) / 2))
            return
        }
        var score: Float = 0
        for (ri, region) in ["top-left", "top-right", "bottom-left", "bottom-right"].enumerated() {
            let caption = switch form {
            case .region: region
            case .short: "yellow black \(region)"
            case .detailed: "One shape on a plain black background: a big yellow disc starting at the \(region) that does not move."
            }
            try model.encodeText(ctx, tokens: try tokenizer.encode(caption, maxLength: 64, addBos: true, addEos: true), acts: acts)
            try model.unpatchify(try model.predict(ctx, noisy: noise, level: 1, acts: acts), into: out)
            // Mean prediction per quadrant: TL, TR, BL, BR.
            var sum = [Float](repeating: 0, count: 4), count = sum
            for i in 0..<out.count {
                let p = i / 3, x = p % 32, y = (p / 32) % 32, q = (y < 16 ? 0 : 2) + (x < 16 ? 0 : 1)
                sum[q] += out.floats[i]; count[q] += 1
            }
            let mean = (0..<4).map { sum[$0] / count[$0] }
            score += (mean[ri] - (0..<4).filter { $0 != ri }.reduce(Float(0)) { $0 + mean[$1] } / 3) / 4
            print(String(format: "%@: TL %.3f  TR %.3f  BL %.3f  BR %.3f", region, mean[0], mean[1], mean[2], mean[3]))
        }
        print(String(format: "placement score %.3f", score))
    }
}

/// The environment of an opt-in training experiment: skips the test unless VGRT_EXPERIMENTS=1, and
/// reads the experiment's settings.
struct ExperimentEnvironment {
    let values = ProcessInfo.processInfo.environment
    init() throws {
        guard values["VGRT_EXPERIMENTS"] == "1" else { throw XCTSkip("a training experiment of minutes; set VGRT_EXPERIMENTS=1 to run it") }
    }
    subscript(key: String) -> String? { values[key] }
    /// The setting `key` parsed, or `fallback` when it is not set.
    func value<T: LosslessStringConvertible>(_ key: String, _ fallback: T) throws -> T {
        guard let text = values[key] else { return fallback }
        guard let v = T(text) else { throw CLIFailure("\(key)=\(text) does not parse") }
        return v
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
