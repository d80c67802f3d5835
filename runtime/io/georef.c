/* georef.c — georeferences: ENVI 'map info' parsed into a GDAL geotransform, the CRS from the
 * 'coordinate system string' or built with OSR for UTM / geographic map infos, the same read
 * from any raster through GDAL, and the way back (map info and ESRI WKT for ENVI outputs). A
 * malformed value never fails a read: it becomes a warning and an empty georeference. It does
 * not reproject, and handles no ENVI projection by name other than UTM and Geographic Lat/Lon
 * (the others need a coordinate system string to get a CRS). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "geo_gdal.h"
#include "geo_internal.h"

#define HSI_PI 3.14159265358979323846

/* ---- GDAL messages ------------------------------------------------------------------------- */

static void CPL_STDCALL gdal_handler(CPLErr cls, CPLErrorNum no, const char *msg)
{
    int e = errno;
    (void)no;
    geo_gdal_msgs *m = CPLGetErrorHandlerUserData();
    if (m && (cls == CE_Failure || cls == CE_Fatal) && !m->failed) {
        m->failed = 1;
        m->sys_errno = e == ENOSPC || e == EFBIG || e == EDQUOT || e == EIO ? e : 0;
        snprintf(m->first, sizeof m->first, "%s", msg ? msg : "GDAL error");
    }
}

int geo_gdal_begin(geo_gdal_msgs *m)
{
    memset(m, 0, sizeof *m);
    if (geo_gdal_load(m->first, sizeof m->first)) {
        m->failed = m->unloaded = 1;
        return -1;
    }
    CPLPushErrorHandlerEx(gdal_handler, m);
    return 0;
}

int geo_gdal_end(geo_gdal_msgs *m)
{
    if (!m->unloaded) CPLPopErrorHandler();
    return m->failed;
}

/* ---- hsi_georef ---------------------------------------------------------------------------- */

void hsi_georef_free(hsi_georef *g)
{
    if (!g)
        return;
    free(g->wkt);
    free(g->envi_map_info);
    free(g->envi_cs);
    memset(g, 0, sizeof *g);
}

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    return src && !(*dst = strdup(src)) ? -1 : 0;
}

int hsi_georef_copy(hsi_georef *dst, const hsi_georef *src, char *err, size_t errlen)
{
    memset(dst, 0, sizeof *dst);
    dst->has_transform = src->has_transform;
    memcpy(dst->gt, src->gt, sizeof dst->gt);
    if (dup_str(&dst->wkt, src->wkt) || dup_str(&dst->envi_map_info, src->envi_map_info)
        || dup_str(&dst->envi_cs, src->envi_cs)) {
        hsi_georef_free(dst);
        snprintf(err, errlen, "georeference: out of memory");
        return -1;
    }
    return 0;
}

/* WKT (WKT1, GDAL's default export) of an OSR object, malloc'd; NULL on failure. */
static char *export_wkt(OGRSpatialReferenceH srs, int esri)
{
    char *w = NULL, *out = NULL;
    if (esri && OSRMorphToESRI(srs) != OGRERR_NONE)
        return NULL;
    if (OSRExportToWkt(srs, &w) == OGRERR_NONE && w && *w)
        out = strdup(w);
    CPLFree(w);
    return out;
}

/* A WKT of any dialect GDAL reads (OGC WKT1/2, ESRI) re-exported as GDAL's WKT1 (esri 0) or as
 * ESRI WKT (esri 1); NULL if unread. Only WKT: OSRSetFromUserInput would also open files and
 * URLs named in a header. */
static char *convert_wkt(const char *text, int esri)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *out = NULL, *p = (char *)text;   /* OSRImportFromWkt advances p, never writes *p */
    if (srs && OSRImportFromWkt(srs, &p) == OGRERR_NONE)
        out = export_wkt(srs, esri);
    if (srs)
        OSRDestroySpatialReference(srs);
    return out;
}

/* ---- ENVI map info -------------------------------------------------------------------------- */

enum { MI_MAX_FIELDS = 24 };

