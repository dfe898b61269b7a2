/* Wait sets (shmv_waitset_*) against a real daemon: many waits behind one descriptor polled
 * with epoll and with libuv's uv_poll_t, events caused by another process of another uid,
 * deadlines, removal, a daemon that stops answering, and no busy loop; generation waits on
 * the doorbells of views another uid holds read-only. */
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "harness.h"

/* Up to want events, polling ws's descriptor with epoll (level-triggered) for at most
 * timeout_ms; *ret_wakeups counts the epoll_wait() calls that returned it readable. */
static size_t epoll_collect(shmv_waitset *ws, shmv_waitset_event *out, size_t want, int timeout_ms,
                            unsigned *ret_wakeups)
{
        int ep = epoll_create1(EPOLL_CLOEXEC);
        CHECK_GE(ep, 0);
        struct epoll_event ev = {.events = EPOLLIN};
        CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, shmv_waitset_fd(ws), &ev), 0);
        size_t got = 0;
        unsigned wakeups = 0;
        int64_t end = th_now_ms() + timeout_ms;
        while (got < want) {
                int left = (int)(end - th_now_ms());
                if (left < 0)
                        break;
                struct epoll_event e;
                int n = epoll_wait(ep, &e, 1, left);
                if (n < 0 && errno == EINTR)
                        continue;
                CHECK_GE(n, 0);
                if (n == 0)
                        break;
                wakeups++;
                int r;
                while (got < want && (r = shmv_waitset_next(ws, &out[got])) == 0)
                        got++;
        }
        close(ep);
        if (ret_wakeups)
                *ret_wakeups = wakeups;
        return got;
}

/* Whether ws's descriptor is readable now. */
static bool readable(shmv_waitset *ws)
{
        struct pollfd p = {.fd = shmv_waitset_fd(ws), .events = POLLIN};
        return poll(&p, 1, 0) == 1;
}

static void test_waitset_args(void)
{
        shmv_client *c = th_connect();
        shmv_waitset *ws;
        CHECK_RC(shmv_waitset_new(c, NULL), -EINVAL);
        /* Without a client: generation waits only. */
        CHECK_OK(shmv_waitset_new(NULL, &ws));
        CHECK_RC(shmv_waitset_add_segment(ws, "x", SHMV_WAIT_EXISTS, -1, 1), -EINVAL);
        shmv_waitset_free(ws);
        CHECK_OK(shmv_waitset_new(c, &ws));
        CHECK_GE(shmv_waitset_fd(ws), 0);
        CHECK_RC(shmv_waitset_fd(NULL), -EINVAL);
        CHECK_RC(shmv_waitset_add_segment(ws, "a/b", SHMV_WAIT_EXISTS, -1, 1), -EINVAL);
        CHECK_RC(shmv_waitset_add_segment(ws, "x", 0, -1, 1), -EINVAL);
        CHECK_RC(shmv_waitset_add_segment(ws, "x", 4, -1, 1), -EINVAL);
        CHECK_RC(shmv_waitset_add_segment(NULL, "x", SHMV_WAIT_EXISTS, -1, 1), -EINVAL);
        CHECK_RC(shmv_waitset_add_generation(ws, NULL, 0, -1, 1), -EINVAL);
        CHECK_OK(shmv_waitset_add_segment(ws, th_name("args"), SHMV_WAIT_EXISTS, -1, 7));
        CHECK_RC(shmv_waitset_add_segment(ws, th_name("args"), SHMV_WAIT_EXISTS, -1, 7), -EEXIST);
        CHECK_RC(shmv_waitset_remove(ws, 8), -ENOENT);
        shmv_waitset_event ev;
        CHECK_RC(shmv_waitset_next(ws, &ev), -EAGAIN);
        CHECK_RC(shmv_waitset_next(ws, NULL), -EINVAL);
        CHECK_OK(shmv_waitset_remove(ws, 7));
        CHECK_RC(shmv_waitset_remove(ws, 7), -ENOENT);
        shmv_waitset_free(ws);
        shmv_waitset_free(NULL);
        shmv_disconnect(c);
}

