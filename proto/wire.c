/* Framing, descriptor passing and protobuf-c glue, shared by daemon, library and CLI. */
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "utf8.h"

/* What a connection's input buffer holds until a frame needs more. */
#define IN_INITIAL 4096u

/* Room for one fill: a whole largest frame plus its header, so a frame never needs more. */
static size_t in_capacity(uint32_t max_frame)
{
        return (size_t)max_frame + SHMV__FRAME_HEADER;
}

int shmv__wire_in_init(shmv__wire_in *in, uint32_t max_frame, bool keep_fds)
{
        memset(in, 0, sizeof(*in));
        in->max_frame = max_frame;
        in->keep_fds = keep_fds;
        /* Start small; grow only for connections that send large frames. */
        in->cap = IN_INITIAL;
        in->buf = malloc(in->cap);
        if (!in->buf)
                return -ENOMEM;
        return 0;
}

void shmv__wire_in_free(shmv__wire_in *in)
{
        for (unsigned i = 0; i < in->nfds; i++)
                close(in->fds[i]);
        in->nfds = 0;
        free(in->buf);
        in->buf = NULL;
}

size_t shmv__wire_in_pending(const shmv__wire_in *in)
{
        return in->len - in->start;
}

static void in_compact(shmv__wire_in *in)
{
        if (in->start == 0)
                return;
        memmove(in->buf, in->buf + in->start, in->len - in->start);
        in->len -= in->start;
        in->start = 0;
}

static void take_rights(shmv__wire_in *in, struct msghdr *msg)
{
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                const unsigned char *p = CMSG_DATA(c);
                for (size_t i = 0; i < n; i++) {
                        int fd;
                        memcpy(&fd, p + i * sizeof(int), sizeof(int));
                        if (in->keep_fds && in->nfds < SHMV__WIRE_FD_QUEUE) {
                                in->fds[in->nfds++] = fd;
                        } else {
                                close(fd);
                                in->fds_dropped++;
                        }
                }
        }
}

/* Makes room for one read at the end of the buffer. */
static int in_reserve(shmv__wire_in *in)
{
        in_compact(in);
        if (in->len == in->cap) {
                size_t want = in_capacity(in->max_frame);
                if (in->cap >= want)
                        return -ENOBUFS; /* cannot happen: a frame fits, and is consumed */
                uint8_t *nb = realloc(in->buf, want);
                if (!nb)
                        return -ENOMEM;
                in->buf = nb;
                in->cap = want;
        }
        return 0;
}

/* One recvmsg() of up to len bytes into dst, the descriptors that come with them received
 * (and queued or closed by take_rights) unless peek. */
static ssize_t in_recv(shmv__wire_in *in, int sock, uint8_t *dst, size_t len, bool peek)
{
        /* Room for more descriptors than a message may carry, so that a peer sending too many
         * has them all closed here rather than left with MSG_CTRUNC in its kernel buffer. */
        union {
                char buf[CMSG_SPACE(sizeof(int) * 16)];
                struct cmsghdr align;
        } control;
        struct iovec iov = {.iov_base = dst, .iov_len = len};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                /* A peek leaves the descriptors where they are, for the take to receive. */
                .msg_control = peek ? NULL : control.buf,
                .msg_controllen = peek ? 0 : sizeof(control.buf),
        };
        ssize_t n;
        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | (peek ? MSG_PEEK : 0));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (!peek)
                take_rights(in, &msg);
        return n;
}

ssize_t shmv__wire_in_fill(shmv__wire_in *in, int sock)
{
        int r = in_reserve(in);
        if (r < 0)
                return r;
        ssize_t n = in_recv(in, sock, in->buf + in->len, in->cap - in->len, false);
        if (n > 0)
                in->len += (size_t)n;
        return n;
}

ssize_t shmv__wire_in_peek(shmv__wire_in *in, int sock)
{
        if (in->peeked > 0)
                return -EBUSY; /* the last peek is not taken yet */
        int r = in_reserve(in);
        if (r < 0)
                return r;
        size_t room = in->cap - in->len;
        ssize_t n = in_recv(in, sock, in->buf + in->len,
                            room < SHMV__WIRE_PEEK_MAX ? room : SHMV__WIRE_PEEK_MAX, true);
        if (n > 0) {
                in->len += (size_t)n;
                in->peeked = (size_t)n;
        }
        return n;
}

int shmv__wire_in_take(shmv__wire_in *in, int sock)
{
        /* The bytes are buffered already: read them again only to take them off the socket.
         * They may come in more than one read, since a read stops after descriptors. */
        uint8_t scratch[SHMV__WIRE_PEEK_MAX];
        while (in->peeked > 0) {
                ssize_t n = in_recv(in, sock, scratch, in->peeked, false);
                if (n < 0 && n != -EAGAIN && n != -EWOULDBLOCK)
                        return (int)n;
                if (n <= 0)
                        return -EPROTO; /* cannot happen: the bytes were there, one reader */
                in->peeked -= (size_t)n;
        }
        return 0;
}

