/* lane_sums.h — long sums in double with a fixed order that vectorizes at any width: LANE_SUMS running
 * sums, element i of a run going into sum i % LANE_SUMS in order, the sums added in a fixed tree at
 * the end. An `omp simd reduction` lets the compiler pick the lanes (as many as its vector holds), so
 * a version compiled for AVX-512 would add in another order than the baseline one and the loop could
 * not be a target clone; these spell the lanes out, and every clone (CNN_CLONES) computes the same
 * bits: 8 doubles are one AVX-512 register, two AVX2 and four SSE2 ones. */
#ifndef CNN_LANE_SUMS_H
#define CNN_LANE_SUMS_H

#include <stdint.h>

#define LANE_SUMS 8

/* The lanes added: ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)). */
static inline double lane_sums_total(const double *s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

#endif /* CNN_LANE_SUMS_H */
