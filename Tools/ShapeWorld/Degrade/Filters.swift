import VGCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Filters of whole clips for the tools that build training inputs from rendered clips.
public enum ClipFilters {
    /// `frames` (`[F, H, W, 3]` of `config`) blurred inside each frame by a Gaussian of standard
    /// deviation `sigma` pixels, edges clamped (sigma <= 0.05, or frames of another size, come back
    /// unchanged).
    public static func gaussianBlurred(_ frames: [Float], config: RenderConfig, sigma: Float) -> [Float] {
        var out = frames
        Filters.gaussianBlur(&out, frames: config.frames, height: config.height, width: config.width, sigma: sigma)
        return out
    }
}

/// Image filters behind the degradations, on frames `[F, H, W, 3]`.
enum Filters {
    /// Separable Gaussian blur with clamped edges (`VGCore.FrameBlur`, the project's one blur).
    static func gaussianBlur(_ x: inout [Float], frames f: Int, height h: Int, width w: Int, sigma: Float) {
        var tmp = [Float](repeating: 0, count: x.count)
        x.withUnsafeMutableBufferPointer { xb in
            tmp.withUnsafeMutableBufferPointer { tb in FrameBlur.gaussian(xb, temp: tb, frames: f, height: h, width: w, sigma: sigma) }
        }
    }

    /// Resamples one frame bilinearly: output pixel (x, y) reads the input at `source(x, y)` (pixel
    /// centres at integer coordinates, edges clamped).
    static func warp(_ x: inout [Float], frame fi: Int, height h: Int, width w: Int,
                     source: (Float, Float) -> (Float, Float)) {
        let plane = h * w * 3
        let src = Array(x[fi * plane..<(fi + 1) * plane])
        for y in 0..<h {
            for xx in 0..<w {
                let (sx, sy) = source(Float(xx), Float(y))
                let cx = min(max(sx, 0), Float(w - 1)), cy = min(max(sy, 0), Float(h - 1))
                let x0 = Int(cx), y0 = Int(cy)
                let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                let ax = cx - Float(x0), ay = cy - Float(y0)
                for c in 0..<3 {
                    let v00 = src[(y0 * w + x0) * 3 + c], v01 = src[(y0 * w + x1) * 3 + c]
                    let v10 = src[(y1 * w + x0) * 3 + c], v11 = src[(y1 * w + x1) * 3 + c]
                    let top = v00 + ax * (v01 - v00), bot = v10 + ax * (v11 - v10)
                    x[fi * plane + (y * w + xx) * 3 + c] = top + ay * (bot - top)
                }
            }
        }
    }

    /// JPEG-like 8 x 8 block DCT with uniform quantisation: coefficient (u, v) is rounded to a
    /// multiple of `step * (1 + u + v) / 8` (coarser at high frequency), then transformed back.
    static func blockDCT(_ x: inout [Float], frames f: Int, height h: Int, width w: Int, step: Float) {
        guard step > 0 else { return }
        let n = 8
        var basis = [Float](repeating: 0, count: n * n) // [u, i]
        for u in 0..<n {
            let a: Float = u == 0 ? (1 / Float(n)).squareRoot() : (2 / Float(n)).squareRoot()
            for i in 0..<n { basis[u * n + i] = a * cosf(Float.pi * (Float(i) + 0.5) * Float(u) / Float(n)) }
        }
        var block = [Float](repeating: 0, count: 64), coef = [Float](repeating: 0, count: 64)
        var tmp = [Float](repeating: 0, count: 64)
        let plane = h * w * 3
        for fi in 0..<f {
            for by in stride(from: 0, to: h, by: n) {
                for bx in stride(from: 0, to: w, by: n) {
                    for c in 0..<3 {
                        for i in 0..<n {
                            for j in 0..<n {
                                let yy = min(by + i, h - 1), xx = min(bx + j, w - 1)
                                block[i * n + j] = x[fi * plane + (yy * w + xx) * 3 + c]
                            }
                        }
                        // coef = B * block * B^T
                        for u in 0..<n { for j in 0..<n {
                            var acc: Float = 0
                            for i in 0..<n { acc += basis[u * n + i] * block[i * n + j] }
                            tmp[u * n + j] = acc
                        } }
                        for u in 0..<n { for v in 0..<n {
                            var acc: Float = 0
                            for j in 0..<n { acc += tmp[u * n + j] * basis[v * n + j] }
                            let q = step * Float(1 + u + v) / 8
                            coef[u * n + v] = (acc / q).rounded() * q
                        } }
                        // block = B^T * coef * B
                        for i in 0..<n { for v in 0..<n {
                            var acc: Float = 0
                            for u in 0..<n { acc += basis[u * n + i] * coef[u * n + v] }
                            tmp[i * n + v] = acc
                        } }
                        for i in 0..<n { for j in 0..<n {
                            var acc: Float = 0
                            for v in 0..<n { acc += tmp[i * n + v] * basis[v * n + j] }
                            let yy = by + i, xx = bx + j
                            if yy < h, xx < w { x[fi * plane + (yy * w + xx) * 3 + c] = min(max(acc, 0), 1) }
                        } }
                    }
                }
            }
        }
    }
}
