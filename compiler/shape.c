/* shape.c — sliding-window output sizes, padding modes, shape printing (shape.h).
 * Every size reaching here is at most FE_MAX_SIZE, so the int64 arithmetic cannot overflow.
 */
#include "shape.h"

#include <stdio.h>

#include "frontend.h"

const char *shape_str(const ir_shape *s, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < s->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)s->d[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

int64_t shape_numel(const ir_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] <= 0 || __builtin_mul_overflow(n, s->d[i], &n) || n > FE_MAX_NUMEL) return -1;
    }
    return n;
}

int shape_equal(const ir_shape *a, const ir_shape *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i]) return 0;
    return 1;
}

int shape_window(diag *d, src_span sp, const char *what, const ir_shape *in, int nsp,
                 const int64_t *kernel, const int64_t *stride, const int64_t *dilation,
                 shape_pad pad, int64_t *lo, int64_t *hi, ir_shape *out)
{
    int off = in->ndim - nsp;
    *out = *in;
    for (int i = 0; i < nsp; i++) {
        int64_t n = in->d[off + i];
        int64_t eff = dilation[i] * (kernel[i] - 1) + 1;
        if (eff > FE_MAX_SIZE) {
            /* a size like any other: pad = same would make paddings of up to eff - 1 (2^62 for
             * a kernel and dilation of 2^31 - 1) */
            diag_error(d, sp, "%s kernel %lld with dilation %lld spans %lld positions, more than "
                       "the largest size", what, (long long)kernel[i], (long long)dilation[i],
                       (long long)eff);
            diag_hint(d, "sizes are at most %d", FE_MAX_SIZE);
            return 1;
        }
        if (pad == PAD_VALID) {
            lo[i] = hi[i] = 0;
        } else if (pad == PAD_SAME) {
            int64_t o = (n + stride[i] - 1) / stride[i];
            int64_t total = (o - 1) * stride[i] + eff - n;
            if (total < 0) total = 0;
            lo[i] = total / 2;
            hi[i] = total - lo[i];
        }
        int64_t padded = n + lo[i] + hi[i];
        if (padded < eff) {
            char a[96], k[96], pin[96];
            ir_shape ks = {nsp, {0}}, ps = *in;
            for (int j = 0; j < nsp; j++) {
                ks.d[j] = dilation[j] * (kernel[j] - 1) + 1;
                ps.d[off + j] = in->d[off + j] + lo[j] + hi[j];
            }
            diag_error(d, sp, "%s kernel %s is larger than its %sinput %s", what,
                       shape_str(&ks, k, sizeof k), ps.d[off + i] != n ? "padded " : "",
                       shape_str(&ps, pin, sizeof pin));
            diag_hint(d, "the input of this layer is %s; use a smaller kernel or pad = same",
                      shape_str(in, a, sizeof a));
            return 1;
        }
        out->d[off + i] = (padded - eff) / stride[i] + 1;
    }
    return 0;
}
