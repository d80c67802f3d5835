/* envi.c — ENVI raster reader, whole cube: the header is parsed and checked by envi_hdr.c (sizes
 * against overflow and the data file), the data bytes are read into one buffer and viewed as
 * (lines, samples, bands) for raw.c; the header's ignore value and warnings are given by
 * hsi_envi_notes, for the trainer to act on. Scenes too large for memory are read by rows with
 * hsi_envi_open (envi_stream.c). It does not read complex types (6, 9) and does not write ENVI. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "data_internal.h"

static void release_buf(void *owner)
{
    free(owner);
}

int data_envi_load(const char *path, data_raw *r, char *err, size_t errlen)
{
    envi_hdr h;
    int fd;
    memset(r, 0, sizeof *r);
    if (envi_hdr_open(path, &h, &fd, err, errlen) != 0)
        return -1;
    envi_hdr_free(&h);   /* the georeference strings are not needed here */
    /* data_bytes fits in the (regular) data file, so it is a size this machine can address; the
     * file's bytes and the cube they become (16-bit for 8/16-bit samples at least, else float)
     * must fit in memory too: a header whose lines x samples x bands a sparse or huge file
     * matches was read whole (minutes of I/O) before the cube's allocation failed, or the OOM
     * killer ended the run */
    int64_t need = h.lines;
    hsi_mem_mul(&need, h.samples), hsi_mem_mul(&need, h.bands), hsi_mem_mul(&need, h.es <= 2 ? 2 : 4);
    hsi_mem_add(&need, h.data_bytes);
    char what[4400];
    snprintf(what, sizeof what, "%s: %lld lines x %lld samples x %lld bands of %s: the data and the "
             "cube it becomes", h.hdr_path, (long long)h.lines, (long long)h.samples,
             (long long)h.bands, data_type_name(h.type));
    if (hsi_mem_check(need, 0, what, err, errlen)) {
        close(fd);
        return -1;
    }
    void *buf = malloc(h.data_bytes > 0 ? (size_t)h.data_bytes : 1);
    if (!buf) {
        close(fd);
        return data_err(err, errlen, "%s: out of memory for %lld bytes of data", h.dat_path,
                        (long long)h.data_bytes);
    }
    int rc = data_pread_full(fd, buf, (size_t)h.data_bytes, h.offset, h.dat_path, err, errlen);
    close(fd);
    if (rc != 0) {
        free(buf);
        return -1;
    }
    r->type = h.type;
    r->swap = h.swap;
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
    r->data = buf;
    r->owner = buf;
    r->release = release_buf;
    r->take = data_take_block;
    return 0;
}

int hsi_envi_notes(const char *path, int *has_ignore, double *ignore, char *warn, size_t warnlen,
                   char *err, size_t errlen)
{
    size_t n = strlen(path);
    *has_ignore = 0;
    *ignore = 0;
    if (warn && warnlen)
        warn[0] = 0;
    if (n >= 4 && (strcasecmp(path + n - 4, ".mat") == 0 || strcasecmp(path + n - 4, ".npy") == 0))
        return 0;   /* the readers' own dispatch (raw.c): only the rest is ENVI */
    envi_hdr h;
    int fd;
    if (envi_hdr_open(path, &h, &fd, err, errlen) != 0)
        return -1;
    close(fd);
    envi_hdr_free(&h);
    *has_ignore = h.has_ignore;
    *ignore = h.ignore;
    if (warn && warnlen)
        snprintf(warn, warnlen, "%s", h.warn);
    return 0;
}
