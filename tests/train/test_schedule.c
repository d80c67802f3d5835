/* test_schedule.c — every LR policy and warmup against values worked out by hand (the
 * arithmetic is in the comments), plus the range checks. With --plateau-trace it prints
 * reduce-on-plateau rates for metric sequences, which plateau_torch.py replays with torch's
 * ReduceLROnPlateau.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hsi_train.h"

static int failures;

static void near(const char *what, double got, double want)
{
    if (fabs(got - want) > 1e-6 * fabs(want) + 1e-12) {
        printf("FAIL %s: got %.9g, want %.9g\n", what, got, want);
        failures++;
    }
}

/* patience 2, factor 0.5, abs threshold 0.1, cooldown 1, min_lr 0.3, base 1 (mode min):
 * metrics 5 (best), 4.95 (not 0.1 better: bad 1), 4.95 (bad 2), 4.95 (bad 3 > 2: lr 0.5,
 * cooldown 1), 4.95 (bad 1, cooldown: bad 0), 4.95 (1), 4.95 (2), 4.95 (3: lr max(0.25, 0.3) =
 * 0.3), then every cut is 0 (0.3 - 0.3 is not > eps): the rate stays 0.3. */
static void test_plateau(void)
{
    hsi_schedule s = hsi_schedule_defaults(1.0);
    char err[256];
    s.policy = HSI_LR_PLATEAU;
    s.patience = 2;
    s.factor = 0.5;
    s.threshold = 0.1;
    s.threshold_mode = HSI_THRESHOLD_ABS;
    s.cooldown = 1;
    s.min_lr = 0.3;
    hsi_plateau p;
    hsi_plateau_init(&p, &s);
    static const double m[] = {5, 4.95, 4.95, 4.95, 4.95, 4.95, 4.95, 4.95, 4.95, 4.95, 4.95, 4.95};
    static const double want[] = {1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3};
    for (int i = 0; i < 12; i++) {
        char what[32];
        snprintf(what, sizeof what, "plateau %d", i);
        hsi_plateau_step(&p, &s, m[i]);
        near(what, p.lr, want[i]);
    }
    if (hsi_schedule_check(&s, err, sizeof err)) {
        printf("FAIL: good plateau rejected: %s\n", err);
        failures++;
    }
    s.factor = 1.0;
    if (!hsi_schedule_check(&s, err, sizeof err)) {
        printf("FAIL: plateau factor 1 accepted\n");
        failures++;
    }
}

/* Metric sequences of a noisy, improving-then-stalling training, several configurations. */
static void plateau_trace(void)
{
    struct { const char *name; int oa, patience, cooldown, abs; double factor, threshold, min_lr; }
    cfgs[] = {
        {"loss_default", 0, 10, 0, 0, 0.1, 1e-4, 0},
        {"loss_p2_cool1", 0, 2, 1, 0, 0.5, 1e-2, 1e-4},
        {"loss_abs_p0", 0, 0, 0, 1, 0.3, 0.05, 0.01},
        {"oa_p3", 1, 3, 2, 0, 0.2, 1e-3, 0},
        {"oa_abs_min", 1, 1, 0, 1, 0.5, 0.01, 0.2},
    };
    for (size_t c = 0; c < sizeof cfgs / sizeof *cfgs; c++) {
        hsi_schedule s = hsi_schedule_defaults(0.1);
        s.policy = HSI_LR_PLATEAU;
        s.metric = cfgs[c].oa ? HSI_PLATEAU_VAL_OA : HSI_PLATEAU_VAL_LOSS;
        s.patience = cfgs[c].patience;
        s.cooldown = cfgs[c].cooldown;
        s.threshold_mode = cfgs[c].abs ? HSI_THRESHOLD_ABS : HSI_THRESHOLD_REL;
        s.factor = cfgs[c].factor;
        s.threshold = cfgs[c].threshold;
        s.min_lr = cfgs[c].min_lr;
        printf("cfg %s mode=%s factor=%.17g patience=%d threshold=%.17g threshold_mode=%s "
               "cooldown=%d min_lr=%.17g eps=%.17g lr=%.17g\n", cfgs[c].name,
               cfgs[c].oa ? "max" : "min", s.factor, s.patience, s.threshold,
               cfgs[c].abs ? "abs" : "rel", s.cooldown, s.min_lr, s.eps, s.base_lr);
        hsi_plateau p;
        hsi_plateau_init(&p, &s);
        for (int i = 0; i < 80; i++) {
            double trend = 1.0 / (1.0 + 0.15 * i), noise = 0.02 * sin(1.3 * i + (double)c);
            double m = cfgs[c].oa ? 1.0 - 0.6 * trend + noise : 2.0 * trend + 0.3 + noise;
            hsi_plateau_step(&p, &s, m);
            printf("m %.17g %.17g\n", m, p.lr);
        }
    }
}

