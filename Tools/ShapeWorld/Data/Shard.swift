import CZstd
import Foundation
import VGVideo

/// One clip in a shard: the clip plus the degradations that were applied to it.
public struct ShardRecord: Sendable {
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

    /// Reads a shard file.
    public static func read(path: String) throws -> (config: RenderConfig, records: [ShardRecord]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShapeWorldError.badShard("cannot read \(path)")
        }
        return try decode([UInt8](data))
    }

    /// Parses shard bytes.
    public static func decode(_ b: [UInt8]) throws -> (config: RenderConfig, records: [ShardRecord]) {
        var pos = 0
        guard b.count >= 32, Array(b[0..<8]) == magic else { throw ShapeWorldError.badShard("not a VGSW shard (magic)") }
        pos = 8
        let ver = try readU32(b, &pos)
        guard ver == version else { throw ShapeWorldError.badShard("unsupported version \(ver)") }
        let n = Int(try readU32(b, &pos))
        let config = RenderConfig(frames: Int(try readU32(b, &pos)), height: Int(try readU32(b, &pos)),
                                  width: Int(try readU32(b, &pos)), fps: Int(try readU32(b, &pos)))
        do { try config.validate() } catch { throw ShapeWorldError.badShard("header: \(error)") }
        let expected = Clip.elementCount(config)
        let dec = JSONDecoder()
        var records: [ShardRecord] = []
        for i in 0..<n {
            let ml = Int(try readU32(b, &pos))
            guard ml <= b.count - pos else { throw ShapeWorldError.badShard("record \(i): truncated metadata") }
            let meta: Meta
            do { meta = try dec.decode(Meta.self, from: Data(b[pos..<pos + ml])) } catch {
                throw ShapeWorldError.badShard("record \(i): metadata JSON: \(error)")
            }
            pos += ml
            let pl = Int(try readU32(b, &pos))
            guard pl <= b.count - pos else { throw ShapeWorldError.badShard("record \(i): truncated frames") }
            let rgb = try decompress(Array(b[pos..<pos + pl]), expected: expected, record: i)
            pos += pl
            let clip = Clip(frames: Clip.floats(rgb), config: config, spec: meta.spec, captions: meta.captions, seed: meta.seed)
            records.append(ShardRecord(clip: clip, degradations: meta.degradations))
        }
        guard pos == b.count else { throw ShapeWorldError.badShard("\(b.count - pos) trailing bytes") }
        return (config, records)
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
