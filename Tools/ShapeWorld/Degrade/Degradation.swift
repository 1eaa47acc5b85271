#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A controlled defect applied to rendered frames, at a strength in [0, 1] (0.5 = "medium").
///
/// Each kind mimics a failure of a weak video model and has a matching ShapeBench metric:
/// flicker -> temporal flicker, jitter and dropped frames -> motion smoothness, colour drift ->
/// subject consistency, blur / noise / blockiness / deformation -> the artifact scores.
public enum DegradationKind: String, Codable, CaseIterable, Sendable {
    /// Per-frame brightness offset, uniform in +-0.2 x strength.
    case flicker
    /// Per-frame whole-picture shift (camera shake), Gaussian with sigma 3 px x strength.
    case jitter
    /// Gaussian blur, sigma 2 px x strength.
    case blur
    /// Additive Gaussian pixel noise, sigma 0.12 x strength.
    case noise
    /// Per-channel gain drifting linearly over the clip, up to +-0.5 x strength at the last frame.
    case colorDrift = "color-drift"
    /// A time-varying sinusoidal warp, amplitude 3 px x strength, wavelength 12 px.
    case deformation
    /// Frames replaced by their predecessor (a freeze then a jump), each with probability 0.6 x strength.
    case droppedFrames = "dropped-frames"
    /// 8 x 8 block DCT quantisation of each channel (JPEG-like), step 0.9 x strength.
    case blockiness
}

/// One degradation with its strength.
public struct Degradation: Codable, Hashable, Sendable {
    /// Which defect.
    public var kind: DegradationKind
    /// In [0, 1]; 0 leaves frames untouched.
    public var strength: Float
    public init(_ kind: DegradationKind, strength: Float) {
        self.kind = kind
        self.strength = strength
    }

    /// Applies the degradation to frames `[F, H, W, 3]` of geometry `config`, reproducibly for `seed`.
    public func apply(_ frames: [Float], config: RenderConfig, seed: UInt64) -> [Float] {
        let s = min(max(strength.isFinite ? strength : 0, 0), 1)
        guard s > 0, frames.count == Clip.elementCount(config) else { return frames }
        var rng = SplitMix64(seed: seed).derived(UInt64(DegradationKind.allCases.firstIndex(of: kind) ?? 0) + 0xDE9)
        let (f, h, w) = (config.frames, config.height, config.width)
        let plane = h * w * 3
        var out = frames
        switch kind {
        case .flicker:
            for fi in 0..<f {
                let d = rng.uniform(-0.2, 0.2) * s
                for i in fi * plane..<(fi + 1) * plane { out[i] = min(max(out[i] + d, 0), 1) }
            }
        case .noise:
            let sigma = 0.12 * s
            for i in 0..<out.count { out[i] = min(max(out[i] + sigma * rng.gaussian(), 0), 1) }
        case .colorDrift:
            let dir = SIMD3(rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1))
            let n = max(abs(dir.x), abs(dir.y), abs(dir.z), 1e-3)
            for fi in 0..<f {
                let g = SIMD3<Float>(repeating: 1) + dir / n * (0.5 * s * clipTime(frame: fi, of: f))
                for p in 0..<(h * w) {
                    let i = fi * plane + p * 3
                    out[i] = min(max(out[i] * g.x, 0), 1)
                    out[i + 1] = min(max(out[i + 1] * g.y, 0), 1)
                    out[i + 2] = min(max(out[i + 2] * g.z, 0), 1)
                }
            }
        case .droppedFrames:
            var dropped = 0
            for fi in 1..<max(f, 1) where rng.chance(0.6 * s) {
                out.replaceSubrange(fi * plane..<(fi + 1) * plane, with: out[(fi - 1) * plane..<fi * plane])
                dropped += 1
            }
            if dropped == 0, f >= 3 {
                let fi = f / 2
                out.replaceSubrange(fi * plane..<(fi + 1) * plane, with: out[(fi - 1) * plane..<fi * plane])
            }
        case .blur:
            Filters.gaussianBlur(&out, frames: f, height: h, width: w, sigma: 2 * s)
        case .jitter:
            for fi in 0..<f {
                let dx = 3 * s * rng.gaussian(), dy = 3 * s * rng.gaussian()
                Filters.warp(&out, frame: fi, height: h, width: w) { x, y in (x - dx, y - dy) }
            }
        case .deformation:
            let amp = 3 * s, k = 2 * Float.pi / 12
            for fi in 0..<f {
                let ph1 = rng.uniform(0, 2 * Float.pi), ph2 = rng.uniform(0, 2 * Float.pi)
                Filters.warp(&out, frame: fi, height: h, width: w) { x, y in
                    (x + amp * sinf(k * y + ph1), y + amp * sinf(k * x + ph2))
                }
            }
        case .blockiness:
            Filters.blockDCT(&out, frames: f, height: h, width: w, step: 0.9 * s)
        }
        return out
    }
}

/// A clip's degradations in order, e.g. `[flicker 0.5, noise 0.3]`.
extension Array where Element == Degradation {
    /// Applies each in turn (the seed is shared; each kind draws its own sub-stream).
    public func apply(_ frames: [Float], config: RenderConfig, seed: UInt64) -> [Float] {
        reduce(frames) { $1.apply($0, config: config, seed: seed) }
    }
}
