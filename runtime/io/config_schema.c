/* config_schema.c — the experiment schema: the tree from config.c -> hsi_experiment (every key
 * checked: unknown keys with did-you-mean, types, ranges, required keys, cross-key rules), the
 * sweep points, and the resolved experiment written back as YAML.
 *
 * The user documentation of every key is runtime/io/EXPERIMENTS.md; keep the two in step.
 * It does not read datasets: with a registry it checks names and class ids only.
 */
#define _XOPEN_SOURCE 700   /* realpath, getcwd */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"
#include "hsi_data.h"

typedef struct V {
    cfg_ctx *c;
    hsi_exp_arena *a;
    const hsi_experiment_opts *o;
    const char *dir;             /* the experiment file's folder, "" = cwd */
} V;

#define COUNT(a) ((int)(sizeof(a) / sizeof *(a)))

/* ---- paths and words ------------------------------------------------------------------------- */

static char *join(V *v, const char *prefix, const char *key)
{
    char *s = cfg_alloc(v->a, strlen(prefix) + strlen(key) + 2);
    if (s) sprintf(s, "%s%s%s", prefix, *prefix ? "." : "", key);
    return s;
}

/* dir/file; dir "" = the current folder. */
static char *path_join(V *v, const char *dir, const char *file)
{
    char *s = cfg_alloc(v->a, strlen(dir) + strlen(file) + 2);
    if (s) sprintf(s, "%s%s%s", dir, *dir ? "/" : "", file);
    return s;
}

static char *join_index(V *v, const char *prefix, int i)
{
    char num[16];
    snprintf(num, sizeof num, "%d", i);
    return join(v, prefix, num);
}

/* What a node holds, for "got ..." in messages. */
static const char *got(V *v, const cfg_node *n)
{
    if (n->kind == CFG_MAP) return "a mapping";
    if (n->kind == CFG_SEQ) return "a list";
    if (cfg_is_null(n)) return "nothing";
    char *s = cfg_alloc(v->a, strlen(n->str) + 3);
    if (!s) return "?";
    sprintf(s, "\"%.*s\"", 60, n->str);
    return s;
}

static int ident_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* Unknown keys: "unknown key 'solver.lrr'; did you mean 'solver.lr'?" */
static int keys_check(V *v, const cfg_node *map, const char *prefix, const char *const *allowed,
                      int n, const char *hint)
{
    for (int i = 0; i < map->n; i++) {
        int ok = 0;
        for (int j = 0; j < n && !ok; j++) ok = strcmp(map->keys[i], allowed[j]) == 0;
        if (ok) continue;
        const char *s = cfg_suggest(map->keys[i], allowed, n);
        if (s)
            return cfg_error(v->c, &map->key_marks[i], "unknown key '%s'; did you mean '%s'?",
                             join(v, prefix, map->keys[i]), join(v, prefix, s));
        cfg_buf b = {0};
        for (int j = 0; j < n; j++) cfg_buf_printf(&b, "%s%s", j ? ", " : "", allowed[j]);
        int rc = cfg_error(v->c, &map->key_marks[i], "unknown key '%s' (known here: %s)%s",
                           join(v, prefix, map->keys[i]), b.s ? b.s : "", hint ? hint : "");
        free(b.s);
        return rc;
    }
    return 0;
}

static int need_kind(V *v, const cfg_node *n, const char *path, cfg_kind kind)
{
    if (n->kind == kind) return 0;
    return cfg_error(v->c, &n->mark, "key '%s': expected %s, got %s", path,
                     kind == CFG_MAP ? "a mapping (key: value)" :
                     kind == CFG_SEQ ? "a list" : "a single value", got(v, n));
}

static int missing(V *v, const cfg_node *map, const char *prefix, const char *key,
                   const char *why)
{
    return cfg_error(v->c, &map->mark, "missing required key '%s'%s", join(v, prefix, key),
                     why ? why : "");
}

/* ---- scalar readers: each returns 1 when the key was given and read, 0 when absent, -1 ------ */

typedef struct range { double lo, hi; int lo_open, hi_open; } range;
static const range R_POS = {0, INFINITY, 1, 0};
static const range R_NONNEG = {0, INFINITY, 0, 0};
static const range R_ONE_UP = {1, INFINITY, 0, 0};
static const range R_UNIT_HALF_OPEN = {0, 1, 0, 1};   /* [0, 1) */
static const range R_UNIT = {0, 1, 0, 0};             /* [0, 1] */
static const range R_FRACTION = {0, 1, 1, 1};         /* (0, 1) */

static void range_text(range r, int integer, char *buf, size_t n)
{
    const char *what = integer ? "an integer" : "a number";
    if (r.hi >= INT32_MAX) r.hi = INFINITY;
    if (isinf(r.hi) && r.lo == 0 && r.lo_open) snprintf(buf, n, "a positive %s", integer ? "integer" : "number");
    else if (isinf(r.hi)) snprintf(buf, n, "%s >= %g", what, r.lo);
    else snprintf(buf, n, "%s in %c%g, %g%c", what, r.lo_open ? '(' : '[', r.lo, r.hi,
                  r.hi_open ? ')' : ']');
}

static int in_range(double x, range r)
{
    return (r.lo_open ? x > r.lo : x >= r.lo) && (r.hi_open ? x < r.hi : x <= r.hi);
}

static int is_int_text(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* 1 if n is a plain scalar holding a finite number (an integer when integer is set). */
static int scalar_number(const cfg_node *n, int integer, double *out)
{
    if (n->kind != CFG_SCALAR || n->quoted || !n->str[0]) return 0;
    char *end;
    *out = strtod(n->str, &end);
    return !*end && isfinite(*out) && (!integer || (is_int_text(n->str) && fabs(*out) < 9e15));
}

/* A number in range r, or an error naming the key and what was expected. */
static int node_number(V *v, const cfg_node *n, const char *path, range r, int integer,
                       double *out)
{
    char want[64];
    range_text(r, integer, want, sizeof want);
    double x = 0;
    if (n->kind == CFG_SCALAR && n->quoted) {
        cfg_node plain = *n;
        plain.quoted = 0;
        if (scalar_number(&plain, integer, &x))
            return cfg_error(v->c, &n->mark, "key '%s': expected %s, got %s (quoted, so a text; "
                             "remove the quotes)", path, want, got(v, n));
    }
    if (!scalar_number(n, integer, &x) || !in_range(x, r))
        return cfg_error(v->c, &n->mark, "key '%s': expected %s, got %s", path, want, got(v, n));
    *out = x;
    return 1;
}

static int get_double(V *v, const cfg_node *map, const char *prefix, const char *key, range r,
                      double *out)
{
    const cfg_node *n = cfg_get(map, key);
    return n ? node_number(v, n, join(v, prefix, key), r, 0, out) : 0;
}

static int get_float(V *v, const cfg_node *map, const char *prefix, const char *key, range r,
                     float *out)
{
    double d;
    int rc = get_double(v, map, prefix, key, r, &d);
    if (rc == 1) *out = (float)d;
    return rc;
}

static int get_i64(V *v, const cfg_node *map, const char *prefix, const char *key, range r,
                   int64_t *out)
{
    const cfg_node *n = cfg_get(map, key);
    double d;
    if (!n) return 0;
    if (node_number(v, n, join(v, prefix, key), r, 1, &d) < 0) return -1;
    *out = (int64_t)d;
    return 1;
}

static int get_int(V *v, const cfg_node *map, const char *prefix, const char *key, range r,
                   int *out)
{
    if (isinf(r.hi)) r.hi = INT32_MAX;
    int64_t x;
    int rc = get_i64(v, map, prefix, key, r, &x);
    if (rc == 1) *out = (int)x;
    return rc;
}

static int get_bool(V *v, const cfg_node *map, const char *prefix, const char *key, int *out)
{
    const cfg_node *n = cfg_get(map, key);
    if (!n) return 0;
    if (n->kind == CFG_SCALAR && !n->quoted) {
        static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};
        for (int i = 0; i < 3; i++) {
            if (strcmp(n->str, t[i]) == 0) return *out = 1;
            if (strcmp(n->str, f[i]) == 0) return (*out = 0), 1;
        }
    }
    return cfg_error(v->c, &n->mark, "key '%s': expected true or false, got %s",
                     join(v, prefix, key), got(v, n));
}

static int node_enum(V *v, const cfg_node *n, const char *path, const char *const *names, int k,
                     int *out)
{
    if (n->kind == CFG_SCALAR)
        for (int i = 0; i < k; i++)
            if (strcmp(n->str, names[i]) == 0) return (*out = i), 1;
    cfg_buf b = {0};
    for (int i = 0; i < k; i++) cfg_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
    const char *s = n->kind == CFG_SCALAR ? cfg_suggest(n->str, names, k) : NULL;
    int rc;
    if (s)
        rc = cfg_error(v->c, &n->mark, "key '%s': expected one of %s, got %s; did you mean '%s'?",
                       path, b.s ? b.s : "", got(v, n), s);
    else
        rc = cfg_error(v->c, &n->mark, "key '%s': expected one of %s, got %s", path,
                       b.s ? b.s : "", got(v, n));
    free(b.s);
    return rc;
}

static int get_enum(V *v, const cfg_node *map, const char *prefix, const char *key,
                    const char *const *names, int k, int *out)
{
    const cfg_node *n = cfg_get(map, key);
    return n ? node_enum(v, n, join(v, prefix, key), names, k, out) : 0;
}

