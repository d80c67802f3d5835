/* batcher.c — training batches (patches + labels, shuffled per epoch, augmented, always full)
 * made by a prefetch thread into two buffers while the caller's step runs, or, when the step's
 * OpenMP threads already take every CPU, in hsi_batcher_next on those threads; the sample stream
 * is a pure function of the seed and the cursor, so thread timing never changes it and a saved
 * cursor resumes bit-exactly. Also the in-order evaluation iterator. It does not standardise
 * (the cube is already) and does not balance classes. */
#define _GNU_SOURCE   /* sched_getaffinity */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsi_prep.h"

#ifdef _OPENMP
#include <omp.h>
/* produce()'s patch loop: split over OpenMP's threads unless on the prefetch thread */
#define BT_PAR _Pragma("omp parallel for schedule(static) num_threads(b->ntmp) if (!b->o.prefetch)")
#define BT_EVAL_PAR _Pragma("omp parallel for schedule(static)")
static int bt_thread(void) { return omp_get_thread_num(); }
static int bt_max_threads(void) { return omp_get_max_threads(); }
#else
#define BT_PAR
#define BT_EVAL_PAR
static int bt_thread(void) { return 0; }
static int bt_max_threads(void) { return 1; }
#endif

enum { AUG_KEY = 0x61756775 };   /* decorrelates augmentation draws from epoch permutations */

typedef struct slot {
    float *x;
    int32_t *y, *pix, *yw;
    hsi_batch batch;
    hsi_batcher_state after;   /* cursor once this batch is handed out */
    int ready;                 /* produced and not yet released by the caller */
} slot;

struct hsi_batcher {
    hsi_batcher_opts o;
    int32_t *index;            /* copy of o.index */
    int64_t epoch_size;
    size_t per;                /* floats per sample: bands * p * p */
    int32_t *perm;             /* producer's permutation of the epoch perm_epoch */
    uint64_t perm_epoch;
    int perm_valid;
    float *tmp;                /* an un-augmented patch per thread (ntmp) */
    int ntmp;
    int *tr;                   /* the batch's transforms */
    float *wtmp;               /* label_patch: a label window as floats, and its transform */
    slot slots[2];
    hsi_batcher_state prod;    /* cursor of the next batch to produce */
    hsi_batcher_state cons;    /* cursor after the batches handed out */
    int held, next_slot, fill_slot;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, quit;
};

static void make_perm(hsi_batcher *b, uint64_t epoch)
{
    if (b->perm_valid && b->perm_epoch == epoch)
        return;
    hsi_rng rng;
    hsi_rng_seed(&rng, hsi_hash64(b->o.seed, epoch));
    for (int64_t i = 0; i < b->epoch_size; i++)
        b->perm[i] = (int32_t)i;
    hsi_shuffle_i32(&rng, b->perm, b->epoch_size);
    b->perm_epoch = epoch;
    b->perm_valid = 1;
}

/* The label_patch window of window_labels centred on (r, c), -1 outside the scene, under the
 * sample's transform t (hsi_dihedral of the labels as floats: exact for any class index). */
static void label_window(hsi_batcher *b, int r, int c, int t, int32_t *out)
{
    const hsi_batcher_opts *o = &b->o;
    int L = o->label_patch, h = o->cube->h, w = o->cube->w;
    float *win = b->wtmp, *tw = b->wtmp + L * L;
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++) {
            int rr = r - L / 2 + i, cc = c - L / 2 + j;
            win[i * L + j] = rr < 0 || rr >= h || cc < 0 || cc >= w ? -1.0f
                           : (float)o->window_labels[(size_t)rr * (size_t)w + (size_t)cc];
        }
    if (t) hsi_dihedral(win, tw, 1, L, t);
    for (int k = 0; k < L * L; k++) out[k] = (int32_t)(t ? tw[k] : win[k]);
}