int main(int argc, char **argv)
{
    char err[256];
    if (argc > 1 && strcmp(argv[1], "--plateau-trace") == 0) {
        plateau_trace();
        return 0;
    }
    test_plateau();
    /* The contextual recipe: base 1e-3, step, gamma 0.1, stepsize 4000, 5000 iterations. */
    hsi_schedule s = hsi_schedule_defaults(1e-3);
    s.policy = HSI_LR_STEP;
    s.stepsize = 4000;
    near("step 0", hsi_schedule_lr(&s, 0), 1e-3);
    near("step 3999", hsi_schedule_lr(&s, 3999), 1e-3);     /* floor(3999/4000) = 0 */
    near("step 4000", hsi_schedule_lr(&s, 4000), 1e-4);     /* 1e-3 * 0.1^1 */
    near("step 4999", hsi_schedule_lr(&s, 4999), 1e-4);
    near("step 8000", hsi_schedule_lr(&s, 8000), 1e-5);     /* 1e-3 * 0.1^2 */

    /* multistep [10, 30], gamma 0.5, base 2: 2 before 10, 1 on [10, 30), 0.5 from 30. */
    hsi_schedule m = hsi_schedule_defaults(2.0);
    m.policy = HSI_LR_MULTISTEP;
    m.gamma = 0.5;
    m.n_steps = 2;
    m.steps[0] = 10;
    m.steps[1] = 30;
    near("multistep 9", hsi_schedule_lr(&m, 9), 2.0);
    near("multistep 10", hsi_schedule_lr(&m, 10), 1.0);
    near("multistep 29", hsi_schedule_lr(&m, 29), 1.0);
    near("multistep 30", hsi_schedule_lr(&m, 30), 0.5);

    /* exp gamma 0.9, base 1: 0.9^3 = 0.729. */
    hsi_schedule e = hsi_schedule_defaults(1.0);
    e.policy = HSI_LR_EXP;
    e.gamma = 0.9;
    near("exp 3", hsi_schedule_lr(&e, 3), 0.729);

    /* poly power 2, max 100, base 0.1: iter 50 -> 0.1 * 0.5^2 = 0.025; iter 100 -> 0. */
    hsi_schedule p = hsi_schedule_defaults(0.1);
    p.policy = HSI_LR_POLY;
    p.power = 2;
    p.max_iter = 100;
    near("poly 50", hsi_schedule_lr(&p, 50), 0.025);
    near("poly 100", hsi_schedule_lr(&p, 100), 0.0);

    /* cosine to min 0.01 over 100, base 0.11: iter 50 -> 0.01 + 0.1 * (1 + cos(pi/2))/2 = 0.06;
     * iter 0 -> 0.11; iter 100 and after -> 0.01. */
    hsi_schedule c = hsi_schedule_defaults(0.11);
    c.policy = HSI_LR_COSINE;
    c.min_lr = 0.01;
    c.max_iter = 100;
    near("cosine 0", hsi_schedule_lr(&c, 0), 0.11);
    near("cosine 50", hsi_schedule_lr(&c, 50), 0.06);
    near("cosine 200", hsi_schedule_lr(&c, 200), 0.01);

    /* warmup 10 from 0.2 on the step schedule: iter 0 -> 1e-3 * 0.2; iter 5 -> 1e-3 * (0.2 +
     * 0.8 * 5/10) = 6e-4; iter 10 -> 1e-3 (warmup over). */
    s.warmup = 10;
    s.warmup_start = 0.2;
    near("warmup 0", hsi_schedule_lr(&s, 0), 2e-4);
    near("warmup 5", hsi_schedule_lr(&s, 5), 6e-4);
    near("warmup 10", hsi_schedule_lr(&s, 10), 1e-3);
    /* fixed: constant. */
    hsi_schedule f = hsi_schedule_defaults(0.5);
    near("fixed 12345", hsi_schedule_lr(&f, 12345), 0.5);

    /* Checks: a step schedule without stepsize, a decreasing multistep list. */
    hsi_schedule bad = hsi_schedule_defaults(1e-3);
    bad.policy = HSI_LR_STEP;
    if (hsi_schedule_check(&bad, err, sizeof err) == 0) {
        printf("FAIL: step without stepsize accepted\n");
        failures++;
    }
    m.steps[1] = 5;
    if (hsi_schedule_check(&m, err, sizeof err) == 0) {
        printf("FAIL: decreasing steps accepted\n");
        failures++;
    }
    if (hsi_schedule_check(&s, err, sizeof err) || hsi_schedule_check(&c, err, sizeof err)) {
        printf("FAIL: good schedule rejected: %s\n", err);
        failures++;
    }
    if (hsi_lr_policy_parse("cosine") != HSI_LR_COSINE || hsi_lr_policy_parse("cos") != -1 ||
        hsi_lr_policy_parse("plateau") != HSI_LR_PLATEAU) {
        printf("FAIL: policy names\n");
        failures++;
    }
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
