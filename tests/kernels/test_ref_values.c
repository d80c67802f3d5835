/* test_ref_values.c — the reference backend's float API against hand-computed values and
 * against its own double cores.
 *
 *   hand        tiny cases worked out by hand: a 1-D conv (forward, backward), pools, xent
 *   bn_stats    BN batch/running statistics by hand, inference reads the running ones
 *   dropout     mask from hsi_dropout_uniform, keep rate, scaling, inference copy
 *   float_api   every hsi_* op (HSI_BACKEND_REF) equals the double cores to float precision
 *   accumulate  parameter gradients add up (+=), activation gradients are overwritten
 *   errors      bad descriptors give NULL and a message naming the problem
 * Usage: test_ref_values <name>.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_kernels.h"
#include "ref.h"
#include "test_rng.h"

static int fails;

#define EXPECT(cond, ...)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("%s:%d: ", __FILE__, __LINE__);                                             \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
            fails++;                                                                           \
        }                                                                                      \
    } while (0)

/* got (float) against want (double): |got - want| <= tol * max(1, |want|); the rest is the
 * printf-style name of the check. */
static void near(const float *got, const double *want, int64_t n, double tol, const char *fmt,
                 ...)
{
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        if (!(err <= worst)) worst = err, at = i;
    }
    EXPECT(worst <= tol, "%s: element %lld is %.9g, expected %.9g (err %.2e)", what,
           (long long)at, got[at], want[at], worst);
}

/* Float API results are the double cores rounded once: 1 ulp, with a margin. */
#define FTOL 2e-7

static float *fvec(int64_t n, float lo, float hi)
{
    float *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (float)test_uniform(lo, hi);
    return v;
}

static double *dvec(const float *f, int64_t n)
{
    double *d = calloc((size_t)(n > 0 ? n : 1), sizeof *d);
    for (int64_t i = 0; f && i < n; i++) d[i] = f[i];
    return d;
}

static const hsi_layout *plain(hsi_rt *rt, int ndim, const int64_t *dims)
{
    const hsi_layout *l = hsi_layout_plain(rt, ndim, dims);
    if (!l) {
        printf("layout: %s\n", hsi_rt_error(rt));
        exit(1);
    }
    return l;
}

static int64_t numel(const hsi_layout *l) { return (int64_t)(hsi_layout_bytes(l) / sizeof(float)); }

static hsi_op *must(hsi_rt *rt, hsi_op *op)
{
    if (!op) {
        printf("create: %s\n", hsi_rt_error(rt));
        exit(1);
    }
    return op;
}

/* ---- hand-computed cases ------------------------------------------------------------------ */

