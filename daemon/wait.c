/* Waits for a segment to exist or to be sealed. Each pending wait is one record, on two lists:
 * its name's (found through a hash table, so a create or a seal costs a lookup when nobody
 * waits) and its connection's (so that a closing connection forgets its waits). A wait keys
 * on the name, not on a segment: when the segment is unlinked and created again, the wait
 * goes on for the new one. */
#include "wait.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "log.h"

enum {
        WAIT_EXISTS = 1,
        WAIT_SEALED = 2,
};

typedef struct waiter {
        uv_timer_t timer; /* the deadline; data points at the waiter */
        shmv__conn *conn;
        uint64_t id; /* of the wait request, echoed by its reply */
        unsigned what;
        uid_t uid;
        struct waiter *name_prev, *name_next;
        struct waiter *conn_next;
        char name[];
} waiter;

/* The daemon's waits, made at the first and freed with the last. */
typedef struct shmv__waits {
        GHashTable *by_name; /* name -> first waiter of the name (the key is its name) */
        GHashTable *by_conn; /* shmv__conn -> first waiter of the connection */
        GHashTable *by_uid; /* uid -> count, no zeros */
        unsigned total;
} shmv__waits;

size_t shmv__wait_cost(void)
{
        return sizeof(waiter) + 3 * 4 * sizeof(void *); /* and its three hash table entries */
}

static shmv__waits *waits_get(shmv__server *s)
{
        if (s->waits)
                return s->waits;
        shmv__waits *w = calloc(1, sizeof(*w));
        if (!w)
                return NULL;
        w->by_name = g_hash_table_new(g_str_hash, g_str_equal);
        w->by_conn = g_hash_table_new(g_direct_hash, g_direct_equal);
        w->by_uid = g_hash_table_new(g_direct_hash, g_direct_equal);
        s->waits = w;
        return w;
}

static void waits_put(shmv__server *s)
{
        shmv__waits *w = s->waits;
        if (!w || w->total > 0)
                return;
        g_hash_table_destroy(w->by_name);
        g_hash_table_destroy(w->by_conn);
        g_hash_table_destroy(w->by_uid);
        free(w);
        s->waits = NULL;
}

unsigned shmv__wait_total(const shmv__server *s)
{
        return s->waits ? s->waits->total : 0;
}

unsigned shmv__wait_count(const shmv__conn *c)
{
        const shmv__server *s = shmv__conn_server(c);
        if (!s->waits)
                return 0;
        unsigned n = 0;
        for (const waiter *x = g_hash_table_lookup(s->waits->by_conn, c); x; x = x->conn_next)
                n++;
        return n;
}

static unsigned uid_count(const shmv__waits *w, uid_t uid)
{
        return GPOINTER_TO_UINT(g_hash_table_lookup(w->by_uid, GUINT_TO_POINTER(uid)));
}

static void uid_add(shmv__waits *w, uid_t uid, int delta)
{
        unsigned n = uid_count(w, uid) + (unsigned)delta;
        if (n == 0)
                g_hash_table_remove(w->by_uid, GUINT_TO_POINTER(uid));
        else
                g_hash_table_insert(w->by_uid, GUINT_TO_POINTER(uid), GUINT_TO_POINTER(n));
}

static bool holds(shmv__server *s, const char *name, unsigned what)
{
        shmv__segment *seg = shmv__segment_find(s->registry, name);
        if (!seg)
                return false;
        if (what == WAIT_EXISTS)
                return true;
        /* A writer may have sealed the memfd itself: that counts as sealed too. */
        return seg->sealed || shmv__segment_write_sealed(seg);
}

static void on_timer_closed(uv_handle_t *h)
{
        free(h->data);
}

/* Takes x off its name's list (the caller takes it off its connection's) and frees it. */
static void waiter_unlink_name(shmv__server *s, waiter *x)
{
        shmv__waits *w = s->waits;
        if (x->name_prev) {
                x->name_prev->name_next = x->name_next;
        } else {
                g_hash_table_remove(w->by_name, x->name);
                if (x->name_next)
                        g_hash_table_insert(w->by_name, x->name_next->name, x->name_next);
        }
        if (x->name_next)
                x->name_next->name_prev = x->name_prev;
        uid_add(w, x->uid, -1);
        w->total--;
        uv_timer_stop(&x->timer);
        uv_close((uv_handle_t *)&x->timer, on_timer_closed);
}

static void waiter_unlink_conn(shmv__server *s, waiter *x)
{
        shmv__waits *w = s->waits;
        waiter *head = g_hash_table_lookup(w->by_conn, x->conn);
        if (head == x) {
                if (x->conn_next)
                        g_hash_table_insert(w->by_conn, x->conn, x->conn_next);
                else
                        g_hash_table_remove(w->by_conn, x->conn);
                return;
        }
        for (waiter *p = head; p; p = p->conn_next) {
                if (p->conn_next == x) {
                        p->conn_next = x->conn_next;
                        return;
                }
        }
}