static int node_string(V *v, const cfg_node *n, const char *path, char **out)
{
    if (n->kind != CFG_SCALAR || cfg_is_null(n) || !n->str[0])
        return cfg_error(v->c, &n->mark, "key '%s': expected a text value, got %s", path,
                         got(v, n));
    *out = n->str;
    return 1;
}

static int get_string(V *v, const cfg_node *map, const char *prefix, const char *key, char **out)
{
    const cfg_node *n = cfg_get(map, key);
    return n ? node_string(v, n, join(v, prefix, key), out) : 0;
}

/* A path relative to the experiment file's folder, stored joined with that folder. */
static int get_path(V *v, const cfg_node *map, const char *prefix, const char *key, char **out)
{
    char *p = NULL;
    int rc = get_string(v, map, prefix, key, &p);
    if (rc != 1) return rc;
    *out = p[0] == '/' ? p : path_join(v, v->dir, p);
    return *out ? 1 : -1;
}

/* A list of strings (NULL-free). */
static int get_strings(V *v, const cfg_node *map, const char *prefix, const char *key,
                       char ***out, int *n)
{
    const cfg_node *l = cfg_get(map, key);
    if (!l) return 0;
    const char *path = join(v, prefix, key);
    if (need_kind(v, l, path, CFG_SEQ)) return -1;
    *out = cfg_alloc(v->a, sizeof **out * (size_t)(l->n + 1));
    if (!*out) return -1;
    for (int i = 0; i < l->n; i++)
        if (node_string(v, l->kids[i], join_index(v, path, i), &(*out)[i]) < 0) return -1;
    *n = l->n;
    return 1;
}

/* `defines:` a map from identifiers to single values. */
static int get_defines(V *v, const cfg_node *map, const char *prefix, hsi_define **out, int *n)
{
    const cfg_node *d = cfg_get(map, "defines");
    if (!d) return 0;
    const char *path = join(v, prefix, "defines");
    if (need_kind(v, d, path, CFG_MAP)) return -1;
    *out = cfg_alloc(v->a, sizeof **out * (size_t)(d->n + 1));
    if (!*out) return -1;
    for (int i = 0; i < d->n; i++) {
        const char *k = d->keys[i];
        if (!ident_ok(k))
            return cfg_error(v->c, &d->key_marks[i], "key '%s': '%s' is not a net parameter name",
                             path, k);
        if (strcmp(k, "bands") == 0 || strcmp(k, "classes") == 0)
            return cfg_error(v->c, &d->key_marks[i], "key '%s.%s': derived from the data (the "
                             "cube's band count after 'bands', the number of 'labels'); remove it",
                             path, k);
        if (d->kids[i]->kind != CFG_SCALAR || cfg_is_null(d->kids[i]))
            return cfg_error(v->c, &d->kids[i]->mark, "key '%s.%s': expected a single value, "
                             "got %s", path, k, got(v, d->kids[i]));
        (*out)[i].key = d->keys[i];
        (*out)[i].value = d->kids[i]->str;
    }
    *n = d->n;
    return 1;
}

/* ---- sweep ----------------------------------------------------------------------------------- */

static int build_sweep(V *v, cfg_node *root, hsi_experiment *x, int point)
{
    x->sweep_points = 1;
    x->sweep_point = -1;
    cfg_node *s = cfg_get(root, "sweep");
    if (!s) {
        if (point > 0)
            return cfg_error(v->c, &root->mark, "sweep point %d asked for, but the experiment "
                             "has no 'sweep'", point);
        return 0;
    }
    if (need_kind(v, s, "sweep", CFG_MAP)) return -1;
    if (s->n == 0) return cfg_error(v->c, &s->mark, "key 'sweep': empty; remove it or give key: [values]");
    x->n_sweep = s->n;
    x->sweep = cfg_alloc(v->a, sizeof *x->sweep * (size_t)s->n);
    if (!x->sweep) return -1;
    int64_t points = 1;
    for (int i = 0; i < s->n; i++) {
        const char *path = join(v, "sweep", s->keys[i]);
        cfg_node *l = s->kids[i];
        if (strncmp(s->keys[i], "sweep", 5) == 0 && (!s->keys[i][5] || s->keys[i][5] == '.'))
            return cfg_error(v->c, &s->key_marks[i], "key '%s': a sweep cannot sweep itself", path);
        if (l->kind != CFG_SEQ || l->n == 0)
            return cfg_error(v->c, &l->mark, "key '%s': expected a non-empty list of values, got %s",
                             path, got(v, l));
        hsi_exp_sweep_key *k = &x->sweep[i];
        k->key = s->keys[i];
        k->n_values = l->n;
        k->values = cfg_alloc(v->a, sizeof *k->values * (size_t)l->n);
        if (!k->values) return -1;
        for (int j = 0; j < l->n; j++) {
            cfg_buf b = {0};
            cfg_buf_flow(&b, l->kids[j]);
            k->values[j] = b.s ? cfg_strdup(v->a, b.s) : NULL;
            free(b.s);
            if (!k->values[j]) return -1;
        }
        points *= l->n;
        if (points > 100000)
            return cfg_error(v->c, &l->mark, "key 'sweep': more than 100000 points");
    }
    x->sweep_points = (int)points;
    if (point < 0) return 0;
    if (point >= points)
        return cfg_error(v->c, &s->mark, "sweep point %d asked for; the sweep has %d (0..%d)",
                         point, (int)points, (int)points - 1);
    /* Graft the chosen values (they keep their own file positions for later messages). */
    x->sweep_point = point;
    cfg_buf label = {0};
    int64_t stride = points;
    for (int i = 0; i < s->n; i++) {
        cfg_node *l = s->kids[i];
        stride /= l->n;
        int j = (int)((point / stride) % l->n);
        cfg_buf_printf(&label, "%s%s=%s", i ? "," : "", s->keys[i], x->sweep[i].values[j]);
        if (cfg_put_path(v->c, root, s->keys[i], l->kids[j], &s->key_marks[i])) {
            free(label.s);
            return -1;
        }
    }
    x->sweep_label = label.s ? cfg_strdup(v->a, label.s) : NULL;
    free(label.s);
    return x->sweep_label ? 0 : -1;
}

/* ---- domains --------------------------------------------------------------------------------- */

static const hsi_dataset *find_dataset(V *v, const cfg_node *n, const char *path, const char *name)
{
    const hsi_registry *r = v->o->registry;
    if (!r) return NULL;
    const hsi_dataset *ds = hsi_registry_find(r, name);
    if (ds) return ds;
    const char **names = cfg_alloc(v->a, sizeof *names * (size_t)(r->n + 1));
    cfg_buf b = {0};
    for (int i = 0; names && i < r->n; i++) {
        names[i] = r->ds[i].name;
        cfg_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
    }
    const char *s = names ? cfg_suggest(name, names, r->n) : NULL;
    if (s)
        cfg_error(v->c, &n->mark, "key '%s': no dataset '%s' in the registry; did you mean '%s'?",
                  path, name, s);
    else
        cfg_error(v->c, &n->mark, "key '%s': no dataset '%s' in the registry (known: %s)", path,
                  name, b.s ? b.s : "");
    free(b.s);
    return NULL;
}

static int label_id(V *v, const cfg_node *n, const cfg_mark *m, const char *text, const char *path,
                    const hsi_dataset *ds, int32_t *out)
{
    char *end;
    long id = strtol(text, &end, 10);
    if (!is_int_text(text) || *end || id < 1 || id > INT32_MAX || (n && n->quoted))
        return cfg_error(v->c, m, "key '%s': expected a raw label id (an integer >= 1), got \"%s\"",
                         path, text);
    if (ds) {
        int found = 0;
        cfg_buf b = {0};
        for (int i = 0; i < ds->n_classes; i++) {
            found |= ds->classes[i].id == id;
            cfg_buf_printf(&b, "%s%d", i ? ", " : "", (int)ds->classes[i].id);
        }
        if (!found) {
            cfg_error(v->c, m, "key '%s': %ld is not a class of %s (its classes: %s)", path, id,
                      ds->name, b.s ? b.s : "");
            free(b.s);
            return -1;
        }
        free(b.s);
    }
    *out = (int32_t)id;
    return 0;
}

