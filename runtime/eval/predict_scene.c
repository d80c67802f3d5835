/* predict_scene.c — a whole scene from disk to GIS maps: an ENVI cube read by rows (never whole),
 * standardised per band with its own statistics (valid pixels only), projected onto the PCA of
 * training when there was one (preprocess.pca), classified by the compiled
 * scene program in row tiles, written as it goes (class-map GeoTIFF and ENVI classification with
 * the input's georeference, optional probabilities and confidence), then pred.npy and a PNG
 * beside them in the writer's temporary folder, all renamed into place together.
 * Nodata pixels (the header's `data ignore value`, NaN, Inf in any band) are classified as 0
 * (the band mean) so they do not disturb their neighbours' patches, and written as nodata.
 * Peak memory: the tile's buffers, one row of the cube, h * w labels and bytes.
 * Under MPI (o->comm) each rank classifies a band of rows into its copy of the maps, the copies
 * are merged (a max over the labels, a sum over the probabilities) and rank 0 writes them all.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hsi_data.h"
#include "hsi_eval.h"
#include "hsi_geo.h"
#include "hsi_infer.h"
#include "hsi_io.h"
#include "hsi_prep.h"
#include "hsi_trainer.h"

typedef struct pctx {
    hsi_envi_stream *in;
    int h, w, bands, k;
    float *mean, *inv;          /* standardisation, or NULL */
    const hsi_pca *pca;         /* preprocess.pca, or NULL */
    float *row;                 /* with pca: one row of the cube [bands, w] */
    uint8_t *nodata;            /* [h * w] */
    uint8_t *row_nd;            /* [w] */
    int32_t *pred;              /* [h * w] */
    float *prob;                /* [tile rows * w * k] for the writer (several ranks: [h * w * k]),
                                   or NULL */
    int whole;                  /* 1: prob holds the whole scene (several ranks) */
    int tile_rows;
    hsi_mapwriter *mw;
    int64_t *count;             /* [k] pixels per class */
    int64_t nonfinite;          /* pixels whose logits were NaN or Inf: written as nodata */
    int64_t first_nonfinite;    /* the first of them (row * w + col) */
    int tty;
    double t0, last;
} pctx;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The scene program reads one row at a time: dst [bands, w]. */
static int rows_in(void *ctx, int r, int n, float *dst, char *err, size_t errlen)
{
    pctx *c = ctx;
    if (n != 1) return snprintf(err, errlen, "predict: rows are read one at a time"), -1;
    float *row = c->pca ? c->row : dst;
    if (hsi_envi_read_rows(c->in, r, 1, row, c->row_nd, err, errlen)) return -1;
    memcpy(c->nodata + (size_t)r * c->w, c->row_nd, (size_t)c->w);
    for (int b = 0; b < c->bands; b++) {
        float *x = row + (size_t)b * c->w;
        for (int col = 0; col < c->w; col++) {
            if (c->row_nd[col]) x[col] = 0.0f;
            else if (c->mean) x[col] = (x[col] - c->mean[b]) * c->inv[b];
        }
    }
    if (!c->pca) return 0;
    hsi_pca_project(c->pca, row, (size_t)c->w, dst, (size_t)c->w, (size_t)c->w);
    for (int j = 0; j < c->pca->k; j++)   /* nodata: the components' mean, as bands get theirs */
        for (int col = 0; col < c->w; col++)
            if (c->row_nd[col]) dst[(size_t)j * c->w + col] = 0.0f;
    return 0;
}

static int logits_out(void *ctx, int r0, int n, const float *z, char *err, size_t errlen)
{
    pctx *c = ctx;
    int k = c->k;
    for (int64_t i = 0; i < (int64_t)n * c->w; i++) {
        const float *zi = z + i * k;
        int64_t px = (int64_t)r0 * c->w + i;
        int best = hsi_argmax(zi, k), finite = 1;
        for (int j = 0; j < k; j++) finite &= isfinite(zi[j]) != 0;
        if (!finite && !c->nodata[px] && c->nonfinite++ == 0) c->first_nonfinite = px;
        /* NaN or Inf logits (values too large for the net: an unstandardised cube, an undeclared
         * nodata value like -3.4e38) have no class and no probabilities: nodata, not class 0 */
        c->pred[px] = c->nodata[px] || !finite ? -1 : best;
        if (c->pred[px] >= 0) c->count[best]++;
        if (c->prob && !finite) {
            float *p = c->prob + (c->whole ? px : i) * k;
            for (int j = 0; j < k; j++) p[j] = 0.0f;   /* -1 in the files: the pixel is nodata */
        } else if (c->prob) {   /* softmax */
            float *p = c->prob + (c->whole ? px : i) * k;
            double s = 0;
            for (int j = 0; j < k; j++) s += p[j] = (float)exp((double)zi[j] - zi[best]);
            for (int j = 0; j < k; j++) p[j] = (float)(p[j] / s);
        }
    }
    if (c->mw && hsi_mapwriter_rows(c->mw, r0, n, c->pred + (size_t)r0 * c->w, c->prob, err, errlen))
        return -1;
    double t = now();
    if (c->tty && (t - c->last > 0.2 || r0 + n == c->h)) {
        double done = (double)(r0 + n) / c->h, el = t - c->t0;
        fprintf(stderr, "\rpredict: row %d/%d  %.0f pixels/s  ETA %.0f s   ", r0 + n, c->h,
                (double)(r0 + n) * c->w / (el > 0 ? el : 1e-9), el / (done > 0 ? done : 1) - el);
        if (r0 + n == c->h) fputc('\n', stderr);
        fflush(stderr);
        c->last = t;
    }
    return 0;
}

