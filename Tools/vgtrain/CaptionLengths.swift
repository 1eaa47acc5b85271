import ArgumentParser
import Foundation
import ShapeWorld
import VGModel
import VGText

/// `vgtrain caption-lengths`: how many tokens the pretraining stream's captions take under a model's
/// tokenizer, by caption level and object count, and how many do not fit the text encoder (the
/// encoder sees only the first `maxTextTokens` ids, bos and eos included).
struct CaptionLengths: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption-lengths",
        abstract: "Token counts of the ShapeWorld stream's captions under a model's tokenizer (a training diagnostic).",
        discussion: """
        Example:
          vgtrain caption-lengths --model Models/checkpoints/base.safetensors --clips 2000
        """)

    @Option(help: "Model weights or checkpoint (.safetensors), or a packed .vgpk.") var model: String
    @Option(help: "Clips of the stream to read.") var clips = 2000
    @Option(help: "Seed of the stream.") var seed: UInt64 = 1

    func run() throws {
        guard (1...1_000_000).contains(clips) else { throw CLIError("--clips takes 1...1000000") }
        let m = try EvaluationModel(path: model, ema: false)
        let limit = m.config.maxTextTokens
        let stream = ClipStream(config: m.render, seed: seed)
        // [level][object count] -> token counts (with bos and eos)
        var counts: [String: [Int: [Int]]] = [:]
        for i in 0..<clips {
            let clip = try stream.record(at: i).clip
            let objects = clip.spec?.objects.count ?? 0
            for (level, text) in [("detailed", clip.captions.detailed), ("terse", clip.captions.terse), ("web", clip.captions.web)] {
                let n = try m.tokenizer.encode(text, addBos: true, addEos: true).count
                counts[level, default: [:]][objects, default: []].append(n)
            }
        }
        print("| caption | objects | clips | mean tokens | max tokens | over \(limit) (truncated) |")
        print("|---|---|---|---|---|---|")
        for level in ["detailed", "terse", "web"] {
            for (objects, ns) in (counts[level] ?? [:]).sorted(by: { $0.key < $1.key }) {
                let over = ns.filter { $0 > limit }.count
                print(String(format: "| %@ | %d | %d | %.1f | %d | %d (%.0f %%) |", level, objects, ns.count,
                             Double(ns.reduce(0, +)) / Double(ns.count), ns.max() ?? 0, over, 100 * Double(over) / Double(ns.count)))
            }
        }
    }
}
