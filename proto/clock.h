/* The clocks, in microseconds (the unit of the protocol's times), for the daemon, the library
 * and the CLI alike, and in nanoseconds for the bench; a sleep for the tests and tools.
 * Internal: never installed. */
#ifndef SHMVIEW_CLOCK_H
#define SHMVIEW_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t shmv__clock_nsec(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t shmv__clock_usec(clockid_t id)
{
        return shmv__clock_nsec(id) / 1000u;
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

static inline uint64_t shmv__mono_nsec(void)
{
        return shmv__clock_nsec(CLOCK_MONOTONIC);
}

/* A time of shmv__mono_nsec()'s clock as the timespec that futex(2) takes for an absolute
 * CLOCK_MONOTONIC deadline. */
static inline struct timespec shmv__mono_timespec(uint64_t nsec)
{
        return (struct timespec){(time_t)(nsec / 1000000000u), (long)(nsec % 1000000000u)};
}

/* Sleeps ms milliseconds, or less when a signal comes. */
static inline void shmv__sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

#endif
