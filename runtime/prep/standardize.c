/* standardize.c — per-band standardisation of a band-major cube: statistics over all pixels or
 * over a pixel subset (the training pixels), applied to every pixel. It does not clip, rescale
 * to [0,1] or reduce bands (no PCA). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "hsi_prep.h"

int hsi_standardize(hsi_cube *c, const uint8_t *use, float *mean, float *std, char *err,
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
    float *m = mean ? mean : calloc((size_t)c->bands, sizeof *m);
    float *sd = std ? std : calloc((size_t)c->bands, sizeof *sd);
    if (!m || !sd) {
        if (!mean)
            free(m);
        if (!std)
            free(sd);
        if (err && errlen)
            snprintf(err, errlen, "standardisation: out of memory");
        return -1;
    }
    for (int b = 0; b < c->bands; b++) {
        const float *x = c->data + (size_t)b * hw;
        double s = 0, ss = 0;
        for (size_t i = 0; i < hw; i++)
            if (!use || use[i])
                s += x[i];
        double mu = s / (double)cnt;
        for (size_t i = 0; i < hw; i++)
            if (!use || use[i])
                ss += (x[i] - mu) * (x[i] - mu);
        double dev = sqrt(ss / (double)cnt);
        m[b] = (float)mu;
        sd[b] = dev > 0 ? (float)dev : 1.0f;
    }
    /* Applied from the float statistics, so that re-applying saved statistics is bit-exact. */
    hsi_standardize_apply(c, m, sd);
    if (!mean)
        free(m);
    if (!std)
        free(sd);
    return 0;
}

void hsi_standardize_apply(hsi_cube *c, const float *mean, const float *std)
{
    size_t hw = (size_t)c->h * (size_t)c->w;
    for (int b = 0; b < c->bands; b++) {
        float *x = c->data + (size_t)b * hw;
        double m = mean[b], sd = std[b] != 0 ? std[b] : 1;
        for (size_t i = 0; i < hw; i++)
            x[i] = (float)((x[i] - m) / sd);
    }
}
