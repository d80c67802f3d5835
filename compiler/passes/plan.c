/* plan.c — steps and live ranges of every buffer, and the compile-time memory report.
 *
 * Step i is op i's forward; the backward of op i runs at step n_ops + (n_ops - 1 - i), the
 * loss first. An activation lives from its forward step to its last reader, forward or
 * backward (conv/bn/dense read their input in backward, activations and add+ReLU their
 * output); a workspace from forward to backward; a gradient from its first writer to its op's
 * backward. A trained BN's output whose backward readers all read it as their input (conv,
 * dense, BN, ...) is not kept: it lives to its last forward reader, and a recompute buffer
 * (from the BN's input and workspace, hsi_bn_recompute) from the first to the last backward
 * reader. In-place activations alias their input when nothing else needs it. Byte sizes
 * here are plain layouts; create() re-plans with the sizes oneDNN actually chose, using the
 * same planner (hsi_arena_plan) and the same live ranges.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "hsi_kernels.h"
#include "passes/passes.h"

static int add_buf(be_graph *g, be_buf_kind kind, int op, int slot, int first, int last,
                   int64_t bytes)
{
    if (g->n_bufs == g->cap_bufs) {
        g->cap_bufs = g->cap_bufs ? 2 * g->cap_bufs : 128;
        g->bufs = realloc(g->bufs, sizeof *g->bufs * (size_t)g->cap_bufs);
        if (!g->bufs) abort();
    }
    g->bufs[g->n_bufs] = (be_buf){kind, op, slot, first, last, -1, bytes};
    return g->n_bufs++;
}

static int reads_input_in_backward(const be_op *o)
{
    return o->kind == BE_CONV || o->kind == BE_BN || o->kind == BE_DENSE || o->kind == BE_LRN ||
           o->kind == BE_PRELU || o->kind == BE_RNN;
}

static int reads_output_in_backward(const be_op *o)
{
    return o->kind == BE_ACT || (o->kind == BE_ADD && o->relu) || o->kind == BE_SOFTMAX;
}

static int64_t ws_estimate(const be_graph *g, const be_op *o, int64_t batch)
{
    int64_t n = be_numel(&o->shape) * batch;
    switch (o->kind) {
    case BE_BN: return 3 * 4 * o->shape.d[0];   /* mean, variance, beta (bnorm.c: no mask) */
    case BE_POOL: return o->ir->a.pool.max ? 4 * n : 0;
    case BE_DROPOUT: return be_numel(&g->ops[o->in[0]].shape) * batch;
    default: return 0;
    }
}

/* Every op's readers, once for the graph (which planning does not change): op i's are
 * op / slot [rs[i] .. rs[i+1]-1], each a reading op (ascending) and the input slot it reads i
 * by (an op reading i twice is there twice); scans of all later ops per op made planning
 * quadratic (a 60,000-layer netdef: 14.6 s). */
typedef struct readers { int *rs, *op, *slot; } readers;

static readers readers_of(const be_graph *g)
{
    int n = g->n_ops;
    readers r = {calloc((size_t)n + 2, sizeof(int)), NULL, NULL};
    if (!r.rs) abort();
    for (int c = 0; c < n; c++)
        for (int j = 0; j < g->ops[c].n_in; j++) r.rs[g->ops[c].in[j] + 1]++;
    for (int i = 0; i < n; i++) r.rs[i + 1] += r.rs[i];
    r.op = malloc(sizeof(int) * (size_t)(r.rs[n] + 1));
    r.slot = malloc(sizeof(int) * (size_t)(r.rs[n] + 1));
    int *at = malloc(sizeof(int) * (size_t)(n + 1));
    if (!r.op || !r.slot || !at) abort();
    for (int i = 0; i < n; i++) at[i] = r.rs[i];
    for (int c = 0; c < n; c++)
        for (int j = 0; j < g->ops[c].n_in; j++) {
            int k = at[g->ops[c].in[j]]++;
            r.op[k] = c;
            r.slot[k] = j;
        }
    free(at);
    return r;
}

static int n_readers(const readers *r, int i) { return r->rs[i + 1] - r->rs[i]; }

static void readers_free(readers *r)
{
    free(r->rs);
    free(r->op);
    free(r->slot);
}

