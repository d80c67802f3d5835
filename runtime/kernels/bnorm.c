/* bnorm.c — training BN [+ ReLU] with double sums (see bnorm.h).
 *
 * A work item is one sample's channel block: S * B contiguous floats (channels-last is one
 * block of all C channels). Its sums go to its own
 * slot of the scratch (per channel of the block), and the slots are added per channel in
 * sample order afterwards, so the result is the same for any thread count. Within an item of a
 * block dividing 16 (B = 1, 2, 4, 8, 16) the floats are taken 16 at a time, lane j being
 * channel j % B: the statistics into 16 double accumulators per sum, the normalisation and the
 * backward's data pass with per-lane constants; in AVX-512 or AVX2 + FMA intrinsics (GCC's own
 * vector code for the per-channel loops over a run-time B ran 2-3 times the memory traffic's
 * time) or portable C, the same operations in the same order (the same bits), chosen at run
 * time as tapconv.c chooses (hk_isa; HSICC_KERNEL_ISA=avx2 / generic caps it); the AVX2 and
 * AVX-512 data passes are instantiated per ReLU / add (/ block) case with their constants in
 * registers; other blocks (channels-last) loop per channel. The backward's sums run 16 channels
 * at a time (brows_*: float runs of BN_RUN rows, each added in double), blocks wider than 16
 * (channels-last) 16 of their channels at a time. The data pass reads x and dy (the ReLU mask
 * and xhat recomputed from x) and writes dx, or adds to it (hk_bnorm_backward's add: no
 * separate accumulation pass over two tensors).
 *
 * Passes over an item's floats: forward 2 (the sums: read x; normalise: read x, write y),
 * backward 2 (the sums: read x, dy; dx: read x, dy [, dx], write dx), and hk_bnorm_apply's 1
 * (the forward's y again for a backward that did not keep it). The sums need every item before
 * any y or dx, so on SSRN's 7.3 MB tensors (batch 16) each pass streams from memory: in the
 * 1-thread training step each moved 14-22 GB/s (counting the reads of the lines written), the
 * memory's rate here (a plain 1-thread read of such a tensor, not in cache: ~13 GB/s), once the
 * AVX-512 path (see BN_AVX512) made the two sum passes memory-bound. Streaming (non-temporal) stores of y and dx made those passes faster
 * (forward normalise 1.0 -> 0.8 ms) but not the training step (paired 1-thread user time
 * 1.008, 11 pairs): their readers, next, then read them from memory. Walking a pass's items
 * backwards, to start on those the last pass left in cache, changed nothing measurable
 * either. [N, C] (one spatial element, hk_bnorm_columns): a work item is 16
 * channels over every sample instead of one sample (the forward's sums: the same additions in
 * the same order; the backward's: float runs of BN_RUN samples, each added in double).
 */
#include "bnorm.h"
#include "tapconv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#define BN_OMP(x) _Pragma(x)
#else
#define BN_OMP(x)
#endif

/* The lane kernels' portable loops, inlined (as AVX code) into the AVX2 ones' tails: a call
 * from AVX code into SSE code with the upper halves of the vector registers in use cost about
 * as much as a 16-channel item's whole pass. */
#ifdef __GNUC__
#define BN_INLINE static inline __attribute__((always_inline))
#else
#define BN_INLINE static inline
#endif

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define BN_X86 1
#else
#define BN_X86 0
#endif

/* The backward's sums run in float over BN_RUN rows of 16 lanes (vector code), then in double:
 * a float sum of 32 terms is exact to about 2e-6 of their magnitudes; summed over 77,616
 * elements that keeps the cancellation error near 1e-6 (all float: ~1e-3 and more). */
#define BN_RUN 32

/* The loops bnorm.c runs: HK_ISA_AVX512, HK_ISA_AVX2 (+ FMA) or HK_ISA_GENERIC (portable C),
 * as hk_isa (and HSICC_KERNEL_ISA) allows. */
static int bn_isa(void) { return BN_X86 ? hk_isa() : HK_ISA_GENERIC; }

int hk_bnorm_isa(void) { return bn_isa(); }

/* 1: [N, C] (one spatial element, one block of every channel): the passes' sums run per 16
 * channels over every sample (a sample per work item made them several times slower).
 * HSICC_BN_COLUMNS=0 keeps a sample per work item (for A/B runs). */
int hk_bnorm_columns(const hk_bnorm *g)
{
    static int off = -1;
    if (off < 0) {
        const char *e = getenv("HSICC_BN_COLUMNS");
        off = e && !strcmp(e, "0");
    }
    return !off && g->s == 1 && g->b == g->c && g->c >= 16;
}

static int64_t bn_blocks(const hk_bnorm *g) { return (g->c + g->b - 1) / g->b; }

/* The sums' pieces: chunks of HK_BNORM_CHUNK positions of a sample's block (the last what
 * remains), piece it = (sample * blocks + block) * chunks + chunk. */
static int64_t bn_chunks(const hk_bnorm *g)
{
    return (g->s + HK_BNORM_CHUNK - 1) / HK_BNORM_CHUNK;
}

static int64_t bn_pieces(const hk_bnorm *g) { return g->n * bn_blocks(g) * bn_chunks(g); }

/* Piece it's first float in x (a tensor of g's shape) and its length in floats. */
static int64_t bn_piece(const hk_bnorm *g, int64_t it, int64_t *len)
{
    int64_t nch = bn_chunks(g), r0 = it % nch * HK_BNORM_CHUNK;
    int64_t r1 = r0 + HK_BNORM_CHUNK < g->s ? r0 + HK_BNORM_CHUNK : g->s;
    *len = (r1 - r0) * g->b;
    return it / nch * g->s * g->b + r0 * g->b;
}

size_t hk_bnorm_scratch_doubles(const hk_bnorm *g)
{
    /* per piece and channel of its block: 2 sums; per channel: 2 totals, 1 count; then the
     * per-channel float constants (7 rows of Cp) and, per block, their 16 lanes (7 x 16) */
    int64_t cp = bn_blocks(g) * g->b, floats = 7 * cp + bn_blocks(g) * 7 * 16;
    return (size_t)(bn_pieces(g) * g->b * 2 + 2 * cp + 1 + (floats + 1) / 2 + 1);
}

/* The 16 lane accumulators of an item into its B channels' sums (lane j is channel j % B;
 * B divides 16, a power of 2). */
static void bn_fold(const double *a1, const double *a2, int B, double *o1, double *o2)
{
    for (int b = 0; b < B; b++) o1[b] = o2[b] = 0;
    for (int j = 0; j < 16; j++) {
        o1[j & (B - 1)] += a1[j];
        o2[j & (B - 1)] += a2[j];
    }
}

/* The backward's sums over rows rows of 16 lanes, stride floats apart (lane j: the constants'
 * entry j), into the double accumulators a1, a2: float runs of BN_RUN rows, each added in
 * double. The ReLU mask is a select (a branch mispredicts on half the elements). */
static void brows_c(const float *x, const float *dy, int64_t rows, int64_t stride,
                    const float *lsc, const float *lsh, const float *lmu, const float *linv,
                    int relu, double *a1, double *a2)
{
    enum { L = 16 };
    for (int64_t r0 = 0; r0 < rows; r0 += BN_RUN) {
        float f1[L] = {0}, f2[L] = {0};
        int64_t r1 = rows - r0 > BN_RUN ? r0 + BN_RUN : rows;
        for (int64_t r = r0; r < r1; r++) {
            const float *xr = x + r * stride, *dr = dy + r * stride;
            for (int j = 0; j < L; j++) {
                float xv = xr[j], y = xv * lsc[j] + lsh[j];
                float d = relu && !(y > 0) ? 0.0f : dr[j];
                f1[j] += d;
                f2[j] += d * ((xv - lmu[j]) * linv[j]);
            }
        }
        for (int j = 0; j < L; j++) {
            a1[j] += f1[j];
            a2[j] += f2[j];
        }
    }
}

