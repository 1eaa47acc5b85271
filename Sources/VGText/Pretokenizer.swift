/// Splits UTF-8 bytes into the chunks that BPE merges never cross.
///
/// Byte classes: whitespace (space, \t, \n, \v, \f, \r), digits, other ASCII (punctuation, symbols,
/// control characters), and letters (ASCII letters and every byte >= 0x80, so a multi-byte
/// character is never split). A chunk is a run of one non-whitespace class, taking the single
/// space (0x20) just before it; whitespace not taken that way forms its own chunks. The chunks
/// tile the input, so concatenating them gives the input back.
enum Pretokenizer {
    enum ByteClass: Equatable {
        case whitespace, letter, digit, symbol
    }

    static func byteClass(_ b: UInt8) -> ByteClass {
        switch b {
        case 0x20, 0x09...0x0D: return .whitespace
        case 0x30...0x39: return .digit
        case 0x41...0x5A, 0x61...0x7A, 0x80...0xFF: return .letter
        default: return .symbol
        }
    }

    /// The chunks of `bytes`, in order, as index ranges.
    static func chunks(_ bytes: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        let n = bytes.count
        var i = 0
        while i < n {
            var start = i
            if byteClass(bytes[i]) == .whitespace {
                var j = i
                while j < n, byteClass(bytes[j]) == .whitespace { j += 1 }
                // The last space of the run goes with the word after it.
                guard j < n, bytes[j - 1] == 0x20 else {
                    out.append(i..<j)
                    i = j
                    continue
                }
                if j - 1 > i { out.append(i..<(j - 1)) }
                start = j - 1
                i = j
            }
            let cls = byteClass(bytes[i])
            while i < n, byteClass(bytes[i]) == cls { i += 1 }
            out.append(start..<i)
        }
        return out
    }
}

/// UTF-8 validation that reports where the input goes wrong.
enum UTF8Validation {
    /// Offset of the first byte of the first ill-formed sequence (overlong forms, surrogates, values
    /// above U+10FFFF, stray or missing continuation bytes), or nil when `bytes` is valid UTF-8.
    static func firstInvalidOffset(_ bytes: [UInt8]) -> Int? {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }
}
