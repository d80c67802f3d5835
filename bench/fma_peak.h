/* fma_peak.h — the machine's float32 FMA peak (fma_peak.c). */
#ifndef HSI_BENCH_FMA_PEAK_H
#define HSI_BENCH_FMA_PEAK_H
/* GFLOP/s (2 per FMA lane) over `threads` threads (<= 64), best of 3 runs; *width gets the
 * vector width in floats (8 AVX2, 16 AVX-512). 0 when the CPU has neither. */
double fma_peak(int threads, int *width);
/* ns for one round trip of a cache line between two threads (fma_peak.c); 0 if none ran. */
double xcore_round_trip_ns(void);
/* OMP_NUM_THREADS if set, else the online CPUs. */
int fma_threads(void);
#endif
