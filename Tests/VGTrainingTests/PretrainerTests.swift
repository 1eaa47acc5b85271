import Foundation
import XCTest
@testable import VGCore
@testable import VGModel
@testable import VGTraining
import VGText
import VGFormat

/// Bars moving left or right, captioned accordingly: a stand-in data source for the loop's tests.
struct BarsSource: CaptionedClipSource {
    func example(_ index: Int, into clip: Tensor) throws -> String {
        let v = clip.floats, (f, h, w) = (clip.shape[0], clip.shape[1], clip.shape[2])
        let right = index % 2 == 0
        for t in 0..<f { for y in 0..<h { for x in 0..<w {
            let pos = right ? (index / 2 + t) % w : (w - 1 - (index / 2 + t) % w)
            for ch in 0..<3 { v[((t * h + y) * w + x) * 3 + ch] = x == pos ? 0.9 : -0.9 }
        } } }
        return right ? "a white bar moving right" : "a white bar moving left"
    }
}

/// The bars with their coverage known (1 on the bar, 0 elsewhere).
struct CoveredBarsSource: CaptionedClipSource {
    func example(_ index: Int, into clip: Tensor) throws -> String { try BarsSource().example(index, into: clip) }
    func objectCoverage(_ index: Int, into coverage: Tensor) throws -> Bool {
        let clip = try Tensor(zeros: coverage.shape + [3])
        _ = try example(index, into: clip)
        for p in 0..<coverage.count { coverage.floats[p] = clip.floats[3 * p] > 0 ? 1 : 0 }
        return true
    }
}

/// The bars, with half the examples (indices 0 and 1 mod 4) altered: their input at high noise shows
/// the neighbouring example's bar (index ^ 1), which moves the other way.
struct SwappedBarsSource: CaptionedClipSource {
    func example(_ index: Int, into clip: Tensor) throws -> String { try BarsSource().example(index, into: clip) }
    func alteredInput(_ index: Int, into clip: Tensor) throws -> Bool {
        guard index % 4 < 2 else { return false }
        _ = try BarsSource().example(index ^ 1, into: clip)
        return true
    }
}

/// Latent-shaped clips (any channel count): a value per channel that follows the bars' position.
struct LatentBarsSource: CaptionedClipSource {
    func example(_ index: Int, into clip: Tensor) throws -> String {
        let v = clip.floats, (f, h, w, c) = (clip.shape[0], clip.shape[1], clip.shape[2], clip.shape[3])
        let right = index % 2 == 0
        for t in 0..<f { for y in 0..<h { for x in 0..<w {
            let pos = right ? (index / 2 + t) % w : (w - 1 - (index / 2 + t) % w)
            for ch in 0..<c { v[((t * h + y) * w + x) * c + ch] = x == pos ? Float(ch + 1) * 0.5 : -0.5 }
        } } }
        return right ? "a white bar moving right" : "a white bar moving left"
    }
}

final class PretrainerTests: XCTestCase {
    func options() -> PretrainOptions { Self.tinyOptions() }

