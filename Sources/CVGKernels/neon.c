// The NEON path (arm64; Advanced SIMD is in the ARMv8-A baseline, so no run-time check is needed).
// Integer GEMMs give the same bits as the portable path; exp-based kernels use the same polynomial
// as the AVX2 path.
#include "internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#pragma STDC FP_CONTRACT OFF

static inline float32x4_t exp_f32x4(float32x4_t x) {
    const float32x4_t hi = vdupq_n_f32(88.3762626647949f), lo = vdupq_n_f32(-87.3365447505531f);
    uint32x4_t under = vcltq_f32(x, lo);
    x = vmaxq_f32(vminq_f32(x, hi), lo);
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.0f / 720.0f);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), under));
}

static void neon_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
    vgk_portable_f16_to_f32(src + i, dst + i, n - i);
}

static void neon_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    vgk_portable_f32_to_f16(src + i, dst + i, n - i);
}

static float absmax_f32(const float *x, size_t k) {
    float32x4_t m = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 4 <= k; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    float r = vmaxvq_f32(m);
    for (; i < k; i++) { float a = fabsf(x[i]); if (a > r) r = a; }
    return r;
}

static void neon_quantize_act(const float *x, size_t k, size_t kp, int32_t range, uint8_t *u, float *scale) {
    float amax = absmax_f32(x, k);
    float inv = amax > 0.0f ? (float)range / amax : 0.0f;
    vgk_quantize_act_tail(x, 0, k, kp, range, inv, u);
    *scale = amax / (float)range;
}

/// int8 dot over kp (a multiple of 32): u <= 127 reinterprets as s8; 8 x 8 -> 16-bit products,
/// pairwise into 32 bits. Exact, so any order gives the portable path's bits.
static inline int32_t dot_q8(const uint8_t *u, const int8_t *w, size_t kp) {
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
    for (size_t k = 0; k < kp; k += 16) {
        int8x16_t a = vreinterpretq_s8_u8(vld1q_u8(u + k)), b = vld1q_s8(w + k);
        acc0 = vpadalq_s16(acc0, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
        acc1 = vpadalq_s16(acc1, vmull_high_s8(a, b));
    }
    return vaddvq_s32(vaddq_s32(acc0, acc1));
}

static void neon_gemm_q8(const vgk_act *a, const vgk_weights_q8 *w, const float *bias,
                         float *y, size_t ldy, size_t m0, size_t m1, size_t n0, size_t n1) {
    size_t kp = a->kp;
    for (size_t m = m0; m < m1; m++)
        for (size_t n = n0; n < n1; n++) {
            int32_t isum = dot_q8(a->u + m * kp, w->q + n * kp, kp);
            float v = a->scale[m] * w->scale[n] * (float)(isum - a->offset * w->wsum[n]);
            y[m * ldy + n] = bias ? v + bias[n] : v;
        }
}

/// The q4 dot with the lane structure of the portable reference (int32 lane l = iscale * sum of
/// elements 4l..4l+3; int32 for VGK_Q4_FLUSH_GROUPS groups, then float; then vgk_hsum8).
static inline float dot_q4(const uint8_t *u, const uint8_t *nib, const int16_t *is, size_t groups) {
    float32x4_t flo = vdupq_n_f32(0.0f), fhi = vdupq_n_f32(0.0f);
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    for (size_t g0 = 0; g0 < groups; g0 += VGK_Q4_FLUSH_GROUPS) {
        size_t g1 = g0 + VGK_Q4_FLUSH_GROUPS < groups ? g0 + VGK_Q4_FLUSH_GROUPS : groups;
        int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
        for (size_t g = g0; g < g1; g++) {
            uint8x16_t b = vld1q_u8(nib + 16 * g);
            int8x16_t wl = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, mask)), eight);   // elements 0..15
            int8x16_t wh = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight);    // elements 16..31
            uint8x16_t ul = vld1q_u8(u + 32 * g), uh = vld1q_u8(u + 32 * g + 16);
            int16x8_t p0 = vmulq_s16(vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(ul))), vmovl_s8(vget_low_s8(wl)));
            int16x8_t p1 = vmulq_s16(vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(ul))), vmovl_s8(vget_high_s8(wl)));
            int16x8_t p2 = vmulq_s16(vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(uh))), vmovl_s8(vget_low_s8(wh)));
            int16x8_t p3 = vmulq_s16(vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(uh))), vmovl_s8(vget_high_s8(wh)));
            int32x4_t s_lo = vpaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1));   // lanes 0..3
            int32x4_t s_hi = vpaddq_s32(vpaddlq_s16(p2), vpaddlq_s16(p3));   // lanes 4..7
            lo = vmlaq_n_s32(lo, s_lo, is[g]);
            hi = vmlaq_n_s32(hi, s_hi, is[g]);
        }
        flo = vaddq_f32(flo, vcvtq_f32_s32(lo));
        fhi = vaddq_f32(fhi, vcvtq_f32_s32(hi));
    }
    float lanes[8];
    vst1q_f32(lanes, flo);
    vst1q_f32(lanes + 4, fhi);
    return vgk_hsum8(lanes);
}

