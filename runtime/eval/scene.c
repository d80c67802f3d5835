/* scene.c — runs a net's whole-scene inference program (hsi.h: hsi_scene_prog) over a scene
 * read by rows: PIXEL ops on row blocks of the padded scene, WINDOW ops on row tiles with their
 * halo, PATCH ops on batches of crops. See hsi_infer.h for the contract.
 *
 * Rows: the padded scene has h + p - 1 rows and wp = w + p - 1 columns; padded row g holds scene
 * row hsi_pad_index(g - p/2) (zero when -1 or outside). A tile of th output rows starting at row
 * r0 needs padded rows r0 .. r0 + th + p - 2 of every map later ops read ("stores"); blocks of th
 * rows are computed once each, aligned so that each new tile needs exactly one new block, and
 * the last p - 1 rows of a store move to its top between tiles. Every map of a scene op with
 * patch-net spatial size sh x sw is, for the tile, [lead, th + sh - 1, w + sw - 1], and the crop
 * of pixel (r0 + i, c) starts at row i, column c: that is why no offsets appear below.
 * It does not read files, standardise or write results (the caller's callbacks do).
 */
#if !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L
#error "hsicc's runtime is C11 (aligned_alloc, _Atomic, _Thread_local): compile it with -std=c11, gnu11 or later"
#endif
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_kernels.h"
#include "hsi_prep.h"
#include "hsi_infer.h"
#include "hsi_io.h"

typedef struct sc_op {
    const hsi_scene_op *t;
    hsi_op *k;                 /* the kernel (NULL: alias of its input, or the input) */
    hsi_op *post;              /* ReLU of a folded BN (in place), or reshape to the map's rank */
    hsi_op *plain;             /* to plain, for maps that are stored or cropped */
    const hsi_layout *lay;     /* output layout as later ops of its region see it */
    int alias;                 /* its output is input 0's memory (views, folded BN, dropout) */
    int own;                   /* bytes of its own buffer in its region's arena (0: none) */
    size_t off, raw_off;       /* arena offsets: output, conv output before `post` reshape */
    size_t raw_bytes;
    float *out, *raw;
    float *wf, *bf;            /* BN folded into this conv/dense */
    int64_t lead;              /* product of the non-spatial dims of the patch-net shape */
    int rows, cols;            /* spatial extent of its tile map (scene regions) */
    int stored;                /* PIXEL op read by a WINDOW/PATCH op or the logits */
    float *store, *staging;    /* [lead, th + p - 1, wp] plain; block output made plain */
    int own_staging;
    const hsi_layout *store_lay;
    int cropped;               /* scene op read by a PATCH op */
    float *crop;               /* [batch, dims...] plain */
    const hsi_layout *crop_lay;
    int tiled;                 /* WINDOW op cropped, or the logits outside PIXEL: */
    float *tile;               /* its map (or batch) in plain layout */
} sc_op;

struct hsi_infer {
    const hsi_netdesc *net;
    hsi_model *m;
    int domain;
    const hsi_scene_prog *prog;
    int n;                     /* ops */
    sc_op *op;
    hsi_rt *rt;
    hsi_param *ps;
    int h, w, p, half, wp, th, bands, k, pad, batch, force;
    int patches;               /* hsi_infer_patches_create: every op per patch */
    hsi_scene_op *ops_copy;    /* the table with every region PATCH (patches mode) */
    float *block;              /* PIXEL input: [bands, th, wp] */
    float *row;                /* one scene row [bands, w] */
    int row_r;                 /* which row is in `row`, -1 none */
    int *colmap;               /* padded column -> scene column or -1 */
    float *z;                  /* logits of a tile [th * w, k] */
    void *arena[3];
    size_t arena_bytes[3], bytes;
    int next_g;                /* first padded row of the next block */
    char *err;                 /* create's message buffer: a buffer refused (xcalloc) */
    size_t errlen;
    int refused;
    const char *name;          /* hsi_infer_opts.name */
};

static void run_op(hsi_infer *s, int i);
static int affordable(hsi_infer *s, int64_t bytes);

int hsi_cube_rows(void *cube, int r0, int n, float *dst, char *err, size_t errlen)
{
    const hsi_cube *c = cube;
    (void)err, (void)errlen;
    for (int b = 0; b < c->bands; b++)
        hsi_cube_span(c, b, (size_t)r0 * c->w, (size_t)n * c->w, dst + (size_t)b * n * c->w);
    return 0;
}

static int region(const hsi_infer *s, int i) { return s->op[i].t->region; }

/* Layout dims of op i's map: scene regions [1, lead dims..., rows, cols]; PATCH [batch, dims]. */
static int map_dims(const hsi_scene_op *t, int64_t n, int rows, int cols, int64_t *d)
{
    d[0] = n;
    if (t->region == HSI_REGION_PATCH) {
        for (int j = 0; j < t->ndim; j++) d[j + 1] = t->dims[j];
        return t->ndim + 1;
    }
    if (t->ndim == 4) {
        d[1] = t->dims[0], d[2] = t->dims[1], d[3] = rows, d[4] = cols;
        return 5;
    }
    /* [F] and (the input of a spectral net) [C, L]: every value of the pixel is a channel */
    d[1] = t->ndim == 2 ? t->dims[0] * t->dims[1] : t->dims[0], d[2] = rows, d[3] = cols;
    return 4;
}

