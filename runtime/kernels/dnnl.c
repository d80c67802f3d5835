/* dnnl.c — the oneDNN 2.6 backend of hsi_kernels.h: every primitive, memory object and reorder
 * is built at create (formats `any`); a call binds the caller's pointers and executes. An op
 * reorders only where a primitive wants another layout than it is given ("ports"). Per-call
 * temporaries and the user-mode scratchpad live in two buffers shared by the rt's ops, sized at
 * create by their largest user (ops of one rt run one at a time). Not done: types other than
 * f32, concurrent ops on one rt. */
#if !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L
#error "hsicc's runtime is C11 (aligned_alloc, _Atomic, _Thread_local): compile it with -std=c11, gnu11 or later"
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "kernels_impl.h"
#include "bnorm.h"
#include "dnnl_wino.h"
#include "smallconv.h"
#include "tapconv.h"

typedef dnnl_memory_desc_t md_t;

#ifdef _OPENMP
#define DN_OMP(x) _Pragma(x)
#else
#define DN_OMP(x)
#endif

/* ---- the rt's oneDNN state ---------------------------------------------------------------- */

typedef enum dn_obj_kind { DN_PD, DN_PRIM, DN_MEM, DN_ATTR } dn_obj_kind;
typedef struct dn_obj { dn_obj_kind kind; void *p; } dn_obj;

typedef struct dn_rt {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    dn_obj *objs;                 /* every oneDNN object created, destroyed by hk_dnnl_rt_fini */
    int n_objs, cap_objs;
    void *scratch;                /* user-mode scratchpad of every primitive (the largest) */
    size_t scratch_bytes;
    void *tmp;                    /* staging buffers of the running op (offsets per op) */
    size_t tmp_bytes;
} dn_rt;

static void *dn_failf(hsi_rt *rt, const char *what, dnnl_status_t s)
{
    return hk_fail(rt, "oneDNN: %s: %s", what, dnnl_status2str(s));
}

/* 0 on success; otherwise records the failure and returns -1. */
static int dn_check(hsi_rt *rt, dnnl_status_t s, const char *what)
{
    if (s == dnnl_success) return 0;
    dn_failf(rt, what, s);
    return -1;
}

/* A failure while executing is a bug in this file (every shape was checked at create). */
static void dn_ok(dnnl_status_t s, const char *what)
{
    if (s == dnnl_success) return;
    fprintf(stderr, "hsi dnnl backend: %s failed: %s\n", what, dnnl_status2str(s));
    abort();
}

static int dn_keep(hsi_rt *rt, dn_obj_kind kind, void *p)
{
    dn_rt *d = rt->dnnl;
    if (d->n_objs == d->cap_objs) {
        int cap = d->cap_objs ? 2 * d->cap_objs : 256;
        dn_obj *o = realloc(d->objs, (size_t)cap * sizeof *o);
        if (!o) {
            hk_fail(rt, "out of memory");
            return -1;
        }
        d->objs = o;
        d->cap_objs = cap;
    }
    d->objs[d->n_objs++] = (dn_obj){kind, p};
    return 0;
}

static int dn_grow(hsi_rt *rt, void **buf, size_t *have, size_t need)
{
    if (need <= *have) return 0;
    size_t bytes = (need + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (!p) {
        hk_fail(rt, "out of memory (%zu bytes of oneDNN buffers)", bytes);
        return -1;
    }
    free(*buf);
    *buf = p;
    *have = bytes;
    return 0;
}

int hk_dnnl_rt_init(hsi_rt *rt)
{
    dn_rt *d = calloc(1, sizeof *d);
    if (!d) return -1;
    rt->dnnl = d;
    if (dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success
        || dnnl_stream_create(&d->st, d->eng, dnnl_stream_default_flags) != dnnl_success) {
        hk_dnnl_rt_fini(rt);
        return -1;
    }
    return 0;
}

void hk_dnnl_rt_fini(hsi_rt *rt)
{
    dn_rt *d = rt->dnnl;
    if (!d) return;
    for (int i = d->n_objs - 1; i >= 0; i--) {
        void *p = d->objs[i].p;
        switch (d->objs[i].kind) {
        case DN_PD: dnnl_primitive_desc_destroy(p); break;
        case DN_PRIM: dnnl_primitive_destroy(p); break;
        case DN_MEM: dnnl_memory_destroy(p); break;
        case DN_ATTR: dnnl_primitive_attr_destroy(p); break;
        }
    }
    free(d->objs);
    free(d->scratch);
    free(d->tmp);
    if (d->st) dnnl_stream_destroy(d->st);
    if (d->eng) dnnl_engine_destroy(d->eng);
    free(d);
    rt->dnnl = NULL;
}

size_t hk_dnnl_rt_bytes(const hsi_rt *rt)
{
    const dn_rt *d = rt->dnnl;
    return d->tmp_bytes + d->scratch_bytes;
}

/* ---- memory descriptors and layouts ------------------------------------------------------- */

static int dn_md_tag(md_t *md, int ndim, const int64_t *dims, dnnl_format_tag_t tag)
{
    static const dnnl_format_tag_t rowmajor[] = {dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd,
                                                 dnnl_abcde, dnnl_abcdef};
    if (ndim < 1 || ndim > 6) return -1;
    dnnl_dims_t d = {0};
    memcpy(d, dims, (size_t)ndim * sizeof *d);
    if (tag == dnnl_format_tag_undef) tag = rowmajor[ndim - 1];
    return dnnl_memory_desc_init_by_tag(md, ndim, d, dnnl_f32, tag) == dnnl_success ? 0 : -1;
}

/* Dense row-major without blocking, padding or offset (strides of size-1 dims are free). */
static int dn_rowmajor(const md_t *md)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (md->format_kind != dnnl_blocked || b->inner_nblks != 0 || md->offset0 != 0) return 0;
    int64_t stride = 1;
    for (int i = md->ndims - 1; i >= 0; i--) {
        if (md->padded_dims[i] != md->dims[i]) return 0;
        if (md->dims[i] != 1 && b->strides[i] != stride) return 0;
        stride *= md->dims[i];
    }
    return 1;
}

/* Same bytes for the same logical element (row-major descriptors compare as equal). */
static int dn_same(const md_t *a, const md_t *b)
{
    if (dnnl_memory_desc_equal(a, b)) return 1;
    if (a->ndims != b->ndims || a->data_type != b->data_type) return 0;
    for (int i = 0; i < a->ndims; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    if (dn_rowmajor(a) && dn_rowmajor(b)) return 1;
    /* blocked alike but for the strides of size-1 dims (a reshape's view of channels-last
     * [N, C, H, W] as [N, C, 1, H, W] against the acdeb tag) */
    const dnnl_blocking_desc_t *x = &a->format_desc.blocking, *y = &b->format_desc.blocking;
    if (a->format_kind != dnnl_blocked || b->format_kind != dnnl_blocked
        || a->offset0 != b->offset0 || x->inner_nblks != y->inner_nblks)
        return 0;
    for (int i = 0; i < x->inner_nblks; i++)
        if (x->inner_blks[i] != y->inner_blks[i] || x->inner_idxs[i] != y->inner_idxs[i]) return 0;
    for (int i = 0; i < a->ndims; i++)
        if (a->padded_dims[i] != b->padded_dims[i]
            || (a->dims[i] != 1 && x->strides[i] != y->strides[i]))
            return 0;
    return 1;
}

/* 1 when every padded dim of md (padded_dims > dims) is the channel dim (dim 1). */
static int dn_pads_channels_only(const md_t *md)
{
    for (int i = 0; i < md->ndims; i++)
        if (md->padded_dims[i] != md->dims[i] && i != 1) return 0;
    return 1;
}

/* in viewed with other dims (the same bytes, the batch first): dnnl_memory_desc_reshape, kept
 * only where its padding means what in's does. Where the padded channel dim is 1 and other dims
 * are 1 too, oneDNN may move the channel block onto another size-1 dim (aBcd16b [N, 1, 1, 1]
 * as [N, 1, 1, 1, 1] padded [N, 1, 1, 1, 16]): a descriptor of the same size whose padding a
 * reorder into it zero-fills far past the tensor (a conv's input gradient through it wrote
 * 1156 bytes into a 256-byte buffer, over the gradients planned after it). A channel-blocked
 * in (aBc..8b / 16b) keeping N and C is then described afresh with the same block; anything
 * else padded is no view (-1: the caller copies instead). */
static int dn_reshape_md(md_t *out, const md_t *in, int ndim, const int64_t *dims)
{
    dnnl_dims_t d = {0};
    if (ndim < 1 || ndim > DNNL_MAX_NDIMS) return -1;
    memcpy(d, dims, (size_t)ndim * sizeof *d);
    if (dnnl_memory_desc_reshape(out, in, ndim, d) != dnnl_success) return -1;
    if (dn_pads_channels_only(in) && dn_pads_channels_only(out)
        && (in->padded_dims[1] == in->dims[1]
            || (ndim > 1 && dims[0] == in->dims[0] && dims[1] == in->dims[1]
                && out->padded_dims[1] == in->padded_dims[1])))
        return 0;
    static const dnnl_format_tag_t b8[] = {dnnl_aBc8b, dnnl_aBcd8b, dnnl_aBcde8b},
                                   b16[] = {dnnl_aBc16b, dnnl_aBcd16b, dnnl_aBcde16b};
    md_t blk;
    if (in->ndims < 3 || in->ndims > 5 || ndim < 3 || ndim > 5 || dims[0] != in->dims[0]
        || dims[1] != in->dims[1])
        return -1;
    for (int k = 0; k < 2; k++) {
        const dnnl_format_tag_t *t = k ? b16 : b8;
        if (!dn_md_tag(&blk, in->ndims, in->dims, t[in->ndims - 3]) && dn_same(&blk, in))
            return dn_md_tag(out, ndim, dims, t[ndim - 3]);
    }
    return -1;
}

static const md_t *dn_lmd(const hsi_layout *l) { return l->md; }

/* A layout owned by the rt for md; row-major descriptors become the canonical plain one. */
static const hsi_layout *dn_layout(hsi_rt *rt, const md_t *md)
{
    hsi_layout *l = hk_layout_new(rt, md->ndims, md->dims);
    md_t *copy = hk_alloc(rt, sizeof *copy);
    if (!l || !copy) return hk_fail(rt, "out of memory");
    *copy = *md;
    l->plain = dn_rowmajor(md);
    if (l->plain && dn_md_tag(copy, md->ndims, md->dims, dnnl_format_tag_undef))
        return hk_fail(rt, "oneDNN: cannot describe a plain tensor of rank %d", md->ndims);
    l->md = copy;
    l->bytes = dnnl_memory_desc_get_size(copy);
    return l;
}

const hsi_layout *hk_dnnl_layout_plain(hsi_rt *rt, int ndim, const int64_t *dims)
{
    md_t md;
    if (ndim < 2 || ndim > 5 || dn_md_tag(&md, ndim, dims, dnnl_format_tag_undef))
        return hk_fail(rt, "plain layout: rank %d is not in 2..5 or a dim is not positive", ndim);
    return dn_layout(rt, &md);
}

/* ---- primitives --------------------------------------------------------------------------- */

#define DN_MAXARGS (HSI_CONCAT_MAX_IN + 2)   /* a concat's sources, its destination, scratchpad */

/* One built primitive and its memory objects; dn_run binds pointers in args order. */
typedef struct dn_prim {
    dnnl_primitive_t p;           /* NULL: not built, the step is skipped */
    int nargs;                    /* caller-bound arguments */
    int scratch;                  /* 1: args[nargs] is the shared scratchpad */
    dnnl_exec_arg_t args[DN_MAXARGS];
} dn_prim;

/* Attributes: user-mode scratchpad, then optionally a sum (accumulate) and a ReLU post-op. */
static const_dnnl_primitive_attr_t dn_attr(hsi_rt *rt, int sum, int relu)
{
    dnnl_primitive_attr_t a;
    dnnl_post_ops_t po = NULL;
    if (dn_check(rt, dnnl_primitive_attr_create(&a), "attribute")) return NULL;
    if (dn_keep(rt, DN_ATTR, a)) {
        dnnl_primitive_attr_destroy(a);
        return NULL;
    }
    if (dn_check(rt, dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user),
                 "scratchpad mode"))
        return NULL;
    if (!sum && !relu) return a;
    if (dn_check(rt, dnnl_post_ops_create(&po), "post-ops")) return NULL;
    int bad = (sum && dnnl_post_ops_append_sum(po, 1.f) != dnnl_success)
              || (relu && dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f)
                              != dnnl_success)
              || dnnl_primitive_attr_set_post_ops(a, po) != dnnl_success;
    dnnl_post_ops_destroy(po);
    if (bad) return hk_fail(rt, "oneDNN: cannot set post-ops");
    return a;
}

/* A primitive descriptor (kept until the rt dies); NULL with the error recorded. */
static const_dnnl_primitive_desc_t dn_pd(hsi_rt *rt, const void *desc,
                                         const_dnnl_primitive_attr_t attr,
                                         const_dnnl_primitive_desc_t hint, const char *what)
{
    dnnl_primitive_desc_t pd;
    if (!attr) return NULL;
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, desc, attr, ((dn_rt *)rt->dnnl)->eng, hint);
    if (s != dnnl_success) return dn_failf(rt, what, s);
    if (dn_keep(rt, DN_PD, pd)) {
        dnnl_primitive_desc_destroy(pd);
        return NULL;
    }
    return pd;
}

static const md_t *dn_md(const_dnnl_primitive_desc_t pd, int arg)
{
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

static const char *dn_impl(const_dnnl_primitive_desc_t pd)
{
    const char *s = "";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
    return s;
}

static dnnl_memory_t dn_mem(hsi_rt *rt, const md_t *md)
{
    dnnl_memory_t m;
    if (dn_check(rt, dnnl_memory_create(&m, md, ((dn_rt *)rt->dnnl)->eng, DNNL_MEMORY_NONE),
                 "memory object"))
        return NULL;
    if (dn_keep(rt, DN_MEM, m)) {
        dnnl_memory_destroy(m);
        return NULL;
    }
    return m;
}

/* Builds pd's primitive with memory objects for args[0..nargs-1] and its scratchpad. */
static int dn_build(hsi_rt *rt, dn_prim *pr, const_dnnl_primitive_desc_t pd, int nargs,
                    const int *args, const char *what)
{
    dn_rt *d = rt->dnnl;
    if (!pd) return -1;
    if (nargs > DN_MAXARGS - 1) {
        hk_fail(rt, "%s: too many arguments (%d)", what, nargs);
        return -1;
    }
    if (dn_check(rt, dnnl_primitive_create(&pr->p, pd), what)) return -1;
    if (dn_keep(rt, DN_PRIM, pr->p)) {
        dnnl_primitive_destroy(pr->p);
        pr->p = NULL;
        return -1;
    }
    for (int i = 0; i < nargs; i++) {
        const md_t *md = dn_md(pd, args[i]);
        if (!md || md->ndims == 0) {
            hk_fail(rt, "%s: primitive has no argument %d", what, args[i]);
            return -1;
        }
        pr->args[i] = (dnnl_exec_arg_t){args[i], dn_mem(rt, md)};
        if (!pr->args[i].memory) return -1;
    }
    pr->nargs = nargs;
    const md_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sbytes = smd && smd->ndims ? dnnl_memory_desc_get_size(smd) : 0;
    if (sbytes) {
        pr->args[nargs] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, dn_mem(rt, smd)};
        if (!pr->args[nargs].memory || dn_grow(rt, &d->scratch, &d->scratch_bytes, sbytes))
            return -1;
        pr->scratch = 1;
    }
    return 0;
}

static void dn_run(hsi_rt *rt, const dn_prim *pr, const void *const *ptrs)
{
    dn_rt *d = rt->dnnl;
    for (int i = 0; i < pr->nargs; i++)
        dn_ok(dnnl_memory_set_data_handle_v2(pr->args[i].memory, (void *)ptrs[i], d->st),
              "binding a tensor");
    if (pr->scratch)
        dn_ok(dnnl_memory_set_data_handle_v2(pr->args[pr->nargs].memory, d->scratch, d->st),
              "binding the scratchpad");
    dn_ok(dnnl_primitive_execute(pr->p, d->st, pr->nargs + pr->scratch, pr->args), "execute");
    dn_ok(dnnl_stream_wait(d->st), "stream wait");
}

/* A reorder from -> to; acc: to += reordered from. */
static int dn_reorder(hsi_rt *rt, dn_prim *pr, const md_t *from, const md_t *to, int acc)
{
    dn_rt *d = rt->dnnl;
    dnnl_primitive_desc_t pd;
    const_dnnl_primitive_attr_t attr = dn_attr(rt, acc, 0);
    if (!attr) return -1;
    if (dn_check(rt, dnnl_reorder_primitive_desc_create(&pd, from, d->eng, to, d->eng, attr),
                 "reorder"))
        return -1;
    if (dn_keep(rt, DN_PD, pd)) {
        dnnl_primitive_desc_destroy(pd);
        return -1;
    }
    return dn_build(rt, pr, pd, 2, (const int[]){DNNL_ARG_FROM, DNNL_ARG_TO}, "reorder");
}

/* ---- staging buffers and ports ------------------------------------------------------------ */

/* Reserves bytes of the shared tmp for the op being created; returns the offset. An op's
 * stagings are grouped by the step that uses them (forward, backward data, backward weights):
 * the steps run one after another, so each group starts again at offset 0 (dn_phase) and the
 * tmp is the largest group of any op, not the sum of an op's groups (SSRN's C2: 8.5 MB for the
 * three steps instead of 25.5 MB). */
static int dn_stage(hsi_rt *rt, size_t *used, size_t bytes, size_t *off)
{
    dn_rt *d = rt->dnnl;
    *off = *used;
    *used += (bytes + 63) / 64 * 64;
    return dn_grow(rt, &d->tmp, &d->tmp_bytes, *used);
}

static void dn_phase(size_t *used) { *used = 0; }

static void *dn_tmp(hsi_rt *rt, size_t off) { return (char *)((dn_rt *)rt->dnnl)->tmp + off; }

/* A port joins a tensor in the caller's layout to the layout a primitive wants.
 * In: caller -> primitive (staged only when the layouts differ).
 * Out: primitive -> caller, overwrite or accumulate; staged when the layouts differ, when
 * accumulating, or when the caller passes NULL (the primitive must still write somewhere). */
typedef struct dn_port {
    dn_prim re;                   /* reorder; re.p NULL when the layouts agree (no accumulate) */
    size_t off;                   /* staging in the shared tmp */
    size_t add;                   /* accumulate into the same layout: floats to add in a C loop
                                     (a reorder primitive costs more than the add for these) */
} dn_port;

static int dn_port_in(hsi_rt *rt, size_t *used, dn_port *pt, const md_t *user, const md_t *prim)
{
    if (dn_same(user, prim)) return 0;
    if (dn_reorder(rt, &pt->re, user, prim, 0)) return -1;
    return dn_stage(rt, used, dnnl_memory_desc_get_size(prim), &pt->off);
}

static int dn_port_out(hsi_rt *rt, size_t *used, dn_port *pt, const md_t *prim,
                       const md_t *user, int acc)
{
    size_t bytes = dnnl_memory_desc_get_size(prim);
    if (acc && dn_same(user, prim)) pt->add = bytes / sizeof(float);
    else if ((acc || !dn_same(user, prim)) && dn_reorder(rt, &pt->re, prim, user, acc)) return -1;
    return dn_stage(rt, used, bytes, &pt->off);
}

static const void *dn_in(hsi_rt *rt, const dn_port *pt, const void *user)
{
    if (!pt->re.p) return user;
    void *t = dn_tmp(rt, pt->off);
    dn_run(rt, &pt->re, (const void *[]){user, t});
    return t;
}

/* Where the primitive writes; then dn_out_done moves it to the caller. */
static void *dn_out(hsi_rt *rt, const dn_port *pt, void *user)
{
    return pt->re.p || pt->add || !user ? dn_tmp(rt, pt->off) : user;
}

static void dn_out_done(hsi_rt *rt, const dn_port *pt, void *user)
{
    if (pt->re.p && user) dn_run(rt, &pt->re, (const void *[]){dn_tmp(rt, pt->off), user});
    if (pt->add && user) {
        const float *t = dn_tmp(rt, pt->off);
        float *u = user;
        for (size_t i = 0; i < pt->add; i++) u[i] += t[i];
    }
}