static void test_hand(void)
{
    hsi_rt *rt = hsi_rt_create(HSI_BACKEND_REF);
    /* conv1d: x = 1..5, w = [1, 0, -1], b = 0.5, pad 1/1, stride 2: windows over the padded
     * [0 1 2 3 4 5 0] at 0, 2, 4 give -2, -2, 4, plus the bias. */
    const float x[5] = {1, 2, 3, 4, 5}, w[3] = {1, 0, -1}, b[1] = {0.5f};
    const hsi_layout *xl = plain(rt, 3, (int64_t[]){1, 1, 5});
    hsi_op *c = must(rt, hsi_conv_create(rt, xl, &(hsi_conv_desc){1, 1, 1, {3}, {2}, {1}, {1},
                                                                  {1}, 1}, 1, 1));
    EXPECT(hsi_layout_dims(hsi_op_dst(c))[2] == 3, "conv1d output length");
    float y[3], dx[5], dw[3] = {0}, db[1] = {0};
    hsi_conv_forward(c, x, w, b, y);
    near(y, (double[]){-1.5, -1.5, 4.5}, 3, 0, "conv1d forward");
    /* dy = [1, 2, 3]: x[j] meets tap t of output o when j = 2o - 1 + t, so
     * dx = [0, -1*1 + 1*2, 0, -1*2 + 1*3, 0], dw[t] = sum_o x[2o-1+t] dy[o] = [16, 22, 10]. */
    hsi_conv_backward(c, x, w, (float[]){1, 2, 3}, dx, dw, db);
    near(dx, (double[]){0, 1, 0, 1, 0}, 5, 0, "conv1d dsrc");
    near(dw, (double[]){16, 22, 10}, 3, 0, "conv1d dw");
    near(db, (double[]){6}, 1, 0, "conv1d db");
    /* Dilation 2 without padding: one output, 1*1 + 3*0 + 5*(-1) + 0.5. */
    c = must(rt, hsi_conv_create(rt, xl, &(hsi_conv_desc){1, 1, 1, {3}, {1}, {0}, {0}, {2}, 1},
                                 0, 0));
    EXPECT(hsi_layout_dims(hsi_op_dst(c))[2] == 1, "dilated conv1d output length");
    hsi_conv_forward(c, x, w, b, y);
    near(y, (double[]){-3.5}, 1, 0, "dilated conv1d forward");

    /* avgpool1d k3 s1 pad 1/1 over [1 2 3 4]: sums 3, 6, 9, 7 over 3 cells (padding counted)
     * or over 2, 3, 3, 2 real cells. */
    const hsi_layout *pl = plain(rt, 3, (int64_t[]){1, 1, 4});
    const float px[4] = {1, 2, 3, 4};
    float py[4];
    for (int cip = 0; cip <= 1; cip++) {
        hsi_op *p = must(rt, hsi_pool_create(rt, pl, &(hsi_pool_desc){1, 0, {3}, {1}, {1}, {1},
                                                                       cip}));
        hsi_pool_forward(p, 1, px, py, NULL);
        near(py, cip ? (double[]){1, 2, 3, 7.0 / 3} : (double[]){1.5, 2, 3, 3.5}, 4, 1e-7,
             "avgpool count_include_pad = %d", cip);
    }
    /* maxpool2d 2x2 s2 on 4x4; the window {2 0 / 7 7} ties: the first 7 (offset 6) wins. */
    const float mx[16] = {1, 5, 2, 0, 3, -1, 7, 7, 0, 4, 8, 6, 9, 2, 1, 3};
    hsi_op *mp = must(rt, hsi_pool_create(rt, plain(rt, 4, (int64_t[]){1, 1, 4, 4}),
                                          &(hsi_pool_desc){2, 1, {2, 2}, {2, 2}, {0}, {0}, 1}));
    EXPECT(hsi_op_ws_bytes(mp) == 4 * sizeof(int32_t), "maxpool ws bytes %zu",
           hsi_op_ws_bytes(mp));
    int32_t arg[4];
    float my[4], mdx[16];
    hsi_pool_forward(mp, 1, mx, my, arg);
    near(my, (double[]){5, 7, 9, 8}, 4, 0, "maxpool2d forward");
    EXPECT(arg[0] == 1 && arg[1] == 6 && arg[2] == 12 && arg[3] == 10,
           "maxpool2d argmax %d %d %d %d", arg[0], arg[1], arg[2], arg[3]);
    hsi_pool_backward(mp, (float[]){1, 2, 3, 4}, arg, mdx);
    near(mdx, (double[]){0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 4, 0, 3, 0, 0, 0}, 16, 0,
         "maxpool2d backward");
    /* Padding never wins: all-negative input, k2 s1 pad 1/1. */
    hsi_op *np = must(rt, hsi_pool_create(rt, plain(rt, 3, (int64_t[]){1, 1, 3}),
                                          &(hsi_pool_desc){1, 1, {2}, {1}, {1}, {1}, 1}));
    hsi_pool_forward(np, 0, (float[]){-3, -1, -2}, my, NULL);
    near(my, (double[]){-3, -1, -1, -2}, 4, 0, "maxpool padding never wins");

    /* xent: row 0 uniform over 3 (loss log 3), row 1 logits 1 2 3 with label 2, row 2 ignored,
     * weight 2 over m = 2 valid samples. */
    hsi_op *xe = must(rt, hsi_xent_create(rt, plain(rt, 4, (int64_t[]){3, 3, 1, 1})));
    const float z[9] = {0, 0, 0, 1, 2, 3, 5, 5, 5};
    float dz[9];
    float loss = hsi_xent_forward_backward(xe, z, (int32_t[]){1, 2, -1}, 3, 2.0f, dz);
    double s1 = exp(1) + exp(2) + exp(3);
    near(&loss, (double[]){(log(3) + log(s1) - 3) / 2}, 1, 1e-7, "xent loss");
    near(dz, (double[]){1.0 / 3, -2.0 / 3, 1.0 / 3, exp(1) / s1, exp(2) / s1, exp(3) / s1 - 1,
                        0, 0, 0}, 9, 1e-7, "xent dlogits");
    /* Stable for large logits; n = 1 zeroes the other rows. */
    loss = hsi_xent_forward_backward(xe, (float[]){1000, 0, 0, 1, 1, 1, 1, 1, 1},
                                     (int32_t[]){1, 0, 0}, 1, 1.0f, dz);
    near(&loss, (double[]){1000 + log(1 + 2 * exp(-1000))}, 1, 1e-7, "xent large logits");
    near(dz + 3, (double[]){0, 0, 0, 0, 0, 0}, 6, 0, "xent rows beyond n");
    loss = hsi_xent_forward_backward(xe, z, (int32_t[]){-1, 3, 7}, 3, 1.0f, dz);
    EXPECT(loss == 0, "xent with every label ignored: loss %g", loss);
    float pz[9];
    hsi_xent_plain_logits(xe, z, pz);
    EXPECT(!memcmp(pz, z, sizeof z), "xent plain logits");
    hsi_rt_destroy(rt);
}

