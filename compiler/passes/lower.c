/* lower.c — IR graph -> list of kernel calls, with the rewrites and fusions a static graph
 * makes possible. Each IR node becomes one be_op except:
 *  - conv3d whose kernel spans the whole input depth (no depth padding) -> reshape
 *    [C,D,H,W] -> [C*D,H,W], conv2d, reshape back to [O,1,H',W'] (weights are the same bytes:
 *    OIDHW [O,C,D,kh,kw] is OIHW [O,C*D,kh,kw]), except when it is pointwise in H and W with
 *    channel counts that are multiples of 8 (SSRN's C2): a [D,1,1] conv, which the runtime runs
 *    on the channel-blocked tensor as it is (dnnl.c's tapconv), with no reshape passes;
 *  - a conv without padding whose kernel covers its whole input -> dense + reshape [O,1,..];
 *  - relu after bn or add, when it is the only reader -> fused into that op;
 *  - reshape after reshape -> one reshape;
 *  - BN after a conv/dense (with a bias) that only it reads -> folded into that op's weights
 *    for inference (the same primitive, so the same layouts).
 * It does not decide memory formats: oneDNN does, in create().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_kernels.h"
#include "passes/passes.h"

_Static_assert(IR_MAX_IN <= HSI_CONCAT_MAX_IN, "a concat the front end accepts must run");

int64_t be_numel(const ir_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->d[i];
    return n;
}

int be_add_op(be_graph *g, be_kind kind, const ir_node *ir)
{
    if (g->n_ops == g->cap_ops) {
        g->cap_ops = g->cap_ops ? 2 * g->cap_ops : 64;
        g->ops = realloc(g->ops, sizeof *g->ops * (size_t)g->cap_ops);
        if (!g->ops) { perror("hsicc"); exit(1); }
    }
    be_op *o = &g->ops[g->n_ops];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->ir = ir;
    o->act = o->grad = o->ws = o->fold = o->recomp = o->bn_in = o->res_add = -1;
    o->sums_conv = o->sums_add = o->pool_bn = -1;
    for (int i = 0; i < BE_MAX_IN; i++) o->tmp[i] = -1;
    return g->n_ops++;
}

/* readers[op]: how many inputs of the graph's ops read op's output (every reader comes after it) */
static int *op_readers(const be_graph *g)
{
    int *r = calloc((size_t)g->n_ops + 1, sizeof *r);
    if (!r) { perror("hsicc"); exit(1); }
    for (int i = 0; i < g->n_ops; i++)
        for (int j = 0; j < g->ops[i].n_in; j++) r[g->ops[i].in[j]]++;
    return r;
}

/* uses[v]: how many inputs of the graph's nodes read node v (every reader comes after it),
 * counted once for the graph rather than by a scan per node */
static int *ir_uses(const ir_graph *ig)
{
    int *uses = calloc((size_t)ig->n_nodes + 1, sizeof *uses);
    if (!uses) { perror("hsicc"); exit(1); }
    for (int i = 0; i < ig->n_nodes; i++)
        for (int j = 0; j < ig->nodes[i].n_in; j++) uses[ig->nodes[i].in[j]]++;
    return uses;
}

static int add_reshape(be_graph *g, const ir_node *ir, int in, ir_shape shape, const char *note)
{
    int r = be_add_op(g, BE_RESHAPE, ir);
    g->ops[r].n_in = 1;
    g->ops[r].in[0] = in;
    g->ops[r].shape = shape;
    g->ops[r].note = note;
    return r;
}

/* A conv3d over the whole depth kept as it is: a [D, 1, 1] kernel (stride 1, no H/W padding)
 * with input and output channels multiples of 8. dnnl.c runs it as a k x 1 x 1 conv with
 * D taps on the nCdhw8c tensor the spectral convs leave (tapconv.c); the rewrite's fold of
 * that tensor into channels-last and back cost SSRN 3.4 ms of a 140 ms step (1 thread) beside
 * the conv. Without the tapconv (HSICC_DNNL_NO_TAP_CONV=1) oneDNN runs it as a [D, 1] 2-D conv
 * over [D, H*W]; the reference backend has conv3d. */
