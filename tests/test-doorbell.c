/* The change doorbell (shmv_view_notify, shmv_view_generation, shmv_view_wait) against a real
 * daemon: wake-ups across processes and uids, deadlines, no lost wake-up over 100,000
 * ping-pongs, threads, seals, a writer that dies mid-notify, clients that go, and a read-only
 * holder of uid 65534 trying every route to change the generation. */
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doorbell.h"
#include "harness.h"
#include "raw.h"

static uint64_t page_size(void)
{
        return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The doorbell page a whole-segment view maps right after the segment's pages. */
static struct shmv__doorbell *bell_of(const shmv_view *v, uint64_t size)
{
        uint64_t page = page_size();
        return (struct shmv__doorbell *)((uintptr_t)shmv_view_data(v) +
                                         ((size + page - 1) & ~(page - 1)));
}

static shmv_daemon_info status_of(shmv_client *c)
{
        shmv_daemon_info st;
        CHECK_OK(shmv_daemon_status(c, &st));
        return st;
}

static void test_doorbell_basics(void)
{
        shmv_client *c = th_connect();
        const char *name = th_name("basic");
        shmv_view *w, *r, *slice, *cast, *ro;
        CHECK_OK(shmv_segment_create_open(c, name, 10000, 0600, 0, &w));
        CHECK_EQ(shmv_view_generation(w), 0);
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        CHECK_EQ(shmv_view_generation(r), 0);
        /* The segment's bytes stay its own: the doorbell page is after them. */
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.size, 10000);
        CHECK_EQ(info.generation, 0);
        CHECK_RC(shmv_view_open(c, name, 10000, 1, SHMV_READ, &ro), -EINVAL);

        CHECK_OK(shmv_view_notify(w));
        CHECK_EQ(shmv_view_generation(w), 1);
        CHECK_EQ(shmv_view_generation(r), 1);
        /* Slices and casts of a writable view ring it too; of a read-only one, never. */
        CHECK_OK(shmv_view_slice(w, 100, 200, 1, &slice));
        CHECK_OK(shmv_view_cast(slice, "I", &cast));
        CHECK_OK(shmv_view_notify(slice));
        CHECK_OK(shmv_view_notify(cast));
        CHECK_EQ(shmv_view_generation(r), 3);
        CHECK_OK(shmv_view_toreadonly(w, &ro));
        CHECK_RC(shmv_view_notify(ro), -EROFS);
        CHECK(strstr(shmv_last_error_message(), "read-only") != NULL);
        CHECK_RC(shmv_view_notify(r), -EROFS);
        CHECK_EQ(shmv_view_generation(r), 3);
        CHECK_RC(shmv_view_notify(NULL), -EINVAL);
        CHECK_EQ(shmv_view_generation(NULL), 0);
        CHECK_RC(shmv_view_wait(NULL, 0, 0, NULL), -EINVAL);

        /* A generation already past seen returns at once, without arming. */
        uint64_t gen = 0;
        CHECK_OK(shmv_view_wait(r, 0, -1, &gen));
        CHECK_EQ(gen, 3);
        CHECK_EQ(status_of(c).armed, 0);
        CHECK_RC(shmv_view_wait(r, 3, 0, &gen), -ETIMEDOUT);
        CHECK_EQ(gen, 3); /* untouched */
        /* A look (0 ms) sleeps nowhere, so arms nothing. */
        CHECK_EQ(status_of(c).armed, 0);
        CHECK_RC(shmv_view_wait(r, 3, 1, NULL), -ETIMEDOUT);
        CHECK_RC(shmv_view_wait(slice, 3, 10, NULL), -ETIMEDOUT);
        /* Armed once per mapping: r's, then w's (slice and cast share it). */
        CHECK_EQ(status_of(c).armed, 2);
        CHECK_RC(shmv_view_wait(cast, 3, 1, NULL), -ETIMEDOUT);
        CHECK_EQ(status_of(c).armed, 2);
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.generation, 3);

        shmv_view_release(cast);
        shmv_view_release(slice);
        shmv_view_release(ro);
        shmv_view_release(r);
        CHECK_EQ(status_of(c).armed, 1);
        shmv_view_release(w);
        CHECK_EQ(status_of(c).armed, 0);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* A view that does not reach the segment's last page maps the doorbell page on its own. */
