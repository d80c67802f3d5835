/* patches.c — [bands, p, p] patches around pixels of a band-major cube, with zero, reflect or
 * replicate borders. Interior patches are p * bands row copies (a compact cube's 16-bit samples
 * converted and standardised on the way, hsi_cube_span); border patches go through a
 * row/column index map. It does not resample, scale or augment (augment.c does). */
#include <string.h>
#include <strings.h>

#include "hsi_prep.h"
#include "tapconv.h"   /* hk_isa */

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define PT_X86 1
#else
#define PT_X86 0
#endif

int hsi_pad_parse(const char *name, hsi_pad *out)
{
    static const char *names[] = {"zero", "reflect", "replicate"};
    for (int k = 0; k < 3; k++)
        if (name && strcasecmp(name, names[k]) == 0) {
            *out = (hsi_pad)k;
            return 0;
        }
    return -1;
}

int hsi_pad_index(int i, int n, hsi_pad pad)
{
    if (i >= 0 && i < n)
        return i;
    if (pad == HSI_PAD_ZERO)
        return -1;
    if (pad == HSI_PAD_REPLICATE)
        return i < 0 ? 0 : n - 1;
    if (n == 1)
        return 0;
    int period = 2 * (n - 1);          /* reflect: ... 2 1 | 0 1 2 .. n-1 | n-2 ... */
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

/* ---- 16-bit samples standardised (hsi_standardize_s16) -------------------------------------
 * hsi_standardize_value divides in double, one division a value: on the prefetch thread that
 * batches the contextual CNN's patches (128 x 5 x 5 x 204 values) that was most of its time,
 * taken from the two cores the training step's threads run on. The vector paths multiply by
 * r = 1 / std instead: q = (s - mean) r is within 2^-52 |q| of the quotient t / std, and so is
 * the double the division rounds to (t / std within 2^-53). When q - d and q + d (d = |q| 2^-50,
 * wider than both errors) round to the same float, every value between them does (rounding is
 * monotonic), the division's among them: that float is the result, bit for bit. Otherwise (a
 * quotient near the middle between two floats: 46,445 of 1.31 G values over 20,000 random
 * means and deviations and every int16; always a NaN or infinity, which fail the compare) the
 * lane is divided as before. */
#if PT_X86
#define PT_TOL 0x1p-50

/* lanes of f whose bit in ok is clear, redone by the division */
static void pt_redo(const void *s, int uns, size_t i, int lanes, unsigned ok, double m, double sd,
                    float *out)
{
    for (int j = 0; j < lanes; j++)
        if (!(ok >> j & 1))
            out[i + j] = hsi_standardize_value(
                uns ? (double)((const uint16_t *)s)[i + j] : (double)((const int16_t *)s)[i + j],
                m, sd);
}

__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))) static void
pt_std_avx512(const void *s, int uns, size_t n, double m, double sd, float *out)
{
    const __m512d vm = _mm512_set1_pd(m), vr = _mm512_set1_pd(1.0 / sd),
                  tol = _mm512_set1_pd(PT_TOL);
    const int16_t *p = s;
    for (size_t i = 0; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? 0xff : (__mmask8)((1u << (n - i)) - 1);
        __m128i v = _mm_maskz_loadu_epi16(k, p + i);
        __m256i w = uns ? _mm256_cvtepu16_epi32(v) : _mm256_cvtepi16_epi32(v);
        __m512d q = _mm512_mul_pd(_mm512_sub_pd(_mm512_cvtepi32_pd(w), vm), vr);
        __m512d d = _mm512_mul_pd(_mm512_abs_pd(q), tol);
        __m256 lo = _mm512_cvtpd_ps(_mm512_sub_pd(q, d)), hi = _mm512_cvtpd_ps(_mm512_add_pd(q, d));
        __mmask8 ok = _mm256_cmp_ps_mask(lo, hi, _CMP_EQ_OQ);
        _mm256_mask_storeu_ps(out + i, k, _mm512_cvtpd_ps(q));
        if ((ok & k) != k) pt_redo(s, uns, i, n - i >= 8 ? 8 : (int)(n - i), ok, m, sd, out);
    }
}

