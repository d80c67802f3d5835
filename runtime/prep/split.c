/* split.c — train / validation / test masks from remapped labels: per-class count, per-class
 * fraction, the SSRN code's rule, and spatially disjoint blocks; validation by count or
 * fraction, stratified or pooled; masks saved and reloaded as .npy int8; the count of test
 * pixels that a training patch overlaps. Draws come from one xoshiro256** stream in a fixed
 * order, so a seed fixes the split. It does not balance classes or oversample. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_prep.h"

static int fail(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "split: %s", msg);
    return -1;
}

/* Per-class training count under the rule. */
static int64_t train_count(const hsi_split_opts *o, int64_t n)
{
    int64_t t;
    switch (o->kind) {
    case HSI_SPLIT_COUNT:
        t = (int64_t)o->train;
        return t < n / 2 ? t : n / 2;
    case HSI_SPLIT_FRACTION:
        t = (int64_t)floor(o->train * (double)n + 0.5);
        if (n >= 2 && t < 1)
            t = 1;
        return t > n - 1 ? (n > 0 ? n - 1 : 0) : t;
    default: /* SSRN */
        return n - (int64_t)floor(o->train * (double)n);
    }
}

/* Validation size out of `rest` labelled non-training pixels. */
static int64_t val_count(const hsi_split_opts *o, int64_t rest)
{
    int64_t v = o->val >= 1 ? (int64_t)o->val : (int64_t)floor(o->val * (double)rest + 0.5);
    return v < rest ? v : rest;
}

/* Marks val among the non-training labelled pixels (mask == TEST on entry). pool holds them,
 * class by class (cls_start[c]..cls_start[c+1]). */
static void pick_val(const hsi_split_opts *o, hsi_rng *rng, int8_t *mask, int32_t *pool,
                     const int64_t *cls_start, int n_classes)
{
    int64_t rest = cls_start[n_classes];
    int64_t v = val_count(o, rest);
    if (v <= 0)
        return;
    if (!o->val_stratified) {
        hsi_shuffle_i32(rng, pool, rest);
        for (int64_t k = rest - v; k < rest; k++)   /* the last v, like the SSRN code */
            mask[pool[k]] = HSI_MASK_VAL;
        return;
    }
    /* Largest remainder: class c gets floor(v * rest_c / rest), then one more for the classes
     * with the largest fractional parts (ties: lower class first) until v is reached. */
    int64_t *take = calloc((size_t)n_classes, sizeof *take);
    double *frac = calloc((size_t)n_classes, sizeof *frac);
    int64_t given = 0;
    for (int c = 0; take && frac && c < n_classes; c++) {
        double q = (double)v * (double)(cls_start[c + 1] - cls_start[c]) / (double)rest;
        take[c] = (int64_t)floor(q);
        frac[c] = q - (double)take[c];
        given += take[c];
    }
    while (take && frac && given < v) {
        int best = -1;
        for (int c = 0; c < n_classes; c++)
            if (take[c] < cls_start[c + 1] - cls_start[c] && (best < 0 || frac[c] > frac[best]))
                best = c;
        if (best < 0)
            break;
        take[best]++;
        frac[best] = -1;
        given++;
    }
    for (int c = 0; take && frac && c < n_classes; c++) {
        int32_t *p = pool + cls_start[c];
        int64_t nc = cls_start[c + 1] - cls_start[c];
        hsi_shuffle_i32(rng, p, nc);
        for (int64_t k = 0; k < take[c]; k++)
            mask[p[k]] = HSI_MASK_VAL;
    }
    free(take);
    free(frac);
}