/* What already holds is ready at once; the descriptor is readable until it is taken. */
static void test_waitset_at_once(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("now"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        shmv_waitset *ws;
        CHECK_OK(shmv_waitset_new(c, &ws));
        CHECK_OK(shmv_waitset_add_segment(ws, name, SHMV_WAIT_EXISTS, -1, 1));
        CHECK_OK(shmv_waitset_add_segment(ws, name, SHMV_WAIT_SEALED, 0, 2));
        shmv_waitset_event ev[2];
        CHECK_EQ(epoll_collect(ws, ev, 2, 2000, NULL), 2);
        for (int i = 0; i < 2; i++) {
                if (ev[i].token == 1)
                        CHECK_OK(ev[i].status);
                else
                        CHECK_RC(ev[i].status, -ETIMEDOUT);
        }
        CHECK(!readable(ws));
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_waitset_free(ws);
        shmv_disconnect(c);
}

struct maker {
        char prefix[32];
        int count;
        int delay_ms;
};

/* As uid 65534: creates prefix-0 .. prefix-(count-1) and seals the even ones. */
static void make_segments(void *arg)
{
        const struct maker *m = arg;
        th_become(65534, 65534);
        shmv_client *c = th_connect();
        th_sleep_ms(m->delay_ms);
        for (int i = 0; i < m->count; i++) {
                char name[64];
                snprintf(name, sizeof(name), "%s-%d", m->prefix, i);
                CHECK_OK(shmv_segment_create(c, name, 4096, 0644));
                if (i % 2 == 0)
                        CHECK_OK(shmv_segment_seal(c, name));
        }
        shmv_disconnect(c);
}

static pid_t spawn(void (*fn)(void *), void *arg)
{
        pid_t child = fork();
        CHECK_GE(child, 0);
        if (child == 0) {
                fn(arg);
                _exit(0);
        }
        return child;
}

static void reap(pid_t child)
{
        int status;
        CHECK_EQ(waitpid(child, &status, 0), child);
        CHECK_EQ(status, 0);
}

static void unlink_segments(shmv_client *c, const struct maker *m)
{
        for (int i = 0; i < m->count; i++) {
                char name[64];
                snprintf(name, sizeof(name), "%s-%d", m->prefix, i);
                CHECK_OK(shmv_segment_unlink(c, name));
        }
}

/* 150 segment waits (past one connection's 64) for segments another process of another uid
 * creates and seals: every one ends once, with its own token, through one descriptor. */
static void test_waitset_many_segments_epoll(void)
{
        enum { N = 75 };
        struct maker m = {.count = N, .delay_ms = 200};
        snprintf(m.prefix, sizeof(m.prefix), "%s", th_name("many"));
        shmv_client *c = th_connect();
        shmv_waitset *ws;
        CHECK_OK(shmv_waitset_new(c, &ws));
        for (int i = 0; i < N; i++) {
                char name[64];
                snprintf(name, sizeof(name), "%s-%d", m.prefix, i);
                CHECK_OK(shmv_waitset_add_segment(ws, name, SHMV_WAIT_EXISTS, 20000, 1000 + i));
                CHECK_OK(shmv_waitset_add_segment(ws, name, SHMV_WAIT_SEALED, 20000, 2000 + i));
        }
        /* The daemon holds them all: 150 waits on three connections. */
        shmv_daemon_info st;
        CHECK_OK(shmv_daemon_status(c, &st));
        CHECK_EQ(st.waits, 2 * N);
        CHECK(!readable(ws));
        pid_t child = spawn(make_segments, &m);
        shmv_waitset_event ev[2 * N + 1];
        /* All created, half sealed: the other half of the seal waits go on. */
        size_t want = N + (N + 1) / 2;
        CHECK_EQ(epoll_collect(ws, ev, want, 10000, NULL), want);
        reap(child);
        bool seen[3000] = {false};
        for (size_t i = 0; i < want; i++) {
                CHECK_OK(ev[i].status);
                CHECK(ev[i].token >= 1000 && ev[i].token < 2000 + N);
                CHECK(!seen[ev[i].token]);
                seen[ev[i].token] = true;
                if (ev[i].token >= 2000)
                        CHECK_EQ((ev[i].token - 2000) % 2, 0);
        }
        CHECK_EQ(epoll_collect(ws, ev, 1, 100, NULL), 0);
        CHECK_OK(shmv_daemon_status(c, &st));
        CHECK_EQ(st.waits, N / 2);
        shmv_waitset_free(ws);
        /* The set's connections went with it, and their waits with them. */
        for (int tries = 0;; tries++) {
                CHECK_OK(shmv_daemon_status(c, &st));
                if (st.waits == 0)
                        break;
                CHECK_LT(tries, 500);
                th_sleep_ms(10);
        }
        unlink_segments(c, &m);
        shmv_disconnect(c);
}

struct uv_state {
        shmv_waitset *ws;
        size_t got;
        size_t want;
        unsigned callbacks;
        int bad;
};

static void on_uv_readable(uv_poll_t *h, int status, int events)
{
        struct uv_state *s = h->data;
        (void)events;
        s->callbacks++;
        if (status < 0) {
                s->bad = status;
                uv_poll_stop(h);
                return;
        }
        shmv_waitset_event ev;
        while (shmv_waitset_next(s->ws, &ev) == 0) {
                if (ev.status != 0)
                        s->bad = ev.status;
                s->got++;
        }
        if (s->got >= s->want)
                uv_poll_stop(h);
}

static void on_uv_timeout(uv_timer_t *t)
{
        uv_poll_stop(t->data);
}

/* The same through libuv: the set's descriptor in a uv_poll_t beside a timer. */
static void test_waitset_libuv(void)
{
        enum { N = 40 };
        struct maker m = {.count = N, .delay_ms = 100};
        snprintf(m.prefix, sizeof(m.prefix), "%s", th_name("uv"));
        shmv_client *c = th_connect();
        shmv_waitset *ws;
        CHECK_OK(shmv_waitset_new(c, &ws));
        for (int i = 0; i < N; i++) {
                char name[64];
                snprintf(name, sizeof(name), "%s-%d", m.prefix, i);
                CHECK_OK(shmv_waitset_add_segment(ws, name, SHMV_WAIT_EXISTS, -1, (uint64_t)i));
        }
        uv_loop_t loop;
        CHECK_EQ(uv_loop_init(&loop), 0);
        uv_poll_t poll_h;
        struct uv_state s = {.ws = ws, .want = N};
        CHECK_EQ(uv_poll_init(&loop, &poll_h, shmv_waitset_fd(ws)), 0);
        poll_h.data = &s;
        CHECK_EQ(uv_poll_start(&poll_h, UV_READABLE, on_uv_readable), 0);
        uv_timer_t timer;
        uv_timer_init(&loop, &timer);
        timer.data = &poll_h;
        uv_timer_start(&timer, on_uv_timeout, 10000, 0);
        uv_unref((uv_handle_t *)&timer);
        pid_t child = spawn(make_segments, &m);
        uv_run(&loop, UV_RUN_DEFAULT);
        reap(child);
        CHECK_EQ(s.bad, 0);
        CHECK_EQ(s.got, N);
        CHECK_LE(s.callbacks, N); /* no callback found nothing to take, but by chance */
        uv_close((uv_handle_t *)&poll_h, NULL);
        uv_close((uv_handle_t *)&timer, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_EQ(uv_loop_close(&loop), 0);
        shmv_waitset_free(ws);
        unlink_segments(c, &m);
        shmv_disconnect(c);
}

/* Each wait ends at its own deadline, within a few milliseconds, the others going on. */
static void test_waitset_deadlines(void)
{
        shmv_client *c = th_connect();
        CHECK_OK(shmv_set_timeout(c, 100)); /* shorter than the longest deadline */
        shmv_waitset *ws;
        CHECK_OK(shmv_waitset_new(c, &ws));
        /* The connection is made by the first wait; what is measured is the rest. */
        CHECK_OK(shmv_waitset_add_segment(ws, th_name("warm"), SHMV_WAIT_EXISTS, 0, 99));
        shmv_waitset_event ev[4];
        CHECK_EQ(epoll_collect(ws, ev, 1, 2000, NULL), 1);
        int deadlines[] = {20, 150, 400};
        int64_t t0 = th_now_ms();
        for (int i = 0; i < 3; i++)
                CHECK_OK(shmv_waitset_add_segment(ws, th_name("never"), SHMV_WAIT_EXISTS,
                                                  deadlines[i], (uint64_t)i));
        CHECK_OK(shmv_waitset_add_segment(ws, th_name("never"), SHMV_WAIT_EXISTS, -1, 3));
        for (int i = 0; i < 3; i++) {
                CHECK_EQ(epoll_collect(ws, ev, 1, 2000, NULL), 1);
                int64_t took = th_now_ms() - t0;
                CHECK_EQ(ev[0].token, (uint64_t)i);
                CHECK_RC(ev[0].status, -ETIMEDOUT);
                CHECK_GE(took, deadlines[i]);
                CHECK_LE(took, deadlines[i] + 40);
        }
        CHECK(!readable(ws));
        shmv_waitset_free(ws);
        shmv_disconnect(c);
}

/* A removed wait never ends, even when its condition comes to hold; the others still do. */
static void test_waitset_remove(void)
{
        shmv_client *c = th_connect();
        char a[64], b[64];
        snprintf(a, sizeof(a), "%s", th_name("rm-a"));
        snprintf(b, sizeof(b), "%s", th_name("rm-b"));
        shmv_waitset *ws;
        CHECK_OK(shmv_waitset_new(c, &ws));
        CHECK_OK(shmv_waitset_add_segment(ws, a, SHMV_WAIT_EXISTS, -1, 1));
        CHECK_OK(shmv_waitset_add_segment(ws, b, SHMV_WAIT_EXISTS, -1, 2));
        CHECK_OK(shmv_waitset_remove(ws, 1));
        CHECK_OK(shmv_segment_create(c, a, 4096, 0));
        CHECK_OK(shmv_segment_create(c, b, 4096, 0));
        shmv_waitset_event ev[2];
        CHECK_EQ(epoll_collect(ws, ev, 2, 300, NULL), 1);
        CHECK_EQ(ev[0].token, 2);
        /* An ended wait not yet taken can be removed too: the descriptor goes quiet. */
        CHECK_OK(shmv_waitset_add_segment(ws, a, SHMV_WAIT_EXISTS, -1, 3));
        for (int tries = 0; !readable(ws); tries++) {
                CHECK_LT(tries, 500);
                th_sleep_ms(2);
        }
        shmv_waitset_event one;
        CHECK_OK(shmv_waitset_next(ws, &one));
        CHECK_EQ(one.token, 3);
        CHECK_OK(shmv_waitset_add_segment(ws, a, SHMV_WAIT_EXISTS, -1, 4));
        CHECK_OK(shmv_waitset_add_segment(ws, b, SHMV_WAIT_EXISTS, -1, 5));
        th_sleep_ms(50);
        CHECK_OK(shmv_waitset_remove(ws, 4));
        CHECK_OK(shmv_waitset_next(ws, &one));
        CHECK_EQ(one.token, 5);
        CHECK_RC(shmv_waitset_next(ws, &one), -EAGAIN);
        CHECK(!readable(ws));
        shmv_waitset_free(ws);
        CHECK_OK(shmv_segment_unlink(c, a));
        CHECK_OK(shmv_segment_unlink(c, b));
        shmv_disconnect(c);
}

/* Idle with waits pending, the descriptor wakes nobody; after an event is taken it is quiet
 * again. A level-triggered loop that spun would count hundreds of wake-ups here. */
static void test_waitset_no_busy_loop(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("idle"));
        shmv_waitset *ws;
        CHECK_OK(shmv_waitset_new(c, &ws));
        for (int i = 0; i < 10; i++)
                CHECK_OK(shmv_waitset_add_segment(ws, th_name("idle-never"), SHMV_WAIT_EXISTS, -1,
                                                  (uint64_t)i));
        CHECK_OK(shmv_waitset_add_segment(ws, name, SHMV_WAIT_EXISTS, -1, 100));
        shmv_waitset_event ev[2];
        unsigned wakeups;
        CHECK_EQ(epoll_collect(ws, ev, 1, 300, &wakeups), 0);
        CHECK_EQ(wakeups, 0);
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        CHECK_EQ(epoll_collect(ws, ev, 2, 300, &wakeups), 1);
        CHECK_EQ(ev[0].token, 100);
        CHECK_EQ(wakeups, 1);
        shmv_waitset_free(ws);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* A daemon that stops answering ends the waits with an error through the descriptor, at the
 * end of the slice plus the client's timeout: never a hang. */
static void test_waitset_daemon_hung(void)
{
        shmv_client *c = th_connect();
        CHECK_OK(shmv_set_timeout(c, 200));
        shmv_waitset *ws;
        CHECK_OK(shmv_waitset_new(c, &ws));
        CHECK_OK(shmv_waitset_add_segment(ws, th_name("hung"), SHMV_WAIT_EXISTS, -1, 1));
        CHECK_OK(shmv_waitset_add_segment(ws, th_name("hung"), SHMV_WAIT_SEALED, 60000, 2));
        th_sleep_ms(50);
        int64_t t0 = th_now_ms();
        CHECK_EQ(kill(th_daemon_pid(), SIGSTOP), 0);
        shmv_waitset_event ev[2];
        size_t got = epoll_collect(ws, ev, 2, 8000, NULL);
        int64_t took = th_now_ms() - t0;
        CHECK_EQ(kill(th_daemon_pid(), SIGCONT), 0);
        CHECK_EQ(got, 2);
        CHECK_RC(ev[0].status, -ETIMEDOUT);
        CHECK_RC(ev[1].status, -ETIMEDOUT);
        CHECK_GE(took, 5000 - 100);
        CHECK_LT(took, 6500);
        CHECK(!readable(ws));
        shmv_waitset_free(ws);
        shmv_disconnect(c);
}

/* Threads of this process now. */
static int thread_count(void)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int)getpid());
        DIR *d = opendir(path);
        CHECK(d != NULL);
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

