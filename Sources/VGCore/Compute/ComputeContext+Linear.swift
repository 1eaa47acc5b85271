import CBLAS
import CVGKernels

/// Matrix products: `linear` (y = x W^T + b, with f32 / int8 / int4 weights) and a general f32 `gemm`.
extension ComputeContext {
    /// Output tile of one pool task in the f32 GEMM. Fixed (never derived from the thread count) so
    /// that the same shapes always make the same OpenBLAS calls and the same bits.
    static let gemmTileRows = 256, gemmTileCols = 256
    /// Output tile of one task in the quantised GEMMs: a weight panel of 64 rows x K stays in L2.
    static let qTileRows = 64, qTileCols = 64

    /// `y = x · wᵀ + bias`, the linear layer.
    /// - Parameters:
    ///   - x: f32 `[..., K]` (leading dimensions are rows M).
    ///   - w: weights `[N, K]`.
    ///   - bias: f32 `[N]` or nil.
    ///   - y: f32 `[..., N]` with the leading dimensions of x; overwritten.
    public func linear(_ x: Tensor, _ w: WeightMatrix, bias: Tensor? = nil, into y: Tensor) throws {
        let k = w.inFeatures, n = w.outFeatures
        guard x.dtype == .f32, y.dtype == .f32, let xk = x.shape.last, xk == k, y.shape.last == n,
              Array(x.shape.dropLast()) == Array(y.shape.dropLast()) else {
            throw VGError.shapeMismatch("linear: x \(x.shape) \(x.dtype), w [\(n), \(k)], y \(y.shape) \(y.dtype)")
        }
        if let b = bias { guard b.dtype == .f32, b.count == n else { throw VGError.shapeMismatch("linear: bias \(b.shape), expected [\(n)]") } }
        let m = x.count / max(k, 1)
        try linearUnchecked(x: x.floats.baseAddress!, m: m, w: w, bias: bias?.floats.baseAddress, y: y.floats.baseAddress!)
    }

    /// Allocating form of `linear(_:_:bias:into:)`.
    public func linear(_ x: Tensor, _ w: WeightMatrix, bias: Tensor? = nil) throws -> Tensor {
        let y = try Tensor(zeros: Array(x.shape.dropLast()) + [w.outFeatures])
        try linear(x, w, bias: bias, into: y)
        return y
    }

    /// Unchecked core of `linear`: x `[m, K]`, y `[m, N]`, both contiguous.
    package func linearUnchecked(x: UnsafePointer<Float>, m: Int, w: WeightMatrix, bias: UnsafePointer<Float>?,
                                 y: UnsafeMutablePointer<Float>) throws {
        let n = w.outFeatures, k = w.inFeatures
        guard m > 0, n > 0 else { return }
        switch w {
        case .f32(let wt):
            gemmUnchecked(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: x, lda: k,
                          b: wt.floats.baseAddress!, ldb: k, beta: 0, c: y, ldc: n)
            if let bias { kernels.add_bias_rows(y, m, n, n, bias) }
        case .q8(let q):
            let act = try quantizeActivations(x, m: m, k: k, kp: q.kp, range: VGK_Q8_ACT_RANGE)
            var a = act.view, wv = q.kernelView
            let ops = self.ops
            forEachQuantTile(m: m, n: n) { m0, m1, n0, n1 in ops.pointee.gemm_q8(&a, &wv, bias, y, n, m0, m1, n0, n1) }
        case .q4(let q):
            let act = try quantizeActivations(x, m: m, k: k, kp: q.kp, range: VGK_Q4_ACT_RANGE)
            var a = act.view, wv = q.kernelView
            let ops = self.ops
            forEachQuantTile(m: m, n: n) { m0, m1, n0, n1 in ops.pointee.gemm_q4(&a, &wv, bias, y, n, m0, m1, n0, n1) }
        }
    }

