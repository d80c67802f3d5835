/* test_profile.c — the per-op profile (HSI_PROFILE, hsi_rt_profile) and hsi_model_trim on the
 * committed SSRN net (generated/ssrn.c, batch 4):
 *   flops   the conv / dense FLOPs hsi_rt_profile reports equal SSRN's shapes counted by hand,
 *           and without HSI_PROFILE no call is timed
 *   timed   with HSI_PROFILE=1 every conv op is timed once per pass and named by its weights
 *   trim    a trimmed model gives back at least half its arena's resident pages and then
 *           computes bit for bit what an untrimmed twin computes
 * Usage: test_profile flops|timed|trim */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi.h"
#include "hsi_init.h"
#include "hsi_kernels.h"
#include "hsi_model.h"

extern const hsi_netdesc ssrn_net;
enum { B = 4, PER = 200 * 7 * 7 };

static int fails;
#define CHECK(c, ...) do { if (!(c)) { fails++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static hsi_model *make(void)
{
    char err[512];
    hsi_model_opts o = {B, HSI_BACKEND_DNNL, 7};
    hsi_model *m = ssrn_net.create(&o, err, sizeof err);
    if (!m) {   /* a build without oneDNN */
        o.backend = HSI_BACKEND_REF;
        m = ssrn_net.create(&o, err, sizeof err);
    }
    if (!m) {
        printf("create: %s\n", err);
        exit(1);
    }
    hsi_param *ps;
    int np = ssrn_net.params(m, &ps);
    hsi_init_params(ps, np, 11);
    return m;
}

static float xs[B * PER];
static const int32_t ys[B] = {0, 5, 9, 15};

static void step(hsi_model *m, uint64_t it)
{
    ssrn_net.zero_grad(m);
    ssrn_net.forward(m, 0, xs, B, 1, it);
    ssrn_net.loss_backward(m, 0, ys, B, 1.0f);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static int test_flops(void)
{
    unsetenv("HSI_PROFILE");
    hsi_model *m = make();
    step(m, 0);
    hsi_rt *rt = m->rt;
    int n = hsi_rt_profile(rt, NULL, 0);
    hsi_op_profile *p = calloc((size_t)n, sizeof *p);
    CHECK(hsi_rt_profile(rt, p, n) == n, "count");
    double fwd = 0, bwd = 0;
    for (int i = 0; i < n; i++) {
        fwd += p[i].flops[0];
        bwd += p[i].flops[1];
        CHECK(p[i].calls[0] == 0 && p[i].calls[1] == 0 && p[i].seconds[0] == 0,
              "op %d (%s) timed without HSI_PROFILE", i, p[i].kind);
    }
    /* multiply-adds per sample: conv1 (1 -> 24, 7 taps) onto 24x97x7x7; four 24 -> 24 7-tap
     * spectral convs; conv2 (24 x 97 -> 128) onto 128x7x7; conv3 (128 x 3x3 -> 24) onto 24x5x5;
     * four 24 -> 24 3x3 spatial convs; fc 24 -> 16 */
    double conv1 = 24.0 * 97 * 49 * 7, spectral = 4 * 24.0 * 97 * 49 * 24 * 7;
    double rest = 128.0 * 49 * 24 * 97 + 24.0 * 25 * 128 * 9 + 4 * 24.0 * 25 * 24 * 9 + 24.0 * 16;
    double want_fwd = 2 * B * (conv1 + spectral + rest);
    double want_bwd = 2 * B * (conv1 + 2 * (spectral + rest));   /* conv1: no input gradient */
    CHECK(fwd == want_fwd, "forward FLOPs %.0f, counted by hand %.0f", fwd, want_fwd);
    CHECK(bwd == want_bwd, "backward FLOPs %.0f, counted by hand %.0f", bwd, want_bwd);
    free(p);
    ssrn_net.destroy(m);
    return 0;
}

static int test_timed(void)
{
    setenv("HSI_PROFILE", "1", 1);
    hsi_model *m = make();
    CHECK(hsi_rt_profiling(m->rt), "HSI_PROFILE=1 did not turn profiling on");
    step(m, 0);
    hsi_rt_profile_reset(m->rt);
    step(m, 1);
    step(m, 2);
    hsi_param *ps;
    int np = ssrn_net.params(m, &ps);
    int n = hsi_rt_profile(m->rt, NULL, 0), convs = 0;
    hsi_op_profile *p = calloc((size_t)n, sizeof *p);
    hsi_rt_profile(m->rt, p, n);
    for (int i = 0; i < n; i++) {
        if (strcmp(p[i].kind, "conv")) continue;
        convs++;
        CHECK(p[i].calls[0] == 2 && p[i].calls[1] == 2, "conv op %d: %lld forward and %lld backward "
              "calls in 2 steps", i, (long long)p[i].calls[0], (long long)p[i].calls[1]);
        CHECK(p[i].seconds[0] > 0 && p[i].seconds[1] > 0, "conv op %d: no time recorded", i);
        const char *name = NULL;
        for (int k = 0; k < np; k++)
            if (ps[k].value == p[i].key) name = ps[k].name;
        CHECK(name && strstr(name, ".weight"), "conv op %d: its key is not a weight (%s)", i,
              name ? name : "none");
    }
    CHECK(convs == 11, "%d conv ops, SSRN has 11", convs);
    free(p);
    ssrn_net.destroy(m);
    unsetenv("HSI_PROFILE");
    return 0;
}

static int test_trim(void)
{
    hsi_model *a = make(), *b = make();
    step(a, 0);
    step(b, 0);
    long before = rss_kb();
    hsi_model_trim(a);
    long after = rss_kb();
    CHECK(before - after >= (long)(a->arena_bytes / 1024 / 2), "trim gave back %ld kB of a %zu kB "
          "arena", before - after, a->arena_bytes / 1024);
    step(a, 1);
    step(b, 1);
    const float *la = ssrn_net.logits(a, 0), *lb = ssrn_net.logits(b, 0);
    CHECK(!memcmp(la, lb, sizeof(float) * B * 16), "logits differ after trim");
    hsi_param *pa, *pb;
    int np = ssrn_net.params(a, &pa);
    ssrn_net.params(b, &pb);
    for (int i = 0; i < np; i++) {
        CHECK(!memcmp(pa[i].value, pb[i].value, sizeof(float) * (size_t)pa[i].numel),
              "%s differs after trim", pa[i].name);
        if (pa[i].grad)
            CHECK(!memcmp(pa[i].grad, pb[i].grad, sizeof(float) * (size_t)pa[i].numel),
                  "gradient of %s differs after trim", pa[i].name);
    }
    ssrn_net.destroy(a);
    ssrn_net.destroy(b);
    return 0;
}

int main(int argc, char **argv)
{
    srand(3);
    for (int i = 0; i < B * PER; i++) xs[i] = (float)rand() / RAND_MAX - 0.5f;
    if (argc != 2) return fprintf(stderr, "usage: %s flops|timed|trim\n", argv[0]), 2;
    if (!strcmp(argv[1], "flops")) test_flops();
    else if (!strcmp(argv[1], "timed")) test_timed();
    else if (!strcmp(argv[1], "trim")) test_trim();
    else return fprintf(stderr, "unknown test %s\n", argv[1]), 2;
    printf("%s: %s\n", argv[1], fails ? "FAILED" : "ok");
    return fails != 0;
}
