/* hsi_prep.h — from a loaded scene to training batches: seeded PRNG, per-band standardisation,
 * patch extraction with border padding, train/val/test splits (masks), the 8 dihedral
 * augmentations, a prefetching training batcher with a resumable cursor, and an in-order
 * evaluation iterator.
 *
 * Conventions: a pixel index is r * w + c (row-major over the scene). Labels given to splits and
 * batchers are REMAPPED labels (hsi_labels_remap): 0..K-1 for a class, -1 for anything else.
 * A patch is [bands, p, p] row-major floats (p odd, centred on the pixel): the 2-D net input
 * [C=bands, H, W] and, as the same bytes, the 3-D net input [1, D=bands, H, W].
 * Randomness: xoshiro256** seeded through splitmix64 (never rand()); the same seed gives the
 * same split, permutation and augmentation on every machine and whatever the thread timing.
 * Functions that can fail return 0 / -1 with a message in err, as in hsi_data.h.
 *
 * Usage (the SSRN protocol on Indian Pines; error checks left out):
 *
 *     hsi_scene sc;  ... hsi_scene_load(ds, NULL, &sc, err, sizeof err);
 *     int32_t *y = ...;  hsi_labels_remap(&sc.gt, ids, 16, y, err, sizeof err);
 *     hsi_split sp;
 *     hsi_split_opts so = {.kind = HSI_SPLIT_SSRN, .train = 0.8, .val = 1025, .seed = 1334};
 *     hsi_split_make(y, sc.gt.h, sc.gt.w, 16, &so, &sp, err, sizeof err);
 *     hsi_standardize(&sc.cube, NULL, NULL, NULL, err, sizeof err);   // all pixels, like SSRN
 *     int32_t *tr = malloc(sizeof *tr * sp.n_train);
 *     hsi_split_indices(&sp, HSI_MASK_TRAIN, tr);
 *     hsi_batcher_opts bo = {.cube = &sc.cube, .labels = y, .index = tr, .n = sp.n_train,
 *                            .batch = 16, .patch = 7, .pad = HSI_PAD_ZERO, .seed = 1334,
 *                            .prefetch = 1};
 *     hsi_batcher *b = hsi_batcher_create(&bo, err, sizeof err);
 *     for (step = 0; step < steps; step++) {
 *         const hsi_batch *bt = hsi_batcher_next(b);     // bt->x [16,200,7,7], bt->y [16]
 *         net->forward(model, 0, bt->x, bt->n, 1, step); ...
 *     }
 *     hsi_batcher_state st; hsi_batcher_get_state(b, &st);   // into the checkpoint
 *     hsi_batcher_free(b);
 */
#ifndef HSI_PREP_H
#define HSI_PREP_H

#include <stddef.h>
#include <stdint.h>

#include "hsi_data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- PRNG ---------------------------------------------------------------------------------- */
/* xoshiro256** (Blackman & Vigna). State from the seed by four splitmix64 steps. */
typedef struct hsi_rng {
    uint64_t s[4];
} hsi_rng;
uint64_t hsi_splitmix64(uint64_t *state);           /* one splitmix64 step */
void hsi_rng_seed(hsi_rng *r, uint64_t seed);
uint64_t hsi_rng_next(hsi_rng *r);
uint64_t hsi_rng_below(hsi_rng *r, uint64_t n);     /* uniform in [0, n), unbiased; n >= 1 */
/* Fisher-Yates: for i = n-1 down to 1, swap a[i] with a[below(i+1)]. */
void hsi_shuffle_i32(hsi_rng *r, int32_t *a, int64_t n);
/* A stateless mix of two words (splitmix64 finaliser of a ^ rotated b): counter-based draws. */
uint64_t hsi_hash64(uint64_t a, uint64_t b);

/* ---- standardisation ----------------------------------------------------------------------- */
/* Per band: mean and standard deviation (population, divisor N, like sklearn.preprocessing.scale;
 * a band with std 0 gets std 1) over the pixels with use[i] != 0 (use NULL: ALL pixels of the
 * scene, labelled or not, as in the SSRN code; pass the training mask for train-only
 * statistics), then every pixel of the cube becomes (x - mean) / std. mean/std (bands floats
 * each) receive the statistics if not NULL. Sums are in double. Error: no pixel selected. */
