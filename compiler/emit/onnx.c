/* onnx.c — an IR graph as an ONNX ModelProto (onnx.h), written with the wire-format writer
 * of pb.c. Field numbers are those of onnx/onnx.proto (quoted beside each use).
 *
 * Two passes over the graph: the first names every value (layer names, made unique against
 * the parameters and each other; dropout passes its input's name on; the layer feeding the
 * loss is "logits" when it is already [N, K]), the second writes the nodes in the IR's order,
 * which is topological as ONNX requires. Layers nothing reads on the way to the logits are
 * left out, and so are their parameters. It does not fold BN or fuse anything: ONNX runtimes
 * do that themselves, and the graph stays the netdef's, layer for layer.
 */
#include "emit/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HSICC_VERSION
#define HSICC_VERSION "0.1.0"
#endif

/* onnx.proto enums */
enum { T_FLOAT = 1, T_INT64 = 7 };                        /* TensorProto.DataType */
enum { A_FLOAT = 1, A_INT = 2, A_STRING = 3, A_INTS = 7 }; /* AttributeProto.AttributeType */

typedef struct ctx {
    const ir_program *p;
    const ir_graph *g;
    pb_buf *b;                /* the GraphProto being written */
    unsigned char *live;      /* per node: reaches the logits */
    const char **val;         /* per node: the name of its output value */
    char **names;             /* every value name given out (owned): a hash set, open */
    size_t n_names, cap_names;/*   addressing, cap a power of two, at most half full */
    onnx_stats *st;
    const char *out;          /* the output: "logits", or "probabilities" when the net ends in
                                 softmax (right before its loss) */
    const float *const *w;    /* per parameter: its values (the RNNs' are written reordered) */
} ctx;

static void *xalloc(size_t n)
{
    void *v = calloc(1, n ? n : 1);
    if (!v) { perror("hsicc"); exit(1); }
    return v;
}

static size_t name_hash(const char *s)
{
    uint64_t h = 14695981039346656037u;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)h;
}

/* The slot of s in the set: where it is, or the empty slot where it would go. */
static size_t name_slot(char *const *set, size_t cap, const char *s)
{
    size_t i = name_hash(s) & (cap - 1);
    while (set[i] && strcmp(set[i], s)) i = (i + 1) & (cap - 1);
    return i;
}

static int taken(const ctx *c, const char *s)
{
    return c->cap_names && c->names[name_slot(c->names, c->cap_names, s)];
}

static const char *keep_name(ctx *c, const char *s)
{
    if (2 * (c->n_names + 1) > c->cap_names) {
        size_t cap = c->cap_names ? 2 * c->cap_names : 256;
        char **set = xalloc(sizeof *set * cap);
        for (size_t i = 0; i < c->cap_names; i++)
            if (c->names[i]) set[name_slot(set, cap, c->names[i])] = c->names[i];
        free(c->names);
        c->names = set;
        c->cap_names = cap;
    }
    char *copy = xalloc(strlen(s) + 1);
    strcpy(copy, s);
    c->n_names++;
    return c->names[name_slot(c->names, c->cap_names, s)] = copy;
}

/* A value name not given out yet: base, else base_2, base_3, ... */
static const char *new_name(ctx *c, const char *base)
{
    if (!taken(c, base)) return keep_name(c, base);
    size_t n = strlen(base) + 24;
    char *s = xalloc(n);
    for (int k = 2;; k++) {
        snprintf(s, n, "%s_%d", base, k);
        if (!taken(c, s)) break;
    }
    const char *r = keep_name(c, s);
    free(s);
    return r;
}

/* ---- messages ---------------------------------------------------------------------------- */

/* TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian). */
static void tensor_f32(ctx *c, const char *name, int ndim, const int64_t *dims, const float *v,
                       int64_t numel)
{
    size_t m = pb_begin(c->b, 5);   /* GraphProto.initializer */
    for (int i = 0; i < ndim; i++) pb_int(c->b, 1, dims[i]);
    pb_int(c->b, 2, T_FLOAT);
    pb_str(c->b, 8, name);
    pb_le32(c->b, 9, v, (size_t)numel);
    pb_end(c->b, m);
    c->st->initializers++;
    c->st->values += numel;
}

