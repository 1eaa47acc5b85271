import VGCore

/// The validated contents of a safetensors header: metadata and tensor table, tensors ordered by
/// their data offsets, which are proven to tile the data section exactly.
struct SafeTensorsHeader {
    let metadata: [String: String]
    let tensors: [SafeTensorInfo]

    /// Validates `json` against the format for a data section of `dataSize` bytes at `dataStart`.
    init(_ json: HeaderJSON, file: String, dataStart: Int, dataSize: Int) throws(SafeTensorsError) {
        func fail(_ kind: SafeTensorsError.Kind, _ tensor: String?, _ at: Int?, _ why: String) -> SafeTensorsError {
            SafeTensorsError(kind, file: file, tensor: tensor, byteOffset: at, why)
        }
        guard case .object(let members) = json else {
            throw fail(.invalidHeader, nil, 8, "header is a JSON \(json.typeName), not an object")
        }
        var metadata: [String: String]?
        var tensors: [SafeTensorInfo] = []
        var seen = Set<String>()
        for member in members {
            let at = 8 + member.offset
            guard seen.insert(member.key).inserted else {
                throw fail(.duplicateName, member.key, at, "name appears twice in the header")
            }
            if member.key == "__metadata__" {
                // The reference implementation reads the field as an optional map: null means none.
                if case .null = member.value { continue }
                metadata = try Self.metadata(member.value) { why in fail(.invalidHeader, nil, at, "__metadata__: \(why)") }
            } else {
                tensors.append(try Self.tensor(member, dataStart: dataStart, dataSize: dataSize) { kind, why in
                    fail(kind, member.key, at, why)
                })
            }
        }
        // Offsets must tile [0, dataSize): sorted by (begin, end), each begins where the last ended.
        tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name) }
        var end = 0
        var previous: String?
        for t in tensors {
            let begin = t.dataOffsets.lowerBound
            if begin < end {
                throw fail(.overlappingData, t.name, t.byteRange.lowerBound,
                           "data_offsets \(t.dataOffsets) overlap those of \"\(previous ?? "")\" (ending at \(end))")
            }
            if begin > end {
                throw fail(.uncoveredData, t.name, dataStart + end,
                           "bytes \(end)..<\(begin) of the data section belong to no tensor")
            }
            end = t.dataOffsets.upperBound
            previous = t.name
        }
        guard end == dataSize else {
            throw fail(.uncoveredData, nil, dataStart + end,
                       "data section is \(dataSize) bytes but tensors cover only \(end)")
        }
        self.metadata = metadata ?? [:]
        self.tensors = tensors
    }

    private static func metadata(_ value: HeaderJSON, _ fail: (String) -> SafeTensorsError) throws(SafeTensorsError) -> [String: String] {
        guard case .object(let members) = value else { throw fail("is a \(value.typeName), not an object") }
        var out: [String: String] = [:]
        for m in members {
            guard case .string(let s) = m.value else { throw fail("value of \"\(m.key)\" is a \(m.value.typeName), not a string") }
            guard out.updateValue(s, forKey: m.key) == nil else { throw fail("key \"\(m.key)\" appears twice") }
        }
        return out
    }

    /// `values` as non-negative integers that fit `Int`, or the error `fail` makes from the reason.
    private static func integers(_ values: [HeaderJSON], _ what: String,
                                 _ fail: (String) -> SafeTensorsError) throws(SafeTensorsError) -> [Int] {
        var out: [Int] = []
        for v in values {
            switch v.nonNegativeInteger {
            case .value(let i): out.append(i)
            case .negative: throw fail("negative \(what)")
            case .tooLarge: throw fail("\(what) does not fit 63 bits")
            case .notAnInteger: throw fail("\(what) is not an integer")
            }
        }
        return out
    }

    private static func tensor(_ member: HeaderJSON.Member, dataStart: Int, dataSize: Int,
                               _ fail: (SafeTensorsError.Kind, String) -> SafeTensorsError) throws(SafeTensorsError) -> SafeTensorInfo {
        guard case .object(let fields) = member.value else {
            throw fail(.invalidHeader, "entry is a \(member.value.typeName), not an object")
        }
        var byKey: [String: HeaderJSON] = [:]
        for f in fields {
            guard byKey.updateValue(f.value, forKey: f.key) == nil else { throw fail(.invalidHeader, "field \"\(f.key)\" appears twice") }
        }
        guard case .string(let dtypeName)? = byKey["dtype"] else { throw fail(.invalidHeader, "missing string field \"dtype\"") }
        guard case .array(let dims)? = byKey["shape"] else { throw fail(.invalidHeader, "missing array field \"shape\"") }
        guard case .array(let offsets)? = byKey["data_offsets"] else { throw fail(.invalidHeader, "missing array field \"data_offsets\"") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw fail(.unknownDType, "unknown dtype \"\(dtypeName)\"")
        }

        let shape = try integers(dims, "dimension") { why in fail(.invalidShape, why + " in shape") }
        guard offsets.count == 2 else { throw fail(.offsetsOutOfRange, "data_offsets has \(offsets.count) entries, not 2") }
        let bounds = try integers(offsets, "data offset") { why in fail(.offsetsOutOfRange, why) }
        let (begin, end) = (bounds[0], bounds[1])
        guard begin <= end else { throw fail(.offsetsOutOfRange, "data_offsets [\(begin), \(end)] are reversed") }
        guard end <= dataSize else {
            throw fail(.offsetsOutOfRange, "data_offsets [\(begin), \(end)] run past the \(dataSize)-byte data section (truncated file?)")
        }

        let expected: Int
        do {
            expected = try CheckedSize.multiply(try CheckedSize.product(shape), dtype.byteSize)
        } catch {
            throw fail(.invalidShape, "shape \(describeShape(shape)) of \(dtypeName) has more than Int.max bytes")
        }
        guard expected == end - begin else {
            throw fail(.sizeMismatch, "shape \(describeShape(shape)) of \(dtypeName) needs \(expected) bytes, data_offsets span \(end - begin)")
        }
        // end <= dataSize and dataStart + dataSize is the file size, so these cannot overflow.
        return SafeTensorInfo(name: member.key, dtype: dtype, shape: shape, dataOffsets: begin..<end,
                              byteRange: (dataStart + begin)..<(dataStart + end))
    }
}
