import Foundation
import XCTest
@testable import VGCore

final class RowAndElementwiseTests: XCTestCase {
    func testSoftmaxLayerNormRMSNorm() throws {
        for path in Ref.paths {
            let ctx = try ComputeContext(threads: 2, path: path)
            for n in Ref.sizes { for rows in [1, 3, 40] {
                let x = Ref.gaussian(rows * n, seed: 20, scale: 3)
                let g = Ref.gaussian(n, seed: 21), b = Ref.gaussian(n, seed: 22)
                let sx = try Tensor(shape: [rows, n], values: x)
                try ctx.softmax(sx)
                Ref.check("softmax \(path) \(rows)x\(n)", sx.toArray(), Ref.softmax(x, n: n), budget: 1e-6)

                var ln = [Float](repeating: 0, count: rows * n), rms = ln
                for r in 0..<rows {
                    let row = x[(r * n)..<(r * n + n)].map(Double.init)
                    let mean = row.reduce(0, +) / Double(n)
                    let v = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
                    let ms = row.map { $0 * $0 }.reduce(0, +) / Double(n)
                    for i in 0..<n {
                        ln[r * n + i] = Float((row[i] - mean) / (v + 1e-5).squareRoot() * Double(g[i]) + Double(b[i]))
                        rms[r * n + i] = Float(row[i] / (ms + 1e-5).squareRoot() * Double(g[i]))
                    }
                }
                let y = try Tensor(zeros: [rows, n])
                try ctx.layerNorm(sx.copyForTest(x), gamma: try Tensor(shape: [n], values: g), beta: try Tensor(shape: [n], values: b), eps: 1e-5, into: y)
                Ref.check("layerNorm \(path) \(rows)x\(n)", y.toArray(), ln, budget: 1e-5)
                try ctx.rmsNorm(sx.copyForTest(x), gamma: try Tensor(shape: [n], values: g), eps: 1e-5, into: y)
                Ref.check("rmsNorm \(path) \(rows)x\(n)", y.toArray(), rms, budget: 1e-5)
            } }
        }
    }

    func testSoftmaxExtremes() throws {
        for path in Ref.paths {
            let ctx = try ComputeContext(path: path)
            // Large logits, -inf (masked) entries and an all -inf row.
            let x = try Tensor(shape: [2, 9], values: [1000, 999, -.infinity, 0, -1000, 5, 5, -.infinity, 1,
                                                       -.infinity, -.infinity, -.infinity, -.infinity, -.infinity, -.infinity, -.infinity, -.infinity, -.infinity])
            try ctx.softmax(x)
            let y = x.toArray()
            XCTAssertTrue(y.allSatisfy(\.isFinite), "\(path): \(y)")
            XCTAssertEqual(Double(y[0..<9].reduce(0, +)), 1, accuracy: 1e-6)
            XCTAssertEqual(y[2], 0)
            XCTAssertEqual(Array(y[9...]), [Float](repeating: 0, count: 9))
        }
    }

    /// Inputs of the activation tests on every path: for each size, Gaussian values of scale 4 and,
    /// from 8 values on, the extremes 100, -100, 0 and 1e-8 first.
    func forActivationInputs(seed: UInt64, _ body: (ComputeContext, KernelPath, Int, [Float]) throws -> Void) throws {
        for path in Ref.paths {
            let ctx = try ComputeContext(threads: 2, path: path)
            for n in Ref.sizes + [40000] {
                var x = Ref.gaussian(n, seed: seed, scale: 4)
                if n > 7 { x[0] = 100; x[1] = -100; x[2] = 0; x[3] = 1e-8 }
                try body(ctx, path, n, x)
            }
        }
    }

