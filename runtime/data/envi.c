/* envi.c — ENVI raster reader: parses the .hdr (samples, lines, bands, data type, interleave,
 * byte order, header offset; other keys and {...} lists are skipped) and views the binary file
 * as (lines, samples, bands) for raw.c. Given x.hdr it looks for x, x.img, x.dat, x.raw,
 * x.bsq/.bil/.bip; given a data file it looks for its .hdr. It does not read complex types
 * (6, 9) and does not write ENVI. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "data_internal.h"

typedef struct envi_hdr {
    long long samples, lines, bands, offset;
    int type, byte_order;
    char interleave[8];
} envi_hdr;

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

static int parse_hdr(const char *path, char *text, envi_hdr *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    h->samples = h->lines = h->bands = h->type = -1;
    snprintf(h->interleave, sizeof h->interleave, "bsq");
    if (strncmp(trim(text), "ENVI", 4) != 0)
        return data_err(err, errlen, "%s: not an ENVI header (first line must be 'ENVI')", path);
    int line = 1;
    for (char *p = text; *p;) {
        char *eol = strchr(p, '\n');
        char *next = eol ? eol + 1 : p + strlen(p);
        char *eq = memchr(p, '=', (size_t)(next - p));
        if (eq) {
            char *vstart = eq + 1;
            while (*vstart == ' ' || *vstart == '\t')
                vstart++;
            if (*vstart == '{') {                 /* a list: runs to the closing brace */
                char *close = strchr(vstart, '}');
                if (!close)
                    return data_err(err, errlen, "%s:%d: unterminated '{'", path, line);
                for (char *q = p; q < close; q++)
                    line += *q == '\n';
                next = strchr(close, '\n');
                next = next ? next + 1 : close + strlen(close);
                p = next;
                continue;
            }
            *eq = 0;
            if (eol)
                *eol = 0;
            char *key = trim(p), *val = trim(eq + 1);
            char *end;
            long long v = strtoll(val, &end, 10);
            int num = end != val;
            if (strcasecmp(key, "samples") == 0 && num) h->samples = v;
            else if (strcasecmp(key, "lines") == 0 && num) h->lines = v;
            else if (strcasecmp(key, "bands") == 0 && num) h->bands = v;
            else if (strcasecmp(key, "data type") == 0 && num) h->type = (int)v;
            else if (strcasecmp(key, "byte order") == 0 && num) h->byte_order = (int)v;
            else if (strcasecmp(key, "header offset") == 0 && num) h->offset = v;
            else if (strcasecmp(key, "interleave") == 0) {
                snprintf(h->interleave, sizeof h->interleave, "%s", val);
                for (char *c = h->interleave; *c; c++)
                    *c = (char)tolower((unsigned char)*c);
            }
        }
        line++;
        p = next;
    }
    if (h->samples < 1 || h->lines < 1 || h->bands < 1)
        return data_err(err, errlen, "%s: missing or bad 'samples', 'lines' or 'bands'", path);
    if (h->offset < 0)
        return data_err(err, errlen, "%s: negative 'header offset'", path);
    if (strcmp(h->interleave, "bsq") && strcmp(h->interleave, "bil") && strcmp(h->interleave, "bip"))
        return data_err(err, errlen, "%s: interleave '%s' (expected bsq, bil or bip)", path,
                        h->interleave);
    return 0;
}

static int map_type(int t, data_type *out)
{
    switch (t) {
    case 1: *out = DATA_U8; return 0;
    case 2: *out = DATA_I16; return 0;
    case 3: *out = DATA_I32; return 0;
    case 4: *out = DATA_F32; return 0;
    case 5: *out = DATA_F64; return 0;
    case 12: *out = DATA_U16; return 0;
    case 13: *out = DATA_U32; return 0;
    case 14: *out = DATA_I64; return 0;
    case 15: *out = DATA_U64; return 0;
    default: return -1;
    }
}

