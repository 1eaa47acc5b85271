/// Errors of reading and writing .vgpk files. Each names the file and, where there is one, the
/// tensor, the chunk and the byte offset, e.g.
/// "model.vgpk: tensor blocks.3.attn.qkv.weight: chunk 2 at byte 81984: checksum mismatch".
public struct VGPKError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case io, truncated, badMagic, unsupportedVersion, headerChecksum, badHeader, badTensor
        case chunkChecksum, decompression, missingTensor, duplicateTensor, unknownRequiredKey, architectureMismatch
    }
    public let kind: Kind
    public let file: String
    public let tensor: String?
    public let chunk: Int?
    public let offset: UInt64?
    public let detail: String

    public init(_ kind: Kind, file: String, tensor: String? = nil, chunk: Int? = nil, offset: UInt64? = nil, _ detail: String) {
        self.kind = kind; self.file = file; self.tensor = tensor; self.chunk = chunk; self.offset = offset; self.detail = detail
    }

    public var description: String {
        var s = file
        if let tensor { s += ": tensor \(tensor)" }
        if let chunk { s += ": chunk \(chunk)" }
        if let offset { s += " at byte \(offset)" }
        return s + ": " + detail
    }
}
