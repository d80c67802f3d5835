/* plots.c — training curves as PNG: panels stacked vertically, each with a title, axes with
 * "nice" (1-2-5) ticks and labels, a light grid, one line per series and a legend. Integer
 * drawing only, so the same data gives the same bytes.
 * Not here: log axes, shared x axes between panels, or automatic smoothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_eval.h"

enum {
    PAD = 14,
    TS = 2,                                   /* text scale: 10 x 14 px glyphs */
    GLYPH_H = HSI_FONT_H * TS,
    CHAR_W = (HSI_FONT_W + 1) * TS,
    LEFT = PAD + 8 * CHAR_W,                  /* room for y tick labels */
    TOP = PAD + 2 * GLYPH_H + 16,             /* title and y label */
    BOTTOM = PAD + 2 * GLYPH_H + 14,          /* x tick labels and x label */
    MARKER_MAX_POINTS = 40                    /* series this short also get point markers */
};

static const uint8_t BLACK[3] = { 0, 0, 0 }, GRID[3] = { 225, 225, 225 },
                     AXIS[3] = { 90, 90, 90 }, WHITE[3] = { 255, 255, 255 };
const uint8_t hsi_plot_colours[HSI_PLOT_COLOURS][3] = {
    { 31, 90, 200 }, { 210, 50, 40 }, { 40, 150, 60 }, { 230, 130, 20 },
    { 130, 60, 170 }, { 20, 150, 150 }, { 90, 90, 90 }, { 150, 90, 40 },
};

typedef struct axis {
    double lo, hi, step;   /* ticks at lo, lo + step, ..., hi */
    int decimals;          /* tick label precision */
} axis;

/* Extends [lo, hi] to multiples of a 1-2-5 step giving about 5 intervals. */
static axis nice_axis(double lo, double hi)
{
    axis a;
    if (!(hi > lo)) {
        double d = fabs(lo) > 0 ? fabs(lo) * 0.5 : 1;
        lo -= d;
        hi += d;
    }
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    a.step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    int d = (int)-floor(log10(a.step) + 1e-9);
    a.decimals = d > 0 ? d : 0;
    return a;
}

static double x_at(const hsi_series *s, int i) { return s->x ? s->x[i] : i + 1; }

static int to_px(double v, const axis *a, int p0, int len)
{
    return p0 + (int)lround((v - a->lo) / (a->hi - a->lo) * (len - 1));
}

static void tick_label(char *buf, size_t n, double v, int decimals)
{
    if (fabs(v) < 1e-12)
        v = 0;   /* no "-0.0" */
    snprintf(buf, n, "%.*f", decimals, v);
}

