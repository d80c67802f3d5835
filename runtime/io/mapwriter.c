/* mapwriter.c — classification maps for GIS software, written by rows: a class-map GeoTIFF
 * (value = class + 1, 0 = nodata, colour table, category names), an ENVI classification file,
 * and optional float32 probability and confidence GeoTIFFs, each with the scene's
 * georeference. Rows are staged into strips of STRIP rows; each full strip goes to GDAL and is
 * flushed at once, so memory holds one strip whatever the scene size. Every file is created in
 * a temporary folder beside the outputs and renamed into place only by a successful close.
 * It does not write PNG maps (runtime/eval/maps.c does) and does not reproject. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "geo_gdal.h"
#include "geo_internal.h"
#include "hsi_eval.h"

enum { STRIP = 16 };   /* rows per TIFF strip and per staged block */

/* The outputs, in the order they are created. */
enum { F_TIF, F_ENVI, F_HDR, F_PROB, F_CONF, F_N };

struct hsi_mapwriter {
    int h, w, k;
    int wide;                  /* 1: class maps are uint16 (k >= 255), else uint8 */
    char *dir, *tmp;           /* output folder; the temporary folder inside it */
    int tmp_slot;              /* tmp's hsi_temp_register slot: removed on SIGINT/SIGTERM/SIGHUP */
    char *name[F_N];           /* file names (no folder) of the outputs asked for, else NULL */
    GDALDatasetH ds[F_N];      /* F_TIF, F_PROB, F_CONF */
    int envi_fd;               /* F_ENVI, or -1 */
    int next_row;              /* rows received so far */
    int staged;                /* rows in the staging buffers, not yet written */
    int64_t nodata;
    void *cls_buf;             /* STRIP * w class values (uint8 or uint16) */
    float *prob_buf;           /* STRIP * w * k, pixel-major, or NULL */
    float *conf_buf;           /* STRIP * w, or NULL */
};

/* "dir/name" or "tmp/name" of output f, in buf. */
static const char *path_of(const hsi_mapwriter *mw, int f, int final, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", final ? mw->dir : mw->tmp, mw->name[f]);
    return buf;
}

/* Writes the message for output f: "<dir>/<name>: what: detail". Returns -1. */
static int fail(const hsi_mapwriter *mw, int f, const char *what, const char *detail, char *err,
                size_t errlen)
{
    char p[4096];
    snprintf(err, errlen, "%s: %s: %s (no file was written under that name)",
             path_of(mw, f, 1, p, sizeof p), what, detail);
    return -1;
}

/* GDAL's message, with the system's reason when a write syscall failed just before it (GDAL's
 * own text for a full disk or a file size limit often does not say so). */
