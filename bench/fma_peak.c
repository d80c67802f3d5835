/* fma_peak.c — the machine's float32 FMA peak, measured: every thread runs 12 independent chains
 * of vector FMAs (AVX2 8-wide, or AVX-512 16-wide where the CPU has it), best of 3. The benches
 * print their GFLOP/s as a fraction of it (scene_bench.c, bench_net.c). With
 * HSICC_KERNEL_ISA=avx2 it measures the 8-wide peak even where the CPU has AVX-512. Built with
 * -DFMA_PEAK_MAIN it is the tool bench_fma:  bench_fma [THREADS]  (default OMP_NUM_THREADS, else
 * every online CPU) prints "machine fma_peak_gflops=.. threads=.. width=.."; bench_fma --xcore
 * prints "machine xcore_round_trip_ns=.." (xcore_round_trip_ns, below). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fma_peak.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- FMA peak: 12 independent chains of 8-wide FMAs per thread (AVX2), or 16-wide (AVX-512) */
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iters)
{
    __m256 a[12], b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    float s = 0, o[8];
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(o, a[i]);
        s += o[0];
    }
    return s;
}
__attribute__((target("avx512f"))) static double fma_loop_avx512(long iters)
{
    __m512 a[12], b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(a[i]);
    return s;
}
#endif

typedef struct peak_arg { long iters; int wide; double sink; } peak_arg;
static void *peak_thread(void *p)
{
    peak_arg *a = p;
#if defined(__x86_64__)
    a->sink = a->wide ? fma_loop_avx512(a->iters) : fma_loop_avx2(a->iters);
#endif
    return NULL;
}

/* GFLOP/s (2 per FMA lane) over `threads` threads, best of 3. */
double fma_peak(int threads, int *width)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    /* HSICC_KERNEL_ISA=avx2 (the kernels forced to their AVX2 path, tapconv.h's hk_isa): the
     * peak of that path, 8-wide, so that % of the peak compares with an AVX2 machine's */
    const char *isa = getenv("HSICC_KERNEL_ISA");
    int wide = __builtin_cpu_supports("avx512f") && !(isa && !strcmp(isa, "avx2"));
    if (!wide && !__builtin_cpu_supports("fma")) return 0;
    *width = wide ? 16 : 8;
    long iters = 20000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        pthread_t t[64];
        peak_arg a[64];
        double t0 = now();
        for (int i = 0; i < threads; i++) {
            a[i] = (peak_arg){iters, wide, 0};
            pthread_create(&t[i], NULL, peak_thread, &a[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
        double g = 2.0 * 12 * (*width) * (double)iters * threads / (now() - t0) / 1e9;
        if (g > best) best = g;
    }
    return best;
#else
    (void)threads, (void)width;
    return 0;
#endif
}

/* ---- cross-core round trip: two threads hand a cache line back and forth ------------------
 * On a VM the two CPUs a process gets may share a last-level cache or not (a guess), and that
 * changes over tens of seconds (seen on a 2-vCPU AMD EPYC VM, 2026-12-05: about 55 ns, or
 * 315-345 and up to 795 ns):
 * a net whose ops hand tensors between the threads (the contextual CNN at batch 128: 7.5 or
 * 11.5 ms a step) runs at one of two speeds while the FMA peak stays the same. The benches
 * print it beside their runs so that such a run can be told apart. ns per round trip, the
 * best of 3 runs of 20,000. */
static _Alignas(64) volatile int xc_flag;
static void *xc_thread(void *p)
{
    long n = *(long *)p;
    for (long i = 0; i < n; i++) {
        while (__atomic_load_n(&xc_flag, __ATOMIC_ACQUIRE) != (int)(2 * i + 1)) {}
        __atomic_store_n(&xc_flag, (int)(2 * i + 2), __ATOMIC_RELEASE);
    }
    return NULL;
}

double xcore_round_trip_ns(void)
{
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        long n = 20000;
        pthread_t t;
        __atomic_store_n(&xc_flag, 0, __ATOMIC_RELEASE);
        if (pthread_create(&t, NULL, xc_thread, &n)) return 0;
        double t0 = now();
        for (long i = 0; i < n; i++) {
            __atomic_store_n(&xc_flag, (int)(2 * i + 1), __ATOMIC_RELEASE);
            while (__atomic_load_n(&xc_flag, __ATOMIC_ACQUIRE) != (int)(2 * i + 2)) {}
        }
        double ns = (now() - t0) / (double)n * 1e9;
        pthread_join(t, NULL);
        if (rep == 0 || ns < best) best = ns;
    }
    return best;
}

int fma_threads(void)
{
    const char *omp = getenv("OMP_NUM_THREADS");
    return omp && atoi(omp) > 0 ? atoi(omp) : (int)sysconf(_SC_NPROCESSORS_ONLN);
}

#ifdef FMA_PEAK_MAIN
int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--xcore")) {   /* the round trip alone */
        printf("machine xcore_round_trip_ns=%.0f\n", xcore_round_trip_ns());
        return 0;
    }
    int threads = argc > 1 ? atoi(argv[1]) : fma_threads(), width = 0;
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "usage: %s [THREADS 1..64]\n", argv[0]);
        return 2;
    }
    double g = fma_peak(threads, &width);
    printf("machine fma_peak_gflops=%.1f threads=%d width=%d\n", g, threads, width);
    return g > 0 ? 0 : 1;
}
#endif
