/* net_check.c — a whole emitted network checked against oracles.
 *
 * Built once per netdef with -DNET=<stem>_net (and optionally -DNET_PLAIN=<stem>_plain_net,
 * the same netdef emitted with --no-fuse --no-rewrite). For every domain it runs a training
 * step (forward with batch statistics, loss, backward) with the same parameters and inputs on
 *   - the reference backend (naive loops, double accumulation): the oracle,
 *   - the oneDNN backend (when built in): logits, loss and every gradient must match (on one
 *     of up to DRAWS input batches: see the kink note in main),
 *   - the plain variant (no fusion, no rewrites) on the reference backend: must match,
 * and, with -DFD_CHECK (nets with smooth activations: through ReLU kinks float finite
 * differences are noise), checks every parameter's gradient on the reference backend against
 * central finite differences along a random direction (the autodiff wiring: accumulation,
 * aliasing, in-place, views, shared parameters), and the inference pass on its own
 * (infer_check).
 */
#define _POSIX_C_SOURCE 200809L   /* setenv */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi.h"

extern const hsi_netdesc NET;
#ifdef NET_PLAIN
extern const hsi_netdesc NET_PLAIN;
#endif

#ifndef BATCH
#define BATCH 4
#endif

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t rs = 0x243F6A8885A308D3ull;
static double urand(void) { return (double)(xorshift(&rs) >> 11) / 9007199254740992.0; }
static double nrand(void)
{
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static hsi_model *make(const hsi_netdesc *d, hsi_backend be)
{
    char err[512] = "";
    hsi_model_opts o = {BATCH, be, 1234};
    hsi_model *m = d->create(&o, err, sizeof err);
    if (!m) printf("create (%s): %s\n", be == HSI_BACKEND_REF ? "ref" : "dnnl", err);
    return m;
}

/* Random but well-scaled values, by name order, so every model gets the same ones. */
static void init_params(hsi_param *p, int n)
{
    for (int i = 0; i < n; i++) {
        double fan = p[i].init.fan_in > 0 ? (double)p[i].init.fan_in : 1.0;
        for (int64_t k = 0; k < p[i].numel; k++) {
            double v;
            switch (p[i].role) {
            case HSI_ROLE_BN_GAMMA: v = 1.0 + 0.2 * (urand() - 0.5); break;
            case HSI_ROLE_BN_VAR: v = 1.0 + 0.5 * urand(); break;
            case HSI_ROLE_BN_BETA: case HSI_ROLE_BN_MEAN: case HSI_ROLE_BIAS: v = 0.1 * (urand() - 0.5); break;
            default: v = nrand() * sqrt(2.0 / fan); break;
            }
            p[i].value[k] = (float)v;
        }
    }
}

static void copy_params(hsi_model *dst, const hsi_netdesc *dd, hsi_model *src, const hsi_netdesc *sd)
{
    hsi_param *a, *b;
    int na = dd->params(dst, &a), nb = sd->params(src, &b);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (!strcmp(a[i].name, b[j].name) && a[i].numel == b[j].numel)
                memcpy(a[i].value, b[j].value, sizeof(float) * (size_t)a[i].numel);
}

static double max_abs(const float *x, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* |a - b| <= tol * max(|b|_inf, floor) + floor_k element-wise, floor_k the oracle's own
 * noise at element k (NULL: none; see compare_models); prints the worst. */
static int close_enough_floor(const char *what, const float *a, const float *b, const float *nf,
                              int64_t n, double tol)
{
    double scale = fmax(max_abs(b, n), 1e-2), worst = 0, excess = -1;
    int64_t at = 0, fl = -1;   /* fl: the element furthest past tol that its noise let pass */
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]), f = nf ? nf[i] : 0;
        if (d - f - tol * scale > excess) { excess = d - f - tol * scale; worst = d; at = i; }
        if (d > tol * scale && d <= tol * scale + f
            && (fl < 0 || d > fabs((double)a[fl] - (double)b[fl])))
            fl = i;
    }
    int ok = excess <= 0;
    if (!ok) {
        printf("  MISMATCH %-40s max |diff| %.3g at %lld (%g vs %g), scale %.3g", what, worst,
               (long long)at, (double)a[at], (double)b[at], scale);
        if (nf) printf(", the oracle's noise there %.3g", (double)nf[at]);
        printf("\n");
    }
    if (ok && fl >= 0)
        printf("  (%s: |diff| %.3g at %lld (%g vs %g) is more than %g of its scale %.3g but within "
               "the oracle's noise there, %.3g: an ill-conditioned gradient)\n", what,
               fabs((double)a[fl] - (double)b[fl]), (long long)fl, (double)a[fl], (double)b[fl],
               tol, scale, (double)nf[fl]);
    return ok;
}

