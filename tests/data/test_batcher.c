/* test_batcher.c — the training batcher and the evaluation iterator on a small synthetic scene:
 * shapes and contents (each x is the patch of its pixel, or one of its 8 transforms), always
 * full batches, every sample once per epoch (x8 expansion: every pixel under every transform),
 * identical streams for the same seed with or without the prefetch thread and whatever the
 * consumer's timing, bit-exact resume from a saved cursor, label windows for a per-pixel loss
 * (the labels around each sample, -1 outside the scene, transformed like its patch), and
 * in-order evaluation with a partial last batch; a compact cube's stream is its float twin's on
 * the prefetch thread and on OpenMP's threads. */
#include "tdata.h"

#include <time.h>

#include "hsi_prep.h"

enum { H = 9, W = 11, NB = 3, P = 3, B = 8, STEPS = 40 };
#define PER (NB * P * P)

static float cube_data[NB * H * W];
static int32_t labels[H * W];
static int32_t index_[37];
static hsi_cube cube = {.h = H, .w = W, .bands = NB, .data = cube_data};

typedef struct rec {
    float x[STEPS][B * PER];
    int32_t y[STEPS][B], pix[STEPS][B];
} rec;

static void record(hsi_batcher *b, rec *r, int from, int to, int jitter)
{
    for (int s = from; s < to; s++) {
        const hsi_batch *bt = hsi_batcher_next(b);
        CHECK_EQ(bt->n, B);
        CHECK((uintptr_t)bt->x % 64 == 0);   /* a model reads it in place (hsi_model_input_to) */
        memcpy(r->x[s], bt->x, sizeof r->x[s]);
        memcpy(r->y[s], bt->y, sizeof r->y[s]);
        memcpy(r->pix[s], bt->pix, sizeof r->pix[s]);
        if (jitter) {
            struct timespec ts = {0, (long)(s % 3) * 200000L};
            nanosleep(&ts, NULL);
        }
    }
}

static hsi_batcher *make(hsi_augment aug, uint64_t seed, int prefetch)
{
    char err[256];
    hsi_batcher_opts o = {.cube = &cube, .labels = labels, .index = index_, .n = 37, .batch = B,
                          .patch = P, .pad = HSI_PAD_ZERO, .augment = aug, .seed = seed,
                          .prefetch = prefetch};
    hsi_batcher *b = hsi_batcher_create(&o, err, sizeof err);
    if (!b)
        fprintf(stderr, "%s\n", err);
    CHECK(b != NULL);
    return b;
}

/* Which transform t maps the patch of pix to x (-1: none). */
static int transform_of(const float *x, int32_t pix)
{
    float p[PER], q[PER];
    hsi_patch(&cube, pix / W, pix % W, P, HSI_PAD_ZERO, p);
    for (int t = 0; t < 8; t++) {
        hsi_dihedral(p, q, NB, P, t);
        if (memcmp(q, x, sizeof q) == 0)
            return t;
    }
    return -1;
}