static void neon_gemm_q4(const vgk_act *a, const vgk_weights_q4 *w, const float *bias,
                         float *y, size_t ldy, size_t m0, size_t m1, size_t n0, size_t n1) {
    size_t kp = a->kp, groups = kp / VGK_QBLOCK;
    for (size_t m = m0; m < m1; m++)
        for (size_t n = n0; n < n1; n++) {
            float acc = dot_q4(a->u + m * kp, w->nib + n * (kp / 2), w->iscale + n * groups, groups);
            float v = a->scale[m] * (w->rowscale[n] * (acc - w->corr[n]));
            y[m * ldy + n] = bias ? v + bias[n] : v;
        }
}

static void neon_softmax_rows(float *x, size_t rows, size_t n, size_t ld) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * ld;
        float mx = -INFINITY;
        for (size_t i = 0; i < n; i++) if (row[i] > mx) mx = row[i];
        if (mx == -INFINITY) { memset(row, 0, n * sizeof(float)); continue; }
        float32x4_t vmx = vdupq_n_f32(mx), vs = vdupq_n_f32(0.0f);
        size_t i = 0;
        for (; i + 4 <= n; i += 4) { float32x4_t e = exp_f32x4(vsubq_f32(vld1q_f32(row + i), vmx)); vst1q_f32(row + i, e); vs = vaddq_f32(vs, e); }
        float s = vaddvq_f32(vs);
        for (; i < n; i++) { row[i] = expf(row[i] - mx); s += row[i]; }
        float inv = 1.0f / s;
        for (i = 0; i < n; i++) row[i] *= inv;
    }
}

static void neon_attn_block_update(float *s, size_t rows, size_t cols, size_t lds,
                                   float *m, float *l, float *o, size_t ldo, size_t dv) {
    for (size_t r = 0; r < rows; r++) {
        float *sr = s + r * lds;
        float mx = m[r];
        for (size_t c = 0; c < cols; c++) if (sr[c] > mx) mx = sr[c];
        float corr = (m[r] == -INFINITY) ? 0.0f : expf(m[r] - mx);
        float base = mx == -INFINITY ? 0.0f : mx;
        float32x4_t vb = vdupq_n_f32(base), vs = vdupq_n_f32(0.0f);
        size_t c = 0;
        for (; c + 4 <= cols; c += 4) { float32x4_t e = exp_f32x4(vsubq_f32(vld1q_f32(sr + c), vb)); vst1q_f32(sr + c, e); vs = vaddq_f32(vs, e); }
        float sum = vaddvq_f32(vs);
        for (; c < cols; c++) { sr[c] = expf(sr[c] - base); sum += sr[c]; }
        l[r] = l[r] * corr + sum;
        m[r] = mx;
        for (c = 0; c < dv; c++) o[r * ldo + c] *= corr;
    }
}

