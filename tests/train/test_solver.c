/* test_solver.c — solver updates on small vectors against hand-computed values (arithmetic in
 * the comments), lr_mult / decay_mult / lr_scale, frozen params, state save / restore.
 * With --trace it prints several steps of each solver on a fixed gradient sequence for
 * solver_torch.py, which replays them with torch.optim.
 */
#define _POSIX_C_SOURCE 200809L   /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_train.h"

static int failures;

static void near(const char *what, double got, double want)
{
    if (fabs(got - want) > 2e-6 * fabs(want) + 1e-7) {
        printf("FAIL %s: got %.9g, want %.9g\n", what, got, want);
        failures++;
    }
}

/* One param of n elements with the given values and gradient. */
typedef struct one { float w[8], g[8]; hsi_param p; } one;

static void one_init(one *o, const char *name, int n, const float *w, const float *g)
{
    memset(o, 0, sizeof *o);
    memcpy(o->w, w, sizeof *w * (size_t)n);
    memcpy(o->g, g, sizeof *g * (size_t)n);
    o->p.name = name;
    o->p.ndim = 1;
    o->p.dims[0] = o->p.numel = n;
    o->p.value = o->w;
    o->p.grad = o->g;
    o->p.lr_mult = o->p.decay_mult = 1.0f;
}

static hsi_solver *make(const hsi_solver_opts *so, hsi_param *ps, int n, const float *scale)
{
    char err[256];
    hsi_solver *s = hsi_solver_create(so, ps, n, scale, err, sizeof err);
    if (!s) {
        printf("FAIL create: %s\n", err);
        exit(1);
    }
    return s;
}

/* One scalar param w = 1 with constant gradient 0.5: two steps at lr, checked after each. */
static void two_steps(const char *what, const hsi_solver_opts *so, float lr, double w1, double w2)
{
    static const float one_w[1] = {1.0f}, one_g[1] = {0.5f};
    one o;
    char label[64];
    one_init(&o, "w", 1, one_w, one_g);
    hsi_solver *s = make(so, &o.p, 1, NULL);
    hsi_solver_step(s, lr);
    snprintf(label, sizeof label, "%s step 1", what);
    near(label, o.w[0], w1);
    hsi_solver_step(s, lr);
    snprintf(label, sizeof label, "%s step 2", what);
    near(label, o.w[0], w2);
    hsi_solver_free(s);
}

static void test_sgd(void)
{
    static const float w0[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.25f};
    one o;
    /* Caffe style, mu 0.9, wd 0.1, lr 0.1 then 0.05:
     * step 1: d = g + 0.1 w = [0.6, 0.05]; v = 0.1 d = [0.06, 0.005]; w = [0.94, -2.005]
     * step 2: d = [0.5 + 0.094, 0.25 - 0.2005] = [0.594, 0.0495];
     *         v = 0.9 [0.06, 0.005] + 0.05 d = [0.0837, 0.006975]; w = [0.8563, -2.011975] */
    hsi_solver_opts so = hsi_solver_defaults(HSI_SOLVER_SGD);
    so.momentum = 0.9f;
    so.weight_decay = 0.1f;
    one_init(&o, "w", 2, w0, g);
    hsi_solver *s = make(&so, &o.p, 1, NULL);
    hsi_solver_step(s, 0.1f);
    near("caffe 1 [0]", o.w[0], 0.94);
    near("caffe 1 [1]", o.w[1], -2.005);
    hsi_solver_step(s, 0.05f);
    near("caffe 2 [0]", o.w[0], 0.8563);
    near("caffe 2 [1]", o.w[1], -2.011975);
    hsi_solver_free(s);
    /* PyTorch style, same numbers: step 1: v = d = [0.6, 0.05]; w = w - 0.1 v = [0.94, -2.005]
     * step 2: v = 0.9 [0.6, 0.05] + [0.594, 0.0495] = [1.134, 0.0945];
     *         w = [0.94 - 0.05*1.134, -2.005 - 0.05*0.0945] = [0.8833, -2.009725] */
    so.momentum_style = HSI_MOMENTUM_PYTORCH;
    one_init(&o, "w", 2, w0, g);
    s = make(&so, &o.p, 1, NULL);
    hsi_solver_step(s, 0.1f);
    near("torch 1 [0]", o.w[0], 0.94);
    hsi_solver_step(s, 0.05f);
    near("torch 2 [0]", o.w[0], 0.8833);
    near("torch 2 [1]", o.w[1], -2.009725);
    hsi_solver_free(s);
    /* Nesterov, mu 0.9, no decay, lr 0.1, w 1, g 0.5 (both styles agree at constant lr):
     * Caffe:   v1 = 0.05;  w -= 1.9*0.05 - 0 = 0.095 -> 0.905
     *          v2 = 0.9*0.05 + 0.05 = 0.095;  w -= 1.9*0.095 - 0.9*0.05 = 0.1355 -> 0.7695
     * PyTorch: v1 = 0.5;   w -= 0.1*(0.5 + 0.45) = 0.095;  v2 = 0.95;  w -= 0.1*(0.5 + 0.855) */
    for (int style = 0; style < 2; style++) {
        so = hsi_solver_defaults(HSI_SOLVER_SGD);
        so.momentum = 0.9f;
        so.nesterov = 1;
        so.momentum_style = (hsi_momentum_style)style;
        two_steps(style ? "nesterov pytorch" : "nesterov caffe", &so, 0.1f, 0.905, 0.7695);
    }
}

