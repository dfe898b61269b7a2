/* Daemon restarts that lose nothing. No systemd runs as PID 1 here, so the test plays the
 * service manager itself, by systemd's documented protocols: a notify socket that collects
 * READY=1, STATUS=, STOPPING=1, WATCHDOG=1 and the FDSTORE=1/FDNAME= descriptors (and obeys
 * FDSTOREREMOVE=1), then a new daemon started with those descriptors in LISTEN_FDS,
 * LISTEN_FDNAMES and LISTEN_PID, and, like a socket unit, a listening socket held across
 * restarts. The daemons are the real shmviewd; the clients are real processes with real
 * views. Socket activation is also tested with systemd-socket-activate. */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "harness.h"
#include "raw.h"

#ifndef SYSTEMD_SOCKET_ACTIVATE
#define SYSTEMD_SOCKET_ACTIVATE ""
#endif

#define MAX_STORE 1024
#define WAIT_MS 30000 /* only a failing test waits this long */

/* ---- The service manager ---- */

typedef struct stored_fd {
        int fd;
        char name[256];
} stored_fd;

static struct {
        char dir[64];
        char notify_path[108];
        char sock_path[108];
        int notify_fd;
        int listen_fd; /* held across restarts, like a socket unit's; -1: the daemon binds */
        pthread_t thread;
        pthread_mutex_t lock;
        stored_fd store[MAX_STORE];
        size_t nstore;
        unsigned ready, stopping, watchdog, syncs;
        char status[256];
        bool quit;
        pid_t daemon;
        const char *max_views; /* --max-views-per-client */
} M = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void store_remove_locked(const char *name)
{
        for (size_t i = 0; i < M.nstore;) {
                if (strcmp(M.store[i].name, name) == 0) {
                        close(M.store[i].fd);
                        M.store[i] = M.store[--M.nstore];
                } else {
                        i++;
                }
        }
}

/* One notification, as systemd reads it: newline-separated assignments. */
static void handle_message(char *buf, const int *fds, size_t nfds)
{
        bool fdstore = false, remove = false;
        char fdname[256] = "stored";
        pthread_mutex_lock(&M.lock);
        for (char *line = buf, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strcmp(line, "READY=1") == 0)
                        M.ready++;
                else if (strcmp(line, "STOPPING=1") == 0)
                        M.stopping++;
                else if (strcmp(line, "WATCHDOG=1") == 0)
                        M.watchdog++;
                else if (strcmp(line, "SYNC=1") == 0)
                        M.syncs++;
                else if (strncmp(line, "STATUS=", 7) == 0)
                        snprintf(M.status, sizeof(M.status), "%s", line + 7);
                else if (strcmp(line, "FDSTORE=1") == 0)
                        fdstore = true;
                else if (strcmp(line, "FDSTOREREMOVE=1") == 0)
                        remove = true;
                else if (strncmp(line, "FDNAME=", 7) == 0)
                        snprintf(fdname, sizeof(fdname), "%s", line + 7);
        }
        if (remove)
                store_remove_locked(fdname);
        for (size_t i = 0; i < nfds; i++) {
                if (fdstore && M.nstore < MAX_STORE) {
                        M.store[M.nstore].fd = fds[i];
                        snprintf(M.store[M.nstore].name, sizeof(M.store[0].name), "%s", fdname);
                        M.nstore++;
                } else {
                        close(fds[i]);
                }
        }
        pthread_mutex_unlock(&M.lock);
}

static void *manager_thread(void *arg)
{
        for (;;) {
                pthread_mutex_lock(&M.lock);
                bool quit = M.quit;
                pthread_mutex_unlock(&M.lock);
                if (quit)
                        return NULL;
                struct pollfd p = {.fd = M.notify_fd, .events = POLLIN};
                if (poll(&p, 1, 50) <= 0)
                        continue;
                char buf[4096];
                int fds[253];
                size_t nfds;
                if (th_notify_recv(M.notify_fd, buf, sizeof(buf), fds, 253, &nfds) >= 0)
                        handle_message(buf, fds, nfds);
        }
}

/* hold_socket: bind and listen on the clients' socket here and pass it to every daemon, as a
 * socket unit does; else each daemon binds its own. */
static void manager_init(bool hold_socket)
{
        snprintf(M.dir, sizeof(M.dir), "/tmp/shmview-restart-XXXXXX");
        if (!mkdtemp(M.dir))
                th_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
        chmod(M.dir, 0755); /* clients of other uids reach the socket */
        snprintf(M.notify_path, sizeof(M.notify_path), "%s/notify", M.dir);
        snprintf(M.sock_path, sizeof(M.sock_path), "%s/shmview.sock", M.dir);
        setenv("SHMVIEW_SOCKET", M.sock_path, 1);

        M.notify_fd = th_notify_bind(M.notify_path);

        M.listen_fd = -1;
        if (hold_socket) {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", M.sock_path);
                M.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                CHECK_GE(M.listen_fd, 0);
                CHECK_EQ(bind(M.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                CHECK_EQ(chmod(M.sock_path, 0666), 0);
                CHECK_EQ(listen(M.listen_fd, 64), 0);
        }
        M.daemon = -1;
        M.max_views = "4096";
        CHECK_EQ(pthread_create(&M.thread, NULL, manager_thread, NULL), 0);
}

static void manager_done(void)
{
        if (M.daemon > 0) {
                kill(M.daemon, SIGKILL);
                waitpid(M.daemon, NULL, 0);
        }
        pthread_mutex_lock(&M.lock);
        M.quit = true;
        pthread_mutex_unlock(&M.lock);
        pthread_join(M.thread, NULL);
        for (size_t i = 0; i < M.nstore; i++)
                close(M.store[i].fd);
        M.nstore = 0;
        close(M.notify_fd);
        if (M.listen_fd >= 0)
                close(M.listen_fd);
        unlink(M.notify_path);
        unlink(M.sock_path);
        rmdir(M.dir);
}

/* Waits until *counter (under the lock) reaches target. */
static bool wait_count(const unsigned *counter, unsigned target)
{
        for (int64_t end = th_now_ms() + WAIT_MS; th_now_ms() < end; th_sleep_ms(5)) {
                pthread_mutex_lock(&M.lock);
                unsigned v = *counter;
                pthread_mutex_unlock(&M.lock);
                if (v >= target)
                        return true;
        }
        return false;
}

/* Returns once every notification sent so far is handled: datagrams are read in order. */
static void manager_sync(void)
{
        pthread_mutex_lock(&M.lock);
        unsigned want = M.syncs + 1;
        pthread_mutex_unlock(&M.lock);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", M.notify_path);
        CHECK_EQ(sendto(fd, "SYNC=1", 6, 0, (struct sockaddr *)&sa, sizeof(sa)), 6);
        close(fd);
        CHECK(wait_count(&M.syncs, want));
}

static size_t store_count(const char *prefix)
{
        pthread_mutex_lock(&M.lock);
        size_t n = 0;
        for (size_t i = 0; i < M.nstore; i++)
                if (strncmp(M.store[i].name, prefix, strlen(prefix)) == 0)
                        n++;
        pthread_mutex_unlock(&M.lock);
        return n;
}

/* The stored segments: every name but the metadata's. */
static size_t store_segments(void)
{
        pthread_mutex_lock(&M.lock);
        size_t n = 0;
        for (size_t i = 0; i < M.nstore; i++)
                if (strcmp(M.store[i].name, "meta") != 0)
                        n++;
        pthread_mutex_unlock(&M.lock);
        return n;
}

/* Starts shmviewd as the service manager would: with the held socket and the stored
 * descriptors in LISTEN_FDS/LISTEN_FDNAMES, LISTEN_PID its own pid, NOTIFY_SOCKET, and
 * WATCHDOG_USEC when watchdog_usec > 0. Returns once it said READY=1. */
static pid_t start_daemon(unsigned watchdog_usec)
{
        static int fds[MAX_STORE + 1];
        static char names[(MAX_STORE + 1) * 257];
        size_t n = 0;
        names[0] = '\0';
        if (M.listen_fd >= 0) {
                fds[n++] = M.listen_fd;
                strcat(names, "shmviewd.socket");
        }
        pthread_mutex_lock(&M.lock);
        for (size_t i = 0; i < M.nstore; i++) {
                fds[n++] = M.store[i].fd;
                if (names[0])
                        strcat(names, ":");
                strcat(names, M.store[i].name);
        }
        unsigned ready = M.ready;
        pthread_mutex_unlock(&M.lock);

        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* Out of the way first, then in place from 3 on, without close-on-exec. */
                int tmp[MAX_STORE + 1];
                for (size_t i = 0; i < n; i++)
                        tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)(3 + n));
                for (size_t i = 0; i < n; i++)
                        if (tmp[i] < 0 || dup2(tmp[i], (int)(3 + i)) < 0)
                                _exit(126);
                char num[32];
                if (n > 0) {
                        snprintf(num, sizeof(num), "%zu", n);
                        setenv("LISTEN_FDS", num, 1);
                        setenv("LISTEN_FDNAMES", names, 1);
                        snprintf(num, sizeof(num), "%d", (int)getpid());
                        setenv("LISTEN_PID", num, 1);
                }
                setenv("NOTIFY_SOCKET", M.notify_path, 1);
                if (watchdog_usec > 0) {
                        snprintf(num, sizeof(num), "%u", watchdog_usec);
                        setenv("WATCHDOG_USEC", num, 1);
                }
                const char *argv[] = {
                        SHMVIEWD_PATH, "--socket",    M.sock_path, "--socket-mode",
                        "0666",        "--log-level", "warning",   "--max-views-per-client",
                        M.max_views,   NULL};
                execv(argv[0], (char **)(uintptr_t)argv);
                _exit(127);
        }
        M.daemon = pid;
        for (int64_t end = th_now_ms() + WAIT_MS; th_now_ms() < end; th_sleep_ms(5)) {
                pthread_mutex_lock(&M.lock);
                bool up = M.ready > ready;
                pthread_mutex_unlock(&M.lock);
                if (up)
                        return pid;
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        M.daemon = -1;
                        th_fail(__FILE__, __LINE__, "shmviewd exited during start-up (0x%x)", st);
                }
        }
        th_fail(__FILE__, __LINE__, "shmviewd did not send READY=1");
}

