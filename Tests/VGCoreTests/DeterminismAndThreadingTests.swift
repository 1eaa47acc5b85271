import Synchronization
import XCTest
@testable import VGCore

final class DeterminismAndThreadingTests: XCTestCase {
    /// Every parallel operation gives the same bits with 1 and 2 threads (fixed task grids).
    func testOneAndTwoThreadsBitIdentical() throws {
        let one = try ComputeContext(threads: 1), two = try ComputeContext(threads: 2)
        let (m, k, n) = (300, 257, 520)
        let x = try Tensor(shape: [m, k], values: Ref.gaussian(m * k, seed: 50))
        let w = try Tensor(shape: [n, k], values: Ref.gaussian(n * k, seed: 51))
        for wm in [WeightMatrix.f32(w), .q8(try Q8Matrix(quantizing: w)), .q4(try Q4Matrix(quantizing: w))] {
            XCTAssertEqual(try one.linear(x, wm).toArray(), try two.linear(x, wm).toArray(), "linear \(wm)")
        }
        let (t, d) = (700, 64)
        let q = try Tensor(shape: [t, d], values: Ref.gaussian(t * d, seed: 52))
        let kv = try Tensor(shape: [t, d], values: Ref.gaussian(t * d, seed: 53))
        let o1 = try Tensor(zeros: [t, d]), o2 = try Tensor(zeros: [t, d])
        try one.attention(q: q, k: kv, v: q, heads: 4, into: o1)
        try two.attention(q: q, k: kv, v: q, heads: 4, into: o2)
        XCTAssertEqual(o1.toArray(), o2.toArray(), "attention")
        let y1 = try Tensor(zeros: [t, d]), y2 = try Tensor(zeros: [t, d])
        try one.layerNorm(q, into: y1); try two.layerNorm(q, into: y2)
        XCTAssertEqual(y1.toArray(), y2.toArray(), "layerNorm")
        try one.gelu(q, into: y1); try two.gelu(q, into: y2)
        XCTAssertEqual(y1.toArray(), y2.toArray(), "gelu")
    }

    func testThreadPoolRunsEveryTaskOnce() throws {
        for threads in [1, 2, 3, 8] {
            let pool = try ThreadPool(threads: threads)
            for n in [0, 1, 5, 1000] {
                let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(n, 1))
                hits.initialize(repeating: 0)
                defer { hits.deallocate() }
                let p = SharedPointer(hits.baseAddress!)
                for _ in 0..<20 { pool.parallelFor(n) { i, worker in
                    precondition(worker < threads)
                    p.p[i] += 1
                } }
                XCTAssertTrue(hits.prefix(n).allSatisfy { $0 == 20 }, "threads \(threads) n \(n)")
            }
        }
    }

    func testNestedParallelForRunsInline() throws {
        let pool = try ThreadPool(threads: 2)
        let total = Atomic<Int>(0)
        pool.parallelFor(4) { _, _ in
            pool.parallelFor(10) { _, _ in total.wrappingAdd(1, ordering: .relaxed) }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 40)
    }

    func testInvalidArguments() {
        XCTAssertThrowsError(try ThreadPool(threads: 0))
        XCTAssertThrowsError(try ThreadPool(threads: 100_000))
        XCTAssertThrowsError(try Tensor(zeros: [-1, 3]))
        XCTAssertThrowsError(try Tensor(zeros: [Int.max, 3])) { XCTAssertTrue("\($0)".contains("overflow")) }
        XCTAssertThrowsError(try Tensor(zeros: [2, 3, 4], dtype: .q8))
        XCTAssertThrowsError(try Tensor(shape: [2, 2], values: [1, 2, 3]))
        XCTAssertThrowsError(try CheckedSize.multiply(Int.max / 2, 3))
        XCTAssertThrowsError(try AlignedBuffer(byteCount: -5))
        XCTAssertEqual(try CheckedSize.roundUp(33, to: 32), 64)
    }
}
