/// One attribute of a scene that a counterfactual can change.
public enum SceneAttribute: String, CaseIterable, Codable, Sendable {
    case color, shape, size, motion, position, background
}

extension SceneSpec {
    /// The same scene with one attribute changed, on every object (or the background's colour), to a
    /// value that is clearly different: colours three steps along `ColorName` (never a near-synonym
    /// such as red -> orange), shapes two steps along `ShapeKind`, sizes two steps along `SizeClass`,
    /// motions reversed (left <-> right, grow <-> shrink; static -> right, bounce -> static,
    /// orbit -> left, rotate -> up), start positions mirrored through the centre, the background one
    /// step along `BackgroundColor`. Everything else is kept, so two captions written from the same
    /// caption seed differ only in the changed words. Used by `vgtrain binding-probe`: does a model
    /// read this attribute from its prompt?
    public func changing(_ attribute: SceneAttribute) -> SceneSpec {
        var s = self
        func shifted<T: CaseIterable & Equatable>(_ v: T, by k: Int) -> T {
            let all = Array(T.allCases), i = all.firstIndex(of: v) ?? 0
            return all[(i + k) % all.count]
        }
        let reversed: [Motion: Motion] = [.static: .right, .left: .right, .right: .left, .up: .down, .down: .up,
                                          .upLeft: .downRight, .downRight: .upLeft, .upRight: .downLeft, .downLeft: .upRight,
                                          .bounce: .static, .orbit: .left, .grow: .shrink, .shrink: .grow, .rotate: .up]
        for i in s.objects.indices {
            switch attribute {
            case .color: s.objects[i].color = shifted(s.objects[i].color, by: 3)
            case .shape: s.objects[i].shape = shifted(s.objects[i].shape, by: 2)
            case .size: s.objects[i].size = shifted(s.objects[i].size, by: 2)
            case .motion: s.objects[i].motion = reversed[s.objects[i].motion] ?? .static
            case .position: s.objects[i].x = 1 - s.objects[i].x; s.objects[i].y = 1 - s.objects[i].y
            case .background: break
            }
        }
        if attribute == .background { s.background.color = shifted(s.background.color, by: 1) }
        return s
    }
}
