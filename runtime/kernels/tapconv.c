/* tapconv.c — k x 1 x 1 convolutions on [N, C/8, D, H*W, 8] tensors (see tapconv.h).
 *
 * One routine, tc_rows, computes out[r, :] = bias + sum_k sum_c in[r + (k - pad) * HW, c] *
 * wp[k][c][:] for the rows r of every sample: the forward (wp = w as [K][C][OC]) and the
 * backward data (in = dy, wp = w flipped in k as [K][OC][C], pad' = K - 1 - pad). The AVX2
 * micro-kernel computes up to 4 rows x 24 output channels (3 vectors of 8) over the taps and
 * input channels the rows' planes see: 12 accumulators, each input value broadcast once per 3
 * FMAs;
 * the AVX-512 one up to 12 rows x 24 (a zmm and a ymm a row) or 32 (two zmm) outputs;
 * a long reduction (SSRN's C2: 97 taps over the whole depth, one output plane) goes by blocks
 * of taps whose weights stay in L1, adding to the outputs. On AVX-512, chunks of 24 outputs
 * (SSRN's spectral convs, C2's backward data) go to tc_rows_pair instead: up to 8 rows x 24
 * outputs in 3 zmm a row, each holding 8 outputs for two input channels (every lane used).
 * Backward weights, per tap and group of 4 input channels, keeps a 4 x 24 block of dw in
 * registers over a chunk of TC_CHUNK rows (or over up to TC_WMULTI rows of several samples when
 * a sample has few: C2, tc_weights_rows); on AVX-512, per tap and group of 8-24 input
 * channels, up to 24 zmm of dw (pairs of channels x 8 outputs) over a chunk of TC_WCHUNK rows
 * of dy packed once per chunk (tc_wz_avx512).
 * hk_tap_pre (a BN + ReLU folded into the conv): the rows a block of taps reads (forward: a
 * run's rows and the taps' halo; weights: a chunk's, for a block of taps) are transformed into
 * a per-thread buffer (tc_pre_rows), which the same micro-kernels then read with its strides.
 */
#include "tapconv.h"

#include "hsi_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#define TC_OMP(x) _Pragma(x)
#else
#define TC_OMP(x)
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TC_X86 1
#else
#define TC_X86 0
#endif

#if TC_X86 && defined(__GNUC__)
#define TC_AVX2 __attribute__((target("avx2,fma")))
#define TC_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#endif

#define TC_CHUNK HK_TAP_CHUNK       /* rows per work item (a multiple of 4) */
#define TC_PF 64                    /* floats ahead the row kernel prefetches its input */

/* HSICC_NO_PREFETCH=1: no cursor prefetches (tc_pfc; for A/B runs) */
static int tc_pf_off(void)
{
    static int v = -1;
    if (v < 0) v = hsi_env_flag("HSICC_NO_PREFETCH");
    return v;
}

static int tc_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int tc_thread(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int hk_isa(void)
{
    static int isa = -1;
    if (isa < 0) {
        const char *e = getenv("HSICC_KERNEL_ISA");
        int cap = !e || !*e ? HK_ISA_AVX512 : !strcmp(e, "generic") ? HK_ISA_GENERIC
                : !strcmp(e, "avx2") ? HK_ISA_AVX2 : HK_ISA_AVX512;
        if (e && *e && strcmp(e, "generic") && strcmp(e, "avx2") && strcmp(e, "avx512"))
            fprintf(stderr, "hsicc: HSICC_KERNEL_ISA=%s is none of generic, avx2, avx512: the "
                            "CPU's best is used\n", e);
        int have = HK_ISA_GENERIC;
#if TC_X86 && defined(__GNUC__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            have = HK_ISA_AVX2;
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
                && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
                have = HK_ISA_AVX512;
        }
#endif
        isa = have < cap ? have : cap;
    }
    return isa;
}

/* 1: AVX2 + FMA; 0: portable C. */
static int tc_avx2(void) { return hk_isa() >= HK_ISA_AVX2; }

/* The row kernel's level (forward and backward data), every level hk_isa gives. */
int hk_tap_isa(void) { return hk_isa(); }

/* Scratch: [wp (forward) or wd (backward data): K*C*OC] [per thread: dw K*C*OC, db OC, the
 * AVX-512 weights kernel's packed dy rows TC_WPACK] x threads (C2: 1.2 MB each) [per thread:
 * hk_tap_pre's transformed rows, tc_pre_floats] x threads. */
#define TC_WCHUNK 128               /* rows of dy the AVX-512 weights kernel packs at a time */
/* ... and when a sample has at most TC_WCHUNK / 2 rows (C2: 49), whole samples up to TC_WMULTI
 * rows: C2's weights gradient, batch 16, 1 thread: 4.0 ms with 2 samples a chunk (98 rows),
 * 3.45 with 5, 3.4 with 10 (512 rows), 3.6 with 15 or 20; SSRN's spectral convs (4,753 rows a
 * sample) are fastest at 128 (3.7 ms; 256: 4.1). */
#define TC_WMULTI 512
/* Samples a chunk of the weights kernel takes: 1 (then TC_WCHUNK rows at a time) or several */
static int64_t tc_wper(const hk_tap *g)
{
    int64_t rows = g->dout * g->hw;
    return rows * 2 <= TC_WCHUNK ? TC_WMULTI / rows : 1;
}
/* Floats of a thread's packed dy rows: a chunk's rows, each doubled, per output channel */
#define TC_WPACK(g)                                                                            \
    ((size_t)(tc_wper(g) > 1 ? tc_wper(g) * (g)->dout * (g)->hw : TC_WCHUNK) * 2 *          \
     (size_t)(g)->oc)
/* n floats rounded up to a cache line: every thread's partial sums and packed rows start on
 * one (the scratch does: 64-byte aligned), so that none of the AVX-512 kernel's zmm loads
 * spans two lines */
#define TC_R16(n) (((size_t)(n) + 15) / 16 * 16)
/* Taps a row kernel call runs through before its outputs go back to y: as many as keep a
 * chunk's weights (taps x cin x width floats) in TC_KB_BYTES, a third of L1d, so that the rows
 * of a run reuse them from L1. SSRN's spectral convs (7 taps x 24 channels x 24 outputs,
 * 16 KB) take all their taps at once; C2 (97 taps over the whole depth, 223 KB a chunk of 24)
 * goes by 7 (AVX2; by 5 in the AVX-512 chunks of 32): its forward, one thread, 9.4 -> 7.0 ms
 * (8 KB: about the same; 4 KB or 32 KB and more: slower; AVX-512 8-32 KB: the same within the
 * noise). */
#ifndef TC_KB_BYTES
#define TC_KB_BYTES 16384
#endif
/* hk_tap_pre in the weights' gradient: the taps whose rows are transformed at once, as many as
 * fit in TC_PRE_WBYTES (SSRN's spectral convs: all 7, a chunk's 128 + 6 x 49 rows x 24
 * channels, 40 KB; C2: 6 of its 97 taps, 2 samples x 49 rows each) */
#define TC_PRE_WBYTES 65536
static int64_t tc_per(int64_t rows);
static int64_t tc_win_cap(const hk_tap *g);
static int64_t tc_wkblk(const hk_tap *g, int64_t ns, int64_t nr)
{
    int64_t kb = 1;
    while (kb < g->k && ns * g->c * (nr + kb * g->hw) * (int64_t)sizeof(float) <= TC_PRE_WBYTES)
        kb++;
    return kb;
}
/* Floats of one thread's hk_tap_pre buffer: the most rows x channels x samples a transform
 * writes (tc_run's block of taps: a run of at most TC_CHUNK rows, or tc_per samples' rows,
 * and the taps' halo; the weights' block of taps, tc_wkblk, or one tap of a chunk). */
static size_t tc_pre_floats(const hk_tap *g)
{
    if (g->c % 8) return 0;
    int64_t rows = g->dout * g->hw, din = g->din * g->hw;
    int64_t kb = TC_KB_BYTES / (g->c * 24 * (int64_t)sizeof(float));   /* tc_run's, width >= 24 */
    if (kb < 1) kb = 1;
    if (kb > g->k) kb = g->k;
    int64_t nr = rows < TC_CHUNK ? rows : TC_CHUNK, span = nr + (kb - 1) * g->hw;
    int64_t need = tc_per(rows) * g->c * (span < din ? span : din);
    int64_t ns5 = tc_wper(g);
    int64_t w5 = ns5 * g->c * (rows < TC_WCHUNK ? rows : TC_WCHUNK), w2 = g->c * nr;
    int64_t wl = TC_PRE_WBYTES / (int64_t)sizeof(float);
    if (w5 > need) need = w5;
    if (w2 > need) need = w2;
    if (wl > need) need = wl;
    /* the window (tc_win) of a whole sample: forward with one sample a work item, weights with
     * one sample a chunk */
    if ((tc_per(rows) == 1 || ns5 == 1) && g->c * tc_win_cap(g) > need) need = g->c * tc_win_cap(g);
    return TC_R16(need);
}
static size_t tc_pair_floats(const hk_tap *g);
size_t hk_tap_scratch_floats(hk_tap *g)
{
    size_t kco = (size_t)(g->k * g->c * g->oc);
    g->threads = tc_threads();
    return TC_R16(kco) + (size_t)g->threads * (TC_R16(kco) + TC_R16(g->oc) + TC_WPACK(g))
           + (size_t)g->threads * tc_pre_floats(g) + tc_pair_floats(g);
}
/* Thread t's hk_tap_pre buffer in the scratch */
static float *tc_pre_buf(const hk_tap *g, float *scratch, int t)
{
    size_t kco = (size_t)(g->k * g->c * g->oc);
    return scratch + TC_R16(kco) + (size_t)g->threads * (TC_R16(kco) + TC_R16(g->oc) + TC_WPACK(g))
           + (size_t)t * tc_pre_floats(g);
}

/* ---- hk_tap_pre: the input's per-channel affine + ReLU ---------------------------------------
 * As bnorm.c's forward computes its output (norml_c, bn_affine8, bn_affine16): x * scale, then
 * + shift, each rounded (no FMA: the file is compiled in ISO C mode, whose default is
 * -ffp-contract=off, as bnorm.c's), then the ReLU as v > 0 ? v : +0 (NaN and -0 give +0). */
static void tc_pre_c(const float *s, float *d, int64_t len, const float *sc, const float *sh,
                     int relu)
{
    for (int64_t i = 0; i < len; i += 8)
        for (int l = 0; l < 8; l++) {
            float v = s[i + l] * sc[l];
            v = v + sh[l];
            d[i + l] = relu && !(v > 0) ? 0.0f : v;
        }
}

#if TC_X86 && defined(__GNUC__)
static TC_AVX2 void tc_pre_avx2(const float *s, float *d, int64_t len, const float *sc,
                                const float *sh, int relu)
{
    const __m256 a = _mm256_loadu_ps(sc), b = _mm256_loadu_ps(sh), z = _mm256_setzero_ps();
    for (int64_t i = 0; i < len; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(s + i), a), b);
        if (relu) v = _mm256_and_ps(v, _mm256_cmp_ps(v, z, _CMP_GT_OQ));
        _mm256_storeu_ps(d + i, v);
    }
}

static TC_AVX512 void tc_pre_avx512(const float *s, float *d, int64_t len, const float *sc,
                                    const float *sh, int relu)
{
    const __m512 a = _mm512_broadcast_f32x8(_mm256_loadu_ps(sc));
    const __m512 b = _mm512_broadcast_f32x8(_mm256_loadu_ps(sh)), z = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(s + i), a), b);
        if (relu) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, z, _CMP_GT_OQ), v);
        _mm512_storeu_ps(d + i, v);
    }
    if (i < len) {
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(s + i), _mm512_castps512_ps256(a)),
                                 _mm512_castps512_ps256(b));
        if (relu) v = _mm256_maskz_mov_ps(_mm256_cmp_ps_mask(v, _mm256_setzero_ps(), _CMP_GT_OQ), v);
        _mm256_storeu_ps(d + i, v);
    }
}
#endif

/* Rows [lo, hi) of ns samples (src: sample 0, block 0; sbs, sns: floats between its blocks,
 * samples) and ncb channel blocks, transformed -> dst [ns][ncb][hi - lo][8]. */
/* len floats of channel block cb from a to d */
static void tc_pre_run(const hk_tap_pre *pre, int64_t cb, const float *a, float *d, int64_t len,
                       int isa)
{
    const float *sc = pre->scale + cb * 8, *sh = pre->shift + cb * 8;
#if TC_X86 && defined(__GNUC__)
    if (isa >= HK_ISA_AVX512) {
        tc_pre_avx512(a, d, len, sc, sh, pre->relu);
        return;
    }
    if (isa >= HK_ISA_AVX2) {
        tc_pre_avx2(a, d, len, sc, sh, pre->relu);
        return;
    }
#endif
    (void)isa;
    tc_pre_c(a, d, len, sc, sh, pre->relu);
}

static void tc_pre_rows(const hk_tap_pre *pre, int64_t ncb, const float *src, int64_t sbs,
                        int64_t sns, int64_t ns, int64_t lo, int64_t hi, float *dst, int isa)
{
    int64_t len = (hi - lo) * 8;
    for (int64_t s = 0; s < ns; s++)
        for (int64_t cb = 0; cb < ncb; cb++)
            tc_pre_run(pre, cb, src + s * sns + cb * sbs + lo * 8, dst + (s * ncb + cb) * len,
                       len, isa);
}

/* One sample a work item (SSRN's spectral convs): the thread's buffer (a window) holds up to
 * cap rows of one sample, [C/8][cap][8], from row lo to hi, all transformed; the work items
 * run down the rows, so each reads the rows the ones before it transformed and transforms only
 * its new ones (and, when the window is full, starts again at its first row: at most
 * 6 x 49 of 2048 rows twice): every row about once, not once per item with the taps' halo (a
 * forward chunk of 256 rows read 256 + 6 x 49, a weights chunk 128 + 6 x 49). SSRN's spectral
 * conv, batch 16, 1 thread, CPU time per call: forward 5.07 ms that way, 4.6 so (the conv of
 * y alone 4.2, BN apply + conv 5.0); weights 5.15 -> 4.3 (alone 3.96). Windows of 1024 rows,
 * 2048 or the whole sample: the same. What remains is the transform itself (reading x from
 * memory, writing the buffer in L2: 8 % of the forward's samples; a prefetch of the rows to L2
 * during the FMAs, spread over the calls, changed nothing). Several samples a work item (C2:
 * one output plane) transform by blocks of taps instead, each row once too (C2's forward,
 * batch 16: the same prefetch of the next block's rows, 118 KB, to L2 spread over the calls:
 * paired 1-thread CPU time 0.996, not kept). */
typedef struct tc_win { int64_t n, lo, hi, cap; } tc_win;

#ifndef TC_WIN_ROWS
#define TC_WIN_ROWS 2048
#endif
/* The rows a window holds: TC_WIN_ROWS, at least a block's (a chunk and the taps' halo), at
 * most the sample's */
