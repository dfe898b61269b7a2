/* A real client for the CLI tests (test-cli.py), through libshmview:
 *   view-holder hold NAME OFFSET LENGTH ro|rw [NAME OFFSET LENGTH ro|rw]...
 *       opens the views, prints "ready", holds them until standard input ends;
 *   view-holder flood NAME COUNT
 *       creates and unlinks NAME COUNT times on one connection (2 events each).
 * The daemon's socket comes from $SHMVIEW_SOCKET. Exits 0, or 1 with a message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmview.h"

static int fail(const char *what, int r)
{
        fprintf(stderr, "view-holder: %s: %s\n", what, shmv_strerror(r));
        return 1;
}

static int hold(shmv_client *c, int argc, char **argv)
{
        if (argc % 4 != 0 || argc == 0) {
                fputs("view-holder: hold wants NAME OFFSET LENGTH ro|rw...\n", stderr);
                return 1;
        }
        size_t n = (size_t)argc / 4;
        shmv_view **views = calloc(n, sizeof(*views));
        if (!views)
                return fail("calloc", -ENOMEM);
        for (size_t i = 0; i < n; i++) {
                char **a = argv + 4 * i;
                int flags = strcmp(a[3], "rw") == 0 ? SHMV_READ | SHMV_WRITE : SHMV_READ;
                int r = shmv_view_open(c, a[0], strtoull(a[1], NULL, 0), strtoull(a[2], NULL, 0),
                                       flags, &views[i]);
                if (r < 0)
                        return fail(a[0], r);
        }
        puts("ready");
        fflush(stdout);
        char buf[256];
        while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
                ;
        for (size_t i = 0; i < n; i++)
                shmv_view_release(views[i]);
        free(views);
        return 0;
}

static int flood(shmv_client *c, const char *name, long count)
{
        for (long i = 0; i < count; i++) {
                int r = shmv_segment_create(c, name, 4096, 0);
                if (r == 0)
                        r = shmv_segment_unlink(c, name);
                if (r < 0)
                        return fail(name, r);
        }
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fputs("usage: view-holder hold|flood ...\n", stderr);
                return 1;
        }
        shmv_client *c;
        int r = shmv_connect(NULL, &c);
        if (r < 0)
                return fail("connect", r);
        int status;
        if (strcmp(argv[1], "hold") == 0)
                status = hold(c, argc - 2, argv + 2);
        else if (strcmp(argv[1], "flood") == 0 && argc == 4)
                status = flood(c, argv[2], strtol(argv[3], NULL, 10));
        else
                status = fail(argv[1], -EINVAL);
        shmv_disconnect(c);
        return status;
}
