/* test_config.c — experiment files that are right: good.yaml gives the expected struct, the
 * resolved YAML loads back to the same text, --set and sweep points apply, random bytes and
 * mutated files never crash. With --examples DIR: every .yaml file in DIR passes the schema (with
 * the dataset registry) and its resolved form loads back.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsi_config.h"
#include "hsi_data.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static hsi_experiment *load(const char *path, const char *const *sets, int n, int point,
                            const hsi_registry *reg)
{
    char err[2048];
    hsi_experiment_opts o = {path, sets, n, point, reg};
    hsi_experiment *x = hsi_experiment_load(&o, err, sizeof err);
    if (!x) {
        printf("FAIL load %s: %s\n", path, err);
        failures++;
    }
    return x;
}

static const char *body(const char *s)
{
    while (s && *s == '#') s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL;
    return s ? s : "";
}

/* to_yaml, load that text back, to_yaml again: the two texts agree after the comments. */
static void round_trip(const hsi_experiment *x, const hsi_registry *reg)
{
    char err[2048];
    char *a = hsi_experiment_to_yaml(x, err, sizeof err);
    hsi_experiment_opts o = {"resolved.yaml", NULL, 0, -1, reg};
    hsi_experiment *y = a ? hsi_experiment_load_text(a, strlen(a), "resolved.yaml", &o, err, sizeof err) : NULL;
    char *b = y ? hsi_experiment_to_yaml(y, err, sizeof err) : NULL;
    if (!b || strcmp(body(a), body(b))) {
        printf("FAIL round trip of %s: %s\n--- first\n%s\n--- second\n%s\n", x->path,
               b ? "texts differ" : err, a ? a : "", b ? b : "");
        failures++;
    }
    free(a);
    free(b);
    hsi_experiment_free(y);
}

