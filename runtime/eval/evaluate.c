/* evaluate.c — batched inference of a compiled net over a pixel list or a whole scene: patches,
 * forward in inference mode, argmax, cross-entropy and the confusion matrix; and the result
 * files of one domain (metrics, confusion.csv, maps). Batches are at most the model's batch
 * size, the last one partial. It never trains and never reads a split (the caller picks pixels).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_eval.h"
#include "hsi_infer.h"
#include "hsi_io.h"
#include "hsi_model.h"
#include "hsi_trainer.h"
#include "train/trainer_internal.h"

double hsi_xent_row(const float *z, int k, int y)
{
    double mx = z[0], s = 0;
    for (int c = 1; c < k; c++) mx = z[c] > mx ? z[c] : mx;
    for (int c = 0; c < k; c++) s += exp((double)z[c] - mx);
    return log(s) + mx - (double)z[y];
}

int hsi_argmax(const float *z, int k)
{
    int best = 0;
    for (int c = 1; c < k; c++)
        if (z[c] > z[best]) best = c;
    return best;
}

int hsi_evaluate(const hsi_netdesc *net, hsi_model *m, int domain, int batch, hsi_eval_req *r,
                 char *err, size_t errlen)
{
    int32_t *all = NULL;
    const int32_t *index = r->index;
    if (!index) {
        all = malloc(sizeof *all * (size_t)(r->n ? r->n : 1));
        if (!all) return tr_fail(err, errlen, "out of memory");
        for (int64_t i = 0; i < r->n; i++) all[i] = (int32_t)i;
        index = all;
    }
    hsi_evaliter it;
    if (hsi_evaliter_init(&it, r->cube, r->labels, index, r->n, batch, r->patch, r->pad, err,
                          errlen)) {
        free(all);
        return -1;
    }
    r->loss_sum = 0;
    r->n_labelled = r->correct = 0;
    int64_t done = 0;
    const hsi_batch *b;
    while ((b = hsi_evaliter_next(&it))) {
        net->forward(m, domain, b->x, b->n, 0, 0);
        const float *z = net->logits(m, domain);
        for (int i = 0; i < b->n; i++) {
            const float *zi = z + (int64_t)i * r->k;
            int best = hsi_argmax(zi, r->k);
            if (r->pred) r->pred[done + i] = best;
            int32_t y = r->labels ? b->y[i] : -1;
            if (y < 0 || y >= r->k) continue;
            r->n_labelled++;
            r->correct += best == y;
            r->loss_sum += hsi_xent_row(zi, r->k, y);
            if (r->cm) r->cm[(int64_t)y * r->k + best]++;
        }
        done += b->n;
    }
    hsi_evaliter_free(&it);
    free(all);
    return 0;
}

/* ---- result files of one domain ------------------------------------------------------------- */

int tr_confusion_csv(const char *path, const hsi_metrics *mt, const char *const *names, char *err,
                     size_t errlen)
{
    hsi_atomic_file af;
    if (hsi_atomic_open(&af, path, err, errlen)) return -1;
    fprintf(af.fp, "true\\predicted");   /* class names quoted: "Corn, mown" is one column */
    for (int p = 0; p < mt->k; p++) {
        fputc(',', af.fp);
        hsi_csv_field(af.fp, names[p]);
    }
    fprintf(af.fp, "\n");
    for (int t = 0; t < mt->k; t++) {
        hsi_csv_field(af.fp, names[t]);
        for (int p = 0; p < mt->k; p++) fprintf(af.fp, ",%lld", (long long)mt->cm[t * mt->k + p]);
        fprintf(af.fp, "\n");
    }
    return hsi_atomic_commit(&af, err, errlen);
}

/* ---- whole scenes: the compiled scene program (hsi_infer.h) ---------------------------------- */

typedef struct scene_sink {
    int w, k;
    int32_t *pred;            /* or NULL */
    const int32_t *labels;    /* remapped; with `use`: the pixels scored */
    const uint8_t *use;
    int64_t *cm;
    double loss;
    int64_t n, correct;
} scene_sink;

static int scene_take(void *ctx, int r0, int n, const float *z, char *err, size_t errlen)
{
    scene_sink *s = ctx;
    (void)err, (void)errlen;
    for (int64_t i = 0; i < (int64_t)n * s->w; i++) {
        const float *zi = z + i * s->k;
        int64_t px = (int64_t)r0 * s->w + i;
        int best = hsi_argmax(zi, s->k);
        if (s->pred) s->pred[px] = best;
        if (!s->use || !s->use[px]) continue;
        int32_t y = s->labels[px];
        if (y < 0 || y >= s->k) continue;
        s->n++;
        s->correct += best == y;
        s->loss += hsi_xent_row(zi, s->k, y);
        if (s->cm) s->cm[(int64_t)y * s->k + best]++;
    }
    return 0;
}

/* Every pixel of domain d's scene through the scene program: argmax into pred (may be NULL),
 * and the confusion matrix over the pixels with use[px] (may be NULL). */
