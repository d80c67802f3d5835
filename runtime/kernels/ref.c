/* ref.c — the reference backend: the oracle every other kernel is tested against.
 *
 * Plain row-major layouts only, naive loops, all arithmetic in double (the cores of ref.h).
 * The float API converts its inputs into double scratch buffers that create() allocated, runs
 * the core, and rounds the results back, so REF holds roughly twice an op's tensors again in
 * doubles: simple and exact, not fast or lean. Arguments were already checked by kernels.c.
 */
#include <math.h>
#include <string.h>

#include "kernels_impl.h"
#include "ref.h"

/* ---- the double cores -------------------------------------------------------------------- */

int64_t hsi_ref_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi,
                         int64_t dilation)
{
    int64_t span = in + pad_lo + pad_hi - dilation * (k - 1) - 1;
    return span < 0 ? 0 : span / stride + 1;
}

/* Places spatial parameters of rank nsp into the last nsp of 3 slots; leading slots get the
 * identity (size 1, kernel 1, stride 1, no pad, dilation 1). Returns -1 if an output < 1. */
static int spatial3(int nsp, const int64_t *sp_in, const int64_t *k, const int64_t *s,
                    const int64_t *plo, const int64_t *phi, const int64_t *dil, int64_t *in3,
                    int64_t *out3, int64_t *k3, int64_t *s3, int64_t *plo3, int64_t *dil3)
{
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - nsp);
        in3[i] = j < 0 ? 1 : sp_in[j];
        k3[i] = j < 0 ? 1 : k[j];
        s3[i] = j < 0 ? 1 : s[j];
        plo3[i] = j < 0 ? 0 : plo[j];
        dil3[i] = j < 0 || !dil ? 1 : dil[j];
        out3[i] = hsi_ref_out_size(in3[i], k3[i], s3[i], plo3[i], j < 0 ? 0 : phi[j], dil3[i]);
        if (out3[i] < 1) return -1;
    }
    return 0;
}

int hsi_ref_conv_init(hsi_ref_conv *c, int ndim, const int64_t *src_dims, const hsi_conv_desc *d)
{
    memset(c, 0, sizeof *c);
    c->n = src_dims[0];
    c->c = src_dims[1];
    c->o = d->out_ch;
    c->g = d->groups;
    c->bias = d->bias;
    return spatial3(ndim - 2, src_dims + 2, d->kernel, d->stride, d->pad_lo, d->pad_hi,
                    d->dilation, c->in, c->out, c->k, c->s, c->plo, c->dil);
}

void hsi_ref_dense_init(hsi_ref_conv *c, int64_t n, int64_t f, int64_t o, int bias)
{
    *c = (hsi_ref_conv){.n = n, .c = f, .o = o, .g = 1, .bias = bias};
    for (int i = 0; i < 3; i++) c->in[i] = c->out[i] = c->k[i] = c->s[i] = c->dil[i] = 1;
}

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }
int64_t hsi_ref_conv_src_numel(const hsi_ref_conv *c) { return c->n * c->c * prod3(c->in); }
int64_t hsi_ref_conv_dst_numel(const hsi_ref_conv *c) { return c->n * c->o * prod3(c->out); }
int64_t hsi_ref_conv_w_numel(const hsi_ref_conv *c) { return c->o * (c->c / c->g) * prod3(c->k); }

typedef enum conv_mode { CONV_FWD, CONV_BWD_DATA, CONV_BWD_W } conv_mode;

/* The one loop nest of convolution: visits every (output, input channel, kernel tap) triple
 * whose input cell is not padding, and does the mode's multiply-add:
 *   CONV_FWD       y[o]  += x[i] * w[t]
 *   CONV_BWD_DATA  dx[i] += w[t] * y[o]   (y holds dy)
 *   CONV_BWD_W     dw[t] += x[i] * y[o]   (y holds dy)
 * Taps outside, output positions inside, so the innermost loop runs along a row of outputs. */
static void conv_walk(const hsi_ref_conv *c, conv_mode mode, const double *x, const double *w,
                      double *y, double *dx, double *dw)
{
    const int64_t cpg = c->c / c->g, opg = c->o / c->g;
    const int64_t isz = prod3(c->in), osz = prod3(c->out), ksz = prod3(c->k);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->o; o++)
            for (int64_t ci = 0; ci < cpg; ci++) {
                const int64_t xbase = (n * c->c + o / opg * cpg + ci) * isz;
                const int64_t ybase = (n * c->o + o) * osz;
                for (int64_t t = 0; t < ksz; t++) {
                    const int64_t wi = (o * cpg + ci) * ksz + t;
                    const int64_t kd = t / (c->k[1] * c->k[2]), kh = t / c->k[2] % c->k[1];
                    const int64_t kw = t % c->k[2];
                    for (int64_t od = 0; od < c->out[0]; od++) {
                        int64_t id = od * c->s[0] - c->plo[0] + kd * c->dil[0];
                        if (id < 0 || id >= c->in[0]) continue;
                        for (int64_t oh = 0; oh < c->out[1]; oh++) {
                            int64_t ih = oh * c->s[1] - c->plo[1] + kh * c->dil[1];
                            if (ih < 0 || ih >= c->in[1]) continue;
                            for (int64_t ow = 0; ow < c->out[2]; ow++) {
                                int64_t iw = ow * c->s[2] - c->plo[2] + kw * c->dil[2];
                                if (iw < 0 || iw >= c->in[2]) continue;
                                int64_t xi = xbase + (id * c->in[1] + ih) * c->in[2] + iw;
                                int64_t yi = ybase + (od * c->out[1] + oh) * c->out[2] + ow;
                                switch (mode) {
                                case CONV_FWD: y[yi] += x[xi] * w[wi]; break;
                                case CONV_BWD_DATA: dx[xi] += w[wi] * y[yi]; break;
                                case CONV_BWD_W: dw[wi] += x[xi] * y[yi]; break;
                                }
                            }
                        }
                    }
                }
            }
}

void hsi_ref_conv_fwd_d(const hsi_ref_conv *c, const double *x, const double *w, const double *b,
                        double *y)
{
    const int64_t osz = prod3(c->out);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->o; o++)
            for (int64_t i = 0; i < osz; i++) y[(n * c->o + o) * osz + i] = c->bias ? b[o] : 0.0;
    conv_walk(c, CONV_FWD, x, w, y, NULL, NULL);
}

void hsi_ref_conv_bwd_data_d(const hsi_ref_conv *c, const double *w, const double *dy, double *dx)
{
    memset(dx, 0, sizeof *dx * (size_t)hsi_ref_conv_src_numel(c));
    conv_walk(c, CONV_BWD_DATA, NULL, w, (double *)dy, dx, NULL);
}

void hsi_ref_conv_bwd_w_d(const hsi_ref_conv *c, const double *x, const double *dy, double *dw,
                          double *db)
{
    if (dw) conv_walk(c, CONV_BWD_W, x, NULL, (double *)dy, NULL, dw);
    if (!db || !c->bias) return;
    const int64_t osz = prod3(c->out);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->o; o++)
            for (int64_t i = 0; i < osz; i++) db[o] += dy[(n * c->o + o) * osz + i];
}

/* Element (n, ch, i) of a [n, c, sp] tensor. */
#define BN_AT(b, n, ch, i) (((n) * (b)->c + (ch)) * (b)->sp + (i))

/* Batch mean and biased variance per channel (two passes); with dp, over every process's
 * shard (the sums reduced), and *count the elements per channel over all of them. */
