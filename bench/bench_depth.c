/* bench_depth.c — the depth sweep's cost per residual module (issue 13), with the depths
 * interleaved step by step in one process.
 *
 * The contextual CNN at depth 1, 2, 4 and 8 (contextual_d1.._d8, emitted by this build's hsicc),
 * each a model with its own SGD + momentum solver, trained on the same random batch. The
 * depths take turns in slices of --slice steps (default 4; the depth that starts a slice
 * rotates), so that a change of the machine's speed (a VM that switches between a fast and a
 * slow mode within seconds: bench/BENCH.md) falls on every depth alike; separate runs of a few
 * seconds each, even interleaved, gave module costs that moved by more than a module costs.
 * Per slice, each depth's step is the median of its steps there (the first one after a switch
 * finds other nets' data in the caches); a module's cost between depths a and b is, per slice,
 * (step(b) - step(a)) / (b - a), and the figure printed is the median over the slices of that
 * paired difference. Random data; throughput only.
 *
 *   bench_depth [--batch N] [--seconds S] [--slice N] [--peak GFLOPS]
 * --seconds: the whole sweep's timed length (default 20).
 * prints:
 *   hsicc contextual depth_step depth=D median_ms=.. samples_per_s=.. gflop_per_step=.. steps=..
 *   hsicc contextual depth_module from=A to=B paired_ms=.. share_pct=.. flop_share_pct=.. slices=..
 * (share_pct: one module's paired time as a share of the depth-B median step; flop_share_pct:
 * its FLOPs' share of the depth-B step's.)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsi.h"
#include "hsi_init.h"
#include "hsi_kernels.h"
#include "hsi_model.h"
#include "hsi_train.h"

extern const hsi_netdesc contextual_d1_net, contextual_d2_net, contextual_d4_net,
    contextual_d8_net;

#define ND 4
static const hsi_netdesc *const nets[ND] = {&contextual_d1_net, &contextual_d2_net,
                                            &contextual_d4_net, &contextual_d8_net};
static const int depth[ND] = {1, 2, 4, 8};

typedef struct run {
    hsi_model *m;
    hsi_solver *s;
    hsi_param *ps;
    double flops;    /* one training step's conv / dense FLOPs */
    double *steps;   /* every timed step (s) */
    double *slice;   /* per slice: the median of its steps */
} run;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median of v[0..n) (sorts v) */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void step(const hsi_netdesc *net, run *r, const float *x, const int32_t *y, int batch,
                 uint64_t it)
{
    net->forward(r->m, 0, x, batch, 1, it);
    net->loss_backward(r->m, 0, y, batch, 1.0f);
    hsi_solver_step_zero(r->s, 1e-4f);   /* leaves the gradients zero, as the trainer's step */
}

