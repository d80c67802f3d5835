/* kernels.c — the backend-independent half of the kernel library (hsi_kernels.h).
 *
 * Owns the rt (allocations, op and layout lists, error text), checks the arguments of every
 * create once for both backends (so both give the same message), and dispatches each call to
 * ref.c or dnnl.c by rt->backend. It computes nothing itself but the dropout hash and the
 * losses other than plain cross-entropy (hsi_loss_*, on plain copies made by the backend's
 * ops), and never looks inside a backend's op state.
 */
#define _POSIX_C_SOURCE 200809L
#if !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L
#error "hsicc's runtime is C11 (aligned_alloc, _Atomic, _Thread_local): compile it with -std=c11, gnu11 or later"
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels_impl.h"
#include "ref.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* HK_CALL: kernels_impl.h */

/* A run call, timed when the rt profiles (HSI_PROFILE set when it was created): phase 0 is the
 * forward pass, 1 the backward; key is the op's first parameter (weights, BN gamma) or NULL;
 * on one thread when op->serial (small convs, below). Neither: one predictable branch. */
#define HK_RUN(op, phase, key, fn, ...)                          \
    do {                                                         \
        if (!(op)->rt->prof && !(op)->serial) {                  \
            HK_CALL((op)->rt, fn, __VA_ARGS__);                  \
            break;                                               \
        }                                                        \
        int th_ = hk_serial_begin((op)->serial);                 \
        double t0_ = (op)->rt->prof ? hk_now() : 0;              \
        HK_CALL((op)->rt, fn, __VA_ARGS__);                      \
        if ((op)->rt->prof) hk_prof_add(op, phase, key, t0_);    \
        hk_serial_end(th_);                                      \
    } while (0)

static double hk_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void hk_prof_add(hsi_op *op, int phase, const void *key, double t0)
{
    op->prof_s[phase] += hk_now() - t0;
    op->prof_n[phase]++;
    if (key && !op->prof_key) op->prof_key = key;
}

/* ---- small convs on one thread (HSICC_SERIAL_SMALL=1) --------------------------------------
 * With HSICC_SERIAL_SMALL=1, a windowed conv (a kernel wider than 1, more than one output
 * pixel: not a single GEMM) with at most HK_SERIAL_PIXELS output pixels a sample and fewer than
 * HK_SERIAL_MACS multiply-adds a forward runs on the calling thread alone: OpenMP's thread count
 * is 1 while it is created (oneDNN fixes a primitive's thread count then) and while it runs.
 * SSRN's 3x3 convs on 5x5 pixels (2 and 11 M multiply-adds): on a heavily loaded machine they
 * took more CPU time on the longer of two threads than on one thread alone, but with the
 * machine less loaded the step was ~3 % slower with them on one thread (README, "Threads"),
 * so it is off by default. */
#define HK_SERIAL_MACS 16e6
#define HK_SERIAL_PIXELS 64

/* 1 when a conv of macs multiply-adds, pixels output pixels a sample and a kernel of area
 * taps runs on one thread (oneDNN backend, more than one thread). */
static int hk_serial_wanted(const hsi_rt *rt, double macs, double pixels, double taps)
{
#ifdef _OPENMP
    static int off = -1;
    if (off < 0) {
        const char *e = getenv("HSICC_SERIAL_SMALL");
        off = !(e && !strcmp(e, "1"));
    }
    return !off && rt->backend == HSI_BACKEND_DNNL && macs < HK_SERIAL_MACS && pixels > 1
           && pixels <= HK_SERIAL_PIXELS && taps > 1 && omp_get_max_threads() > 1;
#else
    (void)rt, (void)macs, (void)pixels, (void)taps;
    return 0;
#endif
}

/* Sets OpenMP's thread count to 1 when serial; returns what to restore (0: nothing). */
static int hk_serial_begin(int serial)
{
#ifdef _OPENMP
    if (!serial) return 0;
    int t = omp_get_max_threads();
    omp_set_num_threads(1);
    return t;
#else
    (void)serial;
    return 0;
#endif
}

static void hk_serial_end(int threads)
{
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#else
    (void)threads;
#endif
}

/* ---- the rt and its memory ---------------------------------------------------------------- */

void *hk_alloc(hsi_rt *rt, size_t bytes)
{
    if (bytes > SIZE_MAX - 64) return NULL;
    size_t size = bytes ? (bytes + 63) / 64 * 64 : 64;
    if (rt->n_allocs == rt->cap_allocs) {
        int cap = rt->cap_allocs ? 2 * rt->cap_allocs : 64;
        void **grown = realloc(rt->allocs, sizeof *grown * (size_t)cap);
        if (!grown) return NULL;
        rt->allocs = grown;
        rt->cap_allocs = cap;
    }
    void *p = aligned_alloc(64, size);
    if (!p) return NULL;
    memset(p, 0, size);
    rt->allocs[rt->n_allocs++] = p;
    return p;
}

hsi_op *hk_op_new(hsi_rt *rt, hk_kind kind, const hsi_layout *dst)
{
    hsi_op *op = hk_alloc(rt, sizeof *op);
    if (!op) return NULL;
    op->rt = rt;
    op->kind = kind;
    op->dst = dst;
    op->next = rt->ops;
    rt->ops = op;
    return op;
}

hsi_layout *hk_layout_new(hsi_rt *rt, int ndim, const int64_t *dims)
{
    hsi_layout *l = hk_alloc(rt, sizeof *l);
    if (!l) return NULL;
    l->ndim = ndim;
    memcpy(l->dims, dims, sizeof *dims * (size_t)ndim);
    l->next = rt->layouts;
    rt->layouts = l;
    return l;
}

void *hk_fail(hsi_rt *rt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt->err, sizeof rt->err, fmt, ap);
    va_end(ap);
    return NULL;
}

int64_t hk_numel(int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    return n;
}

/* Frees every hk_alloc and the rt itself (the backend has released its own objects). */
static void rt_free(hsi_rt *rt)
{
    for (int i = 0; i < rt->n_allocs; i++) free(rt->allocs[i]);
    free(rt->allocs);
    free(rt);
}

int hsi_env_flag(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0") != 0;
}

hsi_rt *hsi_rt_create(hsi_backend backend)
{
    if (backend != HSI_BACKEND_REF && backend != HSI_BACKEND_DNNL) return NULL;
#ifndef HSICC_WITH_DNNL
    if (backend == HSI_BACKEND_DNNL) return NULL;
#endif
    hsi_rt *rt = calloc(1, sizeof *rt);
    if (!rt) return NULL;
    rt->backend = backend;
    rt->prof = hsi_env_flag("HSI_PROFILE");
#ifdef HSICC_WITH_DNNL
    if (backend == HSI_BACKEND_DNNL && hk_dnnl_rt_init(rt) != 0) {
        rt_free(rt);
        return NULL;
    }
#endif
    return rt;
}

