/* test_tap_pre.c — tapconv.c's input transform (hk_tap_pre: a BN + ReLU folded into the k x 1 x 1
 * conv that reads its output).
 *
 * For a table of shapes (SSRN's spectral convs, C2's conv over the whole depth, odd depths,
 * pad 0 and k - 1, tails of rows and channel widths), random x, scale (some negative), shift,
 * ReLU on and off: y = the affine + ReLU as bnorm.c computes it (a multiply, then an add, the
 * ReLU as v > 0 ? v : 0); hk_tap_forward(x, pre) must give the same bits as hk_tap_forward(y),
 * hk_tap_backward(x, pre)'s dw, db and dx the same bits as hk_tap_backward(y)'s (dx does not
 * read x), and both agree with a naive double-precision conv of y (so that both cannot be
 * wrong the same way). Where the kernels take them, a residual added at the forward's store
 * and a backward data added into dx must give the bits of the separate additions.
 *
 *   test_tap_pre                 the cases (exit status 1 on a failure)
 *   test_tap_pre bench MODE [R]  R (default 50) repetitions on SSRN's spectral conv at batch 16
 *                                (24 -> 24 channels, 97 planes of 7 x 7, 7 taps, pad 3), MODE:
 *                                fwd_plain (the conv alone), fwd_unfused (BN apply, conv of y),
 *                                fwd_fused (conv of x through pre), bwd_plain, bwd_unfused,
 *                                bwd_fused (the same for the weights' and bias' gradients);
 *                                c2_MODE: the same on C2 (24 x 97 planes of 7 x 7 -> 128
 *                                channels, one output plane)
 *   test_tap_pre bench fwd|bwd|c2_fwd|c2_bwd [R]   plain, unfused and fused in turn, R rounds
 */