static void test_mults_and_frozen(void)
{
    static const float w0[1] = {1.0f}, g[1] = {0.5f};
    one a, b, c, frozen;
    one_init(&a, "a", 1, w0, g);
    one_init(&b, "b", 1, w0, g);
    one_init(&c, "c", 1, w0, g);
    one_init(&frozen, "frozen", 1, w0, g);
    a.p.lr_mult = 2.0f;
    a.p.decay_mult = 0.0f;
    frozen.p.grad = NULL;
    frozen.p.frozen = 1;
    hsi_param ps[4] = {a.p, b.p, c.p, frozen.p};
    float scale[4] = {1.0f, 0.5f, 0.0f, 1.0f};
    hsi_solver_opts so = hsi_solver_defaults(HSI_SOLVER_SGD);
    so.weight_decay = 0.1f;
    hsi_solver *s = make(&so, ps, 4, scale);
    hsi_solver_step(s, 0.1f);
    /* a: lr 0.1*2 = 0.2, decay 0: w = 1 - 0.2*0.5 = 0.9
     * b: lr 0.1*0.5 = 0.05, decay 0.1: w = 1 - 0.05*(0.5 + 0.1) = 0.97
     * c: scale 0: untouched. frozen (grad NULL): untouched. */
    near("lr_mult, decay_mult 0", a.w[0], 0.9);
    near("lr_scale 0.5", b.w[0], 0.97);
    near("lr_scale 0", c.w[0], 1.0);
    near("frozen", frozen.w[0], 1.0);
    /* Phase change: c active again, b inactive. c: 1 - 0.1*(0.5 + 0.1) = 0.94. */
    float scale2[4] = {1.0f, 0.0f, 1.0f, 1.0f};
    hsi_solver_set_lr_scale(s, scale2);
    hsi_solver_step(s, 0.1f);
    near("phase 2 b", b.w[0], 0.97);
    near("phase 2 c", c.w[0], 0.94);
    hsi_solver_free(s);
}

