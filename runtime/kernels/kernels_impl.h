/* kernels_impl.h — what the two backends of hsi_kernels.h share, and how they split.
 *
 * kernels.c implements every public hsi_* function of hsi_kernels.h by dispatching on the
 * backend: hsi_X(...) calls hk_ref_X(...) (ref.c) or hk_dnnl_X(...) (dnnl.c, only when built
 * with HSICC_WITH_DNNL). Both have exactly the public signature. Layout-independent pieces
 * (the arena planner, the dropout hash, hsi_layout_* accessors, op bookkeeping) live in
 * kernels.c. Memory policy: everything an rt creates is on its lists and freed by
 * hsi_rt_destroy; nothing is allocated after create.
 */
#ifndef HSI_KERNELS_IMPL_H
#define HSI_KERNELS_IMPL_H

#include "hsi_kernels.h"

/* hsi_dropout_uniform(seed, i) == hk_dropout_u(hk_mix64(seed), i): the stream's key computed
 * once per call and the hash inlined, for the backends' mask loops (same bits). */
static inline uint64_t hk_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline float hk_dropout_u(uint64_t key, uint64_t i)
{
    return (float)(hk_mix64(key + (i + 1) * 0x9E3779B97F4A7C15ULL) >> 40) * (1.0f / 16777216.0f);
}

struct hsi_layout {
    int ndim;
    int64_t dims[5];     /* logical, batch first */
    size_t bytes;
    int plain;           /* 1: row-major, no padding */
    void *md;            /* DNNL: a dnnl_memory_desc_t (owned); REF: NULL */
    struct hsi_layout *next;
};

typedef enum hk_kind {
    HK_CONV, HK_BN, HK_ACT, HK_DROPOUT, HK_POOL, HK_DENSE, HK_ADD, HK_ACCUM, HK_CONCAT,
    HK_RESHAPE, HK_XENT, HK_LOSS, HK_XOP, HK_PERMUTE, HK_RNN
} hk_kind;

/* lrn, crop, prelu, softmax: one op kind (HK_XOP) on both backends, the reference math on plain
 * layouts (ref.c: hk_xop_*), which the oneDNN backend wraps in reorders. */
typedef enum hk_xop_kind { HK_XOP_LRN, HK_XOP_CROP, HK_XOP_PRELU, HK_XOP_SOFTMAX } hk_xop_kind;
typedef struct hk_xop_desc {
    hk_xop_kind kind;
    int64_t size; float alpha, beta, k;   /* lrn */
    hsi_crop_desc crop;                   /* crop */
    int64_t slopes;                       /* prelu */
} hk_xop_desc;
/* The plain-layout state: shapes, double scratch (all made at create). */
typedef struct hk_xop {
    hk_xop_desc d;
    int ndim;
    int64_t n, c, sp;                     /* src as [n, c, sp] */
    int64_t src_dims[5], dst_dims[5];
    double *x, *y, *g, *t, *w, *dw;      /* src, dst, gradient, channel scratch, slopes */
} hk_xop;
/* Checks and sizes x for src dims; 0 ok, else -1 with the rt error set. */
int hk_xop_init(hsi_rt *rt, hk_xop *x, int ndim, const int64_t *src_dims, const hk_xop_desc *d);
/* On plain float arrays. */
void hk_xop_forward(hk_xop *x, const float *src, const float *w, float *dst);
void hk_xop_backward(hk_xop *x, const float *src, const float *dst, const float *w,
                     const float *ddst, float *dsrc, float *dw);

struct hsi_op {
    hsi_rt *rt;
    hk_kind kind;
    const hsi_layout *dst;
    size_t ws_bytes;
    int view;
    int grad_shares;     /* add: bit j set when input j's gradient may be ddst's memory; bn: 1 when
                            dsrc may be ddst's memory (hsi_bn_grad_shares) */
    int recompute;       /* bn: hsi_bn_recompute rewrites dst for the backward (see there) */
    int serial;          /* created and run with OpenMP's thread count 1 (kernels.c) */
    void *impl;          /* backend-specific state, allocated with hk_alloc */
    struct hsi_op *next;
    double macs, macs_bwd;          /* conv / dense: multiply-adds of a forward, a backward */
    double prof_s[2];               /* HSI_PROFILE: seconds in forward / backward calls */
    int64_t prof_n[2];              /*              and their count */
    const void *prof_key;           /*              the first parameter passed, or NULL */
};

