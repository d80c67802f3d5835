/* hsi_eval.h — evaluation: confusion matrix and accuracy metrics, aggregation over runs,
 * classification maps and training-curve plots (PNG).
 *
 * Conventions:
 *  - Class labels are 0..k-1; -1 means "no class" (unlabeled pixel, or a pixel not shown).
 *  - Confusion matrix cm[t * k + p]: ROWS = TRUE class t, COLUMNS = PREDICTED class p.
 *    (sklearn's confusion_matrix(y_true, y_pred) has the same orientation. The original SSRN
 *    code called it with the arguments swapped and so reported precision as "class accuracy".)
 *  - Accuracies are fractions in [0, 1], not percent. NaN means "undefined" and is written as
 *    null in JSON.
 * Errors follow hsi_io.h: 0 / -1 with a message in err naming the file.
 */
#ifndef HSI_EVAL_H
#define HSI_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "hsi_io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- metrics.c ------------------------------------------------------------------------------ */

/* Adds n (truth, prediction) pairs to cm[k*k]. Pairs whose truth is outside 0..k-1 (e.g. -1,
 * unlabeled) are skipped; a prediction outside 0..k-1 is a caller bug and is skipped too.
 * Returns the number of pairs counted. */
int64_t hsi_confusion_add(int64_t *cm, int k, const int32_t *truth, const int32_t *pred, size_t n);

/* Metrics of one confusion matrix. Per class c (TP = cm[c][c]):
 *   support[c]   = row sum (test pixels of class c),  predicted[c] = column sum
 *   recall[c]    = TP / support[c]            ("class accuracy", producer's accuracy);
 *                  NaN when the class has no test pixel
 *   precision[c] = TP / predicted[c]          (user's accuracy); NaN when never predicted
 *   f1[c]        = 2 TP / (support + predicted); NaN only when both are 0
 *                  (so a class that is present but never predicted has recall 0, F1 0)
 *   OA    = trace / total
 *   AA    = mean of recall[c] over classes with support > 0; classes absent from the test set
 *           are EXCLUDED (n_present counts the others)
 *   kappa = (OA - pe) / (1 - pe), pe = sum_c support[c] * predicted[c] / total^2 (Cohen);
 *           NaN when pe == 1 (one class only) or total == 0. */
typedef struct hsi_metrics {
    int k;
    int64_t total, correct;
    int n_present;           /* classes with support > 0 */
    double oa, aa, kappa;
    int64_t *support, *predicted;     /* [k] */
    double *recall, *precision, *f1;  /* [k] */
    int64_t *cm;             /* [k*k] copy of the confusion matrix */
} hsi_metrics;

int hsi_metrics_compute(const int64_t *cm, int k, hsi_metrics *out);  /* -1 only on OOM */
void hsi_metrics_free(hsi_metrics *m);

/* Mean and SAMPLE standard deviation (divisor n-1) over runs; std is NaN with fewer than 2
 * values. Per-class values average over the runs where they are defined (not NaN); n says how
 * many. Every run must have the same k. */
typedef struct hsi_stat { double mean, std; int n; } hsi_stat;

typedef struct hsi_metrics_agg {
    int k, runs;
    hsi_stat oa, aa, kappa;
    hsi_stat *recall, *precision, *f1;   /* [k] */
} hsi_metrics_agg;

hsi_stat hsi_stat_of(const double *v, int n);   /* NaN entries skipped */
int hsi_metrics_aggregate(const hsi_metrics *runs, int n, hsi_metrics_agg *out);
void hsi_metrics_agg_free(hsi_metrics_agg *a);

/* JSON: one object value (see OUTPUTS.md for the fields). names: k class names, or NULL. */
void hsi_metrics_json(hsi_json *j, const hsi_metrics *m, const char *const *names);
void hsi_metrics_agg_json(hsi_json *j, const hsi_metrics_agg *a, const char *const *names);

/* ---- maps.c --------------------------------------------------------------------------------- */

