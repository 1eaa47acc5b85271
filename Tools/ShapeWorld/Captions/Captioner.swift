import Foundation

/// Rates of the imperfections in terse and web captions.
public struct CaptionOptions: Codable, Hashable, Sendable {
    /// Per word (4+ letters), chance of a typo in a terse prompt, e.g. 0.08.
    public var typoRate: Float
    /// Per optional attribute (size, speed, background), chance a terse prompt drops it, e.g. 0.5.
    public var terseDropRate: Float
    /// Per attribute, chance web alt text states a wrong value, e.g. 0.15.
    public var webWrongRate: Float
    /// Per attribute, chance web alt text leaves it out, e.g. 0.35.
    public var webMissingRate: Float
    public init(typoRate: Float = 0.08, terseDropRate: Float = 0.5, webWrongRate: Float = 0.15,
                webMissingRate: Float = 0.35) {
        self.typoRate = typoRate
        self.terseDropRate = terseDropRate
        self.webWrongRate = webWrongRate
        self.webMissingRate = webMissingRate
    }
}

/// Writes the three caption levels for a scene, with paraphrases and synonyms drawn from a seeded RNG.
public enum Captioner {
    /// All three levels.
    public static func captions(for spec: SceneSpec, options: CaptionOptions = .init(),
                                using rng: inout SplitMix64) -> CaptionSet {
        CaptionSet(detailed: detailed(spec, using: &rng), terse: terse(spec, options: options, using: &rng),
                   web: web(spec, options: options, using: &rng))
    }

    /// The detailed canonical caption: every attribute of every object and the background.
    public static func detailed(_ spec: SceneSpec, using rng: inout SplitMix64) -> String {
        let objs = spec.objects.enumerated().map { i, o in objectPhrase(o, first: i == 0, using: &rng) }
        let joined = joinList(objs)
        let bg = backgroundPhrase(spec.background, using: &rng)
        switch rng.index(4) {
        case 0: return capitalized("\(joined), \(bg.on).")
        case 1: return "\(capitalized(bg.on)), \(joined)."
        case 2: return "A clip showing \(joined), set \(bg.against)."
        default:
            let n = spec.objects.count
            let head = n == 1 ? "One shape" : (n == 2 ? "Two shapes" : "Three shapes")
            return "\(head) \(bg.on): \(joined)."
        }
    }

    /// A terse prompt: lower case, synonyms, some attributes dropped, typos.
    public static func terse(_ spec: SceneSpec, options: CaptionOptions = .init(), using rng: inout SplitMix64) -> String {
        var parts: [String] = []
        for o in spec.objects {
            var words: [String] = []
            if rng.chance(1 - options.terseDropRate) { words.append(rng.pick(Vocabulary.sizeWords(o.size)) ?? "") }
            words.append(o.color.rawValue)
            words.append(rng.pick(Vocabulary.terseShapeWords(o.shape)) ?? o.shape.rawValue)
            words.append(rng.pick(Vocabulary.terseMotionPhrases(o.motion)) ?? "")
            if o.motion != .static, rng.chance(1 - options.terseDropRate) {
                words.append(o.speed == .fast ? (rng.pick(["fast", "quick"]) ?? "fast") : (rng.pick(["slow", "slowly"]) ?? "slow"))
            }
            parts.append(words.filter { !$0.isEmpty }.joined(separator: " "))
        }
        var text = parts.joined(separator: rng.chance(0.5) ? " and " : ", ")
        if rng.chance(1 - options.terseDropRate) {
            let style = spec.background.style == .solid ? "" : (rng.pick(Vocabulary.styleWords(spec.background.style)) ?? "") + " "
            text += " on \(style)\(rng.pick(Vocabulary.backgroundWords(spec.background.color)) ?? "")"
        }
        return addTypos(text, rate: options.typoRate, using: &rng)
    }