static void test_rmsprop_adam(void)
{
    /* RMSProp rho 0.9, eps 1e-8, lr 0.01, g 0.5:
     * a1 = 0.1*0.25 = 0.025;  w -= 0.01*0.5/sqrt(0.025) = 0.0316227766 -> 0.9683772234
     * a2 = 0.9*0.025 + 0.025 = 0.0475;  w -= 0.005/sqrt(0.0475) = 0.0229415734 -> 0.94543565 */
    hsi_solver_opts so = hsi_solver_defaults(HSI_SOLVER_RMSPROP);
    two_steps("rmsprop", &so, 0.01f, 0.9683772234, 0.94543565);
    /* Adam b1 0.9, b2 0.999, lr 0.01, constant g 0.5: the bias-corrected moments are exactly
     * m^ = 0.5 and v^ = 0.25 at every step (m1 = 0.05, /0.1; v1 = 0.00025, /0.001;
     * m2 = 0.095, /0.19; v2 = 0.00049975, /0.001999), so each step moves w by
     * 0.01*0.5/(0.5 + 1e-8) = 0.0099999998: 0.99, 0.98. */
    so = hsi_solver_defaults(HSI_SOLVER_ADAM);
    two_steps("adam", &so, 0.01f, 0.99, 0.98);
    /* AdamW wd 0.1: w *= 1 - 0.01*0.1 first: 0.999 - 0.01 = 0.989; 0.989*0.999 - 0.01 = 0.978011 */
    so = hsi_solver_defaults(HSI_SOLVER_ADAMW);
    so.weight_decay = 0.1f;
    two_steps("adamw", &so, 0.01f, 0.989, 0.978011);
    /* Adagrad lr 0.1, lr_decay 0.5, initial sum 0.75, eps 1e-10, g 0.5:
     * sum1 = 0.75 + 0.25 = 1;  w -= 0.1*0.5/1 = 0.05 -> 0.95
     * sum2 = 1.25;  clr = 0.1/(1 + 0.5) = 0.0666667;  w -= 0.0666667*0.5/sqrt(1.25) = 0.0298142
     *   -> 0.9201858 */
    so = hsi_solver_defaults(HSI_SOLVER_ADAGRAD);
    so.lr_decay = 0.5f;
    so.initial_accumulator_value = 0.75f;
    two_steps("adagrad", &so, 0.1f, 0.95, 0.92018576);
    /* Adadelta rho 0.9, eps 1e-6, lr 1, g 0.5:
     * v1 = 0.025;  d1 = sqrt(1e-6)/sqrt(0.025001)*0.5 = 0.00316221;  u1 = 0.1*d1^2 = 9.9996e-7;
     *   w = 1 - 0.00316221 = 0.99683779
     * v2 = 0.0475;  d2 = sqrt(1.99996e-6)/sqrt(0.047501)*0.5 = 0.00324436;  w = 0.99359342 */
    so = hsi_solver_defaults(HSI_SOLVER_ADADELTA);
    two_steps("adadelta", &so, 1.0f, 0.99683779, 0.99359342);
}

/* SGD (both momentum styles, Nesterov) and RMSProp over params of 70001, 5, 40000 (lr scale 0),
 * 33 and 100003 elements (more than the 65536 from which the step is split over OpenMP's
 * threads, at bounds inside params; the suite runs it on 2 threads too, train.solver_threads2):
 * three steps, every element against the update written out in double. A lost or doubled
 * element of the split, or a wrong param's lr or decay, is off by far more than float rounding.
 * flat: HSICC_SOLVER_FLAT=1 at create (one split of all params one after another), else each
 * param of 4096 elements or more split over the threads and the smaller ones dealt whole. */
