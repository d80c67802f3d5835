/* loop.c — the training loop of the trainer: for every run, split, init (fine-tune loading),
 * phases (each with its domains, length and schedule), one solver step per iteration over the
 * summed domain losses, validation, model selection, early stopping, log.csv and progress, the
 * state file for --resume, and at the end the test evaluation, maps, curves, weights and
 * metrics.json (per run, then mean/std over runs).
 * Memory policy: everything a step touches is allocated before the first step (the model's
 * arena, the batchers' buffers, the solver's moments); a step allocates nothing. Test pixels are
 * read only by the final evaluation.
 * Under MPI (o->comm, docs/MPI.md) every rank draws the same global batches and trains on its
 * shard of each; gradients, losses and validation counts are summed over the ranks; rank 0
 * alone writes files, prints, and evaluates the test pixels.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hsi_eval.h"
#include "hsi_io.h"
#include "hsi_trainer.h"
#include "trainer_internal.h"

static _Atomic int g_stop;   /* SIGINT / SIGTERM / SIGHUP: finish the step, save, 130 */
static int g_caught;                    /* hsi_trainer_catch_stops: for the process's life */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* The stop signals: Ctrl-C, kill / Slurm / mpirun, and the terminal closing (an ssh session
 * that drops: the state is saved rather than lost since the last validation). */
static const int g_stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
enum { N_STOP_SIGNALS = sizeof g_stop_signals / sizeof *g_stop_signals };

static void catch_stops(struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < N_STOP_SIGNALS; i++)
        sigaction(g_stop_signals[i], &sa, old ? &old[i] : NULL);
}

static void release_stops(const struct sigaction *old)
{
    for (int i = 0; i < N_STOP_SIGNALS; i++) sigaction(g_stop_signals[i], &old[i], NULL);
}

/* A trainer process's stop requests are caught from its start to its exit: a SIGTERM while it
 * loads the data, or a second one (Slurm's and the job script's) after the state was saved,
 * ends it as a stop (exit 130, its message said) and not by the signal's default (143, nothing
 * said, and the job script then does not requeue). They are taken by a thread of their own
 * (hsi_signals_take): a handler run on the step's thread inside oneDNN's AVX-512 GEMM wrote
 * its frame over the heap (atomic.c); the handler stays for threads started before (MPI's). */