int shmv__wire_in_frame(shmv__wire_in *in, const uint8_t **ret_payload, size_t *ret_len)
{
        size_t avail = in->len - in->start;
        if (avail < SHMV__FRAME_HEADER)
                return 0;
        const uint8_t *p = in->buf + in->start;
        uint32_t n =
                (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        if (n > in->max_frame)
                return -EMSGSIZE;
        if (avail - SHMV__FRAME_HEADER < n) {
                /* Make sure the whole frame will fit once it arrives, growing only as far as
                 * it needs: a peer that announces a small frame and stalls holds no more. */
                size_t want = SHMV__FRAME_HEADER + (size_t)n;
                if (in->cap < want) {
                        in_compact(in);
                        uint8_t *nb = realloc(in->buf, want);
                        if (!nb)
                                return -ENOMEM;
                        in->buf = nb;
                        in->cap = want;
                }
                return 0;
        }
        in->frame_len = n;
        *ret_payload = p + SHMV__FRAME_HEADER;
        *ret_len = n;
        return 1;
}

void shmv__wire_in_consume(shmv__wire_in *in)
{
        in->start += SHMV__FRAME_HEADER + in->frame_len;
        in->frame_len = 0;
        if (in->start == in->len) {
                in->start = in->len = 0;
                /* Give back what a large frame needed. */
                if (in->cap > IN_INITIAL) {
                        uint8_t *nb = realloc(in->buf, IN_INITIAL);
                        if (nb) {
                                in->buf = nb;
                                in->cap = IN_INITIAL;
                        }
                }
        }
}

int shmv__wire_in_take_fd(shmv__wire_in *in)
{
        if (in->nfds == 0)
                return -1;
        int fd = in->fds[0];
        memmove(in->fds, in->fds + 1, (in->nfds - 1) * sizeof(int));
        in->nfds--;
        return fd;
}

ssize_t shmv__wire_frame_size(const ProtobufCMessage *msg, uint32_t max_frame)
{
        size_t n = protobuf_c_message_get_packed_size(msg);
        if (n > max_frame)
                return -EMSGSIZE;
        return (ssize_t)(SHMV__FRAME_HEADER + n);
}

void shmv__wire_frame_write(const ProtobufCMessage *msg, size_t frame_size, uint8_t *dst)
{
        size_t n = frame_size - SHMV__FRAME_HEADER;
        dst[0] = (uint8_t)n;
        dst[1] = (uint8_t)(n >> 8);
        dst[2] = (uint8_t)(n >> 16);
        dst[3] = (uint8_t)(n >> 24);
        protobuf_c_message_pack(msg, dst + SHMV__FRAME_HEADER);
}

int shmv__wire_pack(const ProtobufCMessage *msg, uint32_t max_frame, uint8_t **ret_buf,
                    size_t *ret_len)
{
        ssize_t size = shmv__wire_frame_size(msg, max_frame);
        if (size < 0)
                return (int)size;
        uint8_t *buf = malloc((size_t)size);
        if (!buf)
                return -ENOMEM;
        shmv__wire_frame_write(msg, (size_t)size, buf);
        *ret_buf = buf;
        *ret_len = (size_t)size;
        return 0;
}

ssize_t shmv__wire_send(int sock, const uint8_t *buf, size_t len, int fd)
{
        struct iovec iov = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
        return shmv__wire_sendv(sock, &iov, 1, fd);
}

ssize_t shmv__wire_sendv(int sock, const struct iovec *iov, size_t iovcnt, int fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } control;
        struct msghdr msg = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = iovcnt};
        if (fd >= 0) {
                memset(&control, 0, sizeof(control));
                msg.msg_control = control.buf;
                msg.msg_controllen = sizeof(control.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        ssize_t n;
        do
                n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
}

int shmv__wire_send_all(int sock, const uint8_t *buf, size_t len, int fd)
{
        while (len > 0) {
                ssize_t n = shmv__wire_send(sock, buf, len, fd);
                if (n < 0)
                        return (int)n;
                fd = -1;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Each block carries its size in front, since protobuf-c's free() does not pass it. */
typedef union arena_hdr {
        size_t size;
        max_align_t align;
} arena_hdr;

static bool arena_owns(const shmv__wire_arena *a, const arena_hdr *h)
{
        return (uintptr_t)h >= (uintptr_t)a->store &&
               (uintptr_t)h < (uintptr_t)a->store + sizeof(a->store);
}

static void *arena_alloc(void *data, size_t size)
{
        shmv__wire_arena *a = data;
        if (size > a->limit - a->used)
                return NULL;
        arena_hdr *h;
        /* size is at most limit here, so rounding up cannot wrap. */
        size_t need = sizeof(*h) + (size + sizeof(*h) - 1) / sizeof(*h) * sizeof(*h);
        if (need <= sizeof(a->store) - a->store_used) {
                h = (arena_hdr *)((uint8_t *)a->store + a->store_used);
                a->store_used += need;
        } else {
                h = malloc(sizeof(*h) + size);
                if (!h)
                        return NULL;
                a->heap_blocks++;
        }
        h->size = size;
        a->used += size;
        return h + 1;
}

static void arena_free(void *data, void *p)
{
        shmv__wire_arena *a = data;
        if (!p)
                return;
        arena_hdr *h = (arena_hdr *)p - 1;
        a->used -= h->size;
        if (!arena_owns(a, h)) {
                a->heap_blocks--;
                free(h);
        }
}

void shmv__wire_arena_init(shmv__wire_arena *a, size_t limit)
{
        a->allocator.alloc = arena_alloc;
        a->allocator.free = arena_free;
        a->allocator.allocator_data = a;
        a->used = 0;
        a->limit = limit;
        a->store_used = 0;
        a->heap_blocks = 0;
}

/* Code points a name may not hold because a terminal shows them as nothing, as a blank, or
 * not at all as themselves: C1 controls (Cc), every format character (Cf: the bidirectional
 * overrides and isolates, zero-width spaces and joiners, the byte order mark, tags), every
 * separator but the space (Zs, Zl, Zp), the other default-ignorable code points (variation
 * selectors, Hangul fillers, U+034F, U+180B..F), the Braille blank and the noncharacters
 * U+FDD0..FDEF (those ending in FFFE or FFFF are tested apart). Sorted, for a binary search;
 * from Unicode 15.1. */
static const struct {
        uint32_t first, last;
} invisible[] = {
        {0x0080, 0x00a0},   {0x00ad, 0x00ad},   {0x034f, 0x034f},   {0x0600, 0x0605},
        {0x061c, 0x061c},   {0x06dd, 0x06dd},   {0x070f, 0x070f},   {0x0890, 0x0891},
        {0x08e2, 0x08e2},   {0x115f, 0x1160},   {0x1680, 0x1680},   {0x17b4, 0x17b5},
        {0x180b, 0x180f},   {0x2000, 0x200f},   {0x2028, 0x202f},   {0x205f, 0x206f},
        {0x2800, 0x2800},   {0x3000, 0x3000},   {0x3164, 0x3164},   {0xfdd0, 0xfdef},
        {0xfe00, 0xfe0f},   {0xfeff, 0xfeff},   {0xffa0, 0xffa0},   {0xfff0, 0xfffb},
        {0x110bd, 0x110bd}, {0x110cd, 0x110cd}, {0x13430, 0x1343f}, {0x1bca0, 0x1bca3},
        {0x1d173, 0x1d17a}, {0xe0000, 0xe0fff},
};

static bool code_point_invisible(uint32_t cp)
{
        if ((cp & 0xfffe) == 0xfffe)
                return true;
        size_t lo = 0, hi = sizeof(invisible) / sizeof(invisible[0]);
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (cp < invisible[mid].first)
                        hi = mid;
                else if (cp > invisible[mid].last)
                        lo = mid + 1;
                else
                        return true;
        }
        return false;
}

int shmv__name_check(const uint8_t *data, size_t len, char *dst)
{
        if (len == 0 || len > SHMV_NAME_MAX)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (data[i] < 0x20 || data[i] == 0x7f || data[i] == '/')
                        return -EINVAL;
                /* Bytes that are not UTF-8 stay allowed: tools show them escaped, never as
                 * something else. Characters that show as nothing are refused. */
                uint32_t cp;
                size_t n = data[i] >= 0x80 ? shmv__utf8_seq(data + i, len - i, &cp) : 0;
                if (n > 0) {
                        if (code_point_invisible(cp))
                                return -EINVAL;
                        i += n - 1;
                }
        }
        if ((len == 1 && data[0] == '.') || (len == 2 && data[0] == '.' && data[1] == '.'))
                return -EINVAL;
        memcpy(dst, data, len);
        dst[len] = '\0';
        return 0;
}

static int path_set(char *dst, size_t dst_len, const char *a, const char *b)
{
        size_t la = strlen(a), lb = b ? strlen(b) : 0;
        if (la + lb + 1 > dst_len || la + lb + 1 > sizeof(((struct sockaddr_un *)0)->sun_path))
                return -ENAMETOOLONG;
        memcpy(dst, a, la);
        if (b)
                memcpy(dst + la, b, lb);
        dst[la + lb] = '\0';
        return 0;
}

int shmv__socket_path(const char *arg, char *dst, size_t dst_len)
{
        if (arg && *arg)
                return path_set(dst, dst_len, arg, NULL);
        const char *env = getenv("SHMVIEW_SOCKET");
        if (env && *env)
                return path_set(dst, dst_len, env, NULL);
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (geteuid() != 0 && xdg && *xdg)
                return path_set(dst, dst_len, xdg, "/shmview/shmview.sock");
        return path_set(dst, dst_len, "/run/shmview/shmview.sock", NULL);
}
