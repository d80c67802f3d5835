/* hsi_kernels.h — the layer kernels that emitted networks call, on two backends.
 *
 * HSI_BACKEND_DNNL runs oneDNN 2.6 primitives (C API) with memory formats chosen by oneDNN
 * (format `any`): activations may live in blocked layouts between ops, reorders are inserted
 * only where a kernel's preferred layout differs from its producer's. HSI_BACKEND_REF is the
 * oracle: plain row-major layouts, naive loops, double accumulation, no oneDNN.
 *
 * Life cycle (all decided once, nothing allocated per step):
 *   rt  = hsi_rt_create(backend)                 engine, stream
 *   op  = hsi_conv_create(rt, src_layout, ...)   primitive descriptors, primitives, the op's
 *                                                private buffers (reordered weights, scratchpad)
 *   hsi_op_dst(op), hsi_op_ws_bytes(op)          sizes the caller places in its arena
 *   hsi_conv_forward(op, ...) / _backward(...)   execute on caller-owned pointers
 *   hsi_rt_destroy(rt)                           frees every op and layout it created
 *
 * Shapes are logical PyTorch shapes including the batch: [N, C, (D,) (H,) W]. Tensor pointers
 * (activations, gradients, workspaces) point into the caller's arena and are in the layout the
 * op reports; parameter pointers (w, b, gamma, ...) are always plain PyTorch layout.
 * Parameter gradients (dw, db, dgamma, dbeta) are ACCUMULATED (+=); activation gradients (dsrc)
 * are OVERWRITTEN. Any gradient pointer may be NULL: that gradient is not computed.
 * On an unsupported configuration a create function returns NULL and hsi_rt_error(rt) says why.
 */
#ifndef HSI_KERNELS_H
#define HSI_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "hsi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_rt hsi_rt;         /* execution context: backend, engine, stream, owned ops */
typedef struct hsi_layout hsi_layout; /* how one tensor lies in memory (owned by the rt) */
typedef struct hsi_op hsi_op;         /* one created kernel (owned by the rt) */

/* NULL if the backend is not built in (e.g. DNNL in a reference-only build). */
hsi_rt *hsi_rt_create(hsi_backend backend);
/* Why hsi_rt_create(backend) gives NULL, for a message: "oneDNN is not built in (...)", an
 * unknown backend, or oneDNN's engine failing / out of memory. */
const char *hsi_rt_create_failure(hsi_backend backend);
void hsi_rt_destroy(hsi_rt *rt);
hsi_backend hsi_rt_backend(const hsi_rt *rt);
/* The switches read from the environment (HSI_PROFILE, HSICC_NO_*_FOLD, HSICC_NO_PREFETCH, ...):
 * 1 when the variable is set, not empty and not "0". */
int hsi_env_flag(const char *name);
const char *hsi_rt_error(const hsi_rt *rt);   /* last create failure, "" if none */
/* Bytes of the buffers the rt's ops share (oneDNN: the staging for reorders and the
 * scratchpad, each sized by its largest user at create); 0 for the reference backend. */
size_t hsi_rt_buffer_bytes(const hsi_rt *rt);

/* ---- layouts ------------------------------------------------------------------------------ */
/* Plain row-major layout of logical shape dims[0..ndim-1] (ndim 2..5, dims[0] = batch). */
const hsi_layout *hsi_layout_plain(hsi_rt *rt, int ndim, const int64_t *dims);
size_t hsi_layout_bytes(const hsi_layout *l);  /* bytes incl. blocking padding */
int hsi_layout_ndim(const hsi_layout *l);
const int64_t *hsi_layout_dims(const hsi_layout *l);
int hsi_layout_is_plain(const hsi_layout *l);

/* ---- every op ----------------------------------------------------------------------------- */
const hsi_layout *hsi_op_dst(const hsi_op *op);  /* layout of the op's output */
/* Bytes of the forward->backward workspace the caller keeps in its arena for this op
 * (BN batch mean/var, max-pool indices, dropout mask, a ReLU mask); 0 if none. */
size_t hsi_op_ws_bytes(const hsi_op *op);
/* 1 if the op's output is its input reinterpreted (reshape of a compatible layout): forward
 * and backward are then no-ops and the caller must alias dst to src, dsrc to ddst. */
int hsi_op_is_view(const hsi_op *op);

