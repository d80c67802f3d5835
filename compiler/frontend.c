/* frontend.c — fe_compile: reads the netdef, parses it, checks the declarations (names,
 * duplicates, block cycles), binds the net's parameters per domain (-D values), and has
 * the elaborator (sema_struct.c) build one graph per domain over one parameter table.
 * Memory: one arena per compilation; the ir_program lives in it and fe_free releases it.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_io.h"
#include "sema.h"

typedef struct fe_unit { mem_arena arena; ir_program prog; } fe_unit;

typedef struct fe_ctx {        /* heap-allocated: it must survive a longjmp on out-of-memory */
    mem_arena a;
    jmp_buf oom;
    diag d;
    sema_ctx E;
} fe_ctx;

static const char *read_source(fe_ctx *c, const char *path, size_t *len)
{
    char why[512];
    FILE *f = hsi_open_input(path, why, sizeof why);
    if (!f) {
        diag_error_noloc(&c->d, "%s", why);
        return NULL;
    }
    char *buf = mem_alloc(&c->a, FE_MAX_SOURCE + 1);
    size_t n = fread(buf, 1, FE_MAX_SOURCE + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        diag_error_noloc(&c->d, "cannot read '%s'", path);
        return NULL;
    }
    if (n > FE_MAX_SOURCE) {
        diag_error_noloc(&c->d, "'%s' is larger than %d MiB", path, FE_MAX_SOURCE >> 20);
        return NULL;
    }
    *len = n;
    return buf;
}

/* ---- declarations ---------------------------------------------------------------------- */

static void check_decls(sema_ctx *E)
{
    for (int i = 0; i < E->file->decls.n; i++) {
        const ast_decl *dc = E->file->decls.v[i];
        const char *what = dc->is_net ? "net" : "block";
        if (sema_bad_c_name(E, dc->name, dc->span, what)) continue;
        if (!dc->is_net && sema_is_builtin(dc->name)) {
            diag_error(E->d, dc->span, "block '%s' has the name of a built-in layer", dc->name);
            continue;
        }
        sema_ent *e = sema_map_put(E->a, &E->decls, dc->name);
        if (e->val >= 0) {
            diag_error(E->d, dc->span, "'%s' is declared twice", dc->name);
            diag_note(E->d, e->span, "first declared here");
            continue;
        }
        e->val = i;
        e->span = dc->span;
        sema_map seen = {0};
        for (int j = 0; j < dc->params.n; j++) {
            const ast_param *p = dc->params.v[j];
            if (sema_bad_c_name(E, p->name, p->span, "parameter")) continue;
            if (!strcmp(p->name, "same") || !strcmp(p->name, "valid") || !strcmp(p->name, "global")) {
                /* `pad = same`, `maxpool(global)` are the keywords, never such a parameter */
                diag_error(E->d, p->span, "a parameter cannot be named '%s': %s is %s, never the "
                           "parameter", p->name, p->name[0] == 'g' ? "maxpool(global)" :
                           p->name[0] == 's' ? "pad = same" : "pad = valid",
                           p->name[0] == 'g' ? "global pooling" : "a padding mode");
                diag_hint(E->d, "rename it");
                continue;
            }
            sema_ent *q = sema_map_put(E->a, &seen, p->name);
            if (q->val >= 0) {
                diag_error(E->d, p->span, "parameter '%s' is declared twice", p->name);
                diag_note(E->d, q->span, "first declared here");
            }
            q->val = j;
            q->span = p->span;
        }
    }
}

typedef struct call_site { int decl; src_span span; } call_site;
typedef struct call_list { int n, cap; call_site *v; } call_list;

static void calls_in_body(sema_ctx *E, const ast_body *b, call_list *out);

static void calls_in_expr(sema_ctx *E, const ast_expr *x, call_list *out)
{
    if (x->kind == AE_PIPE) calls_in_body(E, x->body, out);
    if (x->kind != AE_CALL && x->kind != AE_NAME) return;
    sema_ent *e = sema_map_get(&E->decls, x->name);
    if (e && !((ast_decl *)E->file->decls.v[e->val])->is_net) {
        if (out->n == out->cap) {
            int cap = out->cap ? 2 * out->cap : 8;
            out->v = mem_grow(E->a, out->v, (size_t)out->n * sizeof *out->v, (size_t)cap * sizeof *out->v);
            out->cap = cap;
        }
        out->v[out->n++] = (call_site){e->val, x->span};
    }
    for (int i = 0; x->kind == AE_CALL && i < x->items.n; i++) calls_in_expr(E, ((ast_arg *)x->items.v[i])->value, out);
}