    /// Activations quantised per row into scratch (codes `[m, kp]`, scales `[m]`).
    private func quantizeActivations(_ x: UnsafePointer<Float>, m: Int, k: Int, kp: Int, range: Int32) throws -> (view: vgk_act, Void) {
        let codes = try scratch.buffer(.quantizedActivations, bytes: try CheckedSize.multiply(m, kp)).assumingMemoryBound(to: UInt8.self)
        let scales = try scratch.buffer(.activationScales, bytes: m * 4).assumingMemoryBound(to: Float.self)
        let (c, s) = (SharedPointer(codes), SharedPointer(scales)), ops = self.ops
        pool.parallelFor((m + 63) / 64) { t, _ in
            for r in t * 64..<min(m, t * 64 + 64) { ops.pointee.quantize_act(x + r * k, k, kp, range, c.p + r * kp, s.p + r) }
        }
        return (vgk_act(u: codes, scale: scales, kp: kp, offset: range + 1), ())
    }

    private func forEachQuantTile(m: Int, n: Int, _ body: (Int, Int, Int, Int) -> Void) {
        let tr = ComputeContext.qTileRows, tc = ComputeContext.qTileCols
        let mt = (m + tr - 1) / tr, nt = (n + tc - 1) / tc
        // Column panels outermost: consecutive tasks share the weight panel.
        pool.parallelFor(mt * nt) { t, _ in
            let (j, i) = (t / mt, t % mt)
            body(i * tr, min(m, i * tr + tr), j * tc, min(n, j * tc + tc))
        }
    }

    /// General f32 product `C = alpha op(A) op(B) + beta C`, row-major, like `cblas_sgemm`, split into
    /// fixed output tiles over the pool (each tile one single-threaded OpenBLAS call).
    /// - Throws: `VGError.shapeMismatch` when a buffer is too small for the sizes and strides.
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                     a: UnsafeBufferPointer<Float>, lda: Int, b: UnsafeBufferPointer<Float>, ldb: Int,
                     beta: Float = 0, c: UnsafeMutableBufferPointer<Float>, ldc: Int) throws {
        guard m >= 0, n >= 0, k >= 0 else { throw VGError.invalidArgument("gemm: negative size m \(m) n \(n) k \(k)") }
        if m == 0 || n == 0 { return }
        func need(_ rows: Int, _ cols: Int, _ ld: Int, _ have: Int, _ what: String) throws {
            guard ld >= max(cols, 1) else { throw VGError.shapeMismatch("gemm: \(what) leading dimension \(ld) < \(cols)") }
            let last = try CheckedSize.add(try CheckedSize.multiply(max(rows - 1, 0), ld), cols)
            guard rows == 0 || cols == 0 || last <= have else {
                throw VGError.shapeMismatch("gemm: \(what) needs \(last) elements, has \(have)")
            }
        }
        try need(transA ? k : m, transA ? m : k, lda, a.count, "A")
        try need(transB ? n : k, transB ? k : n, ldb, b.count, "B")
        try need(m, n, ldc, c.count, "C")
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        gemmUnchecked(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.baseAddress!, lda: lda,
                      b: b.baseAddress!, ldb: ldb, beta: beta, c: c.baseAddress!, ldc: ldc)
    }

    package func gemmUnchecked(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let tr = ComputeContext.gemmTileRows, tc = ComputeContext.gemmTileCols
        let mt = (m + tr - 1) / tr, nt = (n + tc - 1) / tc
        let cp = SharedPointer(c)
        pool.parallelFor(mt * nt) { t, _ in
            let (j, i) = (t / mt, t % mt)
            let m0 = i * tr, n0 = j * tc
            let mm = min(tr, m - m0), nn = min(tc, n - n0)
            let aT = transA ? a + m0 : a + m0 * lda
            let bT = transB ? b + n0 * ldb : b + n0
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(mm), Int32(nn), Int32(k), alpha, aT, Int32(lda), bT, Int32(ldb), beta,
                        cp.p + m0 * ldc + n0, Int32(ldc))
        }
    }
}
