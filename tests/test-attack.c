/* Attacks on the daemon's connections by an unprivileged uid, each performed for real against
 * a daemon that itself runs as an unprivileged user with a low descriptor limit, as the
 * shipped unit runs it (docs/security.md, "Connections"): a connect()/close() flood, replies
 * carrying descriptors left unread, watchers that never read. Each test fails on a daemon
 * without the bound it checks. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"
#include "raw.h"

/* The daemon's user, the attacker and a victim of another uid. */
#define DAEMON_UID 65530
#define ATTACKER 65534
#define VICTIM 65533
/* The test daemon's --stall-timeout, in milliseconds, and its descriptor limit: the kernel
 * refuses to let the daemon's user have more than this many descriptors in flight in unread
 * SCM_RIGHTS messages. */
#define STALL_MS 1000
#define DAEMON_NOFILE 1024

/* The number after prefix on its line of /proc/DAEMON/file. */
static unsigned long long daemon_proc(const char *file, const char *prefix)
{
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)th_daemon_pid(), file);
        FILE *f = fopen(path, "re");
        CHECK(f != NULL);
        unsigned long long v = 0;
        size_t len = strlen(prefix);
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, prefix, len) == 0) {
                        v = strtoull(line + len, NULL, 10);
                        break;
                }
        fclose(f);
        CHECK_GT(v, 0);
        return v;
}

static unsigned long long daemon_rss_kb(void)
{
        return daemon_proc("status", "VmRSS:");
}

/* Forks a process that runs fn(arg) as uid and exits 0 on return, without waiting for it. */
static pid_t spawn_as(uid_t uid, void (*fn)(void *), void *arg)
{
        fflush(stdout);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                th_become(uid, uid);
                fn(arg);
                _exit(0);
        }
        return pid;
}

static int reap(pid_t pid)
{
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- 1. connect()/close() in a loop ---- */

#define FLOOD_MS 4000
/* What another client's status round trip may take at worst meanwhile, and how many it must
 * get through. Before the bounded accept loop: worst 807 ms, 34 round trips in the 4 s (1.7 to
 * 2.8 s each in the measurement); after: worst 60 to 290 ms and 25,000 to 53,000 round
 * trips on a 2-CPU machine with a load average of 14. The worst case there is the scheduler's,
 * so the bound on it is loose and the count tells the trees apart (1,236 under
 * AddressSanitizer and that load). */
#define FLOOD_WORST_RTT_MS 1000
#define FLOOD_MIN_TRIPS 200

static void flooder(void *arg)
{
        (void)arg;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", th_socket_path());
        unsigned long n = 0;
        for (uint64_t end = shmv__mono_usec() + FLOOD_MS * 1000ull; shmv__mono_usec() < end;) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        continue;
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        n++;
                close(fd);
        }
        th_note("flood: %lu connections made and closed in %d ms\n", n, FLOOD_MS);
}

typedef struct rtt_result {
        unsigned long trips;
        uint64_t worst_us;
        int create; /* a create during the flood */
} rtt_result;

/* The victim: status round trips for as long as the flood lasts, and a create in the middle. */
static void status_timer(void *arg)
{
        int out = *(int *)arg;
        rtt_result res = {0};
        shmv_client *c = th_connect();
        uint64_t start = shmv__mono_usec();
        bool created = false;
        while (shmv__mono_usec() - start < FLOOD_MS * 1000ull) {
                shmv_daemon_info info;
                uint64_t t = shmv__mono_usec();
                CHECK_OK(shmv_daemon_status(c, &info));
                uint64_t rtt = shmv__mono_usec() - t;
                res.trips++;
                if (rtt > res.worst_us)
                        res.worst_us = rtt;
                if (!created && shmv__mono_usec() - start > FLOOD_MS * 500ull) {
                        created = true;
                        char name[64];
                        snprintf(name, sizeof(name), "%s", th_name("flood-victim"));
                        res.create = shmv_segment_create(c, name, 65536, 0600);
                        if (res.create == 0)
                                CHECK_OK(shmv_segment_unlink(c, name));
                }
        }
        shmv_disconnect(c);
        CHECK_EQ(write(out, &res, sizeof(res)), (ssize_t)sizeof(res));
}

