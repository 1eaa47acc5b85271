import ArgumentParser
import Foundation
import ShapeBench
import ShapeWorld
import VGCore
import VGFormat
import VGModel
import VGPack
import VGText
import VGTraining
import VGVideo

/// A CLI failure with a readable message (ArgumentParser prints it and exits non-zero).
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ m: String) { description = m }
}

/// Frame geometry options shared by the verbs.
struct GeometryOptions: ParsableArguments {
    @Option(help: "Frames per clip.") var frames = 16
    @Option(help: "Frame height in pixels.") var height = 64
    @Option(help: "Frame width in pixels.") var width = 64
    @Option(help: "Frames per second.") var fps = 8

    var config: RenderConfig { RenderConfig(frames: frames, height: height, width: width, fps: fps) }
    func validated() throws -> RenderConfig {
        do { try config.validate() } catch { throw CLIError("\(error)") }
        return config
    }
}

/// Which prompts to score, and where the table goes.
struct PromptSetOptions: ParsableArguments {
    @Option(help: "Prompt set JSON (default: the built-in v1).") var set: String?
    @Option(help: "Only the first N prompts.") var limit: Int?
    @Option(help: "Markdown table path ('-' for stdout).") var markdown = "-"
    @Option(help: "JSON report path.") var json: String?
}

/// A scene spec from a JSON file path or inline JSON, validated.
func decodeSpec(_ arg: String) throws -> SceneSpec {
    let text = FileManager.default.fileExists(atPath: arg) ? (try? String(contentsOfFile: arg, encoding: .utf8)) ?? "" : arg
    do {
        let s = try JSONDecoder().decode(SceneSpec.self, from: Data(text.utf8))
        try s.validate()
        return s
    } catch { throw CLIError("the spec is not a valid SceneSpec: \(error)") }
}

/// The scene given as `--spec` (JSON) or `--caption`, nil when neither was given.
func sceneArgument(spec: String?, caption: String?, seed: UInt64) throws -> SceneSpec? {
    if let spec { return try decodeSpec(spec) }
    guard let caption else { return nil }
    do { return try CaptionParser.parse(caption, seed: seed) } catch { throw CLIError("\(error)") }
}

/// Parses "kind:strength", e.g. "blur:0.5".
func parseDegradation(_ s: String) throws -> Degradation {
    let parts = s.split(separator: ":")
    guard parts.count == 2, let kind = DegradationKind(rawValue: String(parts[0])),
          let strength = Float(parts[1]), (0...1).contains(strength) else {
        let kinds = DegradationKind.allCases.map { $0.rawValue }.joined(separator: ", ")
        throw CLIError("bad degradation \"\(s)\": use kind:strength with strength in [0, 1]; kinds: \(kinds)")
    }
    return Degradation(kind, strength: strength)
}

/// Parses an option's `lo,hi` into `lo...hi`, refusing anything but two finite numbers with
/// `within.lowerBound <= lo <= hi <= within.upperBound`.
func parseRange(_ text: String, option: String, within: ClosedRange<Float>) throws -> ClosedRange<Float> {
    let parts = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 2, let lo = parts[0], let hi = parts[1], lo.isFinite, hi.isFinite, within.lowerBound <= lo, lo <= hi,
          hi <= within.upperBound else {
        throw CLIError("\(option) takes 'lo,hi' with \(within.lowerBound) <= lo <= hi <= \(within.upperBound) (got '\(text)')")
    }
    return lo...hi
}

/// Noise levels from a comma-separated `--levels` argument, each in [0, 1].
func parseNoiseLevels(_ text: String) throws -> [Float] {
    let parsed = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard !parsed.isEmpty, parsed.allSatisfy({ $0.map { (0...1).contains($0) } ?? false }) else {
        throw CLIError("--levels: numbers in [0, 1], comma-separated (got \"\(text)\")")
    }
    return parsed.map { $0! }
}

/// Writes text to a file atomically, or stdout for "-".
func writeText(_ text: String, to path: String) throws {
    if path == "-" { print(text); return }
    do { try AtomicFile.write(Array(text.utf8), to: path) } catch { throw CLIError("cannot write \(path): \(error)") }
}

func makeDirectory(_ path: String) throws {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw CLIError("cannot create directory \(path): \(error.localizedDescription)")
    }
}

/// Renders a benchmark prompt (optionally degraded) to frames.
func renderPrompt(_ p: BenchmarkPrompt, config: RenderConfig, degradations: [Degradation]) throws -> [Float] {
    let frames = try Renderer.render(p.spec, config: config)
    return degradations.apply(frames, config: config, seed: p.seed)
}

