/* standardize.c — per-band standardisation of a band-major cube: statistics over all pixels or
 * over a pixel subset (the training pixels), applied to every pixel, or kept beside the 16-bit
 * samples of a compact cube (hsi_cube_compact) and applied as they are read. It does not clip,
 * rescale to [0,1] or reduce bands (no PCA). */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_prep.h"

int hsi_standardize(hsi_cube *c, const uint8_t *use, float *mean, float *std, char *err,
                    size_t errlen)
{
    float *m = mean ? mean : calloc((size_t)c->bands, sizeof *m);
    float *sd = std ? std : calloc((size_t)c->bands, sizeof *sd);
    int rc = !m || !sd ? -1 : hsi_standardize_stats(c, use, m, sd, err, errlen);
    if (!m || !sd) {
        if (err && errlen)
            snprintf(err, errlen, "standardisation: out of memory");
    } else if (rc == 0) {
        /* Applied from the float statistics, so that re-applying saved statistics is bit-exact. */
        hsi_standardize_apply(c, m, sd);
    }
    if (!mean)
        free(m);
    if (!std)
        free(sd);
    return rc;
}

int hsi_standardize_stats(const hsi_cube *c, const uint8_t *use, float *m, float *sd, char *err,
                          size_t errlen)
{
    size_t hw = (size_t)c->h * (size_t)c->w;
    size_t cnt = 0;
    for (size_t i = 0; i < hw; i++)
        cnt += !use || use[i];
    if (cnt == 0) {
        if (err && errlen)
            snprintf(err, errlen, "standardisation: no pixel selected for the statistics");
        return -1;
    }
    if (!c->data && c->mean) {   /* a compact cube's samples are not the values it gives */
        if (err && errlen)
            snprintf(err, errlen, "standardisation: the cube is standardised already");
        return -1;
    }
    for (int b = 0; b < c->bands; b++) {
        size_t at = (size_t)b * hw;
        double s = 0, ss = 0;
        for (size_t i = 0; i < hw; i++)
            if (!use || use[i])
                s += hsi_cube_sample(c, at + i);
        double mu = s / (double)cnt;
        for (size_t i = 0; i < hw; i++)
            if (!use || use[i]) {
                float x = hsi_cube_sample(c, at + i);
                ss += (x - mu) * (x - mu);
            }
        double dev = sqrt(ss / (double)cnt);
        m[b] = (float)mu;
        sd[b] = dev > 0 ? (float)dev : 1.0f;
    }
    return 0;
}

void hsi_standardize_apply(hsi_cube *c, const float *mean, const float *std)
{
    size_t hw = (size_t)c->h * (size_t)c->w;
    for (int b = 0; b < c->bands; b++) {
        float *x = c->data + (size_t)b * hw;
        double m = mean[b], sd = std[b] != 0 ? std[b] : 1;
        for (size_t i = 0; i < hw; i++)
            x[i] = hsi_standardize_value(x[i], m, sd);
    }
}

/* 1: int16, 2: uint16, 0: not 16-bit integers (or a -0, which the integers cannot keep). */
static int int16_kind(const float *x, size_t n)
{
    hsi_kind16 k = {0, 0};
    for (size_t i = 0; i < n; i++)
        if (!hsi_kind16_add(&k, x[i])) return 0;
    return hsi_kind16_end(&k);
}

int hsi_cube_compact_set(hsi_cube *c, const float *mean, const float *std)
{
    if (!c->s16 || c->mean) return -1;
    double *m = malloc(sizeof *m * (size_t)c->bands), *sd = malloc(sizeof *sd * (size_t)c->bands);
    if (!m || !sd) {
        free(m);
        free(sd);
        return -1;
    }
    for (int b = 0; b < c->bands; b++) {   /* as hsi_standardize_apply takes them */
        m[b] = mean ? mean[b] : 0;
        sd[b] = std && std[b] != 0 ? std[b] : 1;
    }
    c->mean = m;
    c->std = sd;
    return 0;
}

int hsi_cube_compact(hsi_cube *c, const float *mean, const float *std)
{
    size_t hw = (size_t)c->h * (size_t)c->w, n = hw * (size_t)c->bands;
    int kind = c->data && !c->s16 ? int16_kind(c->data, n) : 0;
    if (!kind) return 1;
    void *s = malloc(2 * (n ? n : 1));
    if (!s) return 1;
    c->s16 = s;
    if (hsi_cube_compact_set(c, mean, std)) {
        c->s16 = NULL;
        free(s);
        return 1;
    }
    if (kind == 1)
        for (size_t i = 0; i < n; i++) ((int16_t *)s)[i] = (int16_t)c->data[i];
    else
        for (size_t i = 0; i < n; i++) ((uint16_t *)s)[i] = (uint16_t)c->data[i];
    free(c->data);
    c->data = NULL;
    c->s16_unsigned = kind == 2;
    return 0;
}

int hsi_cube_widen(hsi_cube *c)
{
    if (c->data || !c->s16) return 0;
    if (c->mean) return -1;
    size_t n = (size_t)c->bands * (size_t)c->h * (size_t)c->w;
    unsigned char *g = realloc(c->s16, 4 * (n ? n : 1));
    if (!g) return -1;
    /* from the end: float i overwrites samples 2i and 2i + 1, which are at or after i (read) */
    for (size_t i = n; i-- > 0;) {
        float f;
        if (c->s16_unsigned) {
            uint16_t v;
            memcpy(&v, g + 2 * i, 2);
            f = v;
        } else {
            int16_t v;
            memcpy(&v, g + 2 * i, 2);
            f = v;
        }
        memcpy(g + 4 * i, &f, 4);
    }
    c->data = (float *)g;
    c->s16 = NULL;
    c->s16_unsigned = 0;
    return 0;
}
