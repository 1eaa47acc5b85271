/// A byte-level byte-pair-encoding tokenizer (GPT-2's scheme without its regex).
///
/// Token ids: 0-3 are the special tokens `<pad>`, `<bos>`, `<eos>`, `<sep>`; 4-259 are the 256
/// byte values (id = byte + 4); 260 + r is the token made by merge r. Any UTF-8 text encodes (there is
/// no unknown token: unseen text falls back to bytes), and `decode(encode(s)) == s`.
///
/// Text is first split into chunks that merges never cross: runs of ASCII letters and non-ASCII
/// bytes, runs of digits, runs of other ASCII symbols, each taking the single space before it
/// (" circle", GPT-2's "Ġcircle"), and runs of whitespace. Each chunk is then merged by rank, lowest
/// first and leftmost among equals, with a heap so that long chunks cost O(n log n), not O(n²).
/// Special-token text in the input ("<bos>") is encoded as ordinary bytes, never as a special token.
public struct BPETokenizer: Sendable, Equatable {
    /// One learned merge: the tokens `left` and `right`, adjacent, become one token.
    public struct Merge: Sendable, Equatable, Hashable {
        /// Id of the left token.
        public let left: Int32
        /// Id of the right token.
        public let right: Int32

        /// A merge of `left` followed by `right`.
        public init(left: Int32, right: Int32) {
            self.left = left
            self.right = right
        }
    }

    /// The special tokens, whose ids are their indices.
    public static let specialTokens = ["<pad>", "<bos>", "<eos>", "<sep>"]
    /// Id of `<pad>`.
    public static let padID: Int32 = 0
    /// Id of `<bos>` (beginning of sequence).
    public static let bosID: Int32 = 1
    /// Id of `<eos>` (end of sequence).
    public static let eosID: Int32 = 2
    /// Id of `<sep>` (separator).
    public static let sepID: Int32 = 3
    /// Id of byte 0; byte b is `firstByteID + b`.
    public static let firstByteID: Int32 = 4
    /// Id of the token made by the first merge.
    public static let firstMergeID: Int32 = 260

    /// The merges in rank order: merge r makes token `firstMergeID + r`.
    public let merges: [Merge]
    /// The bytes each token stands for (special tokens: their text).
    private let tokenBytes: [[UInt8]]
    /// Rank of each merge, keyed by `Self.key(left, right)`.
    private let ranks: [UInt64: Int32]

    /// Number of token ids: 260 + merges.
    public var vocabSize: Int { tokenBytes.count }

    /// A tokenizer with only special and byte tokens (every byte its own token).
    public init() {
        self.init(validated: [])
    }

    /// A tokenizer with the given merges.
    /// - Throws: `TokenizerError.invalidSerialization` when a merge uses a special token, a token
    ///   not made by an earlier merge, or repeats an earlier merge.
    public init(merges: [Merge]) throws(TokenizerError) {
        guard merges.count <= Int(Int32.max - Self.firstMergeID) else {
            throw .invalidSerialization("\(merges.count) merges do not fit 32-bit token ids")
        }
        var seen = Set<Merge>()
        for (r, m) in merges.enumerated() {
            let limit = Self.firstMergeID + Int32(r)
            for id in [m.left, m.right] where id < Self.firstByteID || id >= limit {
                throw .invalidSerialization("merge \(r) uses token \(id), allowed are \(Self.firstByteID)..<\(limit)")
            }
            guard seen.insert(m).inserted else { throw .invalidSerialization("merge \(r) repeats (\(m.left), \(m.right))") }
        }
        self.init(validated: merges)
    }

    private init(validated merges: [Merge]) {
        var bytes = Self.specialTokens.map { Array($0.utf8) }
        bytes += (0...255).map { [UInt8($0)] }
        var ranks: [UInt64: Int32] = [:]
        for (r, m) in merges.enumerated() {
            bytes.append(bytes[Int(m.left)] + bytes[Int(m.right)])
            ranks[Self.key(m.left, m.right)] = Int32(r)
        }
        self.merges = merges
        self.tokenBytes = bytes
        self.ranks = ranks
    }

    /// The bytes token `id` stands for, or nil for an id outside the vocabulary.
    public func bytes(of id: Int32) -> [UInt8]? {
        id >= 0 && Int(id) < tokenBytes.count ? tokenBytes[Int(id)] : nil
    }

    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    // MARK: Encoding

    /// Token ids of `text`.
    /// - Parameters:
    ///   - maxLength: the most ids returned, special tokens included; longer text is cut at the end
    ///     and a requested `<eos>` is kept as the last id. nil: no limit.
    ///   - addBos: start with `<bos>`.
    ///   - addEos: end with `<eos>`.
    /// - Throws: `TokenizerError.invalidArgument` when `maxLength` is negative or too small for the
    ///   requested special tokens.
    public func encode(_ text: String, maxLength: Int? = nil, addBos: Bool = false, addEos: Bool = false) throws(TokenizerError) -> [Int32] {
        try encode(validUTF8: Array(text.utf8), maxLength: maxLength, addBos: addBos, addEos: addEos)
    }

