/* hsi.h — the seam between code emitted by hsicc and the runtime (libhsirt).
 *
 * The runtime knows no network; the emitted code knows no solver or dataset. An emitted
 * network exports one hsi_netdesc; a trainer is libhsirt's main linked with it. Emitted nets
 * fill it with the runtime's model (hsi_model.h) driven by their tables; a hand-written net
 * implements the entry points itself.
 *
 * Conventions every emitted network follows:
 *  - Tensors are float32. Parameters are stored in PyTorch layouts (conv OIDHW / OIHW,
 *    dense [out, in], BN [C]) so that checkpoints (safetensors) move into PyTorch as they are.
 *  - An input batch is plain row-major [n, C, D, H, W] (3-D nets) or [n, C, H, W] (2-D nets).
 *  - loss_backward ACCUMULATES into every param's grad (grad += d loss / d param), so that
 *    several domains (and a shared block used twice) sum their gradients; the runtime calls
 *    zero_grad before each iteration. Frozen parameters and state have grad == NULL.
 *  - Training steps use exactly opts.batch samples; inference may use 1..batch samples.
 *  - Nothing is allocated per step: create() builds every primitive and plans one arena.
 */
#ifndef HSI_H
#define HSI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How a parameter is initialised. fan_in / fan_out are filled in by the compiler. */
typedef enum hsi_init_kind {
    HSI_INIT_ZEROS,          /* 0 */
    HSI_INIT_ONES,           /* 1 */
    HSI_INIT_CONSTANT,       /* a */
    HSI_INIT_GAUSSIAN,       /* N(a, b^2): a = mean, b = std */
    HSI_INIT_UNIFORM,        /* U(a, b) */
    HSI_INIT_HE_NORMAL,      /* N(0, 2/fan_in), Keras truncates at 2 std: we do not */
    HSI_INIT_HE_UNIFORM,     /* U(-sqrt(6/fan_in), +sqrt(6/fan_in)) */
    HSI_INIT_GLOROT_UNIFORM, /* U(-l, l), l = sqrt(6/(fan_in+fan_out)) */
    HSI_INIT_GLOROT_NORMAL,  /* N(0, 2/(fan_in+fan_out)) */
    HSI_INIT_TORCH_DEFAULT   /* PyTorch's default: kaiming_uniform(a=sqrt(5)) weights, U(+-1/sqrt(fan_in)) bias */
} hsi_init_kind;

typedef struct hsi_init {
    hsi_init_kind kind;
    float a, b;              /* meaning depends on kind, see above */
    int64_t fan_in, fan_out; /* PyTorch's definitions: in_ch/groups * prod(kernel), out_ch * prod(kernel) */
} hsi_init;

typedef enum hsi_param_role {
    HSI_ROLE_WEIGHT, HSI_ROLE_BIAS, HSI_ROLE_BN_GAMMA, HSI_ROLE_BN_BETA,
    HSI_ROLE_BN_MEAN, HSI_ROLE_BN_VAR /* state: running statistics, never trained */
} hsi_param_role;

/* One trainable or state tensor. */
typedef struct hsi_param {
    const char *name;      /* "trunk.0.conv1.weight": stable, hierarchical, from the netdef */
    int ndim;
    int64_t dims[5];       /* PyTorch layout */
    int64_t numel;
    float *value;          /* numel floats, owned by the model */
    float *grad;           /* numel floats; NULL for state and frozen parameters, and in a
                              model of batch 0 (hsi_model_opts) */
    hsi_param_role role;
    float lr_mult, decay_mult;
    int shared;            /* 1: from a `shared block`: one tensor for every domain */
    int frozen;            /* 1: `freeze` in the netdef (grad == NULL) */
    hsi_init init;
} hsi_param;