/* `labels:` [raw ids in class order] or {raw id: class index} with indices 0..K-1 once each. */
static int build_labels(V *v, const cfg_node *l, const char *path, const hsi_dataset *ds,
                        hsi_exp_domain *d)
{
    if (l->kind == CFG_SCALAR)
        return cfg_error(v->c, &l->mark, "key '%s': expected a list of raw label ids or a "
                         "mapping {raw id: class index}, got %s", path, got(v, l));
    if (l->n == 0) return cfg_error(v->c, &l->mark, "key '%s': no labels kept", path);
    d->n_labels = l->n;
    d->label_ids = cfg_alloc(v->a, sizeof *d->label_ids * (size_t)l->n);
    int *seen = cfg_alloc(v->a, sizeof *seen * (size_t)l->n);
    if (!d->label_ids || !seen) return -1;
    for (int i = 0; i < l->n; i++) {
        const char *sub = join_index(v, path, i);
        int32_t id;
        if (l->kind == CFG_SEQ) {
            if (l->kids[i]->kind != CFG_SCALAR)
                return cfg_error(v->c, &l->kids[i]->mark, "key '%s': expected a raw label id, got %s",
                                 sub, got(v, l->kids[i]));
            if (label_id(v, l->kids[i], &l->kids[i]->mark, l->kids[i]->str, path, ds, &id)) return -1;
            for (int j = 0; j < i; j++)
                if (d->label_ids[j] == id)
                    return cfg_error(v->c, &l->kids[i]->mark, "key '%s': label %d is listed twice",
                                     path, (int)id);
            d->label_ids[i] = id;
            continue;
        }
        sub = join(v, path, l->keys[i]);
        if (label_id(v, NULL, &l->key_marks[i], l->keys[i], path, ds, &id)) return -1;
        double k;
        char want[32];
        snprintf(want, sizeof want, "a class index in 0..%d", l->n - 1);
        const cfg_node *kn = l->kids[i];
        int ok = kn->kind == CFG_SCALAR && !kn->quoted && is_int_text(kn->str);
        k = ok ? strtod(kn->str, NULL) : -1;
        if (!ok || k < 0 || k >= l->n)
            return cfg_error(v->c, &kn->mark, "key '%s': expected %s, got %s", sub, want, got(v, kn));
        if (seen[(int)k])
            return cfg_error(v->c, &kn->mark, "key '%s': class index %d is given twice (each of "
                             "0..%d once; several raw labels cannot share a class)", sub, (int)k,
                             l->n - 1);
        seen[(int)k] = 1;
        d->label_ids[(int)k] = id;
    }
    return 0;
}

static int build_bands(V *v, const cfg_node *b, const char *path, const hsi_dataset *ds,
                       hsi_exp_domain *d)
{
    static const char *const keys[] = {"range", "resample"};
    if (need_kind(v, b, path, CFG_MAP) || keys_check(v, b, path, keys, COUNT(keys), NULL)) return -1;
    int total = ds ? ds->bands : INT32_MAX;
    const cfg_node *r = cfg_get(b, "range");
    if (r) {
        const char *rp = join(v, path, "range");
        double lo, hi;
        if (r->kind != CFG_SEQ || r->n != 2)
            return cfg_error(v->c, &r->mark, "key '%s': expected [start, end] (0-based, end "
                             "exclusive), got %s", rp, got(v, r));
        if (node_number(v, r->kids[0], join_index(v, rp, 0), R_NONNEG, 1, &lo) < 0 ||
            node_number(v, r->kids[1], join_index(v, rp, 1), R_ONE_UP, 1, &hi) < 0)
            return -1;
        if (hi <= lo || hi > total)
            return cfg_error(v->c, &r->mark, "key '%s': [%g, %g] is empty or past the %d bands",
                             rp, lo, hi, total);
        d->band_start = (int)lo;
        d->band_end = (int)hi;
        total = d->band_end - d->band_start;
    }
    if (get_int(v, b, path, "resample", R_ONE_UP, &d->resample) < 0) return -1;
    if (d->resample > total)
        return cfg_error(v->c, &cfg_get(b, "resample")->mark, "key '%s.resample': %d is more "
                         "than the %d bands selected", path, d->resample, total);
    return 0;
}

static int build_region(V *v, const cfg_node *r, const char *path, const hsi_dataset *ds,
                        hsi_exp_domain *d)
{
    static const char *const keys[] = {"rect", "half"};
    static const char *const halves[] = {"none", "left", "right", "top", "bottom"};
    if (need_kind(v, r, path, CFG_MAP) || keys_check(v, r, path, keys, COUNT(keys), NULL)) return -1;
    const cfg_node *rect = cfg_get(r, "rect");
    int half = 0;
    if (get_enum(v, r, path, "half", halves, COUNT(halves), &half) < 0) return -1;
    if ((rect != NULL) == (half != 0))
        return cfg_error(v->c, &r->mark, "key '%s': give exactly one of 'rect' and 'half' "
                         "(left|right|top|bottom)", path);
    d->region_half = (hsi_half)half;
    if (!rect) return 0;
    const char *rp = join(v, path, "rect");
    if (rect->kind != CFG_SEQ || rect->n != 4)
        return cfg_error(v->c, &rect->mark, "key '%s': expected [row, col, height, width], got %s",
                         rp, got(v, rect));
    for (int i = 0; i < 4; i++) {
        double x;
        if (node_number(v, rect->kids[i], join_index(v, rp, i), i < 2 ? R_NONNEG : R_ONE_UP, 1,
                        &x) < 0)
            return -1;
        d->region_rect[i] = (int)x;
    }
    if (ds && ds->h && (d->region_rect[0] + d->region_rect[2] > ds->h ||
                        d->region_rect[1] + d->region_rect[3] > ds->w))
        return cfg_error(v->c, &rect->mark, "key '%s': the rectangle leaves the %d x %d scene",
                         rp, ds->h, ds->w);
    return 0;
}

static int build_domain(V *v, const cfg_node *n, const char *path, hsi_exp_domain *d)
{
    static const char *const keys[] = {"name", "dataset", "labels", "bands", "region", "defines",
                                       "loss_weight"};
    if (need_kind(v, n, path, CFG_MAP) || keys_check(v, n, path, keys, COUNT(keys), NULL)) return -1;
    int rc = get_string(v, n, path, "dataset", &d->dataset);
    if (rc < 0) return -1;
    if (rc == 0) return missing(v, n, path, "dataset", " (a registry name such as IndianPines)");
    const hsi_dataset *ds = NULL;
    if (v->o->registry) {
        ds = find_dataset(v, cfg_get(n, "dataset"), join(v, path, "dataset"), d->dataset);
        if (!ds) return -1;
    }
    if ((rc = get_string(v, n, path, "name", &d->name)) < 0) return -1;
    if (rc == 0) d->name = d->dataset;
    if (!ident_ok(d->name))
        return cfg_error(v->c, &(cfg_get(n, "name") ? cfg_get(n, "name") : cfg_get(n, "dataset"))->mark,
                         "key '%s.name': '%s' is not a name (letters, digits, _; not starting "
                         "with a digit)", path, d->name);
    const cfg_node *l = cfg_get(n, "labels");
    if (l && build_labels(v, l, join(v, path, "labels"), ds, d)) return -1;
    const cfg_node *b = cfg_get(n, "bands");
    if (b && build_bands(v, b, join(v, path, "bands"), ds, d)) return -1;
    const cfg_node *r = cfg_get(n, "region");
    if (r && build_region(v, r, join(v, path, "region"), ds, d)) return -1;
    if (get_defines(v, n, path, &d->defines, &d->n_defines) < 0) return -1;
    for (int i = 0; i < d->n_defines; i++)
        if (strcmp(d->defines[i].key, "patch") == 0)
            return cfg_error(v->c, &cfg_get(n, "defines")->key_marks[i], "key '%s.defines.patch': "
                             "the patch size is one for every domain: set preprocess.patch", path);
    d->loss_weight = 1.0f;
    return get_float(v, n, path, "loss_weight", R_POS, &d->loss_weight) < 0 ? -1 : 0;
}

static int build_domains(V *v, const cfg_node *root, hsi_experiment *x)
{
    const cfg_node *l = cfg_get(root, "domains");
    if (!l) return missing(v, root, "", "domains", " (a list with one entry per dataset)");
    if (need_kind(v, l, "domains", CFG_SEQ)) return -1;
    if (l->n == 0) return cfg_error(v->c, &l->mark, "key 'domains': the list is empty");
    if (l->n > HSI_MAX_DOMAINS)
        return cfg_error(v->c, &l->kids[HSI_MAX_DOMAINS]->mark, "key 'domains': at most %d "
                         "domains, got %d", HSI_MAX_DOMAINS, l->n);
    x->n_domains = l->n;
    x->domains = cfg_alloc(v->a, sizeof *x->domains * (size_t)l->n);
    if (!x->domains) return -1;
    for (int i = 0; i < l->n; i++) {
        if (build_domain(v, l->kids[i], join_index(v, "domains", i), &x->domains[i])) return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(x->domains[i].name, x->domains[j].name) == 0)
                return cfg_error(v->c, &l->kids[i]->mark, "key 'domains.%d': the name '%s' is "
                                 "already used by domains.%d; give each a distinct 'name'",
                                 i, x->domains[i].name, j);
    }
    return 0;
}

/* ---- preprocess, split, augment -------------------------------------------------------------- */

static int build_preprocess(V *v, const cfg_node *root, hsi_experiment *x)
{
    static const char *const keys[] = {"standardize", "padding", "patch", "nonfinite"};
    static const char *const std[] = {"all", "train", "none"};
    static const char *const pad[] = {"zero", "reflect", "replicate"};
    static const char *const nonfin[] = {"error", "zero"};
    const cfg_node *p = cfg_get(root, "preprocess");
    if (!p) return 0;
    if (need_kind(v, p, "preprocess", CFG_MAP) ||
        keys_check(v, p, "preprocess", keys, COUNT(keys), NULL))
        return -1;
    int s = 0, d = 0, nf = 0;
    if (get_enum(v, p, "preprocess", "standardize", std, COUNT(std), &s) < 0 ||
        get_enum(v, p, "preprocess", "padding", pad, COUNT(pad), &d) < 0 ||
        get_enum(v, p, "preprocess", "nonfinite", nonfin, COUNT(nonfin), &nf) < 0 ||
        get_int(v, p, "preprocess", "patch", R_ONE_UP, &x->patch) < 0)
        return -1;
    x->standardize = (hsi_exp_standardize)s;
    x->padding = (hsi_exp_padding)d;
    x->nonfinite = (hsi_exp_nonfinite)nf;
    if (x->patch && x->patch % 2 == 0)
        return cfg_error(v->c, &cfg_get(p, "patch")->mark, "key 'preprocess.patch': expected an "
                         "odd patch size (the labelled pixel is the centre), got %d", x->patch);
    return 0;
}