/* Fills s with the batch at cursor b->prod and advances b->prod. */
static void produce(hsi_batcher *b, slot *s)
{
    const hsi_batcher_opts *o = &b->o;
    hsi_batcher_state *st = &b->prod;
    for (int k = 0; k < o->batch; k++) {
        if (st->pos == (uint64_t)b->epoch_size) {
            st->epoch++;
            st->pos = 0;
        }
        make_perm(b, st->epoch);
        int64_t sample = b->perm[st->pos++];
        int32_t pix = b->index[sample % o->n];
        int t = 0;
        if (o->augment == HSI_AUG_EXPAND8)
            t = (int)(sample / o->n);
        else if (o->augment == HSI_AUG_RANDOM)
            t = (int)(hsi_hash64(o->seed ^ AUG_KEY, st->step * (uint64_t)o->batch + (uint64_t)k) & 7);
        int r = pix / o->cube->w, c = pix % o->cube->w;
        b->tr[k] = t;
        s->y[k] = o->labels[pix];
        s->pix[k] = pix;
        if (o->label_patch) label_window(b, r, c, t, s->yw + (size_t)k * (size_t)(o->label_patch * o->label_patch));
    }
    /* the patches: on the prefetch thread one after another, else split over OpenMP's */
    BT_PAR
    for (int k = 0; k < o->batch; k++) {
        int pix = s->pix[k], r = pix / o->cube->w, c = pix % o->cube->w;
        hsi_patch_dihedral(o->cube, r, c, o->patch, o->pad, b->tr[k], s->x + (size_t)k * b->per,
                           b->tmp + (size_t)bt_thread() * b->per);
    }
    st->step++;
    s->batch = (hsi_batch){s->x, s->y, s->pix, o->batch, o->label_patch ? s->yw : NULL};
    s->after = *st;
}

