/* bench_net.c — training-step speed of an emitted network, as bench/torch_step.py measures
 * PyTorch: forward (batch statistics, dropout) + loss + backward, then the same plus the
 * optimizer step (RMSProp for SSRN, SGD+momentum for the contextual CNN), which zeroes the
 * gradients for the next step as the trainer's does (hsi_solver_step_zero: no zero_grad pass).
 * Random data; the numbers are throughput, never accuracy. Built with -DNET=<stem>_net.
 *
 *   bench_<stem> [--batch N] [--seconds S] [--iters N] [--solver rmsprop|sgd] [--backend dnnl|ref]
 *                [--peak GFLOPS] [--profile ITERS]
 * --iters N: exactly N timed steps per loop instead of --seconds (a fixed amount of work, for
 * A/B comparisons of CPU seconds on a loaded machine).
 * prints lines like:  hsicc ssrn train_step ms_per_batch=12.3 samples_per_s=1300 gflops=.. median_ms=..
 * (median_ms: the median of the loop's per-step times, robust to a few slow steps)
 * FLOPs of a step: forward + backward data + backward weights of every conv and dense op, from
 * the compiled net's shapes (hsi_rt_profile); --peak (bench_fma's figure) adds peak_pct=.
 * Executed FLOPs (exec_gflop_per_step=, exec_gflops=, exec_peak_pct=): the same with the convs on
 * Winograd's F(3x3, 3x3) (impl=winograd:*) counted at the multiply-adds their GEMMs run, 25 of
 * every 81 (the transforms' few percent not counted): the rate the FMA units see. The nominal
 * figures are the network's, as PyTorch's are.
 * --profile ITERS: HSI_PROFILE on, ITERS more training steps timed per kernel call, then one
 * line per op (the roofline of bench/BENCH.md):
 *   hsicc ssrn op <layer> <kind>[dims] fwd_ms=.. fwd_gflops=.. fwd_pct=.. bwd_ms=.. bwd_gflops=.. bwd_pct=..
 * --gemm (with --profile): beside each conv / dense pass, oneDNN's GEMM on the same multiply-adds
 * (fwd_gemm_gflops=, bwd_gemm_gflops=; gemm_for), and a gemm_reference line: the ops' time
 * with those passes at the GEMM's rate.
 * --infer ITERS: also ITERS inference forwards (running statistics, folded BN: what validation
 * and patch-by-patch prediction run), their samples/s, and with --profile their per-op lines.
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

extern const hsi_netdesc NET;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The layer an op belongs to: the parameter it was given (conv1.weight -> conv1), else its kind
 * and position. */
static void op_name(const hsi_op_profile *p, int i, const hsi_param *ps, int np, char *out, size_t n)
{
    snprintf(out, n, "(%s#%d)", p->kind, i);
    for (int k = 0; p->key && k < np; k++)
        if (ps[k].value == p->key) {
            snprintf(out, n, "%s", ps[k].name);
            char *dot = strrchr(out, '.');
            if (dot) *dot = 0;
        }
}

/* The share of an op's nominal FLOPs its kernels multiply-add: 25 / 81 on Winograd's F(3x3,
 * 3x3), else 1 */
static double wino_share(const hsi_op_profile *p)
{
    return p->impl && !strncmp(p->impl, "winograd", 8) ? 25.0 / 81.0 : 1.0;
}

/* --gemm: oneDNN's own GEMM (dnnl_sgemm, the threads OpenMP runs) on each conv / dense op's
 * multiply-adds as one GEMM: M = the output's elements per channel (batch x spatial), N = its
 * channels, K = forward FLOPs / (2 M N) (a k x 1 x 1 conv: C x k; a dense op: its inputs);
 * forward Y = X W^T, backward data dX = dY W, backward weights dW = dY^T X, every matrix dense
 * row-major. The rate a vendor GEMM reaches on the same work with no layout or halo to handle:
 * a reference for the op's own GFLOP/s, not a bound. 0: no oneDNN, or not a conv / dense op. */
typedef struct gemm_rate { double fwd, bwd; int64_t m, n, k; } gemm_rate;
#ifdef HSICC_WITH_DNNL
#include <dnnl.h>

/* Median seconds of one call, over 5 rounds of calls totalling at least 20 ms each */
static double gemm_time(char ta, char tb, int64_t m, int64_t n, int64_t k, const float *a,
                        int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc)
{
    double t[5];
    int reps = 1;
    for (int r = -1; r < 5; r++) {   /* round -1: warm-up and the calls per round */
        double a0 = now();
        for (int i = 0; i < reps; i++)
            dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
        double e = now() - a0;
        if (r < 0) {
            reps = e > 0.02 ? 1 : (int)(0.02 / (e > 1e-6 ? e : 1e-6)) + 1;
            continue;
        }
        t[r] = e / reps;
    }
    qsort(t, 5, sizeof *t, cmp_double);
    return t[2];
}

