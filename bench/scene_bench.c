/* scene_bench.c — whole-scene inference speed of an emitted network: every pixel of a synthetic
 * h x w x bands scene classified by the compiled scene program (hsi_infer.h), and with --patch
 * by the patch net itself at a given batch (what `predict` did before). Random weights with BN
 * statistics away from identity; the numbers are speed, never accuracy. Built with
 * -DNET=<stem>_net. Also measures the machine's FMA peak (float32, all threads) in the same
 * process, so the GFLOP/s can be read as a fraction of it.
 *
 *   scene_bench_<stem> [--h 145] [--w 145] [--runs 3] [--tile-pixels N] [--batch N]
 *                      [--patch BATCH] [--backend dnnl|ref] [--dump DIR]
 * --dump DIR writes DIR/weights.safetensors, DIR/scene.npy [h, w, bands] and DIR/logits.npy
 * [h * w, classes] (the scene program's) for bench/torch_scene.py.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hsi.h"
#include "hsi_data.h"
#include "hsi_infer.h"
#include "hsi_io.h"
#include "fma_peak.h"

extern const hsi_netdesc NET;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rs = 0x2545F4914F6CDD1DULL;
static double urand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) / 9007199254740992.0;
}

typedef hsi_cube scene;   /* band-major: the ctx of hsi_cube_rows */
typedef struct sink { int w, k; float *z; } sink;
static int take(void *ctx, int r0, int n, const float *z, char *err, size_t errlen)
{
    sink *s = ctx;
    (void)err, (void)errlen;
    memcpy(s->z + (size_t)r0 * s->w * s->k, z, sizeof(float) * (size_t)n * s->w * s->k);
    return 0;
}

static double run(hsi_model *m, scene *sc, hsi_infer_opts *o, float *z, double *create_s, int *tile)
{
    char err[512] = "";
    double t0 = now();
    hsi_infer *inf = hsi_infer_create(&NET, m, 0, sc->h, sc->w, o, err, sizeof err);
    if (!inf) {
        fprintf(stderr, "scene_bench: %s\n", err);
        exit(1);
    }
    double t1 = now();
    sink sk = {sc->w, NET.domains[0].classes, z};
    if (hsi_infer_run(inf, hsi_cube_rows, sc, take, &sk, err, sizeof err)) {
        fprintf(stderr, "scene_bench: %s\n", err);
        exit(1);
    }
    double t2 = now();
    *create_s = t1 - t0;
    *tile = hsi_infer_tile_rows(inf);
    hsi_infer_free(inf);
    return t2 - t0;
}

