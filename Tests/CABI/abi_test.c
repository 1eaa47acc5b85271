/*
 * Exercises libvgrt's C ABI from plain C99: bad input everywhere, limits, UTF-8, long prompts,
 * cancellation from another thread, determinism across contexts and thread counts, saving.
 * Usage: abi_test MODEL.vgpk OUTDIR   (prints "N passed, M failed")
 */
#include "vgrt.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int passed, failed;
#define CHECK(cond, ...) do { if (cond) passed++; else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static vg_status gen(vg_model *m, int threads, const char *prompt, uint64_t seed, vg_video **out) {
    vg_context_params cp = vg_context_default_params();
    cp.n_threads = threads;
    vg_context *ctx = NULL;
    vg_status st = vg_context_new(m, &cp, &ctx);
    if (st != VG_OK) return st;
    vg_generate_params gp = vg_generate_default_params();
    gp.seed = seed;
    st = vg_generate(ctx, prompt, &gp, out);
    vg_context_free(ctx);
    return st;
}

static int same(const vg_video *a, const vg_video *b) {
    return vg_video_data_size(a) == vg_video_data_size(b) && vg_video_data_size(a) > 0 &&
           memcmp(vg_video_data(a), vg_video_data(b), vg_video_data_size(a)) == 0;
}

struct job { vg_model *model; const char *prompt; uint64_t seed; vg_video *video; vg_status st; };
static void *run_job(void *arg) {
    struct job *j = arg;
    j->st = gen(j->model, 1, j->prompt, j->seed, &j->video);
    return NULL;
}

