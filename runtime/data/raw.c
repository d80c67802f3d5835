/* raw.c — the common end of every reader: converts an n-d array as it lies in a file buffer
 * (any element type, byte order and strides) into a band-major hsi_cube, a row-major
 * hsi_labels or a C-order hsi_array; picks the reader from the file name; small file helpers.
 * It does not parse any format itself (mat.c, envi.c, npy.c do). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"

int data_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

size_t data_type_size(data_type t)
{
    static const size_t size[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 1};
    return size[t];
}

const char *data_type_name(data_type t)
{
    static const char *name[] = {"int8", "uint8", "int16", "uint16", "int32", "uint32",
                                 "int64", "uint64", "single", "double", "logical"};
    return name[t];
}

void data_raw_strides(data_raw *r, int fortran)
{
    int64_t s = 1;
    for (int k = 0; k < r->ndim; k++) {
        int a = fortran ? k : r->ndim - 1 - k;
        r->stride[a] = s;
        s *= r->dims[a];
    }
}

const char *data_shape_str(const int64_t *dims, int ndim, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int k = 0; k < ndim && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, k ? " x %lld" : "%lld", (long long)dims[k]);
    if (ndim == 0)
        snprintf(buf, n, "scalar");
    return buf;
}

void data_raw_release(data_raw *r)
{
    if (r->release && r->owner)
        r->release(r->owner);
    r->owner = NULL;
    r->release = NULL;
    r->data = NULL;
}

/* ---- element access ------------------------------------------------------------------------ */

static void swap_bytes(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        uint8_t t = b[i];
        b[i] = b[n - 1 - i];
        b[n - 1 - i] = t;
    }
}

/* Element at element offset off, as double (64-bit integers beyond 2^53 lose low bits). */
static double raw_get(const data_raw *r, int64_t off)
{
    size_t es = data_type_size(r->type);
    uint8_t b[8];
    memcpy(b, (const uint8_t *)r->data + (size_t)off * es, es);
    if (r->swap)
        swap_bytes(b, es);
    union { int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32;
            int64_t i64; uint64_t u64; float f; double d; } v;
    memcpy(&v, b, es);
    switch (r->type) {
    case DATA_I8: return v.i8;
    case DATA_U8: case DATA_BOOL: return v.u8;
    case DATA_I16: return v.i16;
    case DATA_U16: return v.u16;
    case DATA_I32: return v.i32;
    case DATA_U32: return v.u32;
    case DATA_I64: return (double)v.i64;
    case DATA_U64: return (double)v.u64;
    case DATA_F32: return v.f;
    case DATA_F64: return v.d;
    }
    return 0;
}

/* The least magnitude a float64 rounds to Inf from as a float32 (FLT_MAX and half its ulp). */
#define F32_OVERFLOW 0x1.ffffffp+127

/* A finite float64 that becomes Inf as a float32: the message (what, where) says so, not that
 * the value is "not finite" later on. 0 when v fits. */
static int f32_overflow(double v, const char *what, const char *where, char *err, size_t errlen)
{
    if (!isfinite(v) || fabs(v) < F32_OVERFLOW) return 0;
    return data_err(err, errlen, "%s: %s is %g, which does not fit float32 (at most %g in "
                    "magnitude): a float64 value out of float32's range; rescale the data, or "
                    "write NaN where it marks no data", what, where, v, (double)FLT_MAX);
}

static int64_t numel(const int64_t *dims, int ndim)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= dims[k];
    return n;
}

