/* cmd_onnx.c — `hsicc onnx`: a net and its trained weights -> one ONNX model (inference).
 *
 *   hsicc onnx FILE.hsn --weights W.safetensors -o MODEL.onnx [-D k=v ...]
 *              [--domain NAME[:k=v,...] ...] [--domain-name NAME|INDEX] [--batch N|dynamic]
 *              [--net NAME]
 *
 * Compiles the netdef as `emit` does (the same -D and --domain, so parameter names match the
 * trainer's), reads every parameter the chosen domain's graph uses from the safetensors file by
 * its netdef name (emit_read_weights: shape checked, finite), and writes the model atomically
 * (emit/onnx.c translates), or with -o - to standard output (the summary then on stderr).
 * It does not check that -D matches the experiment the weights were trained with beyond the
 * parameter shapes. Exit status: 0, 1 errors in the input (netdef, weights, output), 2 usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "cmd.h"
#include "commands.h"
#include "driver.h"
#include "emit/onnx.h"
#include "frontend.h"
#include "hsi_io.h"
#include "shape.h"

static const char synopsis[] =
    "usage: hsicc onnx FILE.hsn --weights W.safetensors -o MODEL.onnx [-D name=value ...]\n"
    "                  [--domain NAME[:k=v,...] ...] [--domain-name NAME|INDEX]\n"
    "                  [--batch N|dynamic] [--net NAME]\n";

static int usage(void)
{
    fputs(synopsis, stderr);
    return DRV_USAGE;
}

static int help(void)
{
    fputs(synopsis, stdout);
    fputs("\nWrites the inference graph of the net with the weights of W (a trainer's checkpoint:\n"
          "tensors named as in the netdef, PyTorch layouts) as an ONNX model, opset 13: input\n"
          "\"input\" [N, per-sample input dims...], output \"logits\" [N, classes] (\"probabilities\"\n"
          "when the net ends in softmax right before its loss).\n\n"
          "  -D name=value        net parameter, as given to the trainer (bands, classes, patch...)\n"
          "  --domain NAME:k=v,.. one per domain of a multi-domain trainer, as in its experiment\n"
          "  --domain-name D      the domain to export, by name or index (default: the first)\n"
          "  --batch N|dynamic    a fixed batch size, or a symbolic one \"N\" (default)\n"
          "  --net NAME           which net of the file (default: the last)\n\n"
          "See compiler/ONNX.md.\n", stdout);
    return DRV_OK;
}

/* The graph --domain-name picks: a domain's name, else its index; -1 after an error. */
static int pick_graph(const ir_program *p, const char *which)
{
    if (!which) return 0;
    for (int g = 0; g < p->n_graphs; g++)
        if (!strcmp(p->graphs[g].domain, which)) return g;
    int g;
    if (!cmd_int_arg(which, 0, p->n_graphs - 1, &g)) return g;
    fprintf(stderr, "hsicc: error: --domain-name %s: the program has no such domain; it has", which);
    for (int k = 0; k < p->n_graphs; k++)
        fprintf(stderr, "%s %d ('%s')", k ? "," : "", k, p->graphs[k].domain);
    fprintf(stderr, "\n");
    return -1;
}

