import XCTest
@testable import VGCore
@testable import VGModel
@testable import VGTraining

/// Central-difference checks of every backward pass: for a loss L = Σ r ⊙ f(inputs) with a fixed
/// random r, the analytic gradient at sampled entries must match (L(v + ε) - L(v - ε)) / 2ε.
final class GradientCheckTests: XCTestCase {
    struct Probe { let name: String; let value: Tensor; let grad: Tensor }

    /// Checks `samples` entries of every probe: |numeric - analytic| <= atol + tol · max(|numeric|, |analytic|).
    /// `atol` covers the float32 noise of the loss divided by 2ε (about 1e-3 for the whole model, whose
    /// loss sums hundreds of outputs each accurate to ~1e-6). Prints the worst error per tensor.
    func check(_ op: String, _ probes: [Probe], eps: Float = 1e-2, tol: Double = 2e-2, atol: Double = 2e-4, samples: Int = 12,
               loss: () throws -> Double, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = SeededRandom(seed: 99)
        for p in probes {
            let v = p.value.floats, g = p.grad.toArray()
            var worst = 0.0
            for s in 0..<min(samples, v.count) {
                let i = samples >= v.count ? s : Int(rng.next() % UInt64(v.count))
                let old = v[i]
                v[i] = old + eps; let lp = try loss()
                v[i] = old - eps; let lm = try loss()
                v[i] = old
                let num = (lp - lm) / (2 * Double(eps)), ana = Double(g[i])
                let allowed = atol + tol * max(abs(num), abs(ana))
                worst = max(worst, abs(num - ana) / allowed)
                XCTAssertLessThanOrEqual(abs(num - ana), allowed, "\(op) \(p.name)[\(i)]: numeric \(num) analytic \(ana)", file: file, line: line)
            }
            print(String(format: "  grad %-10@ %-34@ worst |error| / allowed = %.2f", op as NSString, p.name as NSString, worst))
        }
    }

