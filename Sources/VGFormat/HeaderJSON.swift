/// A JSON value as parsed from a safetensors header. Objects keep their members in file order with
/// each key's byte offset so that duplicate keys can be reported (Foundation's parser silently keeps
/// one of them); numbers keep their text so that integers beyond 64 bits are rejected, not rounded.
/// Not `indirect`: nesting goes through arrays, and unboxed values keep a hostile header's
/// parse tree to about 24 bytes per JSON value.
enum HeaderJSON {
    /// One `"key": value` pair of an object; `offset` is where the key's opening quote stands.
    struct Member {
        let key: String
        let value: HeaderJSON
        let offset: Int
    }

    case object([Member])
    case array([HeaderJSON])
    case string(String)
    /// The number's literal text and offset.
    case number(String, offset: Int)
    case bool(Bool)
    case null

    /// The value of an integer literal that fits `Int` and is not negative.
    enum IntegerReading {
        case value(Int)
        case negative
        case tooLarge
        case notAnInteger
    }

    /// Interprets this value as a non-negative integer (JSON `-?[0-9]+` without fraction or exponent).
    var nonNegativeInteger: IntegerReading {
        guard case .number(let text, _) = self else { return .notAnInteger }
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return .notAnInteger }
        if text.hasPrefix("-") { return digits.utf8.allSatisfy({ $0 == 0x30 }) ? .value(0) : .negative }
        guard let v = Int(digits) else { return .tooLarge }
        return .value(v)
    }

    /// A short name of the value's type for error messages.
    var typeName: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }
}

/// A strict RFC 8259 parser over the header bytes. It never traps: nesting is limited to
/// `maxDepth`, every index is bounds-checked, and failures carry the byte offset in the header.
struct HeaderJSONParser {
    /// Why parsing stopped, and where (an offset into the parsed bytes).
    enum Failure: Error {
        case syntax(String, at: Int)
        case utf8(at: Int)
    }

    static let maxDepth = 64
    /// Most JSON values in one header (arrays' and objects' elements included). A header of many
    /// tensors has about 7 values per tensor, so this allows over two million tensors while
    /// bounding the parse tree of a hostile 100 MB header (50 M one-digit numbers) to ~400 MB.
    static let maxValues = 16 << 20
    private let bytes: [UInt8]
    private let maxValues: Int
    private var pos = 0
    private var valueCount = 0

    /// Parses one JSON document; only whitespace (the format's space padding) may follow it.
    static func parse(_ bytes: [UInt8], maxValues: Int = HeaderJSONParser.maxValues) throws(Failure) -> HeaderJSON {
        var parser = HeaderJSONParser(bytes: bytes, maxValues: maxValues)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.pos == bytes.count else { throw .syntax("unexpected data after the JSON value", at: parser.pos) }
        return value
    }

    private init(bytes: [UInt8], maxValues: Int) {
        self.bytes = bytes
        self.maxValues = maxValues
    }

    private var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while let b = current, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { pos += 1 }
    }

    private mutating func expect(_ literal: String) throws(Failure) {
        for b in literal.utf8 {
            guard current == b else { throw .syntax("expected \"\(literal)\"", at: pos) }
            pos += 1
        }
    }

    private mutating func value(depth: Int) throws(Failure) -> HeaderJSON {
        guard depth < Self.maxDepth else { throw .syntax("nesting deeper than \(Self.maxDepth)", at: pos) }
        valueCount += 1
        guard valueCount <= maxValues else { throw .syntax("more than \(maxValues) JSON values", at: pos) }
        skipWhitespace()
        guard let b = current else { throw .syntax("unexpected end of header", at: pos) }
        switch b {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw .syntax("unexpected byte 0x\(String(b, radix: 16))", at: pos)
        }
    }

    private mutating func object(depth: Int) throws(Failure) -> HeaderJSON {
        pos += 1
        var members: [HeaderJSON.Member] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            let keyOffset = pos
            guard current == UInt8(ascii: "\"") else { throw .syntax("expected a string key", at: pos) }
            let key = try string()
            skipWhitespace()
            try expect(":")
            let v = try value(depth: depth + 1)
            members.append(.init(key: key, value: v, offset: keyOffset))
            skipWhitespace()
            if current == UInt8(ascii: ",") { pos += 1; continue }
            try expect("}")
            return .object(members)
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> HeaderJSON {
        pos += 1
        var elements: [HeaderJSON] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { pos += 1; return .array(elements) }
        while true {
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            if current == UInt8(ascii: ",") { pos += 1; continue }
            try expect("]")
            return .array(elements)
        }
    }

    private mutating func number() throws(Failure) -> HeaderJSON {
        let start = pos
        if current == UInt8(ascii: "-") { pos += 1 }
        func isDigit(_ b: UInt8?) -> Bool { b.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
        guard isDigit(current) else { throw .syntax("malformed number", at: start) }
        if current == UInt8(ascii: "0") { pos += 1 } else { while isDigit(current) { pos += 1 } }
        if current == UInt8(ascii: ".") {
            pos += 1
            guard isDigit(current) else { throw .syntax("malformed number", at: start) }
            while isDigit(current) { pos += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            pos += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { pos += 1 }
            guard isDigit(current) else { throw .syntax("malformed number", at: start) }
            while isDigit(current) { pos += 1 }
        }
        return .number(String(decoding: bytes[start..<pos], as: UTF8.self), offset: start)
    }

    /// Four hex digits of a `\u` escape.
    private mutating func hex4() throws(Failure) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let b = current else { throw .syntax("unterminated \\u escape", at: pos) }
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x41...0x46: d = b - 0x41 + 10
            case 0x61...0x66: d = b - 0x61 + 10
            default: throw .syntax("bad hex digit in \\u escape", at: pos)
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }

    private mutating func string() throws(Failure) -> String {
        let start = pos
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let b = current else { throw .syntax("unterminated string", at: start) }
            pos += 1
            switch b {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw .utf8(at: start) }
                return s
            case UInt8(ascii: "\\"):
                guard let e = current else { throw .syntax("unterminated escape", at: pos) }
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): out.append(contentsOf: try unicodeEscape())
                default: throw .syntax("bad escape \\\(Character(Unicode.Scalar(e)))", at: pos - 2)
                }
            case 0x00..<0x20: throw .syntax("control character in string", at: pos - 1)
            default: out.append(b)
            }
        }
    }

    /// The UTF-8 bytes of a `\uXXXX` escape (a surrogate pair takes two escapes).
    private mutating func unicodeEscape() throws(Failure) -> [UInt8] {
        let at = pos - 2
        var code = try hex4()
        if (0xD800..<0xDC00).contains(code) {
            try expect("\\u")
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw .syntax("unpaired surrogate", at: at) }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(code) else { throw .syntax("unpaired surrogate", at: at) }
        return Array(String(Character(scalar)).utf8)
    }
}

/// Writes JSON string literals: quotes, backslashes and control characters escaped, all other
/// characters as raw UTF-8 (as Rust's serde_json does), so the output is byte-for-byte stable.
enum HeaderJSONWriter {
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