const char *hsi_rt_create_failure(hsi_backend backend)
{
    if (backend != HSI_BACKEND_REF && backend != HSI_BACKEND_DNNL) return "no such backend";
#ifndef HSICC_WITH_DNNL
    if (backend == HSI_BACKEND_DNNL)
        return "oneDNN is not built in (this build has the reference kernels only: compile with "
               "-DHSICC_WITH_DNNL=1 and link -ldnnl, or use the reference kernels)";
#endif
    return backend == HSI_BACKEND_DNNL ? "oneDNN's CPU engine could not be created, or out of memory"
                                       : "out of memory";
}

void hsi_rt_destroy(hsi_rt *rt)
{
    if (!rt) return;
#ifdef HSICC_WITH_DNNL
    if (rt->backend == HSI_BACKEND_DNNL) hk_dnnl_rt_fini(rt);
#endif
    rt_free(rt);
}

hsi_backend hsi_rt_backend(const hsi_rt *rt) { return rt->backend; }
const char *hsi_rt_error(const hsi_rt *rt) { return rt ? rt->err : "no runtime"; }

size_t hsi_rt_buffer_bytes(const hsi_rt *rt)
{
#ifdef HSICC_WITH_DNNL
    if (rt && rt->backend == HSI_BACKEND_DNNL && rt->dnnl) return hk_dnnl_rt_bytes(rt);
#endif
    (void)rt;
    return 0;
}

/* ---- layouts and ops ---------------------------------------------------------------------- */

/* "[8, 24, 97, 7, 7]" into buf. */
static const char *dims_str(char *buf, size_t size, int ndim, const int64_t *dims)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
    return buf;
}
#define DIMS(l) dims_str((char[96]){0}, 96, (l)->ndim, (l)->dims)

static int check_dims(hsi_rt *rt, const char *what, int ndim, const int64_t *dims)
{
    if (ndim < 2 || ndim > 5 || !dims) {
        hk_fail(rt, "%s: a tensor needs 2 to 5 dims (batch first), not %d", what, ndim);
        return 0;
    }
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 1) {
            hk_fail(rt, "%s: shape %s has a dim < 1", what,
                    dims_str((char[96]){0}, 96, ndim, dims));
            return 0;
        }
    return 1;
}

const hsi_layout *hsi_layout_plain(hsi_rt *rt, int ndim, const int64_t *dims)
{
    if (!rt || !check_dims(rt, "layout", ndim, dims)) return NULL;
    return HK_CALL(rt, layout_plain, rt, ndim, dims);
}

size_t hsi_layout_bytes(const hsi_layout *l) { return l->bytes; }
int hsi_layout_ndim(const hsi_layout *l) { return l->ndim; }
const int64_t *hsi_layout_dims(const hsi_layout *l) { return l->dims; }
int hsi_layout_is_plain(const hsi_layout *l) { return l->plain; }

void hsi_fold_bn(int64_t out, int64_t per_out, const float *w, const float *b, const float *gamma,
                 const float *beta, const float *mean, const float *var, float eps, float *wf,
                 float *bf)
{
    for (int64_t o = 0; o < out; o++) {
        double sc = (double)gamma[o] / sqrt((double)var[o] + (double)eps);
        for (int64_t k = 0; k < per_out; k++) wf[o * per_out + k] = (float)(w[o * per_out + k] * sc);
        bf[o] = (float)(((b ? (double)b[o] : 0.0) - mean[o]) * sc + beta[o]);
    }
}

const hsi_layout *hsi_op_dst(const hsi_op *op) { return op->dst; }
size_t hsi_op_ws_bytes(const hsi_op *op) { return op->ws_bytes; }
int hsi_op_is_view(const hsi_op *op) { return op->view; }

int hsi_add_grad_shares(const hsi_op *op, int slot)
{
    return op && op->kind == HK_ADD && slot >= 0 && slot < 2 && (op->grad_shares >> slot & 1);
}

int hsi_bn_grad_shares(const hsi_op *op)
{
    return op && op->kind == HK_BN && op->grad_shares;
}

/* ---- argument checks shared by both backends ---------------------------------------------- */

static int need_layout(hsi_rt *rt, const char *what, const hsi_layout *l)
{
    if (l) return 1;
    hk_fail(rt, "%s: no input layout", what);
    return 0;
}

/* Spatial window parameters of conv and pool; dil NULL for pooling. */
static int check_window(hsi_rt *rt, const char *what, const hsi_layout *src, int nsp,
                        const int64_t *k, const int64_t *s, const int64_t *lo, const int64_t *hi,
                        const int64_t *dil)
{
    if (nsp < 1 || nsp > 3) {
        hk_fail(rt, "%s: spatial rank must be 1, 2 or 3, not %d", what, nsp);
        return 0;
    }
    if (src->ndim != nsp + 2) {
        hk_fail(rt, "%s: a %d-D window needs a %d-dim input, got %s", what, nsp, nsp + 2,
                DIMS(src));
        return 0;
    }
    for (int i = 0; i < nsp; i++) {
        int64_t d = dil ? dil[i] : 1;
        if (k[i] < 1 || s[i] < 1 || d < 1 || lo[i] < 0 || hi[i] < 0) {
            hk_fail(rt, "%s: spatial dim %d: kernel %lld, stride %lld, dilation %lld must be >= 1 "
                        "and padding %lld/%lld >= 0", what, i, (long long)k[i], (long long)s[i],
                    (long long)d, (long long)lo[i], (long long)hi[i]);
            return 0;
        }
        if (!dil && (lo[i] >= k[i] || hi[i] >= k[i])) {
            hk_fail(rt, "%s: spatial dim %d: padding %lld/%lld must be smaller than the "
                        "kernel %lld", what, i, (long long)lo[i], (long long)hi[i],
                    (long long)k[i]);
            return 0;
        }
        if (hsi_ref_out_size(src->dims[2 + i], k[i], s[i], lo[i], hi[i], d) < 1) {
            hk_fail(rt, "%s: the window (kernel %lld, dilation %lld) does not fit spatial dim %d "
                        "of input %s padded by %lld/%lld", what, (long long)k[i], (long long)d, i,
                    DIMS(src), (long long)lo[i], (long long)hi[i]);
            return 0;
        }
    }
    return 1;
}

static int same_dims(const hsi_layout *a, const hsi_layout *b)
{
    return a->ndim == b->ndim && !memcmp(a->dims, b->dims, sizeof *a->dims * (size_t)a->ndim);
}

/* ---- ops: check, then dispatch ------------------------------------------------------------ */

