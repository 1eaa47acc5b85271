// The AVX2 + FMA + F16C path (x86-64). Every function carries the target attribute, so this file
// compiles with the package's default flags and runs only after vgk_ops_get checked the CPU.
#include "internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#pragma STDC FP_CONTRACT OFF
#define VGK_AVX2 __attribute__((target("avx2,fma,f16c")))

// MARK: helpers

static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/// Lanes [0, rem) set, for rem in [0, 8].
static VGK_AVX2 inline __m256i tail_mask(size_t rem) {
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - rem));
}

static VGK_AVX2 inline float hsum_ps(__m256 v) {
    // ((0+1) + (2+3)) + ((4+5) + (6+7)): vgk_hsum8's order.
    __m256 h = _mm256_hadd_ps(v, v);
    h = _mm256_hadd_ps(h, h);
    return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

/// Totals of 8 accumulators at once: [t(a0), t(a1), ..., t(a7)] with each total in vgk_hsum8's order.
static VGK_AVX2 inline __m256 hsum8x8_ps(__m256 a0, __m256 a1, __m256 a2, __m256 a3,
                                          __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
    __m256 g0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m256 g1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20), _mm256_permute2f128_ps(g0, g1, 0x31));
}

static VGK_AVX2 inline __m256i hsum8x8_epi32(__m256i a0, __m256i a1, __m256i a2, __m256i a3,
                                             __m256i a4, __m256i a5, __m256i a6, __m256i a7) {
    __m256i g0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    __m256i g1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a4, a5), _mm256_hadd_epi32(a6, a7));
    return _mm256_add_epi32(_mm256_permute2x128_si256(g0, g1, 0x20), _mm256_permute2x128_si256(g0, g1, 0x31));
}

/// Stores a 4 x 2 tile given as [r0c0, r0c1, r1c0, r1c1, r2c0, r2c1, r3c0, r3c1].
static VGK_AVX2 inline void store_tile_4x2(float *y, size_t ldy, __m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    _mm_storel_pi((__m64 *)y, lo);
    _mm_storeh_pi((__m64 *)(y + ldy), lo);
    _mm_storel_pi((__m64 *)(y + 2 * ldy), hi);
    _mm_storeh_pi((__m64 *)(y + 3 * ldy), hi);
}

/// Row factors [a0, a0, a1, a1, a2, a2, a3, a3] and column factors [b0, b1, b0, b1, ...] of a 4 x 2 tile.
static VGK_AVX2 inline __m256 rows_4x2(const float *a) { return _mm256_setr_ps(a[0], a[0], a[1], a[1], a[2], a[2], a[3], a[3]); }
static VGK_AVX2 inline __m256 cols_4x2(const float *b) { return _mm256_setr_ps(b[0], b[1], b[0], b[1], b[0], b[1], b[0], b[1]); }

static VGK_AVX2 inline float hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static VGK_AVX2 inline int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/// e^x for 8 lanes: x = n ln2 + r, |r| <= ln2 / 2, degree-6 Taylor polynomial (relative error
/// ~2e-7), 2^n through the exponent bits. Lanes below -87.3 (including -inf) give exactly 0.
static VGK_AVX2 inline __m256 exp_ps(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365447505531f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, y);
}

// MARK: conversions

static VGK_AVX2 void avx2_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    vgk_portable_f16_to_f32(src + i, dst + i, n - i);
}

static VGK_AVX2 void avx2_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    vgk_portable_f32_to_f16(src + i, dst + i, n - i);
}

// MARK: activation quantisation

static VGK_AVX2 float absmax_ps(const float *x, size_t k) {
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= k; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(signbit, _mm256_loadu_ps(x + i)));
    if (i < k) m = _mm256_max_ps(m, _mm256_andnot_ps(signbit, _mm256_maskload_ps(x + i, tail_mask(k - i))));
    return hmax_ps(m);
}

