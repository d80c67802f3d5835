/* registry.c — the dataset registry: parses YAML (libyaml document API) into hsi_dataset
 * entries, built-in text first (compiled in from datasets.yaml), then the user's file; checks
 * every key and type and reports file:line:col and the key path. Also the label remap. It does
 * not touch the data folder (fetch.c does). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "data_internal.h"
#include "io/yaml_tags.h"

extern const unsigned char hsi_builtin_datasets_yaml[];   /* generated from datasets.yaml (embed.cmake) */

const char *hsi_registry_builtin_yaml(void)
{
    return (const char *)hsi_builtin_datasets_yaml;
}

/* Parsing context: the document, where it came from, the error buffer. */
typedef struct yctx {
    yaml_document_t *doc;
    hsi_yaml_tags tags;        /* which nodes have a tag in the text */
    const char *origin;
    char *err;
    size_t errlen;
} yctx;

static int yerr(yctx *c, yaml_node_t *n, const char *path, const char *msg)
{
    return data_err(c->err, c->errlen, "%s:%zu:%zu: %s: %s", c->origin,
                    n ? n->start_mark.line + 1 : 0, n ? n->start_mark.column + 1 : 0, path, msg);
}

static yaml_node_t *map_get(yctx *c, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(c->doc, p->value);
    }
    return NULL;
}

/* Every key of map must be in allowed (NULL-terminated, at most 16), once: of two values for a
 * key the first was read without a word ('bands: 6' then 'bands: 7', a class's 'id' twice). */
static int check_keys(yctx *c, yaml_node_t *map, const char *path, const char *const *allowed)
{
    yaml_node_t *seen[16] = {0};
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const char *ks = k && k->type == YAML_SCALAR_NODE ? (char *)k->data.scalar.value : "";
        int ok = 0, a = 0;
        for (; allowed[a] && !ok; a++)
            ok = strcmp(ks, allowed[a]) == 0;
        if (ok && a - 1 < 16 && seen[a - 1]) {
            char msg[320];
            snprintf(msg, sizeof msg, "key '%s' given twice (first at line %zu)", ks,
                     seen[a - 1]->start_mark.line + 1);
            return yerr(c, k, path, msg);
        }
        if (ok && a - 1 < 16)
            seen[a - 1] = k;
        if (!ok) {
            char msg[512];
            size_t used = (size_t)snprintf(msg, sizeof msg, "unknown key '%s' (expected one of:", ks);
            for (const char *const *w = allowed; *w && used < sizeof msg; w++)
                used += (size_t)snprintf(msg + used, sizeof msg - used, " %s", *w);
            if (used < sizeof msg)
                snprintf(msg + used, sizeof msg - used, ")");
            return yerr(c, k, path, msg);
        }
    }
    return 0;
}

/* Every node's tag (yaml_tags.h), before any value is read; path as the entries' own:
 * datasets[0].classes[1].id. A registry is a few levels deep: deeper is refused, not recursed. */
static int check_tags(yctx *c, yaml_node_t *n, const char *path, int depth)
{
    char why[400];
    if (depth > 16) return yerr(c, n, path, "nested too deeply for a dataset registry");
    if (hsi_yaml_tag_check(&c->tags, c->doc, n, "a dataset registry", why, sizeof why) < 0)
        return yerr(c, n, path, why);
    char sub[512];
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            snprintf(sub, sizeof sub, "%s[%d]", path, (int)(it - n->data.sequence.items.start));
            if (check_tags(c, yaml_document_get_node(c->doc, *it), sub, depth + 1)) return -1;
        }
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            snprintf(sub, sizeof sub, "%s%s%.200s", path, *path ? "." : "",
                     k->type == YAML_SCALAR_NODE ? (char *)k->data.scalar.value : "?");
            if (hsi_yaml_tag_check(&c->tags, c->doc, k, "a dataset registry", why, sizeof why) < 0) {
                char msg[420];
                snprintf(msg, sizeof msg, "the key is %s", why);   /* '!foo bands: 6' */
                return yerr(c, k, sub, msg);
            }
            if (check_tags(c, yaml_document_get_node(c->doc, p->value), sub, depth + 1)) return -1;
        }
    }
    return 0;
}

