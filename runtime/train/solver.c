/* solver.c — SGD (Caffe and PyTorch momentum), RMSProp (Keras 2.0), Adam, AdamW, Adagrad and
 * Adadelta over the hsi_param table; optimizer state exposed as named tensors for checkpoints.
 *
 * Formulas and their sources are in hsi_train.h. Everything is allocated in create(); step()
 * allocates nothing. Params with grad == NULL (state, frozen) and params whose lr scale is 0
 * (inactive in this phase, frozen by the experiment) are not touched at all.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_kernels.h"
#include "hsi_train.h"
#include "../model/thread_part.h"

/* Per-param solver data. */
typedef struct slot {
    hsi_param *p;
    int index;         /* in the params array given to create() */
    float lr_scale;
    float *m;          /* SGD velocity / Adam first moment / Adadelta delta average, or NULL */
    float *v;          /* RMSProp, Adadelta average / Adam second moment / Adagrad sum, or NULL */
    float *t;          /* Adam, Adagrad: this param's update count (1 float), or NULL */
} slot;

struct hsi_solver {
    hsi_solver_opts o;
    int n;             /* params updated (grad != NULL) */
    slot *slots;
    int n_state;
    hsi_solver_tensor *state;
    int64_t steps;
    int nonfinite;     /* the last step: 1 wrote a non-finite weight, 0 none, -1 not tracked */
    int flat;          /* HSICC_SOLVER_FLAT=1 at create: step_elementwise's one flat split */
    float *mem;        /* every state buffer, one block */
    char *names;       /* every state name, one block */
};

const char *const hsi_solver_type_names[HSI_SOLVER_LAST + 1] = {"sgd", "rmsprop", "adam", "adamw",
                                                             "adagrad", "adadelta"};

hsi_solver_opts hsi_solver_defaults(hsi_solver_type type)
{
    hsi_solver_opts o;
    memset(&o, 0, sizeof o);
    o.type = type;
    o.momentum_style = HSI_MOMENTUM_CAFFE;
    o.weight_decay = type == HSI_SOLVER_ADAMW ? 0.01f : 0.0f;
    o.rho = 0.9f;
    o.eps = type == HSI_SOLVER_ADAGRAD ? 1e-10f : type == HSI_SOLVER_ADADELTA ? 1e-6f : 1e-8f;
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    return o;
}

const char *hsi_solver_type_name(hsi_solver_type t)
{
    return (unsigned)t <= HSI_SOLVER_LAST ? hsi_solver_type_names[t] : "?";
}

int hsi_solver_type_parse(const char *s)
{
    for (int i = 0; i <= HSI_SOLVER_LAST; i++)
        if (strcmp(s, hsi_solver_type_names[i]) == 0) return i;
    return -1;
}

static const char *check_opts(const hsi_solver_opts *o)
{
    if ((unsigned)o->type > HSI_SOLVER_LAST) return "unknown solver type";
    if (!(o->weight_decay >= 0)) return "weight_decay must be >= 0";
    if (!(o->momentum >= 0 && o->momentum < 1)) return "momentum must be in [0, 1)";
    if (o->nesterov && o->type == HSI_SOLVER_SGD && o->momentum == 0)
        return "nesterov needs momentum > 0";
    if (!(o->rho >= 0 && o->rho < 1)) return "rho must be in [0, 1)";
    if (!(o->eps > 0)) return "eps must be > 0";
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
        return "betas must be in [0, 1)";
    if (!(o->lr_decay >= 0)) return "lr_decay must be >= 0";
    if (!(o->initial_accumulator_value >= 0)) return "initial_accumulator_value must be >= 0";
    return NULL;
}

