/* emit.c — writes the lowered program as one readable C file and its header.
 *
 * The file reads top to bottom like a hand-written trainer: the parameter table, then per
 * domain the ops and buffers, create_<d> (every primitive and the arena plan decided once),
 * forward_train_<d> and forward_infer_<d> (one call per op, shapes in comments) and
 * loss_backward_<d> (the same ops in reverse), then the tables that hand them to the runtime's
 * model (runtime/model/model.c, hsi_model.h: parameter and gradient blocks, the arena, the
 * hsi_netdesc entry points) and the hsi_netdesc the trainer links against. Output is a pure
 * function of the program, so the committed files under generated/ can be diffed. It does not format numbers by locale and
 * does not print paths other than the netdef's as given.
 */
#define _POSIX_C_SOURCE 200809L   /* fileno, fsync, rmdir */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "hsi_io.h"
#include "passes/passes.h"

#ifndef HSICC_VERSION
#define HSICC_VERSION "0.1.0"
#endif

typedef struct emitter {
    FILE *f;
    const be_program *bp;
    const be_graph *g;
    int dom;
    char pre[16];   /* "" or "D1_" */
    int *links;     /* per op of g, 3 ints: the BN folded into it, the conv and the global max
                       pool that apply it (a BN), or -1 (use_graph); NULL: found by scanning */
} emitter;

static void out(emitter *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(e->f, fmt, ap);
    va_end(ap);
    fputc('\n', e->f);
}

/* Text from outside (the netdef's path, the command line) inside a comment: a '*' followed by
 * a '/' would end it (a netdef in a folder named "a*"), so a '\\' goes between the two. Into
 * one of 4 rotating buffers. */
static const char *in_comment(const char *t)
{
    static char b[4][4200];
    static int k;
    char *o = b[k++ & 3];
    size_t n = 0;
    for (; *t && n + 3 < sizeof b[0]; t++) {
        o[n++] = *t;
        if (*t == '*' && t[1] == '/') o[n++] = '\\';
    }
    o[n] = 0;
    return o;
}

/* The same text inside a C string literal: '"', '\\', '?' and control characters escaped. */
static const char *in_string(const char *t)
{
    static char b[2][4200 * 4];
    static int k;
    char *o = b[k++ & 1];
    size_t n = 0;
    for (; *t && n + 5 < sizeof b[0]; t++) {
        unsigned char c = (unsigned char)*t;
        if (c == '"' || c == '\\' || c == '?') {   /* '?': "??/" is a trigraph in -std=c11 */
            o[n++] = '\\';
            o[n++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(o + n, 5, "\\%03o", c);
        } else {
            o[n++] = (char)c;
        }
    }
    o[n] = 0;
    return o;
}

/* Bytes of one item of an emitted list ("lay[D1_OP_<cname>], " or "s->buf[D1_G_<cname>], "):
 * lists of op inputs hold at most BE_MAX_IN of them. */
#define EMIT_ITEM_MAX (sizeof ((be_op *)0)->cname + 32)
/* The name helpers below return one of EMIT_RING rotating static buffers: a statement may hold
 * a few names and the list of an op's inputs (up to BE_MAX_IN), all still in use together. */
#define EMIT_RING (2 * BE_MAX_IN)
/* Bytes of a parameter argument: "V(P_<name>)", "D(P_<name>)" or "NULL". */
#define EMIT_PARAM_MAX (IR_MAX_NAME + 16)

static const char *pre_of(const be_program *bp, int d)
{
    static char b[8][16];
    if (bp->n_graphs == 1) return "";
    snprintf(b[d % 8], sizeof b[d % 8], "D%d_", d);
    return b[d % 8];
}

/* A float literal that is valid C: "1.0f", "0.00999999978f", "1e-05f". */
static const char *flt(double v)
{
    static char b[16][40];
    static int r;
    r = (r + 1) % 16;
    snprintf(b[r], sizeof b[r], "%.9g", v);
    if (!strpbrk(b[r], ".eEn")) strcat(b[r], ".0");
    strcat(b[r], "f");
    return b[r];
}

/* FNV-1a of a layer name: keys the layer's dropout masks, so they do not depend on the op's
 * position (fusions, rewrites, other layers added). */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- names ---------------------------------------------------------------------------- */

/* "forward_train_0": a function of the domain being emitted. */
static const char *dfn(emitter *e, const char *what)
{
    static char b[4][64];
    static int r;
    r = (r + 1) % 4;
    snprintf(b[r], sizeof b[r], "%s_%d", what, e->dom);
    return b[r];
}

static void param_enum(const ir_param *q, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "P_");
    for (const char *c = q->name; *c && k + 1 < n; c++)
        buf[k++] = isalnum((unsigned char)*c) ? *c : '_';
    buf[k] = 0;
}

static const char *pname(emitter *e, int p)
{
    static char b[EMIT_RING][IR_MAX_NAME + 3];
    static int r;
    r = (r + 1) % EMIT_RING;
    param_enum(&e->bp->ir->params[p], b[r], sizeof b[r]);
    return b[r];
}

static const char *opname(emitter *e, int op)
{
    static char b[EMIT_RING][128];
    static int r;
    r = (r + 1) % EMIT_RING;
    snprintf(b[r], sizeof b[r], "%sOP_%s", e->pre, e->g->ops[op].cname);
    return b[r];
}

static const char *bufname(emitter *e, int id)
{
    static char b[EMIT_RING][128];
    static int r;
    r = (r + 1) % EMIT_RING;
    const be_buf *u = &e->g->bufs[id];
    const char *k = u->kind == BE_BUF_ACT ? "A" : u->kind == BE_BUF_GRAD ? "G"
                  : u->kind == BE_BUF_WS ? "W" : u->kind == BE_BUF_RECOMP ? "R" : "T";
    if (u->kind == BE_BUF_TMP)
        snprintf(b[r], sizeof b[r], "%s%s_%s_%d", e->pre, k, e->g->ops[u->op].cname, u->slot);
    else
        snprintf(b[r], sizeof b[r], "%s%s_%s", e->pre, k, e->g->ops[u->op].cname);
    return b[r];
}

/* "s->buf[A_c1]" or "NULL" */
static const char *B(emitter *e, int id)
{
    static char b[EMIT_RING][160];
    static int r;
    if (id < 0) return "NULL";
    r = (r + 1) % EMIT_RING;
    snprintf(b[r], sizeof b[r], "s->buf[%s]", bufname(e, id));
    return b[r];
}

static const char *shape_str(const ir_shape *s)
{
    static char b[EMIT_RING][64];
    static int r;
    r = (r + 1) % EMIT_RING;
    int k = snprintf(b[r], sizeof b[r], "[");
    for (int i = 0; i < s->ndim; i++)
        k += snprintf(b[r] + k, sizeof b[r] - (size_t)k, "%s%lld", i ? "," : "", (long long)s->d[i]);
    snprintf(b[r] + k, sizeof b[r] - (size_t)k, "]");
    return b[r];
}

static const char *ints(const int64_t *v, int n)
{
    static char b[16][64];
    static int r;
    r = (r + 1) % 16;
    int k = snprintf(b[r], sizeof b[r], "{");
    for (int i = 0; i < 3; i++)
        k += snprintf(b[r] + k, sizeof b[r] - (size_t)k, "%s%lld", i ? ", " : "",
                      (long long)(i < n ? v[i] : 0));
    snprintf(b[r] + k, sizeof b[r] - (size_t)k, "}");
    return b[r];
}

/* a ceil_mode pool whose last window runs past its padding (else it is an ordinary pool) */
static int pool_ceil(const ir_pool *p)
{
    return p->ceil_extra[0] || p->ceil_extra[1] || p->ceil_extra[2];
}

static const char *kind_name(const be_op *o)
{
    switch (o->kind) {
    case BE_INPUT: return "input";
    case BE_CONV: return o->conv.nsp == 3 ? "conv3d" : o->conv.nsp == 2 ? "conv2d" : "conv1d";
    case BE_BN: return o->relu ? "bn+relu" : "bn";
    case BE_ACT: return "activation";
    case BE_DROPOUT: return "dropout";
    case BE_POOL: return o->ir->a.pool.max ? "maxpool" : "avgpool";
    case BE_DENSE: return "dense";
    case BE_RESHAPE: return "reshape";
    case BE_CONCAT: return "concat";
    case BE_ADD: return o->relu ? "add+relu" : "add";
    case BE_XENT: {
        static const char *const kinds[] = {"softmax cross-entropy", "pixel softmax cross-entropy",
                                            "mse", "l1"};
        return kinds[o->ir->a.loss.kind];
    }
    case BE_LRN: return "lrn";
    case BE_CROP: return "crop";
    case BE_PRELU: return "prelu";
    case BE_SOFTMAX: return "softmax";
    case BE_PERMUTE: return "permute";
    case BE_RNN: return o->ir->a.rnn.lstm ? "lstm" : "gru";
    }
    return "?";
}

/* The loss op of the original single loss: softmax cross-entropy without label smoothing
 * (hsi_xent); every other loss is an hsi_loss. */
static int plain_xent(const be_op *o)
{
    return o->ir->a.loss.kind == IR_LOSS_XENT && o->ir->a.loss.label_smoothing == 0.0f;
}

static void op_comment(emitter *e, int i)
{
    const be_op *o = &e->g->ops[i];
    char from[BE_MAX_IN * 72] = "";   /* shape_str()s joined by " + " */
    if (o->n_in > 0) {
        int k = 0;
        for (int j = 0; j < o->n_in; j++)
            k += snprintf(from + k, sizeof from - (size_t)k, "%s%s", j ? " + " : "",
                          shape_str(&e->g->ops[o->in[j]].shape));
    }
    const char *where = o->ir && o->ir->span.file ? in_comment(o->ir->span.file) : "";
    out(e, "    /* %s: %s  %s%s%s  (%s:%d) */", o->cname, kind_name(o), from, o->n_in ? " -> " : "",
        o->kind == BE_XENT ? "loss" : shape_str(&o->shape), where, o->ir ? o->ir->span.line : 0);
    if (o->note) out(e, "    /*   %s */", o->note);
}

/* ---- per-domain pieces --------------------------------------------------------------- */

static int64_t numel(const ir_shape *s) { return be_numel(s); }

static void emit_enums(emitter *e)
{
    const be_graph *g = e->g;
    out(e, "enum {   /* ops of domain %d; one output tensor each */", e->dom);
    for (int i = 0; i < g->n_ops; i++)
        out(e, "    %s,%*s/* %s %s */", opname(e, i), (int)(40 - strlen(opname(e, i))), "",
            kind_name(&g->ops[i]), g->ops[i].kind == BE_XENT ? "" : shape_str(&g->ops[i].shape));
    out(e, "    %sN_OPS", e->pre);
    out(e, "};");
    out(e, "");
    out(e, "enum {   /* buffers: A activation, G its gradient, W workspace, T gradient to accumulate,");
    out(e, "            R a BN output recomputed for the backward */");
    for (int b = 0; b < g->n_bufs; b++)
        out(e, "    %s,%*s/* live steps %d..%d */", bufname(e, b), (int)(40 - strlen(bufname(e, b))), "",
            g->bufs[b].first, g->bufs[b].last);
    out(e, "    %sN_BUFS", e->pre);
    out(e, "};");
    out(e, "");
}

/* Inference with the BN folded into the conv/dense before it: the same op runs with scaled
 * weights and a shifted bias (buffers allocated here), writing the BN's output directly. */
static void emit_create_fold(emitter *e, int j)
{
    const be_op *o = &e->g->ops[j], *c = &e->g->ops[o->fold];
    const char *op = opname(e, j);
    const ir_param *w = &e->bp->ir->params[c->param[0]];
    int64_t out_ch = c->kind == BE_CONV ? c->conv.out_ch : c->dense_out;
    out(e, "    /*   for inference %s is folded into %s: its weights scaled, its bias shifted */",
        o->cname, c->cname);
    out(e, "    s->wf[%s] = malloc(sizeof(float) * %lld);", op, (long long)w->numel);
    out(e, "    s->bf[%s] = malloc(sizeof(float) * %lld);", op, (long long)out_ch);
    out(e, "    if (!s->wf[%s] || !s->bf[%s]) return hsi_model_fail(m, \"%s (inference)\", err, errlen);", op, op,
        o->ir ? o->ir->name : o->cname);
    if (o->relu) {
        out(e, "    s->infer_relu[%s] = hsi_act_create(rt, lay[%s], HSI_ACT_RELU, 0.0f);", op, op);
        out(e, "    if (!s->infer_relu[%s]) return hsi_model_fail(m, \"%s (inference)\", err, errlen);", op,
            o->ir ? o->ir->name : o->cname);
    }
}

/* lrn, crop, prelu, softmax */
static void emit_create_xop(emitter *e, int i, const char *in0)
{
    const be_op *o = &e->g->ops[i];
    const char *op = opname(e, i);
    switch (o->kind) {
    case BE_LRN: {
        const ir_lrn *r = &o->ir->a.lrn;
        out(e, "    s->op[%s] = hsi_lrn_create(rt, %s, %lld, %s, %s, %s);", op, in0, (long long)r->size,
            flt(r->alpha), flt(r->beta), flt(r->k));
        break;
    }
    case BE_CROP: {
        const ir_crop *c = &o->ir->a.crop;
        out(e, "    {");
        out(e, "        const hsi_crop_desc d = {%d, %s, %s};", c->nsp, ints(c->offset, c->nsp),
            ints(c->size, c->nsp));
        out(e, "        s->op[%s] = hsi_crop_create(rt, %s, &d);", op, in0);
        out(e, "    }");
        break;
    }
    case BE_PRELU:
        out(e, "    s->op[%s] = hsi_prelu_create(rt, %s, %lld);", op, in0, (long long)o->ir->a.prelu.slopes);
        break;
    default:
        out(e, "    s->op[%s] = hsi_softmax_create(rt, %s);", op, in0);
        break;
    }
}

/* The band count of an input: [bands, p, p], [1, bands, p, p]; a spectral net's [F] or [C, L]
 * holds the centre pixel's spectrum, every value a band. */