#if BN_X86
/* brows_c in AVX2 (the same operations in the same order: separate multiply and add, as the
 * forward's; GCC left the per-run double additions scalar, through the stack). */
__attribute__((target("avx2,fma"))) static void
brows_avx2(const float *x, const float *dy, int64_t rows, int64_t stride, const float *lsc,
           const float *lsh, const float *lmu, const float *linv, int relu, double *a1,
           double *a2)
{
    const __m256 sc0 = _mm256_loadu_ps(lsc), sc1 = _mm256_loadu_ps(lsc + 8);
    const __m256 sh0 = _mm256_loadu_ps(lsh), sh1 = _mm256_loadu_ps(lsh + 8);
    const __m256 mu0 = _mm256_loadu_ps(lmu), mu1 = _mm256_loadu_ps(lmu + 8);
    const __m256 iv0 = _mm256_loadu_ps(linv), iv1 = _mm256_loadu_ps(linv + 8);
    const __m256 zero = _mm256_setzero_ps(), all = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    __m256d s[8];
    for (int q = 0; q < 4; q++) {
        s[q] = _mm256_loadu_pd(a1 + 4 * q);
        s[4 + q] = _mm256_loadu_pd(a2 + 4 * q);
    }
    for (int64_t r0 = 0; r0 < rows; r0 += BN_RUN) {
        __m256 f10 = zero, f11 = zero, f20 = zero, f21 = zero;
        int64_t r1 = rows - r0 > BN_RUN ? r0 + BN_RUN : rows;
        for (int64_t r = r0; r < r1; r++) {
            const float *xr = x + r * stride, *dr = dy + r * stride;
            __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + 8);
            __m256 d0 = _mm256_loadu_ps(dr), d1 = _mm256_loadu_ps(dr + 8);
            __m256 k0 = all, k1 = all;
            if (relu) {
                k0 = _mm256_cmp_ps(_mm256_add_ps(_mm256_mul_ps(x0, sc0), sh0), zero, _CMP_GT_OQ);
                k1 = _mm256_cmp_ps(_mm256_add_ps(_mm256_mul_ps(x1, sc1), sh1), zero, _CMP_GT_OQ);
            }
            d0 = _mm256_and_ps(d0, k0);
            d1 = _mm256_and_ps(d1, k1);
            f10 = _mm256_add_ps(f10, d0);
            f11 = _mm256_add_ps(f11, d1);
            f20 = _mm256_add_ps(f20, _mm256_mul_ps(d0, _mm256_mul_ps(_mm256_sub_ps(x0, mu0), iv0)));
            f21 = _mm256_add_ps(f21, _mm256_mul_ps(d1, _mm256_mul_ps(_mm256_sub_ps(x1, mu1), iv1)));
        }
        const __m256 f[4] = {f10, f11, f20, f21};
        for (int q = 0; q < 4; q++) {
            s[2 * q] = _mm256_add_pd(s[2 * q], _mm256_cvtps_pd(_mm256_castps256_ps128(f[q])));
            s[2 * q + 1] = _mm256_add_pd(s[2 * q + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(f[q], 1)));
        }
    }
    for (int q = 0; q < 4; q++) {
        _mm256_storeu_pd(a1 + 4 * q, s[q]);
        _mm256_storeu_pd(a2 + 4 * q, s[4 + q]);
    }
}
#endif

typedef void bn_rows_fn(const float *x, const float *dy, int64_t rows, int64_t stride,
                        const float *lsc, const float *lsh, const float *lmu, const float *linv,
                        int relu, double *a1, double *a2);

/* The backward's sums of W channels (consts indexed by channel) over rows rows stride floats
 * apart, into o1[0..W), o2[0..W): 16 channels at a time by rows_fn, the rest one by one. */
static inline void bn_wide(bn_rows_fn *rows_fn, const float *x, const float *dy, int64_t rows,
                           int64_t stride, int W, const float *sc, const float *sh,
                           const float *mu, const float *inv, int relu, double *o1, double *o2)
{
    int c0 = 0;
    for (; c0 + 16 <= W; c0 += 16) {
        double a1[16] = {0}, a2[16] = {0};
        rows_fn(x + c0, dy + c0, rows, stride, sc + c0, sh + c0, mu + c0, inv + c0, relu, a1, a2);
        memcpy(o1 + c0, a1, sizeof a1);
        memcpy(o2 + c0, a2, sizeof a2);
    }
    for (; c0 < W; c0++) { /* the channels past the last 16 */
        double a1 = 0, a2 = 0;
        for (int64_t r = 0; r < rows; r++) {
            float xv = x[r * stride + c0], y = xv * sc[c0] + sh[c0];
            float d = relu && !(y > 0) ? 0.0f : dy[r * stride + c0];
            a1 += d;
            a2 += (double)d * (double)((xv - mu[c0]) * inv[c0]);
        }
        o1[c0] = a1;
        o2[c0] = a2;
    }
}

/* Per-channel float constants, Cp each (zero past C, so padded channels come out 0):
 * [scale][shift][mean][inv][k1][m1][m2]; after the doubles of the scratch. */
enum { K_SCALE, K_SHIFT, K_MEAN, K_INV, K_K1, K_M1, K_M2, K_N };

/* The lane kernels of blocks that divide 16 (B = 1, 2, 4, 8, 16): an item's floats 16 at a
 * time, lane j being channel j % B, its per-channel constants given per lane (bn_lanes). The
 * portable ones are plain C; the AVX2 ones below do the same operations in the same order
 * (separate multiplies and adds, as the C is compiled without contraction), so both give the
 * same bits, and every pass of the forward and its recompute run the same loop. */
static void bn_lanes(const float *k, int B, float *l)
{
    for (int j = 0; j < 16; j++) l[j] = k[j & (B - 1)];   /* B divides 16: a power of 2 */
}

/* sum x and sum x^2 of lane j into a1[j], a2[j] (double; x^2 is exact in double). */
BN_INLINE void statsl_c(const float *p, int64_t len, double *a1, double *a2)
{
    for (int64_t i = 0; i < len; i += 16)
        for (int j = 0; j < 16 && i + j < len; j++) {
            double v = p[i + j];
            a1[j] += v;
            a2[j] += v * v;
        }
}

BN_INLINE void norml_c(const float *x, float *y, int64_t len, const float *lsc, const float *lsh,
                    int relu)
{
    for (int64_t i = 0; i < len; i += 16)
        for (int j = 0; j < 16 && i + j < len; j++) {
            float v = x[i + j] * lsc[j] + lsh[j];
            y[i + j] = relu && !(v > 0) ? 0.0f : v;
        }
}

/* l: the lanes of [scale][shift][mean][inv][k1][m1][m2], 16 each (K_N rows). */
BN_INLINE void bdatal_c(const float *x, const float *dy, float *dx, int64_t len, const float *l,
                     int relu, int add)
{
    const float *sc = l, *sh = l + 16, *mu = l + 32, *inv = l + 48, *k1 = l + 64, *m1 = l + 80;
    const float *m2 = l + 96;
    for (int64_t i = 0; i < len; i += 16)
        for (int j = 0; j < 16 && i + j < len; j++) {
            float xv = x[i + j], d = dy[i + j];
            if (relu && !(xv * sc[j] + sh[j] > 0)) d = 0;
            float r = k1[j] * (d - m1[j] - (xv - mu[j]) * inv[j] * m2[j]);
            dx[i + j] = add ? dx[i + j] + r : r;
        }
}

