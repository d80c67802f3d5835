/* hsi_geo.h — whole scenes in and GIS maps out: a streaming ENVI reader (rows on demand, never
 * the whole cube), georeferences (ENVI 'map info' / 'coordinate system string', any GDAL raster)
 * and a map writer that streams rows into a class-map GeoTIFF, an ENVI classification file and
 * optional probability / confidence GeoTIFFs, all appearing atomically at close.
 *
 * Errors follow hsi_data.h: 0 on success, -1 (or NULL) on failure with one message in err
 * (errlen bytes, always NUL-terminated) that names the file. Nothing here prints or exits; GDAL's
 * own messages are captured into err instead of going to stderr.
 *
 * Usage (map a scene by blocks of 32 rows):
 *
 *     char err[512];
 *     hsi_envi_stream *s = hsi_envi_open("scene.hdr", err, sizeof err);
 *     int h, w, nb;
 *     hsi_envi_dims(s, &h, &w, &nb);
 *     if (*hsi_envi_warning(s)) fprintf(stderr, "warning: %s\n", hsi_envi_warning(s));
 *     hsi_mapwriter_opts o = {.dir = "out", .stem = "map", .h = h, .w = w, .k = k,
 *                             .class_names = names, .geo = hsi_envi_georef(s),
 *                             .geotiff = 1, .envi = 1};
 *     hsi_mapwriter *mw = hsi_mapwriter_open(&o, err, sizeof err);
 *     for (int r = 0; r < h; r += 32) {
 *         int n = h - r < 32 ? h - r : 32;
 *         hsi_envi_read_rows(s, r, n, x, nodata, err, sizeof err);  // x: nb*n*w floats
 *         ... classify into cls[n*w], -1 where nodata[i] ...
 *         hsi_mapwriter_rows(mw, r, n, cls, NULL, err, sizeof err);
 *     }
 *     hsi_mapwriter_close(mw, err, sizeof err);    // or hsi_mapwriter_abort(mw) on error
 *     hsi_envi_close(s);
 */
#ifndef HSI_GEO_H
#define HSI_GEO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- georeference -------------------------------------------------------------------------- */

/* Where a raster lies on the ground. Pixel (col, row) has its upper-left corner at
 *   x = gt[0] + col * gt[1] + row * gt[2],   y = gt[3] + col * gt[4] + row * gt[5]
 * (GDAL's geotransform: x0, dx, rx, y0, ry, dy; dy < 0 for north-up images). */
typedef struct hsi_georef {
    int has_transform;      /* 1: gt is valid */
    double gt[6];
    char *wkt;              /* CRS as WKT (GDAL's WKT1 export), malloc'd, or NULL: unknown */
    char *envi_map_info;    /* raw ENVI 'map info' value without braces, malloc'd, or NULL */
    char *envi_cs;          /* raw ENVI 'coordinate system string' value, malloc'd, or NULL */
} hsi_georef;

/* Frees the strings and zeroes g (a zeroed or already-freed g is fine). */
void hsi_georef_free(hsi_georef *g);
/* Deep copy of src into dst (dst is overwritten, not freed first). */
int hsi_georef_copy(hsi_georef *dst, const hsi_georef *src, char *err, size_t errlen);

/* The georeference of ENVI header values (either may be NULL):
 *   map info = {proj, refx, refy, easting, northing, xsize, ysize[, zone, North|South][, datum]
 *               [, units=...][, rotation=deg]}
 * The reference pixel (refx, refy) is 1-based: (1, 1) is the upper-left corner of the first
 * pixel, (1.5, 1.5) its centre. rotation is counter-clockwise in degrees, about the reference
 * pixel. The CRS comes from the coordinate system string (any WKT GDAL reads, ESRI's included),
 * else is built for 'UTM' (zone, hemisphere, datum WGS-84/WGS-72/NAD83/NAD27) and
 * 'Geographic Lat/Lon' map infos. Never fails on a malformed value: the georeference is then
 * left empty (no transform, no CRS, no raw strings, so nothing wrong is copied to outputs) and
 * a warning naming the value goes to warn (warn[0] = 0 when there is nothing to say). */
void hsi_georef_from_envi(const char *map_info, const char *cs_string, hsi_georef *g, char *warn,
                          size_t warnlen);
/* The geotransform and CRS of any raster GDAL opens (GeoTIFF, ENVI, ...). A file without
 * georeference gives has_transform 0 and wkt NULL, and a note in warn. -1: GDAL cannot open it. */
int hsi_georef_from_file(const char *path, hsi_georef *g, char *warn, size_t warnlen);

/* ---- streaming ENVI reader ----------------------------------------------------------------- */

typedef struct hsi_envi_stream hsi_envi_stream;

/* Opens an ENVI pair (the .hdr or the data file, found as hsi_cube_read finds them). Checks,
 * before anything is allocated from them: samples, lines and bands in 1..2^31-1, data type
 * 1/2/3/4/5/12/13/14/15, no overflow in samples*lines*bands*bytes + header offset, and the data
 * file (a regular file: FIFOs, devices and directories are refused without blocking) at least
 * that long. Keeps the data file open; reads nothing else until hsi_envi_read_rows. */
