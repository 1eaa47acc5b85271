import XCTest
import Foundation
@testable import VGCore
@testable import VGModel

final class OutputRefinerTests: XCTestCase {
    /// The refiner is x0_hat + conv2(GELU(conv1([x0_hat, x_s, s, 1 - s]))) with 3 x 3 kernels inside
    /// each frame: checked at every pixel against a direct convolution written here, and with its last
    /// convolution at zero the model predicts exactly what the same weights without a refiner predict.
    func testRefinerIsTwoConvolutionsOnTheDiTPrediction() throws { try checkAgainstDirectConvolution(features: 0) }

    /// The same with refiner features: conv1 also reads K values per pixel that `refiner.features`
    /// writes from the pixel's final token (the modulated final norm), computed here from the token
    /// directly, without the model's unpatchify.
    func testRefinerFeaturesAreALinearOfThePixelsToken() throws { try checkAgainstDirectConvolution(features: 2) }

    func checkAgainstDirectConvolution(features k: Int) throws {
        var withRefiner = tinyConfig
        withRefiner.refinerChannels = 3; withRefiner.refinerFeatures = k
        let p = try randomParameters(withRefiner, seed: 50, scale: 0.3)
        let plainParams = try ParameterSet(config: tinyConfig)
        for name in plainParams.names { try plainParams.set(name, from: try p.tensor(name)) }
        let clip = try Tensor(zeros: [4, 8, 8, 3]); var rng = SeededRandom(seed: 51); rng.fillGaussian(clip.floats)
        func predict(_ c: ModelConfig, _ params: ParameterSet) throws -> (out: [Float], finalNorm: [Float]) {
            let model = try VideoDiT(weights: try ModelWeights(params, config: c))
            let ctx = try ComputeContext(threads: 1), acts = try ModelActivations(config: c, saveForBackward: false)
            try model.encodeText(ctx, tokens: [1, 7, 2], acts: acts)
            let out = try Tensor(zeros: [4, 8, 8, 3])
            try model.unpatchify(try model.predict(ctx, noisy: clip, level: 0.3, acts: acts), into: out)
            return (out.toArray(), acts.finalNorm.toArray())
        }
        let base = try predict(tinyConfig, plainParams).out
        let (refined, finalNorm) = try predict(withRefiner, p)

        // The direct convolution, in doubles.
        let w1 = try p.tensor("refiner.conv1.weight").toArray(), b1 = try p.tensor("refiner.conv1.bias").toArray()
        let w2 = try p.tensor("refiner.conv2.weight").toArray(), b2 = try p.tensor("refiner.conv2.bias").toArray()
        let wf = k > 0 ? try p.tensor("refiner.features.weight").toArray() : []
        let bf = k > 0 ? try p.tensor("refiner.features.bias").toArray() : []
        let xs = clip.toArray(), ch = 3, cin = OutputRefiner.inputChannels + k, c = withRefiner, d = c.modelWidth
        func feature(_ f: Int, _ y: Int, _ x: Int, _ j: Int) -> Double {
            let token = ((f / c.patchT) * c.grid.y + y / c.patchH) * c.grid.x + x / c.patchW
            let v = (((f % c.patchT) * c.patchH + y % c.patchH) * c.patchW + x % c.patchW) * k + j
            var sum = Double(bf[v])
            for i in 0..<d { sum += Double(wf[v * d + i]) * Double(finalNorm[token * d + i]) }
            return sum
        }
        func input(_ f: Int, _ y: Int, _ x: Int, _ q: Int) -> Double {
            guard (0..<8).contains(y), (0..<8).contains(x) else { return 0 }
            let i = ((f * 8 + y) * 8 + x) * 3
            switch q {
            case 0..<3: return Double(base[i + q])
            case 3..<6: return Double(xs[i + q - 3])
            case 6: return 0.3
            case 7: return 0.7
            default: return feature(f, y, x, q - 8)
            }
        }
        func gelu(_ v: Double) -> Double { 0.5 * v * (1 + tanh(0.7978845608 * (v + 0.044715 * v * v * v))) }
        func hidden(_ f: Int, _ y: Int, _ x: Int, _ o: Int) -> Double {
            guard (0..<8).contains(y), (0..<8).contains(x) else { return 0 }
            var v = Double(b1[o]), j = 0
            for ky in -1...1 { for kx in -1...1 { for q in 0..<cin { v += Double(w1[o * 9 * cin + j]) * input(f, y + ky, x + kx, q); j += 1 } } }
            return gelu(v)
        }
        var worst = 0.0
        for f in 0..<4 { for y in 0..<8 { for x in 0..<8 {
            var h: [Double] = []
            for ky in -1...1 { for kx in -1...1 { for o in 0..<ch { h.append(hidden(f, y + ky, x + kx, o)) } } }
            for o in 0..<3 {
                var v = Double(b2[o])
                for j in 0..<(9 * ch) { v += Double(w2[o * 9 * ch + j]) * h[j] }
                let i = ((f * 8 + y) * 8 + x) * 3 + o
                worst = max(worst, abs(Double(refined[i]) - (Double(base[i]) + v)))
            }
        } } }
        print("  output refiner (\(k) features) against a direct convolution: max |diff| = \(worst)")
        XCTAssertLessThan(worst, 1e-3)
        XCTAssertGreaterThan(zip(refined, base).map { abs($0 - $1) }.max()!, 1e-2)

        // conv2 at zero (how a refiner starts): the prediction is the DiT's, bit for bit.
        try p.tensor("refiner.conv2.weight").fill(0); try p.tensor("refiner.conv2.bias").fill(0)
        XCTAssertEqual(try predict(withRefiner, p).out, base)
    }

