/* hsi_config.h — experiment files (YAML): parse, check against the schema, apply --set
 * overrides and sweep points, and write the resolved experiment back.
 *
 * The schema for users is runtime/io/EXPERIMENTS.md; every field below says its key.
 * Errors: functions return 0 / -1 (or NULL) with ONE message in err whose first line reads
 *   FILE:LINE:COL: error: key 'solver.lr': expected a positive number, got "abc"
 * (1-based line and column), followed by the source line and a caret when the file is known.
 * Values coming from --set are located as  --set solver.lr=abc: error: ...  Nothing here exits
 * or prints; the exit status is the caller's.
 *
 * Usage:
 *     hsi_experiment_opts o = {.path = "examples/ssrn-salinasA.yaml", .sets = argv_sets,
 *                              .n_sets = n, .sweep_point = -1};
 *     hsi_experiment *x = hsi_experiment_load(&o, err, sizeof err);
 *     if (!x) { fprintf(stderr, "%s\n", err); return 1; }
 *     ... x->solver.type, x->domains[0].dataset, x->phases[0].iterations ...
 *     hsi_experiment_write(x, "runs/a/experiment.yaml", err, sizeof err);
 *     hsi_experiment_free(x);
 */
#ifndef HSI_CONFIG_H
#define HSI_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "hsi.h"
#include "hsi_train.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hsi_registry;

/* A `defines:` entry: a net parameter for the compiler, value as written (a YAML scalar). */
typedef struct hsi_define {
    char *key;                 /* identifier, e.g. "k" */
    char *value;               /* "24", "0.5", "same" */
    char *where;               /* "file:line:col" of the key, or the --set text; NULL: unknown */
    char *path;                /* its key path, "defines.k" or "domains.0.defines.k"; or NULL */
} hsi_define;

typedef enum hsi_half { HSI_HALF_NONE, HSI_HALF_LEFT, HSI_HALF_RIGHT, HSI_HALF_TOP,
                        HSI_HALF_BOTTOM } hsi_half;

/* One dataset = one instantiation of the net (`domains:` item). */
typedef struct hsi_exp_domain {
    char *name;                /* `name`: identifier, unique; default: the dataset name */
    char *dataset;             /* `dataset`: registry name ("SalinasA", "IndianPines", ...) */
    int n_labels;              /* `labels`: number of classes K; 0 = every class of the dataset
                                  in registry order */
    int32_t *label_ids;        /* label_ids[k] = raw gt value that becomes class k (k < K) */
    int band_start, band_end;  /* `bands.range: [start, end]`: 0-based, end exclusive;
                                  0, 0 = every band */
    int resample;              /* `bands.resample`: average adjacent bands down to this many
                                  (after the range); 0 = no resampling */
    int region_rect[4];        /* `region.rect: [row, col, height, width]`; height 0 = none */
    hsi_half region_half;      /* `region.half`: left|right|top|bottom of the scene */
    int n_defines;
    hsi_define *defines;       /* `defines`: this domain's net parameters (override the
                                  experiment's); `bands`, `classes` are derived, never set */
    float loss_weight;         /* `loss_weight`: > 0, default 1 */
} hsi_exp_domain;

/* The hsi_exp_ enums are named apart from hsi_prep.h's (hsi_standardize(), hsi_pad,
 * hsi_split_kind, hsi_augment) so that both headers can be included in one file. */
typedef enum hsi_exp_standardize { HSI_EXP_STD_ALL, HSI_EXP_STD_TRAIN, HSI_EXP_STD_NONE }
    hsi_exp_standardize;
typedef enum hsi_exp_padding { HSI_EXP_PAD_ZERO, HSI_EXP_PAD_REFLECT, HSI_EXP_PAD_REPLICATE }
    hsi_exp_padding;
typedef enum hsi_exp_nonfinite { HSI_EXP_NONFINITE_ERROR, HSI_EXP_NONFINITE_ZERO } hsi_exp_nonfinite;
typedef enum hsi_exp_augment { HSI_EXP_AUG_NONE, HSI_EXP_AUG_DIHEDRAL, HSI_EXP_AUG_DIHEDRAL_X8 }
    hsi_exp_augment;
