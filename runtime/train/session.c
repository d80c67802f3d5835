/* session.c — the trainer's data per domain: load the scene, crop the region, select and
 * resample bands, remap labels, check the compiled net against the data, standardise, split
 * (or reload saved masks) and create the training batchers of a run.
 * It does not train or evaluate (loop.c, evaluate.c), and it never prints.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hsi_trainer.h"
#include "trainer_internal.h"

int tr_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- scene edits ---------------------------------------------------------------------------- */

/* The samples of a band-major cube (floats, or the 16-bit form) and their size. */
static unsigned char *cube_bytes(const hsi_cube *c, size_t *es)
{
    *es = c->data ? sizeof *c->data : 2;
    return c->data ? (unsigned char *)c->data : c->s16;
}

/* The buffer of a cube, trimmed in place to n samples (a failed trim keeps the larger one). */
static void cube_trim(hsi_cube *c, size_t n)
{
    size_t es;
    unsigned char *d = cube_bytes(c, &es), *p = realloc(d, es * (n ? n : 1));
    if (p && c->data) c->data = (float *)p;
    else if (p) c->s16 = p;
}

/* Keeps rows r0..r0+hh-1 and columns c0..c0+ww-1 of the cube and the gt, in place (each row
 * moves to an offset at or before its own, in order). */
static int crop(hsi_scene *sc, int r0, int c0, int hh, int ww)
{
    hsi_cube *c = &sc->cube;
    size_t es;
    unsigned char *d = cube_bytes(c, &es);
    for (int b = 0; b < c->bands; b++)
        for (int r = 0; r < hh; r++)
            memmove(d + es * (((size_t)b * hh + r) * ww),
                    d + es * (((size_t)b * c->h + r0 + r) * c->w + c0), es * (size_t)ww);
    for (int r = 0; r < hh; r++)
        memmove(sc->gt.gt + (size_t)r * ww, sc->gt.gt + (size_t)(r0 + r) * sc->gt.w + c0,
                sizeof *sc->gt.gt * (size_t)ww);
    cube_trim(c, (size_t)c->bands * hh * ww);
    c->h = sc->gt.h = hh;
    c->w = sc->gt.w = ww;
    return 0;
}

static int apply_region(hsi_scene *sc, const hsi_exp_domain *xd, char *err, size_t errlen)
{
    const int *rc = xd->region_rect;
    if (rc[2] > 0) {
        if (rc[0] < 0 || rc[1] < 0 || rc[3] < 1 || (int64_t)rc[0] + rc[2] > sc->cube.h ||
            (int64_t)rc[1] + rc[3] > sc->cube.w)   /* 64-bit sums: a corner past int32 wraps */
            return tr_fail(err, errlen, "domain '%s': region.rect [%d, %d, %d, %d] is outside "
                           "the %d x %d scene", xd->name, rc[0], rc[1], rc[2], rc[3],
                           sc->cube.h, sc->cube.w);
        crop(sc, rc[0], rc[1], rc[2], rc[3]);
    }
    int h = sc->cube.h, w = sc->cube.w;
    switch (xd->region_half) {
    case HSI_HALF_LEFT: return crop(sc, 0, 0, h, w / 2);
    case HSI_HALF_RIGHT: return crop(sc, 0, w / 2, h, w - w / 2);
    case HSI_HALF_TOP: return crop(sc, 0, 0, h / 2, w);
    case HSI_HALF_BOTTOM: return crop(sc, h / 2, 0, h - h / 2, w);
    case HSI_HALF_NONE: break;
    }
    return 0;
}

/* bands.range [start, end) then bands.resample R: output band j is the mean of input bands
 * floor(j*n/R) .. floor((j+1)*n/R)-1 of the n selected ones. */
static int apply_bands(hsi_cube *c, const hsi_exp_domain *xd, char *err, size_t errlen)
{
    int start = xd->band_start, end = xd->band_end ? xd->band_end : c->bands;
    if (start < 0 || end > c->bands || start >= end)
        return tr_fail(err, errlen, "domain '%s': bands.range [%d, %d] does not fit the %d bands "
                       "of the cube", xd->name, start, end, c->bands);
    int n = end - start, R = xd->resample ? xd->resample : n;
    if (R > n)
        return tr_fail(err, errlen, "domain '%s': bands.resample %d is more than the %d bands "
                       "selected", xd->name, R, n);
    if (start == 0 && n == c->bands && R == n) return 0;
    size_t plane = (size_t)c->h * (size_t)c->w;
    if (R == n && !c->data) {   /* a range of 16-bit planes: moved to the front, in place */
        size_t es;
        unsigned char *d = cube_bytes(c, &es);
        memmove(d, d + es * plane * (size_t)start, es * plane * (size_t)n);
        cube_trim(c, plane * (size_t)n);
        c->bands = n;
        return 0;
    }
    float *out = calloc((size_t)R * plane, sizeof *out);   /* means: floats from either form */
    if (!out) return tr_fail(err, errlen, "out of memory resampling bands");
    for (int j = 0; j < R; j++) {
        int b0 = (int)((int64_t)j * n / R), b1 = (int)((int64_t)(j + 1) * n / R);
        float *o = out + (size_t)j * plane;
        for (int b = b0; b < b1; b++) {
            size_t at = (size_t)(start + b) * plane;
            for (size_t i = 0; i < plane; i++) o[i] += hsi_cube_sample(c, at + i);
        }
        for (size_t i = 0; i < plane; i++) o[i] /= (float)(b1 - b0);
    }
    free(c->data);
    free(c->s16);
    c->data = out;
    c->s16 = NULL;
    c->s16_unsigned = 0;
    c->bands = R;
    return 0;
}