/* The checks of a cube's shape (3-D, each size in 1..INT32_MAX), for both conversions. */
static int cube_shape(const data_raw *r, const char *what, char *err, size_t errlen)
{
    char sh[96];
    if (r->ndim != 3)
        return data_err(err, errlen, "%s: a cube must be 3-D (rows x cols x bands), found %s",
                        what, data_shape_str(r->dims, r->ndim, sh, sizeof sh));
    if (r->dims[0] < 1 || r->dims[1] < 1 || r->dims[2] < 1 || r->dims[0] > INT32_MAX
        || r->dims[1] > INT32_MAX || r->dims[2] > INT32_MAX)
        return data_err(err, errlen, "%s: unusable cube shape %s", what,
                        data_shape_str(r->dims, 3, sh, sizeof sh));
    return 0;
}

int data_raw_to_cube(const data_raw *r, const char *what, hsi_cube *out, char *err, size_t errlen)
{
    char sh[96];
    memset(out, 0, sizeof *out);
    if (cube_shape(r, what, err, errlen)) return -1;
    int h = (int)r->dims[0], w = (int)r->dims[1], nb = (int)r->dims[2];
    if (r->type == DATA_F64)   /* before the conversion, where it would be Inf */
        for (int b = 0; b < nb; b++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    char where[96];
                    double v = raw_get(r, b * r->stride[2] + y * r->stride[0] + x * r->stride[1]);
                    if (isfinite(v) && fabs(v) >= F32_OVERFLOW) {
                        snprintf(where, sizeof where, "the value at row %d, column %d, band %d "
                                 "(0-based)", y, x, b);
                        return f32_overflow(v, what, where, err, errlen);
                    }
                }
    float *d = malloc(sizeof *d * (size_t)h * (size_t)w * (size_t)nb);
    if (!d)
        return data_err(err, errlen, "%s: out of memory for a %s cube", what,
                        data_shape_str(r->dims, 3, sh, sizeof sh));
    /* 64 x 64 tiles per band: reads and writes both stay in cache whatever the source order
     * (MATLAB files are column-major, so a row of the output is a strided column there). */
    enum { T = 64 };
    const int64_t sy = r->stride[0], sx = r->stride[1];
    for (int b = 0; b < nb; b++) {
        float *ob = d + (size_t)b * h * w;
        const int64_t base = b * r->stride[2];
        for (int y0 = 0; y0 < h; y0 += T)
            for (int x0 = 0; x0 < w; x0 += T) {
                int y1 = y0 + T < h ? y0 + T : h, x1 = x0 + T < w ? x0 + T : w;
                if (r->swap) {
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++)
                            ob[(size_t)y * w + x] = (float)raw_get(r, base + y * sy + x * sx);
                    continue;
                }
#define TILE(T_)                                                                          \
    for (int y = y0; y < y1; y++) {                                                       \
        const T_ *src = (const T_ *)r->data + base + y * sy;                              \
        for (int x = x0; x < x1; x++)                                                     \
            ob[(size_t)y * w + x] = (float)src[x * sx];                                   \
    }                                                                                     \
    break
                switch (r->type) {
                DATA_TYPE_CASES(TILE)
                }
#undef TILE
            }
    }
    out->h = h;
    out->w = w;
    out->bands = nb;
    out->data = d;
    return 0;
}

void *data_take_block(void **owner)
{
    void *b = *owner;
    *owner = NULL;
    return b;
}

/* x holds an A x B row-major matrix of e-byte elements; in place it becomes its B x A
 * transpose. Cycle following: the element that belongs at p is at p * B mod (A * B - 1);
 * one bit per element marks those moved. -1: out of memory (x unchanged). */
static int transpose_in_place(uint8_t *x, size_t A, size_t B, size_t e)
{
    size_t n = A * B;
    if (A < 2 || B < 2) return 0;
    uint8_t *moved = calloc(n / 8 + 1, 1), *t = malloc(e);
    if (!moved || !t) {
        free(moved);
        free(t);
        return -1;
    }
    for (size_t s = 1; s + 1 < n; s++) {
        if (moved[s >> 3] >> (s & 7) & 1) continue;
        memcpy(t, x + s * e, e);
        for (size_t j = s;;) {
            moved[j >> 3] |= (uint8_t)(1u << (j & 7));
            size_t from = (size_t)((uint64_t)j * B % (n - 1));
            if (from == s) {
                memcpy(x + j * e, t, e);
                break;
            }
            memcpy(x + j * e, x + from * e, e);
            j = from;
        }
    }
    free(moved);
    free(t);
    return 0;
}

