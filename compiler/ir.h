/* ir.h — the graph IR: what elaboration produces and every later phase reads.
 *
 * A program is one or more graphs (one per domain: the same net instantiated with that
 * domain's parameters) over ONE parameter table: a `shared block` contributes the same
 * parameters (same names, same ir_param) to every graph and to every place it is used.
 * Nodes of a graph are in topological order: every input index is smaller than the node's.
 * Shapes are per sample (no batch dimension): [F], [C, H, W] or [C, D, H, W].
 * Memory policy: everything hangs off the program's arena (ir_arena), freed at once.
 */
#ifndef HSICC_IR_H
#define HSICC_IR_H

#include <stddef.h>
#include <stdint.h>

#include "span.h"

/* Limits of the seam between the front end and the back end: the front end refuses (with a
 * located error) any netdef that exceeds them, so the back end's fixed arrays never overflow. */
#define IR_MAX_DIMS 4   /* per-sample rank: C + up to 3 spatial */
#define IR_MAX_PARAMS 4 /* parameters of one node (BN: gamma, beta, running mean and variance) */
#define IR_MAX_IN 16    /* inputs of one node (concat values, branch arms) */
#define IR_MAX_NAME 200 /* characters of a parameter name ("trunk.0.conv1.weight", domain prefix
                           included): emitted C spells it in fixed buffers */

typedef struct ir_shape {
    int ndim;                  /* 1..4 */
    int64_t d[IR_MAX_DIMS];    /* d[0] = channels (or features when ndim == 1) */
} ir_shape;

typedef enum ir_op {
    IR_INPUT,    /* no inputs; shape = the declared input */
    IR_CONV,     /* in[0]; a.conv; params: weight [O, C/groups, k...], then bias [O] if a.conv.bias */
    IR_BN,       /* in[0]; a.bn; params: gamma [C], beta [C], running_mean [C], running_var [C] */
    IR_ACT,      /* in[0]; a.act */
    IR_DROPOUT,  /* in[0]; a.dropout */
    IR_POOL,     /* in[0]; a.pool (global pooling is lowered to kernel = the spatial dims) */
    IR_DENSE,    /* in[0] of any rank, flattened (PyTorch flatten(1) order); a.dense;
                    params: weight [out, numel(in)], then bias [out] if a.dense.bias */
    IR_RESHAPE,  /* in[0]; shape = target; numel unchanged (fold, flatten, reshape) */
    IR_CONCAT,   /* in[0..n_in-1] (n_in <= IR_MAX_IN) concatenated along channels; other dims equal */
    IR_ADD,      /* in[0] + in[1] + ... (n_in >= 2), equal shapes; lowered to binary adds */
    IR_LOSS,     /* in[0] = its head (the logits [K] or [K,1,...], a logit map [K,H,W], or a
                    value the shape of the target); in[1] = the input when the target is read
                    from it (mse/l1); a.loss; shape = [1]. Every loss is a node at the end of
                    the graph, after every layer */
    IR_PERMUTE,  /* in[0]; a.permute: output dim i is input dim perm[i] (per-sample dims) */
    IR_RNN,      /* in[0] = a sequence [F, L] (F features per step); a.rnn: ONE layer in ONE
                    direction (gru/lstm with num_layers, bidirectional are several nodes and
                    concats); params: weight_ih [G*H, F], weight_hh [G*H, H], then bias_ih,
                    bias_hh [G*H] if a.rnn.bias (G = 3 GRU, 4 LSTM; PyTorch's gate order);
                    shape [H, L] (every hidden state) or [H] (the last one) */
    /* layers added for the DeepHyperX zoo (issue 12) */
    IR_LRN,      /* in[0] [C, ...]; a.lrn: PyTorch LocalResponseNorm across channels */
    IR_CROP,     /* in[0] [C, sp...]; a.crop: the window offset..offset+size of the spatial dims */
    IR_PRELU,    /* in[0] [C, ...]; a.prelu; params: weight [slopes] (slopes = 1 or C) */
    IR_SOFTMAX   /* in[0] [C, ...]; softmax over the channels (axis 0 of the sample). Right before
                    the loss it is the net's inference output only: lowering drops it (the loss
                    applies softmax itself), ONNX export keeps it */
} ir_op;

typedef enum ir_act_kind { IR_RELU, IR_LEAKY_RELU, IR_ELU, IR_SIGMOID, IR_TANH } ir_act_kind;

typedef struct ir_conv {
    int nsp;                       /* 2 (conv2d) or 3 (conv3d) */
    int64_t out_ch, groups;
    int64_t kernel[3], stride[3], pad_lo[3], pad_hi[3], dilation[3];  /* dilation 1 = dense */
    int bias;
} ir_conv;