/* ---- convolution (2-D and 3-D) ------------------------------------------------------------ */
typedef struct hsi_conv_desc {
    int nsp;                       /* spatial rank: 1, 2 or 3 */
    int64_t out_ch, groups;
    int64_t kernel[3], stride[3];
    int64_t pad_lo[3], pad_hi[3];  /* zero padding before / after, per spatial dim */
    int64_t dilation[3];           /* PyTorch convention: 1 = dense */
    int bias;                      /* 1: b has out_ch floats */
} hsi_conv_desc;
/* w: [out_ch, C/groups, k...] plain. need_dsrc = 0 skips the backward-data primitive. */
hsi_op *hsi_conv_create(hsi_rt *rt, const hsi_layout *src, const hsi_conv_desc *d, int need_dsrc,
                        int need_dw);
void hsi_conv_forward(hsi_op *op, const float *src, const float *w, const float *b, float *dst);
void hsi_conv_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                       float *dsrc, float *dw, float *db);

/* ---- batch normalisation (over N and all spatial dims, per channel) ----------------------- */
/* fuse_relu: dst = max(0, bn(src)); backward then masks ddst itself (the mask is in ws).
 * Running statistics follow PyTorch: r = (1 - momentum) r + momentum * batch, running var
 * uses the unbiased batch variance; normalisation uses the biased one. */
hsi_op *hsi_bn_create(hsi_rt *rt, const hsi_layout *src, float eps, int fuse_relu);
void hsi_bn_forward(hsi_op *op, int train, const float *src, const float *gamma,
                    const float *beta, float *running_mean, float *running_var, float momentum,
                    float *dst, void *ws);
void hsi_bn_backward(hsi_op *op, const float *src, const float *gamma, const float *ddst,
                     const void *ws, float *dsrc, float *dgamma, float *dbeta);
/* hsi_bn_backward adding its dsrc into dsrc (dsrc += the gradient, bit for bit what hsi_accum
 * of hsi_bn_backward's dsrc gives): for a tensor read by the BN and something else, whose
 * gradient already holds the other reader's part. dsrc may be ddst itself. */
void hsi_bn_backward_add(hsi_op *op, const float *src, const float *gamma, const float *ddst,
                         const void *ws, float *dsrc, float *dgamma, float *dbeta);
/* hsi_bn_forward with train = 1 (batch statistics, running ones updated, ws saved for backward)
 * and train = 0 (the running statistics; no workspace). */
void hsi_bn_train(hsi_op *op, const float *src, const float *gamma, const float *beta,
                  float *running_mean, float *running_var, float momentum, float *dst, void *ws);
void hsi_bn_infer(hsi_op *op, const float *src, const float *gamma, const float *beta,
                  const float *running_mean, const float *running_var, float *dst);
/* 1 when the training output dst need not be kept for the backward: hsi_bn_recompute writes it
 * again, bit for bit, from src and ws (the oneDNN backend with bnorm.c's BN, unless
 * HSICC_NO_BN_RECOMPUTE=1 at create); 0: keep dst (the reference backend, oneDNN's own BN).
 * The caller's arena then lets dst die after its last forward reader and places the recompute
 * buffer from its first backward reader to its last. */
int hsi_bn_recomputes(const hsi_op *op);
/* dst = the last hsi_bn_train's output again, from the same src, gamma, beta and the ws it
 * saved; a no-op when hsi_bn_recomputes(op) is 0. */
void hsi_bn_recompute(hsi_op *op, const float *src, const float *gamma, const float *beta,
                      const void *ws, float *dst);

/* ---- a training BN (+ ReLU) applied by the conv that reads its output ---------------------
 * 1 when conv (whose input is bn's output) can read bn's INPUT and apply bn itself, with the
 * statistics and beta the last hsi_bn_train or hsi_bn_train_stats saved in bn's workspace: the
 * same bits as the conv of bn's output, without that output written in the forward or
 * recomputed for the backward (a memory pass each). The oneDNN backend's k x 1 x 1 convs on
 * tapconv.c after a BN on bnorm.c that recomputes its output (hsi_bn_recomputes); 0 elsewhere
 * (the reference backend) and with HSICC_NO_BN_FOLD=1 at create. The caller then uses the
 * calls below (the compiler emits both forms, chosen by this at run time). */
