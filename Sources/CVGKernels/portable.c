// The portable path: plain C, compiled for every target, and the reference for the SIMD paths.
#include "internal.h"
#include <float.h>

// Keep a * b + c as two roundings: the SIMD paths fuse only where they say so explicitly, and the
// integer GEMMs promise the same bits on every path.
#pragma STDC FP_CONTRACT OFF

// MARK: binary16

float vgk_f16_to_f32_1(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1F) {                       // inf / NaN (keep the payload, make it quiet)
        bits = sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0);
    } else if (exp != 0) {                   // normal
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {                   // +-0
        bits = sign;
    } else {                                 // subnormal: normalise
        int e = -1;
        do { man <<= 1; e++; } while ((man & 0x400u) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t vgk_f32_to_f16_1(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) {                 // inf or NaN
        return (uint16_t)(sign | 0x7C00u | (ax > 0x7F800000u ? 0x200u | ((ax >> 13) & 0x3FFu) : 0));
    }
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);   // rounds past 65504: inf
    if (ax < 0x38800000u) {                  // result is subnormal or zero
        if (ax < 0x33000000u) return (uint16_t)sign;            // below half the smallest subnormal
        uint32_t e = ax >> 23;
        uint32_t man = (ax & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126u - e;           // 14 + (113 - e) ... keeps 10-bit subnormal mantissa
        uint32_t half = 1u << (shift - 1);
        uint32_t rest = man & ((1u << shift) - 1u);
        uint32_t r = man >> shift;
        if (rest > half || (rest == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ax - 0x38000000u;           // rebias exponent 127 -> 15
    uint32_t rest = r & 0x1FFFu;
    r >>= 13;
    if (rest > 0x1000u || (rest == 0x1000u && (r & 1u))) r++;   // may carry into the exponent: fine
    return (uint16_t)(sign | r);
}

void vgk_portable_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = vgk_f16_to_f32_1(src[i]);
}

void vgk_portable_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = vgk_f32_to_f16_1(src[i]);
}

// MARK: quantisation

static float row_absmax(const float *x, size_t k) {
    float m = 0.0f;
    for (size_t i = 0; i < k; i++) { float a = fabsf(x[i]); if (a > m) m = a; }
    return m;
}

static void portable_quantize_act(const float *x, size_t k, size_t kp, int32_t range, uint8_t *u, float *scale) {
    float amax = row_absmax(x, k);
    float inv = amax > 0.0f ? (float)range / amax : 0.0f;
    vgk_quantize_act_tail(x, 0, k, kp, range, inv, u);
    *scale = amax / (float)range;
}

void vgk_quantize_weights_q8(const float *w, size_t n, size_t k, size_t kp, int8_t *q, float *scale) {
    for (size_t r = 0; r < n; r++) {
        const float *row = w + r * k;
        float amax = row_absmax(row, k);
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (size_t i = 0; i < k; i++) q[r * kp + i] = (int8_t)vgk_round_clamp(row[i] * inv, 127);
        for (size_t i = k; i < kp; i++) q[r * kp + i] = 0;
        scale[r] = amax / 127.0f;
    }
}

void vgk_prepare_q8(const int8_t *q, size_t n, size_t kp, int32_t *wsum) {
    for (size_t r = 0; r < n; r++) {
        int32_t s = 0;
        for (size_t i = 0; i < kp; i++) s += q[r * kp + i];
        wsum[r] = s;
    }
}

void vgk_quantize_weights_q4(const float *w, size_t n, size_t k, size_t kp, uint8_t *nib, uint16_t *scale_f16) {
    size_t groups = kp / VGK_QBLOCK;
    for (size_t r = 0; r < n; r++) {
        for (size_t g = 0; g < groups; g++) {
            float v[VGK_QBLOCK];
            for (size_t j = 0; j < VGK_QBLOCK; j++) {
                size_t i = g * VGK_QBLOCK + j;
                v[j] = i < k ? w[r * k + i] : 0.0f;
            }
            float m = 0.0f, am = 0.0f;
            for (size_t j = 0; j < VGK_QBLOCK; j++) if (fabsf(v[j]) > am) { am = fabsf(v[j]); m = v[j]; }
            // Store d rounded to f16 and quantise against the rounded value, so the codes match it.
            uint16_t dh = vgk_f32_to_f16_1(m / -8.0f);
            float d = vgk_f16_to_f32_1(dh);
            float inv = d != 0.0f ? 1.0f / d : 0.0f;
            uint8_t *out = nib + r * (kp / 2) + g * (VGK_QBLOCK / 2);
            for (size_t j = 0; j < VGK_QBLOCK / 2; j++) {
                int a = (int)floorf(v[j] * inv + 8.5f);
                int b = (int)floorf(v[j + 16] * inv + 8.5f);
                a = a < 0 ? 0 : (a > 15 ? 15 : a);
                b = b < 0 ? 0 : (b > 15 ? 15 : b);
                out[j] = (uint8_t)(a | (b << 4));
            }
            scale_f16[r * groups + g] = dh;
        }
    }
}

void vgk_prepare_q4(const uint8_t *nib, const uint16_t *scale_f16, size_t n, size_t kp, int32_t offset,
                    int16_t *iscale, float *rowscale, float *corr) {
    size_t groups = kp / VGK_QBLOCK;
    for (size_t r = 0; r < n; r++) {
        float dmax = 0.0f;
        for (size_t g = 0; g < groups; g++) {
            float a = fabsf(vgk_f16_to_f32_1(scale_f16[r * groups + g]));
            if (a > dmax) dmax = a;
        }
        float rs = dmax / 1023.0f, inv = dmax > 0.0f ? 1023.0f / dmax : 0.0f;
        int64_t c = 0;
        for (size_t g = 0; g < groups; g++) {
            int32_t s = vgk_round_clamp(vgk_f16_to_f32_1(scale_f16[r * groups + g]) * inv, 1023);
            const uint8_t *b = nib + r * (kp / 2) + g * (VGK_QBLOCK / 2);
            int32_t ws = 0;
            for (size_t j = 0; j < VGK_QBLOCK / 2; j++) ws += (b[j] & 15) + (b[j] >> 4) - 16;
            iscale[r * groups + g] = (int16_t)s;
            c += (int64_t)s * ws;
        }
        rowscale[r] = rs;
        corr[r] = (float)((int64_t)offset * c);
    }
}

// MARK: GEMM

static void portable_gemm_q8(const vgk_act *a, const vgk_weights_q8 *w, const float *bias,
                             float *y, size_t ldy, size_t m0, size_t m1, size_t n0, size_t n1) {
    size_t kp = a->kp;
    for (size_t m = m0; m < m1; m++) {
        const uint8_t *xu = a->u + m * kp;
        for (size_t n = n0; n < n1; n++) {
            const int8_t *wq = w->q + n * kp;
            int32_t acc = 0;
            for (size_t k = 0; k < kp; k++) acc += (int32_t)xu[k] * (int32_t)wq[k];
            float v = a->scale[m] * w->scale[n] * (float)(acc - a->offset * w->wsum[n]);
            y[m * ldy + n] = bias ? v + bias[n] : v;
        }
    }
}

/// The q4 dot in the exact arithmetic of every path: int32 lane l (0..7) of a group holds
/// iscale * sum of elements 4l..4l+3 of u * (nib - 8) (the lanes of AVX2's maddubs + madd); lanes
/// accumulate in int32 for VGK_Q4_FLUSH_GROUPS groups, then in float; then vgk_hsum8.
static float q4_dot_reference(const uint8_t *u, const uint8_t *nib, const int16_t *is, size_t groups) {
    float lane[8] = {0};
    for (size_t g0 = 0; g0 < groups; g0 += VGK_Q4_FLUSH_GROUPS) {
        int32_t acc[8] = {0};
        size_t g1 = g0 + VGK_Q4_FLUSH_GROUPS < groups ? g0 + VGK_Q4_FLUSH_GROUPS : groups;
        for (size_t g = g0; g < g1; g++) {
            const uint8_t *b = nib + g * 16, *x = u + g * 32;
            for (int j = 0; j < 32; j++) {
                int32_t wv = j < 16 ? (b[j] & 15) - 8 : (b[j - 16] >> 4) - 8;
                acc[j / 4] += (int32_t)is[g] * (int32_t)x[j] * wv;
            }
        }
        for (int l = 0; l < 8; l++) lane[l] += (float)acc[l];
    }
    return vgk_hsum8(lane);
}

static void portable_gemm_q4(const vgk_act *a, const vgk_weights_q4 *w, const float *bias,
                             float *y, size_t ldy, size_t m0, size_t m1, size_t n0, size_t n1) {
    size_t kp = a->kp, groups = kp / VGK_QBLOCK;
    for (size_t m = m0; m < m1; m++) {
        for (size_t n = n0; n < n1; n++) {
            float acc = q4_dot_reference(a->u + m * kp, w->nib + n * (kp / 2), w->iscale + n * groups, groups);
            float v = a->scale[m] * (w->rowscale[n] * (acc - w->corr[n]));
            y[m * ldy + n] = bias ? v + bias[n] : v;
        }
    }
}

// MARK: row-wise reductions

static void portable_softmax_rows(float *x, size_t rows, size_t n, size_t ld) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * ld;
        float mx = -INFINITY;
        for (size_t i = 0; i < n; i++) if (row[i] > mx) mx = row[i];
        if (mx == -INFINITY) { for (size_t i = 0; i < n; i++) row[i] = 0.0f; continue; }
        float s = 0.0f;
        for (size_t i = 0; i < n; i++) { row[i] = expf(row[i] - mx); s += row[i]; }
        float inv = 1.0f / s;
        for (size_t i = 0; i < n; i++) row[i] *= inv;
    }
}

void vgk_portable_layernorm_rows(const float *x, float *y, size_t rows, size_t n,
                                 const float *gamma, const float *beta, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float mean = 0.0f;
        for (size_t i = 0; i < n; i++) mean += xr[i];
        mean /= (float)n;
        float var = 0.0f;
        for (size_t i = 0; i < n; i++) { float d = xr[i] - mean; var += d * d; }
        var /= (float)n;
        float rstd = 1.0f / sqrtf(var + eps);
        for (size_t i = 0; i < n; i++) {
            float v = (xr[i] - mean) * rstd;
            if (gamma) v *= gamma[i];
            if (beta) v += beta[i];
            yr[i] = v;
        }
    }
}

