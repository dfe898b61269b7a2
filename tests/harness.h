/* Test harness: each test binary starts one real shmviewd on a temporary socket and runs its
 * cases, each in a forked child with a timeout, checking afterwards that the daemon's open
 * descriptors are back at their baseline. */
#ifndef SHMVIEW_TEST_HARNESS_H
#define SHMVIEW_TEST_HARNESS_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "shmview.h"

typedef struct th_test {
        const char *name;
        void (*fn)(void);
} th_test;

#define TH_TEST(fn)     \
        {               \
#fn, fn \
        }

/* Runs the tests given on the command line (all when none) and returns the exit status.
 * Starts the daemon first, with extra_args appended to its command line (may be NULL). */
int th_main(int argc, char **argv, const th_test *tests, size_t n, const char *const *extra_args);

const char *th_socket_path(void);
pid_t th_daemon_pid(void);
/* Open descriptors of process pid now (0: this process, not counting the one this reads
 * them through); -1 when pid is gone. */
int th_fd_count(pid_t pid);
/* Open descriptors of the daemon now. */
int th_daemon_fd_count(void);

/* Connects to the test daemon; fails the test on error. */
shmv_client *th_connect(void);
/* A segment name unique within this test run, with prefix. Static buffer per call site: copy. */
const char *th_name(const char *prefix);
/* Drops to uid/gid (supplementary groups cleared) in the calling (forked) process. */
void th_become(uid_t uid, gid_t gid);
/* Forks; the child runs fn(arg) and exits 0 on return. Returns the child's exit status
 * (0 on success; a failed check in the child makes it non-zero). */
int th_in_child(void (*fn)(void *), void *arg);

void th_fail(const char *file, int line, const char *fmt, ...)
        __attribute__((noreturn, format(printf, 3, 4)));

#define CHECK(cond)                                                             \
        do {                                                                    \
                if (!(cond))                                                    \
                        th_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
        } while (0)

/* expr must return exactly want (0 or a negative errno). */
#define CHECK_RC(expr, want)                                                                      \
        do {                                                                                      \
                int rc_ = (expr);                                                                 \
                int want_ = (want);                                                               \
                if (rc_ != want_)                                                                 \
                        th_fail(__FILE__, __LINE__, "%s returned %d (%s), wanted %d (%s)", #expr, \
                                rc_, shmv_strerror(rc_), want_, shmv_strerror(want_));            \
        } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

#define CHECK_MEM(a, b, n)                                                               \
        do {                                                                             \
                if (memcmp((a), (b), (n)) != 0)                                          \
                        th_fail(__FILE__, __LINE__, "memory differs: %s vs %s", #a, #b); \
        } while (0)

#define CHECK_STR(a, b)                                                                         \
        do {                                                                                    \
                const char *a_ = (a), *b_ = (b);                                                \
                if (strcmp(a_, b_) != 0)                                                        \
                        th_fail(__FILE__, __LINE__, "%s is \"%s\", wanted \"%s\"", #a, a_, b_); \
        } while (0)

#endif