/* How a label map is drawn: each pixel becomes a scale x scale block of its class colour (-1:
 * black), with a title above and a legend (swatch + "index name" for every class) on the right. */
typedef struct hsi_map_style {
    int scale;                       /* 0 = automatic: largest with the longer side <= 512 px, >= 1 */
    const uint8_t *palette;          /* k * 3 bytes RGB, or NULL = hsi_default_palette */
    const char *const *class_names;  /* k names, or NULL = "class 0", ... */
    const char *title;               /* drawn above the map, or NULL */
} hsi_map_style;

#define HSI_PALETTE_MAX 32
/* 32 distinct colours (none black, so -1 stays distinguishable): palette[3*c + 0..2]. */
extern const uint8_t hsi_default_palette[HSI_PALETTE_MAX * 3];

/* labels[y * w + x] in -1..k-1. The image is allocated; free it with hsi_image_free. k may exceed
 * HSI_PALETTE_MAX only with a palette. */
int hsi_map_render(const int32_t *labels, int h, int w, int k, const hsi_map_style *st,
                   hsi_image *out, char *err, size_t errlen);
int hsi_map_write_png(const char *path, const int32_t *labels, int h, int w, int k,
                      const hsi_map_style *st, char *err, size_t errlen);

/* The three maps of a run into dir: map_gt.png (truth), map_test.png (prediction on the test
 * pixels only: pred where test_mask[i] != 0, else -1) and map_pred.png (prediction for the
 * whole scene). pred: h*w labels (-1 where not predicted); test_mask: h*w, or NULL to skip
 * map_test.png; gt: h*w labels, or NULL to skip map_gt.png. st->title is ignored. */
int hsi_maps_write(const char *dir, const int32_t *gt, const int32_t *pred,
                   const uint8_t *test_mask, int h, int w, int k, const hsi_map_style *st,
                   char *err, size_t errlen);

/* ---- plots.c -------------------------------------------------------------------------------- */

/* One line: y[i] at x[i] (x NULL: x = i + 1). NaN points are skipped: the line joins the
 * finite ones (a validation column logged every few epochs draws as one line). */
typedef struct hsi_series {
    const char *name;
    const double *x, *y;
    int n;
} hsi_series;

/* One panel (axes box) with its title, axis labels, series and legend. */
typedef struct hsi_panel {
    const char *title, *xlabel, *ylabel;
    const hsi_series *series;
    int n_series;
} hsi_panel;

/* Series s is drawn in hsi_plot_colours[s % HSI_PLOT_COLOURS]. */
#define HSI_PLOT_COLOURS 8
extern const uint8_t hsi_plot_colours[HSI_PLOT_COLOURS][3];

/* Panels stacked vertically, each width x panel_height pixels (0: 800 x 360). Deterministic. */
int hsi_plot_render(const hsi_panel *panels, int n_panels, int width, int panel_height,
                    hsi_image *out, char *err, size_t errlen);
int hsi_plot_write_png(const char *path, const hsi_panel *panels, int n_panels, int width,
                       int panel_height, char *err, size_t errlen);

/* ---- font.c: drawing on an hsi_image (used by maps and plots) ------------------------------- */

#define HSI_FONT_W 5   /* glyph cell: 5 x 7 pixels, advance 6, line height 9 (times scale); */
#define HSI_FONT_H 7   /* the descenders of g p q y reach 2 rows below the cell */

void hsi_draw_rect(hsi_image *im, int x, int y, int w, int h, const uint8_t rgb[3]);  /* clipped */
/* ASCII text with the top-left corner at (x, y); glyph pixels are scale x scale; characters
 * outside 32..126 draw as '?'. Returns the width in pixels. */
int hsi_draw_text(hsi_image *im, int x, int y, const char *s, int scale, const uint8_t rgb[3]);
int hsi_text_width(const char *s, int scale);
/* A line of the given thickness (clipped). */
void hsi_draw_line(hsi_image *im, int x0, int y0, int x1, int y1, int thick, const uint8_t rgb[3]);

#ifdef __cplusplus
}
#endif
#endif /* HSI_EVAL_H */
