/* test_input.c — a full batch at a 64-byte aligned address is read in place (hsi_model_input_to)
 * and computes what the copied batch computes, on both committed nets (generated/ssrn.c,
 * generated/contextual.c) and both backends:
 *   - the model borrows the batch (one of its buffers is x) only when it is aligned, full, and
 *     HSICC_NO_INPUT_BORROW is not set; a partial batch or an unaligned one is copied again;
 *   - training forward + backward on the borrowed batch gives the bits the copied one gives
 *     (logits, loss, every gradient), and x is unchanged afterwards;
 *   - inference the same (logits), and a partial batch after a borrowed one pads with zeros as
 *     before (its logits equal those of the model that copied every batch).
 * Usage: test_input ssrn|contextual [ref] */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi.h"
#include "hsi_init.h"
#include "hsi_model.h"

extern const hsi_netdesc ssrn_net, contextual_net;
enum { B = 4 };

static int fails;
#define CHECK(c, ...) do { if (!(c)) { fails++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static const hsi_netdesc *net;

static hsi_model *make(hsi_backend be)
{
    char err[512];
    hsi_model_opts o = {B, be, 7};
    hsi_model *m = net->create(&o, err, sizeof err);
    if (!m) {
        printf("create: %s\n", err);
        exit(1);
    }
    hsi_param *ps;
    int np = net->params(m, &ps);
    hsi_init_params(ps, np, 11);
    return m;
}

/* 1 when one of the domain's buffers is x itself */
static int borrows(const hsi_model *m, const float *x)
{
    for (int i = 0; i < m->spec->code[0].n_bufs; i++)
        if (m->dom[0].buf[i] == x) return 1;
    return 0;
}

/* every gradient of m and m2 the same bits */
static int same_grads(hsi_model *m, hsi_model *m2)
{
    hsi_param *p, *q;
    int np = net->params(m, &p);
    net->params(m2, &q);
    for (int i = 0; i < np; i++)
        if (p[i].grad && memcmp(p[i].grad, q[i].grad, sizeof(float) * (size_t)p[i].numel)) {
            printf("  gradient of %s differs\n", p[i].name);
            return 0;
        }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "ssrn") && strcmp(argv[1], "contextual"))) {
        fprintf(stderr, "usage: test_input ssrn|contextual [ref]\n");
        return 2;
    }
    net = strcmp(argv[1], "ssrn") ? &contextual_net : &ssrn_net;
    hsi_backend be = argc > 2 && !strcmp(argv[2], "ref") ? HSI_BACKEND_REF : HSI_BACKEND_DNNL;
    const hsi_domain *d = &net->domains[0];
    size_t per = 1;
    for (int k = 0; k < d->ndim; k++) per *= (size_t)d->in_dims[k];
    size_t bytes = (sizeof(float) * per * B + 63) / 64 * 64;
    /* the same batch at an aligned address and one float past one */
    float *x = aligned_alloc(64, bytes), *xu_block = aligned_alloc(64, bytes + 64);
    float *keep = malloc(sizeof(float) * per * B), *xu = xu_block + 1;
    srand(3);
    for (size_t k = 0; k < per * B; k++) x[k] = (float)rand() / RAND_MAX - 0.5f;
    memcpy(xu, x, sizeof(float) * per * B);
    memcpy(keep, x, sizeof(float) * per * B);
    int32_t y[B];
    for (int k = 0; k < B; k++) y[k] = (k * 5 + 1) % d->classes;
    int K = d->classes;

    hsi_model *a = make(be), *u = make(be);
    const char *off = getenv("HSICC_NO_INPUT_BORROW");
    int expect = !(off && *off && strcmp(off, "0"));
    for (int step = 0; step < 3; step++) {   /* a few steps: the borrowed pointer is reset each time */
        net->zero_grad(a);
        net->zero_grad(u);
        net->forward(a, 0, x, B, 1, (uint64_t)step);
        net->forward(u, 0, xu, B, 1, (uint64_t)step);
        CHECK(borrows(a, x) == expect, "step %d: aligned full batch borrowed %d, expected %d", step,
              borrows(a, x), expect);
        CHECK(!borrows(u, xu), "step %d: an unaligned batch is read in place", step);
        float la = net->loss_backward(a, 0, y, B, 1.0f), lu = net->loss_backward(u, 0, y, B, 1.0f);
        CHECK(la == lu, "step %d: loss %.9g (borrowed) vs %.9g (copied)", step, la, lu);
        CHECK(!memcmp(net->logits(a, 0), net->logits(u, 0), sizeof(float) * B * (size_t)K),
              "step %d: training logits differ", step);
        CHECK(same_grads(a, u), "step %d: gradients differ", step);
        CHECK(!memcmp(x, keep, sizeof(float) * per * B), "step %d: the borrowed batch was written", step);
    }
    net->forward(a, 0, x, B, 0, 0);
    net->forward(u, 0, xu, B, 0, 0);
    CHECK(!memcmp(net->logits(a, 0), net->logits(u, 0), sizeof(float) * B * (size_t)K),
          "inference logits differ");
    /* a partial batch after a borrowed one: copied, zero-padded, as the model that never
     * borrowed (u: the same steps, so the same running statistics) */
    net->forward(a, 0, x, B - 1, 0, 0);
    net->forward(u, 0, xu, B - 1, 0, 0);
    CHECK(!borrows(a, x), "a partial batch is read in place");
    CHECK(!memcmp(net->logits(a, 0), net->logits(u, 0), sizeof(float) * (B - 1) * (size_t)K),
          "partial batch after a borrowed one: logits differ from the copying model's");
    CHECK(!memcmp(x, keep, sizeof(float) * per * B), "the batch was written");
    net->destroy(a);
    net->destroy(u);
    free(x);
    free(xu_block);
    free(keep);
    if (!fails) printf("ok: %s %s, batch borrowed: %d\n", argv[1], be == HSI_BACKEND_REF ? "ref" : "dnnl", expect);
    return fails != 0;
}
