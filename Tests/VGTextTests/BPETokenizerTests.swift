import Foundation
import XCTest
@testable import VGText

final class BPETokenizerTests: XCTestCase {
    /// A small caption-like corpus, repeated so that its words are frequent.
    static let corpus: [String] = {
        let captions = [
            "a red circle moves left across the frame",
            "a blue square moves right, slowly",
            "the green triangle bounces; the red circle stays still",
            "two circles: one red, one blue, moving up",
            "a small yellow square rotates 90 degrees",
        ]
        return (0..<40).flatMap { _ in captions }
    }()

    static let trained = BPETokenizer.train(corpus: corpus, vocabSize: 400)

    static let samples = [
        "", "a", " ", "  leading and trailing  ", "hello world", "tabs\tand\nnewlines\r\n\n",
        "a red circle moves left across the frame",
        "emoji 🎬🟥🔵 and flags 🇫🇷", "CJK 视频生成 テスト 한국어", "combining e\u{301} a\u{308}\u{323} ZWJ 👩‍👩‍👧",
        "punctuation!!! ... ??? (brackets) [x] {y} <bos> <eos>", "digits 0123456789 3.14159",
        "control \u{01}\u{7F} and nul \u{0}", "\u{FEFF}BOM and U+10FFFF \u{10FFFF}",
    ]

    func testRoundTripsWithAndWithoutMerges() throws {
        for tokenizer in [BPETokenizer(), Self.trained] {
            for s in Self.samples {
                let ids = try tokenizer.encode(s)
                XCTAssertEqual(try tokenizer.decode(ids), s, "ids \(ids)")
                XCTAssertEqual(try tokenizer.decodeBytes(ids), Array(s.utf8))
                XCTAssertTrue(ids.allSatisfy { $0 >= BPETokenizer.firstByteID && Int($0) < tokenizer.vocabSize })
                let framed = try tokenizer.encode(s, addBos: true, addEos: true)
                XCTAssertEqual(framed.first, BPETokenizer.bosID)
                XCTAssertEqual(framed.last, BPETokenizer.eosID)
                XCTAssertEqual(try tokenizer.decode(framed), s)
            }
        }
        XCTAssertEqual(try BPETokenizer().encode(""), [])
        XCTAssertEqual(try BPETokenizer().encode("A"), [65 + 4], "bytes map to id byte + 4")
        XCTAssertEqual(try Self.trained.encode("<bos>").contains(BPETokenizer.bosID), false, "special text is plain bytes")
    }

    func testMergesAreLearned() throws {
        let t = Self.trained
        XCTAssertGreaterThan(t.vocabSize, 340, "the corpus runs out of pairs seen twice before 400")
        XCTAssertLessThanOrEqual(t.vocabSize, 400)
        for word in [" circle", " red", " moves", " square", "the", " the"] {
            let ids = try t.encode(word)
            XCTAssertEqual(ids.count, 1, "\"\(word)\" should be one token, got \(ids.map(t.displayString))")
        }
        let caption = try t.encode("a red circle moves left across the frame")
        XCTAssertLessThanOrEqual(caption.count, 9, caption.map(t.displayString).description)
        // An unseen word falls back to pieces, still lossless.
        let unseen = try t.encode(" xylophone")
        XCTAssertGreaterThan(unseen.count, 1)
        XCTAssertEqual(try t.decode(unseen), " xylophone")
        // The first merge is the most frequent adjacent pair of the corpus, counted here naively.
        var pairCounts: [[UInt8]: Int] = [:]
        for caption in Self.corpus {
            for chunk in Pretokenizer.chunks(Array(caption.utf8)) {
                let bytes = Array(caption.utf8)[chunk]
                for (x, y) in zip(bytes, bytes.dropFirst()) { pairCounts[[x, y], default: 0] += 1 }
            }
        }
        let most = try XCTUnwrap(pairCounts.values.max())
        let top = pairCounts.filter { $0.value == most }.keys.min { $0.lexicographicallyPrecedes($1) }
        let first = try XCTUnwrap(t.merges.first)
        XCTAssertEqual(t.bytes(of: first.left)! + t.bytes(of: first.right)!, top)
    }

    func testTrainingIsDeterministicAndOrderIndependent() {
        let a = BPETokenizer.train(corpus: Self.corpus, vocabSize: 350)
        let b = BPETokenizer.train(corpus: Self.corpus, vocabSize: 350)
        let c = BPETokenizer.train(corpus: Self.corpus.reversed(), vocabSize: 350)
        XCTAssertEqual(a.jsonString(), b.jsonString())
        XCTAssertEqual(a.jsonString(), c.jsonString())
        XCTAssertEqual(a.merges, Array(Self.trained.merges.prefix(90)), "a smaller vocab is a prefix of the merges")
    }

