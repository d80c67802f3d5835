/* mat.c — MATLAB .mat reader (v5, compressed or not, and v7.3/HDF5) through matio: finds the
 * variable (by name, or the only 2-D/3-D numeric one), checks it is a real numeric array and
 * hands it to raw.c as a column-major view. It does not read cells, structs, sparse or complex
 * arrays, and never lets matio print. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <matio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data_internal.h"

static void quiet_log(int level, char *message)
{
    (void)level;
    (void)message;
}

static int numeric_class(enum matio_classes c)
{
    return c >= MAT_C_DOUBLE && c <= MAT_C_UINT64;
}

static int map_type(enum matio_types t, data_type *out)
{
    switch (t) {
    case MAT_T_INT8: *out = DATA_I8; return 0;
    case MAT_T_UINT8: *out = DATA_U8; return 0;
    case MAT_T_INT16: *out = DATA_I16; return 0;
    case MAT_T_UINT16: *out = DATA_U16; return 0;
    case MAT_T_INT32: *out = DATA_I32; return 0;
    case MAT_T_UINT32: *out = DATA_U32; return 0;
    case MAT_T_INT64: *out = DATA_I64; return 0;
    case MAT_T_UINT64: *out = DATA_U64; return 0;
    case MAT_T_SINGLE: *out = DATA_F32; return 0;
    case MAT_T_DOUBLE: *out = DATA_F64; return 0;
    default: return -1;
    }
}

/* "'a' (double 3 x 4), 'b' (struct)" — every variable in the file, for messages. */
static void list_vars(const char *path, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat)
        return;
    matvar_t *v;
    while ((v = Mat_VarReadNextInfo(mat)) != NULL && used < n) {
        int64_t dims[8];
        char sh[96];
        int rank = v->rank < 8 ? v->rank : 8;
        for (int k = 0; k < rank; k++)
            dims[k] = (int64_t)v->dims[k];
        const char *cls = numeric_class(v->class_type)
                              ? (v->isComplex ? "complex" : "numeric")
                              : v->class_type == MAT_C_STRUCT ? "struct"
                              : v->class_type == MAT_C_CELL   ? "cell"
                              : v->class_type == MAT_C_CHAR   ? "char"
                              : v->class_type == MAT_C_SPARSE ? "sparse"
                                                              : "other";
        used += (size_t)snprintf(buf + used, n - used, "%s'%s' (%s %s)", used ? ", " : "",
                                 v->name ? v->name : "?", cls,
                                 data_shape_str(dims, rank, sh, sizeof sh));
        Mat_VarFree(v);
    }
    Mat_Close(mat);
    if (!buf[0])
        snprintf(buf, n, "none");
}

/* The only real numeric variable of rank `rank` (0: of rank 2 or 3) that is not a scalar or a
 * vector (rows and cols > 1), copied into name. */
static int pick_var(mat_t *mat, const char *path, int rank, char *name, size_t n, char *err,
                    size_t errlen)
{
    int found = 0;
    matvar_t *v;
    name[0] = 0;
    while ((v = Mat_VarReadNextInfo(mat)) != NULL) {
        int r = v->rank;
        if (numeric_class(v->class_type) && !v->isComplex && (r == 2 || r == 3) && v->name
            && (rank == 0 || r == rank) && v->dims[0] > 1 && v->dims[1] > 1) {
            found++;
            snprintf(name, n, "%s", v->name);
        }
        Mat_VarFree(v);
    }
    if (found == 1)
        return 0;
    char vars[1024];
    list_vars(path, vars, sizeof vars);
    if (found == 0)
        return data_err(err, errlen, "%s: no %s numeric variable in the file (variables: %s)",
                        path, rank == 3 ? "3-D" : rank == 2 ? "2-D" : "2-D or 3-D", vars);
    return data_err(err, errlen,
                    "%s: %d candidate variables, name one (variables: %s)", path, found, vars);
}

