import XCTest
@testable import VGCore
@testable import VGModel
@testable import VGTraining

/// `ModelWidth.doubled`: the model at twice the width and heads predicts what the narrower one did.
final class ModelWidthTests: XCTestCase {
    func config(gate: Bool) -> ModelConfig {
        ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 2,
                    heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 300, maxTextTokens: 12, textWidth: 12,
                    textDepth: 1, textHeads: 2, crossAttentionGate: gate)
    }

    func predict(_ p: ParameterSet, clip: Tensor, level: Float) throws -> [Float] {
        let model = try VideoDiT(weights: try ModelWeights(p, config: p.config))
        let ctx = try ComputeContext(threads: 1), acts = try ModelActivations(config: p.config, saveForBackward: false)
        try model.encodeText(ctx, tokens: [1, 7, 2, 40], acts: acts)
        return try model.predict(ctx, noisy: clip, level: level, acts: acts).toArray()
    }

    func testDoubledModelPredictsTheSame() throws {
        for gate in [true, false] {
            let p = try ParameterSet(config: config(gate: gate))
            var rng = SeededRandom(seed: gate ? 1 : 2)
            for n in p.names { rng.fillGaussian(try p.tensor(n).floats, scale: 0.3) }
            let wide = try ModelWidth.doubled(p)
            XCTAssertEqual(wide.config.modelWidth, 32); XCTAssertEqual(wide.config.heads, 4)
            XCTAssertEqual(wide.config.headDim, p.config.headDim)
            XCTAssertEqual(try wide.tensor("text.blocks.0.attn.qkv.weight").toArray(), try p.tensor("text.blocks.0.attn.qkv.weight").toArray())
            let clip = try Tensor(zeros: [4, 8, 8, 3]); rng.fillGaussian(clip.floats)
            for level: Float in [0.2, 0.9] {
                let a = try predict(p, clip: clip, level: level), b = try predict(wide, clip: clip, level: level)
                let scale = a.map(abs).max()!, err = zip(a, b).map { abs($0 - $1) }.max()!
                XCTAssertGreaterThan(scale, 0.01)
                XCTAssertLessThan(err, 1e-4 * max(scale, 1), "gate \(gate), s = \(level): max abs diff \(err)")
            }
            // Noise breaks the copies' symmetry: the prediction moves, a little.
            let noisy = try ModelWidth.doubled(p, noise: 0.01, seed: 3)
            let a = try predict(p, clip: clip, level: 0.5), b = try predict(noisy, clip: clip, level: 0.5)
            let err = zip(a, b).map { abs($0 - $1) }.max()!, scale = a.map(abs).max()!
            XCTAssertGreaterThan(err, 0)
            XCTAssertLessThan(err, 0.2 * scale)
        }
    }

    func testRefusesWhatItCannotDouble() throws {
        var c = config(gate: true); c.refinerChannels = 4
        XCTAssertThrowsError(try ModelWidth.doubled(try ParameterSet(config: c)))
        XCTAssertThrowsError(try ModelWidth.doubled(try ParameterSet(config: config(gate: true)), noise: -1))
    }
}