enum { GEN_SEGMENTS = 10, GEN_PER_SEGMENT = 20 };

struct gen_waiter {
        char prefix[32];
        int ready[2]; /* the waiter writes a byte once its waits are in */
};

/* As uid 65534, through read-only views: 200 generation waits on ten segments (past one
 * thread's 127), a wait for a segment to appear and one for it to be sealed, all in one set;
 * the parent (root) notifies each segment once, then creates and seals. */
static void gen_waiter(void *arg)
{
        struct gen_waiter *g = arg;
        th_become(65534, 65534);
        shmv_client *c = th_connect();
        shmv_view *v[GEN_SEGMENTS];
        uint64_t seen[GEN_SEGMENTS];
        shmv_waitset *ws;
        CHECK_OK(shmv_waitset_new(c, &ws));
        int threads = thread_count();
        for (int s = 0; s < GEN_SEGMENTS; s++) {
                char name[64];
                snprintf(name, sizeof(name), "%s-%d", g->prefix, s);
                CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v[s]));
                seen[s] = shmv_view_generation(v[s]);
                for (int j = 0; j < GEN_PER_SEGMENT; j++)
                        CHECK_OK(shmv_waitset_add_generation(ws, v[s], seen[s], -1,
                                                             (uint64_t)(s * 100 + j)));
        }
        /* 200 waits: two threads of the library's. */
        CHECK_EQ(thread_count(), threads + 2);
        char name[64];
        snprintf(name, sizeof(name), "%s-late", g->prefix);
        CHECK_OK(shmv_waitset_add_segment(ws, name, SHMV_WAIT_EXISTS, -1, 5000));
        CHECK_OK(shmv_waitset_add_segment(ws, name, SHMV_WAIT_SEALED, -1, 5001));
        unsigned wakeups;
        shmv_waitset_event ev[GEN_SEGMENTS * GEN_PER_SEGMENT + 3];
        CHECK_EQ(epoll_collect(ws, ev, 1, 200, &wakeups), 0); /* idle: quiet */
        CHECK_EQ(wakeups, 0);
        CHECK_EQ(write(g->ready[1], "r", 1), 1);
        size_t want = GEN_SEGMENTS * GEN_PER_SEGMENT + 2;
        /* Woken by the notifies, not found by the threads' look once a second. */
        int64_t t0 = th_now_ms();
        CHECK_EQ(epoll_collect(ws, ev, want, 10000, NULL), want);
        CHECK_LT(th_now_ms() - t0, 700);
        bool got[5002] = {false};
        for (size_t i = 0; i < want; i++) {
                CHECK_OK(ev[i].status);
                CHECK(ev[i].token < 5002);
                CHECK(!got[ev[i].token]);
                got[ev[i].token] = true;
                if (ev[i].token < 5000)
                        CHECK_EQ(ev[i].generation, seen[ev[i].token / 100] + 1);
        }
        CHECK(got[5000] && got[5001]);
        CHECK_EQ(epoll_collect(ws, ev, 1, 100, NULL), 0);
        shmv_waitset_free(ws);
        CHECK_EQ(thread_count(), threads);
        for (int s = 0; s < GEN_SEGMENTS; s++)
                shmv_view_release(v[s]);
        shmv_disconnect(c);
}