/* A count ("10"), a fraction ("0.1", "1e-1"), or (allow_all) "all" = fraction 1. */
static int get_amount(V *v, const cfg_node *map, const char *prefix, const char *key, int min_count,
                      int allow_all, hsi_amount *out)
{
    const cfg_node *n = cfg_get(map, key);
    if (!n) return 0;
    const char *path = join(v, prefix, key);
    double x;
    if (allow_all && n->kind == CFG_SCALAR && strcmp(n->str, "all") == 0) {
        out->is_fraction = 1;
        out->fraction = 1.0;
        return 1;
    }
    if (n->kind == CFG_SCALAR && !n->quoted && is_int_text(n->str)) {
        range r = {min_count, INT32_MAX, 0, 0};
        if (node_number(v, n, path, r, 1, &x) < 0) return -1;
        out->is_fraction = 0;
        out->count = (int64_t)x;
        return 1;
    }
    if (!scalar_number(n, 0, &x) || !in_range(x, R_FRACTION))
        return cfg_error(v->c, &n->mark, "key '%s': expected a count (an integer >= %d)%s or a "
                         "fraction in (0, 1), got %s", path, min_count, allow_all ? ", all," : "",
                         got(v, n));
    out->is_fraction = 1;
    out->fraction = x;
    return 1;
}

static int build_split(V *v, const cfg_node *root, hsi_experiment *x)
{
    static const char *const keys[] = {"rule", "train", "val", "stratified", "spatial_blocks",
                                       "seed", "masks"};
    static const char *const rules[] = {"random", "ssrn"};
    hsi_exp_split *s = &x->split;
    s->stratified = 1;
    const cfg_node *n = cfg_get(root, "split");
    if (!n) return missing(v, root, "", "split", " (at least split.train)");
    if (need_kind(v, n, "split", CFG_MAP) || keys_check(v, n, "split", keys, COUNT(keys), NULL))
        return -1;
    int rule = 0;
    int64_t seed = 0;
    if (get_path(v, n, "split", "masks", &s->masks) < 0) return -1;
    if (s->masks) {
        for (int i = 0; i < n->n; i++)
            if (strcmp(n->keys[i], "masks") && strcmp(n->keys[i], "seed"))
                return cfg_error(v->c, &n->key_marks[i], "key 'split.%s': a saved split "
                                 "('split.masks') fixes the split; remove this key", n->keys[i]);
        return 0;
    }
    int rc;
    if (get_enum(v, n, "split", "rule", rules, COUNT(rules), &rule) < 0 ||
        (rc = get_amount(v, n, "split", "train", 1, 1, &s->train)) < 0 ||
        get_amount(v, n, "split", "val", 0, 0, &s->val) < 0 ||
        get_bool(v, n, "split", "stratified", &s->stratified) < 0 ||
        get_int(v, n, "split", "spatial_blocks", R_NONNEG, &s->spatial_blocks) < 0 ||
        (s->has_seed = get_i64(v, n, "split", "seed", R_NONNEG, &seed)) < 0)
        return -1;
    s->seed = (uint64_t)seed;
    s->rule = (hsi_exp_split_rule)rule;
    if (rc == 0) return missing(v, n, "split", "train", " (pixels per class, or a fraction)");
    if (s->spatial_blocks == 1)
        return cfg_error(v->c, &cfg_get(n, "spatial_blocks")->mark, "key 'split.spatial_blocks': "
                         "expected 0 (off) or a grid of at least 2 x 2 blocks, got 1");
    if (s->rule == HSI_EXP_SPLIT_SSRN) {
        if (!s->train.is_fraction)
            return cfg_error(v->c, &cfg_get(n, "train")->mark, "key 'split.train': rule ssrn "
                             "takes a fraction (0.2 = 20%% of each class), got %lld",
                             (long long)s->train.count);
        if (cfg_get(n, "stratified") || s->spatial_blocks)
            return cfg_error(v->c, &cfg_get(n, "rule")->mark, "key 'split.rule': rule ssrn "
                             "draws its validation pixels unstratified from the pooled rest; "
                             "remove 'stratified' and 'spatial_blocks'");
        s->stratified = 0;
    }
    if (s->train.is_fraction && s->val.is_fraction && s->train.fraction + s->val.fraction >= 1)
        return cfg_error(v->c, &cfg_get(n, "val")->mark, "key 'split.val': train %g + val %g "
                         "leave no test pixels", s->train.fraction, s->val.fraction);
    if (s->train.is_fraction && s->train.fraction == 1.0 && s->val.count)
        return cfg_error(v->c, &cfg_get(n, "val")->mark, "key 'split.val': split.train is all, "
                         "so no pixel is left for validation");
    return 0;
}

/* ---- solver and schedule --------------------------------------------------------------------- */

static int build_solver(V *v, const cfg_node *root, hsi_experiment *x)
{
    static const char *const all[] = {"type", "lr", "weight_decay", "momentum", "nesterov",
                                      "momentum_style", "rho", "eps", "betas"};
    static const char *const types[] = {"sgd", "rmsprop", "adam", "adamw"};
    /* Keys each type takes, after type, lr, weight_decay. */
    static const char *const own[][3] = {{"momentum", "nesterov", "momentum_style"},
                                         {"rho", "eps", NULL}, {"betas", "eps", NULL},
                                         {"betas", "eps", NULL}};
    static const char *const styles[] = {"caffe", "pytorch"};
    const cfg_node *n = cfg_get(root, "solver");
    if (!n) return missing(v, root, "", "solver", " (type and lr)");
    if (need_kind(v, n, "solver", CFG_MAP) || keys_check(v, n, "solver", all, COUNT(all), NULL))
        return -1;
    int t, rc = get_enum(v, n, "solver", "type", types, COUNT(types), &t);
    if (rc < 0) return -1;
    if (rc == 0) return missing(v, n, "solver", "type", " (sgd, rmsprop, adam or adamw)");
    x->solver = hsi_solver_defaults((hsi_solver_type)t);
    for (int i = 0; i < n->n; i++) {
        const char *k = n->keys[i];
        int ok = !strcmp(k, "type") || !strcmp(k, "lr") || !strcmp(k, "weight_decay");
        for (int j = 0; j < 3 && !ok; j++) ok = own[t][j] && !strcmp(k, own[t][j]);
        if (!ok)
            return cfg_error(v->c, &n->key_marks[i], "key 'solver.%s' does not apply to solver "
                             "type '%s' (it takes lr, weight_decay, %s%s%s%s%s)", k, types[t],
                             own[t][0], own[t][1] ? ", " : "", own[t][1] ? own[t][1] : "",
                             own[t][2] ? ", " : "", own[t][2] ? own[t][2] : "");
    }
    hsi_solver_opts *s = &x->solver;
    int style = 0;
    if ((rc = get_double(v, n, "solver", "lr", R_POS, &x->schedule.base_lr)) < 0) return -1;
    if (rc == 0) return missing(v, n, "solver", "lr", " (the base learning rate)");
    if (get_float(v, n, "solver", "weight_decay", R_NONNEG, &s->weight_decay) < 0 ||
        get_float(v, n, "solver", "momentum", R_UNIT_HALF_OPEN, &s->momentum) < 0 ||
        get_bool(v, n, "solver", "nesterov", &s->nesterov) < 0 ||
        get_enum(v, n, "solver", "momentum_style", styles, COUNT(styles), &style) < 0 ||
        get_float(v, n, "solver", "rho", R_UNIT_HALF_OPEN, &s->rho) < 0 ||
        get_float(v, n, "solver", "eps", R_POS, &s->eps) < 0)
        return -1;
    s->momentum_style = (hsi_momentum_style)style;
    if (s->nesterov && s->momentum == 0)
        return cfg_error(v->c, &cfg_get(n, "nesterov")->mark, "key 'solver.nesterov': Nesterov "
                         "momentum needs solver.momentum > 0");
    const cfg_node *b = cfg_get(n, "betas");
    if (b) {
        double b1, b2;
        if (b->kind != CFG_SEQ || b->n != 2)
            return cfg_error(v->c, &b->mark, "key 'solver.betas': expected [beta1, beta2], got %s",
                             got(v, b));
        if (node_number(v, b->kids[0], "solver.betas.0", R_UNIT_HALF_OPEN, 0, &b1) < 0 ||
            node_number(v, b->kids[1], "solver.betas.1", R_UNIT_HALF_OPEN, 0, &b2) < 0)
            return -1;
        s->beta1 = (float)b1;
        s->beta2 = (float)b2;
    }
    return 0;
}

