/* Test harness: each test binary starts one real shmviewd on a temporary socket and runs its
 * cases, each in a forked child (its own process group) with a timeout, checking afterwards
 * that the daemon's open descriptors are back at their baseline. CTest runs each case as a
 * test of its own (`ctest -R view.test_index`), through the binary's --list. */
#ifndef SHMVIEW_TEST_HARNESS_H
#define SHMVIEW_TEST_HARNESS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
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

/* Runs the tests given on the command line (all when none) and returns the exit status
 * (TH_SKIP when all were skipped); with --list, prints their names. Starts the daemon first,
 * with extra_args appended to its command line (may be NULL). */
int th_main(int argc, char **argv, const th_test *tests, size_t n, const char *const *extra_args);
/* The same for tests that start their own daemons, or need none. */
int th_main_no_daemon(int argc, char **argv, const th_test *tests, size_t n);

/* Before th_main(): the daemon runs as uid (its gid too, no supplementary groups) instead of
 * root, as the shipped unit runs it, owning the socket's directory; with nofile > 0 its
 * descriptor limit, soft and hard, is nofile (it may raise the soft one to the hard one only). */
void th_daemon_user(uid_t uid, unsigned long nofile);

const char *th_socket_path(void);
pid_t th_daemon_pid(void);
/* Open descriptors of process pid now (0: this process, not counting the one this reads
 * them through); -1 when pid is gone. */
int th_fd_count(pid_t pid);
/* Open descriptors of the daemon now. */
int th_daemon_fd_count(void);
/* Open descriptors of pid once the count holds still (for 50 ms, 5 s at most). */
int th_fd_count_settled(pid_t pid);
/* Waits until pid has want descriptors open; false (and says so) after timeout_ms. */
bool th_fd_count_reaches(pid_t pid, int want, int timeout_ms);
/* Whether a socket listens at path yet, as /proc/net/unix shows it (__SO_ACCEPTCON in the
 * flags): without connecting, so that no probe connection is still being closed by the
 * daemon when a test counts its descriptors. */
bool th_socket_listens(const char *path);

/* A service manager's side of sd_notify(), for tests that play systemd: a datagram socket
 * bound at path, for the daemon's $NOTIFY_SOCKET (fails the test otherwise)... */
int th_notify_bind(const char *path);
/* ...and one notification read from it without waiting: its text, NUL-terminated, in buf,
 * the descriptors that came with it (SCM_RIGHTS, close-on-exec) in fds, at most max_fds (the
 * others are closed), their number in *ret_nfds. Returns the text's length, or -1 when no
 * notification is waiting. */
ssize_t th_notify_recv(int sock, char *buf, size_t buf_len, int *fds, size_t max_fds,
                       size_t *ret_nfds);

/* Connects to the test daemon; fails the test on error. */
shmv_client *th_connect(void);
/* The address of writable view v's item 0 (shmv_view_data_mut()); fails the test otherwise. */
void *th_data_mut(shmv_view *v);
/* A segment name unique within this test run, with prefix. Static buffer per call site: copy. */
const char *th_name(const char *prefix);
/* Drops to uid/gid (supplementary groups cleared) in the calling (forked) process. */
void th_become(uid_t uid, gid_t gid);
/* Forks; the child runs fn(arg) and exits 0 on return. Returns the child's exit status
 * (0 on success; a failed check in the child makes it non-zero). */
int th_in_child(void (*fn)(void *), void *arg);

void th_fail(const char *file, int line, const char *fmt, ...)
        __attribute__((noreturn, format(printf, 3, 4)));

/* Ends the running test as skipped (exit status TH_SKIP, which CTest reports as skipped),
 * saying why. */
#define TH_SKIP 77
void th_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Milliseconds on the monotonic clock, and a sleep of that many. */
int64_t th_now_ms(void);
/* A figure for the log, on stdout, flushed at once (a test leaves with _exit). */
void th_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void th_sleep_ms(int ms);

#define CHECK(cond)                                                             \
        do {                                                                    \
                if (!(cond))                                                    \
                        th_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
        } while (0)

/* Comparisons that print both values when they fail (libuv's ASSERT_EQ and kin). Each side
 * is evaluated once and compared as a number, whatever its integer type, so that -1 is not
 * equal to UINT_MAX here, as it would be in C. Pointers: CHECK_PTR_EQ/NE, CHECK_NULL. */
typedef struct th_num {
        bool is_signed;
        union {
                long long s;
                unsigned long long u;
        };
} th_num;

static inline th_num th_num_s(long long v)
{
        return (th_num){.is_signed = true, .s = v};
}

static inline th_num th_num_u(unsigned long long v)
{
        return (th_num){.is_signed = false, .u = v};
}

#define TH_NUM(x)                               \
        _Generic((x), char                      \
                 : th_num_s, signed char        \
                 : th_num_s, short              \
                 : th_num_s, int                \
                 : th_num_s, long               \
                 : th_num_s, long long          \
                 : th_num_s, _Bool              \
                 : th_num_u, unsigned char      \
                 : th_num_u, unsigned short     \
                 : th_num_u, unsigned int       \
                 : th_num_u, unsigned long      \
                 : th_num_u, unsigned long long \
                 : th_num_u)(x)

/* -1, 0 or 1 as a is below, equal to or above b. */
int th_num_cmp(th_num a, th_num b);
void th_fail_cmp(const char *file, int line, const char *a, const char *op, const char *b,
                 th_num va, th_num vb) __attribute__((noreturn));

#define TH_CHECK_CMP(a, op, b)                                                      \
        do {                                                                        \
                th_num th_a_ = TH_NUM(a), th_b_ = TH_NUM(b);                        \
                if (!(th_num_cmp(th_a_, th_b_) op 0))                               \
                        th_fail_cmp(__FILE__, __LINE__, #a, #op, #b, th_a_, th_b_); \
        } while (0)

#define CHECK_EQ(a, b) TH_CHECK_CMP(a, ==, b)
#define CHECK_NE(a, b) TH_CHECK_CMP(a, !=, b)
#define CHECK_LT(a, b) TH_CHECK_CMP(a, <, b)
#define CHECK_LE(a, b) TH_CHECK_CMP(a, <=, b)
#define CHECK_GT(a, b) TH_CHECK_CMP(a, >, b)
#define CHECK_GE(a, b) TH_CHECK_CMP(a, >=, b)

#define TH_CHECK_PTR(a, op, b)                                                                    \
        do {                                                                                      \
                const void *th_a_ = (a), *th_b_ = (b);                                            \
                if (!(th_a_ op th_b_))                                                            \
                        th_fail(__FILE__, __LINE__, "check failed: %s %s %s (%p %s %p)", #a, #op, \
                                #b, th_a_, #op, th_b_);                                           \
        } while (0)
#define CHECK_PTR_EQ(a, b) TH_CHECK_PTR(a, ==, b)
#define CHECK_PTR_NE(a, b) TH_CHECK_PTR(a, !=, b)
#define CHECK_NULL(p) CHECK_PTR_EQ(p, NULL)

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