static void test_bn_stats(void)
{
    hsi_rt *rt = hsi_rt_create(HSI_BACKEND_REF);
    /* One channel [1 2 3 4]: mean 2.5, biased var 1.25, unbiased 5/3. */
    hsi_op *bn = must(rt, hsi_bn_create(rt, plain(rt, 2, (int64_t[]){4, 1}), 0.0f, 0));
    EXPECT(hsi_op_ws_bytes(bn) == 2 * sizeof(double), "bn ws bytes %zu", hsi_op_ws_bytes(bn));
    const float x[4] = {1, 2, 3, 4}, gamma[1] = {2}, beta[1] = {1};
    float rm[1] = {0}, rv[1] = {1}, y[4];
    double ws[2];
    hsi_bn_forward(bn, 1, x, gamma, beta, rm, rv, 0.1f, y, ws);
    double sd = sqrt(1.25);
    near(y, (double[]){1 - 3 / sd, 1 - 1 / sd, 1 + 1 / sd, 1 + 3 / sd}, 4, 1e-7, "bn train output");
    EXPECT(ws[0] == 2.5 && ws[1] == 1.25, "bn ws holds mean %g var %g", ws[0], ws[1]);
    near(rm, (double[]){0.25}, 1, 1e-7, "bn running mean");
    near(rv, (double[]){0.9 + 0.1 * 5.0 / 3.0}, 1, 1e-7, "bn running var");
    /* Inference normalises with the running statistics, and leaves them alone. */
    double rsd = sqrt((double)rv[0]);
    hsi_bn_forward(bn, 0, x, gamma, beta, rm, rv, 0.1f, y, NULL);
    near(y, (double[]){1 + 2 * 0.75 / rsd, 1 + 2 * 1.75 / rsd, 1 + 2 * 2.75 / rsd,
                       1 + 2 * 3.75 / rsd}, 4, 1e-6, "bn inference output");
    near(rm, (double[]){0.25}, 1, 1e-7, "bn inference keeps running mean");
    /* Fused ReLU: mask bytes after mean and var; negative outputs clamp to 0. */
    hsi_op *bnr = must(rt, hsi_bn_create(rt, plain(rt, 2, (int64_t[]){4, 1}), 0.0f, 1));
    EXPECT(hsi_op_ws_bytes(bnr) == 2 * sizeof(double) + 4, "bn+relu ws bytes %zu",
           hsi_op_ws_bytes(bnr));
    unsigned char wsr[2 * sizeof(double) + 4];
    hsi_bn_forward(bnr, 1, x, (float[]){1}, (float[]){0}, NULL, NULL, 0.1f, y, wsr);
    near(y, (double[]){0, 0, 0.5 / sd, 1.5 / sd}, 4, 1e-7, "bn + relu output");
    const unsigned char *mask = wsr + 2 * sizeof(double);
    EXPECT(!mask[0] && !mask[1] && mask[2] && mask[3], "bn relu mask %d %d %d %d", mask[0],
           mask[1], mask[2], mask[3]);
    hsi_rt_destroy(rt);
}

