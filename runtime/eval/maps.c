/* maps.c — classification maps as PNG: each pixel of an h x w label image becomes a
 * scale x scale block of its class colour (-1 = black), with a title above and a legend (swatch
 * and class name for every class) to the right; hsi_maps_write makes a run's three maps.
 * Not here: georeferencing, overlays on the image bands, or per-pixel confidence.
 */
#include <stdlib.h>
#include <string.h>

#include "hsi_eval.h"

/* Hues spread by the golden ratio at four saturation/value levels; no colour is black. */
const uint8_t hsi_default_palette[HSI_PALETTE_MAX * 3] = {
    242,  48,  48,  48, 105, 242, 162, 242,  48, 242,  48, 218,
     41, 204, 177, 204, 129,  41,  81,  41, 204,  48, 204,  41,
    242, 121, 162, 121, 197, 242, 232, 242, 121, 217, 121, 242,
    102, 204, 153, 204, 123, 102, 102, 111, 204, 140, 204, 102,
    242,  12, 166,  12, 233, 242, 242, 184,  12, 117,  12, 242,
     10, 204,  42, 204,  10,  35,  10,  92, 204, 148, 204,  10,
    178, 116, 178, 157, 242, 217, 178, 142, 116, 168, 157, 242,
    127, 178, 116, 242, 157, 197, 116, 163, 178, 242, 238, 157,
};

enum {
    MARGIN = 12,
    TEXT_SCALE = 2,                              /* 10 x 14 px glyphs */
    LINE_H = (HSI_FONT_H + 2) * TEXT_SCALE,      /* 18 px */
    SWATCH = HSI_FONT_H * TEXT_SCALE + 2,        /* 16 px */
    ROW_H = SWATCH + 6,
    AUTO_SIDE = 512,                             /* automatic scale: longer side up to this */
    MAX_SIDE = 16384
};

static const uint8_t WHITE[3] = { 255, 255, 255 }, GREY[3] = { 128, 128, 128 };

static void name_of(const hsi_map_style *st, int c, char *buf, size_t n)
{
    if (st && st->class_names && st->class_names[c])
        snprintf(buf, n, "%s", st->class_names[c]);
    else
        snprintf(buf, n, "class %d", c);
}

