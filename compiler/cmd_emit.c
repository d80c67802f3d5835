/* cmd_emit.c — `hsicc emit`: netdef -> DIR/<stem>.c + DIR/<stem>.h, and the memory report.
 *
 *   hsicc emit FILE.hsn -o DIR [-D k=v ...] [--domain NAME[:k=v,...] ...] [--name STEM]
 *              [--backend dnnl|ref] [--batch N] [--no-fuse] [--no-rewrite] [--net NAME]
 *   hsicc emit FILE.hsn --infer [--weights W.safetensors] -o DIR ...   (the inference module)
 *
 * Several --domain give one program with one graph per domain and shared blocks shared.
 * Exit status: 0, 1 errors in the input, 2 usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "paths.h"
#include "cmd.h"
#include "diag.h"
#include "driver.h"
#include "frontend.h"
#include "hsi_io.h"

#define MAX_DEFS 256
#define MAX_DOMAINS 32

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: hsicc emit FILE.hsn -o DIR [-D name=value ...] [--domain NAME[:k=v,...] ...]\n"
            "                  [--name STEM] [--backend dnnl|ref] [--batch N] [--no-fuse]\n"
            "                  [--no-rewrite] [--net NAME] [--infer [--weights W.safetensors]]\n");
}

static int usage(void)
{
    print_usage(stderr);
    return 2;
}

int cmd_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

int cmd_int_arg(const char *s, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

int cmd_missing_value(const char *a, const char *const *opts)
{
    for (; *opts; opts++)
        if (!strcmp(a, *opts)) {
            fprintf(stderr, "hsicc: error: %s needs a value\n", a);
            return 1;
        }
    return 0;
}

void cmd_unknown_option(const char *a, const char *const *known)
{
    int n = 0;
    while (known[n]) n++;
    fprintf(stderr, "hsicc: error: unknown option '%s'\n", a);
    const char *s = diag_suggest(a, known, n);
    if (s) fprintf(stderr, "hint: did you mean '%s'?\n", s);
}

/* The --domain options seen so far (one command per process: static). */
static fe_define dom_defs[MAX_DOMAINS][MAX_DEFS];
static int n_dom_defs[MAX_DOMAINS];
static char *dom_names[MAX_DOMAINS];
static char *dom_origins[MAX_DOMAINS];   /* "--domain NAME:k=v,...": where its values come from */
static int n_doms;

