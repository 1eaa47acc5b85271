/// A failure reading or writing a safetensors file. Every error names the file (or "<memory>"), the
/// tensor when one is involved, and the absolute byte offset in the file when one is known, e.g.
/// `model.safetensors: tensor "blocks.0.w" at byte 1032: shape [4, 8] of F32 needs 128 bytes, data_offsets span 64`.
public struct SafeTensorsError: Error, Equatable, CustomStringConvertible, Sendable {
    /// What went wrong; tests and callers switch on this.
    public enum Kind: String, Equatable, Sendable {
        /// The file ends before its 8-byte length prefix or before the end of its JSON header.
        case truncated
        /// The header length prefix is above the 100 MB limit of the format.
        case headerTooLarge
        /// The header (a JSON string in it) is not valid UTF-8.
        case invalidUTF8
        /// The header is not valid JSON (syntax, nesting deeper than 64, trailing garbage).
        case invalidJSON
        /// The JSON is well formed but not a safetensors header (missing or mistyped fields).
        case invalidHeader
        /// A tensor's `dtype` is not one of the format's types.
        case unknownDType
        /// A shape has a negative, non-integer or overflowing dimension.
        case invalidShape
        /// Element count × dtype size differs from the `data_offsets` span.
        case sizeMismatch
        /// `data_offsets` are reversed, not integers, do not fit 63 bits, or run past the data section.
        case offsetsOutOfRange
        /// Two tensors' byte ranges overlap.
        case overlappingData
        /// Bytes of the data section that no tensor covers (a gap, or trailing bytes).
        case uncoveredData
        /// The same tensor name appears twice (in the header, or added twice to a writer).
        case duplicateName
        /// No tensor of that name in the file.
        case noSuchTensor
        /// The tensor's dtype cannot be converted to what was asked (e.g. I64 to f32).
        case unsupportedConversion
        /// An argument given to the writer is invalid (shape/value count mismatch, quantised tensor).
        case invalidArgument
        /// The operating system refused a read, write, fsync or rename.
        case io
    }

    /// The category of the failure.
    public let kind: Kind
    /// The file's path, or "<memory>" for bytes parsed in memory.
    public let file: String
    /// The tensor concerned, if any.
    public let tensor: String?
    /// The absolute byte offset in the file where the problem was found, if known.
    public let byteOffset: Int?
    /// A human-readable explanation with the offending values.
    public let detail: String

    /// Creates an error; see the properties for the meaning of each field.
    public init(_ kind: Kind, file: String, tensor: String? = nil, byteOffset: Int? = nil, _ detail: String) {
        self.kind = kind
        self.file = file
        self.tensor = tensor
        self.byteOffset = byteOffset
        self.detail = detail
    }

    /// "file: tensor \"name\" at byte N: detail" (parts that are unknown are left out).
    public var description: String {
        var s = file
        if let tensor { s += ": tensor \"\(tensor)\"" }
        if let byteOffset { s += (tensor == nil ? ": " : " ") + "at byte \(byteOffset)" }
        return s + ": " + detail
    }
}

/// A shape for error messages: in full up to 8 dimensions, else the first 8 and the rank, so that
/// a hostile header with a million dimensions does not make a million-number message.
func describeShape(_ shape: [Int]) -> String {
    guard shape.count > 8 else { return "\(shape)" }
    return "[" + shape.prefix(8).map(String.init).joined(separator: ", ") + ", ... (\(shape.count) dimensions)]"
}
