/* pca_data.c — preprocess.pca for the trainer's domains: fit (all pixels or the training
 * pixels) or take the PCA of a weights file (eval, predict), apply it after standardisation,
 * check it against the compiled net, and the tensors that carry it in weights files:
 *   pca.<domain>.mean [bands]   pca.<domain>.components [k, bands]   pca.<domain>.scale [k]
 * (y = scale * components (x - mean), x the standardised pixel). The math is prep/pca.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_io.h"
#include "trainer_internal.h"

int tr_pca_enabled(const hsi_experiment *x)
{
    return x->pca.components > 0 || x->pca.variance > 0;
}

static int tensor_name(char *buf, size_t n, const char *domain, const char *what)
{
    return snprintf(buf, n, "pca.%s.%s", domain, what) >= (int)n ? -1 : 0;
}

/* The PCA of domain dm in the weights file path: absent (0), loaded (1), or -1 on error. */
static int load_pca(const char *path, const char *domain, hsi_pca *p, char *err, size_t errlen)
{
    hsi_st_file *f = hsi_st_open(path, err, errlen);
    if (!f) return -1;
    char nm[3][300];
    if (tensor_name(nm[0], sizeof nm[0], domain, "mean") ||
        tensor_name(nm[1], sizeof nm[1], domain, "components") ||
        tensor_name(nm[2], sizeof nm[2], domain, "scale")) {
        hsi_st_close(f);
        return tr_fail(err, errlen, "domain name too long");
    }
    const hsi_st_info *m = hsi_st_find(f, nm[0]), *c = hsi_st_find(f, nm[1]);
    int rc = 0;
    memset(p, 0, sizeof *p);
    if (!m || !c) {
        hsi_st_close(f);
        return 0;
    }
    if (m->ndim != 1 || c->ndim != 2 || c->dims[1] != m->dims[0] || c->dims[0] < 1 ||
        c->dims[0] > m->dims[0]) {
        char a[64], b[64];
        rc = tr_fail(err, errlen, "%s: bad PCA of domain '%s': '%s' is %s and '%s' is %s (want "
                     "[bands] and [k, bands], k <= bands)", path, domain, nm[0],
                     hsi_st_shape_str(m->ndim, m->dims, a, sizeof a), nm[1],
                     hsi_st_shape_str(c->ndim, c->dims, b, sizeof b));
    } else {
        p->bands = (int)m->dims[0];
        p->k = (int)c->dims[0];
        p->mean = malloc(sizeof *p->mean * (size_t)p->bands);
        p->comp = malloc(sizeof *p->comp * (size_t)p->k * (size_t)p->bands);
        p->scale = malloc(sizeof *p->scale * (size_t)p->k);
        int64_t kd[1] = {p->k};
        if (!p->mean || !p->comp || !p->scale)
            rc = tr_fail(err, errlen, "out of memory");
        else if (hsi_st_read(f, nm[0], 1, m->dims, p->mean, err, errlen) ||
                 hsi_st_read(f, nm[1], 2, c->dims, p->comp, err, errlen) ||
                 hsi_st_read(f, nm[2], 1, kd, p->scale, err, errlen))
            rc = -1;
        for (int j = 0; rc == 0 && j < p->k; j++)   /* 1, or 1/sqrt(variance) when whitened */
            if (!(p->scale[j] > 0))
                rc = tr_fail(err, errlen, "%s: tensor '%s' holds %g at index %d: a PCA's scale is "
                             "1 or 1/sqrt(a variance), never <= 0; the file is damaged", path,
                             nm[2], (double)p->scale[j], j);
    }
    hsi_st_close(f);
    if (rc) hsi_pca_free(p);
    return rc ? -1 : 1;
}

/* The PCA of weights for domain, checked against the experiment and the net: 1 taken, 0 none
 * (and the experiment has none), -1 error (one without the other, another component count). */
