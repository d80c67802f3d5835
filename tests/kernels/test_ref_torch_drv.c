/* test_ref_torch_drv.c — runs one reference kernel (float API, HSI_BACKEND_REF) on tensors that
 * hsi_ref_vs_torch.py wrote, and writes the results back for it to compare with PyTorch.
 *
 * Usage: test_ref_torch_drv conv|bn|pool|dense|act|lrn|crop|prelu|softmax|permute|rnn DIR. DIR/cfg.txt holds the shape and options
 * (see each run_* below); inputs and outputs are raw little-endian float32 files NAME.f32.
 * It decides nothing: the cases and the comparison live in the Python script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_kernels.h"

static const char *dir;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "test_ref_torch_drv: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

/* n floats from DIR/name.f32 (the file must hold exactly n). */
static float *load(const char *name, int64_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s", path);
    float *v = calloc((size_t)n + 1, sizeof *v);
    size_t got = fread(v, sizeof *v, (size_t)n + 1, f);
    fclose(f);
    if (got != (size_t)n) die("%s does not hold the expected number of floats", path);
    return v;
}

static void save(const char *name, const float *v, int64_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof *v, (size_t)n, f) != (size_t)n || fclose(f))
        die("cannot write %s", path);
}

static FILE *cfg;
static int64_t geti(void)
{
    long long v;
    if (fscanf(cfg, "%lld", &v) != 1) die("%s/cfg.txt: expected an integer", dir);
    return v;
}
static float getf(void)
{
    float v;
    if (fscanf(cfg, "%f", &v) != 1) die("%s/cfg.txt: expected a number", dir);
    return v;
}

static hsi_rt *rt;
static int ndim;
static int64_t dims[5];

/* Reads "ndim d0 d1 ..." and returns the plain layout. */
static const hsi_layout *read_src(void)
{
    ndim = (int)geti();
    if (ndim < 2 || ndim > 5) die("%s/cfg.txt: bad rank", dir);
    for (int i = 0; i < ndim; i++) dims[i] = geti();
    const hsi_layout *l = hsi_layout_plain(rt, ndim, dims);
    if (!l) die("%s", hsi_rt_error(rt));
    return l;
}

static int64_t count(const hsi_layout *l) { return (int64_t)(hsi_layout_bytes(l) / sizeof(float)); }

static hsi_op *must(hsi_op *op)
{
    if (!op) die("%s", hsi_rt_error(rt));
    return op;
}

/* Shared by conv and dense: forward, then backward of dy into dx, dw, db. */
static void run_linear(hsi_op *op, int64_t nx, int64_t nw, int64_t nb, int is_dense)
{
    int64_t ny = count(hsi_op_dst(op));
    float *x = load("x", nx), *w = load("w", nw), *b = load("b", nb), *dy = load("dy", ny);
    float *y = calloc((size_t)ny, 4), *dx = calloc((size_t)nx, 4);
    float *dw = calloc((size_t)nw, 4), *db = calloc((size_t)nb, 4);
    (is_dense ? hsi_dense_forward : hsi_conv_forward)(op, x, w, b, y);
    (is_dense ? hsi_dense_backward : hsi_conv_backward)(op, x, w, dy, dx, dw, db);
    save("y", y, ny), save("dx", dx, nx), save("dw", dw, nw), save("db", db, nb);
}

/* cfg: ndim dims out_ch groups, then per spatial dim: kernel stride pad_lo pad_hi dilation;
 * then bias. */
static void run_conv(void)
{
    const hsi_layout *l = read_src();
    hsi_conv_desc d = {.nsp = ndim - 2};
    d.out_ch = geti();
    d.groups = geti();
    for (int i = 0; i < d.nsp; i++) {
        d.kernel[i] = geti(), d.stride[i] = geti(), d.pad_lo[i] = geti(), d.pad_hi[i] = geti();
        d.dilation[i] = geti();
    }
    d.bias = (int)geti();
    hsi_op *op = must(hsi_conv_create(rt, l, &d, 1, 1));
    int64_t kk = 1;
    for (int i = 0; i < d.nsp; i++) kk *= d.kernel[i];
    run_linear(op, count(l), d.out_ch * dims[1] / d.groups * kk, d.out_ch, 0);
}

/* cfg: ndim dims out bias. */
static void run_dense(void)
{
    const hsi_layout *l = read_src();
    int64_t out = geti();
    int bias = (int)geti();
    hsi_op *op = must(hsi_dense_create(rt, l, out, bias, 1, 1));
    run_linear(op, count(l), out * (count(l) / dims[0]), out, 1);
}

