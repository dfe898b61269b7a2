/* Requests: decoding under the allocation limit, the handshake, and one handler per body. */
#include "dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect.h"
#include "log.h"
#include "request.h"
#include "wait.h"
#include "watch.h"

/* Segments in one ListReply: 256 of the largest SegmentInfo stay well under max_frame. */
#define LIST_PAGE_SIZE 256u

static uint8_t server_version[] = SHMV_VERSION_STRING;

void shmv__dispatch_version(ProtobufCBinaryData *ret)
{
        ret->data = server_version;
        ret->len = sizeof(server_version) - 1;
}

/* A ListReply entry packs into at most this many bytes (a 255-byte name and every number at
 * its widest), and the Response around the list into at most LIST_FRAME_OVERHEAD. */
#define LIST_ENTRY_MAX 320u
#define LIST_FRAME_OVERHEAD 64u

/* Segments in one ListReply: as many as fit max_frame, at most LIST_PAGE_SIZE. */
static uint32_t list_page_size(const shmv__config *cfg)
{
        uint32_t n = (cfg->limits.max_frame - LIST_FRAME_OVERHEAD) / LIST_ENTRY_MAX;
        return n < LIST_PAGE_SIZE ? n : LIST_PAGE_SIZE;
}

void shmv__reply_error(shmv__conn *c, uint64_t id, int status, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if ((size_t)n >= sizeof(msg))
                n = sizeof(msg) - 1;
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        resp.status = status;
        resp.message.data = (uint8_t *)msg;
        resp.message.len = (size_t)n;
        shmv__conn_send(c, &resp, NULL, -1);
}

static void reply_ok(shmv__conn *c, uint64_t id)
{
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        shmv__conn_send(c, &resp, NULL, -1);
}

bool shmv__take_name(shmv__conn *c, uint64_t id, const ProtobufCBinaryData *field,
                     char dst[static SHMV_NAME_MAX + 1])
{
        if (shmv__name_check(field->data, field->len, dst) == 0)
                return true;
        shmv__reply_error(c, id, EINVAL, "invalid segment name");
        return false;
}

shmv__segment *shmv__take_segment(shmv__conn *c, uint64_t id, const ProtobufCBinaryData *field,
                                  char name[static SHMV_NAME_MAX + 1])
{
        if (!shmv__take_name(c, id, field, name))
                return NULL;
        shmv__segment *s = shmv__segment_find(shmv__conn_server(c)->registry, name);
        if (!s)
                shmv__reply_error(c, id, ENOENT, "no such segment: %s", name);
        return s;
}

/* The client name for logs: printable, short. */
static void printable(const ProtobufCBinaryData *field, char *dst, size_t dst_len)
{
        size_t n = field->len < dst_len - 1 ? field->len : dst_len - 1;
        for (size_t i = 0; i < n; i++) {
                uint8_t b = field->data[i];
                dst[i] = b < 0x20 || b >= 0x7f ? '?' : (char)b;
        }
        dst[n] = '\0';
}

void shmv__dispatch_limits(const shmv__server *s, Shmview__Limits *ret)
{
        shmv_limits l = s->config.limits;
        l.max_fds_per_message = SHMV__MAX_FDS;
        l.max_name_len = SHMV_NAME_MAX;
        l.list_page_size = list_page_size(&s->config);
        shmv__limits_to_wire(&l, ret);
}

void shmv__handle_hello(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__Hello *h = req->hello;
        if (h->protocol_version != SHMV__PROTOCOL_VERSION) {
                log_info("client %" PRIu64 ": protocol version %" PRIu32 " not supported",
                         shmv__conn_serial(c), h->protocol_version);
                shmv__reply_error(c, id, EPROTO,
                                  "unsupported protocol version %" PRIu32 ", this daemon speaks %u",
                                  h->protocol_version, SHMV__PROTOCOL_VERSION);
                shmv__conn_close_after_flush(c);
                return;
        }
        Shmview__Limits limits;
        shmv__dispatch_limits(shmv__conn_server(c), &limits);
        Shmview__HelloReply hr = SHMVIEW__HELLO_REPLY__INIT;
        hr.protocol_version = SHMV__PROTOCOL_VERSION;
        shmv__dispatch_version(&hr.server_version);
        hr.limits = &limits;
        hr.client_pid = (uint32_t)shmv__conn_peer(c)->pid;
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        resp.body_case = SHMVIEW__RESPONSE__BODY_HELLO;
        resp.hello = &hr;
        if (shmv__conn_send(c, &resp, NULL, -1) < 0)
                return;
        if (!shmv__conn_greeted(c)) {
                char name[65];
                printable(&h->client_name, name, sizeof(name));
                log_debug("client %" PRIu64 " is \"%s\"", shmv__conn_serial(c), name);
        }
        shmv__conn_set_greeted(c);
}