/* Signals the daemon and reaps it; returns its wait status. */
static int stop_daemon(int sig)
{
        pid_t pid = M.daemon;
        CHECK_GT(pid, 0);
        kill(pid, sig);
        int st;
        CHECK_EQ(waitpid(pid, &st, 0), pid);
        M.daemon = -1;
        return st;
}

/* ---- Segments and bytes ---- */

static uint8_t pattern_byte(size_t i, unsigned seed)
{
        return (uint8_t)(i * 131u + seed * 7u + (i >> 8));
}

static void write_pattern(shmv_client *c, const char *name, unsigned seed)
{
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v));
        uint8_t *p = th_data_mut(v);
        for (size_t i = 0; i < shmv_view_nbytes(v); i++)
                p[i] = pattern_byte(i, seed);
        shmv_view_release(v);
}

static void check_pattern_view(const shmv_view *v, unsigned seed)
{
        const uint8_t *p = shmv_view_data(v);
        for (size_t i = 0; i < shmv_view_nbytes(v); i++)
                if (p[i] != pattern_byte(i, seed))
                        th_fail(__FILE__, __LINE__, "byte %zu is %u, wanted %u", i, p[i],
                                pattern_byte(i, seed));
}

static void check_pattern(shmv_client *c, const char *name, unsigned seed)
{
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v));
        check_pattern_view(v, seed);
        shmv_view_release(v);
}

static void check_same_info(const shmv_segment_info *a, const shmv_segment_info *b)
{
        CHECK_STR(a->name, b->name);
        CHECK_EQ(a->size, b->size);
        CHECK_EQ(a->uid, b->uid);
        CHECK_EQ(a->gid, b->gid);
        CHECK_EQ(a->mode, b->mode);
        CHECK_EQ(a->sealed, b->sealed);
        CHECK_EQ(a->created_usec, b->created_usec);
}

/* ---- A client process that keeps writing through a writable view ---- */

#define W_SIZE (64u * 1024u)

typedef struct child {
        pid_t pid;
        int cmd; /* to the child */
        int rsp; /* from it */
} child;

static void child_reply(int fd, const void *buf, size_t len)
{
        if (write(fd, buf, len) != (ssize_t)len)
                th_fail(__FILE__, __LINE__, "reply: %s", strerror(errno));
}

static void child_send(const child *k, char ch)
{
        CHECK_EQ(write(k->cmd, &ch, 1), 1);
}

/* Reads len bytes of the child's answer, failing when it dies or takes too long. */
static void child_read(const child *k, void *buf, size_t len)
{
        uint8_t *p = buf;
        while (len > 0) {
                struct pollfd pfd = {.fd = k->rsp, .events = POLLIN};
                if (poll(&pfd, 1, WAIT_MS) != 1)
                        th_fail(__FILE__, __LINE__, "the client process did not answer");
                ssize_t n = read(k->rsp, p, len);
                if (n <= 0)
                        th_fail(__FILE__, __LINE__, "the client process died");
                p += n;
                len -= (size_t)n;
        }
}

static void child_expect(const child *k, char want)
{
        char ch;
        child_read(k, &ch, 1);
        CHECK_EQ(ch, want);
}

static child child_start(void (*fn)(int cmd, int rsp))
{
        int to[2], from[2];
        CHECK_EQ(pipe2(to, O_CLOEXEC), 0);
        CHECK_EQ(pipe2(from, O_CLOEXEC), 0);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(to[1]);
                close(from[0]);
                fn(to[0], from[1]);
                _exit(0);
        }
        close(to[0]);
        close(from[1]);
        return (child){.pid = pid, .cmd = to[1], .rsp = from[0]};
}

static void child_finish(child *k)
{
        int st;
        CHECK_EQ(waitpid(k->pid, &st, 0), k->pid);
        close(k->cmd);
        close(k->rsp);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                th_fail(__FILE__, __LINE__, "the client process failed (status 0x%x)", st);
}

/* As uid 65534: creates "w", maps it writable and writes pass after pass (every word the
 * pass number) until told to stop, answering commands between passes. */
static void writer_main(int cmd, int rsp)
{
        th_become(65534, 65534);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a change of uid cleared it */
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "w", W_SIZE, 0644));
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, "w", 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v));
        volatile uint64_t *words = th_data_mut(v);
        size_t n = W_SIZE / sizeof(uint64_t);
        CHECK_EQ(fcntl(cmd, F_SETFL, O_NONBLOCK), 0);
        child_reply(rsp, "R", 1);
        for (uint64_t k = 1;; k++) {
                for (size_t i = 0; i < n; i++)
                        words[i] = k;
                for (size_t i = 0; i < n; i++)
                        CHECK_EQ(words[i], k);
                char ch;
                if (read(cmd, &ch, 1) != 1)
                        continue;
                shmv_segment_info info;
                if (ch == 'D') {
                        /* The daemon is down: a call fails at once, the view works on. */
                        int64_t t0 = th_now_ms();
                        int r = shmv_segment_stat(c, "w", &info);
                        int64_t dt = th_now_ms() - t0;
                        if (r != -ECONNREFUSED && r != -ENOTCONN)
                                th_fail(__FILE__, __LINE__, "stat with the daemon down: %d (%s)", r,
                                        shmv_strerror(r));
                        if (dt > 1000)
                                th_fail(__FILE__, __LINE__, "stat took %lld ms", (long long)dt);
                        child_reply(rsp, &k, sizeof(k));
                } else if (ch == 'U') {
                        /* Back: the next call reconnects and the view is counted again. */
                        CHECK_OK(shmv_segment_stat(c, "w", &info));
                        CHECK_EQ(info.views_rw, 1);
                        CHECK_EQ(info.uid, 65534);
                        child_reply(rsp, "u", 1);
                } else if (ch == 'S') {
                        child_reply(rsp, &k, sizeof(k));
                        CHECK_EQ(fcntl(cmd, F_SETFL, 0), 0);
                        CHECK_EQ(read(cmd, &ch, 1), 1);
                        CHECK_EQ(ch, 'X');
                        shmv_view_release(v);
                        shmv_disconnect(c);
                        return;
                }
        }
}

/* ---- Tests ---- */

static const char *const kept[] = {"a", "sealed", "w"};