static int copy_cube(hsi_cube *dst, const hsi_cube *src)
{
    size_t n = (size_t)src->bands * (size_t)src->h * (size_t)src->w;
    if (!dst->data && !(dst->data = malloc(sizeof(float) * n))) return -1;
    dst->h = src->h;
    dst->w = src->w;
    dst->bands = src->bands;
    memcpy(dst->data, src->data, sizeof(float) * n);
    return 0;
}

/* ---- net vs data ---------------------------------------------------------------------------- */

#define REBUILD "; rebuild the trainer with hsicc build"

static int check_net(const hsi_tr_domain *dm, const hsi_domain *nd, int bands, int patch,
                     char *err, size_t errlen)
{
    if (nd->bands != bands)
        return tr_fail(err, errlen, "domain '%s': the data has %d bands (after bands.range / "
                       "resample) but the trainer's net was compiled for %d bands" REBUILD,
                       dm->name, bands, nd->bands);
    if (nd->classes != dm->k)
        return tr_fail(err, errlen, "domain '%s': the experiment has %d classes but the trainer's "
                       "net was compiled for %d" REBUILD, dm->name, dm->k, nd->classes);
    if (patch && nd->patch != patch)
        return tr_fail(err, errlen, "domain '%s': preprocess.patch is %d but the trainer's net "
                       "was compiled for patch %d" REBUILD, dm->name, patch, nd->patch);
    int64_t numel = 1;
    for (int i = 0; i < nd->ndim; i++) numel *= nd->in_dims[i];
    if (numel != (int64_t)bands * nd->patch * nd->patch)
        return tr_fail(err, errlen, "domain '%s': the net's input has %lld values per sample, a "
                       "[%d, %d, %d] patch has %lld; the netdef's input is not sized by its bands "
                       "and patch parameters, so rebuilding gives the same net: fix the netdef",
                       dm->name, (long long)numel, bands,
                       nd->patch, nd->patch, (long long)bands * nd->patch * nd->patch);
    return 0;
}

/* preprocess.nonfinite on the selected region and bands: error (a NaN trains a one-class model
 * without a word) or zero. */
static int nonfinite_policy(hsi_cube *c, const hsi_experiment *x, const hsi_exp_domain *xd,
                            const char *data_dir, const hsi_dataset *ds, FILE *log, char *err,
                            size_t errlen)
{
    if (!c->data) return 0;   /* 16-bit samples are finite */
    if (x->nonfinite == HSI_EXP_NONFINITE_ERROR) {
        char what[4600];
        snprintf(what, sizeof what, "%s/%s/%s (domain '%s')", data_dir, ds->folder, ds->cube.file,
                 xd->name);
        return hsi_cube_check_finite(c, what, err, errlen);
    }
    int64_t n = 0;
    for (size_t i = 0; i < (size_t)c->bands * (size_t)c->h * (size_t)c->w; i++)
        if (!isfinite(c->data[i])) c->data[i] = 0, n++;
    if (n && log)
        fprintf(log, "note: domain '%s': %lld non-finite values set to 0 (preprocess.nonfinite: "
                "zero)\n", xd->name, (long long)n);
    return 0;
}

void tr_untested_classes(FILE *f, const char *who, const int64_t *test, int k,
                         const char *const *names)
{
    int n = 0;
    for (int c = 0; c < k; c++) n += !test[c];
    if (!n || !f) return;
    fprintf(f, "warning: %s: class%s", who, n > 1 ? "es" : "");
    for (int c = 0, i = 0; c < k; c++)
        if (!test[c]) fprintf(f, "%s %d (%s)", i++ ? "," : "", c, names[c]);
    fprintf(f, " ha%s no test pixel: AA averages the other %d of %d classes\n", n > 1 ? "ve" : "s",
            k - n, k);
}

