/* dnnl_wino.h — 3x3 convolutions by Winograd's minimal filtering F(3x3, 3x3), for the oneDNN
 * backend's first-layer convs (smallconv.c's geometry, hk_sc): the contextual CNN's 3x3 bank
 * (5x5 -> 3x3 over 200 bands, one tile a sample).
 *
 * Each tile of 3x3 outputs reads a 5x5 window of the input. With d that window, g a 3x3 filter:
 * y = A^T [(G g G^T) . (B^T d B)] A (. elementwise): 25 products per channel pair instead of 81.
 * The forward transforms the input (V: 25 x [tiles, C]) and the weights (U: 25 x [OC, C]), runs
 * 25 GEMMs [tiles, C] x [C, OC] (M: 25 x [tiles, OC]) and transforms M back; the weights'
 * gradient is the same algorithm with dy as the filter: dw = A^T [sum over tiles of
 * (G dy G^T) . (B^T d B)] A, 25 GEMMs [OC, tiles] x [tiles, C]. Points 0, 1, -1, 2 and infinity;
 * B^T scaled to integers (its rows by 2, 2, 6, 6, 1), G by the inverse. Rounding: a few times
 * the direct sum's float error (the contextual bank's shape: 8.5e-5 against 3.4e-5 on outputs
 * up to 19, both against the reference backend).
 *
 * Every GEMM runs on one thread (dnnl_sgemm in an OpenMP loop over the 25 points), every
 * transform per element: the results do not depend on the thread count. Transforms on AVX-512
 * (16 lanes), AVX2 (2 x 8) or portable C, by hk_isa. No padding, no stride, no input gradient.
 */
#ifndef HSI_DNNL_WINO_H
#define HSI_DNNL_WINO_H

#include <stddef.h>

#include "smallconv.h"

/* 1 when g (hk_sc_init's geometry, any N, C, OC) is a 3x3 stride-1 conv whose output planes
 * are whole 3x3 tiles (OH, OW multiples of 3), and HSICC_DNNL_NO_WINOGRAD is unset or 0. */
int hk_wino_ok(const hk_sc *g);

/* Floats of scratch hk_wino_forward / hk_wino_backward_weights need, and of the transformed
 * input a forward may keep for the backward (hk_wino_kept_floats). */
size_t hk_wino_scratch_floats(const hk_sc *g);
size_t hk_wino_kept_floats(const hk_sc *g);

/* y = conv(x, w) + b (b NULL or no bias: none); x NCHW, w [OC, C, 3, 3], y NHWC. keep: NULL,
 * or hk_wino_kept_floats floats where the transformed input is left for a backward of the same
 * x. Returns dnnl_success (0), or the first failed dnnl_sgemm's status. */
int hk_wino_forward(const hk_sc *g, const float *x, const float *w, const float *b, float *y,
                    float *scratch, float *keep);

/* dw += dL/dw ([OC, C, 3, 3]; NULL: skipped), db += column sums of dy (NULL or no bias:
 * skipped, summed in row order); dy NHWC like y. kept: NULL (x is transformed again), or a
 * forward's keep of this x (the same bits either way). Returns as hk_wino_forward. */
int hk_wino_backward_weights(const hk_sc *g, const float *x, const float *dy, float *dw,
                             float *db, float *scratch, const float *kept);

#endif
