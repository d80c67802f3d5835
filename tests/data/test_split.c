/* test_split.c — splits on the real label maps: the SSRN rule gives 2,055 / 1,025 / 7,169 on
 * Indian Pines (and its per-class counts) and 4,281 / 4,281 / 34,214 on Pavia University;
 * 200 per class on the 8-class subset gives 1,600 / 6,904; the at-most-half rule; fractions
 * with stratified validation; spatial blocks are whole; determinism for a seed; mask files round
 * trip and are checked on load; the overlap count against brute force. */
#include "tdata.h"

#include <math.h>

#include "hsi_prep.h"

static int32_t *load_remapped(const char *sh, const char *file, const int32_t *ids, int n,
                              int *h, int *w)
{
    char path[4096], err[1024];
    hsi_labels l;
    snprintf(path, sizeof path, "%s/%s", sh, file);
    if (hsi_labels_read(path, NULL, &l, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    int32_t *y = malloc(sizeof *y * (size_t)l.h * l.w);
    if (hsi_labels_remap(&l, ids, n, y, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    *h = l.h;
    *w = l.w;
    hsi_labels_free(&l);
    return y;
}

static int64_t per_class(const hsi_split *s, const int32_t *y, int which, int cls)
{
    int64_t n = 0;
    for (int64_t i = 0; i < (int64_t)s->h * s->w; i++)
        n += s->mask[i] == which && y[i] == cls;
    return n;
}

static int64_t overlap_brute(const hsi_split *s, int p)
{
    int64_t n = 0;
    for (int r = 0; r < s->h; r++)
        for (int c = 0; c < s->w; c++) {
            if (s->mask[r * s->w + c] != HSI_MASK_TEST)
                continue;
            int hit = 0;
            for (int i = r - p / 2; i <= r + p / 2 && !hit; i++)
                for (int j = c - p / 2; j <= c + p / 2 && !hit; j++)
                    hit = i >= 0 && i < s->h && j >= 0 && j < s->w && s->mask[i * s->w + j] == HSI_MASK_TRAIN;
            n += hit;
        }
    return n;
}

int main(void)
{
    const char *sh = t_shared();
    if (!sh) {
        fprintf(stderr, "shared data folder absent: skipped\n");
        return 77;
    }
    char err[1024];
    int h, w;
    int32_t all16[16];
    for (int k = 0; k < 16; k++)
        all16[k] = k + 1;

    /* SSRN rule, Indian Pines. */
    int32_t *y = load_remapped(sh, "IndianPines/Indian_pines_gt.mat", all16, 16, &h, &w);
    hsi_split s, s2;
    hsi_split_opts o = {.kind = HSI_SPLIT_SSRN, .train = 0.8, .val = 1025, .seed = 1334};
    CHECK(hsi_split_make(y, h, w, 16, &o, &s, err, sizeof err) == 0);
    CHECK_EQ(s.n_train, 2055);
    CHECK_EQ(s.n_val, 1025);
    CHECK_EQ(s.n_test, 7169);
    static const int64_t ssrn_tr[16] = {10, 286, 166, 48, 97, 146, 6, 96, 4, 195, 491, 119, 41, 253, 78, 19};
    for (int k = 0; k < 16; k++)
        CHECK_EQ(per_class(&s, y, HSI_MASK_TRAIN, k), ssrn_tr[k]);
    for (int64_t i = 0; i < (int64_t)h * w; i++)
        CHECK((s.mask[i] == HSI_MASK_UNUSED) == (y[i] < 0));
    /* Same seed: same masks; another seed: other masks, same sizes. */
    CHECK(hsi_split_make(y, h, w, 16, &o, &s2, err, sizeof err) == 0);
    CHECK(memcmp(s.mask, s2.mask, (size_t)h * w) == 0);
    hsi_split_free(&s2);
    o.seed = 1335;
    CHECK(hsi_split_make(y, h, w, 16, &o, &s2, err, sizeof err) == 0);
    CHECK(memcmp(s.mask, s2.mask, (size_t)h * w) != 0);
    CHECK(s2.n_train == 2055 && s2.n_val == 1025);
    hsi_split_free(&s2);

    /* Overlap: fast count = brute force (7 x 7 patches), and the index lists. */
    int64_t ov = hsi_split_overlap_warning(&s, 7);
    CHECK_EQ(ov, overlap_brute(&s, 7));
    CHECK(ov > 0);
    CHECK_EQ(hsi_split_overlap_warning(&s, 1), 0);
    int32_t *idx = malloc(sizeof *idx * (size_t)s.n_train);
    CHECK_EQ(hsi_split_indices(&s, HSI_MASK_TRAIN, idx), 2055);
    for (int64_t k = 0; k < s.n_train; k++)
        CHECK(s.mask[idx[k]] == HSI_MASK_TRAIN && (k == 0 || idx[k] > idx[k - 1]));
    free(idx);

    /* Mask file round trip and load checks. */
    char dir[64], path[256], cmd[128];
    t_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/split.npy", dir);
    CHECK(hsi_split_save(&s, path, err, sizeof err) == 0);
    CHECK(hsi_split_load(path, y, h, w, &s2, err, sizeof err) == 0);
    CHECK(memcmp(s.mask, s2.mask, (size_t)h * w) == 0);
    CHECK(s2.n_train == 2055 && s2.n_val == 1025 && s2.n_test == 7169);
    hsi_split_free(&s2);
    CHECK(hsi_split_load(path, y, h, w + 1, &s2, err, sizeof err) == -1);
    CHECK_HAS(err, "145 x 145");
    CHECK_HAS(err, "145 x 146");
    int32_t *y2 = malloc(sizeof *y2 * (size_t)h * w);
    memcpy(y2, y, sizeof *y2 * (size_t)h * w);
    for (int64_t i = 0; i < (int64_t)h * w; i++)
        if (s.mask[i] == HSI_MASK_TEST) {
            y2[i] = -1;
            break;
        }
    CHECK(hsi_split_load(path, y2, h, w, &s2, err, sizeof err) == -1);
    CHECK_HAS(err, "not labelled");
    free(y2);
    hsi_split_free(&s);

    /* Per-class count 200 on all 16 classes: at most half of a small class. */
    o = (hsi_split_opts){.kind = HSI_SPLIT_COUNT, .train = 200, .seed = 7};
    CHECK(hsi_split_make(y, h, w, 16, &o, &s, err, sizeof err) == 0);
    static const int64_t in_n[16] = {46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93};
    for (int k = 0; k < 16; k++)
        CHECK_EQ(per_class(&s, y, HSI_MASK_TRAIN, k), in_n[k] / 2 < 200 ? in_n[k] / 2 : 200);
    CHECK_EQ(s.n_val, 0);
    hsi_split_free(&s);

    /* Fraction 0.2, validation 10 % of the rest, stratified. */
    o = (hsi_split_opts){.kind = HSI_SPLIT_FRACTION, .train = 0.2, .val = 0.1, .val_stratified = 1, .seed = 9};
    CHECK(hsi_split_make(y, h, w, 16, &o, &s, err, sizeof err) == 0);
    int64_t rest = 0;
    for (int k = 0; k < 16; k++) {
        int64_t t = (int64_t)floor(0.2 * in_n[k] + 0.5);
        CHECK_EQ(per_class(&s, y, HSI_MASK_TRAIN, k), t);
        rest += in_n[k] - t;
    }
    int64_t v = (int64_t)floor(0.1 * rest + 0.5);
    CHECK_EQ(s.n_val, v);
    for (int k = 0; k < 16; k++) {
        double share = (double)v * (in_n[k] - (int64_t)floor(0.2 * in_n[k] + 0.5)) / rest;
        CHECK(fabs((double)per_class(&s, y, HSI_MASK_VAL, k) - share) < 1.0);
    }
    hsi_split_free(&s);
    free(y);

    /* 8-class subset, 200 per class: 1,600 train, 6,904 test; other classes unused. */
    static const int32_t in8[8] = {2, 3, 5, 8, 10, 11, 12, 14};
    y = load_remapped(sh, "IndianPines/Indian_pines_gt.mat", in8, 8, &h, &w);
    o = (hsi_split_opts){.kind = HSI_SPLIT_COUNT, .train = 200, .seed = 1};
    CHECK(hsi_split_make(y, h, w, 8, &o, &s, err, sizeof err) == 0);
    CHECK(s.n_train == 1600 && s.n_val == 0 && s.n_test == 6904);
    hsi_split_free(&s);
    free(y);

    /* SSRN rule on Pavia University: s = 0.9, VAL_SIZE = 4,281. */
    y = load_remapped(sh, "PaviaU/PaviaU_gt.mat", all16, 9, &h, &w);
    o = (hsi_split_opts){.kind = HSI_SPLIT_SSRN, .train = 0.9, .val = 4281, .seed = 3};
    CHECK(hsi_split_make(y, h, w, 9, &o, &s, err, sizeof err) == 0);
    CHECK(s.n_train == 4281 && s.n_val == 4281 && s.n_test == 34214);
    hsi_split_free(&s);
    free(y);

    /* Spatial blocks on Salinas-A: whole blocks, training share reached, overlap = brute force. */
    static const int32_t sa_ids[6] = {1, 10, 11, 12, 13, 14};
    y = load_remapped(sh, "SalinasA/SalinasA_gt.mat", sa_ids, 6, &h, &w);
    o = (hsi_split_opts){.kind = HSI_SPLIT_BLOCKS, .train = 0.3, .val = 0.2, .block = 10, .seed = 5};
    CHECK(hsi_split_make(y, h, w, 6, &o, &s, err, sizeof err) == 0);
    CHECK(s.n_train >= 0.3 * 5348 && s.n_val > 0 && s.n_test > 0);
    CHECK_EQ(s.n_train + s.n_val + s.n_test, 5348);
    for (int br = 0; br < h; br += 10)
        for (int bc = 0; bc < w; bc += 10) {
            int first = -1, mixed = 0;
            for (int r = br; r < br + 10 && r < h; r++)
                for (int c = bc; c < bc + 10 && c < w; c++) {
                    if (y[r * w + c] < 0)
                        continue;
                    if (first < 0)
                        first = s.mask[r * w + c];
                    mixed |= s.mask[r * w + c] != first;
                }
            CHECK(!mixed);
        }
    CHECK_EQ(hsi_split_overlap_warning(&s, 5), overlap_brute(&s, 5));
    hsi_split_free(&s);

    /* Option errors. */
    o = (hsi_split_opts){.kind = HSI_SPLIT_FRACTION, .train = 1.5};
    CHECK(hsi_split_make(y, h, w, 6, &o, &s, err, sizeof err) == -1);
    CHECK_HAS(err, "fraction");
    o = (hsi_split_opts){.kind = HSI_SPLIT_COUNT, .train = 10, .val = 2.5};
    CHECK(hsi_split_make(y, h, w, 6, &o, &s, err, sizeof err) == -1);
    CHECK_HAS(err, "val");
    o = (hsi_split_opts){.kind = HSI_SPLIT_COUNT, .train = 10};
    CHECK(hsi_split_make(y, h, w, 7, &o, &s, err, sizeof err) == -1);
    CHECK_HAS(err, "class 6 has no labelled pixel");
    free(y);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return t_done("data.split");
}