int hsi_map_render(const int32_t *labels, int h, int w, int k, const hsi_map_style *st,
                   hsi_image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const uint8_t *pal = st && st->palette ? st->palette : hsi_default_palette;
    if (h <= 0 || w <= 0 || k <= 0 || (pal == hsi_default_palette && k > HSI_PALETTE_MAX)) {
        snprintf(err, errlen, "map: bad size %dx%d or %d classes (more than %d need a palette)",
                 h, w, k, HSI_PALETTE_MAX);
        return -1;
    }
    int side = h > w ? h : w;
    int scale = st && st->scale > 0 ? st->scale : (AUTO_SIDE / side > 1 ? AUTO_SIDE / side : 1);
    /* The automatic scale of a scene longer than MAX_SIDE (a flight line of 20000 rows) draws
     * every step-th pixel, the smallest step that fits: the PNG is a preview (the GIS outputs
     * keep every pixel), and a valid scene must not fail at its preview. */
    int step = st && st->scale > 0 ? 1 : (side - 1) / MAX_SIDE + 1;
    int dh = (h - 1) / step + 1, dw = (w - 1) / step + 1;   /* drawn pixels */
    if ((int64_t)(dh > dw ? dh : dw) * scale > MAX_SIDE) {
        snprintf(err, errlen, "map: %dx%d at scale %d is larger than %d pixels", h, w, scale,
                 MAX_SIDE);
        return -1;
    }
    char name[128];
    int legend_w = 0;
    for (int c = 0; c < k; c++) {
        name_of(st, c, name, sizeof name);
        int tw = hsi_text_width(name, TEXT_SCALE);
        legend_w = tw > legend_w ? tw : legend_w;
    }
    legend_w += SWATCH + 8;
    const char *title = st ? st->title : NULL;
    int top = MARGIN + (title ? LINE_H + 6 : 0);
    int map_w = dw * scale, map_h = dh * scale;
    int legend_h = k * ROW_H;
    int img_w = MARGIN + map_w + 2 * MARGIN + legend_w + MARGIN;
    int title_w = title ? hsi_text_width(title, TEXT_SCALE) + 2 * MARGIN : 0;
    img_w = title_w > img_w ? title_w : img_w;
    int img_h = top + (map_h > legend_h ? map_h : legend_h) + MARGIN;
    if (hsi_image_alloc(out, img_w, img_h, 0, 0, 0)) {
        snprintf(err, errlen, "map: out of memory (%dx%d image)", img_w, img_h);
        return -1;
    }
    if (title)
        hsi_draw_text(out, MARGIN, MARGIN, title, TEXT_SCALE, WHITE);
    /* A grey frame just outside the map shows its extent on the black background. */
    hsi_draw_rect(out, MARGIN - 1, top - 1, map_w + 2, map_h + 2, GREY);
    hsi_draw_rect(out, MARGIN, top, map_w, map_h, (const uint8_t[3]){ 0, 0, 0 });
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            int32_t l = labels[(size_t)y * (size_t)step * (size_t)w + (size_t)x * (size_t)step];
            if (l >= 0 && l < k)
                hsi_draw_rect(out, MARGIN + x * scale, top + y * scale, scale, scale, pal + 3 * l);
        }
    int lx = MARGIN + map_w + 2 * MARGIN;
    for (int c = 0; c < k; c++) {
        int ly = top + c * ROW_H;
        hsi_draw_rect(out, lx, ly, SWATCH, SWATCH, pal + 3 * c);
        name_of(st, c, name, sizeof name);
        hsi_draw_text(out, lx + SWATCH + 8, ly + 1, name, TEXT_SCALE, WHITE);
    }
    return 0;
}

int hsi_map_write_png(const char *path, const int32_t *labels, int h, int w, int k,
                      const hsi_map_style *st, char *err, size_t errlen)
{
    hsi_image im;
    char msg[256];
    if (hsi_map_render(labels, h, w, k, st, &im, msg, sizeof msg)) {
        snprintf(err, errlen, "%s: %s", path, msg);
        return -1;
    }
    int rc = hsi_png_write(path, &im, err, errlen);
    hsi_image_free(&im);
    return rc;
}

static int write_one(const char *dir, const char *file, const char *title, const int32_t *labels,
                     int h, int w, int k, const hsi_map_style *st, char *err, size_t errlen)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *path = malloc(n);
    if (!path) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return -1;
    }
    snprintf(path, n, "%s/%s", dir, file);
    hsi_map_style s = st ? *st : (hsi_map_style){ 0 };
    s.title = title;
    int rc = hsi_map_write_png(path, labels, h, w, k, &s, err, errlen);
    free(path);
    return rc;
}

int hsi_maps_write(const char *dir, const int32_t *gt, const int32_t *pred,
                   const uint8_t *test_mask, int h, int w, int k, const hsi_map_style *st,
                   char *err, size_t errlen)
{
    if (gt && write_one(dir, "map_gt.png", "Ground truth", gt, h, w, k, st, err, errlen))
        return -1;
    if (write_one(dir, "map_pred.png", "Prediction, whole scene", pred, h, w, k, st, err, errlen))
        return -1;
    if (!test_mask)
        return 0;
    size_t n = (size_t)h * (size_t)w;
    int32_t *test = malloc(n * sizeof *test);
    if (!test) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        test[i] = test_mask[i] ? pred[i] : -1;
    int rc = write_one(dir, "map_test.png", "Prediction, test pixels", test, h, w, k, st, err,
                       errlen);
    free(test);
    return rc;
}