static void calls_in_body(sema_ctx *E, const ast_body *b, call_list *out)
{
    for (int i = 0; i < b->stmts.n; i++) {
        const ast_stmt *st = b->stmts.v[i];
        for (int j = 0; j < st->elems.n; j++) {
            const ast_elem *el = st->elems.v[j];
            if (el->kind == EL_CALL) {
                ast_expr x = {0};
                x.kind = AE_CALL;
                x.name = el->name;
                x.span = el->span;
                x.items = el->args;
                calls_in_expr(E, &x, out);
            } else {
                for (int k = 0; k < el->args.n; k++) calls_in_expr(E, ((ast_arg *)el->args.v[k])->value, out);
            }
            if (el->body) calls_in_body(E, el->body, out);
            for (int k = 0; k < el->arms.n; k++) calls_in_body(E, el->arms.v[k], out);
        }
    }
}

/* DFS over block calls; color 0 new, 1 on the path, 2 done. Returns 1 after an error. */
static int find_cycle(sema_ctx *E, int v, int *color, int *path, int depth)
{
    const ast_decl *dc = E->file->decls.v[v];
    call_list calls = {0};
    color[v] = 1;
    path[depth] = v;
    calls_in_body(E, dc->body, &calls);
    for (int i = 0; i < calls.n; i++) {
        int w = calls.v[i].decl;
        if (color[w] == 1) {
            const char *cyc = ((ast_decl *)E->file->decls.v[w])->name;
            int from = depth;
            while (path[from] != w) from--;
            for (int k = from + 1; k <= depth; k++)
                cyc = mem_printf(E->a, "%s -> %s", cyc, ((ast_decl *)E->file->decls.v[path[k]])->name);
            cyc = mem_printf(E->a, "%s -> %s", cyc, ((ast_decl *)E->file->decls.v[w])->name);
            diag_error(E->d, calls.v[i].span, "block '%s' calls itself", ((ast_decl *)E->file->decls.v[w])->name);
            diag_hint(E->d, "the cycle is %s; blocks are inlined, so they cannot recurse", cyc);
            return 1;
        }
        if (color[w] == 0) {
            if (depth + 1 >= FE_MAX_BLOCK_DEPTH) {
                diag_error(E->d, calls.v[i].span, "blocks call each other more than %d deep", FE_MAX_BLOCK_DEPTH);
                return 1;
            }
            if (find_cycle(E, w, color, path, depth + 1)) return 1;
        }
    }
    color[v] = 2;
    return 0;
}

static void check_cycles(sema_ctx *E)
{
    int n = E->file->decls.n;
    int *color = mem_alloc(E->a, (size_t)(n + 1) * sizeof *color);
    int path[FE_MAX_BLOCK_DEPTH + 1];
    for (int i = 0; i < n; i++) {
        const ast_decl *dc = E->file->decls.v[i];
        sema_ent *e = sema_map_get(&E->decls, dc->name);
        if (dc->is_net || !e || e->val != i || color[i]) continue;
        if (find_cycle(E, i, color, path, 0)) return;
    }
}

/* ---- net parameters and -D values ------------------------------------------------------ */

static int parse_literal(const char *s, sema_val *v)
{
    char *end;
    if (!strcmp(s, "true") || !strcmp(s, "false")) {
        *v = (sema_val){V_BOOL, s[0] == 't', 0, 0, NULL};
        return 0;
    }
    /* strtoll and strtod skip leading white space but the end must be the string's: ' 3' was
     * taken and '3 ' refused; neither is a value */
    if (!*s || isspace((unsigned char)*s) || strlen(s) > 64) return 1;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (!*end && !errno) {
        *v = (sema_val){V_INT, i, 0, 0, NULL};
        return 0;
    }
    errno = 0;
    double f = strtod(s, &end);
    if (!*end && !errno && isfinite(f) && !strpbrk(s, "xXnN")) {
        *v = (sema_val){V_FLOAT, 0, f, 0, NULL};
        return 0;
    }
    return 1;
}

