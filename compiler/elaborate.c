/* elaborate.c — from a net's AST to IR nodes: expressions evaluated, blocks inlined, repeat
 * expanded, names and parameters made, every shape inferred as nodes are created (so nodes
 * come out in topological order). Elaboration stops at its first error: later errors would
 * only echo it. Declarations, domains and -D values are frontend.c's; window arithmetic is
 * shape.c's.
 *
 * Naming (LANGUAGE.md): a scope path is joined with '.': block call `trunk`, repeat index `0`,
 * a residual or branch given `name = x` (then its arms `0`, `1`...); a layer is `name = ...`
 * or the automatic `<kind><n>` counted per scope and kind (conv0, bn0, conv1...).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sema.h"
#include "shape.h"

/* ------------------------------------------------------------------------------------------ */
/* maps */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

sema_ent *sema_map_get(const sema_map *m, const char *key)
{
    if (!m->cap) return NULL;
    for (uint64_t i = hash_str(key) & (uint64_t)(m->cap - 1);; i = (i + 1) & (uint64_t)(m->cap - 1)) {
        if (!m->e[i].key) return NULL;
        if (!strcmp(m->e[i].key, key)) return &m->e[i];
    }
}

sema_ent *sema_map_put(mem_arena *a, sema_map *m, const char *key)
{
    if (2 * (m->n + 1) > m->cap) {
        sema_map g = {m->cap ? 2 * m->cap : 64, 0, NULL};
        g.e = mem_alloc(a, (size_t)g.cap * sizeof *g.e);
        for (int i = 0; i < m->cap; i++)
            if (m->e[i].key) *sema_map_put(a, &g, m->e[i].key) = m->e[i];
        *m = g;
    }
    uint64_t i = hash_str(key) & (uint64_t)(m->cap - 1);
    for (; m->e[i].key; i = (i + 1) & (uint64_t)(m->cap - 1))
        if (!strcmp(m->e[i].key, key)) return &m->e[i];
    m->e[i].key = key;
    m->e[i].val = -1;
    m->n++;
    return &m->e[i];
}

/* ------------------------------------------------------------------------------------------ */
/* expressions */

static const char *const shape_vars[] = {"channels", "depth", "height", "width"};

const char *sema_val_str(sema_ctx *E, const sema_val *v)
{
    switch (v->k) {
    case V_INT: return mem_printf(E->a, "%lld", (long long)v->i);
    case V_BOOL: return v->i ? "true" : "false";
    case V_FLOAT: {
        char buf[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, v->f);
            if (strtod(buf, NULL) == v->f) break;
        }
        if (!strpbrk(buf, ".eEni")) strcat(buf, ".0");
        return mem_strdup(E->a, buf);
    }
    case V_LIST: {
        const char *s = "[";
        for (int i = 0; i < v->n; i++)
            s = mem_printf(E->a, "%s%s%s", s, i ? ", " : "", sema_val_str(E, &v->items[i]));
        return mem_printf(E->a, "%s]", s);
    }
    }
    return "?";
}

static const char *kind_str(sema_vkind k)
{
    return k == V_INT ? "an integer" : k == V_FLOAT ? "a number" : k == V_BOOL ? "a boolean" : "a list";
}

static int shape_var(sema_ctx *E, const ast_expr *x, sema_val *out)
{
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(x->name, shape_vars[i])) which = i;
    if (which < 0) return -1;
    const ir_shape *s = E->cur_shape;
    if (!s) {
        diag_error(E->d, x->span, "'%s' is a dimension of a layer's input, but there is no input here",
                   x->name);
        return 1;
    }
    int idx = which == 0 ? 0 : s->ndim == 4 ? which : s->ndim == 3 && which > 1 ? which - 1 : -1;
    if (idx < 0) {
        char b[96];
        diag_error(E->d, x->span, "the current input %s has no %s", shape_str(s, b, sizeof b), x->name);
        diag_hint(E->d, "channels, depth, height, width name the dims of [C, D, H, W]; "
                        "[C, H, W] has no depth, [F] only channels");
        return 1;
    }
    *out = (sema_val){V_INT, s->d[idx], 0, 0, NULL};
    return 0;
}

static int undefined_name(sema_ctx *E, sema_bind *env, const ast_expr *x)
{
    const char *cands[64];
    int n = 0;
    for (sema_bind *b = env; b && n < 60; b = b->next) cands[n++] = b->name;
    for (int i = 0; i < 4; i++) cands[n++] = shape_vars[i];
    diag_error(E->d, x->span, "undefined name '%s'", x->name);
    diag_did_you_mean(E->d, x->name, cands, n);
    return 1;
}

static int arith(sema_ctx *E, const ast_expr *x, const sema_val *l, const sema_val *r, sema_val *out)
{
    if ((l->k != V_INT && l->k != V_FLOAT) || (r->k != V_INT && r->k != V_FLOAT)) {
        diag_error(E->d, x->span, "operator '%c' needs numbers, got %s and %s", x->op,
                   kind_str(l->k), kind_str(r->k));
        return 1;
    }
    if (l->k == V_INT && r->k == V_INT) {
        int64_t a = l->i, b = r->i, v = 0;
        int ovf = 0;
        switch (x->op) {
        case '+': ovf = __builtin_add_overflow(a, b, &v); break;
        case '-': ovf = __builtin_sub_overflow(a, b, &v); break;
        case '*': ovf = __builtin_mul_overflow(a, b, &v); break;
        default:
            if (b == 0) {
                diag_error(E->d, x->span, "division by zero");
                return 1;
            }
            if (a == INT64_MIN && b == -1) { ovf = 1; break; }
            if (x->op == '/') {
                v = a / b;
                if (a % b != 0 && ((a < 0) != (b < 0))) v--;
            } else {
                v = a % b;
                if (v != 0 && ((v < 0) != (b < 0))) v += b;
            }
        }
        if (ovf) {
            diag_error(E->d, x->span, "integer overflow in %lld %c %lld", (long long)a, x->op,
                       (long long)b);
            return 1;
        }
        *out = (sema_val){V_INT, v, 0, 0, NULL};
        return 0;
    }
    double a = l->k == V_INT ? (double)l->i : l->f, b = r->k == V_INT ? (double)r->i : r->f, v;
    if ((x->op == '/' || x->op == '%') && b == 0) {
        diag_error(E->d, x->span, "division by zero");
        return 1;
    }
    switch (x->op) {
    case '+': v = a + b; break;
    case '-': v = a - b; break;
    case '*': v = a * b; break;
    case '/': v = a / b; break;
    default: v = a - b * floor(a / b); break;
    }
    if (!isfinite(v)) {
        diag_error(E->d, x->span, "the result of %g %c %g is not a finite number", a, x->op, b);
        return 1;
    }
    *out = (sema_val){V_FLOAT, 0, v, 0, NULL};
    return 0;
}

