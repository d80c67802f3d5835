/* seq.c — the sequence ops of hsi_kernels.h: permute of the per-sample axes and one recurrent
 * layer (PyTorch's nn.GRU / nn.LSTM, one layer, one direction). The public functions check
 * their arguments and dispatch to the backend (ref.c's float wrappers, dnnl.c's, which run the
 * same reference math on plain copies); the reference math itself, in double, is here
 * (ref.h: hsi_ref_permute_move, hsi_ref_rnn_fwd_d, hsi_ref_rnn_bwd_d), so the gradient checks of
 * tests/kernels call it directly.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels_impl.h"
#include "ref.h"

/* ---- permute ------------------------------------------------------------------------------- */

void hsi_ref_permute_move(int nd, const int64_t *dims, const int *perm, int inverse, size_t elem,
                          const void *from, void *to)
{
    /* dst axis 1 + i is src axis 1 + perm[i]; walk dst in row-major order */
    int64_t sstride[5], odims[5], n = 1;
    sstride[nd - 1] = 1;
    for (int a = nd - 2; a >= 0; a--) sstride[a] = sstride[a + 1] * dims[a + 1];
    odims[0] = dims[0];
    int64_t ostr[5];   /* for each dst axis, the stride of the src axis it reads */
    ostr[0] = sstride[0];
    for (int i = 0; i + 1 < nd; i++) {
        odims[i + 1] = dims[1 + perm[i]];
        ostr[i + 1] = sstride[1 + perm[i]];
    }
    for (int a = 0; a < nd; a++) n *= odims[a];
    int64_t idx[5] = {0}, off = 0;
    const char *f = from;
    char *t = to;
    for (int64_t k = 0; k < n; k++) {
        /* k: the dst index; off: the src index */
        if (inverse) memcpy(t + (size_t)off * elem, f + (size_t)k * elem, elem);
        else memcpy(t + (size_t)k * elem, f + (size_t)off * elem, elem);
        for (int a = nd - 1; a >= 0; a--) {
            off += ostr[a];
            if (++idx[a] < odims[a]) break;
            off -= ostr[a] * odims[a];
            idx[a] = 0;
        }
    }
}

/* ---- one recurrent layer ----------------------------------------------------------------- */

int64_t hsi_ref_rnn_gates(const hsi_ref_rnn *r) { return (r->lstm ? 4 : 3) * r->h; }

int64_t hsi_ref_rnn_ws_numel(const hsi_ref_rnn *r)
{
    return r->n * r->l * (hsi_ref_rnn_gates(r) + 2 * r->h);
}

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

/* ws per sample and processing step s (time t = reverse ? l-1-s : s), [G*H + 2H] doubles:
 *   GRU  r, z, n, hn (= W_hn h_prev + b_hn), h
 *   LSTM i, f, g, o, c, h */
static double *ws_at(const hsi_ref_rnn *r, double *ws, int64_t b, int64_t s)
{
    return ws + (b * r->l + s) * (hsi_ref_rnn_gates(r) + 2 * r->h);
}