static uint32_t u32(const uint8_t *p, int little)
{
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
                  : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

/* The bytes of one element of MATLAB data type t (miINT8 .. miUINT64), 0 if not numeric. */
static int mi_size(uint32_t t)
{
    static const int size[] = {0, 1, 1, 2, 2, 4, 4, 4, 0, 8, 0, 0, 8, 8};
    return t < sizeof size / sizeof *size ? size[t] : 0;
}

/* One subelement tag at p (n bytes left): its type, byte count and the size of the tag (4 in
 * the small format, whose data sits in the tag's second word; else 8); -1 if it does not fit. */
static int sub_tag(const uint8_t *p, size_t n, int little, uint32_t *type, uint32_t *nb)
{
    if (n < 8) return -1;
    uint32_t w = u32(p, little);
    if (w >> 16) {
        *type = w & 0xffff;
        *nb = w >> 16;
        return 4;
    }
    *type = w;
    *nb = u32(p + 4, little);
    return 8;
}

/* A variable (miMATRIX at off, nb bytes; b: its first n bytes after the tag) whose header asks
 * for more than its bytes hold. A numeric one whose dimensions give more values than its real
 * part holds: matio reads it with the missing values as zeros (a forged or corrupted header
 * gave a cube with a band of zeros). A subelement longer than the variable, or a cell (char)
 * array with more elements than its bytes can describe (8 bytes a cell at least, 1 a
 * character): matio allocates what the header declares and walks it (a 360-byte file with a
 * dims subelement of 4 GB, or a cell array of 7e8 elements, took 16 s and 8 GB of address space
 * to refuse). What cannot be parsed here is left to matio. */
static int check_v5_matrix(const uint8_t *b, size_t n, uint32_t nb, int little, int64_t k,
                           int64_t off, const char *path, char *err, size_t errlen)
{
    static const char *const part_name[] = {"array flags", "dimensions", "name", "real part"};
    size_t pos = 0;
    uint32_t type, len, cls = 0;
    int64_t nelems = 1;
    for (int part = 0; part < 4; part++) {   /* flags, dims, name, real part */
        int t = sub_tag(b + pos, n - pos, little, &type, &len);
        if (t < 0) return 0;
        size_t body = pos + (t == 4 ? 4 : 8);
        const uint8_t *d = b + body;
        if ((int64_t)body + len > (int64_t)nb)
            return data_err(err, errlen, "%s: variable %lld (byte %lld) is corrupt: its %s "
                            "subelement claims %lu bytes from byte %lu of the variable, which "
                            "holds %lu", path, (long long)k, (long long)off, part_name[part],
                            (unsigned long)len, (unsigned long)body, (unsigned long)nb);
        if (part == 0) {
            if (len < 4 || body + 4 > n) return 0;
            cls = u32(d, little) & 0xff;   /* mxCELL_CLASS 1, mxCHAR_CLASS 4, numeric 6 .. 15 */
            if (cls != 1 && cls != 4 && (cls < 6 || cls > 15 || (u32(d, little) & 0x800)))
                return 0;                  /* structs, objects, sparse, complex: matio's */
        } else if (part == 1) {
            if (type != 5 || len % 4 || body + len > n) return 0;
            for (uint32_t i = 0; i < len / 4; i++) {
                int64_t dim = (int32_t)u32(d + 4 * i, little);
                if (dim < 0)   /* matio took it for a size_t: 3.8 s of allocating (fuzz_io) */
                    return data_err(err, errlen, "%s: variable %lld (byte %lld) is corrupt: its "
                                    "dimension %lu is %lld", path, (long long)k, (long long)off,
                                    (unsigned long)i + 1, (long long)dim);
                nelems = dim && nelems > INT64_MAX / 8 / dim ? INT64_MAX / 8 : nelems * dim;
            }
            int64_t least = cls == 1 ? 8 : cls == 4 ? 1 : 0;   /* bytes an element needs */
            if (least && nelems > (int64_t)nb / least)
                return data_err(err, errlen, "%s: variable %lld (byte %lld) is corrupt: its "
                                "dimensions give %lld %s, its %lu bytes hold at most %lld", path,
                                (long long)k, (long long)off, (long long)nelems,
                                cls == 1 ? "cells" : "characters", (unsigned long)nb,
                                (long long)(nb / least));
            if (least) return 0;
        } else if (part == 3) {
            int es = mi_size(type);
            if (!es)   /* matio allocated for the dims anyway (12 s under ASan; fuzz_io) */
                return data_err(err, errlen, "%s: variable %lld (byte %lld) is corrupt: its real "
                                "part has data type %lu, not a numeric one", path, (long long)k,
                                (long long)off, (unsigned long)type);
            if (t == 4) return 0;
            if (nelems > (int64_t)len / es)
                return data_err(err, errlen, "%s: variable %lld (byte %lld) is corrupt: its "
                                "dimensions give %lld values, its data holds %lld", path,
                                (long long)k, (long long)off, (long long)nelems,
                                (long long)(len / es));
            return 0;
        }
        pos += t == 4 ? 8 : 8 + ((len + 7) / 8) * 8;
        if (pos >= n) return 0;
    }
    return 0;
}

/* A compressed variable (miCOMPRESSED at off, nb bytes of a zlib stream holding one
 * miMATRIX): its head inflated and checked as an uncompressed one, against the bytes its header
 * declares, which nb compressed bytes can hold only up to deflate's largest ratio (1032:1).
 * matio allocates what the header declares before it inflates the values: a 208-byte file
 * whose dimensions said 20000 x 20000 x 6 held a trainer for more than 20 s over a 9.6 GB
 * allocation. A stream zlib cannot inflate is left to matio (which says so). */
static int check_v5_compressed(int fd, int64_t off, uint32_t nb, int little, int64_t k,
                               const char *path, char *err, size_t errlen)
{
    uint8_t in[4096], out[8 + 1024];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return 0;
    z.next_out = out;
    z.avail_out = sizeof out;
    int zr = Z_OK;
    for (uint32_t done = 0; zr == Z_OK && z.avail_out && done < nb;) {
        uInt chunk = nb - done < sizeof in ? (uInt)(nb - done) : (uInt)sizeof in;
        if (data_pread_full(fd, in, chunk, off + 8 + done, path, err, errlen) != 0) {
            inflateEnd(&z);
            return -1;
        }
        done += chunk;
        z.next_in = in;
        z.avail_in = chunk;
        while (zr == Z_OK && z.avail_in && z.avail_out) zr = inflate(&z, Z_NO_FLUSH);
    }
    size_t got = sizeof out - z.avail_out;
    inflateEnd(&z);
    if ((zr != Z_OK && zr != Z_STREAM_END) || got < 8 || u32(out, little) != 14) return 0;
    uint32_t inner = u32(out + 4, little);
    if ((int64_t)inner > (int64_t)nb * 1032 + 64)
        return data_err(err, errlen, "%s: variable %lld (byte %lld) is corrupt: it declares %lu "
                        "bytes, more than its %lu compressed bytes can hold (deflate expands "
                        "at most 1032-fold)", path, (long long)k, (long long)off,
                        (unsigned long)inner, (unsigned long)nb);
    size_t n = got - 8 < inner ? got - 8 : inner;
    return check_v5_matrix(out + 8, n, inner, little, k, off, path, err, errlen);
}

static uint64_t le_u(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int b = n - 1; b >= 0; b--) v = v << 8 | p[b];
    return v;
}

