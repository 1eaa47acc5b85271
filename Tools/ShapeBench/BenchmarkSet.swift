import Foundation
import ShapeWorld

/// One benchmark prompt: a spec with its detailed and terse captions and a fixed seed.
public struct BenchmarkPrompt: Codable, Hashable, Sendable {
    /// e.g. "bench-0042"; videos to score are named `<id>.mp4`.
    public var id: String
    /// The seed a generator should use for this prompt.
    public var seed: UInt64
    /// The scene the prompt describes.
    public var spec: SceneSpec
    /// The detailed caption.
    public var detailed: String
    /// The terse prompt a person would type.
    public var terse: String

    /// The generator the v1 set draws a prompt's detailed and then its terse caption from.
    static func captionRNG(seed: UInt64) -> SplitMix64 { SplitMix64(seed: seed).derived(0xCA9) }

    /// The detailed and terse captions this prompt's caption seed writes for `scene`: for a scene that
    /// differs from `spec` in one attribute (e.g. `spec.changing(.shape)`), the prompt's own captions
    /// with only that attribute's words changed. Throws when the prompt's captions are not the ones its
    /// seed writes for its own scene (a hand-edited set), since they could not be rewritten word for word.
    public func captions(describing scene: SceneSpec) throws -> (detailed: String, terse: String) {
        var own = Self.captionRNG(seed: seed), other = own
        guard Captioner.detailed(spec, using: &own) == detailed, Captioner.terse(spec, using: &own) == terse else {
            throw ShapeWorldError.invalidSpec("\(id): its captions are not the ones its seed writes for its scene")
        }
        let d = Captioner.detailed(scene, using: &other)
        return (d, Captioner.terse(scene, using: &other))
    }
}

/// The fixed benchmark prompt set. `v1()` generates it deterministically; the same set is committed
/// as `Tools/ShapeBench/Resources/benchmark-v1.json` and a test holds the two equal.
public enum BenchmarkSet {
    /// Number of prompts in v1.
    public static let v1Count = 320

    /// The v1 set: 320 prompts, stratified so that every shape, colour, size, motion, speed,
    /// background colour and style appears in near-equal shares for the first object; 50 % one
    /// object, 30 % two, 20 % three (extra objects random with distinct colours).
    public static func v1() -> [BenchmarkPrompt] {
        var out: [BenchmarkPrompt] = []
        for i in 0..<v1Count {
            let seed = UInt64(1000 + i)
            var rng = SplitMix64(seed: seed)
            let shape = ShapeKind.allCases[i % 5]
            let color = ColorName.allCases[(i / 5) % 8]
            let size = SizeClass.allCases[(i / 5) % 3]
            let motions = Motion.allCases.filter { !(shape.isRound && $0 == .rotate) }
            let motion = motions[(i / 5) % motions.count]
            let speed: Speed = (i / 2) % 2 == 0 ? .slow : .fast
            let bg = Background(color: BackgroundColor.allCases[(i / 8) % 4], style: BackgroundStyle.allCases[(i / 3 + i / 40) % 3])
            let count = (i / 5) % 10 < 5 ? 1 : ((i / 5) % 10 < 8 ? 2 : 3)
            let first = ObjectSpec(shape: shape, color: color, size: size, motion: motion, speed: speed,
                                   rotation: shape.isRound ? 0 : rng.uniform(0, 360))
            var spec: SceneSpec?
            for attempt in 0..<60 where spec == nil {
                var objects = [first]
                var colors = ColorName.allCases.filter { $0 != color }
                for _ in 1..<count {
                    let c = colors.remove(at: rng.index(colors.count))
                    var o = SceneSampler.randomObject(color: c, using: &rng)
                    if attempt >= 30 { o.size = .small }
                    objects.append(o)
                }
                spec = SceneSampler.place(objects, background: bg, using: &rng)
            }
            let s = spec ?? SceneSampler.place([first], background: bg, using: &rng)
                ?? SceneSpec(objects: [first], background: bg)
            var crng = BenchmarkPrompt.captionRNG(seed: seed)
            let detailed = Captioner.detailed(s, using: &crng)
            let terse = Captioner.terse(s, using: &crng)
            out.append(BenchmarkPrompt(id: String(format: "bench-%04d", i), seed: seed, spec: s, detailed: detailed, terse: terse))
        }
        return out
    }

    /// JSON bytes of a prompt set (pretty, sorted keys): the committed file's exact format.
    public static func json(_ prompts: [BenchmarkPrompt]) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        var d = try e.encode(prompts)
        d.append(0x0A)
        return d
    }

    /// Loads a prompt set from a JSON file.
    public static func load(path: String) throws -> [BenchmarkPrompt] {
        guard let d = FileManager.default.contents(atPath: path) else { throw ShapeWorldError.io("cannot read \(path)") }
        do { return try JSONDecoder().decode([BenchmarkPrompt].self, from: d) } catch {
            throw ShapeWorldError.invalidSpec("\(path): \(error)")
        }
    }
}