static hsi_op *dn_op(hsi_rt *rt, hk_kind kind, const hsi_layout *dst, void *impl)
{
    if (!dst) return NULL;
    hsi_op *op = hk_op_new(rt, kind, dst);
    if (!op) return hk_fail(rt, "out of memory");
    op->impl = impl;
    return op;
}

static void *dn_impl_alloc(hsi_rt *rt, size_t bytes)
{
    void *p = hk_alloc(rt, bytes);
    return p ? p : hk_fail(rt, "out of memory");
}

/* ---- weighted layers: convolution and inner product --------------------------------------- */

typedef union dn_desc {
    dnnl_convolution_desc_t conv;
    dnnl_inner_product_desc_t ip;
} dn_desc;

typedef struct dn_geom {
    int conv;                     /* 1 convolution, 0 inner product */
    dnnl_prop_kind_t prop;        /* forward_training or forward_inference */
    dnnl_dims_t strides, dilates, pad_l, pad_r;   /* conv only; dilates in oneDNN's d - 1 */
} dn_geom;

enum { DN_FWD, DN_BWD_DATA, DN_BWD_W };

/* Descriptor of one of the three primitives; src/dst are diff_src/diff_dst for backward data,
 * w/b are diff_weights/diff_bias for backward weights. */
static dnnl_status_t dn_wl_desc(const dn_geom *g, int which, dn_desc *d, const md_t *src,
                                const md_t *w, const md_t *b, const md_t *dst)
{
    if (g->conv) {
        if (which == DN_FWD)
            return dnnl_dilated_convolution_forward_desc_init(
                &d->conv, g->prop, dnnl_convolution_direct, src, w, b, dst, g->strides,
                g->dilates, g->pad_l, g->pad_r);
        if (which == DN_BWD_DATA)
            return dnnl_dilated_convolution_backward_data_desc_init(
                &d->conv, dnnl_convolution_direct, src, w, dst, g->strides, g->dilates,
                g->pad_l, g->pad_r);
        return dnnl_dilated_convolution_backward_weights_desc_init(
            &d->conv, dnnl_convolution_direct, src, w, b, dst, g->strides, g->dilates, g->pad_l,
            g->pad_r);
    }
    if (which == DN_FWD) return dnnl_inner_product_forward_desc_init(&d->ip, g->prop, src, w, b, dst);
    if (which == DN_BWD_DATA) return dnnl_inner_product_backward_data_desc_init(&d->ip, src, w, dst);
    return dnnl_inner_product_backward_weights_desc_init(&d->ip, src, w, b, dst);
}

/* A convolution computed as im2col + one GEMM over the whole batch (dn_col_wanted): src in
 * NHWC, columns ordered (kh, kw, c), weights as [OC, KH, KW, C], dst NHWC = [N*OH*OW, OC]. */
typedef struct dn_col {
    int on;
    int64_t n, c, h, w, oc, kh, kw, sh, sw, oh, ow;
    size_t col_off;                          /* the column matrix, in tmp */
    int bias;
} dn_col;

typedef struct dn_wl {
    dn_prim fwd, bwd_data, bwd_w;
    dn_port src_in, w_in;                    /* forward */
    dn_port w_bd, ddst_bd, dsrc_out;         /* backward data */
    dn_port src_bw, ddst_bw, dw_acc, db_acc; /* backward weights */
    dn_col col;
    struct {                                 /* dense as one sgemm (dn_mm_wanted) */
        int on;
        int64_t n, k, oc;
        int bias;
        int64_t b8;                          /* > 0: dst nChw8c, b8 pixels per sample, the
                                                GEMM's [n, oc] in tmp at off (dn_nhwc1x1) */
        size_t off;
        size_t ksplit_off;                   /* ksplit: the second half's [n, oc] in tmp */
        int ksplit;                          /* dn_mm_ksplit */
    } mm;
    struct {
        int on;
        int wino;                                    /* dnnl_wino.c instead (hk_wino_ok) */
        float *kept;                                 /* wino: the last forward's transformed */
        const float *kept_src;                       /* input (NULL: none kept), its src */
        hk_sc g;
        size_t off;
    } sc;                                            /* smallconv.c (dn_sc_wanted) */
    struct { int on, w1; hk_tap g; size_t off; float *pre; int res, dadd; } tap;   /* k x 1 x 1
                                 conv by tapconv.c (w1: only its weights' gradient); pre: the scale
                                 and shift [2C] of a BN it applies (hsi_conv_forward_bn); res: it
                                 may add a residual as it stores (hsi_conv_forward_res); dadd: its
                                 backward data may add into dsrc (hsi_conv_backward_add) */
    hsi_op *sums_fwd, *sums_bwd;  /* BNs whose sums the tapconv forward / backward data take
                                     (hsi_bn_sums_from, hsi_bn_grad_sums_from) */
} dn_wl;

static void dn_md_any(md_t *out, const md_t *like)
{
    dnnl_memory_desc_init_by_tag(out, like->ndims, like->dims, dnnl_f32, dnnl_format_tag_any);
}

/* The pd of one of the three primitives, given the layouts src and dst the tensors have (dst
 * of the forward is whatever the caller passes: `any` for conv). oneDNN first chooses every
 * format; if it wants other src/dst layouts than the tensors', the tensors' own layouts are
 * taken when the same implementation accepts them (no reorder); else the ports reorder. */
static const_dnnl_primitive_desc_t dn_wl_pd(hsi_rt *rt, const dn_geom *g, int which,
                                            const md_t *src, const md_t *w, const md_t *b,
                                            const md_t *dst, const_dnnl_primitive_desc_t hint,
                                            const char *what)
{
    md_t src_any, dst_any;
    dn_desc desc;
    int sarg = which == DN_BWD_DATA ? DNNL_ARG_DIFF_SRC : DNNL_ARG_SRC;
    int darg = which == DN_FWD ? DNNL_ARG_DST : DNNL_ARG_DIFF_DST;
    dn_md_any(&src_any, src);
    if (which == DN_FWD) dst_any = *dst;
    else dn_md_any(&dst_any, dst);
    dnnl_status_t s = dn_wl_desc(g, which, &desc, &src_any, w, b, &dst_any);
    if (s != dnnl_success) return dn_failf(rt, what, s);
    const_dnnl_primitive_desc_t pd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), hint, what);
    if (!pd || (dn_same(dn_md(pd, sarg), src) && (which == DN_FWD || dn_same(dn_md(pd, darg), dst))))
        return pd;
    dnnl_primitive_desc_t exact;
    if (dn_wl_desc(g, which, &desc, src, w, b, which == DN_FWD ? &dst_any : dst) != dnnl_success
        || dnnl_primitive_desc_create(&exact, &desc, dn_attr(rt, 0, 0), ((dn_rt *)rt->dnnl)->eng,
                                      hint) != dnnl_success)
        return pd;
    if (strcmp(dn_impl(exact), dn_impl(pd)) != 0 || dn_keep(rt, DN_PD, exact)) {
        dnnl_primitive_desc_destroy(exact);
        return pd;
    }
    return exact;
}

/* sl: the src tensor as the primitives see it (src's descriptor, or a reshaped view of it);
 * view_dims: the dst layout's dims when the primitives see dst with other dims (a convolution
 * computed as an inner product, [N, OC] for [N, OC, 1, ...], or as a lower-rank conv). */
static hsi_op *dn_wl_create(hsi_rt *rt, hk_kind kind, const hsi_layout *src, const md_t *sl,
                            const dn_geom *g, const md_t *w_plain, int64_t nbias,
                            const md_t *dst, const int64_t *view_dims, int need_dsrc,
                            int need_dw, const char *what)
{
    dn_wl *wl = dn_impl_alloc(rt, sizeof *wl);
    md_t w_any, b_md, view;
    const md_t *bmd = nbias ? &b_md : NULL;
    size_t used = 0;
    if (!wl) return NULL;
    dn_md_any(&w_any, w_plain);
    if (nbias && dn_md_tag(&b_md, 1, &nbias, dnnl_format_tag_undef))
        return hk_fail(rt, "%s: bad bias size", what);
    const_dnnl_primitive_desc_t fwd = dn_wl_pd(rt, g, DN_FWD, sl, &w_any, bmd, dst, NULL, what);
    const int fargs[] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    if (!fwd || dn_build(rt, &wl->fwd, fwd, nbias ? 4 : 3, fargs, what)
        || dn_port_in(rt, &used, &wl->src_in, sl, dn_md(fwd, DNNL_ARG_SRC))
        || dn_port_in(rt, &used, &wl->w_in, w_plain, dn_md(fwd, DNNL_ARG_WEIGHTS)))
        return NULL;
    const md_t *dm = dn_md(fwd, DNNL_ARG_DST);   /* the dst tensor, as the primitives see it */
    if (view_dims && dn_reshape_md(&view, dm, src->ndim, view_dims))
        return hk_fail(rt, "%s: no view of the output with the input's rank", what);
    const hsi_layout *dl = dn_layout(rt, view_dims ? &view : dm);
    if (!dl) return NULL;
    if (need_dsrc) {
        dn_phase(&used);
        const_dnnl_primitive_desc_t pd = dn_wl_pd(rt, g, DN_BWD_DATA, sl, &w_any, NULL, dm, fwd, what);
        const int args[] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
        if (!pd || dn_build(rt, &wl->bwd_data, pd, 3, args, what)
            || dn_port_in(rt, &used, &wl->w_bd, w_plain, dn_md(pd, DNNL_ARG_WEIGHTS))
            || dn_port_in(rt, &used, &wl->ddst_bd, dm, dn_md(pd, DNNL_ARG_DIFF_DST))
            || dn_port_out(rt, &used, &wl->dsrc_out, dn_md(pd, DNNL_ARG_DIFF_SRC), sl, 0))
            return NULL;
    }
    if (need_dw) {
        dn_phase(&used);
        const_dnnl_primitive_desc_t pd = dn_wl_pd(rt, g, DN_BWD_W, sl, &w_any, bmd, dm, fwd, what);
        const int args[] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS,
                            DNNL_ARG_DIFF_BIAS};
        if (!pd || dn_build(rt, &wl->bwd_w, pd, nbias ? 4 : 3, args, what)
            || dn_port_in(rt, &used, &wl->src_bw, sl, dn_md(pd, DNNL_ARG_SRC))
            || dn_port_in(rt, &used, &wl->ddst_bw, dm, dn_md(pd, DNNL_ARG_DIFF_DST))
            || dn_port_out(rt, &used, &wl->dw_acc, dn_md(pd, DNNL_ARG_DIFF_WEIGHTS), w_plain, 1)
            || (nbias && dn_port_out(rt, &used, &wl->db_acc, dn_md(pd, DNNL_ARG_DIFF_BIAS), bmd, 1)))
            return NULL;
    }
    return dn_op(rt, kind, dl, wl);
}

static void dn_col_forward(hsi_op *op, const float *src, const float *w, const float *b,
                           float *dst);
static void dn_col_backward_weights(hsi_op *op, const float *src, const float *ddst, float *dw,
                                    float *db);

/* Rows per dnnl_sgemm call: oneDNN's GEMM packs its operands in buffers of its own, as large
 * as the rows it is given (SSRN's C2: 784 rows of 2,328 floats); in blocks of rows they stay
 * small. The weights' gradient (a reduction over the rows) goes by blocks of columns instead,
 * as many, each once over all rows (deterministic, no partial sums). */
#ifndef DN_MM_ROWS
#define DN_MM_ROWS 256
#endif

static void dn_mm_forward(hsi_op *op, const float *src, const float *w, const float *b,
                          float *dst);
static void dn_mm_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                           float *dsrc, float *dw, float *db);

/* ---- a BN's sums taken by the tapconv conv before it (hsi_bn_sums_from) -----------------
 * The conv's item hook sums each chunk of rows it finishes for the BN, into the BN's kept
 * scratch, as bnorm.c's pass would (its pieces); the BN then skips that pass. */
typedef struct dn_sums {
    hk_tap_hook hook;
    const hk_bnorm *g;
    const float *x, *dy;          /* forward: x the conv's output; backward: the BN's src, dy
                                     the conv's dsrc */
    double *scratch;
    struct dn_bn *bn;             /* the BN told when done (NULL: no sums taken) */
} dn_sums;

static void dn_sums_fwd_rows(void *ctx, int64_t n, int64_t r0, int64_t r1)
{
    const dn_sums *sm = ctx;
    hk_bnorm_stats_rows(sm->g, sm->x, n, r0, r1, sm->scratch);
}

static void dn_sums_bwd_rows(void *ctx, int64_t n, int64_t r0, int64_t r1)
{
    const dn_sums *sm = ctx;
    hk_bnorm_bsums_rows(sm->g, sm->x, sm->dy, n, r0, r1, sm->scratch);
}

static const hk_tap_hook *dn_sums_fwd(const struct dn_wl *wl, const float *dst, dn_sums *sm);
static const hk_tap_hook *dn_sums_bwd(const struct dn_wl *wl, const hsi_op *bn,
                                      const float *gamma, const void *bn_ws,
                                      const float *bn_src, const float *dsrc, dn_sums *sm);
static void dn_sums_done(const dn_sums *sm);

static void dn_wl_forward(hsi_op *op, const float *src, const float *w, const float *b,
                          float *dst)
{
    dn_wl *wl = op->impl;
    if (wl->mm.on) {
        dn_mm_forward(op, src, w, b, dst);
        return;
    }
    if (wl->sc.on && wl->sc.wino) {
        dn_ok((dnnl_status_t)hk_wino_forward(&wl->sc.g, src, w, b, dst,
                                             dn_tmp(op->rt, wl->sc.off), wl->sc.kept),
              "winograd gemm");
        wl->sc.kept_src = src;
        return;
    }
    if (wl->sc.on) {
        hk_sc_forward(&wl->sc.g, src, w, b, dst, dn_tmp(op->rt, wl->sc.off));
        return;
    }
    if (wl->col.on) {
        dn_col_forward(op, src, w, b, dst);
        return;
    }
    if (wl->tap.on) {
        dn_sums sm;
        hk_tap_forward_res(&wl->tap.g, src, NULL, w, b, NULL, dst, dn_tmp(op->rt, wl->tap.off),
                           dn_sums_fwd(wl, dst, &sm));
        dn_sums_done(&sm);
        return;
    }
    const void *s = dn_in(op->rt, &wl->src_in, src), *wt = dn_in(op->rt, &wl->w_in, w);
    dn_run(op->rt, &wl->fwd, (const void *[]){s, wt, dst, b});
}

static void dn_wl_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                           float *dsrc, float *dw, float *db)
{
    dn_wl *wl = op->impl;
    hsi_rt *rt = op->rt;
    if (wl->mm.on) {
        dn_mm_backward(op, src, w, ddst, dsrc, dw, db);
        return;
    }
    if (wl->sc.on) {   /* created without an input gradient: dsrc is never wanted */
        if (wl->sc.wino && (dw || (db && wl->sc.g.bias)))
            dn_ok((dnnl_status_t)hk_wino_backward_weights(
                      &wl->sc.g, src, ddst, dw, db, dn_tmp(rt, wl->sc.off),
                      src == wl->sc.kept_src ? wl->sc.kept : NULL),
                  "winograd gemm (weights)");
        else if (dw || (db && wl->sc.g.bias))
            hk_sc_backward_weights(&wl->sc.g, src, ddst, dw, db, dn_tmp(rt, wl->sc.off));
        return;
    }
    if (wl->tap.on) {
        hk_tap_backward(&wl->tap.g, src, NULL, w, ddst, dsrc, dw, db, dn_tmp(rt, wl->tap.off));
        return;
    }
    if (dsrc && wl->bwd_data.p) {
        const void *dd = dn_in(rt, &wl->ddst_bd, ddst), *wt = dn_in(rt, &wl->w_bd, w);
        void *ds = dn_out(rt, &wl->dsrc_out, dsrc);
        dn_run(rt, &wl->bwd_data, (const void *[]){dd, wt, ds});
        dn_out_done(rt, &wl->dsrc_out, dsrc);
    }
    if (wl->col.on) {
        if (dw || (db && wl->col.bias)) dn_col_backward_weights(op, src, ddst, dw, db);
        return;
    }
    if (wl->tap.w1) {
        if (dw || db)
            hk_tap_backward(&wl->tap.g, src, NULL, w, ddst, NULL, dw, db, dn_tmp(rt, wl->tap.off));
        return;
    }
    int has_bias = wl->bwd_w.nargs == 4;
    if ((dw || (db && has_bias)) && wl->bwd_w.p) {
        const void *s = dn_in(rt, &wl->src_bw, src), *dd = dn_in(rt, &wl->ddst_bw, ddst);
        void *gw = dn_out(rt, &wl->dw_acc, dw), *gb = has_bias ? dn_out(rt, &wl->db_acc, db) : NULL;
        dn_run(rt, &wl->bwd_w, (const void *[]){s, dd, gw, gb});
        dn_out_done(rt, &wl->dw_acc, dw);
        if (has_bias) dn_out_done(rt, &wl->db_acc, db);
    }
}

/* ---- dense as one GEMM on the row-major src -------------------------------------------------
 * A dense layer (or a convolution whose kernel covers its whole unpadded input) on a row-major
 * src is dst[N, OC] = src[N, K] w[OC, K]^T + b: one dnnl_sgemm on the caller's tensors, no
 * reorder; dsrc = ddst w and dw += ddst^T src (accumulated by the GEMM itself, beta 1).
 * oneDNN's inner product reorders src and weights and reached 40-57 % of the FMA peak on the
 * contextual CNN's bank5 ([128, 5000] x [5000, 128]), the GEMM ~85 %.
 * HSICC_DNNL_NO_GEMM_DENSE=1 turns it off (for A/B runs). */
static int dn_mm_wanted(const hsi_layout *src)
{
    return !hsi_env_flag("HSICC_DNNL_NO_GEMM_DENSE") && dn_rowmajor(dn_lmd(src));
}

/* A long reduction over few rows (the contextual CNN's bank5: [128, 5000] x [5000, 128]): the
 * forward as two GEMMs over the two halves of k, one a thread (each 1-thread dnnl_sgemm reads
 * half the operands), the second half's product added to the first's: the same bits on any
 * thread count (1 thread: one after the other). oneDNN's GEMM split the rows or columns over
 * the threads, each thread then reading all of one operand (2.56 MB). Alone, 2 threads, best of
 * 60: 0.466 -> 0.413 ms hot, 0.668 -> 0.592 with cold caches; 1 thread unchanged (0.815 / 0.825).
 * HSICC_DNNL_NO_KSPLIT=1 turns it off (for A/B runs). */
static int dn_mm_ksplit(int64_t rows, int64_t k)
{
    return !hsi_env_flag("HSICC_DNNL_NO_KSPLIT") && rows <= DN_MM_ROWS && k >= 2048;
}

/* rows x k times [oc, k]^T; dst: its layout (a row-major [rows, oc]) */
static hsi_op *dn_mm_make(hsi_rt *rt, hk_kind kind, int64_t rows, int64_t k, int64_t oc,
                          int bias, const hsi_layout *dst)
{
    dn_wl *wl = dn_impl_alloc(rt, sizeof *wl);
    size_t used = 0;
    if (!wl) return NULL;
    wl->mm.on = 1;
    wl->mm.n = rows;
    wl->mm.k = k;
    wl->mm.oc = oc;
    wl->mm.bias = bias;
    wl->mm.ksplit = dn_mm_ksplit(rows, k);
    if (wl->mm.ksplit
        && dn_stage(rt, &used, (size_t)(rows * oc) * sizeof(float), &wl->mm.ksplit_off))
        return NULL;
    return dn_op(rt, kind, dst, wl);
}

/* dst: the plain layout of [N, OC] (dense) or of the conv's [N, OC, 1, ...] */
static hsi_op *dn_mm_create(hsi_rt *rt, hk_kind kind, const hsi_layout *src, int64_t oc,
                            int bias, int ndst, const int64_t *ddims)
{
    return dn_mm_make(rt, kind, src->dims[0], hk_numel(src->ndim, src->dims) / src->dims[0], oc,
                      bias, hk_dnnl_layout_plain(rt, ndst, ddims));
}

/* ---- 1x1 convolutions on channels-last tensors as one GEMM --------------------------------
 * A 2-D 1x1 convolution (stride 1, no padding, ungrouped) on an NHWC src is the dense GEMM
 * above over N*H*W rows of C: dst NHWC = [N*H*W, OC] (a conv over the whole depth that
 * lower.c folds into channels, on the fold reshape's channels-last output,
 * hk_dnnl_reshape_create: SSRN's C2 did before lower.c kept it a conv3d for the tapconv; a
 * [D, 1, 1] one with output channels not a multiple of 8 still does). oneDNN's direct conv
 * reached 66-70 % of the FMA peak on C2 and staged its 7.3 MB input in another layout.
 * HSICC_DNNL_NO_FOLD_GEMM=1 turns it off, and the fold's channels-last output (for A/B runs). */