static const fe_define *find_define(const fe_domain *dom, const char *name)
{
    const fe_define *last = NULL;
    for (int i = 0; i < dom->n_defines; i++)
        if (dom->defines[i].name && !strcmp(dom->defines[i].name, name)) last = &dom->defines[i];
    return last;
}

/* How a define without a place was given: its origin, or "-D name=value". */
static const char *define_origin(sema_ctx *E, const fe_define *df)
{
    if (df->origin) return df->origin;
    return mem_printf(E->a, "-D %s=%s", df->name ? df->name : "", df->value ? df->value : "");
}

/* Parses the value `df` gives parameter p into *v, of the kind of p's default (def; NULL when
 * it has none or it failed); 0, else 1 after an error naming the value and where it came from. */
static int check_define(sema_ctx *E, const ast_decl *net, const ast_param *p, const fe_define *df,
                        const sema_val *def, sema_val *v)
{
    const char *want = NULL;
    if (!df->value || parse_literal(df->value, v)) want = "a number, true or false";
    else if (def && def->k == V_LIST) want = "a list (which -D cannot give)";
    else if (def && def->k == V_INT && v->k != V_INT) want = "an integer";
    else if (def && def->k == V_BOOL && v->k != V_BOOL) want = "true or false";
    else if (def && def->k == V_FLOAT && v->k != V_FLOAT && v->k != V_INT) want = "a number";
    if (!want) {
        if (def && def->k == V_FLOAT && v->k == V_INT) *v = (sema_val){V_FLOAT, 0, (double)v->i, 0, NULL};
        return 0;
    }
    if (df->path)
        diag_error_at(E->d, df->where, "key '%s': bad value '%s' for parameter '%s' of net "
                      "'%s': expected %s", df->path, df->value ? df->value : "", p->name,
                      net->name, want);
    else if (df->origin)
        diag_error_noloc(E->d, "bad value '%s' for parameter '%s' of net '%s' (%s): "
                         "expected %s", df->value ? df->value : "", p->name, net->name,
                         df->origin, want);
    else
        diag_error_noloc(E->d, "bad value '%s' for parameter '%s' of net '%s': expected %s",
                         df->value ? df->value : "", p->name, net->name, want);
    diag_note(E->d, p->span, "'%s' is declared here", p->name);
    return 1;
}

/* Binds the net's parameters for one domain; fills the graph's value_names/value_text. */
static sema_bind *bind_net_params(sema_ctx *E, const ast_decl *net, const fe_domain *dom, ir_graph *g)
{
    int np = net->params.n;
    const char **cands = mem_alloc(E->a, (size_t)(np + 1) * sizeof *cands);
    for (int j = 0; j < np; j++) cands[j] = ((ast_param *)net->params.v[j])->name;
    for (int i = 0; i < dom->n_defines; i++) {
        const fe_define *df = &dom->defines[i];
        int found = 0;
        for (int j = 0; j < np; j++) found |= df->name && !strcmp(df->name, cands[j]);
        if (!found) {
            if (df->path)
                diag_error_at(E->d, df->where, "key '%s': net '%s' has no parameter '%s'", df->path,
                              net->name, df->name ? df->name : "");
            else
                diag_error_noloc(E->d, "net '%s' has no parameter '%s' (%s)", net->name,
                                 df->name ? df->name : "", define_origin(E, df));
            if (!df->name || !diag_did_you_mean(E->d, df->name, cands, np)) {
                /* the first names only: a net can have a hundred thousand parameters, and
                 * joining them all one by one would cost quadratic time and memory */
                char list[512];
                size_t k = 0;
                int j = 0;
                list[0] = 0;
                for (; j < np && k + strlen(cands[j]) + 40 < sizeof list; j++)
                    k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", j ? ", " : "", cands[j]);
                if (j < np) snprintf(list + k, sizeof list - k, ", ... (%d in all)", np);
                diag_hint(E->d, np ? "its parameters are: %s" : "it has no parameters%s", list);
            }
        }
    }
    sema_bind *env = NULL;
    g->n_values = np;
    g->value_names = mem_alloc(E->a, (size_t)(np + 1) * sizeof *g->value_names);
    g->value_text = mem_alloc(E->a, (size_t)(np + 1) * sizeof *g->value_text);
    for (int j = 0; j < np; j++) {
        const ast_param *p = net->params.v[j];
        const fe_define *df = find_define(dom, p->name);
        sema_bind *b = mem_alloc(E->a, sizeof *b);
        b->name = p->name;
        b->span = p->span;
        /* A given value replaces the default: the default is evaluated silently then, only for
         * its kind (an integer parameter takes no 1.5), and one that fails (w = 1/0) is
         * skipped. Without a value the default's errors are the errors. */
        sema_val def = {V_INT, 0, 0, 0, NULL};
        int have_def = 0;
        if (p->def && df) {
            diag saved = *E->d;
            E->d->out = NULL;
            have_def = !sema_eval(E, env, p->def, &def);
            *E->d = saved;
        } else if (p->def) {
            if (sema_eval(E, env, p->def, &def)) return NULL;
            have_def = 1;
        }
        /* every value given for it is checked, the ones a later value replaces too (a -D that
         * each --domain overrides is still a mistake when it is not a number) */
        sema_val v = {V_INT, 0, 0, 0, NULL};
        for (int i = 0; i < dom->n_defines; i++) {
            const fe_define *dv = &dom->defines[i];
            if (!dv->name || strcmp(dv->name, p->name)) continue;
            if (check_define(E, net, p, dv, have_def ? &def : NULL, &v)) return NULL;
        }
        if (df) {
            b->v = v;
        } else if (p->def) {
            b->v = def;
        } else {
            diag_error(E->d, p->span, "parameter '%s' of net '%s' has no default and no value was given",
                       p->name, net->name);
            diag_hint(E->d, "give it on the command line: -D %s=VALUE%s%s", p->name,
                      *dom->name ? " (domain " : "", *dom->name ? mem_printf(E->a, "'%s')", dom->name) : "");
            return NULL;
        }
        g->value_names[j] = p->name;
        g->value_text[j] = sema_val_str(E, &b->v);
        b->next = env;
        env = b;
    }
    return env;
}

