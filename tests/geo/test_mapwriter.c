/* test_mapwriter.c — maps written by rows and read back with GDAL (an independent reader): the
 * class-map GeoTIFF (values, nodata 0, colour table, category names, geotransform, CRS), the
 * ENVI classification (GDAL's ENVI driver: the same plus class names and lookup), probability
 * and confidence GeoTIFFs; georeferences from UTM, rotated and GeoTIFF inputs, none, and a
 * malformed one; uint16 maps for k >= 255; misuse; and write failures (file size limit here,
 * a full tmpfs with --diskfull) that leave no file under a final name and no temporaries.
 *   test_geo_mapwriter                 all of the above but the full disk
 *   test_geo_mapwriter --write-only D  writes the UTM case into D (for the gdalinfo test)
 *   test_geo_mapwriter --diskfull      the full-disk case (exit 77 if no tmpfs can be mounted) */
#include "tdata.h"   /* first: it sets the POSIX feature level */

#include <dirent.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "hsi_eval.h"
#include "hsi_geo.h"

enum { H = 37, W = 23, K = 5 };
static const char *names[K] = {"Corn", "Soy, beans", "Wheat", "Grass{x}", "Water"};
static const uint8_t pal[K][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {9, 8, 7}, {1, 2, 3}};
static const char utm_map_info[] =
    "UTM, 1.000, 1.000, 724500.0, 3715300.0, 3.0000000000e+001, 3.0000000000e+001, 11, North, "
    "WGS-84, units=Meters";

/* The class of pixel (r, c) among k; -1 (nodata) on a diagonal pattern. */
static int32_t cls_at(int r, int c, int k)
{
    return (r * 7 + c * 3) % 9 == 0 ? -1 : (r + 2 * c) % k;
}

/* A pseudo-random weight (hash of the position), so that DEFLATE cannot shrink the floats. */
static double weight(int r, int c, int j)
{
    uint32_t x = (uint32_t)r * 2654435761u ^ (uint32_t)c * 2246822519u ^ (uint32_t)j * 3266489917u;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return (x % 100000) + 1;
}

/* A softmax-like distribution (sums to 1) per pixel. */
static float prob_at(int r, int c, int j, int k)
{
    double s = 0;
    for (int i = 0; i < k; i++)
        s += weight(r, c, i);
    return (float)(weight(r, c, j) / s);
}

/* The scene in uneven blocks (5, 1, 13, 2, 16 rows, ...): 0, or -1 with err (writer aborted). */
static int write_scene(const hsi_mapwriter_opts *o, int64_t *nodata, char *err, size_t errlen)
{
    hsi_mapwriter *mw = hsi_mapwriter_open(o, err, errlen);
    if (!mw)
        return -1;
    static const int blocks[] = {5, 1, 13, 2, 16};
    int32_t *cls = malloc(sizeof *cls * 16 * o->w);
    float *prob = malloc(sizeof *prob * 16 * o->w * o->k);
    for (int r0 = 0, b = 0; r0 < o->h; b++) {
        int n = blocks[b % 5] < o->h - r0 ? blocks[b % 5] : o->h - r0;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < o->w; c++) {
                cls[i * o->w + c] = cls_at(r0 + i, c, o->k);
                for (int j = 0; j < o->k; j++)
                    prob[((size_t)i * o->w + c) * o->k + j] = prob_at(r0 + i, c, j, o->k);
            }
        if (hsi_mapwriter_rows(mw, r0, n, cls, prob, err, errlen) != 0) {
            hsi_mapwriter_abort(mw);
            free(cls);
            free(prob);
            return -1;
        }
        r0 += n;
    }
    free(cls);
    free(prob);
    if (nodata)
        *nodata = hsi_mapwriter_nodata(mw);
    return hsi_mapwriter_close(mw, err, errlen);
}

/* The names in dir, sorted, joined by spaces. */
static const char *listing(const char *dir, char *buf, size_t n)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -A %s | sort | tr '\\n' ' '", dir);
    FILE *p = popen(cmd, "r");
    buf[0] = 0;
    if (p) {
        size_t k = fread(buf, 1, n - 1, p);
        buf[k] = 0;
        pclose(p);
    }
    return buf;
}