int hsi_conv_takes_bn(const hsi_op *conv, const hsi_op *bn);
/* hsi_bn_train without dst: statistics, running statistics and ws only (bn's only reader is a
 * conv that takes it). Only when hsi_conv_takes_bn(that conv, bn). */
void hsi_bn_train_stats(hsi_op *bn, const float *src, const float *gamma, const float *beta,
                        float *running_mean, float *running_var, float momentum, void *ws);
/* hsi_conv_forward / _backward of bn's output, given bn's input bn_src, gamma, beta and its
 * workspace bn_ws. Only when hsi_conv_takes_bn(conv, bn). */
void hsi_conv_forward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn, const float *gamma,
                         const float *beta, const void *bn_ws, const float *w, const float *b,
                         float *dst);
void hsi_conv_backward_bn(hsi_op *conv, const float *bn_src, hsi_op *bn, const float *gamma,
                          const float *beta, const void *bn_ws, const float *w, const float *ddst,
                          float *dsrc, float *dw, float *db);

/* ---- a training BN (+ ReLU) applied by the global max pool that reads its output ----------
 * 1 when pool (a max pool whose window is its whole unpadded input, bn's output its input and
 * bn's only reader) can read bn's INPUT and apply bn itself, with the statistics and beta the
 * last hsi_bn_train_stats saved in bn's workspace: the same bits as the two ops, without bn's
 * output written in the forward or the pool's input gradient in the backward (the contextual
 * CNN's BN + ReLU + 5x5 and 3x3 max pools). The oneDNN backend's global max pool after a BN
 * on bnorm.c in the same layout (not synchronized over processes); 0 elsewhere and with
 * HSICC_NO_POOL_BN_FOLD=1 at the pool's create. The compiler emits both forms, chosen by this at run time. */
int hsi_pool_takes_bn(const hsi_op *pool, const hsi_op *bn);
/* hsi_pool_train of bn's output, given bn's input bn_src, gamma, beta and its workspace bn_ws
 * (after hsi_bn_train_stats); ws the pool's. Only when hsi_pool_takes_bn(pool, bn). */
void hsi_pool_forward_bn(hsi_op *pool, const float *bn_src, hsi_op *bn, const float *gamma,
                         const float *beta, const void *bn_ws, float *dst, void *ws);
/* hsi_pool_backward into a temporary, then hsi_bn_backward of it into dsrc (bn's input
 * gradient, written: not added), dgamma and dbeta (+=), in one. Only when
 * hsi_pool_takes_bn(pool, bn). */
void hsi_pool_backward_bn(hsi_op *pool, const float *ddst, const void *ws, hsi_op *bn,
                          const float *bn_src, const float *gamma, const float *beta,
                          const void *bn_ws, float *dsrc, float *dgamma, float *dbeta);

/* ---- a residual add done by the conv before it -------------------------------------------
 * 1 when add (dst = skip + conv's output, no ReLU) can be done by conv as it stores its output:
 * hsi_conv_forward_res writes skip + the conv straight into the add's dst (the same bits as the
 * conv and then the add; the conv's own output is not written) and the caller skips
 * hsi_add_forward. The oneDNN backend's tapconv.c channel-pair path (AVX-512, 24-wide output
 * chunks) with the add on dnnl.c's own loop in the conv's layout; 0 elsewhere and with
 * HSICC_NO_ADD_FOLD=1 at the conv's create. */
int hsi_conv_takes_residual(const hsi_op *conv, const hsi_op *add);
/* The conv's forward (of bn's output applied as it reads when bn is not NULL: then as
 * hsi_conv_forward_bn, gamma and bn_ws bn's) plus res, into dst. Only when
 * hsi_conv_takes_residual(conv, that add). */
void hsi_conv_forward_res(hsi_op *conv, const float *src, hsi_op *bn, const float *gamma,
                          const void *bn_ws, const float *w, const float *b, const float *res,
                          float *dst);

/* ---- a conv's input gradient added as it is stored -----------------------------------------
 * 1 when conv's backward data can add the input gradient into dsrc as it stores it
 * (hsi_conv_backward_add: dsrc += the gradient, each element the same float addition as
 * hsi_conv_backward into a temporary followed by hsi_accum), for an input that other readers
 * give gradient too (SSRN's bn1: conv_a of the first spectral block and the residual add): the
 * oneDNN backend's tapconv.c channel-pair kernel with every tap in one block; 0 elsewhere and
 * with HSICC_NO_ACCUM_FOLD=1 at the conv's create. The compiler emits both forms. */
