// Run-time choice of the code path: by what the CPU reports, never by compile flags.
#include "internal.h"

static int cpu_has_avx2_fma_f16c(void) {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

const vgk_ops *vgk_ops_get(vgk_isa isa) {
    switch (isa) {
    case VGK_ISA_PORTABLE: return vgk_ops_portable();
    case VGK_ISA_AVX2: return cpu_has_avx2_fma_f16c() ? vgk_ops_avx2() : NULL;
    case VGK_ISA_NEON: return vgk_ops_neon();
    }
    return NULL;
}

vgk_isa vgk_isa_best(void) {
    if (vgk_ops_get(VGK_ISA_AVX2)) return VGK_ISA_AVX2;
    if (vgk_ops_get(VGK_ISA_NEON)) return VGK_ISA_NEON;
    return VGK_ISA_PORTABLE;
}
