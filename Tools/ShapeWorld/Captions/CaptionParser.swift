/// Reads a scene back from a caption at any level (detailed, terse with typos, web text), filling
/// what the caption does not say with defaults (medium, static, slow, white background) and placing
/// objects with the seeded sampler. Used by `vgtrain render --caption` and by prompt-fidelity checks.
public enum CaptionParser {
    enum Token: Equatable {
        case shape(ShapeKind), color(ColorName), size(SizeClass), speed(Speed)
        case bgColor(BackgroundColor), style(BackgroundStyle)
        case up, down, left, right, bounce, orbit, grow, shrink, rotate, still
        case start(StartRegion)
    }

    /// Replaces "starting at the top-left" / "beginning at the centre" by a placeholder word, so that
    /// position words are not read as motion, and returns the regions in order.
    static func extractRegions(_ text: String) -> (String, [StartRegion]) {
        var t = text.lowercased()
        var regions: [StartRegion] = []
        for lead in ["starting at the ", "beginning at the ", "starting in the ", "starts at the "] {
            while let r = t.range(of: lead) {
                let rest = t[r.upperBound...]
                // Longest region name first so "top-left" wins over "top".
                let names = StartRegion.allCases.sorted { $0.rawValue.count > $1.rawValue.count }
                guard let region = names.first(where: { rest.hasPrefix($0.rawValue) || rest.hasPrefix($0.rawValue.replacingOccurrences(of: "-", with: " ")) })
                    ?? (rest.hasPrefix("center") ? .centre : nil) else {
                    t.replaceSubrange(r, with: " ")
                    continue
                }
                let len = rest.hasPrefix("center") && region == .centre ? 6 : region.rawValue.count
                t.replaceSubrange(r.lowerBound..<t.index(r.upperBound, offsetBy: len), with: " zzstart\(regions.count) ")
                regions.append(region)
            }
        }
        return (t, regions)
    }

    static let lexicon: [String: Token] = {
        var d: [String: Token] = [:]
        for s in ShapeKind.allCases { d[s.rawValue] = .shape(s); d[s.rawValue + "s"] = .shape(s) }
        for (w, s) in [("disc", ShapeKind.circle), ("dot", .circle), ("ball", .circle), ("box", .square),
                       ("block", .square), ("hoop", .ring), ("donut", .ring), ("triangel", .triangle)] { d[w] = .shape(s) }
        for c in ColorName.allCases { for w in Vocabulary.colorWords(c) { d[w] = .color(c) } }
        d["magenta"] = .color(.pink)
        for s in SizeClass.allCases { for w in Vocabulary.sizeWords(s) where !w.contains("-") { d[w] = .size(s) } }
        d["mid"] = .size(.medium); d["huge"] = .size(.large)
        for w in ["slowly", "slow", "gently", "gentle"] { d[w] = .speed(.slow) }
        for w in ["quickly", "quick", "fast", "rapidly", "rapid"] { d[w] = .speed(.fast) }
        for c in BackgroundColor.allCases { for w in Vocabulary.backgroundWords(c) { d[w] = .bgColor(c) } }
        for w in ["gradient", "graded"] { d[w] = .style(.gradient) }
        for w in ["textured", "patterned", "texture"] { d[w] = .style(.texture) }
        for w in ["up", "upwards", "upward", "upper", "rises", "rising", "rise"] { d[w] = .up }
        for w in ["down", "downwards", "downward", "lower", "sinks", "sinking", "falling", "falls"] { d[w] = .down }
        for w in ["left", "leftwards", "leftward"] { d[w] = .left }
        for w in ["right", "rightwards", "rightward"] { d[w] = .right }
        for w in ["bounces", "bouncing", "bounce", "bobs", "bobbing"] { d[w] = .bounce }
        for w in ["orbits", "orbit", "orbiting"] { d[w] = .orbit }
        for w in ["grows", "growing", "grow", "expands", "expanding", "bigger"] { d[w] = .grow }
        for w in ["shrinks", "shrinking", "shrink", "contracts", "smaller"] { d[w] = .shrink }
        for w in ["spins", "spinning", "spin", "rotates", "rotating", "rotate"] { d[w] = .rotate }
        for w in ["still", "static", "rests", "motionless", "not"] { d[w] = .still }
        return d
    }()

