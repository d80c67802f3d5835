/* model.c — the model scaffold every emitted network shares (hsi_model.h).
 *
 * The emitted file gives the tables (parameters, per-domain sizes and functions); this file
 * owns the memory: one block of parameter values, one of gradients, one arena for every
 * domain's activations, gradients and workspaces (the domains run one at a time, so they share
 * it: its size is the largest domain's plan), and dispatches the hsi_netdesc entry points to
 * the domain's emitted passes.
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hsi_io.h"
#include "hsi_model.h"
#include "thread_part.h"

#ifdef _OPENMP
#define MODEL_PAR _Pragma("omp parallel if (total >= MODEL_PAR_MIN)")   /* total: the floats */
#else
#define MODEL_PAR
#endif
/* The input's staging and the gradients' zeroing move several MB a step (the contextual CNN's
 * batch of 128: 2.6 MB in, 4.2 MB of gradients) on the calling thread alone while the others
 * wait: from this many floats they are split over OpenMP's threads, one region each. */
#define MODEL_PAR_MIN 65536

int hsi_model_fail(const hsi_model *m, const char *layer, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: layer '%s': %s", m->spec->name, layer, hsi_rt_error(m->rt));
    return 1;
}

void hsi_dstate_plan(hsi_dstate *s, int n_bufs, const hsi_buf *bufs, const int *alias)
{
    size_t sum = 0;
    for (int i = 0; i < n_bufs; i++) sum += bufs[i].bytes;
    s->sum = sum;
    s->arena = hsi_arena_plan_aliased(n_bufs, bufs, alias, 64, s->off);
    /* every buffer of a group of several: an aliasing buffer and the chain it points along */
    for (int i = 0; alias && i < n_bufs; i++) {
        if (alias[i] < 0) continue;
        for (int j = i, k = 0; j >= 0 && j < n_bufs && k <= n_bufs; j = alias[j], k++)
            s->grouped[j] = 1;
    }
}

/* HSICC_NO_INPUT_BORROW=1: the input is always copied (for A/B runs). */
static int borrow_off(void)
{
    static int off = -1;
    if (off < 0) off = hsi_env_flag("HSICC_NO_INPUT_BORROW");
    return off;
}

void hsi_model_input_to(const hsi_model *m, hsi_dstate *s, int buf, const float *x, int n,
                        int64_t per_sample)
{
    float *own = (float *)((char *)m->arena + s->off[buf]);
    if (n == m->batch && x && !s->grouped[buf] && (uintptr_t)x % 64 == 0 && !borrow_off()) {
        s->buf[buf] = (float *)x;   /* read in place: nothing writes the input buffer */
        return;
    }
    s->buf[buf] = own;
    hsi_model_input(m, own, x, n, per_sample);
}

void hsi_model_input(const hsi_model *m, float *dst, const float *x, int n, int64_t per_sample)
{
    int64_t nx = (int64_t)n * per_sample, total = (int64_t)m->batch * per_sample;
    if (nx > total) nx = total;
    MODEL_PAR
    {
        int64_t lo, hi;
        hsi_thread_part(total, &lo, &hi);
        int64_t mid = hi < nx ? hi : lo > nx ? lo : nx;   /* [lo, mid) copied, [mid, hi) zero */
        if (mid > lo) memcpy(dst + lo, x + lo, sizeof(float) * (size_t)(mid - lo));
        if (hi > mid) memset(dst + mid, 0, sizeof(float) * (size_t)(hi - mid));
    }
}

