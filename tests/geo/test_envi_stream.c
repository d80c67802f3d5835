/* test_envi_stream.c — the streaming ENVI reader against files written here: every data type,
 * bsq / bil / bip, both byte orders, blocks of any height (and a scene wider than one read
 * chunk), all equal to the whole-cube reader; nodata from the ignore value, NaN and Inf, and the
 * statistics pass that skips them; corrupt headers (sizes that overflow, that exceed the file,
 * out-of-range values) and non-regular files (directory, FIFO) refused cleanly by both readers. */
#include "tdata.h"   /* first: it sets the POSIX feature level */

#include <math.h>
#include <signal.h>
#include <sys/stat.h>

#include "tenvi.h"

#include "hsi_data.h"
#include "hsi_geo.h"

enum { L = 7, S = 5, NB = 3 };   /* lines (rows), samples (cols), bands */

static double val(int r, int c, int b) { return r * 16 + c * 3 + b; }

/* Every block split of the rows (heights 1..L) read through the stream equals the cube. */
static void check_blocks(hsi_envi_stream *s, const hsi_cube *c, const char *what)
{
    int h, w, nb;
    hsi_envi_dims(s, &h, &w, &nb);
    float *x = malloc(sizeof *x * (size_t)h * w * nb);
    char err[1024];
    for (int n = 1; n <= h; n++)
        for (int r0 = 0; r0 < h; r0 += n) {
            int m = h - r0 < n ? h - r0 : n;
            if (hsi_envi_read_rows(s, r0, m, x, NULL, err, sizeof err) != 0) {
                fprintf(stderr, "%s: %s\n", what, err);
                t_failures++;
                continue;
            }
            for (int b = 0; b < nb; b++)
                for (int i = 0; i < m; i++)
                    if (memcmp(x + ((size_t)b * m + i) * w,
                               c->data + ((size_t)b * h + r0 + i) * w, sizeof *x * w) != 0) {
                        fprintf(stderr, "%s: rows %d+%d band %d differ from the cube\n", what, r0,
                                m, b);
                        t_failures++;
                    }
        }
    free(x);
}

/* ---- nodata ---------------------------------------------------------------------------------- */

static double val_nd(int r, int c, int b)
{
    if (r == 1 && c == 2 && b == 1)
        return -10000;            /* stored as -9999.5: the ignore value */
    if (r == 3 && c == 0 && b == 2)
        return NAN;
    if (r == 4 && c == 4 && b == 0)
        return INFINITY;
    if (r == 6 && c == 1 && b == 2)
        return -10000.25;         /* close to the ignore value, not equal: valid */
    return val(r, c, b) * 0.37 + (b == 1 ? 1e4 : 0);   /* a large offset in band 1 */
}

