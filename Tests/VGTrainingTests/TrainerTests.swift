import XCTest
@testable import VGCore
@testable import VGModel
@testable import VGTraining
import VGFormat
import Foundation

final class TrainerTests: XCTestCase {
    let config = ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 2,
                             heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 40, maxTextTokens: 6, textWidth: 12,
                             textDepth: 1, textHeads: 2)

    func testLearningRateSchedule() {
        var o = OptimizerConfig()
        o.learningRate = 1e-3; o.warmupSteps = 10; o.totalSteps = 110; o.minLearningRateRatio = 0.1
        XCTAssertEqual(o.learningRate(at: 0), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(o.learningRate(at: 9), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(o.learningRate(at: 60), 0.55e-3, accuracy: 1e-6)    // half way down the cosine
        XCTAssertEqual(o.learningRate(at: 500), 1e-4, accuracy: 1e-9)
    }

    func testInitializationIsAdaLNZero() throws {
        for scheme in WeightInitialization.allCases { try checkInitialization(scheme) }
    }

    func checkInitialization(_ scheme: WeightInitialization) throws {
        let p = try ParameterSet(config: config)
        try FlowMatchingTrainer.initialize(p, seed: 1, scheme: scheme)
        XCTAssertTrue(try p.tensor("adaln.weight").toArray().allSatisfy { $0 == 0 })
        XCTAssertTrue(try p.tensor("final.linear.weight").toArray().allSatisfy { $0 == 0 })
        XCTAssertTrue(try p.tensor("text.norm.weight").toArray().allSatisfy { $0 == 1 })
        XCTAssertFalse(try p.tensor("blocks.0.attn.qkv.weight").toArray().allSatisfy { $0 == 0 })
        // The position table starts as the sin-cos table, rows of norm σ_patch √(P D): the norm of the
        // initial patch embedding of unit noise.
        let pos = try p.tensor("pos_embedding").toArray(), d = config.modelWidth, pv = config.patchValues
        let sigma: Float = scheme == .gpt2 ? 0.02 : (2 / Float(pv + d)).squareRoot()
        XCTAssertEqual(pos, PositionTable.sinCos3D(grid: config.grid, width: d, norm: sigma * Float(pv * d).squareRoot()))
        XCTAssertEqual(pos[0..<d].reduce(0) { $0 + $1 * $1 }.squareRoot(), sigma * Float(pv * d).squareRoot(), accuracy: 1e-4)
        // Matrices: std 0.02 (gpt2) or xavier-uniform, |w| <= √(6 / (in + out)) with std √(2 / (in + out)).
        let qkv = try p.tensor("blocks.0.attn.qkv.weight"), w = qkv.toArray()
        let std = (w.reduce(0) { $0 + $1 * $1 } / Float(w.count)).squareRoot()
        let want: Float = scheme == .gpt2 ? 0.02 : (2 / Float(qkv.shape[0] + qkv.shape[1])).squareRoot()
        XCTAssertEqual(std, want, accuracy: want * 0.1, "\(scheme)")
        if scheme == .xavier {
            XCTAssertLessThanOrEqual(w.map(abs).max() ?? 0, (6 / Float(qkv.shape[0] + qkv.shape[1])).squareRoot())
        }
        // A zero-initialised model predicts 0 (the final linear is zero).
        let model = try VideoDiT(weights: try ModelWeights(p, config: config))
        let ctx = try ComputeContext(), acts = try ModelActivations(config: config, saveForBackward: false)
        try model.encodeText(ctx, tokens: [1, 2], acts: acts)
        XCTAssertTrue(try model.predict(ctx, noisy: try Tensor(zeros: [4, 8, 8, 3]), level: 0.5, acts: acts).toArray().allSatisfy { $0 == 0 })
    }

    /// Overfitting two captioned clips: the loss must fall by a large factor in a few hundred steps.
    /// A fresh tiny model's trainer for 300 overfitting steps, and two captioned clips: a bright left
    /// half and a dark right half (tokens 1 10 2), and the reverse (1 11 2).
    func twoClipSetup() throws -> (FlowMatchingTrainer, [TrainingSample]) {
        let p = try ParameterSet(config: config)
        try FlowMatchingTrainer.initialize(p, seed: 2)
        var o = OptimizerConfig()
        o.learningRate = 3e-3; o.warmupSteps = 10; o.totalSteps = 300; o.weightDecay = 0
        let trainer = try FlowMatchingTrainer(config: config, params: p, optimizer: o, context: try ComputeContext(threads: 2), seed: 3)
        func clip(_ flip: Bool) throws -> Tensor {
            let t = try Tensor(zeros: [4, 8, 8, 3]), v = t.floats
            for f in 0..<4 { for y in 0..<8 { for x in 0..<8 { for ch in 0..<3 {
                v[((f * 8 + y) * 8 + x) * 3 + ch] = ((x < 4) != flip) ? 0.8 : -0.8
            } } } }
            return t
        }
        return (trainer, [TrainingSample(clip: try clip(false), tokens: [1, 10, 2]), TrainingSample(clip: try clip(true), tokens: [1, 11, 2])])
    }

    func testLossFallsWhenOverfittingTwoClips() throws {
        let (trainer, batch) = try twoClipSetup()
        // Fixed noise levels make the loss comparable across steps.
        func evalLoss() throws -> Float {
            var l: Float = 0
            let saved = trainer.rng
            for s in batch { for level: Float in [0.3, 0.6, 0.9] { l += try trainer.accumulate(s, weight: 0, level: level) } }
            trainer.rng = saved
            return l / 6
        }
        let before = try evalLoss()
        var last: FlowMatchingTrainer.StepStats?
        for _ in 0..<300 { last = try trainer.step(batch) }
        let after = try evalLoss()
        print(String(format: "  overfit: loss %.4f -> %.4f (last step loss %.4f, grad norm %.3f)", before, after, last!.loss, last!.gradNorm))
        XCTAssertLessThan(after, before / 5)
        XCTAssertEqual(trainer.optimizer.step, 300)
    }

    /// At pure noise the prompt is all there is: two captions that differ in one token and put the
    /// bright half of the clip on different sides must give predictions with the bright half where
    /// each caption puts it (a word that decides *where*, not what colour).
    func testPromptAlonePlacesTheObjectAtPureNoise() throws {
        let (trainer, batch) = try twoClipSetup()
        trainer.noiseLevels = NoiseLevelDistribution(pureShare: 1)
        for _ in 0..<300 { _ = try trainer.step(batch) }
        let model = try VideoDiT(weights: try ModelWeights(trainer.params, config: config))
        let acts = try ModelActivations(config: config, saveForBackward: false), ctx = try ComputeContext(threads: 1)
        let noise = try Tensor(zeros: [4, 8, 8, 3]), out = try Tensor(zeros: [4, 8, 8, 3])
        var r = SeededRandom(seed: 9); r.fillGaussian(noise.floats)
        for (tokens, leftBright) in [([Int32(1), 10, 2], true), ([1, 11, 2], false)] {
            try model.encodeText(ctx, tokens: tokens, acts: acts)
            try model.unpatchify(try model.predict(ctx, noisy: noise, level: 1, acts: acts), into: out)
            var left: Float = 0, right: Float = 0
            for i in 0..<out.count { if (i / 3) % 8 < 4 { left += out.floats[i] } else { right += out.floats[i] } }
            left /= Float(out.count / 2); right /= Float(out.count / 2)
            print(String(format: "  pure noise, caption %d: mean left half %.3f, right half %.3f", tokens[1], left, right))
            XCTAssertGreaterThan(leftBright ? left - right : right - left, 1, "the caption must put the bright half on its side")
        }
    }
}

final class ObjectWeightTests: XCTestCase {
    let config = ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 2,
                             heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 40, maxTextTokens: 6, textWidth: 12,
                             textDepth: 1, textHeads: 2)

    func makeTrainer() throws -> FlowMatchingTrainer {
        let p = try ParameterSet(config: config)
        var r = SeededRandom(seed: 41)
        for n in p.names { r.fillGaussian(try p.tensor(n).floats, scale: 0.2) }
        return try FlowMatchingTrainer(config: config, params: p, optimizer: OptimizerConfig(), context: try ComputeContext(threads: 1), seed: 5)
    }

    /// Loss of `sample` at a fixed level with the trainer's current noise (the RNG is put back).
    func loss(_ t: FlowMatchingTrainer, _ sample: TrainingSample, weight: Float = 0) throws -> Float {
        let saved = t.rng
        defer { t.rng = saved }
        return try t.accumulate(sample, weight: weight, level: 0.7)
    }

    /// λ = 0, no coverage, or a uniform coverage (every weight 1 + λ) all give the plain mean; a coverage
    /// on one corner changes the loss to the weighted mean computed here by hand.
    func testWeightedLossIsTheWeightedMean() throws {
        let t = try makeTrainer()
        var r = SeededRandom(seed: 42)
        let clip = try Tensor(zeros: [4, 8, 8, 3]); r.fillGaussian(clip.floats, scale: 0.5)
        let corner = try Tensor(zeros: [4, 8, 8]), full = try Tensor(zeros: [4, 8, 8])
        full.fill(1)
        for f in 0..<4 { for y in 0..<3 { for x in 0..<3 { corner.floats[(f * 8 + y) * 8 + x] = 1 } } }
        let plain = try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2]))
        t.objectWeight = 0
        XCTAssertEqual(try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2], objectCoverage: corner)), plain)
        t.objectWeight = 4
        XCTAssertEqual(try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2])), plain)
        XCTAssertEqual(try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2], objectCoverage: full)), plain, accuracy: 1e-5 * plain)
        let weighted = try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2], objectCoverage: corner))

        // By hand: the same noise, the model's x0 prediction, weights 1 + 4 on the corner pixels.
        let predicted = try predictionByHand(t, clip: clip, tokens: [1, 7, 2])
        var num = 0.0, den = 0.0
        for p in 0..<(4 * 8 * 8) {
            let w = 1 + 4 * Double(corner.floats[p])
            for ch in 0..<3 { let d = Double(predicted.floats[3 * p + ch] - clip.floats[3 * p + ch]); num += w * d * d; den += w }
        }
        let byHand = num / (den * 0.49)
        print(String(format: "  object-weighted loss %.6f (by hand %.6f), plain %.6f", weighted, byHand, plain))
        XCTAssertEqual(Double(weighted), byHand, accuracy: 1e-4 * byHand)
        XCTAssertNotEqual(weighted, plain)

        // A high-noise weight applies from its level up: at s = 0.7 it is λ when it starts at 0.5, and
        // the base λ (0 here: the plain mean) when it starts at 0.8.
        t.objectWeight = 0
        t.highNoiseObjectWeight = (4, 0.5)
        XCTAssertEqual(t.objectWeight(at: 0.7), 4); XCTAssertEqual(t.objectWeight(at: 0.2), 0)
        XCTAssertEqual(try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2], objectCoverage: corner)), weighted)
        t.highNoiseObjectWeight = (4, 0.8)
        XCTAssertEqual(try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2], objectCoverage: corner)), plain)
        t.highNoiseObjectWeight = nil

        t.objectWeight = .nan
        XCTAssertThrowsError(try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2], objectCoverage: corner)))
        t.objectWeight = 4
        XCTAssertThrowsError(try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2], objectCoverage: try Tensor(zeros: [4, 8, 7]))))
    }

    /// An altered input replaces the clip under the noise from its level up (s = 0.7 here) while the
    /// target stays the clip; below that level, or when off, the loss is the plain loss bit for bit.
    func testAlteredInputIsNoisedInPlaceOfTheClipFromItsLevel() throws {
        let t = try makeTrainer()
        var r = SeededRandom(seed: 43)
        let clip = try Tensor(zeros: [4, 8, 8, 3]), other = try Tensor(zeros: [4, 8, 8, 3])
        r.fillGaussian(clip.floats, scale: 0.5); r.fillGaussian(other.floats, scale: 0.5)
        let plain = try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2]))
        let altered = TrainingSample(clip: clip, tokens: [1, 7, 2], alteredInput: other)
        XCTAssertEqual(try loss(t, altered), plain)                  // off (nil)
        t.alteredInputFrom = 0.8
        XCTAssertEqual(try loss(t, altered), plain)                  // 0.7 is below its level
        t.alteredInputFrom = 0.5
        let swapped = try loss(t, altered)
        let predicted = try predictionByHand(t, clip: other, tokens: [1, 7, 2])   // x_s from `other`
        var sum = 0.0
        for i in 0..<clip.count { let d = Double(predicted.floats[i] - clip.floats[i]); sum += d * d }   // target: `clip`
        let byHand = sum / (Double(clip.count) * 0.49)
        print(String(format: "  altered-input loss %.6f (by hand %.6f), plain %.6f", swapped, byHand, plain))
        XCTAssertEqual(Double(swapped), byHand, accuracy: 1e-4 * byHand)
        XCTAssertNotEqual(swapped, plain)
        XCTAssertEqual(try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2])), plain)   // no altered input: plain
        XCTAssertThrowsError(try loss(t, TrainingSample(clip: clip, tokens: [1, 7, 2], alteredInput: try Tensor(zeros: [4, 8, 8, 2]))))
    }

    /// A rolled-out input is the model's own Euler path from the clip noised to the start level down to
    /// the sample's level (the target stays the clip), computed here by hand; outside its levels, or at
    /// share 0, the loss is the plain loss bit for bit.
    func testRolloutInputIsTheModelsOwnPathFromTheStartLevel() throws {
        let t = try makeTrainer()
        var r = SeededRandom(seed: 44)
        let clip = try Tensor(zeros: [4, 8, 8, 3]); r.fillGaussian(clip.floats, scale: 0.5)
        let sample = TrainingSample(clip: clip, tokens: [1, 7, 2])
        let plain = try loss(t, sample)
        t.rollout = RolloutInputs(share: 1, start: 0.95, lowest: 0.75, highest: 0.9, steps: 2)
        XCTAssertEqual(try loss(t, sample), plain)                   // 0.7 is outside its levels
        t.rollout = RolloutInputs(share: 0, start: 0.95, lowest: 0.5, highest: 0.9, steps: 2)
        XCTAssertEqual(try loss(t, sample), plain)                   // share 0
        t.rollout = RolloutInputs(share: 1, start: 0.95, lowest: 0.5, highest: 0.9, steps: 2)
        let rolled = try loss(t, sample)

        // By hand: x_0.95 from the same noise, Euler to 0.825 and to 0.7 with the model's x0, then the loss.
        var rr = t.rng
        let noise = try Tensor(zeros: [4, 8, 8, 3]); rr.fillGaussian(noise.floats)
        let x = try Tensor(zeros: [4, 8, 8, 3]), est = try Tensor(zeros: [4, 8, 8, 3])
        for i in 0..<x.count { x.floats[i] = 0.05 * clip.floats[i] + 0.95 * noise.floats[i] }
        let model = try VideoDiT(weights: try ModelWeights(t.params, config: config))
        let acts = try ModelActivations(config: config, saveForBackward: false), ctx = try ComputeContext(threads: 1)
        try model.encodeText(ctx, tokens: [1, 7, 2], acts: acts)
        for (s, next) in [(Float(0.95), Float(0.825)), (0.825, 0.7)] {
            try model.unpatchify(try model.predict(ctx, noisy: x, level: s, acts: acts), into: est)
            for i in 0..<x.count { x.floats[i] += (next - s) * (x.floats[i] - est.floats[i]) / s }
        }
        try model.unpatchify(try model.predict(ctx, noisy: x, level: 0.7, acts: acts), into: est)
        var sum = 0.0
        for i in 0..<clip.count { let d = Double(est.floats[i] - clip.floats[i]); sum += d * d }
        let byHand = sum / (Double(clip.count) * 0.49)
        print(String(format: "  rollout-input loss %.6f (by hand %.6f), plain %.6f", rolled, byHand, plain))
        XCTAssertEqual(Double(rolled), byHand, accuracy: 1e-4 * byHand)
        XCTAssertNotEqual(rolled, plain)
        t.rollout = nil
        XCTAssertEqual(try loss(t, sample), plain)

        for bad in [RolloutInputs(share: 1.5), RolloutInputs(share: 1, start: 0.8, lowest: 0.5, highest: 0.9),
                    RolloutInputs(share: 1, lowest: 0), RolloutInputs(share: 1, steps: 0), RolloutInputs(share: .nan)] {
            XCTAssertThrowsError(try bad.validate())
        }
        XCTAssertNoThrow(try RolloutInputs(share: 0.7).validate())
    }

    /// The weighted loss's gradient matches central differences of the loss.
    func testWeightedLossGradient() throws {
        let t = try makeTrainer()
        t.objectWeight = 6
        let (sample, _, _) = try coveredSample(seed: 43) { r in Float(r.uniform()) < 0.2 ? Float(r.uniform()) : 0 }
        let worst = try checkGradient(t, sample, ["final.linear.weight", "blocks.1.mlp.fc2.weight", "text.blocks.0.attn.qkv.weight"])
        print(String(format: "  object-weighted loss gradient: worst |error| / allowed = %.2f", worst))
    }

    /// A random clip [4, 8, 8, 3] (std 0.5) and a coverage map [4, 8, 8] whose values `coverage` draws,
    /// as a sample with tokens [1, 9, 3, 2].
    func coveredSample(seed: UInt64, coverage draw: (inout SeededRandom) -> Float) throws -> (TrainingSample, Tensor, Tensor) {
        var r = SeededRandom(seed: seed)
        let clip = try Tensor(zeros: [4, 8, 8, 3]); r.fillGaussian(clip.floats, scale: 0.5)
        let coverage = try Tensor(zeros: [4, 8, 8])
        for i in 0..<coverage.count { coverage.floats[i] = draw(&r) }
        return (TrainingSample(clip: clip, tokens: [1, 9, 3, 2], objectCoverage: coverage), clip, coverage)
    }

    /// The model's x0 prediction `[4, 8, 8, 3]` at s = 0.7 from `clip` mixed with the noise the trainer
    /// draws next (its stream is not advanced), computed outside the trainer.
    func predictionByHand(_ t: FlowMatchingTrainer, clip: Tensor, tokens: [Int32]) throws -> Tensor {
        var rr = t.rng
        let noise = try Tensor(zeros: [4, 8, 8, 3]); rr.fillGaussian(noise.floats)
        let xs = try Tensor(zeros: [4, 8, 8, 3])
        for i in 0..<xs.count { xs.floats[i] = 0.3 * clip.floats[i] + 0.7 * noise.floats[i] }
        let model = try VideoDiT(weights: try ModelWeights(t.params, config: config))
        let acts = try ModelActivations(config: config, saveForBackward: false), ctx = try ComputeContext(threads: 1)
        try model.encodeText(ctx, tokens: tokens, acts: acts)
        let predicted = try Tensor(zeros: [4, 8, 8, 3])
        try model.unpatchify(try model.predict(ctx, noisy: xs, level: 0.7, acts: acts), into: predicted)
        return predicted
    }

    /// Σ over frames, channels and horizontal / vertical neighbour pairs of (v(q) - v(p))², in doubles.
    func neighbourDifferenceSum(frames: Int, height: Int, width: Int, _ v: (Int, Int, Int, Int) -> Double) -> Double {
        var sum = 0.0
        for f in 0..<frames { for y in 0..<height { for x in 0..<width { for ch in 0..<3 {
            if x + 1 < width { sum += pow(v(f, y, x + 1, ch) - v(f, y, x, ch), 2) }
            if y + 1 < height { sum += pow(v(f, y + 1, x, ch) - v(f, y, x, ch), 2) }
        } } } }
        return sum
    }

    /// Compares the parameters' gradient of `sample`'s loss with central differences at six entries of
    /// each named tensor; returns the worst |error| / allowed.
    func checkGradient(_ t: FlowMatchingTrainer, _ sample: TrainingSample, _ names: [String]) throws -> Double {
        try checkTrainerGradient(t, names, entries: 6) { weight in try loss(t, sample, weight: weight) }
    }

    /// The outline term is the squared error of every horizontal and vertical neighbour difference,
    /// computed here by hand on a small error field, and its gradient matches central differences.
    func testEdgeLossSumsNeighbourDifferencesAndItsGradient() throws {
        let (f, h, w) = (2, 3, 4), n = f * h * w * 3
        var r = SeededRandom(seed: 44)
        let e = UnsafeMutableBufferPointer<Float>.allocate(capacity: n), g = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { e.deallocate(); g.deallocate() }
        r.fillGaussian(e)
        let edge = EdgeLoss(frames: f, height: h, width: w)
        let byHand = neighbourDifferenceSum(frames: f, height: h, width: w) { t, y, x, ch in Double(e[((t * h + y) * w + x) * 3 + ch]) }
        let sum = try edge.apply(error: e, scale: 0.5, gradient: g)
        XCTAssertEqual(sum, byHand, accuracy: 1e-6 * byHand)
        // A constant error has no outline: the term is zero.
        let c = UnsafeMutableBufferPointer<Float>.allocate(capacity: n); defer { c.deallocate() }
        c.initialize(repeating: 0.3)
        XCTAssertEqual(try edge.apply(error: c, scale: 1, gradient: g), 0)
        _ = try edge.apply(error: e, scale: 0.5, gradient: g)
        for i in stride(from: 1, to: n, by: 5) {
            let old = e[i], eps: Float = 1e-2
            e[i] = old + eps; let lp = try edge.apply(error: e, scale: 1, gradient: c)
            e[i] = old - eps; let lm = try edge.apply(error: e, scale: 1, gradient: c)
            e[i] = old
            let numeric = 0.5 * (lp - lm) / (2 * Double(eps))
            XCTAssertEqual(Double(g[i]), numeric, accuracy: 1e-3 * max(1, abs(numeric)), "value \(i)")
        }
        XCTAssertThrowsError(try edge.apply(error: UnsafeMutableBufferPointer(rebasing: e[0..<(n - 3)]), scale: 1, gradient: g))
    }

    /// With the outline term the trainer's loss is the object-weighted loss plus μ Σ (Δe)² / (Σ w s²),
    /// checked against the model's own prediction by hand; μ = 0 is the old loss bit for bit; and the
    /// parameters' gradient matches central differences of the loss.
    func testOutlineTermLossAndGradient() throws {
        let t = try makeTrainer()
        t.objectWeight = 3
        let (sample, clip, coverage) = try coveredSample(seed: 45) { r in Float(r.uniform()) < 0.3 ? 1 : 0 }
        let plain = try loss(t, sample)
        t.edgeWeight = 0
        XCTAssertEqual(try loss(t, sample), plain)
        t.edgeWeight = 2
        let withEdges = try loss(t, sample)

        let predicted = try predictionByHand(t, clip: clip, tokens: [1, 9, 3, 2])
        var den = 0.0
        for p in 0..<(4 * 8 * 8) { den += 3 * (1 + 3 * Double(coverage.floats[p])) }
        let outline = neighbourDifferenceSum(frames: 4, height: 8, width: 8) { f, y, x, ch in
            let i = ((f * 8 + y) * 8 + x) * 3 + ch
            return Double(predicted.floats[i] - clip.floats[i])
        }
        let byHand = Double(plain) + 2 * outline / (den * 0.49)
        print(String(format: "  loss with the outline term %.6f (by hand %.6f), without %.6f", withEdges, byHand, plain))
        XCTAssertEqual(Double(withEdges), byHand, accuracy: 1e-4 * byHand)
        XCTAssertGreaterThan(withEdges, plain)

        let worst = try checkGradient(t, sample, ["final.linear.weight", "blocks.1.mlp.fc2.weight", "blocks.0.attn.qkv.weight"])
        print(String(format: "  outline-term gradient: worst |error| / allowed = %.2f", worst))
        for bad: Float in [.infinity, .nan, -1] {
            t.edgeWeight = bad
            XCTAssertThrowsError(try loss(t, sample))
        }
    }

    /// At s = 1 a sample with caption draws trains on the weighted mean of its clip and the draws: its
    /// gradient is the average of the K + 1 single-clip gradients (each weighted by its share of the
    /// total loss weight; equal shares without object weights). Below s = 1 the draws are not used.
    func testPureNoiseTargetIsTheMeanOfTheDraws() throws {
        let t = try makeTrainer()
        var r = SeededRandom(seed: 44)
        let clips = try (0..<3).map { _ in try Tensor(zeros: [4, 8, 8, 3]) }, covers = try (0..<3).map { _ in try Tensor(zeros: [4, 8, 8]) }
        for k in 0..<3 {
            r.fillGaussian(clips[k].floats, scale: 0.5)
            for i in 0..<covers[k].count { covers[k].floats[i] = Float(r.uniform()) < 0.3 ? Float(r.uniform()) : 0 }
        }
        let others = CaptionDraws(count: 2) { k, clip, coverage in
            try clip.copy(from: clips[k + 1]); try coverage.copy(from: covers[k + 1])
        }
        let tokens: [Int32] = [1, 7, 2]
        func gradient(_ sample: TrainingSample, level: Float) throws -> (loss: Float, grads: [String: [Float]]) {
            let saved = t.rng
            defer { t.rng = saved }
            t.grads.zero()
            let l = try t.accumulate(sample, weight: 1, level: level)
            return (l, try Dictionary(uniqueKeysWithValues: t.grads.names.map { ($0, try t.grads.tensor($0).toArray()) }))
        }
        for lambda: Float in [0, 4] {
            t.objectWeight = lambda
            let pooled = try gradient(TrainingSample(clip: clips[0], tokens: tokens, objectCoverage: covers[0], captionDraws: others), level: 1)
            let single = try (0..<3).map { try gradient(TrainingSample(clip: clips[$0], tokens: tokens, objectCoverage: covers[$0]), level: 1) }
            // Each clip's total loss weight Σ w (3 channels per pixel).
            let totals = covers.map { c in c.floats.reduce(Float(0)) { $0 + 3 * (1 + lambda * $1) } }
            let share = totals.map { $0 / totals.reduce(0, +) }
            var worst: Float = 0
            for name in ["final.linear.weight", "blocks.1.mlp.fc2.weight", "text.blocks.0.attn.qkv.weight", "patch_embed.weight"] {
                guard let g = pooled.grads[name] else { continue }
                let scale = g.reduce(Float(0)) { max($0, abs($1)) }
                for i in 0..<g.count {
                    let expected = (0..<3).reduce(Float(0)) { $0 + share[$1] * single[$1].grads[name]![i] }
                    worst = max(worst, abs(g[i] - expected) / scale)
                }
            }
            print(String(format: "  pure-noise draws, λ = %.0f: worst |gradient - mean of the 3 single-clip gradients| / max = %.2e", lambda, worst))
            XCTAssertLessThan(worst, 1e-4)
            // The mean removes the spread of the clips around it: a lower loss than any single clip's average.
            XCTAssertLessThan(pooled.loss, (0..<3).reduce(Float(0)) { $0 + share[$1] * single[$1].loss })
            // Below s = 1 the sample's own clip is the target.
            let below = try gradient(TrainingSample(clip: clips[0], tokens: tokens, objectCoverage: covers[0], captionDraws: others), level: 0.99)
            let plain = try gradient(TrainingSample(clip: clips[0], tokens: tokens, objectCoverage: covers[0]), level: 0.99)
            XCTAssertEqual(below.loss, plain.loss)
        }
        // Draws that throw fail the step with the draw's error.
        struct DrawFailed: Error {}
        let failing = CaptionDraws(count: 1) { _, _, _ in throw DrawFailed() }
        XCTAssertThrowsError(try gradient(TrainingSample(clip: clips[0], tokens: tokens, captionDraws: failing), level: 1)) {
            XCTAssertTrue($0 is DrawFailed)
        }
    }
}

