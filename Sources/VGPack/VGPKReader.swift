import CZstd
import Foundation
import VGCore
import VGModel

/// Reads a .vgpk file and trusts nothing in it: every size is checked with overflow-safe arithmetic
/// against the file and against the others, the header checksum on open and every chunk checksum
/// when its tensor is loaded (or all at once with `verify()`). Any input gives either tensors or a
/// `VGPKError`, never a trap.
public final class VGPKReader: @unchecked Sendable {
    public let path: String
    public let header: VGPKHeader
    /// File offset of the data section.
    public let dataStart: Int
    let bytes: Data
    let index: [String: Int]
    /// Tensors decoded by `preload`, by name.
    var cache: [String: Tensor] = [:]

    /// Opens and validates the structure (magic, version, header checksum, JSON, tensor table).
    /// - Parameter mapped: map the file instead of reading it (faster for large files; a file that
    ///   another process truncates while mapped can still fault, as with any mmap).
    public init(contentsOf url: URL, mapped: Bool = false) throws {
        path = url.path
        do { bytes = try Data(contentsOf: url, options: mapped ? .alwaysMapped : []) }
        catch { throw VGPKError(.io, file: url.path, "cannot read: \(error.localizedDescription)") }
        (header, dataStart, index) = try VGPKReader.parse(bytes, file: url.path)
    }

    /// Validates an in-memory file (tests, fuzzing).
    public init(bytes: Data, name: String = "<memory>") throws {
        path = name
        self.bytes = bytes
        (header, dataStart, index) = try VGPKReader.parse(bytes, file: name)
    }

    /// Stored bytes of a tensor of `type` and logical `shape`.
    public static func byteCount(type: VGPKType, shape: [Int]) throws -> Int {
        switch type {
        case .f32, .f16: return try type.dtype.byteCount(rows: 1, k: try CheckedSize.product(shape))
        case .q8, .q4:
            guard shape.count == 2 else { throw VGError.invalidArgument("\(type) tensors are matrices, got \(shape)") }
            return try type.dtype.byteCount(rows: shape[0], k: shape[1])
        }
    }

