/// xxHash64 (Yann Collet's XXH64, seed 0 by default): the checksum of .vgpk headers and chunks.
/// Chosen for speed (several GB/s in plain Swift) and because zstd's own frames use it; it detects
/// accidental corruption, not deliberate tampering (that would need a signature).
public enum XXHash64 {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87, p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9, p4: UInt64 = 0x85EB_CA77_C2B2_AE63, p5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inline(__always) static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    @inline(__always) static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 { rotl(acc &+ input &* p2, 31) &* p1 }
    @inline(__always) static func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 { (acc ^ round(0, v)) &* p1 &+ p4 }

    /// The hash of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let n = bytes.count
        guard let base = bytes.baseAddress else { return finish(seed &+ p5, length: 0, tail: bytes) }
        @inline(__always) func u64(_ i: Int) -> UInt64 { UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) }
        var i = 0
        var h: UInt64
        if n >= 32 {
            var v1 = seed &+ p1 &+ p2, v2 = seed &+ p2, v3 = seed, v4 = seed &- p1
            while i + 32 <= n {
                v1 = round(v1, u64(i)); v2 = round(v2, u64(i + 8)); v3 = round(v3, u64(i + 16)); v4 = round(v4, u64(i + 24))
                i += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(h, v1); h = merge(h, v2); h = merge(h, v3); h = merge(h, v4)
        } else {
            h = seed &+ p5
        }
        return finish(h, length: n, tail: UnsafeRawBufferPointer(rebasing: bytes[i...]))
    }

    static func finish(_ hIn: UInt64, length: Int, tail: UnsafeRawBufferPointer) -> UInt64 {
        var h = hIn &+ UInt64(length)
        var i = 0
        let n = tail.count
        while i + 8 <= n {
            let k = UInt64(littleEndian: tail.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            h ^= round(0, k); h = rotl(h, 27) &* p1 &+ p4; i += 8
        }
        if i + 4 <= n {
            let k = UInt64(UInt32(littleEndian: tail.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
            h ^= k &* p1; h = rotl(h, 23) &* p2 &+ p3; i += 4
        }
        while i < n { h ^= UInt64(tail[i]) &* p5; h = rotl(h, 11) &* p1; i += 1 }
        h ^= h >> 33; h = h &* p2; h ^= h >> 29; h = h &* p3; h ^= h >> 32
        return h
    }

    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 { bytes.withUnsafeBytes { hash($0, seed: seed) } }
}
