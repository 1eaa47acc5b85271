import CZstd
import Foundation
import VGVideo

/// One clip in a shard: the clip plus the degradations that were applied to it.
public struct ShardRecord: Sendable {
    /// The clip (frames after the degradations).
    public var clip: Clip
    /// Degradations applied after rendering (empty for clean clips).
    public var degradations: [Degradation]
    public init(clip: Clip, degradations: [Degradation] = []) {
        self.clip = clip
        self.degradations = degradations
    }
}

/// The on-disk shard format (`.vgsw`), little-endian:
///
/// ```
/// header (32 bytes)
///   0  magic    "VGSWSHD1"
///   8  u32      version (1)
///   12 u32      clip count N
///   16 u32      frames F     20 u32 height H     24 u32 width W     28 u32 fps
/// N records, each
///   u32 metaLength, metaLength bytes of UTF-8 JSON
///       {"spec": SceneSpec or null, "captions": {...}, "seed": u64, "degradations": [...]}
///   u32 payloadLength, payloadLength bytes: one zstd frame holding F*H*W*3 bytes of RGB24
///       ([F, H, W, 3], row-major, channel last)
/// ```
/// Every length is bounds-checked when reading; a truncated or corrupt file is a `badShard` error.
public enum Shard {
    static let magic = Array("VGSWSHD1".utf8)
    static let version: UInt32 = 1
    /// zstd level used for frames (3: near the entropy bound for these images at speed).
    public static let compressionLevel: Int32 = 3

    struct Meta: Codable {
        var spec: SceneSpec?
        var captions: CaptionSet
        var seed: UInt64
        var degradations: [Degradation]
    }

    /// Serialises records of geometry `config` into shard bytes.
    public static func encode(_ records: [ShardRecord], config: RenderConfig) throws -> [UInt8] {
        try config.validate()
        var out = magic
        for v in [version, UInt32(records.count), UInt32(config.frames), UInt32(config.height),
                  UInt32(config.width), UInt32(config.fps)] { appendU32(&out, v) }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        for (i, r) in records.enumerated() {
            guard r.clip.config.frames == config.frames, r.clip.config.height == config.height,
                  r.clip.config.width == config.width, r.clip.frames.count == Clip.elementCount(config) else {
                throw ShapeWorldError.badShard("record \(i) has geometry \(r.clip.config), shard has \(config)")
            }
            let meta = try enc.encode(Meta(spec: r.clip.spec, captions: r.clip.captions, seed: r.clip.seed,
                                           degradations: r.degradations))
            appendU32(&out, UInt32(meta.count))
            out += meta
            let payload = try compress(r.clip.rgb24())
            appendU32(&out, UInt32(payload.count))
            out += payload
        }
        return out
    }

    /// Writes a shard file atomically.
    public static func write(_ records: [ShardRecord], config: RenderConfig, to path: String) throws {
        let bytes = try encode(records, config: config)
        do { try AtomicFile.write(bytes, to: path) } catch { throw ShapeWorldError.io("\(error)") }
    }

    /// Reads a whole shard file.
    public static func read(path: String) throws -> (config: RenderConfig, records: [ShardRecord]) {
        var r = try ShardReader(path: path)
        return (r.config, try r.readAll())
    }

    /// Parses shard bytes.
    public static func decode(_ b: [UInt8]) throws -> (config: RenderConfig, records: [ShardRecord]) {
        var r = try ShardReader(bytes: b)
        return (r.config, try r.readAll())
    }

    // MARK: Bytes

    static func appendU32(_ out: inout [UInt8], _ v: UInt32) {
        out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
    }

    static func readU32(_ b: [UInt8], _ pos: inout Int) throws -> UInt32 {
        guard pos + 4 <= b.count else { throw ShapeWorldError.badShard("truncated at byte \(pos)") }
        let v = UInt32(b[pos]) | UInt32(b[pos + 1]) << 8 | UInt32(b[pos + 2]) << 16 | UInt32(b[pos + 3]) << 24
        pos += 4
        return v
    }