static void bn_stats(const hsi_ref_bn *b, const double *x, double *mean, double *var, double *count,
                     const hsi_dp *dp)
{
    double m = (double)(b->n * b->sp);
    if (dp) dp->sum(&m, 1, dp->ctx);
    for (int64_t ch = 0; ch < b->c; ch++) {
        double s = 0;
        for (int64_t n = 0; n < b->n; n++)
            for (int64_t i = 0; i < b->sp; i++) s += x[BN_AT(b, n, ch, i)];
        mean[ch] = s;
    }
    if (dp) dp->sum(mean, (int)b->c, dp->ctx);
    for (int64_t ch = 0; ch < b->c; ch++) {
        double ss = 0;
        mean[ch] /= m;
        for (int64_t n = 0; n < b->n; n++)
            for (int64_t i = 0; i < b->sp; i++) {
                double dev = x[BN_AT(b, n, ch, i)] - mean[ch];
                ss += dev * dev;
            }
        var[ch] = ss;
    }
    if (dp) dp->sum(var, (int)b->c, dp->ctx);
    for (int64_t ch = 0; ch < b->c; ch++) var[ch] /= m;
    if (count) *count = m;
}

void hsi_ref_bn_fwd_d(const hsi_ref_bn *b, int train, const double *x, const double *gamma,
                      const double *beta, double *mean, double *var, double *y,
                      unsigned char *relu_mask)
{
    if (train) bn_stats(b, x, mean, var, NULL, NULL);
    for (int64_t ch = 0; ch < b->c; ch++) {
        const double inv = 1.0 / sqrt(var[ch] + b->eps);
        for (int64_t n = 0; n < b->n; n++)
            for (int64_t i = 0; i < b->sp; i++) {
                int64_t at = BN_AT(b, n, ch, i);
                double v = gamma[ch] * (x[at] - mean[ch]) * inv + beta[ch];
                if (b->relu) {
                    if (relu_mask) relu_mask[at] = v > 0;
                    if (!(v > 0)) v = 0;
                }
                y[at] = v;
            }
    }
}

#define BN_G(at) (b->relu && !relu_mask[at] ? 0.0 : dy[at])

/* dx of one channel from the sums of g and g * xhat over m elements (of every shard). */
static void bn_dx(const hsi_ref_bn *b, int64_t ch, const double *x, const double *gamma,
                  const double *mean, const double *var, const unsigned char *relu_mask,
                  const double *dy, double sg, double sgx, double m, double *dx)
{
    const double inv = 1.0 / sqrt(var[ch] + b->eps);
    /* dx = gamma inv / m (m g - sum g - xhat sum(g xhat)) */
    for (int64_t n = 0; n < b->n; n++)
        for (int64_t i = 0; i < b->sp; i++) {
            int64_t at = BN_AT(b, n, ch, i);
            double xhat = (x[at] - mean[ch]) * inv;
            dx[at] = gamma[ch] * inv / m * (m * BN_G(at) - sg - xhat * sgx);
        }
}

void hsi_ref_bn_bwd_d(const hsi_ref_bn *b, const double *x, const double *gamma, const double *mean,
                      const double *var, const unsigned char *relu_mask, const double *dy,
                      double *dx, double *dgamma, double *dbeta)
{
    const double m = (double)(b->n * b->sp);
    for (int64_t ch = 0; ch < b->c; ch++) {
        const double inv = 1.0 / sqrt(var[ch] + b->eps);
        double sg = 0, sgx = 0;  /* sum of g, sum of g * xhat */
        for (int64_t n = 0; n < b->n; n++)
            for (int64_t i = 0; i < b->sp; i++) {
                int64_t at = BN_AT(b, n, ch, i);
                sg += BN_G(at);
                sgx += BN_G(at) * (x[at] - mean[ch]) * inv;
            }
        if (dgamma) dgamma[ch] += sgx;
        if (dbeta) dbeta[ch] += sg;
        if (dx) bn_dx(b, ch, x, gamma, mean, var, relu_mask, dy, sg, sgx, m, dx);
    }
}
#undef BN_G

/* r = (1 - momentum) r + momentum * batch over m elements per channel. */
static void bn_running(const hsi_ref_bn *b, double m, const double *mean, const double *var,
                       double momentum, double *running_mean, double *running_var)
{
    const double unbias = m > 1 ? m / (m - 1) : 1.0;
    for (int64_t ch = 0; ch < b->c; ch++) {
        running_mean[ch] = (1 - momentum) * running_mean[ch] + momentum * mean[ch];
        running_var[ch] = (1 - momentum) * running_var[ch] + momentum * var[ch] * unbias;
    }
}

void hsi_ref_bn_running_d(const hsi_ref_bn *b, const double *mean, const double *var,
                          double momentum, double *running_mean, double *running_var)
{
    bn_running(b, (double)(b->n * b->sp), mean, var, momentum, running_mean, running_var);
}

void hsi_ref_act_fwd_d(hsi_act_kind kind, double alpha, int64_t n, const double *x, double *y)
{
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        switch (kind) {
        case HSI_ACT_RELU: y[i] = v > 0 ? v : 0; break;
        case HSI_ACT_LEAKY_RELU: y[i] = v > 0 ? v : alpha * v; break;
        case HSI_ACT_ELU: y[i] = v > 0 ? v : alpha * expm1(v); break;
        case HSI_ACT_SIGMOID: y[i] = 1 / (1 + exp(-v)); break;
        case HSI_ACT_TANH: y[i] = tanh(v); break;
        }
    }
}

void hsi_ref_act_bwd_d(hsi_act_kind kind, double alpha, int64_t n, const double *y,
                       const double *dy, double *dx)
{
    for (int64_t i = 0; i < n; i++) {
        double v = y[i];
        switch (kind) {
        case HSI_ACT_RELU: dx[i] = v > 0 ? dy[i] : 0; break;
        case HSI_ACT_LEAKY_RELU: dx[i] = v > 0 ? dy[i] : alpha * dy[i]; break;
        case HSI_ACT_ELU: dx[i] = v > 0 ? dy[i] : (v + alpha) * dy[i]; break;
        case HSI_ACT_SIGMOID: dx[i] = dy[i] * v * (1 - v); break;
        case HSI_ACT_TANH: dx[i] = dy[i] * (1 - v * v); break;
        }
    }
}

void hsi_ref_dropout_fwd_d(int64_t n, double p, uint64_t seed, const double *x, double *y,
                           unsigned char *mask)
{
    hsi_ref_dropout_fwd_at_d(n, 0, p, seed, x, y, mask);
}

void hsi_ref_dropout_fwd_at_d(int64_t n, uint64_t base, double p, uint64_t seed, const double *x,
                              double *y, unsigned char *mask)
{
    const double scale = 1 / (1 - p);
    for (int64_t i = 0; i < n; i++) {
        int keep = hsi_dropout_uniform(seed, base + (uint64_t)i) >= p;
        if (mask) mask[i] = (unsigned char)keep;
        y[i] = keep ? x[i] * scale : 0.0;
    }
}

void hsi_ref_dropout_bwd_d(int64_t n, double p, const unsigned char *mask, const double *dy,
                           double *dx)
{
    const double scale = 1 / (1 - p);
    for (int64_t i = 0; i < n; i++) dx[i] = mask[i] ? dy[i] * scale : 0.0;
}

int hsi_ref_pool_init(hsi_ref_pool *p, int ndim, const int64_t *src_dims, const hsi_pool_desc *d)
{
    memset(p, 0, sizeof *p);
    p->n = src_dims[0];
    p->c = src_dims[1];
    p->max = d->max;
    p->count_include_pad = d->count_include_pad;
    for (int i = 0; i < ndim - 2; i++)
        if (d->pad_lo[i] >= d->kernel[i] || d->pad_hi[i] >= d->kernel[i]) return -1;
    int64_t dil3[3];
    if (spatial3(ndim - 2, src_dims + 2, d->kernel, d->stride, d->pad_lo, d->pad_hi, NULL,
                 p->in, p->out, p->k, p->s, p->plo, dil3))
        return -1;
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - (ndim - 2));
        p->cend[i] = p->in[i] + (j < 0 ? 0 : d->pad_hi[j]);
    }
    return 0;
}

void hsi_ref_pool_ceil(hsi_ref_pool *p, int nsp, const int64_t *extra)
{
    for (int j = 0; extra && j < nsp; j++) p->cend[3 - nsp + j] -= extra[j];
}

int64_t hsi_ref_pool_src_numel(const hsi_ref_pool *p) { return p->n * p->c * prod3(p->in); }
int64_t hsi_ref_pool_dst_numel(const hsi_ref_pool *p) { return p->n * p->c * prod3(p->out); }