static void check_listing(const char *dir, const char *want, const char *what)
{
    char got[1024];
    if (strcmp(listing(dir, got, sizeof got), want) != 0) {
        fprintf(stderr, "%s: files '%s', want '%s'\n", what, got, want);
        t_failures++;
    }
}

static int same_crs(const char *a, const char *b)
{
    if (!a || !b || !*a || !*b)
        return (!a || !*a) && (!b || !*b);
    OGRSpatialReferenceH x = OSRNewSpatialReference(a), y = OSRNewSpatialReference(b);
    int same = x && y && OSRIsSame(x, y);
    OSRDestroySpatialReference(x);
    OSRDestroySpatialReference(y);
    return same;
}

/* The georeference of ds equals geo (or ds has none when geo is NULL / empty). */
static void check_georef(GDALDatasetH ds, const hsi_georef *geo, const char *what)
{
    double gt[6];
    int has = GDALGetGeoTransform(ds, gt) == CE_None;
    if (has != (geo && geo->has_transform)) {
        fprintf(stderr, "%s: has a geotransform: %d, want %d\n", what, has,
                geo && geo->has_transform);
        t_failures++;
    }
    for (int i = 0; has && geo && geo->has_transform && i < 6; i++)
        if (fabs(gt[i] - geo->gt[i]) > 1e-9 * (1 + fabs(geo->gt[i]))) {
            fprintf(stderr, "%s: gt[%d] = %.17g, want %.17g\n", what, i, gt[i], geo->gt[i]);
            t_failures++;
        }
    if (!same_crs(GDALGetProjectionRef(ds), geo ? geo->wkt : NULL)) {
        fprintf(stderr, "%s: CRS '%s', want '%s'\n", what, GDALGetProjectionRef(ds),
                geo && geo->wkt ? geo->wkt : "");
        t_failures++;
    }
}

/* A class map (GeoTIFF or ENVI) read back: values class+1 / 0, colours, names, georeference. */
static void check_class_map(const char *path, const hsi_mapwriter_opts *o, const char *unclassified)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK(GDALGetRasterXSize(ds) == o->w && GDALGetRasterYSize(ds) == o->h);
    /* First: GDAL 3.6's GeoTIFF driver loads the .aux.xml (category names) only once something
     * asks for the georeference, as gdalinfo and GIS programs do. */
    check_georef(ds, o->geo, path);
    GDALRasterBandH b = GDALGetRasterBand(ds, 1);
    CHECK(GDALGetRasterDataType(b) == (o->k >= 255 ? GDT_UInt16 : GDT_Byte));
    uint16_t *v = malloc(sizeof *v * o->h * o->w);
    CHECK(GDALRasterIO(b, GF_Read, 0, 0, o->w, o->h, v, o->w, o->h, GDT_UInt16, 0, 0) == CE_None);
    int bad = 0;
    for (int r = 0; r < o->h; r++)
        for (int c = 0; c < o->w; c++)
            bad += v[r * o->w + c] != cls_at(r, c, o->k) + 1;
    if (bad) {
        fprintf(stderr, "%s: %d pixels differ\n", path, bad);
        t_failures++;
    }
    free(v);
    char **cat = GDALGetRasterCategoryNames(b);
    if (!cat || CSLCount(cat) != o->k + 1) {
        fprintf(stderr, "%s: %d category names, want %d\n", path, cat ? CSLCount(cat) : -1,
                o->k + 1);
        t_failures++;
    }
    if (cat && CSLCount(cat) == o->k + 1) {
        CHECK_HAS(cat[0], unclassified);
        for (int c = 0; c < o->k; c += 2) {   /* 0, 2, 4: names without separators */
            char gen[32];
            snprintf(gen, sizeof gen, "class %d", c);
            CHECK_HAS(cat[c + 1], o->class_names ? o->class_names[c] : gen);
        }
    }
    const uint8_t (*pal)[3] = o->palette ? o->palette : (const uint8_t (*)[3])hsi_default_palette;
    GDALColorTableH ct = GDALGetRasterColorTable(b);
    CHECK(ct && GDALGetColorEntryCount(ct) >= o->k + 1);
    for (int c = 0; ct && c < o->k; c += o->k / 7 + 1) {
        const GDALColorEntry *e = GDALGetColorEntry(ct, c + 1);
        CHECK(e && e->c1 == pal[c][0] && e->c2 == pal[c][1] && e->c3 == pal[c][2]);
    }
    GDALClose(ds);
}

