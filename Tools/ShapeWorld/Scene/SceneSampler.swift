/// Draws random scenes and places objects so that every object stays inside the frame for the whole
/// clip and no two objects ever overlap (rejection sampling over the trajectories).
public enum SceneSampler {
    /// Free space kept between an object and the frame edge (min-dim units, ~2.6 px at 64).
    public static let margin: Float = 0.04
    /// Free space kept between two objects (min-dim units, ~3.2 px at 64).
    public static let gap: Float = 0.05
    /// Clip times at which trajectories are checked.
    static let checkTimes: [Float] = (0...24).map { Float($0) / 24 }

    /// A random scene: 1 object (50 %), 2 (30 %) or 3 (20 %), distinct colours, any background.
    ///
    /// - Parameters:
    ///   - maxObjects: the most objects (a larger draw is capped to it).
    ///   - multiObjectShare: the share of scenes drawn with more than one object instead of 50 %,
    ///     split 3 : 2 between two and three objects as the default split is (nil: the default).
    ///     The same single uniform draw decides the count either way, so the rest of the scene
    ///     stream is drawn alike.
    public static func random(using rng: inout SplitMix64, maxObjects: Int = SceneSpec.maxObjects,
                              multiObjectShare: Float? = nil, extent: SIMD2<Float> = SIMD2(1, 1)) -> SceneSpec {
        let u = rng.unitFloat()
        let drawn: Int
        if let share = multiObjectShare {
            // u in [0, 1 - share): one object; the rest split 60 / 40 between two and three.
            let multi = min(max(share, 0), 1)
            drawn = u < 1 - multi ? 1 : (u < 1 - 0.4 * multi ? 2 : 3)
        } else {
            drawn = u < 0.5 ? 1 : (u < 0.8 ? 2 : 3)
        }
        var count = min(max(1, maxObjects), drawn)
        while true {
            for _ in 0..<40 {
                let bg = Background(color: rng.pick(BackgroundColor.allCases) ?? .white,
                                    style: rng.chance(0.5) ? .solid : (rng.chance(0.5) ? .gradient : .texture))
                var colors = ColorName.allCases
                var objects: [ObjectSpec] = []
                for _ in 0..<count {
                    let ci = rng.index(colors.count)
                    let color = colors.remove(at: ci)
                    objects.append(randomObject(color: color, using: &rng))
                }
                if let s = place(objects, background: bg, extent: extent, using: &rng) { return s }
            }
            if count == 1 { break }
            count -= 1
        }
        // A single small static object always fits.
        let o = ObjectSpec(shape: .circle, color: .red, size: .small, motion: .static, speed: .slow, x: 0.5, y: 0.5)
        return SceneSpec(objects: [o], background: Background(color: .white))
    }

    /// Another scene that a detailed caption of `spec` describes equally well: the same objects
    /// (shape, colour, size, motion, speed, in order) on the same background, each started anew
    /// inside the ninth of the frame it starts in (a detailed caption names only that ninth), non-round
    /// shapes turned anew (captions never name a rotation). `spec` itself when no such placement is
    /// found (crowded scenes). Training uses these draws to average out, at pure noise, where in its
    /// ninth an object happens to be. With `uprightShare` p > 0 a non-round shape is turned the way a
    /// stream with that share turns it: upright (rotation 0) with probability p, else any way
    /// (`ClipStream.uprightShare`); at p = 0 the draws are the same as without it.
    public static func redrawn(_ spec: SceneSpec, extent: SIMD2<Float> = SIMD2(1, 1), uprightShare: Float = 0,
                               using rng: inout SplitMix64) -> SceneSpec {
        let objects = spec.objects.map { o -> ObjectSpec in
            var z = o
            if !o.shape.isRound { z.rotation = uprightShare > 0 && rng.chance(uprightShare) ? 0 : rng.uniform(0, 360) }
            return z
        }
        let regions = spec.objects.map { Optional(StartRegion(x: $0.x, y: $0.y)) }
        return place(objects, background: spec.background, extent: extent, regions: regions, using: &rng) ?? spec
    }

    /// `spec` with every object's shape swapped, and nothing else changed: a circle becomes one of the
    /// other four shapes (a non-round one turned upright with probability `uprightShare`, else any
    /// way), every other shape becomes a circle. Same place, path, colour and size, so the clip differs
    /// from `spec`'s only in the objects' outlines. Training shows it under the noise in place of the
    /// true clip at high levels (`CaptionedClipSource.alteredInput`), so that the caption, not a round
    /// blob the sampler drew a few steps earlier, decides the shape (docs/PIPELINE.md, "Session 14").
    public static func shapesSwapped(_ spec: SceneSpec, uprightShare: Float = 0, using rng: inout SplitMix64) -> SceneSpec {
        var out = spec
        for i in out.objects.indices {
            var o = out.objects[i]
            if o.shape == .circle {
                o.shape = rng.pick([ShapeKind.square, .triangle, .ring, .star]) ?? .square
                if !o.shape.isRound { o.rotation = uprightShare > 0 && rng.chance(uprightShare) ? 0 : rng.uniform(0, 360) }
            } else {
                o.shape = .circle
                o.rotation = 0
            }
            out.objects[i] = o
        }
        return out
    }

