import CVGKernels

/// int8 weights with one scale per output channel (row): `w[n, k] ~= scale[n] * q[n, k]`.
/// The layout is the kernels' own: codes `[rows, kp]` (K zero-padded to a multiple of 32), scales `[rows]`.
public struct Q8Matrix: @unchecked Sendable {
    /// Output channels (N).
    public let rows: Int
    /// Input channels (K) and K padded to a multiple of 32.
    public let k: Int, kp: Int
    let codes: AlignedBuffer    // [rows, kp] int8
    let scales: AlignedBuffer   // [rows] f32
    let sums: AlignedBuffer     // [rows] int32, row sums of the codes (kernel form)

    /// Quantises an f32 matrix `[rows, k]`.
    public init(quantizing w: Tensor) throws {
        guard w.dtype == .f32, w.shape.count == 2 else {
            throw VGError.invalidArgument("q8 quantisation needs an f32 matrix, got \(w.dtype) \(w.shape)")
        }
        try self.init(rows: w.shape[0], k: w.shape[1])
        vgk_quantize_weights_q8(w.floats.baseAddress!, rows, k, kp, codes.pointer(as: Int8.self), scales.pointer(as: Float.self))
        vgk_prepare_q8(codes.pointer(as: Int8.self), rows, kp, sums.pointer(as: Int32.self))
    }

    /// Reads the canonical `.q8` tensor layout (codes then scales), as stored in model files.
    public init(tensor t: Tensor) throws {
        guard t.dtype == .q8, t.shape.count == 2 else { throw VGError.invalidArgument("expected a q8 matrix, got \(t.dtype) \(t.shape)") }
        try self.init(rows: t.shape[0], k: t.shape[1])
        codes.raw.copyMemory(from: t.storage.raw, byteCount: rows * kp)
        scales.raw.copyMemory(from: t.storage.raw + rows * kp, byteCount: rows * 4)
        vgk_prepare_q8(codes.pointer(as: Int8.self), rows, kp, sums.pointer(as: Int32.self))
    }

    private init(rows: Int, k: Int) throws {
        guard rows > 0, k > 0 else { throw VGError.invalidArgument("q8 matrix needs positive sizes, got [\(rows), \(k)]") }
        self.rows = rows
        self.k = k
        self.kp = try CheckedSize.roundUp(k, to: 32)
        codes = try AlignedBuffer(byteCount: try CheckedSize.multiply(rows, kp))
        scales = try AlignedBuffer(byteCount: rows * 4)
        sums = try AlignedBuffer(byteCount: rows * 4)
    }

    /// The canonical `.q8` tensor (codes `[rows, kp]` then f32 scales `[rows]`).
    public func tensor() throws -> Tensor {
        let t = try Tensor(zeros: [rows, k], dtype: .q8)
        t.storage.raw.copyMemory(from: codes.raw, byteCount: rows * kp)
        (t.storage.raw + rows * kp).copyMemory(from: scales.raw, byteCount: rows * 4)
        return t
    }

    /// The f32 matrix these codes stand for, `[rows, k]`.
    public func dequantized() throws -> Tensor {
        let t = try Tensor(zeros: [rows, k])
        let q = codes.pointer(as: Int8.self), s = scales.pointer(as: Float.self), out = t.floats.baseAddress!
        for n in 0..<rows { for i in 0..<k { out[n * k + i] = s[n] * Float(q[n * kp + i]) } }
        return t
    }

    var kernelView: vgk_weights_q8 {
        vgk_weights_q8(q: UnsafePointer(codes.pointer(as: Int8.self)), scale: UnsafePointer(scales.pointer(as: Float.self)),
                       wsum: UnsafePointer(sums.pointer(as: Int32.self)), kp: kp)
    }
}

/// 4-bit weights in groups of 32 along K with an f16 scale per group (ggml q4_0 arithmetic, 4.5
/// bits per weight): `w[n, 32g + j] ~= d[n, g] * (nib - 8)`.
/// Holds the canonical nibbles + f16 scales and the kernel form of the scales (an f32 scale per row
/// times a 10-bit integer per group, so a row accumulates in int32; see `vgk_weights_q4`).
public struct Q4Matrix: @unchecked Sendable {
    public let rows: Int
    public let k: Int, kp: Int
    let nibbles: AlignedBuffer    // [rows, kp / 2]
    let scalesF16: AlignedBuffer  // [rows, kp / 32] binary16
    let groupScales: AlignedBuffer  // [rows, kp / 32] int16, |s| <= 1023
    let rowScales: AlignedBuffer    // [rows] f32
    let correction: AlignedBuffer   // [rows] f32

