/* test_api.c — fe_compile as the back end calls it (frontend.h): the IR of ssrn.hsn (names,
 * dims, inits, fans, order), two domains over one net (shared parameters once, others
 * prefixed, the same index in both graphs), and a shared block seeing two shapes (an error).
 * Expected values are computed by hand in the comments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

static int fails;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);                    \
            fails++;                                                               \
        }                                                                          \
    } while (0)

static int find_param(const ir_program *p, const char *name)
{
    int at = -1, n = 0;
    for (int i = 0; i < p->n_params; i++)
        if (!strcmp(p->params[i].name, name)) at = i, n++;
    return n == 1 ? at : -1 - n;
}

static const ir_node *find_node(const ir_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return &g->nodes[i];
    return NULL;
}

static void check_graph_order(const ir_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) CHECK(g->nodes[i].in[j] < i && g->nodes[i].in[j] >= 0);
    CHECK(g->loss == g->n_nodes - 1);
    CHECK(g->nodes[g->loss].op == IR_LOSS && g->nodes[g->loss].in[0] == g->logits);
    CHECK(g->nodes[g->input].op == IR_INPUT);
}

static void test_ssrn(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ssrn.hsn", dir);
    ir_program *p = fe_compile(path, NULL, 0, NULL, 0, NULL, stdout);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(p->n_graphs == 1 && !strcmp(p->graphs[0].domain, "") && !strcmp(p->net, "ssrn"));
    const ir_graph *g = &p->graphs[0];
    check_graph_order(g);
    long long tr = 0;
    for (int i = 0; i < p->n_params; i++) tr += p->params[i].trainable ? p->params[i].numel : 0;
    CHECK(tr == 364168);
    int c2 = find_param(p, "conv2.weight");       /* [128, 24, 97, 1, 1] */
    CHECK(c2 >= 0);
    if (c2 >= 0) {
        const ir_param *q = &p->params[c2];
        CHECK(q->ndim == 5 && q->dims[0] == 128 && q->dims[1] == 24 && q->dims[2] == 97 && q->dims[3] == 1 && q->dims[4] == 1);
        CHECK(q->init == IR_INIT_HE_NORMAL && q->fan_in == 24 * 97 && q->fan_out == 128 * 97);
        CHECK(q->trainable && !q->shared && q->lr_mult == 1 && q->decay_mult == 1);
    }
    int b2 = find_param(p, "conv2.bias");         /* init given -> bias zeros */
    CHECK(b2 >= 0 && p->params[b2].init == IR_INIT_ZEROS && p->params[b2].dims[0] == 128);
    int rv = find_param(p, "spectral.1.bn_a.running_var");
    CHECK(rv >= 0 && !p->params[rv].trainable && p->params[rv].init == IR_INIT_ONES && p->params[rv].role == IR_RUNNING_VAR);
    int gm = find_param(p, "bn1.weight");
    CHECK(gm >= 0 && p->params[gm].init == IR_INIT_ONES && p->params[gm].role == IR_GAMMA);
    CHECK(find_param(p, "fc.weight") >= 0 && find_param(p, "spatial.bn.running_mean") >= 0);
    const ir_node *c1 = find_node(g, "conv1");     /* [24, 97, 7, 7], stride 2 along D */
    CHECK(c1 && c1->op == IR_CONV && c1->shape.ndim == 4 && c1->shape.d[0] == 24 && c1->shape.d[1] == 97);
    CHECK(c1 && c1->a.conv.stride[0] == 2 && c1->a.conv.kernel[0] == 7 && c1->n_param == 2);
    const ir_node *sa = find_node(g, "spectral.0.conv_a");  /* same: pad 3 on both sides of D */
    CHECK(sa && sa->a.conv.pad_lo[0] == 3 && sa->a.conv.pad_hi[0] == 3 && sa->a.conv.pad_lo[1] == 0);
    const ir_node *bn = find_node(g, "bn1");
    CHECK(bn && bn->op == IR_BN && bn->n_param == 4 && bn->a.bn.eps == 1e-3f && bn->a.bn.momentum == 0.01f);
    const ir_node *pool = find_node(g, "avgpool0");
    CHECK(pool && pool->a.pool.global && pool->a.pool.kernel[0] == 1 && pool->a.pool.kernel[1] == 5);
    CHECK(g->nodes[g->logits].op == IR_DENSE && g->nodes[g->logits].shape.d[0] == 16);
    CHECK(g->n_values == 7 && !strcmp(g->value_names[0], "bands") && !strcmp(g->value_text[0], "200"));
    fe_free(p);
}

static const char two_text[] =
    "shared block trunk(depth = 2) {\n"
    "  repeat depth { residual { conv2d(8, 1, name = a) bn(name = n) } relu }\n"
    "}\n"
    "net small(bands, classes = 3, patch = 3, p = 0.5) {\n"
    "  input [bands, patch, patch]\n"
    "  conv2d(8, 3, name = stem)\n"              /* [8, 1, 1] */
    "  trunk\n"
    "  trunk\n"                                  /* a second call: the same weights */
    "  dropout(p)\n"
    "  conv2d(classes, 1, init = gaussian(0.01), bias_init = constant(1), name = head)\n"
    "  loss softmax_cross_entropy\n"
    "}\n";