static int64_t in_bands(const ir_shape *in)
{
    return in->ndim == 4 ? in->d[1] : in->ndim == 3 ? in->d[0] : numel(in);
}

static void emit_create_op(emitter *e, int i)
{
    const be_op *o = &e->g->ops[i];
    const char *L = "lay";
    char in0[160] = "";
    if (o->n_in) snprintf(in0, sizeof in0, "%s[%s]", L, opname(e, o->in[0]));
    op_comment(e, i);
    switch (o->kind) {
    case BE_INPUT: {
        char dims[96];
        int k = snprintf(dims, sizeof dims, "N");
        for (int d = 0; d < o->shape.ndim; d++)
            k += snprintf(dims + k, sizeof dims - (size_t)k, ", %lld", (long long)o->shape.d[d]);
        out(e, "    {");
        out(e, "        const int64_t dims[] = {%s};", dims);
        out(e, "        lay[%s] = hsi_layout_plain(rt, %d, dims);", opname(e, i), o->shape.ndim + 1);
        out(e, "    }");
        return;
    }
    case BE_CONV: {
        const ir_conv *c = &o->conv;
        out(e, "    {");
        out(e, "        const hsi_conv_desc d = {%d, %lld, %lld, %s, %s, %s, %s, %s, %d};", c->nsp,
            (long long)c->out_ch, (long long)c->groups, ints(c->kernel, c->nsp),
            ints(c->stride, c->nsp), ints(c->pad_lo, c->nsp), ints(c->pad_hi, c->nsp),
            ints(c->dilation, c->nsp), o->bias);
        out(e, "        s->op[%s] = hsi_conv_create(rt, %s, &d, %d, %d);", opname(e, i), in0,
            o->need_dsrc[0], o->need_dw);
        out(e, "    }");
        break;
    }
    case BE_DENSE:
        out(e, "    s->op[%s] = hsi_dense_create(rt, %s, %lld, %d, %d, %d);", opname(e, i), in0,
            (long long)o->dense_out, o->bias, o->need_dsrc[0], o->need_dw);
        break;
    case BE_BN:
        out(e, "    s->op[%s] = hsi_bn_create(rt, %s, %s, %d);", opname(e, i), in0,
            flt(o->ir->a.bn.eps), o->relu);
        out(e, "    if (!s->op[%s]) return hsi_model_fail(m, \"%s\", err, errlen);", opname(e, i),
            o->ir ? o->ir->name : o->cname);
        out(e, "    lay[%s] = hsi_op_dst(s->op[%s]);", opname(e, i), opname(e, i));
        if (o->fold >= 0) emit_create_fold(e, i);
        return;
    case BE_ACT: {
        static const char *k[] = {"HSI_ACT_RELU", "HSI_ACT_LEAKY_RELU", "HSI_ACT_ELU",
                                  "HSI_ACT_SIGMOID", "HSI_ACT_TANH"};
        out(e, "    s->op[%s] = hsi_act_create(rt, %s, %s, %s);", opname(e, i), in0,
            k[o->ir->a.act.kind], flt(o->ir->a.act.alpha));
        break;
    }
    case BE_DROPOUT:
        out(e, "    s->op[%s] = hsi_dropout_create(rt, %s, %s);", opname(e, i), in0,
            flt(o->ir->a.dropout.p));
        break;
    case BE_POOL: {
        const ir_pool *p = &o->ir->a.pool;
        out(e, "    {");
        out(e, "        const hsi_pool_desc d = {%d, %d, %s, %s, %s, %s, %d};", p->nsp, p->max,
            ints(p->kernel, p->nsp), ints(p->stride, p->nsp), ints(p->pad_lo, p->nsp),
            ints(p->pad_hi, p->nsp), p->count_include_pad);
        if (pool_ceil(p)) {
            out(e, "        const int64_t ceil_extra[3] = %s;   /* ceil_mode */", ints(p->ceil_extra, 3));
            out(e, "        s->op[%s] = hsi_pool_create_ceil(rt, %s, &d, ceil_extra);", opname(e, i), in0);
        } else {
            out(e, "        s->op[%s] = hsi_pool_create(rt, %s, &d);", opname(e, i), in0);
        }
        out(e, "    }");
        break;
    }
    case BE_RESHAPE: {
        char dims[96];
        int k = snprintf(dims, sizeof dims, "N");
        for (int d = 0; d < o->shape.ndim; d++)
            k += snprintf(dims + k, sizeof dims - (size_t)k, ", %lld", (long long)o->shape.d[d]);
        out(e, "    {");
        out(e, "        const int64_t dims[] = {%s};", dims);
        out(e, "        s->op[%s] = hsi_reshape_create(rt, %s, %d, dims);", opname(e, i), in0,
            o->shape.ndim + 1);
        out(e, "    }");
        break;
    }
    case BE_CONCAT: {
        char list[BE_MAX_IN * EMIT_ITEM_MAX];
        int k = 0;
        for (int j = 0; j < o->n_in; j++)
            k += snprintf(list + k, sizeof list - (size_t)k, "%slay[%s]", j ? ", " : "",
                          opname(e, o->in[j]));
        out(e, "    {");
        out(e, "        const hsi_layout *srcs[] = {%s};", list);
        out(e, "        s->op[%s] = hsi_concat_create(rt, %d, srcs);", opname(e, i), o->n_in);
        out(e, "    }");
        break;
    }
    case BE_ADD:
        out(e, "    s->op[%s] = hsi_add_create(rt, %s, lay[%s], %d);", opname(e, i), in0,
            opname(e, o->in[1]), o->relu);
        break;
    case BE_PERMUTE: {
        const int *pm = o->ir->a.permute.perm;
        char list[64];
        int k = 0;
        for (int j = 0; j < o->shape.ndim; j++)
            k += snprintf(list + k, sizeof list - (size_t)k, "%s%d", j ? ", " : "", pm[j]);
        out(e, "    {");
        out(e, "        const int perm[] = {%s};   /* output axis i = input axis perm[i] */", list);
        out(e, "        s->op[%s] = hsi_permute_create(rt, %s, %d, perm);", opname(e, i), in0,
            o->shape.ndim);
        out(e, "    }");
        break;
    }
    case BE_RNN: {
        const ir_rnn *r = &o->ir->a.rnn;
        out(e, "    {");
        out(e, "        const hsi_rnn_desc d = {%d, %lld, %d, %d, %d};   /* %s, hidden, reverse, "
            "sequence, bias */", r->lstm, (long long)r->hidden, r->reverse, r->sequence, r->bias,
            r->lstm ? "lstm" : "gru");
        out(e, "        s->op[%s] = hsi_rnn_create(rt, %s, &d, %d, %d);", opname(e, i), in0,
            o->need_dsrc[0], o->need_dw);
        out(e, "    }");
        break;
    }
    case BE_XENT:
        if (plain_xent(o)) {
            out(e, "    s->op[%s] = hsi_xent_create(rt, %s);", opname(e, i), in0);
        } else {
            static const char *const kinds[] = {"HSI_LOSS_XENT", "HSI_LOSS_PIXEL_XENT", "HSI_LOSS_MSE",
                                                "HSI_LOSS_L1"};
            static const char *const targets[] = {"HSI_TARGET_LABELS", "HSI_TARGET_INPUT", "HSI_TARGET_CENTRE"};
            const ir_loss *L = &o->ir->a.loss;
            const ir_shape *in = &e->g->ops[e->g->input].shape;
            int64_t bands = in_bands(in);
            int64_t h = in->ndim >= 3 ? in->d[in->ndim - 2] : 1, w = in->ndim >= 3 ? in->d[in->ndim - 1] : 1;
            out(e, "    {");
            out(e, "        const hsi_loss_desc d = {%s, %s, %s, %lld, %lld, %lld, %lld};", kinds[L->kind],
                targets[L->target], flt(L->label_smoothing), (long long)numel(in), (long long)bands,
                (long long)h, (long long)w);
            out(e, "        s->op[%s] = hsi_loss_create(rt, %s, &d);", opname(e, i), in0);
            out(e, "    }");
        }
        out(e, "    if (!s->op[%s]) return hsi_model_fail(m, \"%s\", err, errlen);", opname(e, i),
            o->ir ? o->ir->name : o->cname);
        return;
    case BE_LRN:
    case BE_CROP:
    case BE_PRELU:
    case BE_SOFTMAX:
        emit_create_xop(e, i, in0);
        break;
    }
    out(e, "    if (!s->op[%s]) return hsi_model_fail(m, \"%s\", err, errlen);", opname(e, i),
        o->ir ? o->ir->name : o->cname);
    out(e, "    lay[%s] = hsi_op_dst(s->op[%s]);", opname(e, i), opname(e, i));
}

static void emit_buffers(emitter *e)
{
    const be_graph *g = e->g;
    out(e, "    /* ---- the arena: sizes from the chosen layouts, live ranges from the compiler */");
    out(e, "    hsi_buf b[%sN_BUFS];", e->pre);
    out(e, "    int alias[%sN_BUFS];   /* -1: memory of its own; else the buffer whose memory it shares */",
        e->pre);
    out(e, "    for (int i = 0; i < %sN_BUFS; i++) alias[i] = -1;", e->pre);
    for (int id = 0; id < g->n_bufs; id++) {
        const be_buf *u = &g->bufs[id];
        const be_op *o = &g->ops[u->op];
        char size[200];
        if (u->kind == BE_BUF_WS)
            snprintf(size, sizeof size, "hsi_op_ws_bytes(s->op[%s])", opname(e, u->op));
        else if (u->kind == BE_BUF_TMP)
            snprintf(size, sizeof size, "hsi_layout_bytes(lay[%s])", opname(e, o->in[u->slot]));
        else
            snprintf(size, sizeof size, "hsi_layout_bytes(lay[%s])", opname(e, u->op));
        out(e, "    b[%s] = (hsi_buf){%s, %d, %d};", bufname(e, id), size, u->first, u->last);
        if (u->alias >= 0) out(e, "    alias[%s] = %s;", bufname(e, id), bufname(e, u->alias));
        if (u->kind == BE_BUF_RECOMP)   /* a backend that keeps the output: it lives on */
            out(e, "    if (!hsi_bn_recomputes(s->op[%s])) alias[%s] = %s;", opname(e, u->op),
                bufname(e, id), bufname(e, o->act));
    }
    /* a BN applied by the conv reading its output: the recompute buffer is never written (the
     * output itself is: the inference pass writes it) */
    for (int i = 0; i < g->n_ops; i++) {
        const be_op *o = &g->ops[i];
        if (o->kind != BE_CONV || o->bn_in < 0) continue;
        const be_op *p = &g->ops[o->bn_in];
        out(e, "    if (hsi_conv_takes_bn(s->op[%s], s->op[%s]))   /* %s applies %s */", opname(e, i),
            opname(e, o->bn_in), o->cname, p->cname);
        out(e, "        b[%s].bytes = 0;", bufname(e, p->recomp));
    }
    out(e, "    /* reshapes that oneDNN can do without moving data share their input's memory */");
    for (int i = 0; i < g->n_ops; i++) {
        const be_op *o = &g->ops[i];
        if (o->kind != BE_RESHAPE) continue;
        const be_op *src = &g->ops[o->in[0]];
        out(e, "    if (hsi_op_is_view(s->op[%s])) {", opname(e, i));
        out(e, "        alias[%s] = %s;", bufname(e, o->act), bufname(e, src->act));
        if (o->need_dsrc[0] && o->first_writer[0])
            out(e, "        alias[%s] = %s;", bufname(e, src->grad), bufname(e, o->grad));
        out(e, "    }");
    }
    for (int i = 0; i < g->n_ops; i++) {
        const be_op *o = &g->ops[i];
        for (int j = 0; o->kind == BE_ADD && j < 2; j++)
            if (o->grad_share[j]) {
                if (j == 0 || !o->grad_share[0])
                    out(e, "    /* %s: d(a + b) is the output gradient: no copies */", o->cname);
                out(e, "    if (hsi_add_grad_shares(s->op[%s], %d)) alias[%s] = %s;", opname(e, i), j,
                    bufname(e, g->ops[o->in[j]].grad), bufname(e, o->grad));
            }
    }
    for (int i = 0; i < g->n_ops; i++) {
        const be_op *o = &g->ops[i];
        if (o->kind != BE_BN || !o->grad_inplace) continue;
        out(e, "    if (hsi_bn_grad_shares(s->op[%s]))   /* %s: dx written over dy */", opname(e, i),
            o->cname);
        out(e, "        alias[%s] = %s;", bufname(e, g->ops[o->in[0]].grad), bufname(e, o->grad));
    }
    out(e, "    hsi_dstate_plan(s, %sN_BUFS, b, alias);", e->pre);
    /* accumulation ops */
    for (int i = 0; i < g->n_ops; i++) {
        const be_op *o = &g->ops[i];
        for (int j = 0; j < o->n_in; j++) {
            if (o->tmp[j] < 0) continue;
            const char *src = opname(e, o->in[j]);
            out(e, "    s->acc[%s] = hsi_accum_create(rt, lay[%s], lay[%s]);", bufname(e, o->tmp[j]),
                src, src);
            out(e, "    if (!s->acc[%s]) return hsi_model_fail(m, \"%s (gradient accumulation)\", err, errlen);",
                bufname(e, o->tmp[j]), o->cname);
        }
    }
}

/* BNs whose sums the conv before them may take (be_op.sums_conv; and in the backward, the
 * convs that apply a BN they alone read: be_op.bn_fwd) */
static void emit_sums_links(emitter *e)
{
    const be_graph *g = e->g;
    for (int i = 0; i < g->n_ops; i++) {
        const be_op *o = &g->ops[i];
        if (o->kind == BE_BN && o->sums_conv >= 0) {
            char add[96] = "NULL";
            if (o->sums_add >= 0) snprintf(add, sizeof add, "s->op[%s]", opname(e, o->sums_add));
            out(e, "    (void)hsi_bn_sums_from(s->op[%s], s->op[%s], %s);   /* %s sums %s */",
                opname(e, i), opname(e, o->sums_conv), add, g->ops[o->sums_conv].cname, o->cname);
        }
        if (o->kind == BE_CONV && o->bn_in >= 0 && o->bn_fwd)
            out(e, "    (void)hsi_bn_grad_sums_from(s->op[%s], s->op[%s]);   /* %s's backward sums %s */",
                opname(e, o->bn_in), opname(e, i), o->cname, g->ops[o->bn_in].cname);
    }
}

