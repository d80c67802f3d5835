/* checkpoint.c — parameters between runs and files: which domains use each parameter (probe),
 * per-phase learning-rate scales, seeded init then fine-tune loading by name patterns with a
 * load map, weights files (safetensors, PyTorch layouts, running statistics included), and the
 * training state that makes --resume bit-exact (params, solver moments, counters, batcher
 * cursors, best weights, early-stopping counter, the log so far).
 * It does not decide when to save (loop.c) and never exits.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_init.h"
#include "hsi_io.h"
#include "hsi_trainer.h"
#include "trainer_internal.h"

/* ---- ownership and lr scales ---------------------------------------------------------------- */

int hsi_trainer_param_owners(const hsi_netdesc *net, hsi_model *m, int batch, uint32_t *owners,
                             char *err, size_t errlen)
{
    hsi_param *ps;
    int np = net->params(m, &ps);
    const uint32_t all = net->n_domains >= 32 ? 0xffffffffu : (1u << net->n_domains) - 1;
    if (net->n_domains > 32) return tr_fail(err, errlen, "at most 32 domains are supported");
    for (int i = 0; i < np; i++) owners[i] = net->n_domains == 1 ? all : 0;
    if (net->n_domains == 1) return 0;
    int64_t per = 0;
    for (int d = 0; d < net->n_domains; d++) {
        int64_t n = 1;
        for (int k = 0; k < net->domains[d].ndim; k++) n *= net->domains[d].in_dims[k];
        per = n > per ? n : per;
    }
    float *x = malloc(sizeof *x * (size_t)(per * batch));
    int64_t ny = batch;   /* labels per batch: a per-pixel loss reads windows */
    for (int d = 0; d < net->n_domains; d++)
        if (net->domains[d].label_patch)
            ny = ny > (int64_t)batch * net->domains[d].label_patch * net->domains[d].label_patch ? ny
                 : (int64_t)batch * net->domains[d].label_patch * net->domains[d].label_patch;
    int32_t *y = malloc(sizeof *y * (size_t)ny);
    if (!x || !y) {
        free(x);
        free(y);
        return tr_fail(err, errlen, "out of memory");
    }
    hsi_init_params(ps, np, 0x70726f6265ull);
    for (int d = 0; d < net->n_domains; d++) {
        for (int64_t i = 0; i < per * batch; i++)
            x[i] = (float)((double)(hsi_hash64((uint64_t)d, (uint64_t)i) >> 11) / 4503599627370496.0 - 1.0);
        for (int64_t i = 0; i < ny; i++) y[i] = (int32_t)(i % net->domains[d].classes);
        net->zero_grad(m);
        net->forward(m, d, x, batch, 1, 0);
        net->loss_backward(m, d, y, batch, 1.0f);
        for (int i = 0; i < np; i++) {
            if (!ps[i].grad) continue;
            for (int64_t j = 0; j < ps[i].numel; j++)
                if (ps[i].grad[j] != 0) {
                    owners[i] |= 1u << d;
                    break;
                }
        }
    }
    net->zero_grad(m);
    for (int i = 0; i < np; i++)
        if (!owners[i]) owners[i] = all;
    free(x);
    free(y);
    return 0;
}

int tr_match_any(char *const *patterns, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (fnmatch(patterns[i], name, 0) == 0) return 1;
    return 0;
}

void hsi_trainer_lr_scales(const hsi_experiment *x, int ph, const hsi_param *ps, int np,
                           const uint32_t *owners, float *out)
{
    const hsi_exp_phase *p = &x->phases[ph];
    uint32_t active = 0;
    for (int i = 0; i < p->n_domains; i++) active |= 1u << p->domains[i];
    for (int i = 0; i < np; i++) {
        uint32_t used = owners[i] & active;
        int users = 0;
        for (uint32_t u = used; u; u &= u - 1) users++;
        if (!used || tr_match_any(x->init.freeze, x->init.n_freeze, ps[i].name))
            out[i] = 0;
        else if (ps[i].shared || users > 1)
            out[i] = x->shared_lr_scale > 0 ? x->shared_lr_scale : 1.0f / (float)p->n_domains;
        else
            out[i] = 1;
    }
}