static void test_nodata(const char *dir)
{
    char stem[256], path[300], err[1024];
    static const char *ils[] = {"bsq", "bil", "bip"};
    for (int i = 0; i < 3; i++) {
        snprintf(stem, sizeof stem, "%s/nd%d", dir, i);
        t_envi_write(stem, ".img", 4, ils[i], i == 1, 0, L, S, NB, val_nd,
                     "data ignore value = -9999.5\n");
        snprintf(path, sizeof path, "%s.hdr", stem);
        hsi_envi_stream *s = hsi_envi_open(path, err, sizeof err);
        CHECK(s != NULL);
        if (!s)
            continue;
        double ig = 0;
        CHECK(hsi_envi_ignore_value(s, &ig) == 1 && ig == -9999.5);
        float x[L * S * NB];
        uint8_t nd[L * S];
        CHECK(hsi_envi_read_rows(s, 0, L, x, nd, err, sizeof err) == 0);
        for (int r = 0; r < L; r++)
            for (int c = 0; c < S; c++) {
                int want = (r == 1 && c == 2) || (r == 3 && c == 0) || (r == 4 && c == 4);
                if (nd[r * S + c] != want) {
                    fprintf(stderr, "%s: nodata(%d,%d) = %d, want %d\n", ils[i], r, c,
                            nd[r * S + c], want);
                    t_failures++;
                }
            }
        CHECK(isnan(x[(2 * L + 3) * S + 0]));                  /* values are kept as read */
        /* A block that starts mid-image marks its own rows only. */
        CHECK(hsi_envi_read_rows(s, 3, 2, x, nd, err, sizeof err) == 0);
        CHECK(nd[0] == 1 && nd[1 * S + 4] == 1 && nd[1] == 0 && nd[S] == 0);

        /* Statistics over the valid pixels, against a direct two-pass computation in double. */
        double mean[NB], sd[NB];
        int64_t nv = 0, nn = 0;
        CHECK(hsi_envi_band_stats(s, mean, sd, &nv, &nn, err, sizeof err) == 0);
        CHECK_EQ(nv, L * S - 3);
        CHECK_EQ(nn, 3);
        for (int b = 0; b < NB; b++) {
            double sum = 0, ss = 0;
            int cnt = 0;
            for (int r = 0; r < L; r++)
                for (int c = 0; c < S; c++)
                    if (!((r == 1 && c == 2) || (r == 3 && c == 0) || (r == 4 && c == 4))) {
                        sum += (float)(val_nd(r, c, b) + 0.5);
                        cnt++;
                    }
            double mu = sum / cnt;
            for (int r = 0; r < L; r++)
                for (int c = 0; c < S; c++)
                    if (!((r == 1 && c == 2) || (r == 3 && c == 0) || (r == 4 && c == 4))) {
                        double d = (float)(val_nd(r, c, b) + 0.5) - mu;
                        ss += d * d;
                    }
            double want_sd = sqrt(ss / cnt);
            if (fabs(mean[b] - mu) > 1e-9 * fabs(mu) || fabs(sd[b] - want_sd) > 1e-9 * want_sd) {
                fprintf(stderr, "%s band %d: mean %.17g std %.17g, want %.17g %.17g\n", ils[i], b,
                        mean[b], sd[b], mu, want_sd);
                t_failures++;
            }
        }
        hsi_envi_close(s);
    }

    /* An integer image: the ignore value compares with the stored integer (int16 stores v-10),
     * a constant band gets std 1, and an image that is all nodata has no statistics. */
    snprintf(stem, sizeof stem, "%s/ndi", dir);
    t_envi_write(stem, ".img", 2, "bil", 1, 3, L, S, NB, val, "data ignore value = -10\n");
    snprintf(path, sizeof path, "%s.hdr", stem);
    hsi_envi_stream *s = hsi_envi_open(path, err, sizeof err);
    CHECK(s != NULL);
    if (s) {
        uint8_t nd[L * S];
        float x[L * S * NB];
        CHECK(hsi_envi_read_rows(s, 0, L, x, nd, err, sizeof err) == 0);
        int cnt = 0;
        for (int i = 0; i < L * S; i++)
            cnt += nd[i];
        CHECK_EQ(cnt, 1);
        CHECK(nd[0] == 1);   /* val(0,0,0) = 0 is stored as -10 */
        hsi_envi_close(s);
    }
    static const char *consts[] = {"data ignore value = 77\n", "data ignore value = 5\n"};
    for (int k = 0; k < 2; k++) {
        snprintf(stem, sizeof stem, "%s/const%d", dir, k);
        FILE *f;
        snprintf(path, sizeof path, "%s.hdr", stem);
        f = fopen(path, "w");
        fprintf(f, "ENVI\nsamples = 4\nlines = 2\nbands = 2\ndata type = 1\ninterleave = bip\n%s",
                consts[k]);
        fclose(f);
        snprintf(path, sizeof path, "%s.img", stem);
        t_write(path, "w", "\005\002\005\003\005\004\005\005\005\006\005\007\005\010\005\011");
        snprintf(path, sizeof path, "%s.hdr", stem);
        s = hsi_envi_open(path, err, sizeof err);
        CHECK(s != NULL);
        if (!s)
            continue;
        double mean[2], sd[2];
        int rc = hsi_envi_band_stats(s, mean, sd, NULL, NULL, err, sizeof err);
        if (k == 0) {
            CHECK(rc == 0 && mean[0] == 5 && sd[0] == 1 && mean[1] == 5.5);
            CHECK(fabs(sd[1] - sqrt(5.25)) < 1e-12);
        } else {
            CHECK(rc == -1);
            CHECK_HAS(err, "every pixel is nodata");
        }
        hsi_envi_close(s);
    }
}

