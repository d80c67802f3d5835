/* metrics.c — confusion matrix (rows = true class, columns = predicted), OA, AA (mean per-class
 * recall over the classes present in the test set), Cohen's kappa, per-class recall, precision
 * and F1; mean and sample std over runs; their JSON form for metrics.json.
 * Not here: weighting, micro/macro variants beyond these, or confidence intervals.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_eval.h"

int64_t hsi_confusion_add(int64_t *cm, int k, const int32_t *truth, const int32_t *pred, size_t n)
{
    int64_t counted = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t t = truth[i], p = pred[i];
        if (t < 0 || t >= k || p < 0 || p >= k)
            continue;
        cm[(int64_t)t * k + p]++;
        counted++;
    }
    return counted;
}

void hsi_metrics_free(hsi_metrics *m)
{
    free(m->support);
    free(m->predicted);
    free(m->recall);
    free(m->precision);
    free(m->f1);
    free(m->cm);
    memset(m, 0, sizeof *m);
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

int hsi_metrics_compute(const int64_t *cm, int k, hsi_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->k = k;
    m->support = calloc((size_t)k, sizeof *m->support);
    m->predicted = calloc((size_t)k, sizeof *m->predicted);
    m->recall = calloc((size_t)k, sizeof *m->recall);
    m->precision = calloc((size_t)k, sizeof *m->precision);
    m->f1 = calloc((size_t)k, sizeof *m->f1);
    m->cm = malloc((size_t)k * (size_t)k * sizeof *m->cm);
    if (!m->support || !m->predicted || !m->recall || !m->precision || !m->f1 || !m->cm) {
        hsi_metrics_free(m);
        return -1;
    }
    memcpy(m->cm, cm, (size_t)k * (size_t)k * sizeof *cm);
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            int64_t v = cm[(int64_t)t * k + p];
            m->support[t] += v;
            m->predicted[p] += v;
            m->total += v;
            if (t == p)
                m->correct += v;
        }
    double aa_sum = 0, pe_num = 0;
    for (int c = 0; c < k; c++) {
        double tp = (double)cm[(int64_t)c * k + c];
        m->recall[c] = ratio(tp, (double)m->support[c]);
        m->precision[c] = ratio(tp, (double)m->predicted[c]);
        m->f1[c] = ratio(2 * tp, (double)(m->support[c] + m->predicted[c]));
        if (m->support[c] > 0) {
            m->n_present++;
            aa_sum += m->recall[c];
        }
        pe_num += (double)m->support[c] * (double)m->predicted[c];
    }
    double n = (double)m->total;
    m->oa = ratio((double)m->correct, n);
    m->aa = ratio(aa_sum, m->n_present);
    double pe = m->total > 0 ? pe_num / (n * n) : NAN;
    m->kappa = ratio(m->oa - pe, 1 - pe);
    return 0;
}

hsi_stat hsi_stat_of(const double *v, int n)
{
    hsi_stat s = { NAN, NAN, 0 };
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) {
            sum += v[i];
            s.n++;
        }
    if (s.n == 0)
        return s;
    s.mean = sum / s.n;
    if (s.n < 2)
        return s;
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            ss += (v[i] - s.mean) * (v[i] - s.mean);
    s.std = sqrt(ss / (s.n - 1));
    return s;
}

void hsi_metrics_agg_free(hsi_metrics_agg *a)
{
    free(a->recall);
    free(a->precision);
    free(a->f1);
    memset(a, 0, sizeof *a);
}

/* The statistic of field `off` (a double* array inside hsi_metrics) for class c over runs. */
static hsi_stat class_stat(const hsi_metrics *runs, int n, size_t off, int c, double *tmp)
{
    for (int r = 0; r < n; r++) {
        double *const *arr = (double *const *)((const char *)&runs[r] + off);
        tmp[r] = (*arr)[c];
    }
    return hsi_stat_of(tmp, n);
}