hsi_op *hsi_conv_create(hsi_rt *rt, const hsi_layout *src, const hsi_conv_desc *d, int need_dsrc,
                        int need_dw)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "conv", src)) return NULL;
    if (!d) return hk_fail(rt, "conv: no descriptor");
    if (!check_window(rt, "conv", src, d->nsp, d->kernel, d->stride, d->pad_lo, d->pad_hi,
                      d->dilation))
        return NULL;
    if (d->out_ch < 1 || d->groups < 1 || src->dims[1] % d->groups || d->out_ch % d->groups)
        return hk_fail(rt, "conv: groups %lld must divide both the input channels of %s and the "
                           "%lld output channels", (long long)d->groups, DIMS(src),
                       (long long)d->out_ch);
    /* multiply-adds of one pass: every output element, (in / groups) x kernel */
    double macs = (double)(src->dims[1] / d->groups) * (double)(src->dims[0] * d->out_ch);
    double pixels = 1, taps = 1;
    for (int i = 0; i < d->nsp; i++) {
        pixels *= (double)hsi_ref_out_size(src->dims[2 + i], d->kernel[i], d->stride[i],
                                           d->pad_lo[i], d->pad_hi[i], d->dilation[i]);
        taps *= (double)d->kernel[i];
    }
    macs *= pixels * taps;
    int serial = hk_serial_wanted(rt, macs, pixels, taps), th = hk_serial_begin(serial);
    hsi_op *op = HK_CALL(rt, conv_create, rt, src, d, need_dsrc, need_dw);
    hk_serial_end(th);
    if (op) {
        op->serial = serial;
        op->macs = macs;
        op->macs_bwd = op->macs * ((need_dsrc != 0) + (need_dw != 0));
    }
    return op;
}

void hsi_conv_forward(hsi_op *op, const float *src, const float *w, const float *b, float *dst)
{
    HK_RUN(op, 0, w, conv_forward, op, src, w, b, dst);
}

void hsi_conv_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                       float *dsrc, float *dw, float *db)
{
    HK_RUN(op, 1, w, conv_backward, op, src, w, ddst, dsrc, dw, db);
}

hsi_op *hsi_bn_create(hsi_rt *rt, const hsi_layout *src, float eps, int fuse_relu)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "bn", src)) return NULL;
    if (!(eps >= 0)) return hk_fail(rt, "bn: eps %g must be >= 0", eps);
    hsi_op *op = HK_CALL(rt, bn_create, rt, src, eps, fuse_relu);
    /* dsrc over ddst (hsi_bn_grad_shares): both in src's layout, every backward reads ddst
     * (its sums, then each element) before writing dsrc there */
    if (op) op->grad_shares = op->dst == src && !hsi_env_flag("HSICC_NO_BN_INPLACE");
    return op;
}

void hsi_bn_forward(hsi_op *op, int train, const float *src, const float *gamma,
                    const float *beta, float *running_mean, float *running_var, float momentum,
                    float *dst, void *ws)
{
    HK_RUN(op, 0, gamma, bn_forward, op, train, src, gamma, beta, running_mean, running_var, momentum,
            dst, ws);
}

void hsi_bn_backward(hsi_op *op, const float *src, const float *gamma, const float *ddst,
                     const void *ws, float *dsrc, float *dgamma, float *dbeta)
{
    HK_RUN(op, 1, gamma, bn_backward, op, src, gamma, ddst, ws, dsrc, 0, dgamma, dbeta);
}

void hsi_bn_backward_add(hsi_op *op, const float *src, const float *gamma, const float *ddst,
                         const void *ws, float *dsrc, float *dgamma, float *dbeta)
{
    HK_RUN(op, 1, gamma, bn_backward, op, src, gamma, ddst, ws, dsrc, 1, dgamma, dbeta);
}

void hsi_bn_train(hsi_op *op, const float *src, const float *gamma, const float *beta,
                  float *running_mean, float *running_var, float momentum, float *dst, void *ws)
{
    hsi_bn_forward(op, 1, src, gamma, beta, running_mean, running_var, momentum, dst, ws);
}

/* Inference reads the running statistics and writes neither them nor a workspace. */
void hsi_bn_infer(hsi_op *op, const float *src, const float *gamma, const float *beta,
                  const float *running_mean, const float *running_var, float *dst)
{
    hsi_bn_forward(op, 0, src, gamma, beta, (float *)running_mean, (float *)running_var, 0.0f, dst,
                   NULL);
}

int hsi_bn_recomputes(const hsi_op *op) { return op && op->kind == HK_BN && op->recompute; }

void hsi_bn_recompute(hsi_op *op, const float *src, const float *gamma, const float *beta,
                      const void *ws, float *dst)
{
    if (!hsi_bn_recomputes(op)) return;
#ifdef HSICC_WITH_DNNL
    double t0 = op->rt->prof ? hk_now() : 0;
    hk_dnnl_bn_recompute(op, src, gamma, beta, ws, dst);
    if (op->rt->prof) hk_prof_add(op, 1, gamma, t0);   /* part of the backward */
#else
    (void)src, (void)gamma, (void)beta, (void)ws, (void)dst;
#endif
}

/* The fusions below ask the oneDNN backend only (HK_IF_DNNL: 0 in a build without it) about
 * ops of one runtime: a of kind ka, and b of kind kb unless b is NULL. */
#ifdef HSICC_WITH_DNNL
#define HK_IF_DNNL(x) (x)
#else
#define HK_IF_DNNL(x) 0
#endif
static int hk_on_dnnl(const hsi_op *a, hk_kind ka, const hsi_op *b, hk_kind kb)
{
    return a && a->kind == ka && a->rt->backend == HSI_BACKEND_DNNL &&
           (!b || (b->kind == kb && b->rt == a->rt));
}

int hsi_conv_takes_bn(const hsi_op *conv, const hsi_op *bn)
{
    return bn && hk_on_dnnl(conv, HK_CONV, bn, HK_BN) &&
           HK_IF_DNNL(hk_dnnl_conv_takes_bn(conv, bn));
}

/* The calls below exist only where their query said 1 (the oneDNN backend); a caller that
 * did not ask gets a message, never a silently missing output. */
static void hk_not_taken(const char *fn)
{
    fprintf(stderr, "hsicc: %s called for a conv that does not take its BN, residual or input "
                    "gradient (hsi_conv_takes_bn, hsi_conv_takes_residual, hsi_conv_adds_dsrc)\n",
            fn);
    abort();
}

static void hk_ref_bn_train_stats(hsi_op *bn, const float *src, const float *gamma,
                                  const float *beta, float *rm, float *rv, float momentum, void *ws)
{
    (void)bn, (void)src, (void)gamma, (void)beta, (void)rm, (void)rv, (void)momentum, (void)ws;
    hk_not_taken("hsi_bn_train_stats");
}