/* ---- corrupt headers and files that are not files ------------------------------------------ */

static void expect_refused(const char *path, const char *want)
{
    char err[1024] = "";
    hsi_cube c;
    CHECK(hsi_cube_read(path, NULL, &c, err, sizeof err) == -1);
    CHECK_HAS(err, want);
    err[0] = 0;
    hsi_envi_stream *s = hsi_envi_open(path, err, sizeof err);
    CHECK(s == NULL);
    hsi_envi_close(s);
    CHECK_HAS(err, want);
}

static void test_bad(const char *dir)
{
    static const struct {
        const char *hdr, *want;
    } bad[] = {
        {"samples = 2147483647\nlines = 2147483647\nbands = 2147483647\ndata type = 5\n",
         "overflows a 64-bit size"},
        {"samples = 3\nlines = 3\nbands = 1\ndata type = 1\nheader offset = 9223372036854775807\n",
         "overflows"},
        {"samples = 99999999999\nlines = 3\nbands = 1\ndata type = 1\n",
         "'samples = 99999999999': expected a whole number from 1 to 2147483647"},
        {"samples = -3\nlines = 3\nbands = 1\ndata type = 1\n", ":2: 'samples = -3'"},
        {"samples = 3x\nlines = 3\nbands = 1\ndata type = 1\n", "'samples = 3x'"},
        {"samples = 100000\nlines = 100000\nbands = 100\ndata type = 2\n",
         "bad.img: 16 bytes, the header"},
        {"samples = 4\nlines = 2\nbands = 1\ndata type = 1\nheader offset = 9\n",
         "needs 17 (2 x 4 x 1 uint8 + offset 9)"},
        {"samples = 4\nlines = 2\nbands = 1\ndata type = 1\nbyte order = 7\n", "'byte order = 7'"},
        {"samples = 4\nlines = 2\nbands = 1\ndata type = 1\ninterleave = bsx\n",
         "interleave 'bsx'"},
        {"samples = 4\nlines = 2\nbands = 1\ndata type = 6\n", "data type = 6"},
        {"description = {never closed\nsamples = 4\n", ":2: unterminated '{'"},
    };
    char path[300], hdr[1024];
    snprintf(path, sizeof path, "%s/bad.img", dir);
    t_write(path, "w", "0123456789abcdef");   /* 16 bytes */
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        snprintf(path, sizeof path, "%s/bad.hdr", dir);
        snprintf(hdr, sizeof hdr, "ENVI\n%s", bad[k].hdr);
        t_write(path, "w", hdr);
        expect_refused(path, bad[k].want);
    }
    /* A malformed ignore value only costs the ignore value: a warning, the image reads. */
    snprintf(path, sizeof path, "%s/bad.hdr", dir);
    t_write(path, "w", "ENVI\nsamples = 4\nlines = 2\nbands = 2\ndata type = 1\n"
                       "data ignore value = none\n");
    char err[1024];
    hsi_envi_stream *s = hsi_envi_open(path, err, sizeof err);
    CHECK(s != NULL);
    if (s) {
        CHECK_HAS(hsi_envi_warning(s), "bad.hdr:6: 'data ignore value = none' is not a number");
        CHECK(hsi_envi_ignore_value(s, NULL) == 0);
        float x[16];
        CHECK(hsi_envi_read_rows(s, 1, 2, x, NULL, err, sizeof err) == -1);
        CHECK_HAS(err, "rows 1..2 asked, the image has rows 0..1");
        CHECK(hsi_envi_read_rows(s, -1, 1, x, NULL, err, sizeof err) == -1);
        CHECK(hsi_envi_read_rows(s, 0, 0, x, NULL, err, sizeof err) == -1);
        CHECK(hsi_envi_read_rows(s, 1, 1, x, NULL, err, sizeof err) == 0);
        CHECK(x[0] == '4' && x[4] == 'c');   /* row 1 of band 0, row 1 of band 1 */
        hsi_envi_close(s);
    }

    /* Not regular files: a directory as data file and as header, FIFOs as both. A FIFO must be
     * refused at once: SIGALRM kills the test if a reader blocks on it. */
    static const struct {
        const char *stem;
        int special_hdr;     /* 1: the .hdr is the odd one, else the .img */
        int fifo;            /* 1: a FIFO, else a directory */
        const char *want;
    } odd[] = {
        {"dird", 0, 0, "dird.img: is a directory"},
        {"fifo", 0, 1, "fifo.img: is a FIFO (named pipe), not a regular file"},
        {"fifoh", 1, 1, "fifoh.hdr: is a FIFO (named pipe), not a regular file"},
        {"dirh", 1, 0, "dirh.hdr: is a directory"},
    };
    alarm(30);
    for (size_t k = 0; k < sizeof odd / sizeof *odd; k++) {
        char other[300];
        int sh = odd[k].special_hdr;
        snprintf(path, sizeof path, "%s/%s.%s", dir, odd[k].stem, sh ? "hdr" : "img");
        snprintf(other, sizeof other, "%s/%s.%s", dir, odd[k].stem, sh ? "img" : "hdr");
        t_write(other, "w", "ENVI\nsamples = 2\nlines = 2\nbands = 1\ndata type = 1\n");
        CHECK(odd[k].fifo ? mkfifo(path, 0600) == 0 : mkdir(path, 0700) == 0);
        snprintf(path, sizeof path, "%s/%s.hdr", dir, odd[k].stem);
        expect_refused(path, odd[k].want);
    }
    alarm(0);
}

