/* cli.c — the command line of every trainer: train | eval | predict | forward | grad, their
 * options, loading the experiment (embedded, --experiment, or a resumed run's), and the four
 * commands that use saved weights. Training itself is loop.c.
 * Exit status: 0 ok, 1 input error (one message), 2 usage, 130 stopped with the state saved.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hsi_diagtext.h"
#include "hsi_eval.h"
#include "hsi_io.h"
#include "hsi_infer.h"
#include "hsi_init.h"
#include "hsi_trainer.h"
#include "trainer_internal.h"

enum { C_TRAIN = 1, C_EVAL = 2, C_PREDICT = 4, C_FORWARD = 8, C_GRAD = 16, C_INIT = 32, C_ALL = 63,
       C_DATA = C_TRAIN | C_EVAL | C_PREDICT };

typedef struct cli {
    int cmd;
    const char *experiment, *out, *resume, *weights, *masks, *input, *labels, *domain;
    const char *datasets, *data, *mirror, *backend, *runs, *point, *stop_after, *state_every;
    const char *seed, *counter, *scene;
    const char **sets;
    int n_sets, quiet, overwrite, no_download, train_mode, save_cube, prob, confidence, no_std;
} cli;

typedef struct opt {
    const char *name;
    int cmds;              /* commands that accept it */
    size_t off;            /* offset of the const char * (valued) or int (flag) field */
    int flag;
    const char *help;
} opt;

#define S(f) offsetof(cli, f), 0
#define F(f) offsetof(cli, f), 1
static const opt opts[] = {
    {"experiment", C_ALL, S(experiment), "FILE  use this experiment instead of the embedded one"},
    {"set", C_DATA, 0, 0, "KEY=VALUE  override an experiment key (repeatable), e.g. solver.lr=1e-3"},
    {"point", C_DATA, S(point), "I  sweep point to run (experiments with a sweep)"},
    {"datasets", C_DATA, S(datasets), "FILE  extra dataset registry (default $HSICC_DATASETS)"},
    {"data", C_DATA, S(data), "DIR  data folder (default $HSICC_DATA, else ./data)"},
    {"mirror", C_DATA, S(mirror), "DIR  local mirror to copy missing datasets from"},
    {"no-download", C_DATA, F(no_download), "  never download: only the data folder and the mirror"},
    {"backend", C_ALL, S(backend), "dnnl|ref  kernel backend (default: the experiment's)"},
    {"out", C_ALL, S(out), "DIR|FILE  output folder (train/eval/predict) or file (forward/grad)"},
    {"resume", C_TRAIN, S(resume), "DIR  continue the interrupted or partial training in DIR"},
    {"runs", C_TRAIN, S(runs), "N  number of runs (seeds) instead of the experiment's"},
    {"quiet", C_TRAIN, F(quiet), "  no progress and no load map; only the summary"},
    {"overwrite", C_TRAIN, F(overwrite), "  train into a folder that already holds results"},
    {"stop-after", C_TRAIN, S(stop_after), "N  stop each run after N steps, state saved (resume later)"},
    {"state-every", C_TRAIN, S(state_every), "N  also write the state every N steps"},
    {"weights", C_EVAL | C_PREDICT | C_FORWARD | C_GRAD, S(weights), "W.safetensors  weights to use"},
    {"masks", C_EVAL | C_PREDICT, S(masks), "M  saved split: masks.npy or a run folder"},
    {"scene", C_PREDICT, S(scene), "CUBE.hdr  classify this ENVI cube (read by rows) into GIS maps"},
    {"prob", C_PREDICT, F(prob), "  with --scene: also prob.tif, the per-class probabilities"},
    {"confidence", C_PREDICT, F(confidence), "  with --scene: also confidence.tif (max probability)"},
    {"no-standardize", C_PREDICT, F(no_std), "  with --scene: the cube is already standardised"},
    {"save-cube", C_PREDICT, F(save_cube), "  also write cube.npy: the preprocessed cube the net classified"},
    {"input", C_FORWARD | C_GRAD, S(input), "X.npy  inputs [n, sample dims...]"},
    {"labels", C_GRAD, S(labels), "Y.npy  labels [n], 0..classes-1 ([n, L, L] windows, -1 unlabelled, for a per-pixel loss)"},
    {"domain", C_FORWARD | C_GRAD | C_PREDICT, S(domain), "NAME  one domain of the experiment (predict: its scene only)"},
    {"train-mode", C_FORWARD, F(train_mode), "  batch statistics and dropout (forward(train=1))"},
    {"seed", C_FORWARD | C_GRAD | C_INIT, S(seed), "S  model seed for dropout masks (init: of the weights; default 1)"},
    {"counter", C_FORWARD | C_GRAD, S(counter), "C  rng counter for dropout masks (default 0)"},
};
#undef S
#undef F

static const struct { const char *name; int cmd; const char *help; } cmds[] = {
    {"train", C_TRAIN, "train every run of the experiment; OA / AA / kappa, maps, weights"},
    {"eval", C_EVAL, "metrics of saved weights on the test pixels of a split"},
    {"predict", C_PREDICT, "classification map and labels of every domain's whole scene"},
    {"forward", C_FORWARD, "logits of given inputs"},
    {"grad", C_GRAD, "loss, logits and every parameter's gradient for given inputs and labels"},
    {"init", C_INIT, "the seeded initial weights into --out W.safetensors (no data read)"},
};

static void usage(FILE *f, const char *prog, const hsi_netdesc *net)
{
    fprintf(f, "usage: %s COMMAND [options]\n\nnet %s (%s), %d domain(s)\n\ncommands:\n", prog,
            net->name, net->source ? net->source : "", net->n_domains);
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\noptions (commands):\n");
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
        const char *sp = strchr(opts[i].help, ' ');
        int n = (int)(sp - opts[i].help);
        char which[64] = "";
        for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++)
            if (opts[i].cmds & cmds[c].cmd)
                snprintf(which + strlen(which), sizeof which - strlen(which), "%s%s",
                         which[0] ? "," : "", cmds[c].name);
        fprintf(f, "  --%s %.*s\n      %s (%s)\n", opts[i].name, n, opts[i].help, sp + 2, which);
    }
    fprintf(f, "\nSee runtime/TRAINER.md.\n");
}

static int usage_error(const char *prog, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run %s --help for the commands and options)\n", prog);
    return 2;
}