/* n: at most 2 (IR_MAX_DIMS + 1), a Pad's begins and ends over [N, per-sample dims] */
#define I64_MAX_N (2 * (IR_MAX_DIMS + 1))
static void tensor_i64(ctx *c, const char *name, int n, const int64_t *v)
{
    uint8_t raw[8 * I64_MAX_N];
    if (n < 0 || n > I64_MAX_N) {   /* a caller's bug, not an input error */
        fprintf(stderr, "hsicc: internal error: an int64 initializer of %d values\n", n);
        abort();
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 8; k++) raw[8 * i + k] = (uint8_t)((uint64_t)v[i] >> (8 * k));
    size_t m = pb_begin(c->b, 5);
    pb_int(c->b, 1, n);
    pb_int(c->b, 2, T_INT64);
    pb_str(c->b, 8, name);
    pb_bytes(c->b, 9, raw, 8 * (size_t)n);
    pb_end(c->b, m);
    c->st->initializers++;
}

/* ValueInfoProto (name = 1, type = 2) of a float tensor [batch, dims...]:
 * TypeProto.tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 | dim_param = 2 } } } */
static void value_info(pb_buf *b, int field, const char *name, int64_t batch, const ir_shape *s)
{
    size_t vi = pb_begin(b, field);
    pb_str(b, 1, name);
    size_t ty = pb_begin(b, 2), tt = pb_begin(b, 1);
    pb_int(b, 1, T_FLOAT);
    size_t sh = pb_begin(b, 2);
    for (int i = -1; i < s->ndim; i++) {
        size_t d = pb_begin(b, 1);
        if (i >= 0) pb_int(b, 1, s->d[i]);
        else if (batch > 0) pb_int(b, 1, batch);
        else pb_str(b, 2, "N");
        pb_end(b, d);
    }
    pb_end(b, sh);
    pb_end(b, tt);
    pb_end(b, ty);
    pb_end(b, vi);
}

/* NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5. The node is named
 * after its output. Attributes follow; node_end closes it. */
static size_t node_begin(ctx *c, const char *op, const char *out, int n_in, const char *const *in)
{
    size_t m = pb_begin(c->b, 1);   /* GraphProto.node */
    for (int i = 0; i < n_in; i++) pb_str(c->b, 1, in[i]);
    pb_str(c->b, 2, out);
    pb_str(c->b, 3, out);
    pb_str(c->b, 4, op);
    c->st->nodes++;
    return m;
}

static void node_end(ctx *c, size_t m) { pb_end(c->b, m); }

/* AttributeProto: name = 1, type = 20, then its value: f = 2, i = 3 or ints = 8. */
static size_t attr_begin(ctx *c, const char *name, int type)
{
    size_t m = pb_begin(c->b, 5);   /* NodeProto.attribute */
    pb_str(c->b, 1, name);
    pb_int(c->b, 20, type);
    return m;
}

static void attr_int(ctx *c, const char *name, int64_t v)
{
    size_t m = attr_begin(c, name, A_INT);
    pb_int(c->b, 3, v);
    pb_end(c->b, m);
}

static void attr_str(ctx *c, const char *name, const char *v)
{
    size_t m = attr_begin(c, name, A_STRING);
    pb_str(c->b, 4, v);   /* s = 4 */
    pb_end(c->b, m);
}

static void attr_float(ctx *c, const char *name, float v)
{
    size_t m = attr_begin(c, name, A_FLOAT);
    pb_float(c->b, 2, v);
    pb_end(c->b, m);
}

/* ints: a[0..n) then, if b, b[0..n) (ONNX pads are all begins, then all ends). */
static void attr_ints(ctx *c, const char *name, int n, const int64_t *a, const int64_t *b)
{
    size_t m = attr_begin(c, name, A_INTS);
    for (int i = 0; i < n; i++) pb_int(c->b, 8, a[i]);
    for (int i = 0; b && i < n; i++) pb_int(c->b, 8, b[i]);
    pb_end(c->b, m);
}

/* kernel_shape, strides, pads of Conv / MaxPool / AveragePool */
static void window_attrs(ctx *c, int nsp, const int64_t *k, const int64_t *s, const int64_t *lo,
                         const int64_t *hi)
{
    attr_ints(c, "kernel_shape", nsp, k, NULL);
    attr_ints(c, "strides", nsp, s, NULL);
    attr_ints(c, "pads", nsp, lo, hi);
}

