/* scene_check.c — the whole-scene inference program against the patch net, pixel by pixel.
 *
 * Built once per netdef with -DNET=<stem>_net. For every domain, on random weights (BN
 * statistics away from identity) and a random scene whose size is not a multiple of anything,
 * it classifies every pixel twice: with the compiled scene program (hsi_infer) and with the
 * patch net's own forward on every patch (force_patch: the path the trainer used before).
 * Both backends, every padding, tiles of a couple of rows (many tiles, halos crossing tile
 * borders) and the default tile, the scene split in 2 and 3 bands of rows (hsi_infer_run_band,
 * as MPI ranks run it); the patch net on oneDNN against the patch net on the reference loops.
 * Contract: logits within 1e-4 of the largest |logit| and the
 * same argmax on every pixel (a pixel whose two best logits are within that tolerance in the
 * reference is a tie, counted and allowed).
 * `scene_check H W` (the fuzz runs, tests/scene/fuzz.py) classifies an H x W scene instead, with
 * 1-row tiles and 5 bands too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi.h"
#include "hsi_data.h"
#include "hsi_infer.h"
#include "hsi_prep.h"

extern const hsi_netdesc NET;

#include "../kernels/test_rng.h"

static double urand(void) { return test_uniform(0.0, 1.0); }
static double nrand(void)
{
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
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

static int classify(hsi_model *m, int d, scene *sc, hsi_backend be, int pad, int force, int tile,
                    float *z)
{
    char err[512] = "";
    hsi_infer_opts o = {be, pad, force ? 4 : 5, tile, force, NULL};
    hsi_infer *inf = hsi_infer_create(&NET, m, d, sc->h, sc->w, &o, err, sizeof err);
    if (!inf) {
        printf("  create failed: %s\n", err);
        return -1;
    }
    sink sk = {sc->w, NET.domains[d].classes, z};
    int rc = hsi_infer_run(inf, hsi_cube_rows, sc, take, &sk, err, sizeof err);
    if (rc) printf("  run failed: %s\n", err);
    if (!force) printf("    kind %d, %d rows per tile, %zu bytes\n", hsi_infer_kind(inf),
                       hsi_infer_tile_rows(inf), hsi_infer_bytes(inf));
    hsi_infer_free(inf);
    return rc;
}

/* The scene in `parts` bands (hsi_infer_band with a halo of patch - 1), each classified by a
 * program of its own rows, into z. */
static int classify_bands(hsi_model *m, int d, scene *sc, hsi_backend be, int pad, int parts, float *z)
{
    char err[512] = "";
    hsi_infer_opts o = {be, pad, 5, 1, 0, NULL};
    sink sk = {sc->w, NET.domains[d].classes, z};
    for (int part = 0; part < parts; part++) {
        hsi_band b = hsi_infer_band(sc->h, NET.domains[d].patch - 1, part, parts);
        if (b.b1 <= b.b0) continue;
        hsi_infer *inf = hsi_infer_create(&NET, m, d, b.e1 - b.e0, sc->w, &o, err, sizeof err);
        if (!inf || hsi_infer_run_band(inf, &b, hsi_cube_rows, sc, take, &sk, err, sizeof err)) {
            printf("  band %d of %d failed: %s\n", part, parts, err);
            hsi_infer_free(inf);
            return -1;
        }
        hsi_infer_free(inf);
    }
    return 0;
}