static int64_t tc_win_cap(const hk_tap *g)
{
    int64_t cap = TC_CHUNK + (g->k - 1) * g->hw, all = g->din * g->hw;
    if (cap < TC_WIN_ROWS) cap = TC_WIN_ROWS;
    return cap < all ? cap : all;
}

/* A block that reads rows [lo, hi) of sample n: the window starts again at lo unless it
 * holds rows up to lo (of sample n) and has room up to hi. The buffer is then [C/8][w->cap][8]
 * from row w->lo (until the next tc_win_start), filled by tc_win_fill. */
static void tc_win_start(tc_win *w, int64_t n, int64_t lo, int64_t hi)
{
    if (w->n != n || lo < w->lo || lo > w->hi || hi - w->lo > w->cap) {
        w->n = n;
        w->lo = w->hi = lo;
    }
}

/* The window's rows up to hi (<= the block's hi) transformed from xn (its sample's block 0;
 * xbs: floats between blocks). Called just before the kernels read the rows (forward: per
 * call, weights: per tap), so that they find them in L1: SSRN's spectral conv, batch 16, 1
 * thread, paired CPU time against a block's rows at once: weights 0.978, forward 0.995.
 * Software prefetches of the source rows 128 or 256 rows ahead: 0.98-0.99 (within the noise,
 * not kept), on a Xeon whose 480 MB L3 held every tensor; where they do not fit the last-level
 * cache, the next item's rows come ahead by tc_pfc, spread over the item's calls. */
static void tc_win_fill(const hk_tap_pre *pre, tc_win *w, float *buf, const float *xn,
                        int64_t xbs, int64_t ncb, int64_t hi, int isa)
{
    if (hi <= w->hi) return;
    for (int64_t cb = 0; cb < ncb; cb++)
        tc_pre_run(pre, cb, xn + cb * xbs + w->hi * 8, buf + (cb * w->cap + w->hi - w->lo) * 8,
                   (hi - w->hi) * 8, isa);
    w->hi = hi;
}

/* ---- prefetching the rows a later step reads ---------------------------------------------
 * A source a work item reads in a burst (hk_tap_pre's rows before the kernels read them, dy
 * packed for the weights, the rows a hook sums) comes from memory when the tensors are larger
 * than the last-level cache, and the kernels wait for it: the hardware prefetchers do not run
 * ahead of a burst that follows a long stretch of FMAs. A cursor over those rows (rows [r0, r1)
 * of ncb channel blocks of nsamp samples) is advanced during the item before, so the lines
 * arrive while the FMAs run: one line at a time inside the channel-pair kernel (per tap and
 * input block) and the weights kernel (every TC_WZ_PF rows), `per` lines after each call of
 * the row kernels (C2's forward). Issued in bursts after each call instead, the prefetches
 * themselves waited for free miss buffers (2-3 % of the step's samples on them). SSRN on the
 * 2-vCPU EPYC (32 MB L3, 52 MB arena), 1 thread: tc_pre_avx512 7.1 -> 1.8 % and tc_wz_pack
 * 3.7 -> 0.8 % of the step's samples; the kernels' FMAs 71 -> 79 %. */
void (*hk_tap_pf_probe)(const void *p);
typedef struct tc_pfc {
    const float *x;               /* sample 0, block 0, row 0 */
    int64_t bs, sns, ncb, nsamp;  /* floats between blocks / samples; blocks; samples */
    int64_t r, r0, r1, per;       /* the next row (even); the rows; lines a step */
    int64_t cb, s;                /* the next line's block and sample */
} tc_pfc;

/* steps: the tc_pfc_step calls the lines are spread over (0: advanced by tc_pfc_one alone) */
static tc_pfc *tc_pfc_init(tc_pfc *p, const float *x, int64_t bs, int64_t sns, int64_t nsamp,
                           int64_t ncb, int64_t r0, int64_t r1, int64_t steps)
{
    if (r1 <= r0 || nsamp < 1 || ncb < 1 || tc_pf_off()) return NULL;
    r0 &= ~(int64_t)1;
    int64_t total = nsamp * ncb * ((r1 - r0 + 1) / 2);
    *p = (tc_pfc){.x = x, .bs = bs, .sns = sns, .ncb = ncb, .nsamp = nsamp, .r = r0, .r0 = r0,
                  .r1 = r1, .per = steps > 0 ? (total + steps - 1) / steps : total};
    return p;
}

/* one line (none when done), as tc_pfc_step's order */
static inline __attribute__((always_inline)) void tc_pfc_one(tc_pfc *p)
{
#if TC_X86 && defined(__GNUC__)
    if (!p || p->s >= p->nsamp) return;
    const float *a = p->x + p->s * p->sns + p->cb * p->bs + p->r * 8;
    _mm_prefetch((const char *)a, _MM_HINT_T0);
    if (hk_tap_pf_probe) hk_tap_pf_probe(a);
    if (++p->cb < p->ncb) return;
    p->cb = 0;
    p->r += 2;
    if (p->r < p->r1) return;
    p->r = p->r0;
    p->s++;
#else
    (void)p;
#endif
}

/* per lines (tc_pfc_one's order: row by row across the blocks, so that the streams advance
 * together; sample by sample) */
static inline void tc_pfc_step(tc_pfc *p)
{
    for (int64_t k = 0; p && k < p->per && p->s < p->nsamp; k++) tc_pfc_one(p);
}

/* ---- the row kernel ----------------------------------------------------------------------- */

typedef struct tc_geo {
    const float *in;              /* sample 0, block 0 */
    int64_t in_bs, in_ns, cin;    /* floats between channel blocks / samples; channels */
    float *out;
    int64_t out_bs, out_ns, cout;
    int64_t din, dout, hw, k, pad;
    const float *wp;              /* per chunk of outputs: [K][cin][width] (tc_pack, tc_cw) */
    const float *bias;            /* [cout] or NULL */
    const float *res;             /* NULL, or a residual in out's layout added at the store
                                     (hk_tap_forward_res; backward data: dx itself) */
    const hk_tap_pre *pre;        /* NULL, or in is transformed (tc_pre_rows) into: */
    float *pbuf;                  /* thread 0's buffer, */
    int64_t pstride;              /* floats between the threads' buffers */
    int nthr;                     /* threads (at most those the scratch has buffers for) */
    int64_t wcap;                 /* rows of a window (tc_win) */
    const hk_tap_hook *hook;      /* NULL, or told of each item's finished rows (tc_item_done) */
} tc_geo;

/* One micro-kernel call: R rows x a chunk of outputs, ntap taps from k0. Weights of an
 * output-channel chunk (width W) are packed [k][c][W], so every offset is a constant. */
typedef struct tc_mk {
    const float *x;               /* the first row at tap k0, block 0 (rows 8 floats apart) */
    int64_t ts, bs;               /* floats between taps (hw * 8), between input blocks */
    int ntap, ncb;                /* taps, input blocks */
    const float *w;               /* the chunk's packed weights at tap k0 */
    float *y;                     /* the first row, output block oc0 / 8 */
    int64_t ybs;
    const float *b;               /* bias + oc0 or NULL */
    int acc;                      /* 1: add to y (a later block of taps), else overwrite */
    const float *res;             /* NULL, or rows added to the outputs as they are stored (y's
                                     layout; the last block of taps; every micro-kernel) */
    tc_pfc *pf[2];                /* NULL, or cursors: a line of each per tap and input block
                                     (the channel-pair kernel) */
} tc_mk;

static inline void tc_mk_generic(const tc_mk *m, int R, int NV)
{
    float acc[4][24];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NV * 8; j++)
            acc[r][j] = m->acc ? m->y[j / 8 * m->ybs + r * 8 + j % 8] : m->b ? m->b[j] : 0.f;
    for (int t = 0; t < m->ntap; t++)
        for (int cb = 0; cb < m->ncb; cb++) {
            const float *xp = m->x + t * m->ts + cb * m->bs;
            const float *wq = m->w + (t * m->ncb + cb) * 64 * NV;
            for (int l = 0; l < 8; l++)
                for (int r = 0; r < R; r++) {
                    float xv = xp[r * 8 + l];
                    for (int j = 0; j < NV * 8; j++) acc[r][j] += xv * wq[l * NV * 8 + j];
                }
        }
    for (int j = 0; j < NV; j++)
        for (int r = 0; r < R; r++)
            for (int l = 0; l < 8; l++) {
                float v = acc[r][j * 8 + l];
                if (m->res) v = v + m->res[j * m->ybs + r * 8 + l];
                m->y[j * m->ybs + r * 8 + l] = v;
            }
}

#if TC_X86 && defined(__GNUC__)
/* Named accumulators (an array of __m256 ends up on the stack): row r, vector j = a##r##j. */
#define TC_ACC_FMA(r)                                                                          \
    if (R > r) {                                                                               \
        __m256 xv = _mm256_broadcast_ss(xp + r * 8 + l);                                       \
        a##r##0 = _mm256_fmadd_ps(xv, w0, a##r##0);                                            \
        if (NV > 1) a##r##1 = _mm256_fmadd_ps(xv, w1, a##r##1);                                \
        if (NV > 2) a##r##2 = _mm256_fmadd_ps(xv, w2, a##r##2);                                \
    }
#define TC_ACC_LOAD(r)                                                                         \
    if (R > r) {                                                                               \
        a##r##0 = _mm256_loadu_ps(m->y + r * 8);                                               \
        if (NV > 1) a##r##1 = _mm256_loadu_ps(m->y + m->ybs + r * 8);                          \
        if (NV > 2) a##r##2 = _mm256_loadu_ps(m->y + 2 * m->ybs + r * 8);                      \
    }
#define TC_ACC_RES(r)                                                                          \
    if (R > r) {                                                                               \
        a##r##0 = _mm256_add_ps(a##r##0, _mm256_loadu_ps(m->res + r * 8));                    \
        if (NV > 1) a##r##1 = _mm256_add_ps(a##r##1, _mm256_loadu_ps(m->res + m->ybs + r * 8)); \
        if (NV > 2)                                                                            \
            a##r##2 = _mm256_add_ps(a##r##2, _mm256_loadu_ps(m->res + 2 * m->ybs + r * 8));    \
    }
#define TC_ACC_STORE(r)                                                                        \
    if (R > r) {                                                                               \
        _mm256_storeu_ps(m->y + r * 8, a##r##0);                                               \
        if (NV > 1) _mm256_storeu_ps(m->y + m->ybs + r * 8, a##r##1);                          \
        if (NV > 2) _mm256_storeu_ps(m->y + 2 * m->ybs + r * 8, a##r##2);                      \
    }
static inline __attribute__((always_inline)) TC_AVX2 void tc_mk_avx2(const tc_mk *m, const int R,
                                                                     const int NV)
{
    __m256 b0 = _mm256_setzero_ps(), b1 = b0, b2 = b0;
    if (m->b) {
        b0 = _mm256_loadu_ps(m->b);
        if (NV > 1) b1 = _mm256_loadu_ps(m->b + 8);
        if (NV > 2) b2 = _mm256_loadu_ps(m->b + 16);
    }
    __m256 a00 = b0, a01 = b1, a02 = b2, a10 = b0, a11 = b1, a12 = b2;
    __m256 a20 = b0, a21 = b1, a22 = b2, a30 = b0, a31 = b1, a32 = b2;
    if (m->acc) { TC_ACC_LOAD(0) TC_ACC_LOAD(1) TC_ACC_LOAD(2) TC_ACC_LOAD(3) }
    const float *wq = m->w;
    for (int t = 0; t < m->ntap; t++) {
        const float *xt = m->x + t * m->ts;
        for (int cb = 0; cb < m->ncb; cb++, wq += 64 * NV) {
            const float *xp = xt + cb * m->bs;
            if (R >= 3) {
                /* the rows two calls ahead (tc_run's next blocks): the taps' rows span
                 * (K - 1) planes, more than L1 keeps beside the weights, and the hardware
                 * prefetchers do not follow these K x C/8 interleaved streams. SSRN's shape,
                 * 1 thread, CPU time: alone forward and backward data 4-7 % faster; in
                 * bench_ops' SSRN chain forward 3.5 %, backward (data + weights) 2 % */
                _mm_prefetch((const char *)(xp + TC_PF), _MM_HINT_T0);
                _mm_prefetch((const char *)(xp + TC_PF + 16), _MM_HINT_T0);
            }
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) {
                __m256 w0 = _mm256_loadu_ps(wq + l * NV * 8), w1 = w0, w2 = w0;
                if (NV > 1) w1 = _mm256_loadu_ps(wq + l * NV * 8 + 8);
                if (NV > 2) w2 = _mm256_loadu_ps(wq + l * NV * 8 + 16);
                TC_ACC_FMA(0) TC_ACC_FMA(1) TC_ACC_FMA(2) TC_ACC_FMA(3)
            }
        }
    }
    if (m->res) { TC_ACC_RES(0) TC_ACC_RES(1) TC_ACC_RES(2) TC_ACC_RES(3) }
    TC_ACC_STORE(0) TC_ACC_STORE(1) TC_ACC_STORE(2) TC_ACC_STORE(3)
}
#undef TC_ACC_FMA
#undef TC_ACC_LOAD
#undef TC_ACC_STORE
#undef TC_ACC_RES

#define TC_MK(R, NV) \
    static TC_AVX2 void tc_mk_##R##_##NV(const tc_mk *m) { tc_mk_avx2(m, R, NV); }
TC_MK(1, 1) TC_MK(1, 2) TC_MK(1, 3) TC_MK(2, 1) TC_MK(2, 2) TC_MK(2, 3)
TC_MK(3, 1) TC_MK(3, 2) TC_MK(3, 3) TC_MK(4, 1) TC_MK(4, 2) TC_MK(4, 3)
#undef TC_MK
/* [R - 1][NV - 1] */
static void (*const tc_mk_tab[4][3])(const tc_mk *) = {
    {tc_mk_1_1, tc_mk_1_2, tc_mk_1_3}, {tc_mk_2_1, tc_mk_2_2, tc_mk_2_3},
    {tc_mk_3_1, tc_mk_3_2, tc_mk_3_3}, {tc_mk_4_1, tc_mk_4_2, tc_mk_4_3}};

/* AVX-512: R <= 12 rows x (NZ zmm + NY ymm) outputs, W = 16 NZ + 8 NY = the chunk's width (8,
 * 16, 24 or 32; tc_cw). A zmm holds 16 consecutive outputs of one row, i.e. two 8-blocks of y
 * that lie ybs floats apart: they are joined at the accumulators' load and split at their
 * store, once per call. Up to 24 accumulators; each weight vector is loaded once per step l
 * for all R rows, each input value broadcast from memory (the FMAs' {1to16} operands: an
 * explicit broadcast to a register measured the same). SSRN's spectral convs (W = 24: a zmm
 * and a ymm a row, 75 % of the lanes) forward 94 -> 145 GFLOP/s, one thread (AVX2 kernel ->
 * this); C2 (W = 32) forward 81 -> 128, backward data (W = 24) 87 -> 125. */
static inline __attribute__((always_inline)) TC_AVX512 void tc_mk_avx512(const tc_mk *m,
                                                                         const int R,
                                                                         const int NZ,
                                                                         const int NY)
{
    const int W = 16 * NZ + 8 * NY;
    const int64_t ybs = m->ybs;
    __m512 az[12][4];
    __m256 ay[12];
    __m512 bz[4];
    __m256 by = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int j = 0; j < NZ; j++)
        bz[j] = m->b ? _mm512_loadu_ps(m->b + 16 * j) : _mm512_setzero_ps();
    if (NY && m->b) by = _mm256_loadu_ps(m->b + 16 * NZ);
    if (m->acc) {
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
            for (int j = 0; j < NZ; j++) {
                const float *yq = m->y + 2 * j * ybs + r * 8;
                az[r][j] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(yq)),
                                              _mm256_loadu_ps(yq + ybs), 1);
            }
            if (NY) ay[r] = _mm256_loadu_ps(m->y + 2 * NZ * ybs + r * 8);
        }
    } else {
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
            for (int j = 0; j < NZ; j++) az[r][j] = bz[j];
            ay[r] = by;
        }
    }
    const float *wq = m->w;
    for (int t = 0; t < m->ntap; t++) {
        const float *xt = m->x + t * m->ts;
        for (int cb = 0; cb < m->ncb; cb++, wq += 8 * W) {
            const float *xp = xt + cb * m->bs;
            /* the next call's rows (see tc_mk_avx2) */
#pragma GCC unroll 12
            for (int i = 0; i < R / 2; i++)
                _mm_prefetch((const char *)(xp + R * 8 + 16 * i), _MM_HINT_T0);
#pragma GCC unroll 8
            for (int l = 0; l < 8; l++) {
                __m512 wz[4];
                __m256 wy = _mm256_setzero_ps();
#pragma GCC unroll 4
                for (int j = 0; j < NZ; j++) wz[j] = _mm512_loadu_ps(wq + l * W + 16 * j);
                if (NY) wy = _mm256_loadu_ps(wq + l * W + 16 * NZ);
#pragma GCC unroll 12
                for (int r = 0; r < R; r++) {
                    if (NZ) {
                        __m512 xv = _mm512_set1_ps(xp[r * 8 + l]);
#pragma GCC unroll 4
                        for (int j = 0; j < NZ; j++)
                            az[r][j] = _mm512_fmadd_ps(xv, wz[j], az[r][j]);
                        if (NY) ay[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(xv), wy, ay[r]);
                    } else if (NY) {
                        ay[r] = _mm256_fmadd_ps(_mm256_set1_ps(xp[r * 8 + l]), wy, ay[r]);
                    }
                }
            }
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int j = 0; j < NZ; j++) {
            float *yq = m->y + 2 * j * ybs + r * 8;
            __m256 lo = _mm512_castps512_ps256(az[r][j]), hi = _mm512_extractf32x8_ps(az[r][j], 1);
            if (m->res) {
                const float *rq = m->res + 2 * j * ybs + r * 8;
                lo = _mm256_add_ps(lo, _mm256_loadu_ps(rq));
                hi = _mm256_add_ps(hi, _mm256_loadu_ps(rq + ybs));
            }
            _mm256_storeu_ps(yq, lo);
            _mm256_storeu_ps(yq + ybs, hi);
        }
        if (NY) {
            __m256 v = ay[r];
            if (m->res) v = _mm256_add_ps(v, _mm256_loadu_ps(m->res + 2 * NZ * ybs + r * 8));
            _mm256_storeu_ps(m->y + 2 * NZ * ybs + r * 8, v);
        }
    }
}

