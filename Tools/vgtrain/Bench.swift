import ArgumentParser
import Foundation
import ShapeBench
import ShapeWorld
import VGVideo

/// `vgtrain bench`: rendering and scoring rates on one core, ShapeBench accuracy on clean ground
/// truth, the drop of each degradation's matching metric, and GSB sanity values.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure render / score rates (one core), clean accuracy, degradation drops and GSB values.")

    @Option(help: "Clips rendered for the rate.") var renderClips = 2000
    @Option(help: "Benchmark prompts scored (clean accuracy and rate).") var prompts = 320
    @Option(help: "Prompts used per degradation.") var degradePrompts = 80
    @Option(help: "Degradation strength.") var strength: Float = 0.5
    @Option(help: "Markdown output ('-' for stdout).") var markdown = "-"
    @OptionGroup var geometry: GeometryOptions

    /// The metric each degradation is expected to lower.
    static let matching: [DegradationKind: String] = [
        .flicker: "temporalFlicker", .jitter: "motionSmoothness", .blur: "sharpness", .noise: "noise",
        .colorDrift: "subjectConsistency", .deformation: "deformation", .droppedFrames: "motionSmoothness",
        .blockiness: "blockiness",
    ]

    func validate() throws {
        guard renderClips >= 1, prompts >= 1, degradePrompts >= 1, (0...1).contains(strength) else {
            throw ValidationError("--render-clips, --prompts and --degrade-prompts must be at least 1, --strength in [0, 1]")
        }
    }

    func run() throws {
        let config = try geometry.validated()
        var md = "## ShapeWorld / ShapeBench measurements\n\nGeometry \(config.frames) x \(config.height) x \(config.width), one thread.\n\n"
        // Rendering rate.
        var specs: [SceneSpec] = []
        var rng = SplitMix64(seed: 7)
        for _ in 0..<min(renderClips, 500) { specs.append(SceneSampler.random(using: &rng)) }
        var checksum: Float = 0
        let t0 = Date()
        for i in 0..<renderClips {
            let f = try Renderer.render(specs[i % specs.count], config: config)
            checksum += f[(i * 7919) % f.count]
        }
        let renderRate = Double(renderClips) / Date().timeIntervalSince(t0)
        md += "| measurement | value |\n|---|---|\n"
        md += "| render rate (random 1-3 object specs) | \(String(format: "%.0f", renderRate)) clips/s |\n"
        // Clean accuracy and scoring rate.
        let set = Array(BenchmarkSet.v1().prefix(prompts))
        let clean = try set.map { try Renderer.render($0.spec, config: config) }
        let t1 = Date()
        let cleanReports = try zip(set, clean).map { try ShapeBench.score(frames: $1, config: config, spec: $0.spec, id: $0.id) }
        let scoreRate = Double(set.count) / Date().timeIntervalSince(t1)
        md += "| scoring rate | \(String(format: "%.1f", scoreRate)) videos/s |\n\n"
        let cleanReport = BenchReport(reports: cleanReports)
        md += cleanReport.markdown(title: "Clean ground truth (\(set.count) benchmark prompts)")
        let fails = cleanReports.flatMap { r in r.failures.map { "\(r.id) \($0.attribute)[\($0.object.map(String.init) ?? "-")]: expected \($0.expected), saw \($0.observed)" } }
        if !fails.isEmpty { md += "\nFailed checks (\(fails.count)):\n\n" + fails.prefix(40).map { "- \($0)" }.joined(separator: "\n") + "\n" }
        // Degradations.
        let sub = Array(set.prefix(degradePrompts))
        let subClean = Array(cleanReports.prefix(degradePrompts))
        let base = BenchReport(reports: subClean)
        md += "\n### Degradations at strength \(strength) (\(sub.count) prompts)\n\n"
        md += "| degradation | matching metric | clean | degraded | drop | attribute accuracy | GSB clean vs degraded |\n|---|---|---|---|---|---|---|\n"
        var allDegraded: [VideoReport] = []
        for kind in DegradationKind.allCases {
            let d = Degradation(kind, strength: strength)
            let reports = try zip(sub, clean.prefix(degradePrompts)).map { p, f in
                try ShapeBench.score(frames: d.apply(f, config: config, seed: p.seed), config: config, spec: p.spec, id: p.id)
            }
            let r = BenchReport(reports: reports)
            let name = Bench.matching[kind] ?? ""
            let c0 = base.meanMetrics[name] ?? 0, c1 = r.meanMetrics[name] ?? 0
            let g = GSBResult(a: subClean, b: reports)
            md += "| \(kind.rawValue) | \(name) | \(String(format: "%.3f", c0)) | \(String(format: "%.3f", c1)) | \(String(format: "%.3f", c0 - c1)) | \(String(format: "%.3f", r.attributeAccuracy)) | \(String(format: "%+.3f", g.overall.score)) |\n"
            allDegraded += reports.enumerated().filter { $0.offset % DegradationKind.allCases.count == DegradationKind.allCases.firstIndex(of: kind) }.map { $0.element }
        }
        let selfG = GSBResult(a: cleanReports, b: cleanReports)
        let mixG = GSBResult(a: subClean, b: allDegraded)
        md += "\nGSB of the clean set against itself: overall \(String(format: "%+.3f", selfG.overall.score)). "
        md += "Clean against a mixed degraded set (each prompt one degradation):\n\n" + mixG.markdown(a: "clean", b: "degraded")
        md += "\n(checksum \(checksum))\n"
        try writeText(md, to: markdown)
    }
}

