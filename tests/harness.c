#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
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

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

static bool daemon_answers(void)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        return ok;
}

/* Waits until the daemon has closed the probe connection: its descriptor count holds still. */
static void settle(void)
{
        int last = -1, same = 0;
        for (int i = 0; i < 500 && same < 5; i++) {
                int now = th_daemon_fd_count();
                same = now == last ? same + 1 : 0;
                last = now;
                sleep_ms(10);
        }
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
        snprintf(sock_path, sizeof(sock_path), "%s/shmview.sock", tmpdir);
        setenv("SHMVIEW_SOCKET", sock_path, 1);

        const char *argv[32] = {SHMVIEWD_PATH, "--socket", sock_path, "--socket-mode", "0666"};
        size_t n = 5;
        for (; extra && *extra && n < 31; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;

        daemon_pid = fork();
        if (daemon_pid == 0) {
                execv(argv[0], (char **)(uintptr_t)argv);
                perror("execv shmviewd");
                _exit(127);
        }
        for (int i = 0; i < 500; i++) {
                if (daemon_answers()) {
                        settle();
                        return;
                }
                int st;
                if (waitpid(daemon_pid, &st, WNOHANG) == daemon_pid) {
                        fprintf(stderr, "shmviewd exited during start-up\n");
                        exit(1);
                }
                sleep_ms(10);
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

/* Disconnects are handled asynchronously by the daemon: give it a moment to settle. */
static bool fds_back_to(int baseline)
{
        int now = -1;
        for (int i = 0; i < 300; i++) {
                now = th_daemon_fd_count();
                if (now == baseline)
                        return true;
                sleep_ms(10);
        }
        fprintf(stderr, "daemon has %d descriptors open, %d before the test\n", now, baseline);
        return false;
}

static int run_one(const th_test *t)
{
        int baseline = th_daemon_fd_count();
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
                alarm(TEST_TIMEOUT_S);
                t->fn();
                _exit(0);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!ok && WIFSIGNALED(st))
                fprintf(stderr, "%s: killed by signal %d%s\n", t->name, WTERMSIG(st),
                        WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
        if (kill(daemon_pid, 0) < 0) {
                fprintf(stderr, "%s: the daemon died\n", t->name);
                ok = false;
        } else if (!fds_back_to(baseline)) {
                ok = false;
        }
        printf("%s %s\n", ok ? "PASS" : "FAIL", t->name);
        return ok ? 0 : 1;
}

int th_main(int argc, char **argv, const th_test *tests, size_t n, const char *const *extra_args)
{
        signal(SIGPIPE, SIG_IGN);
        daemon_start(extra_args);
        int failed = 0, passed = 0;
        for (size_t i = 0; i < n; i++) {
                bool wanted = argc <= 1;
                for (int a = 1; a < argc; a++)
                        if (strcmp(argv[a], tests[i].name) == 0)
                                wanted = true;
                if (!wanted)
                        continue;
                if (run_one(&tests[i]))
                        failed++;
                else
                        passed++;
        }
        if (!daemon_stop()) {
                printf("FAIL daemon-exit\n");
                failed++;
        }
        printf("%d passed, %d failed\n", passed, failed);
        return failed ? 1 : 0;
}
