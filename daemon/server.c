/* The listening socket and client connections. Each connection is a uv_poll_t on a raw
 * non-blocking socket, since replies carry descriptors and uv_write2() cannot send arbitrary
 * ones. Replies wait in a per-connection queue; a client that does not read its replies stops
 * being read, so it cannot make the daemon hold more than about OUT_HIGH bytes for it. */
#include "server.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "dispatch.h"
#include "systemd.h"
#include "inspect.h"
#include "log.h"
#include "wait.h"
#include "watch.h"

/* Above this much queued output a connection is not read; reading resumes below OUT_LOW. */
#define OUT_HIGH (256u * 1024u)
#define OUT_LOW (64u * 1024u)
/* Reads per readiness callback, so one busy client cannot starve the others. */
#define READS_PER_EVENT 4
/* Connections accepted per readiness of the listening socket: a flood of connections waits
 * its turn behind the clients already served, one loop iteration at a time. */
#define ACCEPTS_PER_EVENT 16
/* Replies one sendmsg() sends at most. */
#define OUT_BATCH 64
/* How long accepting pauses when descriptors run out and the reserve one is gone. */
#define ACCEPT_PAUSE_MS 1000
/* Connections over a client limit kept open until their first request, to be told why. When
 * more arrive, the oldest is closed untold. */
#define REFUSED_MAX 64u
/* At most one warning about refused connections in this long. */
#define REFUSE_WARN_MS 10000
/* Descriptors sent in replies that may still be unread, per connection and per uid: past
 * them a reply carrying one waits, and the connection is not read (docs/security.md,
 * "Connections"). The kernel charges every descriptor in flight to the daemon's user, up to
 * its RLIMIT_NOFILE, past which every send carrying one fails for every client. */
#define FDS_UNREAD_PER_CONN 64u
#define FDS_UNREAD_PER_UID 256u
/* Nothing tells the daemon that a peer has read (its socket stays writable), so replies held
 * for their descriptors are retried after 1 ms, then twice as long each time up to 1 s: a peer
 * that reads gets them within a few milliseconds, one that does not costs a check a second. */
#define FDS_RETRY_MIN_MS 1
#define FDS_RETRY_MAX_MS 1000

typedef struct shmv__out shmv__out;

/* What a connection is doing, one thing at a time, so that no two flags can disagree. The
 * first three come and go; from CONN_FLUSHING on it only moves forward. */
typedef enum conn_state {
        CONN_READING, /* reading requests and answering them */
        CONN_PAUSED, /* over OUT_HIGH queued: reads nothing until it drains below OUT_LOW */
        /* A request runs on the threadpool (shmv__conn_pool_begin): the frames after it wait
         * in `in`, and nothing is read, until it is answered. */
        CONN_POOL,
        /* Reads nothing more; closed once its output is sent: end of stream, or a refused or
         * misbehaving client told why, or a watcher that overflowed. */
        CONN_FLUSHING,
        CONN_FAILED, /* closed once the current dispatch is done, its output dropped */
        /* Closed to the rest of the daemon (its views released, its output dropped, off the
         * served list), but its socket is kept until the peer has taken the descriptors sent
         * to it: on the lingering list, still counted as a client of its uid. */
        CONN_LINGER,
        CONN_CLOSED, /* socket closed; the struct waits for its last reference */
} conn_state;

struct shmv__conn {
        uv_poll_t poll; /* on fd */
        /* The poll handle's, released in its close callback, and one while a request runs on
         * the threadpool (shmv__conn_pool_begin): the struct is freed at the last, so that a
         * create can finish after its client went. */
        unsigned refs;
        shmv__server *server;
        int fd;
        conn_state state;
        uint64_t serial; /* names the client in logs */
        shmv__peer peer;
        shmv__wire_in in;
        shmv__out *out_head;
        shmv__out *out_tail;
        size_t out_bytes; /* queued and not yet sent */
        shmv__view_table views; /* counted in uid_usage->views */
        shmv__uid_usage *uid_usage; /* its uid's, while served; NULL when refused */
        int events; /* what poll watches */
        /* Descriptors sent since the socket's output was last seen all read (SIOCOUTQ 0): an
         * upper bound on those still in flight to the peer. */
        unsigned fds_unread;
        bool greeted; /* hello answered */
        /* uv_now() when it paused or began flushing, or when a send last made progress */
        uint64_t stalled_since;
        /* Over a client limit: the first request gets EUSERS with this message and the
         * connection is closed. Not counted in nconns. */
        const char *refuse_why;
        char comm[16]; /* /proc/PID/comm at accept (daemon/inspect.c), NUL-terminated */
        uint64_t connected_usec; /* CLOCK_REALTIME */
        shmv__watcher *watch; /* set once the connection watches (daemon/watch.c) */
        shmv__conn *prev;
        shmv__conn *next;
};

struct shmv__out {
        shmv__out *next;
        uint8_t *buf; /* the packed frame, length prefix included */
        size_t len;
        size_t sent;
        int fd; /* sent with the first byte; borrowed from segment */
        shmv__segment *segment; /* referenced while fd is queued */
};

static void on_conn_poll(uv_poll_t *handle, int status, int events);
static void on_listen_poll(uv_poll_t *handle, int status, int events);
static void on_accept_timer(uv_timer_t *timer);
static void on_stall_timer(uv_timer_t *timer);
static void timer_arm(shmv__server *s);
static void on_fds_timer(uv_timer_t *timer);

static void out_free(shmv__out *o)
{
        shmv__segment_unref(o->segment);
        free(o); /* the frame too: it follows the entry */
}