static void draw_panel(hsi_image *im, const hsi_panel *p, int oy, int width, int height)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = x_at(&p->series[s], i), y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            xlo = fmin(xlo, x); xhi = fmax(xhi, x);
            ylo = fmin(ylo, y); yhi = fmax(yhi, y);
        }
    if (!isfinite(xlo)) {
        xlo = ylo = 0;
        xhi = yhi = 1;
    }
    axis ax = nice_axis(xlo, xhi), ay = nice_axis(ylo, yhi);
    int px0 = LEFT, pw = width - LEFT - PAD - CHAR_W;
    int py0 = oy + TOP, ph = height - TOP - BOTTOM;
    char buf[64];

    if (p->title)
        hsi_draw_text(im, LEFT, oy + PAD, p->title, TS, BLACK);
    if (p->ylabel)
        hsi_draw_text(im, PAD, oy + PAD + GLYPH_H + 10, p->ylabel, TS, AXIS);
    /* Grid and tick labels. */
    for (int t = 0; ay.lo + t * ay.step <= ay.hi + ay.step * 1e-6; t++) {
        double v = ay.lo + t * ay.step;
        int y = py0 + ph - 1 - (to_px(v, &ay, 0, ph));
        hsi_draw_rect(im, px0, y, pw, 1, GRID);
        tick_label(buf, sizeof buf, v, ay.decimals);
        hsi_draw_text(im, px0 - 6 - hsi_text_width(buf, TS), y - GLYPH_H / 2, buf, TS, BLACK);
    }
    for (int t = 0; ax.lo + t * ax.step <= ax.hi + ax.step * 1e-6; t++) {
        double v = ax.lo + t * ax.step;
        int x = to_px(v, &ax, px0, pw);
        hsi_draw_rect(im, x, py0, 1, ph, GRID);
        hsi_draw_rect(im, x, py0 + ph, 1, 5, AXIS);
        tick_label(buf, sizeof buf, v, ax.decimals);
        hsi_draw_text(im, x - hsi_text_width(buf, TS) / 2, py0 + ph + 8, buf, TS, BLACK);
    }
    if (p->xlabel)
        hsi_draw_text(im, px0 + (pw - hsi_text_width(p->xlabel, TS)) / 2,
                      py0 + ph + 8 + GLYPH_H + 8, p->xlabel, TS, AXIS);
    /* Axes box. */
    hsi_draw_rect(im, px0, py0, pw, 1, AXIS);
    hsi_draw_rect(im, px0, py0 + ph - 1, pw, 1, AXIS);
    hsi_draw_rect(im, px0, py0, 1, ph, AXIS);
    hsi_draw_rect(im, px0 + pw - 1, py0, 1, ph, AXIS);

    /* Lines join the finite points in order (a NaN, e.g. an epoch without validation, is
     * skipped, not a gap); sparse series also get a marker per point. */
    for (int s = 0; s < p->n_series; s++) {
        const hsi_series *sr = &p->series[s];
        const uint8_t *col = hsi_plot_colours[s % HSI_PLOT_COLOURS];
        int finite = 0;
        for (int i = 0; i < sr->n; i++)
            finite += isfinite(x_at(sr, i)) && isfinite(sr->y[i]);
        int have = 0, lx = 0, ly = 0;
        for (int i = 0; i < sr->n; i++) {
            double x = x_at(sr, i), y = sr->y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            int X = to_px(x, &ax, px0, pw), Y = py0 + ph - 1 - to_px(y, &ay, 0, ph);
            if (have)
                hsi_draw_line(im, lx, ly, X, Y, 2, col);
            if (finite <= MARKER_MAX_POINTS)
                hsi_draw_rect(im, X - 2, Y - 2, 5, 5, col);
            have = 1;
            lx = X;
            ly = Y;
        }
    }
    /* Legend: on white with a frame, inside the axes at the top right, or at the bottom right
     * when fewer data points fall there. */
    int lw = 0;
    for (int s = 0; s < p->n_series; s++) {
        int tw = hsi_text_width(p->series[s].name ? p->series[s].name : "", TS);
        lw = tw > lw ? tw : lw;
    }
    if (p->n_series > 0) {
        int row = GLYPH_H + 8, boxw = lw + 44, boxh = p->n_series * row + 8;
        int bx = px0 + pw - boxw - 8, by = py0 + 8, by_low = py0 + ph - boxh - 8;
        int hits_top = 0, hits_low = 0;
        for (int s = 0; s < p->n_series; s++)
            for (int i = 0; i < p->series[s].n; i++) {
                double x = x_at(&p->series[s], i), y = p->series[s].y[i];
                if (!isfinite(x) || !isfinite(y) || to_px(x, &ax, px0, pw) < bx)
                    continue;
                int Y = py0 + ph - 1 - to_px(y, &ay, 0, ph);
                hits_top += Y < by + boxh + 8;
                hits_low += Y >= by_low - 8;
            }
        if (hits_low < hits_top)
            by = by_low;
        hsi_draw_rect(im, bx, by, boxw, boxh, AXIS);
        hsi_draw_rect(im, bx + 1, by + 1, boxw - 2, boxh - 2, WHITE);
        for (int s = 0; s < p->n_series; s++) {
            int ry = by + 4 + s * row;
            hsi_draw_rect(im, bx + 8, ry + GLYPH_H / 2 - 1, 22, 3,
                          hsi_plot_colours[s % HSI_PLOT_COLOURS]);
            hsi_draw_text(im, bx + 36, ry, p->series[s].name ? p->series[s].name : "", TS, BLACK);
        }
    }
}

int hsi_plot_render(const hsi_panel *panels, int n_panels, int width, int panel_height,
                    hsi_image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (width <= 0)
        width = 800;
    if (panel_height <= 0)
        panel_height = 360;
    if (n_panels <= 0 || width < LEFT + 200 || panel_height < TOP + BOTTOM + 100 ||
        width > 16384 || (int64_t)panel_height * n_panels > 16384) {
        snprintf(err, errlen, "plot: bad layout (%d panels of %dx%d)", n_panels, width,
                 panel_height);
        return -1;
    }
    if (hsi_image_alloc(out, width, panel_height * n_panels, 255, 255, 255)) {
        snprintf(err, errlen, "plot: out of memory");
        return -1;
    }
    for (int i = 0; i < n_panels; i++)
        draw_panel(out, &panels[i], i * panel_height, width, panel_height);
    return 0;
}

int hsi_plot_write_png(const char *path, const hsi_panel *panels, int n_panels, int width,
                       int panel_height, char *err, size_t errlen)
{
    hsi_image im;
    char msg[256];
    if (hsi_plot_render(panels, n_panels, width, panel_height, &im, msg, sizeof msg)) {
        snprintf(err, errlen, "%s: %s", path, msg);
        return -1;
    }
    int rc = hsi_png_write(path, &im, err, errlen);
    hsi_image_free(&im);
    return rc;
}