static void test_split(int flat)
{
    enum { NP = 5, STEPS = 3 };
    static const int64_t sizes[NP] = {70001, 5, 40000, 33, 100003};
    static const float scale[NP] = {1.0f, 0.5f, 0.0f, 2.0f, 1.0f};
    static const float lr_mult[NP] = {1.0f, 2.0f, 1.0f, 1.0f, 0.5f};
    static const float decay_mult[NP] = {1.0f, 0.0f, 1.0f, 1.0f, 2.0f};
    struct { hsi_solver_type t; hsi_momentum_style style; int nesterov; float mu; } cfg[] = {
        {HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 0, 0.9f}, {HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 1, 0.9f},
        {HSI_SOLVER_SGD, HSI_MOMENTUM_CAFFE, 0, 0.8f}, {HSI_SOLVER_SGD, HSI_MOMENTUM_CAFFE, 1, 0.8f},
        {HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 0, 0.0f}, {HSI_SOLVER_RMSPROP, 0, 0, 0.0f}};
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        hsi_param ps[NP];
        float *w[NP], *g[NP];
        double *rw[NP], *rm[NP];
        memset(ps, 0, sizeof ps);
        for (int k = 0; k < NP; k++) {
            size_t n = (size_t)sizes[k];
            w[k] = malloc(sizeof(float) * n);
            g[k] = malloc(sizeof(float) * n);
            rw[k] = malloc(sizeof(double) * n);
            rm[k] = calloc(n, sizeof(double));
            if (!w[k] || !g[k] || !rw[k] || !rm[k]) exit(1);
            for (size_t i = 0; i < n; i++) rw[k][i] = w[k][i] = (float)(0.5 * cos(0.37 * (double)i + k));
            ps[k].name = "p";
            ps[k].ndim = 1;
            ps[k].dims[0] = ps[k].numel = sizes[k];
            ps[k].value = w[k];
            ps[k].grad = g[k];
            ps[k].lr_mult = lr_mult[k];
            ps[k].decay_mult = decay_mult[k];
        }
        hsi_solver_opts so = hsi_solver_defaults(cfg[c].t);
        so.momentum = cfg[c].mu;
        so.momentum_style = cfg[c].style;
        so.nesterov = cfg[c].nesterov;
        so.weight_decay = 0.01f;
        if (flat) setenv("HSICC_SOLVER_FLAT", "1", 1);
        hsi_solver *s = make(&so, ps, NP, scale);
        unsetenv("HSICC_SOLVER_FLAT");
        for (int t = 0; t < STEPS; t++) {
            for (int k = 0; k < NP; k++)
                for (int64_t i = 0; i < sizes[k]; i++) g[k][i] = (float)sin(0.11 * (double)i + t + 3 * k);
            hsi_solver_step(s, 0.05f);
            for (int k = 0; k < NP; k++) {
                double lr = 0.05 * lr_mult[k] * scale[k], wd = 0.01 * decay_mult[k], mu = cfg[c].mu;
                for (int64_t i = 0; scale[k] != 0.0f && i < sizes[k]; i++) {
                    double *x = &rw[k][i], *m = &rm[k][i], d = g[k][i] + wd * *x;
                    if (cfg[c].t == HSI_SOLVER_RMSPROP) {
                        *m = so.rho * *m + (1 - so.rho) * d * d;
                        *x -= lr * d / (sqrt(*m) + so.eps);
                    } else if (mu == 0) {
                        *x -= lr * d;
                    } else if (cfg[c].style == HSI_MOMENTUM_CAFFE) {
                        double prev = *m;
                        *m = mu * *m + lr * d;
                        *x -= cfg[c].nesterov ? (1 + mu) * *m - mu * prev : *m;
                    } else {
                        *m = mu * *m + d;
                        *x -= lr * (cfg[c].nesterov ? d + mu * *m : *m);
                    }
                }
            }
        }
        int bad = 0;
        for (int k = 0; k < NP; k++) {
            for (int64_t i = 0; i < sizes[k]; i++)
                if (fabs(w[k][i] - rw[k][i]) > 1e-5 && bad++ < 3)
                    printf("FAIL split%s %s cfg %zu: param %d element %lld: %.9g, want %.9g\n",
                           flat ? " (flat)" : "", hsi_solver_type_name(cfg[c].t), c, k,
                           (long long)i, w[k][i], rw[k][i]);
            free(w[k]);
            free(g[k]);
            free(rw[k]);
            free(rm[k]);
        }
        failures += bad != 0;
        hsi_solver_free(s);
    }
}

/* Two steps, save the state, continue in a fresh solver after restoring: bit-exact, for a
 * solver with per-param step counts (Adagrad, lr_decay) and one with two averages (Adadelta). */