    /// A tiny model and run (milliseconds a step).
    static func tinyOptions() -> PretrainOptions {
        var o = PretrainOptions()
        o.model = ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 1,
                              heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 300, maxTextTokens: 12, textWidth: 12,
                              textDepth: 1, textHeads: 2)
        o.batchSize = 2; o.steps = 4; o.checkpointEvery = 2; o.tokenizerCorpus = 20; o.threads = 1
        o.optimizer.warmupSteps = 1; o.optimizer.totalSteps = 4
        return o
    }

    /// A run stopped after step 3 and restarted equals an uninterrupted run, bit for bit.
    func testStopAndResumeEqualsUninterrupted() throws {
        try stopAndResume(options())
    }

    /// The same with two data-parallel lanes.
    func testStopAndResumeWithLanes() throws {
        var o = options()
        o.lanes = 2
        try stopAndResume(o)
    }

    /// The same with the object-weighted loss (and its coverage maps) on; the weights change the run.
    func testStopAndResumeWithObjectWeight() throws {
        var o = options()
        o.lanes = 2; o.objectWeight = 3
        let weighted = try stopAndResume(o, source: CoveredBarsSource())
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("plain-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        o.objectWeight = 0
        let plain = try Pretrainer(options: o, source: CoveredBarsSource(), directory: base).run()
        XCTAssertNotEqual(try plain.params.tensor("final.linear.weight").toArray(), try weighted.params.tensor("final.linear.weight").toArray())
        o.objectWeight = -1
        XCTAssertThrowsError(try Pretrainer(options: o, source: CoveredBarsSource(), directory: base))
        // Only a high-noise weight: the coverage maps are still read (the run differs from the plain one).
        o.objectWeight = 0; o.objectWeightHigh = 3; o.objectWeightHighFrom = 0
        let high = try Pretrainer(options: o, source: CoveredBarsSource(), directory: base.appendingPathExtension("high")).run()
        defer { try? FileManager.default.removeItem(at: base.appendingPathExtension("high")) }
        XCTAssertNotEqual(try plain.params.tensor("final.linear.weight").toArray(), try high.params.tensor("final.linear.weight").toArray())
        o.objectWeightHighFrom = 1.5
        XCTAssertThrowsError(try Pretrainer(options: o, source: CoveredBarsSource(), directory: base))
    }

    /// The outline term resumes exactly (it is in the options the checkpoint is resumed with), changes
    /// the run, and a negative or non-finite weight is refused.
    func testStopAndResumeWithOutlineTerm() throws {
        var o = options()
        o.lanes = 2; o.edgeWeight = 2
        let outlined = try stopAndResume(o)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("plain-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        o.edgeWeight = 0
        let plain = try Pretrainer(options: o, source: BarsSource(), directory: base).run()
        XCTAssertNotEqual(try plain.params.tensor("final.linear.weight").toArray(), try outlined.params.tensor("final.linear.weight").toArray())
        for bad: Float in [-1, .nan, .infinity] {
            o.edgeWeight = bad
            XCTAssertThrowsError(try Pretrainer(options: o, source: BarsSource(), directory: base))
        }
    }

    /// Altered inputs resume exactly, change the run only when `alteredInputFrom` is set (a source's
    /// altered inputs are not even read otherwise), and a level outside [0, 1] is refused.
    func testStopAndResumeWithAlteredInputs() throws {
        var o = options()
        o.lanes = 2; o.alteredInputFrom = 0
        let swapped = try stopAndResume(o, source: SwappedBarsSource())
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("plain-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        o.alteredInputFrom = nil
        let off = try Pretrainer(options: o, source: SwappedBarsSource(), directory: base.appendingPathComponent("off")).run()
        let plain = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("plain")).run()
        XCTAssertEqual(try plain.params.tensor("final.linear.weight").toArray(), try off.params.tensor("final.linear.weight").toArray())
        XCTAssertNotEqual(try plain.params.tensor("final.linear.weight").toArray(), try swapped.params.tensor("final.linear.weight").toArray())
        for bad: Float in [-0.1, 1.5, .nan] {
            o.alteredInputFrom = bad
            XCTAssertThrowsError(try Pretrainer(options: o, source: SwappedBarsSource(), directory: base.appendingPathComponent("bad")))
        }
    }

    @discardableResult
    func stopAndResume(_ o: PretrainOptions, source: CaptionedClipSource = BarsSource()) throws -> FlowMatchingTrainer {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pretrain-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let whole = try Pretrainer(options: o, source: source, directory: base.appendingPathComponent("a")).run()
        var seen = 0
        let split = try Pretrainer(options: o, source: source, directory: base.appendingPathComponent("b"))
        try split.run(progress: { _ in seen += 1 }, shouldStop: { seen >= 3 })
        XCTAssertEqual(seen, 3)
        let resumed = try split.run()
        XCTAssertEqual(resumed.laneCount, o.lanes)
        XCTAssertEqual(resumed.optimizer.step, 4)
        for n in whole.params.names {
            XCTAssertEqual(try whole.params.tensor(n).toArray(), try resumed.params.tensor(n).toArray(), n)
        }
        // The log has one line per step across both runs.
        let lines = try String(contentsOf: split.logURL, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        // The exported model carries config and tokenizer.
        let out = base.appendingPathComponent("model.safetensors")
        try split.exportModel(resumed, to: out)
        XCTAssertNoThrow(try TrainingCheckpoint.loadWeights(try VGFormatFile(out)))
        return resumed
    }

    /// A run killed after its checkpoint at step 2 had logged steps 3 and 4 (the last line half
    /// written); the resumed run drops those lines and logs steps 3 and 4 once.
    /// `PretrainOptions.changedKeys(from:)`, the check behind refusing a resume with other options:
    /// threads, lanes and checkpoint spacing may change; the learning rate, the noise levels, the
    /// steps or the object weight may not, and each is named; an options file from before a field
    /// existed compares equal to the same options with that field at its default.
    func testChangedOptionsAreNamed() throws {
        let base = PretrainOptions()
        XCTAssertEqual(try base.changedKeys(from: base), [])
        var spread = base
        spread.threads = 1; spread.lanes = 2; spread.checkpointEvery = 7
        XCTAssertEqual(try spread.changedKeys(from: base), [])
        var other = base
        other.optimizer.learningRate *= 2; other.noiseLevels.pureShare = 0.3; other.steps += 1; other.objectWeight = 4
        XCTAssertEqual(try other.changedKeys(from: base), ["noiseLevels", "objectWeight", "optimizer", "steps"])
        var blurred = base
        blurred.alteredInputFrom = 0.5
        XCTAssertEqual(try blurred.changedKeys(from: base), ["alteredInputFrom"])
        // An older file without "edgeWeight" decodes with its default, 0.
        var json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(base)) as! [String: Any]
        XCTAssertNotNil(json.removeValue(forKey: "edgeWeight"))
        let old = try JSONDecoder().decode(PretrainOptions.self, from: try JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(try base.changedKeys(from: old), [])
        var outlined = base
        outlined.edgeWeight = 2
        XCTAssertEqual(try outlined.changedKeys(from: old), ["edgeWeight"])
    }

    /// A run of `options()` in a fresh temporary directory (named after `name`; the caller removes
    /// it), stopped after two steps with its checkpoint written.
    func runStoppedAfterTwoSteps(_ name: String) throws -> (URL, Pretrainer) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        var seen = 0
        let run = try Pretrainer(options: options(), source: BarsSource(), directory: base)
        try run.run(progress: { _ in seen += 1 }, shouldStop: { seen >= 2 })
        return (base, run)
    }

    func testResumeAfterKillDropsLogLinesPastTheCheckpoint() throws {
        let (base, run) = try runStoppedAfterTwoSteps("killed")
        defer { try? FileManager.default.removeItem(at: base) }
        let orphan = TrainLogLine(step: 3, loss: 1, gradNorm: 1, learningRate: 1, samplesPerSecond: 1, elapsed: 1)
        let handle = try FileHandle(forWritingTo: run.logURL)
        try handle.seekToEnd()
        try handle.write(contentsOf: try JSONEncoder().encode(orphan) + Data("\n{\"step\":4,\"lo".utf8))
        try handle.close()
        try run.run()
        let steps = try String(contentsOf: run.logURL, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(TrainLogLine.self, from: Data($0.utf8)).step
        }
        XCTAssertEqual(steps, [1, 2, 3, 4])
    }

    func testARunThatCannotWriteItsLogStopsBeforeAnyStep() throws {
        let (base, run) = try runStoppedAfterTwoSteps("nolog")
        defer { try? FileManager.default.removeItem(at: base) }
        let kept = try Data(contentsOf: run.checkpointURL)
        // A directory where the log should be (a fresh run clears the path; a resumed one keeps it):
        // it cannot be opened for writing, even by root.
        try FileManager.default.removeItem(at: run.logURL)
        try FileManager.default.createDirectory(at: run.logURL, withIntermediateDirectories: true)
        var steps = 0
        XCTAssertThrowsError(try run.run(progress: { _ in steps += 1 })) { error in
            XCTAssertTrue("\(error)".contains("train log"), "\(error)")
        }
        XCTAssertEqual(steps, 0)
        XCTAssertEqual(try Data(contentsOf: run.checkpointURL), kept, "no step taken without its log line")
    }

    /// Trains a run of `o` in `base/a` and exports its weights to `base/a.safetensors`.
    func trainAndExport(_ o: PretrainOptions, in base: URL) throws -> (Pretrainer, FlowMatchingTrainer, URL) {
        let run = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("a"))
        let trained = try run.run()
        let exported = base.appendingPathComponent("a.safetensors")
        try run.exportModel(trained, to: exported)
        return (run, trained, exported)
    }

    /// A warm start takes the file's weights and tokenizer, starts a fresh optimizer, and refuses a
    /// file whose architecture differs from the run's.
    func testWarmStartFromExportedWeights() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("warm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let (_, _, exported) = try trainAndExport(options(), in: base)
        var o = options()
        o.initialWeights = exported.path
        o.steps = 1; o.optimizer.totalSteps = 1
        o.noiseLevels = NoiseLevelDistribution(shift: 3, tailShare: 0.5)
        var seen = 0
        let second = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b"))
        let warm = try second.run(progress: { _ in seen += 1 }, shouldStop: { seen >= 1 })
        XCTAssertEqual(warm.optimizer.step, 1)
        XCTAssertEqual(warm.noiseLevels, o.noiseLevels)
        // One step of lr <= 3e-4 from the exported (f16) weights stays close to them; a random start would not.
        let file = try SafeTensorsFile(contentsOf: exported)
        let (_, start) = try TrainingCheckpoint.loadWeights(file)
        let w0 = try start.tensor("blocks.0.attn.qkv.weight").toArray(), w1 = try warm.params.tensor("blocks.0.attn.qkv.weight").toArray()
        XCTAssertLessThan(zip(w0, w1).map { abs($0 - $1) }.max()!, 1e-3)
        // The tokenizer is the file's, not a new one.
        let ck = try SafeTensorsFile(contentsOf: second.checkpointURL)
        XCTAssertEqual(ck.metadata[TrainingCheckpoint.tokenizerKey], file.metadata[TrainingCheckpoint.tokenizerKey])
        // Another architecture is an error that says so.
        var other = o
        other.model.modelWidth = 24; other.model.heads = 2
        XCTAssertThrowsError(try Pretrainer(options: other, source: BarsSource(), directory: base.appendingPathComponent("c")).run()) {
            XCTAssertTrue("\($0)".contains("another model config"), "\($0)")
        }
    }

    /// A warm start may move a pixel model onto latent clips with the same token grid: every tensor but
    /// the patch embedding and the final linear is the file's, the final linear starts at zero, and
    /// training runs; finer patches also start the position table afresh; another clip length is refused.
    func testWarmStartMovesToLatentClips() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("latent-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let (_, _, exported) = try trainAndExport(options(), in: base)
        var o = options()
        o.initialWeights = exported.path
        o.model.height = 4; o.model.width = 4; o.model.patchH = 2; o.model.patchW = 2; o.model.channels = 2
        o.steps = 2; o.optimizer.totalSteps = 2
        let fresh = try Pretrainer(options: o, source: LatentBarsSource(), directory: base.appendingPathComponent("b")).run(shouldStop: { true })
        let (_, file) = try TrainingCheckpoint.loadWeights(try SafeTensorsFile(contentsOf: exported))
        for name in file.names where !["patch_embed.weight", "final.linear.weight", "final.linear.bias"].contains(name) {
            XCTAssertEqual(try fresh.params.tensor(name).toArray(), try file.tensor(name).toArray(), name)
        }
        XCTAssertEqual(try fresh.params.tensor("patch_embed.weight").shape, [16, 16])
        XCTAssertTrue(try fresh.params.tensor("final.linear.weight").toArray().allSatisfy { $0 == 0 })
        XCTAssertGreaterThan(try fresh.params.tensor("patch_embed.weight").toArray().map { abs($0) }.max()!, 0)
        let trained = try Pretrainer(options: o, source: LatentBarsSource(), directory: base.appendingPathComponent("c")).run()
        XCTAssertEqual(trained.optimizer.step, 2)
        // Finer patches: a 2 x 4 x 4 token grid instead of the file's 2 x 2 x 2. The blocks carry over;
        // the video position table starts as a fresh model's (the 3-D sin-cos of the new grid).
        var finer = o
        finer.model.patchH = 1; finer.model.patchW = 1
        let moved = try Pretrainer(options: finer, source: LatentBarsSource(), directory: base.appendingPathComponent("d")).run(shouldStop: { true })
        for name in file.names where !["patch_embed.weight", "final.linear.weight", "final.linear.bias", "pos_embedding"].contains(name) {
            XCTAssertEqual(try moved.params.tensor(name).toArray(), try file.tensor(name).toArray(), name)
        }
        let freshModel = try ParameterSet(config: finer.model)
        try FlowMatchingTrainer.initialize(freshModel, seed: 1)
        XCTAssertEqual(try moved.params.tensor("pos_embedding").shape, [32, 16])
        XCTAssertEqual(try moved.params.tensor("pos_embedding").toArray(), try freshModel.tensor("pos_embedding").toArray())
        XCTAssertEqual(try Pretrainer(options: finer, source: LatentBarsSource(), directory: base.appendingPathComponent("e")).run().optimizer.step, 2)
        // Another clip length is not a patch change (that is `ClipLength.reframe`'s job): refused.
        var longer = finer
        longer.model.frames = 8
        XCTAssertThrowsError(try Pretrainer(options: longer, source: LatentBarsSource(), directory: base.appendingPathComponent("f")).run()) {
            XCTAssertTrue("\($0)".contains("keeps the frames"), "\($0)")
        }
    }

    /// A warm start may add the video position embedding to a model without one: the table starts at
    /// zero (so the model is the file's), every other tensor is the file's, and training moves the
    /// table. Dropping a model's position embedding is refused.
    func testWarmStartAddsPositionEmbedding() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pos-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        var old = options()
        old.model.videoPositionEmbedding = false
        let (_, trained, exported) = try trainAndExport(old, in: base)
        XCTAssertFalse(trained.params.names.contains("pos_embedding"))
        let (_, start) = try TrainingCheckpoint.loadWeights(try SafeTensorsFile(contentsOf: exported))
        var o = options()
        o.initialWeights = exported.path
        o.model.videoPositionEmbedding = true
        var seen = 0
        let second = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b"))
        let zeroSteps = try second.run(progress: { _ in seen += 1 }, shouldStop: { true })
        XCTAssertEqual(zeroSteps.optimizer.step, 0)
        XCTAssertTrue(try zeroSteps.params.tensor("pos_embedding").toArray().allSatisfy { $0 == 0 })
        for n in start.names { XCTAssertEqual(try start.tensor(n).toArray(), try zeroSteps.params.tensor(n).toArray(), n) }
        try FileManager.default.removeItem(at: base.appendingPathComponent("b"))
        let moved = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b")).run()
        XCTAssertTrue(try moved.params.tensor("pos_embedding").toArray().contains { $0 != 0 })
        // The other way round is refused.
        let withPos = base.appendingPathComponent("b.safetensors")
        try second.exportModel(moved, to: withPos)
        var drop = options()
        drop.initialWeights = withPos.path
        drop.model.videoPositionEmbedding = false
        XCTAssertThrowsError(try Pretrainer(options: drop, source: BarsSource(), directory: base.appendingPathComponent("c")).run()) {
            XCTAssertTrue("\($0)".contains("another model config"), "\($0)")
        }
    }

    /// A warm start may grow the depth by a whole factor: the file's block i becomes block k·i, the
    /// blocks between start as the identity (their output projections at zero), so the grown model
    /// predicts exactly what the file's does; training moves the new blocks; another depth is refused.
    func testWarmStartGrowsTheDepth() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("deeper-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let (_, trained, exported) = try trainAndExport(options(), in: base)
        let file = try SafeTensorsFile(contentsOf: exported)
        let (fc, start) = try TrainingCheckpoint.loadWeights(file)
        var o = options()
        o.initialWeights = exported.path
        o.model.depth = 3
        let second = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b"))
        let zeroSteps = try second.run(shouldStop: { true })
        // Depth 1 -> 3: block 0 stays block 0; blocks 1 and 2 are new.
        for n in start.names { XCTAssertEqual(try start.tensor(n).toArray(), try zeroSteps.params.tensor(n).toArray(), n) }
        for j in 1...2 {
            XCTAssertTrue(try zeroSteps.params.tensor("blocks.\(j).mlp.fc2.weight").toArray().allSatisfy { $0 == 0 })
            XCTAssertTrue(try zeroSteps.params.tensor("blocks.\(j).attn.out.weight").toArray().allSatisfy { $0 == 0 })
            XCTAssertTrue(try zeroSteps.params.tensor("blocks.\(j).attn.qkv.weight").toArray().contains { $0 != 0 })
        }
        // The same prediction (up to float rounding) from a noisy clip and a caption.
        let tokenizer = try BPETokenizer(jsonString: file.metadata[TrainingCheckpoint.tokenizerKey]!)
        let tokens = try tokenizer.encode("a white bar moving left", maxLength: fc.maxTextTokens, addBos: true, addEos: true)
        var rng = SeededRandom(seed: 5)
        let xs = try Tensor(zeros: [4, 8, 8, 3]); rng.fillGaussian(xs.floats)
        let ctx = try ComputeContext(threads: 1)
        func predict(_ params: ParameterSet, _ c: ModelConfig) throws -> [Float] {
            let model = try VideoDiT(weights: try ModelWeights(params, config: c))
            let acts = try ModelActivations(config: c, saveForBackward: false)
            try model.encodeText(ctx, tokens: tokens, acts: acts)
            return try model.predict(ctx, noisy: xs, level: 0.6, acts: acts).toArray()
        }
        let a = try predict(start, fc), b = try predict(zeroSteps.params, o.model)
        XCTAssertGreaterThan(a.map { abs($0) }.max()!, 0)
        XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max()!, 1e-6)
        XCTAssertEqual(trained.config.depth, 1)
        try FileManager.default.removeItem(at: base.appendingPathComponent("b"))
        let moved = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b")).run()
        XCTAssertTrue(try moved.params.tensor("blocks.1.mlp.fc2.weight").toArray().contains { $0 != 0 })
        // From the depth-3 file, depth 2 (shallower) and 4 (not a multiple) are refused.
        let deeper = base.appendingPathComponent("b.safetensors")
        try second.exportModel(moved, to: deeper)
        for depth in [2, 4] {
            var other = options()
            other.initialWeights = deeper.path
            other.model.depth = depth
            XCTAssertThrowsError(try Pretrainer(options: other, source: BarsSource(), directory: base.appendingPathComponent("c\(depth)")).run()) {
                XCTAssertTrue("\($0)".contains("another model config"), "\($0)")
            }
        }
    }

    /// A warm start may add an output refiner: every tensor of the file is kept, the refiner's first
    /// convolution starts random and its last at zero (so the start computes what the file did), and
    /// training moves it; a refiner of another width than the file's is refused.
    func testWarmStartAddsAnOutputRefiner() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("refiner-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let (_, _, exported) = try trainAndExport(options(), in: base)
        let (_, start) = try TrainingCheckpoint.loadWeights(try SafeTensorsFile(contentsOf: exported))
        var o = options()
        o.initialWeights = exported.path
        o.model.refinerChannels = 4
        let second = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b"))
        let zeroSteps = try second.run(shouldStop: { true })
        for n in start.names { XCTAssertEqual(try start.tensor(n).toArray(), try zeroSteps.params.tensor(n).toArray(), n) }
        XCTAssertTrue(try zeroSteps.params.tensor("refiner.conv2.weight").toArray().allSatisfy { $0 == 0 })
        XCTAssertTrue(try zeroSteps.params.tensor("refiner.conv1.weight").toArray().contains { $0 != 0 })
        try FileManager.default.removeItem(at: base.appendingPathComponent("b"))
        let moved = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b")).run()
        XCTAssertTrue(try moved.params.tensor("refiner.conv2.weight").toArray().contains { $0 != 0 })
        let withRefiner = base.appendingPathComponent("b.safetensors")
        try second.exportModel(moved, to: withRefiner)
        var other = options()
        other.initialWeights = withRefiner.path
        other.model.refinerChannels = 6
        XCTAssertThrowsError(try Pretrainer(options: other, source: BarsSource(), directory: base.appendingPathComponent("c")).run()) {
            XCTAssertTrue("\($0)".contains("another model config"), "\($0)")
        }
    }

    /// A warm start may hand a trained refiner features: every tensor of the file but conv1 is kept,
    /// conv1 keeps its columns with zeros for the new channels (so the start computes what the file
    /// did), `refiner.features` starts random, and training moves the new columns.
    func testWarmStartAddsRefinerFeatures() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("features-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        var first = options()
        first.model.refinerChannels = 4
        let (_, _, exported) = try trainAndExport(first, in: base)
        let (fc, start) = try TrainingCheckpoint.loadWeights(try SafeTensorsFile(contentsOf: exported))
        var o = options()
        o.initialWeights = exported.path
        o.model.refinerChannels = 4; o.model.refinerFeatures = 2
        let zeroSteps = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b")).run(shouldStop: { true })
        for n in start.names where n != "refiner.conv1.weight" {
            XCTAssertEqual(try start.tensor(n).toArray(), try zeroSteps.params.tensor(n).toArray(), n)
        }
        let old = try start.tensor("refiner.conv1.weight").toArray(), new = try zeroSteps.params.tensor("refiner.conv1.weight").toArray()
        let oldIn = OutputRefiner.inputChannels, newIn = oldIn + 2
        XCTAssertEqual(new.count, 4 * 9 * newIn)
        for i in 0..<(4 * 9) {
            XCTAssertEqual(Array(new[(i * newIn)..<(i * newIn + oldIn)]), Array(old[(i * oldIn)..<((i + 1) * oldIn)]))
            XCTAssertEqual(Array(new[(i * newIn + oldIn)..<((i + 1) * newIn)]), [0, 0])
        }
        XCTAssertTrue(try zeroSteps.params.tensor("refiner.features.weight").toArray().contains { $0 != 0 })
        // The start predicts exactly what the file's weights predict.
        func predict(_ c: ModelConfig, _ p: ParameterSet) throws -> [Float] {
            let model = try VideoDiT(weights: try ModelWeights(p, config: c))
            let ctx = try ComputeContext(threads: 1), acts = try ModelActivations(config: c, saveForBackward: false)
            try model.encodeText(ctx, tokens: [1, 5, 2], acts: acts)
            let clip = try Tensor(zeros: [c.frames, c.height, c.width, 3]); var rng = SeededRandom(seed: 3); rng.fillGaussian(clip.floats)
            return try model.predict(ctx, noisy: clip, level: 0.4, acts: acts).toArray()
        }
        // (Equal up to rounding: the GEMM over 9 x 10 columns may sum in another order than over 9 x 8.)
        let widened = try predict(o.model, zeroSteps.params), before = try predict(fc, start)
        XCTAssertLessThan(zip(widened, before).map { abs($0 - $1) }.max()!, 1e-5)
        try FileManager.default.removeItem(at: base.appendingPathComponent("b"))
        let moved = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b")).run()
        let trained = try moved.params.tensor("refiner.conv1.weight").toArray()
        XCTAssertTrue((0..<(4 * 9)).contains { i in trained[(i * newIn + oldIn)..<((i + 1) * newIn)].contains { $0 != 0 } })
    }

    /// A warm start may raise the text token limit: the file's text positions are kept, the new rows
    /// start like a fresh model's, every other tensor is the file's; lowering the limit is refused.
    func testWarmStartRaisesTheTextLimit() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("text-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let (_, _, exported) = try trainAndExport(options(), in: base)
        let (fc, start) = try TrainingCheckpoint.loadWeights(try SafeTensorsFile(contentsOf: exported))
        var o = options()
        o.initialWeights = exported.path
        o.model.maxTextTokens = fc.maxTextTokens + 8
        let longer = try Pretrainer(options: o, source: BarsSource(), directory: base.appendingPathComponent("b")).run(shouldStop: { true })
        let old = try start.tensor("text.position_embedding").toArray(), new = try longer.params.tensor("text.position_embedding").toArray()
        XCTAssertEqual(new.count, old.count + 8 * fc.textWidth)
        XCTAssertEqual(Array(new.prefix(old.count)), old)
        XCTAssertTrue(new.suffix(8 * fc.textWidth).contains { $0 != 0 })
        for n in start.names where n != "text.position_embedding" {
            XCTAssertEqual(try start.tensor(n).toArray(), try longer.params.tensor(n).toArray(), n)
        }
        var shorter = options()
        shorter.initialWeights = exported.path
        shorter.model.maxTextTokens = fc.maxTextTokens - 2
        XCTAssertThrowsError(try Pretrainer(options: shorter, source: BarsSource(), directory: base.appendingPathComponent("c")).run()) {
            XCTAssertTrue("\($0)".contains("another model config"), "\($0)")
        }
    }

    /// Old options files (before noise levels and warm starts) still decode, with the defaults.
    func testOptionsDecodeWithoutNewKeys() throws {
        var json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(options())) as! [String: Any]
        json.removeValue(forKey: "noiseLevels"); json.removeValue(forKey: "initialWeights"); json.removeValue(forKey: "lanes")
        json.removeValue(forKey: "objectWeight")
        let o = try JSONDecoder().decode(PretrainOptions.self, from: try JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(o.noiseLevels, NoiseLevelDistribution())
        XCTAssertNil(o.initialWeights)
        XCTAssertEqual(o.lanes, 1)
        XCTAssertEqual(o.objectWeight, 0)
        XCTAssertEqual(o.edgeWeight, 0)
        XCTAssertNil(o.alteredInputFrom)
        XCTAssertEqual(o.model, options().model)
    }
}