/// 32 floats -> 32 codes u = clamp(round(x * inv), -r, r) + r + 1, rounding like vgk_round_clamp.
static VGK_AVX2 inline __m256i quantize32(const float *x, __m256 inv, __m256i lo, __m256i hi, __m256i offset) {
    const __m256 half = _mm256_set1_ps(0.5f), signbit = _mm256_set1_ps(-0.0f);
    __m256i q[4];
    for (int j = 0; j < 4; j++) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * j), inv);
        v = _mm256_add_ps(v, _mm256_or_ps(half, _mm256_and_ps(v, signbit)));
        q[j] = _mm256_cvttps_epi32(v);
    }
    __m256i ab = _mm256_packs_epi32(q[0], q[1]), cd = _mm256_packs_epi32(q[2], q[3]);
    __m256i r = _mm256_packs_epi16(ab, cd);
    r = _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    r = _mm256_min_epi8(_mm256_max_epi8(r, lo), hi);
    return _mm256_add_epi8(r, offset);
}

static VGK_AVX2 void avx2_quantize_act(const float *x, size_t k, size_t kp, int32_t range, uint8_t *u, float *scale) {
    float amax = absmax_ps(x, k);
    float inv = amax > 0.0f ? (float)range / amax : 0.0f;
    __m256 vinv = _mm256_set1_ps(inv);
    __m256i lo = _mm256_set1_epi8((char)-range), hi = _mm256_set1_epi8((char)range), off = _mm256_set1_epi8((char)(range + 1));
    size_t i = 0;
    for (; i + 32 <= k; i += 32) _mm256_storeu_si256((__m256i *)(u + i), quantize32(x + i, vinv, lo, hi, off));
    vgk_quantize_act_tail(x, i, k, kp, range, inv, u);
    *scale = amax / (float)range;
}

// MARK: int8 GEMM

/// One 32-byte step of an int8 dot: u (u8, <= 127) * w (s8): a pair sum stays inside int16 (2 * 127 * 127).
#define Q8_STEP(acc, u, w) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, w), ones))
#define LOAD(p) _mm256_loadu_si256((const __m256i *)(p))

static VGK_AVX2 inline void q8_store(const vgk_act *a, const vgk_weights_q8 *w, const float *bias, float *y, size_t ldy,
                                     size_t m, size_t n, int32_t isum) {
    float v = a->scale[m] * w->scale[n] * (float)(isum - a->offset * w->wsum[n]);
    y[m * ldy + n] = bias ? v + bias[n] : v;
}

static VGK_AVX2 void avx2_gemm_q8(const vgk_act *a, const vgk_weights_q8 *w, const float *bias,
                                  float *y, size_t ldy, size_t m0, size_t m1, size_t n0, size_t n1) {
    const size_t kp = a->kp;
    const __m256i ones = _mm256_set1_epi16(1);
    size_t m = m0;
    for (; m + 4 <= m1; m += 4) {
        const uint8_t *u0 = a->u + m * kp, *u1 = u0 + kp, *u2 = u1 + kp, *u3 = u2 + kp;
        size_t n = n0;
        for (; n + 2 <= n1; n += 2) {
            const int8_t *w0 = w->q + n * kp, *w1 = w0 + kp;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
            __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (size_t k = 0; k < kp; k += 32) {
                __m256i wa = LOAD(w0 + k), wb = LOAD(w1 + k), u;
                u = LOAD(u0 + k); Q8_STEP(c00, u, wa); Q8_STEP(c01, u, wb);
                u = LOAD(u1 + k); Q8_STEP(c10, u, wa); Q8_STEP(c11, u, wb);
                u = LOAD(u2 + k); Q8_STEP(c20, u, wa); Q8_STEP(c21, u, wb);
                u = LOAD(u3 + k); Q8_STEP(c30, u, wa); Q8_STEP(c31, u, wb);
            }
            // Same arithmetic as q8_store, eight outputs at once: (sa * sw) * float(isum - offset * wsum) + bias.
            __m256i isum = hsum8x8_epi32(c00, c01, c10, c11, c20, c21, c30, c31);
            __m256i wsum = _mm256_setr_epi32(w->wsum[n], w->wsum[n + 1], w->wsum[n], w->wsum[n + 1],
                                             w->wsum[n], w->wsum[n + 1], w->wsum[n], w->wsum[n + 1]);
            isum = _mm256_sub_epi32(isum, _mm256_mullo_epi32(wsum, _mm256_set1_epi32(a->offset)));
            __m256 v = _mm256_mul_ps(_mm256_mul_ps(rows_4x2(a->scale + m), cols_4x2(w->scale + n)), _mm256_cvtepi32_ps(isum));
            if (bias) v = _mm256_add_ps(v, cols_4x2(bias + n));
            store_tile_4x2(y + m * ldy + n, ldy, v);
        }
        for (; n < n1; n++) {          // odd column: 4 x 1
            const int8_t *w0 = w->q + n * kp;
            __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
            for (size_t k = 0; k < kp; k += 32) {
                __m256i wa = LOAD(w0 + k);
                Q8_STEP(c0, LOAD(u0 + k), wa); Q8_STEP(c1, LOAD(u1 + k), wa);
                Q8_STEP(c2, LOAD(u2 + k), wa); Q8_STEP(c3, LOAD(u3 + k), wa);
            }
            q8_store(a, w, bias, y, ldy, m, n, hsum_epi32(c0)); q8_store(a, w, bias, y, ldy, m + 1, n, hsum_epi32(c1));
            q8_store(a, w, bias, y, ldy, m + 2, n, hsum_epi32(c2)); q8_store(a, w, bias, y, ldy, m + 3, n, hsum_epi32(c3));
        }
    }
    for (; m < m1; m++) {              // leftover rows: 1 x 1
        const uint8_t *u0 = a->u + m * kp;
        for (size_t n = n0; n < n1; n++) {
            const int8_t *w0 = w->q + n * kp;
            __m256i c = _mm256_setzero_si256();
            for (size_t k = 0; k < kp; k += 32) Q8_STEP(c, LOAD(u0 + k), LOAD(w0 + k));
            q8_store(a, w, bias, y, ldy, m, n, hsum_epi32(c));
        }
    }
}