final class ParityTests: XCTestCase {
    /// The trainer's forward (activations saved per block, the path the backward reads) and the
    /// runtime's forward (one shared set of buffers) are one definition; they must agree exactly.
    func testTrainingForwardEqualsRuntimeForward() throws {
        for gate in [false, true] { try checkParity(crossAttentionGate: gate) }
        try checkParity(crossAttentionGate: true, refinerChannels: 4)
        try checkParity(crossAttentionGate: true, refinerChannels: 4, refinerFeatures: 3)
    }

    func checkParity(crossAttentionGate: Bool, refinerChannels: Int = 0, refinerFeatures: Int = 0) throws {
        let c = ModelConfig(frames: 4, height: 16, width: 16, patchT: 2, patchH: 4, patchW: 4, modelWidth: 32, depth: 3,
                            heads: 4, mlpRatio: 2, timeFrequencies: 16, vocabSize: 50, maxTextTokens: 8, textWidth: 24,
                            textDepth: 2, textHeads: 2, crossAttentionGate: crossAttentionGate, refinerChannels: refinerChannels,
                            refinerFeatures: refinerFeatures)
        let p = try ParameterSet(config: c)
        var rng = SeededRandom(seed: 30)
        for n in p.names { rng.fillGaussian(try p.tensor(n).floats, scale: 0.2) }
        let model = try VideoDiT(weights: try ModelWeights(p, config: c))
        let clip = try Tensor(zeros: [4, 16, 16, 3]); rng.fillGaussian(clip.floats)
        var outs: [[Float]] = []
        for (save, threads) in [(true, 2), (false, 1)] {
            let acts = try ModelActivations(config: c, saveForBackward: save)
            let ctx = try ComputeContext(threads: threads)
            try model.encodeText(ctx, tokens: [1, 4, 9, 16, 2], acts: acts)
            outs.append(try model.predict(ctx, noisy: clip, level: 0.4, acts: acts).toArray())
        }
        let maxDiff = zip(outs[0], outs[1]).map { abs($0 - $1) }.max() ?? 0
        print("  training forward vs runtime forward (cross-attention gate: \(crossAttentionGate), refiner channels: \(refinerChannels), features: \(refinerFeatures)): max |diff| = \(maxDiff)")
        XCTAssertEqual(maxDiff, 0)
    }
}