static void *worker(void *arg)
{
    hsi_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->quit) {
        slot *s = &b->slots[b->fill_slot];
        if (s->ready) {
            pthread_cond_wait(&b->cv, &b->mu);
            continue;
        }
        pthread_mutex_unlock(&b->mu);
        produce(b, s);
        pthread_mutex_lock(&b->mu);
        s->ready = 1;
        b->fill_slot ^= 1;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void stop(hsi_batcher *b)
{
    if (!b->running)
        return;
    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    b->running = 0;
    b->quit = 0;
}

/* Resets the buffers to cursor st and (re)starts the thread. */
static int start(hsi_batcher *b, const hsi_batcher_state *st)
{
    b->prod = b->cons = *st;
    b->slots[0].ready = b->slots[1].ready = 0;
    b->held = -1;
    b->next_slot = b->fill_slot = 0;
    if (!b->o.prefetch)
        return 0;
    if (pthread_create(&b->th, NULL, worker, b) != 0)
        return -1;
    b->running = 1;
    return 0;
}

/* A batch's values, 64-byte aligned: a model reads a full batch at such an address in place
 * (hsi_model_input_to) instead of copying it. */
static float *batch_floats(size_t n)
{
    return aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
}

hsi_batcher *hsi_batcher_create(const hsi_batcher_opts *o, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (!o->cube || (!o->cube->data && !o->cube->s16) || !o->labels || !o->index)
        bad = "cube, labels and index are required";
    else if (o->n < 1 || o->batch < 1)
        bad = "need n >= 1 samples and batch >= 1";
    else if (o->patch < 1 || o->patch % 2 == 0)
        bad = "the patch size must be odd";
    else if (o->augment == HSI_AUG_EXPAND8 && o->n > INT32_MAX / 8)
        bad = "too many samples for x8 expansion";
    else if (o->label_patch && (o->label_patch < 0 || o->label_patch % 2 == 0 ||
                                o->label_patch > o->patch || !o->window_labels))
        bad = "a label window must be odd, at most the patch, with its labels";
    if (bad) {
        if (err && errlen)
            snprintf(err, errlen, "batcher: %s", bad);
        return NULL;
    }
    for (int64_t i = 0; i < o->n; i++)
        if (o->index[i] < 0 || o->index[i] >= o->cube->h * o->cube->w || o->labels[o->index[i]] < 0) {
            if (err && errlen)
                snprintf(err, errlen, "batcher: sample %lld (pixel %d) is outside the scene or "
                         "unlabelled", (long long)i, (int)o->index[i]);
            return NULL;
        }
    hsi_batcher *b = calloc(1, sizeof *b);
    if (!b)
        goto oom;
    b->o = *o;
    b->epoch_size = o->augment == HSI_AUG_EXPAND8 ? 8 * o->n : o->n;
    b->per = (size_t)o->cube->bands * (size_t)o->patch * (size_t)o->patch;
    b->index = malloc(sizeof *b->index * (size_t)o->n);
    b->perm = malloc(sizeof *b->perm * (size_t)b->epoch_size);
    if (b->o.prefetch < 0) {
        /* A thread of its own only beside the step's threads, not on their CPUs: on 2 cores
         * with 2 OpenMP threads it took turns with them, and each of its turns held the other
         * thread at the step's next barrier (the contextual trainer, Salinas-A, 2 threads: the
         * whole run 0.88-0.93 of the time with the batches on the step's threads). CPUs: those
         * this process may run on (a Slurm job's cpuset, taskset), as OpenMP counts them. */
        cpu_set_t set;
        long cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                                : sysconf(_SC_NPROCESSORS_ONLN);
        const char *e = getenv("HSICC_BATCH_PREFETCH");
        b->o.prefetch = e && *e ? strcmp(e, "0") != 0 : cpus > bt_max_threads();
    }
    b->ntmp = b->o.prefetch ? 1 : bt_max_threads();
    b->tr = malloc(sizeof *b->tr * (size_t)o->batch);
    b->tmp = malloc(sizeof *b->tmp * b->per * (size_t)b->ntmp);
    b->wtmp = malloc(sizeof *b->wtmp * (size_t)(2 * o->label_patch * o->label_patch + 1));
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (!b->index || !b->perm || !b->tmp || !b->wtmp || !b->tr)
        goto oom;
    memcpy(b->index, o->index, sizeof *b->index * (size_t)o->n);
    if (b->per > SIZE_MAX / 2 / sizeof(float) / (size_t)o->batch)   /* the size would wrap */
        goto oom;
    for (int k = 0; k < 2; k++) {
        slot *s = &b->slots[k];
        s->x = batch_floats(b->per * (size_t)o->batch);
        s->y = malloc(sizeof *s->y * (size_t)o->batch);
        s->pix = malloc(sizeof *s->pix * (size_t)o->batch);
        s->yw = malloc(sizeof *s->yw * (size_t)(o->batch * o->label_patch * o->label_patch + 1));
        if (!s->x || !s->y || !s->pix || !s->yw)
            goto oom;
    }
    hsi_batcher_state st = {o->seed, 0, 0, 0};
    if (start(b, &st) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "batcher: cannot start the prefetch thread");
        hsi_batcher_free(b);
        return NULL;
    }
    return b;
oom:
    if (err && errlen)   /* the size it tried: the two prefetch slots of a batch dominate */
        snprintf(err, errlen, "batcher: out of memory: two batches of %d samples of %zu values "
                 "take %.0f bytes (lower train.batch)", o->batch,
                 (size_t)o->cube->bands * (size_t)o->patch * (size_t)o->patch,
                 2.0 * sizeof(float) * o->cube->bands * o->patch * o->patch * (double)o->batch);
    hsi_batcher_free(b);
    return NULL;
}

const hsi_batch *hsi_batcher_next(hsi_batcher *b)
{
    if (!b->o.prefetch) {
        produce(b, &b->slots[0]);
        b->cons = b->slots[0].after;
        return &b->slots[0].batch;
    }
    pthread_mutex_lock(&b->mu);
    if (b->held >= 0) {
        b->slots[b->held].ready = 0;
        pthread_cond_broadcast(&b->cv);
    }
    slot *s = &b->slots[b->next_slot];
    while (!s->ready)
        pthread_cond_wait(&b->cv, &b->mu);
    b->held = b->next_slot;
    b->next_slot ^= 1;
    b->cons = s->after;
    pthread_mutex_unlock(&b->mu);
    return &s->batch;
}

void hsi_batcher_get_state(const hsi_batcher *b, hsi_batcher_state *out)
{
    *out = b->cons;
}