/* "N bytes", and what they are charged when that is more: the limits count whole pages. */
static const char *size_text(const shmv__conn *c, uint64_t size, char *buf, size_t len)
{
        uint64_t charge = shmv__registry_charge(shmv__conn_server(c)->registry, size);
        if (charge == size)
                snprintf(buf, len, "%" PRIu64 " bytes", size);
        else
                snprintf(buf, len, "%" PRIu64 " bytes, charged %" PRIu64 " as whole pages", size,
                         charge);
        return buf;
}

/* The reply to a create, its log line and, on success, its event; r and why as from
 * shmv__segment_create(). A create that finished after its client went (c closing) gets the
 * log line and the event only. */
static void create_answer(shmv__conn *c, uint64_t id, const char *name, uint64_t size,
                          uint32_t mode, int r, const char *why)
{
        bool gone = shmv__conn_is_closing(c);
        char what[96];
        switch (r) {
        case 0:
                log_debug("client %" PRIu64 " created segment %s: %" PRIu64 " bytes, mode %04o%s",
                          shmv__conn_serial(c), name, size, mode ? mode : 0600,
                          gone ? " (the client is gone)" : "");
                if (!gone)
                        reply_ok(c, id);
                shmv__watch_segment(c, SHMVIEW__EVENT__KIND__CREATED, name);
                shmv__wait_segment_changed(shmv__conn_server(c), name);
                return;
        case -EEXIST:
                if (!gone)
                        shmv__reply_error(c, id, EEXIST, "segment exists: %s", name);
                return;
        case -EDQUOT:
                log_debug("client %" PRIu64 " (uid %u): over its quota for segment %s (%" PRIu64
                          " bytes): %s",
                          shmv__conn_serial(c), (unsigned)shmv__conn_peer(c)->uid, name, size, why);
                if (!gone)
                        shmv__reply_error(c, id, EDQUOT,
                                          "over the quota of uid %u: %s (max_bytes_per_uid %" PRIu64
                                          " with %" PRIu64 " in use, max_segments_per_uid %" PRIu32
                                          "; %s for %s)",
                                          (unsigned)shmv__conn_peer(c)->uid, why,
                                          shmv__conn_server(c)->config.limits.max_bytes_per_uid,
                                          shmv__registry_uid_bytes(shmv__conn_server(c)->registry,
                                                                   shmv__conn_peer(c)->uid),
                                          shmv__conn_server(c)->config.limits.max_segments_per_uid,
                                          size_text(c, size, what, sizeof(what)), name);
                return;
        default:
                log_debug("client %" PRIu64 ": no room for segment %s (%" PRIu64 " bytes): %s",
                          shmv__conn_serial(c), name, size, why ? why : "cannot allocate");
                if (!gone)
                        shmv__reply_error(c, id, ENOSPC, "out of memory budget: %s (%s for %s)",
                                          why ? why : "cannot allocate",
                                          size_text(c, size, what, sizeof(what)), name);
                return;
        }
}

/* A create whose pages are reserved on the threadpool. */
typedef struct create_job {
        uv_work_t work;
        shmv__conn *conn; /* waiting (shmv__conn_pool_begin) until the reply is queued */
        shmv__segment *segment; /* creating; the worker's until create_done */
        uint64_t id;
        uint64_t size;
        uint32_t mode;
        int err; /* what shmv__segment_reserve() returned */
        char name[SHMV_NAME_MAX + 1];
} create_job;

static void create_work(uv_work_t *work)
{
        shmv__worker_lower_priority();
        create_job *job = work->data;
        job->err = shmv__segment_reserve(job->segment);
}

/* On the loop thread. The segment is linked, or undone, before anything else can run, so a
 * request that follows sees it whole or not at all. */
static void create_done(uv_work_t *work, int status)
{
        create_job *job = work->data;
        /* UV_ECANCELED would mean the job never ran; nothing cancels it. */
        int err = status < 0 ? ECANCELED : job->err;
        const char *why = NULL;
        int r = shmv__segment_create_end(job->segment, err, &why);
        create_answer(job->conn, job->id, job->name, job->size, job->mode, r, why);
        shmv__conn_pool_done(job->conn);
        free(job);
}