/* The 16-bit samples of r (an 8/16-bit type), band-major, copied into a new buffer. */
static int16_t *gather16(const data_raw *r, int h, int w, int nb)
{
    int16_t *d = malloc(2 * (size_t)h * (size_t)w * (size_t)nb);
    for (int b = 0; d && b < nb; b++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)   /* as uint16 bits: a uint16 above 32767 keeps them */
                d[((size_t)b * h + y) * w + x] = (int16_t)(uint16_t)(int32_t)raw_get(
                    r, b * r->stride[2] + y * r->stride[0] + x * r->stride[1]);
    return d;
}

/* The taken block u (the samples at its start, n of them, in r's type and layout) turned into
 * band-major 16-bit samples in place; NULL (u freed) when out of memory. Wider types (whose
 * values wide16_kind found 16-bit) are narrowed first, front to back: sample i lands on bytes
 * 2i, 2i + 1, which held samples before it. */
static int16_t *convert16_in_place(const data_raw *r, uint8_t *u, int h, int w, int nb)
{
    size_t n = (size_t)h * w * nb, es = data_type_size(r->type), plane = (size_t)h * w;
    if (es > 2) {
        data_raw at = *r;
        at.data = u;
        for (size_t i = 0; i < n; i++) {
            int16_t v = (int16_t)(uint16_t)(int32_t)(float)raw_get(&at, (int64_t)i);
            memcpy(u + 2 * i, &v, 2);
        }
    }
    uint8_t *g = realloc(u, 2 * n);   /* grows an 8-bit block, trims a wider one (or a .npy
                                         file's header room) */
    if (!g) {
        free(u);
        return NULL;
    }
    if (es == 1)   /* widened from the end: sample i lands on bytes 2i, 2i+1, read already */
        for (size_t i = n; i-- > 0;)
            ((int16_t *)g)[i] = r->type == DATA_I8 ? (int8_t)g[i] : (int16_t)g[i];
    else if (r->swap && es == 2)
        for (size_t i = 0; i < n; i++) {
            uint8_t t = g[2 * i];
            g[2 * i] = g[2 * i + 1];
            g[2 * i + 1] = t;
        }
    const int64_t *st = r->stride;
    int rc = 0;
    if (st[0] == 1 && st[1] == h && st[2] == (int64_t)plane && h > 1 && w > 1) {
        /* column-major (MATLAB, Fortran-order .npy): each band a w x h plane to transpose */
        int16_t *tmp = malloc(2 * plane);
        for (int b = 0; tmp && b < nb; b++) {
            int16_t *p = (int16_t *)g + (size_t)b * plane;
            memcpy(tmp, p, 2 * plane);
            for (int y0 = 0; y0 < h; y0 += 64)   /* 64 x 64 tiles: both sides stay in cache */
                for (int x0 = 0; x0 < w; x0 += 64)
                    for (int y = y0; y < h && y < y0 + 64; y++)
                        for (int x = x0; x < w && x < x0 + 64; x++)
                            p[(size_t)y * w + x] = tmp[(size_t)x * h + y];
        }
        rc = tmp ? 0 : -1;
        free(tmp);
    } else if (st[2] == w && st[1] == 1 && st[0] == (int64_t)nb * w) {   /* ENVI bil */
        rc = transpose_in_place(g, (size_t)h, (size_t)nb, 2 * (size_t)w);
    } else if (st[2] == 1 && st[1] == nb && st[0] == (int64_t)nb * w) {  /* bip, C-order .npy */
        rc = transpose_in_place(g, plane, (size_t)nb, 2);
    }   /* else band-major already (ENVI bsq, or a single row / column / band) */
    if (rc) {
        free(g);
        return NULL;
    }
    return (int16_t *)g;
}

