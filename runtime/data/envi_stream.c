/* envi_stream.c — ENVI scenes read by rows, for scenes larger than memory: the header is
 * checked by envi_hdr.c, then each call preads only the rows it asks for (at most 8 MiB of file
 * bytes at a time), converts them to band-major floats and marks nodata pixels; a per-band
 * statistics pass reads the scene block by block. It does not cache rows between calls (the
 * page cache does) and does not use mmap (pread keeps 32-bit offsets and SIGBUS out of it). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_internal.h"
#include "hsi_geo.h"

enum { CHUNK_BYTES = 8 << 20 };   /* file bytes per pread, and floats per statistics block */

struct hsi_envi_stream {
    envi_hdr h;
    int fd;              /* the data file */
    hsi_georef geo;
    char warn[1600];     /* header problems that did not stop the read, or "" */
    int64_t fill_n;      /* hsi_envi_band_stats: pixels of one value in every band, the extreme */
    int64_t fill_first;  /*   of every band (an undeclared fill?), the first (row * w + col) */
    double fill_v;       /*   and the value */
    uint8_t *buf;        /* one chunk of file bytes */
    size_t cap;
};

hsi_envi_stream *hsi_envi_open(const char *path, char *err, size_t errlen)
{
    hsi_envi_stream *s = calloc(1, sizeof *s);
    if (!s) {
        data_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (envi_hdr_open(path, &s->h, &s->fd, err, errlen) != 0) {
        free(s);
        return NULL;
    }
    char gw[512];
    hsi_georef_from_envi(s->h.map_info, s->h.cs_string, &s->geo, gw, sizeof gw);
    snprintf(s->warn, sizeof s->warn, "%s%s%s", s->h.warn, *s->h.warn && *gw ? "; " : "", gw);
    return s;
}

void hsi_envi_close(hsi_envi_stream *s)
{
    if (!s)
        return;
    close(s->fd);
    envi_hdr_free(&s->h);
    hsi_georef_free(&s->geo);
    free(s->buf);
    free(s);
}

int hsi_envi_dims(const hsi_envi_stream *s, int *h, int *w, int *bands)
{
    if (h)
        *h = (int)s->h.lines;
    if (w)
        *w = (int)s->h.samples;
    if (bands)
        *bands = (int)s->h.bands;
    return 0;
}

const hsi_georef *hsi_envi_georef(const hsi_envi_stream *s)
{
    return &s->geo;
}

const char *hsi_envi_warning(const hsi_envi_stream *s)
{
    return s->warn;
}

const char *hsi_envi_path(const hsi_envi_stream *s, int data)
{
    return data ? s->h.dat_path : s->h.hdr_path;
}

int hsi_envi_ignore_value(const hsi_envi_stream *s, double *v)
{
    if (s->h.has_ignore && v)
        *v = s->h.ignore;
    return s->h.has_ignore;
}

/* ---- conversion ---------------------------------------------------------------------------- */

static void bswap(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        uint8_t t = b[i];
        b[i] = b[n - 1 - i];
        b[n - 1 - i] = t;
    }
}

#define F32_NEAR_MAX 3.4e38   /* |v| from here on is the float32 limit, as a header writes it */

/* count elements at src, src + stride, ... (bytes) into dst[0..count-1]; nd[c] = 1 where the
 * value is NaN, Inf or the ignore value (nd may be NULL). What is tested is the float the
 * caller gets: a float64 beyond float's range (1e300) is Inf there, so it is nodata too, not a
 * value that would make the band statistics Inf and NaN every pixel's logits. Floats compare with the ignore value
 * rounded to their own precision, as the file stores it. A float32 ignore value at the type's
 * limit (|v| >= 3.4e38) stands for the limit itself: -FLT_MAX, the usual float fill, is written
 * in headers with fewer digits than it takes (ENVI's -3.40282e+038), which as a float is
 * another value, so no pixel matched it and the fill entered the statistics as data. */
static void convert_run(const envi_hdr *h, const uint8_t *src, size_t stride, int count,
                        float *dst, uint8_t *nd)
{
    const int swap = h->swap, ig_on = h->has_ignore && nd;
    const double ig = h->type == DATA_F32 ? (double)(float)h->ignore : h->ignore;
    const double lim = h->type == DATA_F32 && fabs(h->ignore) >= F32_NEAR_MAX
                       ? copysign(F32_NEAR_MAX, h->ignore) : 0;   /* 0: no limit */
#define RUN(T_)                                                                   \
    for (int c = 0; c < count; c++) {                                             \
        uint8_t b[sizeof(T_)];                                                    \
        T_ v;                                                                     \
        memcpy(b, src + (size_t)c * stride, sizeof b);                            \
        if (swap)                                                                 \
            bswap(b, sizeof b);                                                   \
        memcpy(&v, b, sizeof v);                                                  \
        double d = (double)v;                                                     \
        dst[c] = (float)d;   /* a float64 beyond float's range becomes Inf here */ \
        if (nd && (!isfinite(dst[c])                                              \
                   || (ig_on && (d == ig || (lim < 0 ? d <= lim : lim > 0 && d >= lim))))) \
            nd[c] = 1;                                                            \
    }                                                                             \
    break
    switch (h->type) {
    DATA_TYPE_CASES(RUN)
    }
#undef RUN
}