/* The window of output cell (od, oh, ow) clipped to the input: [lo[i], hi[i]) per dim.
 * Returns the average's divisor. Every window holds a real cell, since pad < k. */
static double pool_window(const hsi_ref_pool *p, const int64_t *o3, int64_t *lo, int64_t *hi)
{
    double cells = 1, full = 1;
    for (int i = 0; i < 3; i++) {
        int64_t start = o3[i] * p->s[i] - p->plo[i];
        lo[i] = start < 0 ? 0 : start;
        hi[i] = start + p->k[i] > p->in[i] ? p->in[i] : start + p->k[i];
        cells *= (double)(hi[i] - lo[i]);
        full *= (double)((start + p->k[i] < p->cend[i] ? start + p->k[i] : p->cend[i]) - start);
    }
    return p->count_include_pad ? full : cells;
}

/* The one loop nest of pooling: forward (dy == NULL) writes y and argmax; backward (dy set)
 * scatters dy into dx, which the caller zeroed. */
static void pool_walk(const hsi_ref_pool *p, const double *x, double *y, int32_t *argmax,
                      const double *dy, const int32_t *argmax_in, double *dx)
{
    const int64_t isz = prod3(p->in), osz = prod3(p->out);
    for (int64_t plane = 0; plane < p->n * p->c; plane++) {
        int64_t o3[3];
        for (o3[0] = 0; o3[0] < p->out[0]; o3[0]++)
            for (o3[1] = 0; o3[1] < p->out[1]; o3[1]++)
                for (o3[2] = 0; o3[2] < p->out[2]; o3[2]++) {
                    int64_t yi = plane * osz + (o3[0] * p->out[1] + o3[1]) * p->out[2] + o3[2];
                    if (dy && p->max) {
                        dx[plane * isz + argmax_in[yi]] += dy[yi];
                        continue;
                    }
                    int64_t lo[3], hi[3], best = -1;
                    double div = pool_window(p, o3, lo, hi), acc = 0;
                    for (int64_t d = lo[0]; d < hi[0]; d++)
                        for (int64_t h = lo[1]; h < hi[1]; h++)
                            for (int64_t w = lo[2]; w < hi[2]; w++) {
                                int64_t at = (d * p->in[1] + h) * p->in[2] + w;
                                if (dy) dx[plane * isz + at] += dy[yi] / div;
                                else if (!p->max) acc += x[plane * isz + at];
                                else if (best < 0 || x[plane * isz + at] > acc) {
                                    best = at;
                                    acc = x[plane * isz + at];
                                }
                            }
                    if (dy) continue;
                    y[yi] = p->max ? acc : acc / div;
                    if (p->max && argmax) argmax[yi] = (int32_t)best;
                }
    }
}

void hsi_ref_pool_fwd_d(const hsi_ref_pool *p, const double *x, double *y, int32_t *argmax)
{
    pool_walk(p, x, y, argmax, NULL, NULL, NULL);
}

void hsi_ref_pool_bwd_d(const hsi_ref_pool *p, const double *dy, const int32_t *argmax, double *dx)
{
    memset(dx, 0, sizeof *dx * (size_t)hsi_ref_pool_src_numel(p));
    pool_walk(p, NULL, NULL, NULL, dy, argmax, dx);
}

void hsi_ref_add_fwd_d(int64_t n, int relu, const double *a, const double *b, double *y)
{
    for (int64_t i = 0; i < n; i++) {
        double v = a[i] + b[i];
        y[i] = relu && !(v > 0) ? 0.0 : v;
    }
}

void hsi_ref_add_bwd_d(int64_t n, int relu, const double *y, const double *dy, double *da,
                       double *db)
{
    for (int64_t i = 0; i < n; i++) {
        double g = relu && !(y[i] > 0) ? 0.0 : dy[i];
        if (db) db[i] = g;
        if (da) da[i] = g;
    }
}

void hsi_ref_concat_move(const hsi_ref_concat *c, size_t elem, int to_whole, void *const *parts,
                         void *whole)
{
    char *w = whole;
    for (int64_t n = 0; n < c->batch; n++) {
        int64_t ch0 = 0;
        for (int i = 0; i < c->n_parts; i++) {
            size_t bytes = (size_t)(c->ch[i] * c->inner) * elem;
            char *wp = w + (size_t)((n * c->total_ch + ch0) * c->inner) * elem;
            char *pp = parts[i] ? (char *)parts[i] + (size_t)n * bytes : NULL;
            ch0 += c->ch[i];
            if (!pp) continue;
            if (to_whole) memcpy(wp, pp, bytes);
            else memcpy(pp, wp, bytes);
        }
    }
}

double hsi_ref_xent_d(int64_t n_all, int64_t k, const double *logits, const int32_t *labels, int n,
                      double weight, double *dlogits)
{
    int64_t m = 0;
    for (int i = 0; i < n; i++) m += labels[i] >= 0 && labels[i] < k;
    if (dlogits) memset(dlogits, 0, sizeof *dlogits * (size_t)(n_all * k));
    double loss = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k) continue;
        const double *z = logits + (int64_t)i * k;
        double zmax = z[0], sum = 0;
        for (int64_t j = 1; j < k; j++) zmax = z[j] > zmax ? z[j] : zmax;
        for (int64_t j = 0; j < k; j++) sum += exp(z[j] - zmax);
        double lse = zmax + log(sum);
        loss += lse - z[labels[i]];
        if (!dlogits) continue;
        for (int64_t j = 0; j < k; j++)
            dlogits[(int64_t)i * k + j] = weight * (exp(z[j] - lse) - (j == labels[i])) / (double)m;
    }
    return m ? loss / (double)m : 0.0;
}

/* ---- lrn, crop, prelu, softmax ------------------------------------------------------------ */

/* The LRN window of channel ch: [ch - size/2, ch + (size-1)/2] clipped to [0, c), as [lo, hi). */
static void lrn_window(int64_t c, int64_t size, int64_t ch, int64_t *lo, int64_t *hi)
{
    *lo = ch - size / 2 < 0 ? 0 : ch - size / 2;
    *hi = ch + (size - 1) / 2 + 1 > c ? c : ch + (size - 1) / 2 + 1;
}

/* s[ch] of one position (channel stride sp) into t[0..c), using t[c..2c+1) for prefix sums */
static void lrn_scale(int64_t c, int64_t sp, int64_t size, double alpha, double k, const double *x,
                      double *t)
{
    double *pre = t + c;
    pre[0] = 0;
    for (int64_t j = 0; j < c; j++) pre[j + 1] = pre[j] + x[j * sp] * x[j * sp];
    for (int64_t j = 0; j < c; j++) {
        int64_t lo, hi;
        lrn_window(c, size, j, &lo, &hi);
        t[j] = k + alpha / (double)size * (pre[hi] - pre[lo]);
    }
}

void hsi_ref_lrn_fwd_d(int64_t n, int64_t c, int64_t sp, int64_t size, double alpha, double beta,
                       double k, const double *x, double *y, double *t)
{
    for (int64_t b = 0; b < n; b++)
        for (int64_t p = 0; p < sp; p++) {
            const double *xp = x + b * c * sp + p;
            double *yp = y + b * c * sp + p;
            lrn_scale(c, sp, size, alpha, k, xp, t);
            for (int64_t j = 0; j < c; j++) yp[j * sp] = xp[j * sp] * pow(t[j], -beta);
        }
}