static void emit_create(emitter *e)
{
    const be_graph *g = e->g;
    out(e, "static int %s(hsi_model *m, hsi_dstate *s, char *err, size_t errlen)", dfn(e, "create"));
    out(e, "{");
    out(e, "    hsi_rt *rt = m->rt;");
    out(e, "    const int64_t N = m->batch;");
    out(e, "    const hsi_layout *lay[%sN_OPS] = {0};", e->pre);
    out(e, "");
    for (int i = 0; i < g->n_ops; i++) {
        emit_create_op(e, i);
        out(e, "");
    }
    emit_buffers(e);
    emit_sums_links(e);
    out(e, "    return 0;");
    out(e, "}");
    out(e, "");
}

static void param_args(emitter *e, const be_op *o, int k, char *v, char *gd, size_t n)
{
    if (k < o->n_param) {
        snprintf(v, n, "V(%s)", pname(e, o->param[k]));
        if (o->need_dw && e->bp->ir->params[o->param[k]].trainable)
            snprintf(gd, n, "D(%s)", pname(e, o->param[k]));
        else
            snprintf(gd, n, "NULL");
    } else {
        snprintf(v, n, "NULL");
        snprintf(gd, n, "NULL");
    }
}

/* The BN op folded into op i for inference, or -1. */
/* Which later op links back to op i: link 0, a BN folded into it (be_op.fold); 1, a conv that
 * applies BN op i itself in the forward (be_op.bn_in, bn_fwd); 2, the global max pool that may
 * apply BN op i itself (be_op.pool_bn). The first such op, or -1. */
static int link_scan(const be_graph *g, int i, int link)
{
    for (int j = i + 1; j < g->n_ops; j++) {
        const be_op *o = &g->ops[j];
        if (link == 0 ? o->kind == BE_BN && o->fold == i
            : link == 1 ? o->kind == BE_CONV && o->bn_in == i && o->bn_fwd
            : o->kind == BE_POOL && o->pool_bn == i)
            return j;
    }
    return -1;
}

/* Makes graph d the current one, with every op's links found once: a scan of the later ops
 * for every op was quadratic (100,000 ops: minutes). */
static void use_graph(emitter *e, int d)
{
    e->g = &e->bp->graphs[d];
    e->dom = d;
    snprintf(e->pre, sizeof e->pre, "%s", pre_of(e->bp, d));
    const be_graph *g = e->g;
    free(e->links);
    e->links = malloc(sizeof *e->links * 3 * (size_t)(g->n_ops + 1));
    if (!e->links) return;   /* scanned then */
    for (int i = 0; i < 3 * g->n_ops; i++) e->links[i] = -1;
    for (int j = g->n_ops - 1; j >= 0; j--) {   /* downwards: the first op after i wins */
        const be_op *o = &g->ops[j];
        int to[3] = {o->kind == BE_BN ? o->fold : -1, o->kind == BE_CONV && o->bn_fwd ? o->bn_in : -1,
                     o->kind == BE_POOL ? o->pool_bn : -1};
        for (int k = 0; k < 3; k++)
            if (to[k] >= 0 && to[k] < j) e->links[3 * to[k] + k] = j;
    }
}

static int link_of(const emitter *e, int i, int link)
{
    return e->links ? e->links[3 * i + link] : link_scan(e->g, i, link);
}

/* The BN op folded into conv/dense op i (be_op.fold), or -1. */
static int folded_by(const emitter *e, int i) { return link_of(e, i, 0); }
/* The conv that applies BN op i itself in the forward (be_op.bn_fwd), or -1. */
static int bn_reader_fused(const emitter *e, int i) { return link_of(e, i, 1); }
/* The global max pool that may apply BN op i itself (be_op.pool_bn), or -1. */
static int bn_pool_fused(const emitter *e, int i) { return link_of(e, i, 2); }

/* One op of forward_train_<d> (train: batch statistics, dropout masks, workspaces saved for
 * the backward pass) or of forward_infer_<d> (running statistics, BN folded where the compiler
 * folded it, dropout the identity, no workspace). */
static void emit_forward_op(emitter *e, int i, int train)
{
    const be_op *o = &e->g->ops[i];
    const char *src = o->n_in ? B(e, e->g->ops[o->in[0]].act) : "";
    const char *dst = B(e, o->act);
    const char *ws = B(e, o->ws);
    char w[EMIT_PARAM_MAX], dw[EMIT_PARAM_MAX], b[EMIT_PARAM_MAX], db[EMIT_PARAM_MAX];
    param_args(e, o, 0, w, dw, sizeof w);
    param_args(e, o, 1, b, db, sizeof b);
    const char *op = opname(e, i);
    switch (o->kind) {
    case BE_INPUT:
        out(e, "    /* %s: the batch, read in place or copied in; samples past n are zero */", o->cname);
        out(e, "    hsi_model_input_to(m, s, %s, x, n, %lld);", bufname(e, o->act), (long long)numel(&o->shape));
        return;
    case BE_CONV:
    case BE_DENSE: {
        int j = folded_by(e, i);
        op_comment(e, i);
        if (j >= 0 && !train) {
            out(e, "    /*   runs with %s folded into its weights: below */", e->g->ops[j].cname);
            return;
        }
        if (o->kind == BE_CONV && o->res_add >= 0) {   /* (inference too: no BN on read) */
            const be_op *a = &e->g->ops[o->res_add];
            const char *skip = B(e, e->g->ops[a->in[o->res_slot]].act), *bnop = "NULL";
            char csrc[3 * EMIT_ITEM_MAX], cbn[3 * EMIT_ITEM_MAX], pw[EMIT_PARAM_MAX] = "NULL";
            char x[EMIT_PARAM_MAX], bws[EMIT_ITEM_MAX] = "NULL";
            snprintf(csrc, sizeof csrc, "%s", src);
            snprintf(cbn, sizeof cbn, "NULL");
            if (train && o->bn_fwd) {   /* the BN applied as it reads, when the runtime takes it */
                const be_op *p = &e->g->ops[o->bn_in];
                param_args(e, p, 0, pw, x, sizeof pw);
                snprintf(bws, sizeof bws, "%s", B(e, p->ws));
                bnop = opname(e, o->bn_in);
                snprintf(csrc, sizeof csrc, "hsi_conv_takes_bn(s->op[%s], s->op[%s]) ? %s : %s", op,
                         bnop, B(e, e->g->ops[p->in[0]].act), src);
                snprintf(cbn, sizeof cbn, "hsi_conv_takes_bn(s->op[%s], s->op[%s]) ? s->op[%s] : NULL",
                         op, bnop, bnop);
            }
            out(e, "    if (hsi_conv_takes_residual(s->op[%s], s->op[%s]))   /* %s done as it stores */",
                op, opname(e, o->res_add), a->cname);
            out(e, "        hsi_conv_forward_res(s->op[%s], %s, %s, %s, %s, %s, %s, %s, %s);", op, csrc,
                cbn, pw, bws, w, o->bias ? b : "NULL", skip, B(e, a->act));
            out(e, "    else%s", train && o->bn_fwd ? " {" : "");
        }
        const char *ind = o->kind == BE_CONV && o->res_add >= 0 ? "    " : "";
        if (train && o->kind == BE_CONV && o->bn_fwd) {
            const be_op *p = &e->g->ops[o->bn_in];
            char pw[EMIT_PARAM_MAX], pb[EMIT_PARAM_MAX], x[EMIT_PARAM_MAX];
            param_args(e, p, 0, pw, x, sizeof pw);
            param_args(e, p, 1, pb, x, sizeof pb);
            out(e, "%s    if (hsi_conv_takes_bn(s->op[%s], s->op[%s]))   /* %s applied as it reads */",
                ind, op, opname(e, o->bn_in), p->cname);
            out(e, "%s        hsi_conv_forward_bn(s->op[%s], %s, s->op[%s], %s, %s, %s, %s, %s, %s);", ind,
                op, B(e, e->g->ops[p->in[0]].act), opname(e, o->bn_in), pw, pb, B(e, p->ws), w,
                o->bias ? b : "NULL", dst);
            out(e, "%s    else", ind);
            out(e, "%s        hsi_conv_forward(s->op[%s], %s, %s, %s, %s);", ind, op, src, w,
                o->bias ? b : "NULL", dst);
            if (*ind) out(e, "    }");
            return;
        }
        out(e, "%s    hsi_%s_forward(s->op[%s], %s, %s, %s, %s);", ind, o->kind == BE_CONV ? "conv" : "dense",
            op, src, w, o->bias ? b : "NULL", dst);
        return;
    }
    case BE_BN: {
        char rm[EMIT_PARAM_MAX], rv[EMIT_PARAM_MAX], x1[EMIT_PARAM_MAX], x2[EMIT_PARAM_MAX];
        param_args(e, o, 2, rm, x1, sizeof rm);
        param_args(e, o, 3, rv, x2, sizeof rv);
        op_comment(e, i);
        if (train) {
            int c = bn_reader_fused(e, i), pl = bn_pool_fused(e, i);
            if (c >= 0 || pl >= 0) {
                if (c >= 0)
                    out(e, "    if (hsi_conv_takes_bn(s->op[%s], s->op[%s]))   /* %s applies it */",
                        opname(e, c), op, e->g->ops[c].cname);
                else
                    out(e, "    if (hsi_pool_takes_bn(s->op[%s], s->op[%s]))   /* %s applies it */",
                        opname(e, pl), op, e->g->ops[pl].cname);
                out(e, "        hsi_bn_train_stats(s->op[%s], %s, %s, %s, %s, %s, %s, %s);", op, src, w, b,
                    rm, rv, flt(o->ir->a.bn.momentum), ws);
                out(e, "    else");
                out(e, "        hsi_bn_train(s->op[%s], %s, %s, %s, %s, %s, %s, %s, %s);", op, src, w, b, rm,
                    rv, flt(o->ir->a.bn.momentum), dst, ws);
                return;
            }
            out(e, "    hsi_bn_train(s->op[%s], %s, %s, %s, %s, %s, %s, %s, %s);", op, src, w, b, rm, rv,
                flt(o->ir->a.bn.momentum), dst, ws);
            return;
        }
        if (o->fold < 0) {
            out(e, "    hsi_bn_infer(s->op[%s], %s, %s, %s, %s, %s, %s);", op, src, w, b, rm, rv, dst);
            return;
        }
        const be_op *c = &e->g->ops[o->fold];
        const ir_param *cw = &e->bp->ir->params[c->param[0]];
        int64_t out_ch = c->kind == BE_CONV ? c->conv.out_ch : c->dense_out;
        char cwv[EMIT_PARAM_MAX], cwd[EMIT_PARAM_MAX], cbv[EMIT_PARAM_MAX], cbd[EMIT_PARAM_MAX];
        param_args(e, c, 0, cwv, cwd, sizeof cwv);
        param_args(e, c, 1, cbv, cbd, sizeof cbv);
        out(e, "    /*   %s with the BN folded into its weights */", c->cname);
        out(e, "    hsi_fold_bn(%lld, %lld, %s, %s, %s, %s, %s, %s, %s, s->wf[%s], s->bf[%s]);",
            (long long)out_ch, (long long)(cw->numel / out_ch), cwv, c->bias ? cbv : "NULL", w, b, rm, rv,
            flt(o->ir->a.bn.eps), op, op);
        out(e, "    hsi_%s_forward(s->op[%s], %s, s->wf[%s], s->bf[%s], %s);",
            c->kind == BE_CONV ? "conv" : "dense", opname(e, o->fold), B(e, e->g->ops[c->in[0]].act), op,
            op, dst);
        if (o->relu) out(e, "    hsi_act_forward(s->infer_relu[%s], %s, %s);", op, dst, dst);
        return;
    }
    case BE_ACT:
        op_comment(e, i);
        out(e, "    hsi_act_forward(s->op[%s], %s, %s);%s", op, src, dst, o->inplace ? "   /* in place */" : "");
        return;
    case BE_DROPOUT:
        op_comment(e, i);
        if (train)
            out(e, "    hsi_dropout_train(s->op[%s], hsi_model_dropout_seed(m, rng, 0x%016llxull), %s, %s, %s);",
                op, (unsigned long long)name_hash(o->ir->name), src, dst, ws);
        else
            out(e, "    hsi_dropout_infer(s->op[%s], %s, %s);   /* the identity */", op, src, dst);
        return;
    case BE_POOL:
        op_comment(e, i);
        if (train && o->pool_bn >= 0) {
            const be_op *p = &e->g->ops[o->pool_bn];
            char pw[EMIT_PARAM_MAX], pb[EMIT_PARAM_MAX], x[EMIT_PARAM_MAX];
            param_args(e, p, 0, pw, x, sizeof pw);
            param_args(e, p, 1, pb, x, sizeof pb);
            out(e, "    if (hsi_pool_takes_bn(s->op[%s], s->op[%s]))   /* %s applied as it reads */", op,
                opname(e, o->pool_bn), p->cname);
            out(e, "        hsi_pool_forward_bn(s->op[%s], %s, s->op[%s], %s, %s, %s, %s, %s);", op,
                B(e, e->g->ops[p->in[0]].act), opname(e, o->pool_bn), pw, pb, B(e, p->ws), dst, ws);
            out(e, "    else");
            out(e, "        hsi_pool_train(s->op[%s], %s, %s, %s);", op, src, dst, ws);
        } else if (train)
            out(e, "    hsi_pool_train(s->op[%s], %s, %s, %s);", op, src, dst, ws);
        else
            out(e, "    hsi_pool_infer(s->op[%s], %s, %s);", op, src, dst);
        return;
    case BE_RESHAPE:
        op_comment(e, i);
        out(e, "    hsi_reshape_forward(s->op[%s], %s, %s);", op, src, dst);
        return;
    case BE_CONCAT: {
        char list[BE_MAX_IN * EMIT_ITEM_MAX];
        int k = 0;
        for (int j = 0; j < o->n_in; j++)
            k += snprintf(list + k, sizeof list - (size_t)k, "%s%s", j ? ", " : "",
                          B(e, e->g->ops[o->in[j]].act));
        op_comment(e, i);
        out(e, "    {");
        out(e, "        const float *srcs[] = {%s};", list);
        out(e, "        hsi_concat_forward(s->op[%s], srcs, %s);", op, dst);
        out(e, "    }");
        return;
    }
    case BE_ADD: {
        int c = i - 1;   /* the conv that may do it (be_op.res_add) */
        op_comment(e, i);
        if (c >= 0 && e->g->ops[c].kind == BE_CONV && e->g->ops[c].res_add == i) {
            out(e, "    if (!hsi_conv_takes_residual(s->op[%s], s->op[%s]))   /* else done by %s */",
                opname(e, c), op, e->g->ops[c].cname);
            out(e, "        hsi_add_forward(s->op[%s], %s, %s, %s);", op, src,
                B(e, e->g->ops[o->in[1]].act), dst);
            return;
        }
        out(e, "    hsi_add_forward(s->op[%s], %s, %s, %s);", op, src, B(e, e->g->ops[o->in[1]].act), dst);
        return;
    }
    case BE_PERMUTE:
        op_comment(e, i);
        out(e, "    hsi_permute_forward(s->op[%s], %s, %s);", op, src, dst);
        return;
    case BE_RNN: {
        char bh[EMIT_PARAM_MAX], dbh[EMIT_PARAM_MAX];   /* w, b: weight_ih, _hh; then biases */
        param_args(e, o, 3, bh, dbh, sizeof bh);
        param_args(e, o, 2, dw, db, sizeof dw);
        op_comment(e, i);
        out(e, "    hsi_rnn_forward(s->op[%s], %s, %s, %s, %s, %s, %s);", op, src, w, b, dw, bh, dst);
        return;
    }
    case BE_XENT:
        if (i != e->g->loss) return;   /* a regression head's loss: all in loss_backward */
        out(e, "    /* %s: logits as plain [n, classes] for the runtime%s */", o->cname,
            o->ir->a.loss.kind == IR_LOSS_PIXEL_XENT ? " (the map's centre pixel)" : "");
        out(e, "    hsi_%s_plain_logits(s->op[%s], %s, s->logits);", plain_xent(o) ? "xent" : "loss", op, src);
        return;
    case BE_LRN:
    case BE_CROP:
    case BE_SOFTMAX:
        op_comment(e, i);
        out(e, "    hsi_%s_forward(s->op[%s], %s, %s);", kind_name(o), op, src, dst);
        return;
    case BE_PRELU:
        op_comment(e, i);
        out(e, "    hsi_prelu_forward(s->op[%s], %s, %s, %s);", op, src, w, dst);
        return;
    }
}

