import Foundation
import XCTest
@testable import VGCore
@testable import VGModel
@testable import VGPack

let packConfig = ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 32, depth: 2,
                             heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 40, maxTextTokens: 6, textWidth: 16,
                             textDepth: 1, textHeads: 2)

func packParams(seed: UInt64, config: ModelConfig = packConfig) throws -> ParameterSet {
    let p = try ParameterSet(config: config)
    var rng = SeededRandom(seed: seed)
    for n in p.names { rng.fillGaussian(try p.tensor(n).floats, scale: 0.2) }
    return p
}

/// Rebuilds a file around a modified header (valid checksum), keeping the original data section.
func rebuild(_ good: [UInt8], _ edit: (inout VGPKHeader) -> Void) throws -> Data {
    let r = try VGPKReader(bytes: Data(good))
    var h = r.header
    edit(&h)
    let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
    let hb = [UInt8](try enc.encode(h))
    var out = VGPK.magic
    withUnsafeBytes(of: VGPK.majorVersion.littleEndian) { out += $0 }
    withUnsafeBytes(of: VGPK.minorVersion.littleEndian) { out += $0 }
    withUnsafeBytes(of: UInt64(hb.count).littleEndian) { out += $0 }
    withUnsafeBytes(of: XXHash64.hash(hb).littleEndian) { out += $0 }
    out += hb
    while out.count % 64 != 0 { out.append(0) }
    out += good[r.dataStart...]
    return Data(out)
}