/* Reads a `schedule:` map over *s (so a phase's schedule inherits the top-level one). */
static int parse_schedule(V *v, const cfg_node *n, const char *path, hsi_schedule *s)
{
    static const char *const all[] = {"policy", "gamma", "stepsize", "steps", "power", "max_iter",
                                      "min_lr", "warmup", "warmup_start"};
    static const char *const policies[] = {"fixed", "step", "multistep", "exp", "poly", "cosine"};
    static const char *const own[][2] = {{NULL, NULL}, {"gamma", "stepsize"}, {"gamma", "steps"},
                                         {"gamma", NULL}, {"power", "max_iter"},
                                         {"min_lr", "max_iter"}};
    if (need_kind(v, n, path, CFG_MAP) || keys_check(v, n, path, all, COUNT(all), NULL)) return -1;
    int p = (int)s->policy;
    if (get_enum(v, n, path, "policy", policies, COUNT(policies), &p) < 0) return -1;
    s->policy = (hsi_lr_policy)p;
    for (int i = 0; i < n->n; i++) {
        const char *k = n->keys[i];
        int ok = !strcmp(k, "policy") || !strcmp(k, "warmup") || !strcmp(k, "warmup_start");
        for (int j = 0; j < 2 && !ok; j++) ok = own[p][j] && !strcmp(k, own[p][j]);
        if (!ok)
            return cfg_error(v->c, &n->key_marks[i], "key '%s.%s' does not apply to policy '%s'%s%s%s%s%s",
                             path, k, policies[p], own[p][0] ? " (it takes " : "",
                             own[p][0] ? own[p][0] : "", own[p][1] ? ", " : "",
                             own[p][1] ? own[p][1] : "", own[p][0] ? ")" : "");
    }
    if (get_double(v, n, path, "gamma", R_POS, &s->gamma) < 0 ||
        get_i64(v, n, path, "stepsize", R_ONE_UP, &s->stepsize) < 0 ||
        get_double(v, n, path, "power", R_POS, &s->power) < 0 ||
        get_i64(v, n, path, "max_iter", R_ONE_UP, &s->max_iter) < 0 ||
        get_double(v, n, path, "min_lr", R_NONNEG, &s->min_lr) < 0 ||
        get_i64(v, n, path, "warmup", R_NONNEG, &s->warmup) < 0 ||
        get_double(v, n, path, "warmup_start", R_UNIT, &s->warmup_start) < 0)
        return -1;
    const cfg_node *st = cfg_get(n, "steps");
    if (st) {
        const char *sp = join(v, path, "steps");
        if (st->kind != CFG_SEQ || st->n < 1 || st->n > HSI_LR_MAX_STEPS)
            return cfg_error(v->c, &st->mark, "key '%s': expected a list of 1..%d iterations, got %s",
                             sp, HSI_LR_MAX_STEPS, got(v, st));
        for (int i = 0; i < st->n; i++) {
            double it;
            if (node_number(v, st->kids[i], join_index(v, sp, i), R_ONE_UP, 1, &it) < 0) return -1;
            s->steps[i] = (int64_t)it;
            if (i && s->steps[i] <= s->steps[i - 1])
                return cfg_error(v->c, &st->kids[i]->mark, "key '%s': the iterations must "
                                 "increase, got %lld after %lld", sp, (long long)s->steps[i],
                                 (long long)s->steps[i - 1]);
        }
        s->n_steps = st->n;
    }
    if (s->policy == HSI_LR_STEP && !s->stepsize)
        return missing(v, n, path, "stepsize", " (policy step)");
    if (s->policy == HSI_LR_MULTISTEP && !s->n_steps)
        return missing(v, n, path, "steps", " (policy multistep)");
    return 0;
}

/* ---- train and phases ------------------------------------------------------------------------ */

static int build_train(V *v, const cfg_node *root, hsi_experiment *x)
{
    static const char *const keys[] = {"batch", "epochs", "iterations", "val_every", "select",
                                       "early_stopping", "threads", "bn_sync"};
    static const char *const sel[] = {"val_loss", "val_oa", "last"};
    static const char *const es_keys[] = {"patience", "metric"};
    hsi_exp_train *t = &x->train;
    const cfg_node *n = cfg_get(root, "train");
    if (!n) return missing(v, root, "", "train", " (batch, and epochs or iterations)");
    if (need_kind(v, n, "train", CFG_MAP) || keys_check(v, n, "train", keys, COUNT(keys), NULL))
        return -1;
    int rc, s = -1, has_val = x->split.masks || x->split.val.is_fraction || x->split.val.count;
    if ((rc = get_int(v, n, "train", "batch", R_ONE_UP, &t->batch)) < 0) return -1;
    if (rc == 0) return missing(v, n, "train", "batch", " (samples per step)");
    if (get_int(v, n, "train", "epochs", R_ONE_UP, &t->epochs) < 0 ||
        get_i64(v, n, "train", "iterations", R_ONE_UP, &t->iterations) < 0 ||
        get_int(v, n, "train", "val_every", R_ONE_UP, &t->val_every) < 0 ||
        get_enum(v, n, "train", "select", sel, COUNT(sel), &s) < 0 ||
        get_int(v, n, "train", "threads", R_NONNEG, &t->threads) < 0 ||
        (t->bn_sync = 1, get_bool(v, n, "train", "bn_sync", &t->bn_sync) < 0))
        return -1;
    if (t->epochs && t->iterations)
        return cfg_error(v->c, &cfg_get(n, "iterations")->mark, "key 'train.iterations': give "
                         "either train.epochs or train.iterations, not both");
    if (!cfg_get(root, "phases") && !t->epochs && !t->iterations)
        return missing(v, n, "train", "epochs", " (or train.iterations)");
    if (!t->val_every) {
        /* every 100 iterations when the length is in iterations (top level, or every phase),
         * else every epoch */
        const cfg_node *ph = cfg_get(root, "phases");
        int in_iters = t->iterations != 0;
        if (ph && ph->kind == CFG_SEQ && !t->epochs) {
            in_iters = 1;
            for (int i = 0; i < ph->n; i++)
                if (ph->kids[i]->kind == CFG_MAP && cfg_get(ph->kids[i], "epochs")) in_iters = 0;
        }
        t->val_every = in_iters ? 100 : 1;
    }
    t->select = s >= 0 ? (hsi_select)s : has_val ? HSI_SELECT_VAL_LOSS : HSI_SELECT_LAST;
    t->stop_metric = HSI_SELECT_VAL_LOSS;
    const cfg_node *es = cfg_get(n, "early_stopping");
    if (es) {
        int m = 0;
        if (need_kind(v, es, "train.early_stopping", CFG_MAP) ||
            keys_check(v, es, "train.early_stopping", es_keys, COUNT(es_keys), NULL) ||
            (rc = get_int(v, es, "train.early_stopping", "patience", R_ONE_UP, &t->patience)) < 0 ||
            get_enum(v, es, "train.early_stopping", "metric", sel, 2, &m) < 0)
            return -1;
        if (rc == 0) return missing(v, es, "train.early_stopping", "patience", NULL);
        t->stop_metric = (hsi_select)m;
        if (!has_val)
            return cfg_error(v->c, &es->mark, "key 'train.early_stopping': needs validation "
                             "pixels, but split.val is 0");
    }
    if (t->select != HSI_SELECT_LAST && !has_val)
        return cfg_error(v->c, &cfg_get(n, "select")->mark, "key 'train.select': %s needs "
                         "validation pixels, but split.val is 0 (use last, or set split.val)",
                         sel[t->select]);
    return 0;
}

static int find_domain(const hsi_experiment *x, const char *name)
{
    for (int i = 0; i < x->n_domains; i++)
        if (strcmp(x->domains[i].name, name) == 0) return i;
    return -1;
}

/* Fills a phase's schedule length once it is known (poly / cosine run to the phase's end). */
static void fit_schedule(hsi_schedule *s, int64_t iterations)
{
    if ((s->policy == HSI_LR_POLY || s->policy == HSI_LR_COSINE) && !s->max_iter)
        s->max_iter = iterations;
}

static int check_schedule(V *v, const cfg_node *at, const char *path, hsi_schedule *s)
{
    if (s->policy == HSI_LR_COSINE && s->min_lr > s->base_lr)
        return cfg_error(v->c, &at->mark, "key '%s.min_lr': %g is above the base lr %g", path,
                         s->min_lr, s->base_lr);
    return 0;
}

static int build_phase(V *v, const cfg_node *n, const char *path, hsi_experiment *x,
                       hsi_exp_phase *ph, int index)
{
    static const char *const keys[] = {"name", "domains", "epochs", "iterations", "schedule", "lr"};
    if (need_kind(v, n, path, CFG_MAP) || keys_check(v, n, path, keys, COUNT(keys), NULL)) return -1;
    if (get_string(v, n, path, "name", &ph->name) < 0) return -1;
    if (!ph->name) {
        char buf[24];
        snprintf(buf, sizeof buf, "phase%d", index);
        ph->name = cfg_strdup(v->a, buf);
    }
    char **names = NULL;
    int nn = 0;
    if (get_strings(v, n, path, "domains", &names, &nn) < 0) return -1;
    const cfg_node *dl = cfg_get(n, "domains");
    if (dl && nn == 0) return cfg_error(v->c, &dl->mark, "key '%s.domains': empty list", path);
    ph->n_domains = names ? nn : x->n_domains;
    ph->domains = cfg_alloc(v->a, sizeof *ph->domains * (size_t)ph->n_domains);
    if (!ph->domains) return -1;
    const char **all = cfg_alloc(v->a, sizeof *all * (size_t)x->n_domains);
    if (!all) return -1;
    for (int i = 0; i < x->n_domains; i++) all[i] = x->domains[i].name;
    for (int i = 0; i < ph->n_domains; i++) {
        int d = names ? find_domain(x, names[i]) : i;
        if (d < 0) {
            const char *s = cfg_suggest(names[i], all, x->n_domains);
            return cfg_error(v->c, &dl->kids[i]->mark, "key '%s.domains.%d': no domain named "
                             "'%s'%s%s%s", path, i, names[i], s ? "; did you mean '" : "",
                             s ? s : "", s ? "'?" : "");
        }
        for (int j = 0; j < i; j++)
            if (ph->domains[j] == d)
                return cfg_error(v->c, &dl->kids[i]->mark, "key '%s.domains': '%s' is listed twice",
                                 path, names[i]);
        ph->domains[i] = d;
    }
    if (get_int(v, n, path, "epochs", R_ONE_UP, &ph->epochs) < 0 ||
        get_i64(v, n, path, "iterations", R_ONE_UP, &ph->iterations) < 0)
        return -1;
    if (!ph->epochs == !ph->iterations)
        return cfg_error(v->c, &n->mark, "key '%s': give exactly one of 'epochs' and 'iterations'",
                         path);
    ph->schedule = x->schedule;
    if (get_double(v, n, path, "lr", R_POS, &ph->schedule.base_lr) < 0) return -1;
    const cfg_node *sn = cfg_get(n, "schedule");
    const char *sp = join(v, path, "schedule");
    if (sn && parse_schedule(v, sn, sp, &ph->schedule)) return -1;
    fit_schedule(&ph->schedule, ph->iterations);
    return check_schedule(v, sn ? sn : n, sp, &ph->schedule);
}

