/* backend.h — from the checked IR to a schedule the emitter writes out.
 *
 * be_lower copies each ir_graph into a list of kernel calls (be_op) that map one-to-one onto
 * hsi_kernels.h, applies the rewrites and fusions a static graph allows, decides which
 * gradients are needed (autodiff), and computes the live range of every buffer (plan).
 * Buffers are numbered per graph: activations, gradients, workspaces and temporaries. Which
 * reshapes are views is only known in create() (oneDNN picks layouts), so aliases that depend
 * on it are described here and resolved there.
 */
#ifndef HSICC_BACKEND_H
#define HSICC_BACKEND_H

#include <stdio.h>

#include "ir.h"

typedef struct be_options {
    int fuse;          /* 1: BN+ReLU, add+ReLU fusions and in-place activations */
    int rewrite;       /* 1: conv3d spanning the depth -> conv2d; conv covering the input -> dense */
    int batch;         /* for the memory report */
} be_options;

typedef enum be_kind {
    BE_INPUT, BE_CONV, BE_BN, BE_ACT, BE_DROPOUT, BE_POOL, BE_DENSE, BE_RESHAPE, BE_CONCAT,
    BE_ADD, BE_XENT,
    BE_PERMUTE, BE_RNN,  /* sequence ops: permute of the per-sample axes, one gru/lstm layer */
    BE_LRN, BE_CROP, BE_PRELU, BE_SOFTMAX   /* issue 12: ir.h's IR_LRN ... IR_SOFTMAX */
} be_kind;

#define BE_MAX_IN IR_MAX_IN   /* the front end guarantees ir_node.n_in <= IR_MAX_IN */

typedef struct be_op {
    be_kind kind;
    const ir_node *ir;        /* the node it came from (name, span, attributes) */
    char cname[96];           /* C identifier of its output tensor, unique in the graph */
    const char *note;         /* why it exists if synthesized ("conv3d over the whole depth -> conv2d") */
    int n_in;
    int in[BE_MAX_IN];        /* producer ops (indices into be_graph.ops) */
    ir_shape shape;           /* output shape per sample */
    int relu;                 /* BN / add: ReLU fused into the op */
    int fold;                 /* BN: the conv/dense op whose weights absorb it for inference
                                 (train = 0), or -1 */
    ir_conv conv;             /* BE_CONV (possibly rewritten), geometry as called */
    int64_t dense_out;        /* BE_DENSE */
    int bias;                 /* BE_CONV / BE_DENSE */
    int param[IR_MAX_PARAMS]; /* as in ir_node (program parameter indices), n_param of them */
    int n_param;
    /* autodiff */
    int need_grad;            /* the gradient of this op's output is needed */
    int need_dsrc[BE_MAX_IN]; /* the gradient wrt input slot i is needed */
    int need_dw;              /* parameter gradients are computed (trainable and not frozen) */
    int first_writer[BE_MAX_IN]; /* slot i's backward writes the input's gradient first (else it
                                    goes to a temporary and is accumulated, or adds itself) */
    int adds[BE_MAX_IN];      /* slot i's backward adds into the input's gradient itself (not
                                 first writer; BN: hsi_bn_backward_add): no temporary */
    /* plan: buffer ids (-1 none) */
    int act, grad, ws;
    int recomp;               /* BN: the buffer its output is recomputed into for the backward
                                 readers (hsi_bn_recompute), or -1 (the output is kept) */
    int tmp[BE_MAX_IN];       /* temporaries for accumulated input gradients */
    int inplace;              /* activation computed in place over its input */
    int bn_in;                /* BE_CONV (fuse): the trained BN its input is the output of, when
                                 that output is recomputed for this conv's backward alone; or -1.
                                 The runtime may let the conv read the BN's input and apply the BN
                                 (with its ReLU) itself (hsi_conv_takes_bn): no recompute */
    int bn_fwd;               /* bn_in >= 0 and the conv is the BN's only reader: in the forward
                                 too, the BN then only computes its statistics */
    int pool_bn;              /* BE_POOL (fuse): a max pool over its whole unpadded input whose
                                 input is a trained BN's output, which it alone reads: the BN,
                                 which the runtime may let the pool apply itself
                                 (hsi_pool_takes_bn); the pool's output gradient and workspace
                                 then live until the BN's backward, where both run as one; or -1 */
    int res_add;              /* BE_CONV (fuse): the add (no ReLU) right after it, its only
                                 reader, which the runtime may let the conv do as it stores its
                                 output (hsi_conv_takes_residual), or -1; res_slot: the add's
                                 other input (the skip) */
    int res_slot;
    int sums_conv, sums_add;  /* BE_BN (fuse): the conv whose output is its input, or that does
                                 the add sums_add whose output is (res_add), or -1: the runtime
                                 may let the conv sum its output for the BN (hsi_bn_sums_from) */
    int grad_share[BE_MAX_IN];/* BE_ADD: slot i's input gradient may live in this op's output
                                 gradient's memory (d(a+b) is the output gradient itself: no
                                 copy), when the runtime's layouts allow (hsi_add_grad_shares) */
    int grad_inplace;         /* BE_BN: its input gradient may live in its output gradient's
                                 memory (the backward writes each element over the one it
                                 read), when the runtime allows (hsi_bn_grad_shares): it is
                                 that gradient's first writer */
    int fwd_step, bwd_step;
    /* scene inference (passes/scene.c): where the op runs when a whole scene is classified
     * (hsi_region: 0 pixel, 1 window, 2 patch), its output's spatial size in the patch net,
     * and its FLOPs per output position (scene regions) or per patch */
    int region, sh, sw;
    double flops;
} be_op;