/* Everything that fails cheaply is answered here, on the loop thread, as the charge is taken;
 * the pages of a large segment are then reserved on the threadpool while the loop serves
 * others, and this connection waits for the reply (docs/design.md). */
void shmv__handle_create(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__CreateRequest *cr = req->create;
        char name[SHMV_NAME_MAX + 1];
        if (!shmv__take_name(c, id, &cr->name, name))
                return;
        if (cr->size == 0) {
                shmv__reply_error(c, id, EINVAL, "size must be greater than 0: %s", name);
                return;
        }
        if (cr->mode & ~07777u) {
                shmv__reply_error(c, id, EINVAL, "mode %#" PRIo32 " has bits outside 07777: %s",
                                  cr->mode, name);
                return;
        }
        shmv__server *s = shmv__conn_server(c);
        const char *why = NULL;
        shmv__segment *seg;
        int r = shmv__segment_create_begin(s->registry, shmv__conn_peer(c), name, cr->size,
                                           cr->mode, cr->huge_pages, &seg, &why);
        if (r < 0) {
                create_answer(c, id, name, cr->size, cr->mode, r, why);
                return;
        }
        create_job *job = NULL;
        if (cr->size >= s->config.create_async_min)
                job = malloc(sizeof(*job));
        if (job) {
                *job = (create_job){
                        .conn = c, .segment = seg, .id = id, .size = cr->size, .mode = cr->mode};
                memcpy(job->name, name, sizeof(name));
                job->work.data = job;
                if (uv_queue_work(s->loop, &job->work, create_work, create_done) == 0) {
                        shmv__conn_pool_begin(c);
                        return;
                }
                free(job);
        }
        /* Small, or nothing to queue it with: here and now. */
        r = shmv__segment_create_end(seg, shmv__segment_reserve(seg), &why);
        create_answer(c, id, name, cr->size, cr->mode, r, why);
}

/* The replies unlink and seal share: the segment is gone, or the caller may not change it.
 * Returns whether r was one of those and is answered. */
static bool reply_refused(shmv__conn *c, uint64_t id, int r, const char *name)
{
        if (r == -ENOENT)
                shmv__reply_error(c, id, ENOENT, "no such segment: %s", name);
        else if (r == -EPERM)
                shmv__reply_error(c, id, EPERM, "permission denied: %s", name);
        else
                return false;
        return true;
}

void shmv__handle_unlink(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__NameRequest *nr = req->unlink;
        char name[SHMV_NAME_MAX + 1];
        if (!shmv__take_name(c, id, &nr->name, name))
                return;
        int r = shmv__segment_unlink(shmv__conn_server(c)->registry, shmv__conn_peer(c), name);
        if (reply_refused(c, id, r, name))
                return;
        log_debug("client %" PRIu64 " unlinked segment %s", shmv__conn_serial(c), name);
        reply_ok(c, id);
        shmv__watch_segment(c, SHMVIEW__EVENT__KIND__UNLINKED, name);
}

/* The reply to a seal and, on success, its event; r and why as from shmv__segment_seal(). A
 * seal that ended after its client went (c closing) gets the event only. */
static void seal_answer(shmv__conn *c, uint64_t id, const char *name, int r, const char *why)
{
        bool gone = shmv__conn_is_closing(c);
        if (r == 0) {
                log_debug("client %" PRIu64 " sealed segment %s", shmv__conn_serial(c), name);
                if (!gone)
                        reply_ok(c, id);
                shmv__watch_segment(c, SHMVIEW__EVENT__KIND__SEALED, name);
                shmv__wait_segment_changed(shmv__conn_server(c), name);
                return;
        }
        if (r == -EBUSY)
                log_debug("client %" PRIu64 ": segment %s not sealed: %s", shmv__conn_serial(c),
                          name, why);
        if (gone || reply_refused(c, id, r, name))
                return;
        switch (r) {
        case -ENOLCK:
                shmv__reply_error(
                        c, id, EPERM,
                        "a writer locked the seals of the segment (F_SEAL_SEAL); it cannot be "
                        "sealed: %s",
                        name);
                break;
        case -EBUSY:
                shmv__reply_error(c, id, EBUSY, "%s: %s", why, name);
                break;
        default:
                shmv__reply_error(c, id, ENOMEM, "the daemon is out of memory: %s", name);
                break;
        }
}