/* ---- init and fine-tune loading ------------------------------------------------------------- */

static int same_shape(const hsi_st_info *t, const hsi_param *p)
{
    if (t->ndim != p->ndim) return 0;
    for (int k = 0; k < p->ndim; k++)
        if (t->dims[k] != p->dims[k]) return 0;
    return 1;
}

static const hsi_param *find_param(const hsi_param *ps, int np, const char *name)
{
    for (int i = 0; i < np; i++)
        if (strcmp(ps[i].name, name) == 0) return &ps[i];
    return NULL;
}

int hsi_trainer_init_params(const hsi_experiment *x, hsi_param *ps, int np, uint64_t seed,
                            FILE *log, char *err, size_t errlen)
{
    hsi_init_params(ps, np, seed);
    const hsi_exp_init *in = &x->init;
    if (!in->checkpoint) return 0;
    hsi_st_file *f = hsi_st_open(in->checkpoint, err, errlen);
    if (!f) return -1;
    char a[96], b[96];
    int loaded = 0, fresh = 0, skipped = 0, rc = 0;
    if (log) fprintf(log, "init from %s:\n", in->checkpoint);
    for (int i = 0; i < np && rc == 0; i++) {
        const hsi_param *p = &ps[i];
        const char *what = "initialised (not in init.load)";
        const hsi_st_info *t = hsi_st_find(f, p->name);
        if (tr_match_any(in->load, in->n_load, p->name)) {
            if (!t) {
                what = "initialised (not in the checkpoint)";
            } else if (!same_shape(t, p)) {
                rc = tr_fail(err, errlen, "init.checkpoint %s: tensor '%s': the checkpoint has "
                             "%s, the net expects %s; leave it out of init.load (e.g. load: "
                             "[\"trunk.*\"]) or start from a checkpoint of this architecture",
                             in->checkpoint, p->name, hsi_st_shape_str(t->ndim, t->dims, a, sizeof a),
                             hsi_st_shape_str(p->ndim, p->dims, b, sizeof b));
                break;
            } else if (hsi_st_read_param(f, p, err, errlen)) {
                rc = -1;
                break;
            } else {
                what = "loaded";
            }
        }
        if (what[0] == 'l') loaded++; else fresh++;
        if (log)
            fprintf(log, "  %-38s %s %s%s\n", what, p->name,
                    hsi_st_shape_str(p->ndim, p->dims, a, sizeof a),
                    tr_match_any(in->freeze, in->n_freeze, p->name) ? " (frozen)" : "");
    }
    for (int j = 0; j < hsi_st_count(f) && rc == 0; j++) {
        const hsi_st_info *t = hsi_st_at(f, j);
        if (find_param(ps, np, t->name)) continue;
        skipped++;
        if (log && strncmp(t->name, "opt.", 4) && strncmp(t->name, "best.", 5))
            fprintf(log, "  %-38s %s %s\n",
                    tr_match_any(in->load, in->n_load, t->name) ? "skipped (not in this net)"
                                                                : "skipped (not in init.load)",
                    t->name, hsi_st_shape_str(t->ndim, t->dims, a, sizeof a));
    }
    if (log && rc == 0)
        fprintf(log, "init: %d loaded, %d initialised, %d checkpoint tensors skipped\n", loaded,
                fresh, skipped);
    if (log && rc == 0 && loaded == 0) {   /* a wrong file or a pattern typo, said once */
        int shared = 0;
        for (int i = 0; i < np; i++) shared += hsi_st_find(f, ps[i].name) != NULL;
        if (shared)
            fprintf(log, "warning: init.checkpoint: nothing loaded: init.load matches none of the "
                    "%d parameters this net shares with the checkpoint\n", shared);
        else
            fprintf(log, "warning: init.checkpoint: nothing loaded: none of the %d tensors of the "
                    "checkpoint is a parameter of this net (a checkpoint of another net?)\n",
                    hsi_st_count(f));
    }
    hsi_st_close(f);
    return rc;
}

