/// A failure of the tokenizer: bad input at the API edge, unknown ids, or a corrupt serialisation.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The bytes given to `encode(utf8:)` are not valid UTF-8; `byteOffset` is the first bad byte.
    case invalidUTF8(byteOffset: Int)
    /// `decode` met an id outside the vocabulary, at `position` in the input.
    case unknownTokenID(id: Int32, position: Int)
    /// An argument is out of range (e.g. `maxLength` too small to hold the requested special tokens).
    case invalidArgument(String)
    /// A serialised tokenizer is malformed or inconsistent (bad JSON, merges that refer to later
    /// tokens, vocab entries that disagree with the merges).
    case invalidSerialization(String)
    /// A serialised tokenizer of a format version this code does not read.
    case unsupportedVersion(Int)

    /// A one-line explanation naming the offending offset, id or field.
    public var description: String {
        switch self {
        case .invalidUTF8(let at): return "invalid UTF-8 at byte \(at)"
        case .unknownTokenID(let id, let position): return "unknown token id \(id) at position \(position)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .invalidSerialization(let m): return "invalid tokenizer serialisation: \(m)"
        case .unsupportedVersion(let v): return "tokenizer format version \(v) is not supported (this code reads version \(BPETokenizer.formatVersion))"
        }
    }
}