hsi_solver *hsi_solver_create(const hsi_solver_opts *opts, hsi_param *params, int n,
                              const float *lr_scale, char *err, size_t errlen)
{
    const char *bad = check_opts(opts);
    if (bad) {
        snprintf(err, errlen, "solver %s: %s", hsi_solver_type_name(opts->type), bad);
        return NULL;
    }
    hsi_solver_type ty = opts->type;
    int use_m = ty == HSI_SOLVER_ADAM || ty == HSI_SOLVER_ADAMW || ty == HSI_SOLVER_ADADELTA ||
                (ty == HSI_SOLVER_SGD && opts->momentum > 0);
    int use_v = ty != HSI_SOLVER_SGD;
    int use_t = ty == HSI_SOLVER_ADAM || ty == HSI_SOLVER_ADAMW || ty == HSI_SOLVER_ADAGRAD;
    int per = use_m + use_v + use_t;
    hsi_solver *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->o = *opts;
    s->nonfinite = -1;   /* no step yet (also after hsi_solver_set_steps on resume) */
    s->flat = hsi_env_flag("HSICC_SOLVER_FLAT");
    size_t floats = 0, chars = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i].grad) continue;
        s->n++;
        floats += (size_t)(use_m + use_v) * (size_t)params[i].numel + (size_t)use_t;
        chars += (size_t)per * (strlen(params[i].name) + 8);
    }
    s->slots = calloc((size_t)s->n + 1, sizeof *s->slots);
    s->state = calloc((size_t)(s->n * per) + 1, sizeof *s->state);
    s->mem = calloc(floats + 1, sizeof *s->mem);
    s->names = malloc(chars + 1);
    if (!s->slots || !s->state || !s->mem || !s->names) goto oom;
    float *f = s->mem;
    char *nm = s->names;
    int k = 0;
    for (int i = 0; i < n; i++) {
        hsi_param *p = &params[i];
        if (!p->grad) continue;
        slot *sl = &s->slots[k++];
        sl->p = p;
        sl->index = i;
        sl->lr_scale = lr_scale ? lr_scale[i] : 1.0f;
        float **bufs[3] = {use_m ? &sl->m : NULL, use_v ? &sl->v : NULL, use_t ? &sl->t : NULL};
        static const char *const prefix[3] = {"opt.m.", "opt.v.", "opt.t."};
        const char *pre_m = ty == HSI_SOLVER_ADADELTA ? "opt.d." : prefix[0];
        for (int b = 0; b < 3; b++) {
            if (!bufs[b]) continue;
            hsi_solver_tensor *t = &s->state[s->n_state++];
            int64_t numel = b == 2 ? 1 : p->numel;
            *bufs[b] = t->data = f;
            f += numel;
            t->numel = numel;
            t->ndim = b == 2 ? 1 : p->ndim;
            if (b == 2) t->dims[0] = 1;
            else memcpy(t->dims, p->dims, sizeof t->dims);
            t->name = nm;
            nm += sprintf(nm, "%s%s", b == 0 ? pre_m : prefix[b], p->name) + 1;
        }
        if (ty == HSI_SOLVER_ADAGRAD)
            for (int64_t j = 0; j < p->numel; j++) sl->v[j] = opts->initial_accumulator_value;
    }
    return s;
oom:
    snprintf(err, errlen, "solver: out of memory");
    hsi_solver_free(s);
    return NULL;
}

void hsi_solver_free(hsi_solver *s)
{
    if (!s) return;
    free(s->slots);
    free(s->state);
    free(s->mem);
    free(s->names);
    free(s);
}

void hsi_solver_set_lr_scale(hsi_solver *s, const float *lr_scale)
{
    for (int i = 0; i < s->n; i++)
        s->slots[i].lr_scale = lr_scale ? lr_scale[s->slots[i].index] : 1.0f;
}

/* The first element of a state buffer that is below 0 (or, integer set, not a whole number),
 * or -1. */
static int64_t first_bad(const float *x, int64_t n, int integer)
{
    for (int64_t i = 0; i < n; i++)
        if (x[i] < 0 || (integer && x[i] != floorf(x[i]))) return i;
    return -1;
}

int hsi_solver_check_state(const hsi_solver *s, char *err, size_t errlen)
{
    for (int i = 0; i < s->n_state; i++) {
        const hsi_solver_tensor *t = &s->state[i];
        int count = !strncmp(t->name, "opt.t.", 6);   /* steps taken: 0..steps */
        int square = !strncmp(t->name, "opt.v.", 6) || !strncmp(t->name, "opt.d.", 6);
        int64_t at = count || square ? first_bad(t->data, t->numel, count) : -1;
        if (at < 0 && !(count && t->data[0] > (float)s->steps)) continue;
        if (at < 0) at = 0;
        snprintf(err, errlen, "tensor '%.200s' holds %g at index %" PRId64 ": %s", t->name,
                 (double)t->data[at], at,
                 count ? "a count of steps is a whole number from 0 to the state's step count"
                       : "a sum or mean of squares is never negative; the state is damaged");
        return -1;
    }
    return 0;
}