static int depth_conv_pointwise(const ir_conv *c, const ir_shape *s)
{
    if (s->d[0] % 8 || c->out_ch % 8) return 0;
    for (int i = 1; i < 3; i++)
        if (c->kernel[i] != 1 || c->stride[i] != 1 || c->dilation[i] != 1 || c->pad_lo[i] ||
            c->pad_hi[i])
            return 0;
    return 1;
}

/* conv3d spanning the depth: returns the op producing [O,1,H',W'], or -1 if not applicable. */
static int rewrite_depth_conv(be_graph *g, const ir_node *n, int in)
{
    const ir_conv *c = &n->a.conv;
    const ir_shape *s = &g->ops[in].shape;
    if (c->nsp != 3 || c->groups != 1 || s->ndim != 4 || c->kernel[0] != s->d[1] ||
        c->pad_lo[0] || c->pad_hi[0] || c->dilation[0] != 1)
        return -1;
    if (depth_conv_pointwise(c, s)) return -1;
    ir_shape flat = {3, {s->d[0] * s->d[1], s->d[2], s->d[3], 0}};
    int r = add_reshape(g, n, in, flat, "conv3d over the whole depth: fold depth into channels");
    int cv = be_add_op(g, BE_CONV, n);
    be_op *o = &g->ops[cv];
    o->n_in = 1;
    o->in[0] = r;
    o->conv = *c;
    o->conv.nsp = 2;
    for (int i = 0; i < 2; i++) {
        o->conv.kernel[i] = c->kernel[i + 1];
        o->conv.stride[i] = c->stride[i + 1];
        o->conv.pad_lo[i] = c->pad_lo[i + 1];
        o->conv.pad_hi[i] = c->pad_hi[i + 1];
        o->conv.dilation[i] = c->dilation[i + 1];
    }
    o->conv.kernel[2] = o->conv.stride[2] = o->conv.dilation[2] = 1;
    o->conv.pad_lo[2] = o->conv.pad_hi[2] = 0;
    o->shape = (ir_shape){3, {n->shape.d[0], n->shape.d[2], n->shape.d[3], 0}};
    o->bias = c->bias;
    o->note = "rewritten from conv3d: the kernel spans the whole depth";
    return cv;
}

/* A conv (as called by op cv) whose kernel covers its unpadded input -> dense. */
static int rewrite_covering_conv(be_graph *g, int cv)
{
    be_op *o = &g->ops[cv];
    const ir_shape *s = &g->ops[o->in[0]].shape;
    if (o->conv.groups != 1) return -1;
    for (int i = 0; i < o->conv.nsp; i++)
        if (o->conv.kernel[i] != s->d[i + 1] || o->conv.pad_lo[i] || o->conv.pad_hi[i] ||
            o->conv.dilation[i] != 1)
            return -1;
    o->kind = BE_DENSE;
    o->dense_out = o->conv.out_ch;
    o->note = o->note ? "rewritten from conv3d: spans the depth and covers the input: dense"
                      : "rewritten from conv: the kernel covers the whole input: dense";
    o->shape = (ir_shape){1, {o->conv.out_ch, 0, 0, 0}};
    /* back to the shape of the netdef's conv: a conv3d rewritten over the depth first has a
     * 2-D op here, but what reads it expects the conv3d's [O,1,1,1] */
    return add_reshape(g, o->ir, cv, o->ir->shape, "dense output back to the conv's shape");
}

static void copy_params(be_op *o, const ir_node *n)
{
    o->n_param = n->n_param;
    memcpy(o->param, n->param, sizeof o->param);
}

