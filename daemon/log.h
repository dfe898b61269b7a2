/* shmviewd's log: one line per event on stderr, "shmviewd: LEVEL: text". */
#ifndef SHMVIEWD_LOG_H
#define SHMVIEWD_LOG_H

#include <stdbool.h>

/* syslog(3) priorities, so that the numbers mean what they mean elsewhere. */
enum {
        SHMV__LOG_ERROR = 3,
        SHMV__LOG_WARNING = 4,
        SHMV__LOG_INFO = 6,
        SHMV__LOG_DEBUG = 7,
};

extern int shmv__log_max_level;

/* Parses "debug", "info", "warning" or "error". Returns the level or -EINVAL. */
int shmv__log_level_from_string(const char *s);
void shmv__log_set_level(int level);

__attribute__((format(printf, 2, 3))) void shmv__log(int level, const char *fmt, ...);

/* The arguments are evaluated only when the line is logged. */
#define shmv__log_at(level, ...)                         \
        do {                                             \
                if ((level) <= shmv__log_max_level)      \
                        shmv__log((level), __VA_ARGS__); \
        } while (0)

#define log_debug(...) shmv__log_at(SHMV__LOG_DEBUG, __VA_ARGS__)
#define log_info(...) shmv__log_at(SHMV__LOG_INFO, __VA_ARGS__)
#define log_warning(...) shmv__log_at(SHMV__LOG_WARNING, __VA_ARGS__)
#define log_error(...) shmv__log_at(SHMV__LOG_ERROR, __VA_ARGS__)

#endif