int64_t hsi_solver_steps(const hsi_solver *s) { return s->steps; }
void hsi_solver_set_steps(hsi_solver *s, int64_t steps) { s->steps = steps; }

/* ---- updates, one param at a time ---------------------------------------------------------- */

/* SGD and RMSProp update every parameter in one OpenMP region (when solver.c is compiled with
 * it), all their elements one after another split evenly over the threads: one region a step
 * instead of one per parameter (SSRN has 46; a small one's was a one-thread team), and the
 * small ones split too. The
 * update is element-wise, so the results do not depend on the thread count. */
#ifdef _OPENMP
#define SV_PAR _Pragma("omp parallel if (total >= SV_PAR_MIN)")   /* total: the floats */
#define SV_ATOMIC _Pragma("omp atomic write")
#else
#define SV_PAR
#define SV_ATOMIC
#endif
#define SV_PAR_MIN 65536

/* 1 when v is not finite (NaN or an infinity): one compare the loops below vectorise */
#define SV_BAD(v) (!(fabsf(v) <= FLT_MAX))

/* Elements [a, b) of sl's parameter; 1 when a weight written is not finite
 * (hsi_solver_nonfinite). */
/* zero (hsi_solver_step_zero): each gradient element is zeroed by the loop that reads it, while
 * its line is in cache (a zero_grad pass of its own over the contextual CNN's 4.2 MB of
 * gradients was 1.2 % of the trainer's CPU samples; in the loop it costs nothing measurable). */
static int sgd(const hsi_solver_opts *o, const slot *sl, float lr, float wd, int64_t a, int64_t b,
               int zero)
{
    hsi_param *p = sl->p;
    float *w = p->value, *m = sl->m, *g = p->grad;
    float mu = o->momentum;
    int nesterov = o->nesterov, bad = 0;
    if (!m) {
        for (int64_t i = a; i < b; i++) {
            float gi = g[i];
            if (zero) g[i] = 0.0f;
            w[i] -= lr * (gi + wd * w[i]);
            bad |= SV_BAD(w[i]);
        }
        return bad;
    }
    if (o->momentum_style == HSI_MOMENTUM_CAFFE) {
        for (int64_t i = a; i < b; i++) {
            float prev = m[i], gi = g[i];
            if (zero) g[i] = 0.0f;
            m[i] = mu * m[i] + lr * (gi + wd * w[i]);
            w[i] -= nesterov ? (1.0f + mu) * m[i] - mu * prev : m[i];
            bad |= SV_BAD(w[i]);
        }
        return bad;
    }
    for (int64_t i = a; i < b; i++) {
        float gi = g[i];
        if (zero) g[i] = 0.0f;
        float d = gi + wd * w[i];
        m[i] = mu * m[i] + d;
        w[i] -= lr * (nesterov ? d + mu * m[i] : m[i]);
        bad |= SV_BAD(w[i]);
    }
    return bad;
}

static int rmsprop(const hsi_solver_opts *o, const slot *sl, float lr, float wd, int64_t a,
                   int64_t b, int zero)
{
    hsi_param *p = sl->p;
    float *w = p->value, *v = sl->v, *g = p->grad;
    float rho = o->rho, eps = o->eps;
    int bad = 0;
    for (int64_t i = a; i < b; i++) {
        float gi = g[i];
        if (zero) g[i] = 0.0f;
        float d = gi + wd * w[i];
        v[i] = rho * v[i] + (1.0f - rho) * d * d;
        w[i] -= lr * d / (sqrtf(v[i]) + eps);
        bad |= SV_BAD(w[i]);
    }
    return bad;
}

/* One slot's update over elements [a, b) (or its gradient zeroed when frozen); 1 when a weight
 * it wrote is not finite. */
