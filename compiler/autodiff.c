/* autodiff.c — reverse mode at compile time: which gradients the backward pass computes.
 *
 * An op's output needs a gradient when something at or before it has trainable parameters
 * (frozen parameters and BN running statistics do not count): gradients nobody needs — the
 * input's, those upstream of a frozen stem — are never computed. Where a tensor is read by
 * several ops, the backward step that runs first (the latest reader; slots in order within an
 * op) writes its gradient, the others write a temporary that is accumulated — except a BN,
 * whose backward adds into the gradient itself (hsi_bn_backward_add: SSRN's residual blocks
 * read a tensor by a BN and an add; a separate accumulation read and wrote two tensors of
 * 7.3 MB for it). The backward
 * code itself is one call per op (hsi_kernels.h has a backward for each forward); emit.c
 * writes them in reverse order.
 */
#include <stdlib.h>

#include "passes/passes.h"

static int has_trainable(const be_op *o, const ir_program *p)
{
    for (int k = 0; k < o->n_param; k++) {
        const ir_param *q = &p->params[o->param[k]];
        if (q->trainable && !q->freeze) return 1;
    }
    return 0;
}

void ad_mark(be_graph *g, const ir_program *p)
{
    int *req = calloc((size_t)g->n_ops, sizeof *req);
    if (!req) abort();
    for (int i = 0; i < g->n_ops; i++) {
        be_op *o = &g->ops[i];
        o->need_dw = has_trainable(o, p);
        req[i] = o->need_dw;
        for (int j = 0; j < o->n_in; j++) req[i] |= req[o->in[j]];
    }
    for (int i = 0; i < g->n_ops; i++) {
        be_op *o = &g->ops[i];
        o->need_grad = req[i] && o->kind != BE_XENT;
        for (int j = 0; j < o->n_in; j++) o->need_dsrc[j] = req[o->in[j]];
    }
    /* first writer of each input gradient: latest reader, lowest slot (one pass over the
     * readers from the last; a scan of them per op was quadratic) */
    for (int i = 0; i < g->n_ops; i++) req[i] = 0;   /* now: the gradient has its first writer */
    for (int c = g->n_ops - 1; c >= 0; c--)
        for (int j = 0; j < g->ops[c].n_in; j++) {
            int t = g->ops[c].in[j];
            if (t < c && g->ops[t].need_grad && g->ops[c].need_dsrc[j] && !req[t]) {
                g->ops[c].first_writer[j] = 1;
                req[t] = 1;
            }
        }
    for (int i = 0; i < g->n_ops; i++) {
        be_op *o = &g->ops[i];
        for (int j = 0; j < o->n_in; j++)
            o->adds[j] = o->kind == BE_BN && o->need_dsrc[j] && !o->first_writer[j];
    }
    free(req);
}