    /// A random object of a given colour (rotation only for non-round shapes).
    public static func randomObject(color: ColorName, using rng: inout SplitMix64) -> ObjectSpec {
        let shape = rng.pick(ShapeKind.allCases) ?? .circle
        var motions = Motion.allCases
        if shape.isRound { motions.removeAll { $0 == .rotate } }
        return ObjectSpec(shape: shape, color: color, size: rng.pick(SizeClass.allCases) ?? .medium,
                          motion: rng.pick(motions) ?? .static, speed: rng.chance(0.5) ? .slow : .fast,
                          rotation: shape.isRound ? 0 : rng.uniform(0, 360))
    }

    /// Chooses start positions for `objects` (their x and y are overwritten) so that all stay in the
    /// frame and apart for the whole clip; nil if no placement was found in a few hundred tries.
    /// `regions[i]`, when given, asks object i to start in that ninth of the frame.
    public static func place(_ objects: [ObjectSpec], background: Background,
                             extent: SIMD2<Float> = SIMD2(1, 1), regions: [StartRegion?] = [],
                             using rng: inout SplitMix64) -> SceneSpec? {
        for _ in 0..<30 {
            var placed: [ObjectSpec] = []
            var ok = true
            for (i, o) in objects.enumerated() {
                let region = i < regions.count ? regions[i] : nil
                guard let p = placeOne(o, avoiding: placed, extent: extent, region: region, using: &rng) else { ok = false; break }
                placed.append(p)
            }
            if ok { return SceneSpec(objects: placed, background: background) }
        }
        return nil
    }

    static func placeOne(_ o: ObjectSpec, avoiding others: [ObjectSpec], extent: SIMD2<Float>,
                         region: StartRegion? = nil, using rng: inout SplitMix64) -> ObjectSpec? {
        var z = o
        z.x = 0
        z.y = 0
        var lo = SIMD2<Float>(-.infinity, -.infinity), hi = SIMD2<Float>(.infinity, .infinity)
        for t in checkTimes {
            let s = z.state(at: t, extent: extent)
            let need = s.radius + margin
            lo = pointwiseMax(lo, SIMD2(need - s.cx, need - s.cy))
            hi = pointwiseMin(hi, SIMD2(extent.x - need - s.cx, extent.y - need - s.cy))
        }
        guard lo.x <= hi.x, lo.y <= hi.y else { return nil }
        if let r = region {
            // Keep to the asked ninth where the trajectory allows it.
            let b = r.bounds
            let rl = pointwiseMax(lo, SIMD2(b.x.lowerBound * extent.x, b.y.lowerBound * extent.y))
            let rh = pointwiseMin(hi, SIMD2(b.x.upperBound * extent.x, b.y.upperBound * extent.y))
            if rl.x <= rh.x, rl.y <= rh.y { lo = rl; hi = rh }
        }
        for _ in 0..<40 {
            var c = o
            c.x = rng.uniform(lo.x, hi.x) / extent.x
            c.y = rng.uniform(lo.y, hi.y) / extent.y
            if others.allSatisfy({ apart(c, $0, extent: extent) }) { return c }
        }
        return nil
    }

    /// True when the two objects keep `gap` between their circumcircles for the whole clip.
    public static func apart(_ a: ObjectSpec, _ b: ObjectSpec, extent: SIMD2<Float>) -> Bool {
        for t in checkTimes {
            let sa = a.state(at: t, extent: extent), sb = b.state(at: t, extent: extent)
            let dx = sa.cx - sb.cx, dy = sa.cy - sb.cy
            let need = sa.radius + sb.radius + gap
            if dx * dx + dy * dy < need * need { return false }
        }
        return true
    }
}

/// A ninth of the frame, by where an object starts: the words detailed captions use for positions.
public enum StartRegion: String, CaseIterable, Sendable {
    case topLeft = "top-left", top, topRight = "top-right"
    case left, centre, right
    case bottomLeft = "bottom-left", bottom, bottomRight = "bottom-right"

    /// The region of a start position (fractions of the frame).
    public init(x: Float, y: Float) {
        let col = x < 1.0 / 3 ? 0 : (x > 2.0 / 3 ? 2 : 1)
        let row = y < 1.0 / 3 ? 0 : (y > 2.0 / 3 ? 2 : 1)
        self = StartRegion.allCases[row * 3 + col]
    }

    /// Its x and y ranges as fractions of the frame.
    public var bounds: (x: ClosedRange<Float>, y: ClosedRange<Float>) {
        let i = StartRegion.allCases.firstIndex(of: self) ?? 4
        let c = Float(i % 3), r = Float(i / 3)
        return (c / 3...(c + 1) / 3, r / 3...(r + 1) / 3)
    }
}
