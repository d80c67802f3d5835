/* config_schema.c — the experiment schema: the tree from config.c -> hsi_experiment (every key
 * checked: unknown keys with did-you-mean, types, ranges, required keys, cross-key rules), the
 * sweep points, and the resolved experiment written back as YAML.
 *
 * Every key is declared once, in the tables of "the schema" below: its name, type, field, range,
 * enum names, default, whether it is required, which solver type / policy it applies to, and
 * where the resolved file writes it. The generic reader (read_key) and writer (put_section) work
 * from those tables, and so do the unknown-key messages and hsi_experiment_each_key (which the
 * test train.config_doc checks against runtime/io/EXPERIMENTS.md, the user documentation).
 * What stays code: lists (domains, phases), pairs and ranges ([start, end], betas), the forms a
 * key can take (runs: 5, init: scratch, shared_lr_scale: 1/N), the sweep, and cross-key rules.
 * It does not read datasets: with a registry it checks names and class ids only.
 */
#define _XOPEN_SOURCE 700   /* realpath, getcwd */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"
#include "hsi_data.h"
#include "hsi_io.h"

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

/* ---- scalars: each reader returns 1 when the value was read, -1 after an error --------------- */

typedef struct range { double lo, hi; int lo_open, hi_open; } range;
#define RANGE_POS {0, INFINITY, 1, 0}
#define RANGE_NONNEG {0, INFINITY, 0, 0}
#define RANGE_ONE_UP {1, INFINITY, 0, 0}
#define RANGE_UNIT_HALF_OPEN {0, 1, 0, 1}   /* [0, 1) */
#define RANGE_UNIT {0, 1, 0, 0}             /* [0, 1] */
static const range R_NONNEG = RANGE_NONNEG;
static const range R_ONE_UP = RANGE_ONE_UP;
static const range R_UNIT_HALF_OPEN = RANGE_UNIT_HALF_OPEN;
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

/* "010", "-07": YAML 1.1 (PyYAML) reads an integer with a leading 0 as octal (8), YAML 1.2 and
 * strtod as decimal (10); such a number is refused rather than read one of the two ways. */
static int octal_looking(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    return s[0] == '0' && s[1] && is_int_text(s);
}

/* 1 if n is a plain scalar holding a finite number (an integer when integer is set). */
static int scalar_number(const cfg_node *n, int integer, double *out)
{
    if (n->kind != CFG_SCALAR || n->quoted || !n->str[0] || octal_looking(n->str)) return 0;
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
            return cfg_error(v->c, &n->mark, "key '%s': expected %s, got %s (%s, so a text; "
                             "remove the %s)", path, want, got(v, n),
                             n->quoted == 2 ? "tagged !!str" : "quoted", n->quoted == 2 ? "tag" : "quotes");
    }
    if (n->kind == CFG_SCALAR && !n->quoted && octal_looking(n->str))
        return cfg_error(v->c, &n->mark, "key '%s': expected %s, got %s, with a leading 0 that "
                         "YAML readers differ on (010 is 8 in YAML 1.1, 10 in YAML 1.2); write it "
                         "without", path, want, got(v, n));
    if (!scalar_number(n, integer, &x) || !in_range(x, r)) {
        /* an integer past the bound that range_text leaves out (INT32_MAX for counts, 9e15 where
         * a double still holds every integer): "expected an integer >= 1" alone was no reason */
        double hi = fmin(r.hi, 9e15);
        if (r.hi >= INT32_MAX && n->kind == CFG_SCALAR && !n->quoted && integer &&
            is_int_text(n->str) && strtod(n->str, NULL) > hi)
            return cfg_error(v->c, &n->mark, "key '%s': expected %s, got %s, more than the largest "
                             "allowed, %.0f", path, want, got(v, n), r.hi <= 9e15 ? r.hi : 9e15 - 1);
        return cfg_error(v->c, &n->mark, "key '%s': expected %s, got %s", path, want, got(v, n));
    }
    *out = x;
    return 1;
}

static int node_bool(V *v, const cfg_node *n, const char *path, int *out)
{
    if (n->kind == CFG_SCALAR && !n->quoted) {
        static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};
        for (int i = 0; i < 3; i++) {
            if (strcmp(n->str, t[i]) == 0) return *out = 1;
            if (strcmp(n->str, f[i]) == 0) return (*out = 0), 1;
        }
    }
    return cfg_error(v->c, &n->mark, "key '%s': expected true or false, got %s", path, got(v, n));
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

static int node_string(V *v, const cfg_node *n, const char *path, char **out)
{
    if (n->kind != CFG_SCALAR || cfg_is_null(n) || !n->str[0])
        return cfg_error(v->c, &n->mark, "key '%s': expected a text value, got %s", path,
                         got(v, n));
    *out = n->str;
    return 1;
}

/* A list of texts (NULL-terminated), and its length. */
static int node_strings(V *v, const cfg_node *l, const char *path, char ***out, int *n)
{
    if (need_kind(v, l, path, CFG_SEQ)) return -1;
    *out = cfg_alloc(v->a, sizeof **out * (size_t)(l->n + 1));
    if (!*out) return -1;
    for (int i = 0; i < l->n; i++)
        if (node_string(v, l->kids[i], join_index(v, path, i), &(*out)[i]) < 0) return -1;
    *n = l->n;
    return 1;
}

/* `defines:` a map from identifiers to single values. */
/* "file:line:col" of a mark, or its origin (the --set text), or "experiment" */
static char *mark_where(V *v, const cfg_mark *m)
{
    char where[4200];
    if (m->line > 0) snprintf(where, sizeof where, "%s:%d:%d", m->origin, m->line, m->col);
    else snprintf(where, sizeof where, "%s", m->origin ? m->origin : "experiment");
    return cfg_strdup(v->a, where);
}