/// The bars with coverage, failing for every example whose index is 3 mod 5.
struct FailingBarsSource: CaptionedClipSource {
    struct Failure: Error, Equatable { let index: Int }
    func example(_ index: Int, into clip: Tensor) throws -> String {
        if index % 5 == 3 { throw Failure(index: index) }
        return try BarsSource().example(index, into: clip)
    }
    func objectCoverage(_ index: Int, into coverage: Tensor) throws -> Bool { try CoveredBarsSource().objectCoverage(index, into: coverage) }
}

final class BatchBuilderTests: XCTestCase {
    func options() -> PretrainOptions {
        var o = PretrainerTests.tinyOptions()
        o.batchSize = 7; o.objectWeight = 2; o.captionDropout = 0.3
        return o
    }

    /// A batch built on 1, 2 or 3 threads is the same, value for value: clips, coverage maps, tokens
    /// and dropped captions, for several positions; the samples hold the builder's own buffers.
    func testBatchIsTheSameOnAnyThreadCount() throws {
        let o = options()
        let tokenizer = BPETokenizer.train(corpus: ["a white bar moving right", "a white bar moving left"], vocabSize: 300)
        func snapshot(_ threads: Int, at position: Int) throws -> [[Float]] {
            let builder = try BatchBuilder(options: o, source: CoveredBarsSource(), tokenizer: tokenizer)
            let batch = try builder.batch(at: position, threads: threads)
            XCTAssertEqual(batch.count, o.batchSize)
            for (b, s) in batch.enumerated() { XCTAssertEqual(s.clip.floats.baseAddress, builder.clips[b].floats.baseAddress) }
            return batch.map { $0.clip.toArray() + ($0.objectCoverage?.toArray() ?? [-9]) + $0.tokens.map(Float.init) }
        }
        var dropped = 0
        for position in [0, 7, 700] {
            let one = try snapshot(1, at: position)
            XCTAssertEqual(try snapshot(2, at: position), one, "position \(position)")
            XCTAssertEqual(try snapshot(3, at: position), one, "position \(position)")
            // The batch holds examples position ..< position + 7 in order.
            let clip = try Tensor(zeros: [4, 8, 8, 3])
            for b in 0..<o.batchSize {
                _ = try CoveredBarsSource().example(position + b, into: clip)
                XCTAssertEqual(Array(one[b].prefix(clip.count)), clip.toArray())
                if one[b].suffix(2) == [Float(BPETokenizer.bosID), Float(BPETokenizer.eosID)] { dropped += 1 }
            }
        }
        XCTAssertGreaterThan(dropped, 0, "some captions are dropped at 30 %")
        XCTAssertLessThan(dropped, 21)
    }

