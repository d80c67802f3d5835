/* ref.h — the reference backend's math: every op as plain loops over DOUBLE row-major arrays.
 *
 * ref.c wraps these cores behind the float API of hsi_kernels.h (convert in, compute, convert
 * out); the gradient checks in tests/kernels/ call them directly, so forward and backward are
 * checked in double precision. No allocation, no state: each core reads its inputs and writes
 * its outputs. Gradients named dw/db/dgamma/dbeta are ACCUMULATED (+=); dx/dsrc OVERWRITTEN.
 */
#ifndef HSI_REF_H
#define HSI_REF_H

#include <stddef.h>
#include <stdint.h>

#include "hsi_kernels.h"

/* Output size of one spatial dim (convolution and pooling); < 1 when the window does not fit. */
int64_t hsi_ref_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi,
                         int64_t dilation);

/* Convolution, always walked as 3-D: spatial rank nsp < 3 is padded with LEADING dims of size 1
 * (kernel 1, stride 1, pad 0, dilation 1), which changes no index. Also serves dense: a dense
 * layer is a 1x1x1 convolution over c = prod(src dims[1..]) channels. */
typedef struct hsi_ref_conv {
    int64_t n, c, o, g;       /* batch, in channels, out channels, groups */
    int64_t in[3], out[3];    /* spatial sizes (D, H, W), leading 1s when nsp < 3 */
    int64_t k[3], s[3], plo[3], dil[3];
    int bias;                 /* 1: b has o values */
} hsi_ref_conv;
/* From a src shape [N, C, sp...] (ndim = nsp + 2) and a descriptor; -1 if an output size < 1. */
int hsi_ref_conv_init(hsi_ref_conv *c, int ndim, const int64_t *src_dims, const hsi_conv_desc *d);
/* Dense layer dst[n, o] = x[n, :] . w[o, :] + b[o] with f input features, as a hsi_ref_conv. */
void hsi_ref_dense_init(hsi_ref_conv *c, int64_t n, int64_t f, int64_t o, int bias);
int64_t hsi_ref_conv_src_numel(const hsi_ref_conv *c);
int64_t hsi_ref_conv_dst_numel(const hsi_ref_conv *c);
int64_t hsi_ref_conv_w_numel(const hsi_ref_conv *c);   /* o * c/g * prod(k) */
/* y = conv(x, w) + b; b ignored unless c->bias. */
void hsi_ref_conv_fwd_d(const hsi_ref_conv *c, const double *x, const double *w, const double *b,
                        double *y);
/* dx = conv_transpose(dy, w), overwritten. */
void hsi_ref_conv_bwd_data_d(const hsi_ref_conv *c, const double *w, const double *dy, double *dx);
/* dw += d/dw, db += sum of dy per out channel (either may be NULL; db only if c->bias). */
void hsi_ref_conv_bwd_w_d(const hsi_ref_conv *c, const double *x, const double *dy, double *dw,
                          double *db);

/* Batch normalisation of [n, c, sp] (sp = product of spatial dims). */
typedef struct hsi_ref_bn {
    int64_t n, c, sp;
    double eps;
    int relu;                 /* 1: y = max(0, bn(x)) */
} hsi_ref_bn;
/* train = 1: writes the batch mean and BIASED variance of each channel into mean, var and
 * normalises with them; train = 0: reads mean, var (the running statistics). relu_mask, if not
 * NULL and b->relu, receives 1 where y > 0 and 0 elsewhere (n*c*sp bytes). */
void hsi_ref_bn_fwd_d(const hsi_ref_bn *b, int train, const double *x, const double *gamma,
                      const double *beta, double *mean, double *var, double *y,
                      unsigned char *relu_mask);
/* Training-mode backward through the batch statistics mean, var (biased) of the forward.
 * relu_mask is required when b->relu. dx overwritten (may be NULL); dgamma, dbeta += . */
void hsi_ref_bn_bwd_d(const hsi_ref_bn *b, const double *x, const double *gamma, const double *mean,
                      const double *var, const unsigned char *relu_mask, const double *dy,
                      double *dx, double *dgamma, double *dbeta);
/* PyTorch's running-statistics update from a batch mean and biased var over m = n*sp samples:
 * r = (1 - momentum) r + momentum * batch, with the variance made unbiased by m/(m-1)
 * (left biased when m == 1, where PyTorch refuses to train). */
