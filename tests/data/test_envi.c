/* test_envi.c — the ENVI reader on tiny files written here: every supported data type, bsq /
 * bil / bip, both byte orders, a header offset, {} lists in the header, the .hdr or the data
 * file as the path, a 1-band file as labels, and the error messages. */
#include "tdata.h"

#include "hsi_data.h"

enum { L = 3, S = 4, NB = 2 };   /* lines (rows), samples (cols), bands */

static double val(int r, int c, int b) { return r * 8 + c * 2 + b; }

/* Bytes of v as ENVI type `type`, in big-endian order if big, into out; returns the size. */
static int encode(int type, double v, int big, unsigned char *out)
{
    unsigned char tmp[8];
    int n;
    switch (type) {
    case 1: { uint8_t x = (uint8_t)v; n = 1; memcpy(tmp, &x, n); break; }
    case 2: { int16_t x = (int16_t)(v - 10); n = 2; memcpy(tmp, &x, n); break; }   /* negatives too */
    case 3: { int32_t x = (int32_t)(v - 10); n = 4; memcpy(tmp, &x, n); break; }
    case 4: { float x = (float)(v + 0.5); n = 4; memcpy(tmp, &x, n); break; }
    case 5: { double x = v + 0.25; n = 8; memcpy(tmp, &x, n); break; }
    case 12: { uint16_t x = (uint16_t)(v + 60000); n = 2; memcpy(tmp, &x, n); break; }
    case 13: { uint32_t x = (uint32_t)(v + 4000000000.0); n = 4; memcpy(tmp, &x, n); break; }
    case 14: { int64_t x = (int64_t)(v - 1000); n = 8; memcpy(tmp, &x, n); break; }
    default: { uint64_t x = (uint64_t)(v + 7); n = 8; memcpy(tmp, &x, n); break; }
    }
    const uint16_t one = 1;
    int host_little = *(const unsigned char *)&one == 1;
    int swap = n > 1 && (big == host_little);
    for (int i = 0; i < n; i++)
        out[i] = swap ? tmp[n - 1 - i] : tmp[i];
    return n;
}

static double expected(int type, double v)
{
    switch (type) {
    case 2: case 3: return v - 10;
    case 4: return v + 0.5;
    case 5: return v + 0.25;
    case 12: return v + 60000;
    case 13: return v + 4000000000.0;
    case 14: return v - 1000;
    case 15: return v + 7;
    default: return v;
    }
}

static void write_pair(const char *stem, const char *ext, int type, const char *il, int big,
                       int offset, int bands)
{
    char p[4096];
    snprintf(p, sizeof p, "%s.hdr", stem);
    FILE *f = fopen(p, "w");
    fprintf(f, "ENVI\ndescription = {\n  a test file,\n  with = signs}\nsamples = %d\nlines   = %d\n"
               "bands = %d\nheader offset = %d\nfile type = ENVI Standard\ndata type = %d\n"
               "interleave = %s\nbyte order = %d\nband names = {\n b1,\n b2}\n",
            S, L, bands, offset, type, il, big);
    fclose(f);
    snprintf(p, sizeof p, "%s%s", stem, ext);
    f = fopen(p, "wb");
    for (int i = 0; i < offset; i++)
        fputc('#', f);
    int bsq = strcmp(il, "bsq") == 0, bil = strcmp(il, "bil") == 0;
    int outer = bsq ? bands : L, mid = bsq ? L : bil ? bands : S, inner = bsq || bil ? S : bands;
    for (int a = 0; a < outer; a++)
        for (int m = 0; m < mid; m++)
            for (int n = 0; n < inner; n++) {
                int r = bsq ? m : a;
                int c = bsq || bil ? n : m;
                int b = bsq ? a : bil ? m : n;
                unsigned char buf[8];
                int k = encode(type, val(r, c, b), big, buf);
                fwrite(buf, 1, (size_t)k, f);
            }
    fclose(f);
}

int main(void)
{
    char dir[64], cmd[128], stem[256], path[300], err[1024];
    t_tmpdir(dir, sizeof dir);
    static const int types[] = {1, 2, 3, 4, 5, 12, 13, 14, 15};
    static const char *ils[] = {"bsq", "bil", "bip"};
    int n = 0;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (int i = 0; i < 3; i++)
            for (int big = 0; big < 2; big++) {
                snprintf(stem, sizeof stem, "%s/e%d", dir, n++);
                int offset = big ? 7 : 0;
                write_pair(stem, i == 2 ? "" : ".img", types[t], ils[i], big, offset, NB);
                /* via the .hdr, and (bip case: no extension) via the data file */
                snprintf(path, sizeof path, i == 2 ? "%s" : "%s.hdr", stem);
                hsi_cube c;
                int ok = hsi_cube_read(path, NULL, &c, err, sizeof err) == 0;
                if (!ok)
                    fprintf(stderr, "%s\n", err);
                CHECK(ok);
                if (!ok)
                    continue;
                CHECK(c.h == L && c.w == S && c.bands == NB);
                for (int b = 0; b < NB; b++)
                    for (int r = 0; r < L; r++)
                        for (int col = 0; col < S; col++) {
                            double want = (float)expected(types[t], val(r, col, b));
                            if (c.data[(b * L + r) * S + col] != want) {
                                fprintf(stderr, "type %d %s big %d: (%d,%d,%d) = %g, want %g\n",
                                        types[t], ils[i], big, r, col, b,
                                        c.data[(b * L + r) * S + col], want);
                                t_failures++;
                            }
                        }
                hsi_cube_free(&c);
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