static void test_good(const char *path, const hsi_registry *reg)
{
    hsi_experiment *x = load(path, NULL, 0, -1, reg);
    if (!x) return;
    CHECK(strcmp(x->name, "good") == 0);
    CHECK(strstr(x->net, "tests/train/../../netdefs/contextual.hsn") != NULL);
    CHECK(x->backend == HSI_BACKEND_REF);
    CHECK(x->n_defines == 3 && strcmp(x->defines[2].key, "patch") == 0 &&
          strcmp(x->defines[2].value, "5") == 0);
    CHECK(x->n_domains == 2);
    const hsi_exp_domain *p = &x->domains[0], *in = &x->domains[1];
    CHECK(strcmp(p->name, "pavia") == 0 && strcmp(p->dataset, "PaviaU") == 0);
    CHECK(p->n_labels == 3 && p->label_ids[0] == 1 && p->label_ids[1] == 2 && p->label_ids[2] == 3);
    CHECK(p->band_start == 0 && p->band_end == 100 && p->resample == 50);
    CHECK(p->region_half == HSI_HALF_LEFT && p->loss_weight == 0.5f);
    CHECK(strcmp(in->name, "IndianPines") == 0 && in->n_labels == 8 && in->label_ids[7] == 14);
    CHECK(in->region_rect[0] == 10 && in->region_rect[3] == 40 && in->loss_weight == 1.0f);
    hsi_define defs[8];
    int nd = hsi_experiment_domain_defines(x, 0, defs, 8);
    CHECK(nd == 3 && strcmp(defs[0].key, "depth") == 0 && strcmp(defs[2].key, "width") == 0 &&
          strcmp(defs[2].value, "64") == 0);
    CHECK(x->standardize == HSI_EXP_STD_TRAIN && x->padding == HSI_EXP_PAD_REFLECT && x->patch == 5);
    CHECK(x->split.train.is_fraction && x->split.train.fraction == 0.25);
    CHECK(!x->split.val.is_fraction && x->split.val.count == 5 && !x->split.stratified);
    CHECK(x->split.spatial_blocks == 4 && x->split.has_seed && x->split.seed == 7);
    CHECK(x->augment == HSI_EXP_AUG_DIHEDRAL);
    CHECK(x->solver.type == HSI_SOLVER_SGD && x->solver.momentum == 0.9f && x->solver.nesterov);
    CHECK(x->solver.weight_decay == 5e-4f && x->solver.momentum_style == HSI_MOMENTUM_PYTORCH);
    CHECK(x->schedule.base_lr == 0.01 && x->schedule.policy == HSI_LR_MULTISTEP);
    CHECK(x->schedule.n_steps == 2 && x->schedule.steps[1] == 200 && x->schedule.warmup == 10);
    CHECK(x->train.batch == 32 && x->train.val_every == 50 && x->train.select == HSI_SELECT_VAL_OA);
    CHECK(x->train.patience == 5 && x->train.stop_metric == HSI_SELECT_VAL_OA);
    CHECK(x->n_phases == 2 && x->phases_given);
    CHECK(strcmp(x->phases[0].name, "step1") == 0 && x->phases[0].n_domains == 1 &&
          x->phases[0].domains[0] == 1 && x->phases[0].iterations == 300);
    CHECK(x->phases[0].schedule.policy == HSI_LR_MULTISTEP && x->phases[0].schedule.base_lr == 0.01);
    CHECK(strcmp(x->phases[1].name, "phase1") == 0 && x->phases[1].n_domains == 2);
    CHECK(x->phases[1].schedule.policy == HSI_LR_COSINE && x->phases[1].schedule.base_lr == 0.001);
    CHECK(x->phases[1].schedule.max_iter == 1000 && x->phases[1].schedule.min_lr == 1e-5);
    CHECK(x->phases[1].schedule.warmup == 10);   /* inherited from the top-level schedule */
    CHECK(x->shared_lr_scale == 0.25f);
    CHECK(strstr(x->init.checkpoint, "pre/best.safetensors") && x->init.n_load == 1 &&
          strcmp(x->init.load[0], "*") == 0 && x->init.n_freeze == 1);
    CHECK(x->n_sweep == 2 && x->sweep_points == 6 && x->sweep_point == -1);
    CHECK(strcmp(x->sweep[1].values[1], "{checkpoint: other.safetensors, load: [\"trunk.*\"]}") == 0);
    CHECK(x->runs.count == 3 && hsi_experiment_run_seed(x, 2) == 13);
    CHECK(strcmp(x->outputs.dir, "out/good") == 0 && !x->outputs.maps && x->outputs.curves &&
          x->outputs.checkpoints == HSI_CKPT_BOTH);
    round_trip(x, reg);
    hsi_experiment_free(x);

    /* Sweep point 5 = depth 3 (index 5/2 = 2), init index 1: the map value. */
    x = load(path, NULL, 0, 5, reg);
    if (x) {
        CHECK(strcmp(x->defines[0].value, "3") == 0);
        CHECK(strstr(x->init.checkpoint, "tests/train/other.safetensors") && x->init.n_freeze == 0 &&
              strcmp(x->init.load[0], "trunk.*") == 0);
        CHECK(strcmp(x->sweep_label, "defines.depth=3,init={checkpoint: other.safetensors, load: [\"trunk.*\"]}") == 0);
        round_trip(x, reg);
        hsi_experiment_free(x);
    }

    /* The PCA, the Adagrad and plateau keys: read, and written back (round trip). */
    const char *more[] = {"preprocess.pca={components: 30, fit: train, whiten: true}",
                          "solver={type: adagrad, lr: 0.1, lr_decay: 0.01, "
                          "initial_accumulator_value: 0.5}",
                          "schedule={policy: plateau, metric: val_oa, patience: 3, factor: 0.5, "
                          "threshold_mode: abs, cooldown: 2, min_lr: 1e-4}"};
    x = load(path, more, 3, 0, reg);
    if (x) {
        CHECK(x->pca.components == 30 && x->pca.variance == 0 &&
              x->pca.fit == HSI_EXP_PCA_FIT_TRAIN && x->pca.whiten);
        CHECK(x->solver.type == HSI_SOLVER_ADAGRAD && x->solver.lr_decay == 0.01f &&
              x->solver.initial_accumulator_value == 0.5f && x->solver.eps == 1e-10f);
        const hsi_schedule *ps = &x->phases[0].schedule;
        CHECK(ps->policy == HSI_LR_PLATEAU && ps->metric == HSI_PLATEAU_VAL_OA &&
              ps->patience == 3 && ps->factor == 0.5 && ps->threshold == 1e-4 &&
              ps->threshold_mode == HSI_THRESHOLD_ABS && ps->cooldown == 2 && ps->min_lr == 1e-4);
        round_trip(x, reg);
        hsi_experiment_free(x);
    }
    const char *var[] = {"preprocess.pca={variance: 0.99}", "preprocess.standardize=all",
                         "solver={type: adadelta, lr: 1.0}"};
    x = load(path, var, 3, 0, reg);
    if (x) {
        CHECK(x->pca.components == 0 && x->pca.variance == 0.99 && x->pca.fit == HSI_EXP_PCA_FIT_ALL);
        CHECK(x->solver.type == HSI_SOLVER_ADADELTA && x->solver.eps == 1e-6f && x->solver.rho == 0.9f);
        round_trip(x, reg);
        hsi_experiment_free(x);
    }

    /* --set: a number, a list item's key, a new list item, a flow map. */
    const char *sets[] = {"solver.lr=2e-3", "domains.1.dataset=Salinas", "domains.1.labels=[1, 2]",
                          "domains.1.name=IndianPines", "domains.2={dataset: KSC, name: ksc}",
                          "runs=4", "schedule.steps=[50, 60]"};
    x = load(path, sets, 7, 0, reg);
    if (x) {
        CHECK(x->schedule.base_lr == 2e-3 && x->phases[0].schedule.base_lr == 2e-3);
        CHECK(strcmp(x->domains[1].dataset, "Salinas") == 0 && x->domains[1].n_labels == 2);
        CHECK(x->n_domains == 3 && strcmp(x->domains[2].name, "ksc") == 0);
        CHECK(x->runs.count == 4 && !x->runs.seeds && x->schedule.steps[0] == 50);
        hsi_experiment_free(x);
    }

    char err[512];
    hsi_experiment_opts o = {"empty.yaml", NULL, 0, -1, reg};
    x = hsi_experiment_load_text("", 0, "empty.yaml", &o, err, sizeof err);
    CHECK(!x && strncmp(err, "empty.yaml:1:1: error: the file is empty;", 41) == 0);
}