int hsi_conv_adds_dsrc(const hsi_op *conv);
/* hsi_conv_backward (bn NULL: src the conv's input) or hsi_conv_backward_bn (bn not NULL: src
 * bn's input, bn applied as it reads; gamma, beta, bn_ws bn's) with dsrc += the input gradient.
 * Only when hsi_conv_adds_dsrc(conv) (and hsi_conv_takes_bn(conv, bn) with bn). */
void hsi_conv_backward_add(hsi_op *conv, const float *src, hsi_op *bn, const float *gamma,
                           const float *beta, const void *bn_ws, const float *w,
                           const float *ddst, float *dsrc, float *dw, float *db);

/* ---- a training BN's sums taken by the conv before it --------------------------------------
 * BN's statistics (forward) and its backward's two sums need a pass over the whole tensor
 * before anything else. A conv that finishes its output chunk by chunk (the oneDNN backend's
 * tapconv.c row kernels) can sum each chunk for the BN right then, while it is in cache, as
 * the BN's pass would (the same pieces, added in the same order: the same bits), and the BN
 * skips that pass.
 * hsi_bn_sums_from(bn, conv, add): bn's input is conv's output, or with add (not NULL) the
 * output of add done by conv (hsi_conv_takes_residual(conv, add)); conv's forward then sums
 * it for bn's training forward (hsi_bn_train, hsi_bn_train_stats).
 * hsi_bn_grad_sums_from(bn, conv): conv applies bn (hsi_conv_takes_bn) and is the ONLY reader
 * of bn's output, so the dsrc of hsi_conv_backward_bn is the whole gradient of bn's output;
 * conv's backward then gives hsi_bn_backward's sums.
 * Called once, after both ops are created; 1 when linked (bnorm.c's BN in 8-channel blocks
 * over the conv's tensor), else 0 and nothing changes (the reference backend; and with
 * HSICC_NO_SUMS_FOLD=1). The BN uses the sums only when called with the very tensors the conv
 * summed last (else it sums them itself): nothing else to call. */
int hsi_bn_sums_from(hsi_op *bn, hsi_op *conv, const hsi_op *add);
int hsi_bn_grad_sums_from(hsi_op *bn, hsi_op *conv);

/* ---- element-wise activations (in place allowed: dst == src, dsrc == ddst) ---------------- */
typedef enum hsi_act_kind {
    HSI_ACT_RELU, HSI_ACT_LEAKY_RELU /* alpha = negative slope */, HSI_ACT_ELU /* alpha */,
    HSI_ACT_SIGMOID, HSI_ACT_TANH
} hsi_act_kind;
hsi_op *hsi_act_create(hsi_rt *rt, const hsi_layout *src, hsi_act_kind kind, float alpha);
void hsi_act_forward(hsi_op *op, const float *src, float *dst);
/* Derivative taken from the forward OUTPUT dst (valid for every kind above with alpha >= 0). */
void hsi_act_backward(hsi_op *op, const float *dst, const float *ddst, float *dsrc);

/* ---- dropout (inverted: kept values scaled by 1/(1-p)) ------------------------------------ */
/* Element i (row-major logical index over [N, ...]) is kept iff
 * hsi_dropout_uniform(seed, i) >= p, so both backends draw the same mask. dst layout is plain. */
hsi_op *hsi_dropout_create(hsi_rt *rt, const hsi_layout *src, float p);
void hsi_dropout_forward(hsi_op *op, int train, uint64_t seed, const float *src, float *dst,
                         void *ws);
void hsi_dropout_backward(hsi_op *op, const float *ddst, const void *ws, float *dsrc);
/* hsi_dropout_forward with train = 1 (the mask in ws), and train = 0: the identity (into dst's
 * plain layout), no seed, no workspace. */
void hsi_dropout_train(hsi_op *op, uint64_t seed, const float *src, float *dst, void *ws);
void hsi_dropout_infer(hsi_op *op, const float *src, float *dst);
float hsi_dropout_uniform(uint64_t seed, uint64_t i);  /* in [0, 1), counter-based hash */