// MARK: int4 GEMM

/// 16 bytes of a q4 group -> 32 signed weights (nib - 8), elements in order.
static VGK_AVX2 inline __m256i unpack_q4(const uint8_t *b) {
    const __m128i lowmask = _mm_set1_epi8(0x0F);
    __m128i v = _mm_loadu_si128((const __m128i *)b);
    __m128i lo = _mm_and_si128(v, lowmask), hi = _mm_and_si128(_mm_srli_epi16(v, 4), lowmask);
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

/// u (u8, <= 255) * w (s8 in [-8, 7]) pairs stay far from int16 saturation (2 * 255 * 8); madd with
/// the group's integer scale (|s| <= 1023) widens to int32 lanes that hold 64 groups without overflow.
#define Q4_STEP(acc, u, w, s) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, w), s))

static VGK_AVX2 inline void q4_store(const vgk_act *a, const vgk_weights_q4 *w, const float *bias, float *y, size_t ldy,
                                     size_t m, size_t n, __m256 lanes) {
    float v = a->scale[m] * (w->rowscale[n] * (hsum_ps(lanes) - w->corr[n]));
    y[m * ldy + n] = bias ? v + bias[n] : v;
}

/// The 1 x 1 q4 dot (edges of the tile grid), in the lane arithmetic of the portable reference.
static VGK_AVX2 inline __m256 q4_dot_lanes(const uint8_t *u, const uint8_t *b, const int16_t *s, size_t groups) {
    __m256 f = _mm256_setzero_ps();
    for (size_t g0 = 0; g0 < groups; g0 += VGK_Q4_FLUSH_GROUPS) {
        size_t g1 = g0 + VGK_Q4_FLUSH_GROUPS < groups ? g0 + VGK_Q4_FLUSH_GROUPS : groups;
        __m256i c = _mm256_setzero_si256();
        for (size_t g = g0; g < g1; g++) Q4_STEP(c, LOAD(u + 32 * g), unpack_q4(b + 16 * g), _mm256_set1_epi16(s[g]));
        f = _mm256_add_ps(f, _mm256_cvtepi32_ps(c));
    }
    return f;
}

static VGK_AVX2 void avx2_gemm_q4(const vgk_act *a, const vgk_weights_q4 *w, const float *bias,
                                  float *y, size_t ldy, size_t m0, size_t m1, size_t n0, size_t n1) {
    const size_t kp = a->kp, groups = kp / VGK_QBLOCK, wstride = kp / 2;
    size_t m = m0;
    // 8 x 1 tiles: each unpacked weight group serves 8 rows.
    for (; m + 8 <= m1; m += 8) {
        const uint8_t *u0 = a->u + m * kp;
        for (size_t n = n0; n < n1; n++) {
            const uint8_t *b0 = w->nib + n * wstride;
            const int16_t *s0 = w->iscale + n * groups;
            __m256 f[8];
            for (size_t g0 = 0; g0 < groups; g0 += VGK_Q4_FLUSH_GROUPS) {
                size_t g1 = g0 + VGK_Q4_FLUSH_GROUPS < groups ? g0 + VGK_Q4_FLUSH_GROUPS : groups;
                __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
                for (size_t g = g0; g < g1; g++) {
                    __m256i wv = unpack_q4(b0 + 16 * g), sv = _mm256_set1_epi16(s0[g]);
                    const uint8_t *ug = u0 + 32 * g;
                    Q4_STEP(c0, LOAD(ug), wv, sv);          Q4_STEP(c1, LOAD(ug + kp), wv, sv);
                    Q4_STEP(c2, LOAD(ug + 2 * kp), wv, sv); Q4_STEP(c3, LOAD(ug + 3 * kp), wv, sv);
                    Q4_STEP(c4, LOAD(ug + 4 * kp), wv, sv); Q4_STEP(c5, LOAD(ug + 5 * kp), wv, sv);
                    Q4_STEP(c6, LOAD(ug + 6 * kp), wv, sv); Q4_STEP(c7, LOAD(ug + 7 * kp), wv, sv);
                }
                // The float lanes live in memory between flushes (rare: one per 64 groups), so the
                // inner loop keeps all 16 registers for the integer work. 0 + x == x: the first flush
                // stores instead of adding, with the same bits.
                __m256i c[8] = {c0, c1, c2, c3, c4, c5, c6, c7};
                for (int r = 0; r < 8; r++)
                    f[r] = g0 == 0 ? _mm256_cvtepi32_ps(c[r]) : _mm256_add_ps(f[r], _mm256_cvtepi32_ps(c[r]));
            }
            // Same arithmetic as q4_store, eight rows at once: sa * (rowscale * (total - corr)) + bias.
            __m256 t = hsum8x8_ps(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]);
            __m256 v = _mm256_mul_ps(_mm256_set1_ps(w->rowscale[n]), _mm256_sub_ps(t, _mm256_set1_ps(w->corr[n])));
            v = _mm256_mul_ps(_mm256_loadu_ps(a->scale + m), v);
            if (bias) v = _mm256_add_ps(v, _mm256_set1_ps(bias[n]));
            float out[8];
            _mm256_storeu_ps(out, v);
            for (int r = 0; r < 8; r++) y[(m + r) * ldy + n] = out[r];
        }
    }
    for (; m < m1; m++) {
        const uint8_t *u0 = a->u + m * kp;
        for (size_t n = n0; n < n1; n++)
            q4_store(a, w, bias, y, ldy, m, n, q4_dot_lanes(u0, w->nib + n * wstride, w->iscale + n * groups, groups));
    }
}

