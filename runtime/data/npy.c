/* npy.c — numpy .npy files: reads format 1.x/2.x/3.x with any integer, float or bool dtype,
 * C or Fortran order, either byte order; writes format 1.0, little-endian, C order, for F32,
 * I32 and I8 arrays (atomic). It does not read object arrays, structured dtypes, float16 or
 * complex, and does not memory-map. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

static int little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Value text after 'key': in the header dict, or NULL. */
static const char *dict_value(const char *hdr, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p)
        return NULL;
    p = strchr(p + strlen(pat), ':');
    if (!p)
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static int parse_descr(const char *d, data_type *t, int *swap)
{
    /* each character is looked at only after the one before it was not the end: the text may
     * stop anywhere (a header cut or forged after "'descr': '") */
    if (d[0] != '\'' || !d[1] || !d[2] || d[3] < '0' || d[3] > '9')
        return -1;
    char order = d[1], kind = d[2];
    int size = atoi(d + 3);
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return -1;
    *swap = (order == '<' && !little_endian()) || (order == '>' && little_endian());
    if (kind == 'f' && size == 4) *t = DATA_F32;
    else if (kind == 'f' && size == 8) *t = DATA_F64;
    else if (kind == 'b' && size == 1) *t = DATA_BOOL;
    else if (kind == 'i' && size == 1) *t = DATA_I8;
    else if (kind == 'i' && size == 2) *t = DATA_I16;
    else if (kind == 'i' && size == 4) *t = DATA_I32;
    else if (kind == 'i' && size == 8) *t = DATA_I64;
    else if (kind == 'u' && size == 1) *t = DATA_U8;
    else if (kind == 'u' && size == 2) *t = DATA_U16;
    else if (kind == 'u' && size == 4) *t = DATA_U32;
    else if (kind == 'u' && size == 8) *t = DATA_U64;
    else return -1;
    if (data_type_size(*t) == 1)
        *swap = 0;
    return 0;
}

static void release_buf(void *owner)
{
    free(owner);
}

int data_npy_load(const char *path, data_raw *r, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    memset(r, 0, sizeof *r);
    if (data_read_file(path, &buf, &len, err, errlen) != 0)
        return -1;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        free(buf);
        return data_err(err, errlen, "%s: not a .npy file (bad magic)", path);
    }
    const uint8_t *u = (const uint8_t *)buf;
    size_t hlen, hstart;
    if (u[6] == 1) {
        hlen = u[8] | (size_t)u[9] << 8;
        hstart = 10;
    } else if ((u[6] == 2 || u[6] == 3) && len >= 12) {
        hlen = u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
        hstart = 12;
    } else {
        int version = u[6];
        free(buf);
        return data_err(err, errlen, "%s: unsupported .npy version %d", path, version);
    }
    if (hstart + hlen > len) {
        free(buf);
        return data_err(err, errlen, "%s: truncated .npy header", path);
    }
    char *hdr = malloc(hlen + 1);
    if (!hdr) {
        free(buf);
        return data_err(err, errlen, "%s: out of memory", path);
    }
    memcpy(hdr, buf + hstart, hlen);
    hdr[hlen] = 0;
    for (size_t k = hlen; k > 0 && (hdr[k - 1] == ' ' || hdr[k - 1] == '\n'); k--)
        hdr[k - 1] = 0;   /* messages quote the dict without its padding */
    const char *descr = dict_value(hdr, "descr");
    const char *fort = dict_value(hdr, "fortran_order");
    const char *shape = dict_value(hdr, "shape");
    int fortran = fort && strncmp(fort, "True", 4) == 0;
    if (!descr || !fort || !shape || *shape != '(' || parse_descr(descr, &r->type, &r->swap) != 0) {
        data_err(err, errlen, "%s: unsupported .npy header (need a numeric dtype): %s", path, hdr);
        goto fail;
    }
    const char *p = shape + 1;
    int64_t count = 1;
    while (1) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p || d < 0 || r->ndim == 8) {
            data_err(err, errlen, "%s: bad shape in .npy header: %s", path, hdr);
            goto fail;
        }
        r->dims[r->ndim++] = d;
        p = end;
    }
    for (int k = 0; k < r->ndim; k++) {   /* the product is checked before it can wrap */
        if (r->dims[k] && count > ((int64_t)1 << 50) / r->dims[k]) {
            data_err(err, errlen, "%s: the shape in the .npy header is impossibly large: %s",
                     path, hdr);
            goto fail;
        }
        count *= r->dims[k];
    }
    size_t need = (size_t)count * data_type_size(r->type);
    if (len - hstart - hlen < need) {
        char sh[96];
        data_err(err, errlen, "%s: file too short for a %s %s array (%zu data bytes, need %zu)",
                 path, data_type_name(r->type), data_shape_str(r->dims, r->ndim, sh, sizeof sh),
                 len - hstart - hlen, need);
        goto fail;
    }
    free(hdr);
    data_raw_strides(r, fortran);
    /* The data starts where the header ends, which numpy pads to 64 bytes but a file need not:
     * the readers load whole elements through typed pointers, so data at an offset that is not
     * a multiple of the element size is moved to the start of the (malloc-aligned) buffer. */
    if ((hstart + hlen) % data_type_size(r->type) != 0) {
        memmove(buf, buf + hstart + hlen, need);
        hstart = hlen = 0;
    }
    r->data = buf + hstart + hlen;
    r->owner = buf;
    r->release = release_buf;
    r->take = data_take_block;
    return 0;
