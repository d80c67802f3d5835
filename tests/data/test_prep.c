/* test_prep.c — standardisation (brute-force statistics in double; the Salinas-A band-0 mean and
 * population std from numpy; train-only statistics; re-applying saved statistics is bit-exact)
 * and patch extraction (hand-written 3x3 / 5x5 patches for zero, reflect and replicate borders;
 * every pixel of a small scene against a padded-image oracle); a compact cube (16-bit samples,
 * standardised when read) gives the float cube's bits in every read and patch (under every
 * dihedral transform too), and hsi_standardize_s16 the division's on every 16-bit sample; a cube that
 * 16-bit integers cannot hold exactly stays float. */
#include "tdata.h"

#include <math.h>

#include "hsi_prep.h"

static void standardisation(const char *sh)
{
    enum { H = 5, W = 7, NB = 3 };
    float d[NB * H * W];
    hsi_rng rng;
    hsi_rng_seed(&rng, 42);
    for (int i = 0; i < NB * H * W; i++)
        d[i] = i / (H * W) == 2 ? 7.0f : (float)(hsi_rng_next(&rng) % 1000) / 10.0f - 20.0f;
    float orig[NB * H * W];
    memcpy(orig, d, sizeof d);
    hsi_cube c = {.h = H, .w = W, .bands = NB, .data = d};
    float mean[NB], sd[NB];
    char err[256];
    CHECK(hsi_standardize(&c, NULL, mean, sd, err, sizeof err) == 0);
    for (int b = 0; b < NB; b++) {
        double s = 0, ss = 0, t = 0, tt = 0;
        for (int i = 0; i < H * W; i++) {
            s += orig[b * H * W + i];
            t += d[b * H * W + i];
        }
        double m = s / (H * W);
        for (int i = 0; i < H * W; i++) {
            ss += (orig[b * H * W + i] - m) * (orig[b * H * W + i] - m);
            tt += (double)d[b * H * W + i] * d[b * H * W + i];
        }
        double dev = sqrt(ss / (H * W));
        CHECK(fabs(mean[b] - m) < 1e-4);
        CHECK(fabs(sd[b] - (dev > 0 ? dev : 1)) < 1e-4);
        CHECK(fabs(t / (H * W)) < 1e-5);                          /* mean 0 */
        CHECK(fabs(tt / (H * W) - (b == 2 ? 0 : 1)) < 1e-4);      /* variance 1; constant band 0 */
    }
    /* Re-applying the saved statistics gives the same bits. */
    float again[NB * H * W];
    memcpy(again, orig, sizeof orig);
    hsi_cube c2 = {.h = H, .w = W, .bands = NB, .data = again};
    hsi_standardize_apply(&c2, mean, sd);
    CHECK(memcmp(again, d, sizeof d) == 0);
    /* Training-pixel statistics: the selected pixels end with mean 0. */
    uint8_t use[H * W] = {0};
    for (int i = 0; i < H * W; i += 3)
        use[i] = 1;
    memcpy(again, orig, sizeof orig);
    CHECK(hsi_standardize(&c2, use, mean, sd, err, sizeof err) == 0);
    double s = 0;
    int n = 0;
    for (int i = 0; i < H * W; i++)
        if (use[i]) {
            s += again[i];
            n++;
        }
    CHECK(fabs(s / n) < 1e-5);
    memset(use, 0, sizeof use);
    CHECK(hsi_standardize(&c2, use, NULL, NULL, err, sizeof err) == -1);
    CHECK_HAS(err, "no pixel");

    if (!sh)
        return;
    char path[4096];
    hsi_cube sa;
    snprintf(path, sizeof path, "%s/SalinasA/SalinasA_corrected.mat", sh);
    CHECK(hsi_cube_read(path, NULL, &sa, err, sizeof err) == 0);
    float m2[204], s2[204];
    CHECK(hsi_standardize(&sa, NULL, m2, s2, err, sizeof err) == 0);
    /* numpy: c[:,:,0].mean() = 374.35990473521997, .std() = 49.646199082302246 */
    CHECK(fabs(m2[0] - 374.35990473521997) < 1e-3);
    CHECK(fabs(s2[0] - 49.646199082302246) < 1e-3);
    hsi_cube_free(&sa);
}