    /// The neighbourhood scatter is the adjoint of the gather: <gather(a), b> = <a, scatter(b)>.
    func testNeighbourhoodScatterIsTheAdjoint() {
        let (f, h, w, cin) = (2, 3, 5, 2), n = f * h * w
        var rng = SeededRandom(seed: 52)
        var a = [Float](repeating: 0, count: n * cin), b = [Float](repeating: 0, count: n * 9 * cin)
        a.withUnsafeMutableBufferPointer { rng.fillGaussian($0) }; b.withUnsafeMutableBufferPointer { rng.fillGaussian($0) }
        var cols = [Float](repeating: 1, count: n * 9 * cin), back = [Float](repeating: 1, count: n * cin)
        OutputRefiner.neighbourhoods(a, channels: cin, frames: f, height: h, width: w, into: &cols)
        OutputRefiner.scatterNeighbourhoods(b, channels: cin, frames: f, height: h, width: w, into: &back)
        let left = zip(cols, b).reduce(0.0) { $0 + Double($1.0 * $1.1) }, right = zip(a, back).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        XCTAssertEqual(left, right, accuracy: 1e-4 * max(1, abs(left)))
        // A corner pixel's neighbourhood has 4 of its 9 neighbours inside the frame: 5 zero blocks.
        XCTAssertEqual(cols[0..<(9 * cin)].filter { $0 == 0 }.count, 5 * cin)
    }

    /// Stored configs without the field decode with no refiner and are written back without it; the
    /// channel count is validated.
    func testRefinerConfigDecodesOldFilesAndValidates() throws {
        let data = try JSONEncoder().encode(tinyConfig)
        XCTAssertFalse(String(decoding: data, as: UTF8.self).contains("refinerChannels"))
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: data).refinerChannels, 0)
        var c = tinyConfig; c.refinerChannels = 8
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: try JSONEncoder().encode(c)), c)
        XCTAssertEqual(ParameterSet.layout(c).first { $0.name == "refiner.conv1.weight" }?.shape, [8, 72])
        XCTAssertEqual(ParameterSet.layout(c).first { $0.name == "refiner.conv2.weight" }?.shape, [3, 72])
        XCTAssertFalse(ParameterSet.layout(tinyConfig).contains { $0.name.hasPrefix("refiner.") })
        for bad in [-1, 257] { c.refinerChannels = bad; XCTAssertThrowsError(try c.validate()) }
    }

    /// Refiner features: absent from configs without them, stored when set, widen conv1 by K input
    /// channels and add `refiner.features` (K values per patch pixel); they need a refiner.
    func testRefinerFeaturesConfig() throws {
        var c = tinyConfig; c.refinerChannels = 8
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(c), as: UTF8.self).contains("refinerFeatures"))
        c.refinerFeatures = 4
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: try JSONEncoder().encode(c)), c)
        XCTAssertEqual(ParameterSet.layout(c).first { $0.name == "refiner.conv1.weight" }?.shape, [8, 9 * 12])
        XCTAssertEqual(ParameterSet.layout(c).first { $0.name == "refiner.features.weight" }?.shape, [2 * 4 * 4 * 4, 16])
        XCTAssertNoThrow(try c.validate())
        c.refinerChannels = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("needs an output refiner"), "\($0)") }
        c.refinerChannels = 8
        for bad in [-1, 65] { c.refinerFeatures = bad; XCTAssertThrowsError(try c.validate()) }
    }

    /// The clip's channel count: 3 unless stored (old files decode as RGB and are written back without
    /// the key), sets the patch size, is validated, and the refiner is for RGB only.
    func testClipChannelsConfig() throws {
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(tinyConfig), as: UTF8.self).contains("channels"))
        XCTAssertEqual(tinyConfig.channels, 3)
        var c = tinyConfig; c.channels = 8
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: try JSONEncoder().encode(c)), c)
        XCTAssertEqual(c.patchValues, c.patchT * c.patchH * c.patchW * 8)
        XCTAssertEqual(ParameterSet.layout(c).first { $0.name == "patch_embed.weight" }?.shape, [c.modelWidth, c.patchValues])
        XCTAssertNoThrow(try c.validate())
        for bad in [0, 257] { c.channels = bad; XCTAssertThrowsError(try c.validate()) }
        c.channels = 4; c.refinerChannels = 8
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("RGB"), "\($0)") }
        let model = try VideoDiT(weights: try ModelWeights(try ParameterSet(config: tinyConfig), config: tinyConfig))
        let acts = try ModelActivations(config: tinyConfig, saveForBackward: false)
        let ctx = try ComputeContext()
        try model.encodeText(ctx, tokens: [1, 2], acts: acts)
        XCTAssertThrowsError(try model.predict(ctx, noisy: try Tensor(zeros: [tinyConfig.frames, tinyConfig.height, tinyConfig.width, 4]),
                                               level: 0.5, acts: acts))
    }
}