fail:
    free(hdr);
    free(buf);
    memset(r, 0, sizeof *r);
    return -1;
}

int hsi_npy_write(const char *path, const hsi_array *a, char *err, size_t errlen)
{
    static const char *descr[] = {"<f4", "<i4", "|i1"};
    static const size_t esize[] = {4, 4, 1};
    if (a->dtype < HSI_DT_F32 || a->dtype > HSI_DT_I8 || a->ndim < 0 || a->ndim > 8)
        return data_err(err, errlen, "%s: cannot write this array (dtype %d, ndim %d)", path,
                        (int)a->dtype, a->ndim);
    char hdr[512], shape[256];
    size_t used = 0;
    int64_t n = 1;
    for (int k = 0; k < a->ndim; k++) {
        used += (size_t)snprintf(shape + used, sizeof shape - used, "%lld,%s",
                                 (long long)a->dims[k], k + 1 < a->ndim ? " " : "");
        n *= a->dims[k];
    }
    if (a->ndim == 0)
        shape[0] = 0;
    if (a->ndim > 1)
        shape[used - 1] = 0;   /* (3, 4) not (3, 4,); a 1-tuple keeps its comma */
    int m = snprintf(hdr + 10, sizeof hdr - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     descr[a->dtype], shape);
    size_t total = 10 + (size_t)m + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(hdr + 10 + m, ' ', pad);
    hdr[10 + m + pad] = '\n';
    size_t hlen = (size_t)m + pad + 1;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    size_t nbytes = (size_t)n * esize[a->dtype];
    if (little_endian() || esize[a->dtype] == 1)
        return data_write_atomic(path, hdr, 10 + hlen, a->data, nbytes, err, errlen);
    uint8_t *sw = malloc(nbytes ? nbytes : 1);
    if (!sw)
        return data_err(err, errlen, "%s: out of memory", path);
    memcpy(sw, a->data, nbytes);
    for (size_t i = 0; i < nbytes; i += 4) {
        uint8_t t0 = sw[i], t1 = sw[i + 1];
        sw[i] = sw[i + 3];
        sw[i + 1] = sw[i + 2];
        sw[i + 2] = t1;
        sw[i + 3] = t0;
    }
    int rc = data_write_atomic(path, hdr, 10 + hlen, sw, nbytes, err, errlen);
    free(sw);
    return rc;
}