/// `vgtrain contact-sheet`: a PNG of a few rendered specs and a markdown file with their captions.
struct ContactSheet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contact-sheet", abstract: "A PNG of rendered specs (rows) and a markdown list of their three captions.")
    @Option(help: "PNG output path.") var out: String
    @Option(help: "Markdown output for the captions ('-' for stdout).") var captions = "-"
    @Option(help: "Number of scenes.") var count = 6
    @Option(help: "First seed.") var seed: UInt64 = 1
    @Option(help: "Instead of scenes: the first scene under every degradation at this strength (0 = off).")
    var degradations: Float = 0
    @Flag(help: "Print each scene's three captions under it (built-in 5 x 7 bitmap font).") var labels = false
    @OptionGroup var geometry: GeometryOptions

    func run() throws {
        let config = try geometry.validated()
        var strips: [(rgb: [UInt8], width: Int, height: Int)] = []
        var md = "| row | detailed | terse | web |\n|---|---|---|---|\n"
        let every = max(1, config.frames / 8)
        if degradations > 0 {
            var rng = SplitMix64(seed: seed)
            let clip = try Renderer.clip(SceneSampler.random(using: &rng), config: config, seed: seed)
            md = "| row | degradation |\n|---|---|\n| 1 | none: \(clip.captions.detailed) |\n"
            let rows = [("clean", clip.frames)] + DegradationKind.allCases.map { k in
                ("\(k.rawValue) at \(degradations)",
                 Degradation(k, strength: min(1, degradations)).apply(clip.frames, config: config, seed: seed))
            }
            for (i, row) in rows.enumerated() {
                let strip = Sheet.strip(row.1, config: config, every: every, scale: 2)
                strips.append(strip)
                if labels { strips.append(BitmapFont.render([row.0], width: strip.width, scale: 2)) }
                if i > 0 { md += "| \(i + 1) | \(row.0) |\n" }
            }
        }
        for i in 0..<(degradations > 0 ? 0 : max(1, count)) {
            let s = seed &+ UInt64(i)
            var rng = SplitMix64(seed: s)
            let clip = try Renderer.clip(SceneSampler.random(using: &rng), config: config, seed: s)
            let strip = Sheet.strip(clip.frames, config: config, every: every, scale: 2)
            strips.append(strip)
            if labels {
                let columns = (strip.width - 4) / ((BitmapFont.width + 1) * 2)
                let text = [("detailed", clip.captions.detailed), ("terse", clip.captions.terse), ("web", clip.captions.web)]
                    .flatMap { BitmapFont.wrap("\($0.0): \($0.1)", columns: columns) }
                strips.append(BitmapFont.render(text, width: strip.width, scale: 2))
            }
            md += "| \(i + 1) | \(clip.captions.detailed) | \(clip.captions.terse) | \(clip.captions.web) |\n"
        }
        let sheet = Sheet.stack(strips)
        do { try VideoIO.writePNG(rgb: sheet.rgb, width: sheet.width, height: sheet.height, to: out) } catch { throw CLIError("\(error)") }
        try writeText(md, to: captions)
    }
}
