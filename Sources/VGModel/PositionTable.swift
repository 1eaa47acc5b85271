import Foundation

/// Fixed-form 3-D sinusoidal position tables for the video tokens (DiT / MAE style), used as the
/// starting value of the learned `pos_embedding` (docs/DESIGN-NOTES.md "A learned absolute position").
public enum PositionTable {
    /// A `[T, width]` table over the (t, y, x) token grid, tokens in (t, y, x) order, every row of
    /// Euclidean norm `norm`. The width is split in three even parts for t, y and x (x takes the
    /// remainder); each part holds sines then cosines of the coordinate at frequencies from 1 down to
    /// 1 / extent radians per token, geometrically spaced (an axis of 8 tokens needs no slower
    /// ones; DiT's base of 10 000 is for long axes and would leave most of a short one constant).
    /// `Scripts/sincos_position_embedding.py` computes the same table.
    public static func sinCos3D(grid: (t: Int, y: Int, x: Int), width: Int, norm: Float) -> [Float] {
        let third = width / 3 / 2 * 2
        let parts = [third, third, width - 2 * third]
        let extents = [grid.t, grid.y, grid.x]
        var out = [Float](repeating: 0, count: grid.t * grid.y * grid.x * width)
        var row = 0
        for t in 0..<grid.t { for y in 0..<grid.y { for x in 0..<grid.x {
            let coord = [t, y, x]
            var col = row * width
            var values: [Double] = []
            values.reserveCapacity(width)
            for axis in 0..<3 {
                let half = parts[axis] / 2
                let base = Double(max(extents[axis], 2))
                let freqs = (0..<half).map { i in 1 / Foundation.pow(base, Double(i) / Double(max(half - 1, 1))) }
                for f in freqs { values.append(Foundation.sin(Double(coord[axis]) * f)) }
                for f in freqs { values.append(Foundation.cos(Double(coord[axis]) * f)) }
                if parts[axis] % 2 == 1 { values.append(0) }   // an odd remainder: one unused column
            }
            let length = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for v in values { out[col] = Float(v / max(length, 1e-12)) * norm; col += 1 }
            row += 1
        } } }
        return out
    }
}