final class VGPKTests: XCTestCase {
    func testXXHash64ReferenceVectors() {
        // Values printed by the reference implementation (Python `xxhash.xxh64(..., seed=0)`).
        XCTAssertEqual(XXHash64.hash([]), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(XXHash64.hash(Array("a".utf8)), 0xD24E_C4F1_A98C_6E5B)
        XCTAssertEqual(XXHash64.hash(Array("abc".utf8)), 0x44BC_2CF5_AD77_0999)
        XCTAssertEqual(XXHash64.hash(Array("0123456789abcdef0123456789abcdefXYZ".utf8)), 0x654F_6A2B_39E4_D8C1)
        XCTAssertEqual(XXHash64.hash([UInt8]((0..<768).map { UInt8($0 % 256) })), 0x8E03_C838_C596_036F)
    }

    func testRoundTripEveryType() throws {
        var w = VGPKWriter(metadata: VGPKMetadata())
        w.metadata.required = []
        var rng = SeededRandom(seed: 1)
        let big = try Tensor(zeros: [700, 1000]); rng.fillGaussian(big.floats)     // 2.8 MB: several chunks
        let m = try Tensor(zeros: [33, 70]); rng.fillGaussian(m.floats)
        try w.add("big", big, as: .f32)
        try w.add("half", m, as: .f16)
        try w.add("q8", m, as: .q8)
        try w.add("q4", m, as: .q4)
        XCTAssertThrowsError(try w.add("q8", m, as: .q8))
        let r = try VGPKReader(bytes: Data(try w.serialized()))
        try r.verify()
        XCTAssertEqual(try r.tensor("big").toArray(), big.toArray(), "f32 must be bit-exact")
        XCTAssertEqual(r.header.tensors.first { $0.name == "big" }?.chunks.count, 3)
        XCTAssertEqual(try r.floatTensor("half").toArray(), m.toArray().map { Float(Float16($0)) })
        XCTAssertEqual(try r.floatTensor("q8").toArray(), try Q8Matrix(quantizing: m).dequantized().toArray())
        XCTAssertEqual(try r.floatTensor("q4").toArray(), try Q4Matrix(quantizing: m).dequantized().toArray())
        // Deterministic bytes.
        XCTAssertEqual(try w.serialized(), try w.serialized())
    }

    func testModelPackAndLoadPerType() throws {
        var withRefiner = packConfig
        withRefiner.refinerChannels = 4
        var withFeatures = withRefiner
        withFeatures.refinerFeatures = 2
        for config in [packConfig, withRefiner, withFeatures] { try checkPackAndLoadPerType(config) }
    }

    /// Packs `config`'s random weights in every type, loads them and compares the forward with f32's.
    func checkPackAndLoadPerType(_ config: ModelConfig) throws {
        print("  refiner channels \(config.refinerChannels), features \(config.refinerFeatures):")
        let p = try packParams(seed: 2, config: config)
        let ctx = try ComputeContext(threads: 2)
        func forward(_ weights: ModelWeights) throws -> [Float] {
            let model = try VideoDiT(weights: weights)
            let acts = try ModelActivations(config: config, saveForBackward: false)
            try model.encodeText(ctx, tokens: [1, 5, 9, 2], acts: acts)
            var rng = SeededRandom(seed: 3)
            let clip = try Tensor(zeros: [4, 8, 8, 3]); rng.fillGaussian(clip.floats)
            return try model.predict(ctx, noisy: clip, level: 0.5, acts: acts).toArray()
        }
        let reference = try forward(try ModelWeights(p, config: config))
        var sizes: [VGPKType: Int] = [:]
        for type in VGPKType.allCases {
            var w = VGPKWriter(metadata: VGPKMetadata())
            try w.addModel(p, config: config, policy: QuantizationPolicy(quant: type))
            let bytes = try w.serialized()
            sizes[type] = bytes.count
            let r = try VGPKReader(bytes: Data(bytes))
            XCTAssertEqual(try r.architecture(), config)
            let out = try forward(try r.modelWeights())
            let e = Ref.relErr(out, reference)
            print(String(format: "  %@: %d bytes, forward rel err vs f32 %.2e, max |d| %.2e", type.rawValue, bytes.count, e.rel, e.maxAbs))
            switch type {
            case .f32: XCTAssertEqual(out, reference)
            case .f16: XCTAssertLessThan(e.rel, 5e-3)
            case .q8: XCTAssertLessThan(e.rel, 5e-2)
            case .q4: XCTAssertLessThan(e.rel, 0.25)
            }
        }
        XCTAssertLessThan(sizes[.q8]!, sizes[.f32]!)
        XCTAssertLessThan(sizes[.q4]!, sizes[.q8]!)
    }

    func testTruncationAtEveryKiBAndEarlyByte() throws {
        var w = VGPKWriter(metadata: VGPKMetadata())
        try w.addModel(try packParams(seed: 4), config: packConfig, policy: QuantizationPolicy(quant: .q8))
        let good = try w.serialized()
        var cuts = Array(0..<80) + Array(stride(from: 1024, to: good.count, by: 1024))
        cuts.append(good.count - 1)
        for n in cuts {
            let d = Data(good[0..<n])
            do {
                let r = try VGPKReader(bytes: d)
                try r.verify()
                XCTFail("truncation at \(n) of \(good.count) was accepted")
            } catch let e as VGPKError {
                XCTAssertTrue([.truncated, .badMagic, .badHeader, .headerChecksum].contains(e.kind), "cut \(n): \(e)")
            }
        }
    }

    func testByteFlipsAreCaught() throws {
        var w = VGPKWriter(metadata: VGPKMetadata())
        try w.addModel(try packParams(seed: 5), config: packConfig, policy: QuantizationPolicy(quant: .q4))
        let good = try w.serialized()
        let dataStart = try VGPKReader(bytes: Data(good)).dataStart
        var rng = SeededRandom(seed: 6)
        var caught = 0
        for trial in 0..<300 {
            var bad = good
            // A third in the preamble + header, the rest in the data.
            let pos = trial % 3 == 0 ? Int(rng.next() % UInt64(dataStart)) : dataStart + Int(rng.next() % UInt64(good.count - dataStart))
            bad[pos] ^= UInt8(1 << (rng.next() % 8))
            do {
                let r = try VGPKReader(bytes: Data(bad))
                try r.verify()
                _ = try r.modelWeights()
                // Only a flip in alignment padding (after the header up to the data section, or between
                // chunks: bytes no checksum covers) may pass.
                let headerEnd = 32 + Int(good[16..<24].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
                let covered = r.header.tensors.flatMap(\.chunks).contains { pos >= dataStart + Int($0.offset) && pos < dataStart + Int($0.offset + $0.storedSize) }
                XCTAssertFalse(covered || pos < headerEnd, "flip at \(pos) passed")
            } catch is VGPKError {
                caught += 1
            }
        }
        print("  byte flips: \(caught) of 300 rejected (the rest hit alignment padding)")
        XCTAssertGreaterThan(caught, 250)
    }

    func testCraftedHeaders() throws {
        var w = VGPKWriter(metadata: VGPKMetadata())
        try w.addModel(try packParams(seed: 7), config: packConfig, policy: QuantizationPolicy(quant: .q8))
        let good = try w.serialized()
        func expect(_ kind: VGPKError.Kind, _ what: String, _ edit: (inout VGPKHeader) -> Void) throws {
            let d = try rebuild(good, edit)
            do {
                let r = try VGPKReader(bytes: d)
                try r.verify(); _ = try r.modelWeights()
                XCTFail("\(what) accepted")
            } catch let e as VGPKError {
                XCTAssertEqual(e.kind, kind, "\(what): \(e)")
                print("  \(what): \(e)")
            }
        }
        try expect(.badTensor, "oversize dimensions") { $0.tensors[0].shape = [1 << 40, 1 << 40] }
        try expect(.badTensor, "overflowing element count") { $0.tensors[0].shape = [1 << 31, 1 << 31, 1 << 31] }
        try expect(.truncated, "offset past the end") { $0.tensors[0].chunks[0].offset = 1 << 30 }
        try expect(.truncated, "offset that overflows") { $0.tensors[0].chunks[0].offset = UInt64.max - 63 }
        try expect(.duplicateTensor, "duplicate tensor names") { $0.tensors[1].name = $0.tensors[0].name }
        try expect(.missingTensor, "tensor missing for the architecture") { $0.tensors.removeLast() }
        try expect(.unknownRequiredKey, "unknown required section") { $0.metadata.required.append("hologram") }
        try expect(.badTensor, "overlapping chunks") { $0.tensors[1].chunks[0].offset = $0.tensors[0].chunks[0].offset }
        try expect(.badTensor, "shape that disagrees with the bytes") { $0.tensors[0].shape = [3] }
        try expect(.architectureMismatch, "shape that disagrees with the architecture") { h in
            let i = h.tensors.firstIndex { $0.name == "blocks.0.attn.out.bias" }!
            let j = h.tensors.firstIndex { $0.name == "blocks.0.cross.q.bias" }!
            h.tensors[i].name = "x"; h.tensors[j].name = "blocks.0.attn.out.bias"; h.tensors[i].name = "blocks.0.cross.q.bias"
            h.tensors[i].shape = [32]; h.tensors[j].shape = [32]
            var a = h.metadata.architecture!; a.mlpRatio = 3; h.metadata.architecture = a
        }
        // Wrong magic and version.
        var bad = good; bad[0] = 0x58
        XCTAssertThrowsError(try VGPKReader(bytes: Data(bad))) { XCTAssertEqual(($0 as? VGPKError)?.kind, .badMagic) }
        bad = good; bad[8] = 2
        XCTAssertThrowsError(try VGPKReader(bytes: Data(bad))) { XCTAssertEqual(($0 as? VGPKError)?.kind, .unsupportedVersion) }
        bad = good; bad[16...23] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        XCTAssertThrowsError(try VGPKReader(bytes: Data(bad))) { XCTAssertEqual(($0 as? VGPKError)?.kind, .badHeader) }
        // Errors name the file, tensor, chunk and byte offset.
        var flipped = good
        let r = try VGPKReader(bytes: Data(good))
        let c = r.header.tensors[3].chunks[0]
        flipped[r.dataStart + Int(c.offset)] ^= 1
        XCTAssertThrowsError(try VGPKReader(bytes: Data(flipped), name: "m.vgpk").verify()) {
            XCTAssertEqual("\($0)", "m.vgpk: tensor \(r.header.tensors[3].name): chunk 0 at byte \(r.dataStart + Int(c.offset)): checksum mismatch")
        }
    }

    func testAtomicWriteAndFileErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vgpk-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = VGPKWriter(metadata: VGPKMetadata())
        try w.addModel(try packParams(seed: 8), config: packConfig, policy: QuantizationPolicy(quant: .f16))
        let url = dir.appendingPathComponent("m.vgpk")
        try w.write(to: url)
        try w.write(to: url)   // replacing an existing file
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["m.vgpk"])
        XCTAssertNoThrow(try VGPKReader(contentsOf: url, mapped: true).verify())
        XCTAssertThrowsError(try VGPKReader(contentsOf: dir.appendingPathComponent("missing.vgpk"))) { XCTAssertEqual(($0 as? VGPKError)?.kind, .io) }
        XCTAssertThrowsError(try w.write(to: dir.appendingPathComponent("no/such/dir/m.vgpk")))
    }
}