/* rows x p samples (p <= 8) at a stride of `stride` samples, into rows x p floats: one masked
 * load a row (lanes past p neither read nor written) */
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))) static void
pt_rows_avx512(const int16_t *s, size_t stride, int rows, int p, int uns, double m, double sd,
               float *out)
{
    const __m512d vm = _mm512_set1_pd(m), vr = _mm512_set1_pd(1.0 / sd),
                  tol = _mm512_set1_pd(PT_TOL);
    const __mmask8 k = (__mmask8)((1u << p) - 1);
    for (int i = 0; i < rows; i++, s += stride, out += p) {
        __m128i v = _mm_maskz_loadu_epi16(k, s);
        __m256i w = uns ? _mm256_cvtepu16_epi32(v) : _mm256_cvtepi16_epi32(v);
        __m512d q = _mm512_mul_pd(_mm512_sub_pd(_mm512_cvtepi32_pd(w), vm), vr);
        __m512d d = _mm512_mul_pd(_mm512_abs_pd(q), tol);
        __m256 lo = _mm512_cvtpd_ps(_mm512_sub_pd(q, d)), hi = _mm512_cvtpd_ps(_mm512_add_pd(q, d));
        __mmask8 ok = _mm256_cmp_ps_mask(lo, hi, _CMP_EQ_OQ);
        _mm256_mask_storeu_ps(out, k, _mm512_cvtpd_ps(q));
        if ((ok & k) != k) pt_redo(s, uns, 0, p, ok, m, sd, out);
    }
}

__attribute__((target("avx2"))) static size_t pt_std_avx2(const void *s, int uns, size_t n,
                                                         double m, double sd, float *out)
{
    const __m256d vm = _mm256_set1_pd(m), vr = _mm256_set1_pd(1.0 / sd),
                  tol = _mm256_set1_pd(PT_TOL), sign = _mm256_set1_pd(-0.0);
    const int16_t *p = s;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128i v = _mm_loadl_epi64((const __m128i *)(p + i));
        __m128i w = uns ? _mm_cvtepu16_epi32(v) : _mm_cvtepi16_epi32(v);
        __m256d q = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtepi32_pd(w), vm), vr);
        __m256d d = _mm256_mul_pd(_mm256_andnot_pd(sign, q), tol);
        __m128 lo = _mm256_cvtpd_ps(_mm256_sub_pd(q, d)), hi = _mm256_cvtpd_ps(_mm256_add_pd(q, d));
        unsigned ok = (unsigned)_mm_movemask_ps(_mm_cmpeq_ps(lo, hi));
        _mm_storeu_ps(out + i, _mm256_cvtpd_ps(q));
        if (ok != 0xf) pt_redo(s, uns, i, 4, ok, m, sd, out);
    }
    return i;
}
#endif

void hsi_standardize_s16(const void *s, int uns, size_t n, double mean, double std, float *out)
{
    size_t i = 0;
#if PT_X86
    if (hk_isa() >= HK_ISA_AVX512) {
        pt_std_avx512(s, uns, n, mean, std, out);
        return;
    }
    if (hk_isa() >= HK_ISA_AVX2) i = pt_std_avx2(s, uns, n, mean, std, out);
#endif
    if (uns)
        for (const uint16_t *p = s; i < n; i++) out[i] = hsi_standardize_value(p[i], mean, std);
    else
        for (const int16_t *p = s; i < n; i++) out[i] = hsi_standardize_value(p[i], mean, std);
}

void hsi_cube_span(const hsi_cube *c, int b, size_t off, size_t n, float *out)
{
    size_t at = (size_t)b * (size_t)c->h * (size_t)c->w + off;
    if (c->data) {
        memcpy(out, c->data + at, sizeof *out * n);
        return;
    }
    hsi_standardize_s16((const int16_t *)c->s16 + at, c->s16_unsigned, n, c->mean[b], c->std[b],
                        out);
}