static int dn_fold_gemm_off(void)
{
    return hsi_env_flag("HSICC_DNNL_NO_FOLD_GEMM");
}

static int dn_nhwc1x1_wanted(const hsi_layout *src, const hsi_conv_desc *cd)
{
    md_t last;
    if (dn_fold_gemm_off() || cd->nsp != 2 || cd->groups != 1 || src->ndim != 4) return 0;
    for (int i = 0; i < 2; i++)
        if (cd->kernel[i] != 1 || cd->stride[i] != 1 || cd->dilation[i] != 1 || cd->pad_lo[i]
            || cd->pad_hi[i])
            return 0;
    return !dn_md_tag(&last, 4, src->dims, dnnl_acdb) && dn_same(&last, dn_lmd(src));
}

/* dst nChw8c when OC is a multiple of 8 (what oneDNN's conv handed the layers after SSRN's C2:
 * its BN on channels-last took 5 times as long), moved from and to the GEMM's NHWC in tmp */
static hsi_op *dn_nhwc1x1_create(hsi_rt *rt, const hsi_layout *src, const hsi_conv_desc *cd)
{
    int64_t ddims[4] = {src->dims[0], cd->out_ch, src->dims[2], src->dims[3]};
    int64_t rows = src->dims[0] * src->dims[2] * src->dims[3];
    int b8 = cd->out_ch % 8 == 0;
    md_t dmd;
    size_t used = 0;
    if (dn_md_tag(&dmd, 4, ddims, b8 ? dnnl_aBcd8b : dnnl_acdb))
        return hk_fail(rt, "conv: bad shapes");
    hsi_op *op = dn_mm_make(rt, HK_CONV, rows, src->dims[1], cd->out_ch, cd->bias,
                            dn_layout(rt, &dmd));
    if (!op || !b8) return op;
    dn_wl *wl = op->impl;
    wl->mm.b8 = src->dims[2] * src->dims[3];
    return dn_stage(rt, &used, (size_t)(rows * cd->out_ch) * sizeof(float), &wl->mm.off) ? NULL
                                                                                        : op;
}

/* t [rows, oc] (rows = samples x px pixels) <-> b [samples, oc / 8, px, 8] */
static void dn_b8_move(const dn_wl *wl, float *t, float *b, int to_b)
{
    int64_t px = wl->mm.b8, oc = wl->mm.oc, ns = wl->mm.n / px;
    DN_OMP("omp parallel for schedule(static)")
    for (int64_t s = 0; s < ns; s++)
        for (int64_t ob = 0; ob < oc / 8; ob++)
            for (int64_t p = 0; p < px; p++) {
                float *x = t + (s * px + p) * oc + ob * 8, *y = b + ((s * oc / 8 + ob) * px + p) * 8;
                memcpy(to_b ? y : x, to_b ? x : y, 8 * sizeof *x);
            }
}

static void dn_mm_forward(hsi_op *op, const float *src, const float *w, const float *b,
                          float *dst)
{
    const dn_wl *wl = op->impl;
    int64_t n = wl->mm.n, k = wl->mm.k, oc = wl->mm.oc;
    int add_b = wl->mm.bias && b;
    float *d = wl->mm.b8 ? dn_tmp(op->rt, wl->mm.off) : dst;
    if (add_b)
        for (int64_t r = 0; r < n; r++) memcpy(d + r * oc, b, (size_t)oc * sizeof *b);
    if (wl->mm.ksplit && !wl->mm.b8) {
        float *part = dn_tmp(op->rt, wl->mm.ksplit_off);
        int64_t kh = k / 2;
        DN_OMP("omp parallel for schedule(static)")
        for (int h = 0; h < 2; h++)
            dn_ok(dnnl_sgemm('N', 'T', n, oc, h ? k - kh : kh, 1.f, src + (h ? kh : 0), k,
                             w + (h ? kh : 0), k, h || !add_b ? 0.f : 1.f, h ? part : d, oc),
                  "gemm dense");
        DN_OMP("omp parallel for schedule(static)")
        for (int64_t i = 0; i < n * oc; i++) d[i] += part[i];
        return;
    }
    for (int64_t r0 = 0; r0 < n; r0 += DN_MM_ROWS) {
        int64_t m = n - r0 < DN_MM_ROWS ? n - r0 : DN_MM_ROWS;
        dn_ok(dnnl_sgemm('N', 'T', m, oc, k, 1.f, src + r0 * k, k, w, k, add_b ? 1.f : 0.f,
                         d + r0 * oc, oc),
              "gemm dense");
    }
    if (wl->mm.b8) dn_b8_move(wl, d, dst, 1);
}

static void dn_mm_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                           float *dsrc, float *dw, float *db)
{
    const dn_wl *wl = op->impl;
    int64_t n = wl->mm.n, k = wl->mm.k, oc = wl->mm.oc;
    if (wl->mm.b8 && (dsrc || dw || (db && wl->mm.bias))) {
        float *t = dn_tmp(op->rt, wl->mm.off);
        dn_b8_move(wl, t, (float *)ddst, 0);
        ddst = t;
    }
    for (int64_t r0 = 0; dsrc && r0 < n; r0 += DN_MM_ROWS) {
        int64_t m = n - r0 < DN_MM_ROWS ? n - r0 : DN_MM_ROWS;
        dn_ok(dnnl_sgemm('N', 'N', m, k, oc, 1.f, ddst + r0 * oc, oc, w, k, 0.f, dsrc + r0 * k, k),
              "gemm dense (data)");
    }
    /* dw: the reduction over all n rows in one call per block of columns, as many blocks as
     * row blocks above (the packed src no larger); dw read and written once, not once per
     * row block (SSRN's C2, 1 thread: that GEMM 75-85 % of the FMA peak -> 85 %, steadier) */
    int64_t nb = (n + DN_MM_ROWS - 1) / DN_MM_ROWS, cols = ((k + nb - 1) / nb + 15) / 16 * 16;
    for (int64_t c0 = 0; dw && c0 < k; c0 += cols) {
        int64_t kc = k - c0 < cols ? k - c0 : cols;
        dn_ok(dnnl_sgemm('T', 'N', oc, kc, n, 1.f, ddst, oc, src + c0, k, 1.f, dw + c0, k),
              "gemm dense (weights)");
    }
    if (db && wl->mm.bias)
        for (int64_t r = 0; r < n; r++)
            for (int64_t o = 0; o < oc; o++) db[o] += ddst[r * oc + o];
}

/* ---- first-layer convolutions with few output pixels by smallconv.c ------------------------
 * The contextual CNN's 3x3 and 1x1 filter banks (200 bands of a 5x5 patch, no input gradient): an
 * implicit GEMM straight from the plain NCHW input, where the im2col + GEMM path first
 * reorders the input to NHWC and then copies it into columns (twice a step, the
 * weights' gradient redoes both). Measured on the 3x3 bank at 1 thread (loaded machine, best of
 * 30): forward 6.1-7.1 ms against 8.1-9.0, weights 6.2-7.0 against 8.0-8.7. Taken for 2-D
 * ungrouped, unpadded, undilated convolutions on a row-major src, no input gradient, at most
 * 64 output pixels, and a kernel of more than one pixel with a reduction of at least 256 (as
 * the im2col path; smaller ones stay oneDNN's: on the 17-band domain of tests/mpi/dp2.yaml,
 * whose BN amplifies float rounding, the 1- and 2-rank loss curves then drifted apart by
 * 5e-3), or a 1x1 kernel over at least 128 channels: on the 1x1 bank the kernel alone is about
 * as fast as oneDNN's direct conv (2.0 / 2.4 ms against 2.2 / 2.5, tests/dnnl/bench_ops ctx,
 * 1 thread), but its NHWC dst makes the 5x5 max pool after it faster (0.11 ms against 0.22)
 * and the BN channels-last (whole training run at 1 thread: 0.95-0.99 of the CPU time, paired
 * runs on a loaded machine, bench/BENCH.md). HSICC_DNNL_NO_SMALL_CONV=1 turns it
 * off (for A/B runs). dst is NHWC. */
static int dn_sc_wanted(const hsi_layout *src, const hsi_conv_desc *pc, int64_t oh, int64_t ow,
                        int need_dsrc)
{
    if (hsi_env_flag("HSICC_DNNL_NO_SMALL_CONV") || need_dsrc || pc->nsp != 2 || pc->groups != 1
        || oh * ow > 64
        || (pc->kernel[0] * pc->kernel[1] > 1 ? src->dims[1] * pc->kernel[0] * pc->kernel[1] < 256
                                              : src->dims[1] < 128)
        || !dn_rowmajor(dn_lmd(src)))
        return 0;
    for (int i = 0; i < 2; i++)
        if (pc->pad_lo[i] || pc->pad_hi[i] || pc->dilation[i] != 1) return 0;
    return 1;
}

static hsi_op *dn_sc_create(hsi_rt *rt, const hsi_layout *src, const hsi_conv_desc *pc,
                            int64_t oh, int64_t ow)
{
    dn_wl *wl = dn_impl_alloc(rt, sizeof *wl);
    if (!wl) return NULL;
    hk_sc *g = &wl->sc.g;
    *g = (hk_sc){.n = src->dims[0], .c = src->dims[1], .h = src->dims[2], .w = src->dims[3],
                 .oc = pc->out_ch, .kh = pc->kernel[0], .kw = pc->kernel[1],
                 .sh = pc->stride[0], .sw = pc->stride[1], .oh = oh, .ow = ow,
                 .bias = pc->bias};
    g->rowoff = dn_impl_alloc(rt, sizeof(int64_t) * (size_t)(g->n * oh * ow));
    g->koff = dn_impl_alloc(rt, sizeof(int64_t) * (size_t)(g->c * g->kh * g->kw));
    if (!g->rowoff || !g->koff) return NULL;
    hk_sc_init(g);
    wl->sc.on = 1;
    wl->sc.wino = hk_wino_ok(g);
    /* The backward takes the transformed input its forward kept when given the same src (a
     * backward's input is its forward's, unchanged); HSICC_DNNL_WINO_REKEEP=1 keeps none and
     * transforms again (for A/B runs and the tests: the same bits). */
    if (wl->sc.wino && !hsi_env_flag("HSICC_DNNL_WINO_REKEEP")
        && !(wl->sc.kept = dn_impl_alloc(rt, hk_wino_kept_floats(g) * sizeof(float))))
        return NULL;
    int64_t ddims[4] = {g->n, g->oc, oh, ow};
    md_t d_nhwc;
    size_t used = 0;
    if (dn_md_tag(&d_nhwc, 4, ddims, dnnl_acdb)) return hk_fail(rt, "conv: bad shapes");
    size_t scratch = wl->sc.wino ? hk_wino_scratch_floats(g) : hk_sc_scratch_floats(g);
    if (dn_stage(rt, &used, scratch * sizeof(float), &wl->sc.off)) return NULL;
    return dn_op(rt, HK_CONV, dn_layout(rt, &d_nhwc), wl);
}

/* ---- convolution as im2col + GEMM ---------------------------------------------------------
 * oneDNN's direct convolutions block over output pixels; with a handful of them (the
 * contextual CNN's 3x3 branch: 5x5 -> 3x3 over 200 bands) they run at about half of what one
 * GEMM over the whole batch reaches ([N*OH*OW, C*KH*KW] x [C*KH*KW, OC]). Taken for 2-D,
 * ungrouped, unpadded, undilated convolutions with at most 16 output pixels and a reduction of
 * at least 256; HSICC_DNNL_NO_GEMM_CONV=1 turns it off (for A/B runs). Backward data, when
 * needed, stays oneDNN's primitive. */
static int dn_col_wanted(const hsi_conv_desc *pc, int64_t C, int64_t H, int64_t W, int64_t oh,
                         int64_t ow)
{
    if (hsi_env_flag("HSICC_DNNL_NO_GEMM_CONV")) return 0;
    if (pc->nsp != 2 || pc->groups != 1 || oh * ow > 16 || C * pc->kernel[0] * pc->kernel[1] < 256)
        return 0;
    for (int i = 0; i < 2; i++)
        if (pc->pad_lo[i] || pc->pad_hi[i] || pc->dilation[i] != 1) return 0;
    return H >= pc->kernel[0] && W >= pc->kernel[1];
}

/* col[(n, oh, ow)][(kh, kw, c)] from an NHWC src: KW*C contiguous floats per (row, kh); the
 * rows on OpenMP's threads (when dnnl.c is compiled with it). */
static void dn_im2col(const dn_col *c, const float *src, float *col)
{
    size_t run = (size_t)(c->kw * c->c);
    int64_t rows = c->n * c->oh * c->ow;
    DN_OMP("omp parallel for schedule(static)")
    for (int64_t r = 0; r < rows; r++) {
        int64_t n = r / (c->oh * c->ow), y = r / c->ow % c->oh, x = r % c->ow;
        for (int64_t i = 0; i < c->kh; i++) {
            const float *from = src + ((n * c->h + y * c->sh + i) * c->w + x * c->sw) * c->c;
            memcpy(col + (size_t)(r * c->kh + i) * run, from, run * sizeof *col);
        }
    }
}

static void dn_col_forward(hsi_op *op, const float *src, const float *w, const float *b,
                           float *dst)
{
    dn_wl *wl = op->impl;
    const dn_col *c = &wl->col;
    hsi_rt *rt = op->rt;
    const float *s = dn_in(rt, &wl->src_in, src), *wt = dn_in(rt, &wl->w_in, w);
    float *col = dn_tmp(rt, c->col_off);
    int64_t rows = c->n * c->oh * c->ow, k = c->kh * c->kw * c->c;
    dn_im2col(c, s, col);
    if (c->bias && b)
        for (int64_t r = 0; r < rows; r++) memcpy(dst + r * c->oc, b, (size_t)c->oc * sizeof *b);
    dn_ok(dnnl_sgemm('N', 'T', rows, c->oc, k, 1.f, col, k, wt, k, c->bias && b ? 1.f : 0.f, dst,
                     c->oc), "gemm convolution");
}

/* dw += ddst^T col (ddst NHWC = [rows, OC]); db += column sums of ddst. */
static void dn_col_backward_weights(hsi_op *op, const float *src, const float *ddst, float *dw,
                                    float *db)
{
    dn_wl *wl = op->impl;
    const dn_col *c = &wl->col;
    hsi_rt *rt = op->rt;
    int64_t rows = c->n * c->oh * c->ow, k = c->kh * c->kw * c->c;
    if (dw) {
        const float *s = dn_in(rt, &wl->src_in, src);
        float *col = dn_tmp(rt, c->col_off);
        dn_im2col(c, s, col);
        float *gw = dn_out(rt, &wl->dw_acc, dw);
        dn_ok(dnnl_sgemm('T', 'N', c->oc, k, rows, 1.f, ddst, c->oc, col, k, 0.f, gw, k),
              "gemm convolution (weights)");
        dn_out_done(rt, &wl->dw_acc, dw);
    }
    if (db && c->bias)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < c->oc; o++) db[o] += ddst[r * c->oc + o];
}

static hsi_op *dn_col_create(hsi_rt *rt, const md_t *smd, const hsi_conv_desc *pc,
                             const dn_geom *g, const int64_t *pdims, int64_t oh, int64_t ow,
                             int need_dsrc, int need_dw)
{
    dn_wl *wl = dn_impl_alloc(rt, sizeof *wl);
    if (!wl) return NULL;
    dn_col *c = &wl->col;
    *c = (dn_col){.on = 1, .n = pdims[0], .c = pdims[1], .h = pdims[2], .w = pdims[3],
                  .oc = pc->out_ch, .kh = pc->kernel[0], .kw = pc->kernel[1],
                  .sh = pc->stride[0], .sw = pc->stride[1], .oh = oh, .ow = ow, .bias = pc->bias};
    int64_t sdims[4] = {c->n, c->c, c->h, c->w}, wdims[4] = {c->oc, c->c, c->kh, c->kw};
    int64_t ddims[4] = {c->n, c->oc, oh, ow};
    md_t s_nhwc, w_plain, w_hwc, d_nhwc;
    size_t used = 0;
    if (dn_md_tag(&s_nhwc, 4, sdims, dnnl_acdb) || dn_md_tag(&w_plain, 4, wdims, dnnl_abcd)
        || dn_md_tag(&w_hwc, 4, wdims, dnnl_acdb) || dn_md_tag(&d_nhwc, 4, ddims, dnnl_acdb))
        return hk_fail(rt, "conv: bad shapes");
    if (dn_port_in(rt, &used, &wl->src_in, smd, &s_nhwc)
        || dn_port_in(rt, &used, &wl->w_in, &w_plain, &w_hwc)
        || dn_stage(rt, &used, (size_t)(c->n * oh * ow * c->kh * c->kw * c->c) * sizeof(float),
                    &c->col_off))
        return NULL;
    if (need_dw && dn_port_out(rt, &used, &wl->dw_acc, &w_hwc, &w_plain, 1)) return NULL;
    if (need_dsrc) {
        /* oneDNN's backward data, on the NHWC ddst this op hands out; the forward pd is only
         * its hint (never executed); it runs before the weights' GEMM, never with it */
        dn_phase(&used);
        md_t w_any, b_md;
        int64_t nb = c->oc;
        dn_md_any(&w_any, &w_plain);
        if (c->bias && dn_md_tag(&b_md, 1, &nb, dnnl_format_tag_undef))
            return hk_fail(rt, "conv: bad bias size");
        const_dnnl_primitive_desc_t fwd =
            dn_wl_pd(rt, g, DN_FWD, smd, &w_any, c->bias ? &b_md : NULL, &d_nhwc, NULL, "conv");
        const_dnnl_primitive_desc_t pd =
            fwd ? dn_wl_pd(rt, g, DN_BWD_DATA, smd, &w_any, NULL, &d_nhwc, fwd, "conv") : NULL;
        const int args[] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
        if (!pd || dn_build(rt, &wl->bwd_data, pd, 3, args, "conv")
            || dn_port_in(rt, &used, &wl->w_bd, &w_plain, dn_md(pd, DNNL_ARG_WEIGHTS))
            || dn_port_in(rt, &used, &wl->ddst_bd, &d_nhwc, dn_md(pd, DNNL_ARG_DIFF_DST))
            || dn_port_out(rt, &used, &wl->dsrc_out, dn_md(pd, DNNL_ARG_DIFF_SRC), smd, 0))
            return NULL;
    }
    return dn_op(rt, HK_CONV, dn_layout(rt, &d_nhwc), wl);
}

/* ---- k x 1 x 1 convolutions by tapconv.c ------------------------------------------------
 * SSRN's spectral convs ([7,1,1], 24 channels, pad 3 along the bands) on the nCdhw8c tensors
 * the rest of the net hands them: oneDNN's direct kernels reach about 65 % of the FMA peak
 * forward and 45 % for the weights on these shapes. Also SSRN's C2, [97, 1, 1] over the whole
 * depth (the compiler keeps it a conv3d, lower.c): one output plane, its reduction by blocks
 * of taps (tapconv.c), no fold of its input into channels-last and back (the GEMM path below,
 * dn_nhwc1x1, with hk_tap_fold: 3.4 ms of a 140 ms step besides the conv, 1 thread). Taken
 * for ungrouped 3-D convs with kernel [K, 1, 1], unit strides and dilations, no H/W padding,
 * input and output channels multiples of 8 and the src in exactly that layout (so nothing is
 * reordered); the dst gets it too. HSICC_DNNL_NO_TAP_CONV=1 turns it off (for A/B runs; C2
 * then runs on oneDNN as a [97, 1] 2-D conv over [D, H*W]). */
static int dn_tap_off(void)
{
    return hsi_env_flag("HSICC_DNNL_NO_TAP_CONV");
}

static int dn_tap_wanted(const hsi_layout *src, const hsi_conv_desc *cd, md_t *dst)
{
    if (dn_tap_off() || cd->nsp != 3 || cd->groups != 1 || src->ndim != 5
        || src->dims[1] % 8 || cd->out_ch % 8)
        return 0;
    for (int i = 0; i < 3; i++)
        if (cd->stride[i] != 1 || cd->dilation[i] != 1
            || (i && (cd->kernel[i] != 1 || cd->pad_lo[i] || cd->pad_hi[i])))
            return 0;
    int64_t dout = src->dims[2] + cd->pad_lo[0] + cd->pad_hi[0] - cd->kernel[0] + 1;
    int64_t ddims[5] = {src->dims[0], cd->out_ch, dout, src->dims[3], src->dims[4]};
    md_t blk;
    return dout >= 1 && !dn_md_tag(&blk, 5, src->dims, dnnl_aBcde8b) && dn_same(&blk, dn_lmd(src))
           && !dn_md_tag(dst, 5, ddims, dnnl_aBcde8b);
}