static void test_doorbell_partial_views(void)
{
        shmv_client *c = th_connect();
        const char *name = th_name("partial");
        uint64_t page = page_size();
        shmv_view *w, *head, *empty;
        CHECK_OK(shmv_segment_create(c, name, 4 * page, 0600));
        CHECK_OK(shmv_view_open(c, name, 0, page, SHMV_READ | SHMV_WRITE, &w));
        CHECK_OK(shmv_view_open(c, name, page, page, SHMV_READ, &head));
        CHECK_OK(shmv_view_open(c, name, 4 * page, 0, SHMV_READ, &empty));
        CHECK_OK(shmv_view_notify(w));
        CHECK_OK(shmv_view_notify(w));
        CHECK_EQ(shmv_view_generation(head), 2);
        CHECK_EQ(shmv_view_generation(empty), 2);
        uint64_t gen;
        CHECK_OK(shmv_view_wait(empty, 1, 0, &gen));
        CHECK_EQ(gen, 2);
        shmv_view_release(empty);
        shmv_view_release(head);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

struct waiter_arg {
        char name[64];
        int ready_fd; /* the waiter writes one byte once its view is open */
        uint64_t seen;
        bool as_nobody;
};

/* A waiter in another process, as uid 65534 with a read-only view when asked: waits for the
 * generation to pass seen, then writes what it got (8 bytes) and when (8 more) to ready_fd. */
static void waiter_main(void *p)
{
        struct waiter_arg *a = p;
        if (a->as_nobody)
                th_become(65534, 65534);
        shmv_client *c = th_connect();
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, a->name, 0, SHMV_TO_END, SHMV_READ, &v));
        CHECK_EQ(shmv_view_generation(v), a->seen);
        /* Armed before the parent is told: a wait of 0 ms arms nothing, so one of 1 ms. */
        CHECK_RC(shmv_view_wait(v, a->seen, 1, NULL), -ETIMEDOUT);
        char one = 1;
        CHECK_EQ(write(a->ready_fd, &one, 1), 1);
        uint64_t gen;
        CHECK_OK(shmv_view_wait(v, a->seen, 10000, &gen));
        int64_t at = th_now_ms();
        CHECK_EQ(write(a->ready_fd, &gen, sizeof(gen)), (ssize_t)sizeof(gen));
        CHECK_EQ(write(a->ready_fd, &at, sizeof(at)), (ssize_t)sizeof(at));
        shmv_view_release(v);
        shmv_disconnect(c);
}

static pid_t waiter_start(struct waiter_arg *a, int *ret_fd)
{
        int fds[2];
        CHECK_EQ(pipe(fds), 0);
        a->ready_fd = fds[1];
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                close(fds[0]);
                waiter_main(a);
                _exit(0);
        }
        close(fds[1]);
        char one;
        CHECK_EQ(read(fds[0], &one, 1), 1);
        *ret_fd = fds[0];
        return pid;
}

static void waiter_end(pid_t pid, int fd, uint64_t want_gen, int64_t since, int64_t max_ms)
{
        uint64_t gen;
        int64_t at;
        CHECK_EQ(read(fd, &gen, sizeof(gen)), (ssize_t)sizeof(gen));
        CHECK_EQ(read(fd, &at, sizeof(at)), (ssize_t)sizeof(at));
        close(fd);
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK_EQ(status, 0);
        CHECK_EQ(gen, want_gen);
        th_note("woken %lld ms after the change", (long long)(at - since));
        CHECK_LE(at - since, max_ms);
}