static void test_waitset_generations_other_uid(void)
{
        struct gen_waiter g;
        snprintf(g.prefix, sizeof(g.prefix), "%s", th_name("gen"));
        CHECK_EQ(pipe(g.ready), 0);
        shmv_client *c = th_connect();
        shmv_view *w[GEN_SEGMENTS];
        for (int s = 0; s < GEN_SEGMENTS; s++) {
                char name[64];
                snprintf(name, sizeof(name), "%s-%d", g.prefix, s);
                CHECK_OK(shmv_segment_create_open(c, name, 4096, 0644, 0, &w[s]));
        }
        pid_t child = spawn(gen_waiter, &g);
        close(g.ready[1]);
        char b;
        CHECK_EQ(read(g.ready[0], &b, 1), 1);
        close(g.ready[0]);
        for (int s = 0; s < GEN_SEGMENTS; s++)
                CHECK_OK(shmv_view_notify(w[s]));
        char name[64];
        snprintf(name, sizeof(name), "%s-late", g.prefix);
        CHECK_OK(shmv_segment_create(c, name, 4096, 0644));
        CHECK_OK(shmv_segment_seal(c, name));
        reap(child);
        for (int s = 0; s < GEN_SEGMENTS; s++) {
                char seg[64];
                snprintf(seg, sizeof(seg), "%s-%d", g.prefix, s);
                shmv_view_release(w[s]);
                CHECK_OK(shmv_segment_unlink(c, seg));
        }
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Generation waits: at once when already moved, a deadline of their own, removal. */
static void test_waitset_generation_deadline_remove(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("gdl"));
        shmv_view *w;
        CHECK_OK(shmv_segment_create_open(c, name, 4096, 0600, 0, &w));
        shmv_waitset *ws;
        CHECK_OK(shmv_waitset_new(NULL, &ws));
        uint64_t g = shmv_view_generation(w);
        shmv_waitset_event ev[3];
        /* Already past: at once, with the generation. */
        CHECK_OK(shmv_waitset_add_generation(ws, w, g + 5, -1, 1));
        CHECK_EQ(epoll_collect(ws, ev, 1, 1000, NULL), 1);
        CHECK_EQ(ev[0].token, 1);
        CHECK_OK(ev[0].status);
        CHECK_EQ(ev[0].generation, g);
        /* Deadlines, the waits' own. */
        int64_t t0 = th_now_ms();
        CHECK_OK(shmv_waitset_add_generation(ws, w, g, 30, 2));
        CHECK_OK(shmv_waitset_add_generation(ws, w, g, 200, 3));
        for (int i = 0; i < 2; i++) {
                CHECK_EQ(epoll_collect(ws, ev, 1, 2000, NULL), 1);
                int64_t took = th_now_ms() - t0;
                int deadline = i == 0 ? 30 : 200;
                CHECK_EQ(ev[0].token, (uint64_t)(2 + i));
                CHECK_RC(ev[0].status, -ETIMEDOUT);
                CHECK_EQ(ev[0].generation, g);
                CHECK_GE(took, deadline);
                CHECK_LE(took, deadline + 40);
        }
        /* Removed: the notify ends only the other; the view may go meanwhile. */
        shmv_view *ro;
        CHECK_OK(shmv_view_toreadonly(w, &ro));
        CHECK_OK(shmv_waitset_add_generation(ws, ro, g, -1, 4));
        CHECK_OK(shmv_waitset_add_generation(ws, ro, g, -1, 5));
        shmv_view_release(ro);
        CHECK_OK(shmv_waitset_remove(ws, 4));
        CHECK(!readable(ws));
        int64_t t1 = th_now_ms();
        CHECK_OK(shmv_view_notify(w));
        CHECK_EQ(epoll_collect(ws, ev, 2, 300, NULL), 1);
        CHECK_LT(th_now_ms() - t1, 400); /* the 300 ms of looking for a second event */
        CHECK_EQ(ev[0].token, 5);
        CHECK_EQ(ev[0].generation, g + 1);
        CHECK(!readable(ws));
        shmv_waitset_free(ws);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static const th_test tests[] = {
        TH_TEST(test_waitset_args),
        TH_TEST(test_waitset_at_once),
        TH_TEST(test_waitset_many_segments_epoll),
        TH_TEST(test_waitset_libuv),
        TH_TEST(test_waitset_deadlines),
        TH_TEST(test_waitset_remove),
        TH_TEST(test_waitset_no_busy_loop),
        TH_TEST(test_waitset_daemon_hung),
        TH_TEST(test_waitset_generations_other_uid),
        TH_TEST(test_waitset_generation_deadline_remove),
};

int main(int argc, char **argv)
{
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