void hsi_trainer_catch_stops(void)
{
    if (g_caught) return;
    catch_stops(NULL);
    /* blocked where it was started (the mask is inherited across exec): a stop asked for
     * then, pending, arrives now, at the thread; with no thread, at the handler */
    if (hsi_signals_take(on_signal) != 0) {
        sigset_t set;
        sigemptyset(&set);
        for (int i = 0; i < N_STOP_SIGNALS; i++) sigaddset(&set, g_stop_signals[i]);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }
    g_caught = 1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static const char *const log_cols[TR_LOG_COLS] = {
    "step", "epoch", "phase", "lr", "train_loss", "val_loss", "val_oa", "samples_per_s", "elapsed"};

/* One run's results per domain, kept for the aggregate. */
typedef struct run_result {
    uint64_t seed;
    hsi_metrics *m;            /* [n_dom]; k == 0 where the domain has no test pixel */
    double train_seconds;
    int64_t samples;
    int finished_before;       /* read back from its metrics.json: nothing trained now */
} run_result;

/* Everything one run works with. */
typedef struct run_ctx {
    const hsi_train_opts *o;
    const hsi_experiment *x;
    const hsi_netdesc *net;
    hsi_tr_data *D;
    FILE *log;                 /* NULL when quiet */
    int r;
    char dir[4096];
    hsi_model *m;
    hsi_param *ps;
    int np;
    uint32_t *owners;
    float *scale;
    hsi_solver *solver;
    tr_state s;
    hsi_csv csv;
    hsi_progress pg;
    int use_pg;
    double wall0, wall_base;   /* elapsed = wall_base + now() - wall0 */
    int64_t saved_step;        /* step of the last state written, or -1 */
    const tr_dp *dp;           /* the ranks (one process: size 1) */
    int r0;                    /* 1 on the rank that writes (rank 0) */
    int mb;                    /* the model's batch: this rank's shard of train.batch */
} run_ctx;

/* ---- small helpers -------------------------------------------------------------------------- */

static void domain_dir(const run_ctx *c, int d, char *out, size_t n)
{
    if (c->D->n == 1)
        snprintf(out, n, "%s", c->dir);
    else
        snprintf(out, n, "%s/%s", c->dir, c->D->d[d].name);
}

static int64_t epoch_iters(const run_ctx *c, const hsi_exp_phase *P)
{
    int64_t best = 1, B = c->x->train.batch;
    for (int i = 0; i < P->n_domains; i++) {
        const hsi_tr_domain *dm = &c->D->d[P->domains[i]];
        if (!dm->batcher) continue;   /* no training pixels: run_phase says so */
        int64_t e = (hsi_batcher_epoch_size(dm->batcher) + B - 1) / B;
        best = e > best ? e : best;
    }
    return best;
}

static int64_t phase_iters(const run_ctx *c, const hsi_exp_phase *P)
{
    return P->iterations ? P->iterations : (int64_t)P->epochs * epoch_iters(c, P);
}

static int primary_domain(const hsi_experiment *x)
{
    return x->phases[x->n_phases - 1].domains[0];
}

static void copy_values(hsi_param *ps, int np, float *buf, int to_params)
{
    for (int i = 0; i < np; i++) {
        size_t n = sizeof(float) * (size_t)ps[i].numel;
        if (to_params) memcpy(ps[i].value, buf, n);
        else memcpy(buf, ps[i].value, n);
        buf += ps[i].numel;
    }
}

/* ---- validation ----------------------------------------------------------------------------- */

/* Mean over the active domains of their mean val loss; OA over all their val pixels. */
static int validate(run_ctx *c, const hsi_exp_phase *P, double *vloss, double *voa, char *err,
                    size_t errlen)
{
    double loss = 0, sums[3 * HSI_MAX_DOMAINS + 1] = {0};   /* + a rank that failed */
    int64_t correct = 0, total = 0;
    int nd = 0, failed = 0;
    for (int i = 0; i < P->n_domains && !failed; i++) {   /* each rank: its share of val pixels */
        const hsi_tr_domain *dm = &c->D->d[P->domains[i]];
        int64_t lo = dm->n_val * c->dp->rank / c->dp->size,
                hi = dm->n_val * (c->dp->rank + 1) / c->dp->size;
        if (hi == lo) continue;
        hsi_eval_req r = {&dm->cube, dm->y, dm->val + lo, hi - lo, c->D->patch, c->D->pad, dm->k,
                          NULL, NULL, 0, 0, 0};
        if (hsi_evaluate(c->net, c->m, dm->index, c->mb, &r, err, errlen)) {
            failed = 1;
            break;
        }
        sums[3 * i] = r.loss_sum;
        sums[3 * i + 1] = (double)r.correct;
        sums[3 * i + 2] = (double)r.n_labelled;
    }
    sums[3 * P->n_domains] = failed;
    tr_dp_sum(c->dp, sums, 3 * P->n_domains + 1);
    if (sums[3 * P->n_domains] > 0) {   /* every rank stops; the failed one says why */
        if (!failed && errlen) err[0] = 0;
        return -1;
    }
    for (int i = 0; i < P->n_domains; i++) {
        if (!c->D->d[P->domains[i]].n_val) continue;
        loss += sums[3 * i] / sums[3 * i + 2];
        correct += (int64_t)sums[3 * i + 1];
        total += (int64_t)sums[3 * i + 2];
        nd++;
    }
    *vloss = nd ? loss / nd : NAN;
    *voa = total ? (double)correct / (double)total : NAN;
    return 0;
}

static int better(hsi_select by, double v, double than)
{
    return by == HSI_SELECT_VAL_OA ? v > than : v < than;
}

/* ---- state ---------------------------------------------------------------------------------- */

static int save_state(run_ctx *c, char *err, size_t errlen)
{
    for (int d = 0; d < c->D->n; d++)
        if (c->D->d[d].batcher) hsi_batcher_get_state(c->D->d[d].batcher, &c->s.bst[d]);
    char path[4200];
    snprintf(path, sizeof path, "%s/state.safetensors", c->dir);
    if (c->r0 && tr_dp_rank0(c->dp, tr_state_save(path, &c->s, c->ps, c->np, c->solver, err,
                                                   errlen), err))
        return -1;
    c->saved_step = c->s.step;
    return 0;
}

/* ---- divergence guard ----------------------------------------------------------------------- */

/* The first parameter with a non-finite value, or NULL. */
static const char *nonfinite_param(const run_ctx *c)
{
    for (int i = 0; i < c->np; i++)
        for (int64_t k = 0; k < c->ps[i].numel; k++)
            if (!isfinite(c->ps[i].value[k])) return c->ps[i].name;
    return NULL;
}

/* A non-finite loss or weight ends the run at once: nothing more is written, so the state on
 * disk stays the last good one. Returns -1 with the message. */
static int diverged(const run_ctx *c, int ph, int64_t step, const char *what, char *err,
                    size_t errlen)
{
    char kept[4300];
    if (c->saved_step >= 0)
        snprintf(kept, sizeof kept, "the last good state (step %" PRId64 ") is kept in "
                 "%s/state.safetensors", c->saved_step, c->dir);
    else
        snprintf(kept, sizeof kept, "no state was written before it");
    /* a decay of lr * weight_decay >= 1 per step more than removes the weights (coupled: they
     * oscillate and grow once it passes 2): then it is the decay to lower, not only the lr */
    const double lr = c->x->phases[ph].schedule.base_lr, wd = c->x->solver.weight_decay;
    char hint[200] = "lower solver.lr or check the data";
    if (lr * wd >= 1)
        snprintf(hint, sizeof hint, "solver.weight_decay %g times the lr %g is %g, at least 1 (each "
                 "step takes more than the weights): lower solver.weight_decay", wd, lr, lr * wd);
    return tr_fail(err, errlen, "training diverged: %s at step %" PRId64 " (run %d, phase %d "
                   "'%s'); stopped, %s; %s", what, step, c->r, ph, c->x->phases[ph].name, kept,
                   hint);
}

/* The loaded state against the experiment (tr_state_load checked the file on its own): the
 * steps the phases allow, the selection and early-stopping values of its metrics, the plateau's
 * counters. */
static int check_state(const run_ctx *c, const char *path, char *err, size_t errlen)
{
    const tr_state *s = &c->s;
    const hsi_experiment *x = c->x;
    const hsi_exp_train *t = &x->train;
    int64_t most = s->phase_it;   /* early stopping ends phases sooner, never later */
    for (int p = 0; p < s->phase && p < x->n_phases; p++) most += phase_iters(c, &x->phases[p]);
    if (s->step > most)
        return tr_fail(err, errlen, "%s: bad training state: metadata 'step' is %" PRId64 ", but "
                       "the experiment's phases before phase %d and its iteration %" PRId64
                       " make at most %" PRId64 " steps", path, s->step, s->phase, s->phase_it,
                       most);
    const char *bad = NULL, *why = NULL;
    double v = 0, hi = 0;
    if (s->has_best && t->select == HSI_SELECT_VAL_OA && s->best > 1)
        bad = "best", v = s->best, hi = 1, why = "an OA, as train.select is val_oa";
    else if (!isnan(s->es_best) && t->stop_metric == HSI_SELECT_VAL_OA && s->es_best > 1)
        bad = "es_best", v = s->es_best, hi = 1, why = "an OA, as early_stopping.metric is val_oa";
    else if (s->es_bad > t->patience)
        bad = "es_bad", v = s->es_bad, hi = t->patience, why = "train.early_stopping.patience";
    if (bad)
        return tr_fail(err, errlen, "%s: bad training state: metadata '%s' is %.17g, more than "
                       "%.17g (%s)", path, bad, v, hi, why);
    if (s->phase < x->n_phases) {
        const hsi_schedule *sc = &x->phases[s->phase].schedule;
        if (sc->policy == HSI_LR_PLATEAU &&
            (s->plateau.bad > sc->patience || s->plateau.cooldown > sc->cooldown))
            return tr_fail(err, errlen, "%s: bad training state: metadata 'plateau' has bad %d "
                           "and cooldown %d, more than the schedule's patience %d or cooldown "
                           "%d", path, s->plateau.bad, s->plateau.cooldown, sc->patience,
                           sc->cooldown);
    }
    return 0;
}

/* Restores a saved state, rewrites log.csv from it; 1 if there was one, 0 if not, -1 error. */
static int load_state(run_ctx *c, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/state.safetensors", c->dir);
    if (!c->o->resume || !exists(path)) return 0;
    if (tr_state_load(path, &c->s, c->ps, c->np, c->solver, err, errlen)) return -1;
    /* the kernels split their sums by thread: another count continues, but not bit for bit */
    int now = hsi_threads_count();
    if (c->r0 && c->s.threads && now && c->s.threads != now)
        fprintf(stderr, "warning: %s was written by a training on %d thread%s, this one runs %d: it "
                "goes on, but not bit for bit as the uninterrupted run would (the kernels' sums "
                "are split by thread); OMP_NUM_THREADS=%d continues it exactly\n", path,
                c->s.threads, c->s.threads == 1 ? "" : "s", now, c->s.threads);
    c->s.threads = now;
    const hsi_experiment *x = c->x;
    if (c->s.phase > x->n_phases ||
        (c->s.phase < x->n_phases && c->s.phase_it > phase_iters(c, &x->phases[c->s.phase])))
        return tr_fail(err, errlen, "%s: bad training state: phase %d, iteration %" PRId64
                       ", but the experiment has %d phase(s)%s", path, c->s.phase, c->s.phase_it,
                       x->n_phases, c->s.phase < x->n_phases ? " and that phase is shorter" : "");
    if (check_state(c, path, err, errlen)) return -1;
    for (int d = 0; d < c->D->n; d++) {
        char e2[400];
        if (c->s.bst[d].step > (uint64_t)c->s.step)
            return tr_fail(err, errlen, "%s: bad training state: domain '%s' has had %" PRIu64
                           " batches, more than the state's %" PRId64 " steps", path,
                           c->D->d[d].name, c->s.bst[d].step, c->s.step);
        if (c->D->d[d].batcher &&
            hsi_batcher_set_state(c->D->d[d].batcher, &c->s.bst[d], e2, sizeof e2))
            return tr_fail(err, errlen, "%s: bad training state: domain '%s': %s", path,
                           c->D->d[d].name, e2);
    }
    if (c->s.log_rows) c->wall_base = c->s.log[(c->s.log_rows - 1) * TR_LOG_COLS + TR_LOG_ELAPSED];
    c->saved_step = c->s.step;
    if (c->log)
        fprintf(c->log, "run %d: resuming at step %" PRId64 " (phase %d, iteration %" PRId64 ")\n",
                c->r, c->s.step, c->s.phase, c->s.phase_it);
    return 1;
}

static int open_log(run_ctx *c, char *err, size_t errlen)
{
    if (!c->r0) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/log.csv", c->dir);
    if (unlink(path) && errno != ENOENT) return tr_fail(err, errlen, "%s: %s", path, strerror(errno));
    if (hsi_csv_open(&c->csv, path, log_cols, TR_LOG_COLS, err, errlen)) return -1;
    for (int i = 0; i < c->s.log_rows; i++)
        if (hsi_csv_row(&c->csv, c->s.log + (size_t)i * TR_LOG_COLS, err, errlen)) return -1;
    return 0;
}

/* ---- the phases ----------------------------------------------------------------------------- */

static int log_row(run_ctx *c, int ph, double epoch, float lr, double vloss, double voa, char *err,
                   size_t errlen)
{
    tr_state *s = &c->s;
    double row[TR_LOG_COLS];
    row[TR_LOG_STEP] = (double)s->step;
    row[TR_LOG_EPOCH] = epoch;
    row[TR_LOG_PHASE] = ph;
    row[TR_LOG_LR] = lr;
    row[TR_LOG_TRAIN_LOSS] = s->loss_n ? s->loss_sum / (double)s->loss_n : NAN;
    row[TR_LOG_VAL_LOSS] = vloss;
    row[TR_LOG_VAL_OA] = voa;
    row[TR_LOG_SPS] = s->row_seconds > 0 ? (double)s->row_samples / s->row_seconds : NAN;
    row[TR_LOG_ELAPSED] = c->wall_base + now() - c->wall0;
    s->loss_sum = 0;
    s->loss_n = 0;
    s->row_seconds = 0;
    s->row_samples = 0;
    if (tr_state_log_row(s, row)) return tr_fail(err, errlen, "out of memory");
    return c->r0 ? tr_dp_rank0(c->dp, hsi_csv_row(&c->csv, row, err, errlen), err) : 0;
}

/* After a validation: selection (best weights) and early stopping. Returns 1 to end the phase. */
static int select_and_stop(run_ctx *c, double vloss, double voa)
{
    tr_state *s = &c->s;
    const hsi_exp_train *t = &c->x->train;
    if (t->select != HSI_SELECT_LAST) {
        double v = t->select == HSI_SELECT_VAL_OA ? voa : vloss;
        if (!isnan(v) && (!s->has_best || better(t->select, v, s->best))) {
            copy_values(c->ps, c->np, s->best_values, 0);
            s->has_best = 1;
            s->best = v;
            s->best_step = s->step;
        }
    }
    if (!t->patience) return 0;
    double v = t->stop_metric == HSI_SELECT_VAL_OA ? voa : vloss;
    if (isnan(v)) return 0;
    if (isnan(s->es_best) || better(t->stop_metric, v, s->es_best)) {
        s->es_best = v;
        s->es_bad = 0;
        return 0;
    }
    return ++s->es_bad >= t->patience;
}

/* The rate of the phase's iteration s->phase_it (policy plateau: from the plateau's rate). */
static float step_lr(const hsi_schedule *sched, const tr_state *s)
{
    hsi_schedule t = *sched;
    if (t.policy == HSI_LR_PLATEAU) t.base_lr = s->plateau.lr;
    return hsi_schedule_lr(&t, s->phase_it);
}

/* Policy plateau, after a validation: the rate for the steps that follow. */
static void plateau_step(run_ctx *c, const hsi_schedule *sched, double vloss, double voa)
{
    if (sched->policy != HSI_LR_PLATEAU) return;
    double was = c->s.plateau.lr;
    if (hsi_plateau_step(&c->s.plateau, sched, sched->metric == HSI_PLATEAU_VAL_OA ? voa : vloss) &&
        c->use_pg)
        hsi_progress_note(&c->pg, "plateau: lr %g -> %g at step %" PRId64, was, c->s.plateau.lr,
                          c->s.step);
}

/* Returns 0 when the phase is done, 130 when stopped (state saved), -1 on error. */
static int run_phase(run_ctx *c, int ph, char *err, size_t errlen)
{
    const hsi_experiment *x = c->x;
    const hsi_exp_phase *P = &x->phases[ph];
    tr_state *s = &c->s;
    const int B = x->train.batch;
    hsi_batcher *bat[HSI_MAX_DOMAINS];
    float w[HSI_MAX_DOMAINS];
    size_t stride[HSI_MAX_DOMAINS];   /* floats per sample */
    size_t lstride[HSI_MAX_DOMAINS];  /* labels per sample: 1, or a label window's L * L */
    const tr_dp *dp = c->dp;
    for (int i = 0; i < P->n_domains; i++) {
        const hsi_tr_domain *dm = &c->D->d[P->domains[i]];
        const hsi_domain *nd = &c->net->domains[P->domains[i]];
        if (!dm->batcher)
            return tr_fail(err, errlen, "phase '%s': domain '%s' has no training pixels", P->name,
                           dm->name);
        bat[i] = dm->batcher;
        w[i] = x->domains[P->domains[i]].loss_weight;
        stride[i] = 1;
        for (int k = 0; k < nd->ndim; k++) stride[i] *= (size_t)nd->in_dims[k];
        lstride[i] = nd->label_patch ? (size_t)nd->label_patch * (size_t)nd->label_patch : 1;
    }
    /* a shard's mean loss weighs n / B of the global batch's: the summed gradients are the
     * gradients of the global batch's mean loss */
    const float share = (float)dp->n / (float)B;
    const int64_t ep = epoch_iters(c, P), iters = phase_iters(c, P);
    const int64_t val_iters = P->epochs ? (int64_t)x->train.val_every * ep : x->train.val_every;
    hsi_schedule sched = P->schedule;
    if ((sched.policy == HSI_LR_POLY || sched.policy == HSI_LR_COSINE) && !sched.max_iter)
        sched.max_iter = iters;
    hsi_trainer_lr_scales(x, ph, c->ps, c->np, c->owners, c->scale);
    hsi_solver_set_lr_scale(c->solver, c->scale);
    if (c->log && s->phase_it == 0 && x->n_phases > 1)
        hsi_progress_note(&c->pg, "phase %d '%s': %d domain(s), %" PRId64 " iterations", ph,
                          P->name, P->n_domains, iters);
    const int per_step = B * P->n_domains;
    if (s->phase_it == 0) hsi_plateau_init(&s->plateau, &sched);   /* per phase, as the count */
    char unused[400];   /* said once, by the first run: the others have the same schedule */
    if (c->r0 && c->r == 0 && s->phase_it == 0 && hsi_schedule_unused(&P->schedule, iters, unused,
                                                                       sizeof unused))
        fprintf(stderr, "warning: phase %d '%s': %s\n", ph, P->name, unused);
    float lr = step_lr(&sched, s);
    int clean = 0;   /* the last step left every gradient zero (hsi_solver_step_zero) */
    while (s->phase_it < iters) {
        double t0 = now();
        if (!clean) c->net->zero_grad(c->m);
        clean = 0;
        double loss = 0;
        for (int i = 0; i < P->n_domains; i++) {
            const hsi_batch *b = hsi_batcher_next(bat[i]);
            const float *bx = b->x + stride[i] * (size_t)dp->lo;
            const int32_t *by = (b->yw ? b->yw : b->y) + lstride[i] * (size_t)dp->lo;
            c->net->forward(c->m, P->domains[i], bx, dp->n, 1, (uint64_t)s->step);
            loss += (double)w[i] * share *
                    c->net->loss_backward(c->m, P->domains[i], by, dp->n, w[i] * share);
        }
        int stop = 0;     /* several ranks: a stop request as it was when the ranks agreed */
        if (dp->comm) {   /* with the stop request, so that every rank stops at the same step */
            double v[2] = {loss, g_stop};
            tr_dp_grads(dp, c->ps, c->np);
            tr_dp_sum(dp, v, 2);
            loss = v[0];
            stop = v[1] > 0;
        }
        if (!isfinite(loss)) {
            char what[64];
            snprintf(what, sizeof what, "the loss is %s", isnan(loss) ? "NaN" : loss > 0 ? "+Inf" : "-Inf");
            return diverged(c, ph, s->step + 1, what, err, errlen);
        }
        lr = step_lr(&sched, s);
        hsi_solver_step_zero(c->solver, lr);   /* and the next step's zero_grad */
        clean = 1;
        s->step++;
        /* the solver's own check of what it wrote (a full scan of the parameters took 0.6 ms
         * of the contextual CNN's 7 ms step), the scan when it has none or to name the tensor */
        const char *bad = hsi_solver_nonfinite(c->solver) == 0 ? NULL : nonfinite_param(c);
        if (bad) {
            char what[600];
            snprintf(what, sizeof what, "parameter '%.500s' is not finite", bad);
            return diverged(c, ph, s->step, what, err, errlen);
        }
        s->phase_it++;
        double dt = now() - t0;
        s->train_seconds += dt;
        s->row_seconds += dt;
        s->samples += per_step;
        s->row_samples += per_step;
        s->loss_sum += loss;
        s->loss_n++;
        if (c->use_pg) hsi_progress_step(&c->pg, s->step, (int)(s->phase_it / ep), loss);
        int end_phase = 0, saved = 0;
        if (s->phase_it % val_iters == 0 || s->phase_it == iters) {
            double vloss, voa;
            tr_dp_bcast_values(dp, c->ps, c->np);   /* rank 0's BN running statistics */
            if (validate(c, P, &vloss, &voa, err, errlen) ||
                log_row(c, ph, (double)s->phase_it / (double)ep, lr, vloss, voa, err, errlen))
                return -1;
            if (c->use_pg && (!isnan(vloss) || !isnan(voa)))
                hsi_progress_val(&c->pg, s->step, (int)(s->phase_it / ep), vloss, voa);
            end_phase = select_and_stop(c, vloss, voa);
            plateau_step(c, &sched, vloss, voa);
            if (save_state(c, err, errlen)) return -1;
            saved = 1;
        }
        if (!saved && c->o->state_every && s->step % c->o->state_every == 0 &&
            save_state(c, err, errlen))
            return -1;
        if ((dp->comm ? stop : g_stop) || (c->o->stop_after && s->step >= c->o->stop_after)) {
            if (!saved && save_state(c, err, errlen)) return -1;
            return 130;
        }
        if (end_phase) {
            if (c->use_pg)
                hsi_progress_note(&c->pg, "early stopping at step %" PRId64 " (%d validations "
                                  "without improvement)", s->step, s->es_bad);
            break;
        }
    }
    return 0;
}

static int train_phases(run_ctx *c, char *err, size_t errlen)
{
    tr_state *s = &c->s;
    const hsi_experiment *x = c->x;
    for (int ph = s->phase; ph < x->n_phases; ph++) {
        int rc = run_phase(c, ph, err, errlen);
        if (rc) return rc;
        s->phase = ph + 1;
        s->phase_it = 0;
        if (ph + 1 < x->n_phases) {   /* selection and early stopping start over per phase */
            s->has_best = 0;
            s->es_bad = 0;
            s->es_best = NAN;
        }
    }
    if (c->use_pg) hsi_progress_done(&c->pg);
    return save_state(c, err, errlen);
}

/* ---- results of a run ----------------------------------------------------------------------- */

static int write_curves(run_ctx *c, char *err, size_t errlen)
{
    int n = c->s.log_rows;
    if (!n) return 0;
    double *col = malloc(sizeof *col * (size_t)n * 4);
    if (!col) return tr_fail(err, errlen, "out of memory");
    double *st = col, *tl = col + n, *vl = col + 2 * n, *va = col + 3 * n;
    for (int i = 0; i < n; i++) {
        const double *row = c->s.log + (size_t)i * TR_LOG_COLS;
        st[i] = row[TR_LOG_STEP];
        tl[i] = row[TR_LOG_TRAIN_LOSS];
        vl[i] = row[TR_LOG_VAL_LOSS];
        va[i] = row[TR_LOG_VAL_OA];
    }
    hsi_series loss[2] = {{"train loss", st, tl, n}, {"val loss", st, vl, n}};
    hsi_series acc[1] = {{"val OA", st, va, n}};
    hsi_panel panels[2] = {{"loss", "step", "loss", loss, 2}, {"validation accuracy", "step", "OA", acc, 1}};
    char path[4200];
    snprintf(path, sizeof path, "%s/curves.png", c->dir);
    int rc = hsi_plot_write_png(path, panels, 2, 0, 0, err, errlen);
    free(col);
    return rc;
}

static int save_weights(run_ctx *c, const char *file, const char *which, char *err, size_t errlen)
{
    char path[4200], step[32];
    snprintf(path, sizeof path, "%s/%s", c->dir, file);
    snprintf(step, sizeof step, "%" PRId64, which[0] == 'b' && c->s.has_best ? c->s.best_step
                                                                                : c->s.step);
    hsi_st_meta meta[3] = {{"experiment", c->x->name}, {"weights", which}, {"step", step}};
    hsi_st_tensor *pca;   /* preprocess.pca goes with the weights (eval and predict apply it) */
    char *names;
    int npca = tr_pca_tensors(c->D, &pca, &names);
    int rc = npca < 0 ? tr_fail(err, errlen, "out of memory")
                      : tr_ckpt_save_weights_extra(path, c->net, c->ps, c->np, pca, npca, meta, 3,
                                                   err, errlen);
    free(pca);
    free(names);
    return rc;
}

/* Weights, test metrics, maps, curves and metrics.json of a trained run. */
static int finish_run(run_ctx *c, run_result *res, char *err, size_t errlen)
{
    const hsi_experiment *x = c->x;
    hsi_ckpt_keep keep = x->outputs.checkpoints;
    if ((keep == HSI_CKPT_LAST || keep == HSI_CKPT_BOTH) && save_weights(c, "last.safetensors", "last", err, errlen))
        return -1;
    /* the selection asked for needs a validation that gave a finite value: with none (masks
     * without validation pixels, no validation before the end, every loss NaN) the last step's
     * weights are kept, and said so (metrics.json's "select" is what was done) */
    hsi_select sel = c->s.has_best ? x->train.select : HSI_SELECT_LAST;
    if (sel != HSI_SELECT_LAST) copy_values(c->ps, c->np, c->s.best_values, 1);
    else if (x->train.select != HSI_SELECT_LAST)
        fprintf(stderr, "warning: run %d: train.select is %s, but no validation gave a value "
                "(no validation pixels, or none before the end): the last step's weights are "
                "kept\n", c->r, hsi_select_names[x->train.select]);
    if ((keep == HSI_CKPT_BEST || keep == HSI_CKPT_BOTH) && save_weights(c, "best.safetensors", "best", err, errlen))
        return -1;
    hsi_json j;
    hsi_json_init(&j);
    hsi_json_begin_object(&j);
    hsi_json_key(&j, "run"); hsi_json_int(&j, c->r);
    hsi_json_key(&j, "seed"); hsi_json_int(&j, (int64_t)c->s.seed);
    hsi_json_key(&j, "steps"); hsi_json_int(&j, c->s.step);
    hsi_json_key(&j, "select"); hsi_json_string(&j, hsi_select_names[sel]);
    if (sel != x->train.select) {
        hsi_json_key(&j, "select_asked");
        hsi_json_string(&j, hsi_select_names[x->train.select]);
    }
    hsi_json_key(&j, "selected_step");
    hsi_json_int(&j, sel != HSI_SELECT_LAST ? c->s.best_step : c->s.step);
    hsi_json_key(&j, "train_seconds"); hsi_json_double(&j, c->s.train_seconds);
    hsi_json_key(&j, "train_samples"); hsi_json_int(&j, c->s.samples);
    hsi_json_key(&j, "samples_per_s");
    hsi_json_double(&j, c->s.train_seconds > 0 ? (double)c->s.samples / c->s.train_seconds : NAN);
    int prim = primary_domain(x), rc = 0;
    hsi_json_key(&j, "domain"); hsi_json_string(&j, c->D->d[prim].name);
    int32_t *pred = NULL;
    for (int d = 0; d < c->D->n && rc == 0; d++) {
        const hsi_tr_domain *dm = &c->D->d[d];
        char dir[4200], path[4300];
        domain_dir(c, d, dir, sizeof dir);
        if (!dm->n_test) continue;
        if (x->outputs.maps) {
            free(pred);
            if (!(pred = malloc(sizeof *pred * (size_t)dm->h * (size_t)dm->w))) {
                rc = tr_fail(err, errlen, "out of memory");
                break;
            }
        }
        if ((rc = tr_test_metrics(c->net, c->m, x->backend, c->mb, c->D, d,
                                  x->outputs.maps ? pred : NULL, &res->m[d], err, errlen)))
            break;
        snprintf(path, sizeof path, "%s/confusion.csv", dir);
        if ((rc = tr_confusion_csv(path, &res->m[d], dm->class_names, err, errlen))) break;
        if (x->outputs.maps && (rc = tr_write_maps(dir, dm, pred, 1, err, errlen))) break;
    }
    free(pred);
    if (rc == 0 && res->m[prim].k) {
        hsi_json_key(&j, "oa"); hsi_json_double(&j, res->m[prim].oa);
        hsi_json_key(&j, "aa"); hsi_json_double(&j, res->m[prim].aa);
        hsi_json_key(&j, "kappa"); hsi_json_double(&j, res->m[prim].kappa);
    }
    hsi_json_key(&j, "domains");
    hsi_json_begin_object(&j);
    for (int d = 0; d < c->D->n && rc == 0; d++) {
        if (!res->m[d].k) continue;
        hsi_json_key(&j, c->D->d[d].name);
        hsi_metrics_json(&j, &res->m[d], c->D->d[d].class_names);
    }
    hsi_json_end_object(&j);
    hsi_json_end_object(&j);
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.json", c->dir);
    if (rc == 0 && x->outputs.curves) rc = write_curves(c, err, errlen);
    if (rc == 0) rc = hsi_json_write_file(&j, path, err, errlen);
    hsi_json_free(&j);
    res->train_seconds = c->s.train_seconds;
    res->samples = c->s.samples;
    return rc;
}

/* A finished run (metrics.json present) read back for the aggregate. 1 if found. */
static int load_finished(const run_ctx *c, run_result *res, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.json", c->dir);
    if (!c->o->resume || !exists(path)) return 0;
    FILE *f = hsi_open_input(path, err, errlen);
    if (!f) return -1;
    char *text = NULL;
    size_t len = 0, cap = 0, k;
    char buf[65536];
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (len + k + 1 > cap) {
            cap = 2 * (len + k + 1);
            char *t = realloc(text, cap);
            if (!t) break;
            text = t;
        }
        memcpy(text + len, buf, k);
        len += k;
    }
    fclose(f);
    hsi_jval *v = text ? hsi_json_parse(text, len, err, errlen) : NULL;
    free(text);
    if (!v) return tr_fail(err, errlen, "%s: cannot read it back; remove the run folder to redo "
                           "the run", path);
    int rc = 1;
    const hsi_jval *doms = hsi_jval_get(v, "domains"), *ts = hsi_jval_get(v, "train_seconds"),
                   *sm = hsi_jval_get(v, "train_samples");
    res->train_seconds = ts && ts->type == HSI_JNUMBER ? ts->num : 0;
    res->samples = sm && sm->type == HSI_JNUMBER ? (int64_t)sm->num : 0;
    for (int d = 0; d < c->D->n && rc == 1; d++) {
        const hsi_jval *cm = hsi_jval_get(hsi_jval_get(doms, c->D->d[d].name), "confusion");
        if (!cm) continue;
        int K = c->D->d[d].k;
        int64_t *m = calloc((size_t)K * (size_t)K, sizeof *m);
        if (!m || cm->type != HSI_JARRAY || (int)cm->n != K) {
            free(m);
            rc = tr_fail(err, errlen, "%s: bad confusion matrix of domain '%s'", path,
                         c->D->d[d].name);
            break;
        }
        for (int t = 0; t < K; t++)
            for (int p = 0; p < K && (int)cm->items[t].n == K; p++)
                m[t * K + p] = (int64_t)cm->items[t].items[p].num;
        if (hsi_metrics_compute(m, K, &res->m[d])) rc = tr_fail(err, errlen, "out of memory");
        free(m);
    }
    hsi_jval_free(v);
    if (rc == 1 && c->log) fprintf(c->log, "run %d: already finished (%s)\n", c->r, path);
    return rc;
}

