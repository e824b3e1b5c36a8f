/* prng.c: xoshiro256** (Blackman and Vigna) seeded through splitmix64. */
#include "core/prng.h"
#include "core/status.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t dyn_seed_derive(uint64_t master, uint64_t stream)
{
    uint64_t x = master ^ (stream * 0xD1B54A32D192ED03ULL);
    splitmix64(&x);
    return splitmix64(&x);
}

void dyn_prng_seed(dyn_prng_t *prng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        prng->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t dyn_prng_u64(dyn_prng_t *prng)
{
    uint64_t *s = prng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t dyn_prng_below(dyn_prng_t *prng, uint64_t bound)
{
    DYN_ASSERT(bound > 0);
    unsigned __int128 m = (unsigned __int128)dyn_prng_u64(prng) * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            m = (unsigned __int128)dyn_prng_u64(prng) * bound;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

int dyn_prng_chance(dyn_prng_t *prng, uint64_t numerator, uint64_t denominator)
{
    DYN_ASSERT(denominator > 0);
    if (numerator >= denominator)
        return 1;
    return dyn_prng_below(prng, denominator) < numerator;
}

double dyn_prng_unit(dyn_prng_t *prng)
{
    return (double)(dyn_prng_u64(prng) >> 11) * 0x1.0p-53;
}
