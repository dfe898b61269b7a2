/* The wait set's wake-up figure (bench/wake.c), for bench/shmview-bench.c. */
#ifndef SHMVIEW_BENCH_WAKE_H
#define SHMVIEW_BENCH_WAKE_H

#include <shmview.h>

/* Measures rounds * iters wake-ups each way, alternating: a notify of segment name (which
 * must exist, writable by a client of socket) by another process pinned to notifier_cpu, to
 * this process asleep in epoll_wait() on a wait set's descriptor, into set_ns; and the floor,
 * an eventfd written by that process to this one asleep in epoll_wait() on it, into
 * floor_ns (nanoseconds, rounds * iters of each). 0 or a negative errno. */
int shmv__bench_wake(shmv_client *c, const char *socket, const char *name, int notifier_cpu,
                     unsigned rounds, unsigned iters, double *set_ns, double *floor_ns);

#endif
