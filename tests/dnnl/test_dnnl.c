/* test_dnnl.c — the oneDNN backend against the reference backend, op by op.
 *
 * Each case is a scenario run twice through the public hsi_* API, once on a REF rt and once on
 * a DNNL rt, from the same deterministic inputs; every output (forward and each gradient) is
 * read back as plain row-major and compared. Inputs of the DNNL run are put in blocked layouts
 * (the output layout of a 1x1 convolution) where the case says so. Tolerance: max |dnnl - ref|
 * <= tol * max(|ref|) with tol 1e-4 for forward values and 1e-3 for gradients.
 * Usage: test_dnnl <case>  (see the table at the bottom; "all" runs every case).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "hsi_kernels.h"
#include "kernels_impl.h"
#include "tapconv.h"

#define TOL_FWD 1e-4
#define TOL_GRAD 1e-3

/* ---- buffers owned by one scenario run ------------------------------------------------------ */

static void *allocs[4096];
static int n_allocs;

static void *zalloc(size_t bytes)
{
    size_t size = (bytes + 63) / 64 * 64 + 64;
    void *p = aligned_alloc(64, size);
    if (!p || n_allocs == 4096) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memset(p, 0, size);
    allocs[n_allocs++] = p;
    return p;
}

static void free_all(void)
{
    while (n_allocs) free(allocs[--n_allocs]);
}

/* Uniform values in [lo, hi) from a counter hash: the same for both runs. */
static float *rnd(int64_t n, uint64_t seed, float lo, float hi)
{
    float *p = zalloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * hsi_dropout_uniform(seed, (uint64_t)i);
    return p;
}

/* ---- layout conversions (test-only: a reorder built per call) ------------------------------- */

static dnnl_engine_t eng;
static dnnl_stream_t stream;

static int64_t lnumel(const hsi_layout *l) { return hk_numel(l->ndim, l->dims); }

/* Moves a tensor between layout l and plain row-major: to_plain 1: buf (layout l) -> plain. */
static void convert(const hsi_layout *l, int to_plain, float *buf, float *plain)
{
    if (l->plain) {
        if (to_plain) memcpy(plain, buf, (size_t)lnumel(l) * sizeof *buf);
        else memcpy(buf, plain, (size_t)lnumel(l) * sizeof *buf);
        return;
    }
    dnnl_memory_desc_t pmd;
    dnnl_dims_t dims = {0};
    static const dnnl_format_tag_t tags[] = {dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde};
    memcpy(dims, l->dims, sizeof *dims * (size_t)l->ndim);
    dnnl_memory_desc_init_by_tag(&pmd, l->ndim, dims, dnnl_f32, tags[l->ndim - 2]);
    const dnnl_memory_desc_t *from = to_plain ? l->md : &pmd, *to = to_plain ? &pmd : l->md;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    dnnl_memory_t mf, mt;
    if (dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL) != dnnl_success
        || dnnl_primitive_create(&p, pd) != dnnl_success) {
        fprintf(stderr, "test reorder failed\n");
        exit(2);
    }
    dnnl_memory_create(&mf, from, eng, to_plain ? buf : plain);
    dnnl_memory_create(&mt, to, eng, to_plain ? plain : buf);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mf}, {DNNL_ARG_TO, mt}};
    dnnl_primitive_execute(p, stream, 2, args);
    dnnl_stream_wait(stream);
    dnnl_memory_destroy(mf);
    dnnl_memory_destroy(mt);
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
}

/* A zeroed tensor in layout l. */
static float *tbuf(const hsi_layout *l) { return zalloc(l->bytes); }

/* A tensor in layout l holding the plain values rnd(seed). */
static float *tin(const hsi_layout *l, uint64_t seed, float lo, float hi)
{
    float *t = tbuf(l);
    convert(l, 0, t, rnd(lnumel(l), seed, lo, hi));
    return t;
}

/* ---- recorded outputs of one run ------------------------------------------------------------ */

#define MAX_OUT 24
typedef struct outs {
    int n;
    const char *name[MAX_OUT];
    float *v[MAX_OUT];            /* plain copies */
    int64_t len[MAX_OUT];
    double tol[MAX_OUT];
} outs;

static void keep_plain(outs *o, const char *name, const float *v, int64_t n, double tol)
{
    float *c = malloc((size_t)n * sizeof *c);
    memcpy(c, v, (size_t)n * sizeof *c);
    o->name[o->n] = name;
    o->v[o->n] = c;
    o->len[o->n] = n;
    o->tol[o->n++] = tol;
}

static void keep(outs *o, const char *name, const hsi_layout *l, float *t, double tol)
{
    float *plain = zalloc((size_t)lnumel(l) * sizeof *plain);
    convert(l, 1, t, plain);
    keep_plain(o, name, plain, lnumel(l), tol);
}

static int failures;

static void check_op(hsi_rt *rt, const void *op, const char *what)
{
    if (op) return;
    fprintf(stderr, "FAIL: %s create on %s: %s\n", what,
            hsi_rt_backend(rt) == HSI_BACKEND_DNNL ? "dnnl" : "ref", hsi_rt_error(rt));
    exit(1);
}

/* A tensor layout on rt: plain (kind 0, and always on the reference backend), channels
 * blocked by 16 like nChw16c (kind 1), channels-last like nhwc (kind 2), SSRN's fold
 * (kind 3): the view a reshape makes of [N, D, C, ...] in kind 1 (C and D swapped), or
 * channels blocked by 8 like nCdhw8c (kind 4, what AVX2 oneDNN gives SSRN's spectral part),
 * SSRN's fold before C2 (kind 5): what a reshape makes of kind 4 [N, C, D, H, W] as
 * [N, C*D, H, W] (C = 24 when it divides C*D, else 8). */
static const hsi_layout *layout(hsi_rt *rt, int kind, int ndim, const int64_t *dims)
{
    if (kind == 5 && ndim == 4 && hsi_rt_backend(rt) == HSI_BACKEND_DNNL) {
        int64_t c = dims[1] % 24 ? 8 : 24, d5[5] = {dims[0], c, dims[1] / c, dims[2], dims[3]};
        hsi_op *fold = hsi_reshape_create(rt, layout(rt, 4, 5, d5), ndim, dims);
        check_op(rt, fold, "fold reshape");
        return hsi_op_dst(fold);
    }
    if (kind == 3 && hsi_rt_backend(rt) == HSI_BACKEND_DNNL) {
        int64_t swapped[5];
        memcpy(swapped, dims, sizeof swapped);
        swapped[1] = dims[2];
        swapped[2] = dims[1];
        hsi_op *fold = hsi_reshape_create(rt, layout(rt, 1, ndim, swapped), ndim, dims);
        check_op(rt, fold, "fold reshape");
        return hsi_op_dst(fold);
    }
    static const dnnl_format_tag_t blocked[] = {dnnl_aBc16b, dnnl_aBcd16b, dnnl_aBcde16b};
    static const dnnl_format_tag_t last[] = {dnnl_acb, dnnl_acdb, dnnl_acdeb};
    static const dnnl_format_tag_t blocked8[] = {dnnl_aBc8b, dnnl_aBcd8b, dnnl_aBcde8b};
    const hsi_layout *p = hsi_layout_plain(rt, ndim, dims);
    check_op(rt, p, "layout");
    if (!kind || ndim < 3 || hsi_rt_backend(rt) != HSI_BACKEND_DNNL) return p;
    hsi_layout *l = hk_layout_new(rt, ndim, dims);
    dnnl_memory_desc_t *md = hk_alloc(rt, sizeof *md);
    dnnl_dims_t d = {0};
    memcpy(d, dims, sizeof *d * (size_t)ndim);
    dnnl_memory_desc_init_by_tag(md, ndim, d, dnnl_f32,
                                 kind == 1   ? blocked[ndim - 3]
                                 : kind == 4 ? blocked8[ndim - 3]
                                             : last[ndim - 3]);
    l->md = md;
    l->bytes = dnnl_memory_desc_get_size(md);
    return l;
}

/* ---- scenarios: each runs one op (or a chain) on rt and records its outputs ----------------- */

typedef struct conv_spec {
    const char *name;
    int blocked, ndim;
    int64_t dims[5];
    int64_t oc, groups;
    int64_t k[3], s[3], lo[3], hi[3], dil[3];
    int bias;
} conv_spec;