int hsi_standardize(hsi_cube *c, const uint8_t *use, float *mean, float *std, char *err,
                    size_t errlen);
/* Apply given statistics (e.g. from a checkpoint) to every pixel. */
void hsi_standardize_apply(hsi_cube *c, const float *mean, const float *std);
/* hsi_standardize's statistics alone (the cube is left as it is; a 16-bit cube not yet
 * standardised gives those of its float cube, bit for bit). */
int hsi_standardize_stats(const hsi_cube *c, const uint8_t *use, float *mean, float *std,
                          char *err, size_t errlen);
/* One standardised value: x - mean over std (std 0 taken as 1), in double, rounded once. */
static inline float hsi_standardize_value(double x, double mean, double std)
{
    return (float)((x - mean) / std);
}
/* A float cube whose every value is an integer that 16 bits hold (int16, else uint16; no -0)
 * becomes compact (hsi_data.h): the samples kept as 16-bit integers, the floats freed, and
 * every later read standardised with mean/std (NULL: not standardised), bit for bit what
 * hsi_standardize_apply(c, mean, std) would have stored. Returns 0 when compacted, 1 when the
 * cube stays float (not such integers, already compact, or out of memory: nothing changed).
 * Only patch extraction and row reads (hsi_cube_span) know the compact form: standardise
 * again, PCA or band selection need the floats. */
int hsi_cube_compact(hsi_cube *c, const float *mean, const float *std);
/* A cube read in the 16-bit form (hsi_cube_read16: mean and std NULL) becomes compact with
 * these statistics (NULL: not standardised), as hsi_cube_compact would make it from its floats.
 * -1: not such a cube, or out of memory (nothing changed). */
int hsi_cube_compact_set(hsi_cube *c, const float *mean, const float *std);
/* Sample i (= (b * h + r) * w + c) of a float cube, or of a 16-bit one as it is held (without
 * its mean and std): the value a float cube read from the same file holds there. */
static inline float hsi_cube_sample(const hsi_cube *c, size_t i)
{
    return c->data ? c->data[i] : c->s16_unsigned ? (float)((const uint16_t *)c->s16)[i]
                                                  : (float)((const int16_t *)c->s16)[i];
}
/* A cube in the 16-bit form not standardised (hsi_cube_read16: mean and std NULL) becomes the
 * float cube of the same values, in place (the buffer reallocated to floats and converted from
 * its end: at the peak about the float cube, when realloc can grow it where it is). A float cube
 * is left as it is. -1: out of memory or a standardised compact cube (the cube unchanged). */
int hsi_cube_widen(hsi_cube *c);
/* n values of band b from pixel offset off (= r * w + c) on, as floats. */
void hsi_cube_span(const hsi_cube *c, int b, size_t off, size_t n, float *out);
/* n 16-bit samples s (int16_t, or uint16_t when uns) standardised: out[i] =
 * hsi_standardize_value(s[i], mean, std), bit for bit, on AVX-512 or AVX2 where hk_isa allows
 * (HSICC_KERNEL_ISA=avx2|generic forces a lower path). */
void hsi_standardize_s16(const void *s, int uns, size_t n, double mean, double std, float *out);
/* The same on a window: rows x cols samples, rows `stride` samples apart, into rows x cols
 * floats (a band of a patch: on AVX-512 a row a vector when cols <= 8). */
void hsi_standardize_s16_window(const void *s, int uns, size_t stride, int rows, int cols,
                                double mean, double std, float *out);

/* ---- PCA (pca.c) -------------------------------------------------------------------------- */
typedef struct hsi_pca_opts {
    int components;        /* > 0: keep this many (<= bands) */
    double variance;       /* components 0: keep the fewest whose share of the variance reaches
                              this, in (0, 1] */
    int whiten;            /* 1: each component divided by its standard deviation */
} hsi_pca_opts;
typedef struct hsi_pca {
    int bands, k;          /* input bands, components kept */
    float *mean;           /* [bands] */
    float *comp;           /* [k][bands] unit rows, decreasing variance; largest entry > 0 */
    float *scale;          /* [k] 1, or 1/sqrt(variance) when whitened */
    double *explained;     /* [k] share of the total variance (fit only; NULL when loaded) */
} hsi_pca;
/* Fits on the pixels with use[i] != 0 (use NULL: all) of the band-major cube: mean, sample
 * covariance (sums in double), its eigenvectors. Errors: more components than bands, fewer
 * than 2 pixels, out of memory. */