/* A read-only waiter of another uid, in another process, wakes at the notify, not before. */
static void test_doorbell_other_uid(void)
{
        shmv_client *c = th_connect();
        struct waiter_arg a = {.as_nobody = true, .seen = 0};
        snprintf(a.name, sizeof(a.name), "%s", th_name("uid"));
        shmv_view *w;
        CHECK_OK(shmv_segment_create_open(c, a.name, 4096, 0644, 0, &w));
        int fd;
        pid_t pid = waiter_start(&a, &fd);
        th_sleep_ms(100);
        /* Nothing came yet. */
        CHECK_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
        uint64_t early;
        CHECK_EQ(read(fd, &early, sizeof(early)), -1);
        CHECK_EQ(fcntl(fd, F_SETFL, 0), 0);
        int64_t t0 = th_now_ms();
        CHECK_OK(shmv_view_notify(w));
        waiter_end(pid, fd, 1, t0, 100);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, a.name));
        shmv_disconnect(c);
}

/* A wait's deadline holds within a few milliseconds, whatever the client's timeout. */
static void test_doorbell_deadline(void)
{
        shmv_client *c = th_connect();
        CHECK_OK(shmv_set_timeout(c, 100));
        const char *name = th_name("deadline");
        shmv_view *w;
        CHECK_OK(shmv_segment_create_open(c, name, 4096, 0600, 0, &w));
        CHECK_RC(shmv_view_wait(w, 0, 1, NULL), -ETIMEDOUT); /* armed now */
        int deadlines[] = {0, 1, 20, 50, 300, 1500};
        for (size_t i = 0; i < sizeof(deadlines) / sizeof(deadlines[0]); i++) {
                int64_t t0 = th_now_ms();
                CHECK_RC(shmv_view_wait(w, 0, deadlines[i], NULL), -ETIMEDOUT);
                int64_t took = th_now_ms() - t0;
                th_note("deadline %d ms: %lld ms", deadlines[i], (long long)took);
                CHECK_GE(took, deadlines[i]);
                CHECK_LE(took, deadlines[i] + 40); /* as test_wait_deadline: a busy machine */
        }
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Ping-pong between two processes over two segments: each side notifies its own and waits for
 * the other's. A lost wake-up would stall a round until the wait's slice (a second) ends:
 * every wait must take far less, and the 100,000 rounds a few seconds. */
#define PINGS 100000
static void pong_main(const char *ping, const char *pong)
{
        shmv_client *c = th_connect();
        shmv_view *in, *out;
        CHECK_OK(shmv_view_open(c, ping, 0, SHMV_TO_END, SHMV_READ, &in));
        CHECK_OK(shmv_view_open(c, pong, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &out));
        for (uint64_t i = 0; i < PINGS; i++) {
                uint64_t gen;
                CHECK_OK(shmv_view_wait(in, i, 5000, &gen));
                CHECK_EQ(gen, i + 1);
                CHECK_OK(shmv_view_notify(out));
        }
        shmv_view_release(out);
        shmv_view_release(in);
        shmv_disconnect(c);
}

static void test_doorbell_pingpong(void)
{
        shmv_client *c = th_connect();
        char ping[64], pong[64];
        snprintf(ping, sizeof(ping), "%s", th_name("ping"));
        snprintf(pong, sizeof(pong), "%s", th_name("pong"));
        shmv_view *out, *in;
        CHECK_OK(shmv_segment_create_open(c, ping, 64, 0600, 0, &out));
        CHECK_OK(shmv_segment_create(c, pong, 64, 0600));
        CHECK_OK(shmv_view_open(c, pong, 0, SHMV_TO_END, SHMV_READ, &in));
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                pong_main(ping, pong);
                _exit(0);
        }
        int64_t t0 = th_now_ms(), slowest = 0;
        for (uint64_t i = 0; i < PINGS; i++) {
                CHECK_OK(shmv_view_notify(out));
                int64_t w0 = th_now_ms();
                uint64_t gen;
                CHECK_OK(shmv_view_wait(in, i, 5000, &gen));
                CHECK_EQ(gen, i + 1);
                int64_t took = th_now_ms() - w0;
                if (took > slowest)
                        slowest = took;
        }
        int64_t total = th_now_ms() - t0;
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK_EQ(status, 0);
        th_note("%d ping-pongs in %lld ms (%.1f us each), slowest wait %lld ms", PINGS,
                (long long)total, total * 1000.0 / PINGS, (long long)slowest);
        /* Under load a wait may take tens of milliseconds to be scheduled; a lost wake-up
         * waits out the rest of its one-second slice, and lost ones add up past the total. */
        CHECK_LT(slowest, 900);
        CHECK_LT(total, 60000);
        shmv_view_release(in);
        shmv_view_release(out);
        CHECK_OK(shmv_segment_unlink(c, ping));
        CHECK_OK(shmv_segment_unlink(c, pong));
        shmv_disconnect(c);
}

