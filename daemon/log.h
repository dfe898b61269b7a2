/* shmviewd's log: one line per event on stderr, "shmviewd: LEVEL: text", or "<N>text" when
 * stderr is the journal (log.c). */
#ifndef SHMVIEWD_LOG_H
#define SHMVIEWD_LOG_H

#include <stdbool.h>

/* syslog(3) priorities, so that the numbers mean what they mean elsewhere. */
enum {
        SHMV__LOG_ERROR = 3,
        SHMV__LOG_WARNING = 4,
        SHMV__LOG_NOTICE = 5,
        SHMV__LOG_INFO = 6,
        SHMV__LOG_DEBUG = 7,
};

extern int shmv__log_max_level;

/* Parses "debug", "info", "notice", "warning" or "error". Returns the level or -EINVAL. */
int shmv__log_level_from_string(const char *s);
void shmv__log_set_level(int level);
/* Whether lines go to the journal with "<N>" priority prefixes: stderr is the stream
 * systemd named in $JOURNAL_STREAM (checked once, at the first line). */
bool shmv__log_to_journal(void);

__attribute__((format(printf, 2, 3))) void shmv__log(int level, const char *fmt, ...);
/* Logs with errno set to err's magnitude (for %m) and returns -|err|. */
__attribute__((format(printf, 3, 4))) int shmv__log_errno(int level, int err, const char *fmt, ...);

static inline int shmv__neg_errno(int err)
{
        return err < 0 ? err : -err;
}

/* The arguments are evaluated only when the line is logged. */
#define shmv__log_at(level, ...)                         \
        do {                                             \
                if ((level) <= shmv__log_max_level)      \
                        shmv__log((level), __VA_ARGS__); \
        } while (0)

#define log_debug(...) shmv__log_at(SHMV__LOG_DEBUG, __VA_ARGS__)
#define log_info(...) shmv__log_at(SHMV__LOG_INFO, __VA_ARGS__)
#define log_notice(...) shmv__log_at(SHMV__LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) shmv__log_at(SHMV__LOG_WARNING, __VA_ARGS__)
#define log_error(...) shmv__log_at(SHMV__LOG_ERROR, __VA_ARGS__)

/* Log and return in one statement, as systemd's log_error_errno():
 *         return log_error_errno(r, "writing record %u: %m", slot);
 * evaluates to -|r| whether or not the line is logged, and %m in the format is r's sentence,
 * so an error path depends neither on the logger keeping errno nor on a saved copy of it. */
#define shmv__log_errno_at(level, err, ...)                                            \
        ((level) <= shmv__log_max_level ? shmv__log_errno((level), (err), __VA_ARGS__) \
                                        : shmv__neg_errno(err))

#define log_debug_errno(err, ...) shmv__log_errno_at(SHMV__LOG_DEBUG, (err), __VA_ARGS__)
#define log_info_errno(err, ...) shmv__log_errno_at(SHMV__LOG_INFO, (err), __VA_ARGS__)
#define log_warning_errno(err, ...) shmv__log_errno_at(SHMV__LOG_WARNING, (err), __VA_ARGS__)
#define log_error_errno(err, ...) shmv__log_errno_at(SHMV__LOG_ERROR, (err), __VA_ARGS__)

#endif
