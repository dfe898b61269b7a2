#include "raw.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

void th_raw_connect_to(th_raw *r, const char *path)
{
        memset(r, 0, sizeof(*r));
        r->next_id = 1;
        if (shmv__wire_in_init(&r->in, SHMV__MAX_FRAME, true) < 0)
                th_fail(__FILE__, __LINE__, "out of memory");
        r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                th_fail(__FILE__, __LINE__, "connect %s: %s", sa.sun_path, strerror(errno));
}

void th_raw_connect(th_raw *r)
{
        const char *path = getenv("SHMVIEW_SOCKET");
        if (!path)
                th_fail(__FILE__, __LINE__, "SHMVIEW_SOCKET is not set");
        th_raw_connect_to(r, path);
}

void th_raw_hello(th_raw *r, Shmview__Response **ret)
{
        Shmview__Hello h = SHMVIEW__HELLO__INIT;
        h.protocol_version = SHMV__PROTOCOL_VERSION;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_HELLO;
        req.hello = &h;
        Shmview__Response *resp;
        int rc = th_raw_call(r, &req, &resp, NULL);
        if (rc < 0)
                th_fail(__FILE__, __LINE__, "hello: %s", strerror(-rc));
        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_HELLO);
        if (ret)
                *ret = resp;
        else
                shmview__response__free_unpacked(resp, NULL);
}

void th_raw_connect_hello(th_raw *r)
{
        th_raw_connect(r);
        th_raw_hello(r, NULL);
}

void th_raw_close(th_raw *r)
{
        if (r->fd >= 0)
                close(r->fd);
        r->fd = -1;
        shmv__wire_in_free(&r->in);
}

void th_raw_send_with_fds(th_raw *r, const void *buf, size_t len, const int *fds, size_t nfds)
{
        union {
                char buf[CMSG_SPACE(sizeof(int) * 64)];
                struct cmsghdr align;
        } control;
        CHECK_LE(nfds, 64);
        memset(&control, 0, sizeof(control));
        struct iovec iov = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        if (nfds > 0) {
                msg.msg_control = control.buf;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        }
        ssize_t n = sendmsg(r->fd, &msg, MSG_NOSIGNAL);
        if (n < 0)
                th_fail(__FILE__, __LINE__, "sendmsg: %s", strerror(errno));
        if ((size_t)n < len)
                th_raw_send_bytes(r, (const uint8_t *)buf + n, len - (size_t)n);
}

void th_raw_send_bytes(th_raw *r, const void *buf, size_t len)
{
        int rc = shmv__wire_send_all(r->fd, buf, len, -1);
        if (rc < 0)
                th_fail(__FILE__, __LINE__, "send: %s", strerror(-rc));
}

void th_raw_send_payload(th_raw *r, const void *payload, size_t len)
{
        uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                          (uint8_t)(len >> 24)};
        th_raw_send_bytes(r, hdr, sizeof(hdr));
        th_raw_send_bytes(r, payload, len);
}

void th_raw_append_frame(uint8_t *buf, size_t *len, size_t cap, Shmview__Request *req, uint64_t id)
{
        req->id = id;
        uint8_t *frame;
        size_t n;
        CHECK_OK(shmv__wire_pack(&req->base, SHMV__MAX_FRAME, &frame, &n));
        CHECK_LE(*len + n, cap);
        memcpy(buf + *len, frame, n);
        *len += n;
        free(frame);
}

uint64_t th_raw_send(th_raw *r, Shmview__Request *req)
{
        req->id = r->next_id++;
        uint8_t *buf;
        size_t len;
        int rc = shmv__wire_pack(&req->base, SHMV__MAX_FRAME, &buf, &len);
        if (rc < 0)
                th_fail(__FILE__, __LINE__, "pack: %s", strerror(-rc));
        th_raw_send_bytes(r, buf, len);
        free(buf);
        return req->id;
}

static bool wait_readable(int fd, int timeout_ms)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n;
        do
                n = poll(&p, 1, timeout_ms);
        while (n < 0 && errno == EINTR);
        return n > 0;
}

Shmview__Response *th_raw_recv(th_raw *r, int *ret_fd)
{
        const uint8_t *payload;
        size_t len;
        int rc;
        while ((rc = shmv__wire_in_frame(&r->in, &payload, &len)) == 0) {
                if (!wait_readable(r->fd, TH_RAW_TIMEOUT_MS))
                        th_fail(__FILE__, __LINE__, "no reply from the daemon in %d ms",
                                TH_RAW_TIMEOUT_MS);
                ssize_t n = shmv__wire_in_fill(&r->in, r->fd);
                if (n == 0 || n == -ECONNRESET)
                        return NULL;
                if (n < 0)
                        th_fail(__FILE__, __LINE__, "receive: %s", strerror((int)-n));
        }
        if (rc < 0)
                th_fail(__FILE__, __LINE__, "reply frame: %s", strerror(-rc));
        Shmview__Response *resp = shmview__response__unpack(NULL, len, payload);
        shmv__wire_in_consume(&r->in);
        CHECK(resp != NULL);
        int fd = shmv__wire_in_take_fd(&r->in);
        if (ret_fd)
                *ret_fd = fd;
        else if (fd >= 0)
                close(fd);
        return resp;
}

