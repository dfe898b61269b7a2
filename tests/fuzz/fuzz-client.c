/* libFuzzer target: replies from a fake daemon into libshmview. The library is the real one
 * (client.c, view.c, admin.c, error.c and the wire layer), called through its public
 * API; the daemon is a thread of this process that listens on a temporary socket and answers
 * every request the library sends with the next reply record of the input, as a hostile or
 * broken process listening on the socket path, or a daemon bug, could.
 *
 * Input layout:
 *   byte 0          n, the length of the op stream
 *   bytes 1..n      ops: the library calls the harness makes, in order (see run_op)
 *   the rest        reply records, consumed in order by the fake daemon
 *
 * A reply record:
 *   ctl             bits 0-1  how its payload is sent:
 *                             0 CANNED  a valid reply to the request (its id, status 0, the
 *                                       body it wants; for an open the range asked and a
 *                                       sealed memfd of the segment's size) with the payload
 *                                       appended, which protobuf merges: it overrides fields
 *                             1 ID      the request's id (field 1), then the payload, framed
 *                             2 FRAMED  the payload behind a length prefix
 *                             3 RAW     the payload as is: no prefix, a cut frame, a prefix
 *                                       over the limit, several frames
 *                   bits 2-3  descriptors attached: 0, 1, 2, or 3 + (a count byte % 30)
 *                   bit 4     sent in small writes
 *                   bit 5     the connection is closed after it
 *                   bit 6     sticky: every later request gets this record again, so that a
 *                             library loop that never ends shows as a timeout
 *   len             one byte; 255: two more bytes, little-endian
 *   payload         len bytes
 *   [count]         with descriptors 3
 *   fd specs        two bytes per descriptor: kind, size (see make_fd)
 *   [pushes]        after the reply to a watch request: a byte, n % 8 records that follow
 *                   are pushed as events (canned: an Event), then the connection is closed
 *
 * The fake daemon never lets the library wait forever: when what it has queued on a
 * connection holds fewer complete frames than the library waits for (an empty record, a cut
 * frame, a prefix over the limit, no record left), it closes the connection once that is sent.
 *
 * Every call must return 0 or a negative errno (-4095..-1), never crash; a view that opened is
 * read (and written, when writable) at its first and last byte, which must not fault: the
 * library checks the descriptor it maps against the range. After each input every view is
 * released, every list freed, every client disconnected, and the process must hold as many
 * descriptors as before (LeakSanitizer checks the memory). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "request.h"
#include "shmview.h"
#include "wire.h"

#define FUZZ_NAME "fuzz-client"
#include "fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CONNS 8
#define NCLIENTS 2
#define NVIEWS 4
/* Descriptors one record may attach: more than the library's control buffer holds (16). */
#define MAX_RECORD_FDS 32
/* Largest length the driver hands to SHMV_PREFAULT: populating is the library's job, not a
 * way to make the fuzzer allocate gigabytes. */
#define PREFAULT_MAX 65536u

static char dir[] = "/tmp/shmview-fuzz-client-XXXXXX";
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int listen_fd = -1;

/* FUZZ_CLIENT_TRACE=1 prints every call and what it returned, and every request the fake
 * daemon read, to see what an input does. */
static bool trace;

typedef struct cursor {
        const uint8_t *p;
        size_t n;
} cursor;

static uint8_t take_byte(cursor *c)
{
        if (c->n == 0)
                return 0;
        c->n--;
        return *c->p++;
}

static const uint8_t *take(cursor *c, size_t *len)
{
        const uint8_t *p = c->p;
        if (*len > c->n)
                *len = c->n;
        c->p += *len;
        c->n -= *len;
        return p;
}

/* ---- the fake daemon ---- */

/* Bytes queued for a connection; fds ride with the first byte sent. */
typedef struct chunk {
        struct chunk *next;
        size_t len;
        size_t off;
        int fds[MAX_RECORD_FDS];
        unsigned nfds;
        uint8_t data[];
} chunk;

typedef struct conn {
        int fd; /* -1: slot free */
        uint8_t in[SHMV__FRAME_HEADER + SHMV__MAX_FRAME];
        size_t in_len;
        chunk *head;
        chunk *tail;
        uint64_t owed; /* replies the library waits for: every request but release */
        uint64_t frames; /* complete frames (within the limit) queued for it so far */
        /* Where the queued stream stands, to count frames: header bytes, payload left. */
        uint8_t hdr[SHMV__FRAME_HEADER];
        unsigned hdr_len;
        uint64_t payload_left;
        bool poisoned; /* a prefix over the limit: the library reads no frame after it */
        bool closing; /* close once the queue is sent */
} conn;

typedef struct record {
        uint8_t ctl;
        const uint8_t *payload;
        size_t len;
        cursor fds; /* the fd specs */
        unsigned nfds;
} record;

enum { MODE_CANNED, MODE_ID, MODE_FRAMED, MODE_RAW };
#define CTL_MODE(c) ((c)&3u)
#define CTL_FDS(c) (((c) >> 2) & 3u)
#define CTL_SPLIT 0x10u
#define CTL_CLOSE 0x20u
#define CTL_STICKY 0x40u

