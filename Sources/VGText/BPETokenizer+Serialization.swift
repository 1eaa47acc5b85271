import Foundation

extension BPETokenizer {
    /// The serialisation format version written by `jsonString()` and read by `init(jsonString:)`.
    public static let formatVersion = 1
    /// The `format` field of the serialisation.
    public static let formatName = "vgrt-byte-bpe"
    /// The `pretokenizer` field: names the chunking rules of `Pretokenizer`.
    public static let pretokenizerName = "space-prefix-classes"

    /// The JSON layout (keys sorted; see docs/FORMATS-NOTES.md).
    private struct Serialized: Codable {
        let format: String
        let version: Int
        let pretokenizer: String
        let specialTokens: [String]
        let firstByteID: Int32
        /// One display string per id: special tokens verbatim, other tokens' bytes through GPT-2's
        /// byte-to-character map ("Ġ" is the space), for reading; checked against `merges` on load.
        let vocab: [String]
        /// `[left, right]` per merge, in rank order.
        let merges: [[Int32]]

        enum CodingKeys: String, CodingKey {
            case format, version, pretokenizer, vocab, merges
            case specialTokens = "special_tokens"
            case firstByteID = "first_byte_id"
        }
    }

    /// The tokenizer as compact JSON with sorted keys: the same merges give the same bytes, so it
    /// can be stored in a model file's metadata and compared.
    public func jsonString() -> String {
        let s = Serialized(format: Self.formatName, version: Self.formatVersion, pretokenizer: Self.pretokenizerName,
                           specialTokens: Self.specialTokens, firstByteID: Self.firstByteID,
                           vocab: (0..<vocabSize).map { displayString(Int32($0)) },
                           merges: merges.map { [$0.left, $0.right] })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings and integers cannot fail.
        return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Reads a tokenizer from `jsonString()`'s output, checking every field.
    /// - Throws: `TokenizerError.unsupportedVersion` for another version, `.invalidSerialization`
    ///   for malformed JSON, another format, pretokenizer, special tokens or byte offset, a merge that
    ///   is not a pair of earlier non-special tokens, or a vocab that disagrees with the merges.
    public init(jsonString: String) throws(TokenizerError) {
        let s: Serialized
        do {
            s = try JSONDecoder().decode(Serialized.self, from: Data(jsonString.utf8))
        } catch {
            throw .invalidSerialization("not a tokenizer JSON: \(error)")
        }
        guard s.format == Self.formatName else { throw .invalidSerialization("format is \"\(s.format)\", expected \"\(Self.formatName)\"") }
        guard s.version == Self.formatVersion else { throw .unsupportedVersion(s.version) }
        guard s.pretokenizer == Self.pretokenizerName else { throw .invalidSerialization("unknown pretokenizer \"\(s.pretokenizer)\"") }
        guard s.specialTokens == Self.specialTokens, s.firstByteID == Self.firstByteID else {
            throw .invalidSerialization("special tokens \(s.specialTokens) / first byte id \(s.firstByteID) differ from \(Self.specialTokens) / \(Self.firstByteID)")
        }
        var merges: [Merge] = []
        for (r, m) in s.merges.enumerated() {
            guard m.count == 2 else { throw .invalidSerialization("merge \(r) has \(m.count) ids, not 2") }
            merges.append(Merge(left: m[0], right: m[1]))
        }
        try self.init(merges: merges)
        guard s.vocab.count == vocabSize else {
            throw .invalidSerialization("vocab has \(s.vocab.count) entries, merges make \(vocabSize)")
        }
        for (id, entry) in s.vocab.enumerated() where entry != displayString(Int32(id)) {
            throw .invalidSerialization("vocab entry \(id) \"\(entry)\" disagrees with the merges (\"\(displayString(Int32(id)))\")")
        }
    }

    /// A token as text: special tokens verbatim, others through GPT-2's byte-to-character map.
    public func displayString(_ id: Int32) -> String {
        guard let bytes = bytes(of: id) else { return "" }
        if id < Self.firstByteID { return String(decoding: bytes, as: UTF8.self) }
        return String(String.UnicodeScalarView(bytes.map { ByteCharacters.table[Int($0)] }))
    }
}

/// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes stand for
/// themselves, the other 68 take U+0100 onwards in order (so the space, 0x20, is "Ġ", U+0120).
enum ByteCharacters {
    static let table: [Unicode.Scalar] = {
        var out: [Unicode.Scalar] = []
        var extra: UInt32 = 256
        for b in UInt32(0)...255 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            out.append(Unicode.Scalar(printable ? b : extra) ?? "?")
            if !printable { extra += 1 }
        }
        return out
    }()
}
