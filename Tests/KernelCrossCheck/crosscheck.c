// Cross-check of the SIMD kernel paths against the portable path, in plain C so that it also runs
// for a foreign architecture under emulation (Scripts/test-neon.sh builds it for arm64 and runs it
// with qemu-aarch64; natively it checks AVX2). Integer GEMMs and quantisers must match bit for bit;
// float kernels within the stated relative error. Ends with the line "N passed, M failed".
#include "vgkernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float gauss(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    double u1 = ((rng >> 11) + 0.5) / 9007199254740992.0;
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    double u2 = ((rng >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}
static void fill(float *x, size_t n, float s) { for (size_t i = 0; i < n; i++) x[i] = gauss() * s; }
static void expect(int ok, const char *what, size_t a, size_t b) {
    if (ok) passed++; else { failed++; printf("FAIL %s (%zu, %zu)\n", what, a, b); }
}
static double relerr(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) { double d = (double)a[i] - b[i]; num += d * d; den += (double)b[i] * b[i]; }
    return sqrt(num / (den > 1e-30 ? den : 1e-30));
}

int main(void) {
    const vgk_ops *ref = vgk_ops_get(VGK_ISA_PORTABLE);
    const vgk_ops *simd = vgk_ops_get(VGK_ISA_NEON);
    if (!simd) simd = vgk_ops_get(VGK_ISA_AVX2);
    if (!simd) { printf("no SIMD path on this CPU\n0 passed, 0 failed, 1 skipped\n"); return 0; }
    printf("checking %s against %s\n", simd->name, ref->name);
    const size_t sizes[] = {1, 7, 33, 100, 257, 2100};

    // binary16: every value both ways.
    {
        static uint16_t h[65536], h2[65536], h3[65536];
        static float f[65536], f2[65536];
        for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
        ref->f16_to_f32(h, f, 65536); simd->f16_to_f32(h, f2, 65536);
        int ok = 1;
        for (int i = 0; i < 65536; i++) if (memcmp(&f[i], &f2[i], 4) != 0 && !(isnan(f[i]) && isnan(f2[i]))) ok = 0;
        expect(ok, "f16_to_f32 exhaustive", 65536, 0);
        ref->f32_to_f16(f, h2, 65536); simd->f32_to_f16(f, h3, 65536);
        ok = 1;
        for (int i = 0; i < 65536; i++) {
            int nan = (h[i] & 0x7C00) == 0x7C00 && (h[i] & 0x3FF);
            if (!nan && (h2[i] != h[i] || h3[i] != h[i])) ok = 0;
        }
        expect(ok, "f32_to_f16 round trip", 65536, 0);
        float r[4096]; uint16_t a[4096], b[4096];
        fill(r, 4096, 1000);
        ref->f32_to_f16(r, a, 4096); simd->f32_to_f16(r, b, 4096);
        expect(memcmp(a, b, sizeof a) == 0, "f32_to_f16 rounding", 4096, 0);
    }

    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t k = sizes[si], kp = (k + 31) / 32 * 32, m = 9, n = 5;
        float *x = malloc(m * k * 4), *w = malloc(n * k * 4), *bias = malloc(n * 4);
        fill(x, m * k, 2); fill(w, n * k, 1); fill(bias, n, 1);
        // Activation quantisers: identical codes and scales.
        uint8_t *u1 = malloc(m * kp), *u2 = malloc(m * kp);
        float s1[9], s2[9];
        for (int range = 63; range <= 127; range += 64) {
            for (size_t r = 0; r < m; r++) { ref->quantize_act(x + r * k, k, kp, range, u1 + r * kp, s1 + r);
                                             simd->quantize_act(x + r * k, k, kp, range, u2 + r * kp, s2 + r); }
            expect(memcmp(u1, u2, m * kp) == 0 && memcmp(s1, s2, sizeof s1) == 0, "quantize_act", k, (size_t)range);
        }
        // int8 GEMM: bit-identical.
        int8_t *q = malloc(n * kp); float wsc[5]; int32_t wsum[5];
        vgk_quantize_weights_q8(w, n, k, kp, q, wsc);
        vgk_prepare_q8(q, n, kp, wsum);
        for (size_t r = 0; r < m; r++) ref->quantize_act(x + r * k, k, kp, VGK_Q8_ACT_RANGE, u1 + r * kp, s1 + r);
        vgk_act act = {u1, s1, kp, VGK_Q8_ACT_RANGE + 1};
        vgk_weights_q8 wq = {q, wsc, wsum, kp};
        float y1[45], y2[45];
        ref->gemm_q8(&act, &wq, bias, y1, n, 0, m, 0, n); simd->gemm_q8(&act, &wq, bias, y2, n, 0, m, 0, n);
        expect(memcmp(y1, y2, sizeof y1) == 0, "gemm_q8 bits", k, 0);
        // int4 GEMM: bit-identical.
        uint8_t *nib = malloc(n * kp / 2); uint16_t *sh = malloc(n * kp / 32 * 2);
        int16_t *is = malloc(n * kp / 32 * 2); float rs[5], corr[5];
        vgk_quantize_weights_q4(w, n, k, kp, nib, sh);
        vgk_prepare_q4(nib, sh, n, kp, VGK_Q4_ACT_RANGE + 1, is, rs, corr);
        for (size_t r = 0; r < m; r++) ref->quantize_act(x + r * k, k, kp, VGK_Q4_ACT_RANGE, u1 + r * kp, s1 + r);
        act.offset = VGK_Q4_ACT_RANGE + 1;
        vgk_weights_q4 w4 = {nib, is, rs, corr, kp};
        ref->gemm_q4(&act, &w4, NULL, y1, n, 0, m, 0, n); simd->gemm_q4(&act, &w4, NULL, y2, n, 0, m, 0, n);
        expect(memcmp(y1, y2, sizeof y1) == 0, "gemm_q4 bits", k, 0);
        // Float kernels: within 1e-6 relative.
        float *a = malloc(m * k * 4), *b = malloc(m * k * 4);
        memcpy(a, x, m * k * 4); memcpy(b, x, m * k * 4);
        ref->softmax_rows(a, m, k, k); simd->softmax_rows(b, m, k, k);
        expect(relerr(b, a, m * k) < 1e-6, "softmax", k, 0);
        ref->layernorm_rows(x, a, m, k, NULL, NULL, 1e-5f); simd->layernorm_rows(x, b, m, k, NULL, NULL, 1e-5f);
        expect(relerr(b, a, m * k) < 1e-5, "layernorm", k, 0);
        ref->rmsnorm_rows(x, a, m, k, NULL, 1e-5f); simd->rmsnorm_rows(x, b, m, k, NULL, 1e-5f);
        expect(relerr(b, a, m * k) < 1e-5, "rmsnorm", k, 0);
        ref->silu(x, a, m * k); simd->silu(x, b, m * k);
        expect(relerr(b, a, m * k) < 1e-6, "silu", k, 0);
        ref->gelu(x, a, m * k); simd->gelu(x, b, m * k);
        expect(relerr(b, a, m * k) < 1e-5, "gelu", k, 0);
        // gelu_backward: dy from the second half of x reversed, so dy and x differ; also in place (dx = dy).
        float *dy = malloc(m * k * 4);
        for (size_t i = 0; i < m * k; i++) dy[i] = x[m * k - 1 - i];
        ref->gelu_backward(dy, x, a, m * k); simd->gelu_backward(dy, x, b, m * k);
        expect(relerr(b, a, m * k) < 1e-5, "gelu_backward", k, 0);
        memcpy(b, dy, m * k * 4); simd->gelu_backward(b, x, b, m * k);
        float *c2 = malloc(m * k * 4); simd->gelu_backward(dy, x, c2, m * k);
        expect(memcmp(b, c2, m * k * 4) == 0, "gelu_backward in place", k, 0);
        free(dy); free(c2);
        // Online-softmax block update.
        float m1[9], l1[9], m2[9], l2[9], o1[9 * 8], o2[9 * 8];
        for (int r = 0; r < 9; r++) { m1[r] = m2[r] = r % 2 ? -INFINITY : 0.5f; l1[r] = l2[r] = r % 2 ? 0 : 2; }
        for (int i = 0; i < 72; i++) o1[i] = o2[i] = (float)i;
        memcpy(a, x, m * k * 4); memcpy(b, x, m * k * 4);
        ref->attn_block_update(a, m, k, k, m1, l1, o1, 8, 8); simd->attn_block_update(b, m, k, k, m2, l2, o2, 8, 8);
        expect(relerr(b, a, m * k) < 1e-6 && relerr(l2, l1, 9) < 1e-6 && relerr(o2, o1, 72) < 1e-6 &&
               memcmp(m1, m2, sizeof m1) == 0, "attn_block_update", k, 0);
        free(x); free(w); free(bias); free(u1); free(u2); free(q); free(nib); free(sh); free(is); free(a); free(b);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