    func testActivations() throws {
        try forActivationInputs(seed: 23) { ctx, path, n, x in
            let gelu = x.map { v -> Float in let d = Double(v); return Float(0.5 * d * (1 + tanh(0.7978845608028654 * (d + 0.044715 * d * d * d)))) }
            let silu = x.map { v -> Float in let d = Double(v); return Float(d / (1 + exp(-d))) }
            // gelu(x) for very negative x is a tiny difference of O(1) terms, so float formulas have
            // absolute (not relative) error: budget |d| <= 1e-6 * max(1, |x|) per element.
            let t = try Tensor(shape: [n], values: x), y = try Tensor(zeros: [n])
            for (name, want) in [("gelu", gelu), ("silu", silu)] {
                if name == "gelu" { try ctx.gelu(t, into: y) } else { try ctx.silu(t, into: y) }
                let got = y.toArray()
                let worst = (0..<n).map { Double(abs(got[$0] - want[$0])) / Double(max(1, abs(x[$0]))) }.max()!
                print(String(format: "  %@ %@ n=%d max |d| / max(1, |x|) = %.2e (budget 1e-6)", name, path.rawValue, n, worst))
                XCTAssertLessThanOrEqual(worst, 1e-6, "\(name) \(path) n=\(n)")
            }
        }
    }