static int split_per_class(const int32_t *y, int64_t hw, int n_classes, const hsi_split_opts *o,
                           int8_t *mask, char *err, size_t errlen)
{
    int64_t *start = calloc((size_t)n_classes + 1, sizeof *start);
    int64_t *rstart = calloc((size_t)n_classes + 1, sizeof *rstart);
    int32_t *byc = malloc(sizeof *byc * (size_t)(hw ? hw : 1));
    int32_t *pool = malloc(sizeof *pool * (size_t)(hw ? hw : 1));
    int rc = -1;
    char msg[160];
    if (!start || !rstart || !byc || !pool) {
        fail(err, errlen, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < hw; i++)
        if (y[i] >= 0)
            start[y[i] + 1]++;
    for (int c = 0; c < n_classes; c++) {
        if (start[c + 1] == 0) {
            snprintf(msg, sizeof msg, "class %d has no labelled pixel", c);
            fail(err, errlen, msg);
            goto done;
        }
        start[c + 1] += start[c];
    }
    {
        int64_t *fill = calloc((size_t)n_classes, sizeof *fill);
        if (!fill) {
            fail(err, errlen, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < hw; i++)        /* raster order within each class */
            if (y[i] >= 0)
                byc[start[y[i]] + fill[y[i]]++] = (int32_t)i;
        free(fill);
    }
    hsi_rng rng;
    hsi_rng_seed(&rng, o->seed);
    for (int c = 0; c < n_classes; c++) {
        int32_t *p = byc + start[c];
        int64_t nc = start[c + 1] - start[c];
        int64_t t = train_count(o, nc);
        hsi_shuffle_i32(&rng, p, nc);
        rstart[c + 1] = rstart[c];
        for (int64_t k = 0; k < nc; k++) {
            mask[p[k]] = k < t ? HSI_MASK_TRAIN : HSI_MASK_TEST;
            if (k >= t)
                pool[rstart[c + 1]++] = p[k];
        }
    }
    pick_val(o, &rng, mask, pool, rstart, n_classes);
    rc = 0;
done:
    free(start);
    free(rstart);
    free(byc);
    free(pool);
    return rc;
}

static int split_blocks(const int32_t *y, int h, int w, const hsi_split_opts *o, int8_t *mask,
                        char *err, size_t errlen)
{
    int bs = o->block, bsw = o->block_w > 0 ? o->block_w : o->block;
    int bh = (h + bs - 1) / bs, bw = (w + bsw - 1) / bsw;
    int64_t nb = (int64_t)bh * bw, total = 0;
    int32_t *order = malloc(sizeof *order * (size_t)nb);
    int64_t *lab = calloc((size_t)nb, sizeof *lab);
    if (!order || !lab) {
        free(order);
        free(lab);
        return fail(err, errlen, "out of memory");
    }
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++)
            if (y[(size_t)r * w + c] >= 0) {
                lab[(r / bs) * bw + c / bsw]++;
                total++;
            }
    for (int64_t k = 0; k < nb; k++)
        order[k] = (int32_t)k;
    hsi_rng rng;
    hsi_rng_seed(&rng, o->seed);
    hsi_shuffle_i32(&rng, order, nb);
    double want_train = o->train * (double)total;
    int64_t n_train = 0, n_val = 0, want_val = -1;
    for (int64_t k = 0; k < nb; k++) {
        int32_t b = order[k];
        int8_t m;
        if (lab[b] == 0)
            continue;
        if ((double)n_train < want_train) {
            m = HSI_MASK_TRAIN;
            n_train += lab[b];
        } else {
            if (want_val < 0)
                want_val = val_count(o, total - n_train);
            if (n_val < want_val) {
                m = HSI_MASK_VAL;
                n_val += lab[b];
            } else {
                m = HSI_MASK_TEST;
            }
        }
        int r0 = (b / bw) * bs, c0 = (b % bw) * bsw;
        for (int r = r0; r < r0 + bs && r < h; r++)
            for (int c = c0; c < c0 + bsw && c < w; c++)
                if (y[(size_t)r * w + c] >= 0)
                    mask[(size_t)r * w + c] = m;
    }
    free(order);
    free(lab);
    return 0;
}

int hsi_split_make(const int32_t *y, int h, int w, int n_classes, const hsi_split_opts *o,
                   hsi_split *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int64_t hw = (int64_t)h * w;
    if (h < 1 || w < 1 || n_classes < 1)
        return fail(err, errlen, "empty scene or no class");
    if (o->val < 0 || (o->val >= 1 && o->val != floor(o->val)))
        return fail(err, errlen, "val must be 0, a fraction in (0, 1) or a whole count");
    switch (o->kind) {
    case HSI_SPLIT_COUNT:
        if (o->train < 1 || o->train != floor(o->train))
            return fail(err, errlen, "train must be a whole count >= 1 per class");
        break;
    case HSI_SPLIT_FRACTION:
    case HSI_SPLIT_BLOCKS:
    case HSI_SPLIT_SSRN:
        if (!(o->train > 0 && o->train < 1))
            return fail(err, errlen, "train must be a fraction in (0, 1)");
        if (o->kind == HSI_SPLIT_BLOCKS && (o->block < 1 || o->block_w < 0))
            return fail(err, errlen, "block size must be >= 1");
        break;
    default:
        return fail(err, errlen, "unknown split kind");
    }
    for (int64_t i = 0; i < hw; i++)
        if (y[i] >= n_classes) {
            char msg[128];
            snprintf(msg, sizeof msg, "label %d at pixel %lld is >= the class count %d",
                     (int)y[i], (long long)i, n_classes);
            return fail(err, errlen, msg);
        }
    out->mask = calloc((size_t)hw, 1);
    if (!out->mask)
        return fail(err, errlen, "out of memory");
    out->h = h;
    out->w = w;
    int rc = o->kind == HSI_SPLIT_BLOCKS ? split_blocks(y, h, w, o, out->mask, err, errlen)
                                         : split_per_class(y, hw, n_classes, o, out->mask, err, errlen);
    if (rc != 0) {
        hsi_split_free(out);
        return -1;
    }
    out->n_train = hsi_split_indices(out, HSI_MASK_TRAIN, NULL);
    out->n_val = hsi_split_indices(out, HSI_MASK_VAL, NULL);
    out->n_test = hsi_split_indices(out, HSI_MASK_TEST, NULL);
    if (out->n_train == 0) {
        hsi_split_free(out);
        return fail(err, errlen, "the training set is empty");
    }
    return 0;
}

int64_t hsi_split_indices(const hsi_split *s, int which, int32_t *out)
{
    int64_t n = 0, hw = (int64_t)s->h * s->w;
    for (int64_t i = 0; i < hw; i++)
        if (s->mask[i] == which) {
            if (out)
                out[n] = (int32_t)i;
            n++;
        }
    return n;
}

int hsi_split_save(const hsi_split *s, const char *path, char *err, size_t errlen)
{
    hsi_array a = {.ndim = 2, .dims = {s->h, s->w}, .dtype = HSI_DT_I8, .data = s->mask};
    return hsi_npy_write(path, &a, err, errlen);
}

int hsi_split_load(const char *path, const int32_t *y, int h, int w, hsi_split *out, char *err,
                   size_t errlen)
{
    hsi_array a;
    memset(out, 0, sizeof *out);
    if (hsi_npy_read(path, HSI_DT_I8, &a, err, errlen) != 0)
        return -1;
    if (a.ndim != 2 || a.dims[0] != h || a.dims[1] != w) {
        char shape[128];   /* "[576]" for a 1-D array, not "576 x 0" */
        size_t k = 0;
        shape[0] = 0;
        for (int i = 0; i < a.ndim && k < sizeof shape - 24; i++)
            k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%lld", i ? ", " : "[",
                                  (long long)a.dims[i]);
        snprintf(shape + k, sizeof shape - k, a.ndim ? "]" : "[]");
        if (err && errlen && a.ndim == 2)
            snprintf(err, errlen, "%s: split mask is %lld x %lld, the scene is %d x %d", path,
                     (long long)a.dims[0], (long long)a.dims[1], h, w);
        else if (err && errlen)
            snprintf(err, errlen, "%s: the split mask has shape %s, the scene is %d x %d (expected "
                     "[%d, %d])", path, shape, h, w, h, w);
        hsi_array_free(&a);
        return -1;
    }
    int8_t *m = a.data;
    for (int64_t i = 0; i < (int64_t)h * w; i++)
        if (m[i] < 0 || m[i] > 3 || (y && m[i] != HSI_MASK_UNUSED && y[i] < 0)) {
            static const char *const what[4] = {"", "train", "val", "test"};
            /* y < 0: unlabelled, or a class the experiment leaves out (Indian Pines' 16-class
             * masks on its 8-class subset: a pixel labelled 15 is context only there) */
            if (err && errlen && (m[i] < 0 || m[i] > 3))
                snprintf(err, errlen, "%s: pixel (%lld, %lld) has mask %d (expected 0..3)", path,
                         (long long)(i / w), (long long)(i % w), m[i]);
            else if (err && errlen)
                snprintf(err, errlen, "%s: pixel (%lld, %lld) has mask %d (%s) but is not labelled "
                         "with one of the experiment's classes (unlabelled, or of a class it "
                         "leaves out: masks of another class list or scene?)", path,
                         (long long)(i / w), (long long)(i % w), m[i], what[m[i]]);
            hsi_array_free(&a);
            return -1;
        }
    out->h = h;
    out->w = w;
    out->mask = m;
    out->n_train = hsi_split_indices(out, HSI_MASK_TRAIN, NULL);
    out->n_val = hsi_split_indices(out, HSI_MASK_VAL, NULL);
    out->n_test = hsi_split_indices(out, HSI_MASK_TEST, NULL);
    return 0;
}

void hsi_split_free(hsi_split *s)
{
    free(s->mask);
    memset(s, 0, sizeof *s);
}

int64_t hsi_split_overlap_warning(const hsi_split *s, int p)
{
    int h = s->h, w = s->w, r = p / 2;
    /* Summed-area table of training pixels: sat[(i)(w+1) + j] = count in rows < i, cols < j. */
    int64_t *sat = calloc((size_t)(h + 1) * (size_t)(w + 1), sizeof *sat);
    if (!sat)
        return -1;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            sat[(size_t)(i + 1) * (w + 1) + j + 1] = sat[(size_t)i * (w + 1) + j + 1]
                                                     + sat[(size_t)(i + 1) * (w + 1) + j]
                                                     - sat[(size_t)i * (w + 1) + j]
                                                     + (s->mask[(size_t)i * w + j] == HSI_MASK_TRAIN);
    int64_t n = 0;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            if (s->mask[(size_t)i * w + j] != HSI_MASK_TEST)
                continue;
            int r0 = i - r < 0 ? 0 : i - r, r1 = i + r + 1 > h ? h : i + r + 1;
            int c0 = j - r < 0 ? 0 : j - r, c1 = j + r + 1 > w ? w : j + r + 1;
            int64_t t = sat[(size_t)r1 * (w + 1) + c1] - sat[(size_t)r0 * (w + 1) + c1]
                        - sat[(size_t)r1 * (w + 1) + c0] + sat[(size_t)r0 * (w + 1) + c0];
            n += t > 0;
        }
    free(sat);
    return n;
}