static const conv_spec conv_specs[] = {
    /* SSRN, 3-D [N, C, D, H, W]; C3 also as the 2-D conv the compiler makes of it */
    {"ssrn_c1", 0, 5, {16, 1, 200, 7, 7}, 24, 1, {7, 1, 1}, {2, 1, 1}, {0}, {0}, {1, 1, 1}, 1},
    {"ssrn_spectral", 1, 5, {16, 24, 97, 7, 7}, 24, 1, {7, 1, 1}, {1, 1, 1}, {3, 0, 0},
     {3, 0, 0}, {1, 1, 1}, 1},
    {"ssrn_spectral_ndhwc", 2, 5, {16, 24, 97, 7, 7}, 24, 1, {7, 1, 1}, {1, 1, 1}, {3, 0, 0},
     {3, 0, 0}, {1, 1, 1}, 1},
    {"ssrn_c2", 1, 5, {16, 24, 97, 7, 7}, 128, 1, {97, 1, 1}, {1, 1, 1}, {0}, {0}, {1, 1, 1}, 1},
    {"ssrn_c3_3d_folded", 3, 5, {16, 1, 128, 7, 7}, 24, 1, {128, 3, 3}, {1, 1, 1}, {0}, {0},
     {1, 1, 1}, 1},
    {"ssrn_c3_2d", 1, 4, {16, 128, 7, 7}, 24, 1, {3, 3}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"ssrn_spatial", 1, 4, {16, 24, 5, 5}, 24, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1},
    /* contextual CNN, 2-D [N, C, H, W] */
    {"ctx_1x1", 0, 4, {128, 200, 5, 5}, 128, 1, {1, 1}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"ctx_3x3", 0, 4, {128, 200, 5, 5}, 128, 1, {3, 3}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"ctx_5x5", 0, 4, {128, 200, 5, 5}, 128, 1, {5, 5}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"ctx_trunk", 1, 4, {128, 128, 1, 1}, 128, 1, {1, 1}, {1, 1}, {0}, {0}, {1, 1}, 1},
    /* im2col + GEMM (<= 16 output pixels, reduction >= 256): blocked src, strides, no bias */
    {"gemm_stride_blocked", 1, 4, {8, 48, 7, 6}, 24, 1, {3, 2}, {2, 2}, {0}, {0}, {1, 1}, 1},
    {"gemm_nobias_plain", 0, 4, {5, 64, 4, 4}, 20, 1, {2, 3}, {1, 1}, {0}, {0}, {1, 1}, 0},
    /* geometry */
    {"stride_asym_pad", 1, 4, {4, 16, 9, 8}, 20, 1, {3, 2}, {2, 3}, {2, 0}, {0, 1}, {1, 1}, 1},
    {"dilation", 0, 4, {3, 5, 11, 10}, 7, 1, {3, 3}, {1, 2}, {2, 1}, {1, 2}, {2, 3}, 0},
    {"groups_2d", 1, 4, {4, 32, 6, 6}, 48, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1},
    {"groups_3d", 0, 5, {2, 6, 5, 4, 4}, 9, 3, {3, 1, 3}, {1, 1, 2}, {1, 0, 1}, {0, 0, 1},
     {1, 1, 1}, 0},
    {"groups_3d_pointwise_hw", 1, 5, {2, 6, 5, 4, 4}, 9, 3, {3, 1, 1}, {2, 1, 1}, {1, 0, 0},
     {0, 0, 0}, {1, 1, 1}, 1},
    {"conv1d", 0, 3, {4, 8, 30}, 16, 1, {5}, {2}, {2}, {1}, {2}, 1},
    /* k x 1 x 1 on nCdhw8c by tapconv.c (checked: these must take it): SSRN's spectral conv;
     * 40 outputs (24 + 16 per register block), asymmetric padding, no bias, rows per sample
     * not a multiple of 4; a kernel over the whole depth (C2); 8 channels, padding 6 > half */
    {"tap_ssrn_spectral", 4, 5, {16, 24, 97, 7, 7}, 24, 1, {7, 1, 1}, {1, 1, 1}, {3, 0, 0},
     {3, 0, 0}, {1, 1, 1}, 1},
    {"tap_oc40_asym_nobias", 4, 5, {3, 16, 11, 3, 5}, 40, 1, {5, 1, 1}, {1, 1, 1}, {1, 0, 0},
     {3, 0, 0}, {1, 1, 1}, 0},
    {"tap_full_depth", 4, 5, {4, 16, 9, 2, 3}, 8, 1, {9, 1, 1}, {1, 1, 1}, {0}, {0}, {1, 1, 1},
     1},
    {"tap_wide_pad", 4, 5, {5, 8, 3, 1, 1}, 16, 1, {7, 1, 1}, {1, 1, 1}, {6, 0, 0}, {6, 0, 0},
     {1, 1, 1}, 1},
    /* SSRN's C2 as the compiler leaves it (a conv3d over the whole depth, one output plane):
     * 97 taps in blocks of 7 (the last 6), dw in blocks of 10 taps (the last 7), 128 outputs
     * (5 x 24 + 8), 49 rows a sample (12 blocks of 4 + 1), the 3 samples in one work item;
     * backward data: 97 planes of one tap each over 128 channels */
    {"tap_ssrn_c2", 4, 5, {3, 24, 97, 7, 7}, 128, 1, {97, 1, 1}, {1, 1, 1}, {0}, {0}, {1, 1, 1},
     1},
    /* few rows a sample (18) with padding: work items of several samples whose planes see
     * different taps; 11 samples over the items of 2 threads */
    {"tap_few_rows_pad", 4, 5, {11, 8, 9, 1, 2}, 16, 1, {5, 1, 1}, {1, 1, 1}, {2, 0, 0},
     {2, 0, 0}, {1, 1, 1}, 0},
    /* AVX-512 row blocks (at most 12 rows, split evenly; chunks of 32 outputs when OC is a
     * multiple of 16 above 24, else 24): 48 outputs (32 + 16; backward data 16) on runs of 13
     * and 65 rows; backward data into 32 channels (forward 24), runs of 9 rows; a C2-like
     * reduction over the whole depth in blocks of 16 + 16 + 8 taps into 32 + 16 outputs (backward
     * data: 8 outputs, one tap a plane); 24 outputs in tap blocks of 2 + 2 + 1 (64 inputs),
     * backward data 64 = 2 x 32; 128 inputs into 8 outputs one tap a block (backward data
     * 128 = 4 x 32, 5 rows a sample); 16 outputs, 23 rows a plane (12 + 11) */
    {"tap_oc48_rows13", 4, 5, {5, 16, 7, 1, 13}, 48, 1, {3, 1, 1}, {1, 1, 1}, {1, 0, 0},
     {1, 0, 0}, {1, 1, 1}, 1},
    {"tap_c32_oc24_rows9", 4, 5, {3, 32, 10, 3, 3}, 24, 1, {4, 1, 1}, {1, 1, 1}, {2, 0, 0},
     {1, 0, 0}, {1, 1, 1}, 0},
    {"tap_c2_like_oc48", 4, 5, {6, 8, 40, 1, 5}, 48, 1, {40, 1, 1}, {1, 1, 1}, {0}, {0},
     {1, 1, 1}, 1},
    {"tap_c64_oc24_tap_blocks", 4, 5, {2, 64, 9, 1, 3}, 24, 1, {5, 1, 1}, {1, 1, 1}, {2, 0, 0},
     {2, 0, 0}, {1, 1, 1}, 1},
    {"tap_c128_oc8", 4, 5, {2, 128, 6, 1, 5}, 8, 1, {3, 1, 1}, {1, 1, 1}, {1, 0, 0}, {1, 0, 0},
     {1, 1, 1}, 1},
    {"tap_oc16_rows23", 4, 5, {2, 24, 30, 1, 23}, 16, 1, {3, 1, 1}, {1, 1, 1}, {1, 0, 0},
     {1, 0, 0}, {1, 1, 1}, 0},
    /* the AVX-512 weights kernel's blocks and tails (channel groups 16 + 16, 12 + 12 at 3 and 4
     * output blocks, 24 + 16, 24 at one block; 32 x 128 in groups 12 + 12 + 8): rows per
     * sample past chunks of 128 (195 = 128 + 67, 319 = 2 x 128 + 63); few rows a sample (9, a
     * reduction over 40 planes; 49) in calls of several samples, with a tail of samples */
    {"tap_c32_oc24_row_tail", 4, 5, {3, 32, 13, 5, 3}, 24, 1, {7, 1, 1}, {1, 1, 1}, {3, 0, 0},
     {3, 0, 0}, {1, 1, 1}, 1},
    {"tap_c24_oc128_row_tail", 4, 5, {2, 24, 11, 1, 29}, 128, 1, {5, 1, 1}, {1, 1, 1}, {2, 0, 0},
     {2, 0, 0}, {1, 1, 1}, 1},
    {"tap_c40_oc16_nobias", 4, 5, {3, 40, 9, 4, 5}, 16, 1, {3, 1, 1}, {1, 1, 1}, {1, 0, 0},
     {1, 0, 0}, {1, 1, 1}, 0},
    {"tap_c24_oc40", 4, 5, {2, 24, 6, 3, 3}, 40, 1, {3, 1, 1}, {1, 1, 1}, {1, 0, 0}, {1, 0, 0},
     {1, 1, 1}, 1},
    {"tap_c8_oc48_long_samples", 4, 5, {17, 8, 40, 3, 3}, 48, 1, {40, 1, 1}, {1, 1, 1}, {0},
     {0}, {1, 1, 1}, 1},
    {"tap_c32_oc128_c2like", 4, 5, {5, 32, 20, 7, 7}, 128, 1, {20, 1, 1}, {1, 1, 1}, {0}, {0},
     {1, 1, 1}, 1},
    /* AVX-512 channel-pair kernel (chunks of 24 outputs or fewer, tc_mc_avx512): one row a
     * plane (runs of 1 row at the depth edges), batch 1, backward data into 8 channels; 9 taps
     * with pad 8 = k - 1 into 16 outputs (runs of 9 rows: calls of an odd row count, and 27 =
     * 9 + 9 + 9); 64 inputs (tap blocks of 2 + 2 + 1, the later ones adding to y), an even
     * H*W of 8; one tap, 15 rows a plane, 135 rows a run (8-row calls and 7-row ones;
     * backward data 12 and 11); padding past the kernel (planes that read no input: the bias
     * alone; backward data pad' = -2) */
    {"tap_pair_hw1_edge_runs", 4, 5, {1, 8, 5, 1, 1}, 24, 1, {3, 1, 1}, {1, 1, 1}, {1, 0, 0},
     {1, 0, 0}, {1, 1, 1}, 1},
    {"tap_pair_k9_pad8_oc16", 4, 5, {2, 16, 11, 3, 3}, 16, 1, {9, 1, 1}, {1, 1, 1}, {8, 0, 0},
     {0, 0, 0}, {1, 1, 1}, 0},
    {"tap_pair_c64_even_hw", 4, 5, {3, 64, 7, 2, 4}, 24, 1, {5, 1, 1}, {1, 1, 1}, {2, 0, 0},
     {3, 0, 0}, {1, 1, 1}, 1},
    {"tap_pair_k1_hw15", 4, 5, {3, 8, 9, 5, 3}, 24, 1, {1, 1, 1}, {1, 1, 1}, {0}, {0},
     {1, 1, 1}, 1},
    {"tap_pair_pad_past_kernel", 4, 5, {2, 8, 4, 1, 3}, 24, 1, {3, 1, 1}, {1, 1, 1}, {4, 0, 0},
     {0, 0, 0}, {1, 1, 1}, 1},
    /* one plain input channel, stride along D (SSRN's C1; weights' gradient by tapconv.c, no
     * dsrc: tap_w1_* runs without it); 5 taps in groups of 4 + 1, 40 outputs, padding */
    {"tap_w1_ssrn_c1", 0, 5, {16, 1, 200, 7, 7}, 24, 1, {7, 1, 1}, {2, 1, 1}, {0}, {0},
     {1, 1, 1}, 1},
    {"tap_w1_pad_stride3", 0, 5, {3, 1, 17, 2, 3}, 40, 1, {5, 1, 1}, {3, 1, 1}, {2, 0, 0},
     {1, 0, 0}, {1, 1, 1}, 0},
    /* AVX-512: 9 taps (8 + 1 a call), runs of planes with the same taps, an odd pixel count
     * (pairs + 1); 128 outputs (5 x 24 + 8), an even one */
    {"tap_w1_oc16_k9_odd_hw", 0, 5, {3, 1, 30, 3, 3}, 16, 1, {9, 1, 1}, {2, 1, 1}, {3, 0, 0},
     {2, 0, 0}, {1, 1, 1}, 1},
    {"tap_w1_oc128_even_hw", 0, 5, {2, 1, 21, 2, 4}, 128, 1, {7, 1, 1}, {2, 1, 1}, {0}, {0},
     {1, 1, 1}, 1},
    /* first-layer convs (no dsrc) with few output pixels on a plain input by smallconv.c
     * (checked: these must take it): the contextual CNN's 3x3 bank; rows not a multiple of 6
     * and 19 outputs (16 + 3), strides, no bias; 40 outputs, a 2x2 stride-2; a reduction of
     * 1350 > one forward chunk (240) and 2 output pixels per sample */
    {"sc_wino_ctx_3x3", 0, 4, {128, 200, 5, 5}, 128, 1, {3, 3}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"sc_odd_stride_nobias", 0, 4, {5, 43, 6, 5}, 19, 1, {3, 2}, {2, 1}, {0}, {0}, {1, 1}, 0},
    {"sc_oc40_k2s2", 0, 4, {3, 67, 4, 5}, 40, 1, {2, 2}, {2, 2}, {0}, {0}, {1, 1}, 1},
    {"sc_k_chunks_2px", 0, 4, {7, 150, 3, 4}, 24, 1, {3, 3}, {1, 1}, {0}, {0}, {1, 1}, 1},
    /* 1x1 kernels over at least 128 channels: the contextual CNN's 1x1 bank (3,200 rows,
     * written into y straight, the last 2 rows of a partial block apart); 45 rows and 32
     * outputs (the same, 3 rows apart) */
    {"sc_ctx_1x1", 0, 4, {128, 200, 5, 5}, 128, 1, {1, 1}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"sc_1x1_tail_rows", 0, 4, {5, 130, 3, 3}, 32, 1, {1, 1}, {1, 1}, {0}, {0}, {1, 1}, 1},
    /* the AVX-512 blocks (6 rows x 64 outputs, reduction chunks of 128, dw over chunks of 128
     * rows): 8 outputs (one block mostly padding), 16 rows (2 blocks + 4), a reduction of 333
     * (128 + 128 + 77); 16 outputs, 18 rows, 131 = 128 + 3; 192 outputs (3 blocks, y written
     * straight), 20 rows (2 apart), 258 = 2 x 128 + 2; 80 outputs (64 + 16), 176 rows (2 dw
     * row chunks, 2 rows apart), 261 = 2 x 128 + 5; 64 outputs and 4 rows (fewer than a
     * block), 256 = 2 x 128 */
    {"sc_oc8_k333", 0, 4, {4, 37, 4, 4}, 8, 1, {3, 3}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"sc_1x1_oc16_k131", 0, 4, {3, 131, 2, 3}, 16, 1, {1, 1}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"sc_oc192_tail_nobias", 0, 4, {5, 43, 4, 3}, 192, 1, {3, 2}, {1, 1}, {0}, {0}, {1, 1}, 0},
    {"sc_oc80_row_chunks", 0, 4, {11, 29, 6, 6}, 80, 1, {3, 3}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"sc_oc64_few_rows", 0, 4, {1, 64, 3, 3}, 64, 1, {2, 2}, {1, 1}, {0}, {0}, {1, 1}, 1},
    /* 3x3 convs whose outputs are whole 3x3 tiles by dnnl_wino.c's Winograd F(3x3, 3x3)
     * (checked: sc_wino_* must take it, smallconv.c's direct kernel under
     * HSICC_DNNL_NO_WINOGRAD=1): with the contextual CNN's 3x3 bank above, 2 x 3 tiles a
     * sample, 37 channels (16 + 16 + 5 lanes) and 19 outputs; 3 x 2 tiles and 128 outputs; no
     * bias, 40 outputs (16 + 16 + 8) */
    {"sc_wino_tiles_2x3", 0, 4, {3, 37, 8, 11}, 19, 1, {3, 3}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"sc_wino_tiles_3x2", 0, 4, {5, 64, 11, 8}, 128, 1, {3, 3}, {1, 1}, {0}, {0}, {1, 1}, 1},
    {"sc_wino_oc40_nobias", 0, 4, {2, 29, 5, 5}, 40, 1, {3, 3}, {1, 1}, {0}, {0}, {1, 1}, 0},
    /* 1x1 convs on channels-last (checked: these must take one GEMM): SSRN's C2 on the fold
     * of nCdhw8c (its dst nChw8c); odd sizes, 12 outputs (dst channels-last), no bias */
    {"gemm_1x1_ssrn_c2_fold", 5, 4, {16, 2328, 7, 7}, 128, 1, {1, 1}, {1, 1}, {0}, {0}, {1, 1},
     1},
    {"gemm_1x1_fold_odd_nobias", 5, 4, {3, 40, 2, 3}, 12, 1, {1, 1}, {1, 1}, {0}, {0}, {1, 1},
     0},
    {"gemm_1x1_nhwc", 2, 4, {5, 24, 3, 4}, 16, 1, {1, 1}, {1, 1}, {0}, {0}, {1, 1}, 1},
    /* 294 rows (> 256 a call): dsrc in 2 blocks of rows, dw in 2 of columns (32 + 8) */
    {"gemm_1x1_nhwc_row_col_blocks", 2, 4, {7, 40, 7, 6}, 20, 1, {1, 1}, {1, 1}, {0}, {0},
     {1, 1}, 1},
    /* a 1x1 conv over fewer than 128 channels stays on oneDNN without dsrc */
    {"few_ch_1x1_nodsrc_onednn", 0, 4, {16, 17, 5, 5}, 24, 1, {1, 1}, {1, 1}, {0}, {0}, {1, 1},
     1},
};