/* A wider type's samples as the float cube would hold them: 1 all int16, 2 all uint16 (some
 * above 32767), 0 not 16-bit integers (a fraction, a -0, out of range, NaN): hsi_cube_compact's
 * rule, so that the same scenes are kept in 16 bits. */
static int wide16_kind(const data_raw *r)
{
    int64_t n = r->dims[0] * r->dims[1] * r->dims[2];
    hsi_kind16 k = {0, 0};
    data_raw at = *r;   /* dense: element i of the buffer, whatever its axis */
    for (int64_t i = 0; i < n; i++)
        if (!hsi_kind16_add(&k, (float)raw_get(&at, i))) return 0;
    return hsi_kind16_end(&k);
}

int data_raw_to_cube16(data_raw *r, const char *what, hsi_cube *out, char *err, size_t errlen)
{
    char sh[96];
    memset(out, 0, sizeof *out);
    data_type t = r->type;
    int narrow = t != DATA_I8 && t != DATA_U8 && t != DATA_BOOL && t != DATA_I16 && t != DATA_U16;
    if (narrow && (!r->take || r->ndim != 3)) return 1;
    if (cube_shape(r, what, err, errlen)) return -1;
    int h = (int)r->dims[0], w = (int)r->dims[1], nb = (int)r->dims[2];
    size_t n = (size_t)h * w * nb, es = data_type_size(t), plane = (size_t)h * w;
    const int64_t *st = r->stride;
    /* the layouts convert16_in_place knows: any permutation of dense (rows, cols, bands) that a
     * reader gives (bsq, bil, bip, column-major) */
    int dense = (st[0] == w && st[1] == 1 && st[2] == (int64_t)plane) ||
                (st[0] == 1 && st[1] == h && st[2] == (int64_t)plane) ||
                (st[2] == w && st[1] == 1 && st[0] == (int64_t)nb * w) ||
                (st[2] == 1 && st[1] == nb && st[0] == (int64_t)nb * w);
    int kind = narrow && dense ? wide16_kind(r) : 0;
    if (narrow && !kind) return 1;   /* floats, as hsi_cube_read gives them */
    int16_t *d;
    if (r->take && dense) {
        uint8_t *u = r->take(&r->owner);
        size_t off = (size_t)((const uint8_t *)r->data - u);
        r->data = NULL;
        if (off) memmove(u, u + off, n * es);
        d = convert16_in_place(r, u, h, w, nb);
    } else {
        d = gather16(r, h, w, nb);
    }
    if (!d)
        return data_err(err, errlen, "%s: out of memory for a %s cube", what,
                        data_shape_str(r->dims, 3, sh, sizeof sh));
    int uns = kind == 2;
    for (size_t i = 0; t == DATA_U16 && i < n && !uns; i++)   /* hsi_cube_compact's choice */
        uns = (uint16_t)d[i] > 32767;
    *out = (hsi_cube){.h = h, .w = w, .bands = nb, .s16 = d, .s16_unsigned = uns};
    return 0;
}

/* Converts one value to an integer of [lo, hi]; -1 with a message if it is not one. */
static int to_int(double v, double lo, double hi, const char *what, int64_t idx, int64_t *o,
                  char *err, size_t errlen)
{
    if (!(v == floor(v)) || v < lo || v > hi)
        return data_err(err, errlen, "%s: element %lld is %g, not an integer in [%g, %g]", what,
                        (long long)idx, v, lo, hi);
    *o = (int64_t)v;
    return 0;
}