static int step_slot(const hsi_solver *s, const slot *sl, float lr, int zero, int64_t a,
                     int64_t b)
{
    if (sl->lr_scale == 0.0f) {   /* frozen: only its gradient consumed */
        memset(sl->p->grad + a, 0, sizeof(float) * (size_t)(b - a));
        return 0;
    }
    float lr_i = lr * sl->p->lr_mult * sl->lr_scale;
    float wd_i = s->o.weight_decay * sl->p->decay_mult;
    if (s->o.type == HSI_SOLVER_SGD) return sgd(&s->o, sl, lr_i, wd_i, a, b, zero);
    return rmsprop(&s->o, sl, lr_i, wd_i, a, b, zero);
}

/* SGD or RMSProp over every active slot (see SV_PAR); s->nonfinite: whether a weight it wrote
 * is not finite. zero: every slot's gradient zeroed too (a frozen slot's by memset). Each slot
 * of at least SV_SPLIT_MIN floats is split over the threads (thread t its t-th part, at 16-float
 * bounds), the smaller ones whole, dealt round the threads: the parts the kernels' own splits
 * gave each thread (a weights gradient reduced per half of its rows, a GEMM's per block) stay
 * with it more often than in one split of all slots one after another, which handed most of a
 * slot's lines from one core's cache to the other's (the contextual CNN, 2 threads on a VM whose
 * vCPUs at times share no cache: the step took 1.2-2.0 ms where it takes 0.4). Every element's
 * update is independent of the split: the same bits either way. HSICC_SOLVER_FLAT=1 at the
 * solver's create keeps the one split of all slots (for A/B runs; the tests run both). */
#define SV_SPLIT_MIN 4096
static void step_elementwise(hsi_solver *s, float lr, int zero)
{
    int64_t total = 0;
    int bad = 0, flat = s->flat;
    for (int i = 0; i < s->n; i++)
        if (zero || s->slots[i].lr_scale != 0.0f) total += s->slots[i].p->numel;
    SV_PAR
    {
        int mine = 0;
        if (flat) {
            int64_t lo, hi, at = 0;   /* this thread's part of the elements one after another */
            hsi_thread_part(total, &lo, &hi);
            for (int i = 0; i < s->n && at < hi; i++) {
                const slot *sl = &s->slots[i];
                if (!zero && sl->lr_scale == 0.0f) continue;
                int64_t n = sl->p->numel, a = lo > at ? lo - at : 0, b = hi < at + n ? hi - at : n;
                at += n;
                if (a < b) mine |= step_slot(s, sl, lr, zero, a, b);
            }
        } else {
            int t = 0, nt = 1, small = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
            nt = omp_get_num_threads();
#endif
            for (int i = 0; i < s->n; i++) {
                const slot *sl = &s->slots[i];
                if (!zero && sl->lr_scale == 0.0f) continue;
                int64_t n = sl->p->numel, lo, hi;
                if (n >= SV_SPLIT_MIN) {
                    hsi_thread_part(n, &lo, &hi);
                } else {
                    int own = small++ % nt == t;
                    lo = 0;
                    hi = own ? n : 0;
                }
                if (lo < hi) mine |= step_slot(s, sl, lr, zero, lo, hi);
            }
        }
        if (mine) {
            SV_ATOMIC
            bad = 1;
        }
    }
    s->nonfinite = bad;
}