static void test_sigkill_restart(void)
{
        manager_init(false);
        pid_t d1 = start_daemon(200000);
        CHECK_EQ(store_count("meta"), 1);

        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "a", 3 * 4096 + 100, 0644));
        write_pattern(c, "a", 1);
        CHECK_OK(shmv_segment_create(c, "sealed", 5000, 0604));
        write_pattern(c, "sealed", 2);
        CHECK_OK(shmv_segment_seal(c, "sealed"));
        CHECK_OK(shmv_segment_create(c, "gone", 8192, 0600));
        write_pattern(c, "gone", 3);
        shmv_view *g;
        CHECK_OK(shmv_view_open(c, "gone", 0, SHMV_TO_END, SHMV_READ, &g));
        child w = child_start(writer_main);
        child_expect(&w, 'R');

        /* The service manager hears from the daemon. */
        CHECK(wait_count(&M.watchdog, 2));
        bool status_ok = false;
        for (int64_t end = th_now_ms() + WAIT_MS; !status_ok && th_now_ms() < end;
             th_sleep_ms(20)) {
                pthread_mutex_lock(&M.lock);
                status_ok = strstr(M.status, "4 segments") != NULL;
                pthread_mutex_unlock(&M.lock);
        }
        CHECK(status_ok);

        shmv_segment_info before[3];
        for (int i = 0; i < 3; i++)
                CHECK_OK(shmv_segment_stat(c, kept[i], &before[i]));
        CHECK_EQ(before[2].uid, 65534);
        CHECK(before[1].sealed);
        CHECK_EQ(store_segments(), 4);

        /* Unlinked just before the crash: it must stay gone, though a view still maps it. */
        CHECK_OK(shmv_segment_unlink(c, "gone"));
        CHECK_EQ(stop_daemon(SIGKILL), SIGKILL);
        manager_sync();
        CHECK_EQ(store_segments(), 3);
        CHECK_EQ(store_count("meta"), 1);

        /* Down: calls fail fast, views work. */
        shmv_segment_info info;
        int64_t t0 = th_now_ms();
        CHECK_RC(shmv_segment_stat(c, "a", &info), -ECONNREFUSED);
        CHECK_LT(th_now_ms() - t0, 1000);
        child_send(&w, 'D');
        uint64_t k_down;
        child_read(&w, &k_down, sizeof(k_down));
        check_pattern_view(g, 3);

        pid_t d2 = start_daemon(0);
        CHECK_NE(d2, d1);
        int d2_fds = th_fd_count_settled(d2);

        /* Every segment back, with every byte, owner, mode and seal; the unlinked one not. */
        shmv_segment_info *list;
        size_t n;
        CHECK_OK(shmv_segment_list(c, &list, &n));
        CHECK_EQ(n, 3);
        for (size_t i = 0; i < n; i++)
                check_same_info(&list[i], &before[i]); /* sorted: a, sealed, w */
        shmv_segment_list_free(list);
        CHECK_RC(shmv_segment_stat(c, "gone", &info), -ENOENT);
        /* Each came back with its memfd alone; its first read-only view opens its read-only
         * descriptor, as for a segment just created. */
        int c_fds = th_fd_count_settled(d2);
        check_pattern(c, "a", 1);
        check_pattern(c, "sealed", 2);
        CHECK(th_fd_count_reaches(d2, c_fds + 2, WAIT_MS));
        shmv_view *v;
        CHECK_RC(shmv_view_open(c, "sealed", 0, 1, SHMV_READ | SHMV_WRITE, &v), -EPERM);
        check_pattern_view(g, 3);

        /* The writer reconnects; its view is counted again, so seal is refused. */
        child_send(&w, 'U');
        child_expect(&w, 'u');
        CHECK_RC(shmv_segment_seal(c, "w"), -EBUSY);
        CHECK_OK(shmv_segment_stat(c, "w", &info));
        CHECK_EQ(info.views_rw, 1);

        /* What the writer wrote before, during and after the restart is in the segment the
         * new daemon serves. */
        child_send(&w, 'S');
        uint64_t k_last;
        child_read(&w, &k_last, sizeof(k_last));
        CHECK_GT(k_last, k_down);
        CHECK_OK(shmv_view_open(c, "w", 0, SHMV_TO_END, SHMV_READ, &v));
        const uint64_t *words = shmv_view_data(v);
        for (size_t i = 0; i < W_SIZE / 8; i++)
                if (words[i] != k_last)
                        th_fail(__FILE__, __LINE__, "word %zu is %llu, wanted %llu", i,
                                (unsigned long long)words[i], (unsigned long long)k_last);
        shmv_view_release(v);
        child_send(&w, 'X');
        child_finish(&w);
        for (int64_t end = th_now_ms() + WAIT_MS; th_now_ms() < end; th_sleep_ms(5)) {
                CHECK_OK(shmv_segment_stat(c, "w", &info));
                if (info.views_rw == 0)
                        break;
        }
        CHECK_OK(shmv_segment_seal(c, "w"));

        /* Unlinked now, each takes its two descriptors (its memfd, counted in d2_fds, and the
         * read-only one opened since) from the daemon and its memfd from the store. */
        for (int i = 0; i < 3; i++)
                CHECK_OK(shmv_segment_unlink(c, kept[i]));
        shmv_view_release(g);
        shmv_disconnect(c);
        CHECK(th_fd_count_reaches(d2, d2_fds - 3, WAIT_MS));
        manager_sync();
        CHECK_EQ(store_segments(), 0);
        CHECK_EQ(store_count("meta"), 1);

        int st = stop_daemon(SIGTERM);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        CHECK(wait_count(&M.stopping, 1));
        manager_done();
}

#define N_LIST 200
#define N_PIPELINED 48

static void list_name(char *buf, size_t size, int i)
{
        char pad[201];
        memset(pad, 'n', 200);
        pad[200] = '\0';
        snprintf(buf, size, "t-%03d-%s", i, pad);
}

/* SIGTERM: replies to what was already asked are all sent before the daemon exits 0, and the
 * segments come back in the next daemon, on the socket the service manager held. */
static void test_sigterm_restart(void)
{
        manager_init(true);
        start_daemon(0);
        shmv_client *c = th_connect();
        char name[256];
        for (int i = 0; i < N_LIST; i++) {
                list_name(name, sizeof(name), i);
                CHECK_OK(shmv_segment_create(c, name, 4096, 0600));
                write_pattern(c, name, (unsigned)i);
        }

        /* A client that asks for many large replies and reads none yet: the daemon stops
         * reading it once its replies back up, with requests still buffered. */
        th_raw r;
        th_raw_connect_hello(&r);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__ListRequest lr = SHMVIEW__LIST_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_LIST;
        req.list = &lr;
        /* In one write, so that the daemon reads all or nothing of them. */
        uint8_t all[N_PIPELINED * 64];
        size_t all_len = 0;
        for (int i = 0; i < N_PIPELINED; i++)
                th_raw_append_frame(all, &all_len, sizeof(all), &req, (uint64_t)(2 + i));
        th_raw_send_bytes(&r, all, all_len);
        /* Until the daemon has read them: what it has not read when SIGTERM comes, it never
         * will. SIOCOUTQ counts the bytes sent and not yet read by the peer. */
        for (int64_t end = th_now_ms() + WAIT_MS;; th_sleep_ms(2)) {
                int queued = -1;
                CHECK_EQ(ioctl(r.fd, SIOCOUTQ, &queued), 0);
                if (queued == 0)
                        break;
                CHECK_LT(th_now_ms(), end);
        }
        th_sleep_ms(50); /* and has answered until its queue for us is full */

        kill(M.daemon, SIGTERM);
        for (int i = 0; i < N_PIPELINED; i++) {
                Shmview__Response *resp = th_raw_recv(&r, NULL);
                if (!resp)
                        th_fail(__FILE__, __LINE__, "reply %d of %d lost", i, N_PIPELINED);
                CHECK_EQ(resp->id, (uint64_t)(2 + i));
                CHECK_EQ(resp->status, 0);
                CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_LIST);
                CHECK_EQ(resp->list->n_segments, N_LIST);
                shmview__response__free_unpacked(resp, NULL);
        }
        CHECK_NULL(th_raw_recv(&r, NULL)); /* then the end */
        th_raw_close(&r);
        int st = stop_daemon(0);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        CHECK(wait_count(&M.stopping, 1));
        manager_sync();
        CHECK_EQ(store_segments(), N_LIST);

        start_daemon(0);
        shmv_segment_info *list;
        size_t n;
        CHECK_OK(shmv_segment_list(c, &list, &n));
        CHECK_EQ(n, N_LIST);
        for (int i = 0; i < N_LIST; i++) {
                list_name(name, sizeof(name), i);
                CHECK_STR(list[i].name, name);
                check_pattern(c, name, (unsigned)i);
        }
        shmv_segment_list_free(list);
        for (int i = 0; i < N_LIST; i++) {
                list_name(name, sizeof(name), i);
                CHECK_OK(shmv_segment_unlink(c, name));
        }
        shmv_disconnect(c);
        manager_sync();
        CHECK_EQ(store_segments(), 0);
        st = stop_daemon(SIGTERM);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        manager_done();
}

/* Waits until process pid sleeps in recvmsg(): it sent its request and waits for the reply. */
static void wait_in_recvmsg(pid_t pid)
{
        char path[64], buf[64];
        snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
        for (int64_t end = th_now_ms() + WAIT_MS; th_now_ms() < end; th_sleep_ms(2)) {
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                CHECK_GE(fd, 0);
                ssize_t n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (n > 0) {
                        buf[n] = '\0';
                        /* The library waits for a reply in poll(), then reads it. */
                        if (atol(buf) == SYS_recvmsg || atol(buf) == SYS_poll)
                                return;
                }
        }
        th_fail(__FILE__, __LINE__, "the client never waited for a reply");
}

static void lost_reply_main(int cmd, int rsp)
{
        shmv_client *c = th_connect();
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, "x", 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v));
        child_reply(rsp, "R", 1);
        char ch;
        shmv_segment_info info;
        CHECK_EQ(read(cmd, &ch, 1), 1);
        CHECK_EQ(ch, 'a');
        /* Its daemon dies with the request unanswered: stat is asked again of the next one. */
        CHECK_OK(shmv_segment_stat(c, "x", &info));
        CHECK_EQ(info.views_rw, 1);
        child_reply(rsp, "a", 1);
        CHECK_EQ(read(cmd, &ch, 1), 1);
        CHECK_EQ(ch, 'b');
        /* A create is not: it says the connection was lost, and it did not happen. */
        CHECK_RC(shmv_segment_create(c, "y", 4096, 0600), -ECONNRESET);
        CHECK_RC(shmv_segment_stat(c, "y", &info), -ENOENT);
        CHECK_OK(shmv_segment_stat(c, "x", &info));
        CHECK_EQ(info.views_rw, 1);
        child_reply(rsp, "b", 1);
        CHECK_EQ(read(cmd, &ch, 1), 1);
        CHECK_EQ(ch, 'X');
        shmv_view_release(v);
        shmv_disconnect(c);
}

