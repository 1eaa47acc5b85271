import XCTest
@testable import VGCore
@testable import VGModel

/// A tiny config that runs in milliseconds.
let tinyConfig = ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 2,
                             heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 40, maxTextTokens: 6, textWidth: 12,
                             textDepth: 1, textHeads: 2)

/// Random parameters (small Gaussian), deterministic.
func randomParameters(_ c: ModelConfig, seed: UInt64, scale: Float = 0.2) throws -> ParameterSet {
    let p = try ParameterSet(config: c)
    var rng = SeededRandom(seed: seed)
    for n in p.names { rng.fillGaussian(try p.tensor(n).floats, scale: scale) }
    return p
}

final class VideoDiTTests: XCTestCase {
    func testConfigValidation() {
        XCTAssertNoThrow(try ModelConfig().validate())
        XCTAssertNoThrow(try tinyConfig.validate())
        var c = tinyConfig; c.patchH = 3
        XCTAssertThrowsError(try c.validate())
        c = tinyConfig; c.heads = 3
        XCTAssertThrowsError(try c.validate())
        c = tinyConfig; c.frames = -4
        XCTAssertThrowsError(try c.validate())
        // The default config: 512 tokens of 384 values; a few million parameters.
        let d = ModelConfig()
        XCTAssertEqual(d.tokens, 512); XCTAssertEqual(d.patchValues, 384)
        let n = ParameterSet.layout(d).reduce(0) { $0 + $1.shape.reduce(1, *) }
        print("default config parameters: \(n)")
        XCTAssertTrue((2_000_000...6_000_000).contains(n), "\(n)")
    }

