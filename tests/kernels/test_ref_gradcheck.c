/* test_ref_gradcheck.c — finite-difference checks of every reference backward, in double.
 *
 * For each op: random inputs (fixed seed), objective J = sum(dst * R) with a random R (for
 * softmax cross-entropy J = weight * loss), the analytic gradient from the op's backward with
 * ddst = R, and for EVERY input element the central difference (J(x+h) - J(x-h)) / 2h, h = 1e-6.
 * Fails when err = |num - ana| / max(1, |num|, |ana|) exceeds 1e-6 anywhere. Inputs keep clear
 * of kinks (ReLU at 0, max-pool ties) by construction. Usage: test_ref_gradcheck <op>.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "test_rng.h"

#define H 1e-6
#define TOL 1e-6

static double *vec(int64_t n, double lo, double hi)
{
    double *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = test_uniform(lo, hi);
    return v;
}

/* Values at least `gap` away from 0 (for ReLU-like kinks). */
static void away_from_zero(double *v, int64_t n, double gap)
{
    for (int64_t i = 0; i < n; i++)
        if (fabs(v[i]) < gap) v[i] = v[i] < 0 ? -gap : gap;
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The objective of the op under test, evaluated on the current contents of its inputs. */
typedef double (*objective)(void *ctx);

static int fails;

/* Compares ana[0..n) with central differences of obj with respect to x[0..n); the rest is the
 * printf-style label. Returns the largest error. */
static double check(objective obj, void *ctx, double *x, int64_t n, const double *ana,
                    const char *fmt, ...)
{
    char label[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(label, sizeof label, fmt, ap);
    va_end(ap);
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double save = x[i];
        x[i] = save + H;
        double fp = obj(ctx);
        x[i] = save - H;
        double fm = obj(ctx);
        x[i] = save;
        double num = (fp - fm) / (2 * H);
        double err = fabs(num - ana[i]) / fmax(1.0, fmax(fabs(num), fabs(ana[i])));
        if (err > worst) {
            worst = err;
            at = i;
        }
    }
    int bad = !(worst <= TOL);
    printf("%-44s %6lld values  max err %.2e%s", label, (long long)n, worst, bad ? "  FAIL" : "\n");
    if (bad) printf(" at %lld\n", (long long)at);
    fails += bad;
    return worst;
}

/* ---- convolution (and dense, which is a 1x1x1 convolution) ------------------------------- */

typedef struct conv_ctx {
    hsi_ref_conv c;
    double *x, *w, *b, *r, *y;
} conv_ctx;

static double conv_obj(void *p)
{
    conv_ctx *t = p;
    hsi_ref_conv_fwd_d(&t->c, t->x, t->w, t->b, t->y);
    return dot(t->y, t->r, hsi_ref_conv_dst_numel(&t->c));
}

/* Checks dx, dw, db of the convolution t->c; wrong_by scales the analytic dx (self test). */
static double check_conv(const char *name, conv_ctx *t, double wrong_by)
{
    int64_t nx = hsi_ref_conv_src_numel(&t->c), nw = hsi_ref_conv_w_numel(&t->c);
    t->x = vec(nx, -1, 1);
    t->w = vec(nw, -1, 1);
    t->b = vec(t->c.o, -1, 1);
    t->r = vec(hsi_ref_conv_dst_numel(&t->c), -1, 1);
    t->y = vec(hsi_ref_conv_dst_numel(&t->c), 0, 0);
    double *dx = vec(nx, 0, 0), *dw = vec(nw, 0, 0), *db = vec(t->c.o, 0, 0);
    hsi_ref_conv_bwd_data_d(&t->c, t->w, t->r, dx);
    hsi_ref_conv_bwd_w_d(&t->c, t->x, t->r, dw, db);
    for (int64_t i = 0; i < nx; i++) dx[i] *= wrong_by;
    double worst = check(conv_obj, t, t->x, nx, dx, "%s dsrc", name);
    check(conv_obj, t, t->w, nw, dw, "%s dw", name);
    if (t->c.bias) {
        check(conv_obj, t, t->b, t->c.o, db, "%s db", name);
    }
    free(t->x), free(t->w), free(t->b), free(t->r), free(t->y), free(dx), free(dw), free(db);
    return worst;
}

static void conv_case(const char *name, int ndim, const int64_t *dims, hsi_conv_desc d)
{
    conv_ctx t;
    if (hsi_ref_conv_init(&t.c, ndim, dims, &d)) {
        printf("%s: bad case\n", name);
        fails++;
        return;
    }
    check_conv(name, &t, 1.0);
}

static void test_conv(void)
{
    conv_case("conv1d g2 s2 pad2/1 dil2 bias", 3, (int64_t[]){2, 4, 11},
              (hsi_conv_desc){1, 6, 2, {3}, {2}, {2}, {1}, {2}, 1});
    conv_case("conv2d s(1,2) pad(1,0)/(0,1) dil(1,2)", 4, (int64_t[]){2, 3, 7, 6},
              (hsi_conv_desc){2, 4, 1, {3, 2}, {1, 2}, {1, 0}, {0, 1}, {1, 2}, 1});
    conv_case("conv2d depthwise s2 pad1 no bias", 4, (int64_t[]){1, 3, 5, 5},
              (hsi_conv_desc){2, 3, 3, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 0});
    conv_case("conv3d g2 s(2,1,1) asym pad dil(2,1,1)", 5, (int64_t[]){2, 2, 7, 5, 5},
              (hsi_conv_desc){3, 4, 2, {3, 3, 2}, {2, 1, 1}, {1, 1, 0}, {0, 1, 1}, {2, 1, 1}, 1});
    conv_case("conv3d spectral k(7,1,1) s(2,1,1)", 5, (int64_t[]){2, 1, 9, 3, 3},
              (hsi_conv_desc){3, 3, 1, {7, 1, 1}, {2, 1, 1}, {0}, {0}, {1, 1, 1}, 1});
}

static void test_dense(void)
{
    conv_ctx t;
    hsi_ref_dense_init(&t.c, 3, 12, 5, 1);
    check_conv("dense [3,2,2,3] -> 5, bias", &t, 1.0);
    hsi_ref_dense_init(&t.c, 2, 7, 3, 0);
    check_conv("dense [2,7] -> 3, no bias", &t, 1.0);
}

/* The checker must notice a gradient that is 0.1 % off. */
static void test_selftest(void)
{
    conv_ctx t;
    hsi_ref_dense_init(&t.c, 2, 3, 2, 1);
    int before = fails;
    double worst = check_conv("self test (FAIL expected): dense dsrc x1.001", &t, 1.001);
    fails = before;
    if (!(worst > TOL)) {
        printf("the checker accepted a wrong gradient (err %.2e)\n", worst);
        fails++;
    } else {
        printf("the checker rejects a 0.1%% error, as it must\n");
    }
}

/* ---- batch normalisation ------------------------------------------------------------------ */

typedef struct bn_ctx {
    hsi_ref_bn b;
    double *x, *gamma, *beta, *r, *y, *mean, *var;
} bn_ctx;

static double bn_obj(void *p)
{
    bn_ctx *t = p;
    hsi_ref_bn_fwd_d(&t->b, 1, t->x, t->gamma, t->beta, t->mean, t->var, t->y, NULL);
    return dot(t->y, t->r, t->b.n * t->b.c * t->b.sp);
}

static void bn_case(const char *name, hsi_ref_bn b)
{
    int64_t n = b.n * b.c * b.sp;
    bn_ctx t = {b, vec(n, -2, 2), vec(b.c, 0.5, 1.5), vec(b.c, -0.5, 0.5), vec(n, -1, 1),
                vec(n, 0, 0), vec(b.c, 0, 0), vec(b.c, 0, 0)};
    unsigned char *mask = calloc((size_t)n, 1);
    /* Keep the pre-activation clear of the ReLU kink. */
    hsi_ref_bn plain = b;
    plain.relu = 0;
    hsi_ref_bn_fwd_d(&plain, 1, t.x, t.gamma, t.beta, t.mean, t.var, t.y, NULL);
    double gap = INFINITY;
    for (int64_t i = 0; i < n; i++) gap = fmin(gap, fabs(t.y[i]));
    if (b.relu && gap < 1e-4) {
        printf("%s: pre-activation %.1e too close to the ReLU kink; change the seed\n", name, gap);
        fails++;
    }
    hsi_ref_bn_fwd_d(&b, 1, t.x, t.gamma, t.beta, t.mean, t.var, t.y, mask);
    double *dx = vec(n, 0, 0), *dg = vec(b.c, 0, 0), *dbeta = vec(b.c, 0, 0);
    hsi_ref_bn_bwd_d(&b, t.x, t.gamma, t.mean, t.var, mask, t.r, dx, dg, dbeta);
    check(bn_obj, &t, t.x, n, dx, "%s dsrc", name);
    check(bn_obj, &t, t.gamma, b.c, dg, "%s dgamma", name);
    check(bn_obj, &t, t.beta, b.c, dbeta, "%s dbeta", name);
    free(t.x), free(t.gamma), free(t.beta), free(t.r), free(t.y), free(t.mean), free(t.var);
    free(mask), free(dx), free(dg), free(dbeta);
}

static void test_bn(void)
{
    bn_case("bn [3,4,5] train", (hsi_ref_bn){3, 4, 5, 1e-5, 0});
    bn_case("bn [2,3,2,3,2] train + relu", (hsi_ref_bn){2, 3, 12, 1e-5, 1});
    bn_case("bn [4,2] train + relu, eps 0.1", (hsi_ref_bn){4, 2, 1, 0.1, 1});
}

/* ---- element-wise ops --------------------------------------------------------------------- */

typedef struct ew_ctx {
    int64_t n;
    hsi_act_kind kind;
    double alpha;      /* act: alpha; dropout: p */
    int relu;
    uint64_t seed;
    double *x, *x2, *r, *y;
    int which;         /* 0 act, 1 dropout, 2 add */
} ew_ctx;

static double ew_obj(void *p)
{
    ew_ctx *t = p;
    if (t->which == 0) hsi_ref_act_fwd_d(t->kind, t->alpha, t->n, t->x, t->y);
    else if (t->which == 1) hsi_ref_dropout_fwd_d(t->n, t->alpha, t->seed, t->x, t->y, NULL);
    else hsi_ref_add_fwd_d(t->n, t->relu, t->x, t->x2, t->y);
    return dot(t->y, t->r, t->n);
}

static ew_ctx ew_new(int which, int64_t n)
{
    ew_ctx t = {.n = n, .which = which, .x = vec(n, -2, 2), .x2 = vec(n, -2, 2),
                .r = vec(n, -1, 1), .y = vec(n, 0, 0)};
    away_from_zero(t.x, n, 1e-2);
    return t;
}

static void ew_free(ew_ctx *t) { free(t->x), free(t->x2), free(t->r), free(t->y); }

static void test_act(void)
{
    static const struct { hsi_act_kind kind; double alpha; const char *name; } cases[] = {
        {HSI_ACT_RELU, 0, "relu"},       {HSI_ACT_LEAKY_RELU, 0.3, "leaky_relu 0.3"},
        {HSI_ACT_ELU, 1.2, "elu 1.2"},   {HSI_ACT_SIGMOID, 0, "sigmoid"},
        {HSI_ACT_TANH, 0, "tanh"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ew_ctx t = ew_new(0, 60);
        t.kind = cases[k].kind;
        t.alpha = cases[k].alpha;
        double *dx = vec(t.n, 0, 0);
        ew_obj(&t);
        hsi_ref_act_bwd_d(t.kind, t.alpha, t.n, t.y, t.r, dx);
        check(ew_obj, &t, t.x, t.n, dx, "%s", cases[k].name);
        /* In place: dst == src, dsrc == ddst. */
        double *buf = vec(t.n, 0, 0);
        memcpy(buf, t.x, sizeof *buf * (size_t)t.n);
        hsi_ref_act_fwd_d(t.kind, t.alpha, t.n, buf, buf);
        memcpy(t.y, t.r, sizeof *buf * (size_t)t.n);
        hsi_ref_act_bwd_d(t.kind, t.alpha, t.n, buf, t.y, t.y);
        if (memcmp(t.y, dx, sizeof *dx * (size_t)t.n)) {
            printf("%s: in-place backward differs\n", cases[k].name);
            fails++;
        }
        free(buf), free(dx);
        ew_free(&t);
    }
}

static void test_dropout(void)
{
    ew_ctx t = ew_new(1, 80);
    t.alpha = 0.3;
    t.seed = 12345;
    unsigned char *mask = calloc((size_t)t.n, 1);
    double *dx = vec(t.n, 0, 0);
    hsi_ref_dropout_fwd_d(t.n, t.alpha, t.seed, t.x, t.y, mask);
    hsi_ref_dropout_bwd_d(t.n, t.alpha, mask, t.r, dx);
    check(ew_obj, &t, t.x, t.n, dx, "dropout p=0.3");
    free(mask), free(dx);
    ew_free(&t);
}

static void test_add(void)
{
    for (int relu = 0; relu <= 1; relu++) {
        ew_ctx t = ew_new(2, 50);
        t.relu = relu;
        for (int64_t i = 0; i < t.n; i++)   /* keep a + b clear of the ReLU kink */
            if (fabs(t.x[i] + t.x2[i]) < 1e-2) t.x2[i] += 0.1;
        double *da = vec(t.n, 0, 0), *db = vec(t.n, 0, 0);
        ew_obj(&t);
        hsi_ref_add_bwd_d(t.n, relu, t.y, t.r, da, db);
        check(ew_obj, &t, t.x, t.n, da, "add%s da", relu ? " + relu" : "");
        check(ew_obj, &t, t.x2, t.n, db, "add%s db", relu ? " + relu" : "");
        free(da), free(db);
        ew_free(&t);
    }
}

/* ---- pooling ------------------------------------------------------------------------------ */

typedef struct pool_ctx {
    hsi_ref_pool p;
    double *x, *r, *y;
} pool_ctx;

static double pool_obj(void *v)
{
    pool_ctx *t = v;
    hsi_ref_pool_fwd_d(&t->p, t->x, t->y, NULL);
    return dot(t->y, t->r, hsi_ref_pool_dst_numel(&t->p));
}

static void pool_case(const char *name, int ndim, const int64_t *dims, hsi_pool_desc d)
{
    pool_ctx t;
    if (hsi_ref_pool_init(&t.p, ndim, dims, &d)) {
        printf("%s: bad case\n", name);
        fails++;
        return;
    }
    int64_t nx = hsi_ref_pool_src_numel(&t.p), ny = hsi_ref_pool_dst_numel(&t.p);
    /* Distinct values 0.01 apart in random order: no max-pool ties within h. */
    t.x = vec(nx, 0, 0);
    for (int64_t i = 0; i < nx; i++) t.x[i] = 0.01 * (double)i - 0.005 * (double)nx;
    for (int64_t i = nx - 1; i > 0; i--) {
        int64_t j = (int64_t)test_uniform(0, (double)(i + 1));
        double s = t.x[i];
        t.x[i] = t.x[j], t.x[j] = s;
    }
    t.r = vec(ny, -1, 1);
    t.y = vec(ny, 0, 0);
    int32_t *arg = calloc((size_t)ny, sizeof *arg);
    double *dx = vec(nx, 0, 0);
    hsi_ref_pool_fwd_d(&t.p, t.x, t.y, arg);
    hsi_ref_pool_bwd_d(&t.p, t.r, arg, dx);
    check(pool_obj, &t, t.x, nx, dx, "%s", name);
    free(t.x), free(t.r), free(t.y), free(arg), free(dx);
}

static void test_pool(void)
{
    pool_case("maxpool1d k3 s2 pad1/1", 3, (int64_t[]){2, 2, 9},
              (hsi_pool_desc){1, 1, {3}, {2}, {1}, {1}, 1});
    pool_case("maxpool2d k(2,3) s2 pad(1,1)/(0,1)", 4, (int64_t[]){1, 2, 5, 6},
              (hsi_pool_desc){2, 1, {2, 3}, {2, 2}, {1, 1}, {0, 1}, 1});
    pool_case("maxpool3d k(2,3,3) s(1,2,2) asym pad", 5, (int64_t[]){1, 1, 4, 5, 5},
              (hsi_pool_desc){3, 1, {2, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 0}, 1});
    pool_case("avgpool2d k3 s2 pad(1,0)/(1,2) incl pad", 4, (int64_t[]){2, 2, 5, 5},
              (hsi_pool_desc){2, 0, {3, 3}, {2, 2}, {1, 0}, {1, 2}, 1});
    pool_case("avgpool3d k(2,2,3) asym pad excl pad", 5, (int64_t[]){1, 2, 3, 4, 5},
              (hsi_pool_desc){3, 0, {2, 2, 3}, {1, 2, 1}, {1, 0, 1}, {0, 1, 1}, 0});
    pool_case("avgpool1d global", 3, (int64_t[]){3, 2, 7},
              (hsi_pool_desc){1, 0, {7}, {1}, {0}, {0}, 1});
}

/* ---- concat ------------------------------------------------------------------------------- */

typedef struct concat_ctx {
    hsi_ref_concat c;
    double *parts[3], *r, *whole;
} concat_ctx;

static double concat_obj(void *v)
{
    concat_ctx *t = v;
    hsi_ref_concat_move(&t->c, sizeof(double), 1, (void *const *)t->parts, t->whole);
    return dot(t->whole, t->r, t->c.batch * t->c.total_ch * t->c.inner);
}

static void test_concat(void)
{
    static const int64_t ch[3] = {1, 3, 2};
    concat_ctx t = {.c = {3, 2, 6, 6, ch}};
    int64_t nw = t.c.batch * t.c.total_ch * t.c.inner;
    double *grads[3];
    for (int i = 0; i < 3; i++) {
        t.parts[i] = vec(t.c.batch * ch[i] * t.c.inner, -1, 1);
        grads[i] = vec(t.c.batch * ch[i] * t.c.inner, 0, 0);
    }
    t.r = vec(nw, -1, 1);
    t.whole = vec(nw, 0, 0);
    hsi_ref_concat_move(&t.c, sizeof(double), 0, (void *const *)grads, t.r);
    for (int i = 0; i < 3; i++) {
        check(concat_obj, &t, t.parts[i], t.c.batch * ch[i] * t.c.inner, grads[i],
              "concat [2,{1,3,2},2,3] part %d", i);
    }
    for (int i = 0; i < 3; i++) free(t.parts[i]), free(grads[i]);
    free(t.r), free(t.whole);
}

/* ---- softmax cross-entropy ---------------------------------------------------------------- */

typedef struct xent_ctx {
    int64_t n_all, k;
    int n;
    const int32_t *labels;
    double weight, *z;
} xent_ctx;

static double xent_obj(void *v)
{
    xent_ctx *t = v;
    return t->weight * hsi_ref_xent_d(t->n_all, t->k, t->z, t->labels, t->n, 1.0, NULL);
}

static void test_xent(void)
{
    /* Sample 1 is ignored (-1), sample 4 too (label = K), sample 5 is beyond n. */
    static const int32_t labels[6] = {2, -1, 0, 3, 4, 1};
    xent_ctx t = {6, 4, 5, labels, 0.7, vec(24, -3, 3)};
    double *dz = vec(24, 0, 0);
    hsi_ref_xent_d(t.n_all, t.k, t.z, labels, t.n, t.weight, dz);
    check(xent_obj, &t, t.z, 24, dz, "softmax xent (ignored labels, n < N)");
    free(t.z), free(dz);
}

/* ---- sequence ops: permute and one GRU / LSTM layer (seq.c) ------------------------------ */

typedef struct perm_ctx {
    int nd, perm[4];
    int64_t dims[5], n;
    double *x, *r, *y;
} perm_ctx;

static double perm_obj(void *v)
{
    perm_ctx *t = v;
    hsi_ref_permute_move(t->nd, t->dims, t->perm, 0, sizeof(double), t->x, t->y);
    return dot(t->y, t->r, t->n);
}

static void test_permute(void)
{
    perm_ctx t = {4, {2, 0, 1}, {2, 3, 4, 5}, 120, vec(120, -1, 1), vec(120, -1, 1), vec(120, 0, 0)};
    double *dx = vec(t.n, 0, 0);
    hsi_ref_permute_move(t.nd, t.dims, t.perm, 1, sizeof(double), t.r, dx);
    check(perm_obj, &t, t.x, t.n, dx, "permute [2,3,4,5] (2,0,1) dsrc");
    free(t.x), free(t.r), free(t.y), free(dx);
}

typedef struct rnn_ctx {
    hsi_ref_rnn r;
    double *x, *wih, *whh, *bih, *bhh, *ry, *y, *ws;
} rnn_ctx;

static double rnn_obj(void *v)
{
    rnn_ctx *t = v;
    hsi_ref_rnn_fwd_d(&t->r, t->x, t->wih, t->whh, t->bih, t->bhh, t->y, t->ws);
    return dot(t->y, t->ry, t->r.n * t->r.h * (t->r.sequence ? t->r.l : 1));
}

static void rnn_case(const char *name, hsi_ref_rnn r)
{
    int64_t g = hsi_ref_rnn_gates(&r), nx = r.n * r.f * r.l, ny = r.n * r.h * (r.sequence ? r.l : 1);
    rnn_ctx t = {r, vec(nx, -1, 1), vec(g * r.f, -0.7, 0.7), vec(g * r.h, -0.7, 0.7),
                 vec(g, -0.5, 0.5), vec(g, -0.5, 0.5), vec(ny, -1, 1), vec(ny, 0, 0),
                 vec(hsi_ref_rnn_ws_numel(&r), 0, 0)};
    double *dx = vec(nx, 0, 0), *dwih = vec(g * r.f, 0, 0), *dwhh = vec(g * r.h, 0, 0);
    double *dbih = vec(g, 0, 0), *dbhh = vec(g, 0, 0), *tmp = vec(2 * r.h + 2 * g, 0, 0);
    rnn_obj(&t);   /* the states of the forward into ws */
    hsi_ref_rnn_bwd_d(&r, t.x, t.wih, t.whh, t.ws, t.ry, dx, dwih, dwhh, r.bias ? dbih : NULL,
                      r.bias ? dbhh : NULL, tmp);
    check(rnn_obj, &t, t.x, nx, dx, "%s dsrc", name);
    check(rnn_obj, &t, t.wih, g * r.f, dwih, "%s dw_ih", name);
    check(rnn_obj, &t, t.whh, g * r.h, dwhh, "%s dw_hh", name);
    if (r.bias) {
        check(rnn_obj, &t, t.bih, g, dbih, "%s db_ih", name);
        check(rnn_obj, &t, t.bhh, g, dbhh, "%s db_hh", name);
    }
    free(t.x), free(t.wih), free(t.whh), free(t.bih), free(t.bhh), free(t.ry), free(t.y);
    free(t.ws), free(dx), free(dwih), free(dwhh), free(dbih), free(dbhh), free(tmp);
}

static void test_rnn(void)
{
    /* n, f, l, h, lstm, reverse, sequence, bias */
    rnn_case("gru [2,3,5] h4 sequence", (hsi_ref_rnn){2, 3, 5, 4, 0, 0, 1, 1});
    rnn_case("gru [2,2,6] h3 reverse last", (hsi_ref_rnn){2, 2, 6, 3, 0, 1, 0, 1});
    rnn_case("gru [1,1,7] h5 no bias", (hsi_ref_rnn){1, 1, 7, 5, 0, 0, 1, 0});
    rnn_case("lstm [2,3,5] h4 sequence", (hsi_ref_rnn){2, 3, 5, 4, 1, 0, 1, 1});
    rnn_case("lstm [2,2,6] h3 reverse last", (hsi_ref_rnn){2, 2, 6, 3, 1, 1, 0, 1});
    rnn_case("lstm [1,4,4] h2 last no bias", (hsi_ref_rnn){1, 4, 4, 2, 1, 0, 0, 0});
}

/* ---- lrn, prelu, softmax on [n, c, sp] ----------------------------------------------------- */

typedef struct xop_ctx {
    int which;                /* 0 lrn, 1 prelu, 2 softmax */
    int64_t n, c, sp, size, slopes;
    double alpha, beta, k;
    double *x, *a, *r, *y, *t;
} xop_ctx;

static double xop_obj(void *v)
{
    xop_ctx *t = v;
    int64_t m = t->n * t->c * t->sp;
    if (t->which == 0) hsi_ref_lrn_fwd_d(t->n, t->c, t->sp, t->size, t->alpha, t->beta, t->k, t->x, t->y, t->t);
    else if (t->which == 1) hsi_ref_prelu_fwd_d(t->n, t->c, t->sp, t->slopes, t->x, t->a, t->y);
    else hsi_ref_softmax_fwd_d(t->n, t->c, t->sp, t->x, t->y);
    return dot(t->y, t->r, m);
}

static void xop_case(const char *name, xop_ctx t)
{
    int64_t m = t.n * t.c * t.sp;
    t.x = vec(m, -2, 2), t.r = vec(m, -1, 1), t.y = vec(m, 0, 0), t.t = vec(2 * (t.c + 1), 0, 0);
    t.a = vec(t.c, -0.5, 0.5);
    if (t.which == 1) away_from_zero(t.x, m, 1e-3);
    double *dx = vec(m, 0, 0), *da = vec(t.c, 0, 0);
    if (t.which == 0) hsi_ref_lrn_bwd_d(t.n, t.c, t.sp, t.size, t.alpha, t.beta, t.k, t.x, t.r, dx, t.t);
    else if (t.which == 1) hsi_ref_prelu_bwd_d(t.n, t.c, t.sp, t.slopes, t.x, t.a, t.r, dx, da);
    else {
        xop_obj(&t);
        hsi_ref_softmax_bwd_d(t.n, t.c, t.sp, t.y, t.r, dx);
    }
    check(xop_obj, &t, t.x, m, dx, "%s dx", name);
    if (t.which == 1) check(xop_obj, &t, t.a, t.slopes, da, "%s da", name);
    free(t.x), free(t.r), free(t.y), free(t.t), free(t.a), free(dx), free(da);
}

static void test_lrn(void)
{
    xop_case("lrn 5 (odd)", (xop_ctx){0, 2, 8, 6, 5, 0, 0.3, 0.75, 1.0, 0, 0, 0, 0, 0});
    xop_case("lrn 4 (even)", (xop_ctx){0, 2, 7, 5, 4, 0, 0.9, 0.6, 1.5, 0, 0, 0, 0, 0});
    xop_case("lrn 12 > channels", (xop_ctx){0, 1, 5, 3, 12, 0, 2.0, 1.2, 0.5, 0, 0, 0, 0, 0});
}

static void test_prelu(void)
{
    xop_case("prelu per channel", (xop_ctx){1, 3, 4, 5, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0});
    xop_case("prelu shared", (xop_ctx){1, 2, 3, 6, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0});
}

static void test_softmax(void)
{
    xop_case("softmax over channels", (xop_ctx){2, 3, 5, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    xop_case("softmax [n, k]", (xop_ctx){2, 4, 6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
}

int main(int argc, char **argv)
{
    static const struct { const char *name; void (*run)(void); } ops[] = {
        {"conv", test_conv},       {"bn", test_bn},     {"act", test_act},
        {"dropout", test_dropout}, {"pool", test_pool}, {"dense", test_dense},
        {"add", test_add},         {"concat", test_concat}, {"xent", test_xent},
        {"selftest", test_selftest}, {"lrn", test_lrn}, {"prelu", test_prelu},
        {"softmax", test_softmax}, {"permute", test_permute}, {"rnn", test_rnn},
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (argc < 2 || !strcmp(argv[1], ops[i].name)) {
            ops[i].run();
            ran++;
        }
    if (!ran) {
        fprintf(stderr, "usage: test_ref_gradcheck [conv|bn|act|dropout|pool|dense|add|concat|"
                        "xent|selftest|lrn|prelu|softmax|permute|rnn]\n");
        return 2;
    }
    printf("%s\n", fails ? "FAIL" : "ok");
    return fails != 0;
}