/* One instantiation of the net: one dataset's band count and class count. */
typedef struct hsi_domain {
    const char *name;      /* experiment's domain name ("" for a single-domain net) */
    int ndim;              /* per-sample input rank: 3 ([C,H,W]) or 4 ([C,D,H,W]) for patch
                              nets; 1 ([F]) or 2 ([C,L]) for spectral nets (patch 1) */
    int64_t in_dims[4];    /* per-sample input shape */
    int bands, classes, patch;
    int label_patch;       /* 0: one label per sample; L: the loss reads the L x L window of labels
                              centred on the sample (pixel cross-entropy), [n, L, L] */
} hsi_domain;

typedef enum hsi_backend { HSI_BACKEND_DNNL = 0, HSI_BACKEND_REF = 1 } hsi_backend;

typedef struct hsi_model_opts {
    int batch;             /* samples per step; every buffer is sized for it. 0: the parameters
                              only (no kernel, no buffer): for hsi_infer, never for forward */
    hsi_backend backend;
    uint64_t seed;         /* dropout masks: hash(seed, rng_counter, layer, element) */
} hsi_model_opts;

typedef struct hsi_model hsi_model;

typedef struct hsi_memory_report {
    size_t params, grads, activations_arena, activations_sum;
    size_t workspace;   /* the backend's buffers shared by the ops (hsi_rt_buffer_bytes) */
} hsi_memory_report;

/* ---- whole-scene inference program (derived by the compiler; run by hsi_scene.h) ---------- */
/* Every op of a domain's inference graph, in the order of the patch net, with the REGION it
 * runs in when a whole scene is classified. A patch net reads a p x p window of the padded
 * scene; an op whose output at patch position (i, j) is the same function of the scene at
 * (r + i, c + j) for every patch (r, c) of the scene -- 1x1 spatial kernels, valid stride-1
 * convolutions and pools, windows covering the whole remaining map -- is computed ONCE over the
 * scene instead of once per patch:
 *   PIXEL   spatially pointwise from the input (output spatial size = p): run over row blocks of
 *           the padded scene as one image [1, C, (D,) rows, W + p - 1];
 *   WINDOW  sliding (valid, stride 1) over PIXEL/WINDOW tensors: run over row tiles with their
 *           halo, output [1, C, (D,) rows + sh - 1, W + sw - 1];
 *   PATCH   everything else: per pixel, on sh x sw crops of the scene tensors it reads, in
 *           batches, exactly as the patch net. */
typedef enum hsi_sop_kind {
    HSI_SOP_INPUT, HSI_SOP_CONV, HSI_SOP_DENSE, HSI_SOP_BN, HSI_SOP_ACT, HSI_SOP_POOL,
    HSI_SOP_RESHAPE, HSI_SOP_CONCAT, HSI_SOP_ADD, HSI_SOP_IDENTITY /* dropout at inference */,
    HSI_SOP_POOL_CEIL /* a ceil_mode pool (hsi_pool_create_ceil): dilation holds ceil_extra */,
    HSI_SOP_LRN /* kernel[0] = size, alpha, beta, k */, HSI_SOP_CROP /* pad_lo = offset, kernel = size */,
    HSI_SOP_PRELU /* param[0] = the slopes, out_ch of them */, HSI_SOP_SOFTMAX,
    HSI_SOP_PERMUTE /* seq = the permutation */, HSI_SOP_RNN /* out_ch = hidden, bias, seq =
                                                    lstm, reverse, sequence; param: the 4 */
} hsi_sop_kind;
typedef enum hsi_region { HSI_REGION_PIXEL, HSI_REGION_WINDOW, HSI_REGION_PATCH } hsi_region;
typedef enum hsi_scene_kind {
    HSI_SCENE_FCN,       /* the whole net slides over the scene: no patches at all */
    HSI_SCENE_HOISTED,   /* a prefix runs once per scene pixel, the rest per patch */
    HSI_SCENE_PATCH      /* nothing hoisted: patches of the input */
} hsi_scene_kind;