static int node_defines(V *v, const cfg_node *d, const char *path, hsi_define **out, int *n)
{
    if (need_kind(v, d, path, CFG_MAP)) return -1;
    *out = cfg_alloc(v->a, sizeof **out * (size_t)(d->n + 1));
    if (!*out) return -1;
    for (int i = 0; i < d->n; i++) {
        const char *k = d->keys[i];
        if (!ident_ok(k))
            return cfg_error(v->c, &d->key_marks[i], "key '%s': '%.200s' is not a net parameter name",
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
        (*out)[i].where = mark_where(v, &d->key_marks[i]);
        (*out)[i].path = join(v, path, k);
    }
    *n = d->n;
    return 1;
}

/* A count (an integer >= min_count), a fraction in (0, 1), or (allow_all) "all" = fraction 1. */
static int node_amount(V *v, const cfg_node *n, const char *path, int min_count, int allow_all,
                       hsi_amount *out)
{
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

/* ---- the schema: one table per map of the file, every key once ------------------------------- */

typedef enum ktype {
    K_INT, K_I64, K_FLOAT, K_DOUBLE,   /* a number in r: int, int64_t (or uint64_t), float,
                                          double */
    K_BOOL,                            /* int 0 / 1 */
    K_ENUM,                            /* an enum field; its names in e, in the enum's order */
    K_TEXT,                            /* char *: a non-empty single value */
    K_PATH,                            /* char *: relative to the experiment file's folder */
    K_TEXTS,                           /* char ** (NULL-terminated), its length at count */
    K_DEFINES,                         /* hsi_define *, its length at count */
    K_AMOUNT,                          /* hsi_amount: a count >= r.lo, a fraction, (KF_ALL) all */
    K_MAP,                             /* a block map of sub's keys (its reader is code) */
    K_CODE,                            /* read and written by code (sub: its map's keys) */
} ktype;

enum {
    KF_REQUIRED = 1,   /* absent: "missing required key 'k'" + why */
    KF_SET = 2,        /* written only when the field is not 0 / NULL */
    KF_ALL = 4,        /* K_AMOUNT: `all` accepted */
    KF_LIST = 8,       /* K_CODE: a list whose items are maps of sub's keys */
    KF_LAST = 16,      /* KF_REQUIRED: reported after the section's other keys are read (a
                          wrong value given with it is named first); else where the key comes */
    KF_F32 = 32,       /* K_DOUBLE whose value the float32 arithmetic gets (a rate): it must be a
                          float as K_FLOAT's values must */
};

typedef struct enum_names { const char *const *s; int n; } enum_names;
typedef struct section section;

typedef struct key_def {
    const char *key;
    ktype type;
    size_t off;              /* the field, from the base the section is read into */
    size_t count;            /* K_TEXTS, K_DEFINES: the int field holding the length */
    range r;                 /* numbers: accepted values (K_AMOUNT: r.lo = the least count) */
    const enum_names *e;     /* K_ENUM */
    const section *sub;      /* K_MAP, K_CODE: the keys of the nested map */
    int flags;               /* KF_ */
    unsigned only;           /* bit i: applies when the section's selector key is i; 0: always */
    const char *why;         /* KF_REQUIRED: said after "missing required key '...'" */
    const char *dflt;        /* the default as YAML text, read in place of an absent key; NULL:
                                none, or set by the code */
    const char *after;       /* the resolved file writes it after this key ("": first); NULL: in
                                table order. The resolved file keeps the key order it always had
                                (its text is hashed into run states, so --resume of an older run
                                still matches); the "it takes ..." lists follow this order too */
    int (*omit)(const void *base);   /* not written when this says so */
    /* K_CODE (and how a map is written when it is not a block): write key and value at indent */
    void (*put)(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
} key_def;

struct section {
    const key_def *k;
    int n;
    int selector;            /* index of the key whose value decides `only`, or -1 */
    const char *hint;        /* appended to the "unknown key ... (known here: ...)" message */
};

#define SECTION(name, sel, hint) \
    static const section name = {name##_keys, COUNT(name##_keys), sel, hint}
#define ENUM(names) {names, COUNT(names)}
#define BIT(x) (1u << (x))

/* One name table per enum, in the enum's order: the reader, the writer and the messages use it.
 * Solver types and policies are hsi_train.h's (hsi_solver_type_names, hsi_lr_policy_names). */
static const char *const backend_names[] = {"dnnl", "ref"}; /* hsi_backend */
static const char *const standardize_names[] = {"all", "train", "none"}; /* hsi_exp_standardize */
static const char *const padding_names[] = {"zero", "reflect", "replicate"}; /* hsi_exp_padding */
static const char *const nonfinite_names[] = {"error", "zero"}; /* hsi_exp_nonfinite */
static const char *const augment_names[] = {"none", "dihedral", "dihedral_x8"}; /* hsi_exp_augment */
static const char *const rule_names[] = {"random", "ssrn"}; /* hsi_exp_split_rule */
static const char *const style_names[] = {"caffe", "pytorch"}; /* hsi_momentum_style */
static const char *const half_names[] = {"none", "left", "right", "top", "bottom"}; /* hsi_half */
static const char *const keep_names[] = {"best", "last", "both", "none"}; /* hsi_ckpt_keep */
const char *const hsi_select_names[3] = {"val_loss", "val_oa", "last"}; /* hsi_select */
static const char *const threshold_mode_names[] = {"rel", "abs"}; /* hsi_threshold_mode */
static const char *const pca_fit_names[] = {"all", "train"}; /* hsi_exp_pca_fit */
static const enum_names E_BACKEND = ENUM(backend_names), E_STANDARDIZE = ENUM(standardize_names),
    E_PADDING = ENUM(padding_names), E_NONFINITE = ENUM(nonfinite_names),
    E_AUGMENT = ENUM(augment_names), E_RULE = ENUM(rule_names), E_STYLE = ENUM(style_names),
    E_HALF = ENUM(half_names), E_KEEP = ENUM(keep_names), E_SELECT = ENUM(hsi_select_names),
    E_METRIC = {hsi_select_names, 2},   /* early stopping, plateau (hsi_plateau_metric): val_loss | val_oa */
    E_THRESHOLD_MODE = ENUM(threshold_mode_names), E_PCA_FIT = ENUM(pca_fit_names),
    E_SOLVER = ENUM(hsi_solver_type_names), E_POLICY = ENUM(hsi_lr_policy_names);

/* The writer's code for the keys that are not a plain value or block map (defined with it). */
static void put_labels(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_bands(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_region(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_domains(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_betas(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_steps(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_early_stopping(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_phase_domains(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_phases(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_shared_lr_scale(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_init(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_sweep(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_runs(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);
static void put_seeds(cfg_buf *b, int indent, const void *field, const hsi_experiment *x);

/* What the resolved file leaves out (a saved split has no rule; ssrn is never stratified). */
static int omit_with_masks(const void *s) { return ((const hsi_exp_split *)s)->masks != NULL; }
static int omit_unstratifiable(const void *s)
{
    const hsi_exp_split *p = s;
    return p->masks || p->rule == HSI_EXP_SPLIT_SSRN;
}
static int omit_seed_unless_given(const void *s) { return !((const hsi_exp_split *)s)->has_seed; }
static int omit_with_seeds(const void *r) { return ((const hsi_exp_runs *)r)->seeds != NULL; }
/* train.bn_sync: the default (true) stays out of the resolved file, as older runs' hashes had it */
static int omit_bn_sync_default(const void *t) { return ((const hsi_exp_train *)t)->bn_sync; }

#define DOM(f) offsetof(hsi_exp_domain, f)
static const key_def bands_keys[] = {   /* domains.*.bands, into hsi_exp_domain */
    {.key = "range", .type = K_CODE},
    {.key = "resample", .type = K_INT, .off = DOM(resample), .r = RANGE_ONE_UP},
};
SECTION(bands, -1, NULL);
static const key_def region_keys[] = {   /* domains.*.region, into hsi_exp_domain */
    {.key = "rect", .type = K_CODE},
    {.key = "half", .type = K_ENUM, .off = DOM(region_half), .e = &E_HALF},
};
SECTION(region, -1, NULL);
static const key_def domain_keys[] = {
    {.key = "name", .type = K_TEXT, .off = DOM(name)},
    {.key = "dataset", .type = K_TEXT, .off = DOM(dataset), .flags = KF_REQUIRED,
     .why = " (a registry name such as IndianPines)"},
    {.key = "labels", .type = K_CODE, .put = put_labels},
    {.key = "bands", .type = K_CODE, .sub = &bands, .put = put_bands},
    {.key = "region", .type = K_CODE, .sub = &region, .put = put_region},
    {.key = "defines", .type = K_DEFINES, .off = DOM(defines), .count = DOM(n_defines)},
    {.key = "loss_weight", .type = K_FLOAT, .off = DOM(loss_weight), .r = RANGE_POS, .dflt = "1"},
};
SECTION(domain, -1, NULL);

#define EXP(f) offsetof(hsi_experiment, f)
#define PCA(f) offsetof(hsi_exp_pca, f)
static int omit_no_variance(const void *p) { return ((const hsi_exp_pca *)p)->variance == 0; }
static int omit_no_pca(const void *x)
{
    const hsi_exp_pca *p = &((const hsi_experiment *)x)->pca;
    return !p->components && p->variance == 0;
}
static const key_def pca_keys[] = {   /* preprocess.pca, into hsi_exp_pca */
    {.key = "components", .type = K_INT, .off = PCA(components), .r = RANGE_ONE_UP,
     .flags = KF_SET},
    {.key = "variance", .type = K_DOUBLE, .off = PCA(variance), .r = {0, 1, 1, 0},
     .omit = omit_no_variance},
    {.key = "fit", .type = K_ENUM, .off = PCA(fit), .e = &E_PCA_FIT},
    {.key = "whiten", .type = K_BOOL, .off = PCA(whiten), .dflt = "false"},
};
SECTION(pca, -1, NULL);
static const key_def preprocess_keys[] = {   /* into hsi_experiment */
    {.key = "standardize", .type = K_ENUM, .off = EXP(standardize), .e = &E_STANDARDIZE},
    {.key = "padding", .type = K_ENUM, .off = EXP(padding), .e = &E_PADDING},
    {.key = "patch", .type = K_INT, .off = EXP(patch), .r = RANGE_ONE_UP, .flags = KF_SET,
     .after = "nonfinite"},
    {.key = "nonfinite", .type = K_ENUM, .off = EXP(nonfinite), .e = &E_NONFINITE},
    {.key = "pca", .type = K_MAP, .off = EXP(pca), .sub = &pca, .omit = omit_no_pca},
};
SECTION(preprocess, -1, NULL);

#define SPLIT(f) offsetof(hsi_exp_split, f)
static const key_def split_keys[] = {
    {.key = "rule", .type = K_ENUM, .off = SPLIT(rule), .e = &E_RULE, .omit = omit_with_masks},
    {.key = "train", .type = K_AMOUNT, .off = SPLIT(train), .r = {1, INT32_MAX, 0, 0},
     .flags = KF_REQUIRED | KF_LAST | KF_ALL, .why = " (pixels per class, or a fraction)",
     .omit = omit_with_masks},
    {.key = "val", .type = K_AMOUNT, .off = SPLIT(val), .r = {0, INT32_MAX, 0, 0},
     .omit = omit_with_masks},
    {.key = "stratified", .type = K_BOOL, .off = SPLIT(stratified), .dflt = "true",
     .omit = omit_unstratifiable},
    {.key = "spatial_blocks", .type = K_INT, .off = SPLIT(spatial_blocks), .r = RANGE_NONNEG,
     .omit = omit_unstratifiable},
    {.key = "seed", .type = K_I64, .off = SPLIT(seed), .r = RANGE_NONNEG,
     .omit = omit_seed_unless_given},
    {.key = "masks", .type = K_PATH, .off = SPLIT(masks), .flags = KF_SET, .after = ""},
};
SECTION(split, -1, NULL);

#define SGD BIT(HSI_SOLVER_SGD)
#define ADAMS (BIT(HSI_SOLVER_ADAM) | BIT(HSI_SOLVER_ADAMW))
static const key_def solver_keys[] = {   /* into hsi_experiment: lr is the schedule's base */
    {.key = "type", .type = K_ENUM, .off = EXP(solver.type), .e = &E_SOLVER, .flags = KF_REQUIRED,
     .why = " (sgd, rmsprop, adam, adamw, adagrad or adadelta)"},
    {.key = "lr", .type = K_DOUBLE, .off = EXP(schedule.base_lr), .r = RANGE_POS,
     .flags = KF_REQUIRED | KF_F32, .why = " (the base learning rate)"},
    {.key = "weight_decay", .type = K_FLOAT, .off = EXP(solver.weight_decay), .r = RANGE_NONNEG},
    {.key = "momentum", .type = K_FLOAT, .off = EXP(solver.momentum), .r = RANGE_UNIT_HALF_OPEN,
     .only = SGD},
    {.key = "nesterov", .type = K_BOOL, .off = EXP(solver.nesterov), .only = SGD},
    {.key = "momentum_style", .type = K_ENUM, .off = EXP(solver.momentum_style), .e = &E_STYLE,
     .only = SGD},
    {.key = "rho", .type = K_FLOAT, .off = EXP(solver.rho), .r = RANGE_UNIT_HALF_OPEN,
     .only = BIT(HSI_SOLVER_RMSPROP) | BIT(HSI_SOLVER_ADADELTA)},
    {.key = "eps", .type = K_FLOAT, .off = EXP(solver.eps), .r = RANGE_POS,
     .only = BIT(HSI_SOLVER_RMSPROP) | ADAMS | BIT(HSI_SOLVER_ADAGRAD) | BIT(HSI_SOLVER_ADADELTA),
     .after = "betas"},
    {.key = "betas", .type = K_CODE, .only = ADAMS, .put = put_betas},
    {.key = "lr_decay", .type = K_FLOAT, .off = EXP(solver.lr_decay), .r = RANGE_NONNEG,
     .only = BIT(HSI_SOLVER_ADAGRAD)},
    {.key = "initial_accumulator_value", .type = K_FLOAT,
     .off = EXP(solver.initial_accumulator_value), .r = RANGE_NONNEG,
     .only = BIT(HSI_SOLVER_ADAGRAD)},
};
SECTION(solver, 0, NULL);

#define SCHED(f) offsetof(hsi_schedule, f)
#define PLATEAU BIT(HSI_LR_PLATEAU)
static const key_def schedule_keys[] = {
    {.key = "policy", .type = K_ENUM, .off = SCHED(policy), .e = &E_POLICY},
    {.key = "gamma", .type = K_DOUBLE, .off = SCHED(gamma), .r = RANGE_POS,
     .only = BIT(HSI_LR_STEP) | BIT(HSI_LR_MULTISTEP) | BIT(HSI_LR_EXP)},
    {.key = "stepsize", .type = K_I64, .off = SCHED(stepsize), .r = RANGE_ONE_UP,
     .only = BIT(HSI_LR_STEP)},
    {.key = "steps", .type = K_CODE, .only = BIT(HSI_LR_MULTISTEP), .put = put_steps},
    {.key = "power", .type = K_DOUBLE, .off = SCHED(power), .r = RANGE_POS,
     .only = BIT(HSI_LR_POLY)},
    {.key = "max_iter", .type = K_I64, .off = SCHED(max_iter), .r = RANGE_ONE_UP, .flags = KF_SET,
     .only = BIT(HSI_LR_POLY) | BIT(HSI_LR_COSINE), .after = "min_lr"},
    {.key = "min_lr", .type = K_DOUBLE, .off = SCHED(min_lr), .r = RANGE_NONNEG,
     .only = BIT(HSI_LR_COSINE) | PLATEAU},
    {.key = "warmup", .type = K_I64, .off = SCHED(warmup), .r = RANGE_NONNEG},
    {.key = "warmup_start", .type = K_DOUBLE, .off = SCHED(warmup_start), .r = RANGE_UNIT},
    {.key = "metric", .type = K_ENUM, .off = SCHED(metric), .e = &E_METRIC, .only = PLATEAU},
    {.key = "factor", .type = K_DOUBLE, .off = SCHED(factor), .r = {0, 1, 1, 1}, .only = PLATEAU},
    {.key = "patience", .type = K_INT, .off = SCHED(patience), .r = RANGE_NONNEG, .only = PLATEAU},
    {.key = "threshold", .type = K_DOUBLE, .off = SCHED(threshold), .r = RANGE_NONNEG,
     .only = PLATEAU},
    {.key = "threshold_mode", .type = K_ENUM, .off = SCHED(threshold_mode),
     .e = &E_THRESHOLD_MODE, .only = PLATEAU},
    {.key = "cooldown", .type = K_INT, .off = SCHED(cooldown), .r = RANGE_NONNEG, .only = PLATEAU},
    {.key = "eps", .type = K_DOUBLE, .off = SCHED(eps), .r = RANGE_POS, .only = PLATEAU},
};
SECTION(schedule, 0, NULL);

#define TRAIN(f) offsetof(hsi_exp_train, f)
static const key_def early_stopping_keys[] = {
    {.key = "patience", .type = K_INT, .off = TRAIN(patience), .r = RANGE_ONE_UP,
     .flags = KF_REQUIRED | KF_LAST},
    {.key = "metric", .type = K_ENUM, .off = TRAIN(stop_metric), .e = &E_METRIC},
};
SECTION(early_stopping, -1, NULL);
static const key_def train_keys[] = {
    {.key = "batch", .type = K_INT, .off = TRAIN(batch), .r = RANGE_ONE_UP, .flags = KF_REQUIRED,
     .why = " (samples per step)"},
    {.key = "epochs", .type = K_INT, .off = TRAIN(epochs), .r = RANGE_ONE_UP, .flags = KF_SET},
    {.key = "iterations", .type = K_I64, .off = TRAIN(iterations), .r = RANGE_ONE_UP,
     .flags = KF_SET},
    {.key = "val_every", .type = K_INT, .off = TRAIN(val_every), .r = RANGE_ONE_UP},
    {.key = "select", .type = K_ENUM, .off = TRAIN(select), .e = &E_SELECT},
    {.key = "early_stopping", .type = K_CODE, .sub = &early_stopping, .put = put_early_stopping},
    {.key = "threads", .type = K_INT, .off = TRAIN(threads), .r = {0, HSI_THREADS_MAX, 0, 0}},
    {.key = "bn_sync", .type = K_BOOL, .off = TRAIN(bn_sync), .dflt = "true", .omit = omit_bn_sync_default},
};
SECTION(train, -1, NULL);

#define PHASE(f) offsetof(hsi_exp_phase, f)
static const key_def phase_keys[] = {
    {.key = "name", .type = K_TEXT, .off = PHASE(name)},
    {.key = "domains", .type = K_CODE, .put = put_phase_domains},
    {.key = "epochs", .type = K_INT, .off = PHASE(epochs), .r = RANGE_ONE_UP, .flags = KF_SET},
    {.key = "iterations", .type = K_I64, .off = PHASE(iterations), .r = RANGE_ONE_UP,
     .flags = KF_SET},
    {.key = "schedule", .type = K_MAP, .off = PHASE(schedule), .sub = &schedule, .after = "lr"},
    {.key = "lr", .type = K_DOUBLE, .off = PHASE(schedule.base_lr), .r = RANGE_POS, .flags = KF_F32},
};
SECTION(phase, -1, NULL);

static const key_def init_keys[] = {
    {.key = "checkpoint", .type = K_PATH, .off = offsetof(hsi_exp_init, checkpoint),
     .flags = KF_REQUIRED, .why = " (a .safetensors file)"},
    {.key = "load", .type = K_TEXTS, .off = offsetof(hsi_exp_init, load),
     .count = offsetof(hsi_exp_init, n_load)},
    {.key = "freeze", .type = K_TEXTS, .off = offsetof(hsi_exp_init, freeze),
     .count = offsetof(hsi_exp_init, n_freeze)},
};
SECTION(init, -1, NULL);

static const key_def runs_keys[] = {
    {.key = "count", .type = K_INT, .off = offsetof(hsi_exp_runs, count), .r = RANGE_ONE_UP,
     .dflt = "1"},
    {.key = "seed", .type = K_I64, .off = offsetof(hsi_exp_runs, seed), .r = RANGE_NONNEG,
     .dflt = "1", .omit = omit_with_seeds},
    {.key = "seeds", .type = K_CODE, .put = put_seeds},
};
SECTION(runs, -1, NULL);

static const key_def outputs_keys[] = {
    {.key = "dir", .type = K_TEXT, .off = offsetof(hsi_exp_outputs, dir)},
    {.key = "maps", .type = K_BOOL, .off = offsetof(hsi_exp_outputs, maps), .dflt = "true"},
    {.key = "curves", .type = K_BOOL, .off = offsetof(hsi_exp_outputs, curves), .dflt = "true"},
    {.key = "checkpoints", .type = K_ENUM, .off = offsetof(hsi_exp_outputs, checkpoints),
     .e = &E_KEEP},
};
SECTION(outputs, -1, NULL);

static const key_def top_keys[] = {   /* into hsi_experiment */
    {.key = "name", .type = K_TEXT, .off = EXP(name)},
    {.key = "description", .type = K_TEXT, .off = EXP(description), .flags = KF_SET},
    {.key = "net", .type = K_PATH, .off = EXP(net), .flags = KF_REQUIRED,
     .why = " (the netdef file, e.g. ../netdefs/ssrn.hsn)"},
    {.key = "defines", .type = K_DEFINES, .off = EXP(defines), .count = EXP(n_defines)},
    {.key = "backend", .type = K_ENUM, .off = EXP(backend), .e = &E_BACKEND},
    {.key = "domains", .type = K_CODE, .sub = &domain, .flags = KF_REQUIRED | KF_LIST,
     .why = " (a list with one entry per dataset)", .put = put_domains},
    {.key = "preprocess", .type = K_MAP, .sub = &preprocess},
    {.key = "split", .type = K_MAP, .off = EXP(split), .sub = &split, .flags = KF_REQUIRED,
     .why = " (at least split.train)"},
    {.key = "augment", .type = K_ENUM, .off = EXP(augment), .e = &E_AUGMENT},
    {.key = "solver", .type = K_MAP, .sub = &solver, .flags = KF_REQUIRED, .why = " (type and lr)"},
    {.key = "schedule", .type = K_MAP, .off = EXP(schedule), .sub = &schedule},
    {.key = "train", .type = K_MAP, .off = EXP(train), .sub = &train, .flags = KF_REQUIRED,
     .why = " (batch, and epochs or iterations)"},
    {.key = "phases", .type = K_CODE, .sub = &phase, .flags = KF_LIST, .put = put_phases},
    {.key = "shared_lr_scale", .type = K_CODE, .put = put_shared_lr_scale},
    {.key = "init", .type = K_CODE, .off = EXP(init), .sub = &init, .put = put_init},
    {.key = "sweep", .type = K_CODE, .put = put_sweep},
    {.key = "runs", .type = K_CODE, .off = EXP(runs), .sub = &runs, .put = put_runs},
    {.key = "outputs", .type = K_MAP, .off = EXP(outputs), .sub = &outputs},
};
SECTION(top, -1, " (net parameters go under 'defines')");

/* ---- the generic reader ---------------------------------------------------------------------- */

static const key_def *key_of(const section *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->k[i].key, key) == 0) return &s->k[i];
    return NULL;
}

/* The places below section `at` (at path) where key is read, except in section `skip`: up to 3,
 * "solver.lr, phases.N.lr" into b (N: a list's index). */
static void key_elsewhere(const section *at, const char *path, const char *key,
                          const section *skip, cfg_buf *b, int *found)
{
    for (int i = 0; i < at->n && *found < 3; i++) {
        const key_def *k = &at->k[i];
        char sub[160];
        snprintf(sub, sizeof sub, "%s%s%s%s", path, *path ? "." : "", k->key,
                 k->flags & KF_LIST ? ".N" : "");
        if (at != skip && strcmp(k->key, key) == 0)
            cfg_buf_printf(b, "%s%s", (*found)++ ? ", " : "", sub);
        if (k->sub) key_elsewhere(k->sub, sub, key, skip, b, found);
    }
}

/* Unknown keys: "unknown key 'solver.lrr'; did you mean 'solver.lr'?", or the keys known there
 * and, for a key of another section ('lr' under train), where it is read. */
static int keys_check(V *v, const cfg_node *map, const char *prefix, const section *s)
{
    const char *names[32];
    int n = 0;
    for (int j = 0; j < s->n && n < COUNT(names); j++) names[n++] = s->k[j].key;
    for (int i = 0; i < map->n; i++) {
        if (key_of(s, map->keys[i])) continue;
        const char *sug = cfg_suggest(map->keys[i], names, n);
        if (sug)
            return cfg_error(v->c, &map->key_marks[i], "unknown key '%s'; did you mean '%s'?",
                             join(v, prefix, map->keys[i]), join(v, prefix, sug));
        cfg_buf b = {0}, w = {0};
        for (int j = 0; j < n; j++) cfg_buf_printf(&b, "%s%s", j ? ", " : "", names[j]);
        int found = 0;
        key_elsewhere(&top, "", map->keys[i], s, &w, &found);
        int rc = cfg_error(v->c, &map->key_marks[i], "unknown key '%s' (known here: %s)%s%s%s%s",
                           join(v, prefix, map->keys[i]), b.s ? b.s : "", s->hint ? s->hint : "",
                           found ? " (it is read as " : "", found ? w.s : "", found ? ")" : "");
        free(b.s);
        free(w.s);
        return rc;
    }
    return 0;
}

/* A map of s's keys at path: kind and unknown keys checked. */
static int open_map(V *v, const cfg_node *n, const char *path, const section *s)
{
    return need_kind(v, n, path, CFG_MAP) || keys_check(v, n, path, s) ? -1 : 0;
}

/* The node of key k in map, or NULL: absent (then a required key is an error: *rc = -1). */
static const cfg_node *key_node(V *v, const cfg_node *map, const char *prefix, const key_def *k,
                                int *rc)
{
    const cfg_node *n = cfg_get(map, k->key);
    *rc = !n && (k->flags & (KF_REQUIRED | KF_LAST)) == KF_REQUIRED ?
          missing(v, map, prefix, k->key, k->why) : 0;
    return n;
}

/* Key k (a plain value) of map into base + k->off: 1 when given and read, 0 when absent (its
 * default, if any, applied), -1 after an error. */
static int read_key(V *v, const cfg_node *map, const char *prefix, const key_def *k, void *base)
{
    int rc;
    const cfg_node *n = key_node(v, map, prefix, k, &rc);
    cfg_node dflt = {.kind = CFG_SCALAR, .str = (char *)k->dflt};
    if (rc < 0) return -1;
    if (!n && !k->dflt) return 0;
    int given = n != NULL;
    if (!n) {
        if (map) dflt.mark = map->mark;
        n = &dflt;
    }
    const char *path = join(v, prefix, k->key);
    void *f = (char *)base + k->off;
    range r = k->r;
    double d;
    switch (k->type) {
    case K_INT:
        if (isinf(r.hi)) r.hi = INT32_MAX;
        /* fallthrough */
    case K_I64:
        if (node_number(v, n, path, r, 1, &d) < 0) return -1;
        if (k->type == K_INT) *(int *)f = (int)d;
        else *(int64_t *)f = (int64_t)d;
        break;
    case K_FLOAT:
    case K_DOUBLE:
        if (node_number(v, n, path, r, 0, &d) < 0) return -1;
        /* in range as a double is not enough where float32 arithmetic gets the value: 1e-50
         * became 0 (a rate that never trains) and 1e300 Inf (a NaN step, "diverged") */
        if ((k->type == K_FLOAT || (k->flags & KF_F32)) &&
            (!isfinite((float)d) || (d != 0 && (float)d == 0)))
            return cfg_error(v->c, &n->mark, "key '%s': %s is outside the range of a 32-bit "
                             "float (about 1e-45 to 3.4e38 in magnitude), which the solver "
                             "computes in", path, got(v, n));
        if (k->type == K_FLOAT) *(float *)f = (float)d;
        else *(double *)f = d;
        break;
    case K_BOOL:
        if (node_bool(v, n, path, (int *)f) < 0) return -1;
        break;
    case K_ENUM: {
        int e = 0;
        if (node_enum(v, n, path, k->e->s, k->e->n, &e) < 0) return -1;
        *(int *)f = e;   /* an enum field: int-sized, values 0..n-1 */
        break;
    }
    case K_TEXT:
    case K_PATH:
        if (node_string(v, n, path, (char **)f) < 0) return -1;
        if (k->type == K_PATH && (*(char **)f)[0] != '/' &&
            !(*(char **)f = path_join(v, v->dir, *(char **)f)))
            return -1;
        break;
    case K_TEXTS:
        if (node_strings(v, n, path, (char ***)f, (int *)((char *)base + k->count)) < 0) return -1;
        break;
    case K_DEFINES:
        if (node_defines(v, n, path, (hsi_define **)f, (int *)((char *)base + k->count)) < 0)
            return -1;
        break;
    case K_AMOUNT:
        if (node_amount(v, n, path, (int)r.lo, (k->flags & KF_ALL) != 0, (hsi_amount *)f) < 0)
            return -1;
        break;
    case K_MAP:
    case K_CODE:
        return 0;   /* the section's code reads these */
    }
    return given;
}

/* Every plain value of s in map, in table order. */
static int read_keys(V *v, const cfg_node *map, const char *prefix, const section *s, void *base)
{
    for (int i = 0; i < s->n; i++)
        if (read_key(v, map, prefix, &s->k[i], base) < 0) return -1;
    for (int i = 0; i < s->n; i++)
        if ((s->k[i].flags & KF_LAST) && !cfg_get(map, s->k[i].key))
            return missing(v, map, prefix, s->k[i].key, s->k[i].why);
    return 0;
}

/* read_key by name: for the keys the code reads in an order of its own (those that others
 * depend on, and so that of two mistakes the same one is reported first as before the tables). */
static int get(V *v, const cfg_node *map, const char *prefix, const section *s, const char *key,
               void *base)
{
    return read_key(v, map, prefix, key_of(s, key), base);
}

/* The order the resolved file writes s's keys in: table order, a key with `after` moved behind
 * that key (to the front for ""). */
static int write_order(const section *s, int *order)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        if (s->k[i].after && !s->k[i].after[0]) order[n++] = i;
    for (int i = 0; i < s->n; i++) {
        if (s->k[i].after) continue;
        order[n++] = i;
        for (int j = 0; j < s->n; j++)
            if (s->k[j].after && strcmp(s->k[j].after, s->k[i].key) == 0) order[n++] = j;
    }
    return n;
}

/* The keys that apply to selector value sel ("momentum, nesterov, momentum_style"), in writing
 * order: own = 1 those of sel alone, own = 0 those of every value (the selector left out). */
static void applying_keys(cfg_buf *b, const section *s, int sel, int own)
{
    int order[32], n = write_order(s, order), first = 1;
    for (int i = 0; i < n; i++) {
        const key_def *k = &s->k[order[i]];
        if (order[i] == s->selector || (own ? !(k->only & BIT(sel)) : k->only != 0)) continue;
        cfg_buf_printf(b, "%s%s", first ? "" : ", ", k->key);
        first = 0;
    }
}

/* The first key of map that does not apply to selector value sel, or -1. */
static int not_applying(const cfg_node *map, const section *s, int sel)
{
    for (int i = 0; i < map->n; i++) {
        const key_def *k = key_of(s, map->keys[i]);
        if (k && k->only && !(k->only & BIT(sel))) return i;
    }
    return -1;
}

/* ---- sweep ----------------------------------------------------------------------------------- */

/* Two values of a sweep key (flow text) that are the same: the same text, or plain numbers
 * of equal value ("0.001" and "1e-3"). */
/* Two sweep values are the same when their texts are, or both are finite numbers of one value
 * (0.001 and 1e-3): values sort by that (numbers first, by value; the rest by text), so that a
 * list is checked in n log n: pairwise, a list of 20000 values took 25 s to load, and every
 * point of the sweep loads it again. */
typedef struct sweep_val { int text; double d; const char *s; int i; } sweep_val;

static int sweep_val_cmp(const void *pa, const void *pb)
{
    const sweep_val *a = pa, *b = pb;
    if (a->text != b->text) return a->text - b->text;
    int c = a->text ? strcmp(a->s, b->s) : (a->d > b->d) - (a->d < b->d);
    return c ? c : a->i - b->i;
}

/* The first value (by index) that repeats an earlier one: 1 with *j and the earlier *m, else 0
 * (or -1 out of memory). */
static int sweep_repeat(char *const *values, int n, int *j, int *m)
{
    sweep_val *k = malloc(sizeof *k * (size_t)n);
    if (!k) return -1;
    for (int i = 0; i < n; i++) {
        char *e;
        double d = strtod(values[i], &e);
        k[i] = (sweep_val){e == values[i] || *e || !isfinite(d), d, values[i], i};
    }
    qsort(k, (size_t)n, sizeof *k, sweep_val_cmp);
    *j = INT_MAX;
    for (int a = 0, b; a < n; a = b) {   /* runs of equal values, each by index */
        for (b = a + 1; b < n && k[b].text == k[a].text &&
                        (k[a].text ? !strcmp(k[a].s, k[b].s) : k[a].d == k[b].d); b++) {}
        if (b - a > 1 && k[a + 1].i < *j) *j = k[a + 1].i, *m = k[a].i;
    }
    free(k);
    return *j < INT_MAX;
}

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
    /* the count first: a sweep past the bound is refused before any list is read */
    for (int i = 0; i < s->n && s->kids[i]->kind == CFG_SEQ; i++)
        if ((points *= s->kids[i]->n ? s->kids[i]->n : 1) > 100000)
            return cfg_error(v->c, &s->kids[i]->mark, "key 'sweep': more than 100000 points");
    points = 1;
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
        /* the same value twice (0.001 and 1e-3 too): two folders training the same, and two
         * points at one place of the plot */
        int j, m, rep = sweep_repeat(k->values, l->n, &j, &m);
        if (rep < 0) return -1;
        if (rep)
            return cfg_error(v->c, &l->kids[j]->mark, "key '%s': value %d (%s) is value %d (%s) "
                             "again: both points would train the same; remove one", path, j,
                             k->values[j], m, k->values[m]);
        points *= l->n;
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
        cfg_error(v->c, &n->mark, "key '%s': no dataset '%.200s' in the registry; did you mean '%s'?",
                  path, name, s);
    else
        cfg_error(v->c, &n->mark, "key '%s': no dataset '%.200s' in the registry (known: %s)", path,
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
        return cfg_error(v->c, m, "key '%s': expected a raw label id (an integer >= 1), got \"%.60s\"",
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
    if (open_map(v, b, path, &bands)) return -1;
    int total = ds && ds->bands > 0 ? ds->bands : INT32_MAX;   /* bands is optional */
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
    if (read_keys(v, b, path, &bands, d)) return -1;
    if (d->resample > total)
        return cfg_error(v->c, &cfg_get(b, "resample")->mark, "key '%s.resample': %d is more "
                         "than the %d bands selected", path, d->resample, total);
    return 0;
}

static int build_region(V *v, const cfg_node *r, const char *path, const hsi_dataset *ds,
                        hsi_exp_domain *d)
{
    if (open_map(v, r, path, &region) || read_keys(v, r, path, &region, d)) return -1;
    const cfg_node *rect = cfg_get(r, "rect");
    if ((rect != NULL) == (d->region_half != HSI_HALF_NONE))
        return cfg_error(v->c, &r->mark, "key '%s': give exactly one of 'rect' and 'half' "
                         "(left|right|top|bottom)", path);
    if (!rect) return 0;
    const char *rp = join(v, path, "rect");
    if (rect->kind != CFG_SEQ || rect->n != 4)
        return cfg_error(v->c, &rect->mark, "key '%s': expected [row, col, height, width], got %s",
                         rp, got(v, rect));
    /* rows and columns are ints: each value, and each corner (row + height, col + width,
     * summed in 64 bits), stays within int32 so no later sum or cast can wrap */
    static const range r_start = {0, INT32_MAX, 0, 0}, r_size = {1, INT32_MAX, 0, 0};
    for (int i = 0; i < 4; i++) {
        double x;
        if (node_number(v, rect->kids[i], join_index(v, rp, i), i < 2 ? r_start : r_size, 1,
                        &x) < 0)
            return -1;
        d->region_rect[i] = (int)x;
    }
    const int64_t bottom = (int64_t)d->region_rect[0] + d->region_rect[2],
                  right = (int64_t)d->region_rect[1] + d->region_rect[3];
    if (bottom > INT32_MAX || right > INT32_MAX)
        return cfg_error(v->c, &rect->mark, "key '%s': the rectangle ends at row %lld, column "
                         "%lld, past any scene", rp, (long long)bottom, (long long)right);
    if (ds && ds->h && (bottom > ds->h || right > ds->w))
        return cfg_error(v->c, &rect->mark, "key '%s': the rectangle leaves the %d x %d scene",
                         rp, ds->h, ds->w);
    return 0;
}

static int build_domain(V *v, const cfg_node *n, const char *path, hsi_exp_domain *d)
{
    if (open_map(v, n, path, &domain) || get(v, n, path, &domain, "dataset", d) < 0) return -1;
    const hsi_dataset *ds = NULL;
    if (v->o->registry) {
        ds = find_dataset(v, cfg_get(n, "dataset"), join(v, path, "dataset"), d->dataset);
        if (!ds) return -1;
    }
    if (get(v, n, path, &domain, "name", d) < 0) return -1;
    if (!d->name) d->name = d->dataset;
    if (!ident_ok(d->name))
        return cfg_error(v->c, &(cfg_get(n, "name") ? cfg_get(n, "name") : cfg_get(n, "dataset"))->mark,
                         "key '%s.name': '%s' is not a name (letters, digits, _; not starting "
                         "with a digit)", path, d->name);
    if (strlen(d->name) > 63)   /* it names the net's parameters and the emitted C's symbols */
        return cfg_error(v->c, &(cfg_get(n, "name") ? cfg_get(n, "name") : cfg_get(n, "dataset"))->mark,
                         "key '%s.name': '%.40s...' has %zu characters; a domain name has at most "
                         "63, as a netdef's identifiers", path, d->name, strlen(d->name));
    const cfg_node *l = cfg_get(n, "labels");
    if (l && build_labels(v, l, join(v, path, "labels"), ds, d)) return -1;
    const cfg_node *b = cfg_get(n, "bands");
    if (b && build_bands(v, b, join(v, path, "bands"), ds, d)) return -1;
    const cfg_node *r = cfg_get(n, "region");
    if (r && build_region(v, r, join(v, path, "region"), ds, d)) return -1;
    if (get(v, n, path, &domain, "defines", d) < 0) return -1;
    for (int i = 0; i < d->n_defines; i++)
        if (strcmp(d->defines[i].key, "patch") == 0)
            return cfg_error(v->c, &cfg_get(n, "defines")->key_marks[i], "key '%s.defines.patch': "
                             "the patch size is one for every domain: set preprocess.patch", path);
    return read_keys(v, n, path, &domain, d);
}

static int build_domains(V *v, const cfg_node *root, hsi_experiment *x)
{
    int rc;
    const cfg_node *l = key_node(v, root, "", key_of(&top, "domains"), &rc);
    if (!l) return rc;
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
                return cfg_error(v->c, &l->kids[i]->mark, "key 'domains.%d': the name '%.200s' is "
                                 "already used by domains.%d; give each a distinct 'name'",
                                 i, x->domains[i].name, j);
    }
    return 0;
}

/* ---- preprocess, split ----------------------------------------------------------------------- */

/* The node of map section key `key` of the top level, opened; NULL when absent (*rc: 0, or -1
 * for a missing required section or an error). */
static const cfg_node *top_map(V *v, const cfg_node *root, const char *key, int *rc)
{
    const key_def *k = key_of(&top, key);
    const cfg_node *n = key_node(v, root, "", k, rc);
    if (n && open_map(v, n, key, k->sub)) *rc = -1;
    return *rc ? NULL : n;
}

static int build_preprocess(V *v, const cfg_node *root, hsi_experiment *x)
{
    int rc;
    const cfg_node *p = top_map(v, root, "preprocess", &rc);
    if (!p) return rc;
    if (read_keys(v, p, "preprocess", &preprocess, x)) return -1;
    if (x->patch && x->patch % 2 == 0)
        return cfg_error(v->c, &cfg_get(p, "patch")->mark, "key 'preprocess.patch': expected an "
                         "odd patch size (the labelled pixel is the centre), got %d", x->patch);
    const cfg_node *pn = cfg_get(p, "pca");
    hsi_exp_pca *pc = &x->pca;
    if (!pn) return 0;
    if (open_map(v, pn, "preprocess.pca", &pca) || read_keys(v, pn, "preprocess.pca", &pca, pc))
        return -1;
    if (pc->components && pc->variance > 0)
        return cfg_error(v->c, &cfg_get(pn, "variance")->mark, "key 'preprocess.pca.variance': "
                         "give either components or variance, not both");
    if (!pc->components && pc->variance == 0)
        return missing(v, pn, "preprocess.pca", "components", " (or preprocess.pca.variance)");
    if (pc->variance > 0 && (pc->fit == HSI_EXP_PCA_FIT_TRAIN || x->standardize == HSI_EXP_STD_TRAIN))
        return cfg_error(v->c, &cfg_get(pn, "variance")->mark, "key 'preprocess.pca.variance': "
                         "with %s the component count would change with each run's split, but "
                         "the net is compiled for one band count; give preprocess.pca.components",
                         pc->fit == HSI_EXP_PCA_FIT_TRAIN ? "fit: train" : "standardize: train");
    return 0;
}

static int build_split(V *v, const cfg_node *root, hsi_experiment *x)
{
    hsi_exp_split *s = &x->split;
    int rc;
    const cfg_node *n = top_map(v, root, "split", &rc);
    if (!n) return rc;
    if (get(v, n, "split", &split, "masks", s) < 0) return -1;
    if (s->masks) {
        for (int i = 0; i < n->n; i++)
            if (strcmp(n->keys[i], "masks") && strcmp(n->keys[i], "seed"))
                return cfg_error(v->c, &n->key_marks[i], "key 'split.%s': a saved split "
                                 "('split.masks') fixes the split; remove this key", n->keys[i]);
        if (get(v, n, "split", &split, "stratified", s) < 0) return -1;   /* its default */
        return (s->has_seed = get(v, n, "split", &split, "seed", s)) < 0 ? -1 : 0;
    }
    if (read_keys(v, n, "split", &split, s)) return -1;
    s->has_seed = cfg_get(n, "seed") != NULL;
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
    int rc;
    const cfg_node *n = top_map(v, root, "solver", &rc);
    if (!n) return rc;
    if (get(v, n, "solver", &solver, "type", x) < 0) return -1;
    hsi_solver_type t = x->solver.type;
    x->solver = hsi_solver_defaults(t);
    int bad = not_applying(n, &solver, (int)t);
    if (bad >= 0) {
        cfg_buf all = {0}, own = {0};
        applying_keys(&all, &solver, (int)t, 0);
        applying_keys(&own, &solver, (int)t, 1);
        cfg_error(v->c, &n->key_marks[bad], "key 'solver.%s' does not apply to solver type '%s' "
                  "(it takes %s, %s)", n->keys[bad], hsi_solver_type_names[t],
                  all.s ? all.s : "", own.s ? own.s : "");
        free(all.s);
        free(own.s);
        return -1;
    }
    if (read_keys(v, n, "solver", &solver, x)) return -1;
    hsi_solver_opts *s = &x->solver;
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
    if (open_map(v, n, path, &schedule) || get(v, n, path, &schedule, "policy", s) < 0) return -1;
    int p = (int)s->policy, bad = not_applying(n, &schedule, p);
    if (bad >= 0) {
        cfg_buf own = {0};
        applying_keys(&own, &schedule, p, 1);
        cfg_error(v->c, &n->key_marks[bad], "key '%s.%s' does not apply to policy '%s'%s%s%s",
                  path, n->keys[bad], hsi_lr_policy_names[p], own.s ? " (it takes " : "",
                  own.s ? own.s : "", own.s ? ")" : "");
        free(own.s);
        return -1;
    }
    if (read_keys(v, n, path, &schedule, s)) return -1;
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

static int has_val(const hsi_experiment *x)
{
    return x->split.masks || x->split.val.is_fraction || x->split.val.count;
}

static int build_train(V *v, const cfg_node *root, hsi_experiment *x)
{
    hsi_exp_train *t = &x->train;
    int rc;
    const cfg_node *n = top_map(v, root, "train", &rc);
    if (!n) return rc;
    if (read_keys(v, n, "train", &train, t)) return -1;
    for (int i = 0; i < n->n; i++)   /* where train.batch is, for the trainer's later checks */
        if (!strcmp(n->keys[i], "batch")) t->batch_where = mark_where(v, &n->kids[i]->mark);
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
    if (!cfg_get(n, "select")) t->select = has_val(x) ? HSI_SELECT_VAL_LOSS : HSI_SELECT_LAST;
    t->stop_metric = HSI_SELECT_VAL_LOSS;
    const cfg_node *es = cfg_get(n, "early_stopping");
    if (es) {
        if (open_map(v, es, "train.early_stopping", &early_stopping) ||
            read_keys(v, es, "train.early_stopping", &early_stopping, t))
            return -1;
        if (!has_val(x))
            return cfg_error(v->c, &es->mark, "key 'train.early_stopping': needs validation "
                             "pixels, but split.val is 0");
    }
    if (t->select != HSI_SELECT_LAST && !has_val(x))
        return cfg_error(v->c, &cfg_get(n, "select")->mark, "key 'train.select': %s needs "
                         "validation pixels, but split.val is 0 (use last, or set split.val)",
                         hsi_select_names[t->select]);
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

static int check_schedule(V *v, const cfg_node *at, const char *path, hsi_schedule *s,
                          const hsi_experiment *x)
{
    if ((s->policy == HSI_LR_COSINE || s->policy == HSI_LR_PLATEAU) && s->min_lr > s->base_lr)
        return cfg_error(v->c, &at->mark, "key '%s.min_lr': %g is above the base lr %g", path,
                         s->min_lr, s->base_lr);
    if (s->policy == HSI_LR_PLATEAU && !has_val(x)) {
        const cfg_node *pn = at->kind == CFG_MAP ? cfg_get(at, "policy") : NULL;
        return cfg_error(v->c, pn ? &pn->mark : &at->mark, "key '%s.policy': plateau watches the "
                         "validation %s, but split.val is 0 (set split.val, or use another "
                         "policy)", path, s->metric == HSI_PLATEAU_VAL_OA ? "OA" : "loss");
    }
    return 0;
}

static int build_phase(V *v, const cfg_node *n, const char *path, hsi_experiment *x,
                       hsi_exp_phase *ph, int index)
{
    ph->schedule = x->schedule;   /* `lr` and `schedule` are read over the top-level schedule */
    if (open_map(v, n, path, &phase) || get(v, n, path, &phase, "name", ph) < 0) return -1;
    if (!ph->name) {
        char buf[24];
        snprintf(buf, sizeof buf, "phase%d", index);
        ph->name = cfg_strdup(v->a, buf);
    }
    char **names = NULL;
    int nn = 0;
    const cfg_node *dl = cfg_get(n, "domains");
    if (dl && node_strings(v, dl, join(v, path, "domains"), &names, &nn) < 0) return -1;
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
    if (get(v, n, path, &phase, "epochs", ph) < 0 || get(v, n, path, &phase, "iterations", ph) < 0)
        return -1;
    if (!ph->epochs == !ph->iterations)
        return cfg_error(v->c, &n->mark, "key '%s': give exactly one of 'epochs' and 'iterations'",
                         path);
    if (read_keys(v, n, path, &phase, ph)) return -1;
    const cfg_node *sn = cfg_get(n, "schedule");
    const char *sp = join(v, path, "schedule");
    if (sn && parse_schedule(v, sn, sp, &ph->schedule)) return -1;
    fit_schedule(&ph->schedule, ph->iterations);
    return check_schedule(v, sn ? sn : n, sp, &ph->schedule, x);
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
    static char *const star[] = {"*"};
    const cfg_node *n = cfg_get(root, "init");
    if (!n) return 0;
    if (n->kind == CFG_SCALAR) {
        if (strcmp(n->str, "scratch") == 0) return 0;
        return cfg_error(v->c, &n->mark, "key 'init': expected scratch or {checkpoint: FILE, "
                         "load: [patterns], freeze: [patterns]}, got %s", got(v, n));
    }
    if (open_map(v, n, "init", &init) || read_keys(v, n, "init", &init, &x->init)) return -1;
    if (!x->init.load) {
        x->init.load = (char **)star;
        x->init.n_load = 1;
    }
    return 0;
}

static int build_runs(V *v, const cfg_node *root, hsi_experiment *x)
{
    hsi_exp_runs *r = &x->runs;
    const cfg_node *n = cfg_get(root, "runs");
    if (n && n->kind == CFG_SCALAR) {   /* runs: N */
        double c;
        /* as runs.count (an int): 3000000000 became -2147483648 runs */
        if (node_number(v, n, "runs", (range){1, INT32_MAX, 0, 0}, 1, &c) < 0) return -1;
        r->count = (int)c;
        r->seed = 1;
        return 0;
    }
    if ((n && open_map(v, n, "runs", &runs)) || read_keys(v, n, "runs", &runs, r)) return -1;
    const cfg_node *s = cfg_get(n, "seeds");
    if (!s) return 0;
    if (cfg_get(n, "seed"))
        return cfg_error(v->c, &s->mark, "key 'runs.seeds': give either runs.seed (base) or "
                         "runs.seeds (list), not both");
    if (s->kind != CFG_SEQ || s->n == 0)
        return cfg_error(v->c, &s->mark, "key 'runs.seeds': expected a non-empty list of "
                         "integers, got %s", got(v, s));
    if (cfg_get(n, "count") && r->count != s->n)
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
        for (int j = 0; j < i; j++)   /* a repeated seed repeats its run: a std of 0 that is none */
            if (r->seeds[j] == r->seeds[i])
                return cfg_error(v->c, &s->kids[i]->mark, "key 'runs.seeds.%d': seed %" PRIu64
                                 " is given twice (runs.seeds.%d too), so runs %d and %d would be "
                                 "the same run and mean \u00b1 std would count it twice", i,
                                 r->seeds[i], j, j, i);
    }
    return 0;
}

static int build_outputs(V *v, const cfg_node *root, hsi_experiment *x)
{
    hsi_exp_outputs *o = &x->outputs;
    const cfg_node *n = cfg_get(root, "outputs");
    if ((n && open_map(v, n, "outputs", &outputs)) || read_keys(v, n, "outputs", &outputs, o))
        return -1;
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

/* preprocess.patch sets the net's `patch`; a define saying otherwise is a conflict. Without a
 * define, preprocess.patch becomes one (one place for the compiler). */
static int patch_define(V *v, const cfg_node *root, hsi_experiment *x)
{
    const cfg_node *dn = cfg_get(cfg_get(root, "defines"), "patch");
    for (int i = 0; i < x->n_defines; i++) {
        if (strcmp(x->defines[i].key, "patch")) continue;
        char *end;
        long p = strtol(x->defines[i].value, &end, 10);
        if (*end || p < 1 || p % 2 == 0)
            return cfg_error(v->c, &dn->mark, "key 'defines.patch': expected an odd patch size, "
                             "got \"%s\"", x->defines[i].value);
        if (x->patch && x->patch != p)
            return cfg_error(v->c, &dn->mark, "key 'defines.patch': %ld disagrees with "
                             "preprocess.patch %d; give it once", p, x->patch);
        x->patch = (int)p;
    }
    if (!x->patch || dn) return 0;
    hsi_define *d = cfg_alloc(v->a, sizeof *d * (size_t)(x->n_defines + 1));
    char num[16];
    snprintf(num, sizeof num, "%d", x->patch);
    if (!d) return -1;
    if (x->n_defines) memcpy(d, x->defines, sizeof *d * (size_t)x->n_defines);
    d[x->n_defines].key = "patch";
    d[x->n_defines].value = cfg_strdup(v->a, num);
    x->defines = d;
    x->n_defines++;
    return 0;
}

int cfg_build(cfg_ctx *c, cfg_node *root, const char *origin, const hsi_experiment_opts *o,
              hsi_experiment *x)
{
    const char *slash = strrchr(origin, '/');
    V v = {c, c->arena, o, slash ? cfg_strndup(c->arena, origin, (size_t)(slash - origin)) : ""};
    if (!v.dir) return -1;
    x->path = cfg_strdup(v.a, origin);
    if (build_sweep(&v, root, x, o->sweep_point) || keys_check(&v, root, "", &top) ||
        get(&v, root, "", &top, "name", x) < 0 || get(&v, root, "", &top, "description", x) < 0)
        return -1;
    if (!x->name) x->name = file_stem(&v, origin);
    else if (strchr(x->name, '/') || !strcmp(x->name, ".") || !strcmp(x->name, ".."))
        /* it names the default output folder runs/<name> (and the sweep's folders) */
        return cfg_error(c, &cfg_get(root, "name")->mark, "key 'name': '%s' is not a folder name "
                         "(no '/', not '.' or '..'); outputs go to runs/<name> (use outputs.dir "
                         "for another place)", x->name);
    if (get(&v, root, "", &top, "net", x) < 0 || get(&v, root, "", &top, "defines", x) < 0 ||
        get(&v, root, "", &top, "backend", x) < 0 || build_domains(&v, root, x) ||
        build_preprocess(&v, root, x) || build_split(&v, root, x) ||
        get(&v, root, "", &top, "augment", x) < 0 || patch_define(&v, root, x))
        return -1;
    x->schedule = hsi_schedule_defaults(0);
    if (build_solver(&v, root, x)) return -1;
    const cfg_node *sn = cfg_get(root, "schedule");
    if (sn && parse_schedule(&v, sn, "schedule", &x->schedule)) return -1;
    if (check_schedule(&v, sn ? sn : root, "schedule", &x->schedule, x) || build_train(&v, root, x) ||
        build_phases(&v, root, x))
        return -1;
    const cfg_node *sl = cfg_get(root, "shared_lr_scale");
    if (sl && !(sl->kind == CFG_SCALAR && strcmp(sl->str, "1/N") == 0)) {
        double d;
        if (!scalar_number(sl, 0, &d) || d <= 0 || !isfinite((float)d) || (float)d == 0)
            return cfg_error(c, &sl->mark, "key 'shared_lr_scale': expected 1/N or a positive "
                             "number (a 32-bit float), got %s", got(&v, sl));
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

const char *hsi_experiment_batch_where(const hsi_experiment *x)
{
    return x->train.batch_where ? x->train.batch_where : x->path ? x->path : "the experiment";
}

uint64_t hsi_experiment_run_seed(const hsi_experiment *x, int r)
{
    return x->runs.seeds ? x->runs.seeds[r] : x->runs.seed + (uint64_t)r;
}

/* Walks the tables: every key once (a map met again, as a phase's schedule, is not entered). */
static void each_key(const section *s, const char *prefix, const section **seen, int *n_seen,
                     void (*fn)(const hsi_exp_key *k, void *ctx), void *ctx)
{
    static const char *const types[] = {"int", "int", "number", "number", "bool", "enum", "text",
                                        "path", "texts", "defines", "amount", "map", "code"};
    for (int i = 0; i < s->n; i++) {
        const key_def *d = &s->k[i];
        hsi_exp_key k = {.type = types[d->type], .required = (d->flags & KF_REQUIRED) != 0,
                         .names = d->e ? d->e->s : NULL, .n_names = d->e ? d->e->n : 0};
        snprintf(k.path, sizeof k.path, "%s%s%s", prefix, *prefix ? "." : "", d->key);
        int enter = d->sub != NULL;
        for (int j = 0; j < *n_seen && enter; j++) enter = seen[j] != d->sub;
        k.nested = enter;
        fn(&k, ctx);
        if (!enter) continue;
        seen[(*n_seen)++] = d->sub;
        char sub[sizeof k.path + 2];
        snprintf(sub, sizeof sub, "%s%s", k.path, d->flags & KF_LIST ? ".*" : "");
        each_key(d->sub, sub, seen, n_seen, fn, ctx);
    }
}

void hsi_experiment_each_key(void (*fn)(const hsi_exp_key *k, void *ctx), void *ctx)
{
    const section *seen[32];
    int n_seen = 0;
    each_key(&top, "", seen, &n_seen, fn, ctx);
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


static void put_amount(cfg_buf *b, int indent, const char *key, hsi_amount a)
{
    if (a.is_fraction && a.fraction == 1.0) cfg_buf_printf(b, "%*s%s: all\n", indent, "", key);
    else if (a.is_fraction) put_f(b, indent, key, a.fraction, 0);
    else put_i(b, indent, key, a.count);
}

static void put_section(cfg_buf *b, int indent, const section *s, const void *base,
                        const hsi_experiment *x, const char *item);

/* Key k of base at indent, as read_key reads it back. */
static void put_value(cfg_buf *b, int indent, const key_def *k, const void *base,
                      const hsi_experiment *x)
{
    const void *f = (const char *)base + k->off;
    int count = k->count ? *(const int *)((const char *)base + k->count) : 0;
    switch (k->type) {
    case K_INT: put_i(b, indent, k->key, *(const int *)f); break;
    case K_I64: put_i(b, indent, k->key, *(const int64_t *)f); break;
    case K_FLOAT: put_f(b, indent, k->key, *(const float *)f, 1); break;
    case K_DOUBLE: put_f(b, indent, k->key, *(const double *)f, 0); break;
    case K_BOOL: put_bool(b, indent, k->key, *(const int *)f); break;
    case K_ENUM: put_s(b, indent, k->key, k->e->s[*(const int *)f]); break;
    case K_TEXT: put_s(b, indent, k->key, *(char *const *)f); break;
    case K_PATH: put_path(b, indent, k->key, *(char *const *)f); break;
    case K_TEXTS: put_strings(b, indent, k->key, *(char **const *)f, count); break;
    case K_DEFINES: put_defines(b, indent, *(hsi_define *const *)f, count); break;
    case K_AMOUNT: put_amount(b, indent, k->key, *(const hsi_amount *)f); break;
    case K_MAP:
        put_key(b, indent, k->key);
        cfg_buf_printf(b, "\n");
        put_section(b, indent + 2, k->sub, f, x, NULL);
        break;
    case K_CODE: k->put(b, indent, f, x); break;
    }
}

/* 1 if field f of key k holds nothing (0, NULL). */
static int unset(const key_def *k, const void *f)
{
    switch (k->type) {
    case K_INT: return *(const int *)f == 0;
    case K_I64: return *(const int64_t *)f == 0;
    case K_TEXT: case K_PATH: return *(char *const *)f == NULL;
    default: return 0;
    }
}

/* The keys of s that apply, in writing order. item: a list item's "- " prefix for its first key
 * (written at indent - 2 + item). */
static void put_section(cfg_buf *b, int indent, const section *s, const void *base,
                        const hsi_experiment *x, const char *item)
{
    int order[32], n = write_order(s, order);
    int sel = s->selector >= 0 ? *(const int *)((const char *)base + s->k[s->selector].off) : 0;
    for (int i = 0; i < n; i++) {
        const key_def *k = &s->k[order[i]];
        if ((k->only && !(k->only & BIT(sel))) || (k->omit && k->omit(base)) ||
            ((k->flags & KF_SET) && unset(k, (const char *)base + k->off)))
            continue;
        if (item) {
            cfg_buf_printf(b, "%*s%s", indent - 2, "", item);
            put_value(b, 0, k, base, x);
            item = NULL;
            continue;
        }
        put_value(b, indent, k, base, x);
    }
}

/* key: [a, b, ...]: n integers of `size` bytes (4: int32_t; 8: int64_t, or uint64_t below 2^63). */
static void put_ints(cfg_buf *b, int indent, const char *key, const void *a, int n, size_t size)
{
    put_key(b, indent, key);
    for (int i = 0; i < n; i++)
        cfg_buf_printf(b, "%s%lld", i ? ", " : " [",
                       size == 4 ? (long long)((const int32_t *)a)[i]
                                 : (long long)((const int64_t *)a)[i]);
    cfg_buf_printf(b, "]\n");
}

static void put_labels(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    const hsi_exp_domain *d = field;
    (void)x;
    if (d->n_labels) put_ints(b, indent, "labels", d->label_ids, d->n_labels, sizeof *d->label_ids);
}

static void put_bands(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    const hsi_exp_domain *d = field;
    (void)x;
    if (!d->band_end && !d->resample) return;
    put_key(b, indent, "bands");
    cfg_buf_printf(b, " {");
    if (d->band_end) cfg_buf_printf(b, "range: [%d, %d]", d->band_start, d->band_end);
    if (d->resample) cfg_buf_printf(b, "%sresample: %d", d->band_end ? ", " : "", d->resample);
    cfg_buf_printf(b, "}\n");
}

static void put_region(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    const hsi_exp_domain *d = field;
    (void)x;
    if (d->region_rect[2]) {
        put_key(b, indent, "region");
        cfg_buf_printf(b, " {rect: [%d, %d, %d, %d]}\n", d->region_rect[0], d->region_rect[1],
                       d->region_rect[2], d->region_rect[3]);
    }
    if (d->region_half) {
        put_key(b, indent, "region");
        cfg_buf_printf(b, " {half: %s}\n", half_names[d->region_half]);
    }
}

/* key:, then n list items, maps of s's keys (item i at items + i * size). */
static void put_items(cfg_buf *b, int indent, const char *key, const section *s, const void *items,
                      int n, size_t size, const hsi_experiment *x)
{
    put_key(b, indent, key);
    cfg_buf_printf(b, "\n");
    for (int i = 0; i < n; i++)
        put_section(b, indent + 4, s, (const char *)items + (size_t)i * size, x, "- ");
}

static void put_domains(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    (void)field;
    put_items(b, indent, "domains", &domain, x->domains, x->n_domains, sizeof *x->domains, x);
}

static void put_betas(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    (void)field;
    put_key(b, indent, "betas");
    cfg_buf_printf(b, " [");
    put_num(b, x->solver.beta1, 1);
    cfg_buf_printf(b, ", ");
    put_num(b, x->solver.beta2, 1);
    cfg_buf_printf(b, "]\n");
}

static void put_steps(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    const hsi_schedule *s = field;
    (void)x;
    put_ints(b, indent, "steps", s->steps, s->n_steps, sizeof *s->steps);
}

static void put_early_stopping(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    const hsi_exp_train *t = field;
    (void)x;
    if (!t->patience) return;
    put_key(b, indent, "early_stopping");
    cfg_buf_printf(b, " {patience: %d, metric: %s}\n", t->patience,
                   hsi_select_names[t->stop_metric]);
}

static void put_phase_domains(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    const hsi_exp_phase *p = field;
    put_key(b, indent, "domains");
    cfg_buf_printf(b, " [");
    for (int j = 0; j < p->n_domains; j++)
        cfg_buf_printf(b, "%s%s", j ? ", " : "", x->domains[p->domains[j]].name);
    cfg_buf_printf(b, "]\n");
}

static void put_phases(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    (void)field;
    if (x->phases_given)
        put_items(b, indent, "phases", &phase, x->phases, x->n_phases, sizeof *x->phases, x);
}

static void put_shared_lr_scale(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    (void)field;
    if (x->shared_lr_scale > 0) put_f(b, indent, "shared_lr_scale", x->shared_lr_scale, 1);
    else cfg_buf_printf(b, "%*sshared_lr_scale: 1/N\n", indent, "");
}

static void put_init(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    const hsi_exp_init *in = field;
    put_key(b, indent, "init");
    if (!in->checkpoint) {
        cfg_buf_printf(b, " scratch\n");
        return;
    }
    cfg_buf_printf(b, "\n");
    put_section(b, indent + 2, &init, in, x, NULL);
}

static void put_sweep(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    (void)field;
    if (!x->n_sweep || x->sweep_point >= 0) return;
    put_key(b, indent, "sweep");
    cfg_buf_printf(b, "\n");
    for (int i = 0; i < x->n_sweep; i++) {
        cfg_buf_printf(b, "%*s", indent + 2, "");
        cfg_buf_scalar(b, x->sweep[i].key);
        cfg_buf_printf(b, ": [");
        for (int j = 0; j < x->sweep[i].n_values; j++)
            cfg_buf_printf(b, "%s%s", j ? ", " : "", x->sweep[i].values[j]);
        cfg_buf_printf(b, "]\n");
    }
}

static void put_runs(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    put_key(b, indent, "runs");
    cfg_buf_printf(b, "\n");
    put_section(b, indent + 2, &runs, field, x, NULL);
}

static void put_seeds(cfg_buf *b, int indent, const void *field, const hsi_experiment *x)
{
    const hsi_exp_runs *r = field;
    (void)x;
    if (r->seeds) put_ints(b, indent, "seeds", r->seeds, r->n_seeds, sizeof *r->seeds);
}

hsi_experiment hsi_experiment_training(const hsi_experiment *x)
{
    hsi_experiment c = *x;
    c.path = "";
    c.outputs.dir = "";
    c.train.threads = 0;
    c.sweep_point = -1;      /* a point's values are applied; its resolved file has no sweep */
    c.n_sweep = 0;
    return c;
}

char *hsi_experiment_to_yaml(const hsi_experiment *x, char *err, size_t errlen)
{
    cfg_buf b = {0};
    cfg_buf_printf(&b, "# Resolved experiment (defaults filled in, overrides applied) from %s\n",
                   x->path);
    if (x->sweep_point >= 0)
        cfg_buf_printf(&b, "# sweep point %d of %d: %s\n", x->sweep_point, x->sweep_points,
                       x->sweep_label);
    put_section(&b, 0, &top, x, x, NULL);
    if (b.oom || !b.s) {
        free(b.s);
        snprintf(err, errlen, "%s: error: out of memory", x->path);
        return NULL;
    }
    return b.s;
}