int shmv__conn_send(shmv__conn *c, const Shmview__Response *resp, shmv__segment *segment, int fd)
{
        ssize_t len = shmv__wire_frame_size(&resp->base, SHMV__MAX_FRAME);
        if (len < 0) {
                shmv__conn_fail(c);
                return log_error_errno((int)len, "client %" PRIu64 ": cannot pack a reply: %m",
                                       c->serial);
        }
        /* One allocation for the queue entry and its frame. */
        shmv__out *o = malloc(sizeof(*o) + (size_t)len);
        if (!o) {
                shmv__conn_fail(c);
                return log_error_errno(ENOMEM, "client %" PRIu64 ": queueing a reply: %m",
                                       c->serial);
        }
        *o = (shmv__out){.buf = (uint8_t *)(o + 1), .len = (size_t)len, .fd = -1};
        shmv__wire_frame_write(&resp->base, (size_t)len, o->buf);
        if (fd >= 0 && segment) {
                o->fd = fd;
                o->segment = segment;
                shmv__segment_ref(segment);
        }
        if (c->out_tail)
                c->out_tail->next = o;
        else
                c->out_head = o;
        c->out_tail = o;
        c->out_bytes += len;
        return 0;
}

/* Counts n more (or fewer) descriptors that may be unread by c's peer. */
static void fds_add(shmv__conn *c, int n)
{
        c->fds_unread += n;
        c->server->fds_unread += n;
        if (n > 0)
                c->server->fds_sent += (unsigned)n;
        if (c->uid_usage)
                c->uid_usage->fds += n;
        if (n > 0)
                timer_arm(c->server);
}

/* Nothing sent is left unread in the socket (SIOCOUTQ counts what the peer has not taken):
 * the peer has every descriptor sent to it, or is gone. */
static void fds_check(shmv__conn *c)
{
        int outq;
        if (c->fds_unread > 0 && ioctl(c->fd, SIOCOUTQ, &outq) == 0 && outq == 0)
                fds_add(c, -(int)c->fds_unread);
}

/* The next reply carries a descriptor and c's peer, its uid or everyone has as many unread
 * as they may: it waits. */
static bool fds_held(const shmv__conn *c)
{
        const shmv__out *o = c->out_head;
        if (!o || o->sent > 0 || o->fd < 0)
                return false;
        const shmv__server *s = c->server;
        return c->fds_unread >= FDS_UNREAD_PER_CONN || s->fds_unread >= s->fds_unread_max ||
               (c->uid_usage && c->uid_usage->fds >= FDS_UNREAD_PER_UID &&
                shmv__uid_limited(c->peer.uid));
}

/* Sends what the socket takes, the replies queued one after another in one sendmsg() each
 * (up to OUT_BATCH of them): a descriptor rides with the first byte of its reply, so a batch
 * starts at a reply that carries one, if any, and ends before the next. */
static void conn_flush(shmv__conn *c)
{
        while (c->out_head) {
                struct iovec iov[OUT_BATCH];
                size_t niov = 0;
                shmv__out *o = c->out_head;
                int fd = o->sent == 0 ? o->fd : -1;
                if (fd >= 0) {
                        fds_check(c);
                        if (fds_held(c)) {
                                /* Until the retry timer sees them read. */
                                if (!uv_is_active((uv_handle_t *)&c->server->fds_timer) &&
                                    !c->server->stopping) {
                                        c->server->fds_retry_ms = FDS_RETRY_MIN_MS;
                                        uv_timer_start(&c->server->fds_timer, on_fds_timer,
                                                       FDS_RETRY_MIN_MS, 0);
                                }
                                return;
                        }
                }
                for (shmv__out *b = o; b && niov < OUT_BATCH; b = b->next) {
                        if (b != o && b->fd >= 0)
                                break;
                        iov[niov++] = (struct iovec){.iov_base = b->buf + b->sent,
                                                     .iov_len = b->len - b->sent};
                }
                ssize_t n = shmv__wire_sendv(c->fd, iov, niov, fd);
                if (n == -EAGAIN || n == -EWOULDBLOCK)
                        return;
                if (n < 0) {
                        if (n == -EPIPE || n == -ECONNRESET)
                                log_debug("client %" PRIu64 ": gone while sending", c->serial);
                        else
                                log_warning("client %" PRIu64 ": send: %s", c->serial,
                                            strerror((int)-n));
                        shmv__conn_fail(c);
                        return;
                }
                if (fd >= 0)
                        fds_add(c, 1); /* it went with the first byte */
                c->out_bytes -= (size_t)n;
                c->stalled_since = uv_now(c->server->loop);
                /* Retire what went out whole; a partial one is resumed next time. */
                for (size_t left = (size_t)n; left > 0;) {
                        o = c->out_head;
                        size_t part = o->len - o->sent < left ? o->len - o->sent : left;
                        o->sent += part;
                        left -= part;
                        if (o->sent < o->len)
                                break;
                        c->out_head = o->next;
                        if (!c->out_head)
                                c->out_tail = NULL;
                        out_free(o);
                }
        }
}

/* Paused, or flushing before the close: the peer must read for the connection to move on,
 * and the stall timer closes it when it does not. */
static bool state_may_stall(conn_state state)
{
        return state == CONN_PAUSED || state == CONN_FLUSHING;
}

/* Moves c to state, keeping the server's count of connections that may stall. Pausing stops
 * reading a client whose replies back up; flushing reads nothing more. In either, the stall
 * timer disconnects it if its output does not move for stall_timeout_ms. */
static void conn_set_state(shmv__conn *c, conn_state state)
{
        shmv__server *s = c->server;
        if (c->state == state)
                return;
        if (state_may_stall(c->state))
                s->nstalling--;
        c->state = state;
        if (!state_may_stall(state))
                return;
        s->nstalling++;
        c->stalled_since = uv_now(s->loop);
        timer_arm(s);
}

/* Starts the stall timer when a connection may stall or descriptors may be unread. */
static void timer_arm(shmv__server *s)
{
        uint64_t timeout = s->config.limits.stall_timeout_ms;
        if (s->stopping || uv_is_active((uv_handle_t *)&s->stall_timer) ||
            ((timeout == 0 || s->nstalling == 0) && s->fds_unread == 0))
                return;
        uint64_t every = timeout == 0         ? 1000
                         : timeout / 4 < 50   ? 50
                         : timeout / 4 > 1000 ? 1000
                                              : timeout / 4;
        uv_timer_start(&s->stall_timer, on_stall_timer, every, every);
}