/* Answers x (status 0, or ETIMEDOUT) and forgets it. */
static void waiter_answer(shmv__server *s, waiter *x, bool ok)
{
        shmv__conn *c = x->conn;
        if (!shmv__conn_is_closing(c)) {
                if (ok) {
                        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
                        resp.id = x->id;
                        shmv__conn_send(c, &resp, NULL, -1);
                } else {
                        shmv__reply_error(c, x->id, ETIMEDOUT, "timed out waiting for %s: %s",
                                          x->what == WAIT_SEALED ? "the seal of" : "segment",
                                          x->name);
                }
                shmv__conn_wake(c);
        }
        waiter_unlink_conn(s, x);
        waiter_unlink_name(s, x);
        waits_put(s);
}

static void on_deadline(uv_timer_t *t)
{
        waiter *x = t->data;
        shmv__server *s = shmv__conn_server(x->conn);
        /* Checked once more: a writer's own F_SEAL_WRITE wakes no one as it happens. */
        waiter_answer(s, x, holds(s, x->name, x->what));
}

void shmv__wait_segment_changed(shmv__server *s, const char *name)
{
        if (!s->waits)
                return;
        waiter *x = g_hash_table_lookup(s->waits->by_name, name);
        bool exists = x != NULL && shmv__segment_find(s->registry, name) != NULL;
        bool sealed = x != NULL && holds(s, name, WAIT_SEALED);
        while (x) {
                /* x may be freed (and the table's entry move) by the answer. */
                waiter *next = x->name_next;
                if (x->what == WAIT_SEALED ? sealed : exists)
                        waiter_answer(s, x, true);
                x = next;
                if (!s->waits)
                        break;
        }
}

void shmv__wait_client_gone(shmv__conn *c)
{
        shmv__server *s = shmv__conn_server(c);
        if (!s->waits)
                return;
        waiter *x = g_hash_table_lookup(s->waits->by_conn, c);
        if (!x)
                return;
        g_hash_table_remove(s->waits->by_conn, c);
        while (x) {
                waiter *next = x->conn_next;
                waiter_unlink_name(s, x);
                x = next;
        }
        waits_put(s);
}

static void reply_ok(shmv__conn *c, uint64_t id)
{
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        shmv__conn_send(c, &resp, NULL, -1);
}

void shmv__handle_wait(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__WaitRequest *wr = req->wait;
        shmv__server *s = shmv__conn_server(c);
        char name[SHMV_NAME_MAX + 1];
        if (!shmv__take_name(c, id, &wr->name, name))
                return;
        if (wr->what != WAIT_EXISTS && wr->what != WAIT_SEALED) {
                shmv__reply_error(c, id, EINVAL, "what must be 1 (exists) or 2 (sealed), not %u",
                                  (unsigned)wr->what);
                return;
        }
        if (holds(s, name, wr->what)) {
                reply_ok(c, id);
                return;
        }
        if (wr->timeout_ms == 0) {
                shmv__reply_error(c, id, ETIMEDOUT, "not %s: %s",
                                  wr->what == WAIT_SEALED ? "sealed" : "there", name);
                return;
        }
        uid_t uid = shmv__conn_peer(c)->uid;
        unsigned here = shmv__wait_count(c);
        unsigned of_uid = s->waits ? uid_count(s->waits, uid) : 0;
        if (here >= SHMV__WAITS_PER_CONN) {
                shmv__reply_error(c, id, EUSERS, "too many waits on this connection (at most %u)",
                                  SHMV__WAITS_PER_CONN);
                return;
        }
        if (shmv__wait_total(s) >= SHMV__WAITS_MAX ||
            (shmv__uid_limited(uid) && of_uid >= SHMV__WAITS_PER_UID)) {
                log_info("client %" PRIu64 ": wait refused: %u waits, %u of uid %u",
                         shmv__conn_serial(c), shmv__wait_total(s), of_uid, (unsigned)uid);
                if (shmv__wait_total(s) >= SHMV__WAITS_MAX)
                        shmv__reply_error(c, id, EUSERS, "too many waits (at most %u)",
                                          SHMV__WAITS_MAX);
                else
                        shmv__reply_error(c, id, EUSERS, "too many waits for this uid (at most %u)",
                                          SHMV__WAITS_PER_UID);
                return;
        }
        size_t len = strlen(name);
        waiter *x = calloc(1, sizeof(*x) + len + 1);
        shmv__waits *w = x ? waits_get(s) : NULL;
        if (!w) {
                free(x);
                shmv__reply_error(c, id, ENOMEM, "out of memory");
                return;
        }
        memcpy(x->name, name, len + 1);
        x->conn = c;
        x->id = id;
        x->what = wr->what;
        x->uid = uid;
        uv_timer_init(s->loop, &x->timer);
        x->timer.data = x;
        if (wr->timeout_ms > 0)
                uv_timer_start(&x->timer, on_deadline, (uint64_t)wr->timeout_ms, 0);
        waiter *first = g_hash_table_lookup(w->by_name, x->name);
        if (first) {
                /* After the first, so that the table's key (the first's name) stays. */
                x->name_next = first->name_next;
                x->name_prev = first;
                if (first->name_next)
                        first->name_next->name_prev = x;
                first->name_next = x;
        } else {
                g_hash_table_insert(w->by_name, x->name, x);
        }
        x->conn_next = g_hash_table_lookup(w->by_conn, c);
        g_hash_table_insert(w->by_conn, c, x);
        uid_add(w, uid, 1);
        w->total++;
}