#if BN_X86
/* statsl_c: 4 x 4 double lanes, the tail by statsl_c (lane 0 again at a multiple of 16). */
__attribute__((target("avx2,fma"))) static void statsl_avx2(const float *p, int64_t len,
                                                            double *a1, double *a2)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0, q0 = s0, q1 = s0, q2 = s0,
            q3 = s0;
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m256d v0 = _mm256_cvtps_pd(_mm_loadu_ps(p + i)), v1 = _mm256_cvtps_pd(_mm_loadu_ps(p + i + 4));
        __m256d v2 = _mm256_cvtps_pd(_mm_loadu_ps(p + i + 8)), v3 = _mm256_cvtps_pd(_mm_loadu_ps(p + i + 12));
        s0 = _mm256_add_pd(s0, v0);
        s1 = _mm256_add_pd(s1, v1);
        s2 = _mm256_add_pd(s2, v2);
        s3 = _mm256_add_pd(s3, v3);
        q0 = _mm256_fmadd_pd(v0, v0, q0);   /* v * v exact: the same as a multiply, then add */
        q1 = _mm256_fmadd_pd(v1, v1, q1);
        q2 = _mm256_fmadd_pd(v2, v2, q2);
        q3 = _mm256_fmadd_pd(v3, v3, q3);
    }
    const __m256d s[8] = {s0, s1, s2, s3, q0, q1, q2, q3};
    for (int q = 0; q < 4; q++) {
        _mm256_storeu_pd(a1 + 4 * q, _mm256_add_pd(_mm256_loadu_pd(a1 + 4 * q), s[q]));
        _mm256_storeu_pd(a2 + 4 * q, _mm256_add_pd(_mm256_loadu_pd(a2 + 4 * q), s[4 + q]));
    }
    if (i < len) statsl_c(p + i, len - i, a1, a2);
}

/* x * scale + shift, and the ReLU as a mask (NaN and -0 give +0, as the C's select). */
__attribute__((target("avx2"))) static inline __m256 bn_affine8(__m256 x, __m256 sc, __m256 sh,
                                                               int relu, __m256 *keep)
{
    __m256 v = _mm256_add_ps(_mm256_mul_ps(x, sc), sh);
    *keep = relu ? _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ)
                 : _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    return v;
}

__attribute__((target("avx2"))) static void norml_avx2(const float *x, float *y, int64_t len,
                                                       const float *lsc, const float *lsh,
                                                       int relu)
{
    const __m256 sc0 = _mm256_loadu_ps(lsc), sc1 = _mm256_loadu_ps(lsc + 8);
    const __m256 sh0 = _mm256_loadu_ps(lsh), sh1 = _mm256_loadu_ps(lsh + 8);
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m256 k0, k1;
        __m256 v0 = bn_affine8(_mm256_loadu_ps(x + i), sc0, sh0, relu, &k0);
        __m256 v1 = bn_affine8(_mm256_loadu_ps(x + i + 8), sc1, sh1, relu, &k1);
        _mm256_storeu_ps(y + i, _mm256_and_ps(v0, k0));
        _mm256_storeu_ps(y + i + 8, _mm256_and_ps(v1, k1));
    }
    if (i < len) norml_c(x + i, y + i, len - i, lsc, lsh, relu);
}

/* One half (8 lanes, from lane o = 0 or 8) of bdatal_c's constants l, in registers. */
typedef struct bn_bk { __m256 sc, sh, mu, inv, k1, m1, m2; } bn_bk;

__attribute__((target("avx2"))) static inline bn_bk bn_bk_load(const float *l, int o)
{
    return (bn_bk){_mm256_loadu_ps(l + o), _mm256_loadu_ps(l + 16 + o),
                   _mm256_loadu_ps(l + 32 + o), _mm256_loadu_ps(l + 48 + o),
                   _mm256_loadu_ps(l + 64 + o), _mm256_loadu_ps(l + 80 + o),
                   _mm256_loadu_ps(l + 96 + o)};
}

/* 8 lanes of bdatal_c (the same operations in the same order). */
__attribute__((target("avx2"))) static inline __m256 bn_bdata8(__m256 xv, __m256 d,
                                                              const bn_bk *k, int relu)
{
    __m256 keep;
    bn_affine8(xv, k->sc, k->sh, relu, &keep);
    d = _mm256_and_ps(d, keep);
    __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(xv, k->mu), k->inv), k->m2);
    __m256 u = _mm256_sub_ps(_mm256_sub_ps(d, k->m1), t);
    return _mm256_mul_ps(k->k1, u);
}

/* bdatal_c's rows of 16 with relu, add and same (lanes 8..15 repeat lanes 0..7: B <= 8) fixed
 * per instance, so that the constants stay in registers and the loop has no branches (loading
 * the 14 constant rows from the table every row, with the tests, took about a cycle a float
 * with the data in cache, near the pass's memory time). Returns the floats done. */
__attribute__((target("avx2"), always_inline)) static inline int64_t
bdatal_rows(const float *x, const float *dy, float *dx, int64_t len, const float *l, int relu,
            int add, int same)
{
    const bn_bk k0 = bn_bk_load(l, 0), k1 = same ? k0 : bn_bk_load(l, 8);
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m256 r0 = bn_bdata8(_mm256_loadu_ps(x + i), _mm256_loadu_ps(dy + i), &k0, relu);
        __m256 r1 = bn_bdata8(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(dy + i + 8), &k1, relu);
        if (add) { /* dy is read above, so dx may be dy itself */
            r0 = _mm256_add_ps(_mm256_loadu_ps(dx + i), r0);
            r1 = _mm256_add_ps(_mm256_loadu_ps(dx + i + 8), r1);
        }
        _mm256_storeu_ps(dx + i, r0);
        _mm256_storeu_ps(dx + i + 8, r1);
    }
    return i;
}

__attribute__((target("avx2"))) static void bdatal_avx2(const float *x, const float *dy,
                                                        float *dx, int64_t len, const float *l,
                                                        int relu, int add)
{
    int same = 1;
    for (int r = 0; r < K_N; r++) same &= !memcmp(l + 16 * r, l + 16 * r + 8, 8 * sizeof *l);
    int64_t i;
    switch ((relu ? 4 : 0) + (add ? 2 : 0) + same) {
    case 0: i = bdatal_rows(x, dy, dx, len, l, 0, 0, 0); break;
    case 1: i = bdatal_rows(x, dy, dx, len, l, 0, 0, 1); break;
    case 2: i = bdatal_rows(x, dy, dx, len, l, 0, 1, 0); break;
    case 3: i = bdatal_rows(x, dy, dx, len, l, 0, 1, 1); break;
    case 4: i = bdatal_rows(x, dy, dx, len, l, 1, 0, 0); break;
    case 5: i = bdatal_rows(x, dy, dx, len, l, 1, 0, 1); break;
    case 6: i = bdatal_rows(x, dy, dx, len, l, 1, 1, 0); break;
    default: i = bdatal_rows(x, dy, dx, len, l, 1, 1, 1); break;
    }
    if (i < len) bdatal_c(x + i, dy + i, dx + i, len - i, l, relu, add);
}
#endif