/* The comma-separated fields of a map info, trimmed, in buf (modified). */
static int split_fields(char *buf, char **f, int max)
{
    int n = 0;
    for (char *p = buf; n < max;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        while (isspace((unsigned char)*p))
            p++;
        char *e = p + strlen(p);
        while (e > p && isspace((unsigned char)e[-1]))
            *--e = 0;
        f[n++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

static int number(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return end != s && *end == 0 && isfinite(*v) ? 0 : -1;
}

/* The GDAL name of an ENVI datum, or NULL if unknown. */
static const char *datum_name(const char *envi)
{
    static const char *map[][2] = {
        {"WGS-84", "WGS84"}, {"WGS84", "WGS84"}, {"WGS-72", "WGS72"}, {"WGS72", "WGS72"},
        {"North America 1983", "NAD83"}, {"NAD83", "NAD83"},
        {"North America 1927", "NAD27"}, {"NAD27", "NAD27"},
    };
    for (size_t k = 0; k < sizeof map / sizeof *map; k++)
        if (strcasecmp(envi, map[k][0]) == 0)
            return map[k][1];
    return NULL;
}

/* The length in metres of an ENVI linear unit (a map info's "units="), or 0 if unknown. */
static double linear_unit(const char *envi, const char **gdal_name)
{
    static const struct { const char *envi, *gdal; double metres; } map[] = {
        {"Meters", "metre", 1}, {"Feet", "foot", 0.3048}, {"Km", "kilometre", 1000},
        {"Yards", "yard", 0.9144}, {"Miles", "mile", 1609.344}, {"Nautical Miles", "nautical mile", 1852},
    };
    for (size_t k = 0; k < sizeof map / sizeof *map; k++)
        if (strcasecmp(envi, map[k].envi) == 0) {
            *gdal_name = map[k].gdal;
            return map[k].metres;
        }
    return 0;
}

/* The CRS a map info names (UTM or Geographic Lat/Lon with a known datum), in its units
 * (units: the "units=" value, or NULL: metres for UTM, degrees for Geographic). *why gets a
 * reason when it names none. f: positional fields, nf of them (>= 7). */
static char *crs_from_map_info(char **f, int nf, const char *units, const char **why)
{
    int utm = strcasecmp(f[0], "UTM") == 0;
    int geog = strcasecmp(f[0], "Geographic Lat/Lon") == 0;
    *why = NULL;
    if (!utm && !geog) {
        if (strcasecmp(f[0], "Arbitrary") != 0)
            *why = "its projection is not UTM or Geographic Lat/Lon and there is no "
                   "'coordinate system string'";
        return NULL;
    }
    double zone = 0;
    int di = utm ? 9 : 7;
    if (utm && (nf < 9 || number(f[7], &zone) != 0 || zone != floor(zone) || zone < 1 || zone > 60
                || (strcasecmp(f[8], "North") != 0 && strcasecmp(f[8], "South") != 0))) {
        *why = "its UTM zone or hemisphere is missing or malformed";
        return NULL;
    }
    /* A UTM map info without a datum is read as NAD27 by GDAL's ENVI driver and as WGS-84 by
     * other software: a guess either way, and the two differ by up to ~200 m. */
    if (utm && nf <= di) {
        *why = "it names no datum (GDAL reads that as NAD27, other software as WGS-84) and there "
               "is no 'coordinate system string'";
        return NULL;
    }
    const char *datum = datum_name(nf > di ? f[di] : "WGS-84");
    if (!datum) {
        *why = "its datum is not one of WGS-84, WGS-72, North America 1983/1927 and there is no "
               "'coordinate system string'";
        return NULL;
    }
    /* The coordinates are in the map info's units: a UTM CRS in metres under coordinates in
     * feet would put the map 3.28 times too far from the origin. */
    const char *unit_name = "metre";
    double unit = utm ? (units ? linear_unit(units, &unit_name) : 1) : 0;
    if (utm ? unit == 0 : units && strcasecmp(units, "Degrees") != 0) {
        *why = utm ? "its units= is not Meters, Feet, Km, Yards, Miles or Nautical Miles"
                   : "its units= is not Degrees";
        return NULL;
    }
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *out = NULL;
    if (srs && OSRSetWellKnownGeogCS(srs, datum) == OGRERR_NONE
        && (!utm || OSRSetUTM(srs, (int)zone, strcasecmp(f[8], "North") == 0) == OGRERR_NONE)
        && (!utm || unit == 1
            || OSRSetLinearUnitsAndUpdateParameters(srs, unit_name, unit) == OGRERR_NONE))
        out = export_wkt(srs, 0);
    if (srs)
        OSRDestroySpatialReference(srs);
    if (!out)
        *why = "GDAL could not build its CRS";
    return out;
}

/* Fills g->gt from the positional fields and rotation; -1 with *why if malformed. */
static int transform_from_map_info(char **f, int nf, const char *rotation, double gt[6],
                                   const char **why)
{
    double v[6], rot = 0;
    *why = NULL;
    if (nf < 7) {
        *why = "it has fewer than 7 fields (projection, reference pixel x y, easting, northing, "
               "pixel size x y)";
        return -1;
    }
    for (int k = 0; k < 6; k++)
        if (number(f[k + 1], &v[k]) != 0) {
            *why = "a reference pixel, coordinate or pixel size is not a number";
            return -1;
        }
    if (!(v[4] > 0) || !(v[5] > 0)) {
        *why = "a pixel size is not positive";
        return -1;
    }
    if (rotation && number(rotation, &rot) != 0) {
        *why = "its rotation is not a number";
        return -1;
    }
    /* Columns run along (cos, sin) and rows along (sin, -cos) of the map: the image is turned
     * counter-clockwise by rot about the reference pixel, which stays at (easting, northing). */
    double a = rot * HSI_PI / 180.0, c = cos(a), s = sin(a);
    double refx = v[0] - 1, refy = v[1] - 1;
    gt[1] = v[4] * c;
    gt[2] = v[5] * s;
    gt[4] = v[4] * s;
    gt[5] = -v[5] * c;
    gt[0] = v[2] - refx * gt[1] - refy * gt[2];
    gt[3] = v[3] - refx * gt[4] - refy * gt[5];
    for (int k = 0; k < 6; k++)   /* finite fields can still overflow (a reference pixel of -1e308) */
        if (!isfinite(gt[k])) {
            *why = "its numbers give a geotransform that is not finite";
            return -1;
        }
    return 0;
}

void hsi_georef_from_envi(const char *map_info, const char *cs_string, hsi_georef *g, char *warn,
                          size_t warnlen)
{
    memset(g, 0, sizeof *g);
    if (warn && warnlen)
        warn[0] = 0;
    if (!map_info && !cs_string)
        return;
    geo_gdal_msgs msgs;
    if (geo_gdal_begin(&msgs)) {
        if (warn && warnlen)
            snprintf(warn, warnlen, "map info / coordinate system string ignored, the outputs "
                     "will have no georeference: %s", msgs.first);
        return;
    }
    const char *why = NULL;
    char *buf = map_info ? strdup(map_info) : NULL;
    if (map_info && !buf) {
        why = "out of memory";
    } else if (buf) {
        char *all[MI_MAX_FIELDS], *pos[MI_MAX_FIELDS];
        const char *rotation = NULL, *units = NULL;
        int na = split_fields(buf, all, MI_MAX_FIELDS), np = 0;
        for (int k = 0; k < na; k++) {           /* "key=value" fields are named, not positional */
            char *eq = strchr(all[k], '=');
            if (!eq) {
                pos[np++] = all[k];
                continue;
            }
            char *val = eq + 1;
            while (eq > all[k] && isspace((unsigned char)eq[-1]))
                eq--;
            while (isspace((unsigned char)*val))
                val++;
            if ((size_t)(eq - all[k]) == 8 && strncasecmp(all[k], "rotation", 8) == 0)
                rotation = val;
            else if ((size_t)(eq - all[k]) == 5 && strncasecmp(all[k], "units", 5) == 0)
                units = val;
        }
        if (transform_from_map_info(pos, np, rotation, g->gt, &why) == 0) {
            g->has_transform = 1;
            if (!(g->envi_map_info = strdup(map_info)))
                why = "out of memory";
            if (!cs_string && !why) {
                const char *crs_why;
                g->wkt = crs_from_map_info(pos, np, units, &crs_why);
                if (crs_why && warn)
                    snprintf(warn, warnlen, "map info = {%.200s}: no CRS, %s; the outputs get the "
                             "geotransform only", map_info, crs_why);
            }
            double rx, ry, sx, sy;
            number(pos[1], &rx);
            number(pos[2], &ry);
            number(pos[5], &sx);
            number(pos[6], &sy);
            size_t used = warn ? strlen(warn) : 0;
            if (!why && warn && used + 1 < warnlen && (g->gt[2] != 0 || g->gt[4] != 0)
                && (sx != sy || rx != 1 || ry != 1))
                snprintf(warn + used, warnlen - used, "%smap info = {%.200s}: rotated with %s; "
                         "GDAL's ENVI reader (QGIS) places such a header elsewhere than its "
                         "definition: the outputs follow the definition (map.hdr is rewritten "
                         "with reference pixel (1, 1)), so in GDAL-based software they may not "
                         "overlay the input", used ? "; " : "", map_info,
                         sx != sy ? "non-square pixels" : "a reference pixel other than (1, 1)");
        }
        free(buf);
    }
    if (why) {
        if (warn)
            snprintf(warn, warnlen, "map info = {%.200s} is malformed (%s): ignored, the outputs "
                     "will have no georeference", map_info, why);
        hsi_georef_free(g);
        geo_gdal_end(&msgs);
        return;
    }
    if (cs_string) {
        g->wkt = convert_wkt(cs_string, 0);
        if (g->wkt && !(g->envi_cs = strdup(cs_string))) {
            free(g->wkt);
            g->wkt = NULL;
        }
        if (!g->wkt && warn)
            snprintf(warn, warnlen, "coordinate system string = {%.120s%s} is not a CRS GDAL "
                     "reads: ignored, the outputs will have no CRS", cs_string,
                     strlen(cs_string) > 120 ? "..." : "");
    }
    geo_gdal_end(&msgs);
}

int hsi_georef_from_file(const char *path, hsi_georef *g, char *warn, size_t warnlen)
{
    memset(g, 0, sizeof *g);
    if (warn && warnlen)
        warn[0] = 0;
    geo_gdal_msgs msgs;
    if (geo_gdal_begin(&msgs)) {
        if (warn && warnlen) snprintf(warn, warnlen, "%s: %s", path, msgs.first);
        return -1;
    }
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds) {
        if (warn)
            snprintf(warn, warnlen, "%s: GDAL cannot open it: %s", path,
                     msgs.failed ? msgs.first : "unknown format");
        geo_gdal_end(&msgs);
        return -1;
    }
    g->has_transform = GDALGetGeoTransform(ds, g->gt) == CE_None;
    const char *wkt = GDALGetProjectionRef(ds);
    if (wkt && *wkt)
        g->wkt = strdup(wkt);
    GDALClose(ds);
    geo_gdal_end(&msgs);
    if (warn && !g->has_transform && !g->wkt)
        snprintf(warn, warnlen, "%s: no georeference (no geotransform, no CRS)", path);
    return 0;
}

/* ---- back to ENVI -------------------------------------------------------------------------- */

/* The fields of the input's map info that say which projection the numbers are in (its name,
 * UTM zone and hemisphere, datum, units=), in out: "UTM" / ", 10, North, WGS-84, units=Meters".
 * "Arbitrary" and nothing when g did not come from an ENVI header. */
static void projection_fields(const hsi_georef *g, char *name, size_t namelen, char *tail,
                              size_t taillen)
{
    snprintf(name, namelen, "Arbitrary");
    tail[0] = 0;
    char *buf = g->envi_map_info ? strdup(g->envi_map_info) : NULL;
    if (!buf)
        return;
    char *all[MI_MAX_FIELDS];
    int na = split_fields(buf, all, MI_MAX_FIELDS), np = 0;
    size_t used = 0;
    for (int k = 0; k < na; k++) {
        int named = strchr(all[k], '=') != NULL;
        if (!named && np++ == 0)
            snprintf(name, namelen, "%s", all[k]);
        /* positional fields after the 7 numbers (zone, hemisphere, datum) and units= are kept;
         * the reference pixel, coordinates, sizes and rotation= come from the geotransform */
        int keep = named ? strncasecmp(all[k], "units", 5) == 0 : np > 7;
        if (keep && used < taillen)
            used += (size_t)snprintf(tail + used, taillen - used, ", %s", all[k]);
    }
    if (used >= taillen)   /* cut: better no extra fields than half of one */
        tail[0] = 0;
    free(buf);
}

char *geo_envi_map_info(const hsi_georef *g)
{
    if (!g || !g->has_transform)
        return NULL;
    const double *t = g->gt;
    double dx = hypot(t[1], t[4]), dy = hypot(t[2], t[5]);
    if (!(dx > 0) || !(dy > 0))
        return NULL;
    double c = t[1] / dx, s = t[4] / dx;
    /* Rows must run along (sin, -cos): a pure rotation, no shear, no flip. */
    if (fabs(t[2] - dy * s) > 1e-9 * dy || fabs(t[5] + dy * c) > 1e-9 * dy)
        return NULL;
    double rot = atan2(s, c) * 180.0 / HSI_PI;
    char name[128], tail[512], buf[1024], rb[48] = "";
    projection_fields(g, name, sizeof name, tail, sizeof tail);
    if (fabs(rot) > 1e-12)
        snprintf(rb, sizeof rb, ", rotation=%.17g", rot);
    /* Reference pixel (1, 1), the upper-left corner of the first pixel: GDAL's ENVI reader and
     * the definition agree on it for any rotation (they differ for other reference pixels). */
    snprintf(buf, sizeof buf, "%s, 1, 1, %.17g, %.17g, %.17g, %.17g%s%s", name, t[0], t[3], dx,
             dy, tail, rb);
    return strdup(buf);
}

char *geo_envi_cs_string(const hsi_georef *g)
{
    if (!g || !g->wkt)
        return NULL;
    geo_gdal_msgs msgs;
    if (geo_gdal_begin(&msgs)) return NULL;
    char *out = convert_wkt(g->wkt, 1);
    geo_gdal_end(&msgs);
    return out;
}