static int dn_bn_fold_off(void);

static hsi_op *dn_tap_create(hsi_rt *rt, const hsi_layout *src, const hsi_conv_desc *cd,
                             const md_t *dst)
{
    dn_wl *wl = dn_impl_alloc(rt, sizeof *wl);
    if (!wl) return NULL;
    wl->tap.on = 1;
    wl->tap.g = (hk_tap){.n = src->dims[0], .c = src->dims[1], .oc = cd->out_ch,
                         .din = src->dims[2], .dout = dst->dims[2],
                         .hw = src->dims[3] * src->dims[4], .k = cd->kernel[0],
                         .pad = cd->pad_lo[0], .stride = 1, .bias = cd->bias};
    size_t used = 0;
    if (dn_stage(rt, &used, hk_tap_scratch_floats(&wl->tap.g) * sizeof(float), &wl->tap.off))
        return NULL;
    wl->tap.res = !hsi_env_flag("HSICC_NO_ADD_FOLD") && hk_tap_residual_ok(&wl->tap.g);
    wl->tap.dadd = !hsi_env_flag("HSICC_NO_ACCUM_FOLD") && hk_tap_dx_add_ok(&wl->tap.g);
    if (!dn_bn_fold_off()) {   /* decided at create: a model made with it set keeps it off */
        wl->tap.pre = hk_alloc(rt, 2 * (size_t)wl->tap.g.c * sizeof(float));
        if (!wl->tap.pre) return hk_fail(rt, "conv: out of memory");
    }
    return dn_op(rt, HK_CONV, dn_layout(rt, dst), wl);
}

/* SSRN's C1 ([7,1,1], stride 2 along the bands, one input channel, no dsrc): oneDNN's
 * backward weights takes about 9 times its forward for the same FLOPs; tapconv.c computes
 * dw and db from the plain src and the nCdhw8c ddst instead (the forward stays oneDNN's). */
static int dn_tap_w1(hsi_rt *rt, hsi_op *op, const hsi_layout *src, const hsi_conv_desc *cd,
                     int need_dsrc, int need_dw)
{
    dn_wl *wl = op->impl;
    if (dn_tap_off() || need_dsrc || !need_dw || wl->col.on
        || cd->nsp != 3 || cd->groups != 1 || src->dims[1] != 1 || cd->out_ch % 8
        || !dn_rowmajor(dn_lmd(src)))
        return 0;
    for (int i = 0; i < 3; i++)
        if (cd->dilation[i] != 1
            || (i && (cd->kernel[i] != 1 || cd->stride[i] != 1 || cd->pad_lo[i] || cd->pad_hi[i])))
            return 0;
    md_t blk;
    if (dn_md_tag(&blk, 5, op->dst->dims, dnnl_aBcde8b) || !dn_same(&blk, dn_lmd(op->dst)))
        return 0;
    wl->tap.g = (hk_tap){.n = src->dims[0], .c = 1, .oc = cd->out_ch, .din = src->dims[2],
                         .dout = op->dst->dims[2], .hw = src->dims[3] * src->dims[4],
                         .k = cd->kernel[0], .pad = cd->pad_lo[0], .stride = cd->stride[0],
                         .bias = cd->bias};
    size_t used = 0;
    if (dn_stage(rt, &used, hk_tap_scratch_floats(&wl->tap.g) * sizeof(float), &wl->tap.off))
        return -1;
    wl->tap.w1 = 1;
    return 0;
}

hsi_op *hk_dnnl_conv_create(hsi_rt *rt, const hsi_layout *src, const hsi_conv_desc *cd,
                            int need_dsrc, int need_dw)
{
    int nsp = cd->nsp, nd = nsp + 2;
    if (nsp < 1 || nsp > 3 || src->ndim != nd)
        return hk_fail(rt, "conv: a %d-D convolution needs a rank-%d input, got rank %d", nsp,
                       nd, src->ndim);
    int64_t C = src->dims[1], G = cd->groups, OC = cd->out_ch, ddims[5] = {src->dims[0], OC};
    if (G < 1 || OC < 1 || C % G || OC % G)
        return hk_fail(rt, "conv: %lld groups do not divide %lld input and %lld output channels",
                       (long long)G, (long long)C, (long long)OC);
    for (int i = 0; i < nsp; i++) {
        int64_t k = cd->kernel[i], s = cd->stride[i], dil = cd->dilation[i];
        int64_t lo = cd->pad_lo[i], hi = cd->pad_hi[i], in = src->dims[2 + i];
        int64_t span = (k - 1) * dil + 1;
        if (k < 1 || s < 1 || dil < 1 || lo < 0 || hi < 0 || in + lo + hi < span)
            return hk_fail(rt, "conv: spatial dim %d: kernel %lld (dilation %lld) does not fit "
                           "input %lld padded by %lld+%lld with stride %lld", i, (long long)k,
                           (long long)dil, (long long)in, (long long)lo, (long long)hi,
                           (long long)s);
        ddims[2 + i] = (in + lo + hi - span) / s + 1;
    }
    md_t tap_dst;
    if (dn_tap_wanted(src, cd, &tap_dst)) return dn_tap_create(rt, src, cd, &tap_dst);
    if (dn_nhwc1x1_wanted(src, cd)) return dn_nhwc1x1_create(rt, src, cd);
    /* The geometry the primitives see. A 3-D conv that is pointwise in H and W (SSRN's
     * spectral [k,1,1]) runs as 2-D over [D, H*W], where oneDNN's kernels block better. */
    hsi_conv_desc pc = *cd;
    int64_t pdims[5];
    md_t sview;
    const md_t *smd = dn_lmd(src);
    memcpy(pdims, src->dims, sizeof pdims);
    int fold = nsp == 3;
    for (int i = 1; i < nsp; i++)
        fold &= cd->kernel[i] == 1 && cd->stride[i] == 1 && cd->dilation[i] == 1
                && !cd->pad_lo[i] && !cd->pad_hi[i];
    if (fold) {
        pc.nsp = 2;
        pdims[3] = src->dims[3] * src->dims[4];
        pc.kernel[1] = pc.stride[1] = pc.dilation[1] = 1;
        pc.pad_lo[1] = pc.pad_hi[1] = 0;
        fold = dn_reshape_md(&sview, smd, 4, pdims) == 0;
        if (fold) {
            smd = &sview;
        } else {   /* no view of src over [D, H*W]: the conv stays 3-D, on src's own sizes */
            pc = *cd;
            memcpy(pdims, src->dims, sizeof pdims);
        }
    }
    /* A kernel covering the whole unpadded input is an inner product (a plain GEMM). */
    int full = G == 1;
    for (int i = 0; i < pc.nsp; i++)
        full &= pc.kernel[i] == pdims[2 + i] && pc.dilation[i] == 1 && !pc.pad_lo[i]
                && !pc.pad_hi[i];
    dn_geom g = {.conv = !full,
                 .prop = need_dsrc || need_dw ? dnnl_forward_training : dnnl_forward_inference};
    int64_t wdims[6], pddims[5] = {src->dims[0], OC};
    int wn = 0;
    if (G > 1) wdims[wn++] = G;
    wdims[wn++] = OC / G;
    wdims[wn++] = C / G;
    for (int i = 0; i < pc.nsp; i++) {
        g.strides[i] = pc.stride[i];
        g.dilates[i] = pc.dilation[i] - 1;
        g.pad_l[i] = pc.pad_lo[i];
        g.pad_r[i] = pc.pad_hi[i];
        wdims[wn++] = pc.kernel[i];
        pddims[2 + i] = (pdims[2 + i] + pc.pad_lo[i] + pc.pad_hi[i]
                         - (pc.kernel[i] - 1) * pc.dilation[i] - 1) / pc.stride[i] + 1;
    }
    if (full && dn_mm_wanted(src))
        return dn_mm_create(rt, HK_CONV, src, OC, cd->bias, nd, ddims);
    if (!full && !fold && dn_sc_wanted(src, &pc, pddims[2], pddims[3], need_dsrc))
        return dn_sc_create(rt, src, &pc, pddims[2], pddims[3]);
    if (!full && !fold && dn_col_wanted(&pc, C, pdims[2], pdims[3], pddims[2], pddims[3]))
        return dn_col_create(rt, smd, &pc, &g, pdims, pddims[2], pddims[3], need_dsrc, need_dw);
    md_t w_plain, dst;
    /* SSRN's C1 (one input channel, [K, 1, 1], 2-D after the fold): its dst in nCdhw8c, the
     * layout tapconv.c's convs downstream read, also where oneDNN would choose 16 channels
     * (AVX-512), so the whole spectral stack stays in one layout without reorders. */
    dnnl_format_tag_t dtag = full ? dnnl_ab : dnnl_format_tag_any;
    if (!full && fold && G == 1 && C == 1 && OC % 8 == 0 && need_dw && !need_dsrc && !dn_tap_off())
        dtag = dnnl_aBcd8b;
    if (dn_md_tag(&w_plain, wn, wdims, dnnl_format_tag_undef)
        || dn_md_tag(&dst, full ? 2 : pc.nsp + 2, pddims, dtag))
        return hk_fail(rt, "conv: bad shapes");
    hsi_op *op = dn_wl_create(rt, HK_CONV, src, smd, &g, &w_plain, cd->bias ? OC : 0, &dst,
                              full || fold ? ddims : NULL, need_dsrc, need_dw, "conv");
    return op && dn_tap_w1(rt, op, src, cd, need_dsrc, need_dw) ? NULL : op;
}

const char *hk_dnnl_conv_impl(const hsi_op *op)
{
    const dn_wl *wl = op->impl;
    static const char *const tap[] = {"tapconv:generic", "tapconv:avx2", "tapconv:avx512"};
    static const char *const sc[] = {"smallconv:generic", "smallconv:avx2", "smallconv:avx512"};
    static const char *const wino[] = {"winograd:generic", "winograd:avx2", "winograd:avx512"};
    static const char *const w1[] = {"onednn, weights tapconv:generic",
                                     "onednn, weights tapconv:avx2",
                                     "onednn, weights tapconv:avx512"};
    if (wl->tap.on) return tap[hk_tap_isa()];
    if (wl->sc.on) return wl->sc.wino ? wino[hk_isa()] : sc[hk_sc_isa()];
    if (wl->tap.w1) return w1[hk_tap_isa()];
    return wl->col.on || wl->mm.on ? "gemm" : "onednn";
}

void hk_dnnl_conv_forward(hsi_op *op, const float *src, const float *w, const float *b,
                          float *dst)
{
    dn_wl_forward(op, src, w, b, dst);
}

void hk_dnnl_conv_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                           float *dsrc, float *dw, float *db)
{
    dn_wl_backward(op, src, w, ddst, dsrc, dw, db);
}

hsi_op *hk_dnnl_dense_create(hsi_rt *rt, const hsi_layout *src, int64_t out, int bias,
                             int need_dsrc, int need_dw)
{
    int64_t wdims[5] = {out}, ddims[2] = {src->dims[0], out};
    md_t w_plain, dst;
    for (int i = 1; i < src->ndim; i++) wdims[i] = src->dims[i];
    if (out >= 1 && dn_mm_wanted(src)) return dn_mm_create(rt, HK_DENSE, src, out, bias, 2, ddims);
    if (out < 1 || dn_md_tag(&w_plain, src->ndim, wdims, dnnl_format_tag_undef)
        || dn_md_tag(&dst, 2, ddims, dnnl_format_tag_undef))
        return hk_fail(rt, "dense: bad output size %lld", (long long)out);
    dn_geom g = {.conv = 0,
                 .prop = need_dsrc || need_dw ? dnnl_forward_training : dnnl_forward_inference};
    return dn_wl_create(rt, HK_DENSE, src, dn_lmd(src), &g, &w_plain, bias ? out : 0, &dst, NULL,
                        need_dsrc, need_dw, "dense");
}

void hk_dnnl_dense_forward(hsi_op *op, const float *src, const float *w, const float *b,
                           float *dst)
{
    dn_wl_forward(op, src, w, b, dst);
}

void hk_dnnl_dense_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                            float *dsrc, float *dw, float *db)
{
    dn_wl_backward(op, src, w, ddst, dsrc, dw, db);
}

/* ---- batch normalisation ------------------------------------------------------------------ */

/* ws = [batch mean: C floats][batch variance: C floats][oneDNN workspace (ReLU mask)], or with
 * bnorm.c [mean][variance][beta as the forward saw it: the backward recomputes the mask]. */
typedef struct dn_bn {
    dn_prim train, infer, bwd;
    dn_port dsrc_out;             /* staging only when the caller passes dsrc NULL */
    int64_t C;
    double count;                 /* elements per channel: N * spatial */
    size_t var_off, mask_off;     /* in ws */
    size_t dscale_off, dshift_off;/* in tmp */
    /* synchronized BN (hk_bn_sync() at create): training with given (global) statistics, and
     * the correction of the local backward: an inference BN without ReLU whose scale and shift
     * make it the per-channel affine map that turns local batch sums into global ones */
    dn_prim gtrain, corr;
    size_t cscale_off, cshift_off, ctmp_off;   /* in tmp */
    double *red;                  /* [2C] sums reduced over the processes */
    double gcount;                /* elements per channel of the global batch (last forward) */
    size_t corr_floats;           /* floats of a tensor in md (padding included) */
    size_t floats;                /* the same, for hk_dnnl_bn_backward's add with oneDNN's BN */
    float eps;
    /* training by bnorm.c (double sums) when the layout is one it walks (synchronized BN
     * included); HSICC_DNNL_BN=onednn keeps oneDNN's */
    int own;
    hk_bnorm g;
    size_t own_off;               /* its scratch (doubles) in tmp */
    double *keep;                 /* or, when a conv takes its sums, its own (kept between the
                                     conv's call and the BN's) */
    const float *sum_x;           /* the src whose forward sums keep holds (NULL: none) */
    int want;                     /* 1: the last forward call trained (hsi_bn_sums_from's conv
                                     sums for the next one; after an inference forward it does
                                     not, until the BN trains again: no sums in evaluation) */
    const float *bsum_x, *bsum_dy;   /* the src and ddst whose backward sums it holds */
    size_t add_off;               /* HSICC_DNNL_NO_BN_ADD=1: dsrc staged, then added (in tmp) */
    int add_staged;
} dn_bn;

/* bnorm.c's scratch: keep when a conv takes the BN's sums, else in the shared tmp */
static double *dn_bn_scratch(const hsi_op *op)
{
    const dn_bn *bn = op->impl;
    return bn->keep ? bn->keep : dn_tmp(op->rt, bn->own_off);
}

/* 1 when keep holds src's forward sums (a conv's, hsi_bn_sums_from); used once */
static int dn_bn_summed(dn_bn *bn, const float *src)
{
    int r = bn->sum_x && bn->sum_x == src;
    bn->sum_x = NULL;
    bn->want = 1;   /* a training forward: the conv sums for the next */
    return r;
}

/* 1 when keep holds the backward sums of (src, ddst) (hsi_bn_grad_sums_from); used once */
static int dn_bn_bsummed(dn_bn *bn, const float *src, const float *ddst)
{
    int r = bn->bsum_dy && bn->bsum_x == src && bn->bsum_dy == ddst;
    bn->bsum_x = bn->bsum_dy = NULL;
    return r;
}

static size_t dn_align(size_t n) { return (n + 63) / 64 * 64; }

/* The channel block bnorm.c walks md with: 1 (plain [N, C, ...], or channels-last with one
 * spatial element), 8 or 16 (oneDNN's aBc8b ... aBcde16b), C (channels-last); 0: another
 * layout (oneDNN's BN).
 * HSICC_DNNL_BN=onednn keeps oneDNN's training BN everywhere (for A/B runs). */
static int64_t dn_bn_block(const hsi_layout *src, const md_t *md)
{
    const char *e = getenv("HSICC_DNNL_BN");
    if ((e && !strcmp(e, "onednn")) || src->ndim < 2 || src->ndim > 5) return 0;
    md_t t;
    int64_t spatial = hk_numel(src->ndim, src->dims) / (src->dims[0] * src->dims[1]);
    /* row-major with one spatial element ([N, C], or channels-last [N, C, 1, 1]): one block of
     * every channel, a sample's C floats per work item */
    if (dn_rowmajor(md)) return spatial == 1 ? src->dims[1] : 1;
    if (src->ndim >= 3) {
        static const dnnl_format_tag_t b8[] = {dnnl_aBc8b, dnnl_aBcd8b, dnnl_aBcde8b};
        static const dnnl_format_tag_t b16[] = {dnnl_aBc16b, dnnl_aBcd16b, dnnl_aBcde16b};
        if (!dn_md_tag(&t, src->ndim, src->dims, b8[src->ndim - 3]) && dn_same(&t, md)) return 8;
        if (!dn_md_tag(&t, src->ndim, src->dims, b16[src->ndim - 3]) && dn_same(&t, md)) return 16;
        static const dnnl_format_tag_t last[] = {dnnl_acb, dnnl_acdb, dnnl_acdeb};
        if (!dn_md_tag(&t, src->ndim, src->dims, last[src->ndim - 3]) && dn_same(&t, md))
            return src->dims[1];   /* channels-last: one block of every channel */
    }
    return 0;
}

