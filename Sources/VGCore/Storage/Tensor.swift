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
        try self.init(shape: shape, dtype: dtype, zeroed: true)
    }

    /// A tensor whose bytes the caller writes in full before any read (e.g. a decoder's target):
    /// the memory is not zeroed first.
    public static func uninitialized(_ shape: [Int], dtype: DType = .f32) throws -> Tensor {
        try Tensor(shape: shape, dtype: dtype, zeroed: false)
    }

    init(shape: [Int], dtype: DType, zeroed: Bool) throws {
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
        self.storage = try AlignedBuffer(byteCount: bytes, zeroed: zeroed)
    }

    /// A tensor over existing storage (no copy): the first `shape`-many elements of `storage`.
    /// Lets a buffer sized for the largest case serve smaller shapes (variable text lengths).
    /// - Throws: `VGError.shapeMismatch` when the storage is too small for the shape.
    public init(viewing storage: AlignedBuffer, shape: [Int], dtype: DType = .f32) throws {
        guard dtype == .f32 || dtype == .f16 else { throw VGError.unsupported("views of \(dtype) tensors") }
        let n = try CheckedSize.product(shape, "tensor view shape")
        let bytes = try dtype.byteCount(rows: 1, k: n)
        guard bytes <= storage.byteCount else {
            throw VGError.shapeMismatch("view \(shape) needs \(bytes) bytes, storage has \(storage.byteCount)")
        }
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
    }

    /// The same storage seen with another shape of no more elements.
    public func view(_ shape: [Int]) throws -> Tensor { try Tensor(viewing: storage, shape: shape, dtype: dtype) }

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

    /// Sets every f32 element to `value`.
    public func fill(_ value: Float) { floats.update(repeating: value) }

    /// Copies the f32 elements of `other` (same element count) into this tensor.
    public func copy(from other: Tensor) throws {
        guard dtype == .f32, other.dtype == .f32, other.count == count else {
            throw VGError.shapeMismatch("copy: \(other.shape) \(other.dtype) into \(shape) \(dtype)")
        }
        storage.raw.copyMemory(from: other.storage.raw, byteCount: count * 4)
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