static void test_lost_reply(void)
{
        manager_init(true);
        start_daemon(0);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "x", 4096, 0666));
        child k = child_start(lost_reply_main);
        child_expect(&k, 'R');

        kill(M.daemon, SIGSTOP);
        child_send(&k, 'a');
        wait_in_recvmsg(k.pid);
        stop_daemon(SIGKILL);
        manager_sync();
        start_daemon(0);
        child_expect(&k, 'a');

        kill(M.daemon, SIGSTOP);
        child_send(&k, 'b');
        wait_in_recvmsg(k.pid);
        stop_daemon(SIGKILL);
        manager_sync();
        start_daemon(0);
        child_expect(&k, 'b');
        child_send(&k, 'X');
        child_finish(&k);

        CHECK_OK(shmv_segment_unlink(c, "x"));
        shmv_disconnect(c);
        int st = stop_daemon(SIGTERM);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        manager_done();
}

/* What the store hands back is checked: a memfd of the wrong size under a segment's name,
 * and a descriptor that is no segment at all, are dropped (and taken out of the store); the
 * rest is served. */
static void test_store_checked(void)
{
        manager_init(false);
        start_daemon(0);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "good", 4096, 0600));
        write_pattern(c, "good", 5);
        CHECK_OK(shmv_segment_create(c, "bad", 8192, 0600));
        stop_daemon(SIGKILL);
        manager_sync();

        pthread_mutex_lock(&M.lock);
        char bad_name[256] = "";
        for (size_t i = 0; i < M.nstore; i++) {
                struct stat st;
                CHECK_EQ(fstat(M.store[i].fd, &st), 0);
                /* "bad": its 8192 bytes and its doorbell page. */
                if (st.st_size != 8192 + sysconf(_SC_PAGESIZE))
                        continue;
                int fake = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                CHECK_GE(fake, 0);
                CHECK_EQ(ftruncate(fake, 4096), 0);
                CHECK_EQ(fcntl(fake, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
                close(M.store[i].fd);
                M.store[i].fd = fake;
                snprintf(bad_name, sizeof(bad_name), "%s", M.store[i].name);
        }
        CHECK(bad_name[0]);
        CHECK_LT(M.nstore, MAX_STORE);
        M.store[M.nstore].fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        snprintf(M.store[M.nstore].name, sizeof(M.store[0].name), "junk");
        M.nstore++;
        pthread_mutex_unlock(&M.lock);

        start_daemon(0);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, "good", &info));
        check_pattern(c, "good", 5);
        CHECK_RC(shmv_segment_stat(c, "bad", &info), -ENOENT);
        manager_sync();
        CHECK_EQ(store_count(bad_name), 0);
        CHECK_EQ(store_count("junk"), 0);
        CHECK_EQ(store_segments(), 1);
        CHECK_OK(shmv_segment_create(c, "bad", 8192, 0600)); /* the name is free */
        CHECK_OK(shmv_segment_unlink(c, "bad"));
        CHECK_OK(shmv_segment_unlink(c, "good"));
        shmv_disconnect(c);
        int st = stop_daemon(SIGTERM);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        manager_done();
}

/* The doorbell across restarts (issue 12). */
struct bell_wait {
        shmv_view *v;
        uint64_t seen;
        int r;
        uint64_t gen;
        _Atomic int64_t at;
};

static void *bell_wait_thread(void *p)
{
        struct bell_wait *b = p;
        b->r = shmv_view_wait(b->v, b->seen, WAIT_MS, &b->gen);
        b->at = th_now_ms();
        return NULL;
}

static uint32_t armed_now(shmv_client *c)
{
        shmv_daemon_info st;
        CHECK_OK(shmv_daemon_status(c, &st));
        return st.armed;
}

/* Wakes the waiter b waits with and checks that it woke at once with gen. */
static void bell_ring(pthread_t t, struct bell_wait *b, shmv_view *w, uint64_t gen)
{
        th_sleep_ms(50);
        CHECK_EQ(b->at, 0); /* still asleep */
        int64_t t0 = th_now_ms();
        CHECK_OK(shmv_view_notify(w));
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK_OK(b->r);
        CHECK_EQ(b->gen, gen);
        th_note("woken %lld ms after the notify", (long long)(b->at - t0));
        CHECK_LT(b->at - t0, 400);
}

/* The generation lives in the memfd, so it survives a restart with the bytes; a wait asleep
 * across the restart (SIGKILL or SIGTERM) is woken by the next notify, since the doorbell
 * stays armed; the library arms its views again as it reconnects. A segment kept from a
 * daemon before doorbells (its memfd holds its bytes only) is served as before, and its
 * doorbell calls say -ENOTSUP. */
static void test_doorbell_restart(void)
{
        manager_init(true);
        start_daemon(0);
        shmv_client *c = th_connect();
        shmv_view *w, *r;
        CHECK_OK(shmv_segment_create_open(c, "bell", 4096, 0600, 0, &w));
        for (int i = 0; i < 7; i++)
                CHECK_OK(shmv_view_notify(w));
        CHECK_OK(shmv_view_open(c, "bell", 0, SHMV_TO_END, SHMV_READ, &r));
        CHECK_OK(shmv_segment_create(c, "old", 8192, 0600));
        write_pattern(c, "old", 3);

        /* SIGTERM first: after a SIGKILL the next daemon keeps the armed word set for good,
         * which would hide a stopping daemon that clears it. */
        for (int sig = 0; sig < 2; sig++) {
                uint64_t gen = shmv_view_generation(r);
                struct bell_wait b = {.v = r, .seen = gen};
                pthread_t t;
                CHECK_EQ(pthread_create(&t, NULL, bell_wait_thread, &b), 0);
                for (int64_t end = th_now_ms() + WAIT_MS; armed_now(c) == 0;) {
                        CHECK_LT(th_now_ms(), end);
                        th_sleep_ms(5);
                }
                th_sleep_ms(20);
                int st = stop_daemon(sig == 0 ? SIGTERM : SIGKILL);
                CHECK(sig == 1 || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
                manager_sync();
                if (sig == 1) {
                        /* "old" as a daemon before doorbells kept it: its bytes only. */
                        pthread_mutex_lock(&M.lock);
                        bool found = false;
                        for (size_t i = 0; i < M.nstore; i++) {
                                struct stat sb;
                                CHECK_EQ(fstat(M.store[i].fd, &sb), 0);
                                if (sb.st_size != 8192 + sysconf(_SC_PAGESIZE))
                                        continue;
                                int old = memfd_create("old", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                                CHECK_GE(old, 0);
                                CHECK_EQ(fchmod(old, 0600), 0);
                                CHECK_EQ(ftruncate(old, 8192), 0);
                                uint8_t buf[8192];
                                CHECK_EQ(pread(M.store[i].fd, buf, sizeof(buf), 0), 8192);
                                CHECK_EQ(pwrite(old, buf, sizeof(buf), 0), 8192);
                                CHECK_EQ(fcntl(old, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
                                close(M.store[i].fd);
                                M.store[i].fd = old;
                                found = true;
                        }
                        pthread_mutex_unlock(&M.lock);
                        CHECK(found);
                }
                start_daemon(0);
                /* Before the library has even reconnected. */
                bell_ring(t, &b, w, gen + 1);
                shmv_segment_info info;
                CHECK_OK(shmv_segment_stat(c, "bell", &info)); /* reconnects, reattaches */
                CHECK_EQ(info.generation, gen + 1);
                CHECK_EQ(armed_now(c), 1); /* r, armed again */
        }

        /* A wait begun after the restarts is woken as before. */
        struct bell_wait b = {.v = r, .seen = shmv_view_generation(r)};
        CHECK_EQ(b.seen, 9);
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, bell_wait_thread, &b), 0);
        bell_ring(t, &b, w, 10);

        shmv_view *o;
        CHECK_OK(shmv_view_open(c, "old", 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &o));
        check_pattern_view(o, 3);
        CHECK_EQ(shmv_view_generation(o), 0);
        CHECK_RC(shmv_view_notify(o), -ENOTSUP);
        CHECK(strstr(shmv_last_error_message(), "no doorbell") != NULL);
        CHECK_RC(shmv_view_wait(o, 0, 10, NULL), -ENOTSUP);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, "old", &info));
        CHECK_EQ(info.generation, 0);
        CHECK_EQ(info.size, 8192);
        shmv_view_release(o);
        CHECK_OK(shmv_segment_seal(c, "old"));

        shmv_view_release(r);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, "bell"));
        CHECK_OK(shmv_segment_unlink(c, "old"));
        shmv_disconnect(c);
        int st = stop_daemon(SIGTERM);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        manager_done();
}

/* After an upgrade, the store of a daemon from before the slot names ("seg-" and the id in 16
 * hex digits, 21 bytes each in LISTEN_FDNAMES) is adopted, and each memfd is stored again under
 * its record's slot, so that the next restart is handed short names only. A memfd stored under
 * both names is adopted once and keeps its slot's name. */
