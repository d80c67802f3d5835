/* config_internal.h — the experiment loader's private pieces, shared by config.c (YAML text ->
 * a tree of nodes with positions, --set overrides, messages) and config_schema.c (tree ->
 * hsi_experiment, and back to YAML). Not a public API.
 */
#ifndef HSI_CONFIG_INTERNAL_H
#define HSI_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "hsi_config.h"

/* Everything of one load lives in one arena, freed at once. */
typedef struct hsi_exp_arena hsi_exp_arena;
hsi_exp_arena *cfg_arena_new(void);
void cfg_arena_free(hsi_exp_arena *a);
void *cfg_alloc(hsi_exp_arena *a, size_t n);          /* zeroed; NULL only on out-of-memory */
char *cfg_strdup(hsi_exp_arena *a, const char *s);
char *cfg_strndup(hsi_exp_arena *a, const char *s, size_t n);

/* Where a node came from: origin is a file name (line/col 1-based) or, for a --set override,
 * the whole "--set key=value" text (line 0: no position). */
typedef struct cfg_mark {
    const char *origin;
    const char *text;          /* the source text (for the quoted line and caret), or NULL */
    size_t len;
    int line, col;
} cfg_mark;

typedef enum cfg_kind { CFG_SCALAR, CFG_MAP, CFG_SEQ } cfg_kind;

typedef struct cfg_node cfg_node;
struct cfg_node {
    cfg_kind kind;
    cfg_mark mark;
    char *str;                 /* CFG_SCALAR: the text */
    int quoted;                /* CFG_SCALAR: a text: 1 written quoted or as a block scalar,
                                  2 tagged !!str */
    int n, cap;
    char **keys;               /* CFG_MAP: n keys, file order */
    cfg_mark *key_marks;       /* CFG_MAP: where each key is */
    cfg_node **kids;           /* CFG_MAP: n values; CFG_SEQ: n items */
};

/* Parser context: the arena and the one error message. */
typedef struct cfg_ctx {
    hsi_exp_arena *arena;
    char *err;
    size_t errlen;
    int failed;
} cfg_ctx;

/* Records the (first) error at mark m: "ORIGIN:LINE:COL: error: <fmt...>", then the source
 * line and a caret. Always returns -1. */
int cfg_error(cfg_ctx *c, const cfg_mark *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Parses one YAML document. NULL on error (syntax, duplicate key, non-scalar key, a file
 * without content). Empty text yields a message saying so. */
cfg_node *cfg_parse(cfg_ctx *c, const char *text, size_t len, const char *origin);

/* Node helpers. */
cfg_node *cfg_get(const cfg_node *map, const char *key);     /* NULL if absent or not a map */
int cfg_index(const cfg_node *map, const char *key);         /* -1 if absent */
int cfg_is_null(const cfg_node *n);                          /* plain "", "~", "null" */
cfg_node *cfg_new_map(cfg_ctx *c, const cfg_mark *m);
/* Sets map[key] = val (replacing, or appending at the end). -1 on out-of-memory. */
int cfg_map_set(cfg_ctx *c, cfg_node *map, const char *key, const cfg_mark *km, cfg_node *val);

/* Applies "a.b.0.c=value" (value parsed as a YAML scalar or flow collection) to root. The
 * path is created where missing (maps; a list index may equal the length to append). A path
 * through a scalar or an index past the end is an error located at the --set. */
int cfg_apply_set(cfg_ctx *c, cfg_node *root, const char *set);
/* Puts val at key path `path` (same rules; m locates errors). */
int cfg_put_path(cfg_ctx *c, cfg_node *root, const char *path, cfg_node *val, const cfg_mark *m);

/* The closest of cands[0..n) to word (edit distance <= max(2, len/3); else one that is a
 * prefix of word or has word as prefix, at least 2 characters), or NULL: hsi_suggest's
 * choice (hsi_diagtext.h, shared with hsicc) with the loader's looser limits. */
const char *cfg_suggest(const char *word, const char *const *cands, int n);

/* Text building for the YAML writer and for sweep values. */
typedef struct cfg_buf { char *s; size_t len, cap; int oom; } cfg_buf;
void cfg_buf_printf(cfg_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* s as a YAML scalar: plain when that reads back as the same string, else double-quoted. */
void cfg_buf_scalar(cfg_buf *b, const char *s);
/* A node in flow style: 3, "a b", [1, 2], {k: v}. */
void cfg_buf_flow(cfg_buf *b, const cfg_node *n);

/* config_schema.c: tree (overrides already applied) -> experiment. dir = the experiment
 * file's folder ("" for the current one). 0 / -1. */
int cfg_build(cfg_ctx *c, cfg_node *root, const char *origin, const hsi_experiment_opts *o,
              hsi_experiment *x);

#endif /* HSI_CONFIG_INTERNAL_H */