static void resume_exact(hsi_solver_type type, const char *const *names, int n_names)
{
    static const float w0[3] = {0.3f, -0.7f, 1.1f}, g[3] = {0.2f, -0.1f, 0.4f};
    one a, b;
    one_init(&a, "l.w", 3, w0, g);
    hsi_solver_opts so = hsi_solver_defaults(type);
    so.lr_decay = 0.25f;
    so.initial_accumulator_value = 0.1f;
    so.weight_decay = 0.01f;
    hsi_solver *s = make(&so, &a.p, 1, NULL);
    hsi_solver_step(s, 0.5f);
    hsi_solver_step(s, 0.5f);
    const hsi_solver_tensor *ts;
    int nt = hsi_solver_state(s, &ts);
    int ok = nt == n_names;
    for (int i = 0; ok && i < nt; i++) ok = strcmp(ts[i].name, names[i]) == 0;
    if (!ok) {
        printf("FAIL %s state names/count: %d\n", hsi_solver_type_name(type), nt);
        failures++;
        hsi_solver_free(s);
        return;
    }
    one_init(&b, "l.w", 3, a.w, g);
    hsi_solver *r = make(&so, &b.p, 1, NULL);
    char err[256];
    for (int i = 0; i < nt; i++)
        if (hsi_solver_load_tensor(r, ts[i].name, ts[i].ndim, ts[i].dims, ts[i].data, err, sizeof err)) {
            printf("FAIL %s restore: %s\n", hsi_solver_type_name(type), err);
            failures++;
        }
    for (int k = 0; k < 3; k++) {
        hsi_solver_step(s, 0.5f);
        hsi_solver_step(r, 0.5f);
    }
    if (memcmp(a.w, b.w, sizeof a.w)) {
        printf("FAIL %s resume is not bit-exact\n", hsi_solver_type_name(type));
        failures++;
    }
    hsi_solver_free(s);
    hsi_solver_free(r);
}

static void test_state(void)
{
    static const char *const adagrad[] = {"opt.v.l.w", "opt.t.l.w"};
    static const char *const adadelta[] = {"opt.d.l.w", "opt.v.l.w"};
    resume_exact(HSI_SOLVER_ADAGRAD, adagrad, 2);
    resume_exact(HSI_SOLVER_ADADELTA, adadelta, 2);
    static const float w0[3] = {0.3f, -0.7f, 1.1f}, g[3] = {0.2f, -0.1f, 0.4f};
    one a, b, state;
    one_init(&a, "layer.weight", 3, w0, g);
    one_init(&state, "bn.running_mean", 3, w0, g);
    state.p.grad = NULL;
    hsi_param ps[2] = {a.p, state.p};
    hsi_solver_opts so = hsi_solver_defaults(HSI_SOLVER_ADAM);
    hsi_solver *s = make(&so, ps, 2, NULL);
    hsi_solver_step(s, 0.01f);
    hsi_solver_step(s, 0.01f);
    const hsi_solver_tensor *ts;
    int nt = hsi_solver_state(s, &ts);
    if (nt != 3 || strcmp(ts[0].name, "opt.m.layer.weight") || strcmp(ts[1].name, "opt.v.layer.weight") ||
        strcmp(ts[2].name, "opt.t.layer.weight") || ts[2].data[0] != 2.0f) {
        printf("FAIL state names/count: %d\n", nt);
        failures++;
        return;
    }
    float saved[3][3];
    for (int i = 0; i < 3; i++) memcpy(saved[i], ts[i].data, sizeof(float) * (size_t)ts[i].numel);
    one_init(&b, "layer.weight", 3, a.w, g);
    hsi_param ps2[2] = {b.p, state.p};
    hsi_solver *r = make(&so, ps2, 2, NULL);
    char err[256];
    for (int i = 0; i < 3; i++)
        if (hsi_solver_load_tensor(r, ts[i].name, ts[i].ndim, ts[i].dims, saved[i], err, sizeof err)) {
            printf("FAIL restore: %s\n", err);
            failures++;
        }
    hsi_solver_step(s, 0.01f);
    hsi_solver_step(r, 0.01f);
    if (memcmp(a.w, b.w, sizeof a.w)) {
        printf("FAIL resume is not bit-exact\n");
        failures++;
    }
    int64_t bad_dims[1] = {4};
    if (hsi_solver_load_tensor(r, "opt.m.layer.weight", 1, bad_dims, saved[0], err, sizeof err) == 0 ||
        strcmp(err, "tensor 'opt.m.layer.weight': checkpoint has [4], the solver expects [3]")) {
        printf("FAIL shape mismatch message: %s\n", err);
        failures++;
    }
    if (hsi_solver_load_tensor(r, "opt.m.bn.running_mean", 1, ts[0].dims, saved[0], err, sizeof err) == 0 ||
        strcmp(err, "checkpoint tensor 'opt.m.bn.running_mean' is not a state of this adam solver")) {
        printf("FAIL unknown tensor message: %s\n", err);
        failures++;
    }
    hsi_solver_free(s);
    hsi_solver_free(r);
}

