import CZstd
import Foundation
import VGCore
import VGModel

/// Builds a .vgpk file: add tensors (quantised on the way in when asked), set the metadata, write.
/// Output bytes are deterministic for the same inputs (tensors in insertion order, fixed zstd level).
public struct VGPKWriter: Sendable {
    struct Entry: Sendable { var name: String; var type: VGPKType; var shape: [Int]; var bytes: [UInt8] }
    public var metadata: VGPKMetadata
    /// zstd level for chunks (3 is near the entropy bound on quantised weights already; see BUILD-NOTES).
    public var zstdLevel: Int32 = 3
    var entries: [Entry] = []

    public init(metadata: VGPKMetadata) { self.metadata = metadata }

    /// Adds an f32 tensor stored as `type` (q8 / q4 need a matrix; they are quantised here).
    public mutating func add(_ name: String, _ tensor: Tensor, as type: VGPKType) throws {
        guard tensor.dtype == .f32 else { throw VGError.invalidArgument("\(name): add() takes f32 tensors, got \(tensor.dtype)") }
        guard !entries.contains(where: { $0.name == name }) else { throw VGError.invalidArgument("duplicate tensor \(name)") }
        let stored: Tensor
        switch type {
        case .f32: stored = tensor
        case .f16:
            stored = try Tensor(zeros: tensor.shape, dtype: .f16)
            Float16Conversion.toHalf(tensor.floats.baseAddress!, stored.storage.pointer(as: UInt16.self), tensor.count)
        case .q8: stored = try Q8Matrix(quantizing: tensor).tensor()
        case .q4: stored = try Q4Matrix(quantizing: tensor).tensor()
        }
        let n = try type.dtype.byteCount(rows: type == .q8 || type == .q4 ? tensor.shape[0] : 1,
                                         k: type == .q8 || type == .q4 ? tensor.shape[1] : tensor.count)
        let bytes = [UInt8](UnsafeRawBufferPointer(start: stored.storage.raw, count: n))
        entries.append(Entry(name: name, type: type, shape: tensor.shape, bytes: bytes))
    }

    /// Adds a tensor given as its stored bytes (already in `type`'s layout).
    public mutating func addRaw(_ name: String, type: VGPKType, shape: [Int], bytes: [UInt8]) throws {
        guard !entries.contains(where: { $0.name == name }) else { throw VGError.invalidArgument("duplicate tensor \(name)") }
        let want = try VGPKReader.byteCount(type: type, shape: shape)
        guard bytes.count == want else { throw VGError.shapeMismatch("\(name): \(bytes.count) bytes for \(type) \(shape), expected \(want)") }
        entries.append(Entry(name: name, type: type, shape: shape, bytes: bytes))
    }

    /// The complete file.
    public func serialized() throws -> [UInt8] {
        var data: [UInt8] = []
        var tensors: [VGPKTensor] = []
        for e in entries {
            var chunks: [VGPKChunk] = []
            var start = 0
            repeat {
                let end = min(e.bytes.count, start + VGPK.chunkSize)
                let raw = Array(e.bytes[start..<end])
                var stored = try compress(raw)
                var codec = "zstd"
                if stored.count >= raw.count { stored = raw; codec = "raw" }
                while data.count % VGPK.alignment != 0 { data.append(0) }
                chunks.append(VGPKChunk(offset: UInt64(data.count), storedSize: UInt64(stored.count), rawSize: UInt64(raw.count),
                                        codec: codec, checksum: String(XXHash64.hash(stored), radix: 16)))
                data += stored
                start = end
            } while start < e.bytes.count
            tensors.append(VGPKTensor(name: e.name, type: e.type, shape: e.shape, chunks: chunks))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let header = [UInt8](try encoder.encode(VGPKHeader(metadata: metadata, tensors: tensors)))
        var out = VGPK.magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        u32(VGPK.majorVersion); u32(VGPK.minorVersion)
        u64(UInt64(header.count)); u64(XXHash64.hash(header))
        out += header
        while out.count % VGPK.alignment != 0 { out.append(0) }
        out += data
        return out
    }

    /// Writes the file atomically: a temporary file beside `url`, then a rename.
    public func write(to url: URL) throws {
        let bytes = try serialized()
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try Data(bytes).write(to: tmp)
            let fd = open(tmp.path, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            // POSIX rename replaces the target atomically (readers see the old or the new file).
            guard rename(tmp.path, url.path) == 0 else { throw VGError.unsupported("rename failed (errno \(errno))") }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw VGPKError(.io, file: url.path, "cannot write: \(error.localizedDescription)")
        }
    }

    func compress(_ raw: [UInt8]) throws -> [UInt8] {
        let bound = ZSTD_compressBound(raw.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = raw.withUnsafeBytes { src in out.withUnsafeMutableBytes { dst in
            ZSTD_compress(dst.baseAddress, bound, src.baseAddress, raw.count, zstdLevel)
        } }
        guard ZSTD_isError(n) == 0 else { throw VGError.unsupported("zstd: \(String(cString: ZSTD_getErrorName(n)))") }
        return Array(out[0..<n])
    }
}
