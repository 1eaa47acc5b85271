import CBLAS
import VGCore

extension ComputeContext {
    /// Backward of multi-head scaled dot-product attention (strided rows, head h at column h·Dh).
    /// Per head, with P = softmax(scale Q Kᵀ) recomputed from the saved q and k:
    ///   dV = Pᵀ dO;  dP = dO Vᵀ;  dS = P ⊙ (dP - rowsum(dO ⊙ O));  dQ = scale dS K;  dK = scale dSᵀ Q.
    /// dq, dk, dv are overwritten. Heads run in parallel; the result does not depend on the thread count.
    package func attentionBackwardUnchecked(dOut: UnsafePointer<Float>, ldo: Int, out: UnsafePointer<Float>,
                                            q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
                                            v: UnsafePointer<Float>, ldv: Int,
                                            dq: UnsafeMutablePointer<Float>, lddq: Int, dk: UnsafeMutablePointer<Float>, lddk: Int,
                                            dv: UnsafeMutablePointer<Float>, lddv: Int,
                                            tq: Int, tk: Int, heads: Int, headDim dh: Int, scale: Float) throws {
        guard tq > 0, tk > 0, heads > 0, dh > 0 else { throw VGError.invalidArgument("attentionBackward: empty sizes") }
        let pBytes = try CheckedSize.multiply(try CheckedSize.multiply(tq, tk), 4)
        var pBuf: [SharedPointer<Float>] = [], dpBuf: [SharedPointer<Float>] = []
        for w in 0..<threadCount {
            pBuf.append(SharedPointer(try scratch.buffer(.backwardProbabilities, worker: w, bytes: pBytes).assumingMemoryBound(to: Float.self)))
            dpBuf.append(SharedPointer(try scratch.buffer(.backwardScores, worker: w, bytes: pBytes).assumingMemoryBound(to: Float.self)))
        }
        let (dqp, dkp, dvp) = (SharedPointer(dq), SharedPointer(dk), SharedPointer(dv))
        let ops = self.ops
        pool.parallelFor(heads) { h, worker in
            let p = pBuf[worker].p, dp = dpBuf[worker].p
            let qh = q + h * dh, kh = k + h * dh, vh = v + h * dh, doh = dOut + h * dh, oh = out + h * dh
            // P = softmax(scale Q Kᵀ)   [tq, tk]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tq), Int32(tk), Int32(dh), scale, qh, Int32(ldq), kh, Int32(ldk), 0, p, Int32(tk))
            ops.pointee.softmax_rows(p, tq, tk, tk)
            // dV = Pᵀ dO   [tk, dh]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(tk), Int32(dh), Int32(tq), 1, p, Int32(tk), doh, Int32(ldo), 0,
                        dvp.p + h * dh, Int32(lddv))
            // dP = dO Vᵀ   [tq, tk]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tq), Int32(tk), Int32(dh), 1, doh, Int32(ldo), vh, Int32(ldv), 0, dp, Int32(tk))
            // dS = P ⊙ (dP - Σ_c dO O)
            for i in 0..<tq {
                var dsum: Float = 0
                for c in 0..<dh { dsum += doh[i * ldo + c] * oh[i * ldo + c] }
                let pr = p + i * tk, dr = dp + i * tk
                for j in 0..<tk { dr[j] = pr[j] * (dr[j] - dsum) }
            }
            // dQ = scale dS K;  dK = scale dSᵀ Q
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(tq), Int32(dh), Int32(tk), scale, dp, Int32(tk), kh, Int32(ldk), 0,
                        dqp.p + h * dh, Int32(lddq))
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(tk), Int32(dh), Int32(tq), scale, dp, Int32(tk), qh, Int32(ldq), 0,
                        dkp.p + h * dh, Int32(lddk))
        }
    }
}