    /// Without an absolute position embedding the model cannot tell tokens apart when their inputs are
    /// alike: on a constant clip every token's prediction is the same (RoPE sees only offsets, and
    /// every value vector is equal). With `pos_embedding` the tokens differ. Configs stored before the
    /// field existed decode without it.
    func testVideoPositionEmbedding() throws {
        let clip = try Tensor(zeros: [4, 8, 8, 3]); clip.fill(0.3)
        func tokenOutputs(_ c: ModelConfig) throws -> [[Float]] {
            let model = try VideoDiT(weights: try ModelWeights(try randomParameters(c, seed: 12), config: c))
            let ctx = try ComputeContext(), acts = try ModelActivations(config: c, saveForBackward: false)
            try model.encodeText(ctx, tokens: [1, 7, 2], acts: acts)
            let out = try model.predict(ctx, noisy: clip, level: 1, acts: acts).toArray()
            return (0..<c.tokens).map { Array(out[$0 * c.patchValues..<($0 + 1) * c.patchValues]) }
        }
        var without = tinyConfig
        without.videoPositionEmbedding = false
        let blind = try tokenOutputs(without), placed = try tokenOutputs(tinyConfig)
        let spreadBlind = blind.map { zip($0, blind[0]).map { abs($0 - $1) }.max()! }.max()!
        let spreadPlaced = placed.map { zip($0, placed[0]).map { abs($0 - $1) }.max()! }.max()!
        print("  constant clip: max token difference without / with pos_embedding: \(spreadBlind) / \(spreadPlaced)")
        XCTAssertLessThan(spreadBlind, 1e-4)
        XCTAssertGreaterThan(spreadPlaced, 1e-2)
        XCTAssertTrue(ModelConfig().videoPositionEmbedding)
        XCTAssertTrue(ModelConfig().crossAttentionGate)
        XCTAssertEqual(ParameterSet.layout(tinyConfig).filter { $0.name == "pos_embedding" }.first?.shape, [tinyConfig.tokens, 16])
        // Stored configs: round trip, and an old one (no key) decodes without the embedding.
        let json = try JSONEncoder().encode(tinyConfig)
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: json), tinyConfig)
        var dict = try JSONSerialization.jsonObject(with: json) as! [String: Any]
        dict.removeValue(forKey: "videoPositionEmbedding")
        let old = try JSONDecoder().decode(ModelConfig.self, from: try JSONSerialization.data(withJSONObject: dict))
        XCTAssertEqual(old, without)
        // A config stored before the cross-attention gate existed decodes without it.
        dict.removeValue(forKey: "crossAttentionGate")
        let older = try JSONDecoder().decode(ModelConfig.self, from: try JSONSerialization.data(withJSONObject: dict))
        XCTAssertFalse(older.crossAttentionGate)
    }

    /// The sin-cos start of the position table: every row has the asked norm, the first token (0, 0, 0)
    /// is sines 0 and cosines equal, rows differ along every axis, and nearby tokens are more alike
    /// than far ones.
    func testSinCosPositionTable() {
        let g = (t: 8, y: 8, x: 8), w = 192
        let table = PositionTable.sinCos3D(grid: g, width: w, norm: 5)
        XCTAssertEqual(table.count, 512 * w)
        func row(_ t: Int, _ y: Int, _ x: Int) -> [Float] { let r = (t * 64 + y * 8 + x) * w; return Array(table[r..<r + w]) }
        func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        for i in stride(from: 0, to: 512, by: 37) {
            let r = Array(table[i * w..<(i + 1) * w])
            XCTAssertEqual(dot(r, r).squareRoot(), 5, accuracy: 1e-4)
        }
        let first = row(0, 0, 0)
        for axis in 0..<3 {
            let base = axis * 64
            XCTAssertTrue(first[base..<base + 32].allSatisfy { $0 == 0 })                       // sin(0)
            XCTAssertTrue(first[base + 32..<base + 64].allSatisfy { abs($0 - 5 / Float(96).squareRoot()) < 1e-5 }) // cos(0), normalised
        }
        XCTAssertLessThan(dot(first, row(1, 0, 0)), 24.9); XCTAssertLessThan(dot(first, row(0, 1, 0)), 24.9)
        XCTAssertLessThan(dot(first, row(0, 0, 1)), 24.9)
        XCTAssertGreaterThan(dot(first, row(0, 0, 1)), dot(first, row(0, 0, 7)))
        XCTAssertGreaterThan(dot(first, row(0, 1, 0)), dot(first, row(7, 7, 7)))
    }

    func testPatchifyRoundTrip() throws {
        let p = try randomParameters(tinyConfig, seed: 1)
        let model = try VideoDiT(weights: try ModelWeights(p, config: tinyConfig))
        let clip = try Tensor(shape: [4, 8, 8, 3], values: (0..<768).map(Float.init))
        let patches = try Tensor(zeros: [tinyConfig.tokens, tinyConfig.patchValues]), back = try Tensor(zeros: [4, 8, 8, 3])
        try model.patchify(clip, into: patches)
        try model.unpatchify(patches, into: back)
        XCTAssertEqual(back.toArray(), clip.toArray())
        // Token 1 is (t 0, y 0, x 1): its first value is pixel (f 0, y 0, x 4, c 0) = 12.
        XCTAssertEqual(patches.toArray()[tinyConfig.patchValues], 12)
    }

    func testForwardIsDeterministicAndThreadIndependent() throws {
        let p = try randomParameters(tinyConfig, seed: 2)
        let model = try VideoDiT(weights: try ModelWeights(p, config: tinyConfig))
        var rng = SeededRandom(seed: 3)
        let clip = try Tensor(zeros: [4, 8, 8, 3]); rng.fillGaussian(clip.floats)
        var outs: [[Float]] = []
        for threads in [1, 2, 1] {
            let ctx = try ComputeContext(threads: threads)
            let acts = try ModelActivations(config: tinyConfig, saveForBackward: threads == 2)
            try model.encodeText(ctx, tokens: [1, 7, 9, 2], acts: acts)
            outs.append(try model.predict(ctx, noisy: clip, level: 0.7, acts: acts).toArray())
        }
        XCTAssertEqual(outs[0], outs[1]); XCTAssertEqual(outs[0], outs[2])
        XCTAssertTrue(outs[0].allSatisfy(\.isFinite))
        // The prompt matters.
        let ctx = try ComputeContext()
        let acts = try ModelActivations(config: tinyConfig, saveForBackward: false)
        try model.encodeText(ctx, tokens: [1, 8, 2], acts: acts)
        XCTAssertNotEqual(try model.predict(ctx, noisy: clip, level: 0.7, acts: acts).toArray(), outs[0])
    }

    func testBadInputs() throws {
        let model = try VideoDiT(weights: try ModelWeights(try randomParameters(tinyConfig, seed: 4), config: tinyConfig))
        let ctx = try ComputeContext(), acts = try ModelActivations(config: tinyConfig, saveForBackward: false)
        XCTAssertThrowsError(try model.predict(ctx, noisy: try Tensor(zeros: [4, 8, 8, 3]), level: 0.5, acts: acts)) // no text yet
        XCTAssertThrowsError(try model.encodeText(ctx, tokens: [], acts: acts))
        XCTAssertThrowsError(try model.encodeText(ctx, tokens: [1, 2, 3, 4, 5, 6, 7], acts: acts))
        XCTAssertThrowsError(try model.encodeText(ctx, tokens: [1, 40], acts: acts))
        XCTAssertThrowsError(try model.encodeText(ctx, tokens: [-1], acts: acts))
        try model.encodeText(ctx, tokens: [1, 2], acts: acts)
        XCTAssertThrowsError(try model.predict(ctx, noisy: try Tensor(zeros: [4, 8, 8, 2]), level: 0.5, acts: acts))
        XCTAssertThrowsError(try model.predict(ctx, noisy: try Tensor(zeros: [4, 8, 8, 3]), level: .nan, acts: acts))
        XCTAssertThrowsError(try model.predict(ctx, noisy: try Tensor(zeros: [4, 8, 8, 3]), level: 0.5, acts: acts,
                                               shouldStop: { true })) { XCTAssertEqual($0 as? ModelError, .cancelled) }
        // Parameters of the wrong shape are named.
        let p = try ParameterSet(config: tinyConfig)
        var bad = tinyConfig; bad.modelWidth = 32
        XCTAssertThrowsError(try ModelWeights(config: bad, tensor: { try p.tensor($0) }, linearWeight: { .f32(try p.tensor($0)) })) {
            XCTAssertTrue("\($0)".contains("expected"), "\($0)")
        }
    }

    func testSamplerGridAndDeterminism() throws {
        let g = FlowSampler.grid(steps: 4, shift: 3)
        XCTAssertEqual(g.first, 1); XCTAssertEqual(g.last, 0)
        XCTAssertTrue(zip(g, g.dropFirst()).allSatisfy { $0 > $1 })
        XCTAssertEqual(g[2], 0.75, accuracy: 1e-6)   // 3 * 0.5 / (1 + 2 * 0.5)
        let model = try VideoDiT(weights: try ModelWeights(try randomParameters(tinyConfig, seed: 5), config: tinyConfig))
        func run(_ seed: UInt64, threads: Int) throws -> [Float] {
            let sampler = try FlowSampler(model: model, context: try ComputeContext(threads: threads), prompt: [1, 5, 2], empty: [1, 2],
                                          options: .init(steps: 3, guidance: 4, shift: 3, seed: seed))
            var last: [Float] = []
            var count = 0
            for step in sampler { last = step.clip.toArray(); count += 1 }
            XCTAssertEqual(count, 3)
            return last
        }
        let a = try run(7, threads: 1)
        XCTAssertEqual(a, try run(7, threads: 2))
        XCTAssertNotEqual(a, try run(8, threads: 1))
        XCTAssertTrue(a.allSatisfy(\.isFinite))
        // Cancellation ends the sequence with the error.
        let s = try FlowSampler(model: model, context: try ComputeContext(), prompt: [1, 2], empty: [1, 2],
                                options: .init(steps: 3, seed: 1), shouldStop: { true })
        var it = s.makeIterator()
        XCTAssertNil(it.next())
        XCTAssertEqual(it.error as? ModelError, .cancelled)
        XCTAssertThrowsError(try FlowSampler(model: model, context: try ComputeContext(), prompt: [1], empty: [1], options: .init(steps: 0)))
        XCTAssertThrowsError(try FlowSampler(model: model, context: try ComputeContext(), prompt: [1], empty: [1],
                                             options: .init(steps: 2, stochasticity: .nan)))
        // Stochastic steps: deterministic per seed, finite, and not the ODE's result.
        func sde(_ seed: UInt64) throws -> [Float] {
            let sampler = try FlowSampler(model: model, context: try ComputeContext(), prompt: [1, 5, 2], empty: [1, 2],
                                          options: .init(steps: 3, guidance: 4, shift: 3, seed: seed, stochasticity: 0.7))
            var last: [Float] = []
            for step in sampler { last = step.clip.toArray() }
            return last
        }
        let b = try sde(7)
        XCTAssertEqual(b, try sde(7))
        XCTAssertNotEqual(b, a)
        XCTAssertTrue(b.allSatisfy(\.isFinite))
    }

    /// A guidance interval guides exactly the steps whose level lies in it: none (an interval no
    /// step starts in) is the unguided sampler, 0...1 is the always-guided one, and [0.7, 1] on the
    /// grid 1, 0.857, 0.6 shares the guided run's first two steps and then leaves it.
    func testGuidanceInterval() throws {
        let model = try VideoDiT(weights: try ModelWeights(try randomParameters(tinyConfig, seed: 5), config: tinyConfig))
        func run(guidance: Float, interval: ClosedRange<Float>) throws -> [[Float]] {
            let sampler = try FlowSampler(model: model, context: try ComputeContext(threads: 1), prompt: [1, 5, 2], empty: [1, 2],
                                          options: .init(steps: 3, guidance: guidance, shift: 3, seed: 7, guidanceInterval: interval))
            return sampler.map { $0.clip.toArray() }
        }
        let guided = try run(guidance: 4, interval: 0...1), plain = try run(guidance: 1, interval: 0...1)
        XCTAssertEqual(try run(guidance: 4, interval: 0...0), plain)
        XCTAssertNotEqual(guided.last, plain.last)
        let early = try run(guidance: 4, interval: 0.7...1)
        XCTAssertEqual(early[0], guided[0]); XCTAssertEqual(early[1], guided[1])
        XCTAssertNotEqual(early[2], guided[2]); XCTAssertNotEqual(early[2], plain[2])
        // Projected guidance: η = 1 is plain guidance; η = 0 keeps only the update orthogonal to the
        // prompted prediction, so its first step's x0 differs from plain guidance's and from the
        // prompted one, and the orthogonality holds.
        func projected(_ eta: Float) throws -> (clips: [[Float]], x0: [[Float]]) {
            let sampler = try FlowSampler(model: model, context: try ComputeContext(threads: 1), prompt: [1, 5, 2], empty: [1, 2],
                                          options: .init(steps: 3, guidance: 4, shift: 3, seed: 7, parallelGuidance: eta))
            var clips: [[Float]] = [], x0: [[Float]] = []
            for step in sampler { clips.append(step.clip.toArray()); x0.append(step.predicted.toArray()) }
            return (clips, x0)
        }
        XCTAssertEqual(try projected(1).clips, guided)
        let full = try projected(1).x0[0], orth = try projected(0).x0[0]
        XCTAssertNotEqual(orth, full); XCTAssertNotEqual(try projected(0).clips.last, plain.last)
        // x0_cond from the unguided sampler's first step: the same x at s = 1 (same seed).
        let c0: [Float] = try {
            let sampler = try FlowSampler(model: model, context: try ComputeContext(threads: 1), prompt: [1, 5, 2], empty: [1, 2],
                                          options: .init(steps: 3, guidance: 1, shift: 3, seed: 7))
            var it = sampler.makeIterator()
            return it.next()!.predicted.toArray()
        }()
        XCTAssertNotEqual(orth, c0)
        // (orth - c0) is (w - 1) d_orth: orthogonal to c0.
        let dot = zip(orth, c0).reduce(Float(0)) { $0 + ($1.0 - $1.1) * $1.1 }
        let scale = zip(orth, c0).reduce(Float(0)) { $0 + abs($1.0 - $1.1) } * c0.reduce(Float(0)) { $0 + abs($1) } / Float(c0.count)
        XCTAssertEqual(dot, 0, accuracy: 1e-3 * max(scale, 1e-6))
        XCTAssertThrowsError(try FlowSampler(model: model, context: try ComputeContext(), prompt: [1], empty: [1],
                                             options: .init(steps: 2, parallelGuidance: 2)))
        for bad: ClosedRange<Float> in [0.5...1.5, -0.1...1, 0...Float.infinity] {
            XCTAssertThrowsError(try FlowSampler(model: model, context: try ComputeContext(), prompt: [1], empty: [1],
                                                 options: .init(steps: 2, guidanceInterval: bad)))
        }
    }

    /// Prediction clamping and guidance rescale act on the first step's guided x0 exactly as
    /// documented: the clamp is the plain guided x0 clamped to [-1, 1] (and the unclamped one leaves
    /// the range, or the check could not fail); rescale φ = 1 gives the guided x0 the prompted x0's
    /// standard deviation, φ = 0.5 the mean of the two factors; bad φ throws.
    func testPredictionClampAndGuidanceRescale() throws {
        let model = try VideoDiT(weights: try ModelWeights(try randomParameters(tinyConfig, seed: 5), config: tinyConfig))
        func firstX0(guidance: Float, rescale: Float = 0, clamp: Bool = false) throws -> [Float] {
            let sampler = try FlowSampler(model: model, context: try ComputeContext(threads: 1), prompt: [1, 5, 2], empty: [1, 2],
                                          options: .init(steps: 3, guidance: guidance, shift: 3, seed: 7, guidanceRescale: rescale,
                                                         clampPrediction: clamp))
            var it = sampler.makeIterator()
            return it.next()!.predicted.toArray()
        }
        func std(_ v: [Float]) -> Double {
            let m = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            return (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count)).squareRoot()
        }
        let guided = try firstX0(guidance: 12), prompted = try firstX0(guidance: 1)
        XCTAssertTrue(guided.contains { abs($0) > 1 }, "the tiny model's guided x0 should leave [-1, 1]")
        XCTAssertEqual(try firstX0(guidance: 12, clamp: true), guided.map { min(max($0, -1), 1) })
        XCTAssertEqual(try firstX0(guidance: 12, rescale: 0), guided)
        let full = try firstX0(guidance: 12, rescale: 1)
        XCTAssertEqual(std(full), std(prompted), accuracy: 1e-4 * std(prompted))
        let ratio = Float(std(prompted) / std(guided)), half = try firstX0(guidance: 12, rescale: 0.5)
        for (h, g) in zip(half, guided) { XCTAssertEqual(h, g * (0.5 + 0.5 * ratio), accuracy: 1e-5 * max(abs(g), 1)) }
        for bad: Float in [-0.1, 1.5, .nan] {
            XCTAssertThrowsError(try FlowSampler(model: model, context: try ComputeContext(), prompt: [1], empty: [1],
                                                 options: .init(steps: 2, guidanceRescale: bad)))
        }
    }

    /// Frequency-decoupled guidance: the update is (w - 1) low + (w_high - 1) high, so w_high = w is
    /// plain guidance; the two halves (w, 1) and (1, w) add up to it; the low half is smoother than
    /// the whole update (less neighbour-difference energy per unit of energy), which fails if the
    /// split does not blur; a constant field is its own low part; bad settings throw.
    func testFrequencyDecoupledGuidance() throws {
        let model = try VideoDiT(weights: try ModelWeights(try randomParameters(tinyConfig, seed: 5), config: tinyConfig))
        let c = tinyConfig
        func firstX0(_ w: Float, high: Float?) throws -> [Float] {
            let sampler = try FlowSampler(model: model, context: try ComputeContext(threads: 1), prompt: [1, 5, 2], empty: [1, 2],
                                          options: .init(steps: 3, guidance: w, shift: 3, seed: 7, highFrequencyGuidance: high))
            var it = sampler.makeIterator()
            return it.next()!.predicted.toArray()
        }
        let prompted = try firstX0(1, high: nil), plain = try firstX0(4, high: nil)
        for (a, b) in zip(try firstX0(4, high: 4), plain) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(abs(b), 1)) }
        let lowOnly = try firstX0(4, high: 1), highOnly = try firstX0(1, high: 4)
        let dLow = zip(lowOnly, prompted).map { $0 - $1 }, dHigh = zip(highOnly, prompted).map { $0 - $1 }
        let dAll = zip(plain, prompted).map { $0 - $1 }
        for i in dAll.indices { XCTAssertEqual(dLow[i] + dHigh[i], dAll[i], accuracy: 1e-4 * max(abs(dAll[i]), 1)) }
        func roughness(_ v: [Float]) -> Float {          // Σ (horizontal neighbour differences)² / Σ v²
            var num: Float = 0, den: Float = 0
            for i in v.indices { den += v[i] * v[i]; if (i / 3) % c.width != c.width - 1 { let d = v[i + 3] - v[i]; num += d * d } }
            return num / max(den, 1e-12)
        }
        XCTAssertLessThan(roughness(dLow), 0.5 * roughness(dAll))
        var flat = [Float](repeating: 0.3, count: c.frames * c.height * c.width * 3), temp = flat
        flat.withUnsafeMutableBufferPointer { f in temp.withUnsafeMutableBufferPointer { t in
            FrameBlur.gaussian(f, temp: t, frames: c.frames, height: c.height, width: c.width, sigma: 1.5)
        } }
        for v in flat { XCTAssertEqual(v, 0.3, accuracy: 1e-6) }
        for bad: FlowSampler.Options in [.init(steps: 2, highFrequencyGuidance: .nan), .init(steps: 2, highFrequencyGuidance: 2, frequencySplitSigma: 0),
                                         .init(steps: 2, parallelGuidance: 0.5, highFrequencyGuidance: 2)] {
            XCTAssertThrowsError(try FlowSampler(model: model, context: try ComputeContext(), prompt: [1], empty: [1], options: bad))
        }
    }

    /// Autoguidance: the guidance pass is the guide model's prompted prediction. With the model as its
    /// own guide every step is the prompted model's (x0_g + w (x0 - x0_g) = x0); with a different
    /// guide the first x0 is x0_g + w (x0 - x0_g) of the two unguided samplers' first predictions.
    /// A guide of another clip shape is refused.
    func testAutoguidance() throws {
        let model = try VideoDiT(weights: try ModelWeights(try randomParameters(tinyConfig, seed: 5), config: tinyConfig))
        let weak = try VideoDiT(weights: try ModelWeights(try randomParameters(tinyConfig, seed: 6), config: tinyConfig))
        func run(_ m: VideoDiT, guidance: Float, guide: VideoDiT?) throws -> (clips: [[Float]], x0: [[Float]]) {
            let sampler = try FlowSampler(model: m, context: try ComputeContext(threads: 1), prompt: [1, 5, 2], empty: [1, 2],
                                          options: .init(steps: 3, guidance: guidance, shift: 3, seed: 7), guide: guide)
            var clips: [[Float]] = [], x0: [[Float]] = []
            for step in sampler { clips.append(step.clip.toArray()); x0.append(step.predicted.toArray()) }
            return (clips, x0)
        }
        let plain = try run(model, guidance: 1, guide: nil), cfg = try run(model, guidance: 3, guide: nil)
        let selfGuided = try run(model, guidance: 3, guide: model)
        for (a, b) in zip(selfGuided.clips.joined(), plain.clips.joined()) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(abs(b), 1)) }
        let auto = try run(model, guidance: 3, guide: weak), weakPlain = try run(weak, guidance: 1, guide: nil)
        XCTAssertNotEqual(auto.x0[0], cfg.x0[0])
        for (i, v) in auto.x0[0].enumerated() {
            let g = weakPlain.x0[0][i], c = plain.x0[0][i]
            XCTAssertEqual(v, g + 3 * (c - g), accuracy: 1e-4 * max(abs(v), 1))
        }
        var other = tinyConfig
        other.frames *= 2
        let bigger = try VideoDiT(weights: try ModelWeights(try randomParameters(other, seed: 6), config: other))
        XCTAssertThrowsError(try FlowSampler(model: model, context: try ComputeContext(), prompt: [1], empty: [1],
                                             options: .init(steps: 2, guidance: 3), guide: bigger))
    }

    /// With the exact x0 of a one-point data set, an SDE step from x_s = (1 - s) c + s e lands on the
    /// flow's marginal at s': mean (1 - s') c, standard deviation s' (to O(dt²)). A sign or factor
    /// error in the drift or the noise term shows up at O(dt).
    func testSDEStepKeepsTheMarginals() {
        let n = 200_000, c: Float = 0.6
        var rng = SeededRandom(seed: 3)
        for (s, sNext, a) in [(Float(0.8), Float(0.78), Float(0.7)), (0.5, 0.49, 0.7), (0.3, 0.295, 1.0)] {
            var x = [Float](repeating: 0, count: n), e = x
            x.withUnsafeMutableBufferPointer { rng.fillGaussian($0) }
            e.withUnsafeMutableBufferPointer { rng.fillGaussian($0) }
            for i in 0..<n { x[i] = (1 - s) * c + s * x[i] }
            let x0 = [Float](repeating: c, count: n)
            x.withUnsafeMutableBufferPointer { xb in
                x0.withUnsafeBufferPointer { pb in e.withUnsafeBufferPointer { eb in
                    FlowSampler.sdeStep(x: xb, predicted: pb, noise: eb, level: s, next: sNext, stochasticity: a, minNoiseLevel: 0.05)
                } }
            }
            let mean = x.reduce(0.0) { $0 + Double($1) } / Double(n)
            let std = (x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n)).squareRoot()
            XCTAssertEqual(mean, Double((1 - sNext) * c), accuracy: 0.004, "s \(s)")
            XCTAssertEqual(std, Double(sNext), accuracy: 0.004, "s \(s)")
        }
    }
}