/* A scalar read as text: quoted (and not tagged as a value), or tagged !!str. */
static int is_text(yctx *c, yaml_node_t *n)
{
    char why[8];
    int tag = hsi_yaml_tag_check(&c->tags, c->doc, n, "", why, sizeof why);
    return tag == HSI_YTAG_TEXT || (tag == HSI_YTAG_NONE && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE);
}

static int is_null(yctx *c, yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE || is_text(c, n))
        return 0;
    const char *s = (char *)n->data.scalar.value;
    return !*s || strcmp(s, "null") == 0 || strcmp(s, "~") == 0;
}

/* Scalar string at map[key]; required=0 leaves *out NULL when absent or null. */
static int get_str(yctx *c, yaml_node_t *map, const char *key, const char *path, int required,
                   char **out)
{
    char p[256];
    yaml_node_t *n = map_get(c, map, key);
    snprintf(p, sizeof p, "%.190s.%.60s", path, key);   /* a message's key path */
    *out = NULL;
    if (!n || is_null(c, n)) {
        if (required)
            return yerr(c, map, p, "missing (required)");
        return 0;
    }
    if (n->type != YAML_SCALAR_NODE)
        return yerr(c, n, p, "expected a string");
    *out = strdup((char *)n->data.scalar.value);
    return *out ? 0 : yerr(c, n, p, "out of memory");
}

static int scalar_int(yctx *c, yaml_node_t *n, const char *path, long long lo, long long hi,
                      long long *out)
{
    char msg[200];
    if (!n || n->type != YAML_SCALAR_NODE)
        return yerr(c, n, path, "expected an integer");
    const char *s = (char *)n->data.scalar.value;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v < lo || v > hi || is_text(c, n)) {
        snprintf(msg, sizeof msg, "expected an integer in [%lld, %lld], got '%.40s'%s", lo, hi, s,
                 is_text(c, n) ? " (quoted or tagged !!str, so a text; remove the quotes or the "
                 "tag)" : "");
        return yerr(c, n, path, msg);
    }
    *out = v;
    return 0;
}

/* Integer at map[key]; absent or null gives dflt unless required. */
static int get_int(yctx *c, yaml_node_t *map, const char *key, const char *path, int required,
                   long long lo, long long hi, long long dflt, long long *out)
{
    char p[256];
    yaml_node_t *n = map_get(c, map, key);
    snprintf(p, sizeof p, "%.190s.%.60s", path, key);   /* a message's key path */
    *out = dflt;
    if (!n || is_null(c, n))
        return required ? yerr(c, map, p, "missing (required)") : 0;
    return scalar_int(c, n, p, lo, hi, out);
}

/* A sequence of n integers in [lo, hi] (n < 0: any length, at most cap). */
static int get_ints(yctx *c, yaml_node_t *n, const char *path, int want, int cap, long long lo,
                    long long hi, long long *out, int *count)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return yerr(c, n, path, "expected a list [ ... ]");
    int k = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, k++) {
        char p[340];
        snprintf(p, sizeof p, "%s[%d]", path, k);
        if (k >= cap)
            return yerr(c, n, path, "list too long");
        if (scalar_int(c, yaml_document_get_node(c->doc, *it), p, lo, hi, &out[k]) != 0)
            return -1;
    }
    if (want >= 0 && k != want) {
        char msg[64];
        snprintf(msg, sizeof msg, "expected %d values, got %d", want, k);
        return yerr(c, n, path, msg);
    }
    *count = k;
    return 0;
}