/* A node of one input and no attributes. */
static void unary(ctx *c, const char *op, const char *x, const char *y)
{
    node_end(c, node_begin(c, op, y, 1, &x));
}

/* ---- layers -------------------------------------------------------------------------------- */

static const char *pname(const ctx *c, const ir_node *n, int k) { return c->p->params[n->param[k]].name; }

static void emit_conv(ctx *c, const ir_node *n, const char *x, const char *y)
{
    const ir_conv *a = &n->a.conv;
    const char *in[3] = {x, pname(c, n, 0), a->bias ? pname(c, n, 1) : NULL};
    size_t m = node_begin(c, "Conv", y, a->bias ? 3 : 2, in);
    window_attrs(c, a->nsp, a->kernel, a->stride, a->pad_lo, a->pad_hi);
    attr_ints(c, "dilations", a->nsp, a->dilation, NULL);
    attr_int(c, "group", a->groups);
    node_end(c, m);
}

static const char *ints_init(ctx *c, const char *y, const char *what, int n, const int64_t *v);
static const char *part(ctx *c, const char *y, const char *what);

static void emit_pool(ctx *c, const ir_node *n, const char *x, const char *y)
{
    const ir_pool *a = &n->a.pool;
    int padded = 0;
    for (int i = 0; i < a->nsp; i++) padded |= a->pad_lo[i] || a->pad_hi[i];
    if (a->global && !padded) {   /* the window is the whole map: stride and padding play no part */
        unary(c, a->max ? "GlobalMaxPool" : "GlobalAveragePool", x, y);
        return;
    }
    /* ceil_mode (PyTorch's): the last window may run past the right padding by ceil_extra
     * cells that count for nothing. ONNX gets them as more right padding (ceil_mode 0: the
     * same output size): a max never takes a padded cell; an average excludes them with
     * count_include_pad = 0, so one that counts its real padding gets that padding as zeros
     * from a Pad node first, and then only the extra cells as ONNX padding. */
    int64_t hi[3], lo[3], extra = 0;
    for (int i = 0; i < a->nsp; i++) {
        lo[i] = a->pad_lo[i];
        hi[i] = a->pad_hi[i] + a->ceil_extra[i];
        extra |= a->ceil_extra[i];
    }
    int cip = a->count_include_pad;
    if (!a->max && extra && cip) {
        if (padded) {   /* Pad: [begins of every axis, ends of every axis], the batch and C 0 */
            int64_t pads[2 * (IR_MAX_DIMS + 1)] = {0};
            const int rank = a->nsp + 2;
            for (int i = 0; i < a->nsp; i++) {
                pads[2 + i] = a->pad_lo[i];
                pads[rank + 2 + i] = a->pad_hi[i];
            }
            const char *in[2] = {x, ints_init(c, y, "pads", 2 * rank, pads)};
            const char *xp = part(c, y, "padded");
            node_end(c, node_begin(c, "Pad", xp, 2, in));   /* mode constant, value 0 */
            x = xp;
            for (int i = 0; i < a->nsp; i++) lo[i] = 0, hi[i] = a->ceil_extra[i];
        }
        cip = 0;   /* only the real cells (and the zeros of the Pad) count */
    }
    size_t m = node_begin(c, a->max ? "MaxPool" : "AveragePool", y, 1, &x);
    window_attrs(c, a->nsp, a->kernel, a->stride, lo, hi);
    if (!a->max) attr_int(c, "count_include_pad", cip);
    node_end(c, m);
}

/* dense = Flatten(axis 1, PyTorch's flatten(1) order) when the input has spatial dims, then
 * Gemm(x, W [out, in], b, transB = 1). */
static void emit_dense(ctx *c, const ir_node *n, const char *x, const char *y)
{
    if (c->g->nodes[n->in[0]].shape.ndim > 1) {
        char base[300];
        snprintf(base, sizeof base, "%s.flatten", y);
        const char *f = new_name(c, base);
        size_t m = node_begin(c, "Flatten", f, 1, &x);
        attr_int(c, "axis", 1);
        node_end(c, m);
        x = f;
    }
    const char *in[3] = {x, pname(c, n, 0), n->a.dense.bias ? pname(c, n, 1) : NULL};
    size_t m = node_begin(c, "Gemm", y, n->a.dense.bias ? 3 : 2, in);
    attr_int(c, "transB", 1);
    node_end(c, m);
}