int cmd_onnx(int argc, char **argv)
{
    drv_common com = {0};
    const char *out = NULL, *weights = NULL, *which = NULL, *batch_arg = NULL;
    int64_t batch = 0;
    for (int i = 1; i < argc; i++) {   /* argv[0] is the subcommand */
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int took = drv_take_common(argc, argv, &i, &com);
        if (took < 0) return usage();
        if (took) {
            i--;   /* drv_take_common advanced past the option; the loop does too */
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            return help();
        } else if (!strcmp(a, "-o") && val) {
            if (drv_once("-o", &out, argv[++i])) return DRV_USAGE;
        } else if (!strcmp(a, "--weights") && val) {
            if (drv_once("--weights", &weights, argv[++i])) return DRV_USAGE;
        } else if (!strcmp(a, "--domain-name") && val) {
            if (drv_once("--domain-name", &which, argv[++i])) return DRV_USAGE;
        } else if (!strcmp(a, "--domain") && val) {
            if (cmd_domain_arg(argv[++i])) return usage();
        } else if (!strcmp(a, "--batch") && val) {
            int n;
            if (drv_once("--batch", &batch_arg, val)) return DRV_USAGE;
            if (!strcmp(val, "dynamic")) batch = 0;
            else if (!cmd_int_arg(val, 1, INT32_MAX, &n)) batch = n;
            else {
                fprintf(stderr, "hsicc: error: --batch expects a positive integer or 'dynamic', "
                                "got '%s'\n", val);
                return DRV_USAGE;
            }
            i++;
        } else if (!val && cmd_missing_value(a, (const char *const[]){"-o", "--weights",
                       "--domain-name", "--domain", "--batch", NULL})) {
            return usage();
        } else if (a[0] == '-') {
            cmd_unknown_option(a, (const char *const[]){"-o", "-D", "--define", "--net", "--weights",
                                                        "--domain-name", "--domain", "--batch",
                                                        "--help", NULL});
            return usage();
        } else if (!com.file) {
            com.file = a;
        } else {
            fprintf(stderr, "hsicc: error: more than one netdef: '%s' and '%s'\n", com.file, a);
            return usage();
        }
    }
    const char *need = !com.file ? "a netdef" : !weights ? "--weights W.safetensors"
                     : !out ? "-o MODEL.onnx" : NULL;
    if (need) {
        fprintf(stderr, "hsicc: error: onnx needs %s\n", need);
        return usage();
    }
    int to_stdout = !strcmp(out, "-");
    if (to_stdout && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "hsicc: error: -o -: standard output is a terminal; send it to a file or a "
                        "pipe (or give -o MODEL.onnx)\n");
        return DRV_USAGE;
    }
    char err[1024];
    if (to_stdout) {
        /* the model is the only thing on stdout */
    } else if (hsi_check_not_input(out, com.file, "netdef", err, sizeof err)
        || hsi_check_not_input(out, weights, "weights file", err, sizeof err)) {
        fprintf(stderr, "hsicc: error: -o %s\n", err);
        return DRV_INPUT_ERROR;
    }
    int n_domains;
    const fe_domain *doms = cmd_domains(&com, &n_domains);
    ir_program *p = fe_compile(com.file, NULL, 0, com.net, n_domains, doms, stderr);
    if (!p) return DRV_INPUT_ERROR;
    int rc = DRV_INPUT_ERROR, g = pick_graph(p, which);
    float **w = calloc((size_t)p->n_params + 1, sizeof *w);
    unsigned char *used = calloc((size_t)p->n_params + 1, 1);
    pb_buf model = {0};
    onnx_stats st;
    if (g < 0 || !w || !used) goto done;
    const ir_node *cl = &p->graphs[g].nodes[p->graphs[g].loss];
    if (cl->a.loss.kind == IR_LOSS_PIXEL_XENT) {   /* the other heads are simply not exported */
        fprintf(stderr, "%s:%d:%d: error: a net whose classification loss is pixel_cross_entropy "
                "(logits %s per sample, a map) is not exported to ONNX\n", cl->span.file,
                cl->span.line, cl->span.col, shape_str(&p->graphs[g].nodes[p->graphs[g].logits].shape,
                                                       (char[96]){0}, 96));
        fprintf(stderr, "hint: the exported output is logits [N, classes]: classify with the trainer "
                        "(predict) or export a net that ends in softmax_cross_entropy\n");
        goto done;
    }
    onnx_used_params(p, g, used);
    if (emit_read_weights(p, weights, used, w)) goto done;
    onnx_options o = {batch, weights};
    if (onnx_encode(p, g, (const float *const *)w, &o, &model, &st)) {
        fprintf(stderr, "hsicc: error: out of memory while encoding the model\n");
        goto done;
    }
    if (model.len > INT32_MAX) {   /* protobuf's limit for one message; no external data here */
        fprintf(stderr, "hsicc: error: the model would take %zu bytes; an ONNX file holds at most "
                        "2 GiB (weights in external data files are not supported)\n", model.len);
        goto done;
    }
    if (to_stdout) {
        signal(SIGPIPE, SIG_IGN);   /* a reader gone is a write error (EPIPE), not a signal */
        errno = 0;
        if (fwrite(model.p, 1, model.len, stdout) != model.len || fflush(stdout) != 0) {
            fprintf(stderr, "hsicc: error: standard output: write failed: %s\n",
                    hsi_write_strerror(errno ? errno : EIO));
            goto done;
        }
    } else if (hsi_atomic_write(out, model.p, model.len, err, sizeof err)) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        goto done;
    }
    FILE *info = to_stdout ? stderr : stdout;
    const ir_graph *ig = &p->graphs[g];
    const ir_shape *in = &ig->nodes[ig->input].shape;
    char num[32], n_str[24] = "N";
    if (batch) snprintf(n_str, sizeof n_str, "%lld", (long long)batch);
    fprintf(info, "wrote %s: net %s%s%s, opset %d, %d nodes, %s parameter values; input [%s",
           to_stdout ? "the model to standard output" : out,
           p->net, *ig->domain ? " domain " : "", ig->domain, ONNX_OPSET, st.nodes,
           drv_thousands(st.values, num, sizeof num), n_str);
    for (int i = 0; i < in->ndim; i++) fprintf(info, ", %lld", (long long)in->d[i]);
    int64_t k = 1;
    for (int i = 0; i < ig->nodes[ig->logits].shape.ndim; i++) k *= ig->nodes[ig->logits].shape.d[i];
    fprintf(info, "], %s [%s, %lld]\n", ig->nodes[ig->logits].op == IR_SOFTMAX ? "probabilities" : "logits",
           n_str, (long long)k);
    rc = DRV_OK;
done:
    free(used);
    pb_free(&model);
    for (int i = 0; w && i < p->n_params; i++) free(w[i]);
    free(w);
    fe_free(p);
    drv_common_free(&com);
    return rc;
}
