/* mem.h — the front end's arena: one per compilation, freed at once (fe_free).
 *
 * Nothing the front end allocates is freed on its own: AST, symbol tables and the IR all live
 * here until the program is released. An allocation failure does not return NULL: it jumps
 * back to the compilation's entry point (mem_arena.oom), which reports "out of memory".
 */
#ifndef HSICC_MEM_H
#define HSICC_MEM_H

#include <setjmp.h>
#include <stddef.h>

typedef struct mem_chunk mem_chunk;

typedef struct mem_arena {
    mem_chunk *head;        /* newest chunk first */
    size_t used_total;      /* bytes handed out, for the limit below */
    jmp_buf *oom;           /* where to jump when malloc fails or the limit is reached */
} mem_arena;

#define MEM_LIMIT ((size_t)1 << 30)   /* one compilation never needs more than 1 GiB */

void *mem_alloc(mem_arena *a, size_t n);                 /* zeroed, 16-byte aligned */
void *mem_grow(mem_arena *a, void *old, size_t old_n, size_t new_n);  /* copy into a new block */
char *mem_strdup(mem_arena *a, const char *s);
char *mem_strndup(mem_arena *a, const char *s, size_t n);
char *mem_printf(mem_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mem_release(mem_arena *a);                          /* frees every chunk */

#endif