/* ---- --trace: the input of solver_torch.py ---------------------------------------------------- */

static void trace(void)
{
    enum { N = 6, STEPS = 6 };
    struct { const char *name; hsi_solver_type t; int style, nesterov; float mu, wd; int lr_drop;
             float lr_decay, acc0; } cfgs[] = {
        {"sgd_torch_momentum_wd", HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 0, 0.9f, 0.01f, 1, 0, 0},
        {"sgd_torch_nesterov_wd", HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 1, 0.9f, 0.01f, 1, 0, 0},
        {"sgd_caffe_momentum_wd", HSI_SOLVER_SGD, HSI_MOMENTUM_CAFFE, 0, 0.9f, 0.01f, 0, 0, 0},
        {"sgd_caffe_nesterov", HSI_SOLVER_SGD, HSI_MOMENTUM_CAFFE, 1, 0.8f, 0.0f, 0, 0, 0},
        {"sgd_plain_wd", HSI_SOLVER_SGD, HSI_MOMENTUM_CAFFE, 0, 0.0f, 0.05f, 1, 0, 0},
        {"rmsprop", HSI_SOLVER_RMSPROP, 0, 0, 0, 0.0f, 0, 0, 0},
        {"rmsprop_wd", HSI_SOLVER_RMSPROP, 0, 0, 0, 0.01f, 1, 0, 0},
        {"adam", HSI_SOLVER_ADAM, 0, 0, 0, 0.0f, 0, 0, 0},
        {"adam_wd", HSI_SOLVER_ADAM, 0, 0, 0, 0.01f, 1, 0, 0},
        {"adamw", HSI_SOLVER_ADAMW, 0, 0, 0, 0.05f, 1, 0, 0},
        {"adagrad", HSI_SOLVER_ADAGRAD, 0, 0, 0, 0.0f, 0, 0, 0},
        {"adagrad_decay_wd", HSI_SOLVER_ADAGRAD, 0, 0, 0, 0.01f, 1, 0.3f, 0.1f},
        {"adadelta", HSI_SOLVER_ADADELTA, 0, 0, 0, 0.0f, 0, 0, 0},
        {"adadelta_wd", HSI_SOLVER_ADADELTA, 0, 0, 0, 0.02f, 1, 0, 0},
    };
    for (size_t c = 0; c < sizeof cfgs / sizeof *cfgs; c++) {
        float w[N], g[N] = {0};
        for (int i = 0; i < N; i++) w[i] = (float)(0.5 * cos(1.7 * i) - 0.1 * i);
        one o;
        one_init(&o, "w", N, w, g);
        hsi_solver_opts so = hsi_solver_defaults(cfgs[c].t);
        so.momentum = cfgs[c].mu;
        so.nesterov = cfgs[c].nesterov;
        so.momentum_style = (hsi_momentum_style)cfgs[c].style;
        so.weight_decay = cfgs[c].wd;
        so.beta2 = 0.99f;
        so.lr_decay = cfgs[c].lr_decay;
        so.initial_accumulator_value = cfgs[c].acc0;
        hsi_solver *s = make(&so, &o.p, 1, NULL);
        printf("cfg %s %s style=%s nesterov=%d momentum=%.9g wd=%.9g rho=%.9g eps=%.9g "
               "beta1=%.9g beta2=%.9g lr_decay=%.9g acc0=%.9g\n", cfgs[c].name,
               hsi_solver_type_name(so.type),
               so.momentum_style == HSI_MOMENTUM_CAFFE ? "caffe" : "pytorch", so.nesterov,
               so.momentum, so.weight_decay, so.rho, so.eps, so.beta1, so.beta2, so.lr_decay,
               so.initial_accumulator_value);
        printf("init");
        for (int i = 0; i < N; i++) printf(" %.9g", o.w[i]);
        printf("\n");
        for (int t = 0; t < STEPS; t++) {
            float lr = cfgs[c].lr_drop && t >= 3 ? 0.01f : 0.05f;
            for (int i = 0; i < N; i++) o.g[i] = (float)(sin(0.7 * t + 1.3 * i) * (1 + 0.3 * i));
            printf("step %.9g", lr);
            for (int i = 0; i < N; i++) printf(" %.9g", o.g[i]);
            hsi_solver_step(s, lr);
            for (int i = 0; i < N; i++) printf(" %.9g", o.w[i]);
            printf("\n");
        }
        hsi_solver_free(s);
    }
}

