/* pb.c — protocol-buffers wire format, write side (pb.h). Byte order is explicit (fixed32 is
 * little-endian on any host); sizes are checked before every growth. */
#include "pb.h"

#include <stdlib.h>
#include <string.h>

enum { WIRE_VARINT = 0, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

void pb_free(pb_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Room for n more bytes; 0 ok, -1 (and b->oom) when out of memory. */
static int reserve(pb_buf *b, size_t n)
{
    if (b->oom) return -1;
    if (n <= b->cap - b->len) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7) n++;
    return n;
}

static void put_varint_at(uint8_t *at, uint64_t v)
{
    for (; v >= 0x80; v >>= 7) *at++ = (uint8_t)(v | 0x80);
    *at = (uint8_t)v;
}

static void put_varint(pb_buf *b, uint64_t v)
{
    size_t n = varint_size(v);
    if (reserve(b, n)) return;
    put_varint_at(b->p + b->len, v);
    b->len += n;
}

static void put_tag(pb_buf *b, int field, int wire)
{
    put_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

void pb_int(pb_buf *b, int field, int64_t v)
{
    put_tag(b, field, WIRE_VARINT);
    put_varint(b, (uint64_t)v);   /* negative: ten bytes of two's complement, as protobuf does */
}

void pb_float(pb_buf *b, int field, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put_tag(b, field, WIRE_FIXED32);
    if (reserve(b, 4)) return;
    for (int i = 0; i < 4; i++) b->p[b->len++] = (uint8_t)(u >> (8 * i));
}

void pb_bytes(pb_buf *b, int field, const void *data, size_t n)
{
    put_tag(b, field, WIRE_LEN);
    put_varint(b, n);
    if (!n || reserve(b, n)) return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void pb_le32(pb_buf *b, int field, const void *words, size_t n)
{
    if (n > SIZE_MAX / 4) {
        b->oom = 1;
        return;
    }
    put_tag(b, field, WIRE_LEN);
    put_varint(b, 4 * n);
    if (reserve(b, 4 * n)) return;
    const uint8_t *w = words;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, w + 4 * i, 4);
        for (int k = 0; k < 4; k++) b->p[b->len++] = (uint8_t)(u >> (8 * k));
    }
}

void pb_str(pb_buf *b, int field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

size_t pb_begin(pb_buf *b, int field)
{
    put_tag(b, field, WIRE_LEN);
    return b->len;
}

void pb_end(pb_buf *b, size_t mark)
{
    if (b->oom) return;
    size_t body = b->len - mark, n = varint_size(body);
    if (reserve(b, n)) return;
    memmove(b->p + mark + n, b->p + mark, body);
    put_varint_at(b->p + mark, body);
    b->len += n;
}