static void check_nodata0(const char *path)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    int has = 0;
    CHECK(ds && GDALGetRasterNoDataValue(GDALGetRasterBand(ds, 1), &has) == 0 && has);
    if (ds)
        GDALClose(ds);
}

/* prob.tif (k bands) and confidence.tif: the probabilities, their maximum, -1 at nodata. */
static void check_prob(const char *dir, const hsi_mapwriter_opts *o)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/prob.tif", dir);
    GDALDatasetH pd = GDALOpen(p, GA_ReadOnly);
    snprintf(p, sizeof p, "%s/confidence.tif", dir);
    GDALDatasetH cd = GDALOpen(p, GA_ReadOnly);
    CHECK(pd && cd && GDALGetRasterCount(pd) == o->k && GDALGetRasterCount(cd) == 1);
    if (!pd || !cd || GDALGetRasterCount(pd) != o->k)
        return;
    float *x = malloc(sizeof *x * o->h * o->w * (o->k + 1));
    CHECK(GDALDatasetRasterIO(pd, GF_Read, 0, 0, o->w, o->h, x, o->w, o->h, GDT_Float32, o->k,
                              NULL, 0, 0, 0) == CE_None);
    float *conf = x + (size_t)o->h * o->w * o->k;
    CHECK(GDALRasterIO(GDALGetRasterBand(cd, 1), GF_Read, 0, 0, o->w, o->h, conf, o->w, o->h,
                       GDT_Float32, 0, 0) == CE_None);
    int bad = 0;
    for (int r = 0; r < o->h; r++)
        for (int c = 0; c < o->w; c++) {
            int nd = cls_at(r, c, o->k) < 0;
            float best = -1;
            for (int j = 0; j < o->k; j++) {
                float want = nd ? -1.0f : prob_at(r, c, j, o->k);
                bad += x[((size_t)j * o->h + r) * o->w + c] != want;
                best = want > best ? want : best;
            }
            bad += conf[r * o->w + c] != best;
        }
    if (bad) {
        fprintf(stderr, "%s: %d probability / confidence values differ\n", dir, bad);
        t_failures++;
    }
    int has = 0;
    CHECK(GDALGetRasterNoDataValue(GDALGetRasterBand(cd, 1), &has) == -1 && has);
    check_georef(pd, o->geo, "prob.tif");
    check_georef(cd, o->geo, "confidence.tif");
    free(x);
    GDALClose(pd);
    GDALClose(cd);
}

/* Writes with o into a fresh folder and checks every output. */
static void check_case(const char *base, const char *name, hsi_mapwriter_opts *o)
{
    char dir[256], p[300], err[1024];
    snprintf(dir, sizeof dir, "%s/%s", base, name);
    CHECK(mkdir(dir, 0700) == 0);
    o->dir = dir;
    int64_t nd = -1;
    if (write_scene(o, &nd, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err);
        t_failures++;
        return;
    }
    int64_t want_nd = 0;
    for (int r = 0; r < o->h; r++)
        for (int c = 0; c < o->w; c++)
            want_nd += cls_at(r, c, o->k) < 0;
    CHECK_EQ(nd, want_nd);
    snprintf(p, sizeof p, "%s%s%s%s", o->confidence ? "confidence.tif " : "",
             o->envi ? "map.envi map.hdr " : "", o->geotiff ? "map.tif map.tif.aux.xml " : "",
             o->prob ? "prob.tif " : "");
    check_listing(dir, p, name);
    if (o->geotiff) {
        snprintf(p, sizeof p, "%s/map.tif", dir);
        check_class_map(p, o, "unclassified");
        check_nodata0(p);
    }
    if (o->envi) {
        snprintf(p, sizeof p, "%s/map.envi", dir);
        check_class_map(p, o, "Unclassified");
        check_nodata0(p);   /* GDAL read no nodata from map.hdr: 0 was a class in QGIS */
    }
    if (o->prob && o->confidence)
        check_prob(dir, o);
}