struct cancel_state { vg_context *ctx; int steps_seen; };
static bool on_progress(int step, int total, double elapsed, void *user) {
    struct cancel_state *s = user;
    (void)total; (void)elapsed;
    s->steps_seen = step;
    return true;
}
static void *cancel_soon(void *arg) {
    struct cancel_state *s = arg;
    while (s->steps_seen < 1) { struct timespec t = {0, 1000000}; nanosleep(&t, NULL); }
    vg_cancel(s->ctx);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) { printf("usage: abi_test MODEL.vgpk OUTDIR\n"); return 2; }
    char err[512], path[4096];
    printf("libvgrt %s\n", vg_version());

    /* NULL everywhere */
    vg_model *m = (vg_model *)1;
    CHECK(vg_model_load(NULL, NULL, &m, err, sizeof err) == VG_ERR_INVALID_ARGUMENT && m == NULL, "load(NULL path)");
    CHECK(vg_model_load(argv[1], NULL, NULL, err, sizeof err) == VG_ERR_INVALID_ARGUMENT, "load(NULL out)");
    CHECK(vg_model_load(argv[1], NULL, &m, NULL, 0) == VG_OK, "load without error buffer");
    vg_model_free(m);
    vg_model_free(NULL); vg_context_free(NULL); vg_video_free(NULL); vg_cancel(NULL);
    CHECK(vg_context_new(NULL, NULL, NULL) == VG_ERR_INVALID_ARGUMENT, "context_new(NULL)");
    CHECK(vg_generate(NULL, "x", NULL, NULL) == VG_ERR_INVALID_ARGUMENT, "generate(NULL ctx)");
    CHECK(vg_enhance_prompt(NULL, "x", NULL, 0) == -VG_ERR_INVALID_ARGUMENT, "enhance(NULL ctx)");
    CHECK(vg_video_frame_count(NULL) == 0 && vg_video_data(NULL) == NULL && vg_video_data_size(NULL) == 0, "video accessors NULL");
    CHECK(vg_video_save(NULL, "x.mp4", NULL) == VG_ERR_INVALID_ARGUMENT, "save(NULL video)");
    CHECK(strlen(vg_last_error(NULL)) == 0 && strlen(vg_video_last_error(NULL)) == 0, "last_error(NULL)");
    CHECK(vg_model_frames(NULL) == 0, "model_frames(NULL)");
    CHECK(strcmp(vg_status_string(VG_ERR_ABORTED), "aborted") == 0, "status string");

    /* bad files */
    CHECK(vg_model_load("/nonexistent/model.vgpk", NULL, &m, err, sizeof err) == VG_ERR_IO && m == NULL && strlen(err) > 0, "missing file: %s", err);
    snprintf(path, sizeof path, "%s/garbage.vgpk", argv[2]);
    FILE *f = fopen(path, "wb"); fputs("VGPK but not really a model file", f); fclose(f);
    CHECK(vg_model_load(path, NULL, &m, err, sizeof err) == VG_ERR_BAD_MODEL && m == NULL, "garbage file: %s", err);
    vg_model_params mp = vg_model_default_params();
    mp.n_threads = 0;
    CHECK(vg_model_load(argv[1], &mp, &m, err, sizeof err) == VG_ERR_INVALID_ARGUMENT, "n_threads 0");
    mp.n_threads = 2; mp.memory_budget = 1000;
    CHECK(vg_model_load(argv[1], &mp, &m, err, sizeof err) == VG_ERR_LIMIT, "memory budget: %s", err);
    char small[8];
    CHECK(vg_model_load("/nonexistent/x.vgpk", NULL, &m, small, sizeof small) == VG_ERR_IO && strlen(small) == 7, "error truncation");

    mp = vg_model_default_params();
    mp.n_threads = 2;
    CHECK(vg_model_load(argv[1], &mp, &m, err, sizeof err) == VG_OK, "load: %s", err);
    int F = vg_model_frames(m), W = vg_model_width(m), H = vg_model_height(m);
    CHECK(F > 0 && W > 0 && H > 0, "model geometry");

    vg_context_params cp = vg_context_default_params();
    vg_context *ctx = NULL;
    cp.n_threads = 0;
    CHECK(vg_context_new(m, &cp, &ctx) == VG_ERR_INVALID_ARGUMENT && ctx == NULL, "context n_threads 0");
    cp.n_threads = 2;
    CHECK(vg_context_new(m, &cp, &ctx) == VG_OK, "context_new");

    /* limits: checked before any allocation */
    vg_video *v = NULL;
    vg_generate_params gp = vg_generate_default_params();
    gp.frames = F + 1;
    CHECK(vg_generate(ctx, "a red ball", &gp, &v) == VG_ERR_LIMIT && v == NULL, "frames beyond the model");
    gp.frames = -1;
    CHECK(vg_generate(ctx, "a red ball", &gp, &v) == VG_ERR_LIMIT, "negative frames");
    gp = vg_generate_default_params(); gp.width = 100000; gp.height = 100000;
    CHECK(vg_generate(ctx, "a red ball", &gp, &v) == VG_ERR_LIMIT && strlen(vg_last_error(ctx)) > 0, "huge resolution: %s", vg_last_error(ctx));
    gp = vg_generate_default_params(); gp.steps = 100000;
    CHECK(vg_generate(ctx, "a red ball", &gp, &v) == VG_ERR_INVALID_ARGUMENT, "steps");
    gp = vg_generate_default_params(); gp.fps = 0;
    CHECK(vg_generate(ctx, "a red ball", &gp, &v) == VG_ERR_INVALID_ARGUMENT, "fps 0");
    CHECK(vg_generate(ctx, NULL, NULL, &v) == VG_ERR_INVALID_ARGUMENT, "NULL prompt");
    CHECK(vg_generate(ctx, "x", NULL, NULL) == VG_ERR_INVALID_ARGUMENT, "NULL out");

    /* UTF-8 and lengths */
    CHECK(vg_generate(ctx, "bad \xff\xfe utf8", NULL, &v) == VG_ERR_INVALID_UTF8 && v == NULL, "invalid UTF-8");
    CHECK(vg_enhance_prompt(ctx, "\xc3", NULL, 0) == -VG_ERR_INVALID_UTF8, "enhance invalid UTF-8");
    CHECK(vg_enhance_prompt(ctx, "red ball", NULL, 16) == -VG_ERR_INVALID_ARGUMENT, "enhance NULL buf with size");
    CHECK(vg_enhance_prompt(ctx, "red ball", NULL, 0) == -VG_ERR_UNSUPPORTED, "enhance without an enhancer: %s", vg_last_error(ctx));
    CHECK(vg_generate(ctx, "", NULL, &v) == VG_OK && vg_video_frame_count(v) == F, "empty prompt");
    vg_video_free(v); v = NULL;
    char *big = malloc(100 * 1024 + 1);
    for (int i = 0; i < 100 * 1024; i++) big[i] = "a red ball moving right "[i % 24];
    big[100 * 1024] = 0;
    CHECK(vg_generate(ctx, big, NULL, &v) == VG_OK, "100 KB prompt: %s", vg_last_error(ctx));
    vg_video_free(v); v = NULL;
    free(big);

    /* a normal request, and its accessors */
    gp = vg_generate_default_params(); gp.seed = 7; gp.frames = F - 1; gp.fps = 12;
    CHECK(vg_generate(ctx, "a small blue square moving left", &gp, &v) == VG_OK, "generate: %s", vg_last_error(ctx));
    CHECK(vg_video_frame_count(v) == F - 1 && vg_video_width(v) == W && vg_video_height(v) == H && vg_video_fps(v) == 12, "accessors");
    CHECK(vg_video_data_size(v) == (size_t)(F - 1) * W * H * 3 && vg_video_data(v) != NULL, "data size");

    /* saving */
    vg_save_options so = vg_save_default_options();
    snprintf(path, sizeof path, "%s/out.mp4", argv[2]);
    CHECK(vg_video_save(v, path, NULL) == VG_OK, "save mp4: %s", vg_video_last_error(v));
    snprintf(path, sizeof path, "%s/out.y4m", argv[2]);
    CHECK(vg_video_save(v, path, NULL) == VG_OK, "save y4m: %s", vg_video_last_error(v));
    snprintf(path, sizeof path, "%s/frame.png", argv[2]);
    so.scale = 2;
    CHECK(vg_video_save(v, path, &so) == VG_OK, "save png: %s", vg_video_last_error(v));
    snprintf(path, sizeof path, "%s/out.gif", argv[2]);
    CHECK(vg_video_save(v, path, NULL) == VG_OK, "save gif: %s", vg_video_last_error(v));
    CHECK(vg_video_save(v, "/nonexistent/dir/out.mp4", NULL) != VG_OK, "save into a missing directory");
    snprintf(path, sizeof path, "%s/out.unknown", argv[2]);
    CHECK(vg_video_save(v, path, NULL) == VG_ERR_INVALID_ARGUMENT, "unknown extension");
    so = vg_save_default_options(); so.scale = 0;
    snprintf(path, sizeof path, "%s/x.mp4", argv[2]);
    CHECK(vg_video_save(v, path, &so) == VG_ERR_INVALID_ARGUMENT, "scale 0");
    vg_video_free(v); v = NULL;

    /* determinism: 1 vs 2 threads; two contexts in two threads vs one after the other */
    vg_video *a = NULL, *b = NULL;
    CHECK(gen(m, 1, "a green star rotating", 3, &a) == VG_OK && gen(m, 2, "a green star rotating", 3, &b) == VG_OK && same(a, b), "1 vs 2 threads");
    vg_video_free(a); vg_video_free(b);
    struct job j1 = {m, "a red circle moving up", 11, NULL, VG_OK}, j2 = {m, "a yellow ring moving down", 12, NULL, VG_OK};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, run_job, &j1); pthread_create(&t2, NULL, run_job, &j2);
    pthread_join(t1, NULL); pthread_join(t2, NULL);
    vg_video *s1 = NULL, *s2 = NULL;
    CHECK(j1.st == VG_OK && j2.st == VG_OK, "concurrent generations");
    CHECK(gen(m, 1, j1.prompt, 11, &s1) == VG_OK && gen(m, 1, j2.prompt, 12, &s2) == VG_OK, "sequential generations");
    CHECK(same(j1.video, s1) && same(j2.video, s2), "two contexts in two threads == one after the other");
    CHECK(!same(s1, s2), "different prompts differ");
    vg_video_free(j1.video); vg_video_free(j2.video); vg_video_free(s1); vg_video_free(s2);

    /* cancellation from another thread, mid-generation */
    vg_context *cc = NULL;
    struct cancel_state cs = {NULL, 0};
    cp = vg_context_default_params();
    cp.progress = on_progress; cp.user_data = &cs;
    CHECK(vg_context_new(m, &cp, &cc) == VG_OK, "context with progress");
    cs.ctx = cc;
    pthread_t canceller;
    pthread_create(&canceller, NULL, cancel_soon, &cs);
    gp = vg_generate_default_params(); gp.steps = 1000;
    vg_status st = vg_generate(cc, "a red ball", &gp, &v);
    pthread_join(canceller, NULL);
    CHECK(st == VG_ERR_ABORTED && v == NULL && cs.steps_seen < 1000, "cancel: status %d after %d steps", (int)st, cs.steps_seen);
    /* the context works again afterwards */
    gp.steps = 2;
    CHECK(vg_generate(cc, "a red ball", &gp, &v) == VG_OK, "generate after cancel");
    vg_video_free(v);
    vg_context_free(cc);

    vg_context_free(ctx);
    vg_model_free(m);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