/* Reshape to [N, shape...]: the target is an int64 initializer whose leading 0 copies the
 * batch dimension. */
static void emit_reshape(ctx *c, const ir_node *n, const char *x, const char *y)
{
    char base[300];
    snprintf(base, sizeof base, "%s.shape", y);
    const char *s = new_name(c, base);
    int64_t dims[IR_MAX_DIMS + 1] = {0};
    for (int i = 0; i < n->shape.ndim; i++) dims[i + 1] = n->shape.d[i];
    tensor_i64(c, s, n->shape.ndim + 1, dims);
    const char *in[2] = {x, s};
    node_end(c, node_begin(c, "Reshape", y, 2, in));
}

/* ---- lrn, crop, prelu, softmax ---------------------------------------------------------- */

/* An int64 initializer named after y ("<y>.<what>"); its name. */
static const char *ints_init(ctx *c, const char *y, const char *what, int n, const int64_t *v)
{
    char base[300];
    snprintf(base, sizeof base, "%s.%s", y, what);
    const char *s = new_name(c, base);
    tensor_i64(c, s, n, v);
    return s;
}

/* Slice(x, starts, ends, axes) into a new value named y */
static void emit_slice(ctx *c, const char *x, const char *y, int n, const int64_t *starts,
                       const int64_t *ends, const int64_t *axes)
{
    const char *in[4] = {x, ints_init(c, y, "starts", n, starts), ints_init(c, y, "ends", n, ends),
                         ints_init(c, y, "axes", n, axes)};
    node_end(c, node_begin(c, "Slice", y, 4, in));
}

/* A float scalar initializer named "<y>.<what>"; its name. */
static const char *scalar_init(ctx *c, const char *y, const char *what, float v)
{
    char base[300];
    snprintf(base, sizeof base, "%s.%s", y, what);
    const char *s = new_name(c, base);
    tensor_f32(c, s, 0, NULL, &v, 1);
    return s;
}

/* "<y>.<what>": a fresh value name for an intermediate of y's layer */
static const char *part(ctx *c, const char *y, const char *what)
{
    char base[300];
    snprintf(base, sizeof base, "%s.%s", y, what);
    return new_name(c, base);
}

static const char *binary(ctx *c, const char *op, const char *a, const char *b, const char *y)
{
    const char *in[2] = {a, b};
    node_end(c, node_begin(c, op, y, 2, in));
    return y;
}

/* ONNX's LRN is PyTorch's for an odd size. An even size reaches one channel further before
 * than after in PyTorch (the other way round in ONNX, and ONNX Runtime refuses even sizes), so
 * it is written out as PyTorch computes it: the squares as [N, 1, C, rest], an average pool of
 * size x 1 with zero padding size/2 before and (size-1)/2 after on the channels (divisor size),
 * back to x's shape, then x / (k + alpha * avg)^beta. */
