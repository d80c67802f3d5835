/* embedded.c — an inference module's embedded weights are its model's values as they are, not
 * copied (tests/infer/embedded_test.py): the anonymous memory create(NULL) adds stays far below
 * the weights' size, while create(FILE) adds the weights' size; both classify alike.
 *
 *   embedded WEIGHTS.safetensors
 * Prints "embedded_kb=A file_kb=B weights_kb=C same=1|0"; exit 0, or 1 when a call fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "big_infer.h"

enum { NP = 7 };

/* RssAnon of /proc/self/status: the private memory the process has touched, in kB */
static long rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: embedded WEIGHTS.safetensors\n");
        return 2;
    }
    char err[512];
    int bands, classes, patch;
    big_shape(0, &bands, &classes, &patch);
    size_t nx = (size_t)NP * (size_t)bands * (size_t)patch * (size_t)patch;
    float *x = malloc(sizeof *x * nx), *le = calloc((size_t)NP * (size_t)classes, sizeof *le),
          *lf = calloc((size_t)NP * (size_t)classes, sizeof *lf);
    if (!x || !le || !lf) return 1;
    uint32_t s = 777;
    for (size_t i = 0; i < nx; i++) x[i] = (float)((s = s * 1103515245u + 12345u) >> 9) / 8388608.0f - 1.0f;
    long a0 = rss_anon_kb();
    big_model *e = big_create(NULL, 0, err, sizeof err);
    long a1 = rss_anon_kb();
    big_model *f = e ? big_create(argv[1], 0, err, sizeof err) : NULL;
    long a2 = rss_anon_kb();
    if (!e || !f || big_classify_patches(e, 0, x, NP, le, err, sizeof err)
        || big_classify_patches(f, 0, x, NP, lf, err, sizeof err)) {
        fprintf(stderr, "embedded: %s\n", err);
        return 1;
    }
    printf("embedded_kb=%ld file_kb=%ld same=%d\n", a1 - a0, a2 - a1,
           !memcmp(le, lf, sizeof *le * (size_t)NP * (size_t)classes));
    big_destroy(e);
    big_destroy(f);
    free(x);
    free(le);
    free(lf);
    return 0;
}
