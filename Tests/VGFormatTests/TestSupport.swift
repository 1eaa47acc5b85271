import Foundation
import XCTest
@testable import VGFormat

/// Helpers shared by the safetensors tests: temporary directories, hand-made files, subprocesses.
enum Support {
    /// A fresh empty directory under the system temp directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vgformat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A safetensors file with `header` as its JSON (unpadded) and `dataBytes` bytes of data 0, 1, 2...
    /// `length` overrides the 8-byte header length prefix.
    static func craft(_ header: String, dataBytes: Int = 0, length: UInt64? = nil) -> Data {
        let json = Array(header.utf8)
        var out = Data()
        withUnsafeBytes(of: (length ?? UInt64(json.count)).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        out.append(contentsOf: (0..<dataBytes).map { UInt8(truncatingIfNeeded: $0) })
        return out
    }

    /// Parses `data` and returns the error, failing the test when parsing succeeds or throws another type.
    static func parseError(_ data: Data, file: StaticString = #filePath, line: UInt = #line) -> SafeTensorsError? {
        do {
            _ = try SafeTensorsFile(data: data, fileName: "crafted.safetensors")
            XCTFail("parsing succeeded, expected an error", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    /// Asserts that parsing `data` fails with `kind` (and, when given, names `tensor`).
    static func expect(_ kind: SafeTensorsError.Kind, tensor: String? = nil, _ data: Data,
                       file: StaticString = #filePath, line: UInt = #line) {
        guard let e = parseError(data, file: file, line: line) else { return }
        XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
        XCTAssertEqual(e.file, "crafted.safetensors", file: file, line: line)
        if let tensor { XCTAssertEqual(e.tensor, tensor, "\(e)", file: file, line: line) }
    }
}