static void emit_lrn(ctx *c, const ir_node *n, const char *x, const char *y)
{
    const ir_lrn *r = &n->a.lrn;
    int64_t back[IR_MAX_DIMS + 1] = {0};   /* Reshape to x's shape: [0 (the batch), dims...] */
    for (int i = 0; i < n->shape.ndim; i++) back[i + 1] = n->shape.d[i];
    if (r->size % 2) {
        /* ONNX Runtime's LRN kernel takes [N, C, H, W] only: another rank ([C, D, H, W], a
         * [C, L] sequence) runs as [N, C, 1, rest], the same windows over the channels */
        const char *in = x, *out = y;
        if (n->shape.ndim != 3) {
            const int64_t s4[4] = {0, n->shape.d[0], 1, -1};
            in = binary(c, "Reshape", x, ints_init(c, y, "shape4", 4, s4), part(c, y, "x4"));
            out = part(c, y, "lrn4");
        }
        size_t m = node_begin(c, "LRN", out, 1, &in);
        attr_float(c, "alpha", r->alpha);
        attr_float(c, "beta", r->beta);
        attr_float(c, "bias", r->k);
        attr_int(c, "size", r->size);
        node_end(c, m);
        if (out != y)
            binary(c, "Reshape", out, ints_init(c, y, "shape", n->shape.ndim + 1, back), y);
        return;
    }
    const int64_t sq_shape[4] = {0, 1, n->shape.d[0], -1};
    const char *sq = binary(c, "Mul", x, x, part(c, y, "square"));
    const char *sq4 = binary(c, "Reshape", sq, ints_init(c, y, "square_shape", 4, sq_shape), part(c, y, "square4"));
    const char *avg4 = part(c, y, "window_mean");
    size_t m = node_begin(c, "AveragePool", avg4, 1, &sq4);
    const int64_t k[2] = {r->size, 1}, st[2] = {1, 1}, lo[2] = {r->size / 2, 0}, hi[2] = {(r->size - 1) / 2, 0};
    window_attrs(c, 2, k, st, lo, hi);
    attr_int(c, "count_include_pad", 1);
    node_end(c, m);
    const char *avg = binary(c, "Reshape", avg4, ints_init(c, y, "shape", n->shape.ndim + 1, back),
                             part(c, y, "window_mean_x"));
    const char *sc = binary(c, "Mul", avg, scalar_init(c, y, "alpha", r->alpha), part(c, y, "scaled"));
    const char *den = binary(c, "Add", sc, scalar_init(c, y, "k", r->k), part(c, y, "base"));
    const char *pw = binary(c, "Pow", den, scalar_init(c, y, "beta", r->beta), part(c, y, "divisor"));
    binary(c, "Div", x, pw, y);
}

static void emit_crop(ctx *c, const ir_node *n, const char *x, const char *y)
{
    const ir_crop *r = &n->a.crop;
    int64_t ends[3], axes[3];
    for (int i = 0; i < r->nsp; i++) ends[i] = r->offset[i] + r->size[i], axes[i] = 2 + i;
    emit_slice(c, x, y, r->nsp, r->offset, ends, axes);
}

/* PRelu's slope broadcasts from the right: [C] is reshaped to [C, 1, ...] for a map */
static void emit_prelu(ctx *c, const ir_node *n, const char *x, const char *y)
{
    const ir_param *w = &c->p->params[n->param[0]];
    const char *slope = w->name;
    if (n->shape.ndim > 1 && w->numel > 1) {
        int64_t dims[IR_MAX_DIMS] = {w->numel, 1, 1, 1};
        const char *shape = ints_init(c, y, "slope_shape", n->shape.ndim, dims);
        char base[300];
        snprintf(base, sizeof base, "%s.slope", y);
        slope = new_name(c, base);
        const char *in[2] = {w->name, shape};
        node_end(c, node_begin(c, "Reshape", slope, 2, in));
    }
    const char *in[2] = {x, slope};
    node_end(c, node_begin(c, "PRelu", y, 2, in));
}

/* ---- gru, lstm --------------------------------------------------------------------------
 * One IR_RNN node is one layer and direction of PyTorch's nn.GRU / nn.LSTM over x [N, F, L]
 * (sema_layers.c's elab_rnn: stacked and bidirectional layers are several nodes and concats).
 * ONNX's GRU / LSTM (opset 7) read [L, N, F] and order the gates otherwise: GRU z, r, h
 * (PyTorch r, z, n), LSTM i, o, f, c (PyTorch i, f, g, o); PyTorch's GRU applies the reset gate
 * after W_hn h + b_hn, ONNX's linear_before_reset = 1. So: Transpose to [L, N, F], the layer
 * with W [1, G*H, F], R [1, G*H, H] and B [1, 2 G*H] (bias_ih then bias_hh, zeros without
 * bias) in ONNX's gate order, then every hidden state Y [L, 1, N, H] squeezed and transposed
 * back to [N, H, L], or the last state Y_h [1, N, H] (for the reverse direction the state after
 * step 0, as PyTorch's h_n and the trainer's) squeezed to [N, H]. */