/* 1 when no gradient still needed after op t's backward shares the memory of t's output
 * gradient: along the chain of memories it shares (a reader's output gradient through an add's
 * share, a reshape view or an in-place act; a reader's own alias set in g->bufs or to be set by
 * the runtime's yes), an add's share of its second input while its first shares too would hold
 * the first input's gradient, needed after (d(a + b) is the output gradient for both) */
static int bn_dy_alone(const be_graph *g, const readers *rd, int t)
{
    for (int hops = 0; hops <= g->n_ops; hops++) {
        int next = -1;
        for (int k = rd->rs[t]; k < rd->rs[t + 1] && next < 0; k++) {
            const be_op *c = &g->ops[rd->op[k]];
            int j = rd->slot[k];
            if (!c->need_dsrc[j] || !c->first_writer[j]) continue;
            if (c->kind == BE_ADD && c->grad_share[j]) {
                if (j == 1 && c->grad_share[0]) return 0;
                next = rd->op[k];
            } else if (c->kind == BE_RESHAPE || (c->kind == BE_ACT && c->inplace)) {
                next = rd->op[k];
            }
        }
        if (next < 0) return 1;
        t = next;
    }
    return 0;
}

/* 1 when op i is a trained BN whose output is recomputed for the backward: every reader of it in
 * the backward reads it as its input (no loss reads it), there is at least one, and the BN's
 * own input is kept (not itself recomputed). Its readers from rd (a scan of every later op
 * per BN was quadratic: minutes for 50,000 BNs). */
static int recomputable(const be_graph *g, const readers *rd, int i)
{
    const be_op *o = &g->ops[i];
    if (o->kind != BE_BN || !o->need_grad || i == g->logits || g->ops[o->in[0]].recomp >= 0)
        return 0;
    int n = 0;
    for (int k = rd->rs[i]; k < rd->rs[i + 1]; k++) {
        const be_op *r = &g->ops[rd->op[k]];
        if (r->kind == BE_XENT) return 0;
        n += r->need_grad && reads_input_in_backward(r);
    }
    return n > 0;
}