static const char *class_name(const hsi_dataset *ds, int32_t id, const uint8_t **rgb)
{
    for (int c = 0; c < ds->n_classes; c++)
        if (ds->classes[c].id == id) {
            *rgb = ds->classes[c].rgb;
            return ds->classes[c].name;
        }
    *rgb = NULL;
    return "?";
}

/* The k class ids of an experiment domain (its labels, else the dataset's), their names and
 * map colours (the registry's, else the default palette). */
static void domain_classes(const hsi_dataset *ds, const hsi_exp_domain *xd, int k, int32_t *ids,
                           const char **names, uint8_t *palette)
{
    if (xd->n_labels)
        memcpy(ids, xd->label_ids, sizeof *ids * (size_t)k);
    else
        hsi_dataset_class_ids(ds, ids);
    for (int c = 0; c < k; c++) {
        const uint8_t *rgb;
        names[c] = class_name(ds, ids[c], &rgb);
        memcpy(palette + 3 * c, rgb ? rgb : hsi_default_palette + 3 * (c % HSI_PALETTE_MAX), 3);
    }
}

int hsi_tr_domain_classes(const hsi_experiment *x, int d, const hsi_trainer_env *env,
                          hsi_tr_classes *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const hsi_exp_domain *xd = &x->domains[d];
    if (!(out->reg = hsi_registry_load(env->datasets, err, errlen))) return -1;
    const hsi_dataset *ds = hsi_registry_find(out->reg, xd->dataset);
    if (!ds) {
        hsi_tr_classes_free(out);
        return tr_fail(err, errlen, "domain '%s': no dataset '%s' in the registry", xd->name,
                       xd->dataset);
    }
    out->k = xd->n_labels ? xd->n_labels : ds->n_classes;
    int32_t *ids = malloc(sizeof *ids * (size_t)(ds->n_classes + out->k));
    out->names = malloc(sizeof *out->names * (size_t)out->k);
    out->palette = malloc((size_t)out->k * 3);
    if (!ids || !out->names || !out->palette) {
        free(ids);
        hsi_tr_classes_free(out);
        return tr_fail(err, errlen, "out of memory");
    }
    domain_classes(ds, xd, out->k, ids, out->names, out->palette);
    free(ids);
    return 0;
}

void hsi_tr_classes_free(hsi_tr_classes *c)
{
    free(c->names);
    free(c->palette);
    hsi_registry_free(c->reg);
    memset(c, 0, sizeof *c);
}

/* An ENVI cube's 'data ignore value' (and the warnings of the cube's and the gt's headers, said
 * on log): the pixels holding it in any band of the file (within the region; before bands are
 * selected or resampled, which would blend it) are nodata. Their labels are dropped (they are
 * never training, validation or test pixels) and *valid gets the other pixels (NULL: every pixel
 * is valid), for the standardisation statistics. */
static int nodata_pixels(hsi_scene *sc, const hsi_dataset *ds, const char *data_dir,
                         const hsi_exp_domain *xd, FILE *log, uint8_t **valid, char *err,
                         size_t errlen)
{
    char path[2][4600], warn[1100];
    int has = 0;
    double ignore = 0;
    *valid = NULL;
    snprintf(path[0], sizeof path[0], "%s/%s/%s", data_dir, ds->folder, ds->gt.file);
    snprintf(path[1], sizeof path[1], "%s/%s/%s", data_dir, ds->folder, ds->cube.file);
    for (int f = 0; f < 2; f++) {   /* the cube's ignore value last: it is the one kept */
        if (hsi_envi_notes(path[f], &has, &ignore, warn, sizeof warn, err, errlen)) return -1;
        if (warn[0] && log) fprintf(log, "warning: %s\n", warn);
    }
    if (!has) return 0;
    const hsi_cube *c = &sc->cube;
    size_t plane = (size_t)c->h * (size_t)c->w;
    uint8_t *ok = malloc(plane ? plane : 1);
    if (!ok) return tr_fail(err, errlen, "out of memory");
    const float v = (float)ignore;   /* the value as the cube holds it, converted to float */
    int64_t nodata = 0, labelled = 0;
    for (size_t i = 0; i < plane; i++) {
        int nd = 0;
        for (int b = 0; b < c->bands && !nd; b++) {
            float x = hsi_cube_sample(c, (size_t)b * plane + i);
            nd = isnan(v) ? isnan(x) : x == v;
        }
        ok[i] = !nd;
        nodata += nd;
        labelled += nd && sc->gt.gt[i] != 0;
        if (nd) sc->gt.gt[i] = INT32_MIN;   /* no class has it: -1 once remapped */
    }
    if (nodata == (int64_t)plane) {
        free(ok);
        return tr_fail(err, errlen, "%s (domain '%s'): every pixel%s holds the data ignore value "
                       "%g in some band: there is no data to train on", path[1], xd->name,
                       xd->region_rect[2] > 0 || xd->region_half != HSI_HALF_NONE
                       ? " of the region" : "", ignore);
    }
    if (!nodata) {
        free(ok);
        return 0;
    }
    if (log)
        fprintf(log, "warning: domain '%s': %lld of %lld pixels hold the data ignore value %g "
                "in some band (%s): nodata, left out of the standardisation statistics and of "
                "the samples (%lld of them labelled)\n", xd->name, (long long)nodata,
                (long long)plane, ignore, path[1], (long long)labelled);
    *valid = ok;
    return 0;
}

