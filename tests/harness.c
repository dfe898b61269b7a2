#include "harness.h"
#include "clock.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SHMVIEWD_PATH
#error SHMVIEWD_PATH must name the daemon binary
#endif

#define TEST_TIMEOUT_S 60

static char tmpdir[] = "/tmp/shmview-test-XXXXXX";
static char sock_path[108];
static pid_t daemon_pid = -1;
static uid_t daemon_uid; /* 0: root */
static unsigned long daemon_nofile; /* 0: inherited */

void th_daemon_user(uid_t uid, unsigned long nofile)
{
        daemon_uid = uid;
        daemon_nofile = nofile;
}

const char *th_socket_path(void)
{
        return sock_path;
}

pid_t th_daemon_pid(void)
{
        return daemon_pid;
}

void th_fail(const char *file, int line, const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "%s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
        _exit(1);
}

void th_skip(const char *fmt, ...)
{
        va_list ap;
        printf("skipped: ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        _exit(TH_SKIP);
}

int th_num_cmp(th_num a, th_num b)
{
        if (a.is_signed && a.s < 0)
                return b.is_signed && b.s < 0 ? (a.s > b.s) - (a.s < b.s) : -1;
        if (b.is_signed && b.s < 0)
                return 1;
        /* Both are at least 0 here: compare as unsigned. */
        return (a.u > b.u) - (a.u < b.u);
}

static void num_str(th_num v, char *buf, size_t size)
{
        if (v.is_signed)
                snprintf(buf, size, "%lld", v.s);
        else
                snprintf(buf, size, "%llu", v.u);
}

void th_fail_cmp(const char *file, int line, const char *a, const char *op, const char *b,
                 th_num va, th_num vb)
{
        char sa[32], sb[32];
        num_str(va, sa, sizeof(sa));
        num_str(vb, sb, sizeof(sb));
        th_fail(file, line, "check failed: %s %s %s (%s %s %s)", a, op, b, sa, op, sb);
}

void th_note(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fflush(stdout);
}

int64_t th_now_ms(void)
{
        return (int64_t)(shmv__mono_usec() / 1000);
}

void th_sleep_ms(int ms)
{
        shmv__sleep_ms(ms);
}

int th_fd_count(pid_t pid)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", pid ? (int)pid : (int)getpid());
        DIR *d = opendir(path);
        if (!d)
                return -1;
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return pid ? n : n - 1;
}

int th_daemon_fd_count(void)
{
        return th_fd_count(daemon_pid);
}

bool th_socket_listens(const char *path)
{
        FILE *f = fopen("/proc/net/unix", "re");
        if (!f)
                return false;
        char line[512];
        bool found = false;
        while (!found && fgets(line, sizeof(line), f)) {
                unsigned long flags;
                char line_path[256];
                found = sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %255s", &flags, line_path) == 2 &&
                        (flags & 0x10000) && strcmp(line_path, path) == 0;
        }
        fclose(f);
        return found;
}

int th_fd_count_settled(pid_t pid)
{
        int last = -1, same = 0;
        for (int i = 0; i < 500 && same < 5; i++) {
                int now = th_fd_count(pid);
                same = now == last ? same + 1 : 0;
                last = now;
                th_sleep_ms(10);
        }
        return last;
}

bool th_fd_count_reaches(pid_t pid, int want, int timeout_ms)
{
        int now = -1;
        for (int64_t end = th_now_ms() + timeout_ms; th_now_ms() < end; th_sleep_ms(10))
                if ((now = th_fd_count(pid)) == want)
                        return true;
        fprintf(stderr, "process %d has %d descriptors open, wanted %d\n", (int)pid, now, want);
        return false;
}

/* Stops the daemon with SIGTERM; false unless it exits 0 (a sanitizer report, a leak found
 * at exit or a crash make it exit otherwise). */
static bool daemon_stop(void)
{
        if (daemon_pid <= 0)
                return true;
        kill(daemon_pid, SIGTERM);
        int st;
        waitpid(daemon_pid, &st, 0);
        daemon_pid = -1;
        unlink(sock_path);
        rmdir(tmpdir);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return true;
        fprintf(stderr, "shmviewd did not exit cleanly on SIGTERM (status 0x%x)\n", st);
        return false;
}

static void daemon_start(const char *const *extra)
{
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                exit(1);
        }
        /* Other uids must reach the socket for the permission tests. */
        chmod(tmpdir, 0755);
        if (daemon_uid != 0 && chown(tmpdir, daemon_uid, daemon_uid) < 0) {
                perror("chown");
                exit(1);
        }
        snprintf(sock_path, sizeof(sock_path), "%s/shmview.sock", tmpdir);
        setenv("SHMVIEW_SOCKET", sock_path, 1);

        const char *argv[32] = {SHMVIEWD_PATH, "--socket", sock_path, "--socket-mode", "0666"};
        size_t n = 5;
        for (; extra && *extra && n < 31; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;

        daemon_pid = fork();
        if (daemon_pid == 0) {
                struct rlimit rl = {daemon_nofile, daemon_nofile};
                if (daemon_nofile > 0 && setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                        perror("setrlimit");
                        _exit(127);
                }
                if (daemon_uid != 0)
                        th_become(daemon_uid, daemon_uid);
                execv(argv[0], (char **)(uintptr_t)argv);
                perror("execv shmviewd");
                _exit(127);
        }
        for (int i = 0; i < 500; i++) {
                if (th_socket_listens(sock_path)) {
                        /* Until what it opened to start (and closed) is closed. */
                        th_fd_count_settled(daemon_pid);
                        return;
                }
                int st;
                if (waitpid(daemon_pid, &st, WNOHANG) == daemon_pid) {
                        fprintf(stderr, "shmviewd exited during start-up\n");
                        exit(1);
                }
                th_sleep_ms(10);
        }
        fprintf(stderr, "shmviewd did not answer on %s\n", sock_path);
        daemon_stop();
        exit(1);
}