static void test_old_names(void)
{
        manager_init(false);
        start_daemon(0);
        shmv_client *c = th_connect();
        static const char *const segs[] = {"a", "b", "sealed"}; /* as listed */
        CHECK_OK(shmv_segment_create(c, "a", 3 * 4096 + 100, 0644));
        CHECK_OK(shmv_segment_create(c, "b", 4096, 0600));
        CHECK_OK(shmv_segment_create(c, "sealed", 5000, 0604));
        for (unsigned i = 0; i < 3; i++)
                write_pattern(c, segs[i], i + 1);
        CHECK_OK(shmv_segment_seal(c, "sealed"));
        shmv_segment_info before[3];
        for (int i = 0; i < 3; i++)
                CHECK_OK(shmv_segment_stat(c, segs[i], &before[i]));
        CHECK_EQ(stop_daemon(SIGKILL), SIGKILL);
        manager_sync();
        CHECK_EQ(store_segments(), 3);

        /* Named as the old daemons named them, by the id in each one's record (the 512-byte
         * record of slot N is at (N + 1) * 512, its id at 8); slot 0's also under its own. */
        pthread_mutex_lock(&M.lock);
        int meta = -1;
        for (size_t i = 0; i < M.nstore; i++)
                if (strcmp(M.store[i].name, "meta") == 0)
                        meta = M.store[i].fd;
        CHECK_GE(meta, 0);
        size_t n = M.nstore;
        for (size_t i = 0; i < n; i++) {
                stored_fd *f = &M.store[i];
                if (f->fd == meta)
                        continue;
                CHECK(strlen(f->name) == 1 && f->name[0] >= '0' && f->name[0] <= '2');
                uint64_t slot = (uint64_t)(f->name[0] - '0'), id = 0;
                CHECK_EQ(pread(meta, &id, sizeof(id), (off_t)((slot + 1) * 512 + 8)), 8);
                CHECK_NE(id, 0);
                stored_fd *old = f;
                if (slot == 0) {
                        CHECK_LT(M.nstore, MAX_STORE);
                        old = &M.store[M.nstore++];
                        old->fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
                        CHECK_GE(old->fd, 0);
                }
                snprintf(old->name, sizeof(old->name), "seg-%016llx", (unsigned long long)id);
        }
        pthread_mutex_unlock(&M.lock);
        CHECK_EQ(store_count("seg-"), 3);

        /* Twice: from the old names, then from the new ones. */
        for (int round = 0; round < 2; round++) {
                start_daemon(0);
                shmv_segment_info *list;
                size_t nl;
                CHECK_OK(shmv_segment_list(c, &list, &nl));
                CHECK_EQ(nl, 3);
                for (unsigned i = 0; i < 3; i++) {
                        check_same_info(&list[i], &before[i]);
                        check_pattern(c, segs[i], i + 1);
                }
                shmv_segment_list_free(list);
                manager_sync();
                CHECK_EQ(store_count("seg-"), 0);
                CHECK_EQ(store_segments(), 3);
                CHECK_EQ(store_count("meta"), 1);
                CHECK_EQ(stop_daemon(SIGKILL), SIGKILL);
                manager_sync();
        }
        start_daemon(0);
        for (int i = 0; i < 3; i++)
                CHECK_OK(shmv_segment_unlink(c, segs[i]));
        manager_sync();
        CHECK_EQ(store_segments(), 0);
        shmv_disconnect(c);
        int st = stop_daemon(SIGTERM);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        manager_done();
}

/* A reattach is checked like an open: a client cannot have counted a view it could not open,
 * nor one of another segment that took the name since. */
static void reattach_main(int cmd, int rsp)
{
        th_become(65534, 65534);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a change of uid cleared it */
        th_raw r;
        th_raw_connect_hello(&r);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;

        /* The ids of "private" (0600, root's) and "shared" (0644, root's) come from the pipe. */
        uint64_t ids[2];
        CHECK_EQ(read(cmd, ids, sizeof(ids)), (ssize_t)sizeof(ids));
        const struct {
                const char *name;
                uint64_t id, offset, length;
                bool writable;
                int status;
        } cases[] = {
                {"private", ids[0], 0, 4096, false, EACCES},
                {"shared", ids[1], 0, 4096, true, EACCES},
                {"shared", ids[1] ^ 1, 0, 4096, false, ENOENT},
                {"shared", ids[1], 4096, 1, false, EINVAL},
                {"shared", ids[1], 1, UINT64_MAX, false, EOVERFLOW},
                {"nothing", ids[1], 0, 1, false, ENOENT},
                {"shared", ids[1], 0, 4096, false, 0},
                {"shared", ids[1], 0, 1, false, EMFILE}, /* max_views_per_client is 1 */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Shmview__ReattachRequest ra = SHMVIEW__REATTACH_REQUEST__INIT;
                ra.name.data = (uint8_t *)(uintptr_t)cases[i].name;
                ra.name.len = strlen(cases[i].name);
                ra.segment_id = cases[i].id;
                ra.offset = cases[i].offset;
                ra.length = cases[i].length;
                ra.writable = cases[i].writable;
                req.body_case = SHMVIEW__REQUEST__BODY_REATTACH;
                req.reattach = &ra;
                Shmview__Response *resp = NULL;
                int rc = th_raw_call(&r, &req, &resp, NULL);
                if (rc != -cases[i].status)
                        th_fail(__FILE__, __LINE__, "case %zu: status %d, wanted %d", i, -rc,
                                cases[i].status);
                if (rc == 0) {
                        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_REATTACH);
                        CHECK_NE(resp->reattach->view_id, 0);
                        CHECK_EQ(resp->reattach->segment_id, ids[1]);
                        shmview__response__free_unpacked(resp, NULL);
                }
        }
        child_reply(rsp, "r", 1);
        char ch;
        CHECK_EQ(read(cmd, &ch, 1), 1);
        CHECK_EQ(ch, 'X');
        th_raw_close(&r);
}

static uint64_t segment_id_of(shmv_client *c, const char *name)
{
        /* The id rides on OpenReply; ask the daemon for one over a raw connection. */
        (void)c;
        th_raw r;
        th_raw_connect_hello(&r);
        Shmview__Request req;
        Shmview__OpenRequest o;
        th_raw_fill_open(&req, &o, name, strlen(name));
        Shmview__Response *resp;
        CHECK_OK(th_raw_call(&r, &req, &resp, NULL)); /* closes the reply's descriptor */
        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_OPEN);
        uint64_t id = resp->open->segment_id;
        CHECK_NE(id, 0);
        shmview__response__free_unpacked(resp, NULL);
        th_raw_close(&r);
        return id;
}

static void test_reattach_checked(void)
{
        manager_init(false);
        M.max_views = "1";
        pid_t d = start_daemon(0);
        int fds = th_fd_count_settled(d);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "private", 4096, 0600));
        CHECK_OK(shmv_segment_create(c, "shared", 4096, 0644));
        uint64_t ids[2] = {segment_id_of(c, "private"), segment_id_of(c, "shared")};
        CHECK_NE(ids[0], ids[1]);
        child k = child_start(reattach_main);
        CHECK_EQ(write(k.cmd, ids, sizeof(ids)), (ssize_t)sizeof(ids));
        child_expect(&k, 'r');
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, "shared", &info));
        CHECK_EQ(info.views_ro, 1);
        CHECK_EQ(info.views_rw, 0);
        CHECK_OK(shmv_segment_stat(c, "private", &info));
        CHECK_EQ(info.views_ro, 0);
        CHECK_EQ(info.views_rw, 0);
        child_send(&k, 'X');
        child_finish(&k);
        for (int64_t end = th_now_ms() + WAIT_MS; th_now_ms() < end; th_sleep_ms(5)) {
                CHECK_OK(shmv_segment_stat(c, "shared", &info));
                if (info.views_ro == 0)
                        break;
        }
        CHECK_EQ(info.views_ro, 0);
        CHECK_OK(shmv_segment_unlink(c, "private"));
        CHECK_OK(shmv_segment_unlink(c, "shared"));
        shmv_disconnect(c);
        CHECK(th_fd_count_reaches(d, fds, WAIT_MS));
        int st = stop_daemon(SIGTERM);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        manager_done();
}

/* systemd-socket-activate (Debian's systemd package) binds the socket, and execs the real
 * daemon with it on the first connection. */
