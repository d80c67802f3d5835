/* pb.h — a protocol-buffers wire-format writer, just enough to write an ONNX model.
 *
 * Messages are written into one growable byte buffer. A nested message is opened with
 * pb_begin (which remembers where its body starts) and closed with pb_end, which puts the
 * body's length in front of it (the body moves right by the length's varint size), so no
 * message needs its size computed in advance. Repeated scalars are written unpacked (the
 * proto2 default; every parser reads both forms). Not here: reading, groups, packed fields.
 *
 *   pb_buf b = {0};
 *   size_t m = pb_begin(&b, 7);          // field 7: a message
 *   pb_int(&b, 1, 42);                   //   its field 1 = 42
 *   pb_end(&b, m);
 *   if (b.oom) ...; fwrite(b.p, 1, b.len, f); pb_free(&b);
 * An allocation failure is sticky (b.oom) and later calls do nothing.
 */
#ifndef HSICC_PB_H
#define HSICC_PB_H

#include <stddef.h>
#include <stdint.h>

typedef struct pb_buf {
    uint8_t *p;     /* the bytes written so far */
    size_t len, cap;
    int oom;        /* 1 after an allocation failure: the content is incomplete */
} pb_buf;

void pb_free(pb_buf *b);
void pb_int(pb_buf *b, int field, int64_t v);        /* varint (int32/int64/enum) */
void pb_float(pb_buf *b, int field, float v);        /* fixed32 */
void pb_bytes(pb_buf *b, int field, const void *data, size_t n);   /* length-delimited */
void pb_str(pb_buf *b, int field, const char *s);    /* pb_bytes of strlen(s) bytes */
/* Length-delimited field of n 4-byte words (floats), each written little-endian. */
void pb_le32(pb_buf *b, int field, const void *words, size_t n);
/* Opens a nested message in `field`; returns the mark pb_end needs. Nest freely. */
size_t pb_begin(pb_buf *b, int field);
void pb_end(pb_buf *b, size_t mark);

#endif