#define TC_MK5(R, NZ, NY)                                                                      \
    static TC_AVX512 void tc_mk5_##R##_##NZ##_##NY(const tc_mk *m)                             \
    {                                                                                          \
        tc_mk_avx512(m, R, NZ, NY);                                                            \
    }
#define TC_MK5_12(NZ, NY)                                                                      \
    TC_MK5(1, NZ, NY) TC_MK5(2, NZ, NY) TC_MK5(3, NZ, NY) TC_MK5(4, NZ, NY) TC_MK5(5, NZ, NY) \
    TC_MK5(6, NZ, NY) TC_MK5(7, NZ, NY) TC_MK5(8, NZ, NY) TC_MK5(9, NZ, NY) TC_MK5(10, NZ, NY) \
    TC_MK5(11, NZ, NY) TC_MK5(12, NZ, NY)
TC_MK5_12(0, 1) TC_MK5_12(1, 0) TC_MK5_12(1, 1) TC_MK5_12(2, 0)
#define TC_E5(R, NZ, NY) tc_mk5_##R##_##NZ##_##NY,
#define TC_E5_12(NZ, NY)                                                                       \
    TC_E5(1, NZ, NY) TC_E5(2, NZ, NY) TC_E5(3, NZ, NY) TC_E5(4, NZ, NY) TC_E5(5, NZ, NY)      \
    TC_E5(6, NZ, NY) TC_E5(7, NZ, NY) TC_E5(8, NZ, NY) TC_E5(9, NZ, NY) TC_E5(10, NZ, NY)     \
    TC_E5(11, NZ, NY) TC_E5(12, NZ, NY)
/* [width / 8 - 1][R - 1] */
static void (*const tc_mk5_tab[4][12])(const tc_mk *) = {
    {TC_E5_12(0, 1)}, {TC_E5_12(1, 0)}, {TC_E5_12(1, 1)}, {TC_E5_12(2, 0)}};
#undef TC_MK5
#undef TC_MK5_12
#undef TC_E5
#undef TC_E5_12
#endif

/* Rows a micro-kernel call takes at most on this ISA. */
static int tc_rmax(int isa) { return isa >= HK_ISA_AVX512 ? 12 : 4; }

/* The width of the chunks of outputs (the last one: what remains, a multiple of 8). AVX2 and
 * generic: 24 (3 vectors). AVX-512: 32 when the outputs are a multiple of 16 and more than 24
 * (C2's 128: 4 chunks of 2 zmm a row, every lane used; remainder 16), else 24 (one zmm and one
 * ymm a row: SSRN's 24 channels; remainders 8, 16). C2's forward, one thread: 64-wide chunks
 * (4 zmm x 6 rows) 112 GFLOP/s, 32-wide 116 (median of 6 alternating runs). */
static int64_t tc_cw(int64_t cout, int isa)
{
    return isa >= HK_ISA_AVX512 && cout > 24 && cout % 16 == 0 ? 32 : 24;
}

/* The width of the chunk of outputs from oc0: tc_cw's, the last what remains, except on the
 * paths of at most 4 rows a call (AVX2, portable C) where a remainder of 8 would leave that
 * chunk 4 accumulators, fewer than the FMAs' latency needs: there the last 32 outputs go as
 * 16 + 16 (C2's 128 = 4 x 24 + 16 + 16). */
static int tc_tail16(int64_t cout, int isa)
{
    return tc_cw(cout, isa) == 24 && tc_rmax(isa) <= 4 && cout > 24 && cout % 24 == 8;
}
static int64_t tc_chunk_w(int64_t cout, int64_t oc0, int isa)
{
    int64_t cw = tc_cw(cout, isa), rem = cout - oc0;
    if (tc_tail16(cout, isa) && rem <= 32) return 16;
    return rem < cw ? rem : cw;
}
/* Chunks of the outputs, and chunk i's first output (*oc0) and width: tc_chunk_w's, walked
 * from 0 (a few steps: at most cout / 8) */
static int64_t tc_nchunks(int64_t cout, int isa)
{
    int64_t n = 0;
    for (int64_t oc0 = 0; oc0 < cout; oc0 += tc_chunk_w(cout, oc0, isa)) n++;
    return n;
}
static int64_t tc_chunk(int64_t cout, int isa, int64_t i, int64_t *oc0)
{
    *oc0 = 0;
    for (int64_t j = 0; j < i; j++) *oc0 += tc_chunk_w(cout, *oc0, isa);
    return tc_chunk_w(cout, *oc0, isa);
}

static void tc_mk_run(const tc_mk *m, int R, int W, int isa)
{
#if TC_X86 && defined(__GNUC__)
    if (isa >= HK_ISA_AVX512) {
        tc_mk5_tab[W / 8 - 1][R - 1](m);
        return;
    }
    if (isa >= HK_ISA_AVX2) {
        tc_mk_tab[R - 1][W / 8 - 1](m);
        return;
    }
#endif
    (void)isa;
    tc_mk_generic(m, R, W / 8);
}

/* Taps of output plane o that read an input plane: [*k0, *k1). */
static void tc_taps(const tc_geo *g, int64_t o, int64_t *k0, int64_t *k1)
{
    int64_t lo = g->pad - o, hi = g->din + g->pad - o;
    *k0 = lo > 0 ? lo : 0;
    *k1 = hi < g->k ? hi : g->k;
    if (*k1 < *k0) *k1 = *k0;
}

/* Rows [r0, r1) of samples [n0, n1), all of whose planes see the taps [k0, k1): per block of
 * taps, per chunk of outputs, every sample's row blocks (the first block of taps overwrites
 * y), so that the samples share the chunk's weights in L1. A run of rows goes in calls of at
 * most tc_rmax rows, as even as they come (AVX-512: 49 rows = 10 + 10 + 10 + 10 + 9, not
 * 4 x 12 + 1, whose one row would run at the FMA latency; AVX2: 4 x 10 + 3 x 3, not
 * 4 x 12 + 1). */
static void tc_run(const tc_geo *g, int64_t n0, int64_t n1, int64_t r0, int64_t r1, int64_t k0,
                   int64_t k1, int isa, tc_win *win)
{
    int64_t cw = tc_cw(g->cout, isa);
    int64_t kb = TC_KB_BYTES / (g->cin * cw * (int64_t)sizeof(float));
    if (kb < 1) kb = 1;
    for (int64_t t0 = k0; t0 == k0 || t0 < k1; t0 += kb) { /* no taps: the bias alone */
        int64_t t1 = t0 + kb < k1 ? t0 + kb : k1;
        tc_mk m = {.ts = g->hw * 8, .bs = g->in_bs, .ntap = (int)(t1 - t0),
                   .ncb = (int)(g->cin / 8), .ybs = g->out_bs, .acc = t0 > k0};
        tc_pfc pfc, *pf = NULL;
        /* sample n's row 0 at tap t0: in0 + (n - nb) * ins + off */
        const float *in0 = g->in;
        float *buf = NULL;
        int64_t ins = g->in_ns, off = (t0 - g->pad) * g->hw * 8, nb0 = 0;
        if (g->pre) {
            /* the rows the block reads, [r0 + (t0 - pad) HW, r1 + (t1 - 1 - pad) HW): input
             * planes only (tc_taps), so the padding is never read, nor transformed */
            int64_t lo = r0 + (t0 - g->pad) * g->hw, hi = r1 + (t1 - 1 - g->pad) * g->hw;
            buf = g->pbuf + (size_t)tc_thread() * (size_t)g->pstride;
            if (win) {   /* n1 = n0 + 1; filled call by call below */
                tc_win_start(win, n0, lo, hi);
                m.bs = win->cap * 8;
                off -= win->lo * 8;
            } else {
                tc_pre_rows(g->pre, g->cin / 8, g->in + n0 * g->in_ns, g->in_bs, g->in_ns,
                            n1 - n0, lo, hi, buf, isa);
                m.bs = (hi - lo) * 8;
                ins = g->cin * (hi - lo);
                off -= lo * 8;
                /* the next block of taps' rows, during this block's calls (C2: several
                 * samples an item, one output plane, 97 taps by blocks) */
                int64_t t2 = t1 + kb < k1 ? t1 + kb : k1, din = g->din * g->hw;
                int64_t plo = r0 + (t1 - g->pad) * g->hw, phi = r1 + (t2 - 1 - g->pad) * g->hw;
                if (plo < 0) plo = 0;
                if (phi > din) phi = din;
                if (t1 < k1)
                    pf = tc_pfc_init(&pfc, g->in + n0 * g->in_ns, g->in_bs, g->in_ns, n1 - n0,
                                     g->cin / 8, plo, phi,
                                     tc_nchunks(g->cout, isa) * (n1 - n0)
                                         * ((r1 - r0 + tc_rmax(isa) - 1) / tc_rmax(isa)));
            }
            in0 = buf;
            nb0 = n0;
        }
        for (int64_t oc0 = 0, w; oc0 < g->cout; oc0 += w) {
            w = tc_chunk_w(g->cout, oc0, isa);
            int rmax = tc_rmax(isa);
            m.w = g->wp + oc0 * g->k * g->cin + t0 * g->cin * w;
            m.b = g->bias && t0 == k0 ? g->bias + oc0 : NULL;
            int64_t nr = r1 - r0, nb = (nr + rmax - 1) / rmax;
            for (int64_t n = n0; n < n1; n++) {
                const float *xin = in0 + (n - nb0) * ins + off;
                float *yout = g->out + n * g->out_ns + (oc0 / 8) * g->out_bs;
                /* the residual at the last block of taps' store (see tc_run_pair) */
                const float *rin = g->res && t1 >= k1
                                       ? g->res + n * g->out_ns + (oc0 / 8) * g->out_bs : NULL;
                for (int64_t b = 0, r = r0; b < nb; b++) {
                    int R = (int)(nr / nb + (b < nr % nb));
                    m.x = xin + r * 8;
                    m.y = yout + r * 8;
                    m.res = rin ? rin + r * 8 : NULL;
                    if (win)
                        tc_win_fill(g->pre, win, buf, g->in + n0 * g->in_ns, g->in_bs,
                                    g->cin / 8, r + R + (t1 - 1 - g->pad) * g->hw, isa);
                    tc_mk_run(&m, R, w, isa);
                    tc_pfc_step(pf);
                    r += R;
                }
            }
        }
    }
}

/* Samples per work item of the row kernel: 1, or when a sample has few rows (C2: one output
 * plane of 49), about TC_CHUNK rows' worth. */
static int64_t tc_per(int64_t rows) { return rows * 2 > TC_CHUNK ? 1 : TC_CHUNK / rows; }

/* Work items of the row kernels over n_samples samples of rows rows each, t threads: (sample,
 * chunk of TC_CHUNK rows), or with few rows a sample (C2: one output plane of 49) items of
 * about TC_CHUNK rows from consecutive samples, as many for every thread. */
static int64_t tc_items(int64_t rows, int64_t n_samples, int64_t t)
{
    int64_t per = tc_per(rows);
    if (per == 1) return n_samples * ((rows + TC_CHUNK - 1) / TC_CHUNK);
    int64_t groups = (n_samples + t * per - 1) / (t * per);
    return t * groups < n_samples ? t * groups : n_samples;
}