struct blocked {
        shmv_view *v;
        uint64_t seen;
        int r;
        uint64_t gen;
        atomic_bool done;
        _Atomic int64_t at;
};

static void *blocked_thread(void *p)
{
        struct blocked *b = p;
        b->r = shmv_view_wait(b->v, b->seen, -1, &b->gen);
        atomic_store(&b->at, th_now_ms());
        atomic_store(&b->done, true);
        return NULL;
}

/* A thread blocked in a wait without deadline holds nothing of the client: other threads'
 * calls on it go on at their usual speed. */
static void test_doorbell_threads(void)
{
        shmv_client *c = th_connect();
        const char *name = th_name("threads");
        shmv_view *w, *r;
        CHECK_OK(shmv_segment_create_open(c, name, 4096, 0600, 0, &w));
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        struct blocked b = {.v = r, .seen = 0};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, blocked_thread, &b), 0);
        /* Until it is armed and asleep. */
        for (int64_t end = th_now_ms() + 5000; status_of(c).armed == 0;) {
                CHECK_LT(th_now_ms(), end);
                th_sleep_ms(1);
        }
        th_sleep_ms(20);
        int64_t t0 = th_now_ms();
        for (int i = 0; i < 200; i++) {
                shmv_segment_info info;
                shmv_view *v;
                CHECK_OK(shmv_segment_stat(c, name, &info));
                CHECK_OK(shmv_view_open(c, name, 0, 16, SHMV_READ, &v));
                shmv_view_release(v);
        }
        int64_t took = th_now_ms() - t0;
        th_note("400 calls on the client in %lld ms while another thread waits", (long long)took);
        CHECK_LT(took, 5000);
        CHECK(!atomic_load(&b.done));
        CHECK_OK(shmv_view_notify(w));
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK_OK(b.r);
        CHECK_EQ(b.gen, 1);
        shmv_view_release(r);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Notifies nobody waited for coalesce into the generation: nothing queues anywhere. */
static void test_doorbell_coalesce(void)
{
        shmv_client *c = th_connect();
        const char *name = th_name("coalesce");
        shmv_view *w, *r;
        CHECK_OK(shmv_segment_create_open(c, name, 4096, 0600, 0, &w));
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        CHECK_RC(shmv_view_wait(r, 0, 1, NULL), -ETIMEDOUT); /* armed */
        int before = th_daemon_fd_count();
        for (int i = 0; i < 100000; i++)
                CHECK_OK(shmv_view_notify(w));
        uint64_t gen;
        CHECK_OK(shmv_view_wait(r, 0, 0, &gen));
        CHECK_EQ(gen, 100000);
        CHECK_EQ(th_daemon_fd_count(), before);
        shmv_view_release(r);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* A seal is a change: a waiter from before it wakes with the seal's generation, a wait after it
 * ends at once with -EROFS, and nobody can notify any more. */
static void test_doorbell_seal(void)
{
        shmv_client *c = th_connect();
        struct waiter_arg a = {.as_nobody = true, .seen = 2};
        snprintf(a.name, sizeof(a.name), "%s", th_name("seal"));
        shmv_view *w, *r;
        CHECK_OK(shmv_segment_create_open(c, a.name, 4096, 0644, 0, &w));
        CHECK_OK(shmv_view_notify(w));
        CHECK_OK(shmv_view_notify(w));
        /* Released before the fork: a child holding a copy of the writable mapping would make
         * the kernel refuse the seal. */
        shmv_view_release(w);
        int fd;
        pid_t pid = waiter_start(&a, &fd);
        th_sleep_ms(50);
        /* The daemon wakes the waiters before it answers the seal (its own look, a second
         * later, would be too late here). */
        CHECK_OK(shmv_segment_seal(c, a.name));
        waiter_end(pid, fd, 3, th_now_ms(), 150);

        CHECK_OK(shmv_view_open(c, a.name, 0, SHMV_TO_END, SHMV_READ, &r));
        CHECK_EQ(shmv_view_generation(r), 3);
        uint64_t gen = 0;
        CHECK_OK(shmv_view_wait(r, 2, -1, &gen));
        CHECK_EQ(gen, 3);
        int64_t t0 = th_now_ms();
        CHECK_RC(shmv_view_wait(r, 3, -1, &gen), -EROFS);
        CHECK(strstr(shmv_last_error_message(), "sealed") != NULL);
        CHECK_RC(shmv_view_wait(r, 3, 0, NULL), -EROFS);
        CHECK_LT(th_now_ms() - t0, 100);
        CHECK_RC(shmv_view_notify(r), -EROFS);
        CHECK_RC(shmv_view_open(c, a.name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w), -EPERM);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, a.name, &info));
        CHECK_EQ(info.generation, 3);
        CHECK(info.sealed);
        shmv_view_release(r);
        CHECK_OK(shmv_segment_unlink(c, a.name));
        shmv_disconnect(c);
}

