/* test_metrics.c — OA, AA, kappa, recall, precision, F1 on hand-made confusion matrices whose
 * expected values are worked out by hand below; aggregation (mean, sample std); the JSON form.
 */
#include <stdlib.h>

#include "check.h"
#include "hsi_eval.h"

/* k = 5, rows = truth, cols = prediction:
 *            p0 p1 p2 p3 p4 | support
 *   t0     [  5  1  0  0  0 ]   6
 *   t1     [  2  3  0  1  0 ]   6
 *   t2     [  1  2  0  0  0 ]   3   <- class 2 is never predicted
 *   t3     [  0  0  0  0  0 ]   0   <- class 3 is absent from the truth but predicted once
 *   t4     [  0  0  0  0  0 ]   0   <- class 4 neither in truth nor predicted
 *   predicted 8  6  0  1  0        total 15, correct 5 + 3 = 8
 * OA = 8/15.
 * recall = 5/6, 3/6, 0/3, NaN, NaN; AA = (5/6 + 1/2 + 0) / 3 = (4/3) / 3 = 4/9.
 * precision = 5/8, 3/6, NaN (never predicted), 0/1, NaN.
 * F1 = 2TP/(support+predicted) = 10/14, 6/12, 0/3, 0/1, NaN (0/0).
 * pe = (6*8 + 6*6 + 3*0 + 0*1 + 0*0) / 15^2 = 84/225.
 * kappa = (OA - pe) / (1 - pe) = (120/225 - 84/225) / (141/225) = 36/141 = 12/47. */
static void test_hand_matrix(void)
{
    const int64_t cm[25] = {
        5, 1, 0, 0, 0,
        2, 3, 0, 1, 0,
        1, 2, 0, 0, 0,
        0, 0, 0, 0, 0,
        0, 0, 0, 0, 0,
    };
    hsi_metrics m;
    CHECK(hsi_metrics_compute(cm, 5, &m) == 0);
    CHECK(m.total == 15 && m.correct == 8 && m.n_present == 3);
    CHECK_NEAR(m.oa, 8.0 / 15, 1e-15);
    CHECK_NEAR(m.aa, 4.0 / 9, 1e-15);
    CHECK_NEAR(m.kappa, 12.0 / 47, 1e-15);
    const double recall[3] = { 5.0 / 6, 0.5, 0 };
    for (int c = 0; c < 3; c++)
        CHECK_NEAR(m.recall[c], recall[c], 1e-15);
    CHECK(isnan(m.recall[3]) && isnan(m.recall[4]));
    CHECK_NEAR(m.precision[0], 5.0 / 8, 1e-15);
    CHECK_NEAR(m.precision[1], 0.5, 1e-15);
    CHECK(isnan(m.precision[2]));
    CHECK_NEAR(m.precision[3], 0, 0);
    CHECK(isnan(m.precision[4]));
    CHECK_NEAR(m.f1[0], 10.0 / 14, 1e-15);
    CHECK_NEAR(m.f1[1], 0.5, 1e-15);
    CHECK_NEAR(m.f1[2], 0, 0);
    CHECK_NEAR(m.f1[3], 0, 0);
    CHECK(isnan(m.f1[4]));
    CHECK(m.support[2] == 3 && m.predicted[0] == 8 && m.predicted[3] == 1);

    /* JSON: absent classes are null, the matrix is rows = truth. */
    hsi_json j;
    hsi_json_init(&j);
    const char *names[5] = { "a", "b", "c", "d", "e" };
    hsi_metrics_json(&j, &m, names);
    char err[256];
    hsi_jval *v = hsi_json_parse(j.buf, j.len, err, sizeof err);
    CHECK(v != NULL);
    if (v) {
        CHECK(hsi_jval_get(v, "aa")->num == m.aa);   /* %.17g round-trips exactly */
        CHECK(hsi_jval_get(v, "kappa")->num == m.kappa);
        const hsi_jval *cls = hsi_jval_get(v, "classes");
        CHECK(cls && cls->n == 5);
        CHECK(hsi_jval_get(&cls->items[3], "recall")->type == HSI_JNULL);
        CHECK(strcmp(hsi_jval_get(&cls->items[2], "name")->str, "c") == 0);
        const hsi_jval *conf = hsi_jval_get(v, "confusion");
        CHECK(conf && conf->n == 5 && conf->items[1].items[3].i == 1);
        hsi_jval_free(v);
    }
    hsi_json_free(&j);
    hsi_metrics_free(&m);
}