void shmv__conn_fail(shmv__conn *c)
{
        if (c->state < CONN_FAILED)
                conn_set_state(c, CONN_FAILED);
}

void shmv__conn_close_after_flush(shmv__conn *c)
{
        if (c->state < CONN_FLUSHING)
                conn_set_state(c, CONN_FLUSHING);
}

bool shmv__conn_is_closing(const shmv__conn *c)
{
        return c->state >= CONN_FAILED;
}

/* Whether c takes requests off its socket now. */
static bool conn_wants_read(const shmv__conn *c)
{
        return c->state == CONN_READING && !c->server->draining;
}

/* Answers the complete frames buffered, as long as the output queue has room, its peer may
 * have more descriptors in flight, and no request runs on the threadpool
 * (shmv__conn_pool_begin). */
static void conn_process(shmv__conn *c)
{
        while (c->state == CONN_READING) {
                if (c->out_bytes > OUT_HIGH || fds_held(c)) {
                        conn_flush(c);
                        if (c->out_bytes > OUT_HIGH || fds_held(c)) {
                                if (c->state == CONN_READING)
                                        conn_set_state(c, CONN_PAUSED);
                                return;
                        }
                }
                const uint8_t *payload;
                size_t len;
                int r = shmv__wire_in_frame(&c->in, &payload, &len);
                if (r == 0)
                        return;
                if (r < 0) {
                        if (r == -EMSGSIZE)
                                log_warning("client %" PRIu64 ": frame longer than %" PRIu32
                                            " bytes, closing",
                                            c->serial, c->in.max_frame);
                        else
                                log_error("client %" PRIu64 ": %s, closing", c->serial,
                                          strerror(-r));
                        shmv__conn_fail(c);
                        return;
                }
                shmv__dispatch(c, payload, len);
                shmv__wire_in_consume(&c->in);
        }
}

/* Clients send no descriptors: the wire layer closed what came, this says so. */
static void conn_fds_dropped(shmv__conn *c)
{
        if (c->in.fds_dropped == 0)
                return;
        log_warning("client %" PRIu64 ": sent %u descriptors, closed unread", c->serial,
                    c->in.fds_dropped);
        c->in.fds_dropped = 0;
}

/* Reads and answers what the client sent. Requests are answered before they are taken off
 * the socket (shmv__wire_in_peek/take, wire.h): taking them off wakes a client asleep in
 * recvmsg(), and the replies, sent by conn_service() right after, find it awake. A client
 * whose buffer grew for a large frame is read the plain way until it shrinks again. */
static void conn_read(shmv__conn *c)
{
        for (int i = 0; i < READS_PER_EVENT; i++) {
                bool peek = c->in.cap <= SHMV__WIRE_PEEK_MAX;
                ssize_t n = peek ? shmv__wire_in_peek(&c->in, c->fd)
                                 : shmv__wire_in_fill(&c->in, c->fd);
                conn_fds_dropped(c);
                if (n == -EAGAIN || n == -EWOULDBLOCK)
                        return;
                if (n < 0) {
                        if (n != -ECONNRESET)
                                log_warning("client %" PRIu64 ": receive: %s", c->serial,
                                            strerror((int)-n));
                        shmv__conn_fail(c);
                        return;
                }
                if (n == 0) {
                        /* Every complete frame has been answered (or reading would have
                         * stopped before); what is left is a partial frame, dropped. */
                        shmv__conn_close_after_flush(c);
                        return;
                }
                /* A read that left room in the buffer emptied the socket: another would only
                 * say EAGAIN, a system call per request for nothing. The poll is level
                 * triggered, so what arrives later wakes us again. */
                bool drained = c->in.len < c->in.cap;
                conn_process(c);
                if (peek && !shmv__conn_is_closing(c)) {
                        int r = shmv__wire_in_take(&c->in, c->fd);
                        conn_fds_dropped(c);
                        if (r < 0) {
                                if (r != -ECONNRESET)
                                        log_warning("client %" PRIu64 ": receive: %s", c->serial,
                                                    strerror(-r));
                                shmv__conn_fail(c);
                        }
                }
                if (!conn_wants_read(c) || drained)
                        return;
        }
}

static void list_append(shmv__conn_list *l, shmv__conn *c)
{
        c->next = NULL;
        c->prev = l->tail;
        if (l->tail)
                l->tail->next = c;
        else
                l->head = c;
        l->tail = c;
}

static void list_remove(shmv__conn_list *l, shmv__conn *c)
{
        if (c->prev)
                c->prev->next = c->next;
        else
                l->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                l->tail = c->prev;
        c->prev = c->next = NULL;
}

/* The list c is on. */
static shmv__conn_list *conn_list(shmv__conn *c)
{
        return c->refuse_why ? &c->server->refused : &c->server->conns;
}

static void conn_unref(shmv__conn *c)
{
        assert(c->refs > 0);
        if (--c->refs > 0)
                return;
        free(c->peer.groups);
        free(c);
}

/* What a create in progress still reads of the connection (its peer, for logs and events)
 * goes with the last reference. */
static void on_conn_closed(uv_handle_t *handle)
{
        conn_unref(handle->data);
}

static unsigned uid_clients(shmv__server *s, uid_t uid)
{
        const shmv__uid_usage *u = g_hash_table_lookup(s->uid_usage, GUINT_TO_POINTER(uid));
        return u ? u->clients : 0;
}

/* One served connection more for uid: its usage, or NULL when out of memory. */
static shmv__uid_usage *uid_usage_add(shmv__server *s, uid_t uid)
{
        shmv__uid_usage *u = g_hash_table_lookup(s->uid_usage, GUINT_TO_POINTER(uid));
        if (!u) {
                u = calloc(1, sizeof(*u));
                if (!u)
                        return NULL;
                g_hash_table_insert(s->uid_usage, GUINT_TO_POINTER(uid), u);
        }
        u->clients++;
        return u;
}

