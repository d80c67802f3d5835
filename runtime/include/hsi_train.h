/* hsi_train.h — solvers (SGD, RMSProp, Adam, AdamW, Adagrad, Adadelta) over the hsi_param table, and learning-rate
 * schedules (pure functions of the iteration number).
 *
 * The solver never allocates per step, never prints and never exits. It updates every param
 * with grad != NULL whose lr scale is not 0; state tensors and frozen params (grad == NULL) are
 * never touched. Optimizer state (moments, per-param step counts) is exposed as named tensors
 * ("opt.m.<param>", "opt.v.<param>", "opt.t.<param>") so checkpoints can save and restore it
 * bit-exactly.
 *
 * Usage (one training loop):
 *
 *     hsi_solver_opts so = hsi_solver_defaults(HSI_SOLVER_SGD);
 *     so.momentum = 0.9f; so.weight_decay = 5e-4f;
 *     hsi_param *ps; int np = net->params(model, &ps);
 *     hsi_solver *s = hsi_solver_create(&so, ps, np, NULL, err, sizeof err);
 *     for (int64_t it = 0; it < iters; it++) {
 *         net->zero_grad(model); ... forward / loss_backward for each domain ...
 *         hsi_solver_step(s, hsi_schedule_lr(&sched, it));
 *     }
 *     hsi_solver_free(s);
 */