/* A seal the kernel refuses (a raw writer kept its writable mapping after its release) is
 * no seal: its ring woke the waiters (one change, spurious and harmless), its sealed word is
 * cleared again, waits go on (no -EROFS) and notifies still wake them. */
static void test_doorbell_seal_fails(void)
{
        shmv_client *c = th_connect();
        const char *name = th_name("unsealed");
        uint64_t page = page_size();
        shmv_view *r;
        CHECK_OK(shmv_segment_create(c, name, 4096, 0600));
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        th_raw raw;
        th_raw_connect_hello(&raw);
        uint64_t vid;
        int fd;
        CHECK_OK(th_raw_open(&raw, name, strlen(name), 0, UINT64_MAX, true, &vid, &fd));
        uint8_t *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK_PTR_NE(p, MAP_FAILED);
        close(fd);
        th_raw_release(&raw, vid);
        CHECK_OK(th_raw_named(&raw, SHMVIEW__REQUEST__BODY_STAT, name, strlen(name)));
        struct shmv__doorbell *d = (struct shmv__doorbell *)(p + page);

        struct blocked b = {.v = r, .seen = 0};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, blocked_thread, &b), 0);
        for (int64_t end = th_now_ms() + 5000; status_of(c).armed == 0;) {
                CHECK_LT(th_now_ms(), end);
                th_sleep_ms(1);
        }
        th_sleep_ms(20);
        int64_t t0 = th_now_ms();
        CHECK_RC(shmv_segment_seal(c, name), -EBUSY);
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK_OK(b.r);
        CHECK_EQ(b.gen, 1);
        CHECK_LT(atomic_load(&b.at) - t0, 500);
        CHECK_EQ(atomic_load(&d->sealed), 0);
        CHECK_EQ(atomic_load(&d->armed), 1);
        CHECK_RC(shmv_view_wait(r, 1, 20, NULL), -ETIMEDOUT); /* not sealed */
        /* The writer rings by hand, as the library would. */
        b = (struct blocked){.v = r, .seen = 1};
        CHECK_EQ(pthread_create(&t, NULL, blocked_thread, &b), 0);
        th_sleep_ms(20);
        t0 = th_now_ms();
        atomic_fetch_add(&d->generation, 1);
        shmv__doorbell_futex_wake(d);
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK_OK(b.r);
        CHECK_EQ(b.gen, 2);
        CHECK_LT(atomic_load(&b.at) - t0, 500);
        /* Without the mapping the seal goes through, and is the last change. */
        munmap(p, 2 * page);
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_EQ(shmv_view_generation(r), 3);
        CHECK_RC(shmv_view_wait(r, 3, 0, NULL), -EROFS);
        th_raw_close(&raw);
        shmv_view_release(r);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* A writer that grows the generation and dies before it wakes anyone (here: a store through
 * its mapping, then _exit) leaves no waiter asleep: the daemon wakes them as its connection
 * goes, long before the wait's own one-second look. */