/* Random bytes and mutations of a good file: a result or one message, never a crash. */
static void fuzz(const char *path, const hsi_registry *reg)
{
    FILE *f = fopen(path, "rb");
    char good[8192];
    size_t n = f ? fread(good, 1, sizeof good, f) : 0;
    if (f) fclose(f);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    char buf[8192], err[1024];
    hsi_experiment_opts o = {"fuzz.yaml", NULL, 0, -1, reg};
    int loaded = 0;
    for (int it = 0; it < 3000; it++) {
        size_t len;
        if (it < 1000) {
            len = (size_t)(s % 600);
            for (size_t i = 0; i < len; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                buf[i] = (char)(s >> 56);
            }
        } else {
            memcpy(buf, good, n);
            len = n;
            for (int k = 0; k < 1 + it % 4; k++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                size_t at = (size_t)(s >> 33) % n;
                static const char pool[] = " :-[]{}#\t\n\"'0123456789abc,.*&!|>";
                buf[at] = (it % 7 == 0) ? (char)(s >> 24) : pool[(s >> 40) % (sizeof pool - 1)];
                if (it % 11 == 0) len = at;
            }
        }
        err[0] = 0;
        hsi_experiment *x = hsi_experiment_load_text(buf, len, "fuzz.yaml", &o, err, sizeof err);
        if (!x && !strstr(err, "error: ")) {
            printf("FAIL fuzz %d: no message\n", it);
            failures++;
        }
        loaded += x != NULL;
        hsi_experiment_free(x);
    }
    printf("fuzz: 3000 inputs, %d loaded\n", loaded);
}

/* Deeply nested flow collections: libyaml's scanner is quadratic in their depth, so 200,000
 * '[' took minutes before the nesting was checked on the event stream; now one located message
 * at once, from the file and from a --set value. */
static void deep_nesting(const hsi_registry *reg)
{
    size_t n = 200000;
    char *text = malloc(n + 16), *set = malloc(n + 16), err[1024];
    if (!text || !set) return;
    memcpy(text, "net: ", 5);
    memset(text + 5, '[', n);
    text[n + 5] = '\n';
    memcpy(set, "solver.lr=", 10);
    memset(set + 10, '[', 300);   /* the message quotes the override: keep it short */
    set[310] = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hsi_experiment_opts o = {"deep.yaml", NULL, 0, -1, reg};
    hsi_experiment *x = hsi_experiment_load_text(text, n + 6, "deep.yaml", &o, err, sizeof err);
    CHECK(!x && strncmp(err, "deep.yaml:1:70: error: the document is too large or too deeply "
                             "nested", 69) == 0);
    hsi_experiment_free(x);
    const char *good = "net: n.hsn\n";
    const char *sets[] = {set};
    hsi_experiment_opts o2 = {"deep.yaml", sets, 1, -1, reg};
    x = hsi_experiment_load_text(good, strlen(good), "deep.yaml", &o2, err, sizeof err);
    CHECK(!x && strstr(err, "error: key 'solver.lr': the value is not valid YAML (the document "
                            "is too large or too deeply nested") != NULL);
    hsi_experiment_free(x);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK(secs < 5.0);
    printf("deep nesting: rejected in %.3f s\n", secs);
    free(text);
    free(set);
}

static void examples(const char *dir, const hsi_registry *reg)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".yaml")) continue;
        char path[1024], out[1100], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        hsi_experiment *x = load(path, NULL, 0, -1, reg);
        if (!x) continue;
        n++;
        round_trip(x, reg);
        snprintf(out, sizeof out, "%s.resolved.yaml", e->d_name);
        if (hsi_experiment_write(x, out, err, sizeof err)) {
            printf("FAIL write %s: %s\n", out, err);
            failures++;
        } else {
            hsi_experiment_free(load(out, NULL, 0, -1, reg));
            remove(out);
        }
        printf("ok   %s (%d domain(s), %d run(s))\n", e->d_name, x->n_domains, x->runs.count);
        hsi_experiment_free(x);
    }
    if (d) closedir(d);
    if (n == 0) {
        printf("FAIL no examples in %s\n", dir);
        failures++;
    }
}

int main(int argc, char **argv)
{
    char err[1024];
    hsi_registry *reg = hsi_registry_load(NULL, err, sizeof err);
    if (!reg || argc < 2) {
        printf("FAIL %s\n", reg ? "usage: test_train_config good.yaml | --examples DIR" : err);
        return 1;
    }
    if (strcmp(argv[1], "--examples") == 0 && argc == 3) {
        examples(argv[2], reg);
    } else {
        test_good(argv[1], reg);
        deep_nesting(reg);
        fuzz(argv[1], reg);
        fuzz(argv[1], NULL);
    }
    hsi_registry_free(reg);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