static void test_connect_flood(void)
{
        unsigned long long limit = daemon_proc("limits", "Max open files");
        unsigned long long rss_before = daemon_rss_kb();
        int base_fds = th_daemon_fd_count();
        int p[2];
        CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
        pid_t victim = spawn_as(VICTIM, status_timer, &p[1]);
        th_sleep_ms(50);
        pid_t attacker = spawn_as(ATTACKER, flooder, NULL);
        close(p[1]);
        int max_fds = 0;
        unsigned long long max_rss = 0;
        for (uint64_t end = shmv__mono_usec() + FLOOD_MS * 1000ull; shmv__mono_usec() < end;
             th_sleep_ms(20)) {
                int n = th_daemon_fd_count();
                max_fds = n > max_fds ? n : max_fds;
                unsigned long long rss = daemon_rss_kb();
                max_rss = rss > max_rss ? rss : max_rss;
        }
        CHECK_EQ(reap(attacker), 0);
        CHECK_EQ(reap(victim), 0);
        rtt_result res;
        CHECK_EQ(read(p[0], &res, sizeof(res)), (ssize_t)sizeof(res));
        close(p[0]);
        /* Memory comes back once the flood is over. */
        unsigned long long rss_after = 0;
        for (int i = 0; i < 30; i++) {
                th_sleep_ms(100);
                rss_after = daemon_rss_kb();
                if (rss_after < rss_before + 2048)
                        break;
        }
        th_note("flood: another client's status: %lu round trips, worst %.1f ms; daemon "
                "descriptors %d before, at most %d (limit %llu); RSS %.1f MiB before, at most "
                "%.1f MiB, %.1f MiB after\n",
                res.trips, res.worst_us / 1000.0, base_fds, max_fds, limit, rss_before / 1024.0,
                max_rss / 1024.0, rss_after / 1024.0);
        CHECK_OK(res.create);
        CHECK_LT(res.worst_us, FLOOD_WORST_RTT_MS * 1000ull);
        CHECK_GE(res.trips, FLOOD_MIN_TRIPS);
        CHECK_LT((unsigned long long)max_fds + 64, limit);
        /* AddressSanitizer keeps freed memory in quarantine (up to 256 MiB): there the RSS
         * tells nothing about the daemon's own allocations. */
#ifndef __SANITIZE_ADDRESS__
        CHECK_LT(rss_after, rss_before + 4096);
#endif
}

/* ---- 4. replies carrying descriptors, never read ---- */

/* Connections of the attacker, each sending this many opens of its own segment and reading
 * none of the replies; every other one also shuts its write side down, so that the daemon
 * closes it once the replies are sent (with the descriptors still unread in the attacker's
 * socket). Unbounded, about 280 descriptors stay in flight per connection. */
#define ATTACK_CONNS 16
#define OPENS_PER_CONN 400
/* The daemon's bound on them for one uid (FDS_UNREAD_PER_UID in daemon/server.c). */
#define FDS_UNREAD_PER_UID 256

/* The attacker writes a byte to ready once its attack is in place, and goes when done is
 * closed; it closes the ends that are not its own first, so that it sees done closed. */
typedef struct attack_sync {
        int ready;
        int done;
        int not_mine[2];
} attack_sync;

static void sync_start(attack_sync *sync)
{
        close(sync->not_mine[0]);
        close(sync->not_mine[1]);
}

static void sync_ready_then_wait(attack_sync *sync)
{
        CHECK_EQ(write(sync->ready, "x", 1), 1);
        char c;
        while (read(sync->done, &c, 1) < 0 && errno == EINTR)
                ;
}

/* Starts fn as the attacker and waits until its attack is in place; close *ret_done to let it
 * go. */
static pid_t attack_start(void (*fn)(void *), int *ret_done)
{
        int ready[2], done[2];
        CHECK(pipe2(ready, O_CLOEXEC) == 0 && pipe2(done, O_CLOEXEC) == 0);
        attack_sync sync = {ready[1], done[0], {ready[0], done[1]}};
        pid_t pid = spawn_as(ATTACKER, fn, &sync);
        close(ready[1]);
        close(done[0]);
        char c;
        CHECK_EQ(read(ready[0], &c, 1), 1);
        close(ready[0]);
        *ret_done = done[1];
        return pid;
}

static void open_request(Shmview__Request *req, Shmview__OpenRequest *o, const char *name)
{
        shmview__open_request__init(o);
        o->name.data = (uint8_t *)(uintptr_t)name;
        o->name.len = strlen(name);
        o->length = UINT64_MAX;
        shmview__request__init(req);
        req->body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req->open = o;
}

/* Sends all of buf unless the daemon closed the connection or stopped reading for 2 s. */
static void send_until_refused(int fd, const uint8_t *buf, size_t len)
{
        while (len > 0) {
                struct pollfd p = {fd, POLLOUT, 0};
                if (poll(&p, 1, 2000) <= 0)
                        return;
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return;
                if (n > 0) {
                        buf += n;
                        len -= (size_t)n;
                }
        }
}

