/* bench_ops.c — milliseconds per op (forward, backward) of the oneDNN backend on the layer
 * shapes of SSRN (batch 16, [16, 1, 200, 7, 7]) and the contextual CNN (batch 128,
 * [128, 200, 5, 5]), each op fed the layout its producer really outputs.
 * Not a test (timings only, not in CTest). Usage: bench_ops [ssrn|ssrn3d|ctx] [reps]
 * (ssrn folds C2's output into a 2-D conv the way the compiler does; ssrn3d keeps the 3-D C3.)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsi_kernels.h"

typedef enum { B_CONV, B_BN, B_ADD, B_POOL, B_DROP, B_DENSE, B_RESHAPE, B_CONCAT } bkind;

typedef struct layer {
    const char *name;
    bkind kind;
    hsi_op *op;
    int src, src2, src3;          /* producer layer indices (-1: the net input) */
    const hsi_layout *l;          /* dst layout */
    float *dst, *ddst, *dsrc, *dsrc2, *dsrc3;
    void *ws;
    int64_t np;                   /* parameter count (w; bias/gamma/beta have the out channels) */
    float *w, *b, *dw, *db, *rm, *rv;
    double fwd_ms, bwd_ms;
} layer;

#define MAXL 64
static layer L[MAXL];
static int nl;
static hsi_rt *rt;
static const hsi_layout *in_l;
static float *in_x;