    /// A source that fails stops the batch with the first failure in sample order, whatever thread met it.
    func testFirstFailureInSampleOrderIsThrown() throws {
        let tokenizer = BPETokenizer.train(corpus: ["a white bar"], vocabSize: 300)
        let builder = try BatchBuilder(options: options(), source: FailingBarsSource(), tokenizer: tokenizer)
        for threads in [1, 3] {
            // Examples 10 ..< 17: index 13 fails, and nothing else.
            XCTAssertThrowsError(try builder.batch(at: 10, threads: threads)) { XCTAssertEqual($0 as? FailingBarsSource.Failure, .init(index: 13)) }
            // Examples 3 ..< 10: 3 and 8 fail (on three threads, on different ones); 3 comes first.
            XCTAssertThrowsError(try builder.batch(at: 3, threads: threads)) { XCTAssertEqual($0 as? FailingBarsSource.Failure, .init(index: 3)) }
        }
    }
}

final class NoiseLevelDistributionTests: XCTestCase {
    /// The default is the plain logit-normal sigmoid(N(0, 1)) of the first base run, draw for draw.
    func testDefaultIsPlainLogitNormal() {
        var a = SeededRandom(seed: 5), b = SeededRandom(seed: 5)
        let d = NoiseLevelDistribution()
        for _ in 0..<100 {
            XCTAssertEqual(d.sample(&a), 1 / (1 + Foundation.exp(-b.gaussian())), accuracy: 1e-7)
        }
    }