static void fd_parker(void *arg)
{
        attack_sync *sync = arg;
        sync_start(sync);
        th_raw setup;
        th_raw_connect_hello(&setup);
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("parked"));
        CHECK_EQ(th_raw_create(&setup, name, strlen(name), 4096, 0600), 0);
        Shmview__Request req;
        Shmview__OpenRequest o;
        open_request(&req, &o, name);
        uint8_t *one;
        size_t one_len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &one, &one_len), 0);
        static uint8_t opens[OPENS_PER_CONN * 64];
        CHECK_LE(one_len, 64);
        for (int k = 0; k < OPENS_PER_CONN; k++)
                memcpy(opens + k * one_len, one, one_len);
        free(one);
        static th_raw conns[ATTACK_CONNS];
        for (int i = 0; i < ATTACK_CONNS; i++) {
                th_raw_connect_hello(&conns[i]);
                send_until_refused(conns[i].fd, opens, OPENS_PER_CONN * one_len);
                if (i % 2)
                        shutdown(conns[i].fd, SHUT_WR);
        }
        th_sleep_ms(STALL_MS + 500); /* the daemon answers what it will, and closes what it will */
        sync_ready_then_wait(sync);
        /* How many descriptors the daemon left in flight to this uid, all told. */
        unsigned fds = 0;
        for (int i = 0; i < ATTACK_CONNS; i++) {
                CHECK_EQ(fcntl(conns[i].fd, F_SETFL, O_NONBLOCK), 0);
                char buf[65536];
                union {
                        struct cmsghdr h;
                        char b[CMSG_SPACE(sizeof(int) * 4)];
                } u;
                for (;;) {
                        struct iovec iov = {buf, sizeof(buf)};
                        struct msghdr mh = {.msg_iov = &iov,
                                            .msg_iovlen = 1,
                                            .msg_control = u.b,
                                            .msg_controllen = sizeof(u.b)};
                        ssize_t n = recvmsg(conns[i].fd, &mh, MSG_CMSG_CLOEXEC);
                        if (n <= 0)
                                break;
                        for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
                                if (h->cmsg_type == SCM_RIGHTS) {
                                        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                                        for (size_t j = 0; j < k; j++)
                                                close(((int *)CMSG_DATA(h))[j]);
                                        fds += (unsigned)k;
                                }
                }
                th_raw_close(&conns[i]);
        }
        th_note("unread replies: %u descriptors were in flight to the attacker's %d connections "
                "(the daemon allows %d per uid)\n",
                fds, ATTACK_CONNS, FDS_UNREAD_PER_UID);
        CHECK_LE(fds, FDS_UNREAD_PER_UID);
        CHECK_EQ(th_raw_named(&setup, SHMVIEW__REQUEST__BODY_UNLINK, name, strlen(name)), 0);
        th_raw_close(&setup);
}

/* Creates a segment, opens and releases a view of it n times (each open an event for the
 * watchers), and removes it. */
static void opens_of_own_segment(int n)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("opens"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0600));
        for (int i = 0; i < n; i++) {
                shmv_view *v = NULL;
                CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v));
                shmv_view_release(v);
        }
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void victim_opens(void *arg)
{
        (void)arg;
        opens_of_own_segment(50);
}

static void test_unread_fd_replies(void)
{
        int done;
        pid_t attacker = attack_start(fd_parker, &done);
        /* With the attacker's replies still unread, another uid's opens work. */
        int victim = reap(spawn_as(VICTIM, victim_opens, NULL));
        close(done);
        CHECK_EQ(reap(attacker), 0);
        CHECK_EQ(victim, 0);
}

/* ---- 6. watchers that never read ---- */

#define WATCHERS_PER_UID 8

static void watch_request(Shmview__Request *req, Shmview__WatchRequest *w)
{
        shmview__watch_request__init(w);
        shmview__request__init(req);
        req->body_case = SHMVIEW__REQUEST__BODY_WATCH;
        req->watch = w;
}

static void stuck_watchers(void *arg)
{
        attack_sync *sync = arg;
        sync_start(sync);
        static th_raw w[WATCHERS_PER_UID];
        for (int i = 0; i < WATCHERS_PER_UID; i++) {
                th_raw_connect_hello(&w[i]);
                Shmview__Request req;
                Shmview__WatchRequest wr;
                watch_request(&req, &wr);
                CHECK_EQ(th_raw_call(&w[i], &req, NULL, NULL), 0);
        }
        sync_ready_then_wait(sync);
        for (int i = 0; i < WATCHERS_PER_UID; i++)
                th_raw_close(&w[i]);
}

static void ninth_watch(void *arg)
{
        (void)arg;
        uint64_t start = shmv__mono_usec();
        shmv_watch *w = NULL;
        int r;
        while ((r = shmv_watch_open(NULL, &w)) == -EUSERS &&
               shmv__mono_usec() - start < (STALL_MS + 3000) * 1000ull)
                th_sleep_ms(50);
        th_note("watchers: the ninth watch of the uid: %s after %.0f ms\n", shmv_strerror(r),
                (shmv__mono_usec() - start) / 1000.0);
        CHECK_OK(r);
        shmv_watch_close(w);
}

static void test_watchers_never_read(void)
{
        int done;
        pid_t attacker = attack_start(stuck_watchers, &done);
        /* Events until every watcher's queue is past its bound: the kernel's socket buffer
         * takes some 200 KiB first, then 64 KiB more are queued in the daemon. */
        opens_of_own_segment(3000);
        /* Within the stall timeout (and a margin) the eight are gone, though the attacker
         * still holds its end of each, and the uid may watch again. */
        CHECK_EQ(reap(spawn_as(ATTACKER, ninth_watch, NULL)), 0);
        close(done);
        CHECK_EQ(reap(attacker), 0);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_connect_flood),
                TH_TEST(test_unread_fd_replies),
                TH_TEST(test_watchers_never_read),
        };
        static const char *const args[] = {"--stall-timeout", "1000", NULL};
        th_daemon_user(DAEMON_UID, DAEMON_NOFILE);
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), args);
}