static void hk_ref_conv_forward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn,
                                   const float *gamma, const void *bn_ws, const float *w,
                                   const float *b, float *dst)
{
    (void)conv, (void)bn_src, (void)bn, (void)gamma, (void)bn_ws, (void)w, (void)b, (void)dst;
    hk_not_taken("hsi_conv_forward_bn");
}

static void hk_ref_conv_backward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn,
                                    const float *gamma, const void *bn_ws, const float *w,
                                    const float *ddst, float *dsrc, float *dw, float *db)
{
    (void)conv, (void)bn_src, (void)bn, (void)gamma, (void)bn_ws, (void)w, (void)ddst;
    (void)dsrc, (void)dw, (void)db;
    hk_not_taken("hsi_conv_backward_bn");
}

void hsi_bn_train_stats(hsi_op *bn, const float *src, const float *gamma, const float *beta,
                        float *running_mean, float *running_var, float momentum, void *ws)
{
    HK_RUN(bn, 0, gamma, bn_train_stats, bn, src, gamma, beta, running_mean, running_var,
           momentum, ws);
}

void hsi_conv_forward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn, const float *gamma,
                         const float *beta, const void *bn_ws, const float *w, const float *b,
                         float *dst)
{
    (void)beta;   /* the forward's, kept in bn_ws (the same values) */
    if (!hsi_conv_takes_bn(conv, bn)) hk_not_taken("hsi_conv_forward_bn");
    HK_RUN(conv, 0, w, conv_forward_bn, conv, bn_src, bn, gamma, bn_ws, w, b, dst);
}

void hsi_conv_backward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn, const float *gamma,
                          const float *beta, const void *bn_ws, const float *w, const float *ddst,
                          float *dsrc, float *dw, float *db)
{
    (void)beta;
    if (!hsi_conv_takes_bn(conv, bn)) hk_not_taken("hsi_conv_backward_bn");
    HK_RUN(conv, 1, w, conv_backward_bn, conv, bn_src, bn, gamma, bn_ws, w, ddst, dsrc, dw, db);
}

int hsi_pool_takes_bn(const hsi_op *pool, const hsi_op *bn)
{
    return bn && hk_on_dnnl(pool, HK_POOL, bn, HK_BN) &&
           HK_IF_DNNL(hk_dnnl_pool_takes_bn(pool, bn));
}

static void hk_pool_not_taken(const char *fn)
{
    fprintf(stderr, "hsicc: %s called for a pool that does not take its BN (hsi_pool_takes_bn)\n",
            fn);
    abort();
}

static void hk_ref_pool_forward_bn(hsi_op *pool, const float *bn_src, hsi_op *bn,
                                   const float *gamma, const void *bn_ws, float *dst, void *ws)
{
    (void)pool, (void)bn_src, (void)bn, (void)gamma, (void)bn_ws, (void)dst, (void)ws;
    hk_pool_not_taken("hsi_pool_forward_bn");
}

static void hk_ref_pool_backward_bn(hsi_op *pool, const float *ddst, const void *ws, hsi_op *bn,
                                    const float *bn_src, const float *gamma, const void *bn_ws,
                                    float *dsrc, float *dgamma, float *dbeta)
{
    (void)pool, (void)ddst, (void)ws, (void)bn, (void)bn_src, (void)gamma, (void)bn_ws;
    (void)dsrc, (void)dgamma, (void)dbeta;
    hk_pool_not_taken("hsi_pool_backward_bn");
}

void hsi_pool_forward_bn(hsi_op *pool, const float *bn_src, hsi_op *bn, const float *gamma,
                         const float *beta, const void *bn_ws, float *dst, void *ws)
{
    (void)beta;   /* the forward's, kept in bn_ws */
    if (!hsi_pool_takes_bn(pool, bn)) hk_pool_not_taken("hsi_pool_forward_bn");
    HK_RUN(pool, 0, NULL, pool_forward_bn, pool, bn_src, bn, gamma, bn_ws, dst, ws);
}

void hsi_pool_backward_bn(hsi_op *pool, const float *ddst, const void *ws, hsi_op *bn,
                          const float *bn_src, const float *gamma, const float *beta,
                          const void *bn_ws, float *dsrc, float *dgamma, float *dbeta)
{
    (void)beta;
    if (!hsi_pool_takes_bn(pool, bn)) hk_pool_not_taken("hsi_pool_backward_bn");
    HK_RUN(bn, 1, gamma, pool_backward_bn, pool, ddst, ws, bn, bn_src, gamma, bn_ws, dsrc, dgamma,
           dbeta);
}

int hsi_conv_takes_residual(const hsi_op *conv, const hsi_op *add)
{
    return add && hk_on_dnnl(conv, HK_CONV, add, HK_ADD) &&
           HK_IF_DNNL(hk_dnnl_conv_takes_residual(conv, add));
}

int hsi_conv_adds_dsrc(const hsi_op *conv)
{
    return hk_on_dnnl(conv, HK_CONV, NULL, HK_CONV) && HK_IF_DNNL(hk_dnnl_conv_adds_dsrc(conv));
}

static void hk_ref_conv_backward_add(hsi_op *conv, const float *src, hsi_op *bn,
                                     const float *gamma, const void *bn_ws, const float *w,
                                     const float *ddst, float *dsrc, float *dw, float *db)
{
    (void)conv, (void)src, (void)bn, (void)gamma, (void)bn_ws, (void)w, (void)ddst, (void)dsrc;
    (void)dw, (void)db;
    hk_not_taken("hsi_conv_backward_add");
}

void hsi_conv_backward_add(hsi_op *conv, const float *src, hsi_op *bn, const float *gamma,
                           const float *beta, const void *bn_ws, const float *w,
                           const float *ddst, float *dsrc, float *dw, float *db)
{
    (void)beta;   /* the forward's, kept in bn_ws */
    if (!hsi_conv_adds_dsrc(conv) || (bn && !hsi_conv_takes_bn(conv, bn)))
        hk_not_taken("hsi_conv_backward_add");
    HK_RUN(conv, 1, w, conv_backward_add, conv, src, bn, gamma, bn_ws, w, ddst, dsrc, dw, db);
}

int hsi_bn_sums_from(hsi_op *bn, hsi_op *conv, const hsi_op *add)
{
    return conv && hk_on_dnnl(bn, HK_BN, conv, HK_CONV) && hk_on_dnnl(conv, HK_CONV, add, HK_ADD) &&
           HK_IF_DNNL(hk_dnnl_bn_sums_from(bn, conv, add));
}

int hsi_bn_grad_sums_from(hsi_op *bn, hsi_op *conv)
{
    return conv && hk_on_dnnl(bn, HK_BN, conv, HK_CONV) &&
           HK_IF_DNNL(hk_dnnl_bn_grad_sums_from(bn, conv));
}