    /// Web-style alt text: boilerplate, and each attribute missing or wrong at the given rates.
    public static func web(_ spec: SceneSpec, options: CaptionOptions = .init(), using rng: inout SplitMix64) -> String {
        func maybe<T: CaseIterable & Equatable>(_ v: T, _ rng: inout SplitMix64) -> T? {
            if rng.chance(options.webMissingRate) { return nil }
            if rng.chance(options.webWrongRate) { return rng.pick(Array(T.allCases).filter { $0 != v }) ?? v }
            return v
        }
        var parts: [String] = []
        for o in spec.objects {
            var w: [String] = []
            if let s = maybe(o.size, &rng) { w.append(rng.pick(Vocabulary.sizeWords(s)) ?? s.rawValue) }
            if let c = maybe(o.color, &rng) { w.append(rng.pick(Vocabulary.colorWords(c)) ?? c.rawValue) }
            let shape = rng.chance(options.webWrongRate) ? (rng.pick(ShapeKind.allCases) ?? o.shape) : o.shape
            w.append(rng.pick(Vocabulary.terseShapeWords(shape).filter { $0 != "triangel" }) ?? shape.rawValue)
            if let m = maybe(o.motion, &rng) { w.append(rng.pick(Vocabulary.terseMotionPhrases(m)) ?? m.rawValue) }
            parts.append(w.joined(separator: " "))
        }
        let prefix = rng.pick(["stock footage", "animated gif of", "free download:", "motion graphics", "video:", "clip art"]) ?? ""
        let suffix = rng.pick(["4k", "loop", "hd", "background animation", "royalty free", "seamless loop", ""]) ?? ""
        var text = "\(prefix) \(parts.joined(separator: rng.chance(0.5) ? " with " : " and "))"
        if let b = maybe(spec.background.color, &rng) {
            text += " \(rng.pick(Vocabulary.backgroundWords(b)) ?? b.rawValue) \(rng.pick(["background", "backdrop"]) ?? "background")"
        }
        if !suffix.isEmpty { text += " \(suffix)" }
        return rng.chance(0.5) ? text : text.uppercasedFirst
    }

    // MARK: Pieces

    static func objectPhrase(_ o: ObjectSpec, first: Bool, using rng: inout SplitMix64) -> String {
        let size = rng.pick(Vocabulary.sizeWords(o.size)) ?? o.size.rawValue
        let color = rng.pick(Vocabulary.colorWords(o.color)) ?? o.color.rawValue
        let shape = rng.pick(Vocabulary.shapeWords(o.shape)) ?? o.shape.rawValue
        let adverb = rng.pick(Vocabulary.speedWords(o.speed)) ?? o.speed.rawValue
        let motion = (rng.pick(Vocabulary.motionPhrases(o.motion)) ?? "").replacingOccurrences(of: "%", with: adverb)
        let start = rng.pick(["starting at", "beginning at"]) ?? "starting at"
        let region = StartRegion(x: o.x, y: o.y).rawValue
        return "a \(size) \(color) \(shape) \(start) the \(region) that \(motion)"
    }

    static func backgroundPhrase(_ b: Background, using rng: inout SplitMix64) -> (on: String, against: String) {
        let color = rng.pick(Vocabulary.backgroundWords(b.color)) ?? b.color.rawValue
        let style = rng.pick(Vocabulary.styleWords(b.style)) ?? ""
        let styled = style.isEmpty ? color : (b.style == .solid ? "\(style) \(color)" : "\(color) \(style)")
        return ("on a \(styled) background", "against a \(styled) backdrop")
    }

    static func joinList(_ items: [String]) -> String {
        switch items.count {
        case 0: return ""
        case 1: return items[0]
        case 2: return "\(items[0]) and \(items[1])"
        default: return items.dropLast().joined(separator: ", ") + ", and " + (items.last ?? "")
        }
    }

    static func capitalized(_ s: String) -> String { s.uppercasedFirst }

    /// Typos in words of 4+ letters: swap two neighbours, drop or double a letter.
    public static func addTypos(_ text: String, rate: Float, using rng: inout SplitMix64) -> String {
        let words = text.split(separator: " ", omittingEmptySubsequences: false).map { w -> String in
            var c = Array(w)
            guard c.count >= 4, c.allSatisfy({ $0.isLetter }), rng.chance(rate) else { return String(w) }
            let i = 1 + rng.index(c.count - 2)
            switch rng.index(3) {
            case 0: c.swapAt(i, i + 1)
            case 1: c.remove(at: i)
            default: c.insert(c[i], at: i)
            }
            return String(c)
        }
        return words.joined(separator: " ")
    }
}

extension String {
    var uppercasedFirst: String { prefix(1).uppercased() + dropFirst() }
}