/* ---- the entry point ------------------------------------------------------------------- */

static const ast_decl *pick_net(sema_ctx *E, const char *net)
{
    const ast_decl *pick = NULL;
    const char *cands[64];
    int nc = 0;
    for (int i = 0; i < E->file->decls.n; i++) {
        const ast_decl *dc = E->file->decls.v[i];
        if (!dc->is_net) continue;
        if (nc < 64) cands[nc++] = dc->name;
        if (!net || !strcmp(net, dc->name)) pick = dc;
    }
    if (!pick) {
        src_span sp = {E->d->file, 0, 0, 0, 0};
        if (net) {
            diag_error(E->d, sp, "no net named '%s' in this file", net);
            diag_did_you_mean(E->d, net, cands, nc);
        } else {
            diag_error(E->d, sp, "no net is declared in this file");
            diag_hint(E->d, "declare one: net name(params) { input [C, H, W] ... loss softmax_cross_entropy }");
        }
    }
    return pick;
}

/* After an error in a named domain's graph (one of several, each with its own values): which
 * domain, and the values it gives the net's parameters, in their order (the error's place is in
 * the netdef, the same for every domain). */
static void domain_note(diag *d, const ast_decl *net, const fe_domain *dom, const char *dname)
{
    char list[320];
    size_t k = 0;
    list[0] = 0;
    for (int j = 0; j < net->params.n && k < sizeof list; j++) {
        const char *name = ((ast_param *)net->params.v[j])->name;
        const fe_define *df = find_define(dom, name);
        if (df) k += (size_t)snprintf(list + k, sizeof list - k, "%s%s=%s", k ? ", " : "", name,
                                      df->value ? df->value : "");
    }
    if (k >= sizeof list) memcpy(list + sizeof list - 4, "...", 4);
    diag_note_noloc(d, "in domain '%s'%s%s%s", dname, k ? " (" : "", list, k ? ")" : "");
}

