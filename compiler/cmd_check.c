/* cmd_check.c — `hsicc check FILE.hsn [-D k=v ...] [--net NAME]`: compile the netdef and
 * print one row per layer (name, op, output shape, trainable parameters) and the totals.
 * It emits nothing; `emit` and `build` do.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cmd.h"
#include "commands.h"
#include "driver.h"
#include "frontend.h"
#include "shape.h"

/* appends to buf (length k so far, at most len - 1: the text is cut, never overrun) */
static int add(char *buf, size_t len, int k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + k, len - (size_t)k, fmt, ap);
    va_end(ap);
    return w < 0 ? k : (size_t)k + (size_t)w >= len ? (int)len - 1 : k + w;
}

/* appends " <tag>AxBxC", one value per spatial dim */
static int dims_text(char *buf, size_t len, int k, const char *tag, int nsp, const int64_t *v)
{
    k = add(buf, len, k, " %s", tag);
    for (int i = 0; i < nsp; i++) k = add(buf, len, k, "%s%lld", i ? "x" : "", (long long)v[i]);
    return k;
}

/* 1 when any of the nsp values differs from `dflt` */
static int any_not(int nsp, const int64_t *v, int64_t dflt)
{
    for (int i = 0; i < nsp; i++)
        if (v[i] != dflt) return 1;
    return 0;
}

/* The op column: the op and the attributes that are not their defaults, in one style for
 * convs and pools: k<kernel>, s<stride> (shown when not 1), d<dilation> (conv, when not 1),
 * `pad` (any padding), then the flags (g<groups>; pools: ceil = ceil_mode, excl_pad =
 * count_include_pad false on a padded average pool; `global` pools show nothing else;
 * `nobias` on a conv, dense, gru or lstm without bias). Other layers show their parameters
 * the same way: dropout its rate, lrn its size, and bn (eps, momentum), lrn (alpha, beta, k),
 * leaky_relu and elu (alpha) those that differ from their defaults, as name=value. */
static const char *op_text(const ir_node *n, char *buf, size_t len)
{
    static const char *const acts[] = {"relu", "leaky_relu", "elu", "sigmoid", "tanh"};
    switch (n->op) {
    case IR_INPUT: return "input";
    case IR_CONV: {
        const ir_conv *c = &n->a.conv;
        int k = add(buf, len, 0, "conv%dd", c->nsp);
        k = dims_text(buf, len, k, "k", c->nsp, c->kernel);
        if (any_not(c->nsp, c->stride, 1)) k = dims_text(buf, len, k, "s", c->nsp, c->stride);
        if (any_not(c->nsp, c->dilation, 1)) k = dims_text(buf, len, k, "d", c->nsp, c->dilation);
        if (any_not(c->nsp, c->pad_lo, 0) || any_not(c->nsp, c->pad_hi, 0)) k = add(buf, len, k, " pad");
        if (c->groups > 1) k = add(buf, len, k, " g%lld", (long long)c->groups);
        if (!c->bias) add(buf, len, k, " nobias");
        return buf;
    }
    case IR_POOL: {
        const ir_pool *q = &n->a.pool;
        int k = add(buf, len, 0, "%spool", q->max ? "max" : "avg");
        if (q->global) {
            add(buf, len, k, " global");
            return buf;
        }
        k = dims_text(buf, len, k, "k", q->nsp, q->kernel);
        if (any_not(q->nsp, q->stride, 1)) k = dims_text(buf, len, k, "s", q->nsp, q->stride);
        int pad = any_not(q->nsp, q->pad_lo, 0) || any_not(q->nsp, q->pad_hi, 0);
        if (pad) k = add(buf, len, k, " pad");
        if (q->ceil_mode) k = add(buf, len, k, " ceil");
        if (!q->max && !q->count_include_pad && pad) add(buf, len, k, " excl_pad");
        return buf;
    }
    case IR_BN: {
        int k = add(buf, len, 0, "bn");
        if (n->a.bn.eps != 1e-5f) k = add(buf, len, k, " eps=%g", (double)n->a.bn.eps);
        if (n->a.bn.momentum != 0.1f) add(buf, len, k, " momentum=%g", (double)n->a.bn.momentum);
        return buf;
    }
    case IR_ACT: {
        const ir_act *a = &n->a.act;
        float dflt = a->kind == IR_LEAKY_RELU ? 0.01f : 1.0f;
        int k = add(buf, len, 0, "%s", acts[a->kind]);
        if ((a->kind == IR_LEAKY_RELU || a->kind == IR_ELU) && a->alpha != dflt)
            add(buf, len, k, " alpha=%g", (double)a->alpha);
        return buf;
    }
    case IR_DROPOUT: add(buf, len, 0, "dropout %g", (double)n->a.dropout.p); return buf;
    case IR_DENSE: return n->a.dense.bias ? "dense" : "dense nobias";
    case IR_RESHAPE: return "reshape";
    case IR_CONCAT: return "concat";
    case IR_ADD: return "add";
    case IR_LOSS: {
        static const char *const kinds[] = {"softmax_cross_entropy", "pixel_cross_entropy", "mse", "l1"};
        if (n->a.loss.weight == 1.0f) return kinds[n->a.loss.kind];
        snprintf(buf, len, "%s x%g", kinds[n->a.loss.kind], (double)n->a.loss.weight);
        return buf;
    }
    case IR_PERMUTE: {
        int k = snprintf(buf, len, "permute [");
        for (int i = 0; i < n->shape.ndim; i++)
            k += snprintf(buf + k, len - (size_t)k, "%s%d", i ? ", " : "", n->a.permute.perm[i]);
        snprintf(buf + k, len - (size_t)k, "]");
        return buf;
    }
    case IR_RNN:
        snprintf(buf, len, "%s%s%s%s", n->a.rnn.lstm ? "lstm" : "gru", n->a.rnn.reverse ? " reverse" : "",
                 n->a.rnn.sequence ? "" : " last", n->a.rnn.bias ? "" : " nobias");
        return buf;
    case IR_LRN: {
        const ir_lrn *r = &n->a.lrn;
        int k = add(buf, len, 0, "lrn %lld", (long long)r->size);
        if (r->alpha != 1e-4f) k = add(buf, len, k, " alpha=%g", (double)r->alpha);
        if (r->beta != 0.75f) k = add(buf, len, k, " beta=%g", (double)r->beta);
        if (r->k != 1.0f) add(buf, len, k, " k=%g", (double)r->k);
        return buf;
    }
    case IR_CROP: return "crop";
    case IR_PRELU: return "prelu";
    case IR_SOFTMAX: return "softmax";
    }
    return "?";
}

