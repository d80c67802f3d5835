/* sema_graph.c — the graph being built: names (C-safe, unique per scope, automatic <kind><n>),
 * nodes (with the node limit and size checks) and parameters (one table for all graphs; a
 * shared block's parameters are found again, not made twice). It evaluates nothing and infers
 * no shape: callers pass shapes and dims already checked.
 */
#include <stdio.h>
#include <string.h>

#include "sema_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* C names: every layer, block and parameter name becomes part of a C identifier */

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
/* names, nodes, parameters */

int sema_fail(sema_ctx *E) { E->failed = 1; return 1; }

const char *sema_full_name(sema_ctx *E, const sema_scope *s, const char *local)
{
    return mem_printf(E->a, "%s%s", s->path, local);
}

/* explicit: checked (identifier, C-safe, unused in this scope); automatic: base<n> counted
 * per scope and base, skipping names already taken (say by an explicit conv1). */
const char *sema_make_name(sema_ctx *E, const sema_scope *s, const ast_expr *explicit_name,
                           const char *base, int bare_first, src_span sp, const char *what)
{
    if (explicit_name) {
        if (explicit_name->kind != AE_NAME) {
            diag_error(E->d, explicit_name->span, "name must be an identifier");
            return NULL;
        }
        const char *n = explicit_name->name;
        if (sema_bad_c_name(E, n, explicit_name->span, what)) return NULL;
        sema_ent *e = sema_map_put(E->a, &E->names, sema_full_name(E, s, n));
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
        sema_ent *e = sema_map_put(E->a, &E->names, sema_full_name(E, s, n));
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

int sema_add_node(sema_ctx *E, ir_op op, const char *name, src_span sp, int n_in, const int *in,
                  const ir_shape *shape)
{
    if (E->total_nodes >= FE_MAX_NODES) {
        diag_error(E->d, sp, "the network has more than %d layers", FE_MAX_NODES);
        diag_hint(E->d, "check the repeat counts");
        sema_fail(E);
        return -1;
    }
    char b[96];
    if (shape_numel(shape) < 0) {
        diag_error(E->d, sp, "the output %s of this layer is too large (more than 2^40 elements)",
                   shape_str(shape, b, sizeof b));
        sema_fail(E);
        return -1;
    }
    /* every size is at most FE_MAX_SIZE, also one made here: a concat's channels, a flatten,
     * a reshape's -1, a bidirectional gru's 2 * hidden (the arguments are checked where given) */
    for (int i = 0; i < shape->ndim; i++)
        if (shape->d[i] > FE_MAX_SIZE) {
            diag_error(E->d, sp, "the output %s of this layer has a size larger than %d",
                       shape_str(shape, b, sizeof b), FE_MAX_SIZE);
            diag_hint(E->d, "every size (channels, features, spatial dims) is at most %d: keep "
                      "fewer features before it, e.g. pool before flatten or dense", FE_MAX_SIZE);
            sema_fail(E);
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

/* Parameter q met again under its name: only a shared block's, with the same dims, is found
 * again (its index); anything else is an error (-1). */
static int param_again(sema_ctx *E, const sema_scope *s, int q_idx, const char *name, int ndim,
                       const int64_t *dims, sema_init init, const sema_wattr *w, src_span sp)
{
    ir_param *q = &E->params[q_idx];
    if (!s->shared || !q->shared) {
        diag_error(E->d, sp, "two parameters are named '%s'", name);
        diag_note(E->d, q->span, "the first is made here");
        diag_hint(E->d, "give one of the layers another name = ...");
        return sema_fail(E), -1;
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
        return sema_fail(E), -1;
    }
    /* one weight set has one init and one set of training attributes: a use asking for others
     * (init = gaussian(sd) with another sd, lr_mult, decay_mult, freeze of the call) would be
     * silently ignored */
    float lr = w->lr * s->lr, decay = w->decay * s->decay;
    int freeze = w->freeze || s->freeze;
    const char *what = q->init != init.kind || q->init_a != init.a || q->init_b != init.b ? "init"
                     : q->lr_mult != lr ? "lr_mult" : q->decay_mult != decay ? "decay_mult"
                     : q->freeze != freeze ? "freeze" : NULL;
    if (what) {
        diag_error(E->d, sp, "shared parameter '%s' gets another %s here%s%s%s than where it was first "
                   "made", name, what, *E->domain ? " (domain '" : "", E->domain, *E->domain ? "')" : "");
        if (q->span.line != sp.line || q->span.col != sp.col) diag_note(E->d, q->span, "first made here");
        diag_hint(E->d, "a shared block's parameters are one set: give every use of it the same init, "
                  "lr_mult, decay_mult and freeze");
        return sema_fail(E), -1;
    }
    return q_idx;
}

/* The emitted C names a parameter P_<name> with '.' as '_': "x.a_b" and "x_a.b" would clash
 * there. Registers name's C name for parameter E->n_params; 1 after reporting a clash. */
static int c_name_clash(sema_ctx *E, const char *name, src_span sp)
{
    char *cname = mem_printf(E->a, "%s", name);
    for (char *c = cname; *c; c++)
        if (*c == '.') *c = '_';
    sema_ent *ce = sema_map_put(E->a, &E->pcmap, cname);
    if (ce->val >= 0) {
        diag_error(E->d, sp, "parameter '%s' would have the same C name as '%s' (%s)", name,
                   E->params[ce->val].name, cname);
        diag_note(E->d, E->params[ce->val].span, "'%s' is made here", E->params[ce->val].name);
        diag_hint(E->d, "give one of the layers (or blocks) another name = ...");
        return sema_fail(E);
    }
    ce->val = E->n_params;
    return 0;
}

int sema_add_param(sema_ctx *E, const sema_scope *s, const char *layer, ir_role role, int ndim,
                   const int64_t *dims, sema_init init, int64_t fan_in, int64_t fan_out,
                   const sema_wattr *w, src_span sp)
{
    return sema_add_param_as(E, s, layer, role_names[role], role, ndim, dims, init, fan_in,
                             fan_out, w, sp);
}

int sema_add_param_as(sema_ctx *E, const sema_scope *s, const char *layer, const char *suffix,
                      ir_role role, int ndim, const int64_t *dims, sema_init init, int64_t fan_in,
                      int64_t fan_out, const sema_wattr *w, src_span sp)
{
    const char *name = mem_printf(E->a, "%s%s.%s", s->ppath, layer, suffix);
    if (strlen(name) > IR_MAX_NAME) {
        diag_error(E->d, sp, "the parameter name '%s' has %zu characters, more than %d", name,
                   strlen(name), IR_MAX_NAME);
        diag_hint(E->d, "give this layer, or the blocks and branches around it, shorter names");
        return sema_fail(E), -1;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(numel, dims[i], &numel) || numel > FE_MAX_NUMEL) {
            diag_error(E->d, sp, "parameter '%s' is too large (more than 2^40 elements)", name);
            return sema_fail(E), -1;
        }
    /* a size like any other (a dense layer's input features: every value of its input) */
    for (int i = 0; i < ndim; i++)
        if (dims[i] > FE_MAX_SIZE) {
            diag_error(E->d, sp, "parameter '%s' would have a size of %lld, larger than %d", name,
                       (long long)dims[i], FE_MAX_SIZE);
            diag_hint(E->d, "every size is at most %d: give the layer fewer input features "
                      "(pool or a smaller layer before it)", FE_MAX_SIZE);
            return sema_fail(E), -1;
        }
    sema_ent *e = sema_map_put(E->a, &E->pmap, name);
    if (e->val >= 0) return param_again(E, s, e->val, name, ndim, dims, init, w, sp);
    if (c_name_clash(E, name, sp)) return -1;
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

int sema_no_input(sema_ctx *E, src_span sp, const char *what)
{
    diag_error(E->d, sp, "%s has no input", what);
    diag_hint(E->d, "a net starts with input [C, H, W] or input [C, D, H, W]");
    return sema_fail(E);
}

