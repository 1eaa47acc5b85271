import CVGKernels

/// Elementwise operations: activations, adaLN modulation, gated residuals.
extension ComputeContext {
    static let elementChunk = 16384

    private func sameShape(_ x: Tensor, _ y: Tensor, _ op: String) throws {
        guard x.dtype == .f32, y.dtype == .f32, x.shape == y.shape else {
            throw VGError.shapeMismatch("\(op): x \(x.shape) \(x.dtype), y \(y.shape) \(y.dtype)")
        }
    }

    private func forChunks(_ n: Int, _ body: (Int, Int) -> Void) {
        let c = ComputeContext.elementChunk
        pool.parallelFor((n + c - 1) / c) { i, _ in body(i * c, min(n, i * c + c)) }
    }

    /// `y = gelu(x)` (tanh approximation); y may be x.
    public func gelu(_ x: Tensor, into y: Tensor) throws {
        try sameShape(x, y, "gelu")
        let xp = SharedPointer(x.floats.baseAddress!), yp = SharedPointer(y.floats.baseAddress!), ops = self.ops
        forChunks(x.count) { a, b in ops.pointee.gelu(xp.p + a, yp.p + a, b - a) }
    }

    /// Backward of ``gelu(_:into:)``: `dx = dy · gelu'(x)` for the tanh form; dx may be dy.
    public func geluBackward(_ dy: Tensor, x: Tensor, dx: Tensor) throws {
        try sameShape(dy, x, "geluBackward"); try sameShape(x, dx, "geluBackward")
        let dp = SharedPointer(dy.floats.baseAddress!), xp = SharedPointer(x.floats.baseAddress!)
        let op = SharedPointer(dx.floats.baseAddress!), ops = self.ops
        forChunks(x.count) { a, b in ops.pointee.gelu_backward(dp.p + a, xp.p + a, op.p + a, b - a) }
    }

    /// `y = x * sigmoid(x)`; y may be x.
    public func silu(_ x: Tensor, into y: Tensor) throws {
        try sameShape(x, y, "silu")
        let xp = SharedPointer(x.floats.baseAddress!), yp = SharedPointer(y.floats.baseAddress!), ops = self.ops
        forChunks(x.count) { a, b in ops.pointee.silu(xp.p + a, yp.p + a, b - a) }
    }

    /// Per-sample channel vectors for `[B, T, D]` tensors: `[D]` (shared) or `[B, D]`.
    private func perSample(_ v: Tensor, _ x: Tensor, _ what: String) throws -> (batch: Int, perBatchStride: Int) {
        guard let d = x.shape.last, v.dtype == .f32 else { throw VGError.shapeMismatch("\(what): \(v.shape) \(v.dtype)") }
        if v.count == d { return (1, 0) }
        let b = x.shape.count == 3 ? x.shape[0] : 1
        guard v.shape == [b, d] else { throw VGError.shapeMismatch("\(what) is \(v.shape); expected [\(d)] or [\(b), \(d)] for x \(x.shape)") }
        return (b, d)
    }

    /// adaLN modulation `y = x * (1 + scale) + shift` over the last dimension. x `[B, T, D]` or `[T, D]`;
    /// shift and scale `[D]` or `[B, D]`. y may be x.
    public func modulate(_ x: Tensor, shift: Tensor, scale: Tensor, into y: Tensor) throws {
        try sameShape(x, y, "modulate")
        let (_, ss) = try perSample(shift, x, "modulate shift"), (_, cs) = try perSample(scale, x, "modulate scale")
        let d = x.shape.last!, rowsPerSample = x.shape.count == 3 ? x.shape[1] : x.count / d, samples = x.count / max(d * rowsPerSample, 1)
        let xp = SharedPointer(x.floats.baseAddress!), yp = SharedPointer(y.floats.baseAddress!), ops = self.ops
        let sh = SharedPointer(shift.floats.baseAddress!), sc = SharedPointer(scale.floats.baseAddress!)
        for b in 0..<samples {
            let base = b * rowsPerSample * d
            forRowChunks(rowsPerSample) { r0, r1 in
                ops.pointee.modulate_rows(xp.p + base + r0 * d, yp.p + base + r0 * d, r1 - r0, d, sh.p + b * ss, sc.p + b * cs)
            }
        }
    }

    /// Gated residual `x += gate * r` (adaLN-Zero) over the last dimension; gate `[D]`, `[B, D]` or nil (`x += r`).
    public func gatedAdd(_ x: Tensor, _ r: Tensor, gate: Tensor?) throws {
        try sameShape(x, r, "gatedAdd")
        let d = x.shape.last!, rowsPerSample = x.shape.count == 3 ? x.shape[1] : x.count / d, samples = x.count / max(d * rowsPerSample, 1)
        var gs = 0
        if let gate { gs = try perSample(gate, x, "gatedAdd gate").perBatchStride }
        let xp = SharedPointer(x.floats.baseAddress!), rp = SharedPointer(r.floats.baseAddress!), ops = self.ops
        let gp = gate.map { SharedPointer($0.floats.baseAddress!) }
        for b in 0..<samples {
            let base = b * rowsPerSample * d
            forRowChunks(rowsPerSample) { r0, r1 in
                ops.pointee.gated_add_rows(xp.p + base + r0 * d, rp.p + base + r0 * d, r1 - r0, d, gp.map { $0.p + b * gs })
            }
        }
    }
}