    /// Token ids of raw bytes that must be UTF-8 (the C ABI's entry point); as `encode(_:)` otherwise.
    /// - Throws: `TokenizerError.invalidUTF8` naming the first bad byte, or `.invalidArgument`.
    public func encode(utf8 bytes: [UInt8], maxLength: Int? = nil, addBos: Bool = false, addEos: Bool = false) throws(TokenizerError) -> [Int32] {
        if let bad = UTF8Validation.firstInvalidOffset(bytes) { throw .invalidUTF8(byteOffset: bad) }
        return try encode(validUTF8: bytes, maxLength: maxLength, addBos: addBos, addEos: addEos)
    }

    private func encode(validUTF8 bytes: [UInt8], maxLength: Int?, addBos: Bool, addEos: Bool) throws(TokenizerError) -> [Int32] {
        let specials = (addBos ? 1 : 0) + (addEos ? 1 : 0)
        var budget = Int.max
        if let maxLength {
            guard maxLength >= specials else {
                throw .invalidArgument("maxLength \(maxLength) cannot hold the \(specials) requested special tokens")
            }
            budget = maxLength - specials
        }
        var ids: [Int32] = addBos ? [Self.bosID] : []
        ids.reserveCapacity(min(bytes.count, budget) + specials)
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        var content = 0
        for chunk in Pretokenizer.chunks(bytes) where content < budget {
            let piece = bytes[chunk]
            let merged: [Int32]
            if let hit = cache[piece] {
                merged = hit
            } else {
                merged = mergeChunk(piece)
                if piece.count <= 64 { cache[piece] = merged }
            }
            let take = min(merged.count, budget - content)
            ids += merged.prefix(take)
            content += take
        }
        if addEos { ids.append(Self.eosID) }
        return ids
    }

    /// BPE over one chunk: repeatedly merge the lowest-ranked adjacent pair (leftmost on ties).
    /// A doubly linked list of symbols and a min-heap of candidate pairs with lazy deletion.
    private func mergeChunk(_ piece: ArraySlice<UInt8>) -> [Int32] {
        var ids = piece.map { Int32($0) + Self.firstByteID }
        let n = ids.count
        guard n > 1, !ranks.isEmpty else { return ids }
        var next = Array(1...n)          // n marks the end
        var prev = Array(-1..<(n - 1))   // -1 marks the start
        var alive = [Bool](repeating: true, count: n)
        var heap = PairHeap()
        func consider(_ i: Int) {
            guard i >= 0, i < n, next[i] < n, let r = ranks[Self.key(ids[i], ids[next[i]])] else { return }
            heap.push(rank: r, position: i)
        }
        for i in 0..<(n - 1) { consider(i) }
        while case let (rank, i)? = heap.pop() {
            // Skip stale candidates: the left symbol died or the pair at i is no longer this merge.
            guard alive[i], next[i] < n, ranks[Self.key(ids[i], ids[next[i]])] == rank else { continue }
            let j = next[i]
            ids[i] = Self.firstMergeID + rank
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            consider(prev[i])
            consider(i)
        }
        var out: [Int32] = []
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
        return out
    }

    // MARK: Decoding

    /// The text of `ids`. Byte sequences that are not UTF-8 (possible only for ids that did not come
    /// from `encode`, or after truncation inside a character) become U+FFFD.
    /// - Parameter skipSpecialTokens: leave out `<pad>`, `<bos>`, `<eos>`, `<sep>` (default); when
    ///   false they appear as their text.
    /// - Throws: `TokenizerError.unknownTokenID` for an id outside the vocabulary.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = true) throws(TokenizerError) -> String {
        String(decoding: try decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
    }

    /// The bytes of `ids`, exactly; as `decode` otherwise.
    public func decodeBytes(_ ids: [Int32], skipSpecialTokens: Bool = true) throws(TokenizerError) -> [UInt8] {
        var out: [UInt8] = []
        for (position, id) in ids.enumerated() {
            guard let bytes = bytes(of: id) else { throw .unknownTokenID(id: id, position: position) }
            if skipSpecialTokens, id < Self.firstByteID { continue }
            out += bytes
        }
        return out
    }
}

/// A binary min-heap of merge candidates ordered by (rank, position).
struct PairHeap {
    private var items: [(rank: Int32, position: Int)] = []

    private static func less(_ a: (rank: Int32, position: Int), _ b: (rank: Int32, position: Int)) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.position < b.position
    }

    mutating func push(rank: Int32, position: Int) {
        items.append((rank, position))
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard Self.less(items[c], items[p]) else { break }
            items.swapAt(c, p)
            c = p
        }
    }

    mutating func pop() -> (Int32, Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count, Self.less(items[l], items[m]) { m = l }
                if r < items.count, Self.less(items[r], items[m]) { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return (top.rank, top.position)
    }
}
