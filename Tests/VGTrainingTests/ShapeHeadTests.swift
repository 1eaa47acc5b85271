import XCTest
@testable import VGCore
@testable import VGModel
@testable import VGTraining
import VGFormat
import Foundation

/// The token shape head (`ShapeHead`): its token labels, its loss and gradient inside the trainer,
/// and that exports drop it.
final class ShapeHeadTests: XCTestCase {
    // Clip [4, 8, 8, 3], patches 2 x 4 x 4: a 2 x 2 x 2 grid of 8 tokens of 32 positions each.
    let config: ModelConfig = {
        var c = ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 2,
                            heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 40, maxTextTokens: 6, textWidth: 12,
                            textDepth: 1, textHeads: 2)
        c.shapeHeadClasses = 5; c.shapeHeadBlock = 0
        return c
    }()

    /// Sets `value` at the first `count` positions (in frame, row, column order) of token (gt, gy, gx).
    func paint(_ map: Tensor, token gt: Int, _ gy: Int, _ gx: Int, count: Int, value: Float) {
        var n = 0
        for dt in 0..<2 { for dy in 0..<4 { for dx in 0..<4 where n < count {
            map.floats[((gt * 2 + dt) * 8 + gy * 4 + dy) * 8 + gx * 4 + dx] = value
            n += 1
        } } }
    }

    func testTokenLabelsTakeTheMajorityOfWellCoveredTokens() throws {
        let map = try Tensor(zeros: [4, 8, 8]); map.fill(-1)
        paint(map, token: 0, 0, 0, count: 32, value: 3)      // token 0: all class 3
        paint(map, token: 0, 0, 1, count: 7, value: 1)       // token 1: 7 of 32 < 1/4: no label
        paint(map, token: 0, 1, 0, count: 8, value: 2)       // token 2: exactly 1/4: class 2
        paint(map, token: 0, 1, 1, count: 20, value: 0)      // token 3: 10 of class 0, then 10 of class 4: a tie, the lower index
        paint(map, token: 0, 1, 1, count: 10, value: 4)
        paint(map, token: 1, 0, 0, count: 24, value: 1)      // token 4: 8 of class 4, then 16 of class 1
        paint(map, token: 1, 0, 0, count: 8, value: 4)
        let labels = try ShapeHead.tokenLabels(map, config: config)
        XCTAssertEqual(labels, [3, -1, 2, 0, 1, -1, -1, -1].map(Int32.init))

        map.floats[5] = 7                                      // not a class of a 5-class head
        XCTAssertThrowsError(try ShapeHead.tokenLabels(map, config: config))
        map.floats[5] = 1.5
        XCTAssertThrowsError(try ShapeHead.tokenLabels(map, config: config))
        XCTAssertThrowsError(try ShapeHead.tokenLabels(try Tensor(zeros: [4, 8, 7]), config: config))
    }

    func makeTrainer(_ c: ModelConfig) throws -> FlowMatchingTrainer {
        let p = try ParameterSet(config: c)
        var r = SeededRandom(seed: 61)
        for n in p.names { r.fillGaussian(try p.tensor(n).floats, scale: 0.2) }
        return try FlowMatchingTrainer(config: c, params: p, optimizer: OptimizerConfig(), context: try ComputeContext(threads: 1), seed: 7)
    }

    func labelledSample(seed: UInt64) throws -> TrainingSample {
        var r = SeededRandom(seed: seed)
        let clip = try Tensor(zeros: [4, 8, 8, 3]); r.fillGaussian(clip.floats, scale: 0.5)
        let map = try Tensor(zeros: [4, 8, 8]); map.fill(-1)
        paint(map, token: 0, 0, 0, count: 32, value: 4)
        paint(map, token: 0, 1, 1, count: 20, value: 1)
        paint(map, token: 1, 0, 1, count: 32, value: 2)
        return TrainingSample(clip: clip, tokens: [1, 9, 3, 2], shapeMap: map)
    }

    /// The model's forward at s = 0.7 on `sample`'s clip mixed with the noise the trainer draws next
    /// (its stream is not advanced), outside the trainer; the activations hold every block's input.
    func forwardByHand(_ t: FlowMatchingTrainer, _ sample: TrainingSample) throws -> ModelActivations {
        var rr = t.rng
        let noise = try Tensor(zeros: [4, 8, 8, 3]); rr.fillGaussian(noise.floats)
        let xs = try Tensor(zeros: [4, 8, 8, 3])
        for i in 0..<xs.count { xs.floats[i] = 0.3 * sample.clip.floats[i] + 0.7 * noise.floats[i] }
        let model = try VideoDiT(weights: try ModelWeights(t.params, config: t.config))
        let acts = try ModelActivations(config: t.config, saveForBackward: true), ctx = try ComputeContext(threads: 1)
        try model.encodeText(ctx, tokens: sample.tokens, acts: acts)
        try model.predict(ctx, noisy: xs, level: 0.7, acts: acts)
        return acts
    }

    func loss(_ t: FlowMatchingTrainer, _ sample: TrainingSample, weight: Float = 0) throws -> Float {
        let saved = t.rng
        defer { t.rng = saved }
        return try t.accumulate(sample, weight: weight, level: 0.7)
    }

    /// The loss is the flow loss plus β times the mean cross-entropy of the labelled tokens, computed
    /// here by hand from block 0's output; and every parameter's gradient (the head's, the blocks'
    /// below and above it, the text encoder's) matches central differences.
    func testLossAndGradient() throws {
        let t = try makeTrainer(config)
        let sample = try labelledSample(seed: 62)
        t.shapeHeadWeight = 0
        let flow = try loss(t, sample)
        t.shapeHeadWeight = 0.5
        let total = try loss(t, sample)

        // By hand: the same noise, block 0's output, the head's logits on the three labelled tokens.
        let acts = try forwardByHand(t, sample)
        let h = acts.block(1).input.floats, w = try t.params.tensor("aux.shape_head.weight").floats
        let b = try t.params.tensor("aux.shape_head.bias").floats
        var ce = 0.0
        for (token, label) in [(0, 4), (3, 1), (5, 2)] {
            let z = (0..<5).map { j in Double(b[j]) + (0..<16).reduce(0.0) { $0 + Double(w[j * 16 + $1]) * Double(h[token * 16 + $1]) } }
            let m = z.max()!
            ce += log(z.reduce(0.0) { $0 + exp($1 - m) }) + m - z[label]
        }
        let byHand = Double(flow) + 0.5 * ce / 3
        print(String(format: "  loss with the shape head %.6f (by hand %.6f), flow alone %.6f", total, byHand, flow))
        XCTAssertEqual(Double(total), byHand, accuracy: 1e-4 * byHand)

        let worst = try checkTrainerGradient(t, ["aux.shape_head.weight", "aux.shape_head.bias", "blocks.0.mlp.fc1.weight",
                                                 "blocks.0.attn.qkv.weight", "blocks.0.cross.kv.weight", "blocks.1.mlp.fc2.weight",
                                                 "text.blocks.0.attn.qkv.weight", "patch_embed.weight"], entries: 5) { weight in
            try loss(t, sample, weight: weight)
        }
        print(String(format: "  shape-head gradient: worst |error| / allowed = %.2f", worst))
        // The head's weights get a gradient only from the head.
        t.shapeHeadWeight = 0
        t.grads.zero()
        _ = try loss(t, sample, weight: 1)
        XCTAssertTrue(try t.grads.tensor("aux.shape_head.weight").toArray().allSatisfy { $0 == 0 })
        for bad: Float in [.infinity, .nan, -1] {
            t.shapeHeadWeight = bad
            XCTAssertThrowsError(try loss(t, sample))
        }
    }

    /// A step reports the head's figures; two lanes give the sequential step's loss and figures.
    func testStepSummaryAndLanes() throws {
        let batch = try (0..<4).map { try labelledSample(seed: 70 + UInt64($0)) }
        var results: [FlowMatchingTrainer.StepStats] = []
        for lanes in [1, 2] {
            let t = try makeTrainer(config)
            t.shapeHeadWeight = 0.3
            try t.useLanes(lanes)
            results.append(try t.step(batch))
        }
        let (one, two) = (results[0], results[1])
        XCTAssertEqual(one.loss, two.loss, accuracy: 1e-5 * one.loss)
        let a = try XCTUnwrap(one.shapeHead), b = try XCTUnwrap(two.shapeHead)
        XCTAssertEqual(a.tokens, 12)
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.accuracy, b.accuracy)
        XCTAssertEqual(a.crossEntropy, b.crossEntropy, accuracy: 1e-5)
        XCTAssertGreaterThan(a.crossEntropy, 0)
        XCTAssertTrue((0...1).contains(a.accuracy))
    }

    /// Exports drop the head: the written config has none and no `aux.` tensor is written, so the file
    /// loads as the model without it. A config whose head reads no block is refused.
    func testExportDropsTheHeadAndConfigChecks() throws {
        let t = try makeTrainer(config)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("shape-head-export-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try TrainingCheckpoint.exportWeights(t.params, config: config, tokenizer: nil, asHalf: false, to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        let (c, p) = try TrainingCheckpoint.loadWeights(file)
        XCTAssertEqual(c.shapeHeadClasses, 0)
        XCTAssertFalse(p.names.contains { $0.hasPrefix("aux.") })
        XCTAssertEqual(try p.tensor("blocks.1.mlp.fc2.weight").toArray(), try t.params.tensor("blocks.1.mlp.fc2.weight").toArray())

        let data = try JSONEncoder().encode(config)
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: data), config)
        var bad = config
        bad.shapeHeadBlock = 2
        XCTAssertThrowsError(try bad.validate())
        bad.shapeHeadBlock = 0; bad.shapeHeadClasses = 65
        XCTAssertThrowsError(try bad.validate())
        var none = config
        none.shapeHeadClasses = 0
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(none), as: UTF8.self).contains("shapeHead"))
        var o = PretrainOptions()
        o.model = none; o.shapeHeadWeight = 0.1
        XCTAssertThrowsError(try o.validate())
        o.model = config
        XCTAssertNoThrow(try o.validate())
        o.shapeHeadWeight = 0
        XCTAssertThrowsError(try o.validate())
    }

    // MARK: the token mask head

    /// Token masks take each token's pixels in (frame, row, column) order, at r x r pixels per clip
    /// position; a token touches an object when any of its pixels is covered. Wrong shapes and
    /// values outside [0, 1] are refused.
    func testTokenMasksGatherEachTokensPixels() throws {
        var c = config
        c.shapeHeadClasses = 0; c.shapeHeadBlock = 0; c.maskHeadValues = 2 * 4 * 4 * 4   // r = 2
        let coverage = try Tensor(zeros: [4, 16, 16])
        for i in 0..<coverage.count { coverage.floats[i] = i % 7 == 0 ? Float(i % 5) / 4 : 0 }
        let (masks, touched) = try MaskHead.tokenMasks(coverage, config: c)
        XCTAssertEqual(masks.count, 8 * 128)
        // Token (gt 1, gy 0, gx 1), its value (dt 1, dy 3, dx 5): frame 3, row 3, column 8 + 5.
        let token = 4 + 1, value = (1 * 8 + 3) * 8 + 5
        XCTAssertEqual(masks[token * 128 + value], coverage.floats[(3 * 16 + 3) * 16 + 13])
        for t in 0..<8 { XCTAssertEqual(touched[t], masks[(t * 128)..<((t + 1) * 128)].contains { $0 > 0 }) }
        XCTAssertThrowsError(try MaskHead.tokenMasks(try Tensor(zeros: [4, 8, 8]), config: c))
        coverage.floats[3] = 1.5
        XCTAssertThrowsError(try MaskHead.tokenMasks(coverage, config: c))
    }

    /// With both heads on, the loss is the flow loss plus each head's weighted cross-entropy (the
    /// mask head's mean binary cross-entropy computed here by hand from the last block's output), and
    /// the gradient matches central differences.
    func testMaskHeadLossAndGradient() throws {
        var c = config
        c.maskHeadValues = 2 * 4 * 4
        let t = try makeTrainer(c)
        var sample = try labelledSample(seed: 63)
        let coverage = try Tensor(zeros: [4, 8, 8])
        var r = SeededRandom(seed: 64)
        for y in 1..<6 { for x in 2..<7 { for f in 0..<4 { coverage.floats[(f * 8 + y) * 8 + x] = Float(r.uniform()) } } }
        sample.pixelCoverage = coverage
        t.shapeHeadWeight = 0.5; t.maskHeadWeight = 0
        let withoutMask = try loss(t, sample)
        t.maskHeadWeight = 0.7
        let total = try loss(t, sample)

        let acts = try forwardByHand(t, sample)
        let h = acts.finalInput.floats, w = try t.params.tensor("aux.mask_head.weight").floats
        let b = try t.params.tensor("aux.mask_head.bias").floats
        let (masks, touched) = try MaskHead.tokenMasks(coverage, config: c)
        var bce = 0.0, values = 0
        for token in 0..<8 where touched[token] {
            for j in 0..<32 {
                let z = Double(b[j]) + (0..<16).reduce(0.0) { $0 + Double(w[j * 16 + $1]) * Double(h[token * 16 + $1]) }
                let y = Double(masks[token * 32 + j])
                bce += -(y * log(1 / (1 + exp(-z))) + (1 - y) * log(1 - 1 / (1 + exp(-z))))
                values += 1
            }
        }
        XCTAssertGreaterThan(values, 0)
        let byHand = Double(withoutMask) + 0.7 * bce / Double(values)
        print(String(format: "  loss with both heads %.6f (by hand %.6f)", total, byHand))
        XCTAssertEqual(Double(total), byHand, accuracy: 1e-4 * byHand)

        let worst = try checkTrainerGradient(t, ["aux.mask_head.weight", "aux.mask_head.bias", "aux.shape_head.weight",
                                                 "blocks.1.mlp.fc2.weight", "blocks.1.attn.qkv.weight", "blocks.0.mlp.fc1.weight",
                                                 "final.linear.weight"], entries: 5) { weight in
            try loss(t, sample, weight: weight)
        }
        print(String(format: "  mask-head gradient: worst |error| / allowed = %.2f", worst))
        // Two lanes give the sequential step's figures.
        var results: [FlowMatchingTrainer.StepStats] = []
        for lanes in [1, 2] {
            let u = try makeTrainer(c)
            u.shapeHeadWeight = 0.5; u.maskHeadWeight = 0.7
            try u.useLanes(lanes)
            results.append(try u.step([sample, sample, try labelledSample(seed: 65)]))
        }
        let m1 = try XCTUnwrap(results[0].maskHead), m2 = try XCTUnwrap(results[1].maskHead)
        XCTAssertEqual(m1.tokens, m2.tokens)
        XCTAssertEqual(m1.iou, m2.iou)
        XCTAssertEqual(m1.crossEntropy, m2.crossEntropy, accuracy: 1e-5)
        XCTAssertEqual(m1.tokens, 2 * touched.filter { $0 }.count, "the third sample has no pixel coverage")
        for bad: Float in [.infinity, .nan, -1] {
            t.maskHeadWeight = bad
            XCTAssertThrowsError(try loss(t, sample))
        }
    }
}
