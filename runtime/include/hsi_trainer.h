/* hsi_trainer.h — the standalone trainer: the CLI (train | eval | predict | forward | grad) over
 * one compiled network (an hsi_netdesc) and one embedded experiment, and the pieces it is made
 * of, public so that tests can drive them: data setup per domain, parameter ownership and
 * learning-rate scales, fine-tune loading, checkpoints and training state, batched inference.
 *
 * A trainer binary is runtime/trainer_main.c compiled with -DHSI_NETDESC=<stem>_net, linked with
 * the emitted <stem>.c, a file defining hsi_embedded_experiment[] (the experiment YAML) and
 * hsi_embedded_experiment_path[] (its path), and libhsirt. Users' documentation: runtime/TRAINER.md.
 *
 * Errors: functions return 0 / -1 with one message in err (as everywhere in libhsirt); only
 * hsi_trainer_main prints and returns an exit status (0 ok, 1 input error, 2 usage, 130 stopped
 * by a signal with the state saved).
 */
#ifndef HSI_TRAINER_H
#define HSI_TRAINER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hsi.h"
#include "hsi_config.h"
#include "hsi_data.h"
#include "hsi_io.h"
#include "hsi_prep.h"
#include "hsi_train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CLI ------------------------------------------------------------------------------------ */

/* The whole trainer: argv[1] is the subcommand. exp_text / exp_path: the embedded experiment
 * (exp_text NULL: --experiment FILE is required). */
int hsi_trainer_main(const hsi_netdesc *net, const char *exp_text, const char *exp_path,
                     int argc, char **argv);

/* ---- several processes (MPI data parallelism; docs/MPI.md) ---------------------------------- */
/* The group a trainer runs in. libhsirt knows no MPI: a trainer built with hsicc build --mpi
 * passes Open MPI's (runtime/mpi/comm_mpi.c) to hsi_trainer_main_comm; NULL is one process.
 * Every function is collective: every rank calls it, in the same order. */
struct hsi_comm {
    int rank, size;
    void *ctx;
    /* v[0..n) summed in place over the ranks; every rank gets the same result */
    void (*sum_d)(void *ctx, double *v, int64_t n);
    void (*sum_f)(void *ctx, float *v, int64_t n);
    /* rank 0's bytes to every rank */
    void (*bcast)(void *ctx, void *buf, size_t bytes);
    /* max over the ranks of v[0..n) (int32), in place, every rank */
    void (*max_i32)(void *ctx, int32_t *v, int64_t n);
    /* ends every rank now with this status (an error one rank met alone: the others may be
     * waiting in a collective); never returns */
    void (*abort)(void *ctx, int status);
};
typedef struct hsi_comm hsi_comm;

/* hsi_trainer_main run by every rank of comm (NULL: one process). A trainer without comm that
 * finds itself one of several MPI processes (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE > 1)
 * refuses to start: N copies would write the same files. */
int hsi_trainer_main_comm(const hsi_netdesc *net, const char *exp_text, const char *exp_path,
                          int argc, char **argv, const hsi_comm *comm);

/* ---- environment: where datasets come from -------------------------------------------------- */
typedef struct hsi_trainer_env {
    const char *datasets;      /* --datasets FILE: extra registry (NULL: $HSICC_DATASETS) */
    const char *data_dir;      /* --data DIR (NULL: $HSICC_DATA, else ./data) */
    const char *mirror;        /* --mirror DIR (NULL: $HSICC_DATA_MIRROR) */
    int download;              /* --download: fetch missing files from the registry URLs */
    FILE *log;                 /* messages (load map, warnings); NULL: silent */
    const char *pca_weights;   /* eval, predict: apply the PCA saved in these weights instead of
                                  fitting one (preprocess.pca); NULL: fit */
} hsi_trainer_env;

/* ---- per-domain data (session.c) ------------------------------------------------------------ */

