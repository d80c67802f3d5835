/* hsi_model.h — the model every emitted network shares (runtime/model/model.c).
 *
 * An emitted file (hsicc emit) holds only what is particular to its net: the parameter table,
 * per domain the op and buffer enums, create_<d> (every kernel, the arena plan),
 * forward_train_<d>, forward_infer_<d> and loss_backward_<d>, and the tables below that name
 * them. Everything else -- the parameter and gradient blocks, constant initialisation, the
 * backend, the arena and the buffer pointers into it, the per-domain dispatch of the
 * hsi_netdesc entry points, memory reports -- is here, once:
 *
 *   static const hsi_domain_code code[] = {{N_OPS, N_BUFS, create_0, forward_train_0, ...}};
 *   static const hsi_model_spec spec = {"ssrn", N_PARAMS, param_table, 1, domains, code};
 *   static hsi_model *create(const hsi_model_opts *o, char *err, size_t errlen)
 *   {
 *       return hsi_model_create(&spec, o, err, errlen);
 *   }
 *   const hsi_netdesc ssrn_net = {..., create, hsi_model_forward, hsi_model_loss_backward, ...};
 *
 * Hand-written nets (tests/trainer/tiny_net.c) define their own struct hsi_model and do not
 * include this header: the trainer sees only hsi_netdesc (hsi.h).
 */
#ifndef HSI_MODEL_H
#define HSI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "hsi.h"
#include "hsi_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One domain's state: arrays of the domain's N_OPS / N_BUFS entries, allocated by the runtime,
 * filled by the emitted create_<d>, used by its forward and backward passes. */
typedef struct hsi_dstate {
    hsi_op **op;           /* [n_ops] each op's kernel */
    hsi_op **acc;          /* [n_bufs] for T buffers: G += T */
    float **wf, **bf;      /* [n_ops] BN ops folded for inference: weights, biases (malloc'd) */
    hsi_op **infer_relu;   /* [n_ops] and their ReLU, when fused */
    size_t *off;           /* [n_bufs] arena offsets (hsi_dstate_plan) */
    unsigned char *grouped;/* [n_bufs] 1: shares its memory with another buffer (alias) */
    float **buf;           /* [n_bufs] the buffers: arena + off */
    float *logits;         /* plain [batch, classes] */
    size_t arena, sum;     /* this domain's arena bytes; the sum of its buffers' bytes */
} hsi_dstate;

/* What an emitted file gives per domain. */
typedef struct hsi_domain_code {
    int n_ops, n_bufs;
    /* Creates every kernel, plans the arena (hsi_dstate_plan): 0, or 1 with err written. */
    int (*create)(hsi_model *m, hsi_dstate *s, char *err, size_t errlen);
    /* Batch statistics, dropout masks from (seed, rng, layer), workspaces saved for backward. */
    void (*forward_train)(hsi_model *m, hsi_dstate *s, const float *x, int n, uint64_t rng);
    /* Running statistics (BN folded where the compiler folded it), dropout as identity. */
    void (*forward_infer)(hsi_model *m, hsi_dstate *s, const float *x, int n);
    float (*loss_backward)(hsi_model *m, hsi_dstate *s, const int32_t *labels, int n, float weight);
} hsi_domain_code;

typedef struct hsi_model_spec {
    const char *name;            /* prefix of every message: the emitted file's stem */
    int n_params;
    const hsi_param *params;     /* the parameter table (value and grad NULL) */
    int n_domains;
    const hsi_domain *domains;   /* .classes sizes each domain's logits */
    const hsi_domain_code *code; /* [n_domains]; NULL for a parameters-only model */
} hsi_model_spec;

struct hsi_model {
    const hsi_model_spec *spec;
    hsi_rt *rt;
    int batch;
    uint64_t seed;
    hsi_param *params;           /* [n_params]: the table, with value and grad set */
    float *values, *grads;       /* every parameter, every gradient: one block each */
    void *arena;                 /* activations, gradients, workspaces of all domains */
    size_t arena_bytes;
    size_t arena_map;            /* bytes of the arena's mapping (mmap'd, page-aligned) */
    hsi_dstate *dom;             /* [n_domains] */
};

/* The hsi_netdesc entry points (hsi.h). create with opts->batch <= 0: the parameters only
 * (forward and loss_backward then run nothing, logits is NULL). A domain out of range: the
 * same. */
hsi_model *hsi_model_create(const hsi_model_spec *spec, const hsi_model_opts *opts, char *err,
                            size_t errlen);
/* The same; with opts->batch 0 and values not NULL, parameter i's values are values[i],
 * borrowed for the model's life and never written (an inference module's embedded weights: no
 * second copy). A model with a batch ignores values (training writes its parameters). */
hsi_model *hsi_model_create_on(const hsi_model_spec *spec, const hsi_model_opts *opts,
                               const float *const *values, char *err, size_t errlen);
void hsi_model_forward(hsi_model *m, int domain, const float *x, int n, int train, uint64_t rng);
float hsi_model_loss_backward(hsi_model *m, int domain, const int32_t *labels, int n, float weight);
const float *hsi_model_logits(hsi_model *m, int domain);
int hsi_model_params(hsi_model *m, hsi_param **out);
void hsi_model_zero_grad(hsi_model *m);
void hsi_model_memory(hsi_model *m, hsi_memory_report *out);
void hsi_model_destroy(hsi_model *m);
/* Gives the arena's pages back to the system (RSS drops by up to its size) while the model
 * stays usable: the next pass finds the arena zeroed, as after create(), so no result changes.
 * For phases that need the parameters but not the activations (whole-scene inference). */
void hsi_model_trim(hsi_model *m);

/* ---- for the emitted code ---------------------------------------------------------------- */
/* A layer's kernel could not be created: "<name>: layer '<layer>': <why>" into err; returns 1. */
int hsi_model_fail(const hsi_model *m, const char *layer, char *err, size_t errlen);
/* Places a domain's buffers: s->off, s->arena, s->sum (see hsi_arena_plan_aliased). */
void hsi_dstate_plan(hsi_dstate *s, int n_bufs, const hsi_buf *bufs, const int *alias);
/* The input buffer: n samples of per_sample floats copied in, samples past n (to the batch)
 * zero. */
void hsi_model_input(const hsi_model *m, float *dst, const float *x, int n, int64_t per_sample);
/* The input buffer `buf` of domain state s for n samples at x: a full batch (n = the model's
 * batch) at a 64-byte aligned x, into a buffer that shares its memory with no other, is read
 * in place (s->buf[buf] = x: the batch is not copied, and x must stay unchanged until the
 * domain's loss_backward has run); otherwise s->buf[buf] is its arena memory again and
 * hsi_model_input copies x there. HSICC_NO_INPUT_BORROW=1 always copies. */
void hsi_model_input_to(const hsi_model *m, hsi_dstate *s, int buf, const float *x, int n,
                        int64_t per_sample);
/* A dropout layer's mask seed at step rng: depends on (seed, step, layer-name hash) only, so a
 * resumed run draws the same masks. */
uint64_t hsi_model_dropout_seed(const hsi_model *m, uint64_t rng, uint64_t layer);

#ifdef __cplusplus
}
#endif
#endif /* HSI_MODEL_H */