static int fail(hsi_infer *s, const char *layer, char *err, size_t errlen)
{
    snprintf(err, errlen, "scene inference: layer '%s': %s", layer, hsi_rt_error(s->rt));
    return -1;
}

/* The pointer and layout op j's output has for a reader in region r. */
static float *src_of(hsi_infer *s, int j, int r)
{
    sc_op *q = &s->op[j];
    if (r == HSI_REGION_PATCH && q->t->region != HSI_REGION_PATCH) return q->crop;
    if (r == HSI_REGION_WINDOW && q->t->region == HSI_REGION_PIXEL) return q->store;
    return q->out;
}

static const hsi_layout *lay_of(hsi_infer *s, int j, int r)
{
    sc_op *q = &s->op[j];
    if (r == HSI_REGION_PATCH && q->t->region != HSI_REGION_PATCH) return q->crop_lay;
    if (r == HSI_REGION_WINDOW && q->t->region == HSI_REGION_PIXEL) return q->store_lay;
    return q->lay;
}

static void conv_desc(const hsi_scene_op *t, hsi_conv_desc *d)
{
    memset(d, 0, sizeof *d);
    d->nsp = t->nsp;
    d->out_ch = t->out_ch;
    d->groups = t->groups > 0 ? t->groups : 1;
    d->bias = t->bias;
    for (int a = 0; a < 3; a++) {
        d->kernel[a] = t->kernel[a], d->stride[a] = t->stride[a], d->dilation[a] = t->dilation[a];
        d->pad_lo[a] = t->pad_lo[a], d->pad_hi[a] = t->pad_hi[a];
    }
}

/* BN op b folded into conv/dense c: weights scaled, bias shifted, once. */
static int fold_weights(hsi_infer *s, sc_op *c, const hsi_scene_op *b)
{
    const hsi_param *w = &s->ps[c->t->param[0]];
    int64_t out = c->t->out_ch;
    c->wf = malloc(sizeof(float) * (size_t)w->numel);
    c->bf = malloc(sizeof(float) * (size_t)out);
    if (!c->wf || !c->bf) return -1;
    hsi_fold_bn(out, w->numel / out, w->value, c->t->param[1] >= 0 ? s->ps[c->t->param[1]].value : NULL,
                s->ps[b->param[0]].value, s->ps[b->param[1]].value, s->ps[b->param[2]].value,
                s->ps[b->param[3]].value, b->eps, c->wf, c->bf);
    return 0;
}

static int create_op(hsi_infer *s, int i, char *err, size_t errlen)
{
    sc_op *o = &s->op[i];
    const hsi_scene_op *t = o->t;
    int r = t->region;
    int64_t n = r == HSI_REGION_PATCH ? s->batch : 1, d[5];
    int nd = map_dims(t, n, o->rows, o->cols, d);
    const hsi_layout *in = t->n_in ? lay_of(s, t->in[0], r) : NULL;
    hsi_rt *rt = s->rt;
    switch (t->kind) {
    case HSI_SOP_INPUT:
        o->lay = hsi_layout_plain(rt, nd, d);
        if (!o->lay) return fail(s, t->name, err, errlen);
        return 0;
    case HSI_SOP_CONV:
    case HSI_SOP_DENSE: {
        if (t->kind == HSI_SOP_DENSE && r == HSI_REGION_PATCH) {
            o->k = hsi_dense_create(rt, in, t->out_ch, t->bias, 0, 0);
        } else {
            hsi_conv_desc cd;
            conv_desc(t, &cd);
            o->k = hsi_conv_create(rt, in, &cd, 0, 0);
        }
        if (!o->k) return fail(s, t->name, err, errlen);
        o->lay = hsi_op_dst(o->k);
        if (hsi_layout_ndim(o->lay) != nd) {   /* a covering conv3d standing for a dense */
            o->post = hsi_reshape_create(rt, o->lay, nd, d);
            if (!o->post) return fail(s, t->name, err, errlen);
            if (!hsi_op_is_view(o->post)) o->raw_bytes = hsi_layout_bytes(o->lay);
            o->lay = hsi_op_dst(o->post);
        }
        if (t->fold >= 0 && fold_weights(s, o, s->op[t->fold].t))
            return snprintf(err, errlen, "scene inference: out of memory"), -1;
        return 0;
    }
    case HSI_SOP_BN:
        if (t->fold) {   /* computed by the conv before it */
            o->alias = 1;
            o->lay = in;
            if (t->relu && !(o->post = hsi_act_create(rt, in, HSI_ACT_RELU, 0.0f)))
                return fail(s, t->name, err, errlen);
            return 0;
        }
        o->k = hsi_bn_create(rt, in, t->eps, t->relu);
        break;
    case HSI_SOP_ACT: o->k = hsi_act_create(rt, in, (hsi_act_kind)t->act, t->alpha); break;
    case HSI_SOP_IDENTITY:
        o->alias = 1;
        o->lay = in;
        return 0;
    case HSI_SOP_POOL:
    case HSI_SOP_POOL_CEIL: {
        hsi_pool_desc pd;
        memset(&pd, 0, sizeof pd);
        pd.nsp = t->nsp, pd.max = t->max, pd.count_include_pad = t->count_include_pad;
        for (int a = 0; a < 3; a++)
            pd.kernel[a] = t->kernel[a], pd.stride[a] = t->stride[a], pd.pad_lo[a] = t->pad_lo[a],
            pd.pad_hi[a] = t->pad_hi[a];
        o->k = hsi_pool_create_ceil(rt, in, &pd, t->kind == HSI_SOP_POOL_CEIL ? t->dilation : NULL);
        break;
    }
    case HSI_SOP_RESHAPE:
        o->k = hsi_reshape_create(rt, in, nd, d);
        if (o->k && hsi_op_is_view(o->k)) o->alias = 1;
        break;
    case HSI_SOP_CONCAT: {
        const hsi_layout *ls[64];
        if (t->n_in > 64) return snprintf(err, errlen, "scene inference: %s: too many inputs", t->name), -1;
        for (int j = 0; j < t->n_in; j++) ls[j] = lay_of(s, t->in[j], r);
        o->k = hsi_concat_create(rt, t->n_in, ls);
        break;
    }
    case HSI_SOP_ADD:
        o->k = hsi_add_create(rt, in, lay_of(s, t->in[1], r), t->relu);
        break;
    case HSI_SOP_LRN: o->k = hsi_lrn_create(rt, in, t->kernel[0], t->alpha, t->beta, t->k); break;
    case HSI_SOP_CROP: {
        hsi_crop_desc cd = {t->nsp, {0}, {0}};
        for (int a = 0; a < 3; a++) cd.offset[a] = t->pad_lo[a], cd.size[a] = t->kernel[a];
        o->k = hsi_crop_create(rt, in, &cd);
        break;
    }
    case HSI_SOP_PRELU: o->k = hsi_prelu_create(rt, in, t->out_ch); break;
    case HSI_SOP_SOFTMAX: o->k = hsi_softmax_create(rt, in); break;
    case HSI_SOP_PERMUTE:
        o->k = hsi_permute_create(rt, in, t->ndim, t->seq);
        break;
    case HSI_SOP_RNN: {
        hsi_rnn_desc rd = {t->seq[0], t->out_ch, t->seq[1], t->seq[2], t->bias};
        o->k = hsi_rnn_create(rt, in, &rd, 0, 0);
        break;
    }
    default:
        return snprintf(err, errlen, "scene inference: %s: unknown op kind %d", t->name, t->kind), -1;
    }
    if (!o->k) return fail(s, t->name, err, errlen);
    o->lay = hsi_op_dst(o->k);
    return 0;
}

