import XCTest
import Foundation
@testable import VGCore
@testable import VGModel

final class OutputRefinerTests: XCTestCase {
    /// The refiner is x0_hat + conv2(GELU(conv1([x0_hat, x_s, s, 1 - s]))) with 3 x 3 kernels inside
    /// each frame: checked at every pixel against a direct convolution written here, and with its last
    /// convolution at zero the model predicts exactly what the same weights without a refiner predict.
    func testRefinerIsTwoConvolutionsOnTheDiTPrediction() throws {
        var withRefiner = tinyConfig
        withRefiner.refinerChannels = 3
        let p = try randomParameters(withRefiner, seed: 50, scale: 0.3)
        let plainParams = try ParameterSet(config: tinyConfig)
        for name in plainParams.names { try plainParams.set(name, from: try p.tensor(name)) }
        let clip = try Tensor(zeros: [4, 8, 8, 3]); var rng = SeededRandom(seed: 51); rng.fillGaussian(clip.floats)
        func predict(_ c: ModelConfig, _ params: ParameterSet) throws -> [Float] {
            let model = try VideoDiT(weights: try ModelWeights(params, config: c))
            let ctx = try ComputeContext(threads: 1), acts = try ModelActivations(config: c, saveForBackward: false)
            try model.encodeText(ctx, tokens: [1, 7, 2], acts: acts)
            let out = try Tensor(zeros: [4, 8, 8, 3])
            try model.unpatchify(try model.predict(ctx, noisy: clip, level: 0.3, acts: acts), into: out)
            return out.toArray()
        }
        let base = try predict(tinyConfig, plainParams), refined = try predict(withRefiner, p)

        // The direct convolution, in doubles.
        let w1 = try p.tensor("refiner.conv1.weight").toArray(), b1 = try p.tensor("refiner.conv1.bias").toArray()
        let w2 = try p.tensor("refiner.conv2.weight").toArray(), b2 = try p.tensor("refiner.conv2.bias").toArray()
        let xs = clip.toArray(), ch = 3, cin = OutputRefiner.inputChannels
        func input(_ f: Int, _ y: Int, _ x: Int, _ k: Int) -> Double {
            guard (0..<8).contains(y), (0..<8).contains(x) else { return 0 }
            let i = ((f * 8 + y) * 8 + x) * 3
            switch k {
            case 0..<3: return Double(base[i + k])
            case 3..<6: return Double(xs[i + k - 3])
            case 6: return 0.3
            default: return 0.7
            }
        }
        func gelu(_ v: Double) -> Double { 0.5 * v * (1 + tanh(0.7978845608 * (v + 0.044715 * v * v * v))) }
        func hidden(_ f: Int, _ y: Int, _ x: Int, _ o: Int) -> Double {
            guard (0..<8).contains(y), (0..<8).contains(x) else { return 0 }
            var v = Double(b1[o]), j = 0
            for ky in -1...1 { for kx in -1...1 { for k in 0..<cin { v += Double(w1[o * 9 * cin + j]) * input(f, y + ky, x + kx, k); j += 1 } } }
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
        print("  output refiner against a direct convolution: max |diff| = \(worst)")
        XCTAssertLessThan(worst, 1e-3)
        XCTAssertGreaterThan(zip(refined, base).map { abs($0 - $1) }.max()!, 1e-2)

        // conv2 at zero (how a refiner starts): the prediction is the DiT's, bit for bit.
        try p.tensor("refiner.conv2.weight").fill(0); try p.tensor("refiner.conv2.bias").fill(0)
        XCTAssertEqual(try predict(withRefiner, p), base)
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
}
