/* ast.h — the syntax tree of a netdef, as the parser builds it (no names resolved, no values
 * computed; the elaborator, sema_*.c, does that). Every node carries its source span. All nodes live in the
 * compilation's arena (mem.h); lists are ast_vec arrays of pointers.
 */
#ifndef HSICC_AST_H
#define HSICC_AST_H

#include <stdint.h>

#include "diag.h"
#include "mem.h"
#include "span.h"

typedef struct ast_vec { int n, cap; void **v; } ast_vec;   /* growable array of pointers */

typedef struct ast_body ast_body;

typedef enum ast_expr_kind {
    AE_INT,    /* i */
    AE_FLOAT,  /* f */
    AE_BOOL,   /* i = 0 or 1 */
    AE_NAME,   /* name: a parameter, a shape variable, or a symbol (same, valid, he_normal, ...) */
    AE_BIN,    /* op in + - * / % < > or an AST_OP_ below; lhs, rhs */
    AE_NEG,    /* -lhs */
    AE_LIST,   /* items: [a, b, ...] */
    AE_CALL,   /* name(args): an init such as gaussian(0.01), or a layer given as a value */
    AE_PIPE    /* body: { layers } given as a value (residual shortcut) */
} ast_expr_kind;

enum { AST_OP_LE = 256, AST_OP_GE, AST_OP_EQ, AST_OP_NE };   /* <= >= == != */

typedef struct ast_expr {
    ast_expr_kind kind;
    src_span span;
    int64_t i;
    double f;
    int op;
    const char *name;
    struct ast_expr *lhs, *rhs;
    ast_vec items;             /* AE_LIST: ast_expr*; AE_CALL: ast_arg* */
    ast_body *body;
    int depth;                 /* nesting depth of this expression (bounded by the parser) */
} ast_expr;

typedef struct ast_arg {       /* positional (name NULL) or `name = value` */
    const char *name;
    src_span name_span;        /* of the name, or of the value when positional */
    ast_expr *value;
} ast_arg;

typedef enum ast_elem_kind {
    EL_CALL,      /* name or name(args): a layer, a block call or a named value */
    EL_REPEAT,    /* repeat count { body } */
    EL_RESIDUAL,  /* residual[(args)] { body }: input + body(input) */
    EL_BRANCH     /* branch[(args)] { arm | arm | ... } combine  (combine: concat or add) */
} ast_elem_kind;

typedef struct ast_elem {
    ast_elem_kind kind;
    src_span span;             /* the keyword or the name */
    const char *name;
    int parens;                /* EL_CALL: written with (...) */
    ast_vec args;              /* ast_arg* */
    ast_expr *count, *start;   /* EL_REPEAT: iterations, first index (NULL: 0) */
    ast_body *body;            /* EL_REPEAT, EL_RESIDUAL */
    ast_vec arms;              /* EL_BRANCH: ast_body* */
    const char *combine;       /* EL_BRANCH */
    src_span combine_span;
} ast_elem;

typedef enum ast_stmt_kind {
    ST_PIPE,   /* [assign =] elems...: layers applied in order to the current value */
    ST_INPUT,  /* [assign =] input [dims] */
    ST_LOSS    /* loss kind [(args)] */
} ast_stmt_kind;

typedef struct ast_stmt {
    ast_stmt_kind kind;
    src_span span;
    const char *assign;        /* `x = ...`: names the result; NULL otherwise */
    src_span assign_span;
    ast_vec elems;             /* ST_PIPE: ast_elem* */
    ast_expr *dims;            /* ST_INPUT: an AE_LIST */
    const char *loss;          /* ST_LOSS */
    src_span loss_span;
    ast_vec loss_args;         /* ST_LOSS: ast_arg* (head = x, weight = 0.5, ...) */
} ast_stmt;

struct ast_body { src_span span; ast_vec stmts; /* ast_stmt* */ };

typedef struct ast_param { const char *name; src_span span; ast_expr *def; /* NULL: none */ } ast_param;

typedef struct ast_decl {
    int is_net, shared;        /* net, block or shared block */
    const char *name;
    src_span span;             /* of the name */
    ast_vec params;            /* ast_param* */
    ast_body *body;
} ast_decl;

typedef struct ast_file { ast_vec decls; /* ast_decl* */ } ast_file;

void ast_push(mem_arena *a, ast_vec *v, void *x);

/* parse_text: lex and parse `text` (len bytes, may contain NULs) into an AST. Errors go to d;
 * returns NULL when any was found. */
ast_file *parse_text(mem_arena *a, diag *d, const char *file, const char *text, size_t len);

#endif
