/* libshmview: the connection to shmviewd and the segment requests. Views live in view.c. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "private.h"

struct shmv_client {
        atomic_uint refs;
        /* Serialises whole request/reply exchanges, so a connection can be shared by threads. */
        pthread_mutex_t lock;
        int fd; /* -1 once disconnected or broken */
        pid_t pid; /* the process that connected: a forked child must not use the socket */
        uint64_t next_id;
        uint32_t max_frame;
        /* The daemon's hello said it sees this process under our pid: its pids are ours. */
        atomic_bool pids_shared;
        int timeout_ms; /* shmv_set_timeout(); -1: without limit */
        shmv__wire_in in;
        /* After the daemon restarts, the next call connects again to path (docs/systemd.md):
         * conn_gen counts the connections, and the mappings still alive are registered on the
         * new one. */
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        uint64_t conn_gen;
        bool closed; /* shmv_disconnect(): never connect again */
        shmv__mapping *mappings;
        /* Connections for waits (shmv__client_wait_conn), idle ones, under wait_lock: a wait
         * holds its own for as long as it waits, never c's lock. */
        pthread_mutex_t wait_lock;
        shmv_client *wait_idle;
        shmv_client *wait_next; /* on the owner's wait_idle list */
};

int shmv_default_socket_path(char *dst, size_t dst_len)
{
        if (!dst)
                return -EINVAL;
        return shmv__socket_path(NULL, dst, dst_len);
}

/* This process's pid. Every request checks it, to refuse in a forked child, and getpid() is
 * a system call (glibc stopped caching it); so it is read once and again in the child of
 * every fork(). */
static pid_t self_pid;
static pthread_once_t self_pid_once = PTHREAD_ONCE_INIT;

static void self_pid_refresh(void)
{
        self_pid = getpid();
}

static void self_pid_init(void)
{
        self_pid_refresh();
        (void)pthread_atfork(NULL, NULL, self_pid_refresh);
}

static pid_t current_pid(void)
{
        pthread_once(&self_pid_once, self_pid_init);
        return self_pid;
}

