/* cmd_check.c — `hsicc check FILE.hsn [-D k=v ...] [--net NAME]`: compile the netdef and
 * print one row per layer (name, op, output shape, trainable parameters) and the totals.
 * It emits nothing; `emit` and `build` do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "commands.h"
#include "driver.h"
#include "frontend.h"
#include "shape.h"

static const char *op_text(const ir_node *n, char *buf, size_t len)
{
    static const char *const acts[] = {"relu", "leaky_relu", "elu", "sigmoid", "tanh"};
    switch (n->op) {
    case IR_INPUT: return "input";
    case IR_CONV: {
        const ir_conv *c = &n->a.conv;
        int k = snprintf(buf, len, "conv%dd k", c->nsp);
        for (int i = 0; i < c->nsp; i++) k += snprintf(buf + k, len - (size_t)k, "%s%lld", i ? "x" : "", (long long)c->kernel[i]);
        int st = 0, pd = 0;
        for (int i = 0; i < c->nsp; i++) st |= c->stride[i] != 1, pd |= c->pad_lo[i] || c->pad_hi[i];
        if (st) {
            k += snprintf(buf + k, len - (size_t)k, " s");
            for (int i = 0; i < c->nsp; i++) k += snprintf(buf + k, len - (size_t)k, "%s%lld", i ? "x" : "", (long long)c->stride[i]);
        }
        if (pd) k += snprintf(buf + k, len - (size_t)k, " pad");
        if (c->groups > 1) snprintf(buf + k, len - (size_t)k, " g%lld", (long long)c->groups);
        return buf;
    }
    case IR_BN: return "bn";
    case IR_ACT: return acts[n->a.act.kind];
    case IR_DROPOUT: return "dropout";
    case IR_POOL:
        snprintf(buf, len, "%spool%s", n->a.pool.max ? "max" : "avg", n->a.pool.global ? " global" : "");
        return buf;
    case IR_DENSE: return "dense";
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
        snprintf(buf, len, "%s%s%s", n->a.rnn.lstm ? "lstm" : "gru", n->a.rnn.reverse ? " reverse" : "",
                 n->a.rnn.sequence ? "" : " last");
        return buf;
    case IR_LRN: snprintf(buf, len, "lrn %lld", (long long)n->a.lrn.size); return buf;
    case IR_CROP: return "crop";
    case IR_PRELU: return "prelu";
    case IR_SOFTMAX: return "softmax";
    }
    return "?";
}

void check_print(FILE *f, const ir_program *p)
{
    char b1[64], b2[96], b3[32];
    for (int gi = 0; gi < p->n_graphs; gi++) {
        const ir_graph *g = &p->graphs[gi];
        fprintf(f, "net %s%s%s:", p->net, *g->domain ? ", domain " : "", g->domain);
        for (int i = 0; i < g->n_values; i++) fprintf(f, " %s=%s", g->value_names[i], g->value_text[i]);
        fprintf(f, "\n  %-32s %-22s %-20s %12s\n", "layer", "op", "output", "params");
        for (int i = 0; i < g->n_nodes; i++) {
            const ir_node *n = &g->nodes[i];
            long long cnt = 0;
            for (int k = 0; k < n->n_param; k++)
                if (p->params[n->param[k]].trainable) cnt += p->params[n->param[k]].numel;
            fprintf(f, "  %-32s %-22s %-20s %12s\n", n->name, op_text(n, b1, sizeof b1),
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
    for (int i = 1; i < argc;) {
        int t = drv_take_common(argc, argv, &i, &c);
        if (t < 0) { rc = DRV_USAGE; goto out; }
        if (t) continue;
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
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
            fprintf(stderr, "hsicc: error: %s '%s'\nusage: hsicc check FILE.hsn [-D name=value ...] [--net NAME]\n",
                    argv[i][0] == '-' ? "unknown option" : "unexpected argument", argv[i]);
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
