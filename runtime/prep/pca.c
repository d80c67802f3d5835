/* pca.c — principal components of a band-major cube: fitted on every pixel or on a subset (the
 * training pixels), the cube projected onto the leading components (optionally whitened).
 *
 * The covariance is summed in double over chunks of centred pixels; its eigenvectors come from
 * cyclic Jacobi rotations (a symmetric bands x bands matrix: a few hundred at most), sorted by
 * decreasing eigenvalue, each signed so that its largest-magnitude entry is positive
 * (deterministic, as scikit-learn's svd_flip). The fitted mean, components and scales are
 * floats, and projection uses only them, so that re-applying saved parameters (a checkpoint's)
 * gives the very cube the net was trained on.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_prep.h"

enum { CHUNK = 2048 };   /* pixels per covariance update */

static int fail(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "PCA: %s", msg);
    return -1;
}

/* Eigenvalues of the symmetric n x n matrix a (destroyed) into ev, eigenvectors as the columns of
 * v (n x n, row-major). Cyclic Jacobi until the off-diagonal mass is negligible. */
static void jacobi(double *a, int n, double *ev, double *v)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) v[i * n + j] = i == j;
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < n; i++) {
            diag += a[i * n + i] * a[i * n + i];
            for (int j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
        }
        if (off <= 1e-26 * diag || off == 0) break;   /* off-diagonal norm 1e-13 relative */
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {   /* columns p, q of a */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {   /* rows p, q of a */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) ev[i] = a[i * n + i];
}

int hsi_pca_fit(const hsi_cube *c, const uint8_t *use, const hsi_pca_opts *o, hsi_pca *out,
                char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const int B = c->bands;
    const size_t hw = (size_t)c->h * (size_t)c->w;
    if (o->components < 0 || o->components > B)
        return fail(err, errlen, "more components than bands");
    if (!o->components && !(o->variance > 0 && o->variance <= 1))
        return fail(err, errlen, "give a component count or a variance fraction in (0, 1]");
    size_t n = 0;
    for (size_t i = 0; i < hw; i++) n += !use || use[i];
    if (n < 2) return fail(err, errlen, "fewer than 2 pixels to fit on");
    double *mean = calloc((size_t)B, sizeof *mean);
    double *cov = calloc((size_t)B * (size_t)B, sizeof *cov);
    double *ev = malloc(sizeof *ev * (size_t)B), *vec = malloc(sizeof *vec * (size_t)B * (size_t)B);
    double *chunk = malloc(sizeof *chunk * (size_t)B * CHUNK);
    int *order = malloc(sizeof *order * (size_t)B);
    if (!mean || !cov || !ev || !vec || !chunk || !order) {
        free(mean), free(cov), free(ev), free(vec), free(chunk), free(order);
        return fail(err, errlen, "out of memory");
    }
    for (int b = 0; b < B; b++) {
        const float *x = c->data + (size_t)b * hw;
        double s = 0;
        for (size_t i = 0; i < hw; i++)
            if (!use || use[i]) s += x[i];
        mean[b] = s / (double)n;
    }
    /* cov = sum over pixels of (x - mean)(x - mean)^T, a chunk of pixels at a time */
    for (size_t i0 = 0; i0 < hw;) {
        int m = 0;
        size_t i = i0;
        for (; i < hw && m < CHUNK; i++) {
            if (use && !use[i]) continue;
            for (int b = 0; b < B; b++) chunk[(size_t)b * CHUNK + m] = c->data[(size_t)b * hw + i] - mean[b];
            m++;
        }
        i0 = i;
        for (int p = 0; p < B; p++) {
            const double *xp = chunk + (size_t)p * CHUNK;
            for (int q = p; q < B; q++) {
                const double *xq = chunk + (size_t)q * CHUNK;
                double s = 0;
                for (int k = 0; k < m; k++) s += xp[k] * xq[k];
                cov[(size_t)p * B + q] += s;
            }
        }
    }
    for (int p = 0; p < B; p++)
        for (int q = p; q < B; q++) {
            double v = cov[(size_t)p * B + q] / (double)(n - 1);   /* sample covariance */
            cov[(size_t)p * B + q] = cov[(size_t)q * B + p] = v;
        }
    jacobi(cov, B, ev, vec);
    for (int i = 0; i < B; i++) order[i] = i;
    for (int i = 1; i < B; i++) {   /* decreasing eigenvalue (insertion sort: B is small) */
        int o2 = order[i], j = i;
        while (j > 0 && ev[order[j - 1]] < ev[o2]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = o2;
    }
    double total = 0;
    for (int i = 0; i < B; i++) total += ev[i] > 0 ? ev[i] : 0;
    int k = o->components;
    if (!k) {   /* the fewest components whose share of the variance reaches o->variance */
        double acc = 0;
        for (k = 0; k < B;) {
            double e = ev[order[k]];
            acc += e > 0 ? e : 0;
            k++;
            if (total <= 0 || acc / total >= o->variance * (1 - 1e-12)) break;
        }
    }
    out->bands = B;
    out->k = k;
    out->mean = malloc(sizeof *out->mean * (size_t)B);
    out->comp = malloc(sizeof *out->comp * (size_t)k * (size_t)B);
    out->scale = malloc(sizeof *out->scale * (size_t)k);
    out->explained = malloc(sizeof *out->explained * (size_t)k);
    if (!out->mean || !out->comp || !out->scale || !out->explained) {
        free(mean), free(cov), free(ev), free(vec), free(chunk), free(order);
        hsi_pca_free(out);
        return fail(err, errlen, "out of memory");
    }
    for (int b = 0; b < B; b++) out->mean[b] = (float)mean[b];
    for (int j = 0; j < k; j++) {
        int col = order[j];
        int big = 0;
        for (int b = 1; b < B; b++)
            if (fabs(vec[(size_t)b * B + col]) > fabs(vec[(size_t)big * B + col])) big = b;
        double sign = vec[(size_t)big * B + col] < 0 ? -1.0 : 1.0;
        for (int b = 0; b < B; b++) out->comp[(size_t)j * B + b] = (float)(sign * vec[(size_t)b * B + col]);
        double e = ev[col] > 0 ? ev[col] : 0;
        out->scale[j] = o->whiten ? (float)(e > 0 ? 1.0 / sqrt(e) : 1.0) : 1.0f;
        out->explained[j] = total > 0 ? e / total : 0;
    }
    free(mean), free(cov), free(ev), free(vec), free(chunk), free(order);
    return 0;
}

void hsi_pca_project(const hsi_pca *p, const float *in, size_t stride_in, float *out,
                     size_t stride_out, size_t n)
{
    const int B = p->bands;
    double acc[256];
    for (size_t i0 = 0; i0 < n; i0 += 256) {
        size_t m = n - i0 < 256 ? n - i0 : 256;
        for (int j = 0; j < p->k; j++) {
            const float *w = p->comp + (size_t)j * B;
            for (size_t i = 0; i < m; i++) acc[i] = 0;
            for (int b = 0; b < B; b++) {
                const float *x = in + (size_t)b * stride_in + i0;
                double wb = w[b], mb = p->mean[b];
                for (size_t i = 0; i < m; i++) acc[i] += wb * ((double)x[i] - mb);
            }
            float *y = out + (size_t)j * stride_out + i0;
            for (size_t i = 0; i < m; i++) y[i] = (float)(acc[i] * (double)p->scale[j]);
        }
    }
}

int hsi_pca_apply(const hsi_pca *p, hsi_cube *c, char *err, size_t errlen)
{
    if (c->bands != p->bands) {
        if (err && errlen)
            snprintf(err, errlen, "PCA: fitted on %d bands, the cube has %d", p->bands, c->bands);
        return -1;
    }
    size_t hw = (size_t)c->h * (size_t)c->w;
    float *y = malloc(sizeof *y * (size_t)p->k * (hw ? hw : 1));
    if (!y) return fail(err, errlen, "out of memory");
    hsi_pca_project(p, c->data, hw, y, hw, hw);
    free(c->data);
    c->data = y;
    c->bands = p->k;
    return 0;
}

void hsi_pca_free(hsi_pca *p)
{
    free(p->mean);
    free(p->comp);
    free(p->scale);
    free(p->explained);
    memset(p, 0, sizeof *p);
}