/* Arena of one region: every op with its own output, live from its step to its last reader's
 * (to the end of the region for maps that are stored, cropped or the logits). */
static int plan_region(hsi_infer *s, int r)
{
    int n = 0;
    hsi_buf *b = calloc((size_t)s->n * 2 + 1, sizeof *b);
    int *owner = malloc(sizeof *owner * (size_t)s->n);
    size_t *off = calloc((size_t)s->n * 2 + 1, sizeof *off);
    if (!b || !owner || !off) return free(b), free(owner), free(off), -1;
    for (int i = 0; i < s->n; i++) {
        sc_op *o = &s->op[i];
        owner[i] = -1;
        if (region(s, i) != r) continue;
        if (o->alias) {
            int j = o->t->in[0];
            owner[i] = region(s, j) == r ? owner[j] : -1;
        } else if (o->t->kind != HSI_SOP_INPUT || r != HSI_REGION_PIXEL) {
            b[n] = (hsi_buf){hsi_layout_bytes(o->lay), i, i};
            owner[i] = n++;
        }
        if (o->raw_bytes) b[n++] = (hsi_buf){o->raw_bytes, i, i};
        for (int j = 0; j < o->t->n_in; j++) {
            int q = owner[o->t->in[j]];
            if (q >= 0 && b[q].last < i) b[q].last = i;
        }
        if ((o->stored || o->cropped || o->tiled || i == s->prog->logits) && owner[i] >= 0)
            b[owner[i]].last = s->n;
    }
    size_t bytes = hsi_arena_plan(n, b, 64, off);
    if (!affordable(s, bytes <= INT64_MAX - 63 ? (int64_t)bytes : -1))
        return free(b), free(owner), free(off), -1;
    s->arena[r] = bytes ? aligned_alloc(64, (bytes + 63) / 64 * 64) : NULL;
    if (bytes && !s->arena[r]) return free(b), free(owner), free(off), -1;
    if (bytes) memset(s->arena[r], 0, bytes);
    s->arena_bytes[r] = bytes;
    s->bytes += bytes;
    for (int i = 0, k = 0; i < s->n; i++) {
        sc_op *o = &s->op[i];
        if (region(s, i) != r) continue;
        if (!o->alias && (o->t->kind != HSI_SOP_INPUT || r != HSI_REGION_PIXEL))
            o->out = (float *)((char *)s->arena[r] + off[k++]);
        if (o->raw_bytes) o->raw = (float *)((char *)s->arena[r] + off[k++]);
    }
    free(b), free(owner), free(off);
    return 0;
}

