/* rng.c — the runtime's deterministic randomness: splitmix64 (seeding, hashing) and
 * xoshiro256** (Blackman & Vigna), unbiased bounded draws, Fisher-Yates shuffle. Written from
 * the published algorithms. Not cryptographic; never uses rand(). */
#include "hsi_prep.h"

uint64_t hsi_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t hsi_hash64(uint64_t a, uint64_t b)
{
    uint64_t s = a ^ ((b << 32) | (b >> 32)) ^ (b * 0xd6e8feb86659fd93ull);
    return hsi_splitmix64(&s);
}

void hsi_rng_seed(hsi_rng *r, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = hsi_splitmix64(&s);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t hsi_rng_next(hsi_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t hsi_rng_below(hsi_rng *r, uint64_t n)
{
    /* Reject the top (2^64 mod n) values so every residue is equally likely. */
    uint64_t limit = -n % n;   /* = 2^64 mod n */
    uint64_t x;
    do
        x = hsi_rng_next(r);
    while (x < limit);
    return x % n;
}

void hsi_shuffle_i32(hsi_rng *r, int32_t *a, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)hsi_rng_below(r, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