    /// Parses `caption`, placing objects with `seed`. Throws `unparsableCaption` when no shape is named.
    public static func parse(_ caption: String, seed: UInt64 = 0) throws -> SceneSpec {
        let (text, regions) = extractRegions(caption)
        let tokens = tokenize(text, regions: regions)
        let shapeIdx = tokens.indices.filter { if case .shape = tokens[$0] { return true } else { return false } }
        guard !shapeIdx.isEmpty else { throw ShapeWorldError.unparsableCaption("no shape named in \"\(caption)\"") }
        var rng = SplitMix64(seed: seed)
        var background = Background(color: .white)
        for t in tokens {
            if case .bgColor(let c) = t { background.color = c }
            if case .style(let s) = t { background.style = s }
        }
        var objects: [ObjectSpec] = []
        var starts: [StartRegion?] = []
        var used = Set<ColorName>()
        for (k, si) in shapeIdx.prefix(SceneSpec.maxObjects).enumerated() {
            guard case .shape(let shape) = tokens[si] else { continue }
            let before = tokens[(k == 0 ? 0 : shapeIdx[k - 1] + 1)..<si]
            let after = tokens[(si + 1)..<(k + 1 < shapeIdx.count ? shapeIdx[k + 1] : tokens.count)]
            var o = ObjectSpec(shape: shape, color: .red)
            var color: ColorName?
            for t in before {
                if case .color(let c) = t { color = c }
                if case .size(let s) = t { o.size = s }
            }
            var flags: [Token] = []
            var start: StartRegion?
            for t in after {
                if case .speed(let s) = t { o.speed = s } else if case .start(let r) = t { start = r } else { flags.append(t) }
            }
            starts.append(start)
            o.motion = motion(from: flags, round: shape.isRound)
            o.color = color ?? (ColorName.allCases.first { !used.contains($0) } ?? .red)
            used.insert(o.color)
            o.rotation = shape.isRound ? 0 : rng.uniform(0, 360)
            objects.append(o)
        }
        for _ in 0..<20 {
            if let s = SceneSampler.place(objects, background: background, regions: starts, using: &rng) { return s }
        }
        // Too crowded to keep everything apart: shrink objects one size step at a time, largest first.
        var shrunk = objects
        for _ in 0..<(2 * objects.count) {
            guard let i = shrunk.indices.max(by: { shrunk[$0].size.radius < shrunk[$1].size.radius }),
                  shrunk[i].size != .small else { break }
            shrunk[i].size = shrunk[i].size == .large ? .medium : .small
            for _ in 0..<5 {
                if let s = SceneSampler.place(shrunk, background: background, regions: starts, using: &rng) { return s }
            }
        }
        throw ShapeWorldError.unparsableCaption("the objects in \"\(caption)\" do not fit in one frame")
    }

    /// Common caption words that must never be read as a typo of a vocabulary word ("stays" is one
    /// letter from "stars").
    static let plainWords: Set<String> = [
        "stays", "stay", "that", "showing", "shapes", "shape", "clip", "set", "against", "plain", "moves",
        "move", "moving", "slides", "drifts", "toward", "towards", "goes", "going", "round", "gets", "getting",
        "does", "not", "and", "the", "with", "one", "two", "three", "video", "animation", "footage", "loop",
        "backdrop", "background", "pace", "point", "rests", "place", "stock", "free", "download", "graphics",
        "animated", "royalty", "seamless", "art", "gif", "sized", "pointed", "five", "clockwise", "over", "into",
    ]

    static func motion(from flags: [Token], round: Bool) -> Motion {
        let has = { (t: Token) in flags.contains(t) }
        if has(.bounce) || (has(.up) && has(.down)) { return .bounce }
        if has(.orbit) { return .orbit }
        if has(.grow) { return .grow }
        if has(.shrink) { return .shrink }
        if has(.rotate) { return round ? .static : .rotate }
        let v: Int = has(.up) ? -1 : (has(.down) ? 1 : 0)
        let h: Int = has(.left) ? -1 : (has(.right) ? 1 : 0)
        switch (v, h) {
        case (-1, -1): return .upLeft
        case (-1, 1): return .upRight
        case (1, -1): return .downLeft
        case (1, 1): return .downRight
        case (-1, 0): return .up
        case (1, 0): return .down
        case (0, -1): return .left
        case (0, 1): return .right
        default: return .static
        }
    }

    static func tokenize(_ caption: String, regions: [StartRegion] = []) -> [Token] {
        let cleaned = String(caption.lowercased().map { $0.isLetter || $0.isNumber ? $0 : " " })
        var out: [Token] = []
        for w in cleaned.split(separator: " ").map(String.init) {
            if w.hasPrefix("zzstart"), let i = Int(w.dropFirst(7)), i < regions.count { out.append(.start(regions[i])); continue }
            if let t = lexicon[w] { out.append(t); continue }
            guard w.count >= 3, !plainWords.contains(w) else { continue }
            // One typo away from a known word of 4+ letters (unique match only).
            let close = lexicon.filter { $0.key.count >= 4 && withinOneEdit($0.key, w) }
            if let t = close.values.first, close.values.allSatisfy({ $0 == t }) { out.append(t) }
        }
        return out
    }

    /// True when `a` and `b` differ by at most one insertion, deletion, substitution or swap of neighbours.
    static func withinOneEdit(_ a: String, _ b: String) -> Bool {
        let x = Array(a), y = Array(b)
        if x == y { return true }
        if abs(x.count - y.count) > 1 { return false }
        if x.count == y.count {
            let diff = (0..<x.count).filter { x[$0] != y[$0] }
            if diff.count == 1 { return true }
            if diff.count == 2, diff[1] == diff[0] + 1, x[diff[0]] == y[diff[1]], x[diff[1]] == y[diff[0]] { return true }
            return false
        }
        let (s, l) = x.count < y.count ? (x, y) : (y, x)
        var i = 0, j = 0, skipped = false
        while i < s.count, j < l.count {
            if s[i] == l[j] { i += 1; j += 1 } else if skipped { return false } else { skipped = true; j += 1 }
        }
        return true
    }
}