void hsi_standardize_s16_window(const void *s, int uns, size_t stride, int rows, int cols,
                                double mean, double std, float *out)
{
#if PT_X86
    if (cols <= 8 && hk_isa() >= HK_ISA_AVX512) {
        pt_rows_avx512(s, stride, rows, cols, uns, mean, std, out);
        return;
    }
#endif
    int16_t win[256];   /* up to 256 samples at a time, rows gathered, then standardised */
    int per = cols <= 256 ? 256 / cols : 0;
    if (!per) {
        for (int i = 0; i < rows; i++)
            hsi_standardize_s16((const int16_t *)s + (size_t)i * stride, uns, (size_t)cols, mean,
                                std, out + (size_t)i * cols);
        return;
    }
    for (int i0 = 0; i0 < rows; i0 += per) {
        int n = rows - i0 < per ? rows - i0 : per;
        for (int i = 0; i < n; i++)
            memcpy(win + i * cols, (const int16_t *)s + (size_t)(i0 + i) * stride,
                   sizeof *win * (size_t)cols);
        hsi_standardize_s16(win, uns, (size_t)n * cols, mean, std, out + (size_t)i0 * cols);
    }
}

void hsi_patch(const hsi_cube *c, int r, int col, int p, hsi_pad pad, float *out)
{
    int half = p / 2, h = c->h, w = c->w;
    size_t hw = (size_t)h * (size_t)w;
    if (r - half >= 0 && r + half < h && col - half >= 0 && col + half < w) {
        size_t at = (size_t)(r - half) * w + (col - half);
        if (!c->data) {   /* compact: a band's window at a time */
            const int16_t *s = (const int16_t *)c->s16 + at;
            for (int b = 0; b < c->bands; b++, s += hw, out += p * p) {
                if (b + HSI_PATCH_AHEAD < c->bands)
                    for (int i = 0; i < p; i++)
                        __builtin_prefetch(s + HSI_PATCH_AHEAD * hw + (size_t)i * w);
                hsi_standardize_s16_window(s, c->s16_unsigned, (size_t)w, p, p, c->mean[b],
                                           c->std[b], out);
            }
            return;
        }
        for (int b = 0; b < c->bands; b++)
            for (int i = 0; i < p; i++, out += p)
                hsi_cube_span(c, b, at + (size_t)i * w, (size_t)p, out);
        return;
    }
    int rmap[p], cmap[p];
    for (int i = 0; i < p; i++) {
        rmap[i] = hsi_pad_index(r - half + i, h, pad);
        cmap[i] = hsi_pad_index(col - half + i, w, pad);
    }
    if (!c->data) {   /* compact: a row's samples gathered, standardised, the pad zeroed */
        int16_t row[p];
        for (int b = 0; b < c->bands; b++) {
            const int16_t *band = (const int16_t *)c->s16 + (size_t)b * hw;
            for (int i = 0; i < p; i++, out += p) {
                for (int j = 0; j < p; j++)
                    row[j] = rmap[i] < 0 || cmap[j] < 0 ? 0 : band[(size_t)rmap[i] * w + cmap[j]];
                hsi_standardize_s16(row, c->s16_unsigned, (size_t)p, c->mean[b], c->std[b], out);
                for (int j = 0; j < p; j++)
                    if (rmap[i] < 0 || cmap[j] < 0) out[j] = 0.0f;
            }
        }
        return;
    }
    for (int b = 0; b < c->bands; b++) {
        const float *band = c->data + (size_t)b * hw;
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++, out++)
                *out = rmap[i] < 0 || cmap[j] < 0 ? 0.0f : band[(size_t)rmap[i] * w + cmap[j]];
    }
}

void hsi_patches(const hsi_cube *c, const int32_t *pix, int64_t n, int p, hsi_pad pad, float *out)
{
    size_t per = (size_t)c->bands * (size_t)p * (size_t)p;
    for (int64_t k = 0; k < n; k++)
        hsi_patch(c, pix[k] / c->w, pix[k] % c->w, p, pad, out + (size_t)k * per);
}