    func testTiesBreakByLexicographicOrderOfThePair() throws {
        // "ab" and "cd" each occur twice: equal counts, so "a"+"b" (smaller bytes) is merged first.
        let t = BPETokenizer.train(corpus: ["cd ab", "ab cd"], vocabSize: 261)
        XCTAssertEqual(t.merges, [.init(left: 4 + 0x61, right: 4 + 0x62)])
        // Nothing occurs twice: no merges, however large the vocab asked for.
        XCTAssertEqual(BPETokenizer.train(corpus: ["abc"], vocabSize: 1000).merges, [])
        XCTAssertEqual(BPETokenizer.train(corpus: [], vocabSize: 1000).vocabSize, 260)
        XCTAssertEqual(BPETokenizer.train(corpus: Self.corpus, vocabSize: 10).vocabSize, 260)
    }

    func testEncodingAppliesMergesByRank() throws {
        // Merges: a+a (rank 0), then aa+a (rank 1). "aaaaa": a+a merges leftmost first -> aa aa a,
        // then aa+a at the end -> aa aaa.
        let a: Int32 = 4 + 0x61
        let t = try BPETokenizer(merges: [.init(left: a, right: a), .init(left: 260, right: a)])
        XCTAssertEqual(try t.encode("aaaaa"), [260, 261])
        XCTAssertEqual(try t.encode("aaa"), [261])
        XCTAssertEqual(try t.encode("aa a"), [260, 4 + 0x20, a], "merges never cross chunks")
    }

    func testTruncation() throws {
        let t = Self.trained
        let full = try t.encode("a red circle moves left across the frame")
        XCTAssertEqual(try t.encode("a red circle moves left across the frame", maxLength: 3), Array(full.prefix(3)))
        let framed = try t.encode("a red circle moves left across the frame", maxLength: 4, addBos: true, addEos: true)
        XCTAssertEqual(framed, [BPETokenizer.bosID] + full.prefix(2) + [BPETokenizer.eosID])
        XCTAssertEqual(try t.encode("abc", maxLength: 2, addBos: true, addEos: true), [BPETokenizer.bosID, BPETokenizer.eosID])
        XCTAssertEqual(try t.encode("short", maxLength: 100, addEos: true), try t.encode("short") + [BPETokenizer.eosID])
        XCTAssertEqual(try t.encode("abc", maxLength: 0), [])
        XCTAssertThrowsError(try t.encode("abc", maxLength: 1, addBos: true, addEos: true)) {
            guard case TokenizerError.invalidArgument = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try t.encode("abc", maxLength: -1))
    }