void shmv__client_ref(shmv_client *c)
{
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

static void client_close_locked(shmv_client *c)
{
        if (c->fd >= 0) {
                close(c->fd);
                c->fd = -1;
        }
}

void shmv__client_unref(shmv_client *c)
{
        if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
                return;
        client_close_locked(c);
        shmv__wire_in_free(&c->in);
        while (c->wait_idle) {
                shmv_client *w = c->wait_idle;
                c->wait_idle = w->wait_next;
                shmv_disconnect(w);
        }
        pthread_mutex_destroy(&c->wait_lock);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

/* Sends one request; the caller holds the lock. On failure the connection is dropped, since
 * a partial frame may have gone out. */
static int send_locked(shmv_client *c, Shmview__Request *req)
{
        if (c->fd < 0 || current_pid() != c->pid)
                return -ENOTCONN;
        req->id = ++c->next_id;
        ssize_t len = shmv__wire_frame_size(&req->base, c->max_frame);
        if (len < 0)
                return (int)len;
        /* Most requests are a few dozen bytes: no allocation for them. */
        uint8_t small[512];
        uint8_t *buf = (size_t)len <= sizeof(small) ? small : malloc((size_t)len);
        if (!buf)
                return -ENOMEM;
        shmv__wire_frame_write(&req->base, (size_t)len, buf);
        int r = shmv__wire_send_all(c->fd, buf, (size_t)len, -1);
        if (buf != small)
                free(buf);
        if (r == -EAGAIN || r == -EWOULDBLOCK)
                r = -ETIMEDOUT; /* SO_SNDTIMEO: the daemon took nothing for timeout_ms */
        if (r < 0)
                client_close_locked(c);
        return r;
}

/* Linux's errno values are 1 to 4095 (MAX_ERRNO): every caller tells an error from a result
 * that way, so a status outside them is no errno but a malformed reply. */
#define STATUS_MAX 4095

/* The negative errno an error reply stands for; a valid status sets the thread's last daemon
 * message to the reply's. */
static int status_error(const Shmview__Response *resp)
{
        if (resp->status <= 0 || resp->status > STATUS_MAX)
                return -EPROTO;
        shmv__error_set(resp->message.data, resp->message.len);
        return -resp->status;
}

/* What the reply to a request of spec must be: a negative errno for an error status (which
 * sets the thread's daemon message), -EPROTO when its body is not the one the table names. */
static int reply_check(const shmv__request_spec *spec, const Shmview__Response *resp)
{
        if (resp->status != 0)
                return status_error(resp);
        return shmv__request_reply_ok(spec, resp) ? 0 : -EPROTO;
}

void shmv__reply_free(shmv__reply *reply)
{
        if (reply->fd >= 0)
                close(reply->fd);
        reply->fd = -1;
        /* A reply decoded entirely in the arena's store (most are) has nothing to free. */
        if (reply->msg && shmv__wire_arena_on_heap(&reply->arena))
                shmview__response__free_unpacked(reply->msg, &reply->arena.allocator);
        reply->msg = NULL;
}

/* Decodes the frame just found in c->in into ret, within SHMV__DECODE_LIMIT bytes, and takes
 * the descriptors that came with it: the first into ret->fd when keep_fd, the others closed.
 * -EPROTO when it cannot be decoded within them. */
static int reply_take(shmv_client *c, const uint8_t *payload, size_t len, bool keep_fd,
                      shmv__reply *ret)
{
        shmv__wire_arena_init(&ret->arena, SHMV__DECODE_LIMIT);
        ret->msg = shmview__response__unpack(&ret->arena.allocator, len, payload);
        ret->fd = -1;
        ret->conn_gen = c->conn_gen;
        shmv__wire_in_consume(&c->in);
        if (keep_fd)
                ret->fd = shmv__wire_in_take_fd(&c->in);
        /* Anything else queued is not ours to keep. */
        for (int extra; (extra = shmv__wire_in_take_fd(&c->in)) >= 0;)
                close(extra);
        if (!ret->msg) {
                shmv__reply_free(ret);
                return -EPROTO;
        }
        return 0;
}

int64_t shmv__mono_ms(void)
{
        return (int64_t)(shmv__mono_usec() / 1000);
}

#define mono_ms shmv__mono_ms

/* Reads the reply to request id, of the kind spec, into ret; the caller holds the lock. The
 * descriptor that came with it is kept in ret->fd when spec says one does, else closed. A
 * reply that cannot be decoded, or answers another request, is malformed: -EPROTO. On every
 * failure the connection is dropped. */
static int receive_locked(shmv_client *c, uint64_t id, const shmv__request_spec *spec,
                          shmv__reply *ret)
{
        const uint8_t *payload;
        size_t len;
        int r;
        int64_t deadline = 0; /* set once part of the reply is in */
        while ((r = shmv__wire_in_frame(&c->in, &payload, &len)) == 0) {
                /* Wait in recvmsg() itself, not in poll(), which filters out the early wake-up
                 * that shmviewd's take of the request gives (shmv__wire_in_peek(), wire.h).
                 * Each wait ends after timeout_ms (SO_RCVTIMEO); a reply that trickles in gets
                 * as long again in all. */
                if (deadline > 0 && mono_ms() > deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
                ssize_t n = shmv__wire_in_fill(&c->in, c->fd);
                if (n == 0)
                        r = -ECONNRESET;
                else if (n == -EAGAIN || n == -EWOULDBLOCK)
                        r = -ETIMEDOUT;
                else if (n < 0)
                        r = (int)n;
                else {
                        if (deadline == 0 && c->timeout_ms > 0)
                                deadline = mono_ms() + c->timeout_ms;
                        continue;
                }
                break;
        }
        if (r < 0)
                goto fail;
        r = reply_take(c, payload, len, spec->flags & SHMV__REQ_FD, ret);
        if (r < 0)
                goto fail;
        if (ret->msg->id != id) {
                shmv__reply_free(ret);
                r = -EPROTO;
                goto fail;
        }
        return 0;
fail:
        client_close_locked(c);
        return r;
}

static int connect_locked(shmv_client *c);

/* The connection ended under the request (the daemon stopped or crashed). */
static bool connection_lost(int r)
{
        return r == -EPIPE || r == -ECONNRESET || r == -ECONNABORTED || r == -ENOTCONN;
}

/* A broken connection (the daemon restarted since the last call) is made again first. A
 * request whose sending fails is sent again, once, on a new connection: the daemon never saw
 * all of it, so it did nothing. A request whose reply is lost is sent again only when its row
 * says SHMV__REQ_RETRY; the others return -ECONNRESET, their effect unknown. */
int shmv__client_call(shmv_client *c, Shmview__Request *req, shmv__reply *ret)
{
        const shmv__request_spec *spec = shmv__request_find(req->body_case);
        assert(spec && !(spec->flags & SHMV__REQ_NO_REPLY));
        int r;
        pthread_mutex_lock(&c->lock);
        for (int attempt = 0;; attempt++) {
                if (c->fd < 0) {
                        r = connect_locked(c);
                        if (r < 0)
                                break;
                }
                r = send_locked(c, req);
                if (r < 0) {
                        if (attempt == 0 && connection_lost(r))
                                continue;
                        break;
                }
                r = receive_locked(c, req->id, spec, ret);
                if (r < 0 && attempt == 0 && connection_lost(r) && (spec->flags & SHMV__REQ_RETRY))
                        continue;
                break;
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        r = reply_check(spec, ret->msg);
        if (r < 0)
                shmv__reply_free(ret);
        return r;
}

int shmv__client_send(shmv_client *c, Shmview__Request *req)
{
        int r;
        pthread_mutex_lock(&c->lock);
        r = c->fd < 0 ? connect_locked(c) : 0;
        if (r == 0)
                r = send_locked(c, req);
        pthread_mutex_unlock(&c->lock);
        return r < 0 ? r : 0;
}

int shmv__reply_status(Shmview__Request__BodyCase body, const Shmview__Response *resp)
{
        return reply_check(shmv__request_find(body), resp);
}

/* A release never connects again: a new daemon does not know the view unless the mapping
 * was registered on the new connection, with a new id. */
static void release_locked(shmv_client *c, uint64_t view_id, uint64_t conn_gen)
{
        if (view_id == 0 || conn_gen != c->conn_gen || c->fd < 0)
                return;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__ReleaseRequest rel = SHMVIEW__RELEASE_REQUEST__INIT;
        rel.view_id = view_id;
        req.body_case = SHMVIEW__REQUEST__BODY_RELEASE;
        req.release = &rel;
        (void)send_locked(c, &req);
}

void shmv__client_release_view(shmv_client *c, uint64_t view_id, uint64_t conn_gen)
{
        pthread_mutex_lock(&c->lock);
        release_locked(c, view_id, conn_gen);
        pthread_mutex_unlock(&c->lock);
}

void shmv__client_add_mapping(shmv_client *c, shmv__mapping *m)
{
        pthread_mutex_lock(&c->lock);
        /* Granted on a connection that has since been replaced, after the new one registered
         * the other mappings: the new daemon does not count it; the next reconnect will. */
        if (m->conn_gen != c->conn_gen)
                m->view_id = 0;
        m->prev = NULL;
        m->next = c->mappings;
        if (c->mappings)
                c->mappings->prev = m;
        c->mappings = m;
        pthread_mutex_unlock(&c->lock);
}

void shmv__client_remove_mapping(shmv_client *c, shmv__mapping *m)
{
        pthread_mutex_lock(&c->lock);
        if (m->prev)
                m->prev->next = m->next;
        else
                c->mappings = m->next;
        if (m->next)
                m->next->prev = m->prev;
        release_locked(c, m->view_id, m->conn_gen);
        pthread_mutex_unlock(&c->lock);
}

/* Reattach requests in flight at once: their frames (names of up to 255 bytes) and replies
 * stay far below the socket buffers, so neither side can block the other. */
#define REATTACH_WINDOW 32

/* Registers again, on a new connection, every view the library still maps, so that the
 * daemon's view counts (and seal's -EBUSY) are right again after it restarted. A view the
 * daemon refuses (its segment was unlinked, or the limits changed) stays mapped, uncounted.
 * The requests go out REATTACH_WINDOW at a time before their replies are read, so that many
 * views cost a round trip per window, not one each. Fails only when the connection fails. */
static int reattach_locked(shmv_client *c)
{
        const shmv__request_spec *spec = shmv__request_find(SHMVIEW__REQUEST__BODY_REATTACH);
        shmv__mapping *m = c->mappings;
        while (m) {
                shmv__mapping *batch[REATTACH_WINDOW];
                uint64_t ids[REATTACH_WINDOW];
                size_t n = 0;
                for (; m && n < REATTACH_WINDOW; m = m->next) {
                        Shmview__Request req = SHMVIEW__REQUEST__INIT;
                        Shmview__ReattachRequest body = SHMVIEW__REATTACH_REQUEST__INIT;
                        body.name.data = (uint8_t *)m->name;
                        body.name.len = strlen(m->name);
                        body.segment_id = m->segment_id;
                        body.offset = m->offset;
                        body.length = m->length;
                        body.writable = m->writable;
                        body.armed = atomic_load(&m->armed);
                        req.body_case = SHMVIEW__REQUEST__BODY_REATTACH;
                        req.reattach = &body;
                        m->view_id = 0;
                        m->conn_gen = c->conn_gen;
                        int r = send_locked(c, &req);
                        if (r < 0)
                                return r;
                        batch[n] = m;
                        ids[n++] = req.id;
                }
                for (size_t i = 0; i < n; i++) {
                        shmv__reply reply;
                        int r = receive_locked(c, ids[i], spec, &reply);
                        if (r < 0)
                                return r;
                        /* A refusal is no error of the call that reconnected: its message is
                         * not the thread's. */
                        const Shmview__Response *resp = reply.msg;
                        if (resp->status == 0 && shmv__request_reply_ok(spec, resp) &&
                            resp->reattach->view_id != 0)
                                batch[i]->view_id = resp->reattach->view_id;
                        shmv__reply_free(&reply);
                }
        }
        return 0;
}

/* Bounds every blocking send and receive on fd, and connect() on a full backlog, to
 * timeout_ms (-1: no bound). */
static int socket_timeout(int fd, int timeout_ms)
{
        struct timeval tv = {0, 0};
        if (timeout_ms > 0) {
                tv.tv_sec = timeout_ms / 1000;
                tv.tv_usec = (timeout_ms % 1000) * 1000;
        }
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return -errno;
        return 0;
}

static int connect_socket(const char *path, int timeout_ms)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len = strlen(path);
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len + 1);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int r = socket_timeout(fd, timeout_ms);
        if (r < 0) {
                close(fd);
                return r;
        }
        do
                r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        while (r < 0 && errno == EINTR);
        if (r < 0) {
                /* A full backlog for timeout_ms (SO_SNDTIMEO): nobody accepts, as when a
                 * socket-activated daemon cannot start. Else say what is at the path. */
                r = errno == EAGAIN ? -ETIMEDOUT : shmv__error_connect(path, errno);
                close(fd);
                return r;
        }
        return fd;
}

static int hello_locked(shmv_client *c)
{
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__Hello h = SHMVIEW__HELLO__INIT;
        h.protocol_version = SHMV__PROTOCOL_VERSION;
        h.client_name.data = (uint8_t *)"libshmview " SHMV_VERSION_STRING;
        h.client_name.len = strlen((const char *)h.client_name.data);
        req.body_case = SHMVIEW__REQUEST__BODY_HELLO;
        req.hello = &h;
        const shmv__request_spec *spec = shmv__request_find(req.body_case);
        shmv__reply reply;
        int r = send_locked(c, &req);
        if (r >= 0)
                r = receive_locked(c, req.id, spec, &reply);
        if (r < 0)
                return r;
        /* An error status (EUSERS says which limit the daemon is at) sets the message. */
        r = reply_check(spec, reply.msg);
        const Shmview__HelloReply *hr = reply.msg->hello;
        if (r == 0 && hr->protocol_version != SHMV__PROTOCOL_VERSION)
                r = -EPROTO;
        else if (r == 0 && hr->limits && hr->limits->max_frame > 0 &&
                 hr->limits->max_frame < c->max_frame)
                c->max_frame = hr->limits->max_frame;
        if (r == 0)
                atomic_store_explicit(&c->pids_shared,
                                      hr->client_pid != 0 && hr->client_pid == (uint32_t)c->pid,
                                      memory_order_relaxed);
        shmv__reply_free(&reply);
        return r;
}

/* Connects to c->path, greets the daemon and registers the mappings still alive; the caller
 * holds the lock and c->fd is -1. Fails fast when no daemon listens (-ECONNREFUSED). */
static int connect_locked(shmv_client *c)
{
        if (c->closed || current_pid() != c->pid)
                return -ENOTCONN;
        /* Whatever the last connection left half read goes with it. */
        shmv__wire_in_free(&c->in);
        int r = shmv__wire_in_init(&c->in, SHMV__MAX_FRAME, true);
        if (r < 0)
                return r;
        r = connect_socket(c->path, c->timeout_ms);
        if (r < 0)
                /* Once connected, a socket gone with its daemon is a daemon not listening
                 * (-ENOENT would read as "no such segment"); the message says which. */
                return r == -ENOENT && c->conn_gen > 0 ? -ECONNREFUSED : r;
        c->fd = r;
        c->conn_gen++;
        c->max_frame = SHMV__MAX_FRAME;
        r = hello_locked(c);
        if (r >= 0)
                r = reattach_locked(c);
        if (r < 0)
                client_close_locked(c);
        return r;
}

/* The timeout a new client starts with: $SHMVIEW_TIMEOUT_MS when set, else the default. */
static int default_timeout(int *ret_ms)
{
        const char *env = getenv("SHMVIEW_TIMEOUT_MS");
        *ret_ms = SHMV_TIMEOUT_DEFAULT_MS;
        if (!env || !*env)
                return 0;
        char *end;
        errno = 0;
        long ms = strtol(env, &end, 10);
        if (errno || *end || ms < -1 || ms == 0 || ms > INT_MAX)
                return shmv__error_setf(-EINVAL,
                                        "SHMVIEW_TIMEOUT_MS is '%.32s', not a timeout "
                                        "(milliseconds above 0, or -1 for none)",
                                        env);
        *ret_ms = (int)ms;
        return 0;
}

static int connect_with_timeout(const char *socket_path, int timeout_ms, shmv_client **ret);

int shmv_connect(const char *socket_path, shmv_client **ret)
{
        shmv__error_clear();
        if (!ret)
                return -EINVAL;
        int timeout_ms;
        int r = default_timeout(&timeout_ms);
        if (r < 0)
                return r;
        return connect_with_timeout(socket_path, timeout_ms, ret);
}

static int connect_with_timeout(const char *socket_path, int timeout_ms, shmv_client **ret)
{
        int r;
        shmv_client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        r = shmv__socket_path(socket_path, c->path, sizeof(c->path));
        if (r < 0) {
                free(c);
                return shmv__error_setf(r, "socket path too long (at most %zu bytes)",
                                        sizeof(c->path) - 1);
        }
        atomic_init(&c->refs, 1);
        pthread_mutex_init(&c->lock, NULL);
        pthread_mutex_init(&c->wait_lock, NULL);
        c->max_frame = SHMV__MAX_FRAME;
        c->timeout_ms = timeout_ms;
        c->fd = -1;
        c->pid = current_pid();
        pthread_mutex_lock(&c->lock);
        r = connect_locked(c);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        shmv__client_unref(c);
        return r;
}

int shmv_set_timeout(shmv_client *c, int timeout_ms)
{
        if (!c || timeout_ms < -1 || timeout_ms == 0)
                return -EINVAL;
        pthread_mutex_lock(&c->lock);
        c->timeout_ms = timeout_ms;
        /* Not in a forked child: the socket is shared with the parent, which owns it. */
        int r = c->fd >= 0 && current_pid() == c->pid ? socket_timeout(c->fd, timeout_ms) : 0;
        pthread_mutex_unlock(&c->lock);
        return r;
}

int shmv_client_pids_shared(const shmv_client *c)
{
        if (!c)
                return -EINVAL;
        return atomic_load_explicit(&c->pids_shared, memory_order_relaxed) ? 1 : 0;
}

void shmv_disconnect(shmv_client *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        client_close_locked(c);
        c->closed = true;
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_lock(&c->wait_lock);
        shmv_client *idle = c->wait_idle;
        c->wait_idle = NULL;
        pthread_mutex_unlock(&c->wait_lock);
        while (idle) {
                shmv_client *w = idle;
                idle = w->wait_next;
                shmv_disconnect(w);
        }
        shmv__client_unref(c);
}

int shmv__client_timeout(shmv_client *c)
{
        pthread_mutex_lock(&c->lock);
        int t = c->timeout_ms;
        pthread_mutex_unlock(&c->lock);
        return t;
}

int shmv__client_wait_conn(shmv_client *c, shmv_client **ret)
{
        pthread_mutex_lock(&c->wait_lock);
        shmv_client *w = c->wait_idle;
        if (w)
                c->wait_idle = w->wait_next;
        pthread_mutex_unlock(&c->wait_lock);
        if (w) {
                *ret = w;
                return 0;
        }
        pthread_mutex_lock(&c->lock);
        bool usable = !c->closed && current_pid() == c->pid;
        pthread_mutex_unlock(&c->lock);
        if (!usable)
                return -ENOTCONN;
        return connect_with_timeout(c->path, shmv__client_timeout(c), ret);
}

void shmv__client_wait_conn_put(shmv_client *c, shmv_client *w)
{
        pthread_mutex_lock(&c->lock);
        bool keep = !c->closed;
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_lock(&w->lock);
        keep = keep && w->fd >= 0;
        pthread_mutex_unlock(&w->lock);
        if (keep) {
                pthread_mutex_lock(&c->wait_lock);
                w->wait_next = c->wait_idle;
                c->wait_idle = w;
                pthread_mutex_unlock(&c->wait_lock);
        } else {
                shmv_disconnect(w);
        }
}

int shmv__name_field(ProtobufCBinaryData *field, const char *name)
{
        int r = shmv_segment_name_check(name);
        if (r < 0)
                return shmv__error_bad_name(name);
        field->data = (uint8_t *)(uintptr_t)name;
        field->len = strlen(name);
        return 0;
}

/* A request whose successful reply holds nothing the caller needs. */
static int call_status(shmv_client *c, Shmview__Request *req)
{
        shmv__reply reply;
        int r = shmv__client_call(c, req, &reply);
        if (r == 0)
                shmv__reply_free(&reply);
        return r;
}

int shmv_segment_create(shmv_client *c, const char *name, uint64_t size, uint32_t mode)
{
        return shmv_segment_create_with_flags(c, name, size, mode, 0);
}

int shmv_segment_create_with_flags(shmv_client *c, const char *name, uint64_t size, uint32_t mode,
                                   unsigned flags)
{
        shmv__error_clear();
        if (!c)
                return -EINVAL;
        if (flags & ~SHMV_SEGMENT_HUGE_PAGES)
                return shmv__error_setf(-EINVAL, "flags 0x%x: 0 or SHMV_SEGMENT_HUGE_PAGES", flags);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__CreateRequest body = SHMVIEW__CREATE_REQUEST__INIT;
        int r = shmv__name_field(&body.name, name);
        if (r < 0)
                return r;
        body.size = size;
        body.mode = mode;
        body.huge_pages = (flags & SHMV_SEGMENT_HUGE_PAGES) != 0;
        req.body_case = SHMVIEW__REQUEST__BODY_CREATE;
        req.create = &body;
        return call_status(c, &req);
}

/* unlink, seal and stat: a NameRequest each, the member of the oneof (one union) that
 * which names. */
static void name_request(Shmview__Request *req, Shmview__Request__BodyCase which,
                         Shmview__NameRequest *body)
{
        req->body_case = which;
        req->stat = body;
}

static int name_call(shmv_client *c, Shmview__Request__BodyCase which, const char *name)
{
        shmv__error_clear();
        if (!c)
                return -EINVAL;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__NameRequest body = SHMVIEW__NAME_REQUEST__INIT;
        int r = shmv__name_field(&body.name, name);
        if (r < 0)
                return r;
        name_request(&req, which, &body);
        return call_status(c, &req);
}

int shmv_segment_unlink(shmv_client *c, const char *name)
{
        return name_call(c, SHMVIEW__REQUEST__BODY_UNLINK, name);
}

int shmv_segment_seal(shmv_client *c, const char *name)
{
        return name_call(c, SHMVIEW__REQUEST__BODY_SEAL, name);
}

static void info_from_wire(shmv_segment_info *dst, const Shmview__SegmentInfo *src)
{
        memset(dst, 0, sizeof(*dst));
        size_t n = src->name.len < SHMV_NAME_MAX ? src->name.len : SHMV_NAME_MAX;
        /* A reply without the field has no data pointer to copy from, even for 0 bytes. */
        if (n > 0)
                memcpy(dst->name, src->name.data, n);
        dst->size = src->size;
        dst->uid = src->uid;
        dst->gid = src->gid;
        dst->mode = src->mode;
        dst->sealed = src->sealed;
        dst->views_ro = src->views_ro;
        dst->views_rw = src->views_rw;
        dst->created_usec = src->created_usec;
        dst->generation = src->generation;
}

int shmv_segment_stat(shmv_client *c, const char *name, shmv_segment_info *ret)
{
        shmv__error_clear();
        if (!c || !ret)
                return -EINVAL;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__NameRequest body = SHMVIEW__NAME_REQUEST__INIT;
        int r = shmv__name_field(&body.name, name);
        if (r < 0)
                return r;
        name_request(&req, SHMVIEW__REQUEST__BODY_STAT, &body);
        shmv__reply reply;
        r = shmv__client_call(c, &req, &reply);
        if (r < 0)
                return r;
        info_from_wire(ret, reply.msg->stat);
        shmv__reply_free(&reply);
        return 0;
}

int shmv__client_pages(shmv_client *c, shmv__pager *p, void **ret, size_t *ret_count)
{
        uint8_t *all = NULL;
        size_t n = 0;
        int r;
        for (;;) {
                Shmview__Request req = SHMVIEW__REQUEST__INIT;
                p->ask(p, &req);
                shmv__reply reply;
                r = shmv__client_call(c, &req, &reply);
                if (r < 0)
                        goto fail;
                bool more;
                size_t count = p->count(reply.msg, &more);
                if (count > 0) {
                        uint8_t *grown = reallocarray(all, n + count, p->entry_size);
                        if (!grown) {
                                shmv__reply_free(&reply);
                                r = -ENOMEM;
                                goto fail;
                        }
                        all = grown;
                        /* A cursor that does not move forward would ask for the same page
                         * again and again: whatever listens on the socket, the loop ends. */
                        more = p->take(p, reply.msg, all + n * p->entry_size) && more;
                        n += count;
                } else {
                        more = false;
                }
                shmv__reply_free(&reply);
                if (!more)
                        break;
        }
        *ret = all;
        *ret_count = n;
        return 0;
fail:
        free(all);
        return r;
}

typedef struct list_pager {
        shmv__pager pager;
        Shmview__ListRequest body;
        char after[SHMV_NAME_MAX + 1];
} list_pager;

static void list_ask(shmv__pager *p, Shmview__Request *req)
{
        list_pager *l = (list_pager *)p;
        shmview__list_request__init(&l->body);
        l->body.after.data = (uint8_t *)l->after;
        l->body.after.len = strlen(l->after);
        req->body_case = SHMVIEW__REQUEST__BODY_LIST;
        req->list = &l->body;
}

static size_t list_count(const Shmview__Response *resp, bool *ret_more)
{
        *ret_more = resp->list->more;
        return resp->list->n_segments;
}

static bool list_take(shmv__pager *p, const Shmview__Response *resp, void *dst)
{
        list_pager *l = (list_pager *)p;
        const Shmview__ListReply *page = resp->list;
        shmv_segment_info *out = dst;
        for (size_t i = 0; i < page->n_segments; i++)
                info_from_wire(&out[i], page->segments[i]);
        const char *last = out[page->n_segments - 1].name;
        bool moved = strcmp(last, l->after) > 0;
        memcpy(l->after, last, sizeof(l->after));
        return moved;
}

int shmv_segment_list(shmv_client *c, shmv_segment_info **ret, size_t *ret_count)
{
        shmv__error_clear();
        if (!c || !ret || !ret_count)
                return -EINVAL;
        list_pager l = {
                .pager = {.entry_size = sizeof(shmv_segment_info),
                          .ask = list_ask,
                          .count = list_count,
                          .take = list_take},
        };
        void *all;
        int r = shmv__client_pages(c, &l.pager, &all, ret_count);
        if (r == 0)
                *ret = all;
        return r;
}

void shmv_segment_list_free(shmv_segment_info *list)
{
        free(list);
}

/* Whether fd can back a mapping of its first end bytes that never faults: a memfd of at
 * least end bytes, sealed against shrinking, so that no holder can cut it short later. The
 * reply's segment_size is only what the peer says: touching a mapped page past the end of the
 * file raises SIGBUS, in whatever code of the program touches it. F_GET_SEALS answers only for
 * memfds (EINVAL for pipes, devices, directories and other files), and lseek() gives the size
 * without filling a struct stat: two of the cheapest system calls, on every open's path
 * (fstat() cost more, docs/performance.md). lseek() moves the file
 * position, which every holder shares and none uses (docs/protocol.md). */
static bool fd_holds(int fd, uint64_t end, uint64_t *ret_size)
{
        int seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK))
                return false;
        off_t size = lseek(fd, 0, SEEK_END);
        if (size < 0 || (uint64_t)size < end)
                return false;
        *ret_size = (uint64_t)size;
        return true;
}

