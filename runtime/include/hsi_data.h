/* hsi_data.h — scenes on disk: readers (.mat, ENVI, .npy), the dataset registry (YAML), the
 * data folder and fetching (local mirror or download, SHA-256 checked), and label remapping.
 *
 * Preprocessing (standardisation, patches, splits, augmentation, batches) is in hsi_prep.h.
 *
 * Errors: every function that can fail returns 0 on success and -1 on failure, with one
 * message in err (errlen bytes, always NUL-terminated) naming the file and the variable or key.
 * Nothing here prints or exits. Objects returned through an out-pointer are owned by the caller
 * and released with the matching *_free (which accepts a zeroed or already-freed object).
 *
 * Usage (load a registered scene, keep the Indian Pines 8-class subset):
 *
 *     char err[512];
 *     hsi_registry *reg = hsi_registry_load(NULL, err, sizeof err);   // built-in + $HSICC_DATASETS
 *     const hsi_dataset *ds = hsi_registry_find(reg, "IndianPines");
 *     hsi_scene sc;
 *     if (!reg || !ds || hsi_scene_load(ds, NULL, &sc, err, sizeof err) != 0) { fail(err); }
 *     static const int32_t keep[] = {2, 3, 5, 8, 10, 11, 12, 14};
 *     int32_t *y = malloc(sizeof *y * sc.gt.h * sc.gt.w);           // -> 0..7, others -1
 *     if (hsi_labels_remap(&sc.gt, keep, 8, y, err, sizeof err) != 0) { fail(err); }
 *     ...
 *     hsi_scene_free(&sc); hsi_registry_free(reg);
 */
#ifndef HSI_DATA_H
#define HSI_DATA_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- in-memory data ------------------------------------------------------------------------ */

/* A hyperspectral cube, BAND-MAJOR: data[(b * h + r) * w + c] is band b of the pixel at row r,
 * column c. Band-major makes a [bands, p, p] patch p*bands contiguous row copies of p floats,
 * which is the fastest gather for both 2-D ([C,H,W]) and 3-D ([1,D,H,W]) net inputs.
 * Rows and columns are those of the array as MATLAB/numpy show it (Salinas-A: h 83, w 86). */
typedef struct hsi_cube {
    int h, w, bands;
    float *data;      /* bands * h * w floats, malloc'd, owned; NULL when compact (below) */
    /* Compact (hsi_cube_compact, hsi_prep.h): a cube whose samples are 16-bit integers keeps
     * them, at half the memory, with per band the standardisation a sample gets when it is read
     * (hsi_cube_span): (float)((s - mean[b]) / std[b]) in double, as hsi_standardize_apply
     * computes it, so the values read are the float cube's bit for bit. */
    void *s16;        /* bands * h * w int16_t, or uint16_t when s16_unsigned; owned, or NULL */
    int s16_unsigned;
    double *mean, *std;   /* bands each, owned: the statistics (0 and 1: not standardised) */
} hsi_cube;

/* Whether float samples are 16-bit integers, the rule every reader and hsi_cube_compact keep
 * a cube in 16 bits by: each value fed to hsi_kind16_add (0: it is not one: a fraction, a -0,
 * out of [-32768, 65535], NaN), then hsi_kind16_end: 1 all int16, 2 all uint16 (some above
 * 32767), 0 neither. */
typedef struct hsi_kind16 { float lo, hi; } hsi_kind16;
static inline int hsi_kind16_add(hsi_kind16 *k, float v)
{
    if (!(v >= -32768.f && v <= 65535.f) || v != (float)(int32_t)v || (v == 0 && signbit(v)))
        return 0;
    if (v < k->lo) k->lo = v;
    if (v > k->hi) k->hi = v;
    return 1;
}
static inline int hsi_kind16_end(const hsi_kind16 *k)
{
    return k->hi <= 32767.f ? 1 : k->lo >= 0 ? 2 : 0;
}

/* A ground-truth map with its RAW label values (0 = unlabelled in every shipped dataset). */
typedef struct hsi_labels {
    int h, w;
    int32_t *gt;      /* h * w values, row-major: gt[r * w + c], malloc'd, owned */
} hsi_labels;

struct hsi_dataset;

/* A scene: one cube and its ground truth, same h and w (checked by the loaders). */
typedef struct hsi_scene {
    hsi_cube cube;
    hsi_labels gt;
    const struct hsi_dataset *ds;   /* the registry entry it came from (not owned), or NULL */
} hsi_scene;

/* Element types of hsi_array (the .npy reader converts any numeric dtype into one of these). */
typedef enum hsi_dtype { HSI_DT_F32 = 0, HSI_DT_I32 = 1, HSI_DT_I8 = 2 } hsi_dtype;

/* A dense C-order (row-major) n-d array, used for .npy input and output. */
typedef struct hsi_array {
    int ndim;            /* 0..8 */
    int64_t dims[8];
    hsi_dtype dtype;
    void *data;          /* prod(dims) elements of dtype, malloc'd, owned */
} hsi_array;