static void test_dropout(void)
{
    hsi_rt *rt = hsi_rt_create(HSI_BACKEND_REF);
    const int64_t n = 100000;
    hsi_op *d = must(rt, hsi_dropout_create(rt, plain(rt, 2, (int64_t[]){100, 1000}), 0.25f));
    EXPECT(hsi_op_ws_bytes(d) == (size_t)n, "dropout ws bytes %zu", hsi_op_ws_bytes(d));
    float *x = fvec(n, -1, 1), *y = fvec(n, 0, 0), *dx = fvec(n, 0, 0);
    unsigned char *mask = malloc((size_t)n), *mask2 = malloc((size_t)n);
    hsi_dropout_forward(d, 1, 42, x, y, mask);
    int64_t kept = 0, bad = 0;
    double mean = 0;
    for (int64_t i = 0; i < n; i++) {
        float u = hsi_dropout_uniform(42, (uint64_t)i);
        mean += u;
        int keep = u >= 0.25f;
        kept += keep;
        bad += !(u >= 0 && u < 1) || mask[i] != keep || y[i] != (keep ? (float)(x[i] / 0.75) : 0);
    }
    EXPECT(bad == 0, "dropout: %lld elements disagree with hsi_dropout_uniform", (long long)bad);
    EXPECT(fabs((double)kept / (double)n - 0.75) < 0.01, "dropout keeps %lld of %lld",
           (long long)kept, (long long)n);
    EXPECT(fabs(mean / (double)n - 0.5) < 0.01, "uniform mean %g", mean / (double)n);
    hsi_dropout_backward(d, x, mask, dx);
    for (int64_t i = 0; i < n; i++) bad += dx[i] != y[i];
    EXPECT(bad == 0, "dropout backward of x must equal the forward of x");
    hsi_dropout_forward(d, 1, 43, x, y, mask2);
    EXPECT(memcmp(mask, mask2, (size_t)n), "seeds 42 and 43 draw the same mask");
    hsi_dropout_forward(d, 0, 42, x, y, NULL);
    EXPECT(!memcmp(x, y, sizeof *x * (size_t)n), "inference dropout must copy");
    free(x), free(y), free(dx), free(mask), free(mask2);
    hsi_rt_destroy(rt);
}

/* ---- the float API against the double cores ----------------------------------------------- */

/* Conv (or dense) forward and backward through the API against the cores. calls = 2 runs the
 * backward twice: dw, db must double (+=) while dsrc stays (overwritten). */
static void api_conv(const char *name, hsi_op *op, const hsi_ref_conv *c, int dense, int calls)
{
    int64_t nx = hsi_ref_conv_src_numel(c), ny = hsi_ref_conv_dst_numel(c), nw = hsi_ref_conv_w_numel(c);
    float *x = fvec(nx, -1, 1), *w = fvec(nw, -1, 1), *b = fvec(c->o, -1, 1);
    float *y = fvec(ny, 0, 0), *dy = fvec(ny, -1, 1), *dx = fvec(nx, 0, 0);
    float *dw = fvec(nw, 0, 0), *db = fvec(c->o, 0, 0);
    double *xd = dvec(x, nx), *wd = dvec(w, nw), *bd = dvec(b, c->o), *dyd = dvec(dy, ny);
    double *yd = dvec(NULL, ny), *dxd = dvec(NULL, nx), *dwd = dvec(NULL, nw);
    double *dbd = dvec(NULL, c->o);
    EXPECT(numel(hsi_op_dst(op)) == ny && hsi_op_ws_bytes(op) == 0, "%s: dst numel / ws", name);
    (dense ? hsi_dense_forward : hsi_conv_forward)(op, x, w, b, y);
    for (int k = 0; k < calls; k++)
        (dense ? hsi_dense_backward : hsi_conv_backward)(op, x, w, dy, dx, dw, db);
    hsi_ref_conv_fwd_d(c, xd, wd, bd, yd);
    hsi_ref_conv_bwd_data_d(c, wd, dyd, dxd);
    for (int k = 0; k < calls; k++) hsi_ref_conv_bwd_w_d(c, xd, dyd, dwd, dbd);
    near(y, yd, ny, FTOL, "%s forward", name);
    near(dx, dxd, nx, FTOL, "%s dsrc (%d calls)", name, calls);
    near(dw, dwd, nw, FTOL, "%s dw (%d calls)", name, calls);
    if (c->bias) near(db, dbd, c->o, FTOL, "%s db (%d calls)", name, calls);
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db);
    free(xd), free(wd), free(bd), free(dyd), free(yd), free(dxd), free(dwd), free(dbd);
}