#if BN_X86
/* The AVX-512 lane kernels: the 16 lanes of a row in one register (lane j: channel j % B), the
 * same operations in the same order as the portable and AVX2 ones (the same bits; the ReLU's
 * select a zeroing mask move, +0 where !(v > 0), as the AND with a compare mask), and a
 * prefetch BN_PF floats ahead in each stream read. SSRN's spectral BNs (7.3 MB, 8c; 1 thread,
 * per call, CPU time in the training step): the forward's sums 0.75 -> 0.45 ms (the AVX2 loop,
 * 12 instructions a row, kept too few rows in flight for memory not in cache: 7.5 GB/s against
 * 12-13 GB/s for a plain read; without the prefetch 0.82, with 0.63-0.65 ms on a cold tensor
 * in a loop of its own), the backward's sums 1.33 -> 1.02 ms, the dx pass 1.49 -> 1.25-1.4 ms;
 * the normalise pass (~1.0 ms) was and is memory-bound. */
#define BN_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define BN_PF 1024
#define BN_PREFETCH(p) _mm_prefetch((const char *)(p) + 4 * BN_PF, _MM_HINT_T0)

/* statsl_c: lanes 0..7 and 8..15 in two double registers per sum. */
BN_AVX512 static void statsl_avx512(const float *p, int64_t len, double *a1, double *a2)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, q0 = s0, q1 = s0;
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        BN_PREFETCH(p + i);
        __m512d v0 = _mm512_cvtps_pd(_mm256_loadu_ps(p + i));
        __m512d v1 = _mm512_cvtps_pd(_mm256_loadu_ps(p + i + 8));
        s0 = _mm512_add_pd(s0, v0);
        s1 = _mm512_add_pd(s1, v1);
        q0 = _mm512_fmadd_pd(v0, v0, q0);   /* v * v exact: the same as a multiply, then add */
        q1 = _mm512_fmadd_pd(v1, v1, q1);
    }
    _mm512_storeu_pd(a1, _mm512_add_pd(_mm512_loadu_pd(a1), s0));
    _mm512_storeu_pd(a1 + 8, _mm512_add_pd(_mm512_loadu_pd(a1 + 8), s1));
    _mm512_storeu_pd(a2, _mm512_add_pd(_mm512_loadu_pd(a2), q0));
    _mm512_storeu_pd(a2 + 8, _mm512_add_pd(_mm512_loadu_pd(a2 + 8), q1));
    if (i < len) statsl_c(p + i, len - i, a1, a2);
}

/* x * scale + shift with the ReLU (a zeroing move: +0 for NaN, -0 and below, as the C). */
BN_AVX512 static inline __m512 bn_affine16(__m512 x, __m512 sc, __m512 sh, int relu)
{
    __m512 v = _mm512_add_ps(_mm512_mul_ps(x, sc), sh);
    return relu ? _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v)
                : v;
}

__attribute__((always_inline)) BN_AVX512 static inline int64_t
norml_rows512(const float *x, float *y, int64_t len, const float *lsc, const float *lsh, int relu)
{
    const __m512 sc = _mm512_loadu_ps(lsc), sh = _mm512_loadu_ps(lsh);
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        BN_PREFETCH(x + i);
        _mm512_storeu_ps(y + i, bn_affine16(_mm512_loadu_ps(x + i), sc, sh, relu));
    }
    return i;
}

BN_AVX512 static void norml_avx512(const float *x, float *y, int64_t len, const float *lsc,
                                   const float *lsh, int relu)
{
    int64_t i = relu ? norml_rows512(x, y, len, lsc, lsh, 1)
                     : norml_rows512(x, y, len, lsc, lsh, 0);
    if (i < len) norml_c(x + i, y + i, len - i, lsc, lsh, relu);
}

/* brows_c: the float runs in one register per sum, each run added in double (two registers
 * per sum: lanes 0..7, 8..15). */
__attribute__((always_inline)) BN_AVX512 static inline void
brows_rows512(const float *x, const float *dy, int64_t rows, int64_t stride, const float *lsc,
              const float *lsh, const float *lmu, const float *linv, int relu, double *a1,
              double *a2)
{
    const __m512 sc = _mm512_loadu_ps(lsc), sh = _mm512_loadu_ps(lsh);
    const __m512 mu = _mm512_loadu_ps(lmu), iv = _mm512_loadu_ps(linv);
    __m512d s10 = _mm512_loadu_pd(a1), s11 = _mm512_loadu_pd(a1 + 8);
    __m512d s20 = _mm512_loadu_pd(a2), s21 = _mm512_loadu_pd(a2 + 8);
    for (int64_t r0 = 0; r0 < rows; r0 += BN_RUN) {
        __m512 f1 = _mm512_setzero_ps(), f2 = f1;
        int64_t r1 = rows - r0 > BN_RUN ? r0 + BN_RUN : rows;
        for (int64_t r = r0; r < r1; r++) {
            const float *xr = x + r * stride, *dr = dy + r * stride;
            BN_PREFETCH(xr);
            BN_PREFETCH(dr);
            __m512 xv = _mm512_loadu_ps(xr), d = _mm512_loadu_ps(dr);
            if (relu)
                d = _mm512_maskz_mov_ps(
                    _mm512_cmp_ps_mask(_mm512_add_ps(_mm512_mul_ps(xv, sc), sh),
                                       _mm512_setzero_ps(), _CMP_GT_OQ), d);
            f1 = _mm512_add_ps(f1, d);
            f2 = _mm512_add_ps(f2, _mm512_mul_ps(d, _mm512_mul_ps(_mm512_sub_ps(xv, mu), iv)));
        }
        s10 = _mm512_add_pd(s10, _mm512_cvtps_pd(_mm512_castps512_ps256(f1)));
        s11 = _mm512_add_pd(s11, _mm512_cvtps_pd(_mm512_extractf32x8_ps(f1, 1)));
        s20 = _mm512_add_pd(s20, _mm512_cvtps_pd(_mm512_castps512_ps256(f2)));
        s21 = _mm512_add_pd(s21, _mm512_cvtps_pd(_mm512_extractf32x8_ps(f2, 1)));
    }
    _mm512_storeu_pd(a1, s10);
    _mm512_storeu_pd(a1 + 8, s11);
    _mm512_storeu_pd(a2, s20);
    _mm512_storeu_pd(a2 + 8, s21);
}

BN_AVX512 static void brows_avx512(const float *x, const float *dy, int64_t rows, int64_t stride,
                                   const float *lsc, const float *lsh, const float *lmu,
                                   const float *linv, int relu, double *a1, double *a2)
{
    if (relu) brows_rows512(x, dy, rows, stride, lsc, lsh, lmu, linv, 1, a1, a2);
    else brows_rows512(x, dy, rows, stride, lsc, lsh, lmu, linv, 0, a1, a2);
}

/* bdatal_c's rows with relu and add fixed per instance, the constants in registers. */
__attribute__((always_inline)) BN_AVX512 static inline int64_t
bdatal_rows512(const float *x, const float *dy, float *dx, int64_t len, const float *l, int relu,
               int add)
{
    const __m512 sc = _mm512_loadu_ps(l), sh = _mm512_loadu_ps(l + 16);
    const __m512 mu = _mm512_loadu_ps(l + 32), iv = _mm512_loadu_ps(l + 48);
    const __m512 k1 = _mm512_loadu_ps(l + 64), m1 = _mm512_loadu_ps(l + 80);
    const __m512 m2 = _mm512_loadu_ps(l + 96);
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        BN_PREFETCH(x + i);
        BN_PREFETCH(dy + i);
        if (add) BN_PREFETCH(dx + i);
        __m512 xv = _mm512_loadu_ps(x + i), d = _mm512_loadu_ps(dy + i);
        if (relu)
            d = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_add_ps(_mm512_mul_ps(xv, sc), sh),
                                                       _mm512_setzero_ps(), _CMP_GT_OQ), d);
        __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(xv, mu), iv), m2);
        __m512 r = _mm512_mul_ps(k1, _mm512_sub_ps(_mm512_sub_ps(d, m1), t));
        if (add) r = _mm512_add_ps(_mm512_loadu_ps(dx + i), r);   /* dy read: dx may be dy */
        _mm512_storeu_ps(dx + i, r);
    }
    return i;
}