#define _POSIX_C_SOURCE 200809L
#include "bnorm.h"
#include "tapconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float urand(void)   /* [-1, 1) */
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float *falloc(size_t n)
{
    size_t b = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, b ? b : 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void fill(float *p, size_t n, float a)
{
    for (size_t i = 0; i < n; i++) p[i] = a * urand();
}

/* The reference transform, written as bnorm.c's forward writes its output (norml_c) */
static void affine(const float *x, float *y, int64_t n, int64_t c, int64_t plane,
                   const float *sc, const float *sh, int relu)
{
    for (int64_t s = 0; s < n; s++)
        for (int64_t cb = 0; cb < c / 8; cb++)
            for (int64_t i = 0; i < plane; i++)
                for (int l = 0; l < 8; l++) {
                    size_t q = (size_t)(((s * (c / 8) + cb) * plane + i) * 8 + l);
                    float v = x[q] * sc[cb * 8 + l];
                    v = v + sh[cb * 8 + l];
                    y[q] = relu && !(v > 0) ? 0.0f : v;
                }
}

/* element (s, c, d, p) of an [N, C/8, D, HW, 8] tensor */
static size_t at(int64_t c, int64_t d, int64_t hw, int64_t s, int64_t ch, int64_t dd, int64_t p)
{
    return (size_t)((((s * (c / 8) + ch / 8) * d + dd) * hw + p) * 8 + ch % 8);
}

typedef struct tcase {
    int64_t n, c, oc, din, hw, k, pad, dout;
    int bias;
} tcase;

static int fails, dx_adds;

/* The prefetch cursors (hk_tap_pf_probe): every address they give must lie in a tensor the
 * call reads (x, dy, the hook's tensor), never past one; counted per ISA path */
static const float *pf_lo[4], *pf_hi[4];
static int pf_n;
static long long pf_count, pf_stray;
static void pf_allow(int i, const float *p, size_t n)
{
    pf_lo[i] = p;
    pf_hi[i] = p + n;
    if (i + 1 > pf_n) pf_n = i + 1;
}
static void pf_probe(const void *a)
{
    const float *f = a;
    __atomic_fetch_add(&pf_count, 1, __ATOMIC_RELAXED);   /* the kernels' threads */
    for (int i = 0; i < pf_n; i++)
        if (f >= pf_lo[i] && f < pf_hi[i]) return;
    if (__atomic_fetch_add(&pf_stray, 1, __ATOMIC_RELAXED) < 3) fprintf(stderr, "FAIL: a prefetch outside the tensors read: %p\n", a);
}
/* a hook that sums nothing and counts the rows it is told of */
static long long hook_rows;
static void hook_count(void *ctx, int64_t n, int64_t r0, int64_t r1)
{
    (void)ctx, (void)n;
    __atomic_fetch_add(&hook_rows, (long long)(r1 - r0), __ATOMIC_RELAXED);
}

static int same(const char *what, const tcase *t, int relu, const float *a, const float *b,
                size_t n)
{
    if (!memcmp(a, b, n * sizeof(float))) return 1;
    size_t i = 0;
    while (i < n && !memcmp(a + i, b + i, sizeof(float))) i++;
    fprintf(stderr,
            "FAIL %s: N %lld C %lld OC %lld D %lld->%lld HW %lld K %lld pad %lld relu %d: "
            "first difference at %zu: %.9g vs %.9g\n",
            what, (long long)t->n, (long long)t->c, (long long)t->oc, (long long)t->din,
            (long long)t->dout, (long long)t->hw, (long long)t->k, (long long)t->pad, relu, i,
            a[i], b[i]);
    fails++;
    return 0;
}

/* got against a double-precision sum with sumabs = sum of |terms| */
static int close_to(double got, double ref, double sumabs)
{
    return fabs(got - ref) <= 1e-5 * sumabs + 1e-6;
}

static void naive_check(const tcase *t, int relu, const float *y, const float *w, const float *b,
                        const float *out, const float *dy, const float *dw0, const float *dw,
                        const float *db0, const float *db)
{
    int64_t C = t->c, OC = t->oc, K = t->k, hw = t->hw;
    int bad = 0;
    for (int64_t s = 0; s < t->n && !bad; s++)
        for (int64_t o = 0; o < OC && !bad; o++)
            for (int64_t d = 0; d < t->dout && !bad; d++)
                for (int64_t p = 0; p < hw; p++) {
                    double acc = t->bias ? b[o] : 0, sa = fabs(acc);
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t k = 0; k < K; k++) {
                            int64_t e = d + k - t->pad;
                            if (e < 0 || e >= t->din) continue;
                            double v = (double)w[(o * C + c) * K + k] * y[at(C, t->din, hw, s, c, e, p)];
                            acc += v;
                            sa += fabs(v);
                        }
                    double got = out[at(OC, t->dout, hw, s, o, d, p)];
                    if (!close_to(got, acc, sa)) {
                        fprintf(stderr, "FAIL naive forward (relu %d) at s %lld o %lld d %lld p %lld: "
                                "%.9g vs %.9g\n", relu, (long long)s, (long long)o, (long long)d,
                                (long long)p, got, acc);
                        bad = 1;
                        break;
                    }
                }
    for (int64_t o = 0; o < OC && !bad; o++)
        for (int64_t c = 0; c < C && !bad; c++)
            for (int64_t k = 0; k < K; k++) {
                size_t i = (size_t)((o * C + c) * K + k);
                double acc = dw0[i], sa = fabs(acc);
                for (int64_t s = 0; s < t->n; s++)
                    for (int64_t d = 0; d < t->dout; d++) {
                        int64_t e = d + k - t->pad;
                        if (e < 0 || e >= t->din) continue;
                        for (int64_t p = 0; p < hw; p++) {
                            double v = (double)y[at(C, t->din, hw, s, c, e, p)]
                                       * dy[at(OC, t->dout, hw, s, o, d, p)];
                            acc += v;
                            sa += fabs(v);
                        }
                    }
                if (!close_to(dw[i], acc, sa)) {
                    fprintf(stderr, "FAIL naive dw (relu %d) at o %lld c %lld k %lld: %.9g vs %.9g\n",
                            relu, (long long)o, (long long)c, (long long)k, dw[i], acc);
                    bad = 1;
                    break;
                }
            }
    if (t->bias)
        for (int64_t o = 0; o < OC && !bad; o++) {
            double acc = db0[o], sa = fabs(acc);
            for (int64_t s = 0; s < t->n; s++)
                for (int64_t d = 0; d < t->dout; d++)
                    for (int64_t p = 0; p < hw; p++) {
                        double v = dy[at(OC, t->dout, hw, s, o, d, p)];
                        acc += v;
                        sa += fabs(v);
                    }
            if (!close_to(db[o], acc, sa)) {
                fprintf(stderr, "FAIL naive db at o %lld: %.9g vs %.9g\n", (long long)o, db[o], acc);
                bad = 1;
            }
        }
    if (bad) fails++;
}