/* Perfect two-class result: OA = AA = kappa = 1. One class only: pe = 1, kappa undefined. */
static void test_edges(void)
{
    const int64_t perfect[4] = { 3, 0, 0, 2 };
    hsi_metrics m;
    CHECK(hsi_metrics_compute(perfect, 2, &m) == 0);
    CHECK_NEAR(m.oa, 1, 0);
    CHECK_NEAR(m.aa, 1, 0);
    CHECK_NEAR(m.kappa, 1, 1e-15);
    hsi_metrics_free(&m);

    const int64_t one[1] = { 4 };
    CHECK(hsi_metrics_compute(one, 1, &m) == 0);
    CHECK_NEAR(m.oa, 1, 0);
    CHECK(isnan(m.kappa));
    hsi_metrics_free(&m);

    const int64_t empty[4] = { 0, 0, 0, 0 };
    CHECK(hsi_metrics_compute(empty, 2, &m) == 0);
    CHECK(isnan(m.oa) && isnan(m.aa) && isnan(m.kappa));
    hsi_metrics_free(&m);

    /* Kappa of a chance-level 2x2: [[2,2],[2,2]] -> OA 1/2, pe = (4*4+4*4)/64 = 1/2, kappa 0. */
    const int64_t chance[4] = { 2, 2, 2, 2 };
    CHECK(hsi_metrics_compute(chance, 2, &m) == 0);
    CHECK_NEAR(m.kappa, 0, 1e-15);
    hsi_metrics_free(&m);
}

/* Pairs with truth -1 (unlabeled) or out of range are skipped; rows are the truth. */
static void test_confusion_add(void)
{
    int64_t cm[9] = { 0 };
    const int32_t truth[7] = { 0, 1, 2, -1, 2, 5, 1 };
    const int32_t pred[7] = { 0, 2, 2, 1, 0, 1, 2 };
    CHECK(hsi_confusion_add(cm, 3, truth, pred, 7) == 5);
    const int64_t want[9] = { 1, 0, 0, 0, 0, 2, 1, 0, 1 };
    for (int i = 0; i < 9; i++)
        CHECK(cm[i] == want[i]);
}

/* Three runs, k = 2:
 *   A [[9,1],[0,0]]  OA 9/10,  recall 0.9, NaN (class 1 absent), AA 0.9
 *   B [[8,2],[1,1]]  OA 9/12,  recall 0.8, 0.5,                   AA 0.65
 *   C [[7,3],[1,3]]  OA 10/14, recall 0.7, 0.75,                  AA 0.725
 * recall0: mean 0.8, sample std sqrt((0.01 + 0 + 0.01) / 2) = 0.1, n 3
 * recall1: mean 0.625, sample std sqrt(2 * 0.125^2 / 1) = 0.125 * sqrt(2), n 2
 * AA: mean (0.9 + 0.65 + 0.725) / 3 = 0.758333..., deviations 0.141667, -0.108333, -0.033333 */
static void test_aggregate(void)
{
    const int64_t a[4] = { 9, 1, 0, 0 }, b[4] = { 8, 2, 1, 1 }, c[4] = { 7, 3, 1, 3 };
    hsi_metrics runs[3];
    CHECK(hsi_metrics_compute(a, 2, &runs[0]) == 0);
    CHECK(hsi_metrics_compute(b, 2, &runs[1]) == 0);
    CHECK(hsi_metrics_compute(c, 2, &runs[2]) == 0);
    hsi_metrics_agg g;
    CHECK(hsi_metrics_aggregate(runs, 3, &g) == 0);
    CHECK(g.runs == 3);
    CHECK_NEAR(g.recall[0].mean, 0.8, 1e-15);
    CHECK_NEAR(g.recall[0].std, 0.1, 1e-15);
    CHECK(g.recall[0].n == 3);
    CHECK_NEAR(g.recall[1].mean, 0.625, 1e-15);
    CHECK_NEAR(g.recall[1].std, 0.125 * sqrt(2.0), 1e-15);
    CHECK(g.recall[1].n == 2);
    double aa_mean = (0.9 + 0.65 + 0.725) / 3;
    double d0 = 0.9 - aa_mean, d1 = 0.65 - aa_mean, d2 = 0.725 - aa_mean;
    CHECK_NEAR(g.aa.mean, aa_mean, 1e-15);
    CHECK_NEAR(g.aa.std, sqrt((d0 * d0 + d1 * d1 + d2 * d2) / 2), 1e-15);
    CHECK_NEAR(g.oa.mean, (0.9 + 0.75 + 10.0 / 14) / 3, 1e-15);

    hsi_json j;
    hsi_json_init(&j);
    hsi_metrics_agg_json(&j, &g, NULL);
    char err[128];
    hsi_jval *v = hsi_json_parse(j.buf, j.len, err, sizeof err);
    CHECK(v && hsi_jval_get(hsi_jval_get(v, "aa"), "std")->num == g.aa.std);
    hsi_jval_free(v);
    hsi_json_free(&j);
    hsi_metrics_agg_free(&g);

    /* One run: the sample std is undefined. */
    CHECK(hsi_metrics_aggregate(runs, 1, &g) == 0);
    CHECK(isnan(g.oa.std) && g.oa.mean == 0.9);
    hsi_metrics_agg_free(&g);
    for (int r = 0; r < 3; r++)
        hsi_metrics_free(&runs[r]);
}

int main(void)
{
    test_hand_matrix();
    test_edges();
    test_confusion_add();
    test_aggregate();
    CHECK_DONE();
}