static const char *gdal_reason(const geo_gdal_msgs *m, char *buf, size_t n)
{
    if (m->sys_errno)
        snprintf(buf, n, "%s (%s)", strerror(m->sys_errno), m->first);
    else
        snprintf(buf, n, "%s", m->failed ? m->first : "GDAL reported no reason");
    return buf;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- open ---------------------------------------------------------------------------------- */

/* A name usable inside an ENVI {} list: separators and braces become spaces. */
static void envi_name(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == ',' || *s == '{' || *s == '}' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

/* The ENVI classification header: class 0 = Unclassified, class c+1 = the net's class c; 0 is
 * also the data ignore value, so that GDAL reads it as nodata, as it reads map.tif. */
static int write_envi_header(hsi_mapwriter *mw, const hsi_mapwriter_opts *o,
                             const uint8_t (*pal)[3], char *err, size_t errlen)
{
    char p[4096], *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return fail(mw, F_HDR, "cannot write", strerror(errno), err, errlen);
    fprintf(f, "ENVI\ndescription = {hsicc classification map}\nsamples = %d\nlines = %d\n"
               "bands = 1\nheader offset = 0\nfile type = ENVI Classification\ndata type = %d\n"
               "interleave = bsq\nbyte order = 0\ndata ignore value = 0\nclasses = %d\n"
               "class names = {Unclassified",
            mw->w, mw->h, mw->wide ? 12 : 1, mw->k + 1);
    for (int c = 0; c < mw->k; c++) {
        fputs(", ", f);
        if (o->class_names && o->class_names[c])
            envi_name(f, o->class_names[c]);
        else
            fprintf(f, "class %d", c);
    }
    fputs("}\nclass lookup = {0, 0, 0", f);
    for (int c = 0; c < mw->k; c++)
        fprintf(f, ", %d, %d, %d", pal[c][0], pal[c][1], pal[c][2]);
    fputs("}\n", f);
    /* The map info said from the geotransform map.tif gets (the input's projection fields
     * kept): the input's own text would be read differently by GDAL when it has a rotation and
     * a reference pixel other than (1, 1). The CRS text is the input's own when it had one. */
    char *mi = geo_envi_map_info(o->geo);
    char *cs = o->geo && o->geo->envi_cs ? strdup(o->geo->envi_cs) : geo_envi_cs_string(o->geo);
    if (mi)
        fprintf(f, "map info = {%s}\n", mi);
    if (cs)
        fprintf(f, "coordinate system string = {%s}\n", cs);
    free(mi);
    free(cs);
    int bad = fclose(f) != 0;
    int rc = 0;
    int fd = bad ? -1 : open(path_of(mw, F_HDR, 0, p, sizeof p), O_WRONLY | O_CREAT | O_EXCL
                             | O_CLOEXEC, 0666);
    if (bad || fd < 0 || write_all(fd, text, len) != 0)
        rc = fail(mw, F_HDR, "cannot write", strerror(errno), err, errlen);
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = fail(mw, F_HDR, "cannot write", strerror(errno), err, errlen);
    free(text);
    return rc;
}

/* Creates a GeoTIFF output of `bands` bands of type t, with the georeference. */
static int create_tif(hsi_mapwriter *mw, int f, int bands, GDALDataType t, const hsi_georef *geo,
                      char *err, size_t errlen)
{
    char p[4096], why[700], rows[16];
    snprintf(rows, sizeof rows, "%d", STRIP);
    geo_gdal_msgs m;
    if (geo_gdal_begin(&m))
        return fail(mw, f, "cannot create the GeoTIFF", m.first, err, errlen);
    char **opt = NULL;
    opt = CSLSetNameValue(opt, "COMPRESS", "DEFLATE");
    opt = CSLSetNameValue(opt, "BIGTIFF", "IF_SAFER");
    opt = CSLSetNameValue(opt, "BLOCKYSIZE", rows);
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    mw->ds[f] = drv ? GDALCreate(drv, path_of(mw, f, 0, p, sizeof p), mw->w, mw->h, bands, t, opt)
                    : NULL;
    CSLDestroy(opt);
    if (mw->ds[f] && geo && geo->has_transform)
        GDALSetGeoTransform(mw->ds[f], (double *)geo->gt);
    if (mw->ds[f] && geo && geo->wkt)
        GDALSetProjection(mw->ds[f], geo->wkt);
    if (geo_gdal_end(&m) || !mw->ds[f])
        return fail(mw, f, "cannot create the GeoTIFF", drv ? gdal_reason(&m, why, sizeof why)
                    : "GDAL has no GTiff driver", err, errlen);
    return 0;
}

/* Colour table and category names of the class-map GeoTIFF; nodata = 0. */
static int describe_class_band(hsi_mapwriter *mw, const hsi_mapwriter_opts *o,
                               const uint8_t (*pal)[3], char *err, size_t errlen)
{
    char why[700];
    char **names = calloc((size_t)mw->k + 2, sizeof *names);
    char(*gen)[24] = calloc((size_t)mw->k, sizeof *gen);
    if (!names || !gen) {
        free(names);
        free(gen);
        return fail(mw, F_TIF, "cannot describe the classes", "out of memory", err, errlen);
    }
    names[0] = "unclassified";
    for (int c = 0; c < mw->k; c++) {
        snprintf(gen[c], sizeof gen[c], "class %d", c);
        names[c + 1] = o->class_names && o->class_names[c] ? (char *)o->class_names[c] : gen[c];
    }
    geo_gdal_msgs m;
    geo_gdal_begin(&m);
    GDALRasterBandH b = GDALGetRasterBand(mw->ds[F_TIF], 1);
    GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
    GDALColorEntry none = {0, 0, 0, 255};
    GDALSetColorEntry(ct, 0, &none);
    for (int c = 0; c < mw->k; c++) {
        GDALColorEntry e = {pal[c][0], pal[c][1], pal[c][2], 255};
        GDALSetColorEntry(ct, c + 1, &e);
    }
    GDALSetRasterColorTable(b, ct);
    GDALDestroyColorTable(ct);
    GDALSetRasterColorInterpretation(b, GCI_PaletteIndex);
    GDALSetRasterNoDataValue(b, 0);
    GDALSetRasterCategoryNames(b, names);
    free(names);
    free(gen);
    if (geo_gdal_end(&m))
        return fail(mw, F_TIF, "cannot describe the classes", gdal_reason(&m, why, sizeof why),
                    err, errlen);
    return 0;
}

static int set_float_nodata(hsi_mapwriter *mw, int f, char *err, size_t errlen)
{
    char why[700];
    geo_gdal_msgs m;
    geo_gdal_begin(&m);
    for (int b = 1; b <= GDALGetRasterCount(mw->ds[f]); b++)
        GDALSetRasterNoDataValue(GDALGetRasterBand(mw->ds[f], b), -1.0);
    if (geo_gdal_end(&m))
        return fail(mw, f, "cannot set nodata", gdal_reason(&m, why, sizeof why), err, errlen);
    return 0;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

hsi_mapwriter *hsi_mapwriter_open(const hsi_mapwriter_opts *o, char *err, size_t errlen)
{
    if (!o || !o->dir || !o->stem || !*o->stem || strchr(o->stem, '/') || o->h < 1 || o->w < 1
        || o->k < 1 || o->k > 65534 || !(o->geotiff || o->envi || o->prob || o->confidence)) {
        snprintf(err, errlen, "map writer: bad options (need a folder, a stem without '/', "
                 "h, w >= 1, 1 <= k <= 65534 and at least one output)");
        return NULL;
    }
    const uint8_t (*pal)[3] = o->palette;
    if (!pal && o->k > HSI_PALETTE_MAX) {
        snprintf(err, errlen, "map writer: %d classes need a palette (the default has %d colours)",
                 o->k, HSI_PALETTE_MAX);
        return NULL;
    }
    if (!pal)
        pal = (const uint8_t (*)[3])hsi_default_palette;
    /* Exceeding ulimit -f must be a write error (EFBIG), not SIGXFSZ killing the process. */
    struct sigaction sa;
    if (sigaction(SIGXFSZ, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGXFSZ, SIG_IGN);

    hsi_mapwriter *mw = calloc(1, sizeof *mw);
    if (!mw) {
        snprintf(err, errlen, "map writer: out of memory");
        return NULL;
    }
    mw->tmp_slot = -1;
    mw->h = o->h;
    mw->w = o->w;
    mw->k = o->k;
    mw->wide = o->k >= 255;
    mw->envi_fd = -1;
    mw->dir = strdup(o->dir);
    char *tmpl = malloc(strlen(o->dir) + strlen(o->stem) + 3);
    if (tmpl)
        sprintf(tmpl, "%s/.%s", o->dir, o->stem);
    mw->tmp = tmpl ? hsi_temp_template(tmpl) : NULL;
    free(tmpl);
    const char *ext[F_N] = {".tif", ".envi", ".hdr", NULL, NULL};
    const int want[F_N] = {o->geotiff, o->envi, o->envi, o->prob, o->confidence};
    int oom = !mw->dir || !mw->tmp;
    for (int f = 0; f < F_N && !oom; f++)
        if (want[f])
            oom = !(mw->name[f] = ext[f] ? join(o->stem, ext[f])
                                         : strdup(f == F_PROB ? "prob.tif" : "confidence.tif"));
    size_t px = (size_t)STRIP * (size_t)o->w;
    mw->cls_buf = oom ? NULL : malloc(px * (mw->wide ? 2 : 1));
    if (!oom && (o->prob || o->confidence))
        mw->prob_buf = malloc(px * (size_t)o->k * sizeof(float));
    if (!oom && o->confidence)
        mw->conf_buf = malloc(px * sizeof(float));
    if (oom || !mw->cls_buf || ((o->prob || o->confidence) && !mw->prob_buf)
        || (o->confidence && !mw->conf_buf)) {
        snprintf(err, errlen, "map writer: out of memory");
        oom = 1;
    }
    for (int f = 0; f < F_N && !oom; f++)
        if (mw->name[f] && hsi_output_check(o->dir, mw->name[f], err, errlen))
            oom = 1;   /* not memory: the message says what */
    if (oom) {
        free(mw->tmp);
        mw->tmp = NULL;   /* nothing created yet */
        hsi_mapwriter_abort(mw);
        return NULL;
    }
    hsi_temp_hold();   /* made and registered as one step: a signal removes it or finds none */
    int made = mkdtemp(mw->tmp) != NULL, e = errno;
    if (made)
        mw->tmp_slot = hsi_temp_register(mw->tmp);
    hsi_temp_release();
    if (!made) {
        snprintf(err, errlen, "%s: cannot create a temporary folder there: %s", o->dir,
                 strerror(e));
        free(mw->tmp);
        mw->tmp = NULL;
        hsi_mapwriter_abort(mw);
        return NULL;
    }
    char p[4096];
    int rc = 0;
    if (o->geotiff)
        rc = create_tif(mw, F_TIF, 1, mw->wide ? GDT_UInt16 : GDT_Byte, o->geo, err, errlen)
             || describe_class_band(mw, o, pal, err, errlen);
    if (rc == 0 && o->envi) {
        mw->envi_fd = open(path_of(mw, F_ENVI, 0, p, sizeof p),
                           O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        rc = mw->envi_fd < 0 ? fail(mw, F_ENVI, "cannot create", strerror(errno), err, errlen)
                             : write_envi_header(mw, o, pal, err, errlen);
    }
    if (rc == 0 && o->prob)
        rc = create_tif(mw, F_PROB, o->k, GDT_Float32, o->geo, err, errlen)
             || set_float_nodata(mw, F_PROB, err, errlen);
    if (rc == 0 && o->confidence)
        rc = create_tif(mw, F_CONF, 1, GDT_Float32, o->geo, err, errlen)
             || set_float_nodata(mw, F_CONF, err, errlen);
    if (rc != 0) {
        hsi_mapwriter_abort(mw);
        return NULL;
    }
    return mw;
}

/* ---- rows ---------------------------------------------------------------------------------- */

/* Writes the staged rows (a whole strip, or the last rows of the scene) and flushes GDAL's
 * cache, so that no strip is ever written twice and memory stays at one strip. */
static int write_staged(hsi_mapwriter *mw, char *err, size_t errlen)
{
    const int n = mw->staged, r0 = mw->next_row - n, w = mw->w, k = mw->k;
    char why[700];
    if (n == 0)
        return 0;
    mw->staged = 0;
    if (mw->envi_fd >= 0
        && write_all(mw->envi_fd, mw->cls_buf, (size_t)n * w * (mw->wide ? 2 : 1)) != 0)
        return fail(mw, F_ENVI, "write failed", strerror(errno), err, errlen);
    for (int f = 0; f < F_N; f++) {
        if (!mw->ds[f])
            continue;
        geo_gdal_msgs m;
        geo_gdal_begin(&m);
        CPLErr e;
        if (f == F_TIF)
            e = GDALRasterIO(GDALGetRasterBand(mw->ds[f], 1), GF_Write, 0, r0, w, n, mw->cls_buf,
                             w, n, mw->wide ? GDT_UInt16 : GDT_Byte, 0, 0);
        else if (f == F_CONF)
            e = GDALRasterIO(GDALGetRasterBand(mw->ds[f], 1), GF_Write, 0, r0, w, n, mw->conf_buf,
                             w, n, GDT_Float32, 0, 0);
        else   /* pixel-major [n][w][k] straight into k bands */
            e = GDALDatasetRasterIO(mw->ds[f], GF_Write, 0, r0, w, n, mw->prob_buf, w, n,
                                    GDT_Float32, k, NULL, (int)sizeof(float) * k,
                                    (int)sizeof(float) * k * w, (int)sizeof(float));
        if (e == CE_None)
            GDALFlushCache(mw->ds[f]);
        if (geo_gdal_end(&m) || e != CE_None)
            return fail(mw, f, "write failed", gdal_reason(&m, why, sizeof why), err, errlen);
    }
    return 0;
}

int hsi_mapwriter_rows(hsi_mapwriter *mw, int r0, int n, const int32_t *cls, const float *prob,
                       char *err, size_t errlen)
{
    const int w = mw->w, k = mw->k;
    if (r0 != mw->next_row || n < 1 || n > mw->h - r0 || !cls) {
        snprintf(err, errlen, "map writer: rows %d..%d given, expected rows from %d on (rows "
                 "come in order, each once, up to %d)", r0, r0 + n - 1, mw->next_row, mw->h - 1);
        return -1;
    }
    if (mw->prob_buf && !prob) {
        snprintf(err, errlen, "map writer: probabilities are needed for prob.tif / "
                 "confidence.tif and were not given");
        return -1;
    }
    for (size_t i = 0; i < (size_t)n * w; i++)   /* all checked before any row is taken */
        if (cls[i] < -1 || cls[i] >= k) {
            snprintf(err, errlen, "map writer: class %d at row %d, column %d (expected -1 or "
                     "0..%d)", cls[i], r0 + (int)(i / w), (int)(i % w), k - 1);
            return -1;
        }
    for (int i = 0; i < n; i++) {
        const size_t s = (size_t)mw->staged * w;   /* first pixel of this row in the strip */
        for (int c = 0; c < w; c++) {
            int32_t v = cls[(size_t)i * w + c];
            mw->nodata += v < 0;
            if (mw->wide)
                ((uint16_t *)mw->cls_buf)[s + c] = (uint16_t)(v + 1);
            else
                ((uint8_t *)mw->cls_buf)[s + c] = (uint8_t)(v + 1);
            if (!mw->prob_buf)
                continue;
            float *pd = mw->prob_buf + (s + c) * k;
            const float *ps = prob + ((size_t)i * w + c) * k;
            float best = -1;
            for (int j = 0; j < k; j++) {
                pd[j] = v < 0 ? -1.0f : ps[j];
                best = pd[j] > best ? pd[j] : best;
            }
            if (mw->conf_buf)
                mw->conf_buf[s + c] = best;
        }
        mw->staged++;
        mw->next_row++;
        if ((mw->staged == STRIP || mw->next_row == mw->h) && write_staged(mw, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int64_t hsi_mapwriter_nodata(const hsi_mapwriter *mw)
{
    return mw->nodata;
}

/* ---- close / abort ------------------------------------------------------------------------- */

/* Closes the GDAL datasets (GDAL writes what it still holds here) and the ENVI file, fsyncing
 * every file of the temporary folder. 0, or -1 with the first error. */
static int finish_files(hsi_mapwriter *mw, char *err, size_t errlen)
{
    char why[700], p[4096];
    int rc = 0;
    for (int f = 0; f < F_N; f++) {
        if (!mw->ds[f])
            continue;
        geo_gdal_msgs m;
        geo_gdal_begin(&m);
        GDALClose(mw->ds[f]);
        mw->ds[f] = NULL;
        if (geo_gdal_end(&m) && rc == 0)
            rc = fail(mw, f, "write failed", gdal_reason(&m, why, sizeof why), err, errlen);
    }
    if (mw->envi_fd >= 0) {
        int e = fsync(mw->envi_fd) != 0 ? errno : 0;
        if (close(mw->envi_fd) != 0 && !e)
            e = errno;
        mw->envi_fd = -1;
        if (e && rc == 0)
            rc = fail(mw, F_ENVI, "write failed", strerror(e), err, errlen);
    }
    /* GDAL closes without fsync: sync every file (sidecars included) before any rename. */
    DIR *d = rc == 0 ? opendir(mw->tmp) : NULL;
    for (struct dirent *de; d && rc == 0 && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", mw->tmp, de->d_name);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0) {
            snprintf(err, errlen, "%s/%s: fsync failed: %s (no file was written under that "
                     "name)", mw->dir, de->d_name, strerror(errno));
            rc = -1;
        }
        if (fd >= 0)
            close(fd);
    }
    if (d)
        closedir(d);
    return rc;
}

static void free_writer(hsi_mapwriter *mw)
{
    for (int f = 0; f < F_N; f++)
        free(mw->name[f]);
    free(mw->dir);
    free(mw->tmp);
    free(mw->cls_buf);
    free(mw->prob_buf);
    free(mw->conf_buf);
    free(mw);
}

void hsi_mapwriter_abort(hsi_mapwriter *mw)
{
    if (!mw)
        return;
    geo_gdal_msgs m;
    geo_gdal_begin(&m);   /* errors while giving up are not news */
    for (int f = 0; f < F_N; f++)
        if (mw->ds[f])
            GDALClose(mw->ds[f]);
    geo_gdal_end(&m);
    if (mw->envi_fd >= 0)
        close(mw->envi_fd);
    if (mw->tmp) {
        hsi_move_files(mw->tmp, mw->dir, 0, NULL, 0);   /* the files go, then the folder */
        hsi_temp_unregister(mw->tmp_slot);
    }
    free_writer(mw);
}

int hsi_mapwriter_close(hsi_mapwriter *mw, char *err, size_t errlen)
{
    if (mw->next_row != mw->h) {
        snprintf(err, errlen, "map writer: rows %d..%d were never written; nothing was saved",
                 mw->next_row, mw->h - 1);
        hsi_mapwriter_abort(mw);
        return -1;
    }
    if (finish_files(mw, err, errlen) != 0) {
        hsi_mapwriter_abort(mw);
        return -1;
    }
    hsi_temp_hold();   /* every output renamed, then unregistered, as one step: a signal during
                        * the renames waits, so it never leaves some outputs new and some gone */
    int rc = hsi_move_files(mw->tmp, mw->dir, 1, err, errlen);
    if (rc == 0)
        hsi_temp_unregister(mw->tmp_slot);
    hsi_temp_release();
    if (rc != 0) {   /* a rename failed: the rest stays in the folder, removed here */
        hsi_mapwriter_abort(mw);
        return -1;
    }
    free_writer(mw);
    return 0;
}

const char *hsi_mapwriter_dir(const hsi_mapwriter *mw)
{
    return mw->tmp;
}