static void api_conv_cases(hsi_rt *rt, int calls)
{
    const int64_t dims[5] = {2, 4, 7, 5, 6};
    const hsi_conv_desc d = {3, 6, 2, {3, 2, 3}, {2, 1, 2}, {1, 0, 1}, {0, 1, 2}, {1, 2, 1}, 1};
    hsi_ref_conv c;
    hsi_ref_conv_init(&c, 5, dims, &d);
    api_conv("conv3d", must(rt, hsi_conv_create(rt, plain(rt, 5, dims), &d, 1, 1)), &c, 0, calls);
    const int64_t ddims[4] = {3, 2, 3, 4};
    hsi_ref_dense_init(&c, 3, 24, 5, 1);
    api_conv("dense", must(rt, hsi_dense_create(rt, plain(rt, 4, ddims), 5, 1, 1, 1)), &c, 1,
             calls);
}

/* BN through the API: train forward (dst, ws, running stats), backward (dgamma, dbeta called
 * `calls` times), inference forward. */
static void api_bn(hsi_rt *rt, int relu, int calls)
{
    const int64_t dims[5] = {3, 4, 2, 3, 2};
    const int64_t n = 144, c = 4;
    hsi_op *op = must(rt, hsi_bn_create(rt, plain(rt, 5, dims), 1e-3f, relu));
    hsi_ref_bn b = {3, 4, 12, (double)1e-3f, relu};
    float *x = fvec(n, -2, 2), *g = fvec(c, 0.5f, 1.5f), *be = fvec(c, -0.5f, 0.5f);
    float *rm = fvec(c, -0.1f, 0.1f), *rv = fvec(c, 0.9f, 1.1f), *y = fvec(n, 0, 0);
    float *dy = fvec(n, -1, 1), *dx = fvec(n, 0, 0), *dg = fvec(c, 0, 0), *dbe = fvec(c, 0, 0);
    double *xd = dvec(x, n), *gd = dvec(g, c), *bed = dvec(be, c), *rmd = dvec(rm, c);
    double *rvd = dvec(rv, c), *yd = dvec(NULL, n), *dyd = dvec(dy, n), *dxd = dvec(NULL, n);
    double *mean = dvec(NULL, c), *var = dvec(NULL, c), *dgd = dvec(NULL, c);
    double *dbed = dvec(NULL, c);
    unsigned char *ws = calloc(hsi_op_ws_bytes(op), 1), *mask = calloc((size_t)n, 1);
    hsi_bn_forward(op, 1, x, g, be, rm, rv, 0.1f, y, ws);
    for (int k = 0; k < calls; k++) hsi_bn_backward(op, x, g, dy, ws, dx, dg, dbe);
    hsi_ref_bn_fwd_d(&b, 1, xd, gd, bed, mean, var, yd, mask);
    hsi_ref_bn_running_d(&b, mean, var, (double)0.1f, rmd, rvd);
    for (int k = 0; k < calls; k++) hsi_ref_bn_bwd_d(&b, xd, gd, mean, var, mask, dyd, dxd, dgd, dbed);
    const char *tag = relu ? "bn+relu" : "bn";
    near(y, yd, n, FTOL, "%s train forward", tag);
    near(rm, rmd, c, FTOL, "%s running mean", tag);
    near(rv, rvd, c, FTOL, "%s running var", tag);
    near(dx, dxd, n, FTOL, "%s dsrc", tag);
    near(dg, dgd, c, FTOL, "%s dgamma (%d calls)", tag, calls);
    near(dbe, dbed, c, FTOL, "%s dbeta (%d calls)", tag, calls);
    hsi_bn_forward(op, 0, x, g, be, rm, rv, 0.1f, y, NULL);
    for (int64_t i = 0; i < c; i++) rmd[i] = rm[i], rvd[i] = rv[i];
    hsi_ref_bn_fwd_d(&b, 0, xd, gd, bed, rmd, rvd, yd, NULL);
    near(y, yd, n, FTOL, "%s inference forward", tag);
    free(x), free(g), free(be), free(rm), free(rv), free(y), free(dy), free(dx), free(dg);
    free(dbe), free(xd), free(gd), free(bed), free(rmd), free(rvd), free(yd), free(dyd);
    free(dxd), free(mean), free(var), free(dgd), free(dbed), free(ws), free(mask);
}

