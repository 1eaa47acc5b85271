import ArgumentParser
import Foundation
import VGFormat
import VGModel
import VGTraining

/// `vgtrain export`: a training checkpoint's weights (EMA by default) as f16 safetensors with the
/// config and tokenizer — the file later stages start from and `vgpack` converts. With `--frames`
/// the weights move to another clip length (`ClipLength.reframe`): short clips for image-like
/// training, and back.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a checkpoint's EMA (or raw) weights as f16 safetensors.")
    @Option(help: "Training checkpoint (.safetensors); with --raw also exported weights.") var checkpoint: String
    @Option(name: .shortAndLong, help: "Output .safetensors.") var output: String
    @Flag(help: "Export the raw weights instead of the EMA.") var raw = false
    @Flag(help: "Keep f32 instead of f16.") var f32 = false
    @Option(help: "Write the weights for clips of this many frames (the video position table is cut or, with --position-from, rebuilt).") var frames: Int?
    @Option(help: "With --frames longer than the weights' clips: exported weights of that length whose position rows the new table starts from (plus what training changed in the matching rows).") var positionFrom: String?
    @Flag(help: "Write the DiT at twice the width and heads, computing what it computed (ModelWidth.doubled); the text encoder keeps its width.") var doubleWidth = false
    @Option(help: "With --double-width: Gaussian noise on each weight matrix, as a share of its RMS, so that the copies can learn apart.") var widthNoise: Float = 0.01

    func run() throws {
        let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: checkpoint))
        var (config, params) = try TrainingCheckpoint.loadWeights(file, prefix: raw ? "" : "ema.")
        if positionFrom != nil && frames == nil { throw CLIError("--position-from goes with --frames") }
        if let frames {
            let reference = try positionFrom.map { path -> ParameterSet in
                do { return try TrainingCheckpoint.loadWeights(try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))).1 } catch {
                    throw CLIError("--position-from \(path): \(error)")
                }
            }
            do { params = try ClipLength.reframe(params, frames: frames, reference: reference) } catch { throw CLIError("--frames: \(error)") }
            config = params.config
        }
        if doubleWidth {
            do { params = try ModelWidth.doubled(params, noise: widthNoise) } catch { throw CLIError("--double-width: \(error)") }
            config = params.config
        }
        var extra: [String: String] = [:]
        for k in ["vgrt.step"] { if let v = file.metadata[k] { extra[k] = v } }
        extra["vgrt.weights"] = raw ? "raw" : "ema"
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: output).deletingLastPathComponent(), withIntermediateDirectories: true)
        try TrainingCheckpoint.exportWeights(params, config: config, tokenizer: file.metadata[TrainingCheckpoint.tokenizerKey],
                                             asHalf: !f32, extra: extra, to: URL(fileURLWithPath: output))
        print("wrote \(output) (\(raw ? "raw" : "EMA") weights of step \(file.metadata["vgrt.step"] ?? "?"), \(params.count) parameters)")
    }
}