/* The integer list at map[key] (see get_ints): 1 if present, 0 if absent or null, -1 on error. */
static int get_list(yctx *c, yaml_node_t *map, const char *key, const char *path, int want,
                    int cap, long long lo, long long hi, long long *out, int *count)
{
    char p[320];   /* a class path is up to 300 bytes (parse_classes) */
    yaml_node_t *n = map_get(c, map, key);
    *count = 0;
    if (!n || is_null(c, n))
        return 0;
    snprintf(p, sizeof p, "%.190s.%.60s", path, key);   /* a message's key path */
    return get_ints(c, n, p, want, cap, lo, hi, out, count) == 0 ? 1 : -1;
}

static void file_free(hsi_dataset_file *f)
{
    free(f->file);
    free(f->var);
    free(f->sha256);
    for (int i = 0; i < f->n_urls; i++)
        free(f->urls[i]);
    free(f->urls);
    memset(f, 0, sizeof *f);
}

static void dataset_free(hsi_dataset *d)
{
    free(d->name);
    free(d->display);
    free(d->folder);
    free(d->sensor);
    file_free(&d->cube);
    file_free(&d->gt);
    for (int i = 0; i < d->n_classes; i++)
        free(d->classes[i].name);
    free(d->classes);
    free(d->ignored);
    memset(d, 0, sizeof *d);
}