static void api_elementwise(hsi_rt *rt)
{
    const int64_t dims[4] = {2, 3, 4, 5}, n = 120;
    const hsi_layout *l = plain(rt, 4, dims);
    float *x = fvec(n, -3, 3), *x2 = fvec(n, -3, 3), *dy = fvec(n, -1, 1), *y = fvec(n, 0, 0);
    float *buf = fvec(n, 0, 0), *dx = fvec(n, 0, 0);
    double *xd = dvec(x, n), *x2d = dvec(x2, n), *dyd = dvec(dy, n), *yd = dvec(NULL, n);
    double *dxd = dvec(NULL, n), *dbd = dvec(NULL, n);
    static const hsi_act_kind kinds[5] = {HSI_ACT_RELU, HSI_ACT_LEAKY_RELU, HSI_ACT_ELU,
                                          HSI_ACT_SIGMOID, HSI_ACT_TANH};
    for (int k = 0; k < 5; k++) {
        hsi_op *op = must(rt, hsi_act_create(rt, l, kinds[k], 0.2f));
        EXPECT(hsi_op_dst(op) && numel(hsi_op_dst(op)) == n, "act dst");
        /* in place, as the emitted code may run it */
        memcpy(buf, x, sizeof *x * (size_t)n);
        hsi_act_forward(op, buf, buf);
        hsi_ref_act_fwd_d(kinds[k], (double)0.2f, n, xd, yd);
        near(buf, yd, n, FTOL, "act forward (in place)");
        memcpy(dx, dy, sizeof *dy * (size_t)n);
        hsi_act_backward(op, buf, dx, dx);
        for (int64_t i = 0; i < n; i++) yd[i] = buf[i];
        hsi_ref_act_bwd_d(kinds[k], (double)0.2f, n, yd, dyd, dxd);
        near(dx, dxd, n, FTOL, "act backward (in place)");
    }
    for (int relu = 0; relu <= 1; relu++) {
        hsi_op *op = must(rt, hsi_add_create(rt, l, l, relu));
        hsi_add_forward(op, x, x2, y);
        hsi_ref_add_fwd_d(n, relu, xd, x2d, yd);
        near(y, yd, n, FTOL, "add forward");
        /* da aliases ddst, db separate; then db alone. */
        memcpy(dx, dy, sizeof *dy * (size_t)n);
        hsi_add_backward(op, y, dx, dx, buf);
        hsi_ref_add_bwd_d(n, relu, yd, dyd, dxd, dbd);
        near(dx, dxd, n, FTOL, "add da (aliasing ddst)");
        near(buf, dbd, n, FTOL, "add db");
        memset(buf, 0, sizeof *buf * (size_t)n);
        hsi_add_backward(op, y, dy, NULL, buf);
        near(buf, dbd, n, FTOL, "add db with da NULL");
    }
    hsi_op *acc = must(rt, hsi_accum_create(rt, l, l));
    memcpy(buf, x, sizeof *x * (size_t)n);
    hsi_accum(acc, buf, x2);
    for (int64_t i = 0; i < n; i++) yd[i] = xd[i] + x2d[i];
    near(buf, yd, n, FTOL, "accum");
    free(x), free(x2), free(dy), free(y), free(buf), free(dx);
    free(xd), free(x2d), free(dyd), free(yd), free(dxd), free(dbd);
}