/* A scene wider than one 8 MiB read: BIP rows of 2.25 MB are read 3 at a time. */
static double val_wide(int r, int c, int b) { return (r * 7 + c * 3 + b * 11) % 2000; }

static void test_wide(const char *dir)
{
    enum { WL = 5, WS = 1024, WB = 1100 };
    char stem[256], path[300], err[1024];
    snprintf(stem, sizeof stem, "%s/wide", dir);
    t_envi_write(stem, ".img", 2, "bip", 1, 0, WL, WS, WB, val_wide, NULL);
    snprintf(path, sizeof path, "%s.hdr", stem);
    hsi_cube c;
    hsi_envi_stream *s = hsi_envi_open(path, err, sizeof err);
    CHECK(s != NULL);
    CHECK(hsi_cube_read(path, NULL, &c, err, sizeof err) == 0);
    if (s && c.data)
        check_blocks(s, &c, "wide bip");
    hsi_cube_free(&c);
    hsi_envi_close(s);
}

int main(void)
{
    char dir[64], stem[256], path[300], err[1024];
    t_tmpdir(dir, sizeof dir);
    for (int n = 0; n < T_ENVI_CASES; n++) {
        t_envi_case k = t_envi_case_at(n);
        snprintf(stem, sizeof stem, "%s/e%d", dir, n);
        t_envi_write(stem, ".dat", k.type, k.il, k.big, k.big ? 11 : 0, L, S, NB, val, NULL);
        /* through the data file; the cube through the header */
        snprintf(path, sizeof path, "%s.dat", stem);
        hsi_envi_stream *s = hsi_envi_open(path, err, sizeof err);
        if (!s)
            fprintf(stderr, "%s\n", err);
        CHECK(s != NULL);
        if (!s)
            continue;
        int h, w, nb;
        CHECK(hsi_envi_dims(s, &h, &w, &nb) == 0 && h == L && w == S && nb == NB);
        CHECK(strcmp(hsi_envi_warning(s), "") == 0);
        CHECK(hsi_envi_georef(s)->has_transform == 0 && !hsi_envi_georef(s)->wkt);
        float x[L * S * NB];
        uint8_t nd[L * S];
        CHECK(hsi_envi_read_rows(s, 0, L, x, nd, err, sizeof err) == 0);
        t_failures += t_envi_check(x, L, S, NB, &k, val, path);
        CHECK(memchr(nd, 1, sizeof nd) == NULL);
        snprintf(path, sizeof path, "%s.hdr", stem);
        hsi_cube cube;
        CHECK(hsi_cube_read(path, NULL, &cube, err, sizeof err) == 0);
        if (cube.data)
            check_blocks(s, &cube, path);
        hsi_cube_free(&cube);
        hsi_envi_close(s);
    }
    test_nodata(dir);
    test_bad(dir);
    test_wide(dir);
    t_rmtree(dir);
    return t_done("geo.envi_stream");
}
