/* Compiles the public header alone as strict C99 (-std=c99 -Wall -Wextra -Werror -pedantic). */
#include "vgrt.h"

int main(void) {
    vg_model_params mp = vg_model_default_params();
    vg_context_params cp = vg_context_default_params();
    vg_generate_params gp = vg_generate_default_params();
    vg_save_options so = vg_save_default_options();
    (void)mp; (void)cp; (void)gp; (void)so;
    return 0;
}