static void test_socket_activation(void)
{
        if (!*SYSTEMD_SOCKET_ACTIVATE)
                th_fail(__FILE__, __LINE__,
                        "systemd-socket-activate not found: install systemd "
                        "(scripts/install-deps)");
        char dir[] = "/tmp/shmview-activate-XXXXXX";
        CHECK(mkdtemp(dir));
        char path[108];
        snprintf(path, sizeof(path), "%s/shmview.sock", dir);
        setenv("SHMVIEW_SOCKET", path, 1);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* Its --socket is elsewhere: the passed socket is the one served. */
                const char *argv[] = {SYSTEMD_SOCKET_ACTIVATE,
                                      "-l",
                                      path,
                                      "--fdname=shmviewd.socket",
                                      SHMVIEWD_PATH,
                                      "--socket",
                                      "/nonexistent/elsewhere.sock",
                                      "--log-level",
                                      "warning",
                                      NULL};
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(null, STDOUT_FILENO); /* "Listening on ..." */
                execv(argv[0], (char **)(uintptr_t)argv);
                _exit(127);
        }
        struct stat before, after;
        bool bound = false;
        for (int64_t end = th_now_ms() + WAIT_MS; !bound && th_now_ms() < end; th_sleep_ms(5))
                bound = stat(path, &before) == 0;
        CHECK(bound);

        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "s", 4096, 0600));
        write_pattern(c, "s", 9);
        check_pattern(c, "s", 9);
        char exe[PATH_MAX], want[PATH_MAX], link[64];
        snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
        ssize_t n = readlink(link, exe, sizeof(exe) - 1);
        CHECK_GT(n, 0);
        exe[n] = '\0';
        CHECK(realpath(SHMVIEWD_PATH, want));
        CHECK_STR(exe, want);
        /* Not under shmviewd --supervise: `shmview restart` signals nothing and says so. */
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "%s restart 2>&1 | grep -q 'is not shmviewd --supervise'",
                 SHMVIEW_CLI_PATH);
        CHECK_EQ(system(cmd), 0);
        snprintf(cmd, sizeof(cmd), "%s restart 2>/dev/null", SHMVIEW_CLI_PATH);
        int rst = system(cmd);
        CHECK(WIFEXITED(rst) && WEXITSTATUS(rst) == 1);
        check_pattern(c, "s", 9);
        CHECK_OK(shmv_segment_unlink(c, "s"));
        shmv_disconnect(c);

        kill(pid, SIGTERM);
        int st;
        CHECK_EQ(waitpid(pid, &st, 0), pid);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        /* The socket is the service manager's: the daemon neither replaced nor removed it. */
        CHECK_EQ(stat(path, &after), 0);
        CHECK_EQ(after.st_ino, before.st_ino);
        CHECK_EQ(after.st_dev, before.st_dev);
        unlink(path);
        rmdir(dir);
}

/* More views than one window of reattach requests (client.c sends them REATTACH_WINDOW at a
 * time, 32): every one is counted again by the new daemon, read-only and writable apart, and
 * a view of a segment unlinked across the restart is refused without disturbing the others. */
#define N_REATTACH_RO 70
#define N_REATTACH_RW 30
static void test_reattach_many(void)
{
        manager_init(false);
        start_daemon(0);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "many", 64 * 1024, 0600));
        CHECK_OK(shmv_segment_create(c, "lost", 4096, 0600));
        shmv_view *ro[N_REATTACH_RO], *rw[N_REATTACH_RW], *lost;
        for (int i = 0; i < N_REATTACH_RO; i++)
                CHECK_OK(shmv_view_open(c, "many", (uint64_t)i * 64, 64, SHMV_READ, &ro[i]));
        CHECK_OK(shmv_view_open(c, "lost", 0, 4096, SHMV_READ, &lost));
        for (int i = 0; i < N_REATTACH_RW; i++)
                CHECK_OK(shmv_view_open(c, "many", 32768 + (uint64_t)i * 64, 64,
                                        SHMV_READ | SHMV_WRITE, &rw[i]));
        CHECK_OK(shmv_segment_unlink(c, "lost"));
        CHECK_EQ(stop_daemon(SIGKILL), SIGKILL);
        manager_sync();
        start_daemon(0);

        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, "many", &info));
        CHECK_EQ(info.views_ro, N_REATTACH_RO);
        CHECK_EQ(info.views_rw, N_REATTACH_RW);
        CHECK_RC(shmv_segment_stat(c, "lost", &info), -ENOENT);
        CHECK_RC(shmv_segment_seal(c, "many"), -EBUSY);
        /* Each release reaches the new daemon under the id it gave. */
        for (int i = 0; i < N_REATTACH_RW; i++)
                shmv_view_release(rw[i]);
        for (int i = 0; i < N_REATTACH_RO / 2; i++)
                shmv_view_release(ro[i]);
        CHECK_OK(shmv_segment_stat(c, "many", &info));
        CHECK_EQ(info.views_ro, N_REATTACH_RO - N_REATTACH_RO / 2);
        CHECK_EQ(info.views_rw, 0);
        CHECK_OK(shmv_segment_seal(c, "many"));
        for (int i = N_REATTACH_RO / 2; i < N_REATTACH_RO; i++)
                shmv_view_release(ro[i]);
        shmv_view_release(lost);
        CHECK_OK(shmv_segment_stat(c, "many", &info));
        CHECK_EQ(info.views_ro, 0);
        shmv_disconnect(c);
        int st = stop_daemon(SIGTERM);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        manager_done();
}

/* ---- shmviewd --supervise (daemon/supervise.c): the same without any service manager ---- */

static struct {
        char dir[64];
        char exe[128]; /* the daemon's binary, a copy: an upgrade replaces it */
        char sock[108];
        pid_t pid;
} SV;

/* Writes a copy of from at to, replacing it at once (rename), as a package upgrade does. */
static void install_file(const char *from, const char *to)
{
        char tmp[160];
        snprintf(tmp, sizeof(tmp), "%s.new", to);
        int in = open(from, O_RDONLY | O_CLOEXEC);
        int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        CHECK(in >= 0 && out >= 0);
        char buf[65536];
        ssize_t n;
        while ((n = read(in, buf, sizeof(buf))) > 0)
                CHECK(write(out, buf, (size_t)n) == n);
        CHECK(n == 0);
        close(in);
        CHECK(close(out) == 0);
        CHECK(rename(tmp, to) == 0);
}

/* The supervisor's child, the daemon (a zombie too, until reaped), other than other; -1. */
static pid_t supervised_daemon(pid_t other)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)SV.pid, (int)SV.pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        int pid, found = -1;
        while (fscanf(f, "%d", &pid) == 1)
                if (pid != other)
                        found = pid;
        fclose(f);
        return found;
}

/* Waits for a daemon other than old to serve; returns its pid. The supervisor holds the
 * socket, so a call made meanwhile waits in its backlog. */
static pid_t wait_supervised(pid_t old)
{
        pid_t pid = -1;
        for (int64_t end = th_now_ms() + WAIT_MS; pid <= 0 && th_now_ms() < end; th_sleep_ms(5))
                pid = supervised_daemon(old);
        CHECK(pid > 0);
        shmv_client *c = th_connect();
        shmv_daemon_info info;
        CHECK_OK(shmv_daemon_status(c, &info));
        shmv_disconnect(c);
        return pid;
}

/* Starts `shmviewd --supervise` from a copy of the daemon (or of exe) in a new directory,
 * with args after its own. */
static void supervisor_start(const char *exe, const char *const *args)
{
        snprintf(SV.dir, sizeof(SV.dir), "/tmp/shmview-supervise-XXXXXX");
        CHECK(mkdtemp(SV.dir));
        chmod(SV.dir, 0755);
        snprintf(SV.exe, sizeof(SV.exe), "%s/shmviewd", SV.dir);
        snprintf(SV.sock, sizeof(SV.sock), "%s/shmview.sock", SV.dir);
        install_file(exe ? exe : SHMVIEWD_PATH, SV.exe);
        setenv("SHMVIEW_SOCKET", SV.sock, 1);
        fflush(stdout);
        fflush(stderr);
        SV.pid = fork();
        CHECK(SV.pid >= 0);
        if (SV.pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                const char *argv[16] = {SV.exe,          "--supervise", "--socket",    SV.sock,
                                        "--socket-mode", "0666",        "--log-level", "warning"};
                size_t n = 8;
                for (; args && *args && n < 15; args++)
                        argv[n++] = *args;
                execv(argv[0], (char **)(uintptr_t)argv);
                _exit(127);
        }
}

/* SIGTERM to the supervisor: it stops the daemon, then itself, with status 0, and removes
 * the socket file. */
static void supervisor_stop(void)
{
        kill(SV.pid, SIGTERM);
        int st;
        CHECK(waitpid(SV.pid, &st, 0) == SV.pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        struct stat sb;
        CHECK(lstat(SV.sock, &sb) < 0 && errno == ENOENT);
        unlink(SV.exe);
        rmdir(SV.dir);
}

/* The word the writer writes, read through a view of ours, moves on within WAIT_MS. */
static void check_writer_writes(const shmv_view *v)
{
        const volatile uint64_t *word = shmv_view_data(v);
        uint64_t first = *word;
        for (int64_t end = th_now_ms() + WAIT_MS; *word == first; th_sleep_ms(1))
                CHECK(th_now_ms() < end);
}

static void check_kept(shmv_client *c, const shmv_segment_info *before)
{
        shmv_segment_info *list;
        size_t n;
        CHECK_OK(shmv_segment_list(c, &list, &n));
        CHECK(n == 3);
        for (size_t i = 0; i < n; i++)
                check_same_info(&list[i], &before[i]); /* sorted: a, sealed, w */
        shmv_segment_list_free(list);
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, "gone", &info), -ENOENT);
        check_pattern(c, "a", 1);
        check_pattern(c, "sealed", 2);
        shmv_view *v;
        CHECK_RC(shmv_view_open(c, "sealed", 0, 1, SHMV_READ | SHMV_WRITE, &v), -EPERM);
}

/* Every segment, byte, owner, mode and seal across a SIGKILL of the daemon and across an
 * upgrade (a new binary, SIGHUP), while a client of another uid writes throughout. */