static void *buf(size_t bytes)
{
    size_t size = (bytes + 63) / 64 * 64 + 64;
    float *p = aligned_alloc(64, size);
    if (!p) exit(2);
    for (size_t i = 0; i < size / sizeof *p; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.f - 0.5f;
    return p;
}

static int next_src = -2;     /* source of the next layer; -2: the previous layer */
static const hsi_layout *lay(int i) { return i < 0 ? in_l : L[i].l; }
static void from(int i) { next_src = i; }
static int src_idx(void) { return next_src != -2 ? next_src : nl - 1; }
static float *out(int i) { return i < 0 ? in_x : L[i].dst; }

static void need(void *op, const char *name)
{
    if (op) return;
    fprintf(stderr, "%s: %s\n", name, hsi_rt_error(rt));
    exit(1);
}

static layer *add_layer(const char *name, bkind kind, hsi_op *op, int64_t np, int64_t nb)
{
    need(op, name);
    layer *y = &L[nl];
    y->name = name;
    y->kind = kind;
    y->op = op;
    y->src = src_idx();
    y->src2 = y->src3 = -1;
    next_src = -2;
    y->l = hsi_op_dst(op);
    size_t bytes = hsi_layout_bytes(y->l);
    y->dst = buf(bytes);
    y->ddst = buf(bytes);
    y->dsrc = buf(hsi_layout_bytes(lay(y->src)));
    y->ws = buf(hsi_op_ws_bytes(op));
    y->np = np;
    if (np) {
        y->w = buf((size_t)np * 4);
        y->dw = buf((size_t)np * 4);
    }
    if (nb) {
        y->b = buf((size_t)nb * 4);
        y->db = buf((size_t)nb * 4);
        y->rm = buf((size_t)nb * 4);
        y->rv = buf((size_t)nb * 4);
        for (int64_t i = 0; i < nb; i++) y->rv[i] = 1;
    }
    nl++;
    return y;
}

static void conv(const char *name, int nsp, int64_t oc, const int64_t *k, const int64_t *s,
                 const int64_t *pad, int first)
{
    hsi_conv_desc d = {.nsp = nsp, .out_ch = oc, .groups = 1, .bias = 1};
    const hsi_layout *src = lay(src_idx());
    int64_t np = oc * hsi_layout_dims(src)[1];
    for (int i = 0; i < nsp; i++) {
        d.kernel[i] = k[i];
        d.stride[i] = s ? s[i] : 1;
        d.pad_lo[i] = d.pad_hi[i] = pad ? pad[i] : 0;
        d.dilation[i] = 1;
        np *= k[i];
    }
    add_layer(name, B_CONV, hsi_conv_create(rt, src, &d, !first, 1), np, oc);
}

static void bn(const char *name, int relu)
{
    const hsi_layout *src = lay(src_idx());
    add_layer(name, B_BN, hsi_bn_create(rt, src, 1e-3f, relu), 0, hsi_layout_dims(src)[1]);
}

static void add(const char *name, int skip, int with_relu)
{
    layer *y = add_layer(name, B_ADD, hsi_add_create(rt, lay(src_idx()), lay(skip), with_relu), 0, 0);
    y->src2 = skip;
    y->dsrc2 = buf(hsi_layout_bytes(lay(skip)));
}

static void pool(const char *name, int nsp, int max, const int64_t *k)
{
    hsi_pool_desc d = {.nsp = nsp, .max = max, .count_include_pad = 1};
    for (int i = 0; i < nsp; i++) {
        d.kernel[i] = k[i];
        d.stride[i] = 1;
    }
    add_layer(name, B_POOL, hsi_pool_create(rt, lay(src_idx()), &d), 0, 0);
}

static void concat3(const char *name, int a, int b, int c)
{
    const hsi_layout *ls[3] = {lay(a), lay(b), lay(c)};
    from(a);
    layer *y = add_layer(name, B_CONCAT, hsi_concat_create(rt, 3, ls), 0, 0);
    y->src2 = b;
    y->src3 = c;
    y->dsrc2 = buf(hsi_layout_bytes(lay(b)));
    y->dsrc3 = buf(hsi_layout_bytes(lay(c)));
}

static void dropout(const char *name)
{
    add_layer(name, B_DROP, hsi_dropout_create(rt, lay(src_idx()), 0.5f), 0, 0);
}

static void dense(const char *name, int64_t outn)
{
    const hsi_layout *src = lay(src_idx());
    int64_t f = 1;
    for (int i = 1; i < hsi_layout_ndim(src); i++) f *= hsi_layout_dims(src)[i];
    add_layer(name, B_DENSE, hsi_dense_create(rt, src, outn, 1, 1, 1), outn * f, outn);
}

static void reshape(const char *name, int ndim, const int64_t *dims)
{
    add_layer(name, B_RESHAPE, hsi_reshape_create(rt, lay(src_idx()), ndim, dims), 0, 0);
}

static void forward(layer *y)
{
    float *x = out(y->src);
    switch (y->kind) {
    case B_CONV: hsi_conv_forward(y->op, x, y->w, y->b, y->dst); break;
    case B_BN: hsi_bn_forward(y->op, 1, x, y->w ? y->w : y->b, y->b, y->rm, y->rv, 0.1f, y->dst, y->ws); break;
    case B_ADD: hsi_add_forward(y->op, x, out(y->src2), y->dst); break;
    case B_POOL: hsi_pool_forward(y->op, 1, x, y->dst, y->ws); break;
    case B_DROP: hsi_dropout_forward(y->op, 1, 7, x, y->dst, y->ws); break;
    case B_DENSE: hsi_dense_forward(y->op, x, y->w, y->b, y->dst); break;
    case B_RESHAPE: hsi_reshape_forward(y->op, x, hsi_op_is_view(y->op) ? x : y->dst); break;
    case B_CONCAT:
        hsi_concat_forward(y->op, (const float *const[]){x, out(y->src2), out(y->src3)}, y->dst);
        break;
    }
}

static void backward(layer *y)
{
    float *x = out(y->src);
    switch (y->kind) {
    case B_CONV: hsi_conv_backward(y->op, x, y->w, y->ddst, y->src < 0 ? NULL : y->dsrc, y->dw, y->db); break;
    case B_BN: hsi_bn_backward(y->op, x, y->b, y->ddst, y->ws, y->dsrc, y->db, y->dw ? y->dw : y->rm); break;
    case B_ADD: hsi_add_backward(y->op, y->dst, y->ddst, y->ddst, y->dsrc2); break; /* da aliases ddst */
    case B_POOL: hsi_pool_backward(y->op, y->ddst, y->ws, y->dsrc); break;
    case B_DROP: hsi_dropout_backward(y->op, y->ddst, y->ws, y->dsrc); break;
    case B_DENSE: hsi_dense_backward(y->op, x, y->w, y->ddst, y->dsrc, y->dw, y->db); break;
    case B_RESHAPE: if (!hsi_op_is_view(y->op)) hsi_reshape_backward(y->op, y->ddst, y->dsrc); break;
    case B_CONCAT: hsi_concat_backward(y->op, y->ddst, (float *const[]){y->dsrc, y->dsrc2, y->dsrc3}); break;
    }
}

/* Wall time, or with HSI_BENCH_CPU=1 the process's CPU time (with OMP_NUM_THREADS=1 this is
 * the op's own time even on a busy machine). */
static double now_ms(void)
{
    static int cpu = -1;
    struct timespec t;
    if (cpu < 0) cpu = getenv("HSI_BENCH_CPU") && atoi(getenv("HSI_BENCH_CPU"));
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Best of reps (the machine may be shared: the minimum is the least disturbed run). */
static void time_all(int reps)
{
    for (int i = 0; i < nl; i++) {
        layer *y = &L[i];
        forward(y);
        backward(y);
        y->fwd_ms = y->bwd_ms = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now_ms();
            forward(y);
            double t1 = now_ms();
            backward(y);
            double t2 = now_ms();
            if (t1 - t0 < y->fwd_ms) y->fwd_ms = t1 - t0;
            if (t2 - t1 < y->bwd_ms) y->bwd_ms = t2 - t1;
        }
    }
}

static void report(const char *net, int batch)
{
    double f = 0, b = 0;
    printf("%-12s %-22s %9s %9s  %s\n", net, "op", "fwd ms", "bwd ms", "dst");
    for (int i = 0; i < nl; i++) {
        const hsi_layout *l = L[i].l;
        char dims[64];
        int at = 0;
        for (int j = 0; j < hsi_layout_ndim(l); j++)
            at += snprintf(dims + at, sizeof dims - (size_t)at, "%s%lld", j ? "x" : "",
                           (long long)hsi_layout_dims(l)[j]);
        printf("%-12s %-22s %9.3f %9.3f  %s %s\n", "", L[i].name, L[i].fwd_ms, L[i].bwd_ms, dims,
               hsi_layout_is_plain(l) ? "plain" : "blocked");
        f += L[i].fwd_ms;
        b += L[i].bwd_ms;
    }
    printf("%-12s %-22s %9.3f %9.3f  total %.2f ms/step = %.0f samples/s (ops only)\n", "",
           "sum", f, b, f + b, batch * 1000.0 / (f + b));
}

/* Two pre-activation residual blocks of 24-channel convs (the first without its BN-ReLU). */
static void residual_blocks(const char *conv_name, int nsp, const int64_t *k, const int64_t *pad)
{
    for (int r = 0; r < 2; r++) {
        int skip = nl - 1;
        if (r) bn("bn+relu", 1);
        conv(conv_name, nsp, 24, k, NULL, pad, 0);
        bn("bn+relu", 1);
        conv(conv_name, nsp, 24, k, NULL, pad, 0);
        add("add", skip, 0);
    }
}

/* SSRN (Zhong et al. 2018, IN): pre-activation residual blocks, 2 spectral + 2 spatial. */
static void build_ssrn(int fold3d)
{
    int64_t xd[5] = {16, 1, 200, 7, 7};
    const int64_t k7[3] = {7, 1, 1}, s2[3] = {2, 1, 1}, p3[3] = {3, 0, 0};
    in_l = hsi_layout_plain(rt, 5, xd);
    in_x = buf(hsi_layout_bytes(in_l));
    conv("C1 conv[7,1,1]/2", 3, 24, k7, s2, NULL, 1);
    bn("C1 bn+relu", 1);
    residual_blocks("R conv[7,1,1]", 3, k7, p3);
    bn("bn+relu", 1);
    const int64_t k97[3] = {97, 1, 1};
    conv("C2 conv[97,1,1]", 3, 128, k97, NULL, NULL, 0);
    bn("C2 bn+relu", 1);
    if (fold3d) {
        int64_t fd[5] = {16, 1, 128, 7, 7};
        const int64_t k3[3] = {128, 3, 3};
        reshape("fold", 5, fd);
        conv("C3 conv[128,3,3]", 3, 24, k3, NULL, NULL, 0);
        int64_t sd[4] = {16, 24, 5, 5};
        bn("C3 bn+relu", 1);
        reshape("squeeze", 4, sd);
    } else {
        int64_t sd[4] = {16, 128, 7, 7};
        const int64_t k3[2] = {3, 3};
        reshape("fold (as 2-D)", 4, sd);
        conv("C3 conv3x3 (2-D)", 2, 24, k3, NULL, NULL, 0);
        bn("C3 bn+relu", 1);
    }
    const int64_t k3[2] = {3, 3}, p1[2] = {1, 1}, k5[2] = {5, 5};
    residual_blocks("S conv3x3", 2, k3, p1);
    bn("bn+relu", 1);
    pool("avgpool 5x5", 2, 0, k5);
    dropout("dropout");
    dense("dense 16", 16);
}

/* Lee & Kwon contextual CNN (paper-000 backbone with BN): batch 128, 5x5x200 patches. */
static void build_ctx(void)
{
    int64_t xd[4] = {128, 200, 5, 5};
    const int64_t k1[2] = {1, 1}, k3[2] = {3, 3}, k5[2] = {5, 5};
    in_l = hsi_layout_plain(rt, 4, xd);
    in_x = buf(hsi_layout_bytes(in_l));
    conv("bank 1x1", 2, 128, k1, NULL, NULL, 1);
    pool("maxpool 5x5", 2, 1, k5);
    int b1 = nl - 1;
    from(-1);
    conv("bank 3x3", 2, 128, k3, NULL, NULL, 1);
    pool("maxpool 3x3", 2, 1, k3);
    int b3 = nl - 1;
    from(-1);
    conv("bank 5x5", 2, 128, k5, NULL, NULL, 1);
    concat3("concat", b1, b3, nl - 1);
    bn("bn+relu (384)", 1);
    conv("C2 1x1", 2, 128, k1, NULL, NULL, 0);
    bn("C2 bn+relu", 1);
    for (int r = 0; r < 2; r++) {
        int skip = nl - 1;
        conv("res 1x1 a", 2, 128, k1, NULL, NULL, 0);
        bn("res bn+relu", 1);
        conv("res 1x1 b", 2, 128, k1, NULL, NULL, 0);
        bn("res bn", 0);
        add("res add+relu", skip, 1);
    }
    conv("C7 1x1", 2, 128, k1, NULL, NULL, 0);
    bn("C7 bn+relu", 1);
    dropout("C7 dropout");
    conv("C8 1x1", 2, 128, k1, NULL, NULL, 0);
    bn("C8 bn+relu", 1);
    dropout("C8 dropout");
    conv("C9 1x1", 2, 16, k1, NULL, NULL, 0);
}

int main(int argc, char **argv)
{
    const char *net = argc > 1 ? argv[1] : "ssrn";
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    rt = hsi_rt_create(HSI_BACKEND_DNNL);
    if (!rt) return 2;
    if (!strcmp(net, "ctx")) build_ctx();
    else build_ssrn(!strcmp(net, "ssrn3d"));
    time_all(reps);
    report(net, !strcmp(net, "ctx") ? 128 : 16);
    hsi_rt_destroy(rt);
    return 0;
}
