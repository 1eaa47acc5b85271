import Foundation
import VGCore

/// The element types of the safetensors format, spelled as in the header.
public enum SafeTensorsDType: String, Sendable, CaseIterable, Equatable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case f8e5m2 = "F8_E5M2"
    case f8e4m3 = "F8_E4M3"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }
}

/// Where one tensor lives in a safetensors file.
public struct SafeTensorInfo: Sendable, Equatable {
    /// The tensor's name (the header key).
    public let name: String
    /// Element type as stored.
    public let dtype: SafeTensorsDType
    /// Dimensions, outermost first (`[]` for a scalar).
    public let shape: [Int]
    /// The header's `data_offsets`: bytes relative to the start of the data section.
    public let dataOffsets: Range<Int>
    /// The same bytes as absolute offsets in the file (`8 + header length` added).
    public let byteRange: Range<Int>
}

/// A parsed safetensors file (Hugging Face's format): a little-endian u64 header length N, N bytes
/// of UTF-8 JSON `{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [b, e]}}`
/// (possibly padded with spaces), then the data section that the offsets index.
///
/// Everything is validated when the file is opened, with overflow-checked arithmetic: the header
/// length (at most 100 MB, within the file), UTF-8 and JSON syntax, unique names, known dtypes,
/// non-negative shapes whose byte size equals the offsets' span, and offsets that tile the data
/// section exactly (no overlap, no gap, nothing after the last tensor). Any violation is a
/// `SafeTensorsError`; no input traps. After a successful open, tensor access cannot fail on the
/// file's contents.
public struct SafeTensorsFile: Sendable {
    /// The largest header accepted, as in the reference implementation.
    public static let maxHeaderLength = 100_000_000

    /// The path given when opening, or "<memory>".
    public let fileName: String
    /// The `__metadata__` map (empty when the header has none).
    public let metadata: [String: String]
    /// Tensor names in the order of their data (ascending offsets).
    public let tensorNames: [String]
    /// Absolute offset of the data section: 8 + header length.
    public let dataStart: Int

    private let bytes: Data
    private let infos: [String: SafeTensorInfo]

