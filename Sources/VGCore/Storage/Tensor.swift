/// A contiguous, row-major tensor in 64-byte aligned storage.
///
/// Shapes read like PyTorch's: `[B, T, D]` has D contiguous. Quantised tensors (`q8`, `q4`) are
/// matrices `[rows, k]` laid out as `DType` describes; f32 / f16 tensors may have any rank.
public struct Tensor: @unchecked Sendable {
    /// Dimensions, outermost first.
    public let shape: [Int]
    /// Element type.
    public let dtype: DType
    /// The bytes; shared between copies of this struct (copy-on-write is not implemented: tensors are
    /// buffers that kernels write into, like llm.c's activations).
    public let storage: AlignedBuffer

    /// Number of logical elements.
    public var count: Int { shape.reduce(1, *) }

    /// A zero-filled tensor.
    /// - Throws: `VGError` for negative or overflowing shapes and for quantised tensors that are not 2-D.
    public init(zeros shape: [Int], dtype: DType = .f32) throws {
        let n = try CheckedSize.product(shape, "tensor shape")
        let bytes: Int
        switch dtype {
        case .f32, .f16: bytes = try dtype.byteCount(rows: 1, k: n)
        case .q8, .q4:
            guard shape.count == 2 else { throw VGError.invalidArgument("\(dtype) tensors are matrices, got shape \(shape)") }
            bytes = try dtype.byteCount(rows: shape[0], k: shape[1])
        }
        self.shape = shape
        self.dtype = dtype
        self.storage = try AlignedBuffer(byteCount: bytes)
    }

    /// An f32 tensor holding `values` (count must match the shape).
    public init(shape: [Int], values: [Float]) throws {
        try self.init(zeros: shape, dtype: .f32)
        guard values.count == count else {
            throw VGError.shapeMismatch("tensor of shape \(shape) needs \(count) values, got \(values.count)")
        }
        values.withUnsafeBufferPointer { storage.raw.copyMemory(from: $0.baseAddress!, byteCount: values.count * 4) }
    }

    /// The f32 elements (requires dtype f32).
    public var floats: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: storage.pointer(as: Float.self), count: dtype == .f32 ? count : 0)
    }

    /// A copy of the f32 elements as an array (f16 tensors are widened).
    public func toArray() -> [Float] {
        switch dtype {
        case .f32: return Array(floats)
        case .f16:
            var out = [Float](repeating: 0, count: count)
            out.withUnsafeMutableBufferPointer { Float16Conversion.toFloat(storage.pointer(as: UInt16.self), $0.baseAddress!, count) }
            return out
        case .q8, .q4: return []
        }
    }

    /// Requires the given shape, or throws `shapeMismatch` naming `what`.
    public func expect(shape expected: [Int], _ what: String) throws {
        guard shape == expected else { throw VGError.shapeMismatch("\(what) is \(shape), expected \(expected)") }
    }
}
