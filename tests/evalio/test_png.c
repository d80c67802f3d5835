/* test_png.c — an RGB image written with hsi_png_write reads back (with libpng's own reader)
 * with the same size and pixel colours; a write into a missing directory fails with the path;
 * one that the disk refuses in the middle of the encoding says why (not libpng's "Write Error").
 */
#include "check.h"
#include "hsi_io.h"
#include "pngread.h"

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tmp_png";
    char err[512], path[600];
    CHECK(hsi_mkdirs(dir, err, sizeof err) == 0);
    hsi_image im;
    CHECK(hsi_image_alloc(&im, 7, 5, 10, 20, 30) == 0);
    const uint8_t red[3] = { 255, 0, 0 }, c2[3] = { 1, 128, 254 };
    memcpy(im.rgb + 3 * (0 * 7 + 6), red, 3);         /* (6, 0) */
    memcpy(im.rgb + 3 * (4 * 7 + 0), c2, 3);          /* (0, 4) */
    snprintf(path, sizeof path, "%s/a.png", dir);
    CHECK(hsi_png_write(path, &im, err, sizeof err) == 0);
    hsi_image back;
    CHECK(png_read_rgb(path, &back) == 0);
    if (back.rgb) {
        CHECK(back.w == 7 && back.h == 5);
        CHECK(px_is(&back, 6, 0, red));
        CHECK(px_is(&back, 0, 4, c2));
        const uint8_t fill[3] = { 10, 20, 30 };
        CHECK(px_is(&back, 3, 2, fill));
        CHECK(memcmp(back.rgb, im.rgb, 7 * 5 * 3) == 0);
        hsi_image_free(&back);
    }
    snprintf(path, sizeof path, "%s/none/a.png", dir);
    CHECK(hsi_png_write(path, &im, err, sizeof err) == -1);
    CHECK_MSG(err, "none/a.png: cannot create a temporary file");
    hsi_image_free(&im);

    /* 300 KB of noise against a 16 KB file-size limit: libpng's write fails inside the encoder
     * (it said "a.png: PNG encoding failed: Write Error") and no temporary file is left */
    CHECK(hsi_image_alloc(&im, 320, 320, 0, 0, 0) == 0);
    uint32_t x = 12345;
    for (size_t i = 0; i < (size_t)320 * 320 * 3; i++) {
        x = x * 1664525u + 1013904223u;
        im.rgb[i] = (uint8_t)(x >> 24);
    }
    struct rlimit saved;
    CHECK(fsize_limit(16 * 1024, &saved) == 0);
    snprintf(path, sizeof path, "%s/big.png", dir);
    CHECK(hsi_png_write(path, &im, err, sizeof err) == -1);
    setrlimit(RLIMIT_FSIZE, &saved);
    CHECK_MSG(err, "big.png: write failed: File too large (the file-size limit, ulimit -f, was "
                   "reached) (the previous file, if any, is unchanged)");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", dir);
    CHECK(system(cmd) != 0);
    hsi_image_free(&im);
    CHECK(hsi_image_alloc(&im, 0, 3, 0, 0, 0) == -1);
    CHECK_DONE();
}