/* A seal whose kernel part runs on the threadpool: this connection waits for its reply, as
 * for a large create. */
typedef struct seal_wait {
        shmv__conn *conn; /* waiting (shmv__conn_pool_begin) until the reply is queued */
        uint64_t id;
        char name[SHMV_NAME_MAX + 1];
} seal_wait;

static void seal_done(void *data, int r, const char *why)
{
        seal_wait *w = data;
        seal_answer(w->conn, w->id, w->name, r, why);
        shmv__conn_pool_done(w->conn);
        free(w);
}

/* The cheap checks are answered at once; the kernel's part, which takes 150 ms when a page is
 * pinned and a pass over every page otherwise, waits on the threadpool (docs/design.md,
 * "Sealing a segment"). */
void shmv__handle_seal(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__NameRequest *nr = req->seal;
        char name[SHMV_NAME_MAX + 1];
        if (!shmv__take_name(c, id, &nr->name, name))
                return;
        seal_wait *w = malloc(sizeof(*w));
        if (!w) {
                seal_answer(c, id, name, -ENOMEM, NULL);
                return;
        }
        *w = (seal_wait){.conn = c, .id = id};
        memcpy(w->name, name, sizeof(name));
        const char *why = NULL;
        int r = shmv__segment_seal_start(shmv__conn_server(c)->registry, shmv__conn_peer(c), name,
                                         seal_done, w, &why);
        if (r == 1) {
                shmv__conn_pool_begin(c);
                return;
        }
        free(w);
        seal_answer(c, id, name, r, why);
}

static void segment_info(shmv__segment *s, Shmview__SegmentInfo *info)
{
        shmview__segment_info__init(info);
        info->name.data = (uint8_t *)s->name;
        info->name.len = strlen(s->name);
        info->size = s->size;
        info->uid = s->uid;
        info->gid = s->gid;
        info->mode = s->mode;
        info->sealed = s->sealed;
        info->views_ro = s->views_ro;
        info->views_rw = s->views_rw;
        info->created_usec = s->created_usec;
        info->generation = shmv__doorbell_generation(s);
}

void shmv__handle_stat(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__NameRequest *nr = req->stat;
        char name[SHMV_NAME_MAX + 1];
        shmv__segment *s = shmv__take_segment(c, id, &nr->name, name);
        if (!s)
                return;
        Shmview__SegmentInfo info;
        segment_info(s, &info);
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        resp.body_case = SHMVIEW__RESPONSE__BODY_STAT;
        resp.stat = &info;
        shmv__conn_send(c, &resp, NULL, -1);
}

void shmv__handle_list(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__ListRequest *lr = req->list;
        /* Names hold no NUL and are at most 255 bytes, so cutting after at its first NUL or
         * its 255th byte changes nothing about which names sort after it. */
        char after[SHMV_NAME_MAX + 1];
        size_t n = lr->after.len < SHMV_NAME_MAX ? lr->after.len : SHMV_NAME_MAX;
        if (n > 0)
                memcpy(after, lr->after.data, n);
        after[n] = '\0';

        shmv__segment *segs[LIST_PAGE_SIZE];
        Shmview__SegmentInfo infos[LIST_PAGE_SIZE];
        Shmview__SegmentInfo *ptrs[LIST_PAGE_SIZE];
        bool more;
        size_t count = shmv__segment_list(shmv__conn_server(c)->registry, after, segs,
                                          list_page_size(&shmv__conn_server(c)->config), &more);
        for (size_t i = 0; i < count; i++) {
                segment_info(segs[i], &infos[i]);
                ptrs[i] = &infos[i];
        }
        Shmview__ListReply list = SHMVIEW__LIST_REPLY__INIT;
        list.n_segments = count;
        list.segments = count ? ptrs : NULL;
        list.more = more;
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        resp.body_case = SHMVIEW__RESPONSE__BODY_LIST;
        resp.list = &list;
        shmv__conn_send(c, &resp, NULL, -1);
}

/* What open and reattach share: the range, permission and limit checks, in the order
 * docs/protocol.md gives, then the view in the connection's table and the reply. They differ
 * in whether the reply carries a descriptor (request.h): an open maps a new range, so its
 * length UINT64_MAX means to the end and it gets the descriptor to map; a reattach names the
 * resolved range the client already maps, so there UINT64_MAX is just too long and no
 * descriptor goes back. */