void vgk_portable_rmsnorm_rows(const float *x, float *y, size_t rows, size_t n, const float *gamma, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float ss = 0.0f;
        for (size_t i = 0; i < n; i++) ss += xr[i] * xr[i];
        float rs = 1.0f / sqrtf(ss / (float)n + eps);
        for (size_t i = 0; i < n; i++) yr[i] = gamma ? xr[i] * rs * gamma[i] : xr[i] * rs;
    }
}

static void portable_attn_block_update(float *s, size_t rows, size_t cols, size_t lds,
                                       float *m, float *l, float *o, size_t ldo, size_t dv) {
    for (size_t r = 0; r < rows; r++) {
        float *sr = s + r * lds;
        float mx = m[r];
        for (size_t c = 0; c < cols; c++) if (sr[c] > mx) mx = sr[c];
        float corr = (m[r] == -INFINITY) ? 0.0f : expf(m[r] - mx);
        float base = mx == -INFINITY ? 0.0f : mx;     // a fully masked row so far: p = 0, not NaN
        float sum = 0.0f;
        for (size_t c = 0; c < cols; c++) { sr[c] = expf(sr[c] - base); sum += sr[c]; }
        l[r] = l[r] * corr + sum;
        m[r] = mx;
        float *orow = o + r * ldo;
        for (size_t c = 0; c < dv; c++) orow[c] *= corr;
    }
}