/* ---- weights files -------------------------------------------------------------------------- */

/* Base metadata plus the caller's pairs into out (room for n_meta + 3). */
static int weights_meta(const hsi_netdesc *net, const hsi_st_meta *meta, int n_meta,
                        hsi_st_meta *out)
{
    out[0] = (hsi_st_meta){"format", "pt"};
    out[1] = (hsi_st_meta){"net", net->name};
    out[2] = (hsi_st_meta){"source", net->source ? net->source : ""};
    for (int i = 0; i < n_meta; i++) out[3 + i] = meta[i];
    return n_meta + 3;
}

int tr_ckpt_save_weights_extra(const char *path, const hsi_netdesc *net, const hsi_param *ps,
                               int np, const hsi_st_tensor *extra, int n_extra,
                               const hsi_st_meta *meta, int n_meta, char *err, size_t errlen)
{
    hsi_st_meta all[16];
    if (n_meta > 13) return tr_fail(err, errlen, "%s: too many metadata pairs", path);
    int n = weights_meta(net, meta, n_meta, all);
    return hsi_st_save_params_extra(path, ps, np, extra, n_extra, all, n, err, errlen);
}

int hsi_ckpt_save_weights(const char *path, const hsi_netdesc *net, const hsi_param *ps, int np,
                          const hsi_st_meta *meta, int n_meta, char *err, size_t errlen)
{
    return tr_ckpt_save_weights_extra(path, net, ps, np, NULL, 0, meta, n_meta, err, errlen);
}

int hsi_ckpt_load_weights(const char *path, hsi_param *ps, int np, char *err, size_t errlen)
{
    hsi_st_file *f = hsi_st_open(path, err, errlen);
    if (!f) return -1;
    int rc = 0;
    for (int i = 0; i < np && rc == 0; i++) {
        if (!hsi_st_find(f, ps[i].name))
            rc = tr_fail(err, errlen, "%s: no tensor '%s': these weights are not for this net "
                         "(the file has %d tensors)", path, ps[i].name, hsi_st_count(f));
        else
            rc = hsi_st_read_param(f, &ps[i], err, errlen);
    }
    hsi_st_close(f);
    return rc;
}

/* ---- training state ------------------------------------------------------------------------- */

void tr_state_free(tr_state *s)
{
    free(s->bst);
    free(s->log);
    free(s->best_values);
    memset(s, 0, sizeof *s);
}

int tr_state_log_row(tr_state *s, const double *row)
{
    if (s->log_rows == s->log_cap) {
        int cap = s->log_cap ? 2 * s->log_cap : 64;
        double *l = realloc(s->log, sizeof *l * (size_t)cap * TR_LOG_COLS);
        if (!l) return -1;
        s->log = l;
        s->log_cap = cap;
    }
    memcpy(s->log + (size_t)s->log_rows * TR_LOG_COLS, row, sizeof *row * TR_LOG_COLS);
    s->log_rows++;
    return 0;
}

/* Metadata values are text; doubles with %.17g round-trip exactly. */
typedef struct metabuf {
    hsi_st_meta m[28];   /* text's entries and the two of their own (batchers, log) */
    char text[26][64];
    int n;
} metabuf;

static void put_meta(metabuf *b, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_meta(metabuf *b, const char *key, const char *fmt, ...)
{
    if (b->n >= (int)(sizeof b->text / sizeof b->text[0])) abort();   /* a key added past it */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->text[b->n], sizeof b->text[b->n], fmt, ap);
    va_end(ap);
    b->m[b->n] = (hsi_st_meta){key, b->text[b->n]};
    b->n++;
}

