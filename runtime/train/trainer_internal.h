/* trainer_internal.h — pieces shared by the trainer's files (session.c, checkpoint.c, loop.c,
 * cli.c, evaluate.c) that are not part of the public hsi_trainer.h: the training state of a
 * run and the result-file helpers. Not installed, not for emitted code.
 */
#ifndef HSI_TRAINER_INTERNAL_H
#define HSI_TRAINER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hsi_eval.h"
#include "hsi_kernels.h"
#include "hsi_trainer.h"

/* log.csv columns, in order (see TRAINER.md). */
enum { TR_LOG_STEP, TR_LOG_EPOCH, TR_LOG_PHASE, TR_LOG_LR, TR_LOG_TRAIN_LOSS, TR_LOG_VAL_LOSS,
       TR_LOG_VAL_OA, TR_LOG_SPS, TR_LOG_ELAPSED, TR_LOG_COLS };

/* Everything of a run that is not a tensor but must survive --resume. */
typedef struct tr_state {
    uint64_t seed;             /* the run's seed (checked on load) */
    uint64_t experiment;       /* hash of the experiment that trains (tr_experiment_hash; checked
                                  on load, so an edited experiment.yaml is not resumed) */
    int64_t step;              /* optimizer steps done in this run, all phases */
    int phase;                 /* phase in progress; n_phases once training is over */
    int64_t phase_it;          /* iterations done in that phase (the schedule's iter) */
    int has_best;              /* best_values holds the selected weights of this phase */
    double best;               /* its selection metric (val loss or val OA) */
    int64_t best_step;
    double es_best;            /* early stopping: best value of the stop metric so far */
    int es_bad;                /* validations since it last improved */
    hsi_plateau plateau;       /* schedule policy plateau: the phase's rate and its counters */
    double loss_sum;           /* training loss summed since the last log row ... */
    int64_t loss_n;            /* ... over this many steps */
    double train_seconds;      /* time in training steps only (not validation, not I/O) */
    int64_t samples;           /* training samples processed */
    double row_seconds;        /* the same two since the last log row */
    int64_t row_samples;
    int ranks;                 /* MPI ranks the run trains with (checked on load) */
    int backend;               /* hsi_backend of the run (checked on load: the floats differ) */
    int threads;               /* compute threads (hsi_threads_count; 0 unknown); on load, the
                                  count the state was written with (0: not recorded) */
    int n_dom;
    hsi_batcher_state *bst;    /* [n_dom] cursors (unused for domains without a batcher) */
    int log_rows, log_cap;
    double *log;               /* [log_rows][TR_LOG_COLS] */
    float *best_values;        /* every param's values concatenated (param order) */
} tr_state;

/* dp.c: data parallelism over an hsi_comm (docs/MPI.md). comm NULL: one process. */
typedef struct tr_dp {
    const hsi_comm *comm;      /* NULL when one process */
    int rank, size;
    int batch;                 /* the global batch B */
    int lo, n;                 /* this rank's shard of every global batch: [lo, lo + n) */
    hsi_dp kdp;                /* the kernels' hook (synchronized BN, dropout positions) */
} tr_dp;
/* The shard, and the kernels' hook set (size > 1). Error: more ranks than samples per batch. */
int tr_dp_init(tr_dp *dp, const hsi_comm *comm, int batch, int bn_sync, char *err, size_t errlen);
void tr_dp_done(tr_dp *dp);
double tr_dp_sum1(const tr_dp *dp, double v);
void tr_dp_sum(const tr_dp *dp, double *v, int n);
/* Every gradient summed over the ranks (one allreduce over the block when contiguous). */
void tr_dp_grads(const tr_dp *dp, hsi_param *ps, int np);
/* Rank 0's parameter values (running statistics included) to every rank. */
void tr_dp_bcast_values(const tr_dp *dp, hsi_param *ps, int np);
/* Collective: rc of this rank -> nonzero on every rank when any failed. The message stays with
 * the rank that has it (rank 0's only, when rank 0 failed too); the others' err is emptied. */
int tr_dp_agree(const tr_dp *dp, int rc, char *err, size_t errlen);
int tr_comm_agree(const hsi_comm *comm, int rc, char *err, size_t errlen);
/* After a write only rank 0 does: a failure ends every rank (error printed, exit 1). */
int tr_dp_rank0(const tr_dp *dp, int rc, const char *err);
int tr_comm_rank0(const hsi_comm *comm, int rc, const char *err);