/* ---- one run -------------------------------------------------------------------------------- */

/* A split that trains no pixel of a class, tests none of a class, or tests none at all, is said
 * (even with --quiet): the run still goes on, its metrics say less than they seem to (AA leaves
 * a class without test pixels out). */
static void split_warnings(const run_ctx *c, int d)
{
    const hsi_tr_domain *dm = &c->D->d[d];
    const hsi_split *sp = &dm->split;
    int64_t *per = calloc(3 * ((size_t)dm->k + 1), sizeof *per), *test = per ? per + dm->k + 1 : NULL;
    int64_t *all = per ? test + dm->k + 1 : NULL;
    for (int64_t i = 0; per && i < (int64_t)sp->h * sp->w; i++) {
        if (dm->y[i] >= 0) all[dm->y[i]]++;
        if (dm->y[i] >= 0 && (sp->mask[i] == HSI_MASK_TRAIN || sp->mask[i] == HSI_MASK_TEST))
            (sp->mask[i] == HSI_MASK_TRAIN ? per : test)[dm->y[i]]++;
    }
    /* a count takes at most half a class (hsi_split_opts): said, once, where that is fewer */
    const hsi_exp_split *xs = &c->x->split;
    if (per && c->r == 0 && !xs->masks && xs->rule == HSI_EXP_SPLIT_RANDOM && !xs->spatial_blocks &&
        !xs->train.is_fraction) {
        char list[1200] = "";
        size_t len = 0;
        int n = 0;
        for (int k = 0; k < dm->k; k++)
            if (all[k] && per[k] < xs->train.count && len < sizeof list)
                len += (size_t)snprintf(list + len, sizeof list - len, "%sclass %d (%s) %" PRId64
                                        " of %" PRId64, n++ ? ", " : "", k, dm->class_names[k],
                                        per[k], all[k]);
        if (n)
            fprintf(stderr, "warning: domain '%s': split.train is %" PRId64 " per class, more than "
                    "half of %d class%s, which train%s on half (at most half a class goes to "
                    "training, so that it keeps test pixels): %s\n", dm->name, xs->train.count, n,
                    n == 1 ? "" : "es", n == 1 ? "s" : "", list);
    }
    for (int k = 0; per && k < dm->k; k++)
        if (!per[k])
            fprintf(stderr, "warning: run %d, domain '%s': class %d (%s) has no training pixel: "
                    "the net never sees it\n", c->r, dm->name, k, dm->class_names[k]);
    char who[300];
    snprintf(who, sizeof who, "run %d, domain '%s'", c->r, dm->name);
    if (per && sp->n_test) tr_untested_classes(stderr, who, test, dm->k, dm->class_names);
    free(per);
    /* split.train: all (pre-training) leaves none by design: said for every domain, it was noise */
    const hsi_amount *tr = &c->x->split.train;
    if (!sp->n_test && !(tr->is_fraction && tr->fraction >= 1.0))
        fprintf(stderr, "warning: run %d, domain '%s': the split leaves no test pixel: it is not "
                "evaluated\n", c->r, dm->name);
}

