/* What both fuzz targets need besides their input. Define FUZZ_NAME (the target's name, for
 * messages) before including it. */
#ifndef SHMVIEW_FUZZ_COMMON_H
#define SHMVIEW_FUZZ_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A failure of the target's own set-up, not a finding: says what and why, and aborts. */
__attribute__((noreturn)) static inline void die(const char *what)
{
        fprintf(stderr, "%s: %s: %s\n", FUZZ_NAME, what, strerror(errno));
        abort();
}

/* Descriptors this process holds, not counting the one this reads them through: each input
 * must leave it where it found it. */
static inline int fd_count(void)
{
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                die("/proc/self/fd");
        int n = 0;
        for (struct dirent *e; (e = readdir(d));)
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1;
}

#endif