static void test_supervise_restarts(void)
{
        supervisor_start(NULL, NULL);
        pid_t d1 = wait_supervised(-1);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "a", 3 * 4096 + 100, 0644));
        write_pattern(c, "a", 1);
        CHECK_OK(shmv_segment_create(c, "sealed", 5000, 0604));
        write_pattern(c, "sealed", 2);
        CHECK_OK(shmv_segment_seal(c, "sealed"));
        CHECK_OK(shmv_segment_create(c, "gone", 8192, 0600));
        child w = child_start(writer_main);
        child_expect(&w, 'R');
        shmv_view *wv;
        CHECK_OK(shmv_view_open(c, "w", 0, 8, SHMV_READ, &wv));
        shmv_segment_info before[3];
        for (int i = 0; i < 3; i++)
                CHECK_OK(shmv_segment_stat(c, kept[i], &before[i]));
        CHECK(before[2].uid == 65534 && before[1].sealed && before[0].mode == 0644);
        CHECK_OK(shmv_segment_unlink(c, "gone"));

        /* A crash: the supervisor starts the next daemon with the socket and the store. */
        CHECK(kill(d1, SIGKILL) == 0);
        check_writer_writes(wv);
        pid_t d2 = wait_supervised(d1);
        check_kept(c, before);
        child_send(&w, 'U'); /* it reconnects, its view is counted again */
        child_expect(&w, 'u');
        CHECK_RC(shmv_segment_seal(c, "w"), -EBUSY);

        /* An upgrade: a new binary in place, SIGHUP; the next daemon runs the new file. */
        struct stat old_exe, new_exe, running;
        CHECK(stat(SV.exe, &old_exe) == 0);
        install_file(SHMVIEWD_PATH, SV.exe);
        CHECK(stat(SV.exe, &new_exe) == 0);
        CHECK(new_exe.st_ino != old_exe.st_ino);
        /* `shmview restart` signals the supervisor and returns once the new daemon answers. */
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "%s restart", SHMVIEW_CLI_PATH);
        CHECK_EQ(system(cmd), 0);
        pid_t d3 = supervised_daemon(d2);
        CHECK(d3 > 0);
        char link[64];
        snprintf(link, sizeof(link), "/proc/%d/exe", (int)d3);
        CHECK(stat(link, &running) == 0);
        CHECK(running.st_ino == new_exe.st_ino && running.st_dev == new_exe.st_dev);
        check_writer_writes(wv);
        check_kept(c, before);
        child_send(&w, 'U');
        child_expect(&w, 'u');

        /* What the writer wrote before, during and after both restarts is in the segment. */
        child_send(&w, 'S');
        uint64_t k_last;
        child_read(&w, &k_last, sizeof(k_last));
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, "w", 0, SHMV_TO_END, SHMV_READ, &v));
        const uint64_t *words = shmv_view_data(v);
        for (size_t i = 0; i < W_SIZE / 8; i++)
                if (words[i] != k_last)
                        th_fail(__FILE__, __LINE__, "word %zu is %llu, wanted %llu", i,
                                (unsigned long long)words[i], (unsigned long long)k_last);
        shmv_view_release(v);
        shmv_view_release(wv);
        child_send(&w, 'X');
        child_finish(&w);
        shmv_disconnect(c);
        supervisor_stop();
        CHECK(kill(d3, 0) < 0 && errno == ESRCH); /* stopped and reaped */
}

/* --watchdog: a daemon that stops pinging (SIGSTOP) is killed and restarted, losing nothing;
 * one that pings is left alone. */
static void test_supervise_watchdog(void)
{
        const char *const args[] = {"--watchdog", "1000", NULL};
        supervisor_start(NULL, args);
        pid_t d1 = wait_supervised(-1);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "a", 10000, 0640));
        write_pattern(c, "a", 5);
        th_sleep_ms(2500);
        CHECK(supervised_daemon(-1) == d1);
        CHECK(kill(d1, SIGSTOP) == 0);
        int64_t t0 = th_now_ms();
        pid_t d2 = wait_supervised(d1);
        CHECK(th_now_ms() - t0 >= 500); /* 1000 ms after its last ping, at half of that */
        check_pattern(c, "a", 5);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, "a", &info));
        CHECK(info.mode == 0640 && info.size == 10000);
        shmv_disconnect(c);
        supervisor_stop();
        CHECK(kill(d2, 0) < 0 && errno == ESRCH);
}

/* A supervisor killed with SIGKILL takes its daemon down cleanly (SIGTERM from the kernel):
 * no orphan is left serving; the clients keep their mappings; a new supervisor can start on
 * the socket left behind. */
static void test_supervise_killed(void)
{
        CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0); /* the orphaned daemon becomes ours */
        supervisor_start(NULL, NULL);
        pid_t d1 = wait_supervised(-1);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, "a", 4096, 0600));
        write_pattern(c, "a", 7);
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, "a", 0, SHMV_TO_END, SHMV_READ, &v));
        CHECK(kill(SV.pid, SIGKILL) == 0);
        CHECK(waitpid(SV.pid, NULL, 0) == SV.pid);
        int st;
        CHECK(waitpid(d1, &st, 0) == d1);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                th_fail(__FILE__, __LINE__, "the daemon ended with status 0x%x", st);
        check_pattern_view(v, 7);
        shmv_view_release(v);
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, "a", &info), -ECONNREFUSED);

        /* The stale socket file is replaced by the next supervisor; nothing was kept. */
        SV.pid = fork();
        CHECK(SV.pid >= 0);
        if (SV.pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                const char *argv[] = {SV.exe,        "--supervise", "--socket", SV.sock,
                                      "--log-level", "error",       NULL};
                execv(argv[0], (char **)(uintptr_t)argv);
                _exit(127);
        }
        wait_supervised(-1);
        CHECK_RC(shmv_segment_stat(c, "a", &info), -ENOENT);
        shmv_disconnect(c);
        supervisor_stop();
}

/* The fake daemon of test_supervise_refuses: what the supervisor runs when this binary is
 * installed as shmviewd and $SHMVIEW_TEST_FAKE_DAEMON names a file. */
static int notify_fd = -1;
static struct sockaddr_un notify_sa;
static socklen_t notify_len;

static void fake_notify(const char *text, const int *fds, size_t nfds)
{
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int) * 4)];
        } cm;
        struct iovec iov = {(void *)(uintptr_t)text, strlen(text)};
        struct msghdr msg = {.msg_name = &notify_sa,
                             .msg_namelen = notify_len,
                             .msg_iov = &iov,
                             .msg_iovlen = 1};
        if (nfds > 0) {
                msg.msg_control = cm.b;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
                struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
                h->cmsg_level = SOL_SOCKET;
                h->cmsg_type = SCM_RIGHTS;
                h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
                memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
        }
        if (sendmsg(notify_fd, &msg, 0) < 0)
                _exit(3);
}

static int fake_daemon_main(const char *out)
{
        const char *addr = getenv("NOTIFY_SOCKET");
        if (!addr || addr[0] != '@')
                return 2;
        notify_sa.sun_family = AF_UNIX;
        memcpy(notify_sa.sun_path + 1, addr + 1, strlen(addr) - 1);
        notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(addr));
        notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const char *names = getenv("LISTEN_FDNAMES");
        FILE *f = fopen(out, "we");
        if (!f || !names)
                return 2;
        if (!strstr(names, ":ok")) {
                /* The first fake: one notification of each kind the supervisor refuses,
                 * around two it takes (and a third it takes and gives back). */
                int m1 = memfd_create("ok", MFD_CLOEXEC), m2 = memfd_create("m2", MFD_CLOEXEC);
                int p[2];
                if (m1 < 0 || m2 < 0 || pipe2(p, O_CLOEXEC) < 0)
                        return 2;
                char big[5000];
                memset(big, 'x', sizeof(big) - 1);
                big[sizeof(big) - 1] = '\0';
                memcpy(big, "FDSTORE=1\nFDNAME=big\nSTATUS=", 28);
                int two[2] = {m1, m2};
                fake_notify("FDSTORE=1\nFDNAME=ok", &m1, 1);
                fake_notify("FDSTORE=1\nFDNAME=pipe", &p[0], 1);
                fake_notify("FDSTORE=1\nFDNAME=bad:name", &m2, 1);
                fake_notify("FDSTORE=1\nFDNAME=ok", &m2, 1);
                fake_notify("FDSTORE=1\nFDNAME=unknown\nBOGUS=1", &m2, 1);
                fake_notify("FDSTORE=1\nFDNAME=unknown\nMAINPID=1", &m2, 1);
                fake_notify(big, &m2, 1);
                fake_notify("FDSTORE=1\nFDNAME=two", two, 2);
                fake_notify("FDNAME=nofdstore", &m2, 1);
                fake_notify("FDSTORE=1\nFDNAME=none", NULL, 0);
                fake_notify("FDSTORE=1\nFDNAME=back", &m2, 1);
                fake_notify("FDSTOREREMOVE=1\nFDNAME=back", NULL, 0);
                fake_notify("FDSTORE=1\nFDNAME=kept", &m2, 1);
                fake_notify("READY=1\nSTATUS=fake", NULL, 0);
                fputs("sent", f);
        } else {
                fprintf(f, "%s %s %s %s", getenv("LISTEN_FDS"), names, getenv("FDSTORE"),
                        getenv("LISTEN_PID"));
        }
        fclose(f);
        pause(); /* until SIGTERM */
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads what the fake daemon wrote, once it is not `not`. */
static void read_fake(const char *out, const char * not, char *buf, size_t size)
{
        for (int64_t end = th_now_ms() + WAIT_MS;; th_sleep_ms(5)) {
                CHECK(th_now_ms() < end);
                FILE *f = fopen(out, "re");
                buf[0] = '\0';
                if (f) {
                        if (!fgets(buf, (int)size, f))
                                buf[0] = '\0';
                        fclose(f);
                }
                if (buf[0] && strcmp(buf, not ) != 0)
                        return;
        }
}