// MARK: row-wise reductions

static VGK_AVX2 void avx2_softmax_rows(float *x, size_t rows, size_t n, size_t ld) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * ld;
        size_t full = n & ~(size_t)7, rem = n - full;
        __m256i tm = tail_mask(rem);
        __m256 vm = ninf;
        for (size_t i = 0; i < full; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(row + i));
        if (rem) vm = _mm256_max_ps(vm, _mm256_blendv_ps(ninf, _mm256_maskload_ps(row + full, tm), _mm256_castsi256_ps(tm)));
        float mx = hmax_ps(vm);
        if (mx == -INFINITY) { memset(row, 0, n * sizeof(float)); continue; }
        __m256 vmx = _mm256_set1_ps(mx), vs = _mm256_setzero_ps();
        for (size_t i = 0; i < full; i += 8) {
            __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(row + i), vmx));
            _mm256_storeu_ps(row + i, e);
            vs = _mm256_add_ps(vs, e);
        }
        if (rem) {
            __m256 e = exp_ps(_mm256_sub_ps(_mm256_blendv_ps(ninf, _mm256_maskload_ps(row + full, tm), _mm256_castsi256_ps(tm)), vmx));
            _mm256_maskstore_ps(row + full, tm, e);
            vs = _mm256_add_ps(vs, e);
        }
        __m256 inv = _mm256_set1_ps(1.0f / hsum_ps(vs));
        for (size_t i = 0; i < full; i += 8) _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), inv));
        if (rem) _mm256_maskstore_ps(row + full, tm, _mm256_mul_ps(_mm256_maskload_ps(row + full, tm), inv));
    }
}

