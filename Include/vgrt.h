/*
 * vgrt.h — text-to-video generation on the CPU. The whole C ABI of libvgrt, plain C99.
 *
 * Usage:
 *
 *     vg_model_params mp = vg_model_default_params();
 *     char err[256];
 *     vg_model *model = NULL;
 *     if (vg_model_load("Models/default.vgpk", &mp, &model, err, sizeof err) != VG_OK) {
 *         fprintf(stderr, "%s\n", err);
 *         return 1;
 *     }
 *     vg_context_params cp = vg_context_default_params();
 *     cp.n_threads = 2;
 *     vg_context *ctx = NULL;
 *     vg_context_new(model, &cp, &ctx);
 *     vg_generate_params gp = vg_generate_default_params();
 *     gp.seed = 42;
 *     vg_video *video = NULL;
 *     vg_status st = vg_generate(ctx, "a red ball moving right", &gp, &video);
 *     if (st == VG_OK) st = vg_video_save(video, "out.mp4", NULL);
 *     if (st != VG_OK) fprintf(stderr, "%s\n", vg_last_error(ctx));
 *     vg_video_free(video);
 *     vg_context_free(ctx);
 *     vg_model_free(model);
 *
 * Rules
 * - Every function validates its arguments and answers with a status; the library never aborts and
 *   never prints. Messages go to vg_last_error(ctx) and, when set, the context's log callback.
 * - Handles are opaque. Every *_free accepts NULL.
 * - A model is read-only after loading and may be shared by contexts in several threads; a context
 *   runs one request at a time. vg_cancel may be called from any thread.
 * - Same model + prompt + parameters + seed give the same bytes, whatever the thread count.
 * - Parameter structs come from vg_*_default_params(); new fields are only ever appended.
 */
#ifndef VGRT_H
#define VGRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VG_API __declspec(dllexport)
#else
#define VG_API __attribute__((visibility("default")))
#endif

#define VG_VERSION_MAJOR 0
#define VG_VERSION_MINOR 1
#define VG_VERSION_PATCH 0

/* ---- status --------------------------------------------------------------------------------- */

/** Every outcome; values are fixed forever (never renumbered). */
typedef enum vg_status {
    VG_OK = 0,                    /**< success */
    VG_ERR_INVALID_ARGUMENT = 1,  /**< a NULL where a value is needed, a value out of range */
    VG_ERR_IO = 2,                /**< a file could not be read or written */
    VG_ERR_BAD_MODEL = 3,         /**< the model file is corrupt, truncated or of another architecture */
    VG_ERR_UNSUPPORTED = 4,       /**< the model or this build cannot do what was asked */
    VG_ERR_OUT_OF_MEMORY = 5,     /**< an allocation failed */
    VG_ERR_ABORTED = 6,           /**< vg_cancel was called or the progress callback returned false */
    VG_ERR_INVALID_UTF8 = 7,      /**< the prompt is not valid UTF-8 */
    VG_ERR_LIMIT = 8,             /**< frames or resolution beyond the model's limits (checked before any allocation) */
    VG_ERR_ENCODE = 9,            /**< the video encoder failed */
    VG_ERR_INTERNAL = 10          /**< a bug in libvgrt; the message says where */
} vg_status;

/** A short English description of a status ("invalid argument", ...). Never NULL. */
VG_API const char *vg_status_string(vg_status status);

/** The library version as "MAJOR.MINOR.PATCH". Never NULL. */
VG_API const char *vg_version(void);

/* ---- model ---------------------------------------------------------------------------------- */

typedef struct vg_model vg_model;

typedef struct vg_model_params {
    int n_threads;               /**< threads used to decompress the file; default 1 */
    bool use_mmap;               /**< map the file instead of reading it; default false */
    uint64_t memory_budget;      /**< refuse models whose tensors need more bytes than this; 0 = no limit (default) */
} vg_model_params;

VG_API vg_model_params vg_model_default_params(void);

/**
 * Loads a .vgpk model. Every checksum and size is verified.
 * On failure *out is NULL and, if error_buf is not NULL, it receives a NUL-terminated message naming
 * the file, the tensor and the byte offset (truncated to error_buf_size - 1 bytes).
 * params may be NULL (defaults).
 */
VG_API vg_status vg_model_load(const char *path, const vg_model_params *params, vg_model **out,
                               char *error_buf, size_t error_buf_size);

VG_API void vg_model_free(vg_model *model);

/** The model's native clip: frames, width and height in pixels, and its default steps. NULL-safe (0). */
VG_API int vg_model_frames(const vg_model *model);
VG_API int vg_model_width(const vg_model *model);
VG_API int vg_model_height(const vg_model *model);
VG_API int vg_model_default_steps(const vg_model *model);

/* ---- context -------------------------------------------------------------------------------- */

typedef struct vg_context vg_context;

typedef enum vg_log_level { VG_LOG_DEBUG = 0, VG_LOG_INFO = 1, VG_LOG_WARN = 2, VG_LOG_ERROR = 3 } vg_log_level;

/** Called after every sampling step. Return false to stop (vg_generate then returns VG_ERR_ABORTED). */
typedef bool (*vg_progress_fn)(int step, int total_steps, double elapsed_seconds, void *user_data);
/** Called after every sampling step with the model's current prediction of the clean clip:
 *  rgb holds frames * height * width * 3 bytes, valid only during the call. */
