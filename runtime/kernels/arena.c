/* arena.c — placing buffers with known live ranges in one block of memory.
 *
 * Shared by the compiler (memory report) and by the emitted create_<d> (real offsets, once the
 * backend has said how many bytes each blocked tensor takes). Greedy first-fit in order of
 * decreasing size (ties: lower index first), so the result is deterministic. Not optimal:
 * the problem is NP-hard, and for chain-like nets this is within a few percent of the peak.
 */
#include <stdlib.h>

#include "hsi_kernels.h"

typedef struct placed { size_t off, end; int first, last; } placed;

static int by_size_desc(const void *pa, const void *pb, void *ctx)
{
    const hsi_buf *bufs = ctx;
    int a = *(const int *)pa, b = *(const int *)pb;
    if (bufs[a].bytes != bufs[b].bytes) return bufs[a].bytes > bufs[b].bytes ? -1 : 1;
    return a - b;
}

/* Insertion sort with a context: n is a few hundred at most, and qsort_r is not C11. */
static void sort_idx(int *idx, int n, const hsi_buf *bufs)
{
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i - 1;
        while (j >= 0 && by_size_desc(&idx[j], &v, (void *)bufs) > 0) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = v;
    }
}

static size_t align_up(size_t x, size_t a) { return a ? (x + a - 1) / a * a : x; }

size_t hsi_arena_plan(int n, const hsi_buf *bufs, size_t align, size_t *offsets)
{
    if (n <= 0) return 0;
    int *idx = malloc(sizeof *idx * (size_t)n);
    placed *done = malloc(sizeof *done * (size_t)n);
    if (!idx || !done) {
        free(idx);
        free(done);
        return 0;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_idx(idx, n, bufs);

    size_t total = 0;
    int n_done = 0;
    for (int k = 0; k < n; k++) {
        const hsi_buf *b = &bufs[idx[k]];
        if (b->bytes > HSI_ARENA_TOO_LARGE) {
            total = HSI_ARENA_TOO_LARGE;
            break;
        }
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
        if (off > HSI_ARENA_TOO_LARGE - size) {   /* off + size would not fit */
            total = HSI_ARENA_TOO_LARGE;
            break;
        }
        offsets[idx[k]] = off;
        done[n_done++] = (placed){off, off + size, b->first, b->last};
        if (off + size > total) total = off + size;
    }
    free(idx);
    free(done);
    return total;
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
