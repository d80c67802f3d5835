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
 *
 * First-fit compares each buffer with every placed one whose life overlaps its own: quadratic,
 * and a net of 100,000 layers (its activations all live until the backward pass) took minutes,
 * in the compiler's report and in every trainer's create(). Past a budget of comparisons
 * (FIT_BUDGET: never reached by a net of a few thousand layers) the plan is made instead in
 * time order, as an allocator would (each buffer at the lowest free offset when its life
 * starts, its bytes free again after its last step): about linear, deterministic too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

#define FIT_BUDGET ((int64_t)1 << 28)   /* comparisons of first-fit, all orders together */
#define OVER_BUDGET SIZE_MAX

/* First-fit in one order: the total (HSI_ARENA_TOO_LARGE when it does not fit; OVER_BUDGET
 * when *work passes FIT_BUDGET), offsets in off. */
static size_t first_fit(int n, const hsi_buf *bufs, size_t align, int order, int *idx, int *tmp,
                        placed *done, size_t *off_out, int64_t *work)
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
            if ((*work += n_done) > FIT_BUDGET) return OVER_BUDGET;
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

/* The free bytes of the time-ordered plan: ranges [off, end), by offset, none adjacent. */
typedef struct span { size_t off, end; } span;
typedef struct free_list { int n, cap; span *v; } free_list;

/* Makes [off, end) free, merged with its neighbours. 0, or -1 out of memory. */
static int release(free_list *fl, size_t off, size_t end)
{
    int lo = 0, hi = fl->n;   /* the first range after off */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (fl->v[mid].off < off) lo = mid + 1;
        else hi = mid;
    }
    int join_prev = lo > 0 && fl->v[lo - 1].end == off, join_next = lo < fl->n && fl->v[lo].off == end;
    if (join_prev && join_next) {
        fl->v[lo - 1].end = fl->v[lo].end;
        memmove(&fl->v[lo], &fl->v[lo + 1], sizeof *fl->v * (size_t)(fl->n - lo - 1));
        fl->n--;
    } else if (join_prev) {
        fl->v[lo - 1].end = end;
    } else if (join_next) {
        fl->v[lo].off = off;
    } else {
        if (fl->n == fl->cap) {
            int cap = fl->cap ? 2 * fl->cap : 64;
            span *v = realloc(fl->v, sizeof *v * (size_t)cap);
            if (!v) return -1;
            fl->v = v;
            fl->cap = cap;
        }
        memmove(&fl->v[lo + 1], &fl->v[lo], sizeof *fl->v * (size_t)(fl->n - lo));
        fl->v[lo] = (span){off, end};
        fl->n++;
    }
    return 0;
}

/* Time order: at each step the buffers whose life ended are freed, then those whose life
 * starts take the lowest free range that holds them (or the top of the arena). idx, tmp: n
 * ints each. The total (HSI_ARENA_TOO_LARGE when it does not fit, or out of memory). */
static size_t time_fit(int n, const hsi_buf *bufs, size_t align, int *idx, int *tmp, size_t *off)
{
    int *by_last = malloc(sizeof *by_last * (size_t)n);
    free_list fl = {0};
    size_t top = 0, total = 0;
    if (!by_last) return HSI_ARENA_TOO_LARGE;
    for (int i = 0; i < n; i++) idx[i] = by_last[i] = i;
    /* idx by first step, by_last by last step (then by index: keys of no size) */
    hsi_buf *key = malloc(sizeof *key * (size_t)n);
    if (!key) {
        free(by_last);
        return HSI_ARENA_TOO_LARGE;
    }
    for (int i = 0; i < n; i++) key[i] = (hsi_buf){0, bufs[i].first, bufs[i].last};
    sort_idx(idx, tmp, n, key, ORDER_FIRST);
    for (int i = 0; i < n; i++) key[i].first = bufs[i].last;
    sort_idx(by_last, tmp, n, key, ORDER_FIRST);
    free(key);
    int freed = 0;
    for (int k = 0; k < n && total != HSI_ARENA_TOO_LARGE; k++) {
        const hsi_buf *b = &bufs[idx[k]];
        if (b->bytes > HSI_ARENA_TOO_LARGE) {
            total = HSI_ARENA_TOO_LARGE;
            break;
        }
        size_t size = align_up(b->bytes ? b->bytes : 1, align);
        if (b->first > b->last) {   /* lives nowhere: at 0, as first-fit puts it */
            off[idx[k]] = 0;
            if (size > total) total = size;
            continue;
        }
        for (; freed < n && bufs[by_last[freed]].last < b->first; freed++) {
            const hsi_buf *d = &bufs[by_last[freed]];
            if (d->first <= d->last &&
                release(&fl, off[by_last[freed]], off[by_last[freed]] + align_up(d->bytes ? d->bytes : 1, align))) {
                total = HSI_ARENA_TOO_LARGE;
                break;
            }
        }
        if (total == HSI_ARENA_TOO_LARGE) break;
        int j = 0;
        while (j < fl.n && fl.v[j].end - fl.v[j].off < size && fl.v[j].end != top) j++;
        size_t at;
        if (j < fl.n) {   /* a free range that holds it, or the last one, below the top */
            at = fl.v[j].off;
            if (fl.v[j].end - at > size) fl.v[j].off = at + size;
            else {
                if (at + size > top) top = at + size;
                memmove(&fl.v[j], &fl.v[j + 1], sizeof *fl.v * (size_t)(fl.n - j - 1));
                fl.n--;
            }
        } else {
            at = top;
            if (at > HSI_ARENA_TOO_LARGE - size) {
                total = HSI_ARENA_TOO_LARGE;
                break;
            }
            top = at + size;
        }
        off[idx[k]] = at;
        if (top > total) total = top;
    }
    free(fl.v);
    free(by_last);
    return total;
}

size_t hsi_arena_plan(int n, const hsi_buf *bufs, size_t align, size_t *offsets)
{
    if (n <= 0) return 0;
    int *idx = malloc(sizeof *idx * (size_t)n), *tmp = malloc(sizeof *tmp * (size_t)n);
    placed *done = malloc(sizeof *done * (size_t)n);
    size_t *off = malloc(sizeof *off * (size_t)n);
    size_t best = 0;
    int64_t work = 0;
    if (idx && tmp && done && off)
        for (int order = 0; order < N_ORDERS; order++) {
            size_t total = first_fit(n, bufs, align, order, idx, tmp, done, off, &work);
            if (total == OVER_BUDGET) {   /* the plan in time order, for every buffer */
                best = time_fit(n, bufs, align, idx, tmp, offsets);
                break;
            }
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
    /* roots by following each chain once, the roots found kept in memo (root_of per buffer
     * walked long chains of in-place buffers again for every link: quadratic); a chain that
     * does not end within n links (a cycle) as root_of, remembered nowhere */
    int *memo = malloc(sizeof *memo * (size_t)n);
    if (!memo) {
        free(roots);
        free(roff);
        free(root);
        return 0;
    }
    for (int i = 0; i < n; i++) memo[i] = -1;
    for (int i = 0; i < n; i++) {
        int j = i, hops = 0;
        while (memo[j] < 0 && alias[j] >= 0 && hops < n) j = alias[j], hops++;
        if (memo[j] < 0 && alias[j] >= 0) {
            root[i] = root_of(alias, i, n);
        } else {
            root[i] = memo[j] >= 0 ? memo[j] : j;
            for (int k = i; memo[k] < 0; k = alias[k] >= 0 ? alias[k] : k) memo[k] = root[i];
        }
        roots[i] = (hsi_buf){0, bufs[i].first, bufs[i].last};
    }
    free(memo);
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