/* Nodata pixels get the mean of the valid pixels, band by band: 0 once standardised, as
 * predict --scene gives them to their neighbours' patches. A 16-bit cube keeps its form when
 * every band's mean is a whole number (then in the band's range), else becomes floats. */
static int fill_nodata(hsi_cube *c, const uint8_t *valid, char *err, size_t errlen)
{
    size_t plane = (size_t)c->h * (size_t)c->w;
    if (!valid) return 0;
    float *fill = malloc(sizeof *fill * (size_t)c->bands);
    if (!fill) return tr_fail(err, errlen, "out of memory");
    int whole = 1;
    for (int b = 0; b < c->bands; b++) {
        double s = 0;
        size_t n = 0;
        for (size_t i = 0; i < plane; i++)
            if (valid[i]) s += hsi_cube_sample(c, (size_t)b * plane + i), n++;
        fill[b] = (float)(s / (double)n);   /* a 16-bit cube's: within its samples' range */
        whole &= c->data || fill[b] == (float)(int32_t)fill[b];
    }
    if (!c->data && !whole && hsi_cube_widen(c)) {
        free(fill);
        return tr_fail(err, errlen, "out of memory");
    }
    for (int b = 0; b < c->bands; b++)
        for (size_t i = 0, k = (size_t)b * plane; i < plane; i++, k++) {
            if (valid[i]) continue;
            if (c->data) c->data[k] = fill[b];
            else if (c->s16_unsigned) ((uint16_t *)c->s16)[k] = (uint16_t)fill[b];
            else ((int16_t *)c->s16)[k] = (int16_t)fill[b];
        }
    free(fill);
    return 0;
}

/* The scene of a domain: region, nodata, bands and the nonfinite policy applied. *valid: the
 * pixels that are not nodata (NULL: all; malloc'd). */
static int load_scene(const hsi_dataset *ds, const hsi_experiment *x, const hsi_exp_domain *xd,
                      const hsi_trainer_env *env, hsi_scene *sc, uint8_t **valid, char *err,
                      size_t errlen)
{
    hsi_fetch_opts fo = {env->data_dir, env->mirror, env->download, 0};
    memset(sc, 0, sizeof *sc);
    *valid = NULL;
    if (hsi_scene_load16(ds, &fo, sc, err, errlen)) return -1;   /* 16-bit: no float copy */
    if (apply_region(sc, xd, err, errlen) ||
        nodata_pixels(sc, ds, hsi_data_dir(&fo), xd, env->log, valid, err, errlen) ||
        apply_bands(&sc->cube, xd, err, errlen) ||
        fill_nodata(&sc->cube, *valid, err, errlen) ||
        nonfinite_policy(&sc->cube, x, xd, hsi_data_dir(&fo), ds, env->log, err, errlen)) {
        hsi_scene_free(sc);
        free(*valid);
        *valid = NULL;
        return -1;
    }
    return 0;
}

int hsi_tr_pca_components(const hsi_experiment *x, int d, const hsi_trainer_env *env, int *k,
                          double *share, char *err, size_t errlen)
{
    const hsi_exp_domain *xd = &x->domains[d];
    hsi_registry *reg = hsi_registry_load(env->datasets, err, errlen);
    if (!reg) return -1;
    const hsi_dataset *ds = hsi_registry_find(reg, xd->dataset);
    hsi_scene sc;
    uint8_t *valid = NULL;
    int rc = !ds ? tr_fail(err, errlen, "domain '%s': no dataset '%s' in the registry", xd->name,
                           xd->dataset)
                 : load_scene(ds, x, xd, env, &sc, &valid, err, errlen);
    if (rc) {
        hsi_registry_free(reg);
        return -1;
    }
    hsi_pca p;
    hsi_pca_opts po = {x->pca.components, x->pca.variance, 0};
    char e2[256];
    if (hsi_cube_widen(&sc.cube))   /* the PCA fit reads floats */
        rc = tr_fail(err, errlen, "domain '%s': out of memory", xd->name);
    if (rc == 0 && x->standardize == HSI_EXP_STD_ALL)
        rc = hsi_standardize(&sc.cube, valid, NULL, NULL, err, errlen);
    free(valid);
    if (rc == 0 && hsi_pca_fit(&sc.cube, NULL, &po, &p, e2, sizeof e2))
        rc = tr_fail(err, errlen, "domain '%s': %s", xd->name, e2);
    if (rc == 0) {
        *k = p.k;
        *share = 0;
        for (int j = 0; j < p.k; j++) *share += p.explained[j];
        hsi_pca_free(&p);
    }
    hsi_scene_free(&sc);
    hsi_registry_free(reg);
    return rc;
}

