/* The clocks, in microseconds (the unit of the protocol's times), for the daemon, the library
 * and the CLI alike. Internal: never installed. */
#ifndef SHMVIEW_CLOCK_H
#define SHMVIEW_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t shmv__clock_usec(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* CLOCK_REALTIME: when something happened, as the protocol reports it. */
static inline uint64_t shmv__now_usec(void)
{
        return shmv__clock_usec(CLOCK_REALTIME);
}

/* CLOCK_MONOTONIC: how long something took, or how long is left. */
static inline uint64_t shmv__mono_usec(void)
{
        return shmv__clock_usec(CLOCK_MONOTONIC);
}

#endif
