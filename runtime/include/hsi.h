/* hsi.h — the seam between code emitted by hsicc and the runtime (libhsirt).
 *
 * The runtime knows no network; the emitted code knows no solver or dataset. An emitted
 * network exports one hsi_netdesc; a trainer is libhsirt's main linked with it.
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
    float *grad;           /* numel floats; NULL for state and frozen parameters */
    hsi_param_role role;
    float lr_mult, decay_mult;
    int shared;            /* 1: from a `shared block`: one tensor for every domain */
    int frozen;            /* 1: `freeze` in the netdef (grad == NULL) */
    hsi_init init;
} hsi_param;

/* One instantiation of the net: one dataset's band count and class count. */
typedef struct hsi_domain {
    const char *name;      /* experiment's domain name ("" for a single-domain net) */
    int ndim;              /* per-sample input rank: 3 ([C,H,W]) or 4 ([C,D,H,W]) */
    int64_t in_dims[4];    /* per-sample input shape */
    int bands, classes, patch;
} hsi_domain;

typedef enum hsi_backend { HSI_BACKEND_DNNL = 0, HSI_BACKEND_REF = 1 } hsi_backend;

typedef struct hsi_model_opts {
    int batch;             /* samples per step; every buffer is sized for it */
    hsi_backend backend;
    uint64_t seed;         /* dropout masks: hash(seed, rng_counter, layer, element) */
} hsi_model_opts;

typedef struct hsi_model hsi_model;

typedef struct hsi_memory_report {
    size_t params, grads, activations_arena, activations_sum, workspace;
} hsi_memory_report;

typedef struct hsi_netdesc {
    const char *name;                  /* net name from the netdef */
    const char *source;                /* netdef file and -D parameters it was compiled with */
    int n_domains;
    const hsi_domain *domains;
    /* Builds every primitive and plans the arena. NULL on failure, with a message in err. */
    hsi_model *(*create)(const hsi_model_opts *opts, char *err, size_t errlen);
    /* x: [n, in_dims...]; train: 1 batch statistics + dropout, 0 inference.
     * rng_counter: the runtime's step counter (dropout masks depend on it, so resume is exact). */
    void (*forward)(hsi_model *, int domain, const float *x, int n, int train, uint64_t rng_counter);
    /* After forward(train=1) of the same domain: softmax cross-entropy mean over n, scaled by
     * weight; grads accumulated (+=). Returns the unscaled mean loss. */
    float (*loss_backward)(hsi_model *, int domain, const int32_t *labels, int n, float weight);
    /* Plain [n, classes] logits of the last forward of this domain. */
    const float *(*logits)(hsi_model *, int domain);
    /* The parameter table: every domain's parameters, shared ones once. */
    int (*params)(hsi_model *, hsi_param **out);
    void (*zero_grad)(hsi_model *);
    void (*memory)(hsi_model *, hsi_memory_report *out);
    void (*destroy)(hsi_model *);
} hsi_netdesc;

#ifdef __cplusplus
}
#endif
#endif /* HSI_H */