int cmd_domain_arg(const char *val)
{
    if (n_doms == MAX_DOMAINS) {
        fprintf(stderr, "hsicc: error: more than %d --domain options\n", MAX_DOMAINS);
        return 2;
    }
    int d = n_doms;
    char *name = dom_names[d] = strdup(val);
    char *dom_origin = dom_origins[d] = malloc(strlen(val) + sizeof "--domain ");
    if (!name || !dom_origin) {
        perror("hsicc");
        exit(1);
    }
    snprintf(dom_origin, strlen(val) + sizeof "--domain ", "--domain %s", val);
    char *colon = strchr(name, ':');
    if (colon) *colon = 0;
    /* the name prefixes parameter names and lands in the emitted C */
    int word = *name && !(*name >= '0' && *name <= '9');
    for (const char *q = name; *q; q++)
        word &= (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
                *q == '_';
    if (!word) {
        fprintf(stderr, "hsicc: error: --domain '%s': '%s' is not a domain name (letters, digits, _; "
                        "not starting with a digit)\n", val, name);
        return 2;
    }
    if (strlen(name) > 63) {   /* it prefixes parameter names and lands in the emitted C */
        fprintf(stderr, "hsicc: error: --domain '%.40s...': a domain name of %zu characters (at most "
                        "63, as a netdef's identifiers)\n", name, strlen(name));
        return 2;
    }
    for (int e = 0; e < d; e++)
        if (!strcmp(dom_names[e], name)) {
            fprintf(stderr, "hsicc: error: domain '%s' is given twice: '%s' and '%s'\n", name,
                    dom_origins[e], dom_origin);
            return 2;
        }
    if (colon) {   /* k=v,k=v: no empty item ("a:", "a:k=1,,j=2"), each name once */
        for (char *kv = colon + 1, *next; kv; kv = next) {
            next = strchr(kv, ',');
            if (next) *next++ = 0;
            if (n_dom_defs[d] == MAX_DEFS) {   /* not "expected k=v": this one may be fine */
                fprintf(stderr, "hsicc: error: --domain %s: more than %d values\n", name, MAX_DEFS);
                return 2;
            }
            fe_define *df = &dom_defs[d][n_dom_defs[d]];
            if (drv_parse_define(kv, df)) {
                fprintf(stderr, "hsicc: error: --domain %s: expected k=v, got '%s'\n", val, kv);
                return 2;
            }
            if (drv_find_define(dom_defs[d], n_dom_defs[d], df->name)) {
                fprintf(stderr, "hsicc: error: --domain %s: '%s' is given twice\n", val, df->name);
                return 2;
            }
            df->origin = dom_origin;
            n_dom_defs[d]++;
        }
    }
    n_doms++;
    return 0;
}

const fe_domain *cmd_domains(const drv_common *com, int *n)
{
    static fe_domain doms[MAX_DOMAINS];
    int n_defs = com->n_defines;
    const fe_define *defs = com->defines;
    /* every domain gets the global -D first, then its own (later wins) */
    if (n_doms == 0) {
        doms[0] = (fe_domain){"", n_defs, defs};
        *n = 1;
        return doms;
    }
    for (int d = 0; d < n_doms; d++) {
        fe_define *all = calloc((size_t)(n_defs + n_dom_defs[d]) + 1, sizeof *all);
        if (!all) { perror("hsicc"); exit(1); }
        if (n_defs) memcpy(all, defs, sizeof *all * (size_t)n_defs);   /* defs may be NULL */
        memcpy(all + n_defs, dom_defs[d], sizeof *all * (size_t)n_dom_defs[d]);
        doms[d] = (fe_domain){dom_names[d], n_defs + n_dom_defs[d], all};
    }
    *n = n_doms;
    return doms;
}

int cmd_compile_args(int argc, char **argv, cmd_compile *c)
{
    static drv_common com;
    const char *backend = NULL, *batch = NULL;   /* as given, to refuse them given twice */
    memset(c, 0, sizeof *c);
    c->batch = 16;
    c->opt = (be_options){1, 1, 16};
    for (int i = 1; i < argc; i++) {   /* argv[0] is the subcommand */
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int took = drv_take_common(argc, argv, &i, &com);
        if (took < 0) return DRV_USAGE;
        if (took) {
            i--;   /* drv_take_common advanced past the option; the loop does too */
            continue;
        }
        if (!strcmp(a, "-o") && val) {
            if (drv_once("-o", &c->out_dir, argv[++i])) return 2;
        } else if (!strcmp(a, "--name") && val) {
            if (drv_once("--name", &c->stem, argv[++i])) return 2;
        } else if (!strcmp(a, "--backend") && val) {
            if (drv_once("--backend", &backend, argv[++i])) return 2;
        } else if (!strncmp(a, "--backend=", 10)) {
            if (drv_once("--backend", &backend, a + 10)) return 2;
        } else if (!strcmp(a, "--batch") && val) {
            if (drv_once("--batch", &batch, val)) return 2;
            if (cmd_int_arg(val, 1, 1 << 20, &c->batch)) {
                fprintf(stderr, "hsicc: error: --batch expects a positive integer, got '%s'\n", val);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--infer")) {
            c->infer = 1;
        } else if (!strcmp(a, "--weights") && val) {
            if (drv_once("--weights", &c->weights, argv[++i])) return 2;
        } else if (!strcmp(a, "--no-fuse")) {
            c->opt.fuse = 0;
        } else if (!strcmp(a, "--no-rewrite")) {
            c->opt.rewrite = 0;
        } else if (!strcmp(a, "--domain") && val) {
            if (cmd_domain_arg(val)) return usage();
            i++;
        } else if (!val && cmd_missing_value(a, (const char *const[]){"-o", "--name", "--backend", "--weights",
                                                                       "--batch", "--domain", NULL})) {
            return usage();
        } else if (a[0] == '-') {
            cmd_unknown_option(a, (const char *const[]){"-o", "-D", "--define", "--net", "--name",
                                                        "--backend", "--batch", "--infer",
                                                        "--weights", "--no-fuse", "--no-rewrite",
                                                        "--domain", "--help", NULL});
            return usage();
        } else if (!c->file) {
            c->file = a;
            com.file = a;
        } else {
            fprintf(stderr, "hsicc: error: more than one netdef: '%s' and '%s'\n", c->file, a);
            return usage();
        }
    }
    if (!c->file) return usage();
    c->backend = backend ? backend : "dnnl";
    if (c->batch <= 0) {
        fprintf(stderr, "hsicc: error: --batch must be a positive integer\n");
        return 2;
    }
    if (strcmp(c->backend, "dnnl") && strcmp(c->backend, "ref")) {
        fprintf(stderr, "hsicc: error: --backend must be dnnl or ref, got '%s'\n", c->backend);
        return 2;
    }
    c->opt.batch = c->batch;
    c->net = com.net;
    c->domains = cmd_domains(&com, &c->n_domains);
    return 0;
}

/* The stem: --name, else the netdef's file name without directory and extension, as a C
 * identifier. */
static void default_stem(const char *file, char *out, size_t n)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t k = 0;
    for (const char *c = base; *c && *c != '.' && k + 1 < n; c++)
        out[k++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
                       ? *c : '_';
    out[k] = 0;
    if (!k || (out[0] >= '0' && out[0] <= '9')) {   /* "1net.hsn" -> net_1net, as a C name */
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%s", out);
        snprintf(out, n, "net_%.100s", tmp);
    }
}

int cmd_emit(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv)) return print_usage(stdout), 0;
    cmd_compile c;
    int rc = cmd_compile_args(argc, argv, &c);
    if (rc) return rc;
    if (!c.out_dir) {
        fprintf(stderr, "hsicc: error: emit needs -o DIR\n");
        return usage();
    }
    if (drv_not_stdout("-o", c.out_dir, "emit writes a folder (<stem>.c and .h)")) return 2;
    /* usage errors first: they create nothing (no DIR) and compile nothing */
    if (c.weights && !c.infer) {
        fprintf(stderr, "hsicc: error: --weights goes with --infer (the inference module)\n");
        return 2;
    }
    char stem[128];
    if (c.stem && strlen(c.stem) >= sizeof stem) {   /* not cut short into another name */
        fprintf(stderr, "hsicc: error: --name is %zu characters long, at most %zu\n", strlen(c.stem),
                sizeof stem - 1);
        return 2;
    }
    if (c.stem) snprintf(stem, sizeof stem, "%s", c.stem);
    else default_stem(c.file, stem, sizeof stem);
    int word = stem[0] && !(stem[0] >= '0' && stem[0] <= '9');
    for (const char *q = stem; *q; q++)
        word &= (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
                *q == '_';
    if (!word) {   /* <stem>_net, <stem>_create ... are C identifiers */
        fprintf(stderr, "hsicc: error: --name '%s' is not a C identifier (letters, digits, _; not "
                        "starting with a digit)\n", stem);
        return 2;
    }
    if (drv_stem_reserved(stem)) {   /* <stem>.h beside <stem>.c, <stem>_create: the runtime's */
        if (c.stem) fprintf(stderr, "hsicc: error: --name '%s': %s; choose another\n", stem,
                            DRV_STEM_RESERVED_WHY);
        else fprintf(stderr, "hsicc: error: %s: the stem '%s' (from the file name): %s\n"
                             "hint: give another with --name STEM\n", c.file, stem, DRV_STEM_RESERVED_WHY);
        return c.stem ? 2 : 1;
    }
    ir_program *p = fe_compile(c.file, NULL, 0, c.net, c.n_domains, c.domains, stderr);
    if (!p) return 1;
    char rerr[400];
    int made = mkdir(c.out_dir, 0777) == 0;   /* removed again if nothing is written into it */
    if (!made && errno != EEXIST) {
        fprintf(stderr, "hsicc: error: cannot create %s: %s\n", c.out_dir, strerror(errno));
        fe_free(p);
        return 1;
    }
    if (hsi_check_out_dir(c.out_dir, rerr, sizeof rerr)) {
        fprintf(stderr, "hsicc: error: %s\n", rerr);
        fe_free(p);
        return 1;
    }
    be_program *bp = be_lower(p, &c.opt);
    char cmdline[2048];
    int k = snprintf(cmdline, sizeof cmdline, "hsicc emit");
    for (int i = 1; i < argc && k < (int)sizeof cmdline - 200; i++) {
        if (!strcmp(argv[i], "-o")) { i++; continue; }   /* keep the output path out: golden files */
        k += snprintf(cmdline + k, sizeof cmdline - (size_t)k, " %s", argv[i]);
    }
    if (c.infer) {
        char err[4096];
        const hsicc_paths *rt = hsicc_locate(err, sizeof err);
        if (!rt) fprintf(stderr, "%s\n", err);
        rc = !rt || emit_infer_module(bp, c.out_dir, stem, c.weights, rt->include, rt->runtime_src,
                                      cmdline);
        if (!rc) {
            printf("wrote %s/%s_infer.c, %s/%s_infer.h and %s/hsirt/ (the runtime subset)\n",
                   c.out_dir, stem, c.out_dir, stem, c.out_dir);
            be_print_scene(stdout, bp);
        }
    } else {
        rc = emit_program(bp, c.out_dir, stem, c.backend, cmdline);
    }
    if (!rc && !c.infer) {
        printf("wrote %s/%s.c and %s/%s.h\n", c.out_dir, stem, c.out_dir, stem);
        be_print_memory(stdout, bp);
        be_print_scene(stdout, bp);
    }
    if (rc && made) rmdir(c.out_dir);   /* a failed emission leaves nothing behind */
    be_free(bp);
    fe_free(p);
    return rc;
}
