/* c-generate: a plain C99 program that generates a video with libvgrt.
 *
 *   cc -std=c99 main.c $(pkg-config --cflags --libs vgrt) -o c-generate
 *   ./c-generate MODEL.vgpk "a red ball moving right" out.mp4
 */
#include <stdio.h>
#include "vgrt.h"

static bool progress(int step, int total, double elapsed, void *user) {
    (void)user;
    fprintf(stderr, "step %d/%d (%.1f s)\n", step, total, elapsed);
    return true;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.vgpk PROMPT OUTPUT\n", argv[0]);
        return 64;
    }
    char err[512];
    vg_model *model = NULL;
    if (vg_model_load(argv[1], NULL, &model, err, sizeof err) != VG_OK) {
        fprintf(stderr, "c-generate: %s\n", err);
        return 65;
    }
    vg_context_params cp = vg_context_default_params();
    cp.n_threads = 2;
    cp.progress = progress;
    vg_context *ctx = NULL;
    vg_status st = vg_context_new(model, &cp, &ctx);
    vg_video *video = NULL;
    if (st == VG_OK) {
        vg_generate_params gp = vg_generate_default_params();
        gp.seed = 1;
        st = vg_generate(ctx, argv[2], &gp, &video);
    }
    if (st == VG_OK) {
        st = vg_video_save(video, argv[3], NULL);
        if (st != VG_OK) fprintf(stderr, "c-generate: %s\n", vg_video_last_error(video));
    } else {
        fprintf(stderr, "c-generate: %s: %s\n", vg_status_string(st), vg_last_error(ctx));
    }
    if (st == VG_OK)
        printf("wrote %s: %d frames of %dx%d\n", argv[3], vg_video_frame_count(video), vg_video_width(video), vg_video_height(video));
    vg_video_free(video);
    vg_context_free(ctx);
    vg_model_free(model);
    return st == VG_OK ? 0 : 1;
}
