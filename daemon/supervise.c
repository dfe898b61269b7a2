/* shmviewd --supervise: what systemd does for shmviewd.service and shmviewd.socket, for where
 * there is no systemd (a container's entry point), in one small loop.
 *
 * The supervisor binds the clients' socket, as a socket unit does, and runs the daemon with
 * it and with the descriptors kept for it, by systemd's documented protocols: LISTEN_FDS,
 * LISTEN_FDNAMES and LISTEN_PID at start (sd_listen_fds(3)), and notifications on
 * NOTIFY_SOCKET (sd_notify(3)): READY=1, STATUS=, STOPPING=1, WATCHDOG=1, and FDSTORE=1 or
 * FDSTOREREMOVE=1 with FDNAME=. So the daemon has one code path for both managers
 * (daemon/systemd.c, daemon/fdstore.c) and does not know which one runs it.
 *
 * It refuses what it does not understand: notifications from any process but the daemon
 * (SO_PASSCRED), longer than NOTIFY_MAX, with a key not listed above, a bad FDNAME=, a
 * descriptor that is not a memfd, a name already stored, a store that is full. The daemon
 * learns the store's size from FDSTORE= (as from systemd 254) and keeps max_segments within
 * it. When the supervisor dies the kernel sends the daemon SIGTERM (PR_SET_PDEATHSIG): the
 * descriptors kept were the supervisor's, so nothing would be kept for a next daemon anyway.
 * See docs/containers.md. */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "fdstore.h"
#include "log.h"

/* The longest notification, as systemd reads them (PIPE_BUF). */
#define NOTIFY_MAX 4096
/* Descriptors in one notification: the daemon stores one at a time. */
#define NOTIFY_FDS_MAX 1
/* A daemon that died is started again after this long. */
#define RESTART_DELAY_MS 100
/* A daemon that dies this many times in a row before READY=1 is given up on. */
#define START_LIMIT 5
/* SIGTERM (an upgrade, a stop) is followed by SIGKILL after this long: the daemon drains for
 * 5 s at most (DRAIN_TIMEOUT_MS in daemon/server.c). */
#define STOP_TIMEOUT_MS 10000

enum want { WANT_RUN, WANT_UPGRADE, WANT_STOP };

typedef struct supervisor {
        char exe[PATH_MAX]; /* by path: an upgrade runs what is there now */
        char **argv;
        const char *sock_path;
        struct stat sock_st;
        int listen_fd;
        int notify_fd;
        char notify_addr[64]; /* "@..." (abstract) */
        int signal_fd;
        GHashTable *store; /* FDNAME= (owned) -> descriptor + 1 */
        uint64_t store_max;
        size_t names_len; /* of the stored names, each with its ':' in LISTEN_FDNAMES */
        size_t names_max;
        uint32_t watchdog_ms;
        pid_t daemon; /* -1 when none runs */
        bool ready; /* it said READY=1 */
        unsigned early_deaths; /* in a row, before READY=1 */
        int64_t last_ping_ms; /* start or last WATCHDOG=1 */
        int64_t restart_at_ms; /* -1: none due */
        int64_t kill_at_ms; /* -1: none due */
        enum want want;
        int exit_status;
} supervisor;

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* As systemd's: 1 to 255 printable ASCII characters, no ':' (LISTEN_FDNAMES separates with
 * it). */
static bool fdname_valid(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > 255)
                return false;
        for (const char *p = name; *p; p++)
                if (*p < 0x20 || *p > 0x7e || *p == ':')
                        return false;
        return true;
}

static const char *store_add(supervisor *s, const char *name, int fd)
{
        if (fcntl(fd, F_GET_SEALS) < 0)
                return "the descriptor is not a memfd";
        if (g_hash_table_contains(s->store, name))
                return "the name is stored already";
        if (g_hash_table_size(s->store) >= s->store_max)
                return "the store is full";
        if (s->names_len + strlen(name) + 1 > s->names_max)
                return "LISTEN_FDNAMES would be too long to start the next daemon";
        s->names_len += strlen(name) + 1;
        g_hash_table_insert(s->store, g_strdup(name), GINT_TO_POINTER(fd + 1));
        return NULL;
}