    /// gelu's backward on every path against the derivative in Double, out of place and in place.
    func testGeluBackward() throws {
        try forActivationInputs(seed: 31) { ctx, path, n, x in
            let dy = Ref.gaussian(n, seed: 32)
            let want = (0..<n).map { i -> Double in
                let v = Double(x[i]), c = 0.7978845608028654, t = tanh(c * (v + 0.044715 * v * v * v))
                return Double(dy[i]) * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v))
            }
            let xt = try Tensor(shape: [n], values: x), dyt = try Tensor(shape: [n], values: dy), dx = try Tensor(zeros: [n])
            try ctx.geluBackward(dyt, x: xt, dx: dx)
            let got = dx.toArray()
            let worst = (0..<n).map { abs(Double(got[$0]) - want[$0]) / max(1, abs(Double(dy[$0]))) }.max()!
            print(String(format: "  geluBackward %@ n=%d max |d| / max(1, |dy|) = %.2e (budget 1e-6)", path.rawValue, n, worst))
            XCTAssertLessThanOrEqual(worst, 1e-6, "geluBackward \(path) n=\(n)")
            try ctx.geluBackward(dyt, x: xt, dx: dyt)   // in place
            XCTAssertEqual(dyt.toArray(), got, "geluBackward in place \(path) n=\(n)")
            XCTAssertThrowsError(try ctx.geluBackward(try Tensor(zeros: [3]), x: try Tensor(zeros: [4]), dx: try Tensor(zeros: [4])))
        }
    }

    func testModulateAndGatedAdd() throws {
        for path in Ref.paths {
            let ctx = try ComputeContext(threads: 2, path: path)
            for d in Ref.sizes {
                let (b, t) = (2, 33)
                let x = Ref.gaussian(b * t * d, seed: 24), shift = Ref.gaussian(b * d, seed: 25), scale = Ref.gaussian(b * d, seed: 26)
                var want = x, gated = x
                let r = Ref.gaussian(b * t * d, seed: 27)
                for s in 0..<b { for i in 0..<t { for c in 0..<d {
                    let j = (s * t + i) * d + c
                    want[j] = x[j] * (1 + scale[s * d + c]) + shift[s * d + c]
                    gated[j] = x[j] + scale[s * d + c] * r[j]
                } } }
                let xt = try Tensor(shape: [b, t, d], values: x), y = try Tensor(zeros: [b, t, d])
                try ctx.modulate(xt, shift: try Tensor(shape: [b, d], values: shift), scale: try Tensor(shape: [b, d], values: scale), into: y)
                Ref.check("modulate \(path) d=\(d)", y.toArray(), want, budget: 1e-6)
                try ctx.gatedAdd(xt, try Tensor(shape: [b, t, d], values: r), gate: try Tensor(shape: [b, d], values: scale))
                Ref.check("gatedAdd \(path) d=\(d)", xt.toArray(), gated, budget: 1e-6)
            }
        }
    }

    func testRoPE1DAnd3D() throws {
        let ctx = try ComputeContext(threads: 2)
        // 1-D: rotating (x_i, x_{i+d/2}) by pos * base^(-i/(d/2)).
        let (tokens, heads, dh) = (33, 2, 8)
        let x = Ref.gaussian(tokens * heads * dh, seed: 28)
        var want = x
        for t in 0..<tokens { for h in 0..<heads { for i in 0..<(dh / 2) {
            let a = Double(t) * pow(10_000, -Double(i) / Double(dh / 2))
            let j = t * heads * dh + h * dh + i
            let (u, v) = (Double(x[j]), Double(x[j + dh / 2]))
            want[j] = Float(u * cos(a) - v * sin(a)); want[j + dh / 2] = Float(u * sin(a) + v * cos(a))
        } } }
        let xt = try Tensor(shape: [tokens, heads * dh], values: x)
        try ctx.applyRoPE(xt, heads: heads, table: try RoPETable.oneD(tokens: tokens, headDim: dh))
        Ref.check("rope 1-D 33 tokens", xt.toArray(), want, budget: 1e-6)

        // 3-D: a token's rotation depends on (t, y, x) separately; relative property: the score of two
        // rotated vectors depends only on the position difference.
        let table = try RoPETable.threeD(frames: 3, height: 4, width: 5, headDim: 12)
        XCTAssertEqual(table.tokens, 60)
        let q = Ref.gaussian(12, seed: 29), k = Ref.gaussian(12, seed: 30)
        func score(_ pq: Int, _ pk: Int) throws -> Double {
            let a = try Tensor(shape: [60, 12], values: Array(repeating: q, count: 60).flatMap { $0 })
            let b = try Tensor(shape: [60, 12], values: Array(repeating: k, count: 60).flatMap { $0 })
            try ctx.applyRoPE(a, heads: 1, table: table); try ctx.applyRoPE(b, heads: 1, table: table)
            let av = a.toArray(), bv = b.toArray()
            return (0..<12).reduce(0.0) { $0 + Double(av[pq * 12 + $1]) * Double(bv[pk * 12 + $1]) }
        }
        // token index = (t * 4 + y) * 5 + x; shift both by one frame, one row, one column.
        XCTAssertEqual(try score(0, 26), try score(26, 52), accuracy: 1e-4)
        XCTAssertNotEqual(try score(0, 26), try score(0, 27), accuracy: 1e-4)
        XCTAssertThrowsError(try RoPETable.threeD(frames: 1, height: 1, width: 1, headDim: 7))
        XCTAssertThrowsError(try ctx.applyRoPE(xt, heads: 3, table: table))
    }

    func testFloat16Conversion() throws {
        // Every binary16 value widens exactly and narrows back to itself (NaNs stay NaN), on every path.
        var halves = [UInt16](0...UInt16.max)
        var wide = [Float](repeating: 0, count: halves.count)
        for path in Ref.paths {
            let ops = path.ops!.pointee
            halves.withUnsafeBufferPointer { h in wide.withUnsafeMutableBufferPointer { f in ops.f16_to_f32(h.baseAddress!, f.baseAddress!, h.count) } }
            var back = [UInt16](repeating: 0, count: halves.count)
            wide.withUnsafeBufferPointer { f in back.withUnsafeMutableBufferPointer { h in ops.f32_to_f16(f.baseAddress!, h.baseAddress!, f.count) } }
            for i in 0..<halves.count {
                let isNaN = (halves[i] & 0x7C00) == 0x7C00 && (halves[i] & 0x3FF) != 0
                if isNaN { XCTAssertTrue(wide[i].isNaN); XCTAssertTrue((back[i] & 0x7C00) == 0x7C00 && (back[i] & 0x3FF) != 0); continue }
                XCTAssertEqual(back[i], halves[i], "\(path) half \(halves[i])")
                XCTAssertEqual(Float(Float16(bitPattern: halves[i])), wide[i], "\(path) widen \(halves[i])")
            }
            // Narrowing random floats rounds to nearest even, like Swift's Float16 (the reference).
            let xs = Ref.gaussian(10_000, seed: 31, scale: 3000) + [65519, 65520, 1e-8, 6e-8, -3e-5, 1e9, -.infinity]
            var hs = [UInt16](repeating: 0, count: xs.count)
            xs.withUnsafeBufferPointer { f in hs.withUnsafeMutableBufferPointer { h in ops.f32_to_f16(f.baseAddress!, h.baseAddress!, f.count) } }
            for (x, h) in zip(xs, hs) { XCTAssertEqual(h, Float16(x).bitPattern, "\(path) narrow \(x)") }
        }
        halves.removeAll()
    }
}

extension Tensor {
    /// A fresh f32 tensor of this shape holding `values` (tests reuse shapes with new contents).
    func copyForTest(_ values: [Float]) throws -> Tensor { try Tensor(shape: shape, values: values) }
}
