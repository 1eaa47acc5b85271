extension BPETokenizer {
    /// Learns merges from `corpus` until the vocabulary has `vocabSize` tokens or no adjacent pair
    /// occurs at least twice (then it is smaller; below 260 no merges are learned).
    ///
    /// Classic BPE training over the chunks of `Pretokenizer`: each step merges the most frequent
    /// adjacent pair, counted over all chunk occurrences; ties go to the pair whose left token's
    /// bytes, then right token's bytes, come first lexicographically. The result depends only on
    /// the multiset of chunks: the same corpus, in any order, gives the same tokenizer.
    public static func train(corpus: [String], vocabSize: Int) -> BPETokenizer {
        var wordCounts: [[UInt8]: Int] = [:]
        for text in corpus {
            let bytes = Array(text.utf8)
            for chunk in Pretokenizer.chunks(bytes) { wordCounts[Array(bytes[chunk]), default: 0] += 1 }
        }
        var trainer = MergeTrainer(words: wordCounts)
        let wanted = min(max(0, vocabSize - Int(firstMergeID)), Int(Int32.max - firstMergeID))
        var merges: [Merge] = []
        while merges.count < wanted, let best = trainer.bestPair() {
            let id = firstMergeID + Int32(merges.count)
            trainer.apply(best, as: id)
            merges.append(best)
        }
        return BPETokenizer(trainedMerges: merges)
    }

    /// Wraps merges that training produced (valid by construction).
    private init(trainedMerges: [Merge]) {
        self = (try? BPETokenizer(merges: trainedMerges)) ?? BPETokenizer()
    }
}

/// The mutable state of BPE training: distinct chunks as token sequences with their counts, the
/// count of every adjacent pair, and which chunks contain each pair.
private struct MergeTrainer {
    private var words: [[Int32]]
    private let counts: [Int]
    private var pairCounts: [BPETokenizer.Merge: Int] = [:]
    private var pairWords: [BPETokenizer.Merge: Set<Int>] = [:]
    private var tokenBytes: [[UInt8]]

    init(words wordCounts: [[UInt8]: Int]) {
        let sorted = wordCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        words = sorted.map { $0.key.map { Int32($0) + BPETokenizer.firstByteID } }
        counts = sorted.map(\.value)
        tokenBytes = Array(repeating: [], count: Int(BPETokenizer.firstByteID)) + (0...255).map { [UInt8($0)] }
        for w in words.indices { count(word: w, sign: 1) }
    }

    /// Adds (sign 1) or removes (sign -1) the pairs of word `w`.
    private mutating func count(word w: Int, sign: Int) {
        let symbols = words[w]
        guard symbols.count > 1 else { return }
        for k in 0..<(symbols.count - 1) {
            let pair = BPETokenizer.Merge(left: symbols[k], right: symbols[k + 1])
            let c = pairCounts[pair, default: 0] + sign * counts[w]
            pairCounts[pair] = c > 0 ? c : nil
            if sign > 0 { pairWords[pair, default: []].insert(w) }
        }
    }

    /// The most frequent pair (count >= 2), ties to the lexicographically first bytes.
    func bestPair() -> BPETokenizer.Merge? {
        var best: (pair: BPETokenizer.Merge, count: Int)?
        for (pair, c) in pairCounts where c >= 2 {
            if let b = best {
                if c < b.count { continue }
                if c == b.count, !precedes(pair, b.pair) { continue }
            }
            best = (pair, c)
        }
        return best?.pair
    }

    private func precedes(_ a: BPETokenizer.Merge, _ b: BPETokenizer.Merge) -> Bool {
        let (al, bl) = (tokenBytes[Int(a.left)], tokenBytes[Int(b.left)])
        if al != bl { return al.lexicographicallyPrecedes(bl) }
        return tokenBytes[Int(a.right)].lexicographicallyPrecedes(tokenBytes[Int(b.right)])
    }

    /// Replaces every occurrence of `pair` (left to right, not overlapping) by token `id`.
    mutating func apply(_ pair: BPETokenizer.Merge, as id: Int32) {
        tokenBytes.append(tokenBytes[Int(pair.left)] + tokenBytes[Int(pair.right)])
        for w in (pairWords.removeValue(forKey: pair) ?? []).sorted() {
            count(word: w, sign: -1)
            var merged: [Int32] = []
            let symbols = words[w]
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count, symbols[k] == pair.left, symbols[k + 1] == pair.right {
                    merged.append(id)
                    k += 2
                } else {
                    merged.append(symbols[k])
                    k += 1
                }
            }
            words[w] = merged
            count(word: w, sign: 1)
        }
    }
}