static int parse_file(yctx *c, yaml_node_t *ds, const char *key, const char *path,
                      hsi_dataset_file *f)
{
    static const char *const keys[] = {"file", "var", "size", "sha256", "urls", NULL};
    char p[256];
    yaml_node_t *n = map_get(c, ds, key);
    snprintf(p, sizeof p, "%.190s.%.60s", path, key);   /* a message's key path */
    if (!n)
        return yerr(c, ds, p, "missing (required)");
    if (n->type != YAML_MAPPING_NODE)
        return yerr(c, n, p, "expected a mapping {file: ..., var: ..., ...}");
    long long size;
    if (check_keys(c, n, p, keys) || get_str(c, n, "file", p, 1, &f->file)
        || get_str(c, n, "var", p, 0, &f->var) || get_str(c, n, "sha256", p, 0, &f->sha256)
        || get_int(c, n, "size", p, 0, 0, INT64_MAX, -1, &size))
        return -1;
    f->size = size;
    if (strchr(f->file, '/') || !strcmp(f->file, ".") || !strcmp(f->file, "..") || !f->file[0])
        return yerr(c, n, p, "'file' must be a plain file name (no '/', not '.' or '..')");
    /* read only from a .mat (raw.c's dispatch by suffix): beside an ENVI or .npy file it was
     * silently ignored */
    size_t fl = strlen(f->file);
    if (f->var && !(fl >= 4 && strcasecmp(f->file + fl - 4, ".mat") == 0))
        return yerr(c, map_get(c, n, "var"), p, "'var' names a variable of a .mat file; an ENVI "
                    "or .npy file holds one array (leave 'var' out)");
    if (f->sha256) {
        int ok = strlen(f->sha256) == 64;
        for (char *s = f->sha256; *s && ok; s++) {
            if (*s >= 'A' && *s <= 'F')
                *s = (char)(*s - 'A' + 'a');
            ok = (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f');
        }
        if (!ok)
            return yerr(c, map_get(c, n, "sha256"), p, "sha256 must be 64 hex digits");
    }
    yaml_node_t *u = map_get(c, n, "urls");
    if (!u || is_null(c, u))
        return 0;
    if (u->type != YAML_SEQUENCE_NODE)
        return yerr(c, u, p, "'urls' must be a list");
    int nu = (int)(u->data.sequence.items.top - u->data.sequence.items.start);
    f->urls = calloc((size_t)nu + 1, sizeof *f->urls);
    if (!f->urls)
        return yerr(c, u, p, "out of memory");
    for (int i = 0; i < nu; i++) {
        yaml_node_t *s = yaml_document_get_node(c->doc, u->data.sequence.items.start[i]);
        if (!s || s->type != YAML_SCALAR_NODE)
            return yerr(c, s, p, "'urls' must be a list of strings");
        f->urls[f->n_urls++] = strdup((char *)s->data.scalar.value);
    }
    return 0;
}

typedef struct id_at { int32_t id; int i; } id_at;

static int by_id_then_place(const void *a, const void *b)
{
    const id_at *x = a, *y = b;
    return x->id != y->id ? (x->id > y->id) - (x->id < y->id) : (x->i > y->i) - (x->i < y->i);
}

/* The place of the first class whose id an earlier class has, or -1 (-2: out of memory). The
 * ids are sorted once: a search among the classes before each one took most of a minute on a
 * list of 200000. */
static int first_repeated_id(const hsi_dataset *d)
{
    if (d->n_classes < 2) return -1;
    id_at *v = malloc(sizeof *v * (size_t)d->n_classes);
    if (!v) return -2;
    for (int i = 0; i < d->n_classes; i++) v[i] = (id_at){d->classes[i].id, i};
    qsort(v, (size_t)d->n_classes, sizeof *v, by_id_then_place);
    int at = -1;
    for (int j = 1; j < d->n_classes; j++)
        if (v[j].id == v[j - 1].id && (at < 0 || v[j].i < at)) at = v[j].i;
    free(v);
    return at;
}

static int parse_classes(yctx *c, yaml_node_t *ds, const char *path, hsi_dataset *d)
{
    static const char *const keys[] = {"id", "name", "rgb", NULL};
    char p[256];
    yaml_node_t *n = map_get(c, ds, "classes");
    snprintf(p, sizeof p, "%s.classes", path);
    if (!n)
        return yerr(c, ds, p, "missing (required)");
    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.top == n->data.sequence.items.start)
        return yerr(c, n, p, "expected a non-empty list of {id, name, rgb}");
    int nc = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    d->classes = calloc((size_t)nc, sizeof *d->classes);
    if (!d->classes)
        return yerr(c, n, p, "out of memory");
    for (int i = 0; i < nc; i++) {
        char pi[300];
        snprintf(pi, sizeof pi, "%s[%d]", p, i);
        yaml_node_t *e = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
        if (!e || e->type != YAML_MAPPING_NODE)
            return yerr(c, e, pi, "expected {id: N, name: \"...\", rgb: [r, g, b]}");
        hsi_class *k = &d->classes[d->n_classes++];
        long long id, rgb[3];
        int cnt;
        if (check_keys(c, e, pi, keys) || get_int(c, e, "id", pi, 1, INT32_MIN, INT32_MAX, 0, &id)
            || get_str(c, e, "name", pi, 1, &k->name))
            return -1;
        k->id = (int32_t)id;
        int rc = get_list(c, e, "rgb", pi, 3, 3, 0, 255, rgb, &cnt);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            for (int j = 0; j < 3; j++)
                k->rgb[j] = (uint8_t)rgb[j];
        } else {                     /* no colour given: a deterministic spread of colours */
            uint32_t hsh = (uint32_t)id * 2654435761u;
            k->rgb[0] = (uint8_t)(hsh >> 24);
            k->rgb[1] = (uint8_t)(hsh >> 16);
            k->rgb[2] = (uint8_t)(hsh >> 8);
        }
    }
    int rep = first_repeated_id(d);
    if (rep == -2)
        return yerr(c, n, p, "out of memory");
    if (rep >= 0) {
        char pi[300];
        snprintf(pi, sizeof pi, "%s[%d]", p, rep);
        return yerr(c, yaml_document_get_node(c->doc, n->data.sequence.items.start[rep]), pi,
                    "class id repeated");
    }
    return 0;
}

