/* test_registry.c — the built-in registry (7 datasets; its sizes and hashes agree with the real
 * files of the shared folder), a user file adding and replacing entries (argument and
 * $HSICC_DATASETS), YAML error messages with line:col and key path, and label remapping
 * (Salinas-A 6 classes, Indian Pines 8-class subset) with its errors. */
#include "tdata.h"

#include <sys/stat.h>

#include "hsi_data.h"

static void builtin(const char *sh)
{
    char err[1024];
    hsi_registry *reg = hsi_registry_load(NULL, err, sizeof err);
    CHECK(reg != NULL);
    if (!reg) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ(reg->n, 7);
    static const char *names[] = {"IndianPines", "Salinas", "SalinasA", "PaviaU", "PaviaC", "KSC", "Botswana"};
    static const int bands[] = {200, 204, 204, 103, 102, 176, 145};
    static const int ncls[] = {16, 16, 6, 9, 9, 13, 14};
    for (int k = 0; k < 7; k++) {
        const hsi_dataset *d = hsi_registry_find(reg, names[k]);
        CHECK(d != NULL);
        if (!d)
            continue;
        CHECK_EQ(d->bands, bands[k]);
        CHECK_EQ(d->n_classes, ncls[k]);
        CHECK(d->n_ignored == 1 && d->ignored[0] == 0);
        CHECK(d->cube.n_urls >= 1 && strstr(d->cube.urls[0], "www.ehu.eus/ccwintco") != NULL);
        CHECK(d->gt.n_urls >= 1 && strstr(d->gt.urls[0], "www.ehu.eus/ccwintco") != NULL);
        CHECK(d->cube.sha256 != NULL && d->cube.size > 0);
        if (!sh || !d->gt.sha256)
            continue;
        /* The registry's gt (and Salinas-A cube) hash and size = those of the real files. */
        for (int which = 0; which < 2; which++) {
            const hsi_dataset_file *f = which ? &d->cube : &d->gt;
            char path[4096], hex[65];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s/%s", sh, d->folder, f->file);
            if (stat(path, &st) != 0) {
                CHECK(which == 1);   /* only cubes may be absent from the shared folder */
                continue;
            }
            CHECK(hsi_sha256_file(path, hex, err, sizeof err) == 0);
            CHECK(strcmp(hex, f->sha256) == 0);
            CHECK_EQ(st.st_size, f->size);
        }
    }
    const hsi_dataset *sa = hsi_registry_find(reg, "SalinasA");
    CHECK(sa && sa->h == 83 && sa->w == 86);
    CHECK(sa && strcmp(sa->cube.var, "salinasA_corrected") == 0 && strcmp(sa->gt.var, "salinasA_gt") == 0);
    int32_t ids[16];
    CHECK(sa && hsi_dataset_class_ids(sa, ids) == 6);
    CHECK(ids[0] == 1 && ids[1] == 10 && ids[5] == 14);
    CHECK(sa && strcmp(sa->classes[1].name, "Corn_senesced_green_weeds") == 0);
    const hsi_dataset *in = hsi_registry_find(reg, "IndianPines");
    CHECK(in && strcmp(in->classes[13].name, "Woods") == 0 && in->classes[13].id == 14);
    CHECK(hsi_registry_find(reg, "Nope") == NULL);
    hsi_registry_free(reg);
}