int shmv_view_open(shmv_client *c, const char *name, uint64_t offset, uint64_t length, int flags,
                   shmv_view **ret)
{
        shmv__error_clear();
        if (!c || !ret)
                return -EINVAL;
        if (!(flags & SHMV_READ) || (flags & ~(SHMV_READ | SHMV_WRITE | SHMV_PREFAULT)))
                return shmv__error_setf(-EINVAL,
                                        "flags 0x%x: SHMV_READ, or SHMV_READ | SHMV_WRITE, "
                                        "optionally with SHMV_PREFAULT",
                                        (unsigned)flags);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__OpenRequest body = SHMVIEW__OPEN_REQUEST__INIT;
        int r = shmv__name_field(&body.name, name);
        if (r < 0)
                return r;
        body.offset = offset;
        body.length = length;
        body.writable = (flags & SHMV_WRITE) != 0;
        req.body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req.open = &body;

        /* The reply is decoded on the stack: an open allocates nothing for it. */
        shmv__reply reply;
        r = shmv__client_call(c, &req, &reply);
        if (r < 0)
                return r;
        const Shmview__OpenReply *o = reply.msg->open;
        uint64_t memfd_size = 0;
        /* The range must be the one asked for (to the end: up to segment_size), and the
         * descriptor must hold it. */
        if (reply.fd < 0 || o->writable != body.writable || o->offset != offset ||
            o->length > o->segment_size || o->offset > o->segment_size - o->length ||
            (length == SHMV_TO_END ? o->offset + o->length != o->segment_size
                                   : o->length != length) ||
            !fd_holds(reply.fd, o->offset + o->length, &memfd_size)) {
                r = -EPROTO;
                goto fail;
        }
        shmv__view_origin origin = {
                .name = name,
                .segment_size = o->segment_size,
                .memfd_size = memfd_size,
                .segment_id = o->segment_id,
                .view_id = o->view_id,
                .conn_gen = reply.conn_gen,
        };
        r = shmv__view_new(c, &origin, reply.fd, o->offset, o->length, o->writable,
                           (flags & SHMV_PREFAULT) != 0, ret);
        if (r < 0)
                goto fail;
        reply.fd = -1; /* the view's now */
        shmv__reply_free(&reply);
        return 0;
fail:
        /* The one place a granted view that never became a mapping is released. */
        shmv__client_release_view(c, o->view_id, reply.conn_gen);
        shmv__reply_free(&reply);
        return r;
}