/* ---- pooling ------------------------------------------------------------------------------ */
typedef struct hsi_pool_desc {
    int nsp;
    int max;                       /* 1 max, 0 average */
    int64_t kernel[3], stride[3], pad_lo[3], pad_hi[3];
    int count_include_pad;         /* average only; PyTorch default 1 */
} hsi_pool_desc;
hsi_op *hsi_pool_create(hsi_rt *rt, const hsi_layout *src, const hsi_pool_desc *d);
/* PyTorch's ceil_mode: the window also runs ceil_extra[i] (< stride) cells past pad_hi[i] so the
 * last output is the last window that starts in the input or its left padding; those cells are
 * padding for max and are not counted by count_include_pad (the divisor of a window is its
 * part inside [-pad_lo, in + pad_hi)). ceil_extra NULL: hsi_pool_create. */
hsi_op *hsi_pool_create_ceil(hsi_rt *rt, const hsi_layout *src, const hsi_pool_desc *d,
                             const int64_t *ceil_extra);
void hsi_pool_forward(hsi_op *op, int train, const float *src, float *dst, void *ws);
void hsi_pool_backward(hsi_op *op, const float *ddst, const void *ws, float *dsrc);
/* hsi_pool_forward with train = 1 (max pooling keeps its indices in ws) and train = 0 (none). */
void hsi_pool_train(hsi_op *op, const float *src, float *dst, void *ws);
void hsi_pool_infer(hsi_op *op, const float *src, float *dst);

/* ---- dense (inner product over everything but the batch; dst plain [N, out]) -------------- */
/* w: [out, prod(src dims[1..])] plain, i.e. PyTorch's Linear after flatten(1). */
hsi_op *hsi_dense_create(hsi_rt *rt, const hsi_layout *src, int64_t out, int bias, int need_dsrc,
                         int need_dw);
void hsi_dense_forward(hsi_op *op, const float *src, const float *w, const float *b, float *dst);
void hsi_dense_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                        float *dsrc, float *dw, float *db);

/* ---- residual add: dst = a + b, then optional ReLU (dst may alias a) ---------------------- */
hsi_op *hsi_add_create(hsi_rt *rt, const hsi_layout *a, const hsi_layout *b, int relu);
void hsi_add_forward(hsi_op *op, const float *a, const float *b, float *dst);
/* d(a+b): ddst masked by dst > 0 when relu; written to da in a's layout and db in b's
 * layout (either may be NULL; da may alias ddst). */
void hsi_add_backward(hsi_op *op, const float *dst, const float *ddst, float *da, float *db);
/* 1 when input slot's gradient (0: a, 1: b) may be ddst itself (same memory, da == ddst or
 * db == ddst: the backward then copies nothing): its layout is ddst's. The caller decides
 * whether the two may share (hsicc does when b's gradient is read before a's changes). */
int hsi_add_grad_shares(const hsi_op *op, int slot);
/* 1 when a BN's input gradient may be its output gradient's memory (dsrc == ddst: the
 * backward writes each element over the one it read; both in the BN's layout). hsicc lets it
 * when the BN writes that gradient first (nothing accumulates into it before). HSICC_NO_BN_INPLACE=1
 * (read at create) keeps them apart, for A/B runs and the tests. */
int hsi_bn_grad_shares(const hsi_op *op);

/* ---- accumulate a gradient: acc += g (g in layout gl, acc in layout accl) ------------------ */
hsi_op *hsi_accum_create(hsi_rt *rt, const hsi_layout *accl, const hsi_layout *gl);
void hsi_accum(hsi_op *op, float *acc, const float *g);

/* ---- concat along channels (axis 1) ------------------------------------------------------- */
#define HSI_CONCAT_MAX_IN 16   /* inputs of one concat, both backends (hsicc: IR_MAX_IN) */
hsi_op *hsi_concat_create(hsi_rt *rt, int n, const hsi_layout *const *srcs);
void hsi_concat_forward(hsi_op *op, const float *const *srcs, float *dst);
void hsi_concat_backward(hsi_op *op, const float *ddst, float *const *dsrcs);

/* ---- reshape (PyTorch .reshape on the logical row-major order; numel unchanged) ----------- */
hsi_op *hsi_reshape_create(hsi_rt *rt, const hsi_layout *src, int ndim, const int64_t *dims);
void hsi_reshape_forward(hsi_op *op, const float *src, float *dst);     /* no-op if a view */
void hsi_reshape_backward(hsi_op *op, const float *ddst, float *dsrc);  /* no-op if a view */

