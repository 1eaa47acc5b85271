import Foundation
import ShapeWorld

/// A whole set's scores: per-attribute accuracy, mean metrics, dynamic degree, and every video.
public struct BenchReport: Codable, Sendable {
    /// Number of videos scored.
    public var videos: Int
    /// Mean share of correct checks per video.
    public var attributeAccuracy: Float
    /// Accuracy per attribute over all checks of that attribute.
    public var perAttribute: [String: Float]
    /// Mean of each metric over the videos.
    public var meanMetrics: [String: Float]
    /// VBench dynamic degree: share of videos whose motion magnitude passes 0.1.
    public var dynamicDegree: Float
    /// Prompts that had no video, or whose video could not be read.
    public var missing: [String]
    /// Every video's report.
    public var reports: [VideoReport]

    public init(reports: [VideoReport], missing: [String] = []) {
        self.reports = reports
        self.missing = missing
        videos = reports.count
        let n = Float(max(reports.count, 1))
        attributeAccuracy = reports.map { $0.attributeAccuracy }.reduce(0, +) / n
        var per: [String: Float] = [:]
        for a in ShapeBench.attributes {
            let cs = reports.flatMap { $0.checks.filter { $0.attribute == a } }
            if !cs.isEmpty { per[a] = Float(cs.filter { $0.correct }.count) / Float(cs.count) }
        }
        perAttribute = per
        var mm: [String: Float] = [:]
        for (k, f) in BenchReport.metricFields { mm[k] = reports.map { f($0.metrics) }.reduce(0, +) / n }
        meanMetrics = mm
        dynamicDegree = Float(reports.filter { $0.metrics.dynamic }.count) / n
    }

    /// The metrics in table order.
    public static let metricFields: [(String, @Sendable (VideoMetrics) -> Float)] = [
        ("temporalFlicker", { $0.temporalFlicker }), ("motionSmoothness", { $0.motionSmoothness }),
        ("subjectConsistency", { $0.subjectConsistency }), ("noise", { $0.noise }), ("sharpness", { $0.sharpness }),
        ("blockiness", { $0.blockiness }), ("deformation", { $0.deformation }),
        ("visualQuality", { $0.visualQuality }), ("motionQuality", { $0.motionQuality }),
    ]

    /// Objects found against objects prompted: `[prompted count: [videos with 0, 1, ..., 5, 6+ found]]`,
    /// from each video's count check (expected) and detected scene. Computed, so the JSON keeps its
    /// fields; a video without a count check is left out.
    public var countTable: [Int: [Int]] {
        var table: [Int: [Int]] = [:]
        for r in reports {
            guard let check = r.checks.first(where: { $0.attribute == "count" }), let prompted = Int(check.expected) else { continue }
            table[prompted, default: Array(repeating: 0, count: BenchReport.countColumns)][min(max(r.detected.count, 0), BenchReport.countColumns - 1)] += 1
        }
        return table
    }

    /// Asked against judged for one object attribute: `[expected: [observed: checks]]`, over every
    /// matched object's check of `attribute` (e.g. "shape": how many asked stars were judged circles).
    /// Computed, like `countTable`.
    public func confusion(_ attribute: String) -> [String: [String: Int]] {
        var table: [String: [String: Int]] = [:]
        for r in reports {
            for c in r.checks where c.attribute == attribute { table[c.expected, default: [:]][c.observed, default: 0] += 1 }
        }
        return table
    }

    /// The attributes whose confusion tables the markdown summary shows.
    public static let confusionAttributes = ["shape", "size", "motion"]

    /// Columns of `countTable`: 0 to 5 objects found, then 6 or more.
    public static let countColumns = 7

    /// Pretty JSON (sorted keys).
    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }

    /// A markdown summary: attribute accuracies, metric means, then objects found per prompted count.
    public func markdown(title: String = "ShapeBench") -> String {
        var s = "## \(title)\n\n\(videos) videos"
        if !missing.isEmpty { s += ", \(missing.count) missing or unreadable" }
        s += ".\n\n| attribute | accuracy |\n|---|---|\n"
        s += "| **all (mean per video)** | **\(fmt(attributeAccuracy))** |\n"
        for a in ShapeBench.attributes { if let v = perAttribute[a] { s += "| \(a) | \(fmt(v)) |\n" } }
        s += "\n| metric | mean |\n|---|---|\n"
        for (k, _) in BenchReport.metricFields { s += "| \(k) | \(fmt(meanMetrics[k] ?? 0)) |\n" }
        s += "| dynamicDegree | \(fmt(dynamicDegree)) |\n"
        let table = countTable
        if !table.isEmpty {
            let last = BenchReport.countColumns - 1
            let columns = (0..<last).map(String.init) + ["\(last)+"]
            s += "\n| objects found | " + columns.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: columns.count) + "\n"
            for prompted in table.keys.sorted() {
                s += "| \(prompted) prompted | " + (table[prompted] ?? []).map(String.init).joined(separator: " | ") + " |\n"
            }
            s += "| all | " + (0..<BenchReport.countColumns).map { c in String(table.values.map { $0[c] }.reduce(0, +)) }.joined(separator: " | ") + " |\n"
        }
        for attribute in BenchReport.confusionAttributes {
            let t = confusion(attribute)
            guard !t.isEmpty else { continue }
            let judged = Set(t.values.flatMap { $0.keys }).sorted()
            s += "\n| \(attribute) (asked ↓, judged →) | " + judged.joined(separator: " | ") + " | correct |\n|---|"
            s += String(repeating: "---|", count: judged.count + 1) + "\n"
            for asked in t.keys.sorted() {
                let row = t[asked] ?? [:]
                let total = row.values.reduce(0, +)
                s += "| \(asked) | " + judged.map { String(row[$0] ?? 0) }.joined(separator: " | ")
                s += " | \(row[asked] ?? 0) of \(total) |\n"
            }
        }
        return s
    }
}

func fmt(_ x: Float) -> String { String(format: "%.3f", x) }
