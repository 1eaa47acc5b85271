import Foundation
import XCTest
@testable import VGCore

/// Naive references (double accumulation) and comparison helpers shared by the kernel tests.
enum Ref {
    /// Deterministic standard normal values (xorshift + Box-Muller).
    static func gaussian(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var s = seed &* 0x9E3779B97F4A7C15 | 1
        func next() -> Double {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return (Double(s >> 11) + 0.5) / Double(1 << 53)
        }
        return (0..<n).map { _ in Float((-2 * log(next())).squareRoot() * cos(2 * .pi * next())) * scale }
    }

    /// y[m, n] = sum_k x[m, k] w[n, k] + b[n]
    static func linear(_ x: [Float], _ w: [Float], _ b: [Float]?, m: Int, k: Int, n: Int) -> [Float] {
        var y = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for t in 0..<k { s += Double(x[i * k + t]) * Double(w[j * k + t]) }
            y[i * n + j] = Float(s + Double(b?[j] ?? 0))
        } }
        return y
    }

    static func softmax(_ x: [Float], n: Int) -> [Float] {
        var y = x
        for r in 0..<(x.count / n) {
            let row = x[(r * n)..<(r * n + n)].map(Double.init)
            let mx = row.max()!
            let e = row.map { exp($0 - mx) }, s = e.reduce(0, +)
            for i in 0..<n { y[r * n + i] = Float(e[i] / s) }
        }
        return y
    }

    static func attention(q: [Float], k: [Float], v: [Float], tq: Int, tk: Int, heads: Int, dh: Int) -> [Float] {
        let d = heads * dh
        var out = [Float](repeating: 0, count: tq * d)
        let scale = 1 / Double(dh).squareRoot()
        for h in 0..<heads { for i in 0..<tq {
            var s = [Double](repeating: 0, count: tk)
            for j in 0..<tk {
                var acc = 0.0
                for c in 0..<dh { acc += Double(q[i * d + h * dh + c]) * Double(k[j * d + h * dh + c]) }
                s[j] = acc * scale
            }
            let mx = s.max()!
            let e = s.map { exp($0 - mx) }, z = e.reduce(0, +)
            for c in 0..<dh {
                var acc = 0.0
                for j in 0..<tk { acc += e[j] * Double(v[j * d + h * dh + c]) }
                out[i * d + h * dh + c] = Float(acc / z)
            }
        } }
        return out
    }

    /// Relative L2 error ||a - b|| / ||b|| and the largest absolute difference.
    static func error(_ a: [Float], _ b: [Float]) -> (rel: Double, maxAbs: Double) {
        precondition(a.count == b.count)
        var num = 0.0, den = 0.0, mx = 0.0
        for i in 0..<a.count {
            let d = Double(a[i]) - Double(b[i])
            num += d * d; den += Double(b[i]) * Double(b[i]); mx = max(mx, abs(d))
        }
        return ((num / max(den, 1e-30)).squareRoot(), mx)
    }

    /// Asserts the normalised error is within `budget`, printing it either way.
    static func check(_ name: String, _ got: [Float], _ want: [Float], budget: Double,
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, name, file: file, line: line)
        guard got.count == want.count else { return }
        let e = error(got, want)
        print(String(format: "  %-44@ rel %.2e  max|d| %.2e  (budget %.1e)", name as NSString, e.rel, e.maxAbs, budget))
        XCTAssertLessThanOrEqual(e.rel, budget, "\(name): relative error \(e.rel) over budget \(budget)", file: file, line: line)
        XCTAssertFalse(e.rel.isNaN, "\(name): NaN", file: file, line: line)
    }

    /// Every kernel path this CPU runs (the portable path always).
    static var paths: [KernelPath] { KernelPath.allCases.filter(\.isAvailable) }

    /// Odd shapes of the test plan.
    static let sizes = [1, 7, 33, 100, 257]
}