/* bytes of a buffer of a * b * c * d floats, or -1 when that overflows */
static int64_t floats(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t n = (int64_t)sizeof(float);
    hsi_mem_mul(&n, a), hsi_mem_mul(&n, b), hsi_mem_mul(&n, c), hsi_mem_mul(&n, d);
    return n;
}

/* 1 when the process can take `bytes` more on top of what create holds (s->bytes); else 0 with
 * the message in create's err, naming the scene, the tile and the batch that decide the sizes
 * (a caller's h, w or batch past memory was an allocation the kernel overcommitted and the OOM
 * killer ended, or "out of memory" naming nothing). Buffers under 1 MiB are not checked on their
 * own: they count with the next one. */
static int affordable(hsi_infer *s, int64_t bytes)
{
    if (s->refused) return 0;
    if (bytes >= 0 && bytes < ((int64_t)1 << 20)) return 1;
    int64_t need = (int64_t)s->bytes;
    hsi_mem_add(&need, bytes);
    char what[600];
    if (s->patches)
        snprintf(what, sizeof what, "patch inference in batches of %d patches of %d bands",
                 s->batch, s->bands);
    else
        snprintf(what, sizeof what, "scene inference%s%s%s of a %d x %d scene (rows x columns) of "
                 "%d bands, tiles of %d rows%s", s->name ? " (" : "", s->name ? s->name : "",
                 s->name ? ")" : "", s->h, s->w, s->bands, s->th,
                 s->force ? ", batches of patches" : "");
    if (s->force && !s->patches) {
        size_t k = strlen(what);
        snprintf(what + k, sizeof what - k, " of %d", s->batch);
    }
    if (!hsi_mem_check(need, (int64_t)s->bytes, what, s->err, s->errlen)) return 1;
    s->refused = 1;
    return 0;
}

static void *xcalloc(hsi_infer *s, int64_t bytes)
{
    if (!affordable(s, bytes)) return NULL;
    s->bytes += (size_t)bytes;
    return calloc(1, bytes ? (size_t)bytes : 1);
}

