/* test_envi.c — the ENVI reader on tiny files written here: every supported data type, bsq /
 * bil / bip, both byte orders, a header offset, {} lists in the header, the .hdr or the data
 * file as the path, a 1-band file as labels, and the error messages. */
#include "tdata.h"

#include "hsi_data.h"
#include "tenvi.h"
#include "tread16.h"

enum { L = 3, S = 4, NB = 2 };   /* lines (rows), samples (cols), bands */

static double val(int r, int c, int b) { return r * 8 + c * 2 + b; }

static void write_pair(const char *stem, const char *ext, int type, const char *il, int big,
                       int offset, int bands)
{
    t_envi_write(stem, ext, type, il, big, offset, L, S, bands, val, NULL);
}

int main(void)
{
    char dir[64], cmd[128], stem[256], path[300], err[1024];
    t_tmpdir(dir, sizeof dir);
    for (int n = 0; n < T_ENVI_CASES; n++) {
        t_envi_case k = t_envi_case_at(n);
        int bip = strcmp(k.il, "bip") == 0;
        snprintf(stem, sizeof stem, "%s/e%d", dir, n);
        write_pair(stem, bip ? "" : ".img", k.type, k.il, k.big, k.big ? 7 : 0, NB);
        /* via the .hdr, and (bip case: no extension) via the data file */
        snprintf(path, sizeof path, bip ? "%s" : "%s.hdr", stem);
        hsi_cube c;
        int ok = hsi_cube_read(path, NULL, &c, err, sizeof err) == 0;
        if (!ok)
            fprintf(stderr, "%s\n", err);
        CHECK(ok);
        if (!ok)
            continue;
        CHECK(c.h == L && c.w == S && c.bands == NB);
        t_failures += t_envi_check(c.data, L, S, NB, &k, val, path);
        hsi_cube_free(&c);
        t_failures += t_read16(path, NULL, 0);
    }
    /* Larger odd sizes for the in-place conversions of hsi_cube_read16 (bil: blocks of a row,
     * bip: single samples moved along cycles): 37 lines x 23 samples x 5 bands. */
    for (int n = 0; n < T_ENVI_CASES; n++) {
        t_envi_case k = t_envi_case_at(n);
        if (k.type != 1 && k.type != 2 && k.type != 12) continue;
        snprintf(stem, sizeof stem, "%s/big%d", dir, n);
        t_envi_write(stem, ".img", k.type, k.il, k.big, 0, 37, 23, 5, val, NULL);
        snprintf(path, sizeof path, "%s.hdr", stem);
        t_failures += t_read16(path, NULL, 1);
    }

    /* A 1-band integer file as a ground truth. */
    snprintf(stem, sizeof stem, "%s/gt", dir);
    write_pair(stem, ".img", 2, "bsq", 0, 0, 1);
    snprintf(path, sizeof path, "%s.img", stem);
    hsi_labels l;
    CHECK(hsi_labels_read(path, NULL, &l, err, sizeof err) == 0);
    CHECK(l.h == L && l.w == S);
    CHECK_EQ(l.gt[2 * S + 3], val(2, 3, 0) - 10);
    hsi_labels_free(&l);

    /* Errors: each case writes files (a valid pair first if `pair`), reads `read`, expects `want`. */
    static const struct {
        const char *pair, *file, *mode, *text, *read, *want;
    } bad[] = {
        {"short", "short.hdr", "a", "bands = 5\n", "short.hdr", "short.img"},   /* later key wins */
        {"cplx", "cplx.hdr", "a", "data type = 6\n", "cplx.hdr", "data type = 6"},
        {NULL, "nohdr.img", "w", "x", "nohdr.img", "unknown format"},
        {NULL, "lonely.hdr", "w", "ENVI\nsamples = 2\nlines = 2\nbands = 1\ndata type = 1\n",
         "lonely.hdr", "no ENVI data file"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        hsi_cube c;
        if (bad[k].pair) {
            snprintf(stem, sizeof stem, "%s/%s", dir, bad[k].pair);
            write_pair(stem, ".img", 4, "bsq", 0, 0, NB);
        }
        snprintf(path, sizeof path, "%s/%s", dir, bad[k].file);
        t_write(path, bad[k].mode, bad[k].text);
        snprintf(path, sizeof path, "%s/%s", dir, bad[k].read);
        CHECK(hsi_cube_read(path, NULL, &c, err, sizeof err) == -1);
        CHECK_HAS(err, bad[k].want);
    }
    snprintf(path, sizeof path, "%s/nokeys.hdr", dir);   /* read via the data file */
    t_write(path, "w", "ENVI\ndata type = 1\n");
    snprintf(path, sizeof path, "%s/nokeys", dir);
    t_write(path, "w", "abcd");
    hsi_cube c;
    CHECK(hsi_cube_read(path, NULL, &c, err, sizeof err) == -1);
    CHECK_HAS(err, "samples");

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return t_done("data.envi");
}
