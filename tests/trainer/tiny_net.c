/* tiny_net.c — a hand-written hsi_netdesc for the trainer tests: per domain, the [bands, p, p]
 * patch is centred (batch mean in training, a running mean in inference, like a BN without
 * scale), then in: dense F -> 16, trunk: dense 16 -> 16 (the `shared` block when there are two
 * domains), dropout 0.25, head: dense 16 -> classes, softmax cross-entropy.
 * Two descriptors: tiny_net (one domain) and tiny2_net (domains "a" and "b" sharing trunk.*).
 * It is linear on purpose (tests of mechanics, not of learning power); not an emitted net. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi.h"
#include "hsi_prep.h"
#include "tiny_net.h"

enum { HID = 16, MAXDOM = 2 };
static const float DROP = 0.25f;

typedef struct tdom {
    int F, K;
    int win, bin, mu, wh, bh;         /* indices into the param table */
    float *xc, *a, *z, *mask, *zd, *lg, *dl, *dz, *da;
    int last_n;
} tdom;

struct hsi_model {
    const hsi_netdesc *net;
    int B, nd, np, wt, bt;            /* wt, bt: trunk params */
    uint64_t seed;
    hsi_param ps[16];
    float *store;
    tdom d[MAXDOM];
};

static const hsi_domain dom1[] = {{"", 3, {6, 3, 3, 0}, 6, 3, 3, 0}};
static const hsi_domain dom2[] = {{"a", 3, {6, 3, 3, 0}, 6, 3, 3, 0}, {"b", 3, {4, 3, 3, 0}, 4, 2, 3, 0}};

static int add_param(hsi_model *m, const char *dom, const char *name, int64_t d0, int64_t d1,
                     hsi_param_role role, hsi_init_kind init, int shared)
{
    static char names[2][16][48];
    int i = m->np++;
    char *buf = names[m->nd - 1][i];
    snprintf(buf, 48, "%s%s%s", dom, dom[0] ? "." : "", name);
    hsi_param *p = &m->ps[i];
    memset(p, 0, sizeof *p);
    p->name = buf;
    p->ndim = d1 ? 2 : 1;
    p->dims[0] = d0;
    p->dims[1] = d1;
    p->numel = d1 ? d0 * d1 : d0;
    p->role = role;
    p->lr_mult = p->decay_mult = 1;
    p->shared = shared;
    p->init.kind = init;
    p->init.fan_in = d1 ? d1 : d0;
    p->init.fan_out = d0;
    return i;
}

static hsi_model *create(const hsi_netdesc *net, const hsi_model_opts *o, char *err, size_t errlen)
{
    if (o->batch < 0) {   /* 0: the parameters only (init), as an emitted net takes it */
        snprintf(err, errlen, "tiny: batch must be >= 0");
        return NULL;
    }
    hsi_model *m = calloc(1, sizeof *m);
    m->net = net;
    m->B = o->batch;
    m->seed = o->seed;
    m->nd = net->n_domains;
    int shared = m->nd > 1;
    for (int d = 0; d < m->nd; d++) {
        const hsi_domain *dd = &net->domains[d];
        tdom *t = &m->d[d];
        t->F = dd->bands * dd->patch * dd->patch;
        t->K = dd->classes;
        t->win = add_param(m, dd->name, "in.weight", HID, t->F, HSI_ROLE_WEIGHT, HSI_INIT_TORCH_DEFAULT, 0);
        t->bin = add_param(m, dd->name, "in.bias", HID, 0, HSI_ROLE_BIAS, HSI_INIT_ZEROS, 0);
        t->mu = add_param(m, dd->name, "norm.running_mean", t->F, 0, HSI_ROLE_BN_MEAN, HSI_INIT_ZEROS, 0);
        if (d == 0) {
            m->wt = add_param(m, "", "trunk.weight", HID, HID, HSI_ROLE_WEIGHT, HSI_INIT_TORCH_DEFAULT, shared);
            m->bt = add_param(m, "", "trunk.bias", HID, 0, HSI_ROLE_BIAS, HSI_INIT_ZEROS, shared);
        }
        t->wh = add_param(m, dd->name, "head.weight", t->K, HID, HSI_ROLE_WEIGHT, HSI_INIT_TORCH_DEFAULT, 0);
        t->bh = add_param(m, dd->name, "head.bias", t->K, 0, HSI_ROLE_BIAS, HSI_INIT_ZEROS, 0);
    }
    int64_t total = 0;
    for (int i = 0; i < m->np; i++) total += m->ps[i].numel * (m->ps[i].role == HSI_ROLE_BN_MEAN ? 1 : 2);
    for (int d = 0; d < m->nd; d++) total += (int64_t)m->B * (m->d[d].F + 7 * HID + 2 * m->d[d].K);
    m->store = calloc((size_t)total, sizeof(float));
    if (!m->store) {   /* e.g. --set train.batch=100000000: a message, not a crash */
        snprintf(err, errlen, "tiny: out of memory (%lld floats)", (long long)total);
        free(m);
        return NULL;
    }
    float *s = m->store;
    for (int i = 0; i < m->np; i++) {
        m->ps[i].value = s;
        s += m->ps[i].numel;
        if (m->ps[i].role != HSI_ROLE_BN_MEAN) {
            m->ps[i].grad = s;
            s += m->ps[i].numel;
        }
    }
    for (int d = 0; d < m->nd; d++) {
        tdom *t = &m->d[d];
        int64_t B = m->B;
        t->xc = s; s += B * t->F;
        t->a = s; s += B * HID;
        t->z = s; s += B * HID;
        t->mask = s; s += B * HID;
        t->zd = s; s += B * HID;
        t->dz = s; s += B * HID;
        t->da = s; s += B * HID;
        t->lg = s; s += B * t->K;
        t->dl = s; s += B * t->K;
    }
    return m;
}

