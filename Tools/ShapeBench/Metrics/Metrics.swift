#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ShapeWorld

/// The temporal and visual-quality scores of one video; each in [0, 1], higher is better.
public struct VideoMetrics: Codable, Hashable, Sendable {
    /// VBench temporal flickering on static content: 1 - mean_t MAE(f_t, f_t+1) over pixels that are
    /// background in both frames (all pixels when objects cover 90 % or more of the video).
    public var temporalFlicker: Float
    /// exp(-e / 0.02) where e is the mean error (min-dim units) of predicting each object centre from
    /// its neighbours two frames either side (cubic: (-c[t-2] + 4c[t-1] + 4c[t+1] - c[t+2]) / 6).
    public var motionSmoothness: Float
    /// VBench-style subject consistency: mean over frames of (sim(d[t-1], d[t]) + sim(d[0], d[t])) / 2,
    /// d = (object colour, ideal-shape IoU), sim = max(0, 1 - |a - b| / 0.5).
    public var subjectConsistency: Float
    /// Largest object motion: path length + |log size ratio| / 2 + |rotation| / (2 pi) (min-dim units).
    public var motionMagnitude: Float
    /// motionMagnitude > 0.1 (VBench's dynamic degree is the share of such videos in a set).
    public var dynamic: Bool
    /// exp(-sigma / 0.03), sigma = median |L * luma| / (0.6745 * 6) over all interior pixels, the
    /// robust (median) form of Immerkaer's noise estimate; L = [1 -2 1; -2 4 -2; 1 -2 1].
    public var noise: Float
    /// Mean of the 8 largest coverage steps between neighbouring pixels of each object (1 = sharp edge).
    public var sharpness: Float
    /// min(1, 1 / r), r = mean |luma step| across 8-pixel block borders / elsewhere (+1e-3 each).
    public var blockiness: Float
    /// Mean soft IoU of each object with its best-fitting ideal shape.
    public var deformation: Float
    /// mean(noise, sharpness, blockiness, deformation).
    public var visualQuality: Float
    /// mean(temporalFlicker, motionSmoothness, subjectConsistency).
    public var motionQuality: Float
}