shmv_client *th_connect(void)
{
        shmv_client *c = NULL;
        int r = shmv_connect(NULL, &c);
        if (r < 0)
                th_fail(__FILE__, __LINE__, "shmv_connect: %s", shmv_strerror(r));
        return c;
}

int th_notify_bind(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                th_fail(__FILE__, __LINE__, "notify socket %s: %s", path, strerror(errno));
        return fd;
}

ssize_t th_notify_recv(int sock, char *buf, size_t buf_len, int *fds, size_t max_fds,
                       size_t *ret_nfds)
{
        /* As many descriptors as systemd takes in one message (SCM_MAX_FD). */
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int) * 253)];
        } cm;
        struct iovec iov = {buf, buf_len - 1};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = cm.b,
                             .msg_controllen = sizeof(cm.b)};
        ssize_t len = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (len < 0)
                return -1;
        buf[len] = '\0';
        size_t nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < n; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (nfds < max_fds)
                                fds[nfds++] = fd;
                        else
                                close(fd);
                }
        }
        *ret_nfds = nfds;
        return len;
}

void *th_data_mut(shmv_view *v)
{
        void *p;
        int r = shmv_view_data_mut(v, &p);
        if (r < 0)
                th_fail(__FILE__, __LINE__, "shmv_view_data_mut: %s (%s)", shmv_strerror(r),
                        shmv_last_error_message() ? shmv_last_error_message() : "no message");
        return p;
}

const char *th_name(const char *prefix)
{
        static unsigned counter;
        static char buf[128];
        snprintf(buf, sizeof(buf), "%s-%d-%u", prefix, (int)getpid(), counter++);
        return buf;
}

void th_become(uid_t uid, gid_t gid)
{
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                th_fail(__FILE__, __LINE__, "cannot become %u:%u: %s", (unsigned)uid, (unsigned)gid,
                        strerror(errno));
}

int th_in_child(void (*fn)(void *), void *arg)
{
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0)
                th_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
        if (pid == 0) {
                fn(arg);
                _exit(0);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        return 128 + WTERMSIG(st);
}

/* Runs one test in a forked child of its own process group, which is killed afterwards with
 * whatever the test left behind (helpers, daemons of its own); then, when this harness runs
 * the daemon, checks that it lives and that its descriptors are back at their baseline
 * (disconnects are handled asynchronously: it may take a moment). */
static int run_one(const th_test *t)
{
        int baseline = daemon_pid > 0 ? th_daemon_fd_count() : 0;
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
                setpgid(0, 0);
                alarm(TEST_TIMEOUT_S);
                t->fn();
                _exit(0);
        }
        setpgid(pid, pid);
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        kill(-pid, SIGKILL);
        if (WIFEXITED(st) && WEXITSTATUS(st) == TH_SKIP) {
                printf("SKIP %s\n", t->name);
                return TH_SKIP;
        }
        bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (WIFSIGNALED(st))
                fprintf(stderr, "%s: killed by signal %d%s\n", t->name, WTERMSIG(st),
                        WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
        if (daemon_pid > 0 && kill(daemon_pid, 0) < 0) {
                fprintf(stderr, "%s: the daemon died\n", t->name);
                ok = false;
        } else if (daemon_pid > 0 && !th_fd_count_reaches(daemon_pid, baseline, 3000)) {
                ok = false;
        }
        printf("%s %s\n", ok ? "PASS" : "FAIL", t->name);
        return ok ? 0 : 1;
}

/* With --list, prints the tests' names, one a line (tests/CMakeLists.txt registers each with
 * CTest); else runs those named (all when none), starting the daemon first when with_daemon.
 * Exits TH_SKIP when every test run was skipped. */
static int run(int argc, char **argv, const th_test *tests, size_t n, bool with_daemon,
               const char *const *extra_args)
{
        if (argc == 2 && strcmp(argv[1], "--list") == 0) {
                for (size_t i = 0; i < n; i++)
                        printf("%s\n", tests[i].name);
                return 0;
        }
        signal(SIGPIPE, SIG_IGN);
        if (with_daemon)
                daemon_start(extra_args);
        int failed = 0, passed = 0, skipped = 0;
        for (size_t i = 0; i < n; i++) {
                bool wanted = argc <= 1;
                for (int a = 1; a < argc; a++)
                        if (strcmp(argv[a], tests[i].name) == 0)
                                wanted = true;
                if (!wanted)
                        continue;
                int r = run_one(&tests[i]);
                if (r == TH_SKIP)
                        skipped++;
                else if (r)
                        failed++;
                else
                        passed++;
        }
        if (!daemon_stop()) {
                printf("FAIL daemon-exit\n");
                failed++;
        }
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
        if (failed)
                return 1;
        return passed == 0 && skipped > 0 ? TH_SKIP : 0;
}

int th_main(int argc, char **argv, const th_test *tests, size_t n, const char *const *extra_args)
{
        return run(argc, argv, tests, n, true, extra_args);
}

int th_main_no_daemon(int argc, char **argv, const th_test *tests, size_t n)
{
        return run(argc, argv, tests, n, false, NULL);
}