void check_print(FILE *f, const ir_program *p)
{
    char b1[128], b2[96], b3[32];
    for (int gi = 0; gi < p->n_graphs; gi++) {
        const ir_graph *g = &p->graphs[gi];
        int w = 22, wn = 32;       /* the op and name columns: as wide as their widest entry */
        for (int i = 0; i < g->n_nodes; i++) {
            int l = (int)strlen(op_text(&g->nodes[i], b1, sizeof b1));
            if (l > w) w = l;
            l = (int)strlen(g->nodes[i].name);
            if (l > wn) wn = l;
        }
        fprintf(f, "net %s%s%s:", p->net, *g->domain ? ", domain " : "", g->domain);
        for (int i = 0; i < g->n_values; i++) fprintf(f, " %s=%s", g->value_names[i], g->value_text[i]);
        fprintf(f, "\n  %-*s %-*s %-20s %12s\n", wn, "layer", w, "op", "output", "params");
        for (int i = 0; i < g->n_nodes; i++) {
            const ir_node *n = &g->nodes[i];
            long long cnt = 0;
            for (int k = 0; k < n->n_param; k++)
                if (p->params[n->param[k]].trainable) cnt += p->params[n->param[k]].numel;
            fprintf(f, "  %-*s %-*s %-20s %12s\n", wn, n->name, w, op_text(n, b1, sizeof b1),
                    shape_str(&n->shape, b2, sizeof b2), drv_thousands(cnt, b3, sizeof b3));
        }
    }
    long long tr = 0, nt = 0, sh = 0;
    for (int i = 0; i < p->n_params; i++) {
        if (p->params[i].trainable) tr += p->params[i].numel;
        else nt += p->params[i].numel;
        if (p->params[i].shared) sh += p->params[i].numel;
    }
    fprintf(f, "trainable parameters: %s\n", drv_thousands(tr, b3, sizeof b3));
    fprintf(f, "non-trainable parameters: %s (batch-norm running statistics)\n", drv_thousands(nt, b3, sizeof b3));
    if (sh) fprintf(f, "shared parameters (counted once): %s\n", drv_thousands(sh, b3, sizeof b3));
}

int cmd_check(int argc, char **argv)
{
    drv_common c = {0};
    int rc = DRV_OK, batch = 16;
    const char *batch_arg = NULL;
    for (int i = 1; i < argc;) {
        int t = drv_take_common(argc, argv, &i, &c);
        if (t < 0) { rc = DRV_USAGE; goto out; }
        if (t) continue;
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            if (drv_once("--batch", &batch_arg, argv[i + 1])) {
                rc = DRV_USAGE;
                goto out;
            }
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v <= 0 || v > 1 << 20) {
                fprintf(stderr, "hsicc: error: --batch expects a positive integer, got '%s'\n", argv[i + 1]);
                rc = DRV_USAGE;
                goto out;
            }
            batch = (int)v;
            i += 2;
            continue;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: hsicc check FILE.hsn [-D name=value ...] [--net NAME] [--batch N]\n"
                   "Checks a netdef and prints every layer's output shape and parameter count,\n"
                   "then the memory of parameters, gradients, optimizer state and activations\n"
                   "at batch N (default 16).\n");
            goto out;
        }
        if (!strcmp(argv[i], "--batch")) {
            fprintf(stderr, "hsicc: error: --batch needs a value\nusage: hsicc check FILE.hsn "
                            "[-D name=value ...] [--net NAME] [--batch N]\n");
            rc = DRV_USAGE;
            goto out;
        }
        if (argv[i][0] == '-' || c.file) {
            if (argv[i][0] == '-')
                cmd_unknown_option(argv[i], (const char *const[]){"-D", "--define", "--net",
                                                                  "--batch", "--help", NULL});
            else
                fprintf(stderr, "hsicc: error: unexpected argument '%s'\n", argv[i]);
            fprintf(stderr, "usage: hsicc check FILE.hsn [-D name=value ...] [--net NAME]\n");
            rc = DRV_USAGE;
            goto out;
        }
        c.file = argv[i++];
    }
    if (!c.file) {
        fprintf(stderr, "hsicc: error: check needs a netdef\nusage: hsicc check FILE.hsn [-D name=value ...] [--net NAME]\n");
        rc = DRV_USAGE;
        goto out;
    }
    fe_domain dom = {"", c.n_defines, c.defines};
    ir_program *p = fe_compile(c.file, NULL, 0, c.net, 1, &dom, stderr);
    if (!p) {
        rc = DRV_INPUT_ERROR;
        goto out;
    }
    check_print(stdout, p);
    be_options opt = {1, 1, batch};
    be_program *bp = be_lower(p, &opt);
    be_print_memory(stdout, bp);
    be_print_scene(stdout, bp);
    be_free(bp);
    fe_free(p);
out:
    drv_common_free(&c);
    return rc;
}
