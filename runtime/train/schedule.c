/* schedule.c — learning-rate policies (Caffe's fixed/step/multistep/exp/poly, cosine) and linear
 * warmup, as pure functions of the iteration number, and reduce-on-plateau (formulas in
 * hsi_train.h).
 *
 * No state but the plateau's (a few numbers the trainer saves): resuming at iteration k gives
 * the same rate as never stopping. Phases restart the count; that is the trainer's business.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hsi_train.h"

const char *const hsi_lr_policy_names[HSI_LR_LAST + 1] = {"fixed", "step", "multistep", "exp",
                                                        "poly", "cosine", "plateau"};

hsi_schedule hsi_schedule_defaults(double base_lr)
{
    hsi_schedule s;
    memset(&s, 0, sizeof s);
    s.policy = HSI_LR_FIXED;
    s.base_lr = base_lr;
    s.gamma = 0.1;
    s.power = 1.0;
    s.warmup_start = 1.0 / 3.0;
    s.factor = 0.1;
    s.patience = 10;
    s.threshold = 1e-4;
    s.eps = 1e-8;
    return s;
}

const char *hsi_lr_policy_name(hsi_lr_policy p)
{
    return (unsigned)p <= HSI_LR_LAST ? hsi_lr_policy_names[p] : "?";
}

int hsi_lr_policy_parse(const char *s)
{
    for (int i = 0; i <= HSI_LR_LAST; i++)
        if (strcmp(s, hsi_lr_policy_names[i]) == 0) return i;
    return -1;
}

int hsi_schedule_unused(const hsi_schedule *s, int64_t iters, char *msg, size_t n)
{
    int late = 0;
    if (s->policy == HSI_LR_MULTISTEP)
        while (late < s->n_steps && s->steps[s->n_steps - 1 - late] >= iters) late++;
    if (s->policy == HSI_LR_STEP && s->stepsize >= iters)
        snprintf(msg, n, "schedule.stepsize is %" PRId64 ", but the phase has %" PRId64
                 " iterations (0..%" PRId64 "): the lr never drops", s->stepsize, iters, iters - 1);
    else if (late)
        snprintf(msg, n, "schedule.steps.%d is %" PRId64 ", but the phase has %" PRId64
                 " iterations (0..%" PRId64 "): %s never come%s", s->n_steps - late,
                 s->steps[s->n_steps - late], iters, iters - 1,
                 late > 1 ? "it and the steps after it" : "that drop", late > 1 ? "" : "s");
    else if ((s->policy == HSI_LR_POLY || s->policy == HSI_LR_COSINE) && s->max_iter &&
             s->max_iter < iters)
        snprintf(msg, n, "schedule.max_iter is %" PRId64 ", but the phase has %" PRId64
                 " iterations: the last %" PRId64 " run at %s", s->max_iter, iters,
                 iters - s->max_iter, s->policy == HSI_LR_POLY ? "lr 0" : "schedule.min_lr");
    else if (s->warmup > iters)
        snprintf(msg, n, "schedule.warmup is %" PRId64 ", but the phase has %" PRId64
                 " iterations: the warmup never ends (the lr stays below the schedule's)",
                 s->warmup, iters);
    else
        return 0;
    return 1;
}

int hsi_schedule_check(const hsi_schedule *s, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (!(s->base_lr > 0)) bad = "base_lr must be > 0";
    else if ((unsigned)s->policy > HSI_LR_LAST) bad = "unknown policy";
    else if ((s->policy == HSI_LR_STEP || s->policy == HSI_LR_MULTISTEP ||
              s->policy == HSI_LR_EXP) && !(s->gamma > 0)) bad = "gamma must be > 0";
    else if (s->policy == HSI_LR_STEP && s->stepsize <= 0) bad = "stepsize must be > 0";
    else if (s->policy == HSI_LR_MULTISTEP && (s->n_steps < 1 || s->n_steps > HSI_LR_MAX_STEPS))
        bad = "steps: 1..32 iterations needed";
    else if (s->policy == HSI_LR_POLY && !(s->power > 0)) bad = "power must be > 0";
    else if ((s->policy == HSI_LR_POLY || s->policy == HSI_LR_COSINE) && s->max_iter <= 0)
        bad = "max_iter must be > 0";
    else if ((s->policy == HSI_LR_COSINE || s->policy == HSI_LR_PLATEAU) &&
             !(s->min_lr >= 0 && s->min_lr <= s->base_lr))
        bad = "min_lr must be in [0, base_lr]";
    else if (s->policy == HSI_LR_PLATEAU &&
             (!(s->factor > 0 && s->factor < 1) || s->patience < 0 || !(s->threshold >= 0) ||
              s->cooldown < 0 || !(s->eps > 0) || (unsigned)s->metric > HSI_PLATEAU_VAL_OA ||
              (unsigned)s->threshold_mode > HSI_THRESHOLD_ABS))
        bad = "factor must be in (0, 1), patience, threshold and cooldown >= 0, eps > 0";
    else if (s->warmup < 0 || !(s->warmup_start >= 0 && s->warmup_start <= 1))
        bad = "warmup must be >= 0 and warmup_start in [0, 1]";
    for (int i = 1; !bad && s->policy == HSI_LR_MULTISTEP && i < s->n_steps; i++)
        if (s->steps[i] <= s->steps[i - 1]) bad = "steps must increase";
    if (!bad) return 0;
    snprintf(err, errlen, "schedule %s: %s", hsi_lr_policy_name(s->policy), bad);
    return -1;
}

float hsi_schedule_lr(const hsi_schedule *s, int64_t iter)
{
    const double pi = 3.14159265358979323846;
    double lr = s->base_lr;
    switch (s->policy) {
    case HSI_LR_FIXED:
    case HSI_LR_PLATEAU:
        break;
    case HSI_LR_STEP:
        lr *= pow(s->gamma, (double)(iter / s->stepsize));
        break;
    case HSI_LR_MULTISTEP: {
        int k = 0;
        while (k < s->n_steps && s->steps[k] <= iter) k++;
        lr *= pow(s->gamma, k);
        break;
    }
    case HSI_LR_EXP:
        lr *= pow(s->gamma, (double)iter);
        break;
    case HSI_LR_POLY:
        lr = iter >= s->max_iter ? 0.0
                                 : lr * pow(1.0 - (double)iter / (double)s->max_iter, s->power);
        break;
    case HSI_LR_COSINE:
        lr = iter >= s->max_iter ? s->min_lr
                                 : s->min_lr + (lr - s->min_lr) *
                                                   (1.0 + cos(pi * (double)iter / (double)s->max_iter)) / 2.0;
        break;
    }
    if (iter < s->warmup)
        lr *= s->warmup_start + (1.0 - s->warmup_start) * (double)iter / (double)s->warmup;
    return (float)lr;
}

/* ---- reduce on plateau ----------------------------------------------------------------------- */

