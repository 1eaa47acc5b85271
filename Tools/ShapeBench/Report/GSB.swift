import Foundation

/// Good / Same / Bad comparison of two systems on the same prompts and seeds (ALGORITHMS.md §3):
/// per prompt and dimension, A is Good when its score beats B's by more than the dimension's margin,
/// Bad when B's beats A's, otherwise Same; the score is (G - B) / (G + S + B) in [-1, 1].
public struct GSBResult: Codable, Sendable {
    /// Tallies for one dimension.
    public struct Tally: Codable, Sendable, Equatable {
        /// Prompts where A won, tied, lost.
        public var good = 0, same = 0, bad = 0
        /// (G - B) / (G + S + B); 0 for an empty tally.
        public var score: Float { good + same + bad == 0 ? 0 : Float(good - bad) / Float(good + same + bad) }
    }
    /// Visual quality (ShapeBench visualQuality), margin 0.02.
    public var visualQuality = Tally()
    /// Motion quality (ShapeBench motionQuality), margin 0.02.
    public var motionQuality = Tally()
    /// Text alignment (attribute accuracy), margin 0.001 (any correct check more).
    public var textAlignment = Tally()
    /// Overall: per prompt, the sign of the sum of the three dimension votes.
    public var overall = Tally()
    /// Prompt ids present in only one set (not compared).
    public var unmatched: [String] = []

    /// Margins (VQ, MQ, TA) below which a difference counts as Same.
    public static let margins: (vq: Float, mq: Float, ta: Float) = (0.02, 0.02, 0.001)

    /// Compares A against B, pairing reports by id.
    public init(a: [VideoReport], b: [VideoReport]) {
        let bById = Dictionary(b.map { ($0.id, $0) }, uniquingKeysWith: { x, _ in x })
        let aIds = Set(a.map { $0.id })
        unmatched = (a.map { $0.id }.filter { bById[$0] == nil } + b.map { $0.id }.filter { !aIds.contains($0) }).sorted()
        func vote(_ x: Float, _ y: Float, _ margin: Float) -> Int { x - y > margin ? 1 : (y - x > margin ? -1 : 0) }
        func add(_ t: inout Tally, _ v: Int) { if v > 0 { t.good += 1 } else if v < 0 { t.bad += 1 } else { t.same += 1 } }
        for ra in a {
            guard let rb = bById[ra.id] else { continue }
            let vq = vote(ra.metrics.visualQuality, rb.metrics.visualQuality, Self.margins.vq)
            let mq = vote(ra.metrics.motionQuality, rb.metrics.motionQuality, Self.margins.mq)
            let ta = vote(ra.attributeAccuracy, rb.attributeAccuracy, Self.margins.ta)
            add(&visualQuality, vq)
            add(&motionQuality, mq)
            add(&textAlignment, ta)
            add(&overall, vq + mq + ta)
        }
    }

    /// A markdown table of the four tallies.
    public func markdown(a: String = "A", b: String = "B") -> String {
        var s = "## GSB: \(a) vs \(b)\n\n| dimension | good | same | bad | (G-B)/(G+S+B) |\n|---|---|---|---|---|\n"
        for (name, t) in [("visual quality", visualQuality), ("motion quality", motionQuality),
                          ("text alignment", textAlignment), ("overall", overall)] {
            s += "| \(name) | \(t.good) | \(t.same) | \(t.bad) | \(String(format: "%+.3f", t.score)) |\n"
        }
        if !unmatched.isEmpty { s += "\n\(unmatched.count) prompts present in only one set were not compared.\n" }
        return s
    }
}