static int build_phases(V *v, const cfg_node *root, hsi_experiment *x)
{
    const cfg_node *l = cfg_get(root, "phases");
    if (!l) {
        x->n_phases = 1;
        x->phases = cfg_alloc(v->a, sizeof *x->phases);
        hsi_exp_phase *ph = x->phases;
        if (!ph || !(ph->domains = cfg_alloc(v->a, sizeof *ph->domains * (size_t)x->n_domains)))
            return -1;
        ph->name = "main";
        ph->n_domains = x->n_domains;
        for (int i = 0; i < x->n_domains; i++) ph->domains[i] = i;
        ph->epochs = x->train.epochs;
        ph->iterations = x->train.iterations;
        fit_schedule(&x->schedule, x->train.iterations);
        ph->schedule = x->schedule;
        return 0;
    }
    static const char *const per_phase[] = {"epochs", "iterations"};
    const cfg_node *tn = cfg_get(root, "train");
    for (int i = 0; i < 2; i++)
        if (cfg_get(tn, per_phase[i]))
            return cfg_error(v->c, &tn->key_marks[cfg_index(tn, per_phase[i])], "key 'train.%s': "
                             "with 'phases', each phase gives its own length; remove it",
                             per_phase[i]);
    if (need_kind(v, l, "phases", CFG_SEQ)) return -1;
    if (l->n == 0) return cfg_error(v->c, &l->mark, "key 'phases': the list is empty");
    x->phases_given = 1;
    x->n_phases = l->n;
    x->phases = cfg_alloc(v->a, sizeof *x->phases * (size_t)l->n);
    if (!x->phases) return -1;
    for (int i = 0; i < l->n; i++) {
        if (build_phase(v, l->kids[i], join_index(v, "phases", i), x, &x->phases[i], i)) return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(x->phases[i].name, x->phases[j].name) == 0)
                return cfg_error(v->c, &l->kids[i]->mark, "key 'phases.%d': the name '%s' is "
                                 "already used by phases.%d", i, x->phases[i].name, j);
    }
    return 0;
}

/* ---- init, runs, outputs --------------------------------------------------------------------- */

static int build_init(V *v, const cfg_node *root, hsi_experiment *x)
{
    static const char *const keys[] = {"checkpoint", "load", "freeze"};
    static char *const star[] = {"*"};
    const cfg_node *n = cfg_get(root, "init");
    if (!n) return 0;
    if (n->kind == CFG_SCALAR) {
        if (strcmp(n->str, "scratch") == 0) return 0;
        return cfg_error(v->c, &n->mark, "key 'init': expected scratch or {checkpoint: FILE, "
                         "load: [patterns], freeze: [patterns]}, got %s", got(v, n));
    }
    if (need_kind(v, n, "init", CFG_MAP) || keys_check(v, n, "init", keys, COUNT(keys), NULL))
        return -1;
    int rc = get_path(v, n, "init", "checkpoint", &x->init.checkpoint);
    if (rc < 0) return -1;
    if (rc == 0) return missing(v, n, "init", "checkpoint", " (a .safetensors file)");
    if (get_strings(v, n, "init", "load", &x->init.load, &x->init.n_load) < 0 ||
        get_strings(v, n, "init", "freeze", &x->init.freeze, &x->init.n_freeze) < 0)
        return -1;
    if (!x->init.load) {
        x->init.load = (char **)star;
        x->init.n_load = 1;
    }
    return 0;
}

static int build_runs(V *v, const cfg_node *root, hsi_experiment *x)
{
    static const char *const keys[] = {"count", "seed", "seeds"};
    hsi_exp_runs *r = &x->runs;
    r->count = 1;
    r->seed = 1;
    const cfg_node *n = cfg_get(root, "runs");
    if (!n) return 0;
    if (n->kind == CFG_SCALAR) {
        double c;
        if (node_number(v, n, "runs", R_ONE_UP, 1, &c) < 0) return -1;
        r->count = (int)c;
        return 0;
    }
    int64_t seed = 1;
    int rc;
    if (need_kind(v, n, "runs", CFG_MAP) || keys_check(v, n, "runs", keys, COUNT(keys), NULL) ||
        (rc = get_int(v, n, "runs", "count", R_ONE_UP, &r->count)) < 0 ||
        get_i64(v, n, "runs", "seed", R_NONNEG, &seed) < 0)
        return -1;
    r->seed = (uint64_t)seed;
    const cfg_node *s = cfg_get(n, "seeds");
    if (!s) return 0;
    if (cfg_get(n, "seed"))
        return cfg_error(v->c, &s->mark, "key 'runs.seeds': give either runs.seed (base) or "
                         "runs.seeds (list), not both");
    if (s->kind != CFG_SEQ || s->n == 0)
        return cfg_error(v->c, &s->mark, "key 'runs.seeds': expected a non-empty list of "
                         "integers, got %s", got(v, s));
    if (rc == 1 && r->count != s->n)
        return cfg_error(v->c, &s->mark, "key 'runs.seeds': %d seeds for runs.count %d", s->n,
                         r->count);
    r->count = r->n_seeds = s->n;
    r->seeds = cfg_alloc(v->a, sizeof *r->seeds * (size_t)s->n);
    if (!r->seeds) return -1;
    for (int i = 0; i < s->n; i++) {
        double d;
        if (node_number(v, s->kids[i], join_index(v, "runs.seeds", i), R_NONNEG, 1, &d) < 0)
            return -1;
        r->seeds[i] = (uint64_t)d;
    }
    return 0;
}

static int build_outputs(V *v, const cfg_node *root, hsi_experiment *x)
{
    static const char *const keys[] = {"dir", "maps", "curves", "checkpoints"};
    static const char *const keep[] = {"best", "last", "both", "none"};
    hsi_exp_outputs *o = &x->outputs;
    o->maps = o->curves = 1;
    const cfg_node *n = cfg_get(root, "outputs");
    int k = 0;
    if (n && (need_kind(v, n, "outputs", CFG_MAP) ||
              keys_check(v, n, "outputs", keys, COUNT(keys), NULL) ||
              get_string(v, n, "outputs", "dir", &o->dir) < 0 ||
              get_bool(v, n, "outputs", "maps", &o->maps) < 0 ||
              get_bool(v, n, "outputs", "curves", &o->curves) < 0 ||
              get_enum(v, n, "outputs", "checkpoints", keep, COUNT(keep), &k) < 0))
        return -1;
    o->checkpoints = (hsi_ckpt_keep)k;
    if (!o->dir) o->dir = path_join(v, "runs", x->name);
    return o->dir ? 0 : -1;
}

/* ---- the whole experiment -------------------------------------------------------------------- */

static char *file_stem(V *v, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".yaml") == 0) n -= 5;
    else if (n > 4 && strcmp(base + n - 4, ".yml") == 0) n -= 4;
    return cfg_strndup(v->a, base, n);
}