static void grant_view(shmv__conn *c, const Shmview__Request *req, shmv__segment *s,
                       const char *name, uint64_t offset, uint64_t length, bool writable,
                       bool armed)
{
        uint64_t id = req->id;
        const shmv__request_spec *spec = shmv__request_find(req->body_case);
        bool maps = spec->flags & SHMV__REQ_FD;
        if (length == UINT64_MAX && maps) {
                if (offset > s->size) {
                        shmv__reply_error(c, id, EINVAL, "range past the end of the segment: %s",
                                          name);
                        return;
                }
                length = s->size - offset;
        } else if (offset > UINT64_MAX - length) {
                shmv__reply_error(c, id, EOVERFLOW, "offset + length overflows");
                return;
        } else if (offset > s->size || length > s->size - offset) {
                shmv__reply_error(c, id, EINVAL, "range past the end of the segment: %s", name);
                return;
        }
        int r = shmv__segment_check_access(s, shmv__conn_peer(c), writable);
        if (r == 0 && writable && shmv__segment_write_sealed(s))
                r = -EPERM; /* a writer added F_SEAL_WRITE or F_SEAL_FUTURE_WRITE itself */
        if (r == -EPERM) {
                shmv__reply_error(c, id, EPERM, "cannot open a sealed segment writable: %s", name);
                return;
        }
        if (r == -EBUSY) {
                shmv__reply_error(c, id, EBUSY, "the segment is being sealed: %s", name);
                return;
        }
        if (r < 0) {
                shmv__reply_error(c, id, EACCES, "permission denied: %s", name);
                return;
        }
        const shmv__config *cfg = &shmv__conn_server(c)->config;
        if (shmv__view_table_count(shmv__conn_views(c)) >= cfg->limits.max_views_per_client) {
                shmv__reply_error(c, id, EMFILE,
                                  "too many views open (max_views_per_client %" PRIu32 ")",
                                  cfg->limits.max_views_per_client);
                return;
        }
        /* The same code as the connection's own limit: releasing a view, on any connection of
         * the uid, makes room; the message names which limit. */
        if (shmv__conn_uid_views(c) >= cfg->limits.max_views_per_uid &&
            shmv__uid_limited(shmv__conn_peer(c)->uid)) {
                log_debug("client %" PRIu64 " (uid %u): %s refused, max_views_per_uid %" PRIu32
                          " reached",
                          shmv__conn_serial(c), (unsigned)shmv__conn_peer(c)->uid, spec->name,
                          cfg->limits.max_views_per_uid);
                shmv__reply_error(c, id, EMFILE,
                                  "too many views open by uid %u on all its connections "
                                  "(max_views_per_uid %" PRIu32 ")",
                                  (unsigned)shmv__conn_peer(c)->uid, cfg->limits.max_views_per_uid);
                return;
        }
        int fd = -1;
        if (maps) {
                fd = writable ? shmv__segment_fd_rw(s) : shmv__segment_fd_ro(s);
                /* To a client EMFILE means its own view limit; the daemon's is ENFILE. */
                if (fd < 0) {
                        shmv__reply_error(c, id, fd == -EMFILE ? ENFILE : -fd,
                                          "the daemon cannot open segment %s %s: %s", name,
                                          writable ? "read-write" : "read-only", strerror(-fd));
                        return;
                }
        }
        shmv__view *v;
        r = shmv__view_open(shmv__conn_views(c), s, c, offset, length, writable, &v);
        if (r < 0) {
                shmv__reply_error(c, id, -r, "cannot %s a view: %s", spec->name, strerror(-r));
                return;
        }
        /* A view armed before a restart is armed again, for the waits that go on (a segment
         * sealed since, or without a doorbell, has nothing to arm). */
        if (armed)
                (void)shmv__doorbell_arm(shmv__conn_views(c), v);
        Shmview__OpenReply reply = SHMVIEW__OPEN_REPLY__INIT;
        reply.view_id = v->id;
        reply.offset = offset;
        reply.length = length;
        reply.segment_size = s->size;
        reply.writable = writable;
        reply.segment_id = s->id;
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        /* Both replies are an OpenReply, members of the same oneof (one union). */
        resp.body_case = spec->reply;
        resp.open = &reply;
        r = shmv__conn_send(c, &resp, maps ? s : NULL, fd);
        if (r < 0) {
                shmv__view_release(shmv__conn_views(c), v->id);
                return;
        }
        log_debug("client %" PRIu64 " %s view %" PRIu64 " of %s: %" PRIu64 " bytes at %" PRIu64
                  ", %s",
                  shmv__conn_serial(c), maps ? "opened" : "reattached", reply.view_id, name, length,
                  offset, writable ? "writable" : "read-only");
        shmv__watch_view_opened(c, v);
}