static hsi_infer *create(const hsi_netdesc *net, hsi_model *m, int domain, int h, int w,
                         const hsi_infer_opts *o, int patches, char *err, size_t errlen)
{
    const hsi_domain *dm = &net->domains[domain];
    hsi_infer *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, errlen, "scene inference: out of memory"), NULL;
    s->net = net, s->m = m, s->domain = domain, s->h = h, s->w = w, s->patches = patches;
    s->err = err, s->errlen = errlen, s->name = o->name;
    s->p = dm->patch, s->half = dm->patch / 2, s->wp = w + dm->patch - 1;
    s->bands = dm->bands, s->k = dm->classes, s->pad = o->pad;
    /* a per-pixel loss's logits are the centre of a map: only the patch net (forward, logits)
     * gives them */
    s->force = o->force_patch || !net->scene || dm->label_patch;
    s->batch = o->batch > 0 ? o->batch : 128;
    s->prog = net->scene ? &net->scene[domain] : NULL;
    int px = o->tile_pixels > 0 ? o->tile_pixels : 1024;
    s->th = px / s->wp > 0 ? px / s->wp : 1;
    if (s->th > h) s->th = h;
    s->row_r = -1;
    int R = s->th + s->p - 1;
    s->colmap = malloc(sizeof *s->colmap * (size_t)s->wp);
    s->row = xcalloc(s, floats(s->bands, w, 1, 1));
    s->block = xcalloc(s, floats(s->bands, s->th, s->wp, 1));
    s->z = xcalloc(s, floats(s->th, w, s->k, 1));
    if (!s->colmap || !s->row || !s->block || !s->z) goto oom;
    for (int x = 0; x < s->wp; x++) s->colmap[x] = hsi_pad_index(x - s->half, w, (hsi_pad)s->pad);
    if (s->force) {   /* the patch net: the input's store and batches of patches */
        s->op = calloc(1, sizeof *s->op);
        if (!s->op) goto oom;
        s->op[0].store = xcalloc(s, floats(s->bands, R, s->wp, 1));
        s->op[0].crop = xcalloc(s, floats(s->batch, s->bands, s->p, s->p));
        if (!s->op[0].store || !s->op[0].crop) goto oom;
        return s;
    }
    s->n = s->prog->n_ops;
    s->op = calloc((size_t)s->n, sizeof *s->op);
    if (patches) {   /* every op per patch: the patch net, from the same table */
        s->ops_copy = malloc(sizeof *s->ops_copy * (size_t)s->n);
        if (!s->ops_copy) goto oom;
        memcpy(s->ops_copy, s->prog->ops, sizeof *s->ops_copy * (size_t)s->n);
        for (int i = 0; i < s->n; i++) s->ops_copy[i].region = HSI_REGION_PATCH;
    }
    s->rt = hsi_rt_create(o->backend);
    if (!s->op) goto oom;
    if (!s->rt) {
        snprintf(err, errlen, "scene inference: %s", hsi_rt_create_failure(o->backend));
        goto fail;
    }
    net->params(m, &s->ps);
    for (int i = 0; i < s->n; i++) {
        sc_op *q = &s->op[i];
        q->t = s->ops_copy ? &s->ops_copy[i] : &s->prog->ops[i];
        const hsi_scene_op *t = q->t;
        q->lead = t->ndim >= 3 ? t->dims[0] * (t->ndim == 4 ? t->dims[1] : 1)
                : t->dims[0] * (t->ndim == 2 ? t->dims[1] : 1);
        q->rows = t->region == HSI_REGION_PIXEL ? s->th : s->th + t->sh - 1;
        q->cols = t->region == HSI_REGION_PIXEL ? s->wp : w + t->sw - 1;
        for (int j = 0; j < t->n_in; j++) {
            sc_op *src = &s->op[t->in[j]];
            if (src->t->region == HSI_REGION_PIXEL && t->region != HSI_REGION_PIXEL) src->stored = 1;
            if (src->t->region != HSI_REGION_PATCH && t->region == HSI_REGION_PATCH) src->cropped = 1;
        }
    }
    sc_op *lg = &s->op[s->prog->logits];
    if (lg->t->region == HSI_REGION_PIXEL) lg->stored = 1;
    /* stores and crops first: later ops' layouts refer to them */
    for (int i = 0; i < s->n; i++) {
        sc_op *q = &s->op[i];
        int64_t d[5];
        if (q->stored) {
            int nd = map_dims(q->t, 1, R, s->wp, d);
            q->store_lay = hsi_layout_plain(s->rt, nd, d);
            q->store = xcalloc(s, floats(q->lead, R, s->wp, 1));
            if (!q->store_lay || !q->store) goto oom;
        }
        if (q->cropped) {
            hsi_scene_op pt = *q->t;
            pt.region = HSI_REGION_PATCH;
            int nd = map_dims(&pt, s->batch, 0, 0, d);
            q->crop_lay = hsi_layout_plain(s->rt, nd, d);
            q->crop = q->crop_lay ? xcalloc(s, (int64_t)hsi_layout_bytes(q->crop_lay)) : NULL;
            if (!q->crop_lay || !q->crop) goto oom;
        }
    }
    for (int i = 0; i < s->n; i++)
        if (create_op(s, i, err, errlen)) goto fail;
    /* maps read outside their region (or the logits) in plain layout */
    for (int i = 0; i < s->n; i++) {
        sc_op *q = &s->op[i];
        int want = q->stored || (q->t->region == HSI_REGION_WINDOW && q->cropped) ||
                   (i == s->prog->logits && q->t->region != HSI_REGION_PIXEL);
        if (!want) continue;
        q->plain = hsi_plain_create(s->rt, q->lay);
        if (!q->plain) {
            fail(s, q->t->name, err, errlen);
            goto fail;
        }
        if (!hsi_op_is_view(q->plain)) {
            q->staging = xcalloc(s, (int64_t)hsi_layout_bytes(q->lay));
            if (!q->staging) goto oom;
            q->own_staging = 1;
        }
        if (!q->stored) q->tiled = 1;   /* q->tile is set once the arenas are placed */
    }
    for (int r = 0; r < 3; r++)
        if (plan_region(s, r)) goto oom;
    if (!patches) s->op[0].out = s->block;
    for (int i = 0; i < s->n; i++) {   /* aliases and views: their input's memory */
        sc_op *q = &s->op[i];
        if (q->alias) q->out = src_of(s, q->t->in[0], q->t->region);
        if (q->tiled) q->tile = q->own_staging ? q->staging : q->out;
        if (q->stored && !q->staging) q->staging = q->out;
    }
    return s;
oom:
    if (!s->refused) snprintf(err, errlen, "scene inference: out of memory (%zu bytes held)", s->bytes);
fail:
    hsi_infer_free(s);
    return NULL;
}

hsi_infer *hsi_infer_create(const hsi_netdesc *net, hsi_model *m, int domain, int h, int w,
                            const hsi_infer_opts *o, char *err, size_t errlen)
{
    if (h < 1 || w < 1)
        return snprintf(err, errlen, "scene inference: a %d x %d scene has no pixel", h, w), NULL;
    /* the padded scene is (h + patch - 1) x (w + patch - 1) in int: a header's 2^31 - 2 samples
     * overflowed it (UB) and came out as "out of memory (25769803704 bytes held)" */
    int patch = net->domains[domain].patch;
    if (h > INT_MAX - patch || w > INT_MAX - patch)
        return snprintf(err, errlen, "scene inference: a %d x %d scene padded for %d x %d patches "
                        "has more than %d rows or columns", h, w, patch, patch, INT_MAX), NULL;
    hsi_infer *s = create(net, m, domain, h, w, o, 0, err, errlen);
    if (!s || o->tile_pixels > 0 || s->force || s->th == 1) return s;
    /* the default tile: as large as the memory budget lets the row arenas be */
    size_t rows = s->arena_bytes[HSI_REGION_PIXEL] + s->arena_bytes[HSI_REGION_WINDOW];
    if (rows <= HSI_INFER_BUDGET) return s;
    hsi_infer_opts o2 = *o;
    o2.tile_pixels = (int)((double)s->th * s->wp * HSI_INFER_BUDGET / (double)rows);
    if (o2.tile_pixels < 1) o2.tile_pixels = 1;
    hsi_infer_free(s);
    return create(net, m, domain, h, w, &o2, 0, err, errlen);
}