/* cfg: ndim dims eps momentum relu. Train forward (y, updated rm rv), backward (dx, dg, db),
 * then inference with the updated running statistics (yinf). */
static void run_bn(void)
{
    const hsi_layout *l = read_src();
    float eps = getf(), mom = getf();
    int relu = (int)geti();
    hsi_op *op = must(hsi_bn_create(rt, l, eps, relu));
    int64_t n = count(l), c = dims[1];
    float *x = load("x", n), *g = load("gamma", c), *be = load("beta", c), *rm = load("rm", c);
    float *rv = load("rv", c), *dy = load("dy", n), *y = calloc((size_t)n, 4);
    float *dx = calloc((size_t)n, 4), *dg = calloc((size_t)c, 4), *db = calloc((size_t)c, 4);
    void *ws = calloc(hsi_op_ws_bytes(op), 1);
    hsi_bn_forward(op, 1, x, g, be, rm, rv, mom, y, ws);
    hsi_bn_backward(op, x, g, dy, ws, dx, dg, db);
    save("y", y, n), save("rm", rm, c), save("rv", rv, c), save("dx", dx, n);
    save("dg", dg, c), save("db", db, c);
    hsi_bn_forward(op, 0, x, g, be, rm, rv, mom, y, NULL);
    save("yinf", y, n);
}

/* cfg: ndim dims max, then per spatial dim: kernel stride pad_lo pad_hi; then
 * count_include_pad, then per spatial dim the ceil_mode extra (hsi_pool_create_ceil). */
static void run_pool(void)
{
    const hsi_layout *l = read_src();
    hsi_pool_desc d = {.nsp = ndim - 2};
    d.max = (int)geti();
    for (int i = 0; i < d.nsp; i++)
        d.kernel[i] = geti(), d.stride[i] = geti(), d.pad_lo[i] = geti(), d.pad_hi[i] = geti();
    d.count_include_pad = (int)geti();
    int64_t extra[3] = {0, 0, 0};
    for (int i = 0; i < d.nsp; i++) extra[i] = geti();
    hsi_op *op = must(hsi_pool_create_ceil(rt, l, &d, extra));
    int64_t nx = count(l), ny = count(hsi_op_dst(op));
    float *x = load("x", nx), *dy = load("dy", ny), *y = calloc((size_t)ny, 4);
    float *dx = calloc((size_t)nx, 4);
    void *ws = calloc(hsi_op_ws_bytes(op) + 1, 1);
    hsi_pool_forward(op, 1, x, y, ws);
    hsi_pool_backward(op, dy, ws, dx);
    save("y", y, ny), save("dx", dx, nx);
}

/* cfg: ndim dims, then the per-sample permutation (ndim - 1 axes). Forward y, backward dx. */
static void run_permute(void)
{
    const hsi_layout *l = read_src();
    int perm[4];
    for (int i = 0; i < ndim - 1; i++) perm[i] = (int)geti();
    hsi_op *op = must(hsi_permute_create(rt, l, ndim - 1, perm));
    int64_t n = count(l);
    float *x = load("x", n), *dy = load("dy", n), *y = calloc((size_t)n, 4), *dx = calloc((size_t)n, 4);
    hsi_permute_forward(op, x, y);
    hsi_permute_backward(op, dy, dx);
    save("y", y, n), save("dx", dx, n);
}

/* cfg: 3 N F L lstm hidden reverse sequence bias. Forward y, backward dx and the parameters'
 * gradients (dwih, dwhh, dbih, dbhh). */
static void run_rnn(void)
{
    const hsi_layout *l = read_src();
    hsi_rnn_desc d;
    d.lstm = (int)geti(), d.hidden = geti(), d.reverse = (int)geti(), d.sequence = (int)geti();
    d.bias = (int)geti();
    hsi_op *op = must(hsi_rnn_create(rt, l, &d, 1, 1));
    int64_t g = (d.lstm ? 4 : 3) * d.hidden, nx = count(l), ny = count(hsi_op_dst(op));
    int64_t nih = g * dims[1], nhh = g * d.hidden;
    float *x = load("x", nx), *wih = load("wih", nih), *whh = load("whh", nhh);
    float *bih = load("bih", g), *bhh = load("bhh", g), *dy = load("dy", ny);
    float *y = calloc((size_t)ny, 4), *dx = calloc((size_t)nx, 4), *dwih = calloc((size_t)nih, 4);
    float *dwhh = calloc((size_t)nhh, 4), *dbih = calloc((size_t)g, 4), *dbhh = calloc((size_t)g, 4);
    hsi_rnn_forward(op, x, wih, whh, bih, bhh, y);
    hsi_rnn_backward(op, x, wih, whh, bih, bhh, dy, dx, dwih, dwhh, dbih, dbhh);
    save("y", y, ny), save("dx", dx, nx), save("dwih", dwih, nih), save("dwhh", dwhh, nhh);
    save("dbih", dbih, g), save("dbhh", dbhh, g);
}