BN_AVX512 static void bdatal_avx512(const float *x, const float *dy, float *dx, int64_t len,
                                    const float *l, int relu, int add)
{
    int64_t i;
    switch ((relu ? 2 : 0) + (add ? 1 : 0)) {
    case 0: i = bdatal_rows512(x, dy, dx, len, l, 0, 0); break;
    case 1: i = bdatal_rows512(x, dy, dx, len, l, 0, 1); break;
    case 2: i = bdatal_rows512(x, dy, dx, len, l, 1, 0); break;
    default: i = bdatal_rows512(x, dy, dx, len, l, 1, 1); break;
    }
    if (i < len) bdatal_c(x + i, dy + i, dx + i, len - i, l, relu, add);
}
#endif

/* Per item: statistics pass (sum x, sum x^2), the normalise pass, and the backward's two
 * passes. p: the item's S * B floats; per-channel constants indexed by channel of the block.
 * Blocks dividing 16 run the lane kernels (STATSL, NORML, BDATAL); wider blocks and those not
 * dividing 16 (channels-last) accumulate per channel in the item's output slots. */
#define BN_LANES(B) ((B) <= 16 && 16 % (B) == 0)
#define BN_ITEM_KERNELS(SUF, ATTR, BROWS, STATSL, NORML, BDATAL)                              \
    /* sums of W channels over rows rows stride floats apart, in double, rows in order */      \
    ATTR static void scols_##SUF(const float *p, int64_t rows, int64_t stride, int W,          \
                                 double *o1, double *o2)                                      \
    {                                                                                         \
        for (int b = 0; b < W; b++) o1[b] = o2[b] = 0;                                        \
        for (int64_t r = 0; r < rows; r++)                                                    \
            for (int b = 0; b < W; b++) {                                                     \
                double v = p[r * stride + b];                                                 \
                o1[b] += v;                                                                   \
                o2[b] += v * v;                                                               \
            }                                                                                 \
    }                                                                                         \
    ATTR static void stats_##SUF(const float *p, int64_t len, int B, double *o1, double *o2)  \
    {                                                                                         \
        if (!BN_LANES(B)) { /* channels-last: the item accumulates in its output slots */     \
            scols_##SUF(p, len / B, B, B, o1, o2);                                            \
            return;                                                                           \
        }                                                                                     \
        double a1[16] = {0}, a2[16] = {0};                                                    \
        STATSL(p, len, a1, a2);                                                               \
        bn_fold(a1, a2, B, o1, o2);                                                           \
    }                                                                                         \
    /* lt: the block's lane table (bn_lane_table), for blocks dividing 16 */                \
    ATTR static void norm_##SUF(const float *x, float *y, int64_t len, int B,                 \
                                const float *scale, const float *shift, const float *lt,      \
                                int relu)                                                     \
    {                                                                                         \
        if (BN_LANES(B)) {                                                                    \
            NORML(x, y, len, lt + 16 * K_SCALE, lt + 16 * K_SHIFT, relu);                     \
            return;                                                                           \
        }                                                                                     \
        for (int64_t i = 0; i < len; i += B)                                                  \
            for (int b = 0; b < B; b++) {                                                     \
                float v = x[i + b] * scale[b] + shift[b];                                     \
                y[i + b] = relu && !(v > 0) ? 0.0f : v;                                       \
            }                                                                                 \
    }                                                                                         \
    ATTR static void bsums_##SUF(const float *x, const float *dy, int64_t len, int B,         \
                                 const float *scale, const float *shift, const float *mean,   \
                                 const float *inv, const float *lt, int relu, double *o1,     \
                                 double *o2)                                                  \
    {                                                                                         \
        enum { L = 16 };                                                                      \
        if (!BN_LANES(B)) { /* channels-last: 16 channels at a time over the item's rows */   \
            bn_wide(BROWS, x, dy, len / B, B, B, scale, shift, mean, inv, relu, o1, o2);      \
            return;                                                                           \
        }                                                                                     \
        double a1[L] = {0}, a2[L] = {0};                                                      \
        const float *lsc = lt + 16 * K_SCALE, *lsh = lt + 16 * K_SHIFT;                       \
        const float *lmu = lt + 16 * K_MEAN, *linv = lt + 16 * K_INV;                         \
        int64_t i = len / L * L;                                                              \
        BROWS(x, dy, len / L, L, lsc, lsh, lmu, linv, relu, a1, a2);                          \
        for (int j = 0; i < len; i++, j++) {                                                  \
            float xv = x[i], y = xv * lsc[j] + lsh[j];                                        \
            float d = relu && !(y > 0) ? 0.0f : dy[i];                                        \
            a1[j] += d;                                                                       \
            a2[j] += (double)d * (double)((xv - lmu[j]) * linv[j]);                           \
        }                                                                                     \
        bn_fold(a1, a2, B, o1, o2);                                                           \
    }                                                                                         \
    /* k: the K_N per-channel constant rows, cp floats apart, at the item's first channel */  \
    ATTR static void bdata_##SUF(const float *x, const float *dy, float *dx, int64_t len,     \
                                 int B, const float *k, int64_t cp, const float *lt, int relu, \
                                 int add)                                                     \
    {                                                                                         \
        const float *scale = k + K_SCALE * cp, *shift = k + K_SHIFT * cp;                     \
        const float *mean = k + K_MEAN * cp, *inv = k + K_INV * cp, *k1 = k + K_K1 * cp;      \
        const float *m1 = k + K_M1 * cp, *m2 = k + K_M2 * cp;                                 \
        if (BN_LANES(B)) {                                                                    \
            BDATAL(x, dy, dx, len, lt, relu, add);                                            \
            return;                                                                           \
        }                                                                                     \
        for (int64_t i = 0; i < len; i += B)                                                  \
            for (int b = 0; b < B; b++) {                                                     \
                float xv = x[i + b], d = dy[i + b];                                           \
                if (relu && !(xv * scale[b] + shift[b] > 0)) d = 0;                           \
                float r = k1[b] * (d - m1[b] - (xv - mean[b]) * inv[b] * m2[b]);              \
                dx[i + b] = add ? dx[i + b] + r : r;                                          \
            }                                                                                 \
    }

BN_ITEM_KERNELS(generic, , brows_c, statsl_c, norml_c, bdatal_c)
#if BN_X86
BN_ITEM_KERNELS(avx2, __attribute__((target("avx2,fma"))), brows_avx2, statsl_avx2, norml_avx2,
                bdatal_avx2)
BN_ITEM_KERNELS(avx512, BN_AVX512, brows_avx512, statsl_avx512, norml_avx512, bdatal_avx512)
#endif


static float *bn_consts(const hk_bnorm *g, double *scratch)
{
    return (float *)(scratch + bn_pieces(g) * g->b * 2 + 2 * bn_blocks(g) * g->b + 1);
}

/* Blocks dividing 16: rows [r0, r1) of the constants k as 16 lanes per block (lane j: channel
 * j % B), the block's K_N x 16 floats after the K_N rows of Cp; once per call, not per item
 * (an [N, C] tensor in 16-channel blocks has items of 16 floats). Returns the table. */