void be_build(be_graph *g, const ir_program *p, const ir_graph *ig, const be_options *opt)
{
    (void)p;
    int *map = calloc((size_t)ig->n_nodes, sizeof *map), *uses = ir_uses(ig);
    if (!map) { perror("hsicc"); exit(1); }
    for (int i = 0; i < ig->n_nodes; i++) {
        const ir_node *n = &ig->nodes[i];
        int in0 = n->n_in > 0 ? map[n->in[0]] : -1;
        int op = -1;
        if (opt->fuse && n->op == IR_ACT && n->a.act.kind == IR_RELU && i != ig->logits) {
            be_op *prod = &g->ops[in0];
            int sole = uses[n->in[0]] == 1 && n->in[0] != ig->logits;
            if (sole && !prod->relu && (prod->kind == BE_BN || prod->kind == BE_ADD)) {
                prod->relu = 1;
                map[i] = in0;
                continue;
            }
        }
        switch (n->op) {
        case IR_INPUT:
            op = be_add_op(g, BE_INPUT, n);
            g->input = op;
            break;
        case IR_CONV: {
            int cv = opt->rewrite ? rewrite_depth_conv(g, n, in0) : -1;
            if (cv < 0) {
                cv = be_add_op(g, BE_CONV, n);
                g->ops[cv].n_in = 1;
                g->ops[cv].in[0] = in0;
                g->ops[cv].conv = n->a.conv;
                g->ops[cv].bias = n->a.conv.bias;
                g->ops[cv].shape = n->shape;
            }
            copy_params(&g->ops[cv], n);
            op = cv;
            int d = opt->rewrite ? rewrite_covering_conv(g, cv) : -1;
            if (d >= 0) op = d;
            else if (g->ops[cv].in[0] != in0)
                op = add_reshape(g, n, cv, n->shape, "conv2d output back to [O,1,H,W]");
            break;
        }
        case IR_DENSE:
            op = be_add_op(g, BE_DENSE, n);
            g->ops[op].dense_out = n->a.dense.out;
            g->ops[op].bias = n->a.dense.bias;
            copy_params(&g->ops[op], n);
            break;
        case IR_BN: op = be_add_op(g, BE_BN, n); copy_params(&g->ops[op], n); break;
        case IR_ACT: op = be_add_op(g, BE_ACT, n); break;
        case IR_DROPOUT: op = be_add_op(g, BE_DROPOUT, n); break;
        case IR_POOL: op = be_add_op(g, BE_POOL, n); break;
        case IR_RESHAPE: op = be_add_op(g, BE_RESHAPE, n); break;
        case IR_CONCAT: op = be_add_op(g, BE_CONCAT, n); break;
        case IR_ADD:   /* add(a, b, c, ...): ((a + b) + c) + ..., binary adds */
            for (int j = 1; j < n->n_in; j++) {
                int prev = op < 0 ? in0 : op;
                op = be_add_op(g, BE_ADD, n);
                g->ops[op].n_in = 2;
                g->ops[op].in[0] = prev;
                g->ops[op].in[1] = map[n->in[j]];
                g->ops[op].shape = n->shape;
                if (j + 1 < n->n_in) g->ops[op].note = "a partial sum of an add of more than two values";
            }
            break;
        case IR_LOSS: {
            /* a softmax right before the loss is the net's inference output only (the loss
             * applies softmax itself): the loss and the logits are the softmax's input */
            const ir_node *in = &ig->nodes[n->in[0]];
            op = be_add_op(g, BE_XENT, n);
            if (i == ig->loss) {   /* the classification loss (the others: head and input) */
                g->loss = op;
                g->ops[op].n_in = 1;
                g->ops[op].in[0] = in->op == IR_SOFTMAX ? map[in->in[0]] : in0;
                if (in->op == IR_SOFTMAX) g->logits = g->ops[op].in[0];
            }
            break;
        case IR_PERMUTE: op = be_add_op(g, BE_PERMUTE, n); break;
        case IR_RNN:
            op = be_add_op(g, BE_RNN, n);
            g->ops[op].bias = n->a.rnn.bias;
            copy_params(&g->ops[op], n);
            break;
        }
        case IR_LRN: op = be_add_op(g, BE_LRN, n); break;
        case IR_CROP: op = be_add_op(g, BE_CROP, n); break;
        case IR_PRELU: op = be_add_op(g, BE_PRELU, n); copy_params(&g->ops[op], n); break;
        case IR_SOFTMAX: op = be_add_op(g, BE_SOFTMAX, n); break;
        }
        be_op *o = &g->ops[op];
        if (o->n_in == 0 && n->op != IR_INPUT && n->op != IR_CONV) {
            o->n_in = n->n_in;
            for (int j = 0; j < n->n_in; j++) o->in[j] = map[n->in[j]];
        }
        if (n->op != IR_CONV || o->kind == BE_CONV) o->shape = n->shape;
        if (i == ig->logits && n->op != IR_SOFTMAX) g->logits = op;
        map[i] = op;
    }
    free(map);
    free(uses);
    /* reshape of a reshape read by nothing else: one reshape. The readers of each op are
     * counted once and kept up to date as inputs move (a scan of the later ops per op was quadratic:
     * minutes for 100,000 ops); the reshapes passed over stay readers until be_compact. */
    int *readers = op_readers(g);
    for (int i = 0; i < g->n_ops; i++) {
        be_op *o = &g->ops[i];
        if (o->kind != BE_RESHAPE) continue;
        int src = o->in[0];
        while (g->ops[src].kind == BE_RESHAPE && readers[src] == 1 && src != g->logits)
            src = g->ops[src].in[0];
        readers[o->in[0]]--;
        readers[src]++;
        o->in[0] = src;
    }
    free(readers);
    be_compact(g);
    /* BN right after the conv/dense that only it reads: folded into that op for inference */
    readers = op_readers(g);
    for (int j = 0; opt->fuse && j < g->n_ops; j++) {
        be_op *o = &g->ops[j];
        int i = o->n_in ? o->in[0] : -1;
        if (o->kind == BE_BN && i >= 0 && (g->ops[i].kind == BE_CONV || g->ops[i].kind == BE_DENSE) &&
            g->ops[i].bias && readers[i] == 1)
            o->fold = i;
    }
    free(readers);
}

