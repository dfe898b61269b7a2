/* libshmview: wait sets, many one-shot waits behind one pollable descriptor (shmview.h,
 * docs/protocol.md "Waiting from an event loop").
 *
 * The descriptor is an epoll set of the set's own holding three kinds of sources, each of
 * which next() drains, so that it is readable again only when something new happens:
 * - the sockets of the set's wait connections, on which segment waits are pipelined (the
 *   daemon answers each when it holds, out of order, matched here by request id), at most
 *   CONN_WAITS pending on each, the daemon's bound per connection;
 * - an eventfd that the generation threads write when a doorbell moved, and that stays
 *   readable while ended waits are not taken;
 * - a timerfd armed for the earliest deadline the library keeps itself: a generation wait's,
 *   and the time by which the daemon must have answered a segment wait's slice (the slice,
 *   then the client's timeout), past which it counts as hung and its waits end.
 * Generation waits are futex waits on doorbell words, which no descriptor can carry on the
 * kernels we run on; so one thread per THREAD_WORDS of them blocks in futex_waitv() and turns
 * a wake-up into the eventfd's. Everything is under the set's one lock, which no thread holds
 * while it blocks. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "private.h"

/* Waits the daemon keeps pending per connection (daemon/wait.h, SHMV__WAITS_PER_CONN). */
#define CONN_WAITS 64u
/* futex_waitv() takes FUTEX_WAITV_MAX (128) words; one is the thread's own. */
#define THREAD_WORDS (FUTEX_WAITV_MAX - 1)
/* The longest a thread sleeps before it looks at its doorbells again (whole seconds). */
#define THREAD_SLEEP_MS 1000

typedef struct wconn {
        shmv_client *c;
        int fd; /* its socket, in the epoll set */
        unsigned pending; /* waits the daemon holds for it, removed ones included */
        struct wconn *next;
} wconn;

typedef struct gthread gthread;

typedef struct entry {
        uint64_t token;
        bool segment; /* else a generation wait */
        bool ready; /* ended, on the ready list */
        int status;
        uint64_t generation;
        int64_t deadline_us; /* monotonic; -1: none */
        struct entry *ready_next;
        /* A segment wait: the request in flight on conn. */
        wconn *conn;
        uint64_t req_id;
        int64_t asked_us;
        int slice_ms;
        int64_t answer_by_us; /* -1: no bound (a client without timeout) */
        unsigned what; /* 1 exists, 2 sealed, as on the wire */
        /* A generation wait: the set's own handle on the view, and its thread. */
        shmv_view *view;
        uint64_t seen;
        gthread *thread;
        char name[SHMV_NAME_MAX + 1];
} entry;

struct gthread {
        pthread_t tid;
        shmv_waitset *ws;
        _Atomic uint32_t change; /* a private futex word: bumped when its entries change */
        bool stop;
        unsigned n;
        entry *entries[THREAD_WORDS];
        gthread *next;
};

struct shmv_waitset {
        pthread_mutex_t lock;
        shmv_client *client;
        int epfd;
        int evfd;
        int tfd;
        bool signalled; /* evfd holds a count */
        int64_t timer_us; /* what tfd is armed for; -1: disarmed */
        entry **all; /* every entry, pending or ready */
        size_t n;
        size_t cap;
        entry *ready_head;
        entry *ready_tail;
        wconn *conns;
        gthread *threads;
};

static int64_t now_us(void)
{
        return (int64_t)shmv__mono_usec();
}

static entry *find(shmv_waitset *ws, uint64_t token, size_t *ret_index)
{
        for (size_t i = 0; i < ws->n; i++) {
                if (ws->all[i]->token == token) {
                        if (ret_index)
                                *ret_index = i;
                        return ws->all[i];
                }
        }
        return NULL;
}

static void signal_ready(shmv_waitset *ws)
{
        if (ws->signalled)
                return;
        uint64_t one = 1;
        if (write(ws->evfd, &one, sizeof(one)) == sizeof(one))
                ws->signalled = true;
}