static int take_pca(const char *weights, const char *domain, const hsi_experiment *x,
                    int net_bands, hsi_pca *p, char *err, size_t errlen)
{
    int got = load_pca(weights, domain, p, err, errlen);
    if (got < 0) return -1;
    if (!tr_pca_enabled(x)) {
        hsi_pca_free(p);
        return got ? tr_fail(err, errlen, "%s holds a PCA for domain '%s' (tensors pca.%s.*), but "
                             "the experiment has no preprocess.pca: give the experiment the "
                             "weights were trained with", weights, domain, domain) : 0;
    }
    if (!got)
        return tr_fail(err, errlen, "%s: no PCA for domain '%s' (tensors pca.%s.*), but the "
                       "experiment has preprocess.pca: weights of a run without PCA?", weights,
                       domain, domain);
    if (p->k != net_bands) {
        int rc = tr_fail(err, errlen, "domain '%s': %s's PCA keeps %d components, but the "
                         "trainer's net was compiled for %d bands", domain, weights, p->k,
                         net_bands);
        hsi_pca_free(p);
        return rc;
    }
    return 1;
}

int tr_pca_domain(hsi_tr_data *D, int d, const hsi_experiment *x, const uint8_t *train,
                  char *err, size_t errlen)
{
    hsi_tr_domain *dm = &D->d[d];
    hsi_pca p;
    const hsi_exp_pca *o = &x->pca;
    hsi_pca_free(&dm->pca);
    if (D->pca_from) {   /* eval, predict: the PCA the weights were trained with */
        int got = take_pca(D->pca_from, dm->name, x, dm->net_bands, &p, err, errlen);
        if (got <= 0) return got;
        if (p.bands != dm->cube.bands) {
            tr_fail(err, errlen, "%s: the PCA of domain '%s' takes %d bands, but the data has %d "
                    "(after bands.range / resample): these weights were trained on other bands",
                    D->pca_from, dm->name, p.bands, dm->cube.bands);
            hsi_pca_free(&p);
            return -1;
        }
    } else {
        if (!tr_pca_enabled(x)) return 0;
        hsi_pca_opts po = {o->components, o->variance, o->whiten};
        char e2[256];
        if (hsi_pca_fit(&dm->cube, o->fit == HSI_EXP_PCA_FIT_TRAIN ? train : NULL, &po, &p, e2,
                        sizeof e2))
            return tr_fail(err, errlen, "domain '%s': %s", dm->name, e2);
    }
    if (p.k != dm->net_bands) {   /* variance: the data changed since hsicc build? */
        int rc = tr_fail(err, errlen, "domain '%s': preprocess.pca.variance %g keeps %d "
                         "components, but the trainer's net was compiled for %d bands; rebuild "
                         "the trainer with hsicc build (it fits the same PCA)", dm->name,
                         o->variance, p.k, dm->net_bands);
        hsi_pca_free(&p);
        return rc;
    }
    if (hsi_pca_apply(&p, &dm->cube, err, errlen)) {
        hsi_pca_free(&p);
        return -1;
    }
    dm->pca = p;
    return 0;
}

int tr_pca_tensors(const hsi_tr_data *D, hsi_st_tensor **out, char **names)
{
    int n = 0;
    *out = NULL;
    *names = NULL;
    for (int d = 0; d < D->n; d++) n += D->d[d].pca.k > 0;
    if (!n) return 0;
    hsi_st_tensor *t = calloc((size_t)n * 3, sizeof *t);
    char *nm = malloc((size_t)n * 3 * 300);
    if (!t || !nm) {
        free(t);
        free(nm);
        return -1;
    }
    int j = 0;
    for (int d = 0; d < D->n; d++) {
        const hsi_tr_domain *dm = &D->d[d];
        const hsi_pca *p = &dm->pca;
        if (!p->k) continue;
        static const char *const what[3] = {"mean", "components", "scale"};
        const float *data[3] = {p->mean, p->comp, p->scale};
        for (int i = 0; i < 3; i++, j++) {
            char *s = nm + (size_t)j * 300;
            if (tensor_name(s, 300, dm->name, what[i])) s[0] = 0;
            t[j].name = s;
            t[j].data = data[i];
            t[j].ndim = i == 1 ? 2 : 1;
            t[j].dims[0] = i == 0 ? p->bands : p->k;
            t[j].dims[1] = p->bands;
        }
    }
    *out = t;
    *names = nm;
    return j;
}

int tr_pca_load_scene(const char *weights, const hsi_experiment *x, const char *domain,
                      int net_bands, hsi_pca *p, char *err, size_t errlen)
{
    return take_pca(weights, domain, x, net_bands, p, err, errlen) < 0 ? -1 : 0;
}