static void stream_checks(hsi_augment aug)
{
    static rec a, b, c;
    hsi_batcher *ba = make(aug, 99, 1), *bb = make(aug, 99, 0), *bc = make(aug, 100, 1);
    record(ba, &a, 0, STEPS, 1);
    record(bb, &b, 0, STEPS, 0);
    record(bc, &c, 0, STEPS, 0);
    CHECK(memcmp(&a, &b, sizeof a) == 0);          /* prefetch or not, timing: same stream */
    CHECK(memcmp(&a, &c, sizeof a) != 0);          /* another seed: another stream */
    /* Contents: label of the pixel, patch (or a transform of it). */
    int tcount[8] = {0};
    for (int s = 0; s < STEPS; s++)
        for (int k = 0; k < B; k++) {
            CHECK_EQ(a.y[s][k], labels[a.pix[s][k]]);
            int t = transform_of(a.x[s] + k * PER, a.pix[s][k]);
            CHECK(t >= 0);
            if (aug == HSI_AUG_NONE)
                CHECK_EQ(t, 0);
            tcount[t & 7]++;
        }
    if (aug == HSI_AUG_RANDOM)
        for (int t = 0; t < 8; t++)
            CHECK(tcount[t] > STEPS * B / 8 / 3);   /* all 8 used, roughly evenly */
    /* Epochs: each epoch's samples are the training set once (x8: each pixel 8 times, once per
     * transform). The stream is flat: batches are cut from it, so epochs straddle batches. */
    int64_t esize = hsi_batcher_epoch_size(ba);
    CHECK_EQ(esize, aug == HSI_AUG_EXPAND8 ? 8 * 37 : 37);
    int64_t total = (int64_t)STEPS * B;
    for (int64_t e0 = 0; e0 + esize <= total; e0 += esize) {
        int seen[H * W][8];
        memset(seen, 0, sizeof seen);
        for (int64_t i = e0; i < e0 + esize; i++) {
            int s = (int)(i / B), k = (int)(i % B);
            int t = aug == HSI_AUG_EXPAND8 ? transform_of(a.x[s] + k * PER, a.pix[s][k]) : 0;
            seen[a.pix[s][k]][t & 7]++;
        }
        for (int j = 0; j < 37; j++)
            for (int t = 0; t < (aug == HSI_AUG_EXPAND8 ? 8 : 1); t++)
                CHECK_EQ(seen[index_[j]][t], 1);
    }
    /* Resume: the cursor after 13 batches, restored in a fresh batcher and in the same one. */
    hsi_batcher_state st, st2;
    hsi_batcher *bd = make(aug, 99, 1);
    static rec d;
    record(bd, &d, 0, 13, 0);
    hsi_batcher_get_state(bd, &st);
    CHECK_EQ(st.step, 13);
    CHECK_EQ(st.epoch * (uint64_t)esize + st.pos, 13 * B);
    hsi_batcher_free(bd);
    bd = make(aug, 99, 1);
    char err[256];
    CHECK(hsi_batcher_set_state(bd, &st, err, sizeof err) == 0);
    record(bd, &d, 13, STEPS, 1);
    CHECK(memcmp(&a, &d, sizeof a) == 0);
    hsi_batcher_get_state(bd, &st2);
    CHECK_EQ(st2.step, STEPS);
    CHECK(hsi_batcher_set_state(ba, &st, err, sizeof err) == 0);   /* rewind the first one */
    record(ba, &c, 13, STEPS, 0);
    CHECK(memcmp(a.x[13], c.x[13], sizeof a.x[0] * (STEPS - 13)) == 0);
    st.seed = 1;
    CHECK(hsi_batcher_set_state(bd, &st, err, sizeof err) == -1);
    CHECK_HAS(err, "seed 1");
    hsi_batcher_free(ba);
    hsi_batcher_free(bb);
    hsi_batcher_free(bc);
    hsi_batcher_free(bd);
}

/* A compact cube (16-bit samples standardised as they are read: hsi_patch_dihedral's fused
 * path) gives the stream of its float twin, on the prefetch thread, on the caller's OpenMP
 * threads (data.batcher_threads3 runs this with 3) and as the automatic choice (-1). */
static void compact_streams(void)
{
    static float f[NB * H * W];
    float *g = malloc(sizeof f);   /* the compact cube frees its floats */
    CHECK(g != NULL);
    for (int i = 0; i < NB * H * W; i++) f[i] = g[i] = (float)((i * 37 + 11) % 101 - 50);
    hsi_cube fc = {.h = H, .w = W, .bands = NB, .data = f}, sc = {.h = H, .w = W, .bands = NB,
                                                                  .data = g};
    float mean[NB], sd[NB];
    char err[256];
    CHECK(hsi_standardize(&fc, NULL, mean, sd, err, sizeof err) == 0);
    CHECK(hsi_cube_compact(&sc, mean, sd) == 0 && sc.s16 != NULL);
    static rec r[4];
    const hsi_cube *cubes[4] = {&fc, &sc, &sc, &sc};
    int modes[4] = {1, 1, 0, -1};
    for (int k = 0; k < 4; k++) {
        hsi_batcher_opts o = {.cube = cubes[k], .labels = labels, .index = index_, .n = 37,
                              .batch = B, .patch = 5, .pad = HSI_PAD_REFLECT,
                              .augment = HSI_AUG_RANDOM, .seed = 7, .prefetch = modes[k]};
        hsi_batcher *b = hsi_batcher_create(&o, err, sizeof err);
        CHECK(b != NULL);
        for (int s = 0; s < STEPS; s++) {   /* patch 5: the first B * 3 * 9 floats of x */
            const hsi_batch *bt = hsi_batcher_next(b);
            memcpy(r[k].x[s], bt->x, sizeof r[k].x[s]);
            memcpy(r[k].pix[s], bt->pix, sizeof r[k].pix[s]);
        }
        hsi_batcher_free(b);
    }
    for (int k = 1; k < 4; k++) CHECK(memcmp(&r[0], &r[k], sizeof r[0]) == 0);
    hsi_cube_free(&sc);
}

/* label_patch: each sample's window of wl is the L x L labels around its pixel (-1 outside the
 * scene) under the transform that made its patch. */
