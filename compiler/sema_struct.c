/* sema_struct.c — the structure of a net's body: statements (input, loss, `x = ...` values),
 * block calls (arguments bound, inlined under their name, shared blocks' parameters kept once),
 * repeat, residual and branch; nodes come out in topological order. Elaboration stops at its
 * first error: later errors would only echo it. Built-in layers are sema_layers.c's; values
 * sema_expr.c's; declarations, domains and -D values frontend.c's.
 *
 * Naming (LANGUAGE.md): a scope path is joined with '.': block call `trunk`, repeat index `0`,
 * a residual or branch given `name = x` (then its arms `0`, `1`...); a layer is `name = ...`
 * or the automatic `<kind><n>` counted per scope and kind (conv0, bn0, conv1...).
 */
#include <stdio.h>
#include <string.h>

#include "sema_internal.h"

static int elab_body(sema_ctx *E, sema_scope *s, const ast_body *b, int *cur);
static int elab_elem(sema_ctx *E, sema_scope *s, const ast_elem *el, int *cur);

/* ------------------------------------------------------------------------------------------ */
/* residual and branch */

static sema_scope child(sema_ctx *E, const sema_scope *s, const char *name)
{
    sema_scope c = *s;
    c.path = mem_printf(E->a, "%s%s.", s->path, name);
    c.ppath = mem_printf(E->a, "%s%s.", s->ppath, name);
    c.top = 0;
    c.body_start = c.values;
    return c;
}

/* The scope of an unnamed residual's body or shortcut, or a branch's arm: the enclosing one's
 * names, but never the net's own body (input and loss belong there, not in a nested body). */
static sema_scope inner(const sema_scope *s)
{
    sema_scope c = *s;
    c.top = 0;
    return c;
}

/* The named arguments of residual or branch into slot[] (in the order of allowed). */
static int take_arg(sema_ctx *E, const ast_elem *el, const char *const *allowed, int n, const ast_expr **slot)
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
            return sema_fail(E);
        }
        if (slot[which]) {
            diag_error(E->d, a->name_span, "'%s' is given twice", a->name);
            return sema_fail(E);
        }
        slot[which] = a->value;
    }
    return 0;
}

static int elab_shortcut(sema_ctx *E, sema_scope *s, const ast_expr *x, int *cur)
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
    return sema_fail(E);
}

static int elab_residual(sema_ctx *E, sema_scope *s, const ast_elem *el, int *cur)
{
    static const char *const allowed[] = {"name", "shortcut"};
    const ast_expr *slot[2] = {0};
    if (*cur < 0) return sema_no_input(E, el->span, "residual");
    if (take_arg(E, el, allowed, 2, slot)) return 1;
    const char *ln = sema_make_name(E, s, slot[0], "res", 0, el->span, "residual");
    if (!ln) return sema_fail(E);
    sema_scope c = slot[0] ? child(E, s, ln) : inner(s);
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
        return sema_fail(E);
    }
    int in[2] = {sc, y};
    int id = sema_add_node(E, IR_ADD, sema_full_name(E, s, ln), el->span, 2, in, a);
    if (id < 0) return 1;
    *cur = id;
    return 0;
}

