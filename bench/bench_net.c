/* bench_net.c — training-step speed of an emitted network, as bench/torch_step.py measures
 * PyTorch: forward (batch statistics, dropout) + loss + backward, then the same plus the
 * optimizer step (RMSProp for SSRN, SGD+momentum for the contextual CNN). Random data; the
 * numbers are throughput, never accuracy. Built with -DNET=<stem>_net.
 *
 *   bench_<stem> [--batch N] [--seconds S] [--solver rmsprop|sgd] [--backend dnnl|ref]
 * prints lines like:  hsicc ssrn train_step ms_per_batch=12.3 samples_per_s=1300
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsi.h"
#include "hsi_init.h"
#include "hsi_train.h"

extern const hsi_netdesc NET;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    int batch = 16;
    double seconds = 5;
    const char *solver = "rmsprop";
    hsi_backend be = HSI_BACKEND_DNNL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--solver")) solver = argv[i + 1];
        else if (!strcmp(argv[i], "--backend")) be = strcmp(argv[i + 1], "ref") ? HSI_BACKEND_DNNL : HSI_BACKEND_REF;
        else {
            fprintf(stderr, "usage: %s [--batch N] [--seconds S] [--solver rmsprop|sgd] [--backend dnnl|ref]\n", argv[0]);
            return 2;
        }
    }
    char err[512];
    hsi_model_opts o = {batch, be, 1};
    hsi_model *m = NET.create(&o, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    hsi_param *ps;
    int np = NET.params(m, &ps);
    hsi_init_params(ps, np, 1);
    const hsi_domain *d = &NET.domains[0];
    int64_t per = 1;
    for (int k = 0; k < d->ndim; k++) per *= d->in_dims[k];
    float *x = malloc(sizeof(float) * (size_t)(per * batch));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    srand(1);
    for (int64_t k = 0; k < per * batch; k++) x[k] = (float)rand() / RAND_MAX - 0.5f;
    for (int k = 0; k < batch; k++) y[k] = rand() % d->classes;

    hsi_solver_opts so = hsi_solver_defaults(strcmp(solver, "sgd") ? HSI_SOLVER_RMSPROP : HSI_SOLVER_SGD);
    if (!strcmp(solver, "sgd")) {
        so.momentum = 0.9f;
        so.weight_decay = 5e-4f;
    }
    hsi_solver *s = hsi_solver_create(&so, ps, np, NULL, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (int with_step = 0; with_step < 2; with_step++) {
        double fwd = 0, bwd = 0, upd = 0;
        int iters = 0;
        for (int w = 0; w < 5; w++) {   /* warm-up */
            NET.zero_grad(m);
            NET.forward(m, 0, x, batch, 1, (uint64_t)w);
            NET.loss_backward(m, 0, y, batch, 1.0f);
        }
        double t0 = now();
        while (now() - t0 < seconds) {
            double a = now();
            NET.zero_grad(m);
            NET.forward(m, 0, x, batch, 1, (uint64_t)iters);
            double b = now();
            NET.loss_backward(m, 0, y, batch, 1.0f);
            double c = now();
            if (with_step) hsi_solver_step(s, 1e-4f);
            double e = now();
            fwd += b - a;
            bwd += c - b;
            upd += e - c;
            iters++;
        }
        double per_batch = (fwd + bwd + upd) / iters;
        printf("hsicc %s %s ms_per_batch=%.3f samples_per_s=%.1f fwd_ms=%.3f bwd_ms=%.3f step_ms=%.3f "
               "batch=%d iters=%d\n", NET.name, with_step ? "train_step" : "fwd_bwd", 1e3 * per_batch,
               batch / per_batch, 1e3 * fwd / iters, 1e3 * bwd / iters, 1e3 * upd / iters, batch, iters);
    }
    hsi_memory_report r;
    NET.memory(m, &r);
    printf("hsicc %s memory params=%zu grads=%zu arena=%zu sum=%zu\n", NET.name, r.params, r.grads,
           r.activations_arena, r.activations_sum);
    hsi_solver_free(s);
    NET.destroy(m);
    free(x);
    free(y);
    return 0;
}
