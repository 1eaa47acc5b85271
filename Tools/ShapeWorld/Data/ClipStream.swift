/// Which quality dimension a degradation hurts: reward models learn visual quality (VQ) from the
/// first kind of pairs and motion quality (MQ) from the second.
public enum QualityDimension: String, Codable, Sendable { case visual, motion }

extension DegradationKind {
    /// The dimension this degradation damages.
    public var dimension: QualityDimension {
        switch self {
        case .blur, .noise, .blockiness, .deformation: return .visual
        case .flicker, .jitter, .droppedFrames, .colorDrift: return .motion
        }
    }
}

extension Degradation {
    /// One or two random degradations with strengths in `strength` (the noisy pretraining mix).
    public static func randomMix(strength: ClosedRange<Float> = 0.2...0.8, using rng: inout SplitMix64) -> [Degradation] {
        (0..<(1 + rng.index(2))).map { _ in
            Degradation(rng.pick(DegradationKind.allCases) ?? .noise, strength: rng.uniform(strength.lowerBound, strength.upperBound))
        }
    }
}

/// A clean clip and a degraded copy of it: a preference pair (the clean one wins).
public struct PreferencePair: Sendable {
    /// The clean clip (the preferred one).
    public var better: Clip
    /// The same clip degraded.
    public var worse: Clip
    /// What was done to `worse`.
    public var degradation: Degradation
}

/// An endless, index-addressable stream of training clips: clip `i` depends only on `(seed, i)`, so
/// workers can split the index range and a run can be reproduced or resumed anywhere. Rendering
/// (thousands of clips per second) is faster than reading frames from disk, so training can draw
/// straight from here; shards are for fixed sets.
public struct ClipStream: Sendable {
    /// Frame geometry, e.g. 16 x 64 x 64.
    public var config: RenderConfig
    /// Base seed of the stream.
    public var seed: UInt64
    /// Share of clips given `Degradation.randomMix`, e.g. 0.3 for a noisy pretraining mix, 0 for SFT.
    public var degradedShare: Float
    /// Caption imperfection rates.
    public var captionOptions: CaptionOptions
    /// Most objects in a scene, 1...`SceneSpec.maxObjects` (`SceneSampler.random`'s 1 / 2 / 3 split,
    /// capped): 1 narrows the stream to single-object scenes (a curriculum step, docs/PIPELINE.md).
    public var maxObjects: Int
    /// Share of scenes with more than one object (capped by `maxObjects`), nil for
    /// `SceneSampler.random`'s 50 %: e.g. 0.15 mixes a few multi-object scenes into a stream of single
    /// objects.
    public var multiObjectShare: Float?
    /// Share of non-round objects shown upright (rotation 0) instead of turned any way, e.g. 0.8 (0 =
    /// the world as it is, every rotation alike). Captions never name a rotation, so under uniform
    /// rotations the mean of a square, triangle or star at high noise is close to a disc; a canonical
    /// pose, as photographs mostly have, gives each shape word a mean of its own (docs/PIPELINE.md,
    /// "Session 11"). Drawn from a stream of its own, so everything else about a clip is the same as
    /// at share 0.
    public var uprightShare: Float

    public init(config: RenderConfig = .standard, seed: UInt64 = 0, degradedShare: Float = 0,
                captionOptions: CaptionOptions = .init(), maxObjects: Int = SceneSpec.maxObjects, multiObjectShare: Float? = nil,
                uprightShare: Float = 0) {
        self.config = config
        self.seed = seed
        self.degradedShare = degradedShare
        self.captionOptions = captionOptions
        self.maxObjects = maxObjects
        self.multiObjectShare = multiObjectShare
        self.uprightShare = uprightShare
    }

    /// The seed of clip `index`.
    public func clipSeed(_ index: Int) -> UInt64 { seed &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15 }

    /// The scene of clip `index` (what `record(at:)` renders), without rendering it.
    public func spec(at index: Int) -> SceneSpec {
        var rng = SplitMix64(seed: clipSeed(index))
        return sceneSpec(&rng)
    }

    func sceneSpec(_ rng: inout SplitMix64) -> SceneSpec {
        var spec = SceneSampler.random(using: &rng, maxObjects: maxObjects, multiObjectShare: multiObjectShare,
                                            extent: config.extent)
        if uprightShare > 0 {
            // Placement keeps circumcircles apart, which no rotation changes.
            var turn = rng.derived(0x0B_0197)
            for i in spec.objects.indices where !spec.objects[i].shape.isRound && turn.chance(uprightShare) {
                spec.objects[i].rotation = 0
            }
        }
        return spec
    }

    /// Clip `index` with the degradations applied to it (if any).
    public func record(at index: Int) throws -> ShardRecord {
        let s = clipSeed(index)
        var rng = SplitMix64(seed: s)
        let spec = sceneSpec(&rng)
        var clip = try Renderer.clip(spec, config: config, seed: s, captionOptions: captionOptions)
        var degs: [Degradation] = []
        if rng.chance(degradedShare) {
            degs = Degradation.randomMix(using: &rng)
            clip.frames = degs.apply(clip.frames, config: config, seed: s)
        }
        return ShardRecord(clip: clip, degradations: degs)
    }

    /// Records `range`.
    public func records(_ range: Range<Int>) throws -> [ShardRecord] { try range.map { try record(at: $0) } }

    /// Preference pair `index`: a clean clip and the same clip under one degradation of strength in
    /// `strength`, optionally only of one quality dimension.
    public func preferencePair(at index: Int, strength: ClosedRange<Float> = 0.3...0.9,
                               dimension: QualityDimension? = nil) throws -> PreferencePair {
        let s = clipSeed(index)
        var rng = SplitMix64(seed: s).derived(0x9A1)
        let spec = SceneSampler.random(using: &rng, extent: config.extent)
        let clean = try Renderer.clip(spec, config: config, seed: s, captionOptions: captionOptions)
        let kinds = DegradationKind.allCases.filter { dimension == nil || $0.dimension == dimension }
        let d = Degradation(rng.pick(kinds) ?? .noise, strength: rng.uniform(strength.lowerBound, strength.upperBound))
        var worse = clean
        worse.frames = d.apply(clean.frames, config: config, seed: s)
        return PreferencePair(better: clean, worse: worse, degradation: d)
    }
}