void hsi_cube_free(hsi_cube *c);
void hsi_labels_free(hsi_labels *l);
void hsi_scene_free(hsi_scene *s);
void hsi_array_free(hsi_array *a);

/* ---- readers ------------------------------------------------------------------------------- */
/* All readers take the file path and a variable name. The format follows the file name:
 *   *.mat      MATLAB v5 (compressed or not) or v7.3 (HDF5), via matio. var names the variable
 *              (absent from the file: an error listing the variables present); var NULL or ""
 *              picks the only 2-D (gt) or 3-D (cube) numeric variable with rows, cols > 1.
 *              Any integer class (int8..uint64), single or double. The array is
 *              (rows, cols[, bands]), as MATLAB shows it.
 *   *.hdr, or a data file next to a .hdr (x.img / x.dat / x.raw / x with x.hdr)
 *              ENVI: samples = w, lines = h, bands, data type 1,2,3,4,5,12,13,14,15,
 *              interleave bsq/bil/bip, byte order 0/1, header offset. var is ignored.
 *              Sizes are checked (no overflow, the data file holds them) before allocating;
 *              non-regular files are refused. Scenes larger than memory: hsi_envi_open and
 *              hsi_envi_read_rows in hsi_geo.h read them by rows.
 *   *.npy      numpy: cube (h, w, bands), labels (h, w); any numeric dtype, C or Fortran
 *              order, either endianness. var is ignored.
 * Label values must be integers (a float gt with 2.5 in it is an error). */
int hsi_cube_read(const char *path, const char *var, hsi_cube *out, char *err, size_t errlen);
/* As hsi_cube_read, but a cube of 8- or 16-bit integer samples (int8, uint8, logical, int16,
 * uint16), or of a wider type whose values all are such integers as floats (a MATLAB double
 * variable holding int16 data), comes in the 16-bit form (s16 set: int16, or uint16 when a
 * sample exceeds 32767, hsi_cube_compact's rule; data, mean and std NULL: the samples as they
 * are), the reader's buffer converted in place: no float copy, so the peak is about the 16-bit
 * cube (an 8-bit one's: 1.5 times; a wider one's: its own buffer). Other cubes come as floats,
 * as from hsi_cube_read. hsi_cube_widen (hsi_prep.h) makes the floats. */
int hsi_cube_read16(const char *path, const char *var, hsi_cube *out, char *err, size_t errlen);
/* 0 if every value of the cube is finite; else -1 and "<what>: N values are not finite (NaN or
 * Inf) in K band(s); band B has M, the first at row r, column c" (a NaN trains a one-class
 * model without a word: the trainer refuses it unless preprocess.nonfinite is zero). */
int hsi_cube_check_finite(const hsi_cube *c, const char *what, char *err, size_t errlen);
int hsi_labels_read(const char *path, const char *var, hsi_labels *out, char *err, size_t errlen);
/* What an ENVI header says that hsi_cube_read and hsi_labels_read do not act on (the trainer
 * does): *has_ignore and *ignore its 'data ignore value'; warn its warnings (a data file longer
 * than the header describes, a malformed ignore value; "" when none, as for a path that is not
 * ENVI: .mat, .npy). -1 with err when the header cannot be read. */
int hsi_envi_notes(const char *path, int *has_ignore, double *ignore, char *warn, size_t warnlen,
                   char *err, size_t errlen);

/* .npy: read any numeric dtype converted to `want` (F32, I32 or I8; integer targets reject
 * non-integral values and out-of-range ones), in C order whatever the file's order. */
int hsi_npy_read(const char *path, hsi_dtype want, hsi_array *out, char *err, size_t errlen);
/* .npy write (format 1.0, little-endian, C order) of a F32 / I32 / I8 array; atomic
 * (temporary file + rename). */
int hsi_npy_write(const char *path, const hsi_array *a, char *err, size_t errlen);

/* ---- registry ------------------------------------------------------------------------------ */

/* One file of a dataset. */
typedef struct hsi_dataset_file {
    char *file;          /* file name inside the dataset folder: "Indian_pines_corrected.mat" */
    char *var;           /* variable name in the .mat, or NULL: the only 2-D/3-D variable */
    char *sha256;        /* 64 lower-case hex digits, or NULL: not verified */
    int64_t size;        /* bytes, or -1: unknown */
    int n_urls;
    char **urls;         /* download locations, tried in order */
} hsi_dataset_file;

/* One class of a dataset. */
typedef struct hsi_class {
    int32_t id;          /* raw label value in the gt */
    char *name;
    uint8_t rgb[3];      /* palette colour for maps */
} hsi_class;

