/* patches.c — [bands, p, p] patches around pixels of a band-major cube, with zero, reflect or
 * replicate borders. Interior patches are p * bands row copies (a compact cube's 16-bit samples
 * converted and standardised on the way, hsi_cube_span); border patches go through a
 * row/column index map. It does not resample, scale or augment (augment.c does). */
#include <string.h>
#include <strings.h>

#include "hsi_prep.h"

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

void hsi_cube_span(const hsi_cube *c, int b, size_t off, size_t n, float *out)
{
    size_t at = (size_t)b * (size_t)c->h * (size_t)c->w + off;
    if (c->data) {
        memcpy(out, c->data + at, sizeof *out * n);
        return;
    }
    double m = c->mean[b], sd = c->std[b];
    if (c->s16_unsigned) {
        const uint16_t *s = (const uint16_t *)c->s16 + at;
        for (size_t i = 0; i < n; i++) out[i] = hsi_standardize_value(s[i], m, sd);
    } else {
        const int16_t *s = (const int16_t *)c->s16 + at;
        for (size_t i = 0; i < n; i++) out[i] = hsi_standardize_value(s[i], m, sd);
    }
}

void hsi_patch(const hsi_cube *c, int r, int col, int p, hsi_pad pad, float *out)
{
    int half = p / 2, h = c->h, w = c->w;
    size_t hw = (size_t)h * (size_t)w;
    if (r - half >= 0 && r + half < h && col - half >= 0 && col + half < w) {
        size_t at = (size_t)(r - half) * w + (col - half);
        if (!c->data && !c->s16_unsigned) {   /* compact int16: a band's window in one loop */
            const int16_t *s = (const int16_t *)c->s16 + at;
            for (int b = 0; b < c->bands; b++, s += hw) {
                double m = c->mean[b], sd = c->std[b];
                for (int i = 0; i < p; i++, out += p)
                    for (int j = 0; j < p; j++)
                        out[j] = hsi_standardize_value(s[(size_t)i * w + j], m, sd);
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
    for (int b = 0; b < c->bands; b++) {
        const float *band = c->data ? c->data + (size_t)b * hw : NULL;
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++, out++) {
                size_t at = (size_t)rmap[i] * w + cmap[j];
                if (rmap[i] < 0 || cmap[j] < 0) *out = 0.0f;
                else if (band) *out = band[at];
                else hsi_cube_span(c, b, at, 1, out);   /* compact */
            }
    }
}

void hsi_patches(const hsi_cube *c, const int32_t *pix, int64_t n, int p, hsi_pad pad, float *out)
{
    size_t per = (size_t)c->bands * (size_t)p * (size_t)p;
    for (int64_t k = 0; k < n; k++)
        hsi_patch(c, pix[k] / c->w, pix[k] % c->w, p, pad, out + (size_t)k * per);
}
