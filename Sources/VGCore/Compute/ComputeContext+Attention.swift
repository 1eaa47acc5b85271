import CBLAS
import CVGKernels

/// Multi-head scaled dot-product attention with an online softmax (the flash-attention schedule on a
/// CPU): scores are computed one `[64, 256]` block at a time and never as a full `[Tq, Tk]` matrix.
extension ComputeContext {
    /// Query rows and key columns of one score block. Fixed sizes: the results do not depend on threads.
    static let attentionQueryBlock = 64, attentionKeyBlock = 256

    /// `out = softmax(q kᵀ · scale) v` per head.
    /// - Parameters:
    ///   - q: f32 `[B, Tq, H * Dh]` (or `[Tq, H * Dh]`).
    ///   - k, v: f32 `[B, Tk, H * Dh]` (or `[Tk, H * Dh]`).
    ///   - heads: H; the last dimension must divide into H heads of Dh.
    ///   - scale: defaults to `1 / sqrt(Dh)`.
    ///   - out: f32 with the shape of q; overwritten.
    public func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float? = nil, into out: Tensor) throws {
        guard heads > 0 else { throw VGError.invalidArgument("attention: heads must be positive, got \(heads)") }
        for t in [q, k, v, out] where t.dtype != .f32 { throw VGError.invalidArgument("attention needs f32 tensors, got \(t.dtype)") }
        guard q.shape.count == 2 || q.shape.count == 3, k.shape.count == q.shape.count, v.shape == k.shape, out.shape == q.shape,
              let d = q.shape.last, d == k.shape.last, d > 0, d % heads == 0,
              q.shape.dropLast(2) == k.shape.dropLast(2) else {
            throw VGError.shapeMismatch("attention: q \(q.shape), k \(k.shape), v \(v.shape), out \(out.shape), heads \(heads)")
        }
        let batch = q.shape.count == 3 ? q.shape[0] : 1
        let tq = q.shape[q.shape.count - 2], tk = k.shape[k.shape.count - 2]
        guard tk > 0 || tq == 0 else { throw VGError.shapeMismatch("attention: no keys for \(tq) queries") }
        let dh = d / heads
        try attentionUnchecked(q: q.floats.baseAddress!, k: k.floats.baseAddress!, v: v.floats.baseAddress!, out: out.floats.baseAddress!,
                               batch: batch, tq: tq, tk: tk, heads: heads, headDim: dh,
                               ldq: d, ldk: d, ldv: d, ldo: d, scale: scale ?? 1 / Float(dh).squareRoot())
    }

    /// Unchecked core: row strides are in floats, head h of a row starts at `h * headDim`;
    /// batch b starts at `b * tq * ldq` (queries) and `b * tk * ldk` (keys, values).
    package func attentionUnchecked(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                    out: UnsafeMutablePointer<Float>, batch: Int, tq: Int, tk: Int, heads: Int, headDim dh: Int,
                                    ldq: Int, ldk: Int, ldv: Int, ldo: Int, scale: Float) throws {
        guard batch > 0, tq > 0, tk > 0 else { return }
        let bq = ComputeContext.attentionQueryBlock, bk = ComputeContext.attentionKeyBlock
        let qBlocks = (tq + bq - 1) / bq
        // Per-worker scratch: scores [bq, bk], output accumulator [bq, dh], running max and sum [2 * bq].
        var sBuf: [SharedPointer<Float>] = [], oBuf: [SharedPointer<Float>] = [], statBuf: [SharedPointer<Float>] = []
        for w in 0..<threadCount {
            sBuf.append(SharedPointer(try scratch.buffer(.attentionScores, worker: w, bytes: bq * bk * 4).assumingMemoryBound(to: Float.self)))
            oBuf.append(SharedPointer(try scratch.buffer(.attentionOutput, worker: w, bytes: bq * dh * 4).assumingMemoryBound(to: Float.self)))
            statBuf.append(SharedPointer(try scratch.buffer(.attentionStats, worker: w, bytes: 2 * bq * 4).assumingMemoryBound(to: Float.self)))
        }
        let ops = self.ops, outp = SharedPointer(out)
        pool.parallelFor(batch * heads * qBlocks) { task, worker in
            let qb = task % qBlocks, h = (task / qBlocks) % heads, b = task / (qBlocks * heads)
            let q0 = qb * bq, rows = min(bq, tq - q0)
            let s = sBuf[worker].p, o = oBuf[worker].p, m = statBuf[worker].p, l = statBuf[worker].p + bq
            for r in 0..<rows { m[r] = -.infinity; l[r] = 0 }
            o.update(repeating: 0, count: rows * dh)
            let qp = q + (b * tq + q0) * ldq + h * dh
            let kbase = k + b * tk * ldk + h * dh, vbase = v + b * tk * ldv + h * dh
            var k0 = 0
            while k0 < tk {
                let cols = min(bk, tk - k0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(dh), scale,
                            qp, Int32(ldq), kbase + k0 * ldk, Int32(ldk), 0, s, Int32(bk))
                ops.pointee.attn_block_update(s, rows, cols, bk, m, l, o, dh, dh)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(dh), Int32(cols), 1,
                            s, Int32(bk), vbase + k0 * ldv, Int32(ldv), 1, o, Int32(dh))
                k0 += cols
            }
            for r in 0..<rows {
                let inv = 1 / l[r]
                let dst = outp.p + (b * tq + q0 + r) * ldo + h * dh
                for c in 0..<dh { dst[c] = o[r * dh + c] * inv }
            }
        }
    }
}