static void s_conv(hsi_rt *rt, outs *o, int v)
{
    const conv_spec *c = &conv_specs[v];
    hsi_conv_desc d = {.nsp = c->ndim - 2, .out_ch = c->oc, .groups = c->groups, .bias = c->bias};
    int64_t wn = c->oc * c->dims[1] / c->groups;
    for (int i = 0; i < d.nsp; i++) {
        d.kernel[i] = c->k[i];
        d.stride[i] = c->s[i];
        d.pad_lo[i] = c->lo[i];
        d.pad_hi[i] = c->hi[i];
        d.dilation[i] = c->dil[i];
        wn *= c->k[i];
    }
    const hsi_layout *ls = layout(rt, c->blocked, c->ndim, c->dims);
    int sc = !strncmp(c->name, "sc_", 3);
    int w1 = sc || !strncmp(c->name, "tap_w1_", 7) || strstr(c->name, "_nodsrc");
    hsi_op *op = hsi_conv_create(rt, ls, &d, !w1, 1);
    check_op(rt, op, c->name);
    if ((sc || !strncmp(c->name, "tap_", 4)) && hsi_rt_backend(rt) == HSI_BACKEND_DNNL) {
        const char *impl = hk_dnnl_conv_impl(op), *want = getenv("HSICC_KERNEL_ISA");
        const char *nowino = getenv("HSICC_DNNL_NO_WINOGRAD");
        int wino = !strncmp(c->name, "sc_wino_", 8) && !(nowino && strcmp(nowino, "0"));
        const char *kern = wino ? "winograd" : sc ? "smallconv" : "tapconv";
        int generic = want && !strcmp(want, "generic");
        char full[32];
        snprintf(full, sizeof full, "%s:%s", kern, generic ? "generic" : "");
        printf("  impl %s\n", impl);
        /* never a path above the one HSICC_KERNEL_ISA asks for */
        if (!strstr(impl, full) || (want && !strcmp(want, "avx2") && strstr(impl, "avx512"))) {
            printf("  FAIL: %s runs %s, not %s\n", c->name, impl, full);
            failures++;
        }
    }
    if (!strncmp(c->name, "gemm_", 5) && hsi_rt_backend(rt) == HSI_BACKEND_DNNL
        && strcmp(hk_dnnl_conv_impl(op), "gemm")) {
        printf("  FAIL: %s runs %s, not gemm\n", c->name, hk_dnnl_conv_impl(op));
        failures++;
    }
    size_t nl = strlen(c->name);
    if (nl > 7 && !strcmp(c->name + nl - 7, "_onednn") && hsi_rt_backend(rt) == HSI_BACKEND_DNNL
        && strcmp(hk_dnnl_conv_impl(op), "onednn")) {
        printf("  FAIL: %s runs %s, not onednn\n", c->name, hk_dnnl_conv_impl(op));
        failures++;
    }
    const hsi_layout *ld = hsi_op_dst(op);
#ifdef _OPENMP
    /* on more than one thread with HSICC_SERIAL_SMALL=1: SSRN's 3x3 convs on 5x5 pixels (2 and
     * 11 M multiply-adds) run on one, SSRN's and the contextual CNN's large convs on all
     * (kernels.c); by default all on all; the small test shapes may go either way */
    const char *on = getenv("HSICC_SERIAL_SMALL");
    int threads = omp_get_max_threads();
    int small = !strcmp(c->name, "ssrn_spatial") || !strncmp(c->name, "ssrn_c3", 7);
    int large = !small && (strstr(c->name, "ssrn_") || strstr(c->name, "ctx_"));
    int want = hsi_rt_backend(rt) == HSI_BACKEND_DNNL && threads > 1 && small && on
               && !strcmp(on, "1");
    if ((small || large) && op->serial != want) {
        printf("  FAIL: %s runs on %s thread(s) of %d\n", c->name, op->serial ? "one" : "all",
               threads);
        failures++;
    }
#endif
    float *x = tin(ls, 1, -1, 1), *w = rnd(wn, 2, -0.3f, 0.3f), *b = rnd(c->oc, 3, -1, 1);
    float *y = tbuf(ld), *dy = tin(ld, 4, -1, 1), *dx = tbuf(ls);
    float *dw = rnd(wn, 5, -1, 1), *db = rnd(c->oc, 6, -1, 1);
    hsi_conv_forward(op, x, w, b, y);
    keep(o, "dst", ld, y, TOL_FWD);
    hsi_conv_backward(op, x, w, dy, w1 ? NULL : dx, dw, db);
    if (!w1) keep(o, "dsrc", ls, dx, TOL_GRAD);
    keep_plain(o, "dw (+=)", dw, wn, TOL_GRAD);
    if (c->bias) keep_plain(o, "db (+=)", db, c->oc, TOL_GRAD);
#ifdef _OPENMP
    if (omp_get_max_threads() != threads) {
        printf("  FAIL: %s left %d thread(s), not %d\n", c->name, omp_get_max_threads(), threads);
        failures++;
    }
#endif
}

typedef struct shape_spec {
    const char *name;
    int blocked, ndim;
    int64_t dims[5];
    int flag;                     /* per op: fuse_relu, act kind, ... */
    float f;                      /* per op: alpha, p, ... */
} shape_spec;

static const shape_spec bn_specs[] = {
    {"ssrn_blocked", 1, 5, {16, 24, 97, 7, 7}, 0, 0},
    {"ssrn_blocked_relu", 1, 5, {16, 24, 97, 7, 7}, 1, 0},
    {"ctx_blocked_relu", 1, 4, {128, 128, 1, 1}, 1, 0},
    {"plain_relu", 0, 4, {8, 10, 5, 5}, 1, 0},
    {"ctx_plain_spatial1", 0, 4, {128, 128, 1, 1}, 0, 0},
    {"plain_2d", 0, 2, {16, 24}, 0, 0},
    /* flag 3 (ReLU) / 4 (none): dy with a large common part, so that sum(dy) and
     * sum(dy * xhat) cancel: float sums over SSRN's 77,616 elements per channel are off by
     * 1 % of dgamma and more (oneDNN's BN; bnorm.c sums in double) */
    {"ssrn_c99_8b_common_dy", 4, 5, {16, 24, 99, 7, 7}, 4, 0},
    {"ssrn_c99_8b_relu_common_dy", 4, 5, {16, 24, 99, 7, 7}, 3, 0},
    {"ssrn_16b_common_dy", 1, 5, {16, 24, 97, 7, 7}, 4, 0},
    {"n2_8b_common_dy", 4, 5, {2, 24, 99, 7, 7}, 4, 0},
    {"plain_common_dy", 0, 5, {8, 12, 33, 5, 5}, 4, 0},
    /* channels not a multiple of the block: the padded channels come out 0 */
    {"c20_16b_relu", 1, 5, {4, 20, 9, 5, 5}, 1, 0},
    {"c20_8b_common_dy", 4, 4, {8, 20, 9, 9}, 4, 0},
    /* channels-last (the im2col conv's output: the contextual CNN's 3x3 bank) */
    {"nhwc_relu", 2, 4, {16, 128, 3, 3}, 1, 0},
    {"nhwc_c20_common_dy", 2, 5, {4, 20, 5, 3, 3}, 4, 0},
    /* 16 channels at a time, then the channels past the last 16 */
    {"nhwc_c40_relu_common_dy", 2, 4, {8, 40, 3, 3}, 3, 0},
    /* [N, C] (bnorm.c's per-16-channels path; 40: a tail of 8 channels) */
    {"ctx_plain_spatial1_relu_common_dy", 0, 4, {128, 128, 1, 1}, 3, 0},
    {"nc_c40_relu", 0, 2, {64, 40}, 1, 0},
    {"nc_c40_common_dy", 0, 2, {40, 40}, 4, 0},
    /* bnorm.c's lane kernels (AVX-512: a row of 16 floats a register): rows then a rest (8b,
     * S odd: 8 floats; plain, S = 4851: 3 and rows on no alignment), fewer rows than a float
     * run (BN_RUN); SSRN's own layout (8b) with the ReLU */
    {"c8_8b_s15_relu", 4, 4, {4, 8, 3, 5}, 1, 0},
    {"c24_8b_s7_common_dy", 4, 4, {3, 24, 7, 1}, 4, 0},
    {"plain_big_relu_common_dy", 0, 5, {16, 24, 99, 7, 7}, 3, 0},
    {"ssrn_8b_relu", 4, 5, {16, 24, 97, 7, 7}, 1, 0},
};