typedef struct hsi_scene_op {
    const char *name;        /* layer name (for messages) */
    int kind;                /* hsi_sop_kind */
    int region;              /* hsi_region */
    int sh, sw;              /* scene regions: the op's output spatial size in the patch net */
    int n_in;
    const int *in;           /* producer op indices (smaller than this op's) */
    int ndim;
    int64_t dims[4];         /* per-sample output shape in the patch net ([F], [C,H,W], [C,D,H,W]) */
    /* CONV and POOL as in the patch net; for DENSE in a scene region, the conv it becomes
     * (kernel = the input's remaining extent). nsp: spatial rank of the call (2 or 3). */
    int nsp;
    int64_t out_ch, groups, kernel[3], stride[3], pad_lo[3], pad_hi[3], dilation[3];
    int bias, max, count_include_pad;
    int act;                 /* ACT: hsi_act_kind */
    float alpha, eps;        /* ACT alpha; BN eps */
    int relu;                /* BN, ADD: ReLU fused */
    int param[4];            /* CONV/DENSE: weight, bias; BN: gamma, beta, mean, var; -1 none */
    int fold;                /* CONV/DENSE: the BN op folded into it for inference, else -1;
                                BN: 1 when folded (its output is the conv's, ReLU'd if relu) */
    double flops;            /* multiply-adds x 2 per output position (scene) or per patch */
    float beta, k;           /* LRN (its alpha is alpha above) */
    int seq[4];              /* PERMUTE: output axis i = input axis seq[i]; RNN: lstm, reverse,
                                sequence (both run per patch only) */
} hsi_scene_op;

typedef struct hsi_scene_prog {
    int kind;                /* hsi_scene_kind */
    int n_ops;
    const hsi_scene_op *ops;
    int logits;              /* op index of the logits */
    int patch;               /* p: the patch net's input window */
    double flops_patch;      /* per pixel: the patch net on its patch */
    double flops_scene;      /* per pixel: the scene program */
} hsi_scene_prog;

typedef struct hsi_netdesc {
    const char *name;                  /* net name from the netdef */
    const char *source;                /* netdef file and -D parameters it was compiled with */
    int n_domains;
    const hsi_domain *domains;
    /* Builds every primitive and plans the arena. NULL on failure, with a message in err. */
    hsi_model *(*create)(const hsi_model_opts *opts, char *err, size_t errlen);
    /* x: [n, in_dims...]; train: 1 batch statistics + dropout, 0 inference.
     * rng_counter: the runtime's step counter (dropout masks depend on it, so resume is exact).
     * x may be read in place (emitted nets: a full batch at a 64-byte aligned address, see
     * hsi_model_input_to): keep it unchanged until this domain's loss_backward has run. */
    void (*forward)(hsi_model *, int domain, const float *x, int n, int train, uint64_t rng_counter);
    /* After forward(train=1) of the same domain: the net's loss (softmax cross-entropy mean over
     * n, or the sum of its losses times their netdef weights), its gradient scaled by weight;
     * grads accumulated (+=). Returns the loss not scaled by weight. labels: [n], or [n, L, L]
     * when the domain's label_patch is L (label -1, or outside 0..classes-1: ignored). */
    float (*loss_backward)(hsi_model *, int domain, const int32_t *labels, int n, float weight);
    /* Plain [n, classes] logits of the last forward of this domain. */
    const float *(*logits)(hsi_model *, int domain);
    /* The parameter table: every domain's parameters, shared ones once. */
    int (*params)(hsi_model *, hsi_param **out);
    void (*zero_grad)(hsi_model *);
    void (*memory)(hsi_model *, hsi_memory_report *out);
    void (*destroy)(hsi_model *);
    /* Per domain, the whole-scene inference program (NULL: a hand-written net without one;
     * the runtime then classifies scenes patch by patch through forward). */
    const hsi_scene_prog *scene;
} hsi_netdesc;

#ifdef __cplusplus
}
#endif
#endif /* HSI_H */
