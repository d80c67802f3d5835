/* paths.h — where `hsicc build` and `emit --infer` find the runtime: its headers, the trainer
 * main and the sources the inference module copies, libhsirt and its link flags.
 *
 * Two builds of paths.c (compiler/CMakeLists.txt): the build-tree hsicc uses the source and
 * build folders; the installed hsicc (the one `cmake --install` and the .deb ship) holds only
 * paths relative to its own executable (/proc/self/exe), so an installed prefix can be moved. */
#ifndef HSICC_PATHS_H
#define HSICC_PATHS_H

#include <stddef.h>

typedef struct hsicc_paths {
    const char *include;       /* the runtime's public headers (hsi.h ...) */
    const char *runtime_src;   /* trainer_main.c and the inference module's runtime subset */
    const char *runtime_lib;   /* libhsirt.a */
    const char *link;          /* the link flags of libhsirt's dependencies, ';'-separated */
    const char *mpi_lib;       /* libhsirt_mpi.a (hsicc build --mpi; checked there, not here) */
    const char *mpi_cflags;    /* the MPI compile options and include folders, ';'-separated */
    const char *mpi_link;      /* the MPI libraries and link flags, ';'-separated */
} hsicc_paths;

/* The runtime of this hsicc, checked to be there: NULL after one message in err (which file
 * is missing, where it was looked for). */
const hsicc_paths *hsicc_locate(char *err, size_t errlen);
/* 1 if this hsicc was built with an MPI library (hsicc build --mpi), else 0. */
int hsicc_has_mpi(void);

#endif