/* The value of key in the environment of process pid, into buf; fails the test without. */
static const char *env_of(pid_t pid, const char *key, char *buf, size_t size)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        ssize_t len = 0, n;
        while ((size_t)len < size - 1 && (n = read(fd, buf + len, size - 1 - (size_t)len)) > 0)
                len += n;
        close(fd);
        CHECK(len > 0);
        buf[len] = '\0';
        size_t klen = strlen(key);
        for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1)
                if (strncmp(buf + i, key, klen) == 0 && buf[i + (ssize_t)klen] == '=')
                        return buf + i + klen + 1;
        th_fail(__FILE__, __LINE__, "no %s in the environment of %d", key, (int)pid);
}

/* Refused: descriptors from a process other than the daemon, and from the daemon anything
 * the supervisor does not understand; the next daemon is handed exactly what was taken. The
 * daemon here is this test binary, installed as the upgrade of the real one. */
static void test_supervise_refuses(void)
{
        char out[128];
        snprintf(out, sizeof(out), "/tmp/shmview-fake-%d", (int)getpid());
        unlink(out);
        setenv("SHMVIEW_TEST_FAKE_DAEMON", out, 1);
        const char *const args[] = {"--max-segments", "9", NULL};
        supervisor_start(NULL, args);
        pid_t d1 = wait_supervised(-1);

        /* A process other than the daemon, on the daemon's notify socket. */
        char env[16384];
        const char *addr = env_of(d1, "NOTIFY_SOCKET", env, sizeof(env));
        CHECK(addr && addr[0] == '@');
        int sup_fds = th_fd_count_settled(SV.pid);
        notify_sa.sun_family = AF_UNIX;
        memcpy(notify_sa.sun_path + 1, addr + 1, strlen(addr) - 1);
        notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(addr));
        notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int m = memfd_create("forged", MFD_CLOEXEC);
        CHECK(m >= 0);
        fake_notify("FDSTORE=1\nFDNAME=forged", &m, 1);
        fake_notify("FDSTOREREMOVE=1\nFDNAME=meta", NULL, 0);
        close(m);
        close(notify_fd);
        CHECK(th_fd_count_settled(SV.pid) == sup_fds);

        /* The fake daemon sends what it should not; the next one reports what it got. */
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        CHECK(n > 0);
        self[n] = '\0';
        install_file(self, SV.exe);
        CHECK(kill(SV.pid, SIGHUP) == 0);
        char got[512];
        read_fake(out, "", got, sizeof(got));
        CHECK_STR(got, "sent");
        CHECK(kill(SV.pid, SIGHUP) == 0);
        read_fake(out, "sent", got, sizeof(got));
        unlink(out);

        /* "4 socket:meta:ok:kept 10 PID", the stored names in any order after the socket. */
        char *fields[4], *save = NULL;
        fields[0] = strtok_r(got, " ", &save);
        for (int i = 1; i < 4; i++)
                fields[i] = strtok_r(NULL, " ", &save);
        CHECK(fields[3] != NULL);
        CHECK_STR(fields[0], "4");
        CHECK_STR(fields[2], "10"); /* --max-segments 9, and the metadata */
        CHECK(atoi(fields[3]) == supervised_daemon(-1));
        char *names[8];
        size_t nn = 0;
        for (char *t = strtok_r(fields[1], ":", &save); t && nn < 8; t = strtok_r(NULL, ":", &save))
                names[nn++] = t;
        CHECK(nn == 4);
        CHECK_STR(names[0], "socket");
        qsort(names + 1, nn - 1, sizeof(char *), cmp_str);
        CHECK_STR(names[1], "kept");
        CHECK_STR(names[2], "meta");
        CHECK_STR(names[3], "ok");
        supervisor_stop();
}

/* The store is no larger than what can be handed to the next daemon: LISTEN_FDNAMES is one
 * environment string, which exec refuses past 32 pages (E2BIG). With names of 21 bytes ("seg-"
 * and 16 hex digits, ':') that was 6240 descriptors: with 6400 segments no next daemon could
 * start, and the supervisor gave up. The names are now the records' slots, 1 to 3 characters:
 * 33756 descriptors with the metadata's (daemon/fdstore.h), or fewer when the descriptor limit
 * says so (a hard limit of 20000 leaves 9968, still more than 6240). The daemon hears the size in
 * FDSTORE= and lowers max_segments to fit; full, with more segments than the old names allowed, the
 * store is handed over whole. */
#define FDSTORE_SEGMENTS_MAX 33755 /* SHMV__FDSTORE_SEGMENTS_MAX in daemon/fdstore.h */
#define OLD_FDSTORE_MAX 6240
static void test_supervise_store_fits(void)
{
        /* The supervisor keeps its store within its own descriptor limit, inherited. */
        struct rlimit rl;
        CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
        struct rlimit more = {1u << 18, 1u << 18};
        if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= more.rlim_max ||
            setrlimit(RLIMIT_NOFILE, &more) < 0) {
                rl.rlim_cur = rl.rlim_max;
                CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
        }
        CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
        long fit = FDSTORE_SEGMENTS_MAX + 1;
        /* To start the next daemon it needs two descriptors for each stored one (supervise.c). */
        if (rl.rlim_max != RLIM_INFINITY && ((long)rl.rlim_max - 64) / 2 < fit)
                fit = ((long)rl.rlim_max - 64) / 2;
        if (fit <= OLD_FDSTORE_MAX + 100)
                th_skip("RLIMIT_NOFILE %llu leaves no room for more than %d segments",
                        (unsigned long long)rl.rlim_max, OLD_FDSTORE_MAX);

        const char *const args[] = {"--max-segments", "100000", NULL};
        supervisor_start(NULL, args);
        pid_t d = wait_supervised(-1);
        size_t env_size = 256 * 1024;
        char *env = malloc(env_size);
        CHECK(env);
        CHECK_EQ(atol(env_of(d, "FDSTORE", env, env_size)), fit);
        shmv_client *c = th_connect();
        shmv_daemon_info info;
        CHECK_OK(shmv_daemon_status(c, &info));
        CHECK_EQ(info.limits.max_segments, fit - 1);
        /* Full, it is handed over whole. */
        char name[32];
        for (long i = 0; i < fit - 1; i++) {
                snprintf(name, sizeof(name), "s%ld", i);
                CHECK_OK(shmv_segment_create(c, name, 4096, 0600));
        }
        CHECK_RC(shmv_segment_create(c, "one-more", 4096, 0600), -ENOSPC);
        CHECK_EQ(kill(d, SIGKILL), 0);
        pid_t d2 = wait_supervised(d);
        CHECK_OK(shmv_daemon_status(c, &info));
        CHECK_EQ(info.segments, fit - 1);
        shmv_segment_info si;
        CHECK_OK(shmv_segment_stat(c, "s0", &si));
        snprintf(name, sizeof(name), "s%ld", fit - 2);
        CHECK_OK(shmv_segment_stat(c, name, &si));
        /* What it was handed: the socket, the metadata and every segment, within 32 pages. */
        const char *names = env_of(d2, "LISTEN_FDNAMES", env, env_size);
        long colons = 0;
        for (const char *p = names; *p; p++)
                colons += *p == ':';
        CHECK_EQ(colons, fit);
        CHECK_LE(strlen("LISTEN_FDNAMES=") + strlen(names) + 1, 32 * 4096);
        free(env);
        shmv_disconnect(c);
        supervisor_stop();
}

static const th_test tests[] = {
        TH_TEST(test_doorbell_restart),   TH_TEST(test_sigkill_restart),
        TH_TEST(test_sigterm_restart),    TH_TEST(test_lost_reply),
        TH_TEST(test_store_checked),      TH_TEST(test_old_names),
        TH_TEST(test_reattach_checked),   TH_TEST(test_reattach_many),
        TH_TEST(test_socket_activation),  TH_TEST(test_supervise_restarts),
        TH_TEST(test_supervise_watchdog), TH_TEST(test_supervise_killed),
        TH_TEST(test_supervise_refuses),  TH_TEST(test_supervise_store_fits),
};

/* Each test starts its own daemons, which die with it (the harness kills its process group). */
int main(int argc, char **argv)
{
        /* Installed as shmviewd by test_supervise_refuses, run by the supervisor. */
        const char *fake = getenv("SHMVIEW_TEST_FAKE_DAEMON");
        if (fake && getenv("LISTEN_PID"))
                return fake_daemon_main(fake);
        return th_main_no_daemon(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
