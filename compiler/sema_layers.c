/* sema_layers.c — the built-in layers: one table of layer kinds (name, automatic name base,
 * IR op, accepted arguments) whose entries point at a handler per kind. A call's arguments are
 * matched to the table's slots here; each handler checks its arguments, infers the output shape
 * and makes the node's parameters. Blocks, repeat, residual and branch are sema_struct.c's;
 * evaluating argument values is sema_expr.c's; window arithmetic is shape.c's.
 */
#include <math.h>
#include <string.h>

#include "sema_internal.h"

enum {
    A_OUT, A_KERNEL, A_STRIDE, A_PAD, A_DILATION, A_GROUPS, A_BIAS, A_EPS, A_MOMENTUM, A_ALPHA,
    A_P, A_SHAPE, A_CIP, A_NAME, A_INIT, A_BIAS_INIT, A_LR, A_DECAY, A_FREEZE, A_CEIL,
    A_SIZE, A_BETA, A_K, A_OFFSET, A_CHANNELS,
    A_DIMS, A_DIM0, A_DIM1, A_HIDDEN, A_LAYERS, A_BIDIR, A_SEQ, /* sequence layers */
    A_N
};
static const char *const arg_names[A_N] = {
    "out", "kernel", "stride", "pad", "dilation", "groups", "bias", "eps", "momentum", "alpha",
    "p", "shape", "count_include_pad", "name", "init", "bias_init", "lr_mult", "decay_mult",
    "freeze", "ceil_mode", "size", "beta", "k", "offset", "channels",
    "dims", "dim0", "dim1", "hidden", "num_layers", "bidirectional", "sequence",
};

typedef enum lkind {
    K_CONV2D, K_CONV3D, K_BN, K_RELU, K_LRELU, K_ELU, K_SIGMOID, K_TANH, K_DROPOUT, K_MAXPOOL,
    K_AVGPOOL, K_DENSE, K_FLATTEN, K_FOLD, K_RESHAPE, K_ADD, K_CONCAT,
    K_LRN, K_CROP, K_PRELU, K_SOFTMAX,
    K_CONV1D, K_PERMUTE, K_TRANSPOSE, K_GRU, K_LSTM, /* sequence layers */
    K_N
} lkind;

/* A built-in layer call being elaborated: its arguments by slot, the input shape, and what the
 * kind's handler works out from them (the output shape and the node's attributes). */
typedef struct layer {
    int k;                      /* lkind */
    const ast_elem *el;
    const ast_expr *slot[A_N];  /* argument values by slot; NULL: not given */
    src_span sp[A_N];           /* where each given argument is */
    ir_shape in, out;           /* out starts as a copy of in */
    ir_node node;               /* node.a: the attributes of the node to make */
    sema_wattr w;               /* init, bias_init, lr_mult, decay_mult, freeze */
    int64_t layers;             /* gru, lstm: num_layers */
    int bidir;                  /* gru, lstm: bidirectional */
} layer;

/* Checks the arguments, fills L->node.a and L->out. */
typedef int layer_check(sema_ctx *E, sema_scope *s, layer *L);
/* Makes the parameters of node nd (local name lname), once the node exists. */
typedef int layer_params(sema_ctx *E, sema_scope *s, const layer *L, ir_node *nd, const char *lname);

static layer_check check_conv, check_bn, check_act, check_dropout, check_pool, check_dense,
    check_flatten, check_fold, check_reshape;
static layer_params conv_params, bn_params, dense_params;
static layer_check check_lrn, check_crop, check_prelu, check_softmax;   /* at the end */
static layer_params prelu_params;
static layer_check check_permute, check_rnn;

#define W_ATTRS A_NAME, A_INIT, A_BIAS_INIT, A_LR, A_DECAY, A_FREEZE
#define RNN_ARGS A_HIDDEN, A_LAYERS, A_BIDIR, A_SEQ, A_BIAS, W_ATTRS, -1
#define CONV_ARGS A_OUT, A_KERNEL, A_STRIDE, A_PAD, A_DILATION, A_GROUPS, A_BIAS, W_ATTRS, -1
static const struct layer_spec {
    const char *kind, *base;
    ir_op op;
    int npos;                   /* the first npos of args are also positional, in this order */
    signed char args[14];       /* accepted arguments, -1 terminated */
    layer_check *check;         /* NULL: add and concat, whose arguments are values (elab_join) */
    layer_params *params;       /* NULL: no parameters */
} specs[K_N] = {
    [K_CONV2D] = {"conv2d", "conv", IR_CONV, 2, {CONV_ARGS}, check_conv, conv_params},
    [K_CONV3D] = {"conv3d", "conv", IR_CONV, 2, {CONV_ARGS}, check_conv, conv_params},
    [K_BN] = {"bn", "bn", IR_BN, 0, {A_EPS, A_MOMENTUM, W_ATTRS, -1}, check_bn, bn_params},
    [K_RELU] = {"relu", "relu", IR_ACT, 0, {A_NAME, -1}, check_act, NULL},
    [K_LRELU] = {"leaky_relu", "leaky_relu", IR_ACT, 1, {A_ALPHA, A_NAME, -1}, check_act, NULL},
    [K_ELU] = {"elu", "elu", IR_ACT, 1, {A_ALPHA, A_NAME, -1}, check_act, NULL},
    [K_SIGMOID] = {"sigmoid", "sigmoid", IR_ACT, 0, {A_NAME, -1}, check_act, NULL},
    [K_TANH] = {"tanh", "tanh", IR_ACT, 0, {A_NAME, -1}, check_act, NULL},
    [K_DROPOUT] = {"dropout", "dropout", IR_DROPOUT, 1, {A_P, A_NAME, -1}, check_dropout, NULL},
    [K_MAXPOOL] = {"maxpool", "maxpool", IR_POOL, 3, {A_KERNEL, A_STRIDE, A_PAD, A_CEIL, A_NAME, -1},
                   check_pool, NULL},
    [K_AVGPOOL] = {"avgpool", "avgpool", IR_POOL, 3, {A_KERNEL, A_STRIDE, A_PAD, A_CIP, A_CEIL, A_NAME, -1},
                   check_pool, NULL},
    [K_DENSE] = {"dense", "dense", IR_DENSE, 1, {A_OUT, A_BIAS, W_ATTRS, -1}, check_dense, dense_params},
    [K_FLATTEN] = {"flatten", "flatten", IR_RESHAPE, 0, {A_NAME, -1}, check_flatten, NULL},
    [K_FOLD] = {"fold", "fold", IR_RESHAPE, 0, {A_NAME, -1}, check_fold, NULL},
    [K_RESHAPE] = {"reshape", "reshape", IR_RESHAPE, 1, {A_SHAPE, A_NAME, -1}, check_reshape, NULL},
    [K_ADD] = {"add", "add", IR_ADD, 0, {A_NAME, -1}, NULL, NULL},
    [K_CONCAT] = {"concat", "concat", IR_CONCAT, 0, {A_NAME, -1}, NULL, NULL},
    [K_LRN] = {"lrn", "lrn", IR_LRN, 4, {A_SIZE, A_ALPHA, A_BETA, A_K, A_NAME, -1}, check_lrn, NULL},
    [K_CROP] = {"crop", "crop", IR_CROP, 1, {A_SIZE, A_OFFSET, A_NAME, -1}, check_crop, NULL},
    [K_PRELU] = {"prelu", "prelu", IR_PRELU, 1, {A_CHANNELS, A_NAME, A_INIT, A_LR, A_DECAY, A_FREEZE, -1},
                 check_prelu, prelu_params},
    [K_SOFTMAX] = {"softmax", "softmax", IR_SOFTMAX, 0, {A_NAME, -1}, check_softmax, NULL},
    [K_CONV1D] = {"conv1d", "conv", IR_CONV, 2, {CONV_ARGS}, check_conv, conv_params},
    [K_PERMUTE] = {"permute", "permute", IR_PERMUTE, 1, {A_DIMS, A_NAME, -1}, check_permute, NULL},
    [K_TRANSPOSE] = {"transpose", "transpose", IR_PERMUTE, 2, {A_DIM0, A_DIM1, A_NAME, -1},
                     check_permute, NULL},
    [K_GRU] = {"gru", "gru", IR_RNN, 1, {RNN_ARGS}, check_rnn, NULL},
    [K_LSTM] = {"lstm", "lstm", IR_RNN, 1, {RNN_ARGS}, check_rnn, NULL},
};