/* Oracle: the value at (r, c) of band b after padding the image by `half` on every side, built
 * as numpy.pad does (mode constant / reflect / edge), computed coordinate by coordinate. */
static float padded(const hsi_cube *c, int b, int r, int col, hsi_pad pad)
{
    int rr = r, cc = col;
    for (int pass = 0; pass < 64 && (rr < 0 || rr >= c->h || cc < 0 || cc >= c->w); pass++) {
        if (pad == HSI_PAD_ZERO)
            return 0;
        if (pad == HSI_PAD_REPLICATE) {
            rr = rr < 0 ? 0 : rr >= c->h ? c->h - 1 : rr;
            cc = cc < 0 ? 0 : cc >= c->w ? c->w - 1 : cc;
        } else {                                  /* reflect about the edge pixel, repeatedly */
            if (rr < 0) rr = -rr;
            if (rr >= c->h) rr = 2 * (c->h - 1) - rr;
            if (cc < 0) cc = -cc;
            if (cc >= c->w) cc = 2 * (c->w - 1) - cc;
        }
    }
    return c->data[((size_t)b * c->h + rr) * c->w + cc];
}

static void patches(void)
{
    /* One band, 3 x 4, values 1..12 row by row. */
    float d[12];
    for (int i = 0; i < 12; i++)
        d[i] = (float)(i + 1);
    hsi_cube c = {.h = 3, .w = 4, .bands = 1, .data = d};
    float out[25];
    static const float zero00[9] = {0, 0, 0, 0, 1, 2, 0, 5, 6};
    static const float repl00[9] = {1, 1, 2, 1, 1, 2, 5, 5, 6};
    static const float refl00[9] = {6, 5, 6, 2, 1, 2, 6, 5, 6};
    hsi_patch(&c, 0, 0, 3, HSI_PAD_ZERO, out);
    CHECK(memcmp(out, zero00, sizeof zero00) == 0);
    hsi_patch(&c, 0, 0, 3, HSI_PAD_REPLICATE, out);
    CHECK(memcmp(out, repl00, sizeof repl00) == 0);
    hsi_patch(&c, 0, 0, 3, HSI_PAD_REFLECT, out);
    CHECK(memcmp(out, refl00, sizeof refl00) == 0);
    /* 5 x 5 at (0, 3), reflect: rows -2..2 -> 2 1 0 1 2, cols 1..5 -> 1 2 3 2 1. */
    static const float refl03[25] = {10, 11, 12, 11, 10, 6, 7, 8, 7, 6, 2, 3, 4, 3, 2,
                                     6, 7, 8, 7, 6, 10, 11, 12, 11, 10};
    hsi_patch(&c, 0, 3, 5, HSI_PAD_REFLECT, out);
    CHECK(memcmp(out, refl03, sizeof refl03) == 0);
    static const float mid[9] = {1, 2, 3, 5, 6, 7, 9, 10, 11};   /* interior (fast path) */
    hsi_patch(&c, 1, 1, 3, HSI_PAD_ZERO, out);
    CHECK(memcmp(out, mid, sizeof mid) == 0);
    hsi_pad p;
    CHECK(hsi_pad_parse("reflect", &p) == 0 && p == HSI_PAD_REFLECT);
    CHECK(hsi_pad_parse("mirror", &p) == -1);

    /* Every pixel of a 3-band 6 x 5 scene, p = 1, 3, 5, 7, 9 (9 > the scene), all pads. */
    enum { H = 6, W = 5, NB = 3 };
    float e[NB * H * W];
    for (int i = 0; i < NB * H * W; i++)
        e[i] = (float)(i * 7 % 31) - 15.0f;
    hsi_cube s = {.h = H, .w = W, .bands = NB, .data = e};
    float *buf = malloc(sizeof *buf * NB * 81 * H * W);
    int32_t pix[H * W];
    for (int i = 0; i < H * W; i++)
        pix[i] = i;
    for (int pd = 0; pd < 3; pd++)
        for (int pp = 1; pp <= 9; pp += 2) {
            hsi_patches(&s, pix, H * W, pp, (hsi_pad)pd, buf);
            int bad = 0, half = pp / 2;
            for (int k = 0; k < H * W; k++)
                for (int b = 0; b < NB; b++)
                    for (int i = 0; i < pp; i++)
                        for (int j = 0; j < pp; j++)
                            bad += buf[(((size_t)k * NB + b) * pp + i) * pp + j]
                                   != padded(&s, b, k / W - half + i, k % W - half + j, (hsi_pad)pd);
            if (bad)
                fprintf(stderr, "pad %d p %d: %d values differ\n", pd, pp, bad);
            CHECK_EQ(bad, 0);
        }
    free(buf);
}