int shmv__client_doorbell_arm(shmv_client *c, shmv__mapping *m)
{
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__DoorbellArmRequest body = SHMVIEW__DOORBELL_ARM_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_DOORBELL_ARM;
        req.doorbell_arm = &body;
        body.segment_id = m->segment_id;
        int r = -ENOENT;
        /* The view's id is the connection's: a reconnect under the call (a daemon restart)
         * registers the view again with another, and the daemon answers ENOENT to the old;
         * asked once more with the new one. */
        for (int attempt = 0; attempt < 2; attempt++) {
                pthread_mutex_lock(&c->lock);
                body.view_id = m->view_id;
                bool current = m->conn_gen == c->conn_gen && c->fd >= 0;
                pthread_mutex_unlock(&c->lock);
                /* Refused when registered again after a restart: nothing to arm. */
                if (body.view_id == 0 && current)
                        return shmv__error_setf(-ENOENT,
                                                "the daemon no longer counts this view of %s "
                                                "(it restarted and refused it); open it again",
                                                m->name);
                shmv__reply reply;
                r = shmv__client_call(c, &req, &reply);
                if (r == 0) {
                        shmv__reply_free(&reply);
                        return 0;
                }
                if (r != -ENOENT && r != -ECONNRESET)
                        break;
        }
        return r;
}