hsi_op *hk_dnnl_bn_create(hsi_rt *rt, const hsi_layout *src, float eps, int fuse_relu)
{
    dn_bn *bn = dn_impl_alloc(rt, sizeof *bn);
    dnnl_batch_normalization_desc_t desc;
    const md_t *md = dn_lmd(src);
    md_t last;
    /* A plain [N, C, 1, ...] tensor is also channels-last, where oneDNN's BN is much faster. */
    int64_t spatial = hk_numel(src->ndim, src->dims) / (src->dims[0] * src->dims[1]);
    if (src->plain && src->ndim > 2 && spatial == 1
        && !dn_md_tag(&last, src->ndim, src->dims, src->ndim == 3   ? dnnl_acb
                                                   : src->ndim == 4 ? dnnl_acdb
                                                                    : dnnl_acdeb))
        md = &last;
    unsigned flags = dnnl_use_scale | dnnl_use_shift | (fuse_relu ? dnnl_fuse_norm_relu : 0u);
    size_t used = 0;
    if (!bn) return NULL;
    bn->C = src->dims[1];
    bn->eps = eps;
    bn->count = (double)hk_numel(src->ndim, src->dims) / (double)bn->C;
    int64_t B = dn_bn_block(src, md);
    if (B) {
        bn->own = 1;
        bn->g = (hk_bnorm){.n = src->dims[0], .c = bn->C, .b = B, .s = spatial, .eps = eps,
                           .relu = fuse_relu};
        if (dn_stage(rt, &used, hk_bnorm_scratch_doubles(&bn->g) * sizeof(double), &bn->own_off))
            return NULL;
        /* hsi_bn_backward_add: bnorm.c adds dx in its data pass; HSICC_DNNL_NO_BN_ADD=1 writes
         * it to a staging and adds that in a second pass, as the accumulation it replaced (for
         * A/B runs) */
        bn->add_staged = hsi_env_flag("HSICC_DNNL_NO_BN_ADD");
        if (bn->add_staged && dn_stage(rt, &used, dnnl_memory_desc_get_size(md), &bn->add_off))
            return NULL;
        bn->floats = dnnl_memory_desc_get_size(md) / sizeof(float);
    }
    const int targs[] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_SCALE, DNNL_ARG_SHIFT,
                         DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_WORKSPACE};
    bn->var_off = dn_align((size_t)bn->C * sizeof(float));
    bn->mask_off = 2 * bn->var_off;
    size_t ws = bn->mask_off;
    if (dn_check(rt, dnnl_batch_normalization_forward_desc_init(
                         &desc, dnnl_forward_inference, md, eps, flags | dnnl_use_global_stats),
                 "bn"))
        return NULL;
    const_dnnl_primitive_desc_t ipd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "bn inference");
    if (dn_build(rt, &bn->infer, ipd, 6, targs, "bn inference")) return NULL;
    if (bn->own) {
        /* bnorm.c trains: no oneDNN training or backward primitives, nor their staging; the
         * output is recomputed for the backward unless HSICC_NO_BN_RECOMPUTE=1 */
        ws += (size_t)bn->C * sizeof(float);   /* beta, for the backward's ReLU mask */
        hsi_op *op = dn_op(rt, HK_BN, src, bn);
        if (op) {
            op->ws_bytes = ws;
            op->recompute = !hsi_env_flag("HSICC_NO_BN_RECOMPUTE");
        }
        return op;
    }
    if (dn_check(rt, dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_training, md,
                                                                eps, flags), "bn"))
        return NULL;
    const_dnnl_primitive_desc_t tpd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "bn training");
    if (dn_build(rt, &bn->train, tpd, fuse_relu ? 7 : 6, targs, "bn training")) return NULL;
    if (fuse_relu) ws += dnnl_memory_desc_get_size(dn_md(tpd, DNNL_ARG_WORKSPACE));

    if (dn_check(rt, dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, md, md,
                                                                 eps, flags), "bn backward"))
        return NULL;
    const_dnnl_primitive_desc_t bpd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), tpd, "bn backward");
    const int bargs[] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_SCALE, DNNL_ARG_SHIFT,
                         DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_DIFF_SRC,
                         DNNL_ARG_DIFF_SCALE, DNNL_ARG_DIFF_SHIFT, DNNL_ARG_WORKSPACE};
    if (dn_build(rt, &bn->bwd, bpd, fuse_relu ? 10 : 9, bargs, "bn backward")
        || dn_port_out(rt, &used, &bn->dsrc_out, md, md, 0)
        || dn_stage(rt, &used, (size_t)bn->C * sizeof(float), &bn->dscale_off)
        || dn_stage(rt, &used, (size_t)bn->C * sizeof(float), &bn->dshift_off))
        return NULL;
    bn->floats = dnnl_memory_desc_get_size(md) / sizeof(float);
    if (hk_bn_sync()) {
        if (dn_check(rt, dnnl_batch_normalization_forward_desc_init(
                             &desc, dnnl_forward_training, md, eps, flags | dnnl_use_global_stats),
                     "bn (synchronized)")
            || dn_build(rt, &bn->gtrain,
                        dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "bn training, given statistics"),
                        fuse_relu ? 7 : 6, targs, "bn training, given statistics")
            || dn_check(rt, dnnl_batch_normalization_forward_desc_init(
                                &desc, dnnl_forward_inference, md, eps,
                                dnnl_use_scale | dnnl_use_shift | dnnl_use_global_stats),
                        "bn (synchronized backward)")
            || dn_build(rt, &bn->corr,
                        dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "bn backward correction"), 6,
                        targs, "bn backward correction")
            || dn_stage(rt, &used, (size_t)bn->C * sizeof(float), &bn->cscale_off)
            || dn_stage(rt, &used, (size_t)bn->C * sizeof(float), &bn->cshift_off)
            || dn_stage(rt, &used, dnnl_memory_desc_get_size(md), &bn->ctmp_off))
            return NULL;
        bn->corr_floats = dnnl_memory_desc_get_size(md) / sizeof(float);
        if (!(bn->red = hk_alloc(rt, 2 * sizeof(double) * (size_t)bn->C)))
            return hk_fail(rt, "out of memory");
    }
    hsi_op *op = dn_op(rt, HK_BN, src, bn);
    if (op) op->ws_bytes = ws;
    return op;
}

/* The global batch's mean and biased variance from every process's (Chan's combination of
 * per-shard moments), written over the local ones in mean, var. */
static void dn_bn_global_stats(dn_bn *bn, float *mean, float *var)
{
    const int64_t C = bn->C;
    double *r = bn->red, m = bn->count, M = m;
    hk_dp->sum(&M, 1, hk_dp->ctx);
    for (int64_t c = 0; c < C; c++) r[c] = m * mean[c];
    hk_dp->sum(r, (int)C, hk_dp->ctx);
    for (int64_t c = 0; c < C; c++) {
        double g = r[c] / M, d = mean[c] - g;
        r[C + c] = m * var[c] + m * d * d;
        mean[c] = (float)g;
    }
    hk_dp->sum(r + C, (int)C, hk_dp->ctx);
    for (int64_t c = 0; c < C; c++) var[c] = (float)(r[C + c] / M);
    bn->gcount = M;
}

void hk_dnnl_bn_recompute(hsi_op *op, const float *src, const float *gamma, const float *beta,
                          const void *ws, float *dst)
{
    dn_bn *bn = op->impl;
    const char *w = ws;
    (void)beta;   /* the forward's, kept in ws (the same values) */
    hk_bnorm_apply(&bn->g, src, gamma, (const float *)(w + bn->mask_off), (const float *)w,
                   (const float *)(w + bn->var_off), dst, dn_bn_scratch(op));
}

/* ---- a BN applied by the k x 1 x 1 conv that reads its output (hsi_conv_takes_bn) --------
 * The BN trains on bnorm.c and recomputes its output for the backward, the conv runs on
 * tapconv.c, and both see the same nCdhw8c tensor (bnorm.c's blocks of 8 over N, C, D*H*W):
 * tapconv.c reads the BN's input through the BN's scale, shift and ReLU (hk_tap_pre), the same
 * floats as bnorm.c's y. HSICC_NO_BN_FOLD=1 turns it off (for A/B runs). */
static int dn_bn_fold_off(void)
{
    return hsi_env_flag("HSICC_NO_BN_FOLD");
}

static void dn_bn_running(const dn_bn *bn, const float *mean, const float *var, double count,
                          float momentum, float *running_mean, float *running_var);

int hk_dnnl_conv_takes_bn(const hsi_op *conv, const hsi_op *bn)
{
    const dn_wl *wl = conv->impl;
    const dn_bn *b = bn->impl;
    if (!wl->tap.on || !wl->tap.pre || !b->own || !bn->recompute) return 0;
    const hk_tap *t = &wl->tap.g;
    /* bnorm.c's [N, C/8, S, 8] over the same N, C, S: the conv's nCdhw8c src */
    return b->g.b == 8 && b->g.n == t->n && b->g.c == t->c && b->g.s == t->din * t->hw;
}

void hk_dnnl_bn_train_stats(hsi_op *bn, const float *src, const float *gamma, const float *beta,
                            float *running_mean, float *running_var, float momentum, void *ws)
{
    dn_bn *b = bn->impl;
    float *mean = ws, *var = (float *)((char *)ws + b->var_off);
    double count;
    memcpy((char *)ws + b->mask_off, beta, (size_t)b->C * sizeof(float));
    int sync = hk_bn_sync();
    hk_bnorm_forward(&b->g, src, gamma, beta, NULL, mean, var, &count, dn_bn_summed(b, src),
                     dn_bn_scratch(bn), sync ? hk_dp->sum : NULL, sync ? hk_dp->ctx : NULL);
    dn_bn_running(b, mean, var, count, momentum, running_mean, running_var);
}

/* The BN's scale and shift into the conv's pre, from gamma and what ws saved. */
static hk_tap_pre dn_bn_pre(const hsi_op *conv, const hsi_op *bn, const float *gamma,
                            const void *ws)
{
    const dn_wl *wl = conv->impl;
    const dn_bn *b = bn->impl;
    const char *w = ws;
    float *sc = wl->tap.pre, *sh = sc + wl->tap.g.c;
    hk_bnorm_affine(&b->g, gamma, (const float *)(w + b->mask_off), (const float *)w,
                    (const float *)(w + b->var_off), sc, sh);
    return (hk_tap_pre){.scale = sc, .shift = sh, .relu = b->g.relu};
}

void hk_dnnl_conv_forward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn, const float *gamma,
                             const void *bn_ws, const float *w, const float *b, float *dst)
{
    dn_wl *wl = conv->impl;
    hk_tap_pre pre = dn_bn_pre(conv, bn, gamma, bn_ws);
    dn_sums sm;
    hk_tap_forward_res(&wl->tap.g, bn_src, &pre, w, b, NULL, dst, dn_tmp(conv->rt, wl->tap.off),
                       dn_sums_fwd(wl, dst, &sm));
    dn_sums_done(&sm);
}

void hk_dnnl_conv_backward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn, const float *gamma,
                              const void *bn_ws, const float *w, const float *ddst, float *dsrc,
                              float *dw, float *db)
{
    dn_wl *wl = conv->impl;
    hk_tap_pre pre = dn_bn_pre(conv, bn, gamma, bn_ws);
    dn_sums sm;
    hk_tap_backward_hook(&wl->tap.g, bn_src, &pre, w, ddst, dsrc, 0, dw, db,
                         dn_tmp(conv->rt, wl->tap.off),
                         dn_sums_bwd(wl, bn, gamma, bn_ws, bn_src, dsrc, &sm));
    dn_sums_done(&sm);
}

int hk_dnnl_conv_adds_dsrc(const hsi_op *conv)
{
    const dn_wl *wl = conv->impl;
    return wl->tap.on && !wl->tap.w1 && wl->tap.dadd;
}

void hk_dnnl_conv_backward_add(hsi_op *conv, const float *src, hsi_op *bn, const float *gamma,
                               const void *bn_ws, const float *w, const float *ddst, float *dsrc,
                               float *dw, float *db)
{
    dn_wl *wl = conv->impl;
    hk_tap_pre pre;
    if (bn) pre = dn_bn_pre(conv, bn, gamma, bn_ws);
    /* no sums hook: a gradient that others add to is never a BN's whole one (bn_fwd) */
    hk_tap_backward_hook(&wl->tap.g, src, bn ? &pre : NULL, w, ddst, dsrc, 1, dw, db,
                         dn_tmp(conv->rt, wl->tap.off), NULL);
}

static int dn_add_fold(const hsi_op *add, const hsi_op *conv);

int hk_dnnl_conv_takes_residual(const hsi_op *conv, const hsi_op *add)
{
    const dn_wl *wl = conv->impl;
    return wl->tap.on && wl->tap.res && dn_add_fold(add, conv);
}

void hk_dnnl_conv_forward_res(hsi_op *conv, const float *src, hsi_op *bn, const float *gamma,
                              const void *bn_ws, const float *w, const float *b, const float *res,
                              float *dst)
{
    dn_wl *wl = conv->impl;
    hk_tap_pre pre;
    if (bn) pre = dn_bn_pre(conv, bn, gamma, bn_ws);
    dn_sums sm;
    hk_tap_forward_res(&wl->tap.g, src, bn ? &pre : NULL, w, b, res, dst,
                       dn_tmp(conv->rt, wl->tap.off), dn_sums_fwd(wl, dst, &sm));
    dn_sums_done(&sm);
}

/* HSICC_NO_SUMS_FOLD=1: BNs sum their tensors themselves (for A/B runs) */
static int dn_sums_off(void)
{
    return hsi_env_flag("HSICC_NO_SUMS_FOLD");
}

/* bn's scratch of its own, kept between the conv's call and bn's; 0: out of memory */
static int dn_bn_keep(hsi_op *bn)
{
    dn_bn *b = bn->impl;
    if (!b->keep) b->keep = hk_alloc(bn->rt, hk_bnorm_scratch_doubles(&b->g) * sizeof(double));
    return b->keep != NULL;
}

/* bnorm.c's BN in 8-channel blocks over the conv's output (dir 0) or input (dir 1) shape */
static int dn_sums_fit(const dn_wl *wl, const dn_bn *b, int dir)
{
    const hk_tap *t = &wl->tap.g;
    if (!wl->tap.on || !b->own || b->g.b != 8 || hk_bnorm_columns(&b->g) ||
        !hk_tap_hook_ok(t, dir))
        return 0;
    return b->g.n == t->n && (dir ? b->g.c == t->c && b->g.s == t->din * t->hw
                                  : b->g.c == t->oc && b->g.s == t->dout * t->hw);
}

int hk_dnnl_bn_sums_from(hsi_op *bn, hsi_op *conv, const hsi_op *add)
{
    dn_wl *wl = conv->impl;
    if (dn_sums_off() || !dn_sums_fit(wl, bn->impl, 0)) return 0;
    if (add && !hk_dnnl_conv_takes_residual(conv, add)) return 0;
    if (!dn_bn_keep(bn)) return 0;
    wl->sums_fwd = bn;
    ((dn_bn *)bn->impl)->want = 1;
    return 1;
}

int hk_dnnl_bn_grad_sums_from(hsi_op *bn, hsi_op *conv)
{
    dn_wl *wl = conv->impl;
    if (dn_sums_off() || !hk_dnnl_conv_takes_bn(conv, bn) || !dn_sums_fit(wl, bn->impl, 1) ||
        !dn_bn_keep(bn))
        return 0;
    wl->sums_bwd = bn;
    return 1;
}

static const hk_tap_hook *dn_sums_fwd(const dn_wl *wl, const float *dst, dn_sums *sm)
{
    sm->bn = NULL;
    if (!wl->sums_fwd) return NULL;
    dn_bn *b = wl->sums_fwd->impl;
    if (!b->want) {
        /* this call writes dst without its sums: sums an earlier call (an inference forward's)
         * left for the same buffer must not be taken for this tensor's */
        b->sum_x = NULL;
        return NULL;
    }
    b->want = 0;   /* again only after the BN trains (an inference forward does not) */
    *sm = (dn_sums){.hook = {dn_sums_fwd_rows, sm, NULL}, .g = &b->g, .x = dst, .scratch = b->keep,
                    .bn = b};
    return &sm->hook;
}

static const hk_tap_hook *dn_sums_bwd(const dn_wl *wl, const hsi_op *bn, const float *gamma,
                                      const void *bn_ws, const float *bn_src, const float *dsrc,
                                      dn_sums *sm)
{
    sm->bn = NULL;
    if (wl->sums_bwd != bn || !dsrc) return NULL;
    dn_bn *b = bn->impl;
    const char *w = bn_ws;
    hk_bnorm_backward_begin(&b->g, gamma, (const float *)(w + b->mask_off), (const float *)w,
                            (const float *)(w + b->var_off), b->keep);
    *sm = (dn_sums){.hook = {dn_sums_bwd_rows, sm, bn_src}, .g = &b->g, .x = bn_src, .dy = dsrc,
                    .scratch = b->keep, .bn = b};
    return &sm->hook;
}

/* The BN told whose tensors' sums its keep now holds */
static void dn_sums_done(const dn_sums *sm)
{
    if (!sm->bn) return;
    if (sm->dy) {
        sm->bn->bsum_x = sm->x;
        sm->bn->bsum_dy = sm->dy;
    } else {
        sm->bn->sum_x = sm->x;
    }
}

const char *hk_dnnl_bn_impl(const hsi_op *op)
{
    const dn_bn *bn = op->impl;
    if (!bn->own) return "onednn";
    static const char *const nc[] = {"bnorm:generic:nc", "bnorm:avx2:nc", "bnorm:avx512:nc"};
    static const char *const blk[] = {"bnorm:generic", "bnorm:avx2", "bnorm:avx512"};
    int i = hk_bnorm_isa();
    return hk_bnorm_columns(&bn->g) ? nc[i] : blk[i];
}

/* The running statistics' update from a training batch's (count elements per channel). */
static void dn_bn_running(const dn_bn *bn, const float *mean, const float *var, double count,
                          float momentum, float *running_mean, float *running_var)
{
    double unbias = count > 1 ? count / (count - 1) : 1;
    for (int64_t c = 0; c < bn->C; c++) {
        if (running_mean) running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c];
        if (running_var)
            running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * var[c] * unbias);
    }
}

void hk_dnnl_bn_forward(hsi_op *op, int train, const float *src, const float *gamma,
                        const float *beta, float *running_mean, float *running_var,
                        float momentum, float *dst, void *ws)
{
    dn_bn *bn = op->impl;
    if (!train && bn->own) {
        /* bnorm.c's normalise pass with the running statistics: the same y = x * scale + shift
         * [ReLU] as its training forward, on every thread and in the tensor's own blocks
         * (SSRN's 7.3 MB spectral tensors: oneDNN's inference BN took 0.6-0.9 ms on its AVX2
         * kernel for 8-channel blocks) */
        hk_bnorm_apply(&bn->g, src, gamma, beta, running_mean, running_var, dst,
                       dn_bn_scratch(op));
        return;
    }
    if (!train) {
        dn_run(op->rt, &bn->infer,
               (const void *[]){src, dst, gamma, beta, running_mean, running_var});
        return;
    }
    float *mean = ws, *var = (float *)((char *)ws + bn->var_off);
    if (bn->own) {
        double count;
        memcpy((char *)ws + bn->mask_off, beta, (size_t)bn->C * sizeof(float));
        int sync = hk_bn_sync();
        hk_bnorm_forward(&bn->g, src, gamma, beta, dst, mean, var, &count,
                         dn_bn_summed(bn, src), dn_bn_scratch(op), sync ? hk_dp->sum : NULL,
                         sync ? hk_dp->ctx : NULL);
        dn_bn_running(bn, mean, var, count, momentum, running_mean, running_var);
        return;
    }
    dn_run(op->rt, &bn->train,
           (const void *[]){src, dst, gamma, beta, mean, var, (char *)ws + bn->mask_off});
    double count = bn->count;
    if (bn->gtrain.p && hk_bn_sync()) {   /* again, normalised with the global statistics */
        dn_bn_global_stats(bn, mean, var);
        count = bn->gcount;
        dn_run(op->rt, &bn->gtrain,
               (const void *[]){src, dst, gamma, beta, mean, var, (char *)ws + bn->mask_off});
    }
    dn_bn_running(bn, mean, var, count, momentum, running_mean, running_var);
}

void hk_dnnl_bn_backward(hsi_op *op, const float *src, const float *gamma, const float *ddst,
                         const void *ws, float *dsrc, int add, float *dgamma, float *dbeta)
{
    dn_bn *bn = op->impl;
    hsi_rt *rt = op->rt;
    const char *w = ws;
    if (bn->own) {
        int sync = hk_bn_sync(), staged = add && dsrc && bn->add_staged;
        float *d = staged ? dn_tmp(rt, bn->add_off) : dsrc;
        hk_bnorm_backward(&bn->g, src, gamma, (const float *)(w + bn->mask_off),
                          (const float *)w, (const float *)(w + bn->var_off), ddst, d,
                          add && !staged, dgamma, dbeta, dn_bn_bsummed(bn, src, ddst),
                          dn_bn_scratch(op),
                          sync ? hk_dp->sum : NULL, sync ? hk_dp->ctx : NULL);
        for (size_t i = 0; staged && i < bn->floats; i++) dsrc[i] += d[i];
        return;
    }
    /* add: into the staging (always there), added to dsrc after the correction below */
    float *ds = add ? dn_tmp(rt, bn->dsrc_out.off) : dn_out(rt, &bn->dsrc_out, dsrc);
    float *dscale = dn_tmp(rt, bn->dscale_off), *dshift = dn_tmp(rt, bn->dshift_off);
    /* oneDNN wants a SHIFT argument here but does not read it (the ReLU mask is in ws). */
    dn_run(rt, &bn->bwd, (const void *[]){src, ddst, gamma, gamma, w, w + bn->var_off, ds,
                                          dscale, dshift, w + bn->mask_off});
    for (int64_t c = 0; c < bn->C; c++) {
        if (dgamma) dgamma[c] += dscale[c];
        if (dbeta) dbeta[c] += dshift[c];
    }
    if (dsrc && bn->corr.p && hk_bn_sync()) {
        /* oneDNN's dsrc = gamma inv (g - sg/m - xhat sgx/m) from this shard's sums sg, sgx over
         * m elements; the global one has SG, SGX over M: add gamma inv ((sg/m - SG/M)
         * + xhat (sgx/m - SGX/M)), an inference BN of src with these scale and shift */
        const int64_t C = bn->C;
        const float *mean = (const float *)w, *var = (const float *)(w + bn->var_off);
        double *r = bn->red, m = bn->count, M = bn->gcount;
        float *cs = dn_tmp(rt, bn->cscale_off), *csh = dn_tmp(rt, bn->cshift_off);
        for (int64_t c = 0; c < C; c++) {
            r[c] = dshift[c];
            r[C + c] = dscale[c];
        }
        hk_dp->sum(r, (int)(2 * C), hk_dp->ctx);
        for (int64_t c = 0; c < C; c++) {
            double gi = gamma[c] / sqrt((double)var[c] + bn->eps);
            csh[c] = (float)(gi * (dshift[c] / m - r[c] / M));
            cs[c] = (float)(gi * (dscale[c] / m - r[C + c] / M));
        }
        float *y = dn_tmp(rt, bn->ctmp_off);
        dn_run(rt, &bn->corr, (const void *[]){src, y, cs, csh, mean, var});
        size_t n = bn->corr_floats;
        for (size_t i = 0; i < n; i++) ds[i] += y[i];
    }
    for (size_t i = 0; add && dsrc && i < bn->floats; i++) dsrc[i] += ds[i];
}