int main(int argc, char **argv)
{
    int batch = 128, per_slice = 4;
    double seconds = 20, peak = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && !strcmp(a, "--batch")) batch = atoi(v);
        else if (v && !strcmp(a, "--seconds")) seconds = atof(v);
        else if (v && !strcmp(a, "--slice")) per_slice = atoi(v);
        else if (v && !strcmp(a, "--peak")) peak = atof(v);
        else {
            fprintf(stderr, "usage: %s [--batch N] [--seconds S] [--slice N] [--peak GFLOPS]\n",
                    argv[0]);
            return 2;
        }
        i++;
    }
    if (batch < 1 || per_slice < 1 || per_slice > 64 || !(seconds > 0)) {
        fprintf(stderr, "%s: --batch takes a positive integer, --slice 1 to 64, --seconds a "
                        "positive number\n", argv[0]);
        return 2;
    }
    char err[512];
    run R[ND];
    memset(R, 0, sizeof R);
    const hsi_domain *dom = &nets[0]->domains[0];
    int64_t per = 1;
    for (int k = 0; k < dom->ndim; k++) per *= dom->in_dims[k];
    float *x = aligned_alloc(64, (sizeof(float) * (size_t)(per * batch) + 63) / 64 * 64);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    if (!x || !y) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    srand(1);
    for (int64_t k = 0; k < per * batch; k++) x[k] = (float)rand() / RAND_MAX - 0.5f;
    for (int k = 0; k < batch; k++) y[k] = rand() % dom->classes;
    for (int d = 0; d < ND; d++) {
        hsi_model_opts o = {batch, HSI_BACKEND_DNNL, 1};
        R[d].m = nets[d]->create(&o, err, sizeof err);
        if (!R[d].m) {
            fprintf(stderr, "%s: %s\n", nets[d]->name, err);
            return 1;
        }
        int np = nets[d]->params(R[d].m, &R[d].ps);
        hsi_init_params(R[d].ps, np, 1);
        hsi_solver_opts so = hsi_solver_defaults(HSI_SOLVER_SGD);
        so.momentum = 0.9f;
        so.weight_decay = 5e-4f;
        R[d].s = hsi_solver_create(&so, R[d].ps, np, NULL, err, sizeof err);
        if (!R[d].s) {
            fprintf(stderr, "%s: %s\n", nets[d]->name, err);
            return 1;
        }
        hsi_rt *rt = R[d].m->rt;
        int nops = hsi_rt_profile(rt, NULL, 0);
        hsi_op_profile *prof = calloc((size_t)nops + 1, sizeof *prof);
        hsi_rt_profile(rt, prof, nops);
        for (int i = 0; i < nops; i++) R[d].flops += prof[i].flops[0] + prof[i].flops[1];
        free(prof);
        nets[d]->zero_grad(R[d].m);
        for (int w = 0; w < 5; w++) step(nets[d], &R[d], x, y, batch, (uint64_t)w);   /* warm-up */
    }
    /* how many slices fit: time one slice of every depth */
    double t0 = now();
    for (int d = 0; d < ND; d++)
        for (int k = 0; k < per_slice; k++) step(nets[d], &R[d], x, y, batch, 0);
    int slices = (int)(seconds / (now() - t0 + 1e-9));
    if (slices < 5) slices = 5;
    for (int d = 0; d < ND; d++) {
        R[d].steps = malloc(sizeof(double) * (size_t)slices * (size_t)per_slice);
        R[d].slice = malloc(sizeof(double) * (size_t)slices);
        if (!R[d].steps || !R[d].slice) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
    }
    double tmp[64];
    for (int s = 0; s < slices; s++)
        for (int j = 0; j < ND; j++) {
            int d = (s + j) % ND;   /* the depth that starts a slice rotates */
            for (int k = 0; k < per_slice; k++) {
                double a = now();
                step(nets[d], &R[d], x, y, batch, (uint64_t)(s * per_slice + k));
                tmp[k] = R[d].steps[s * per_slice + k] = now() - a;
            }
            R[d].slice[s] = median(tmp, per_slice);
        }
    double med[ND];
    for (int d = 0; d < ND; d++) {
        int n = slices * per_slice;
        double *v = malloc(sizeof(double) * (size_t)n);
        memcpy(v, R[d].steps, sizeof(double) * (size_t)n);
        med[d] = median(v, n);
        free(v);
        printf("hsicc contextual depth_step depth=%d median_ms=%.3f samples_per_s=%.1f "
               "gflop_per_step=%.4f batch=%d steps=%d", depth[d], 1e3 * med[d], batch / med[d],
               R[d].flops / 1e9, batch, n);
        if (peak > 0) printf(" peak_pct=%.1f", 100 * R[d].flops / med[d] / 1e9 / peak);
        printf("\n");
    }
    double *diff = malloc(sizeof(double) * (size_t)slices);
    for (int d = 0; d + 1 < ND && diff; d++) {
        int k = depth[d + 1] - depth[d];
        for (int s = 0; s < slices; s++) diff[s] = (R[d + 1].slice[s] - R[d].slice[s]) / k;
        double pm = median(diff, slices);
        double fshare = (R[d + 1].flops - R[d].flops) / k / R[d + 1].flops;
        printf("hsicc contextual depth_module from=%d to=%d paired_ms=%.3f share_pct=%.2f "
               "flop_share_pct=%.2f slices=%d\n", depth[d], depth[d + 1], 1e3 * pm,
               100 * pm / med[d + 1], 100 * fshare, slices);
    }
    free(diff);
    for (int d = 0; d < ND; d++) {
        free(R[d].steps);
        free(R[d].slice);
        hsi_solver_free(R[d].s);
        nets[d]->destroy(R[d].m);
    }
    free(x);
    free(y);
    return 0;
}