/* A v7.3 file is HDF5 after a 512-byte user block that starts with the MAT header. Cut short,
 * matio opened it and listed no variable ("no 3-D numeric variable in the file (variables:
 * none)"): the HDF5 superblock records where the file ends (an absolute offset, as HDF5 itself
 * compares it), so a shorter file is said to be truncated. A superblock of a version or offset
 * size HDF5 does not write is left to HDF5. */
static int check_v73_extent(int fd, int64_t size, const char *path, char *err, size_t errlen)
{
    uint8_t sb[64];
    if (size < 512 + 8 || data_pread_full(fd, sb, 8, 512, path, err, errlen) != 0 ||
        memcmp(sb, "\x89HDF\r\n\x1a\n", 8))
        return data_err(err, errlen, "%s: truncated or corrupt: its header says MAT v7.3, but no "
                        "HDF5 signature follows at byte 512 (the file has %lld bytes)", path,
                        (long long)size);
    int64_t n = size - 512 < (int64_t)sizeof sb ? size - 512 : (int64_t)sizeof sb;
    if (data_pread_full(fd, sb, (size_t)n, 512, path, err, errlen) != 0)
        return -1;
    int version = n > 8 ? sb[8] : -1, osize, at;   /* at: the end-of-file address in sb */
    if (version == 0 || version == 1)
        osize = n > 13 ? sb[13] : 0, at = (version ? 28 : 24) + 2 * osize;
    else if (version == 2 || version == 3)
        osize = n > 9 ? sb[9] : 0, at = 12 + 2 * osize;
    else
        return 0;
    if (osize != 2 && osize != 4 && osize != 8 && n >= 14)
        return 0;
    if (osize == 0 || at + osize > n)
        return data_err(err, errlen, "%s: truncated: the file (%lld bytes) ends inside the HDF5 "
                        "superblock of this MAT v7.3 file", path, (long long)size);
    uint64_t eof = le_u(sb + at, osize);
    if (eof > (uint64_t)size)
        return data_err(err, errlen, "%s: truncated: the HDF5 superblock of this MAT v7.3 file "
                        "says it ends at byte %llu, the file has %lld bytes", path,
                        (unsigned long long)eof, (long long)size);
    return 0;
}