static void thread_change(gthread *t)
{
        atomic_fetch_add(&t->change, 1);
        syscall(SYS_futex, &t->change, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Takes a generation wait off its thread's words. */
static void thread_detach(entry *e, bool wake)
{
        gthread *t = e->thread;
        if (!t)
                return;
        for (unsigned i = 0; i < t->n; i++) {
                if (t->entries[i] == e) {
                        t->entries[i] = t->entries[--t->n];
                        break;
                }
        }
        e->thread = NULL;
        if (wake)
                thread_change(t);
}

/* Ends e with status: it goes on the ready list and the descriptor becomes readable. */
static void fire(shmv_waitset *ws, entry *e, int status, uint64_t generation, bool wake)
{
        thread_detach(e, wake);
        e->conn = NULL;
        e->ready = true;
        e->status = status;
        e->generation = generation;
        e->ready_next = NULL;
        if (ws->ready_tail)
                ws->ready_tail->ready_next = e;
        else
                ws->ready_head = e;
        ws->ready_tail = e;
        signal_ready(ws);
}

static void ready_unlink(shmv_waitset *ws, entry *e)
{
        entry *prev = NULL;
        for (entry *x = ws->ready_head; x; prev = x, x = x->ready_next) {
                if (x != e)
                        continue;
                if (prev)
                        prev->ready_next = e->ready_next;
                else
                        ws->ready_head = e->ready_next;
                if (ws->ready_tail == e)
                        ws->ready_tail = prev;
                return;
        }
}

/* The ready list emptied: the descriptor stops being readable for it. */
static void unsignal_if_empty(shmv_waitset *ws)
{
        if (ws->ready_head || !ws->signalled)
                return;
        uint64_t count;
        if (read(ws->evfd, &count, sizeof(count)) == sizeof(count) || errno == EAGAIN)
                ws->signalled = false;
}

/* Frees e, which left every list. A segment wait still pending at the daemon stays counted on
 * its connection until its reply comes. */
static void entry_free(entry *e)
{
        shmv_view_release(e->view);
        free(e);
}

static void entry_remove_at(shmv_waitset *ws, size_t i)
{
        entry *e = ws->all[i];
        ws->all[i] = ws->all[--ws->n];
        if (e->ready)
                ready_unlink(ws, e);
        else
                thread_detach(e, true);
        entry_free(e);
        unsignal_if_empty(ws);
}

static int entry_add(shmv_waitset *ws, entry *e)
{
        if (ws->n == ws->cap) {
                size_t cap = ws->cap ? 2 * ws->cap : 16;
                entry **grown = reallocarray(ws->all, cap, sizeof(*grown));
                if (!grown)
                        return -ENOMEM;
                ws->all = grown;
                ws->cap = cap;
        }
        ws->all[ws->n++] = e;
        return 0;
}

/* Arms the timerfd for the earliest time the library must look by itself. */
static void timer_update(shmv_waitset *ws)
{
        int64_t at = -1;
        for (size_t i = 0; i < ws->n; i++) {
                const entry *e = ws->all[i];
                if (e->ready)
                        continue;
                int64_t t = e->segment ? e->answer_by_us : e->deadline_us;
                if (t >= 0 && (at < 0 || t < at))
                        at = t;
        }
        if (at == ws->timer_us)
                return;
        struct itimerspec its = {{0, 0}, {0, 0}};
        if (at >= 0) {
                /* 0 would disarm it: a time already past is the earliest there is. */
                int64_t v = at > 0 ? at : 1;
                its.it_value.tv_sec = v / 1000000;
                its.it_value.tv_nsec = (v % 1000000) * 1000;
        }
        if (timerfd_settime(ws->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
                ws->timer_us = at;
}

/* Takes w out of the set and frees it: kept for the client's next wait when the daemon holds
 * nothing for it, else closed. */
static void conn_close(shmv_waitset *ws, wconn *w)
{
        for (wconn **p = &ws->conns; *p; p = &(*p)->next) {
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        }
        (void)epoll_ctl(ws->epfd, EPOLL_CTL_DEL, w->fd, NULL);
        if (w->pending == 0 && shmv__client_fd(w->c) >= 0)
                shmv__client_wait_conn_put(ws->client, w->c);
        else
                shmv_disconnect(w->c);
        free(w);
}

/* The connection broke (or the daemon stopped answering on it): its waits end with err. */
static void conn_failed(shmv_waitset *ws, wconn *w, int err)
{
        for (size_t i = 0; i < ws->n; i++) {
                entry *e = ws->all[i];
                if (!e->ready && e->segment && e->conn == w)
                        fire(ws, e, err, 0, false);
        }
        w->pending = 1; /* whatever it holds, it is not to be used again */
        conn_close(ws, w);
}

/* A connection with room for one more wait, made when none has. */
static int conn_get(shmv_waitset *ws, wconn **ret)
{
        for (wconn *w = ws->conns; w; w = w->next) {
                if (w->pending < CONN_WAITS) {
                        *ret = w;
                        return 0;
                }
        }
        wconn *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        int r = shmv__client_wait_conn(ws->client, &w->c);
        if (r < 0) {
                free(w);
                return r;
        }
        w->fd = shmv__client_fd(w->c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
        if (w->fd < 0 || epoll_ctl(ws->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
                r = w->fd < 0 ? -ENOTCONN : -errno;
                shmv_disconnect(w->c);
                free(w);
                return r;
        }
        w->next = ws->conns;
        ws->conns = w;
        *ret = w;
        return 0;
}

/* Asks the daemon for e's next slice on w: as shmv_segment_wait() does, at most
 * SHMV__WAIT_SLICE_MS at a time, so that a daemon that stops answering is found out. */
static int send_wait(shmv_waitset *ws, wconn *w, entry *e)
{
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__WaitRequest body = SHMVIEW__WAIT_REQUEST__INIT;
        body.name.data = (uint8_t *)e->name;
        body.name.len = strlen(e->name);
        body.what = e->what;
        int64_t now = now_us();
        int slice = SHMV__WAIT_SLICE_MS;
        if (e->deadline_us >= 0) {
                int64_t left = (e->deadline_us - now + 999) / 1000;
                slice = left <= 0 ? 0 : left < slice ? (int)left : slice;
        }
        body.timeout_ms = slice;
        req.body_case = SHMVIEW__REQUEST__BODY_WAIT;
        req.wait = &body;
        int r = shmv__client_send(w->c, &req);
        if (r < 0)
                return r;
        int call_timeout = shmv__client_timeout(ws->client);
        e->conn = w;
        e->req_id = req.id;
        e->asked_us = now;
        e->slice_ms = slice;
        e->answer_by_us = call_timeout < 0 ? -1 : now + ((int64_t)slice + call_timeout) * 1000;
        w->pending++;
        return 0;
}

static void on_reply(shmv_waitset *ws, wconn *w, const Shmview__Response *resp)
{
        if (w->pending > 0)
                w->pending--;
        entry *e = NULL;
        for (size_t i = 0; i < ws->n && !e; i++) {
                entry *x = ws->all[i];
                if (!x->ready && x->segment && x->conn == w && x->req_id == resp->id)
                        e = x;
        }
        if (!e)
                return; /* a wait removed meanwhile */
        int r = shmv__reply_status(SHMVIEW__REQUEST__BODY_WAIT, resp);
        if (r == -ETIMEDOUT) {
                int64_t now = now_us();
                /* The daemon's timers are in milliseconds, and may end a little early. */
                if (e->deadline_us >= 0 && now >= e->deadline_us - 2000)
                        ; /* its own deadline: done */
                else if (e->slice_ms > 20 && now - e->asked_us < (int64_t)e->slice_ms * 500)
                        r = -EPROTO; /* a slice that ended long before it could have */
                else if ((r = send_wait(ws, w, e)) == 0)
                        return;
        }
        fire(ws, e, r, 0, false);
}

/* Reads every reply w holds. False when w is gone. */
static bool conn_read(shmv_waitset *ws, wconn *w)
{
        for (;;) {
                shmv__reply reply;
                int r = shmv__client_next_frame(w->c, 0, &reply);
                if (r == -EAGAIN || r == -EINTR)
                        return true;
                if (r < 0) {
                        conn_failed(ws, w, r == -EPROTO ? -EPROTO : -ECONNRESET);
                        return false;
                }
                on_reply(ws, w, reply.msg);
                shmv__reply_free(&reply);
        }
}

static uint64_t generation_of(const entry *e)
{
        return atomic_load(&shmv__view_doorbell(e->view)->generation);
}

/* Ends the waits whose time came: generation waits at their deadline, segment waits whose
 * daemon did not answer in time (with every other wait on that connection). */
static void check_deadlines(shmv_waitset *ws)
{
        int64_t now = now_us();
        for (size_t i = 0; i < ws->n; i++) {
                entry *e = ws->all[i];
                if (e->ready)
                        continue;
                if (e->segment) {
                        if (e->answer_by_us >= 0 && now >= e->answer_by_us)
                                conn_failed(ws, e->conn, -ETIMEDOUT);
                        continue;
                }
                if (e->deadline_us >= 0 && now >= e->deadline_us) {
                        uint64_t g = generation_of(e);
                        fire(ws, e, g != e->seen ? 0 : -ETIMEDOUT, g, true);
                }
        }
}

/* One thread's loop: waits on the doorbells of its entries and its own word, and ends the
 * entries whose generation moved. */
static void *gthread_main(void *arg)
{
        gthread *t = arg;
        shmv_waitset *ws = t->ws;
        struct futex_waitv vec[FUTEX_WAITV_MAX];
        pthread_mutex_lock(&ws->lock);
        while (!t->stop) {
                memset(vec, 0, sizeof(vec));
                vec[0].val = atomic_load(&t->change);
                vec[0].uaddr = (uintptr_t)&t->change;
                vec[0].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
                unsigned n = 1;
                for (unsigned i = 0; i < t->n;) {
                        entry *e = t->entries[i];
                        struct shmv__doorbell *db = shmv__view_doorbell(e->view);
                        uint64_t g = atomic_load(&db->generation);
                        if (g != e->seen) {
                                fire(ws, e, 0, g, false); /* takes it off entries[i] */
                                continue;
                        }
                        i++;
                        uintptr_t word = (uintptr_t)shmv__doorbell_word(db);
                        bool dup = false;
                        for (unsigned j = 1; j < n && !dup; j++)
                                dup = vec[j].uaddr == word;
                        if (!dup) {
                                vec[n].val = (uint32_t)g;
                                vec[n].uaddr = word;
                                vec[n].flags = FUTEX_32;
                                n++;
                        }
                }
                pthread_mutex_unlock(&ws->lock);
                /* At most THREAD_SLEEP_MS, as shmv_view_wait() sleeps: what a wake-up can miss
                 * (a read-only holder's FUTEX_CMP_REQUEUE of the sleepers, a generation grown
                 * by exactly 2^32) is seen at the next look. */
                struct timespec until =
                        shmv__mono_timespec(shmv__mono_nsec() + THREAD_SLEEP_MS * 1000000ull);
                (void)syscall(SYS_futex_waitv, vec, n, 0, t->n ? &until : NULL, CLOCK_MONOTONIC);
                pthread_mutex_lock(&ws->lock);
        }
        pthread_mutex_unlock(&ws->lock);
        return NULL;
}

static int gthread_get(shmv_waitset *ws, gthread **ret)
{
        for (gthread *t = ws->threads; t; t = t->next) {
                if (t->n < THREAD_WORDS) {
                        *ret = t;
                        return 0;
                }
        }
        gthread *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->ws = ws;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        /* Signals are for the program's own threads. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int r = pthread_create(&t->tid, &attr, gthread_main, t);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                free(t);
                return -r;
        }
        t->next = ws->threads;
        ws->threads = t;
        *ret = t;
        return 0;
}

int shmv_waitset_new(shmv_client *c, shmv_waitset **ret)
{
        shmv__error_clear();
        if (!ret)
                return -EINVAL;
        shmv_waitset *ws = calloc(1, sizeof(*ws));
        if (!ws)
                return -ENOMEM;
        int r;
        pthread_mutex_init(&ws->lock, NULL);
        ws->timer_us = -1;
        ws->epfd = epoll_create1(EPOLL_CLOEXEC);
        ws->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ws->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (ws->epfd < 0 || ws->evfd < 0 || ws->tfd < 0) {
                r = -errno;
                goto fail;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, ws->evfd, &ev) < 0 ||
            epoll_ctl(ws->epfd, EPOLL_CTL_ADD, ws->tfd, &ev) < 0) {
                r = -errno;
                goto fail;
        }
        if (c)
                shmv__client_ref(c);
        ws->client = c;
        *ret = ws;
        return 0;
fail:
        if (ws->epfd >= 0)
                close(ws->epfd);
        if (ws->evfd >= 0)
                close(ws->evfd);
        if (ws->tfd >= 0)
                close(ws->tfd);
        pthread_mutex_destroy(&ws->lock);
        free(ws);
        return r;
}

int shmv_waitset_fd(const shmv_waitset *ws)
{
        return ws ? ws->epfd : -EINVAL;
}

static entry *entry_new(uint64_t token, int timeout_ms)
{
        entry *e = calloc(1, sizeof(*e));
        if (!e)
                return NULL;
        e->token = token;
        e->deadline_us = timeout_ms < 0 ? -1 : now_us() + (int64_t)timeout_ms * 1000;
        e->answer_by_us = -1;
        return e;
}

int shmv_waitset_add_segment(shmv_waitset *ws, const char *name, int what, int timeout_ms,
                             uint64_t token)
{
        shmv__error_clear();
        if (!ws)
                return -EINVAL;
        if (what <= 0 || (what & ~(SHMV_WAIT_EXISTS | SHMV_WAIT_SEALED)))
                return shmv__error_setf(
                        -EINVAL, "what %d: SHMV_WAIT_EXISTS, SHMV_WAIT_SEALED or both", what);
        if (shmv_segment_name_check(name) < 0)
                return shmv__error_bad_name(name);
        if (!ws->client)
                return shmv__error_setf(-EINVAL, "a wait set made without a client holds "
                                                 "generation waits only");
        entry *e = entry_new(token, timeout_ms);
        if (!e)
                return -ENOMEM;
        e->segment = true;
        e->what = (what & SHMV_WAIT_SEALED) ? 2 : 1;
        memcpy(e->name, name, strlen(name) + 1);
        pthread_mutex_lock(&ws->lock);
        int r = find(ws, token, NULL) ? -EEXIST : entry_add(ws, e);
        if (r < 0)
                goto fail;
        for (int attempt = 0;; attempt++) {
                wconn *w = NULL;
                r = conn_get(ws, &w);
                if (r == 0)
                        r = send_wait(ws, w, e);
                if (r == 0)
                        break;
                /* A connection the daemon closed (it restarted): its waits end, and this
                 * one is asked once more on a new connection. */
                if (w && attempt == 0 && (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN)) {
                        conn_failed(ws, w, -ECONNRESET);
                        continue;
                }
                ws->n--; /* e was added last, and nothing since */
                goto fail;
        }
        timer_update(ws);
        pthread_mutex_unlock(&ws->lock);
        return 0;
fail:
        pthread_mutex_unlock(&ws->lock);
        free(e);
        return r;
}

int shmv_waitset_add_generation(shmv_waitset *ws, shmv_view *v, uint64_t seen, int timeout_ms,
                                uint64_t token)
{
        shmv__error_clear();
        if (!ws || !v)
                return -EINVAL;
        if (!shmv__view_doorbell(v))
                return shmv__view_doorbell_arm(v); /* -ENOTSUP, with its message */
        entry *e = entry_new(token, timeout_ms);
        if (!e)
                return -ENOMEM;
        int r = shmv_view_toreadonly(v, &e->view);
        if (r < 0) {
                free(e);
                return r;
        }
        e->seen = seen;
        /* Armed before the generation is looked at (the doorbell's order), unless it moved
         * already: then there is nothing to wait for, a sealed segment's last change too. */
        if (generation_of(e) == seen) {
                r = shmv__view_doorbell_arm(v);
                if (r < 0 && !(r == -EROFS && generation_of(e) != seen))
                        goto fail_free;
        }
        pthread_mutex_lock(&ws->lock);
        r = find(ws, token, NULL) ? -EEXIST : entry_add(ws, e);
        if (r < 0)
                goto fail_unlock;
        uint64_t g = generation_of(e);
        if (g != seen) {
                fire(ws, e, 0, g, false);
        } else {
                gthread *t;
                r = gthread_get(ws, &t);
                if (r < 0) {
                        ws->n--;
                        goto fail_unlock;
                }
                t->entries[t->n++] = e;
                e->thread = t;
                thread_change(t);
                timer_update(ws);
        }
        pthread_mutex_unlock(&ws->lock);
        return 0;
fail_unlock:
        pthread_mutex_unlock(&ws->lock);
fail_free:
        entry_free(e);
        return r;
}

int shmv_waitset_remove(shmv_waitset *ws, uint64_t token)
{
        if (!ws)
                return -EINVAL;
        pthread_mutex_lock(&ws->lock);
        size_t i;
        int r = -ENOENT;
        if (find(ws, token, &i)) {
                entry_remove_at(ws, i);
                timer_update(ws);
                r = 0;
        }
        pthread_mutex_unlock(&ws->lock);
        return r;
}

int shmv_waitset_next(shmv_waitset *ws, shmv_waitset_event *ret)
{
        shmv__error_clear();
        if (!ws || !ret)
                return -EINVAL;
        pthread_mutex_lock(&ws->lock);
        uint64_t expirations;
        (void)!read(ws->tfd, &expirations, sizeof(expirations));
        for (wconn *w = ws->conns, *next; w; w = next) {
                next = w->next;
                (void)conn_read(ws, w);
        }
        check_deadlines(ws);
        timer_update(ws);
        int r = -EAGAIN;
        entry *e = ws->ready_head;
        if (e) {
                ret->token = e->token;
                ret->status = e->status;
                ret->generation = e->generation;
                size_t i = 0;
                (void)find(ws, e->token, &i);
                entry_remove_at(ws, i);
                r = 0;
        }
        pthread_mutex_unlock(&ws->lock);
        return r;
}

void shmv_waitset_free(shmv_waitset *ws)
{
        if (!ws)
                return;
        pthread_mutex_lock(&ws->lock);
        for (gthread *t = ws->threads; t; t = t->next) {
                t->stop = true;
                thread_change(t);
        }
        pthread_mutex_unlock(&ws->lock);
        while (ws->threads) {
                gthread *t = ws->threads;
                ws->threads = t->next;
                pthread_join(t->tid, NULL);
                free(t);
        }
        for (size_t i = 0; i < ws->n; i++) {
                ws->all[i]->thread = NULL;
                entry_free(ws->all[i]);
        }
        free(ws->all);
        while (ws->conns)
                conn_close(ws, ws->conns);
        close(ws->epfd);
        close(ws->evfd);
        close(ws->tfd);
        if (ws->client)
                shmv__client_unref(ws->client);
        pthread_mutex_destroy(&ws->lock);
        free(ws);
}
