/* libshmview: inspecting the daemon (views of a segment, clients, status) and watching it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct shmv_watch {
        shmv_client *client; /* a connection of its own */
        uint64_t id; /* of the watch request, echoed by every event */
};

int shmv_segment_name_check(const char *name)
{
        char tmp[SHMV_NAME_MAX + 1];
        if (!name)
                return -EINVAL;
        return shmv__name_check((const uint8_t *)name, strnlen(name, SHMV_NAME_MAX + 1), tmp);
}

/* Copies a bytes field into a fixed-size string, cut to fit, NUL-terminated. */
static void copy_bytes(char *dst, size_t dst_len, const ProtobufCBinaryData *src)
{
        size_t n = src->len < dst_len - 1 ? src->len : dst_len - 1;
        if (n > 0)
                memcpy(dst, src->data, n);
        dst[n] = '\0';
}

static void ref_from_wire(shmv_client_ref *dst, const Shmview__ClientRef *src)
{
        memset(dst, 0, sizeof(*dst));
        if (!src)
                return;
        dst->client_id = src->client_id;
        dst->pid = src->pid;
        dst->uid = src->uid;
        dst->gid = src->gid;
        copy_bytes(dst->comm, sizeof(dst->comm), &src->comm);
}

typedef struct views_pager {
        shmv__pager pager;
        Shmview__ViewsRequest body;
} views_pager;

static void views_ask(shmv__pager *p, Shmview__Request *req)
{
        views_pager *v = (views_pager *)p;
        req->body_case = SHMVIEW__REQUEST__BODY_VIEWS;
        req->views = &v->body;
}

static size_t views_count(const Shmview__Response *resp, bool *ret_more)
{
        *ret_more = resp->views->more;
        return resp->views->n_views;
}

static bool views_take(shmv__pager *p, const Shmview__Response *resp, void *dst)
{
        views_pager *vp = (views_pager *)p;
        const Shmview__ViewsReply *page = resp->views;
        shmv_view_info *out = dst;
        for (size_t i = 0; i < page->n_views; i++) {
                const Shmview__ViewInfo *v = page->views[i];
                shmv_view_info *d = &out[i];
                ref_from_wire(&d->client, v->client);
                d->view_id = v->view_id;
                d->offset = v->offset;
                d->length = v->length;
                d->writable = v->writable;
        }
        bool moved = page->cursor > vp->body.after;
        vp->body.after = page->cursor;
        return moved;
}

int shmv_segment_views(shmv_client *c, const char *name, shmv_view_info **ret, size_t *ret_count)
{
        shmv__error_clear();
        if (!c || !ret || !ret_count)
                return -EINVAL;
        views_pager v = {
                .pager = {.entry_size = sizeof(shmv_view_info),
                          .ask = views_ask,
                          .count = views_count,
                          .take = views_take},
                .body = SHMVIEW__VIEWS_REQUEST__INIT,
        };
        int r = shmv__name_field(&v.body.name, name);
        if (r < 0)
                return r;
        void *all;
        r = shmv__client_pages(c, &v.pager, &all, ret_count);
        if (r == 0)
                *ret = all;
        return r;
}

void shmv_segment_views_free(shmv_view_info *views)
{
        free(views);
}

typedef struct clients_pager {
        shmv__pager pager;
        Shmview__ClientsRequest body;
} clients_pager;

static void clients_ask(shmv__pager *p, Shmview__Request *req)
{
        clients_pager *cp = (clients_pager *)p;
        req->body_case = SHMVIEW__REQUEST__BODY_CLIENTS;
        req->clients = &cp->body;
}

static size_t clients_count(const Shmview__Response *resp, bool *ret_more)
{
        *ret_more = resp->clients->more;
        return resp->clients->n_clients;
}

static bool clients_take(shmv__pager *p, const Shmview__Response *resp, void *dst)
{
        clients_pager *cp = (clients_pager *)p;
        const Shmview__ClientsReply *page = resp->clients;
        shmv_client_info *out = dst;
        uint64_t last = cp->body.after;
        for (size_t i = 0; i < page->n_clients; i++) {
                const Shmview__ClientInfo *ci = page->clients[i];
                shmv_client_info *d = &out[i];
                memset(d, 0, sizeof(*d));
                ref_from_wire(&d->client, ci->client);
                d->connected_usec = ci->connected_usec;
                d->views = ci->views;
                d->bytes_mapped = ci->bytes_mapped;
                d->watching = ci->watching;
                d->waits = ci->waits;
                d->armed = ci->armed;
                d->self = d->client.client_id == page->self_id;
                if (d->client.client_id > last)
                        last = d->client.client_id;
        }
        bool moved = last > cp->body.after;
        cp->body.after = last;
        return moved;
}

int shmv_client_list(shmv_client *c, shmv_client_info **ret, size_t *ret_count)
{
        shmv__error_clear();
        if (!c || !ret || !ret_count)
                return -EINVAL;
        clients_pager cp = {
                .pager = {.entry_size = sizeof(shmv_client_info),
                          .ask = clients_ask,
                          .count = clients_count,
                          .take = clients_take},
                .body = SHMVIEW__CLIENTS_REQUEST__INIT,
        };
        void *all;
        int r = shmv__client_pages(c, &cp.pager, &all, ret_count);
        if (r == 0)
                *ret = all;
        return r;
}