void hsi_ref_lrn_bwd_d(int64_t n, int64_t c, int64_t sp, int64_t size, double alpha, double beta,
                       double k, const double *x, const double *dy, double *dx, double *t)
{
    for (int64_t b = 0; b < n; b++)
        for (int64_t p = 0; p < sp; p++) {
            const double *xp = x + b * c * sp + p, *gp = dy + b * c * sp + p;
            double *dp = dx + b * c * sp + p;
            lrn_scale(c, sp, size, alpha, k, xp, t);
            /* u[ch] = dy x s^(-beta-1), prefix-summed in place of the squares */
            double *pre = t + c;
            pre[0] = 0;
            for (int64_t j = 0; j < c; j++)
                pre[j + 1] = pre[j] + gp[j * sp] * xp[j * sp] * pow(t[j], -beta - 1);
            for (int64_t j = 0; j < c; j++) {
                /* the channels whose window holds j: [j - (size-1)/2, j + size/2] */
                int64_t lo = j - (size - 1) / 2 < 0 ? 0 : j - (size - 1) / 2;
                int64_t hi = j + size / 2 + 1 > c ? c : j + size / 2 + 1;
                dp[j * sp] = gp[j * sp] * pow(t[j], -beta)
                           - 2.0 * alpha * beta / (double)size * xp[j * sp] * (pre[hi] - pre[lo]);
            }
        }
}

void hsi_ref_prelu_fwd_d(int64_t n, int64_t c, int64_t sp, int64_t slopes, const double *x,
                         const double *a, double *y)
{
    for (int64_t i = 0; i < n * c * sp; i++) {
        double s = a[slopes == 1 ? 0 : i / sp % c];
        y[i] = x[i] > 0 ? x[i] : s * x[i];
    }
}

void hsi_ref_prelu_bwd_d(int64_t n, int64_t c, int64_t sp, int64_t slopes, const double *x,
                         const double *a, const double *dy, double *dx, double *da)
{
    for (int64_t i = 0; i < n * c * sp; i++) {
        int64_t ch = slopes == 1 ? 0 : i / sp % c;
        if (dx) dx[i] = x[i] > 0 ? dy[i] : a[ch] * dy[i];
        if (da && x[i] <= 0) da[ch] += dy[i] * x[i];
    }
}

void hsi_ref_softmax_fwd_d(int64_t n, int64_t c, int64_t sp, const double *x, double *y)
{
    for (int64_t b = 0; b < n; b++)
        for (int64_t p = 0; p < sp; p++) {
            const double *xp = x + b * c * sp + p;
            double *yp = y + b * c * sp + p;
            double mx = xp[0], sum = 0;
            for (int64_t j = 1; j < c; j++) mx = xp[j * sp] > mx ? xp[j * sp] : mx;
            for (int64_t j = 0; j < c; j++) sum += yp[j * sp] = exp(xp[j * sp] - mx);
            for (int64_t j = 0; j < c; j++) yp[j * sp] /= sum;
        }
}

void hsi_ref_softmax_bwd_d(int64_t n, int64_t c, int64_t sp, const double *y, const double *dy,
                           double *dx)
{
    for (int64_t b = 0; b < n; b++)
        for (int64_t p = 0; p < sp; p++) {
            int64_t o = b * c * sp + p;
            double dot = 0;
            for (int64_t j = 0; j < c; j++) dot += dy[o + j * sp] * y[o + j * sp];
            for (int64_t j = 0; j < c; j++) dx[o + j * sp] = y[o + j * sp] * (dy[o + j * sp] - dot);
        }
}

void hsi_ref_crop_move(int ndim, const int64_t *dims, const hsi_crop_desc *d, int to_window,
                       double *whole, double *win)
{
    /* walked as [planes, D, H, W] with leading spatial dims of size 1 */
    int64_t in[3] = {1, 1, 1}, off[3] = {0, 0, 0}, sz[3] = {1, 1, 1}, planes = dims[0] * dims[1];
    for (int i = 0; i < d->nsp && i < ndim - 2; i++) {
        int a = 3 - d->nsp + i;
        in[a] = dims[2 + i], off[a] = d->offset[i], sz[a] = d->size[i];
    }
    if (!to_window) memset(whole, 0, sizeof *whole * (size_t)(planes * in[0] * in[1] * in[2]));
    for (int64_t q = 0; q < planes; q++)
        for (int64_t z = 0; z < sz[0]; z++)
            for (int64_t r = 0; r < sz[1]; r++) {
                double *w = whole + ((q * in[0] + off[0] + z) * in[1] + off[1] + r) * in[2] + off[2];
                double *c = win + ((q * sz[0] + z) * sz[1] + r) * sz[2];
                if (to_window) memcpy(c, w, sizeof *c * (size_t)sz[2]);
                else memcpy(w, c, sizeof *c * (size_t)sz[2]);
            }
}

/* ---- the float API ----------------------------------------------------------------------- */

static void to_d(double *d, const float *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] = s[i];
}

static void to_f(float *d, const double *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] = (float)s[i];
}

static void acc_f(float *d, const double *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] += (float)s[i];
}

/* n doubles of scratch, or NULL (rt error set) when out of memory. */
static double *scratch(hsi_rt *rt, int64_t n)
{
    double *p = hk_alloc(rt, sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!p) hk_fail(rt, "reference backend: out of memory (%lld doubles of scratch)", (long long)n);
    return p;
}

static int64_t lnumel(const hsi_layout *l) { return hk_numel(l->ndim, l->dims); }

const hsi_layout *hk_ref_layout_plain(hsi_rt *rt, int ndim, const int64_t *dims)
{
    hsi_layout *l = hk_layout_new(rt, ndim, dims);
    if (!l) return hk_fail(rt, "reference backend: out of memory (layout)");
    l->plain = 1;
    l->bytes = sizeof(float) * (size_t)hk_numel(ndim, dims);
    return l;
}

static int need_plain(hsi_rt *rt, const char *what, const hsi_layout *l)
{
    if (l->plain && !l->md) return 1;
    hk_fail(rt, "%s: the reference backend needs plain layouts (from the same rt)", what);
    return 0;
}

/* New op with its impl of impl_bytes, or NULL. */
static hsi_op *new_op(hsi_rt *rt, hk_kind kind, const hsi_layout *dst, size_t impl_bytes)
{
    hsi_op *op = hk_op_new(rt, kind, dst);
    if (op) op->impl = hk_alloc(rt, impl_bytes);
    if (!op || !op->impl) return hk_fail(rt, "reference backend: out of memory (op)");
    return op;
}

/* conv and dense share one impl: a hsi_ref_conv and its scratch. */
typedef struct hsi_ref_conv_op {
    hsi_ref_conv c;
    double *x, *w, *b, *y, *dx, *dw, *db;
} hsi_ref_conv_op;

static hsi_op *conv_op_new(hsi_rt *rt, hk_kind kind, const hsi_ref_conv *c, const hsi_layout *dst,
                           int need_dsrc, int need_dw)
{
    if (!dst) return NULL;
    hsi_op *op = new_op(rt, kind, dst, sizeof(hsi_ref_conv_op));
    if (!op) return NULL;
    hsi_ref_conv_op *r = op->impl;
    r->c = *c;
    int64_t nw = hsi_ref_conv_w_numel(c);
    if (!(r->x = scratch(rt, hsi_ref_conv_src_numel(c))) || !(r->w = scratch(rt, nw)) ||
        !(r->b = scratch(rt, c->o)) || !(r->y = scratch(rt, hsi_ref_conv_dst_numel(c))))
        return NULL;
    if (need_dsrc && !(r->dx = scratch(rt, hsi_ref_conv_src_numel(c)))) return NULL;
    if (need_dw && (!(r->dw = scratch(rt, nw)) || !(r->db = scratch(rt, c->o)))) return NULL;
    return op;
}

void hk_ref_conv_forward(hsi_op *op, const float *src, const float *w, const float *b,
                         float *dst)
{
    hsi_ref_conv_op *r = op->impl;
    to_d(r->x, src, hsi_ref_conv_src_numel(&r->c));
    to_d(r->w, w, hsi_ref_conv_w_numel(&r->c));
    if (r->c.bias) to_d(r->b, b, r->c.o);
    hsi_ref_conv_fwd_d(&r->c, r->x, r->w, r->b, r->y);
    to_f(dst, r->y, hsi_ref_conv_dst_numel(&r->c));
}