static int close_enough(const char *what, const float *a, const float *b, int64_t n, double tol)
{
    return close_enough_floor(what, a, b, NULL, n, tol);
}

#ifndef DRAWS
#define DRAWS 4
#endif

/* x: n floats; y: ny labels, one per sample, or a label window per sample (a per-pixel loss:
 * then about one label in 5 is -1, unlabelled, which the loss must ignore). */
static void draw_batch(float *x, int64_t n, int32_t *y, int64_t ny, int classes)
{
    for (int64_t k = 0; k < n; k++) x[k] = (float)nrand();
    for (int64_t k = 0; k < ny; k++)
        y[k] = ny > BATCH && urand() < 0.2 ? -1 : (int32_t)(urand() * classes);
}

typedef struct step { float loss; float *logits; } step;

static float train_step(const hsi_netdesc *d, hsi_model *m, int dom, const float *x,
                        const int32_t *y)
{
    d->zero_grad(m);
    d->forward(m, dom, x, BATCH, 1, 7);
    return d->loss_backward(m, dom, y, BATCH, 1.0f);
}

/* The oracle's noise: how far b's gradients move when every input moves by a few float ulps
 * (relative 1e-6, random sign): the rounding of any float computation is of that size, and a
 * gradient that such a move changes a lot is ill-conditioned (a sum of terms far larger than
 * itself: behind BNs of nearly constant inputs, terms of 1e4 cancel to 0.3), where two correct
 * float implementations that sum in different orders differ by as much (seen: oneDNN's AVX-512
 * 1x1 conv's bias gradient, --ext seed 3239: |diff| 0.00195 of 0.338, the move 0.0039).
 * Rounding happens at every op, the move only at the input: the noise is 4 times the move.
 * One float per gradient element, for the params in b's order. */
static float *oracle_noise(const hsi_netdesc *db, hsi_model *b, int dom, const float *x,
                           const int32_t *y)
{
    const hsi_domain *dm = &db->domains[dom];
    int64_t per = 1;
    for (int k = 0; k < dm->ndim; k++) per *= dm->in_dims[k];
    hsi_param *p;
    int n = db->params(b, &p);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += p[i].grad ? (size_t)p[i].numel : 0;
    float *xp = malloc(sizeof(float) * (size_t)(per * BATCH)), *g = malloc(sizeof(float) * (total + 1));
    uint64_t r = 0x9E3779B97F4A7C15ull;   /* its own stream: the draws stay those of main */
    for (int64_t k = 0; k < per * BATCH; k++)
        xp[k] = x[k] * (float)(1.0 + (xorshift(&r) >> 63 ? -1e-6 : 1e-6));
    train_step(db, b, dom, x, y);
    size_t o = 0;
    for (int i = 0; i < n; i++)
        if (p[i].grad) {
            memcpy(g + o, p[i].grad, sizeof(float) * (size_t)p[i].numel);
            o += (size_t)p[i].numel;
        }
    train_step(db, b, dom, xp, y);
    o = 0;
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; p[i].grad && k < p[i].numel; k++, o++)
            g[o] = 4 * fabsf(g[o] - p[i].grad[k]);
    free(xp);
    return g;
}