static struct peer {
        cursor replies;
        bool sticky;
        cursor sticky_at; /* where the sticky record starts */
        int control[2]; /* driver to fake daemon: start, stop */
        int done[2]; /* fake daemon to driver: the input is over */
        uint64_t next_view_id;
        conn conns[MAX_CONNS];
} peer;

static void chunk_free(chunk *ch)
{
        for (unsigned i = 0; i < ch->nfds; i++)
                close(ch->fds[i]);
        free(ch);
}

static void conn_close(conn *k)
{
        close(k->fd);
        k->fd = -1;
        while (k->head) {
                chunk *n = k->head->next;
                chunk_free(k->head);
                k->head = n;
        }
        k->tail = NULL;
}

/* Counts the complete frames in what goes out, as the library's reader will see them. */
static void account(conn *k, const uint8_t *p, size_t len)
{
        while (len > 0 && !k->poisoned) {
                if (k->payload_left > 0) {
                        size_t n = len < k->payload_left ? len : (size_t)k->payload_left;
                        k->payload_left -= n;
                        p += n;
                        len -= n;
                        if (k->payload_left == 0)
                                k->frames++;
                        continue;
                }
                k->hdr[k->hdr_len++] = *p++;
                len--;
                if (k->hdr_len < SHMV__FRAME_HEADER)
                        continue;
                k->hdr_len = 0;
                uint32_t n = (uint32_t)k->hdr[0] | (uint32_t)k->hdr[1] << 8 |
                             (uint32_t)k->hdr[2] << 16 | (uint32_t)k->hdr[3] << 24;
                if (n > SHMV__MAX_FRAME)
                        k->poisoned = true;
                else if (n == 0)
                        k->frames++;
                else
                        k->payload_left = n;
        }
}

static chunk *queue(conn *k, const uint8_t *p, size_t len)
{
        chunk *ch = malloc(sizeof(*ch) + len);
        if (!ch)
                die("malloc");
        ch->next = NULL;
        ch->len = len;
        ch->off = 0;
        ch->nfds = 0;
        memcpy(ch->data, p, len);
        if (k->tail)
                k->tail->next = ch;
        else
                k->head = ch;
        k->tail = ch;
        account(k, p, len);
        return ch;
}

/* Sizes a descriptor spec byte stands for: small ones, a few MiB, and sparse huge ones. */
static uint64_t spec_size(uint8_t b)
{
        if (b < 0x80)
                return (uint64_t)b * 512;
        if (b < 0xc0)
                return (uint64_t)(b - 0x7f) << 20;
        return 1ull << (b & 63);
}