int sema_eval(sema_ctx *E, sema_bind *env, const ast_expr *x, sema_val *out)
{
    switch (x->kind) {
    case AE_INT: *out = (sema_val){V_INT, x->i, 0, 0, NULL}; return 0;
    case AE_FLOAT: *out = (sema_val){V_FLOAT, 0, x->f, 0, NULL}; return 0;
    case AE_BOOL: *out = (sema_val){V_BOOL, x->i, 0, 0, NULL}; return 0;
    case AE_NAME: {
        for (sema_bind *b = env; b; b = b->next)
            if (!strcmp(b->name, x->name)) {
                *out = b->v;
                return 0;
            }
        int r = shape_var(E, x, out);
        return r >= 0 ? r : undefined_name(E, env, x);
    }
    case AE_NEG: {
        sema_val v;
        if (sema_eval(E, env, x->lhs, &v)) return 1;
        if (v.k == V_INT && v.i != INT64_MIN) *out = (sema_val){V_INT, -v.i, 0, 0, NULL};
        else if (v.k == V_FLOAT) *out = (sema_val){V_FLOAT, 0, -v.f, 0, NULL};
        else {
            diag_error(E->d, x->span, v.k == V_INT ? "integer overflow in negation"
                                                    : "'-' needs a number, got %s", kind_str(v.k));
            return 1;
        }
        return 0;
    }
    case AE_BIN: {
        sema_val l, r;
        if (sema_eval(E, env, x->lhs, &l) || sema_eval(E, env, x->rhs, &r)) return 1;
        return arith(E, x, &l, &r, out);
    }
    case AE_LIST: {
        *out = (sema_val){V_LIST, 0, 0, x->items.n, NULL};
        out->items = mem_alloc(E->a, (size_t)(x->items.n + 1) * sizeof *out->items);
        for (int i = 0; i < x->items.n; i++)
            if (sema_eval(E, env, x->items.v[i], &out->items[i])) return 1;
        return 0;
    }
    case AE_CALL:
        diag_error(E->d, x->span, "'%s(...)' is not a value here", x->name);
        diag_hint(E->d, "calls are inits (init = gaussian(0.01)) or layers (shortcut = conv2d(64, 1))");
        return 1;
    case AE_PIPE:
        diag_error(E->d, x->span, "a { ... } list of layers is not a value here");
        return 1;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* typed getters: each reports its own error */

/* Evaluates x and checks its kind is in `kinds` (a bit per sema_vkind); else "WHAT must be
 * EXPECTED, got VALUE". */
static int eval_kind(sema_ctx *E, sema_bind *env, const ast_expr *x, unsigned kinds, const char *what,
                     const char *expected, sema_val *v)
{
    if (sema_eval(E, env, x, v)) return 1;
    if (kinds & (1u << v->k)) return 0;
    diag_error(E->d, x->span, "%s must be %s, got %s", what, expected, sema_val_str(E, v));
    return 1;
}

static int get_int(sema_ctx *E, sema_bind *env, const ast_expr *x, int64_t lo, int64_t hi,
                   const char *what, int64_t *out)
{
    sema_val v;
    if (eval_kind(E, env, x, 1u << V_INT, what, "an integer", &v)) return 1;
    if (v.i < lo || v.i > hi) {
        diag_error(E->d, x->span, "%s must be at %s %lld, got %lld", what, v.i < lo ? "least" : "most",
                   (long long)(v.i < lo ? lo : hi), (long long)v.i);
        return 1;
    }
    *out = v.i;
    return 0;
}

static int get_num(sema_ctx *E, sema_bind *env, const ast_expr *x, double lo, double hi,
                   const char *what, double *out)
{
    sema_val v;
    if (eval_kind(E, env, x, 1u << V_INT | 1u << V_FLOAT, what, "a number", &v)) return 1;
    double f = v.k == V_INT ? (double)v.i : v.f;
    if (!(f >= lo && f <= hi) || fabs(f) > 3.4e38) {
        diag_error(E->d, x->span, "%s must be between %g and %g, got %g", what, lo, hi, f);
        return 1;
    }
    *out = f;
    return 0;
}

static int get_bool(sema_ctx *E, sema_bind *env, const ast_expr *x, const char *what, int *out)
{
    sema_val v;
    if (eval_kind(E, env, x, 1u << V_BOOL, what, "true or false", &v)) return 1;
    *out = (int)v.i;
    return 0;
}

/* an integer for every spatial dim: one integer (all dims) or a list of nsp */
static int get_ints(sema_ctx *E, sema_bind *env, const ast_expr *x, int nsp, int64_t lo,
                    const char *what, int64_t *out)
{
    sema_val v;
    if (sema_eval(E, env, x, &v)) return 1;
    if (v.k == V_LIST && v.n == nsp) {
        for (int i = 0; i < nsp; i++) {
            if (v.items[i].k != V_INT) goto bad;
            out[i] = v.items[i].i;
        }
    } else if (v.k == V_INT) {
        for (int i = 0; i < nsp; i++) out[i] = v.i;
    } else {
    bad:
        diag_error(E->d, x->span, "%s must be an integer or a list of %d integers, got %s", what,
                   nsp, sema_val_str(E, &v));
        return 1;
    }
    for (int i = 0; i < nsp; i++)
        if (out[i] < lo || out[i] > FE_MAX_SIZE) {
            diag_error(E->d, x->span, "%s must be %s, got %s", what,
                       lo ? "at least 1" : "at least 0", sema_val_str(E, &v));
            if (out[i] > FE_MAX_SIZE) diag_hint(E->d, "sizes are at most %d", FE_MAX_SIZE);
            return 1;
        }
    return 0;
}

static int get_pad(sema_ctx *E, sema_bind *env, const ast_expr *x, int nsp, shape_pad *mode,
                   int64_t *lo, int64_t *hi)
{
    if (x->kind == AE_NAME && (!strcmp(x->name, "same") || !strcmp(x->name, "valid"))) {
        *mode = x->name[0] == 's' ? PAD_SAME : PAD_VALID;
        return 0;
    }
    *mode = PAD_EXPLICIT;
    sema_val v;
    if (sema_eval(E, env, x, &v)) return 1;
    if (v.k == V_INT) {
        for (int i = 0; i < nsp; i++) lo[i] = hi[i] = v.i;
    } else if (v.k == V_LIST && v.n == nsp) {
        for (int i = 0; i < nsp; i++) {
            const sema_val *e = &v.items[i];
            if (e->k == V_INT) lo[i] = hi[i] = e->i;
            else if (e->k == V_LIST && e->n == 2 && e->items[0].k == V_INT && e->items[1].k == V_INT) {
                lo[i] = e->items[0].i;
                hi[i] = e->items[1].i;
            } else goto bad;
        }
    } else {
    bad:
        diag_error(E->d, x->span, "pad must be same, valid, an integer or a list of %d entries "
                                  "(each an integer or [before, after]), got %s", nsp,
                   sema_val_str(E, &v));
        return 1;
    }
    for (int i = 0; i < nsp; i++)
        if (lo[i] < 0 || hi[i] < 0 || lo[i] > FE_MAX_SIZE || hi[i] > FE_MAX_SIZE) {
            diag_error(E->d, x->span, "padding must be between 0 and %d, got %s", FE_MAX_SIZE,
                       sema_val_str(E, &v));
            return 1;
        }
    return 0;
}

static const struct { const char *name; ir_init_kind kind; int min_args, max_args; } inits[] = {
    {"zeros", IR_INIT_ZEROS, 0, 0},           {"ones", IR_INIT_ONES, 0, 0},
    {"constant", IR_INIT_CONSTANT, 1, 1},     {"gaussian", IR_INIT_GAUSSIAN, 1, 2},
    {"uniform", IR_INIT_UNIFORM, 2, 2},       {"he_normal", IR_INIT_HE_NORMAL, 0, 0},
    {"he_uniform", IR_INIT_HE_UNIFORM, 0, 0}, {"glorot_uniform", IR_INIT_GLOROT_UNIFORM, 0, 0},
    {"glorot_normal", IR_INIT_GLOROT_NORMAL, 0, 0}, {"torch_default", IR_INIT_TORCH_DEFAULT, 0, 0},
};
#define N_INITS ((int)(sizeof inits / sizeof inits[0]))

typedef struct init_spec { ir_init_kind kind; float a, b; } init_spec;

static int get_init(sema_ctx *E, sema_bind *env, const ast_expr *x, init_spec *out)
{
    if (x->kind != AE_NAME && x->kind != AE_CALL) {
        diag_error(E->d, x->span, "an init is a name such as he_normal or a call such as gaussian(0.01)");
        return 1;
    }
    int k = -1;
    for (int i = 0; i < N_INITS; i++)
        if (!strcmp(x->name, inits[i].name)) k = i;
    if (k < 0) {
        const char *cands[N_INITS];
        for (int i = 0; i < N_INITS; i++) cands[i] = inits[i].name;
        diag_error(E->d, x->span, "unknown init '%s'", x->name);
        if (!diag_did_you_mean(E->d, x->name, cands, N_INITS))
            diag_hint(E->d, "inits: zeros, ones, constant(v), gaussian(std), gaussian(mean, std), "
                            "uniform(a, b), he_normal, he_uniform, glorot_uniform, glorot_normal, "
                            "torch_default");
        return 1;
    }
    int n = x->kind == AE_CALL ? x->items.n : 0;
    if (n < inits[k].min_args || n > inits[k].max_args) {
        static const char *const usage[] = {"zeros", "ones", "constant(value)",
                                            "gaussian(std) or gaussian(mean, std)", "uniform(a, b)"};
        diag_error(E->d, x->span, "init '%s' takes %s, got %d", x->name,
                   inits[k].max_args == 0 ? "no arguments"
                   : inits[k].min_args == inits[k].max_args ? (inits[k].max_args == 1 ? "1 argument" : "2 arguments")
                   : "1 or 2 arguments", n);
        diag_hint(E->d, "write %s", k < 5 ? usage[k] : inits[k].name);
        return 1;
    }
    double v[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        const ast_arg *a = x->items.v[i];
        if (a->name) {
            diag_error(E->d, a->name_span, "init arguments are positional");
            return 1;
        }
        if (get_num(E, env, a->value, -3.4e38, 3.4e38, "an init argument", &v[i])) return 1;
    }
    out->kind = inits[k].kind;
    out->a = (float)v[0];
    out->b = (float)v[1];
    if (out->kind == IR_INIT_GAUSSIAN && n == 1) {
        out->a = 0;
        out->b = (float)v[0];
    }
    if ((out->kind == IR_INIT_GAUSSIAN && out->b < 0) || (out->kind == IR_INIT_UNIFORM && out->a > out->b)) {
        diag_error(E->d, x->span, out->kind == IR_INIT_GAUSSIAN ? "the standard deviation must not be negative"
                                                                 : "uniform(a, b) needs a <= b");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* C names */

static const char *const c_keywords[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool",
    "_Complex", "_Generic", "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local",
    "bool", "main", "NULL",
};

int sema_bad_c_name(sema_ctx *E, const char *name, src_span sp, const char *what)
{
    for (size_t i = 0; i < sizeof c_keywords / sizeof *c_keywords; i++)
        if (!strcmp(name, c_keywords[i])) {
            diag_error(E->d, sp, "'%s' cannot name a %s: it is a C keyword", name, what);
            diag_hint(E->d, "names become C identifiers in the generated code; try '%s_'", name);
            return 1;
        }
    if (name[0] == '_' && (name[1] == '_' || (name[1] >= 'A' && name[1] <= 'Z'))) {
        diag_error(E->d, sp, "'%s' cannot name a %s: names starting with '__' or '_' and a capital "
                             "are reserved in C", name, what);
        diag_hint(E->d, "names become C identifiers in the generated code");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* layers */

enum {
    A_OUT, A_KERNEL, A_STRIDE, A_PAD, A_DILATION, A_GROUPS, A_BIAS, A_EPS, A_MOMENTUM, A_ALPHA,
    A_P, A_SHAPE, A_CIP, A_NAME, A_INIT, A_BIAS_INIT, A_LR, A_DECAY, A_FREEZE, A_N
};
static const char *const arg_names[A_N] = {
    "out", "kernel", "stride", "pad", "dilation", "groups", "bias", "eps", "momentum", "alpha",
    "p", "shape", "count_include_pad", "name", "init", "bias_init", "lr_mult", "decay_mult",
    "freeze",
};

typedef enum lkind {
    K_CONV2D, K_CONV3D, K_BN, K_RELU, K_LRELU, K_ELU, K_SIGMOID, K_TANH, K_DROPOUT, K_MAXPOOL,
    K_AVGPOOL, K_DENSE, K_FLATTEN, K_FOLD, K_RESHAPE, K_ADD, K_CONCAT, K_N
} lkind;

#define W_ATTRS A_NAME, A_INIT, A_BIAS_INIT, A_LR, A_DECAY, A_FREEZE
static const struct layer_spec {
    const char *kind, *base;
    int npos;            /* the first npos of args are also positional, in this order */
    signed char args[14];/* accepted arguments, -1 terminated */
} specs[K_N] = {
    [K_CONV2D] = {"conv2d", "conv", 2, {A_OUT, A_KERNEL, A_STRIDE, A_PAD, A_DILATION, A_GROUPS, A_BIAS, W_ATTRS, -1}},
    [K_CONV3D] = {"conv3d", "conv", 2, {A_OUT, A_KERNEL, A_STRIDE, A_PAD, A_DILATION, A_GROUPS, A_BIAS, W_ATTRS, -1}},
    [K_BN] = {"bn", "bn", 0, {A_EPS, A_MOMENTUM, W_ATTRS, -1}},
    [K_RELU] = {"relu", "relu", 0, {A_NAME, -1}},
    [K_LRELU] = {"leaky_relu", "leaky_relu", 1, {A_ALPHA, A_NAME, -1}},
    [K_ELU] = {"elu", "elu", 1, {A_ALPHA, A_NAME, -1}},
    [K_SIGMOID] = {"sigmoid", "sigmoid", 0, {A_NAME, -1}},
    [K_TANH] = {"tanh", "tanh", 0, {A_NAME, -1}},
    [K_DROPOUT] = {"dropout", "dropout", 1, {A_P, A_NAME, -1}},
    [K_MAXPOOL] = {"maxpool", "maxpool", 3, {A_KERNEL, A_STRIDE, A_PAD, A_NAME, -1}},
    [K_AVGPOOL] = {"avgpool", "avgpool", 3, {A_KERNEL, A_STRIDE, A_PAD, A_CIP, A_NAME, -1}},
    [K_DENSE] = {"dense", "dense", 1, {A_OUT, A_BIAS, W_ATTRS, -1}},
    [K_FLATTEN] = {"flatten", "flatten", 0, {A_NAME, -1}},
    [K_FOLD] = {"fold", "fold", 0, {A_NAME, -1}},
    [K_RESHAPE] = {"reshape", "reshape", 1, {A_SHAPE, A_NAME, -1}},
    [K_ADD] = {"add", "add", 0, {A_NAME, -1}},
    [K_CONCAT] = {"concat", "concat", 0, {A_NAME, -1}},
};

static int builtin_kind(const char *name)
{
    for (int k = 0; k < K_N; k++)
        if (!strcmp(specs[k].kind, name)) return k;
    return -1;
}

int sema_is_builtin(const char *name) { return builtin_kind(name) >= 0; }

typedef struct vbind {          /* a named value: `x = ...` */
    const char *name;
    int node;
    src_span span;
    struct vbind *next;
} vbind;

typedef struct scope {
    const char *path;           /* node name prefix, "" or "trunk.0." */
    const char *ppath;          /* parameter name prefix */
    int shared;                 /* inside a shared block */
    int top;                    /* the net's own body: input and loss allowed */
    sema_bind *env;
    vbind *values, *body_start; /* values visible; those from body_start on are outer */
    float lr, decay;
    int freeze;
} scope;

typedef struct wattr { int has_init, has_binit; init_spec init, binit; float lr, decay; int freeze; } wattr;

static int elab_body(sema_ctx *E, scope *s, const ast_body *b, int *cur);
static int elab_elem(sema_ctx *E, scope *s, const ast_elem *el, int *cur);

static int fail(sema_ctx *E) { E->failed = 1; return 1; }

static const char *full_name(sema_ctx *E, const scope *s, const char *local)
{
    return mem_printf(E->a, "%s%s", s->path, local);
}

/* A unique local name in scope s: the explicit one (checked), or base<n> (bare_first: base,
 * then base1, base2...). Registers it. NULL after an error. */
static const char *make_name(sema_ctx *E, const scope *s, const ast_expr *explicit_name,
                             const char *base, int bare_first, src_span sp, const char *what)
{
    if (explicit_name) {
        if (explicit_name->kind != AE_NAME) {
            diag_error(E->d, explicit_name->span, "name must be an identifier");
            return NULL;
        }
        const char *n = explicit_name->name;
        if (sema_bad_c_name(E, n, explicit_name->span, what)) return NULL;
        sema_ent *e = sema_map_put(E->a, &E->names, full_name(E, s, n));
        if (e->val >= 0) {
            diag_error(E->d, explicit_name->span, "duplicate name '%s'", n);
            diag_note(E->d, e->span, "'%s' is first used here", n);
            return NULL;
        }
        e->val = 1;
        e->span = explicit_name->span;
        return n;
    }
    sema_ent *c = sema_map_put(E->a, &E->counters, mem_printf(E->a, "%s\x01%s", s->path, base));
    int k = c->val < 0 ? 0 : c->val;
    for (;; k++) {
        const char *n = k == 0 && bare_first ? base : mem_printf(E->a, "%s%d", base, k);
        sema_ent *e = sema_map_put(E->a, &E->names, full_name(E, s, n));
        if (e->val >= 0) continue;
        e->val = 1;
        e->span = sp;
        c->val = k + 1;
        return n;
    }
}

/* Room for one more element in an arena array of n elements (capacity *cap). */
static void *reserve(mem_arena *a, void *arr, int n, int *cap, size_t size)
{
    if (n < *cap) return arr;
    int c = *cap ? 2 * *cap : 64;
    arr = mem_grow(a, arr, (size_t)n * size, (size_t)c * size);
    *cap = c;
    return arr;
}

static int add_node(sema_ctx *E, ir_op op, const char *name, src_span sp, int n_in, const int *in,
                    const ir_shape *shape)
{
    if (E->total_nodes >= FE_MAX_NODES) {
        diag_error(E->d, sp, "the network has more than %d layers", FE_MAX_NODES);
        diag_hint(E->d, "check the repeat counts");
        fail(E);
        return -1;
    }
    char b[96];
    if (shape_numel(shape) < 0) {
        diag_error(E->d, sp, "the output %s of this layer is too large (more than 2^40 elements)",
                   shape_str(shape, b, sizeof b));
        fail(E);
        return -1;
    }
    E->nodes = reserve(E->a, E->nodes, E->n_nodes, &E->cap_nodes, sizeof *E->nodes);
    ir_node *nd = &E->nodes[E->n_nodes];
    nd->op = op;
    nd->name = name;
    nd->span = sp;
    nd->n_in = n_in;
    nd->in = mem_alloc(E->a, (size_t)(n_in ? n_in : 1) * sizeof *nd->in);
    if (n_in) memcpy(nd->in, in, (size_t)n_in * sizeof *in);
    nd->shape = *shape;
    E->total_nodes++;
    return E->n_nodes++;
}

static const char *const role_names[] = {"weight", "bias", "weight", "bias", "running_mean", "running_var"};

/* Makes (or, inside a shared block, finds) parameter <ppath><layer>.<role>. -1 after an error. */
static int add_param(sema_ctx *E, const scope *s, const char *layer, ir_role role, int ndim,
                     const int64_t *dims, init_spec init, int64_t fan_in, int64_t fan_out,
                     const wattr *w, src_span sp)
{
    const char *name = mem_printf(E->a, "%s%s.%s", s->ppath, layer, role_names[role]);
    if (strlen(name) > IR_MAX_NAME) {
        diag_error(E->d, sp, "the parameter name '%s' has %zu characters, more than %d", name,
                   strlen(name), IR_MAX_NAME);
        diag_hint(E->d, "give this layer, or the blocks and branches around it, shorter names");
        return fail(E), -1;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(numel, dims[i], &numel) || numel > FE_MAX_NUMEL) {
            diag_error(E->d, sp, "parameter '%s' is too large (more than 2^40 elements)", name);
            return fail(E), -1;
        }
    sema_ent *e = sema_map_put(E->a, &E->pmap, name);
    if (e->val >= 0) {
        ir_param *q = &E->params[e->val];
        if (!s->shared || !q->shared) {
            diag_error(E->d, sp, "two parameters are named '%s'", name);
            diag_note(E->d, q->span, "the first is made here");
            diag_hint(E->d, "give one of the layers another name = ...");
            return fail(E), -1;
        }
        int same = q->ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = q->dims[i] == dims[i];
        if (!same) {
            const char *sa = "[", *sc = "[";
            for (int i = 0; i < ndim; i++) sa = mem_printf(E->a, "%s%s%lld", sa, i ? ", " : "", (long long)dims[i]);
            for (int i = 0; i < q->ndim; i++) sc = mem_printf(E->a, "%s%s%lld", sc, i ? ", " : "", (long long)q->dims[i]);
            diag_error(E->d, sp, "shared parameter '%s' is %s] here%s%s%s but %s] where it was first made",
                       name, sa, *E->domain ? " (domain '" : "", E->domain, *E->domain ? "')" : "", sc);
            if (q->span.line != sp.line || q->span.col != sp.col) diag_note(E->d, q->span, "first made here");
            diag_hint(E->d, "a shared block must see the same input shape wherever it is used");
            return fail(E), -1;
        }
        return e->val;
    }
    /* the emitted C names it P_<name> with '.' as '_': "x.a_b" and "x_a.b" would clash there */
    char *cname = mem_printf(E->a, "%s", name);
    for (char *c = cname; *c; c++)
        if (*c == '.') *c = '_';
    sema_ent *ce = sema_map_put(E->a, &E->pcmap, cname);
    if (ce->val >= 0) {
        diag_error(E->d, sp, "parameter '%s' would have the same C name as '%s' (%s)", name,
                   E->params[ce->val].name, cname);
        diag_note(E->d, E->params[ce->val].span, "'%s' is made here", E->params[ce->val].name);
        diag_hint(E->d, "give one of the layers (or blocks) another name = ...");
        return fail(E), -1;
    }
    ce->val = E->n_params;
    E->params = reserve(E->a, E->params, E->n_params, &E->cap_params, sizeof *E->params);
    ir_param *p = &E->params[E->n_params];
    p->name = name;
    p->role = role;
    p->ndim = ndim;
    for (int i = 0; i < ndim; i++) p->dims[i] = dims[i];
    p->numel = numel;
    p->init = init.kind;
    p->init_a = init.a;
    p->init_b = init.b;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->lr_mult = w->lr * s->lr;
    p->decay_mult = w->decay * s->decay;
    p->freeze = w->freeze || s->freeze;
    p->shared = s->shared;
    p->trainable = role != IR_RUNNING_MEAN && role != IR_RUNNING_VAR;
    p->span = sp;
    e->val = E->n_params;
    return E->n_params++;
}

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
                return fail(E);
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
                return fail(E);
            }
        }
        if (slot[which]) {
            diag_error(E->d, a->name_span, "'%s' is given twice", arg_names[which]);
            diag_note(E->d, sp[which], "first given here");
            return fail(E);
        }
        slot[which] = a->value;
        sp[which] = a->name_span;
    }
    return 0;
}

static int need(sema_ctx *E, const ast_expr *x, const ast_elem *el, const char *arg, const char *example)
{
    if (x) return 0;
    diag_error(E->d, el->span, "%s needs '%s'", el->name, arg);
    diag_hint(E->d, "e.g. %s", example);
    return fail(E);
}

static int get_wattr(sema_ctx *E, scope *s, const ast_expr **slot, wattr *w)
{
    w->lr = w->decay = 1;
    double v;
    if (slot[A_INIT] && (w->has_init = 1, get_init(E, s->env, slot[A_INIT], &w->init))) return fail(E);
    if (slot[A_BIAS_INIT] && (w->has_binit = 1, get_init(E, s->env, slot[A_BIAS_INIT], &w->binit))) return fail(E);
    if (slot[A_LR]) {
        if (get_num(E, s->env, slot[A_LR], 0, 1e6, "lr_mult", &v)) return fail(E);
        w->lr = (float)v;
    }
    if (slot[A_DECAY]) {
        if (get_num(E, s->env, slot[A_DECAY], 0, 1e6, "decay_mult", &v)) return fail(E);
        w->decay = (float)v;
    }
    if (slot[A_FREEZE] && get_bool(E, s->env, slot[A_FREEZE], "freeze", &w->freeze)) return fail(E);
    return 0;
}

/* weight and bias of conv/dense: PyTorch defaults unless init is given (then bias zeros) */
static int weight_bias(sema_ctx *E, scope *s, ir_node *nd, const char *lname, const wattr *w,
                       int ndim, const int64_t *wdims, int bias, int64_t fan_in, int64_t fan_out)
{
    init_spec ti = {IR_INIT_TORCH_DEFAULT, 0, 0}, zi = {IR_INIT_ZEROS, 0, 0};
    int pw = add_param(E, s, lname, IR_WEIGHT, ndim, wdims, w->has_init ? w->init : ti, fan_in, fan_out, w, nd->span);
    if (pw < 0) return 1;
    nd->param[nd->n_param++] = pw;
    if (bias) {
        int pb = add_param(E, s, lname, IR_BIAS, 1, wdims, w->has_binit ? w->binit : w->has_init ? zi : ti,
                           fan_in, fan_out, w, nd->span);
        if (pb < 0) return 1;
        nd->param[nd->n_param++] = pb;
    } else if (w->has_binit) {
        diag_error(E->d, nd->span, "bias_init is given but the layer has bias = false");
        return fail(E);
    }
    return 0;
}

static int no_input(sema_ctx *E, src_span sp, const char *what)
{
    diag_error(E->d, sp, "%s has no input", what);
    diag_hint(E->d, "a net starts with input [C, H, W] or input [C, D, H, W]");
    return fail(E);
}

/* the value named by a positional argument of add/concat */
static int value_arg(sema_ctx *E, scope *s, const ast_arg *a, int *node)
{
    if (a->name || a->value->kind != AE_NAME) {
        diag_error(E->d, a->name_span, "expected the name of a value (x = ... earlier in the body)");
        return fail(E);
    }
    const char *cands[64];
    int nc = 0;
    for (vbind *v = s->values; v; v = v->next) {
        if (!strcmp(v->name, a->value->name)) {
            *node = v->node;
            return 0;
        }
        if (nc < 64) cands[nc++] = v->name;
    }
    diag_error(E->d, a->value->span, "undefined value '%s'", a->value->name);
    if (!diag_did_you_mean(E->d, a->value->name, cands, nc))
        diag_hint(E->d, "name a value with '%s = layers...' on an earlier line of this body", a->value->name);
    return fail(E);
}

static int elab_join(sema_ctx *E, scope *s, int k, const ast_elem *el, int *cur)
{
    int ins[IR_MAX_IN + 1], n = 0;   /* ins[0]: the current value for concat(x) / add(x) */
    const ast_expr *name = NULL;
    src_span name_sp = el->span;
    for (int i = 0; i < el->args.n; i++) {
        const ast_arg *a = el->args.v[i];
        if (a->name && !strcmp(a->name, "name")) {
            name = a->value;
            name_sp = a->name_span;
            continue;
        }
        if (n >= IR_MAX_IN) {
            diag_error(E->d, a->value->span, "%s takes at most %d values", el->name, IR_MAX_IN);
            diag_hint(E->d, "join the first values in one %s, then that with the others", el->name);
            return fail(E);
        }
        if (a->name) {
            diag_error(E->d, a->name_span, "unknown attribute '%s' for %s", a->name, el->name);
            diag_hint(E->d, "%s takes values and name = ...", el->name);
            return fail(E);
        }
        if (value_arg(E, s, a, &ins[n + 1])) return 1;
        n++;
    }
    (void)name_sp;
    int *in = ins + 1;
    if (n == 0) {
        diag_error(E->d, el->span, "%s needs values, e.g. %s(x, y)", el->name, el->name);
        return fail(E);
    }
    if (n == 1) {
        if (*cur < 0) return no_input(E, el->span, el->name);
        in = ins;
        ins[0] = *cur;
        n = 2;
    }
    if (k == K_ADD && n != 2) {
        diag_error(E->d, el->span, "add takes two values, got %d", n);
        return fail(E);
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
        return fail(E);
    }
    const char *ln = make_name(E, s, name, specs[k].base, 0, el->span, "layer");
    if (!ln) return fail(E);
    int id = add_node(E, k == K_ADD ? IR_ADD : IR_CONCAT, full_name(E, s, ln), el->span, n, in, &out);
    if (id < 0) return 1;
    *cur = id;
    return 0;
}

static int elab_layer(sema_ctx *E, scope *s, int k, const ast_elem *el, int *cur)
{
    if (k == K_ADD || k == K_CONCAT) return elab_join(E, s, k, el, cur);
    if (*cur < 0) return no_input(E, el->span, el->name);
    const ast_expr *slot[A_N] = {0};
    src_span sp[A_N];
    if (collect_args(E, k, el, slot, sp)) return 1;
    ir_shape in = E->nodes[*cur].shape, out = in;
    E->cur_shape = &in;
    ir_node tmp = {0};
    tmp.span = el->span;
    wattr w = {0};
    if (get_wattr(E, s, slot, &w)) return 1;
    char b[96];
    ir_op op = IR_ACT;
    switch (k) {
    case K_CONV2D:
    case K_CONV3D: {
        int nsp = k == K_CONV2D ? 2 : 3;
        if (in.ndim != nsp + 1) {
            diag_error(E->d, el->span, "%s needs a %s input, but its input is %s", el->name,
                       nsp == 2 ? "[C, H, W]" : "[C, D, H, W]", shape_str(&in, b, sizeof b));
            if (in.ndim == 4 || in.ndim == 3) diag_hint(E->d, "use %s for this input", nsp == 2 ? "conv3d" : "conv2d");
            return fail(E);
        }
        ir_conv *c = &tmp.a.conv;
        c->nsp = nsp;
        int64_t ones[3] = {1, 1, 1};
        memcpy(c->stride, ones, sizeof ones);
        memcpy(c->dilation, ones, sizeof ones);
        c->groups = 1;
        c->bias = 1;
        shape_pad pm = PAD_VALID;
        if (need(E, slot[A_OUT], el, "out", "conv2d(64, kernel = 3)") ||
            need(E, slot[A_KERNEL], el, "kernel", "conv2d(64, kernel = 3)") ||
            get_int(E, s->env, slot[A_OUT], 1, FE_MAX_SIZE, "out", &c->out_ch) ||
            get_ints(E, s->env, slot[A_KERNEL], nsp, 1, "kernel", c->kernel) ||
            (slot[A_STRIDE] && get_ints(E, s->env, slot[A_STRIDE], nsp, 1, "stride", c->stride)) ||
            (slot[A_DILATION] && get_ints(E, s->env, slot[A_DILATION], nsp, 1, "dilation", c->dilation)) ||
            (slot[A_PAD] && get_pad(E, s->env, slot[A_PAD], nsp, &pm, c->pad_lo, c->pad_hi)) ||
            (slot[A_GROUPS] && get_int(E, s->env, slot[A_GROUPS], 1, FE_MAX_SIZE, "groups", &c->groups)) ||
            (slot[A_BIAS] && get_bool(E, s->env, slot[A_BIAS], "bias", &c->bias)))
            return fail(E);
        if (in.d[0] % c->groups || c->out_ch % c->groups) {
            diag_error(E->d, slot[A_GROUPS]->span, "groups = %lld must divide the input channels (%lld) "
                       "and the output channels (%lld)", (long long)c->groups, (long long)in.d[0],
                       (long long)c->out_ch);
            return fail(E);
        }
        if (shape_window(E->d, el->span, el->name, &in, nsp, c->kernel, c->stride, c->dilation, pm,
                         c->pad_lo, c->pad_hi, &out))
            return fail(E);
        out.d[0] = c->out_ch;
        op = IR_CONV;
        break;
    }
    case K_BN: {
        double eps = 1e-5, mom = 0.1;
        if ((slot[A_EPS] && get_num(E, s->env, slot[A_EPS], 1e-30, 1, "eps", &eps)) ||
            (slot[A_MOMENTUM] && get_num(E, s->env, slot[A_MOMENTUM], 0, 1, "momentum", &mom)))
            return fail(E);
        tmp.a.bn.eps = (float)eps;
        tmp.a.bn.momentum = (float)mom;
        op = IR_BN;
        break;
    }
    case K_RELU: case K_LRELU: case K_ELU: case K_SIGMOID: case K_TANH: {
        static const ir_act_kind acts[] = {IR_RELU, IR_LEAKY_RELU, IR_ELU, IR_SIGMOID, IR_TANH};
        double alpha = k == K_LRELU ? 0.01 : 1.0;
        if (slot[A_ALPHA] && get_num(E, s->env, slot[A_ALPHA], -1e6, 1e6, "alpha", &alpha)) return fail(E);
        tmp.a.act.kind = acts[k - K_RELU];
        tmp.a.act.alpha = k == K_LRELU || k == K_ELU ? (float)alpha : 0;
        op = IR_ACT;
        break;
    }
    case K_DROPOUT: {
        double p = 0.5;
        if (slot[A_P] && get_num(E, s->env, slot[A_P], 0, 0.999999, "p", &p)) return fail(E);
        tmp.a.dropout.p = (float)p;
        op = IR_DROPOUT;
        break;
    }
    case K_MAXPOOL:
    case K_AVGPOOL: {
        int nsp = in.ndim - 1;
        ir_pool *p = &tmp.a.pool;
        if (nsp != 2 && nsp != 3) {
            diag_error(E->d, el->span, "%s needs a [C, H, W] or [C, D, H, W] input, but its input is %s",
                       el->name, shape_str(&in, b, sizeof b));
            return fail(E);
        }
        p->nsp = nsp;
        p->max = k == K_MAXPOOL;
        p->count_include_pad = 1;
        int64_t ones[3] = {1, 1, 1};
        memcpy(p->stride, ones, sizeof ones);
        shape_pad pm = PAD_VALID;
        if (need(E, slot[A_KERNEL], el, "kernel", "maxpool(2) or avgpool(global)")) return 1;
        if (slot[A_KERNEL]->kind == AE_NAME && !strcmp(slot[A_KERNEL]->name, "global")) {
            if (slot[A_STRIDE] || slot[A_PAD]) {
                diag_error(E->d, sp[slot[A_STRIDE] ? A_STRIDE : A_PAD], "global pooling takes no stride or padding");
                return fail(E);
            }
            p->global = 1;
            for (int i = 0; i < nsp; i++) p->kernel[i] = in.d[1 + i];
        } else {
            if (get_ints(E, s->env, slot[A_KERNEL], nsp, 1, "kernel", p->kernel)) return fail(E);
            memcpy(p->stride, p->kernel, sizeof p->stride);
            if ((slot[A_STRIDE] && get_ints(E, s->env, slot[A_STRIDE], nsp, 1, "stride", p->stride)) ||
                (slot[A_PAD] && get_pad(E, s->env, slot[A_PAD], nsp, &pm, p->pad_lo, p->pad_hi)))
                return fail(E);
        }
        if (slot[A_CIP] && get_bool(E, s->env, slot[A_CIP], "count_include_pad", &p->count_include_pad)) return fail(E);
        if (shape_window(E->d, el->span, el->name, &in, nsp, p->kernel, p->stride, ones, pm, p->pad_lo,
                         p->pad_hi, &out))
            return fail(E);
        op = IR_POOL;
        break;
    }
    case K_DENSE: {
        tmp.a.dense.bias = 1;
        if (need(E, slot[A_OUT], el, "out", "dense(classes)") ||
            get_int(E, s->env, slot[A_OUT], 1, FE_MAX_SIZE, "out", &tmp.a.dense.out) ||
            (slot[A_BIAS] && get_bool(E, s->env, slot[A_BIAS], "bias", &tmp.a.dense.bias)))
            return fail(E);
        out = (ir_shape){1, {tmp.a.dense.out}};
        op = IR_DENSE;
        break;
    }
    case K_FLATTEN:
        out = (ir_shape){1, {shape_numel(&in)}};
        op = IR_RESHAPE;
        break;
    case K_FOLD:
        if (!(in.ndim == 3 || (in.ndim == 4 && in.d[1] == 1))) {
            diag_error(E->d, el->span, "fold turns [C, 1, H, W] or [C, H, W] into [1, C, H, W], "
                       "but its input is %s", shape_str(&in, b, sizeof b));
            return fail(E);
        }
        out = (ir_shape){4, {1, in.d[0], in.d[in.ndim - 2], in.d[in.ndim - 1]}};
        op = IR_RESHAPE;
        break;
    case K_RESHAPE: {
        sema_val v;
        if (need(E, slot[A_SHAPE], el, "a shape", "reshape [1, 128, 7, 7]") ||
            sema_eval(E, s->env, slot[A_SHAPE], &v))
            return fail(E);
        int infer = -1;
        int64_t known = 1;
        if (v.k != V_LIST || (v.n != 1 && v.n != 3 && v.n != 4)) goto bad_reshape;
        out.ndim = v.n;
        for (int i = 0; i < v.n; i++) {
            if (v.items[i].k != V_INT) goto bad_reshape;
            int64_t d = v.items[i].i;
            if (d == -1 && infer < 0) infer = i;
            else if (d < 1 || d > FE_MAX_SIZE) goto bad_reshape;
            else known *= d;
            out.d[i] = d;
        }
        int64_t n = shape_numel(&in);
        if (infer >= 0 && n % known == 0) out.d[infer] = n / known;
        if (infer >= 0 ? n % known != 0 : known != n) {
            diag_error(E->d, slot[A_SHAPE]->span, "reshape to %s needs %lld elements, but its input %s has %lld",
                       sema_val_str(E, &v), (long long)known, shape_str(&in, b, sizeof b), (long long)n);
            return fail(E);
        }
        op = IR_RESHAPE;
        break;
    bad_reshape:
        diag_error(E->d, slot[A_SHAPE]->span, "reshape needs a list of 1, 3 or 4 sizes (one may be -1), got %s",
                   sema_val_str(E, &v));
        return fail(E);
    }
    }
    E->cur_shape = NULL;
    const char *ln = make_name(E, s, slot[A_NAME], specs[k].base, 0, el->span, "layer");
    if (!ln) return fail(E);
    int id = add_node(E, op, full_name(E, s, ln), el->span, 1, cur, &out);
    if (id < 0) return 1;
    ir_node *nd = &E->nodes[id];
    nd->a = tmp.a;
    if (op == IR_CONV) {
        ir_conv *c = &nd->a.conv;
        int64_t dims[5] = {c->out_ch, in.d[0] / c->groups}, rf = 1;
        for (int i = 0; i < c->nsp; i++) rf *= dims[2 + i] = c->kernel[i];
        if (__builtin_mul_overflow(rf, dims[1], &rf) && (rf = -1)) {}
        if (rf < 0 || rf > FE_MAX_NUMEL) {
            diag_error(E->d, el->span, "the kernel of this layer is too large");
            return fail(E);
        }
        if (weight_bias(E, s, nd, ln, &w, 2 + c->nsp, dims, c->bias, rf, rf / dims[1] * c->out_ch)) return 1;
    } else if (op == IR_DENSE) {
        int64_t dims[2] = {nd->a.dense.out, shape_numel(&in)};
        if (weight_bias(E, s, nd, ln, &w, 2, dims, nd->a.dense.bias, dims[1], dims[0])) return 1;
    } else if (op == IR_BN) {
        init_spec one = {IR_INIT_ONES, 0, 0}, zero = {IR_INIT_ZEROS, 0, 0};
        const init_spec in4[4] = {w.has_init ? w.init : one, w.has_binit ? w.binit : zero, zero, one};
        for (int r = 0; r < 4; r++) {
            int p = add_param(E, s, ln, (ir_role)(IR_GAMMA + r), 1, &in.d[0], in4[r], in.d[0], in.d[0], &w, el->span);
            if (p < 0) return 1;
            nd->param[nd->n_param++] = p;
        }
    }
    *cur = id;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* structure: repeat, residual, branch, block calls */

static scope child(sema_ctx *E, const scope *s, const char *name)
{
    scope c = *s;
    c.path = mem_printf(E->a, "%s%s.", s->path, name);
    c.ppath = mem_printf(E->a, "%s%s.", s->ppath, name);
    c.top = 0;
    c.body_start = c.values;
    return c;
}

static const ast_expr *take_arg(sema_ctx *E, const ast_elem *el, const char *const *allowed, int n, const ast_expr **slot)
{
    for (int i = 0; i < el->args.n; i++) {
        const ast_arg *a = el->args.v[i];
        int which = -1;
        for (int j = 0; j < n; j++)
            if (a->name && !strcmp(a->name, allowed[j])) which = j;
        if (which < 0) {
            if (!a->name) diag_error(E->d, a->name_span, "%s takes only named arguments", el->kind == EL_RESIDUAL ? "residual" : "branch");
            else {
                diag_error(E->d, a->name_span, "unknown attribute '%s' for %s", a->name, el->kind == EL_RESIDUAL ? "residual" : "branch");
                diag_did_you_mean(E->d, a->name, allowed, n);
            }
            fail(E);
            return NULL;
        }
        if (slot[which]) {
            diag_error(E->d, a->name_span, "'%s' is given twice", a->name);
            fail(E);
            return NULL;
        }
        slot[which] = a->value;
    }
    return (const ast_expr *)1;
}

static int elab_shortcut(sema_ctx *E, scope *s, const ast_expr *x, int *cur)
{
    if (x->kind == AE_PIPE) return elab_body(E, s, x->body, cur);
    if (x->kind == AE_NAME || x->kind == AE_CALL) {
        ast_elem el = {0};
        el.kind = EL_CALL;
        el.span = x->span;
        el.name = x->name;
        el.parens = x->kind == AE_CALL;
        el.args = x->items;
        return elab_elem(E, s, &el, cur);
    }
    diag_error(E->d, x->span, "a shortcut is a layer, e.g. conv3d(24, kernel = 1), or { layers }");
    return fail(E);
}

static int elab_residual(sema_ctx *E, scope *s, const ast_elem *el, int *cur)
{
    static const char *const allowed[] = {"name", "shortcut"};
    const ast_expr *slot[2] = {0};
    if (*cur < 0) return no_input(E, el->span, "residual");
    if (!take_arg(E, el, allowed, 2, slot)) return 1;
    const char *ln = make_name(E, s, slot[0], "res", 0, el->span, "residual");
    if (!ln) return fail(E);
    scope c = slot[0] ? child(E, s, ln) : *s;
    int x = *cur, y = x, sc = x;
    if (elab_body(E, &c, el->body, &y)) return 1;
    if (slot[1] && elab_shortcut(E, &c, slot[1], &sc)) return 1;
    const ir_shape *a = &E->nodes[sc].shape, *b = &E->nodes[y].shape;
    if (!shape_equal(a, b)) {
        char s1[96], s2[96];
        diag_error(E->d, el->span, "residual: the body gives %s but the shortcut gives %s",
                   shape_str(b, s1, sizeof s1), shape_str(a, s2, sizeof s2));
        diag_hint(E->d, a->ndim == b->ndim && a->d[0] != b->d[0]
                  ? "project the shortcut: residual(shortcut = conv2d(channels, 1)) { ... }"
                  : "keep the spatial size in the body (pad = same, stride 1)");
        return fail(E);
    }
    int in[2] = {sc, y};
    int id = add_node(E, IR_ADD, full_name(E, s, ln), el->span, 2, in, a);
    if (id < 0) return 1;
    *cur = id;
    return 0;
}

static int elab_branch(sema_ctx *E, scope *s, const ast_elem *el, int *cur)
{
    static const char *const allowed[] = {"name"};
    static const char *const combines[] = {"concat", "add"};
    const ast_expr *slot[1] = {0};
    if (*cur < 0) return no_input(E, el->span, "branch");
    if (!take_arg(E, el, allowed, 1, slot)) return 1;
    int is_add = !strcmp(el->combine, "add");
    if (!is_add && strcmp(el->combine, "concat")) {
        diag_error(E->d, el->combine_span, "a branch ends with 'concat' or 'add', not '%s'", el->combine);
        diag_did_you_mean(E->d, el->combine, combines, 2);
        return fail(E);
    }
    if (el->arms.n > IR_MAX_IN) {
        diag_error(E->d, el->span, "a branch has at most %d arms, this one has %d", IR_MAX_IN,
                   el->arms.n);
        diag_hint(E->d, "nest branches: one arm can be a branch of its own");
        return fail(E);
    }
    const char *ln = make_name(E, s, slot[0], "branch", 0, el->span, "branch");
    if (!ln) return fail(E);
    scope c = slot[0] ? child(E, s, ln) : *s;
    int outs[IR_MAX_IN];
    for (int i = 0; i < el->arms.n; i++) {
        scope arm = slot[0] ? child(E, &c, mem_printf(E->a, "%d", i)) : *s;
        outs[i] = *cur;
        if (elab_body(E, &arm, el->arms.v[i], &outs[i])) return 1;
    }
    ir_shape out = E->nodes[outs[0]].shape;
    int ok = 1;
    for (int i = 1; i < el->arms.n; i++) {
        ir_shape t = E->nodes[outs[i]].shape, u = out;
        if (!is_add) {
            out.d[0] += t.d[0];
            t.d[0] = u.d[0] = 0;
        }
        ok &= shape_equal(&t, &u);
    }
    if (!ok) {
        const char *list = "";
        char b[96];
        for (int i = 0; i < el->arms.n; i++)
            list = mem_printf(E->a, "%s%s%s", list, i ? ", " : "", shape_str(&E->nodes[outs[i]].shape, b, sizeof b));
        diag_error(E->d, el->span, "the arms of this branch give %s: %s", list,
                   is_add ? "add needs equal shapes" : "concat needs all dims but the channels equal");
        return fail(E);
    }
    if (is_add && el->arms.n > 2) {
        diag_error(E->d, el->span, "a branch ending with 'add' has two arms, this one has %d", el->arms.n);
        return fail(E);
    }
    if (el->arms.n == 1) {
        *cur = outs[0];
        return 0;
    }
    int id = add_node(E, is_add ? IR_ADD : IR_CONCAT, full_name(E, s, ln), el->span, el->arms.n, outs, &out);
    if (id < 0) return 1;
    *cur = id;
    return 0;
}

/* Repeat iterations and block calls, which may do no other work (empty bodies), are bounded
 * too, so nested repeats or a tree of block calls cannot run for ever. */
static int count_work(sema_ctx *E, src_span sp)
{
    if (++E->iterations <= FE_MAX_ITERATIONS) return 0;
    diag_error(E->d, sp, "more than %d repeat iterations and block calls in all", FE_MAX_ITERATIONS);
    diag_hint(E->d, "check the repeat counts");
    return fail(E);
}

static int elab_call(sema_ctx *E, scope *s, const ast_decl *blk, const ast_elem *el, int *cur)
{
    if (count_work(E, el->span)) return 1;
    for (int i = 0; i < E->n_blocks; i++)
        if (!strcmp(E->blocks[i], blk->name)) {
            diag_error(E->d, el->span, "block '%s' calls itself", blk->name);
            return fail(E);
        }
    if (E->n_blocks >= FE_MAX_BLOCK_DEPTH) {
        diag_error(E->d, el->span, "blocks call each other more than %d deep", FE_MAX_BLOCK_DEPTH);
        return fail(E);
    }
    int np = blk->params.n;
    const ast_expr **given = mem_alloc(E->a, (size_t)(np + 1) * sizeof *given);
    const ast_expr *name = NULL, *attr[3] = {0};
    static const char *const attrs[] = {"lr_mult", "decay_mult", "freeze"};
    int pos = 0;
    ir_shape in;
    if (*cur >= 0) {
        in = E->nodes[*cur].shape;
        E->cur_shape = &in;
    }
    for (int i = 0; i < el->args.n; i++) {
        const ast_arg *a = el->args.v[i];
        int which = -1;
        if (!a->name) {
            if (pos >= np) {
                diag_error(E->d, a->name_span, "block '%s' takes %d argument%s, got more", blk->name, np, np == 1 ? "" : "s");
                diag_note(E->d, blk->span, "'%s' is declared here", blk->name);
                return fail(E);
            }
            which = pos++;
        } else {
            for (int j = 0; j < np; j++)
                if (!strcmp(((ast_param *)blk->params.v[j])->name, a->name)) which = j;
            if (which < 0) {
                if (!strcmp(a->name, "name")) { name = a->value; continue; }
                int at = -1;
                for (int j = 0; j < 3; j++)
                    if (!strcmp(a->name, attrs[j])) at = j;
                if (at >= 0) { attr[at] = a->value; continue; }
                const char *cands[64];
                int nc = 0;
                for (int j = 0; j < np && nc < 60; j++) cands[nc++] = ((ast_param *)blk->params.v[j])->name;
                cands[nc++] = "name";
                for (int j = 0; j < 3; j++) cands[nc++] = attrs[j];
                diag_error(E->d, a->name_span, "block '%s' has no parameter '%s'", blk->name, a->name);
                diag_did_you_mean(E->d, a->name, cands, nc);
                return fail(E);
            }
        }
        if (given[which]) {
            diag_error(E->d, a->name_span, "parameter '%s' is given twice", ((ast_param *)blk->params.v[which])->name);
            return fail(E);
        }
        given[which] = a->value;
    }
    sema_bind *env = NULL;
    for (int j = 0; j < np; j++) {
        const ast_param *p = blk->params.v[j];
        sema_bind *b = mem_alloc(E->a, sizeof *b);
        b->name = p->name;
        b->span = p->span;
        if (given[j]) {
            if (sema_eval(E, s->env, given[j], &b->v)) return fail(E);
        } else if (p->def) {
            const ir_shape *save = E->cur_shape;
            if (sema_eval(E, env, p->def, &b->v)) return fail(E);
            E->cur_shape = save;
        } else {
            diag_error(E->d, el->span, "block '%s' needs a value for its parameter '%s'", blk->name, p->name);
            diag_note(E->d, p->span, "'%s' is declared here without a default", p->name);
            return fail(E);
        }
        b->next = env;
        env = b;
    }
    scope c = *s;
    double v;
    int fr = 0;
    if (attr[0]) { if (get_num(E, s->env, attr[0], 0, 1e6, "lr_mult", &v)) return fail(E); c.lr *= (float)v; }
    if (attr[1]) { if (get_num(E, s->env, attr[1], 0, 1e6, "decay_mult", &v)) return fail(E); c.decay *= (float)v; }
    if (attr[2]) { if (get_bool(E, s->env, attr[2], "freeze", &fr)) return fail(E); c.freeze |= fr; }
    E->cur_shape = NULL;
    const char *ln = make_name(E, s, name, blk->name, 1, el->span, "block call");
    if (!ln) return fail(E);
    c.path = mem_printf(E->a, "%s%s.", s->path, ln);
    c.ppath = blk->shared && !s->shared ? mem_printf(E->a, "%s.", blk->name) : mem_printf(E->a, "%s%s.", s->ppath, ln);
    c.shared = s->shared || blk->shared;
    c.top = 0;
    c.env = env;
    c.values = c.body_start = NULL;
    E->blocks[E->n_blocks++] = blk->name;
    int r = elab_body(E, &c, blk->body, cur);
    E->n_blocks--;
    if (r) diag_note(E->d, el->span, "in block '%s' called here", blk->name);
    return r;
}

static int elab_elem(sema_ctx *E, scope *s, const ast_elem *el, int *cur)
{
    if (E->failed || E->d->stop) return 1;
    switch (el->kind) {
    case EL_REPEAT: {
        int64_t n;
        ir_shape in;
        if (*cur >= 0) {
            in = E->nodes[*cur].shape;
            E->cur_shape = &in;
        }
        int64_t first = 0;
        int r = get_int(E, s->env, el->count, 0, FE_MAX_NODES, "the repeat count", &n) ||
                (el->start && get_int(E, s->env, el->start, 0, FE_MAX_SIZE, "the first repeat index", &first));
        E->cur_shape = NULL;
        if (r) return fail(E);
        for (int64_t i = first; i < first + n; i++) {
            if (count_work(E, el->span)) return 1;
            scope c = child(E, s, mem_printf(E->a, "%lld", (long long)i));
            if (elab_body(E, &c, el->body, cur)) return 1;
        }
        return 0;
    }
    case EL_RESIDUAL: return elab_residual(E, s, el, cur);
    case EL_BRANCH: return elab_branch(E, s, el, cur);
    case EL_CALL: break;
    }
    if (!el->parens)
        for (vbind *v = s->values; v; v = v->next)
            if (!strcmp(v->name, el->name)) {
                *cur = v->node;
                return 0;
            }
    int k = builtin_kind(el->name);
    if (k >= 0) return elab_layer(E, s, k, el, cur);
    sema_ent *d = sema_map_get(&E->decls, el->name);
    if (d) {
        const ast_decl *blk = E->file->decls.v[d->val];
        if (!blk->is_net) return elab_call(E, s, blk, el, cur);
        diag_error(E->d, el->span, "'%s' is a net; only blocks can be used as layers", el->name);
        diag_hint(E->d, "declare it as 'block %s(...) { ... }'", el->name);
        return fail(E);
    }
    for (vbind *v = s->values; v; v = v->next)
        if (!strcmp(v->name, el->name)) {
            diag_error(E->d, el->span, "'%s' is a value, not a layer: write it without arguments", el->name);
            return fail(E);
        }
    for (sema_bind *b = s->env; b; b = b->next)
        if (!strcmp(b->name, el->name)) {
            diag_error(E->d, el->span, "'%s' is a parameter, not a layer or a value", el->name);
            return fail(E);
        }
    const char *cands[256];
    int nc = 0;
    for (int i = 0; i < K_N; i++) cands[nc++] = specs[i].kind;
    for (int i = 0; i < E->file->decls.n && nc < 200; i++) cands[nc++] = ((ast_decl *)E->file->decls.v[i])->name;
    for (vbind *v = s->values; v && nc < 256; v = v->next) cands[nc++] = v->name;
    diag_error(E->d, el->span, "unknown layer '%s'", el->name);
    if (!diag_did_you_mean(E->d, el->name, cands, nc))
        diag_hint(E->d, "layers: conv2d conv3d bn relu leaky_relu elu sigmoid tanh dropout maxpool "
                        "avgpool dense flatten fold reshape add concat, or a block of this file");
    return fail(E);
}

static int define_value(sema_ctx *E, scope *s, const char *name, src_span sp, int node)
{
    if (sema_is_builtin(name) || sema_map_get(&E->decls, name)) {
        diag_error(E->d, sp, "'%s' is a %s; a value needs another name", name,
                   sema_is_builtin(name) ? "built-in layer" : "block");
        return fail(E);
    }
    for (vbind *v = s->values; v && v != s->body_start; v = v->next)
        if (!strcmp(v->name, name)) {
            diag_error(E->d, sp, "value '%s' is defined twice", name);
            diag_note(E->d, v->span, "first defined here");
            return fail(E);
        }
    vbind *v = mem_alloc(E->a, sizeof *v);
    v->name = name;
    v->node = node;
    v->span = sp;
    v->next = s->values;
    s->values = v;
    return 0;
}

static int elab_input(sema_ctx *E, scope *s, const ast_stmt *st, int *cur)
{
    if (!s->top) {
        diag_error(E->d, st->span, "'input' belongs to the net's own body");
        return fail(E);
    }
    if (E->input >= 0) {
        diag_error(E->d, st->span, "the net has a second input");
        diag_note(E->d, E->nodes[E->input].span, "the first input is here");
        return fail(E);
    }
    const ast_expr *x = st->dims;
    ir_shape sh = {x->items.n, {0}};
    if (x->items.n != 1 && x->items.n != 3 && x->items.n != 4) {
        diag_error(E->d, x->span, "input must be [F], [C, H, W] or [C, D, H, W], got %d dims", x->items.n);
        return fail(E);
    }
    for (int i = 0; i < x->items.n; i++)
        if (get_int(E, s->env, x->items.v[i], 1, FE_MAX_SIZE, "an input size", &sh.d[i])) return fail(E);
    sema_ent *e = sema_map_put(E->a, &E->names, mem_strdup(E->a, "input"));
    if (e->val >= 0) {
        diag_error(E->d, st->span, "'input' is already used as a layer name");
        diag_note(E->d, e->span, "here");
        return fail(E);
    }
    e->val = 1;
    e->span = st->span;
    int id = add_node(E, IR_INPUT, "input", st->span, 0, NULL, &sh);
    if (id < 0) return 1;
    E->input = *cur = id;
    return 0;
}

static int elab_loss(sema_ctx *E, scope *s, const ast_stmt *st, int *cur)
{
    static const char *const losses[] = {"softmax_cross_entropy"};
    if (!s->top) {
        diag_error(E->d, st->span, "'loss' belongs to the net's own body, after its last layer");
        return fail(E);
    }
    if (strcmp(st->loss, losses[0])) {
        diag_error(E->d, st->loss_span, "unknown loss '%s'", st->loss);
        if (!diag_did_you_mean(E->d, st->loss, losses, 1)) diag_hint(E->d, "losses: softmax_cross_entropy");
        return fail(E);
    }
    if (*cur < 0) return no_input(E, st->span, "the loss");
    const ir_shape *lg = &E->nodes[*cur].shape;
    int ok = 1;
    for (int i = 1; i < lg->ndim; i++) ok &= lg->d[i] == 1;
    if (!ok) {
        char b[96];
        diag_error(E->d, st->span, "the loss needs logits [K] or [K, 1, ...], but its input is %s",
                   shape_str(lg, b, sizeof b));
        diag_hint(E->d, "reduce the spatial dims first, e.g. avgpool(global) or dense(classes)");
        return fail(E);
    }
    sema_ent *e = sema_map_put(E->a, &E->names, mem_strdup(E->a, "loss"));
    if (e->val >= 0) {
        diag_error(E->d, st->span, "'loss' is already used as a layer name");
        diag_note(E->d, e->span, "here");
        return fail(E);
    }
    e->val = 1;
    e->span = st->span;
    ir_shape one = {1, {1}};
    int id = add_node(E, IR_LOSS, "loss", st->span, 1, cur, &one);
    if (id < 0) return 1;
    E->logits = *cur;
    E->loss = *cur = id;
    E->loss_span = st->span;
    return 0;
}

static int elab_body(sema_ctx *E, scope *s, const ast_body *b, int *cur)
{
    scope body = *s;
    body.body_start = s->values;
    for (int i = 0; i < b->stmts.n; i++) {
        const ast_stmt *st = b->stmts.v[i];
        if (E->failed || E->d->stop) return 1;
        if (E->loss >= 0) {
            diag_error(E->d, st->span, "nothing may follow the loss");
            diag_note(E->d, E->loss_span, "the loss is here");
            return fail(E);
        }
        int c = *cur;
        if (st->kind == ST_INPUT) {
            if (elab_input(E, &body, st, &c)) return 1;
        } else if (st->kind == ST_LOSS) {
            if (elab_loss(E, &body, st, &c)) return 1;
        } else {
            for (int j = 0; j < st->elems.n; j++)
                if (elab_elem(E, &body, st->elems.v[j], &c)) return fail(E);
        }
        if (st->assign) {
            if (c < 0) return no_input(E, st->assign_span, st->assign);
            if (define_value(E, &body, st->assign, st->assign_span, c)) return 1;
        }
        *cur = c;
    }
    return 0;
}

int sema_net_body(sema_ctx *E, const ast_decl *net, sema_bind *env)
{
    scope s = {"", E->pprefix, 0, 1, env, NULL, NULL, 1, 1, 0};
    int cur = -1;
    E->input = E->logits = E->loss = -1;
    if (elab_body(E, &s, net->body, &cur)) return 1;
    if (E->input < 0) {
        diag_error(E->d, net->span, "net '%s' has no input", net->name);
        diag_hint(E->d, "start its body with input [C, H, W] or input [C, D, H, W]");
        return fail(E);
    }
    if (E->loss < 0) {
        diag_error(E->d, net->span, "net '%s' has no loss", net->name);
        diag_hint(E->d, "end its body with: loss softmax_cross_entropy");
        return fail(E);
    }
    return 0;
}
