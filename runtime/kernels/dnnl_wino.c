/* dnnl_wino.c — F(3x3, 3x3) Winograd convolutions for the oneDNN backend (see dnnl_wino.h).
 *
 * The transforms run on 16 lanes at a time (wn_v, GCC's vector extension: one zmm on AVX-512,
 * two ymm on AVX2, SSE registers otherwise): the input's over 16 channels of a tile (their
 * windows gathered), the weights' and dw's over 16 consecutive filters, the outputs' and dy's
 * over 16 output channels (contiguous in NHWC). The 25 GEMMs of a pass are oneDNN's sgemm,
 * each on one thread (at about 70 % of the FMA peak at these sizes; the transforms stream
 * their tensors at memory speed). Not done: padding, strides, the input gradient (smallconv's
 * first layers need none).
 *
 * The contextual CNN's 3x3 bank (batch 128, 200 -> 128 bands, 5x5 -> 3x3) in the 2-thread
 * training step, AVX-512 (smallconv's direct kernel -> this): forward 1.52 -> 0.81-0.88 ms,
 * weights' gradient 1.59 -> 0.70-0.75 ms.
 */
#ifdef HSICC_WITH_DNNL   /* (built without oneDNN: nothing; dnnl.c alone calls it) */
#include "dnnl_wino.h"
#include "tapconv.h"
#include "hsi_kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#ifdef _OPENMP
#define WN_OMP(x) _Pragma(x)
#else
#define WN_OMP(x)
#endif

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define WN_X86 1
#define WN_AVX2 __attribute__((target("avx2,fma")))
#define WN_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#else
#define WN_X86 0
#endif
#define WN_INLINE static inline __attribute__((always_inline))

#define WN_L 16                     /* lanes of wn_v */
typedef float wn_v __attribute__((vector_size(4 * WN_L)));

int hk_wino_ok(const hk_sc *g)
{
    if (hsi_env_flag("HSICC_DNNL_NO_WINOGRAD")) return 0;
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->oh > 0 && g->ow > 0
           && g->oh % 3 == 0 && g->ow % 3 == 0 && g->h == g->oh + 2 && g->w == g->ow + 2;
}

/* tiles: (sample, tile row, tile column) */
static int64_t wn_tiles(const hk_sc *g) { return g->n * (g->oh / 3) * (g->ow / 3); }

/* tile t's window in x (its first float) and its first output row of y */
static int64_t wn_xoff(const hk_sc *g, int64_t t)
{
    int64_t th = g->oh / 3, tw = g->ow / 3, n = t / (th * tw);
    return n * g->c * g->h * g->w + (t / tw % th) * 3 * g->w + t % tw * 3;
}
static int64_t wn_yrow(const hk_sc *g, int64_t t)
{
    int64_t th = g->oh / 3, tw = g->ow / 3, n = t / (th * tw);
    return (n * g->oh + t / tw % th * 3) * g->ow + t % tw * 3;
}

size_t hk_wino_scratch_floats(const hk_sc *g)
{
    int64_t t = wn_tiles(g);
    /* forward: V [25][T][C], U [25][OC][C], M [25][T][OC]; backward: V, P [25][OC][C],
     * Q [25][T][OC]: the same sizes */
    return (size_t)(25 * (t * g->c + g->oc * g->c + t * g->oc)) + 64;
}

/* ---- the transforms, on 16 lanes --------------------------------------------------------- */

/* B^T (rows scaled to integers) on a0..a4: o0..o4 */
#define WN_BT(a0, a1, a2, a3, a4, o0, o1, o2, o3, o4)                                         \
    do {                                                                                      \
        wn_v u_ = (a0) - (a2), w_ = (a1) - (a3);                                              \
        o0 = u_ + u_ - (a1) + (a3);                                                           \
        o1 = (a1) + (a1) + (a2) - (a3);                                                       \
        o2 = (a2) * 3.0f - ((a1) + (a1)) - (a3);                                              \
        o3 = (a3) - (a1);                                                                     \
        o4 = w_ + w_ - (a2) + (a4);                                                           \
    } while (0)