/* One domain of the experiment, loaded, checked against the net, preprocessed. */
typedef struct hsi_tr_domain {
    int index;                 /* experiment domain index == net domain index */
    const char *name;          /* experiment domain name */
    const hsi_dataset *ds;     /* registry entry (owned by hsi_tr_data.reg) */
    int k;                     /* classes */
    const char **class_names;  /* [k], pointers into the registry */
    uint8_t *palette;          /* [k * 3] map colours from the registry */
    int h, w;
    hsi_cube raw;              /* bands selected/resampled, region cropped (and standardised
                                  when standardize = all); kept only when the split changes the
                                  preprocessing (standardize: train, or pca.fit: train) */
    hsi_cube cube;             /* what the net sees (standardised; then PCA components) */
    int net_bands;             /* the band count the net was compiled for */
    hsi_pca pca;               /* preprocess.pca applied to cube (k == 0: none) */
    int32_t *y;                /* [h * w] remapped labels, -1 = no class */
    hsi_split split;           /* of the current run (mask all zero before hsi_tr_data_split) */
    int32_t *train, *val, *test;   /* pixel indices of the split, raster order */
    int64_t n_train, n_val, n_test;
    hsi_batcher *batcher;      /* training batches of the current run, or NULL */
    int label_patch;           /* the net's per-pixel loss reads L x L label windows (0: none) */
    int32_t *ytrain;           /* label_patch: [h * w] the labels of training pixels, -1 elsewhere
                                  (validation and test labels never reach the loss) */
    uint8_t *valid;            /* [h * w] 0 at nodata pixels (the ENVI cube's data ignore value),
                                  or NULL: every pixel is valid */
} hsi_tr_domain;

typedef struct hsi_tr_data {
    hsi_registry *reg;
    int n;
    hsi_tr_domain *d;          /* [n] */
    int patch;                 /* the net's patch (every domain) */
    hsi_pad pad;
    const char *pca_from;      /* hsi_trainer_env.pca_weights */
} hsi_tr_data;

/* Loads every domain's scene (ensure: mirror / download as env says), selects bands, crops the
 * region, remaps labels, and checks the net against the data: domain count, names, bands,
 * classes and patch (a mismatch names both values and says "rebuild the trainer with hsicc
 * build"). Standardises with all pixels when x->standardize is all. */
int hsi_tr_data_load(hsi_tr_data *D, const hsi_experiment *x, const hsi_netdesc *net,
                     const hsi_trainer_env *env, char *err, size_t errlen);

/* preprocess.pca.variance: the component count of domain d, fitted as the trainer fits it (the
 * scene loaded, standardised with every pixel when standardize is all), and the share of the
 * variance they hold. hsicc build sizes the net with it. */
int hsi_tr_pca_components(const hsi_experiment *x, int d, const hsi_trainer_env *env, int *k,
                          double *share, char *err, size_t errlen);

/* Class names and map colours of experiment domain d, from the registry alone (no data read):
 * what maps of other scenes are labelled with. */
typedef struct hsi_tr_classes {
    hsi_registry *reg;         /* owns the names */
    int k;
    const char **names;        /* [k] */
    uint8_t *palette;          /* [k * 3] */
} hsi_tr_classes;
int hsi_tr_domain_classes(const hsi_experiment *x, int d, const hsi_trainer_env *env,
                          hsi_tr_classes *out, char *err, size_t errlen);
void hsi_tr_classes_free(hsi_tr_classes *c);
/* The split of one run for every domain: from masks (a .npy for one domain, or a folder holding
 * masks.npy or <domain>/masks.npy), else from split.masks, else made with split.seed or seed.
 * Then train-only standardisation if asked, and the index lists. */
int hsi_tr_data_split(hsi_tr_data *D, const hsi_experiment *x, uint64_t seed, const char *masks,
                      char *err, size_t errlen);
/* Training batchers (prefetching) for every domain with training pixels. */
int hsi_tr_data_batchers(hsi_tr_data *D, const hsi_experiment *x, uint64_t seed, char *err,
                         size_t errlen);
void hsi_tr_data_free(hsi_tr_data *D);

/* ---- parameters: ownership, learning-rate scales, initialisation (checkpoint.c) ------------- */

/* Which domains use each parameter (bit d of owners[i]), found by one probe forward/backward per
 * domain on random inputs (gradients that are not identically zero). Params no domain touched
 * (state, frozen) get every bit. Single-domain nets: every bit without probing. Values of the
 * params (running statistics included) are changed: initialise afterwards. */
int hsi_trainer_param_owners(const hsi_netdesc *net, hsi_model *m, int batch, uint32_t *owners,
                             char *err, size_t errlen);
/* Per-param lr scale for phase ph: 0 when no active domain uses it or it matches init.freeze;
 * for shared params (hsi_param.shared, or used by several active domains) shared_lr_scale
 * (0 meaning 1 / number of active domains); else 1. */