/* Fills hdr and data paths from either one. */
static int find_pair(const char *path, char *hdr, char *dat, size_t n, char *err, size_t errlen)
{
    size_t len = strlen(path);
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : len;
    if (len + 5 > n)
        return data_err(err, errlen, "%s: path too long", path);
    if (len >= 4 && strcasecmp(path + len - 4, ".hdr") == 0) {
        static const char *ext[] = {"", ".img", ".dat", ".raw", ".bsq", ".bil", ".bip"};
        snprintf(hdr, n, "%s", path);
        for (size_t k = 0; k < sizeof ext / sizeof *ext; k++) {
            snprintf(dat, n, "%.*s%s", (int)stem, path, ext[k]);
            if (access(dat, R_OK) == 0)
                return 0;
        }
        return data_err(err, errlen, "%s: no ENVI data file beside it (%.*s, .img, .dat, .raw, "
                        ".bsq, .bil, .bip)", path, (int)stem, path);
    }
    snprintf(dat, n, "%s", path);
    snprintf(hdr, n, "%.*s.hdr", (int)stem, path);
    if (access(hdr, R_OK) == 0)
        return 0;
    snprintf(hdr, n, "%s.hdr", path);
    if (access(hdr, R_OK) == 0)
        return 0;
    if (access(path, R_OK) != 0)
        return data_err(err, errlen, "%s: no such file", path);
    return data_err(err, errlen, "%s: unknown format (not .mat, not .npy, and no ENVI .hdr "
                    "beside it)", path);
}

static void release_buf(void *owner)
{
    free(owner);
}

int data_envi_load(const char *path, data_raw *r, char *err, size_t errlen)
{
    char hdrp[4096], datp[4096];
    char *text, *buf;
    size_t tlen, len;
    envi_hdr h;
    memset(r, 0, sizeof *r);
    if (find_pair(path, hdrp, datp, sizeof hdrp, err, errlen) != 0)
        return -1;
    if (data_read_file(hdrp, &text, &tlen, err, errlen) != 0)
        return -1;
    int rc = parse_hdr(hdrp, text, &h, err, errlen);
    free(text);
    if (rc != 0)
        return -1;
    if (map_type(h.type, &r->type) != 0)
        return data_err(err, errlen, "%s: unsupported 'data type = %d' (supported: 1 2 3 4 5 12 "
                        "13 14 15)", hdrp, h.type);
    if (data_read_file(datp, &buf, &len, err, errlen) != 0)
        return -1;
    size_t es = data_type_size(r->type);
    size_t need = (size_t)h.offset + (size_t)(h.samples * h.lines * h.bands) * es;
    if (len < need) {
        free(buf);
        return data_err(err, errlen, "%s: %zu bytes, the header %s needs %zu (%lld x %lld x %lld "
                        "%s + offset %lld)", datp, len, hdrp, need, h.lines, h.samples, h.bands,
                        data_type_name(r->type), h.offset);
    }
    const uint16_t one = 1;
    uint8_t le;
    memcpy(&le, &one, 1);
    r->swap = es > 1 && (h.byte_order == 1) == (le == 1);
    r->ndim = 3;
    r->dims[0] = h.lines;
    r->dims[1] = h.samples;
    r->dims[2] = h.bands;
    if (strcmp(h.interleave, "bsq") == 0) {        /* [band][line][sample] */
        r->stride[2] = h.lines * h.samples;
        r->stride[0] = h.samples;
        r->stride[1] = 1;
    } else if (strcmp(h.interleave, "bil") == 0) { /* [line][band][sample] */
        r->stride[0] = h.bands * h.samples;
        r->stride[2] = h.samples;
        r->stride[1] = 1;
    } else {                                       /* bip: [line][sample][band] */
        r->stride[0] = h.samples * h.bands;
        r->stride[1] = h.bands;
        r->stride[2] = 1;
    }
    r->data = buf + h.offset;
    r->owner = buf;
    r->release = release_buf;
    return 0;
}
