/* sema_expr.c — values: the string maps of the elaborator, the evaluator of netdef expressions
 * (parameters, shape variables, arithmetic with overflow checks, lists) and the typed getters
 * that check what a layer or block argument evaluates to (integer, sizes, padding, init).
 * It makes no node and no name: that is sema_graph.c's; which arguments a layer takes is
 * sema_layers.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sema_internal.h"

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

static const char *const shape_vars[] = {"channels", "depth", "height", "width", "length"};
#define N_SHAPE_VARS 5

/* The text of a value, at most VAL_TEXT_MAX characters: a longer list is cut after its last
 * item that fits and ends in "...]" (a default or an argument can be a list of a million
 * items: built item by item into one bounded buffer, its text costs neither quadratic time nor
 * memory, and a message quoting it stays one line). */
#define VAL_TEXT_MAX 160

/* Appends text t to buf (used *k of n bytes); 1 when it does not fit. */
static int put(char *buf, size_t n, size_t *k, const char *t)
{
    size_t m = strlen(t);
    if (*k + m >= n) return 1;
    memcpy(buf + *k, t, m + 1);
    *k += m;
    return 0;
}

/* Appends the text of v; 1 when it does not fit (buf then left as it was). */
static int val_put(char *buf, size_t n, size_t *k, const sema_val *v)
{
    size_t k0 = *k;
    int bad;
    if (v->k == V_LIST) {
        bad = put(buf, n, k, "[");
        for (int i = 0; !bad && i < v->n; i++)
            bad = (i && put(buf, n, k, ", ")) || val_put(buf, n, k, &v->items[i]);
        bad = bad || put(buf, n, k, "]");
    } else {
        char t[48];
        if (v->k == V_INT) snprintf(t, sizeof t, "%lld", (long long)v->i);
        else if (v->k == V_BOOL) snprintf(t, sizeof t, "%s", v->i ? "true" : "false");
        else {
            for (int prec = 1; prec <= 17; prec++) {
                snprintf(t, sizeof t, "%.*g", prec, v->f);
                if (strtod(t, NULL) == v->f) break;
            }
            if (!strpbrk(t, ".eEni")) strcat(t, ".0");
        }
        bad = put(buf, n, k, t);
    }
    if (bad) buf[*k = k0] = 0;
    return bad;
}

/* A list too long for buf: its first items that fit, then "...]". */
static void list_cut(char *buf, size_t n, const sema_val *v)
{
    size_t k = 0;
    buf[0] = 0;
    put(buf, n, &k, "[");
    int i = 0;
    for (; i < v->n; i++) {
        size_t k0 = k;
        if ((i && put(buf, n - 6, &k, ", ")) || val_put(buf, n - 6, &k, &v->items[i])) {   /* ", ...]" */
            buf[k = k0] = 0;
            break;
        }
    }
    put(buf, n, &k, i ? ", ...]" : "...]");
}

const char *sema_val_str(sema_ctx *E, const sema_val *v)
{
    char buf[VAL_TEXT_MAX + 1];
    size_t k = 0;
    buf[0] = 0;
    if (val_put(buf, sizeof buf, &k, v)) list_cut(buf, sizeof buf, v);   /* only a list is this long */
    return mem_strdup(E->a, buf);
}

static const char *kind_str(sema_vkind k)
{
    return k == V_INT ? "an integer" : k == V_FLOAT ? "a number" : k == V_BOOL ? "a boolean" : "a list";
}