enum MetricComputer {
    static func compute(_ a: Analysis) -> VideoMetrics {
        let v = a.view
        let m = Float(min(v.h, v.w))
        // Foreground masks: strong pixels of each frame, dilated by one pixel.
        var fg = [Bool](repeating: false, count: v.f * v.h * v.w)
        for fi in 0..<v.f {
            for o in a.observations[fi] {
                for y in o.y0..<(o.y0 + o.bh) { for x in o.x0..<(o.x0 + o.bw) where o.a(x, y) > 0.02 {
                    for dy in -1...1 { for dx in -1...1 {
                        let yy = y + dy, xx = x + dx
                        if yy >= 0, yy < v.h, xx >= 0, xx < v.w { fg[(fi * v.h + yy) * v.w + xx] = true }
                    } }
                } }
            }
        }
        // When objects cover almost everything (a garbage frame is one big "object"), temporal flicker
        // falls back to all pixels rather than reporting a perfect score on nothing.
        let plane = v.h * v.w
        let fgShare = Float(fg.filter { $0 }.count) / Float(max(fg.count, 1))
        let useMask = fgShare < 0.9
        // Temporal flicker.
        var maeSum: Float = 0, pairs: Float = 0
        for fi in 0..<max(0, v.f - 1) {
            var s: Float = 0, n: Float = 0
            for y in 0..<v.h { for x in 0..<v.w {
                let i0 = (fi * v.h + y) * v.w + x, i1 = i0 + plane
                if useMask && (fg[i0] || fg[i1]) { continue }
                let dp = v.pixel(fi + 1, y, x) - v.pixel(fi, y, x)
                s += (abs(dp.x) + abs(dp.y) + abs(dp.z)) / 3
                n += 1
            } }
            if n > 0 { maeSum += s / n; pairs += 1 }
        }
        let flicker = pairs > 0 ? max(0, 1 - maeSum / pairs) : 1
        // Motion smoothness.
        var errSum: Float = 0, errN: Float = 0
        for t in a.tracks {
            let frames = t.obs.map { $0.frame }
            let c = t.centers
            guard c.count >= 3 else { continue }
            for i in c.indices {
                if i >= 2, i + 2 < c.count, frames[i + 2] - frames[i - 2] == 4 {
                    let p = (-c[i - 2] + 4 * c[i - 1] + 4 * c[i + 1] - c[i + 2]) / 6
                    errSum += simdLength(c[i] - p); errN += 1
                } else if c.count < 5, i >= 1, i + 1 < c.count, frames[i + 1] - frames[i - 1] == 2 {
                    errSum += simdLength(c[i] - (c[i - 1] + c[i + 1]) / 2); errN += 1
                }
            }
        }
        let smooth = errN > 0 ? expf(-(errSum / errN) / 0.02) : 1
        // Subject consistency.
        var consSum: Float = 0, consN: Float = 0
        for t in a.tracks where t.obs.count >= 2 {
            let d = t.obs.map { o -> (SIMD3<Float>, Float) in (o.color, o.fit?.all[ShapeKind.allCases.firstIndex(of: t.shape) ?? 0] ?? 0) }
            func sim(_ p: (SIMD3<Float>, Float), _ q: (SIMD3<Float>, Float)) -> Float {
                max(0, 1 - (length(p.0 - q.0) + abs(p.1 - q.1)) / 0.5)
            }
            for i in 1..<d.count { consSum += (sim(d[i - 1], d[i]) + sim(d[0], d[i])) / 2; consN += 1 }
        }
        let consistency = consN > 0 ? consSum / consN : 1
        // Dynamic degree.
        var mag: Float = 0
        for t in a.tracks { mag = max(mag, t.path + abs(t.logRatio) / 2 + abs(t.spin) / (2 * Float.pi)) }
        // Noise (Immerkaer 1996), robust form: the median of |L * luma| over every interior pixel
        // (object edges are a minority of pixels, so they do not move the median; a background mask
        // would, because strong noise itself turns pixels into "objects"). For Gaussian noise L * I
        // has std 6 sigma, so sigma = median / (0.6745 * 6). Median from a 4096-bin histogram on [0, 1].
        let bins = 4096
        var hist = [Int](repeating: 0, count: bins)
        var lapN = 0
        for fi in 0..<v.f {
            for y in 1..<(v.h - 1) { for x in 1..<(v.w - 1) {
                let l = v.luma(fi, y - 1, x - 1) - 2 * v.luma(fi, y - 1, x) + v.luma(fi, y - 1, x + 1)
                    - 2 * v.luma(fi, y, x - 1) + 4 * v.luma(fi, y, x) - 2 * v.luma(fi, y, x + 1)
                    + v.luma(fi, y + 1, x - 1) - 2 * v.luma(fi, y + 1, x) + v.luma(fi, y + 1, x + 1)
                hist[min(bins - 1, Int(abs(l) * Float(bins)))] += 1
                lapN += 1
            } }
        }
        var medianL: Float = 0
        var seen = 0
        for (b, c) in hist.enumerated() {
            seen += c
            if 2 * seen >= lapN { medianL = (Float(b) + 0.5) / Float(bins); break }
        }
        let sigma = lapN > 0 ? medianL / (0.6745 * 6) : 0
        let noise = expf(-sigma / 0.03)
        // Sharpness.
        var sharpSum: Float = 0, sharpN: Float = 0
        for t in a.tracks { for o in t.obs { sharpSum += o.sharpness; sharpN += 1 } }
        let sharp = sharpN > 0 ? min(1, sharpSum / sharpN) : 1
        // Blockiness.
        var border: Float = 0, borderN: Float = 0, inner: Float = 0, innerN: Float = 0
        for fi in 0..<v.f {
            for y in 0..<v.h { for x in 0..<(v.w - 1) {
                let d = abs(v.luma(fi, y, x + 1) - v.luma(fi, y, x))
                if x % 8 == 7 { border += d; borderN += 1 } else { inner += d; innerN += 1 }
            } }
            for y in 0..<(v.h - 1) { for x in 0..<v.w {
                let d = abs(v.luma(fi, y + 1, x) - v.luma(fi, y, x))
                if y % 8 == 7 { border += d; borderN += 1 } else { inner += d; innerN += 1 }
            } }
        }
        let ratio = (border / max(borderN, 1) + 1e-3) / (inner / max(innerN, 1) + 1e-3)
        let block = min(1, 1 / ratio)
        // Deformation.
        var iouSum: Float = 0, iouN: Float = 0
        for t in a.tracks { for o in t.obs { iouSum += o.fit?.iou ?? 0; iouN += 1 } }
        let deform = iouN > 0 ? iouSum / iouN : 1
        _ = m
        return VideoMetrics(temporalFlicker: flicker, motionSmoothness: smooth, subjectConsistency: consistency,
                            motionMagnitude: mag, dynamic: mag > 0.1, noise: noise, sharpness: sharp,
                            blockiness: block, deformation: deform,
                            visualQuality: (noise + sharp + block + deform) / 4,
                            motionQuality: (flicker + smooth + consistency) / 3)
    }
}