final class LaneTests: XCTestCase {
    /// Data-parallel lanes see the same levels and noise as the sequential path (same RNG state after
    /// a step) and give the same update up to the order of summation; two lane runs are bit-identical.
    func testLanesMatchSequentialSteps() throws {
        let c = ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 2,
                            heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 40, maxTextTokens: 6, textWidth: 12,
                            textDepth: 1, textHeads: 2)
        var rng = SeededRandom(seed: 8)
        let batch: [TrainingSample] = try (0..<5).map { i in
            let t = try Tensor(zeros: [4, 8, 8, 3]); rng.fillGaussian(t.floats, scale: 0.5)
            return TrainingSample(clip: t, tokens: [1, Int32(5 + i), Int32(9 + i % 3), 2])
        }
        func run(lanes: Int, rollout: RolloutInputs? = nil) throws -> FlowMatchingTrainer {
            let p = try ParameterSet(config: c)
            try FlowMatchingTrainer.initialize(p, seed: 1)
            // Non-zero adaLN and final layer, so every parameter gets a gradient.
            var r = SeededRandom(seed: 4)
            for n in p.names where n.contains("adaln") || n.hasPrefix("final") { r.fillGaussian(try p.tensor(n).floats, scale: 0.05) }
            var o = OptimizerConfig(); o.warmupSteps = 1; o.totalSteps = 10; o.learningRate = 1e-3
            let t = try FlowMatchingTrainer(config: c, params: p, optimizer: o, context: try ComputeContext(threads: 1), seed: 2)
            t.noiseLevels = NoiseLevelDistribution(shift: 3, tailShare: 0.2, pureShare: 0.2)
            t.rollout = rollout
            try t.useLanes(lanes)
            XCTAssertEqual(t.laneCount, lanes)
            for _ in 0..<2 { _ = try t.step(batch) }
            return t
        }
        let one = try run(lanes: 1), two = try run(lanes: 2), twoAgain = try run(lanes: 2), three = try run(lanes: 3)
        var a = one.rng, b = two.rng
        XCTAssertEqual(a.uniform(), b.uniform(), "the lanes drew the same levels and noise")
        var worst: Float = 0
        for n in one.params.names {
            let x = try one.params.tensor(n).toArray(), y = try two.params.tensor(n).toArray(), z = try three.params.tensor(n).toArray()
            XCTAssertEqual(y, try twoAgain.params.tensor(n).toArray(), "\(n): lanes are deterministic")
            for j in x.indices { worst = max(worst, abs(x[j] - y[j]), abs(x[j] - z[j])) }
        }
        print("lanes 1 vs 2 vs 3: max |param diff| after 2 steps \(worst)")
        XCTAssertLessThan(worst, 1e-4)
        // With rollout inputs on half the mid-level samples: the lanes draw and roll out the same.
        let rollout = RolloutInputs(share: 0.5, start: 0.97, lowest: 0.1, highest: 0.95, steps: 2)
        let oneR = try run(lanes: 1, rollout: rollout), twoR = try run(lanes: 2, rollout: rollout)
        var worstR: Float = 0, moved: Float = 0
        for n in oneR.params.names {
            let x = try oneR.params.tensor(n).toArray(), y = try twoR.params.tensor(n).toArray(), z = try one.params.tensor(n).toArray()
            for j in x.indices { worstR = max(worstR, abs(x[j] - y[j])); moved = max(moved, abs(x[j] - z[j])) }
        }
        print("with rollouts, lanes 1 vs 2: max |param diff| \(worstR); against no rollouts \(moved)")
        XCTAssertLessThan(worstR, 1e-4)
        XCTAssertGreaterThan(moved, 1e-6, "the rollouts changed the training")
        XCTAssertThrowsError(try one.useLanes(0))
    }
}