/* One served connection less, its views already released. */
static void uid_usage_sub(shmv__server *s, uid_t uid)
{
        shmv__uid_usage *u = g_hash_table_lookup(s->uid_usage, GUINT_TO_POINTER(uid));
        assert(u && u->clients > 0);
        if (--u->clients == 0) {
                assert(u->views == 0);
                g_hash_table_remove(s->uid_usage, GUINT_TO_POINTER(uid));
        }
}

/* The socket goes: closed, and the client's place in its uid's count given back. */
static void conn_close_socket(shmv__conn *c)
{
        shmv__server *s = c->server;
        if (c->fds_unread > 0)
                fds_add(c, -(int)c->fds_unread);
        if (c->uid_usage) {
                c->views.uid_views = NULL;
                c->uid_usage = NULL;
                uid_usage_sub(s, c->peer.uid);
        }
        conn_set_state(c, CONN_CLOSED);
        /* The descriptor and the input buffer go now, not in the close callback: a flood of
         * connections must not hold descriptors for a loop iteration longer. The closed poll
         * handle no longer watches the descriptor. */
        uv_close((uv_handle_t *)&c->poll, on_conn_closed);
        close(c->fd);
        c->fd = -1;
        shmv__wire_in_free(&c->in);
}

/* A lingering connection whose peer has taken every descriptor, or went. */
static void conn_linger_end(shmv__conn *c)
{
        shmv__server *s = c->server;
        list_remove(&s->lingering, c);
        s->nlingering--;
        log_debug("client %" PRIu64 ": its peer took the descriptors in flight, closing",
                  c->serial);
        conn_close_socket(c);
}

static void conn_close(shmv__conn *c)
{
        if (c->state >= CONN_LINGER)
                return;
        /* A request on the threadpool holds a reference; it finishes all the same. */
        bool pool = c->state == CONN_POOL;
        conn_set_state(c, CONN_LINGER);
        shmv__server *s = c->server;
        list_remove(conn_list(c), c);
        if (c->refuse_why)
                s->nrefused--;
        else
                s->nconns--;
        unsigned nviews = shmv__view_table_count(&c->views);
        if (!c->refuse_why)
                shmv__watch_client_gone(c, nviews);
        shmv__wait_client_gone(c);
        /* Release the views and queued descriptors now, so that the segment counts, and the
         * uid's views, are exact from here on; the memory of the connection itself goes in
         * the close callback. */
        shmv__view_table_done(&c->views);
        while (c->out_head) {
                shmv__out *o = c->out_head;
                c->out_head = o->next;
                out_free(o);
        }
        c->out_tail = NULL;
        c->out_bytes = 0;
        log_debug("client %" PRIu64 " disconnected, %u views released%s", c->serial, nviews,
                  pool ? "; its create in progress is finished all the same" : "");
        /* Closing the socket would leave what the peer has not read in its socket, charged to
         * the daemon's user for as long as the peer keeps it: kept until it is read instead,
         * and still counted against the uid. */
        fds_check(c);
        if (c->fds_unread > 0 && !s->stopping) {
                uv_poll_stop(&c->poll);
                c->events = 0;
                shmv__wire_in_free(&c->in);
                list_append(&s->lingering, c);
                s->nlingering++;
                log_debug("client %" PRIu64 ": %u descriptors may be unread, kept until they are",
                          c->serial, c->fds_unread);
        } else {
                conn_close_socket(c);
        }
        if (s->draining && !s->conns.head && !s->refused.head)
                shmv__server_stop(s);
}

static void conn_update_poll(shmv__conn *c)
{
        int events = 0;
        if (conn_wants_read(c))
                events |= UV_READABLE;
        if (c->out_head && !fds_held(c))
                events |= UV_WRITABLE;
        if (events == c->events)
                return;
        int r = events ? uv_poll_start(&c->poll, events, on_conn_poll) : uv_poll_stop(&c->poll);
        if (r < 0) {
                log_error("client %" PRIu64 ": poll: %s", c->serial, uv_strerror(r));
                conn_close(c);
                return;
        }
        c->events = events;
}

/* After reading or writing: send, resume a paused client, close what is done. */
static void conn_service(shmv__conn *c)
{
        if (c->state >= CONN_LINGER)
                return;
        if (c->state != CONN_FAILED)
                conn_flush(c);
        if (c->state == CONN_PAUSED && c->out_bytes <= OUT_LOW && !fds_held(c)) {
                conn_set_state(c, CONN_READING);
                /* Frames may be buffered already, with nothing more to read to wake us. */
                conn_process(c);
                if (c->state != CONN_FAILED)
                        conn_flush(c);
        }
        if (c->state == CONN_FAILED) {
                conn_close(c);
                return;
        }
        if (c->state == CONN_FLUSHING && !c->out_head) {
                conn_close(c);
                return;
        }
        /* Draining: done once every complete request is answered and sent. */
        if (c->server->draining && c->state == CONN_READING && !c->out_head) {
                conn_close(c);
                return;
        }
        conn_update_poll(c);
}

static void on_conn_poll(uv_poll_t *handle, int status, int events)
{
        shmv__conn *c = handle->data;
        if (c->state >= CONN_LINGER)
                return;
        if (status < 0) {
                log_debug("client %" PRIu64 ": poll: %s", c->serial, uv_strerror(status));
                conn_close(c);
                return;
        }
        if (events & UV_WRITABLE)
                conn_flush(c);
        if ((events & UV_READABLE) && conn_wants_read(c))
                conn_read(c);
        conn_service(c);
}

static int peer_groups(int fd, shmv__peer *peer)
{
        socklen_t len = 32 * sizeof(gid_t);
        for (;;) {
                gid_t *groups = malloc(len);
                if (!groups)
                        return -ENOMEM;
                socklen_t n = len;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &n) == 0) {
                        peer->groups = groups;
                        peer->ngroups = n / sizeof(gid_t);
                        return 0;
                }
                int err = errno;
                free(groups);
                if (err != ERANGE || n <= len)
                        return -err;
                len = n;
        }
}