static void user_files(const char *dir)
{
    char path[256], err[1024];
    snprintf(path, sizeof path, "%s/mine.yaml", dir);
    t_write(path, "w",
               "# my datasets\n"
               "datasets:\n"
               "  - name: Tiny\n"
               "    bands: 3\n"
               "    cube: {file: tiny.npy, sha256: null}\n"
               "    gt: {file: tiny_gt.npy, size: 80, urls: [file:///x, http://y/z]}\n"
               "    classes:\n"
               "      - {id: 1, name: a}\n"
               "      - {id: 2, name: \"b c\", rgb: [1, 2, 3]}\n"
               "  - name: SalinasA\n"
               "    display: My Salinas-A\n"
               "    cube: {file: a.mat, var: x}\n"
               "    gt: {file: b.mat}\n"
               "    classes: [{id: 1, name: one}]\n");
    hsi_registry *reg = hsi_registry_load(path, err, sizeof err);
    CHECK(reg != NULL);
    if (reg) {
        CHECK_EQ(reg->n, 8);
        const hsi_dataset *t = hsi_registry_find(reg, "Tiny");
        CHECK(t && strcmp(t->folder, "Tiny") == 0 && t->bands == 3 && t->n_classes == 2);
        CHECK(t && t->cube.sha256 == NULL && t->cube.size == -1 && t->gt.size == 80);
        CHECK(t && t->gt.n_urls == 2 && strcmp(t->gt.urls[1], "http://y/z") == 0);
        CHECK(t && t->classes[1].rgb[2] == 3 && strcmp(t->classes[1].name, "b c") == 0);
        const hsi_dataset *s = hsi_registry_find(reg, "SalinasA");
        CHECK(s && strcmp(s->display, "My Salinas-A") == 0 && s->n_classes == 1);
        hsi_registry_free(reg);
    }
    setenv("HSICC_DATASETS", path, 1);
    reg = hsi_registry_load(NULL, err, sizeof err);
    CHECK(reg && hsi_registry_find(reg, "Tiny") != NULL);
    hsi_registry_free(reg);
    unsetenv("HSICC_DATASETS");

    static const struct { const char *yaml, *want1, *want2; } bad[] = {
        {"datasets:\n  - name: X\n    cube: {fiel: a.mat}\n    gt: {file: b}\n    classes: [{id: 1, name: a}]\n",
         ":3:", "datasets.X.cube: unknown key 'fiel'"},
        {"datasets:\n  - name: X\n    cube: {file: a.mat, sha256: 1234}\n    gt: {file: b}\n    classes: [{id: 1, name: a}]\n",
         ":3:", "64 hex digits"},
        {"datasets:\n  - name: X\n    cube: {file: a.mat}\n    gt: {file: b}\n", ":2:", "datasets.X.classes: missing"},
        {"datasets:\n  - name: X\n    bands: many\n", ":3:", "datasets.X.bands: expected an integer"},
        {"datasets:\n  - name: X\n    cube: {file: a.mat\n", "YAML error", "mine_bad.yaml"},
        {"datasets:\n  - name: X\n    cube: {file: a.mat}\n    gt: {file: b}\n    classes: [{id: 1, name: a}, {id: 1, name: b}]\n",
         "classes[1]", "class id repeated"},
        {"sets: []\n", ":1:", "unknown key 'sets'"},
    };
    snprintf(path, sizeof path, "%s/mine_bad.yaml", dir);
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        t_write(path, "w", bad[k].yaml);
        err[0] = 0;
        reg = hsi_registry_load(path, err, sizeof err);
        CHECK(reg == NULL);
        CHECK_HAS(err, "mine_bad.yaml");
        CHECK_HAS(err, bad[k].want1);
        CHECK_HAS(err, bad[k].want2);
        hsi_registry_free(reg);
    }
    reg = hsi_registry_load("/nonexistent/reg.yaml", err, sizeof err);
    CHECK(reg == NULL);
    CHECK_HAS(err, "/nonexistent/reg.yaml");
}

static void remap(const char *sh)
{
    char path[4096], err[1024];
    hsi_labels l;
    snprintf(path, sizeof path, "%s/SalinasA/SalinasA_gt.mat", sh);
    CHECK(hsi_labels_read(path, NULL, &l, err, sizeof err) == 0);
    int32_t *y = malloc(sizeof *y * 83 * 86);
    static const int32_t sa_ids[] = {1, 10, 11, 12, 13, 14};
    CHECK(hsi_labels_remap(&l, sa_ids, 6, y, err, sizeof err) == 0);
    int64_t cnt[7] = {0};
    for (int i = 0; i < 83 * 86; i++) {
        CHECK(y[i] >= -1 && y[i] < 6);
        CHECK((y[i] == -1) == (l.gt[i] == 0));
        cnt[y[i] + 1]++;
    }
    static const int64_t want[] = {391, 1343, 616, 1525, 674, 799};
    for (int k = 0; k < 6; k++)
        CHECK_EQ(cnt[k + 1], want[k]);
    static const int32_t dup[] = {1, 10, 1};
    CHECK(hsi_labels_remap(&l, dup, 3, y, err, sizeof err) == -1);
    CHECK_HAS(err, "label 1 appears twice");
    static const int32_t absent[] = {1, 2};
    CHECK(hsi_labels_remap(&l, absent, 2, y, err, sizeof err) == -1);
    CHECK_HAS(err, "label 2 has no pixel");
    free(y);
    hsi_labels_free(&l);

    snprintf(path, sizeof path, "%s/IndianPines/Indian_pines_gt.mat", sh);
    CHECK(hsi_labels_read(path, NULL, &l, err, sizeof err) == 0);
    y = malloc(sizeof *y * 145 * 145);
    static const int32_t in8[] = {2, 3, 5, 8, 10, 11, 12, 14};
    CHECK(hsi_labels_remap(&l, in8, 8, y, err, sizeof err) == 0);
    int64_t c8[9] = {0};
    for (int i = 0; i < 145 * 145; i++)
        c8[y[i] + 1]++;
    static const int64_t w8[] = {1428, 830, 483, 478, 972, 2455, 593, 1265};
    int64_t total = 0;
    for (int k = 0; k < 8; k++) {
        CHECK_EQ(c8[k + 1], w8[k]);
        total += c8[k + 1];
    }
    CHECK_EQ(total, 8504);
    CHECK_EQ(y[100 * 145 + 30], 5);   /* raw 11 (Soybean-mintill) -> 5 */
    CHECK_EQ(y[0], 1);                /* raw 3 -> 1 */
    free(y);
    hsi_labels_free(&l);
}

int main(void)
{
    char dir[64], cmd[128];
    const char *sh = t_shared();
    t_tmpdir(dir, sizeof dir);
    builtin(sh);
    user_files(dir);
    if (sh)
        remap(sh);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return t_done("data.registry");
}