static int elab_branch(sema_ctx *E, sema_scope *s, const ast_elem *el, int *cur)
{
    static const char *const allowed[] = {"name"};
    static const char *const combines[] = {"concat", "add"};
    const ast_expr *slot[1] = {0};
    if (*cur < 0) return sema_no_input(E, el->span, "branch");
    if (take_arg(E, el, allowed, 1, slot)) return 1;
    int is_add = !strcmp(el->combine, "add");
    if (!is_add && strcmp(el->combine, "concat")) {
        diag_error(E->d, el->combine_span, "a branch ends with 'concat' or 'add', not '%s'", el->combine);
        diag_did_you_mean(E->d, el->combine, combines, 2);
        return sema_fail(E);
    }
    if (el->arms.n > IR_MAX_IN) {
        diag_error(E->d, el->span, "a branch has at most %d arms, this one has %d", IR_MAX_IN,
                   el->arms.n);
        diag_hint(E->d, "nest branches: one arm can be a branch of its own");
        return sema_fail(E);
    }
    const char *ln = sema_make_name(E, s, slot[0], "branch", 0, el->span, "branch");
    if (!ln) return sema_fail(E);
    sema_scope c = slot[0] ? child(E, s, ln) : inner(s);
    int outs[IR_MAX_IN];
    for (int i = 0; i < el->arms.n; i++) {
        sema_scope arm = slot[0] ? child(E, &c, mem_printf(E->a, "%d", i)) : inner(s);
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
        diag_hint(E->d, is_add ? "end every arm with the same shape (a conv of kernel 1 sets the "
                                 "channels, pad = same keeps the spatial size), or join them with "
                                 "concat"
                               : "keep the spatial size equal in every arm (pad = same, crop)");
        return sema_fail(E);
    }
    if (el->arms.n == 1) {
        *cur = outs[0];
        return 0;
    }
    int id = sema_add_node(E, is_add ? IR_ADD : IR_CONCAT, sema_full_name(E, s, ln), el->span, el->arms.n, outs, &out);
    if (id < 0) return 1;
    *cur = id;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* block calls and repeat */

/* Repeat iterations and block calls, which may do no other work (empty bodies), are bounded
 * too, so nested repeats or a tree of block calls cannot run for ever. */
static int count_work(sema_ctx *E, src_span sp)
{
    if (++E->iterations <= FE_MAX_ITERATIONS) return 0;
    diag_error(E->d, sp, "more than %d repeat iterations and block calls in all", FE_MAX_ITERATIONS);
    diag_hint(E->d, "check the repeat counts");
    return sema_fail(E);
}

/* A block call's arguments: positional and named ones into given[] (one per block parameter),
 * and name = ..., lr_mult, decay_mult, freeze into *name and attr[] (in the order of attrs). */
static const char *const call_attrs[] = {"lr_mult", "decay_mult", "freeze"};

static int call_args(sema_ctx *E, const ast_decl *blk, const ast_elem *el, const ast_expr **given,
                     const ast_expr **name, const ast_expr **attr)
{
    int np = blk->params.n, pos = 0;
    for (int i = 0; i < el->args.n; i++) {
        const ast_arg *a = el->args.v[i];
        int which = -1;
        if (!a->name) {
            if (pos >= np) {
                diag_error(E->d, a->name_span, "block '%s' takes %d argument%s, got more", blk->name, np, np == 1 ? "" : "s");
                diag_note(E->d, blk->span, "'%s' is declared here", blk->name);
                return sema_fail(E);
            }
            which = pos++;
        } else {
            for (int j = 0; j < np; j++)
                if (!strcmp(((ast_param *)blk->params.v[j])->name, a->name)) which = j;
            if (which < 0) {
                if (!strcmp(a->name, "name")) { *name = a->value; continue; }
                int at = -1;
                for (int j = 0; j < 3; j++)
                    if (!strcmp(a->name, call_attrs[j])) at = j;
                if (at >= 0) { attr[at] = a->value; continue; }
                const char *cands[64];
                int nc = 0;
                for (int j = 0; j < np && nc < 60; j++) cands[nc++] = ((ast_param *)blk->params.v[j])->name;
                cands[nc++] = "name";
                for (int j = 0; j < 3; j++) cands[nc++] = call_attrs[j];
                diag_error(E->d, a->name_span, "block '%s' has no parameter '%s'", blk->name, a->name);
                diag_did_you_mean(E->d, a->name, cands, nc);
                return sema_fail(E);
            }
        }
        if (given[which]) {
            diag_error(E->d, a->name_span, "parameter '%s' is given twice", ((ast_param *)blk->params.v[which])->name);
            return sema_fail(E);
        }
        given[which] = a->value;
    }
    return 0;
}

/* The block's parameters bound: given values evaluated in the caller's scope, defaults in the
 * block's (earlier parameters visible). */
static int call_env(sema_ctx *E, const sema_scope *s, const ast_decl *blk, const ast_elem *el,
                    const ast_expr **given, sema_bind **out)
{
    sema_bind *env = NULL;
    for (int j = 0; j < blk->params.n; j++) {
        const ast_param *p = blk->params.v[j];
        sema_bind *b = mem_alloc(E->a, sizeof *b);
        b->name = p->name;
        b->span = p->span;
        if (given[j]) {
            if (sema_eval(E, s->env, given[j], &b->v)) return sema_fail(E);
        } else if (p->def) {
            const ir_shape *save = E->cur_shape;
            if (sema_eval(E, env, p->def, &b->v)) {   /* at the default: which call it was */
                diag_note(E->d, el->span, "in block '%s' called here", blk->name);
                return sema_fail(E);
            }
            E->cur_shape = save;
        } else {
            diag_error(E->d, el->span, "block '%s' needs a value for its parameter '%s'", blk->name, p->name);
            diag_note(E->d, p->span, "'%s' is declared here without a default", p->name);
            return sema_fail(E);
        }
        b->next = env;
        env = b;
    }
    *out = env;
    return 0;
}

static int elab_call(sema_ctx *E, sema_scope *s, const ast_decl *blk, const ast_elem *el, int *cur)
{
    if (count_work(E, el->span)) return 1;
    for (int i = 0; i < E->n_blocks; i++)
        if (!strcmp(E->blocks[i], blk->name)) {
            diag_error(E->d, el->span, "block '%s' calls itself", blk->name);
            return sema_fail(E);
        }
    if (E->n_blocks >= FE_MAX_BLOCK_DEPTH) {
        diag_error(E->d, el->span, "blocks call each other more than %d deep", FE_MAX_BLOCK_DEPTH);
        return sema_fail(E);
    }
    const ast_expr **given = mem_alloc(E->a, (size_t)(blk->params.n + 1) * sizeof *given);
    const ast_expr *name = NULL, *attr[3] = {0};
    ir_shape in;
    if (*cur >= 0) {
        in = E->nodes[*cur].shape;
        E->cur_shape = &in;
    }
    sema_bind *env = NULL;
    if (call_args(E, blk, el, given, &name, attr) || call_env(E, s, blk, el, given, &env)) return 1;
    sema_scope c = *s;
    double v;
    int fr = 0;
    if (attr[0]) { if (sema_get_num(E, s->env, attr[0], 0, 1e6, "lr_mult", &v)) return sema_fail(E); c.lr *= (float)v; }
    if (attr[1]) { if (sema_get_num(E, s->env, attr[1], 0, 1e6, "decay_mult", &v)) return sema_fail(E); c.decay *= (float)v; }
    if (attr[2]) { if (sema_get_bool(E, s->env, attr[2], "freeze", &fr)) return sema_fail(E); c.freeze |= fr; }
    E->cur_shape = NULL;
    const char *ln = sema_make_name(E, s, name, blk->name, 1, el->span, "block call");
    if (!ln) return sema_fail(E);
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

static int elab_repeat(sema_ctx *E, sema_scope *s, const ast_elem *el, int *cur)
{
    int64_t n;
    ir_shape in;
    if (*cur >= 0) {
        in = E->nodes[*cur].shape;
        E->cur_shape = &in;
    }
    int64_t first = 0;
    int r = sema_get_int(E, s->env, el->count, 0, FE_MAX_NODES, "the repeat count", &n) ||
            (el->start && sema_get_int(E, s->env, el->start, 0, FE_MAX_SIZE, "the first repeat index", &first));
    E->cur_shape = NULL;
    if (r) return sema_fail(E);
    for (int64_t i = first; i < first + n; i++) {
        if (count_work(E, el->span)) return 1;
        sema_scope c = child(E, s, mem_printf(E->a, "%lld", (long long)i));
        if (elab_body(E, &c, el->body, cur)) {
            /* the body's error points at its source, the same for every iteration: which one
             * it was (shapes change from one to the next) */
            if (n > 1)
                diag_note(E->d, el->span, "in iteration %lld of this repeat (%lld to %lld)", (long long)i,
                          (long long)first, (long long)(first + n - 1));
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* elements */

/* A call `name` that is no layer, block or value in scope: why, or the nearest name. */
static int unknown_layer(sema_ctx *E, const sema_scope *s, const ast_elem *el)
{
    for (sema_value *v = s->values; v; v = v->next)
        if (!strcmp(v->name, el->name)) {
            diag_error(E->d, el->span, "'%s' is a value, not a layer: write it without arguments", el->name);
            return sema_fail(E);
        }
    for (sema_bind *b = s->env; b; b = b->next)
        if (!strcmp(b->name, el->name)) {
            diag_error(E->d, el->span, "'%s' is a parameter, not a layer or a value", el->name);
            return sema_fail(E);
        }
    const char *cands[256];
    int nc = 0;
    for (const char *k; (k = sema_layer_name(nc));) cands[nc++] = k;
    for (int i = 0; i < E->file->decls.n && nc < 200; i++) cands[nc++] = ((ast_decl *)E->file->decls.v[i])->name;
    for (sema_value *v = s->values; v && nc < 256; v = v->next) cands[nc++] = v->name;
    diag_error(E->d, el->span, "unknown layer '%s'", el->name);
    if (!diag_did_you_mean(E->d, el->name, cands, nc))
        diag_hint(E->d, "layers: conv1d conv2d conv3d bn relu leaky_relu elu sigmoid tanh dropout "
                        "maxpool avgpool dense flatten fold reshape permute transpose gru lstm lrn "
                        "crop prelu softmax add concat, or a block of this file");
    return sema_fail(E);
}

/* One element of a statement: repeat, residual, branch, or a call: a value named earlier (no
 * parentheses), a built-in layer or a block. */
static int elab_elem_at(sema_ctx *E, sema_scope *s, const ast_elem *el, int *cur)
{
    switch (el->kind) {
    case EL_REPEAT: return elab_repeat(E, s, el, cur);
    case EL_RESIDUAL: return elab_residual(E, s, el, cur);
    case EL_BRANCH: return elab_branch(E, s, el, cur);
    case EL_CALL: break;
    }
    int k = sema_layer_kind(el->name);   /* a layer's or block's name is never a value's */
    if (!el->parens && k < 0 && !sema_map_get(&E->decls, el->name))   /* (define_value): no search */
        for (sema_value *v = s->values; v; v = v->next)
            if (!strcmp(v->name, el->name)) {
                *cur = v->node;
                return 0;
            }
    if (k >= 0) return sema_layer(E, s, k, el, cur);
    sema_ent *d = sema_map_get(&E->decls, el->name);
    if (d) {
        const ast_decl *blk = E->file->decls.v[d->val];
        if (!blk->is_net) return elab_call(E, s, blk, el, cur);
        diag_error(E->d, el->span, "'%s' is a net; only blocks can be used as layers", el->name);
        diag_hint(E->d, "declare it as 'block %s(...) { ... }'", el->name);
        return sema_fail(E);
    }
    return unknown_layer(E, s, el);
}

/* Elaboration recurses once per level of nesting, through the blocks called too (each may nest
 * its brackets 64 deep, 32 blocks deep: thousands of levels, megabytes of stack, a segfault
 * under ASan): the levels are counted. */
static int elab_elem(sema_ctx *E, sema_scope *s, const ast_elem *el, int *cur)
{
    if (E->failed || E->d->stop) return 1;
    if (E->nest >= FE_MAX_NEST) {
        diag_error(E->d, el->span, "structures nested more than %d deep (repeat, residual, branch "
                   "and block calls, counted through the blocks called)", FE_MAX_NEST);
        return sema_fail(E);
    }
    E->nest++;
    int r = elab_elem_at(E, s, el, cur);
    E->nest--;
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* statements and bodies */

static int define_value(sema_ctx *E, sema_scope *s, const char *name, src_span sp, int node)
{
    if (sema_is_builtin(name) || sema_map_get(&E->decls, name)) {
        diag_error(E->d, sp, "'%s' is a %s; a value needs another name", name,
                   sema_is_builtin(name) ? "built-in layer" : "block");
        return sema_fail(E);
    }
    /* a second definition in the same body, found by hashing (body, name): searching the
     * body's values for every definition was quadratic (60,000 values: a minute) */
    sema_ent *e = sema_map_put(E->a, &E->body_values, mem_printf(E->a, "%d\x01%s", s->body, name));
    if (e->val >= 0) {
        diag_error(E->d, sp, "value '%s' is defined twice", name);
        diag_note(E->d, e->span, "first defined here");
        return sema_fail(E);
    }
    e->val = 1;
    e->span = sp;
    sema_value *v = mem_alloc(E->a, sizeof *v);
    v->name = name;
    v->node = node;
    v->span = sp;
    v->next = s->values;
    s->values = v;
    return 0;
}

/* Registers the node name of input or loss; 1 after an error if a layer already has it. */
static int fixed_name(sema_ctx *E, const char *name, src_span sp)
{
    sema_ent *e = sema_map_put(E->a, &E->names, mem_strdup(E->a, name));
    if (e->val >= 0) {
        diag_error(E->d, sp, "'%s' is already used as a layer name", name);
        diag_note(E->d, e->span, "here");
        return sema_fail(E);
    }
    e->val = 1;
    e->span = sp;
    return 0;
}

__attribute__((noinline)) static int elab_input(sema_ctx *E, sema_scope *s, const ast_stmt *st, int *cur)
{
    if (!s->top) {
        diag_error(E->d, st->span, "'input' belongs to the net's own body");
        return sema_fail(E);
    }
    if (E->input >= 0) {
        diag_error(E->d, st->span, "the net has a second input");
        diag_note(E->d, E->nodes[E->input].span, "the first input is here");
        return sema_fail(E);
    }
    const ast_expr *x = st->dims;
    ir_shape sh = {x->items.n, {0}};
    if (x->items.n < 1 || x->items.n > 4) {
        diag_error(E->d, x->span, "input must be [F], [C, L], [C, H, W] or [C, D, H, W], got %d dims",
                   x->items.n);
        diag_hint(E->d, "a spectral net reads the centre pixel's spectrum: input [1, bands]; a patch "
                        "net input [bands, patch, patch] or [1, bands, patch, patch]");
        return sema_fail(E);
    }
    for (int i = 0; i < x->items.n; i++)
        if (sema_get_int(E, s->env, x->items.v[i], 1, FE_MAX_SIZE, "an input size", &sh.d[i])) return sema_fail(E);
    if (fixed_name(E, "input", st->span)) return 1;
    int id = sema_add_node(E, IR_INPUT, "input", st->span, 0, NULL, &sh);
    if (id < 0) return 1;
    E->input = *cur = id;
    return 0;
}

/* ---- losses: `loss KIND [(head = x, target = t, weight = w, label_smoothing = e)]` ------- */

enum { L_XENT, L_PIXEL, L_MSE, L_L1, L_N };
static const char *const loss_names[L_N] = {"softmax_cross_entropy", "pixel_cross_entropy", "mse", "l1"};
enum { LA_HEAD, LA_TARGET, LA_WEIGHT, LA_SMOOTH, LA_N };
static const char *const loss_arg_names[LA_N] = {"head", "target", "weight", "label_smoothing"};

/* The shape with its 1-sized dims dropped ([1, 204, 1, 1] -> [204]): what mse/l1 compare. */
static ir_shape squeezed(const ir_shape *s)
{
    ir_shape q = {0, {0}};
    for (int i = 0; i < s->ndim; i++)
        if (s->d[i] != 1) q.d[q.ndim++] = s->d[i];
    if (!q.ndim) q = (ir_shape){1, {1}};
    return q;
}

/* The loss statement's arguments by slot (all named). */
static int loss_args(sema_ctx *E, const ast_stmt *st, int kind, const ast_arg **slot)
{
    static const unsigned char allowed[L_N][LA_N] = {
        [L_XENT] = {1, 0, 1, 1}, [L_PIXEL] = {1, 0, 1, 1}, [L_MSE] = {1, 1, 1, 0}, [L_L1] = {1, 1, 1, 0}};
    for (int i = 0; i < st->loss_args.n; i++) {
        const ast_arg *a = st->loss_args.v[i];
        if (!a->name) {
            diag_error(E->d, a->name_span, "the arguments of a loss are named");
            diag_hint(E->d, "e.g. loss mse(head = rec, target = centre_spectrum, weight = 0.5)");
            return sema_fail(E);
        }
        int which = -1;
        const char *cands[LA_N];
        int nc = 0;
        for (int j = 0; j < LA_N; j++) {
            if (!allowed[kind][j]) continue;
            cands[nc++] = loss_arg_names[j];
            if (!strcmp(a->name, loss_arg_names[j])) which = j;
        }
        if (which < 0) {
            diag_error(E->d, a->name_span, "unknown attribute '%s' for loss %s", a->name, loss_names[kind]);
            if (!diag_did_you_mean(E->d, a->name, cands, nc)) {
                const char *list = "";
                for (int j = 0; j < nc; j++) list = mem_printf(E->a, "%s%s%s", list, j ? ", " : "", cands[j]);
                diag_hint(E->d, "%s takes: %s", loss_names[kind], list);
            }
            return sema_fail(E);
        }
        if (slot[which]) {
            diag_error(E->d, a->name_span, "'%s' is given twice", loss_arg_names[which]);
            diag_note(E->d, slot[which]->name_span, "first given here");
            return sema_fail(E);
        }
        slot[which] = a;
    }
    return 0;
}

/* head = NAME: a value named earlier in the net's body. */
static int loss_head(sema_ctx *E, sema_scope *s, const ast_arg *a, int *node)
{
    const ast_expr *x = a->value;
    if (x->kind != AE_NAME) {
        diag_error(E->d, x->span, "head = needs the name of a value (x = ... earlier in the body)");
        return sema_fail(E);
    }
    const char *cands[64];
    int nc = 0;
    for (sema_value *v = s->values; v; v = v->next) {
        if (!strcmp(v->name, x->name)) {
            *node = v->node;
            return 0;
        }
        if (nc < 64) cands[nc++] = v->name;
    }
    diag_error(E->d, x->span, "undefined value '%s'", x->name);
    if (!diag_did_you_mean(E->d, x->name, cands, nc))
        diag_hint(E->d, "name the head with '%s = layers...' on an earlier line of the net's body", x->name);
    return sema_fail(E);
}

/* The shape a target stands for, from the input's: [bands] for the centre pixel's spectrum. */
static ir_shape target_shape(const ir_shape *in, ir_loss_target t)
{
    if (t == IR_TARGET_INPUT) return *in;
    /* [bands, p, p], [1, bands, p, p]; a spectral input ([F], [C, L]) is the spectrum itself */
    int64_t bands = in->ndim == 4 ? in->d[1] : in->ndim == 3 ? in->d[0] : 1;
    for (int i = 0; in->ndim < 3 && i < in->ndim; i++) bands *= in->d[i];
    return (ir_shape){1, {bands}};
}

/* mse / l1: target = centre_spectrum | input, and a head of the target's shape. */
static int regression_target(sema_ctx *E, const ast_stmt *st, const ast_arg *a, int kind, int head,
                             ir_loss *L)
{
    static const char *const targets[] = {"centre_spectrum", "center_spectrum", "input_patch"};
    if (!a) {
        diag_error(E->d, st->loss_span, "loss %s needs 'target'", loss_names[kind]);
        diag_hint(E->d, "target = centre_spectrum (the centre pixel's spectrum, [bands]) or target = input_patch "
                        "(the input itself)");
        return sema_fail(E);
    }
    const ast_expr *x = a->value;
    int t = -1;
    for (int i = 0; x->kind == AE_NAME && i < 3; i++)
        if (!strcmp(x->name, targets[i])) t = i;
    if (t < 0) {
        diag_error(E->d, x->span, "unknown target%s%s for loss %s", x->kind == AE_NAME ? " '" : "",
                   x->kind == AE_NAME ? mem_printf(E->a, "%s'", x->name) : "", loss_names[kind]);
        if (x->kind != AE_NAME || !diag_did_you_mean(E->d, x->name, targets, 3))
            diag_hint(E->d, "targets: centre_spectrum (the centre pixel's spectrum, [bands]), input_patch (the input itself)");
        return sema_fail(E);
    }
    L->target = t == 2 ? IR_TARGET_INPUT : IR_TARGET_CENTRE;
    const ir_shape *in = &E->nodes[E->input].shape, *hs = &E->nodes[head].shape;
    ir_shape ts = target_shape(in, L->target), qh = squeezed(hs), qt = squeezed(&ts);
    int same = qh.ndim == qt.ndim;
    for (int i = 0; same && i < qh.ndim; i++) same = qh.d[i] == qt.d[i];
    if (!same) {
        char b1[96], b2[96];
        diag_error(E->d, st->span, "loss %s: its head '%s' is %s but the target %s is %s", loss_names[kind],
                   E->nodes[head].name, shape_str(hs, b1, sizeof b1), targets[t], shape_str(&ts, b2, sizeof b2));
        diag_hint(E->d, "the head must have the target's shape (dims of size 1 aside): e.g. end it with "
                        "%s", L->target == IR_TARGET_CENTRE ? mem_printf(E->a, "dense(%lld)", (long long)ts.d[0])
                                                            : "a conv back to the input's channels");
        return sema_fail(E);
    }
    return 0;
}

/* The head of a cross-entropy: logits [K] (or [K, 1, ...]); a logit map [K, H, W] for the
 * per-pixel loss, square, no larger than the input patch and centred on it. */
static int xent_head(sema_ctx *E, const ast_stmt *st, int kind, int head)
{
    const ir_shape *lg = &E->nodes[head].shape, *in = &E->nodes[E->input].shape;
    char b[96], b2[96];
    if (kind == L_XENT) {
        int ok = 1;
        for (int i = 1; i < lg->ndim; i++) ok &= lg->d[i] == 1;
        if (ok) return 0;
        diag_error(E->d, st->span, "the loss needs logits [K] or [K, 1, ...], but its input is %s",
                   shape_str(lg, b, sizeof b));
        diag_hint(E->d, lg->ndim == 3 ? "reduce the spatial dims first, e.g. avgpool(global) or dense(classes); "
                                        "for a label per pixel of a logit map use pixel_cross_entropy"
                                      : "reduce the spatial dims first, e.g. avgpool(global) or dense(classes)");
        return sema_fail(E);
    }
    if (lg->ndim != 3 || in->ndim < 3) {
        diag_error(E->d, st->span, "pixel_cross_entropy needs a logit map [K, H, W] on a patch input, but its "
                   "head '%s' is %s and the input %s", E->nodes[head].name, shape_str(lg, b, sizeof b),
                   shape_str(in, b2, sizeof b2));
        diag_hint(E->d, lg->ndim == 1 || (lg->ndim > 1 && lg->d[1] == 1)
                            ? "for one label per sample use softmax_cross_entropy"
                            : "fold a [C, 1, H, W] map to [C, H, W] first (reshape) and end with conv2d(classes, 1)");
        return sema_fail(E);
    }
    int64_t ph = in->d[in->ndim - 2], pw = in->d[in->ndim - 1];
    if (lg->d[1] != lg->d[2] || lg->d[1] > ph || lg->d[2] > pw || (ph - lg->d[1]) % 2 || (pw - lg->d[2]) % 2) {
        diag_error(E->d, st->span, "pixel_cross_entropy: the logit map %s must be a square window centred on "
                   "the input patch %s", shape_str(lg, b, sizeof b), shape_str(in, b2, sizeof b2));
        diag_hint(E->d, "keep the patch size with pad = same, or crop the same number of pixels on every side");
        return sema_fail(E);
    }
    return 0;
}

__attribute__((noinline)) static int elab_loss(sema_ctx *E, sema_scope *s, const ast_stmt *st, int *cur)
{
    if (!s->top) {
        diag_error(E->d, st->span, "'loss' belongs to the net's own body, after its last layer");
        return sema_fail(E);
    }
    int kind = -1;
    for (int k = 0; k < L_N; k++)
        if (!strcmp(st->loss, loss_names[k])) kind = k;
    if (kind < 0) {
        diag_error(E->d, st->loss_span, "unknown loss '%s'", st->loss);
        if (!diag_did_you_mean(E->d, st->loss, loss_names, L_N))
            diag_hint(E->d, "losses: softmax_cross_entropy, pixel_cross_entropy, mse, l1");
        return sema_fail(E);
    }
    if (*cur < 0) return sema_no_input(E, st->span, "the loss");
    if (E->n_losses == FE_MAX_LOSSES) {
        diag_error(E->d, st->span, "more than %d losses", FE_MAX_LOSSES);
        return sema_fail(E);
    }
    const ast_arg *slot[LA_N] = {0};
    if (loss_args(E, st, kind, slot)) return 1;
    int head = *cur;
    if (slot[LA_HEAD] && loss_head(E, s, slot[LA_HEAD], &head)) return 1;
    ir_loss L = {(ir_loss_kind)kind, IR_TARGET_LABELS, 1.0f, 0.0f};
    double v;
    if (slot[LA_WEIGHT]) {
        if (sema_get_num(E, s->env, slot[LA_WEIGHT]->value, 0, 1e6, "the loss weight", &v)) return sema_fail(E);
        L.weight = (float)v;
    }
    if (slot[LA_SMOOTH]) {
        if (sema_get_num(E, s->env, slot[LA_SMOOTH]->value, 0, 1, "label_smoothing", &v)) return sema_fail(E);
        L.label_smoothing = (float)v;
    }
    if (kind == L_MSE || kind == L_L1) {
        if (regression_target(E, st, slot[LA_TARGET], kind, head, &L)) return 1;
    } else {
        if (xent_head(E, st, kind, head)) return 1;
        if (E->loss >= 0) {
            diag_error(E->d, st->span, "a second classification loss (%s)", loss_names[kind]);
            diag_note(E->d, E->nodes[E->loss].span, "the first is here");
            diag_hint(E->d, "metrics and predictions come from one classification head; give the other heads "
                            "mse or l1");
            return sema_fail(E);
        }
    }
    const char *name = E->n_losses ? mem_printf(E->a, "loss%d", E->n_losses) : "loss";
    if (fixed_name(E, name, st->span)) return 1;
    ir_shape one = {1, {1}};
    int ins[2] = {head, E->input};
    int id = sema_add_node(E, IR_LOSS, name, st->span, L.target == IR_TARGET_LABELS ? 1 : 2, ins, &one);
    if (id < 0) return 1;
    E->nodes[id].a.loss = L;
    if (L.target == IR_TARGET_LABELS) {
        E->logits = head;
        E->loss = id;
    }
    if (!E->n_losses) E->loss_span = st->span;
    E->losses[E->n_losses++] = id;
    *cur = head;   /* the next loss's head defaults to this one's */
    return 0;
}

static int elab_body(sema_ctx *E, sema_scope *s, const ast_body *b, int *cur)
{
    sema_scope body = *s;
    body.body_start = s->values;
    body.body = ++E->n_bodies;
    for (int i = 0; i < b->stmts.n; i++) {
        const ast_stmt *st = b->stmts.v[i];
        if (E->failed || E->d->stop) return 1;
        if (E->n_losses && st->kind != ST_LOSS) {
            diag_error(E->d, st->span, "nothing but another loss may follow a loss");
            diag_note(E->d, E->loss_span, "the first loss is here");
            return sema_fail(E);
        }
        int c = *cur;
        if (st->kind == ST_INPUT) {
            if (elab_input(E, &body, st, &c)) return 1;
        } else if (st->kind == ST_LOSS) {
            if (elab_loss(E, &body, st, &c)) return 1;
        } else {
            for (int j = 0; j < st->elems.n; j++)
                if (elab_elem(E, &body, st->elems.v[j], &c)) return sema_fail(E);
        }
        if (st->assign) {
            if (c < 0) return sema_no_input(E, st->assign_span, st->assign);
            if (define_value(E, &body, st->assign, st->assign_span, c)) return 1;
        }
        *cur = c;
    }
    return 0;
}

int sema_net_body(sema_ctx *E, const ast_decl *net, sema_bind *env)
{
    sema_scope s = {"", E->pprefix, 0, 1, env, NULL, NULL, 1, 1, 0, 0};
    int cur = -1;
    E->input = E->logits = E->loss = -1;
    E->n_losses = 0;
    if (elab_body(E, &s, net->body, &cur)) return 1;
    if (E->input < 0) {
        diag_error(E->d, net->span, "net '%s' has no input", net->name);
        diag_hint(E->d, "start its body with input [C, H, W], [C, D, H, W] or (spectral) [1, bands]");
        return sema_fail(E);
    }
    if (!E->n_losses) {
        diag_error(E->d, net->span, "net '%s' has no loss", net->name);
        diag_hint(E->d, "end its body with: loss softmax_cross_entropy");
        return sema_fail(E);
    }
    if (E->loss < 0) {
        diag_error(E->d, E->loss_span, "net '%s' has no classification loss: only %s", net->name,
                   E->n_losses > 1 ? "regression losses (mse, l1)" : "a regression loss");
        diag_hint(E->d, "metrics and predictions need one: loss softmax_cross_entropy(head = logits) on a [classes] "
                        "head, or pixel_cross_entropy on a [classes, H, W] map");
        return sema_fail(E);
    }
    return 0;
}