    func testSerialisationRoundTrip() throws {
        let json = Self.trained.jsonString()
        let back = try BPETokenizer(jsonString: json)
        XCTAssertEqual(back, Self.trained)
        XCTAssertEqual(back.jsonString(), json)
        XCTAssertTrue(json.contains(#""version":1"#))
        XCTAssertTrue(json.contains(#""format":"vgrt-byte-bpe""#))
        XCTAssertTrue(json.contains("Ġcircle"), "vocab is readable with GPT-2's byte characters")
        for s in Self.samples { XCTAssertEqual(try back.encode(s), try Self.trained.encode(s)) }

        // The exact layout documented in docs/FORMATS-NOTES.md.
        let tiny = BPETokenizer.train(corpus: ["cd ab", "ab cd"], vocabSize: 261).jsonString()
        XCTAssertTrue(tiny.hasPrefix(#"{"first_byte_id":4,"format":"vgrt-byte-bpe","merges":[[101,102]],"#
            + #""pretokenizer":"space-prefix-classes","special_tokens":["<pad>","<bos>","<eos>","<sep>"],"#
            + #""version":1,"vocab":["<pad>","<bos>","<eos>","<sep>","Ā","ā","#), tiny)
        XCTAssertTrue(tiny.hasSuffix(#""ý","þ","ÿ","ab"]}"#), tiny)
    }

    func testCorruptSerialisationsAreRejected() throws {
        func rejection(_ json: String) -> TokenizerError? {
            do { _ = try BPETokenizer(jsonString: json); return nil } catch { return error }
        }
        let good = try BPETokenizer(merges: [.init(left: 100, right: 101)]).jsonString()
        XCTAssertNil(rejection(good))
        XCTAssertEqual(rejection(good.replacingOccurrences(of: #""version":1"#, with: #""version":2"#)), .unsupportedVersion(2))
        let broken = [
            "", "{", "[]", good.replacingOccurrences(of: "vgrt-byte-bpe", with: "other"),
            good.replacingOccurrences(of: "[[100,101]]", with: "[[100,101,102]]"),
            good.replacingOccurrences(of: "[[100,101]]", with: "[[100,999]]"),
            good.replacingOccurrences(of: "[[100,101]]", with: "[[1,101]]"),
            good.replacingOccurrences(of: "[[100,101]]", with: "[[100,101],[100,101]]"),
            good.replacingOccurrences(of: "[[100,101]]", with: "[]"),
            good.replacingOccurrences(of: "<sep>", with: "<unk>"),
        ]
        for json in broken {
            guard case .invalidSerialization? = rejection(json) else { return XCTFail("accepted or wrong error for \(json.prefix(80))") }
        }
    }

    func testInvalidUTF8IsATypedError() throws {
        let t = Self.trained
        let cases: [([UInt8], Int)] = [
            ([0x61, 0xFF], 1),              // never valid
            ([0x61, 0x62, 0x80], 2),        // stray continuation
            ([0xC0, 0x80], 0),              // overlong NUL
            ([0xE2, 0x82], 0),              // truncated sequence
            ([0x61, 0xED, 0xA0, 0x80], 1),  // UTF-16 surrogate
            ([0xF4, 0x90, 0x80, 0x80], 0),  // above U+10FFFF
        ]
        for (bytes, offset) in cases {
            XCTAssertThrowsError(try t.encode(utf8: bytes)) { XCTAssertEqual($0 as? TokenizerError, .invalidUTF8(byteOffset: offset)) }
        }
        let valid = Array("ok ü 🎬".utf8)
        XCTAssertEqual(try t.encode(utf8: valid, addEos: true), try t.encode("ok ü 🎬", addEos: true))
    }

    func testUnknownIdsInDecode() {
        let t = Self.trained
        XCTAssertThrowsError(try t.decode([10, 400])) { XCTAssertEqual($0 as? TokenizerError, .unknownTokenID(id: 400, position: 1)) }
        XCTAssertThrowsError(try t.decode([-1])) { XCTAssertEqual($0 as? TokenizerError, .unknownTokenID(id: -1, position: 0)) }
        XCTAssertEqual(try t.decode([BPETokenizer.bosID, 4 + 0x68, BPETokenizer.sepID], skipSpecialTokens: false), "<bos>h<sep>")
        // Ids that split a character decode with U+FFFD rather than failing.
        XCTAssertEqual(try BPETokenizer().decode([4 + 0xE2]), "\u{FFFD}")
    }

    func testLargeInputEncodesQuickly() throws {
        var words: [String] = []
        var bytes = 0
        var state: UInt64 = 12345
        let vocabulary = ["red", "circle", "moves", "left", "視頻", "🎬", "x", "across", "frame", "42,", "quickly."]
        while bytes < 100_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            words.append(vocabulary[Int(state >> 33) % vocabulary.count])
            bytes += words[words.count - 1].utf8.count + 1
        }
        // Merges that double runs of "a" (a+a, aa+aa, ... up to 1024 a's): one 100 KB chunk where
        // nearly every symbol takes part in a merge, the case that is quadratic without a heap.
        let a: Int32 = 4 + 0x61
        var doubling = [BPETokenizer.Merge(left: a, right: a)]
        for r in 0..<9 { doubling.append(.init(left: 260 + Int32(r), right: 260 + Int32(r))) }
        let runs = try BPETokenizer(merges: doubling)
        let cases = [
            ("caption words", Self.trained, words.joined(separator: " ")),
            ("one long word", Self.trained, String(repeating: "circlesquare", count: 8_500)),
            ("100 KB run of 'a', doubling merges", runs, String(repeating: "a", count: 100_000)),
        ]
        for (name, tokenizer, input) in cases {
            let start = Date()
            let ids = try tokenizer.encode(input)
            let seconds = Date().timeIntervalSince(start)
            XCTAssertEqual(try tokenizer.decode(ids), input)
            XCTAssertLessThan(seconds, 0.5, "\(name): \(input.utf8.count) bytes took \(seconds) s")
            print(String(format: "encode %@: %d bytes -> %d tokens in %.1f ms (%.1f MB/s)", name, input.utf8.count, ids.count,
                         seconds * 1e3, Double(input.utf8.count) / seconds / 1e6))
        }
        XCTAssertEqual(try runs.encode(String(repeating: "a", count: 1024 + 3)), [269, 260, a])
    }

    /// Training on a caption-sized corpus (20k generated captions, vocab 2000) stays in seconds.
    func testTrainingSpeedOnACaptionCorpus() throws {
        let colors = ["red", "green", "blue", "yellow", "purple", "orange", "white", "cyan"]
        let shapes = ["circle", "square", "triangle", "star", "hexagon", "ring"]
        let motions = ["moves left", "moves right", "bounces", "rotates clockwise", "grows", "shrinks", "stays still"]
        let adverbs = ["slowly", "quickly", "smoothly", "twice", "near the top", "at the bottom-left"]
        var state: UInt64 = 99
        func pick(_ list: [String]) -> String {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return list[Int(state >> 33) % list.count]
        }
        let corpus = (0..<20_000).map { i in
            "A \(pick(colors)) \(pick(shapes)) \(pick(motions)) \(pick(adverbs)); a \(pick(colors)) \(pick(shapes)) #\(i % 97)."
        }
        let start = Date()
        let t = BPETokenizer.train(corpus: corpus, vocabSize: 2000)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertLessThan(seconds, 30)
        XCTAssertEqual(try t.encode(" hexagon").count, 1)
        let tokens = try corpus.reduce(0) { $0 + (try t.encode($1).count) }
        let bytes = corpus.reduce(0) { $0 + $1.utf8.count }
        print(String(format: "train: 20000 captions (%d bytes) -> vocab %d in %.2f s; %.2f bytes per token",
                     bytes, t.vocabSize, seconds, Double(bytes) / Double(tokens)))
    }
}