typedef enum hsi_select { HSI_SELECT_VAL_LOSS, HSI_SELECT_VAL_OA, HSI_SELECT_LAST } hsi_select;
extern const char *const hsi_select_names[3];   /* "val_loss", "val_oa", "last" */
typedef enum hsi_exp_split_rule { HSI_EXP_SPLIT_RANDOM, HSI_EXP_SPLIT_SSRN } hsi_exp_split_rule;
typedef enum hsi_ckpt_keep { HSI_CKPT_BEST, HSI_CKPT_LAST, HSI_CKPT_BOTH, HSI_CKPT_NONE }
    hsi_ckpt_keep;

/* `preprocess.pca:` — principal components after standardisation (enabled: components > 0 or
 * variance > 0). The net's `bands` is the component count. */
typedef enum hsi_exp_pca_fit { HSI_EXP_PCA_FIT_ALL, HSI_EXP_PCA_FIT_TRAIN } hsi_exp_pca_fit;
typedef struct hsi_exp_pca {
    int components;            /* `components`: >= 1, or 0 with variance */
    double variance;           /* `variance`: in (0, 1]: the fewest components reaching this share
                                  of the variance (needs fit all, standardize all or none) */
    hsi_exp_pca_fit fit;       /* `fit`: all (default: every pixel of the scene) | train */
    int whiten;                /* `whiten`: default 0 */
} hsi_exp_pca;

/* A count (integer >= 0) or a fraction (a number with a point or exponent, in (0, 1)). */
typedef struct hsi_amount {
    int is_fraction;
    int64_t count;             /* when !is_fraction */
    double fraction;           /* when is_fraction */
} hsi_amount;

/* `split:` — how labelled pixels become train / val / test (the rest is test). */
typedef struct hsi_exp_split {
    hsi_exp_split_rule rule;   /* `rule`: random (default) | ssrn (SSRN code: per class
                                  train = n_c - int((1-f)*n_c); val drawn from the pooled rest,
                                  not stratified; needs fractions) */
    hsi_amount train;          /* `train`: required; per class count, or per class fraction;
                                  `all` = fraction 1 (every labelled pixel: pre-training) */
    hsi_amount val;            /* `val`: default 0; per class (stratified) or of all pixels */
    int stratified;            /* `stratified`: default 1 */
    int spatial_blocks;        /* `spatial_blocks`: 0 = off; N: the scene is cut into an N x N
                                  grid and whole blocks go to train/val/test */
    int has_seed;
    uint64_t seed;             /* `seed`: fixes the split across runs; default: the run's seed */
    char *masks;               /* `masks`: a saved split to reload (path resolved), or NULL */
} hsi_exp_split;

/* `train:` — length, batching, validation and model selection. */
typedef struct hsi_exp_train {
    int batch;                 /* `batch`: required, >= 1 */
    const char *batch_where;   /* "file:line:col" of the key, or the --set text; NULL: unknown */
    int epochs;                /* `epochs`: one of epochs / iterations (or `phases`) */
    int64_t iterations;        /* `iterations` */
    int val_every;             /* `val_every`: in epochs if epochs is given, else iterations;
                                  default 1 epoch or 100 iterations */
    hsi_select select;         /* `select`: val_loss | val_oa | last; default val_loss when
                                  split.val > 0, else last */
    int patience;              /* `early_stopping.patience`: validations without improvement;
                                  0 = no early stopping */
    hsi_select stop_metric;    /* `early_stopping.metric`: val_loss | val_oa; default val_loss */
    int threads;               /* `threads`: 0 = every core */
    int bn_sync;               /* `bn_sync`: under MPI, training BN statistics over the global
                                  batch (1, default) or each rank's shard (0); docs/MPI.md */
} hsi_exp_train;

