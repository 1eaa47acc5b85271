import Foundation
import CVGKernels

/// Rotary position embedding tables: `cos` and `sin` of `[tokens, headDim / 2]` angles.
///
/// Pairs are half-split: element i of a head rotates with element i + headDim / 2 (as in GPT-NeoX and
/// the Llama family). For video, `threeD` gives each axis (t, y, x) its own share of the pairs, so a
/// token's rotation encodes its frame, row and column; tokens are ordered t-major, then y, then x.
public struct RoPETable: Sendable {
    public let tokens: Int
    public let headDim: Int
    let cos: [Float]   // [tokens, headDim / 2]
    let sin: [Float]   // [tokens, headDim / 2]
    let negSin: [Float] // [tokens, headDim / 2], for the inverse rotation

    /// Positions 0..<tokens along one axis.
    public static func oneD(tokens: Int, headDim: Int, base: Double = 10_000) throws -> RoPETable {
        try threeD(frames: tokens, height: 1, width: 1, headDim: headDim, pairs: (headDim / 2, 0, 0), base: base)
    }

    /// A `frames x height x width` token grid. `pairs` splits the headDim / 2 rotation pairs between
    /// the t, y and x axes (default: y and x get a third each, rounded down; t the rest).
    public static func threeD(frames: Int, height: Int, width: Int, headDim: Int,
                              pairs: (t: Int, y: Int, x: Int)? = nil, base: Double = 10_000) throws -> RoPETable {
        guard headDim > 0, headDim % 2 == 0 else { throw VGError.invalidArgument("RoPE: head dimension \(headDim) must be even and positive") }
        guard frames > 0, height > 0, width > 0 else { throw VGError.invalidArgument("RoPE: grid \(frames)x\(height)x\(width)") }
        let half = headDim / 2
        let split = pairs ?? (half - 2 * (half / 3), half / 3, half / 3)
        guard split.t >= 0, split.y >= 0, split.x >= 0, split.t + split.y + split.x == half else {
            throw VGError.invalidArgument("RoPE: pair split \(split) must add up to \(half)")
        }
        let tokens = try CheckedSize.product([frames, height, width], "RoPE grid")
        let count = try CheckedSize.multiply(tokens, half)
        var c = [Float](repeating: 0, count: count), s = c
        func freqs(_ n: Int) -> [Double] { (0..<n).map { Foundation.pow(base, -Double($0) / Double(n)) } }
        let ft = freqs(split.t), fy = freqs(split.y), fx = freqs(split.x)
        var tok = 0
        for t in 0..<frames { for y in 0..<height { for x in 0..<width {
            var i = tok * half
            for f in ft { let a = Double(t) * f; c[i] = Float(Foundation.cos(a)); s[i] = Float(Foundation.sin(a)); i += 1 }
            for f in fy { let a = Double(y) * f; c[i] = Float(Foundation.cos(a)); s[i] = Float(Foundation.sin(a)); i += 1 }
            for f in fx { let a = Double(x) * f; c[i] = Float(Foundation.cos(a)); s[i] = Float(Foundation.sin(a)); i += 1 }
            tok += 1
        } } }
        return RoPETable(tokens: tokens, headDim: headDim, cos: c, sin: s, negSin: s.map { -$0 })
    }
}

extension ComputeContext {
    /// Unchecked, strided form: rows of `x` are `ld` floats apart and hold `heads` heads of
    /// table.headDim from their start (a fused qkv row rotates q and k with two calls).
    /// `inverse` rotates by the negative angles (the backward pass of a rotation).
    package func applyRoPEUnchecked(_ x: UnsafeMutablePointer<Float>, ld: Int, heads: Int, table: RoPETable, inverse: Bool = false) {
        let ops = self.ops, half = table.headDim / 2, xp = SharedPointer(x)
        table.cos.withUnsafeBufferPointer { cb in (inverse ? table.negSin : table.sin).withUnsafeBufferPointer { sb in
            let cp = SharedPointer(UnsafeMutablePointer(mutating: cb.baseAddress!)), sp = SharedPointer(UnsafeMutablePointer(mutating: sb.baseAddress!))
            forRowChunks(table.tokens) { r0, r1 in
                ops.pointee.rope(xp.p + r0 * ld, r1 - r0, heads, table.headDim, ld, cp.p + r0 * half, sp.p + r0 * half)
            }
        } }
    }

    /// Rotates every head of x in place: x `[B, T, H * Dh]` or `[T, H * Dh]` with T == table.tokens.
    public func applyRoPE(_ x: Tensor, heads: Int, table: RoPETable) throws {
        guard x.dtype == .f32, heads > 0, let d = x.shape.last, d == heads * table.headDim, x.shape.count >= 2,
              x.shape[x.shape.count - 2] == table.tokens else {
            throw VGError.shapeMismatch("applyRoPE: x \(x.shape), heads \(heads), table \(table.tokens) tokens x \(table.headDim)")
        }
        let t = table.tokens, samples = x.count / (t * d)
        let xp = SharedPointer(x.floats.baseAddress!), ops = self.ops, half = table.headDim / 2
        table.cos.withUnsafeBufferPointer { cb in table.sin.withUnsafeBufferPointer { sb in
            let cp = SharedPointer(UnsafeMutablePointer(mutating: cb.baseAddress!)), sp = SharedPointer(UnsafeMutablePointer(mutating: sb.baseAddress!))
            for b in 0..<samples {
                forRowChunks(t) { r0, r1 in
                    ops.pointee.rope(xp.p + (b * t + r0) * d, r1 - r0, heads, table.headDim, d, cp.p + r0 * half, sp.p + r0 * half)
                }
            }
        } }
    }
}
