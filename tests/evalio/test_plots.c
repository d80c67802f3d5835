/* test_plots.c — a two-panel training-curve plot renders at the requested size, is the same
 * bytes twice (deterministic), reads back from PNG, draws each series in its own colour where
 * the data say (a falling loss: its pixels sit higher on the left than on the right), joins
 * the points of a series that has NaN between them (the rising val OA is checked the same
 * way), and survives a constant series and an empty panel.
 */
#include <stdlib.h>

#include "check.h"
#include "hsi_eval.h"
#include "pngread.h"

/* Mean row of the pixels of one colour within columns [xa, xb) and rows [ya, yb). */
static double mean_row(const hsi_image *im, const uint8_t *rgb, int xa, int xb, int ya, int yb,
                       int *count)
{
    double sum = 0;
    *count = 0;
    for (int y = ya; y < yb; y++)
        for (int x = xa; x < xb; x++)
            if (px_is(im, x, y, rgb)) {
                sum += y;
                (*count)++;
            }
    return *count ? sum / *count : NAN;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tmp_plots";
    char err[512], path[600];
    CHECK(hsi_mkdirs(dir, err, sizeof err) == 0);
    enum { N = 60 };
    double x[N], train[N], val[N], oa[N], flat[N];
    for (int i = 0; i < N; i++) {
        x[i] = i + 1;
        train[i] = 2.0 * exp(-i / 12.0) + 0.05;
        val[i] = i % 5 == 4 ? 2.2 * exp(-i / 15.0) + 0.1 : NAN;   /* validated every 5 epochs */
        oa[i] = i % 5 == 4 ? 1 - 0.9 * exp(-i / 10.0) : NAN;
        flat[i] = 0.5;
    }
    hsi_series loss[2] = { { "train loss", x, train, N }, { "val loss", x, val, N } };
    hsi_series acc[2] = { { "val OA", x, oa, N }, { "constant", NULL, flat, N } };
    hsi_panel panels[3] = {
        { "Loss", "epoch", "loss", loss, 2 },
        { "Validation accuracy", "epoch", "OA", acc, 2 },
        { "Empty panel", NULL, NULL, NULL, 0 },
    };
    hsi_image a, b;
    CHECK(hsi_plot_render(panels, 3, 0, 0, &a, err, sizeof err) == 0);
    CHECK(hsi_plot_render(panels, 3, 0, 0, &b, err, sizeof err) == 0);
    CHECK(a.w == 800 && a.h == 3 * 360);
    CHECK(a.rgb && b.rgb && memcmp(a.rgb, b.rgb, (size_t)a.w * a.h * 3) == 0);
    hsi_image_free(&b);

    snprintf(path, sizeof path, "%s/curves.png", dir);
    CHECK(hsi_plot_write_png(path, panels, 3, 0, 0, err, sizeof err) == 0);
    hsi_image im;
    CHECK(png_read_rgb(path, &im) == 0);
    if (im.rgb) {
        CHECK(im.w == a.w && im.h == a.h && memcmp(im.rgb, a.rgb, (size_t)a.w * a.h * 3) == 0);
        /* The train loss falls: its colour sits higher (smaller rows) on the left. */
        const uint8_t *c = hsi_plot_colours[0];
        int nl, nr;
        double left = mean_row(&im, c, 150, 300, 0, 360, &nl);
        double right = mean_row(&im, c, 550, 700, 0, 360, &nr);
        CHECK(nl > 20 && nr > 20 && left < right - 50);
        /* The accuracy rises: the first series of panel 2 sits lower on the left. */
        left = mean_row(&im, c, 150, 300, 360, 720, &nl);
        right = mean_row(&im, c, 550, 700, 360, 720, &nr);
        CHECK(nl > 5 && nr > 5 && left > right + 30);
        hsi_image_free(&im);
    }
    hsi_image_free(&a);
    CHECK(hsi_plot_write_png(path, panels, 0, 0, 0, err, sizeof err) == -1);
    CHECK_MSG(err, "curves.png: plot: bad layout");
    CHECK_DONE();
}