/* The files predict --scene may write in its folder, and whether these options write them */
typedef struct pred_out { const char *name; int on; } pred_out;
#define PRED_OUTS 7
static void pred_outs(const hsi_predict_opts *o, pred_out *outs)
{
    const pred_out all[PRED_OUTS] = {
        {"map.tif", o->geotiff}, {"map.envi", o->envi}, {"map.hdr", o->envi},
        {"prob.tif", o->prob}, {"confidence.tif", o->confidence}, {"pred.npy", o->npy},
        {"map_pred.png", o->png},
    };
    memcpy(outs, all, sizeof all);
}

/* An output that is the scene's own header or data file (predict --scene DIR/map.hdr --out
 * DIR): its rename would replace the input, which is then lost. -1 with the message. */
static int outputs_spare_input(const hsi_envi_stream *in, const char *out_dir,
                               const hsi_predict_opts *o, char *err, size_t errlen)
{
    struct stat si[2];
    for (int k = 0; k < 2; k++)
        if (stat(hsi_envi_path(in, k), &si[k]) != 0) si[k].st_ino = 0;
    pred_out outs[PRED_OUTS];
    pred_outs(o, outs);
    for (size_t i = 0; i < PRED_OUTS; i++) {
        char path[4300];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", out_dir, outs[i].name);
        if (!outs[i].on || stat(path, &st) != 0) continue;
        for (int k = 0; k < 2; k++)
            if (si[k].st_ino && st.st_dev == si[k].st_dev && st.st_ino == si[k].st_ino) {
                snprintf(err, errlen, "%s is the scene's %s (%s): writing it would replace the "
                         "input; give another --out", path, k ? "data file" : "header",
                         hsi_envi_path(in, k));
                return -1;
            }
    }
    return 0;
}

/* A message that starts with "TMP/" (a file in the map writer's temporary folder) names the
 * file in DIR instead: that is the name the user will look for. */
static void final_name(char *err, size_t errlen, const char *tmp, const char *dir)
{
    size_t n = strlen(tmp);
    if (strncmp(err, tmp, n) != 0 || err[n] != '/') return;
    char rest[2048];
    snprintf(rest, sizeof rest, "%s", err + n);
    snprintf(err, errlen, "%s%s", dir, rest);
}