/* One training phase (`phases:` item; without `phases`, one phase "main" with every domain,
 * train.epochs/iterations, the top-level schedule). Iterations count from 0 in each phase. */
typedef struct hsi_exp_phase {
    char *name;                /* `name`: default "phase<i>" */
    int n_domains;
    int *domains;              /* `domains`: indices into hsi_experiment.domains; default all */
    int epochs;                /* `epochs` or `iterations` (exactly one is > 0) */
    int64_t iterations;
    hsi_schedule schedule;     /* `schedule` merged over the top-level one; `lr` sets base_lr;
                                  poly/cosine max_iter = iterations when not given (0 with
                                  epochs: the trainer sets it to the phase's step count) */
} hsi_exp_phase;

/* `init:` — scratch (n_load == 0, checkpoint NULL) or from a checkpoint. */
typedef struct hsi_exp_init {
    char *checkpoint;          /* `checkpoint`: safetensors path (resolved), NULL = scratch */
    int n_load;
    char **load;               /* `load`: glob patterns of tensor names; default ["*"] */
    int n_freeze;
    char **freeze;             /* `freeze`: glob patterns; matching params get lr scale 0 */
} hsi_exp_init;

/* `sweep:` — crossed product of overrides; point i picks value (i / stride) % n of each key
 * (first key varies slowest). */
typedef struct hsi_exp_sweep_key {
    char *key;                 /* a key path as for --set: "defines.depth", "init" */
    int n_values;
    char **values;             /* each value as YAML flow text: "3", "scratch", "{checkpoint: a}" */
} hsi_exp_sweep_key;

/* `runs:` — repeats with different seeds (split, init, dropout, batch order). */
typedef struct hsi_exp_runs {
    int count;                 /* `count` (or `runs: N`): default 1 */
    int n_seeds;
    uint64_t *seeds;           /* `seeds`: explicit list (count = its length), else NULL */
    uint64_t seed;             /* `seed`: base; run i uses seed + i (default 1) */
} hsi_exp_runs;

/* `outputs:` */
typedef struct hsi_exp_outputs {
    char *dir;                 /* `dir`: default "runs/<experiment name>", relative to cwd */
    int maps;                  /* `maps`: classification maps (PNG), default 1 */
    int curves;                /* `curves`: loss/accuracy curves (CSV + plot), default 1 */
    hsi_ckpt_keep checkpoints; /* `checkpoints`: best | last | both | none, default best */
} hsi_exp_outputs;

#define HSI_MAX_DOMAINS 32     /* domains of an experiment (the trainer sizes per-step arrays by it) */

typedef struct hsi_experiment {
    char *path;                /* the experiment file as given */
    char *name;                /* `name`: default the file name without .yaml / .yml */
    char *description;         /* `description`: free text, or NULL */
    char *net;                 /* `net`: required; netdef path, relative to the experiment
                                  file's folder (stored joined with that folder) */
    int n_defines;
    hsi_define *defines;       /* `defines`: net parameters for every domain; `patch` from
                                  preprocess.patch is added here when not given */
    hsi_backend backend;       /* `backend`: dnnl (default) | ref */
    int n_domains;
    hsi_exp_domain *domains;   /* `domains`: required, 1..HSI_MAX_DOMAINS */
    hsi_exp_standardize standardize; /* `preprocess.standardize`: all (default) | train | none */
    hsi_exp_padding padding;   /* `preprocess.padding`: zero (default) | reflect | replicate */
    hsi_exp_nonfinite nonfinite; /* `preprocess.nonfinite`: error (default) | zero: NaN / Inf values
                                    of the selected bands refused, or set to 0 (before
                                    standardisation) */
    int patch;                 /* `preprocess.patch`: odd >= 1, sets the net's `patch`
                                  define; 0 = the netdef's default */
    hsi_exp_pca pca;           /* `preprocess.pca` */
    hsi_exp_split split;
    hsi_exp_augment augment;   /* `augment`: none (default) | dihedral | dihedral_x8 */
    hsi_solver_opts solver;    /* `solver`: type required; see hsi_train.h */
    hsi_schedule schedule;     /* `schedule`: default fixed; base_lr = `solver.lr` (required) */
    hsi_exp_train train;
    int n_phases;              /* >= 1 */
    hsi_exp_phase *phases;
    int phases_given;          /* 1: `phases` was in the file (else one implicit phase) */
    float shared_lr_scale;     /* `shared_lr_scale`: "1/N" (stored as 0: 1/active domains) or
                                  a number > 0 */
    hsi_exp_init init;
    int n_sweep;
    hsi_exp_sweep_key *sweep;
    int sweep_points;          /* product of the value counts; 1 without a sweep */
    int sweep_point;           /* the point applied (-1: none) */
    char *sweep_label;         /* "defines.depth=3,init=scratch" for the applied point, or NULL */
    hsi_exp_runs runs;
    hsi_exp_outputs outputs;
    struct hsi_exp_arena *arena;   /* owns every pointer above */
} hsi_experiment;