struct hsi_rt {
    hsi_backend backend;
    char err[512];
    hsi_layout *layouts;
    hsi_op *ops;
    void **allocs;       /* every hk_alloc, freed by hsi_rt_destroy */
    int n_allocs, cap_allocs;
    void *dnnl;          /* DNNL: engine + stream (dnnl.c); REF: NULL */
    int prof;            /* HSI_PROFILE was set at create: time every kernel call */
};

/* Zeroed memory owned by the rt (aligned to 64 bytes); NULL only when out of memory. */
void *hk_alloc(hsi_rt *rt, size_t bytes);
/* A new op on the rt's list with kind and dst set; ws_bytes, view, impl left 0. */
hsi_op *hk_op_new(hsi_rt *rt, hk_kind kind, const hsi_layout *dst);
/* A new layout on the rt's list; md NULL, plain 0, bytes 0 (the backend fills them). */
hsi_layout *hk_layout_new(hsi_rt *rt, int ndim, const int64_t *dims);
/* Record a create failure (printf-style) and return NULL. */
void *hk_fail(hsi_rt *rt, const char *fmt, ...);
int64_t hk_numel(int ndim, const int64_t *dims);

/* The layout conversion behind hsi_plain_create for blocked oneDNN layouts (a reorder op of
 * kind HK_RESHAPE, so hsi_plain_forward is the reshape's forward). */
hsi_op *hk_dnnl_plain_create(hsi_rt *rt, const hsi_layout *src);

/* Which code a DNNL conv or dense op runs: "tapconv:avx2", "tapconv:generic" (tapconv.c),
 * "smallconv:avx2", "smallconv:generic" (smallconv.c), "winograd:avx512", "winograd:avx2",
 * "winograd:generic" (dnnl_wino.c; ":avx512" also for the others on AVX-512),
 * "gemm" (im2col + GEMM, or one GEMM on a row-major src) or "onednn" (oneDNN's primitives).
 * For tests. */
const char *hk_dnnl_conv_impl(const hsi_op *op);

/* Which code a DNNL training BN op runs: "bnorm:avx2", "bnorm:generic" (bnorm.c; ":nc" appended
 * on its [N, C] path, hk_bnorm_columns) or "onednn". For tests. */
const char *hk_dnnl_bn_impl(const hsi_op *op);
/* The training mask loop a DNNL dropout op runs: "avx2" or "scalar" (the same bits). For
 * tests. */
const char *hk_dnnl_dropout_impl(const hsi_op *op);
/* The loop a DNNL add (forward) or accumulation runs: "avx2", "generic" (dnnl.c's own, one
 * layout for all operands) or "onednn" (mixed layouts, or HSICC_DNNL_OWN_ADD=0). For tests. */
const char *hk_dnnl_add_impl(const hsi_op *op);
const char *hk_dnnl_accum_impl(const hsi_op *op);

/* hsi_bn_recompute on the oneDNN backend (ops with recompute set: bnorm.c's BN). */
void hk_dnnl_bn_recompute(hsi_op *op, const float *src, const float *gamma, const float *beta,
                          const void *ws, float *dst);

/* hsi_conv_takes_bn and its calls on the oneDNN backend (kernels.c checks the kinds). */
int hk_dnnl_conv_takes_bn(const hsi_op *conv, const hsi_op *bn);
void hk_dnnl_bn_train_stats(hsi_op *bn, const float *src, const float *gamma, const float *beta,
                            float *running_mean, float *running_var, float momentum, void *ws);
void hk_dnnl_conv_forward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn, const float *gamma,
                             const void *bn_ws, const float *w, const float *b, float *dst);
void hk_dnnl_conv_backward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn, const float *gamma,
                              const void *bn_ws, const float *w, const float *ddst, float *dsrc,
                              float *dw, float *db);