static float *bn_lane_table(const hk_bnorm *g, float *k, int r0, int r1)
{
    const int64_t nb = bn_blocks(g), cp = nb * g->b;
    float *lt = k + K_N * cp;
    if (BN_LANES(g->b))
        for (int64_t cb = 0; cb < nb; cb++)
            for (int r = r0; r < r1; r++)
                bn_lanes(k + r * cp + cb * g->b, (int)g->b, lt + (cb * K_N + r) * 16);
    return lt;
}

/* Channel c's 1/sqrt(var + eps), scale and shift: the one formula of bn_affine and
 * hk_bnorm_affine (a conv applying the BN as it reads must see bnorm's own y). */
static inline float bn_channel(const hk_bnorm *g, const float *gamma, const float *beta,
                               const float *mean, const float *var, int64_t c, float *scale,
                               float *shift)
{
    float inv = (float)(1.0 / sqrt((double)var[c] + g->eps));
    *scale = gamma[c] * inv;
    *shift = beta[c] - mean[c] * *scale;
    return inv;
}

/* The forward's scale and shift (float, the same in both passes), mean and 1/sqrt(var + eps). */
static void bn_affine(const hk_bnorm *g, const float *gamma, const float *beta, const float *mean,
                      const float *var, float *k)
{
    int64_t cp = bn_blocks(g) * g->b;
    memset(k, 0, (size_t)(K_N * cp) * sizeof *k);
    for (int64_t c = 0; c < g->c; c++) {
        k[K_INV * cp + c] = bn_channel(g, gamma, beta, mean, var, c, &k[K_SCALE * cp + c],
                                       &k[K_SHIFT * cp + c]);
        k[K_MEAN * cp + c] = mean[c];
    }
}

void hk_bnorm_affine(const hk_bnorm *g, const float *gamma, const float *beta, const float *mean,
                     const float *var, float *scale, float *shift)
{
    for (int64_t c = 0; c < g->c; c++)
        bn_channel(g, gamma, beta, mean, var, c, &scale[c], &shift[c]);
}

/* Per channel: the pieces' sums added in sample, then chunk order, into tot[0..Cp) and
 * tot[Cp..2Cp); channel blocks split over the threads (each channel's order is the same: the
 * bits do not change), from BN_TOTAL_PAR pieces (serial, it was 0.45 % of the contextual CNN's
 * 2-thread step samples, on one thread while the other waited). */
#define BN_TOTAL_PAR 512
static void bn_total(const hk_bnorm *g, const double *part, double *tot)
{
    int64_t nb = bn_blocks(g), cp = nb * g->b, nch = bn_chunks(g);
    BN_OMP("omp parallel for schedule(static) if (g->n * nb * nch >= BN_TOTAL_PAR)")
    for (int64_t cb = 0; cb < nb; cb++) {
        double *t1 = tot + cb * g->b, *t2 = tot + cp + cb * g->b;
        for (int64_t b = 0; b < g->b; b++) t1[b] = t2[b] = 0;
        for (int64_t n = 0; n < g->n; n++)
            for (int64_t ch = 0; ch < nch; ch++) {
                const double *q = part + (((n * nb + cb) * nch + ch) * g->b) * 2;
                for (int64_t b = 0; b < g->b; b++) {
                    t1[b] += q[b];
                    t2[b] += q[g->b + b];
                }
            }
    }
}

/* Piece it's forward sums (x: the whole tensor) into its slot of part. */
static void bn_stats_piece(const hk_bnorm *g, const float *x, int64_t it, double *part, int isa)
{
    int64_t len;
    const float *p = x + bn_piece(g, it, &len);
    double *q = part + it * g->b * 2;
    const int B = (int)g->b;
#if BN_X86
    if (isa >= HK_ISA_AVX512) stats_avx512(p, len, B, q, q + B);
    else if (isa == HK_ISA_AVX2) stats_avx2(p, len, B, q, q + B);
    else
#endif
        stats_generic(p, len, B, q, q + B);
    (void)isa;
}

/* The backward's sums of len floats of block cb's item (x and dy at the piece's first float)
 * into q; k: the constants (bn_affine), lt their lane table (bn_lane_table, rows
 * K_SCALE..K_INV). */
static void bn_bsums_at(const hk_bnorm *g, const float *x, const float *dy, int64_t len,
                        int64_t cb, const float *k, const float *lt, double *q, int isa)
{
    int64_t cp = bn_blocks(g) * g->b, c0 = cb * g->b;
    const float *sc = k + K_SCALE * cp + c0, *sh = k + K_SHIFT * cp + c0;
    const float *mu = k + K_MEAN * cp + c0, *inv = k + K_INV * cp + c0, *l = lt + cb * K_N * 16;
    const int B = (int)g->b;
#if BN_X86
    if (isa >= HK_ISA_AVX512)
        bsums_avx512(x, dy, len, B, sc, sh, mu, inv, l, g->relu, q, q + B);
    else if (isa == HK_ISA_AVX2)
        bsums_avx2(x, dy, len, B, sc, sh, mu, inv, l, g->relu, q, q + B);
    else
#endif
        bsums_generic(x, dy, len, B, sc, sh, mu, inv, l, g->relu, q, q + B);
    (void)isa;
}

/* Piece it's backward sums (x, dy: the whole tensors) into its slot of part. */
static void bn_bsums_piece(const hk_bnorm *g, const float *x, const float *dy, int64_t it,
                           const float *k, const float *lt, double *part, int isa)
{
    int64_t len, off = bn_piece(g, it, &len);
    bn_bsums_at(g, x + off, dy + off, len, it / bn_chunks(g) % bn_blocks(g), k, lt,
                part + it * g->b * 2, isa);
}

/* The pieces of rows [r0, r1) of sample n (every block): r0 a multiple of HK_BNORM_CHUNK, r1
 * the end of a chunk; fn(it) for each. */
#define BN_ROWS_PIECES(g, n, r0, r1, it, body)                                                 \
    do {                                                                                      \
        int64_t nch_ = bn_chunks(g), nb_ = bn_blocks(g);                                      \
        for (int64_t cb_ = 0; cb_ < nb_; cb_++)                                               \
            for (int64_t ch_ = (r0) / HK_BNORM_CHUNK; ch_ * HK_BNORM_CHUNK < (r1); ch_++) {   \
                int64_t it = ((n) * nb_ + cb_) * nch_ + ch_;                                  \
                body;                                                                         \
            }                                                                                 \
    } while (0)

void hk_bnorm_stats_rows(const hk_bnorm *g, const float *x, int64_t n, int64_t r0, int64_t r1,
                         double *scratch)
{
    int isa = bn_isa();
    BN_ROWS_PIECES(g, n, r0, r1, it, bn_stats_piece(g, x, it, scratch, isa));
}

void hk_bnorm_backward_begin(const hk_bnorm *g, const float *gamma, const float *beta,
                             const float *mean, const float *var, double *scratch)
{
    float *k = bn_consts(g, scratch);
    bn_affine(g, gamma, beta, mean, var, k);
    bn_lane_table(g, k, K_SCALE, K_INV + 1);
}

void hk_bnorm_bsums_rows(const hk_bnorm *g, const float *x, const float *dy, int64_t n,
                         int64_t r0, int64_t r1, double *scratch)
{
    int isa = bn_isa();
    float *k = bn_consts(g, scratch);
    const float *lt = k + K_N * bn_blocks(g) * g->b;
    BN_ROWS_PIECES(g, n, r0, r1, it, bn_bsums_piece(g, x, dy, it, k, lt, scratch, isa));
}