    func gaussian(_ shape: [Int], _ seed: UInt64, _ scale: Float = 1) throws -> Tensor {
        let t = try Tensor(zeros: shape)
        var r = SeededRandom(seed: seed); r.fillGaussian(t.floats, scale: scale)
        return t
    }
    func dot(_ a: Tensor, _ b: Tensor) -> Double { zip(a.toArray(), b.toArray()).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    func testLinearBackward() throws {
        let ctx = try ComputeContext(threads: 2)
        let (m, k, n) = (7, 33, 5)
        let x = try gaussian([m, k], 1), w = try gaussian([n, k], 2), b = try gaussian([n], 3), r = try gaussian([m, n], 4)
        let y = try Tensor(zeros: [m, n])
        let dx = try Tensor(zeros: [m, k]), dw = try Tensor(zeros: [n, k]), db = try Tensor(zeros: [n])
        try ctx.linearBackward(r, x: x, weight: w, dx: dx, dWeight: dw, dBias: db)
        try check("linear", [Probe(name: "x", value: x, grad: dx), Probe(name: "w", value: w, grad: dw), Probe(name: "b", value: b, grad: db)]) {
            try ctx.linear(x, .f32(w), bias: b, into: y); return dot(y, r)
        }
    }

    func testLayerNormModulateGatedAddBackward() throws {
        let ctx = try ComputeContext()
        let (rows, n) = (5, 33)
        let x = try gaussian([rows, n], 5, 2), gamma = try gaussian([n], 6), beta = try gaussian([n], 7), r = try gaussian([rows, n], 8)
        let y = try Tensor(zeros: [rows, n])
        let dx = try Tensor(zeros: [rows, n]), dg = try Tensor(zeros: [n]), dbeta = try Tensor(zeros: [n])
        try ctx.layerNormBackward(r, x: x, gamma: gamma, dx: dx, dGamma: dg, dBeta: dbeta)
        try check("layerNorm", [Probe(name: "x", value: x, grad: dx), Probe(name: "gamma", value: gamma, grad: dg), Probe(name: "beta", value: beta, grad: dbeta)]) {
            try ctx.layerNorm(x, gamma: gamma, beta: beta, into: y); return dot(y, r)
        }
        // modulate: y = x̂ (1 + scale) + shift
        let shift = try gaussian([n], 9), scale = try gaussian([n], 10)
        let dsh = try Tensor(zeros: [n]), dsc = try Tensor(zeros: [n])
        try ctx.modulateBackward(r, xhat: x, scale: scale, dx: dx, dShift: dsh, dScale: dsc)
        try check("modulate", [Probe(name: "x", value: x, grad: dx), Probe(name: "shift", value: shift, grad: dsh), Probe(name: "scale", value: scale, grad: dsc)]) {
            try ctx.modulate(x, shift: shift, scale: scale, into: y); return dot(y, r)
        }
        // gatedAdd: out = base + gate ⊙ rr
        let base = try gaussian([rows, n], 11), rr = try gaussian([rows, n], 12)
        let drr = try Tensor(zeros: [rows, n]), dgate = try Tensor(zeros: [n])
        try ctx.gatedAddBackward(r, r: rr, gate: gamma, dr: drr, dGate: dgate)
        try check("gatedAdd", [Probe(name: "r", value: rr, grad: drr), Probe(name: "gate", value: gamma, grad: dgate)]) {
            try y.copy(from: base); try ctx.gatedAdd(y, rr, gate: gamma); return dot(y, r)
        }
    }

    func testActivationBackward() throws {
        let ctx = try ComputeContext()
        let x = try gaussian([100], 13, 3), r = try gaussian([100], 14), y = try Tensor(zeros: [100]), dx = try Tensor(zeros: [100])
        try ctx.geluBackward(r, x: x, dx: dx)
        try check("gelu", [Probe(name: "x", value: x, grad: dx)], eps: 1e-3, samples: 100) { try ctx.gelu(x, into: y); return dot(y, r) }
        try ctx.siluBackward(r, x: x, dx: dx)
        try check("silu", [Probe(name: "x", value: x, grad: dx)], eps: 1e-3, samples: 100) { try ctx.silu(x, into: y); return dot(y, r) }
    }

    func testAttentionBackward() throws {
        let ctx = try ComputeContext(threads: 2)
        let (tq, tk, heads, dh) = (9, 70, 2, 8), d = heads * dh
        let q = try gaussian([tq, d], 15), k = try gaussian([tk, d], 16), v = try gaussian([tk, d], 17), r = try gaussian([tq, d], 18)
        let out = try Tensor(zeros: [tq, d])
        try ctx.attention(q: q, k: k, v: v, heads: heads, into: out)
        let dq = try Tensor(zeros: [tq, d]), dk = try Tensor(zeros: [tk, d]), dv = try Tensor(zeros: [tk, d])
        try ctx.attentionBackwardUnchecked(dOut: r.floats.baseAddress!, ldo: d, out: out.floats.baseAddress!,
                                           q: q.floats.baseAddress!, ldq: d, k: k.floats.baseAddress!, ldk: d, v: v.floats.baseAddress!, ldv: d,
                                           dq: dq.floats.baseAddress!, lddq: d, dk: dk.floats.baseAddress!, lddk: d, dv: dv.floats.baseAddress!, lddv: d,
                                           tq: tq, tk: tk, heads: heads, headDim: dh, scale: 1 / Float(dh).squareRoot())
        try check("attention", [Probe(name: "q", value: q, grad: dq), Probe(name: "k", value: k, grad: dk), Probe(name: "v", value: v, grad: dv)]) {
            try ctx.attention(q: q, k: k, v: v, heads: heads, into: out); return dot(out, r)
        }
    }

    /// The whole model, tiny config: every parameter tensor of the text encoder and the DiT.
    func testWholeModelBackward() throws { try checkWholeModel(crossAttentionGate: false) }

    /// The same with the cross-attention behind its own adaLN gate (a seventh adaLN slice).
    func testWholeModelBackwardWithCrossAttentionGate() throws { try checkWholeModel(crossAttentionGate: true) }

    /// The same with the output refiner (two full-resolution convolutions after the final layer).
    func testWholeModelBackwardWithOutputRefiner() throws { try checkWholeModel(crossAttentionGate: true, refinerChannels: 3) }

    /// The same with refiner features (a second linear from the final tokens into the refiner).
    func testWholeModelBackwardWithRefinerFeatures() throws { try checkWholeModel(crossAttentionGate: true, refinerChannels: 3, refinerFeatures: 2) }

    /// A model on a latent clip: 5 channels per position, 2 x 2 patches over a 4 x 4 grid.
    func testWholeModelBackwardOnLatentClips() throws { try checkWholeModel(crossAttentionGate: true, channels: 5) }

    func checkWholeModel(crossAttentionGate: Bool, refinerChannels: Int = 0, refinerFeatures: Int = 0, channels: Int = 3) throws {
        let side = channels == 3 ? 8 : 4, patch = channels == 3 ? 4 : 2
        var c = ModelConfig(frames: 4, height: side, width: side, patchT: 2, patchH: patch, patchW: patch, modelWidth: 16, depth: 2,
                            heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 40, maxTextTokens: 6, textWidth: 12,
                            textDepth: 2, textHeads: 2, crossAttentionGate: crossAttentionGate, refinerChannels: refinerChannels,
                            refinerFeatures: refinerFeatures)
        c.channels = channels
        XCTAssertEqual(ParameterSet.layout(c).first { $0.name == "adaln.weight" }?.shape, [c.adaLNSlices * 16, 16])
        let params = try ParameterSet(config: c), grads = try ParameterSet(config: c)
        var rng = SeededRandom(seed: 20)
        // (The refiner's weights smaller: its 72-wide neighbourhoods would otherwise make the loss large
        // enough for float rounding to swamp the central differences of the exactly-zero gradients.)
        for n in params.names { rng.fillGaussian(try params.tensor(n).floats, scale: n.hasPrefix("refiner.") ? 0.1 : 0.3) }
        let model = try VideoDiT(weights: try ModelWeights(params, config: c))
        let ctx = try ComputeContext(threads: 2)
        let acts = try ModelActivations(config: c, saveForBackward: true)
        let clip = try gaussian([4, side, side, channels], 21), r = try gaussian([c.tokens, c.patchValues], 22)
        XCTAssertEqual(c.patchValues, 2 * patch * patch * channels)
        let tokens: [Int32] = [1, 17, 5, 17, 2]
        func loss() throws -> Double {
            try model.encodeText(ctx, tokens: tokens, acts: acts)
            return dot(try model.predict(ctx, noisy: clip, level: 0.6, acts: acts), r)
        }
        _ = try loss()
        try ModelBackward(config: c).backward(ctx, model: model, acts: acts, dOutput: r, grads: grads)
        let probes = try params.names.map { Probe(name: $0, value: try params.tensor($0), grad: try grads.tensor($0)) }
        try check("model", probes, eps: 1e-2, tol: 3e-2, atol: 2e-3, samples: 4, loss: loss)
    }
}