void hsi_ref_bn_running_d(const hsi_ref_bn *b, const double *mean, const double *var,
                          double momentum, double *running_mean, double *running_var);

/* Element-wise activation of n values. Backward takes the forward OUTPUT y:
 *   relu        dx = dy * (y > 0)
 *   leaky_relu  dx = dy * (y > 0 ? 1 : alpha)          (alpha >= 0 keeps sign(y) = sign(x))
 *   elu         dx = dy * (y > 0 ? 1 : y + alpha)      (y = alpha (e^x - 1) => y' = y + alpha)
 *   sigmoid     dx = dy * y (1 - y)
 *   tanh        dx = dy * (1 - y^2)
 * Both may run in place (y == x, dx == dy). */
void hsi_ref_act_fwd_d(hsi_act_kind kind, double alpha, int64_t n, const double *x, double *y);
void hsi_ref_act_bwd_d(hsi_act_kind kind, double alpha, int64_t n, const double *y,
                       const double *dy, double *dx);

/* Inverted dropout of n values: keep[i] = hsi_dropout_uniform(seed, i) >= p, y = x / (1 - p)
 * where kept, else 0. mask (n bytes, may be NULL) receives keep. Backward: dx = dy * mask /
 * (1 - p). Both may run in place. */
void hsi_ref_dropout_fwd_d(int64_t n, double p, uint64_t seed, const double *x, double *y,
                           unsigned char *mask);
/* The same for elements base, base + 1, ... of a larger batch (one shard of it). */
void hsi_ref_dropout_fwd_at_d(int64_t n, uint64_t base, double p, uint64_t seed, const double *x,
                              double *y, unsigned char *mask);
void hsi_ref_dropout_bwd_d(int64_t n, double p, const unsigned char *mask, const double *dy,
                           double *dx);

/* Pooling over n*c independent planes, walked as 3-D like hsi_ref_conv. */
typedef struct hsi_ref_pool {
    int64_t n, c;
    int64_t in[3], out[3], k[3], s[3], plo[3];
    int64_t cend[3];          /* average, count_include_pad: a window counts cells < cend
                                 (in + pad_hi without a ceil_mode extra) */
    int max;                  /* 1 max, 0 average */
    int count_include_pad;    /* average: divide by prod(k) (1) or by the real cells (0) */
} hsi_ref_pool;
/* -1 if an output size < 1 or a padding is not smaller than its kernel (so that every window
 * holds a real cell). */
int hsi_ref_pool_init(hsi_ref_pool *p, int ndim, const int64_t *src_dims, const hsi_pool_desc *d);
/* ceil_mode (hsi_pool_create_ceil): d->pad_hi includes extra[i], which the divisor does not count */
void hsi_ref_pool_ceil(hsi_ref_pool *p, int nsp, const int64_t *extra);
int64_t hsi_ref_pool_src_numel(const hsi_ref_pool *p);
int64_t hsi_ref_pool_dst_numel(const hsi_ref_pool *p);
/* Max: argmax (if not NULL) receives, per output, the offset of the winning input cell within
 * its (n, c) plane; padding never wins, ties go to the first cell in row-major order. */
void hsi_ref_pool_fwd_d(const hsi_ref_pool *p, const double *x, double *y, int32_t *argmax);
/* dx overwritten; max routes dy through argmax, average spreads it over the window. */
void hsi_ref_pool_bwd_d(const hsi_ref_pool *p, const double *dy, const int32_t *argmax, double *dx);

/* dst = a + b, then ReLU if relu. Backward: g = dy * (y > 0 if relu); da = g, db = g (either
 * may be NULL; da may alias dy). */
void hsi_ref_add_fwd_d(int64_t n, int relu, const double *a, const double *b, double *y);
void hsi_ref_add_bwd_d(int64_t n, int relu, const double *y, const double *dy, double *da,
                       double *db);

/* Concatenation along axis 1 of n_parts tensors [batch, ch[i], inner...]: pure data movement,
 * for any element size. to_whole = 1: parts -> whole; 0: whole -> parts (NULL parts skipped). */
typedef struct hsi_ref_concat {
    int n_parts;
    int64_t batch, inner, total_ch;
    const int64_t *ch;        /* n_parts channel counts */
} hsi_ref_concat;
void hsi_ref_concat_move(const hsi_ref_concat *c, size_t elem, int to_whole, void *const *parts,
                         void *whole);