void hsi_plateau_init(hsi_plateau *p, const hsi_schedule *s)
{
    p->lr = s->base_lr;
    p->best = s->metric == HSI_PLATEAU_VAL_OA ? -INFINITY : INFINITY;
    p->bad = 0;
    p->cooldown = 0;
}

static int plateau_better(const hsi_schedule *s, double m, double best)
{
    int rel = s->threshold_mode == HSI_THRESHOLD_REL;
    if (s->metric == HSI_PLATEAU_VAL_OA)
        return rel ? m > best * (1.0 + s->threshold) : m > best + s->threshold;
    return rel ? m < best * (1.0 - s->threshold) : m < best - s->threshold;
}

int hsi_plateau_step(hsi_plateau *p, const hsi_schedule *s, double metric)
{
    if (plateau_better(s, metric, p->best)) {
        p->best = metric;
        p->bad = 0;
    } else {
        p->bad++;
    }
    if (p->cooldown > 0) {
        p->cooldown--;
        p->bad = 0;
    }
    if (p->bad <= s->patience) return 0;
    p->cooldown = s->cooldown;
    p->bad = 0;
    double cut = p->lr * s->factor;
    if (cut < s->min_lr) cut = s->min_lr;
    if (!(p->lr - cut > s->eps)) return 0;
    p->lr = cut;
    return 1;
}
