// Shared between the code paths of CVGKernels; not part of the public header.
#ifndef VGK_INTERNAL_H
#define VGK_INTERNAL_H
#include "vgkernels.h"
#include <math.h>
#include <string.h>

const vgk_ops *vgk_ops_portable(void);
const vgk_ops *vgk_ops_avx2(void);   // NULL when not compiled (non-x86)
const vgk_ops *vgk_ops_neon(void);   // NULL when not compiled (non-arm64)

// Scalar pieces every path reuses for tails and for the operations that need no hand-written SIMD.
void vgk_portable_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void vgk_portable_f32_to_f16(const float *src, uint16_t *dst, size_t n);
void vgk_portable_layernorm_rows(const float *x, float *y, size_t rows, size_t n,
                                 const float *gamma, const float *beta, float eps);
void vgk_portable_rmsnorm_rows(const float *x, float *y, size_t rows, size_t n, const float *gamma, float eps);
void vgk_portable_modulate_rows(const float *x, float *y, size_t rows, size_t n,
                                const float *shift, const float *scale);
void vgk_portable_gated_add_rows(float *x, const float *r, size_t rows, size_t n, const float *gate);
void vgk_portable_add_bias_rows(float *y, size_t rows, size_t n, size_t ld, const float *bias);
void vgk_portable_rope(float *x, size_t tokens, size_t heads, size_t d, size_t ld,
                       const float *cos_t, const float *sin_t);

/// Shared by every path's quantisers so that codes are identical across paths given the same scale:
/// the nearest integer of v, ties away from zero, clamped to [-r, r].
static inline int32_t vgk_round_clamp(float v, int32_t r) {
    float t = v >= 0.0f ? v + 0.5f : v - 0.5f;
    int32_t i = (int32_t)t;
    return i > r ? r : (i < -r ? -r : i);
}

/// Scalar tail of every path's activation quantiser.
static inline void vgk_quantize_act_tail(const float *x, size_t from, size_t k, size_t kp, int32_t range,
                                         float inv, uint8_t *u) {
    for (size_t i = from; i < k; i++) u[i] = (uint8_t)(vgk_round_clamp(x[i] * inv, range) + range + 1);
    for (size_t i = k; i < kp; i++) u[i] = (uint8_t)(range + 1);
}

/// The fixed order in which 8 float lanes are summed on every path: ((0+1) + (2+3)) + ((4+5) + (6+7)),
/// the order of AVX2's horizontal-add tree.
static inline float vgk_hsum8(const float *l) {
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
#endif