/* v [G*H, cols] (PyTorch's gate order) with its G blocks of H rows in ONNX's order into t */
static void rnn_reorder(const float *v, int64_t G, int64_t H, int64_t cols, const int *order,
                        float *t)
{
    for (int64_t gb = 0; gb < G; gb++)
        memcpy(t + gb * H * cols, v + (int64_t)order[gb] * H * cols,
               sizeof(float) * (size_t)(H * cols));
}

static void emit_rnn(ctx *c, const ir_node *n, const char *x, const char *y)
{
    const ir_rnn *r = &n->a.rnn;
    static const int gru_order[3] = {1, 0, 2}, lstm_order[4] = {0, 3, 1, 2};
    const int *order = r->lstm ? lstm_order : gru_order;
    const int64_t H = r->hidden, G = r->lstm ? 4 : 3, GH = G * H;
    const int64_t F = c->g->nodes[n->in[0]].shape.d[0];   /* x: [F, L] a sample */
    const int64_t wide = F > H ? F : H > 2 ? H : 2;
    float *t = xalloc(sizeof(float) * (size_t)(GH * wide));
    const char *W = part(c, y, "W"), *R = part(c, y, "R"), *B = part(c, y, "B");
    rnn_reorder(c->w[n->param[0]], G, H, F, order, t);
    tensor_f32(c, W, 3, (const int64_t[3]){1, GH, F}, t, GH * F);
    rnn_reorder(c->w[n->param[1]], G, H, H, order, t);
    tensor_f32(c, R, 3, (const int64_t[3]){1, GH, H}, t, GH * H);
    memset(t, 0, sizeof(float) * (size_t)(2 * GH));
    if (r->bias) {
        rnn_reorder(c->w[n->param[2]], G, H, 1, order, t);
        rnn_reorder(c->w[n->param[3]], G, H, 1, order, t + GH);
    }
    tensor_f32(c, B, 2, (const int64_t[2]){1, 2 * GH}, t, 2 * GH);
    free(t);
    const int64_t to_steps[3] = {2, 0, 1};
    const char *xt = part(c, y, "steps");
    size_t m = node_begin(c, "Transpose", xt, 1, &x);
    attr_ints(c, "perm", 3, to_steps, NULL);
    node_end(c, m);
    /* outputs Y, Y_h: the one not used left unnamed ("") */
    const char *ys = r->sequence ? part(c, y, "states") : "";
    const char *yh = r->sequence ? "" : part(c, y, "last");
    m = pb_begin(c->b, 1);   /* GraphProto.node, as node_begin's with two outputs */
    const char *ins[4] = {xt, W, R, B};
    for (int i = 0; i < 4; i++) pb_str(c->b, 1, ins[i]);
    pb_str(c->b, 2, ys);
    pb_str(c->b, 2, yh);
    pb_str(c->b, 3, r->sequence ? ys : yh);
    pb_str(c->b, 4, r->lstm ? "LSTM" : "GRU");
    c->st->nodes++;
    attr_int(c, "hidden_size", H);
    attr_str(c, "direction", r->reverse ? "reverse" : "forward");
    if (!r->lstm) attr_int(c, "linear_before_reset", 1);
    node_end(c, m);
    const int64_t axis = r->sequence ? 1 : 0;   /* Y's num_directions, Y_h's */
    const char *sq[2] = {r->sequence ? ys : yh, ints_init(c, y, "axes", 1, &axis)};
    const char *sy = r->sequence ? part(c, y, "states_lnh") : y;
    node_end(c, node_begin(c, "Squeeze", sy, 2, sq));
    if (r->sequence) {   /* [L, N, H] -> [N, H, L] */
        const int64_t back[3] = {1, 2, 0};
        m = node_begin(c, "Transpose", y, 1, &sy);
        attr_ints(c, "perm", 3, back, NULL);
        node_end(c, m);
    }
}