void be_compact(be_graph *g)
{
    int *live = calloc((size_t)g->n_ops, sizeof *live);
    int *newidx = calloc((size_t)g->n_ops, sizeof *newidx);
    be_op *ops = malloc(sizeof *ops * (size_t)(g->n_ops ? g->n_ops : 1));
    if (!live || !newidx || !ops) { perror("hsicc"); exit(1); }
    for (int i = 0; i < g->n_ops; i++) live[i] = g->ops[i].kind == BE_XENT;   /* every loss */
    live[g->input] = 1;
    for (int i = g->n_ops - 1; i >= 0; i--)
        if (live[i])
            for (int j = 0; j < g->ops[i].n_in; j++) live[g->ops[i].in[j]] = 1;
    /* what the classification head reads first (2), then the other heads and the losses (1),
     * each in order: the ops up to the logits are the inference net (scene programs, infer) */
    live[g->logits] = 2;
    for (int i = g->logits; i >= 0; i--)
        if (live[i] == 2)
            for (int j = 0; j < g->ops[i].n_in; j++) live[g->ops[i].in[j]] = 2;
    live[g->input] = 2;
    int k = 0;
    for (int pass = 2; pass >= 1; pass--)
        for (int i = 0; i < g->n_ops; i++)
            if (live[i] == pass) {
                newidx[i] = k;
                ops[k++] = g->ops[i];
            } else if (!live[i]) {
                newidx[i] = -1;
            }
    memcpy(g->ops, ops, sizeof *ops * (size_t)k);
    g->n_ops = k;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < g->ops[i].n_in; j++) g->ops[i].in[j] = newidx[g->ops[i].in[j]];
    g->input = newidx[g->input];
    g->logits = newidx[g->logits];
    g->loss = newidx[g->loss];
    free(ops);
    free(live);
    free(newidx);
}

/* An open-addressing string table (keys not owned), for name_ops: a name's slot, the key's
 * or the empty one where it goes. */
typedef struct name_tab { size_t cap; const char **key; int *val; } name_tab;

static size_t name_slot_of(const name_tab *t, const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = s; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    size_t i = (size_t)h & (t->cap - 1);
    while (t->key[i] && strcmp(t->key[i], s)) i = (i + 1) & (t->cap - 1);
    return i;
}

