/* geo_gdal.c — loads GDAL on first use and fills the table of geo_gdal.h. */
#define GEO_GDAL_LOADER
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "geo_gdal.h"

geo_gdal_api geo_gdal;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char gdal_why[400];    /* empty: loaded */

#ifndef HSI_GDAL_SONAME
#define HSI_GDAL_SONAME "libgdal.so"
#endif

static void load(void)
{
    void *h = dlopen(HSI_GDAL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(gdal_why, sizeof gdal_why, "cannot load GDAL (%s): %s", HSI_GDAL_SONAME, dlerror());
        return;
    }
    /* dlsym returns void *; the table's entries are function pointers of GDAL's own types */
#define GEO_GDAL_SYM(f)                                                                     \
    if (!(*(void **)&geo_gdal.f = dlsym(h, #f))) {                                          \
        snprintf(gdal_why, sizeof gdal_why, "GDAL (%s) has no %s", HSI_GDAL_SONAME, #f);    \
        return;                                                                             \
    }
    GEO_GDAL_FUNCS(GEO_GDAL_SYM)
#undef GEO_GDAL_SYM
    geo_gdal.GDALAllRegister();
}

int geo_gdal_load(char *why, size_t n)
{
    pthread_once(&once, load);
    if (!gdal_why[0]) return 0;
    if (why && n) snprintf(why, n, "%s", gdal_why);
    return -1;
}