/* hsi_pool_takes_bn and its calls on the oneDNN backend. */
int hk_dnnl_pool_takes_bn(const hsi_op *pool, const hsi_op *bn);
void hk_dnnl_pool_forward_bn(hsi_op *pool, const float *bn_src, hsi_op *bn, const float *gamma,
                             const void *bn_ws, float *dst, void *ws);
void hk_dnnl_pool_backward_bn(hsi_op *pool, const float *ddst, const void *ws, hsi_op *bn,
                              const float *bn_src, const float *gamma, const void *bn_ws,
                              float *dsrc, float *dgamma, float *dbeta);

/* hsi_conv_takes_residual and hsi_conv_forward_res on the oneDNN backend. */
int hk_dnnl_conv_takes_residual(const hsi_op *conv, const hsi_op *add);
void hk_dnnl_conv_forward_res(hsi_op *conv, const float *src, hsi_op *bn, const float *gamma,
                              const void *bn_ws, const float *w, const float *b, const float *res,
                              float *dst);

/* hsi_conv_adds_dsrc and hsi_conv_backward_add on the oneDNN backend. */
int hk_dnnl_conv_adds_dsrc(const hsi_op *conv);
void hk_dnnl_conv_backward_add(hsi_op *conv, const float *src, hsi_op *bn, const float *gamma,
                               const void *bn_ws, const float *w, const float *ddst, float *dsrc,
                               float *dw, float *db);

/* hsi_bn_sums_from and hsi_bn_grad_sums_from on the oneDNN backend. */
int hk_dnnl_bn_sums_from(hsi_op *bn, hsi_op *conv, const hsi_op *add);
int hk_dnnl_bn_grad_sums_from(hsi_op *bn, hsi_op *conv);

/* hsi_kernels_set_dp's setting (NULL: one process). */
extern const hsi_dp *hk_dp;
/* 1 when training BN reduces over every process. */
int hk_bn_sync(void);
/* Logical index of element 0 of a training dropout op's batch in the global batch. */
uint64_t hk_dropout_base(const hsi_layout *dst);

/* Backend hooks for the rt itself. */
int hk_dnnl_rt_init(hsi_rt *rt);       /* 0 ok; engine + stream into rt->dnnl */
void hk_dnnl_rt_fini(hsi_rt *rt);
size_t hk_dnnl_rt_bytes(const hsi_rt *rt);   /* the shared staging + scratchpad */
const hsi_layout *hk_ref_layout_plain(hsi_rt *rt, int ndim, const int64_t *dims);
const hsi_layout *hk_dnnl_layout_plain(hsi_rt *rt, int ndim, const int64_t *dims);