static char *log_text(const tr_state *s)
{
    size_t cap = (size_t)s->log_rows * TR_LOG_COLS * 26 + 1, len = 0;
    char *t = malloc(cap);
    if (!t) return NULL;
    t[0] = 0;
    for (int r = 0; r < s->log_rows; r++)
        for (int c = 0; c < TR_LOG_COLS; c++)
            len += (size_t)snprintf(t + len, cap - len, "%.17g%c", s->log[r * TR_LOG_COLS + c],
                                    c + 1 < TR_LOG_COLS ? ',' : ';');
    return t;
}

/* The log rows of a state: steps in order and at most the state's, phases at most its phase,
 * elapsed times finite and >= 0. */
static int parse_log(tr_state *s, const char *path, const char *t, char *err, size_t errlen)
{
    double row[TR_LOG_COLS];
    while (t && *t) {
        for (int c = 0; c < TR_LOG_COLS; c++) {
            char *end;
            row[c] = strtod(t, &end);
            if (end == t || (*end != ',' && *end != ';'))
                return tr_fail(err, errlen, "%s: bad log in the state (row %d is not %d numbers)",
                               path, s->log_rows + 1, TR_LOG_COLS);
            t = end + 1;
        }
        double st = row[TR_LOG_STEP], prev = s->log_rows ? s->log[(s->log_rows - 1) * TR_LOG_COLS] : 0;
        if (!(st >= prev && st <= (double)s->step && st == floor(st)) ||
            !(row[TR_LOG_PHASE] >= 0 && row[TR_LOG_PHASE] <= s->phase &&
              row[TR_LOG_PHASE] == floor(row[TR_LOG_PHASE])) ||
            !(isfinite(row[TR_LOG_ELAPSED]) && row[TR_LOG_ELAPSED] >= 0))
            return tr_fail(err, errlen, "%s: bad log in the state: row %d has step %g, phase %g, "
                           "elapsed %g (steps in order up to the state's %" PRId64 ", phases up "
                           "to its %d, elapsed seconds >= 0)", path, s->log_rows + 1, st,
                           row[TR_LOG_PHASE], row[TR_LOG_ELAPSED], s->step, s->phase);
        if (tr_state_log_row(s, row)) return tr_fail(err, errlen, "out of memory");
    }
    return 0;
}

