/* libshmview: the connection to shmviewd and the segment requests. Views live in view.c. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "private.h"
#include "wire.h"

struct shmv_client {
        atomic_uint refs;
        /* Serialises whole request/reply exchanges, so a connection can be shared by threads. */
        pthread_mutex_t lock;
        int fd; /* -1 once disconnected or broken */
        pid_t pid; /* the process that connected: a forked child must not use the socket */
        uint64_t next_id;
        uint32_t max_frame;
        shmv__wire_in in;
};

/* Sentences for the errors this library returns; the rest come from the C library. */
static const struct {
        int err;
        const char *msg;
} messages[] = {
        { EROFS, "cannot modify read-only memory" },
        { ENOENT, "no such segment" },
        { EEXIST, "a segment with that name exists" },
        { EACCES, "permission denied" },
        { EPERM, "operation not permitted" },
        { EBUSY, "the segment has writable views open" },
        { EINVAL, "invalid argument" },
        { ERANGE, "index out of range" },
        { ENOSPC, "not enough memory for the segment" },
        { EOVERFLOW, "offset + length overflows" },
        { EMFILE, "too many views open" },
        { ENOBUFS, "buffer too small" },
        { ECONNREFUSED, "no daemon is listening on the socket (connection refused)" },
        { ENOTCONN, "not connected to the daemon" },
        { ECONNRESET, "the daemon closed the connection" },
        { EPIPE, "the daemon closed the connection" },
        { EPROTO, "protocol error" },
        { EMSGSIZE, "message too large" },
        { ENAMETOOLONG, "socket path too long" },
        { EOPNOTSUPP, "request not supported by the daemon" },
        { ENOMEM, "out of memory" },
};

const char *shmv_strerror(int err)
{
        if (err == 0)
                return "success";
        if (err < 0)
                err = -err;
        for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
                if (messages[i].err == err)
                        return messages[i].msg;
        const char *s = strerrordesc_np(err);
        return s ? s : "unknown error";
}

int shmv_default_socket_path(char *dst, size_t dst_len)
{
        if (!dst)
                return -EINVAL;
        return shmv__socket_path(NULL, dst, dst_len);
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
        pthread_mutex_destroy(&c->lock);
        free(c);
}

/* Sends one request; the caller holds the lock. On failure the connection is dropped, since
 * a partial frame may have gone out. */
static int send_locked(shmv_client *c, Shmview__Request *req)
{
        if (c->fd < 0 || getpid() != c->pid)
                return -ENOTCONN;
        req->id = ++c->next_id;
        uint8_t *buf;
        size_t len;
        int r = shmv__wire_pack(&req->base, c->max_frame, &buf, &len);
        if (r < 0)
                return r;
        r = shmv__wire_send_all(c->fd, buf, len, -1);
        free(buf);
        if (r < 0)
                client_close_locked(c);
        return r;
}

/* Reads the reply to the request just sent; the caller holds the lock. *ret_fd gets the
 * descriptor that came with it, or -1. */
static int recv_locked(shmv_client *c, uint64_t id, Shmview__Response **ret, int *ret_fd)
{
        const uint8_t *payload;
        size_t len;
        int r;
        while ((r = shmv__wire_in_frame(&c->in, &payload, &len)) == 0) {
                ssize_t n = shmv__wire_in_fill(&c->in, c->fd);
                if (n == 0)
                        r = -ECONNRESET;
                else if (n < 0)
                        r = (int)n;
                else
                        continue;
                break;
        }
        if (r < 0)
                goto fail;

        Shmview__Response *resp = shmview__response__unpack(NULL, len, payload);
        shmv__wire_in_consume(&c->in);
        if (!resp || resp->id != id) {
                shmview__response__free_unpacked(resp, NULL);
                r = -EPROTO;
                goto fail;
        }
        int fd = shmv__wire_in_take_fd(&c->in);
        /* Anything else queued is not ours to keep. */
        for (int extra; (extra = shmv__wire_in_take_fd(&c->in)) >= 0;)
                close(extra);
        if (ret_fd)
                *ret_fd = fd;
        else if (fd >= 0)
                close(fd);
        *ret = resp;
        return 0;
fail:
        client_close_locked(c);
        return r;
}

/* One request/reply exchange. Returns the reply's status as a negative errno when it is an
 * error (the reply is then freed), else 0 with the reply in *ret (free it with
 * shmview__response__free_unpacked) and its descriptor in *ret_fd when ret_fd is given. */
