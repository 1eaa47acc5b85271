import ArgumentParser
import Foundation
import VGFormat
import VGTraining

/// `vgtrain export`: a training checkpoint's weights (EMA by default) as f16 safetensors with the
/// config and tokenizer — the file later stages start from and `vgpack` converts.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a checkpoint's EMA (or raw) weights as f16 safetensors.")
    @Option(help: "Training checkpoint (.safetensors).") var checkpoint: String
    @Option(name: .shortAndLong, help: "Output .safetensors.") var output: String
    @Flag(help: "Export the raw weights instead of the EMA.") var raw = false
    @Flag(help: "Keep f32 instead of f16.") var f32 = false

    func run() throws {
        let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: checkpoint))
        let (config, params) = try TrainingCheckpoint.loadWeights(file, prefix: raw ? "" : "ema.")
        var extra: [String: String] = [:]
        for k in ["vgrt.step"] { if let v = file.metadata[k] { extra[k] = v } }
        extra["vgrt.weights"] = raw ? "raw" : "ema"
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: output).deletingLastPathComponent(), withIntermediateDirectories: true)
        try TrainingCheckpoint.exportWeights(params, config: config, tokenizer: file.metadata[TrainingCheckpoint.tokenizerKey],
                                             asHalf: !f32, extra: extra, to: URL(fileURLWithPath: output))
        print("wrote \(output) (\(raw ? "raw" : "EMA") weights of step \(file.metadata["vgrt.step"] ?? "?"), \(params.count) parameters)")
    }
}
