/* frontend.h — the front end as a library: netdef text -> checked ir_program (ir.h).
 *
 * fe_compile lexes, parses, elaborates (parameters, -D overrides, blocks, repeat, shared
 * blocks, domains) and infers every shape. It never exits and never crashes on bad input:
 * errors are printed to diag_out as `file:line:col: error: ...` and NULL is returned.
 * Memory: one arena per compilation, released by fe_free (nothing else to free).
 */
#ifndef HSICC_FRONTEND_H
#define HSICC_FRONTEND_H

#include <stddef.h>
#include <stdio.h>

#include "ir.h"

/* -D name=value; or from an experiment's `defines:` (where: "file:line:col", path: the key).
 * origin: how a value without a place was given, for messages ("--domain a:k=2", "set by hsicc
 * build from the data..."); NULL: "-D name=value". */
typedef struct fe_define { const char *name, *value, *where, *path, *origin; } fe_define;
typedef struct fe_domain { const char *name; int n_defines; const fe_define *defines; } fe_domain;

/* Parse, elaborate and shape-check `path` (or the in-memory text when text != NULL) once per
 * domain, into one program; diagnostics printed to `diag_out` (NULL: silent). net: which net
 * of the file (NULL: the last `net` in the file). Returns NULL after printing errors.
 * With n_domains > 1, non-shared parameter names get the prefix "<domain name>."; parameters
 * of `shared block`s keep their names and are one ir_param used by every graph. With one
 * domain named "" nothing is prefixed. n_domains == 0 means one domain "" without defines. */
ir_program *fe_compile(const char *path, const char *text, size_t len, const char *net,
                       int n_domains, const fe_domain *domains, FILE *diag_out);
void fe_free(ir_program *p);

/* Limits that keep any input from hanging or exhausting memory (see LANGUAGE.md). */
#define FE_MAX_SOURCE (16 << 20)     /* bytes of a netdef */
#define FE_MAX_AST_BYTES (160 << 20) /* the syntax tree of a netdef, checked at every token */
#define FE_MAX_NODES 100000          /* IR nodes of a program, all graphs together */
#define FE_MAX_ITERATIONS 200000     /* repeat iterations + block calls of a program */
#define FE_MAX_BLOCK_DEPTH 32        /* nested block calls */
#define FE_MAX_NEST 256              /* repeat, residual, branch, block calls nested, all told */
#define FE_MAX_SIZE 2147483647       /* any size, kernel, stride, padding, channel count */
#define FE_MAX_LOSSES 16             /* loss statements of a net */
#define FE_MAX_NUMEL ((int64_t)1 << 40) /* elements of one tensor */

#endif