typedef void (*vg_preview_fn)(int step, const uint8_t *rgb, int frames, int width, int height, void *user_data);
/** Log messages of this context. */
typedef void (*vg_log_fn)(vg_log_level level, const char *message, void *user_data);

typedef struct vg_context_params {
    int n_threads;               /**< compute threads, 1..256; default 1. libvgrt pins OpenBLAS to one thread. */
    vg_progress_fn progress;     /**< may be NULL (default) */
    vg_preview_fn preview;       /**< may be NULL (default) */
    vg_log_fn log;               /**< may be NULL (default) */
    void *user_data;             /**< passed to the three callbacks; default NULL */
} vg_context_params;

VG_API vg_context_params vg_context_default_params(void);

/** A context for `model` (which must outlive it). params may be NULL (defaults). */
VG_API vg_status vg_context_new(vg_model *model, const vg_context_params *params, vg_context **out);

VG_API void vg_context_free(vg_context *ctx);

/** The message of the last failed call on ctx ("" when none). Valid until the next call on ctx. NULL-safe. */
VG_API const char *vg_last_error(const vg_context *ctx);

/** Asks the running vg_generate on ctx to stop; it returns VG_ERR_ABORTED within one transformer
 *  block's time. Thread-safe; a no-op when nothing runs (the request is cleared at the next start). */
VG_API void vg_cancel(vg_context *ctx);

/* ---- generation ----------------------------------------------------------------------------- */

typedef struct vg_video vg_video;

typedef struct vg_generate_params {
    uint64_t seed;               /**< seed of the initial noise; default 0 */
    int steps;                   /**< Euler steps, 1..1000; 0 = the model's default (default) */
    float guidance;              /**< classifier-free guidance weight; < 0 = the model's default (default -1) */
    int frames;                  /**< frames to return, 1..the model's frames; 0 = all (default) */
    int width, height;           /**< 0 = the model's (default); other values give VG_ERR_LIMIT for now */
    int fps;                     /**< playback rate stored in the video, 1..240; default 8 */
    bool enhance;                /**< rewrite the prompt with the model's prompt enhancer; default true (ignored
                                      when the model has none; see vg_enhance_prompt) */
} vg_generate_params;

VG_API vg_generate_params vg_generate_default_params(void);

/**
 * Generates a clip for a UTF-8 prompt (up to 1 MiB; longer text is truncated to the model's token
 * limit; an empty prompt gives an unconditional clip). params may be NULL (defaults).
 * On success *out receives a video the caller frees with vg_video_free.
 */
VG_API vg_status vg_generate(vg_context *ctx, const char *prompt, const vg_generate_params *params, vg_video **out);

/**
 * Rewrites a short prompt into the detailed form the model follows best. Writes up to buf_size - 1
 * bytes and a NUL into buf (buf may be NULL when buf_size is 0) and returns the length the full
 * result needs (excluding the NUL), or a negative vg_status on failure (-VG_ERR_UNSUPPORTED when the
 * model has no enhancer).
 */
VG_API int64_t vg_enhance_prompt(vg_context *ctx, const char *prompt, char *buf, size_t buf_size);

/* ---- videos --------------------------------------------------------------------------------- */

/** NULL-safe accessors (0 / NULL for NULL). Frames are RGB24, row-major, frame after frame. */
VG_API int vg_video_frame_count(const vg_video *video);
VG_API int vg_video_width(const vg_video *video);
VG_API int vg_video_height(const vg_video *video);
VG_API int vg_video_fps(const vg_video *video);
VG_API const uint8_t *vg_video_data(const vg_video *video);
VG_API size_t vg_video_data_size(const vg_video *video);

typedef enum vg_video_format {
    VG_FORMAT_AUTO = 0,          /**< from the file extension: .mp4, .y4m, .png (a sequence), .gif */
    VG_FORMAT_MP4 = 1,           /**< H.264 (libx264), MPEG-4 Part 2 where x264 is missing */
    VG_FORMAT_GIF = 2,           /**< animated GIF (RGB 3-3-2 palette) */
    VG_FORMAT_PNG = 3,           /**< one PNG per frame: path "x.png" gives x-0000.png, x-0001.png, ... */
    VG_FORMAT_Y4M = 4            /**< uncompressed YUV4MPEG2 (4:2:0) */
} vg_video_format;

typedef struct vg_save_options {
    vg_video_format format;      /**< default VG_FORMAT_AUTO */
    int scale;                   /**< integer upscaling (nearest), 1..16; default 1 */
} vg_save_options;

VG_API vg_save_options vg_save_default_options(void);

/** Writes the video; the final name appears only when the file is complete. options may be NULL.
 *  On failure the message is in vg_video_last_error(video). */
VG_API vg_status vg_video_save(const vg_video *video, const char *path, const vg_save_options *options);

/** The message of the last failed vg_video_save on video ("" when none). NULL-safe. */
VG_API const char *vg_video_last_error(const vg_video *video);

VG_API void vg_video_free(vg_video *video);

#ifdef __cplusplus
}
#endif
#endif /* VGRT_H */