static hsi_mapwriter_opts base_opts(void)
{
    hsi_mapwriter_opts o = {.stem = "map", .h = H, .w = W, .k = K, .class_names = names,
                            .palette = pal, .geotiff = 1, .envi = 1};
    return o;
}

/* A GeoTIFF with geotransform gt and EPSG:epsg, read back as a georeference. */
static void georef_of_tif(const char *dir, const double gt[6], int epsg, hsi_georef *g)
{
    char p[300], warn[256];
    snprintf(p, sizeof p, "%s/src.tif", dir);
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), p, 4, 3, 1, GDT_Byte, NULL);
    GDALSetGeoTransform(ds, (double *)gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, epsg);
    char *wkt = NULL;
    OSRExportToWkt(srs, &wkt);
    GDALSetProjection(ds, wkt);
    GDALClose(ds);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
    CHECK(hsi_georef_from_file(p, g, warn, sizeof warn) == 0);
    remove(p);
}

static void test_outputs(const char *base)
{
    char warn[512];
    hsi_mapwriter_opts o = base_opts();
    hsi_georef utm, rot, none, tif1, tif2;

    hsi_georef_from_envi(utm_map_info, NULL, &utm, warn, sizeof warn);
    CHECK(warn[0] == 0 && utm.has_transform && utm.wkt);
    o.geo = &utm;
    o.prob = o.confidence = 1;
    check_case(base, "utm", &o);

    o = base_opts();
    hsi_georef_from_envi("UTM, 1, 1, 500000.0, 4000000.0, 10.0, 10.0, 33, North, WGS-84, "
                         "units=Meters, rotation=30.0", NULL, &rot, warn, sizeof warn);
    o.geo = &rot;
    check_case(base, "rotated", &o);

    /* A window of a scene whose map info has a rotation and another reference pixel: the
     * geotransform moved to the window's corner, the input's map info text kept (as a program
     * cutting a window of hsi_envi_georef gets it). map.hdr said the input's corner and
     * reference pixel, which GDAL reads elsewhere: both class maps must read as the window. */
    hsi_georef win;
    o = base_opts();
    hsi_georef_from_envi("UTM, 2.5, 4.5, 500000.0, 4000000.0, 10.0, 10.0, 33, North, WGS-84, "
                         "rotation=30.0", NULL, &win, warn, sizeof warn);
    CHECK(win.has_transform && win.envi_map_info);
    win.gt[0] += 2 * win.gt[1] + 3 * win.gt[2];   /* from column 2, row 3 on */
    win.gt[3] += 2 * win.gt[4] + 3 * win.gt[5];
    o.geo = &win;
    check_case(base, "window", &o);
    hsi_georef_free(&win);

    /* From GeoTIFFs: the ENVI header gets a map info and an ESRI WKT written from them. */
    static const double gt1[6] = {300000, 8.6602540378443873, 5, 5000000, 5, -8.6602540378443873};
    static const double gt2[6] = {300000, 2, 0, 5000000, 0, -3};
    georef_of_tif(base, gt1, 32633, &tif1);
    georef_of_tif(base, gt2, 32611, &tif2);
    o.geo = &tif1;
    check_case(base, "from_tif_rotated", &o);
    o.geo = &tif2;
    check_case(base, "from_tif", &o);

    /* Malformed map info: outputs without georeference. */
    hsi_georef_from_envi("UTM, 1.0, 1.0, 724522.1, 3715308.9, 30.0", NULL, &none, warn,
                         sizeof warn);
    CHECK_HAS(warn, "malformed");
    o.geo = &none;
    check_case(base, "malformed", &o);
    char p[300], *hdr = NULL;
    size_t len = 0;
    snprintf(p, sizeof p, "%s/malformed/map.hdr", base);
    FILE *f = fopen(p, "r");
    CHECK(f && getdelim(&hdr, &len, 0, f) > 0);
    CHECK(hdr && !strstr(hdr, "map info") && !strstr(hdr, "coordinate system"));
    CHECK(hdr && strstr(hdr, "class names = {Unclassified, Corn, Soy  beans, Wheat, Grass x , "
                             "Water}\nclass lookup = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, "
                             "9, 8, 7, 1, 2, 3}\n"));
    free(hdr);
    if (f)
        fclose(f);

    /* No georeference, no names, the default palette. */
    o = base_opts();
    o.class_names = NULL;
    o.palette = NULL;
    o.envi = 0;
    check_case(base, "plain_defaults", &o);

    /* k >= 255: uint16 maps, ENVI data type 12. */
    enum { KW = 300 };
    static uint8_t wide_pal[KW][3];
    for (int c = 0; c < KW; c++) {
        wide_pal[c][0] = (uint8_t)c;
        wide_pal[c][1] = (uint8_t)(c * 7);
        wide_pal[c][2] = (uint8_t)(255 - c);
    }
    o = base_opts();
    o.k = KW;
    o.class_names = NULL;
    o.palette = (const uint8_t (*)[3])wide_pal;
    o.geo = &utm;
    check_case(base, "wide", &o);

    hsi_georef_free(&utm);
    hsi_georef_free(&rot);
    hsi_georef_free(&tif1);
    hsi_georef_free(&tif2);
    hsi_georef_free(&none);
}