int hsi_pca_fit(const hsi_cube *c, const uint8_t *use, const hsi_pca_opts *o, hsi_pca *out,
                char *err, size_t errlen);
/* n pixels of band-major in (band b at in + b * stride_in) -> out (component j at out + j *
 * stride_out): y_j = scale_j * sum_b comp[j][b] (x_b - mean_b), summed in double. */
void hsi_pca_project(const hsi_pca *p, const float *in, size_t stride_in, float *out,
                     size_t stride_out, size_t n);
/* The cube replaced by its k components (error: the cube's band count is not p->bands). */
int hsi_pca_apply(const hsi_pca *p, hsi_cube *c, char *err, size_t errlen);
void hsi_pca_free(hsi_pca *p);

/* ---- patches ------------------------------------------------------------------------------- */
typedef enum hsi_pad {
    HSI_PAD_ZERO = 0,      /* outside the scene is 0 (= the band mean after standardisation) */
    HSI_PAD_REFLECT,       /* mirror without repeating the edge (numpy 'reflect'): -1 -> 1 */
    HSI_PAD_REPLICATE      /* repeat the edge pixel (numpy 'edge'): -1 -> 0 */
} hsi_pad;
/* Source index of coordinate i (any integer) on an axis of n under pad; -1 means a zero. Every
 * patch is a window of the scene padded this way (scene inference relies on it). */
int hsi_pad_index(int i, int n, hsi_pad pad);
/* "zero" | "reflect" | "replicate" -> 0, else -1. */
int hsi_pad_parse(const char *name, hsi_pad *out);
/* out[b][i][j] = cube(band b, row r - p/2 + i, col c - p/2 + j), padded as `pad` says.
 * p odd >= 1; out has bands * p * p floats. */
void hsi_patch(const hsi_cube *c, int r, int col, int p, hsi_pad pad, float *out);
/* Bands ahead whose rows an interior patch of a compact cube prefetches: a band's p rows lie a
 * plane apart (a page or more), which the hardware prefetchers do not follow. */
#define HSI_PATCH_AHEAD 8
/* hsi_patch under the dihedral transform t (hsi_dihedral): out = t(patch), tmp bands * p * p
 * floats of scratch (unused for an interior patch of a compact cube with p <= 8). */
void hsi_patch_dihedral(const hsi_cube *c, int r, int col, int p, hsi_pad pad, int t, float *out,
                        float *tmp);
/* n patches around pixel indices pix[k] (= r * w + c) into out [n, bands, p, p]. */
void hsi_patches(const hsi_cube *c, const int32_t *pix, int64_t n, int p, hsi_pad pad, float *out);

/* ---- splits -------------------------------------------------------------------------------- */
enum { HSI_MASK_UNUSED = 0, HSI_MASK_TRAIN = 1, HSI_MASK_VAL = 2, HSI_MASK_TEST = 3 };

typedef enum hsi_split_kind {
    /* Per class c with n_c labelled pixels: train_c = min(train, floor(n_c / 2)) random pixels
     * (at most half a class is used for training, so every class keeps test pixels). */
    HSI_SPLIT_COUNT = 0,
    /* Per class: train_c = round(train * n_c), at least 1 when n_c >= 2, at most n_c - 1. */
    HSI_SPLIT_FRACTION,
    /* The SSRN code's rule: per class, train_c = n_c - floor(s * n_c) with s = train (0.8 for
     * Indian Pines, 0.9 for Pavia University); validation is drawn from the pooled rest. */
    HSI_SPLIT_SSRN,
    /* Spatially disjoint: the scene is cut into block x block_w rectangles (block x block
     * squares when block_w is 0); whole blocks (in a seeded
     * random order) go to training until it holds >= train * (labelled pixels), then to
     * validation until val is reached; the remaining blocks are test. */
    HSI_SPLIT_BLOCKS
} hsi_split_kind;