    /// Reads and validates a file.
    /// - Parameter mapped: map the file instead of reading it. Faster for large files, but if another
    ///   process truncates the file while it is mapped, touching the lost pages raises SIGBUS: use it
    ///   only for files this process owns.
    /// - Throws: `SafeTensorsError` (`.io` when the file cannot be read).
    public init(contentsOf url: URL, mapped: Bool = false) throws(SafeTensorsError) {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: mapped ? [.alwaysMapped] : [])
        } catch {
            throw SafeTensorsError(.io, file: url.path, "cannot read: \(error.localizedDescription)")
        }
        try self.init(data: data, fileName: url.path)
    }

    /// Parses and validates the bytes of a safetensors file held in memory.
    /// - Throws: `SafeTensorsError`.
    public init(data: Data, fileName: String = "<memory>") throws(SafeTensorsError) {
        // Rebase slices so that offsets below are from 0.
        let bytes = data.startIndex == 0 ? data : Data(data)
        let file = fileName
        guard bytes.count >= 8 else {
            throw SafeTensorsError(.truncated, file: file, byteOffset: bytes.count,
                                   "file is \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(Self.maxHeaderLength) else {
            throw SafeTensorsError(.headerTooLarge, file: file, byteOffset: 0,
                                   "header length \(length) exceeds the limit of \(Self.maxHeaderLength) bytes")
        }
        let headerLength = Int(length)
        let dataStart = 8 + headerLength
        guard dataStart <= bytes.count else {
            throw SafeTensorsError(.truncated, file: file, byteOffset: bytes.count,
                                   "header of \(headerLength) bytes runs past the end of the \(bytes.count)-byte file")
        }
        let json: HeaderJSON
        do {
            json = try HeaderJSONParser.parse([UInt8](bytes[8..<dataStart]))
        } catch {
            switch error {
            case .syntax(let why, let at):
                throw SafeTensorsError(.invalidJSON, file: file, byteOffset: 8 + at, "header JSON: \(why)")
            case .utf8(let at):
                throw SafeTensorsError(.invalidUTF8, file: file, byteOffset: 8 + at, "header string is not valid UTF-8")
            }
        }
        let header = try SafeTensorsHeader(json, file: file, dataStart: dataStart, dataSize: bytes.count - dataStart)
        self.fileName = file
        self.bytes = bytes
        self.dataStart = dataStart
        self.metadata = header.metadata
        self.tensorNames = header.tensors.map(\.name)
        self.infos = Dictionary(header.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Where the tensor `name` lives and what it holds.
    /// - Throws: `SafeTensorsError.Kind.noSuchTensor`.
    public func info(_ name: String) throws(SafeTensorsError) -> SafeTensorInfo {
        guard let info = infos[name] else {
            throw SafeTensorsError(.noSuchTensor, file: fileName, tensor: name, "no tensor of that name")
        }
        return info
    }

    /// A copy of the tensor's stored bytes (little-endian, in its file dtype).
    /// - Throws: `SafeTensorsError.Kind.noSuchTensor`.
    public func rawBytes(named name: String) throws(SafeTensorsError) -> Data {
        let range = try info(name).byteRange
        return bytes.subdata(in: range)
    }

    /// Calls `body` with the tensor's stored bytes in place (no copy; valid only during the call).
    /// - Throws: `SafeTensorsError.Kind.noSuchTensor`, or what `body` throws.
    public func withRawBytes<R>(named name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let range = try info(name).byteRange
        return try bytes.withUnsafeBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[range]))
        }
    }

    /// The tensor as an f32 `Tensor`, widening F16 and BF16 (exact) and copying F32 bit for bit.
    /// - Throws: `.noSuchTensor`, `.unsupportedConversion` for other dtypes, or `.invalidArgument`
    ///   when the tensor cannot be allocated.
    public func tensor(named name: String) throws(SafeTensorsError) -> Tensor {
        let info = try info(name)
        let read: (UnsafeRawBufferPointer, UnsafeMutablePointer<Float>, Int) -> Void
        switch info.dtype {
        case .f32: read = LittleEndianFloats.readF32
        case .f16: read = LittleEndianFloats.readF16
        case .bf16: read = LittleEndianFloats.readBF16
        default:
            throw SafeTensorsError(.unsupportedConversion, file: fileName, tensor: name, byteOffset: info.byteRange.lowerBound,
                                   "\(info.dtype.rawValue) cannot be converted to f32 (only F32, F16 and BF16)")
        }
        let out: Tensor
        do {
            out = try Tensor(zeros: info.shape, dtype: .f32)
        } catch {
            throw SafeTensorsError(.invalidArgument, file: fileName, tensor: name, byteOffset: info.byteRange.lowerBound,
                                   "cannot allocate shape \(describeShape(info.shape)): \(error)")
        }
        bytes.withUnsafeBytes { all in
            read(UnsafeRawBufferPointer(rebasing: all[info.byteRange]), out.storage.pointer(as: Float.self), out.count)
        }
        return out
    }
}

/// Conversions between little-endian stored floats and host `Float`s that make no assumption about
/// the alignment of the stored bytes.
enum LittleEndianFloats {
    static func readF32(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n {
            dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    }

    static func readF16(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutablePointer<Float>, count n: Int) {
        var halves = [UInt16](repeating: 0, count: n)
        for i in 0..<n { halves[i] = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        halves.withUnsafeBufferPointer { h in
            if let base = h.baseAddress { Float16Conversion.toFloat(base, dst, n) }
        }
    }

    static func readBF16(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n {
            let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            dst[i] = Float(bitPattern: UInt32(h) << 16)
        }
    }
}