int hsi_metrics_aggregate(const hsi_metrics *runs, int n, hsi_metrics_agg *a)
{
    memset(a, 0, sizeof *a);
    if (n <= 0)
        return -1;
    int k = runs[0].k;
    for (int r = 1; r < n; r++)
        if (runs[r].k != k)
            return -1;
    a->k = k;
    a->runs = n;
    double *tmp = malloc((size_t)n * sizeof *tmp);
    a->recall = calloc((size_t)k, sizeof *a->recall);
    a->precision = calloc((size_t)k, sizeof *a->precision);
    a->f1 = calloc((size_t)k, sizeof *a->f1);
    if (!tmp || !a->recall || !a->precision || !a->f1) {
        free(tmp);
        hsi_metrics_agg_free(a);
        return -1;
    }
    for (int r = 0; r < n; r++) tmp[r] = runs[r].oa;
    a->oa = hsi_stat_of(tmp, n);
    for (int r = 0; r < n; r++) tmp[r] = runs[r].aa;
    a->aa = hsi_stat_of(tmp, n);
    for (int r = 0; r < n; r++) tmp[r] = runs[r].kappa;
    a->kappa = hsi_stat_of(tmp, n);
    for (int c = 0; c < k; c++) {
        a->recall[c] = class_stat(runs, n, offsetof(hsi_metrics, recall), c, tmp);
        a->precision[c] = class_stat(runs, n, offsetof(hsi_metrics, precision), c, tmp);
        a->f1[c] = class_stat(runs, n, offsetof(hsi_metrics, f1), c, tmp);
    }
    free(tmp);
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------------- */

/* Opens a class's object with its index and name. */
static void class_begin(hsi_json *j, const char *const *names, int c)
{
    hsi_json_begin_object(j);
    hsi_json_key(j, "index"); hsi_json_int(j, c);
    hsi_json_key(j, "name");
    if (names) {
        hsi_json_string(j, names[c]);
    } else {
        char b[32];
        snprintf(b, sizeof b, "class %d", c);
        hsi_json_string(j, b);
    }
}

void hsi_metrics_json(hsi_json *j, const hsi_metrics *m, const char *const *names)
{
    hsi_json_begin_object(j);
    hsi_json_key(j, "oa"); hsi_json_double(j, m->oa);
    hsi_json_key(j, "aa"); hsi_json_double(j, m->aa);
    hsi_json_key(j, "kappa"); hsi_json_double(j, m->kappa);
    hsi_json_key(j, "test_pixels"); hsi_json_int(j, m->total);
    hsi_json_key(j, "correct"); hsi_json_int(j, m->correct);
    hsi_json_key(j, "classes_in_test"); hsi_json_int(j, m->n_present);
    hsi_json_key(j, "classes");
    hsi_json_begin_array(j);
    for (int c = 0; c < m->k; c++) {
        class_begin(j, names, c);
        hsi_json_key(j, "support"); hsi_json_int(j, m->support[c]);
        hsi_json_key(j, "predicted"); hsi_json_int(j, m->predicted[c]);
        hsi_json_key(j, "recall"); hsi_json_double(j, m->recall[c]);
        hsi_json_key(j, "precision"); hsi_json_double(j, m->precision[c]);
        hsi_json_key(j, "f1"); hsi_json_double(j, m->f1[c]);
        hsi_json_end_object(j);
    }
    hsi_json_end_array(j);
    hsi_json_key(j, "confusion");
    hsi_json_begin_array(j);
    for (int t = 0; t < m->k; t++) {
        hsi_json_begin_array(j);
        for (int p = 0; p < m->k; p++)
            hsi_json_int(j, m->cm[(int64_t)t * m->k + p]);
        hsi_json_end_array(j);
    }
    hsi_json_end_array(j);
    hsi_json_end_object(j);
}

static void stat_json(hsi_json *j, const char *key, hsi_stat s)
{
    hsi_json_key(j, key);
    hsi_json_begin_object(j);
    hsi_json_key(j, "mean"); hsi_json_double(j, s.mean);
    hsi_json_key(j, "std"); hsi_json_double(j, s.std);
    hsi_json_key(j, "n"); hsi_json_int(j, s.n);
    hsi_json_end_object(j);
}

void hsi_metrics_agg_json(hsi_json *j, const hsi_metrics_agg *a, const char *const *names)
{
    hsi_json_begin_object(j);
    hsi_json_key(j, "runs"); hsi_json_int(j, a->runs);
    hsi_json_key(j, "std_kind"); hsi_json_string(j, "sample (n-1)");
    stat_json(j, "oa", a->oa);
    stat_json(j, "aa", a->aa);
    stat_json(j, "kappa", a->kappa);
    hsi_json_key(j, "classes");
    hsi_json_begin_array(j);
    for (int c = 0; c < a->k; c++) {
        class_begin(j, names, c);
        stat_json(j, "recall", a->recall[c]);
        stat_json(j, "precision", a->precision[c]);
        stat_json(j, "f1", a->f1[c]);
        hsi_json_end_object(j);
    }
    hsi_json_end_array(j);
    hsi_json_end_object(j);
}
