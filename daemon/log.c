/* Logging to stderr. Each line is written with one write(2), so lines of concurrent writers
 * to the same stderr (for example a test runner) do not interleave. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int shmv__log_max_level = SHMV__LOG_INFO;

static const struct {
        const char *name;
        int level;
} levels[] = {
        {"error", SHMV__LOG_ERROR},
        {"warning", SHMV__LOG_WARNING},
        {"info", SHMV__LOG_INFO},
        {"debug", SHMV__LOG_DEBUG},
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

void shmv__log(int level, const char *fmt, ...)
{
        if (level > shmv__log_max_level)
                return;

        int saved_errno = errno;
        char line[1024];
        int n = snprintf(line, sizeof(line), "shmviewd: %s: ", level_name(level));
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
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
        errno = saved_errno;
}