hsi_infer *hsi_infer_patches_create(const hsi_netdesc *net, hsi_model *m, int domain,
                                    const hsi_infer_opts *o, char *err, size_t errlen)
{
    if (!net->scene)
        return snprintf(err, errlen, "net %s has no inference program (rebuild it with hsicc)", net->name), NULL;
    if (net->domains[domain].label_patch)
        return snprintf(err, errlen, "net %s: its logits are the centre of a per-pixel loss's map: "
                        "classify patches with its forward", net->name), NULL;
    hsi_infer_opts po = *o;
    po.force_patch = 0;
    return create(net, m, domain, 1, 1, &po, 1, err, errlen);
}

int hsi_infer_patches(hsi_infer *s, const float *x, int64_t n, float *logits, char *err,
                      size_t errlen)
{
    if (!s->patches)
        return snprintf(err, errlen, "scene inference: not created by hsi_infer_patches_create"), -1;
    const hsi_scene_op *t0 = s->op[0].t;
    int64_t per = 1;
    for (int j = 0; j < t0->ndim; j++) per *= t0->dims[j];
    sc_op *lg = &s->op[s->prog->logits];
    for (int64_t i0 = 0; i0 < n; i0 += s->batch) {
        int64_t nb = n - i0 < s->batch ? n - i0 : s->batch;
        memcpy(s->op[0].out, x + i0 * per, sizeof(float) * (size_t)(nb * per));
        for (int i = 1; i < s->n; i++) run_op(s, i);
        if (lg->tile != lg->out) hsi_plain_forward(lg->plain, lg->out, lg->tile);
        memcpy(logits + i0 * s->k, lg->tile, sizeof(float) * (size_t)(nb * s->k));
    }
    return 0;
}

void hsi_infer_free(hsi_infer *s)
{
    if (!s) return;
    for (int i = 0; i < (s->n ? s->n : (s->op ? 1 : 0)); i++) {
        sc_op *q = &s->op[i];
        free(q->wf), free(q->bf), free(q->crop), free(q->store);
        if (q->own_staging) free(q->staging);
    }
    for (int r = 0; r < 3; r++) free(s->arena[r]);
    if (s->rt) hsi_rt_destroy(s->rt);
    free(s->op), free(s->ops_copy), free(s->colmap), free(s->row), free(s->block), free(s->z);
    free(s);
}

int hsi_infer_tile_rows(const hsi_infer *s) { return s->th; }
int hsi_infer_kind(const hsi_infer *s) { return s->force ? -1 : s->prog->kind; }
size_t hsi_infer_bytes(const hsi_infer *s) { return s->bytes; }

/* ---- running ------------------------------------------------------------------------------ */

static void run_op(hsi_infer *s, int i)
{
    sc_op *o = &s->op[i];
    const hsi_scene_op *t = o->t;
    int r = t->region;
    const float *x = t->n_in ? src_of(s, t->in[0], r) : NULL;
    float *dst = o->raw ? o->raw : o->out;
    const float *w = t->param[0] >= 0 ? s->ps[t->param[0]].value : NULL;
    const float *b = t->param[1] >= 0 ? s->ps[t->param[1]].value : NULL;
    switch (t->kind) {
    case HSI_SOP_CONV:
    case HSI_SOP_DENSE:
        if (o->wf) w = o->wf, b = o->bf;
        if (t->kind == HSI_SOP_DENSE && r == HSI_REGION_PATCH) hsi_dense_forward(o->k, x, w, b, dst);
        else hsi_conv_forward(o->k, x, w, b, dst);
        if (o->raw) hsi_reshape_forward(o->post, o->raw, o->out);   /* else a view */
        return;
    case HSI_SOP_BN:
        if (t->fold) {
            if (o->post) hsi_act_forward(o->post, o->out, o->out);
            return;
        }
        hsi_bn_infer(o->k, x, w, b, s->ps[t->param[2]].value, s->ps[t->param[3]].value, o->out);
        return;
    case HSI_SOP_ACT: hsi_act_forward(o->k, x, o->out); return;
    case HSI_SOP_POOL:
    case HSI_SOP_POOL_CEIL: hsi_pool_infer(o->k, x, o->out); return;
    case HSI_SOP_RESHAPE:
        if (!o->alias) hsi_reshape_forward(o->k, x, o->out);
        return;
    case HSI_SOP_CONCAT: {
        const float *xs[64];
        for (int j = 0; j < t->n_in; j++) xs[j] = src_of(s, t->in[j], r);
        hsi_concat_forward(o->k, xs, o->out);
        return;
    }
    case HSI_SOP_ADD: hsi_add_forward(o->k, x, src_of(s, t->in[1], r), o->out); return;
    case HSI_SOP_LRN: hsi_lrn_forward(o->k, x, o->out); return;
    case HSI_SOP_CROP: hsi_crop_forward(o->k, x, o->out); return;
    case HSI_SOP_PRELU: hsi_prelu_forward(o->k, x, w, o->out); return;
    case HSI_SOP_SOFTMAX: hsi_softmax_forward(o->k, x, o->out); return;
    case HSI_SOP_PERMUTE: hsi_permute_forward(o->k, x, o->out); return;
    case HSI_SOP_RNN:
        hsi_rnn_forward(o->k, x, w, s->ps[t->param[1]].value, t->param[2] >= 0 ? s->ps[t->param[2]].value : NULL,
                        t->param[3] >= 0 ? s->ps[t->param[3]].value : NULL, o->out);
        return;
    default: return;   /* input, identity */
    }
}