/* hsi_bn_backward_add into a gradient g holding another part, and into dy itself (dsrc ==
 * ddst): bit for bit g + dx and dy + dx (dx: hsi_bn_backward's, the float additions hsi_accum
 * of it does) on either backend; the tolerance-checked dx stays hsi_bn_backward's. */
static void bn_backward_add(hsi_rt *rt, hsi_op *op, const char *name, const hsi_layout *l,
                            const float *x, const float *gamma, const float *dy, const void *ws,
                            const float *dx)
{
    size_t n = l->bytes / sizeof(float);
    float *g = tin(l, 9, -1, 1), *d = tbuf(l), *want = tbuf(l), *want_d = tbuf(l);
    memcpy(d, dy, l->bytes);
    for (size_t i = 0; i < n; i++) {
        want[i] = g[i] + dx[i];
        want_d[i] = dy[i] + dx[i];
    }
    hsi_bn_backward_add(op, x, gamma, dy, ws, g, NULL, NULL);
    hsi_bn_backward_add(op, x, gamma, d, ws, d, NULL, NULL);
    int bad_g = memcmp(g, want, l->bytes) != 0, bad_d = memcmp(d, want_d, l->bytes) != 0;
    if (bad_g || bad_d) {
        printf("  FAIL: %s (%s): hsi_bn_backward_add is not g + dx bit for bit (%s)\n", name,
               hsi_rt_backend(rt) == HSI_BACKEND_DNNL ? "dnnl" : "ref",
               bad_g ? "into another gradient" : "into ddst itself");
        failures++;
    }
}

static void s_bn(hsi_rt *rt, outs *o, int v)
{
    const shape_spec *c = &bn_specs[v];
    const hsi_layout *l = layout(rt, c->blocked, c->ndim, c->dims);
    hsi_op *op = hsi_bn_create(rt, l, 1e-3f, c->flag == 1 || c->flag == 3);
    check_op(rt, op, c->name);
    if (hsi_rt_backend(rt) == HSI_BACKEND_DNNL) {
        /* training BN on the layouts bnorm.c walks is its, unless HSICC_DNNL_BN=onednn */
        const char *impl = hk_dnnl_bn_impl(op), *e = getenv("HSICC_DNNL_BN");
        int want = !(e && !strcmp(e, "onednn")), generic = hk_isa() == HK_ISA_GENERIC;
        /* bnorm.c's [N, C] path: plain, one spatial element, 16 channels or more, unless
         * HSICC_BN_COLUMNS=0 */
        const char *ce = getenv("HSICC_BN_COLUMNS");
        int64_t sp = 1;
        for (int d = 2; d < c->ndim; d++) sp *= c->dims[d];
        int nc = want && !c->blocked && sp == 1 && c->dims[1] >= 16 && !(ce && !strcmp(ce, "0"));
        size_t il = strlen(impl);
        if (want != !strncmp(impl, "bnorm:", 6)
            || (want && generic && strncmp(impl, "bnorm:generic", 13))
            || nc != (il > 3 && !strcmp(impl + il - 3, ":nc"))) {
            printf("  FAIL: %s runs %s\n", c->name, impl);
            failures++;
        }
    }
    int64_t C = c->dims[1];
    float *x = tin(l, 1, -2, 3), *y = tbuf(l), *yi = tbuf(l), *dy = tin(l, 2, -1, 1);
    float *dx = tbuf(l), *gamma = rnd(C, 3, 0.5f, 1.5f), *beta = rnd(C, 4, -0.5f, 0.5f);
    if (c->flag >= 3) {
        /* x skewed (not symmetric about its mean), dy = 0.8 +- 0.1 */
        int64_t n = lnumel(l);
        float *u = rnd(n, 11, -1, 1), *v = rnd(n, 12, -1, 1), *g = rnd(n, 13, -1, 1);
        for (int64_t i = 0; i < n; i++) {
            u[i] = 0.3f + u[i] + 0.5f * v[i] * v[i];
            g[i] = 0.8f + 0.1f * g[i];
        }
        convert(l, 0, x, u);
        convert(l, 0, dy, g);
    } else if (c->flag) {
        /* With the fused ReLU, a value normalised to ~0 may be kept in double and dropped in
         * float. So x clusters around 0..4 (variance ~2) and beta puts every channel's ReLU
         * threshold near x = mean - 0.5 ~ 1.5, inside the gap between two clusters. */
        int64_t n = lnumel(l);
        float *u = rnd(n, 11, 0, 1), *noise = rnd(n, 12, -0.1f, 0.1f);
        for (int64_t i = 0; i < n; i++) u[i] = floorf(5 * u[i]) + noise[i];
        convert(l, 0, x, u);
        for (int64_t k = 0; k < C; k++) beta[k] = 0.5f * gamma[k] / sqrtf(2.0033f);
    }
    float *rm = rnd(C, 5, -1, 1), *rv = rnd(C, 6, 0.5f, 2), *dg = rnd(C, 7, -1, 1);
    float *dbt = rnd(C, 8, -1, 1);
    void *ws = zalloc(hsi_op_ws_bytes(op));
    hsi_bn_forward(op, 1, x, gamma, beta, rm, rv, 0.1f, y, ws);
    keep(o, "dst (train)", l, y, TOL_FWD);
    keep_plain(o, "running mean", rm, C, TOL_FWD);
    keep_plain(o, "running var", rv, C, TOL_FWD);
    hsi_bn_backward(op, x, gamma, dy, ws, dx, dg, dbt);
    keep(o, "dsrc", l, dx, TOL_GRAD);
    /* bnorm.c's BN recomputes dst for the backward (unless HSICC_NO_BN_RECOMPUTE=1): the same
     * bytes as the forward's, padding included; the others keep dst (no-op) */
    const char *nr = getenv("HSICC_NO_BN_RECOMPUTE");
    int recomp = hsi_rt_backend(rt) == HSI_BACKEND_DNNL && !strncmp(hk_dnnl_bn_impl(op), "bnorm:", 6)
                 && !(nr && *nr && strcmp(nr, "0"));
    float *yr = tbuf(l);
    memset(yr, 0x7f, l->bytes);
    hsi_bn_recompute(op, x, gamma, beta, ws, yr);
    int bad = hsi_bn_recomputes(op) != recomp;
    if (recomp) bad |= memcmp(yr, y, l->bytes) != 0;
    else   /* untouched */
        for (size_t k = 0; k < l->bytes; k++) bad |= ((unsigned char *)yr)[k] != 0x7f;
    if (bad) {
        printf("  FAIL: %s: recomputes %d (want %d), recomputed dst %s the forward's\n", c->name,
               hsi_bn_recomputes(op), recomp, memcmp(yr, y, l->bytes) ? "differs from" : "is");
        failures++;
    }
    keep_plain(o, "dgamma (+=)", dg, C, TOL_GRAD);
    keep_plain(o, "dbeta (+=)", dbt, C, TOL_GRAD);
    bn_backward_add(rt, op, c->name, l, x, gamma, dy, ws, dx);
    hsi_bn_forward(op, 0, x, gamma, beta, rm, rv, 0.1f, yi, NULL);
    keep(o, "dst (inference)", l, yi, TOL_FWD);
}

static const shape_spec act_specs[] = {
    {"relu_ndhwc", 2, 5, {4, 24, 9, 7, 7}, HSI_ACT_RELU, 0},
    {"relu", 1, 5, {4, 24, 9, 7, 7}, HSI_ACT_RELU, 0},
    {"leaky_relu", 1, 5, {4, 24, 9, 7, 7}, HSI_ACT_LEAKY_RELU, 0.1f},
    {"elu", 1, 5, {4, 24, 9, 7, 7}, HSI_ACT_ELU, 1.0f},
    {"sigmoid", 1, 4, {4, 24, 5, 5}, HSI_ACT_SIGMOID, 0},
    {"tanh", 1, 4, {4, 24, 5, 5}, HSI_ACT_TANH, 0},
    {"elu_plain", 0, 3, {4, 7, 11}, HSI_ACT_ELU, 0.5f},
};

static void s_act(hsi_rt *rt, outs *o, int v)
{
    const shape_spec *c = &act_specs[v];
    const hsi_layout *l = layout(rt, c->blocked, c->ndim, c->dims);
    hsi_op *op = hsi_act_create(rt, l, (hsi_act_kind)c->flag, c->f);
    check_op(rt, op, c->name);
    float *x = tin(l, 1, -3, 3), *y = tbuf(l), *dy = tin(l, 2, -1, 1), *dx = tbuf(l);
    hsi_act_forward(op, x, y);
    keep(o, "dst", l, y, TOL_FWD);
    hsi_act_backward(op, y, dy, dx);
    keep(o, "dsrc", l, dx, TOL_GRAD);
    hsi_act_forward(op, x, x);
    hsi_act_backward(op, x, dy, dy);
    keep(o, "dst (in place)", l, x, TOL_FWD);
    keep(o, "dsrc (in place)", l, dy, TOL_GRAD);
}

static const shape_spec drop_specs[] = {
    {"ssrn_blocked", 1, 5, {16, 24, 1, 1, 1}, 0, 0.5f},
    {"ctx_blocked", 1, 4, {128, 128, 1, 1}, 0, 0.5f},
    {"plain", 0, 2, {7, 13}, 0, 0.3f},
    {"plain_8k_p0.7", 0, 2, {64, 131}, 0, 0.7f},
    {"plain_3chunks_odd", 0, 2, {3, 4099}, 0, 0.5f},   /* dnnl.c's chunks of 4096, a tail of 9 */
};

