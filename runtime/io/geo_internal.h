/* geo_internal.h — what georef.c and mapwriter.c share: GDAL set-up with its messages captured
 * instead of printed, and the ENVI 'map info' / 'coordinate system string' of a georeference
 * that did not come from an ENVI header. Private to libhsirt; not installed. */
#ifndef HSI_GEO_INTERNAL_H
#define HSI_GEO_INTERNAL_H

#include <stddef.h>

#include "hsi_geo.h"

/* GDAL messages between geo_gdal_begin and geo_gdal_end (same thread): the first failure's
 * text is kept, warnings and debug output are dropped. */
typedef struct geo_gdal_msgs {
    int failed;          /* a CE_Failure or CE_Fatal was reported */
    char first[512];     /* its message */
    int sys_errno;       /* errno at that moment if it names a write failure (ENOSPC, EFBIG,
                            EDQUOT, EIO), else 0: GDAL's text often omits the reason */
    int unloaded;        /* GDAL could not be loaded (first says why): call nothing of it */
} geo_gdal_msgs;

/* Loads GDAL and registers its drivers (once per process; geo_gdal.h) and pushes a handler
 * that fills m: 0; or -1 when GDAL cannot be loaded (m->failed, m->unloaded, m->first says
 * why), and then no GDAL function may be called. */
int geo_gdal_begin(geo_gdal_msgs *m);
/* Pops the handler; returns m->failed. */
int geo_gdal_end(geo_gdal_msgs *m);

/* 'map info' (braces excluded) for g's geotransform: ENVI's reference pixel (1, 1), pixel
 * sizes and a rotation, after the projection name (and before the zone, hemisphere, datum and
 * units=) of g's own ENVI map info, "Arbitrary" without one; NULL if g has no transform or it is
 * sheared / flipped (ENVI cannot say that). malloc'd. */
char *geo_envi_map_info(const hsi_georef *g);
/* g's CRS as the ESRI WKT ENVI writes in 'coordinate system string', or NULL. malloc'd. */
char *geo_envi_cs_string(const hsi_georef *g);

#endif /* HSI_GEO_INTERNAL_H */