static void hk_ref_conv_forward_res(hsi_op *conv, const float *src, hsi_op *bn,
                                    const float *gamma, const void *bn_ws, const float *w,
                                    const float *b, const float *res, float *dst)
{
    (void)conv, (void)src, (void)bn, (void)gamma, (void)bn_ws, (void)w, (void)b, (void)res;
    (void)dst;
    hk_not_taken("hsi_conv_forward_res");
}

void hsi_conv_forward_res(hsi_op *conv, const float *src, hsi_op *bn, const float *gamma,
                          const void *bn_ws, const float *w, const float *b, const float *res,
                          float *dst)
{
    if (bn && !hsi_conv_takes_bn(conv, bn)) hk_not_taken("hsi_conv_forward_res");
    HK_RUN(conv, 0, w, conv_forward_res, conv, src, bn, gamma, bn_ws, w, b, res, dst);
}

hsi_op *hsi_act_create(hsi_rt *rt, const hsi_layout *src, hsi_act_kind kind, float alpha)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "activation", src)) return NULL;
    if (kind < HSI_ACT_RELU || kind > HSI_ACT_TANH)
        return hk_fail(rt, "activation: unknown kind %d", (int)kind);
    if ((kind == HSI_ACT_LEAKY_RELU || kind == HSI_ACT_ELU) && !(alpha >= 0))
        return hk_fail(rt, "activation: alpha %g must be >= 0 (the backward reads the output)",
                       alpha);
    return HK_CALL(rt, act_create, rt, src, kind, alpha);
}

void hsi_act_forward(hsi_op *op, const float *src, float *dst)
{
    HK_RUN(op, 0, NULL, act_forward, op, src, dst);
}

void hsi_act_backward(hsi_op *op, const float *dst, const float *ddst, float *dsrc)
{
    HK_RUN(op, 1, NULL, act_backward, op, dst, ddst, dsrc);
}

hsi_op *hsi_dropout_create(hsi_rt *rt, const hsi_layout *src, float p)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "dropout", src)) return NULL;
    if (!(p >= 0 && p < 1)) return hk_fail(rt, "dropout: p = %g must be in [0, 1)", p);
    return HK_CALL(rt, dropout_create, rt, src, p);
}

void hsi_dropout_forward(hsi_op *op, int train, uint64_t seed, const float *src, float *dst,
                         void *ws)
{
    HK_RUN(op, 0, NULL, dropout_forward, op, train, seed, src, dst, ws);
}

void hsi_dropout_backward(hsi_op *op, const float *ddst, const void *ws, float *dsrc)
{
    HK_RUN(op, 1, NULL, dropout_backward, op, ddst, ws, dsrc);
}

void hsi_dropout_train(hsi_op *op, uint64_t seed, const float *src, float *dst, void *ws)
{
    hsi_dropout_forward(op, 1, seed, src, dst, ws);
}

void hsi_dropout_infer(hsi_op *op, const float *src, float *dst)
{
    hsi_dropout_forward(op, 0, 0, src, dst, NULL);
}

const hsi_dp *hk_dp;

void hsi_kernels_set_dp(const hsi_dp *dp)
{
    hk_dp = dp;
}

int hk_bn_sync(void)
{
    return hk_dp && hk_dp->sync_bn && hk_dp->sum;
}

uint64_t hk_dropout_base(const hsi_layout *dst)
{
    if (!hk_dp || !hk_dp->first_sample) return 0;
    return (uint64_t)hk_dp->first_sample * (uint64_t)(hk_numel(dst->ndim, dst->dims) / dst->dims[0]);
}

/* Output i of a splitmix64 stream whose state starts at hk_mix64(seed) (splitmix64's
 * finaliser); the top 24 bits, so the float is exact and lies in [0, 1). */
float hsi_dropout_uniform(uint64_t seed, uint64_t i)
{
    return hk_dropout_u(hk_mix64(seed), i);
}

hsi_op *hsi_pool_create(hsi_rt *rt, const hsi_layout *src, const hsi_pool_desc *d)
{
    return hsi_pool_create_ceil(rt, src, d, NULL);
}

hsi_op *hsi_pool_create_ceil(hsi_rt *rt, const hsi_layout *src, const hsi_pool_desc *d,
                             const int64_t *ceil_extra)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "pool", src)) return NULL;
    if (!d) return hk_fail(rt, "pool: no descriptor");
    hsi_pool_desc t = *d;   /* the backends see the window's whole right padding */
    int64_t extra[3] = {0, 0, 0};
    for (int i = 0; ceil_extra && i < 3 && i < d->nsp; i++) {
        if (ceil_extra[i] < 0 || ceil_extra[i] >= d->stride[i])
            return hk_fail(rt, "pool: spatial dim %d: ceil_mode extra %lld must be in [0, stride %lld)",
                           i, (long long)ceil_extra[i], (long long)d->stride[i]);
        extra[i] = ceil_extra[i];
        t.pad_hi[i] += extra[i];
    }
    if (!check_window(rt, "pool", src, t.nsp, t.kernel, t.stride, t.pad_lo, t.pad_hi, NULL))
        return NULL;
    return HK_CALL(rt, pool_create, rt, src, &t, extra);
}

void hsi_pool_forward(hsi_op *op, int train, const float *src, float *dst, void *ws)
{
    HK_RUN(op, 0, NULL, pool_forward, op, train, src, dst, ws);
}

void hsi_pool_train(hsi_op *op, const float *src, float *dst, void *ws)
{
    hsi_pool_forward(op, 1, src, dst, ws);
}

void hsi_pool_infer(hsi_op *op, const float *src, float *dst)
{
    hsi_pool_forward(op, 0, src, dst, NULL);
}

void hsi_pool_backward(hsi_op *op, const float *ddst, const void *ws, float *dsrc)
{
    HK_RUN(op, 1, NULL, pool_backward, op, ddst, ws, dsrc);
}

hsi_op *hsi_dense_create(hsi_rt *rt, const hsi_layout *src, int64_t out, int bias, int need_dsrc,
                         int need_dw)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "dense", src)) return NULL;
    if (out < 1) return hk_fail(rt, "dense: %lld outputs; need >= 1", (long long)out);
    hsi_op *op = HK_CALL(rt, dense_create, rt, src, out, bias, need_dsrc, need_dw);
    if (op) {
        op->macs = (double)hk_numel(src->ndim, src->dims) * (double)out;
        op->macs_bwd = op->macs * ((need_dsrc != 0) + (need_dw != 0));
    }
    return op;
}

void hsi_dense_forward(hsi_op *op, const float *src, const float *w, const float *b, float *dst)
{
    HK_RUN(op, 0, w, dense_forward, op, src, w, b, dst);
}

void hsi_dense_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                        float *dsrc, float *dw, float *db)
{
    HK_RUN(op, 1, w, dense_backward, op, src, w, ddst, dsrc, dw, db);
}