int hsi_predict_scene(const hsi_netdesc *net, hsi_model *m, int domain, const char *cube,
                      const char *out_dir, const hsi_predict_opts *o, hsi_predict_summary *sum,
                      char *err, size_t errlen)
{
    const hsi_domain *dm = &net->domains[domain];
    const hsi_comm *comm = o->comm && o->comm->size > 1 ? o->comm : NULL;
    pctx c;
    memset(&c, 0, sizeof c);
    memset(sum, 0, sizeof *sum);
    hsi_infer *inf = NULL;
    int rc = -1;
    double t0 = now();
    if (!(c.in = hsi_envi_open(cube, err, errlen))) return -1;
    hsi_envi_dims(c.in, &c.h, &c.w, &c.bands);
    c.k = dm->classes;
    c.pca = o->pca;
    int want = c.pca ? c.pca->bands : dm->bands;
    if (c.bands != want) {
        snprintf(err, errlen, "%s: the cube has %d bands, the net%s%s%s expects %d%s: give a cube "
                 "with the bands it was trained on", cube, c.bands, dm->name[0] ? " (domain '" : "",
                 dm->name, dm->name[0] ? "')" : "", want,
                 c.pca ? " (projected onto its PCA's components)" : "");
        goto done;
    }
    if (c.pca && c.pca->k != dm->bands) {
        snprintf(err, errlen, "predict: the PCA keeps %d components, the net takes %d bands",
                 c.pca->k, dm->bands);
        goto done;
    }
    if (outputs_spare_input(c.in, out_dir, o, err, errlen)) goto done;
    if (hsi_envi_warning(c.in)[0])   /* each warning says what it costs the outputs */
        fprintf(stderr, "warning: %s: %s\n", cube, hsi_envi_warning(c.in));
    size_t npx = (size_t)c.h * (size_t)c.w;
    {   /* the class map and the nodata mask are whole-scene (pred.npy, the PNG and the MPI
         * merge need the map), as are the probabilities with several ranks: a header's lines x
         * samples past memory was "out of memory" naming neither, or an allocation the kernel
         * overcommitted and the OOM killer ended after the statistics pass */
        int64_t need = (int64_t)npx, per = 1 + (int64_t)sizeof *c.pred;
        if (comm && (o->prob || o->confidence)) per += (int64_t)sizeof(float) * c.k;
        hsi_mem_mul(&need, per);
        char what[1400];
        snprintf(what, sizeof what, "%s: a %d x %d scene (lines x samples): its class map and "
                 "nodata mask%s, %lld bytes a pixel", hsi_envi_path(c.in, 0), c.h, c.w,
                 per > 5 ? " and the class probabilities of every rank" : "", (long long)per);
        if (hsi_mem_check(need, 0, what, err, errlen)) goto done;
    }
    c.nodata = calloc(npx ? npx : 1, 1);
    c.row_nd = calloc((size_t)c.w, 1);
    c.pred = malloc(sizeof *c.pred * (npx ? npx : 1));
    c.count = calloc((size_t)c.k, sizeof *c.count);
    c.row = c.pca ? malloc(sizeof *c.row * (size_t)c.bands * (size_t)c.w) : NULL;
    if (!c.nodata || !c.row_nd || !c.pred || !c.count || (c.pca && !c.row)) {
        snprintf(err, errlen, "predict: out of memory for a %d x %d scene", c.h, c.w);
        goto done;
    }
    if (o->standardize) {
        double *mean = malloc(sizeof *mean * (size_t)c.bands), *sd = malloc(sizeof *sd * (size_t)c.bands);
        int64_t nv, nn;
        c.mean = malloc(sizeof *c.mean * (size_t)c.bands);
        c.inv = malloc(sizeof *c.inv * (size_t)c.bands);
        int bad = !mean || !sd || !c.mean || !c.inv ||
                  hsi_envi_band_stats(c.in, mean, sd, &nv, &nn, err, errlen);
        for (int b = 0; !bad && b < c.bands; b++) {
            c.mean[b] = (float)mean[b];
            c.inv[b] = (float)(1.0 / sd[b]);
        }
        free(mean), free(sd);
        if (bad) {
            if (!err[0]) snprintf(err, errlen, "predict: out of memory");
            goto done;
        }
        double fv;
        int fr, fc;
        int64_t fn = hsi_envi_fill_pixels(c.in, &fv, &fr, &fc);
        if (fn > 0)   /* classified as data and in the statistics: said, with the remedy */
            fprintf(stderr, "warning: %s: %lld pixel(s) hold %.9g in every band, the extreme of "
                    "every band (the first at row %d, column %d): a fill value the header does "
                    "not declare? They are classified and enter the band statistics; if they "
                    "are no data, add 'data ignore value = %.9g' to the header\n", cube,
                    (long long)fn, fv, fr, fc, fv);
    }
    hsi_infer_opts io = {o->backend, o->pad, 0, o->tile_pixels, 0, hsi_envi_path(c.in, 0)};
    hsi_band band = hsi_infer_band(c.h, dm->patch - 1, comm ? comm->rank : 0, comm ? comm->size : 1);
    if (!(inf = hsi_infer_create(net, m, domain, band.e1 - band.e0, c.w, &io, err, errlen)))
        goto done;
    c.tile_rows = hsi_infer_tile_rows(inf);
    c.whole = comm != NULL;
    if (o->prob || o->confidence) {
        size_t rows = c.whole ? (size_t)c.h : (size_t)c.tile_rows;
        c.prob = c.whole ? calloc(rows * c.w * c.k, sizeof(float))
                         : malloc(sizeof(float) * rows * c.w * c.k);
        if (!c.prob) {
            snprintf(err, errlen, "predict: out of memory");
            goto done;
        }
    }
    hsi_mapwriter_opts mo = {out_dir, "map", c.h, c.w, c.k, o->class_names,
                             (const uint8_t(*)[3])o->palette, hsi_envi_georef(c.in), o->geotiff,
                             o->envi, o->prob, o->confidence};
    /* one rank: written tile by tile; several: rank 0 writes once the bands are merged */
    if (!comm && !(c.mw = hsi_mapwriter_open(&mo, err, errlen))) goto done;
    c.tty = o->progress && isatty(2) && !comm;
    c.t0 = c.last = now();
    if (comm)
        for (size_t i = 0; i < npx; i++) c.pred[i] = INT32_MIN;
    int failed = hsi_infer_run_band(inf, &band, rows_in, &c, logits_out, &c, err, errlen) != 0;
    if (comm) {   /* a rank that could not read its band: every rank stops here */
        double f = failed;
        comm->sum_d(comm->ctx, &f, 1);
        if (f > 0 && !failed) {
            err[0] = 0;
            failed = 1;
        }
    }
    if (failed) {
        if (c.mw) hsi_mapwriter_abort(c.mw);
        c.mw = NULL;
        goto done;
    }
    if (comm) {
        double *cnt = calloc((size_t)c.k, sizeof *cnt);
        for (int j = 0; cnt && j < c.k; j++) cnt[j] = (double)c.count[j];
        comm->max_i32(comm->ctx, c.pred, (int64_t)npx);
        if (c.prob) comm->sum_f(comm->ctx, c.prob, (int64_t)npx * c.k);
        if (cnt) comm->sum_d(comm->ctx, cnt, c.k);
        for (int j = 0; cnt && j < c.k; j++) c.count[j] = (int64_t)cnt[j];
        free(cnt);
        if (comm->rank > 0) {   /* rank 0 writes */
            rc = 0;
            goto done;
        }
        if (!(c.mw = hsi_mapwriter_open(&mo, err, errlen)) ||
            hsi_mapwriter_rows(c.mw, 0, c.h, c.pred, c.prob, err, errlen))
            goto done;
    }
    if (!comm) {   /* standardised, the statistics pass said it; not standardised, said here */
        size_t valid = 0;
        for (size_t i = 0; i < npx; i++) valid += !c.nodata[i];
        if (valid == 0) {
            snprintf(err, errlen, "%s: every pixel is nodata (data ignore value, NaN or Inf in "
                     "some band): nothing to classify", cube);
            goto done;
        }
    }
    if (c.nonfinite)
        fprintf(stderr, "warning: %s: %lld pixel(s) got NaN or Inf logits (the first at row %lld, "
                "column %lld): values too large for the net (an undeclared nodata value such as "
                "-3.4e38? a cube that is not standardised, with --no-standardize?); written as "
                "nodata\n", cube, (long long)c.nonfinite, (long long)(c.first_nonfinite / c.w),
                (long long)(c.first_nonfinite % c.w));
    sum->nodata = hsi_mapwriter_nodata(c.mw);
    /* pred.npy and the PNG are made in the writer's folder and renamed with the maps, all of
     * them or none: an interrupted run (or a failed write) never leaves this run's maps beside
     * an earlier run's pred.npy, or a set with the PNG missing */
    char path[4300];
    const char *tmp = hsi_mapwriter_dir(c.mw);
    if (o->npy) {
        hsi_array arr = {2, {c.h, c.w}, HSI_DT_I32, c.pred};
        snprintf(path, sizeof path, "%s/pred.npy", tmp);
        if (hsi_npy_write(path, &arr, err, errlen)) goto named;
    }
    if (o->png) {
        hsi_map_style st = {0, o->palette, o->class_names, NULL};
        snprintf(path, sizeof path, "%s/map_pred.png", tmp);
        if (hsi_map_write_png(path, c.pred, c.h, c.w, c.k, &st, err, errlen)) goto named;
    }
    if (hsi_mapwriter_close(c.mw, err, errlen)) {
        c.mw = NULL;
        goto done;
    }
    c.mw = NULL;
    {   /* an earlier run's output this one did not write (prob.tif of a run with --prob
         * beside this run's maps without it) would be taken for this scene's: said */
        pred_out outs[PRED_OUTS];
        pred_outs(o, outs);
        for (size_t i = 0; i < PRED_OUTS; i++) {
            snprintf(path, sizeof path, "%s/%s", out_dir, outs[i].name);
            if (!outs[i].on && access(path, F_OK) == 0)
                fprintf(stderr, "warning: %s is not from this run (an earlier one wrote it; "
                        "these options do not): remove it, or use another --out\n", path);
        }
    }
    sum->h = c.h, sum->w = c.w, sum->bands = c.bands;
    sum->pixels = (int64_t)npx;
    sum->kind = hsi_infer_kind(inf);
    sum->tile_rows = c.tile_rows;
    sum->bytes = hsi_infer_bytes(inf);
    sum->seconds = now() - t0;
    for (int j = 0; j < c.k && j < HSI_PREDICT_MAX_CLASSES; j++) sum->count[j] = c.count[j];
    rc = 0;
    goto done;
named:   /* a write into the writer's folder failed: its message names the final file */
    final_name(err, errlen, tmp, out_dir);
done:
    if (c.mw) hsi_mapwriter_abort(c.mw);
    hsi_infer_free(inf);
    hsi_envi_close(c.in);
    free(c.nodata), free(c.row_nd), free(c.pred), free(c.prob), free(c.count), free(c.mean), free(c.inv);
    free(c.row);
    return rc;
}
