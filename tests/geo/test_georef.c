/* test_georef.c — georeferences from ENVI headers, checked against an independent reader: GDAL's
 * own ENVI driver opening the same files (geotransform within 1e-9, CRS equal by OSRIsSame) for
 * UTM, shifted reference pixels, rotation, geographic and ESRI-WKT headers; a rotation about a
 * reference pixel other than (1, 1) against the definition; malformed values giving a warning
 * and no georeference; hsi_georef_from_file on GeoTIFFs with and without one. */
#include "tdata.h"   /* first: it sets the POSIX feature level */

#include <math.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "tenvi.h"

#include "hsi_geo.h"

static double val(int r, int c, int b) { return r + c + b; }

static char dir[64];

/* Writes an 3 x 4 x 1 ENVI file with `extra` header lines; path of the header in hdr. */
static void write_envi(const char *name, const char *extra, char *hdr, size_t n)
{
    char stem[256];
    snprintf(stem, sizeof stem, "%s/%s", dir, name);
    t_envi_write(stem, ".img", 1, "bsq", 0, 0, 3, 4, 1, val, extra);
    snprintf(hdr, n, "%s.hdr", stem);
}

static int same_crs(const char *a, const char *b)
{
    if (!a || !b || !*a || !*b)
        return 0;
    OGRSpatialReferenceH x = OSRNewSpatialReference(a), y = OSRNewSpatialReference(b);
    int same = x && y && OSRIsSame(x, y);
    OSRDestroySpatialReference(x);
    OSRDestroySpatialReference(y);
    return same;
}

static int same_gt(const double *a, const double *b)
{
    for (int i = 0; i < 6; i++)
        if (fabs(a[i] - b[i]) > 1e-9 * (1 + fabs(b[i])))
            return 0;
    return 1;
}

