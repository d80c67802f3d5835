/* smallconv.c — 2-D convolutions with few output pixels on a plain NCHW input (see
 * smallconv.h). Forward: blocks of MR rows x NR output channels held in registers, each input
 * value broadcast once per NR/16 (AVX-512) or NR/8 (AVX2) FMAs; the reduction in chunks of KC
 * (the chunk of packed weights, [OC/NR][K][NR], packed at every call, stays in L1 over all
 * rows), the partial sums in y itself when OC is a multiple of NR (the rows of a last partial
 * block in a [MR][OC] buffer), else in a padded [rows][OC] buffer. Weights' gradient: blocks
 * of MR reduction indices x NR channels over chunks of RC rows (that chunk of dy, packed
 * [rows][NR] per channel block into a buffer of each thread's, db summed on the way, stays in
 * L1 over the whole reduction), partial sums in a [OC/NR][K][NR] buffer added to dw at the
 * end; db, dy's packing and dw in one OpenMP region.
 * Blocks (sc_blk_of): AVX2 and portable C 6 x 16 (12 ymm accumulators), KC 240, RC 128;
 * AVX-512 6 x 64 (24 zmm accumulators), the forward row block by row block over the whole
 * reduction (up to 1 MB of packed weights a chunk, in L2), RC 128. Kernel alone, 1 thread, batch
 * 128, % of the 213 GFLOP/s AVX-512 peak (AVX2 path in brackets): bank1 (1x1, 200 -> 128 over
 * 5x5) forward 78-82 (49), weights' gradient 70-72 (43); bank3 (3x3, 5x5 -> 3x3) 80-84 (47)
 * and 80-83 (50).
 */
#include "smallconv.h"
#include "tapconv.h"

#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#define SC_OMP(x) _Pragma(x)
static int sc_thread(void) { return omp_get_thread_num(); }
static int sc_nthreads(void) { return omp_get_num_threads(); }
#else
#define SC_OMP(x)
static int sc_thread(void) { return 0; }
static int sc_nthreads(void) { return 1; }
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SC_X86 1
#define SC_ALIGN64 __attribute__((aligned(64)))
#else
#define SC_X86 0
#define SC_ALIGN64
#endif

#define SC_MR 6                     /* rows (forward) or reduction indices (weights) per block */
#define SC_NR 16                    /* output channels per block */
#define SC_KC 240                   /* reduction indices per forward chunk */
#define SC_RC 128                   /* rows per weights' gradient chunk */
#define SC_L2 (256 * 1024)          /* bytes of input a forward chunk may read to stay in L2 */

/* the AVX-512 blocks: SC5_MR x SC5_NR (SC5_NV zmm; 6 x 64 beat 12 x 32 and 8 x 32 by 3-10
 * points of the peak); the forward's reduction in chunks of up to SC5_WL2 bytes of packed
 * weights (in L2), the weights' gradient's rows in chunks of SC5_RC (that chunk of packed dy,
 * SC5_RC x SC5_NR floats, in L1; 64 to 512 alike) */
#define SC5_MR 6
#define SC5_NV 4
#define SC5_NR (16 * SC5_NV)
#define SC5_WL2 (1024 * 1024)
#define SC5_RC 128
#define SC_MRMAX 16                 /* the most rows a block of any path has */

static int64_t sc_rows(const hk_sc *g) { return g->n * g->oh * g->ow; }
static int64_t sc_k(const hk_sc *g) { return g->c * g->kh * g->kw; }
static int64_t sc_ocp(const hk_sc *g, int64_t nr) { return (g->oc + nr - 1) / nr * nr; }

void hk_sc_init(hk_sc *g)
{
    int64_t hw = g->h * g->w, rows = sc_rows(g), k = sc_k(g);
    for (int64_t r = 0; r < rows; r++) {
        int64_t n = r / (g->oh * g->ow), y = r / g->ow % g->oh, x = r % g->ow;
        g->rowoff[r] = n * g->c * hw + y * g->sh * g->w + x * g->sw;
    }
    for (int64_t i = 0; i < k; i++) {
        int64_t c = i / (g->kh * g->kw), ky = i / g->kw % g->kh, kx = i % g->kw;
        g->koff[i] = c * hw + ky * g->w + kx;
    }
}

static int64_t sc_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* ---- micro-kernels: a 6 x 16 block, acc[q][o] at acc + q * lda + o ------------------------ */