void shmv_client_list_free(shmv_client_info *list)
{
        free(list);
}

const shmv_limits_field *shmv_limits_fields(size_t *ret_count)
{
        return shmv__limits_fields(ret_count);
}

uint64_t shmv_limits_get(const shmv_limits *l, const shmv_limits_field *f)
{
        return shmv__limits_get(l, f);
}

int shmv_daemon_status(shmv_client *c, shmv_daemon_info *ret)
{
        shmv__error_clear();
        if (!c || !ret)
                return -EINVAL;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__StatusRequest body = SHMVIEW__STATUS_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_DAEMON_STATUS;
        req.daemon_status = &body;
        shmv__reply reply;
        int r = shmv__client_call(c, &req, &reply);
        if (r < 0)
                return r;
        const Shmview__StatusReply *st = reply.msg->daemon_status;
        shmv_daemon_info info;
        memset(&info, 0, sizeof(info));
        copy_bytes(info.version, sizeof(info.version), &st->server_version);
        info.protocol_version = st->protocol_version;
        info.started_usec = st->started_usec;
        info.uptime_usec = st->uptime_usec;
        copy_bytes(info.socket_path, sizeof(info.socket_path), &st->socket_path);
        info.clients = st->clients;
        info.watchers = st->watchers;
        info.segments = st->segments;
        info.segments_unlinked = st->segments_unlinked;
        info.views = st->views;
        info.bytes_used = st->bytes_used;
        info.watch_queue_bytes = st->watch_queue_bytes;
        info.waits = st->waits;
        info.armed = st->armed;
        shmv__limits_from_wire(st->limits, &info.limits);
        shmv__reply_free(&reply);
        *ret = info;
        return 0;
}

const char *shmv_event_kind_name(int kind)
{
        static const char *const names[] = {
                [SHMV_EVENT_CREATED] = "created",
                [SHMV_EVENT_UNLINKED] = "unlinked",
                [SHMV_EVENT_SEALED] = "sealed",
                [SHMV_EVENT_VIEW_OPENED] = "view-opened",
                [SHMV_EVENT_VIEW_RELEASED] = "view-released",
                [SHMV_EVENT_CLIENT_CONNECTED] = "client-connected",
                [SHMV_EVENT_CLIENT_GONE] = "client-gone",
                [SHMV_EVENT_OVERFLOW] = "overflow",
        };
        if (kind <= 0 || (size_t)kind >= sizeof(names) / sizeof(names[0]) || !names[kind])
                return "unknown";
        return names[kind];
}

int shmv_watch_open(const char *socket_path, shmv_watch **ret)
{
        shmv__error_clear();
        if (!ret)
                return -EINVAL;
        shmv_watch *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        int r = shmv_connect(socket_path, &w->client);
        if (r < 0)
                goto fail_free;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__WatchRequest body = SHMVIEW__WATCH_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_WATCH;
        req.watch = &body;
        shmv__reply reply;
        r = shmv__client_call(w->client, &req, &reply);
        if (r < 0)
                goto fail_disconnect;
        w->id = reply.msg->id;
        shmv__reply_free(&reply);
        *ret = w;
        return 0;

fail_disconnect:
        shmv_disconnect(w->client);
fail_free:
        free(w);
        return r;
}

int shmv_watch_fd(const shmv_watch *w)
{
        if (!w)
                return -EINVAL;
        return shmv__client_fd(w->client);
}

int shmv_watch_pids_shared(const shmv_watch *w)
{
        if (!w)
                return -EINVAL;
        return shmv_client_pids_shared(w->client);
}

int shmv_watch_next(shmv_watch *w, int timeout_ms, shmv_event *ret)
{
        shmv__error_clear();
        if (!w || !ret)
                return -EINVAL;
        shmv__reply reply;
        int r = shmv__client_next_frame(w->client, timeout_ms < 0 ? -1 : timeout_ms, &reply);
        if (r < 0)
                return r;
        const Shmview__Response *resp = reply.msg;
        if (resp->id != w->id || resp->status != 0 ||
            resp->body_case != SHMVIEW__RESPONSE__BODY_EVENT) {
                shmv__reply_free(&reply);
                return -EPROTO;
        }
        const Shmview__Event *e = resp->event;
        shmv_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.kind = (int)e->kind;
        ev.time_usec = e->time_usec;
        ref_from_wire(&ev.client, e->client);
        copy_bytes(ev.name, sizeof(ev.name), &e->name);
        ev.size = e->size;
        ev.mode = e->mode;
        ev.view_id = e->view_id;
        ev.offset = e->offset;
        ev.length = e->length;
        ev.writable = e->writable;
        ev.views = e->views;
        shmv__reply_free(&reply);
        *ret = ev;
        return 0;
}

void shmv_watch_close(shmv_watch *w)
{
        if (!w)
                return;
        shmv_disconnect(w->client);
        free(w);
}