void hk_ref_conv_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                          float *dsrc, float *dw, float *db)
{
    hsi_ref_conv_op *r = op->impl;
    int64_t nw = hsi_ref_conv_w_numel(&r->c);
    to_d(r->y, ddst, hsi_ref_conv_dst_numel(&r->c));
    if (dsrc && r->dx) {
        to_d(r->w, w, nw);
        hsi_ref_conv_bwd_data_d(&r->c, r->w, r->y, r->dx);
        to_f(dsrc, r->dx, hsi_ref_conv_src_numel(&r->c));
    }
    if ((!dw && !(db && r->c.bias)) || !r->dw) return;
    to_d(r->x, src, hsi_ref_conv_src_numel(&r->c));
    memset(r->dw, 0, sizeof(double) * (size_t)nw);
    memset(r->db, 0, sizeof(double) * (size_t)r->c.o);
    hsi_ref_conv_bwd_w_d(&r->c, r->x, r->y, dw ? r->dw : NULL, r->db);
    if (dw) acc_f(dw, r->dw, nw);
    if (db && r->c.bias) acc_f(db, r->db, r->c.o);
}

hsi_op *hk_ref_conv_create(hsi_rt *rt, const hsi_layout *src, const hsi_conv_desc *d,
                           int need_dsrc, int need_dw)
{
    if (!need_plain(rt, "conv", src)) return NULL;
    hsi_ref_conv c;
    if (hsi_ref_conv_init(&c, src->ndim, src->dims, d))
        return hk_fail(rt, "conv: the kernel does not fit the input");
    int64_t dims[5] = {c.n, c.o};
    for (int i = 0; i < d->nsp; i++) dims[2 + i] = c.out[3 - d->nsp + i];
    return conv_op_new(rt, HK_CONV, &c, hk_ref_layout_plain(rt, src->ndim, dims), need_dsrc,
                       need_dw);
}

hsi_op *hk_ref_dense_create(hsi_rt *rt, const hsi_layout *src, int64_t out, int bias,
                            int need_dsrc, int need_dw)
{
    if (!need_plain(rt, "dense", src)) return NULL;
    hsi_ref_conv c;
    hsi_ref_dense_init(&c, src->dims[0], lnumel(src) / src->dims[0], out, bias);
    int64_t dims[2] = {c.n, out};
    return conv_op_new(rt, HK_DENSE, &c, hk_ref_layout_plain(rt, 2, dims), need_dsrc, need_dw);
}

void hk_ref_dense_forward(hsi_op *op, const float *src, const float *w, const float *b,
                          float *dst)
{
    hk_ref_conv_forward(op, src, w, b, dst);
}

void hk_ref_dense_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                           float *dsrc, float *dw, float *db)
{
    hk_ref_conv_backward(op, src, w, ddst, dsrc, dw, db);
}

/* BN workspace: double mean[C], double var[C] (biased batch statistics), then, with fuse_relu,
 * one byte per element: 1 where the output is > 0. */
typedef struct hsi_ref_bn_op {
    hsi_ref_bn b;
    double *x, *y, *dx, *gamma, *beta, *mean, *var, *dgamma, *dbeta;
    double *red;       /* [2c]: sums reduced over every process (synchronized BN) */
    double count;      /* elements per channel of the last training forward, every shard */
} hsi_ref_bn_op;

hsi_op *hk_ref_bn_create(hsi_rt *rt, const hsi_layout *src, float eps, int fuse_relu)
{
    if (!need_plain(rt, "bn", src)) return NULL;
    hsi_op *op = new_op(rt, HK_BN, src, sizeof(hsi_ref_bn_op));
    if (!op) return NULL;
    hsi_ref_bn_op *r = op->impl;
    int64_t numel = lnumel(src);
    r->b = (hsi_ref_bn){src->dims[0], src->dims[1], numel / (src->dims[0] * src->dims[1]), eps,
                    fuse_relu};
    int64_t c = r->b.c;
    if (!(r->x = scratch(rt, numel)) || !(r->y = scratch(rt, numel)) ||
        !(r->dx = scratch(rt, numel)) || !(r->gamma = scratch(rt, c)) ||
        !(r->beta = scratch(rt, c)) || !(r->mean = scratch(rt, c)) ||
        !(r->var = scratch(rt, c)) || !(r->dgamma = scratch(rt, c)) ||
        !(r->dbeta = scratch(rt, c)) || !(r->red = scratch(rt, 2 * c)))
        return NULL;
    op->ws_bytes = 2 * sizeof(double) * (size_t)c + (fuse_relu ? (size_t)numel : 0);
    return op;
}

void hk_ref_bn_forward(hsi_op *op, int train, const float *src, const float *gamma,
                       const float *beta, float *running_mean, float *running_var,
                       float momentum, float *dst, void *ws)
{
    hsi_ref_bn_op *r = op->impl;
    int64_t numel = lnumel(op->dst), c = r->b.c;
    to_d(r->x, src, numel);
    to_d(r->gamma, gamma, c);
    to_d(r->beta, beta, c);
    if (!train) {
        to_d(r->mean, running_mean, c);
        to_d(r->var, running_var, c);
        hsi_ref_bn_fwd_d(&r->b, 0, r->x, r->gamma, r->beta, r->mean, r->var, r->y, NULL);
        to_f(dst, r->y, numel);
        return;
    }
    unsigned char *mask = ws ? (unsigned char *)ws + 2 * sizeof(double) * (size_t)c : NULL;
    const hsi_dp *dp = hk_bn_sync() ? hk_dp : NULL;
    /* the statistics of this batch, or of the global batch (then used as given) */
    r->count = (double)(r->b.n * r->b.sp);
    if (dp) bn_stats(&r->b, r->x, r->mean, r->var, &r->count, dp);
    hsi_ref_bn_fwd_d(&r->b, !dp, r->x, r->gamma, r->beta, r->mean, r->var, r->y, mask);
    to_f(dst, r->y, numel);
    if (ws) {
        memcpy(ws, r->mean, sizeof(double) * (size_t)c);
        memcpy((char *)ws + sizeof(double) * (size_t)c, r->var, sizeof(double) * (size_t)c);
    }
    if (running_mean && running_var) {
        to_d(r->dgamma, running_mean, c);   /* dgamma, dbeta: free until backward */
        to_d(r->dbeta, running_var, c);
        bn_running(&r->b, r->count, r->mean, r->var, momentum, r->dgamma, r->dbeta);
        to_f(running_mean, r->dgamma, c);
        to_f(running_var, r->dbeta, c);
    }
}

void hk_ref_bn_backward(hsi_op *op, const float *src, const float *gamma, const float *ddst,
                        const void *ws, float *dsrc, int add, float *dgamma, float *dbeta)
{
    hsi_ref_bn_op *r = op->impl;
    int64_t numel = lnumel(op->dst), c = r->b.c;
    to_d(r->x, src, numel);
    to_d(r->gamma, gamma, c);
    to_d(r->y, ddst, numel);
    memcpy(r->mean, ws, sizeof(double) * (size_t)c);
    memcpy(r->var, (const char *)ws + sizeof(double) * (size_t)c, sizeof(double) * (size_t)c);
    const unsigned char *mask = (const unsigned char *)ws + 2 * sizeof(double) * (size_t)c;
    memset(r->dgamma, 0, sizeof(double) * (size_t)c);
    memset(r->dbeta, 0, sizeof(double) * (size_t)c);
    const int sync = hk_bn_sync();
    hsi_ref_bn_bwd_d(&r->b, r->x, r->gamma, r->mean, r->var, mask, r->y,
                     dsrc && !sync ? r->dx : NULL, r->dgamma, r->dbeta);
    if (dsrc && sync) {   /* dx from the sums over the global batch; dgamma, dbeta stay local */
        memcpy(r->red, r->dbeta, sizeof(double) * (size_t)c);
        memcpy(r->red + c, r->dgamma, sizeof(double) * (size_t)c);
        hk_dp->sum(r->red, (int)(2 * c), hk_dp->ctx);
        for (int64_t ch = 0; ch < c; ch++)
            bn_dx(&r->b, ch, r->x, r->gamma, r->mean, r->var, mask, r->y, r->red[ch],
                  r->red[c + ch], r->count, r->dx);
    }
    if (dsrc) (add ? acc_f : to_f)(dsrc, r->dx, numel);   /* add: as hk_ref_accum of to_f's */
    if (dgamma) acc_f(dgamma, r->dgamma, c);
    if (dbeta) acc_f(dbeta, r->dbeta, c);
}