void plan_buffers(be_graph *g, const be_options *opt)
{
    int n = g->n_ops;
    int64_t batch = opt->batch > 0 ? opt->batch : 1;
    int *rc = malloc(sizeof *rc * 2 * (size_t)(n ? n : 1));   /* recompute range per op */
    if (!rc) abort();
    readers rd = readers_of(g);
    g->n_steps = 2 * n;
    for (int i = 0; i < n; i++) {
        g->ops[i].fwd_step = i;
        g->ops[i].bwd_step = n + (n - 1 - i);
    }
    /* activations */
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        rc[2 * i] = INT_MAX;
        rc[2 * i + 1] = -1;
        if (o->kind == BE_XENT) continue;
        int last = i, re = recomputable(g, &rd, i);
        for (int k = rd.rs[i]; k < rd.rs[i + 1]; k++) {
            int c = rd.op[k];
            const be_op *r = &g->ops[c];
            if (c > last) last = c;
            if (r->kind == BE_XENT && r->bwd_step > last) last = r->bwd_step;   /* a loss */
            else if (r->need_grad && reads_input_in_backward(r) && re) {
                if (r->bwd_step < rc[2 * i]) rc[2 * i] = r->bwd_step;
                if (r->bwd_step > rc[2 * i + 1]) rc[2 * i + 1] = r->bwd_step;
            } else if (r->need_grad && reads_input_in_backward(r) && r->bwd_step > last)
                last = r->bwd_step;
        }
        if (o->need_grad && reads_output_in_backward(o) && o->bwd_step > last) last = o->bwd_step;
        /* a BN folded into a conv for inference: forward_infer writes its output at the conv's
         * step (reading the conv's input there) */
        int first = o->kind == BE_BN && o->fold >= 0 ? o->fold : i;
        o->act = add_buf(g, BE_BUF_ACT, i, 0, first, last, 4 * be_numel(&o->shape) * batch);
        if (re) o->recomp = INT_MAX;   /* marked; the buffer follows the temporaries */
    }
    /* workspaces */
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        if (o->kind == BE_BN || o->kind == BE_POOL || o->kind == BE_DROPOUT)
            o->ws = add_buf(g, BE_BUF_WS, i, 0, i, o->need_grad ? o->bwd_step : i,
                            ws_estimate(g, o, batch));
    }
    /* gradients and temporaries */
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        if (!o->need_grad) continue;
        int first = o->bwd_step;
        for (int k = rd.rs[i]; k < rd.rs[i + 1]; k++) {
            const be_op *c = &g->ops[rd.op[k]];
            if (c->need_dsrc[rd.slot[k]] && c->bwd_step < first) first = c->bwd_step;
        }
        o->grad = add_buf(g, BE_BUF_GRAD, i, 0, first, o->bwd_step, 4 * be_numel(&o->shape) * batch);
    }
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        for (int j = 0; j < o->n_in; j++)
            if (o->need_dsrc[j] && !o->first_writer[j] && !o->adds[j])
                o->tmp[j] = add_buf(g, BE_BUF_TMP, i, j, o->bwd_step, o->bwd_step,
                                    4 * be_numel(&g->ops[o->in[j]].shape) * batch);
    }
    for (int i = 0; i < n; i++)
        if (g->ops[i].recomp >= 0)
            g->ops[i].recomp = add_buf(g, BE_BUF_RECOMP, i, 0, rc[2 * i], rc[2 * i + 1],
                                       4 * be_numel(&g->ops[i].shape) * batch);
    free(rc);
    if (!opt->fuse) {
        readers_free(&rd);
        return;
    }
    /* convs that may apply their input's BN themselves: the BN's output is recomputed, and this
     * conv is its only reader in the backward (in the forward too: bn_fwd) */
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        if (o->kind != BE_CONV || o->n_in != 1 || !o->need_grad) continue;
        int p = o->in[0], bwd_readers = 0;
        if (g->ops[p].kind != BE_BN || g->ops[p].recomp < 0) continue;
        for (int k = rd.rs[p]; k < rd.rs[p + 1]; k++)
            bwd_readers += g->ops[rd.op[k]].need_grad && reads_input_in_backward(&g->ops[rd.op[k]]);
        if (bwd_readers != 1) continue;
        o->bn_in = p;
        o->bn_fwd = n_readers(&rd, p) == 1 && p != g->logits;
    }
    /* global max pools that may apply the trained BN before them (the contextual CNN's filter
     * banks): the BN's only reader, and the BN's backward writes its input gradient (not an add) */
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        if (o->kind != BE_POOL || o->n_in != 1 || !o->ir || !o->ir->a.pool.max || !o->need_grad ||
            !o->need_dsrc[0])
            continue;
        const ir_pool *pl = &o->ir->a.pool;
        int p = o->in[0], global = g->ops[p].shape.ndim == pl->nsp + 1;
        for (int d = 0; global && d < pl->nsp; d++)
            global = pl->kernel[d] == g->ops[p].shape.d[d + 1] && !pl->pad_lo[d] && !pl->pad_hi[d] &&
                     !pl->ceil_extra[d];
        const be_op *bn = &g->ops[p];
        if (!global || bn->kind != BE_BN || bn->n_in != 1 || !bn->need_grad || bn->adds[0] ||
            p == g->logits || n_readers(&rd, p) != 1 || bn->bwd_step < o->bwd_step)
            continue;
        o->pool_bn = p;
        if (g->bufs[o->grad].last < bn->bwd_step) g->bufs[o->grad].last = bn->bwd_step;
        if (g->bufs[o->ws].last < bn->bwd_step) g->bufs[o->ws].last = bn->bwd_step;
    }
    /* residual adds the conv right before them may do as it stores (SSRN's conv_b + skip):
     * the add's output is then written at the conv's step, so it lives from there */
    for (int i = 1; i < n; i++) {
        be_op *o = &g->ops[i];
        if (o->kind != BE_ADD || o->n_in != 2 || o->relu || o->in[0] == o->in[1]) continue;
        for (int j = 1; j >= 0; j--) {
            be_op *c = &g->ops[o->in[j]];
            if (o->in[j] != i - 1 || c->kind != BE_CONV || n_readers(&rd, i - 1) != 1 ||
                i - 1 == g->logits)
                continue;
            c->res_add = i;
            c->res_slot = 1 - j;
            if (g->bufs[o->act].first > i - 1) g->bufs[o->act].first = i - 1;
            break;
        }
    }
    /* trained BNs whose input a conv writes (itself, or the residual add it does): the conv
     * may sum it for the BN as it finishes it */
    int *add_conv = malloc(sizeof(int) * (size_t)(n + 1));   /* the conv doing add i, or -1 */
    if (!add_conv) abort();
    for (int i = 0; i < n; i++) add_conv[i] = -1;
    for (int c = 0; c < n; c++)
        if (g->ops[c].kind == BE_CONV && g->ops[c].res_add >= 0) add_conv[g->ops[c].res_add] = c;
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        if (o->kind != BE_BN || o->n_in != 1) continue;
        int p = o->in[0];
        if (g->ops[p].kind == BE_CONV) {
            o->sums_conv = p;
        } else if (g->ops[p].kind == BE_ADD && add_conv[p] >= 0 && add_conv[p] < p) {
            o->sums_conv = add_conv[p];
            o->sums_add = p;
        }
    }
    free(add_conv);
    /* residual adds: d(a + b) is the output gradient (masked by ReLU): an input gradient the
     * add writes first can be that memory. Either slot alone is safe (the output gradient is
     * dead after the add's backward); both only when b's gradient is read (at b's backward)
     * before anything else changes a's: b has no other reader, nothing else shares its
     * gradient's memory (not an act, reshape or add), and its backward runs before a's and
     * before any other reader of a accumulates into a's gradient. */
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        if (o->kind != BE_ADD || o->grad < 0) continue;
        int a = o->in[0], b = o->in[1];
        o->grad_share[0] = o->need_dsrc[0] && o->first_writer[0];
        int ok = o->need_dsrc[1] && o->first_writer[1] && b != a;
        if (ok && o->grad_share[0]) {
            const be_op *pb = &g->ops[b];
            ok = n_readers(&rd, b) == 1 && pb->kind != BE_ACT &&
                 pb->kind != BE_RESHAPE && pb->kind != BE_ADD && pb->bwd_step < g->ops[a].bwd_step;
            for (int k = rd.rs[a]; ok && k < rd.rs[a + 1]; k++) {
                int c = rd.op[k];
                if (c != i && g->ops[c].need_dsrc[rd.slot[k]] && g->ops[c].bwd_step <= pb->bwd_step)
                    ok = 0;
            }
        }
        o->grad_share[1] = ok;
    }
    /* in-place activations: the input is read by nothing else and its producer's backward
     * does not read its own output (reads_output_in_backward, the liveness's own test: the act
     * would overwrite it; a softmax's backward read tanh(softmax) when the list here was its
     * own), nor is the producer a reshape, an add or the input */
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        if (o->kind != BE_ACT) continue;
        int t = o->in[0];
        const be_op *p = &g->ops[t];
        if (n_readers(&rd, t) != 1 || t == g->logits || i == g->logits) continue;
        if (reads_output_in_backward(p) || p->kind == BE_RESHAPE || p->kind == BE_ADD ||
            p->kind == BE_INPUT)
            continue;
        o->inplace = 1;
        g->bufs[o->act].alias = p->act;
        if (o->need_dsrc[0] && p->grad >= 0) g->bufs[p->grad].alias = o->grad;
    }
    /* BN backward in place: dx over dy, when the BN writes its input's gradient first (not
     * added to one another reader wrote: those add to it after) and no gradient still needed
     * after the BN's backward shares dy's memory (bn_dy_alone). Nothing else gives dx's buffer
     * another's memory (an in-place act, a reshape view or an add's share each need to be its
     * first writer). SSRN: 4 of its 5 spectral BNs; the backward no longer reads a fresh
     * 7.3 MB line by line before writing it (1 thread: 0.15-0.45 ms less a BN, measured) */
    for (int i = 0; i < n; i++) {
        be_op *o = &g->ops[i];
        if (o->kind != BE_BN || o->n_in != 1 || !o->need_dsrc[0] || !o->first_writer[0] ||
            o->grad < 0)
            continue;
        int gi = g->ops[o->in[0]].grad;
        o->grad_inplace = gi >= 0 && g->bufs[gi].alias < 0 && bn_dy_alone(g, &rd, i);
    }
    readers_free(&rd);
}