/* The cube the net sees, when neither PCA nor the split changes it: standardised (std: over all
 * pixels) and kept compact when its samples are 16-bit integers (read so from the file, or
 * hsi_cube_compact: half the memory, the same values read); HSICC_FLOAT_CUBE=1 keeps the
 * floats (for A/B runs). */
static int compact_domain(hsi_tr_domain *dm, int std, char *err, size_t errlen)
{
    hsi_cube *c = &dm->cube;
    const char *off = getenv("HSICC_FLOAT_CUBE");
    int keep_float = off && *off && strcmp(off, "0");
    float *m = std ? malloc(sizeof *m * (size_t)c->bands) : NULL;
    float *sd = std ? malloc(sizeof *sd * (size_t)c->bands) : NULL;
    int rc = std && (!m || !sd) ? tr_fail(err, errlen, "out of memory")
           : std ? hsi_standardize_stats(c, dm->valid, m, sd, err, errlen) : 0;
    if (rc == 0 && c->s16 && (keep_float ? hsi_cube_widen(c) : hsi_cube_compact_set(c, m, sd)))
        rc = tr_fail(err, errlen, "out of memory");
    if (rc == 0 && c->data && (keep_float || hsi_cube_compact(c, m, sd)) && std)
        hsi_standardize_apply(c, m, sd);
    free(m);
    free(sd);
    return rc ? -1 : 0;
}

static int load_domain(hsi_tr_data *D, int d, const hsi_experiment *x, const hsi_netdesc *net,
                       const hsi_trainer_env *env, char *err, size_t errlen)
{
    const hsi_exp_domain *xd = &x->domains[d];
    const hsi_domain *nd = &net->domains[d];
    hsi_tr_domain *dm = &D->d[d];
    dm->index = d;
    dm->name = xd->name;
    if (nd->name && nd->name[0] && strcmp(nd->name, xd->name))
        return tr_fail(err, errlen, "domain %d: the experiment calls it '%s' but the trainer's "
                       "net was compiled with domain '%s' there" REBUILD, d, xd->name, nd->name);
    dm->ds = hsi_registry_find(D->reg, xd->dataset);
    if (!dm->ds)
        return tr_fail(err, errlen, "domain '%s': no dataset '%s' in the registry (add it with "
                       "--datasets FILE or $HSICC_DATASETS)", xd->name, xd->dataset);
    hsi_scene sc;
    if (load_scene(dm->ds, x, xd, env, &sc, &dm->valid, err, errlen)) return -1;
    dm->h = sc.cube.h;
    dm->w = sc.cube.w;
    dm->k = xd->n_labels ? xd->n_labels : dm->ds->n_classes;
    if (nd->classes != dm->k) {   /* before the classes are looked up, one by one, by id */
        hsi_scene_free(&sc);
        return tr_fail(err, errlen, "domain '%s': the experiment has %d classes but the trainer's "
                       "net was compiled for %d" REBUILD, dm->name, dm->k, nd->classes);
    }
    int32_t *ids = malloc(sizeof *ids * (size_t)(dm->ds->n_classes + dm->k));
    dm->y = malloc(sizeof *dm->y * (size_t)dm->h * (size_t)dm->w);
    dm->class_names = malloc(sizeof *dm->class_names * (size_t)dm->k);
    dm->palette = malloc((size_t)dm->k * 3);
    if (!ids || !dm->y || !dm->class_names || !dm->palette) {
        free(ids);
        hsi_scene_free(&sc);
        return tr_fail(err, errlen, "out of memory loading domain '%s'", xd->name);
    }
    domain_classes(dm->ds, xd, dm->k, ids, dm->class_names, dm->palette);
    int rc = hsi_labels_remap(&sc.gt, ids, dm->k, dm->y, err, errlen);
    free(ids);
    /* with PCA the net takes the components: their count is preprocess.pca.components, or what
     * variance kept when hsicc build fitted it (checked once fitted) */
    int pca = tr_pca_enabled(x), net_bands = sc.cube.bands;
    dm->net_bands = nd->bands;
    if (rc == 0 && pca && x->pca.components > sc.cube.bands)
        rc = tr_fail(err, errlen, "domain '%s': preprocess.pca.components %d is more than the %d "
                     "bands of the data (after bands.range / resample)", xd->name,
                     x->pca.components, sc.cube.bands);
    else if (pca)
        net_bands = x->pca.components ? x->pca.components : nd->bands;
    if (rc == 0 && pca && nd->bands != net_bands)
        rc = tr_fail(err, errlen, "domain '%s': preprocess.pca.components is %d, but the "
                     "trainer's net was compiled for %d bands" REBUILD, xd->name, net_bands,
                     nd->bands);
    if (rc == 0) rc = check_net(dm, nd, net_bands, x->patch, err, errlen);
    if (rc) {
        hsi_scene_free(&sc);
        return -1;
    }
    dm->cube = sc.cube;
    memset(&sc.cube, 0, sizeof sc.cube);
    hsi_scene_free(&sc);
    /* order: nonfinite, standardisation, PCA; what depends on the split waits for it */
    int per_split = x->standardize == HSI_EXP_STD_TRAIN ||
                    (pca && x->pca.fit == HSI_EXP_PCA_FIT_TRAIN && !D->pca_from);
    if (!pca && !per_split)   /* tr_pca_domain: only the check that weights hold no PCA */
        return compact_domain(dm, x->standardize == HSI_EXP_STD_ALL, err, errlen)
                   ? -1 : tr_pca_domain(D, d, x, NULL, err, errlen);
    if (hsi_cube_widen(&dm->cube))   /* standardisation per split and PCA change the floats */
        return tr_fail(err, errlen, "out of memory loading domain '%s'", xd->name);
    if (x->standardize == HSI_EXP_STD_ALL && hsi_standardize(&dm->cube, dm->valid, NULL, NULL, err, errlen))
        return -1;
    if (per_split)
        return copy_cube(&dm->raw, &dm->cube) ? tr_fail(err, errlen, "out of memory") : 0;
    return tr_pca_domain(D, d, x, NULL, err, errlen);
}