typedef struct ir_bn { float eps, momentum; /* PyTorch convention: new = (1-m) old + m batch */ } ir_bn;
typedef struct ir_act { ir_act_kind kind; float alpha; } ir_act;
typedef struct ir_dropout { float p; } ir_dropout;
typedef struct ir_pool {
    int nsp, max;                  /* max = 1: max pooling, 0: average */
    int global;                    /* came from `global`: kernel = the input's spatial dims */
    int64_t kernel[3], stride[3], pad_lo[3], pad_hi[3];
    int count_include_pad;
    int ceil_mode;                 /* output size rounded up (PyTorch ceil_mode) */
    int64_t ceil_extra[3];         /* ceil_mode: how far the last window runs past pad_hi (its
                                      cells count as padding for max, not for the average) */
} ir_pool;
typedef struct ir_dense { int64_t out; int bias; } ir_dense;
typedef enum ir_loss_kind {
    IR_LOSS_XENT,        /* softmax cross-entropy, one label per sample (the classification head) */
    IR_LOSS_PIXEL_XENT,  /* softmax cross-entropy per pixel of a [K, H, W] logit map against the
                            label window (the classification head: metrics use its centre pixel) */
    IR_LOSS_MSE,         /* mean squared error, mean over every element (PyTorch MSELoss) */
    IR_LOSS_L1           /* mean absolute error (PyTorch L1Loss) */
} ir_loss_kind;
typedef enum ir_loss_target {
    IR_TARGET_LABELS,    /* the sample's label, or its label window (pixel cross-entropy) */
    IR_TARGET_INPUT,     /* the input patch itself */
    IR_TARGET_CENTRE     /* the input's centre pixel spectrum [bands] */
} ir_loss_target;
typedef struct ir_loss {
    ir_loss_kind kind;
    ir_loss_target target;
    float weight;                  /* the total loss is the sum of weight * loss */
    float label_smoothing;         /* cross-entropy: PyTorch's label_smoothing (0: none) */
} ir_loss;
typedef struct ir_permute { int perm[IR_MAX_DIMS]; } ir_permute;
typedef struct ir_rnn {
    int lstm;                      /* 0: GRU (gates r, z, n), 1: LSTM (gates i, f, g, o) */
    int64_t hidden;
    int reverse;                   /* runs from the last step to the first (bidirectional) */
    int sequence;                  /* 1: every hidden state [H, L]; 0: the last one [H] */
    int bias;
    int layer;                     /* 0-based layer of a stacked gru/lstm (for names) */
} ir_rnn;
/* b_c = a_c / (k + alpha / size * sum of a_j^2 over j in [c - size/2, c + (size-1)/2])^beta */
typedef struct ir_lrn { int64_t size; float alpha, beta, k; } ir_lrn;
typedef struct ir_crop { int nsp; int64_t offset[3], size[3]; /* per spatial dim */ } ir_crop;
typedef struct ir_prelu { int64_t slopes; /* 1 (shared) or the channels */ } ir_prelu;

typedef enum ir_init_kind {
    IR_INIT_DEFAULT,               /* not given: the op's default (see sema_layers.c) */
    IR_INIT_ZEROS, IR_INIT_ONES, IR_INIT_CONSTANT, IR_INIT_GAUSSIAN, IR_INIT_UNIFORM,
    IR_INIT_HE_NORMAL, IR_INIT_HE_UNIFORM, IR_INIT_GLOROT_UNIFORM, IR_INIT_GLOROT_NORMAL,
    IR_INIT_TORCH_DEFAULT
} ir_init_kind;

typedef enum ir_role { IR_WEIGHT, IR_BIAS, IR_GAMMA, IR_BETA, IR_RUNNING_MEAN, IR_RUNNING_VAR } ir_role;

typedef struct ir_param {
    const char *name;              /* "trunk.0.conv1.weight" */
    ir_role role;
    int ndim;
    int64_t dims[5];               /* PyTorch layout */
    int64_t numel;
    ir_init_kind init;             /* resolved: never IR_INIT_DEFAULT after elaboration */
    float init_a, init_b;          /* constant: a; gaussian: mean a, std b; uniform: [a, b] */
    int64_t fan_in, fan_out;
    float lr_mult, decay_mult;
    int freeze;                    /* no gradient */
    int shared;                    /* declared inside a `shared block` */
    int trainable;                 /* 0 for running statistics */
    src_span span;                 /* the layer that declared it */
} ir_param;

typedef struct ir_node {
    ir_op op;
    const char *name;              /* hierarchical layer name, "trunk.0.conv1" */
    src_span span;
    int n_in;
    int *in;                       /* indices of input nodes in the same graph */
    ir_shape shape;                /* output shape, per sample */
    int n_param;
    int param[IR_MAX_PARAMS];      /* indices into ir_program.params, in the order listed above */
    union {
        ir_conv conv; ir_bn bn; ir_act act; ir_dropout dropout; ir_pool pool; ir_dense dense;
        ir_loss loss; ir_permute permute; ir_rnn rnn; ir_lrn lrn; ir_crop crop; ir_prelu prelu;
    } a;
} ir_node;

typedef struct ir_graph {
    const char *domain;            /* "" for a single-domain program */
    int n_nodes;
    ir_node *nodes;
    int input;                     /* index of the IR_INPUT node */
    int logits;                    /* index of the classification head (what metrics read) */
    int loss;                      /* index of its IR_LOSS node (cross-entropy) */
    int n_losses;                  /* every IR_LOSS node (1 + the other heads' losses) */
    const int *losses;
    /* The net parameters this graph was elaborated with, after -D overrides (for headers). */
    int n_values;
    const char **value_names;
    const char **value_text;       /* printed values, e.g. "200", "0.5", "true" */
} ir_graph;

typedef struct ir_program {
    const char *net;               /* net name */
    src_span net_span;             /* of the net's name in its netdef */
    const char *file;              /* netdef path */
    int n_graphs;
    ir_graph *graphs;
    int n_params;
    ir_param *params;              /* shared params appear once */
} ir_program;

#endif