static int parse_dataset(yctx *c, yaml_node_t *n, int idx, hsi_dataset *d)
{
    static const char *const keys[] = {"name", "display", "folder", "sensor", "bands", "shape",
                                       "ignored", "cube", "gt", "classes", NULL};
    char path[64];
    snprintf(path, sizeof path, "datasets[%d]", idx);
    memset(d, 0, sizeof *d);
    if (n->type != YAML_MAPPING_NODE)
        return yerr(c, n, path, "expected a mapping (name: ..., cube: ..., gt: ...)");
    long long bands;
    if (check_keys(c, n, path, keys) || get_str(c, n, "name", path, 1, &d->name))
        return -1;
    snprintf(path, sizeof path, "datasets.%s", d->name);
    if (get_str(c, n, "display", path, 0, &d->display) || get_str(c, n, "folder", path, 0, &d->folder)
        || get_str(c, n, "sensor", path, 0, &d->sensor)
        || get_int(c, n, "bands", path, 0, 0, INT32_MAX, 0, &bands)
        || parse_file(c, n, "cube", path, &d->cube) || parse_file(c, n, "gt", path, &d->gt)
        || parse_classes(c, n, path, d))
        return -1;
    d->bands = (int)bands;
    if (!d->display)
        d->display = strdup(d->name);
    if (!d->folder)
        d->folder = strdup(d->name);
    if (!d->sensor)
        d->sensor = strdup("");
    /* "..": hsi-fetch would write the files beside the data folder, not in it */
    if (strchr(d->folder, '/') || !strcmp(d->folder, ".") || !strcmp(d->folder, "..") ||
        !d->folder[0])
        return yerr(c, n, path, "'folder' must be a plain folder name (no '/', not '.' or '..')");
    long long v[64];
    int cnt;
    int rc = get_list(c, n, "shape", path, 2, 2, 1, INT32_MAX, v, &cnt);
    if (rc < 0)
        return -1;
    if (rc > 0) {
        d->h = (int)v[0];
        d->w = (int)v[1];
    }
    if ((rc = get_list(c, n, "ignored", path, -1, 64, INT32_MIN, INT32_MAX, v, &cnt)) < 0)
        return -1;
    if (rc == 0) {   /* absent: 0, the unlabelled value of every shipped gt ('ignored: []': none) */
        v[0] = 0;
        cnt = 1;
    }
    d->ignored = malloc(sizeof *d->ignored * (size_t)(cnt ? cnt : 1));
    if (!d->ignored)
        return yerr(c, n, path, "out of memory");
    for (int i = 0; i < cnt; i++)
        d->ignored[i] = (int32_t)v[i];
    d->n_ignored = cnt;
    return 0;
}