static int elaborate_domains(fe_ctx *c, const ast_decl *net, int n_domains, const fe_domain *domains,
                             ir_program *prog)
{
    sema_ctx *E = &c->E;
    prog->n_graphs = n_domains;
    prog->graphs = mem_alloc(&c->a, (size_t)n_domains * sizeof *prog->graphs);
    for (int k = 0; k < n_domains; k++) {
        const fe_domain *dom = &domains[k];
        const char *dname = dom->name ? dom->name : "";
        int word = *dname && !(*dname >= '0' && *dname <= '9');
        for (const char *q = dname; *q; q++)
            word &= (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                    (*q >= '0' && *q <= '9') || *q == '_';
        if (*dname && !word) {   /* it prefixes parameter names and lands in the emitted C */
            diag_error_noloc(&c->d, "domain name '%s' is not a name (letters, digits, _; not "
                             "starting with a digit)", dname);
            return 1;
        }
        if (n_domains > 1) {
            int dup = 0;
            for (int j = 0; j < k; j++) dup |= domains[j].name && !strcmp(domains[j].name, dname);
            if (!*dname || dup) {
                diag_error_noloc(&c->d, "domain names must be distinct and not empty ('%s')", dname);
                return 1;
            }
        }
        ir_graph *g = &prog->graphs[k];
        g->domain = dname;
        E->domain = dname;
        E->pprefix = n_domains > 1 ? mem_printf(&c->a, "%s.", dname) : "";
        E->n_nodes = E->cap_nodes = 0;
        E->nodes = NULL;
        E->names = (sema_map){0};
        E->counters = (sema_map){0};
        E->body_values = (sema_map){0};
        E->failed = 0;
        int errs = c->d.errors;
        sema_bind *env = bind_net_params(E, net, dom, g);
        if (c->d.errors > errs || (!env && net->params.n) || sema_net_body(E, net, env)) {
            if (*dname) domain_note(&c->d, net, dom, dname);
            return 1;
        }
        g->n_nodes = E->n_nodes;
        g->nodes = E->nodes;
        g->input = E->input;
        g->logits = E->logits;
        g->loss = E->loss;
        g->n_losses = E->n_losses;
        int *losses = mem_alloc(&c->a, sizeof *losses * (size_t)E->n_losses);
        memcpy(losses, E->losses, sizeof *losses * (size_t)E->n_losses);
        g->losses = losses;
    }
    return 0;
}

ir_program *fe_compile(const char *path, const char *text_arg, size_t len, const char *net,
                       int n_domains, const fe_domain *domains, FILE *diag_out)
{
    fe_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->a.oom = &c->oom;
    c->d.out = diag_out;
    if (setjmp(c->oom)) {
        if (diag_out) fprintf(diag_out, "hsicc: error: out of memory while compiling %s\n", c->d.file);
        mem_release(&c->a);
        free(c);
        return NULL;
    }
    fe_unit *u = NULL;
    const char *volatile text = text_arg; /* set after setjmp: volatile keeps it exact */
    c->d.file = mem_strdup(&c->a, path ? path : "<input>");
    if (!text) text = path ? read_source(c, path, &len) : NULL;
    if (text && len > FE_MAX_SOURCE) {
        diag_error_noloc(&c->d, "the netdef is larger than %d MiB", FE_MAX_SOURCE >> 20);
        text = NULL;
    }
    if (text) {
        c->d.text = text;
        c->d.len = len;
        ast_file *file = parse_text(&c->a, &c->d, c->d.file, text, len);
        sema_ctx *E = &c->E;
        E->a = &c->a;
        E->d = &c->d;
        E->file = file;
        if (file) {
            check_decls(E);
            if (!c->d.errors) check_cycles(E);
        }
        const ast_decl *nd = file && !c->d.errors ? pick_net(E, net) : NULL;
        fe_domain one = {"", 0, NULL};
        if (nd) {
            u = mem_alloc(&c->a, sizeof *u);
            u->prog.net = nd->name;
            u->prog.net_span = nd->span;
            u->prog.file = c->d.file;  /* an arena copy */
            if (elaborate_domains(c, nd, n_domains > 0 ? n_domains : 1, n_domains > 0 ? domains : &one, &u->prog))
                u = NULL;
            else {
                u->prog.n_params = E->n_params;
                u->prog.params = E->params;
            }
        }
    }
    if (c->d.errors) u = NULL;
    if (!u) mem_release(&c->a);
    else {
        c->a.oom = NULL;
        u->arena = c->a;
    }
    free(c);
    return u ? &u->prog : NULL;
}

void fe_free(ir_program *p)
{
    if (!p) return;
    fe_unit *u = (fe_unit *)((char *)p - offsetof(fe_unit, prog));
    mem_arena a = u->arena;
    mem_release(&a);
}
