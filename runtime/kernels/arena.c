/* arena.c — placing buffers with known live ranges in one block of memory.
 *
 * Shared by the compiler (memory report) and by the emitted create_<d> (real offsets, once the
 * backend has said how many bytes each blocked tensor takes). Greedy first-fit (each buffer at
 * the lowest offset that clears the placed buffers whose lives overlap its own), run for a few
 * orders of the buffers: decreasing size with ties broken by index, by first live step, and by
 * longer life first; the smallest total wins (the earlier order on a tie), so the result is
 * deterministic. Equal-sized tensors are the rule in a CNN (SSRN's spectral section: a dozen of
 * 7.3 MB), and which of them goes first decides the fragmentation: ordered by first step,
 * SSRN's arena at batch 16 is the largest sum of buffers live at one step (82.5 MB), by index
 * 89.4 MB. Not optimal in general: the problem is NP-hard.
 */
#include <stdlib.h>

#include "hsi_kernels.h"

typedef struct placed { size_t off, end; int first, last; } placed;

enum { ORDER_INDEX, ORDER_FIRST, ORDER_LONGER, N_ORDERS };

/* Decreasing size, then the order's tie-breaker, then the index. */
static int before(const hsi_buf *bufs, int order, int a, int b)
{
    const hsi_buf *x = &bufs[a], *y = &bufs[b];
    if (x->bytes != y->bytes) return x->bytes > y->bytes;
    if (order == ORDER_FIRST && x->first != y->first) return x->first < y->first;
    if (order == ORDER_LONGER && x->last - x->first != y->last - y->first)
        return x->last - x->first > y->last - y->first;
    return a < b;
}

/* Merge sort with a context (qsort_r is not C11): `before` is a total order (the index breaks
 * every tie), so any correct sort gives the same permutation. An insertion sort here was
 * quadratic on a 60,000-layer net, whose equal-sized buffers come in the reverse of the
 * longer-life-first order. tmp: n ints. */
static void sort_idx(int *idx, int *tmp, int n, const hsi_buf *bufs, int order)
{
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = before(bufs, order, idx[b], idx[a]) ? idx[b++] : idx[a++];
            while (a < mid) tmp[k++] = idx[a++];
            while (b < hi) tmp[k++] = idx[b++];
        }
        for (int i = 0; i < n; i++) idx[i] = tmp[i];
    }
}

static size_t align_up(size_t x, size_t a) { return a ? (x + a - 1) / a * a : x; }

/* First-fit in one order: the total (HSI_ARENA_TOO_LARGE when it does not fit), offsets in off. */
static size_t first_fit(int n, const hsi_buf *bufs, size_t align, int order, int *idx, int *tmp,
                        placed *done, size_t *off_out)
{
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_idx(idx, tmp, n, bufs, order);
    size_t total = 0;
    int n_done = 0;
    for (int k = 0; k < n; k++) {
        const hsi_buf *b = &bufs[idx[k]];
        if (b->bytes > HSI_ARENA_TOO_LARGE) return HSI_ARENA_TOO_LARGE;
        size_t size = align_up(b->bytes ? b->bytes : 1, align);
        size_t off = 0;
        /* Lowest offset that clears every placed buffer whose life overlaps b's. Restart the
         * scan whenever off moves, since an earlier buffer may now collide. */
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < n_done; j++) {
                const placed *p = &done[j];
                if (p->last < b->first || b->last < p->first) continue;
                if (off < p->end && p->off < off + size) {
                    off = align_up(p->end, align);
                    moved = 1;
                }
            }
        }
        if (off > HSI_ARENA_TOO_LARGE - size) return HSI_ARENA_TOO_LARGE;   /* off + size */
        off_out[idx[k]] = off;
        done[n_done++] = (placed){off, off + size, b->first, b->last};
        if (off + size > total) total = off + size;
    }
    return total;
}

size_t hsi_arena_plan(int n, const hsi_buf *bufs, size_t align, size_t *offsets)
{
    if (n <= 0) return 0;
    int *idx = malloc(sizeof *idx * (size_t)n), *tmp = malloc(sizeof *tmp * (size_t)n);
    placed *done = malloc(sizeof *done * (size_t)n);
    size_t *off = malloc(sizeof *off * (size_t)n);
    size_t best = 0;
    if (idx && tmp && done && off)
        for (int order = 0; order < N_ORDERS; order++) {
            size_t total = first_fit(n, bufs, align, order, idx, tmp, done, off);
            if (order == 0 || total < best) {
                best = total;
                for (int i = 0; i < n; i++) offsets[i] = off[i];
            }
            if (total == HSI_ARENA_TOO_LARGE) break;
        }
    free(idx);
    free(tmp);
    free(done);
    free(off);
    return best;
}

static int root_of(const int *alias, int i, int n)
{
    for (int hops = 0; alias[i] >= 0 && hops < n; hops++) i = alias[i];
    return i;
}

size_t hsi_arena_plan_aliased(int n, const hsi_buf *bufs, const int *alias, size_t align,
                              size_t *offsets)
{
    if (n <= 0) return 0;
    hsi_buf *roots = malloc(sizeof *roots * (size_t)n);
    size_t *roff = malloc(sizeof *roff * (size_t)n);
    int *root = malloc(sizeof *root * (size_t)n);
    if (!roots || !roff || !root) {
        free(roots);
        free(roff);
        free(root);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        root[i] = root_of(alias, i, n);
        roots[i] = (hsi_buf){0, bufs[i].first, bufs[i].last};
    }
    for (int i = 0; i < n; i++) {
        hsi_buf *r = &roots[root[i]];
        if (bufs[i].bytes > r->bytes) r->bytes = bufs[i].bytes;
        if (bufs[i].first < r->first) r->first = bufs[i].first;
        if (bufs[i].last > r->last) r->last = bufs[i].last;
    }
    /* Non-roots become empty buffers that live nowhere, so they take no room. */
    for (int i = 0; i < n; i++)
        if (root[i] != i) roots[i] = (hsi_buf){0, -1, -2};
    size_t total = hsi_arena_plan(n, roots, align, roff);
    for (int i = 0; i < n; i++) offsets[i] = roff[root[i]];
    free(roots);
    free(roff);
    free(root);
    return total;
}
