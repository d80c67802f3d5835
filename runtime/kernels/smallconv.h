/* smallconv.h — 2-D convolutions with few output pixels on a plain NCHW input, as an implicit
 * GEMM (the contextual CNN's filter bank: 1x1 and 3x3 convs over all bands of a 5x5 patch).
 *
 * Rows r = (n, y, x) of the output, columns the output channels; the reduction runs over
 * k = (c, i, j) in the weights' own order, reading x[n, c, y*sh + i, x*sw + j] through two
 * offset tables (row offsets, reduction offsets) instead of an im2col matrix or a layout
 * reorder. The forward keeps a 6-row x 16-channel (AVX-512: 64-channel) block of y in
 * registers over a chunk of the reduction (weights packed per block of channels, per call);
 * the weights' gradient keeps a 6-k x 16-channel (64) block of dw over a chunk of rows (dy
 * packed per block of channels, chunk by chunk). No padding, no
 * dilation, no groups, no input gradient (a first layer). Every output element is computed by
 * one thread in a fixed order: results do not depend on the thread count.
 *
 * ISA: AVX-512 micro-kernels when the CPU has them, else AVX2+FMA ones, else portable C (the
 * AVX2 blocking), by hk_isa (HSICC_KERNEL_ISA=avx2 or =generic caps it).
 * Threads: OpenMP when compiled with it.
 */
#ifndef HSI_SMALLCONV_H
#define HSI_SMALLCONV_H

#include <stddef.h>
#include <stdint.h>

typedef struct hk_sc {
    int64_t n, c, h, w;           /* x: [N, C, H, W] row-major */
    int64_t oc, kh, kw, sh, sw;   /* weights [OC, C, KH, KW] row-major, strides */
    int64_t oh, ow;               /* y: [N, OH, OW, OC] (NHWC) */
    int bias;
    int64_t *rowoff;              /* [N*OH*OW], filled by hk_sc_init */
    int64_t *koff;                /* [C*KH*KW], filled by hk_sc_init */
} hk_sc;

/* The level (HK_ISA_*, tapconv.h) the kernels run at on this machine (and environment). */
int hk_sc_isa(void);

/* Fills the offset tables (g->rowoff and g->koff point to caller-owned arrays of
 * N*OH*OW and C*KH*KW entries). */
void hk_sc_init(hk_sc *g);

/* Floats of scratch hk_sc_forward / hk_sc_backward_weights need. */
size_t hk_sc_scratch_floats(const hk_sc *g);

/* y = conv(x, w) + b (b NULL or no bias: none); y NHWC [N, OH, OW, OC]. */
void hk_sc_forward(const hk_sc *g, const float *x, const float *w, const float *b, float *y,
                   float *scratch);

/* dw += dL/dw ([OC, C, KH, KW]; NULL: skipped), db += column sums of dy (NULL or no bias:
 * skipped); dy NHWC like y. */
void hk_sc_backward_weights(const hk_sc *g, const float *x, const float *dy, float *dw,
                            float *db, float *scratch);

#endif
