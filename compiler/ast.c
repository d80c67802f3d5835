/* ast.c — helpers for the syntax tree (ast.h). The parser (parser.y) builds the nodes. */
#include "ast.h"

#include <string.h>

void ast_push(mem_arena *a, ast_vec *v, void *x)
{
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 4;
        v->v = mem_grow(a, v->v, (size_t)v->n * sizeof *v->v, (size_t)cap * sizeof *v->v);
        v->cap = cap;
    }
    v->v[v->n++] = x;
}
