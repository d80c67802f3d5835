/* shape.h — shape inference for the layers that have geometry (conv, pool), and shape
 * helpers shared by the elaborator (printing, numel). Pure functions: they report errors
 * through diag and never allocate.
 */
#ifndef HSICC_SHAPE_H
#define HSICC_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "ir.h"

typedef enum shape_pad { PAD_EXPLICIT, PAD_SAME, PAD_VALID } shape_pad;

/* "[24, 97, 7, 7]" into buf. */
const char *shape_str(const ir_shape *s, char *buf, size_t n);
/* numel of s, or -1 if it exceeds FE_MAX_NUMEL. */
int64_t shape_numel(const ir_shape *s);
int shape_equal(const ir_shape *a, const ir_shape *b);

/* Output shape of a sliding window (conv or pool) with nsp spatial dims over `in`.
 * pad: PAD_SAME/PAD_VALID fill lo/hi (TensorFlow's SAME: extra padding at the end);
 * PAD_EXPLICIT takes them as given. out->d[0] is left to the caller. Returns 0, or 1 after
 * reporting "kernel larger than the padded input" (with both shapes) at sp. */
int shape_window(diag *d, src_span sp, const char *what, const ir_shape *in, int nsp,
                 const int64_t *kernel, const int64_t *stride, const int64_t *dilation,
                 shape_pad pad, int64_t *lo, int64_t *hi, ir_shape *out);

#endif