static void close_stored(gpointer value)
{
        close(GPOINTER_TO_INT(value) - 1);
}

/* One datagram from the notify socket. Every descriptor in fds[] is taken. */
static void on_notification(supervisor *s, char *buf, size_t len, const struct ucred *cred,
                            int *fds, size_t nfds, bool truncated)
{
        bool ready = false, ping = false, fdstore = false, remove = false;
        const char *status = NULL, *fdname = NULL, *why = NULL;

        if (!cred || s->daemon <= 0 || cred->pid != s->daemon) {
                log_warning("supervisor: a notification from pid %d refused: not the daemon's",
                            cred ? (int)cred->pid : 0);
                goto out;
        }
        if (truncated) {
                why = "too long, or too many descriptors";
                goto refuse;
        }
        if (memchr(buf, '\0', len)) {
                why = "a NUL byte";
                goto refuse;
        }
        buf[len] = '\0';
        for (char *line = buf, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strcmp(line, "READY=1") == 0)
                        ready = true;
                else if (strcmp(line, "WATCHDOG=1") == 0)
                        ping = true;
                else if (strcmp(line, "STOPPING=1") == 0)
                        ;
                else if (strcmp(line, "FDSTORE=1") == 0)
                        fdstore = true;
                else if (strcmp(line, "FDSTOREREMOVE=1") == 0)
                        remove = true;
                else if (strncmp(line, "STATUS=", 7) == 0)
                        status = line + 7;
                else if (strncmp(line, "FDNAME=", 7) == 0)
                        fdname = line + 7;
                else {
                        why = "a key it does not know";
                        goto refuse;
                }
        }
        if ((fdstore || remove) && (!fdname || !fdname_valid(fdname)))
                why = "FDSTORE=1 or FDSTOREREMOVE=1 without a valid FDNAME=";
        else if (fdstore && remove)
                why = "both FDSTORE=1 and FDSTOREREMOVE=1";
        else if (fdstore != (nfds == 1) || nfds > 1)
                why = "descriptors without FDSTORE=1, or FDSTORE=1 without one";
        else if (fdstore && (why = store_add(s, fdname, fds[0])) == NULL)
                nfds = 0; /* the store's now */
        if (why)
                goto refuse;

        if (remove)
                if (g_hash_table_remove(s->store, fdname))
                        s->names_len -= strlen(fdname) + 1;
        if (status)
                log_debug("supervisor: daemon status: %s", status);
        if (ping || ready)
                s->last_ping_ms = now_ms();
        if (ready && !s->ready) {
                s->ready = true;
                s->early_deaths = 0;
                log_info("supervisor: daemon %d ready, %u descriptors stored", (int)s->daemon,
                         g_hash_table_size(s->store));
        }
        goto out;

refuse:
        log_warning("supervisor: a notification from the daemon refused: %s", why);
out:
        for (size_t i = 0; i < nfds; i++)
                close(fds[i]);
}

/* Reads every notification queued. */
static void read_notifications(supervisor *s)
{
        for (;;) {
                char buf[NOTIFY_MAX + 1];
                union {
                        struct cmsghdr h;
                        char b[CMSG_SPACE(sizeof(struct ucred)) +
                               CMSG_SPACE(sizeof(int) * NOTIFY_FDS_MAX)];
                } cm;
                struct iovec iov = {buf, NOTIFY_MAX};
                struct msghdr msg = {.msg_iov = &iov,
                                     .msg_iovlen = 1,
                                     .msg_control = cm.b,
                                     .msg_controllen = sizeof(cm.b)};
                ssize_t len =
                        recvmsg(s->notify_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
                if (len < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                log_warning("supervisor: notify socket: %m");
                        return;
                }
                const struct ucred *cred = NULL;
                int fds[NOTIFY_FDS_MAX];
                size_t nfds = 0;
                bool truncated = (size_t)len > NOTIFY_MAX || (msg.msg_flags & MSG_CTRUNC);
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                        if (c->cmsg_level != SOL_SOCKET)
                                continue;
                        if (c->cmsg_type == SCM_CREDENTIALS &&
                            c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                                cred = (const struct ucred *)(void *)CMSG_DATA(c);
                        if (c->cmsg_type != SCM_RIGHTS)
                                continue;
                        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < n; i++) {
                                int fd;
                                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                if (nfds < NOTIFY_FDS_MAX) {
                                        fds[nfds++] = fd;
                                } else {
                                        close(fd);
                                        truncated = true;
                                }
                        }
                }
                on_notification(s, buf, truncated ? 0 : (size_t)len, cred, fds, nfds, truncated);
        }
}