#define HK_DECLARE(be)                                                                         \
    hsi_op *hk_##be##_conv_create(hsi_rt *, const hsi_layout *, const hsi_conv_desc *, int, int); \
    void hk_##be##_conv_forward(hsi_op *, const float *, const float *, const float *, float *); \
    void hk_##be##_conv_backward(hsi_op *, const float *, const float *, const float *, float *, \
                                 float *, float *);                                              \
    hsi_op *hk_##be##_bn_create(hsi_rt *, const hsi_layout *, float, int);                     \
    void hk_##be##_bn_forward(hsi_op *, int, const float *, const float *, const float *,      \
                              float *, float *, float, float *, void *);                        \
    void hk_##be##_bn_backward(hsi_op *, const float *, const float *, const float *,          \
                               const void *, float *, int, float *, float *);                  \
    hsi_op *hk_##be##_act_create(hsi_rt *, const hsi_layout *, hsi_act_kind, float);           \
    void hk_##be##_act_forward(hsi_op *, const float *, float *);                              \
    void hk_##be##_act_backward(hsi_op *, const float *, const float *, float *);              \
    hsi_op *hk_##be##_dropout_create(hsi_rt *, const hsi_layout *, float);                     \
    void hk_##be##_dropout_forward(hsi_op *, int, uint64_t, const float *, float *, void *);   \
    void hk_##be##_dropout_backward(hsi_op *, const float *, const void *, float *);           \
    hsi_op *hk_##be##_pool_create(hsi_rt *, const hsi_layout *, const hsi_pool_desc *,         \
                                  const int64_t *);                                             \
    void hk_##be##_pool_forward(hsi_op *, int, const float *, float *, void *);                \
    void hk_##be##_pool_backward(hsi_op *, const float *, const void *, float *);               \
    hsi_op *hk_##be##_dense_create(hsi_rt *, const hsi_layout *, int64_t, int, int, int);      \
    void hk_##be##_dense_forward(hsi_op *, const float *, const float *, const float *, float *); \
    void hk_##be##_dense_backward(hsi_op *, const float *, const float *, const float *,       \
                                  float *, float *, float *);                                  \
    hsi_op *hk_##be##_add_create(hsi_rt *, const hsi_layout *, const hsi_layout *, int);       \
    void hk_##be##_add_forward(hsi_op *, const float *, const float *, float *);               \
    void hk_##be##_add_backward(hsi_op *, const float *, const float *, float *, float *);     \
    hsi_op *hk_##be##_accum_create(hsi_rt *, const hsi_layout *, const hsi_layout *);          \
    void hk_##be##_accum(hsi_op *, float *, const float *);                                    \
    hsi_op *hk_##be##_concat_create(hsi_rt *, int, const hsi_layout *const *);                 \
    void hk_##be##_concat_forward(hsi_op *, const float *const *, float *);                    \
    void hk_##be##_concat_backward(hsi_op *, const float *, float *const *);                   \
    hsi_op *hk_##be##_reshape_create(hsi_rt *, const hsi_layout *, int, const int64_t *);      \
    void hk_##be##_reshape_forward(hsi_op *, const float *, float *);                          \
    void hk_##be##_reshape_backward(hsi_op *, const float *, float *);                         \
    hsi_op *hk_##be##_xent_create(hsi_rt *, const hsi_layout *);                               \
    float hk_##be##_xent_forward_backward(hsi_op *, const float *, const int32_t *, int, float, \
                                          float *);                                            \
    void hk_##be##_xent_plain_logits(hsi_op *, const float *, float *);                     \
    hsi_op *hk_##be##_xop_create(hsi_rt *, const hsi_layout *, const hk_xop_desc *);           \
    void hk_##be##_xop_forward(hsi_op *, const float *, const float *, float *);               \
    void hk_##be##_xop_backward(hsi_op *, const float *, const float *, const float *,         \
                                const float *, float *, float *);

HK_DECLARE(ref)
#ifdef HSICC_WITH_DNNL
HK_DECLARE(dnnl)
#endif
/* The sequence ops (seq.c dispatches, ref.c and dnnl.c implement). */
#define HK_DECLARE_SEQ(be)                                                                     \
    hsi_op *hk_##be##_permute_create(hsi_rt *, const hsi_layout *, int, const int *);          \
    void hk_##be##_permute_forward(hsi_op *, const float *, float *);                          \
    void hk_##be##_permute_backward(hsi_op *, const float *, float *);                         \
    hsi_op *hk_##be##_rnn_create(hsi_rt *, const hsi_layout *, const hsi_rnn_desc *, int, int); \
    void hk_##be##_rnn_forward(hsi_op *, const float *, const float *, const float *,          \
                               const float *, const float *, float *);                         \
    void hk_##be##_rnn_backward(hsi_op *, const float *, const float *, const float *,         \
                                const float *, const float *, const float *, float *, float *, \
                                float *, float *, float *);
HK_DECLARE_SEQ(ref)
#ifdef HSICC_WITH_DNNL
HK_DECLARE_SEQ(dnnl)
#endif

/* hsi_X(...) -> hk_ref_X(...) or hk_dnnl_X(...) by the rt's backend */
#ifdef HSICC_WITH_DNNL
#define HK_CALL(rt, fn, ...) \
    ((rt)->backend == HSI_BACKEND_DNNL ? hk_dnnl_##fn(__VA_ARGS__) : hk_ref_##fn(__VA_ARGS__))
#else
#define HK_CALL(rt, fn, ...) hk_ref_##fn(__VA_ARGS__)
#endif

#endif