/* a + b, or INT64_MAX (printed as "more than") when it does not fit: huge nets and batches must
 * not wrap into nonsense in the report */
static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t s;
    return __builtin_add_overflow(a, b, &s) ? INT64_MAX : s;
}

/* Union the live ranges of alias chains into their roots, like the emitted create_<d> does. */
static int64_t plan_arena(const be_graph *g, int64_t *sum)
{
    int n = g->n_bufs;
    hsi_buf *b = calloc((size_t)n + 1, sizeof *b);
    size_t *off = calloc((size_t)n + 1, sizeof *off);
    int *alias = calloc((size_t)n + 1, sizeof *alias);
    if (!b || !off || !alias) abort();
    *sum = 0;
    for (int i = 0; i < n; i++) {
        b[i] = (hsi_buf){(size_t)g->bufs[i].plain_bytes, g->bufs[i].first, g->bufs[i].last};
        alias[i] = g->bufs[i].alias;
        *sum = sat_add(*sum, g->bufs[i].plain_bytes);
    }
    /* reshapes in plain layouts are views */
    for (int i = 0; i < g->n_ops; i++) {
        const be_op *o = &g->ops[i];
        if (o->kind != BE_RESHAPE) continue;
        alias[o->act] = g->ops[o->in[0]].act;
        if (o->need_dsrc[0] && o->first_writer[0]) alias[g->ops[o->in[0]].grad] = o->grad;
    }
    /* so are adds' input gradients that may share the output gradient's memory */
    for (int i = 0; i < g->n_ops; i++)
        for (int j = 0; j < 2; j++)
            if (g->ops[i].kind == BE_ADD && g->ops[i].grad_share[j])
                alias[g->ops[g->ops[i].in[j]].grad] = g->ops[i].grad;
    /* and BNs' input gradients written over their output gradients */
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i].kind == BE_BN && g->ops[i].grad_inplace)
            alias[g->ops[g->ops[i].in[0]].grad] = g->ops[i].grad;
    size_t total = hsi_arena_plan_aliased(n, b, alias, 64, off);
    free(b);
    free(off);
    free(alias);
    return total >= HSI_ARENA_TOO_LARGE ? INT64_MAX : (int64_t)total;
}