/* G (rows scaled by 1/2, 1/2, 1/6, 1/6, 1) on a0..a2: o0..o4 */
#define WN_G(a0, a1, a2, o0, o1, o2, o3, o4)                                                  \
    do {                                                                                      \
        o0 = (a0) * 0.5f;                                                                     \
        o1 = ((a0) + (a1) + (a2)) * 0.5f;                                                     \
        o2 = ((a0) - (a1) + (a2)) * (1.0f / 6.0f);                                            \
        o3 = ((a0) + (a1) * 2.0f + (a2) * 4.0f) * (1.0f / 6.0f);                              \
        o4 = (a2);                                                                            \
    } while (0)
/* A^T on m0..m4: o0..o2 */
#define WN_AT(m0, m1, m2, m3, m4, o0, o1, o2)                                                 \
    do {                                                                                      \
        o0 = (m0) + (m1) + (m2) + (m3);                                                       \
        o1 = (m1) - (m2) + (m3) * 2.0f;                                                       \
        o2 = (m1) + (m2) + (m3) * 4.0f + (m4);                                                \
    } while (0)

/* v[25] (a 5x5 window, row-major) -> B^T v B, in place */
WN_INLINE void wn_tf_in(wn_v *v)
{
    wn_v t[25];
    for (int s = 0; s < 5; s++)
        WN_BT(v[s], v[5 + s], v[10 + s], v[15 + s], v[20 + s], t[s], t[5 + s], t[10 + s],
              t[15 + s], t[20 + s]);
    for (int a = 0; a < 5; a++) {
        wn_v *r = t + 5 * a;
        WN_BT(r[0], r[1], r[2], r[3], r[4], v[5 * a], v[5 * a + 1], v[5 * a + 2], v[5 * a + 3],
              v[5 * a + 4]);
    }
}

/* f[9] (a 3x3 filter) -> G f G^T in o[25] */
WN_INLINE void wn_tf_g(const wn_v *f, wn_v *o)
{
    wn_v t[15];   /* [5][3] */
    for (int s = 0; s < 3; s++)
        WN_G(f[s], f[3 + s], f[6 + s], t[s], t[3 + s], t[6 + s], t[9 + s], t[12 + s]);
    for (int a = 0; a < 5; a++) {
        const wn_v *r = t + 3 * a;
        WN_G(r[0], r[1], r[2], o[5 * a], o[5 * a + 1], o[5 * a + 2], o[5 * a + 3], o[5 * a + 4]);
    }
}

/* m[25] -> A^T m A in o[9] */
WN_INLINE void wn_tf_out(const wn_v *m, wn_v *o)
{
    wn_v t[15];   /* [3][5] */
    for (int s = 0; s < 5; s++)
        WN_AT(m[s], m[5 + s], m[10 + s], m[15 + s], m[20 + s], t[s], t[5 + s], t[10 + s]);
    for (int i = 0; i < 3; i++) {
        const wn_v *r = t + 5 * i;
        WN_AT(r[0], r[1], r[2], r[3], r[4], o[3 * i], o[3 * i + 1], o[3 * i + 2]);
    }
}

/* nv (<= 16) floats at p as lanes 0..nv-1 (the rest 0), and back */
WN_INLINE void wn_ld(wn_v *v, const float *p, int nv)
{
    if (nv == WN_L) {   /* a constant size: one vector load */
        memcpy(v, p, sizeof *v);
        return;
    }
    memset(v, 0, sizeof *v);
    memcpy(v, p, (size_t)nv * sizeof(float));
}
WN_INLINE void wn_st(float *p, const wn_v *v, int nv)
{
    if (nv == WN_L)
        memcpy(p, v, sizeof *v);
    else
        memcpy(p, v, (size_t)nv * sizeof(float));
}

/* lanes of the group from i0 of n items */
static int wn_nv(int64_t n, int64_t i0) { return (int)(n - i0 < WN_L ? n - i0 : WN_L); }

