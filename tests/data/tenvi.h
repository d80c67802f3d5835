/* tenvi.h — tiny ENVI files for the reader tests (tests/data/test_envi.c, tests/geo/): values of
 * any ENVI data type in either byte order, laid out bsq / bil / bip behind a header offset.
 * Each type stores v shifted into its range (so negatives and large values are exercised);
 * t_envi_expected gives what a reader must return for v. */
#ifndef TENVI_H
#define TENVI_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of v as ENVI type `type`, big-endian if big, into out; returns the size. */
static inline int t_envi_encode(int type, double v, int big, unsigned char *out)
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

/* What a reader returns (as a double, before rounding to float) for v stored as `type`. */
static inline double t_envi_expected(int type, double v)
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

/* An ENVI file of lines x samples x bands: stem.hdr (with `extra` header lines appended) and
 * stem<ext> holding `offset` filler bytes then val(r, c, b) for every element in `il` order. */
static inline void t_envi_write(const char *stem, const char *ext, int type, const char *il, int big,
                         int offset, int lines, int samples, int bands,
                         double (*val)(int r, int c, int b), const char *extra)
{
    char p[4096];
    snprintf(p, sizeof p, "%s.hdr", stem);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(2);
    }
    fprintf(f, "ENVI\ndescription = {\n  a test file,\n  with = signs}\nsamples = %d\n"
               "lines   = %d\nbands = %d\nheader offset = %d\nfile type = ENVI Standard\ndata type = %d\n"
               "interleave = %s\nbyte order = %d\nband names = {\n b1,\n b2}\n%s",
            samples, lines, bands, offset, type, il, big, extra ? extra : "");
    fclose(f);
    snprintf(p, sizeof p, "%s%s", stem, ext);
    f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(2);
    }
    for (int i = 0; i < offset; i++)
        fputc('#', f);
    int bsq = strcmp(il, "bsq") == 0, bil = strcmp(il, "bil") == 0;
    int outer = bsq ? bands : lines, mid = bsq ? lines : bil ? bands : samples;
    int inner = bsq || bil ? samples : bands;
    for (int a = 0; a < outer; a++)
        for (int m = 0; m < mid; m++)
            for (int n = 0; n < inner; n++) {
                int r = bsq ? m : a;
                int c = bsq || bil ? n : m;
                int b = bsq ? a : bil ? m : n;
                unsigned char buf[8];
                int k = t_envi_encode(type, val(r, c, b), big, buf);
                fwrite(buf, 1, (size_t)k, f);
            }
    fclose(f);
}

/* The grid every ENVI reader test walks: each data type x interleave x byte order. */
typedef struct t_envi_case {
    int type;          /* ENVI data type */
    const char *il;    /* "bsq", "bil" or "bip" */
    int big;           /* 1: big-endian */
} t_envi_case;
enum { T_ENVI_CASES = 9 * 3 * 2 };
static inline t_envi_case t_envi_case_at(int i)
{
    static const int types[] = {1, 2, 3, 4, 5, 12, 13, 14, 15};
    static const char *ils[] = {"bsq", "bil", "bip"};
    t_envi_case c = {types[i / 6], ils[(i / 2) % 3], i % 2};
    return c;
}

/* Mismatches between band-major floats x[(b * h + r) * w + c] and (float)expected(val(r, c, b)),
 * each printed with what. */
static inline int t_envi_check(const float *x, int h, int w, int bands, const t_envi_case *k,
                               double (*val)(int r, int c, int b), const char *what)
{
    int bad = 0;
    for (int b = 0; b < bands; b++)
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                float want = (float)t_envi_expected(k->type, val(r, c, b));
                float got = x[((size_t)b * h + r) * w + c];
                if (got != want && bad++ < 5)
                    fprintf(stderr, "%s (type %d %s big %d): (%d,%d,%d) = %g, want %g\n", what,
                            k->type, k->il, k->big, r, c, b, got, want);
            }
    return bad;
}
#endif