void hsi_trainer_lr_scales(const hsi_experiment *x, int ph, const hsi_param *ps, int np,
                           const uint32_t *owners, float *out);
/* hsi_init_params with seed, then, if init.checkpoint is set, the tensors matching init.load
 * (glob patterns) are loaded from it. A load map goes to log (one line per parameter: loaded /
 * initialised, plus the checkpoint tensors skipped). Errors: a matched tensor with another
 * shape (names it, both shapes, and how to fix), an unreadable file. */
int hsi_trainer_init_params(const hsi_experiment *x, hsi_param *ps, int np, uint64_t seed,
                            FILE *log, char *err, size_t errlen);

/* ---- checkpoints ---------------------------------------------------------------------------- */

/* Weights file: every param (running statistics included) by name, PyTorch layouts, F32, with
 * metadata {"format": "pt", "net": name, "source": ...} and the extra pairs given. */
int hsi_ckpt_save_weights(const char *path, const hsi_netdesc *net, const hsi_param *ps, int np,
                          const hsi_st_meta *meta, int n_meta, char *err, size_t errlen);
/* Loads every param of the net from path (extra tensors ignored). Errors: a missing tensor, a
 * shape mismatch (both shapes). */
int hsi_ckpt_load_weights(const char *path, hsi_param *ps, int np, char *err, size_t errlen);

/* ---- batched inference (evaluate.c) --------------------------------------------------------- */

typedef struct hsi_eval_req {
    const hsi_cube *cube;
    const int32_t *labels;     /* h * w remapped labels, or NULL (no loss, no confusion) */
    const int32_t *index;      /* n pixel indices (NULL with n = h*w: every pixel in order) */
    int64_t n;
    int patch;
    hsi_pad pad;
    int k;                     /* classes */
    int32_t *pred;             /* out [n]: argmax class, or NULL */
    int64_t *cm;               /* out [k*k] confusion accumulated (rows true), or NULL */
    double loss_sum;           /* out: sum of the cross-entropy of labelled samples */
    int64_t n_labelled, correct;   /* out */
} hsi_eval_req;

/* Inference (train = 0) in batches of at most `batch` samples (the last one partial). */
int hsi_evaluate(const hsi_netdesc *net, hsi_model *m, int domain, int batch, hsi_eval_req *r,
                 char *err, size_t errlen);
/* Softmax cross-entropy of one row of logits for class y (log-sum-exp in double). */
double hsi_xent_row(const float *z, int k, int y);
/* The class of one row of logits: the first index of the largest. */
int hsi_argmax(const float *z, int k);

/* ---- training ------------------------------------------------------------------------------- */

typedef struct hsi_train_opts {
    const hsi_netdesc *net;
    hsi_experiment *x;         /* resolved experiment (runs.count / outputs.dir already final) */
    const char *out_dir;       /* run folders go here */
    int resume;                /* 1: continue finished / interrupted runs found in out_dir */
    int64_t stop_after;        /* > 0: stop (state saved, exit 130) once a run reaches this many
                                  steps — for time-limited jobs and the resume test */
    int64_t state_every;       /* write state.safetensors every N steps too (0: only at each
                                  validation and at the end of training) */
    int quiet;                 /* no progress, no load map, summary only */
    hsi_trainer_env env;
    const hsi_comm *comm;      /* NULL or 1 rank: one process; else data-parallel (docs/MPI.md) */
} hsi_train_opts;

/* Runs every run of the experiment, writes the run folders and DIR/metrics.json, prints the
 * summary. Returns 0, or 1 with err set (input error), or 130 when stopped (state saved). */
int hsi_trainer_train(const hsi_train_opts *o, char *err, size_t errlen);

/* SIGINT, SIGTERM and SIGHUP ask the training to stop (finish the step, save, 130) from now
 * until the process exits, taken by a thread of their own (hsi_signals_take). Without it
 * hsi_trainer_train catches them while it runs, with handlers on whichever thread they land,
 * and then restores the caller's handlers: a handler run inside oneDNN 2.6's AVX-512 GEMM
 * corrupts the heap, so a program that calls hsi_trainer_train should call this first, before
 * it starts threads. The trainer's CLI calls it first thing for `train`. */
void hsi_trainer_catch_stops(void);

#ifdef __cplusplus
}
#endif
#endif /* HSI_TRAINER_H */