/* Element-wise ops (act, dropout, add) share one impl: two or three arrays of scratch. */
typedef struct hsi_ref_ew_op {
    int64_t n;
    hsi_act_kind kind;
    double alpha;      /* act: alpha; dropout: p */
    int relu;          /* add */
    double *u, *v, *w;
} hsi_ref_ew_op;

static hsi_op *ew_op_new(hsi_rt *rt, hk_kind kind, const hsi_layout *l, int arrays)
{
    hsi_op *op = new_op(rt, kind, l, sizeof(hsi_ref_ew_op));
    if (!op) return NULL;
    hsi_ref_ew_op *r = op->impl;
    r->n = lnumel(l);
    if (!(r->u = scratch(rt, r->n)) || !(r->v = scratch(rt, r->n)) ||
        (arrays > 2 && !(r->w = scratch(rt, r->n))))
        return NULL;
    return op;
}

hsi_op *hk_ref_act_create(hsi_rt *rt, const hsi_layout *src, hsi_act_kind kind, float alpha)
{
    if (!need_plain(rt, "activation", src)) return NULL;
    hsi_op *op = ew_op_new(rt, HK_ACT, src, 2);
    if (!op) return NULL;
    hsi_ref_ew_op *r = op->impl;
    r->kind = kind;
    r->alpha = alpha;
    return op;
}

void hk_ref_act_forward(hsi_op *op, const float *src, float *dst)
{
    hsi_ref_ew_op *r = op->impl;
    to_d(r->u, src, r->n);
    hsi_ref_act_fwd_d(r->kind, r->alpha, r->n, r->u, r->v);
    to_f(dst, r->v, r->n);
}

void hk_ref_act_backward(hsi_op *op, const float *dst, const float *ddst, float *dsrc)
{
    hsi_ref_ew_op *r = op->impl;
    to_d(r->u, dst, r->n);
    to_d(r->v, ddst, r->n);
    hsi_ref_act_bwd_d(r->kind, r->alpha, r->n, r->u, r->v, r->v);
    to_f(dsrc, r->v, r->n);
}

/* Dropout workspace: one byte per element, 1 where kept. */
hsi_op *hk_ref_dropout_create(hsi_rt *rt, const hsi_layout *src, float p)
{
    if (!need_plain(rt, "dropout", src)) return NULL;
    hsi_op *op = ew_op_new(rt, HK_DROPOUT, src, 2);
    if (!op) return NULL;
    hsi_ref_ew_op *r = op->impl;
    r->alpha = p;
    op->ws_bytes = (size_t)r->n;
    return op;
}

void hk_ref_dropout_forward(hsi_op *op, int train, uint64_t seed, const float *src, float *dst,
                            void *ws)
{
    hsi_ref_ew_op *r = op->impl;
    if (!train) {
        if (dst != src) memcpy(dst, src, sizeof(float) * (size_t)r->n);
        return;
    }
    to_d(r->u, src, r->n);
    hsi_ref_dropout_fwd_at_d(r->n, hk_dropout_base(op->dst), r->alpha, seed, r->u, r->v, ws);
    to_f(dst, r->v, r->n);
}

void hk_ref_dropout_backward(hsi_op *op, const float *ddst, const void *ws, float *dsrc)
{
    hsi_ref_ew_op *r = op->impl;
    to_d(r->u, ddst, r->n);
    hsi_ref_dropout_bwd_d(r->n, r->alpha, ws, r->u, r->v);
    to_f(dsrc, r->v, r->n);
}

/* Max-pool workspace: one int32 per output, the argmax's offset within its (n, c) input plane
 * (row-major over the spatial dims). Average pooling needs none. */
typedef struct hsi_ref_pool_op {
    hsi_ref_pool p;
    double *x, *y;
} hsi_ref_pool_op;

hsi_op *hk_ref_pool_create(hsi_rt *rt, const hsi_layout *src, const hsi_pool_desc *d,
                           const int64_t *ceil_extra)
{
    if (!need_plain(rt, "pool", src)) return NULL;
    hsi_ref_pool p;
    if (hsi_ref_pool_init(&p, src->ndim, src->dims, d))
        return hk_fail(rt, "pool: the window does not fit the input");
    hsi_ref_pool_ceil(&p, d->nsp, ceil_extra);
    int64_t dims[5] = {p.n, p.c};
    for (int i = 0; i < d->nsp; i++) dims[2 + i] = p.out[3 - d->nsp + i];
    const hsi_layout *dst = hk_ref_layout_plain(rt, src->ndim, dims);
    hsi_op *op = dst ? new_op(rt, HK_POOL, dst, sizeof(hsi_ref_pool_op)) : NULL;
    if (!op) return NULL;
    hsi_ref_pool_op *r = op->impl;
    r->p = p;
    if (!(r->x = scratch(rt, lnumel(src))) || !(r->y = scratch(rt, lnumel(dst)))) return NULL;
    op->ws_bytes = p.max ? sizeof(int32_t) * (size_t)lnumel(dst) : 0;
    return op;
}

void hk_ref_pool_forward(hsi_op *op, int train, const float *src, float *dst, void *ws)
{
    hsi_ref_pool_op *r = op->impl;
    to_d(r->x, src, hsi_ref_pool_src_numel(&r->p));
    hsi_ref_pool_fwd_d(&r->p, r->x, r->y, train && r->p.max ? ws : NULL);
    to_f(dst, r->y, hsi_ref_pool_dst_numel(&r->p));
}

void hk_ref_pool_backward(hsi_op *op, const float *ddst, const void *ws, float *dsrc)
{
    hsi_ref_pool_op *r = op->impl;
    to_d(r->y, ddst, hsi_ref_pool_dst_numel(&r->p));
    hsi_ref_pool_bwd_d(&r->p, r->y, ws, r->x);
    to_f(dsrc, r->x, hsi_ref_pool_src_numel(&r->p));
}

hsi_op *hk_ref_add_create(hsi_rt *rt, const hsi_layout *a, const hsi_layout *b, int relu)
{
    if (!need_plain(rt, "add", a) || !need_plain(rt, "add", b)) return NULL;
    hsi_op *op = ew_op_new(rt, HK_ADD, a, 3);
    if (!op) return NULL;
    ((hsi_ref_ew_op *)op->impl)->relu = relu;
    op->grad_shares = 3;   /* plain layouts; the backward reads ddst before writing */
    return op;
}

void hk_ref_add_forward(hsi_op *op, const float *a, const float *b, float *dst)
{
    hsi_ref_ew_op *r = op->impl;
    to_d(r->u, a, r->n);
    to_d(r->v, b, r->n);
    hsi_ref_add_fwd_d(r->n, r->relu, r->u, r->v, r->w);
    to_f(dst, r->w, r->n);
}

void hk_ref_add_backward(hsi_op *op, const float *dst, const float *ddst, float *da, float *db)
{
    hsi_ref_ew_op *r = op->impl;
    to_d(r->u, dst, r->n);
    to_d(r->v, ddst, r->n);
    hsi_ref_add_bwd_d(r->n, r->relu, r->u, r->v, r->w, NULL);
    if (db) to_f(db, r->w, r->n);
    if (da) to_f(da, r->w, r->n);
}

hsi_op *hk_ref_accum_create(hsi_rt *rt, const hsi_layout *accl, const hsi_layout *gl)
{
    if (!need_plain(rt, "accum", accl) || !need_plain(rt, "accum", gl)) return NULL;
    hsi_op *op = hk_op_new(rt, HK_ACCUM, accl);
    if (!op) return hk_fail(rt, "reference backend: out of memory (op)");
    return op;
}

/* A float sum rounded once is what double addition rounded to float gives: no scratch. */
void hk_ref_accum(hsi_op *op, float *acc, const float *g)
{
    int64_t n = lnumel(op->dst);
    for (int64_t i = 0; i < n; i++) acc[i] += g[i];
}