/* Item it of items: samples [*n, *n1), rows [*c0, *c1). */
static void tc_item(int64_t it, int64_t items, int64_t rows, int64_t n_samples, int64_t *n,
                    int64_t *n1, int64_t *c0, int64_t *c1)
{
    int64_t nch = (rows + TC_CHUNK - 1) / TC_CHUNK;
    *n = it / nch;
    *n1 = *n + 1;
    *c0 = it % nch * TC_CHUNK;
    if (tc_per(rows) > 1) {
        *n = n_samples * it / items;
        *n1 = n_samples * (it + 1) / items;
    }
    *c1 = *c0 + TC_CHUNK < rows ? *c0 + TC_CHUNK : rows;
}

/* An item's rows are final: the hook, per sample (items of several samples have all their
 * rows, fewer than a chunk's) */
static void tc_item_done(const tc_geo *g, int64_t n, int64_t n1, int64_t c0, int64_t c1)
{
    if (g->hook)
        for (int64_t s = n; s < n1; s++) g->hook->fn(g->hook->ctx, s, c0, c1);
}

/* The end (at most c1) of the run of planes from row r that see the same taps [*k0, *k1). */
static int64_t tc_run_end(const tc_geo *g, int64_t r, int64_t c1, int64_t *k0, int64_t *k1)
{
    int64_t a, b, e = (r / g->hw + 1) * g->hw;
    tc_taps(g, r / g->hw, k0, k1);
    while (e < c1) {
        tc_taps(g, e / g->hw, &a, &b);
        if (a != *k0 || b != *k1) break;
        e += g->hw;
    }
    return e < c1 ? e : c1;
}

/* Work items: (sample, chunk of TC_CHUNK rows), the rows in order (the input streams through
 * the prefetchers; running down the planes instead, so that taps reuse rows in L1, measured
 * slower). Inside a chunk, runs of planes with the same taps go to tc_run together. */
static void tc_rows(const tc_geo *g, int64_t n_samples)
{
    int isa = hk_isa();
    int64_t rows = g->dout * g->hw, items = tc_items(rows, n_samples, tc_threads());
    int64_t per = tc_per(rows);
    int nthr = g->pre ? g->nthr : tc_threads();
    (void)nthr;
    TC_OMP("omp parallel num_threads(nthr)")
    {
    tc_win win = {.n = -1, .cap = g->wcap}, *wp = g->pre && per == 1 ? &win : NULL;
    TC_OMP("omp for schedule(static)")
    for (int64_t it = 0; it < items; it++) {
        int64_t n, n1, c0, c1, k0, k1;
        tc_item(it, items, rows, n_samples, &n, &n1, &c0, &c1);
        for (int64_t r = c0, e; r < c1; r = e) {
            e = tc_run_end(g, r, c1, &k0, &k1);
            tc_run(g, n, n1, r, e, k0, k1, isa, wp);
        }
        tc_item_done(g, n, n1, c0, c1);
    }
    }
}

/* ---- backward weights --------------------------------------------------------------------- */

/* dwp[k][c0 + i][oc0 + 8 j + l] += sum_r x[r + shift, c0 + i] dy[r, oc0 + 8 j + l] over rows
 * [r0, r1) of ns samples (each sample's rows in order, the samples in order: the same sums as
 * one call a sample); x at block c0 / 8, offset c0 % 8 (4 channels), dy at block oc0 / 8. */
typedef struct tc_wk {
    const float *x, *dy;          /* x: row 0 of the tap's shifted input; dy: row 0 */
    int64_t dybs;
    int64_t r0, r1;
    float *dw;                    /* dwp + (k * cin + c0) * cout + oc0 */
    int64_t wc;                   /* cout */
    int64_t ns, xns, dyns;        /* samples (0: 1), floats between samples' x, dy */
} tc_wk;

static inline void tc_wk_generic(const tc_wk *m, int NV)
{
    int64_t ns = m->ns > 1 ? m->ns : 1;
    for (int i = 0; i < 4; i++) {
        float acc[24];
        memcpy(acc, m->dw + i * m->wc, (size_t)NV * 32);
        for (int64_t s = 0; s < ns; s++) {
            const float *x = m->x + s * m->xns, *d = m->dy + s * m->dyns;
            for (int64_t r = m->r0; r < m->r1; r++) {
                float xv = x[r * 8 + i];
                for (int j = 0; j < NV; j++)
                    for (int l = 0; l < 8; l++) acc[j * 8 + l] += xv * d[j * m->dybs + r * 8 + l];
            }
        }
        memcpy(m->dw + i * m->wc, acc, (size_t)NV * 32);
    }
}

#if TC_X86 && defined(__GNUC__)
/* d0..d2: NV vectors of one dy row (blocks m->dybs floats apart) */
#define TC_DY_LOAD(row)                                                                        \
    const float *dy = (row);                                                                   \
    __m256 d0 = _mm256_loadu_ps(dy), d1 = d0, d2 = d0;                                         \
    if (NV > 1) d1 = _mm256_loadu_ps(dy + m->dybs);                                            \
    if (NV > 2) d2 = _mm256_loadu_ps(dy + 2 * m->dybs);
#define TC_WACC(i)                                                                             \
    __m256 a##i##0 = _mm256_loadu_ps(m->dw + i * m->wc), a##i##1 = a##i##0, a##i##2 = a##i##0; \
    if (NV > 1) a##i##1 = _mm256_loadu_ps(m->dw + i * m->wc + 8);                              \
    if (NV > 2) a##i##2 = _mm256_loadu_ps(m->dw + i * m->wc + 16);
#define TC_WFMA(i)                                                                             \
    {                                                                                          \
        __m256 xv = _mm256_broadcast_ss(xs + r * 8 + i);                                       \
        a##i##0 = _mm256_fmadd_ps(xv, d0, a##i##0);                                            \
        if (NV > 1) a##i##1 = _mm256_fmadd_ps(xv, d1, a##i##1);                                \
        if (NV > 2) a##i##2 = _mm256_fmadd_ps(xv, d2, a##i##2);                                \
    }
#define TC_WSTORE(i)                                                                           \
    _mm256_storeu_ps(m->dw + i * m->wc, a##i##0);                                              \
    if (NV > 1) _mm256_storeu_ps(m->dw + i * m->wc + 8, a##i##1);                              \
    if (NV > 2) _mm256_storeu_ps(m->dw + i * m->wc + 16, a##i##2);
static inline __attribute__((always_inline)) TC_AVX2 void tc_wk_avx2(const tc_wk *m, const int NV)
{
    TC_WACC(0) TC_WACC(1) TC_WACC(2) TC_WACC(3)
    int64_t ns = m->ns > 1 ? m->ns : 1;
    for (int64_t s = 0; s < ns; s++) {
        const float *xs = m->x + s * m->xns, *ds = m->dy + s * m->dyns;
        for (int64_t r = m->r0; r < m->r1; r++) {
            TC_DY_LOAD(ds + r * 8)
            TC_WFMA(0) TC_WFMA(1) TC_WFMA(2) TC_WFMA(3)
        }
    }
    TC_WSTORE(0) TC_WSTORE(1) TC_WSTORE(2) TC_WSTORE(3)
}
#undef TC_WACC
#undef TC_WFMA
#undef TC_WSTORE
#define TC_WK(NV) \
    static TC_AVX2 void tc_wk_##NV(const tc_wk *m) { tc_wk_avx2(m, NV); }
TC_WK(1) TC_WK(2) TC_WK(3)
#undef TC_WK
static void (*const tc_wk_tab[3])(const tc_wk *) = {tc_wk_1, tc_wk_2, tc_wk_3};
#endif

static void tc_wk_run(const tc_wk *m, int NV, int avx2)
{
#if TC_X86 && defined(__GNUC__)
    if (avx2) {
        tc_wk_tab[NV - 1](m);
        return;
    }
#endif
    (void)avx2;
    tc_wk_generic(m, NV);
}

/* AVX-512. A chunk's dy rows are first packed doubled (tc_wz_pack: per row and block of 8
 * outputs, d0 d0 d1 d1 ... d7 d7), then per tap and group of NC input channels (from offset XO
 * of a block, so that every x address is a constant from one pointer) and NV blocks of
 * outputs, for every row: one zmm of that per block (a plain load), one broadcast pair x[c],
 * x[c + 1] (vbroadcastsd, a load) per two channels, NV FMAs of 16 lanes per pair. A zmm holds
 * dw of channels c, c + 1 (lanes 2 l and 2 l + 1) for 8 outputs l: the per-thread partial sums
 * are kept so (tc_zidx) and deinterleaved only by the reduction. No shuffle in the loop
 * (packing: one permute a row and block, for K x C / NC calls), each x load feeds NV FMAs and
 * each dy load NC / 2. In L1, one thread, % of the AVX-512 FMA peak: NC 12 x NV 3 (SSRN's
 * 24 x 24) 77-79, NC 12 x NV 4 (C2's 24 x 128) 77-81, NC 16 x NV 3 82; a kernel of zmm +
 * ymm per channel (16 outputs by an insert, 8 by a ymm FMA, the broadcast x feeding both) 65:
 * 21 loads a row for 18 FMAs, load-bound (16 broadcast-fed FMAs with one load each reach 75,
 * with two FMAs a broadcast 86). Weights + bias gradient, batch 16, 1 thread, AVX2 ->
 * AVX-512: SSRN's spectral conv 6.8 -> 4.0 ms (88 -> 150 GFLOP/s, 70 % of 213), C2 5.9 ->
 * 3.3 ms (80 -> 141). */
typedef struct tc_wz {
    const float *x;               /* row 0 of the tap's shifted input, the group's block */
    int64_t xbs;                  /* floats between input blocks */
    const float *dp;              /* row 0 of the packed dy, block oc0 / 8 (may point before
                                   * the buffer: it holds the rows from c0) */
    int64_t pbs;                  /* floats between packed blocks */
    int64_t r0, r1;
    int ns;                       /* samples (the same rows of each) */
    int64_t xns, pns;             /* floats between samples of x, of the packed dy */
    float *dw;                    /* tc_zidx(k, c0, oc0) of the partial sums */
    int64_t ps;                   /* floats between channel pairs of dw (2 OC) */
    tc_pfc *pf[2];                /* NULL, or cursors: a line of each every TC_WZ_PF rows */
} tc_wz;
#define TC_WZ_PF 4

/* Where the AVX-512 partial sums keep dw[k][c][o]: [K][C/2][OC/8][8 outputs][2 channels]. */
static inline int64_t tc_zidx(const hk_tap *g, int64_t k, int64_t c, int64_t o)
{
    return (k * g->c + c / 2 * 2) * g->oc + o / 8 * 16 + o % 8 * 2 + c % 2;
}

#if TC_X86 && defined(__GNUC__)
static inline __attribute__((always_inline)) TC_AVX512 void tc_wz_avx512(const tc_wz *m,
                                                                         const int NC,
                                                                         const int XO,
                                                                         const int NV)
{
    __m512 a[12][4];
#pragma GCC unroll 12
    for (int p = 0; p < NC / 2; p++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) a[p][j] = _mm512_loadu_ps(m->dw + p * m->ps + 16 * j);
    const int64_t xbs = m->xbs, pbs = m->pbs;
    for (int s = 0; s < m->ns; s++) {
    const float *x = m->x + s * m->xns + m->r0 * 8, *dp = m->dp + s * m->pns + m->r0 * 16;
    for (int64_t r = m->r0; r < m->r1; r++, x += 8, dp += 16) {
        if (r % TC_WZ_PF == 0) {   /* spread over the rows: a burst waits for free miss buffers */
            tc_pfc_one(m->pf[0]);
            tc_pfc_one(m->pf[1]);
        }
        __m512 e[4];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) e[j] = _mm512_loadu_ps(dp + j * pbs);
#pragma GCC unroll 12
        for (int p = 0; p < NC / 2; p++) {
            double t;
            memcpy(&t, x + ((XO + 2 * p) >> 3) * xbs + ((XO + 2 * p) & 7), sizeof t);
            __m512 xv = _mm512_castpd_ps(_mm512_set1_pd(t));
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) a[p][j] = _mm512_fmadd_ps(xv, e[j], a[p][j]);
        }
    }
    }
#pragma GCC unroll 12
    for (int p = 0; p < NC / 2; p++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) _mm512_storeu_ps(m->dw + p * m->ps + 16 * j, a[p][j]);
}
#define TC_WZ(NC, XO, NV) \
    static TC_AVX512 void tc_wz_##NC##_##XO##_##NV(const tc_wz *m) { tc_wz_avx512(m, NC, XO, NV); }
TC_WZ(8, 0, 1) TC_WZ(8, 0, 2) TC_WZ(8, 0, 3) TC_WZ(8, 0, 4)
TC_WZ(12, 0, 1) TC_WZ(12, 0, 2) TC_WZ(12, 0, 3) TC_WZ(12, 0, 4)
TC_WZ(12, 4, 1) TC_WZ(12, 4, 2) TC_WZ(12, 4, 3) TC_WZ(12, 4, 4)
TC_WZ(16, 0, 1) TC_WZ(16, 0, 2) TC_WZ(16, 0, 3)
TC_WZ(24, 0, 1) TC_WZ(24, 0, 2)
#undef TC_WZ
/* [group: 8, 12 at offset 0, 12 at offset 4, 16, 24][NV - 1]; NULL: more than 24 accumulators
 * (tc_wz_group never picks them) */
static void (*const tc_wz_tab[5][4])(const tc_wz *) = {
    {tc_wz_8_0_1, tc_wz_8_0_2, tc_wz_8_0_3, tc_wz_8_0_4},
    {tc_wz_12_0_1, tc_wz_12_0_2, tc_wz_12_0_3, tc_wz_12_0_4},
    {tc_wz_12_4_1, tc_wz_12_4_2, tc_wz_12_4_3, tc_wz_12_4_4},
    {tc_wz_16_0_1, tc_wz_16_0_2, tc_wz_16_0_3, NULL},
    {tc_wz_24_0_1, tc_wz_24_0_2, NULL, NULL}};

/* rows [c0, c1) of dy, samples [n, n + ns) -> dp [OC / 8][ns][c1 - c0][16], each row's 8
 * values doubled; db (NULL: none) += their column sums (4 partial sums a block and sample,
 * added in a fixed order: the pass brings the rows to L1 anyway) */
static TC_AVX512 void tc_wz_pack(const hk_tap *g, const float *dy, int64_t n, int ns,
                                 int64_t c0, int64_t c1, float *dp, float *db)
{
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    int64_t rows = g->dout * g->hw, ob = g->oc / 8;
    for (int64_t bs = 0; bs < ob * ns; bs++) {
        int64_t b = bs / ns;
        const float *d = dy + (n + bs % ns) * g->oc * rows + b * rows * 8;
        float *o = dp + bs * (c1 - c0) * 16 - c0 * 16;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int64_t r = c0;
        for (; r + 4 <= c1; r += 4) {
            __m256 v0 = _mm256_loadu_ps(d + r * 8), v1 = _mm256_loadu_ps(d + r * 8 + 8);
            __m256 v2 = _mm256_loadu_ps(d + r * 8 + 16), v3 = _mm256_loadu_ps(d + r * 8 + 24);
            s0 = _mm256_add_ps(s0, v0);
            s1 = _mm256_add_ps(s1, v1);
            s2 = _mm256_add_ps(s2, v2);
            s3 = _mm256_add_ps(s3, v3);
            _mm512_storeu_ps(o + r * 16, _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(v0)));
            _mm512_storeu_ps(o + r * 16 + 16,
                             _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(v1)));
            _mm512_storeu_ps(o + r * 16 + 32,
                             _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(v2)));
            _mm512_storeu_ps(o + r * 16 + 48,
                             _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(v3)));
        }
        for (; r < c1; r++) {
            __m256 v = _mm256_loadu_ps(d + r * 8);
            s0 = _mm256_add_ps(s0, v);
            _mm512_storeu_ps(o + r * 16, _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(v)));
        }
        if (db)
            _mm256_storeu_ps(db + b * 8, _mm256_add_ps(_mm256_loadu_ps(db + b * 8),
                                                       _mm256_add_ps(_mm256_add_ps(s0, s1),
                                                                     _mm256_add_ps(s2, s3))));
    }
}
#endif

