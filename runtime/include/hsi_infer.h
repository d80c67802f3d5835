/* hsi_infer.h — whole-scene inference: every pixel of an h x w scene classified by a trained
 * net, running the scene program the compiler derived (hsi_scene_prog in hsi.h).
 *
 * The scene is read by row callbacks and processed in row tiles of `tile rows` output rows:
 *  - PIXEL ops run over blocks of rows of the padded scene ([1, C, (D,) rows, w + p - 1]),
 *    each padded row exactly once; what later ops read is kept for the tile and its halo
 *    (tile rows + p - 1 rows), so peak memory is bounded by the tile, not the scene;
 *  - WINDOW ops run over the tile with its halo (valid, stride-1 windows: no patches);
 *  - PATCH ops run per pixel on crops of those maps, in batches.
 * BN layers are folded into the conv/dense before them once, at create. Padding is exact: the
 * scene is padded as the patches are (hsi_pad_index), and the PIXEL ops run on the pad pixels.
 * With force_patch (or a net without a scene program) every pixel runs through the patch net:
 * the reference the scene program is tested against.
 *
 * Usage:
 *     hsi_infer_opts so = {.backend = HSI_BACKEND_DNNL, .pad = HSI_PAD_ZERO};
 *     hsi_infer *sc = hsi_infer_create(net, model, domain, h, w, &so, err, sizeof err);
 *     hsi_infer_run(sc, read_rows, &cube, take_logits, &out, err, sizeof err);
 *     hsi_infer_free(sc);
 */
#ifndef HSI_INFER_H
#define HSI_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "hsi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows r0 .. r0 + n - 1 of the scene (0 <= r0, r0 + n <= h), band-major like hsi_cube:
 * dst[(b * n + i) * w + c]. Returns 0, or -1 with a message in err. */
typedef int (*hsi_rows_fn)(void *ctx, int r0, int n, float *dst, char *err, size_t errlen);
/* The hsi_rows_fn of a scene in memory: ctx is a const hsi_cube * (hsi_data.h). */
int hsi_cube_rows(void *cube, int r0, int n, float *dst, char *err, size_t errlen);
/* Logits of rows r0 .. r0 + n - 1: z[(i * w + c) * k + j] for class j. Returns 0 or -1. */
typedef int (*hsi_logits_fn)(void *ctx, int r0, int n, const float *z, char *err, size_t errlen);

typedef struct hsi_infer_opts {
    hsi_backend backend;
    int pad;            /* hsi_pad of the patches the net was trained on */
    int batch;          /* pixels per PATCH batch; 0: 128 */
    int tile_pixels;    /* about this many pixels per row block; 0: 1024, fewer when the row
                           buffers would exceed HSI_INFER_BUDGET bytes */
    int force_patch;    /* 1: every pixel through the patch net's own forward (the reference
                           path of the tests); batch must then not exceed the model's batch */
    const char *name;   /* the scene (a file) in create's messages, or NULL */
} hsi_infer_opts;

typedef struct hsi_infer hsi_infer;

/* Bytes the row buffers of the default tile may take (pixel and window regions together). */
#define HSI_INFER_BUDGET ((size_t)24 << 20)

/* The model's current weights are read (and BN folded) here: create again after they change.
 * Buffers the process cannot take (hsi_io.h's hsi_mem_check: an h, w or batch past memory) are
 * refused before they are allocated: NULL, and err names the scene, its tile and batch and the
 * bytes. */
hsi_infer *hsi_infer_create(const hsi_netdesc *net, hsi_model *m, int domain, int h, int w,
                            const hsi_infer_opts *o, char *err, size_t errlen);
int hsi_infer_run(hsi_infer *s, hsi_rows_fn rows, void *rows_ctx, hsi_logits_fn sink,
                  void *sink_ctx, char *err, size_t errlen);
void hsi_infer_free(hsi_infer *s);

