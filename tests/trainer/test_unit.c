/* test_unit.c — trainer pieces checked against independent oracles with the tiny nets:
 * a shared parameter's gradient is the sum of the domains' gradients (and matches finite
 * differences of the summed loss); parameter ownership by probing; per-phase lr scales (1/N for
 * shared, 0 for inactive / frozen) as seen in one real solver update; fine-tune loading of
 * exactly the matched tensors, with its load map; the shape-mismatch message; the model's
 * input staging and gradient zeroing on sizes they split over OpenMP's threads; a model of
 * batch 0 without gradients.
 * usage: test_trainer_unit TMPDIR
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hsi_init.h"
#include "hsi_io.h"
#include "hsi_model.h"
#include "hsi_trainer.h"
#include "tiny_net.h"

static int failures;
#define CHECK(c, ...)                                                                          \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            failures++;                                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                        \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
        }                                                                                      \
    } while (0)

static const char *TMP;
enum { B = 8 };

static hsi_model *make(const hsi_netdesc *net, hsi_param **ps, int *np)
{
    char err[256];
    hsi_model_opts o = {B, HSI_BACKEND_REF, 7};
    hsi_model *m = net->create(&o, err, sizeof err);
    if (!m) {
        printf("create: %s\n", err);
        exit(1);
    }
    *np = net->params(m, ps);
    hsi_init_params(*ps, *np, 3);
    return m;
}

static hsi_param *find(hsi_param *ps, int np, const char *name)
{
    for (int i = 0; i < np; i++)
        if (!strcmp(ps[i].name, name)) return &ps[i];
    printf("no param %s\n", name);
    exit(1);
}

static void batch(const hsi_domain *d, float *x, int32_t *y, unsigned seed)
{
    int64_t per = (int64_t)d->bands * d->patch * d->patch;
    for (int64_t i = 0; i < B * per; i++) x[i] = (float)((i * 37 + seed * 11) % 23) / 23.0f - 0.5f;
    for (int i = 0; i < B; i++) y[i] = (int32_t)((i + seed) % (unsigned)d->classes);
}

/* Loss of both domains at the current values, same batches and dropout counter. */
static double both_losses(hsi_model *m, const float *xa, const int32_t *ya, const float *xb,
                          const int32_t *yb)
{
    const hsi_netdesc *n = &tiny2_net;
    double l = 0;
    n->zero_grad(m);
    n->forward(m, 0, xa, B, 1, 5);
    l += n->loss_backward(m, 0, ya, B, 1);
    n->forward(m, 1, xb, B, 1, 5);
    l += n->loss_backward(m, 1, yb, B, 1);
    return l;
}

static void test_shared_grad(void)
{
    const hsi_netdesc *n = &tiny2_net;
    hsi_param *ps;
    int np;
    hsi_model *m = make(n, &ps, &np);
    float xa[B * 54], xb[B * 36];
    int32_t ya[B], yb[B];
    batch(&n->domains[0], xa, ya, 1);
    batch(&n->domains[1], xb, yb, 2);
    hsi_param *t = find(ps, np, "trunk.weight");
    int count = 0;
    for (int i = 0; i < np; i++) count += !strncmp(ps[i].name, "trunk.", 6);
    CHECK(count == 2 && t->shared, "one shared trunk in the table (%d)", count);
    float ga[256], gb[256], gab[256];
    n->zero_grad(m);
    n->forward(m, 0, xa, B, 1, 5);
    n->loss_backward(m, 0, ya, B, 1);
    memcpy(ga, t->grad, sizeof ga);
    n->zero_grad(m);
    n->forward(m, 1, xb, B, 1, 5);
    n->loss_backward(m, 1, yb, B, 1);
    memcpy(gb, t->grad, sizeof gb);
    both_losses(m, xa, ya, xb, yb);
    memcpy(gab, t->grad, sizeof gab);
    double worst = 0;
    for (int i = 0; i < 256; i++) worst = fmax(worst, fabs(gab[i] - (ga[i] + gb[i])));
    CHECK(worst < 1e-6, "shared grad != sum of the domains' grads (%g)", worst);
    /* finite differences of the summed loss (double-sided, eps 1e-2; the net is linear) */
    double fd_worst = 0;
    for (int i = 0; i < 256; i += 17) {
        float v = t->value[i];
        t->value[i] = v + 1e-2f;
        double lp = both_losses(m, xa, ya, xb, yb);
        t->value[i] = v - 1e-2f;
        double lm = both_losses(m, xa, ya, xb, yb);
        t->value[i] = v;
        double fd = (lp - lm) / 2e-2;
        fd_worst = fmax(fd_worst, fabs(fd - gab[i]) / fmax(1e-3, fabs(fd)));
    }
    CHECK(fd_worst < 2e-2, "finite differences vs shared grad: rel err %g", fd_worst);
    n->destroy(m);
}