static void test_doorbell_writer_dies(void)
{
        shmv_client *c = th_connect();
        const char *name = th_name("dies");
        shmv_view *r;
        CHECK_OK(shmv_segment_create(c, name, 4096, 0600));
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        struct blocked b = {.v = r, .seen = 0};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, blocked_thread, &b), 0);
        for (int64_t end = th_now_ms() + 5000; status_of(c).armed == 0;) {
                CHECK_LT(th_now_ms(), end);
                th_sleep_ms(1);
        }
        th_sleep_ms(50);
        int fds[2];
        CHECK_EQ(pipe(fds), 0);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                shmv_client *wc = th_connect();
                shmv_view *w;
                CHECK_OK(shmv_view_open(wc, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
                atomic_fetch_add(&bell_of(w, 4096)->generation, 1);
                int64_t at = th_now_ms();
                CHECK_EQ(write(fds[1], &at, sizeof(at)), (ssize_t)sizeof(at));
                _exit(0);
        }
        close(fds[1]);
        int64_t died;
        CHECK_EQ(read(fds[0], &died, sizeof(died)), (ssize_t)sizeof(died));
        close(fds[0]);
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK_EQ(status, 0);
        CHECK_EQ(pthread_join(t, NULL), 0);
        int64_t took = th_now_ms() - died;
        th_note("woken %lld ms after the writer died", (long long)took);
        CHECK_OK(b.r);
        CHECK_EQ(b.gen, 1);
        CHECK_LT(took, 400);
        shmv_view_release(r);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* The arming of a client that goes is forgotten: the daemon's count and the page's armed word
 * go back, so notifies cost no system call again. */
static void test_doorbell_client_gone(void)
{
        shmv_client *c = th_connect();
        const char *name = th_name("gone");
        shmv_view *w;
        CHECK_OK(shmv_segment_create_open(c, name, 4096, 0644, 0, &w));
        struct shmv__doorbell *d = bell_of(w, 4096);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                th_become(65534, 65534);
                shmv_client *rc = th_connect();
                shmv_view *r;
                CHECK_OK(shmv_view_open(rc, name, 0, SHMV_TO_END, SHMV_READ, &r));
                CHECK_RC(shmv_view_wait(r, 0, 1, NULL), -ETIMEDOUT);
                _exit(0); /* without a release */
        }
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK_EQ(status, 0);
        for (int64_t end = th_now_ms() + 5000; status_of(c).armed != 0;) {
                CHECK_LT(th_now_ms(), end);
                th_sleep_ms(1);
        }
        CHECK_EQ(atomic_load(&d->armed), 0);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* The arm request by hand: only a view of this connection, of the segment it names. */
static void test_doorbell_arm_raw(void)
{
        shmv_client *c = th_connect();
        const char *name = th_name("raw");
        CHECK_OK(shmv_segment_create(c, name, 4096, 0600));
        th_raw r;
        th_raw_connect_hello(&r);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__DoorbellArmRequest arm = SHMVIEW__DOORBELL_ARM_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_DOORBELL_ARM;
        req.doorbell_arm = &arm;
        arm.view_id = 1;
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -ENOENT);
        /* A view of this connection, named with another segment's id. */
        uint64_t view_id;
        int fd;
        CHECK_OK(th_raw_open(&r, name, strlen(name), 0, UINT64_MAX, false, &view_id, &fd));
        close(fd);
        arm.view_id = view_id;
        arm.segment_id = 12345;
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -ENOENT);
        CHECK_EQ(status_of(c).armed, 0);
        /* 0: the view's segment, whichever. Twice is once. */
        arm.segment_id = 0;
        CHECK_OK(th_raw_call(&r, &req, NULL, NULL));
        CHECK_OK(th_raw_call(&r, &req, NULL, NULL));
        CHECK_EQ(status_of(c).armed, 1);
        /* The release disarms it; the id means nothing after. */
        th_raw_release(&r, view_id);
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -ENOENT); /* after the release, in order */
        CHECK_EQ(status_of(c).armed, 0);
        /* Sealed: nothing will change, nothing to arm. */
        CHECK_OK(th_raw_open(&r, name, strlen(name), 0, UINT64_MAX, false, &view_id, &fd));
        close(fd);
        CHECK_OK(shmv_segment_seal(c, name));
        arm.view_id = view_id;
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -EROFS);
        CHECK_EQ(status_of(c).armed, 0);
        th_raw_release(&r, view_id);
        th_raw_close(&r);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* A read-only holder of uid 65534 tries every route it has to change the generation; each
 * fails, and the generation is what it was. */