/* Why a new connection of uid is over a limit, or NULL. */
static const char *over_limit(shmv__server *s, uid_t uid)
{
        if (s->nconns + s->nlingering >= s->config.limits.max_clients)
                return "too many clients connected (max_clients)";
        if (shmv__uid_limited(uid) && uid_clients(s, uid) >= s->config.limits.max_clients_per_uid)
                return "too many clients of this uid connected (max_clients_per_uid)";
        return NULL;
}

static void refuse_log(shmv__server *s, const struct ucred *cred, const char *why)
{
        uint64_t now = uv_now(s->loop);
        if (s->refuse_warned_at != 0 && now - s->refuse_warned_at < REFUSE_WARN_MS) {
                s->refused_unlogged++;
                log_debug("connection from pid %d uid %u refused: %s", (int)cred->pid,
                          (unsigned)cred->uid, why);
                return;
        }
        log_warning("connection from pid %d uid %u refused: %s (%u more refused unlogged)",
                    (int)cred->pid, (unsigned)cred->uid, why, s->refused_unlogged);
        s->refuse_warned_at = now ? now : 1;
        s->refused_unlogged = 0;
}

static void conn_new(shmv__server *s, int fd)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_warning("SO_PEERCRED: %m");
                close(fd);
                return;
        }
        const char *refuse_why = over_limit(s, cred.uid);
        if (refuse_why) {
                refuse_log(s, &cred, refuse_why);
                /* Room in the pool of refused connections: the oldest goes. */
                if (s->nrefused >= REFUSED_MAX)
                        conn_close(s->refused.head);
        }

        int r;
        shmv__conn *c = calloc(1, sizeof(*c));
        if (!c) {
                r = -ENOMEM;
                goto fail_close;
        }
        c->refs = 1; /* the poll handle's */
        c->server = s;
        c->fd = fd;
        c->peer.pid = cred.pid;
        c->peer.uid = cred.uid;
        c->peer.gid = cred.gid;
        r = peer_groups(fd, &c->peer);
        if (r == -ENOPROTOOPT) /* before Linux 4.13: no supplementary groups */
                r = 0;
        if (r < 0)
                goto fail_free;
        r = shmv__wire_in_init(&c->in, s->config.limits.max_frame, false);
        if (r < 0)
                goto fail_groups;
        shmv__view_table_init(&c->views);
        if (!refuse_why) {
                c->uid_usage = uid_usage_add(s, cred.uid);
                if (!c->uid_usage) {
                        r = -ENOMEM;
                        goto fail_in;
                }
                c->views.uid_views = &c->uid_usage->views;
        }
        r = uv_poll_init(s->loop, &c->poll, fd);
        if (r < 0)
                goto fail_usage;
        c->poll.data = c;
        c->connected_usec = shmv__now_usec();
        shmv__inspect_comm(cred.pid, c->comm);

        c->serial = ++s->next_serial;
        c->refuse_why = refuse_why;
        list_append(conn_list(c), c);
        if (refuse_why) {
                s->nrefused++;
        } else {
                s->nconns++;
                shmv__watch_client_connected(c);
        }
        log_debug("client %" PRIu64 " (pid %d uid %u gid %u) connected", c->serial, (int)cred.pid,
                  (unsigned)cred.uid, (unsigned)cred.gid);
        conn_update_poll(c);
        return;

fail_usage:
        if (c->uid_usage)
                uid_usage_sub(s, cred.uid);
fail_in:
        shmv__view_table_done(&c->views);
        shmv__wire_in_free(&c->in);
fail_groups:
        free(c->peer.groups);
fail_free:
        free(c);
fail_close:
        log_warning("connection from pid %d uid %u dropped: %s", (int)cred.pid, (unsigned)cred.uid,
                    strerror(-r));
        close(fd);
}

static void listener_pause(shmv__server *s)
{
        uv_poll_stop(&s->listener);
        uv_timer_start(&s->accept_timer, on_accept_timer, ACCEPT_PAUSE_MS, 0);
}

/* Out of descriptors: accept and drop the pending connections with the reserve descriptor,
 * so that they are not left waiting, and the loop does not spin on a readable listener. */
static void accept_emfile(shmv__server *s, int err)
{
        if (s->reserve_fd < 0) {
                log_warning("accept: %s; not accepting for %d ms", strerror(err), ACCEPT_PAUSE_MS);
                listener_pause(s);
                return;
        }
        close(s->reserve_fd);
        s->reserve_fd = -1;
        /* Bounded like accepting, so that a flood cannot keep the loop here. */
        unsigned dropped = 0;
        for (int i = 0; i < ACCEPTS_PER_EVENT * 16; i++) {
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        break;
                }
                close(fd);
                dropped++;
        }
        /* accept4() says EMFILE before it looks at the queue, which may be empty. */
        if (dropped > 0)
                log_warning("accept: %s; %u connections dropped", strerror(err), dropped);
        s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (s->reserve_fd < 0)
                listener_pause(s);
}

/* Disconnects the clients whose replies have not drained for stall_timeout_ms. */
static void stall_check(shmv__conn_list *l, uint64_t now)
{
        for (shmv__conn *c = l->head, *next; c; c = next) {
                next = c->next;
                uint32_t timeout = c->server->config.limits.stall_timeout_ms;
                if (!state_may_stall(c->state) || !c->out_head || now - c->stalled_since < timeout)
                        continue;
                log_warning("client %" PRIu64 " (pid %d uid %u) has not read its replies for "
                            "%" PRIu32 " ms %s, disconnecting",
                            c->serial, (int)c->peer.pid, (unsigned)c->peer.uid, timeout,
                            c->state == CONN_PAUSED ? "while sending more requests"
                                                    : "before its connection was to close");
                conn_close(c);
        }
}

/* Disconnects the clients whose replies have not moved for stall_timeout_ms: paused ones, and
 * those that were to be closed once their output was sent (a watcher that overflowed, a
 * refused client), which would otherwise hold their place for ever. */