    /// The shift moves mass to high noise as k s / (1 + (k - 1) s) does; the tail lands in (floor, 1]
    /// with about its share; every level is in [0, 1].
    func testShiftAndTail() {
        var r = SeededRandom(seed: 9)
        let n = 20_000
        let plain = (0..<n).map { _ in NoiseLevelDistribution().sample(&r) }
        let shifted = (0..<n).map { _ in NoiseLevelDistribution(shift: 3).sample(&r) }
        let tailed = (0..<n).map { _ in NoiseLevelDistribution(shift: 1, tailShare: 0.25, tailFloor: 0.95).sample(&r) }
        let pure = (0..<n).map { _ in NoiseLevelDistribution(shift: 3, tailShare: 0.2, pureShare: 0.1).sample(&r) }
        for v in plain + shifted + tailed + pure { XCTAssertTrue((0...1).contains(v)) }
        XCTAssertEqual(Double(pure.filter { $0 == 1 }.count) / Double(n), 0.1, accuracy: 0.01)
        XCTAssertEqual(tailed.filter { $0 == 1 }.count, 0)
        func share(_ v: [Float], above x: Float) -> Double { Double(v.filter { $0 > x }.count) / Double(v.count) }
        // Median: 0.5 plain, 3 * 0.5 / (1 + 2 * 0.5) = 0.75 shifted.
        XCTAssertEqual(Double(plain.sorted()[n / 2]), 0.5, accuracy: 0.02)
        XCTAssertEqual(Double(shifted.sorted()[n / 2]), 0.75, accuracy: 0.02)
        // Above 0.95 a plain logit-normal puts ~0.16 %; the tail adds its 25 %.
        XCTAssertLessThan(share(plain, above: 0.95), 0.01)
        XCTAssertEqual(share(tailed, above: 0.95), 0.25, accuracy: 0.015)
        XCTAssertEqual(tailed.max()!, 1, accuracy: 1e-3)
    }

