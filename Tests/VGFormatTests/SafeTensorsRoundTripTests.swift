import Foundation
import XCTest
import VGCore
@testable import VGFormat

final class SafeTensorsRoundTripTests: XCTestCase {
    /// Awkward f32 values: signed zeros, infinities, a NaN payload, subnormals, extremes.
    static let specialFloats: [Float] = [
        0, -0.0, 1, -1, .infinity, -.infinity, Float(bitPattern: 0x7FC0_1234), .leastNonzeroMagnitude,
        -.leastNormalMagnitude, .greatestFiniteMagnitude, Float(bitPattern: 0x000A_0000), 3.14159274, -65504, 65520,
    ]

    func testF32RoundTripIsBitExact() throws {
        let dir = try Support.temporaryDirectory()
        let url = dir.appendingPathComponent("model.safetensors")
        var writer = SafeTensorsWriter()
        let weights = (0..<(3 * 5 * 7)).map { Float(sin(Double($0) * 1.7)) * 1e3 }
        try writer.add("blocks.0.weight", shape: [3, 5, 7], values: weights)
        try writer.add("special", shape: [Self.specialFloats.count], values: Self.specialFloats)
        try writer.add("scalar", shape: [], values: [42.5])
        try writer.add("empty", shape: [0, 3], values: [])
        try writer.write(to: url)

        let file = try SafeTensorsFile(contentsOf: url)
        XCTAssertEqual(file.tensorNames, ["blocks.0.weight", "empty", "scalar", "special"])
        XCTAssertEqual(try file.info("blocks.0.weight").shape, [3, 5, 7])
        XCTAssertEqual(try file.info("blocks.0.weight").dtype, .f32)
        XCTAssertEqual(try file.tensor(named: "blocks.0.weight").toArray().map(\.bitPattern), weights.map(\.bitPattern))
        XCTAssertEqual(try file.tensor(named: "special").toArray().map(\.bitPattern), Self.specialFloats.map(\.bitPattern))
        XCTAssertEqual(try file.tensor(named: "scalar").toArray(), [42.5])
        XCTAssertEqual(try file.tensor(named: "empty").shape, [0, 3])
        XCTAssertEqual(file.dataStart % 8, 0, "writers pad the header so data starts 8-aligned")

        // The mapped path reads the same bytes.
        let mapped = try SafeTensorsFile(contentsOf: url, mapped: true)
        XCTAssertEqual(try mapped.rawBytes(named: "special"), try file.rawBytes(named: "special"))
    }

    func testF16StorageRoundsToNearestHalf() throws {
        let values: [Float] = [0, 1, -2.5, 0.1, 1.0 / 3.0, 65504, 1e5, -1e-8, 6.1e-5]
        var writer = SafeTensorsWriter()
        try writer.add("h", shape: [values.count], values: values, as: .f16)
        let file = try SafeTensorsFile(data: try writer.serialized())
        XCTAssertEqual(try file.info("h").dtype, .f16)
        XCTAssertEqual(try file.info("h").dataOffsets, 0..<(2 * values.count))
        let back = try file.tensor(named: "h").toArray()
        let expected = values.map { Float16Conversion.toFloat(Float16Conversion.toHalf($0)) }
        XCTAssertEqual(back.map(\.bitPattern), expected.map(\.bitPattern))
        XCTAssertEqual(back[3], 0.1, accuracy: 1e-4)
        XCTAssertEqual(back[6], .infinity, "beyond the f16 range becomes infinity")

        // An f16 Tensor stored as f16 is copied bit for bit; stored as f32 it is widened exactly.
        let half = try Tensor(zeros: [values.count], dtype: .f16)
        values.withUnsafeBufferPointer { Float16Conversion.toHalf($0.baseAddress!, half.storage.pointer(as: UInt16.self), values.count) }
        var w2 = SafeTensorsWriter()
        try w2.add("as16", tensor: half, as: .f16)
        try w2.add("as32", tensor: half, as: .f32)
        let f2 = try SafeTensorsFile(data: try w2.serialized())
        XCTAssertEqual(try f2.tensor(named: "as16").toArray().map(\.bitPattern), expected.map(\.bitPattern))
        XCTAssertEqual(try f2.tensor(named: "as32").toArray().map(\.bitPattern), expected.map(\.bitPattern))
    }

