import XCTest
@testable import VGCore

final class LinearTests: XCTestCase {
    /// f32 linear (OpenBLAS through the pool) against the naive reference at odd shapes, with bias.
    func testF32LinearMatchesReference() throws {
        for path in Ref.paths {
            let ctx = try ComputeContext(threads: 2, path: path)
            for m in Ref.sizes { for (k, n) in [(7, 33), (100, 1), (257, 100), (33, 257)] {
                let x = Ref.gaussian(m * k, seed: 1), w = Ref.gaussian(n * k, seed: 2), b = Ref.gaussian(n, seed: 3)
                let y = try ctx.linear(try Tensor(shape: [m, k], values: x), .f32(try Tensor(shape: [n, k], values: w)),
                                       bias: try Tensor(shape: [n], values: b))
                Ref.check("f32 \(path) \(m)x\(k)x\(n)", y.toArray(), Ref.linear(x, w, b, m: m, k: k, n: n), budget: 1e-5)
            } }
        }
    }

    /// int8 and int4 GEMMs against the f32 product of the same (dequantised) weights: the remaining
    /// error is the activation quantisation (7-bit rows for q8, 8-bit for q4) plus, for q4, the
    /// 10-bit re-expression of the group scales.
    func testQuantizedLinearWithinBudget() throws {
        for path in Ref.paths {
            let ctx = try ComputeContext(threads: 2, path: path)
            for m in Ref.sizes { for (k, n) in [(7, 33), (100, 1), (257, 100), (33, 257)] {
                let x = Ref.gaussian(m * k, seed: 4), w = Ref.gaussian(n * k, seed: 5), b = Ref.gaussian(n, seed: 6)
                let wt = try Tensor(shape: [n, k], values: w), xt = try Tensor(shape: [m, k], values: x)
                let bt = try Tensor(shape: [n], values: b)
                let q8 = try Q8Matrix(quantizing: wt), q4 = try Q4Matrix(quantizing: wt)
                let y8 = try ctx.linear(xt, .q8(q8), bias: bt).toArray()
                let y4 = try ctx.linear(xt, .q4(q4), bias: bt).toArray()
                Ref.check("q8 \(path) \(m)x\(k)x\(n) vs dequantised", y8,
                          Ref.linear(x, try q8.dequantized().toArray(), b, m: m, k: k, n: n), budget: 2.5e-2)
                Ref.check("q4 \(path) \(m)x\(k)x\(n) vs dequantised", y4,
                          Ref.linear(x, try q4.dequantized().toArray(), b, m: m, k: k, n: n), budget: 1.5e-2)
            } }
        }
    }

    /// The integer GEMMs promise the same bits on every path (exact integer sums, fixed float order).
    func testQuantizedLinearBitIdenticalAcrossPaths() throws {
        let paths = Ref.paths
        guard paths.count > 1 else { throw XCTSkip("only the portable path runs on this CPU") }
        for (m, k, n) in [(1, 7, 3), (9, 33, 5), (17, 257, 33), (40, 2100, 3), (8, 64, 2)] {
            let xt = try Tensor(shape: [m, k], values: Ref.gaussian(m * k, seed: 7))
            let wt = try Tensor(shape: [n, k], values: Ref.gaussian(n * k, seed: 8))
            for w in [WeightMatrix.q8(try Q8Matrix(quantizing: wt)), .q4(try Q4Matrix(quantizing: wt))] {
                let outs = try paths.map { try ComputeContext(threads: 1, path: $0).linear(xt, w).toArray() }
                for (p, o) in zip(paths.dropFirst(), outs.dropFirst()) {
                    XCTAssertEqual(o, outs[0], "\(p) differs from portable at \(m)x\(k)x\(n) (\(w))")
                }
            }
        }
    }

