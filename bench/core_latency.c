/* core_latency.c — bench/compare's probe of how far apart the machine's first two cores are: two
 * OpenMP threads pass a cache line back and forth; prints {"ns": median round trip} as one JSON line.
 *
 * On this project's 2-core host the round trip is ~60-150 ns at some times and ~320-450 ns at others
 * (the two virtual CPUs then sit on distant physical cores). Work whose threads read what the other
 * wrote moments before — inference at batch 1, each layer split across both threads — runs up to
 * ~35% slower at the second level; work on whole samples per thread (training at batch 64) and one
 * thread do not change. bench/compare runs this beside every timed process and reports it per cell.
 *
 *     cc -O2 -fopenmp bench/core_latency.c -o core_latency && ./core_latency [ROUND_TRIPS]   (default 20000) */
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const long trips = argc > 1 ? atol(argv[1]) : 20000;
    if (trips < 1) {
        fprintf(stderr, "core_latency: ROUND_TRIPS must be a positive number\n");
        return 2;
    }
    static _Alignas(64) atomic_long flag;
    enum { ROUNDS = 9 };
    double ns[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        atomic_store(&flag, 0);
        double t0 = 0.0, t1 = 0.0;
#pragma omp parallel num_threads(2)
        {
            const long me = omp_get_thread_num();
#pragma omp barrier
            if (me == 0) t0 = now();
            for (long i = 0; i < trips; i++) {
                const long want = 2 * i + me, next = want + 1; /* thread 0 sees even values, thread 1 odd ones */
                while (atomic_load_explicit(&flag, memory_order_acquire) != want) {
                }
                atomic_store_explicit(&flag, next, memory_order_release);
            }
            if (me == 0) {
                while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * trips) {
                }
                t1 = now();
            }
        }
        ns[r] = (t1 - t0) / (double)trips * 1e9;
    }
    qsort(ns, ROUNDS, sizeof ns[0], cmp);
    printf("{\"ns\": %.1f}\n", ns[ROUNDS / 2]);
    return 0;
}
