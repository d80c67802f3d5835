/* sema_internal.h — what the elaborator's files share: scopes, the typed argument getters
 * (sema_expr.c), names, nodes and parameters of the graph being built (sema_graph.c) and the
 * built-in layers (sema_layers.c), for the structure that drives them (sema_struct.c).
 * Not included by frontend.c: sema.h is its interface to the elaborator.
 *
 * Errors: every function returning int returns 0, or 1 after reporting one; those that make
 * nodes or parameters (and the layer and structure code) also set E->failed (sema_fail).
 */
#ifndef HSICC_SEMA_INTERNAL_H
#define HSICC_SEMA_INTERNAL_H

#include "sema.h"
#include "shape.h"

/* ---- values and typed getters (sema_expr.c): each reports its own error ---------------- */

typedef struct sema_init { ir_init_kind kind; float a, b; } sema_init;   /* an init = ... */

/* An integer in [lo, hi]; `what` names it in the error ("out", "the repeat count"). */
int sema_get_int(sema_ctx *E, sema_bind *env, const ast_expr *x, int64_t lo, int64_t hi,
                 const char *what, int64_t *out);
/* A number (integer or float) in [lo, hi]. */
int sema_get_num(sema_ctx *E, sema_bind *env, const ast_expr *x, double lo, double hi,
                 const char *what, double *out);
int sema_get_bool(sema_ctx *E, sema_bind *env, const ast_expr *x, const char *what, int *out);
/* An integer >= lo for every one of nsp spatial dims: one integer (all dims) or a list of nsp. */
int sema_get_ints(sema_ctx *E, sema_bind *env, const ast_expr *x, int nsp, int64_t lo,
                  const char *what, int64_t *out);
/* pad = same | valid | n | [n or [before, after] per spatial dim]: mode, then lo/hi if explicit. */
int sema_get_pad(sema_ctx *E, sema_bind *env, const ast_expr *x, int nsp, shape_pad *mode,
                 int64_t *lo, int64_t *hi);
/* init = he_normal | gaussian(0.01) | ... */
int sema_get_init(sema_ctx *E, sema_bind *env, const ast_expr *x, sema_init *out);

/* ---- scopes --------------------------------------------------------------------------- */

typedef struct sema_value {     /* a named value: `x = ...` */
    const char *name;
    int node;
    src_span span;
    struct sema_value *next;
} sema_value;

typedef struct sema_scope {
    const char *path;           /* node name prefix, "" or "trunk.0." */
    const char *ppath;          /* parameter name prefix */
    int shared;                 /* inside a shared block */
    int top;                    /* the net's own body: input and loss allowed */
    sema_bind *env;
    sema_value *values, *body_start; /* values visible; those from body_start on are outer */
    float lr, decay;
    int freeze;
    int body;                   /* the number of the body being elaborated (E->n_bodies) */
} sema_scope;

/* the weight attributes of a layer with parameters (init, bias_init, lr_mult, ...) */
typedef struct sema_wattr {
    int has_init, has_binit;
    sema_init init, binit;
    float lr, decay;
    int freeze;
} sema_wattr;

/* ---- the graph being built (sema_graph.c) --------------------------------------------- */

int sema_fail(sema_ctx *E);   /* marks the elaboration failed; returns 1 */
/* "<scope path><local>" */
const char *sema_full_name(sema_ctx *E, const sema_scope *s, const char *local);
/* A unique local name in scope s: the explicit one (checked), or base<n> (bare_first: base,
 * then base1, base2...). Registers it. NULL after an error (`what` names the thing named). */
const char *sema_make_name(sema_ctx *E, const sema_scope *s, const ast_expr *explicit_name,
                           const char *base, int bare_first, src_span sp, const char *what);
/* Appends a node (shape already inferred); its index, or -1 after an error (node limit, size). */
int sema_add_node(sema_ctx *E, ir_op op, const char *name, src_span sp, int n_in, const int *in,
                  const ir_shape *shape);
/* Makes (or, inside a shared block, finds) parameter <ppath><layer>.<role>. -1 after an error. */
int sema_add_param(sema_ctx *E, const sema_scope *s, const char *layer, ir_role role, int ndim,
                   const int64_t *dims, sema_init init, int64_t fan_in, int64_t fan_out,
                   const sema_wattr *w, src_span sp);
/* The same, named <ppath><layer>.<suffix> (gru/lstm: "weight_ih_l0", "bias_hh_l1_reverse"). */
int sema_add_param_as(sema_ctx *E, const sema_scope *s, const char *layer, const char *suffix,
                      ir_role role, int ndim, const int64_t *dims, sema_init init, int64_t fan_in,
                      int64_t fan_out, const sema_wattr *w, src_span sp);
/* "<what> has no input" with a hint; returns 1. */
int sema_no_input(sema_ctx *E, src_span sp, const char *what);

/* ---- built-in layers (sema_layers.c) -------------------------------------------------- */

int sema_layer_kind(const char *name);        /* index of a built-in layer, or -1 */
const char *sema_layer_name(int kind);        /* its name ("conv2d"); NULL past the last kind */
/* Elaborates built-in layer `kind` (sema_layer_kind) called as el on *cur; *cur = its node. */
int sema_layer(sema_ctx *E, sema_scope *s, int kind, const ast_elem *el, int *cur);

#endif