/* In the child, between fork() and exec(): the socket, then the store, from descriptor 3 on
 * (moved out of the way first), the environment, the daemon. */
static void exec_daemon(const supervisor *s, pid_t parent, int *fds, size_t n, const char *names)
{
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) /* the supervisor died before prctl() */
                _exit(0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (size_t i = 0; i < n; i++) {
                int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)(3 + n));
                if (fd < 0)
                        _exit(126);
                close(fds[i]);
                fds[i] = fd;
        }
        for (size_t i = 0; i < n; i++)
                if (dup2(fds[i], (int)(3 + i)) < 0)
                        _exit(126);
        char num[32];
        snprintf(num, sizeof(num), "%zu", n);
        setenv("LISTEN_FDS", num, 1);
        setenv("LISTEN_FDNAMES", names, 1);
        snprintf(num, sizeof(num), "%d", (int)getpid());
        setenv("LISTEN_PID", num, 1);
        setenv("NOTIFY_SOCKET", s->notify_addr, 1);
        snprintf(num, sizeof(num), "%" PRIu64, s->store_max);
        setenv("FDSTORE", num, 1);
        unsetenv("WATCHDOG_PID");
        if (s->watchdog_ms > 0) {
                snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)s->watchdog_ms * 1000);
                setenv("WATCHDOG_USEC", num, 1);
        } else {
                unsetenv("WATCHDOG_USEC");
        }
        execv(s->exe, s->argv);
        log_error("supervisor: cannot run %s: %m", s->exe);
        _exit(127);
}

static void start_daemon(supervisor *s)
{
        size_t n = 1 + g_hash_table_size(s->store);
        int *fds = g_new(int, n);
        GString *names = g_string_new("socket");
        fds[0] = s->listen_fd;
        size_t i = 1;
        GHashTableIter it;
        gpointer key, value;
        g_hash_table_iter_init(&it, s->store);
        while (g_hash_table_iter_next(&it, &key, &value)) {
                fds[i++] = GPOINTER_TO_INT(value) - 1;
                g_string_append_c(names, ':');
                g_string_append(names, key);
        }
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid == 0)
                exec_daemon(s, parent, fds, n, names->str);
        g_free(fds);
        g_string_free(names, true);
        s->restart_at_ms = -1;
        if (pid < 0) {
                log_error("supervisor: fork: %m");
                s->restart_at_ms = now_ms() + RESTART_DELAY_MS;
                return;
        }
        s->daemon = pid;
        s->ready = false;
        s->last_ping_ms = now_ms();
        log_info("supervisor: daemon %d started with %zu stored descriptors", (int)pid, n - 1);
}

static void on_daemon_exit(supervisor *s, int st)
{
        char how[64];
        if (WIFEXITED(st))
                snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(st));
        else
                snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(st));
        pid_t pid = s->daemon;
        s->daemon = -1;
        s->kill_at_ms = -1;
        switch (s->want) {
        case WANT_STOP:
                log_info("supervisor: daemon %d %s", (int)pid, how);
                return;
        case WANT_UPGRADE:
                log_info("supervisor: daemon %d %s; starting %s", (int)pid, how, s->exe);
                s->want = WANT_RUN;
                s->restart_at_ms = now_ms();
                return;
        case WANT_RUN:
                break;
        }
        if (!s->ready && ++s->early_deaths >= START_LIMIT) {
                log_error("supervisor: daemon %d %s; %u in a row ended before READY=1, giving "
                          "up",
                          (int)pid, how, s->early_deaths);
                s->want = WANT_STOP;
                s->exit_status = 1;
                return;
        }
        log_warning("supervisor: daemon %d %s; restarting it", (int)pid, how);
        s->restart_at_ms = now_ms() + RESTART_DELAY_MS;
}