int cfg_build(cfg_ctx *c, cfg_node *root, const char *origin, const hsi_experiment_opts *o,
              hsi_experiment *x)
{
    static const char *const top[] = {"name", "description", "net", "defines", "backend",
                                      "domains", "preprocess", "split", "augment", "solver",
                                      "schedule", "train", "phases", "shared_lr_scale", "init",
                                      "sweep", "runs", "outputs"};
    static const char *const backends[] = {"dnnl", "ref"};
    static const char *const augs[] = {"none", "dihedral", "dihedral_x8"};
    const char *slash = strrchr(origin, '/');
    V v = {c, c->arena, o, slash ? cfg_strndup(c->arena, origin, (size_t)(slash - origin)) : ""};
    if (!v.dir) return -1;
    x->path = cfg_strdup(v.a, origin);
    if (build_sweep(&v, root, x, o->sweep_point)) return -1;
    if (keys_check(&v, root, "", top, COUNT(top), " (net parameters go under 'defines')"))
        return -1;
    int rc, b = 0, aug = 0;
    if (get_string(&v, root, "", "name", &x->name) < 0 ||
        get_string(&v, root, "", "description", &x->description) < 0)
        return -1;
    if (!x->name) x->name = file_stem(&v, origin);
    else if (strchr(x->name, '/') || !strcmp(x->name, ".") || !strcmp(x->name, ".."))
        /* it names the default output folder runs/<name> (and the sweep's folders) */
        return cfg_error(c, &cfg_get(root, "name")->mark, "key 'name': '%s' is not a folder name "
                         "(no '/', not '.' or '..'); outputs go to runs/<name> (use outputs.dir "
                         "for another place)", x->name);
    if ((rc = get_path(&v, root, "", "net", &x->net)) < 0) return -1;
    if (rc == 0) return missing(&v, root, "", "net", " (the netdef file, e.g. ../netdefs/ssrn.hsn)");
    if (get_defines(&v, root, "", &x->defines, &x->n_defines) < 0 ||
        get_enum(&v, root, "", "backend", backends, COUNT(backends), &b) < 0)
        return -1;
    x->backend = b ? HSI_BACKEND_REF : HSI_BACKEND_DNNL;
    if (build_domains(&v, root, x) || build_preprocess(&v, root, x) || build_split(&v, root, x) ||
        get_enum(&v, root, "", "augment", augs, COUNT(augs), &aug) < 0)
        return -1;
    x->augment = (hsi_exp_augment)aug;
    /* patch: preprocess.patch sets the net's `patch`; a define saying otherwise is a conflict. */
    for (int i = 0; i < x->n_defines; i++) {
        if (strcmp(x->defines[i].key, "patch")) continue;
        char *end;
        long p = strtol(x->defines[i].value, &end, 10);
        const cfg_node *dn = cfg_get(cfg_get(root, "defines"), "patch");
        if (*end || p < 1 || p % 2 == 0)
            return cfg_error(c, &dn->mark, "key 'defines.patch': expected an odd patch size, got "
                             "\"%s\"", x->defines[i].value);
        if (x->patch && x->patch != p)
            return cfg_error(c, &dn->mark, "key 'defines.patch': %ld disagrees with "
                             "preprocess.patch %d; give it once", p, x->patch);
        x->patch = (int)p;
    }
    if (x->patch && !cfg_get(cfg_get(root, "defines"), "patch")) {
        /* preprocess.patch becomes the net's `patch` define (one place for the compiler). */
        hsi_define *d = cfg_alloc(v.a, sizeof *d * (size_t)(x->n_defines + 1));
        char num[16];
        snprintf(num, sizeof num, "%d", x->patch);
        if (!d) return -1;
        if (x->n_defines) memcpy(d, x->defines, sizeof *d * (size_t)x->n_defines);
        d[x->n_defines].key = "patch";
        d[x->n_defines].value = cfg_strdup(v.a, num);
        x->defines = d;
        x->n_defines++;
    }
    x->schedule = hsi_schedule_defaults(0);
    if (build_solver(&v, root, x)) return -1;
    const cfg_node *sn = cfg_get(root, "schedule");
    if (sn && parse_schedule(&v, sn, "schedule", &x->schedule)) return -1;
    if (check_schedule(&v, sn ? sn : root, "schedule", &x->schedule) || build_train(&v, root, x) ||
        build_phases(&v, root, x))
        return -1;
    const cfg_node *sl = cfg_get(root, "shared_lr_scale");
    if (sl && !(sl->kind == CFG_SCALAR && strcmp(sl->str, "1/N") == 0)) {
        double d;
        if (!scalar_number(sl, 0, &d) || d <= 0)
            return cfg_error(c, &sl->mark, "key 'shared_lr_scale': expected 1/N or a positive "
                             "number, got %s", got(&v, sl));
        x->shared_lr_scale = (float)d;
    }
    return build_init(&v, root, x) || build_runs(&v, root, x) || build_outputs(&v, root, x) ? -1 : 0;
}

/* ---- queries --------------------------------------------------------------------------------- */

int hsi_experiment_domain_defines(const hsi_experiment *x, int d, hsi_define *out, int max)
{
    int n = 0;
    const hsi_exp_domain *dom = &x->domains[d];
    for (int i = 0; i < x->n_defines; i++) {
        int overridden = 0;
        for (int j = 0; j < dom->n_defines && !overridden; j++)
            overridden = strcmp(dom->defines[j].key, x->defines[i].key) == 0;
        if (!overridden && n < max) out[n++] = x->defines[i];
    }
    for (int j = 0; j < dom->n_defines && n < max; j++) out[n++] = dom->defines[j];
    return n;
}

uint64_t hsi_experiment_run_seed(const hsi_experiment *x, int r)
{
    return x->runs.seeds ? x->runs.seeds[r] : x->runs.seed + (uint64_t)r;
}

/* ---- the resolved experiment as YAML --------------------------------------------------------- */

/* Shortest "%.*g" that reads back as the same value (floats: 6..9 digits, doubles: 15..17). */
static void put_num(cfg_buf *b, double x, int is_float)
{
    char s[40];
    for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, x);
        double back = strtod(s, NULL);
        if (is_float ? (float)back == (float)x : back == x) break;
    }
    cfg_buf_printf(b, "%s", s);
}

static void put_key(cfg_buf *b, int indent, const char *key)
{
    cfg_buf_printf(b, "%*s%s:", indent, "", key);
}

static void put_f(cfg_buf *b, int indent, const char *key, double x, int is_float)
{
    put_key(b, indent, key);
    cfg_buf_printf(b, " ");
    put_num(b, x, is_float);
    cfg_buf_printf(b, "\n");
}

static void put_i(cfg_buf *b, int indent, const char *key, int64_t x)
{
    put_key(b, indent, key);
    cfg_buf_printf(b, " %lld\n", (long long)x);
}

static void put_bool(cfg_buf *b, int indent, const char *key, int v)
{
    put_key(b, indent, key);
    cfg_buf_printf(b, " %s\n", v ? "true" : "false");
}

static void put_s(cfg_buf *b, int indent, const char *key, const char *s)
{
    put_key(b, indent, key);
    cfg_buf_printf(b, " ");
    cfg_buf_scalar(b, s);
    cfg_buf_printf(b, "\n");
}

static void put_strings(cfg_buf *b, int indent, const char *key, char *const *s, int n)
{
    put_key(b, indent, key);
    cfg_buf_printf(b, " [");
    for (int i = 0; i < n; i++) {
        cfg_buf_printf(b, "%s", i ? ", " : "");
        cfg_buf_scalar(b, s[i]);
    }
    cfg_buf_printf(b, "]\n");
}

static void put_defines(cfg_buf *b, int indent, const hsi_define *d, int n)
{
    if (!n) return;
    put_key(b, indent, "defines");
    cfg_buf_printf(b, " {");
    for (int i = 0; i < n; i++) {
        char *end;
        cfg_buf_printf(b, "%s%s: ", i ? ", " : "", d[i].key);
        strtod(d[i].value, &end);
        if (*end || !d[i].value[0]) cfg_buf_scalar(b, d[i].value);
        else cfg_buf_printf(b, "%s", d[i].value);   /* a number stays a number */
    }
    cfg_buf_printf(b, "}\n");
}

/* Absolute form of a path relative to the current folder (canonical when the file exists). */
static void put_path(cfg_buf *b, int indent, const char *key, const char *path)
{
    char cwd[PATH_MAX];
    if (realpath(path, cwd)) {
        put_s(b, indent, key, cwd);
        return;
    }
    if (path[0] != '/' && getcwd(cwd, sizeof cwd)) {
        char *s = malloc(strlen(cwd) + strlen(path) + 2);
        if (!s) {
            b->oom = 1;
            return;
        }
        sprintf(s, "%s/%s", cwd, strncmp(path, "./", 2) ? path : path + 2);
        put_s(b, indent, key, s);
        free(s);
        return;
    }
    put_s(b, indent, key, path);
}

static void put_amount(cfg_buf *b, const char *key, hsi_amount a)
{
    if (a.is_fraction && a.fraction == 1.0) cfg_buf_printf(b, "  %s: all\n", key);
    else if (a.is_fraction) put_f(b, 2, key, a.fraction, 0);
    else put_i(b, 2, key, a.count);
}

/* The keys of one schedule, as parse_schedule reads them. */
static void put_schedule(cfg_buf *b, int indent, const hsi_schedule *s)
{
    put_key(b, indent, "schedule");
    cfg_buf_printf(b, "\n");
    indent += 2;
    put_s(b, indent, "policy", hsi_lr_policy_name(s->policy));
    if (s->policy == HSI_LR_STEP || s->policy == HSI_LR_MULTISTEP || s->policy == HSI_LR_EXP)
        put_f(b, indent, "gamma", s->gamma, 0);
    if (s->policy == HSI_LR_STEP) put_i(b, indent, "stepsize", s->stepsize);
    if (s->policy == HSI_LR_MULTISTEP) {
        put_key(b, indent, "steps");
        for (int i = 0; i < s->n_steps; i++)
            cfg_buf_printf(b, "%s%lld", i ? ", " : " [", (long long)s->steps[i]);
        cfg_buf_printf(b, "]\n");
    }
    if (s->policy == HSI_LR_POLY) put_f(b, indent, "power", s->power, 0);
    if (s->policy == HSI_LR_COSINE) put_f(b, indent, "min_lr", s->min_lr, 0);
    if ((s->policy == HSI_LR_POLY || s->policy == HSI_LR_COSINE) && s->max_iter)
        put_i(b, indent, "max_iter", s->max_iter);
    put_i(b, indent, "warmup", s->warmup);
    put_f(b, indent, "warmup_start", s->warmup_start, 0);
}