static int call(shmv_client *c, Shmview__Request *req, Shmview__Response **ret, int *ret_fd)
{
        Shmview__Response *resp = NULL;
        int fd = -1;
        pthread_mutex_lock(&c->lock);
        int r = send_locked(c, req);
        if (r >= 0)
                r = recv_locked(c, req->id, &resp, &fd);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        if (resp->status != 0) {
                r = resp->status > 0 ? -resp->status : -EPROTO;
                if (fd >= 0)
                        close(fd);
                shmview__response__free_unpacked(resp, NULL);
                return r;
        }
        if (ret_fd)
                *ret_fd = fd;
        else if (fd >= 0)
                close(fd);
        if (ret)
                *ret = resp;
        else
                shmview__response__free_unpacked(resp, NULL);
        return 0;
}

void shmv__client_release_view(shmv_client *c, uint64_t view_id)
{
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__ReleaseRequest rel = SHMVIEW__RELEASE_REQUEST__INIT;
        rel.view_id = view_id;
        req.body_case = SHMVIEW__REQUEST__BODY_RELEASE;
        req.release = &rel;
        pthread_mutex_lock(&c->lock);
        (void)send_locked(c, &req);
        pthread_mutex_unlock(&c->lock);
}

static int connect_socket(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len + 1);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int r;
        do
                r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        while (r < 0 && errno == EINTR);
        if (r < 0) {
                /* No socket file at the path: no daemon there, as with a stale socket. */
                r = errno == ENOENT ? -ECONNREFUSED : -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int hello(shmv_client *c)
{
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__Hello h = SHMVIEW__HELLO__INIT;
        h.protocol_version = SHMV__PROTOCOL_VERSION;
        h.client_name.data = (uint8_t *)"libshmview " SHMV_VERSION_STRING;
        h.client_name.len = strlen((const char *)h.client_name.data);
        req.body_case = SHMVIEW__REQUEST__BODY_HELLO;
        req.hello = &h;
        Shmview__Response *resp;
        int r = call(c, &req, &resp, NULL);
        if (r < 0)
                return r;
        if (resp->body_case != SHMVIEW__RESPONSE__BODY_HELLO ||
            resp->hello->protocol_version != SHMV__PROTOCOL_VERSION)
                r = -EPROTO;
        else if (resp->hello->limits && resp->hello->limits->max_frame > 0 &&
                 resp->hello->limits->max_frame < c->max_frame)
                c->max_frame = resp->hello->limits->max_frame;
        shmview__response__free_unpacked(resp, NULL);
        return r;
}

int shmv_connect(const char *socket_path, shmv_client **ret)
{
        if (!ret)
                return -EINVAL;
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        int r = shmv__socket_path(socket_path, path, sizeof(path));
        if (r < 0)
                return r;

        shmv_client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        atomic_init(&c->refs, 1);
        pthread_mutex_init(&c->lock, NULL);
        c->max_frame = SHMV__MAX_FRAME;
        c->fd = -1;
        c->pid = getpid();
        r = shmv__wire_in_init(&c->in, SHMV__MAX_FRAME, true);
        if (r < 0)
                goto fail;
        r = connect_socket(path);
        if (r < 0)
                goto fail;
        c->fd = r;
        r = hello(c);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        shmv__client_unref(c);
        return r;
}

void shmv_disconnect(shmv_client *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        client_close_locked(c);
        pthread_mutex_unlock(&c->lock);
        shmv__client_unref(c);
}

/* Fills a protobuf bytes field from a C string argument, checking it is a valid name here
 * too, so that a bad name never costs a round trip. */
static int set_name(ProtobufCBinaryData *field, const char *name)
{
        char tmp[SHMV_NAME_MAX + 1];
        if (!name)
                return -EINVAL;
        size_t len = strnlen(name, SHMV_NAME_MAX + 1);
        int r = shmv__name_check((const uint8_t *)name, len, tmp);
        if (r < 0)
                return r;
        field->data = (uint8_t *)(uintptr_t)name;
        field->len = len;
        return 0;
}

int shmv_segment_create(shmv_client *c, const char *name, uint64_t size, uint32_t mode)
{
        if (!c)
                return -EINVAL;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__CreateRequest body = SHMVIEW__CREATE_REQUEST__INIT;
        int r = set_name(&body.name, name);
        if (r < 0)
                return r;
        body.size = size;
        body.mode = mode;
        req.body_case = SHMVIEW__REQUEST__BODY_CREATE;
        req.create = &body;
        return call(c, &req, NULL, NULL);
}

static int name_request(shmv_client *c, Shmview__Request__BodyCase which, const char *name,
                        Shmview__Response **ret)
{
        if (!c)
                return -EINVAL;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__NameRequest body = SHMVIEW__NAME_REQUEST__INIT;
        int r = set_name(&body.name, name);
        if (r < 0)
                return r;
        req.body_case = which;
        switch (which) {
        case SHMVIEW__REQUEST__BODY_UNLINK:
                req.unlink = &body;
                break;
        case SHMVIEW__REQUEST__BODY_SEAL:
                req.seal = &body;
                break;
        default:
                req.stat = &body;
                break;
        }
        return call(c, &req, ret, NULL);
}

int shmv_segment_unlink(shmv_client *c, const char *name)
{
        return name_request(c, SHMVIEW__REQUEST__BODY_UNLINK, name, NULL);
}

int shmv_segment_seal(shmv_client *c, const char *name)
{
        return name_request(c, SHMVIEW__REQUEST__BODY_SEAL, name, NULL);
}

static void info_from_wire(shmv_segment_info *dst, const Shmview__SegmentInfo *src)
{
        memset(dst, 0, sizeof(*dst));
        size_t n = src->name.len < SHMV_NAME_MAX ? src->name.len : SHMV_NAME_MAX;
        memcpy(dst->name, src->name.data, n);
        dst->size = src->size;
        dst->uid = src->uid;
        dst->gid = src->gid;
        dst->mode = src->mode;
        dst->sealed = src->sealed;
        dst->views_ro = src->views_ro;
        dst->views_rw = src->views_rw;
        dst->created_usec = src->created_usec;
}

int shmv_segment_stat(shmv_client *c, const char *name, shmv_segment_info *ret)
{
        if (!ret)
                return -EINVAL;
        Shmview__Response *resp;
        int r = name_request(c, SHMVIEW__REQUEST__BODY_STAT, name, &resp);
        if (r < 0)
                return r;
        if (resp->body_case != SHMVIEW__RESPONSE__BODY_STAT)
                r = -EPROTO;
        else
                info_from_wire(ret, resp->stat);
        shmview__response__free_unpacked(resp, NULL);
        return r;
}

int shmv_segment_list(shmv_client *c, shmv_segment_info **ret, size_t *ret_count)
{
        if (!c || !ret || !ret_count)
                return -EINVAL;
        shmv_segment_info *all = NULL;
        size_t n = 0;
        char after[SHMV_NAME_MAX + 1] = "";
        int r;
        for (;;) {
                Shmview__Request req = SHMVIEW__REQUEST__INIT;
                Shmview__ListRequest body = SHMVIEW__LIST_REQUEST__INIT;
                body.after.data = (uint8_t *)after;
                body.after.len = strlen(after);
                req.body_case = SHMVIEW__REQUEST__BODY_LIST;
                req.list = &body;
                Shmview__Response *resp;
                r = call(c, &req, &resp, NULL);
                if (r < 0)
                        goto fail;
                if (resp->body_case != SHMVIEW__RESPONSE__BODY_LIST) {
                        shmview__response__free_unpacked(resp, NULL);
                        r = -EPROTO;
                        goto fail;
                }
                const Shmview__ListReply *page = resp->list;
                bool more = page->more && page->n_segments > 0;
                if (page->n_segments > 0) {
                        shmv_segment_info *grown =
                                reallocarray(all, n + page->n_segments, sizeof(*all));
                        if (!grown) {
                                shmview__response__free_unpacked(resp, NULL);
                                r = -ENOMEM;
                                goto fail;
                        }
                        all = grown;
                        for (size_t i = 0; i < page->n_segments; i++)
                                info_from_wire(&all[n++], page->segments[i]);
                        memcpy(after, all[n - 1].name, sizeof(after));
                }
                shmview__response__free_unpacked(resp, NULL);
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

void shmv_segment_list_free(shmv_segment_info *list)
{
        free(list);
}

int shmv_view_open(shmv_client *c, const char *name, uint64_t offset, uint64_t length,
                   int flags, shmv_view **ret)
{
        if (!c || !ret || !(flags & SHMV_READ) || (flags & ~(SHMV_READ | SHMV_WRITE)))
                return -EINVAL;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__OpenRequest body = SHMVIEW__OPEN_REQUEST__INIT;
        int r = set_name(&body.name, name);
        if (r < 0)
                return r;
        body.offset = offset;
        body.length = length;
        body.writable = (flags & SHMV_WRITE) != 0;
        req.body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req.open = &body;

        Shmview__Response *resp;
        int fd = -1;
        r = call(c, &req, &resp, &fd);
        if (r < 0)
                return r;
        const Shmview__OpenReply *o =
                resp->body_case == SHMVIEW__RESPONSE__BODY_OPEN ? resp->open : NULL;
        if (!o || fd < 0 || o->writable != body.writable || o->offset != offset ||
            o->length > o->segment_size || o->offset > o->segment_size - o->length) {
                if (o)
                        shmv__client_release_view(c, o->view_id);
                if (fd >= 0)
                        close(fd);
                shmview__response__free_unpacked(resp, NULL);
                return -EPROTO;
        }
        r = shmv__view_new(c, o->view_id, fd, o->offset, o->length, o->writable, ret);
        shmview__response__free_unpacked(resp, NULL);
        return r;
}