/* An unknown command or option, with the closest known one (as hsicc's own command line) */
static int unknown_error(const char *prog, const char *what, const char *arg, const char *dashes,
                         const char *word, const char *const *known, int n)
{
    const char *s = hsi_suggest(word, known, n, 2, 1);
    fprintf(stderr, "%s: unknown %s '%s'", prog, what, arg);
    if (s) fprintf(stderr, "; did you mean '%s%s'?", dashes, s);
    fprintf(stderr, "\n(run %s --help for the commands and options)\n", prog);
    return 2;
}

/* 0 ok, 1 help printed, 2 usage error (printed). */
static int parse_args(cli *a, const hsi_netdesc *net, int argc, char **argv)
{
    const char *prog = argv[0];
    memset(a, 0, sizeof *a);
    if (argc < 2) return usage(stderr, prog, net), 2;
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
        return usage(stdout, prog, net), 1;
    for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++)
        if (!strcmp(argv[1], cmds[c].name)) a->cmd = cmds[c].cmd;
    if (!a->cmd) {
        const char *known[sizeof cmds / sizeof *cmds];
        for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++) known[c] = cmds[c].name;
        return unknown_error(prog, "command", argv[1], "", argv[1], known,
                             (int)(sizeof cmds / sizeof *cmds));
    }
    if (!(a->sets = calloc((size_t)argc, sizeof *a->sets))) return 2;
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) return usage(stdout, prog, net), 1;
        if (strncmp(s, "--", 2)) return usage_error(prog, "unexpected argument '%s'", s);
        const char *eq = strchr(s, '=');
        size_t len = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
        const opt *o = NULL;
        for (size_t k = 0; k < sizeof opts / sizeof *opts; k++)
            if (strlen(opts[k].name) == len && !strncmp(opts[k].name, s + 2, len)) o = &opts[k];
        if (!o) {
            const char *known[sizeof opts / sizeof *opts];
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)(len < 63 ? len : 63), s + 2);
            for (size_t k = 0; k < sizeof opts / sizeof *opts; k++) known[k] = opts[k].name;
            return unknown_error(prog, "option", s, "--", word, known,
                                 (int)(sizeof opts / sizeof *opts));
        }
        if (!(o->cmds & a->cmd)) return usage_error(prog, "option '%s' does not apply to this command", s);
        if (o->flag) {
            if (eq) return usage_error(prog, "option '%s' takes no value", s);
            *(int *)((char *)a + o->off) = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return usage_error(prog, "option '%s' needs a value", s);
        /* an empty path is not the current folder: "" + "/run0/..." is the root (--out "" trained
         * into /) */
        if (!*v) return usage_error(prog, "option '%s' needs a value, got an empty one", s);
        if (!strcmp(o->name, "set")) {
            a->sets[a->n_sets++] = v;
            continue;
        }
        /* one value: given twice, the later one silently won (hsicc refuses the same) */
        const char **slot = (const char **)((char *)a + o->off);
        if (*slot) {
            fprintf(stderr, "%s: option '--%s' is given twice: '%s' and '%s'\n(run %s --help for "
                    "the commands and options)\n", prog, o->name, *slot, v, prog);
            return 2;
        }
        *slot = v;
    }
    /* option values with a fixed form are usage errors (2), like the numbers of int_opt */
    if (a->backend && strcmp(a->backend, "dnnl") && strcmp(a->backend, "ref"))
        return usage_error(prog, "--backend: expected dnnl or ref, got '%s'", a->backend);
    if (a->point) {
        char *end;
        errno = 0;
        long long pt = strtoll(a->point, &end, 10);
        if (end == a->point || *end || pt < 0 || pt > INT32_MAX || errno == ERANGE)
            return usage_error(prog, "--point: expected a sweep point index, got '%s'", a->point);
    }
    /* predict's options of one mode given to the other were silently ignored (--prob without
     * --scene wrote no prob.tif and exited 0) */
    const char *scene_only = a->prob ? "--prob" : a->confidence ? "--confidence"
                           : a->no_std ? "--no-standardize" : NULL;
    const char *not_scene = a->masks ? "--masks" : a->save_cube ? "--save-cube" : NULL;
    /* forward without --train-mode has no dropout: its masks' seed and counter did nothing */
    if (a->cmd == C_FORWARD && !a->train_mode && (a->seed || a->counter))
        return usage_error(prog, "option '%s' applies to forward --train-mode only (dropout "
                           "masks; without it dropout is off)", a->seed ? "--seed" : "--counter");
    if (a->cmd == C_PREDICT && !a->scene && scene_only)
        return usage_error(prog, "option '%s' applies to predict --scene CUBE.hdr only", scene_only);
    if (a->cmd == C_PREDICT && a->scene && not_scene)
        return usage_error(prog, "option '%s' does not apply to predict --scene (the cube is "
                           "classified whole: no split, no preprocessed cube)", not_scene);
    return 0;
}

/* A non-negative integer option; -1 (message printed) if malformed. */
static int64_t int_opt(const char *prog, const char *name, const char *v, int64_t dflt)
{
    if (!v) return dflt;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || n < 0 || errno == ERANGE) {
        fprintf(stderr, "%s: --%s: expected a non-negative integer, got '%s'\n", prog, name, v);
        return -1;
    }
    return n;
}

/* ---- experiment ------------------------------------------------------------------------------- */

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static hsi_experiment *load_experiment(const cli *a, const char *text, const char *origin,
                                       int with_registry, char *err, size_t errlen)
{
    hsi_registry *reg = NULL;
    if (with_registry && !(reg = hsi_registry_load(a->datasets, err, errlen))) return NULL;
    hsi_experiment_opts eo = {NULL, a->sets, a->n_sets, -1, reg};
    if (a->point) eo.sweep_point = (int)strtoll(a->point, NULL, 10);   /* checked by parse_args */
    char path[4200];
    hsi_experiment *x;
    if (a->resume) {
        snprintf(path, sizeof path, "%s/experiment.yaml", a->resume);
        if (!file_exists(path)) {
            hsi_registry_free(reg);
            tr_fail(err, errlen, "--resume %s: no training to resume there (no experiment.yaml)",
                    a->resume);
            return NULL;
        }
        eo.path = path;
        x = hsi_experiment_load(&eo, err, errlen);
    } else if (a->experiment || !text || !text[0]) {
        if (!a->experiment) {
            tr_fail(err, errlen, "this trainer has no embedded experiment: give --experiment FILE");
            hsi_registry_free(reg);
            return NULL;
        }
        eo.path = a->experiment;
        x = hsi_experiment_load(&eo, err, errlen);
    } else {
        eo.path = origin;
        x = hsi_experiment_load_text(text, strlen(text), origin, &eo, err, errlen);
    }
    hsi_registry_free(reg);
    if (x && x->sweep_points > 1 && x->sweep_point < 0) {
        tr_fail(err, errlen, "experiment '%s' is a sweep of %d points: give --point I (0..%d), "
                "as hsicc sweep does", x->name, x->sweep_points, x->sweep_points - 1);
        hsi_experiment_free(x);
        return NULL;
    }
    hsi_backend want = a->backend && !strcmp(a->backend, "ref") ? HSI_BACKEND_REF : HSI_BACKEND_DNNL;
    if (x && a->backend && a->resume && x->backend != want) {
        /* the backend's floats differ: it would not continue bit for bit, and the resumed run
         * rewrites experiment.yaml, so the next plain --resume would meet the other backend */
        tr_fail(err, errlen, "--backend %s: the training in %s runs on the %s backend (its "
                "experiment.yaml); a resume continues it as it was: drop --backend, or train "
                "into a new folder", a->backend, a->resume,
                x->backend == HSI_BACKEND_REF ? "ref" : "dnnl");
        hsi_experiment_free(x);
        return NULL;
    }
    if (x && a->backend) x->backend = want;
    return x;
}

