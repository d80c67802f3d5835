/* geo_gdal.h — GDAL, loaded when first needed (dlopen) instead of linked: libgdal and its ~100
 * dependencies cost a trainer ~20 MB of resident memory at start-up, and only GIS outputs and
 * georeferences use it. georef.c and mapwriter.c include this after GDAL's headers; their
 * calls (GDALOpen(...)) go through the table below. geo_gdal_begin (geo_internal.h) loads it.
 * Private to libhsirt; not installed. */
#ifndef HSI_GEO_GDAL_H
#define HSI_GEO_GDAL_H

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>

/* Every GDAL function libhsirt calls (CPLFree is GDAL's macro for VSIFree). */
#define GEO_GDAL_FUNCS(X) \
    X(CPLGetErrorHandlerUserData) \
    X(CPLPopErrorHandler) \
    X(CPLPushErrorHandlerEx) \
    X(CSLDestroy) \
    X(CSLSetNameValue) \
    X(GDALAllRegister) \
    X(GDALClose) \
    X(GDALCreate) \
    X(GDALCreateColorTable) \
    X(GDALDatasetRasterIO) \
    X(GDALDestroyColorTable) \
    X(GDALFlushCache) \
    X(GDALGetDriverByName) \
    X(GDALGetGeoTransform) \
    X(GDALGetProjectionRef) \
    X(GDALGetRasterBand) \
    X(GDALGetRasterCount) \
    X(GDALOpen) \
    X(GDALRasterIO) \
    X(GDALSetColorEntry) \
    X(GDALSetGeoTransform) \
    X(GDALSetProjection) \
    X(GDALSetRasterCategoryNames) \
    X(GDALSetRasterColorInterpretation) \
    X(GDALSetRasterColorTable) \
    X(GDALSetRasterNoDataValue) \
    X(OSRDestroySpatialReference) \
    X(OSRExportToWkt) \
    X(OSRImportFromWkt) \
    X(OSRMorphToESRI) \
    X(OSRNewSpatialReference) \
    X(OSRSetLinearUnitsAndUpdateParameters) \
    X(OSRSetUTM) \
    X(OSRSetWellKnownGeogCS) \
    X(VSIFree)

typedef struct geo_gdal_api {
#define GEO_GDAL_PTR(f) __typeof__(f) *f;
    GEO_GDAL_FUNCS(GEO_GDAL_PTR)
#undef GEO_GDAL_PTR
} geo_gdal_api;

/* Filled by geo_gdal_load (georef.c); every entry set once it returned 0. */
extern geo_gdal_api geo_gdal;

/* Loads the library once per process: 0, or -1 with the reason in why. */
int geo_gdal_load(char *why, size_t n);

#ifndef GEO_GDAL_LOADER   /* geo_gdal.c fills the table: there the names stay GDAL's */
#define CPLGetErrorHandlerUserData geo_gdal.CPLGetErrorHandlerUserData
#define CPLPopErrorHandler geo_gdal.CPLPopErrorHandler
#define CPLPushErrorHandlerEx geo_gdal.CPLPushErrorHandlerEx
#define CSLDestroy geo_gdal.CSLDestroy
#define CSLSetNameValue geo_gdal.CSLSetNameValue
#define GDALAllRegister geo_gdal.GDALAllRegister
#define GDALClose geo_gdal.GDALClose
#define GDALCreate geo_gdal.GDALCreate
#define GDALCreateColorTable geo_gdal.GDALCreateColorTable
#define GDALDatasetRasterIO geo_gdal.GDALDatasetRasterIO
#define GDALDestroyColorTable geo_gdal.GDALDestroyColorTable
#define GDALFlushCache geo_gdal.GDALFlushCache
#define GDALGetDriverByName geo_gdal.GDALGetDriverByName
#define GDALGetGeoTransform geo_gdal.GDALGetGeoTransform
#define GDALGetProjectionRef geo_gdal.GDALGetProjectionRef
#define GDALGetRasterBand geo_gdal.GDALGetRasterBand
#define GDALGetRasterCount geo_gdal.GDALGetRasterCount
#define GDALOpen geo_gdal.GDALOpen
#define GDALRasterIO geo_gdal.GDALRasterIO
#define GDALSetColorEntry geo_gdal.GDALSetColorEntry
#define GDALSetGeoTransform geo_gdal.GDALSetGeoTransform
#define GDALSetProjection geo_gdal.GDALSetProjection
#define GDALSetRasterCategoryNames geo_gdal.GDALSetRasterCategoryNames
#define GDALSetRasterColorInterpretation geo_gdal.GDALSetRasterColorInterpretation
#define GDALSetRasterColorTable geo_gdal.GDALSetRasterColorTable
#define GDALSetRasterNoDataValue geo_gdal.GDALSetRasterNoDataValue
#define OSRDestroySpatialReference geo_gdal.OSRDestroySpatialReference
#define OSRExportToWkt geo_gdal.OSRExportToWkt
#define OSRImportFromWkt geo_gdal.OSRImportFromWkt
#define OSRMorphToESRI geo_gdal.OSRMorphToESRI
#define OSRNewSpatialReference geo_gdal.OSRNewSpatialReference
#define OSRSetLinearUnitsAndUpdateParameters geo_gdal.OSRSetLinearUnitsAndUpdateParameters
#define OSRSetUTM geo_gdal.OSRSetUTM
#define OSRSetWellKnownGeogCS geo_gdal.OSRSetWellKnownGeogCS
#define VSIFree geo_gdal.VSIFree
#endif

#endif /* HSI_GEO_GDAL_H */