hsi_op *hsi_add_create(hsi_rt *rt, const hsi_layout *a, const hsi_layout *b, int relu)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "add", a) || !need_layout(rt, "add", b)) return NULL;
    if (!same_dims(a, b))
        return hk_fail(rt, "add: shapes differ: %s vs %s", DIMS(a), DIMS(b));
    return HK_CALL(rt, add_create, rt, a, b, relu);
}

void hsi_add_forward(hsi_op *op, const float *a, const float *b, float *dst)
{
    HK_RUN(op, 0, NULL, add_forward, op, a, b, dst);
}

void hsi_add_backward(hsi_op *op, const float *dst, const float *ddst, float *da, float *db)
{
    HK_RUN(op, 1, NULL, add_backward, op, dst, ddst, da, db);
}

hsi_op *hsi_accum_create(hsi_rt *rt, const hsi_layout *accl, const hsi_layout *gl)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "accum", accl) || !need_layout(rt, "accum", gl)) return NULL;
    if (!same_dims(accl, gl))
        return hk_fail(rt, "accum: shapes differ: %s vs %s", DIMS(accl), DIMS(gl));
    return HK_CALL(rt, accum_create, rt, accl, gl);
}

void hsi_accum(hsi_op *op, float *acc, const float *g) { HK_RUN(op, 1, NULL, accum, op, acc, g); }

hsi_op *hsi_concat_create(hsi_rt *rt, int n, const hsi_layout *const *srcs)
{
    if (!rt) return NULL;
    if (n < 1 || n > HSI_CONCAT_MAX_IN || !srcs)
        return hk_fail(rt, "concat: %d inputs (1..%d supported)", n, HSI_CONCAT_MAX_IN);
    for (int i = 0; i < n; i++) {
        if (!need_layout(rt, "concat", srcs[i])) return NULL;
        const hsi_layout *a = srcs[0], *b = srcs[i];
        int ok = a->ndim == b->ndim && a->dims[0] == b->dims[0];
        for (int j = 2; ok && j < a->ndim; j++) ok = a->dims[j] == b->dims[j];
        if (!ok)
            return hk_fail(rt, "concat: input %d has shape %s, input 0 %s: only dim 1 may differ",
                           i, DIMS(b), DIMS(a));
    }
    return HK_CALL(rt, concat_create, rt, n, srcs);
}

void hsi_concat_forward(hsi_op *op, const float *const *srcs, float *dst)
{
    HK_RUN(op, 0, NULL, concat_forward, op, srcs, dst);
}

void hsi_concat_backward(hsi_op *op, const float *ddst, float *const *dsrcs)
{
    HK_RUN(op, 1, NULL, concat_backward, op, ddst, dsrcs);
}

hsi_op *hsi_reshape_create(hsi_rt *rt, const hsi_layout *src, int ndim, const int64_t *dims)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "reshape", src) || !check_dims(rt, "reshape", ndim, dims)) return NULL;
    if (hk_numel(ndim, dims) != hk_numel(src->ndim, src->dims))
        return hk_fail(rt, "reshape: %s and %s hold different numbers of elements", DIMS(src),
                       dims_str((char[96]){0}, 96, ndim, dims));
    return HK_CALL(rt, reshape_create, rt, src, ndim, dims);
}

void hsi_reshape_forward(hsi_op *op, const float *src, float *dst)
{
    HK_RUN(op, 0, NULL, reshape_forward, op, src, dst);
}

void hsi_reshape_backward(hsi_op *op, const float *ddst, float *dsrc)
{
    HK_RUN(op, 1, NULL, reshape_backward, op, ddst, dsrc);
}

hsi_op *hsi_plain_create(hsi_rt *rt, const hsi_layout *src)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "plain", src)) return NULL;
    if (src->plain) return hsi_reshape_create(rt, src, src->ndim, src->dims);   /* a view */
#ifdef HSICC_WITH_DNNL
    if (rt->backend == HSI_BACKEND_DNNL) return hk_dnnl_plain_create(rt, src);
#endif
    return hk_fail(rt, "plain: a blocked layout on a backend without blocked layouts");
}

void hsi_plain_forward(hsi_op *op, const float *src, float *dst)
{
    HK_RUN(op, 0, NULL, reshape_forward, op, src, dst);
}

hsi_op *hsi_xent_create(hsi_rt *rt, const hsi_layout *logits)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "softmax cross-entropy", logits)) return NULL;
    for (int i = 2; i < logits->ndim; i++)
        if (logits->dims[i] != 1)
            return hk_fail(rt, "softmax cross-entropy: logits %s must be [N, K] or [N, K, 1, ...]",
                           DIMS(logits));
    return HK_CALL(rt, xent_create, rt, logits);
}

float hsi_xent_forward_backward(hsi_op *op, const float *logits, const int32_t *labels, int n,
                                float weight, float *dlogits)
{
    int64_t batch = op->dst->dims[0];
    if (n < 0) n = 0;
    if (n > batch) n = (int)batch;
    if (!op->rt->prof) return HK_CALL(op->rt, xent_forward_backward, op, logits, labels, n, weight, dlogits);
    double t0 = hk_now();
    float loss = HK_CALL(op->rt, xent_forward_backward, op, logits, labels, n, weight, dlogits);
    hk_prof_add(op, 1, NULL, t0);
    return loss;
}

void hsi_xent_plain_logits(hsi_op *op, const float *logits, float *plain)
{
    HK_CALL(op->rt, xent_plain_logits, op, logits, plain);
}

/* ---- the other losses (hsi_loss_*): backend-independent ------------------------------------
 * The head is brought to plain layout by the backend's own ops (hsi_plain, a view when it is
 * plain already), the loss and its gradient are computed here in double on the plain copy,
 * and the gradient goes back to the head's layout by an accumulation into zeros (hsi_accum).
 * Both backends thus share the arithmetic; only the layout moves differ. */

typedef struct hk_loss {
    hsi_loss_desc d;
    int64_t N, M;            /* batch, floats per sample of the head */
    int64_t K, S;            /* cross-entropy: classes and pixels per sample (1: one label) */
    int64_t centre;          /* pixel cross-entropy: the map's centre pixel (h / 2, w / 2) */
    hsi_op *to_plain;        /* head -> plain (a view when the head is plain) */
    hsi_op *from_plain;      /* dhead += plain gradient; NULL when the head is plain */
    float *ph, *pg;          /* plain head (when not a view), plain gradient */
} hk_loss;