static hsi_trainer_env env_of(const cli *a)
{
    hsi_trainer_env e = {a->datasets, a->data, a->mirror, !a->no_download, NULL, NULL};
    return e;
}

/* ---- train ---------------------------------------------------------------------------------- */

/* ---- several ranks (MPI) --------------------------------------------------------------------- */

static int several(const hsi_comm *comm)
{
    return comm && comm->size > 1;
}

/* Collective: rank 0's status (and message) is every rank's; the others say nothing. */
static int from_rank0(const hsi_comm *comm, int rc, char *err, size_t errlen)
{
    if (!several(comm)) return rc;
    int v = rc;
    comm->bcast(comm->ctx, &v, sizeof v);
    if (comm->rank > 0 && errlen) err[0] = 0;
    return v;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

/* Collective, before a rank parses its arguments: every rank was started with rank 0's. A
 * rank whose arguments differ parses, fails or stops otherwise (a usage error, --help or
 * --stop-after on one rank alone) and leaves the others in a collective it never joins: the
 * job hung, or died in MPI with "message truncated". All refuse, rank 0 says it. */
static int same_args(const hsi_comm *comm, int argc, char **argv, const char *prog)
{
    if (!several(comm)) return 0;
    uint64_t mine = 1469598103934665603ull, root;
    for (int i = 1; i < argc; i++) mine = fnv(mine, argv[i]);
    root = mine;
    comm->bcast(comm->ctx, &root, sizeof root);
    double differ = root != mine;
    comm->sum_d(comm->ctx, &differ, 1);
    if (differ == 0) return 0;
    if (comm->rank == 0)
        fprintf(stderr, "%s: error: the MPI ranks disagree: %.0f of the %d were started with "
                "another command line than rank 0; start every rank with the same command\n",
                prog, differ, comm->size);
    return 1;
}

/* Collective: every rank trains what rank 0 trains (the same net, experiment, runs, folder),
 * else all refuse (rank 0 says it). */
static int ranks_agree(const hsi_comm *comm, const hsi_netdesc *net, const hsi_experiment *x,
                       const char *out, int resume, char *err, size_t errlen)
{
    if (!several(comm)) return 0;
    char n[64];
    snprintf(n, sizeof n, "%d %d", x->runs.count, resume);
    uint64_t mine = fnv(fnv(fnv(fnv(tr_experiment_hash(x), net->name), net->source), out), n),
             root = mine;
    comm->bcast(comm->ctx, &root, sizeof root);
    double differ = root != mine;
    comm->sum_d(comm->ctx, &differ, 1);
    if (differ == 0) return 0;
    if (comm->rank > 0) {
        if (errlen) err[0] = 0;
        return 1;
    }
    return tr_fail(err, errlen, "the MPI ranks disagree: %.0f of the %d were started with "
                   "another trainer, experiment, --set, --runs, --out or --resume than rank 0; "
                   "start every rank with the same command", differ, comm->size), 1;
}

/* The output folder's lock let go; a command that failed gives back the folders it made for
 * its outputs while they hold nothing but the lock (a missing dataset, scene or file, found
 * after the folder was made, left an empty folder with a .lock behind). made: the first folder
 * hsi_mkdirs_made made (freed). */
static struct { int lock; const char *out, *made; } g_out = {-1, NULL, NULL};

/* A terminating signal while eval / predict compute: the folder given back as a failure's. */
static void give_back_out(void)
{
    hsi_unlock_dir_unmade(g_out.lock, g_out.out, ".lock", g_out.made);
}

static void release_out(int lock, const char *out, char *made, int failed)
{
    hsi_signal_cleanup(NULL);
    if (failed) hsi_unlock_dir_unmade(lock, out, ".lock", made);
    else hsi_unlock_dir(lock);
    free(made);
}

static int cmd_train(const cli *a, const hsi_netdesc *net, hsi_experiment *x, const char *prog,
                     const hsi_comm *comm, char *err, size_t errlen)
{
    if (a->resume && (a->n_sets || a->experiment))
        return usage_error(prog, "%s", a->n_sets ? "--set cannot be combined with --resume (a run "
                           "continues with its saved experiment.yaml)" : "--experiment cannot be "
                           "combined with --resume (a run continues with its saved experiment.yaml)");
    /* both were ignored: the run went on in the --resume folder */
    if (a->resume && (a->out || a->overwrite))
        return usage_error(prog, "%s", a->out ? "--out cannot be combined with --resume (a run "
                           "continues in the folder it resumes)" : "--overwrite cannot be "
                           "combined with --resume (a run continues its own results)");
    int64_t runs = int_opt(prog, "runs", a->runs, 0), stop = int_opt(prog, "stop-after", a->stop_after, 0),
            every = int_opt(prog, "state-every", a->state_every, 0);
    if (runs < 0 || stop < 0 || every < 0) return 2;
    if (a->runs && runs == 0) return usage_error(prog, "--runs: expected at least 1 run, got '%s'", a->runs);
    /* 0 is the default's "no limit" / "never": given, it would train to the end (or never write
     * the state) without a word */
    if (a->stop_after && stop == 0)
        return usage_error(prog, "--stop-after: expected at least 1 step, got '%s'", a->stop_after);
    if (a->state_every && every == 0)
        return usage_error(prog, "--state-every: expected at least 1 step, got '%s'", a->state_every);
    if (runs > INT32_MAX) return usage_error(prog, "--runs: %s is too many runs", a->runs);
    /* resumed with fewer runs: the finished runs past the new count left the summary unsaid */
    for (int64_t r = runs; a->resume && runs && r < x->runs.count; r++) {
        char done[4200];
        snprintf(done, sizeof done, "%s/run%" PRId64 "/metrics.json", a->resume, r);
        if (file_exists(done))
            return tr_fail(err, errlen, "--runs %" PRId64 ": run %" PRId64 " of %s is finished "
                           "(run%" PRId64 "/metrics.json); resuming can add runs or drop runs "
                           "not yet finished, not finished ones", runs, r, a->resume, r), 1;
    }
    if (runs) {
        if (x->runs.seeds && runs > x->runs.n_seeds)
            return tr_fail(err, errlen, "--runs %" PRId64 ": the experiment lists only %d seeds "
                           "(runs.seeds)", runs, x->runs.n_seeds), 1;
        x->runs.count = (int)runs;
        if (x->runs.seeds) x->runs.n_seeds = (int)runs;
    }
    const char *out = a->resume ? a->resume : a->out ? a->out : x->outputs.dir;
    x->outputs.dir = (char *)out;
    if (ranks_agree(comm, net, x, out, a->resume != NULL, err, errlen)) return 1;
    /* one trainer per run folder, for as long as it runs (under MPI: rank 0 holds it) */
    int lock = -1, r0 = !several(comm) || comm->rank == 0;
    char *made = NULL;
    int bad = r0 && (hsi_mkdirs_made(out, &made, err, errlen) ||
                     (lock = hsi_lock_dir(out, ".lock", "trainer", err, errlen)) < 0);
    if (from_rank0(comm, bad, err, errlen)) {
        free(made);
        return 1;
    }
    /* the folder is ours: temp files of a trainer killed while writing (kill -9) go */
    if (r0) hsi_remove_stale_temps(out, 2);
    char path[4200];
    snprintf(path, sizeof path, "%s/experiment.yaml", out);
    int rc = 1;
    bad = r0 && !a->resume && !a->overwrite && file_exists(path);
    if (bad)
        tr_fail(err, errlen, "%s already holds a training: continue it with --resume %s, "
                "or train into another folder (--out DIR), or pass --overwrite", out, out);
    if (from_rank0(comm, bad, err, errlen)) {
        rc = 1;
    } else {
        hsi_train_opts o = {net, x, out, a->resume != NULL, stop, every, a->quiet, env_of(a),
                            comm};
        rc = hsi_trainer_train(&o, err, errlen);
    }
    release_out(lock, out, made, rc);
    return rc;
}

/* ---- commands on saved weights -------------------------------------------------------------- */

/* what: the setting that decided the batch ("key 'train.batch' (N)"), said first when the net
 * cannot be made (its buffers grow with the batch); NULL: none did. */
static hsi_model *make_model(const hsi_netdesc *net, int batch, const char *what,
                             hsi_backend backend, uint64_t seed, const char *weights,
                             hsi_param **ps, int *np, char *err, size_t errlen)
{
    hsi_model_opts mo = {batch, backend, seed};
    char e2[512];
    hsi_model *m = net->create(&mo, e2, sizeof e2);
    if (!m) {
        tr_fail(err, errlen, "%s%scannot create the net: %s", what ? what : "", what ? ": " : "", e2);
        return NULL;
    }
    *np = net->params(m, ps);
    if (hsi_ckpt_load_weights(weights, *ps, *np, err, errlen)) {
        net->destroy(m);
        return NULL;
    }
    return m;
}

static void out_dir_of(const hsi_tr_data *D, const char *out, int d, char *buf, size_t n)
{
    if (D->n == 1) snprintf(buf, n, "%s", out);
    else snprintf(buf, n, "%s/%s", out, D->d[d].name);
}

static int find_domain(const hsi_netdesc *net, const hsi_experiment *x, const char *name,
                       char *err, size_t errlen);

/* predict --scene: an ENVI cube from disk to GIS maps, by rows (eval/predict_scene.c). */
/* The output folder of eval and predict: made, and locked like a run folder while we write in
 * it (a trainer working there keeps us out); never a training's own folder, whose
 * metrics.json, confusion and maps the command would overwrite. Under MPI rank 0 alone writes,
 * so it alone holds the lock; the ranks agree on the outcome. Collective. */
static int lock_out(const char *out, const char *what, const hsi_comm *comm, int *lock,
                    char **made, char *err, size_t errlen)
{
    int bad = 0;
    *lock = -1;
    *made = NULL;
    if (!several(comm) || comm->rank == 0) {
        char who[32], path[4200];
        snprintf(who, sizeof who, "trainer %s", what);
        snprintf(path, sizeof path, "%s/experiment.yaml", out);
        bad = hsi_mkdirs_made(out, made, err, errlen)
              || (*lock = hsi_lock_dir(out, ".lock", who, err, errlen)) < 0;
        if (!bad && file_exists(path)) {
            hsi_unlock_dir(*lock);
            *lock = -1;
            bad = 1;
            tr_fail(err, errlen, "--out %s holds a training (experiment.yaml): %s would overwrite "
                    "its results; give another --out", out, what);
        }
        /* the folder is ours: what an earlier eval / predict killed while writing (kill -9)
         * left goes, in it and in its domains' folders (the map writer's folder of a whole
         * scene: as large as the maps) */
        if (!bad) hsi_remove_stale_temps(out, 1);
        /* SIGTERM while we compute: the folder given back as a failure gives it back */
        if (!bad) {
            g_out.lock = *lock, g_out.out = out, g_out.made = *made;
            hsi_signal_cleanup(give_back_out);
        }
    }
    return from_rank0(comm, bad, err, errlen);
}

static int cmd_predict_scene(const cli *a, const hsi_netdesc *net, hsi_experiment *x,
                             const hsi_comm *comm, char *err, size_t errlen)
{
    if (!a->weights) return tr_fail(err, errlen, "--weights W.safetensors is required"), 2;
    int d = find_domain(net, x, a->domain, err, errlen);
    const char *out = a->out ? a->out : "predict";
    hsi_trainer_env env = env_of(a);
    env.log = several(comm) && comm->rank != 0 ? NULL : stderr;   /* the data's warnings */
    hsi_tr_classes cl;
    hsi_param *ps;
    hsi_pca pca;
    int np, rc = 1;
    memset(&cl, 0, sizeof cl);
    memset(&pca, 0, sizeof pca);
    /* The scene program has its own kernels and buffers: the model only holds the weights
     * (batch 0: no kernel, no buffer of its own). A per-pixel loss's logits (the centre of its
     * map) come from the patch net's forward: batches of 128 pixels, scene.c's default.
     * Every step up to the model reads files a rank may find otherwise than rank 0: the ranks
     * agree on them all at once (a rank that returned alone left the others in a collective). */
    hsi_model *m = d < 0 ||
                   tr_pca_load_scene(a->weights, x, x->domains[d].name, net->domains[d].bands,
                                     &pca, err, errlen) ||
                   hsi_tr_domain_classes(x, d, &env, &cl, err, errlen)
                       ? NULL
                       : make_model(net, net->domains[d].label_patch ? 128 : 0, NULL, x->backend,
                                    hsi_experiment_run_seed(x, 0), a->weights, &ps, &np, err,
                                    errlen);
    const int r0 = !several(comm) || comm->rank == 0;
    if (tr_comm_agree(comm, !m, err, errlen) && m) {   /* another rank could not load them */
        net->destroy(m);
        m = NULL;
    }
    int lock = -1;
    char *made = NULL;
    if (m && !lock_out(out, "predict", comm, &lock, &made, err, errlen)) {
        int std = !a->no_std && x->standardize != HSI_EXP_STD_NONE;
        hsi_predict_opts o = {x->backend, (int)x->padding, std, cl.names, cl.palette,
                              1, 1, a->prob, a->confidence, 1, 1, 1, 0, comm,
                              pca.k ? &pca : NULL};
        hsi_predict_summary s;
        if (x->standardize == HSI_EXP_STD_TRAIN && std && r0)
            fprintf(stderr, "note: the net was trained with training-pixel statistics; this cube "
                            "is standardised with its own (all valid pixels)\n");
        rc = hsi_predict_scene(net, m, d, a->scene, out, &o, &s, err, errlen) ? 1 : 0;
        if (rc == 0 && r0) {
            printf("%s: %d x %d x %d, %lld pixels classified, %lld nodata, %.2f s (%.0f pixels/s); "
                   "%s/map.tif, map.envi, pred.npy, map_pred.png%s%s\n", a->scene, s.h, s.w,
                   s.bands, (long long)(s.pixels - s.nodata), (long long)s.nodata, s.seconds,
                   s.seconds > 0 ? (double)s.pixels / s.seconds : 0.0, out,
                   a->prob ? ", prob.tif" : "", a->confidence ? ", confidence.tif" : "");
            printf("scene program: %s, %d rows per tile, %.1f MB of buffers\n",
                   s.kind == HSI_SCENE_FCN ? "fully convolutional" : s.kind == HSI_SCENE_HOISTED
                   ? "hoisted prefix" : "patch by patch", s.tile_rows, (double)s.bytes / 1048576.0);
            for (int c = 0; c < cl.k && c < HSI_PREDICT_MAX_CLASSES; c++)
                printf("  %-28s %10lld pixels\n", cl.names[c], (long long)s.count[c]);
        }
    }
    release_out(lock, out, made, rc != 0);
    if (m) net->destroy(m);
    hsi_tr_classes_free(&cl);
    hsi_pca_free(&pca);
    return rc;
}

/* eval and predict: data, split, weights, then per domain. */
static int cmd_data(const cli *a, const hsi_netdesc *net, hsi_experiment *x,
                    const hsi_comm *comm, char *err, size_t errlen)
{
    if (a->cmd == C_PREDICT && a->scene) return cmd_predict_scene(a, net, x, comm, err, errlen);
    if (!a->weights) return tr_fail(err, errlen, "--weights W.safetensors is required"), 2;
    /* predict --domain NAME: that domain's scene only (it was ignored: every domain's) */
    int only = a->domain ? find_domain(net, x, a->domain, err, errlen) : -1;
    if (a->domain && only < 0) return 1;
    hsi_trainer_env env = env_of(a);
    env.log = several(comm) && comm->rank != 0 ? NULL : stderr;   /* the data's warnings */
    env.pca_weights = a->weights;   /* preprocess.pca: the PCA the weights were trained with */
    hsi_tr_data D;
    int rc = 1;
    hsi_model *m = NULL;
    hsi_param *ps;
    int np;
    const char *out = a->out ? a->out : a->cmd == C_EVAL ? NULL : "predict";
    int lock = -1, bad = 0;
    char *made = NULL;
    if (out && lock_out(out, a->cmd == C_EVAL ? "eval" : "predict", comm, &lock, &made, err,
                        errlen)) {
        release_out(lock, out, made, 1);
        return 1;
    }
    hsi_outset set;
    hsi_outset_init(&set, a->cmd == C_EVAL ? "eval" : "predict");
    hsi_json j;
    hsi_json_init(&j);
    hsi_json_begin_object(&j);
    hsi_json_key(&j, "weights");
    hsi_json_string(&j, a->weights);
    hsi_json_key(&j, "domains");
    hsi_json_begin_object(&j);
    /* predict under MPI: each rank classifies a band of rows, rank 0 writes (eval: rank 0 only) */
    const int parts = several(comm) ? comm->size : 1, part = parts > 1 ? comm->rank : 0;
    char what[600];
    snprintf(what, sizeof what, "%s: key 'train.batch' (%d)", hsi_experiment_batch_where(x),
             x->train.batch);
    bad = hsi_tr_data_load(&D, x, net, &env, err, errlen) ||
              hsi_tr_data_split(&D, x, hsi_experiment_run_seed(x, 0), a->masks, err, errlen) ||
              !(m = make_model(net, x->train.batch, what, x->backend,
                               hsi_experiment_run_seed(x, 0), a->weights, &ps, &np, err, errlen));
    if (tr_comm_agree(comm, bad, err, errlen)) goto done;
    if (!a->masks && !x->split.masks && a->cmd == C_EVAL)
        fprintf(stderr, "note: no --masks: using the split of run 0 (seed %" PRIu64 ")\n",
                hsi_experiment_run_seed(x, 0));
    int evaluated = 0;
    for (int d = 0; d < D.n; d++) {
        if (only >= 0 && d != only) continue;
        const hsi_tr_domain *dm = &D.d[d];
        char dir[4200], wdir[4200], path[4300];
        if (out) {   /* written into wdir, a temporary folder, and moved into dir at the end */
            out_dir_of(&D, out, d, dir, sizeof dir);
            const char *t = NULL;
            bad = part == 0 && (hsi_mkdirs(dir, err, errlen) || !(t = hsi_outset_dir(&set, dir, err, errlen)));
            if (from_rank0(comm, bad, err, errlen)) goto done;
            snprintf(wdir, sizeof wdir, "%s", t ? t : dir);
        }
        if (a->cmd == C_EVAL) {
            if (!dm->n_test) {   /* said, so an empty split is not a silent success */
                printf("%s: no test pixels in the split, not evaluated\n", dm->name);
                continue;
            }
            evaluated++;
            hsi_metrics mt;
            if (tr_test_metrics(net, m, x->backend, x->train.batch, &D, d, NULL, &mt, err, errlen)) goto done;
            printf("%s: OA %.4f  AA %.4f  kappa %.4f  (%" PRId64 " test pixels)\n", dm->name,
                   mt.oa, mt.aa, mt.kappa, mt.total);
            char who[300];   /* as train says it of the split */
            snprintf(who, sizeof who, "domain '%s'", dm->name);
            tr_untested_classes(stderr, who, mt.support, mt.k, dm->class_names);
            hsi_json_key(&j, dm->name);
            hsi_metrics_json(&j, &mt, dm->class_names);
            snprintf(path, sizeof path, "%s/confusion.csv", wdir);
            int bad = out && tr_confusion_csv(path, &mt, dm->class_names, err, errlen);
            hsi_metrics_free(&mt);
            if (bad) goto done;
        } else {
            size_t npx = (size_t)dm->h * (size_t)dm->w;
            int32_t *pred = malloc(sizeof *pred * (npx ? npx : 1));
            hsi_array arr = {2, {dm->h, dm->w}, HSI_DT_I32, pred};
            snprintf(path, sizeof path, "%s/pred.npy", wdir);
            for (size_t i = 0; pred && parts > 1 && i < npx; i++) pred[i] = INT32_MIN;
            bad = !pred ? tr_fail(err, errlen, "out of memory") :
                  tr_scene_predict_part(net, m, x->backend, x->train.batch, &D, d, part, parts,
                                        pred, err, errlen);
            if (parts > 1) {   /* every rank's band into every rank's map */
                if (tr_comm_agree(comm, bad, err, errlen)) bad = 1;
                else comm->max_i32(comm->ctx, pred, (int64_t)npx);
            }
            if (part > 0) {
                free(pred);
                if (bad) goto done;
                continue;
            }
            bad = bad || hsi_npy_write(path, &arr, err, errlen) ||
                  tr_write_maps(wdir, dm, pred, 0, err, errlen);
            if (!bad && a->save_cube) {   /* what a deployed model must be given, band-major */
                size_t n = (size_t)dm->cube.bands * (size_t)dm->h * (size_t)dm->w;
                float *f = dm->cube.data ? dm->cube.data : malloc(sizeof *f * (n ? n : 1));
                hsi_array cube = {3, {dm->cube.bands, dm->h, dm->w}, HSI_DT_F32, f};
                snprintf(path, sizeof path, "%s/cube.npy", wdir);
                if (f && f != dm->cube.data)   /* compact: its floats, band by band */
                    for (int b = 0; b < dm->cube.bands; b++)
                        hsi_cube_span(&dm->cube, b, 0, (size_t)dm->h * dm->w,
                                      f + (size_t)b * dm->h * dm->w);
                bad = !f ? tr_fail(err, errlen, "out of memory") : hsi_npy_write(path, &cube, err, errlen);
                if (f != dm->cube.data) free(f);
            }
            free(pred);
            if (tr_comm_rank0(comm, bad, err)) goto done;
            printf("%s: %s/pred.npy, %s/map_pred.png\n", dm->name, dir, dir);
        }
    }
    if (a->cmd == C_EVAL && !evaluated) {
        tr_fail(err, errlen, "%s: no test pixels in any domain: nothing to evaluate", a->masks ?
                a->masks : x->split.masks ? x->split.masks : "the split");
        goto done;
    }
    hsi_json_end_object(&j);
    hsi_json_end_object(&j);
    if (a->cmd == C_EVAL && out) {
        char path[4200];
        const char *t = hsi_outset_dir(&set, out, err, errlen);
        if (!t) goto done;
        snprintf(path, sizeof path, "%s/metrics.json", t);
        if (hsi_json_write_file(&j, path, err, errlen)) goto done;
    }
    /* every file of the command in place at once: an interrupted run leaves the earlier set */
    if (tr_comm_rank0(comm, hsi_outset_commit(&set, err, errlen), err)) goto done;
    rc = 0;
done:
    hsi_outset_abort(&set);   /* nothing left after a commit */
    hsi_json_free(&j);
    if (m) net->destroy(m);
    hsi_tr_data_free(&D);
    release_out(lock, out, made, rc != 0);
    return rc;
}

/* The domain called name: the experiment's name for it (domains.N.name, by default the
 * dataset's: what eval / predict print) or the net's (a single-domain net's is ""); NULL: the
 * only one. -1 (err set) if there is none. */
#define TR_DOMAINS_LISTED 64
static int find_domain(const hsi_netdesc *net, const hsi_experiment *x, const char *name,
                       char *err, size_t errlen)
{
    if (!name) {
        if (net->n_domains == 1) return 0;
        return tr_fail(err, errlen, "this net has %d domains: give --domain NAME", net->n_domains);
    }
    const char *known[TR_DOMAINS_LISTED] = {0};
    int n = 0;
    for (int d = 0; d < net->n_domains; d++) {
        const char *xn = x && d < x->n_domains ? x->domains[d].name : NULL;
        if (!strcmp(net->domains[d].name, name) || (xn && !strcmp(xn, name))) return d;
        const char *shown = xn && *xn ? xn : net->domains[d].name;
        if (*shown && n < TR_DOMAINS_LISTED) known[n++] = shown;
    }
    /* one or two letters are within two edits of any short name: no guess there */
    const char *s = strlen(name) > 2 ? hsi_suggest(name, known, n, 2, 1) : NULL;
    char list[512] = "";
    for (int d = 0; d < n; d++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", d ? ", " : "", known[d]);
    return tr_fail(err, errlen, "--domain: the net has no domain '%.200s' (its domains: %s)%s%s%s",
                   name, list, s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
}

/* forward and grad. */
static int cmd_tensor(const cli *a, const hsi_netdesc *net, const hsi_experiment *x,
                      const char *prog, char *err, size_t errlen)
{
    const char *need = !a->weights ? "--weights" : !a->input ? "--input" : !a->out ? "--out"
                     : a->cmd == C_GRAD && !a->labels ? "--labels" : NULL;
    if (need) return tr_fail(err, errlen, "%s is required", need), 2;
    int64_t seed = int_opt(prog, "seed", a->seed, 1), counter = int_opt(prog, "counter", a->counter, 0);
    if (seed < 0 || counter < 0) return 2;
    int d = find_domain(net, x, a->domain, err, errlen);
    if (d < 0) return 1;
    const hsi_domain *nd = &net->domains[d];
    hsi_array X = {0}, Y = {0};
    if (hsi_npy_read(a->input, HSI_DT_F32, &X, err, errlen)) return 1;
    int64_t per = 1, n = X.ndim ? X.dims[0] : 0, got = 1;
    for (int i = 0; i < nd->ndim; i++) per *= nd->in_dims[i];
    for (int i = 1; i < X.ndim; i++) got *= X.dims[i];
    int rc = 1;
    hsi_model *m = NULL;
    hsi_param *ps;
    int np;
    char shape[128];
    if (X.ndim < 2 || n < 1 || got != per || n > INT32_MAX) {
        char xs[128];
        hsi_st_shape_str(nd->ndim, nd->in_dims, shape, sizeof shape);
        shape[strlen(shape) - 1] = 0;   /* "[1,204,7,7]" -> "[n, 1,204,7,7]" below */
        tr_fail(err, errlen, "%s: expected [n, %s] samples for domain %d (%" PRId64 " values "
                "each, 1 <= n <= %d), got an array of shape %s", a->input, shape + 1, d, per,
                INT32_MAX, hsi_st_shape_str(X.ndim, X.dims, xs, sizeof xs));
        goto done;
    }
    /* as a cube's are when it is loaded: NaN and Inf (a float64 beyond float32's range is Inf
     * here) are refused, not run: ReLU turned an all-NaN input into ordinary-looking logits */
    int64_t bad = 0, first_bad = -1;
    for (int64_t i = 0; i < n * per; i++)
        if (!isfinite(((const float *)X.data)[i]) && bad++ == 0) first_bad = i;
    if (bad) {
        tr_fail(err, errlen, "%s: %" PRId64 " values are not finite (NaN or Inf as float32), the "
                "first in sample %" PRId64 " (flat index %" PRId64 "): the net's input must be "
                "finite", a->input, bad, first_bad / per, first_bad);
        goto done;
    }
    if (a->cmd == C_GRAD) {
        if (hsi_npy_read(a->labels, HSI_DT_I32, &Y, err, errlen)) goto done;
        int64_t L = nd->label_patch;   /* a per-pixel loss: [n, L, L], -1 unlabelled */
        if (L ? Y.ndim != 3 || Y.dims[0] != n || Y.dims[1] != L || Y.dims[2] != L
              : Y.ndim != 1 || Y.dims[0] != n) {
            char want[96];
            if (L) snprintf(want, sizeof want, "[%" PRId64 ", %" PRId64 ", %" PRId64 "]", n, L, L);
            else snprintf(want, sizeof want, "[%" PRId64 "]", n);
            tr_fail(err, errlen, "%s: expected %s (shape %s%s), got %s", a->labels,
                    L ? "a label window per sample" : "one label per sample", want,
                    L ? ": the net's per-pixel loss reads the window centred on each sample" : "",
                    hsi_st_shape_str(Y.ndim, Y.dims, shape, sizeof shape));
            goto done;
        }
        for (int64_t i = 0; i < n * (L ? L * L : 1); i++)
            if (((int32_t *)Y.data)[i] < (L ? -1 : 0) || ((int32_t *)Y.data)[i] >= nd->classes) {
                tr_fail(err, errlen, "%s: label %d at index %" PRId64 " is outside %s..%d", a->labels,
                        ((int32_t *)Y.data)[i], i, L ? "-1" : "0", nd->classes - 1);
                goto done;
            }
    }
    int whole = a->cmd == C_GRAD || a->train_mode;   /* one forward over all n: batch statistics */
    int batch = whole ? (int)n : (int)(n < 256 ? n : 256);
    char what[4200];
    snprintf(what, sizeof what, "%s: its %" PRId64 " samples in one batch (%s)", a->input, n,
             a->cmd == C_GRAD ? "grad" : "--train-mode");
    if (!(m = make_model(net, batch, whole ? what : NULL, x->backend, (uint64_t)seed, a->weights,
                         &ps, &np, err, errlen)))
        goto done;
    float *logits = malloc(sizeof *logits * (size_t)(n * nd->classes));
    if (!logits) {
        tr_fail(err, errlen, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i += batch) {
        int k = (int)(n - i < batch ? n - i : batch);
        net->forward(m, d, (const float *)X.data + i * per, k, whole, (uint64_t)counter);
        memcpy(logits + i * nd->classes, net->logits(m, d), sizeof *logits * (size_t)k * nd->classes);
    }
    if (a->cmd == C_FORWARD) {
        hsi_array L = {2, {n, nd->classes}, HSI_DT_F32, logits};
        rc = hsi_npy_write(a->out, &L, err, errlen) ? 1 : 0;
    } else {
        net->zero_grad(m);
        float loss = net->loss_backward(m, d, (const int32_t *)Y.data, (int)n, 1.0f);
        hsi_st_tensor *ts = calloc((size_t)np + 1, sizeof *ts);
        int nt = 0;
        for (int i = 0; ts && i < np; i++) {
            if (!ps[i].grad) continue;
            ts[nt].name = ps[i].name;
            ts[nt].ndim = ps[i].ndim;
            memcpy(ts[nt].dims, ps[i].dims, sizeof(int64_t) * (size_t)ps[i].ndim);
            ts[nt++].data = ps[i].grad;
        }
        if (ts) ts[nt++] = (hsi_st_tensor){"logits", 2, {n, nd->classes}, logits};
        char lt[32];
        snprintf(lt, sizeof lt, "%.9g", loss);
        hsi_st_meta meta[2] = {{"loss", lt}, {"net", net->name}};
        rc = !ts || hsi_st_save(a->out, ts, nt, meta, 2, err, errlen) ? 1 : 0;
        if (!ts) tr_fail(err, errlen, "out of memory");
        free(ts);
        if (rc == 0) printf("loss %.9g\n", loss);
    }
    free(logits);
done:
    if (m) net->destroy(m);
    hsi_array_free(&X);
    hsi_array_free(&Y);
    return rc;
}

/* init: the weights a run starts from (hsi_init_params with --seed), written like best.safetensors:
 * to try predict, export or a deployed module before any training. */
static int cmd_init(const cli *a, const hsi_netdesc *net, char *err, size_t errlen)
{
    if (!a->out) return tr_fail(err, errlen, "init needs --out W.safetensors"), 2;
    char *end = NULL;
    errno = 0;
    uint64_t seed = a->seed ? strtoull(a->seed, &end, 10) : 1;
    /* strtoull takes "-1" as 2^64 - 1 and clamps past 2^64 - 1 (ERANGE): both silently */
    if (a->seed && (end == a->seed || *end || *a->seed < '0' || *a->seed > '9' || errno == ERANGE))
        return tr_fail(err, errlen, "--seed: expected a whole number, got '%s' (a seed is 0 to %"
                       PRIu64 ")", a->seed, UINT64_MAX), 2;
    hsi_model_opts mo = {0, HSI_BACKEND_REF, seed};   /* parameters only */
    char e2[512];
    hsi_model *m = net->create(&mo, e2, sizeof e2);
    if (!m) return tr_fail(err, errlen, "cannot create the net: %s", e2), 1;
    hsi_param *ps;
    int np = net->params(m, &ps);
    hsi_init_params(ps, np, seed);
    hsi_st_meta meta[1] = {{"weights", "init"}};
    int rc = hsi_ckpt_save_weights(a->out, net, ps, np, meta, 1, err, errlen) ? 1 : 0;
    if (!rc) printf("%s: the initial weights (seed %llu)\n", a->out, (unsigned long long)seed);
    net->destroy(m);
    return rc;
}

/* ---- main ----------------------------------------------------------------------------------- */

/* The compute threads (hsi_threads_setup: OMP_NUM_THREADS, train.threads, SLURM_CPUS_PER_TASK,
 * the usable CPUs), given to OpenMP before the first kernel; a training's log names them. */
static void set_threads(const hsi_experiment *x)
{
    char warn[600];
    hsi_threads_setup(x->train.threads, warn, sizeof warn);
    if (warn[0]) fprintf(stderr, "warning: %s\n", warn);
}

/* The size of the MPI job this process was started in, from its launcher's environment (0: not
 * started by one), and this process's rank in it. */
static long launcher_size(const char **var, long *rank)
{
    static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                            "MV2_COMM_WORLD_SIZE"};
    static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",
                                            "MV2_COMM_WORLD_RANK"};
    for (int i = 0; i < 4; i++) {
        const char *v = getenv(size_vars[i]), *r = getenv(rank_vars[i]);
        if (!v || !*v) continue;
        *var = size_vars[i];
        *rank = r ? strtol(r, NULL, 10) : 0;
        return strtol(v, NULL, 10);
    }
    return 0;
}

int hsi_trainer_main(const hsi_netdesc *net, const char *exp_text, const char *exp_path,
                     int argc, char **argv)
{
    return hsi_trainer_main_comm(net, exp_text, exp_path, argc, argv, NULL);
}

int hsi_trainer_main_comm(const hsi_netdesc *net, const char *exp_text, const char *exp_path,
                          int argc, char **argv, const hsi_comm *comm)
{
    cli a;
    const char *prog = argc > 0 ? argv[0] : "trainer";
    /* Over a file size limit (ulimit -f), a write must fail with EFBIG and be reported with
     * its file name by the atomic writers, not kill the trainer with SIGXFSZ. */
    hsi_write_faults_as_errors();
    const char *var = NULL;
    long rank = 0, launched = comm ? 0 : launcher_size(&var, &rank);
    if (launched > 1) {   /* N copies of one trainer would write the same files */
        if (rank == 0)
            fprintf(stderr, "%s: error: this trainer was built without MPI but runs as one of %ld "
                    "processes (%s=%ld): build it with hsicc build --mpi to train data-parallel "
                    "(docs/MPI.md), or start it without mpirun\n", prog, launched, var, launched);
        return 1;
    }
    if (same_args(comm, argc, argv, prog)) return 1;
    int rc = parse_args(&a, net, argc, argv);
    if (rc) {
        free(a.sets);
        return rc == 1 ? 0 : 2;
    }
    /* before any thread starts: stop signals to a thread of their own (hsi_signals_take) */
    if (a.cmd == C_TRAIN) hsi_trainer_catch_stops();
    else hsi_signals_take(NULL);
    char err[2048] = "";
    /* rank 0 alone runs the commands that are not data-parallel (their files are written once) */
    int idle = several(comm) && comm->rank > 0 && a.cmd != C_TRAIN && a.cmd != C_PREDICT;
    hsi_experiment *x = load_experiment(&a, exp_text, exp_path, a.cmd & C_DATA, err, sizeof err);
    /* --experiment FILE and --resume DIR are read by every rank: one that cannot read them
     * must not go its own way while the others wait in the first collective */
    if (several(comm) && tr_comm_agree(comm, !x, err, sizeof err) && x) {
        hsi_experiment_free(x);
        x = NULL;
    }
    if (x) set_threads(x);
    if (!x) {
        rc = 1;
    } else if (idle) {
        rc = 0;
    } else if (a.cmd == C_TRAIN) {
        rc = cmd_train(&a, net, x, prog, comm, err, sizeof err);
    } else if (a.cmd & (C_EVAL | C_PREDICT)) {
        rc = cmd_data(&a, net, x, a.cmd == C_PREDICT ? comm : NULL, err, sizeof err);
    } else if (a.cmd == C_INIT) {
        rc = cmd_init(&a, net, err, sizeof err);
    } else {
        rc = cmd_tensor(&a, net, x, prog, err, sizeof err);
    }
    if (rc < 0) rc = 1;   /* the exit statuses are 0, 1, 2 and 130 (a -1 exited 255) */
    if (several(comm)) {   /* an error every rank met is said once, by rank 0 */
        /* rank 0 says it when it has a message: after an agreement on another rank's error
         * (tr_comm_agree) it has none, and that rank says its own (it was silenced, and a rank
         * that could not load its data ended the job with status 1 and no word) */
        double r0_failed = comm->rank == 0 && rc && err[0];
        comm->sum_d(comm->ctx, &r0_failed, 1);
        if (comm->rank > 0 && r0_failed > 0) err[0] = 0;
        if (comm->rank > 0 && err[0]) fprintf(stderr, "%s: rank %d: %s\n", prog, comm->rank, err);
        else if (rc && err[0]) fprintf(stderr, "%s: %s\n", prog, err);
    } else if (rc && err[0]) {
        fprintf(stderr, "%s: %s\n", prog, err);
    }
    if (rc == 2 && err[0]) fprintf(stderr, "(run %s --help for the commands and options)\n", prog);
    hsi_experiment_free(x);
    free(a.sets);
    return rc;
}
