// vgkernels.h — the SIMD kernels under VGCore.
//
// Three code paths implement one table of operations (`vgk_ops`):
//   VGK_ISA_PORTABLE  plain C, always compiled, the reference the others are tested against;
//   VGK_ISA_AVX2      x86-64 with AVX2 + FMA + F16C (functions carry target attributes, so the
//                     target needs no compile flags and the path is chosen at run time);
//   VGK_ISA_NEON      arm64 (Advanced SIMD is part of the ARMv8-A baseline).
// `vgk_ops_get(isa)` returns NULL when the running CPU cannot execute that path.
//
// Conventions
// - Row-major everywhere. A "row" of an activation matrix is one token; weight matrices are stored as
//   [N, K] (output channels first, like torch.nn.Linear), so y[m, n] = sum_k x[m, k] * w[n, k].
// - Quantised matrices pad K up to `kp`, a multiple of VGK_QBLOCK (32), with zeros.
// - Every reduction runs in a fixed order that depends only on the shapes, never on how callers split
//   work into row / column ranges; so results are bit-identical whatever the thread count.
// - Kernels never allocate, never print, never abort; callers validate shapes (VGCore does).
#ifndef VGKERNELS_H
#define VGKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Quantisation block: q4 groups and the K padding of every quantised matrix.
#define VGK_QBLOCK 32

typedef enum vgk_isa {
    VGK_ISA_PORTABLE = 0,
    VGK_ISA_AVX2 = 1,
    VGK_ISA_NEON = 2,
} vgk_isa;

/// Activations quantised per row for the integer GEMMs: symmetric codes q in [-r, r] shifted to
/// unsigned u = q + r + 1, because AVX2's only 8-bit multiply (vpmaddubsw) takes one unsigned operand.
/// The int8-weight GEMM uses r = 63 (7-bit activations, as PyTorch/fbgemm's reduce_range on x86
/// without VNNI: a pair u*w + u*w then stays inside int16); the int4-weight GEMM uses r = 127.
typedef struct vgk_act {
    const uint8_t *u;      // [M, kp]  q + offset, in [1, 2 r + 1]; padding holds the offset (q = 0)
    const float *scale;    // [M]      max|x[m, :]| / r
    size_t kp;             // padded K (row stride of u)
    int32_t offset;        // r + 1
} vgk_act;

#define VGK_Q8_ACT_RANGE 63
#define VGK_Q4_ACT_RANGE 127

/// int8 weights, one scale per output channel: w[n, k] ~= scale[n] * q[n, k].
typedef struct vgk_weights_q8 {
    const int8_t *q;       // [N, kp]  in [-127, 127]
    const float *scale;    // [N]
    const int32_t *wsum;   // [N]      sum_k q[n, k]: removes the activation offset
    size_t kp;
} vgk_weights_q8;

/// Groups of q4 weights that one int32 accumulator may take before it is flushed to float.
#define VGK_Q4_FLUSH_GROUPS 64

/// 4-bit weights in groups of 32 along K (ggml q4_0 codes): w[n, 32g + j] ~= d[n, g] * (nib - 8).
/// Byte j of a group's 16 bytes holds element j in its low nibble and element j + 16 in its high one.
/// For the kernel the f16 group scales are re-expressed as d[n, g] ~= rowscale[n] * iscale[n, g] with
/// |iscale| <= 1023 (double quantisation, like ggml's k-quants), so a whole row accumulates in int32.
typedef struct vgk_weights_q4 {
    const uint8_t *nib;      // [N, kp / 2]
    const int16_t *iscale;   // [N, kp / 32]
    const float *rowscale;   // [N]
    const float *corr;       // [N]  offset * sum_g iscale[n, g] * sum_j (nib - 8), undoes the activation offset
    size_t kp;
} vgk_weights_q4;