static void emit_node(ctx *c, int i)
{
    const ir_node *n = &c->g->nodes[i];
    const char *x = n->n_in ? c->val[n->in[0]] : NULL, *y = c->val[i];
    switch (n->op) {
    case IR_INPUT:     /* the graph input */
    case IR_DROPOUT:   /* identity for inference: its value is its input's (named so in pass 1) */
    case IR_LOSS:      /* not exported */
        return;
    case IR_CONV: emit_conv(c, n, x, y); return;
    case IR_POOL: emit_pool(c, n, x, y); return;
    case IR_DENSE: emit_dense(c, n, x, y); return;
    case IR_RESHAPE: emit_reshape(c, n, x, y); return;
    case IR_BN: {
        const char *in[5] = {x, pname(c, n, 0), pname(c, n, 1), pname(c, n, 2), pname(c, n, 3)};
        size_t m = node_begin(c, "BatchNormalization", y, 5, in);
        attr_float(c, "epsilon", n->a.bn.eps);
        node_end(c, m);
        return;
    }
    case IR_ACT: {
        static const char *const op[] = {"Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh"};
        size_t m = node_begin(c, op[n->a.act.kind], y, 1, &x);
        if (n->a.act.kind == IR_LEAKY_RELU || n->a.act.kind == IR_ELU)
            attr_float(c, "alpha", n->a.act.alpha);
        node_end(c, m);
        return;
    }
    case IR_PERMUTE: {   /* Transpose over [N, dims...]: the batch stays axis 0 */
        int64_t perm[IR_MAX_DIMS + 1] = {0};
        for (int j = 0; j < n->shape.ndim; j++) perm[j + 1] = n->a.permute.perm[j] + 1;
        size_t m = node_begin(c, "Transpose", y, 1, &x);
        attr_ints(c, "perm", n->shape.ndim + 1, perm, NULL);
        node_end(c, m);
        return;
    }
    case IR_RNN: emit_rnn(c, n, x, y); return;
    case IR_LRN: emit_lrn(c, n, x, y); return;
    case IR_CROP: emit_crop(c, n, x, y); return;
    case IR_PRELU: emit_prelu(c, n, x, y); return;
    case IR_SOFTMAX: {
        size_t m = node_begin(c, "Softmax", y, 1, &x);
        attr_int(c, "axis", 1);
        node_end(c, m);
        return;
    }
    case IR_CONCAT:
    case IR_ADD: {
        const char **in = xalloc(sizeof *in * (size_t)n->n_in);
        for (int j = 0; j < n->n_in; j++) in[j] = c->val[n->in[j]];
        size_t m = node_begin(c, n->op == IR_CONCAT ? "Concat" : n->n_in > 2 ? "Sum" : "Add", y,
                              n->n_in, in);
        if (n->op == IR_CONCAT) attr_int(c, "axis", 1);
        node_end(c, m);
        free(in);
        return;
    }
    }
}

/* ---- the model ------------------------------------------------------------------------------ */

static void mark_live(const ir_graph *g, unsigned char *live)
{
    memset(live, 0, (size_t)g->n_nodes);
    live[g->logits] = 1;
    live[g->input] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--)
        if (live[i])
            for (int j = 0; j < g->nodes[i].n_in; j++) live[g->nodes[i].in[j]] = 1;
}

void onnx_used_params(const ir_program *p, int gi, unsigned char *used)
{
    const ir_graph *g = &p->graphs[gi];
    unsigned char *live = xalloc((size_t)g->n_nodes);
    mark_live(g, live);
    memset(used, 0, (size_t)p->n_params);
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; live[i] && k < g->nodes[i].n_param; k++) used[g->nodes[i].param[k]] = 1;
    free(live);
}

/* Pass 1: the name of every live node's output. */
static int name_values(ctx *c)
{
    const ir_graph *g = c->g;
    int src = g->logits;   /* the layer whose value the logits are (dropout passes values on) */
    while (g->nodes[src].op == IR_DROPOUT) src = g->nodes[src].in[0];
    int direct = g->nodes[src].op != IR_INPUT && g->nodes[src].shape.ndim == 1;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (!c->live[i] || n->op == IR_LOSS) continue;
        if (n->op == IR_INPUT) c->val[i] = "input";
        else if (n->op == IR_DROPOUT) c->val[i] = c->val[n->in[0]];
        else if (i == src && direct) c->val[i] = c->out;
        else c->val[i] = new_name(c, n->name && n->name[0] ? n->name : "t");
    }
    return direct;
}

/* metadata_props = 14: StringStringEntryProto { key = 1, value = 2 } */
static void meta(pb_buf *b, const char *key, const char *value)
{
    size_t m = pb_begin(b, 14);
    pb_str(b, 1, key);
    pb_str(b, 2, value);
    pb_end(b, m);
}

