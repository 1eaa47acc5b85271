import ShapeWorld

/// The background as ShapeBench sees it: a colour per row (median of the border columns over all
/// frames), a colour offset per frame (median border deviation, which absorbs flicker and drift),
/// and the style read from the row profile and the residual texture.
struct BackgroundModel {
    /// Per-row colour. // [H]
    var rows: [SIMD3<Float>]
    /// Per-frame offset added to every row. // [F]
    var offsets: [SIMD3<Float>]
    /// Colour at mid height.
    var mid: SIMD3<Float>
    /// Top-to-bottom change of the linear fit (largest channel), e.g. 0.24 for a gradient.
    var slope: Float

    init(_ v: FrameView) {
        let (f, h, w) = (v.f, v.h, v.w)
        let cols = [0, 1, w - 2, w - 1]
        var rows: [SIMD3<Float>] = []
        var samples = [Float]()
        for y in 0..<h {
            var c = SIMD3<Float>.zero
            for ch in 0..<3 {
                samples.removeAll(keepingCapacity: true)
                for fi in 0..<f { for x in cols { samples.append(v.at(fi, y, x, ch)) } }
                c[ch] = median(&samples)
            }
            rows.append(c)
        }
        var offsets: [SIMD3<Float>] = []
        for fi in 0..<f {
            var o = SIMD3<Float>.zero
            for ch in 0..<3 {
                samples.removeAll(keepingCapacity: true)
                for y in 0..<h { for x in cols { samples.append(v.at(fi, y, x, ch) - rows[y][ch]) } }
                o[ch] = median(&samples)
            }
            offsets.append(o)
        }
        self.rows = rows
        self.offsets = offsets
        let midRows = rows[(h * 3 / 8)..<max(h * 3 / 8 + 1, h * 5 / 8)]
        mid = midRows.reduce(SIMD3<Float>.zero, +) / Float(midRows.count)
        // Least-squares slope of each channel against v in [0, 1].
        var best: Float = 0
        for ch in 0..<3 {
            var sv: Float = 0, sc: Float = 0, svv: Float = 0, svc: Float = 0
            for y in 0..<h {
                let vv = (Float(y) + 0.5) / Float(h), c = rows[y][ch]
                sv += vv; sc += c; svv += vv * vv; svc += vv * c
            }
            let n = Float(h)
            let den = n * svv - sv * sv
            let b = den > 0 ? (n * svc - sv * sc) / den : 0
            if abs(b) > abs(best) { best = b }
        }
        slope = best
    }

    @inline(__always) func color(frame fi: Int, row y: Int) -> SIMD3<Float> { rows[y] + offsets[fi] }
}

/// Median of a non-empty array (reorders it); 0 for an empty one.
func median(_ a: inout [Float]) -> Float {
    guard !a.isEmpty else { return 0 }
    a.sort()
    let n = a.count
    return n % 2 == 1 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2])
}

/// Read-only view of frames `[F, H, W, 3]`.
struct FrameView {
    let data: [Float]
    let f: Int, h: Int, w: Int
    @inline(__always) func at(_ fi: Int, _ y: Int, _ x: Int, _ c: Int) -> Float { data[((fi * h + y) * w + x) * 3 + c] }
    @inline(__always) func pixel(_ fi: Int, _ y: Int, _ x: Int) -> SIMD3<Float> {
        let i = ((fi * h + y) * w + x) * 3
        return SIMD3(data[i], data[i + 1], data[i + 2])
    }
    @inline(__always) func luma(_ fi: Int, _ y: Int, _ x: Int) -> Float {
        let i = ((fi * h + y) * w + x) * 3
        return 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2]
    }
}

@inline(__always) func length(_ v: SIMD3<Float>) -> Float { (v * v).sum().squareRoot() }