int hsi_tr_data_load(hsi_tr_data *D, const hsi_experiment *x, const hsi_netdesc *net,
                     const hsi_trainer_env *env, char *err, size_t errlen)
{
    memset(D, 0, sizeof *D);
    if (net->n_domains != x->n_domains)
        return tr_fail(err, errlen, "the experiment has %d domain(s) but the trainer's net was "
                       "compiled for %d" REBUILD, x->n_domains, net->n_domains);
    if (!(D->reg = hsi_registry_load(env->datasets, err, errlen))) return -1;
    D->n = x->n_domains;
    D->pca_from = env->pca_weights;
    D->patch = net->domains[0].patch;
    D->pad = x->padding == HSI_EXP_PAD_REFLECT ? HSI_PAD_REFLECT
           : x->padding == HSI_EXP_PAD_REPLICATE ? HSI_PAD_REPLICATE : HSI_PAD_ZERO;
    if (!(D->d = calloc((size_t)D->n, sizeof *D->d))) return tr_fail(err, errlen, "out of memory");
    for (int d = 0; d < D->n; d++) {
        if (load_domain(D, d, x, net, env, err, errlen)) return -1;
        D->d[d].label_patch = net->domains[d].label_patch;
    }
    return 0;
}

/* ---- splits --------------------------------------------------------------------------------- */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The masks file of domain d from a file or a run folder. */
static int masks_path(const hsi_tr_data *D, int d, const char *masks, char *out, size_t n,
                      char *err, size_t errlen)
{
    if (!is_dir(masks)) {
        if (D->n > 1)
            return tr_fail(err, errlen, "%s: with %d domains, give a run folder holding "
                           "<domain>/masks.npy", masks, D->n);
        if (hsi_check_input(masks, err, errlen)) return -1;   /* missing, a FIFO, a device */
        snprintf(out, n, "%s", masks);
        return 0;
    }
    snprintf(out, n, "%s/%s/masks.npy", masks, D->d[d].name);
    if (D->n > 1 || is_file(out)) return is_file(out) ? 0 : tr_fail(err, errlen, "%s: not found", out);
    snprintf(out, n, "%s/masks.npy", masks);
    return is_file(out) ? 0 : tr_fail(err, errlen, "%s: not found", out);
}

/* Validation drawn per class (split.stratified): `count` pixels of every class, or that
 * fraction of every class, from the class's non-training pixels, at random. */