static void s_dropout(hsi_rt *rt, outs *o, int v)
{
    const shape_spec *c = &drop_specs[v];
    const hsi_layout *l = layout(rt, c->blocked, c->ndim, c->dims);
    hsi_op *op = hsi_dropout_create(rt, l, c->f);
    check_op(rt, op, c->name);
    if (hsi_rt_backend(rt) == HSI_BACKEND_DNNL) {
        /* the AVX2 mask loop where the CPU has it, unless HSICC_KERNEL_ISA=generic or
         * HSICC_DROPOUT_AVX2=0 */
        const char *impl = hk_dnnl_dropout_impl(op), *e = getenv("HSICC_DROPOUT_AVX2");
        int forced = hk_isa() == HK_ISA_GENERIC || (e && !strcmp(e, "0"));
        int avx2 = !strcmp(impl, "avx2");
        if (forced ? avx2 || strcmp(impl, "scalar") : avx2 != (hk_isa() >= HK_ISA_AVX2)) {
            printf("  FAIL: %s runs %s\n", c->name, impl);
            failures++;
        }
    }
    const hsi_layout *ld = hsi_op_dst(op);
    int64_t n = lnumel(l);
    float *x = tin(l, 1, 0.5f, 2), *y = tbuf(ld), *yi = tbuf(ld), *dy = tin(ld, 2, -1, 1);
    float *dx = tbuf(l), *kept = zalloc((size_t)n * sizeof *kept);
    void *ws = zalloc(hsi_op_ws_bytes(op));
    hsi_dropout_forward(op, 1, 12345, x, y, ws);
    keep(o, "dst", ld, y, TOL_FWD);
    convert(ld, 1, y, kept);
    for (int64_t i = 0; i < n; i++) kept[i] = kept[i] != 0;
    keep_plain(o, "mask (exact)", kept, n, 0);
    hsi_dropout_backward(op, dy, ws, dx);
    keep(o, "dsrc", l, dx, TOL_GRAD);
    hsi_dropout_forward(op, 0, 12345, x, yi, NULL);
    keep(o, "dst (inference)", ld, yi, TOL_FWD);
}

typedef struct pool_spec {
    const char *name;
    int blocked, ndim;
    int64_t dims[5];
    hsi_pool_desc d;
    int64_t extra[3];   /* ceil_mode (hsi_pool_create_ceil) */
} pool_spec;

static const pool_spec pool_specs[] = {
    {"ctx_max5", 1, 4, {128, 128, 5, 5}, {2, 1, {5, 5}, {1, 1}, {0}, {0}, 1}, {0}},
    {"ctx_max3", 1, 4, {128, 128, 3, 3}, {2, 1, {3, 3}, {1, 1}, {0}, {0}, 1}, {0}},
    /* global max pooling (dnnl.c's own loop; ctx_max5/3 above take it too): channels-last,
     * plain, odd sizes, 3-D */
    {"gmax_nhwc", 2, 4, {5, 19, 3, 3}, {2, 1, {3, 3}, {1, 1}, {0}, {0}, 1}, {0}},
    {"gmax_plain", 0, 4, {3, 7, 2, 5}, {2, 1, {2, 5}, {1, 1}, {0}, {0}, 1}, {0}},
    {"gmax_blocked_3d", 1, 5, {2, 20, 3, 2, 2}, {3, 1, {3, 2, 2}, {1, 1, 1}, {0}, {0}, 1}, {0}},
    {"ssrn_avg", 1, 5, {16, 24, 1, 5, 5}, {3, 0, {1, 5, 5}, {1, 1, 1}, {0}, {0}, 1}, {0}},
    {"avg_incl_pad", 1, 4, {4, 20, 9, 9}, {2, 0, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1}, {0}},
    {"avg_excl_pad", 1, 4, {4, 20, 9, 9}, {2, 0, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 0}, {0}},
    {"max_asym_plain", 0, 4, {4, 6, 8, 8}, {2, 1, {3, 3}, {2, 2}, {1, 0}, {0, 1}, 1}, {0}},
    {"max_ceil_blocked", 1, 4, {4, 20, 8, 6}, {2, 1, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1}, {1, 1}},
    {"avg_incl_ceil_blocked", 1, 4, {4, 20, 8, 6}, {2, 0, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1}, {1, 1}},
    {"avg_incl_ceil_plain", 0, 5, {2, 3, 6, 5, 7}, {3, 0, {3, 2, 3}, {2, 2, 3}, {0, 0, 1}, {0, 0, 1}, 1}, {1, 1, 0}},
    {"avg_excl_ceil_blocked", 1, 4, {4, 20, 7, 5}, {2, 0, {2, 2}, {2, 2}, {0}, {0}, 0}, {1, 1}},
};

static void s_pool(hsi_rt *rt, outs *o, int v)
{
    const pool_spec *c = &pool_specs[v];
    const hsi_layout *l = layout(rt, c->blocked, c->ndim, c->dims);
    hsi_op *op = hsi_pool_create_ceil(rt, l, &c->d, c->extra);
    check_op(rt, op, c->name);
    const hsi_layout *ld = hsi_op_dst(op);
    float *x = tin(l, 1, -1, 1), *y = tbuf(ld), *yi = tbuf(ld), *dy = tin(ld, 2, -1, 1);
    float *dx = tbuf(l);
    /* dsrc is overwritten, not accumulated: stale values must not survive (the global max
     * pool's zeroing) */
    for (size_t i = 0; i < l->bytes / sizeof *dx; i++) dx[i] = 7.f;
    void *ws = zalloc(hsi_op_ws_bytes(op));
    hsi_pool_forward(op, 1, x, y, ws);
    keep(o, "dst", ld, y, TOL_FWD);
    hsi_pool_backward(op, dy, ws, dx);
    keep(o, "dsrc", l, dx, TOL_GRAD);
    hsi_pool_forward(op, 0, x, yi, NULL);
    keep(o, "dst (inference)", ld, yi, TOL_FWD);
}

/* A training BN (+ ReLU) read by a global max pool alone (hsi_pool_takes_bn), oneDNN backend:
 * the pool applying the BN (hsi_bn_train_stats, hsi_pool_forward_bn, hsi_pool_backward_bn)
 * gives the same bits as the two ops (hsi_bn_train, hsi_pool_train, hsi_pool_backward,
 * hsi_bn_backward): pool output and argmax, running statistics, the BN's input gradient,
 * dgamma, dbeta. flag: 1 ReLU (x mostly below the threshold: ties at 0), 0 none; f: 1 when the
 * fold must be taken, 0 when it must not (a piece too big for bnorm.c's buffer). */
static const shape_spec poolbn_specs[] = {
    {"ctx_bank1_nhwc_relu", 2, 4, {128, 128, 5, 5}, 1, 1},
    {"ctx_bank3_nhwc_relu", 2, 4, {128, 128, 3, 3}, 1, 1},
    {"nhwc_c40_odd", 2, 4, {5, 40, 3, 5}, 0, 1},
    {"blocked16_c20_relu", 1, 4, {6, 20, 5, 5}, 1, 1},
    {"blocked8_c20_3d", 4, 5, {3, 20, 3, 2, 2}, 1, 1},
    {"plain_c7", 0, 4, {4, 7, 2, 5}, 0, 1},
    /* more positions than a thread's buffer holds: the forward and data passes in pieces */
    {"blocked16_big_s", 1, 4, {2, 20, 32, 33}, 0, 1},
    {"plain_big_s_relu", 0, 4, {2, 3, 100, 90}, 1, 1},
    {"nhwc_too_wide", 2, 4, {2, 512, 5, 5}, 1, 0},
};

static void poolbn_case(const shape_spec *c)
{
    hsi_rt *D = hsi_rt_create(HSI_BACKEND_DNNL), *R = hsi_rt_create(HSI_BACKEND_REF);
    if (!D || !R) {
        fprintf(stderr, "FAIL: cannot create the runtimes\n");
        exit(1);
    }
    printf("poolbn.%s\n", c->name);
    int64_t C = c->dims[1], N = c->dims[0];
    hsi_pool_desc pd = {c->ndim - 2, 1, {0}, {1, 1, 1}, {0}, {0}, 1};
    for (int d = 2; d < c->ndim; d++) pd.kernel[d - 2] = c->dims[d];
    hsi_op *bn[2], *pool[2];
    const hsi_layout *l = layout(D, c->blocked, c->ndim, c->dims);
    for (int k = 0; k < 2; k++) {   /* the same ops twice: fused and apart */
        bn[k] = hsi_bn_create(D, l, 1e-3f, c->flag);
        check_op(D, bn[k], c->name);
        pool[k] = hsi_pool_create(D, hsi_op_dst(bn[k]), &pd);
        check_op(D, pool[k], c->name);
    }
    const hsi_layout *rl = layout(R, c->blocked, c->ndim, c->dims);
    hsi_op *rbn = hsi_bn_create(R, rl, 1e-3f, c->flag);
    hsi_op *rpool = rbn ? hsi_pool_create(R, hsi_op_dst(rbn), &pd) : NULL;
    check_op(R, rpool, c->name);
    if (hsi_pool_takes_bn(pool[0], bn[0]) != (int)c->f || hsi_pool_takes_bn(rpool, rbn)) {
        printf("  FAIL: %s: hsi_pool_takes_bn %d (reference %d), want %d\n", c->name,
               hsi_pool_takes_bn(pool[0], bn[0]), hsi_pool_takes_bn(rpool, rbn), (int)c->f);
        failures++;
    }
    const hsi_layout *ld = hsi_op_dst(pool[0]);
    int64_t n = lnumel(l);
    float *u = rnd(n, 21, -1, 1);
    for (int64_t i = 0; i < n; i++) u[i] = u[i] * u[i] * u[i];   /* skewed: the ReLU cuts most */
    float *x = tbuf(l);
    convert(l, 0, x, u);
    float *gamma = rnd(C, 22, 0.5f, 1.5f), *beta = rnd(C, 23, -0.5f, 0.1f);
    float *dy = tin(ld, 24, -1, 1), *rm[2], *rv[2], *dg[2], *db[2], *y[2], *dx[2];
    void *bws[2], *pws[2];
    for (int k = 0; k < 2; k++) {
        rm[k] = rnd(C, 25, -1, 1), rv[k] = rnd(C, 26, 0.5f, 2);
        dg[k] = rnd(C, 27, -1, 1), db[k] = rnd(C, 28, -1, 1);
        y[k] = tbuf(ld), dx[k] = tbuf(l);
        for (int64_t i = 0; i < (int64_t)(l->bytes / sizeof(float)); i++) dx[k][i] = 7.f;
        bws[k] = zalloc(hsi_op_ws_bytes(bn[k]));
        pws[k] = zalloc(hsi_op_ws_bytes(pool[k]));
    }
    float *gy = tbuf(l), *gb = tbuf(l);
    hsi_bn_train(bn[1], x, gamma, beta, rm[1], rv[1], 0.1f, gy, bws[1]);
    hsi_pool_train(pool[1], gy, y[1], pws[1]);
    hsi_pool_backward(pool[1], dy, pws[1], gb);
    hsi_bn_backward(bn[1], x, gamma, gb, bws[1], dx[1], dg[1], db[1]);
    if (!hsi_pool_takes_bn(pool[0], bn[0])) return;
    hsi_bn_train_stats(bn[0], x, gamma, beta, rm[0], rv[0], 0.1f, bws[0]);
    hsi_pool_forward_bn(pool[0], x, bn[0], gamma, beta, bws[0], y[0], pws[0]);
    hsi_pool_backward_bn(pool[0], dy, pws[0], bn[0], x, gamma, beta, bws[0], dx[0], dg[0], db[0]);
    struct { const char *what; const void *a, *b; size_t bytes; } cmp[] = {
        {"pool output", y[0], y[1], ld->bytes},
        {"pool argmax", pws[0], pws[1], hsi_op_ws_bytes(pool[0])},
        {"running mean", rm[0], rm[1], (size_t)C * sizeof(float)},
        {"running var", rv[0], rv[1], (size_t)C * sizeof(float)},
        {"dsrc", dx[0], dx[1], l->bytes},
        {"dgamma", dg[0], dg[1], (size_t)C * sizeof(float)},
        {"dbeta", db[0], db[1], (size_t)C * sizeof(float)},
    };
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++)
        if (memcmp(cmp[i].a, cmp[i].b, cmp[i].bytes)) {
            printf("  FAIL: %s: %s of the pool applying the BN differs from the two ops'\n",
                   c->name, cmp[i].what);
            failures++;
        }
    /* the ReLU cases over few positions must have ties at 0 (argmax 0 by the first position) and
     * maxima elsewhere */
    const int32_t *arg = pws[0];
    int64_t at0 = 0;
    for (int64_t i = 0; i < N * C; i++) at0 += arg[i] == 0;
    if (c->flag && lnumel(l) / (N * C) <= 25 && (at0 == 0 || at0 == N * C)) {
        printf("  FAIL: %s: %lld of %lld maxima at position 0: the case tests no ties\n", c->name,
               (long long)at0, (long long)(N * C));
        failures++;
    }
    hsi_rt_destroy(R);
    hsi_rt_destroy(D);
    free_all();
}