// MARK: elementwise

static void portable_gelu(const float *x, float *y, size_t n) {
    const float c = 0.7978845608028654f;   // sqrt(2 / pi)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

// dx = dy * gelu'(x). With t = tanh(u), u = c (x + 0.044715 x^3), e = exp(2u), s = 1 / (e + 1):
// t = 1 - 2s, 0.5 (1 + t) = 1 - s = e s and 1 - t^2 = 4 e s^2, so gelu'(x) = e s (1 + 2 x s u').
// This form has no cancellation (1 - t^2 with t near +-1 loses all digits for |x| of a few units);
// 2u is clamped to +-80, where e s is 1 or 0 in float and e s^2 cannot overflow.
static void portable_gelu_backward(const float *dy, const float *x, float *dx, size_t n) {
    const float c = 0.7978845608028654f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i], u = c * (v + 0.044715f * v * v * v), u2 = fminf(fmaxf(2.0f * u, -80.0f), 80.0f);
        float e = expf(u2), s = 1.0f / (e + 1.0f), du = c * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] = dy[i] * (e * s) * (1.0f + 2.0f * v * s * du);
    }
}

static void portable_silu(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

void vgk_portable_modulate_rows(const float *x, float *y, size_t rows, size_t n,
                                const float *shift, const float *scale) {
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < n; i++) y[r * n + i] = x[r * n + i] * (1.0f + scale[i]) + shift[i];
}

void vgk_portable_gated_add_rows(float *x, const float *r, size_t rows, size_t n, const float *gate) {
    for (size_t j = 0; j < rows; j++)
        for (size_t i = 0; i < n; i++) x[j * n + i] += gate ? gate[i] * r[j * n + i] : r[j * n + i];
}

void vgk_portable_add_bias_rows(float *y, size_t rows, size_t n, size_t ld, const float *bias) {
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < n; i++) y[r * ld + i] += bias[i];
}

void vgk_portable_rope(float *x, size_t tokens, size_t heads, size_t d, size_t ld,
                       const float *cos_t, const float *sin_t) {
    size_t half = d / 2;
    for (size_t t = 0; t < tokens; t++) {
        const float *c = cos_t + t * half, *s = sin_t + t * half;
        for (size_t h = 0; h < heads; h++) {
            float *v = x + t * ld + h * d;
            for (size_t i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = a * s[i] + b * c[i];
            }
        }
    }
}

static const vgk_ops portable_ops = {
    .isa = VGK_ISA_PORTABLE,
    .name = "portable",
    .f16_to_f32 = vgk_portable_f16_to_f32,
    .f32_to_f16 = vgk_portable_f32_to_f16,
    .quantize_act = portable_quantize_act,
    .gemm_q8 = portable_gemm_q8,
    .gemm_q4 = portable_gemm_q4,
    .softmax_rows = portable_softmax_rows,
    .layernorm_rows = vgk_portable_layernorm_rows,
    .rmsnorm_rows = vgk_portable_rmsnorm_rows,
    .attn_block_update = portable_attn_block_update,
    .gelu = portable_gelu,
    .gelu_backward = portable_gelu_backward,
    .silu = portable_silu,
    .modulate_rows = vgk_portable_modulate_rows,
    .gated_add_rows = vgk_portable_gated_add_rows,
    .add_bias_rows = vgk_portable_add_bias_rows,
    .rope = vgk_portable_rope,
};

const vgk_ops *vgk_ops_portable(void) { return &portable_ops; }