/* torch.optim.Adam's single-tensor path: bias corrections in double, the rest in float. */
static void adam(const hsi_solver_opts *o, const slot *sl, float lr, float wd, int decoupled)
{
    hsi_param *p = sl->p;
    float *w = p->value, *m = sl->m, *v = sl->v;
    const float *g = p->grad;
    double t = (double)(*sl->t += 1.0f);
    float b1 = o->beta1, b2 = o->beta2;
    float step_size = (float)((double)lr / (1.0 - pow(b1, t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(b2, t));
    float shrink = (float)(1.0 - (double)lr * wd);
    for (int64_t i = 0; i < p->numel; i++) {
        float d = g[i];
        if (decoupled) w[i] *= shrink;
        else d += wd * w[i];
        m[i] = m[i] * b1 + (1.0f - b1) * d;
        v[i] = v[i] * b2 + (1.0f - b2) * d * d;
        w[i] += -step_size * (m[i] / (sqrtf(v[i]) / bc2_sqrt + o->eps));
    }
}

/* torch.optim.Adagrad's single-tensor path: clr in double, the rest in float. */
static void adagrad(const hsi_solver_opts *o, const slot *sl, float lr, float wd)
{
    hsi_param *p = sl->p;
    float *w = p->value, *a = sl->v;
    const float *g = p->grad;
    double t = (double)(*sl->t += 1.0f);
    float clr = (float)((double)lr / (1.0 + (t - 1.0) * (double)o->lr_decay));
    for (int64_t i = 0; i < p->numel; i++) {
        float d = g[i] + wd * w[i];
        a[i] += d * d;
        w[i] += -clr * d / (sqrtf(a[i]) + o->eps);
    }
}

/* torch.optim.Adadelta: v = squared-gradient average, m = squared-update average. */
static void adadelta(const hsi_solver_opts *o, const slot *sl, float lr, float wd)
{
    hsi_param *p = sl->p;
    float *w = p->value, *v = sl->v, *u = sl->m;
    const float *g = p->grad;
    for (int64_t i = 0; i < p->numel; i++) {
        float d = g[i] + wd * w[i];
        v[i] = v[i] * o->rho + (1.0f - o->rho) * d * d;
        float delta = sqrtf(u[i] + o->eps) / sqrtf(v[i] + o->eps) * d;
        u[i] = u[i] * o->rho + (1.0f - o->rho) * delta * delta;
        w[i] += -lr * delta;
    }
}

static void solver_step(hsi_solver *s, float lr, int zero)
{
    if (s->o.type == HSI_SOLVER_SGD || s->o.type == HSI_SOLVER_RMSPROP) {
        step_elementwise(s, lr, zero);
        s->steps++;
        return;
    }
    s->nonfinite = -1;   /* the other solvers' loops do not track it */
    for (int i = 0; i < s->n; i++) {
        const slot *sl = &s->slots[i];
        if (sl->lr_scale == 0.0f) {
            if (zero) memset(sl->p->grad, 0, sizeof(float) * (size_t)sl->p->numel);
            continue;
        }
        float lr_i = lr * sl->p->lr_mult * sl->lr_scale;
        float wd_i = s->o.weight_decay * sl->p->decay_mult;
        switch (s->o.type) {
        case HSI_SOLVER_SGD:
        case HSI_SOLVER_RMSPROP: break;   /* step_elementwise */
        case HSI_SOLVER_ADAM: adam(&s->o, sl, lr_i, wd_i, 0); break;
        case HSI_SOLVER_ADAMW: adam(&s->o, sl, lr_i, wd_i, 1); break;
        case HSI_SOLVER_ADAGRAD: adagrad(&s->o, sl, lr_i, wd_i); break;
        case HSI_SOLVER_ADADELTA: adadelta(&s->o, sl, lr_i, wd_i); break;
        }
        if (zero) memset(sl->p->grad, 0, sizeof(float) * (size_t)sl->p->numel);
    }
    s->steps++;
}

void hsi_solver_step(hsi_solver *s, float lr) { solver_step(s, lr, 0); }

void hsi_solver_step_zero(hsi_solver *s, float lr) { solver_step(s, lr, 1); }

int hsi_solver_nonfinite(const hsi_solver *s) { return s->nonfinite; }

/* ---- state ------------------------------------------------------------------------------------ */

int hsi_solver_state(hsi_solver *s, const hsi_solver_tensor **out)
{
    *out = s->state;
    return s->n_state;
}

static void shape_str(int ndim, const int64_t *dims, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

int hsi_solver_load_tensor(hsi_solver *s, const char *name, int ndim, const int64_t *dims,
                           const float *data, char *err, size_t errlen)
{
    for (int i = 0; i < s->n_state; i++) {
        hsi_solver_tensor *t = &s->state[i];
        if (strcmp(t->name, name)) continue;
        int same = ndim == t->ndim;
        for (int d = 0; same && d < ndim; d++) same = dims[d] == t->dims[d];
        if (!same) {
            char a[96], b[96];
            shape_str(ndim, dims, a, sizeof a);
            shape_str(t->ndim, t->dims, b, sizeof b);
            snprintf(err, errlen, "tensor '%s': checkpoint has %s, the solver expects %s", name,
                     a, b);
            return -1;
        }
        memcpy(t->data, data, sizeof *data * (size_t)t->numel);
        return 0;
    }
    snprintf(err, errlen, "checkpoint tensor '%s' is not a state of this %s solver", name,
             hsi_solver_type_name(s->o.type));
    return -1;
}
