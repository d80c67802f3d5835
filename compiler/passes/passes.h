/* passes.h — the back end's internal steps, in the order be_lower runs them. */
#ifndef HSICC_PASSES_H
#define HSICC_PASSES_H

#include "../backend.h"

int be_add_op(be_graph *g, be_kind kind, const ir_node *ir);   /* zeroed op, returns index */
void be_build(be_graph *g, const ir_program *p, const ir_graph *ig, const be_options *opt);
void be_compact(be_graph *g);        /* drop ops nothing reads (keeps input and losses); the
                                        logits' ancestors first */
void ad_mark(be_graph *g, const ir_program *p);   /* autodiff: which gradients are needed */
void plan_buffers(be_graph *g, const be_options *opt); /* steps, buffers, live ranges */
int64_t be_numel(const ir_shape *s);
void scene_mark(be_graph *g);        /* regions of the whole-scene inference program */

#endif