/* The stream's georeference equals what GDAL's ENVI driver reads from the same file. */
static void check_like_gdal(const char *name, const char *extra)
{
    char hdr[300], img[300], err[1024];
    write_envi(name, extra, hdr, sizeof hdr);
    snprintf(img, sizeof img, "%s/%s.img", dir, name);
    hsi_envi_stream *s = hsi_envi_open(hdr, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    const hsi_georef *g = hsi_envi_georef(s);
    if (*hsi_envi_warning(s)) {
        fprintf(stderr, "%s: unexpected warning: %s\n", name, hsi_envi_warning(s));
        t_failures++;
    }
    GDALDatasetH ds = GDALOpen(img, GA_ReadOnly);
    CHECK(ds != NULL);
    double gt[6];
    CHECK(ds && GDALGetGeoTransform(ds, gt) == CE_None);
    if (!g->has_transform || !same_gt(g->gt, gt)) {
        fprintf(stderr, "%s: geotransform %.17g %.17g %.17g %.17g %.17g %.17g, GDAL says %.17g "
                "%.17g %.17g %.17g %.17g %.17g\n", name, g->gt[0], g->gt[1], g->gt[2], g->gt[3],
                g->gt[4], g->gt[5], gt[0], gt[1], gt[2], gt[3], gt[4], gt[5]);
        t_failures++;
    }
    if (!same_crs(g->wkt, ds ? GDALGetProjectionRef(ds) : NULL)) {
        fprintf(stderr, "%s: CRS differs:\n%s\nGDAL:\n%s\n", name, g->wkt ? g->wkt : "(none)",
                ds ? GDALGetProjectionRef(ds) : "");
        t_failures++;
    }
    CHECK(g->envi_map_info && strstr(extra, g->envi_map_info));
    if (ds)
        GDALClose(ds);
    hsi_envi_close(s);
}

static const char esri_utm33s[] =
    "PROJCS[\"WGS_1984_UTM_Zone_33S\",GEOGCS[\"GCS_WGS_1984\",DATUM[\"D_WGS_1984\","
    "SPHEROID[\"WGS_1984\",6378137.0,298.257223563]],PRIMEM[\"Greenwich\",0.0],"
    "UNIT[\"Degree\",0.0174532925199433]],PROJECTION[\"Transverse_Mercator\"],"
    "PARAMETER[\"False_Easting\",500000.0],PARAMETER[\"False_Northing\",10000000.0],"
    "PARAMETER[\"Central_Meridian\",15.0],PARAMETER[\"Scale_Factor\",0.9996],"
    "PARAMETER[\"Latitude_Of_Origin\",0.0],UNIT[\"Meter\",1.0]]";

static void test_like_gdal(void)
{
    char extra[2048];
    check_like_gdal("utm", "map info = {UTM, 1.000, 1.000, 724522.127, 3715308.948, "
                           "3.0000000000e+000, 3.0000000000e+000, 11, North, WGS-84, "
                           "units=Meters}\n");
    check_like_gdal("utm_ref", "map info = {UTM, 2.5, 3.5, 500000, 4000000, 20, 10, 33, "
                               "South, WGS-84, units=Meters}\n");
    /* Square pixels: GDAL 3.6 scales the rotation terms by the x size only (for dx != dy its
     * column and row steps are not dx and dy long); test_rotation_about_reference checks
     * non-square pixels against the definition. */
    check_like_gdal("rot", "map info = {UTM, 1, 1, 500000.0, 4000000.0, 10.0, 10.0, 33, North, "
                           "WGS-84, units=Meters, rotation=30.0}\n");
    check_like_gdal("nad83", "map info = {UTM, 1, 1, 300000, 5000000, 1, 1, 17, North, "
                             "North America 1983, units=Meters}\n");
    check_like_gdal("geog", "map info = {Geographic Lat/Lon, 1.0, 1.0, -120.5, 38.25, "
                            "0.001, 0.002, WGS-84, units=Degrees}\n");
    /* Coordinates in the map info's units: a CRS in metres under them put the map 3.28 times
     * (feet) or 1000 times (km) too far from the origin */
    check_like_gdal("feet", "map info = {UTM, 1, 1, 1916000.0, 13320000.0, 12.0, 12.0, 10, "
                            "North, WGS-84, units=Feet}\n");
    check_like_gdal("km", "map info = {UTM, 1, 1, 584.0, 4060.0, 0.03, 0.03, 33, South, "
                          "North America 1983, units=Km}\n");
    check_like_gdal("yards", "map info = {UTM, 1, 1, 638000.0, 4440000.0, 30, 30, 17, North, "
                             "WGS-84, units=Yards}\n");
    snprintf(extra, sizeof extra, "map info = {UTM, 1, 1, 400000, 9000000, 5, 5, 33, South, "
             "WGS-84}\ncoordinate system string = {%s}\n", esri_utm33s);
    check_like_gdal("esri", extra);
    /* A projection ENVI names that we do not build, but with its WKT: the WKT is used. */
    snprintf(extra, sizeof extra, "map info = {Arbitrary, 1, 1, 400000, 9000000, 5, 5}\n"
             "coordinate system string = {%s}\n", esri_utm33s);
    check_like_gdal("arb", extra);
}

static void test_rotation_about_reference(void)
{
    /* Rotated 90 degrees about reference pixel (3, 2): the corner of 0-based pixel (2, 1) is at
     * (E, N); columns run north, rows run east. */
    hsi_georef g;
    char warn[512];
    hsi_georef_from_envi("UTM, 3, 2, 1000, 2000, 10, 4, 11, North, WGS-84, rotation=90", NULL,
                         &g, warn, sizeof warn);
    /* GDAL's ENVI reader places this one elsewhere (non-square pixels, reference (3, 2)): said */
    CHECK(strstr(warn, "rotated with non-square pixels; GDAL's ENVI reader") && g.has_transform);
    double x = g.gt[0] + 2 * g.gt[1] + 1 * g.gt[2], y = g.gt[3] + 2 * g.gt[4] + 1 * g.gt[5];
    CHECK(fabs(x - 1000) < 1e-9 && fabs(y - 2000) < 1e-9);
    CHECK(fabs(g.gt[1]) < 1e-12 && fabs(g.gt[4] - 10) < 1e-12);   /* one column: 10 m north */
    CHECK(fabs(g.gt[2] - 4) < 1e-12 && fabs(g.gt[5]) < 1e-12);    /* one row: 4 m east */
    hsi_georef c;
    CHECK(hsi_georef_copy(&c, &g, warn, sizeof warn) == 0);
    CHECK(same_gt(c.gt, g.gt) && strcmp(c.wkt, g.wkt) == 0 && c.wkt != g.wkt);
    CHECK(strcmp(c.envi_map_info, g.envi_map_info) == 0 && !c.envi_cs);
    hsi_georef_free(&c);
    hsi_georef_free(&g);
    hsi_georef_free(&g);   /* twice is fine */
}

static void test_malformed(void)
{
    static const struct {
        const char *map_info, *cs, *want;
        int transform;
    } bad[] = {
        {"UTM, 1, 1, abc, 3715308, 30, 30, 11, North, WGS-84", NULL, "not a number", 0},
        {"UTM, 1, 1", NULL, "fewer than 7 fields", 0},
        {"UTM, 1, 1, 5, 6, 0, 30, 11, North", NULL, "pixel size is not positive", 0},
        {"UTM, 1, 1, 5, 6, -30, 30, 11, North", NULL, "pixel size is not positive", 0},
        {"UTM, 1, 1, 5, 6, 30, 30, 11, North, WGS-84, rotation=x", NULL, "rotation", 0},
        {"UTM, 1, 1, 5, 6, 30, 30, 11, North, WGS-84", "PROJCS[\"broken\"", "not a CRS", 1},
        {"UTM, 1, 1, 5, 6, 30, 30, 99, North, WGS-84", NULL, "UTM zone", 1},
        {"UTM, 1, 1, 5, 6, 30, 30, 11, Up, WGS-84", NULL, "hemisphere", 1},
        {"UTM, 1, 1, 5, 6, 30, 30, 11, North, Clarke 1866", NULL, "datum", 1},
        {"UTM, 1, 1, 5, 6, 30, 30, 11, North", NULL, "names no datum", 1},
        {"UTM, 1, 1, 5, 6, 30, 30, 11, North, units=Meters", NULL, "names no datum", 1},
        {"UTM, 1, 1, 5, 6, 30, 30, 11, North, WGS-84, units=Furlongs", NULL, "units=", 1},
        {"Geographic Lat/Lon, 1, 1, 5, 6, 0.1, 0.1, WGS-84, units=Radians", NULL, "units=", 1},
        {"State Plane (NAD 83), 1, 1, 5, 6, 30, 30", NULL, "no 'coordinate system string'", 1},
        {NULL, "/etc/passwd", "not a CRS", 0},   /* a file name is not read as a CRS */
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        hsi_georef g;
        char warn[512];
        hsi_georef_from_envi(bad[k].map_info, bad[k].cs, &g, warn, sizeof warn);
        CHECK_HAS(warn, bad[k].want);
        CHECK_EQ(g.has_transform, bad[k].transform);
        CHECK(!g.wkt && !g.envi_cs);
        CHECK(bad[k].transform ? g.envi_map_info != NULL : g.envi_map_info == NULL);
        hsi_georef_free(&g);
    }
    /* Through the stream: a warning, the pixels read, no georeference. */
    char hdr[300], err[1024];
    write_envi("malformed", "map info = {UTM, 1.0, 1.0, 724522.1, 3715308.9, 30.0}\n", hdr,
               sizeof hdr);
    hsi_envi_stream *s = hsi_envi_open(hdr, err, sizeof err);
    CHECK(s != NULL);
    if (s) {
        CHECK_HAS(hsi_envi_warning(s), "map info = {UTM, 1.0, 1.0, 724522.1, 3715308.9, 30.0} "
                                       "is malformed");
        CHECK_HAS(hsi_envi_warning(s), "no georeference");
        CHECK(hsi_envi_georef(s)->has_transform == 0 && !hsi_envi_georef(s)->envi_map_info);
        float x[12];
        CHECK(hsi_envi_read_rows(s, 0, 3, x, NULL, err, sizeof err) == 0 && x[11] == 5);
        hsi_envi_close(s);
    }
}

static void test_from_file(void)
{
    char p[300], warn[512];
    snprintf(p, sizeof p, "%s/g.tif", dir);
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), p, 4, 3, 1, GDT_Byte, NULL);
    double gt[6] = {300000, 2, 0.5, 5000000, 0.25, -2};
    GDALSetGeoTransform(ds, gt);
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(srs, 32611);
    char *wkt = NULL;
    OSRExportToWkt(srs, &wkt);
    GDALSetProjection(ds, wkt);
    GDALClose(ds);
    hsi_georef g;
    CHECK(hsi_georef_from_file(p, &g, warn, sizeof warn) == 0);
    CHECK(warn[0] == 0 && g.has_transform && same_gt(g.gt, gt) && same_crs(g.wkt, wkt));
    CHECK(!g.envi_map_info && !g.envi_cs);
    hsi_georef_free(&g);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);

    snprintf(p, sizeof p, "%s/plain.tif", dir);
    GDALClose(GDALCreate(GDALGetDriverByName("GTiff"), p, 4, 3, 1, GDT_Byte, NULL));
    CHECK(hsi_georef_from_file(p, &g, warn, sizeof warn) == 0);
    CHECK(!g.has_transform && !g.wkt);
    CHECK_HAS(warn, "no georeference");
    snprintf(p, sizeof p, "%s/not_a_raster.txt", dir);
    t_write(p, "w", "hello\n");
    CHECK(hsi_georef_from_file(p, &g, warn, sizeof warn) == -1);
    CHECK_HAS(warn, "GDAL cannot open it");
}

int main(void)
{
    t_tmpdir(dir, sizeof dir);
    GDALAllRegister();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    test_like_gdal();
    test_rotation_about_reference();
    test_malformed();
    test_from_file();
    t_rmtree(dir);
    return t_done("geo.georef");
}