/* Where slot j's input gradient goes: the input's G buffer (written first, or added to by the
 * op itself), or a T buffer to accumulate. */
static const char *dsrc_of(emitter *e, const be_op *o, int j)
{
    if (!o->need_dsrc[j]) return "NULL";
    return o->first_writer[j] || o->adds[j] ? B(e, e->g->ops[o->in[j]].grad) : B(e, o->tmp[j]);
}

static void emit_accumulate(emitter *e, const be_op *o)
{
    for (int j = 0; j < o->n_in; j++)
        if (o->tmp[j] >= 0)
            out(e, "    hsi_accum(s->acc[%s], %s, %s);", bufname(e, o->tmp[j]),
                B(e, e->g->ops[o->in[j]].grad), B(e, o->tmp[j]));
}

/* One loss of several (or one other than plain cross-entropy): its value times its weight
 * added to the total, its head's gradient scaled by the weight. */
static void emit_loss_backward(emitter *e, int i)
{
    const be_op *o = &e->g->ops[i];
    const ir_loss *L = &o->ir->a.loss;
    if (e->g->ir->n_losses == 1 && plain_xent(o)) return;   /* written before the loop */
    char w[64] = "weight";
    if (L->weight != 1.0f) snprintf(w, sizeof w, "weight * %s", flt(L->weight));
    op_comment(e, i);
    const char *head = B(e, e->g->ops[o->in[0]].act);
    if (plain_xent(o))
        out(e, "    loss += %s * hsi_xent_forward_backward(s->op[%s], %s, labels, n, %s, %s);",
            flt(L->weight), opname(e, i), head, w, dsrc_of(e, o, 0));
    else
        out(e, "    loss += %s * hsi_loss_forward_backward(s->op[%s], %s, %s, labels, n, %s, %s);",
            flt(L->weight), opname(e, i), head, o->n_in > 1 ? B(e, e->g->ops[o->in[1]].act) : "NULL", w,
            dsrc_of(e, o, 0));
    emit_accumulate(e, o);
}

/* Before the first backward reader of a recomputed BN output: the output again, from the BN's
 * input and workspace (a no-op on a backend that kept it). */
static void emit_recompute(emitter *e, const be_op *o)
{
    for (int j = 0; j < o->n_in; j++) {
        const be_op *p = &e->g->ops[o->in[j]];
        int dup = 0;
        for (int k = 0; k < j; k++) dup |= o->in[k] == o->in[j];
        if (p->recomp < 0 || dup || e->g->bufs[p->recomp].first != o->bwd_step) continue;
        char w[EMIT_PARAM_MAX], dw[EMIT_PARAM_MAX], b[EMIT_PARAM_MAX], db[EMIT_PARAM_MAX];
        param_args(e, p, 0, w, dw, sizeof w);
        param_args(e, p, 1, b, db, sizeof b);
        out(e, "    /* %s: its output again, for the backward (not kept from the forward) */", p->cname);
        int cond = o->kind == BE_CONV && o->bn_in == o->in[j];   /* else the conv applies it */
        if (cond)
            out(e, "    if (!hsi_conv_takes_bn(s->op[%s], s->op[%s]))", opname(e, (int)(o - e->g->ops)),
                opname(e, o->in[j]));
        out(e, "%shsi_bn_recompute(s->op[%s], %s, %s, %s, %s, %s);", cond ? "        " : "    ",
            opname(e, o->in[j]), B(e, e->g->ops[p->in[0]].act), w, b, B(e, p->ws), B(e, p->recomp));
    }
}

/* A conv's backward: with its input's BN applied as it reads (be_op.bn_in) or not, and where
 * its input gradient is accumulated through a temporary, also the form that adds it into the
 * gradient as it stores (hsi_conv_adds_dsrc), both chosen at run time. */
static void emit_conv_backward(emitter *e, int i, const char *src_, const char *ddst_,
                               const char *w, const char *dw, const char *db)
{
    const be_op *o = &e->g->ops[i];
    char op[128], src[160], ddst[160], bsrc[160] = "", bop[128] = "", bws[160] = "";
    char pw[EMIT_PARAM_MAX], pb[EMIT_PARAM_MAX], x[EMIT_PARAM_MAX], dsrc[160], gin[160] = "";
    snprintf(op, sizeof op, "%s", opname(e, i));
    snprintf(src, sizeof src, "%s", src_);
    snprintf(ddst, sizeof ddst, "%s", ddst_);
    snprintf(dsrc, sizeof dsrc, "%s", dsrc_of(e, o, 0));
    int add = o->need_dsrc[0] && o->tmp[0] >= 0;
    if (add) snprintf(gin, sizeof gin, "%s", B(e, e->g->ops[o->in[0]].grad));
    if (o->bn_in >= 0) {
        const be_op *p = &e->g->ops[o->bn_in];
        param_args(e, p, 0, pw, x, sizeof pw);
        param_args(e, p, 1, pb, x, sizeof pb);
        snprintf(bsrc, sizeof bsrc, "%s", B(e, e->g->ops[p->in[0]].act));
        snprintf(bop, sizeof bop, "%s", opname(e, o->bn_in));
        snprintf(bws, sizeof bws, "%s", B(e, p->ws));
    }
    const char *ind = add ? "    " : "";
    if (add) {
        out(e, "    if (hsi_conv_adds_dsrc(s->op[%s])) {   /* the input gradient added as it is stored */", op);
        if (o->bn_in >= 0) {
            out(e, "        if (hsi_conv_takes_bn(s->op[%s], s->op[%s]))", op, bop);
            out(e, "            hsi_conv_backward_add(s->op[%s], %s, s->op[%s], %s, %s, %s, %s, %s, %s, %s, %s);",
                op, bsrc, bop, pw, pb, bws, w, ddst, gin, dw, db);
            out(e, "        else");
        }
        out(e, "%s        hsi_conv_backward_add(s->op[%s], %s, NULL, NULL, NULL, NULL, %s, %s, %s, %s, %s);",
            o->bn_in >= 0 ? "    " : "", op, src, w, ddst, gin, dw, db);
        out(e, "    } else {");
    }
    if (o->bn_in >= 0) {
        out(e, "%s    if (hsi_conv_takes_bn(s->op[%s], s->op[%s]))   /* %s applied as it reads */", ind,
            op, bop, e->g->ops[o->bn_in].cname);
        out(e, "%s        hsi_conv_backward_bn(s->op[%s], %s, s->op[%s], %s, %s, %s, %s, %s, %s, %s, %s);",
            ind, op, bsrc, bop, pw, pb, bws, w, ddst, dsrc, dw, db);
        out(e, "%s    else", ind);
        out(e, "%s        hsi_conv_backward(s->op[%s], %s, %s, %s, %s, %s, %s);", ind, op, src, w, ddst,
            dsrc, dw, db);
    } else {
        out(e, "%s    hsi_conv_backward(s->op[%s], %s, %s, %s, %s, %s, %s);", ind, op, src, w, ddst, dsrc,
            dw, db);
    }
    if (add) {
        out(e, "        hsi_accum(s->acc[%s], %s, %s);", bufname(e, o->tmp[0]), gin,
            B(e, o->tmp[0]));
        out(e, "    }");
    } else {
        emit_accumulate(e, o);
    }
}

static void emit_backward_op(emitter *e, int i)
{
    const be_op *o = &e->g->ops[i];
    if (o->kind == BE_XENT) {
        emit_loss_backward(e, i);
        return;
    }
    if (!o->need_grad || o->kind == BE_INPUT) return;
    emit_recompute(e, o);
    const be_op *in0 = o->n_in ? &e->g->ops[o->in[0]] : NULL;
    const char *src = !in0 ? "" : B(e, in0->recomp >= 0 ? in0->recomp : in0->act);
    const char *ddst = B(e, o->grad);
    char w[EMIT_PARAM_MAX], dw[EMIT_PARAM_MAX], b[EMIT_PARAM_MAX], db[EMIT_PARAM_MAX];
    param_args(e, o, 0, w, dw, sizeof w);
    param_args(e, o, 1, b, db, sizeof b);
    const char *op = opname(e, i);
    op_comment(e, i);
    switch (o->kind) {
    case BE_CONV:
        emit_conv_backward(e, i, src, ddst, w, dw, o->bias ? db : "NULL");
        return;
    case BE_DENSE:
        out(e, "    hsi_dense_backward(s->op[%s], %s, %s, %s, %s, %s, %s);", op, src, w, ddst,
            dsrc_of(e, o, 0), dw, o->bias ? db : "NULL");
        break;
    case BE_BN: {
        int pl = bn_pool_fused(e, i);
        if (pl >= 0) {
            const be_op *q = &e->g->ops[pl];
            out(e, "    if (hsi_pool_takes_bn(s->op[%s], s->op[%s]))   /* with %s's backward */",
                opname(e, pl), op, q->cname);
            out(e, "        hsi_pool_backward_bn(s->op[%s], %s, %s, s->op[%s], %s, %s, %s, %s, %s, %s, %s);",
                opname(e, pl), B(e, q->grad), B(e, q->ws), op, src, w, b, B(e, o->ws),
                dsrc_of(e, o, 0), dw, db);
            out(e, "    else");
        }
        out(e, "%s    hsi_bn_backward%s(s->op[%s], %s, %s, %s, %s, %s, %s, %s);", pl >= 0 ? "    " : "",
            o->adds[0] ? "_add" : "", op, src, w, ddst, B(e, o->ws), dsrc_of(e, o, 0), dw, db);
        break;
    }
    case BE_ACT:
        out(e, "    hsi_act_backward(s->op[%s], %s, %s, %s);", op, B(e, o->act), ddst, dsrc_of(e, o, 0));
        break;
    case BE_DROPOUT:
        out(e, "    hsi_dropout_backward(s->op[%s], %s, %s, %s);", op, ddst, B(e, o->ws), dsrc_of(e, o, 0));
        break;
    case BE_POOL:
        if (o->pool_bn >= 0)
            out(e, "    if (!hsi_pool_takes_bn(s->op[%s], s->op[%s]))   /* else with %s's backward */", op,
                opname(e, o->pool_bn), e->g->ops[o->pool_bn].cname);
        out(e, "%s    hsi_pool_backward(s->op[%s], %s, %s, %s);", o->pool_bn >= 0 ? "    " : "", op, ddst,
            B(e, o->ws), dsrc_of(e, o, 0));
        break;
    case BE_RESHAPE:
        if (!o->need_dsrc[0]) break;
        if (o->first_writer[0]) {
            out(e, "    hsi_reshape_backward(s->op[%s], %s, %s);   /* no-op when a view */", op, ddst,
                dsrc_of(e, o, 0));
        } else {
            out(e, "    if (hsi_op_is_view(s->op[%s])) {", op);
            out(e, "        hsi_accum(s->acc[%s], %s, %s);", bufname(e, o->tmp[0]),
                B(e, e->g->ops[o->in[0]].grad), ddst);
            out(e, "    } else {");
            out(e, "        hsi_reshape_backward(s->op[%s], %s, %s);", op, ddst, B(e, o->tmp[0]));
            out(e, "        hsi_accum(s->acc[%s], %s, %s);", bufname(e, o->tmp[0]),
                B(e, e->g->ops[o->in[0]].grad), B(e, o->tmp[0]));
            out(e, "    }");
        }
        return;
    case BE_CONCAT: {
        char list[BE_MAX_IN * EMIT_ITEM_MAX];
        int k = 0;
        for (int j = 0; j < o->n_in; j++)
            k += snprintf(list + k, sizeof list - (size_t)k, "%s%s", j ? ", " : "", dsrc_of(e, o, j));
        out(e, "    {");
        out(e, "        float *dsrcs[] = {%s};", list);
        out(e, "        hsi_concat_backward(s->op[%s], %s, dsrcs);", op, ddst);
        out(e, "    }");
        break;
    }
    case BE_ADD:
        out(e, "    hsi_add_backward(s->op[%s], %s, %s, %s, %s);", op, B(e, o->act), ddst,
            dsrc_of(e, o, 0), dsrc_of(e, o, 1));
        break;
    case BE_LRN:
        out(e, "    hsi_lrn_backward(s->op[%s], %s, %s, %s);", op, src, ddst, dsrc_of(e, o, 0));
        break;
    case BE_CROP:
        out(e, "    hsi_crop_backward(s->op[%s], %s, %s);", op, ddst, dsrc_of(e, o, 0));
        break;
    case BE_PRELU:
        out(e, "    hsi_prelu_backward(s->op[%s], %s, %s, %s, %s, %s);", op, src, w, ddst,
            dsrc_of(e, o, 0), dw);
        break;
    case BE_SOFTMAX:
        out(e, "    hsi_softmax_backward(s->op[%s], %s, %s, %s);", op, B(e, o->act), ddst, dsrc_of(e, o, 0));
        break;
    case BE_PERMUTE:
        if (!o->need_dsrc[0]) break;
        out(e, "    hsi_permute_backward(s->op[%s], %s, %s);", op, ddst, dsrc_of(e, o, 0));
        break;
    case BE_RNN: {   /* parameters: weight_ih, weight_hh, bias_ih, bias_hh */
        char b2[4][EMIT_PARAM_MAX];   /* bias_ih, its gradient, bias_hh, its gradient */
        param_args(e, o, 2, b2[0], b2[1], sizeof b2[0]);
        param_args(e, o, 3, b2[2], b2[3], sizeof b2[0]);
        out(e, "    hsi_rnn_backward(s->op[%s], %s, %s, %s, %s, %s, %s,", op, src, w, b, b2[0], b2[2], ddst);
        out(e, "                     %s, %s, %s, %s, %s);", dsrc_of(e, o, 0), dw, db, b2[1], b2[3]);
        break;
    }
    case BE_XENT:
    case BE_INPUT:
        break;
    }
    emit_accumulate(e, o);
}

