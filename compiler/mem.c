/* mem.c — bump allocator in malloc'd chunks (see mem.h). No per-object free, no reuse. */
#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mem_chunk {
    mem_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

#define CHUNK_MIN ((size_t)64 << 10)

void *mem_alloc(mem_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    mem_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        if (a->used_total + size > MEM_LIMIT || !(c = malloc(sizeof *c + size))) {
            if (a->oom) longjmp(*a->oom, 1);
            abort();
        }
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->used_total += size;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void *mem_grow(mem_arena *a, void *old, size_t old_n, size_t new_n)
{
    void *p = mem_alloc(a, new_n);
    if (old && old_n) memcpy(p, old, old_n < new_n ? old_n : new_n);
    return p;
}

char *mem_strndup(mem_arena *a, const char *s, size_t n)
{
    char *p = mem_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *mem_strdup(mem_arena *a, const char *s) { return mem_strndup(a, s, strlen(s)); }

char *mem_printf(mem_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = mem_alloc(a, (size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void mem_release(mem_arena *a)
{
    mem_chunk *c = a->head;
    while (c) {
        mem_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->used_total = 0;
}