static VGK_AVX2 void avx2_layernorm_rows(const float *x, float *y, size_t rows, size_t n,
                                         const float *gamma, const float *beta, float eps) {
    size_t full = n & ~(size_t)7, rem = n - full;
    __m256i tm = tail_mask(rem);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        __m256 vs = _mm256_setzero_ps();
        for (size_t i = 0; i < full; i += 8) vs = _mm256_add_ps(vs, _mm256_loadu_ps(xr + i));
        if (rem) vs = _mm256_add_ps(vs, _mm256_maskload_ps(xr + full, tm));
        float mean = hsum_ps(vs) / (float)n;
        __m256 vmean = _mm256_set1_ps(mean), vv = _mm256_setzero_ps();
        for (size_t i = 0; i < full; i += 8) { __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + i), vmean); vv = _mm256_fmadd_ps(d, d, vv); }
        if (rem) {
            __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(xr + full, tm), vmean), _mm256_castsi256_ps(tm));
            vv = _mm256_fmadd_ps(d, d, vv);
        }
        float rstd = 1.0f / sqrtf(hsum_ps(vv) / (float)n + eps);
        __m256 vr = _mm256_set1_ps(rstd);
        size_t i = 0;
        for (; i < full; i += 8) {
            __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vmean), vr);
            if (gamma) v = _mm256_mul_ps(v, _mm256_loadu_ps(gamma + i));
            if (beta) v = _mm256_add_ps(v, _mm256_loadu_ps(beta + i));
            _mm256_storeu_ps(yr + i, v);
        }
        for (; i < n; i++) {
            float v = (xr[i] - mean) * rstd;
            if (gamma) v *= gamma[i];
            if (beta) v += beta[i];
            yr[i] = v;
        }
    }
}

static VGK_AVX2 void avx2_rmsnorm_rows(const float *x, float *y, size_t rows, size_t n, const float *gamma, float eps) {
    size_t full = n & ~(size_t)7, rem = n - full;
    __m256i tm = tail_mask(rem);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        __m256 vs = _mm256_setzero_ps();
        for (size_t i = 0; i < full; i += 8) { __m256 v = _mm256_loadu_ps(xr + i); vs = _mm256_fmadd_ps(v, v, vs); }
        if (rem) { __m256 v = _mm256_maskload_ps(xr + full, tm); vs = _mm256_fmadd_ps(v, v, vs); }
        float rs = 1.0f / sqrtf(hsum_ps(vs) / (float)n + eps);
        __m256 vr = _mm256_set1_ps(rs);
        size_t i = 0;
        for (; i < full; i += 8) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + i), vr);
            if (gamma) v = _mm256_mul_ps(v, _mm256_loadu_ps(gamma + i));
            _mm256_storeu_ps(yr + i, v);
        }
        for (; i < n; i++) yr[i] = gamma ? xr[i] * rs * gamma[i] : xr[i] * rs;
    }
}

static VGK_AVX2 void avx2_attn_block_update(float *s, size_t rows, size_t cols, size_t lds,
                                            float *m, float *l, float *o, size_t ldo, size_t dv) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    size_t full = cols & ~(size_t)7, rem = cols - full;
    __m256i tm = tail_mask(rem);
    for (size_t r = 0; r < rows; r++) {
        float *sr = s + r * lds;
        __m256 vm = ninf;
        for (size_t c = 0; c < full; c += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(sr + c));
        if (rem) vm = _mm256_max_ps(vm, _mm256_blendv_ps(ninf, _mm256_maskload_ps(sr + full, tm), _mm256_castsi256_ps(tm)));
        float mx = hmax_ps(vm);
        if (m[r] > mx) mx = m[r];
        float corr = (m[r] == -INFINITY) ? 0.0f : expf(m[r] - mx);
        __m256 vmx = _mm256_set1_ps(mx == -INFINITY ? 0.0f : mx), vs = _mm256_setzero_ps();
        for (size_t c = 0; c < full; c += 8) {
            __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(sr + c), vmx));
            _mm256_storeu_ps(sr + c, e);
            vs = _mm256_add_ps(vs, e);
        }
        if (rem) {
            __m256 e = exp_ps(_mm256_sub_ps(_mm256_blendv_ps(ninf, _mm256_maskload_ps(sr + full, tm), _mm256_castsi256_ps(tm)), vmx));
            _mm256_maskstore_ps(sr + full, tm, e);
            vs = _mm256_add_ps(vs, e);
        }
        l[r] = l[r] * corr + hsum_ps(vs);
        m[r] = mx;
        float *orow = o + r * ldo;
        __m256 vc = _mm256_set1_ps(corr);
        size_t c = 0;
        for (; c + 8 <= dv; c += 8) _mm256_storeu_ps(orow + c, _mm256_mul_ps(_mm256_loadu_ps(orow + c), vc));
        for (; c < dv; c++) orow[c] *= corr;
    }
}