static int memfd(uint64_t size, unsigned seals)
{
        int fd = memfd_create("fuzz-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                die("memfd_create");
        /* Too large for the kernel: the memfd stays empty, another lie to the library. */
        if (size <= (uint64_t)INT64_MAX)
                (void)ftruncate(fd, (off_t)size);
        if (seals && fcntl(fd, F_ADD_SEALS, seals) < 0)
                die("F_ADD_SEALS");
        return fd;
}

/* The read-only descriptor the daemon sends for a read-only view: another open of the
 * memfd. */
static int reopen_ro(int fd)
{
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        int ro = open(proc, O_RDONLY | O_CLOEXEC);
        if (ro < 0)
                die("reopen");
        close(fd);
        return ro;
}

/* A descriptor of the kind spec says, for the library to receive. */
static int make_fd(uint8_t kind, uint8_t size_byte)
{
        uint64_t size = spec_size(size_byte);
        int fd, p[2];
        switch (kind % 8) {
        case 0: /* what the daemon sends for a writable view */
                return memfd(size, F_SEAL_SHRINK | F_SEAL_GROW);
        case 1: /* a holder could shrink it under the mapping */
                return memfd(size, 0);
        case 2:
                return reopen_ro(memfd(size, F_SEAL_SHRINK | F_SEAL_GROW));
        case 3: /* a sealed segment */
                return memfd(size, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
        case 4:
                if (pipe2(p, O_CLOEXEC) < 0)
                        die("pipe2");
                close(p[1]);
                return p[0];
        case 5:
                fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                break;
        case 6:
                fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
                break;
        default:
                fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                break;
        }
        if (fd < 0)
                die("open");
        return fd;
}

static bool record_next(cursor *c, record *ret)
{
        if (c->n == 0)
                return false;
        record r = {.ctl = take_byte(c)};
        r.len = take_byte(c);
        if (r.len == 255) {
                r.len = take_byte(c);
                r.len |= (size_t)take_byte(c) << 8;
        }
        r.payload = take(c, &r.len);
        r.nfds = CTL_FDS(r.ctl);
        if (r.nfds == 3)
                r.nfds += take_byte(c) % (MAX_RECORD_FDS - 2);
        size_t spec_len = 2 * (size_t)r.nfds;
        r.fds.p = take(c, &spec_len);
        r.fds.n = spec_len;
        *ret = r;
        return true;
}

static ProtobufCBinaryData bytes_of(const char *s)
{
        return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)(uintptr_t)s};
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
        while (v >= 0x80) {
                *p++ = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        *p++ = (uint8_t)v;
        return p;
}

/* The canned open reply: the range asked, resolved as the daemon does, and a memfd of the
 * segment's size and its doorbell page (docs/protocol.md, "The doorbell"), sealed like the
 * daemon's (and opened read-only for a read-only view). */
static int canned_open(const Shmview__OpenRequest *o, Shmview__OpenReply *reply)
{
        uint64_t size, length = o->length;
        if (length == UINT64_MAX) {
                size = o->offset <= (1ull << 40) ? o->offset + 4096 : o->offset;
                length = size - o->offset;
        } else {
                size = o->offset + length < o->offset ? UINT64_MAX : o->offset + length;
        }
        reply->view_id = ++peer.next_view_id;
        reply->offset = o->offset;
        reply->length = length;
        reply->segment_size = size;
        reply->writable = o->writable;
        reply->segment_id = 77;
        uint64_t bytes = size <= (1ull << 40) ? ((size + 4095) & ~4095ull) + 4096 : size;
        int fd = memfd(bytes, F_SEAL_SHRINK | F_SEAL_GROW);
        return o->writable ? fd : reopen_ro(fd);
}

/* The cursor of a canned views or clients page: it moves on for a while, then stops, so that
 * a sticky canned reply with more set is a long stream but not an endless one (an endless
 * stream of distinct pages is a daemon's right, and would show as a timeout here). */
static uint64_t canned_cursor(uint64_t after)
{
        return after < 64 ? after + 1 : after;
}

/* Packs a valid reply to req (or, for a watcher, an event), sets *ret_fd for an open. */
static size_t canned(const Shmview__Request *req, bool event, unsigned seq, uint8_t *buf,
                     size_t cap, int *ret_fd)
{
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        Shmview__HelloReply hello = SHMVIEW__HELLO_REPLY__INIT;
        Shmview__Limits limits = SHMVIEW__LIMITS__INIT;
        Shmview__SegmentInfo info = SHMVIEW__SEGMENT_INFO__INIT;
        Shmview__SegmentInfo *infos[1] = {&info};
        Shmview__ListReply list = SHMVIEW__LIST_REPLY__INIT;
        Shmview__OpenReply open = SHMVIEW__OPEN_REPLY__INIT;
        Shmview__ClientRef ref = SHMVIEW__CLIENT_REF__INIT;
        Shmview__ViewInfo view = SHMVIEW__VIEW_INFO__INIT;
        Shmview__ViewInfo *views[1] = {&view};
        Shmview__ViewsReply views_reply = SHMVIEW__VIEWS_REPLY__INIT;
        Shmview__ClientInfo client = SHMVIEW__CLIENT_INFO__INIT;
        Shmview__ClientInfo *clients[1] = {&client};
        Shmview__ClientsReply clients_reply = SHMVIEW__CLIENTS_REPLY__INIT;
        Shmview__StatusReply status = SHMVIEW__STATUS_REPLY__INIT;
        Shmview__WatchReply watch = SHMVIEW__WATCH_REPLY__INIT;
        Shmview__Event ev = SHMVIEW__EVENT__INIT;
        char name[SHMV_NAME_MAX + 2];

        resp.id = req->id;
        limits.max_frame = SHMV__MAX_FRAME;
        limits.max_name_len = SHMV_NAME_MAX;
        limits.list_page_size = 256;
        ref.client_id = 1;
        ref.pid = 1;
        ref.comm = bytes_of("fuzz");
        if (event) {
                ev.kind = (Shmview__Event__Kind)(1 + seq % 8);
                ev.client = &ref;
                ev.name = bytes_of("ev");
                resp.body_case = SHMVIEW__RESPONSE__BODY_EVENT;
                resp.event = &ev;
                goto pack;
        }
        switch (req->body_case) {
        case SHMVIEW__REQUEST__BODY_HELLO:
                hello.protocol_version = SHMV__PROTOCOL_VERSION;
                hello.server_version = bytes_of("fuzz");
                hello.limits = &limits;
                hello.client_pid = (uint32_t)getpid(); /* the same pid namespace */
                resp.body_case = SHMVIEW__RESPONSE__BODY_HELLO;
                resp.hello = &hello;
                break;
        case SHMVIEW__REQUEST__BODY_STAT:
                info.name = req->stat->name;
                info.size = 4096;
                info.mode = 0644;
                resp.body_case = SHMVIEW__RESPONSE__BODY_STAT;
                resp.stat = &info;
                break;
        case SHMVIEW__REQUEST__BODY_LIST:
                /* One segment named after the cursor, so that the names advance. */
                snprintf(name, sizeof(name), "%.*sa", (int)req->list->after.len,
                         (const char *)req->list->after.data);
                info.name = bytes_of(name);
                info.size = 4096;
                list.n_segments = 1;
                list.segments = infos;
                resp.body_case = SHMVIEW__RESPONSE__BODY_LIST;
                resp.list = &list;
                break;
        case SHMVIEW__REQUEST__BODY_OPEN:
                *ret_fd = canned_open(req->open, &open);
                resp.body_case = SHMVIEW__RESPONSE__BODY_OPEN;
                resp.open = &open;
                break;
        case SHMVIEW__REQUEST__BODY_REATTACH:
                open.view_id = ++peer.next_view_id;
                open.offset = req->reattach->offset;
                open.length = req->reattach->length;
                open.segment_id = req->reattach->segment_id;
                resp.body_case = SHMVIEW__RESPONSE__BODY_REATTACH;
                resp.reattach = &open;
                break;
        case SHMVIEW__REQUEST__BODY_VIEWS:
                view.client = &ref;
                view.view_id = 1;
                view.length = 4096;
                views_reply.n_views = 1;
                views_reply.views = views;
                views_reply.cursor = canned_cursor(req->views->after);
                resp.body_case = SHMVIEW__RESPONSE__BODY_VIEWS;
                resp.views = &views_reply;
                break;
        case SHMVIEW__REQUEST__BODY_CLIENTS:
                ref.client_id = canned_cursor(req->clients->after);
                client.client = &ref;
                clients_reply.n_clients = 1;
                clients_reply.clients = clients;
                clients_reply.self_id = 1;
                resp.body_case = SHMVIEW__RESPONSE__BODY_CLIENTS;
                resp.clients = &clients_reply;
                break;
        case SHMVIEW__REQUEST__BODY_DAEMON_STATUS:
                status.server_version = bytes_of("fuzz");
                status.protocol_version = SHMV__PROTOCOL_VERSION;
                status.socket_path = bytes_of(sock_path);
                status.limits = &limits;
                resp.body_case = SHMVIEW__RESPONSE__BODY_DAEMON_STATUS;
                resp.daemon_status = &status;
                break;
        case SHMVIEW__REQUEST__BODY_WATCH:
                watch.queue_bytes = 65536;
                resp.body_case = SHMVIEW__RESPONSE__BODY_WATCH;
                resp.watch = &watch;
                break;
        default: /* create, unlink, seal, wait, doorbell_arm: no body */
                break;
        }
        /* Every request a client sends has its canned reply, of the kind its row names. */
        const shmv__request_spec *spec = shmv__request_find(req->body_case);
        if (!spec || resp.body_case != spec->reply ||
            !(spec->flags & SHMV__REQ_FD) != (*ret_fd < 0))
                die("a canned reply does not match the request table (proto/request.h)");
pack:
        if (shmview__response__get_packed_size(&resp) > cap)
                die("canned reply too large");
        return shmview__response__pack(&resp, buf);
}

/* Queues one record as the reply to req (or as an event pushed to a watcher). */
static void send_record(conn *k, const Shmview__Request *req, const record *rec, bool event,
                        unsigned seq)
{
        static uint8_t buf[SHMV__FRAME_HEADER + 1024 + 65536 + 16];
        uint8_t *body = buf + SHMV__FRAME_HEADER;
        size_t n = 0;
        int fds[MAX_RECORD_FDS];
        unsigned nfds = 0;

        switch (CTL_MODE(rec->ctl)) {
        case MODE_CANNED: {
                int fd = -1;
                n = canned(req, event, seq, body, 1024, &fd);
                if (fd >= 0) {
                        if (rec->nfds == 0)
                                fds[nfds++] = fd;
                        else
                                close(fd);
                }
                break;
        }
        case MODE_ID:
                body[0] = 0x08;
                n = (size_t)(put_varint(body + 1, req->id) - body);
                break;
        default:
                break;
        }
        memcpy(body + n, rec->payload, rec->len);
        n += rec->len;

        const uint8_t *out = buf;
        if (CTL_MODE(rec->ctl) == MODE_RAW) {
                out = body;
        } else {
                buf[0] = (uint8_t)n;
                buf[1] = (uint8_t)(n >> 8);
                buf[2] = (uint8_t)(n >> 16);
                buf[3] = (uint8_t)(n >> 24);
                n += SHMV__FRAME_HEADER;
        }

        cursor spec = rec->fds;
        for (unsigned i = 0; i < rec->nfds && nfds < MAX_RECORD_FDS; i++) {
                uint8_t kind = take_byte(&spec);
                fds[nfds++] = make_fd(kind, take_byte(&spec));
        }

        /* Small writes: the header and the payload arrive in pieces. */
        size_t piece = rec->ctl & CTL_SPLIT ? 1 : n;
        chunk *first = NULL;
        for (size_t off = 0, i = 0; off < n || (n == 0 && !first); i++) {
                size_t len = n - off < piece ? n - off : piece;
                if (i >= 12)
                        len = n - off;
                chunk *ch = queue(k, out + off, len);
                if (!first)
                        first = ch;
                off += len;
                piece++;
        }
        memcpy(first->fds, fds, nfds * sizeof(int));
        first->nfds = nfds;
}

static void answer(conn *k, const Shmview__Request *req)
{
        record rec;
        bool fresh = false;
        if (peer.sticky) {
                cursor c = peer.sticky_at;
                record_next(&c, &rec);
        } else {
                cursor at = peer.replies;
                if (!record_next(&peer.replies, &rec)) {
                        k->closing = true;
                        return;
                }
                fresh = true;
                if (rec.ctl & CTL_STICKY) {
                        peer.sticky = true;
                        peer.sticky_at = at;
                }
        }
        send_record(k, req, &rec, false, 0);
        if (req->body_case == SHMVIEW__REQUEST__BODY_WATCH) {
                /* A watcher gets its events behind the reply, then the end of the stream,
                 * so that the library's waits all end. */
                unsigned pushes = fresh ? take_byte(&peer.replies) % 8 : 0;
                for (unsigned i = 0; i < pushes && record_next(&peer.replies, &rec); i++)
                        send_record(k, req, &rec, true, i);
                k->closing = true;
        }
        if ((rec.ctl & CTL_CLOSE) || k->frames < k->owed)
                k->closing = true;
}

/* Reads what the library sent and answers each complete request. False once it closed. */
static bool conn_read(conn *k)
{
        ssize_t n = recv(k->fd, k->in + k->in_len, sizeof(k->in) - k->in_len, MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        if (n == 0)
                return false;
        k->in_len += (size_t)n;
        size_t start = 0;
        while (k->in_len - start >= SHMV__FRAME_HEADER) {
                const uint8_t *p = k->in + start;
                uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                               (uint32_t)p[3] << 24;
                if (len > SHMV__MAX_FRAME) {
                        fprintf(stderr, "fuzz-client: the library sent a frame of %u bytes\n", len);
                        abort();
                }
                if (k->in_len - start - SHMV__FRAME_HEADER < len)
                        break;
                Shmview__Request *req = shmview__request__unpack(NULL, len, p + SHMV__FRAME_HEADER);
                if (!req) {
                        fprintf(stderr, "fuzz-client: the library sent a malformed request\n");
                        abort();
                }
                start += SHMV__FRAME_HEADER + len;
                if (trace)
                        fprintf(stderr, "fuzz-client: daemon: request %d, id %llu, connection %d\n",
                                (int)req->body_case, (unsigned long long)req->id,
                                (int)(k - peer.conns));
                /* Anything after a reply that closes the connection is not read. */
                if (req->body_case != SHMVIEW__REQUEST__BODY_RELEASE && !k->closing) {
                        k->owed++;
                        answer(k, req);
                }
                shmview__request__free_unpacked(req, NULL);
        }
        memmove(k->in, k->in + start, k->in_len - start);
        k->in_len -= start;
        return true;
}

/* Sends what is queued. False when the library is gone. */
static bool conn_flush(conn *k)
{
        while (k->head) {
                chunk *ch = k->head;
                if (ch->len > ch->off) {
                        union {
                                char buf[CMSG_SPACE(sizeof(int) * MAX_RECORD_FDS)];
                                struct cmsghdr align;
                        } control;
                        struct iovec iov = {.iov_base = ch->data + ch->off,
                                            .iov_len = ch->len - ch->off};
                        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
                        if (ch->nfds > 0) {
                                memset(&control, 0, sizeof(control));
                                msg.msg_control = control.buf;
                                msg.msg_controllen = CMSG_SPACE(sizeof(int) * ch->nfds);
                                struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
                                c->cmsg_level = SOL_SOCKET;
                                c->cmsg_type = SCM_RIGHTS;
                                c->cmsg_len = CMSG_LEN(sizeof(int) * ch->nfds);
                                memcpy(CMSG_DATA(c), ch->fds, sizeof(int) * ch->nfds);
                        }
                        ssize_t n = sendmsg(k->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n < 0)
                                return errno == EAGAIN || errno == EINTR;
                        for (unsigned i = 0; i < ch->nfds; i++)
                                close(ch->fds[i]);
                        ch->nfds = 0;
                        ch->off += (size_t)n;
                        if (ch->off < ch->len)
                                continue;
                }
                k->head = ch->next;
                if (!k->head)
                        k->tail = NULL;
                chunk_free(ch); /* descriptors of an empty chunk go nowhere */
        }
        return true;
}

static void conn_accept(void)
{
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return;
        for (int i = 0; i < MAX_CONNS; i++) {
                conn *k = &peer.conns[i];
                if (k->fd < 0) {
                        k->fd = fd;
                        k->in_len = 0;
                        k->head = k->tail = NULL;
                        k->owed = k->frames = 0;
                        k->hdr_len = 0;
                        k->payload_left = 0;
                        k->poisoned = k->closing = false;
                        return;
                }
        }
        fprintf(stderr, "fuzz-client: more than %d connections at once\n", MAX_CONNS);
        abort();
}

/* Serves one input: until the driver says stop on the control pipe. */
static void serve(void)
{
        for (;;) {
                struct pollfd p[2 + MAX_CONNS];
                int map[2 + MAX_CONNS];
                nfds_t n = 0;
                p[n++] = (struct pollfd){.fd = peer.control[0], .events = POLLIN};
                p[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
                for (int i = 0; i < MAX_CONNS; i++) {
                        conn *k = &peer.conns[i];
                        if (k->fd < 0)
                                continue;
                        map[n] = i;
                        p[n++] = (struct pollfd){
                                .fd = k->fd,
                                .events = (short)(POLLIN | (k->head ? POLLOUT : 0)),
                        };
                }
                if (poll(p, n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        die("poll");
                }
                if (p[0].revents)
                        break;
                if (p[1].revents & POLLIN)
                        conn_accept();
                for (nfds_t j = 2; j < n; j++) {
                        conn *k = &peer.conns[map[j]];
                        if (!p[j].revents)
                                continue;
                        bool alive = true;
                        if (p[j].revents & (POLLIN | POLLHUP | POLLERR))
                                alive = conn_read(k);
                        if (alive)
                                alive = conn_flush(k);
                        if (!alive || (k->closing && !k->head))
                                conn_close(k);
                }
        }
        for (int i = 0; i < MAX_CONNS; i++)
                if (peer.conns[i].fd >= 0)
                        conn_close(&peer.conns[i]);
        /* Connections nobody accepted (the library gave up on them) go too. */
        for (int fd; (fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
                close(fd);
}

/* One byte over a pipe between the driver and the fake daemon. libFuzzer's SIGALRM (its
 * -timeout watchdog) interrupts either thread's waits. */
static void pipe_put(int fd)
{
        while (write(fd, "", 1) != 1)
                if (errno != EINTR)
                        die("write");
}

static void pipe_get(int fd)
{
        char b;
        while (read(fd, &b, 1) != 1)
                if (errno != EINTR)
                        die("read");
}

/* One thread for the whole run, not one per input: glibc keeps the stacks of joined threads
 * (and what it malloc()ed for them), which would make libFuzzer suspect a leak and run its
 * leak check after every input. The driver writes a byte on the control pipe to start an
 * input and another to end it; the thread answers on the done pipe once everything of the
 * input is closed. The pipes order the two threads' accesses to peer. */
static void *peer_main(void *arg)
{
        for (;;) {
                pipe_get(peer.control[0]);
                serve();
                pipe_get(peer.control[0]);
                pipe_put(peer.done[1]);
        }
        return arg;
}

/* ---- the library calls ---- */

static shmv_client *clients[NCLIENTS];
static shmv_view *views[NVIEWS];

static char long_name[SHMV_NAME_MAX + 1]; /* SHMV_NAME_MAX bytes of n, set at start */
static const char *const names[8] = {
        "a",       "b",           "frames",
        long_name, "caf\xc3\xa9", "", /* invalid: the library refuses it without a round trip */
        "a/b",     "..",
};

static const uint64_t offsets[16] = {0,
                                     1,
                                     100,
                                     4095,
                                     4096,
                                     4097,
                                     8191,
                                     8192,
                                     65536,
                                     1u << 20,
                                     1ull << 32,
                                     1ull << 62,
                                     INT64_MAX,
                                     UINT64_MAX - 4095,
                                     UINT64_MAX - 1,
                                     UINT64_MAX};

static const uint64_t lengths[16] = {SHMV_TO_END,
                                     0,
                                     1,
                                     100,
                                     4095,
                                     4096,
                                     4097,
                                     8192,
                                     65536,
                                     1u << 20,
                                     1ull << 32,
                                     INT64_MAX,
                                     UINT64_MAX - 4096,
                                     UINT64_MAX - 1,
                                     3,
                                     12288};

static const uint64_t sizes[8] = {1, 4096, 1u << 20, 0, UINT64_MAX, 12345, 1ull << 40, 8192};

static void check_rc(const char *what, int r)
{
        if (trace)
                fprintf(stderr, "fuzz-client: %s: %d (%s)\n", what, r, shmv_strerror(r));
        if (r > 0 || r < -4095) {
                fprintf(stderr, "fuzz-client: %s returned %d, not 0 or a negative errno\n", what,
                        r);
                abort();
        }
}

/* shmv_last_error_message() is safe to print: 1 to 511 bytes, no C0, DEL or C1. */
static void check_message(void)
{
        const char *m = shmv_last_error_message();
        if (!m)
                return;
        size_t n = strlen(m);
        bool bad = n == 0 || n >= 512;
        for (size_t i = 0; i < n && !bad; i++) {
                uint8_t b = (uint8_t)m[i];
                bad = b < 0x20 || b == 0x7f ||
                      (b == 0xc2 && (uint8_t)m[i + 1] >= 0x80 && (uint8_t)m[i + 1] < 0xa0);
        }
        if (bad) {
                fprintf(stderr, "fuzz-client: unsafe error message \"%s\"\n", m);
                abort();
        }
}

/* Reads, and writes back when writable, the first and last item of a view. A fault here
 * means the library mapped a range the descriptor does not hold. */
static void touch(shmv_view *v)
{
        size_t n = shmv_view_len(v);
        if (n == 0)
                return;
        uint8_t item[16];
        if (shmv_view_itemsize(v) > sizeof(item))
                abort();
        for (ptrdiff_t i = 0; i < 2; i++) {
                if (shmv_view_get(v, -i, item) < 0)
                        abort();
                if (!shmv_view_readonly(v) && shmv_view_set(v, -i, item) < 0)
                        abort();
        }
}

static void view_keep(shmv_view *v, unsigned slot)
{
        touch(v);
        shmv_view_release(views[slot % NVIEWS]);
        views[slot % NVIEWS] = v;
}

static void run_op(cursor *ops)
{
        uint8_t op = take_byte(ops);
        unsigned arg = op >> 4;
        shmv_client **cp = &clients[arg & 1];
        shmv_client *c = *cp;
        const char *name = names[(arg >> 1) & 7];
        shmv_segment_info info, *list;
        shmv_view_info *vlist;
        shmv_client_info *clist;
        shmv_daemon_info st;
        size_t count;
        int r;

        switch (op & 15) {
        case 0:
                shmv_disconnect(c);
                *cp = NULL;
                r = shmv_connect(arg & 2 ? NULL : sock_path, cp);
                check_rc("shmv_connect", r);
                if (r < 0 && *cp) {
                        fprintf(stderr, "fuzz-client: shmv_connect failed and set its handle\n");
                        abort();
                }
                /* Whatever client_pid the hello had, the answer is 1 or 0. */
                if (r == 0 && (unsigned)shmv_client_pids_shared(*cp) > 1)
                        abort();
                break;
        case 1:
                shmv_disconnect(c);
                *cp = NULL;
                break;
        case 2: {
                uint8_t b = take_byte(ops);
                uint64_t size = sizes[b & 7];
                uint32_t mode = b & 0x40 ? 0644 : 0;
                if (b & 0x80)
                        r = shmv_segment_create_with_flags(c, name, size, mode, (b >> 3) & 3);
                else
                        r = shmv_segment_create(c, name, size, mode);
                check_rc("shmv_segment_create", r);
                break;
        }
        case 3:
                check_rc("shmv_segment_unlink", shmv_segment_unlink(c, name));
                break;
        case 4:
                check_rc("shmv_segment_seal", shmv_segment_seal(c, name));
                break;
        case 5:
                r = shmv_segment_stat(c, name, &info);
                check_rc("shmv_segment_stat", r);
                if (r == 0 && strnlen(info.name, sizeof(info.name)) == sizeof(info.name))
                        abort();
                break;
        case 6:
                r = shmv_segment_list(c, &list, &count);
                check_rc("shmv_segment_list", r);
                if (r == 0) {
                        for (size_t i = 0; i < count; i++)
                                if (strnlen(list[i].name, sizeof(list[i].name)) ==
                                    sizeof(list[i].name))
                                        abort();
                        shmv_segment_list_free(list);
                }
                break;
        case 7: {
                uint8_t b = take_byte(ops);
                uint64_t offset = offsets[b & 15];
                uint64_t length = lengths[b >> 4];
                uint8_t f = take_byte(ops);
                int flags = SHMV_READ | (f & 1 ? SHMV_WRITE : 0);
                if ((f & 2) && length <= PREFAULT_MAX)
                        flags |= SHMV_PREFAULT;
                shmv_view *v;
                r = shmv_view_open(c, name, offset, length, flags, &v);
                check_rc("shmv_view_open", r);
                if (r == 0) {
                        if ((length != SHMV_TO_END && shmv_view_len(v) != length) ||
                            shmv_view_readonly(v) != !(flags & SHMV_WRITE)) {
                                fprintf(stderr, "fuzz-client: view of %zu bytes, %s\n",
                                        shmv_view_len(v),
                                        shmv_view_readonly(v) ? "read-only" : "writable");
                                abort();
                        }
                        view_keep(v, f >> 2);
                }
                break;
        }
        case 8:
                shmv_view_release(views[arg % NVIEWS]);
                views[arg % NVIEWS] = NULL;
                break;
        case 9:
                r = shmv_segment_views(c, name, &vlist, &count);
                check_rc("shmv_segment_views", r);
                if (r == 0)
                        shmv_segment_views_free(vlist);
                break;
        case 10:
                r = shmv_client_list(c, &clist, &count);
                check_rc("shmv_client_list", r);
                if (r == 0)
                        shmv_client_list_free(clist);
                break;
        case 11:
                r = shmv_daemon_status(c, &st);
                check_rc("shmv_daemon_status", r);
                if (r == 0 &&
                    (strnlen(st.version, sizeof(st.version)) == sizeof(st.version) ||
                     strnlen(st.socket_path, sizeof(st.socket_path)) == sizeof(st.socket_path)))
                        abort();
                break;
        case 12: {
                shmv_watch *w;
                r = shmv_watch_open(sock_path, &w);
                check_rc("shmv_watch_open", r);
                if (r < 0)
                        break;
                if (shmv_watch_fd(w) < 0 || (unsigned)shmv_watch_pids_shared(w) > 1)
                        abort();
                /* The fake daemon ends every watch, so waiting without a limit ends. */
                for (unsigned i = 0; i <= arg; i++) {
                        shmv_event ev;
                        r = shmv_watch_next(w, i & 1 ? -1 : 60000, &ev);
                        check_rc("shmv_watch_next", r);
                        if (r < 0)
                                break;
                        (void)shmv_event_kind_name(ev.kind);
                        if (strnlen(ev.name, sizeof(ev.name)) == sizeof(ev.name) ||
                            strnlen(ev.client.comm, sizeof(ev.client.comm)) ==
                                    sizeof(ev.client.comm))
                                abort();
                }
                shmv_watch_close(w);
                break;
        }
        case 13: /* the views again, after whatever happened to their client meanwhile */
                for (unsigned i = 0; i < NVIEWS; i++)
                        if (views[i])
                                touch(views[i]);
                break;
        case 14: { /* a slice and a cast over a view: new handles on the same mapping */
                shmv_view *v = views[arg % NVIEWS], *s = NULL, *k = NULL;
                if (!v)
                        break;
                if (shmv_view_slice(v, 1, SHMV_NONE, -2, &s) == 0)
                        touch(s);
                if (shmv_view_cast(v, "I", &k) == 0)
                        touch(k);
                shmv_view_release(s);
                shmv_view_release(k);
                break;
        }
        case 15:
                if (arg & 4) {
                        /* The doorbell of a view: its generation, a notify, and a wait at once
                         * or for a few milliseconds (the first arms it: a request). */
                        shmv_view *v = views[((arg >> 1 & 1) | (arg >> 3) << 1) % NVIEWS];
                        if (!v)
                                break;
                        check_rc("shmv_view_notify", shmv_view_notify(v));
                        uint64_t seen = shmv_view_generation(v), got = seen;
                        r = shmv_view_wait(v, seen, arg & 1 ? 0 : 5, &got);
                        check_rc("shmv_view_wait", r);
                        if (r == 0 && got == seen)
                                abort(); /* returned without a change */
                        break;
                }
                if (arg & 2) {
                        /* The same through a wait set, which pipelines the wait on a
                         * connection of its own and reads the replies itself. */
                        shmv_waitset *ws;
                        r = shmv_waitset_new(c, &ws);
                        check_rc("shmv_waitset_new", r);
                        if (r < 0)
                                break;
                        r = shmv_waitset_add_segment(ws, name,
                                                     arg & 8 ? SHMV_WAIT_SEALED : SHMV_WAIT_EXISTS,
                                                     arg & 8 ? 0 : 5, 1);
                        check_rc("shmv_waitset_add_segment", r);
                        shmv_waitset_event ev;
                        struct pollfd p = {.fd = shmv_waitset_fd(ws), .events = POLLIN};
                        for (int i = 0; r == 0 && i < 4; i++) {
                                (void)poll(&p, 1, 20);
                                r = shmv_waitset_next(ws, &ev);
                                if (r == -EAGAIN)
                                        r = 0;
                                else if (r == 0 &&
                                         (ev.token != 1 || ev.status > 0 || ev.status < -4095))
                                        abort();
                                else
                                        check_rc("shmv_waitset_next", r);
                        }
                        shmv_waitset_free(ws);
                        break;
                }
                /* A wait: at once, or for a few milliseconds, for either condition. */
                (void)shmv_strerror(-(int)arg);
                check_rc("shmv_segment_wait",
                         shmv_segment_wait(c, name, arg & 8 ? SHMV_WAIT_SEALED : SHMV_WAIT_EXISTS,
                                           arg & 8 ? 0 : 5));
                break;
        }
        check_message();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        /* SIGPIPE stays fatal: the library must never raise it by writing to a socket the
         * fake daemon closed. */
        if (!mkdtemp(dir))
                die("mkdtemp");
        snprintf(sock_path, sizeof(sock_path), "%s/s.sock", dir);
        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
        if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(listen_fd, 16) < 0)
                die("listen");
        /* For shmv_connect(NULL, ...): the socket-path rule. */
        setenv("SHMVIEW_SOCKET", sock_path, 1);
        for (int i = 0; i < MAX_CONNS; i++)
                peer.conns[i].fd = -1;
        memset(long_name, 'n', SHMV_NAME_MAX);
        pthread_t t;
        if (pipe2(peer.control, O_CLOEXEC) < 0 || pipe2(peer.done, O_CLOEXEC) < 0 ||
            pthread_create(&t, NULL, peer_main, NULL) != 0)
                die("fake daemon");
        pthread_detach(t);
        trace = getenv("FUZZ_CLIENT_TRACE") != NULL;
        return 0;
}

__attribute__((destructor)) static void cleanup(void)
{
        if (listen_fd < 0)
                return;
        close(listen_fd);
        unlink(sock_path);
        rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        cursor all = {data + 1, size - 1};
        size_t nops = data[0];
        cursor ops = {take(&all, &nops), nops};

        int before = fd_count();
        peer.replies = all;
        peer.sticky = false;
        peer.next_view_id = 0;
        pipe_put(peer.control[1]);

        while (ops.n > 0)
                run_op(&ops);

        for (unsigned i = 0; i < NVIEWS; i++) {
                shmv_view_release(views[i]);
                views[i] = NULL;
        }
        for (unsigned i = 0; i < NCLIENTS; i++) {
                shmv_disconnect(clients[i]);
                clients[i] = NULL;
        }
        pipe_put(peer.control[1]);
        pipe_get(peer.done[0]);

        int after = fd_count();
        if (after != before) {
                fprintf(stderr, "fuzz-client: %d descriptors open after the input, %d before\n",
                        after, before);
                abort();
        }
        return 0;
}
