import Foundation
import XCTest
@testable import VGCore
@testable import VGModel
@testable import VGTraining

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

final class PretrainerTests: XCTestCase {
    func options() -> PretrainOptions {
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
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pretrain-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let whole = try Pretrainer(options: options(), source: BarsSource(), directory: base.appendingPathComponent("a")).run()
        var seen = 0
        let split = try Pretrainer(options: options(), source: BarsSource(), directory: base.appendingPathComponent("b"))
        try split.run(progress: { _ in seen += 1 }, shouldStop: { seen >= 3 })
        XCTAssertEqual(seen, 3)
        let resumed = try split.run()
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
    }
}

import VGFormat
func VGFormatFile(_ url: URL) throws -> SafeTensorsFile { try SafeTensorsFile(contentsOf: url) }
