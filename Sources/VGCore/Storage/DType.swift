/// Element types of tensors.
///
/// Quantised types are laid out per row (the last dimension, K, padded to a multiple of 32 with zeros):
/// - `q8`: int8 codes `[rows, Kp]`, then one f32 scale per row `[rows]` (symmetric, max|row| / 127).
/// - `q4`: ggml q4_0 arithmetic in groups of 32 along K: nibbles `[rows, Kp / 2]` (byte j of a group:
///   element j low, element j + 16 high), then f16 scales `[rows, Kp / 32]`. 4.5 bits per weight.
public enum DType: String, Sendable, CaseIterable, Codable {
    case f32, f16, q8, q4

    /// Bytes used by a `[rows, k]` matrix (or a flat vector, `rows = 1`) of this type.
    public func byteCount(rows: Int, k: Int) throws -> Int {
        switch self {
        case .f32: return try CheckedSize.multiply(try CheckedSize.multiply(rows, k), 4)
        case .f16: return try CheckedSize.multiply(try CheckedSize.multiply(rows, k), 2)
        case .q8:
            let kp = try CheckedSize.roundUp(k, to: 32)
            return try CheckedSize.multiply(rows, try CheckedSize.add(kp, 4))
        case .q4:
            let kp = try CheckedSize.roundUp(k, to: 32)
            return try CheckedSize.multiply(rows, kp / 2 + (kp / 32) * 2)
        }
    }
}