static void test_domains(void)
{
    const fe_define da[] = {{.name = "bands", .value = "5"}};
    const fe_define db[] = {{.name = "bands", .value = "7"},
                            {.name = "classes", .value = "4"},
                            {.name = "p", .value = "0.25"}};
    const fe_domain doms[] = {{"A", 1, da}, {"B", 3, db}};
    ir_program *p = fe_compile("two.hsn", two_text, sizeof two_text - 1, NULL, 2, doms, stdout);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(p->n_graphs == 2);
    /* stem, head: 2 each per domain = 8; trunk: 2 iterations x (a: 2, n: 4) = 12, once */
    CHECK(p->n_params == 20);
    int sw = find_param(p, "trunk.0.a.weight");
    CHECK(sw >= 0 && p->params[sw].shared && p->params[sw].dims[1] == 8);
    CHECK(find_param(p, "A.trunk.0.a.weight") == -1 && find_param(p, "trunk1.0.a.weight") == -1);
    int aw = find_param(p, "A.stem.weight"), bw = find_param(p, "B.stem.weight");
    CHECK(aw >= 0 && bw >= 0 && !p->params[aw].shared);
    CHECK(aw >= 0 && p->params[aw].dims[1] == 5 && p->params[aw].numel == 8 * 5 * 9);
    CHECK(bw >= 0 && p->params[bw].dims[1] == 7 && p->params[bw].fan_in == 63 && p->params[bw].fan_out == 72);
    CHECK(aw >= 0 && p->params[aw].init == IR_INIT_TORCH_DEFAULT);
    int hb = find_param(p, "B.head.bias"), hw = find_param(p, "B.head.weight");
    CHECK(hb >= 0 && p->params[hb].init == IR_INIT_CONSTANT && p->params[hb].init_a == 1 && p->params[hb].dims[0] == 4);
    CHECK(hw >= 0 && p->params[hw].init == IR_INIT_GAUSSIAN && p->params[hw].init_a == 0 && p->params[hw].init_b == 0.01f);
    for (int gi = 0; gi < 2; gi++) {
        const ir_graph *g = &p->graphs[gi];
        check_graph_order(g);
        CHECK(!strcmp(g->domain, gi ? "B" : "A"));
        const ir_node *x = find_node(g, "trunk.0.a"), *y = find_node(g, "trunk1.0.a");
        CHECK(x && y && x->param[0] == sw && y->param[0] == sw);
        const ir_node *d = find_node(g, "dropout0");
        CHECK(d && d->a.dropout.p == (gi ? 0.25f : 0.5f));
        CHECK(g->nodes[g->logits].shape.d[0] == (gi ? 4 : 3));
    }
    CHECK(p->graphs[1].n_values == 4 && !strcmp(p->graphs[1].value_text[1], "4") &&
          !strcmp(p->graphs[1].value_text[3], "0.25") && !strcmp(p->graphs[0].value_text[3], "0.5"));
    fe_free(p);
}

/* Runs fe_compile expecting failure; returns its diagnostics. */
static char *compile_fails(const char *text, int n_domains, const fe_domain *doms)
{
    static char buf[8192];
    FILE *f = tmpfile();
    ir_program *p = fe_compile("bad.hsn", text, strlen(text), NULL, n_domains, doms, f);
    CHECK(p == NULL);
    fe_free(p);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_shared_mismatch(void)
{
    const char *text = "shared block s() { conv2d(4, 1, name = c) }\n"
                       "net n(bands) { input [bands, 2, 2]\n s\n conv2d(2, 2)\n loss softmax_cross_entropy }\n";
    const fe_define da[] = {{.name = "bands", .value = "3"}}, db[] = {{.name = "bands", .value = "5"}};
    const fe_domain doms[] = {{"IN", 1, da}, {"UP", 1, db}};
    char *out = compile_fails(text, 2, doms);
    CHECK(strstr(out, "bad.hsn:1:20: error: shared parameter 's.c.weight' is [4, 5, 1, 1] here (domain 'UP') "
                      "but [4, 3, 1, 1] where it was first made") != NULL);
    CHECK(strstr(out, "note: in block 's' called here") != NULL);
    /* one domain, two call sites with different input channels */
    const char *text2 = "shared block s() { conv2d(4, 1, name = c) }\n"
                        "net n() { input [3, 2, 2]\n s\n conv2d(6, 1)\n s\n avgpool(global)\n loss softmax_cross_entropy }\n";
    out = compile_fails(text2, 0, NULL);
    CHECK(strstr(out, "shared parameter 's.c.weight' is [4, 6, 1, 1] here but [4, 3, 1, 1]") != NULL);
    /* domain names must differ */
    const fe_domain same[] = {{"A", 1, da}, {"A", 1, db}};
    out = compile_fails(text, 2, same);
    CHECK(strstr(out, "domain names must be distinct") != NULL);
    /* an unknown -D in the second domain */
    const fe_define bad[] = {{.name = "bnads", .value = "5"}};
    const fe_domain d2[] = {{"A", 1, da}, {"B", 1, bad}};
    out = compile_fails(text, 2, d2);
    CHECK(strstr(out, "has no parameter 'bnads'") != NULL && strstr(out, "did you mean 'bands'?") != NULL);
}

int main(int argc, char **argv)
{
    test_ssrn(argc > 1 ? argv[1] : "netdefs");
    test_domains();
    test_shared_mismatch();
    if (fails) printf("%d checks failed\n", fails);
    else printf("all front-end API checks passed\n");
    return fails != 0;
}