static int read_row(hsi_infer *s, int r, hsi_rows_fn rows, void *ctx, char *err, size_t errlen)
{
    if (s->row_r == r) return 0;
    s->row_r = -1;
    if (rows(ctx, r, 1, s->row, err, errlen)) return -1;
    s->row_r = r;
    return 0;
}

/* Padded rows g0 .. g0 + nrows - 1 into dst [bands, nrows, wp]. */
static int pad_rows(hsi_infer *s, int g0, int nrows, float *dst, hsi_rows_fn rows, void *ctx,
                    char *err, size_t errlen)
{
    int P = s->h + s->p - 1;
    for (int i = 0; i < nrows; i++) {
        int g = g0 + i;
        int r = g >= 0 && g < P ? hsi_pad_index(g - s->half, s->h, (hsi_pad)s->pad) : -1;
        for (int b = 0; b < s->bands && r < 0; b++)
            memset(dst + ((size_t)b * nrows + i) * s->wp, 0, sizeof(float) * (size_t)s->wp);
        if (r < 0) continue;
        if (read_row(s, r, rows, ctx, err, errlen)) return -1;
        for (int b = 0; b < s->bands; b++) {
            float *o = dst + ((size_t)b * nrows + i) * s->wp;
            const float *src = s->row + (size_t)b * s->w;
            for (int x = 0; x < s->wp; x++) o[x] = s->colmap[x] < 0 ? 0.0f : src[s->colmap[x]];
        }
    }
    return 0;
}

/* One block of th padded rows starting at g0 through the PIXEL ops, into the stores of the
 * tile whose first row is base. */
static int run_block(hsi_infer *s, int g0, int base, hsi_rows_fn rows, void *ctx, char *err,
                     size_t errlen)
{
    int R = s->th + s->p - 1;
    if (pad_rows(s, g0, s->th, s->block, rows, ctx, err, errlen)) return -1;
    for (int i = 1; i < s->n; i++)
        if (region(s, i) == HSI_REGION_PIXEL) run_op(s, i);
    for (int i = 0; i < s->n; i++) {
        sc_op *q = &s->op[i];
        if (!q->stored) continue;
        const float *src = q->out;
        if (q->staging != q->out) {
            hsi_plain_forward(q->plain, q->out, q->staging);
            src = q->staging;
        }
        for (int k = 0; k < s->th; k++) {
            int sr = g0 + k - base;
            if (sr < 0 || sr >= R) continue;
            for (int64_t l = 0; l < q->lead; l++)
                memcpy(q->store + ((size_t)l * R + sr) * s->wp, src + ((size_t)l * s->th + k) * s->wp,
                       sizeof(float) * (size_t)s->wp);
        }
    }
    return 0;
}

/* The plain map of scene op q for the current tile ([lead, *rows, q->cols]): a PIXEL op's store
 * (tile + p - 1 rows), else the WINDOW op's map made plain. */
static const float *tile_map(const hsi_infer *s, const sc_op *q, int *rows)
{
    *rows = q->stored ? s->th + s->p - 1 : q->rows;
    return q->stored ? q->store : q->tile;
}

/* Crops of the pixels idx0 .. idx0 + nb - 1 of the tile (row-major over th x w) into every
 * cropped map's batch buffer. */
static void gather(hsi_infer *s, int idx0, int nb)
{
    for (int j = 0; j < s->n; j++) {
        sc_op *q = &s->op[j];
        if (!q->cropped) continue;
        int sh = q->t->sh, sw = q->t->sw;
        int R, C = q->cols;
        const float *src = tile_map(s, q, &R);
        for (int b = 0; b < nb; b++) {
            int i = (idx0 + b) / s->w, c = (idx0 + b) % s->w;
            float *d = q->crop + (size_t)b * (size_t)q->lead * (size_t)(sh * sw);
            for (int64_t l = 0; l < q->lead; l++)
                for (int y = 0; y < sh; y++, d += sw)
                    memcpy(d, src + ((size_t)l * R + (size_t)(i + y)) * C + c, sizeof(float) * (size_t)sw);
        }
    }
}

/* The patch net itself on every pixel of the tile: the reference path. */
static void run_patch_net(hsi_infer *s, int nrows)
{
    int R = s->th + s->p - 1, p = s->p, npx = nrows * s->w;
    sc_op *in = &s->op[0];
    for (int idx0 = 0; idx0 < npx; idx0 += s->batch) {
        int nb = npx - idx0 < s->batch ? npx - idx0 : s->batch;
        for (int b = 0; b < nb; b++) {
            int i = (idx0 + b) / s->w, c = (idx0 + b) % s->w;
            float *d = in->crop + (size_t)b * (size_t)s->bands * (size_t)(p * p);
            for (int l = 0; l < s->bands; l++)
                for (int y = 0; y < p; y++, d += p)
                    memcpy(d, in->store + ((size_t)l * R + (size_t)(i + y)) * s->wp + c, sizeof(float) * (size_t)p);
        }
        s->net->forward(s->m, s->domain, in->crop, nb, 0, 0);
        memcpy(s->z + (size_t)idx0 * s->k, s->net->logits(s->m, s->domain), sizeof(float) * (size_t)nb * s->k);
    }
}