/* ---- element-wise activations ------------------------------------------------------------- */

typedef struct dn_act { dn_prim fwd, bwd; } dn_act;

hsi_op *hk_dnnl_act_create(hsi_rt *rt, const hsi_layout *src, hsi_act_kind kind, float alpha)
{
    dnnl_alg_kind_t alg;
    dnnl_eltwise_desc_t desc;
    switch (kind) {
    case HSI_ACT_RELU: alg = dnnl_eltwise_relu_use_dst_for_bwd; alpha = 0; break;
    case HSI_ACT_LEAKY_RELU: alg = dnnl_eltwise_relu_use_dst_for_bwd; break;
    case HSI_ACT_ELU: alg = dnnl_eltwise_elu_use_dst_for_bwd; break;
    case HSI_ACT_SIGMOID: alg = dnnl_eltwise_logistic_use_dst_for_bwd; alpha = 0; break;
    case HSI_ACT_TANH: alg = dnnl_eltwise_tanh_use_dst_for_bwd; alpha = 0; break;
    default: return hk_fail(rt, "act: unknown kind %d", (int)kind);
    }
    if (alpha < 0) return hk_fail(rt, "act: alpha %g < 0 (backward uses the output)", alpha);
    dn_act *a = dn_impl_alloc(rt, sizeof *a);
    if (!a || dn_check(rt, dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_training, alg,
                                                          dn_lmd(src), alpha, 0.f), "act"))
        return NULL;
    const_dnnl_primitive_desc_t fpd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "act");
    if (dn_build(rt, &a->fwd, fpd, 2, (const int[]){DNNL_ARG_SRC, DNNL_ARG_DST}, "act")
        || dn_check(rt, dnnl_eltwise_backward_desc_init(&desc, alg, dn_lmd(src), dn_lmd(src),
                                                        alpha, 0.f), "act backward"))
        return NULL;
    const_dnnl_primitive_desc_t bpd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), fpd, "act backward");
    if (dn_build(rt, &a->bwd, bpd, 3,
                 (const int[]){DNNL_ARG_DST, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC}, "act backward"))
        return NULL;
    return dn_op(rt, HK_ACT, src, a);
}

void hk_dnnl_act_forward(hsi_op *op, const float *src, float *dst)
{
    dn_act *a = op->impl;
    dn_run(op->rt, &a->fwd, (const void *[]){src, dst});
}

void hk_dnnl_act_backward(hsi_op *op, const float *dst, const float *ddst, float *dsrc)
{
    dn_act *a = op->impl;
    dn_run(op->rt, &a->bwd, (const void *[]){dst, ddst, dsrc});
}

/* ---- dropout (no oneDNN primitive: plain C over the logical order) ------------------------ */

/* ws = one byte per element: 1 kept. Split over the threads from DN_DROP_PAR elements, in
 * chunks of DN_DROP_CHUNK (a multiple of the AVX2 loop's 8). */
#define DN_DROP_PAR 8192
#define DN_DROP_CHUNK 4096
typedef struct dn_drop {
    dn_prim to_plain;             /* src layout -> plain dst; p NULL when src is plain */
    dn_port dsrc_out;             /* plain gradient -> src layout */
    float p;
    int64_t n;
} dn_drop;

static const md_t *dn_plain_of(hsi_rt *rt, const hsi_layout *l)
{
    const hsi_layout *p = l->plain ? l : hk_dnnl_layout_plain(rt, l->ndim, l->dims);
    return p ? dn_lmd(p) : NULL;
}

hsi_op *hk_dnnl_dropout_create(hsi_rt *rt, const hsi_layout *src, float p)
{
    dn_drop *dr = dn_impl_alloc(rt, sizeof *dr);
    const md_t *plain = dn_plain_of(rt, src);
    size_t used = 0;
    if (!dr || !plain) return NULL;
    if (!(p >= 0 && p <= 1)) return hk_fail(rt, "dropout: p = %g is not in [0, 1]", p);
    dr->p = p;
    dr->n = hk_numel(src->ndim, src->dims);
    if ((!src->plain && dn_reorder(rt, &dr->to_plain, dn_lmd(src), plain, 0))
        || dn_port_out(rt, &used, &dr->dsrc_out, plain, dn_lmd(src), 0))
        return NULL;
    hsi_op *op = dn_op(rt, HK_DROPOUT, hk_dnnl_layout_plain(rt, src->ndim, src->dims), dr);
    if (op) op->ws_bytes = (size_t)dr->n;
    return op;
}

static float dn_drop_scale(float p) { return p < 1 ? 1.f / (1.f - p) : 0.f; }

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define DN_X86 1
#include <immintrin.h>

/* The mask loop 8 elements at a time in AVX2: splitmix64 on 4 64-bit lanes (products from
 * 32-bit ones, wrapping as the scalar's), the same top 24 bits as the same float, so the mask
 * and dst are bit for bit the scalar loop's. HSICC_DROPOUT_AVX2=0 keeps the scalar loop. */
static int dn_drop_avx2(void)
{
    const char *e = getenv("HSICC_DROPOUT_AVX2");
    return !(e && !strcmp(e, "0")) && hk_isa() >= HK_ISA_AVX2;
}

__attribute__((target("avx2"))) static inline __m256i dn_mul64(__m256i a, uint64_t b)
{
    const __m256i bl = _mm256_set1_epi64x((long long)(b & 0xFFFFFFFFu));
    const __m256i bh = _mm256_set1_epi64x((long long)(b >> 32));
    __m256i lo = _mm256_mul_epu32(a, bl);
    __m256i mid = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), bl),
                                   _mm256_mul_epu32(a, bh));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(mid, 32));
}

/* 4 lanes of hk_dropout_u's top 24 bits (as int32 in the low 128 bits' order) */
__attribute__((target("avx2"))) static inline __m128i dn_drop_bits(__m256i z)
{
    z = dn_mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), 0xBF58476D1CE4E5B9ULL);
    z = dn_mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), 0x94D049BB133111EBULL);
    z = _mm256_srli_epi64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 31)), 40);
    z = _mm256_permutevar8x32_epi32(z, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    return _mm256_castsi256_si128(z);
}

/* Elements [0, n - n % 8) of the mask loop; returns how many it did. */
__attribute__((target("avx2"))) static int64_t dn_drop_avx2_run(const float *x, float *dst,
                                                                 unsigned char *mask, int64_t n,
                                                                 uint64_t key, uint64_t base,
                                                                 float p, float scale)
{
    const uint64_t g = 0x9E3779B97F4A7C15ULL;
    /* lane j of element i: key + (base + i + 1) g, stepped by 8 g */
    __m256i z0 = _mm256_setr_epi64x((long long)(key + (base + 1) * g),
                                    (long long)(key + (base + 2) * g),
                                    (long long)(key + (base + 3) * g),
                                    (long long)(key + (base + 4) * g));
    const __m256i four = _mm256_set1_epi64x((long long)(4 * g));
    const __m256i eight = _mm256_set1_epi64x((long long)(8 * g));
    const __m256 vp = _mm256_set1_ps(p), vs = _mm256_set1_ps(scale);
    const __m256 unit = _mm256_set1_ps(1.0f / 16777216.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i lo = dn_drop_bits(z0), hi = dn_drop_bits(_mm256_add_epi64(z0, four));
        z0 = _mm256_add_epi64(z0, eight);
        __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_set_m128i(hi, lo)), unit);
        __m256 keep = _mm256_cmp_ps(u, vp, _CMP_GE_OQ);
        _mm256_storeu_ps(dst + i, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs)));
        int bits = _mm256_movemask_ps(keep);
        for (int j = 0; j < 8; j++) mask[i + j] = (unsigned char)(bits >> j & 1);
    }
    return i;
}
#endif

void hk_dnnl_dropout_forward(hsi_op *op, int train, uint64_t seed, const float *src, float *dst,
                             void *ws)
{
    dn_drop *dr = op->impl;
    const float *x = src;
    if (dr->to_plain.p) {
        dn_run(op->rt, &dr->to_plain, (const void *[]){src, dst});
        x = dst;
    }
    if (!train) {
        if (x != dst) memmove(dst, x, (size_t)dr->n * sizeof *dst);
        return;
    }
    unsigned char *mask = ws;
    float scale = dn_drop_scale(dr->p);
    const uint64_t base = hk_dropout_base(op->dst), key = hk_mix64(seed);
    const float p = dr->p;
    const int64_t n = dr->n;
    /* element i's draw depends on i alone: chunks on any thread give the same mask (split at
     * 2 threads: the contextual CNN's [128, 128] dropouts 22-24 us a forward on one) */
    DN_OMP("omp parallel for schedule(static) if (n >= DN_DROP_PAR)")
    for (int64_t c0 = 0; c0 < n; c0 += DN_DROP_CHUNK) {
        int64_t m = n - c0 < DN_DROP_CHUNK ? n - c0 : DN_DROP_CHUNK, i = 0;
#if DN_X86
        if (dn_drop_avx2())
            i = dn_drop_avx2_run(x + c0, dst + c0, mask + c0, m, key, base + (uint64_t)c0, p,
                                 scale);
#endif
        for (; i < m; i++) {
            mask[c0 + i] = hk_dropout_u(key, base + (uint64_t)(c0 + i)) >= p;
            dst[c0 + i] = mask[c0 + i] ? x[c0 + i] * scale : 0.f;
        }
    }
}

const char *hk_dnnl_dropout_impl(const hsi_op *op)
{
    (void)op;
#if DN_X86
    if (dn_drop_avx2()) return "avx2";
#endif
    return "scalar";
}

void hk_dnnl_dropout_backward(hsi_op *op, const float *ddst, const void *ws, float *dsrc)
{
    dn_drop *dr = op->impl;
    const unsigned char *mask = ws;
    float scale = dn_drop_scale(dr->p);
    if (!dsrc) return;
    float *g = dn_out(op->rt, &dr->dsrc_out, dsrc);
    const int64_t n = dr->n;
    /* without a branch (a random mask mispredicts half of them): the product's bits and-ed
     * with all ones or zero, exactly the select's result (+0.0f where dropped) */
    DN_OMP("omp parallel for schedule(static) if (n >= DN_DROP_PAR)")
    for (int64_t i = 0; i < n; i++) {
        float v = ddst[i] * scale;
        uint32_t b;
        memcpy(&b, &v, sizeof b);
        b &= 0u - (uint32_t)mask[i];
        memcpy(&g[i], &b, sizeof b);
    }
    dn_out_done(op->rt, &dr->dsrc_out, dsrc);
}

/* ---- pooling ------------------------------------------------------------------------------ */

/* ws (max only) = oneDNN's pooling workspace (argmax indices). ceil_mode average with
 * count_include_pad: oneDNN divides every window by the kernel size, PyTorch the last window by
 * its part before the ceil_mode extra: dst is then plain and each output cell is rescaled by
 * scale[spatial cell] (forward: dst; backward: ddst into tmp). */
typedef struct dn_pool {
    dn_prim train, infer, bwd;
    float *scale, *tmp;           /* NULL unless rescaled */
    int64_t planes, osz;          /* n * c, output cells per plane */
    struct {                      /* global max pooling by dn_gmax_* (dn_gmax_wanted) */
        int on;
        int64_t n, c, px, sn;     /* batch, channels, pixels, sample stride */
        int64_t run;              /* channels contiguous in memory from a multiple of run */
        int64_t *co, *po;         /* offset of channel c, of pixel p within a sample */
        int32_t *arg;             /* argmax when the caller has no workspace (inference) */
        size_t src_bytes;
        int no_bn;                /* HSICC_NO_POOL_BN_FOLD=1 at create (hsi_pool_takes_bn) */
    } g;
} dn_pool;

/* Max pooling whose window is the whole unpadded input (the contextual CNN's 5x5 and 3x3
 * pools to 1x1): oneDNN's pooling took 0.5-1.5 ms a pass on [128, 128, 5, 5] for 0.4 M
 * compares; a loop per sample over the pixels, channels innermost, with the argmax pixel per
 * (sample, channel) as the workspace (int32), in any layout whose channels are plain or in one
 * block (nChw8c, nhwc, nchw). dst is plain [N, C, 1, ...]. HSICC_DNNL_NO_GLOBAL_POOL=1 turns it
 * off (for A/B runs). */
static int dn_gmax_wanted(const hsi_layout *src, const hsi_pool_desc *d, const int64_t *extra)
{
    const md_t *md = dn_lmd(src);
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (hsi_env_flag("HSICC_DNNL_NO_GLOBAL_POOL") || !d->max || md->format_kind != dnnl_blocked
        || md->offset0 != 0 || b->inner_nblks > 1 || (b->inner_nblks == 1 && b->inner_idxs[0] != 1))
        return 0;
    for (int i = 0; i < d->nsp; i++)
        if (d->kernel[i] != src->dims[2 + i] || d->pad_lo[i] || d->pad_hi[i]
            || (extra && extra[i]))
            return 0;
    return 1;
}

static hsi_op *dn_gmax_create(hsi_rt *rt, const hsi_layout *src, int nsp)
{
    const md_t *md = dn_lmd(src);
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int64_t blk = b->inner_nblks ? b->inner_blks[0] : 1, ddims[5] = {src->dims[0], src->dims[1]};
    dn_pool *pl = dn_impl_alloc(rt, sizeof *pl);
    if (!pl) return NULL;
    memset(pl, 0, sizeof *pl);
    pl->g.on = 1;
    pl->g.no_bn = hsi_env_flag("HSICC_NO_POOL_BN_FOLD");
    pl->g.n = src->dims[0];
    pl->g.c = src->dims[1];
    pl->g.px = 1;
    for (int i = 0; i < nsp; i++) {
        pl->g.px *= src->dims[2 + i];
        ddims[2 + i] = 1;
    }
    pl->g.sn = b->strides[0];
    pl->g.src_bytes = dnnl_memory_desc_get_size(md);
    pl->g.co = dn_impl_alloc(rt, sizeof(int64_t) * (size_t)pl->g.c);
    pl->g.po = dn_impl_alloc(rt, sizeof(int64_t) * (size_t)pl->g.px);
    pl->g.arg = dn_impl_alloc(rt, sizeof(int32_t) * (size_t)(pl->g.n * pl->g.c));
    if (!pl->g.co || !pl->g.po || !pl->g.arg) return NULL;
    for (int64_t c = 0; c < pl->g.c; c++) pl->g.co[c] = c / blk * b->strides[1] + c % blk;
    pl->g.run = blk > 1 ? blk : b->strides[1] == 1 ? pl->g.c : 1;
    for (int64_t p = 0; p < pl->g.px; p++) {
        int64_t off = 0;
        for (int64_t i = nsp - 1, r = p; i >= 0; r /= src->dims[2 + i], i--)
            off += r % src->dims[2 + i] * b->strides[2 + i];
        pl->g.po[p] = off;
    }
    md_t plain;
    if (dn_md_tag(&plain, nsp + 2, ddims, dnnl_format_tag_undef))
        return hk_fail(rt, "pool: bad shapes");
    hsi_op *op = dn_op(rt, HK_POOL, dn_layout(rt, &plain), pl);
    if (op) op->ws_bytes = sizeof(int32_t) * (size_t)(pl->g.n * pl->g.c);
    return op;
}

static void dn_gmax_forward(const dn_pool *pl, const float *src, float *dst, int32_t *arg)
{
    int64_t C = pl->g.c;
    DN_OMP("omp parallel for schedule(static)")
    for (int64_t n = 0; n < pl->g.n; n++) {
        const float *x = src + n * pl->g.sn;
        float *m = dst + n * C;
        int32_t *a = (arg ? arg : pl->g.arg) + n * C;   /* inference: the op's own buffer */
        if (pl->g.run == 1) {   /* one channel at a time (nchw: its pixels contiguous) */
            for (int64_t c = 0; c < C; c++) {
                const float *xc = x + pl->g.co[c];
                float best = xc[pl->g.po[0]];
                int32_t at = 0;
                for (int64_t p = 1; p < pl->g.px; p++) {
                    float v = xc[pl->g.po[p]];
                    int gt = v > best;
                    best = gt ? v : best;
                    at = gt ? (int32_t)p : at;
                }
                m[c] = best;
                a[c] = at;
            }
            continue;
        }
        for (int64_t c = 0; c < C; c++) m[c] = x[pl->g.co[c] + pl->g.po[0]];
        memset(a, 0, sizeof *a * (size_t)C);
        for (int64_t p = 1; p < pl->g.px; p++) {
            const float *xp = x + pl->g.po[p];
            for (int64_t c0 = 0; c0 < C; c0 += pl->g.run) {   /* runs of contiguous channels */
                const float *restrict xr = xp + pl->g.co[c0];
                int64_t nr = C - c0 < pl->g.run ? C - c0 : pl->g.run;
                float *restrict mr = m + c0;
                int32_t *restrict ar = a + c0;
                DN_OMP("omp simd")
                for (int64_t i = 0; i < nr; i++) {   /* branch-free (vectorised): random compares */
                    float v = xr[i], mv = mr[i];
                    int32_t gt = -(int32_t)(v > mv);   /* all ones where v wins */
                    mr[i] = v > mv ? v : mv;
                    ar[i] = ((int32_t)p & gt) | (ar[i] & ~gt);
                }
            }
        }
    }
}

/* Each sample's dsrc zeroed by the thread that scatters into it when the samples tile dsrc
 * (N outermost, no padding past them): one memset of all of it first left the lines in the
 * cache of one core, whose partner then had to fetch every line it wrote (pool#3 of the
 * contextual CNN, 1.6 MB: 0.27 ms on 2 threads against 0.17 on 1). */
static void dn_gmax_backward(const dn_pool *pl, const float *ddst, const int32_t *arg,
                             float *dsrc)
{
    int64_t C = pl->g.c, sn = pl->g.sn;
    int tiled = (size_t)(pl->g.n * sn) * sizeof *dsrc == pl->g.src_bytes;
    if (!tiled) memset(dsrc, 0, pl->g.src_bytes);
    DN_OMP("omp parallel for schedule(static)")
    for (int64_t n = 0; n < pl->g.n; n++) {
        if (tiled) memset(dsrc + n * sn, 0, (size_t)sn * sizeof *dsrc);
        for (int64_t c = 0; c < C; c++)
            dsrc[n * sn + pl->g.co[c] + pl->g.po[arg[n * C + c]]] = ddst[n * C + c];
    }
}

/* scale[] of a ceil_mode average with count_include_pad; 0 when no window needs one */
static int pool_scale(hsi_rt *rt, dn_pool *pl, const hsi_pool_desc *d, const int64_t *in,
                      const int64_t *out, const int64_t *extra)
{
    int nsp = d->nsp, any = 0;
    for (int i = 0; i < nsp; i++) any |= extra[i] > 0;
    if (d->max || !d->count_include_pad || !any) return 0;
    pl->osz = 1;
    for (int i = 0; i < nsp; i++) pl->osz *= out[i];
    if (!(pl->scale = dn_impl_alloc(rt, sizeof *pl->scale * (size_t)pl->osz))) return -1;
    for (int64_t c = 0; c < pl->osz; c++) {
        double full = 1, counted = 1;
        for (int64_t i = nsp - 1, r = c; i >= 0; r /= out[i], i--) {
            int64_t start = r % out[i] * d->stride[i] - d->pad_lo[i];
            int64_t end = in[i] + d->pad_hi[i] - extra[i];
            full *= (double)d->kernel[i];
            counted *= (double)((start + d->kernel[i] < end ? start + d->kernel[i] : end) - start);
        }
        pl->scale[c] = (float)(full / counted);
    }
    return 1;
}

static void pool_rescale(const dn_pool *pl, const float *x, float *y)
{
    for (int64_t p = 0; p < pl->planes; p++)
        for (int64_t c = 0; c < pl->osz; c++) y[p * pl->osz + c] = x[p * pl->osz + c] * pl->scale[c];
}