static int compare_models(const char *label, const hsi_netdesc *da, hsi_model *a,
                          const hsi_netdesc *db, hsi_model *b, int dom, const float *x,
                          const int32_t *y, double tol_fwd, double tol_grad)
{
    int classes = da->domains[dom].classes, ok = 1;
    float *nf = NULL;
    if (tol_grad > 0) {   /* exact comparisons (tol 0) have no use for it */
        copy_params(b, db, a, da);
        nf = oracle_noise(db, b, dom, x, y);
    }
    copy_params(b, db, a, da);   /* same values, running statistics included */
    float la = train_step(da, a, dom, x, y), lb = train_step(db, b, dom, x, y);
    /* NET_CHECK_BREAK=<param>: a's gradient of it off by 1 % of its largest element, so that
     * a test can show the comparison catches an error of that size (the oracle's noise must
     * not hide it on a well-conditioned net) */
    const char *brk = getenv("NET_CHECK_BREAK");
    if (brk && tol_grad > 0) {
        hsi_param *pa;
        int na = da->params(a, &pa);
        for (int i = 0; i < na; i++)
            if (!strcmp(pa[i].name, brk) && pa[i].grad)
                pa[i].grad[0] += (float)(1e-2 * fmax(max_abs(pa[i].grad, pa[i].numel), 1e-2));
    }
    ok &= close_enough("loss", &la, &lb, 1, tol_fwd);
    ok &= close_enough("logits", da->logits(a, dom), db->logits(b, dom), (int64_t)BATCH * classes, tol_fwd);
    hsi_param *pa, *pb;
    int na = da->params(a, &pa), nb = db->params(b, &pb);
    int compared = 0;
    for (int i = 0; i < na; i++) {
        size_t off = 0;
        for (int j = 0; j < nb; j++) {
            const float *f = nf && pb[j].grad ? nf + off : NULL;
            if (pb[j].grad) off += (size_t)pb[j].numel;
            if (strcmp(pa[i].name, pb[j].name)) continue;
            if (pa[i].grad && pb[j].grad) {
                ok &= close_enough_floor(pa[i].name, pa[i].grad, pb[j].grad, f, pa[i].numel, tol_grad);
                compared++;
            }
            if (pa[i].role == HSI_ROLE_BN_MEAN || pa[i].role == HSI_ROLE_BN_VAR)
                ok &= close_enough(pa[i].name, pa[i].value, pb[j].value, pa[i].numel, tol_fwd);
        }
    }
    free(nf);
    /* inference: running statistics, no dropout */
    da->forward(a, dom, x, BATCH - 1, 0, 0);
    db->forward(b, dom, x, BATCH - 1, 0, 0);
    ok &= close_enough("logits (inference, partial batch)", da->logits(a, dom), db->logits(b, dom),
                       (int64_t)(BATCH - 1) * classes, tol_fwd);
    printf("%s domain %d: loss %.6f vs %.6f, %d gradients compared: %s\n", label, dom, la, lb,
           compared, ok ? "ok" : "FAIL");
    return ok;
}

/* The inference pass (forward_infer_<d>) on its own: it writes no parameter (running
 * statistics included) and reads nothing a training pass leaves behind (workspaces, dropout
 * masks, batch statistics): after a training step, with the parameters put back, it gives the
 * same logits bit for bit. A domain the net does not have is refused quietly (no pass runs). */
static int infer_check(const hsi_netdesc *d, hsi_model *m, int dom, const float *x, const int32_t *y)
{
    hsi_param *p;
    int n = d->params(m, &p), ok = 1, classes = d->domains[dom].classes;
    size_t nv = 0;
    for (int i = 0; i < n; i++) nv += (size_t)p[i].numel;
    float *saved = malloc(sizeof(float) * (nv + 1)), *before = malloc(sizeof(float) * (size_t)BATCH * classes);
    for (int i = 0, k = 0; i < n; k += (int)p[i].numel, i++)
        memcpy(saved + k, p[i].value, sizeof(float) * (size_t)p[i].numel);
    d->forward(m, dom, x, BATCH, 0, 0);
    memcpy(before, d->logits(m, dom), sizeof(float) * (size_t)BATCH * classes);
    for (int i = 0, k = 0; i < n; k += (int)p[i].numel, i++)
        if (memcmp(saved + k, p[i].value, sizeof(float) * (size_t)p[i].numel)) {
            printf("  MISMATCH the inference pass wrote %s\n", p[i].name);
            ok = 0;
        }
    train_step(d, m, dom, x, y);
    for (int i = 0, k = 0; i < n; k += (int)p[i].numel, i++)
        memcpy(p[i].value, saved + k, sizeof(float) * (size_t)p[i].numel);
    d->forward(m, dom, x, BATCH, 0, 99);
    if (memcmp(before, d->logits(m, dom), sizeof(float) * (size_t)BATCH * classes)) {
        printf("  MISMATCH inference logits changed after a training step\n");
        ok = 0;
    }
    if (d->logits(m, d->n_domains) || d->logits(m, -1)
        || d->loss_backward(m, d->n_domains, y, BATCH, 1.0f) != 0.0f) {
        printf("  MISMATCH a domain out of range was not refused\n");
        ok = 0;
    }
    d->forward(m, d->n_domains, x, BATCH, 1, 0);   /* must not run (or crash) */
    printf("inference pass domain %d: %s\n", dom, ok ? "ok" : "FAIL");
    free(saved);
    free(before);
    return ok;
}

#if FD_CHECK
/* Directional derivative of the loss along a random v over one parameter tensor, central
 * differences with the step h and with 10 h (fd[0], fd[1], their noise[0], noise[1]), against
 * the backward pass's grad . v (all returned). */