int sema_layer_kind(const char *name)
{
    for (int k = 0; k < K_N; k++)
        if (!strcmp(specs[k].kind, name)) return k;
    return -1;
}

int sema_is_builtin(const char *name) { return sema_layer_kind(name) >= 0; }

const char *sema_layer_name(int k) { return k >= 0 && k < K_N ? specs[k].kind : NULL; }

/* ------------------------------------------------------------------------------------------ */
/* arguments */

/* Matches call arguments to the spec's slots. */
static int collect_args(sema_ctx *E, int k, const ast_elem *el, const ast_expr **slot, src_span *sp)
{
    const struct layer_spec *ls = &specs[k];
    int npos = 0;
    for (int i = 0; i < el->args.n; i++) {
        const ast_arg *a = el->args.v[i];
        int which = -1;
        if (!a->name) {
            if (npos >= ls->npos) {
                const char *list = "";
                for (int j = 0; j < ls->npos; j++) list = mem_printf(E->a, "%s%s%s", list, j ? ", " : "", arg_names[ls->args[j]]);
                if (ls->npos)
                    diag_error(E->d, a->name_span, "too many arguments for %s: it takes at most %d (%s) "
                               "before named ones", ls->kind, ls->npos, list);
                else
                    diag_error(E->d, a->name_span, "%s takes only named arguments", ls->kind);
                const char *named = "";
                for (int j = 0; ls->args[j] >= 0; j++)
                    named = mem_printf(E->a, "%s%s%s", named, j ? ", " : "", arg_names[ls->args[j]]);
                diag_hint(E->d, "%s takes: %s (write name = value)", ls->kind, *named ? named : "nothing");
                return sema_fail(E);
            }
            which = ls->args[npos++];
        } else {
            const char *n = !strcmp(a->name, "padding") ? "pad" : a->name;
            const char *cands[16];
            int nc = 0;
            for (int j = 0; ls->args[j] >= 0; j++) {
                cands[nc++] = arg_names[ls->args[j]];
                if (!strcmp(n, arg_names[ls->args[j]])) which = ls->args[j];
            }
            if (which < 0) {
                diag_error(E->d, a->name_span, "unknown attribute '%s' for %s", a->name, ls->kind);
                if (!diag_did_you_mean(E->d, a->name, cands, nc)) {
                    const char *list = "";
                    for (int j = 0; j < nc; j++) list = mem_printf(E->a, "%s%s%s", list, j ? ", " : "", cands[j]);
                    diag_hint(E->d, "%s takes: %s", ls->kind, list);
                }
                return sema_fail(E);
            }
        }
        if (slot[which]) {
            diag_error(E->d, a->name_span, "'%s' is given twice", arg_names[which]);
            diag_note(E->d, sp[which], "first given here");
            return sema_fail(E);
        }
        slot[which] = a->value;
        sp[which] = a->name_span;
    }
    return 0;
}

/* "<layer> needs '<arg>'" when a required argument x is missing */
static int need(sema_ctx *E, const ast_expr *x, const ast_elem *el, const char *arg, const char *example)
{
    if (x) return 0;
    diag_error(E->d, el->span, "%s needs '%s'", el->name, arg);
    diag_hint(E->d, "e.g. %s", example);
    return sema_fail(E);
}

/* init, bias_init, lr_mult, decay_mult, freeze (slots left NULL keep their defaults) */
static int get_wattr(sema_ctx *E, sema_scope *s, const ast_expr **slot, sema_wattr *w)
{
    w->lr = w->decay = 1;
    double v;
    if (slot[A_INIT] && (w->has_init = 1, sema_get_init(E, s->env, slot[A_INIT], &w->init))) return sema_fail(E);
    if (slot[A_BIAS_INIT] && (w->has_binit = 1, sema_get_init(E, s->env, slot[A_BIAS_INIT], &w->binit))) return sema_fail(E);
    if (slot[A_LR]) {
        if (sema_get_num(E, s->env, slot[A_LR], 0, 1e6, "lr_mult", &v)) return sema_fail(E);
        w->lr = (float)v;
    }
    if (slot[A_DECAY]) {
        if (sema_get_num(E, s->env, slot[A_DECAY], 0, 1e6, "decay_mult", &v)) return sema_fail(E);
        w->decay = (float)v;
    }
    if (slot[A_FREEZE] && sema_get_bool(E, s->env, slot[A_FREEZE], "freeze", &w->freeze)) return sema_fail(E);
    return 0;
}

