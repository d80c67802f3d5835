/* test_maps.c — classification maps read back from PNG: every map pixel is a scale x scale
 * block of its class colour (black for -1), every class (even one absent from the map) has a
 * square legend swatch of its colour with white text beside it, the automatic scale makes the
 * 83x86 Salinas-A scene 5x, and hsi_maps_write makes the three maps with the test mask applied.
 */
#include <stdlib.h>

#include "check.h"
#include "hsi_eval.h"
#include "pngread.h"

static const uint8_t PAL[4 * 3] = { 200, 10, 10, 10, 200, 10, 10, 10, 200, 200, 200, 10 };
static const uint8_t BLACK[3] = { 0, 0, 0 }, WHITE[3] = { 255, 255, 255 };

static int64_t count_colour(const hsi_image *im, const uint8_t *rgb, int *x0, int *y0, int *x1,
                            int *y1)
{
    int64_t n = 0;
    *x0 = *y0 = 1 << 30;
    *x1 = *y1 = -1;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            if (px_is(im, x, y, rgb)) {
                n++;
                *x0 = x < *x0 ? x : *x0;
                *y0 = y < *y0 ? y : *y0;
                *x1 = x > *x1 ? x : *x1;
                *y1 = y > *y1 ? y : *y1;
            }
    return n;
}

/* 5 rows x 6 columns, k = 4: class 0 only at (0,0), class 3 nowhere, -1 at two pixels. */
static const int32_t LABELS[5 * 6] = {
    0, 1, 1, 2, 2, 2,
    1, 1, 1, 2, 2, 2,
    1, -1, 1, 2, 2, 2,
    1, 1, 1, 2, -1, 2,
    1, 1, 1, 2, 2, 2,
};

static void test_render(const char *dir)
{
    const int h = 5, w = 6, k = 4, s = 4;
    const char *names[4] = { "Brocoli_green_weeds_1", "Corn", "Lettuce 4wk", "absent" };
    hsi_map_style st = { s, PAL, names, "Prediction" };
    char err[512], path[600];
    snprintf(path, sizeof path, "%s/map.png", dir);
    CHECK(hsi_map_write_png(path, LABELS, h, w, k, &st, err, sizeof err) == 0);
    hsi_image im;
    CHECK(png_read_rgb(path, &im) == 0);
    if (!im.rgb)
        return;

    /* Class 3 is absent from the map: its pixels are exactly the legend swatch, a square. */
    int x0, y0, x1, y1;
    int64_t n3 = count_colour(&im, PAL + 9, &x0, &y0, &x1, &y1);
    int sw = x1 - x0 + 1;
    CHECK(sw >= 8 && y1 - y0 + 1 == sw && n3 == (int64_t)sw * sw);
    int legend_x = x0;
    /* White text to the right of each swatch row; the longest name fits in the image. */
    int white = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x1 + 1; x < im.w; x++)
            white += px_is(&im, x, y, WHITE);
    CHECK(white > 20);
    CHECK(im.w >= legend_x + sw + hsi_text_width(names[0], 2));
    CHECK(im.h >= 4 * sw);

    /* Every class: pixel count = (map pixels) * s^2 + the swatch. */
    int counts[4] = { 0 };
    for (int i = 0; i < h * w; i++)
        if (LABELS[i] >= 0)
            counts[LABELS[i]]++;
    for (int c = 0; c < k; c++)
        CHECK(count_colour(&im, PAL + 3 * c, &x0, &y0, &x1, &y1) ==
              (int64_t)counts[c] * s * s + (int64_t)sw * sw);

    /* Class 0 is only at map pixel (0,0): the leftmost class-0 pixel is the map origin. */
    count_colour(&im, PAL, &x0, &y0, &x1, &y1);
    int ox = x0, oy = y0;
    CHECK(ox + w * s <= legend_x);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int l = LABELS[y * w + x];
            const uint8_t *want = l >= 0 ? PAL + 3 * l : BLACK;
            CHECK(px_is(&im, ox + x * s, oy + y * s, want));
            CHECK(px_is(&im, ox + x * s + s - 1, oy + y * s + s - 1, want));
        }
    /* The title is white text above the map. */
    white = 0;
    for (int y = 0; y < oy; y++)
        for (int x = 0; x < im.w; x++)
            white += px_is(&im, x, y, WHITE);
    CHECK(white > 20);
    hsi_image_free(&im);

    /* Bad input: labels out of the default palette's range need a palette. */
    CHECK(hsi_map_write_png(path, LABELS, h, w, 40, NULL, err, sizeof err) == -1);
    CHECK_MSG(err, "map.png: map: bad size 5x6 or 40 classes");
}

/* Automatic scale: Salinas-A 83 x 86 -> 5x (430 px <= 512). One class everywhere. */
static void test_auto_scale(void)
{
    int32_t *l = malloc(83 * 86 * sizeof *l);
    for (int i = 0; i < 83 * 86; i++)
        l[i] = 0;
    hsi_image im;
    char err[256];
    CHECK(hsi_map_render(l, 83, 86, 1, NULL, &im, err, sizeof err) == 0);
    int x0, y0, x1, y1;
    int64_t n = count_colour(&im, hsi_default_palette, &x0, &y0, &x1, &y1);
    CHECK(n > 83 * 86 * 25 && n < 83 * 86 * 25 + 40 * 40);
    hsi_image_free(&im);
    free(l);
}

static void test_three_maps(const char *dir)
{
    const int h = 5, w = 6, k = 4;
    int32_t gt[30];
    uint8_t mask[30];
    for (int i = 0; i < 30; i++) {
        gt[i] = LABELS[i];
        mask[i] = (uint8_t)(i % 3 == 0 && LABELS[i] >= 0);
    }
    hsi_map_style st = { 2, PAL, NULL, NULL };
    char err[512], path[600];
    CHECK(hsi_maps_write(dir, gt, LABELS, mask, h, w, k, &st, err, sizeof err) == 0);
    const char *files[3] = { "map_gt.png", "map_pred.png", "map_test.png" };
    for (int f = 0; f < 3; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        hsi_image im;
        CHECK(png_read_rgb(path, &im) == 0);
        if (!im.rgb)
            continue;
        /* Class 2 pixels: all 17 on the full maps; on the test map only the masked ones. */
        int want = 0;
        for (int i = 0; i < 30; i++)
            want += LABELS[i] == 2 && (f < 2 || mask[i]);
        int x0, y0, x1, y1;
        int64_t n = count_colour(&im, PAL + 6, &x0, &y0, &x1, &y1);
        int64_t sw = count_colour(&im, PAL + 9, &x0, &y0, &x1, &y1);
        CHECK(n == (int64_t)want * 4 + sw);
        hsi_image_free(&im);
    }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tmp_maps";
    char err[512];
    CHECK(hsi_mkdirs(dir, err, sizeof err) == 0);
    test_render(dir);
    test_auto_scale();
    test_three_maps(dir);
    CHECK_DONE();
}