/* tot (channels at [0, Cp) and [Cp, 2Cp)) and the count m summed over the processes. */
static double bn_reduce(const hk_bnorm *g, double *tot, double m, hk_bnorm_reduce reduce,
                        void *ctx)
{
    int64_t cp = bn_blocks(g) * g->b;
    if (!reduce) return m;
    for (int64_t c = 0; c < g->c; c++) tot[g->c + c] = tot[cp + c];   /* compact: 2C + 1 */
    tot[2 * g->c] = m;
    reduce(tot, (int)(2 * g->c + 1), ctx);
    m = tot[2 * g->c];
    for (int64_t c = g->c - 1; c >= 0; c--) tot[cp + c] = tot[g->c + c];
    return m;
}

void hk_bnorm_forward(const hk_bnorm *g, const float *x, const float *gamma, const float *beta,
                      float *y, float *mean, float *var, double *count, int summed,
                      double *scratch, hk_bnorm_reduce reduce, void *ctx)
{
    const int64_t nb = bn_blocks(g), cp = nb * g->b, pieces = bn_pieces(g);
    const int isa = bn_isa();
    double *part = scratch, *tot = scratch + pieces * g->b * 2;
    if (hk_bnorm_columns(g)) {
        /* [N, C]: 16 channels per work item over every sample, straight into the totals (the
         * same additions in the same order as per sample and bn_total) */
        BN_OMP("omp parallel for schedule(static)")
        for (int64_t c0 = 0; c0 < g->c; c0 += 16) {
            int W = g->c - c0 < 16 ? (int)(g->c - c0) : 16;
#if BN_X86
            if (isa >= HK_ISA_AVX512) scols_avx512(x + c0, g->n, g->c, W, tot + c0, tot + cp + c0);
            else if (isa == HK_ISA_AVX2) scols_avx2(x + c0, g->n, g->c, W, tot + c0, tot + cp + c0);
            else
#endif
                scols_generic(x + c0, g->n, g->c, W, tot + c0, tot + cp + c0);
        }
    } else {
        if (!summed) {
            BN_OMP("omp parallel for schedule(static)")
            for (int64_t it = 0; it < pieces; it++) bn_stats_piece(g, x, it, part, isa);
        }
        bn_total(g, part, tot);
    }
    double m = bn_reduce(g, tot, (double)(g->n * g->s), reduce, ctx);
    *count = m;
    for (int64_t c = 0; c < g->c; c++) {
        double mu = tot[c] / m, v = tot[cp + c] / m - mu * mu;
        mean[c] = (float)mu;
        var[c] = (float)(v > 0 ? v : 0);
    }
    if (y) hk_bnorm_apply(g, x, gamma, beta, mean, var, y, scratch);
}

/* ---- a global max pool reading the BN's output (hk_bnorm_apply_gmax, _backward_gmax) ------
 * The pool's gradient is one value per sample and channel, at its argmax position: each piece
 * of dy the BN's passes read is built in a thread's buffer of BN_GMAX_FLOATS (zeros and those
 * values, what the pool's backward would have written there), so no dy tensor is written or
 * read; y likewise goes through the buffer into the running max. */
#define BN_GMAX_FLOATS 8192
#ifdef __GNUC__
#define BN_ALIGN64 __attribute__((aligned(64)))
#else
#define BN_ALIGN64
#endif

typedef struct bn_gsrc {
    const float *v;               /* [N, C] the pool's output gradient */
    const int32_t *arg;           /* [N, C] the position of each max */
} bn_gsrc;

int hk_bnorm_gmax_ok(const hk_bnorm *g)
{
    int64_t rows = g->s < HK_BNORM_CHUNK ? g->s : HK_BNORM_CHUNK;
    return !hk_bnorm_columns(g) && rows * g->b <= BN_GMAX_FLOATS;
}

/* dy of item it's rows [r0, r0 + rn) into buf: the pool's gradient at each channel's argmax
 * there, 0 elsewhere (padded channels too) */
static void bn_gmax_dy(const hk_bnorm *g, const bn_gsrc *gs, int64_t it, int64_t r0, int64_t rn,
                       float *buf)
{
    int64_t nb = bn_blocks(g), n = it / nb, c0 = it % nb * g->b;
    int64_t cn = g->c - c0 < g->b ? g->c - c0 : g->b;
    memset(buf, 0, (size_t)(rn * g->b) * sizeof *buf);
    for (int64_t b = 0; b < cn; b++) {
        int64_t p = gs->arg[n * g->c + c0 + b];
        if (p >= r0 && p < r0 + rn) buf[(p - r0) * g->b + b] = gs->v[n * g->c + c0 + b];
    }
}

/* rows of an item a buffer of BN_GMAX_FLOATS holds (B | 16: a multiple of 16 floats) */
static int64_t bn_gmax_rows(const hk_bnorm *g)
{
    int64_t r = BN_GMAX_FLOATS / g->b;
    return r < g->s ? r : g->s;
}

/* The backward's data pass over len floats of an item of block c0 / B (x, dy, dx at its first
 * float); k: every constant row, lt the block's lanes. */
static void bn_bdata_at(const hk_bnorm *g, const float *x, const float *dy, float *dx,
                        int64_t len, int64_t c0, const float *k, const float *l, int add, int isa)
{
    const int64_t cp = bn_blocks(g) * g->b;
    const int B = (int)g->b;
#if BN_X86
    if (isa >= HK_ISA_AVX512)
        bdata_avx512(x, dy, dx, len, B, k + c0, cp, l, g->relu, add);
    else if (isa == HK_ISA_AVX2)
        bdata_avx2(x, dy, dx, len, B, k + c0, cp, l, g->relu, add);
    else
#endif
        bdata_generic(x, dy, dx, len, B, k + c0, cp, l, g->relu, add);
    (void)isa;
}

/* hk_bnorm_backward, dy either given or (gs not NULL) built piece by piece (not for the [N, C]
 * path: hk_bnorm_gmax_ok) */
