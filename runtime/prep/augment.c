/* augment.c — the 8 dihedral transforms (rotations, flips, transposes) of a [bands, p, p]
 * patch; the batcher picks which one per sample. It does not add noise or change spectra. */
#include "hsi_prep.h"
#include "tapconv.h"   /* hk_isa */

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define DH_X86 1
#else
#define DH_X86 0
#endif

/* Output (i, j) of a p x p plane under transform t reads position *src (row-major). */
static void hsi_dihedral_map(int i, int j, int p, int t, int *src)
{
    int q = p - 1, si, sj;
    switch (t & 7) {
    case 0: si = i; sj = j; break;
    case 1: si = j; sj = q - i; break;
    case 2: si = q - i; sj = q - j; break;
    case 3: si = q - j; sj = i; break;
    case 4: si = i; sj = q - j; break;
    case 5: si = q - i; sj = j; break;
    case 6: si = j; sj = i; break;
    default: si = q - j; sj = q - i; break;
    }
    *src = si * p + sj;
}

const char *hsi_dihedral_name(int t)
{
    static const char *names[HSI_DIHEDRAL_COUNT] = {
        "identity", "rot90", "rot180", "rot270", "flip-lr", "flip-ud", "transpose",
        "anti-transpose"};
    return t >= 0 && t < HSI_DIHEDRAL_COUNT ? names[t] : "?";
}

/* Every transform reads position o + i di + j dj for output (i, j) (an affine map, from
 * hsi_dihedral_map at three points), so a band is one loop without the switch per element
 * (which took 4 % of the contextual trainer's CPU time). */
static void dihedral_affine(int p, int t, int *o, int *di, int *dj)
{
    hsi_dihedral_map(0, 0, p, t, o);
    hsi_dihedral_map(1, 0, p, t, di);
    hsi_dihedral_map(0, 1, p, t, dj);
    *di -= *o;
    *dj -= *o;
}

void hsi_dihedral(const float *in, float *out, int bands, int p, int t)
{
    int o, di, dj;
    dihedral_affine(p, t, &o, &di, &dj);
    for (int b = 0; b < bands; b++, in += p * p)
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++) *out++ = in[o + i * di + j * dj];
}

#if DH_X86
/* out[k] = win[idx[k]] for k < n <= 64 (win: 64 floats): two-table permutes, the upper half's
 * result taken where idx has bit 5 */
__attribute__((target("avx512f"))) static void dh_move_avx512(const float *win, float *out, int n,
                                                              const int32_t *idx)
{
    __m512 a0 = _mm512_loadu_ps(win), a1 = _mm512_loadu_ps(win + 16);
    __m512 a2 = _mm512_loadu_ps(win + 32), a3 = _mm512_loadu_ps(win + 48);
    const __m512i hi_bit = _mm512_set1_epi32(32);
    for (int k = 0; k < n; k += 16) {
        __m512i ix = _mm512_loadu_si512(idx + k);
        __m512 v = _mm512_permutex2var_ps(a0, ix, a1);
        if (n > 32)
            v = _mm512_mask_blend_ps(_mm512_test_epi32_mask(ix, hi_bit), v,
                                     _mm512_permutex2var_ps(a2, ix, a3));
        _mm512_mask_storeu_ps(out + k, n - k >= 16 ? 0xffff : (__mmask16)((1u << (n - k)) - 1), v);
    }
}
#endif

/* An interior patch of a compact cube band by band: each band's window standardised into an
 * L1 buffer and moved under t from there (on AVX-512 by permutes), instead of the whole patch
 * through tmp. */
void hsi_patch_dihedral(const hsi_cube *c, int r, int col, int p, hsi_pad pad, int t, float *out,
                        float *tmp)
{
    int half = p / 2, w = c->w;
    if (!(t & 7)) {
        hsi_patch(c, r, col, p, pad, out);
        return;
    }
    if (c->data || p > 8 || r - half < 0 || r + half >= c->h || col - half < 0
        || col + half >= w) {
        hsi_patch(c, r, col, p, pad, tmp);
        hsi_dihedral(tmp, out, c->bands, p, t);
        return;
    }
    int o, di, dj;
    dihedral_affine(p, t, &o, &di, &dj);
    size_t hw = (size_t)c->h * (size_t)w;
    const int16_t *s = (const int16_t *)c->s16 + (size_t)(r - half) * w + (col - half);
    float win[64] = {0};
    int32_t idx[64] = {0};
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++) idx[i * p + j] = o + i * di + j * dj;
    int vec = 0;
#if DH_X86
    vec = hk_isa() >= HK_ISA_AVX512;
#endif
    for (int b = 0; b < c->bands; b++, s += hw, out += p * p) {
        if (b + HSI_PATCH_AHEAD < c->bands)
            for (int i = 0; i < p; i++) __builtin_prefetch(s + HSI_PATCH_AHEAD * hw + (size_t)i * w);
        hsi_standardize_s16_window(s, c->s16_unsigned, (size_t)w, p, p, c->mean[b], c->std[b],
                                   win);
#if DH_X86
        if (vec) {
            dh_move_avx512(win, out, p * p, idx);
            continue;
        }
#endif
        for (int k = 0; k < p * p; k++) out[k] = win[idx[k]];
    }
}
