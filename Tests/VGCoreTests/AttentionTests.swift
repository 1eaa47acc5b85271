import XCTest
@testable import VGCore

final class AttentionTests: XCTestCase {
    /// Online-softmax attention against the materialised reference, at odd lengths that straddle the
    /// 64-query and 256-key blocks, for every path.
    func testAttentionMatchesReference() throws {
        for path in Ref.paths {
            let ctx = try ComputeContext(threads: 2, path: path)
            for (tq, tk) in [(1, 1), (7, 33), (33, 7), (100, 257), (257, 100), (65, 600)] {
                let (heads, dh) = (2, 16), d = 32
                let q = Ref.gaussian(tq * d, seed: 40, scale: 2), k = Ref.gaussian(tk * d, seed: 41, scale: 2), v = Ref.gaussian(tk * d, seed: 42)
                let out = try Tensor(zeros: [tq, d])
                try ctx.attention(q: try Tensor(shape: [tq, d], values: q), k: try Tensor(shape: [tk, d], values: k),
                                  v: try Tensor(shape: [tk, d], values: v), heads: heads, into: out)
                Ref.check("attention \(path) Tq \(tq) Tk \(tk)", out.toArray(),
                          Ref.attention(q: q, k: k, v: v, tq: tq, tk: tk, heads: heads, dh: dh), budget: 1e-5)
            }
        }
    }

    func testBatchedAttentionEqualsPerSample() throws {
        let ctx = try ComputeContext(threads: 2)
        let (b, t, d, heads) = (3, 70, 24, 3)
        let q = Ref.gaussian(b * t * d, seed: 43), k = Ref.gaussian(b * t * d, seed: 44), v = Ref.gaussian(b * t * d, seed: 45)
        let out = try Tensor(zeros: [b, t, d])
        try ctx.attention(q: try Tensor(shape: [b, t, d], values: q), k: try Tensor(shape: [b, t, d], values: k),
                          v: try Tensor(shape: [b, t, d], values: v), heads: heads, into: out)
        let all = out.toArray()
        for s in 0..<b {
            let r = s * t * d..<(s + 1) * t * d
            let one = try Tensor(zeros: [t, d])
            try ctx.attention(q: try Tensor(shape: [t, d], values: Array(q[r])), k: try Tensor(shape: [t, d], values: Array(k[r])),
                              v: try Tensor(shape: [t, d], values: Array(v[r])), heads: heads, into: one)
            XCTAssertEqual(Array(all[r]), one.toArray(), "sample \(s)")
        }
    }

    func testAttentionBadInput() throws {
        let ctx = try ComputeContext()
        let q = try Tensor(zeros: [4, 8]), k = try Tensor(zeros: [5, 8]), o = try Tensor(zeros: [4, 8])
        XCTAssertThrowsError(try ctx.attention(q: q, k: k, v: k, heads: 3, into: o))
        XCTAssertThrowsError(try ctx.attention(q: q, k: k, v: k, heads: 0, into: o))
        XCTAssertThrowsError(try ctx.attention(q: q, k: try Tensor(zeros: [5, 6]), v: k, heads: 2, into: o))
        XCTAssertThrowsError(try ctx.attention(q: q, k: k, v: try Tensor(zeros: [4, 8]), heads: 2, into: o))
        XCTAssertNoThrow(try ctx.attention(q: q, k: k, v: k, heads: 2, into: o))
    }
}