static void emit_passes(emitter *e)
{
    const be_graph *g = e->g;
    int dropout = 0;
    for (int i = 0; i < g->n_ops; i++) dropout |= g->ops[i].kind == BE_DROPOUT;
    out(e, "static void %s(hsi_model *m, hsi_dstate *s, const float *x, int n, uint64_t rng)",
        dfn(e, "forward_train"));
    out(e, "{");
    if (!dropout) out(e, "    (void)rng;   /* no dropout */");
    for (int i = 0; i < g->n_ops; i++) emit_forward_op(e, i, 1);
    out(e, "}");
    out(e, "");
    out(e, "static void %s(hsi_model *m, hsi_dstate *s, const float *x, int n)", dfn(e, "forward_infer"));
    out(e, "{");
    for (int i = 0; i < g->n_ops; i++)   /* the classification head only */
        if (i <= g->logits || i == g->loss) emit_forward_op(e, i, 0);
    out(e, "}");
    out(e, "");
    out(e, "static float %s(hsi_model *m, hsi_dstate *s, const int32_t *labels, int n, float weight)",
        dfn(e, "loss_backward"));
    out(e, "{");
    const be_op *lg = &g->ops[g->logits];
    if (g->ir->n_losses == 1 && plain_xent(&g->ops[g->loss])) {
        out(e, "    /* %s: mean softmax cross-entropy; d/dlogits = weight * (softmax - onehot) / n */",
            g->ops[g->loss].cname);
        out(e, "    float loss = hsi_xent_forward_backward(s->op[%s], %s, labels, n, weight, %s);",
            opname(e, g->loss), B(e, lg->act), lg->need_grad ? B(e, lg->grad) : "NULL");
    } else {
        out(e, "    /* the total loss: the sum of each loss times its weight, gradients scaled alike */");
        out(e, "    float loss = 0.0f;");
    }
    for (int i = g->n_ops - 1; i >= 0; i--) emit_backward_op(e, i);
    out(e, "    return loss;");
    out(e, "}");
    out(e, "");
}


/* ---- the whole-scene inference program: one table row per op (see hsi.h, passes/scene.c) */
/* (a ceil_mode pool whose last window runs past its padding is HSI_SOP_POOL_CEIL, with the
 * extra in the row's dilation) */
static void emit_scene(emitter *e)
{
    const be_graph *g = e->g;
    static const char *kinds[] = {"HSI_SOP_INPUT", "HSI_SOP_CONV", "HSI_SOP_BN", "HSI_SOP_IDENTITY",
                                  "HSI_SOP_POOL", "HSI_SOP_DENSE", "HSI_SOP_RESHAPE",
                                  "HSI_SOP_CONCAT", "HSI_SOP_ADD", "HSI_SOP_POOL_CEIL"};
    static const char *regions[] = {"HSI_REGION_PIXEL", "HSI_REGION_WINDOW", "HSI_REGION_PATCH"};
    int n = g->logits + 1;   /* the inference net: up to the logits */
    out(e, "/* Whole-scene inference of domain %d: %s; FLOPs per pixel %.3f M (patch net %.3f M). */",
        e->dom, g->scene_kind == 0 ? "fully convolutional" : g->scene_kind == 1 ? "hoisted prefix"
        : "patch by patch", g->flops_scene / 1e6, g->flops_patch / 1e6);
    int total = 0;
    for (int i = 0; i < n; i++) total += g->ops[i].n_in;
    /* no table when no op has an input (the logits are the input): unused, -Wall warns */
    if (total) out(e, "static const int %sscene_in[] = {", e->pre);
    for (int i = 0; i < n; i++) {
        const be_op *o = &g->ops[i];
        if (!o->n_in) continue;
        char list[1024];
        int k = 0;
        for (int j = 0; j < o->n_in && k < (int)sizeof list - 16; j++)
            k += snprintf(list + k, sizeof list - (size_t)k, "%d, ", o->in[j]);
        out(e, "    %s  /* %s */", list, o->cname);
    }
    if (total) out(e, "};");
    out(e, "static const hsi_scene_op %sscene_ops[] = {", e->pre);
    out(e, "    /* name, kind, region, sh, sw, n_in, in, ndim, dims, nsp, out_ch, groups, kernel, stride,");
    out(e, "       pad_lo, pad_hi, dilation, bias, max, count_include_pad, act, alpha, eps, relu, param,");
    out(e, "       fold, flops, beta, k */");
    int off = 0;
    for (int i = 0; i < n; i++) {
        const be_op *o = &g->ops[i];
        int kind = o->kind == BE_INPUT ? 0 : o->kind == BE_CONV ? 1 : o->kind == BE_BN ? 2
                 : o->kind == BE_ACT ? -1 : o->kind == BE_DROPOUT ? 3 : o->kind == BE_POOL ? 4
                 : o->kind == BE_DENSE ? 5 : o->kind == BE_RESHAPE ? 6 : o->kind == BE_CONCAT ? 7 : 8;
        const char *xkind = o->kind == BE_LRN ? "HSI_SOP_LRN" : o->kind == BE_CROP ? "HSI_SOP_CROP"
                          : o->kind == BE_PRELU ? "HSI_SOP_PRELU" : o->kind == BE_SOFTMAX ? "HSI_SOP_SOFTMAX"
                          : o->kind == BE_PERMUTE ? "HSI_SOP_PERMUTE" : o->kind == BE_RNN ? "HSI_SOP_RNN"
                          : NULL;   /* lrn, crop, prelu, softmax, permute, gru/lstm */
        int64_t k[3] = {1, 1, 1}, st[3] = {1, 1, 1}, pl[3] = {0}, ph[3] = {0}, dl[3] = {1, 1, 1};
        int nsp = 0, mx = 0, cip = 0, act = 0;
        int64_t oc = 0, groups = 1;
        float alpha = 0, eps = 0, beta = 0, lrn_k = 0;
        if (o->kind == BE_CONV) {
            nsp = o->conv.nsp, oc = o->conv.out_ch, groups = o->conv.groups;
            for (int a = 0; a < 3; a++) {
                k[a] = o->conv.kernel[a], st[a] = o->conv.stride[a], dl[a] = o->conv.dilation[a];
                pl[a] = o->conv.pad_lo[a], ph[a] = o->conv.pad_hi[a];
            }
        } else if (o->kind == BE_POOL) {
            const ir_pool *q = &o->ir->a.pool;
            nsp = q->nsp, mx = q->max, cip = q->count_include_pad;
            for (int a = 0; a < 3; a++)
                k[a] = q->kernel[a], st[a] = q->stride[a], pl[a] = q->pad_lo[a], ph[a] = q->pad_hi[a];
            if (pool_ceil(q)) {
                kind = 9;
                for (int a = 0; a < 3; a++) dl[a] = q->ceil_extra[a];
            }
        } else if (o->kind == BE_DENSE) {
            const ir_shape *in = &g->ops[o->in[0]].shape;
            oc = o->dense_out;
            nsp = in->ndim == 4 ? 3 : 2;   /* in a scene region: the conv covering what is left */
            for (int a = 0; a < nsp && in->ndim >= 3; a++) k[a] = in->d[in->ndim - nsp + a];
        } else if (o->kind == BE_BN) {
            eps = o->ir->a.bn.eps;
        } else if (o->kind == BE_ACT) {
            act = o->ir->a.act.kind, alpha = o->ir->a.act.alpha;
        } else if (o->kind == BE_LRN) {
            const ir_lrn *r = &o->ir->a.lrn;
            k[0] = r->size, alpha = r->alpha, beta = r->beta, lrn_k = r->k;
        } else if (o->kind == BE_CROP) {
            const ir_crop *c = &o->ir->a.crop;
            nsp = c->nsp;
            for (int a = 0; a < nsp; a++) k[a] = c->size[a], pl[a] = c->offset[a];
        } else if (o->kind == BE_PRELU) {
            oc = o->ir->a.prelu.slopes;
        } else if (o->kind == BE_RNN) {
            oc = o->ir->a.rnn.hidden;
        }
        if (o->region != 2 && nsp && o->kind != BE_CROP)   /* a window that slides over the scene: stride 1 */
            st[nsp - 2] = st[nsp - 1] = 1;
        char dims[96], prm[4 * (IR_MAX_NAME + 8)];   /* 4 parameter enums of IR_MAX_NAME */
        int q = snprintf(dims, sizeof dims, "{");
        for (int d = 0; d < 4; d++)
            q += snprintf(dims + q, sizeof dims - (size_t)q, "%s%lld", d ? ", " : "",
                          (long long)(d < o->shape.ndim ? o->shape.d[d] : 0));
        snprintf(dims + q, sizeof dims - (size_t)q, "}");
        q = snprintf(prm, sizeof prm, "{");
        for (int d = 0; d < 4; d++)
            q += snprintf(prm + q, sizeof prm - (size_t)q, "%s%s", d ? ", " : "",
                          d < o->n_param ? pname(e, o->param[d]) : "-1");
        snprintf(prm + q, sizeof prm - (size_t)q, "}");
        int fold = o->kind == BE_BN ? o->fold >= 0 : folded_by(e, i);
        char inref[64];
        if (o->n_in) snprintf(inref, sizeof inref, "%sscene_in + %d", e->pre, off);
        else snprintf(inref, sizeof inref, "NULL");
        out(e, "    {\"%s\", %s, %s, %d, %d, %d, %s, %d, %s, %d, %lld, %lld, %s, %s, %s, %s, %s, %d, %d, %d, %d, %s, %s, %d,",
            in_string(o->ir && o->ir->name ? o->ir->name : o->cname),
            xkind ? xkind : kind < 0 ? "HSI_SOP_ACT" : kinds[kind], regions[o->region], o->sh, o->sw, o->n_in, inref,
            o->shape.ndim, dims, nsp, (long long)oc, (long long)groups, ints(k, 3), ints(st, 3),
            ints(pl, 3), ints(ph, 3), ints(dl, 3), o->bias, mx, cip, act, flt(alpha), flt(eps), o->relu);
        int sq[4] = {0};   /* PERMUTE: the axes; RNN: lstm, reverse, sequence */
        if (o->kind == BE_PERMUTE || o->kind == BE_RNN) {
            const ir_rnn *rn = &o->ir->a.rnn;
            const int *pm = o->ir->a.permute.perm;
            for (int a = 0; a < 4; a++)
                sq[a] = o->kind == BE_PERMUTE ? (a < o->shape.ndim ? pm[a] : 0)
                      : a == 0 ? rn->lstm : a == 1 ? rn->reverse : a == 2 ? rn->sequence : 0;
        }
        out(e, "     %s, %d, %.1f, %s, %s, {%d, %d, %d, %d}},", prm, fold, o->flops, flt(beta),
            flt(lrn_k), sq[0], sq[1], sq[2], sq[3]);
        off += o->n_in;
    }
    out(e, "};");
    out(e, "");
}

/* ---- whole file --------------------------------------------------------------------- */