/* A part of a scene for one of several processes (MPI ranks): rows [b0, b1) are classified by
 * part `part` of `parts` (consecutive, as even as can be), rows [e0, e1) are read: b0 - halo ..
 * b1 + halo where the scene goes on, so that with halo >= patch - 1 every classified pixel sees
 * the same scene as in one pass. */
typedef struct hsi_band { int b0, b1, e0, e1; } hsi_band;
hsi_band hsi_infer_band(int h, int halo, int part, int parts);
/* hsi_infer_run on a program created for e1 - e0 rows: rows and sink see scene rows, and sink
 * only rows [b0, b1). */
int hsi_infer_run_band(hsi_infer *s, const hsi_band *b, hsi_rows_fn rows, void *rows_ctx,
                       hsi_logits_fn sink, void *sink_ctx, char *err, size_t errlen);

/* The same program run per patch (every op in the PATCH region): the net on given patches
 * [n, input dims...] (as the trainer's `forward` takes them), logits [n, classes]. BN folded
 * once, inference-only buffers, batches of o->batch. */
hsi_infer *hsi_infer_patches_create(const hsi_netdesc *net, hsi_model *m, int domain,
                                    const hsi_infer_opts *o, char *err, size_t errlen);
int hsi_infer_patches(hsi_infer *s, const float *x, int64_t n, float *logits, char *err,
                      size_t errlen);

/* What create chose: rows per tile, the program kind (hsi_scene_kind, or -1 for the patch
 * net itself), bytes of buffers it holds. */
int hsi_infer_tile_rows(const hsi_infer *s);
int hsi_infer_kind(const hsi_infer *s);
size_t hsi_infer_bytes(const hsi_infer *s);

/* ---- a scene on disk to maps on disk (eval/predict_scene.c) ------------------------------- */
#define HSI_PREDICT_MAX_CLASSES 256

typedef struct hsi_predict_opts {
    hsi_backend backend;
    int pad;                          /* hsi_pad of training */
    int standardize;                  /* 1: per band with the scene's own statistics (valid
                                         pixels), as `standardize: all` did in training; 0: as is */
    const char *const *class_names;   /* k names, or NULL */
    const uint8_t *palette;           /* k RGB triples, or NULL */
    int geotiff, envi, prob, confidence, png, npy;   /* which outputs */
    int progress;                     /* a progress line with ETA on stderr when it is a TTY */
    int tile_pixels;                  /* 0: the default */
    /* several MPI ranks (hsi_trainer.h's hsi_comm; NULL: one process): each classifies a band
     * of rows (hsi_infer_band), rank 0 gathers them and writes every file; with prob or
     * confidence each rank holds h * w * k floats */
    const struct hsi_comm *comm;
    /* preprocess.pca of training (hsi_prep.h), or NULL: the cube has pca->bands bands, and each
     * row is standardised as above, then projected onto the pca->k components the net takes */
    const struct hsi_pca *pca;
} hsi_predict_opts;

typedef struct hsi_predict_summary {
    int h, w, bands, kind, tile_rows;
    int64_t pixels, nodata;
    size_t bytes;                     /* buffers of the scene program */
    int64_t count[HSI_PREDICT_MAX_CLASSES];   /* pixels per class (nodata excluded) */
    double seconds;
} hsi_predict_summary;

/* Classifies every pixel of the ENVI cube `cube` (any interleave and type, read by rows) with
 * domain `domain` of the model, into out_dir (which exists): map.tif (class + 1, 0 nodata, colour
 * table, names) and map.envi/.hdr (ENVI classification) with the cube's georeference, optional
 * prob.tif / confidence.tif, pred.npy (int32 [h, w], -1 nodata) and map_pred.png. Every file
 * appears whole or not at all. The cube must have the net's band count, or the PCA's input band
 * count with o->pca (the error names both). */
int hsi_predict_scene(const hsi_netdesc *net, hsi_model *m, int domain, const char *cube,
                      const char *out_dir, const hsi_predict_opts *o, hsi_predict_summary *sum,
                      char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* HSI_INFER_H */