static void neon_gelu(const float *x, float *y, size_t n) {
    const float c = 0.7978845608028654f;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        float32x4_t u = vmulq_f32(vdupq_n_f32(c), vfmaq_f32(v, vmulq_f32(vdupq_n_f32(0.044715f), v), vmulq_f32(v, v)));
        float32x4_t e = exp_f32x4(vaddq_f32(u, u));
        float32x4_t t = vsubq_f32(vdupq_n_f32(1.0f), vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, vdupq_n_f32(1.0f))));
        vst1q_f32(y + i, vmulq_f32(vmulq_f32(vdupq_n_f32(0.5f), v), vaddq_f32(vdupq_n_f32(1.0f), t)));
    }
    for (; i < n; i++) { float v = x[i]; y[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v))); }
}

// dx = dy * e s (1 + 2 x s u'), the cancellation-free form of portable.c.
static void neon_gelu_backward(const float *dy, const float *x, float *dx, size_t n) {
    const float c = 0.7978845608028654f;
    const float32x4_t vc = vdupq_n_f32(c), one = vdupq_n_f32(1.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i), v2 = vmulq_f32(v, v);
        float32x4_t u = vmulq_f32(vc, vfmaq_f32(v, vmulq_f32(vdupq_n_f32(0.044715f), v), v2));
        float32x4_t u2 = vmaxq_f32(vminq_f32(vaddq_f32(u, u), vdupq_n_f32(80.0f)), vdupq_n_f32(-80.0f));
        float32x4_t e = exp_f32x4(u2);
        float32x4_t s = vdivq_f32(one, vaddq_f32(e, one));
        float32x4_t du = vmulq_f32(vc, vfmaq_f32(one, vdupq_n_f32(3.0f * 0.044715f), v2));
        float32x4_t g = vfmaq_f32(one, vmulq_f32(vaddq_f32(v, v), s), du);
        vst1q_f32(dx + i, vmulq_f32(vld1q_f32(dy + i), vmulq_f32(vmulq_f32(e, s), g)));
    }
    for (; i < n; i++) {
        float v = x[i], u = c * (v + 0.044715f * v * v * v), u2 = fminf(fmaxf(2.0f * u, -80.0f), 80.0f);
        float e = expf(u2), s = 1.0f / (e + 1.0f), du = c * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] = dy[i] * (e * s) * (1.0f + 2.0f * v * s * du);
    }
}

static void neon_silu(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        vst1q_f32(y + i, vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.0f), exp_f32x4(vnegq_f32(v)))));
    }
    for (; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

static const vgk_ops neon_ops = {
    .isa = VGK_ISA_NEON,
    .name = "neon",
    .f16_to_f32 = neon_f16_to_f32,
    .f32_to_f16 = neon_f32_to_f16,
    .quantize_act = neon_quantize_act,
    .gemm_q8 = neon_gemm_q8,
    .gemm_q4 = neon_gemm_q4,
    .softmax_rows = neon_softmax_rows,
    .layernorm_rows = vgk_portable_layernorm_rows,
    .rmsnorm_rows = vgk_portable_rmsnorm_rows,
    .attn_block_update = neon_attn_block_update,
    .gelu = neon_gelu,
    .gelu_backward = neon_gelu_backward,
    .silu = neon_silu,
    .modulate_rows = vgk_portable_modulate_rows,
    .gated_add_rows = vgk_portable_gated_add_rows,
    .add_bias_rows = vgk_portable_add_bias_rows,
    .rope = vgk_portable_rope,
};

const vgk_ops *vgk_ops_neon(void) { return &neon_ops; }

#else
const vgk_ops *vgk_ops_neon(void) { return NULL; }
#endif