static const shape_spec dense_specs[] = {
    {"ssrn_blocked5d", 1, 5, {16, 24, 1, 1, 1}, 1, 16},
    {"blocked4d", 1, 4, {16, 128, 7, 7}, 1, 10},
    {"plain2d_nobias", 0, 2, {16, 24}, 0, 9},
    {"blocked5d_spatial", 1, 5, {4, 24, 3, 5, 5}, 1, 7},
    /* one sgemm on the row-major src (checked: these must take it): the contextual CNN's
     * bank5 ([200, 5, 5] -> 128), odd sizes without bias */
    {"gemm_ctx_bank5", 0, 4, {128, 200, 5, 5}, 1, 128},
    {"gemm_odd_nobias", 0, 4, {7, 3, 5, 3}, 0, 11},
    /* a long reduction over few rows: the forward in two halves of k (dnnl.c's ksplit), an odd
     * k (2,107: halves of 1,053 and 1,054), with and without bias */
    {"gemm_ksplit_odd_nobias", 0, 4, {5, 43, 7, 7}, 0, 9},
    {"gemm_ksplit_odd", 0, 4, {6, 43, 7, 7}, 1, 24},
    {"gemm_plain2d_odd", 0, 2, {13, 29}, 1, 5},
};

static void s_dense(hsi_rt *rt, outs *o, int v)
{
    const shape_spec *c = &dense_specs[v];
    const hsi_layout *l = layout(rt, c->blocked, c->ndim, c->dims);
    int64_t out = (int64_t)c->f, wn = out * lnumel(l) / c->dims[0];
    hsi_op *op = hsi_dense_create(rt, l, out, c->flag, 1, 1);
    check_op(rt, op, c->name);
    if (!strncmp(c->name, "gemm_", 5) && hsi_rt_backend(rt) == HSI_BACKEND_DNNL
        && strcmp(hk_dnnl_conv_impl(op), "gemm")) {
        printf("  FAIL: %s runs %s, not gemm\n", c->name, hk_dnnl_conv_impl(op));
        failures++;
    }
    size_t nl = strlen(c->name);
    if (nl > 7 && !strcmp(c->name + nl - 7, "_onednn") && hsi_rt_backend(rt) == HSI_BACKEND_DNNL
        && strcmp(hk_dnnl_conv_impl(op), "onednn")) {
        printf("  FAIL: %s runs %s, not onednn\n", c->name, hk_dnnl_conv_impl(op));
        failures++;
    }
    const hsi_layout *ld = hsi_op_dst(op);
    float *x = tin(l, 1, -1, 1), *w = rnd(wn, 2, -0.2f, 0.2f), *b = rnd(out, 3, -1, 1);
    float *y = tbuf(ld), *dy = tin(ld, 4, -1, 1), *dx = tbuf(l);
    float *dw = rnd(wn, 5, -1, 1), *db = rnd(out, 6, -1, 1);
    hsi_dense_forward(op, x, w, b, y);
    keep(o, "dst", ld, y, TOL_FWD);
    hsi_dense_backward(op, x, w, dy, dx, dw, db);
    keep(o, "dsrc", l, dx, TOL_GRAD);
    keep_plain(o, "dw (+=)", dw, wn, TOL_GRAD);
    if (c->flag) keep_plain(o, "db (+=)", db, out, TOL_GRAD);
}

/* flag: bit 0 relu, bit 1 b plain, bit 2 da aliases ddst, bit 3 da NULL, bit 4 b channels-last,
 * bit 5 da and db alias ddst where hsi_add_grad_shares allows (as hsicc's arena plans them) */
static const shape_spec add_specs[] = {
    {"ssrn_relu_shared", 1, 5, {4, 24, 9, 7, 7}, 1 | 32, 0},
    {"shared_norelu_b_nhwc", 1, 4, {4, 20, 5, 5}, 16 | 32, 0},
    {"shared_relu_b_plain", 1, 4, {3, 10, 5, 4}, 1 | 2 | 32, 0},
    {"ssrn_same", 1, 5, {16, 24, 97, 7, 7}, 0, 0},
    {"relu_mixed_alias", 1, 5, {4, 24, 9, 7, 7}, 1 | 16 | 4, 0},
    {"ctx_relu_db_only", 1, 4, {128, 128, 1, 1}, 1 | 8, 0},
    {"mixed_norelu", 1, 4, {4, 20, 5, 5}, 2, 0},
    {"fold_relu", 3, 5, {4, 1, 16, 5, 5}, 1, 0},   /* blocked on D, not C: no ReLU post-op */
    /* one layout for a, b and dst: dnnl.c's own loop (a tail past the last 32 floats) */
    {"b8_relu_tail", 4, 5, {3, 20, 7, 3, 3}, 1, 0},
    {"plain_relu_tail", 0, 3, {3, 5, 7}, 1, 0},
};

/* dnnl.c's own loop runs a DNNL add or accumulation when every operand has one layout, unless
 * HSICC_DNNL_OWN_ADD=0; "generic" under HSICC_KERNEL_ISA=generic. */
static void check_sum_impl(hsi_rt *rt, const char *name, const char *impl, int same)
{
    if (hsi_rt_backend(rt) != HSI_BACKEND_DNNL) return;
    const char *e = getenv("HSICC_DNNL_OWN_ADD"), *isa = getenv("HSICC_KERNEL_ISA");
    int own = same && !(e && !strcmp(e, "0"));
    const char *want = !own ? "onednn" : isa && !strcmp(isa, "generic") ? "generic" : NULL;
    if (want ? strcmp(impl, want) : strcmp(impl, "avx2") && strcmp(impl, "generic")) {
        printf("  FAIL: %s runs %s, want %s\n", name, impl, want ? want : "avx2 or generic");
        failures++;
    }
}

static void s_add(hsi_rt *rt, outs *o, int v)
{
    const shape_spec *c = &add_specs[v];
    const hsi_layout *la = layout(rt, c->blocked, c->ndim, c->dims);
    const hsi_layout *lb = layout(rt, c->flag & 2 ? 0 : c->flag & 16 ? 2 : c->blocked, c->ndim,
                                  c->dims);
    hsi_op *op = hsi_add_create(rt, la, lb, c->flag & 1);
    check_op(rt, op, c->name);
    if (hsi_rt_backend(rt) == HSI_BACKEND_DNNL)
        check_sum_impl(rt, c->name, hk_dnnl_add_impl(op), !(c->flag & (2 | 16)));
    const hsi_layout *ld = hsi_op_dst(op);
    float *a = tin(la, 1, -1, 1), *b = tin(lb, 2, -1, 1), *y = tbuf(ld);
    float *dy = tin(ld, 3, -1, 1), *da = tbuf(la), *db = tbuf(lb);
    hsi_add_forward(op, a, b, y);
    keep(o, "dst", ld, y, TOL_FWD);
    if (c->flag & 4) da = dy;
    if (c->flag & 32) {
        /* slot 0 always may; slot 1 exactly when b's layout is the dst's */
        int same_b = hsi_rt_backend(rt) != HSI_BACKEND_DNNL || !(c->flag & (2 | 16));
        if (!hsi_add_grad_shares(op, 0) || hsi_add_grad_shares(op, 1) != same_b) {
            printf("  FAIL: hsi_add_grad_shares %d %d, want 1 %d\n", hsi_add_grad_shares(op, 0),
                   hsi_add_grad_shares(op, 1), same_b);
            failures++;
        }
        da = dy;
        if (same_b) db = dy;
    }
    hsi_add_backward(op, y, dy, c->flag & 8 ? NULL : da, db);
    if (!(c->flag & 8)) keep(o, "da", la, da, TOL_GRAD);
    keep(o, "db", lb, db, TOL_GRAD);
    hsi_add_forward(op, a, b, a);
    keep(o, "dst (aliasing a)", ld, a, TOL_FWD);
}

/* flag: layout kind of acc in bits 0-3, of g in bits 4-7 (see layout()) */
static const shape_spec accum_specs[] = {
    {"same_blocked", 1, 5, {4, 24, 9, 7, 7}, 1 | 1 << 4, 0},
    {"acc_blocked_g_plain", 1, 5, {4, 24, 9, 7, 7}, 1, 0},
    {"acc_plain_g_blocked", 1, 4, {4, 20, 5, 5}, 1 << 4, 0},
    {"acc_nhwc_g_blocked", 1, 4, {4, 20, 5, 5}, 2 | 1 << 4, 0},
    {"same_8b_tail", 1, 5, {3, 20, 7, 3, 3}, 4 | 4 << 4, 0},
    {"same_plain_tail", 1, 3, {3, 5, 7}, 0, 0},
};

static void s_accum(hsi_rt *rt, outs *o, int v)
{
    const shape_spec *c = &accum_specs[v];
    const hsi_layout *la = layout(rt, c->flag & 15, c->ndim, c->dims);
    const hsi_layout *lg = layout(rt, c->flag >> 4 & 15, c->ndim, c->dims);
    hsi_op *op = hsi_accum_create(rt, la, lg);
    check_op(rt, op, c->name);
    if (hsi_rt_backend(rt) == HSI_BACKEND_DNNL)
        check_sum_impl(rt, c->name, hk_dnnl_accum_impl(op), (c->flag & 15) == (c->flag >> 4 & 15));
    float *acc = tin(la, 1, -1, 1), *g = tin(lg, 2, -1, 1);
    hsi_accum(op, acc, g);
    hsi_accum(op, acc, g);
    keep(o, "acc (+= twice)", la, acc, TOL_GRAD);
}