/* Reaps every child that ended; orphans too, should the supervisor be PID 1. */
static void reap(supervisor *s)
{
        for (;;) {
                int st;
                pid_t pid = waitpid(-1, &st, WNOHANG);
                if (pid <= 0)
                        return;
                if (pid != s->daemon)
                        continue;
                /* What it said before it ended is read before the next one starts. */
                read_notifications(s);
                on_daemon_exit(s, st);
        }
}

/* Asks the daemon to stop gracefully; SIGKILL follows if it takes too long. */
static void stop_daemon(supervisor *s, enum want want)
{
        s->want = want;
        if (s->daemon <= 0) {
                if (want == WANT_UPGRADE) {
                        s->want = WANT_RUN;
                        s->restart_at_ms = now_ms();
                }
                return;
        }
        kill(s->daemon, SIGTERM);
        s->kill_at_ms = now_ms() + STOP_TIMEOUT_MS;
}

static void on_signal(supervisor *s)
{
        struct signalfd_siginfo si;
        while (read(s->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                switch (si.ssi_signo) {
                case SIGCHLD:
                        reap(s);
                        break;
                case SIGHUP:
                        if (s->want == WANT_RUN) {
                                log_info("supervisor: SIGHUP: restarting the daemon from %s",
                                         s->exe);
                                stop_daemon(s, WANT_UPGRADE);
                        }
                        break;
                default: /* SIGTERM, SIGINT */
                        if (s->want != WANT_STOP)
                                log_info("supervisor: signal %u: stopping", si.ssi_signo);
                        stop_daemon(s, WANT_STOP);
                        break;
                }
        }
}

/* Milliseconds until the next deadline, -1 for none. */
static int next_timeout(const supervisor *s, int64_t now)
{
        int64_t at = -1;
        if (s->restart_at_ms >= 0)
                at = s->restart_at_ms;
        if (s->kill_at_ms >= 0 && (at < 0 || s->kill_at_ms < at))
                at = s->kill_at_ms;
        if (s->watchdog_ms > 0 && s->daemon > 0 && s->ready && s->kill_at_ms < 0) {
                int64_t w = s->last_ping_ms + s->watchdog_ms;
                if (at < 0 || w < at)
                        at = w;
        }
        if (at < 0)
                return -1;
        return at <= now ? 0 : (int)(at - now > INT_MAX ? INT_MAX : at - now);
}

static void on_deadlines(supervisor *s)
{
        int64_t now = now_ms();
        if (s->daemon > 0 && s->kill_at_ms >= 0 && now >= s->kill_at_ms) {
                log_warning("supervisor: daemon %d did not stop in time: SIGKILL", (int)s->daemon);
                kill(s->daemon, SIGKILL);
                s->kill_at_ms = -1;
        } else if (s->daemon > 0 && s->ready && s->watchdog_ms > 0 && s->kill_at_ms < 0 &&
                   now >= s->last_ping_ms + s->watchdog_ms) {
                log_error("supervisor: watchdog: daemon %d sent no WATCHDOG=1 for %" PRIu32
                          " ms: SIGKILL",
                          (int)s->daemon, s->watchdog_ms);
                kill(s->daemon, SIGKILL);
                s->kill_at_ms = now + STOP_TIMEOUT_MS; /* no second kill until it is reaped */
        }
        if (s->daemon <= 0 && s->want == WANT_RUN && s->restart_at_ms >= 0 &&
            now >= s->restart_at_ms)
                start_daemon(s);
}

static int notify_socket(supervisor *s)
{
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                rnd = (uint64_t)now_ms() ^ (uint64_t)getpid() << 32;
        snprintf(s->notify_addr, sizeof(s->notify_addr), "@shmviewd-supervisor/%d/%016" PRIx64,
                 (int)getpid(), rnd);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len = strlen(s->notify_addr);
        memcpy(sa.sun_path + 1, s->notify_addr + 1, len - 1);
        s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int one = 1;
        if (s->notify_fd < 0 ||
            setsockopt(s->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
            bind(s->notify_fd, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
                int r = -errno;
                log_error("supervisor: notify socket: %m");
                return r;
        }
        return 0;
}

/* The store must fit under the descriptor limit, with room for the daemon's start (the child
 * that execs it moves the n descriptors out of the way of 3 to 3 + n before it puts them there,
 * so it needs 2n and a few: past that it exits 126 and no daemon starts), and its
 * names in LISTEN_FDNAMES, one environment string, which the kernel refuses to exec past
 * MAX_ARG_STRLEN (32 pages): past that, no next daemon could start at all. The daemon names
 * its segments so that SHMV__FDSTORE_SEGMENTS_MAX of them fit (daemon/fdstore.h); store_add()
 * still counts the bytes, whatever the names. */
static void size_store(supervisor *s, const shmv__config *cfg)
{
        long page = sysconf(_SC_PAGESIZE);
        s->names_max = 32 * (size_t)(page > 0 ? page : 4096) - sizeof("LISTEN_FDNAMES=socket");
        uint64_t by_names = SHMV__FDSTORE_SEGMENTS_MAX + 1; /* and the metadata memfd */
        uint64_t by_fds = UINT64_MAX;
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
                if (rl.rlim_cur != RLIM_INFINITY)
                        by_fds = rl.rlim_cur > 64 + 4 ? (rl.rlim_cur - 64) / 2 : 2;
        }
        s->store_max = (uint64_t)cfg->limits.max_segments + 1; /* and the metadata memfd */
        if (s->store_max <= by_names && s->store_max <= by_fds)
                return;
        s->store_max = by_names < by_fds ? by_names : by_fds;
        log_info("supervisor: the store keeps %" PRIu64 " descriptors at most (%s); the daemon "
                 "lowers max_segments to fit",
                 s->store_max,
                 by_names < by_fds ? "the names of more would not fit LISTEN_FDNAMES"
                                   : "RLIMIT_NOFILE");
}

int shmv__supervise(const shmv__config *cfg, char **argv, uint32_t watchdog_ms)
{
        supervisor s = {
                .argv = argv,
                .sock_path = cfg->socket_path,
                .listen_fd = -1,
                .notify_fd = -1,
                .signal_fd = -1,
                .watchdog_ms = watchdog_ms,
                .daemon = -1,
                .restart_at_ms = 0,
                .kill_at_ms = -1,
                .want = WANT_RUN,
                .exit_status = 1,
        };
        ssize_t n = readlink("/proc/self/exe", s.exe, sizeof(s.exe) - 1);
        if (n < 0) {
                log_error("supervisor: cannot tell where shmviewd is: %m");
                return 1;
        }
        s.exe[n] = '\0';
        size_store(&s, cfg);

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        s.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (s.signal_fd < 0) {
                log_error("supervisor: signalfd: %m");
                return 1;
        }
        if (notify_socket(&s) < 0 || shmv__socket_listen(cfg, &s.listen_fd, &s.sock_st) < 0)
                goto out;
        s.store = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, close_stored);
        s.exit_status = 0;
        log_info("supervisor: listening on %s", cfg->socket_path);

        while (s.want != WANT_STOP || s.daemon > 0) {
                struct pollfd p[2] = {{.fd = s.signal_fd, .events = POLLIN},
                                      {.fd = s.notify_fd, .events = POLLIN}};
                int r = poll(p, 2, next_timeout(&s, now_ms()));
                if (r < 0 && errno != EINTR) {
                        log_error("supervisor: poll: %m");
                        break;
                }
                if (p[1].revents)
                        read_notifications(&s);
                if (p[0].revents)
                        on_signal(&s);
                on_deadlines(&s);
        }
        g_hash_table_destroy(s.store);
        shmv__socket_remove(cfg->socket_path, s.sock_st.st_dev, s.sock_st.st_ino);
out:
        if (s.listen_fd >= 0)
                close(s.listen_fd);
        if (s.notify_fd >= 0)
                close(s.notify_fd);
        close(s.signal_fd);
        return s.exit_status;
}