/* acc[q][:] = init[q][:] + sum_{i < k} a[q][koff[i]] * wpan[i][:] (init at stride ldi) */
static void sc_fwd_c(const float *const *a, const int64_t *koff, int64_t k, const float *wpan,
                     const float *init, int64_t ldi, float *acc, int64_t lda)
{
    float t[SC_MR][SC_NR];
    for (int q = 0; q < SC_MR; q++)
        for (int o = 0; o < SC_NR; o++) t[q][o] = init[q * ldi + o];
    for (int64_t i = 0; i < k; i++) {
        const float *wr = wpan + i * SC_NR;
        for (int q = 0; q < SC_MR; q++) {
            float v = a[q][koff[i]];
            for (int o = 0; o < SC_NR; o++) t[q][o] += v * wr[o];
        }
    }
    for (int q = 0; q < SC_MR; q++)
        for (int o = 0; o < SC_NR; o++) acc[q * lda + o] = t[q][o];
}

/* acc[q][:] = (zero ? 0 : acc[q][:]) + sum_{r < rows} x[rowoff[r] + ko[q]] * dpan[r][:]
 * (acc contiguous 6 x 16) */
static void sc_bww_c(const float *x, const int64_t *rowoff, int64_t rows, const int64_t *ko,
                     const float *dpan, int zero, float *acc)
{
    float t[SC_MR][SC_NR];
    if (zero) memset(t, 0, sizeof t);
    else memcpy(t, acc, sizeof t);
    for (int64_t r = 0; r < rows; r++) {
        const float *p = x + rowoff[r], *d = dpan + r * SC_NR;
        for (int q = 0; q < SC_MR; q++) {
            float v = p[ko[q]];
            for (int o = 0; o < SC_NR; o++) t[q][o] += v * d[o];
        }
    }
    memcpy(acc, t, sizeof t);
}

#if SC_X86 && defined(__GNUC__)
#define SC_AVX2 __attribute__((target("avx2,fma")))
#define SC_ROW(q, v, w0, w1)                                                                   \
    c##q##0 = _mm256_fmadd_ps(v, w0, c##q##0);                                                 \
    c##q##1 = _mm256_fmadd_ps(v, w1, c##q##1)
/* one reduction step of the 6 x 16 block: the 6 broadcast values at p0..p5 times w0, w1 */
#define SC_6(p0, p1, p2, p3, p4, p5, w0, w1)                                                   \
    do {                                                                                       \
        __m256 v = _mm256_broadcast_ss(p0);                                                    \
        SC_ROW(0, v, w0, w1);                                                                  \
        v = _mm256_broadcast_ss(p1);                                                           \
        SC_ROW(1, v, w0, w1);                                                                  \
        v = _mm256_broadcast_ss(p2);                                                           \
        SC_ROW(2, v, w0, w1);                                                                  \
        v = _mm256_broadcast_ss(p3);                                                           \
        SC_ROW(3, v, w0, w1);                                                                  \
        v = _mm256_broadcast_ss(p4);                                                           \
        SC_ROW(4, v, w0, w1);                                                                  \
        v = _mm256_broadcast_ss(p5);                                                           \
        SC_ROW(5, v, w0, w1);                                                                  \
    } while (0)
#define SC_LOAD(q, p, ld)                                                                      \
    __m256 c##q##0 = _mm256_loadu_ps((p) + (q) * (ld)), c##q##1 = _mm256_loadu_ps((p) + (q) * (ld) + 8)
