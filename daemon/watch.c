/* Watchers and the fan-out of events. An event is queued on every watcher's connection like a
 * reply; a watcher whose unread events pass SHMV__WATCH_QUEUE_BYTES is sent one last OVERFLOW
 * event and closed after it, rather than let its queue grow. */
#include "watch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dispatch.h"
#include "inspect.h"
#include "log.h"

struct shmv__watcher {
        shmv__conn *conn;
        uint64_t id; /* of the watch request, echoed by every event */
        bool overflowed;
        shmv__watcher *prev;
        shmv__watcher *next;
};

static void send_event(shmv__watcher *w, Shmview__Event *ev)
{
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = w->id;
        resp.body_case = SHMVIEW__RESPONSE__BODY_EVENT;
        resp.event = ev;
        shmv__conn_send(w->conn, &resp, NULL, -1);
        shmv__conn_wake(w->conn);
}

static void overflow(shmv__watcher *w)
{
        shmv__conn *c = w->conn;
        log_warning("client %" PRIu64 ": watcher has more than %u bytes of events unread, "
                    "closing it",
                    shmv__conn_serial(c), SHMV__WATCH_QUEUE_BYTES);
        Shmview__ClientRef ref;
        shmv__inspect_client_ref(c, &ref);
        Shmview__Event ev = SHMVIEW__EVENT__INIT;
        ev.kind = SHMVIEW__EVENT__KIND__OVERFLOW;
        ev.time_usec = shmv__now_usec();
        ev.client = &ref;
        w->overflowed = true;
        shmv__conn_close_after_flush(c);
        send_event(w, &ev);
}

/* Sends ev (kind, client and the kind's fields set) to every watcher. */
static void emit(shmv__server *s, Shmview__Event *ev)
{
        if (s->stopping)
                return;
        ev->time_usec = shmv__now_usec();
        for (shmv__watcher *w = s->watchers; w; w = w->next) {
                if (w->overflowed || shmv__conn_is_closing(w->conn))
                        continue;
                if (shmv__conn_queued_bytes(w->conn) >= SHMV__WATCH_QUEUE_BYTES)
                        overflow(w);
                else
                        send_event(w, ev);
        }
}

void shmv__handle_watch(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        shmv__server *s = shmv__conn_server(c);
        if (shmv__conn_watcher(c)) {
                /* Cannot happen: a watcher's requests close it. */
                shmv__conn_fail(c);
                return;
        }
        if (shmv__view_table_count(shmv__conn_views(c)) > 0) {
                shmv__reply_error(c, id, EBUSY, "a connection with views open cannot watch");
                return;
        }
        unsigned same_uid = 0;
        for (const shmv__watcher *w = s->watchers; w; w = w->next)
                same_uid += shmv__conn_peer(w->conn)->uid == shmv__conn_peer(c)->uid;
        if (s->nwatchers >= SHMV__WATCHERS_MAX ||
            (shmv__uid_limited(shmv__conn_peer(c)->uid) && same_uid >= SHMV__WATCHERS_PER_UID)) {
                log_info("client %" PRIu64 ": watch refused: %u watchers, %u of uid %u",
                         shmv__conn_serial(c), s->nwatchers, same_uid,
                         (unsigned)shmv__conn_peer(c)->uid);
                char msg[80];
                if (s->nwatchers >= SHMV__WATCHERS_MAX)
                        snprintf(msg, sizeof(msg), "too many watchers (at most %u)",
                                 SHMV__WATCHERS_MAX);
                else
                        snprintf(msg, sizeof(msg), "too many watchers for this uid (at most %u)",
                                 SHMV__WATCHERS_PER_UID);
                shmv__reply_error(c, id, EUSERS, "%s", msg);
                return;
        }
        shmv__watcher *w = calloc(1, sizeof(*w));
        if (!w) {
                shmv__reply_error(c, id, ENOMEM, "out of memory");
                return;
        }
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        Shmview__WatchReply reply = SHMVIEW__WATCH_REPLY__INIT;
        reply.queue_bytes = SHMV__WATCH_QUEUE_BYTES;
        resp.body_case = SHMVIEW__RESPONSE__BODY_WATCH;
        resp.watch = &reply;
        if (shmv__conn_send(c, &resp, NULL, -1) < 0) {
                free(w);
                return;
        }
        w->conn = c;
        w->id = id;
        w->next = s->watchers;
        if (s->watchers)
                s->watchers->prev = w;
        s->watchers = w;
        s->nwatchers++;
        shmv__conn_set_watcher(c, w);
        log_debug("client %" PRIu64 " watches", shmv__conn_serial(c));
}

