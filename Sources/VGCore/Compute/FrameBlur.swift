import Foundation

/// Separable Gaussian blur inside each frame of `[F, H, W, C]` values, edges clamped: the one blur of
/// the project (ShapeWorld's blur degradation and blurred training inputs, the sampler's frequency
/// split).
public enum FrameBlur {
    /// Blurs `v` (`frames * height * width * channels` values) in place with a Gaussian of standard
    /// deviation `sigma` pixels (kernel radius ceil(3 sigma), at least 1), first along x into `temp`
    /// (same size), then along y back into `v`. A sigma of 0.05 or less, a non-finite one or buffers
    /// of the wrong size leave `v` unchanged.
    public static func gaussian(_ v: UnsafeMutableBufferPointer<Float>, temp: UnsafeMutableBufferPointer<Float>,
                                frames: Int, height: Int, width: Int, channels: Int = 3, sigma: Float) {
        let n = frames * height * width * channels
        guard sigma.isFinite, sigma > 0.05, v.count == n, temp.count == n, height > 0, width > 0 else { return }
        let r = max(1, Int(ceilf(3 * sigma)))
        var k = (-r...r).map { expf(-Float($0 * $0) / (2 * sigma * sigma)) }
        let sum = k.reduce(0, +)
        k = k.map { $0 / sum }
        let row = width * channels, plane = height * row
        for f in 0..<frames {
            let o = f * plane
            for y in 0..<height { for x in 0..<width { for ch in 0..<channels {          // along x, into temp
                var acc: Float = 0
                for j in -r...r { acc += k[j + r] * v[o + y * row + min(max(x + j, 0), width - 1) * channels + ch] }
                temp[o + y * row + x * channels + ch] = acc
            } } }
            for y in 0..<height { for x in 0..<width { for ch in 0..<channels {          // along y, back into v
                var acc: Float = 0
                for j in -r...r { acc += k[j + r] * temp[o + min(max(y + j, 0), height - 1) * row + x * channels + ch] }
                v[o + y * row + x * channels + ch] = acc
            } } }
        }
    }
}