/* k vectors: lane l of vector j = base[off[j] + l * stride] for l < nv, else 0 */
#if WN_X86
static WN_AVX512 void wn_gather_avx512(const float *base, const int *off, int k, int stride,
                                       int nv, wn_v *out)
{
    __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
                                                      3, 2, 1, 0),
                                     _mm512_set1_epi32(stride));
    __mmask16 m = (__mmask16)((1u << nv) - 1u);
    for (int j = 0; j < k; j++) {
        __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, base + off[j], 4);
        memcpy(out + j, &v, sizeof v);
    }
}
static WN_AVX2 void wn_gather_avx2(const float *base, const int *off, int k, int stride,
                                   int nv, wn_v *out)
{
    __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    __m256i idx = _mm256_mullo_epi32(lane, _mm256_set1_epi32(stride));
    __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nv), lane);
    __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nv - 8), lane);
    for (int j = 0; j < k; j++) {
        const float *b = base + off[j];
        __m256 lo = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), b, idx,
                                             _mm256_castsi256_ps(m0), 4);
        __m256 hi = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), b + 8 * stride, idx,
                                             _mm256_castsi256_ps(m1), 4);
        memcpy((float *)(out + j), &lo, sizeof lo);
        memcpy((float *)(out + j) + 8, &hi, sizeof hi);
    }
}
#endif
static void wn_gather_c(const float *base, const int *off, int k, int stride, int nv,
                        wn_v *out)
{
    for (int j = 0; j < k; j++) {
        float v[WN_L] = {0};
        for (int l = 0; l < nv; l++) v[l] = base[off[j] + l * stride];
        memcpy(out + j, v, sizeof v);
    }
}
static void wn_gather(int isa, const float *base, const int *off, int k, int stride, int nv,
                      wn_v *out)
{
#if WN_X86
    if (isa >= HK_ISA_AVX512) {
        wn_gather_avx512(base, off, k, stride, nv, out);
        return;
    }
    if (isa >= HK_ISA_AVX2) {
        wn_gather_avx2(base, off, k, stride, nv, out);
        return;
    }
#endif
    (void)isa;
    wn_gather_c(base, off, k, stride, nv, out);
}

/* The passes over the tensors, one body compiled for each ISA (WN_PASSES below): the
 * arithmetic is the same wn_v code, the gathers wn_gather's. */