/* weight and bias of conv/dense: PyTorch defaults unless init is given (then bias zeros) */
static int weight_bias(sema_ctx *E, sema_scope *s, ir_node *nd, const char *lname, const sema_wattr *w,
                       int ndim, const int64_t *wdims, int bias, int64_t fan_in, int64_t fan_out)
{
    sema_init ti = {IR_INIT_TORCH_DEFAULT, 0, 0}, zi = {IR_INIT_ZEROS, 0, 0};
    int pw = sema_add_param(E, s, lname, IR_WEIGHT, ndim, wdims, w->has_init ? w->init : ti, fan_in, fan_out, w, nd->span);
    if (pw < 0) return 1;
    nd->param[nd->n_param++] = pw;
    if (bias) {
        int pb = sema_add_param(E, s, lname, IR_BIAS, 1, wdims, w->has_binit ? w->binit : w->has_init ? zi : ti,
                                fan_in, fan_out, w, nd->span);
        if (pb < 0) return 1;
        nd->param[nd->n_param++] = pb;
    } else if (w->has_binit) {
        diag_error(E->d, nd->span, "bias_init is given but the layer has bias = false");
        diag_hint(E->d, "remove bias_init: a layer with bias = false has no bias to initialise");
        return sema_fail(E);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* one handler per kind: arguments -> attributes and output shape */

static int check_conv(sema_ctx *E, sema_scope *s, layer *L)
{
    const ast_elem *el = L->el;
    const ast_expr *const *slot = L->slot;
    const ir_shape *in = &L->in;
    int nsp = L->k == K_CONV1D ? 1 : L->k == K_CONV2D ? 2 : 3;
    char b[96];
    if (in->ndim != nsp + 1) {
        static const char *const want[] = {"", "[C, L]", "[C, H, W]", "[C, D, H, W]"};
        static const char *const conv_of[] = {"", "conv1d", "conv2d", "conv3d"};
        diag_error(E->d, el->span, "%s needs a %s input, but its input is %s", el->name,
                   want[nsp], shape_str(in, b, sizeof b));
        if (in->ndim >= 2 && in->ndim <= 4) diag_hint(E->d, "use %s for this input", conv_of[in->ndim - 1]);
        else diag_hint(E->d, "reshape it first, e.g. reshape [1, channels] for a spectrum [F]");
        return sema_fail(E);
    }
    ir_conv *c = &L->node.a.conv;
    c->nsp = nsp;
    int64_t ones[3] = {1, 1, 1};
    memcpy(c->stride, ones, sizeof ones);
    memcpy(c->dilation, ones, sizeof ones);
    c->groups = 1;
    c->bias = 1;
    shape_pad pm = PAD_VALID;
    if (need(E, slot[A_OUT], el, "out", "conv2d(64, kernel = 3)") ||
        need(E, slot[A_KERNEL], el, "kernel", "conv2d(64, kernel = 3)") ||
        sema_get_int(E, s->env, slot[A_OUT], 1, FE_MAX_SIZE, "out", &c->out_ch) ||
        sema_get_ints(E, s->env, slot[A_KERNEL], nsp, 1, "kernel", c->kernel) ||
        (slot[A_STRIDE] && sema_get_ints(E, s->env, slot[A_STRIDE], nsp, 1, "stride", c->stride)) ||
        (slot[A_DILATION] && sema_get_ints(E, s->env, slot[A_DILATION], nsp, 1, "dilation", c->dilation)) ||
        (slot[A_PAD] && sema_get_pad(E, s->env, slot[A_PAD], nsp, &pm, c->pad_lo, c->pad_hi)) ||
        (slot[A_GROUPS] && sema_get_int(E, s->env, slot[A_GROUPS], 1, FE_MAX_SIZE, "groups", &c->groups)) ||
        (slot[A_BIAS] && sema_get_bool(E, s->env, slot[A_BIAS], "bias", &c->bias)))
        return sema_fail(E);
    if (in->d[0] % c->groups || c->out_ch % c->groups) {
        diag_error(E->d, slot[A_GROUPS]->span, "groups = %lld must divide the input channels (%lld) "
                   "and the output channels (%lld)", (long long)c->groups, (long long)in->d[0],
                   (long long)c->out_ch);
        diag_hint(E->d, "groups splits the channels into equal groups: pick a common divisor of "
                  "%lld and %lld (groups = 1 is an ordinary convolution, groups = channels a "
                  "depthwise one)", (long long)in->d[0], (long long)c->out_ch);
        return sema_fail(E);
    }
    if (shape_window(E->d, el->span, el->name, in, nsp, c->kernel, c->stride, c->dilation, pm,
                     c->pad_lo, c->pad_hi, &L->out))
        return sema_fail(E);
    L->out.d[0] = c->out_ch;
    return 0;
}

static int check_bn(sema_ctx *E, sema_scope *s, layer *L)
{
    double eps = 1e-5, mom = 0.1;
    if ((L->slot[A_EPS] && sema_get_num(E, s->env, L->slot[A_EPS], 1e-30, 1, "eps", &eps)) ||
        (L->slot[A_MOMENTUM] && sema_get_num(E, s->env, L->slot[A_MOMENTUM], 0, 1, "momentum", &mom)))
        return sema_fail(E);
    L->node.a.bn.eps = (float)eps;
    L->node.a.bn.momentum = (float)mom;
    return 0;
}

/* relu, leaky_relu, elu, sigmoid, tanh (consecutive kinds, in the order of acts[]) */
static int check_act(sema_ctx *E, sema_scope *s, layer *L)
{
    static const ir_act_kind acts[] = {IR_RELU, IR_LEAKY_RELU, IR_ELU, IR_SIGMOID, IR_TANH};
    int k = L->k;
    double alpha = k == K_LRELU ? 0.01 : 1.0;
    if (L->slot[A_ALPHA] && sema_get_num(E, s->env, L->slot[A_ALPHA], -1e6, 1e6, "alpha", &alpha))
        return sema_fail(E);
    if (alpha < 0) {   /* the backward reads the output: a negative slope hides the input's sign */
        diag_error(E->d, L->slot[A_ALPHA]->span, "%s needs alpha >= 0, got %g", L->el->name, alpha);
        diag_hint(E->d, "a negative slope is PReLU territory: prelu learns it (init = constant(%g))", alpha);
        return sema_fail(E);
    }
    L->node.a.act.kind = acts[k - K_RELU];
    L->node.a.act.alpha = k == K_LRELU || k == K_ELU ? (float)alpha : 0;
    return 0;
}

static int check_dropout(sema_ctx *E, sema_scope *s, layer *L)
{
    double p = 0.5;
    if (L->slot[A_P] && sema_get_num(E, s->env, L->slot[A_P], 0, 0.999999, "p", &p)) return sema_fail(E);
    L->node.a.dropout.p = (float)p;
    return 0;
}

/* maxpool, avgpool: kernel (or global), stride (default: the kernel), pad, count_include_pad,
 * ceil_mode (PyTorch's: the output size rounds up, but the last window starts in the input or
 * its left padding; it may run past the right padding by ceil_extra, which is not counted by
 * count_include_pad) */
static int check_pool(sema_ctx *E, sema_scope *s, layer *L)
{
    const ast_elem *el = L->el;
    const ast_expr *const *slot = L->slot;
    const ir_shape *in = &L->in;
    int nsp = in->ndim - 1;
    ir_pool *p = &L->node.a.pool;
    char b[96];
    if (nsp < 1 || nsp > 3) {
        diag_error(E->d, el->span, "%s needs a [C, L], [C, H, W] or [C, D, H, W] input, but its "
                   "input is %s", el->name, shape_str(in, b, sizeof b));
        diag_hint(E->d, "reshape it first, e.g. reshape [1, channels] to pool a spectrum [F]");
        return sema_fail(E);
    }
    p->nsp = nsp;
    p->max = L->k == K_MAXPOOL;
    p->count_include_pad = 1;
    int64_t ones[3] = {1, 1, 1};
    memcpy(p->stride, ones, sizeof ones);
    shape_pad pm = PAD_VALID;
    if (need(E, slot[A_KERNEL], el, "kernel", "maxpool(2) or avgpool(global)")) return 1;
    if (slot[A_KERNEL]->kind == AE_NAME && !strcmp(slot[A_KERNEL]->name, "global")) {
        if (slot[A_STRIDE] || slot[A_PAD]) {
            diag_error(E->d, L->sp[slot[A_STRIDE] ? A_STRIDE : A_PAD], "global pooling takes no stride or padding");
            return sema_fail(E);
        }
        p->global = 1;
        for (int i = 0; i < nsp; i++) p->kernel[i] = in->d[1 + i];
    } else {
        if (sema_get_ints(E, s->env, slot[A_KERNEL], nsp, 1, "kernel", p->kernel)) return sema_fail(E);
        memcpy(p->stride, p->kernel, sizeof p->stride);
        if ((slot[A_STRIDE] && sema_get_ints(E, s->env, slot[A_STRIDE], nsp, 1, "stride", p->stride)) ||
            (slot[A_PAD] && sema_get_pad(E, s->env, slot[A_PAD], nsp, &pm, p->pad_lo, p->pad_hi)))
            return sema_fail(E);
        /* a window wholly in the padding has no max and no average of real cells (PyTorch
         * refuses such padding too) */
        for (int i = 0; slot[A_PAD] && pm != PAD_SAME && i < nsp; i++) {
            int64_t worst = p->pad_lo[i] > p->pad_hi[i] ? p->pad_lo[i] : p->pad_hi[i];
            if (2 * worst > p->kernel[i]) {
                diag_error(E->d, L->sp[A_PAD], "%s padding %lld is more than half its kernel %lld "
                           "(spatial dim %d): a window could lie wholly in the padding",
                           el->name, (long long)worst, (long long)p->kernel[i], i + 1);
                diag_hint(E->d, "use at most kernel / 2 (%lld), or pad = same",
                          (long long)(p->kernel[i] / 2));
                return sema_fail(E);
            }
        }
    }
    if (slot[A_CIP] && sema_get_bool(E, s->env, slot[A_CIP], "count_include_pad", &p->count_include_pad))
        return sema_fail(E);
    if (slot[A_CEIL] && sema_get_bool(E, s->env, slot[A_CEIL], "ceil_mode", &p->ceil_mode))
        return sema_fail(E);
    if (shape_window(E->d, el->span, el->name, in, nsp, p->kernel, p->stride, ones, pm, p->pad_lo,
                     p->pad_hi, &L->out))
        return sema_fail(E);
    for (int i = 0; p->ceil_mode && i < nsp; i++) {
        int64_t n = in->d[1 + i], lo = p->pad_lo[i], k = p->kernel[i], st = p->stride[i];
        int64_t o = (n + lo + p->pad_hi[i] - k + st - 1) / st + 1;
        if ((o - 1) * st >= n + lo) o--;   /* the last window must start inside */
        L->out.d[1 + i] = o;
        p->ceil_extra[i] = (o - 1) * st + k - (n + lo + p->pad_hi[i]);
        if (p->ceil_extra[i] < 0) p->ceil_extra[i] = 0;
    }
    return 0;
}

static int check_dense(sema_ctx *E, sema_scope *s, layer *L)
{
    ir_dense *d = &L->node.a.dense;
    d->bias = 1;
    if (need(E, L->slot[A_OUT], L->el, "out", "dense(classes)") ||
        sema_get_int(E, s->env, L->slot[A_OUT], 1, FE_MAX_SIZE, "out", &d->out) ||
        (L->slot[A_BIAS] && sema_get_bool(E, s->env, L->slot[A_BIAS], "bias", &d->bias)))
        return sema_fail(E);
    L->out = (ir_shape){1, {d->out}};
    return 0;
}

static int check_flatten(sema_ctx *E, sema_scope *s, layer *L)
{
    (void)E, (void)s;
    L->out = (ir_shape){1, {shape_numel(&L->in)}};
    return 0;
}

static int check_fold(sema_ctx *E, sema_scope *s, layer *L)
{
    (void)s;
    const ir_shape *in = &L->in;
    char b[96];
    if (!(in->ndim == 3 || (in->ndim == 4 && in->d[1] == 1))) {
        diag_error(E->d, L->el->span, "fold turns [C, 1, H, W] or [C, H, W] into [1, C, H, W], "
                   "but its input is %s", shape_str(in, b, sizeof b));
        return sema_fail(E);
    }
    L->out = (ir_shape){4, {1, in->d[0], in->d[in->ndim - 2], in->d[in->ndim - 1]}};
    return 0;
}

/* reshape [sizes]: 1 to 4 sizes, at most one -1 (inferred); the element count is kept */
static int check_reshape(sema_ctx *E, sema_scope *s, layer *L)
{
    const ast_expr *x = L->slot[A_SHAPE];
    ir_shape *out = &L->out;
    sema_val v;
    char b[96];
    if (need(E, x, L->el, "a shape", "reshape [1, 128, 7, 7]") || sema_eval(E, s->env, x, &v))
        return sema_fail(E);
    int infer = -1;
    int64_t known = 1;
    if (v.k != V_LIST || v.n < 1 || v.n > 4) goto bad;
    out->ndim = v.n;
    for (int i = 0; i < v.n; i++) {
        if (v.items[i].k != V_INT) goto bad;
        int64_t d = v.items[i].i;
        if (d == -1 && infer < 0) infer = i;
        else if (d < 1 || d > FE_MAX_SIZE) goto bad;
        else if (__builtin_mul_overflow(known, d, &known) || known > FE_MAX_NUMEL) known = FE_MAX_NUMEL + 1;
        out->d[i] = d;
    }
    int64_t n = shape_numel(&L->in);
    if (known > FE_MAX_NUMEL) {   /* the product of the sizes, saturated: more than any input has */
        diag_error(E->d, x->span, "reshape to %s needs more than 2^40 elements, but its input %s has %lld",
                   sema_val_str(E, &v), shape_str(&L->in, b, sizeof b), (long long)n);
        if (infer < 0)
            diag_hint(E->d, "the sizes must multiply to %lld; write -1 for one of them to have it "
                      "computed (e.g. reshape [channels, -1])", (long long)n);
        else
            diag_hint(E->d, "the sizes other than -1 must multiply to a divisor of %lld", (long long)n);
        return sema_fail(E);
    }
    if (infer >= 0 && n % known == 0) out->d[infer] = n / known;
    if (infer >= 0 && n % known != 0) {
        diag_error(E->d, x->span, "reshape to %s: the %lld elements of its input %s do not divide "
                   "by %lld", sema_val_str(E, &v), (long long)n, shape_str(&L->in, b, sizeof b),
                   (long long)known);
        diag_hint(E->d, "the sizes other than -1 must multiply to a divisor of %lld", (long long)n);
        return sema_fail(E);
    }
    if (infer < 0 && known != n) {
        diag_error(E->d, x->span, "reshape to %s needs %lld elements, but its input %s has %lld",
                   sema_val_str(E, &v), (long long)known, shape_str(&L->in, b, sizeof b), (long long)n);
        diag_hint(E->d, "the sizes must multiply to %lld; write -1 for one of them to have it "
                  "computed (e.g. reshape [channels, -1])", (long long)n);
        return sema_fail(E);
    }
    return 0;
bad:
    diag_error(E->d, x->span, "reshape needs a list of 1 to 4 sizes (one may be -1), got %s",
               sema_val_str(E, &v));
    diag_hint(E->d, "the sizes are per sample (the batch is not counted), each >= 1 or one -1: "
              "e.g. reshape [channels, -1] or reshape [-1, height, width]");
    return sema_fail(E);
}

/* ------------------------------------------------------------------------------------------ */
/* sequence layers: permute, transpose, gru, lstm (conv1d is check_conv's) */

#define AXIS_HINT "axes number the per-sample dims from 0 (channels), the batch is not counted: " \
                  "PyTorch's x.permute(0, 2, 1) is permute([1, 0]), x.transpose(1, 2) transpose(0, 1)"

/* An axis of the per-sample dims of in (negative: from the end). */
static int axis_of(sema_ctx *E, sema_scope *s, const ast_expr *x, const ir_shape *in,
                   const char *what, int *out)
{
    int64_t v;
    E->arg_hint = AXIS_HINT;
    int bad = sema_get_int(E, s->env, x, -in->ndim, in->ndim - 1, what, &v);
    E->arg_hint = NULL;
    if (bad) return sema_fail(E);
    *out = (int)(v < 0 ? v + in->ndim : v);
    return 0;
}

/* permute([axes]) (a permutation of every axis) and transpose(dim0, dim1) (two axes swapped) */
static int check_permute(sema_ctx *E, sema_scope *s, layer *L)
{
    const ir_shape *in = &L->in;
    int *perm = L->node.a.permute.perm;
    for (int i = 0; i < in->ndim; i++) perm[i] = i;
    if (L->k == K_TRANSPOSE) {
        int a = 0, b = 0;
        if (need(E, L->slot[A_DIM0], L->el, "dim0", "transpose(0, 1)") ||
            need(E, L->slot[A_DIM1], L->el, "dim1", "transpose(0, 1)") ||
            axis_of(E, s, L->slot[A_DIM0], in, "dim0", &a) ||
            axis_of(E, s, L->slot[A_DIM1], in, "dim1", &b))
            return 1;
        perm[a] = b;
        perm[b] = a;
    } else {
        sema_val v;
        char sb[96];
        if (need(E, L->slot[A_DIMS], L->el, "dims", "permute([1, 0])") ||
            sema_eval(E, s->env, L->slot[A_DIMS], &v))
            return sema_fail(E);
        int seen[IR_MAX_DIMS] = {0}, ok = v.k == V_LIST && v.n == in->ndim;
        for (int i = 0; ok && i < v.n; i++) {
            int64_t a = v.items[i].i;
            ok = v.items[i].k == V_INT && a >= -in->ndim && a < in->ndim;
            if (ok && a < 0) a += in->ndim;
            if (ok && (ok = !seen[a])) seen[a] = 1, perm[i] = (int)a;
        }
        if (!ok) {
            diag_error(E->d, L->slot[A_DIMS]->span, "permute needs a permutation of the %d axes of "
                       "its input %s (each of 0..%d once), got %s", in->ndim,
                       shape_str(in, sb, sizeof sb), in->ndim - 1, sema_val_str(E, &v));
            diag_hint(E->d, AXIS_HINT);
            return sema_fail(E);
        }
    }
    L->out.ndim = in->ndim;
    for (int i = 0; i < in->ndim; i++) L->out.d[i] = in->d[perm[i]];
    return 0;
}

/* gru(hidden), lstm(hidden): num_layers (1), bidirectional (false), sequence (true: every hidden
 * state [H, L]; false: the last [H]), bias (true) */
static int check_rnn(sema_ctx *E, sema_scope *s, layer *L)
{
    const ast_elem *el = L->el;
    const ast_expr *const *slot = L->slot;
    const ir_shape *in = &L->in;
    ir_rnn *r = &L->node.a.rnn;
    char b[96];
    if (in->ndim != 2) {
        diag_error(E->d, el->span, "%s reads a sequence [F, L] (F features per step, L steps), but "
                   "its input is %s", el->name, shape_str(in, b, sizeof b));
        diag_hint(E->d, in->ndim == 1 ? "make a spectrum a sequence of one value per band first: "
                                        "reshape [1, channels]"
                                      : "make it [F, L] first, e.g. reshape [channels, -1] (the "
                                        "steps along the last axis), or permute the axes");
        return sema_fail(E);
    }
    r->lstm = L->k == K_LSTM;
    r->sequence = r->bias = 1;
    L->layers = 1;
    if (need(E, slot[A_HIDDEN], el, "hidden", "gru(64)") ||
        sema_get_int(E, s->env, slot[A_HIDDEN], 1, FE_MAX_SIZE, "hidden", &r->hidden) ||
        (slot[A_LAYERS] && sema_get_int(E, s->env, slot[A_LAYERS], 1, 64, "num_layers", &L->layers)) ||
        (slot[A_BIDIR] && sema_get_bool(E, s->env, slot[A_BIDIR], "bidirectional", &L->bidir)) ||
        (slot[A_SEQ] && sema_get_bool(E, s->env, slot[A_SEQ], "sequence", &r->sequence)) ||
        (slot[A_BIAS] && sema_get_bool(E, s->env, slot[A_BIAS], "bias", &r->bias)))
        return sema_fail(E);
    if (!r->bias && L->w.has_binit) {
        diag_error(E->d, L->sp[A_BIAS_INIT], "bias_init is given but the layer has bias = false");
        diag_hint(E->d, "remove bias_init: a layer with bias = false has no bias to initialise");
        return sema_fail(E);
    }
    int64_t h = r->hidden * (L->bidir ? 2 : 1);
    L->out = r->sequence ? (ir_shape){2, {h, in->d[1]}} : (ir_shape){1, {h}};
    return 0;
}

/* A gru/lstm layer ln: one IR_RNN node per layer and direction, the two directions joined by a
 * concat on the features ([2H, L], PyTorch's output permuted to channels-first). Parameters are
 * PyTorch's: <ln>.weight_ih_l<k>[_reverse], weight_hh, bias_ih, bias_hh, each by default
 * uniform(-1/sqrt(H), 1/sqrt(H)); `init` sets the weights (biases then zeros), bias_init the
 * biases. */
static int elab_rnn(sema_ctx *E, sema_scope *s, const layer *L, const char *ln, int *cur)
{
    const ir_rnn *a = &L->node.a.rnn;
    const int64_t H = a->hidden, GH = (a->lstm ? 4 : 3) * H;
    const int dirs = L->bidir ? 2 : 1, single = L->layers == 1 && dirs == 1;
    const float k = (float)(1.0 / sqrt((double)H));
    const sema_init def = {IR_INIT_UNIFORM, -k, k}, zero = {IR_INIT_ZEROS, 0, 0};
    const sema_init wi = L->w.has_init ? L->w.init : def;
    const sema_init bi = L->w.has_binit ? L->w.binit : L->w.has_init ? zero : def;
    int x = *cur;
    for (int l = 0; l < L->layers; l++) {
        const int last = l == L->layers - 1;
        const ir_shape xin = E->nodes[x].shape;
        int outs[2];
        for (int d = 0; d < dirs; d++) {
            ir_rnn r = *a;
            r.reverse = d;
            r.layer = l;
            r.sequence = last ? a->sequence : 1;
            ir_shape sh = r.sequence ? (ir_shape){2, {H, xin.d[1]}} : (ir_shape){1, {H}};
            const char *sfx = mem_printf(E->a, "l%d%s", l, d ? "_reverse" : "");
            /* the layer's last node has the layer's name (its concat, with two directions) */
            const char *nn = single || (last && dirs == 1) ? ln : mem_printf(E->a, "%s.%s", ln, sfx);
            int id = sema_add_node(E, IR_RNN, sema_full_name(E, s, nn), L->el->span, 1, &x, &sh);
            if (id < 0) return 1;
            E->nodes[id].a.rnn = r;
            const int64_t wih[2] = {GH, xin.d[0]}, whh[2] = {GH, H};
            const char *names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
            for (int q = 0; q < (r.bias ? 4 : 2); q++) {
                int p = sema_add_param_as(E, s, ln, mem_printf(E->a, "%s_%s", names[q], sfx),
                                          q < 2 ? IR_WEIGHT : IR_BIAS, q < 2 ? 2 : 1,
                                          q == 0 ? wih : whh, q < 2 ? wi : bi, q == 0 ? xin.d[0] : H,
                                          GH, &L->w, L->el->span);
                if (p < 0) return 1;
                E->nodes[id].param[E->nodes[id].n_param++] = p;
            }
            outs[d] = id;
        }
        x = outs[0];
        if (dirs == 2) {
            ir_shape cs = E->nodes[outs[0]].shape;
            cs.d[0] = 2 * H;
            const char *cn = last ? ln : mem_printf(E->a, "%s.l%d_concat", ln, l);
            x = sema_add_node(E, IR_CONCAT, sema_full_name(E, s, cn), L->el->span, 2, outs, &cs);
            if (x < 0) return 1;
        }
    }
    *cur = x;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* parameters, made once the node exists */

static int conv_params(sema_ctx *E, sema_scope *s, const layer *L, ir_node *nd, const char *lname)
{
    const ir_conv *c = &nd->a.conv;
    int64_t dims[5] = {c->out_ch, L->in.d[0] / c->groups}, rf = dims[1];
    int big = 0;   /* the receptive field C/groups * prod(kernel), checked at every factor */
    for (int i = 0; i < c->nsp; i++) {
        dims[2 + i] = c->kernel[i];
        big |= __builtin_mul_overflow(rf, c->kernel[i], &rf) || rf > FE_MAX_NUMEL;
    }
    if (big) {
        diag_error(E->d, L->el->span, "the kernel of this layer is too large");
        return sema_fail(E);
    }
    int64_t fan_out;   /* prod(kernel) * out; past int64 the weight is refused as too large anyway */
    if (__builtin_mul_overflow(rf / dims[1], c->out_ch, &fan_out)) fan_out = INT64_MAX;
    return weight_bias(E, s, nd, lname, &L->w, 2 + c->nsp, dims, c->bias, rf, fan_out);
}

static int dense_params(sema_ctx *E, sema_scope *s, const layer *L, ir_node *nd, const char *lname)
{
    int64_t dims[2] = {nd->a.dense.out, shape_numel(&L->in)};
    return weight_bias(E, s, nd, lname, &L->w, 2, dims, nd->a.dense.bias, dims[1], dims[0]);
}

/* gamma, beta, running mean and variance; init and bias_init set gamma and beta */
static int bn_params(sema_ctx *E, sema_scope *s, const layer *L, ir_node *nd, const char *lname)
{
    const sema_wattr *w = &L->w;
    const int64_t *ch = &L->in.d[0];
    sema_init one = {IR_INIT_ONES, 0, 0}, zero = {IR_INIT_ZEROS, 0, 0};
    const sema_init in4[4] = {w->has_init ? w->init : one, w->has_binit ? w->binit : zero, zero, one};
    for (int r = 0; r < 4; r++) {
        int p = sema_add_param(E, s, lname, (ir_role)(IR_GAMMA + r), 1, ch, in4[r], *ch, *ch, w, L->el->span);
        if (p < 0) return 1;
        nd->param[nd->n_param++] = p;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* add and concat of named values */

/* the value named by a positional argument of add/concat */
static int value_arg(sema_ctx *E, sema_scope *s, const ast_arg *a, int *node)
{
    if (a->name || a->value->kind != AE_NAME) {
        diag_error(E->d, a->name_span, "expected the name of a value (x = ... earlier in the body)");
        return sema_fail(E);
    }
    const char *cands[64];
    int nc = 0;
    for (sema_value *v = s->values; v; v = v->next) {
        if (!strcmp(v->name, a->value->name)) {
            *node = v->node;
            return 0;
        }
        if (nc < 64) cands[nc++] = v->name;
    }
    diag_error(E->d, a->value->span, "undefined value '%s'", a->value->name);
    if (!diag_did_you_mean(E->d, a->value->name, cands, nc))
        diag_hint(E->d, "name a value with '%s = layers...' on an earlier line of this body", a->value->name);
    return sema_fail(E);
}

/* add(x, y), concat(x, y, ...): values named earlier in the body; one value joins it with the
 * current one (concat(x) = concat(current, x)). */
static int elab_join(sema_ctx *E, sema_scope *s, int k, const ast_elem *el, int *cur)
{
    int ins[IR_MAX_IN + 1], n = 0;   /* ins[0]: the current value for concat(x) / add(x) */
    const ast_expr *name = NULL;
    for (int i = 0; i < el->args.n; i++) {
        const ast_arg *a = el->args.v[i];
        if (a->name && !strcmp(a->name, "name")) {
            name = a->value;
            continue;
        }
        if (n >= IR_MAX_IN) {
            diag_error(E->d, a->value->span, "%s takes at most %d values", el->name, IR_MAX_IN);
            diag_hint(E->d, "join the first values in one %s, then that with the others", el->name);
            return sema_fail(E);
        }
        if (a->name) {
            diag_error(E->d, a->name_span, "unknown attribute '%s' for %s", a->name, el->name);
            diag_hint(E->d, "%s takes values and name = ...", el->name);
            return sema_fail(E);
        }
        if (value_arg(E, s, a, &ins[n + 1])) return 1;
        n++;
    }
    int *in = ins + 1;
    if (n == 0) {
        diag_error(E->d, el->span, "%s needs values, e.g. %s(x, y)", el->name, el->name);
        diag_hint(E->d, "name the values first (x = ..., y = ...), then %s(x, y, ...) joins them; "
                  "%s(x) joins the current value with x", el->name, el->name);
        return sema_fail(E);
    }
    if (n == 1) {
        if (*cur < 0) return sema_no_input(E, el->span, el->name);
        in = ins;
        ins[0] = *cur;
        n = 2;
    }
    ir_shape out = E->nodes[in[0]].shape;
    int ok = 1;
    for (int i = 1; i < n; i++) {
        const ir_shape *t = &E->nodes[in[i]].shape;
        if (k == K_ADD) ok &= shape_equal(&out, t);
        else {
            ir_shape a = out, b = *t;
            a.d[0] = b.d[0] = 0;
            ok &= shape_equal(&a, &b);
            out.d[0] += t->d[0];
        }
    }
    if (!ok) {
        const char *list = "";
        char b[96];
        for (int i = 0; i < n; i++)
            list = mem_printf(E->a, "%s%s%s", list, i ? (i == n - 1 ? " and " : ", ") : "",
                              shape_str(&E->nodes[in[i]].shape, b, sizeof b));
        diag_error(E->d, el->span, k == K_ADD ? "add needs equal shapes, got %s"
                                              : "concat needs equal shapes but for the channels, got %s", list);
        diag_hint(E->d, k == K_ADD ? "bring every value to one shape first (a conv of kernel 1 "
                                     "changes the channels, crop or pad = same the spatial size), "
                                     "or concat them"
                                   : "bring the spatial dims to one size first (crop, pad = same, "
                                     "a pool)");
        return sema_fail(E);
    }
    const char *ln = sema_make_name(E, s, name, specs[k].base, 0, el->span, "layer");
    if (!ln) return sema_fail(E);
    int id = sema_add_node(E, specs[k].op, sema_full_name(E, s, ln), el->span, n, in, &out);
    if (id < 0) return 1;
    *cur = id;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* lrn, crop, prelu, softmax (issue 12: the DeepHyperX zoo) */

/* lrn(size, alpha = 1e-4, beta = 0.75, k = 1): PyTorch nn.LocalResponseNorm, across channels
 * (the window of an even size reaches size/2 channels before and size/2 - 1 after) */
static int check_lrn(sema_ctx *E, sema_scope *s, layer *L)
{
    const ast_expr *const *slot = L->slot;
    ir_lrn *r = &L->node.a.lrn;
    double alpha = 1e-4, beta = 0.75, k = 1.0;
    char b[96];
    if (need(E, slot[A_SIZE], L->el, "size", "lrn(5) or lrn(256, alpha = 1e-4, beta = 0.75, k = 1)"))
        return sema_fail(E);
    E->arg_hint = "as PyTorch's LocalResponseNorm: size >= 1 channels (any, even or odd), "
                  "alpha >= 0, beta >= 0, k > 0";
    int bad = sema_get_int(E, s->env, slot[A_SIZE], 1, FE_MAX_SIZE, "size", &r->size) ||
              (slot[A_ALPHA] && sema_get_num(E, s->env, slot[A_ALPHA], 0, 1e6, "alpha", &alpha)) ||
              (slot[A_BETA] && sema_get_num(E, s->env, slot[A_BETA], 0, 1e6, "beta", &beta)) ||
              (slot[A_K] && sema_get_num(E, s->env, slot[A_K], 1e-30, 1e6, "k", &k));
    E->arg_hint = NULL;
    if (bad) return sema_fail(E);
    if (L->in.ndim < 2) {
        diag_error(E->d, L->el->span, "lrn normalises across the channels of each position: it needs "
                   "[C, H, W] or [C, D, H, W], but its input is %s", shape_str(&L->in, b, sizeof b));
        diag_hint(E->d, "PyTorch's LocalResponseNorm refuses a [N, F] input too; put lrn before the dense layer");
        return sema_fail(E);
    }
    r->alpha = (float)alpha, r->beta = (float)beta, r->k = (float)k;
    return 0;
}

/* crop(size) (centre) or crop(size = .., offset = ..): one integer crops H and W; a list has
 * 2 entries (H, W) or one per spatial dim */
static int crop_list(sema_ctx *E, sema_scope *s, const ast_expr *x, const ir_shape *in, int is_size,
                     int64_t *out)
{
    int nsp = in->ndim - 1;
    sema_val v;
    if (sema_eval(E, s->env, x, &v)) return 1;
    int n = v.k == V_LIST ? v.n : 2;
    if (v.k == V_LIST && n != 2 && n != nsp) {
        if (nsp == 2)
            diag_error(E->d, x->span, "crop %s needs one integer or a list of 2 (H, W), got %s",
                       is_size ? "size" : "offset", sema_val_str(E, &v));
        else
            diag_error(E->d, x->span, "crop %s needs one integer (H and W), a list of 2 (H, W) or of "
                       "3 (D, H, W), got %s", is_size ? "size" : "offset", sema_val_str(E, &v));
        diag_hint(E->d, "one entry per spatial dim of the input %s", shape_str(in, (char[96]){0}, 96));
        return 1;
    }
    int64_t t[3];
    E->arg_hint = is_size ? "crop(3) keeps the centre 3x3; crop([3, 5]) gives H and W"
                          : "the offset is the window's first index per dim, from 0; leave it out "
                            "for the centre";
    int bad = sema_get_ints(E, s->env, x, n, is_size, is_size ? "crop size" : "crop offset", t);
    E->arg_hint = NULL;
    if (bad) return 1;
    for (int i = 0; i < nsp; i++) out[i] = is_size ? in->d[1 + i] : 0;   /* D kept when not given */
    for (int i = 0; i < n; i++) out[nsp - n + i] = t[i];
    return 0;
}

static int check_crop(sema_ctx *E, sema_scope *s, layer *L)
{
    const ast_expr *const *slot = L->slot;
    const ir_shape *in = &L->in;
    ir_crop *c = &L->node.a.crop;
    char b[96], w[96];
    if (in->ndim < 3) {
        diag_error(E->d, L->el->span, "crop cuts a window of the spatial dims: it needs [C, H, W] or "
                   "[C, D, H, W], but its input is %s", shape_str(in, b, sizeof b));
        diag_hint(E->d, "crop before flatten or dense");
        return sema_fail(E);
    }
    c->nsp = in->ndim - 1;
    if (need(E, slot[A_SIZE], L->el, "size", "crop(3) (centre) or crop(size = [3, 3], offset = [1, 1])") ||
        crop_list(E, s, slot[A_SIZE], in, 1, c->size) ||
        (slot[A_OFFSET] && crop_list(E, s, slot[A_OFFSET], in, 0, c->offset)))
        return sema_fail(E);
    ir_shape win = {in->ndim, {in->d[0]}};
    for (int i = 0; i < c->nsp; i++) {
        if (!slot[A_OFFSET] && c->size[i] <= in->d[1 + i]) c->offset[i] = (in->d[1 + i] - c->size[i]) / 2;
        win.d[1 + i] = c->offset[i] + c->size[i];
    }
    for (int i = 0; i < c->nsp; i++)
        if (win.d[1 + i] > in->d[1 + i]) {
            ir_shape sz = {in->ndim, {in->d[0]}};
            for (int j = 0; j < c->nsp; j++) sz.d[1 + j] = c->size[j];
            if (slot[A_OFFSET])
                diag_error(E->d, slot[A_OFFSET]->span,
                           "the crop window (offset + size, %s) runs past its input %s",
                           shape_str(&win, w, sizeof w), shape_str(in, b, sizeof b));
            else
                diag_error(E->d, slot[A_SIZE]->span, "crop to %s is larger than its input %s",
                           shape_str(&sz, w, sizeof w), shape_str(in, b, sizeof b));
            diag_hint(E->d, "a crop can only shrink the spatial dims; pad with a conv (pad = ...) to grow them");
            return sema_fail(E);
        }
    for (int i = 0; i < c->nsp; i++) L->out.d[1 + i] = c->size[i];
    return 0;
}

/* prelu (a slope per channel) or prelu(channels = 1) (one slope); PyTorch's init 0.25 */
static int check_prelu(sema_ctx *E, sema_scope *s, layer *L)
{
    int64_t ch = L->in.d[0], n = ch;
    if (L->slot[A_CHANNELS] && sema_get_int(E, s->env, L->slot[A_CHANNELS], 1, FE_MAX_SIZE, "channels", &n))
        return sema_fail(E);
    if (n != 1 && n != ch) {
        char b[96];
        diag_error(E->d, L->slot[A_CHANNELS]->span, "prelu has one slope or one per channel: channels = "
                   "%lld does not match its input %s (%lld channels)", (long long)n,
                   shape_str(&L->in, b, sizeof b), (long long)ch);
        diag_hint(E->d, "leave channels out (a slope per channel) or write prelu(channels = 1)");
        return sema_fail(E);
    }
    L->node.a.prelu.slopes = n;
    return 0;
}

static int prelu_params(sema_ctx *E, sema_scope *s, const layer *L, ir_node *nd, const char *lname)
{
    sema_init quarter = {IR_INIT_CONSTANT, 0.25f, 0};
    int64_t n = nd->a.prelu.slopes;
    int p = sema_add_param(E, s, lname, IR_WEIGHT, 1, &n, L->w.has_init ? L->w.init : quarter, n, n, &L->w,
                           L->el->span);
    if (p < 0) return 1;
    nd->param[nd->n_param++] = p;
    return 0;
}

/* softmax over the channels (PyTorch nn.Softmax(dim = 1)) */
static int check_softmax(sema_ctx *E, sema_scope *s, layer *L)
{
    (void)s;
    if (L->in.d[0] < 2) {
        char b[96];
        diag_error(E->d, L->el->span, "softmax is over the channels, but its input %s has one: the "
                   "output would always be 1", shape_str(&L->in, b, sizeof b));
        diag_hint(E->d, "use sigmoid for one channel, or reshape so the classes are the channels");
        return sema_fail(E);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* dispatch: arguments, the kind's handler, the node, its parameters */

int sema_layer(sema_ctx *E, sema_scope *s, int k, const ast_elem *el, int *cur)
{
    const struct layer_spec *ls = &specs[k];
    if (!ls->check) return elab_join(E, s, k, el, cur);
    if (*cur < 0) return sema_no_input(E, el->span, el->name);
    layer L = {.k = k, .el = el};
    if (collect_args(E, k, el, L.slot, L.sp)) return 1;
    L.in = L.out = E->nodes[*cur].shape;
    E->cur_shape = &L.in;      /* channels, height... in the arguments */
    int r = get_wattr(E, s, L.slot, &L.w) || ls->check(E, s, &L);
    E->cur_shape = NULL;
    if (r) return 1;
    const char *ln = sema_make_name(E, s, L.slot[A_NAME], ls->base, 0, el->span, "layer");
    if (!ln) return sema_fail(E);
    if (ls->op == IR_RNN) return elab_rnn(E, s, &L, ln, cur);
    int id = sema_add_node(E, ls->op, sema_full_name(E, s, ln), el->span, 1, cur, &L.out);
    if (id < 0) return 1;
    ir_node *nd = &E->nodes[id];
    nd->a = L.node.a;
    if (ls->params && ls->params(E, s, &L, nd, ln)) return 1;
    *cur = id;
    return 0;
}
