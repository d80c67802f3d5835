/* sema.h — the elaborator's state, shared by frontend.c (declarations, domains, -D) and the
 * elaborator (bodies -> IR nodes): sema_expr.c (values), sema_graph.c (names, nodes,
 * parameters), sema_layers.c (built-in layers), sema_struct.c (blocks, repeat, residual,
 * branch, statements); what those share among themselves is in sema_internal.h.
 * Not a public interface: the lead uses frontend.h.
 */
#ifndef HSICC_SEMA_H
#define HSICC_SEMA_H

#include "ast.h"
#include "frontend.h"
#include "ir.h"

/* string -> (int, span): open addressing in the arena */
typedef struct sema_ent { const char *key; int val; src_span span; } sema_ent;
typedef struct sema_map { int cap, n; sema_ent *e; } sema_map;
sema_ent *sema_map_get(const sema_map *m, const char *key);
sema_ent *sema_map_put(mem_arena *a, sema_map *m, const char *key);  /* new entry: val = -1 */

/* a value of an expression */
typedef enum sema_vkind { V_INT, V_FLOAT, V_BOOL, V_LIST } sema_vkind;
typedef struct sema_val {
    sema_vkind k;
    int64_t i;                 /* V_INT, V_BOOL */
    double f;                  /* V_FLOAT */
    int n;                     /* V_LIST */
    struct sema_val *items;
} sema_val;

typedef struct sema_bind {     /* a net or block parameter in scope */
    const char *name;
    sema_val v;
    src_span span;
    struct sema_bind *next;
} sema_bind;

typedef struct sema_ctx {
    mem_arena *a;
    diag *d;
    const ast_file *file;
    sema_map decls;            /* name -> index into file->decls */
    /* the program */
    int n_params, cap_params;
    ir_param *params;
    sema_map pmap;             /* parameter name -> index */
    sema_map pcmap;            /* parameter name as a C identifier (dots as '_') -> index */
    int total_nodes;           /* all graphs, for FE_MAX_NODES */
    int iterations;            /* repeat iterations + block calls, all graphs (FE_MAX_ITERATIONS) */
    /* the graph being built */
    const char *domain;        /* domain name ("" for one domain) */
    const char *pprefix;       /* "<domain>." for non-shared params, or "" */
    int n_nodes, cap_nodes;
    ir_node *nodes;
    sema_map names;            /* full layer/scope paths used -> span */
    sema_map counters;         /* automatic name counters per scope and kind */
    sema_map body_values;      /* "<body>\x01<value name>" -> defined in that body (duplicates) */
    int n_bodies;              /* bodies elaborated: their numbers in body_values */
    int input, logits, loss;   /* loss: the classification loss node, or -1 */
    int n_losses;              /* every loss node, in order */
    int losses[FE_MAX_LOSSES];
    src_span loss_span;        /* the first loss statement */
    const char *blocks[FE_MAX_BLOCK_DEPTH + 1];   /* block call stack */
    int n_blocks;
    int nest;                  /* elements being elaborated, one inside the other (FE_MAX_NEST) */
    const ir_shape *cur_shape; /* shape variables (channels, depth, height, width) */
    const char *arg_hint;      /* the hint of a getter's range error (sema_get_int...) instead
                                  of its generic one; the caller sets and clears it */
    int failed;
} sema_ctx;

/* Elaborate the net's body with its parameters `env` into the current graph (E->nodes...).
 * Returns 0, or 1 after reporting errors. */
int sema_net_body(sema_ctx *E, const ast_decl *net, sema_bind *env);
/* Evaluate an expression with parameters env (shape variables from E->cur_shape). */
int sema_eval(sema_ctx *E, sema_bind *env, const ast_expr *x, sema_val *out);
const char *sema_val_str(sema_ctx *E, const sema_val *v);
/* 1 if `name` is a C keyword or a reserved identifier (reports it at sp as a `what` name). */
int sema_bad_c_name(sema_ctx *E, const char *name, src_span sp, const char *what);
int sema_is_builtin(const char *name);

#endif