int hsi_infer_run(hsi_infer *s, hsi_rows_fn rows, void *rows_ctx, hsi_logits_fn sink,
                  void *sink_ctx, char *err, size_t errlen)
{
    int R = s->th + s->p - 1;
    s->row_r = -1;
    s->next_g = R - s->th * ((R + s->th - 1) / s->th);
    for (int base = 0; base < s->h; base += s->th) {
        int nrows = s->h - base < s->th ? s->h - base : s->th;
        if (s->force) {
            if (pad_rows(s, base, R, s->op[0].store, rows, rows_ctx, err, errlen)) return -1;
            run_patch_net(s, nrows);
            if (sink(sink_ctx, base, nrows, s->z, err, errlen)) return -1;
            continue;
        }
        if (base > 0 && s->p > 1)   /* the halo rows move to the top of every store */
            for (int i = 0; i < s->n; i++) {
                sc_op *q = &s->op[i];
                for (int64_t l = 0; q->stored && l < q->lead; l++)
                    memmove(q->store + (size_t)l * R * s->wp, q->store + ((size_t)l * R + s->th) * s->wp,
                            sizeof(float) * (size_t)(s->p - 1) * s->wp);
            }
        for (; s->next_g < base + R; s->next_g += s->th)
            if (run_block(s, s->next_g, base, rows, rows_ctx, err, errlen)) return -1;
        for (int i = 0; i < s->n; i++)
            if (region(s, i) == HSI_REGION_WINDOW) run_op(s, i);
        for (int i = 0; i < s->n; i++) {
            sc_op *q = &s->op[i];
            if (q->t->region == HSI_REGION_WINDOW && q->tile && q->tile != q->out)
                hsi_plain_forward(q->plain, q->out, q->tile);
        }
        sc_op *lg = &s->op[s->prog->logits];
        int npx = nrows * s->w;
        if (lg->t->region != HSI_REGION_PATCH) {   /* the net slid over the scene */
            int RR, C = lg->cols;
            const float *src = tile_map(s, lg, &RR);
            for (int i = 0; i < nrows; i++)
                for (int c = 0; c < s->w; c++)
                    for (int j = 0; j < s->k; j++)
                        s->z[((size_t)i * s->w + c) * s->k + j] = src[((size_t)j * RR + i) * C + c];
        } else {
            for (int idx0 = 0; idx0 < npx; idx0 += s->batch) {
                int nb = npx - idx0 < s->batch ? npx - idx0 : s->batch;
                gather(s, idx0, nb);
                for (int i = 0; i < s->n; i++)
                    if (region(s, i) == HSI_REGION_PATCH) run_op(s, i);
                const float *zl = lg->out;
                if (lg->tile != lg->out) zl = lg->tile;
                if (lg->tile && lg->tile != lg->out) hsi_plain_forward(lg->plain, lg->out, lg->tile);
                memcpy(s->z + (size_t)idx0 * s->k, zl, sizeof(float) * (size_t)nb * s->k);
            }
        }
        if (sink(sink_ctx, base, nrows, s->z, err, errlen)) return -1;
    }
    return 0;
}

/* ---- a band of the scene (one MPI rank's share) --------------------------------------------- */

hsi_band hsi_infer_band(int h, int halo, int part, int parts)
{
    hsi_band b;
    b.b0 = (int)((int64_t)h * part / parts);
    b.b1 = (int)((int64_t)h * (part + 1) / parts);
    b.e0 = b.b0 - halo > 0 ? b.b0 - halo : 0;
    b.e1 = b.b1 + halo < h ? b.b1 + halo : h;
    return b;
}

typedef struct band_ctx {
    const hsi_band *b;
    int w, k;
    hsi_rows_fn rows;
    void *rows_ctx;
    hsi_logits_fn sink;
    void *sink_ctx;
} band_ctx;

static int band_rows(void *ctx, int r0, int n, float *dst, char *err, size_t errlen)
{
    band_ctx *c = ctx;
    return c->rows(c->rows_ctx, c->b->e0 + r0, n, dst, err, errlen);
}

static int band_sink(void *ctx, int r0, int n, const float *z, char *err, size_t errlen)
{
    band_ctx *c = ctx;
    int lo = c->b->e0 + r0, hi = lo + n;   /* scene rows, clipped to the band */
    if (lo < c->b->b0) lo = c->b->b0;
    if (hi > c->b->b1) hi = c->b->b1;
    if (hi <= lo) return 0;
    const float *zl = z + (size_t)(lo - c->b->e0 - r0) * c->w * c->k;
    return c->sink(c->sink_ctx, lo, hi - lo, zl, err, errlen);
}

int hsi_infer_run_band(hsi_infer *s, const hsi_band *b, hsi_rows_fn rows, void *rows_ctx,
                       hsi_logits_fn sink, void *sink_ctx, char *err, size_t errlen)
{
    band_ctx c = {b, s->w, s->k, rows, rows_ctx, sink, sink_ctx};
    return hsi_infer_run(s, band_rows, &c, band_sink, &c, err, errlen);
}