static void on_stall_timer(uv_timer_t *timer)
{
        shmv__server *s = timer->data;
        uint64_t now = uv_now(s->loop);
        if (s->config.limits.stall_timeout_ms > 0) {
                stall_check(&s->conns, now);
                stall_check(&s->refused, now);
        }
        shmv__server_check_fds(s);
        if ((s->config.limits.stall_timeout_ms == 0 || s->nstalling == 0) && s->fds_unread == 0)
                uv_timer_stop(timer);
}

void shmv__server_check_fds(shmv__server *s)
{
        for (shmv__conn *c = s->lingering.head, *next; c; c = next) {
                next = c->next;
                fds_check(c);
                if (c->fds_unread == 0)
                        conn_linger_end(c);
        }
        for (shmv__conn *c = s->conns.head; c; c = c->next)
                fds_check(c);
}

/* Sends the replies held for their descriptors that may go now: nothing else would wake
 * their connections. Retried later, and less often, while some are still held. */
static void on_fds_timer(uv_timer_t *timer)
{
        shmv__server *s = timer->data;
        s->fds_retry_ms =
                s->fds_retry_ms * 2 > FDS_RETRY_MAX_MS ? FDS_RETRY_MAX_MS : s->fds_retry_ms * 2;
        uv_timer_start(timer, on_fds_timer, s->fds_retry_ms, 0);
        bool held = false;
        uint64_t sent = s->fds_sent;
        for (shmv__conn *c = s->conns.head, *next; c; c = next) {
                next = c->next;
                if (!c->out_head || c->out_head->fd < 0 || c->out_head->sent > 0)
                        continue;
                conn_service(c);
                held |= c->state < CONN_LINGER && fds_held(c);
        }
        if (!held)
                uv_timer_stop(timer);
        else if (s->fds_sent != sent) /* a peer is reading: back to the shortest delay */
                uv_timer_start(timer, on_fds_timer, s->fds_retry_ms = FDS_RETRY_MIN_MS, 0);
}

static void on_accept_timer(uv_timer_t *timer)
{
        shmv__server *s = timer->data;
        if (s->stopping)
                return;
        if (s->reserve_fd < 0)
                s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int r = uv_poll_start(&s->listener, UV_READABLE, on_listen_poll);
        if (r < 0) {
                log_error("listening socket: %s", uv_strerror(r));
                listener_pause(s);
        }
}

static void on_listen_poll(uv_poll_t *handle, int status, int events)
{
        shmv__server *s = handle->data;
        if (status < 0) {
                log_error("listening socket: %s", uv_strerror(status));
                listener_pause(s);
                return;
        }
        /* The poll is level triggered: what is left waiting makes it ready again next time. */
        for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd >= 0) {
                        conn_new(s, fd);
                        continue;
                }
                switch (errno) {
                case EINTR:
                case ECONNABORTED:
                        continue;
                case EAGAIN:
                        return;
                case EMFILE:
                case ENFILE:
                        accept_emfile(s, errno);
                        return;
                default:
                        log_warning("accept: %m; not accepting for %d ms", ACCEPT_PAUSE_MS);
                        listener_pause(s);
                        return;
                }
        }
}

/* mkdir -p of the directory holding path. */
static int make_parents(const char *path)
{
        char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
        size_t len = strlen(path);
        if (len >= sizeof(dir))
                return -ENAMETOOLONG;
        memcpy(dir, path, len + 1);
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        for (char *p = dir + 1;; p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char c = *p;
                *p = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = c;
                if (c == '\0')
                        return 0;
        }
}

/* The directory of the socket must be one that nobody else can put a file into or take
 * ours out of: owned by us or root, and writable by no one else unless sticky (like /tmp). */
static int check_directory(const char *path)
{
        char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
        size_t len = strlen(path);
        if (len >= sizeof(dir))
                return -ENAMETOOLONG;
        memcpy(dir, path, len + 1);
        char *slash = strrchr(dir, '/');
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                dir[1] = '\0';
        else
                *slash = '\0';
        struct stat st;
        if (stat(dir, &st) < 0) {
                if (errno == ENOENT)
                        return log_error_errno(ENOENT,
                                               "directory %s of the socket does not exist (only "
                                               "the default socket's directory is created)",
                                               dir);
                return log_error_errno(errno, "directory %s of the socket: %m", dir);
        }
        if (!S_ISDIR(st.st_mode)) {
                log_error("%s is not a directory", dir);
                return -ENOTDIR;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                log_error("directory %s belongs to uid %u; refusing to listen in it", dir,
                          (unsigned)st.st_uid);
                return -EPERM;
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
                log_error("directory %s is writable by others and not sticky; refusing to listen "
                          "in it",
                          dir);
                return -EPERM;
        }
        return 0;
}