static void run_case(const tcase *t, int relu, int naive)
{
    hk_tap g = {.n = t->n, .c = t->c, .oc = t->oc, .din = t->din, .dout = t->dout, .hw = t->hw,
                .k = t->k, .pad = t->pad, .stride = 1, .bias = t->bias};
    size_t nx = (size_t)(t->n * t->c * t->din * t->hw), ny = (size_t)(t->n * t->oc * t->dout * t->hw);
    size_t nw = (size_t)(t->oc * t->c * t->k), ns = hk_tap_scratch_floats(&g);
    float *x = falloc(nx), *y = falloc(nx), *w = falloc(nw), *b = falloc((size_t)t->oc);
    float *sc = falloc((size_t)t->c), *sh = falloc((size_t)t->c), *scr = falloc(ns);
    float *o1 = falloc(ny), *o2 = falloc(ny), *dy = falloc(ny), *dx1 = falloc(nx), *dx2 = falloc(nx);
    float *dw0 = falloc(nw), *dw1 = falloc(nw), *dw2 = falloc(nw);
    float *db0 = falloc((size_t)t->oc), *db1 = falloc((size_t)t->oc), *db2 = falloc((size_t)t->oc);
    fill(x, nx, 2.0f);
    fill(w, nw, 0.5f);
    fill(b, (size_t)t->oc, 0.5f);
    fill(sc, (size_t)t->c, 1.5f);   /* some negative */
    fill(sh, (size_t)t->c, 0.7f);
    fill(dy, ny, 1.0f);
    fill(dw0, nw, 0.3f);
    fill(db0, (size_t)t->oc, 0.3f);
    /* NaN-free; a few exact zeros and negative zeros of x*scale + shift */
    if (nx > 3) {
        x[1] = 0.0f;
        sh[1] = -0.0f;
    }
    affine(x, y, t->n, t->c, t->din * t->hw, sc, sh, relu);
    hk_tap_pre pre = {.scale = sc, .shift = sh, .relu = relu};
    pf_n = 0;
    pf_allow(0, x, nx);
    pf_allow(1, y, nx);
    pf_allow(2, dy, ny);

    /* forward: garbage in the outputs first (they are overwritten) */
    fill(o1, ny, 9.0f);
    memcpy(o2, o1, ny * sizeof(float));
    fill(scr, ns, 9.0f);
    hk_tap_forward(&g, y, NULL, w, b, o1, scr);
    fill(scr, ns, 9.0f);
    hk_tap_forward(&g, x, &pre, w, b, o2, scr);
    same("forward fused vs unfused", t, relu, o1, o2, ny);

    /* backward: dw, db accumulate onto dw0, db0; dx overwritten */
    memcpy(dw1, dw0, nw * sizeof(float));
    memcpy(dw2, dw0, nw * sizeof(float));
    memcpy(db1, db0, (size_t)t->oc * sizeof(float));
    memcpy(db2, db0, (size_t)t->oc * sizeof(float));
    fill(dx1, nx, 9.0f);
    memcpy(dx2, dx1, nx * sizeof(float));
    fill(scr, ns, 9.0f);
    hk_tap_backward(&g, y, NULL, w, dy, dx1, dw1, db1, scr);
    fill(scr, ns, 9.0f);
    hk_tap_backward(&g, x, &pre, w, dy, dx2, dw2, db2, scr);
    same("backward dw fused vs unfused", t, relu, dw1, dw2, nw);
    if (t->bias) same("backward db fused vs unfused", t, relu, db1, db2, (size_t)t->oc);
    same("backward dx fused vs unfused", t, relu, dx1, dx2, nx);
    /* the weights alone (dx NULL), as the net's first-layer-like calls */
    memcpy(dw2, dw0, nw * sizeof(float));
    memcpy(db2, db0, (size_t)t->oc * sizeof(float));
    hk_tap_backward(&g, x, &pre, w, dy, NULL, dw2, db2, scr);
    same("backward dw (no dx) fused vs unfused", t, relu, dw1, dw2, nw);
    if (t->bias) same("backward db (no dx) fused vs unfused", t, relu, db1, db2, (size_t)t->oc);

    /* the residual added at the store (hk_tap_forward_res): the conv's float, then + res, as a
     * separate add; and the backward data added into dx (dx_add): dx's float + the gradient's.
     * Every ISA's row kernel takes both where hk_tap_residual_ok / hk_tap_dx_add_ok say. */
    if (hk_tap_residual_ok(&g)) {
        float *res = falloc(ny), *o3 = falloc(ny);
        fill(res, ny, 3.0f);
        fill(o3, ny, 9.0f);
        fill(scr, ns, 9.0f);
        hk_tap_forward_res(&g, x, &pre, w, b, res, o3, scr, NULL);
        for (size_t i = 0; i < ny; i++) o1[i] = o2[i] + res[i];
        same("forward + residual at the store vs a separate add", t, relu, o1, o3, ny);
        free(res);
        free(o3);
    } else if (t->c % 8 == 0 && t->oc % 8 == 0) {
        fprintf(stderr, "FAIL: no residual at the store for C %lld OC %lld\n", (long long)t->c,
                (long long)t->oc);
        fails++;
    }
    if (hk_tap_dx_add_ok(&g)) {
        float *dx3 = falloc(nx);
        fill(dx3, nx, 4.0f);
        for (size_t i = 0; i < nx; i++) dx1[i] = dx3[i] + dx2[i];
        fill(scr, ns, 9.0f);
        hk_tap_backward_hook(&g, x, &pre, w, dy, dx3, 1, NULL, NULL, scr, NULL);
        same("backward dx added into dx vs a separate add", t, relu, dx1, dx3, nx);
        free(dx3);
        dx_adds++;
    }

    /* a hook reading x's rows (as a BN's backward sums do): told of every row of dx once */
    if (hk_tap_hook_ok(&g, 1)) {
        float *dx4 = falloc(nx);
        hk_tap_hook hk = {hook_count, NULL, x};
        hook_rows = 0;
        fill(scr, ns, 9.0f);
        hk_tap_backward_hook(&g, x, &pre, w, dy, dx4, 0, NULL, NULL, scr, &hk);
        same("backward dx with a hook vs without", t, relu, dx2, dx4, nx);
        if (hook_rows != t->n * t->din * t->hw) {
            fprintf(stderr, "FAIL: the hook was told of %lld rows of %lld\n", hook_rows,
                    (long long)(t->n * t->din * t->hw));
            fails++;
        }
        free(dx4);
    }

    if (naive) naive_check(t, relu, y, w, b, o2, dy, dw0, dw2, db0, db2);

    free(x); free(y); free(w); free(b); free(sc); free(sh); free(scr); free(o1); free(o2);
    free(dy); free(dx1); free(dx2); free(dw0); free(dw1); free(dw2); free(db0); free(db1);
    free(db2);
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int bench(const char *mode, int reps)
{
    const int64_t N = 16, C = 24, D = 97, HW = 49;
    int c2 = !strncmp(mode, "c2_", 3);
    if (c2) mode += 3;
    /* SSRN's spectral conv, or C2 (24 x 97 planes -> 128, one output plane) */
    hk_tap g = {.n = N, .c = C, .oc = c2 ? 128 : C, .din = D, .dout = c2 ? 1 : D, .hw = HW,
                .k = c2 ? D : 7, .pad = c2 ? 0 : 3, .stride = 1, .bias = 1};
    hk_bnorm bg = {.n = N, .c = C, .b = 8, .s = D * HW, .eps = 1e-3f, .relu = 1};
    size_t nx = (size_t)(N * C * D * HW), ny = (size_t)(N * g.oc * g.dout * HW);
    size_t nw = (size_t)(g.oc * C * g.k), ns = hk_tap_scratch_floats(&g);
    size_t no = nx > ny ? nx : ny;
    float *x = falloc(nx), *y = falloc(no), *o = falloc(no), *w = falloc(nw), *b = falloc(g.oc);
    float *dw = falloc(nw), *db = falloc(g.oc), *scr = falloc(ns);
    float gamma[24], beta[24], mean[24], var[24], sc[24], sh[24];
    double *bscr = malloc(hk_bnorm_scratch_doubles(&bg) * sizeof(double));
    fill(x, nx, 2.0f);
    fill(o, no, 1.0f);   /* dy for the backward modes */
    fill(w, nw, 0.5f);
    fill(b, g.oc, 0.5f);
    memset(dw, 0, nw * sizeof(float));
    memset(db, 0, g.oc * sizeof(float));
    memset(y, 0, no * sizeof(float));
    memset(scr, 0, ns * sizeof(float));
    for (int c = 0; c < 24; c++) {
        gamma[c] = 1.0f + 0.3f * urand();
        beta[c] = 0.2f * urand();
        mean[c] = 0.1f * urand();
        var[c] = 1.3f + 0.2f * urand();
        sc[c] = gamma[c] / sqrtf(var[c] + bg.eps);
        sh[c] = beta[c] - mean[c] * sc[c];
    }
    hk_tap_pre pre = {.scale = sc, .shift = sh, .relu = 1};
    int cmp = !strcmp(mode, "fwd") ? 1 : !strcmp(mode, "bwd") ? 2 : 0;
    int m = cmp ? 3 * (cmp - 1) : !strcmp(mode, "fwd_plain") ? 0 : !strcmp(mode, "fwd_unfused") ? 1
          : !strcmp(mode, "fwd_fused") ? 2 : !strcmp(mode, "bwd_plain") ? 3
          : !strcmp(mode, "bwd_unfused") ? 4 : !strcmp(mode, "bwd_fused") ? 5 : -1;
    if (m < 0) {
        fprintf(stderr, "unknown bench mode %s\n", mode);
        return 2;
    }
    float *dy = o;
    if (cmp) {
        /* plain, unfused and fused in turn, reps rounds of 5 calls each: the median of each
         * one's rounds (the rounds of the three see the same machine) */
        enum { MAXR = 200 };
        double t[3][MAXR];
        if (reps > MAXR) reps = MAXR;
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < 3; k++) {
                double a = cpu_ms();
                for (int i = 0; i < 5; i++) {
                    if (cmp == 1 && k == 0) hk_tap_forward(&g, x, NULL, w, b, o, scr);
                    if (cmp == 1 && k == 1) {
                        hk_bnorm_apply(&bg, x, gamma, beta, mean, var, y, bscr);
                        hk_tap_forward(&g, y, NULL, w, b, o, scr);
                    }
                    if (cmp == 1 && k == 2) hk_tap_forward(&g, x, &pre, w, b, o, scr);
                    if (cmp == 2 && k == 0) hk_tap_backward(&g, x, NULL, w, dy, NULL, dw, db, scr);
                    if (cmp == 2 && k == 1) {
                        hk_bnorm_apply(&bg, x, gamma, beta, mean, var, y, bscr);
                        hk_tap_backward(&g, y, NULL, w, dy, NULL, dw, db, scr);
                    }
                    if (cmp == 2 && k == 2) hk_tap_backward(&g, x, &pre, w, dy, NULL, dw, db, scr);
                }
                t[k][r] = (cpu_ms() - a) / 5;
            }
        static const char *names[3] = {"plain", "BN apply + conv", "fused"};
        for (int k = 0; k < 3; k++) {
            for (int i = 1; i < reps; i++)   /* insertion sort */
                for (int j = i; j > 0 && t[k][j] < t[k][j - 1]; j--) {
                    double v = t[k][j];
                    t[k][j] = t[k][j - 1];
                    t[k][j - 1] = v;
                }
            printf("%s%s %s: median %.3f ms, min %.3f (%d rounds of 5)\n", c2 ? "c2_" : "", mode,
                   names[k], t[k][reps / 2], t[k][0], reps);
        }
        free(x); free(y); free(o); free(w); free(b); free(dw); free(db); free(scr); free(bscr);
        return 0;
    }
    double t0 = cpu_ms();
    for (int r = 0; r < reps; r++) {
        switch (m) {
        case 0: hk_tap_forward(&g, x, NULL, w, b, o, scr); break;
        case 1:
            hk_bnorm_apply(&bg, x, gamma, beta, mean, var, y, bscr);
            hk_tap_forward(&g, y, NULL, w, b, o, scr);
            break;
        case 2: hk_tap_forward(&g, x, &pre, w, b, o, scr); break;
        case 3: hk_tap_backward(&g, x, NULL, w, dy, NULL, dw, db, scr); break;
        case 4:
            hk_bnorm_apply(&bg, x, gamma, beta, mean, var, y, bscr);
            hk_tap_backward(&g, y, NULL, w, dy, NULL, dw, db, scr);
            break;
        case 5: hk_tap_backward(&g, x, &pre, w, dy, NULL, dw, db, scr); break;
        }
    }
    double t1 = cpu_ms();
    printf("%s%s: %.3f ms CPU per repetition (%d)\n", c2 ? "c2_" : "", mode, (t1 - t0) / reps,
           reps);
    free(x); free(y); free(o); free(w); free(b); free(dw); free(db); free(scr); free(bscr);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "bench"))
        return bench(argc > 2 ? argv[2] : "fwd_fused", argc > 3 ? atoi(argv[3]) : 50);
    static const tcase cases[] = {
        /* SSRN's spectral convs (24 -> 24, 97 planes of 7 x 7, 7 taps, pad 3) */
        {2, 24, 24, 97, 49, 7, 3, 97, 1},
        {3, 24, 24, 97, 49, 7, 3, 97, 0},
        /* C2: the whole depth, one output plane, 24 x 97 -> 128 */
        {3, 24, 128, 97, 49, 97, 0, 1, 1},
        {7, 24, 128, 97, 49, 97, 0, 1, 0},   /* several samples a work item, an odd count */
        /* odd depths, pad 0 and k - 1 (a full conv), odd pixels */
        {2, 16, 40, 13, 5, 3, 0, 11, 1},
        {2, 16, 40, 13, 5, 3, 2, 15, 1},
        {1, 8, 8, 9, 1, 4, 3, 12, 0},
        {3, 8, 16, 17, 1, 5, 0, 13, 1},
        {2, 32, 24, 11, 49, 5, 2, 11, 1},
        {2, 64, 72, 7, 3, 3, 1, 7, 1},
        {2, 64, 128, 5, 9, 5, 4, 9, 0},
        {4, 32, 56, 21, 7, 21, 0, 1, 1},     /* a C2-like fold, small */
        {5, 8, 32, 31, 25, 31, 0, 1, 1},
        {1, 24, 24, 97, 49, 7, 3, 97, 1},    /* one sample, odd tails of rows */
        {2, 40, 8, 6, 11, 6, 5, 11, 1},      /* k = depth, pad k - 1 */
        {2, 24, 104, 23, 2, 9, 4, 23, 1},
        /* rows not a multiple of the chunks, long runs of edge planes */
        {2, 16, 24, 40, 13, 13, 6, 40, 1},
        {2, 8, 24, 300, 1, 3, 1, 300, 1},
        /* many taps a sample (a window of a chunk and its halo, several blocks of taps) */
        {1, 8, 8, 120, 40, 50, 0, 71, 1},
        {2, 16, 8, 120, 40, 50, 49, 169, 0},
    };
    int nc = (int)(sizeof cases / sizeof cases[0]), runs = 0;
    hk_tap_pf_probe = pf_probe;
    for (int i = 0; i < nc; i++)
        for (int relu = 0; relu < 2; relu++) {
            const tcase *t = &cases[i];
            double cost = (double)t->n * t->oc * t->dout * t->hw * t->c * t->k;
            /* the naive double-precision check where it is cheap, and always on SSRN's shape
             * and the C2 one (the first three) */
            run_case(t, relu, i < 3 || cost < 2e7);
            runs++;
        }
    /* SSRN's spectral convs (the first two cases) add into dx on every ISA */
    if (dx_adds < 4) {
        fprintf(stderr, "FAIL: the backward data added into dx in only %d runs\n", dx_adds);
        fails++;
    }
    /* the cursors run on every x86 path (C2's blocks of taps on the row kernels; AVX-512's
     * pair kernel, weights and hooks besides), unless HSICC_NO_PREFETCH is set */
    const char *off = getenv("HSICC_NO_PREFETCH");
#if defined(__x86_64__) || defined(__i386__)
    if (!(off && *off && strcmp(off, "0")) && hk_tap_isa() > 0 && pf_count == 0) {
        fprintf(stderr, "FAIL: no prefetch ahead on ISA level %d\n", hk_tap_isa());
        fails++;
    }
#endif
    (void)off;
    if (pf_stray) fails++;
    printf("test_tap_pre (ISA level %d): %d runs (%d adding into dx), %d failures; %lld "
           "prefetches ahead, %lld outside the tensors\n",
           hk_tap_isa(), runs, dx_adds, fails, pf_count, pf_stray);
    return fails ? 1 : 0;
}