/* A v5 file is a 128-byte header and top-level data elements (type, byte count, data); matio
 * reads a variable cut short by a truncated file as if it were whole (the rest zeros or
 * garbage). Every element must therefore end inside the file. v7.3 (HDF5): check_v73_extent. */
static int check_v5_extent(const char *path, char *err, size_t errlen)
{
    int fd;
    int64_t size;
    uint8_t h[128];
    if (data_open_regular(path, &fd, &size, err, errlen) != 0)
        return -1;
    int rc = 0;
    if (size < 128 || data_pread_full(fd, h, sizeof h, 0, path, err, errlen) != 0) {
        rc = size < 128 ? data_err(err, errlen, "%s: %lld bytes: too short for a MATLAB MAT file "
                                   "(the header alone is 128)", path, (long long)size) : -1;
    } else if ((h[126] == 'I' && h[127] == 'M') || (h[126] == 'M' && h[127] == 'I')) {
        int little = h[126] == 'I';
        int hdf5 = (little ? h[124] | h[125] << 8 : h[124] << 8 | h[125]) == 0x0200;
        if (hdf5)
            rc = check_v73_extent(fd, size, path, err, errlen);
        for (int64_t off = 128, k = 0; !hdf5 && off < size; k++) {
            uint8_t tag[8];
            if (size - off < 8) {
                rc = data_err(err, errlen, "%s: truncated: %lld stray bytes after variable %lld "
                              "(a data element needs 8)", path, (long long)(size - off), (long long)k);
                break;
            }
            if (data_pread_full(fd, tag, 8, off, path, err, errlen) != 0) {
                rc = -1;
                break;
            }
            uint32_t type = u32(tag, little), nb = u32(tag + 4, little);
            int64_t end = off + 8 + (int64_t)nb;
            if (type != 15)   /* miCOMPRESSED is not padded; the others end on 8 bytes */
                end = (end + 7) / 8 * 8;
            if (off + 8 + (int64_t)nb > size) {
                rc = data_err(err, errlen, "%s: truncated: variable %lld (byte %lld) needs %lld "
                              "bytes, the file ends %lld bytes after it starts", path, (long long)k,
                              (long long)off, (long long)(8 + (int64_t)nb), (long long)(size - off));
                break;
            }
            if (type == 14) {
                uint8_t b[1024];
                size_t n = nb < sizeof b ? nb : sizeof b;
                if ((rc = data_pread_full(fd, b, n, off + 8, path, err, errlen))
                    || (rc = check_v5_matrix(b, n, nb, little, k, off, path, err, errlen)))
                    break;
            }
            if (type == 15 && (rc = check_v5_compressed(fd, off, nb, little, k, path, err, errlen)))
                break;
            off = end;
        }
    } else {
        /* no v5 header (v7.3 has one too): matio would take the file for a v4 one, which it
         * allocates for as its first 20 bytes declare before it reads (a 160-byte file that
         * said 256 M x 2 G held it for 2-10 s; fuzz_io), to be refused after that anyway */
        rc = data_err(err, errlen, "%s: not a MATLAB MAT file (v5 or v7.3): no MAT header in its "
                      "first 128 bytes (MAT v4 files are not read: save with -v7 or -v7.3)", path);
    }
    close(fd);
    return rc;
}