static void fd_one(const hsi_netdesc *d, hsi_model *m, int dom, const float *x, const int32_t *y,
                   int i, double *fd, double *gv, double *noise)
{
    hsi_param *p;
    d->params(m, &p);
    double f0 = train_step(d, m, dom, x, y);
    float *v = malloc(sizeof(float) * (size_t)p[i].numel);
    double s = max_abs(p[i].value, p[i].numel) + 1e-2, vv = 0;
    *gv = 0;
    for (int64_t k = 0; k < p[i].numel; k++) {
        v[k] = (float)(nrand() * s);
        *gv += (double)p[i].grad[k] * v[k];
        vv += (double)v[k] * v[k];
    }
    /* each element moves by about 1e-4 of the tensor's scale: clear of most ReLU kinks, large
     * enough for float losses; and by 1e-3, where the loss's rounding weighs 10 times less and
     * a smooth loss's curvature still little (a wrong gradient is wrong at both steps) */
    for (int t = 0; t < 2; t++) {
        double h = (t ? 1e-3 : 1e-4) / sqrt(vv / (double)p[i].numel + 1e-12), f[2];
        for (int side = 0; side < 2; side++) {
            double sgn = side ? -1.0 : 1.0;
            for (int64_t k = 0; k < p[i].numel; k++) p[i].value[k] += (float)(sgn * h * v[k]);
            f[side] = train_step(d, m, dom, x, y);
            for (int64_t k = 0; k < p[i].numel; k++) p[i].value[k] -= (float)(sgn * h * v[k]);
        }
        fd[t] = (f[0] - f[1]) / (2 * h);
        /* the loss is a float: differences below a few ulps of it are noise, and so is what
         * the second difference f+ + f- - 2 f0 measures: for a smooth loss it is h^2 v'Hv, far
         * below the first difference at these h, so beyond that it is the rounding of the loss
         * itself, which can be tens of ulps (a BN of an input nearly constant over the batch
         * divides it by a small std) */
        noise[t] = (8 * FLT_EPSILON * fabs(f[0]) + fabs(f[0] + f[1] - 2 * f0)) / (2 * h);
    }
    free(v);
}

/* Every trainable tensor, at either step: |fd - grad.v| <= 2% of |grad.v| + the float
 * resolution of the difference quotient (a bias feeding a BN has an exact zero gradient: noise
 * must not count). */
static int fd_check(const hsi_netdesc *d, hsi_model *m, int dom, const float *x, const int32_t *y)
{
    hsi_param *p;
    int n = d->params(m, &p), ok = 1, checked = 0;
    double *fd = calloc(2 * (size_t)n, sizeof *fd), *gv = calloc((size_t)n, sizeof *gv);
    double *noise = calloc(2 * (size_t)n, sizeof *noise);
    for (int i = 0; i < n; i++)
        if (p[i].grad) fd_one(d, m, dom, x, y, i, &fd[2 * i], &gv[i], &noise[2 * i]);
    for (int i = 0; i < n; i++) {
        if (!p[i].grad) continue;
        checked++;
        int good = 0;
        for (int t = 0; t < 2; t++)
            good |= fabs(fd[2 * i + t] - gv[i]) <= 2e-2 * fabs(gv[i]) + noise[2 * i + t];
        if (!good || getenv("NET_CHECK_VERBOSE"))
            printf("  %s %-40s finite differences %.6g (10x step: %.6g), backward %.6g\n",
                   good ? "ok  " : "FAIL", p[i].name, fd[2 * i], fd[2 * i + 1], gv[i]);
        ok &= good;
    }
    printf("finite differences domain %d: %d parameter tensors: %s\n", dom, checked, ok ? "ok" : "FAIL");
    free(fd);
    free(gv);
    free(noise);
    return ok;
}
#endif