/* ---- to plain: dst = src in plain row-major layout (whole-scene inference reads crops) ---- */
/* A view (hsi_op_is_view: read src directly) when src is already plain, else a reorder. */
hsi_op *hsi_plain_create(hsi_rt *rt, const hsi_layout *src);
void hsi_plain_forward(hsi_op *op, const float *src, float *dst);

/* ---- softmax cross-entropy on logits [N, K] (or [N, K, 1, ...]) ----------------------------- */
hsi_op *hsi_xent_create(hsi_rt *rt, const hsi_layout *logits);
/* Reads the logits of the first n samples. Writes dlogits = weight * (softmax - onehot) / m
 * in the logits' layout (0 for samples >= n and for ignored samples), where m is the number of
 * samples with a label in [0, K); a label outside [0, K) is ignored. Returns the mean loss over
 * those m samples (0 if m == 0). dlogits may be NULL: the loss only. */
float hsi_xent_forward_backward(hsi_op *op, const float *logits, const int32_t *labels, int n,
                                float weight, float *dlogits);
/* Copies logits into a plain [N, K] buffer (a reorder if the layout is blocked). */
void hsi_xent_plain_logits(hsi_op *op, const float *logits, float *plain);

/* ---- every other loss on a head [N, ...] in any layout: hsi_loss_* ---------------------------
 * kind HSI_LOSS_XENT: logits [N, K] (or [N, K, 1, ...]) against labels [N]; PIXEL_XENT: a logit
 * map [N, K, H, W] against labels [N, H, W]. Both are PyTorch's CrossEntropyLoss(ignore_index,
 * label_smoothing): a label outside [0, K) is ignored, the mean is over the labelled samples
 * (pixels), and with smoothing e the target is (1 - e) onehot + e / K. MSE / L1: the mean over
 * every element of the first n samples of (head - target)^2 / |head - target| (PyTorch MSELoss,
 * L1Loss; the L1 gradient at 0 is 0); the target is read from the net's input [N, in_numel]
 * (plain, as hsi_model_input writes it): the input itself, or its centre pixel's spectrum
 * (element (b, in_h / 2, in_w / 2) of the input seen as [in_bands, in_h, in_w]). */
typedef enum hsi_loss_kind { HSI_LOSS_XENT, HSI_LOSS_PIXEL_XENT, HSI_LOSS_MSE, HSI_LOSS_L1 } hsi_loss_kind;
typedef enum hsi_loss_target { HSI_TARGET_LABELS, HSI_TARGET_INPUT, HSI_TARGET_CENTRE } hsi_loss_target;
typedef struct hsi_loss_desc {
    hsi_loss_kind kind;
    hsi_loss_target target;
    float label_smoothing;             /* cross-entropy only, in [0, 1] */
    int64_t in_numel;                  /* input floats per sample */
    int64_t in_bands, in_h, in_w;      /* the input as [bands, h, w] (a 3-D input [1, B, H, W]
                                          is [B, H, W]; an [F] input is [F, 1, 1]) */
} hsi_loss_desc;
hsi_op *hsi_loss_create(hsi_rt *rt, const hsi_layout *head, const hsi_loss_desc *d);
/* The first n samples: returns the mean loss (not scaled by weight); writes dhead = weight *
 * d loss / d head in the head's layout (0 for samples >= n), unless dhead is NULL. input: the
 * net's input batch (MSE/L1), labels: [N] or [N, H, W] (cross-entropy); either may be NULL when
 * the kind does not read it. */
float hsi_loss_forward_backward(hsi_op *op, const float *head, const float *input,
                                const int32_t *labels, int n, float weight, float *dhead);
/* Cross-entropy kinds: the logits as plain [N, K] (a logit map: its centre pixel's). */
void hsi_loss_plain_logits(hsi_op *op, const float *head, float *plain);

/* ---- layers of the DeepHyperX zoo: lrn, crop, prelu, softmax -------------------------------- */
/* Both backends run them on plain layouts with the reference math (ref.h, double accumulation):
 * the oneDNN backend reorders a blocked input to plain first and the input gradient back; their
 * outputs are plain. Except LRN of an odd size on oneDNN: its lrn_across_channels primitive, in
 * the input's layout (the same window and alpha / size; for an even size oneDNN's window holds
 * size - 1 channels). dsrc / dw may be NULL (not computed); dw is accumulated (+=). */

