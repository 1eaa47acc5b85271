import ArgumentParser
import Foundation
import VGCore
import VGFormat
import VGModel
import VGPack

/// vgpack: converts checkpoints (safetensors) into packed .vgpk models, and inspects and verifies them.
@main
struct VGPackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vgpack",
        abstract: "Pack safetensors checkpoints into .vgpk models; inspect and verify .vgpk files.",
        discussion: """
        Exit codes: 0 success, 64 usage error, 65 bad input file (corrupt, truncated, wrong architecture), 74 I/O error.

        Examples:
          vgpack convert Models/checkpoints/base.safetensors -o base-q8.vgpk --quant q8
          vgpack convert ckpt.safetensors -o m.vgpk --quant q4 --keep attn.qkv=q8 --zstd-level 3
          vgpack convert ckpt.safetensors -o m.vgpk --quant q8 --enhancer enhancer.safetensors
          vgpack inspect m.vgpk --json
          vgpack verify m.vgpk
        """,
        subcommands: [Convert.self, Inspect.self, Verify.self])
}

/// Maps errors to the documented exit codes with a one-line message on stderr.
func fail(_ error: Error) -> ExitCode {
    var stderr = FileHandle.standardError
    print("vgpack: error: \(error)", to: &stderr)
    if let e = error as? VGPKError { return ExitCode(e.kind == .io ? 74 : 65) }
    return ExitCode(65)
}

extension FileHandle: @retroactive TextOutputStream {
    public func write(_ string: String) { write(Data(string.utf8)) }
}

