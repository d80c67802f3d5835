/* test_schedule.c — every LR policy and warmup against values worked out by hand (the
 * arithmetic is in the comments), plus the range checks.
 */
#include <math.h>
#include <stdio.h>

#include "hsi_train.h"

static int failures;

static void near(const char *what, double got, double want)
{
    if (fabs(got - want) > 1e-6 * fabs(want) + 1e-12) {
        printf("FAIL %s: got %.9g, want %.9g\n", what, got, want);
        failures++;
    }
}

int main(void)
{
    char err[256];
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
    if (hsi_lr_policy_parse("cosine") != HSI_LR_COSINE || hsi_lr_policy_parse("cos") != -1) {
        printf("FAIL: policy names\n");
        failures++;
    }
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