/* Local response normalisation across channels, PyTorch's nn.LocalResponseNorm exactly:
 * dst[c] = src[c] / (k + alpha / size * sum of src[j]^2, j in [c - size/2, c + (size-1)/2])^beta
 * (channels outside [0, C) count as 0; the divisor is size everywhere). Any rank >= 3. */
hsi_op *hsi_lrn_create(hsi_rt *rt, const hsi_layout *src, int64_t size, float alpha, float beta,
                       float k);
void hsi_lrn_forward(hsi_op *op, const float *src, float *dst);
void hsi_lrn_backward(hsi_op *op, const float *src, const float *ddst, float *dsrc);

/* dst = src[:, :, offset[0] : offset[0] + size[0], ...] over the nsp = ndim - 2 spatial dims;
 * backward writes ddst into the window of dsrc and zeros elsewhere. */
typedef struct hsi_crop_desc { int nsp; int64_t offset[3], size[3]; } hsi_crop_desc;
hsi_op *hsi_crop_create(hsi_rt *rt, const hsi_layout *src, const hsi_crop_desc *d);
void hsi_crop_forward(hsi_op *op, const float *src, float *dst);
void hsi_crop_backward(hsi_op *op, const float *ddst, float *dsrc);

/* PReLU: dst = src > 0 ? src : w[c] src, w has `slopes` values: 1 (shared) or the channels.
 * Backward: dsrc = ddst (src > 0) or w[c] ddst; dw[c] += sum of ddst src where src <= 0. */
hsi_op *hsi_prelu_create(hsi_rt *rt, const hsi_layout *src, int64_t slopes);
void hsi_prelu_forward(hsi_op *op, const float *src, const float *w, float *dst);
void hsi_prelu_backward(hsi_op *op, const float *src, const float *w, const float *ddst,
                        float *dsrc, float *dw);

/* Softmax over the channels (axis 1) at every other index; backward from the OUTPUT:
 * dsrc = dst (ddst - sum over channels of ddst dst). */
hsi_op *hsi_softmax_create(hsi_rt *rt, const hsi_layout *src);
void hsi_softmax_forward(hsi_op *op, const float *src, float *dst);
void hsi_softmax_backward(hsi_op *op, const float *dst, const float *ddst, float *dsrc);

/* ---- sequence ops: permute of the per-sample axes, one recurrent layer ---------------------- */
/* dst = src with its per-sample axes permuted: dst axis 1 + i is src axis 1 + perm[i]
 * (n = ndim - 1 axes; the batch stays first). dst is plain. Backward: the inverse movement. */
hsi_op *hsi_permute_create(hsi_rt *rt, const hsi_layout *src, int n, const int *perm);
void hsi_permute_forward(hsi_op *op, const float *src, float *dst);
void hsi_permute_backward(hsi_op *op, const float *ddst, float *dsrc);

/* One layer of PyTorch's nn.GRU (gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)))
 * or nn.LSTM (gates i, f, g, o) in one direction, over src [N, F, L] (channels-first: F
 * features per step, L steps), from a zero state. dst: every hidden state [N, H, L]
 * (sequence = 1; PyTorch's output permuted to channels-first) or the last one [N, H]; with
 * reverse the steps run from L - 1 to 0 (the last state is then the one at step 0).
 * Parameters as PyTorch's: w_ih [G*H, F], w_hh [G*H, H], b_ih, b_hh [G*H] (G = 3 GRU, 4 LSTM;
 * NULL without bias). dst is plain. The backward recomputes the forward (no workspace).
 * oneDNN backend: the reference math on plain copies (no oneDNN RNN primitive). */
typedef struct hsi_rnn_desc {
    int lstm;                      /* 0 GRU, 1 LSTM */
    int64_t hidden;
    int reverse, sequence, bias;
} hsi_rnn_desc;
hsi_op *hsi_rnn_create(hsi_rt *rt, const hsi_layout *src, const hsi_rnn_desc *d, int need_dsrc,
                       int need_dw);
void hsi_rnn_forward(hsi_op *op, const float *src, const float *w_ih, const float *w_hh,
                     const float *b_ih, const float *b_hh, float *dst);