int tr_state_save(const char *path, const tr_state *s, const hsi_param *ps, int np,
                  hsi_solver *solver, char *err, size_t errlen)
{
    const hsi_solver_tensor *sv;
    int nsv = hsi_solver_state(solver, &sv);
    int n_extra = nsv + (s->has_best ? np : 0);
    hsi_st_tensor *extra = calloc((size_t)n_extra + 1, sizeof *extra);
    char **names = calloc((size_t)np + 1, sizeof *names);
    char *log = log_text(s);
    char *bst = malloc((size_t)s->n_dom * 90 + 1);
    if (!extra || !names || !log || !bst) {
        free(extra);
        free(names);
        free(log);
        free(bst);
        return tr_fail(err, errlen, "%s: out of memory", path);
    }
    for (int i = 0; i < nsv; i++) {
        extra[i].name = sv[i].name;
        extra[i].ndim = sv[i].ndim;
        memcpy(extra[i].dims, sv[i].dims, sizeof(int64_t) * (size_t)sv[i].ndim);
        extra[i].data = sv[i].data;
    }
    const float *bv = s->best_values;
    for (int i = 0; s->has_best && i < np; i++) {
        hsi_st_tensor *t = &extra[nsv + i];
        size_t len = strlen(ps[i].name) + 6;
        if (!(names[i] = malloc(len))) break;
        snprintf(names[i], len, "best.%s", ps[i].name);
        t->name = names[i];
        t->ndim = ps[i].ndim;
        memcpy(t->dims, ps[i].dims, sizeof(int64_t) * (size_t)ps[i].ndim);
        t->data = bv;
        bv += ps[i].numel;
    }
    size_t bl = 0;
    bst[0] = 0;
    for (int d = 0; d < s->n_dom; d++)
        bl += (size_t)snprintf(bst + bl, 90, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 ";",
                               s->bst[d].seed, s->bst[d].epoch, s->bst[d].pos, s->bst[d].step);
    metabuf mb;
    mb.n = 0;
    put_meta(&mb, "kind", "hsicc training state");
    put_meta(&mb, "seed", "%" PRIu64, s->seed);
    put_meta(&mb, "experiment", "%016" PRIx64, s->experiment);
    put_meta(&mb, "step", "%" PRId64, s->step);
    put_meta(&mb, "phase", "%d", s->phase);
    put_meta(&mb, "phase_it", "%" PRId64, s->phase_it);
    put_meta(&mb, "has_best", "%d", s->has_best);
    put_meta(&mb, "best", "%.17g", s->best);
    put_meta(&mb, "best_step", "%" PRId64, s->best_step);
    put_meta(&mb, "es_best", "%.17g", s->es_best);
    put_meta(&mb, "es_bad", "%d", s->es_bad);
    put_meta(&mb, "loss_sum", "%.17g", s->loss_sum);
    put_meta(&mb, "loss_n", "%" PRId64, s->loss_n);
    put_meta(&mb, "train_seconds", "%.17g", s->train_seconds);
    put_meta(&mb, "samples", "%" PRId64, s->samples);
    put_meta(&mb, "row_seconds", "%.17g", s->row_seconds);
    put_meta(&mb, "row_samples", "%" PRId64, s->row_samples);
    put_meta(&mb, "ranks", "%d", s->ranks > 1 ? s->ranks : 1);
    put_meta(&mb, "backend", "%s", s->backend == HSI_BACKEND_REF ? "ref" : "dnnl");
    if (s->threads > 0) put_meta(&mb, "threads", "%d", s->threads);
    put_meta(&mb, "plateau", "%.17g %.17g %d %d", s->plateau.lr, s->plateau.best, s->plateau.bad,
             s->plateau.cooldown);
    mb.m[mb.n++] = (hsi_st_meta){"batchers", bst};
    mb.m[mb.n++] = (hsi_st_meta){"log", log};
    int rc = hsi_st_save_params_extra(path, ps, np, extra, n_extra, mb.m, mb.n, err, errlen);
    for (int i = 0; i < np; i++) free(names[i]);
    free(names);
    free(extra);
    free(log);
    free(bst);
    return rc;
}

/* A metadata value of a state file, or NULL with the message. */
static const char *meta(hsi_st_file *f, const char *path, const char *key, char *err, size_t errlen)
{
    const char *v = hsi_st_metadata(f, key);
    if (!v || !*v) tr_fail(err, errlen, "%s: not a training state (metadata '%s' missing)", path, key);
    return v && *v ? v : NULL;
}

static int bad_meta(const char *path, const char *key, const char *v, const char *want, char *err,
                    size_t errlen)
{
    return tr_fail(err, errlen, "%s: bad training state: metadata '%s' is '%.40s', expected %s",
                   path, key, v, want);
}

/* A real number of the state in [lo, hi] (infinite only where a bound is), or NaN if nan_ok;
 * want says which in the message. */
static int meta_num(hsi_st_file *f, const char *path, const char *key, double *out, double lo,
                    double hi, int nan_ok, const char *want, char *err, size_t errlen)
{
    const char *v = meta(f, path, key, err, errlen);
    if (!v) return -1;
    char *end;
    *out = strtod(v, &end);
    if (end != v && !*end && (isnan(*out) ? nan_ok : *out >= lo && *out <= hi)) return 0;
    return bad_meta(path, key, v, want, err, errlen);
}