    func testMetadataRoundTrip() throws {
        let metadata = [
            "config": #"{"width": 64, "depth": 4, "name": "tiny \"video\" model"}"#,
            "tokenizer": "line one\nline two\ttab \\ backslash \u{01} control",
            "unicode ключ": "emoji 🎬, CJK 视频, combining e\u{301}",
            "empty": "",
        ]
        var writer = SafeTensorsWriter(metadata: metadata)
        try writer.add("w", shape: [2], values: [1, 2])
        let file = try SafeTensorsFile(data: try writer.serialized())
        XCTAssertEqual(file.metadata, metadata)

        let bare = try SafeTensorsFile(data: try SafeTensorsWriter().serialized())
        XCTAssertEqual(bare.metadata, [:])
        XCTAssertEqual(bare.tensorNames, [])
    }

    func testOutputIsDeterministicAndSortedByName() throws {
        var a = SafeTensorsWriter(metadata: ["b": "2", "a": "1"])
        try a.add("zeta", shape: [1], values: [1])
        try a.add("alpha", shape: [2], values: [2, 3], as: .f16)
        try a.add("Mid", shape: [1], values: [4])
        var b = SafeTensorsWriter(metadata: ["a": "1", "b": "2"])
        try b.add("Mid", shape: [1], values: [4])
        try b.add("alpha", shape: [2], values: [2, 3], as: .f16)
        try b.add("zeta", shape: [1], values: [1])
        let bytes = try a.serialized()
        XCTAssertEqual(bytes, try b.serialized())
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces), #"{"__metadata__":{"a":"1","b":"2"},"#
            + #""Mid":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
            + #""alpha":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},"#
            + #""zeta":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#)
        XCTAssertEqual(try SafeTensorsFile(data: bytes).tensorNames, ["Mid", "alpha", "zeta"])
    }

    func testRawTypedBytesAndBF16() throws {
        var int64s = Data()
        for v: Int64 in [1, -2, 1 << 40] { withUnsafeBytes(of: v.littleEndian) { int64s.append(contentsOf: $0) } }
        // BF16 is the high half of an f32: 1.0 = 0x3F80, -2.0 = 0xC000, 0.15625 = 0x3E20.
        let bf16 = Data([0x80, 0x3F, 0x00, 0xC0, 0x20, 0x3E])
        var writer = SafeTensorsWriter()
        try writer.addRaw("ids", dtype: .i64, shape: [3], bytes: int64s)
        try writer.addRaw("b", dtype: .bf16, shape: [3], bytes: bf16)
        let file = try SafeTensorsFile(data: try writer.serialized())
        XCTAssertEqual(try file.rawBytes(named: "ids"), int64s)
        XCTAssertEqual(try file.withRawBytes(named: "ids") { Array($0) }, Array(int64s))
        XCTAssertEqual(try file.tensor(named: "b").toArray(), [1, -2, 0.15625])
        XCTAssertEqual(try file.info("ids").byteRange, (file.dataStart + 6)..<(file.dataStart + 30))

        XCTAssertThrowsError(try file.tensor(named: "ids")) { XCTAssertEqual(($0 as? SafeTensorsError)?.kind, .unsupportedConversion) }
        XCTAssertThrowsError(try file.tensor(named: "nope")) { XCTAssertEqual(($0 as? SafeTensorsError)?.kind, .noSuchTensor) }
    }

    func testWriterRejectsBadArguments() throws {
        var writer = SafeTensorsWriter()
        try writer.add("x", shape: [2], values: [1, 2])
        func kind(_ body: () throws -> Void) -> SafeTensorsError.Kind? {
            do { try body(); return nil } catch { return (error as? SafeTensorsError)?.kind }
        }
        XCTAssertEqual(kind { try writer.add("x", shape: [1], values: [1]) }, .duplicateName)
        XCTAssertEqual(kind { try writer.add("y", shape: [3], values: [1]) }, .invalidArgument)
        XCTAssertEqual(kind { try writer.add("y", shape: [-1], values: []) }, .invalidShape)
        XCTAssertEqual(kind { try writer.add("__metadata__", shape: [1], values: [1]) }, .invalidArgument)
        XCTAssertEqual(kind { try writer.addRaw("y", dtype: .i32, shape: [2], bytes: Data(count: 7)) }, .sizeMismatch)
        XCTAssertEqual(kind { try writer.add("q", tensor: try Tensor(zeros: [2, 32], dtype: .q8)) }, .invalidArgument)
    }

    func testHandWrittenUnpaddedHeaderIsAccepted() throws {
        let data = Support.craft(#"{"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}"#, dataBytes: 3)
        let file = try SafeTensorsFile(data: data)
        XCTAssertEqual(try file.rawBytes(named: "w"), Data([0, 1, 2]))
        // "__metadata__": null means no metadata, as in the reference implementation.
        let nullMetadata = Support.craft(#"{"__metadata__":null,"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, dataBytes: 1)
        XCTAssertEqual(try SafeTensorsFile(data: nullMetadata).metadata, [:])
        // A slice of a larger buffer parses the same.
        let sliced = (Data([9, 9]) + data).dropFirst(2)
        XCTAssertEqual(try SafeTensorsFile(data: sliced).rawBytes(named: "w"), Data([0, 1, 2]))
    }

    func testAtomicWriteReplacesAndLeavesNoTemporaryFile() throws {
        let dir = try Support.temporaryDirectory()
        let url = dir.appendingPathComponent("ckpt.safetensors")
        var first = SafeTensorsWriter()
        try first.add("w", shape: [1], values: [1])
        try first.write(to: url)
        var second = SafeTensorsWriter()
        try second.add("w", shape: [2], values: [5, 6])
        try second.write(to: url)
        XCTAssertEqual(try SafeTensorsFile(contentsOf: url).tensor(named: "w").toArray(), [5, 6])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["ckpt.safetensors"])

        let missing = dir.appendingPathComponent("no/such/dir/x.safetensors")
        XCTAssertThrowsError(try second.write(to: missing)) { error in
            let e = error as? SafeTensorsError
            XCTAssertEqual(e?.kind, .io)
            XCTAssertTrue(e?.description.contains("x.safetensors") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try SafeTensorsFile(contentsOf: missing)) { XCTAssertEqual(($0 as? SafeTensorsError)?.kind, .io) }
    }

    /// A file the size of the default model (24 tensors of [256, 1024] f32: 6.3 M parameters,
    /// 25 MB): write, open (validate), and convert every tensor. Prints the times for the docs.
    func testModelSizedFileTimes() throws {
        let dir = try Support.temporaryDirectory()
        let url = dir.appendingPathComponent("model-sized.safetensors")
        let values = (0..<(256 * 1024)).map { Float($0 % 977) * 0.001 - 0.4 }
        var writer = SafeTensorsWriter(metadata: ["config": "{}"])
        for i in 0..<24 { try writer.add("blocks.\(i).weight", shape: [256, 1024], values: values) }
        var clock = Date()
        try writer.write(to: url)
        let writeSeconds = Date().timeIntervalSince(clock)
        for mapped in [false, true] {
            clock = Date()
            let file = try SafeTensorsFile(contentsOf: url, mapped: mapped)
            let openSeconds = Date().timeIntervalSince(clock)
            clock = Date()
            var matching = 0
            for name in file.tensorNames where try file.tensor(named: name).floats[1000] == values[1000] { matching += 1 }
            let convertSeconds = Date().timeIntervalSince(clock)
            XCTAssertEqual(matching, 24)
            XCTAssertLessThan(openSeconds + convertSeconds, 10)
            print(String(format: "safetensors 25 MB f32 (%@): write %.1f ms, open+validate %.1f ms, to f32 tensors %.1f ms",
                         mapped ? "mapped" : "read", writeSeconds * 1e3, openSeconds * 1e3, convertSeconds * 1e3))
        }
    }
}