/* Refuses to start over a live daemon, removes the socket file of a dead one if it is ours. */
static int check_existing(const char *path, const struct sockaddr_un *addr)
{
        struct stat st;
        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "%s: %m", path);
        }
        if (!S_ISSOCK(st.st_mode)) {
                log_error("%s exists and is not a socket; refusing to replace it", path);
                return -EEXIST;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (probe < 0)
                return log_error_errno(errno, "socket: %m");
        int r = connect(probe, (const struct sockaddr *)addr, sizeof(*addr));
        int err = r < 0 ? errno : 0;
        close(probe);
        if (err == 0 || err == EAGAIN || err == EINPROGRESS) {
                log_error("another daemon is already listening on %s", path);
                return -EADDRINUSE;
        }
        if (err != ECONNREFUSED) {
                return log_error_errno(err, "cannot tell whether a daemon listens on %s: %m", path);
        }
        if (st.st_uid != geteuid()) {
                log_error("stale socket %s belongs to uid %u; refusing to replace it", path,
                          (unsigned)st.st_uid);
                return -EPERM;
        }
        log_info("removing stale socket %s", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return log_error_errno(errno, "unlink %s: %m", path);
        return 0;
}

int shmv__socket_listen(const shmv__config *cfg, int *ret_fd, struct stat *ret_st)
{
        const char *path = cfg->socket_path;
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(addr.sun_path)) {
                log_error("socket path too long: %s", path);
                return -ENAMETOOLONG;
        }
        strcpy(addr.sun_path, path);

        /* Only the default path's directory is created: a typo in an explicit one is an
         * error, not a new directory. */
        int r = cfg->socket_dir_create ? make_parents(path) : 0;
        if (r < 0) {
                log_error("cannot create the directory of %s: %s", path, strerror(-r));
                return r;
        }
        r = check_directory(path);
        if (r < 0)
                return r;
        r = check_existing(path, &addr);
        if (r < 0)
                return r;

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                r = -errno;
                log_error("socket: %m");
                return r;
        }
        /* Nobody may connect before the mode is set. */
        mode_t old = umask(0177);
        r = bind(fd, (const struct sockaddr *)&addr, sizeof(addr));
        int err = errno;
        umask(old);
        if (r < 0) {
                r = -err;
                log_error("bind %s: %s", path, strerror(err));
                goto fail_close;
        }
        /* Group first, then mode, on the file itself: never through a symlink. */
        struct stat st;
        if ((cfg->socket_group != (gid_t)-1 && lchown(path, (uid_t)-1, cfg->socket_group) < 0) ||
            fchmodat(AT_FDCWD, path, cfg->socket_mode, AT_SYMLINK_NOFOLLOW) < 0 ||
            lstat(path, &st) < 0) {
                r = -errno;
                log_error("%s: %m", path);
                goto fail_unlink;
        }
        if (!S_ISSOCK(st.st_mode)) {
                r = -EEXIST;
                log_error("%s was replaced while binding it", path);
                goto fail_close;
        }
        if (listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                log_error("listen %s: %m", path);
                goto fail_unlink;
        }
        *ret_fd = fd;
        *ret_st = st;
        return 0;

fail_unlink:
        unlink(path);
fail_close:
        close(fd);
        return r;
}

void shmv__socket_remove(const char *path, dev_t dev, ino_t ino)
{
        /* Only if it is still ours, not one a later daemon bound. */
        struct stat st;
        if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
                unlink(path);
}

static int listen_socket(shmv__server *s)
{
        struct stat st;
        int r = shmv__socket_listen(&s->config, &s->listen_fd, &st);
        if (r < 0)
                return r;
        s->sock_dev = st.st_dev;
        s->sock_ino = st.st_ino;
        s->socket_bound = true;
        return 0;
}

/* A socket passed by the service manager: the socket file is its, never unlinked here. */
static int adopt_socket(shmv__server *s)
{
        int fd = s->config.listen_fd;
        s->config.listen_fd = -1;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                int r = -errno;
                log_error("socket passed by the service manager: %m");
                close(fd);
                return r;
        }
        struct sockaddr_un addr = {0};
        socklen_t len = sizeof(addr);
        if (getsockname(fd, (struct sockaddr *)&addr, &len) == 0 &&
            len > offsetof(struct sockaddr_un, sun_path) && addr.sun_path[0])
                snprintf(s->config.socket_path, sizeof(s->config.socket_path), "%.*s",
                         (int)(len - offsetof(struct sockaddr_un, sun_path)), addr.sun_path);
        s->listen_fd = fd;
        log_info("serving the socket passed by the service manager (%s)",
                 addr.sun_path[0] ? s->config.socket_path : "unnamed");
        return 0;
}

static void on_signal(uv_signal_t *handle, int signum)
{
        shmv__server *s = handle->data;
        if (s->draining) {
                log_info("%s received again, stopping now",
                         signum == SIGTERM ? "SIGTERM" : "SIGINT");
                shmv__server_stop(s);
                return;
        }
        log_info("%s received, shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
        shmv__server_shutdown(s);
}

int shmv__server_init(shmv__server *s, uv_loop_t *loop, const shmv__config *config,
                      shmv__registry *registry)
{
        memset(s, 0, sizeof(*s));
        s->loop = loop;
        s->config = *config;
        s->registry = registry;
        /* Large segments are freed off the loop as they are reserved off it, from the same
         * size: below it the close costs less than the hop (docs/performance.md). */
        shmv__registry_set_loop(registry, loop, config->create_async_min);
        s->listen_fd = -1;
        s->reserve_fd = -1;
        s->uid_usage = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, free);
        /* The kernel refuses a descriptor in flight past RLIMIT_NOFILE of them for the
         * sender's user (root excepted): half, the other half left to the rest of the user. */
        struct rlimit nofile;
        s->fds_unread_max = 4096;
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
                s->fds_unread_max =
                        nofile.rlim_cur / 2 > UINT_MAX ? UINT_MAX : (unsigned)(nofile.rlim_cur / 2);
        s->started_usec = shmv__now_usec();
        s->started_mono_usec = shmv__mono_usec();

        /* The server's handles point at it: shmv__server_stop() closes them by that. */
        s->sigterm.data = s->sigint.data = s;
        s->accept_timer.data = s->stall_timer.data = s->drain_timer.data = s;
        s->fds_timer.data = s;
        s->listener.data = s;
        int r = uv_signal_init(loop, &s->sigterm);
        if (r == 0)
                r = uv_signal_init(loop, &s->sigint);
        if (r == 0)
                r = uv_signal_start(&s->sigterm, on_signal, SIGTERM);
        if (r == 0)
                r = uv_signal_start(&s->sigint, on_signal, SIGINT);
        if (r == 0)
                r = uv_timer_init(loop, &s->accept_timer);
        if (r == 0)
                r = uv_timer_init(loop, &s->stall_timer);
        if (r == 0)
                r = uv_timer_init(loop, &s->drain_timer);
        if (r == 0)
                r = uv_timer_init(loop, &s->fds_timer);
        if (r < 0)
                goto fail_uv;

        r = s->config.listen_fd >= 0 ? adopt_socket(s) : listen_socket(s);
        if (r < 0)
                return r;
        s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        r = uv_poll_init(loop, &s->listener, s->listen_fd);
        if (r == 0)
                r = uv_poll_start(&s->listener, UV_READABLE, on_listen_poll);
        if (r < 0)
                goto fail_uv;
        return 0;

fail_uv: /* libuv's codes are negative errnos on Linux */
        return log_error_errno(r, "event loop: %m");
}

