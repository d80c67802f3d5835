/* test_arena.c — the arena planner never overlaps two live buffers, reuses dead ones, and is
 * deterministic. Random interval sets are checked against the definition (brute force); SSRN's
 * spectral section at batch 16 (its 7.3 MB activations and gradients, live steps as the
 * compiler plans them, sizes scaled to 1000 bytes) fits in the most bytes live at one step. */
#include <stdio.h>
#include <stdlib.h>

#include "hsi_kernels.h"

static unsigned long long rng = 88172645463325252ULL;
static unsigned rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (unsigned)rng; }

/* Two placed buffers whose lives and bytes overlap, among n: by offset, each compared with
 * the ones that start before it ends (few, in a good plan). */
static const hsi_buf *g_b;
static const size_t *g_o;
static int by_off(const void *x, const void *y)
{
    size_t a = g_o[*(const int *)x], b = g_o[*(const int *)y];
    return (a > b) - (a < b);
}

static int overlaps(int n, const hsi_buf *b, const size_t *o)
{
    int *ix = malloc(sizeof *ix * (size_t)n), bad = 0;
    for (int i = 0; i < n; i++) ix[i] = i;
    g_b = b, g_o = o;
    qsort(ix, (size_t)n, sizeof *ix, by_off);
    for (int k = 0; k < n && !bad; k++) {
        const hsi_buf *p = &b[ix[k]];
        if (p->first > p->last) continue;
        for (int m = k + 1; m < n && o[ix[m]] < o[ix[k]] + p->bytes; m++) {
            const hsi_buf *q = &b[ix[m]];
            if (q->first <= q->last && !(p->last < q->first || q->last < p->first)) bad = 1;
        }
    }
    free(ix);
    return bad;
}

/* A net of 40,000 layers in training: the forward activations live until the backward uses
 * them (nested lives: all of them at once at the turn), the gradients a step or two, some
 * buffers aliased away (lives nowhere). First-fit compared each buffer with every placed one
 * (minutes); past its budget the plan is made in time order: still no two live buffers share
 * bytes, and this one fits in the most bytes live at one step. */
static int big_net(void)
{
    enum { L = 40000, N = 2 * L + 1000 };
    hsi_buf *b = malloc(sizeof *b * N);
    size_t *o = malloc(sizeof *o * N);
    int n = 0;
    for (int i = 0; i < L; i++) b[n++] = (hsi_buf){1000, i, 2 * L - i};           /* activations */
    for (int i = 0; i < L; i++) b[n++] = (hsi_buf){1000, 2 * L - i, 2 * L - i + 1}; /* gradients */
    for (int i = 0; i < 1000; i++) b[n++] = (hsi_buf){0, -1, -2};                  /* aliased */
    size_t total = hsi_arena_plan(n, b, 64, o);
    size_t most = (size_t)(L + 1) * 1024;   /* at step 2L - 1: L activations (one ends there)... */
    int fails = 0;
    if (overlaps(n, b, o)) {
        printf("big net: two live buffers share bytes\n");
        fails++;
    }
    for (int i = 0; i < n; i++)
        if (o[i] % 64 || o[i] + b[i].bytes > total) fails++;
    if (total > most) {
        printf("big net: total %zu, most live at one step %zu\n", total, most);
        fails++;
    }
    free(b);
    free(o);
    return fails;
}

int main(void)
{
    int fails = 0;
    /* A chain a->b->c: a and c never live together, so c reuses a's bytes. */
    hsi_buf chain[3] = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}};
    size_t off[3];
    size_t total = hsi_arena_plan(3, chain, 64, off);
    if (total != 2048 || off[0] != off[2]) {
        printf("chain: total %zu offsets %zu %zu %zu\n", total, off[0], off[1], off[2]);
        fails++;
    }
    /* 11 of them live at once; first-fit by size and index alone needed room for 12 */
    hsi_buf ssrn[] = {{1000, 1, 83}, {1000, 2, 82}, {1000, 3, 81}, {1000, 4, 80}, {1000, 5, 6},
                      {1000, 6, 78}, {1000, 7, 77}, {1000, 8, 76}, {1000, 9, 75}, {1000, 10, 11},
                      {1000, 11, 73}, {1000, 12, 13}, {1000, 13, 71}, {1000, 83, 84},
                      {1000, 79, 83}, {1000, 81, 82}, {1000, 80, 81}, {1000, 79, 80},
                      {1000, 74, 79}, {1000, 77, 78}, {1000, 76, 77}, {1000, 75, 76},
                      {1000, 74, 75}, {1000, 73, 74}, {1000, 72, 73}, {1000, 71, 72},
                      {1000, 82, 82}, {1000, 78, 78}};
    enum { N_SSRN = sizeof ssrn / sizeof *ssrn };
    size_t soff[N_SSRN], most = 0;
    for (int s = 0; s <= 84; s++) {
        size_t live = 0;
        for (int i = 0; i < N_SSRN; i++)
            if (ssrn[i].first <= s && s <= ssrn[i].last) live += 1024;
        if (live > most) most = live;
    }
    total = hsi_arena_plan(N_SSRN, ssrn, 64, soff);
    if (most != 11 * 1024 || total != most) {
        printf("ssrn: total %zu, most live at one step %zu\n", total, most);
        fails++;
    }
    for (int trial = 0; trial < 500; trial++) {
        int n = 1 + (int)(rnd() % 40);
        hsi_buf b[40];
        size_t o[40], o2[40], sum = 0;
        for (int i = 0; i < n; i++) {
            int f = (int)(rnd() % 30), l = f + (int)(rnd() % 10);
            b[i] = (hsi_buf){1 + rnd() % 5000, f, l};
            sum += (b[i].bytes + 63) / 64 * 64;
        }
        size_t t = hsi_arena_plan(n, b, 64, o);
        size_t t2 = hsi_arena_plan(n, b, 64, o2);
        if (t != t2) fails++;
        if (t > sum) fails++;
        for (int i = 0; i < n; i++) {
            if (o[i] != o2[i] || o[i] % 64 || o[i] + b[i].bytes > t) fails++;
            for (int j = i + 1; j < n; j++) {
                int live = !(b[i].last < b[j].first || b[j].last < b[i].first);
                int mem = o[i] < o[j] + b[j].bytes && o[j] < o[i] + b[i].bytes;
                if (live && mem) {
                    printf("trial %d: buffers %d and %d overlap\n", trial, i, j);
                    fails++;
                }
            }
        }
    }
    fails += big_net();
    printf("%s\n", fails ? "FAIL" : "ok");
    return fails != 0;
}