typedef struct concat_spec {
    const char *name;
    int n, ndim;
    int blocked[3];
    int64_t dims[3][5];
} concat_spec;

static const concat_spec concat_specs[] = {
    {"ctx_bank", 3, 4, {1, 1, 1}, {{128, 128, 1, 1}, {128, 128, 1, 1}, {128, 128, 1, 1}}},
    {"unaligned_mixed", 3, 4, {1, 0, 1}, {{4, 24, 5, 5}, {4, 8, 5, 5}, {4, 16, 5, 5}}},
    /* every src plain: dnnl.c's own copy (the contextual CNN's branches, and with pixels) */
    {"plain_rows", 3, 4, {0, 0, 0}, {{128, 128, 1, 1}, {128, 128, 1, 1}, {128, 128, 1, 1}}},
    {"plain_pixels", 2, 4, {0, 0}, {{3, 5, 2, 3}, {3, 7, 2, 3}}},
};

static void s_concat(hsi_rt *rt, outs *o, int v)
{
    const concat_spec *c = &concat_specs[v];
    const hsi_layout *ls[3] = {0};
    float *x[3], *dx[3];
    for (int i = 0; i < c->n; i++) ls[i] = layout(rt, c->blocked[i], c->ndim, c->dims[i]);
    hsi_op *op = hsi_concat_create(rt, c->n, ls);
    check_op(rt, op, c->name);
    const hsi_layout *ld = hsi_op_dst(op);
    for (int i = 0; i < c->n; i++) {
        x[i] = tin(ls[i], 1 + (uint64_t)i, -1, 1);
        dx[i] = tbuf(ls[i]);
    }
    float *y = tbuf(ld), *dy = tin(ld, 9, -1, 1);
    hsi_concat_forward(op, (const float *const *)x, y);
    keep(o, "dst", ld, y, 0);
    hsi_concat_backward(op, dy, dx);
    for (int i = 0; i < c->n; i++) keep(o, "dsrc i", ls[i], dx[i], 0);
}

typedef struct reshape_spec {
    const char *name;
    int blocked, ndim, ndim2;
    int64_t dims[5], dims2[5];
} reshape_spec;

static const reshape_spec reshape_specs[] = {
    {"ssrn_fold", 1, 5, 5, {16, 128, 1, 7, 7}, {16, 1, 128, 7, 7}},
    {"ssrn_squeeze", 1, 5, 4, {16, 128, 1, 7, 7}, {16, 128, 7, 7}},
    {"plain_flatten", 0, 5, 2, {16, 24, 1, 1, 1}, {16, 24}},
    {"blocked_flatten", 1, 5, 2, {16, 24, 1, 1, 1}, {16, 24}},
    /* SSRN's fold before C2 of nCdhw8c (checked: channels-last, by 8 x 8 transposes); planes
     * not a multiple of 8 (13 = 8 + 5), two channel blocks, pixels 2 x 3 */
    {"ssrn_c2_fold8", 4, 5, 4, {16, 24, 97, 7, 7}, {16, 2328, 7, 7}},
    {"fold8_odd", 4, 5, 4, {3, 16, 13, 2, 3}, {3, 208, 2, 3}},
};

static void s_reshape(hsi_rt *rt, outs *o, int v)
{
    const reshape_spec *c = &reshape_specs[v];
    const hsi_layout *l = layout(rt, c->blocked, c->ndim, c->dims);
    hsi_op *op = hsi_reshape_create(rt, l, c->ndim2, c->dims2);
    check_op(rt, op, c->name);
    const hsi_layout *ld = hsi_op_dst(op);
    if (strstr(c->name, "fold8") && hsi_rt_backend(rt) == HSI_BACKEND_DNNL) {
        dnnl_memory_desc_t last;
        dnnl_dims_t d = {0};
        memcpy(d, c->dims2, 4 * sizeof *d);
        dnnl_memory_desc_init_by_tag(&last, 4, d, dnnl_f32, dnnl_acdb);
        if (!dnnl_memory_desc_equal(&last, ld->md)) {
            printf("  FAIL: %s: the fold is not channels-last\n", c->name);
            failures++;
        }
    }
    float *x = tin(l, 1, -1, 1), *y = tbuf(ld), *dy = tin(ld, 2, -1, 1), *dx = tbuf(l);
    if (hsi_op_is_view(op)) {
        y = x;
        dx = dy;
        if (hsi_rt_backend(rt) == HSI_BACKEND_DNNL) printf("  (dnnl: a view)\n");
    }
    hsi_reshape_forward(op, x, y);
    keep(o, "dst", ld, y, 0);
    hsi_reshape_backward(op, dy, dx);
    keep(o, "dsrc", l, dx, 0);
}

static const shape_spec xent_specs[] = {
    {"ctx_blocked", 1, 4, {128, 9, 1, 1}, 100, 0.7f},
    {"plain", 0, 2, {16, 16}, 16, 1.0f},
};

static void s_xent(hsi_rt *rt, outs *o, int v)
{
    const shape_spec *c = &xent_specs[v];
    const hsi_layout *l = layout(rt, c->blocked, c->ndim, c->dims);
    hsi_op *op = hsi_xent_create(rt, l);
    check_op(rt, op, c->name);
    int64_t N = c->dims[0], K = c->dims[1];
    int32_t *labels = zalloc((size_t)N * sizeof *labels);
    for (int64_t i = 0; i < N; i++) labels[i] = (int32_t)((i * 7) % (K + 2)) - 1;
    float *x = tin(l, 1, -4, 4), *dx = tbuf(l), *plain = zalloc((size_t)(N * K) * sizeof *plain);
    float loss = hsi_xent_forward_backward(op, x, labels, c->flag, c->f, dx);
    keep_plain(o, "loss", &loss, 1, TOL_FWD);
    keep(o, "dlogits", l, dx, TOL_GRAD);
    hsi_xent_plain_logits(op, x, plain);
    keep_plain(o, "plain logits", plain, N * K, 0);
}

/* A small SSRN-like chain in the layouts oneDNN picks:
 * x -conv1-> y1 -bn-> y2 -relu-> y3 -conv2-> y4; y5 = relu(y4 + y3) -dense-> y6 -xent- */
static void s_chain(hsi_rt *rt, outs *o, int v)
{
    (void)v;
    int64_t xd[5] = {8, 1, 30, 7, 7};
    const hsi_layout *lx = hsi_layout_plain(rt, 5, xd);
    hsi_conv_desc c1 = {.nsp = 3, .out_ch = 24, .groups = 1, .kernel = {7, 1, 1},
                        .stride = {2, 1, 1}, .dilation = {1, 1, 1}, .bias = 1};
    hsi_conv_desc c2 = {.nsp = 3, .out_ch = 24, .groups = 1, .kernel = {7, 1, 1},
                        .stride = {1, 1, 1}, .pad_lo = {3}, .pad_hi = {3},
                        .dilation = {1, 1, 1}, .bias = 1};
    hsi_op *conv1 = hsi_conv_create(rt, lx, &c1, 0, 1);
    check_op(rt, conv1, "chain conv1");
    const hsi_layout *l1 = hsi_op_dst(conv1);
    hsi_op *bn = hsi_bn_create(rt, l1, 1e-5f, 0);
    check_op(rt, bn, "chain bn");
    hsi_op *relu = hsi_act_create(rt, hsi_op_dst(bn), HSI_ACT_RELU, 0);
    check_op(rt, relu, "chain relu");
    const hsi_layout *l3 = hsi_op_dst(relu);
    hsi_op *conv2 = hsi_conv_create(rt, l3, &c2, 1, 1);
    check_op(rt, conv2, "chain conv2");
    const hsi_layout *l4 = hsi_op_dst(conv2);
    hsi_op *add = hsi_add_create(rt, l4, l3, 1);
    check_op(rt, add, "chain add");
    const hsi_layout *l5 = hsi_op_dst(add);
    hsi_op *dense = hsi_dense_create(rt, l5, 5, 1, 1, 1);
    check_op(rt, dense, "chain dense");
    const hsi_layout *l6 = hsi_op_dst(dense);
    hsi_op *xent = hsi_xent_create(rt, l6);
    check_op(rt, xent, "chain xent");
    hsi_op *acc = hsi_accum_create(rt, l3, l3);
    check_op(rt, acc, "chain accum");
    if (hsi_rt_backend(rt) == HSI_BACKEND_DNNL)
        printf("  (dnnl: conv1 dst %s, conv2 dst %s)\n", l1->plain ? "plain" : "blocked",
               l4->plain ? "plain" : "blocked");

    int64_t w1n = 24 * 7, w2n = 24 * 24 * 7, wdn = 5 * lnumel(l5) / 8;
    float *x = tin(lx, 1, -1, 1), *w1 = rnd(w1n, 2, -0.5f, 0.5f), *b1 = rnd(24, 3, -1, 1);
    float *w2 = rnd(w2n, 4, -0.2f, 0.2f), *b2 = rnd(24, 5, -1, 1);
    float *gamma = rnd(24, 6, 0.5f, 1.5f), *beta = rnd(24, 7, -0.5f, 0.5f);
    float *rm = rnd(24, 8, 0, 0), *rv = rnd(24, 9, 1, 1);
    float *wd = rnd(wdn, 10, -0.1f, 0.1f), *bd = rnd(5, 11, -1, 1);
    float *dw1 = rnd(w1n, 0, 0, 0), *db1 = rnd(24, 0, 0, 0), *dw2 = rnd(w2n, 0, 0, 0);
    float *db2 = rnd(24, 0, 0, 0), *dg = rnd(24, 0, 0, 0), *dbt = rnd(24, 0, 0, 0);
    float *dwd = rnd(wdn, 0, 0, 0), *dbd = rnd(5, 0, 0, 0);
    float *y1 = tbuf(l1), *y2 = tbuf(l1), *y3 = tbuf(l3), *y4 = tbuf(l4), *y5 = tbuf(l5);
    float *y6 = tbuf(l6), *d6 = tbuf(l6), *d5 = tbuf(l5), *d4 = tbuf(l4), *d3 = tbuf(l3);
    float *d3b = tbuf(l3), *d2 = tbuf(l1), *d1 = tbuf(l1);
    void *ws = zalloc(hsi_op_ws_bytes(bn));
    int32_t labels[8] = {0, 1, 2, 3, 4, 0, 1, 2};

    hsi_conv_forward(conv1, x, w1, b1, y1);
    hsi_bn_forward(bn, 1, y1, gamma, beta, rm, rv, 0.1f, y2, ws);
    hsi_act_forward(relu, y2, y3);
    hsi_conv_forward(conv2, y3, w2, b2, y4);
    hsi_add_forward(add, y4, y3, y5);
    hsi_dense_forward(dense, y5, wd, bd, y6);
    float loss = hsi_xent_forward_backward(xent, y6, labels, 8, 1.0f, d6);
    hsi_dense_backward(dense, y5, wd, d6, d5, dwd, dbd);
    hsi_add_backward(add, y5, d5, d4, d3b);
    hsi_conv_backward(conv2, y3, w2, d4, d3, dw2, db2);
    hsi_accum(acc, d3, d3b);
    hsi_act_backward(relu, y3, d3, d2);
    hsi_bn_backward(bn, y1, gamma, d2, ws, d1, dg, dbt);
    hsi_conv_backward(conv1, x, w1, d1, NULL, dw1, db1);

    keep(o, "y5 (add out)", l5, y5, TOL_FWD);
    keep(o, "logits", l6, y6, TOL_FWD);
    keep_plain(o, "loss", &loss, 1, TOL_FWD);
    keep(o, "d3 (accumulated)", l3, d3, TOL_GRAD);
    keep_plain(o, "dw dense", dwd, wdn, TOL_GRAD);
    keep_plain(o, "dw conv2", dw2, w2n, TOL_GRAD);
    keep_plain(o, "db conv2", db2, 24, TOL_GRAD);
    keep_plain(o, "dgamma", dg, 24, TOL_GRAD);
    keep_plain(o, "dbeta", dbt, 24, TOL_GRAD);
    keep_plain(o, "dw conv1", dw1, w1n, TOL_GRAD); /* db conv1 is 0 (BN follows): not compared */
    keep_plain(o, "running mean", rm, 24, TOL_FWD);
}

