/* test_mat.c — the .mat reader: every real gt of the shared data folder (shape, class counts
 * from SOURCES.md, orientation from scipy.io.loadmat values), the real Salinas-A cube, files
 * written here with matio in v5, v5 compressed and v7.3 for every numeric class, and each
 * error message (missing file, not a MAT file, missing variable, wrong rank, ambiguous,
 * shape mismatch). */
#include "tdata.h"

#include <matio.h>

#include "hsi_data.h"
#include "tread16.h"

/* ---- real files ---------------------------------------------------------------------------- */

typedef struct gt_case {
    const char *file;
    int h, w, n_classes;
    int64_t counts[16];   /* of labels 1..n_classes, in order */
} gt_case;

static void check_gt(const char *sh, const gt_case *g)
{
    char path[4096], err[1024];
    hsi_labels l;
    snprintf(path, sizeof path, "%s/%s", sh, g->file);
    if (hsi_labels_read(path, NULL, &l, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        t_failures++;
        return;
    }
    CHECK_EQ(l.h, g->h);
    CHECK_EQ(l.w, g->w);
    int64_t cnt[256] = {0}, other = 0;
    for (int64_t i = 0; i < (int64_t)l.h * l.w; i++) {
        if (l.gt[i] >= 0 && l.gt[i] < 256)
            cnt[l.gt[i]]++;
        else
            other++;
    }
    CHECK_EQ(other, 0);
    for (int k = 1; k <= g->n_classes; k++)
        CHECK_EQ(cnt[k], g->counts[k - 1]);
    for (int k = g->n_classes + 1; k < 256; k++)
        CHECK_EQ(cnt[k], 0);
    hsi_labels_free(&l);
}

static void real_files(const char *sh)
{
    static const gt_case cases[] = {
        {"IndianPines/Indian_pines_gt.mat", 145, 145, 16,
         {46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93}},
        {"Salinas/Salinas_gt.mat", 512, 217, 16,
         {2009, 3726, 1976, 1394, 2678, 3959, 3579, 11271, 6203, 3278, 1068, 1927, 916, 1070, 7268, 1807}},
        {"PaviaU/PaviaU_gt.mat", 610, 340, 9, {6631, 18649, 2099, 3064, 1345, 5029, 1330, 3682, 947}},
        {"KSC/KSC_gt.mat", 512, 614, 13, {761, 243, 256, 252, 161, 229, 105, 431, 520, 404, 419, 503, 927}},
        {"Botswana/Botswana_gt.mat", 1476, 256, 14,
         {270, 101, 251, 215, 269, 269, 259, 203, 314, 248, 305, 181, 268, 95}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        check_gt(sh, &cases[k]);

    /* Salinas-A gt: labels {1,10,...,14} with counts 391, 1343, 616, 1525, 674, 799. */
    char path[4096], err[1024];
    hsi_labels l;
    snprintf(path, sizeof path, "%s/SalinasA/SalinasA_gt.mat", sh);
    CHECK(hsi_labels_read(path, "salinasA_gt", &l, err, sizeof err) == 0);
    CHECK_EQ(l.h, 83);
    CHECK_EQ(l.w, 86);
    static const int ids[] = {1, 10, 11, 12, 13, 14};
    static const int64_t want[] = {391, 1343, 616, 1525, 674, 799};
    int64_t cnt[256] = {0};
    for (int64_t i = 0; i < 83 * 86; i++)
        cnt[l.gt[i] & 255]++;
    int64_t labelled = 0;
    for (int k = 0; k < 6; k++) {
        CHECK_EQ(cnt[ids[k]], want[k]);
        labelled += cnt[ids[k]];
    }
    CHECK_EQ(labelled + cnt[0], 83 * 86);
    /* Orientation (values from scipy.io.loadmat): gt[40][10] = 12, gt[10][40] = 11. */
    CHECK_EQ(l.gt[40 * 86 + 10], 12);
    CHECK_EQ(l.gt[10 * 86 + 40], 11);
    hsi_labels_free(&l);

    snprintf(path, sizeof path, "%s/IndianPines/Indian_pines_gt.mat", sh);
    CHECK(hsi_labels_read(path, "indian_pines_gt", &l, err, sizeof err) == 0);
    CHECK_EQ(l.gt[100 * 145 + 30], 11);   /* scipy: gt[100, 30] = 11, gt[30, 100] = 14 */
    CHECK_EQ(l.gt[30 * 145 + 100], 14);
    CHECK_EQ(l.gt[0], 3);
    hsi_labels_free(&l);

    /* Salinas-A cube: 83 x 86 x 204 int16; scipy values at (r, c, b). */
    hsi_cube c;
    snprintf(path, sizeof path, "%s/SalinasA/SalinasA_corrected.mat", sh);
    CHECK(hsi_cube_read(path, "salinasA_corrected", &c, err, sizeof err) == 0);
    CHECK_EQ(c.h, 83);
    CHECK_EQ(c.w, 86);
    CHECK_EQ(c.bands, 204);
#define AT(r, col, b) c.data[((size_t)(b) * c.h + (r)) * c.w + (col)]
    CHECK_EQ(AT(0, 0, 0), 376);
    CHECK_EQ(AT(82, 85, 203), 41);
    CHECK_EQ(AT(10, 20, 100), 1692);
    CHECK_EQ(AT(20, 10, 100), 1307);
    CHECK_EQ(AT(0, 85, 5), 1601);
    CHECK_EQ(AT(82, 0, 7), 1444);
#undef AT
    float mn = c.data[0], mx = c.data[0];
    for (size_t i = 0; i < (size_t)83 * 86 * 204; i++) {
        mn = c.data[i] < mn ? c.data[i] : mn;
        mx = c.data[i] > mx ? c.data[i] : mx;
    }
    CHECK_EQ(mn, -9);
    CHECK_EQ(mx, 8373);
    hsi_cube_free(&c);

    t_failures += t_read16(path, "salinasA_corrected", 1);   /* int16: the 16-bit form */

    /* The same cube with no variable name: the only 3-D variable. */
    CHECK(hsi_cube_read(path, NULL, &c, err, sizeof err) == 0);
    CHECK_EQ(c.bands, 204);
    hsi_cube_free(&c);

    /* Cube and gt of different scenes: both shapes in the message. */
    hsi_scene s;
    char gtp[4096];
    snprintf(gtp, sizeof gtp, "%s/IndianPines/Indian_pines_gt.mat", sh);
    CHECK(hsi_scene_read(path, NULL, gtp, NULL, &s, err, sizeof err) == -1);
    CHECK_HAS(err, "83 x 86 x 204");
    CHECK_HAS(err, "145 x 145");
    CHECK_HAS(err, "Indian_pines_gt.mat");
}

/* ---- files written here -------------------------------------------------------------------- */

enum { R = 3, C = 4, B = 2 };

static double cube_val(int r, int c, int b) { return r * 8 + c * 2 + b; }

/* Writes one numeric array of class cls with MATLAB (column-major) layout. */
static void put(mat_t *m, const char *name, enum matio_classes cls, enum matio_types t, size_t es,
                int rank, const size_t *dims, double (*f)(int, int, int), int compress)
{
    size_t n = dims[0] * dims[1] * (rank == 3 ? dims[2] : 1);
    unsigned char *buf = malloc(n * es);
    for (size_t b = 0; b < (rank == 3 ? dims[2] : 1); b++)
        for (size_t c = 0; c < dims[1]; c++)
            for (size_t r = 0; r < dims[0]; r++) {
                double v = f((int)r, (int)c, (int)b);
                size_t i = r + dims[0] * (c + dims[1] * b);
                unsigned char *p = buf + i * es;
                switch (t) {
                case MAT_T_INT8: { int8_t x = (int8_t)v; memcpy(p, &x, es); break; }
                case MAT_T_UINT8: { uint8_t x = (uint8_t)v; memcpy(p, &x, es); break; }
                case MAT_T_INT16: { int16_t x = (int16_t)v; memcpy(p, &x, es); break; }
                case MAT_T_UINT16: { uint16_t x = (uint16_t)v; memcpy(p, &x, es); break; }
                case MAT_T_INT32: { int32_t x = (int32_t)v; memcpy(p, &x, es); break; }
                case MAT_T_UINT32: { uint32_t x = (uint32_t)v; memcpy(p, &x, es); break; }
                case MAT_T_INT64: { int64_t x = (int64_t)v; memcpy(p, &x, es); break; }
                case MAT_T_UINT64: { uint64_t x = (uint64_t)v; memcpy(p, &x, es); break; }
                case MAT_T_SINGLE: { float x = (float)v; memcpy(p, &x, es); break; }
                default: { memcpy(p, &v, es); break; }
                }
            }
    matvar_t *v = Mat_VarCreate(name, cls, t, rank, (size_t *)dims, buf, 0);
    CHECK(v != NULL);
    CHECK(Mat_VarWrite(m, v, compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE) == 0);
    Mat_VarFree(v);
    free(buf);
}

static double gt_val(int r, int c, int b) { (void)b; return r * 4 + c; }
static double gt_val_t(int r, int c, int b) { (void)b; return r + c; }

static void written_files(const char *dir)
{
    static const struct { enum matio_classes cls; enum matio_types t; size_t es; } types[] = {
        {MAT_C_INT8, MAT_T_INT8, 1}, {MAT_C_UINT8, MAT_T_UINT8, 1},
        {MAT_C_INT16, MAT_T_INT16, 2}, {MAT_C_UINT16, MAT_T_UINT16, 2},
        {MAT_C_INT32, MAT_T_INT32, 4}, {MAT_C_UINT32, MAT_T_UINT32, 4},
        {MAT_C_INT64, MAT_T_INT64, 8}, {MAT_C_UINT64, MAT_T_UINT64, 8},
        {MAT_C_SINGLE, MAT_T_SINGLE, 4}, {MAT_C_DOUBLE, MAT_T_DOUBLE, 8},
    };
    static const struct { enum mat_ft ver; int compress; const char *tag; } fmts[] = {
        {MAT_FT_MAT5, 0, "v5"}, {MAT_FT_MAT5, 1, "v5z"}, {MAT_FT_MAT73, 0, "v73"}};
    const size_t d3[3] = {R, C, B}, d2[2] = {R, C}, d1[2] = {1, 1};
    char path[4096], err[1024];
    for (size_t f = 0; f < 3; f++)
        for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
            snprintf(path, sizeof path, "%s/t_%s_%zu.mat", dir, fmts[f].tag, k);
            mat_t *m = Mat_CreateVer(path, NULL, fmts[f].ver);
            CHECK(m != NULL);
            if (!m)
                continue;
            put(m, "cube", types[k].cls, types[k].t, types[k].es, 3, d3, cube_val, fmts[f].compress);
            put(m, "gt", types[k].cls, types[k].t, types[k].es, 2, d2, gt_val, fmts[f].compress);
            put(m, "scalar", MAT_C_DOUBLE, MAT_T_DOUBLE, 8, 2, d1, gt_val, fmts[f].compress);
            Mat_Close(m);

            hsi_cube cb;
            hsi_labels l;
            int ok = hsi_cube_read(path, "cube", &cb, err, sizeof err) == 0;
            if (!ok)
                fprintf(stderr, "%s\n", err);
            CHECK(ok);
            if (ok) {
                CHECK(cb.h == R && cb.w == C && cb.bands == B);
                for (int b = 0; b < B; b++)
                    for (int r = 0; r < R; r++)
                        for (int c = 0; c < C; c++)
                            CHECK_EQ(cb.data[(b * R + r) * C + c], cube_val(r, c, b));
                hsi_cube_free(&cb);
                t_failures += t_read16(path, "cube", 1);
            }
            ok = hsi_labels_read(path, NULL, &l, err, sizeof err) == 0;   /* the only 2-D one */
            if (!ok)
                fprintf(stderr, "%s\n", err);
            CHECK(ok);
            if (ok) {
                CHECK(l.h == R && l.w == C);
                for (int r = 0; r < R; r++)
                    for (int c = 0; c < C; c++)
                        CHECK_EQ(l.gt[r * C + c], gt_val(r, c, 0));
                hsi_labels_free(&l);
            }
            /* Errors on a real MAT file. */
            CHECK(hsi_cube_read(path, "nope", &cb, err, sizeof err) == -1);
            CHECK_HAS(err, "no variable 'nope'");
            CHECK_HAS(err, "'cube'");
            CHECK_HAS(err, "'gt'");
            CHECK(hsi_cube_read(path, "gt", &cb, err, sizeof err) == -1);
            CHECK_HAS(err, "variable 'gt'");
            CHECK_HAS(err, "3-D");
            CHECK(hsi_labels_read(path, "cube", &l, err, sizeof err) == -1);
            CHECK_HAS(err, "2-D");
        }

    /* A float gt with a non-integer value; two 2-D candidates. */
    snprintf(path, sizeof path, "%s/bad.mat", dir);
    mat_t *m = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
    put(m, "a", MAT_C_DOUBLE, MAT_T_DOUBLE, 8, 2, d2, gt_val, 0);
    put(m, "b", MAT_C_DOUBLE, MAT_T_DOUBLE, 8, 2, d2, gt_val_t, 0);
    Mat_Close(m);
    hsi_labels l;
    CHECK(hsi_labels_read(path, NULL, &l, err, sizeof err) == -1);
    CHECK_HAS(err, "candidate");
    CHECK_HAS(err, "'a'");
    CHECK(hsi_labels_read(path, "b", &l, err, sizeof err) == 0);
    CHECK_EQ(l.gt[1 * C + 2], 3);
    hsi_labels_free(&l);
    hsi_cube cb;
    CHECK(hsi_cube_read(path, NULL, &cb, err, sizeof err) == -1);
    CHECK_HAS(err, "no 3-D numeric variable");

    /* A v7.3 file cut short: matio opened it and listed no variable ("no 3-D numeric variable
     * in the file (variables: none)"); now the HDF5 superblock's end of file is checked. */
    snprintf(path, sizeof path, "%s/t_v73_8.mat", dir);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    static unsigned char whole[1 << 16];
    size_t n = fp ? fread(whole, 1, sizeof whole, fp) : 0;
    if (fp) fclose(fp);
    CHECK(n > 1000 && n < sizeof whole);
    char cut[4096], want[256];
    snprintf(cut, sizeof cut, "%s/cut.mat", dir);
    static const struct { size_t len; const char *msg; } cuts[] = {
        {300, "truncated or corrupt: its header says MAT v7.3, but no HDF5 signature follows at "
              "byte 512 (the file has 300 bytes)"},
        {530, "truncated: the file (530 bytes) ends inside the HDF5 superblock"},
        {700, NULL}, {0, NULL}};   /* 0: one byte short */
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        size_t len = cuts[i].len ? cuts[i].len : n - 1;
        fp = fopen(cut, "wb");
        fwrite(whole, 1, len, fp);
        fclose(fp);
        snprintf(want, sizeof want, "truncated: the HDF5 superblock of this MAT v7.3 file says it "
                 "ends at byte %zu, the file has %zu bytes", n, len);
        CHECK(hsi_cube_read(cut, "cube", &cb, err, sizeof err) == -1);
        CHECK_HAS(err, cuts[i].msg ? cuts[i].msg : want);
    }

    /* Missing file; not a MAT file. */
    snprintf(path, sizeof path, "%s/missing.mat", dir);
    CHECK(hsi_labels_read(path, NULL, &l, err, sizeof err) == -1);
    CHECK_HAS(err, "missing.mat");
    CHECK_HAS(err, "No such file");
    snprintf(path, sizeof path, "%s/text.mat", dir);
    t_write(path, "w", "this is not a MAT file, just text long enough to have a header.......\n"
                       "...........................................................\n"
                       "...........................................................\n");
    CHECK(hsi_labels_read(path, NULL, &l, err, sizeof err) == -1);
    CHECK_HAS(err, "text.mat");
    CHECK_HAS(err, "not a MATLAB MAT file");
}

int main(void)
{
    char dir[64], cmd[128];
    t_tmpdir(dir, sizeof dir);
    written_files(dir);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    const char *sh = t_shared();
    if (sh)
        real_files(sh);
    else
        fprintf(stderr, "shared data folder absent: real files skipped\n");
    return t_done("data.mat");
}