/* ---- misuse and write failures ------------------------------------------------------------- */

static void test_misuse(const char *base)
{
    char dir[300], err[1024];
    snprintf(dir, sizeof dir, "%s/misuse", base);
    CHECK(mkdir(dir, 0700) == 0);
    hsi_mapwriter_opts o = base_opts();
    o.dir = dir;
    o.prob = 1;
    int32_t cls[2 * W] = {0};
    float prob[2 * W * K] = {0};
    hsi_mapwriter *mw = hsi_mapwriter_open(&o, err, sizeof err);
    CHECK(mw != NULL);
    if (!mw)
        return;
    CHECK(hsi_mapwriter_rows(mw, 3, 2, cls, prob, err, sizeof err) == -1);
    CHECK_HAS(err, "rows 3..4 given, expected rows from 0 on");
    CHECK(hsi_mapwriter_rows(mw, 0, 2, cls, NULL, err, sizeof err) == -1);
    CHECK_HAS(err, "probabilities are needed");
    cls[W + 4] = K;
    CHECK(hsi_mapwriter_rows(mw, 0, 2, cls, prob, err, sizeof err) == -1);
    CHECK_HAS(err, "class 5 at row 1, column 4 (expected -1 or 0..4)");
    cls[W + 4] = -1;
    CHECK(hsi_mapwriter_rows(mw, 0, 2, cls, prob, err, sizeof err) == 0);
    CHECK_EQ(hsi_mapwriter_nodata(mw), 1);
    CHECK(hsi_mapwriter_close(mw, err, sizeof err) == -1);   /* 35 rows missing */
    CHECK_HAS(err, "rows 2..36 were never written; nothing was saved");
    check_listing(dir, "", "close with rows missing");

    mw = hsi_mapwriter_open(&o, err, sizeof err);
    CHECK(mw && hsi_mapwriter_rows(mw, 0, 2, cls, prob, err, sizeof err) == 0);
    hsi_mapwriter_abort(mw);
    check_listing(dir, "", "abort");
    hsi_mapwriter_abort(NULL);

    o.k = 0;
    CHECK(hsi_mapwriter_open(&o, err, sizeof err) == NULL);
    CHECK_HAS(err, "bad options");
    o = base_opts();
    o.stem = "a/b";
    o.dir = dir;
    CHECK(hsi_mapwriter_open(&o, err, sizeof err) == NULL);
    o = base_opts();
    o.k = 40;
    o.palette = NULL;
    o.dir = dir;
    CHECK(hsi_mapwriter_open(&o, err, sizeof err) == NULL);
    CHECK_HAS(err, "40 classes need a palette");
    o = base_opts();
    o.dir = "/nonexistent/folder";
    CHECK(hsi_mapwriter_open(&o, err, sizeof err) == NULL);
    CHECK_HAS(err, "/nonexistent/folder: cannot create a temporary folder there");
}

