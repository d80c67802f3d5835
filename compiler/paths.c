/* paths.c — hsicc_locate (paths.h). Built twice, with hsicc_config.h from two folders: the
 * build tree's (absolute source/build paths, HSICC_TREE) and the installed one's (paths
 * relative to the executable's folder: no source or build path in an installed binary). */
#define _XOPEN_SOURCE 700   /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsicc_config.h"
#include "paths.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

static char inc[PATH_MAX + 256], src[PATH_MAX + 256], lib[PATH_MAX + 256], mpi[PATH_MAX + 256];
static hsicc_paths found = {inc, src, lib, HSICC_RUNTIME_LINK, mpi, HSICC_MPI_CFLAGS, HSICC_MPI_LINK};

int hsicc_has_mpi(void) { return HSICC_WITH_MPI; }

static int missing(const char *path, const char *what, const char *where, char *err, size_t errlen)
{
    struct stat st;
    if (!stat(path, &st)) return 0;
    snprintf(err, errlen, "hsicc: error: %s %s is missing (%s): %s; reinstall hsicc or rebuild it",
             what, path, strerror(errno), where);
    return 1;
}

const hsicc_paths *hsicc_locate(char *err, size_t errlen)
{
#ifdef HSICC_TREE
    const char *where = "this hsicc runs from its build tree and uses the source tree";
    snprintf(inc, sizeof inc, "%s", HSICC_RUNTIME_INCLUDE);
    snprintf(src, sizeof src, "%s", HSICC_RUNTIME_SRC);
    snprintf(lib, sizeof lib, "%s", HSICC_RUNTIME_LIB);
    snprintf(mpi, sizeof mpi, "%s", HSICC_MPI_LIB);
#else
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(err, errlen, "hsicc: error: cannot find its own executable (/proc/self/exe: %s), "
                 "so not its runtime either", n < 0 ? strerror(errno) : "empty");
        return NULL;
    }
    exe[n] = 0;
    *strrchr(exe, '/') = 0;   /* readlink gives an absolute path: there is a '/' */
    snprintf(inc, sizeof inc, "%s/%s", exe, HSICC_RUNTIME_INCLUDE);
    snprintf(src, sizeof src, "%s/%s", exe, HSICC_RUNTIME_SRC);
    snprintf(lib, sizeof lib, "%s/%s", exe, HSICC_RUNTIME_LIB);
    snprintf(mpi, sizeof mpi, "%s/%s", exe, HSICC_MPI_LIB);
    char where[PATH_MAX + 80];
    snprintf(where, sizeof where, "looked for relative to the executable's folder %s", exe);
#endif
    char main_c[sizeof src + 32], hsi_h[sizeof inc + 16];
    snprintf(main_c, sizeof main_c, "%s/trainer_main.c", src);
    snprintf(hsi_h, sizeof hsi_h, "%s/hsi.h", inc);
    if (missing(hsi_h, "the runtime header", where, err, errlen) ||
        missing(main_c, "the trainer main", where, err, errlen) ||
        missing(lib, "the runtime library", where, err, errlen))
        return NULL;
    /* bin/../include/hsicc -> include/hsicc: shorter compiler commands (all three exist) */
    char *bufs[3] = {inc, src, lib}, canon[PATH_MAX];
    for (int i = 0; i < 3; i++)
        if (realpath(bufs[i], canon) && strlen(canon) < sizeof inc) strcpy(bufs[i], canon);
    return &found;
}
