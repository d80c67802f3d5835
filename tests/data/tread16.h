/* tread16.h — hsi_cube_read16 against hsi_cube_read on the same file, for the reader tests
 * (test_mat.c, test_envi.c, test_npy.c): the 16-bit form exactly when hsi_cube_compact would
 * keep the floats in 16 bits, and the same value at every sample. */
#ifndef TREAD16_H
#define TREAD16_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_data.h"
#include "hsi_prep.h"

/* Mismatches (printed with path); must16: the 16-bit form is required (else: expected when
 * hsi_cube_compact compacts the float cube). */
static inline int t_read16(const char *path, const char *var, int must16)
{
    char err[1024];
    hsi_cube f, s;
    if (hsi_cube_read(path, var, &f, err, sizeof err) ||
        hsi_cube_read16(path, var, &s, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", path, err);
        hsi_cube_free(&f);
        return 1;
    }
    hsi_cube g = {.h = f.h, .w = f.w, .bands = f.bands, .data = malloc(sizeof(float) *
                  (size_t)f.h * f.w * f.bands + 1)};
    if (g.data) memcpy(g.data, f.data, sizeof(float) * (size_t)f.h * f.w * f.bands);
    int want16 = g.data && hsi_cube_compact(&g, NULL, NULL) == 0;
    int bad = must16 && !want16;
    if (g.s16 && (g.s16_unsigned != s.s16_unsigned) && bad++ < 5)
        fprintf(stderr, "%s: read16 unsigned %d, hsi_cube_compact's %d\n", path, s.s16_unsigned,
                g.s16_unsigned);
    hsi_cube_free(&g);
    if (!s.s16 != !want16 || !s.data == !want16 || s.mean || s.h != f.h || s.w != f.w ||
        s.bands != f.bands) {
        fprintf(stderr, "%s: read16 gave %s %d x %d x %d (want %s %d x %d x %d)\n", path,
                s.s16 ? "16-bit" : "floats", s.h, s.w, s.bands, want16 ? "16-bit" : "floats",
                f.h, f.w, f.bands);
        bad = 1;
    }
    size_t n = (size_t)f.h * f.w * f.bands;
    for (size_t i = 0; !bad && i < n; i++)
        if (hsi_cube_sample(&s, i) != f.data[i] && bad++ < 5)
            fprintf(stderr, "%s: read16 sample %zu = %g, hsi_cube_read's %g\n", path, i,
                    hsi_cube_sample(&s, i), f.data[i]);
    if (!bad && s.s16 && hsi_cube_widen(&s) == 0)   /* and back to the same floats */
        for (size_t i = 0; i < n; i++)
            if (s.data[i] != f.data[i] && bad++ < 5)
                fprintf(stderr, "%s: widened sample %zu = %g, want %g\n", path, i, s.data[i],
                        f.data[i]);
    hsi_cube_free(&f);
    hsi_cube_free(&s);
    return bad;
}
#endif