typedef struct hsi_split_opts {
    hsi_split_kind kind;
    double train;         /* COUNT: pixels per class; FRACTION / BLOCKS: fraction; SSRN: s */
    double val;           /* >= 1: a pixel count; in (0, 1): that fraction of the labelled
                             pixels left after training; 0: no validation. Taken from the
                             non-training pixels, the rest is test. */
    int val_stratified;   /* 1: validation per class (proportional, largest remainder);
                             0: from the pooled rest (the SSRN code); BLOCKS ignores it */
    int block;            /* BLOCKS: block height (rows) in pixels (>= 1) */
    int block_w;          /* BLOCKS: block width (columns) in pixels; 0: block (squares) */
    uint64_t seed;
} hsi_split_opts;

typedef struct hsi_split {
    int h, w;
    int8_t *mask;                       /* h * w: HSI_MASK_*; malloc'd, owned */
    int64_t n_train, n_val, n_test;
} hsi_split;

/* y: h * w remapped labels (0..n_classes-1, -1 unlabelled: always UNUSED). Deterministic for
 * o->seed. Errors: bad options, a class with no pixel, a split leaving training empty. */
int hsi_split_make(const int32_t *y, int h, int w, int n_classes, const hsi_split_opts *o,
                   hsi_split *out, char *err, size_t errlen);
/* Pixel indices with mask == which, in raster order, into out (room for the count); returns
 * the count. out NULL: only count. */
int64_t hsi_split_indices(const hsi_split *s, int which, int32_t *out);
/* Masks as .npy int8 [h, w] (0 unused, 1 train, 2 val, 3 test), written atomically. */
int hsi_split_save(const hsi_split *s, const char *path, char *err, size_t errlen);
/* Reload and check it against the labels: same h x w, values 0..3, every train/val/test pixel
 * labelled (y >= 0). y NULL: only the shape check (against h, w). */
int hsi_split_load(const char *path, const int32_t *y, int h, int w, hsi_split *out, char *err,
                   size_t errlen);
void hsi_split_free(hsi_split *s);
/* Test pixels lying inside the p x p patch of some training pixel (Chebyshev distance <= p/2):
 * their patches share pixels with training patches. The trainer prints a warning if > 0. */
int64_t hsi_split_overlap_warning(const hsi_split *s, int p);

/* ---- augmentation -------------------------------------------------------------------------- */
/* The 8 symmetries of the square, on a [bands, p, p] patch (out must not alias in):
 *   0 identity         out[i][j] = in[i][j]
 *   1 rot90  (counter-clockwise, numpy rot90)   out[i][j] = in[j][p-1-i]
 *   2 rot180           out[i][j] = in[p-1-i][p-1-j]
 *   3 rot270           out[i][j] = in[p-1-j][i]
 *   4 flip left-right  out[i][j] = in[i][p-1-j]
 *   5 flip up-down     out[i][j] = in[p-1-i][j]
 *   6 transpose        out[i][j] = in[j][i]
 *   7 anti-transpose   out[i][j] = in[p-1-j][p-1-i]
 * Every band gets the same spatial transform. */
enum { HSI_DIHEDRAL_COUNT = 8 };
void hsi_dihedral(const float *in, float *out, int bands, int p, int t);
const char *hsi_dihedral_name(int t);

/* ---- training batcher ---------------------------------------------------------------------- */
typedef enum hsi_augment {
    HSI_AUG_NONE = 0,
    HSI_AUG_RANDOM,       /* each sample of each batch gets a random one of the 8 transforms */
    HSI_AUG_EXPAND8       /* the training set is n x 8 samples (each pixel under every
                             transform), shuffled together: an epoch is 8n samples */
} hsi_augment;