/* The listening socket's descriptor goes with its handle: a closed poll handle watches it no
 * more, so it can be closed at once. */
static void close_listen_fd(shmv__server *s)
{
        if (s->listen_fd >= 0) {
                close(s->listen_fd);
                s->listen_fd = -1;
        }
}

static void remove_socket_file(shmv__server *s)
{
        if (!s->socket_bound)
                return;
        s->socket_bound = false;
        shmv__socket_remove(s->config.socket_path, s->sock_dev, s->sock_ino);
}

/* libuv's close-what-is-not-closing walk, for the server's own handles: the connections'
 * point at their connection and the service manager's at its monitor. */
static void close_server_handle(uv_handle_t *h, void *arg)
{
        if (h->data == arg && !uv_is_closing(h))
                uv_close(h, NULL);
}

void shmv__server_stop(shmv__server *s)
{
        if (s->stopping)
                return;
        s->stopping = true;
        shmv__registry_stopping(s->registry);
        remove_socket_file(s);
        uv_walk(s->loop, close_server_handle, s);
        if (s->registry)
                shmv__registry_unwatch(s->registry);
        close_listen_fd(s);
        if (s->reserve_fd >= 0) {
                close(s->reserve_fd);
                s->reserve_fd = -1;
        }
        while (s->conns.head)
                conn_close(s->conns.head);
        while (s->refused.head)
                conn_close(s->refused.head);
        while (s->lingering.head)
                conn_linger_end(s->lingering.head);
        if (s->uid_usage) {
                g_hash_table_destroy(s->uid_usage);
                s->uid_usage = NULL;
        }
}

/* How long a graceful stop waits for clients to take their replies. */
#define DRAIN_TIMEOUT_MS 5000

static void on_drain_timeout(uv_timer_t *timer)
{
        shmv__server *s = timer->data;
        log_warning("%u clients did not take their replies within %d ms, closing them", s->nconns,
                    DRAIN_TIMEOUT_MS);
        shmv__server_stop(s);
}

void shmv__server_shutdown(shmv__server *s)
{
        if (s->stopping || s->draining)
                return;
        s->draining = true;
        shmv__registry_stopping(s->registry);
        (void)shmv__sd_notify("STOPPING=1\nSTATUS=Shutting down");
        remove_socket_file(s);
        uv_close((uv_handle_t *)&s->listener, NULL);
        close_listen_fd(s);
        uv_timer_stop(&s->accept_timer);
        if (s->conns.head || s->refused.head)
                uv_timer_start(&s->drain_timer, on_drain_timeout, DRAIN_TIMEOUT_MS, 0);
        /* Answer what each client already sent; conn_service() closes it once all is sent.
         * The next pointer is read first: the connection may go. */
        shmv__conn_list *lists[] = {&s->conns, &s->refused};
        for (size_t i = 0; i < 2; i++)
                for (shmv__conn *c = lists[i]->head, *next; c; c = next) {
                        next = c->next;
                        conn_process(c);
                        conn_service(c);
                }
        if (!s->conns.head && !s->refused.head)
                shmv__server_stop(s);
}

void shmv__conn_wake(shmv__conn *c)
{
        if (c->state >= CONN_LINGER)
                return;
        int events = c->events | UV_WRITABLE;
        if (events != c->events && uv_poll_start(&c->poll, events, on_conn_poll) == 0)
                c->events = events;
}

void shmv__conn_pool_begin(shmv__conn *c)
{
        assert(c->state == CONN_READING);
        conn_set_state(c, CONN_POOL);
        c->refs++;
        c->server->nblocked++;
}

void shmv__conn_pool_done(shmv__conn *c)
{
        c->server->nblocked--;
        if (c->state == CONN_POOL)
                conn_set_state(c, CONN_READING);
        if (c->state < CONN_LINGER) {
                /* What was read behind the request is buffered already, and may be all there
                 * is: no readiness would come for it. */
                conn_process(c);
                conn_service(c);
        }
        conn_unref(c);
}

shmv__conn *shmv__server_next_conn(const shmv__server *s, const shmv__conn *c)
{
        return c ? c->next : s->conns.head;
}

shmv__server *shmv__conn_server(const shmv__conn *c)
{
        return c->server;
}

uint64_t shmv__conn_serial(const shmv__conn *c)
{
        return c->serial;
}

const shmv__peer *shmv__conn_peer(const shmv__conn *c)
{
        return &c->peer;
}

const char *shmv__conn_comm(const shmv__conn *c)
{
        return c->comm;
}

uint64_t shmv__conn_connected_usec(const shmv__conn *c)
{
        return c->connected_usec;
}

shmv__view_table *shmv__conn_views(shmv__conn *c)
{
        return &c->views;
}

const shmv__view *shmv__conn_view(const shmv__conn *c, uint64_t view_id)
{
        return g_hash_table_lookup(c->views.by_id, &view_id);
}

unsigned shmv__conn_uid_views(const shmv__conn *c)
{
        return c->uid_usage ? c->uid_usage->views : 0;
}

const char *shmv__conn_refused(const shmv__conn *c)
{
        return c->refuse_why;
}

bool shmv__conn_greeted(const shmv__conn *c)
{
        return c->greeted;
}

void shmv__conn_set_greeted(shmv__conn *c)
{
        c->greeted = true;
}

shmv__watcher *shmv__conn_watcher(const shmv__conn *c)
{
        return c->watch;
}

void shmv__conn_set_watcher(shmv__conn *c, shmv__watcher *w)
{
        c->watch = w;
}

size_t shmv__conn_queued_bytes(const shmv__conn *c)
{
        return c->out_bytes;
}