static void api_pool(hsi_rt *rt, const char *name, int ndim, const int64_t *dims, hsi_pool_desc d)
{
    hsi_ref_pool p;
    hsi_ref_pool_init(&p, ndim, dims, &d);
    hsi_op *op = must(rt, hsi_pool_create(rt, plain(rt, ndim, dims), &d));
    int64_t nx = hsi_ref_pool_src_numel(&p), ny = hsi_ref_pool_dst_numel(&p);
    EXPECT(numel(hsi_op_dst(op)) == ny, "%s dst numel", name);
    EXPECT(hsi_op_ws_bytes(op) == (d.max ? sizeof(int32_t) * (size_t)ny : 0), "%s ws", name);
    float *x = fvec(nx, -1, 1), *y = fvec(ny, 0, 0), *dy = fvec(ny, -1, 1), *dx = fvec(nx, 0, 0);
    double *xd = dvec(x, nx), *yd = dvec(NULL, ny), *dyd = dvec(dy, ny), *dxd = dvec(NULL, nx);
    int32_t *ws = calloc((size_t)ny, sizeof *ws), *arg = calloc((size_t)ny, sizeof *arg);
    hsi_pool_forward(op, 1, x, y, ws);
    hsi_pool_backward(op, dy, ws, dx);
    hsi_ref_pool_fwd_d(&p, xd, yd, arg);
    hsi_ref_pool_bwd_d(&p, dyd, arg, dxd);
    near(y, yd, ny, FTOL, "%s forward", name);
    near(dx, dxd, nx, FTOL, "%s backward", name);
    free(x), free(y), free(dy), free(dx), free(xd), free(yd), free(dyd), free(dxd), free(ws);
    free(arg);
}