#define WN_PASSES(SUF, ATTR, ISA)                                                             \
    /* x's windows -> V [25][T][C]: lanes over 16 channels of one tile */                     \
    ATTR static void wn_in_##SUF(const hk_sc *g, const float *x, float *V)                    \
    {                                                                                         \
        int64_t T = wn_tiles(g), C = g->c;                                                    \
        int off[25];                                                                          \
        for (int r = 0; r < 5; r++)                                                           \
            for (int s = 0; s < 5; s++) off[5 * r + s] = (int)(r * g->w + s);                 \
        WN_OMP("omp parallel for schedule(static)")                                           \
        for (int64_t t = 0; t < T; t++) {                                                     \
            const float *xt = x + wn_xoff(g, t);                                              \
            for (int64_t c0 = 0; c0 < C; c0 += WN_L) {                                        \
                int nv = wn_nv(C, c0);                                                        \
                wn_v v[25];                                                                   \
                wn_gather(ISA, xt + c0 * g->h * g->w, off, 25, (int)(g->h * g->w), nv, v);    \
                wn_tf_in(v);                                                                  \
                for (int q = 0; q < 25; q++) wn_st(V + (q * T + t) * C + c0, v + q, nv);     \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    /* w [OC][C][3][3] -> U [25][OC][C]: lanes over 16 consecutive filters (o, c) */          \
    ATTR static void wn_wt_##SUF(const hk_sc *g, const float *w, float *U)                    \
    {                                                                                         \
        int64_t F = g->oc * g->c, nf = (F + WN_L - 1) / WN_L;                                 \
        static const int off[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};                                \
        WN_OMP("omp parallel for schedule(static)")                                           \
        for (int64_t it = 0; it < nf; it++) {                                                 \
            int64_t f0 = it * WN_L;                                                           \
            int nv = wn_nv(F, f0);                                                            \
            wn_v f[9], u[25];                                                                 \
            wn_gather(ISA, w + f0 * 9, off, 9, 9, nv, f);                                     \
            wn_tf_g(f, u);                                                                    \
            for (int q = 0; q < 25; q++) wn_st(U + q * F + f0, u + q, nv);                    \
        }                                                                                     \
    }                                                                                         \
    /* M [25][T][OC] -> y NHWC (+ b): lanes over 16 output channels */                        \
    ATTR static void wn_out_##SUF(const hk_sc *g, const float *M, const float *b, float *y)   \
    {                                                                                         \
        int64_t T = wn_tiles(g), OC = g->oc;                                                  \
        WN_OMP("omp parallel for schedule(static)")                                           \
        for (int64_t t = 0; t < T; t++) {                                                     \
            float *yt = y + wn_yrow(g, t) * OC;                                               \
            for (int64_t o0 = 0; o0 < OC; o0 += WN_L) {                                       \
                int nv = wn_nv(OC, o0);                                                       \
                wn_v m[25], o[9], bv = {0};                                                   \
                if (b) wn_ld(&bv, b + o0, nv);                                                \
                for (int q = 0; q < 25; q++) wn_ld(m + q, M + (q * T + t) * OC + o0, nv);     \
                wn_tf_out(m, o);                                                              \
                for (int k = 0; k < 9; k++) {                                                 \
                    wn_v v = o[k] + bv;                                                       \
                    wn_st(yt + (k / 3 * g->ow + k % 3) * OC + o0, &v, nv);                    \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    /* dy NHWC -> Q [25][T][OC]: lanes over 16 output channels */                             \
    ATTR static void wn_dy_##SUF(const hk_sc *g, const float *dy, float *Q)                   \
    {                                                                                         \
        int64_t T = wn_tiles(g), OC = g->oc;                                                  \
        WN_OMP("omp parallel for schedule(static)")                                           \
        for (int64_t t = 0; t < T; t++) {                                                     \
            const float *dt = dy + wn_yrow(g, t) * OC;                                        \
            for (int64_t o0 = 0; o0 < OC; o0 += WN_L) {                                       \
                int nv = wn_nv(OC, o0);                                                       \
                wn_v f[9], q[25];                                                             \
                for (int k = 0; k < 9; k++)                                                   \
                    wn_ld(f + k, dt + (k / 3 * g->ow + k % 3) * OC + o0, nv);                 \
                wn_tf_g(f, q);                                                                \
                for (int k = 0; k < 25; k++) wn_st(Q + (k * T + t) * OC + o0, q + k, nv);     \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    /* P [25][OC][C] -> dw [OC][C][3][3] (+=): lanes over 16 consecutive filters */           \
    ATTR static void wn_dw_##SUF(const hk_sc *g, const float *P, float *dw)                   \
    {                                                                                         \
        int64_t F = g->oc * g->c, nf = (F + WN_L - 1) / WN_L;                                 \
        WN_OMP("omp parallel for schedule(static)")                                           \
        for (int64_t it = 0; it < nf; it++) {                                                 \
            int64_t f0 = it * WN_L;                                                           \
            int nv = wn_nv(F, f0);                                                            \
            wn_v p[25], o[9];                                                                 \
            float r[9][WN_L];                                                                 \
            for (int q = 0; q < 25; q++) wn_ld(p + q, P + q * F + f0, nv);                    \
            wn_tf_out(p, o);                                                                  \
            memcpy(r, o, sizeof r);                                                           \
            float *d = dw + f0 * 9;                                                           \
            for (int l = 0; l < nv; l++)                                                      \
                for (int k = 0; k < 9; k++) d[l * 9 + k] += r[k][l];                          \
        }                                                                                     \
    }                                                                                         \
    /* db += column sums of dy [rows][OC], rows in order: lanes over 16 output channels */    \
    ATTR static void wn_db_##SUF(const hk_sc *g, const float *dy, float *db)                  \
    {                                                                                         \
        int64_t rows = g->n * g->oh * g->ow, OC = g->oc, nog = (OC + WN_L - 1) / WN_L;        \
        WN_OMP("omp parallel for schedule(static)")                                           \
        for (int64_t it = 0; it < nog; it++) {                                                \
            int64_t o0 = it * WN_L;                                                           \
            int nv = wn_nv(OC, o0);                                                           \
            wn_v s = {0}, v;                                                                  \
            for (int64_t r = 0; r < rows; r++) {                                              \
                wn_ld(&v, dy + r * OC + o0, nv);                                              \
                s += v;                                                                       \
            }                                                                                 \
            wn_ld(&v, db + o0, nv);                                                           \
            v += s;                                                                           \
            wn_st(db + o0, &v, nv);                                                           \
        }                                                                                     \
    }

#if WN_X86
WN_PASSES(avx512, WN_AVX512, HK_ISA_AVX512)
WN_PASSES(avx2, WN_AVX2, HK_ISA_AVX2)
#endif
WN_PASSES(c, , HK_ISA_GENERIC)
#undef WN_PASSES

/* the pass of this ISA: WN_RUN(in, g, x, V) calls wn_in_avx512 / _avx2 / _c */
#if WN_X86
#define WN_RUN(pass, ...)                                                                     \
    do {                                                                                      \
        int isa_ = hk_isa();                                                                  \
        if (isa_ >= HK_ISA_AVX512)                                                            \
            wn_##pass##_avx512(__VA_ARGS__);                                                  \
        else if (isa_ >= HK_ISA_AVX2)                                                         \
            wn_##pass##_avx2(__VA_ARGS__);                                                    \
        else                                                                                  \
            wn_##pass##_c(__VA_ARGS__);                                                       \
    } while (0)
#else
#define WN_RUN(pass, ...) wn_##pass##_c(__VA_ARGS__)
#endif

/* 16-float aligned parts of the scratch */
static float *wn_al(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }
static size_t wn_r16(int64_t n) { return (size_t)(n + 15) / 16 * 16; }

/* The 25 GEMMs c[q] = op(a[q]) op(b[q]) (a[q] = a + q m k, b[q] = b + q k n, c[q] = c + q m n;
 * op: dnnl_sgemm's transposes, row-major), one a thread: the first failure's status, or
 * dnnl_success */
static int wn_gemms(char ta, char tb, int64_t m, int64_t n, int64_t k, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc)
{
    int status = dnnl_success;
    WN_OMP("omp parallel for schedule(static)")
    for (int q = 0; q < 25; q++) {
        dnnl_status_t s = dnnl_sgemm(ta, tb, m, n, k, 1.f, a + q * m * k, lda, b + q * k * n,
                                     ldb, 0.f, c + q * m * n, ldc);
        if (s != dnnl_success) {
            WN_OMP("omp atomic write")
            status = (int)s;
        }
    }
    return status;
}

size_t hk_wino_kept_floats(const hk_sc *g) { return wn_r16(25 * wn_tiles(g) * g->c) + 16; }

int hk_wino_forward(const hk_sc *g, const float *x, const float *w, const float *b, float *y,
                    float *scratch, float *keep)
{
    int64_t T = wn_tiles(g), C = g->c, OC = g->oc;
    float *V = wn_al(scratch), *U = V + wn_r16(25 * T * C), *M = U + wn_r16(25 * OC * C);
    if (keep) V = wn_al(keep);
    WN_RUN(in, g, x, V);
    WN_RUN(wt, g, w, U);
    int status = wn_gemms('N', 'T', T, OC, C, V, C, U, C, M, OC);   /* M = V U^T */
    if (status != dnnl_success) return status;
    WN_RUN(out, g, M, g->bias ? b : NULL, y);
    return dnnl_success;
}

int hk_wino_backward_weights(const hk_sc *g, const float *x, const float *dy, float *dw,
                             float *db, float *scratch, const float *kept)
{
    int64_t T = wn_tiles(g), C = g->c, OC = g->oc;
    float *V = wn_al(scratch), *P = V + wn_r16(25 * T * C), *Q = P + wn_r16(25 * OC * C);
    if (db && g->bias) WN_RUN(db, g, dy, db);
    if (!dw) return dnnl_success;
    if (kept)
        V = wn_al((float *)kept);   /* read only */
    else
        WN_RUN(in, g, x, V);
    WN_RUN(dy, g, dy, Q);
    int status = wn_gemms('T', 'N', OC, C, T, Q, OC, V, C, P, C);   /* P = Q^T V */
    if (status != dnnl_success) return status;
    WN_RUN(dw, g, P, dw);
    return dnnl_success;
}
#else
/* ISO C wants a declaration in every translation unit (-pedantic): an inference module's
 * hsirt/ copies this file, and its users compile every .c of it, oneDNN or not */
typedef int hsi_dnnl_wino_absent;
#endif