/* The AVX-512 kernel's input channels from channel ci of C (ci a multiple of 4) for NV blocks
 * of outputs, at most 24 accumulators (NC / 2 x NV): 12 + 12 for 24 channels (and for the
 * first 24 of more with NV 4), else 24 (NV < 3), 16 (NV < 4) or 8; 12 at offset 4 only after
 * 12 at offset 0. */
static int tc_wz_group(int64_t C, int64_t ci, int nv)
{
    int64_t rem = C - ci;
    if (ci % 8) return 12;
    if (nv < 3 && rem >= 24) return 24;
    if (rem == 24 || (nv == 4 && rem >= 24)) return 12;
    return nv < 4 && rem >= 16 ? 16 : 8;
}

/* One input channel (SSRN's C1: a plain [N, 1, D, H*W] input, any stride along D):
 * dwp[k0 + i][oc0 + 8 j + l] += sum_p x[i * xi + p] dy[p, oc0 + 8 j + l] over the H*W pixels
 * of one output plane, ni <= 4 taps (xi = H*W floats apart) at a time. */
typedef struct tc_w1 {
    const float *x, *dy;          /* x: the plane of tap k0; dy: the output plane, block oc0/8 */
    int64_t xi, dybs, hw;
    float *dw;                    /* dwp + k0 * cout + oc0 */
    int64_t wc;                   /* cout */
} tc_w1;

static inline void tc_w1_generic(const tc_w1 *m, int NI, int NV)
{
    for (int i = 0; i < NI; i++)
        for (int64_t p = 0; p < m->hw; p++)
            for (int j = 0; j < NV * 8; j++)
                m->dw[i * m->wc + j] += m->x[i * m->xi + p] * m->dy[j / 8 * m->dybs + p * 8 + j % 8];
}

#if TC_X86 && defined(__GNUC__)
#define TC_1ACC(i)                                                                             \
    __m256 a##i##0 = _mm256_setzero_ps(), a##i##1 = a##i##0, a##i##2 = a##i##0;
#define TC_1FMA(i)                                                                             \
    if (NI > i) {                                                                              \
        __m256 xv = _mm256_broadcast_ss(m->x + i * m->xi + p);                                 \
        a##i##0 = _mm256_fmadd_ps(xv, d0, a##i##0);                                            \
        if (NV > 1) a##i##1 = _mm256_fmadd_ps(xv, d1, a##i##1);                                \
        if (NV > 2) a##i##2 = _mm256_fmadd_ps(xv, d2, a##i##2);                                \
    }