typedef struct vgk_ops {
    vgk_isa isa;
    const char *name;

    // MARK: conversions
    /// IEEE binary16 -> binary32, exact.
    void (*f16_to_f32)(const uint16_t *src, float *dst, size_t n);
    /// binary32 -> binary16, round to nearest even; overflow -> inf; NaN stays NaN.
    void (*f32_to_f16)(const float *src, uint16_t *dst, size_t n);

    // MARK: quantisation of activations (one row; the padding [k, kp) gets code 0)
    /// q = round(x / scale) with scale = max|x| / range, ties away from zero; u = q + range + 1.
    void (*quantize_act)(const float *x, size_t k, size_t kp, int32_t range, uint8_t *u, float *scale);

    // MARK: GEMM over a tile of the output: rows [m0, m1), columns [n0, n1)
    /// y[m, n] = a.scale[m] * w.scale[n] * (sum_k u[m, k] q[n, k] - offset * wsum[n])  (+ bias[n])
    void (*gemm_q8)(const vgk_act *a, const vgk_weights_q8 *w, const float *bias,
                    float *y, size_t ldy, size_t m0, size_t m1, size_t n0, size_t n1);
    /// y[m, n] = a.scale[m] * rowscale[n] * (sum_g iscale[n, g] sum_j u[m, k] (nib - 8) - corr[n])  (+ bias[n])
    /// The integer sum is exact per flush of VGK_Q4_FLUSH_GROUPS groups; flushes add up in float.
    void (*gemm_q4)(const vgk_act *a, const vgk_weights_q4 *w, const float *bias,
                    float *y, size_t ldy, size_t m0, size_t m1, size_t n0, size_t n1);

    // MARK: row-wise reductions
    /// In place softmax of `rows` rows of length n (row stride ld).
    void (*softmax_rows)(float *x, size_t rows, size_t n, size_t ld);
    /// y = (x - mean) / sqrt(var + eps) * gamma + beta per row; gamma / beta may be NULL (1 / 0).
    void (*layernorm_rows)(const float *x, float *y, size_t rows, size_t n,
                           const float *gamma, const float *beta, float eps);
    /// y = x / sqrt(mean(x^2) + eps) * gamma per row; gamma may be NULL.
    void (*rmsnorm_rows)(const float *x, float *y, size_t rows, size_t n, const float *gamma, float eps);
    /// One key block of attention with an online softmax (flash attention's update):
    /// s [rows, cols] (stride lds) holds scaled scores; on return it holds p = exp(s - m_new).
    /// m [rows] running max, l [rows] running sum, o [rows, dv] (stride ldo) running output, which is
    /// rescaled by exp(m_old - m_new); the caller then adds p @ V_block to o.
    void (*attn_block_update)(float *s, size_t rows, size_t cols, size_t lds,
                              float *m, float *l, float *o, size_t ldo, size_t dv);

    // MARK: elementwise
    /// y = gelu(x), tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    void (*gelu)(const float *x, float *y, size_t n);
    /// dx = dy * gelu'(x) for the tanh form: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),
    /// t = tanh(sqrt(2/pi) (x + 0.044715 x^3)). dx may be dy.
    void (*gelu_backward)(const float *dy, const float *x, float *dx, size_t n);
    /// y = x * sigmoid(x).
    void (*silu)(const float *x, float *y, size_t n);
    /// y = x * (1 + scale) + shift per row of n; shift / scale are [n] (adaLN modulate).
    void (*modulate_rows)(const float *x, float *y, size_t rows, size_t n,
                          const float *shift, const float *scale);
    /// x += gate * r per row of n; gate is [n] (adaLN-Zero gated residual), or NULL for x += r.
    void (*gated_add_rows)(float *x, const float *r, size_t rows, size_t n, const float *gate);
    /// y += bias per row of n.
    void (*add_bias_rows)(float *y, size_t rows, size_t n, size_t ld, const float *bias);
    /// Rotary embedding in place, half-split pairs (x[i], x[i + d/2]) of each head:
    /// x [tokens, heads * d] with row stride ld; cos / sin [tokens, d / 2].
    void (*rope)(float *x, size_t tokens, size_t heads, size_t d, size_t ld,
                 const float *cos_t, const float *sin_t);
} vgk_ops;

/// The operation table of one code path, or NULL when this CPU cannot run it.
const vgk_ops *vgk_ops_get(vgk_isa isa);
/// The fastest code path this CPU runs.
vgk_isa vgk_isa_best(void);

// MARK: weight quantisation (load / pack time; portable, not hot)
/// w [n, k] -> q [n, kp] int8 per output channel; scale [n] = max|row| / 127 (0 for an all-zero row).
void vgk_quantize_weights_q8(const float *w, size_t n, size_t k, size_t kp, int8_t *q, float *scale);
/// w [n, k] -> q4_0 blocks: nib [n, kp / 2], scale_f16 [n, kp / 32] (binary16 bits).
/// Per group: d = m / -8 where m is the element of largest magnitude; nib = clamp(round(x / d) + 8, 0, 15).
void vgk_quantize_weights_q4(const float *w, size_t n, size_t k, size_t kp, uint8_t *nib, uint16_t *scale_f16);
/// Row sums of q8 codes for vgk_weights_q8.wsum.
void vgk_prepare_q8(const int8_t *q, size_t n, size_t kp, int32_t *wsum);
/// The kernel form of q4 scales (vgk_weights_q4): iscale [n, kp / 32], rowscale [n], corr [n] for an
/// activation offset `offset` (VGK_Q4_ACT_RANGE + 1).
void vgk_prepare_q4(const uint8_t *nib, const uint16_t *scale_f16, size_t n, size_t kp, int32_t offset,
                    int16_t *iscale, float *rowscale, float *corr);
/// Portable scalar binary16 conversions (used by the portable path and for single values).
float vgk_f16_to_f32_1(uint16_t h);
uint16_t vgk_f32_to_f16_1(float f);

#ifdef __cplusplus
}
#endif
#endif