/* A scene too large for where it goes: the error names `file` and says `why`; nothing is left
 * in the folder, not even temporaries. o->dir exists. */
static void expect_write_failure(hsi_mapwriter_opts *o, const char *file, const char *why)
{
    char err[1024], want[300];
    CHECK(write_scene(o, NULL, err, sizeof err) == -1);
    printf("expected error: %s\n", err);
    snprintf(want, sizeof want, "%s/%s: ", o->dir, file);
    CHECK_HAS(err, want);
    CHECK_HAS(err, why);
    CHECK_HAS(err, "no file was written under that name");
    check_listing(o->dir, "", file);
}

/* Options for a scene whose probabilities (incompressible floats) take about 2.5 MB. */
static hsi_mapwriter_opts big_opts(const char *dir, int envi_only)
{
    hsi_mapwriter_opts o = base_opts();
    o.dir = dir;
    o.h = 400;
    o.w = 400;
    o.geotiff = !envi_only;
    o.envi = envi_only;
    o.prob = !envi_only;
    return o;
}

static void test_file_size_limit(const char *base)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/fsize", base);
    CHECK(mkdir(dir, 0700) == 0);
    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 64 * 1024;   /* the soft limit only, so that it can be raised back */
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    hsi_mapwriter_opts o = big_opts(dir, 1);
    expect_write_failure(&o, "map.envi", "File too large");   /* write(2) of the ENVI rows */
    o = big_opts(dir, 0);
    expect_write_failure(&o, "prob.tif", "File too large");   /* inside GDAL */
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
}

static int test_disk_full(void)
{
    char dir[64], cmd[256];
    t_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=64k tmpfs %s 2>/dev/null", dir);
    if (system(cmd) != 0) {
        printf("geo.mapwriter_diskfull: skipped (mounting a small tmpfs needs root)\n");
        rmdir(dir);
        return 77;
    }
    hsi_mapwriter_opts o = big_opts(dir, 1);
    expect_write_failure(&o, "map.envi", "No space left on device");
    o = big_opts(dir, 0);
    expect_write_failure(&o, "prob.tif", "No space left on device");
    snprintf(cmd, sizeof cmd, "umount %s", dir);
    CHECK(system(cmd) == 0);
    rmdir(dir);
    return t_done("geo.mapwriter_diskfull");
}

int main(int argc, char **argv)
{
    char dir[64];
    GDALAllRegister();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if (argc == 2 && strcmp(argv[1], "--diskfull") == 0)
        return test_disk_full();
    if (argc == 3 && strcmp(argv[1], "--write-only") == 0) {
        hsi_georef utm;
        char warn[512], err[1024];
        hsi_georef_from_envi(utm_map_info, NULL, &utm, warn, sizeof warn);
        hsi_mapwriter_opts o = base_opts();
        o.dir = argv[2];
        o.geo = &utm;
        int rc = write_scene(&o, NULL, err, sizeof err);
        if (rc != 0)
            fprintf(stderr, "%s\n", err);
        hsi_georef_free(&utm);
        return rc ? 1 : 0;
    }
    t_tmpdir(dir, sizeof dir);
    test_outputs(dir);
    test_misuse(dir);
    test_file_size_limit(dir);
    t_rmtree(dir);
    return t_done("geo.mapwriter");
}