Shmview__Response *th_raw_recv_reply(th_raw *r, uint64_t id, int *ret_fd)
{
        Shmview__Response *resp = th_raw_recv(r, ret_fd);
        if (!resp)
                th_fail(__FILE__, __LINE__, "the daemon closed the connection");
        if (resp->id != id)
                th_fail(__FILE__, __LINE__, "reply id %llu for request %llu",
                        (unsigned long long)resp->id, (unsigned long long)id);
        return resp;
}

int th_raw_call(th_raw *r, Shmview__Request *req, Shmview__Response **ret, int *ret_fd)
{
        uint64_t id = th_raw_send(r, req);
        int fd = -1;
        Shmview__Response *resp = th_raw_recv_reply(r, id, &fd);
        int status = resp->status;
        if (status != 0 || !ret_fd) {
                if (fd >= 0)
                        close(fd);
                fd = -1;
        }
        if (ret_fd)
                *ret_fd = fd;
        if (ret && status == 0)
                *ret = resp;
        else
                shmview__response__free_unpacked(resp, NULL);
        return -status;
}

bool th_raw_wait_closed(th_raw *r, int timeout_ms)
{
        for (;;) {
                if (!wait_readable(r->fd, timeout_ms))
                        return false;
                char buf[65536];
                ssize_t n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        return true;
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        th_fail(__FILE__, __LINE__, "recv: %s", strerror(errno));
        }
}

static ProtobufCBinaryData name_field(const char *name, size_t len)
{
        return (ProtobufCBinaryData){.len = len, .data = (uint8_t *)(uintptr_t)name};
}

void th_raw_fill_create(Shmview__Request *req, Shmview__CreateRequest *b, const char *name,
                        size_t name_len, uint64_t size, uint32_t mode)
{
        shmview__create_request__init(b);
        b->name = name_field(name, name_len);
        b->size = size;
        b->mode = mode;
        shmview__request__init(req);
        req->body_case = SHMVIEW__REQUEST__BODY_CREATE;
        req->create = b;
}

void th_raw_fill_open(Shmview__Request *req, Shmview__OpenRequest *b, const char *name,
                      size_t name_len)
{
        shmview__open_request__init(b);
        b->name = name_field(name, name_len);
        b->length = UINT64_MAX;
        shmview__request__init(req);
        req->body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req->open = b;
}

int th_raw_create(th_raw *r, const char *name, size_t name_len, uint64_t size, uint32_t mode)
{
        Shmview__CreateRequest b;
        Shmview__Request req;
        th_raw_fill_create(&req, &b, name, name_len, size, mode);
        return th_raw_call(r, &req, NULL, NULL);
}

int th_raw_open(th_raw *r, const char *name, size_t name_len, uint64_t offset, uint64_t length,
                bool writable, uint64_t *ret_view_id, int *ret_fd)
{
        Shmview__OpenRequest b;
        Shmview__Request req;
        th_raw_fill_open(&req, &b, name, name_len);
        b.offset = offset;
        b.length = length;
        b.writable = writable;
        Shmview__Response *resp = NULL;
        int fd = -1;
        int rc = th_raw_call(r, &req, &resp, &fd);
        if (rc < 0)
                return rc;
        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_OPEN);
        CHECK_GE(fd, 0);
        if (ret_view_id)
                *ret_view_id = resp->open->view_id;
        shmview__response__free_unpacked(resp, NULL);
        if (ret_fd)
                *ret_fd = fd;
        else
                close(fd);
        return 0;
}

int th_raw_named(th_raw *r, Shmview__Request__BodyCase which, const char *name, size_t name_len)
{
        Shmview__NameRequest b = SHMVIEW__NAME_REQUEST__INIT;
        b.name = name_field(name, name_len);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = which;
        switch (which) {
        case SHMVIEW__REQUEST__BODY_UNLINK:
                req.unlink = &b;
                break;
        case SHMVIEW__REQUEST__BODY_SEAL:
                req.seal = &b;
                break;
        default:
                req.stat = &b;
                break;
        }
        return th_raw_call(r, &req, NULL, NULL);
}

void th_raw_release(th_raw *r, uint64_t view_id)
{
        Shmview__ReleaseRequest b = SHMVIEW__RELEASE_REQUEST__INIT;
        b.view_id = view_id;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_RELEASE;
        req.release = &b;
        th_raw_send(r, &req);
}