/* The read buffer holds at least n bytes. */
static int want_buf(hsi_envi_stream *s, size_t n, char *err, size_t errlen)
{
    if (n <= s->cap)
        return 0;
    uint8_t *b = realloc(s->buf, n);
    if (!b)
        return data_err(err, errlen, "%s: out of memory for a %zu-byte read buffer",
                        s->h.dat_path, n);
    s->buf = b;
    s->cap = n;
    return 0;
}

int hsi_envi_read_rows(hsi_envi_stream *s, int r0, int n, float *dst, uint8_t *nodata, char *err,
                       size_t errlen)
{
    const envi_hdr *h = &s->h;
    const int64_t lines = h->lines, w = h->samples, nb = h->bands;
    const size_t es = h->es;
    if (r0 < 0 || n < 1 || r0 > lines - n || !dst)
        return data_err(err, errlen, "%s: rows %d..%d asked, the image has rows 0..%lld",
                        h->dat_path, r0, r0 + n - 1, (long long)lines - 1);
    if (nodata)
        memset(nodata, 0, (size_t)n * (size_t)w);
    const int bsq = strcmp(h->interleave, "bsq") == 0, bil = strcmp(h->interleave, "bil") == 0;
    /* One "line" of the file holds a row of one band (bsq) or of every band (bil, bip). */
    const size_t line_bytes = (size_t)w * es * (bsq ? 1 : (size_t)nb);
    int per = (int)(CHUNK_BYTES / line_bytes);
    per = per < 1 ? 1 : per > n ? n : per;
    if (want_buf(s, (size_t)per * line_bytes, err, errlen) != 0)
        return -1;
    for (int64_t b = 0; b < (bsq ? nb : 1); b++)
        for (int i0 = 0; i0 < n; i0 += per) {
            int m = n - i0 < per ? n - i0 : per;
            int64_t first = bsq ? b * lines + r0 + i0 : r0 + i0;   /* file line index */
            if (data_pread_full(s->fd, s->buf, (size_t)m * line_bytes,
                                h->offset + first * (int64_t)line_bytes, h->dat_path, err,
                                errlen) != 0)
                return -1;
            for (int i = i0; i < i0 + m; i++) {
                const uint8_t *row = s->buf + (size_t)(i - i0) * line_bytes;
                uint8_t *nd = nodata ? nodata + (size_t)i * w : NULL;
                if (bsq) {
                    convert_run(h, row, es, (int)w, dst + ((size_t)b * n + i) * w, nd);
                    continue;
                }
                for (int64_t k = 0; k < nb; k++)   /* bil: [band][sample], bip: [sample][band] */
                    convert_run(h, bil ? row + (size_t)k * w * es : row + (size_t)k * es,
                                bil ? es : es * (size_t)nb, (int)w,
                                dst + ((size_t)k * n + i) * w, nd);
            }
        }
    return 0;
}

/* ---- statistics ---------------------------------------------------------------------------- */

enum { FILL_CANDIDATES = 4 };
typedef struct fill_cand { float v; int64_t n, first; } fill_cand;

/* Pixels i of a block (x band-major, m pixels, nd flags) whose value is the same in every band
 * are counted per value, for the first FILL_CANDIDATES values seen (first: pixel p0 + i). */
static void count_flat_pixels(const float *x, const uint8_t *nd, size_t m, int nb, int64_t p0,
                              fill_cand *fc, int *nfc)
{
    for (size_t i = 0; i < m && nb > 1; i++) {
        if (nd[i])
            continue;
        int b = 1;
        while (b < nb && x[(size_t)b * m + i] == x[i])
            b++;
        if (b < nb)
            continue;
        int k = 0;
        while (k < *nfc && fc[k].v != x[i])
            k++;
        if (k < *nfc)
            fc[k].n++;
        else if (*nfc < FILL_CANDIDATES)
            fc[(*nfc)++] = (fill_cand){x[i], 1, p0 + (int64_t)i};
    }
}