/* One registry entry (see runtime/data/datasets.yaml and DATA.md for the YAML form). */
typedef struct hsi_dataset {
    char *name;          /* registry key and CLI name: "IndianPines" */
    char *display;       /* "Indian Pines" */
    char *folder;        /* folder under the data directory: "IndianPines" */
    char *sensor;        /* "AVIRIS" */
    int bands;           /* band count of the cube (checked at load) */
    int h, w;            /* scene size, or 0 when not given (checked at load when given) */
    hsi_dataset_file cube, gt;
    int n_classes;
    hsi_class *classes;  /* labelled classes, in the registry's order */
    int n_ignored;
    int32_t *ignored;    /* label values that are never a class (0) */
} hsi_dataset;

/* A registry file holds at most HSI_REGISTRY_MAX datasets (each name is looked up among the
 * ones before it). */
#define HSI_REGISTRY_MAX 10000
typedef struct hsi_registry {
    int n;
    hsi_dataset *ds;
} hsi_registry;

/* The built-in registry (compiled in from runtime/data/datasets.yaml), then the user file:
 * user_path if not NULL, else $HSICC_DATASETS if set. A user entry with the name of a built-in
 * one replaces it. NULL on error (YAML syntax or a missing/mistyped key: file:line:col and the
 * key path). */
hsi_registry *hsi_registry_load(const char *user_path, char *err, size_t errlen);
/* Parse one YAML document (text of `len` bytes; `origin` names it in messages) and add its
 * entries to reg (replacing same-named ones). */
int hsi_registry_add_yaml(hsi_registry *reg, const char *text, size_t len, const char *origin,
                          char *err, size_t errlen);
const hsi_dataset *hsi_registry_find(const hsi_registry *reg, const char *name);
void hsi_registry_free(hsi_registry *reg);
/* The built-in YAML text (NUL-terminated). */
const char *hsi_registry_builtin_yaml(void);

/* ---- data folder and fetching -------------------------------------------------------------- */

typedef struct hsi_fetch_opts {
    const char *data_dir;   /* NULL: $HSICC_DATA, else "./data" */
    const char *mirror;     /* NULL: $HSICC_DATA_MIRROR, else none. <mirror>/<folder>/<file> or
                               <mirror>/<file> */
    int download;           /* 1: try the registry URLs (libcurl) when no mirror has the file */
    int verbose;            /* 1: one line per action on stderr (hsi-fetch) */
} hsi_fetch_opts;

/* The data directory that opts (or the environment) selects. */
const char *hsi_data_dir(const hsi_fetch_opts *opts);
/* Make sure <data_dir>/<folder>/{cube,gt} exist with the registered SHA-256 and size. A file
 * that is missing is copied from the mirror, else downloaded (download=1), into a temporary
 * file that is verified then renamed. A verification is cached in <file>.sha256 next to the
 * file (size, mtime, hash), so unchanged files are not hashed again. opts NULL: defaults with
 * download off. Errors: hash mismatch (file, expected, actual), missing dataset (how to fetch). */
int hsi_dataset_ensure(const hsi_dataset *ds, const hsi_fetch_opts *opts, char *err, size_t errlen);
/* Read a cube and a gt from two files (any reader format) and check they have the same h x w
 * (else: both file names and both shapes). */
int hsi_scene_read(const char *cube_path, const char *cube_var, const char *gt_path,
                   const char *gt_var, hsi_scene *out, char *err, size_t errlen);
/* ensure + hsi_scene_read + check the registry's bands and shape. */
int hsi_scene_load(const hsi_dataset *ds, const hsi_fetch_opts *opts, hsi_scene *out,
                   char *err, size_t errlen);
/* The same with the cube read by hsi_cube_read16 (the 16-bit form when its samples are). */
int hsi_scene_load16(const hsi_dataset *ds, const hsi_fetch_opts *opts, hsi_scene *out,
                     char *err, size_t errlen);

/* ---- SHA-256 ------------------------------------------------------------------------------- */
typedef struct hsi_sha256 {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t buf[64];
    size_t nbuf;
} hsi_sha256;
void hsi_sha256_init(hsi_sha256 *s);
void hsi_sha256_update(hsi_sha256 *s, const void *data, size_t n);
void hsi_sha256_final(hsi_sha256 *s, uint8_t digest[32]);
/* Hash a whole file; hex gets 64 lower-case hex digits and a NUL. */
int hsi_sha256_file(const char *path, char hex[65], char *err, size_t errlen);

/* ---- labels -------------------------------------------------------------------------------- */
/* out[i] = k if gt->gt[i] == ids[k], else -1 (unlabelled, ignored, or a class left out of the
 * experiment: those pixels stay in the cube as context). out has gt->h * gt->w elements.
 * Errors: a repeated id, or an id with no pixel in the gt (a typo in the class list). */
int hsi_labels_remap(const hsi_labels *gt, const int32_t *ids, int n_ids, int32_t *out,
                     char *err, size_t errlen);
/* The class ids of a dataset in registry order (ids[k] = ds->classes[k].id); ids has room for
 * ds->n_classes. Returns n_classes. */
int hsi_dataset_class_ids(const hsi_dataset *ds, int32_t *ids);

#ifdef __cplusplus
}
#endif
#endif /* HSI_DATA_H */
