/* bnorm.h — training batch normalisation (optionally with its ReLU) on channel-blocked tensors,
 * with every per-channel sum accumulated in double.
 *
 * Why not oneDNN's: its backward accumulates sum(dy) and sum(dy * xhat) in float over
 * N * spatial elements (77,616 per channel for SSRN's spectral tensors); when dy has a large
 * common part those sums cancel, and the float error reached 0.2-5 % of SSRN's spectral
 * gradients against the reference backend and PyTorch (tests/oracle/README.md). Here each work
 * item (one sample, one channel block) sums in double and the items are added in a fixed order,
 * so results do not depend on the thread count either.
 *
 * Tensors are [N, Cp/B, S, B] (B = 8 or 16: oneDNN's aBcde8b / aBcde16b ..., Cp = C rounded up
 * to B; channels C..Cp-1 are written as zeros), B = 1 (plain [N, C, S]) or B = C
 * (channels-last [N, S, C]). The forward keeps the
 * batch mean and biased variance (float, as the statistics oneDNN returned); the ReLU mask is
 * recomputed in the backward from src with the forward's own float arithmetic, so no mask is
 * stored. Synchronized BN (several processes): the statistics' sums and, for dx, the
 * backward's sums are added over the processes by the caller's reduce; dgamma and dbeta stay
 * this process's (the trainer adds the processes' gradients).
 */
#ifndef HSI_BNORM_H
#define HSI_BNORM_H

#include <stddef.h>
#include <stdint.h>

typedef struct hk_bnorm {
    int64_t n, c, b, s;           /* batch, channels, block (1, 8, 16 or C), spatial elements */
    float eps;
    int relu;
} hk_bnorm;

/* The level (HK_ISA_*, tapconv.h) of the loops this machine (and HSICC_KERNEL_ISA) runs. */
int hk_bnorm_isa(void);

/* 1: the [N, C] path (one spatial element, B = C >= 16): 16 channels per work item over every
 * sample instead of a sample per work item (HSICC_BN_COLUMNS=0 turns it off). */
int hk_bnorm_columns(const hk_bnorm *g);

/* Doubles of scratch the two calls need. */
size_t hk_bnorm_scratch_doubles(const hk_bnorm *g);
/* Blocked tensors are summed in pieces: HK_BNORM_CHUNK positions of one sample's block (the
 * last chunk what remains), each piece's sums kept, the pieces added in a fixed order. A conv
 * whose work items are such chunks can sum them as it finishes them, in L1 (tapconv.c's item
 * hook): hk_bnorm_stats_rows / hk_bnorm_bsums_rows compute exactly what the pass would, and
 * the call with summed = 1 skips its sums pass. Not for the [N, C] path (hk_bnorm_columns). */
#define HK_BNORM_CHUNK 256
/* The forward's sums of x's rows [r0, r1) of sample n, every block (r0 a multiple of
 * HK_BNORM_CHUNK, r1 a chunk's end), into scratch. */
void hk_bnorm_stats_rows(const hk_bnorm *g, const float *x, int64_t n, int64_t r0, int64_t r1,
                         double *scratch);
/* The backward's per-channel constants into scratch, then (per rows, as above) its sums of dy
 * [masked by the ReLU] and of dy * xhat. */
void hk_bnorm_backward_begin(const hk_bnorm *g, const float *gamma, const float *beta,
                             const float *mean, const float *var, double *scratch);
void hk_bnorm_bsums_rows(const hk_bnorm *g, const float *x, const float *dy, int64_t n,
                         int64_t r0, int64_t r1, double *scratch);

/* reduce(v, n, ctx): v[0..n) summed in place over every process (NULL: one process). */
typedef void (*hk_bnorm_reduce)(double *v, int n, void *ctx);

/* y = gamma (x - mean) / sqrt(var + eps) + beta [ReLU]; mean, var: [C] out; *count: the
 * elements per channel (of the global batch with reduce); summed: every piece's sums are in
 * scratch already (hk_bnorm_stats_rows). y NULL: the statistics only (a conv
 * applies the BN as it reads x: hk_bnorm_affine). */
void hk_bnorm_forward(const hk_bnorm *g, const float *x, const float *gamma, const float *beta,
                      float *y, float *mean, float *var, double *count, int summed,
                      double *scratch, hk_bnorm_reduce reduce, void *ctx);

/* dx = the gradient through BN [and ReLU] (summed: after hk_bnorm_backward_begin and
 * hk_bnorm_bsums_rows over every row, with the same x, dy, gamma, beta, mean, var), or with add dx += it (a gradient that already holds
 * another reader's part: the same float additions as a separate pass adding it, without that
 * pass's reading and writing of both tensors); dx may be dy itself; dgamma, dbeta += (NULL:
 * not). */
void hk_bnorm_backward(const hk_bnorm *g, const float *x, const float *gamma, const float *beta,
                       const float *mean, const float *var, const float *dy, float *dx, int add,
                       float *dgamma, float *dbeta, int summed, double *scratch,
                       hk_bnorm_reduce reduce, void *ctx);

/* A max pool over all S positions reading the BN's output (the contextual CNN's 5x5 and 3x3
 * pools to 1x1 after bank1's and bank3's BN + ReLU), done by the BN's passes so that neither
 * y nor the pool's dsrc is written:
 * hk_bnorm_apply_gmax: ymax[n, c] = max over s of y[n, c, s] and arg[n, c] = the first s where
 * it is (the same floats as hk_bnorm_apply's y; ymax, arg [N, C] row-major), after
 * hk_bnorm_forward's statistics (y NULL).
 * hk_bnorm_backward_gmax: hk_bnorm_backward (add 0, not summed) of dy = dmax[n, c] at
 * (n, c, arg[n, c]) and 0 elsewhere, bit for bit.
 * Only when hk_bnorm_gmax_ok(g): not the [N, C] path, and a piece of the sums (up to
 * HK_BNORM_CHUNK positions of a block) fits a thread's 8192-float buffer. */
int hk_bnorm_gmax_ok(const hk_bnorm *g);
void hk_bnorm_apply_gmax(const hk_bnorm *g, const float *x, const float *gamma, const float *beta,
                         const float *mean, const float *var, float *ymax, int32_t *arg,
                         double *scratch);
void hk_bnorm_backward_gmax(const hk_bnorm *g, const float *x, const float *gamma,
                            const float *beta, const float *mean, const float *var,
                            const float *dmax, const int32_t *arg, float *dx, float *dgamma,
                            float *dbeta, double *scratch, hk_bnorm_reduce reduce, void *ctx);

/* The per-channel scale and shift [C] the forward and hk_bnorm_apply compute y with, as
 * y = x * scale + shift (a multiply, then an add) [ReLU: y > 0 ? y : 0]. */
void hk_bnorm_affine(const hk_bnorm *g, const float *gamma, const float *beta, const float *mean,
                     const float *var, float *scale, float *shift);
/* y = the forward's output again from x and the mean and var it returned, bit for bit (the
 * same per-channel constants and loops): for a backward that did not keep y. */
void hk_bnorm_apply(const hk_bnorm *g, const float *x, const float *gamma, const float *beta,
                    const float *mean, const float *var, float *y, double *scratch);

#endif