/* Every integer of the state is >= 0 (seeds use the full uint64 range); at most max. */
static int meta_int(hsi_st_file *f, const char *path, const char *key, uint64_t *out,
                    uint64_t max, char *err, size_t errlen)
{
    const char *v = meta(f, path, key, err, errlen);
    if (!v) return -1;
    char *end;
    errno = 0;
    *out = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || errno == ERANGE || *out > max) {
        char want[64];
        snprintf(want, sizeof want, "an integer in 0..%" PRIu64, max);
        return bad_meta(path, key, v, want, err, errlen);
    }
    return 0;
}

/* Two counters of the state that cannot be in the other order. */
static int meta_le(const char *path, const char *ka, uint64_t a, const char *kb, uint64_t b,
                   char *err, size_t errlen)
{
    if (a <= b) return 0;
    return tr_fail(err, errlen, "%s: bad training state: metadata '%s' (%" PRIu64 ") is more "
                   "than '%s' (%" PRIu64 ")", path, ka, a, kb, b);
}

uint64_t tr_experiment_hash(const hsi_experiment *x)
{
    hsi_experiment c = hsi_experiment_training(x);   /* and one run: a state is a run's */
    c.runs = (hsi_exp_runs){1, 0, NULL, 0};
    char e[64];
    char *text = hsi_experiment_to_yaml(&c, e, sizeof e);
    if (!text) return 0;
    uint64_t h = 1469598103934665603ull;
    for (const char *t = text; *t; t++) h = (h ^ (unsigned char)*t) * 1099511628211ull;
    free(text);
    return h;
}

/* The state was written by this experiment (or by a trainer that did not record it). */
static int experiment_matches(const hsi_st_file *f, uint64_t want)
{
    const char *v = hsi_st_metadata(f, "experiment");
    if (!v) return 1;
    size_t n = strspn(v, "0123456789abcdef");
    if (n != 16 || v[n]) return -1;
    return !want || strtoull(v, NULL, 16) == want;
}

