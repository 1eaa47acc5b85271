import Foundation
import VGCore
import VGFormat
import VGModel

/// Training checkpoints in safetensors, as two files so each stays small enough for git:
/// `NAME.safetensors` holds the weights under their own names, the EMA under `ema.`, and in the
/// metadata (all strings, as safetensors requires) the model config, the optimizer config and step,
/// the RNG state, the data position and the tokenizer; `NAME.optim.safetensors` holds Adam's moments
/// under `optim.m.` / `optim.v.`. Everything needed to resume exactly; each file written atomically.
public enum TrainingCheckpoint {
    public static let configKey = "vgrt.config", optimizerKey = "vgrt.optimizer", stepKey = "vgrt.step"
    public static let rngKey = "vgrt.rng", dataKey = "vgrt.data_position", tokenizerKey = "vgrt.tokenizer"

    /// What a checkpoint restores besides the tensors.
    public struct State: Sendable {
        public var config: ModelConfig
        public var optimizer: OptimizerConfig
        public var step: Int
        public var rng: SeededRandom
        public var dataPosition: Int
        public var tokenizer: String?
        public var metadata: [String: String]
    }

    /// Saves the complete training state of `trainer`.
    public static func save(_ trainer: FlowMatchingTrainer, dataPosition: Int, tokenizer: String?, extra: [String: String] = [:],
                            to url: URL) throws {
        var meta = extra
        meta[configKey] = try json(trainer.config)
        meta[optimizerKey] = try json(trainer.optimizer.config)
        meta[stepKey] = String(trainer.optimizer.step)
        meta[rngKey] = String(trainer.rng.state)
        meta[dataKey] = String(dataPosition)
        if let tokenizer { meta[tokenizerKey] = tokenizer }
        var w = SafeTensorsWriter(metadata: meta)
        var o = SafeTensorsWriter(metadata: [stepKey: String(trainer.optimizer.step)])
        for name in trainer.params.names {
            try w.add(name, tensor: try trainer.params.tensor(name))
            try o.add("optim.m." + name, tensor: try trainer.optimizer.m.tensor(name))
            try o.add("optim.v." + name, tensor: try trainer.optimizer.v.tensor(name))
            if let ema = trainer.optimizer.ema { try w.add("ema." + name, tensor: try ema.tensor(name)) }
        }
        // Moments first: a crash between the two writes leaves a step mismatch that restore detects.
        try o.write(to: optimizerURL(for: url))
        try w.write(to: url)
    }

    /// The companion file holding Adam's moments.
    public static func optimizerURL(for url: URL) -> URL {
        url.deletingPathExtension().appendingPathExtension("optim.safetensors")
    }

    /// Writes weights only (e.g. the EMA, as f16) with the config and tokenizer: the file later
    /// stages start from and `vgpack` converts. Training-only auxiliary heads (`aux.*`) are left out (the
    /// written config has none), so the file is the model the runtime runs.
    public static func exportWeights(_ params: ParameterSet, config: ModelConfig, tokenizer: String?, asHalf: Bool,
                                     extra: [String: String] = [:], to url: URL) throws {
        var meta = extra, written = config
        written.shapeHeadClasses = 0; written.shapeHeadBlock = 0; written.maskHeadValues = 0
        meta[configKey] = try json(written)
        if let tokenizer { meta[tokenizerKey] = tokenizer }
        var w = SafeTensorsWriter(metadata: meta)
        for name in params.names where !name.hasPrefix("aux.") { try w.add(name, tensor: try params.tensor(name), as: asHalf ? .f16 : .f32) }
        try w.write(to: url)
    }

    /// Reads the model config of a checkpoint or exported weights.
    public static func config(of file: SafeTensorsFile) throws -> ModelConfig {
        guard let s = file.metadata[configKey] else { throw ModelError.badParameter("\(file.fileName): no \(configKey) in the metadata") }
        let c: ModelConfig
        do { c = try JSONDecoder().decode(ModelConfig.self, from: Data(s.utf8)) }
        catch { throw ModelError.invalidConfig("\(file.fileName): \(error)") }
        try c.validate()
        return c
    }

    /// Loads the weights (f32 or f16 files) into a fresh parameter set of the stored config.
    public static func loadWeights(_ file: SafeTensorsFile, prefix: String = "") throws -> (ModelConfig, ParameterSet) {
        let c = try config(of: file)
        let p = try ParameterSet(config: c)
        for name in p.names { try p.set(name, from: try file.tensor(named: prefix + name)) }
        return (c, p)
    }

    /// Restores a trainer saved by `save` at `url`: weights, moments, EMA, step and RNG.
    public static func restore(_ url: URL, context: ComputeContext) throws -> (FlowMatchingTrainer, State) {
        let file = try SafeTensorsFile(contentsOf: url)
        let optim = try SafeTensorsFile(contentsOf: optimizerURL(for: url))
        guard optim.metadata[stepKey] == file.metadata[stepKey] else {
            throw ModelError.badParameter("\(optim.fileName) is from step \(optim.metadata[stepKey] ?? "?"), \(file.fileName) from \(file.metadata[stepKey] ?? "?")")
        }
        return try restore(file, optimizer: optim, context: context)
    }

    static func restore(_ file: SafeTensorsFile, optimizer optim: SafeTensorsFile, context: ComputeContext) throws -> (FlowMatchingTrainer, State) {
        let (c, params) = try loadWeights(file)
        let m = file.metadata
        guard let os = m[optimizerKey], let steps = m[stepKey].flatMap(Int.init), let rng = m[rngKey].flatMap(UInt64.init),
              let pos = m[dataKey].flatMap(Int.init) else {
            throw ModelError.badParameter("\(file.fileName): not a training checkpoint (optimizer state missing)")
        }
        let oc = try JSONDecoder().decode(OptimizerConfig.self, from: Data(os.utf8))
        let trainer = try FlowMatchingTrainer(config: c, params: params, optimizer: oc, context: context, seed: 0)
        trainer.rng = SeededRandom(seed: rng)
        trainer.optimizer.step = steps
        for name in params.names {
            try trainer.optimizer.m.set(name, from: try optim.tensor(named: "optim.m." + name))
            try trainer.optimizer.v.set(name, from: try optim.tensor(named: "optim.v." + name))
            if let ema = trainer.optimizer.ema { try ema.set(name, from: try file.tensor(named: "ema." + name)) }
        }
        return (trainer, State(config: c, optimizer: oc, step: steps, rng: trainer.rng, dataPosition: pos,
                               tokenizer: m[tokenizerKey], metadata: m))
    }

    static func json<T: Encodable>(_ v: T) throws -> String {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(v), as: UTF8.self)
    }
}