#define TC_1ADD(i, j)                                                                          \
    _mm256_storeu_ps(m->dw + i * m->wc + 8 * j,                                                \
                     _mm256_add_ps(_mm256_loadu_ps(m->dw + i * m->wc + 8 * j), a##i##j));
#define TC_1STORE(i)                                                                           \
    if (NI > i) {                                                                              \
        TC_1ADD(i, 0)                                                                          \
        if (NV > 1) { TC_1ADD(i, 1) }                                                          \
        if (NV > 2) { TC_1ADD(i, 2) }                                                          \
    }
static inline __attribute__((always_inline)) TC_AVX2 void tc_w1_avx2(const tc_w1 *m, const int NI,
                                                                     const int NV)
{
    TC_1ACC(0) TC_1ACC(1) TC_1ACC(2) TC_1ACC(3)
    for (int64_t p = 0; p < m->hw; p++) {
        TC_DY_LOAD(m->dy + p * 8)
        TC_1FMA(0) TC_1FMA(1) TC_1FMA(2) TC_1FMA(3)
    }
    TC_1STORE(0) TC_1STORE(1) TC_1STORE(2) TC_1STORE(3)
}
#undef TC_1ACC
#undef TC_1FMA
#undef TC_1ADD
#undef TC_1STORE
#undef TC_DY_LOAD
#define TC_W1(NI, NV) \
    static TC_AVX2 void tc_w1_##NI##_##NV(const tc_w1 *m) { tc_w1_avx2(m, NI, NV); }
TC_W1(1, 1) TC_W1(1, 2) TC_W1(1, 3) TC_W1(2, 1) TC_W1(2, 2) TC_W1(2, 3)
TC_W1(3, 1) TC_W1(3, 2) TC_W1(3, 3) TC_W1(4, 1) TC_W1(4, 2) TC_W1(4, 3)
#undef TC_W1
static void (*const tc_w1_tab[4][3])(const tc_w1 *) = {
    {tc_w1_1_1, tc_w1_1_2, tc_w1_1_3}, {tc_w1_2_1, tc_w1_2_2, tc_w1_2_3},
    {tc_w1_3_1, tc_w1_3_2, tc_w1_3_3}, {tc_w1_4_1, tc_w1_4_2, tc_w1_4_3}};
#endif

#if TC_X86 && defined(__GNUC__)
/* AVX-512, one input channel: NI taps x NV blocks of outputs over np output planes, by pairs
 * of pixels p, p + 1: dy's two rows interleaved (d_p0 d_p+1,0 d_p1 d_p+1,1 ..., one permute of
 * a 16-float load per block) times the broadcast pair x[p], x[p + 1] of each tap (vbroadcastsd:
 * the plain input has the pixels side by side), lanes 2 l and 2 l + 1 summed at the end; an
 * odd last pixel with the second row 0. NI * NV accumulators (SSRN's C1: 7 x 3), NV permutes
 * for NI * NV FMAs of 16 lanes; the AVX2 kernel's 4 taps x 24 outputs had 3 broadcast-fed
 * ymm FMAs a pixel and tap. C1's weights + bias, batch 16, 1 thread: 0.44 -> 0.37 ms (bound
 * by reading dy's 7.3 MB: 2 passes, this and the bias's). */
typedef struct tc_w1z {
    const float *x, *dy;          /* x: tap k0's plane of the first output plane; dy: its rows */
    int64_t xi, xo, dybs, hw;     /* floats between taps, between output planes (stride * hw) */
    int np;                       /* output planes */
    float *dw;                    /* dwp + k0 * cout + oc0 */
    int64_t wc;                   /* cout */
} tc_w1z;

static inline __attribute__((always_inline)) TC_AVX512 void tc_w1_avx512(const tc_w1z *m,
                                                                         const int NI,
                                                                         const int NV)
{
    __m512 a[8][3];
#pragma GCC unroll 8
    for (int i = 0; i < NI; i++)
#pragma GCC unroll 3
        for (int j = 0; j < NV; j++) a[i][j] = _mm512_setzero_ps();
    const __m512i ilv = _mm512_set_epi32(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
    const int64_t hw = m->hw, xi = m->xi, dybs = m->dybs;
    for (int q = 0; q < m->np; q++) {
        const float *x = m->x + q * m->xo, *dy = m->dy + q * hw * 8;
        int64_t p = 0;
        for (; p + 2 <= hw; p += 2) {
            __m512 e[3];
#pragma GCC unroll 3
            for (int j = 0; j < NV; j++)
                e[j] = _mm512_permutexvar_ps(ilv, _mm512_loadu_ps(dy + j * dybs + p * 8));
#pragma GCC unroll 8
            for (int i = 0; i < NI; i++) {
                double t;
                memcpy(&t, x + i * xi + p, sizeof t);
                __m512 xv = _mm512_castpd_ps(_mm512_set1_pd(t));
#pragma GCC unroll 3
                for (int j = 0; j < NV; j++) a[i][j] = _mm512_fmadd_ps(xv, e[j], a[i][j]);
            }
        }
        if (p < hw) {
            __m512 e[3];
#pragma GCC unroll 3
            for (int j = 0; j < NV; j++)
                e[j] = _mm512_permutexvar_ps(ilv, _mm512_maskz_loadu_ps(0xff, dy + j * dybs + p * 8));
#pragma GCC unroll 8
            for (int i = 0; i < NI; i++) {
                __m512 xv = _mm512_set1_ps(x[i * xi + p]);
#pragma GCC unroll 3
                for (int j = 0; j < NV; j++) a[i][j] = _mm512_fmadd_ps(xv, e[j], a[i][j]);
            }
        }
    }
    const __m512i deint = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0);
#pragma GCC unroll 8
    for (int i = 0; i < NI; i++)
#pragma GCC unroll 3
        for (int j = 0; j < NV; j++) {
            __m512 v = _mm512_permutexvar_ps(deint, a[i][j]);
            float *w = m->dw + i * m->wc + 8 * j;
            _mm256_storeu_ps(w, _mm256_add_ps(_mm256_loadu_ps(w),
                                              _mm256_add_ps(_mm512_castps512_ps256(v),
                                                            _mm512_extractf32x8_ps(v, 1))));
        }
}
#define TC_W1Z(NI) \
    static TC_AVX512 void tc_w1z_##NI##_1(const tc_w1z *m) { tc_w1_avx512(m, NI, 1); } \
    static TC_AVX512 void tc_w1z_##NI##_2(const tc_w1z *m) { tc_w1_avx512(m, NI, 2); } \
    static TC_AVX512 void tc_w1z_##NI##_3(const tc_w1z *m) { tc_w1_avx512(m, NI, 3); }
TC_W1Z(1) TC_W1Z(2) TC_W1Z(3) TC_W1Z(4) TC_W1Z(5) TC_W1Z(6) TC_W1Z(7) TC_W1Z(8)
#undef TC_W1Z
static void (*const tc_w1z_tab[8][3])(const tc_w1z *) = {
    {tc_w1z_1_1, tc_w1z_1_2, tc_w1z_1_3}, {tc_w1z_2_1, tc_w1z_2_2, tc_w1z_2_3},
    {tc_w1z_3_1, tc_w1z_3_2, tc_w1z_3_3}, {tc_w1z_4_1, tc_w1z_4_2, tc_w1z_4_3},
    {tc_w1z_5_1, tc_w1z_5_2, tc_w1z_5_3}, {tc_w1z_6_1, tc_w1z_6_2, tc_w1z_6_3},
    {tc_w1z_7_1, tc_w1z_7_2, tc_w1z_7_3}, {tc_w1z_8_1, tc_w1z_8_2, tc_w1z_8_3}};
#endif

/* Taps [*k0, *k1) of output plane o that read an input plane (one input channel, stride) */
static inline void tc_taps1(const hk_tap *g, int64_t o, int64_t *k0, int64_t *k1)
{
    int64_t lo = g->pad - o * g->stride, hi = g->din + g->pad - o * g->stride;
    *k0 = lo > 0 ? lo : 0;
    *k1 = hi < g->k ? hi : g->k;
}

/* Sample n's contribution to dwp [K][1][OC] (one input channel, plain, stride along D). */
static void tc_weights_sample_c1(const hk_tap *g, const float *x, const float *dy, int64_t n,
                                 float *dwp, int isa)
{
    int64_t hw = g->hw, dybs = g->dout * hw * 8, s = g->stride;
    const float *xn = x + n * g->din * hw, *dyn = dy + n * g->oc * g->dout * hw;
    int avx2 = isa >= HK_ISA_AVX2;
#if TC_X86 && defined(__GNUC__)
    if (isa >= HK_ISA_AVX512) {
        /* runs of output planes with the same taps (SSRN's C1: all 97), per 8 taps and 24
         * outputs, each one call */
        for (int64_t o = 0, o1; o < g->dout; o = o1) {
            int64_t k0, k1, a, b;
            tc_taps1(g, o, &k0, &k1);
            for (o1 = o + 1; o1 < g->dout; o1++) {
                tc_taps1(g, o1, &a, &b);
                if (a != k0 || b != k1) break;
            }
            for (int64_t k = k0; k < k1; k += 8) {
                int ni = k1 - k >= 8 ? 8 : (int)(k1 - k);
                for (int64_t oc0 = 0; oc0 < g->oc; oc0 += 24) {
                    int nv = g->oc - oc0 >= 24 ? 3 : (int)((g->oc - oc0) / 8);
                    tc_w1z m = {.x = xn + (o * s + k - g->pad) * hw, .xi = hw, .xo = s * hw,
                                .dy = dyn + (oc0 / 8) * dybs + o * hw * 8, .dybs = dybs,
                                .hw = hw, .np = (int)(o1 - o), .dw = dwp + k * g->oc + oc0,
                                .wc = g->oc};
                    tc_w1z_tab[ni - 1][nv - 1](&m);
                }
            }
        }
        return;
    }
#endif
    for (int64_t o = 0; o < g->dout; o++) {
        int64_t lo = g->pad - o * s, hi = g->din + g->pad - o * s;
        int64_t k0 = lo > 0 ? lo : 0, k1 = hi < g->k ? hi : g->k;
        for (int64_t k = k0; k < k1; k += 4) {
            int ni = k1 - k >= 4 ? 4 : (int)(k1 - k);
            for (int64_t oc0 = 0; oc0 < g->oc; oc0 += 24) {
                int nv = g->oc - oc0 >= 24 ? 3 : (int)((g->oc - oc0) / 8);
                tc_w1 m = {.x = xn + (o * s + k - g->pad) * hw, .xi = hw,
                           .dy = dyn + (oc0 / 8) * dybs + o * hw * 8, .dybs = dybs, .hw = hw,
                           .dw = dwp + k * g->oc + oc0, .wc = g->oc};
#if TC_X86 && defined(__GNUC__)
                if (avx2) {
                    tc_w1_tab[ni - 1][nv - 1](&m);
                    continue;
                }
#endif
                tc_w1_generic(&m, ni, nv);
            }
        }
    }
}

/* db [OC] += the rows [r0, r1) of one sample's dy [OC/8, rows, 8] (dyn), in 4 interleaved
 * partial sums per channel (independent additions: the loop is not bound by their latency). */
static void tc_bias_rows(const hk_tap *g, const float *dyn, int64_t r0, int64_t r1, float *db)
{
    int64_t rows = g->dout * g->hw;
    for (int64_t ob = 0; ob < g->oc / 8; ob++) {
        const float *d = dyn + ob * rows * 8;
        float a[4][8] = {{0}};
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4)
            for (int i = 0; i < 4; i++)
                for (int l = 0; l < 8; l++) a[i][l] += d[(r + i) * 8 + l];
        for (; r < r1; r++)
            for (int l = 0; l < 8; l++) a[0][l] += d[r * 8 + l];
        for (int l = 0; l < 8; l++) db[ob * 8 + l] += (a[0][l] + a[1][l]) + (a[2][l] + a[3][l]);
    }
}

/* Sample n's contribution to dwp [K][C][OC] and db [OC] (NULL: none): db from each chunk of
 * dy rows first, which brings them to L1 for the weights (a pass of its own over dy read the
 * whole tensor from memory again). */
/* The rows [*r0, *r1) of [c0, c1) whose tap k reads an input plane (not padding) */
static void tc_wrows(const hk_tap *g, int64_t c0, int64_t c1, int64_t k, int64_t *r0, int64_t *r1)
{
    int64_t hw = g->hw, olo = g->pad - k > 0 ? g->pad - k : 0, ohi = g->din + g->pad - k;
    if (ohi > g->dout) ohi = g->dout;
    *r0 = olo * hw > c0 ? olo * hw : c0;
    *r1 = ohi * hw < c1 ? ohi * hw : c1;
}

/* hk_tap_pre in the weights' gradient: the rows taps [ka, kz) of the chunk [c0, c1) read
 * (tc_wrows: input planes only, never the padding) of ns samples from *xn (sample n; strides
 * *xbs, *xns) transformed into buf (win: its window of sample n), and *xn, *xbs, *xns, *rlo
 * made its view: row r of block b of sample n + s at *xn + s * *xns + b * *xbs + (r - *rlo) * 8.
 * 0: none of the taps reads a row. */
static int tc_wpre(const hk_tap *g, const hk_tap_pre *pre, float *buf, tc_win *win, int64_t n,
                   int64_t ns, int64_t c0, int64_t c1, int64_t ka, int64_t kz, const float **xn,
                   int64_t *xbs, int64_t *xns, int64_t *rlo, int isa)
{
    int64_t hw = g->hw, lo = c0 + (ka - g->pad) * hw, hi = c1 + (kz - 1 - g->pad) * hw;
    if (lo < 0) lo = 0;
    if (hi > g->din * hw) hi = g->din * hw;
    if (hi <= lo) return 0;
    if (win) {   /* ns = 1: the sample's window, filled tap by tap (tc_wfill) */
        tc_win_start(win, n, lo, hi);
        *xn = buf;
        *xbs = win->cap * 8;
        *rlo = win->lo;
        return 1;
    }
    tc_pre_rows(pre, g->c / 8, *xn, *xbs, *xns, ns, lo, hi, buf, isa);
    *xn = buf;
    *xbs = (hi - lo) * 8;
    *xns = g->c * (hi - lo);
    *rlo = lo;
    return 1;
}

#if TC_X86 && defined(__GNUC__)
/* The rows [c0, c1) of samples [n, n + ns) (dp: their packed dy, tc_wz_pack) into the partial
 * sums dwz (tc_zidx layout): per tap, per block of outputs, per group of input channels. */
/* the window's rows up to those tap k of the chunk [c0, c1) reads, of sample n */
static void tc_wfill(const hk_tap *g, const float *x, const hk_tap_pre *pre, float *pbuf,
                     tc_win *win, int64_t n, int64_t c1, int64_t k, int isa)
{
    int64_t hi = c1 + (k - g->pad) * g->hw;
    if (hi > g->din * g->hw) hi = g->din * g->hw;
    tc_win_fill(pre, win, pbuf, x + n * g->c * g->din * g->hw, g->din * g->hw * 8, g->c / 8, hi,
                isa);
}

static void tc_wz_chunk(const hk_tap *g, const float *x, const hk_tap_pre *pre, float *pbuf,
                        tc_win *win, int64_t n, int ns, const float *dp, int64_t c0, int64_t c1,
                        float *dwz, tc_pfc *pf, tc_pfc *pf2)
{
    int64_t hw = g->hw, pns = (c1 - c0) * 16, pbs = ns * pns;
    int64_t kb = pre && !win ? tc_wkblk(g, ns, c1 - c0) : g->k;
    for (int64_t ka = 0; ka < g->k; ka += kb) {
        int64_t kz = ka + kb < g->k ? ka + kb : g->k;
        const float *xn = x + n * g->c * g->din * hw;
        int64_t xbs = g->din * hw * 8, xns = g->c * g->din * hw, rlo = 0;
        if (pre && !tc_wpre(g, pre, pbuf, win, n, ns, c0, c1, ka, kz, &xn, &xbs, &xns, &rlo,
                            HK_ISA_AVX512))
            continue;
        /* several samples a chunk (C2): the next block of taps' rows, over this block's
         * groups of outputs */
        tc_pfc pn, *pfn = NULL;
        if (pre && !win && kz < g->k) {
            int64_t din = g->din * hw, lo = c0 + (kz - g->pad) * hw;
            int64_t ke = kz + kb < g->k ? kz + kb : g->k, hi = c1 + (ke - 1 - g->pad) * hw;
            pfn = tc_pfc_init(&pn, x + n * g->c * din, din * 8, g->c * din, ns, g->c / 8,
                              lo < 0 ? 0 : lo, hi > din ? din : hi, 0);
        }
        for (int64_t k = ka; k < kz; k++) {
            int64_t r0, r1;
            tc_wrows(g, c0, c1, k, &r0, &r1);
            if (r1 <= r0) continue;
            if (win) tc_wfill(g, x, pre, pbuf, win, n, c1, k, HK_ISA_AVX512);
            const float *xk = xn + ((k - g->pad) * hw - rlo) * 8;
            for (int64_t oc0 = 0; oc0 < g->oc;) {
                int nv = g->oc - oc0 >= 32 ? 4 : (int)((g->oc - oc0) / 8);
                for (int64_t ci = 0; ci < g->c;) {
                    int nc = tc_wz_group(g->c, ci, nv);
                    tc_wz m = {.x = xk + (ci / 8) * xbs, .xbs = xbs,
                               .dp = dp + oc0 / 8 * pbs - c0 * 16, .pbs = pbs, .r0 = r0,
                               .r1 = r1, .ns = ns, .xns = xns, .pns = pns,
                               .dw = dwz + tc_zidx(g, k, ci, oc0), .ps = 2 * g->oc,
                               .pf = {pfn ? pfn : pf, pfn ? NULL : pf2}};
                    tc_wz_tab[nc == 8 ? 0 : nc == 16 ? 3 : nc == 24 ? 4 : ci % 8 ? 2 : 1][nv - 1](&m);
                    ci += nc;
                }
                oc0 += nv * 8;
            }
        }
    }
}
#endif

/* Samples [n, n + ns)'s contribution to dwp [K][C][OC] and db [OC] (NULL: none), by chunks of
 * TC_CHUNK rows: db from each chunk of dy rows first, which brings them to L1 for the weights
 * (a pass of its own over dy read the whole tensor from memory again); then per tap, per
 * chunk of outputs, every group of 4 input channels: the 4 x 24 kernel over the chunk's rows of
 * all ns samples. ns > 1 (below AVX-512, samples of few rows, tc_wper: C2's 49) loads and
 * stores each block of the thread's partial sums (C2: 1.2 MB) once per ns samples instead of
 * once a sample, with the same bits (each dw element sums the samples' rows in order); the
 * chunk's dy rows of an output chunk (C2, 10 samples: 47 KB) are read from L1 by the channels'
 * calls. win (ns = 1): hk_tap_pre's window of the sample. */
static void tc_weights_rows(const hk_tap *g, const float *x, const hk_tap_pre *pre,
                            float *pbuf, tc_win *win, const float *dy, int64_t n, int64_t ns,
                            float *dwp, float *db, int isa)
{
    int64_t hw = g->hw, rows = g->dout * hw, dybs = rows * 8, dyns = g->oc * rows;
    const float *dyn = dy + n * dyns;
    int avx2 = isa >= HK_ISA_AVX2;
    for (int64_t c0 = 0; c0 < rows; c0 += TC_CHUNK) {
        int64_t c1 = c0 + TC_CHUNK < rows ? c0 + TC_CHUNK : rows;
        for (int64_t s = 0; db && s < ns; s++) tc_bias_rows(g, dyn + s * dyns, c0, c1, db);
        if (!dwp) continue;
        int64_t kb = pre && !win ? tc_wkblk(g, ns, c1 - c0) : g->k;
        for (int64_t ka = 0; ka < g->k; ka += kb) {
            int64_t kz = ka + kb < g->k ? ka + kb : g->k;
            const float *xn = x + n * g->c * g->din * hw;
            int64_t xbs = g->din * hw * 8, xns = g->c * g->din * hw, rlo = 0;
            if (pre && !tc_wpre(g, pre, pbuf, win, n, ns, c0, c1, ka, kz, &xn, &xbs, &xns, &rlo,
                                isa))
                continue;
            for (int64_t k = ka; k < kz; k++) {
                /* output planes o with 0 <= o + k - pad < din */
                int64_t r0, r1;
                tc_wrows(g, c0, c1, k, &r0, &r1);
                if (r1 <= r0) continue;
                if (win) tc_wfill(g, x, pre, pbuf, win, n, c1, k, isa);
                const float *xk = xn + ((k - g->pad) * hw - rlo) * 8;
                /* the chunks of tc_wk's 4 x 24 kernel: tc_chunk_w's at AVX2 (24 outputs; a
                 * last 32 as 16 + 16) */
                for (int64_t oc0 = 0, nv; oc0 < g->oc; oc0 += 8 * nv) {
                    nv = tc_chunk_w(g->oc, oc0, isa < HK_ISA_AVX2 ? isa : HK_ISA_AVX2) / 8;
                    for (int64_t ci = 0; ci < g->c; ci += 4) {
                        tc_wk m = {.x = xk + (ci / 8) * xbs + ci % 8,
                                   .dy = dyn + (oc0 / 8) * dybs, .dybs = dybs, .r0 = r0,
                                   .r1 = r1, .dw = dwp + (k * g->c + ci) * g->oc + oc0,
                                   .wc = g->oc, .ns = ns, .xns = xns, .dyns = dyns};
                        tc_wk_run(&m, (int)nv, avx2);
                    }
                }
            }
        }
    }
}

/* Samples [n0, n1)'s contribution to dwp and db (tc_weights_rows); AVX-512: by chunks of
 * TC_WCHUNK rows, and when a sample has fewer (C2: 49), of several samples (tc_wper: ns into
 * the same registers, the accumulators loaded and stored once per call of up to TC_WMULTI
 * rows; each dw element still sums the samples' rows in order: the same bits as one sample a
 * call). dpk: the thread's TC_WPACK floats. */
static void tc_weights_samples(const hk_tap *g, const float *x, const hk_tap_pre *pre,
                               float *pbuf, const float *dy, int64_t n0, int64_t n1, float *dwp,
                               float *db, float *dpk, int isa)
{
    /* hk_tap_pre: the window of one sample (tc_win) when a chunk takes one sample */
    int64_t wrows = g->dout * g->hw;
    tc_win wd = {.n = -1, .cap = tc_win_cap(g)}, *win = pre && wrows * 2 > TC_WCHUNK ? &wd : NULL;
#if TC_X86 && defined(__GNUC__)
    if (isa >= HK_ISA_AVX512 && dwp) {
        int64_t rows = g->dout * g->hw, per = tc_wper(g);
        for (int64_t n = n0; n < n1; n += per) {
            int ns = (int)(n1 - n < per ? n1 - n : per);
            for (int64_t c0 = 0; c0 < rows; c0 += TC_WCHUNK) {
                int64_t c1 = c0 + TC_WCHUNK < rows ? c0 + TC_WCHUNK : rows;
                tc_wz_pack(g, dy, n, ns, c0, c1, dpk, db);
                /* the next chunk's dy rows and (window) input rows, over the taps */
                tc_pfc pa, pb, *pfa = NULL, *pfb = NULL;
                if (ns == 1) {
                    int64_t e = c1 + TC_WCHUNK < rows ? c1 + TC_WCHUNK : rows;
                    pfa = tc_pfc_init(&pa, dy + n * g->oc * rows, rows * 8, 0, 1, g->oc / 8, c1,
                                      e, 0);
                    if (win) {
                        int64_t din = g->din * g->hw, q = c1 + (g->k - 1 - g->pad) * g->hw;
                        if (q < 0) q = 0;
                        pfb = tc_pfc_init(&pb, x + n * g->c * din, din * 8, 0, 1, g->c / 8, q,
                                          q + (c1 - c0) < din ? q + (c1 - c0) : din, 0);
                    }
                }
                tc_wz_chunk(g, x, pre, pbuf, win, n, ns, dpk, c0, c1, dwp, pfa, pfb);
            }
        }
        return;
    }
#endif
    (void)dpk;
    int64_t per = win ? 1 : tc_wper(g);
    for (int64_t n = n0; n < n1; n += per)
        tc_weights_rows(g, x, pre, pbuf, win, dy, n, n1 - n < per ? n1 - n : per, dwp, db, isa);
}

/* ---- the channel-pair row kernel (AVX-512, chunks of 24 outputs) --------------------------
 * tc_mk_avx512 gives a row of 24 outputs a zmm and a ymm: with 512-bit FMAs in flight the ymm
 * one takes a whole FMA slot, so a quarter of the lanes idle (SSRN's spectral convs, forward
 * and backward data, ran at 69-71 % of the FMA peak). Here, as in tc_wz_avx512, a zmm holds 8
 * outputs of a row for TWO input channels: lane 2 o + h adds x[r][2 m + h] w[2 m + h][o], so
 * the multiplier is the pair {x[r][2 m], x[r][2 m + 1]} repeated 8 times, one vbroadcastsd
 * (a load-port op) straight from the input (the channels of a row are adjacent in nCdhw8c),
 * against weights packed by channel pairs (tc_pack_pair: 16 floats per pair and 8 outputs,
 * the same count as tc_pack's). 24 outputs of a row are 3 zmm, every lane used; the two
 * halves of each output are added at the store, once per call. No input is packed, the
 * taps shift rows by any amount, and every plane keeps tc_taps' taps.
 * (A first version paired two rows in a zmm instead: that needs the input packed per work
 * item as {x[r][c], x[r + 1][c]} for both parities of r (the shifts (k - pad) HW are odd
 * when HW is), and that packing, L2-bound, took 20 % of SSRN's forward: 121 GFLOP/s
 * against the old kernel's 148; the micro-kernel alone ran at 88 % of the peak.) */
#define TC_PMAX 12                  /* rows a micro-kernel call takes at most */

/* 1: hk_tap_forward (dir 0) / the backward data (dir 1) of g run on the channel-pair kernel:
 * AVX-512 and chunks of 24 outputs (C2's 32-wide chunks use every lane already) */
static int tc_pair_on(const hk_tap *g, int dir, int isa)
{
    int64_t cin = dir ? g->oc : g->c, cout = dir ? g->c : g->oc;
    return TC_X86 && isa >= HK_ISA_AVX512 && cin % 8 == 0 && cout % 8 == 0
           && tc_cw(cout, isa) == 24 && g->stride <= 1;
}

/* Input rows an item of TC_CHUNK output rows reads, at most (and no more than the input has) */
static size_t tc_pq_rows(int64_t din, int64_t hw, int64_t k)
{
    int64_t q = TC_CHUNK + (k - 1) * hw;
    return (size_t)(q < din * hw ? q : din * hw);
}

/* The per-thread buffer of a sample's transformed input rows for an item (hk_tap_pre on the
 * forward, several samples an item: tc_rows_pair; one sample an item takes the window),
 * floats: after the scratch of the other kernels */
static size_t tc_pq_floats(const hk_tap *g, int isa)
{
    if (!tc_pair_on(g, 0, isa) || g->c % 8 || tc_per(g->dout * g->hw) == 1) return 0;
    return TC_R16((size_t)g->c * tc_pq_rows(g->din, g->hw, g->k));
}

static size_t tc_pair_floats(const hk_tap *g)
{
    return (size_t)g->threads * tc_pq_floats(g, hk_isa());
}

static float *tc_pair_scratch(const hk_tap *g, float *scratch)
{
    return tc_pre_buf(g, scratch, 0) + (size_t)g->threads * tc_pre_floats(g);
}

/* wp for the channel-pair kernel: chunks of 24 outputs (the last what remains), each
 * [K][cin / 2][width][2]: per tap, pair of input channels c = 2 m, 2 m + 1 and output o,
 * w[c][o] at 2 o and w[c + 1][o] at 2 o + 1; from w plain [OC, C, K], transposed as
 * tc_pack's. */
static void tc_pack_pair(const hk_tap *g, const float *w, int transposed, float *wp)
{
    int64_t cin = transposed ? g->oc : g->c, cout = transposed ? g->c : g->oc, K = g->k, C = g->c;
    TC_OMP("omp parallel for schedule(static)")
    for (int64_t c = 0; c < cin; c++)
        for (int64_t oc0 = 0; oc0 < cout; oc0 += 24) {
            int64_t width = cout - oc0 < 24 ? cout - oc0 : 24;
            float *chunk = wp + oc0 * K * cin;
            for (int64_t k = 0; k < K; k++)
                for (int64_t o = 0; o < width; o++)
                    chunk[(k * cin + c / 2 * 2) * width + 2 * o + c % 2] =
                        transposed ? w[(c * C + oc0 + o) * K + K - 1 - k]
                                   : w[((oc0 + o) * C + c) * K + k];
        }
}

#if TC_X86 && defined(__GNUC__)
/* R rows x NV blocks of 8 outputs (tc_mk's call; weights tc_pack_pair's) */
static inline __attribute__((always_inline)) TC_AVX512 void tc_mc_avx512(const tc_mk *m,
                                                                         const int R,
                                                                         const int NV)
{
    /* spread: 8 values to the even lanes (odd: 0); ev / od: the even / odd lanes of two
     * accumulators, a row's 8 outputs each (y's rows r and r + 1: 16 consecutive floats) */
    const __m512i spread = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const int64_t ybs = m->ybs;
#define TC_SPREAD(p) _mm512_maskz_permutexvar_ps(0x5555, spread, \
                                                 _mm512_castps256_ps512(_mm256_loadu_ps(p)))
    __m512 a[TC_PMAX][3];
    if (m->acc) {
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
#pragma GCC unroll 3
            for (int j = 0; j < NV; j++) a[r][j] = TC_SPREAD(m->y + j * ybs + r * 8);
    } else {
        __m512 bz[3];
#pragma GCC unroll 3
        for (int j = 0; j < NV; j++) bz[j] = m->b ? TC_SPREAD(m->b + 8 * j) : _mm512_setzero_ps();
#undef TC_SPREAD
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
#pragma GCC unroll 3
            for (int j = 0; j < NV; j++) a[r][j] = bz[j];
    }
    const float *wq = m->w;
    for (int t = 0; t < m->ntap; t++) {
        const float *xt = m->x + t * m->ts;
        for (int cb = 0; cb < m->ncb; cb++, wq += 64 * NV) {
            const float *xp = xt + cb * m->bs;
            /* the next call's rows (see tc_mk_avx2) */
#pragma GCC unroll 12
            for (int i = 0; i < (R + 1) / 2; i++)
                _mm_prefetch((const char *)(xp + R * 8 + 16 * i), _MM_HINT_T0);
            tc_pfc_one(m->pf[0]);   /* spread: a burst waits for free miss buffers */
            tc_pfc_one(m->pf[1]);
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++) {
                __m512 wz[3];
#pragma GCC unroll 3
                for (int j = 0; j < NV; j++) wz[j] = _mm512_loadu_ps(wq + p * 16 * NV + 16 * j);
#pragma GCC unroll 12
                for (int r = 0; r < R; r++) {
                    double t2;
                    memcpy(&t2, xp + r * 8 + 2 * p, sizeof t2);
                    __m512 xv = _mm512_castpd_ps(_mm512_set1_pd(t2));
#pragma GCC unroll 3
                    for (int j = 0; j < NV; j++) a[r][j] = _mm512_fmadd_ps(xv, wz[j], a[r][j]);
                }
            }
        }
    }
    /* the output (the halves added), then the residual: the same float additions as the
     * conv's store followed by a separate add of the residual (hsi_conv_forward_res) */