void hsi_ref_rnn_fwd_d(const hsi_ref_rnn *r, const double *x, const double *wih, const double *whh,
                       const double *bih, const double *bhh, double *y, double *ws)
{
    const int64_t H = r->h, F = r->f, L = r->l, G = hsi_ref_rnn_gates(r);
    for (int64_t b = 0; b < r->n; b++) {
        const double *xb = x + b * F * L;
        for (int64_t s = 0; s < L; s++) {
            int64_t t = r->reverse ? L - 1 - s : s;
            double *w = ws_at(r, ws, b, s);
            const double *hp = s ? ws_at(r, ws, b, s - 1) + G + H : NULL;
            const double *cp = s && r->lstm ? ws_at(r, ws, b, s - 1) + G : NULL;
            for (int64_t j = 0; j < G; j++) {   /* gi + gh, except GRU's n: kept apart */
                double gi = r->bias ? bih[j] : 0, gh = r->bias ? bhh[j] : 0;
                for (int64_t f = 0; f < F; f++) gi += wih[j * F + f] * xb[f * L + t];
                for (int64_t k = 0; hp && k < H; k++) gh += whh[j * H + k] * hp[k];
                if (!r->lstm && j >= 2 * H) {
                    w[j] = gi;           /* the input part of n, for now */
                    w[j + H] = gh;       /* hn */
                } else {
                    w[j] = gi + gh;
                }
            }
            if (r->lstm) {
                double *c = w + G, *h = w + G + H;
                for (int64_t k = 0; k < H; k++) {
                    double i = sigm(w[k]), f = sigm(w[H + k]), g = tanh(w[2 * H + k]),
                           o = sigm(w[3 * H + k]);
                    w[k] = i, w[H + k] = f, w[2 * H + k] = g, w[3 * H + k] = o;
                    c[k] = f * (cp ? cp[k] : 0) + i * g;
                    h[k] = o * tanh(c[k]);
                }
            } else {
                double *h = w + G + H;
                for (int64_t k = 0; k < H; k++) {
                    double rr = sigm(w[k]), z = sigm(w[H + k]);
                    double n = tanh(w[2 * H + k] + rr * w[3 * H + k]);
                    w[k] = rr, w[H + k] = z, w[2 * H + k] = n;
                    h[k] = (1 - z) * n + z * (hp ? hp[k] : 0);
                }
            }
            const double *h = w + G + H;
            if (r->sequence)
                for (int64_t k = 0; k < H; k++) y[(b * H + k) * L + t] = h[k];
            else if (s == L - 1)
                for (int64_t k = 0; k < H; k++) y[b * H + k] = h[k];
        }
    }
}

void hsi_ref_rnn_bwd_d(const hsi_ref_rnn *r, const double *x, const double *wih, const double *whh,
                       const double *ws, const double *dy, double *dx, double *dwih, double *dwhh,
                       double *dbih, double *dbhh, double *tmp)
{
    const int64_t H = r->h, F = r->f, L = r->l, G = hsi_ref_rnn_gates(r);
    double *dh = tmp, *dc = tmp + H, *ga = tmp + 2 * H, *gh = tmp + 2 * H + G;  /* 2H + 2G */
    if (dx) memset(dx, 0, sizeof(double) * (size_t)(r->n * F * L));
    for (int64_t b = 0; b < r->n; b++) {
        const double *xb = x + b * F * L;
        memset(dh, 0, sizeof(double) * (size_t)(2 * H));
        for (int64_t s = L - 1; s >= 0; s--) {
            int64_t t = r->reverse ? L - 1 - s : s;
            const double *w = ws_at(r, (double *)ws, b, s);
            const double *hp = s ? ws_at(r, (double *)ws, b, s - 1) + G + H : NULL;
            for (int64_t k = 0; k < H; k++)
                dh[k] += r->sequence ? dy[(b * H + k) * L + t] : s == L - 1 ? dy[b * H + k] : 0;
            if (r->lstm) {
                const double *cp = s ? ws_at(r, (double *)ws, b, s - 1) + G : NULL;
                for (int64_t k = 0; k < H; k++) {
                    double i = w[k], f = w[H + k], g = w[2 * H + k], o = w[3 * H + k];
                    double tc = tanh(w[G + k]);
                    double dcc = dc[k] + dh[k] * o * (1 - tc * tc);
                    ga[k] = dcc * g * i * (1 - i);
                    ga[H + k] = dcc * (cp ? cp[k] : 0) * f * (1 - f);
                    ga[2 * H + k] = dcc * i * (1 - g * g);
                    ga[3 * H + k] = dh[k] * tc * o * (1 - o);
                    dc[k] = dcc * f;
                }
                memcpy(gh, ga, sizeof(double) * (size_t)G);
            } else {
                for (int64_t k = 0; k < H; k++) {
                    double rr = w[k], z = w[H + k], n = w[2 * H + k], hn = w[3 * H + k];
                    double hpk = hp ? hp[k] : 0;
                    double dan = dh[k] * (1 - z) * (1 - n * n);
                    double dr = dan * hn;
                    ga[k] = gh[k] = dr * rr * (1 - rr);
                    ga[H + k] = gh[H + k] = dh[k] * (hpk - n) * z * (1 - z);
                    ga[2 * H + k] = dan;
                    gh[2 * H + k] = dan * rr;
                    dc[k] = dh[k] * z;   /* dh_prev, direct part */
                }
            }
            /* parameters and the input */
            for (int64_t j = 0; j < G; j++) {
                if (dbih) dbih[j] += ga[j];
                if (dbhh) dbhh[j] += gh[j];
                for (int64_t f = 0; dwih && f < F; f++) dwih[j * F + f] += ga[j] * xb[f * L + t];
                for (int64_t k = 0; dwhh && hp && k < H; k++) dwhh[j * H + k] += gh[j] * hp[k];
                for (int64_t f = 0; dx && f < F; f++) dx[b * F * L + f * L + t] += wih[j * F + f] * ga[j];
            }
            /* dh_prev = W_hh^T gh (+ z dh for GRU) */
            for (int64_t k = 0; k < H; k++) {
                double v = r->lstm ? 0 : dc[k];
                for (int64_t j = 0; j < G; j++) v += whh[j * H + k] * gh[j];
                dh[k] = v;
            }
            if (!r->lstm) memset(dc, 0, sizeof(double) * (size_t)H);
        }
    }
}

