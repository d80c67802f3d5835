/* test_rng.h — the kernel tests' deterministic random numbers (xorshift64), one stream per
 * test program. Not a statistical generator: only reproducible, well-spread test inputs. */
#ifndef HSI_TEST_RNG_H
#define HSI_TEST_RNG_H

#include <stdint.h>

static uint64_t test_rng_state = 0x2545F4914F6CDD1DULL;

/* Uniform in [lo, hi) with 53 random bits. */
static inline double test_uniform(double lo, double hi)
{
    test_rng_state ^= test_rng_state << 13;
    test_rng_state ^= test_rng_state >> 7;
    test_rng_state ^= test_rng_state << 17;
    return lo + (hi - lo) * (double)(test_rng_state >> 11) * (1.0 / 9007199254740992.0);
}

#endif
