import XCTest
@testable import VGCore
@testable import VGTraining
@testable import VGModel

/// Compares a trainer's accumulated gradient with central differences of its loss at `entries`
/// entries of each named tensor (a name the parameter set lacks is skipped); returns the worst
/// |error| / allowed. `loss(w)` must compute the loss with gradient weight w at a fixed level and
/// noise (w = 1 accumulates the gradient once, w = 0 only evaluates).
func checkTrainerGradient(_ t: FlowMatchingTrainer, _ names: [String], entries: Int,
                          file: StaticString = #filePath, line: UInt = #line,
                          loss: (Float) throws -> Float) throws -> Double {
    t.grads.zero()
    _ = try loss(1)
    var worst = 0.0
    for name in names where t.params.names.contains(name) {
        let v = try t.params.tensor(name).floats, g = try t.grads.tensor(name).toArray()
        for k in 0..<entries {
            let i = (k * 7919) % v.count, old = v[i], eps: Float = 1e-2
            v[i] = old + eps; let lp = Double(try loss(0))
            v[i] = old - eps; let lm = Double(try loss(0))
            v[i] = old
            let num = (lp - lm) / (2 * Double(eps)), ana = Double(g[i])
            let allowed = 2e-4 + 3e-2 * max(abs(num), abs(ana))
            worst = max(worst, abs(num - ana) / allowed)
            XCTAssertLessThanOrEqual(abs(num - ana), allowed, "\(name)[\(i)]: numeric \(num) analytic \(ana)", file: file, line: line)
        }
    }
    return worst
}

/// A trainer of `config` whose weights are Gaussian (std 0.2, seeded by `weightSeed`), on one thread:
/// the tiny trainers the loss-term tests share.
func tinyTrainer(_ config: ModelConfig, weightSeed: UInt64, seed: UInt64) throws -> FlowMatchingTrainer {
    let p = try ParameterSet(config: config)
    var r = SeededRandom(seed: weightSeed)
    for n in p.names { r.fillGaussian(try p.tensor(n).floats, scale: 0.2) }
    return try FlowMatchingTrainer(config: config, params: p, optimizer: OptimizerConfig(), context: try ComputeContext(threads: 1), seed: seed)
}