static void put_domain(cfg_buf *b, const hsi_exp_domain *d)
{
    static const char *const halves[] = {"none", "left", "right", "top", "bottom"};
    cfg_buf_printf(b, "  - name: %s\n", d->name);
    put_s(b, 4, "dataset", d->dataset);
    if (d->n_labels) {
        put_key(b, 4, "labels");
        for (int k = 0; k < d->n_labels; k++)
            cfg_buf_printf(b, "%s%d", k ? ", " : " [", (int)d->label_ids[k]);
        cfg_buf_printf(b, "]\n");
    }
    if (d->band_end || d->resample) {
        cfg_buf_printf(b, "    bands: {");
        if (d->band_end) cfg_buf_printf(b, "range: [%d, %d]", d->band_start, d->band_end);
        if (d->resample) cfg_buf_printf(b, "%sresample: %d", d->band_end ? ", " : "", d->resample);
        cfg_buf_printf(b, "}\n");
    }
    if (d->region_rect[2])
        cfg_buf_printf(b, "    region: {rect: [%d, %d, %d, %d]}\n", d->region_rect[0],
                       d->region_rect[1], d->region_rect[2], d->region_rect[3]);
    if (d->region_half) cfg_buf_printf(b, "    region: {half: %s}\n", halves[d->region_half]);
    put_defines(b, 4, d->defines, d->n_defines);
    put_f(b, 4, "loss_weight", d->loss_weight, 1);
}

static void put_solver(cfg_buf *b, const hsi_experiment *x)
{
    static const char *const styles[] = {"caffe", "pytorch"};
    const hsi_solver_opts *s = &x->solver;
    cfg_buf_printf(b, "solver:\n");
    put_s(b, 2, "type", hsi_solver_type_name(s->type));
    put_f(b, 2, "lr", x->schedule.base_lr, 0);
    put_f(b, 2, "weight_decay", s->weight_decay, 1);
    if (s->type == HSI_SOLVER_SGD) {
        put_f(b, 2, "momentum", s->momentum, 1);
        put_bool(b, 2, "nesterov", s->nesterov);
        put_s(b, 2, "momentum_style", styles[s->momentum_style]);
    } else if (s->type == HSI_SOLVER_RMSPROP) {
        put_f(b, 2, "rho", s->rho, 1);
    } else {
        cfg_buf_printf(b, "  betas: [");
        put_num(b, s->beta1, 1);
        cfg_buf_printf(b, ", ");
        put_num(b, s->beta2, 1);
        cfg_buf_printf(b, "]\n");
    }
    if (s->type != HSI_SOLVER_SGD) put_f(b, 2, "eps", s->eps, 1);
}

static void put_train(cfg_buf *b, const hsi_experiment *x)
{
    static const char *const sel[] = {"val_loss", "val_oa", "last"};
    const hsi_exp_train *t = &x->train;
    cfg_buf_printf(b, "train:\n");
    put_i(b, 2, "batch", t->batch);
    if (t->epochs) put_i(b, 2, "epochs", t->epochs);
    if (t->iterations) put_i(b, 2, "iterations", t->iterations);
    put_i(b, 2, "val_every", t->val_every);
    put_s(b, 2, "select", sel[t->select]);
    if (t->patience)
        cfg_buf_printf(b, "  early_stopping: {patience: %d, metric: %s}\n", t->patience,
                       sel[t->stop_metric]);
    put_i(b, 2, "threads", t->threads);
    if (!t->bn_sync) put_bool(b, 2, "bn_sync", 0);   /* the default stays out: older runs' hashes */
}

static void put_phases(cfg_buf *b, const hsi_experiment *x)
{
    cfg_buf_printf(b, "phases:\n");
    for (int i = 0; i < x->n_phases; i++) {
        const hsi_exp_phase *p = &x->phases[i];
        cfg_buf_printf(b, "  - name: ");
        cfg_buf_scalar(b, p->name);
        cfg_buf_printf(b, "\n    domains: [");
        for (int j = 0; j < p->n_domains; j++)
            cfg_buf_printf(b, "%s%s", j ? ", " : "", x->domains[p->domains[j]].name);
        cfg_buf_printf(b, "]\n");
        if (p->epochs) put_i(b, 4, "epochs", p->epochs);
        else put_i(b, 4, "iterations", p->iterations);
        put_f(b, 4, "lr", p->schedule.base_lr, 0);
        put_schedule(b, 4, &p->schedule);
    }
}

static void put_tail(cfg_buf *b, const hsi_experiment *x)
{
    static const char *const keep[] = {"best", "last", "both", "none"};
    if (x->shared_lr_scale > 0) put_f(b, 0, "shared_lr_scale", x->shared_lr_scale, 1);
    else cfg_buf_printf(b, "shared_lr_scale: 1/N\n");
    if (x->init.checkpoint) {
        cfg_buf_printf(b, "init:\n");
        put_path(b, 2, "checkpoint", x->init.checkpoint);
        put_strings(b, 2, "load", x->init.load, x->init.n_load);
        put_strings(b, 2, "freeze", x->init.freeze, x->init.n_freeze);
    } else {
        cfg_buf_printf(b, "init: scratch\n");
    }
    if (x->n_sweep && x->sweep_point < 0) {
        cfg_buf_printf(b, "sweep:\n");
        for (int i = 0; i < x->n_sweep; i++) {
            cfg_buf_printf(b, "  ");
            cfg_buf_scalar(b, x->sweep[i].key);
            cfg_buf_printf(b, ": [");
            for (int j = 0; j < x->sweep[i].n_values; j++)
                cfg_buf_printf(b, "%s%s", j ? ", " : "", x->sweep[i].values[j]);
            cfg_buf_printf(b, "]\n");
        }
    }
    cfg_buf_printf(b, "runs:\n");
    put_i(b, 2, "count", x->runs.count);
    if (x->runs.seeds) {
        cfg_buf_printf(b, "  seeds: [");
        for (int i = 0; i < x->runs.n_seeds; i++)
            cfg_buf_printf(b, "%s%llu", i ? ", " : "", (unsigned long long)x->runs.seeds[i]);
        cfg_buf_printf(b, "]\n");
    } else {
        put_i(b, 2, "seed", (int64_t)x->runs.seed);
    }
    cfg_buf_printf(b, "outputs:\n");
    put_s(b, 2, "dir", x->outputs.dir);
    put_bool(b, 2, "maps", x->outputs.maps);
    put_bool(b, 2, "curves", x->outputs.curves);
    put_s(b, 2, "checkpoints", keep[x->outputs.checkpoints]);
}

char *hsi_experiment_to_yaml(const hsi_experiment *x, char *err, size_t errlen)
{
    static const char *const std[] = {"all", "train", "none"};
    static const char *const pad[] = {"zero", "reflect", "replicate"};
    static const char *const augs[] = {"none", "dihedral", "dihedral_x8"};
    static const char *const rules[] = {"random", "ssrn"};
    cfg_buf b = {0};
    cfg_buf_printf(&b, "# Resolved experiment (defaults filled in, overrides applied) from %s\n",
                   x->path);
    if (x->sweep_point >= 0)
        cfg_buf_printf(&b, "# sweep point %d of %d: %s\n", x->sweep_point, x->sweep_points,
                       x->sweep_label);
    put_s(&b, 0, "name", x->name);
    if (x->description) put_s(&b, 0, "description", x->description);
    put_path(&b, 0, "net", x->net);
    put_defines(&b, 0, x->defines, x->n_defines);
    put_s(&b, 0, "backend", x->backend == HSI_BACKEND_REF ? "ref" : "dnnl");
    cfg_buf_printf(&b, "domains:\n");
    for (int i = 0; i < x->n_domains; i++) put_domain(&b, &x->domains[i]);
    cfg_buf_printf(&b, "preprocess:\n");
    put_s(&b, 2, "standardize", std[x->standardize]);
    put_s(&b, 2, "padding", pad[x->padding]);
    put_s(&b, 2, "nonfinite", x->nonfinite == HSI_EXP_NONFINITE_ZERO ? "zero" : "error");
    if (x->patch) put_i(&b, 2, "patch", x->patch);
    cfg_buf_printf(&b, "split:\n");
    if (x->split.masks) {
        put_path(&b, 2, "masks", x->split.masks);
    } else {
        put_s(&b, 2, "rule", rules[x->split.rule]);
        put_amount(&b, "train", x->split.train);
        put_amount(&b, "val", x->split.val);
        if (x->split.rule != HSI_EXP_SPLIT_SSRN) {
            put_bool(&b, 2, "stratified", x->split.stratified);
            put_i(&b, 2, "spatial_blocks", x->split.spatial_blocks);
        }
    }
    if (x->split.has_seed) put_i(&b, 2, "seed", (int64_t)x->split.seed);
    put_s(&b, 0, "augment", augs[x->augment]);
    put_solver(&b, x);
    put_schedule(&b, 0, &x->schedule);
    put_train(&b, x);
    if (x->phases_given) put_phases(&b, x);
    put_tail(&b, x);
    if (b.oom || !b.s) {
        free(b.s);
        snprintf(err, errlen, "%s: error: out of memory", x->path);
        return NULL;
    }
    return b.s;
}
