import Foundation
import XCTest
@testable import VGFormat

/// Corrupt and hostile files: each must give its specific error, never a crash.
final class SafeTensorsBadInputTests: XCTestCase {
    /// `{"name": {"dtype": ..., "shape": ..., "data_offsets": ...}}` for a one-tensor header.
    func entry(_ name: String = "w", dtype: String = "F32", shape: String = "[2]", offsets: String = "[0,8]") -> String {
        #"{"\#(name)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}}"#
    }

    func testTruncationAtEveryByte() throws {
        var writer = SafeTensorsWriter(metadata: ["config": "{}"])
        try writer.add("a", shape: [3], values: [1, 2, 3])
        try writer.add("b", shape: [2, 2], values: [4, 5, 6, 7], as: .f16)
        let full = try writer.serialized()
        let parsed = try SafeTensorsFile(data: full)
        let dataStart = parsed.dataStart
        let endOfA = try parsed.info("a").byteRange.upperBound
        for cut in 0..<full.count {
            guard let e = Support.parseError(full.prefix(cut)) else { continue }
            let expected: SafeTensorsError.Kind = cut < dataStart ? .truncated : .offsetsOutOfRange
            XCTAssertEqual(e.kind, expected, "cut at \(cut): \(e)")
            if cut >= dataStart { XCTAssertEqual(e.tensor, cut < endOfA ? "a" : "b", "the tensor that runs past the end: \(e)") }
        }
    }

    func testHeaderLengthBeyondLimitOrFile() {
        Support.expect(.headerTooLarge, Support.craft("{}", length: UInt64.max))
        Support.expect(.headerTooLarge, Support.craft("{}", length: 100_000_001))
        Support.expect(.truncated, Support.craft("{}", length: 99_999_999))
        Support.expect(.truncated, Support.craft("{}", length: 3))
        Support.expect(.truncated, Data([2, 0, 0]))
    }

