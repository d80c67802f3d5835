/* two_models.c — one program with the inference modules of two nets (hsicc emit --infer --name
 * alpha / beta, built on one hsirt/; tests/infer/strict_test.py): no symbol clashes, and models
 * of their own on threads of their own give what they give on one thread, byte for byte.
 *
 *   two_models ALPHA_WEIGHTS ONEDNN(0|1)
 * alpha from the weights file, beta (two domains) from its embedded weights. On one thread:
 * an alpha model and a beta model per domain each classify a scene (each padding) and patches;
 * then the same on 4 threads at once, each with a model of its own (two of them alpha models).
 * Prints "same" and exits 0, else says what differs (exit 1). With ONEDNN 1 in a build without oneDNN, create
 * must refuse (NULL and "oneDNN is not built in"): prints "refused" and exits 0. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alpha_infer.h"
#include "beta_infer.h"

enum { H = 11, W = 9, NP = 13, MAXF = 16 * 5 * 5, MAXK = 8 };

static const char *alpha_weights;
static int onednn;
static float cube[MAXF * H * W], x[NP * MAXF];

typedef struct job {
    int which, domain;   /* which 0: alpha, 1: beta */
    int32_t cls[3][H * W];
    float scene[3][H * W * MAXK], patches[NP * MAXK];
    int rc;
    char err[512];
} job;

static void *run(void *arg)
{
    job *j = arg;
    alpha_model *a = NULL;
    beta_model *b = NULL;
    if (j->which == 0) a = alpha_create(alpha_weights, onednn, j->err, sizeof j->err);
    else b = beta_create(NULL, onednn, j->err, sizeof j->err);
    if (!a && !b) {
        j->rc = -1;
        return NULL;
    }
    for (int pad = 0; pad < 3 && !j->rc; pad++)
        j->rc = a ? alpha_classify_scene(a, j->domain, cube, H, W, pad, j->cls[pad], j->scene[pad], j->err, sizeof j->err)
                  : beta_classify_scene(b, j->domain, cube, H, W, pad, j->cls[pad], j->scene[pad], j->err, sizeof j->err);
    if (!j->rc)
        j->rc = a ? alpha_classify_patches(a, j->domain, x, NP, j->patches, j->err, sizeof j->err)
                  : beta_classify_patches(b, j->domain, x, NP, j->patches, j->err, sizeof j->err);
    alpha_destroy(a);
    beta_destroy(b);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: two_models ALPHA_WEIGHTS ONEDNN\n");
        return 2;
    }
    alpha_weights = argv[1];
    onednn = atoi(argv[2]);
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof cube / sizeof *cube; i++)
        cube[i] = (float)((s = s * 1103515245u + 12345u) >> 9) / 8388608.0f - 1.0f;
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = (float)((s = s * 1103515245u + 12345u) >> 9) / 8388608.0f - 1.0f;
    enum { NJ = 3 };
    static job one[NJ], many[NJ];
    const int which[NJ] = {0, 1, 1}, domain[NJ] = {0, 0, 1};
    for (int k = 0; k < NJ; k++) {   /* one thread */
        one[k].which = many[k].which = which[k];
        one[k].domain = many[k].domain = domain[k];
        run(&one[k]);
        if (one[k].rc) {
            if (onednn && k == 0 && strstr(one[k].err, "oneDNN is not built in")) {
                printf("refused: %s\n", one[k].err);
                return 0;
            }
            printf("job %d: %s\n", k, one[k].err);
            return 1;
        }
    }
    static job twice;   /* a second alpha model next to the others */
    twice = many[0];
    pthread_t t[NJ + 1];
    for (int k = 0; k < NJ; k++) pthread_create(&t[k], NULL, run, &many[k]);
    pthread_create(&t[NJ], NULL, run, &twice);
    for (int k = 0; k <= NJ; k++) pthread_join(t[k], NULL);
    int bad = 0;
    for (int k = 0; k <= NJ; k++) {
        const job *m = k < NJ ? &many[k] : &twice, *o = &one[k < NJ ? k : 0];
        if (m->rc || memcmp(m->cls, o->cls, sizeof o->cls) || memcmp(m->scene, o->scene, sizeof o->scene)
            || memcmp(m->patches, o->patches, sizeof o->patches)) {
            printf("thread %d (%s, domain %d): %s\n", k, m->which ? "beta" : "alpha", m->domain,
                   m->rc ? m->err : "other results than on one thread");
            bad = 1;
        }
    }
    printf(bad ? "FAILED\n" : "same\n");
    return bad;
}