/* A band-major cube of n values from gen(i) as floats, malloc'd. */
static float *cube_of(int n, float (*gen)(int))
{
    float *x = malloc(sizeof *x * (size_t)n);
    for (int i = 0; i < n; i++) x[i] = gen(i);
    return x;
}

static float gen_i16(int i) { return i / 63 == 2 ? 9.0f : (float)((i * 2654435761u) % 60000) - 30000.0f; }
static float gen_u16(int i) { return (float)((i * 40503u) % 65536); }
static float gen_half(int i) { return i == 17 ? 0.5f : (float)i; }
static float gen_negzero(int i) { return i == 5 ? -0.0f : (float)i; }
static float gen_wide(int i) { return i == 9 ? 70000.0f : (float)i; }
static float gen_span(int i) { return i == 3 ? -1.0f : i == 4 ? 40000.0f : (float)i; }

static void compact(void)
{
    enum { H = 7, W = 9, NB = 3, N = NB * H * W, P = 5 };
    float (*gens[2])(int) = {gen_i16, gen_u16};
    for (int g = 0; g < 2; g++)
        for (int std = 0; std < 2; std++) {
            float *f = cube_of(N, gens[g]), *s = cube_of(N, gens[g]);
            hsi_cube fc = {.h = H, .w = W, .bands = NB, .data = f};
            hsi_cube sc = {.h = H, .w = W, .bands = NB, .data = s};
            float mean[NB], sd[NB], got[N], a[NB * P * P], b[NB * P * P];
            char err[128];
            if (std) CHECK(hsi_standardize(&fc, NULL, mean, sd, err, sizeof err) == 0);
            CHECK(hsi_cube_compact(&sc, std ? mean : NULL, std ? sd : NULL) == 0);
            CHECK(sc.data == NULL && sc.s16 != NULL && sc.s16_unsigned == g);
            for (int k = 0; k < NB; k++) hsi_cube_span(&sc, k, 0, H * W, got + k * H * W);
            CHECK(memcmp(got, f, sizeof got) == 0);
            int bad = 0;
            for (int pd = 0; pd < 3; pd++)
                for (int px = 0; px < H * W; px++) {
                    hsi_patch(&fc, px / W, px % W, P, (hsi_pad)pd, a);
                    hsi_patch(&sc, px / W, px % W, P, (hsi_pad)pd, b);
                    bad += memcmp(a, b, sizeof a) != 0;
                }
            CHECK_EQ(bad, 0);
            /* every transform fused into the patch (hsi_patch_dihedral) against the float cube's
             * patch moved by hsi_dihedral: p 1 to 9 (the row kernel's p <= 8 and past it) */
            for (int pp = 1; pp <= 9; pp += 2) {
                size_t per = (size_t)NB * pp * pp;
                float *pa = malloc(sizeof *pa * per), *pb = malloc(sizeof *pb * per),
                      *pt = malloc(sizeof *pt * per), *tmp = malloc(sizeof *tmp * per);
                for (int t = 0; t < HSI_DIHEDRAL_COUNT; t++)
                    for (int px = 0; px < H * W; px++) {
                        hsi_patch(&fc, px / W, px % W, pp, HSI_PAD_REFLECT, pa);
                        hsi_dihedral(pa, pt, NB, pp, t);
                        hsi_patch_dihedral(&sc, px / W, px % W, pp, HSI_PAD_REFLECT, t, pb, tmp);
                        bad += memcmp(pt, pb, sizeof *pb * per) != 0;
                    }
                free(pa);
                free(pb);
                free(pt);
                free(tmp);
            }
            CHECK_EQ(bad, 0);
            CHECK(hsi_cube_compact(&sc, NULL, NULL) == 1);   /* already compact */
            hsi_cube_free(&sc);
            free(f);
        }
    /* 0.5, -0, 70000, or both -1 and 40000: 16-bit integers cannot hold them */
    float (*no[4])(int) = {gen_half, gen_negzero, gen_wide, gen_span};
    for (int g = 0; g < 4; g++) {
        float *f = cube_of(N, no[g]);
        hsi_cube c = {.h = H, .w = W, .bands = NB, .data = f};
        CHECK(hsi_cube_compact(&c, NULL, NULL) == 1 && c.data == f && c.s16 == NULL);
        free(f);
    }
}