void shmv__handle_open(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__OpenRequest *o = req->open;
        char name[SHMV_NAME_MAX + 1];
        shmv__segment *s = shmv__take_segment(c, id, &o->name, name);
        if (!s)
                return;
        grant_view(c, req, s, name, o->offset, o->length, o->writable, false);
}

void shmv__handle_release(shmv__conn *c, const Shmview__Request *req)
{
        const Shmview__ReleaseRequest *rr = req->release;
        shmv__watch_view_released(c, rr->view_id);
        if (shmv__view_release(shmv__conn_views(c), rr->view_id))
                log_debug("client %" PRIu64 " released view %" PRIu64, shmv__conn_serial(c),
                          rr->view_id);
}

/* A view the client says it still maps from before a daemon restart (docs/systemd.md). The
 * daemon cannot see the client's mappings, so it grants exactly what an open of the same range
 * would: the same checks, in the same order, and the same limit; only no descriptor goes back.
 * A client claiming a view it never had gains nothing it could not get by asking for it. The
 * segment id makes sure the view is counted on the segment the client maps, not on a newer
 * one that took its name. */
void shmv__handle_reattach(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__ReattachRequest *ra = req->reattach;
        char name[SHMV_NAME_MAX + 1];
        shmv__segment *s = shmv__take_segment(c, id, &ra->name, name);
        if (!s)
                return;
        if (s->id != ra->segment_id) {
                /* Another segment took the name: the one the client maps is gone. */
                shmv__reply_error(c, id, ENOENT, "no such segment: %s", name);
                return;
        }
        grant_view(c, req, s, name, ra->offset, ra->length, ra->writable, ra->armed);
}

/* The handler of each request, by body case (request.h). */
typedef void handler_fn(shmv__conn *c, const Shmview__Request *req);
#define HANDLER(body_, member_, reply_, flags_) \
        [SHMVIEW__REQUEST__BODY_##body_] = shmv__handle_##member_,
static handler_fn *const handlers[SHMV__REQUEST_CASES] = {SHMV__REQUESTS(HANDLER)};
#undef HANDLER

void shmv__dispatch(shmv__conn *c, const uint8_t *payload, size_t len)
{
        shmv__wire_arena arena;
        shmv__wire_arena_init(&arena,
                              SHMV__DECODE_LIMIT_OF(shmv__conn_server(c)->config.limits.max_frame));
        Shmview__Request *req = shmview__request__unpack(&arena.allocator, len, payload);
        if (!req) {
                log_warning("client %" PRIu64 ": malformed request, closing", shmv__conn_serial(c));
                shmv__reply_error(c, 0, EINVAL, "malformed request");
                shmv__conn_close_after_flush(c);
                return;
        }

        uint64_t id = req->id;
        const shmv__request_spec *spec = shmv__request_find(req->body_case);
        /* A body this daemon does not know passes no gate that a known one could not. */
        unsigned flags = spec ? spec->flags : 0;
        const char *refused = shmv__conn_refused(c);
        if (refused) {
                shmv__reply_error(c, id, EUSERS, "%s", refused);
                shmv__conn_close_after_flush(c);
                goto out;
        }
        if (!shmv__conn_greeted(c) && !(flags & SHMV__REQ_UNGREETED)) {
                log_info("client %" PRIu64 ": no handshake, closing", shmv__conn_serial(c));
                shmv__reply_error(c, id, EPROTO, "the first request must be hello");
                shmv__conn_close_after_flush(c);
                goto out;
        }
        if (shmv__conn_watcher(c) && !(flags & SHMV__REQ_WATCHING)) {
                log_info("client %" PRIu64 ": request on a watching connection, closing",
                         shmv__conn_serial(c));
                shmv__conn_fail(c);
                goto out;
        }
        if (spec)
                handlers[req->body_case](c, req);
        else
                shmv__reply_error(c, id, EOPNOTSUPP, "request not supported by this daemon");
out:
        /* A request decoded entirely in the arena's store (most are) has nothing to free. */
        if (shmv__wire_arena_on_heap(&arena))
                shmview__request__free_unpacked(req, &arena.allocator);
}