typedef struct hsi_ref_concat_op {
    hsi_ref_concat c;
    int64_t ch[];
} hsi_ref_concat_op;

hsi_op *hk_ref_concat_create(hsi_rt *rt, int n, const hsi_layout *const *srcs)
{
    int64_t dims[5];
    memcpy(dims, srcs[0]->dims, sizeof dims);
    dims[1] = 0;
    for (int i = 0; i < n; i++) {
        if (!need_plain(rt, "concat", srcs[i])) return NULL;
        dims[1] += srcs[i]->dims[1];
    }
    const hsi_layout *dst = hk_ref_layout_plain(rt, srcs[0]->ndim, dims);
    size_t bytes = sizeof(hsi_ref_concat_op) + sizeof(int64_t) * (size_t)n;
    hsi_op *op = dst ? new_op(rt, HK_CONCAT, dst, bytes) : NULL;
    if (!op) return NULL;
    hsi_ref_concat_op *r = op->impl;
    for (int i = 0; i < n; i++) r->ch[i] = srcs[i]->dims[1];
    r->c = (hsi_ref_concat){n, dims[0], lnumel(dst) / (dims[0] * dims[1]), dims[1], r->ch};
    return op;
}

void hk_ref_concat_forward(hsi_op *op, const float *const *srcs, float *dst)
{
    hsi_ref_concat_op *r = op->impl;
    hsi_ref_concat_move(&r->c, sizeof(float), 1, (void *const *)srcs, dst);
}

void hk_ref_concat_backward(hsi_op *op, const float *ddst, float *const *dsrcs)
{
    hsi_ref_concat_op *r = op->impl;
    hsi_ref_concat_move(&r->c, sizeof(float), 0, (void *const *)dsrcs, (void *)ddst);
}

hsi_op *hk_ref_reshape_create(hsi_rt *rt, const hsi_layout *src, int ndim, const int64_t *dims)
{
    if (!need_plain(rt, "reshape", src)) return NULL;
    const hsi_layout *dst = hk_ref_layout_plain(rt, ndim, dims);
    hsi_op *op = dst ? hk_op_new(rt, HK_RESHAPE, dst) : NULL;
    if (!op) return hk_fail(rt, "reference backend: out of memory (op)");
    op->view = 1;
    return op;
}

/* Plain row-major reshape is always a view: the caller aliases, nothing to do. */
void hk_ref_reshape_forward(hsi_op *op, const float *src, float *dst)
{
    (void)op, (void)src, (void)dst;
}

void hk_ref_reshape_backward(hsi_op *op, const float *ddst, float *dsrc)
{
    (void)op, (void)ddst, (void)dsrc;
}

typedef struct hsi_ref_xent_op {
    int64_t n, k;
    double *z, *dz;
} hsi_ref_xent_op;

hsi_op *hk_ref_xent_create(hsi_rt *rt, const hsi_layout *logits)
{
    if (!need_plain(rt, "softmax cross-entropy", logits)) return NULL;
    int64_t dims[2] = {logits->dims[0], logits->dims[1]};
    const hsi_layout *dst = hk_ref_layout_plain(rt, 2, dims);
    hsi_op *op = dst ? new_op(rt, HK_XENT, dst, sizeof(hsi_ref_xent_op)) : NULL;
    if (!op) return NULL;
    hsi_ref_xent_op *r = op->impl;
    r->n = dims[0];
    r->k = dims[1];
    if (!(r->z = scratch(rt, r->n * r->k)) || !(r->dz = scratch(rt, r->n * r->k))) return NULL;
    return op;
}

float hk_ref_xent_forward_backward(hsi_op *op, const float *logits, const int32_t *labels, int n,
                                   float weight, float *dlogits)
{
    hsi_ref_xent_op *r = op->impl;
    to_d(r->z, logits, (int64_t)n * r->k);
    double loss = hsi_ref_xent_d(r->n, r->k, r->z, labels, n, weight, dlogits ? r->dz : NULL);
    if (dlogits) to_f(dlogits, r->dz, r->n * r->k);
    return (float)loss;
}

void hk_ref_xent_plain_logits(hsi_op *op, const float *logits, float *plain)
{
    hsi_ref_xent_op *r = op->impl;
    memcpy(plain, logits, sizeof(float) * (size_t)(r->n * r->k));
}

/* ---- lrn, crop, prelu, softmax: the plain-layout math both backends run -------------------- */

int hk_xop_init(hsi_rt *rt, hk_xop *x, int ndim, const int64_t *src_dims, const hk_xop_desc *d)
{
    x->d = *d;
    x->ndim = ndim;
    memcpy(x->src_dims, src_dims, sizeof *src_dims * (size_t)ndim);
    memcpy(x->dst_dims, src_dims, sizeof *src_dims * (size_t)ndim);
    if (d->kind == HK_XOP_CROP)
        for (int i = 0; i < d->crop.nsp; i++) x->dst_dims[2 + i] = d->crop.size[i];
    x->n = src_dims[0];
    x->c = src_dims[1];
    x->sp = hk_numel(ndim, src_dims) / (x->n * x->c);
    int64_t ns = hk_numel(ndim, src_dims), nd = hk_numel(ndim, x->dst_dims);
    if (!(x->x = scratch(rt, ns)) || !(x->y = scratch(rt, nd)) || !(x->g = scratch(rt, ns)) ||
        !(x->t = scratch(rt, 2 * (x->c + 1))) || !(x->w = scratch(rt, x->c)) ||
        !(x->dw = scratch(rt, x->c)))
        return -1;
    return 0;
}

void hk_xop_forward(hk_xop *x, const float *src, const float *w, float *dst)
{
    const hk_xop_desc *d = &x->d;
    int64_t ns = x->n * x->c * x->sp;
    to_d(x->x, src, ns);
    switch (d->kind) {
    case HK_XOP_LRN:
        hsi_ref_lrn_fwd_d(x->n, x->c, x->sp, d->size, d->alpha, d->beta, d->k, x->x, x->y, x->t);
        break;
    case HK_XOP_CROP:
        hsi_ref_crop_move(x->ndim, x->src_dims, &d->crop, 1, x->x, x->y);
        to_f(dst, x->y, hk_numel(x->ndim, x->dst_dims));
        return;
    case HK_XOP_PRELU:
        to_d(x->w, w, d->slopes);
        hsi_ref_prelu_fwd_d(x->n, x->c, x->sp, d->slopes, x->x, x->w, x->y);
        break;
    case HK_XOP_SOFTMAX: hsi_ref_softmax_fwd_d(x->n, x->c, x->sp, x->x, x->y); break;
    }
    to_f(dst, x->y, ns);
}

void hk_xop_backward(hk_xop *x, const float *src, const float *dst, const float *w,
                     const float *ddst, float *dsrc, float *dw)
{
    const hk_xop_desc *d = &x->d;
    int64_t ns = x->n * x->c * x->sp;
    to_d(x->y, ddst, hk_numel(x->ndim, x->dst_dims));
    switch (d->kind) {
    case HK_XOP_LRN:
        if (!dsrc) return;
        to_d(x->x, src, ns);
        hsi_ref_lrn_bwd_d(x->n, x->c, x->sp, d->size, d->alpha, d->beta, d->k, x->x, x->y, x->g, x->t);
        break;
    case HK_XOP_CROP:
        if (!dsrc) return;
        hsi_ref_crop_move(x->ndim, x->src_dims, &d->crop, 0, x->g, x->y);
        break;
    case HK_XOP_PRELU:
        to_d(x->x, src, ns);
        to_d(x->w, w, d->slopes);
        memset(x->dw, 0, sizeof *x->dw * (size_t)d->slopes);
        hsi_ref_prelu_bwd_d(x->n, x->c, x->sp, d->slopes, x->x, x->w, x->y, dsrc ? x->g : NULL,
                            dw ? x->dw : NULL);
        if (dw) acc_f(dw, x->dw, d->slopes);
        if (!dsrc) return;
        break;
    case HK_XOP_SOFTMAX:
        if (!dsrc) return;
        to_d(x->x, dst, ns);
        hsi_ref_softmax_bwd_d(x->n, x->c, x->sp, x->x, x->y, x->g);
        break;
    }
    to_f(dsrc, x->g, ns);
}