static gemm_rate gemm_for(const hsi_op_profile *p)
{
    gemm_rate g = {0, 0, 0, 0, 0};
    if ((strcmp(p->kind, "conv") && strcmp(p->kind, "dense")) || p->flops[0] <= 0 || p->ndim < 2)
        return g;
    int64_t n = p->dims[1], m = 1;
    for (int d = 0; d < p->ndim; d++) m *= d == 1 ? 1 : p->dims[d];
    int64_t k = (int64_t)(p->flops[0] / (2.0 * (double)m * (double)n) + 0.5);
    if (m < 1 || n < 1 || k < 1) return g;
    size_t na = (size_t)(m * k), nb = (size_t)(n * k), nc = (size_t)(m * n);
    float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * nb);
    float *c = malloc(sizeof(float) * nc);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return g;
    }
    for (size_t i = 0; i < na; i++) a[i] = (float)(i % 17) * 0.01f - 0.08f;
    for (size_t i = 0; i < nb; i++) b[i] = (float)(i % 13) * 0.01f - 0.06f;
    for (size_t i = 0; i < nc; i++) c[i] = (float)(i % 11) * 0.01f - 0.05f;
    double f = 2.0 * (double)m * (double)n * (double)k;
    g.m = m, g.n = n, g.k = k;
    g.fwd = f / gemm_time('N', 'T', m, n, k, a, k, b, k, c, n) / 1e9;
    /* the backward the op runs: weights (flops[1] = f), data and weights (2 f) */
    double tb = gemm_time('T', 'N', n, k, m, c, n, a, k, b, k);
    if (p->flops[1] > 1.5 * f) tb += gemm_time('N', 'N', m, k, n, c, n, b, k, a, k);
    if (p->flops[1] > 0) g.bwd = p->flops[1] / tb / 1e9;
    free(a), free(b), free(c);
    return g;
}
#else
static gemm_rate gemm_for(const hsi_op_profile *p)
{
    (void)p;
    return (gemm_rate){0, 0, 0, 0, 0};
}
#endif

static void print_profile(const hsi_op_profile *prof, int nops, const hsi_param *ps, int np,
                          int iters, double peak, const gemm_rate *gemm)
{
    double tot[2] = {0, 0};
    for (int i = 0; i < nops; i++)
        for (int k = 0; k < 2; k++) tot[k] += prof[i].seconds[k];
    printf("hsicc %s op_total fwd_ms=%.3f bwd_ms=%.3f iters=%d\n", NET.name, 1e3 * tot[0] / iters,
           1e3 * tot[1] / iters, iters);
    for (int i = 0; i < nops; i++) {
        const hsi_op_profile *p = &prof[i];
        if (p->calls[0] + p->calls[1] == 0) continue;
        char name[160], dims[96] = "";
        op_name(p, i, ps, np, name, sizeof name);
        for (int d = 0, o = 0; d < p->ndim && o < (int)sizeof dims - 12; d++)
            o += snprintf(dims + o, sizeof dims - (size_t)o, "%s%lld", d ? "," : "", (long long)p->dims[d]);
        printf("hsicc %s op %-28s %s[%s]", NET.name, name, p->kind, dims);
        for (int k = 0; k < 2; k++) {
            double ms = p->calls[k] ? 1e3 * p->seconds[k] / iters : 0;
            double g = p->seconds[k] > 0 ? p->flops[k] * (double)p->calls[k] / p->seconds[k] / 1e9 : 0;
            printf(" %s_ms=%.3f %s_pct_time=%.1f", k ? "bwd" : "fwd", ms, k ? "bwd" : "fwd",
                   tot[k] > 0 ? 100 * p->seconds[k] / tot[k] : 0);
            if (p->flops[k] > 0) {
                printf(" %s_gflops=%.1f", k ? "bwd" : "fwd", g);
                if (peak > 0) printf(" %s_peak_pct=%.1f", k ? "bwd" : "fwd", 100 * g / peak);
                if (wino_share(p) < 1)
                    printf(" %s_exec_gflops=%.1f", k ? "bwd" : "fwd", g * wino_share(p));
                double gg = gemm ? (k ? gemm[i].bwd : gemm[i].fwd) : 0;
                if (gg > 0) printf(" %s_gemm_gflops=%.1f", k ? "bwd" : "fwd", gg);
            }
        }
        if (gemm && gemm[i].fwd > 0)
            printf(" gemm=%lldx%lldx%lld", (long long)gemm[i].m, (long long)gemm[i].n,
                   (long long)gemm[i].k);
        if (p->impl) printf(" impl=%s", p->impl);
        printf("\n");
    }
    if (!gemm) return;
    /* the ops' time with every conv / dense pass at the GEMM's rate (the others as measured),
     * and the conv / dense passes alone, both sides */
    double own = 0, at = 0, fl = 0, own_fl = 0, at_fl = 0;
    int all = 1;
    for (int i = 0; i < nops; i++)
        for (int k = 0; k < 2; k++) {
            const hsi_op_profile *p = &prof[i];
            double t = p->seconds[k] / iters, gg = k ? gemm[i].bwd : gemm[i].fwd;
            own += t;
            if (p->flops[k] <= 0 || !p->calls[k]) {
                at += t;
                continue;
            }
            double f = p->flops[k] * (double)p->calls[k] / iters;
            if (gg <= 0) all = 0;
            double tg = gg > 0 ? f / gg / 1e9 : t;
            at += tg;
            fl += f;
            own_fl += t;
            at_fl += tg;
        }
    printf("hsicc %s gemm_reference ops_ms=%.3f ops_at_gemm_ms=%.3f flop_ops_ms=%.3f "
           "flop_ops_at_gemm_ms=%.3f flop_ops_gflops=%.1f flop_ops_gemm_gflops=%.1f",
           NET.name, 1e3 * own, 1e3 * at, 1e3 * own_fl, 1e3 * at_fl,
           own_fl > 0 ? fl / own_fl / 1e9 : 0, at_fl > 0 ? fl / at_fl / 1e9 : 0);
    if (peak > 0 && own_fl > 0 && at_fl > 0)
        printf(" flop_ops_peak_pct=%.1f flop_ops_gemm_peak_pct=%.1f", 100 * fl / own_fl / 1e9 / peak,
               100 * fl / at_fl / 1e9 / peak);
    if (!all) printf(" partial=1");
    printf("\n");
}

