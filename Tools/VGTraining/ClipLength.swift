import VGCore
import VGModel

/// Moving trained weights to another clip length (docs/DESIGN-NOTES.md "Short clips for shapes").
///
/// Every weight of the DiT is independent of the number of frames except the learned video position
/// table `pos_embedding` `[T, D]`, whose rows follow the token grid (t, y, x): `grid.t` slices of
/// `grid.y · grid.x` rows. The 3-D rotary table is computed from the config, not stored.
///
/// - Shorter clips (no reference): the new table is the first `grid.t'` temporal slices of the old.
/// - With a reference model of the target length (e.g. the video model a short-clip run started
///   from): slice t is the reference's slice t plus what training changed in the matching slice,
///   `ref[t] + (old[t mod t_old] - ref[t mod t_old])`. A one-slice image model going back to video
///   thus hands every frame its spatial update and keeps the reference's temporal differences.
public enum ClipLength {
    /// Returns the weights `params` for clips of `frames` frames (the config is theirs with `frames`).
    /// `reference`: weights of the same architecture at `frames` frames (needed when the clip grows).
    public static func reframe(_ params: ParameterSet, frames: Int, reference: ParameterSet? = nil) throws -> ParameterSet {
        let config = params.config
        var c = config
        c.frames = frames
        guard frames > 0, frames % config.patchT == 0 else {
            throw ModelError.invalidConfig("\(frames) frames: a positive multiple of the temporal patch \(config.patchT)")
        }
        try c.validate()
        if let reference {
            guard reference.config == c else {
                throw ModelError.invalidConfig("the position reference's config is not this model's at \(frames) frames")
            }
        } else if c.grid.t > config.grid.t {
            throw ModelError.invalidConfig("\(frames) frames is longer than the weights' \(config.frames): give a reference model of \(frames) frames for the new position rows")
        }
        let out = try ParameterSet(config: c)
        let table = "pos_embedding"
        for name in params.names where name != table { try out.set(name, from: try params.tensor(name)) }
        guard config.videoPositionEmbedding else { return out }
        // Rows per temporal slice: grid.y · grid.x tokens of D values.
        let slice = c.grid.y * c.grid.x * c.modelWidth, oldT = config.grid.t
        let old = try params.tensor(table).floats, new = try out.tensor(table).floats
        let ref = try reference?.tensor(table).floats
        for t in 0..<c.grid.t {
            let src = t % oldT
            for i in 0..<slice {
                if let ref {
                    new[t * slice + i] = ref[t * slice + i] + (old[src * slice + i] - ref[src * slice + i])
                } else {
                    new[t * slice + i] = old[t * slice + i]
                }
            }
        }
        return out
    }
}