static void attack_main(void *p)
{
        const char *name = p;
        th_become(65534, 65534);
        shmv_client *c = th_connect();
        th_raw raw;
        th_raw_connect_hello(&raw);
        int fd;
        CHECK_OK(th_raw_open(&raw, name, strlen(name), 0, UINT64_MAX, false, NULL, &fd));
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v));
        struct shmv__doorbell *d = bell_of(v, 4096);
        uint64_t gen = shmv_view_generation(v);
        CHECK_EQ(gen, 5);
        uint64_t page = page_size();

        /* The library. */
        CHECK_RC(shmv_view_notify(v), -EROFS);
        /* A store through the mapping: SIGSEGV (in a child, which dies of it). */
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                signal(SIGSEGV, SIG_DFL); /* not AddressSanitizer's report and abort */
                atomic_fetch_add(&d->generation, 1);
                _exit(0);
        }
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK(WIFSIGNALED(status));
        CHECK_EQ(WTERMSIG(status), SIGSEGV);
        /* Making the mapping writable. */
        void *pg = (void *)((uintptr_t)d & ~(uintptr_t)(page - 1));
        CHECK_EQ(mprotect(pg, page, PROT_READ | PROT_WRITE), -1);
        CHECK_EQ(errno, EACCES);
        /* A writable mapping of the doorbell page from the descriptor. */
        CHECK_PTR_EQ(mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096), MAP_FAILED);
        CHECK_EQ(errno, EACCES);
        /* A private writable mapping can be written, but is a copy: the page is unchanged. */
        uint64_t *priv = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 4096);
        CHECK_PTR_NE(priv, MAP_FAILED);
        priv[0] += 1000;
        munmap(priv, page);
        /* write() through the descriptor. */
        uint64_t more = gen + 1;
        CHECK_EQ(pwrite(fd, &more, sizeof(more), 4096), -1);
        CHECK_EQ(errno, EBADF);
        /* The futex operations that write their second word. */
        uint32_t mine = 0;
        CHECK_EQ(syscall(SYS_futex, &mine, FUTEX_WAKE_OP, 1, (void *)1, shmv__doorbell_word(d),
                         FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0)),
                 -1);
        CHECK_EQ(errno, EFAULT);
        /* Requeueing: it may move sleepers (the waits look again within their slice), but
         * writes nothing. */
        (void)syscall(SYS_futex, shmv__doorbell_word(d), FUTEX_CMP_REQUEUE, 0, (void *)1, &mine,
                      (uint32_t)gen);
        (void)syscall(SYS_futex, &mine, FUTEX_CMP_REQUEUE, 0, (void *)1, shmv__doorbell_word(d), 0);
        /* A read-write reopen of the descriptor. */
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        CHECK_EQ(open(proc, O_RDWR), -1);
        CHECK_EQ(errno, EACCES);
        /* Sealing it by its own descriptor (then nobody could notify). */
        CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
        CHECK_EQ(errno, EPERM);
        /* The daemon arms, never rings, for it. */
        CHECK_RC(shmv_view_wait(v, gen, 1, NULL), -ETIMEDOUT);

        CHECK_EQ(shmv_view_generation(v), gen);
        CHECK_EQ(atomic_load(&d->generation), gen);
        close(fd);
        th_raw_close(&raw);
        shmv_view_release(v);
        shmv_disconnect(c);
}

