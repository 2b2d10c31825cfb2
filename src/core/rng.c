/* rng.c — seeded random numbers: xoshiro256** streams and a splitmix64 hash for counter-based masks. */
#include "internal.h"

#include <math.h>

uint64_t cnn_hash64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void cnn_rng_seed(cnn_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ull;
        r->s[i] = cnn_hash64(seed);
    }
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cnn_rng_next(cnn_rng *r) {
    uint64_t *s = r->s;
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

float cnn_rng_uniform(cnn_rng *r) { return (float)(cnn_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float cnn_rng_normal(cnn_rng *r) {
    /* Box-Muller on doubles; u1 in (0,1] so the log is finite. */
    double u1 = ((double)(cnn_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(cnn_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
