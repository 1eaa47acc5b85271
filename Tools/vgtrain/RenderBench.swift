import ArgumentParser
import Foundation
import ShapeBench
import ShapeWorld
import VGVideo

/// `vgtrain render-bench`: the benchmark prompts rendered as ground truth (optionally degraded) to
/// `<dir>/<id>.mp4`, a reference set for `score` and `gsb`.
struct RenderBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render-bench",
        abstract: "Render the benchmark prompts (ground truth, optionally degraded) to <dir>/<id>.mp4.")

    @Option(help: "Output directory.") var out: String
    @Option(help: "Prompt set JSON (default: the built-in v1).") var set: String?
    @Option(help: "Only the first N prompts.") var limit: Int?
    @Option(name: .customLong("degrade"), help: "kind:strength, repeatable.") var degrade: [String] = []
    @OptionGroup var geometry: GeometryOptions

    func run() throws {
        let config = try geometry.validated()
        let prompts = try loadPrompts(set, limit: limit)
        let degradations = try degrade.map(parseDegradation)
        try makeDirectory(out)
        for p in prompts {
            do {
                let frames = try renderPrompt(p, config: config, degradations: degradations)
                let v = VideoFrames(width: config.width, height: config.height, fps: config.fps, rgb: Clip.rgb24(frames))
                try VideoIO.writeMP4(v, to: "\(out)/\(p.id).mp4")
            } catch { throw CLIError("\(p.id): \(error)") }
        }
        print("wrote \(prompts.count) videos to \(out)")
    }
}

/// `vgtrain score`: a folder of videos against the benchmark prompts.
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score <dir>/<id>.mp4 videos against the benchmark prompts: JSON report and markdown table.")

    @Argument(help: "Directory holding <id>.mp4 (or .y4m) per prompt.") var videos: String
    @OptionGroup var prompts: PromptSetOptions
    @OptionGroup var geometry: GeometryOptions

    func run() throws {
        let config = try geometry.validated()
        guard FileManager.default.fileExists(atPath: videos) else { throw CLIError("no such directory: \(videos)") }
        let report = scoreFolder(videos, prompts: try loadPrompts(prompts.set, limit: prompts.limit), config: config)
        guard report.videos > 0 else { throw CLIError("no readable <id>.mp4 videos in \(videos) (\(report.missing.count) prompts missing)") }
        if let json = prompts.json { try writeText(String(decoding: try report.json(), as: UTF8.self), to: json) }
        try writeText(report.markdown(title: "ShapeBench: \(videos)"), to: prompts.markdown)
    }
}

/// `vgtrain gsb`: Good / Same / Bad of folder A against folder B.
struct GSBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gsb", abstract: "GSB comparison of two folders of videos for the same prompts and seeds.")

    @Argument(help: "Folder A (<id>.mp4).") var a: String
    @Argument(help: "Folder B (<id>.mp4).") var b: String
    @OptionGroup var prompts: PromptSetOptions
    @OptionGroup var geometry: GeometryOptions

    func run() throws {
        let config = try geometry.validated()
        let list = try loadPrompts(prompts.set, limit: prompts.limit)
        for d in [a, b] where !FileManager.default.fileExists(atPath: d) { throw CLIError("no such directory: \(d)") }
        let ra = scoreFolder(a, prompts: list, config: config), rb = scoreFolder(b, prompts: list, config: config)
        guard ra.videos > 0, rb.videos > 0 else { throw CLIError("a folder has no readable videos (\(ra.videos) in A, \(rb.videos) in B)") }
        let g = GSBResult(a: ra.reports, b: rb.reports)
        if let json = prompts.json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeText(String(decoding: try e.encode(g), as: UTF8.self), to: json)
        }
        try writeText(g.markdown(a: a, b: b), to: prompts.markdown)
    }
}

/// `vgtrain benchmark-set`: writes the built-in v1 prompt set as JSON.
struct BenchmarkSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "benchmark-set", abstract: "Write the built-in benchmark prompt set (v1) as JSON.")
    @Option(help: "Output path ('-' for stdout).") var out = "-"
    func run() throws {
        try writeText(String(decoding: try BenchmarkSet.json(BenchmarkSet.v1()), as: UTF8.self), to: out)
    }
}

/// `vgtrain make-shard`: random clips (a share of them degraded) to a `.vgsw` shard.
struct MakeShard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-shard", abstract: "Render random clips with captions (optionally a degraded share) to a .vgsw shard.")
    @Option(help: "Output shard path.") var out: String
    @Option(help: "Number of clips.") var count = 100
    @Option(help: "Stream seed (clip i depends only on seed and i).") var seed: UInt64 = 0
    @Option(help: "Share of clips given 1-2 random degradations of strength 0.2-0.8.") var degradedShare: Float = 0
    @Option(help: "Most objects per scene (1-\(SceneSpec.maxObjects)); 1 gives single-object scenes, as `pretrain --max-objects 1`.") var maxObjects = SceneSpec.maxObjects
    @Option(help: "Share of non-round objects shown upright (rotation 0), as `pretrain --upright-share`.") var uprightShare: Float = 0
    @OptionGroup var geometry: GeometryOptions

    func run() throws {
        let config = try geometry.validated()
        guard count >= 1, count <= 1_000_000 else { throw CLIError("--count must be in 1...1000000") }
        guard (1...SceneSpec.maxObjects).contains(maxObjects) else { throw CLIError("--max-objects: 1...\(SceneSpec.maxObjects) (got \(maxObjects))") }
        guard (0...1).contains(degradedShare), (0...1).contains(uprightShare) else { throw CLIError("--degraded-share and --upright-share are shares in [0, 1]") }
        let stream = ClipStream(config: config, seed: seed, degradedShare: degradedShare, maxObjects: maxObjects, uprightShare: uprightShare)
        let records: [ShardRecord]
        do { records = try stream.records(0..<count) } catch { throw CLIError("\(error)") }
        do { try Shard.write(records, config: config, to: out) } catch { throw CLIError("\(error)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print("wrote \(count) clips to \(out) (\(size / 1024) KiB)")
    }
}