/* cfg: ndim dims kind alpha (hsi_act_kind). Forward (y), backward of dy from y (dx). */
static void run_act(void)
{
    const hsi_layout *l = read_src();
    int kind = (int)geti();
    float alpha = getf();
    hsi_op *op = must(hsi_act_create(rt, l, (hsi_act_kind)kind, alpha));
    int64_t n = count(l);
    float *x = load("x", n), *dy = load("dy", n), *y = calloc((size_t)n, 4), *dx = calloc((size_t)n, 4);
    hsi_act_forward(op, x, y);
    hsi_act_backward(op, y, dy, dx);
    save("y", y, n), save("dx", dx, n);
}

/* lrn, crop, prelu, softmax. cfg: ndim dims, then lrn: size alpha beta k; crop: per spatial
 * dim offset size; prelu: slopes; softmax: nothing. Forward (y), backward of dy (dx, and dw of
 * prelu). */
static void run_xop(const char *kind)
{
    const hsi_layout *l = read_src();
    hsi_op *op;
    int64_t slopes = 0;
    if (!strcmp(kind, "lrn")) {
        int64_t size = geti();
        float alpha = getf(), beta = getf(), k = getf();
        op = hsi_lrn_create(rt, l, size, alpha, beta, k);
    } else if (!strcmp(kind, "crop")) {
        hsi_crop_desc d = {.nsp = ndim - 2};
        for (int i = 0; i < d.nsp; i++) d.offset[i] = geti(), d.size[i] = geti();
        op = hsi_crop_create(rt, l, &d);
    } else if (!strcmp(kind, "prelu")) {
        slopes = geti();
        op = hsi_prelu_create(rt, l, slopes);
    } else {
        op = hsi_softmax_create(rt, l);
    }
    must(op);
    int64_t nx = count(l), ny = count(hsi_op_dst(op));
    float *x = load("x", nx), *dy = load("dy", ny), *y = calloc((size_t)ny, 4);
    float *dx = calloc((size_t)nx, 4), *w = slopes ? load("w", slopes) : NULL;
    float *dw = calloc((size_t)slopes + 1, 4);
    if (!strcmp(kind, "lrn")) {
        hsi_lrn_forward(op, x, y);
        hsi_lrn_backward(op, x, dy, dx);
    } else if (!strcmp(kind, "crop")) {
        hsi_crop_forward(op, x, y);
        hsi_crop_backward(op, dy, dx);
    } else if (slopes) {
        hsi_prelu_forward(op, x, w, y);
        hsi_prelu_backward(op, x, w, dy, dx, dw);
        save("dw", dw, slopes);
    } else {
        hsi_softmax_forward(op, x, y);
        hsi_softmax_backward(op, y, dy, dx);
    }
    save("y", y, ny), save("dx", dx, nx);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_ref_torch_drv conv|bn|pool|dense|act|lrn|crop|prelu|softmax|permute|rnn DIR\n");
        return 2;
    }
    dir = argv[2];
    char path[1024];
    snprintf(path, sizeof path, "%s/cfg.txt", dir);
    if (!(cfg = fopen(path, "r"))) die("cannot open %s", path);
    rt = hsi_rt_create(HSI_BACKEND_REF);
    if (!strcmp(argv[1], "conv")) run_conv();
    else if (!strcmp(argv[1], "bn")) run_bn();
    else if (!strcmp(argv[1], "pool")) run_pool();
    else if (!strcmp(argv[1], "dense")) run_dense();
    else if (!strcmp(argv[1], "act")) run_act();
    else if (!strcmp(argv[1], "lrn") || !strcmp(argv[1], "crop") || !strcmp(argv[1], "prelu") ||
             !strcmp(argv[1], "softmax"))
        run_xop(argv[1]);
    else if (!strcmp(argv[1], "permute")) run_permute();
    else if (!strcmp(argv[1], "rnn")) run_rnn();
    else die("unknown op %s", argv[1]);
    fclose(cfg);
    hsi_rt_destroy(rt);
    return 0;
}