static void emit_param_table(emitter *e)
{
    const ir_program *p = e->bp->ir;
    static const char *roles[] = {"HSI_ROLE_WEIGHT", "HSI_ROLE_BIAS", "HSI_ROLE_BN_GAMMA",
                                  "HSI_ROLE_BN_BETA", "HSI_ROLE_BN_MEAN", "HSI_ROLE_BN_VAR"};
    static const char *inits[] = {"HSI_INIT_TORCH_DEFAULT", "HSI_INIT_ZEROS", "HSI_INIT_ONES",
                                  "HSI_INIT_CONSTANT", "HSI_INIT_GAUSSIAN", "HSI_INIT_UNIFORM",
                                  "HSI_INIT_HE_NORMAL", "HSI_INIT_HE_UNIFORM",
                                  "HSI_INIT_GLOROT_UNIFORM", "HSI_INIT_GLOROT_NORMAL",
                                  "HSI_INIT_TORCH_DEFAULT"};
    out(e, "/* ---- parameters: PyTorch layouts, stable names -------------------------------- */");
    out(e, "enum {");
    for (int i = 0; i < p->n_params; i++) out(e, "    %s,", pname(e, i));
    out(e, "    N_PARAMS");
    out(e, "};");
    out(e, "");
    if (!p->n_params) {   /* a net of no parameters: ISO C has no empty array (nor {}) */
        out(e, "static const hsi_param param_table[1];   /* none: N_PARAMS is 0 */");
        out(e, "");
        return;
    }
    out(e, "static const hsi_param param_table[N_PARAMS] = {");
    out(e, "    /* name, ndim, dims, numel, value, grad, role, lr_mult, decay_mult, shared, frozen,");
    out(e, "       init {kind, a, b, fan_in, fan_out} */");
    for (int i = 0; i < p->n_params; i++) {
        const ir_param *q = &p->params[i];
        char dims[96];
        int k = snprintf(dims, sizeof dims, "{");
        for (int d = 0; d < q->ndim; d++)
            k += snprintf(dims + k, sizeof dims - (size_t)k, "%s%lld", d ? ", " : "", (long long)q->dims[d]);
        snprintf(dims + k, sizeof dims - (size_t)k, "}");
        out(e, "    {\"%s\", %d, %s, %lld, NULL, NULL, %s, %s, %s, %d, %d,", q->name, q->ndim, dims,
            (long long)q->numel, roles[q->role], flt(q->lr_mult), flt(q->decay_mult), q->shared,
            q->freeze);
        out(e, "     {%s, %s, %s, %lld, %lld}},", inits[q->init], flt(q->init_a),
            flt(q->init_b), (long long)q->fan_in, (long long)q->fan_out);
    }
    out(e, "};");
    out(e, "");
}

static void emit_prologue(emitter *e, const char *stem, const char *backend, const char *cmd)
{
    const ir_program *p = e->bp->ir;
    out(e, "/* %s.c — generated by hsicc %s; do not edit (regenerate instead).", stem, HSICC_VERSION);
    out(e, " *");
    out(e, " * netdef:   %s, net %s", p->file ? in_comment(p->file) : "?", p->net);
    for (int d = 0; d < p->n_graphs; d++) {
        const ir_graph *g = &p->graphs[d];
        char vals[1024];
        int k = 0;
        vals[0] = 0;
        for (int v = 0; v < g->n_values && k < (int)sizeof vals - 64; v++)
            k += snprintf(vals + k, sizeof vals - (size_t)k, "%s%s = %s", v ? ", " : "",
                          g->value_names[v], g->value_text[v]);
        out(e, " * domain %d%s%s%s: %s(%s)", d, g->domain[0] ? " \"" : "", g->domain,
            g->domain[0] ? "\"" : "", p->net, vals);
    }
    out(e, " * command:  %s", in_comment(cmd));
    out(e, " * backend:  %s by default (hsi_model_opts.backend chooses at create)", backend);
    out(e, " *");
    out(e, " * Per domain: the ops in forward order, the arena buffers with their live steps,");
    out(e, " * create_<d> (every primitive, layout and offset decided once), forward_train_<d>,");
    out(e, " * forward_infer_<d> (running statistics, folded BN, no dropout), and loss_backward_<d>");
    out(e, " * (the ops in reverse; parameter gradients accumulate into .grad). The model around them");
    out(e, " * (parameter blocks, arena, the hsi_netdesc entry points) is the runtime's: hsi_model.h.");
    out(e, " * Shapes in comments are per sample; every tensor has the batch in front.");
    out(e, " */");
    out(e, "#include <stdint.h>");
    out(e, "#include <stdlib.h>");
    out(e, "");
    out(e, "#include \"hsi_model.h\"");
    out(e, "#include \"%s.h\"", stem);
    out(e, "");
}

/* Shorthands of the passes: a parameter's value and gradient (NULL when it has none). */
static void emit_macros(emitter *e)
{
    out(e, "#define V(p) (m->params[p].value)");
    out(e, "#define D(p) (m->params[p].grad)");
    out(e, "");
}

/* The domains table and the per-domain scene programs, shared by the trainer's net and the
 * inference module. */
static void emit_domains(emitter *e)
{
    const be_program *bp = e->bp;
    out(e, "static const hsi_domain domains[] = {");
    for (int d = 0; d < bp->n_graphs; d++) {
        const be_graph *g = &bp->graphs[d];
        const ir_shape *in = &g->ops[g->input].shape;
        const ir_shape *lg = &g->ops[g->logits].shape;
        int pixel = g->ops[g->loss].ir->a.loss.kind == IR_LOSS_PIXEL_XENT;
        int64_t classes = pixel ? lg->d[0] : numel(lg);
        /* patch nets read [bands, p, p] patches; spectral ones ([F], [C, L]) the centre pixel's
         * spectrum: bands = every value, patch 1 */
        int64_t bands = in_bands(in);
        int64_t patch = in->ndim >= 3 ? in->d[in->ndim - 1] : 1;
        int64_t label_patch = pixel ? lg->d[1] : 0;   /* the label window of a per-pixel loss */
        out(e, "    {\"%s\", %d, {%lld, %lld, %lld, %lld}, %lld, %lld, %lld, %lld},", g->ir->domain, in->ndim,
            (long long)in->d[0], (long long)(in->ndim > 1 ? in->d[1] : 0),
            (long long)(in->ndim > 2 ? in->d[2] : 0), (long long)(in->ndim > 3 ? in->d[3] : 0),
            (long long)bands, (long long)classes, (long long)patch, (long long)label_patch);
    }
    out(e, "};");
    out(e, "");
    out(e, "static const hsi_scene_prog scene_progs[] = {");
    for (int d = 0; d < bp->n_graphs; d++) {
        const be_graph *g = &bp->graphs[d];
        out(e, "    {%s, %d, %sscene_ops, %d, %d, %.1f, %.1f},",
            g->scene_kind == 0 ? "HSI_SCENE_FCN" : g->scene_kind == 1 ? "HSI_SCENE_HOISTED" : "HSI_SCENE_PATCH",
            g->logits + 1, pre_of(bp, d), g->logits, g->patch, g->flops_patch, g->flops_scene);
    }
    out(e, "};");
    out(e, "");
}

/* The tables that hand the net to the runtime's model (hsi_model.h), and the descriptor. */
static void emit_descriptor(emitter *e, const char *stem)
{
    const be_program *bp = e->bp;
    const ir_program *p = bp->ir;
    out(e, "/* ---- the descriptor: the runtime's model (hsi_model.h) driven by the tables above ---- */");
    emit_domains(e);
    out(e, "static const hsi_domain_code code[] = {");
    out(e, "    /* n_ops, n_bufs, create, forward_train, forward_infer, loss_backward */");
    for (int d = 0; d < bp->n_graphs; d++) {
        emitter ed = *e;
        ed.dom = d;
        out(e, "    {%sN_OPS, %sN_BUFS, %s, %s, %s, %s},", pre_of(bp, d), pre_of(bp, d), dfn(&ed, "create"),
            dfn(&ed, "forward_train"), dfn(&ed, "forward_infer"), dfn(&ed, "loss_backward"));
    }
    out(e, "};");
    out(e, "");
    out(e, "static const hsi_model_spec spec = {\"%s\", N_PARAMS, param_table, %d, domains, code};", stem,
        bp->n_graphs);
    out(e, "");
    out(e, "static hsi_model *create(const hsi_model_opts *o, char *err, size_t errlen)");
    out(e, "{");
    out(e, "    return hsi_model_create(&spec, o, err, errlen);");
    out(e, "}");
    out(e, "");
    out(e, "const hsi_netdesc %s_net = {", stem);
    out(e, "    \"%s\", \"%s\", %d, domains,", p->net, p->file ? in_string(p->file) : "",
        bp->n_graphs);
    out(e, "    create, hsi_model_forward, hsi_model_loss_backward, hsi_model_logits, hsi_model_params,");
    out(e, "    hsi_model_zero_grad, hsi_model_memory, hsi_model_destroy, scene_progs,");
    out(e, "};");
}

/* The files of one emission: each is written to a temporary file beside its place, and all are
 * renamed into place only once every one is written in full and synced. A full disk or the
 * file-size limit leaves the previous files or none, never a cut one, nor a new .h beside an
 * old .c, nor a module without its runtime; the message says which file and why. */
#define OUT_SET_MAX 40   /* an inference module: its .c, its .h and the runtime subset */
typedef struct out_set { int n; hsi_atomic_file f[OUT_SET_MAX]; } out_set;

static FILE *set_open(out_set *s, const char *path)
{
    char err[4400];
    if (s->n == OUT_SET_MAX) {   /* a new file in infer_runtime past the limit */
        fprintf(stderr, "hsicc: error: %s: more than %d files in one emission\n", path, OUT_SET_MAX);
        return NULL;
    }
    if (hsi_atomic_open(&s->f[s->n], path, err, sizeof err)) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        return NULL;
    }
    return s->f[s->n++].fp;
}

static FILE *open_out(out_set *s, const char *dir, const char *stem, const char *ext, char *path,
                      size_t n)
{
    snprintf(path, n, "%s/%s%s", dir, stem, ext);
    return set_open(s, path);
}

/* Removes every temporary file of the set; returns 1. */
static int set_abort(out_set *s)
{
    while (s->n > 0) hsi_atomic_abort(&s->f[--s->n]);
    return 1;
}

static int set_commit(out_set *s)
{
    char err[4400];
    /* a write that failed names its file (the commit finds out why and says so), before one that
     * fails only now, when a buffer is flushed */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < s->n; i++)
            if (ferror(s->f[i].fp) || (pass && fflush(s->f[i].fp))) {
                if (hsi_atomic_commit(&s->f[i], err, sizeof err)) fprintf(stderr, "hsicc: error: %s\n", err);
                return set_abort(s);
            }
    for (int i = 0; i < s->n; i++) {
        hsi_atomic_file *af = &s->f[i];
        if (fsync(fileno(af->fp))) {
            fprintf(stderr, "hsicc: error: %s: fsync failed: %s (the previous file, if any, is "
                    "unchanged)\n", af->path, hsi_write_strerror(errno));
            return set_abort(s);
        }
    }
    for (int i = 0; i < s->n; i++)
        if (hsi_atomic_commit(&s->f[i], err, sizeof err)) {   /* a rename failed: rare */
            fprintf(stderr, "hsicc: error: %s\n", err);
            for (int j = i + 1; j < s->n; j++) hsi_atomic_abort(&s->f[j]);
            s->n = 0;
            return 1;
        }
    s->n = 0;
    return 0;
}

int emit_program(const be_program *bp, const char *dir, const char *stem, const char *backend,
                 const char *command_line)
{
    char path[4096];
    out_set set = {0};
    FILE *h = open_out(&set, dir, stem, ".h", path, sizeof path);
    FILE *f = h ? open_out(&set, dir, stem, ".c", path, sizeof path) : NULL;
    if (!f) return set_abort(&set);
    fprintf(h, "/* %s.h — generated by hsicc %s from %s; do not edit. */\n", stem, HSICC_VERSION,
            bp->ir->file ? in_comment(bp->ir->file) : "?");
    fprintf(h, "#ifndef HSIGEN_%s_H\n#define HSIGEN_%s_H\n\n#include \"hsi.h\"\n\n", stem, stem);
    fprintf(h, "/* net %s: %d domain(s); see %s.c */\nextern const hsi_netdesc %s_net;\n\n#endif\n",
            bp->ir->net, bp->n_graphs, stem, stem);
    fflush(h);   /* written now, in the order of the files (a failure stays in ferror) */

    emitter e = {f, bp, NULL, 0, "", NULL};
    emit_prologue(&e, stem, backend, command_line);
    emit_param_table(&e);
    for (int d = 0; d < bp->n_graphs; d++) {
        use_graph(&e, d);
        out(&e, "/* ==== domain %d%s%s%s ======================================================== */", d,
            e.g->ir->domain[0] ? " \"" : "", e.g->ir->domain, e.g->ir->domain[0] ? "\"" : "");
        emit_enums(&e);
    }
    emit_macros(&e);
    for (int d = 0; d < bp->n_graphs; d++) {
        use_graph(&e, d);
        emit_create(&e);
        emit_passes(&e);
        emit_scene(&e);
    }
    emit_descriptor(&e, stem);
    free(e.links);
    return set_commit(&set);
}

/* ---- the inference module (hsicc emit --infer) ---------------------------------------------- */

/* A hint after "no tensor NAME" when the file holds it under another domain prefix: the
 * weights of a multi-domain trainer given to a single-domain compile ('a.stem.weight' for
 * 'stem.weight'), or of a single-domain trainer given to several --domain ('stem.weight' for
 * 'a.stem.weight'). */
static void hint_domains(const ir_program *p, const hsi_st_file *f, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; p->n_graphs == 1 && i < hsi_st_count(f); i++) {
        const char *t = hsi_st_at(f, i)->name, *dot = strchr(t, '.');
        if (dot && !strcmp(dot + 1, name) && dot + 1 == t + strlen(t) - n) {
            fprintf(stderr, "hint: the file has '%s': the weights of a multi-domain trainer? give each "
                            "of its domains with --domain NAME:k=v,... in the experiment's order\n", t);
            return;
        }
    }
    for (int g = 0; p->n_graphs > 1 && g < p->n_graphs; g++) {
        size_t d = strlen(p->graphs[g].domain);
        if (!strncmp(name, p->graphs[g].domain, d) && name[d] == '.' && hsi_st_find(f, name + d + 1)) {
            fprintf(stderr, "hint: the file has '%s' (no domain prefix): the weights of a "
                            "single-domain trainer? leave --domain out and give its values with -D\n",
                    name + d + 1);
            return;
        }
    }
}