enum Ref {
    static func relErr(_ a: [Float], _ b: [Float]) -> (rel: Double, maxAbs: Double) {
        var num = 0.0, den = 0.0, mx = 0.0
        for i in 0..<a.count { let d = Double(a[i] - b[i]); num += d * d; den += Double(b[i] * b[i]); mx = max(mx, abs(d)) }
        return ((num / max(den, 1e-30)).squareRoot(), mx)
    }
}

final class VGPKPreloadTests: XCTestCase {
    func testParallelPreloadEqualsSequentialAndReportsTheFirstBadChunk() throws {
        var w = VGPKWriter(metadata: VGPKMetadata())
        try w.addModel(try packParams(seed: 9), config: packConfig, policy: QuantizationPolicy(quant: .q4))
        let good = try w.serialized()
        let pool = try ThreadPool(threads: 2)
        let seq = try VGPKReader(bytes: Data(good)), par = try VGPKReader(bytes: Data(good))
        try par.preload(pool: pool)
        for n in seq.tensorNames { XCTAssertEqual(try par.floatTensor(n).toArray(), try seq.floatTensor(n).toArray(), n) }
        // Two corrupt chunks: the one earlier in the file is reported, whatever the scheduling.
        var bad = good
        let t = seq.header.tensors
        bad[seq.dataStart + Int(t[5].chunks[0].offset)] ^= 4
        bad[seq.dataStart + Int(t[2].chunks[0].offset)] ^= 4
        for _ in 0..<5 {
            XCTAssertThrowsError(try VGPKReader(bytes: Data(bad)).preload(pool: pool)) { XCTAssertEqual(($0 as? VGPKError)?.tensor, t[2].name) }
        }
    }
}
