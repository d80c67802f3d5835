/* config.c — experiment files, the YAML half: libyaml text -> a tree of nodes that remember
 * their file:line:col, --set overrides and sweep points grafted onto that tree, messages with
 * the source line and a caret (laid out from hsi_diagtext.h's pieces, shared with hsicc), and
 * the load / write entry points.
 *
 * It does not know the schema: config_schema.c turns the tree into hsi_experiment (and back).
 * Memory policy: one arena per load, freed by hsi_experiment_free.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config_internal.h"
#include "hsi_diagtext.h"
#include "hsi_io.h"
#include "io/yaml_tags.h"

/* ---- arena ----------------------------------------------------------------------------------- */

typedef struct arena_block { struct arena_block *next; max_align_t data[]; } arena_block;
struct hsi_exp_arena { arena_block *head; };

hsi_exp_arena *cfg_arena_new(void) { return calloc(1, sizeof(hsi_exp_arena)); }

void cfg_arena_free(hsi_exp_arena *a)
{
    if (!a) return;
    for (arena_block *b = a->head, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    free(a);
}

void *cfg_alloc(hsi_exp_arena *a, size_t n)
{
    arena_block *b = calloc(1, sizeof *b + (n ? n : 1));
    if (!b) return NULL;
    b->next = a->head;
    a->head = b;
    return b->data;
}

char *cfg_strndup(hsi_exp_arena *a, const char *s, size_t n)
{
    char *d = cfg_alloc(a, n + 1);
    if (d) memcpy(d, s, n);
    return d;
}

char *cfg_strdup(hsi_exp_arena *a, const char *s) { return s ? cfg_strndup(a, s, strlen(s)) : NULL; }

/* ---- messages -------------------------------------------------------------------------------- */

int cfg_error(cfg_ctx *c, const cfg_mark *m, const char *fmt, ...)
{
    if (c->failed) return -1;
    c->failed = 1;
    if (!c->err || !c->errlen) return -1;
    size_t k = (size_t)hsi_diag_where(c->err, c->errlen, m ? m->origin : "experiment",
                                      m ? m->line : 0, m ? m->col : 0, "error");
    if (k >= c->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    k += (size_t)vsnprintf(c->err + k, c->errlen - k, fmt, ap);
    va_end(ap);
    if (k >= c->errlen || !m || m->line <= 0 || !m->text) return -1;
    /* The source line (up to a '\r'), then a caret under the column. */
    const char *p;
    long n = hsi_diag_line(m->text, m->len, m->line, &p);
    const char *cr = n > 0 ? memchr(p, '\r', (size_t)n) : NULL;
    if (cr) n = cr - p;
    if (n < 0 || n > 200) return -1;
    k += (size_t)snprintf(c->err + k, c->errlen - k, "\n  %.*s\n  ", (int)n, p);
    if (k + 2 < c->errlen) k += hsi_diag_caret_pad(p, (size_t)n, m->col, c->err + k, c->errlen - k - 1);
    if (k + 2 < c->errlen) snprintf(c->err + k, c->errlen - k, "^");
    return -1;
}

const char *cfg_suggest(const char *word, const char *const *cands, int n)
{
    return hsi_suggest(word, cands, n, 2, 1);
}

/* ---- the tree -------------------------------------------------------------------------------- */

cfg_node *cfg_get(const cfg_node *map, const char *key)
{
    int i = cfg_index(map, key);
    return i < 0 ? NULL : map->kids[i];
}

int cfg_index(const cfg_node *map, const char *key)
{
    if (!map || map->kind != CFG_MAP) return -1;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return i;
    return -1;
}

int cfg_is_null(const cfg_node *n)
{
    return n && n->kind == CFG_SCALAR && !n->quoted &&
           (!n->str[0] || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
            strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0);
}

static cfg_node *new_node(cfg_ctx *c, cfg_kind kind, const cfg_mark *m)
{
    cfg_node *n = cfg_alloc(c->arena, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->mark = *m;
    return n;
}

cfg_node *cfg_new_map(cfg_ctx *c, const cfg_mark *m) { return new_node(c, CFG_MAP, m); }

/* Appends a child (and for maps its key); arrays grow by doubling inside the arena. */
static int node_push(cfg_ctx *c, cfg_node *n, const char *key, const cfg_mark *km, cfg_node *kid)
{
    if (n->n == n->cap) {
        int cap = n->cap ? 2 * n->cap : 4;
        cfg_node **kids = cfg_alloc(c->arena, sizeof *kids * (size_t)cap);
        char **keys = cfg_alloc(c->arena, sizeof *keys * (size_t)cap);
        cfg_mark *kms = cfg_alloc(c->arena, sizeof *kms * (size_t)cap);
        if (!kids || !keys || !kms) return -1;
        if (n->n) {
            memcpy(kids, n->kids, sizeof *kids * (size_t)n->n);
            if (n->kind == CFG_MAP) {
                memcpy(keys, n->keys, sizeof *keys * (size_t)n->n);
                memcpy(kms, n->key_marks, sizeof *kms * (size_t)n->n);
            }
        }
        n->kids = kids;
        n->keys = keys;
        n->key_marks = kms;
        n->cap = cap;
    }
    if (n->kind == CFG_MAP) {
        n->keys[n->n] = cfg_strdup(c->arena, key);
        n->key_marks[n->n] = *km;
        if (!n->keys[n->n]) return -1;
    }
    n->kids[n->n++] = kid;
    return 0;
}

int cfg_map_set(cfg_ctx *c, cfg_node *map, const char *key, const cfg_mark *km, cfg_node *val)
{
    int i = cfg_index(map, key);
    if (i >= 0) {
        map->kids[i] = val;
        return 0;
    }
    return node_push(c, map, key, km, val);
}

/* ---- YAML text -> tree ----------------------------------------------------------------------- */

#define CFG_MAX_NODES 200000   /* alias expansion bombs stop here */
#define CFG_MAX_DEPTH 64

typedef struct load_state {
    cfg_ctx *c;
    yaml_document_t *doc;
    const hsi_yaml_tags *tags;   /* which nodes have a tag in the text */
    const char *origin, *text;
    size_t len;
    long nodes;
} load_state;

static cfg_mark mark_at(const load_state *s, yaml_mark_t ym)
{
    cfg_mark m = {s->origin, s->text, s->len, (int)ym.line + 1, (int)ym.column + 1};
    return m;
}

typedef struct key_at { const char *key; long i; } key_at;

static int by_key_then_place(const void *a, const void *b)
{
    const key_at *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* The place of the first key of a mapping that repeats an earlier one (*first: that earlier
 * one's place), -1 if none, -2 out of memory. Its keys are sorted once: a search among the keys
 * before each key took minutes on a mapping of 200000 keys, the time of a hang. */
static long first_repeat(load_state *s, yaml_node_t *yn, long *first)
{
    long n = (long)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start), m = 0, at = -1;
    if (n < 2) return -1;
    key_at *v = malloc(sizeof *v * (size_t)n);
    if (!v) return -2;
    for (long i = 0; i < n; i++) {
        yaml_node_t *k = yaml_document_get_node(s->doc, yn->data.mapping.pairs.start[i].key);
        if (k && k->type == YAML_SCALAR_NODE) v[m++] = (key_at){(const char *)k->data.scalar.value, i};
    }
    qsort(v, (size_t)m, sizeof *v, by_key_then_place);
    for (long j = 1; j < m; j++)   /* the second of a run of equal keys: its first repeat */
        if (!strcmp(v[j].key, v[j - 1].key) && (j < 2 || strcmp(v[j - 1].key, v[j - 2].key)) &&
            (at < 0 || v[j].i < at)) {
            at = v[j].i;
            *first = v[j - 1].i;
        }
    free(v);
    return at;
}

static cfg_node *convert(load_state *s, yaml_node_t *yn, int depth, const char *path)
{
    cfg_mark m = mark_at(s, yn->start_mark);
    if (++s->nodes > CFG_MAX_NODES || depth > CFG_MAX_DEPTH) {
        cfg_error(s->c, &m, "the document is too large or too deeply nested (aliases?)");
        return NULL;
    }
    char why[400];
    int tag = hsi_yaml_tag_check(s->tags, s->doc, yn, "an experiment", why, sizeof why);
    if (tag < 0) {
        cfg_error(s->c, &m, "key '%s': %s", path, why);
        return NULL;
    }
    if (yn->type == YAML_SCALAR_NODE) {
        cfg_node *n = new_node(s->c, CFG_SCALAR, &m);
        if (!n) return NULL;
        n->str = cfg_strndup(s->c->arena, (const char *)yn->data.scalar.value,
                             yn->data.scalar.length);
        n->quoted = tag == HSI_YTAG_TEXT ? 2
                    : tag == HSI_YTAG_NONE && yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        if (n->str && strlen(n->str) != yn->data.scalar.length) {
            cfg_error(s->c, &m, "key '%s': a NUL character inside a value", path);
            return NULL;
        }
        return n->str ? n : NULL;
    }
    if (yn->type == YAML_SEQUENCE_NODE) {
        cfg_node *n = new_node(s->c, CFG_SEQ, &m);
        if (!n) return NULL;
        int i = 0;
        for (yaml_node_item_t *it = yn->data.sequence.items.start;
             it < yn->data.sequence.items.top; it++, i++) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s%s%d", path, *path ? "." : "", i);
            cfg_node *kid = convert(s, yaml_document_get_node(s->doc, *it), depth + 1, sub);
            if (!kid || node_push(s->c, n, NULL, NULL, kid)) return NULL;
        }
        return n;
    }
    if (yn->type != YAML_MAPPING_NODE) return NULL;
    cfg_node *n = new_node(s->c, CFG_MAP, &m);
    if (!n) return NULL;
    long first = -1, repeat = first_repeat(s, yn, &first);
    if (repeat == -2) {
        cfg_error(s->c, &m, "out of memory");
        return NULL;
    }
    for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(s->doc, p->key);
        cfg_mark km = mark_at(s, k->start_mark);
        if (k->type != YAML_SCALAR_NODE) {
            cfg_error(s->c, &km, "key '%s': a key must be a plain name, not a %s", path,
                      k->type == YAML_MAPPING_NODE ? "mapping" : "list");
            return NULL;
        }
        const char *key = (const char *)k->data.scalar.value;
        char sub[512];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
        if (hsi_yaml_tag_check(s->tags, s->doc, k, "an experiment", why, sizeof why) < 0) {
            cfg_error(s->c, &km, "key '%s': the key is %s", sub, why);   /* '!foo lr: 0.01' */
            return NULL;
        }
        if (!strcmp(key, "<<") && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            cfg_error(s->c, &km, "key '%s': YAML merge keys ('<<: *anchor') are not read; write "
                      "the keys out (an alias of a whole value, such as 'solver: *anchor', is read)",
                      sub);
            return NULL;
        }
        if (p - yn->data.mapping.pairs.start == repeat) {
            cfg_error(s->c, &km, "duplicate key '%s' (first given at line %d)", sub,
                      n->key_marks[first].line);
            return NULL;
        }
        cfg_node *kid = convert(s, yaml_document_get_node(s->doc, p->value), depth + 1, sub);
        if (!kid || node_push(s->c, n, key, &km, kid)) return NULL;
    }
    return n;
}

static void yaml_syntax_error(cfg_ctx *c, const yaml_parser_t *p, const char *origin,
                              const char *text, size_t len)
{
    cfg_mark m = {origin, text, len, (int)p->problem_mark.line + 1,
                  (int)p->problem_mark.column + 1};
    size_t at = p->problem_mark.index;
    if (p->error == YAML_READER_ERROR) {   /* the reader gives a byte offset, not a mark */
        size_t off = p->problem_offset < len ? p->problem_offset : len;
        m.line = 1;
        m.col = 1;
        for (size_t i = 0; i < off; i++) {
            if (text[i] == '\n') m.line++, m.col = 1;
            else if (((unsigned char)text[i] & 0xC0) != 0x80) m.col++;
        }
        cfg_error(c, &m, "YAML syntax: %s (byte 0x%02x)", p->problem ? p->problem : "unreadable text",
                  (unsigned)p->problem_value & 0xFF);
        return;
    }
    if (at < len && text[at] == '\t') {
        cfg_error(c, &m, "YAML syntax: a tab character; YAML indents with spaces only");
        return;
    }
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context)
        cfg_error(c, &m, "YAML syntax: %s %s (line %d)", problem, p->context,
                  (int)p->context_mark.line + 1);
    else
        cfg_error(c, &m, "YAML syntax: %s", problem);
}

/* libyaml's scanner is quadratic in the nesting of flow collections ('[[[[...' of 200,000
 * brackets takes minutes), so before loading a document the nesting is checked on the event
 * stream, which stops at the first collection deeper than the tree may be. Returns 0 when
 * the nesting is fine or the text has a syntax error (the load reports that), -1 after an
 * error. */
static int check_nesting(cfg_ctx *c, const char *text, size_t len, const char *origin)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return 0;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > CFG_MAX_DEPTH + 1) {
                cfg_mark m = {origin, text, len, (int)ev.start_mark.line + 1,
                              (int)ev.start_mark.column + 1};
                cfg_error(c, &m, "the document is too large or too deeply nested (aliases?)");
                rc = -1;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (rc || t == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

cfg_node *cfg_parse(cfg_ctx *c, const char *text, size_t len, const char *origin)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    cfg_mark top = {origin, text, len, 1, 1};
    if (check_nesting(c, text, len, origin)) return NULL;
    if (!yaml_parser_initialize(&parser)) {
        cfg_error(c, &top, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    cfg_node *root = NULL;
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_syntax_error(c, &parser, origin, text, len);
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *yroot = yaml_document_get_root_node(&doc);
    if (!yroot) {
        cfg_error(c, &top, "the file is empty; an experiment needs at least 'net', 'domains', "
                           "'split', 'solver' and 'train'");
    } else {
        hsi_yaml_tags tags;
        load_state s = {c, &doc, &tags, origin, text, len, 0};
        if (hsi_yaml_tags_scan(text, len, &tags)) {
            cfg_error(c, &top, "out of memory");
            yaml_document_delete(&doc);
            yaml_parser_delete(&parser);
            return NULL;
        }
        root = convert(&s, yroot, 0, "");
        hsi_yaml_tags_free(&tags);
        yaml_document_t next;
        if (root && yaml_parser_load(&parser, &next)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            if (r2) {
                cfg_mark m2 = mark_at(&s, r2->start_mark);
                cfg_error(c, &m2, "a second YAML document ('---'); an experiment file holds one");
                root = NULL;
            }
            yaml_document_delete(&next);
        } else if (root) {
            yaml_syntax_error(c, &parser, origin, text, len);
            root = NULL;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return root;
}

/* ---- --set and sweep grafts ------------------------------------------------------------------ */

static int is_index(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

int cfg_put_path(cfg_ctx *c, cfg_node *root, const char *path, cfg_node *val, const cfg_mark *m)
{
    char buf[512];
    if (strlen(path) >= sizeof buf)
        return cfg_error(c, m, "'%.60s...' is too long for a key path (%zu characters, at most "
                         "%zu)", path, strlen(path), sizeof buf - 1);
    if (!*path)
        return cfg_error(c, m, "'%s' is not a key path (keys separated by dots)", path);
    strcpy(buf, path);
    cfg_node *at = root;
    char *seg = buf;
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot) *dot = 0;
        if (!*seg) return cfg_error(c, m, "'%s' is not a key path (an empty key)", path);
        cfg_node *next;
        if (at->kind == CFG_SEQ) {
            if (!is_index(seg))
                return cfg_error(c, m, "key '%.*s' is a list: index it with a number, not '%s'",
                                 (int)(seg - buf - 1), path, seg);
            long i = strtol(seg, NULL, 10);
            if (i > at->n)
                return cfg_error(c, m, "key '%.*s' has %d items; index %s is past the end",
                                 (int)(seg - buf - 1), path, at->n, seg);
            if (i == at->n) {
                next = dot ? cfg_new_map(c, m) : val;
                if (!next || node_push(c, at, NULL, NULL, next)) return -1;
            } else if (!dot) {
                at->kids[i] = val;
            }
            if (!dot) return 0;
            at = at->kids[i];
        } else if (at->kind == CFG_MAP) {
            if (!dot) return cfg_map_set(c, at, seg, m, val);
            next = cfg_get(at, seg);
            if (!next || cfg_is_null(next)) {
                next = cfg_new_map(c, m);
                if (!next || cfg_map_set(c, at, seg, m, next)) return -1;
            }
            at = next;
        } else {
            return cfg_error(c, m, "key '%.*s' is a single value; it has no key '%s'",
                             (int)(seg - buf - 1), path, seg);
        }
        seg = dot + 1;
    }
}

int cfg_apply_set(cfg_ctx *c, cfg_node *root, const char *set)
{
    /* every message starts with this: a long --set is cut here, or the message itself would be
     * cut off the end of the caller's buffer (a 5000-character key path left only its echo) */
    enum { SHOWN = 160 };
    size_t len = strlen(set);
    char *where = cfg_alloc(c->arena, SHOWN + 64);
    if (!where) return -1;
    if (len > SHOWN)
        snprintf(where, SHOWN + 64, "--set %.*s... (%zu characters)", SHOWN, set, len);
    else
        snprintf(where, SHOWN + 64, "--set %s", set);
    cfg_mark m = {where, NULL, 0, 0, 0};
    const char *eq = strchr(set, '=');
    if (!eq || eq == set)
        return cfg_error(c, &m, "expected key.path=value (for example solver.lr=1e-3)");
    char *key = cfg_strndup(c->arena, set, (size_t)(eq - set));
    if (!key) return -1;
    const char *value = eq + 1;
    cfg_node *val;
    if (!*value) {
        val = new_node(c, CFG_SCALAR, &m);
        if (!val || !(val->str = cfg_strdup(c->arena, ""))) return -1;
    } else {
        /* Parse the value as YAML, then relocate every message to the --set itself (the
         * inner origin is short: a long value must not push the problem out of 'inner'). */
        char *save = c->err;
        size_t savelen = c->errlen;
        char inner[256];
        c->err = inner;
        c->errlen = sizeof inner;
        val = cfg_parse(c, value, strlen(value), "--set");
        c->err = save;
        c->errlen = savelen;
        if (!val) {
            c->failed = 0;
            const char *what = strstr(inner, "error: ");
            const char *nl = strchr(inner, '\n');
            if (nl) *(char *)nl = 0;
            int glob = strchr(value, '*') && strstr(inner, "alias");   /* [*] reads as an alias */
            return cfg_error(c, &m, "key '%s': the value is not valid YAML (%s)%s", key,
                             what ? what + 7 : inner,
                             glob ? "; quote glob patterns, e.g. '[\"trunk.*\"]'" : "");
        }
    }
    cfg_node *stack[CFG_MAX_DEPTH + 2];
    int sp = 0;
    stack[sp++] = val;
    while (sp) {   /* every node of the value is located at the --set */
        cfg_node *n = stack[--sp];
        n->mark = m;
        for (int i = 0; i < n->n && n->kind != CFG_SCALAR; i++) {
            if (n->kind == CFG_MAP) n->key_marks[i] = m;
            if (sp < CFG_MAX_DEPTH) stack[sp++] = n->kids[i];
        }
    }
    return cfg_put_path(c, root, key, val, &m);
}

/* ---- text building --------------------------------------------------------------------------- */

void cfg_buf_printf(cfg_buf *b, const char *fmt, ...)
{
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static int same_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

/* A plain scalar reads back as the same string when it is made of "safe" characters, does not
 * start with a YAML indicator, and is not a number / bool / null. */
static int plain_ok(const char *s)
{
    static const char *const special[] = {"true", "false", "yes", "no", "on", "off", "null", "~",
                                          "y", "n"};
    if (!*s) return 0;
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./+*-", *p))
            return 0;
    if (strchr("-.+*", s[0]) && !(s[0] == '.' && s[1] == '.') && !(s[0] == '.' && s[1] == '/'))
        return 0;
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        if (same_nocase(s, special[i])) return 0;
    char *end;
    errno = 0;
    strtod(s, &end);
    return *end != 0;
}

void cfg_buf_scalar(cfg_buf *b, const char *s)
{
    if (plain_ok(s)) {
        cfg_buf_printf(b, "%s", s);
        return;
    }
    cfg_buf_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') cfg_buf_printf(b, "\\%c", *p);
        else if (*p == '\n') cfg_buf_printf(b, "\\n");
        else if (*p == '\t') cfg_buf_printf(b, "\\t");
        else if (*p < 0x20) cfg_buf_printf(b, "\\x%02x", *p);
        else cfg_buf_printf(b, "%c", *p);
    }
    cfg_buf_printf(b, "\"");
}

void cfg_buf_flow(cfg_buf *b, const cfg_node *n)
{
    if (n->kind == CFG_SCALAR) {
        /* A plain scalar stays plain (numbers stay numbers); a quoted one stays a string. */
        if (!n->quoted && !cfg_is_null(n) && !strpbrk(n->str, ",[]{}:#\"'\n\t") && n->str[0] &&
            !strchr("-&*!|>%@`?", n->str[0]))
            cfg_buf_printf(b, "%s", n->str);
        else if (cfg_is_null(n))
            cfg_buf_printf(b, "null");
        else {
            cfg_buf_printf(b, "\"");
            for (const char *p = n->str; *p; p++) {
                if (*p == '"' || *p == '\\') cfg_buf_printf(b, "\\%c", *p);
                else if (*p == '\n') cfg_buf_printf(b, "\\n");
                else cfg_buf_printf(b, "%c", *p);
            }
            cfg_buf_printf(b, "\"");
        }
        return;
    }
    cfg_buf_printf(b, n->kind == CFG_SEQ ? "[" : "{");
    for (int i = 0; i < n->n; i++) {
        if (i) cfg_buf_printf(b, ", ");
        if (n->kind == CFG_MAP) {
            cfg_buf_scalar(b, n->keys[i]);
            cfg_buf_printf(b, ": ");
        }
        cfg_buf_flow(b, n->kids[i]);
    }
    cfg_buf_printf(b, n->kind == CFG_SEQ ? "]" : "}");
}

/* ---- entry points ---------------------------------------------------------------------------- */

/* -1 after an error when sets[i] sets the key of an earlier one (the later value silently won:
 * a typo in a long command line); a key and a key inside it (solver={...} then solver.lr=...)
 * are two keys, applied in order. */
static int set_twice(cfg_ctx *c, const char *const *sets, int i)
{
    size_t k = strcspn(sets[i], "=");
    for (int j = 0; j < i; j++)
        if (strcspn(sets[j], "=") == k && !strncmp(sets[j], sets[i], k) && sets[i][k] == '=') {
            cfg_mark m = {"--set", NULL, 0, 0, 0};
            return cfg_error(c, &m, "key '%.*s' is given twice: '%.160s' and '%.160s'", (int)k,
                             sets[i], sets[j], sets[i]);
        }
    return 0;
}

/* One full load: parse, --set, build (which applies the sweep point). */
static hsi_experiment *load_once(const char *text, size_t len, const char *origin,
                                 const hsi_experiment_opts *o, int point, char *err,
                                 size_t errlen)
{
    hsi_exp_arena *a = cfg_arena_new();
    if (!a) {
        snprintf(err, errlen, "%s: error: out of memory", origin);
        return NULL;
    }
    cfg_ctx c = {a, err, errlen, 0};
    hsi_experiment *x = cfg_alloc(a, sizeof *x);
    cfg_node *root = x ? cfg_parse(&c, text, len, origin) : NULL;
    if (root && root->kind != CFG_MAP) {
        cfg_error(&c, &root->mark, "an experiment is a mapping of keys (net:, domains:, ...), "
                                   "not a %s", root->kind == CFG_SEQ ? "list" : "single value");
        root = NULL;
    }
    for (int i = 0; root && i < o->n_sets; i++)
        if (set_twice(&c, o->sets, i) || cfg_apply_set(&c, root, o->sets[i])) root = NULL;
    if (root) {
        x->arena = a;
        hsi_experiment_opts po = *o;
        po.sweep_point = point;
        if (cfg_build(&c, root, origin, &po, x) == 0) return x;
    }
    if (!c.failed) snprintf(err, errlen, "%s: error: out of memory", origin);
    cfg_arena_free(a);
    return NULL;
}

hsi_experiment *hsi_experiment_load_text(const char *text, size_t len, const char *origin,
                                         const hsi_experiment_opts *o, char *err, size_t errlen)
{
    hsi_experiment *x = load_once(text, len, origin, o, o->sweep_point, err, errlen);
    if (!x || o->sweep_point >= 0) return x;
    /* No point chosen: every point must load, so a bad sweep value fails now, not hours later. */
    for (int p = 0; p < x->sweep_points; p++) {
        hsi_experiment *y = load_once(text, len, origin, o, p, err, errlen);
        if (!y) {
            hsi_experiment_free(x);
            return NULL;
        }
        hsi_experiment_free(y);
    }
    return x;
}

hsi_experiment *hsi_experiment_load(const hsi_experiment_opts *o, char *err, size_t errlen)
{
    char why[1024];
    FILE *f = hsi_open_input(o->path, why, sizeof why);
    if (!f) {
        /* why is "<path>: <reason>": the message here is "<path>: error: <reason>" */
        snprintf(err, errlen, "%s: error: %s", o->path, why + strlen(o->path) + 2);
        return NULL;
    }
    size_t cap = 1 << 14, len = 0;
    char *text = malloc(cap);
    for (size_t got; text && (got = fread(text + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            char *t = len < (64u << 20) ? realloc(text, cap *= 2) : NULL;
            if (!t) {
                free(text);
                text = NULL;
            }
            text = t;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!text || bad) {
        snprintf(err, errlen, "%s: error: %s", o->path,
                 bad ? "read error" : "too large (over 64 MiB) or out of memory");
        free(text);
        return NULL;
    }
    hsi_experiment *x = hsi_experiment_load_text(text, len, o->path, o, err, errlen);
    free(text);
    return x;
}

void hsi_experiment_free(hsi_experiment *x)
{
    if (x) cfg_arena_free(x->arena);
}

int hsi_experiment_write(const hsi_experiment *x, const char *path, char *err, size_t errlen)
{
    char *text = hsi_experiment_to_yaml(x, err, errlen);
    if (!text) return -1;
    int rc = hsi_atomic_write(path, text, strlen(text), err, errlen);
    free(text);
    return rc;
}