    func testQuantizationRoundTripBudgets() throws {
        // Gaussian weights, rows long enough to be typical of the model (K = 384).
        let (n, k) = (64, 384)
        let w = Ref.gaussian(n * k, seed: 9)
        let wt = try Tensor(shape: [n, k], values: w)
        let e8 = Ref.error(try Q8Matrix(quantizing: wt).dequantized().toArray(), w)
        let e4 = Ref.error(try Q4Matrix(quantizing: wt).dequantized().toArray(), w)
        print(String(format: "  q8 round trip rel %.2e, q4 round trip rel %.2e", e8.rel, e4.rel))
        XCTAssertLessThan(e8.rel, 1e-2, "q8 budget")
        XCTAssertLessThan(e4.rel, 0.12, "q4 budget (4.5 bits per weight)")
        // Canonical tensor form round trip is exact.
        let q8 = try Q8Matrix(quantizing: wt), q4 = try Q4Matrix(quantizing: wt)
        XCTAssertEqual(try Q8Matrix(tensor: try q8.tensor()).dequantized().toArray(), try q8.dequantized().toArray())
        XCTAssertEqual(try Q4Matrix(tensor: try q4.tensor()).dequantized().toArray(), try q4.dequantized().toArray())
    }

    func testZeroRowsAndPadding() throws {
        // An all-zero weight row and an all-zero activation row give exact zeros (no NaN from 0/0).
        let ctx = try ComputeContext()
        var w = Ref.gaussian(3 * 40, seed: 10)
        for i in 40..<80 { w[i] = 0 }
        var x = Ref.gaussian(2 * 40, seed: 11)
        for i in 0..<40 { x[i] = 0 }
        let xt = try Tensor(shape: [2, 40], values: x), wt = try Tensor(shape: [3, 40], values: w)
        for wm in [WeightMatrix.q8(try Q8Matrix(quantizing: wt)), .q4(try Q4Matrix(quantizing: wt))] {
            let y = try ctx.linear(xt, wm).toArray()
            XCTAssertEqual(Array(y[0..<3]), [0, 0, 0])
            XCTAssertEqual(y[4], 0)
            XCTAssertTrue(y.allSatisfy(\.isFinite))
        }
    }

    func testGemmTransposesAndStrides() throws {
        let ctx = try ComputeContext(threads: 2)
        let (m, n, k) = (33, 17, 9)
        let a = Ref.gaussian(k * m, seed: 12), b = Ref.gaussian(n * k, seed: 13)   // A stored [k, m], B stored [k, n]
        var c = [Float](repeating: 1, count: m * n)
        try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in try c.withUnsafeMutableBufferPointer { cp in
            try ctx.gemm(transA: true, transB: false, m: m, n: n, k: k, alpha: 2, a: ap, lda: m, b: bp, ldb: n, beta: 0.5, c: cp, ldc: n)
        } } }
        var want = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for t in 0..<k { s += Double(a[t * m + i]) * Double(b[t * n + j]) }
            want[i * n + j] = Float(2 * s + 0.5)
        } }
        Ref.check("gemm Aᵀ B, alpha 2, beta 0.5", c, want, budget: 1e-5)
    }

    func testBadShapesThrow() throws {
        let ctx = try ComputeContext()
        let x = try Tensor(zeros: [4, 7]), w = try Tensor(zeros: [8, 6])
        XCTAssertThrowsError(try ctx.linear(x, .f32(w))) { XCTAssertTrue("\($0)".contains("linear")) }
        XCTAssertThrowsError(try ctx.linear(try Tensor(zeros: [4, 6]), .f32(w), bias: try Tensor(zeros: [7])))
        XCTAssertThrowsError(try ctx.linear(try Tensor(zeros: [4, 6]), .f32(w), into: try Tensor(zeros: [4, 9])))
        var small = [Float](repeating: 0, count: 10)
        XCTAssertThrowsError(try small.withUnsafeMutableBufferPointer { c in
            try ctx.gemm(transA: false, transB: false, m: 4, n: 4, k: 4, a: UnsafeBufferPointer(c), lda: 4,
                         b: UnsafeBufferPointer(c), ldb: 4, c: c, ldc: 4)
        })
        XCTAssertThrowsError(try Q8Matrix(quantizing: try Tensor(zeros: [3, 4, 5])))
        XCTAssertThrowsError(try Q4Matrix(tensor: try Tensor(zeros: [3, 4])))
    }
}