int main(int argc, char **argv)
{
    int h = 145, w = 145, runs = 3, patch_batch = 0;
    hsi_infer_opts o = {HSI_BACKEND_DNNL, 0, 0, 0, 0, NULL};
    const char *dump = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--h")) h = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--w")) w = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tile-pixels")) o.tile_pixels = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) o.batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--patch")) patch_batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dump")) dump = argv[i + 1];
        else if (!strcmp(argv[i], "--backend")) o.backend = strcmp(argv[i + 1], "ref") ? HSI_BACKEND_DNNL : HSI_BACKEND_REF;
        else {
            fprintf(stderr, "usage: %s [--h N] [--w N] [--runs N] [--tile-pixels N] [--batch N] [--patch BATCH] [--backend dnnl|ref] [--dump DIR]\n", argv[0]);
            return 2;
        }
    }
    const hsi_domain *dm = &NET.domains[0];
    int k = dm->classes;
    hsi_model_opts mo = {patch_batch > 0 ? patch_batch : 16, o.backend, 1};
    char err[512] = "";
    hsi_model *m = NET.create(&mo, err, sizeof err);
    if (!m) {
        fprintf(stderr, "scene_bench: %s\n", err);
        return 1;
    }
    hsi_param *ps;
    int np = NET.params(m, &ps);
    for (int i = 0; i < np; i++) {
        double fan = ps[i].init.fan_in > 0 ? (double)ps[i].init.fan_in : 1.0;
        for (int64_t j = 0; j < ps[i].numel; j++) {
            double u = urand(), v;
            switch (ps[i].role) {
            case HSI_ROLE_BN_GAMMA: v = 0.8 + 0.4 * u; break;
            case HSI_ROLE_BN_VAR: v = 0.5 + u; break;
            case HSI_ROLE_BN_BETA: case HSI_ROLE_BN_MEAN: case HSI_ROLE_BIAS: v = 0.2 * (u - 0.5); break;
            default: v = (u - 0.5) * sqrt(24.0 / fan); break;
            }
            ps[i].value[j] = (float)v;
        }
    }
    scene sc = {.h = h, .w = w, .bands = dm->bands,
                .data = malloc(sizeof(float) * (size_t)h * w * dm->bands)};
    float *z = malloc(sizeof(float) * (size_t)h * w * k);
    if (!sc.data || !z) return 1;
    for (size_t i = 0; i < (size_t)h * w * dm->bands; i++) sc.data[i] = (float)(2 * urand() - 1);
    const hsi_scene_prog *sp = NET.scene ? &NET.scene[0] : NULL;
    const char *kinds[] = {"fully convolutional", "hoisted", "patch by patch"};
    if (sp)
        printf("hsicc %s scene %dx%dx%d: %s; FLOPs/pixel patch net %.3f M -> scene program %.3f M (%.1fx fewer)\n",
               NET.name, h, w, dm->bands, kinds[sp->kind], sp->flops_patch / 1e6, sp->flops_scene / 1e6,
               sp->flops_patch / sp->flops_scene);
    int threads = fma_threads();
    int width = 0;
    double peak = fma_peak(threads, &width);
    printf("machine FMA peak: %.1f GFLOP/s (%d threads, %d-wide float FMA)\n", peak, threads, width);
    double best = 1e30, best_create = 0;
    int tile = 0;
    for (int r = 0; r < runs; r++) {
        double cs;
        double t = run(m, &sc, &o, z, &cs, &tile);
        if (t < best) best = t, best_create = cs;
    }
    double px = (double)h * w;
    double fl = sp ? sp->flops_scene * (double)(h + dm->patch - 1) * (w + dm->patch - 1) : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("hsicc %s scene_program wall_s=%.3f create_s=%.3f px_per_s=%.0f gflops=%.1f peak_frac=%.2f tile_rows=%d maxrss_mb=%.1f\n",
           NET.name, best, best_create, px / best, fl / best / 1e9, peak > 0 ? fl / best / 1e9 / peak : 0,
           tile, ru.ru_maxrss / 1024.0);
    if (dump) {
        char path[4200];
        snprintf(path, sizeof path, "%s/weights.safetensors", dump);
        if (hsi_mkdirs(dump, err, sizeof err) || hsi_st_save_params(path, ps, np, NULL, 0, err, sizeof err)) {
            fprintf(stderr, "scene_bench: %s\n", err);
            return 1;
        }
        float *hwb = malloc(sizeof(float) * (size_t)h * w * dm->bands);
        for (int b = 0; b < dm->bands; b++)
            for (size_t p = 0; p < (size_t)h * w; p++) hwb[p * dm->bands + b] = sc.data[(size_t)b * h * w + p];
        hsi_array a = {3, {h, w, dm->bands}, HSI_DT_F32, hwb};
        hsi_array l = {2, {(int64_t)h * w, k}, HSI_DT_F32, z};
        snprintf(path, sizeof path, "%s/scene.npy", dump);
        if (hsi_npy_write(path, &a, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
        snprintf(path, sizeof path, "%s/logits.npy", dump);
        if (hsi_npy_write(path, &l, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
        free(hwb);
    }
    if (patch_batch > 0) {
        hsi_infer_opts po = o;
        po.force_patch = 1;
        po.batch = patch_batch;
        float *zp = malloc(sizeof(float) * (size_t)h * w * k);
        double cs;
        double t = run(m, &sc, &po, zp, &cs, &tile);
        double worst = 0, scale = 1e-6;
        int64_t diff = 0;
        for (size_t i = 0; i < (size_t)h * w * k; i++) {
            worst = fmax(worst, fabs((double)zp[i] - z[i]));
            scale = fmax(scale, fabs((double)zp[i]));
        }
        for (size_t p = 0; p < (size_t)h * w; p++) {
            int a = 0, b = 0;
            for (int j = 1; j < k; j++) {
                if (z[p * k + j] > z[p * k + a]) a = j;
                if (zp[p * k + j] > zp[p * k + b]) b = j;
            }
            diff += a != b;
        }
        printf("hsicc %s patch_net batch=%d wall_s=%.3f px_per_s=%.0f speedup=%.1fx max_rel_diff=%.2e argmax_diff=%lld\n",
               NET.name, patch_batch, t, px / t, t / best, worst / scale, (long long)diff);
        free(zp);
    }
    NET.destroy(m);
    free(sc.data), free(z);
    return 0;
}