static void client_event(shmv__conn *actor, Shmview__Event__Kind kind, unsigned views)
{
        shmv__server *s = shmv__conn_server(actor);
        if (!s->watchers)
                return;
        Shmview__ClientRef ref;
        shmv__inspect_client_ref(actor, &ref);
        Shmview__Event ev = SHMVIEW__EVENT__INIT;
        ev.kind = kind;
        ev.client = &ref;
        ev.views = views;
        emit(s, &ev);
}

void shmv__watch_client_connected(shmv__conn *actor)
{
        client_event(actor, SHMVIEW__EVENT__KIND__CLIENT_CONNECTED, 0);
}

void shmv__watch_client_gone(shmv__conn *actor, unsigned views)
{
        shmv__server *s = shmv__conn_server(actor);
        shmv__watcher *w = shmv__conn_watcher(actor);
        if (w) {
                if (w->prev)
                        w->prev->next = w->next;
                else
                        s->watchers = w->next;
                if (w->next)
                        w->next->prev = w->prev;
                s->nwatchers--;
                shmv__conn_set_watcher(actor, NULL);
                free(w);
        }
        client_event(actor, SHMVIEW__EVENT__KIND__CLIENT_GONE, views);
}

void shmv__watch_segment(shmv__conn *actor, Shmview__Event__Kind kind, const char *name)
{
        shmv__server *s = shmv__conn_server(actor);
        if (!s->watchers)
                return;
        Shmview__ClientRef ref;
        shmv__inspect_client_ref(actor, &ref);
        Shmview__Event ev = SHMVIEW__EVENT__INIT;
        ev.kind = kind;
        ev.client = &ref;
        ev.name.data = (uint8_t *)(uintptr_t)name;
        ev.name.len = strlen(name);
        const shmv__segment *seg = shmv__segment_find(s->registry, name);
        if (seg && kind == SHMVIEW__EVENT__KIND__CREATED) {
                ev.size = seg->size;
                ev.mode = seg->mode;
        }
        emit(s, &ev);
}

static void view_event(shmv__conn *actor, Shmview__Event__Kind kind, const shmv__view *v)
{
        Shmview__ClientRef ref;
        shmv__inspect_client_ref(actor, &ref);
        Shmview__Event ev = SHMVIEW__EVENT__INIT;
        ev.kind = kind;
        ev.client = &ref;
        ev.name.data = (uint8_t *)v->segment->name;
        ev.name.len = strlen(v->segment->name);
        ev.view_id = v->id;
        ev.offset = v->offset;
        ev.length = v->length;
        ev.writable = v->writable;
        emit(shmv__conn_server(actor), &ev);
}

void shmv__watch_view_opened(shmv__conn *actor, const shmv__view *v)
{
        if (shmv__conn_server(actor)->watchers)
                view_event(actor, SHMVIEW__EVENT__KIND__VIEW_OPENED, v);
}

void shmv__watch_view_released(shmv__conn *actor, uint64_t view_id)
{
        if (!shmv__conn_server(actor)->watchers)
                return;
        const shmv__view *v = shmv__conn_view(actor, view_id);
        if (v)
                view_event(actor, SHMVIEW__EVENT__KIND__VIEW_RELEASED, v);
}