int tr_state_load(const char *path, tr_state *s, hsi_param *ps, int np, hsi_solver *solver,
                  char *err, size_t errlen)
{
    hsi_st_file *f = hsi_st_open(path, err, errlen);
    if (!f) return -1;
    uint64_t phase = 0, has_best = 0, es_bad = 0, seed = 0, step = 0, phase_it = 0, best_step = 0,
             loss_n = 0, samples = 0, row_samples = 0;
    int rc = 0;
    const uint64_t I64 = INT64_MAX, I32 = INT32_MAX;
    const char *kind = hsi_st_metadata(f, "kind");
    const char *backend = hsi_st_metadata(f, "backend");   /* states before it: not recorded */
    const char *want_backend = s->backend == HSI_BACKEND_REF ? "ref" : "dnnl";
    if (!kind || strcmp(kind, "hsicc training state"))
        rc = tr_fail(err, errlen, "%s: not a training state (metadata 'kind' is %s%.40s%s, not "
                     "'hsicc training state')", path, kind ? "'" : "", kind ? kind : "missing",
                     kind ? "'" : "");
    else if (experiment_matches(f, s->experiment) < 0)
        rc = bad_meta(path, "experiment", hsi_st_metadata(f, "experiment"),
                      "16 hexadecimal digits (the experiment's hash)", err, errlen);
    else if (backend && strcmp(backend, "dnnl") && strcmp(backend, "ref"))
        rc = bad_meta(path, "backend", backend, "dnnl or ref", err, errlen);
    /* the backend is part of the experiment's hash: said before the hash, which it would fail */
    else if (backend && strcmp(backend, want_backend))
        rc = tr_fail(err, errlen, "%s: this training state was written by the %s backend, this run "
                     "uses %s (--backend or the experiment's backend): resume it with --backend %s "
                     "(the backends' floats differ, so a switch would not continue bit for bit), or "
                     "train into a new folder", path, backend, want_backend, backend);
    else if (!experiment_matches(f, s->experiment))
        rc = tr_fail(err, errlen, "%s: the run folder's experiment.yaml was changed after this "
                     "state was written (batch, lr, ...): put it back as it was, or train the "
                     "changed experiment into a new folder (--out DIR)", path);
    else if (meta_int(f, path, "seed", &seed, UINT64_MAX, err, errlen) ||
        meta_int(f, path, "step", &step, I64, err, errlen) ||
        meta_int(f, path, "phase", &phase, I32, err, errlen) ||
        meta_int(f, path, "phase_it", &phase_it, I64, err, errlen) ||
        meta_int(f, path, "has_best", &has_best, 1, err, errlen) ||
        meta_num(f, path, "best", &s->best, 0, INFINITY, 0, "a number >= 0", err, errlen) ||
        meta_int(f, path, "best_step", &best_step, I64, err, errlen) ||
        meta_num(f, path, "es_best", &s->es_best, 0, INFINITY, 1, "nan or a number >= 0", err, errlen) ||
        meta_int(f, path, "es_bad", &es_bad, I32, err, errlen) ||
        meta_num(f, path, "loss_sum", &s->loss_sum, 0, DBL_MAX, 0, "a finite number >= 0", err, errlen) ||
        meta_int(f, path, "loss_n", &loss_n, I64, err, errlen) ||
        meta_num(f, path, "train_seconds", &s->train_seconds, 0, DBL_MAX, 0, "a finite number >= 0", err, errlen) ||
        meta_int(f, path, "samples", &samples, I64, err, errlen) ||
        meta_num(f, path, "row_seconds", &s->row_seconds, 0, DBL_MAX, 0, "a finite number >= 0", err, errlen) ||
        meta_int(f, path, "row_samples", &row_samples, I64, err, errlen))
        rc = -1;
    if (rc == 0)
        rc = meta_le(path, "phase_it", phase_it, "step", step, err, errlen) ||
             meta_le(path, "best_step", best_step, "step", step, err, errlen) ||
             meta_le(path, "loss_n", loss_n, "step", step, err, errlen) ||
             meta_le(path, "row_samples", row_samples, "samples", samples, err, errlen) ? -1 : 0;
    /* the batch of every step is sharded over the ranks: a state continues only with as many
     * (states without the key were written by one process) */
    uint64_t threads = 0;   /* not recorded: 0 */
    if (rc == 0 && hsi_st_metadata(f, "threads") &&
        meta_int(f, path, "threads", &threads, HSI_THREADS_MAX, err, errlen))
        rc = -1;
    if (rc == 0 && hsi_st_metadata(f, "threads") && threads == 0)
        rc = bad_meta(path, "threads", "0", "an integer >= 1", err, errlen);
    s->threads = (int)threads;
    uint64_t ranks = 1;
    int want = s->ranks > 1 ? s->ranks : 1;
    if (rc == 0 && hsi_st_metadata(f, "ranks") && meta_int(f, path, "ranks", &ranks, I32, err, errlen))
        rc = -1;
    if (rc == 0 && ranks == 0) rc = bad_meta(path, "ranks", "0", "an integer >= 1", err, errlen);
    if (rc == 0 && ranks != (uint64_t)want) {
        char how[64] = "one process (no mpirun, or mpirun -np 1)";
        if (ranks > 1) snprintf(how, sizeof how, "mpirun -np %" PRIu64, ranks);
        rc = tr_fail(err, errlen, "%s: this training state was written by a run on %" PRIu64
                     " MPI rank%s, this one has %d: resume it with %s (the same ranks share every "
                     "batch the same way), or train into a new folder", path, ranks,
                     ranks == 1 ? "" : "s", want, how);
    }
    if (rc == 0 && seed != s->seed)
        rc = tr_fail(err, errlen, "%s: the state is of a run with seed %" PRIu64 ", this run's "
                     "seed is %" PRIu64 " (was the experiment changed?)", path, seed, s->seed);
    s->step = (int64_t)step;
    s->phase_it = (int64_t)phase_it;
    s->best_step = (int64_t)best_step;
    s->loss_n = (int64_t)loss_n;
    s->samples = (int64_t)samples;
    s->row_samples = (int64_t)row_samples;
    s->phase = (int)phase;
    s->has_best = (int)has_best;
    s->es_bad = (int)es_bad;
    /* reduce-on-plateau: lr, best, bad, cooldown (states of older trainers have none: they
     * cannot have trained with policy plateau, whose state starts over then) */
    const char *pl = hsi_st_metadata(f, "plateau");
    int pl_end = 0;
    if (rc == 0 && pl &&
        (sscanf(pl, "%lf %lf %d %d%n", &s->plateau.lr, &s->plateau.best, &s->plateau.bad,
                &s->plateau.cooldown, &pl_end) != 4 || pl[pl_end] || !isfinite(s->plateau.lr) ||
         s->plateau.lr < 0 || isnan(s->plateau.best) || s->plateau.bad < 0 ||
         s->plateau.cooldown < 0))
        rc = bad_meta(path, "plateau", pl, "'lr best bad cooldown' (lr finite and >= 0, best a "
                      "number, bad and cooldown integers >= 0)", err, errlen);
    const char *b = hsi_st_metadata(f, "batchers");
    for (int d = 0; rc == 0 && d < s->n_dom; d++) {
        int used = 0;
        if (!b || sscanf(b, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 ";%n", &s->bst[d].seed,
                         &s->bst[d].epoch, &s->bst[d].pos, &s->bst[d].step, &used) != 4 || !used)
            rc = tr_fail(err, errlen, "%s: bad batcher cursors in the state", path);
        else
            b += used;
    }
    if (rc == 0 && b && *b)
        rc = tr_fail(err, errlen, "%s: bad batcher cursors in the state: more than the %d "
                     "domain(s) of this experiment ('%.40s' is left over)", path, s->n_dom, b);
    s->log_rows = 0;
    if (rc == 0) rc = parse_log(s, path, hsi_st_metadata(f, "log"), err, errlen);
    for (int i = 0; i < np && rc == 0; i++) rc = hsi_st_read_param(f, &ps[i], err, errlen);
    const hsi_solver_tensor *sv;
    int nsv = hsi_solver_state(solver, &sv);
    for (int i = 0; i < nsv && rc == 0; i++) {
        const hsi_st_info *t = hsi_st_find(f, sv[i].name);
        if (!t) {
            rc = tr_fail(err, errlen, "%s: no solver tensor '%s' (a state of another solver?)",
                         path, sv[i].name);
            break;
        }
        rc = hsi_st_read(f, sv[i].name, sv[i].ndim, sv[i].dims, sv[i].data, err, errlen);
    }
    if (rc == 0) hsi_solver_set_steps(solver, s->step);
    char e2[400];
    if (rc == 0 && hsi_solver_check_state(solver, e2, sizeof e2))
        rc = tr_fail(err, errlen, "%s: bad training state: %s", path, e2);
    float *bv = s->best_values;
    for (int i = 0; i < np && rc == 0 && s->has_best; i++) {
        char name[512];
        snprintf(name, sizeof name, "best.%s", ps[i].name);
        rc = hsi_st_read(f, name, ps[i].ndim, ps[i].dims, bv, err, errlen);
        if (rc == 0 && ps[i].role == HSI_ROLE_BN_VAR)   /* as the params' own (hsi_st_read_param) */
            rc = hsi_st_check_variance(f, name, bv, ps[i].numel, err, errlen);
        bv += ps[i].numel;
    }
    hsi_st_close(f);
    return rc;
}