// MARK: elementwise

static VGK_AVX2 inline __m256 gelu_ps(__m256 v) {
    // tanh(u) = 1 - 2 / (e^{2u} + 1)
    __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                             _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), _mm256_mul_ps(v, v), v));
    __m256 e = exp_ps(_mm256_add_ps(u, u));
    __m256 t = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), t));
}

// dy * gelu'(x) = dy * e s (1 + 2 x s u'), e = exp(2u), s = 1 / (e + 1): the same as 0.5 (1 + t) +
// 0.5 x (1 - t^2) u' with t = tanh(u) = 1 - 2s, written without the cancellation in 1 - t^2 (see portable.c).
static VGK_AVX2 inline __m256 gelu_backward_ps(__m256 d, __m256 v) {
    const __m256 c = _mm256_set1_ps(0.7978845608028654f), one = _mm256_set1_ps(1.0f);
    __m256 v2 = _mm256_mul_ps(v, v);
    __m256 u = _mm256_mul_ps(c, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), v2, v));
    __m256 u2 = _mm256_max_ps(_mm256_min_ps(_mm256_add_ps(u, u), _mm256_set1_ps(80.0f)), _mm256_set1_ps(-80.0f));
    __m256 e = exp_ps(u2);
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(e, one));
    __m256 du = _mm256_mul_ps(c, _mm256_fmadd_ps(_mm256_set1_ps(3.0f * 0.044715f), v2, one));
    __m256 g = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_add_ps(v, v), s), du, one);
    return _mm256_mul_ps(d, _mm256_mul_ps(_mm256_mul_ps(e, s), g));
}

static VGK_AVX2 inline __m256 silu_ps(__m256 v) {
    __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), v));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static VGK_AVX2 void avx2_gelu(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu_ps(_mm256_loadu_ps(x + i)));
    if (i < n) { __m256i tm = tail_mask(n - i); _mm256_maskstore_ps(y + i, tm, gelu_ps(_mm256_maskload_ps(x + i, tm))); }
}

static VGK_AVX2 void avx2_gelu_backward(const float *dy, const float *x, float *dx, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dx + i, gelu_backward_ps(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i tm = tail_mask(n - i);
        _mm256_maskstore_ps(dx + i, tm, gelu_backward_ps(_mm256_maskload_ps(dy + i, tm), _mm256_maskload_ps(x + i, tm)));
    }
}

static VGK_AVX2 void avx2_silu(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, silu_ps(_mm256_loadu_ps(x + i)));
    if (i < n) { __m256i tm = tail_mask(n - i); _mm256_maskstore_ps(y + i, tm, silu_ps(_mm256_maskload_ps(x + i, tm))); }
}

static const vgk_ops avx2_ops = {
    .isa = VGK_ISA_AVX2,
    .name = "avx2",
    .f16_to_f32 = avx2_f16_to_f32,
    .f32_to_f16 = avx2_f32_to_f16,
    .quantize_act = avx2_quantize_act,
    .gemm_q8 = avx2_gemm_q8,
    .gemm_q4 = avx2_gemm_q4,
    .softmax_rows = avx2_softmax_rows,
    .layernorm_rows = avx2_layernorm_rows,
    .rmsnorm_rows = avx2_rmsnorm_rows,
    .attn_block_update = avx2_attn_block_update,
    .gelu = avx2_gelu,
    .gelu_backward = avx2_gelu_backward,
    .silu = avx2_silu,
    // Memory-bound elementwise passes: the portable loops are as fast (the compiler vectorises them).
    .modulate_rows = vgk_portable_modulate_rows,
    .gated_add_rows = vgk_portable_gated_add_rows,
    .add_bias_rows = vgk_portable_add_bias_rows,
    .rope = vgk_portable_rope,
};

const vgk_ops *vgk_ops_avx2(void) { return &avx2_ops; }

#else
const vgk_ops *vgk_ops_avx2(void) { return NULL; }
#endif