/* hsi_solver_nonfinite: SGD (every momentum form) and RMSProp report a non-finite weight they
 * wrote, wherever it lies in the threads' parts (a NaN gradient in the last element, an
 * overflow to infinity in the first); the other solvers and a solver before its first step
 * report -1 (unknown). */
static void test_nonfinite(void)
{
    enum { N = 150001 };   /* above SV_PAR_MIN: the threaded loop */
    struct { hsi_solver_type t; hsi_momentum_style style; int nesterov; float mu; } cfg[] = {
        {HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 0, 0.9f}, {HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 1, 0.9f},
        {HSI_SOLVER_SGD, HSI_MOMENTUM_CAFFE, 0, 0.9f}, {HSI_SOLVER_SGD, HSI_MOMENTUM_CAFFE, 1, 0.9f},
        {HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 0, 0.0f}, {HSI_SOLVER_RMSPROP, 0, 0, 0.0f},
        {HSI_SOLVER_ADAM, 0, 0, 0.0f}};
    float *w = malloc(sizeof(float) * N), *g = malloc(sizeof(float) * N);
    if (!w || !g) exit(1);
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        char label[96];
        for (int i = 0; i < N; i++) {
            w[i] = 0.25f;
            g[i] = 0.5f;
        }
        hsi_param p = {.name = "p", .ndim = 1, .dims = {N}, .numel = N, .value = w, .grad = g,
                       .lr_mult = 1.0f, .decay_mult = 1.0f};
        hsi_solver_opts so = hsi_solver_defaults(cfg[c].t);
        so.momentum = cfg[c].mu;
        so.momentum_style = cfg[c].style;
        so.nesterov = cfg[c].nesterov;
        hsi_solver *s = make(&so, &p, 1, NULL);
        int tracked = cfg[c].t != HSI_SOLVER_ADAM;
        snprintf(label, sizeof label, "nonfinite before a step, config %zu", c);
        near(label, hsi_solver_nonfinite(s), -1);
        hsi_solver_set_steps(s, 5);   /* a resumed solver has not stepped in this process */
        snprintf(label, sizeof label, "nonfinite resumed before a step, config %zu", c);
        near(label, hsi_solver_nonfinite(s), -1);
        hsi_solver_step(s, 0.01f);
        snprintf(label, sizeof label, "nonfinite after a finite step, config %zu", c);
        near(label, hsi_solver_nonfinite(s), tracked ? 0 : -1);
        g[N - 1] = NAN;
        hsi_solver_step(s, 0.01f);
        snprintf(label, sizeof label, "nonfinite after a NaN gradient, config %zu", c);
        near(label, hsi_solver_nonfinite(s), tracked ? 1 : -1);
        g[N - 1] = 0.5f;
        w[N - 1] = 0.25f;
        if (cfg[c].t == HSI_SOLVER_SGD) {   /* w - lr * g overflows: an infinity, not a NaN */
            hsi_solver_free(s);
            for (int i = 0; i < N; i++) w[i] = 0.25f;
            s = make(&so, &p, 1, NULL);
            g[0] = 3e38f;
            hsi_solver_step(s, 100.0f);
            snprintf(label, sizeof label, "nonfinite after an overflow, config %zu", c);
            near(label, hsi_solver_nonfinite(s), 1);
            g[0] = 0.5f;
        }
        hsi_solver_free(s);
    }
    free(w);
    free(g);
}