#ifndef HSI_TRAIN_H
#define HSI_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "hsi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- solvers --------------------------------------------------------------------------------
 * Per param i with grad g, value w, at base rate lr (the schedule's value for this step):
 *   lr_i = lr * p.lr_mult * lr_scale[i]      lr_scale: the caller's per-param factor (the shared
 *                                            block's 1/N, 0 for params inactive in this phase)
 *   wd_i = weight_decay * p.decay_mult
 * SGD, momentum_style CAFFE (Caffe's SGDSolver; the default, the contextual CNN's recipe):
 *   v = mu*v + lr_i*(g + wd_i*w);  w -= v
 *   nesterov:  v' = mu*v + lr_i*(g + wd_i*w);  w -= (1+mu)*v' - mu*v      (Caffe NesterovSolver)
 * SGD, momentum_style PYTORCH (torch.optim.SGD, dampening 0):
 *   v = mu*v + (g + wd_i*w);  w -= lr_i*v
 *   nesterov:  v = mu*v + (g + wd_i*w);  w -= lr_i*((g + wd_i*w) + mu*v)
 *   The two styles agree while lr is constant; when lr changes, Caffe's v still carries the old
 *   rate (the step taken right after a drop is larger than PyTorch's).
 * RMSPROP (Keras 2.0.x, as SSRN used it; torch.optim.RMSprop(alpha=rho, momentum=0,
 *   centered=False) computes the same thing):
 *   a = rho*a + (1-rho)*g'^2;  w -= lr_i * g' / (sqrt(a) + eps),   g' = g + wd_i*w
 *   Keras 2.0.x defaults rho 0.9, eps 1e-8 (later Keras versions default eps to K.epsilon() =
 *   1e-7); PyTorch defaults alpha 0.99, eps 1e-8. TensorFlow's ApplyRMSProp kernel puts eps
 *   inside the root (sqrt(a + eps)): that form is NOT offered. Keras's L2 kernel regularizer
 *   l2(c) adds c*sum(w^2) to the loss, i.e. weight_decay = 2c here.
 * ADAM (torch.optim.Adam, amsgrad off), t = this param's own update count (1 on the first step):
 *   g' = g + wd_i*w;  m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2
 *   w -= lr_i/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * ADAMW (torch.optim.AdamW): decoupled decay first, w *= 1 - lr_i*wd_i, then ADAM with wd 0.
 * ADAGRAD (torch.optim.Adagrad), t = this param's own update count, sum starts at
 *   initial_accumulator_value:
 *   g' = g + wd_i*w;  sum += g'^2;  w -= lr_i/(1 + (t-1)*lr_decay) * g' / (sqrt(sum) + eps)
 * ADADELTA (torch.optim.Adadelta), v and u start at 0:
 *   g' = g + wd_i*w;  v = rho*v + (1-rho)*g'^2;  d = sqrt(u + eps)/sqrt(v + eps) * g'
 *   u = rho*u + (1-rho)*d^2;  w -= lr_i*d
 * Every moment buffer starts at 0 (Adagrad's sum: initial_accumulator_value). Arithmetic is float32, in the order of the formulas above
 * (the same order as PyTorch's for-each-free implementation), so results match torch.optim
 * to a few ulps per step. */

typedef enum hsi_solver_type {
    HSI_SOLVER_SGD, HSI_SOLVER_RMSPROP, HSI_SOLVER_ADAM, HSI_SOLVER_ADAMW, HSI_SOLVER_ADAGRAD,
    HSI_SOLVER_ADADELTA
} hsi_solver_type;
#define HSI_SOLVER_LAST HSI_SOLVER_ADADELTA

typedef enum hsi_momentum_style {
    HSI_MOMENTUM_CAFFE,      /* lr inside the velocity (see above) */
    HSI_MOMENTUM_PYTORCH     /* lr outside the velocity */
} hsi_momentum_style;

typedef struct hsi_solver_opts {
    hsi_solver_type type;
    float momentum;                   /* SGD mu in [0, 1); 0 = plain SGD (no velocity buffer) */
    int nesterov;                     /* SGD: 1 = Nesterov momentum (needs momentum > 0) */
    hsi_momentum_style momentum_style;/* SGD only */
    float weight_decay;               /* >= 0; coupled (added to g) except AdamW (decoupled) */
    float rho;                        /* RMSProp / Adadelta decay of the running averages */
    float eps;                        /* denominator epsilon (all but SGD) */
    float beta1, beta2;               /* Adam / AdamW moment decays */
    float lr_decay;                   /* Adagrad: >= 0 */
    float initial_accumulator_value;  /* Adagrad: >= 0, the sum's start */
} hsi_solver_opts;

/* Defaults per type: momentum 0, nesterov 0, CAFFE style, weight_decay 0 (AdamW: 0.01, as
 * PyTorch), rho 0.9, eps 1e-8 (Adagrad 1e-10, Adadelta 1e-6, as PyTorch), beta1 0.9,
 * beta2 0.999, lr_decay 0, initial_accumulator_value 0. */
hsi_solver_opts hsi_solver_defaults(hsi_solver_type type);
/* "sgd", "rmsprop", "adam", "adamw", "adagrad", "adadelta" (the names, indexed by type: the
 * experiment schema reads and writes solver.type with this table); and back (-1 if unknown). */
extern const char *const hsi_solver_type_names[HSI_SOLVER_LAST + 1];
const char *hsi_solver_type_name(hsi_solver_type t);
int hsi_solver_type_parse(const char *s);

typedef struct hsi_solver hsi_solver;

/* params[0..n) must outlive the solver (it keeps the pointer). lr_scale: n floats or NULL
 * (all 1). Checks the options (ranges above); NULL with a message on error. */
hsi_solver *hsi_solver_create(const hsi_solver_opts *opts, hsi_param *params, int n,
                              const float *lr_scale, char *err, size_t errlen);
void hsi_solver_free(hsi_solver *s);
/* Replaces the per-param lr scales (n floats; NULL = all 1), e.g. at a phase change.
 * A param with scale 0 is left alone entirely: value, moments and step count do not change. */
void hsi_solver_set_lr_scale(hsi_solver *s, const float *lr_scale);
/* One update of every active param at base rate lr (lr_mult etc. applied inside). */
void hsi_solver_step(hsi_solver *s, float lr);
/* hsi_solver_step, and every param's gradient (frozen ones too) left zero: what zero_grad
 * would do before the next step, done by the update's own loops as they read the gradients
 * (SGD, RMSProp). The same weights and moments as hsi_solver_step. */
void hsi_solver_step_zero(hsi_solver *s, float lr);
/* Whether the last hsi_solver_step wrote a non-finite weight (NaN or an infinity): 1 yes, 0 no
 * (SGD and RMSProp check every value they write, in their own loops), -1 not known (the other
 * solvers, or no step yet: scan the parameters). */
int hsi_solver_nonfinite(const hsi_solver *s);
/* A state loaded into the solver that no training writes (0 / -1, the message names the
 * tensor): a negative second moment or accumulator (opt.v., opt.d.: sqrt of it is NaN at the
 * next step), a step count (opt.t.) that is not a whole number from 0 to hsi_solver_steps. */
int hsi_solver_check_state(const hsi_solver *s, char *err, size_t errlen);
/* Number of hsi_solver_step calls so far (restored by hsi_solver_set_steps on resume). */
int64_t hsi_solver_steps(const hsi_solver *s);
void hsi_solver_set_steps(hsi_solver *s, int64_t steps);

/* ---- solver state as named tensors ----------------------------------------------------------
 * SGD with momentum: "opt.m.<p>" (velocity). RMSProp: "opt.v.<p>" (squared-gradient average).
 * Adam/AdamW: "opt.m.<p>", "opt.v.<p>" and "opt.t.<p>" (this param's update count t, one
 * float: exact up to 2^24 updates). Adagrad: "opt.v.<p>" (the sum) and "opt.t.<p>". Adadelta:
 * "opt.d.<p>" (squared-update average) and "opt.v.<p>" (squared-gradient average). Only params the solver updates (grad != NULL) have state.
 * Shapes are the param's. */
typedef struct hsi_solver_tensor {
    const char *name;        /* "opt.m.trunk.0.conv1.weight" (owned by the solver) */
    int ndim;
    int64_t dims[5];
    int64_t numel;
    float *data;             /* the live buffer: read it to save, or restore through */
} hsi_solver_tensor;

/* The state tensors, in param order (m, v, t per param). Valid until hsi_solver_free. */
int hsi_solver_state(hsi_solver *s, const hsi_solver_tensor **out);
/* Copies one saved tensor into the state. Errors (0/-1): no such state tensor ("checkpoint
 * tensor 'opt.m.x' is not a state of this adam solver"), or a shape mismatch naming the tensor
 * and both shapes. */
int hsi_solver_load_tensor(hsi_solver *s, const char *name, int ndim, const int64_t *dims,
                           const float *data, char *err, size_t errlen);

/* ---- learning-rate schedules ----------------------------------------------------------------
 * lr(iter), iter = 0 for the first step (Caffe's convention): with STEP, stepsize 4000, gamma
 * 0.1, iterations 0..3999 use base and 4000..4999 use base/10.
 *   FIXED      base
 *   STEP       base * gamma^floor(iter / stepsize)                     (Caffe "step")
 *   MULTISTEP  base * gamma^(number of steps[k] <= iter)               (Caffe "multistep")
 *   EXP        base * gamma^iter                                       (Caffe "exp")
 *   POLY       base * (1 - iter/max_iter)^power, 0 from max_iter on    (Caffe "poly")
 *   COSINE     min_lr + (base - min_lr) * (1 + cos(pi * iter/max_iter)) / 2, min_lr from max_iter
 * Warmup (any policy): for iter < warmup, lr is multiplied by
 *   warmup_start + (1 - warmup_start) * iter / warmup
 * (linear from warmup_start*lr(0) towards the policy's value; the policy itself is not delayed,
 * as torch's LinearLR chained with another scheduler). Computed in double, returned as float.

 *   PLATEAU    the rate of hsi_plateau (below): base, cut by factor when the validation metric
 *              stops improving (torch.optim.lr_scheduler.ReduceLROnPlateau); warmup applies on top
 */
typedef enum hsi_lr_policy {
    HSI_LR_FIXED, HSI_LR_STEP, HSI_LR_MULTISTEP, HSI_LR_EXP, HSI_LR_POLY, HSI_LR_COSINE,
    HSI_LR_PLATEAU
} hsi_lr_policy;
#define HSI_LR_LAST HSI_LR_PLATEAU

/* PLATEAU: the metric watched (its mode: min for the loss, max for the accuracy) and how a
 * change counts (rel: relative to the best, abs: absolute). */
typedef enum hsi_plateau_metric { HSI_PLATEAU_VAL_LOSS, HSI_PLATEAU_VAL_OA } hsi_plateau_metric;
typedef enum hsi_threshold_mode { HSI_THRESHOLD_REL, HSI_THRESHOLD_ABS } hsi_threshold_mode;

#define HSI_LR_MAX_STEPS 32

typedef struct hsi_schedule {
    hsi_lr_policy policy;
    double base_lr;          /* > 0 */
    double gamma;            /* STEP, MULTISTEP, EXP: factor per step, (0, 1] usually */
    int64_t stepsize;        /* STEP: > 0 */
    int n_steps;             /* MULTISTEP: 1..HSI_LR_MAX_STEPS */
    int64_t steps[HSI_LR_MAX_STEPS]; /* MULTISTEP: strictly increasing iterations */
    double power;            /* POLY: > 0 */
    int64_t max_iter;        /* POLY, COSINE: > 0 (the trainer sets it to the phase's length) */
    double min_lr;           /* COSINE: floor, 0 <= min_lr <= base_lr */
    int64_t warmup;          /* iterations of linear warmup, 0 = none */
    double warmup_start;     /* warmup factor at iter 0, in [0, 1] */
    /* PLATEAU (min_lr above is its floor too) */
    hsi_plateau_metric metric;   /* val_loss (mode min) | val_oa (mode max) */
    double factor;           /* (0, 1): lr *= factor on a plateau (torch default 0.1) */
    int patience;            /* >= 0: validations without improvement tolerated (10) */
    double threshold;        /* >= 0 (1e-4) */
    hsi_threshold_mode threshold_mode;   /* rel (default) | abs */
    int cooldown;            /* >= 0: validations ignored after a cut (0) */
    double eps;              /* > 0: a cut smaller than this is not made (1e-8) */
} hsi_schedule;

/* FIXED at base_lr, gamma 0.1, power 1, no warmup, warmup_start 1/3 (torch LinearLR default);
 * plateau keys as torch's ReduceLROnPlateau: val_loss, factor 0.1, patience 10, threshold 1e-4
 * rel, cooldown 0, eps 1e-8. */
hsi_schedule hsi_schedule_defaults(double base_lr);
/* "fixed", "step", "multistep", "exp", "poly", "cosine", "plateau" (the names, indexed by policy: the
 * experiment schema reads and writes schedule.policy with this table); and back (-1 if unknown). */
extern const char *const hsi_lr_policy_names[HSI_LR_LAST + 1];
const char *hsi_lr_policy_name(hsi_lr_policy p);
int hsi_lr_policy_parse(const char *s);
/* 0 if the fields the policy uses are in range, else -1 with a message naming the field. */
int hsi_schedule_check(const hsi_schedule *s, char *err, size_t errlen);
/* 1 and a message naming the key when a setting of s never takes effect in a phase of iters
 * iterations (0..iters-1): a step (stepsize) or milestones (steps) at or past its end, a warmup
 * longer than it, a poly / cosine max_iter shorter than it (the rest run at 0 / min_lr); else 0.
 * For a warning: the training is what the schedule says, perhaps not what was meant. */
int hsi_schedule_unused(const hsi_schedule *s, int64_t iters, char *msg, size_t n);
/* The learning rate for iteration iter >= 0 (PLATEAU: base_lr with warmup; the trainer passes
 * a copy whose base_lr is hsi_plateau.lr). */
float hsi_schedule_lr(const hsi_schedule *s, int64_t iter);

/* ---- reduce on plateau ----------------------------------------------------------------------
 * torch's ReduceLROnPlateau.step(metric), once per validation:
 *   better = mode min: m < best*(1 - threshold) (rel) | m < best - threshold (abs)
 *            mode max: m > best*(1 + threshold) (rel) | m > best + threshold (abs)
 *   better: best = m, bad = 0; else bad++ (NaN is never better)
 *   cooldown > 0: cooldown--, bad = 0
 *   bad > patience: new = max(lr*factor, min_lr); if lr - new > eps: lr = new;
 *                   cooldown = s.cooldown; bad = 0
 * The state is plain numbers: the trainer saves it with the training state (resume is exact). */
typedef struct hsi_plateau {
    double lr;               /* the current base rate */
    double best;             /* +inf (min) / -inf (max) before the first validation */
    int bad;                 /* validations since the best */
    int cooldown;            /* validations of cooldown left */
} hsi_plateau;
void hsi_plateau_init(hsi_plateau *p, const hsi_schedule *s);
/* One validation's metric; returns 1 when the rate was cut. */
int hsi_plateau_step(hsi_plateau *p, const hsi_schedule *s, double metric);

#ifdef __cplusplus
}
#endif
#endif /* HSI_TRAIN_H */