hsi_op *hk_dnnl_pool_create(hsi_rt *rt, const hsi_layout *src, const hsi_pool_desc *pd_,
                            const int64_t *ceil_extra)
{
    int nsp = pd_->nsp, nd = nsp + 2;
    if (nsp < 1 || nsp > 3 || src->ndim != nd)
        return hk_fail(rt, "pool: a %d-D pooling needs a rank-%d input, got rank %d", nsp, nd,
                       src->ndim);
    dnnl_dims_t strides, kernel, dil = {0}, lo, hi;
    int64_t ddims[5] = {src->dims[0], src->dims[1]};
    for (int i = 0; i < nsp; i++) {
        int64_t k = pd_->kernel[i], s = pd_->stride[i], in = src->dims[2 + i];
        if (k < 1 || s < 1 || pd_->pad_lo[i] < 0 || pd_->pad_hi[i] < 0
            || pd_->pad_lo[i] >= k || pd_->pad_hi[i] >= k
            || in + pd_->pad_lo[i] + pd_->pad_hi[i] < k)
            return hk_fail(rt, "pool: spatial dim %d: kernel %lld, stride %lld, padding "
                           "%lld+%lld do not fit input %lld", i, (long long)k, (long long)s,
                           (long long)pd_->pad_lo[i], (long long)pd_->pad_hi[i], (long long)in);
        strides[i] = s;
        kernel[i] = k;
        lo[i] = pd_->pad_lo[i];
        hi[i] = pd_->pad_hi[i];
        ddims[2 + i] = (in + lo[i] + hi[i] - k) / s + 1;
    }
    if (dn_gmax_wanted(src, pd_, ceil_extra)) return dn_gmax_create(rt, src, nsp);
    dnnl_alg_kind_t alg = pd_->max ? dnnl_pooling_max
                          : pd_->count_include_pad ? dnnl_pooling_avg_include_padding
                                                   : dnnl_pooling_avg_exclude_padding;
    dn_pool *pl = dn_impl_alloc(rt, sizeof *pl);
    if (!pl) return NULL;
    memset(pl, 0, sizeof *pl);
    int rescale = pool_scale(rt, pl, pd_, src->dims + 2, ddims + 2, ceil_extra);
    pl->planes = ddims[0] * ddims[1];
    if (rescale < 0 || (rescale && !(pl->tmp = dn_impl_alloc(rt, sizeof *pl->tmp * (size_t)(pl->planes * pl->osz)))))
        return NULL;
    dnnl_pooling_v2_desc_t desc;
    md_t dst_any;
    if (dn_md_tag(&dst_any, nd, ddims, rescale ? dnnl_format_tag_undef : dnnl_format_tag_any)
        || dn_check(rt, dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_training, alg,
                                                         dn_lmd(src), &dst_any, strides, kernel,
                                                         dil, lo, hi), "pool"))
        return NULL;
    const_dnnl_primitive_desc_t tpd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "pool");
    const int fargs[] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE};
    if (dn_build(rt, &pl->train, tpd, pd_->max ? 3 : 2, fargs, "pool")) return NULL;
    const md_t *dmd = dn_md(tpd, DNNL_ARG_DST);
    const hsi_layout *dl = dn_layout(rt, dmd);
    if (!dl) return NULL;
    if (pd_->max) {
        if (dn_check(rt, dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_inference, alg,
                                                          dn_lmd(src), dmd, strides, kernel, dil,
                                                          lo, hi), "pool inference")
            || dn_build(rt, &pl->infer, dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "pool"), 2,
                        fargs, "pool inference"))
            return NULL;
    } else {
        pl->infer = pl->train;
    }
    if (dn_check(rt, dnnl_pooling_v2_backward_desc_init(&desc, alg, dn_lmd(src), dmd, strides,
                                                       kernel, dil, lo, hi), "pool backward"))
        return NULL;
    const_dnnl_primitive_desc_t bpd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), tpd, "pool backward");
    const int bargs[] = {DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_WORKSPACE};
    if (dn_build(rt, &pl->bwd, bpd, pd_->max ? 3 : 2, bargs, "pool backward")) return NULL;
    hsi_op *op = dn_op(rt, HK_POOL, dl, pl);
    if (op && pd_->max) op->ws_bytes = dnnl_memory_desc_get_size(dn_md(tpd, DNNL_ARG_WORKSPACE));
    return op;
}

void hk_dnnl_pool_forward(hsi_op *op, int train, const float *src, float *dst, void *ws)
{
    dn_pool *pl = op->impl;
    if (pl->g.on) {
        dn_gmax_forward(pl, src, dst, train ? ws : NULL);
        return;
    }
    dn_run(op->rt, train ? &pl->train : &pl->infer, (const void *[]){src, dst, ws});
    if (pl->scale) pool_rescale(pl, dst, dst);
}

void hk_dnnl_pool_backward(hsi_op *op, const float *ddst, const void *ws, float *dsrc)
{
    dn_pool *pl = op->impl;
    if (!dsrc) return;
    if (pl->g.on) {
        dn_gmax_backward(pl, ddst, ws, dsrc);
        return;
    }
    if (pl->scale) {
        pool_rescale(pl, ddst, pl->tmp);
        ddst = pl->tmp;
    }
    dn_run(op->rt, &pl->bwd, (const void *[]){ddst, dsrc, ws});
}

/* ---- a training BN read by a global max pool alone (hsi_pool_takes_bn) --------------------
 * bnorm.c's BN whose [N, Cp/B, S, B] tensor is the pool's src, position s its pixel s: the
 * pool's max and argmax come from the BN's normalise pass (hk_bnorm_apply_gmax: y is not
 * written, nor read back by the pool), and its backward builds dy from the pool's gradient as
 * it goes (hk_bnorm_backward_gmax: the pool's dsrc, all zeros but one value per sample and
 * channel, is not written, nor read twice by the BN). The same bits as the two ops.
 * HSICC_NO_POOL_BN_FOLD=1 at the pool's create turns it off (for A/B runs). */
int hk_dnnl_pool_takes_bn(const hsi_op *pool, const hsi_op *bn)
{
    const dn_pool *pl = pool->impl;
    const dn_bn *b = bn->impl;
    if (!pl->g.on || pl->g.no_bn || !b->own || hk_bn_sync()
        || !hk_bnorm_gmax_ok(&b->g) || b->g.n != pl->g.n || b->g.c != pl->g.c
        || b->g.s != pl->g.px)
        return 0;
    const int64_t B = b->g.b, S = b->g.s, nb = (b->g.c + B - 1) / B;
    if (pl->g.sn != nb * S * B) return 0;
    for (int64_t c = 0; c < pl->g.c; c++)
        if (pl->g.co[c] != c / B * S * B + c % B) return 0;
    for (int64_t p = 0; p < pl->g.px; p++)
        if (pl->g.po[p] != p * B) return 0;
    return 1;
}

void hk_dnnl_pool_forward_bn(hsi_op *pool, const float *bn_src, hsi_op *bn, const float *gamma,
                             const void *bn_ws, float *dst, void *ws)
{
    const dn_bn *b = bn->impl;
    const char *w = bn_ws;
    hk_bnorm_apply_gmax(&b->g, bn_src, gamma, (const float *)(w + b->mask_off), (const float *)w,
                        (const float *)(w + b->var_off), dst, ws, dn_bn_scratch(bn));
    (void)pool;
}

void hk_dnnl_pool_backward_bn(hsi_op *pool, const float *ddst, const void *ws, hsi_op *bn,
                              const float *bn_src, const float *gamma, const void *bn_ws,
                              float *dsrc, float *dgamma, float *dbeta)
{
    const dn_bn *b = bn->impl;
    const char *w = bn_ws;
    hk_bnorm_backward_gmax(&b->g, bn_src, gamma, (const float *)(w + b->mask_off),
                           (const float *)w, (const float *)(w + b->var_off), ddst, ws, dsrc,
                           dgamma, dbeta, dn_bn_scratch(bn), NULL, NULL);
    (void)pool;
}

/* ---- residual add ------------------------------------------------------------------------- */

typedef struct dn_add {
    dn_prim fwd;                  /* binary add (+ ReLU post-op), dst in a's layout */
    dn_prim relu_fwd;             /* ReLU in place on dst, instead of the post-op (see create) */
    dn_port b_in;                 /* b -> a's layout */
    dn_prim relu_bwd;             /* ddst * (dst > 0), when relu */
    dn_prim to_b;                 /* gradient (a's layout) -> db in b's layout, if it differs */
    size_t bytes;                 /* of a's layout: da (and db in the same layout) are copies */
    size_t g_off;                 /* staging of the masked gradient when da is NULL (relu) */
    int own;                      /* 1: a, b and dst share one layout: dn_sum's loop, no fwd */
    int relu;
} dn_add;

static int dn_same_dims(const hsi_layout *a, const hsi_layout *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

/* Eltwise ReLU over md: the forward into fwd if not NULL, the backward from dst into bwd. */
static int dn_relu(hsi_rt *rt, dn_prim *fwd, dn_prim *bwd, const md_t *md)
{
    dnnl_eltwise_desc_t desc;
    if (dn_check(rt, dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_training,
                                                    dnnl_eltwise_relu_use_dst_for_bwd, md, 0, 0),
                 "relu"))
        return -1;
    const_dnnl_primitive_desc_t hint = dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "relu");
    if (fwd && dn_build(rt, fwd, hint, 2, (const int[]){DNNL_ARG_SRC, DNNL_ARG_DST}, "relu"))
        return -1;
    if (!hint || dn_check(rt, dnnl_eltwise_backward_desc_init(&desc,
                                                              dnnl_eltwise_relu_use_dst_for_bwd,
                                                              md, md, 0, 0), "relu backward"))
        return -1;
    return dn_build(rt, bwd, dn_pd(rt, &desc, dn_attr(rt, 0, 0), hint, "relu backward"), 3,
                    (const int[]){DNNL_ARG_DST, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC},
                    "relu backward");
}

/* ---- own elementwise sums: y = a + b [ReLU] over a whole buffer ----------------------------
 * When both operands and the output share one layout (plain or blocked: the padded channels are
 * zeros in both, so they stay zeros), a residual add and a gradient accumulation are one pass
 * over the buffer's floats: chunks of DN_SUM_CHUNK on OpenMP's threads, AVX2 where the CPU has
 * it (the same sums as the C loop: one addition per element). oneDNN's binary primitive took
 * 2-3 times the memory traffic's time on SSRN's 7.3 MB tensors. HSICC_DNNL_OWN_ADD=0 keeps
 * oneDNN's primitives (mixed layouts always run them). */
#define DN_SUM_CHUNK 16384

static int dn_own_sum(void)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("HSICC_DNNL_OWN_ADD");
        on = !(e && !strcmp(e, "0"));
    }
    return on;
}

static int dn_sum_avx2(void)
{
#if DN_X86
    return hk_isa() >= HK_ISA_AVX2;
#else
    return 0;
#endif
}

static void dn_sum_c(const float *a, const float *b, float *y, int64_t n, int relu)
{
    for (int64_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        y[i] = relu && !(v > 0) ? 0.0f : v;
    }
}

#if DN_X86
__attribute__((target("avx2"))) static void dn_sum_avx2_run(const float *a, const float *b,
                                                            float *y, int64_t n, int relu)
{
    const __m256 z = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 v[4];
        for (int q = 0; q < 4; q++)
            v[q] = _mm256_add_ps(_mm256_loadu_ps(a + i + 8 * q), _mm256_loadu_ps(b + i + 8 * q));
        for (int q = 0; q < 4; q++)   /* max(v, 0) is 0 for NaN and -0, as the C's select */
            _mm256_storeu_ps(y + i + 8 * q, relu ? _mm256_max_ps(v[q], z) : v[q]);
    }
    dn_sum_c(a + i, b + i, y + i, n - i, relu);
}
#endif

static void dn_sum(const float *a, const float *b, float *y, int64_t n, int relu)
{
    const int avx2 = dn_sum_avx2();
    (void)avx2;
    DN_OMP("omp parallel for schedule(static)")
    for (int64_t c0 = 0; c0 < n; c0 += DN_SUM_CHUNK) {
        int64_t m = n - c0 < DN_SUM_CHUNK ? n - c0 : DN_SUM_CHUNK;
#if DN_X86
        if (avx2) {
            dn_sum_avx2_run(a + c0, b + c0, y + c0, m, relu);
            continue;
        }
#endif
        dn_sum_c(a + c0, b + c0, y + c0, m, relu);
    }
}

/* add: dst = a + conv's output on dnnl.c's own loop (no ReLU), all in the conv's layout */
static int dn_add_fold(const hsi_op *add, const hsi_op *conv)
{
    const dn_add *ad = add->impl;
    return ad->own && !ad->relu && dn_same(dn_lmd(add->dst), dn_lmd(conv->dst));
}

static const char *dn_sum_impl(int own)
{
    return !own ? "onednn" : dn_sum_avx2() ? "avx2" : "generic";
}

hsi_op *hk_dnnl_add_create(hsi_rt *rt, const hsi_layout *a, const hsi_layout *b, int relu)
{
    if (!dn_same_dims(a, b)) return hk_fail(rt, "add: the two inputs differ in shape");
    dn_add *ad = dn_impl_alloc(rt, sizeof *ad);
    dnnl_binary_desc_t desc;
    const md_t *am = dn_lmd(a);
    size_t used = 0;
    if (!ad || dn_port_in(rt, &used, &ad->b_in, dn_lmd(b), am)
        || dn_check(rt, dnnl_binary_desc_init(&desc, dnnl_binary_add, am, am, am), "add"))
        return NULL;
    /* oneDNN 2.6's binary (jit:uni) with an eltwise post-op computes wrong sums, and writes
     * past the end of dst, on blocked layouts whose block is not the ISA's vector: nChw4c and
     * nChw8c under AVX-512, nChw4c with an odd number of blocks under AVX2 (a grouped conv's
     * output: tests/scene/add_relu_blocked.hsn); it also failed on channels padded to the block
     * (24 in nCdhw16c) and on blocks on another dim than the channels (abCde8c: a fold's view).
     * Only layouts without inner blocks (nchw, nhwc, ...: every case right) keep the post-op;
     * blocked ones get a separate ReLU in place. */
    int separate = am->format_kind != dnnl_blocked || am->format_desc.blocking.inner_nblks > 0;
    const int args[] = {DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST};
    ad->own = dn_own_sum() && dn_same(am, dn_lmd(b));
    ad->relu = relu;
    if ((!ad->own
         && dn_build(rt, &ad->fwd, dn_pd(rt, &desc, dn_attr(rt, 0, relu && !separate), NULL, "add"),
                     3, args, "add"))
        || (relu && dn_relu(rt, separate ? &ad->relu_fwd : NULL, &ad->relu_bwd, am))
        || (!dn_same(am, dn_lmd(b)) && dn_reorder(rt, &ad->to_b, am, dn_lmd(b), 0)))
        return NULL;
    dn_phase(&used);   /* the backward's staging: b_in is the forward's */
    if (relu && dn_stage(rt, &used, a->bytes, &ad->g_off)) return NULL;
    /* same-layout copies are memcpy: oneDNN's reorder for them is its slow generic one */
    ad->bytes = a->bytes;
    hsi_op *op = dn_op(rt, HK_ADD, a, ad);
    /* da is always in ddst's layout (the ReLU mask runs in place); db when b's is the same */
    if (op) op->grad_shares = 1 | (ad->to_b.p ? 0 : 2);
    return op;
}

void hk_dnnl_add_forward(hsi_op *op, const float *a, const float *b, float *dst)
{
    dn_add *ad = op->impl;
    if (ad->own) {
        dn_sum(a, b, dst, (int64_t)(ad->bytes / sizeof(float)), ad->relu);
        return;
    }
    dn_run(op->rt, &ad->fwd, (const void *[]){a, dn_in(op->rt, &ad->b_in, b), dst});
    if (ad->relu_fwd.p) dn_run(op->rt, &ad->relu_fwd, (const void *[]){dst, dst});
}

void hk_dnnl_add_backward(hsi_op *op, const float *dst, const float *ddst, float *da, float *db)
{
    dn_add *ad = op->impl;
    const void *g = ddst;
    if (ad->relu_bwd.p) {
        void *m = da ? da : dn_tmp(op->rt, ad->g_off);
        dn_run(op->rt, &ad->relu_bwd, (const void *[]){dst, ddst, m});
        g = m;
    } else if (da && da != ddst) {
        memcpy(da, ddst, ad->bytes);
    }
    if (db && db != g) {
        if (ad->to_b.p) dn_run(op->rt, &ad->to_b, (const void *[]){g, db});
        else memcpy(db, g, ad->bytes);
    }
}

/* ---- gradient accumulation ---------------------------------------------------------------- */

typedef struct dn_accum {
    dn_prim p;
    int binary;                   /* same layouts: a binary add (own: dn_sum), else a reorder */
    int own;
    size_t bytes;
} dn_accum;

hsi_op *hk_dnnl_accum_create(hsi_rt *rt, const hsi_layout *accl, const hsi_layout *gl)
{
    if (!dn_same_dims(accl, gl)) return hk_fail(rt, "accum: the two gradients differ in shape");
    dn_accum *ac = dn_impl_alloc(rt, sizeof *ac);
    if (!ac) return NULL;
    ac->binary = dn_same(dn_lmd(accl), dn_lmd(gl));
    ac->own = ac->binary && dn_own_sum();
    ac->bytes = accl->bytes;
    if (ac->own) {
        /* dn_sum's loop */
    } else if (ac->binary) {
        dnnl_binary_desc_t desc;
        const md_t *m = dn_lmd(accl);
        if (dn_check(rt, dnnl_binary_desc_init(&desc, dnnl_binary_add, m, m, m), "accum")
            || dn_build(rt, &ac->p, dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "accum"), 3,
                        (const int[]){DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST}, "accum"))
            return NULL;
    } else if (dn_reorder(rt, &ac->p, dn_lmd(gl), dn_lmd(accl), 1)) {
        return NULL;
    }
    return dn_op(rt, HK_ACCUM, accl, ac);
}

void hk_dnnl_accum(hsi_op *op, float *acc, const float *g)
{
    dn_accum *ac = op->impl;
    if (ac->own) dn_sum(acc, g, acc, (int64_t)(ac->bytes / sizeof(float)), 0);
    else if (ac->binary) dn_run(op->rt, &ac->p, (const void *[]){acc, g, acc});
    else dn_run(op->rt, &ac->p, (const void *[]){g, acc});
}

const char *hk_dnnl_add_impl(const hsi_op *op) { return dn_sum_impl(((const dn_add *)op->impl)->own); }

const char *hk_dnnl_accum_impl(const hsi_op *op)
{
    return dn_sum_impl(((const dn_accum *)op->impl)->own);
}

/* ---- concat along channels ---------------------------------------------------------------- */

typedef struct dn_concat {
    int n;
    dn_prim fwd;
    dn_prim *bwd;                 /* n reorders: a channel slice of ddst -> dsrc i */
    int64_t *per;                 /* own copy (every src plain): floats a sample of src i */
    int64_t rows, row;            /* samples, floats a sample of dst */
} dn_concat;

/* Every src plain (row-major) and dst plain: a sample of dst is the samples of the srcs one
 * after another, copied by dn_concat_copy (oneDNN's concat primitive took 26 us forward and
 * 17 backward on the contextual CNN's three [128, 128] branches, for 192 KB). */
static void dn_concat_copy(const dn_concat *cc, const float *const *srcs, float *dst,
                           float *const *dsrcs, const float *ddst)
{
    DN_OMP("omp parallel for schedule(static) if (cc->rows * cc->row >= 32768)")
    for (int64_t r = 0; r < cc->rows; r++) {
        int64_t at = r * cc->row;
        for (int i = 0; i < cc->n; at += cc->per[i], i++) {
            size_t bytes = sizeof(float) * (size_t)cc->per[i];
            if (dst) memcpy(dst + at, srcs[i] + r * cc->per[i], bytes);
            else if (dsrcs[i]) memcpy(dsrcs[i] + r * cc->per[i], ddst + at, bytes);
        }
    }
}

/* Concat into dst (format any or plain) and the backward slices; -1 if a slice cannot be
 * described in dst's layout (channel offset not a multiple of its blocking). */
static int dn_concat_build(hsi_rt *rt, dn_concat *cc, const hsi_layout *const *srcs,
                           const md_t *dst, const hsi_layout **dl)
{
    dn_rt *d = rt->dnnl;
    md_t mds[DN_MAXARGS];
    int args[DN_MAXARGS];
    dnnl_primitive_desc_t pd;
    for (int i = 0; i < cc->n; i++) {
        mds[i] = *dn_lmd(srcs[i]);
        args[i] = DNNL_ARG_MULTIPLE_SRC + i;
    }
    args[cc->n] = DNNL_ARG_DST;
    const_dnnl_primitive_attr_t attr = dn_attr(rt, 0, 0);
    if (!attr || dn_check(rt, dnnl_concat_primitive_desc_create(&pd, dst, cc->n, 1, mds, attr,
                                                                d->eng), "concat"))
        return -1;
    if (dn_keep(rt, DN_PD, pd)) {
        dnnl_primitive_desc_destroy(pd);
        return -1;
    }
    const md_t *dmd = dn_md(pd, DNNL_ARG_DST);
    dnnl_dims_t offs = {0};
    for (int i = 0; i < cc->n; i++) {
        md_t sub;
        if (dnnl_memory_desc_init_submemory(&sub, dmd, mds[i].dims, offs) != dnnl_success)
            return -1;
        if (dn_reorder(rt, &cc->bwd[i], &sub, &mds[i], 0)) return -1;
        offs[1] += mds[i].dims[1];
    }
    if (dn_build(rt, &cc->fwd, pd, cc->n + 1, args, "concat")) return -1;
    *dl = dn_layout(rt, dmd);
    return *dl ? 0 : -1;
}

