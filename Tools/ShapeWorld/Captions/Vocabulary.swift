/// The words ShapeWorld writes for each attribute value (first = canonical), and reads back.
public enum Vocabulary {
    /// Shape nouns used in detailed captions.
    public static func shapeWords(_ s: ShapeKind) -> [String] {
        switch s {
        case .circle: return ["circle", "disc", "round dot"]
        case .square: return ["square", "box"]
        case .triangle: return ["triangle"]
        case .ring: return ["ring", "hoop", "donut"]
        case .star: return ["star", "five-pointed star"]
        }
    }

    /// Shape nouns people type.
    public static func terseShapeWords(_ s: ShapeKind) -> [String] {
        switch s {
        case .circle: return ["circle", "ball", "dot"]
        case .square: return ["square", "box", "block"]
        case .triangle: return ["triangle", "triangel"]
        case .ring: return ["ring", "donut", "hoop"]
        case .star: return ["star"]
        }
    }

    /// Colour words.
    public static func colorWords(_ c: ColorName) -> [String] {
        switch c {
        case .red: return ["red", "scarlet"]
        case .purple: return ["purple", "violet"]
        case .cyan: return ["cyan", "turquoise"]
        default: return [c.rawValue]
        }
    }

    /// Size adjectives.
    public static func sizeWords(_ s: SizeClass) -> [String] {
        switch s {
        case .small: return ["small", "little", "tiny"]
        case .medium: return ["medium-sized", "mid-sized", "medium"]
        case .large: return ["large", "big"]
        }
    }

    /// Speed adverbs.
    public static func speedWords(_ s: Speed) -> [String] {
        switch s {
        case .slow: return ["slowly", "gently", "at a slow pace"]
        case .fast: return ["quickly", "rapidly", "fast"]
        }
    }

    /// Detailed motion phrases; `%` is replaced by the speed adverb.
    public static func motionPhrases(_ m: Motion) -> [String] {
        switch m {
        case .static: return ["stays still", "rests in place", "does not move"]
        case .left: return ["moves % to the left", "slides % left", "drifts % leftwards"]
        case .right: return ["moves % to the right", "slides % right", "drifts % rightwards"]
        case .up: return ["moves % upwards", "rises %", "slides % up"]
        case .down: return ["moves % downwards", "sinks %", "slides % down"]
        case .upLeft: return ["moves % up and to the left", "drifts % toward the upper left"]
        case .upRight: return ["moves % up and to the right", "drifts % toward the upper right"]
        case .downLeft: return ["moves % down and to the left", "drifts % toward the lower left"]
        case .downRight: return ["moves % down and to the right", "drifts % toward the lower right"]
        case .bounce: return ["bounces % up and down", "bobs % up and down"]
        case .orbit: return ["orbits % clockwise", "goes % round in an orbit"]
        case .grow: return ["grows %", "expands %", "gets bigger %"]
        case .shrink: return ["shrinks %", "gets smaller %", "contracts %"]
        case .rotate: return ["spins %", "rotates % clockwise"]
        }
    }

    /// Terse motion phrases (speed is added separately, or dropped).
    public static func terseMotionPhrases(_ m: Motion) -> [String] {
        switch m {
        case .static: return ["still", "not moving", "static"]
        case .left: return ["going left", "moving left", "left"]
        case .right: return ["going right", "moving right", "right"]
        case .up: return ["going up", "moving up", "up"]
        case .down: return ["going down", "falling down", "down"]
        case .upLeft: return ["going up left", "up-left"]
        case .upRight: return ["going up right", "up-right"]
        case .downLeft: return ["going down left", "down-left"]
        case .downRight: return ["going down right", "down-right"]
        case .bounce: return ["bouncing", "bouncing up and down"]
        case .orbit: return ["orbiting", "in orbit"]
        case .grow: return ["growing", "getting bigger"]
        case .shrink: return ["shrinking", "getting smaller"]
        case .rotate: return ["spinning", "rotating"]
        }
    }

    /// Background colour words.
    public static func backgroundWords(_ c: BackgroundColor) -> [String] {
        switch c {
        case .gray: return ["gray", "grey"]
        default: return [c.rawValue]
        }
    }

    /// Background style adjectives (empty string for solid).
    public static func styleWords(_ s: BackgroundStyle) -> [String] {
        switch s {
        case .solid: return ["", "plain"]
        case .gradient: return ["gradient", "graded"]
        case .texture: return ["textured", "patterned"]
        }
    }
}
