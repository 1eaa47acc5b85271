import CVGKernels

/// Row-wise operations over the last dimension: softmax, LayerNorm, RMSNorm. Rows are split across
/// the pool in fixed chunks; each row is reduced by one thread in a fixed order.
extension ComputeContext {
    static let rowChunk = 32

    package func forRowChunks(_ rows: Int, _ body: (Int, Int) -> Void) {
        let chunks = (rows + ComputeContext.rowChunk - 1) / ComputeContext.rowChunk
        pool.parallelFor(chunks) { c, _ in body(c * ComputeContext.rowChunk, min(rows, c * ComputeContext.rowChunk + ComputeContext.rowChunk)) }
    }

    private func rowsOf(_ x: Tensor, _ op: String) throws -> (rows: Int, n: Int) {
        guard x.dtype == .f32, let n = x.shape.last, n > 0 else { throw VGError.shapeMismatch("\(op): x \(x.shape) \(x.dtype)") }
        return (x.count / n, n)
    }

    private func vector(_ t: Tensor?, _ n: Int, _ what: String) throws -> UnsafePointer<Float>? {
        guard let t else { return nil }
        guard t.dtype == .f32, t.count == n else { throw VGError.shapeMismatch("\(what) is \(t.shape), expected [\(n)]") }
        return UnsafePointer(t.floats.baseAddress!)
    }

    /// Softmax over the last dimension, in place.
    public func softmax(_ x: Tensor) throws {
        let (rows, n) = try rowsOf(x, "softmax")
        let p = SharedPointer(x.floats.baseAddress!), ops = self.ops
        forRowChunks(rows) { r0, r1 in ops.pointee.softmax_rows(p.p + r0 * n, r1 - r0, n, n) }
    }

    /// `y = (x - mean) / sqrt(var + eps) * gamma + beta` over the last dimension D.
    /// gamma and beta are `[D]` or nil (no affine part).
    public func layerNorm(_ x: Tensor, gamma: Tensor? = nil, beta: Tensor? = nil, eps: Float = 1e-6, into y: Tensor) throws {
        let (rows, n) = try rowsOf(x, "layerNorm")
        guard y.shape == x.shape, y.dtype == .f32 else { throw VGError.shapeMismatch("layerNorm: y \(y.shape), x \(x.shape)") }
        let g = try vector(gamma, n, "layerNorm gamma"), b = try vector(beta, n, "layerNorm beta")
        let xp = SharedPointer(x.floats.baseAddress!), yp = SharedPointer(y.floats.baseAddress!), ops = self.ops
        let gp = g.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }, bp = b.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        forRowChunks(rows) { r0, r1 in
            ops.pointee.layernorm_rows(xp.p + r0 * n, yp.p + r0 * n, r1 - r0, n, gp?.p, bp?.p, eps)
        }
    }

    /// `y = x / sqrt(mean(x²) + eps) * gamma` over the last dimension D; gamma `[D]` or nil.
    public func rmsNorm(_ x: Tensor, gamma: Tensor? = nil, eps: Float = 1e-6, into y: Tensor) throws {
        let (rows, n) = try rowsOf(x, "rmsNorm")
        guard y.shape == x.shape, y.dtype == .f32 else { throw VGError.shapeMismatch("rmsNorm: y \(y.shape), x \(x.shape)") }
        let g = try vector(gamma, n, "rmsNorm gamma")
        let xp = SharedPointer(x.floats.baseAddress!), yp = SharedPointer(y.floats.baseAddress!), ops = self.ops
        let gp = g.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        forRowChunks(rows) { r0, r1 in ops.pointee.rmsnorm_rows(xp.p + r0 * n, yp.p + r0 * n, r1 - r0, n, gp?.p, eps) }
    }
}
