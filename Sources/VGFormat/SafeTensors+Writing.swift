#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import VGCore

/// Builds a safetensors file. The output is deterministic: tensors sorted by name (UTF-8 byte
/// order) and laid out in that order, metadata keys sorted, the JSON compact and padded with spaces
/// so that the data section starts at a multiple of 8. Files are written atomically.
public struct SafeTensorsWriter: Sendable {
    /// How an f32 tensor is stored.
    public enum FloatStorage: Sendable {
        /// Bit-exact 4-byte floats.
        case f32
        /// IEEE binary16, rounded to nearest even (values beyond ±65504 become infinity).
        case f16
    }

    private struct Entry {
        let dtype: SafeTensorsDType
        let shape: [Int]
        let bytes: Data
    }

    /// The `__metadata__` map (string to string; configs and tokenizers go here as JSON strings).
    /// Left out of the header when empty.
    public var metadata: [String: String]
    private var entries: [String: Entry] = [:]

    /// An empty writer with the given metadata.
    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Names added so far, in the order they will be written.
    public var tensorNames: [String] { entries.keys.sorted(by: Self.byteOrder) }

    /// Adds a tensor of `shape` holding `values` (row-major), stored as `storage`.
    /// - Throws: `.invalidArgument` when the count does not match the shape, `.duplicateName`.
    public mutating func add(_ name: String, shape: [Int], values: [Float], as storage: FloatStorage = .f32) throws(SafeTensorsError) {
        let n = try elementCount(name, shape)
        guard n == values.count else {
            throw SafeTensorsError(.invalidArgument, file: "<writer>", tensor: name,
                                   "shape \(describeShape(shape)) needs \(n) values, got \(values.count)")
        }
        let bytes = values.withUnsafeBufferPointer { Self.encode($0, as: storage) }
        try insert(name, Entry(dtype: storage == .f32 ? .f32 : .f16, shape: shape, bytes: bytes))
    }