int data_raw_to_labels(const data_raw *r, const char *what, hsi_labels *out, char *err,
                       size_t errlen)
{
    char sh[96];
    memset(out, 0, sizeof *out);
    if (r->ndim != 2 && !(r->ndim == 3 && r->dims[2] == 1))   /* ENVI: 1 band */
        return data_err(err, errlen, "%s: a ground truth must be 2-D (rows x cols), found %s",
                        what, data_shape_str(r->dims, r->ndim, sh, sizeof sh));
    if (r->dims[0] < 1 || r->dims[1] < 1 || r->dims[0] > INT32_MAX || r->dims[1] > INT32_MAX)
        return data_err(err, errlen, "%s: unusable shape %s", what,
                        data_shape_str(r->dims, 2, sh, sizeof sh));
    int h = (int)r->dims[0], w = (int)r->dims[1];
    int32_t *g = malloc(sizeof *g * (size_t)h * (size_t)w);
    if (!g)
        return data_err(err, errlen, "%s: out of memory", what);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int64_t v = 0;
            if (to_int(raw_get(r, y * r->stride[0] + x * r->stride[1]), INT32_MIN, INT32_MAX,
                       what, (int64_t)y * w + x, &v, err, errlen) != 0) {
                free(g);
                return -1;
            }
            g[(size_t)y * w + x] = (int32_t)v;
        }
    out->h = h;
    out->w = w;
    out->gt = g;
    return 0;
}

int data_raw_to_array(const data_raw *r, const char *what, hsi_dtype want, hsi_array *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int64_t n = numel(r->dims, r->ndim);
    size_t es = want == HSI_DT_F32 ? 4 : want == HSI_DT_I32 ? 4 : 1;
    void *d = malloc(n ? (size_t)n * es : 1);
    if (!d)
        return data_err(err, errlen, "%s: out of memory", what);
    int64_t idx[8] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int k = 0; k < r->ndim; k++)
            off += idx[k] * r->stride[k];
        double v = raw_get(r, off);
        int64_t iv = 0;
        if (want == HSI_DT_F32) {
            char where[48];
            snprintf(where, sizeof where, "element %lld", (long long)i);
            if (f32_overflow(v, what, where, err, errlen)) goto fail;
            ((float *)d)[i] = (float)v;
        } else if (want == HSI_DT_I32) {
            if (to_int(v, INT32_MIN, INT32_MAX, what, i, &iv, err, errlen) != 0)
                goto fail;
            ((int32_t *)d)[i] = (int32_t)iv;
        } else {
            if (to_int(v, INT8_MIN, INT8_MAX, what, i, &iv, err, errlen) != 0)
                goto fail;
            ((int8_t *)d)[i] = (int8_t)iv;
        }
        for (int k = r->ndim - 1; k >= 0; k--) {
            if (++idx[k] < r->dims[k])
                break;
            idx[k] = 0;
        }
    }
    out->ndim = r->ndim;
    memcpy(out->dims, r->dims, sizeof out->dims);
    out->dtype = want;
    out->data = d;
    return 0;
fail:
    free(d);
    return -1;
}

/* ---- format dispatch ----------------------------------------------------------------------- */

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), m = strlen(ext);
    return n >= m && strcasecmp(path + n - m, ext) == 0;
}

static int load_any(const char *path, const char *var, int rank, data_raw *r, char *what,
                    size_t whatlen, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    snprintf(what, whatlen, "%s", path);
    if (has_ext(path, ".mat"))
        return data_mat_load(path, var, rank, r, what, whatlen, err, errlen);
    if (has_ext(path, ".npy"))
        return data_npy_load(path, r, err, errlen);
    return data_envi_load(path, r, err, errlen);
}

/* Reads path and converts to a cube (rank 3; keep16: 8/16-bit samples in the 16-bit form) or
 * labels (rank 2). */
