// The parts of the C ABI that are plain data: default parameters, status strings, the version.
// Everything else is implemented in Swift (Sources/vgrt) behind the same header.
#include "vgrt.h"
#include <math.h>

vg_model_params vg_model_default_params(void) {
    vg_model_params p = {1, false, 0};
    return p;
}

vg_context_params vg_context_default_params(void) {
    vg_context_params p = {1, NULL, NULL, NULL, NULL};
    return p;
}

vg_generate_params vg_generate_default_params(void) {
    vg_generate_params p;
    p.seed = 0;
    p.steps = 0;
    p.guidance = -1.0f;
    p.frames = 0;
    p.width = 0;
    p.height = 0;
    p.fps = 8;
    p.enhance = true;
    return p;
}

vg_save_options vg_save_default_options(void) {
    vg_save_options o = {VG_FORMAT_AUTO, 1};
    return o;
}

const char *vg_status_string(vg_status status) {
    switch (status) {
    case VG_OK: return "ok";
    case VG_ERR_INVALID_ARGUMENT: return "invalid argument";
    case VG_ERR_IO: return "I/O error";
    case VG_ERR_BAD_MODEL: return "bad model file";
    case VG_ERR_UNSUPPORTED: return "unsupported";
    case VG_ERR_OUT_OF_MEMORY: return "out of memory";
    case VG_ERR_ABORTED: return "aborted";
    case VG_ERR_INVALID_UTF8: return "invalid UTF-8";
    case VG_ERR_LIMIT: return "beyond the model's limits";
    case VG_ERR_ENCODE: return "video encoding failed";
    case VG_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

#define VG_STR2(x) #x
#define VG_STR(x) VG_STR2(x)
const char *vg_version(void) {
    return VG_STR(VG_VERSION_MAJOR) "." VG_STR(VG_VERSION_MINOR) "." VG_STR(VG_VERSION_PATCH);
}
