import Foundation

/// The architecture of the prompt enhancer (../shared/ALGORITHMS.md §6): a compact decoder-only
/// language model — GPT-style pre-LayerNorm blocks, learned positions, causal self-attention, GELU
/// MLP, an output head tied to the token embedding — that rewrites a terse prompt into a detailed
/// caption (`terse <sep> detailed`). It reads and writes with the model file's tokenizer.
///
/// A checkpoint stores it as JSON in the safetensors metadata key `vgrt.enhancer_config`; a .vgpk file
/// in its `enhancer` metadata section, with the tensors under the prefix `enhancer.`.
///
/// Shapes: tokens [L] -> states [L, D] -> logits [L, V] (V = vocabSize, D = width, L <= contextLength).
public struct EnhancerConfig: Codable, Equatable, Sendable {
    /// Vocabulary size V (the tokenizer's), e.g. 1024.
    public var vocabSize: Int
    /// Longest token sequence (prompt, separator and rewrite together), e.g. 160.
    public var contextLength: Int
    /// Width D, e.g. 192.
    public var width: Int
    /// Blocks and attention heads, e.g. 4 and 4.
    public var depth: Int, heads: Int
    /// MLP hidden size as a multiple of D, e.g. 4.
    public var mlpRatio: Int

    public init(vocabSize: Int = 1024, contextLength: Int = 160, width: Int = 192, depth: Int = 4, heads: Int = 4, mlpRatio: Int = 4) {
        self.vocabSize = vocabSize; self.contextLength = contextLength; self.width = width
        self.depth = depth; self.heads = heads; self.mlpRatio = mlpRatio
    }

    /// Checks every field; a config read from a file goes through this.
    public func validate() throws {
        guard [vocabSize, contextLength, width, depth, heads, mlpRatio].allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidConfig("enhancer: every size must be positive")
        }
        guard vocabSize <= 1 << 20, contextLength <= 1 << 16, width <= 1 << 16, depth <= 256, mlpRatio <= 16 else {
            throw ModelError.invalidConfig("enhancer: a size is too large")
        }
        guard width % heads == 0, (width / heads) % 2 == 0 else {
            throw ModelError.invalidConfig("enhancer: width \(width) must split into \(heads) heads of even size")
        }
    }

    /// The parameter names and shapes, in a fixed order (matrices are [out, in]).
    public static func layout(_ c: EnhancerConfig) -> [(name: String, shape: [Int])] {
        let d = c.width, hid = c.mlpRatio * d
        var l: [(String, [Int])] = [("token_embedding.weight", [c.vocabSize, d]), ("position_embedding", [c.contextLength, d])]
        func linear(_ name: String, out: Int, in inp: Int) { l.append(("\(name).weight", [out, inp])); l.append(("\(name).bias", [out])) }
        func norm(_ name: String) { l.append(("\(name).weight", [d])); l.append(("\(name).bias", [d])) }
        for i in 0..<c.depth {
            let b = "blocks.\(i)"
            norm("\(b).norm1")
            linear("\(b).attn.qkv", out: 3 * d, in: d)
            linear("\(b).attn.out", out: d, in: d)
            norm("\(b).norm2")
            linear("\(b).mlp.fc1", out: hid, in: d)
            linear("\(b).mlp.fc2", out: d, in: hid)
        }
        norm("norm")
        return l
    }

    /// Decodes and validates the JSON form (the metadata value).
    public static func decode(_ json: String) throws -> EnhancerConfig {
        let c: EnhancerConfig
        do { c = try JSONDecoder().decode(EnhancerConfig.self, from: Data(json.utf8)) } catch {
            throw ModelError.invalidConfig("enhancer config is not valid JSON of the expected fields: \(error)")
        }
        try c.validate()
        return c
    }

    /// The JSON form, keys sorted (deterministic files).
    public func jsonString() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }
}