static hsi_experiment *exp_text(const char *yaml, const char *const *sets, int n_sets)
{
    char err[1024];
    hsi_experiment_opts o = {"unit.yaml", sets, n_sets, -1, NULL};
    hsi_experiment *x = hsi_experiment_load_text(yaml, strlen(yaml), "unit.yaml", &o, err, sizeof err);
    if (!x) {
        printf("experiment: %s\n", err);
        exit(1);
    }
    return x;
}

static const char *YAML2 =
    "net: t.hsn\n"
    "domains: [{name: a, dataset: A}, {name: b, dataset: B}]\n"
    "split: {train: 10}\n"
    "solver: {type: sgd, lr: 0.1}\n"
    "train: {batch: 8, val_every: 10}\n"
    "phases:\n"
    "  - {name: one, domains: [a], iterations: 10}\n"
    "  - {name: both, iterations: 10}\n";

static void test_lr_scales(void)
{
    const hsi_netdesc *n = &tiny2_net;
    hsi_param *ps;
    int np;
    hsi_model *m = make(n, &ps, &np);
    uint32_t owners[16];
    float sc[16];
    char err[256];
    CHECK(hsi_trainer_param_owners(n, m, B, owners, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < np; i++) {
        uint32_t want = !strncmp(ps[i].name, "trunk.", 6) ? 3 : ps[i].name[0] == 'a' ? 1 : 2;
        if (!ps[i].grad) want = 3;   /* running means: no gradient, every domain */
        CHECK(owners[i] == want, "owners of %s: %u, want %u", ps[i].name, owners[i], want);
    }
    hsi_experiment *x = exp_text(YAML2, NULL, 0);
    hsi_trainer_lr_scales(x, 0, ps, np, owners, sc);
    for (int i = 0; i < np; i++) {
        float want = !ps[i].grad ? sc[i] : ps[i].name[0] == 'b' ? 0.0f : 1.0f;
        CHECK(sc[i] == want, "phase one: scale of %s %g, want %g", ps[i].name, sc[i], want);
    }
    hsi_trainer_lr_scales(x, 1, ps, np, owners, sc);
    for (int i = 0; i < np; i++) {
        float want = !ps[i].grad ? sc[i] : !strncmp(ps[i].name, "trunk.", 6) ? 0.5f : 1.0f;
        CHECK(sc[i] == want, "phase both: scale of %s %g, want %g", ps[i].name, sc[i], want);
    }
    /* One plain SGD update with equal gradients: the shared param moves half as far. */
    hsi_solver_opts so = hsi_solver_defaults(HSI_SOLVER_SGD);
    hsi_solver *s = hsi_solver_create(&so, ps, np, sc, err, sizeof err);
    CHECK(s != NULL, "%s", err);
    hsi_param *tw = find(ps, np, "trunk.weight"), *aw = find(ps, np, "a.head.weight");
    float t0 = tw->value[3], a0 = aw->value[3];
    for (int i = 0; i < np; i++)
        for (int64_t j = 0; ps[i].grad && j < ps[i].numel; j++) ps[i].grad[j] = 1;
    hsi_solver_step(s, 0.1f);
    CHECK(fabsf((t0 - tw->value[3]) - 0.05f) < 1e-6f && fabsf((a0 - aw->value[3]) - 0.1f) < 1e-6f,
          "update of shared %g and unshared %g, want 0.05 and 0.1", t0 - tw->value[3],
          a0 - aw->value[3]);
    hsi_solver_free(s);
    const char *sets[] = {"shared_lr_scale=0.25"};
    hsi_experiment *x2 = exp_text(YAML2, sets, 1);
    hsi_trainer_lr_scales(x2, 1, ps, np, owners, sc);
    CHECK(sc[tw - ps] == 0.25f, "shared_lr_scale 0.25 gives %g", sc[tw - ps]);
    hsi_experiment_free(x2);
    hsi_experiment_free(x);
    n->destroy(m);
}

static void test_init_load(void)
{
    const hsi_netdesc *n = &tiny_net;
    hsi_param *ps, *qs;
    int np, nq;
    char err[1024], ck[1024], bad[1024], set[1100], set_bad[1100];
    hsi_model *src = make(n, &ps, &np);
    hsi_init_params(ps, np, 111);
    for (int64_t j = 0; j < ps[2].numel; j++) ps[2].value[j] = 0.5f;   /* running mean */
    snprintf(ck, sizeof ck, "%s/src.safetensors", TMP);
    CHECK(hsi_ckpt_save_weights(ck, n, ps, np, NULL, 0, err, sizeof err) == 0, "%s", err);
    hsi_model *dst = make(n, &qs, &nq);
    snprintf(set, sizeof set, "init.checkpoint=%s", ck);
    const char *sets[] = {set, "init.load=[trunk.*]"};
    const char *Y1 = "net: t.hsn\ndomains: [{dataset: A}]\nsplit: {train: 10}\n"
                     "solver: {type: sgd, lr: 0.1}\ntrain: {batch: 8, iterations: 10}\n";
    hsi_experiment *x = exp_text(Y1, sets, 2);
    char mapfile[1100];
    snprintf(mapfile, sizeof mapfile, "%s/loadmap.txt", TMP);
    FILE *log = fopen(mapfile, "w+");
    CHECK(hsi_trainer_init_params(x, qs, nq, 222, log, err, sizeof err) == 0, "%s", err);
    hsi_model *fresh = make(n, &ps, &np);   /* the oracle: seed 222, nothing loaded */
    hsi_init_params(ps, np, 222);
    hsi_param *orig;
    n->params(src, &orig);
    for (int i = 0; i < nq; i++) {
        int loaded = !strncmp(qs[i].name, "trunk.", 6);
        const float *want = loaded ? orig[i].value : ps[i].value;
        CHECK(!memcmp(qs[i].value, want, sizeof(float) * (size_t)qs[i].numel),
              "%s: %s values expected", qs[i].name, loaded ? "checkpoint" : "fresh init");
    }
    rewind(log);
    char text[4096];
    size_t len = fread(text, 1, sizeof text - 1, log);
    text[len] = 0;
    fclose(log);
    CHECK(strstr(text, "loaded") && strstr(text, "trunk.weight") &&
          strstr(text, "initialised (not in init.load)") &&
          strstr(text, "2 loaded, 5 initialised"), "load map:\n%s", text);
    /* A matched tensor with another shape: its name, both shapes, the fix. */
    hsi_st_tensor t = {"trunk.weight", 2, {16, 8}, orig[0].value};
    snprintf(bad, sizeof bad, "%s/bad.safetensors", TMP);
    CHECK(hsi_st_save(bad, &t, 1, NULL, 0, err, sizeof err) == 0, "%s", err);
    snprintf(set_bad, sizeof set_bad, "init.checkpoint=%s", bad);
    const char *sets2[] = {set_bad};
    hsi_experiment *x2 = exp_text(Y1, sets2, 1);
    CHECK(hsi_trainer_init_params(x2, qs, nq, 222, NULL, err, sizeof err) == -1, "no error");
    CHECK(strstr(err, "'trunk.weight'") && strstr(err, "[16,8]") && strstr(err, "[16,16]") &&
          strstr(err, "init.load"), "message: %s", err);
    /* Strict loading for eval: a missing tensor is named. */
    CHECK(hsi_ckpt_load_weights(bad, qs, nq, err, sizeof err) == -1 && strstr(err, "in.weight"),
          "strict load: %s", err);
    hsi_experiment_free(x2);
    hsi_experiment_free(x);
    n->destroy(fresh);
    n->destroy(dst);
    n->destroy(src);
}

/* hsi_model_input and hsi_model_zero_grad from 65536 floats run split over OpenMP's threads
 * (model.c; trainer.unit_threads2 runs this on two): every element copied or zeroed, samples
 * past n zero, gradients of params without one (NULL) and memory around them untouched. */
static void test_model_split(void)
{
    enum { PER = 9801, BATCH = 16, NP = 4 };
    hsi_model_spec spec = {.name = "split", .n_params = NP};
    hsi_model m = {.spec = &spec, .batch = BATCH};
    float *x = malloc(sizeof(float) * PER * BATCH), *dst = malloc(sizeof(float) * PER * BATCH);
    CHECK(x && dst, "out of memory");
    if (!x || !dst) return;
    for (int n = BATCH; n >= BATCH - 5; n -= 5) {
        for (int i = 0; i < PER * BATCH; i++) {
            x[i] = (float)i + 0.5f;
            dst[i] = -1.0f;
        }
        hsi_model_input(&m, dst, x, n, PER);
        int bad = 0;
        for (int i = 0; i < PER * BATCH; i++) bad += dst[i] != (i < n * PER ? x[i] : 0.0f);
        CHECK(!bad, "input of %d samples: %d elements wrong", n, bad);
    }
    /* gradients: 70001, none, 3 and 50000 floats in one block with guards between */
    static const int64_t numel[NP] = {70001, 7, 3, 50000};
    hsi_param ps[NP];
    memset(ps, 0, sizeof ps);
    float *g = malloc(sizeof(float) * 120020);
    CHECK(g != NULL, "out of memory");
    if (!g) return;
    for (int i = 0; i < 120020; i++) g[i] = 1.0f;
    int64_t at = 1;
    for (int k = 0; k < NP; k++) {
        ps[k].numel = numel[k];
        ps[k].grad = k == 1 ? NULL : g + at;
        if (k != 1) at += numel[k] + 1;   /* one guard float after each */
    }
    m.params = ps;
    hsi_model_zero_grad(&m);
    int bad = 0, guards = 0;
    at = 1;
    for (int k = 0; k < NP; k++) {
        if (k == 1) continue;
        for (int64_t i = 0; i < numel[k]; i++) bad += g[at + i] != 0.0f;
        guards += g[at - 1] != 1.0f;
        at += numel[k] + 1;
    }
    guards += g[at - 1] != 1.0f;
    CHECK(!bad && !guards, "zero_grad: %d gradient elements not zero, %d guards touched", bad, guards);
    free(g);
    free(x);
    free(dst);
}

/* A model of batch 0 (the parameters only: predict --scene, an inference module) has no
 * gradients: they doubled an inference model's memory. */
static void test_params_only(void)
{
    static const hsi_param table[2] = {
        {"c.weight", 2, {4, 3}, 12, NULL, NULL, HSI_ROLE_WEIGHT, 1.0f, 1.0f, 0, 0,
         {HSI_INIT_ZEROS, 0.0f, 0.0f, 3, 4}},
        {"b.running_var", 1, {4}, 4, NULL, NULL, HSI_ROLE_BN_VAR, 1.0f, 1.0f, 0, 0,
         {HSI_INIT_ONES, 0.0f, 0.0f, 4, 4}},
    };
    static const hsi_domain dom = {"", 1, {3, 0, 0, 0}, 3, 4, 1, 0};
    static const hsi_model_spec spec = {"params_only", 2, table, 1, &dom, NULL};
    const hsi_model_opts o = {0, HSI_BACKEND_REF, 7};
    char err[256];
    hsi_model *m = hsi_model_create(&spec, &o, err, sizeof err);
    CHECK(m, "create: %s", err);
    if (!m) return;
    hsi_param *ps;
    int np = hsi_model_params(m, &ps);
    CHECK(np == 2 && ps[0].value && !ps[0].grad && !ps[1].grad && ps[1].value[3] == 1.0f,
          "batch 0: %d parameters, c.weight's gradient %p", np, (void *)ps[0].grad);
    hsi_model_destroy(m);
}

int main(int argc, char **argv)
{
    TMP = argc > 1 ? argv[1] : "tmp_unit";
    mkdir(TMP, 0777);
    test_shared_grad();
    test_lr_scales();
    test_init_load();
    test_model_split();
    test_params_only();
    if (failures) printf("%d failure(s)\n", failures);
    else printf("ok\n");
    return failures != 0;
}
