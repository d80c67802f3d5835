/* onnx.h — one graph of a checked program as an ONNX model (the inference graph).
 *
 * The IR graph is translated layer by layer (ONNX.md has the table): every layer that
 * reaches the logits becomes one ONNX node (dense: Flatten + Gemm), BN the inference form of
 * BatchNormalization with its running statistics, dropout nothing; the loss is left out. The
 * model's input "input" is [N, per-sample input dims...], its output "logits" [N, classes];
 * N is fixed or symbolic. Parameters are initializers under their netdef names, in PyTorch
 * layouts (which are ONNX's). Opset 13, IR version 7. Reading weights and writing the file are
 * the caller's (cmd_onnx.c); nothing here does I/O.
 */
#ifndef HSICC_ONNX_H
#define HSICC_ONNX_H

#include <stdint.h>

#include "emit/pb.h"
#include "ir.h"

#define ONNX_OPSET 13
#define ONNX_IR_VERSION 7

typedef struct onnx_options {
    int64_t batch;          /* > 0: the batch dimension is this size; 0: symbolic "N" */
    const char *weights;    /* where the weights came from (model metadata), or NULL */
} onnx_options;

/* used[i] = 1 for each parameter p->params[i] the exported graph g reads, else 0. */
void onnx_used_params(const ir_program *p, int g, unsigned char *used);

/* What onnx_encode wrote, for the summary the command prints. */
typedef struct onnx_stats {
    int nodes, initializers;
    int64_t values;         /* parameter elements in the model */
} onnx_stats;

/* The ModelProto of graph g into out (empty pb_buf on entry; the caller pb_frees it).
 * weights[i] holds the p->params[i].numel values of every used parameter (PyTorch layout).
 * Returns 0, or -1 when out of memory. */
int onnx_encode(const ir_program *p, int g, const float *const *weights, const onnx_options *o,
                pb_buf *out, onnx_stats *st);

#endif