#pragma GCC unroll 6
    for (int r = 0; r + 1 < R; r += 2)
#pragma GCC unroll 3
        for (int j = 0; j < NV; j++) {
            __m512 v = _mm512_add_ps(_mm512_permutex2var_ps(a[r][j], ev, a[r + 1][j]),
                                     _mm512_permutex2var_ps(a[r][j], od, a[r + 1][j]));
            if (m->res) v = _mm512_add_ps(_mm512_loadu_ps(m->res + j * ybs + r * 8), v);
            _mm512_storeu_ps(m->y + j * ybs + r * 8, v);
        }
    if (R % 2) {
        const __m512 z = _mm512_setzero_ps();
#pragma GCC unroll 3
        for (int j = 0; j < NV; j++) {
            __m256 v = _mm512_castps512_ps256(_mm512_add_ps(
                _mm512_permutex2var_ps(a[R - 1][j], ev, z),
                _mm512_permutex2var_ps(a[R - 1][j], od, z)));
            if (m->res) v = _mm256_add_ps(_mm256_loadu_ps(m->res + j * ybs + (R - 1) * 8), v);
            _mm256_storeu_ps(m->y + j * ybs + (R - 1) * 8, v);
        }
    }
}

#define TC_MC(R, NV) \
    static TC_AVX512 void tc_mc_##R##_##NV(const tc_mk *m) { tc_mc_avx512(m, R, NV); }
#define TC_MC8(NV)                                                                             \
    TC_MC(1, NV) TC_MC(2, NV) TC_MC(3, NV) TC_MC(4, NV) TC_MC(5, NV) TC_MC(6, NV) TC_MC(7, NV) \
    TC_MC(8, NV)
TC_MC8(1) TC_MC8(2) TC_MC8(3)
TC_MC(9, 1) TC_MC(10, 1) TC_MC(11, 1) TC_MC(12, 1)
TC_MC(9, 2) TC_MC(10, 2) TC_MC(11, 2) TC_MC(12, 2)
#define TC_EC8(NV)                                                                             \
    tc_mc_1_##NV, tc_mc_2_##NV, tc_mc_3_##NV, tc_mc_4_##NV, tc_mc_5_##NV, tc_mc_6_##NV,        \
    tc_mc_7_##NV, tc_mc_8_##NV
/* [NV - 1][R - 1]: at most 24 accumulators (NV 3: 8 rows) */
static void (*const tc_mc_tab[3][TC_PMAX])(const tc_mk *) = {
    {TC_EC8(1), tc_mc_9_1, tc_mc_10_1, tc_mc_11_1, tc_mc_12_1},
    {TC_EC8(2), tc_mc_9_2, tc_mc_10_2, tc_mc_11_2, tc_mc_12_2},
    {TC_EC8(3), NULL, NULL, NULL, NULL}};
#undef TC_MC
#undef TC_MC8
#undef TC_EC8

#endif

/* Taps a call runs through before its outputs go back to y (as TC_KB_BYTES) */
#ifndef TC_PKB_BYTES
#define TC_PKB_BYTES TC_KB_BYTES
#endif

/* tc_run on the channel-pair kernel: rows [r0, r1) of samples [n0, n1) whose planes see the
 * taps [k0, k1), per block of taps, per chunk of 24 outputs, every sample's rows in calls of
 * at most 8 rows (12 for 8 and 16 outputs), as even as they come. With k1 == k0 (planes that
 * read only padding: pad >= K) one call per row block writes the bias. */
static void tc_run_pair(const tc_geo *g, int64_t n0, int64_t n1, int64_t r0, int64_t r1,
                        int64_t k0, int64_t k1, tc_pfc *pf, tc_pfc *pf2)
{
#if TC_X86 && defined(__GNUC__)
    int64_t kb = TC_PKB_BYTES / (g->cin * 24 * (int64_t)sizeof(float));
    if (kb < 1) kb = 1;
    for (int64_t t0 = k0; t0 == k0 || t0 < k1; t0 += kb) {
        int64_t t1 = t0 + kb < k1 ? t0 + kb : k1;
        tc_mk m = {.ts = g->hw * 8, .bs = g->in_bs, .ntap = (int)(t1 - t0),
                   .ncb = (int)(g->cin / 8), .ybs = g->out_bs, .acc = t0 > k0,
                   .pf = {pf, pf2}};
        for (int64_t oc0 = 0; oc0 < g->cout; oc0 += 24) {
            int nv = (int)(g->cout - oc0 >= 24 ? 3 : (g->cout - oc0) / 8);
            int rmax = nv == 3 ? 8 : TC_PMAX;
            m.w = g->wp + oc0 * g->k * g->cin + t0 * g->cin * 8 * nv;
            m.b = g->bias && t0 == k0 ? g->bias + oc0 : NULL;
            int64_t nr = r1 - r0, nb = (nr + rmax - 1) / rmax;
            for (int64_t n = n0; n < n1; n++) {
                const float *xin = g->in + n * g->in_ns + (t0 - g->pad) * g->hw * 8;
                float *yout = g->out + n * g->out_ns + (oc0 / 8) * g->out_bs;
                const float *rin = g->res && t1 >= k1
                                       ? g->res + n * g->out_ns + (oc0 / 8) * g->out_bs : NULL;
                for (int64_t b = 0, r = r0; b < nb; b++) {
                    int R = (int)(nr / nb + (b < nr % nb));
                    m.x = xin + r * 8;
                    m.y = yout + r * 8;
                    m.res = rin ? rin + r * 8 : NULL;
                    tc_mc_tab[nv - 1][R - 1](&m);
                    r += R;
                }
            }
        }
    }
#else
    (void)g, (void)n0, (void)n1, (void)r0, (void)r1, (void)k0, (void)k1;
#endif
}

/* The input rows [*q0, *q1) the output rows [c0, c1) of a sample read (tc_taps' taps) */
static void tc_pq_range(const tc_geo *g, int64_t c0, int64_t c1, int64_t *q0, int64_t *q1)
{
    int64_t hw = g->hw;
    *q0 = g->din * hw;
    *q1 = 0;
    for (int64_t r = c0, e; r < c1; r = e) {
        int64_t k0, k1;
        e = tc_run_end(g, r, c1, &k0, &k1);
        if (k1 > k0) {
            int64_t lo = r + (k0 - g->pad) * hw, hi = e + (k1 - 1 - g->pad) * hw;
            if (lo < *q0) *q0 = lo;
            if (hi > *q1) *q1 = hi;
        }
    }
    if (*q1 < *q0) *q1 = *q0;
}

/* tc_rows on the channel-pair kernel (wp: tc_pack_pair's), the same work items and runs, T
 * threads at most. With g->pre the rows an item reads are transformed first: one sample an
 * item (SSRN's spectral convs) into the thread's window (tc_win, as tc_run: each row once, not
 * once per item with the taps' halo: the fused forward, batch 16, 1 thread, 4.11 -> 4.00 ms,
 * the plain conv 3.54), several (C2-like) per sample into the thread's buffer pq + t * pqs. */
static void tc_rows_pair(const tc_geo *g, int64_t n_samples, float *pq, size_t pqs, int T)
{
    int64_t rows = g->dout * g->hw, items = tc_items(rows, n_samples, T);
    const int win1 = g->pre && tc_per(rows) == 1;
    (void)T;
    TC_OMP("omp parallel num_threads(T)")
    {
    tc_win win = {.n = -1, .cap = g->wcap};
    TC_OMP("omp for schedule(static)")
    for (int64_t it = 0; it < items; it++) {
        int64_t n, n1, c0, c1, k0, k1, q0 = 0, q1 = 0;
        tc_pfc pfc, pfc2, *pf = NULL, *pf2 = NULL;
        tc_item(it, items, rows, n_samples, &n, &n1, &c0, &c1);
        /* the rows the hook sums at the item's end, during its calls (one a sample) */
        if (g->hook && g->hook->pf && n1 == n + 1)
            pf2 = tc_pfc_init(&pfc2, g->hook->pf + n * g->out_ns, g->out_bs, 0, 1, g->cout / 8,
                              c0, c1, 0);
        tc_geo gi = *g;
        if (g->pre) {
            /* per sample: the rows it reads transformed, at their offsets from q0 */
            tc_pq_range(g, c0, c1, &q0, &q1);
            gi.in_ns = 0;
        }
        if (win1) {
            float *buf = g->pbuf + (size_t)tc_thread() * (size_t)g->pstride;
            tc_win_start(&win, n, q0, q1);
            tc_win_fill(g->pre, &win, buf, g->in + n * g->in_ns, g->in_bs, g->cin / 8, q1,
                        HK_ISA_AVX512);
            gi.in = buf - win.lo * 8;
            gi.in_bs = win.cap * 8;
            /* the next item's new rows of the sample, during this item's calls */
            pf = tc_pfc_init(&pfc, g->in + n * g->in_ns, g->in_bs, 0, 1, g->cin / 8, q1,
                             q1 + (c1 - c0) < g->din * g->hw ? q1 + (c1 - c0) : g->din * g->hw, 0);
        }
        for (int64_t s = n; s < (g->pre ? n1 : n + 1); s++) {
            int64_t sa = g->pre ? 0 : n, sb = g->pre ? 1 : n1;
            if (g->pre) {
                if (!win1) {
                    float *q = pq + (size_t)tc_thread() * pqs;
                    tc_pre_rows(g->pre, g->cin / 8, g->in + s * g->in_ns, g->in_bs, 0, 1, q0, q1,
                                q, HK_ISA_AVX512);
                    gi.in = q - q0 * 8;
                    gi.in_bs = (q1 - q0) * 8;
                }
                gi.out = g->out + s * g->out_ns;
                gi.res = g->res ? g->res + s * g->out_ns : NULL;
            }
            for (int64_t r = c0, e; r < c1; r = e) {
                e = tc_run_end(g, r, c1, &k0, &k1);
                tc_run_pair(&gi, sa, sb, r, e, k0, k1, pf, pf2);
            }
        }
        tc_item_done(g, n, n1, c0, c1);
    }
    }
}