/* A hint after a shape error when the weights come from a trainer with preprocess.pca (tensors
 * pca.<domain>.components [K, bands]): its net takes the K components, so bands=K. */
static void hint_pca(const hsi_st_file *f)
{
    for (int i = 0; i < hsi_st_count(f); i++) {
        const hsi_st_info *t = hsi_st_at(f, i);
        size_t n = strlen(t->name);
        if (!strncmp(t->name, "pca.", 4) && n > 15 && !strcmp(t->name + n - 11, ".components")
            && t->ndim == 2) {
            fprintf(stderr, "hint: the weights come from a trainer with preprocess.pca ('%s' is "
                            "[%lld, %lld]): its net's bands are the %lld components (-D bands=%lld)\n",
                    t->name, (long long)t->dims[0], (long long)t->dims[1], (long long)t->dims[0],
                    (long long)t->dims[0]);
            return;
        }
    }
}

int emit_read_weights(const ir_program *p, const char *path, const unsigned char *want, float **w)
{
    char err[1024];
    hsi_st_file *f = hsi_st_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        return 1;
    }
    const char *net = hsi_st_metadata(f, "net");   /* a trainer's checkpoint names its net */
    if (net && strcmp(net, p->net))
        fprintf(stderr, "hsicc: warning: %s holds weights of net '%s', not '%s'\n", path, net, p->net);
    int rc = 0;
    for (int i = 0; i < p->n_params && !rc; i++) {
        if (want && !want[i]) continue;
        const ir_param *q = &p->params[i];
        /* the file's tensor first: a missing one or one of another shape is that error, not
         * an allocation of the net's size (up to 2^40 floats) before it; a tensor of the
         * right shape is in the file (hsi_st_open checked its offsets), so its size is real */
        const hsi_st_info *t = hsi_st_find(f, q->name);
        int fits = t && t->ndim == q->ndim;
        for (int d = 0; fits && d < q->ndim; d++) fits = t->dims[d] == q->dims[d];
        if (!fits) {   /* hsi_st_read says why (no such tensor, its shape) before reading */
            float none[1];
            hsi_st_read(f, q->name, q->ndim, q->dims, none, err, sizeof err);
            fprintf(stderr, "hsicc: error: %s\n", err);
            if (!t) hint_domains(p, f, q->name);
            else hint_pca(f);
            rc = 1;
            continue;
        }
        float *v = w[i] = malloc(sizeof(float) * (size_t)(q->numel ? q->numel : 1));
        /* hsi_st_read refuses non-finite values too (the one check for every weights file), and
         * a running variance below 0 is refused as hsi_st_read_param does for the trainer */
        if (!v || hsi_st_read(f, q->name, q->ndim, q->dims, v, err, sizeof err)
            || (q->role == IR_RUNNING_VAR && hsi_st_check_variance(f, q->name, v, q->numel, err, sizeof err))) {
            fprintf(stderr, "hsicc: error: %s\n", v ? err : "out of memory");
            rc = 1;
        }
    }
    hsi_st_close(f);
    return rc;
}

/* Weights from a trainer's safetensors as C arrays, every parameter checked by name and shape. */
static int emit_weights(emitter *e, const char *path)
{
    const ir_program *p = e->bp->ir;
    float **w = calloc((size_t)p->n_params + 1, sizeof *w);
    int rc = !w || emit_read_weights(p, path, NULL, w);
    for (int i = 0; w && i < p->n_params; i++) {
        const ir_param *q = &p->params[i];
        if (!rc) {
            fprintf(e->f, "static const float W%d[%lld] = {   /* %s */\n", i, (long long)q->numel, q->name);
            for (int64_t k = 0; k < q->numel; k++)
                fprintf(e->f, "%s%s%s", k % 8 ? " " : "    ", flt(w[i][k]), k + 1 < q->numel ? "," : "");
            fprintf(e->f, "%s};\n", q->numel % 8 ? "\n" : "\n");
        }
        free(w[i]);
    }
    free(w);
    if (rc) return 1;
    out(e, "static const float *const embedded[N_PARAMS + 1] = {");
    for (int i = 0; i < p->n_params; i++) out(e, "    W%d,", i);
    out(e, "    NULL");
    out(e, "};");
    return 0;
}

/* Copies the file `from` into the set, as `to`. */
static int copy_file(out_set *s, const char *from, const char *to)
{
    char err[4400];
    FILE *a = hsi_open_input(from, err, sizeof err);
    if (!a) {
        fprintf(stderr, "hsicc: error: cannot copy %s: %s\n", from, err);
        return 1;
    }
    FILE *o = set_open(s, to);
    char buf[65536];
    size_t n;
    while (o && (n = fread(buf, 1, sizeof buf, a)) > 0 && fwrite(buf, 1, n, o) == n) {}
    int rc = !o || ferror(a);
    if (o && rc) fprintf(stderr, "hsicc: error: cannot copy %s: read error\n", from);
    fclose(a);
    return rc;
}

/* The runtime subset an inference module compiles with: kernels (reference, and oneDNN when
 * HSICC_WITH_DNNL is defined), the model (its parameters), the scene program runner, patches'
 * padding, safetensors (with the input-file opener it reads through). */
/* what the inference module copies: "include/" names the runtime's public headers, the others
 * are runtime sources (the install rules of runtime/CMakeLists.txt ship these) */
static const char *const infer_runtime[] = {
    "include/hsi.h", "include/hsi_kernels.h", "include/hsi_infer.h", "include/hsi_prep.h",
    "include/hsi_data.h", "include/hsi_io.h", "include/hsi_model.h", "kernels/kernels_impl.h",
    "kernels/ref.h", "model/thread_part.h", "model/model.c", "kernels/kernels.c", "kernels/ref.c",
    "kernels/seq.c", "kernels/arena.c", "kernels/dnnl.c", "kernels/tapconv.h", "kernels/tapconv.c",
    "kernels/bnorm.h",
    "kernels/bnorm.c", "kernels/smallconv.h", "kernels/smallconv.c", "kernels/dnnl_wino.h",
    "kernels/dnnl_wino.c", "eval/scene.c",
    "prep/patches.c", "io/atomic.c", "io/infile.c", "io/json.c", "io/memlimit.c",
    "io/safetensors.c", NULL};

/* A failed inference module: its files' temporaries removed, and the runtime folder when this
 * emission made it (made_dir; it is then empty). Returns 1. */
static int infer_fail(out_set *s, const char *made_dir)
{
    set_abort(s);
    if (made_dir) rmdir(made_dir);
    return 1;
}

