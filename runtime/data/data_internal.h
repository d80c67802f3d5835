/* data_internal.h — what the readers of runtime/data share: a view of an n-d array as it lies
 * in a file buffer (element type, byte order, strides), converted once into hsi_cube,
 * hsi_labels or hsi_array by raw.c. Private to libhsirt; not installed. */
#ifndef HSI_DATA_INTERNAL_H
#define HSI_DATA_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "hsi_data.h"
#include "hsi_io.h"

/* Element types as they appear in files. */
typedef enum data_type {
    DATA_I8, DATA_U8, DATA_I16, DATA_U16, DATA_I32, DATA_U32, DATA_I64, DATA_U64,
    DATA_F32, DATA_F64, DATA_BOOL
} data_type;

/* The cases of a switch over data_type, one per C element type (logical reads as uint8):
 * switch (t) { DATA_TYPE_CASES(BODY) }, where BODY(T) handles elements of type T and ends
 * with break. */
#define DATA_TYPE_CASES(BODY)                                                              \
    case DATA_I8: BODY(int8_t);                                                            \
    case DATA_U8: case DATA_BOOL: BODY(uint8_t);                                           \
    case DATA_I16: BODY(int16_t);                                                          \
    case DATA_U16: BODY(uint16_t);                                                         \
    case DATA_I32: BODY(int32_t);                                                          \
    case DATA_U32: BODY(uint32_t);                                                         \
    case DATA_I64: BODY(int64_t);                                                          \
    case DATA_U64: BODY(uint64_t);                                                         \
    case DATA_F32: BODY(float);                                                            \
    case DATA_F64: BODY(double);

/* An n-d array in memory: element (i0, i1, ...) lies at data + elem * sum(ik * stride[k]).
 * Axes are logical: (rows, cols, bands) for a cube, (rows, cols) for a gt. */
typedef struct data_raw {
    int ndim;
    int64_t dims[8];
    int64_t stride[8];     /* in elements */
    data_type type;
    int swap;              /* 1: bytes are in the other endianness than this machine's */
    const void *data;
    void *owner;           /* what holds data: freed by release(owner) (data_raw_release) */
    void (*release)(void *owner);
    /* NULL, or: detaches the malloc'd block that holds data (data at or after its start) from
     * *owner and returns it (the caller frees it); *owner may become NULL. release(owner) then
     * frees the rest. data_raw_to_cube16 converts such a block in place. */
    void *(*take)(void **owner);
} data_raw;

/* The take of a reader whose owner is the malloc'd block itself (ENVI, .npy). */
void *data_take_block(void **owner);

/* Writes a message into err (NUL-terminated, truncated to errlen); returns -1. */
int data_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
size_t data_type_size(data_type t);
const char *data_type_name(data_type t);
/* Sets C-order (last axis fastest) or Fortran-order strides from dims. */
void data_raw_strides(data_raw *r, int fortran);
/* "83 x 86 x 204" into buf. */
const char *data_shape_str(const int64_t *dims, int ndim, char *buf, size_t n);

/* what names the origin in messages, e.g. "x.mat: variable 'gt'". */
int data_raw_to_cube(const data_raw *r, const char *what, hsi_cube *out, char *err, size_t errlen);
/* A cube of 8- or 16-bit integer samples (int8, uint8, logical, int16, uint16), or of a wider
 * type whose every value is one as a float (MATLAB's double class holding int16 data), into
 * the 16-bit band-major form (hsi_cube.s16; data, mean and std NULL: not standardised): int16,
 * or uint16 when a sample exceeds 32767 (hsi_cube_compact's rule). With r->take the reader's
 * buffer becomes the cube (narrowed, byte-swapped, widened, transposed in place: one plane or a
 * bitmap of one bit per sample beside it), else an 8/16-bit one is copied. Returns 1 (nothing
 * done) for other types and values; the shape errors are data_raw_to_cube's. r stays to be
 * released either way. */
int data_raw_to_cube16(data_raw *r, const char *what, hsi_cube *out, char *err, size_t errlen);
int data_raw_to_labels(const data_raw *r, const char *what, hsi_labels *out, char *err, size_t errlen);
int data_raw_to_array(const data_raw *r, const char *what, hsi_dtype want, hsi_array *out,
                      char *err, size_t errlen);

void data_raw_release(data_raw *r);

/* Readers: fill *r; the caller calls data_raw_release(r). what gets the origin for messages.
 * rank: the wanted rank (2 gt, 3 cube) for the .mat auto-pick and its message; 0 = any. */
int data_mat_load(const char *path, const char *var, int rank, data_raw *r, char *what,
                  size_t whatlen, char *err, size_t errlen);
int data_envi_load(const char *path, data_raw *r, char *err, size_t errlen);
int data_npy_load(const char *path, data_raw *r, char *err, size_t errlen);

/* ---- ENVI headers (envi_hdr.c), shared by envi.c (whole cube) and envi_stream.c (rows) ---- */

/* An ENVI header, parsed and checked against its data file. */
typedef struct envi_hdr {
    char hdr_path[4096], dat_path[4096];
    int64_t samples, lines, bands;   /* w, h, bands: each in 1..INT32_MAX */
    int64_t offset;                  /* 'header offset': bytes before the data */
    int64_t data_bytes;              /* samples * lines * bands * es (checked for overflow) */
    int envi_type;                   /* 'data type' as written: 1,2,3,4,5,12,13,14,15 */
    int envi_type_line;              /* the header line it is on */
    data_type type;                  /* the same as a data_type */
    size_t es;                       /* bytes per element */
    int byte_order;                  /* 'byte order': 0 little-endian, 1 big-endian */
    int swap;                        /* 1: byte_order differs from this machine's */
    char interleave[4];              /* "bsq", "bil" or "bip" */
    int has_ignore;                  /* 1: 'data ignore value' given, in ignore */
    double ignore;
    char *map_info, *cs_string;      /* {}-list values without the braces, malloc'd, or NULL */
    char warn[1024];                 /* a key skipped because it was malformed; a data file
                                        longer than the header says; or "" */
} envi_hdr;

/* path: the .hdr or the data file (the other is looked for beside it). Parses the header and
 * checks sizes (no overflow; the data file is a regular file holding offset + data_bytes);
 * *fd gets the data file, open read-only. On error nothing is left open or allocated. */
int envi_hdr_open(const char *path, envi_hdr *h, int *fd, char *err, size_t errlen);
void envi_hdr_free(envi_hdr *h);

/* Opens path read-only without blocking (a FIFO or a device is refused, not waited on) and
 * checks it is a regular file; *size gets its length. */
int data_open_regular(const char *path, int *fd, int64_t *size, char *err, size_t errlen);
/* Reads exactly n bytes at offset off (retries short reads and EINTR). */
int data_pread_full(int fd, void *buf, size_t n, int64_t off, const char *path, char *err,
                    size_t errlen);

/* Whole-file read (malloc'd, *len bytes, NUL appended). */
int data_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);
/* Atomic write through hsi_atomic_open/commit (temp file beside it, then rename). */
int data_write_atomic(const char *path, const void *a, size_t na, const void *b, size_t nb,
                      char *err, size_t errlen);

#endif /* HSI_DATA_INTERNAL_H */