int main(int argc, char **argv)
{
    int batch = 16;
    double seconds = 5;
    const char *solver = "rmsprop";
    hsi_backend be = HSI_BACKEND_DNNL;
    double peak = 0;
    int profile = 0, fixed = 0, infer = 0, gemm = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--gemm")) {   /* a flag; every other option takes a value */
            gemm = 1;
            continue;
        }
        const char *v = ++i < argc ? argv[i] : NULL;
        if (v && !strcmp(a, "--batch")) batch = atoi(v);
        else if (v && !strcmp(a, "--seconds")) seconds = atof(v);
        else if (v && !strcmp(a, "--solver")) solver = v;
        else if (v && !strcmp(a, "--backend")) be = strcmp(v, "ref") ? HSI_BACKEND_DNNL : HSI_BACKEND_REF;
        else if (v && !strcmp(a, "--peak")) peak = atof(v);
        else if (v && !strcmp(a, "--profile")) profile = atoi(v);
        else if (v && !strcmp(a, "--iters")) fixed = atoi(v);
        else if (v && !strcmp(a, "--infer")) infer = atoi(v);
        else {
            fprintf(stderr, "usage: %s [--batch N] [--seconds S] [--solver rmsprop|sgd] [--backend dnnl|ref] [--iters N] [--peak GFLOPS] [--profile ITERS [--gemm]] [--infer ITERS]\n", argv[0]);
            return 2;
        }
    }
    if (profile > 0) setenv("HSI_PROFILE", "1", 1);   /* read when the net's rt is created */
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
    /* 64-byte aligned, as the trainer's batches: the model reads a full batch in place */
    float *x = aligned_alloc(64, (sizeof(float) * (size_t)(per * batch) + 63) / 64 * 64);
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
    /* FLOPs of one training step: every conv / dense op's forward and backward at this batch */
    hsi_rt *rt = ((hsi_model *)m)->rt;
    int nops = hsi_rt_profile(rt, NULL, 0);
    hsi_op_profile *prof = calloc((size_t)nops + 1, sizeof *prof);
    hsi_rt_profile(rt, prof, nops);
    double step_flops = 0;
    double exec_flops = 0;
    for (int i = 0; i < nops; i++) {
        step_flops += prof[i].flops[0] + prof[i].flops[1];
        exec_flops += (prof[i].flops[0] + prof[i].flops[1]) * wino_share(&prof[i]);
    }
    double *steps = NULL;   /* per-step times (train_step loop): their median */
    int cap = 0;
    for (int with_step = 0; with_step < 2; with_step++) {
        double fwd = 0, bwd = 0, upd = 0;
        int iters = 0;
        for (int w = 0; w < 5; w++) {   /* warm-up */
            NET.zero_grad(m);
            NET.forward(m, 0, x, batch, 1, (uint64_t)w);
            NET.loss_backward(m, 0, y, batch, 1.0f);
        }
        double t0 = now();
        int clean = 0;   /* as the trainer: the step leaves the gradients zero */
        while (fixed > 0 ? iters < fixed : now() - t0 < seconds) {
            double a = now();
            if (!clean) NET.zero_grad(m);
            NET.forward(m, 0, x, batch, 1, (uint64_t)iters);
            double b = now();
            NET.loss_backward(m, 0, y, batch, 1.0f);
            double c = now();
            if (with_step) hsi_solver_step_zero(s, 1e-4f);
            clean = with_step;
            double e = now();
            fwd += b - a;
            bwd += c - b;
            upd += e - c;
            if (iters >= cap) {
                cap = cap ? 2 * cap : 256;
                double *t = realloc(steps, sizeof *steps * (size_t)cap);
                if (!t) {
                    fprintf(stderr, "out of memory\n");
                    return 1;
                }
                steps = t;
            }
            steps[iters++] = e - a;
        }
        qsort(steps, (size_t)iters, sizeof *steps, cmp_double);
        double med = iters % 2 ? steps[iters / 2] : (steps[iters / 2 - 1] + steps[iters / 2]) / 2;
        double per_batch = (fwd + bwd + upd) / iters, g = step_flops / per_batch / 1e9;
        printf("hsicc %s %s ms_per_batch=%.3f samples_per_s=%.1f fwd_ms=%.3f bwd_ms=%.3f step_ms=%.3f "
               "batch=%d iters=%d gflop_per_step=%.4f gflops=%.1f median_ms=%.3f", NET.name,
               with_step ? "train_step" : "fwd_bwd", 1e3 * per_batch, batch / per_batch,
               1e3 * fwd / iters, 1e3 * bwd / iters, 1e3 * upd / iters, batch, iters,
               step_flops / 1e9, g, 1e3 * med);
        if (peak > 0) printf(" peak_pct=%.1f", 100 * g / peak);
        if (exec_flops < step_flops) {
            double ge = exec_flops / per_batch / 1e9;
            printf(" exec_gflop_per_step=%.4f exec_gflops=%.1f", exec_flops / 1e9, ge);
            if (peak > 0) printf(" exec_peak_pct=%.1f", 100 * ge / peak);
        }
        printf("\n");
        fflush(stdout);
    }
    if (profile > 0) {
        hsi_rt_profile_reset(rt);
        NET.zero_grad(m);
        for (int it = 0; it < profile; it++) {
            NET.forward(m, 0, x, batch, 1, (uint64_t)it);
            NET.loss_backward(m, 0, y, batch, 1.0f);
            hsi_solver_step_zero(s, 1e-4f);
        }
        hsi_rt_profile(rt, prof, nops);
        gemm_rate *gr = gemm ? calloc((size_t)nops + 1, sizeof *gr) : NULL;
        for (int i = 0; gr && i < nops; i++) {   /* the same shape once (SSRN's 4 spectral convs) */
            for (int j = 0; j < i && !gr[i].fwd; j++)
                if (prof[j].ndim == prof[i].ndim && prof[j].flops[0] == prof[i].flops[0]
                    && prof[j].flops[1] == prof[i].flops[1] && !strcmp(prof[j].kind, prof[i].kind)
                    && !memcmp(prof[j].dims, prof[i].dims, sizeof(int64_t) * (size_t)prof[i].ndim))
                    gr[i] = gr[j];
            if (!gr[i].fwd) gr[i] = gemm_for(&prof[i]);
        }
        print_profile(prof, nops, ps, np, profile, peak, gr);
        free(gr);
    }
    if (infer > 0) {   /* inference forwards: the forward FLOPs of every conv / dense op */
        double fl = 0;
        for (int i = 0; i < nops; i++) fl += prof[i].flops[0];
        for (int w = 0; w < 5; w++) NET.forward(m, 0, x, batch, 0, 0);
        if (profile > 0) hsi_rt_profile_reset(rt);
        double t0 = now();
        for (int it = 0; it < infer; it++) NET.forward(m, 0, x, batch, 0, 0);
        double t = (now() - t0) / infer;
        printf("hsicc %s infer ms_per_batch=%.3f samples_per_s=%.1f batch=%d iters=%d "
               "gflops=%.1f", NET.name, 1e3 * t, batch / t, batch, infer, fl / t / 1e9);
        if (peak > 0) printf(" peak_pct=%.1f", 100 * fl / t / 1e9 / peak);
        printf("\n");
        if (profile > 0) {
            hsi_rt_profile(rt, prof, nops);
            print_profile(prof, nops, ps, np, infer, peak, NULL);
        }
    }
    free(prof);
    free(steps);
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