void be_memory_report(const be_program *bp, be_memory *m)
{
    const ir_program *p = bp->ir;
    *m = (be_memory){0};
    for (int i = 0; i < p->n_params; i++) {
        const ir_param *q = &p->params[i];
        m->params = sat_add(m->params, 4 * q->numel);   /* numel <= 2^40: no wrap here */
        if (q->trainable && !q->freeze) {
            m->grads = sat_add(m->grads, 4 * q->numel);
            m->opt_state_sgd = sat_add(m->opt_state_sgd, 4 * q->numel);
            m->opt_state_adam = sat_add(m->opt_state_adam, 8 * q->numel);
        }
    }
    for (int d = 0; d < bp->n_graphs; d++) {
        int64_t sum, arena = plan_arena(&bp->graphs[d], &sum);
        if (arena > m->arena) m->arena = arena;   /* domains run one after another: one arena */
        m->act_sum = sat_add(m->act_sum, sum);
    }
}

static void print_bytes(FILE *f, const char *what, int64_t b)
{
    if (b == INT64_MAX)
        fprintf(f, "  %-34s more than %lld bytes (8 EiB): far too large\n", what, (long long)b);
    else
        fprintf(f, "  %-34s %12lld bytes  (%.2f MiB)\n", what, (long long)b, (double)b / 1048576.0);
}

void be_print_memory(FILE *f, const be_program *bp)
{
    be_memory m;
    be_memory_report(bp, &m);
    fprintf(f, "memory at batch %d (plain layouts; oneDNN's blocked layouts may pad channels):\n",
            bp->opt.batch);
    print_bytes(f, "parameters", m.params);
    print_bytes(f, "gradients", m.grads);
    print_bytes(f, "optimizer state (SGD/RMSProp)", m.opt_state_sgd);
    print_bytes(f, "optimizer state (Adam/AdamW)", m.opt_state_adam);
    print_bytes(f, "activations+gradients, summed", m.act_sum);
    print_bytes(f, "activation arena (liveness)", m.arena);
    if (m.arena > 0 && m.arena < INT64_MAX && m.act_sum < INT64_MAX)
        fprintf(f, "  arena / sum = %.3f\n", (double)m.arena / (double)(m.act_sum ? m.act_sum : 1));
}