#define SC_STORE(q, p, ld)                                                                     \
    _mm256_storeu_ps((p) + (q) * (ld), c##q##0);                                               \
    _mm256_storeu_ps((p) + (q) * (ld) + 8, c##q##1)

SC_AVX2 static void sc_fwd_avx2(const float *const *a, const int64_t *koff, int64_t k,
                                const float *wpan, const float *init, int64_t ldi, float *acc,
                                int64_t lda)
{
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    SC_LOAD(0, init, ldi); SC_LOAD(1, init, ldi); SC_LOAD(2, init, ldi);
    SC_LOAD(3, init, ldi); SC_LOAD(4, init, ldi); SC_LOAD(5, init, ldi);
    for (int64_t i = 0; i < k; i++) {
        int64_t o = koff[i];
        __m256 w0 = _mm256_loadu_ps(wpan + i * SC_NR), w1 = _mm256_loadu_ps(wpan + i * SC_NR + 8);
        SC_6(a0 + o, a1 + o, a2 + o, a3 + o, a4 + o, a5 + o, w0, w1);
    }
    SC_STORE(0, acc, lda); SC_STORE(1, acc, lda); SC_STORE(2, acc, lda);
    SC_STORE(3, acc, lda); SC_STORE(4, acc, lda); SC_STORE(5, acc, lda);
}

SC_AVX2 static void sc_bww_avx2(const float *x, const int64_t *rowoff, int64_t rows,
                                const int64_t *ko, const float *dpan, int zero, float *acc)
{
    int64_t o0 = ko[0], o1 = ko[1], o2 = ko[2], o3 = ko[3], o4 = ko[4], o5 = ko[5];
    static const float zeros[SC_NR] = {0};
    const float *a = zero ? zeros : acc;
    int64_t lda = zero ? 0 : SC_NR;
    SC_LOAD(0, a, lda); SC_LOAD(1, a, lda); SC_LOAD(2, a, lda);
    SC_LOAD(3, a, lda); SC_LOAD(4, a, lda); SC_LOAD(5, a, lda);
    for (int64_t r = 0; r < rows; r++) {
        const float *p = x + rowoff[r];
        __m256 w0 = _mm256_loadu_ps(dpan + r * SC_NR), w1 = _mm256_loadu_ps(dpan + r * SC_NR + 8);
        SC_6(p + o0, p + o1, p + o2, p + o3, p + o4, p + o5, w0, w1);
    }
    SC_STORE(0, acc, SC_NR); SC_STORE(1, acc, SC_NR); SC_STORE(2, acc, SC_NR);
    SC_STORE(3, acc, SC_NR); SC_STORE(4, acc, SC_NR); SC_STORE(5, acc, SC_NR);
}

/* AVX-512: a SC5_MR x SC5_NR block (SC5_NV zmm a row) in 24 zmm accumulators, each input value
 * broadcast once per SC5_NV FMAs, 4 + 6 loads per 24 FMAs (the load ports stay under half
 * busy); the arrays below are unrolled into registers (checked in the assembly: no spills). */
#define SC_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
SC_AVX512 static void sc_fwd_avx512(const float *const *a, const int64_t *koff, int64_t k,
                                    const float *wpan, const float *init, int64_t ldi,
                                    float *acc, int64_t lda)
{
    __m512 c[SC5_MR][SC5_NV];
    const float *ap[SC5_MR];
#pragma GCC unroll 16
    for (int q = 0; q < SC5_MR; q++) {
        ap[q] = a[q];
#pragma GCC unroll 16
        for (int v = 0; v < SC5_NV; v++) c[q][v] = _mm512_loadu_ps(init + q * ldi + 16 * v);
    }
#pragma GCC unroll 2
    for (int64_t i = 0; i < k; i++) {
        int64_t o = koff[i];
        __m512 w[SC5_NV];
#pragma GCC unroll 16
        for (int v = 0; v < SC5_NV; v++) w[v] = _mm512_loadu_ps(wpan + i * SC5_NR + 16 * v);
#pragma GCC unroll 16
        for (int q = 0; q < SC5_MR; q++) {
            __m512 bc = _mm512_set1_ps(ap[q][o]);
#pragma GCC unroll 16
            for (int v = 0; v < SC5_NV; v++) c[q][v] = _mm512_fmadd_ps(bc, w[v], c[q][v]);
        }
    }
#pragma GCC unroll 16
    for (int q = 0; q < SC5_MR; q++)
#pragma GCC unroll 16
        for (int v = 0; v < SC5_NV; v++) _mm512_storeu_ps(acc + q * lda + 16 * v, c[q][v]);
}

SC_AVX512 static void sc_bww_avx512(const float *x, const int64_t *rowoff, int64_t rows,
                                    const int64_t *ko, const float *dpan, int zero, float *acc)
{
    __m512 c[SC5_MR][SC5_NV];
    int64_t o[SC5_MR];
#pragma GCC unroll 16
    for (int q = 0; q < SC5_MR; q++) {
        o[q] = ko[q];
#pragma GCC unroll 16
        for (int v = 0; v < SC5_NV; v++)
            c[q][v] = zero ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + q * SC5_NR + 16 * v);
    }
#pragma GCC unroll 2
    for (int64_t r = 0; r < rows; r++) {
        const float *p = x + rowoff[r];
        __m512 w[SC5_NV];
#pragma GCC unroll 16
        for (int v = 0; v < SC5_NV; v++) w[v] = _mm512_loadu_ps(dpan + r * SC5_NR + 16 * v);
#pragma GCC unroll 16
        for (int q = 0; q < SC5_MR; q++) {
            __m512 bc = _mm512_set1_ps(p[o[q]]);
#pragma GCC unroll 16
            for (int v = 0; v < SC5_NV; v++) c[q][v] = _mm512_fmadd_ps(bc, w[v], c[q][v]);
        }
    }
#pragma GCC unroll 16
    for (int q = 0; q < SC5_MR; q++)
#pragma GCC unroll 16
        for (int v = 0; v < SC5_NV; v++) _mm512_storeu_ps(acc + q * SC5_NR + 16 * v, c[q][v]);
}
#define SC_HAVE512 1
#else
#define sc_fwd_avx2 sc_fwd_c
#define sc_bww_avx2 sc_bww_c
#define sc_fwd_avx512 sc_fwd_c
#define sc_bww_avx512 sc_bww_c
#define SC_HAVE512 0
#endif

/* the path: HK_ISA_AVX512, HK_ISA_AVX2 (+ FMA) or HK_ISA_GENERIC (hk_isa, HSICC_KERNEL_ISA) */
static int sc_path(void)
{
    int isa = hk_isa();
    return isa >= HK_ISA_AVX512 && SC_HAVE512 ? HK_ISA_AVX512
           : isa >= HK_ISA_AVX2               ? HK_ISA_AVX2
                                              : HK_ISA_GENERIC;
}

int hk_sc_isa(void) { return sc_path(); }

/* a path's blocking and micro-kernels */
typedef struct sc_blk {
    int64_t mr, nr, kc, rc;   /* kc 0: the AVX-512 forward's order (hk_sc_forward) */
    void (*fwd)(const float *const *, const int64_t *, int64_t, const float *, const float *,
                int64_t, float *, int64_t);
    void (*bww)(const float *, const int64_t *, int64_t, const int64_t *, const float *, int,
                float *);
} sc_blk;

static sc_blk sc_blk_of(int path)
{
    sc_blk b = {SC_MR, SC_NR, SC_KC, SC_RC, sc_fwd_c, sc_bww_c};
    if (path == HK_ISA_AVX2) b.fwd = sc_fwd_avx2, b.bww = sc_bww_avx2;
    if (path == HK_ISA_AVX512)
        b = (sc_blk){SC5_MR, SC5_NR, 0, SC5_RC, sc_fwd_avx512, sc_bww_avx512};
    return b;
}

/* forward: packed weights, bias, padded partial sums; weights' gradient: partial sums of dw
 * (the two never coexist; dy is packed chunk by chunk into a buffer of each thread's) */
size_t hk_sc_scratch_floats(const hk_sc *g)
{
    size_t most = 0;
    for (int path = 0; path < 3; path += 2) {   /* generic and AVX2 block alike */
        sc_blk bl = sc_blk_of(path);
        size_t ocp = (size_t)sc_ocp(g, bl.nr), k = (size_t)sc_k(g), rows = (size_t)sc_rows(g);
        size_t fwd = ocp * k + ocp + (size_t)sc_up((int64_t)rows, bl.mr) * ocp;
        size_t bwd = ocp * (size_t)sc_up((int64_t)k, bl.mr);
        most = fwd > most ? fwd : most;
        most = bwd > most ? bwd : most;
    }
    return most;
}

/* ---- the calls ------------------------------------------------------------------------------ */

void hk_sc_forward(const hk_sc *g, const float *x, const float *w, const float *b, float *y,
                   float *scratch)
{
    sc_blk bl = sc_blk_of(sc_path());
    const int64_t MR = bl.mr, NR = bl.nr;
    int64_t KC = bl.kc;
    int64_t k = sc_k(g), rows = sc_rows(g), ocp = sc_ocp(g, NR), nob = ocp / NR;
    int64_t nrb = sc_up(rows, MR) / MR;
    float *wp = scratch, *bp = scratch + ocp * k, *tail = bp + ocp;
    /* y itself when no channel is padding, but for the rows of a last partial block (in tail) */
    int direct = ocp == g->oc;
    float *yp = direct ? y : tail;
    int64_t tail_r0 = direct && rows % MR ? rows / MR * MR : rows;
    /* in tiles of 16 reduction indices (the tile's NR x 16 floats of wp in L1: a whole
     * column of wp at a time took 10 % of bank3's AVX-512 forward) */
    SC_OMP("omp parallel for schedule(static)")
    for (int64_t ob = 0; ob < nob; ob++)
        for (int64_t i0 = 0; i0 < k; i0 += 16) {
            int64_t in = k - i0 < 16 ? k - i0 : 16;
            for (int64_t o = 0; o < NR; o++) {
                int64_t oc = ob * NR + o;
                float *d = wp + (ob * k + i0) * NR + o;
                for (int64_t i = 0; i < in; i++) d[i * NR] = oc < g->oc ? w[oc * k + i0 + i] : 0.f;
            }
        }
    for (int64_t o = 0; o < ocp; o++) bp[o] = g->bias && b && o < g->oc ? b[o] : 0.f;
    /* AVX2 and C: the input a chunk reads: when it fits in L2, the output blocks go round it
     * channel block by channel block (the chunk of weights stays in L1); else row block by
     * row block (the rows' input stays in L1 over all channel blocks). AVX-512: row block by
     * row block over chunks of up to SC5_WL2 bytes of packed weights (all of both banks'),
     * the weights streaming from L2: the partial sums go to memory and back once a chunk,
     * and on the 6 x 64 block that cost more than the weights' L2 traffic (bank3's forward
     * 83 % of the peak in one chunk, 78 % in chunks of 128 in L1 channel block by channel
     * block; bank1's 80 % and 73 %: paired runs of the kernel alone). */
    int rows_outer;
    if (bl.kc) {
        int64_t chunk = KC < k ? KC : k, planes = (chunk + g->kh * g->kw - 1) / (g->kh * g->kw);
        rows_outer = planes * g->h * g->w * g->n * (int64_t)sizeof(float) > SC_L2;
    } else {
        rows_outer = 1;
        KC = SC5_WL2 / (ocp * (int64_t)sizeof(float));
        KC = KC < 16 ? 16 : KC;
    }
    SC_OMP("omp parallel")
    for (int64_t k0 = 0; k0 < k; k0 += KC) {
        int64_t kn = k - k0 < KC ? k - k0 : KC;
        for (int64_t ob0 = 0; ob0 < (rows_outer ? 1 : nob); ob0++) {
            /* nowait: every pass hands the same row blocks to the same thread (static, the
             * same count), and a block's sums are that thread's alone */
            SC_OMP("omp for schedule(static) nowait")
            for (int64_t rb = 0; rb < nrb; rb++) {
                int64_t r0 = rb * MR;
                const float *a[SC_MRMAX];
                for (int q = 0; q < MR; q++) a[q] = x + g->rowoff[r0 + q < rows ? r0 + q : r0];
                for (int64_t ob = rows_outer ? 0 : ob0; ob < (rows_outer ? nob : ob0 + 1); ob++) {
                    float *acc = (r0 == tail_r0 ? tail : yp + r0 * ocp) + ob * NR;
                    bl.fwd(a, g->koff + k0, kn, wp + (ob * k + k0) * NR,
                           k0 ? acc : bp + ob * NR, k0 ? ocp : 0, acc, ocp);
                }
            }
        }
    }
    if (!direct) {
        SC_OMP("omp parallel for schedule(static)")
        for (int64_t r = 0; r < rows; r++)
            memcpy(y + r * g->oc, yp + r * ocp, (size_t)g->oc * sizeof *y);
    } else if (tail_r0 < rows)
        memcpy(y + tail_r0 * ocp, tail, (size_t)((rows - tail_r0) * ocp) * sizeof *y);
}

/* dy's rows [r0, r0 + rn), channels [c0, c0 + nr) (zeros past oc) into buf [rn][nr]; db[c0 ..]
 * += their sums (db NULL: not) */
static void sc_pack_chunk(const float *dy, int64_t oc, int64_t c0, int64_t nr, int64_t r0,
                          int64_t rn, float *restrict buf, float *restrict db)
{
    int64_t cn = oc - c0 < nr ? oc - c0 : nr;
    for (int64_t r = 0; r < rn; r++) {
        const float *restrict src = dy + (r0 + r) * oc + c0;
        float *restrict d = buf + r * nr;
        if (cn == nr)
            for (int64_t o = 0; o < nr; o++) d[o] = src[o];
        else
            for (int64_t o = 0; o < nr; o++) d[o] = o < cn ? src[o] : 0.f;
        if (db)
            for (int64_t o = 0; o < cn; o++) db[c0 + o] += src[o];
    }
}

/* one block of MR reduction indices from kb * MR over rows [r0, r0 + rn) into acc */
static void sc_bww_block(const sc_blk *bl, const hk_sc *g, const float *x, int64_t r0,
                         int64_t rn, int64_t kb, const float *pan, float *acc)
{
    int64_t k = sc_k(g), k0 = kb * bl->mr, ko[SC_MRMAX];
    for (int q = 0; q < bl->mr; q++) ko[q] = g->koff[k0 + q < k ? k0 + q : k0];
    bl->bww(x, g->rowoff + r0, rn, ko, pan, r0 == 0, acc);
}

void hk_sc_backward_weights(const hk_sc *g, const float *x, const float *dy, float *dw,
                            float *db, float *scratch)
{
    sc_blk bl = sc_blk_of(sc_path());
    const int64_t MR = bl.mr, NR = bl.nr, RC = bl.rc;
    int64_t k = sc_k(g), rows = sc_rows(g), ocp = sc_ocp(g, NR), nob = ocp / NR, oc = g->oc;
    int64_t kp = sc_up(k, MR), nkb = kp / MR;
    int bias = db && g->bias;
    if (!dw && !bias) return;
    float *dwt = scratch;
    /* One region, a barrier before the sums go into dw: each thread packs the chunk of dy it
     * works on into its own buffer (in L1 when the kernel reads it), db summed on the way by one
     * thread a channel block, in row order; dwt by blocks of MR reduction indices, every pass of
     * the static loop handing the same blocks to the same thread (the same count); dw += dwt by
     * channels. Every sum in the order of one thread: the bits do not depend on the thread
     * count. */
    SC_OMP("omp parallel")
    {
        /* dy packed chunk by chunk: one pass over dy, not two (packing all of dy up front, 1.6
         * MB for bank1, then db: bank1's weights' gradient 68 -> 72 % of the peak on AVX-512;
         * on AVX2 1.77-1.80 -> 1.64-1.69 ms on 1 thread, 1.04-1.07 -> 0.94-0.95 on 2; paired
         * runs of the kernel alone); read in place, at a stride of 128 floats, a chunk's 128 rows
         * would fall into 8 of L1's 64 sets */
        SC_ALIGN64 float chunk_buf[SC5_RC * SC5_NR];
        /* with as many channel blocks as threads or a multiple, each thread takes whole channel
         * blocks, packing only its own part of dy (with the reduction blocks split, every
         * thread packed all of it: on AVX-512 bank1's weights' gradient at 2 threads 0.60 ->
         * 0.55 ms, bank3's 1.44 -> 1.38, kernel alone, best of 200); the same sums in the same
         * order either way */
        int own = nob % sc_nthreads() == 0;
        for (int64_t r0 = 0; r0 < rows; r0 += RC) {
            int64_t rn = rows - r0 < RC ? rows - r0 : RC;
            for (int64_t ob = own ? sc_thread() : 0; ob < nob; ob += own ? sc_nthreads() : 1) {
                float *sums = bias && ob % sc_nthreads() == sc_thread() ? db : NULL;
                if (!dw) {   /* db alone: its thread's channel blocks */
                    if (sums) sc_pack_chunk(dy, oc, ob * NR, NR, r0, rn, chunk_buf, sums);
                    continue;
                }
                sc_pack_chunk(dy, oc, ob * NR, NR, r0, rn, chunk_buf, sums);
                if (own)
                    for (int64_t kb = 0; kb < nkb; kb++)
                        sc_bww_block(&bl, g, x, r0, rn, kb, chunk_buf,
                                     dwt + (ob * kp + kb * MR) * NR);
                else {
                    SC_OMP("omp for schedule(static) nowait")
                    for (int64_t kb = 0; kb < nkb; kb++)
                        sc_bww_block(&bl, g, x, r0, rn, kb, chunk_buf,
                                     dwt + (ob * kp + kb * MR) * NR);
                }
            }
        }
        if (dw) {   /* by channels: dw's rows written whole */
            SC_OMP("omp barrier")
            SC_OMP("omp for schedule(static) nowait")
            for (int64_t cb = 0; cb < (oc + 15) / 16; cb++)   /* tiles of 16 x 64 in L1 */
                for (int64_t i0 = 0; i0 < k; i0 += 64)
                    for (int64_t c = cb * 16; c < oc && c < cb * 16 + 16; c++) {
                        const float *t = dwt + ((c / NR) * kp) * NR + c % NR;
                        for (int64_t i = i0; i < k && i < i0 + 64; i++) dw[c * k + i] += t[i * NR];
                    }
        }
    }
}
