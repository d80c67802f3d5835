/* init.c — seeded parameter initialisation from the netdef's init attributes.
 *
 * Every parameter draws from its own stream, keyed by (seed, parameter name), so adding a
 * layer or a domain does not change the values of the others, and a run is reproducible
 * from its seed alone. Normal draws use Box-Muller on a splitmix64 stream. Not truncated
 * (Keras' he_normal is truncated at 2 std in later versions; Keras 2.0 was not).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hsi_init.h"

typedef struct stream { uint64_t s; int has_spare; double spare; } stream;

static uint64_t next64(stream *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(stream *r) { return (double)(next64(r) >> 11) / 9007199254740992.0; }

static double normal(stream *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u = uniform01(r), v = uniform01(r);
    double rad = sqrt(-2.0 * log(1.0 - u)), th = 6.283185307179586 * v;
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void hsi_init_param(hsi_param *p, uint64_t seed)
{
    stream r = {seed ^ name_hash(p->name), 0, 0};
    const hsi_init *in = &p->init;
    double fi = in->fan_in > 0 ? (double)in->fan_in : 1.0;
    double fo = in->fan_out > 0 ? (double)in->fan_out : 1.0;
    for (int64_t k = 0; k < p->numel; k++) {
        double v;
        switch (in->kind) {
        case HSI_INIT_ZEROS: v = 0; break;
        case HSI_INIT_ONES: v = 1; break;
        case HSI_INIT_CONSTANT: v = in->a; break;
        case HSI_INIT_GAUSSIAN: v = in->a + in->b * normal(&r); break;
        case HSI_INIT_UNIFORM: v = in->a + (in->b - in->a) * uniform01(&r); break;
        case HSI_INIT_HE_NORMAL: v = sqrt(2.0 / fi) * normal(&r); break;
        case HSI_INIT_HE_UNIFORM: v = sqrt(6.0 / fi) * (2 * uniform01(&r) - 1); break;
        case HSI_INIT_GLOROT_UNIFORM: v = sqrt(6.0 / (fi + fo)) * (2 * uniform01(&r) - 1); break;
        case HSI_INIT_GLOROT_NORMAL: v = sqrt(2.0 / (fi + fo)) * normal(&r); break;
        case HSI_INIT_TORCH_DEFAULT:
        default:
            /* kaiming_uniform(a = sqrt(5)) for weights = U(+-1/sqrt(fan_in)); the same bound
             * for biases. BN parameters and statistics never use this kind. */
            v = (2 * uniform01(&r) - 1) / sqrt(fi);
            break;
        }
        p->value[k] = (float)v;
    }
}

void hsi_init_params(hsi_param *ps, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) hsi_init_param(&ps[i], seed);
}