    /// Quantises an f32 matrix `[rows, k]`.
    public init(quantizing w: Tensor) throws {
        guard w.dtype == .f32, w.shape.count == 2 else {
            throw VGError.invalidArgument("q4 quantisation needs an f32 matrix, got \(w.dtype) \(w.shape)")
        }
        try self.init(rows: w.shape[0], k: w.shape[1])
        vgk_quantize_weights_q4(w.floats.baseAddress!, rows, k, kp, nibbles.pointer(as: UInt8.self), scalesF16.pointer(as: UInt16.self))
        prepare()
    }

    /// Reads the canonical `.q4` tensor layout (nibbles then f16 scales).
    public init(tensor t: Tensor) throws {
        guard t.dtype == .q4, t.shape.count == 2 else { throw VGError.invalidArgument("expected a q4 matrix, got \(t.dtype) \(t.shape)") }
        try self.init(rows: t.shape[0], k: t.shape[1])
        nibbles.raw.copyMemory(from: t.storage.raw, byteCount: rows * kp / 2)
        scalesF16.raw.copyMemory(from: t.storage.raw + rows * kp / 2, byteCount: rows * (kp / 32) * 2)
        prepare()
    }

    private init(rows: Int, k: Int) throws {
        guard rows > 0, k > 0 else { throw VGError.invalidArgument("q4 matrix needs positive sizes, got [\(rows), \(k)]") }
        self.rows = rows
        self.k = k
        self.kp = try CheckedSize.roundUp(k, to: 32)
        let groups = try CheckedSize.multiply(rows, kp / 32)
        nibbles = try AlignedBuffer(byteCount: try CheckedSize.multiply(rows, kp / 2))
        scalesF16 = try AlignedBuffer(byteCount: groups * 2)
        groupScales = try AlignedBuffer(byteCount: groups * 2)
        rowScales = try AlignedBuffer(byteCount: rows * 4)
        correction = try AlignedBuffer(byteCount: rows * 4)
    }

    private func prepare() {
        vgk_prepare_q4(nibbles.pointer(as: UInt8.self), scalesF16.pointer(as: UInt16.self), rows, kp, VGK_Q4_ACT_RANGE + 1,
                       groupScales.pointer(as: Int16.self), rowScales.pointer(as: Float.self), correction.pointer(as: Float.self))
    }

    /// The canonical `.q4` tensor (nibbles `[rows, kp / 2]` then f16 scales `[rows, kp / 32]`).
    public func tensor() throws -> Tensor {
        let t = try Tensor(zeros: [rows, k], dtype: .q4)
        t.storage.raw.copyMemory(from: nibbles.raw, byteCount: rows * kp / 2)
        (t.storage.raw + rows * kp / 2).copyMemory(from: scalesF16.raw, byteCount: rows * (kp / 32) * 2)
        return t
    }

    /// The f32 matrix these codes stand for, `[rows, k]` (with the f16 group scales of the file).
    public func dequantized() throws -> Tensor {
        let t = try Tensor(zeros: [rows, k])
        let nib = nibbles.pointer(as: UInt8.self), h = scalesF16.pointer(as: UInt16.self), out = t.floats.baseAddress!
        let groups = kp / 32
        for n in 0..<rows {
            for i in 0..<k {
                let g = i / 32, j = i % 32
                let byte = nib[n * kp / 2 + g * 16 + (j % 16)]
                let code = j < 16 ? Int(byte & 15) : Int(byte >> 4)
                out[n * k + i] = Float16Conversion.toFloat(h[n * groups + g]) * Float(code - 8)
            }
        }
        return t
    }

    var kernelView: vgk_weights_q4 {
        vgk_weights_q4(nib: UnsafePointer(nibbles.pointer(as: UInt8.self)), iscale: UnsafePointer(groupScales.pointer(as: Int16.self)),
                       rowscale: UnsafePointer(rowScales.pointer(as: Float.self)), corr: UnsafePointer(correction.pointer(as: Float.self)), kp: kp)
    }
}

/// The weight of a linear layer in whichever type it was stored.
public enum WeightMatrix: @unchecked Sendable {
    /// f32 `[N, K]`, multiplied through OpenBLAS.
    case f32(Tensor)
    case q8(Q8Matrix)
    case q4(Q4Matrix)

    /// Output channels N and input channels K.
    public var outFeatures: Int {
        switch self { case .f32(let t): return t.shape.first ?? 0; case .q8(let q): return q.rows; case .q4(let q): return q.rows }
    }
    public var inFeatures: Int {
        switch self { case .f32(let t): return t.shape.last ?? 0; case .q8(let q): return q.k; case .q4(let q): return q.k }
    }
}
