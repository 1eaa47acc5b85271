#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The deterministic ShapeWorld renderer: spec -> frames `[F, H, W, 3]` in [0, 1].
///
/// Anti-aliasing is analytic: each object pixel's coverage is `clamp(0.5 - d, 0, 1)` where `d` is
/// the exact signed distance (pixels) from the pixel centre to the outline, and the colour is blended
/// over what is beneath. Only the pixels in each object's bounding box are visited (culling), and the
/// background is painted once per clip and copied into every frame.
public enum Renderer {
    /// Renders `spec` at `config`. Throws for an invalid spec or config.
    public static func render(_ spec: SceneSpec, config: RenderConfig = .standard) throws -> [Float] {
        try spec.validate()
        try config.validate()
        let (f, h, w) = (config.frames, config.height, config.width)
        let plane = h * w * 3
        var out = [Float](repeating: 0, count: f * plane) // [F, H, W, 3]
        let bg = background(spec.background, height: h, width: w) // [H, W, 3]
        let m = Float(min(h, w))
        let extent = config.extent
        out.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            bg.withUnsafeBufferPointer { b in
                guard let bb = b.baseAddress else { return }
                for fi in 0..<f { (base + fi * plane).update(from: bb, count: plane) }
            }
            for fi in 0..<f {
                let t = clipTime(frame: fi, of: f)
                let frame = base + fi * plane
                for o in spec.objects {
                    let s = o.state(at: t, extent: extent)
                    draw(o, s, into: frame, height: h, width: w, scale: m)
                }
            }
        }
        return out
    }

    /// Where the objects are: per pixel, the largest coverage of any object, `[F, H, W]` in [0, 1]
    /// (0 on bare background, 1 inside an object, fractional on anti-aliased edges), with the same
    /// geometry as `render`. Training uses it to weight the loss towards objects, which are a few
    /// percent of a clip's pixels (docs/PIPELINE.md, stage 0).
    public static func objectCoverage(_ spec: SceneSpec, config: RenderConfig = .standard) throws -> [Float] {
        try perPixel(spec, config: config, startingAt: 0) { value, _, a in value = max(value, min(a, 1)) }
    }

    /// Which shape each pixel shows: per pixel, the index in `ShapeKind.allCases` of the topmost
    /// object (the last drawn) that covers at least half of it, or -1 on background, `[F, H, W]`,
    /// with the same geometry as `render`. The labels of training's token shape head
    /// (`ModelConfig.shapeHeadClasses`); never an input of the model.
    public static func objectShapeMap(_ spec: SceneSpec, config: RenderConfig = .standard) throws -> [Float] {
        try perPixel(spec, config: config, startingAt: -1) { value, o, a in
            if a >= 0.5 { value = Float(ShapeKind.allCases.firstIndex(of: o.shape)!) }
        }
    }

    /// A per-pixel map `[F, H, W]` that starts at `initial` and is updated by `update(&value, object,
    /// coverage)` for every pixel each object covers, frame by frame, objects in drawing order.
    static func perPixel(_ spec: SceneSpec, config: RenderConfig, startingAt initial: Float,
                         _ update: (inout Float, ObjectSpec, Float) -> Void) throws -> [Float] {
        try spec.validate()
        try config.validate()
        let (f, h, w) = (config.frames, config.height, config.width)
        var out = [Float](repeating: initial, count: f * h * w) // [F, H, W]
        let m = Float(min(h, w))
        let extent = config.extent
        out.withUnsafeMutableBufferPointer { buf in
            for fi in 0..<f {
                let t = clipTime(frame: fi, of: f), plane = fi * h * w
                for o in spec.objects {
                    visitCoverage(o, o.state(at: t, extent: extent), height: h, width: w, scale: m) { pixel, a in
                        update(&buf[plane + pixel], o, a)
                    }
                }
            }
        }
        return out
    }

    /// Renders a clip with its captions (the captions use `seed`).
    public static func clip(_ spec: SceneSpec, config: RenderConfig = .standard, seed: UInt64,
                            captionOptions: CaptionOptions = .init()) throws -> Clip {
        let frames = try render(spec, config: config)
        var rng = SplitMix64(seed: seed).derived(0xCA9)
        let captions = Captioner.captions(for: spec, options: captionOptions, using: &rng)
        return Clip(frames: frames, config: config, spec: spec, captions: captions, seed: seed)
    }

    /// Paints one object into one frame, visiting only its bounding box.
    static func draw(_ o: ObjectSpec, _ s: ObjectState, into frame: UnsafeMutablePointer<Float>,
                     height h: Int, width w: Int, scale m: Float) {
        let col = o.color.rgb
        visitCoverage(o, s, height: h, width: w, scale: m) { pixel, a in
            let p = frame + pixel * 3
            p[0] += a * (col.x - p[0])
            p[1] += a * (col.y - p[1])
            p[2] += a * (col.z - p[2])
        }
    }

    /// Calls `body(pixel, coverage)` for every pixel (index y * w + x) of one frame that the object
    /// covers (coverage > 0), visiting only its bounding box.
    @inline(__always)
    static func visitCoverage(_ o: ObjectSpec, _ s: ObjectState, height h: Int, width w: Int, scale m: Float,
                              _ body: (Int, Float) -> Void) {
        let r = s.radius * m
        let cx = s.cx * m, cy = s.cy * m
        let tpl = ShapeTemplate(shape: o.shape, radius: r, rotation: s.rotation)
        let x0 = max(0, Int(floorf(cx - r - 1))), x1 = min(w - 1, Int(ceilf(cx + r + 1)))
        let y0 = max(0, Int(floorf(cy - r - 1))), y1 = min(h - 1, Int(ceilf(cy + r + 1)))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            let py = Float(y) + 0.5 - cy
            for x in x0...x1 {
                let a = tpl.coverage(Float(x) + 0.5 - cx, py)
                if a > 0 { body(y * w + x, a) }
            }
        }
    }

    /// The background image `[H, W, 3]`: flat, a vertical gradient (+0.12 at the top to -0.12 at the
    /// bottom), or a soft texture (amplitude 0.05, period 7 px, so that it never lines up with 8-pixel blocks).
    public static func background(_ b: Background, height h: Int, width w: Int) -> [Float] {
        var out = [Float](repeating: 0, count: h * w * 3) // [H, W, 3]
        let c = b.color.rgb
        for y in 0..<h {
            let v = (Float(y) + 0.5) / Float(h)
            for x in 0..<w {
                var p = c
                switch b.style {
                case .solid: break
                case .gradient: p += SIMD3(repeating: 0.12 - 0.24 * v)
                case .texture:
                    let k = 2 * Float.pi / 7
                    p += SIMD3(repeating: 0.05 * sinf(k * (Float(x) + 0.5)) * sinf(k * (Float(y) + 0.5)))
                }
                let i = (y * w + x) * 3
                out[i] = min(max(p.x, 0), 1)
                out[i + 1] = min(max(p.y, 0), 1)
                out[i + 2] = min(max(p.z, 0), 1)
            }
        }
        return out
    }
}