static void bn_backward(const hk_bnorm *g, const float *x, const float *gamma, const float *beta,
                        const float *mean, const float *var, const float *dy, const bn_gsrc *gs,
                        float *dx, int add, float *dgamma, float *dbeta, int summed,
                        double *scratch, hk_bnorm_reduce reduce, void *ctx)
{
    const int64_t nb = bn_blocks(g), cp = nb * g->b, len = g->s * g->b, items = g->n * nb;
    const int B = (int)g->b, isa = bn_isa();
    const int64_t pieces = bn_pieces(g), nch = bn_chunks(g);
    double *part = scratch, *tot = scratch + pieces * g->b * 2;
    float *k = bn_consts(g, scratch);
    bn_affine(g, gamma, beta, mean, var, k);
    const float *sc = k + K_SCALE * cp, *sh = k + K_SHIFT * cp, *mu = k + K_MEAN * cp;
    const float *inv = k + K_INV * cp;
    if (hk_bnorm_columns(g)) {
        /* [N, C]: 16 channels per work item over every sample (float runs of BN_RUN samples,
         * then double), straight into the totals */
        bn_rows_fn *rows_fn = brows_c;
#if BN_X86
        if (isa >= HK_ISA_AVX512) rows_fn = brows_avx512;
        else if (isa == HK_ISA_AVX2) rows_fn = brows_avx2;
#endif
        BN_OMP("omp parallel for schedule(static)")
        for (int64_t c0 = 0; c0 < g->c; c0 += 16)
            bn_wide(rows_fn, x + c0, dy + c0, g->n, g->c, g->c - c0 < 16 ? (int)(g->c - c0) : 16,
                    sc + c0, sh + c0, mu + c0, inv + c0, g->relu, tot + c0, tot + cp + c0);
    } else {
        const float *lt = bn_lane_table(g, k, K_SCALE, K_INV + 1);
        if (gs) {
            BN_OMP("omp parallel for schedule(static)")
            for (int64_t it = 0; it < pieces; it++) {
                BN_ALIGN64 float buf[BN_GMAX_FLOATS];
                int64_t plen, off = bn_piece(g, it, &plen), r0 = it % nch * HK_BNORM_CHUNK;
                bn_gmax_dy(g, gs, it / nch, r0, plen / g->b, buf);
                bn_bsums_at(g, x + off, buf, plen, it / nch % nb, k, lt, part + it * g->b * 2,
                            isa);
            }
        } else if (!summed) {
            BN_OMP("omp parallel for schedule(static)")
            for (int64_t it = 0; it < pieces; it++)
                bn_bsums_piece(g, x, dy, it, k, lt, part, isa);
        }
        bn_total(g, part, tot);
    }
    /* dgamma, dbeta: this process's sums (the trainer adds the processes' gradients) */
    for (int64_t c = 0; c < g->c; c++) {
        if (dbeta) dbeta[c] += (float)tot[c];
        if (dgamma) dgamma[c] += (float)tot[cp + c];
    }
    if (!dx) return;
    double m = bn_reduce(g, tot, (double)(g->n * g->s), reduce, ctx);   /* dx: the global sums */
    float *k1 = k + K_K1 * cp, *m1 = k + K_M1 * cp, *m2 = k + K_M2 * cp;
    for (int64_t c = 0; c < g->c; c++) {
        k1[c] = sc[c];
        m1[c] = (float)(tot[c] / m);
        m2[c] = (float)(tot[cp + c] / m);
    }
    const float *lt = bn_lane_table(g, k, K_SCALE, K_N);
    const int64_t rows = gs ? bn_gmax_rows(g) : g->s;
    BN_OMP("omp parallel for schedule(static)")
    for (int64_t it = 0; it < items; it++) {
        int64_t c0 = (it % nb) * B;
        const float *l = lt + (it % nb) * K_N * 16;
        if (!gs) {
            bn_bdata_at(g, x + it * len, dy + it * len, dx + it * len, len, c0, k, l, add, isa);
            continue;
        }
        BN_ALIGN64 float buf[BN_GMAX_FLOATS];
        for (int64_t r0 = 0; r0 < g->s; r0 += rows) {   /* element-wise: any split of rows */
            int64_t rn = g->s - r0 < rows ? g->s - r0 : rows, off = it * len + r0 * B;
            bn_gmax_dy(g, gs, it, r0, rn, buf);
            bn_bdata_at(g, x + off, buf, dx + off, rn * B, c0, k, l, add, isa);
        }
    }
}

void hk_bnorm_backward(const hk_bnorm *g, const float *x, const float *gamma, const float *beta,
                       const float *mean, const float *var, const float *dy, float *dx,
                       int add, float *dgamma, float *dbeta, int summed, double *scratch,
                       hk_bnorm_reduce reduce, void *ctx)
{
    bn_backward(g, x, gamma, beta, mean, var, dy, NULL, dx, add, dgamma, dbeta, summed, scratch,
                reduce, ctx);
}

void hk_bnorm_backward_gmax(const hk_bnorm *g, const float *x, const float *gamma,
                            const float *beta, const float *mean, const float *var,
                            const float *dmax, const int32_t *arg, float *dx, float *dgamma,
                            float *dbeta, double *scratch, hk_bnorm_reduce reduce, void *ctx)
{
    const bn_gsrc gs = {dmax, arg};
    bn_backward(g, x, gamma, beta, mean, var, NULL, &gs, dx, 0, dgamma, dbeta, 0, scratch, reduce,
                ctx);
}

/* The normalise pass's constants (bn_affine) in scratch, and their lane table in *lt. */
static const float *bn_norm_begin(const hk_bnorm *g, const float *gamma, const float *beta,
                                  const float *mean, const float *var, double *scratch,
                                  const float **lt)
{
    float *k = bn_consts(g, scratch);
    bn_affine(g, gamma, beta, mean, var, k);
    *lt = bn_lane_table(g, k, K_SCALE, K_SHIFT + 1);
    return k;
}

/* The normalise pass over len floats of an item of block c0 / B (x, y at its first float);
 * k: bn_norm_begin's constants, l the block's lanes. */
static void bn_norm_at(const hk_bnorm *g, const float *x, float *y, int64_t len, int64_t c0,
                       const float *k, const float *l, int isa)
{
    const int64_t cp = bn_blocks(g) * g->b;
    const float *sc = k + K_SCALE * cp, *sh = k + K_SHIFT * cp;
    const int B = (int)g->b;
#if BN_X86
    if (isa >= HK_ISA_AVX512)
        norm_avx512(x, y, len, B, sc + c0, sh + c0, l, g->relu);
    else if (isa == HK_ISA_AVX2)
        norm_avx2(x, y, len, B, sc + c0, sh + c0, l, g->relu);
    else
#endif
        norm_generic(x, y, len, B, sc + c0, sh + c0, l, g->relu);
    (void)isa;
}

void hk_bnorm_apply_gmax(const hk_bnorm *g, const float *x, const float *gamma, const float *beta,
                         const float *mean, const float *var, float *ymax, int32_t *arg,
                         double *scratch)
{
    const int64_t nb = bn_blocks(g), len = g->s * g->b, items = g->n * nb;
    const int64_t B = g->b, rows = bn_gmax_rows(g);
    const int isa = bn_isa();
    const float *lt, *k = bn_norm_begin(g, gamma, beta, mean, var, scratch, &lt);
    BN_OMP("omp parallel for schedule(static)")
    for (int64_t it = 0; it < items; it++) {
        BN_ALIGN64 float buf[BN_GMAX_FLOATS];
        int64_t n = it / nb, c0 = (it % nb) * B, cn = g->c - c0 < B ? g->c - c0 : B;
        float *restrict m = ymax + n * g->c + c0;
        int32_t *restrict a = arg + n * g->c + c0;
        for (int64_t r0 = 0; r0 < g->s; r0 += rows) {
            int64_t rn = g->s - r0 < rows ? g->s - r0 : rows;
            bn_norm_at(g, x + it * len + r0 * B, buf, rn * B, c0, k, lt + (it % nb) * K_N * 16,
                       isa);
            for (int64_t r = 0; r < rn; r++) {
                const float *restrict v = buf + r * B;
                int32_t p = (int32_t)(r0 + r);
                if (p == 0) {   /* the first position, then a strict > (the pool's ties) */
                    for (int64_t b = 0; b < cn; b++) m[b] = v[b], a[b] = 0;
                    continue;
                }
                BN_OMP("omp simd")
                for (int64_t b = 0; b < cn; b++) {   /* branch-free (vectorised) */
                    float vb = v[b], mb = m[b];
                    int32_t gt = -(int32_t)(vb > mb);   /* all ones where v wins */
                    m[b] = vb > mb ? vb : mb;
                    a[b] = (p & gt) | (a[b] & ~gt);
                }
            }
        }
    }
}

void hk_bnorm_apply(const hk_bnorm *g, const float *x, const float *gamma, const float *beta,
                    const float *mean, const float *var, float *y, double *scratch)
{
    const int64_t nb = bn_blocks(g), len = g->s * g->b, items = g->n * nb;
    const int isa = bn_isa();
    const float *lt, *k = bn_norm_begin(g, gamma, beta, mean, var, scratch, &lt);
    BN_OMP("omp parallel for schedule(static)")
    for (int64_t it = 0; it < items; it++)
        bn_norm_at(g, x + it * len, y + it * len, len, (it % nb) * g->b, k,
                   lt + (it % nb) * K_N * 16, isa);
}