int hsi_envi_band_stats(hsi_envi_stream *s, double *mean, double *std, int64_t *n_valid,
                        int64_t *n_nodata, char *err, size_t errlen)
{
    const int h = (int)s->h.lines, w = (int)s->h.samples, nb = (int)s->h.bands;
    int per = (int)(CHUNK_BYTES / ((size_t)w * nb * sizeof(float)));
    per = per < 1 ? 1 : per > h ? h : per;
    /* at least one row of every band: a header's samples x bands past memory was "out of
     * memory" naming neither, or an overcommitted allocation */
    int64_t need = per;
    hsi_mem_mul(&need, w), hsi_mem_mul(&need, (int64_t)nb * (int64_t)(sizeof(float) + s->h.es) + 1);
    char what[4400];
    snprintf(what, sizeof what, "%s: the band statistics over rows of %d samples x %d bands",
             s->h.hdr_path, w, nb);
    if (hsi_mem_check(need, 0, what, err, errlen))
        return -1;
    float *x = malloc(sizeof *x * (size_t)per * w * nb);
    uint8_t *nd = malloc((size_t)per * w);
    double *m2 = calloc((size_t)nb, sizeof *m2);
    float *lo = malloc(sizeof *lo * (size_t)nb), *hi = malloc(sizeof *hi * (size_t)nb);
    if (!x || !nd || !m2 || !lo || !hi) {
        free(x);
        free(nd);
        free(m2);
        free(lo);
        free(hi);
        return data_err(err, errlen, "%s: out of memory for the statistics pass", s->h.dat_path);
    }
    fill_cand fc[FILL_CANDIDATES];
    int nfc = 0;
    for (int b = 0; b < nb; b++) {
        mean[b] = 0;
        lo[b] = INFINITY;
        hi[b] = -INFINITY;
    }
    int64_t cnt = 0, bad = 0;
    int rc = 0;
    /* Chan et al.'s pairwise update: each block's mean and squared deviations (two passes over
     * the block in memory) are merged into the running ones, so one read of the file suffices
     * and large offsets do not cancel as they would in sum / sum-of-squares. */
    for (int r0 = 0; r0 < h && rc == 0; r0 += per) {
        int n = h - r0 < per ? h - r0 : per;
        if ((rc = hsi_envi_read_rows(s, r0, n, x, nd, err, errlen)) != 0)
            break;
        int64_t nbk = 0;
        for (size_t i = 0; i < (size_t)n * w; i++)
            nbk += !nd[i];
        bad += (int64_t)n * w - nbk;
        if (nbk == 0)
            continue;
        count_flat_pixels(x, nd, (size_t)n * w, nb, (int64_t)r0 * w, fc, &nfc);
        for (int b = 0; b < nb; b++) {
            const float *xb = x + (size_t)b * n * w;
            double sum = 0, ss = 0;
            for (size_t i = 0; i < (size_t)n * w; i++)
                if (!nd[i]) {
                    sum += xb[i];
                    lo[b] = xb[i] < lo[b] ? xb[i] : lo[b];
                    hi[b] = xb[i] > hi[b] ? xb[i] : hi[b];
                }
            double mb = sum / (double)nbk;
            for (size_t i = 0; i < (size_t)n * w; i++)
                if (!nd[i])
                    ss += (xb[i] - mb) * (xb[i] - mb);
            double tot = (double)(cnt + nbk), delta = mb - mean[b];
            mean[b] += delta * (double)nbk / tot;
            m2[b] += ss + delta * delta * (double)cnt * (double)nbk / tot;
        }
        cnt += nbk;
    }
    if (rc == 0 && cnt == 0)
        rc = data_err(err, errlen, "%s: every pixel is nodata (data ignore value, NaN or Inf in "
                      "some band): no statistics", s->h.dat_path);
    for (int b = 0; rc == 0 && b < nb; b++) {
        double sd = sqrt(m2[b] / (double)cnt);
        std[b] = sd > 0 ? sd : 1.0;
    }
    if (n_valid)
        *n_valid = cnt;
    if (n_nodata)
        *n_nodata = bad;
    /* A flat pixel whose value is the lowest or the highest of every band is a fill (0, -9999,
     * -3.4e38 around a georectified flight line) far more often than a spectrum */
    s->fill_n = 0;
    for (int k = 0; k < nfc; k++) {
        int b = 0;
        while (b < nb && (fc[k].v == lo[b] || fc[k].v == hi[b]))
            b++;
        if (b == nb && fc[k].n > s->fill_n) {
            s->fill_n = fc[k].n;
            s->fill_v = fc[k].v;
            s->fill_first = fc[k].first;
        }
    }
    free(x);
    free(nd);
    free(m2);
    free(lo);
    free(hi);
    return rc;
}

int64_t hsi_envi_fill_pixels(const hsi_envi_stream *s, double *value, int *row, int *col)
{
    if (s->fill_n > 0) {
        if (value)
            *value = s->fill_v;
        if (row)
            *row = (int)(s->fill_first / s->h.samples);
        if (col)
            *col = (int)(s->fill_first % s->h.samples);
    }
    return s->fill_n;
}