int onnx_encode(const ir_program *p, int gi, const float *const *weights, const onnx_options *o,
                pb_buf *b, onnx_stats *st)
{
    const ir_graph *g = &p->graphs[gi];
    memset(st, 0, sizeof *st);
    ctx c = {p, g, b, xalloc((size_t)g->n_nodes), xalloc(sizeof(char *) * (size_t)g->n_nodes),
             NULL, 0, 0, st, g->nodes[g->logits].op == IR_SOFTMAX ? "probabilities" : "logits",
             weights};
    mark_live(g, c.live);
    unsigned char *used = xalloc((size_t)p->n_params);
    onnx_used_params(p, gi, used);
    keep_name(&c, "input");
    keep_name(&c, c.out);
    for (int i = 0; i < p->n_params; i++)
        if (used[i]) keep_name(&c, p->params[i].name);
    int direct = name_values(&c);

    /* ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6,
     * graph = 7, opset_import = 8 { domain = 1 (default ""), version = 2 }, metadata_props = 14 */
    pb_int(b, 1, ONNX_IR_VERSION);
    pb_str(b, 2, "hsicc");
    pb_str(b, 3, HSICC_VERSION);
    char doc[1200];
    snprintf(doc, sizeof doc, "net %.200s%s%.200s from %.500s: inference graph (BN with running "
             "statistics, dropout removed)", p->net, *g->domain ? ", domain " : "", g->domain,
             p->file ? p->file : "?");
    pb_str(b, 6, doc);
    size_t os = pb_begin(b, 8);
    pb_int(b, 2, ONNX_OPSET);
    pb_end(b, os);
    meta(b, "hsicc.net", p->net);
    if (*g->domain) meta(b, "hsicc.domain", g->domain);
    if (p->file) meta(b, "hsicc.netdef", p->file);
    if (o->weights) meta(b, "hsicc.weights", o->weights);
    size_t vl = 0;
    for (int i = 0; i < g->n_values; i++) vl += strlen(g->value_names[i]) + strlen(g->value_text[i]) + 2;
    char *values = xalloc(vl + 1);
    for (size_t i = 0, k = 0; i < (size_t)g->n_values; i++)   /* k: its end (no strlen per value) */
        k += (size_t)sprintf(values + k, "%s%s=%s", i ? " " : "", g->value_names[i], g->value_text[i]);
    meta(b, "hsicc.values", values);   /* the net's parameters after -D: "bands=200 classes=16 ..." */
    free(values);

    /* GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12 */
    size_t gm = pb_begin(b, 7);
    char gname[300];
    snprintf(gname, sizeof gname, "%.140s%s%.140s", p->net, *g->domain ? "." : "", g->domain);
    pb_str(b, 2, gname);
    /* an RNN's parameters go in as its node writes them (emit_rnn: ONNX's gate order) */
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; c.live[i] && g->nodes[i].op == IR_RNN && k < g->nodes[i].n_param; k++)
            used[g->nodes[i].param[k]] = 0;
    for (int i = 0; i < p->n_params; i++)
        if (used[i])
            tensor_f32(&c, p->params[i].name, p->params[i].ndim, p->params[i].dims, weights[i],
                       p->params[i].numel);
    value_info(b, 11, "input", o->batch, &g->nodes[g->input].shape);
    ir_shape k = {1, {1}};   /* logits [N, classes] */
    for (int i = 0; i < g->nodes[g->logits].shape.ndim; i++) k.d[0] *= g->nodes[g->logits].shape.d[i];
    value_info(b, 12, c.out, o->batch, &k);
    for (int i = 0; i < g->n_nodes; i++)
        if (c.live[i]) emit_node(&c, i);
    if (!direct) {   /* [N, K, 1, ...] (a 1x1 conv head), or the input itself: flattened */
        const char *x = c.val[g->logits];
        size_t m = node_begin(&c, "Flatten", c.out, 1, &x);
        attr_int(&c, "axis", 1);
        node_end(&c, m);
    }
    pb_end(b, gm);

    for (size_t i = 0; i < c.cap_names; i++) free(c.names[i]);
    free(c.names);
    free(c.val);
    free(c.live);
    free(used);
    return b->oom ? -1 : 0;
}