/* Softmax cross-entropy of logits [n_all, k]: see hsi_xent_forward_backward. dlogits (may be
 * NULL) gets weight * (softmax - onehot) / m for the valid samples among the first n, 0
 * elsewhere. Returns the mean loss over the m valid samples (0 if m == 0). */
double hsi_ref_xent_d(int64_t n_all, int64_t k, const double *logits, const int32_t *labels, int n,
                      double weight, double *dlogits);

/* ---- lrn, crop, prelu, softmax on [n, c, sp] (sp = product of the dims after the channels) --- */
/* LRN across channels (PyTorch): s[c] = k + alpha / size * sum of x[j]^2 over j in
 * [c - size/2, c + (size-1)/2] within [0, c); y = x s^-beta. t: 2 * (c + 1) doubles of scratch.
 * Backward: dx[j] = dy[j] s[j]^-beta - 2 alpha beta / size x[j] sum over the c whose window holds
 * j of dy[c] x[c] s[c]^(-beta-1). */
void hsi_ref_lrn_fwd_d(int64_t n, int64_t c, int64_t sp, int64_t size, double alpha, double beta,
                       double k, const double *x, double *y, double *t);
void hsi_ref_lrn_bwd_d(int64_t n, int64_t c, int64_t sp, int64_t size, double alpha, double beta,
                       double k, const double *x, const double *dy, double *dx, double *t);
/* y = x > 0 ? x : a[ch] x with a of `slopes` values (1: shared, else one per channel);
 * dx = dy or a dy (x <= 0), da[ch] += sum of dy x where x <= 0 (dx, da may be NULL). */
void hsi_ref_prelu_fwd_d(int64_t n, int64_t c, int64_t sp, int64_t slopes, const double *x,
                         const double *a, double *y);
void hsi_ref_prelu_bwd_d(int64_t n, int64_t c, int64_t sp, int64_t slopes, const double *x,
                         const double *a, const double *dy, double *dx, double *da);
/* Softmax over c; backward from the output: dx = y (dy - sum_c dy y). */
void hsi_ref_softmax_fwd_d(int64_t n, int64_t c, int64_t sp, const double *x, double *y);
void hsi_ref_softmax_bwd_d(int64_t n, int64_t c, int64_t sp, const double *y, const double *dy,
                           double *dx);
/* The window offset..offset+size of the nsp trailing dims of src [dims...] (ndim dims, batch
 * and channels first): to_window 1 copies it from whole into win; 0 writes win into whole and
 * zeros the rest. */
void hsi_ref_crop_move(int ndim, const int64_t *dims, const hsi_crop_desc *d, int to_window,
                       double *whole, double *win);

/* Sequence ops (seq.c). Permute: [dims[0], ...] (nd axes) to the layout whose axis 1 + i is
 * axis 1 + perm[i]; elements of elem bytes. inverse = 1: the other way (from is the permuted). */
void hsi_ref_permute_move(int nd, const int64_t *dims, const int *perm, int inverse, size_t elem,
                          const void *from, void *to);
/* One GRU or LSTM layer (hsi_rnn_create) over x [n, f, l]: y [n, h, l] (sequence) or [n, h].
 * ws (hsi_ref_rnn_ws_numel doubles) keeps the gates and states for the backward. */
typedef struct hsi_ref_rnn {
    int64_t n, f, l, h;
    int lstm, reverse, sequence, bias;
} hsi_ref_rnn;
int64_t hsi_ref_rnn_gates(const hsi_ref_rnn *r);     /* G * h */
int64_t hsi_ref_rnn_ws_numel(const hsi_ref_rnn *r);
/* bih, bhh ignored unless r->bias. */
void hsi_ref_rnn_fwd_d(const hsi_ref_rnn *r, const double *x, const double *wih, const double *whh,
                       const double *bih, const double *bhh, double *y, double *ws);
/* Through the forward's ws: dx overwritten (may be NULL); dwih, dwhh, dbih, dbhh += (each may
 * be NULL); tmp: 2h + 2 * gates doubles. */
void hsi_ref_rnn_bwd_d(const hsi_ref_rnn *r, const double *x, const double *wih, const double *whh,
                       const double *ws, const double *dy, double *dx, double *dwih, double *dwhh,
                       double *dbih, double *dbhh, double *tmp);

#endif