static int shape_var(sema_ctx *E, const ast_expr *x, sema_val *out)
{
    int which = -1;
    for (int i = 0; i < N_SHAPE_VARS; i++)
        if (!strcmp(x->name, shape_vars[i])) which = i;
    if (which < 0) return -1;
    const ir_shape *s = E->cur_shape;
    if (!s) {
        diag_error(E->d, x->span, "'%s' is a dimension of a layer's input, but there is no input here",
                   x->name);
        return 1;
    }
    int idx = which == 0 ? 0 : which == 4 ? (s->ndim == 2 ? 1 : -1)
            : s->ndim == 4 ? which : s->ndim == 3 && which > 1 ? which - 1 : -1;
    if (idx < 0) {
        char b[96];
        diag_error(E->d, x->span, "the current input %s has no %s", shape_str(s, b, sizeof b), x->name);
        diag_hint(E->d, "channels, depth, height, width name the dims of [C, D, H, W]; "
                        "[C, H, W] has no depth, [C, L] has channels and length, [F] only channels");
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
    for (int i = 0; i < N_SHAPE_VARS; i++) cands[n++] = shape_vars[i];
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

static const char *op_str(int op)
{
    switch (op) {
    case AST_OP_LE: return "<=";
    case AST_OP_GE: return ">=";
    case AST_OP_EQ: return "==";
    case AST_OP_NE: return "!=";
    case '<': return "<";
    case '>': return ">";
    default: return "?";
    }
}

static int is_num(const sema_val *v) { return v->k == V_INT || v->k == V_FLOAT; }
static double num(const sema_val *v) { return v->k == V_INT ? (double)v->i : v->f; }

/* -1, 0, 1: the integer i <=> the number f, exactly (as doubles, 2^53 + 1 equalled 2^53.0).
 * Rounded values that differ order as the exact ones do (the rounding error is less than the
 * spacing of doubles there); equal ones are integers, compared as such. */
static int cmp_int_float(int64_t i, double f)
{
    double d = (double)i;
    if (d != f) return (d > f) - (d < f);
    if (f >= 9223372036854775808.0) return -1;   /* i rounded up to 2^63 */
    int64_t g = (int64_t)f;
    return (i > g) - (i < g);
}

/* < <= > >= on numbers; == != on numbers or on booleans: a boolean */
static int compare(sema_ctx *E, const ast_expr *x, const sema_val *l, const sema_val *r, sema_val *out)
{
    int eq_op = x->op == AST_OP_EQ || x->op == AST_OP_NE;
    int c;   /* -1, 0, 1: l <=> r */
    if (is_num(l) && is_num(r)) {
        if (l->k == V_INT && r->k == V_INT) c = (l->i > r->i) - (l->i < r->i);
        else if (l->k == V_INT) c = cmp_int_float(l->i, r->f);
        else if (r->k == V_INT) c = -cmp_int_float(r->i, l->f);
        else c = (l->f > r->f) - (l->f < r->f);
    } else if (eq_op && l->k == V_BOOL && r->k == V_BOOL) {
        c = l->i != r->i;
    } else {
        diag_error(E->d, x->span, "operator '%s' needs %s, got %s and %s", op_str(x->op),
                   eq_op ? "two numbers or two booleans" : "numbers", kind_str(l->k), kind_str(r->k));
        return 1;
    }
    int v = x->op == '<' ? c < 0 : x->op == '>' ? c > 0 : x->op == AST_OP_LE ? c <= 0
          : x->op == AST_OP_GE ? c >= 0 : x->op == AST_OP_EQ ? c == 0 : c != 0;
    *out = (sema_val){V_BOOL, v, 0, 0, NULL};
    return 0;
}

/* the expression functions: name, arguments (max -1: any number from min) */
static const struct { const char *name; int min_args, max_args; const char *usage; } funcs[] = {
    {"ceil", 1, 1, "ceil(x)"},   {"floor", 1, 1, "floor(x)"}, {"log2", 1, 1, "log2(x)"},
    {"min", 2, -1, "min(a, b, ...)"}, {"max", 2, -1, "max(a, b, ...)"},
    {"if", 3, 3, "if(condition, value_if_true, value_if_false)"},
};
#define N_FUNCS ((int)(sizeof funcs / sizeof funcs[0]))

/* a number as an integer for ceil and floor */
static int to_int(sema_ctx *E, const ast_expr *x, double f, sema_val *out)
{
    if (!(f >= -9.2e18 && f <= 9.2e18)) {
        diag_error(E->d, x->span, "%s(...) = %g does not fit in an integer", x->name, f);
        return 1;
    }
    *out = (sema_val){V_INT, (int64_t)f, 0, 0, NULL};
    return 0;
}

/* ceil, floor, log2, min, max, if; args are evaluated left to right, if() evaluates only the
 * chosen value. */
static int call(sema_ctx *E, sema_bind *env, const ast_expr *x, sema_val *out)
{
    int k = -1, n = x->items.n;
    for (int i = 0; i < N_FUNCS; i++)
        if (!strcmp(x->name, funcs[i].name)) k = i;
    if (k < 0) {
        const char *cands[N_FUNCS];
        for (int i = 0; i < N_FUNCS; i++) cands[i] = funcs[i].name;
        diag_error(E->d, x->span, "'%s(...)' is not a value here", x->name);
        if (!diag_did_you_mean(E->d, x->name, cands, N_FUNCS))
            diag_hint(E->d, "calls are inits (init = gaussian(0.01)), layers (shortcut = conv2d(64, 1)) "
                            "or functions: ceil, floor, log2, min, max, if");
        return 1;
    }
    if (n < funcs[k].min_args || (funcs[k].max_args >= 0 && n > funcs[k].max_args)) {
        if (funcs[k].max_args < 0)
            diag_error(E->d, x->span, "%s takes at least %d arguments, got %d", x->name, funcs[k].min_args, n);
        else
            diag_error(E->d, x->span, "%s takes %d argument%s, got %d", x->name, funcs[k].min_args,
                       funcs[k].min_args == 1 ? "" : "s", n);
        diag_hint(E->d, "write %s", funcs[k].usage);
        return 1;
    }
    const ast_arg *const *a = (const ast_arg *const *)x->items.v;
    for (int i = 0; i < n; i++)
        if (a[i]->name) {
            diag_error(E->d, a[i]->name_span, "the arguments of %s are positional", x->name);
            diag_hint(E->d, "write %s", funcs[k].usage);
            return 1;
        }
    sema_val v;
    if (!strcmp(x->name, "if")) {
        if (sema_eval(E, env, a[0]->value, &v)) return 1;
        if (v.k != V_BOOL) {
            diag_error(E->d, a[0]->value->span, "the condition of if must be true or false, got %s",
                       sema_val_str(E, &v));
            diag_hint(E->d, "compare with < <= > >= == !=, e.g. if(bands > 100, 5, 3)");
            return 1;
        }
        return sema_eval(E, env, a[v.i ? 1 : 2]->value, out);
    }
    for (int i = 0; i < n; i++) {
        if (sema_eval(E, env, a[i]->value, &v)) return 1;
        if (!is_num(&v)) {
            diag_error(E->d, a[i]->value->span, "%s needs numbers, got %s", x->name, sema_val_str(E, &v));
            diag_hint(E->d, "write %s", funcs[k].usage);
            return 1;
        }
        if (k == 0 || k == 1) {   /* ceil, floor: integers stay, numbers round to integers */
            if (v.k == V_INT) *out = v;
            else return to_int(E, x, k == 0 ? ceil(v.f) : floor(v.f), out);
        } else if (k == 2) {      /* log2: a number; exact for powers of two */
            if (num(&v) <= 0) {
                diag_error(E->d, a[0]->value->span, "log2 needs a positive number, got %s", sema_val_str(E, &v));
                diag_hint(E->d, "guard it with max: log2(max(x, 1))");
                return 1;
            }
            *out = (sema_val){V_FLOAT, 0, log2(num(&v)), 0, NULL};
        } else if (i == 0) {
            *out = v;
        } else {                  /* min, max: integers if all are; the first of equal values */
            int less = v.k == V_INT && out->k == V_INT ? v.i < out->i : num(&v) < num(out);
            int more = v.k == V_INT && out->k == V_INT ? v.i > out->i : num(&v) > num(out);
            int take = k == 3 ? less : more;
            int all_int = out->k == V_INT && v.k == V_INT;
            if (take) *out = v;
            if (!all_int && out->k == V_INT) *out = (sema_val){V_FLOAT, 0, (double)out->i, 0, NULL};
        }
    }
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
        if (x->op >= AST_OP_LE || x->op == '<' || x->op == '>') return compare(E, x, &l, &r, out);
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
        return call(E, env, x, out);
    case AE_PIPE:
        diag_error(E->d, x->span, "a { ... } list of layers is not a value here");
        return 1;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* typed getters (sema_internal.h): each reports its own error */

/* after "must be an integer, got 2.5" */
static void float_hint(sema_ctx *E)
{
    diag_hint(E->d, "make it an integer with floor(...) or ceil(...)");
}

/* Evaluates x and checks its kind is in `kinds` (a bit per sema_vkind); else "WHAT must be
 * EXPECTED, got VALUE". */
static int eval_kind(sema_ctx *E, sema_bind *env, const ast_expr *x, unsigned kinds, const char *what,
                     const char *expected, sema_val *v)
{
    if (sema_eval(E, env, x, v)) return 1;
    if (kinds & (1u << v->k)) return 0;
    diag_error(E->d, x->span, "%s must be %s, got %s", what, expected, sema_val_str(E, v));
    if (E->arg_hint) diag_hint(E->d, "%s", E->arg_hint);
    else if (kinds == 1u << V_INT && v->k == V_FLOAT) float_hint(E);
    else if (kinds == 1u << V_BOOL)
        diag_hint(E->d, "write %s = true or %s = false, or a comparison (e.g. patch >= 9)", what, what);
    else if (v->k == V_LIST) diag_hint(E->d, "%s takes one value here, not a list", what);
    else if (v->k == V_BOOL)
        diag_hint(E->d, "booleans take part in no arithmetic: use if(cond, a, b) to choose a number");
    return 1;
}

/* The hint of a range error: the caller's (E->arg_hint), else the range itself. */
static void range_hint(sema_ctx *E, const char *what, const char *range)
{
    if (E->arg_hint) diag_hint(E->d, "%s", E->arg_hint);
    else diag_hint(E->d, "%s takes %s", what, range);
}

int sema_get_int(sema_ctx *E, sema_bind *env, const ast_expr *x, int64_t lo, int64_t hi,
                 const char *what, int64_t *out)
{
    sema_val v;
    if (eval_kind(E, env, x, 1u << V_INT, what, "an integer", &v)) return 1;
    if (v.i < lo || v.i > hi) {
        diag_error(E->d, x->span, "%s must be at %s %lld, got %lld", what, v.i < lo ? "least" : "most",
                   (long long)(v.i < lo ? lo : hi), (long long)v.i);
        range_hint(E, what, hi >= FE_MAX_SIZE ? mem_printf(E->a, "an integer >= %lld", (long long)lo)
                                              : mem_printf(E->a, "an integer from %lld to %lld",
                                                           (long long)lo, (long long)hi));
        return 1;
    }
    *out = v.i;
    return 0;
}

int sema_get_num(sema_ctx *E, sema_bind *env, const ast_expr *x, double lo, double hi,
                 const char *what, double *out)
{
    sema_val v;
    if (eval_kind(E, env, x, 1u << V_INT | 1u << V_FLOAT, what, "a number", &v)) return 1;
    double f = v.k == V_INT ? (double)v.i : v.f;
    if (!(f >= lo && f <= hi) || fabs(f) > 3.4e38) {
        /* the value as written (%g said "got 1" for 0.9999999 against a bound of 0.999999) */
        diag_error(E->d, x->span, "%s must be between %g and %g, got %s", what, lo, hi, sema_val_str(E, &v));
        range_hint(E, what, mem_printf(E->a, "a number from %g to %g", lo, hi));
        return 1;
    }
    *out = f;
    return 0;
}

int sema_get_bool(sema_ctx *E, sema_bind *env, const ast_expr *x, const char *what, int *out)
{
    sema_val v;
    if (eval_kind(E, env, x, 1u << V_BOOL, what, "true or false", &v)) return 1;
    *out = (int)v.i;
    return 0;
}

/* an integer for every spatial dim: one integer (all dims) or a list of nsp */
int sema_get_ints(sema_ctx *E, sema_bind *env, const ast_expr *x, int nsp, int64_t lo,
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
        int fl = v.k == V_FLOAT;
        for (int i = 0; v.k == V_LIST && i < v.n; i++) fl |= v.items[i].k == V_FLOAT;
        if (fl) float_hint(E);
        else if (E->arg_hint) diag_hint(E->d, "%s", E->arg_hint);
        else diag_hint(E->d, "write one integer (used for every spatial dim) or a list of %d "
                       "integers, one per spatial dim of this layer's input", nsp);
        return 1;
    }
    for (int i = 0; i < nsp; i++)
        if (out[i] < lo || out[i] > FE_MAX_SIZE) {
            diag_error(E->d, x->span, "%s must be %s, got %s", what,
                       lo ? "at least 1" : "at least 0", sema_val_str(E, &v));
            if (out[i] > FE_MAX_SIZE) diag_hint(E->d, "sizes are at most %d", FE_MAX_SIZE);
            else range_hint(E, what, lo ? "integers >= 1" : "integers >= 0");
            return 1;
        }
    return 0;
}

int sema_get_pad(sema_ctx *E, sema_bind *env, const ast_expr *x, int nsp, shape_pad *mode,
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


int sema_get_init(sema_ctx *E, sema_bind *env, const ast_expr *x, sema_init *out)
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
        if (sema_get_num(E, env, a->value, -3.4e38, 3.4e38, "an init argument", &v[i])) return 1;
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