int hsi_registry_add_yaml(hsi_registry *reg, const char *text, size_t len, const char *origin,
                          char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yctx c = {&doc, {NULL, 0}, origin, err, errlen};
    int rc = -1;
    if (!yaml_parser_initialize(&parser))
        return data_err(err, errlen, "%s: cannot initialise the YAML parser", origin);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        data_err(err, errlen, "%s:%zu:%zu: YAML error: %s", origin, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    static const char *const top[] = {"datasets", NULL};
    yaml_node_t *list;
    if (!root) {
        rc = 0;                                /* an empty file adds nothing */
        goto done;
    }
    if (hsi_yaml_tags_scan(text, len, &c.tags)) {
        data_err(err, errlen, "%s: out of memory", origin);
        goto done;
    }
    if (check_tags(&c, root, "", 0)) goto done;
    if (root->type != YAML_MAPPING_NODE) {
        yerr(&c, root, "(top)", "expected a mapping with a 'datasets' list");
        goto done;
    }
    if (check_keys(&c, root, "(top)", top) != 0)
        goto done;
    list = map_get(&c, root, "datasets");
    if (!list || list->type != YAML_SEQUENCE_NODE) {
        yerr(&c, list ? list : root, "datasets", "expected a list of datasets");
        goto done;
    }
    /* every entry is looked up among the ones before it (a name given again replaces the
     * entry), so their number is bounded; and the array grows once, not by one per entry
     * (200000 entries took minutes) */
    long count = (long)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (count > HSI_REGISTRY_MAX) {
        char msg[96];
        snprintf(msg, sizeof msg, "%ld datasets, more than the %d a registry file may hold", count,
                 HSI_REGISTRY_MAX);
        yerr(&c, list, "datasets", msg);
        goto done;
    }
    if (count > 0) {
        hsi_dataset *g = realloc(reg->ds, sizeof *g * (size_t)(reg->n + count));
        if (!g) {
            data_err(err, errlen, "%s: out of memory", origin);
            goto done;
        }
        reg->ds = g;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        hsi_dataset d;
        int idx = (int)(it - list->data.sequence.items.start);
        if (parse_dataset(&c, yaml_document_get_node(&doc, *it), idx, &d) != 0) {
            dataset_free(&d);
            goto done;
        }
        int slot = reg->n;
        for (int i = 0; i < reg->n; i++)
            if (strcmp(reg->ds[i].name, d.name) == 0)
                slot = i;
        if (slot == reg->n) {
            reg->n++;   /* room was made above */
        } else {
            dataset_free(&reg->ds[slot]);
        }
        reg->ds[slot] = d;
    }
    rc = 0;
done:
    hsi_yaml_tags_free(&c.tags);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

hsi_registry *hsi_registry_load(const char *user_path, char *err, size_t errlen)
{
    hsi_registry *reg = calloc(1, sizeof *reg);
    if (!reg) {
        data_err(err, errlen, "out of memory");
        return NULL;
    }
    const char *b = hsi_registry_builtin_yaml();
    if (hsi_registry_add_yaml(reg, b, strlen(b), "datasets.yaml (built-in)", err, errlen) != 0)
        goto fail;
    if (!user_path)
        user_path = getenv("HSICC_DATASETS");
    if (user_path && *user_path) {
        char *text;
        size_t len;
        if (data_read_file(user_path, &text, &len, err, errlen) != 0)
            goto fail;
        int rc = hsi_registry_add_yaml(reg, text, len, user_path, err, errlen);
        free(text);
        if (rc != 0)
            goto fail;
    }
    return reg;
fail:
    hsi_registry_free(reg);
    return NULL;
}

const hsi_dataset *hsi_registry_find(const hsi_registry *reg, const char *name)
{
    for (int i = 0; reg && name && i < reg->n; i++)
        if (strcmp(reg->ds[i].name, name) == 0)
            return &reg->ds[i];
    return NULL;
}

void hsi_registry_free(hsi_registry *reg)
{
    if (!reg)
        return;
    for (int i = 0; i < reg->n; i++)
        dataset_free(&reg->ds[i]);
    free(reg->ds);
    free(reg);
}

int hsi_dataset_class_ids(const hsi_dataset *ds, int32_t *ids)
{
    for (int k = 0; k < ds->n_classes; k++)
        ids[k] = ds->classes[k].id;
    return ds->n_classes;
}

int hsi_labels_remap(const hsi_labels *gt, const int32_t *ids, int n_ids, int32_t *out,
                     char *err, size_t errlen)
{
    size_t n = (size_t)gt->h * (size_t)gt->w;
    for (int k = 0; k < n_ids; k++)
        for (int j = 0; j < k; j++)
            if (ids[j] == ids[k])
                return data_err(err, errlen, "class list: label %d appears twice (positions %d "
                                "and %d)", (int)ids[k], j, k);
    int64_t *count = calloc((size_t)(n_ids > 0 ? n_ids : 1), sizeof *count);
    if (!count)
        return data_err(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        out[i] = -1;
        for (int k = 0; k < n_ids; k++)
            if (gt->gt[i] == ids[k]) {
                out[i] = k;
                count[k]++;
                break;
            }
    }
    for (int k = 0; k < n_ids; k++)
        if (count[k] == 0) {
            free(count);
            return data_err(err, errlen, "class list: label %d has no pixel in the %d x %d "
                            "ground truth", (int)ids[k], gt->h, gt->w);
        }
    free(count);
    return 0;
}