/* hsi_solver_step_zero: the weights and moments of hsi_solver_step bit for bit, and every
 * gradient zero after it (the frozen param's too), for every solver, the SGD forms and sizes
 * that split over the threads (train.solver_threads2 runs this on 2). */
static void test_step_zero(void)
{
    enum { NP = 4, STEPS = 3 };
    static const int64_t sizes[NP] = {70001, 5, 40000, 100003};
    static const float scale[NP] = {1.0f, 0.5f, 0.0f, 1.0f};
    struct { hsi_solver_type t; hsi_momentum_style style; int nesterov; float mu; } cfg[] = {
        {HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 0, 0.9f}, {HSI_SOLVER_SGD, HSI_MOMENTUM_CAFFE, 1, 0.8f},
        {HSI_SOLVER_SGD, HSI_MOMENTUM_PYTORCH, 0, 0.0f}, {HSI_SOLVER_RMSPROP, 0, 0, 0.0f},
        {HSI_SOLVER_ADAM, 0, 0, 0.0f}, {HSI_SOLVER_ADAMW, 0, 0, 0.0f},
        {HSI_SOLVER_ADAGRAD, 0, 0, 0.0f}, {HSI_SOLVER_ADADELTA, 0, 0, 0.0f}};
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        hsi_param ps[2][NP];
        memset(ps, 0, sizeof ps);
        for (int v = 0; v < 2; v++)
            for (int k = 0; k < NP; k++) {
                size_t n = (size_t)sizes[k];
                hsi_param *p = &ps[v][k];
                p->value = malloc(sizeof(float) * n);
                p->grad = malloc(sizeof(float) * n);
                if (!p->value || !p->grad) exit(1);
                for (size_t i = 0; i < n; i++) p->value[i] = (float)(0.5 * cos(0.37 * (double)i + k));
                p->name = "p";
                p->ndim = 1;
                p->dims[0] = p->numel = sizes[k];
                p->lr_mult = p->decay_mult = 1.0f;
            }
        hsi_solver_opts so = hsi_solver_defaults(cfg[c].t);
        so.momentum = cfg[c].mu;
        so.momentum_style = cfg[c].style;
        so.nesterov = cfg[c].nesterov;
        so.weight_decay = 0.01f;
        hsi_solver *s[2] = {make(&so, ps[0], NP, scale), make(&so, ps[1], NP, scale)};
        int bad = 0;
        for (int t = 0; t < STEPS; t++) {
            for (int k = 0; k < NP; k++)
                for (int64_t i = 0; i < sizes[k]; i++)
                    ps[0][k].grad[i] = ps[1][k].grad[i] = (float)sin(0.11 * (double)i + t + 3 * k);
            hsi_solver_step(s[0], 0.05f);
            hsi_solver_step_zero(s[1], 0.05f);
            for (int k = 0; k < NP; k++) {
                size_t bytes = sizeof(float) * (size_t)sizes[k];
                bad += memcmp(ps[0][k].value, ps[1][k].value, bytes) != 0;
                for (int64_t i = 0; i < sizes[k]; i++) bad += ps[1][k].grad[i] != 0.0f;
                memset(ps[0][k].grad, 0x7f, bytes);   /* overwritten at the next step */
            }
        }
        if (bad)
            printf("FAIL step_zero %s cfg %zu: %d values differ or gradients not zero\n",
                   hsi_solver_type_name(cfg[c].t), c, bad);
        failures += bad != 0;
        for (int v = 0; v < 2; v++) {
            hsi_solver_free(s[v]);
            for (int k = 0; k < NP; k++) {
                free(ps[v][k].value);
                free(ps[v][k].grad);
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--trace") == 0) {
        trace();
        return 0;
    }
    test_sgd();
    test_mults_and_frozen();
    test_rmsprop_adam();
    test_state();
    test_split(0);
    test_split(1);
    test_nonfinite();
    test_step_zero();
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