int hsi_batcher_set_state(hsi_batcher *b, const hsi_batcher_state *s, char *err, size_t errlen)
{
    /* every batch takes the next B samples, over epoch ends: a cursor is where `step` batches
     * end, epoch * epoch_size + pos = step * B */
    const uint64_t E = (uint64_t)b->epoch_size, B = (uint64_t)b->o.batch;
    if (s->seed != b->o.seed || s->pos > E) {
        if (err && errlen)
            snprintf(err, errlen, "batcher: saved cursor (seed %llu, position %llu) does not fit "
                     "this batcher (seed %llu, %lld samples per epoch)",
                     (unsigned long long)s->seed, (unsigned long long)s->pos,
                     (unsigned long long)b->o.seed, (long long)b->epoch_size);
        return -1;
    }
    if (s->step > UINT64_MAX / B || s->epoch > (UINT64_MAX - s->pos) / E ||
        s->epoch * E + s->pos != s->step * B) {
        if (err && errlen)
            snprintf(err, errlen, "batcher: saved cursor (epoch %llu, position %llu) is not where "
                     "%llu batches of %llu end (%llu samples per epoch)",
                     (unsigned long long)s->epoch, (unsigned long long)s->pos,
                     (unsigned long long)s->step, (unsigned long long)B, (unsigned long long)E);
        return -1;
    }
    stop(b);
    if (start(b, s) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "batcher: cannot restart the prefetch thread");
        return -1;
    }
    return 0;
}

int hsi_batcher_prefetching(const hsi_batcher *b)
{
    return b->o.prefetch;
}

int64_t hsi_batcher_epoch_size(const hsi_batcher *b)
{
    return b->epoch_size;
}

void hsi_batcher_free(hsi_batcher *b)
{
    if (!b)
        return;
    stop(b);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    for (int k = 0; k < 2; k++) {
        free(b->slots[k].x);
        free(b->slots[k].y);
        free(b->slots[k].pix);
        free(b->slots[k].yw);
    }
    free(b->index);
    free(b->perm);
    free(b->tmp);
    free(b->tr);
    free(b->wtmp);
    free(b);
}

/* ---- evaluation iterator ------------------------------------------------------------------- */

int hsi_evaliter_init(hsi_evaliter *it, const hsi_cube *cube, const int32_t *labels,
                      const int32_t *index, int64_t n, int batch, int patch, hsi_pad pad,
                      char *err, size_t errlen)
{
    memset(it, 0, sizeof *it);
    if (!cube || !index || n < 0 || batch < 1 || patch < 1 || patch % 2 == 0) {
        if (err && errlen)
            snprintf(err, errlen, "evaluation iterator: bad arguments (batch %d, odd patch %d)",
                     batch, patch);
        return -1;
    }
    size_t per = (size_t)cube->bands * (size_t)patch * (size_t)patch;
    it->x = per <= SIZE_MAX / 2 / sizeof(float) / (size_t)batch ? batch_floats(per * (size_t)batch)
                                                                : NULL;   /* the size would wrap */
    it->y = malloc(sizeof *it->y * (size_t)batch);
    if (!it->x || !it->y) {
        hsi_evaliter_free(it);
        if (err && errlen)
            snprintf(err, errlen, "evaluation iterator: out of memory: a batch of %d samples of "
                     "%zu values takes %.0f bytes (lower train.batch)", batch, per,
                     (double)sizeof(float) * (double)per * batch);
        return -1;
    }
    it->cube = cube;
    it->labels = labels;
    it->index = index;
    it->n = n;
    it->batch = batch;
    it->patch = patch;
    it->pad = pad;
    return 0;
}

const hsi_batch *hsi_evaliter_next(hsi_evaliter *it)
{
    if (it->pos >= it->n)
        return NULL;
    int64_t m = it->n - it->pos < it->batch ? it->n - it->pos : it->batch;
    const int32_t *pix = it->index + it->pos;
    size_t per = (size_t)it->cube->bands * (size_t)it->patch * (size_t)it->patch;
    int w = it->cube->w;
    /* the caller waits for the batch: its patches on OpenMP's threads, as hsi_patches makes them */
    BT_EVAL_PAR
    for (int64_t k = 0; k < m; k++)
        hsi_patch(it->cube, pix[k] / w, pix[k] % w, it->patch, it->pad, it->x + (size_t)k * per);
    for (int64_t k = 0; k < m; k++)
        it->y[k] = it->labels ? it->labels[pix[k]] : -1;
    it->pos += m;
    it->cur = (hsi_batch){it->x, it->y, pix, (int)m, NULL};
    return &it->cur;
}

void hsi_evaliter_free(hsi_evaliter *it)
{
    free(it->x);
    free(it->y);
    memset(it, 0, sizeof *it);
}