    /// Adds an f32 or f16 `Tensor`, stored as `storage` (an f16 tensor stored as `.f16` is copied as is).
    /// - Throws: `.invalidArgument` for quantised tensors, `.duplicateName`.
    public mutating func add(_ name: String, tensor: Tensor, as storage: FloatStorage = .f32) throws(SafeTensorsError) {
        switch (tensor.dtype, storage) {
        case (.f16, .f16):
            var bytes = Data(count: tensor.count * 2)
            let halves = UnsafeBufferPointer(start: tensor.storage.pointer(as: UInt16.self), count: tensor.count)
            bytes.withUnsafeMutableBytes { out in
                for (i, h) in halves.enumerated() { out.storeBytes(of: h.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
            try insert(name, Entry(dtype: .f16, shape: tensor.shape, bytes: bytes))
        case (.f32, _), (.f16, .f32):
            try add(name, shape: tensor.shape, values: tensor.toArray(), as: storage)
        case (.q8, _), (.q4, _):
            throw SafeTensorsError(.invalidArgument, file: "<writer>", tensor: name,
                                   "\(tensor.dtype) tensors have no safetensors dtype; add their bytes with addRaw")
        }
    }

    /// Adds already-encoded little-endian bytes of any safetensors dtype (integers, BF16, ...).
    /// - Throws: `.sizeMismatch` when `bytes` is not shape product × dtype size, `.duplicateName`.
    public mutating func addRaw(_ name: String, dtype: SafeTensorsDType, shape: [Int], bytes: Data) throws(SafeTensorsError) {
        let n = try elementCount(name, shape)
        guard let expected = try? CheckedSize.multiply(n, dtype.byteSize), expected == bytes.count else {
            throw SafeTensorsError(.sizeMismatch, file: "<writer>", tensor: name,
                                   "shape \(describeShape(shape)) of \(dtype.rawValue) does not take \(bytes.count) bytes")
        }
        try insert(name, Entry(dtype: dtype, shape: shape, bytes: Data(bytes)))
    }

    /// The complete file as bytes.
    /// - Throws: `.invalidArgument` when a tensor is named `__metadata__`.
    public func serialized() throws(SafeTensorsError) -> Data {
        var json = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted(by: Self.byteOrder).map { key in
                HeaderJSONWriter.quoted(key) + ":" + HeaderJSONWriter.quoted(metadata[key] ?? "")
            }
            fields.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        let names = tensorNames
        for name in names {
            guard let e = entries[name] else { continue }
            let shape = e.shape.map(String.init).joined(separator: ",")
            fields.append(HeaderJSONWriter.quoted(name) + ":{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],"
                          + "\"data_offsets\":[\(offset),\(offset + e.bytes.count)]}")
            offset += e.bytes.count
        }
        json += fields.joined(separator: ",") + "}"
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(0x20) }

        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for name in names { if let e = entries[name] { out.append(e.bytes) } }
        return out
    }

    /// Writes the file atomically: a temporary file in the same directory is written, fsynced and
    /// renamed over `url`, then the directory is fsynced. Readers see the old file or the new one.
    /// - Throws: `.io` naming the failing system call, `.invalidArgument` as `serialized()`.
    public func write(to url: URL) throws(SafeTensorsError) {
        try AtomicFile.replaceContents(of: url, with: try serialized())
    }

    // MARK: Helpers

    /// Total order on names: their UTF-8 bytes, like Rust's `BTreeMap<String, _>`.
    static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    private func elementCount(_ name: String, _ shape: [Int]) throws(SafeTensorsError) -> Int {
        do {
            return try CheckedSize.product(shape)
        } catch {
            throw SafeTensorsError(.invalidShape, file: "<writer>", tensor: name, "\(error)")
        }
    }

    private mutating func insert(_ name: String, _ entry: Entry) throws(SafeTensorsError) {
        guard name != "__metadata__" else {
            throw SafeTensorsError(.invalidArgument, file: "<writer>", tensor: name, "the name is reserved for metadata")
        }
        guard entries[name] == nil else {
            throw SafeTensorsError(.duplicateName, file: "<writer>", tensor: name, "a tensor of this name was already added")
        }
        entries[name] = entry
    }

    private static func encode(_ values: UnsafeBufferPointer<Float>, as storage: FloatStorage) -> Data {
        switch storage {
        case .f32:
            var out = Data(count: values.count * 4)
            out.withUnsafeMutableBytes { raw in
                for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
            return out
        case .f16:
            var halves = [UInt16](repeating: 0, count: values.count)
            halves.withUnsafeMutableBufferPointer { h in
                if let src = values.baseAddress, let dst = h.baseAddress { Float16Conversion.toHalf(src, dst, values.count) }
            }
            var out = Data(count: values.count * 2)
            out.withUnsafeMutableBytes { raw in
                for (i, h) in halves.enumerated() { raw.storeBytes(of: h.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
            return out
        }
    }
}

/// Crash-safe replacement of a file's contents (temporary file, fsync, rename, directory fsync).
enum AtomicFile {
    static func replaceContents(of url: URL, with data: Data) throws(SafeTensorsError) {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temp = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func failure(_ call: String) -> SafeTensorsError {
            SafeTensorsError(.io, file: path, "\(call) failed: \(String(cString: strerror(errno)))")
        }
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("creating \(temp)") }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var done = 0
            while done < raw.count {
                guard let base = raw.baseAddress else { return false }
                let n = write(fd, base + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; return false }
                done += n
            }
            return true
        }
        var error = ok ? nil : failure("write")
        if ok, fsync(fd) != 0 { ok = false; error = failure("fsync") }
        if close(fd) != 0, ok { ok = false; error = failure("close") }
        if ok, rename(temp, path) != 0 { ok = false; error = failure("rename to \(path)") }
        if let error {
            unlink(temp)
            throw error
        }
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 { _ = fsync(dirFD); close(dirFD) }
    }
}