void hsi_rnn_backward(hsi_op *op, const float *src, const float *w_ih, const float *w_hh,
                      const float *b_ih, const float *b_hh, const float *ddst, float *dsrc,
                      float *dw_ih, float *dw_hh, float *db_ih, float *db_hh);

/* ---- BN folded into the conv before it, for inference -------------------------------------- */
/* w: [out, per_out] plain, b: [out] or NULL; writes wf = w * s, bf = (b - mean) * s + beta with
 * s = gamma / sqrt(var + eps), per output channel. */
void hsi_fold_bn(int64_t out, int64_t per_out, const float *w, const float *b, const float *gamma,
                 const float *beta, const float *mean, const float *var, float eps, float *wf,
                 float *bf);

/* ---- data-parallel training: several processes, one shard of each batch each ----------------- */
/* Set by a trainer run under MPI (runtime/train/dp.c); NULL, the default, is one process.
 * Process-wide: set it before creating models (oneDNN's synchronized BN builds one more
 * primitive at create) and keep it alive while they train. */
typedef struct hsi_dp {
    /* v[0..n) summed in place over every process; every process gets the same result */
    void (*sum)(double *v, int n, void *ctx);
    void *ctx;
    int64_t first_sample;  /* this process's first sample in the global batch: dropout draws
                              element i of sample s as sample first_sample + s of one process */
    int sync_bn;           /* 1: training BN normalises with the mean and variance of the global
                              batch, and its backward reduces over the global batch too */
} hsi_dp;
void hsi_kernels_set_dp(const hsi_dp *dp);

/* ---- per-op profile (HSI_PROFILE=1 in the environment when the rt is created) ---------------
 * Every kernel call of a profiling rt is timed (wall clock around the call; calls are
 * synchronous) and summed per op, forward and backward apart. Without HSI_PROFILE nothing is
 * timed: one predictable branch per call. FLOPs are 2 x the multiply-adds of conv and dense ops
 * (0 for the others), per call at the op's batch: flops[1] counts the backward-data and
 * backward-weights passes the op was created with. bench/BENCH.md, "Roofline". */
typedef struct hsi_op_profile {
    const char *kind;        /* "conv", "bn", "act", "dropout", "pool", "dense", "add", "accum",
                                "concat", "reshape", "xent", "loss", "xop" (lrn, crop, prelu, softmax),
                                "permute", "rnn" */
    const void *key;         /* the first parameter passed to it (conv/dense weights, BN gamma):
                                match it against the model's hsi_param values for a name; NULL */
    int ndim;
    const int64_t *dims;     /* its output's dims (batch first) */
    double flops[2];         /* per forward call, per backward call */
    double seconds[2];       /* summed since create or hsi_rt_profile_reset: forward, backward */
    int64_t calls[2];
    const char *impl;        /* the path it runs on where a backend has several ("tapconv:avx512",
                                "onednn", "bnorm:avx2", ...); NULL */
} hsi_op_profile;
int hsi_rt_profiling(const hsi_rt *rt);
/* The rt's ops in creation order into out[0..max-1]; returns how many ops there are. */
int hsi_rt_profile(const hsi_rt *rt, hsi_op_profile *out, int max);
void hsi_rt_profile_reset(hsi_rt *rt);

/* ---- arena planning (shared by the compiler's memory report and create()) ----------------- */
typedef struct hsi_buf {
    size_t bytes;
    int first, last;   /* live over steps first..last inclusive */
} hsi_buf;
/* Deterministic first-fit by decreasing size; offsets aligned to align bytes. Returns the
 * arena size. Two buffers whose intervals overlap never overlap in memory. An arena that does
 * not fit in size_t is HSI_ARENA_TOO_LARGE: no allocation of it can succeed, and adding an
 * alignment to it cannot wrap (the offsets are then meaningless). */
#define HSI_ARENA_TOO_LARGE (SIZE_MAX / 2)
size_t hsi_arena_plan(int n, const hsi_buf *bufs, size_t align, size_t *offsets);
/* The same, where alias[i] >= 0 makes buffer i share the memory of buffer alias[i] (chains
 * allowed): each group is placed once, with the union of its live ranges and its largest size. */
size_t hsi_arena_plan_aliased(int n, const hsi_buf *bufs, const int *alias, size_t align,
                              size_t *offsets);

#ifdef __cplusplus
}
#endif
#endif /* HSI_KERNELS_H */