/* ---- public entry points ------------------------------------------------------------------ */

/* wp for tc_rows: chunks of tc_cw outputs (the last what remains), each [K][cin][width], from w plain
 * [OC, C, K]; transposed: inputs and outputs swapped and the taps flipped (backward data). */
static void tc_pack(const hk_tap *g, const float *w, int transposed, float *wp)
{
    int64_t cin = transposed ? g->oc : g->c, cout = transposed ? g->c : g->oc, K = g->k, C = g->c;
    int isa = hk_isa();
    int64_t nch = tc_nchunks(cout, isa);
    /* forward per chunk of outputs, written in order (its rows of w stay in L2: 223 KB for
     * C2); transposed per input, a block of w read in order (one output at a time it wrote
     * K * cin * 24 floats apart: C2's transposed pack of 1.2 MB took 1.5 ms, now 0.12-0.2;
     * forward 0.27 -> 0.24, 1 thread) */
    if (!transposed) {
        TC_OMP("omp parallel for schedule(static)")
        for (int64_t i = 0; i < nch; i++) {
            int64_t oc0, width = tc_chunk(cout, isa, i, &oc0);
            float *chunk = wp + oc0 * K * cin;
            for (int64_t k = 0; k < K; k++)
                for (int64_t c = 0; c < cin; c++)
                    for (int64_t o = 0; o < width; o++)
                        chunk[(k * cin + c) * width + o] = w[((oc0 + o) * C + c) * K + k];
        }
        return;
    }
    TC_OMP("omp parallel for schedule(static)")
    for (int64_t c = 0; c < cin; c++)
        for (int64_t i = 0; i < nch; i++) {
            int64_t oc0, width = tc_chunk(cout, isa, i, &oc0);
            float *chunk = wp + oc0 * K * cin;
            for (int64_t k = 0; k < K; k++)
                for (int64_t o = 0; o < width; o++)
                    chunk[(k * cin + c) * width + o] = w[(c * C + oc0 + o) * K + K - 1 - k];
        }
}

/* geo (dir 0: forward, 1: backward data) on the channel-pair kernel: its weights where
 * tc_pack's go, the per-thread buffers (tc_pq_pack) after the other kernels' scratch */
static void tc_pair_run(const hk_tap *g, tc_geo *geo, const float *w, int dir, float *scratch)
{
    tc_pack_pair(g, w, dir, scratch);
    geo->wp = scratch;
    int T = tc_threads() < g->threads ? tc_threads() : g->threads;
    tc_rows_pair(geo, g->n, tc_pair_scratch(g, scratch), tc_pq_floats(g, hk_isa()), T);
}

/* Every row kernel (AVX-512 channel-pair and 12-row, AVX2, portable C) adds the residual at the
 * store of the last block of taps: the forward takes one whenever it runs (C and OC multiples
 * of 8). On the AVX2 path, SSRN's spectral convs, 1 thread: the separate add took 1.4 ms each. */
int hk_tap_residual_ok(const hk_tap *g) { return g->c % 8 == 0 && g->oc % 8 == 0; }

/* The backward data adds into dx at the store (geo.res = dx), which is right only when every
 * tap goes in one block: a second block would find dx overwritten by the first block's
 * partial sums. The blocks: tc_run_pair's (TC_PKB_BYTES, 24 outputs a chunk) or tc_run's
 * (TC_KB_BYTES, tc_cw outputs) over oc input channels. */
int hk_tap_dx_add_ok(const hk_tap *g)
{
    int isa = hk_isa();
    if (g->c % 8 || g->oc % 8 || g->stride > 1) return 0;
    if (tc_pair_on(g, 1, isa)) return g->k * g->oc * 24 * (int64_t)sizeof(float) <= TC_PKB_BYTES;
    return g->k * g->oc * tc_cw(g->c, isa) * (int64_t)sizeof(float) <= TC_KB_BYTES;
}

int hk_tap_hook_ok(const hk_tap *g, int dir)
{
    return g->stride <= 1 && (dir == 0 || g->c % 8 == 0);
}

void hk_tap_forward(const hk_tap *g, const float *x, const hk_tap_pre *pre, const float *w,
                    const float *b, float *y, float *scratch)
{
    hk_tap_forward_res(g, x, pre, w, b, NULL, y, scratch, NULL);
}

void hk_tap_forward_res(const hk_tap *g, const float *x, const hk_tap_pre *pre, const float *w,
                        const float *b, const float *res, float *y, float *scratch,
                        const hk_tap_hook *hook)
{
    if (hook && !hk_tap_hook_ok(g, 0)) {
        fprintf(stderr, "hk_tap_forward_res: a hook needs the row kernels\n");
        abort();
    }
    if (res && !hk_tap_residual_ok(g)) {
        fprintf(stderr, "hk_tap_forward_res: a residual needs C and OC multiples of 8\n");
        abort();
    }
    if (pre && g->c % 8) {
        fprintf(stderr, "hk_tap_forward: an input transform needs C a multiple of 8\n");
        abort();
    }
    float *wp = scratch;
    tc_pack(g, w, 0, wp);
    tc_geo geo = {.in = x, .in_bs = g->din * g->hw * 8, .in_ns = g->c * g->din * g->hw,
                  .cin = g->c, .out = y, .out_bs = g->dout * g->hw * 8,
                  .out_ns = g->oc * g->dout * g->hw, .cout = g->oc, .din = g->din,
                  .dout = g->dout, .hw = g->hw, .k = g->k, .pad = g->pad, .wp = wp,
                  .bias = g->bias ? b : NULL, .res = res, .pre = pre,
                  .pbuf = pre ? tc_pre_buf(g, scratch, 0) : NULL,
                  .pstride = (int64_t)tc_pre_floats(g),
                  .nthr = tc_threads() < g->threads ? tc_threads() : g->threads,
                  .wcap = tc_win_cap(g), .hook = hook};
    if (tc_pair_on(g, 0, hk_isa())) {
        tc_pair_run(g, &geo, w, 0, scratch);
        return;
    }
    tc_rows(&geo, g->n);
}

void hk_tap_backward(const hk_tap *g, const float *x, const hk_tap_pre *pre, const float *w,
                     const float *dy, float *dx, float *dw, float *db, float *scratch)
{
    hk_tap_backward_hook(g, x, pre, w, dy, dx, 0, dw, db, scratch, NULL);
}

void hk_tap_backward_hook(const hk_tap *g, const float *x, const hk_tap_pre *pre,
                          const float *w, const float *dy, float *dx, int dx_add, float *dw,
                          float *db, float *scratch, const hk_tap_hook *hook)
{
    if (hook && (!dx || !hk_tap_hook_ok(g, 1))) {
        fprintf(stderr, "hk_tap_backward_hook: a hook needs dx on the row kernels\n");
        abort();
    }
    if (dx_add && (!dx || !hk_tap_dx_add_ok(g))) {
        fprintf(stderr, "hk_tap_backward_hook: dx += needs hk_tap_dx_add_ok\n");
        abort();
    }
    if (pre && g->c % 8) {
        fprintf(stderr, "hk_tap_backward: an input transform needs C a multiple of 8\n");
        abort();
    }
    size_t kco = (size_t)(g->k * g->c * g->oc);
    if (dx && g->c % 8 == 0 && g->stride <= 1) {
        float *wd = scratch;
        int pair = tc_pair_on(g, 1, hk_isa());
        if (!pair) tc_pack(g, w, 1, wd);
        tc_geo geo = {.in = dy, .in_bs = g->dout * g->hw * 8, .in_ns = g->oc * g->dout * g->hw,
                      .cin = g->oc, .out = dx, .out_bs = g->din * g->hw * 8,
                      .out_ns = g->c * g->din * g->hw, .cout = g->c, .din = g->dout,
                      .dout = g->din, .hw = g->hw, .k = g->k, .pad = g->k - 1 - g->pad,
                      .wp = wd, .bias = NULL, .res = dx_add ? dx : NULL, .hook = hook};
        if (pair) tc_pair_run(g, &geo, w, 1, scratch);
        else tc_rows(&geo, g->n);
    }
    if (!g->bias) db = NULL;
    if (!dw && !db) return;
    int isa = hk_isa();
    int T = tc_threads() < g->threads ? tc_threads() : g->threads;
    float *part = scratch + TC_R16(kco);
    size_t per = TC_R16(kco) + TC_R16(g->oc) + TC_WPACK(g);
    /* AVX-512 (C a multiple of 8): partial sums in tc_wz's layout */
    int zl = isa >= HK_ISA_AVX512 && g->c % 8 == 0 && TC_X86;
    /* samples split in T contiguous ranges; partial sums reduced in thread order below */
    TC_OMP("omp parallel num_threads(T)")
    {
        int t = tc_thread(), nt = 1;
#ifdef _OPENMP
        nt = omp_get_num_threads();
#endif
        int64_t lo = g->n * t / nt, hi = g->n * (t + 1) / nt;
        float *pw = part + (size_t)t * per;
        /* each thread zeroes its own partial sums (C2, 2 threads: 3.4 MB, which one thread
         * zeroing them all before the region took while the other waited), thread 0 those of
         * threads the region did not get */
        memset(pw, 0, per * sizeof *pw);
        if (t == 0 && nt < T) memset(part + (size_t)nt * per, 0, (size_t)(T - nt) * per * sizeof *part);
        float *pb = db ? pw + kco : NULL;
        if (g->c == 1) {
            for (int64_t n = lo; n < hi; n++) {
                if (dw) tc_weights_sample_c1(g, x, dy, n, pw, isa);
                if (pb) tc_bias_rows(g, dy + n * g->oc * g->dout * g->hw, 0, g->dout * g->hw, pb);
            }
        } else {
            tc_weights_samples(g, x, pre, pre ? tc_pre_buf(g, scratch, t) : NULL, dy, lo, hi,
                               dw ? pw : NULL, pb, pw + TC_R16(kco) + TC_R16(g->oc), isa);
        }
    }
    /* the threads' partial sums in thread order, from [K][C][OC] to dw's [OC][C][K], per input
     * channel and 16 outputs: down the taps, each row of part (C * OC floats apart) gives a
     * cache line at once (output by output, the line was gone when the next output came) */
    if (dw && zl) {
        /* tc_zidx's layout: per pair of channels and 8 outputs, down the taps, 16 floats (one
         * line) a tap; dw's 16 rows of taps stay in L1 meanwhile (per element, the index
         * arithmetic took 0.45 ms of C2's 4.1, 1 thread) */
        int64_t np = g->c / 2 * (g->oc / 8), cko = g->c * g->oc;
        TC_OMP("omp parallel for schedule(static)")
        for (int64_t it = 0; it < np; it++) {
            int64_t c = it / (g->oc / 8) * 2, o = it % (g->oc / 8) * 8;
            const float *src = part + c * g->oc + o * 2;
            float *dst = dw + (o * g->c + c) * g->k;
            for (int64_t k = 0; k < g->k; k++) {
                float v[16];
                for (int l = 0; l < 16; l++) v[l] = src[k * cko + l];
                for (int t = 1; t < T; t++)
                    for (int l = 0; l < 16; l++) v[l] += src[(size_t)t * per + k * cko + l];
                for (int l = 0; l < 16; l++) dst[(l / 2 * g->c + l % 2) * g->k + k] += v[l];
            }
        }
    } else if (dw) {
        int64_t ob = g->oc % 16 ? 8 : 16;
        TC_OMP("omp parallel for schedule(static)")
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t o0 = 0; o0 < g->oc; o0 += ob)
                for (int64_t k = 0; k < g->k; k++)
                    for (int64_t o = o0; o < o0 + ob; o++) {
                        size_t i = (size_t)((k * g->c + c) * g->oc + o);
                        float v = part[i];
                        for (int t = 1; t < T; t++) v += part[(size_t)t * per + i];
                        dw[(o * g->c + c) * g->k + k] += v;
                    }
    }
    if (db)
        for (int64_t o = 0; o < g->oc; o++) {
            float v = part[kco + (size_t)o];
            for (int t = 1; t < T; t++) v += part[(size_t)t * per + kco + (size_t)o];
            db[o] += v;
        }
}

/* ---- the fold of C2's input ----------------------------------------------------------------
 * Per pixel, blocks of 8 planes x 8 channels are transposed: 8 rows of x (planes d .. d+7, one
 * vector of 8 channels each) become 8 runs of y (channel l: planes d .. d+7). Work items:
 * (sample, channel block). */
#if TC_X86 && defined(__GNUC__)
/* 8 vectors at a (a_step floats apart) -> their transpose at b (b_step floats apart) */
static TC_AVX2 void tc_t8x8(const float *a, int64_t a_step, float *b, int64_t b_step)
{
    __m256 r[8], s[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(a + i * a_step);
    for (int i = 0; i < 8; i += 2) {
        s[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        s[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(s[i], s[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(s[i], s[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(s[i + 1], s[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(s[i + 1], s[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(b + i * b_step, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(b + (i + 4) * b_step, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}
#endif

static void tc_fold(int64_t n, int64_t c, int64_t d, int64_t hw, float *x, float *y, int back)
{
    int avx2 = tc_avx2();
    int64_t cb = c / 8, items = n * cb;
    /* the source is read in order (the prefetchers follow it); the item's destination, 1 / N
     * of the tensor, stays in L2: fold runs down the planes, unfold along the pixels */
    int64_t outer = back ? hw : (d + 7) / 8, inner = back ? (d + 7) / 8 : hw;
    TC_OMP("omp parallel for schedule(static)")
    for (int64_t it = 0; it < items; it++) {
        int64_t s = it / cb, b = it % cb;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t p = back ? o : i, k = 8 * (back ? i : o);
                float *xs = x + ((s * cb + b) * d * hw + p) * 8;    /* plane 0 at pixel p */
                float *ys = y + (s * hw + p) * c * d + b * 8 * d;  /* channel b * 8, plane 0 */
#if TC_X86 && defined(__GNUC__)
                if (avx2 && k + 8 <= d) {
                    if (back) tc_t8x8(ys + k, d, xs + k * hw * 8, hw * 8);
                    else tc_t8x8(xs + k * hw * 8, hw * 8, ys + k, d);
                    continue;
                }
#endif
                for (int64_t e = k + 8 < d ? k + 8 : d; k < e; k++)
                    for (int l = 0; l < 8; l++) {
                        if (back) xs[k * hw * 8 + l] = ys[l * d + k];
                        else ys[l * d + k] = xs[k * hw * 8 + l];
                    }
            }
    }
    (void)avx2;
}

void hk_tap_fold(int64_t n, int64_t c, int64_t d, int64_t hw, const float *x, float *y)
{
    tc_fold(n, c, d, hw, (float *)x, y, 0);
}

void hk_tap_unfold(int64_t n, int64_t c, int64_t d, int64_t hw, const float *y, float *x)
{
    tc_fold(n, c, d, hw, x, (float *)y, 1);
}