final class CheckpointTests: XCTestCase {
    /// Train 2 steps, save, train 2 more; restore the save in a fresh trainer and train the same 2:
    /// the weights must be bit-identical (exact resume: weights, moments, EMA, step, RNG).
    func testExactResume() throws {
        let c = ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 1,
                            heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 40, maxTextTokens: 6, textWidth: 12,
                            textDepth: 1, textHeads: 2)
        let p = try ParameterSet(config: c)
        try FlowMatchingTrainer.initialize(p, seed: 1)
        var o = OptimizerConfig(); o.warmupSteps = 2; o.totalSteps = 10; o.learningRate = 1e-3
        let ctx = try ComputeContext(threads: 2)
        let trainer = try FlowMatchingTrainer(config: c, params: p, optimizer: o, context: ctx, seed: 2)
        var rng = SeededRandom(seed: 3)
        let batches: [[TrainingSample]] = try (0..<4).map { i in
            let t = try Tensor(zeros: [4, 8, 8, 3]); rng.fillGaussian(t.floats, scale: 0.5)
            return [TrainingSample(clip: t, tokens: [1, Int32(5 + i), 2])]
        }
        _ = try trainer.step(batches[0]); _ = try trainer.step(batches[1])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: url); try? FileManager.default.removeItem(at: TrainingCheckpoint.optimizerURL(for: url)) }
        try TrainingCheckpoint.save(trainer, dataPosition: 2, tokenizer: "{}", to: url)
        _ = try trainer.step(batches[2]); _ = try trainer.step(batches[3])

        let (resumed, state) = try TrainingCheckpoint.restore(url, context: try ComputeContext(threads: 1))
        XCTAssertEqual(state.step, 2); XCTAssertEqual(state.dataPosition, 2); XCTAssertEqual(state.tokenizer, "{}")
        _ = try resumed.step(batches[state.dataPosition]); _ = try resumed.step(batches[state.dataPosition + 1])
        for name in p.names {
            XCTAssertEqual(try resumed.params.tensor(name).toArray(), try trainer.params.tensor(name).toArray(), name)
            XCTAssertEqual(try resumed.optimizer.ema!.tensor(name).toArray(), try trainer.optimizer.ema!.tensor(name).toArray(), name)
        }
        // A weights-only export is not a training checkpoint.
        let w = FileManager.default.temporaryDirectory.appendingPathComponent("w-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: w) }
        try TrainingCheckpoint.exportWeights(p, config: c, tokenizer: nil, asHalf: true, to: w)
        XCTAssertThrowsError(try TrainingCheckpoint.restore(w, context: ctx))
        let (c2, p2) = try TrainingCheckpoint.loadWeights(try SafeTensorsFile(contentsOf: w))
        XCTAssertEqual(c2, c)
        XCTAssertEqual(try p2.tensor("blocks.0.attn.qkv.weight").toArray(), try p.tensor("blocks.0.attn.qkv.weight").toArray().map { Float(Float16($0)) })
    }
}
