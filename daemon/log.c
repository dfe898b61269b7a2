/* Logging to stderr. Each line is written with one write(2), so lines of concurrent writers
 * to the same stderr (for example a test runner) do not interleave.
 *
 * Under systemd, stderr is usually a stream to the journal, and systemd says so in
 * $JOURNAL_STREAM ("DEVICE:INODE" of that stream). Lines then start with the syslog priority,
 * "<3>", which journald takes as the line's PRIORITY= and strips (sd-daemon(3)), instead of
 * "shmviewd: LEVEL: ", which the journal already knows from the unit. */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int shmv__log_max_level = SHMV__LOG_INFO;

static const struct {
        const char *name;
        int level;
} levels[] = {
        {"error", SHMV__LOG_ERROR}, {"warning", SHMV__LOG_WARNING}, {"notice", SHMV__LOG_NOTICE},
        {"info", SHMV__LOG_INFO},   {"debug", SHMV__LOG_DEBUG},
};

int shmv__log_level_from_string(const char *s)
{
        for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
                if (strcmp(s, levels[i].name) == 0)
                        return levels[i].level;
        return -EINVAL;
}

void shmv__log_set_level(int level)
{
        shmv__log_max_level = level;
}

static const char *level_name(int level)
{
        for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
                if (levels[i].level == level)
                        return levels[i].name;
        return "log";
}

static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        uintmax_t dev, ino;
        char end;
        if (!e || sscanf(e, "%ju:%ju%c", &dev, &ino, &end) != 2)
                return false;
        struct stat st;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

bool shmv__log_to_journal(void)
{
        static int journal = -1; /* not yet checked; the loop thread logs, alone */
        if (journal < 0)
                journal = stderr_is_journal();
        return journal;
}

static void log_line(int level, const char *fmt, va_list ap)
{
        char line[1024];
        int n;
        if (shmv__log_to_journal())
                n = snprintf(line, sizeof(line), "<%d>", level);
        else
                n = snprintf(line, sizeof(line), "shmviewd: %s: ", level_name(level));
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
        if (len > sizeof(line) - 2)
                len = sizeof(line) - 2; /* truncated: still one line */
        line[len++] = '\n';

        const char *p = line;
        while (len > 0) {
                ssize_t w = write(STDERR_FILENO, p, len);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                p += w;
                len -= (size_t)w;
        }
}

void shmv__log(int level, const char *fmt, ...)
{
        if (level > shmv__log_max_level)
                return;
        int saved_errno = errno;
        va_list ap;
        va_start(ap, fmt);
        log_line(level, fmt, ap);
        va_end(ap);
        errno = saved_errno;
}

int shmv__log_errno(int level, int err, const char *fmt, ...)
{
        err = shmv__neg_errno(err);
        if (level <= shmv__log_max_level) {
                int saved_errno = errno;
                errno = -err; /* for %m */
                va_list ap;
                va_start(ap, fmt);
                log_line(level, fmt, ap);
                va_end(ap);
                errno = saved_errno;
        }
        return err;
}