int tr_fail(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int tr_match_any(char *const *patterns, int n, const char *name);

void tr_state_free(tr_state *s);
/* FNV-1a of the resolved experiment as far as it decides how a run trains (not its file name,
 * output folder, run count, thread count or sweep). 0 if it cannot be rendered. */
uint64_t tr_experiment_hash(const hsi_experiment *x);
int tr_state_log_row(tr_state *s, const double *row);
/* state.safetensors: params, solver tensors ("opt.*"), best weights ("best.*"), counters. */
int tr_state_save(const char *path, const tr_state *s, const hsi_param *ps, int np,
                  hsi_solver *solver, char *err, size_t errlen);
/* hsi_ckpt_save_weights followed by extra tensors (preprocess.pca's). */
int tr_ckpt_save_weights_extra(const char *path, const hsi_netdesc *net, const hsi_param *ps,
                               int np, const hsi_st_tensor *extra, int n_extra,
                               const hsi_st_meta *meta, int n_meta, char *err, size_t errlen);
/* s->seed, s->n_dom, s->bst and s->best_values must be set up (sizes) by the caller. */
int tr_state_load(const char *path, tr_state *s, hsi_param *ps, int np, hsi_solver *solver,
                  char *err, size_t errlen);

/* pca_data.c: preprocess.pca of the trainer's domains. */
int tr_pca_enabled(const hsi_experiment *x);
/* Domain d's PCA: taken from D->pca_from's tensors, or fitted (fit train: on the pixels where
 * train[i] != 0), checked against the net's band count, applied to its cube, kept in its pca. */
int tr_pca_domain(hsi_tr_data *D, int d, const hsi_experiment *x, const uint8_t *train,
                  char *err, size_t errlen);
/* The tensors of every domain's PCA (pca.<domain>.mean, .components, .scale) for a weights
 * file: their count (0: no PCA, -1: out of memory); *out and *names are freed by the caller. */
int tr_pca_tensors(const hsi_tr_data *D, hsi_st_tensor **out, char **names);
/* predict --scene: the PCA of the weights for a domain (p->k == 0: none), checked as above. */
int tr_pca_load_scene(const char *weights, const hsi_experiment *x, const char *domain,
                      int net_bands, hsi_pca *p, char *err, size_t errlen);

/* evaluate.c: the result files of one domain. */
/* Test metrics of domain d; with pred (h * w ints) the whole scene is classified too, in the same
 * pass. Whole scenes run the compiled scene program (BN folded once, pixels shared between
 * patches); a handful of test pixels, or a net without a scene program, run patch by patch. */
/* "warning: WHO: class 2 (x) has no test pixel: AA averages the other N of K classes" (one line
 * for every such class: "classes 2 (x), 5 (y) have"); nothing when every class has one. */
void tr_untested_classes(FILE *f, const char *who, const int64_t *test, int k,
                         const char *const *names);
int tr_test_metrics(const hsi_netdesc *net, hsi_model *m, hsi_backend be, int batch,
                    const hsi_tr_data *D, int d, int32_t *pred, hsi_metrics *out, char *err,
                    size_t errlen);
int tr_scene_predict(const hsi_netdesc *net, hsi_model *m, hsi_backend be, int batch,
                     const hsi_tr_data *D, int d, int32_t *pred, char *err, size_t errlen);
/* The same for rows [h part / parts, h (part + 1) / parts) of the scene only (one MPI rank's
 * share, hsi_infer_band); pred's other rows are left as they are. */
int tr_scene_predict_part(const hsi_netdesc *net, hsi_model *m, hsi_backend be, int batch,
                          const hsi_tr_data *D, int d, int part, int parts, int32_t *pred,
                          char *err, size_t errlen);
int tr_confusion_csv(const char *path, const hsi_metrics *mt, const char *const *names, char *err,
                     size_t errlen);
/* map_gt.png, map_pred.png and (test_only) map_test.png into dir. */
int tr_write_maps(const char *dir, const hsi_tr_domain *dm, const int32_t *pred, int test_only,
                  char *err, size_t errlen);

#endif