static int write_masks(run_ctx *c, char *err, size_t errlen)
{
    if (!c->r0) return 0;
    for (int d = 0; d < c->D->n; d++) {
        char dir[4200], path[4300];
        domain_dir(c, d, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/masks.npy", dir);
        if (tr_dp_rank0(c->dp, hsi_mkdirs(dir, err, errlen) ||
                                   hsi_split_save(&c->D->d[d].split, path, err, errlen), err))
            return -1;
        split_warnings(c, d);
        int64_t ov = hsi_split_overlap_warning(&c->D->d[d].split, c->D->patch);
        if (ov && c->log)
            fprintf(c->log, "warning: domain '%s': %" PRId64 " test pixels lie inside the %dx%d "
                    "patch of a training pixel (their patches overlap training data)\n",
                    c->D->d[d].name, ov, c->D->patch, c->D->patch);
    }
    return 0;
}

static int setup_run(run_ctx *c, char *err, size_t errlen)
{
    const hsi_experiment *x = c->x;
    uint64_t seed = c->s.seed;
    c->s.experiment = tr_experiment_hash(x);
    if (hsi_tr_data_split(c->D, x, seed, NULL, err, errlen) || write_masks(c, err, errlen) ||
        hsi_tr_data_batchers(c->D, x, seed, err, errlen))
        return -1;
    hsi_model_opts mo = {c->mb, x->backend, seed};
    char e2[512];
    if (!(c->m = c->net->create(&mo, e2, sizeof e2)))
        return tr_fail(err, errlen, "cannot create the net: %s", e2);
    c->np = c->net->params(c->m, &c->ps);
    int64_t total = 0;
    for (int i = 0; i < c->np; i++) total += c->ps[i].numel;
    c->owners = calloc((size_t)c->np + 1, sizeof *c->owners);
    c->scale = calloc((size_t)c->np + 1, sizeof *c->scale);
    c->s.n_dom = c->D->n;
    c->s.bst = calloc((size_t)c->D->n, sizeof *c->s.bst);
    c->s.best_values = malloc(sizeof(float) * (size_t)(total + 1));
    c->s.es_best = NAN;
    if (!c->owners || !c->scale || !c->s.bst || !c->s.best_values)
        return tr_fail(err, errlen, "out of memory");
    if (hsi_trainer_param_owners(c->net, c->m, c->mb, c->owners, err, errlen) ||
        hsi_trainer_init_params(x, c->ps, c->np, seed, c->log, err, errlen))
        return -1;
    if (!(c->solver = hsi_solver_create(&x->solver, c->ps, c->np, NULL, err, errlen))) return -1;
    c->s.ranks = c->dp->size;
    c->s.backend = (int)x->backend;
    c->s.threads = hsi_threads_count();
    int rc = load_state(c, err, errlen);
    if (rc < 0 || open_log(c, err, errlen)) return -1;
    return 0;
}

static void free_run(run_ctx *c)
{
    hsi_csv_close(&c->csv);
    hsi_solver_free(c->solver);
    if (c->m) c->net->destroy(c->m);
    free(c->owners);
    free(c->scale);
    tr_state_free(&c->s);
}

static int64_t total_steps(run_ctx *c)
{
    int64_t t = 0;
    for (int ph = 0; ph < c->x->n_phases; ph++) t += phase_iters(c, &c->x->phases[ph]);
    return t;
}

/* The note "memory: ..." of a run's start: the scenes as kept (16-bit samples or floats), the
 * model's activation arena and the backend's shared buffers, in MB. */
static void memory_note(run_ctx *c)
{
    size_t cube = 0;
    int compact = 0, floats = 0;
    for (int d = 0; d < c->D->n; d++) {
        const hsi_tr_domain *dm = &c->D->d[d];
        size_t n = (size_t)dm->cube.bands * (size_t)dm->h * (size_t)dm->w;
        cube += (dm->cube.s16 ? 2 : 4) * n + (dm->raw.data ? 4 * n : 0);
        compact += dm->cube.s16 != NULL;
        floats += dm->cube.s16 == NULL;
    }
    hsi_memory_report r = {0};
    if (c->net->memory) c->net->memory(c->m, &r);
    hsi_progress_note(&c->pg, "memory: scene %.1f MB (%s), activation arena %.1f MB, backend "
                      "buffers %.1f MB", (double)cube / 1e6,
                      !floats ? "16-bit samples" : compact ? "16-bit samples and floats" : "floats",
                      (double)r.activations_arena / 1e6, (double)r.workspace / 1e6);
}

static int run_one(run_ctx *c, run_result *res, char *err, size_t errlen)
{
    c->s.seed = res->seed;
    int rc = load_finished(c, res, err, errlen);
    if (tr_dp_agree(c->dp, rc < 0, err, errlen)) return -1;
    res->finished_before = rc == 1;
    if (rc) return 0;
    if (c->r0 && tr_dp_rank0(c->dp, hsi_mkdirs(c->dir, err, errlen), err)) return -1;
    c->wall0 = now();
    if (tr_dp_agree(c->dp, setup_run(c, err, errlen), err, errlen)) return -1;
    c->use_pg = c->log != NULL;
    if (c->use_pg) {
        int64_t tot = total_steps(c);
        hsi_progress_init(&c->pg, stderr, tot, 0, c->x->train.batch, (int)(tot / 20 > 0 ? tot / 20 : 1));
        hsi_progress_resume(&c->pg, c->s.step);   /* the first line's samples/s: this run's steps */
        if (c->r == 0 && hsi_threads_note()) hsi_progress_note(&c->pg, "threads: %s", hsi_threads_note());
        if (c->r == 0 && c->D->n > 0 && c->D->d[0].batcher)
            hsi_progress_note(&c->pg, "batches: %s",
                              hsi_batcher_prefetching(c->D->d[0].batcher)
                                  ? "made on a thread of their own during the step"
                                  : "made on the step's threads (no CPU to spare for their own)");
        if (c->r == 0) memory_note(c);
        hsi_progress_note(&c->pg, "run %d/%d (seed %" PRIu64 "): %s", c->r + 1, c->x->runs.count,
                          res->seed, c->dir);
    }
    rc = train_phases(c, err, errlen);
    if (rc) return rc;
    tr_dp_bcast_values(c->dp, c->ps, c->np);
    /* the test pixels and every result file: rank 0 (the others go on to the next run) */
    return c->r0 ? tr_dp_rank0(c->dp, finish_run(c, res, err, errlen), err) : 0;
}

/* ---- all runs ------------------------------------------------------------------------------- */

/* A decoupled weight decay (AdamW: w *= 1 - lr * weight_decay before the step) with
 * lr * weight_decay >= 1 zeroes or flips every weight at each step: nothing diverges (the
 * weights stay finite), so diverged()'s hint never says it. Warned once, at the first phase whose lr (its peak:
 * the base lr, or the last step's of a schedule that grows, gamma > 1) reaches it. */
static void decay_warning(const hsi_experiment *x)
{
    const double wd = x->solver.weight_decay;
    if (x->solver.type != HSI_SOLVER_ADAMW || !(wd > 0)) return;
    for (int ph = 0; ph < x->n_phases; ph++) {
        const hsi_exp_phase *P = &x->phases[ph];
        const hsi_schedule *S = &P->schedule;
        double peak = S->base_lr;
        int grows = S->gamma > 1 && (S->policy == HSI_LR_STEP || S->policy == HSI_LR_MULTISTEP ||
                                     S->policy == HSI_LR_EXP);
        if (grows && P->iterations > 0) {
            double last = hsi_schedule_lr(S, P->iterations - 1);
            peak = last > peak ? last : peak;
        }
        if (!(peak * wd >= 1)) continue;   /* grows over epochs: unknown here, not guessed */
        char lr[160];
        if (!x->phases_given)
            snprintf(lr, sizeof lr, "solver.lr %g", S->base_lr);
        else
            snprintf(lr, sizeof lr, "the lr %g of phase '%s'", S->base_lr, P->name);
        if (peak > S->base_lr) {
            size_t k = strlen(lr);
            snprintf(lr + k, sizeof lr - k, ", which schedule.gamma %g raises to %g by the last step", S->gamma, peak);
        }
        fprintf(stderr, "warning: solver.type adamw decays every weight by lr x weight_decay at "
                "each step, decoupled from the gradient: %s times solver.weight_decay %g is %g, at "
                "least 1, which multiplies every weight by %g before each step's update (at 0 only "
                "that update is left; below 0 the weights change sign); lower "
                "solver.weight_decay or the lr\n", lr, wd, peak * wd, 1 - peak * wd);
        return;
    }
}

/* The memory train.batch decides, checked before anything is written: per domain two prefetched
 * batches and an evaluation batch of bands x patch x patch floats, and the net's activation
 * arena for this rank's shard (the net is made here to know it, its arena only mapped, and
 * freed). A batch past the memory there is was an "out of memory" after the
 * output folder was filled, or the OOM killer. 0, or 1 with the message. */
static int batch_memory(const hsi_train_opts *o, const hsi_tr_data *D, int mb, uint64_t seed,
                        char *err, size_t errlen)
{
    const hsi_experiment *x = o->x;
    char what[600], e2[1200];
    int k = snprintf(what, sizeof what, "%s: key 'train.batch' (%d): ",
                     hsi_experiment_batch_where(x), x->train.batch);
    snprintf(what + k, sizeof what - k, "its batches of %s%d x %d patches",
             D->n > 1 ? "bands x " : "", D->patch, D->patch);
    if (D->n == 1)
        snprintf(what + k, sizeof what - k, "its batches of %d x %d x %d patches",
                 D->d[0].cube.bands, D->patch, D->patch);
    int64_t need = 0;
    for (int d = 0; d < D->n; d++) {
        int64_t b = D->d[d].cube.bands;
        hsi_mem_mul(&b, D->patch);
        hsi_mem_mul(&b, D->patch);
        hsi_mem_mul(&b, 3 * (int64_t)sizeof(float));
        hsi_mem_mul(&b, x->train.batch);
        hsi_mem_add(&need, b);
    }
    if (hsi_mem_check(need, 0, what, e2, sizeof e2)) return tr_fail(err, errlen, "%s", e2);
    hsi_model_opts mo = {mb, x->backend, seed};
    what[k] = 0;
    hsi_model *m = o->net->create(&mo, e2, sizeof e2);
    if (!m) return tr_fail(err, errlen, "%scannot create the net: %s", what, e2);
    snprintf(what + k, sizeof what - k, "its batches and the net's activations for them");
    hsi_memory_report r = {0};
    if (o->net->memory) o->net->memory(m, &r);
    /* the arena is only mapped and the backend's buffers are held: both count */
    int64_t arena = r.activations_arena <= (size_t)INT64_MAX / 2 ? (int64_t)r.activations_arena : -1;
    hsi_mem_add(&need, arena);
    int bad = hsi_mem_check(need, arena, what, e2, sizeof e2);
    o->net->destroy(m);   /* each run makes its own (a net made here trained other numbers) */
    if (bad)
        return tr_fail(err, errlen, "%s; the activations take %.1f MB, the batches %.1f MB", e2,
                       (double)arena / 1e6, (double)(need - arena) / 1e6);
    return 0;
}

/* Prints the summary and, with write_file, writes it as metrics.json. */
static int write_summary(const hsi_train_opts *o, const hsi_tr_data *D, run_result *res, int runs,
                         double wall, int write_file, char *err, size_t errlen)
{
    const hsi_experiment *x = o->x;
    int prim = primary_domain(x), rc = 0;
    double secs = 0;
    int64_t samples = 0;
    for (int r = 0; r < runs; r++) {
        secs += res[r].train_seconds;
        samples += res[r].samples;
    }
    hsi_json j;
    hsi_json_init(&j);
    hsi_json_begin_object(&j);
    hsi_json_key(&j, "experiment"); hsi_json_string(&j, x->name);
    hsi_json_key(&j, "net"); hsi_json_string(&j, o->net->name);
    hsi_json_key(&j, "domain"); hsi_json_string(&j, D->d[prim].name);
    hsi_json_key(&j, "n_runs"); hsi_json_int(&j, runs);
    hsi_json_key(&j, "wall_seconds"); hsi_json_double(&j, wall);
    hsi_json_key(&j, "train_samples_per_s"); hsi_json_double(&j, secs > 0 ? samples / secs : NAN);
    hsi_metrics_agg *agg = calloc((size_t)D->n, sizeof *agg);
    hsi_metrics *col = calloc((size_t)runs, sizeof *col);
    if (!agg || !col) rc = tr_fail(err, errlen, "out of memory");
    for (int d = 0; d < D->n && rc == 0; d++) {
        if (!res[0].m[d].k) continue;
        for (int r = 0; r < runs; r++) col[r] = res[r].m[d];
        if (hsi_metrics_aggregate(col, runs, &agg[d])) rc = tr_fail(err, errlen, "out of memory");
    }
    if (rc == 0 && agg[prim].k) {
        const hsi_metrics_agg *a = &agg[prim];
        hsi_json_key(&j, "oa"); hsi_json_double(&j, a->oa.mean);
        hsi_json_key(&j, "aa"); hsi_json_double(&j, a->aa.mean);
        hsi_json_key(&j, "kappa"); hsi_json_double(&j, a->kappa.mean);
        const char *keys[2] = {"mean", "std"};
        for (int w = 0; w < 2; w++) {
            hsi_json_key(&j, keys[w]);
            hsi_json_begin_object(&j);
            hsi_json_key(&j, "oa"); hsi_json_double(&j, w ? a->oa.std : a->oa.mean);
            hsi_json_key(&j, "aa"); hsi_json_double(&j, w ? a->aa.std : a->aa.mean);
            hsi_json_key(&j, "kappa"); hsi_json_double(&j, w ? a->kappa.std : a->kappa.mean);
            hsi_json_end_object(&j);
        }
        hsi_json_key(&j, "runs");
        hsi_json_begin_array(&j);
        for (int r = 0; r < runs; r++) {
            hsi_json_begin_object(&j);
            hsi_json_key(&j, "run"); hsi_json_int(&j, r);
            hsi_json_key(&j, "seed"); hsi_json_int(&j, (int64_t)res[r].seed);
            hsi_json_key(&j, "oa"); hsi_json_double(&j, res[r].m[prim].oa);
            hsi_json_key(&j, "aa"); hsi_json_double(&j, res[r].m[prim].aa);
            hsi_json_key(&j, "kappa"); hsi_json_double(&j, res[r].m[prim].kappa);
            hsi_json_key(&j, "train_seconds"); hsi_json_double(&j, res[r].train_seconds);
            hsi_json_end_object(&j);
        }
        hsi_json_end_array(&j);
    }
    hsi_json_key(&j, "domains");
    hsi_json_begin_object(&j);
    for (int d = 0; d < D->n && rc == 0; d++) {
        if (!agg[d].k) continue;
        hsi_json_key(&j, D->d[d].name);
        hsi_metrics_agg_json(&j, &agg[d], D->d[d].class_names);
    }
    hsi_json_end_object(&j);
    hsi_json_end_object(&j);
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.json", o->out_dir);
    if (rc == 0 && write_file) rc = hsi_json_write_file(&j, path, err, errlen);
    hsi_json_free(&j);
    for (int d = 0; d < D->n && rc == 0; d++) {
        const hsi_metrics_agg *a = &agg[d];
        if (!a->k) continue;
        if (runs > 1)
            printf("%s: OA %.4f ± %.4f  AA %.4f ± %.4f  kappa %.4f ± %.4f  (%d runs)\n",
                   D->d[d].name, a->oa.mean, a->oa.std, a->aa.mean, a->aa.std, a->kappa.mean,
                   a->kappa.std, runs);
        else
            printf("%s: OA %.4f  AA %.4f  kappa %.4f  (1 run)\n", D->d[d].name, a->oa.mean,
                   a->aa.mean, a->kappa.mean);
    }
    if (rc == 0)
        printf("wall time %.1f s, training %.0f samples/s; results in %s\n", wall,
               secs > 0 ? samples / secs : 0.0, o->out_dir);
    for (int d = 0; d < D->n && agg; d++) hsi_metrics_agg_free(&agg[d]);
    free(agg);
    free(col);
    return rc;
}

int hsi_trainer_train(const hsi_train_opts *o, char *err, size_t errlen)
{
    double wall0 = now();
    const hsi_experiment *x = o->x;
    tr_dp dp;
    if (tr_dp_init(&dp, o->comm, x->train.batch, x->train.bn_sync, err, errlen)) return 1;
    const int r0 = dp.rank == 0;
    FILE *log = o->quiet || !r0 ? NULL : stderr;
    hsi_trainer_env env = o->env;
    env.log = r0 ? stderr : NULL;   /* what the data holds (nodata, non-finite values, a file
                                     * longer than its header) is said with --quiet too, as the
                                     * split's warnings are */
    hsi_tr_data D;
    memset(&D, 0, sizeof D);
    /* stops: caught for the process's life (hsi_trainer_catch_stops, the trainer's CLI), else
     * from here to the return (a caller of the library keeps its own handlers after) */
    struct sigaction old_stops[N_STOP_SIGNALS];
    const int own = !g_caught;
    if (own) {
        g_stop = 0;
        catch_stops(old_stops);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/experiment.yaml", o->out_dir);
    /* rank 0 first: a dataset it copies from the mirror or downloads is then there for all */
    int bad = r0 && hsi_tr_data_load(&D, x, o->net, &env, err, errlen);
    if (!tr_dp_agree(&dp, bad, err, errlen))
        bad = !r0 && hsi_tr_data_load(&D, x, o->net, &env, err, errlen);
    if (!bad) bad = batch_memory(o, &D, dp.n, hsi_experiment_run_seed(x, 0), err, errlen);
    /* the results of every run, kept for the summary: before the output folder, as the batch
     * (runs: 100000000 spent 20 s in 10^8 allocations after experiment.yaml was written) */
    int runs = x->runs.count, rc = 0;
    run_result *res = NULL;
    if (!bad) {
        int64_t need = runs;
        hsi_mem_mul(&need, (int64_t)(sizeof *res + sizeof *res->m * (size_t)D.n));
        char what[600];
        snprintf(what, sizeof what, "the results of %d runs (runs.count, --runs)", runs);
        bad = hsi_mem_check(need, 0, what, err, errlen);
    }
    if (!bad) {
        res = calloc((size_t)runs, sizeof *res);
        for (int r = 0; res && r < runs; r++)
            if (!(res[r].m = calloc((size_t)D.n, sizeof *res[r].m))) bad = 1;
        if (!res || bad) {
            snprintf(err, errlen, "out of memory for the results of %d runs (runs.count, --runs)", runs);
            bad = 1;
        }
    }
    if (tr_dp_agree(&dp, bad, err, errlen) ||
        (r0 && tr_dp_rank0(&dp, hsi_mkdirs(o->out_dir, err, errlen) ||
                                    hsi_experiment_write(x, path, err, errlen), err))) {
        for (int r = 0; res && r < runs; r++) free(res[r].m);
        free(res);
        hsi_tr_data_free(&D);
        tr_dp_done(&dp);
        if (own) release_stops(old_stops);
        return 1;
    }
    /* the 8 flips and transposes of a 1 x 1 patch are itself: the augmentation does nothing
     * (dihedral_x8: every pixel 8 times, an epoch 8 times as long with nothing new) */
    if (r0 && x->augment != HSI_EXP_AUG_NONE && D.patch == 1)
        fprintf(stderr, "warning: augment is %s, but the patch is 1 x 1, which every flip and "
                "transpose leaves as it is: it %s; use augment: none\n",
                x->augment == HSI_EXP_AUG_DIHEDRAL ? "dihedral" : "dihedral_x8",
                x->augment == HSI_EXP_AUG_DIHEDRAL ? "changes nothing"
                                                   : "repeats each pixel 8 times per epoch");
    if (r0) decay_warning(x);
    /* a stop asked for while the data loaded: before the first step (the ranks agree) */
    double stop0 = dp.comm ? tr_dp_sum1(&dp, g_stop) : g_stop;
    if (rc == 0 && stop0 > 0) {
        snprintf(err, errlen, "stopped before the training started; nothing changed: continue "
                 "with: train --resume %s", o->out_dir);
        rc = 130;
    }
    for (int r = 0; r < runs && rc == 0; r++) {
        run_ctx c;
        memset(&c, 0, sizeof c);
        c.o = o;
        c.x = x;
        c.net = o->net;
        c.D = &D;
        c.log = log;
        c.r = r;
        c.saved_step = -1;
        c.dp = &dp;
        c.r0 = r0;
        c.mb = dp.n;
        snprintf(c.dir, sizeof c.dir, "%s/run%d", o->out_dir, r);
        res[r].seed = hsi_experiment_run_seed(x, r);
        int k = run_one(&c, &res[r], err, errlen);
        int64_t step = c.s.step;
        free_run(&c);
        if (k == 130) {
            snprintf(err, errlen, "stopped at step %" PRId64 " of run %d; the state is saved: "
                     "continue with: train --resume %s", step, r, o->out_dir);
            rc = 130;
        } else if (k) {
            rc = 1;
        }
    }
    /* every run finished before this (a resumed finished training): its metrics.json, with the
     * wall time of the training, stays as it is */
    int trained = 0;
    for (int r = 0; res && r < runs; r++) trained |= !res[r].finished_before;
    snprintf(path, sizeof path, "%s/metrics.json", o->out_dir);
    int keep = !trained && exists(path);
    if (rc == 0 && r0 && write_summary(o, &D, res, runs, now() - wall0, !keep, err, errlen))
        rc = tr_dp_rank0(&dp, 1, err);
    for (int r = 0; res && r < runs; r++) {
        for (int d = 0; d < D.n && res[r].m; d++) hsi_metrics_free(&res[r].m[d]);
        free(res[r].m);
    }
    free(res);
    hsi_tr_data_free(&D);
    tr_dp_done(&dp);
    if (own) release_stops(old_stops);
    return rc;
}