int shmv__client_fd(shmv_client *c)
{
        pthread_mutex_lock(&c->lock);
        int fd = c->fd;
        pthread_mutex_unlock(&c->lock);
        return fd;
}

int shmv__client_next_frame(shmv_client *c, int timeout_ms, shmv__reply *ret)
{
        int64_t deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;
        const uint8_t *payload;
        size_t len;
        int r;
        pthread_mutex_lock(&c->lock);
        if (c->fd < 0 || current_pid() != c->pid) {
                r = -ENOTCONN;
                goto out;
        }
        while ((r = shmv__wire_in_frame(&c->in, &payload, &len)) == 0) {
                int wait = timeout_ms;
                if (timeout_ms > 0) {
                        int64_t left = deadline - mono_ms();
                        wait = left > 0 ? (int)left : 0;
                }
                struct pollfd p = {.fd = c->fd, .events = POLLIN};
                int n = poll(&p, 1, wait);
                if (n < 0) {
                        r = -errno;
                        goto out;
                }
                if (n == 0) {
                        r = -EAGAIN;
                        goto out;
                }
                ssize_t got = shmv__wire_in_fill(&c->in, c->fd);
                if (got == 0)
                        r = -ECONNRESET;
                else if (got < 0 && got != -EINTR && got != -EAGAIN)
                        r = (int)got;
                else
                        continue;
                break;
        }
        if (r >= 0)
                r = reply_take(c, payload, len, false, ret);
        if (r < 0)
                client_close_locked(c);
out:
        pthread_mutex_unlock(&c->lock);
        return r;
}
