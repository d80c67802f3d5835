/* tapconv.h — k x 1 x 1 convolutions (SSRN's spectral convs, and C2 over the whole depth) on
 * channel-blocked tensors.
 *
 * A 3-D convolution whose kernel is [K, 1, 1] (stride 1, no dilation, no padding in H and W)
 * is, per sample, a sum over the K taps of GEMMs over the rows (depth, pixel): tap k reads the
 * input rows shifted by (k - pad) planes. Tensors are [N, C/8, D, H*W, 8] (oneDNN's aBcde8b,
 * nCdhw8c), C and OC multiples of 8 (for the weights' gradient also C = 1, plain, any stride
 * along D: SSRN's C1). Every row block keeps its outputs in registers over the
 * whole reduction (taps x channels) and writes them once; backward data is the same kernel on
 * the flipped, transposed weights; backward weights accumulates per thread (over samples) and
 * reduces in thread order, so results are deterministic for a given thread count.
 *
 * ISA: AVX-512 micro-kernels (forward, backward data, weights: tapconv.c's header) when the CPU
 * has them, else AVX2+FMA ones, else portable C (the same blocking, the compiler's own
 * vectorisation); see hk_isa. HSICC_KERNEL_ISA=avx2 or =generic forces a lower path (to test it
 * on the higher machines). Threads: OpenMP when the runtime is compiled with it.
 */
#ifndef HSI_TAPCONV_H
#define HSI_TAPCONV_H

#include <stddef.h>
#include <stdint.h>

typedef struct hk_tap {
    int64_t n, c, oc;             /* batch, input and output channels (multiples of 8) */
    int64_t din, dout, hw;        /* input depth, output depth, H*W */
    int64_t k, pad;               /* taps, zero planes before the input (after: implied) */
    int64_t stride;               /* along D: 1, or more with c == 1 (backward weights only) */
    int bias;
    int threads;                  /* set by hk_tap_scratch_floats: the scratch's thread count */
} hk_tap;

/* The vector ISA every own kernel (tapconv.c, smallconv.c, bnorm.c, dnnl.c's loops) may use,
 * decided once: the highest of AVX-512 (F, VL, BW, DQ), AVX2 + FMA and portable C the CPU has,
 * at most the one HSICC_KERNEL_ISA names (generic | avx2 | avx512), so the lower paths can be
 * tested on a machine that has the higher ones. A kernel runs min(hk_isa(), its best path). */
enum { HK_ISA_GENERIC, HK_ISA_AVX2, HK_ISA_AVX512 };
int hk_isa(void);

/* The level (HK_ISA_*) tapconv's kernels run at on this machine (and environment). */
int hk_tap_isa(void);

/* Floats of scratch hk_tap_forward / _backward need (packed weights, per-thread partials and
 * transformed input rows for hk_tap_pre),
 * for the threads OpenMP would run now (at most that many run later). */
size_t hk_tap_scratch_floats(hk_tap *g);

/* A per-input-channel transform of x applied as the kernels read it: the conv sees
 * x'[.., c, ..] = relu ? max(x*scale[c] + shift[c], 0) : x*scale[c] + shift[c], computed as
 * bnorm.c's forward computes its output (a multiply, then an add, not an FMA; ReLU as
 * v > 0 ? v : 0), so a conv of x' gives the same bits as the conv of bnorm's y. The zero padding
 * along D pads x' (it stays zero). scale, shift: [C] (C = hk_tap.c, a multiple of 8). */
typedef struct hk_tap_pre { const float *scale, *shift; int relu; } hk_tap_pre;

/* Called by the row kernels as a work item's outputs are final: every output channel of rows
 * [r0, r1) (of D*H*W) of sample n, on the thread that computed them, while they are still in
 * its cache. r0 is a multiple of HK_TAP_CHUNK and r1 = min(r0 + HK_TAP_CHUNK, rows): a
 * consumer summing by such chunks (bnorm.c's pieces) sees every chunk once, whatever the
 * thread count. */
#define HK_TAP_CHUNK 256
typedef struct hk_tap_hook {
    void (*fn)(void *ctx, int64_t n, int64_t r0, int64_t r1);
    void *ctx;
    const float *pf;   /* NULL, or a tensor in the output's layout whose rows fn reads:
                          prefetched while the item's rows are computed */
} hk_tap_hook;
/* 1 when the forward (dir 0) / the backward data (dir 1) runs on the row kernels, which call
 * a hook (else hk_tap_forward_res / hk_tap_backward_hook refuse one). */
int hk_tap_hook_ok(const hk_tap *g, int dir);

/* Tests: when set, told of every address the kernels prefetch ahead (tc_pfc in tapconv.c) */
extern void (*hk_tap_pf_probe)(const void *p);

/* y = conv(x', w) + b (x' = x, or pre's transform of x); w plain [OC, C, K] (the
 * [OC, C, K, 1, 1] weights), b NULL or [OC]. */
void hk_tap_forward(const hk_tap *g, const float *x, const hk_tap_pre *pre, const float *w,
                    const float *b, float *y, float *scratch);          /* pre NULL: as today */

/* dx = conv^T(dy, w) (overwrites; dx NULL: skipped); dw += dL/dw (plain, NULL: skipped);
 * db += column sums of dy (NULL or no bias: skipped). With c == 1 (a plain [N, 1, D, H, W]
 * input, any stride: SSRN's C1) only dw and db: dx must be NULL. */
/* 1 when hk_tap_forward_res may take a residual: C and OC multiples of 8 (every ISA's row
 * kernel adds it at its store). */
int hk_tap_residual_ok(const hk_tap *g);
/* hk_tap_forward with y = conv + b + res (res: y's layout; the sum rounded as the conv's
 * output and then a separate addition of res), when hk_tap_residual_ok; res NULL: as
 * hk_tap_forward. hook (NULL: none) sees y's rows as they are final. */
void hk_tap_forward_res(const hk_tap *g, const float *x, const hk_tap_pre *pre, const float *w,
                        const float *b, const float *res, float *y, float *scratch,
                        const hk_tap_hook *hook);
void hk_tap_backward(const hk_tap *g, const float *x, const hk_tap_pre *pre, const float *w,
                     const float *dy, float *dx, float *dw, float *db, float *scratch);
/* 1 when the backward data may add into dx (hk_tap_backward_hook's dx_add): every tap in one
 * block of the row kernel (SSRN's spectral convs, on every ISA). */
int hk_tap_dx_add_ok(const hk_tap *g);
/* hk_tap_backward with dx += the gradient when dx_add (each element the gradient's float plus
 * dx's, as a separate accumulation adds them; only when hk_tap_dx_add_ok), and hook (NULL:
 * none) seeing dx's rows as they are final (dx not NULL). */
void hk_tap_backward_hook(const hk_tap *g, const float *x, const hk_tap_pre *pre,
                          const float *w, const float *dy, float *dx, int dx_add, float *dw,
                          float *db, float *scratch, const hk_tap_hook *hook);
/* pre is used for dw only (dx does not read x); with c == 1 (the C1 path) pre must be NULL. */

/* The fold of a conv over the whole depth (SSRN's C2): x [N, C/8, D, HW, 8] (nCdhw8c) ->
 * y [N, HW, C*D] (the channels-last [N, C*D, H, W], channel c*D + d), or back (unfold:
 * y -> x). Overwrites the destination; C a multiple of 8. */
void hk_tap_fold(int64_t n, int64_t c, int64_t d, int64_t hw, const float *x, float *y);
void hk_tap_unfold(int64_t n, int64_t c, int64_t d, int64_t hw, const float *y, float *x);

#endif