/* hsi_standardize_s16 against the division, bit for bit: every int16 and every uint16 under
 * means and deviations of real bands' size and small ones, odd lengths (the vector paths'
 * tails), and samples whose product by 1 / std rounds to another float than the quotient (found
 * by a search: there the vector paths must divide). The ISA paths: data.prep_avx2 and
 * data.prep_generic run this on the lower ones (HSICC_KERNEL_ISA). */
static void standardize_s16(void)
{
    static const struct { int x; double m, sd; } hard[] = {
        {24433, 0x1.647f1a5cp-2, 0x1.ada408p+9},   {6445, 0x1.f28bc20f6cp+3, 0x1.f6c33cp+9},
        {45509, 0x1.76fa77caep+4, 0x1.ef9268p+9},  {54919, 0x1.85ff78cf24p+5, 0x1.bfaafap+9},
        {44808, 0x1.6659208a88p+5, 0x1.6282bcp+10},
    };
    static const double stats[][2] = {{0, 1},          {4523.25, 1307.875}, {-13.5, 0.3125},
                                      {1e-3, 3},       {32767.5, 1e-3},     {-1234.56789, 987.654321},
                                      {0.1, 0x1.8p-3}, {65535, 7}};
    enum { N = 65536 };
    int16_t *a = malloc(sizeof *a * N);
    uint16_t *u = malloc(sizeof *u * N);
    float *got = malloc(sizeof *got * N);
    for (int i = 0; i < N; i++) {
        a[i] = (int16_t)(i - 32768);
        u[i] = (uint16_t)i;
    }
    int bad = 0;
    for (size_t k = 0; k < sizeof stats / sizeof *stats; k++)
        for (int uns = 0; uns < 2; uns++) {
            double m = stats[k][0], sd = stats[k][1];
            hsi_standardize_s16(uns ? (const void *)u : (const void *)a, uns, N, m, sd, got);
            for (int i = 0; i < N; i++) {
                float want = hsi_standardize_value(uns ? (double)u[i] : (double)a[i], m, sd);
                bad += memcmp(&got[i], &want, sizeof want) != 0;
            }
            for (size_t n = 1; n <= 19; n++) {   /* lengths around the vectors' 4 and 8 */
                float t[20];
                t[n] = 42.0f;
                hsi_standardize_s16(uns ? (const void *)(u + 1000) : (const void *)(a + 1000), uns,
                                    n, m, sd, t);
                for (size_t i = 0; i < n; i++) bad += memcmp(&t[i], &got[1000 + i], sizeof *t) != 0;
                bad += t[n] != 42.0f;   /* nothing written past n */
            }
        }
    for (size_t k = 0; k < sizeof hard / sizeof *hard; k++) {
        int x = hard[k].x, uns = x > 32767;
        double q = ((double)x - hard[k].m) * (1.0 / hard[k].sd);
        float want = hsi_standardize_value(x, hard[k].m, hard[k].sd), t[9];
        CHECK((float)q != want);   /* the product alone would be wrong */
        int16_t s[9];
        uint16_t us[9];
        for (int i = 0; i < 9; i++) {
            s[i] = (int16_t)(x - i * 3);
            us[i] = (uint16_t)(x - i * 3);
        }
        hsi_standardize_s16(uns ? (const void *)us : (const void *)s, uns, 9, hard[k].m, hard[k].sd,
                            t);
        for (int i = 0; i < 9; i++) {
            float w = hsi_standardize_value(x - i * 3, hard[k].m, hard[k].sd);
            bad += memcmp(&t[i], &w, sizeof w) != 0;
        }
    }
    if (bad) fprintf(stderr, "hsi_standardize_s16: %d values differ from the division\n", bad);
    CHECK_EQ(bad, 0);
    free(a);
    free(u);
    free(got);
}

int main(void)
{
    standardize_s16();
    standardisation(t_shared());
    patches();
    compact();
    return t_done("data.prep");
}