hsi_op *hsi_loss_create(hsi_rt *rt, const hsi_layout *head, const hsi_loss_desc *d)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "loss", head)) return NULL;
    if (!d || d->kind < HSI_LOSS_XENT || d->kind > HSI_LOSS_L1 || !(d->label_smoothing >= 0.0f) ||
        d->label_smoothing > 1.0f)
        return hk_fail(rt, "loss: bad description");
    int64_t N = head->dims[0], M = hk_numel(head->ndim, head->dims) / N, K = 1, S = 1;
    if (d->kind == HSI_LOSS_XENT) {
        for (int i = 2; i < head->ndim; i++)
            if (head->dims[i] != 1)
                return hk_fail(rt, "softmax cross-entropy: logits %s must be [N, K] or [N, K, 1, ...]",
                               DIMS(head));
        K = M;
    } else if (d->kind == HSI_LOSS_PIXEL_XENT) {
        if (head->ndim != 4)
            return hk_fail(rt, "pixel cross-entropy: logits %s must be [N, K, H, W]", DIMS(head));
        K = head->dims[1];
        S = head->dims[2] * head->dims[3];
    } else {
        int64_t want = d->target == HSI_TARGET_CENTRE ? d->in_bands : d->in_numel;
        if ((d->target != HSI_TARGET_CENTRE && d->target != HSI_TARGET_INPUT) || want != M ||
            d->in_bands * d->in_h * d->in_w != d->in_numel)
            return hk_fail(rt, "loss: head %s does not match its target (%lld floats per sample)",
                           DIMS(head), (long long)want);
    }
    hsi_op *op = hk_op_new(rt, HK_LOSS, head);
    hk_loss *L = op ? hk_alloc(rt, sizeof *L) : NULL;
    if (!L) return hk_fail(rt, "loss: out of memory");
    op->impl = L;
    *L = (hk_loss){*d, N, M, K, S, 0, NULL, NULL, NULL, NULL};
    if (d->kind == HSI_LOSS_PIXEL_XENT) L->centre = head->dims[2] / 2 * head->dims[3] + head->dims[3] / 2;
    if (!(L->to_plain = hsi_plain_create(rt, head))) return NULL;
    if (!head->plain) {
        if (!(L->from_plain = hsi_accum_create(rt, head, hsi_op_dst(L->to_plain)))) return NULL;
        if (!(L->ph = hk_alloc(rt, sizeof(float) * (size_t)(N * M)))) return hk_fail(rt, "loss: out of memory");
    }
    if (!(L->pg = hk_alloc(rt, sizeof(float) * (size_t)(N * M)))) return hk_fail(rt, "loss: out of memory");
    return op;
}

/* The head in plain layout: the head itself when it is plain, else the copy. */
static const float *loss_plain_head(hk_loss *L, const float *head)
{
    if (!L->ph) return head;
    hsi_plain_forward(L->to_plain, head, L->ph);
    return L->ph;
}

/* Softmax cross-entropy with label smoothing e over the labelled (sample, pixel)s of the first
 * n samples; g (plain) gets weight * d/dz or is NULL. */
static double loss_xent(const hk_loss *L, const float *z, const int32_t *labels, int n, double weight,
                        float *g)
{
    int64_t K = L->K, S = L->S, m = 0;
    double e = L->d.label_smoothing, loss = 0;
    for (int64_t i = 0; i < (int64_t)n * S; i++) m += labels[i] >= 0 && labels[i] < K;
    for (int i = 0; i < n; i++)
        for (int64_t p = 0; p < S; p++) {
            int32_t y = labels[(int64_t)i * S + p];
            const float *zi = z + (int64_t)i * K * S + p;   /* class k at zi[k * S] */
            float *gi = g ? g + (int64_t)i * K * S + p : NULL;
            if (y < 0 || y >= K) continue;   /* ignored: its gradient stays 0 */
            double mx = zi[0], sum = 0, zsum = 0;
            for (int64_t k = 1; k < K; k++) mx = zi[k * S] > mx ? zi[k * S] : mx;
            for (int64_t k = 0; k < K; k++) sum += exp(zi[k * S] - mx), zsum += zi[k * S];
            double lse = mx + log(sum);
            loss += lse - (1 - e) * zi[(int64_t)y * S] - e / (double)K * zsum;
            for (int64_t k = 0; gi && k < K; k++)
                gi[k * S] = (float)(weight * (exp(zi[k * S] - lse) - (1 - e) * (k == y) - e / (double)K) /
                                    (double)m);
        }
    return m ? loss / (double)m : 0.0;
}

/* MSE or L1 against the input (or its centre spectrum) over the first n samples. */
static double loss_regression(const hk_loss *L, const float *h, const float *in, int n, double weight,
                              float *g)
{
    const hsi_loss_desc *d = &L->d;
    int64_t M = L->M, hw = d->in_h * d->in_w, centre = (d->in_h / 2) * d->in_w + d->in_w / 2;
    double count = (double)n * (double)M, loss = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < M; j++) {
            const float *x = in + i * d->in_numel;
            double t = d->target == HSI_TARGET_CENTRE ? x[j * hw + centre] : x[j];
            double r = (double)h[i * M + j] - t;
            loss += d->kind == HSI_LOSS_MSE ? r * r : fabs(r);
            if (g)
                g[i * M + j] = (float)(weight * (d->kind == HSI_LOSS_MSE ? 2 * r : (r > 0) - (r < 0)) / count);
        }
    return n ? loss / count : 0.0;
}

float hsi_loss_forward_backward(hsi_op *op, const float *head, const float *input,
                                const int32_t *labels, int n, float weight, float *dhead)
{
    hk_loss *L = op->impl;
    if (n < 0) n = 0;
    if (n > L->N) n = (int)L->N;
    const float *h = loss_plain_head(L, head);
    float *g = dhead ? L->pg : NULL;
    if (g) memset(g, 0, sizeof(float) * (size_t)(L->N * L->M));
    double loss = L->d.kind == HSI_LOSS_XENT || L->d.kind == HSI_LOSS_PIXEL_XENT
                      ? loss_xent(L, h, labels, n, weight, g)
                      : loss_regression(L, h, input, n, weight, g);
    if (g) {
        if (L->from_plain) {
            memset(dhead, 0, hsi_layout_bytes(op->dst));
            hsi_accum(L->from_plain, dhead, g);
        } else {
            memcpy(dhead, g, sizeof(float) * (size_t)(L->N * L->M));
        }
    }
    return (float)loss;
}

void hsi_loss_plain_logits(hsi_op *op, const float *head, float *plain)
{
    hk_loss *L = op->impl;
    const float *h = loss_plain_head(L, head);
    int64_t K = L->K, S = L->S, c = L->centre;
    for (int64_t i = 0; i < L->N; i++)
        for (int64_t k = 0; k < K; k++) plain[i * K + k] = h[(i * K + k) * S + c];
}

/* ---- lrn, crop, prelu, softmax (one backend op kind: HK_XOP) ------------------------------ */