hsi_op *hk_ref_xop_create(hsi_rt *rt, const hsi_layout *src, const hk_xop_desc *d)
{
    if (!need_plain(rt, "layer", src)) return NULL;
    hk_xop x;
    memset(&x, 0, sizeof x);
    if (hk_xop_init(rt, &x, src->ndim, src->dims, d)) return NULL;
    const hsi_layout *dst = hk_ref_layout_plain(rt, src->ndim, x.dst_dims);
    hsi_op *op = dst ? new_op(rt, HK_XOP, dst, sizeof(hk_xop)) : NULL;
    if (op) *(hk_xop *)op->impl = x;
    return op;
}

void hk_ref_xop_forward(hsi_op *op, const float *src, const float *w, float *dst)
{
    hk_xop_forward(op->impl, src, w, dst);
}

void hk_ref_xop_backward(hsi_op *op, const float *src, const float *dst, const float *w,
                         const float *ddst, float *dsrc, float *dw)
{
    hk_xop_backward(op->impl, src, dst, w, ddst, dsrc, dw);
}

/* ---- sequence ops: permute and one recurrent layer (the math in seq.c) -------------------- */

typedef struct hsi_ref_perm_op {
    int nd, perm[4];
    int64_t dims[5];           /* the src's */
} hsi_ref_perm_op;

hsi_op *hk_ref_permute_create(hsi_rt *rt, const hsi_layout *src, int n, const int *perm)
{
    if (!need_plain(rt, "permute", src)) return NULL;
    int64_t dims[5] = {src->dims[0]};
    for (int i = 0; i < n; i++) dims[1 + i] = src->dims[1 + perm[i]];
    const hsi_layout *dst = hk_ref_layout_plain(rt, src->ndim, dims);
    hsi_op *op = dst ? new_op(rt, HK_PERMUTE, dst, sizeof(hsi_ref_perm_op)) : NULL;
    if (!op) return NULL;
    hsi_ref_perm_op *r = op->impl;
    r->nd = src->ndim;
    memcpy(r->perm, perm, sizeof(int) * (size_t)n);
    memcpy(r->dims, src->dims, sizeof(int64_t) * (size_t)src->ndim);
    return op;
}

void hk_ref_permute_forward(hsi_op *op, const float *src, float *dst)
{
    const hsi_ref_perm_op *r = op->impl;
    hsi_ref_permute_move(r->nd, r->dims, r->perm, 0, sizeof(float), src, dst);
}

void hk_ref_permute_backward(hsi_op *op, const float *ddst, float *dsrc)
{
    const hsi_ref_perm_op *r = op->impl;
    if (dsrc) hsi_ref_permute_move(r->nd, r->dims, r->perm, 1, sizeof(float), ddst, dsrc);
}

typedef struct hsi_ref_rnn_op {
    hsi_ref_rnn r;
    double *x, *wih, *whh, *bih, *bhh, *y, *ws, *tmp, *dx, *dwih, *dwhh, *dbih, *dbhh;
} hsi_ref_rnn_op;

hsi_op *hk_ref_rnn_create(hsi_rt *rt, const hsi_layout *src, const hsi_rnn_desc *d,
                          int need_dsrc, int need_dw)
{
    if (!need_plain(rt, "rnn", src)) return NULL;
    hsi_ref_rnn rr = {src->dims[0], src->dims[1], src->dims[2], d->hidden, d->lstm, d->reverse,
                  d->sequence, d->bias};
    int64_t dims[3] = {rr.n, rr.h, rr.l};
    const hsi_layout *dst = hk_ref_layout_plain(rt, d->sequence ? 3 : 2, dims);
    hsi_op *op = dst ? new_op(rt, HK_RNN, dst, sizeof(hsi_ref_rnn_op)) : NULL;
    if (!op) return NULL;
    hsi_ref_rnn_op *r = op->impl;
    r->r = rr;
    int64_t G = hsi_ref_rnn_gates(&rr), nx = rr.n * rr.f * rr.l;
    if (!(r->x = scratch(rt, nx)) || !(r->wih = scratch(rt, G * rr.f)) ||
        !(r->whh = scratch(rt, G * rr.h)) || !(r->bih = scratch(rt, G)) ||
        !(r->bhh = scratch(rt, G)) || !(r->y = scratch(rt, lnumel(dst))) ||
        !(r->ws = scratch(rt, hsi_ref_rnn_ws_numel(&rr))) || !(r->tmp = scratch(rt, 2 * rr.h + 2 * G)))
        return NULL;
    if (need_dsrc && !(r->dx = scratch(rt, nx))) return NULL;
    if (need_dw && (!(r->dwih = scratch(rt, G * rr.f)) || !(r->dwhh = scratch(rt, G * rr.h)) ||
                    !(r->dbih = scratch(rt, G)) || !(r->dbhh = scratch(rt, G))))
        return NULL;
    return op;
}

/* x and the parameters into the op's doubles, then the forward into y and ws */
static void rnn_run(hsi_ref_rnn_op *r, const float *src, const float *w_ih, const float *w_hh,
                    const float *b_ih, const float *b_hh)
{
    const hsi_ref_rnn *rr = &r->r;
    int64_t G = hsi_ref_rnn_gates(rr);
    to_d(r->x, src, rr->n * rr->f * rr->l);
    to_d(r->wih, w_ih, G * rr->f);
    to_d(r->whh, w_hh, G * rr->h);
    if (rr->bias) {
        to_d(r->bih, b_ih, G);
        to_d(r->bhh, b_hh, G);
    }
    hsi_ref_rnn_fwd_d(rr, r->x, r->wih, r->whh, r->bih, r->bhh, r->y, r->ws);
}

void hk_ref_rnn_forward(hsi_op *op, const float *src, const float *w_ih, const float *w_hh,
                        const float *b_ih, const float *b_hh, float *dst)
{
    hsi_ref_rnn_op *r = op->impl;
    rnn_run(r, src, w_ih, w_hh, b_ih, b_hh);
    to_f(dst, r->y, lnumel(op->dst));
}

void hk_ref_rnn_backward(hsi_op *op, const float *src, const float *w_ih, const float *w_hh,
                         const float *b_ih, const float *b_hh, const float *ddst, float *dsrc,
                         float *dw_ih, float *dw_hh, float *db_ih, float *db_hh)
{
    hsi_ref_rnn_op *r = op->impl;
    const hsi_ref_rnn *rr = &r->r;
    int64_t G = hsi_ref_rnn_gates(rr);
    int dw = r->dwih != NULL;
    rnn_run(r, src, w_ih, w_hh, b_ih, b_hh);   /* the states again: no workspace kept */
    to_d(r->y, ddst, lnumel(op->dst));
    if (dw) {
        memset(r->dwih, 0, sizeof(double) * (size_t)(G * rr->f));
        memset(r->dwhh, 0, sizeof(double) * (size_t)(G * rr->h));
        memset(r->dbih, 0, sizeof(double) * (size_t)G);
        memset(r->dbhh, 0, sizeof(double) * (size_t)G);
    }
    hsi_ref_rnn_bwd_d(rr, r->x, r->wih, r->whh, r->ws, r->y, dsrc ? r->dx : NULL,
                      dw && dw_ih ? r->dwih : NULL, dw && dw_hh ? r->dwhh : NULL,
                      dw && db_ih && rr->bias ? r->dbih : NULL, dw && db_hh && rr->bias ? r->dbhh : NULL,
                      r->tmp);
    if (dsrc && r->dx) to_f(dsrc, r->dx, rr->n * rr->f * rr->l);
    if (!dw) return;
    if (dw_ih) acc_f(dw_ih, r->dwih, G * rr->f);
    if (dw_hh) acc_f(dw_hh, r->dwhh, G * rr->h);
    if (db_ih && rr->bias) acc_f(db_ih, r->dbih, G);
    if (db_hh && rr->bias) acc_f(db_hh, r->dbhh, G);
}