hsi_op *hk_dnnl_concat_create(hsi_rt *rt, int n, const hsi_layout *const *srcs)
{
    int64_t dims[5];
    memcpy(dims, srcs[0]->dims, sizeof dims);
    dims[1] = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < srcs[0]->ndim; j++)
            if (srcs[i]->ndim != srcs[0]->ndim || (j != 1 && srcs[i]->dims[j] != dims[j]))
                return hk_fail(rt, "concat: input %d differs from input 0 outside axis 1", i);
        dims[1] += srcs[i]->dims[1];
    }
    dn_concat *cc = dn_impl_alloc(rt, sizeof *cc);
    if (!cc) return NULL;
    cc->n = n;
    int own = 1;
    for (int i = 0; i < n; i++) own &= dn_rowmajor(dn_lmd(srcs[i]));
    if (own) {
        const hsi_layout *pl = hk_dnnl_layout_plain(rt, srcs[0]->ndim, dims);
        cc->per = dn_impl_alloc(rt, (size_t)n * sizeof *cc->per);
        if (!pl || !cc->per) return NULL;
        cc->rows = dims[0];
        cc->row = hk_numel(srcs[0]->ndim, dims) / dims[0];
        for (int i = 0; i < n; i++)
            cc->per[i] = hk_numel(srcs[i]->ndim, srcs[i]->dims) / dims[0];
        return dn_op(rt, HK_CONCAT, pl, cc);
    }
    cc->bwd = dn_impl_alloc(rt, (size_t)n * sizeof *cc->bwd);
    md_t any, plain;
    const hsi_layout *dl = NULL;
    if (!cc->bwd || dn_md_tag(&any, srcs[0]->ndim, dims, dnnl_format_tag_any)
        || dn_md_tag(&plain, srcs[0]->ndim, dims, dnnl_format_tag_undef))
        return hk_fail(rt, "concat: bad shapes");
    if (dn_concat_build(rt, cc, srcs, &any, &dl)) {
        memset(cc->bwd, 0, (size_t)n * sizeof *cc->bwd);
        memset(&cc->fwd, 0, sizeof cc->fwd);
        if (dn_concat_build(rt, cc, srcs, &plain, &dl)) return NULL;
    }
    return dn_op(rt, HK_CONCAT, dl, cc);
}

void hk_dnnl_concat_forward(hsi_op *op, const float *const *srcs, float *dst)
{
    dn_concat *cc = op->impl;
    if (cc->per) {
        dn_concat_copy(cc, srcs, dst, NULL, NULL);
        return;
    }
    const void *ptrs[DN_MAXARGS];
    for (int i = 0; i < cc->n; i++) ptrs[i] = srcs[i];
    ptrs[cc->n] = dst;
    dn_run(op->rt, &cc->fwd, ptrs);
}

void hk_dnnl_concat_backward(hsi_op *op, const float *ddst, float *const *dsrcs)
{
    dn_concat *cc = op->impl;
    if (cc->per) {
        dn_concat_copy(cc, NULL, NULL, dsrcs, ddst);
        return;
    }
    for (int i = 0; i < cc->n; i++)
        if (dsrcs[i]) dn_run(op->rt, &cc->bwd[i], (const void *[]){ddst, dsrcs[i]});
}

/* ---- reshape ------------------------------------------------------------------------------ */

/* A view when oneDNN can reshape the src descriptor; otherwise src -> plain, then viewed.
 * fold: SSRN's fold of nCdhw8c [N, C, D, H, W] into the channels-last [N, C*D, H, W]. */
typedef struct dn_reshape {
    dn_prim fwd, bwd;
    int fold;
    int64_t n, c, d, hw;
} dn_reshape;

hsi_op *hk_dnnl_reshape_create(hsi_rt *rt, const hsi_layout *src, int ndim, const int64_t *dims)
{
    if (ndim < 2 || ndim > 5 || hk_numel(ndim, dims) != hk_numel(src->ndim, src->dims)
        || dims[0] != src->dims[0])
        return hk_fail(rt, "reshape: a rank-%d shape with another batch or element count",
                       ndim);
    dn_reshape *rs = dn_impl_alloc(rt, sizeof *rs);
    md_t view;
    if (!rs) return NULL;
    if (dn_reshape_md(&view, dn_lmd(src), ndim, dims) == 0) {
        hsi_op *op = dn_op(rt, HK_RESHAPE, dn_layout(rt, &view), rs);
        if (op) op->view = 1;
        return op;
    }
    /* SSRN's fold of an nCdhw8c [N, C, D, H, W] into [N, C*D, H, W] (the input of C2, a conv
     * over the whole depth): channels-last, where C2 is one GEMM (dn_nhwc1x1_wanted), by
     * tapconv.c's 8 x 8 transposes (oneDNN's reorder to that layout took twice its time) */
    md_t blk, last;
    if (src->ndim == 5 && ndim == 4 && dims[1] == src->dims[1] * src->dims[2]
        && dims[2] == src->dims[3] && dims[3] == src->dims[4] && src->dims[1] % 8 == 0
        && !dn_fold_gemm_off() && !dn_md_tag(&blk, 5, src->dims, dnnl_aBcde8b)
        && dn_same(&blk, dn_lmd(src)) && !dn_md_tag(&last, 4, dims, dnnl_acdb)) {
        *rs = (dn_reshape){.fold = 1, .n = src->dims[0], .c = src->dims[1], .d = src->dims[2],
                           .hw = src->dims[3] * src->dims[4]};
        return dn_op(rt, HK_RESHAPE, dn_layout(rt, &last), rs);
    }
    const md_t *plain = dn_plain_of(rt, src);
    if (!plain || dn_reorder(rt, &rs->fwd, dn_lmd(src), plain, 0)
        || dn_reorder(rt, &rs->bwd, plain, dn_lmd(src), 0))
        return NULL;
    return dn_op(rt, HK_RESHAPE, hk_dnnl_layout_plain(rt, ndim, dims), rs);
}

hsi_op *hk_dnnl_plain_create(hsi_rt *rt, const hsi_layout *src)
{
    dn_reshape *rs = dn_impl_alloc(rt, sizeof *rs);
    if (!rs) return NULL;
    const md_t *plain = dn_plain_of(rt, src);
    if (!plain || dn_reorder(rt, &rs->fwd, dn_lmd(src), plain, 0)) return NULL;
    return dn_op(rt, HK_RESHAPE, hk_dnnl_layout_plain(rt, src->ndim, src->dims), rs);
}

void hk_dnnl_reshape_forward(hsi_op *op, const float *src, float *dst)
{
    dn_reshape *rs = op->impl;
    if (rs->fold) hk_tap_fold(rs->n, rs->c, rs->d, rs->hw, src, dst);
    if (rs->fwd.p) dn_run(op->rt, &rs->fwd, (const void *[]){src, dst});
}

void hk_dnnl_reshape_backward(hsi_op *op, const float *ddst, float *dsrc)
{
    dn_reshape *rs = op->impl;
    if (rs->fold) hk_tap_unfold(rs->n, rs->c, rs->d, rs->hw, ddst, dsrc);
    if (rs->bwd.p) dn_run(op->rt, &rs->bwd, (const void *[]){ddst, dsrc});
}

/* ---- softmax cross-entropy ---------------------------------------------------------------- */

typedef struct dn_xent {
    dn_prim to_plain, from_plain; /* p NULL when the logits are plain */
    int64_t N, K;
    size_t lp_off, dl_off;        /* plain logits / plain dlogits in tmp */
} dn_xent;

hsi_op *hk_dnnl_xent_create(hsi_rt *rt, const hsi_layout *logits)
{
    for (int i = 2; i < logits->ndim; i++)
        if (logits->dims[i] != 1)
            return hk_fail(rt, "xent: logits must be [N, K] or [N, K, 1, ...]");
    dn_xent *xe = dn_impl_alloc(rt, sizeof *xe);
    const md_t *plain = dn_plain_of(rt, logits);
    size_t used = 0;
    if (!xe || !plain) return NULL;
    xe->N = logits->dims[0];
    xe->K = logits->dims[1];
    size_t bytes = (size_t)(xe->N * xe->K) * sizeof(float);
    if (!logits->plain
        && (dn_reorder(rt, &xe->to_plain, dn_lmd(logits), plain, 0)
            || dn_reorder(rt, &xe->from_plain, plain, dn_lmd(logits), 0)
            || dn_stage(rt, &used, bytes, &xe->lp_off) || dn_stage(rt, &used, bytes, &xe->dl_off)))
        return NULL;
    return dn_op(rt, HK_XENT, logits, xe);
}

void hk_dnnl_xent_plain_logits(hsi_op *op, const float *logits, float *plain)
{
    dn_xent *xe = op->impl;
    if (xe->to_plain.p) dn_run(op->rt, &xe->to_plain, (const void *[]){logits, plain});
    else memcpy(plain, logits, (size_t)(xe->N * xe->K) * sizeof *plain);
}

float hk_dnnl_xent_forward_backward(hsi_op *op, const float *logits, const int32_t *labels,
                                    int n, float weight, float *dlogits)
{
    dn_xent *xe = op->impl;
    const float *x = logits;
    float *g = dlogits;
    int64_t K = xe->K, m = 0;
    if (xe->to_plain.p) {
        x = dn_tmp(op->rt, xe->lp_off);
        dn_run(op->rt, &xe->to_plain, (const void *[]){logits, x});
        if (g) g = dn_tmp(op->rt, xe->dl_off);
    }
    for (int i = 0; i < n && i < xe->N; i++) m += labels[i] >= 0 && labels[i] < K;
    double loss = 0;
    for (int64_t i = 0; i < xe->N; i++) {
        const float *row = x + i * K;
        float *grow = g ? g + i * K : NULL;
        int valid = i < n && labels[i] >= 0 && labels[i] < K;
        if (!valid) {
            if (grow) memset(grow, 0, (size_t)K * sizeof *grow);
            continue;
        }
        double mx = row[0], sum = 0;
        for (int64_t k = 1; k < K; k++) mx = row[k] > mx ? row[k] : mx;
        for (int64_t k = 0; k < K; k++) sum += exp(row[k] - mx);
        double lse = mx + log(sum);
        loss += lse - row[labels[i]];
        if (grow)
            for (int64_t k = 0; k < K; k++)
                grow[k] = (float)(weight * (exp(row[k] - lse) - (k == labels[i])) / (double)m);
    }
    if (g && g != dlogits) dn_run(op->rt, &xe->from_plain, (const void *[]){g, dlogits});
    return m ? (float)(loss / (double)m) : 0.f;
}

/* ---- lrn, crop, prelu, softmax ------------------------------------------------------------- */
/* (kernels_impl.h: hk_xop) The reference math on plain layouts: a blocked input is reordered to
 * plain (src_in) and its gradient back (dsrc_out); the output is plain. Except LRN of an odd
 * size: oneDNN's lrn_across_channels (alpha / size like PyTorch) in the input's layout, with
 * its workspace kept by the op (training forward then backward). For an even size oneDNN sums
 * only size - 1 channels, centred, where PyTorch sums size channels, size/2 before and
 * size/2 - 1 after: those run the reference math. */
typedef struct dn_xop {
    hk_xop x;
    dn_port src_in, dsrc_out;
    dn_prim lrn_fwd, lrn_bwd;     /* p NULL: the reference math */
    void *lrn_ws;                 /* oneDNN's LRN workspace, or NULL */
} dn_xop;

/* oneDNN's LRN for src's layout; its dst layout, or NULL (the caller falls back) */
static const hsi_layout *dn_lrn_build(hsi_rt *rt, dn_xop *xo, const hsi_layout *src,
                                      const hk_xop_desc *d)
{
    dnnl_lrn_desc_t desc;
    const md_t *m = dn_lmd(src);
    if (dnnl_lrn_forward_desc_init(&desc, dnnl_forward_training, dnnl_lrn_across_channels, m,
                                   d->size, d->alpha, d->beta, d->k) != dnnl_success)
        return NULL;
    const_dnnl_primitive_desc_t fpd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), NULL, "lrn");
    if (!fpd) return NULL;
    const md_t *wmd = dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0);
    int ws = wmd && wmd->ndims;
    if (dn_build(rt, &xo->lrn_fwd, fpd, 2 + ws,
                 (const int[]){DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE}, "lrn")
        || dnnl_lrn_backward_desc_init(&desc, dnnl_lrn_across_channels, m, m, d->size, d->alpha,
                                       d->beta, d->k) != dnnl_success)
        return NULL;
    const_dnnl_primitive_desc_t bpd = dn_pd(rt, &desc, dn_attr(rt, 0, 0), fpd, "lrn backward");
    if (dn_build(rt, &xo->lrn_bwd, bpd, 3 + ws,
                 ws ? (const int[]){DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_WORKSPACE, DNNL_ARG_DIFF_SRC}
                    : (const int[]){DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC}, "lrn backward")
        || (ws && !(xo->lrn_ws = hk_alloc(rt, dnnl_memory_desc_get_size(wmd)))))
        return NULL;
    return dn_layout(rt, dn_md(fpd, DNNL_ARG_DST));
}

hsi_op *hk_dnnl_xop_create(hsi_rt *rt, const hsi_layout *src, const hk_xop_desc *d)
{
    dn_xop *xo = dn_impl_alloc(rt, sizeof *xo);
    const md_t *plain = dn_plain_of(rt, src);
    size_t used = 0;
    if (!xo || !plain || hk_xop_init(rt, &xo->x, src->ndim, src->dims, d)) return NULL;
    if (d->kind == HK_XOP_LRN && d->size % 2) {
        const hsi_layout *dl = dn_lrn_build(rt, xo, src, d);
        if (dl) return dn_op(rt, HK_XOP, dl, xo);
        memset(&xo->lrn_fwd, 0, sizeof xo->lrn_fwd);   /* not supported here: the reference math */
        memset(&xo->lrn_bwd, 0, sizeof xo->lrn_bwd);
        rt->err[0] = 0;
    }
    if (dn_port_in(rt, &used, &xo->src_in, dn_lmd(src), plain)
        || dn_port_out(rt, &used, &xo->dsrc_out, plain, dn_lmd(src), 0))
        return NULL;
    return dn_op(rt, HK_XOP, hk_dnnl_layout_plain(rt, src->ndim, xo->x.dst_dims), xo);
}

void hk_dnnl_xop_forward(hsi_op *op, const float *src, const float *w, float *dst)
{
    dn_xop *xo = op->impl;
    if (xo->lrn_fwd.p) {
        dn_run(op->rt, &xo->lrn_fwd, (const void *[]){src, dst, xo->lrn_ws});
        return;
    }
    hk_xop_forward(&xo->x, dn_in(op->rt, &xo->src_in, src), w, dst);
}

void hk_dnnl_xop_backward(hsi_op *op, const float *src, const float *dst, const float *w,
                          const float *ddst, float *dsrc, float *dw)
{
    dn_xop *xo = op->impl;
    if (xo->lrn_bwd.p) {
        if (dsrc && xo->lrn_ws)
            dn_run(op->rt, &xo->lrn_bwd, (const void *[]){src, ddst, xo->lrn_ws, dsrc});
        else if (dsrc)
            dn_run(op->rt, &xo->lrn_bwd, (const void *[]){src, ddst, dsrc});
        return;
    }
    const float *x = src ? dn_in(op->rt, &xo->src_in, src) : NULL;
    float *g = dsrc ? dn_out(op->rt, &xo->dsrc_out, dsrc) : NULL;
    hk_xop_backward(&xo->x, x, dst, w, ddst, g, dw);
    if (dsrc) dn_out_done(op->rt, &xo->dsrc_out, dsrc);
}

/* ---- sequence ops: permute and one recurrent layer ---------------------------------------- */

/* No oneDNN primitive (a oneDNN RNN takes [L, N, F] and other gate orders): the reference op
 * (seq.c's math) runs on a plain copy of src, its gradient reordered back into src's layout;
 * dst is plain. */
typedef struct dn_seq {
    hsi_op *ref;                  /* the reference op, created on a plain twin of src */
    dn_prim to_plain;             /* src -> plain; p NULL when src is plain */
    dn_port dsrc_out;             /* plain gradient -> src's layout */
    size_t x_off;                 /* the plain src in tmp */
} dn_seq;

static hsi_op *dn_seq_op(hsi_rt *rt, hk_kind kind, const hsi_layout *src, hsi_op *ref)
{
    dn_seq *q = ref ? dn_impl_alloc(rt, sizeof *q) : NULL;
    const md_t *plain = q ? dn_plain_of(rt, src) : NULL;
    size_t used = 0;
    if (!plain) return NULL;
    q->ref = ref;
    if (!src->plain && (dn_reorder(rt, &q->to_plain, dn_lmd(src), plain, 0)
                        || dn_stage(rt, &used, dnnl_memory_desc_get_size(plain), &q->x_off)))
        return NULL;
    if (dn_port_out(rt, &used, &q->dsrc_out, plain, dn_lmd(src), 0)) return NULL;
    const hsi_layout *rd = hsi_op_dst(ref);
    return dn_op(rt, kind, hk_dnnl_layout_plain(rt, rd->ndim, rd->dims), q);
}

/* src as plain floats */
static const float *dn_seq_src(hsi_op *op, const float *src)
{
    dn_seq *q = op->impl;
    if (!q->to_plain.p) return src;
    float *x = dn_tmp(op->rt, q->x_off);
    dn_run(op->rt, &q->to_plain, (const void *[]){src, x});
    return x;
}

hsi_op *hk_dnnl_permute_create(hsi_rt *rt, const hsi_layout *src, int n, const int *perm)
{
    const hsi_layout *twin = hk_ref_layout_plain(rt, src->ndim, src->dims);
    return dn_seq_op(rt, HK_PERMUTE, src, twin ? hk_ref_permute_create(rt, twin, n, perm) : NULL);
}

void hk_dnnl_permute_forward(hsi_op *op, const float *src, float *dst)
{
    dn_seq *q = op->impl;
    hk_ref_permute_forward(q->ref, dn_seq_src(op, src), dst);
}

void hk_dnnl_permute_backward(hsi_op *op, const float *ddst, float *dsrc)
{
    dn_seq *q = op->impl;
    if (!dsrc) return;
    hk_ref_permute_backward(q->ref, ddst, dn_out(op->rt, &q->dsrc_out, dsrc));
    dn_out_done(op->rt, &q->dsrc_out, dsrc);
}

hsi_op *hk_dnnl_rnn_create(hsi_rt *rt, const hsi_layout *src, const hsi_rnn_desc *d,
                           int need_dsrc, int need_dw)
{
    const hsi_layout *twin = hk_ref_layout_plain(rt, src->ndim, src->dims);
    return dn_seq_op(rt, HK_RNN, src,
                     twin ? hk_ref_rnn_create(rt, twin, d, need_dsrc, need_dw) : NULL);
}

void hk_dnnl_rnn_forward(hsi_op *op, const float *src, const float *w_ih, const float *w_hh,
                         const float *b_ih, const float *b_hh, float *dst)
{
    dn_seq *q = op->impl;
    hk_ref_rnn_forward(q->ref, dn_seq_src(op, src), w_ih, w_hh, b_ih, b_hh, dst);
}

void hk_dnnl_rnn_backward(hsi_op *op, const float *src, const float *w_ih, const float *w_hh,
                          const float *b_ih, const float *b_hh, const float *ddst, float *dsrc,
                          float *dw_ih, float *dw_hh, float *db_ih, float *db_hh)
{
    dn_seq *q = op->impl;
    float *g = dsrc ? dn_out(op->rt, &q->dsrc_out, dsrc) : NULL;
    hk_ref_rnn_backward(q->ref, dn_seq_src(op, src), w_ih, w_hh, b_ih, b_hh, ddst, g, dw_ih,
                        dw_hh, db_ih, db_hh);
    if (dsrc) dn_out_done(op->rt, &q->dsrc_out, dsrc);
}