/* ---- driver --------------------------------------------------------------------------------- */

typedef void (*scenario)(hsi_rt *, outs *, int);

/* lrn, crop, prelu, softmax: blocked and channels-last inputs reordered to plain and their
 * gradients back (LRN of an odd size: oneDNN's primitive in the input's layout). flag: 0 lrn (f = its size), 1 crop (centre, 2 smaller per spatial dim),
 * 2 prelu (f slopes: 1 or 0 for one per channel), 3 softmax */
static const shape_spec xop_specs[] = {
    {"lrn_even_blocked", 1, 4, {4, 24, 5, 5}, 0, 4},
    {"lrn_lee_ndhwc", 2, 5, {3, 20, 2, 3, 3}, 0, 256},
    {"lrn_odd_plain", 0, 4, {2, 9, 3, 4}, 0, 5},
    {"lrn_odd_blocked", 1, 4, {4, 24, 5, 5}, 0, 5},         /* oneDNN's LRN primitive */
    {"lrn_odd_ndhwc", 2, 5, {2, 20, 3, 4, 4}, 0, 3},
    {"lrn_1_blocked", 1, 4, {2, 16, 3, 3}, 0, 1},
    {"crop_blocked", 1, 4, {4, 24, 7, 7}, 1, 0},
    {"crop_3d_ndhwc", 2, 5, {2, 16, 5, 6, 6}, 1, 0},
    {"prelu_per_channel_blocked", 1, 4, {4, 24, 5, 5}, 2, 0},
    {"prelu_shared_ndhwc", 2, 5, {2, 16, 3, 4, 4}, 2, 1},
    {"softmax_blocked", 1, 4, {4, 24, 3, 3}, 3, 0},
    {"softmax_2d", 0, 2, {6, 10}, 3, 0},
};

static void s_xop(hsi_rt *rt, outs *o, int v)
{
    const shape_spec *c = &xop_specs[v];
    const hsi_layout *l = layout(rt, c->blocked, c->ndim, c->dims);
    int64_t slopes = c->flag == 2 ? (c->f == 1 ? 1 : c->dims[1]) : 0;
    hsi_op *op;
    if (c->flag == 0) {
        op = hsi_lrn_create(rt, l, (int64_t)c->f, 0.8f, 0.75f, 1.5f);
    } else if (c->flag == 1) {
        hsi_crop_desc d = {.nsp = c->ndim - 2};
        for (int i = 0; i < d.nsp; i++) d.offset[i] = 1, d.size[i] = c->dims[2 + i] - 2;
        op = hsi_crop_create(rt, l, &d);
    } else if (c->flag == 2) {
        op = hsi_prelu_create(rt, l, slopes);
    } else {
        op = hsi_softmax_create(rt, l);
    }
    check_op(rt, op, c->name);
    const hsi_layout *ld = hsi_op_dst(op);
    float *x = tin(l, 1, -2, 2), *y = tbuf(ld), *dy = tin(ld, 2, -1, 1), *dx = tbuf(l);
    float *w = rnd(slopes + 1, 3, -0.5f, 0.5f), *dw = rnd(slopes + 1, 4, -1, 1);
    if (c->flag == 0) {
        hsi_lrn_forward(op, x, y);
        hsi_lrn_backward(op, x, dy, dx);
    } else if (c->flag == 1) {
        hsi_crop_forward(op, x, y);
        hsi_crop_backward(op, dy, dx);
    } else if (c->flag == 2) {
        hsi_prelu_forward(op, x, w, y);
        hsi_prelu_backward(op, x, w, dy, dx, dw);
        keep_plain(o, "dw (+=)", dw, slopes, TOL_GRAD);
    } else {
        hsi_softmax_forward(op, x, y);
        hsi_softmax_backward(op, y, dy, dx);
    }
    keep(o, "dst", ld, y, TOL_FWD);
    keep(o, "dsrc", l, dx, TOL_GRAD);
}

static int compare(const outs *r, const outs *d)
{
    int bad = 0;
    for (int k = 0; k < r->n; k++) {
        double scale = 0, err = 0;
        for (int64_t i = 0; i < r->len[k]; i++) {
            double a = r->v[k][i], b = d->v[k][i];
            scale = fmax(scale, fabs(a));
            err = fmax(err, isnan(b) ? INFINITY : fabs(a - b));
        }
        int ok = err <= r->tol[k] * fmax(scale, 1e-6);
        printf("  %-20s max |err| %.3g  max |ref| %.3g  tol %.0e  %s\n", r->name[k], err, scale,
               r->tol[k], ok ? "ok" : "FAIL");
        bad += !ok;
    }
    return bad;
}

static void outs_free(outs *o)
{
    for (int k = 0; k < o->n; k++) free(o->v[k]);
}

static void run_case(const char *group, const char *name, scenario fn, int v)
{
    outs r = {0}, d = {0};
    printf("%s.%s\n", group, name);
    hsi_rt *R = hsi_rt_create(HSI_BACKEND_REF), *D = hsi_rt_create(HSI_BACKEND_DNNL);
    if (!R || !D) {
        fprintf(stderr, "FAIL: cannot create the runtimes\n");
        exit(1);
    }
    fn(R, &r, v);
    fn(D, &d, v);
    failures += compare(&r, &d);
    outs_free(&r);
    outs_free(&d);
    hsi_rt_destroy(R);
    hsi_rt_destroy(D);
    free_all();
}

/* One line per case of fn whose name starts with prefix, on the DNNL rt only: the case's name
 * and a hash (FNV-1a) of all its outputs' bytes. */
static void case_bits(scenario fn, const char *const *names, int n, const char *prefix)
{
    for (int i = 0; i < n; i++) {
        if (strncmp(names[i], prefix, strlen(prefix))) continue;
        outs d = {0};
        hsi_rt *D = hsi_rt_create(HSI_BACKEND_DNNL);
        if (!D) {
            fprintf(stderr, "FAIL: cannot create the runtime\n");
            exit(1);
        }
        fn(D, &d, i);
        uint64_t h = 14695981039346656037ULL;
        for (int k = 0; k < d.n; k++) {
            const unsigned char *b = (const unsigned char *)d.v[k];
            for (size_t j = 0; j < (size_t)d.len[k] * sizeof(float); j++)
                h = (h ^ b[j]) * 1099511628211ULL;
        }
        printf("%s %d outputs %016llx\n", names[i], d.n, (unsigned long long)h);
        outs_free(&d);
        hsi_rt_destroy(D);
        free_all();
    }
}

/* "bn_bits": every BN case; dnnl.bn_same_bits compares the lines of the AVX2 and the portable
 * loops (bnorm.c: the same operations in the same order). "sc_bits": the smallconv.c cases
 * (sc_*); dnnl.sc_same_bits_threads compares 1 and 2 threads (smallconv.h: every output
 * element summed by one thread in a fixed order). "gemm_bits": the dense cases on one GEMM
 * (gemm_*), dnnl.gemm_same_bits_threads: 1, 2 and 3 threads. */
static void spec_bits(const char *which)
{
    const char *names[64];
    int n = 0;
    if (!strcmp(which, "bn_bits")) {
        for (; n < (int)(sizeof bn_specs / sizeof bn_specs[0]) && n < 64; n++)
            names[n] = bn_specs[n].name;
        case_bits(s_bn, names, n, "");
    } else if (!strcmp(which, "gemm_bits")) {
        for (; n < (int)(sizeof dense_specs / sizeof dense_specs[0]) && n < 64; n++)
            names[n] = dense_specs[n].name;
        case_bits(s_dense, names, n, "gemm_");
    } else {
        for (; n < (int)(sizeof conv_specs / sizeof conv_specs[0]) && n < 64; n++)
            names[n] = conv_specs[n].name;
        case_bits(s_conv, names, n, "sc_");
    }
}

#define NSPEC(a) ((int)(sizeof a / sizeof a[0]))
#define GROUP(nm, fn, specs) \
    if (!strcmp(which, "all") || !strcmp(which, nm)) { \
        for (int i = 0; i < NSPEC(specs); i++) run_case(nm, specs[i].name, fn, i); \
        found = 1; \
    }

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    int found = 0;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success
        || dnnl_stream_create(&stream, eng, dnnl_stream_default_flags) != dnnl_success)
        return 2;
    GROUP("conv", s_conv, conv_specs)
    GROUP("bn", s_bn, bn_specs)
    GROUP("act", s_act, act_specs)
    GROUP("dropout", s_dropout, drop_specs)
    GROUP("pool", s_pool, pool_specs)
    GROUP("dense", s_dense, dense_specs)
    GROUP("add", s_add, add_specs)
    GROUP("accum", s_accum, accum_specs)
    GROUP("concat", s_concat, concat_specs)
    GROUP("reshape", s_reshape, reshape_specs)
    GROUP("xent", s_xent, xent_specs)
    GROUP("xop", s_xop, xop_specs)
    if (!strcmp(which, "bn_bits") || !strcmp(which, "sc_bits") || !strcmp(which, "gemm_bits")) {
        spec_bits(which);
        found = 1;
    }
    if (!strcmp(which, "all") || !strcmp(which, "poolbn")) {
        for (int i = 0; i < NSPEC(poolbn_specs); i++) poolbn_case(&poolbn_specs[i]);
        found = 1;
    }
    if (!strcmp(which, "all") || !strcmp(which, "chain")) {
        run_case("chain", "ssrn_mini", s_chain, 0);
        found = 1;
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(eng);
    if (!found) {
        fprintf(stderr, "usage: test_dnnl all|conv|bn|act|dropout|pool|dense|add|accum|concat|"
                        "reshape|xent|xop|chain|poolbn|bn_bits|sc_bits|gemm_bits\n");
        return 2;
    }
    if (failures) printf("%d comparison(s) FAILED\n", failures);
    return failures ? 1 : 0;
}