/* splitmix64's finaliser over the three keys. */
uint64_t hsi_model_dropout_seed(const hsi_model *m, uint64_t rng, uint64_t layer)
{
    uint64_t z = m->seed ^ (rng * 0x9E3779B97F4A7C15ull) ^ (layer * 0xD1B54A32D192ED03ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void free_state(hsi_dstate *s, int n_ops)
{
    free(s->logits);
    for (int i = 0; s->wf && i < n_ops; i++) free(s->wf[i]);
    for (int i = 0; s->bf && i < n_ops; i++) free(s->bf[i]);
    free(s->op);
    free(s->acc);
    free(s->wf);
    free(s->bf);
    free(s->infer_relu);
    free(s->off);
    free(s->grouped);
    free(s->buf);
}

/* The state's arrays for n_ops ops and n_bufs buffers, and plain [batch, classes] logits. */
static int alloc_state(hsi_dstate *s, int n_ops, int n_bufs, size_t logits)
{
    size_t no = n_ops > 0 ? (size_t)n_ops : 1, nb = n_bufs > 0 ? (size_t)n_bufs : 1;
    s->op = calloc(no, sizeof *s->op);
    s->acc = calloc(nb, sizeof *s->acc);
    s->wf = calloc(no, sizeof *s->wf);
    s->bf = calloc(no, sizeof *s->bf);
    s->infer_relu = calloc(no, sizeof *s->infer_relu);
    s->off = calloc(nb, sizeof *s->off);
    s->grouped = calloc(nb, sizeof *s->grouped);
    s->buf = calloc(nb, sizeof *s->buf);
    s->logits = malloc(sizeof(float) * (logits ? logits : 1));
    return !s->op || !s->acc || !s->wf || !s->bf || !s->infer_relu || !s->off || !s->grouped
           || !s->buf || !s->logits;
}

void hsi_model_destroy(hsi_model *m)
{
    if (!m) return;
    for (int d = 0; m->dom && m->spec->code && d < m->spec->n_domains; d++)
        free_state(&m->dom[d], m->spec->code[d].n_ops);
    hsi_rt_destroy(m->rt);
    if (m->arena) munmap(m->arena, m->arena_map);
    free(m->values);
    free(m->grads);
    free(m->params);
    free(m->dom);
    free(m);
}

/* The parameters: value and gradient blocks, the table's entries pointing into them, constant
 * initialisations done (random ones are the runtime's, seeded). */
static int create_params(hsi_model *m, const float *const *borrow, char *err, size_t errlen)
{
    const hsi_model_spec *sp = m->spec;
    size_t nv = 0, ng = 0;
    if (m->batch > 0) borrow = NULL;   /* a model that trains writes its values */
    /* a model of batch 0 (the parameters only: inference) has no gradients, which would double
     * its memory (Luo's 104M parameters: 415 MB more) */
    int grads = m->batch > 0;
    for (int i = 0; i < sp->n_params; i++) {
        nv += borrow ? 0 : (size_t)sp->params[i].numel;
        if (grads && sp->params[i].role < HSI_ROLE_BN_MEAN && !sp->params[i].frozen)
            ng += (size_t)sp->params[i].numel;
    }
    m->values = calloc(nv ? nv : 1, sizeof(float));
    m->grads = calloc(ng ? ng : 1, sizeof(float));
    if (!m->values || !m->grads) {
        snprintf(err, errlen,
                 "%s: out of memory for parameters (%zu bytes of values and %zu of gradients)",
                 sp->name, nv * sizeof(float), ng * sizeof(float));
        return 1;
    }
    float *v = m->values, *g = m->grads;
    for (int i = 0; i < sp->n_params; i++) {
        hsi_param *q = &m->params[i];
        *q = sp->params[i];
        if (borrow) {   /* read only: every reader of a batch-0 model takes const floats */
            q->value = (float *)borrow[i];
            continue;
        }
        q->value = v;
        v += q->numel;
        if (grads && q->role < HSI_ROLE_BN_MEAN && !q->frozen) {
            q->grad = g;
            g += q->numel;
        }
        float c = q->init.kind == HSI_INIT_ONES       ? 1.0f
                : q->init.kind == HSI_INIT_CONSTANT ? q->init.a
                                                    : 0.0f;
        for (int64_t k = 0; k < q->numel; k++) q->value[k] = c;
    }
    return 0;
}

/* Every domain's kernels and arena plan, then the one arena they share. */
static int create_domains(hsi_model *m, char *err, size_t errlen)
{
    const hsi_model_spec *sp = m->spec;
    size_t arena = 0;
    if (!sp->code) {
        snprintf(err, errlen, "%s: holds the parameters only (batch 0)", sp->name);
        return 1;
    }
    for (int d = 0; d < sp->n_domains; d++) {
        hsi_dstate *s = &m->dom[d];
        const hsi_domain_code *c = &sp->code[d];
        size_t logits = (size_t)m->batch * (size_t)sp->domains[d].classes;
        if (alloc_state(s, c->n_ops, c->n_bufs, logits)) {
            snprintf(err, errlen, "%s: out of memory for the state of domain %d", sp->name, d);
            return 1;
        }
        if (c->create(m, s, err, errlen)) return 1;
        if (s->arena > arena) arena = s->arena;
    }
    m->arena_bytes = arena;
    /* the arena grows with the batch: one past the memory there is would be mapped (the kernel
     * overcommits) and end in the OOM killer at its first touch, not in a message */
    char what[128];
    size_t ws = hsi_rt_buffer_bytes(m->rt);   /* the backend's buffers: allocated, maybe untouched */
    snprintf(what, sizeof what, "%s: the activations and backend buffers of a batch of %d samples",
             sp->name, m->batch);
    int64_t need = arena <= (size_t)INT64_MAX ? (int64_t)arena : -1;
    hsi_mem_add(&need, ws <= (size_t)INT64_MAX ? (int64_t)ws : -1);
    if (hsi_mem_check(need, (int64_t)ws, what, err, errlen)) return 1;
    /* Its own anonymous mapping: page-aligned, zero-filled, and its pages can be handed back
     * (hsi_model_trim) and come back zero on the next touch. */
    m->arena_map = (arena + 63) / 64 * 64 + 64;
    m->arena = mmap(NULL, m->arena_map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m->arena == MAP_FAILED) {
        m->arena = NULL;
        snprintf(err, errlen, "%s: cannot allocate the %zu-byte arena", sp->name, arena);
        return 1;
    }
    for (int d = 0; d < sp->n_domains; d++)
        for (int i = 0; i < sp->code[d].n_bufs; i++)
            m->dom[d].buf[i] = (float *)((char *)m->arena + m->dom[d].off[i]);
    return 0;
}

hsi_model *hsi_model_create(const hsi_model_spec *spec, const hsi_model_opts *o, char *err,
                            size_t errlen)
{
    return hsi_model_create_on(spec, o, NULL, err, errlen);
}

hsi_model *hsi_model_create_on(const hsi_model_spec *spec, const hsi_model_opts *o,
                               const float *const *values, char *err, size_t errlen)
{
    hsi_model *m = calloc(1, sizeof *m);
    if (m) {
        m->spec = spec;
        m->params = calloc(spec->n_params > 0 ? (size_t)spec->n_params : 1, sizeof *m->params);
        m->dom = calloc(spec->n_domains > 0 ? (size_t)spec->n_domains : 1, sizeof *m->dom);
    }
    if (!m || !m->params || !m->dom) {
        snprintf(err, errlen, "%s: out of memory", spec->name);
        hsi_model_destroy(m);
        return NULL;
    }
    m->batch = o->batch;
    m->seed = o->seed;
    m->rt = hsi_rt_create(o->backend);
    if (!m->rt) {
        snprintf(err, errlen, "%s: %s", spec->name, hsi_rt_create_failure(o->backend));
        hsi_model_destroy(m);
        return NULL;
    }
    if (create_params(m, values, err, errlen) || (o->batch > 0 && create_domains(m, err, errlen))) {
        hsi_model_destroy(m);
        return NULL;
    }
    return m;   /* batch <= 0: the parameters only, for whole-scene inference (hsi_infer.h) */
}

/* A domain with passes to run: in range, and a model created with a batch (not parameters only). */
static int runnable(const hsi_model *m, int domain)
{
    return domain >= 0 && domain < m->spec->n_domains && m->spec->code && m->batch > 0;
}

void hsi_model_forward(hsi_model *m, int domain, const float *x, int n, int train, uint64_t rng)
{
    if (!runnable(m, domain)) return;
    const hsi_domain_code *c = &m->spec->code[domain];
    if (train)
        c->forward_train(m, &m->dom[domain], x, n, rng);
    else
        c->forward_infer(m, &m->dom[domain], x, n);
}

float hsi_model_loss_backward(hsi_model *m, int domain, const int32_t *labels, int n, float weight)
{
    if (!runnable(m, domain)) return 0.0f;
    return m->spec->code[domain].loss_backward(m, &m->dom[domain], labels, n, weight);
}

const float *hsi_model_logits(hsi_model *m, int domain)
{
    if (domain < 0 || domain >= m->spec->n_domains) return NULL;
    return m->dom[domain].logits;
}

int hsi_model_params(hsi_model *m, hsi_param **out)
{
    *out = m->params;
    return m->spec->n_params;
}

void hsi_model_zero_grad(hsi_model *m)
{
    int64_t total = 0;
    for (int i = 0; i < m->spec->n_params; i++)
        if (m->params[i].grad) total += m->params[i].numel;
    MODEL_PAR
    {
        int64_t lo, hi, at = 0;   /* this thread's part of the gradients one after another */
        hsi_thread_part(total, &lo, &hi);
        for (int i = 0; i < m->spec->n_params && at < hi; i++) {
            const hsi_param *p = &m->params[i];
            if (!p->grad) continue;
            int64_t a = lo > at ? lo : at, b = hi < at + p->numel ? hi : at + p->numel;
            if (a < b) memset(p->grad + (a - at), 0, sizeof(float) * (size_t)(b - a));
            at += p->numel;
        }
    }
}

void hsi_model_trim(hsi_model *m)
{
    /* MADV_DONTNEED on a private anonymous mapping: the next touch sees zero pages, which is
     * the arena as create() left it, so results do not depend on whether this ran. */
    if (m && m->arena) madvise(m->arena, m->arena_map, MADV_DONTNEED);
}

void hsi_model_memory(hsi_model *m, hsi_memory_report *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < m->spec->n_params; i++) {
        r->params += sizeof(float) * (size_t)m->params[i].numel;
        if (m->params[i].grad) r->grads += sizeof(float) * (size_t)m->params[i].numel;
    }
    r->activations_arena = m->arena_bytes;
    r->workspace = hsi_rt_buffer_bytes(m->rt);
    for (int d = 0; d < m->spec->n_domains; d++) r->activations_sum += m->dom[d].sum;
}