typedef struct hsi_experiment_opts {
    const char *path;          /* the YAML file */
    const char *const *sets;   /* "key.path=value" overrides (--set), applied in order */
    int n_sets;
    int sweep_point;           /* -1: check every sweep point, apply none; else 0..points-1 */
    const struct hsi_registry *registry; /* NULL: dataset names and label ids are not checked */
} hsi_experiment_opts;

/* Parses, applies overrides, fills defaults, checks. NULL with one message on error. */
hsi_experiment *hsi_experiment_load(const hsi_experiment_opts *opts, char *err, size_t errlen);
/* Same from text in memory; `origin` is the file name used in messages and for relative paths. */
hsi_experiment *hsi_experiment_load_text(const char *text, size_t len, const char *origin,
                                         const hsi_experiment_opts *opts, char *err, size_t errlen);
void hsi_experiment_free(hsi_experiment *x);

/* The resolved experiment (every default filled in, overrides and the sweep point applied,
 * paths absolute) as YAML text (malloc'd, NUL-terminated), which loads back to the same struct. */
char *hsi_experiment_to_yaml(const hsi_experiment *x, char *err, size_t errlen);
/* x without what does not change how it trains (its file, output folder and threads, the sweep
 * itself): a shallow copy whose hsi_experiment_to_yaml text compares two trainings (a
 * checkpoint's hash, a sweep point against the training in its folder). */
hsi_experiment hsi_experiment_training(const hsi_experiment *x);
/* hsi_experiment_to_yaml written atomically to path. */
int hsi_experiment_write(const hsi_experiment *x, const char *path, char *err, size_t errlen);

/* Net parameters for domain d: the domain's defines over the experiment's (which hold `patch`;
 * the trainer adds bands and classes from the data). Returns the count written
 * (at most max) into out; pointers are into x. */
int hsi_experiment_domain_defines(const hsi_experiment *x, int d, hsi_define *out, int max);
/* The seed of run r (0-based). */
uint64_t hsi_experiment_run_seed(const hsi_experiment *x, int r);
/* Where train.batch is set, for messages: "file:line:col", the --set text, or the file. */
const char *hsi_experiment_batch_where(const hsi_experiment *x);

/* One key of the schema, as hsi_experiment_each_key lists them (the schema's tables are the one
 * place keys are declared; the test train.config_doc holds EXPERIMENTS.md to them). */
typedef struct hsi_exp_key {
    char path[64];             /* "solver.lr", "domains.*.bands.range" ('*': every list item) */
    const char *type;          /* int number bool enum text path texts defines amount map code */
    int required;
    const char *const *names;  /* enum: the accepted values, in the enum's order */
    int n_names;
    int nested;                /* 1: the keys of its map follow, listed under path */
} hsi_exp_key;
/* Calls fn for every key, in the order the file's tables declare them (a map that occurs twice,
 * as `schedule` in a phase, is listed once: its keys under the first). */
void hsi_experiment_each_key(void (*fn)(const hsi_exp_key *k, void *ctx), void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* HSI_CONFIG_H */