/* ---- the public API ------------------------------------------------------------------------ */

hsi_op *hsi_permute_create(hsi_rt *rt, const hsi_layout *src, int n, const int *perm)
{
    if (!rt) return NULL;
    if (!src) return hk_fail(rt, "permute: no input layout");
    if (!perm || n != src->ndim - 1)
        return hk_fail(rt, "permute: %d axes for an input of rank %d (%d per-sample axes)", n,
                       src->ndim, src->ndim - 1);
    int seen[4] = {0};
    for (int i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]])
            return hk_fail(rt, "permute: axis list is not a permutation of 0..%d", n - 1);
        seen[perm[i]] = 1;
    }
    return HK_CALL(rt, permute_create, rt, src, n, perm);
}

void hsi_permute_forward(hsi_op *op, const float *src, float *dst)
{
    HK_CALL(op->rt, permute_forward, op, src, dst);
}

void hsi_permute_backward(hsi_op *op, const float *ddst, float *dsrc)
{
    HK_CALL(op->rt, permute_backward, op, ddst, dsrc);
}

hsi_op *hsi_rnn_create(hsi_rt *rt, const hsi_layout *src, const hsi_rnn_desc *d, int need_dsrc,
                       int need_dw)
{
    if (!rt) return NULL;
    if (!src) return hk_fail(rt, "rnn: no input layout");
    if (!d) return hk_fail(rt, "rnn: no descriptor");
    if (src->ndim != 3)
        return hk_fail(rt, "rnn: the input must be a sequence [N, F, L], got rank %d", src->ndim);
    if (d->hidden < 1) return hk_fail(rt, "rnn: hidden size %lld < 1", (long long)d->hidden);
    return HK_CALL(rt, rnn_create, rt, src, d, need_dsrc, need_dw);
}

void hsi_rnn_forward(hsi_op *op, const float *src, const float *w_ih, const float *w_hh,
                     const float *b_ih, const float *b_hh, float *dst)
{
    HK_CALL(op->rt, rnn_forward, op, src, w_ih, w_hh, b_ih, b_hh, dst);
}

void hsi_rnn_backward(hsi_op *op, const float *src, const float *w_ih, const float *w_hh,
                      const float *b_ih, const float *b_hh, const float *ddst, float *dsrc,
                      float *dw_ih, float *dw_hh, float *db_ih, float *db_hh)
{
    HK_CALL(op->rt, rnn_backward, op, src, w_ih, w_hh, b_ih, b_hh, ddst, dsrc, dw_ih, dw_hh,
            db_ih, db_hh);
}