static hsi_op *xop_create(hsi_rt *rt, const char *what, const hsi_layout *src, int min_ndim,
                          const hk_xop_desc *d)
{
    if (!rt) return NULL;
    if (!need_layout(rt, what, src)) return NULL;
    if (src->ndim < min_ndim)
        return hk_fail(rt, "%s: input %s needs at least %d dims (batch first)", what, DIMS(src), min_ndim);
    return HK_CALL(rt, xop_create, rt, src, d);
}

hsi_op *hsi_lrn_create(hsi_rt *rt, const hsi_layout *src, int64_t size, float alpha, float beta,
                       float k)
{
    if (rt && !(size >= 1 && alpha >= 0 && beta >= 0 && k > 0))
        return hk_fail(rt, "lrn: size %lld must be >= 1, alpha %g and beta %g >= 0, k %g > 0",
                       (long long)size, alpha, beta, k);
    hk_xop_desc d = {.kind = HK_XOP_LRN, .size = size, .alpha = alpha, .beta = beta, .k = k};
    return xop_create(rt, "lrn", src, 3, &d);
}

void hsi_lrn_forward(hsi_op *op, const float *src, float *dst)
{
    HK_RUN(op, 0, NULL, xop_forward, op, src, NULL, dst);
}

void hsi_lrn_backward(hsi_op *op, const float *src, const float *ddst, float *dsrc)
{
    HK_RUN(op, 1, NULL, xop_backward, op, src, NULL, NULL, ddst, dsrc, NULL);
}

hsi_op *hsi_crop_create(hsi_rt *rt, const hsi_layout *src, const hsi_crop_desc *d)
{
    if (!rt) return NULL;
    if (!need_layout(rt, "crop", src)) return NULL;
    if (d->nsp < 1 || d->nsp > 3 || src->ndim != d->nsp + 2)
        return hk_fail(rt, "crop: a window of %d spatial dims needs a %d-dim input, got %s", d->nsp,
                       d->nsp + 2, DIMS(src));
    for (int i = 0; i < d->nsp; i++)
        if (d->offset[i] < 0 || d->size[i] < 1 || d->offset[i] + d->size[i] > src->dims[2 + i])
            return hk_fail(rt, "crop: the window %lld..%lld of spatial dim %d is not inside input %s",
                           (long long)d->offset[i], (long long)(d->offset[i] + d->size[i]), i, DIMS(src));
    hk_xop_desc x = {.kind = HK_XOP_CROP, .crop = *d};
    return xop_create(rt, "crop", src, 3, &x);
}

void hsi_crop_forward(hsi_op *op, const float *src, float *dst)
{
    HK_RUN(op, 0, NULL, xop_forward, op, src, NULL, dst);
}

void hsi_crop_backward(hsi_op *op, const float *ddst, float *dsrc)
{
    HK_RUN(op, 1, NULL, xop_backward, op, NULL, NULL, NULL, ddst, dsrc, NULL);
}

hsi_op *hsi_prelu_create(hsi_rt *rt, const hsi_layout *src, int64_t slopes)
{
    if (rt && src && slopes != 1 && slopes != src->dims[1])
        return hk_fail(rt, "prelu: %lld slopes for input %s: one, or one per channel",
                       (long long)slopes, DIMS(src));
    hk_xop_desc d = {.kind = HK_XOP_PRELU, .slopes = slopes};
    return xop_create(rt, "prelu", src, 2, &d);
}

void hsi_prelu_forward(hsi_op *op, const float *src, const float *w, float *dst)
{
    HK_RUN(op, 0, w, xop_forward, op, src, w, dst);
}

void hsi_prelu_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                        float *dsrc, float *dw)
{
    HK_RUN(op, 1, w, xop_backward, op, src, NULL, w, ddst, dsrc, dw);
}

hsi_op *hsi_softmax_create(hsi_rt *rt, const hsi_layout *src)
{
    hk_xop_desc d = {.kind = HK_XOP_SOFTMAX};
    return xop_create(rt, "softmax", src, 2, &d);
}

void hsi_softmax_forward(hsi_op *op, const float *src, float *dst)
{
    HK_RUN(op, 0, NULL, xop_forward, op, src, NULL, dst);
}

void hsi_softmax_backward(hsi_op *op, const float *dst, const float *ddst, float *dsrc)
{
    HK_RUN(op, 1, NULL, xop_backward, op, NULL, dst, NULL, ddst, dsrc, NULL);
}

/* ---- profiling (HSI_PROFILE) -------------------------------------------------------------- */

int hsi_rt_profiling(const hsi_rt *rt) { return rt && rt->prof; }

int hsi_rt_profile(const hsi_rt *rt, hsi_op_profile *out, int max)
{
    static const char *const kinds[] = {
        [HK_CONV] = "conv", [HK_BN] = "bn", [HK_ACT] = "act", [HK_DROPOUT] = "dropout",
        [HK_POOL] = "pool", [HK_DENSE] = "dense", [HK_ADD] = "add", [HK_ACCUM] = "accum",
        [HK_CONCAT] = "concat", [HK_RESHAPE] = "reshape", [HK_XENT] = "xent", [HK_LOSS] = "loss",
        [HK_XOP] = "xop", [HK_PERMUTE] = "permute", [HK_RNN] = "rnn"};
    _Static_assert(sizeof kinds / sizeof *kinds == HK_RNN + 1, "a name per hk_kind");
    int n = 0;
    for (const hsi_op *op = rt ? rt->ops : NULL; op; op = op->next) n++;
    int i = n;   /* the list is newest first: fill from the back for creation order */
    for (const hsi_op *op = rt ? rt->ops : NULL; op; op = op->next) {
        if (--i >= max) continue;
        hsi_op_profile *p = &out[i];
        p->kind = kinds[op->kind];
        p->key = op->prof_key;
        p->ndim = op->dst ? op->dst->ndim : 0;
        p->dims = op->dst ? op->dst->dims : NULL;
        p->impl = NULL;
#ifdef HSICC_WITH_DNNL
        if (rt->backend == HSI_BACKEND_DNNL && op->kind == HK_CONV) p->impl = hk_dnnl_conv_impl(op);
        if (rt->backend == HSI_BACKEND_DNNL && op->kind == HK_BN) p->impl = hk_dnnl_bn_impl(op);
#endif
        p->flops[0] = 2 * op->macs;
        p->flops[1] = 2 * op->macs_bwd;
        for (int k = 0; k < 2; k++) {
            p->seconds[k] = op->prof_s[k];
            p->calls[k] = op->prof_n[k];
        }
    }
    return n;
}

void hsi_rt_profile_reset(hsi_rt *rt)
{
    for (hsi_op *op = rt ? rt->ops : NULL; op; op = op->next) {
        op->prof_s[0] = op->prof_s[1] = 0;
        op->prof_n[0] = op->prof_n[1] = 0;
    }
}