static int compare(const char *what, const float *a, const float *ref, int64_t npx, int k)
{
    double scale = 1e-6, worst = 0;
    for (int64_t i = 0; i < npx * k; i++) scale = fmax(scale, fabs(ref[i]));
    int64_t wrong = 0, ties = 0;
    for (int64_t i = 0; i < npx * k; i++) worst = fmax(worst, fabs((double)a[i] - ref[i]));
    for (int64_t p = 0; p < npx; p++) {
        const float *x = a + p * k, *y = ref + p * k;
        int ba = 0, by = 0;
        for (int j = 1; j < k; j++) {
            if (x[j] > x[ba]) ba = j;
            if (y[j] > y[by]) by = j;
        }
        if (ba == by) continue;
        if (fabs((double)y[ba] - y[by]) <= 1e-4 * scale) ties++;
        else wrong++;
    }
    int ok = worst <= 1e-4 * scale && !wrong;
    printf("  %-44s max |diff| / max |logit| = %.2e, argmax differs on %lld of %lld pixels (%lld ties)  %s\n",
           what, worst / scale, (long long)wrong, (long long)npx, (long long)ties, ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    int fails = 0, sh = argc == 3 ? atoi(argv[1]) : 0, sw = argc == 3 ? atoi(argv[2]) : 0;
    hsi_backend bes[2] = {HSI_BACKEND_REF, HSI_BACKEND_DNNL};
    /* the patch net's logits on the reference loops, per domain and padding: oneDNN's must
     * equal them too (the same weights and scene on both backends) */
    enum { MAXD = 16 };
    float *ref_loops[MAXD][3] = {{0}};
    for (int bi = 0; bi < 2; bi++) {
        hsi_model_opts mo = {4, bes[bi], 7};
        char err[512] = "";
        hsi_model *m = NET.create(&mo, err, sizeof err);
        if (!m) {
            if (bes[bi] == HSI_BACKEND_DNNL) { printf("oneDNN not built in: %s\n", err); continue; }
            printf("create: %s\n", err);
            return 1;
        }
        hsi_param *ps;
        int np = NET.params(m, &ps);
        test_rng_state = 0x9E3779B97F4A7C15ull;
        for (int i = 0; i < np; i++) {
            double fan = ps[i].init.fan_in > 0 ? (double)ps[i].init.fan_in : 1.0;
            for (int64_t k = 0; k < ps[i].numel; k++) {
                double v;
                switch (ps[i].role) {
                case HSI_ROLE_BN_GAMMA: v = 1.0 + 0.4 * (urand() - 0.5); break;
                case HSI_ROLE_BN_VAR: v = 0.5 + urand(); break;
                case HSI_ROLE_BN_BETA: case HSI_ROLE_BN_MEAN: case HSI_ROLE_BIAS: v = 0.3 * (urand() - 0.5); break;
                default: v = nrand() * sqrt(2.0 / fan); break;
                }
                ps[i].value[k] = (float)v;
            }
        }
        for (int d = 0; d < NET.n_domains; d++) {
            const hsi_domain *dm = &NET.domains[d];
            scene sc = {.h = sh > 0 ? sh : dm->patch + 6, .w = sw > 0 ? sw : dm->patch + 4,
                        .bands = dm->bands};
            int64_t npx = (int64_t)sc.h * sc.w;
            sc.data = malloc(sizeof(float) * (size_t)npx * sc.bands);
            float *ref = malloc(sizeof(float) * (size_t)npx * dm->classes);
            float *got = malloc(sizeof(float) * (size_t)npx * dm->classes);
            if (!sc.data || !ref || !got) return 1;
            for (int64_t i = 0; i < npx * sc.bands; i++) sc.data[i] = (float)nrand();
            for (int pad = 0; pad < 3; pad++) {
                printf("%s domain %d (%s), %dx%dx%d scene, pad %s:\n", bi ? "dnnl" : "ref", d,
                       dm->name, sc.h, sc.w, sc.bands, pad == 0 ? "zero" : pad == 1 ? "reflect" : "replicate");
                if (classify(m, d, &sc, bes[bi], pad, 1, 0, ref)) { fails++; continue; }
                if (d < MAXD && !bi && (ref_loops[d][pad] = malloc(sizeof(float) * (size_t)npx * dm->classes)))
                    memcpy(ref_loops[d][pad], ref, sizeof(float) * (size_t)npx * dm->classes);
                if (d < MAXD && bi && ref_loops[d][pad])
                    fails += compare("patch net, oneDNN vs the reference loops", ref, ref_loops[d][pad],
                                     npx, dm->classes);
                int tiles[3] = {2 * (sc.w + dm->patch - 1), 0, 1};
                for (int t = 0; t < (sh > 0 ? 3 : 2); t++) {
                    char what[96];
                    snprintf(what, sizeof what, "scene program, %s tiles", t == 1 ? "default" : t ? "1-row" : "2-row");
                    if (classify(m, d, &sc, bes[bi], pad, 0, tiles[t], got)) { fails++; continue; }
                    fails += compare(what, got, ref, npx, dm->classes);
                }
                for (int parts = 2; parts <= (sh > 0 ? 5 : 3); parts += parts == 3 ? 2 : 1) {
                    char what[96];
                    snprintf(what, sizeof what, "scene program, %d bands of rows", parts);
                    memset(got, 0, sizeof(float) * (size_t)npx * dm->classes);
                    if (classify_bands(m, d, &sc, bes[bi], pad, parts, got)) { fails++; continue; }
                    fails += compare(what, got, ref, npx, dm->classes);
                }
            }
            /* the patch mode (hsi_infer_patches) against the model's own inference forward */
            {
                int64_t per = 1, n = 11;
                for (int j = 0; j < dm->ndim; j++) per *= dm->in_dims[j];
                float *x = malloc(sizeof(float) * (size_t)(n * per));
                float *zr = malloc(sizeof(float) * (size_t)(n * dm->classes));
                float *zp = malloc(sizeof(float) * (size_t)(n * dm->classes));
                for (int64_t i = 0; i < n * per; i++) x[i] = (float)nrand();
                for (int64_t i0 = 0; i0 < n; i0 += 4) {
                    int nb = n - i0 < 4 ? (int)(n - i0) : 4;
                    NET.forward(m, d, x + i0 * per, nb, 0, 0);
                    memcpy(zr + i0 * dm->classes, NET.logits(m, d), sizeof(float) * (size_t)nb * dm->classes);
                }
                hsi_infer_opts po = {bes[bi], 0, 5, 0, 0, NULL};
                hsi_infer *pi = hsi_infer_patches_create(&NET, m, d, &po, err, sizeof err);
                if (!pi || hsi_infer_patches(pi, x, n, zp, err, sizeof err)) {
                    printf("  patch mode failed: %s\n", err);
                    fails++;
                } else {
                    printf("%s domain %d, %lld patches:\n", bi ? "dnnl" : "ref", d, (long long)n);
                    fails += compare("patch mode vs the model's forward", zp, zr, n, dm->classes);
                }
                hsi_infer_free(pi);
                free(x), free(zr), free(zp);
            }
            free(sc.data), free(ref), free(got);
        }
        NET.destroy(m);
    }
    for (int d = 0; d < MAXD; d++)
        for (int pad = 0; pad < 3; pad++) free(ref_loops[d][pad]);
    printf("%s\n", fails ? "FAILED" : "all equal");
    return fails ? 1 : 0;
}