static void emit_infer_header(FILE *h, const be_program *bp, const char *stem)
{
    const be_graph *g = &bp->graphs[0];
    const ir_shape *in = &g->ops[g->input].shape;
    fprintf(h, "/* %s_infer.h — generated by hsicc %s from %s; do not edit.\n *\n", stem,
            HSICC_VERSION, bp->ir->file ? in_comment(bp->ir->file) : "?");
    fprintf(h, " * Inference-only model of net %s: the parameter table, the whole-scene program the\n"
               " * compiler derived, and (with --weights) the trained weights; runs on the reference\n"
               " * kernels with a C compiler alone, or on oneDNN (-DHSICC_WITH_DNNL -ldnnl).\n *\n"
               " *   %s_model *m = %s_create(NULL, 1, err, sizeof err);   // embedded weights, oneDNN\n"
               " *   %s_classify_scene(m, 0, cube, h, w, %s_PAD_ZERO, classes, NULL, err, sizeof err);\n"
               " *   %s_destroy(m);\n */\n", bp->ir->net, stem, stem, stem, stem, stem);
    fprintf(h, "#ifndef HSIGEN_%s_INFER_H\n#define HSIGEN_%s_INFER_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n",
            stem, stem);
    fprintf(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    fprintf(h, "#define %s_DOMAINS %d\n", stem, bp->n_graphs);
    if (in->ndim >= 3)
        fprintf(h, "/* domain 0: input [n, %s%lld, %lld, %lld] per patch, %lld classes, patch %lld */\n",
                in->ndim == 4 ? "1, " : "", (long long)(in->ndim == 4 ? in->d[1] : in->d[0]),
                (long long)in->d[in->ndim - 2], (long long)in->d[in->ndim - 1],
                (long long)numel(&g->ops[g->logits].shape), (long long)in->d[in->ndim - 1]);
    else
        fprintf(h, "/* domain 0: input [n, %s per pixel (its spectrum), %lld classes, patch 1 */\n",
                shape_str(in) + 1, (long long)numel(&g->ops[g->logits].shape));
    fprintf(h, "enum { %s_PAD_ZERO = 0, %s_PAD_REFLECT = 1, %s_PAD_REPLICATE = 2 };\n\n", stem, stem, stem);
    fprintf(h, "typedef struct %s_model %s_model;\n\n", stem, stem);
    fprintf(h, "/* weights: a safetensors file written by the trainer (names as in the netdef), or NULL for\n"
               " * the weights embedded at emit time. use_onednn: 1 oneDNN, 0 reference kernels.\n"
               " * NULL on error (message in err: the file, the tensor and both shapes; oneDNN asked of\n"
               " * a build without -DHSICC_WITH_DNNL). A model serves one thread at a time; models of\n"
               " * their own (of this net or another) may run on threads of their own at once. */\n");
    fprintf(h, "%s_model *%s_create(const char *weights, int use_onednn, char *err, size_t errlen);\n\n", stem, stem);
    fprintf(h, "/* The net on n patches x [n, input dims] (standardised as in training): logits [n, classes].\n"
               " * -1 with a message in err (truncated to errlen; err may be NULL when errlen is 0) for a\n"
               " * NULL model, x or logits (n > 0), a negative n, an unknown domain, or a patch whose logits\n"
               " * are not finite (a NaN / Inf in it). */\n");
    fprintf(h, "int %s_classify_patches(%s_model *m, int domain, const float *x, int64_t n, float *logits,\n"
               "                        char *err, size_t errlen);\n\n", stem, stem);
    fprintf(h, "/* Every pixel of a scene: cube band-major [bands][h][w] (standardised as in training), pad\n"
               " * as the patches of training; classes [h * w] (0..k-1), logits [h * w][k] (either may be\n"
               " * NULL, not both). -1 with a message for a NULL model or cube, h or w < 1, a bad pad, or a\n"
               " * pixel whose logits are not finite (a NaN / Inf in the cube). */\n");
    fprintf(h, "int %s_classify_scene(%s_model *m, int domain, const float *cube, int h, int w, int pad,\n"
               "                     int32_t *classes, float *logits, char *err, size_t errlen);\n\n", stem, stem);
    fprintf(h, "/* Bands, classes and patch size of a domain (0s for a domain the model does not have). */\n");
    fprintf(h, "void %s_shape(int domain, int *bands, int *classes, int *patch);\n", stem);
    fprintf(h, "void %s_destroy(%s_model *m);\n\n", stem, stem);
    fprintf(h, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

int emit_infer_module(const be_program *bp, const char *dir, const char *stem, const char *weights,
                      const char *runtime_include, const char *runtime_src, const char *command_line)
{
    char path[4096], name[160];
    for (int d = 0; d < bp->n_graphs; d++) {
        const ir_node *cl = &bp->ir->graphs[d].nodes[bp->ir->graphs[d].loss];
        if (cl->a.loss.kind == IR_LOSS_PIXEL_XENT) {
            fprintf(stderr, "%s:%d:%d: error: an inference module of a net whose classification loss "
                    "is pixel_cross_entropy is not supported\n", cl->span.file, cl->span.line, cl->span.col);
            fprintf(stderr, "hint: classify with the trainer (predict): its logits are the map's centre "
                            "pixel\n");
            return 1;
        }
    }
    snprintf(name, sizeof name, "%s_infer", stem);
    /* the runtime subset beside it, in the same set: renamed into place with the module's files */
    char rt_dir[4096];
    snprintf(rt_dir, sizeof rt_dir, "%s/hsirt", dir);
    int made = mkdir(rt_dir, 0777) == 0;
    if (!made && errno != EEXIST) {
        fprintf(stderr, "hsicc: error: cannot create %s: %s\n", rt_dir, strerror(errno));
        return 1;
    }
    out_set set = {0};
    int bad = 0;
    for (const char *const *r = infer_runtime; *r && !bad; r++) {
        char from[4096], to[4200];
        const char *base = strrchr(*r, '/') + 1;
        int header = !strncmp(*r, "include/", 8);
        snprintf(from, sizeof from, "%s/%s", header ? runtime_include : runtime_src, header ? *r + 8 : *r);
        snprintf(to, sizeof to, "%s/%s", rt_dir, base);
        bad = copy_file(&set, from, to);
    }
    FILE *f = bad ? NULL : open_out(&set, dir, name, ".c", path, sizeof path);
    FILE *h = f ? open_out(&set, dir, name, ".h", path, sizeof path) : NULL;
    if (!h) return infer_fail(&set, made ? rt_dir : NULL);
    emit_infer_header(h, bp, stem);
    fflush(h);
    emitter e = {f, bp, NULL, 0, "", NULL};
    const ir_program *p = bp->ir;
    out(&e, "/* %s_infer.c — generated by hsicc %s; do not edit (regenerate instead).", stem, HSICC_VERSION);
    out(&e, " *");
    out(&e, " * netdef:   %s, net %s", p->file ? in_comment(p->file) : "?", p->net);
    out(&e, " * command:  %s", in_comment(command_line));
    out(&e, " * weights:  %s", weights ? in_comment(weights) : "none embedded (create() takes a file)");
    out(&e, " *");
    out(&e, " * Inference only: the parameter table, per domain the whole-scene program (which ops run");
    out(&e, " * once per scene pixel, which slide, which run per patch), and the three calls of");
    out(&e, " * %s_infer.h on top of hsirt/ (reference kernels; oneDNN with -DHSICC_WITH_DNNL).", stem);
    out(&e, " * Build: cc -std=c11 -O2 -Ihsirt %s_infer.c your.c hsirt/<every .c> -lm -lpthread", stem);
    out(&e, " *        (without oneDNN leave hsirt/dnnl.c out; with it add -DHSICC_WITH_DNNL=1 -ldnnl)");
    out(&e, " */");
    out(&e, "#include <math.h>");
    out(&e, "#include <stdint.h>");
    out(&e, "#include <stdio.h>");
    out(&e, "#include <stdlib.h>");
    out(&e, "#include <string.h>");
    out(&e, "");
    out(&e, "#include \"hsi_data.h\"");
    out(&e, "#include \"hsi_infer.h\"");
    out(&e, "#include \"hsi_io.h\"");
    out(&e, "#include \"hsi_kernels.h\"");
    out(&e, "#include \"hsi_model.h\"");
    out(&e, "#include \"%s_infer.h\"", stem);
    out(&e, "");
    emit_param_table(&e);
    for (int d = 0; d < bp->n_graphs; d++) {
        use_graph(&e, d);
        emit_scene(&e);
    }
    free(e.links);
    e.links = NULL;
    emit_domains(&e);
    if (weights) {
        if (emit_weights(&e, weights)) return infer_fail(&set, made ? rt_dir : NULL);
    } else {
        out(&e, "static const float *const embedded[N_PARAMS + 1] = {0};   /* none: weights from a file */");
    }
    out(&e, "");
    out(&e, "/* The runtime's model (hsi_model.h) of the parameters only: no kernel, no buffer. */");
    out(&e, "static const hsi_model_spec spec = {\"%s\", N_PARAMS, param_table, %d, domains, NULL};", stem,
        bp->n_graphs);
    out(&e, "");
    out(&e, "static const hsi_netdesc net_desc = {\"%s\", \"%s\", %d, domains, NULL, NULL, NULL, NULL,",
        p->net, p->file ? in_string(p->file) : "", bp->n_graphs);
    out(&e, "                                     hsi_model_params, NULL, NULL, NULL, scene_progs};");
    out(&e, "");
    out(&e, "struct %s_model {", stem);
    out(&e, "    hsi_model *m;");
    out(&e, "    hsi_backend backend;");
    out(&e, "    hsi_infer *patches[%d];", bp->n_graphs);
    out(&e, "};");
    out(&e, "");
    out(&e, "void %s_destroy(%s_model *mm)", stem, stem);
    out(&e, "{");
    out(&e, "    if (!mm) return;");
    out(&e, "    for (int d = 0; d < %d; d++) hsi_infer_free(mm->patches[d]);", bp->n_graphs);
    out(&e, "    hsi_model_destroy(mm->m);");
    out(&e, "    free(mm);");
    out(&e, "}");
    out(&e, "");
    out(&e, "%s_model *%s_create(const char *weights, int use_onednn, char *err, size_t errlen)", stem, stem);
    out(&e, "{");
    out(&e, "    %s_model *mm = calloc(1, sizeof *mm);", stem);
    out(&e, "    if (!mm) {");
    out(&e, "        snprintf(err, errlen, \"%s: out of memory\");", stem);
    out(&e, "        return NULL;");
    out(&e, "    }");
    out(&e, "    mm->backend = use_onednn ? HSI_BACKEND_DNNL : HSI_BACKEND_REF;");
    out(&e, "    if (!weights && N_PARAMS > 0 && !embedded[0]) {");
    out(&e, "        snprintf(err, errlen, \"%s: no weights embedded (emitted without --weights): give a file\");", stem);
    out(&e, "        %s_destroy(mm);", stem);
    out(&e, "        return NULL;");
    out(&e, "    }");
    out(&e, "    /* batch 0: no kernel runs; the backend's runtime is made all the same, so that oneDNN");
    out(&e, "     * asked of a build without it is refused here, not by every classify call. The");
    out(&e, "     * embedded weights are the model's values as they are (no copy) */");
    out(&e, "    const hsi_model_opts params_only = {0, mm->backend, 0};");
    out(&e, "    mm->m = hsi_model_create_on(&spec, &params_only, weights ? NULL : embedded, err, errlen);");
    out(&e, "    if (!mm->m) {");
    out(&e, "        %s_destroy(mm);", stem);
    out(&e, "        return NULL;");
    out(&e, "    }");
    out(&e, "    if (weights) {");
    out(&e, "        hsi_st_file *f = hsi_st_open(weights, err, errlen);");
    out(&e, "        int bad = !f;");
    out(&e, "        for (int i = 0; i < N_PARAMS && !bad; i++) bad = hsi_st_read_param(f, &mm->m->params[i], err, errlen);");
    out(&e, "        hsi_st_close(f);");
    out(&e, "        if (bad) {");
    out(&e, "            %s_destroy(mm);", stem);
    out(&e, "            return NULL;");
    out(&e, "        }");
    out(&e, "    }");
    out(&e, "    for (int i = 0; i < N_PARAMS; i++)");
    out(&e, "        for (int64_t k = 0; k < param_table[i].numel; k++)");
    out(&e, "            if (!isfinite(mm->m->params[i].value[k])) {");
    out(&e, "                snprintf(err, errlen, \"%s: the weights hold a non-finite value\");", stem);
    out(&e, "                %s_destroy(mm);", stem);
    out(&e, "                return NULL;");
    out(&e, "            }");
    out(&e, "    return mm;");
    out(&e, "}");
    out(&e, "");
    out(&e, "void %s_shape(int domain, int *bands, int *classes, int *patch)", stem);
    out(&e, "{");
    out(&e, "    const hsi_domain *d = domain >= 0 && domain < %d ? &domains[domain] : NULL;   /* else 0s */", bp->n_graphs);
    out(&e, "    if (bands) *bands = d ? d->bands : 0;");
    out(&e, "    if (classes) *classes = d ? d->classes : 0;");
    out(&e, "    if (patch) *patch = d ? d->patch : 0;");
    out(&e, "}");
    out(&e, "");
    {   /* floats per patch of each domain: the input's shape without n */
        char list[1024] = "";
        size_t len = 0;
        for (int d = 0; d < bp->n_graphs && len < sizeof list - 32; d++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%lld", d ? ", " : "",
                                    (long long)numel(&bp->graphs[d].ops[bp->graphs[d].input].shape));
        out(&e, "static const int64_t patch_floats[%d] = {%s};", bp->n_graphs, list);
        out(&e, "");
        out(&e, "/* -1 with the message if x[0 .. count) holds a NaN or Inf: the net would classify it silently */");
        out(&e, "static int check_finite(const char *fn, const char *what, const float *x, int64_t count, int64_t per,");
        out(&e, "                        char *err, size_t errlen)");
        out(&e, "{");
        out(&e, "    for (int64_t i = 0; i < count; i++)");
        out(&e, "        if (!isfinite(x[i]))");
        out(&e, "            return snprintf(err, errlen, \"%%s: %%s %%lld (element %%lld of it) is %%s: the net would classify it \"");
        out(&e, "                            \"silently; give nodata pixels a value (e.g. 0, the band mean)\", fn, what,");
        out(&e, "                            (long long)(i / per), (long long)(i %% per), isnan(x[i]) ? \"NaN\" : \"Inf\"), -1;");
        out(&e, "    return 0;");
        out(&e, "}");
        out(&e, "");
    }
    out(&e, "int %s_classify_patches(%s_model *mm, int domain, const float *x, int64_t n, float *logits,", stem, stem);
    out(&e, "                        char *err, size_t errlen)");
    out(&e, "{");
    out(&e, "    if (!mm || (n > 0 && (!x || !logits)) || n < 0)");
    out(&e, "        return snprintf(err, errlen, \"%s_classify_patches: %%s\", !mm ? \"no model (NULL)\" : n < 0 ? \"a negative patch count\"", stem);
    out(&e, "                        : !x ? \"no patches (x is NULL)\" : \"nowhere to put the logits (NULL)\"), -1;");
    out(&e, "    if (domain < 0 || domain >= %d) return snprintf(err, errlen, \"%s: no domain %%d\", domain), -1;", bp->n_graphs, stem);
    out(&e, "    /* n patches (and their logits) as bytes: past 64 bits, n * floats per patch overflowed");
    out(&e, "     * (undefined) and the reads ran off x */");
    out(&e, "    int64_t xb = n, zb = n;");
    out(&e, "    if (hsi_mem_mul(&xb, patch_floats[domain] * (int64_t)sizeof(float)) ||");
    out(&e, "        hsi_mem_mul(&zb, domains[domain].classes * (int64_t)sizeof(float)))");
    out(&e, "        return snprintf(err, errlen, \"%s_classify_patches: %%lld patches of %%lld floats: their size \"", stem);
    out(&e, "                        \"overflows 64 bits (is n the patch count?)\", (long long)n, (long long)patch_floats[domain]), -1;");
    out(&e, "    if (!mm->patches[domain]) {");
    out(&e, "        hsi_infer_opts o = {mm->backend, 0, 16, 0, 0, NULL};");
    out(&e, "        mm->patches[domain] = hsi_infer_patches_create(&net_desc, mm->m, domain, &o, err, errlen);");
    out(&e, "        if (!mm->patches[domain]) return -1;");
    out(&e, "    }");
    out(&e, "    if (check_finite(\"%s_classify_patches\", \"patch\", x, n * patch_floats[domain], patch_floats[domain], err, errlen))", stem);
    out(&e, "        return -1;");
    out(&e, "    if (hsi_infer_patches(mm->patches[domain], x, n, logits, err, errlen)) return -1;");
    out(&e, "    int k = domains[domain].classes;");
    out(&e, "    for (int64_t i = 0; i < n * k; i++)   /* NaN logits would argmax to class 0, silently */");
    out(&e, "        if (!isfinite(logits[i]))");
    out(&e, "            return snprintf(err, errlen, \"%s_classify_patches: patch %%lld: its logits are not finite (a NaN \"", stem);
    out(&e, "                            \"or Inf in it, or values far from the standardised range)\", (long long)(i / k)), -1;");
    out(&e, "    return 0;");
    out(&e, "}");
    out(&e, "");
    out(&e, "typedef struct scene_out { int w, k; int32_t *classes; float *logits; } scene_out;");
    out(&e, "");
    out(&e, "static int scene_take(void *ctx, int r0, int n, const float *z, char *err, size_t errlen)");
    out(&e, "{");
    out(&e, "    const scene_out *s = ctx;");
    out(&e, "    int k = s->k;");
    out(&e, "    for (int64_t i = 0; i < (int64_t)n * s->w; i++) {");
    out(&e, "        const float *zi = z + i * k;");
    out(&e, "        int best = 0;");
    out(&e, "        for (int c = 0; c < k; c++)   /* NaN logits would argmax to class 0, silently */");
    out(&e, "            if (!isfinite(zi[c]))");
    out(&e, "                return snprintf(err, errlen, \"%s_classify_scene: pixel (%%lld, %%lld): its logits are not \"", stem);
    out(&e, "                                \"finite (a NaN or Inf in the cube near it, or values far from the \"");
    out(&e, "                                \"standardised range)\", (long long)(r0 + i / s->w), (long long)(i %% s->w)), -1;");
    out(&e, "        for (int c = 1; c < k; c++)");
    out(&e, "            if (zi[c] > zi[best]) best = c;");
    out(&e, "        if (s->classes) s->classes[(int64_t)r0 * s->w + i] = best;");
    out(&e, "        if (s->logits) memcpy(s->logits + ((int64_t)r0 * s->w + i) * k, zi, sizeof(float) * (size_t)k);");
    out(&e, "    }");
    out(&e, "    return 0;");
    out(&e, "}");
    out(&e, "");
    out(&e, "int %s_classify_scene(%s_model *mm, int domain, const float *cube, int h, int w, int pad,", stem, stem);
    out(&e, "                     int32_t *classes, float *logits, char *err, size_t errlen)");
    out(&e, "{");
    out(&e, "    if (domain < 0 || domain >= %d) return snprintf(err, errlen, \"%s: no domain %%d\", domain), -1;", bp->n_graphs, stem);
    out(&e, "    if (!mm || !cube || (!classes && !logits))");
    out(&e, "        return snprintf(err, errlen, \"%s_classify_scene: %%s\", !mm ? \"no model (NULL)\" : !cube ? \"no cube (NULL)\"", stem);
    out(&e, "                        : \"nowhere to put the result (classes and logits are NULL)\"), -1;");
    out(&e, "    if (pad < 0 || pad > 2) return snprintf(err, errlen, \"%s: pad must be 0, 1 or 2\"), -1;", stem);
    out(&e, "    /* the cube's floats as bytes: past 64 bits, bands * h * w overflowed (undefined) */");
    out(&e, "    int64_t cb = h > 0 && w > 0 ? h : 0;");
    out(&e, "    if (hsi_mem_mul(&cb, w) || hsi_mem_mul(&cb, domains[domain].bands * (int64_t)sizeof(float)))");
    out(&e, "        return snprintf(err, errlen, \"%s_classify_scene: a %%d x %%d cube of %%d bands: its size overflows 64 \"", stem);
    out(&e, "                        \"bits (are h and w right?)\", h, w, domains[domain].bands), -1;");
    out(&e, "    hsi_infer_opts o = {mm->backend, pad, 0, 0, 0, NULL};");
    out(&e, "    hsi_infer *s = hsi_infer_create(&net_desc, mm->m, domain, h, w, &o, err, errlen);");
    out(&e, "    if (!s) return -1;");
    out(&e, "    /* after create: h and w are known to be sane */");
    out(&e, "    if (check_finite(\"%s_classify_scene\", \"cube band\", cube, (int64_t)domains[domain].bands * h * w,", stem);
    out(&e, "                     (int64_t)h * w, err, errlen)) {");
    out(&e, "        hsi_infer_free(s);");
    out(&e, "        return -1;");
    out(&e, "    }");
    out(&e, "    hsi_cube in = {.h = h, .w = w, .bands = domains[domain].bands, .data = (float *)cube};   /* read only */");
    out(&e, "    scene_out so = {w, domains[domain].classes, classes, logits};");
    out(&e, "    int rc = hsi_infer_run(s, hsi_cube_rows, &in, scene_take, &so, err, errlen);");
    out(&e, "    hsi_infer_free(s);");
    out(&e, "    return rc;");
    out(&e, "}");
    return set_commit(&set) ? infer_fail(&set, made ? rt_dir : NULL) : 0;
}