static void test_doorbell_attack_readonly(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("attack"));
        shmv_view *w;
        CHECK_OK(shmv_segment_create_open(c, name, 4096, 0644, 0, &w));
        for (int i = 0; i < 5; i++)
                CHECK_OK(shmv_view_notify(w));
        CHECK_EQ(th_in_child(attack_main, name), 0);
        CHECK_EQ(shmv_view_generation(w), 5);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.generation, 5);
        CHECK(!info.sealed);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* A read-only holder of another uid moves the doorbell's sleepers to a futex word of its own:
 * FUTEX_CMP_REQUEUE needs only read access to the word it reads, and writes nothing, so the
 * kernel cannot refuse it. The robbed wait still sees the next notify, within its one-second
 * slice, and the generation is unchanged by it. */
static void test_doorbell_requeue(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("requeue"));
        shmv_view *w, *r;
        CHECK_OK(shmv_segment_create(c, name, 4096, 0644));
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        struct blocked b = {.v = r, .seen = 0};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, blocked_thread, &b), 0);
        for (int64_t end = th_now_ms() + 5000; status_of(c).armed == 0;) {
                CHECK_LT(th_now_ms(), end);
                th_sleep_ms(1);
        }
        th_sleep_ms(50);
        int res[2], go[2];
        CHECK_EQ(pipe(res), 0);
        CHECK_EQ(pipe(go), 0);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                th_become(65534, 65534);
                shmv_client *ac = th_connect();
                shmv_view *v;
                CHECK_OK(shmv_view_open(ac, name, 0, SHMV_TO_END, SHMV_READ, &v));
                static uint32_t mine;
                long moved = syscall(SYS_futex, shmv__doorbell_word(bell_of(v, 4096)),
                                     FUTEX_CMP_REQUEUE, 0, (void *)(long)INT32_MAX, &mine, 0);
                CHECK_EQ(write(res[1], &moved, sizeof(moved)), (ssize_t)sizeof(moved));
                char x;
                CHECK_EQ(read(go[0], &x, 1), 1); /* keeps its word until the end */
                _exit(0);
        }
        long moved;
        CHECK_EQ(read(res[0], &moved, sizeof(moved)), (ssize_t)sizeof(moved));
        th_note("the attacker moved %ld sleeper(s)", moved);
        CHECK_EQ(moved, 1);
        CHECK_EQ(shmv_view_generation(r), 0);
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
        int64_t t0 = th_now_ms();
        CHECK_OK(shmv_view_notify(w));
        CHECK_EQ(pthread_join(t, NULL), 0);
        int64_t took = atomic_load(&b.at) - t0;
        th_note("the robbed wait saw the notify after %lld ms", (long long)took);
        CHECK_OK(b.r);
        CHECK_EQ(b.gen, 1);
        CHECK_LT(took, 1500);
        CHECK_EQ(write(go[1], "x", 1), 1);
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK_EQ(status, 0);
        close(res[0]);
        close(res[1]);
        close(go[0]);
        close(go[1]);
        shmv_view_release(w);
        shmv_view_release(r);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static const th_test tests[] = {
        TH_TEST(test_doorbell_basics),      TH_TEST(test_doorbell_partial_views),
        TH_TEST(test_doorbell_other_uid),   TH_TEST(test_doorbell_deadline),
        TH_TEST(test_doorbell_pingpong),    TH_TEST(test_doorbell_threads),
        TH_TEST(test_doorbell_coalesce),    TH_TEST(test_doorbell_seal),
        TH_TEST(test_doorbell_writer_dies), TH_TEST(test_doorbell_client_gone),
        TH_TEST(test_doorbell_arm_raw),     TH_TEST(test_doorbell_attack_readonly),
        TH_TEST(test_doorbell_requeue),     TH_TEST(test_doorbell_seal_fails),
};

int main(int argc, char **argv)
{
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