/// Scores the videos `<dir>/<id>.mp4` (or `.y4m`) against a prompt set.
func scoreFolder(_ dir: String, prompts: [BenchmarkPrompt], config: RenderConfig) -> BenchReport {
    var reports: [VideoReport] = []
    var missing: [String] = []
    for p in prompts {
        let candidates = ["mp4", "y4m", "mkv", "webm"].map { "\(dir)/\(p.id).\($0)" }
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            missing.append(p.id)
            continue
        }
        do {
            let v = try VideoIO.read(path: path, width: config.width, height: config.height, frames: config.frames)
            reports.append(try ShapeBench.score(frames: Clip.floats(v.rgb), config: config, spec: p.spec, id: p.id))
        } catch {
            missing.append("\(p.id) (\(error))")
        }
    }
    return BenchReport(reports: reports, missing: missing)
}

/// The prompt set: a JSON file, or the built-in v1, optionally the first `limit`.
func loadPrompts(_ path: String?, limit: Int?) throws -> [BenchmarkPrompt] {
    var p: [BenchmarkPrompt]
    if let path { do { p = try BenchmarkSet.load(path: path) } catch { throw CLIError("\(error)") } } else { p = BenchmarkSet.v1() }
    if let limit { p = Array(p.prefix(max(0, limit))) }
    return p
}

/// A model ready to sample or probe: weights from exported weights / a training checkpoint (`ema`: its
/// EMA tensors) or a packed .vgpk (quantised kernels), its tokenizer, and the clip geometry.
struct EvaluationModel {
    let config: ModelConfig
    let tokenizer: BPETokenizer
    let dit: VideoDiT
    let render: RenderConfig
    /// The autoencoder of a latent model (`ModelConfig.channels` != 3), nil for a pixel model.
    let codec: LatentCodec?

    init(path: String, ema: Bool, autoencoder: String? = nil) throws {
        let weights: ModelWeights, tokenizerJSON: String?
        var packedCodec: LatentCodec?
        if path.hasSuffix(".vgpk") {
            let r = try VGPKReader(contentsOf: URL(fileURLWithPath: path))
            weights = try r.modelWeights(); tokenizerJSON = r.header.metadata.tokenizer
            packedCodec = try r.latentCodec()
            if packedCodec != nil, autoencoder != nil { throw CLIError("\(path) carries its autoencoder; leave out --autoencoder") }
        } else {
            let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))
            let (config, params) = try TrainingCheckpoint.loadWeights(file, prefix: ema ? "ema." : "")
            weights = try ModelWeights(params, config: config); tokenizerJSON = file.metadata[TrainingCheckpoint.tokenizerKey]
        }
        guard let tj = tokenizerJSON else { throw CLIError("\(path) has no tokenizer in its metadata") }
        config = weights.config
        tokenizer = try BPETokenizer(jsonString: tj)
        dit = try VideoDiT(weights: weights)
        if config.channels == 3 {
            guard autoencoder == nil else { throw CLIError("\(path) is a pixel model; --autoencoder is for latent models") }
            codec = nil
            render = RenderConfig(frames: config.frames, height: config.height, width: config.width, fps: 8)
        } else {
            let k: LatentCodec
            if let packedCodec { k = packedCodec } else {
                guard let autoencoder else { throw CLIError("\(path) works on \(config.channels)-channel latents; give its --autoencoder") }
                k = try AutoencoderTrainer.loadCodec(URL(fileURLWithPath: autoencoder))
            }
            let a = k.autoencoder.config
            if let m = a.latentGridMismatch(config) { throw CLIError("\(autoencoder ?? path): \(m)") }
            codec = k
            render = RenderConfig(frames: config.frames, height: a.height, width: a.width, fps: 8)
        }
    }

    /// A sampled or predicted clip of the model (`[F, H, W, Ch]`) as frames in [0, 1] (decoded first
    /// for a latent model).
    func frames(_ ctx: ComputeContext, clip: Tensor) throws -> [Float] {
        let px = try codec.map { try $0.decode(ctx, latents: clip) } ?? clip
        return px.toArray().map { min(1, max(0, ($0 + 1) / 2)) }
    }
}

/// `limit` prompts spread evenly over the fixed v1 benchmark set.
/// `limit` prompts spread evenly over the v1 set; a limit outside 1...320 is a usage error, not
/// silently clamped.
func benchmarkPrompts(limit: Int) throws -> [BenchmarkPrompt] {
    let all = BenchmarkSet.v1()
    guard (1...all.count).contains(limit) else { throw CLIError("--limit: 1...\(all.count) prompts (got \(limit))") }
    return (0..<limit).map { all[$0 * all.count / limit] }
}

/// ShapeBench checks counted per attribute (or any key), for the diagnostics that judge many clips
/// at once (`probe --judge`, `evaluate --trace`).
struct CheckTally {
    private(set) var counts: [String: (right: Int, all: Int)] = [:]

    mutating func add(_ check: AttributeCheck, as key: String? = nil) {
        let k = key ?? check.attribute, t = counts[k] ?? (0, 0)
        counts[k] = (t.right + (check.correct ? 1 : 0), t.all + 1)
    }

    /// "accuracy (checks)", or "-" when nothing was counted under `key`.
    func cell(_ key: String) -> String {
        guard let t = counts[key], t.all > 0 else { return "-" }
        return String(format: "%.3f (%d)", Double(t.right) / Double(t.all), t.all)
    }
}