static void release_var(void *owner)
{
    Mat_VarFree(owner);
}

/* The variable's values (matio allocates them with malloc), detached: Mat_VarFree then frees
 * the rest. */
static void *take_values(void **owner)
{
    matvar_t *v = *owner;
    void *d = v->data;
    v->data = NULL;
    return d;
}

int data_mat_load(const char *path, const char *var, int rank, data_raw *r, char *what,
                  size_t whatlen, char *err, size_t errlen)
{
    static int log_set;
    memset(r, 0, sizeof *r);
    if (!log_set) {
        Mat_LogInitFunc("hsirt", quiet_log);
        log_set = 1;
    }
    if (check_v5_extent(path, err, errlen))   /* a regular file (matio would block on a FIFO), whole */
        return -1;
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat)
        return data_err(err, errlen, "%s: not a MATLAB MAT file (v5 or v7.3)", path);
    char name[256];
    if (var && var[0]) {
        snprintf(name, sizeof name, "%s", var);
    } else if (pick_var(mat, path, rank, name, sizeof name, err, errlen) != 0) {
        Mat_Close(mat);
        return -1;
    }
    snprintf(what, whatlen, "%s: variable '%s'", path, name);
    matvar_t *v = Mat_VarRead(mat, name);
    if (!v) {   /* absent, or there but unreadable: matio says neither, its header tells */
        matvar_t *info = Mat_VarReadInfo(mat, name);
        Mat_Close(mat);
        if (info) {
            static const int csize[] = {0, 0, 0, 0, 0, 0, 8, 4, 1, 1, 2, 2, 4, 4, 8, 8};
            int64_t dims[8], n = 1;
            int rank = info->rank < 8 ? info->rank : 8, cs = (int)info->class_type >= 0 &&
                       (size_t)info->class_type < sizeof csize / sizeof *csize ? csize[info->class_type] : 0;
            for (int k = 0; k < rank; k++) {
                dims[k] = (int64_t)info->dims[k];
                n = dims[k] && n > INT64_MAX / 8 / dims[k] ? INT64_MAX / 8 : n * dims[k];
            }
            char sh[96];
            struct stat st;
            long long fsize = stat(path, &st) == 0 ? (long long)st.st_size : -1;
            data_shape_str(dims, rank, sh, sizeof sh);
            Mat_VarFree(info);
            return data_err(err, errlen, "%s: variable '%s' (%s) could not be read: its header "
                            "declares %lld bytes of values, the file has %lld bytes (out of memory, "
                            "or the file is corrupt)", path, name, sh, (long long)(n * cs), fsize);
        }
        char vars[1024];
        list_vars(path, vars, sizeof vars);
        return data_err(err, errlen, "%s: no variable '%s' (variables: %s)", path, name, vars);
    }
    Mat_Close(mat);
    data_type t;
    if (!numeric_class(v->class_type) || v->isComplex || map_type(v->data_type, &t) != 0
        || !v->data) {
        Mat_VarFree(v);
        return data_err(err, errlen, "%s: not a real numeric array", what);
    }
    if (v->rank < 1 || v->rank > 8) {
        Mat_VarFree(v);
        return data_err(err, errlen, "%s: unsupported rank %d", what, v->rank);
    }
    r->ndim = v->rank;
    for (int k = 0; k < v->rank; k++)
        r->dims[k] = (int64_t)v->dims[k];
    data_raw_strides(r, 1);
    r->type = t;
    r->data = v->data;
    r->owner = v;
    r->release = release_var;
    r->take = v->mem_conserve ? NULL : take_values;
    return 0;
}
