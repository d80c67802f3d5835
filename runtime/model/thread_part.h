/* The calling thread's part of n floats inside an OpenMP region (libhsirt-internal). */
#ifndef HSI_THREAD_PART_H
#define HSI_THREAD_PART_H

#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* [*lo, *hi) of n floats split evenly (at 16-float bounds, a cache line) over the threads of
 * the current region: the first thread starts at 0, the last ends at n. */
static inline void hsi_thread_part(int64_t n, int64_t *lo, int64_t *hi)
{
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    *lo = t ? n * t / nt / 16 * 16 : 0;
    *hi = t + 1 < nt ? n * (t + 1) / nt / 16 * 16 : n;
}

#endif
