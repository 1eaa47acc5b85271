import CBLAS
import Foundation
import VGCore

/// Backward passes of the compute core's operations, each the neighbour of a forward in VGCore.
/// Argument order: output gradient first, then the saved forward inputs, then the gradients to
/// produce. Parameter gradients always accumulate (`+=`), so a batch accumulates over samples;
/// input gradients are overwritten unless `accumulate` says otherwise.
extension ComputeContext {
    /// Backward of `linear`: y = x Wᵀ + b.
    /// dx = dy W  [M, K];  dW += dyᵀ x  [N, K];  db += Σ_m dy  [N].
    public func linearBackward(_ dy: Tensor, x: Tensor, weight: Tensor, dx: Tensor?, accumulate: Bool = false,
                               dWeight: Tensor, dBias: Tensor?) throws {
        guard weight.shape.count == 2, dWeight.shape == weight.shape, let n = dy.shape.last, let k = x.shape.last,
              weight.shape == [n, k], dy.count / n == x.count / max(k, 1) else {
            throw VGError.shapeMismatch("linearBackward: dy \(dy.shape), x \(x.shape), w \(weight.shape), dW \(dWeight.shape)")
        }
        let m = dy.count / n
        if let dx { guard dx.shape == x.shape else { throw VGError.shapeMismatch("linearBackward: dx \(dx.shape) vs x \(x.shape)") } }
        if let dBias { guard dBias.count == n else { throw VGError.shapeMismatch("linearBackward: db \(dBias.shape)") } }
        let dyp = dy.floats.baseAddress!, xp = x.floats.baseAddress!
        if let dx {
            gemmUnchecked(transA: false, transB: false, m: m, n: k, k: n, alpha: 1, a: dyp, lda: n,
                          b: weight.floats.baseAddress!, ldb: k, beta: accumulate ? 1 : 0, c: dx.floats.baseAddress!, ldc: k)
        }
        gemmUnchecked(transA: true, transB: false, m: n, n: k, k: m, alpha: 1, a: dyp, lda: n, b: xp, ldb: k,
                      beta: 1, c: dWeight.floats.baseAddress!, ldc: k)
        if let dBias {
            let db = dBias.floats
            for r in 0..<m { let row = dyp + r * n; for j in 0..<n { db[j] += row[j] } }
        }
    }

    /// Backward of `layerNorm` over the last dimension (mean and variance are recomputed from x):
    /// dx = rstd (g - mean(g) - x̂ mean(g x̂)) with g = dy γ;  dγ += Σ dy x̂;  dβ += Σ dy.
    public func layerNormBackward(_ dy: Tensor, x: Tensor, gamma: Tensor?, eps: Float = 1e-6, dx: Tensor, accumulate: Bool = false,
                                  dGamma: Tensor?, dBeta: Tensor?) throws {
        guard dy.shape == x.shape, dx.shape == x.shape, let n = x.shape.last, n > 0 else {
            throw VGError.shapeMismatch("layerNormBackward: dy \(dy.shape), x \(x.shape), dx \(dx.shape)")
        }
        for t in [gamma, dGamma, dBeta] { if let t, t.count != n { throw VGError.shapeMismatch("layerNormBackward: vector \(t.shape) for width \(n)") } }
        let rows = x.count / n
        let xs = x.floats.baseAddress!, gs = dy.floats.baseAddress!, out = dx.floats.baseAddress!
        let g = gamma?.floats.baseAddress, dg = dGamma?.floats.baseAddress, db = dBeta?.floats.baseAddress
        var xhat = [Float](repeating: 0, count: n), gx = xhat
        for r in 0..<rows {
            let xr = xs + r * n, dr = gs + r * n, o = out + r * n
            var mean: Float = 0
            for i in 0..<n { mean += xr[i] }
            mean /= Float(n)
            var v: Float = 0
            for i in 0..<n { let d = xr[i] - mean; v += d * d }
            let rstd = 1 / (v / Float(n) + eps).squareRoot()
            var mg: Float = 0, mgx: Float = 0
            for i in 0..<n {
                xhat[i] = (xr[i] - mean) * rstd
                gx[i] = g.map { dr[i] * $0[i] } ?? dr[i]
                mg += gx[i]; mgx += gx[i] * xhat[i]
                if let dg { dg[i] += dr[i] * xhat[i] }
                if let db { db[i] += dr[i] }
            }
            mg /= Float(n); mgx /= Float(n)
            for i in 0..<n {
                let v = rstd * (gx[i] - mg - xhat[i] * mgx)
                o[i] = accumulate ? o[i] + v : v
            }
        }
    }

    /// Backward of `modulate` (y = x̂ (1 + scale) + shift, per-channel vectors over rows):
    /// dx̂ = dy (1 + scale);  dscale += Σ_rows dy x̂;  dshift += Σ_rows dy.
    public func modulateBackward(_ dy: Tensor, xhat: Tensor, scale: Tensor, dx: Tensor, dShift: Tensor, dScale: Tensor) throws {
        guard dy.shape == xhat.shape, dx.shape == xhat.shape, let n = xhat.shape.last,
              scale.count == n, dShift.count == n, dScale.count == n else {
            throw VGError.shapeMismatch("modulateBackward: dy \(dy.shape), x̂ \(xhat.shape), scale \(scale.shape)")
        }
        let rows = xhat.count / n
        let d = dy.floats, x = xhat.floats, s = scale.floats, o = dx.floats, dsh = dShift.floats, dsc = dScale.floats
        for r in 0..<rows {
            for i in 0..<n {
                let g = d[r * n + i]
                dsh[i] += g; dsc[i] += g * x[r * n + i]
                o[r * n + i] = g * (1 + s[i])
            }
        }
    }

    /// Backward of `gatedAdd` for the residual branch r (out = x + gate ⊙ r):
    /// dr = dout ⊙ gate;  dgate += Σ_rows dout ⊙ r.  (The x branch passes dout through unchanged.)
    public func gatedAddBackward(_ dOut: Tensor, r: Tensor, gate: Tensor, dr: Tensor, dGate: Tensor) throws {
        guard dOut.shape == r.shape, dr.shape == r.shape, let n = r.shape.last, gate.count == n, dGate.count == n else {
            throw VGError.shapeMismatch("gatedAddBackward: dOut \(dOut.shape), r \(r.shape), gate \(gate.shape)")
        }
        let rows = r.count / n, d = dOut.floats, rv = r.floats, g = gate.floats, o = dr.floats, dg = dGate.floats
        for j in 0..<rows { for i in 0..<n { let v = d[j * n + i]; dg[i] += v * rv[j * n + i]; o[j * n + i] = v * g[i] } }
    }

    /// Backward of `silu`: dx = dy · σ(x) (1 + x (1 - σ(x))).
    public func siluBackward(_ dy: Tensor, x: Tensor, dx: Tensor) throws {
        guard dy.shape == x.shape, dx.shape == x.shape else { throw VGError.shapeMismatch("siluBackward: \(dy.shape) \(x.shape) \(dx.shape)") }
        let d = dy.floats, xv = x.floats, o = dx.floats
        for i in 0..<xv.count {
            let sg = 1 / (1 + expf(-xv[i]))
            o[i] = d[i] * sg * (1 + xv[i] * (1 - sg))
        }
    }
}