/* BE_BUF_RECOMP: a BN's output recomputed from its input for the backward (the forward's copy
 * is dead after its last forward reader); on a backend that keeps the output instead
 * (hsi_bn_recomputes 0) create() aliases it to the activation. */
typedef enum be_buf_kind { BE_BUF_ACT, BE_BUF_GRAD, BE_BUF_WS, BE_BUF_TMP, BE_BUF_RECOMP } be_buf_kind;

typedef struct be_buf {
    be_buf_kind kind;
    int op;                   /* the op whose output / workspace / slot it holds */
    int slot;                 /* BE_BUF_TMP: input slot */
    int first, last;          /* live steps (inclusive) */
    int alias;                /* static alias (in-place): another buffer id, or -1 */
    int64_t plain_bytes;      /* bytes per batch in plain layout, for the compile-time report */
} be_buf;

typedef struct be_graph {
    const ir_graph *ir;
    int n_ops, cap_ops;
    be_op *ops;
    int n_bufs, cap_bufs;
    be_buf *bufs;
    int input, logits, loss;  /* op indices */
    int n_steps;              /* forward steps then backward steps */
    /* scene inference: hsi_scene_kind (0 fcn, 1 hoisted, 2 patch), the patch size and the
     * FLOPs per scene pixel of the patch net and of the scene program */
    int scene_kind, patch;
    double flops_patch, flops_scene;
} be_graph;

typedef struct be_program {
    const ir_program *ir;
    be_options opt;
    int n_graphs;
    be_graph *graphs;
} be_program;

be_program *be_lower(const ir_program *p, const be_options *opt);
void be_free(be_program *bp);

/* Bytes of parameters, gradients, optimizer state and activations at opt.batch. */
typedef struct be_memory {
    int64_t params, grads, opt_state_sgd, opt_state_adam;
    int64_t act_sum, arena;   /* all activation/gradient/workspace buffers vs the planned arena */
} be_memory;
void be_memory_report(const be_program *bp, be_memory *out);
void be_print_memory(FILE *f, const be_program *bp);
/* The whole-scene inference program of every domain: which ops are hoisted, FLOPs per pixel. */
void be_print_scene(FILE *f, const be_program *bp);

/* Writes DIR/<stem>.c and DIR/<stem>.h. backend: "dnnl" or "ref" (the default of create()).
 * Returns 0, or 1 after printing an error. */
int emit_program(const be_program *bp, const char *dir, const char *stem, const char *backend,
                 const char *command_line);

/* Reads the parameters p->params[i] with want[i] (every one when want is NULL) by name from
 * the safetensors file at path into w[i] (malloc'ed, numel floats; the caller frees them, also
 * after an error), checking shape, dtype and that every value is finite; warns when the file
 * names another net. Returns 0, or 1 after printing the one error. */
int emit_read_weights(const ir_program *p, const char *path, const unsigned char *want, float **w);

/* hsicc emit --infer: DIR/<stem>_infer.c and .h (inference-only: parameter table, scene
 * programs, the weights of `weights` embedded when given) and DIR/hsirt/ (the runtime subset it
 * builds with: the headers from runtime_include, the sources from runtime_src). Returns 0, or 1
 * after printing an error. */
int emit_infer_module(const be_program *bp, const char *dir, const char *stem, const char *weights,
                      const char *runtime_include, const char *runtime_src, const char *command_line);

#endif