extension VGPKType: ExpressibleByArgument {}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Convert a safetensors checkpoint into a .vgpk file.")
    @Argument(help: "Input .safetensors file.") var input: String
    @Option(name: .shortAndLong, help: "Output .vgpk file.") var output: String
    @Option(help: "Type of the transformer blocks' linear weights: q8, q4, f16 or f32.") var quant: VGPKType = .q8
    @Option(help: "Keep tensors whose name contains PATTERN at TYPE, as PATTERN=TYPE (repeatable).") var keep: [String] = []
    @Option(help: "zstd level of the chunks (1-19; 3 is near the entropy bound on quantised weights).") var zstdLevel: Int32 = 3
    @Option(help: "Sampler default: steps.") var steps: Int?
    @Option(help: "Sampler default: guidance weight.") var guidance: Float?
    @Option(help: "Sampler default: the grid's shift (default: the model config's samplingShift, else 3).") var shift: Float?
    @Flag(help: "Mark the model as a distilled few-step student.") var distilled = false
    @Option(help: "Provenance: a stage that made this model (repeatable).") var stage: [String] = []
    @Option(help: "Provenance: source commit.") var sourceCommit: String?
    @Option(help: "A prompt-enhancer checkpoint (safetensors with vgrt.enhancer_config) to pack beside the model.") var enhancer: String?
    @Option(help: "A latent model's autoencoder (a `vgtrain autoencoder` file with its latent statistics); required when the model's channels are not 3.") var autoencoder: String?

    func validate() throws {
        guard (1...19).contains(zstdLevel) else { throw ValidationError("--zstd-level must be 1...19") }
        for k in keep { guard parseKeep(k) != nil else { throw ValidationError("--keep takes PATTERN=TYPE, got \(k)") } }
        if let shift { guard shift.isFinite, shift > 0 else { throw ValidationError("--shift must be a positive number, got \(shift)") } }
    }

    func run() throws {
        var o = VGPKConverter.Options()
        o.quant = quant; o.zstdLevel = zstdLevel
        o.keep = keep.compactMap(parseKeep)
        o.enhancer = enhancer.map { URL(fileURLWithPath: $0) }
        o.autoencoder = autoencoder.map { URL(fileURLWithPath: $0) }
        if steps != nil || guidance != nil || shift != nil || distilled {
            o.sampler = SamplerDefaults(steps: steps ?? (distilled ? 4 : 50), guidance: guidance ?? (distilled ? 1 : 5),
                                        shift: shift ?? Self.configShift(input), distilled: distilled)
        }
        if !stage.isEmpty || sourceCommit != nil { o.provenance = Provenance(stages: stage, sourceCommit: sourceCommit) }
        do {
            let s = try VGPKConverter.convert(input: URL(fileURLWithPath: input), output: URL(fileURLWithPath: output), options: o)
            let types = s.types.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
            print("\(output): \(s.tensors) tensors (\(types)), \(s.outputBytes) bytes (\(String(format: "%.1f", 100 * Double(s.outputBytes) / Double(max(s.inputBytes, 1))))% of the input)")
        } catch { throw fail(error) }
    }

    /// The sampling shift in a checkpoint's config (`vgrt.config`), or 3 when there is none; an
    /// unreadable file is left to the converter, which names what is wrong with it.
    static func configShift(_ path: String) -> Float {
        (try? TrainingCheckpointConfig.read(SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))))?.samplingShift ?? 3
    }

    func parseKeep(_ s: String) -> (pattern: String, type: VGPKType)? {
        let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, let t = VGPKType(rawValue: parts[1]) else { return nil }
        return (parts[0], t)
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a .vgpk file's tensors, types, sizes and metadata.")
    @Argument(help: "The .vgpk file.") var file: String
    @Flag(help: "Print JSON (the header plus sizes).") var json = false

    func run() throws {
        do {
            let r = try VGPKReader(contentsOf: URL(fileURLWithPath: file))
            if json {
                let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try e.encode(r.header), as: UTF8.self))
                return
            }
            let m = r.header.metadata
            print("\(file): vgpk \(VGPK.majorVersion).\(VGPK.minorVersion), \(r.header.tensors.count) tensors")
            if let a = m.architecture {
                print("architecture: \(a.frames)x\(a.height)x\(a.width)x\(a.channels) clips, patch \(a.patchT)x\(a.patchH)x\(a.patchW), D \(a.modelWidth), depth \(a.depth), heads \(a.heads); text D \(a.textWidth), depth \(a.textDepth), vocab \(a.vocabSize)")
            }
            if let ae = m.autoencoder {
                let c = ae.config
                print("autoencoder: \(c.height)x\(c.width) frames <-> \(c.latentHeight)x\(c.latentWidth)x\(c.latentChannels) latents, widths \(c.widths)")
            }
            if m.enhancer != nil {
                do {
                    let (e, _) = try r.enhancerWeights()
                    print("enhancer: decoder LM, D \(e.width), depth \(e.depth), heads \(e.heads), context \(e.contextLength), vocab \(e.vocabSize)")
                } catch { print("enhancer: unreadable (\(error))") }
            }
            if let s = m.sampler { print("sampler: \(s.steps) steps, guidance \(s.guidance), shift \(s.shift)\(s.distilled ? ", distilled" : "")") }
            if let p = m.provenance { print("provenance: stages \(p.stages.joined(separator: " -> ")), commit \(p.sourceCommit ?? "-")") }
            print("tokenizer: \(m.tokenizer == nil ? "none" : "\(m.tokenizer!.utf8.count) bytes of JSON")")
            var stored: UInt64 = 0, raw: UInt64 = 0
            for t in r.header.tensors {
                let s = t.chunks.reduce(UInt64(0)) { $0 + $1.storedSize }, w = t.chunks.reduce(UInt64(0)) { $0 + $1.rawSize }
                stored += s; raw += w
                print("  \(t.name)  \(t.type.rawValue)  \(t.shape)  \(w) bytes -> \(s) stored in \(t.chunks.count) chunk\(t.chunks.count == 1 ? "" : "s")")
            }
            print("total: \(raw) bytes of tensors, \(stored) stored")
        } catch { throw fail(error) }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check every checksum of a .vgpk file (and the tensors against its architecture).")
    @Argument(help: "The .vgpk file.") var file: String

    func run() throws {
        do {
            let r = try VGPKReader(contentsOf: URL(fileURLWithPath: file))
            try r.verify()
            if r.header.metadata.architecture != nil { _ = try r.modelWeights(); _ = try r.latentCodec() }
            if r.hasEnhancer { _ = try r.enhancerWeights() }
            let chunks = r.header.tensors.reduce(0) { $0 + $1.chunks.count }
            print("\(file): OK (header and \(chunks) chunk checksums, \(r.header.tensors.count) tensors)")
        } catch { throw fail(error) }
    }
}