/* y[n, out] = x[n, in] W^T + b */
static void dense(const float *x, int n, int in, const float *W, const float *b, int out, float *y)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            float s = b[o];
            for (int k = 0; k < in; k++) s += x[(int64_t)i * in + k] * W[(int64_t)o * in + k];
            y[(int64_t)i * out + o] = s;
        }
}

static void forward(hsi_model *m, int domain, const float *x, int n, int train, uint64_t rng)
{
    tdom *t = &m->d[domain];
    float *mu = m->ps[t->mu].value;
    t->last_n = n;
    for (int f = 0; f < t->F; f++) {
        float mean = mu[f];
        if (train) {
            double s = 0;
            for (int i = 0; i < n; i++) s += x[(int64_t)i * t->F + f];
            mean = (float)(s / n);
            mu[f] = 0.9f * mu[f] + 0.1f * mean;
        }
        for (int i = 0; i < n; i++) t->xc[(int64_t)i * t->F + f] = x[(int64_t)i * t->F + f] - mean;
    }
    dense(t->xc, n, t->F, m->ps[t->win].value, m->ps[t->bin].value, HID, t->a);
    dense(t->a, n, HID, m->ps[m->wt].value, m->ps[m->bt].value, HID, t->z);
    uint64_t key = hsi_hash64(hsi_hash64(m->seed, rng), (uint64_t)domain);
    for (int64_t i = 0; i < (int64_t)n * HID; i++) {
        float keep = 1;
        if (train) {
            double u = (double)(hsi_hash64(key, (uint64_t)i) >> 11) / 9007199254740992.0;
            keep = u < DROP ? 0.0f : 1.0f / (1 - DROP);
        }
        t->mask[i] = keep;
        t->zd[i] = t->z[i] * keep;
    }
    dense(t->zd, n, HID, m->ps[t->wh].value, m->ps[t->bh].value, t->K, t->lg);
}

/* gW[out, in] += dy^T x, gb[out] += sum dy, dx = dy W (dx may be NULL) */
static void dense_back(const float *x, const float *dy, int n, int in, int out, const float *W,
                       float *gW, float *gb, float *dx)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            float g = dy[(int64_t)i * out + o];
            gb[o] += g;
            for (int k = 0; k < in; k++) gW[(int64_t)o * in + k] += g * x[(int64_t)i * in + k];
        }
    if (!dx) return;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < in; k++) {
            float s = 0;
            for (int o = 0; o < out; o++) s += dy[(int64_t)i * out + o] * W[(int64_t)o * in + k];
            dx[(int64_t)i * in + k] = s;
        }
}

static float loss_backward(hsi_model *m, int domain, const int32_t *y, int n, float weight)
{
    tdom *t = &m->d[domain];
    double loss = 0;
    for (int i = 0; i < n; i++) {
        const float *z = t->lg + (int64_t)i * t->K;
        float mx = z[0];
        for (int c = 1; c < t->K; c++) mx = z[c] > mx ? z[c] : mx;
        double se = 0;
        for (int c = 0; c < t->K; c++) se += exp((double)(z[c] - mx));
        loss += log(se) + mx - z[y[i]];
        for (int c = 0; c < t->K; c++)
            t->dl[(int64_t)i * t->K + c] =
                (float)((exp((double)(z[c] - mx)) / se - (c == y[i])) * weight / n);
    }
    hsi_param *ps = m->ps;
    dense_back(t->zd, t->dl, n, HID, t->K, ps[t->wh].value, ps[t->wh].grad, ps[t->bh].grad, t->dz);
    for (int64_t i = 0; i < (int64_t)n * HID; i++) t->dz[i] *= t->mask[i];
    dense_back(t->a, t->dz, n, HID, HID, ps[m->wt].value, ps[m->wt].grad, ps[m->bt].grad, t->da);
    dense_back(t->xc, t->da, n, t->F, HID, ps[t->win].value, ps[t->win].grad, ps[t->bin].grad, NULL);
    return (float)(loss / n);
}

static const float *logits(hsi_model *m, int domain) { return m->d[domain].lg; }

static int params(hsi_model *m, hsi_param **out)
{
    *out = m->ps;
    return m->np;
}

static void zero_grad(hsi_model *m)
{
    for (int i = 0; i < m->np; i++)
        if (m->ps[i].grad) memset(m->ps[i].grad, 0, sizeof(float) * (size_t)m->ps[i].numel);
}

static void memory(hsi_model *m, hsi_memory_report *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < m->np; i++) {
        r->params += sizeof(float) * (size_t)m->ps[i].numel;
        if (m->ps[i].grad) r->grads += sizeof(float) * (size_t)m->ps[i].numel;
    }
}

static void destroy(hsi_model *m)
{
    if (!m) return;
    free(m->store);
    free(m);
}

static hsi_model *create1(const hsi_model_opts *o, char *err, size_t errlen)
{
    return create(&tiny_net, o, err, errlen);
}

static hsi_model *create2(const hsi_model_opts *o, char *err, size_t errlen)
{
    return create(&tiny2_net, o, err, errlen);
}

const hsi_netdesc tiny_net = {"tiny", "tests/trainer/tiny_net.c", 1, dom1, create1, forward,
                              loss_backward, logits, params, zero_grad, memory, destroy, NULL};
const hsi_netdesc tiny2_net = {"tiny2", "tests/trainer/tiny_net.c", 2, dom2, create2, forward,
                               loss_backward, logits, params, zero_grad, memory, destroy, NULL};