static void draw_val_per_class(hsi_tr_domain *dm, const hsi_amount *val, uint64_t seed)
{
    hsi_split *sp = &dm->split;
    int64_t n = (int64_t)dm->h * dm->w;
    int32_t *cand = malloc(sizeof *cand * (size_t)(n + 1));
    if (!cand) return;
    hsi_rng r;
    hsi_rng_seed(&r, seed ^ 0x76616C6964617465ull);   /* "validate": its own stream */
    for (int c = 0; c < dm->k; c++) {
        int64_t m = 0, total = 0;
        for (int64_t i = 0; i < n; i++) {
            if (dm->y[i] != c) continue;
            total++;
            if (sp->mask[i] == HSI_MASK_TEST) cand[m++] = (int32_t)i;
        }
        int64_t want = val->is_fraction ? (int64_t)(val->fraction * (double)total + 0.5) : val->count;
        if (want > m) want = m;
        hsi_shuffle_i32(&r, cand, m);
        for (int64_t j = 0; j < want; j++) sp->mask[cand[j]] = HSI_MASK_VAL;
        sp->n_val += want;
        sp->n_test -= want;
    }
    free(cand);
}

/* The experiment's split (hsi_config.h, EXPERIMENTS.md) in hsi_split_make's terms:
 * train: per-class count or fraction (the SSRN rule takes the fraction NOT trained);
 * val: stratified = per class (drawn here), else of all labelled pixels, pooled. */
static int make_split(hsi_tr_domain *dm, const hsi_experiment *x, uint64_t seed, char *err,
                      size_t errlen)
{
    const hsi_exp_split *s = &x->split;
    if (s->train.is_fraction && s->train.fraction >= 1.0) {
        /* `train: all` (pre-training sources): every labelled pixel trains */
        hsi_split *sp = &dm->split;
        int64_t n = (int64_t)dm->h * dm->w;
        memset(sp, 0, sizeof *sp);
        sp->h = dm->h;
        sp->w = dm->w;
        sp->mask = malloc((size_t)n);
        if (!sp->mask) return tr_fail(err, errlen, "out of memory");
        for (int64_t i = 0; i < n; i++) {
            sp->mask[i] = dm->y[i] >= 0 ? HSI_MASK_TRAIN : HSI_MASK_UNUSED;
            sp->n_train += dm->y[i] >= 0;
        }
        return 0;
    }
    hsi_split_opts o;
    memset(&o, 0, sizeof o);
    o.train = s->train.is_fraction ? s->train.fraction : (double)s->train.count;
    o.seed = s->has_seed ? s->seed : seed;
    int per_class_val = s->stratified && s->rule != HSI_EXP_SPLIT_SSRN && !s->spatial_blocks;
    if (!per_class_val) {
        int64_t labelled = 0;
        for (int64_t i = 0; i < (int64_t)dm->h * dm->w; i++) labelled += dm->y[i] >= 0;
        o.val = s->val.is_fraction ? (double)(int64_t)(s->val.fraction * (double)labelled + 0.5)
                                   : (double)s->val.count;
        o.val_stratified = s->stratified;
    }
    if (s->rule == HSI_EXP_SPLIT_SSRN) {
        o.kind = HSI_SPLIT_SSRN;
        o.train = 1.0 - s->train.fraction;   /* hsi_split_opts: s = the share not trained */
    } else if (s->spatial_blocks) {
        if (!s->train.is_fraction)
            return tr_fail(err, errlen, "split.spatial_blocks needs split.train as a fraction "
                           "(e.g. 0.3), got %lld pixels", (long long)s->train.count);
        o.kind = HSI_SPLIT_BLOCKS;
        /* an N x N grid whatever the scene's aspect (Botswana, 1476 x 256, cut by squares of
         * the longer side, was N x 1 strips: 2 blocks for N = 2); 64 bits: a grid finer than
         * the scene (up to INT32_MAX blocks) gives blocks of 1 */
        o.block = (int)(((int64_t)dm->h + s->spatial_blocks - 1) / s->spatial_blocks);
        o.block_w = (int)(((int64_t)dm->w + s->spatial_blocks - 1) / s->spatial_blocks);
    } else {
        o.kind = s->train.is_fraction ? HSI_SPLIT_FRACTION : HSI_SPLIT_COUNT;
    }
    char e2[512];
    if (hsi_split_make(dm->y, dm->h, dm->w, dm->k, &o, &dm->split, e2, sizeof e2))
        return tr_fail(err, errlen, "domain '%s': %s", dm->name, e2);
    if (per_class_val && (s->val.is_fraction ? s->val.fraction > 0 : s->val.count > 0))
        draw_val_per_class(dm, &s->val, o.seed);
    return 0;
}

static void free_split(hsi_tr_domain *dm)
{
    hsi_split_free(&dm->split);
    free(dm->train);
    free(dm->val);
    free(dm->test);
    dm->train = dm->val = dm->test = NULL;
    dm->n_train = dm->n_val = dm->n_test = 0;
}