static int read_as(const char *path, const char *var, int rank, int keep16, hsi_cube *cube,
                   hsi_labels *lab, char *err, size_t errlen)
{
    data_raw r;
    char what[1024];
    if (load_any(path, var, rank, &r, what, sizeof what, err, errlen) != 0)
        return -1;
    int rc = rank == 2 ? data_raw_to_labels(&r, what, lab, err, errlen)
           : keep16 ? data_raw_to_cube16(&r, what, cube, err, errlen) : 1;
    if (rc == 1) rc = data_raw_to_cube(&r, what, cube, err, errlen);
    data_raw_release(&r);
    return rc;
}

int hsi_cube_read(const char *path, const char *var, hsi_cube *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return read_as(path, var, 3, 0, out, NULL, err, errlen);
}

int hsi_cube_read16(const char *path, const char *var, hsi_cube *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return read_as(path, var, 3, 1, out, NULL, err, errlen);
}

int hsi_labels_read(const char *path, const char *var, hsi_labels *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return read_as(path, var, 2, 0, NULL, out, err, errlen);
}

int hsi_npy_read(const char *path, hsi_dtype want, hsi_array *out, char *err, size_t errlen)
{
    data_raw r;
    memset(out, 0, sizeof *out);
    if (data_npy_load(path, &r, err, errlen) != 0)
        return -1;
    int rc = data_raw_to_array(&r, path, want, out, err, errlen);
    data_raw_release(&r);
    return rc;
}

int hsi_cube_check_finite(const hsi_cube *c, const char *what, char *err, size_t errlen)
{
    size_t plane = (size_t)c->h * (size_t)c->w;
    long long total = 0, first_count = 0;
    int bands_bad = 0, first = -1;
    size_t first_at = 0;
    for (int b = 0; b < c->bands; b++) {
        const float *p = c->data + (size_t)b * plane;
        long long n = 0;
        for (size_t i = 0; i < plane; i++)
            if (!isfinite(p[i]) && n++ == 0 && first < 0) first_at = i;
        if (!n) continue;
        if (first < 0) first = b, first_count = n;
        total += n;
        bands_bad++;
    }
    if (!total) return 0;
    return data_err(err, errlen, "%s: %lld values are not finite (NaN or Inf) in %d band(s); band "
                    "%d (0-based) has %lld, the first at row %zu, column %zu: repair them, drop "
                    "the band (bands.range), or set preprocess.nonfinite: zero", what, total,
                    bands_bad, first, first_count,
                    first_at / (size_t)c->w, first_at % (size_t)c->w);
}

void hsi_cube_free(hsi_cube *c)
{
    free(c->data);
    free(c->s16);
    free(c->mean);
    free(c->std);
    memset(c, 0, sizeof *c);
}

void hsi_labels_free(hsi_labels *l)
{
    free(l->gt);
    memset(l, 0, sizeof *l);
}

void hsi_scene_free(hsi_scene *s)
{
    hsi_cube_free(&s->cube);
    hsi_labels_free(&s->gt);
    s->ds = NULL;
}

void hsi_array_free(hsi_array *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- files --------------------------------------------------------------------------------- */

int data_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    FILE *f = hsi_open_input(path, err, errlen);
    if (!f)
        return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return data_err(err, errlen, "%s: %s", path, strerror(errno));
    }
    char *b = malloc((size_t)st.st_size + 1);
    if (!b) {
        fclose(f);
        return data_err(err, errlen, "%s: out of memory (%lld bytes)", path, (long long)st.st_size);
    }
    size_t n = fread(b, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n != (size_t)st.st_size) {
        free(b);
        return data_err(err, errlen, "%s: read error", path);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

int data_write_atomic(const char *path, const void *a, size_t na, const void *b, size_t nb,
                      char *err, size_t errlen)
{
    hsi_atomic_file af;   /* the one atomic writer: checks the target, temp file, rename */
    if (hsi_atomic_open(&af, path, err, errlen))
        return -1;
    if (fwrite(a, 1, na, af.fp) == na && nb)
        fwrite(b, 1, nb, af.fp);
    return hsi_atomic_commit(&af, err, errlen);
}