hsi_envi_stream *hsi_envi_open(const char *path, char *err, size_t errlen);
/* h = lines, w = samples. Returns 0. */
int hsi_envi_dims(const hsi_envi_stream *s, int *h, int *w, int *bands);
/* Rows r0..r0+n-1 as floats, BAND-MAJOR like hsi_cube: dst[(b*n + i)*w + c] is band b of
 * pixel (r0+i, c); dst has bands*n*w floats. Any interleave, data type and byte order; values
 * are converted exactly as hsi_cube_read does and written even for nodata pixels (NaN stays
 * NaN: replace nodata pixels before a net sees them). nodata (n*w bytes, or NULL) gets
 * nodata[i*w + c] = 1 when any band of the pixel equals the header's 'data ignore value' or is
 * NaN or +-Inf, else 0 (a float32 ignore value at the limit, |v| >= 3.4e38, as headers write
 * -FLT_MAX with few digits, matches every value of its sign from 3.4e38 on). Reads with pread in blocks of at most 8 MiB, whatever n is. */
int hsi_envi_read_rows(hsi_envi_stream *s, int r0, int n, float *dst, uint8_t *nodata, char *err,
                       size_t errlen);
/* Per-band mean and population std over the pixels that are not nodata, reading the file in
 * row blocks (bounded memory); a band with std 0 gets std 1 (as hsi_standardize). mean and std
 * have `bands` entries; n_valid / n_nodata (either may be NULL) get the pixel counts. An image
 * where every pixel is nodata is an error. */
int hsi_envi_band_stats(hsi_envi_stream *s, double *mean, double *std, int64_t *n_valid,
                        int64_t *n_nodata, char *err, size_t errlen);
/* After hsi_envi_band_stats: the pixels (not nodata) that hold one value in every band, that
 * value being the lowest or the highest of every band: what an undeclared fill value looks
 * like (0 or -9999 around a georectified flight line). Their count (0: none; with several such
 * values, the most frequent of the first four seen), the value and the first pixel's row and
 * column (any pointer may be NULL). Bands >= 2 only. */
int64_t hsi_envi_fill_pixels(const hsi_envi_stream *s, double *value, int *row, int *col);
/* The georeference from the header (map info, coordinate system string); never NULL. */
const hsi_georef *hsi_envi_georef(const hsi_envi_stream *s);
/* Header problems that did not stop the read (a malformed georeference or 'data ignore
 * value'), or "". */
const char *hsi_envi_warning(const hsi_envi_stream *s);
/* The header (data 0) or the data file (data 1) of the scene, as found. */
const char *hsi_envi_path(const hsi_envi_stream *s, int data);
/* 'data ignore value' of the header: 1 and *v set if there is one, else 0. */
int hsi_envi_ignore_value(const hsi_envi_stream *s, double *v);
void hsi_envi_close(hsi_envi_stream *s);

/* ---- map writer ---------------------------------------------------------------------------- */

typedef struct hsi_mapwriter hsi_mapwriter;

typedef struct hsi_mapwriter_opts {
    const char *dir;                  /* output folder (must exist) */
    const char *stem;                 /* class-map name: "map" writes dir/map.tif, dir/map.envi */
    int h, w, k;                      /* scene rows, columns; number of classes (1..65534) */
    const char *const *class_names;   /* k names, or NULL: "class 0", ... */
    const uint8_t (*palette)[3];      /* k RGB colours, or NULL: hsi_default_palette (k <= 32) */
    const hsi_georef *geo;            /* copied to every output, or NULL: none */
    int geotiff;                      /* 1: dir/<stem>.tif (+ <stem>.tif.aux.xml: category names) */
    int envi;                         /* 1: dir/<stem>.envi + dir/<stem>.hdr, ENVI Classification */
    int prob;                         /* 1: dir/prob.tif, k float32 bands of class probabilities */
    int confidence;                   /* 1: dir/confidence.tif, float32 max probability */
} hsi_mapwriter_opts;

/* Creates every output under a temporary folder dir/.<stem>.tmp.hsicc-PID-XXXXXX (same file
 * system, so close can rename). Ignores SIGXFSZ if it has its default action, so that exceeding the file
 * size limit (ulimit -f) is a write error (EFBIG), not a killed process. */
hsi_mapwriter *hsi_mapwriter_open(const hsi_mapwriter_opts *o, char *err, size_t errlen);
/* Rows r0..r0+n-1, in order (r0 = the number of rows written so far). cls[i*w + c] is a class in
 * 0..k-1 or -1 = nodata (written as 0 in the class maps, -1 in the float outputs). prob
 * (pixel-major [n][w][k], softmax probabilities) is needed when prob or confidence is on, else
 * may be NULL. Rows are staged into 16-row strips, each written (GDALRasterIO on its row window,
 * write(2) for ENVI) and flushed when full: the writer never holds more than one strip. On error
 * the writer stays open: call hsi_mapwriter_abort. */
int hsi_mapwriter_rows(hsi_mapwriter *mw, int r0, int n, const int32_t *cls, const float *prob,
                       char *err, size_t errlen);
/* Pixels written with cls = -1 so far. */
int64_t hsi_mapwriter_nodata(const hsi_mapwriter *mw);
/* The temporary folder the outputs are made in: a file the caller writes there (pred.npy, a
 * PNG) is renamed into o->dir by close with the maps, all of them or none. */
const char *hsi_mapwriter_dir(const hsi_mapwriter *mw);
/* Checks every row was written, flushes and fsyncs every file, then renames them to their final
 * names (in one commit section: a terminating signal waits for the last rename, hsi_io.h) and
 * removes the temporary folder; frees mw. On an error (rows missing; a write, flush or
 * fsync failing: disk full, file size limit): one message naming the file, temporaries removed,
 * nothing renamed, so no final name holds a partial file; mw freed either way. */
int hsi_mapwriter_close(hsi_mapwriter *mw, char *err, size_t errlen);
/* Removes the temporaries and frees mw (NULL is fine). */
void hsi_mapwriter_abort(hsi_mapwriter *mw);

#ifdef __cplusplus
}
#endif
#endif /* HSI_GEO_H */