static void api_shape_ops(hsi_rt *rt)
{
    /* concat of [2,1,3], [2,2,3] -> [2,3,3]: checked element by element. */
    const hsi_layout *ls[2] = {plain(rt, 3, (int64_t[]){2, 1, 3}),
                               plain(rt, 3, (int64_t[]){2, 2, 3})};
    hsi_op *cat = must(rt, hsi_concat_create(rt, 2, ls));
    EXPECT(hsi_layout_dims(hsi_op_dst(cat))[1] == 3, "concat channels");
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[12] = {7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    float whole[18], da[6], db[12];
    hsi_concat_forward(cat, (const float *const[]){a, b}, whole);
    near(whole, (double[]){1, 2, 3, 7, 8, 9, 10, 11, 12, 4, 5, 6, 13, 14, 15, 16, 17, 18}, 18, 0,
         "concat forward");
    hsi_concat_backward(cat, whole, (float *const[]){da, db});
    EXPECT(!memcmp(da, a, sizeof a) && !memcmp(db, b, sizeof b), "concat backward splits");
    hsi_concat_backward(cat, whole, (float *const[]){NULL, db});

    hsi_op *rs = must(rt, hsi_reshape_create(rt, plain(rt, 5, (int64_t[]){2, 8, 1, 3, 3}), 5,
                                             (int64_t[]){2, 1, 8, 3, 3}));
    EXPECT(hsi_op_is_view(rs), "reshape must be a view");
    EXPECT(hsi_layout_is_plain(hsi_op_dst(rs)) && hsi_layout_ndim(hsi_op_dst(rs)) == 5 &&
           hsi_layout_dims(hsi_op_dst(rs))[2] == 8, "reshape dst layout");

    /* xent through the API against the core. */
    hsi_op *xe = must(rt, hsi_xent_create(rt, plain(rt, 2, (int64_t[]){5, 7})));
    float *z = fvec(35, -4, 4), dz[35];
    double *zd = dvec(z, 35), dzd[35];
    const int32_t labels[5] = {3, 0, 7, -2, 6};
    float loss = hsi_xent_forward_backward(xe, z, labels, 5, 0.5f, dz);
    double want = hsi_ref_xent_d(5, 7, zd, labels, 5, 0.5, dzd);
    near(&loss, &want, 1, FTOL, "xent loss");
    near(dz, dzd, 35, FTOL, "xent dlogits");
    free(z), free(zd);
}

static void test_float_api(void)
{
    hsi_rt *rt = hsi_rt_create(HSI_BACKEND_REF);
    EXPECT(rt && hsi_rt_backend(rt) == HSI_BACKEND_REF && !*hsi_rt_error(rt), "rt");
    api_conv_cases(rt, 1);
    api_bn(rt, 0, 1);
    api_bn(rt, 1, 1);
    api_elementwise(rt);
    api_pool(rt, "maxpool3d", 5, (int64_t[]){2, 3, 5, 6, 7},
             (hsi_pool_desc){3, 1, {2, 3, 3}, {1, 2, 2}, {1, 1, 0}, {0, 1, 2}, 1});
    api_pool(rt, "avgpool2d excl pad", 4, (int64_t[]){2, 3, 6, 7},
             (hsi_pool_desc){2, 0, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 0});
    api_pool(rt, "avgpool2d incl pad", 4, (int64_t[]){2, 3, 6, 7},
             (hsi_pool_desc){2, 0, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1});
    api_shape_ops(rt);
    hsi_rt_destroy(rt);
}

static void test_accumulate(void)
{
    hsi_rt *rt = hsi_rt_create(HSI_BACKEND_REF);
    api_conv_cases(rt, 2);
    api_bn(rt, 1, 2);
    hsi_rt_destroy(rt);
}

/* The create must fail and the message must contain `needle`. */
static void expect_error(hsi_rt *rt, const void *op, const char *needle)
{
    EXPECT(!op, "a bad create succeeded (expected \"%s\")", needle);
    EXPECT(strstr(hsi_rt_error(rt), needle), "message \"%s\" lacks \"%s\"", hsi_rt_error(rt),
           needle);
}

static void test_errors(void)
{
    hsi_rt *rt = hsi_rt_create(HSI_BACKEND_REF);
    const hsi_layout *l = plain(rt, 4, (int64_t[]){2, 3, 5, 5});
    expect_error(rt, hsi_conv_create(rt, l, &(hsi_conv_desc){2, 4, 2, {3, 3}, {1, 1}, {0}, {0},
                                                             {1, 1}, 0}, 1, 1), "groups 2");
    expect_error(rt, hsi_conv_create(rt, l, &(hsi_conv_desc){2, 4, 1, {7, 3}, {1, 1}, {0}, {0},
                                                             {1, 1}, 0}, 1, 1), "[2, 3, 5, 5]");
    expect_error(rt, hsi_conv_create(rt, l, &(hsi_conv_desc){3, 4, 1, {3, 3, 3}, {1, 1, 1}, {0},
                                                             {0}, {1, 1, 1}, 0}, 1, 1),
                 "5-dim input");
    expect_error(rt, hsi_conv_create(rt, l, &(hsi_conv_desc){2, 4, 1, {3, 3}, {0, 1}, {0}, {0},
                                                             {1, 1}, 0}, 1, 1), "stride 0");
    expect_error(rt, hsi_pool_create(rt, l, &(hsi_pool_desc){2, 1, {2, 2}, {2, 2}, {2, 0}, {0, 0},
                                                              1}), "smaller than the kernel");
    expect_error(rt, hsi_dropout_create(rt, l, 1.0f), "[0, 1)");
    expect_error(rt, hsi_act_create(rt, l, HSI_ACT_ELU, -1.0f), "alpha");
    expect_error(rt, hsi_add_create(rt, l, plain(rt, 4, (int64_t[]){2, 3, 5, 4}), 0),
                 "[2, 3, 5, 5] vs [2, 3, 5, 4]");
    expect_error(rt, hsi_reshape_create(rt, l, 2, (int64_t[]){2, 70}), "different numbers");
    expect_error(rt, hsi_xent_create(rt, l), "[N, K, 1, ...]");
    expect_error(rt, hsi_concat_create(rt, 2, (const hsi_layout *[]){l, plain(rt, 4,
                                                   (int64_t[]){2, 3, 4, 5})}), "only dim 1");
    expect_error(rt, hsi_layout_plain(rt, 1, (int64_t[]){4}), "2 to 5 dims");
    expect_error(rt, hsi_layout_plain(rt, 2, (int64_t[]){4, 0}), "dim < 1");
#ifndef HSICC_WITH_DNNL
    EXPECT(!hsi_rt_create(HSI_BACKEND_DNNL), "a reference-only build must refuse DNNL");
#endif
    hsi_rt_destroy(rt);
    hsi_rt_destroy(NULL);
}

int main(int argc, char **argv)
{
    static const struct { const char *name; void (*run)(void); } tests[] = {
        {"hand", test_hand},           {"bn_stats", test_bn_stats},
        {"dropout", test_dropout},     {"float_api", test_float_api},
        {"accumulate", test_accumulate}, {"errors", test_errors},
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (argc < 2 || !strcmp(argv[1], tests[i].name)) {
            tests[i].run();
            ran++;
        }
    if (!ran) {
        fprintf(stderr, "usage: test_ref_values [hand|bn_stats|dropout|float_api|accumulate|"
                        "errors]\n");
        return 2;
    }
    printf("%s\n", fails ? "FAIL" : "ok");
    return fails != 0;
}