    func testCorruptJSON() {
        for header in ["", "   ", "not json", #"{"w":"#, #"{"w":{"dtype":"F32""#, "{}}", #"{"w":1,}"#, "{'w':1}",
                       #"{"w":01}"#, #"{"w":-}"#, #"{"w":"\x"}"#, #"{"w":"\uD800"}"#, #"{"w":"a\#u{01}b"}"#, "{} x",
                       String(repeating: "[", count: 100_000)] {
            Support.expect(.invalidJSON, Support.craft(header))
        }
        // Invalid UTF-8 inside a name: the byte offset is where that string starts.
        var bad = Support.craft(#"{"w\#u{FF}":1}"#)
        bad[bad.count - 6] = 0xFF
        bad[bad.count - 5] = 0xFE
        let e = Support.parseError(bad)
        XCTAssertEqual(e?.kind, .invalidUTF8)
        XCTAssertEqual(e?.byteOffset, 9)
    }

    func testJSONValueCountIsBounded() throws {
        let header = Array(#"{"w":{"dtype":"U8","shape":[1,1,1,1],"data_offsets":[0,1]}}"#.utf8)
        XCTAssertNoThrow(try HeaderJSONParser.parse(header, maxValues: 11))
        XCTAssertThrowsError(try HeaderJSONParser.parse(header, maxValues: 10)) { error in
            guard case HeaderJSONParser.Failure.syntax(let why, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("more than 10 JSON values"), why)
        }
        // A long shape array within the default limit is parsed and then refused by size, quickly.
        let ones = Array(repeating: "1", count: 1_000_000).joined(separator: ",")
        let start = Date()
        let e = Support.parseError(Support.craft(entry(shape: "[\(ones)]"), dataBytes: 8))
        XCTAssertEqual(e?.kind, .sizeMismatch)
        XCTAssertLessThan(e?.description.count ?? 0, 300, "the message abbreviates the shape")
        print(String(format: "1 M-dimension shape rejected in %.0f ms", Date().timeIntervalSince(start) * 1e3))
    }

    func testHeaderStructure() {
        Support.expect(.invalidHeader, Support.craft("[]"))
        Support.expect(.invalidHeader, Support.craft(#"{"__metadata__":{"k":1}}"#))
        Support.expect(.invalidHeader, Support.craft(#"{"__metadata__":"x"}"#))
        Support.expect(.invalidHeader, tensor: "w", Support.craft(#"{"w":{"shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 8))
        Support.expect(.invalidHeader, tensor: "w", Support.craft(#"{"w":[1]}"#))
        Support.expect(.invalidHeader, tensor: "w",
                       Support.craft(#"{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 8))
    }

    func testUnknownDType() {
        for dtype in ["F31", "f32", "", "Q4_0"] {
            Support.expect(.unknownDType, tensor: "w", Support.craft(entry(dtype: dtype), dataBytes: 8))
        }
    }

    func testShapes() {
        Support.expect(.invalidShape, tensor: "w", Support.craft(entry(shape: "[-2]"), dataBytes: 8))
        Support.expect(.invalidShape, tensor: "w", Support.craft(entry(shape: "[2.0]"), dataBytes: 8))
        Support.expect(.invalidShape, tensor: "w", Support.craft(entry(shape: #"["2"]"#), dataBytes: 8))
        Support.expect(.invalidShape, tensor: "w", Support.craft(entry(shape: "[18446744073709551618]"), dataBytes: 8))
        // Each dimension fits, the product does not.
        Support.expect(.invalidShape, tensor: "w", Support.craft(entry(shape: "[4294967296,4294967296]"), dataBytes: 8))
        // The product fits, times 4 bytes it does not.
        Support.expect(.invalidShape, tensor: "w", Support.craft(entry(shape: "[4611686018427387904]"), dataBytes: 8))
        let mismatch = Support.parseError(Support.craft(entry(shape: "[3]"), dataBytes: 8))
        XCTAssertEqual(mismatch?.kind, .sizeMismatch)
        XCTAssertEqual(mismatch?.byteOffset, 9, "points at the tensor's key in the header")
        XCTAssertTrue(mismatch?.description.contains(#"tensor "w""#) ?? false)
        XCTAssertTrue(mismatch?.description.contains("crafted.safetensors") ?? false)
    }

    func testOffsets() {
        Support.expect(.offsetsOutOfRange, tensor: "w", Support.craft(entry(offsets: "[0,16]"), dataBytes: 8))
        Support.expect(.offsetsOutOfRange, tensor: "w", Support.craft(entry(offsets: "[8,0]"), dataBytes: 8))
        Support.expect(.offsetsOutOfRange, tensor: "w", Support.craft(entry(offsets: "[-8,0]"), dataBytes: 8))
        Support.expect(.offsetsOutOfRange, tensor: "w", Support.craft(entry(offsets: "[0]"), dataBytes: 8))
        Support.expect(.offsetsOutOfRange, tensor: "w", Support.craft(entry(offsets: "[0,8.5]"), dataBytes: 8))
        // 2^63 and 2^63 + 8: would wrap a signed 64-bit offset.
        Support.expect(.offsetsOutOfRange, tensor: "w",
                       Support.craft(entry(offsets: "[9223372036854775808,9223372036854775816]"), dataBytes: 8))
        // Largest representable end: in range arithmetic but far past the file.
        Support.expect(.offsetsOutOfRange, tensor: "w",
                       Support.craft(entry(offsets: "[9223372036854775799,9223372036854775807]"), dataBytes: 8))
        Support.expect(.offsetsOutOfRange, tensor: "w",
                       Support.craft(entry(offsets: "[0,99999999999999999999999999]"), dataBytes: 8))
    }

    func testCoverageOfTheDataSection() {
        let two = { (a: String, b: String) in
            #"{"a":{"dtype":"U8","shape":[4],"data_offsets":\#(a)},"b":{"dtype":"U8","shape":[4],"data_offsets":\#(b)}}"#
        }
        Support.expect(.overlappingData, tensor: "b", Support.craft(two("[0,4]", "[2,6]"), dataBytes: 6))
        Support.expect(.overlappingData, Support.craft(two("[0,4]", "[0,4]"), dataBytes: 4))
        Support.expect(.uncoveredData, tensor: "b", Support.craft(two("[0,4]", "[5,9]"), dataBytes: 9))
        Support.expect(.uncoveredData, Support.craft(two("[0,4]", "[4,8]"), dataBytes: 10))
        Support.expect(.uncoveredData, Support.craft("{}", dataBytes: 1))
        let gap = Support.parseError(Support.craft(two("[0,4]", "[5,9]"), dataBytes: 9))
        let headerLength = two("[0,4]", "[5,9]").utf8.count
        XCTAssertEqual(gap?.byteOffset, 8 + headerLength + 4, "the first uncovered byte")
    }

    func testDuplicateNames() {
        let dup = #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#
        Support.expect(.duplicateName, tensor: "w", Support.craft(dup, dataBytes: 2))
        Support.expect(.duplicateName, Support.craft(#"{"__metadata__":{},"__metadata__":{}}"#))
        // Escapes that spell the same name are the same name.
        let escaped = #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"\u0077":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#
        Support.expect(.duplicateName, tensor: "w", Support.craft(escaped, dataBytes: 2))
    }

    /// Seeded random byte flips over a valid file: every outcome is a parse or a `SafeTensorsError`,
    /// and a file that parses still has all its tensors readable inside the file's bounds.
    func testRandomByteFlipsNeverCrash() throws {
        var writer = SafeTensorsWriter(metadata: ["k": "v"])
        try writer.add("a", shape: [3], values: [1, 2, 3])
        try writer.add("b", shape: [2], values: [4, 5], as: .f16)
        let valid = try writer.serialized()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int(truncatingIfNeeded: state >> 1)
        }
        var parsed = 0, rejected = 0
        for _ in 0..<5000 {
            var data = valid
            for _ in 0..<(1 + next() % 3) { data[next() % data.count] = UInt8(truncatingIfNeeded: next()) }
            do {
                let file = try SafeTensorsFile(data: data)
                for name in file.tensorNames {
                    let info = try file.info(name)
                    XCTAssertLessThanOrEqual(info.byteRange.upperBound, data.count)
                    _ = try? file.tensor(named: name)
                }
                parsed += 1
            } catch {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(rejected, 0)
        print("random byte flips: \(parsed) parsed, \(rejected) rejected with SafeTensorsError")
    }
}