static int scene_classify(const hsi_netdesc *net, hsi_model *m, hsi_backend be, const hsi_tr_data *D,
                          int d, int32_t *pred, const uint8_t *use, int64_t *cm,
                          const hsi_band *band, char *err, size_t errlen)
{
    const hsi_tr_domain *dm = &D->d[d];
    hsi_infer_opts o = {be, D->pad, 0, 0, 0, NULL};
    hsi_band whole = {0, dm->h, 0, dm->h};
    if (!band) band = &whole;
    /* The scene program needs the parameters, not the patch net's activations: an emitted
     * model's arena goes back to the system meanwhile (it comes back zeroed, as created). */
    if (net->destroy == hsi_model_destroy) hsi_model_trim(m);
    hsi_infer *inf = hsi_infer_create(net, m, d, band->e1 - band->e0, dm->w, &o, err, errlen);
    if (!inf) return -1;
    scene_sink sk = {dm->w, dm->k, pred, dm->y, use, cm, 0, 0, 0};
    int rc = hsi_infer_run_band(inf, band, hsi_cube_rows, (void *)&dm->cube, scene_take, &sk, err,
                                errlen);
    hsi_infer_free(inf);
    return rc;
}

/* The scene program pays off unless the pixels asked for are a small part of the scene. */
static int scene_pays(const hsi_netdesc *net, const hsi_tr_data *D, int d, int64_t n)
{
    if (!net->scene || D->d[d].label_patch) return 0;
    const hsi_scene_prog *sp = &net->scene[d];
    int64_t wp = D->d[d].w + D->patch - 1, hp = D->d[d].h + D->patch - 1;
    return (double)n * sp->flops_patch >= (double)hp * (double)wp * sp->flops_scene;
}

int tr_test_metrics(const hsi_netdesc *net, hsi_model *m, hsi_backend be, int batch,
                    const hsi_tr_data *D, int d, int32_t *pred, hsi_metrics *out, char *err,
                    size_t errlen)
{
    const hsi_tr_domain *dm = &D->d[d];
    int64_t *cm = calloc((size_t)dm->k * (size_t)dm->k, sizeof *cm);
    uint8_t *use = NULL;
    int rc;
    if (!cm) return tr_fail(err, errlen, "out of memory");
    if (pred || scene_pays(net, D, d, dm->n_test)) {
        size_t n = (size_t)dm->h * (size_t)dm->w;
        if (!(use = calloc(n ? n : 1, 1))) return free(cm), tr_fail(err, errlen, "out of memory");
        for (int64_t i = 0; i < dm->n_test; i++) use[dm->test[i]] = 1;
        int scene = net->scene && !dm->label_patch;   /* a per-pixel loss: the patch net */
        rc = scene ? scene_classify(net, m, be, D, d, pred, use, cm, NULL, err, errlen)
                   : tr_scene_predict(net, m, be, batch, D, d, pred, err, errlen);
        if (!scene && rc == 0)   /* a hand-written net or a per-pixel loss: score the predictions */
            for (size_t i = 0; i < n; i++)
                if (use[i] && dm->y[i] >= 0 && dm->y[i] < dm->k) cm[(int64_t)dm->y[i] * dm->k + pred[i]]++;
    } else {
        hsi_eval_req r = {&dm->cube, dm->y, dm->test, dm->n_test, D->patch, D->pad, dm->k, NULL, cm,
                          0, 0, 0};
        rc = hsi_evaluate(net, m, d, batch, &r, err, errlen);
    }
    if (rc == 0 && hsi_metrics_compute(cm, dm->k, out)) rc = tr_fail(err, errlen, "out of memory");
    free(cm);
    free(use);
    return rc;
}

int tr_scene_predict(const hsi_netdesc *net, hsi_model *m, hsi_backend be, int batch,
                     const hsi_tr_data *D, int d, int32_t *pred, char *err, size_t errlen)
{
    return tr_scene_predict_part(net, m, be, batch, D, d, 0, 1, pred, err, errlen);
}

int tr_scene_predict_part(const hsi_netdesc *net, hsi_model *m, hsi_backend be, int batch,
                          const hsi_tr_data *D, int d, int part, int parts, int32_t *pred,
                          char *err, size_t errlen)
{
    const hsi_tr_domain *dm = &D->d[d];
    hsi_band b = hsi_infer_band(dm->h, D->patch - 1, part, parts);
    if (net->scene && !dm->label_patch)
        return scene_classify(net, m, be, D, d, pred, NULL, NULL, &b, err, errlen);
    /* a net without a scene program, or whose logits are the centre of a per-pixel loss's map
     * (the patch net's forward gives them): the band's pixels patch by patch */
    int64_t n = (int64_t)(b.b1 - b.b0) * dm->w;
    int32_t *idx = malloc(sizeof *idx * (size_t)(n ? n : 1)), *out = pred + (size_t)b.b0 * dm->w;
    if (!idx) return tr_fail(err, errlen, "out of memory");
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)((int64_t)b.b0 * dm->w + i);
    hsi_eval_req r = {&dm->cube, NULL, parts > 1 ? idx : NULL, n, D->patch, D->pad, dm->k, out,
                      NULL, 0, 0, 0};
    int rc = hsi_evaluate(net, m, d, batch, &r, err, errlen);
    free(idx);
    return rc;
}

int tr_write_maps(const char *dir, const hsi_tr_domain *dm, const int32_t *pred, int test_only,
                  char *err, size_t errlen)
{
    hsi_map_style st = {0, dm->palette, dm->class_names, NULL};
    size_t n = (size_t)dm->h * (size_t)dm->w;
    uint8_t *test = NULL;
    if (test_only) {
        if (!(test = malloc(n))) return tr_fail(err, errlen, "out of memory");
        for (size_t i = 0; i < n; i++) test[i] = dm->split.mask[i] == HSI_MASK_TEST;
    }
    int rc = hsi_maps_write(dir, dm->y, pred, test, dm->h, dm->w, dm->k, &st, err, errlen);
    free(test);
    return rc;
}