typedef struct hsi_batcher_opts {
    const hsi_cube *cube;     /* standardised; NOT copied: must outlive the batcher */
    const int32_t *labels;    /* h * w remapped labels; y of a sample = labels[pixel]; not copied */
    const int32_t *index;     /* n pixel indices of the training set (copied) */
    int64_t n;                /* >= 1 */
    int batch;                /* B >= 1 */
    int patch;                /* p, odd */
    hsi_pad pad;
    hsi_augment augment;
    uint64_t seed;
    int prefetch;             /* 1: a thread prepares the next batch while the caller works;
                                 0: batches made in hsi_batcher_next, the patches on OpenMP's
                                 threads; -1: 1 when the CPUs outnumber OpenMP's threads, else 0
                                 (HSICC_BATCH_PREFETCH=0|1 decides instead). Same batches in
                                 every case. */
    /* A per-pixel loss: label_patch L >= 1 (odd, <= patch) adds to each sample the L x L window
     * of window_labels (h * w; -1 outside the scene) centred on its pixel, transformed like its
     * patch (hsi_batch.yw). Pass labels of training pixels only: others must be -1. */
    int label_patch;
    const int32_t *window_labels;
} hsi_batcher_opts;

/* One batch. Valid until the next hsi_batcher_next / hsi_evaliter_next on the same object. */
typedef struct hsi_batch {
    const float *x;           /* [n, bands, p, p] */
    const int32_t *y;         /* [n] labels (-1 if the iterator has no labels) */
    const int32_t *pix;       /* [n] pixel index of each sample */
    int n;                    /* training: always B; evaluation: B, the last one 1..B */
    const int32_t *yw;        /* [n, L, L] label windows (batcher with label_patch L), else NULL */
} hsi_batch;

/* The batcher's cursor: a small POD saved in checkpoints. The sample stream is a pure function
 * of (seed, n, augment) — epoch e is a permutation of the n (or 8n) samples drawn from an RNG
 * seeded with hash64(seed, e); the transform of slot k of batch `step` is hash64(seed', step*B+k)
 * mod 8 — so restoring a state reproduces the following batches bit for bit. */
typedef struct hsi_batcher_state {
    uint64_t seed;            /* as created (set_state checks it) */
    uint64_t epoch;           /* epoch of the next sample */
    uint64_t pos;             /* position of the next sample in that epoch's permutation */
    uint64_t step;            /* batches handed out so far */
} hsi_batcher_state;

typedef struct hsi_batcher hsi_batcher;

/* Full batches always: an epoch's last partial batch is topped up with the first samples of
 * the next epoch's permutation, so every batch has exactly B samples and every sample appears
 * once per epoch. NULL on error (bad options, out of memory, thread creation). */
hsi_batcher *hsi_batcher_create(const hsi_batcher_opts *o, char *err, size_t errlen);
const hsi_batch *hsi_batcher_next(hsi_batcher *b);
/* State after the batches handed out so far (what to save with a checkpoint). */
void hsi_batcher_get_state(const hsi_batcher *b, hsi_batcher_state *out);
/* Continue from a saved state (discards prefetched work). Error: a different seed. */
int hsi_batcher_set_state(hsi_batcher *b, const hsi_batcher_state *s, char *err, size_t errlen);
/* 1 when a thread of its own makes the batches (prefetch 1, or -1 decided so), 0 when
 * hsi_batcher_next makes them. */
int hsi_batcher_prefetching(const hsi_batcher *b);
/* Samples per epoch: n, or 8n with HSI_AUG_EXPAND8. */
int64_t hsi_batcher_epoch_size(const hsi_batcher *b);
void hsi_batcher_free(hsi_batcher *b);

/* ---- evaluation iterator ------------------------------------------------------------------- */
/* In order over index[0..n-1], no augmentation, no thread; the last batch has 1..B samples. */
typedef struct hsi_evaliter {
    const hsi_cube *cube;
    const int32_t *labels;    /* may be NULL: y = -1 */
    const int32_t *index;     /* not copied */
    int64_t n, pos;
    int batch, patch;
    hsi_pad pad;
    float *x;                 /* [batch, bands, p, p], owned */
    int32_t *y;               /* [batch], owned */
    hsi_batch cur;
} hsi_evaliter;
int hsi_evaliter_init(hsi_evaliter *it, const hsi_cube *cube, const int32_t *labels,
                      const int32_t *index, int64_t n, int batch, int patch, hsi_pad pad,
                      char *err, size_t errlen);
/* Next batch, or NULL at the end. */
const hsi_batch *hsi_evaliter_next(hsi_evaliter *it);
void hsi_evaliter_free(hsi_evaliter *it);

#ifdef __cplusplus
}
#endif
#endif /* HSI_PREP_H */