/* C identifier for every op's output: the layer name with dots as underscores, unique (the
 * first free of base, base_2, base_3, ...). Names cut at 60 characters can all clash (long
 * scope paths): the taken names and, per base, the next number to try are hashed, so naming
 * stays linear instead of scanning every earlier op for every number tried (cubic: 3,000 such
 * layers took 20 s). */
static void name_ops(be_graph *g)
{
    name_tab taken = {16, NULL, NULL}, next = {16, NULL, NULL};
    while (taken.cap < 4 * (size_t)g->n_ops) taken.cap *= 2;
    next.cap = taken.cap;
    taken.key = calloc(taken.cap, sizeof *taken.key);
    next.key = calloc(next.cap, sizeof *next.key);
    next.val = calloc(next.cap, sizeof *next.val);
    char (*bases)[96] = calloc((size_t)g->n_ops + 1, sizeof *bases);   /* next's keys */
    if (!taken.key || !next.key || !next.val || !bases) { perror("hsicc"); exit(1); }
    for (int i = 0; i < g->n_ops; i++) {
        be_op *o = &g->ops[i];
        const char *base = o->ir && o->ir->name && o->ir->name[0] ? o->ir->name : "t";
        char tmp[80];
        int k = 0;
        for (const char *c = base; *c && k < 60; c++)
            tmp[k++] = ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                        (*c >= '0' && *c <= '9') || *c == '_') ? *c : '_';
        tmp[k] = 0;
        if (tmp[0] >= '0' && tmp[0] <= '9') {
            memmove(tmp + 1, tmp, (size_t)k + 1);
            tmp[0] = '_';
        }
        const char *suffix = "";
        if (o->kind == BE_RESHAPE && o->ir && o->ir->op != IR_RESHAPE)
            suffix = i + 1 < g->n_ops && g->ops[i + 1].ir == o->ir ? "_in" : "_out";
        if (o->kind == BE_ADD && i + 1 < g->n_ops && g->ops[i + 1].ir == o->ir) suffix = "_partial";
        snprintf(o->cname, sizeof o->cname, "%s%s", tmp, suffix);
        size_t at = name_slot_of(&taken, o->cname);
        if (taken.key[at]) {   /* taken: base_n from the first n not tried for this base yet */
            snprintf(bases[i], sizeof bases[i], "%s", o->cname);
            size_t b = name_slot_of(&next, bases[i]);
            int n = next.key[b] ? next.val[b] : 2;
            for (;; n++) {
                snprintf(o->cname, sizeof o->cname, "%s%s_%d", tmp, suffix, n);
                at = name_slot_of(&taken, o->cname);
                if (!taken.key[at]) break;
            }
            if (!next.key[b]) next.key[b] = bases[i];
            next.val[b] = n + 1;
        }
        taken.key[at] = o->cname;
    }
    free(taken.key);
    free(next.key);
    free(next.val);
    free(bases);
}

be_program *be_lower(const ir_program *p, const be_options *opt)
{
    be_program *bp = calloc(1, sizeof *bp);
    if (!bp) { perror("hsicc"); exit(1); }
    bp->ir = p;
    bp->opt = *opt;
    bp->n_graphs = p->n_graphs;
    bp->graphs = calloc((size_t)p->n_graphs, sizeof *bp->graphs);
    if (!bp->graphs) { perror("hsicc"); exit(1); }
    for (int d = 0; d < p->n_graphs; d++) {
        be_graph *g = &bp->graphs[d];
        g->ir = &p->graphs[d];
        be_build(g, p, g->ir, opt);
        name_ops(g);
        ad_mark(g, p);
        plan_buffers(g, opt);
        scene_mark(g);
    }
    return bp;
}

void be_free(be_program *bp)
{
    if (!bp) return;
    for (int d = 0; d < bp->n_graphs; d++) {
        free(bp->graphs[d].ops);
        free(bp->graphs[d].bufs);
    }
    free(bp->graphs);
    free(bp);
}