    static func parse(_ d: Data, file: String) throws -> (VGPKHeader, Int, [String: Int]) {
        func fail(_ k: VGPKError.Kind, _ m: String, tensor: String? = nil, chunk: Int? = nil, offset: UInt64? = nil) -> VGPKError {
            VGPKError(k, file: file, tensor: tensor, chunk: chunk, offset: offset, m)
        }
        let size = d.count
        guard size >= VGPK.preambleSize else { throw fail(.truncated, "\(size) bytes is shorter than the 32-byte preamble") }
        let (magic, major, minor, hlen, hsum): ([UInt8], UInt32, UInt32, UInt64, UInt64) = d.withUnsafeBytes { b in
            (Array(b[0..<8]), UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
             UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 12, as: UInt32.self)),
             UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
             UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        }
        guard magic == VGPK.magic else { throw fail(.badMagic, "not a .vgpk file (bad magic)", offset: 0) }
        guard major == VGPK.majorVersion else { throw fail(.unsupportedVersion, "format version \(major).\(minor); this reader reads \(VGPK.majorVersion).x", offset: 8) }
        guard hlen <= UInt64(VGPK.maxHeaderSize) else { throw fail(.badHeader, "header length \(hlen) exceeds \(VGPK.maxHeaderSize)", offset: 16) }
        let headerEnd = VGPK.preambleSize + Int(hlen)
        guard headerEnd <= size else { throw fail(.truncated, "header of \(hlen) bytes runs past the end of the \(size)-byte file", offset: 16) }
        let headerBytes = d.subdata(in: VGPK.preambleSize..<headerEnd)
        guard headerBytes.withUnsafeBytes({ XXHash64.hash($0) }) == hsum else {
            throw fail(.headerChecksum, "header checksum mismatch", offset: UInt64(VGPK.preambleSize))
        }
        let header: VGPKHeader
        do { header = try JSONDecoder().decode(VGPKHeader.self, from: headerBytes) }
        catch { throw fail(.badHeader, "header is not valid: \(error)", offset: UInt64(VGPK.preambleSize)) }
        for key in header.metadata.required where !VGPK.knownKeys.contains(key) {
            throw fail(.unknownRequiredKey, "requires metadata section '\(key)' that this reader does not know")
        }
        let dataStart = (headerEnd + VGPK.alignment - 1) / VGPK.alignment * VGPK.alignment
        let dataSize = UInt64(max(0, size - dataStart))
        var index: [String: Int] = [:]
        var spans: [(UInt64, UInt64, String, Int)] = []
        for (ti, t) in header.tensors.enumerated() {
            guard !t.name.isEmpty, t.name.utf8.count <= 1024 else { throw fail(.badTensor, "tensor \(ti) has an empty or overlong name") }
            guard index[t.name] == nil else { throw fail(.duplicateTensor, "duplicate tensor name", tensor: t.name) }
            index[t.name] = ti
            guard (1...8).contains(t.shape.count), t.shape.allSatisfy({ $0 >= 1 && $0 <= 1 << 31 }) else {
                throw fail(.badTensor, "shape \(t.shape) is not 1 to 8 dimensions of 1...2^31", tensor: t.name)
            }
            let need: Int
            do { need = try byteCount(type: t.type, shape: t.shape) } catch { throw fail(.badTensor, "\(error)", tensor: t.name) }
            guard !t.chunks.isEmpty else { throw fail(.badTensor, "no chunks", tensor: t.name) }
            var total: UInt64 = 0
            for (ci, c) in t.chunks.enumerated() {
                guard c.offset % UInt64(VGPK.alignment) == 0 else { throw fail(.badTensor, "chunk offset not 64-byte aligned", tensor: t.name, chunk: ci, offset: c.offset) }
                guard c.codec == "zstd" || c.codec == "raw" else { throw fail(.badTensor, "unknown codec \(c.codec)", tensor: t.name, chunk: ci) }
                guard c.rawSize >= 1, c.rawSize <= UInt64(VGPK.chunkSize), c.storedSize >= 1 else {
                    throw fail(.badTensor, "chunk sizes stored \(c.storedSize) raw \(c.rawSize) out of range", tensor: t.name, chunk: ci)
                }
                guard c.codec == "zstd" || c.storedSize == c.rawSize else { throw fail(.badTensor, "raw chunk with stored != raw size", tensor: t.name, chunk: ci) }
                let (end, o) = c.offset.addingReportingOverflow(c.storedSize)
                guard !o, end <= dataSize else {
                    throw fail(.truncated, "chunk of \(c.storedSize) bytes runs past the end of the data section (\(dataSize) bytes)",
                               tensor: t.name, chunk: ci, offset: UInt64(dataStart) &+ c.offset)
                }
                guard UInt64(c.checksum, radix: 16) != nil else { throw fail(.badTensor, "checksum '\(c.checksum)' is not hex", tensor: t.name, chunk: ci) }
                total += c.rawSize
                spans.append((c.offset, end, t.name, ci))
            }
            guard total == UInt64(need) else {
                throw fail(.badTensor, "chunks hold \(total) bytes; \(t.type) \(t.shape) needs \(need)", tensor: t.name)
            }
        }
        spans.sort { $0.0 < $1.0 }
        for (a, b) in zip(spans, spans.dropFirst()) where b.0 < a.1 {
            throw fail(.badTensor, "chunk overlaps chunk \(a.3) of \(a.2)", tensor: b.2, chunk: b.3, offset: UInt64(dataStart) &+ b.0)
        }
        return (header, dataStart, index)
    }

    /// Names of the tensors, in file order.
    public var tensorNames: [String] { header.tensors.map(\.name) }

    /// The tensor entry called `name`.
    public func entry(_ name: String) throws -> VGPKTensor {
        guard let i = index[name] else { throw VGPKError(.missingTensor, file: path, tensor: name, "not in the file") }
        return header.tensors[i]
    }

    /// Decodes every tensor now, chunks in parallel on `pool` (chunks are independent zstd frames),
    /// so that later `tensor(_:)` calls are lookups. The first failing chunk in file order is thrown.
    public func preload(pool: ThreadPool) throws {
        var tensors: [Tensor] = []
        var jobs: [(tensor: Int, chunk: Int, offset: Int)] = []
        for (ti, e) in header.tensors.enumerated() {
            // Every byte is decoded into (the chunks' raw sizes add up to the tensor's size, checked on open).
            tensors.append(try Tensor.uninitialized(e.shape, dtype: e.type.dtype))
            var at = 0
            for ci in e.chunks.indices { jobs.append((ti, ci, at)); at += Int(e.chunks[ci].rawSize) }
        }
        let errors = UnsafeMutableBufferPointer<VGPKError?>.allocate(capacity: jobs.count)
        errors.initialize(repeating: nil)
        defer { errors.deinitialize(); errors.deallocate() }
        let box = ErrorSlots(errors)
        pool.parallelFor(jobs.count) { j, _ in
            let job = jobs[j]
            do { try self.readChunk(self.header.tensors[job.tensor], job.chunk, into: tensors[job.tensor].storage.raw + job.offset) }
            catch let e as VGPKError { box.slots[j] = e }
            catch { box.slots[j] = VGPKError(.decompression, file: self.path, "\(error)") }
        }
        if let first = errors.first(where: { $0 != nil }) { throw first! }
        for (ti, e) in header.tensors.enumerated() { cache[e.name] = tensors[ti] }
    }

    /// The tensor in its stored type (f32, f16, or the canonical q8 / q4 layout), checksums verified.
    public func tensor(_ name: String) throws -> Tensor {
        if let t = cache[name] { return t }
        let e = try entry(name)
        let t = try Tensor.uninitialized(e.shape, dtype: e.type.dtype)
        var at = 0
        for ci in e.chunks.indices {
            try readChunk(e, ci, into: t.storage.raw + at)
            at += Int(e.chunks[ci].rawSize)
        }
        return t
    }

    /// The tensor as f32 (f16 widened; q8 / q4 dequantised).
    public func floatTensor(_ name: String) throws -> Tensor {
        let t = try tensor(name)
        switch t.dtype {
        case .f32: return t
        case .f16:
            let out = try Tensor(zeros: t.shape)
            Float16Conversion.toFloat(t.storage.pointer(as: UInt16.self), out.floats.baseAddress!, t.count)
            return out
        case .q8: return try Q8Matrix(tensor: t).dequantized()
        case .q4: return try Q4Matrix(tensor: t).dequantized()
        }
    }

    /// Checks every chunk's checksum and that it decompresses to its stated size.
    public func verify() throws {
        let buf = try AlignedBuffer(byteCount: VGPK.chunkSize, zeroed: false)
        for e in header.tensors {
            for ci in e.chunks.indices { try readChunk(e, ci, into: buf.raw) }
        }
    }

    /// Decodes chunk `ci` of `e` into `dst` (rawSize bytes).
    func readChunk(_ e: VGPKTensor, _ ci: Int, into dst: UnsafeMutableRawPointer) throws {
        let c = e.chunks[ci]
        let start = dataStart + Int(c.offset), n = Int(c.storedSize), raw = Int(c.rawSize)
        let absolute = UInt64(start)
        try bytes.withUnsafeBytes { (b: UnsafeRawBufferPointer) in
            let src = UnsafeRawBufferPointer(rebasing: b[start..<(start + n)])
            guard String(XXHash64.hash(src), radix: 16) == c.checksum.lowercased() else {
                throw VGPKError(.chunkChecksum, file: path, tensor: e.name, chunk: ci, offset: absolute, "checksum mismatch")
            }
            if c.codec == "raw" {
                dst.copyMemory(from: src.baseAddress!, byteCount: n)
                return
            }
            let size = ZSTD_getFrameContentSize(src.baseAddress, n)
            guard size == UInt64(raw) else {
                throw VGPKError(.decompression, file: path, tensor: e.name, chunk: ci, offset: absolute, "zstd frame content size \(size) != \(raw)")
            }
            let got = ZSTD_decompress(dst, raw, src.baseAddress, n)
            guard ZSTD_isError(got) == 0, got == raw else {
                let why = ZSTD_isError(got) != 0 ? String(cString: ZSTD_getErrorName(got)) : "\(got) bytes"
                throw VGPKError(.decompression, file: path, tensor: e.name, chunk: ci, offset: absolute, "zstd: \(why)")
            }
        }
    }
}

/// Per-task error slots written by pool tasks (each task its own slot).
private struct ErrorSlots: @unchecked Sendable {
    let slots: UnsafeMutableBufferPointer<VGPKError?>
    init(_ s: UnsafeMutableBufferPointer<VGPKError?>) { slots = s }
}