static void window_checks(void)
{
    enum { L = 3 };
    static int32_t wl[H * W];
    for (int i = 0; i < H * W; i++) wl[i] = i % 7 == 0 ? -1 : labels[i];   /* "training only" */
    char err[256];
    hsi_batcher_opts o = {.cube = &cube, .labels = labels, .index = index_, .n = 37, .batch = B,
                          .patch = P, .pad = HSI_PAD_ZERO, .augment = HSI_AUG_RANDOM, .seed = 5,
                          .prefetch = 1, .label_patch = L, .window_labels = wl};
    hsi_batcher *b = hsi_batcher_create(&o, err, sizeof err);
    CHECK(b != NULL);
    int outside = 0, turned = 0;
    for (int s = 0; s < STEPS; s++) {
        const hsi_batch *bt = hsi_batcher_next(b);
        CHECK(bt->yw != NULL);
        for (int k = 0; k < B; k++) {
            int32_t pix = bt->pix[k];
            int t = transform_of(bt->x + (size_t)k * PER, pix);
            float win[L * L], tw[L * L];
            for (int i = 0; i < L; i++)
                for (int j = 0; j < L; j++) {
                    int r = pix / W - L / 2 + i, c = pix % W - L / 2 + j;
                    int in = r >= 0 && r < H && c >= 0 && c < W;
                    win[i * L + j] = in ? (float)wl[r * W + c] : -1.0f;
                    outside += !in;
                }
            hsi_dihedral(win, tw, 1, L, t);
            turned += t != 0;
            CHECK_EQ(bt->yw[k * L * L + L * L / 2], wl[pix]);   /* the centre: the sample's */
            for (int q = 0; q < L * L; q++) CHECK_EQ(bt->yw[k * L * L + q], (int32_t)tw[q]);
        }
    }
    CHECK(outside > 0 && turned > 0);
    hsi_batcher_free(b);
    o.label_patch = 5;   /* larger than the patch */
    CHECK(hsi_batcher_create(&o, err, sizeof err) == NULL);
    CHECK_HAS(err, "label window");
    o.label_patch = 1;
    o.window_labels = NULL;
    CHECK(hsi_batcher_create(&o, err, sizeof err) == NULL);
    CHECK_HAS(err, "label window");
}

int main(void)
{
    for (int i = 0; i < NB * H * W; i++)
        cube_data[i] = (float)((i * 37 + 11) % 101) / 7.0f;   /* no symmetric patches */
    int n = 0;
    for (int i = 0; i < H * W; i++) {
        labels[i] = i % 3 == 0 ? -1 : i % 5;
        if (labels[i] >= 0 && n < 37)
            index_[n++] = i;
    }
    CHECK_EQ(n, 37);
    for (int j = 0; j < 37; j++) {          /* transforms are identifiable: 8 distinct patches */
        float p0[PER], q[8][PER];
        hsi_patch(&cube, index_[j] / W, index_[j] % W, P, HSI_PAD_ZERO, p0);
        for (int t = 0; t < 8; t++)
            hsi_dihedral(p0, q[t], NB, P, t);
        for (int t = 0; t < 8; t++)
            for (int u = t + 1; u < 8; u++)
                CHECK(memcmp(q[t], q[u], sizeof q[t]) != 0);
    }
    stream_checks(HSI_AUG_NONE);
    stream_checks(HSI_AUG_RANDOM);
    stream_checks(HSI_AUG_EXPAND8);
    window_checks();
    compact_streams();

    /* Bad options. */
    char err[256];
    hsi_batcher_opts o = {.cube = &cube, .labels = labels, .index = index_, .n = 37, .batch = B,
                          .patch = 4};
    CHECK(hsi_batcher_create(&o, err, sizeof err) == NULL);
    CHECK_HAS(err, "odd");
    int32_t bad[1] = {0};   /* pixel 0 is unlabelled */
    o = (hsi_batcher_opts){.cube = &cube, .labels = labels, .index = bad, .n = 1, .batch = B, .patch = 3};
    CHECK(hsi_batcher_create(&o, err, sizeof err) == NULL);
    CHECK_HAS(err, "unlabelled");

    /* Evaluation: in order, 8 8 8 8 5. */
    hsi_evaliter it;
    CHECK(hsi_evaliter_init(&it, &cube, labels, index_, 37, B, 5, HSI_PAD_ZERO, err, sizeof err) == 0);
    const hsi_batch *bt;
    int k = 0, nb = 0;
    float p[NB * 25];
    while ((bt = hsi_evaliter_next(&it)) != NULL) {
        CHECK_EQ(bt->n, nb < 4 ? B : 5);
        CHECK((uintptr_t)bt->x % 64 == 0);
        for (int j = 0; j < bt->n; j++, k++) {
            CHECK_EQ(bt->pix[j], index_[k]);
            CHECK_EQ(bt->y[j], labels[index_[k]]);
            hsi_patch(&cube, index_[k] / W, index_[k] % W, 5, HSI_PAD_ZERO, p);
            CHECK(memcmp(p, bt->x + (size_t)j * NB * 25, sizeof p) == 0);
        }
        nb++;
    }
    CHECK_EQ(k, 37);
    CHECK_EQ(nb, 5);
    hsi_evaliter_free(&it);
    return t_done("data.batcher");
}