    func testValidation() {
        XCTAssertNoThrow(try NoiseLevelDistribution(shift: 3, tailShare: 0.2).validate())
        for bad in [NoiseLevelDistribution(shift: 0), NoiseLevelDistribution(std: -1), NoiseLevelDistribution(tailShare: 1.5),
                    NoiseLevelDistribution(tailFloor: 1), NoiseLevelDistribution(mean: .nan),
                    NoiseLevelDistribution(tailShare: 0.6, pureShare: 0.5), NoiseLevelDistribution(pureShare: -0.1)] {
            XCTAssertThrowsError(try bad.validate(), "\(bad)")
        }
    }
}

import VGFormat
func VGFormatFile(_ url: URL) throws -> SafeTensorsFile { try SafeTensorsFile(contentsOf: url) }

final class ProcessAllocatorTests: XCTestCase {
    /// On glibc the settings are found and taken (the lookup of `mallopt` by name works); allocating
    /// and freeing a large buffer afterwards still works.
    func testAllocatorTakesTheSettings() throws {
        #if canImport(Glibc)
        XCTAssertTrue(ProcessAllocator.keepFreedMemoryForReuse())
        #endif
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64 << 20, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 7, count: 64 << 20)
        XCTAssertEqual(buffer.load(fromByteOffset: (64 << 20) - 1, as: UInt8.self), 7)
        buffer.deallocate()
    }
}