    static func compress(_ src: [UInt8]) throws -> [UInt8] {
        var dst = [UInt8](repeating: 0, count: ZSTD_compressBound(src.count))
        let cap = dst.count
        let r = src.withUnsafeBytes { s in
            dst.withUnsafeMutableBytes { d in ZSTD_compress(d.baseAddress, cap, s.baseAddress, s.count, compressionLevel) }
        }
        guard ZSTD_isError(r) == 0 else { throw ShapeWorldError.io("zstd compress: \(String(cString: ZSTD_getErrorName(r)))") }
        return Array(dst[0..<r])
    }

    static func decompress(_ src: [UInt8], expected: Int, record: Int) throws -> [UInt8] {
        var dst = [UInt8](repeating: 0, count: expected)
        let r = src.withUnsafeBytes { s in
            dst.withUnsafeMutableBytes { d in ZSTD_decompress(d.baseAddress, expected, s.baseAddress, s.count) }
        }
        guard ZSTD_isError(r) == 0, r == expected else {
            throw ShapeWorldError.badShard("record \(record): frames do not decompress to \(expected) bytes")
        }
        return dst
    }
}

/// Reads a shard one record at a time: the file's bytes stay compressed in memory and each clip is
/// decompressed only when `next()` reaches it (a 1000-clip shard of 16 x 64 x 64 is ~16 MB on disk
/// against ~800 MB of Float32 frames).
public struct ShardReader {
    /// Frame geometry of every clip in the shard.
    public let config: RenderConfig
    /// Number of records the header announces.
    public let count: Int
    let bytes: [UInt8]
    var pos = 32
    var index = 0

    /// Opens a shard file and checks its header.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShapeWorldError.badShard("cannot read \(path)")
        }
        try self.init(bytes: [UInt8](data))
    }

    /// Wraps shard bytes and checks the header.
    public init(bytes b: [UInt8]) throws {
        guard b.count >= 32, Array(b[0..<8]) == Shard.magic else { throw ShapeWorldError.badShard("not a VGSW shard (magic)") }
        var p = 8
        let ver = try Shard.readU32(b, &p)
        guard ver == Shard.version else { throw ShapeWorldError.badShard("unsupported version \(ver)") }
        count = Int(try Shard.readU32(b, &p))
        config = RenderConfig(frames: Int(try Shard.readU32(b, &p)), height: Int(try Shard.readU32(b, &p)),
                              width: Int(try Shard.readU32(b, &p)), fps: Int(try Shard.readU32(b, &p)))
        do { try config.validate() } catch { throw ShapeWorldError.badShard("header: \(error)") }
        bytes = b
    }

    /// The next record, or nil after the last one. Throws `badShard` for a truncated or corrupt record.
    public mutating func next() throws -> ShardRecord? {
        guard index < count else {
            guard pos == bytes.count else { throw ShapeWorldError.badShard("\(bytes.count - pos) trailing bytes") }
            return nil
        }
        let i = index
        let ml = Int(try Shard.readU32(bytes, &pos))
        guard ml <= bytes.count - pos else { throw ShapeWorldError.badShard("record \(i): truncated metadata") }
        let meta: Shard.Meta
        do { meta = try JSONDecoder().decode(Shard.Meta.self, from: Data(bytes[pos..<pos + ml])) } catch {
            throw ShapeWorldError.badShard("record \(i): metadata JSON: \(error)")
        }
        pos += ml
        let pl = Int(try Shard.readU32(bytes, &pos))
        guard pl <= bytes.count - pos else { throw ShapeWorldError.badShard("record \(i): truncated frames") }
        let rgb = try Shard.decompress(Array(bytes[pos..<pos + pl]), expected: Clip.elementCount(config), record: i)
        pos += pl
        index += 1
        let clip = Clip(frames: Clip.floats(rgb), config: config, spec: meta.spec, captions: meta.captions, seed: meta.seed)
        return ShardRecord(clip: clip, degradations: meta.degradations)
    }

    /// Every remaining record.
    public mutating func readAll() throws -> [ShardRecord] {
        var out: [ShardRecord] = []
        while let r = try next() { out.append(r) }
        return out
    }
}