int hsi_tr_data_split(hsi_tr_data *D, const hsi_experiment *x, uint64_t seed, const char *masks,
                      char *err, size_t errlen)
{
    if (!masks) masks = x->split.masks;
    for (int d = 0; d < D->n; d++) {
        hsi_tr_domain *dm = &D->d[d];
        free_split(dm);
        if (masks) {
            char path[4096];
            if (masks_path(D, d, masks, path, sizeof path, err, errlen) ||
                hsi_split_load(path, dm->y, dm->h, dm->w, &dm->split, err, errlen))
                return -1;
        } else if (make_split(dm, x, seed, err, errlen)) {
            return -1;
        }
        const int which[3] = {HSI_MASK_TRAIN, HSI_MASK_VAL, HSI_MASK_TEST};
        int32_t **lists[3] = {&dm->train, &dm->val, &dm->test};
        int64_t *counts[3] = {&dm->n_train, &dm->n_val, &dm->n_test};
        for (int i = 0; i < 3; i++) {
            *counts[i] = hsi_split_indices(&dm->split, which[i], NULL);
            *lists[i] = malloc(sizeof(int32_t) * (size_t)(*counts[i] + 1));
            if (!*lists[i]) return tr_fail(err, errlen, "out of memory");
            hsi_split_indices(&dm->split, which[i], *lists[i]);
        }
        if (dm->raw.data) {   /* standardize: train and / or pca.fit: train, then PCA */
            uint8_t *use = malloc((size_t)dm->h * (size_t)dm->w);
            if (dm->cube.bands != dm->raw.bands) {   /* the components of another split */
                free(dm->cube.data);
                dm->cube.data = NULL;
            }
            if (!use || copy_cube(&dm->cube, &dm->raw)) {
                free(use);
                return tr_fail(err, errlen, "out of memory");
            }
            for (int64_t i = 0; i < (int64_t)dm->h * dm->w; i++)
                use[i] = dm->split.mask[i] == HSI_MASK_TRAIN;
            int rc = x->standardize == HSI_EXP_STD_TRAIN &&
                     hsi_standardize(&dm->cube, use, NULL, NULL, err, errlen);
            if (!rc) rc = tr_pca_domain(D, d, x, use, err, errlen);
            free(use);
            if (rc) return -1;
        }
    }
    return 0;
}

int hsi_tr_data_batchers(hsi_tr_data *D, const hsi_experiment *x, uint64_t seed, char *err,
                         size_t errlen)
{
    for (int d = 0; d < D->n; d++) {
        hsi_tr_domain *dm = &D->d[d];
        hsi_batcher_free(dm->batcher);
        dm->batcher = NULL;
        if (!dm->n_train) continue;
        hsi_batcher_opts bo;
        memset(&bo, 0, sizeof bo);
        if (dm->label_patch) {   /* a per-pixel loss: label windows of training pixels only */
            free(dm->ytrain);
            if (!(dm->ytrain = malloc(sizeof *dm->ytrain * (size_t)dm->h * (size_t)dm->w)))
                return tr_fail(err, errlen, "out of memory");
            for (size_t i = 0; i < (size_t)dm->h * (size_t)dm->w; i++)
                dm->ytrain[i] = dm->split.mask[i] == HSI_MASK_TRAIN ? dm->y[i] : -1;
            bo.label_patch = dm->label_patch;
            bo.window_labels = dm->ytrain;
        }
        bo.cube = &dm->cube;
        bo.labels = dm->y;
        bo.index = dm->train;
        bo.n = dm->n_train;
        bo.batch = x->train.batch;
        bo.patch = D->patch;
        bo.pad = D->pad;
        bo.augment = x->augment == HSI_EXP_AUG_DIHEDRAL ? HSI_AUG_RANDOM
                   : x->augment == HSI_EXP_AUG_DIHEDRAL_X8 ? HSI_AUG_EXPAND8 : HSI_AUG_NONE;
        bo.seed = hsi_hash64(seed, (uint64_t)d);
        bo.prefetch = -1;   /* no thread of its own when the step's take every CPU (batcher.c) */
        if (!(dm->batcher = hsi_batcher_create(&bo, err, errlen))) return -1;
    }
    return 0;
}

void hsi_tr_data_free(hsi_tr_data *D)
{
    for (int d = 0; d < D->n && D->d; d++) {
        hsi_tr_domain *dm = &D->d[d];
        hsi_batcher_free(dm->batcher);
        free_split(dm);
        hsi_cube_free(&dm->raw);
        hsi_cube_free(&dm->cube);
        hsi_pca_free(&dm->pca);
        free(dm->y);
        free(dm->valid);
        free(dm->ytrain);
        free(dm->class_names);
        free(dm->palette);
    }
    free(D->d);
    hsi_registry_free(D->reg);
    memset(D, 0, sizeof *D);
}