int main(void)
{
    int ok = 1;
    hsi_model *ref = make(&NET, HSI_BACKEND_REF);
    if (!ref) return 1;
    hsi_param *p;
    int n = NET.params(ref, &p);
    init_params(p, n);
#ifdef HSICC_WITH_DNNL
    hsi_model *dn = make(&NET, HSI_BACKEND_DNNL);
    if (!dn) return 1;
    copy_params(dn, &NET, ref, &NET);
    /* the same backend with no conv applying its input's BN (hsi_conv_takes_bn), doing the
     * residual add after it (hsi_conv_takes_residual), summing its output for a BN
     * (hsi_bn_sums_from, hsi_bn_grad_sums_from) or adding its input gradient as it stores it
     * (hsi_conv_adds_dsrc), nor a global max pool applying its input's BN (hsi_pool_takes_bn),
     * nor a BN's input gradient written over its output gradient (hsi_bn_grad_shares):
     * the BN writes its output, recomputes it for the backward and sums
     * its tensors in passes of its own, the add and the accumulation run on their own, every
     * BN's gradients have memories of their own; the results must be the same bits */
    setenv("HSICC_NO_BN_FOLD", "1", 1);
    setenv("HSICC_NO_ADD_FOLD", "1", 1);
    setenv("HSICC_NO_SUMS_FOLD", "1", 1);
    setenv("HSICC_NO_ACCUM_FOLD", "1", 1);
    setenv("HSICC_NO_POOL_BN_FOLD", "1", 1);
    setenv("HSICC_NO_BN_INPLACE", "1", 1);
    hsi_model *unfold = make(&NET, HSI_BACKEND_DNNL);
    unsetenv("HSICC_NO_BN_FOLD");
    unsetenv("HSICC_NO_ADD_FOLD");
    unsetenv("HSICC_NO_SUMS_FOLD");
    unsetenv("HSICC_NO_ACCUM_FOLD");
    unsetenv("HSICC_NO_POOL_BN_FOLD");
    unsetenv("HSICC_NO_BN_INPLACE");
    if (!unfold) return 1;
#endif
#ifdef NET_PLAIN
    hsi_model *plain = make(&NET_PLAIN, HSI_BACKEND_REF);
    if (!plain) return 1;
    copy_params(plain, &NET_PLAIN, ref, &NET);
#endif
    for (int dom = 0; dom < NET.n_domains; dom++) {
        const hsi_domain *dm = &NET.domains[dom];
        int64_t per = 1;
        for (int k = 0; k < dm->ndim; k++) per *= dm->in_dims[k];
        float *x = malloc(sizeof(float) * (size_t)(per * BATCH));
        int64_t ny = (int64_t)BATCH * (dm->label_patch ? dm->label_patch * dm->label_patch : 1);
        int32_t *y = malloc(sizeof *y * (size_t)ny);
        draw_batch(x, per * BATCH, y, ny, dm->classes);
#ifdef HSICC_WITH_DNNL
        /* oneDNN computes in float, the reference in double: where a ReLU's (or max-pool's)
         * input lies within rounding of its kink, the two take different branches and the
         * gradients upstream differ by far more than rounding (seen on AVX2 for full-size
         * SSRN in about 1 input draw of 10). Such a draw proves nothing either way, so up
         * to DRAWS inputs are tried; a wiring or kernel error fails every one of them. The
         * draws after the first are new random batches; the parameters stay the same. */
        int dok = 0;
        for (int draw = 0; draw < DRAWS && !dok; draw++) {
            if (draw) {
                printf("  (input draw %d mismatched; a kink flip is the usual cause: next draw)\n", draw);
                draw_batch(x, per * BATCH, y, ny, dm->classes);
            }
            dok = compare_models("oneDNN vs reference", &NET, dn, &NET, ref, dom, x, y, 2e-4, 5e-3);
        }
        ok &= dok;
        copy_params(dn, &NET, ref, &NET);   /* the step above moved the running statistics */
        ok &= compare_models("oneDNN, BNs applied by convs and pools, residual adds and BN sums done by convs vs not", &NET, dn, &NET, unfold, dom, x, y,
                             0, 0);
        /* again, after the inference pass that call ended with: its convs do the residual adds
         * too, and a conv's sums of an inference tensor (the same buffer as the training
         * BN's input) must not be taken for the training step's */
        ok &= compare_models("the same, a training step after an inference pass", &NET, dn, &NET,
                             unfold, dom, x, y, 0, 0);
#endif
#ifdef NET_PLAIN
        ok &= compare_models("fused+rewritten vs plain", &NET, ref, &NET_PLAIN, plain, dom, x, y, 1e-5, 1e-4);
#endif
        ok &= infer_check(&NET, ref, dom, x, y);
#if FD_CHECK
        ok &= fd_check(&NET, ref, dom, x, y);
#endif
        free(x);
        free(y);
    }
    NET.destroy(ref);
#ifdef HSICC_WITH_DNNL
    NET.destroy(dn);
    NET.destroy(unfold);
#endif
#ifdef NET_PLAIN
    NET_PLAIN.destroy(plain);
#endif
    printf("%s\n", ok ? "ok" : "FAIL");
    return !ok;
}
