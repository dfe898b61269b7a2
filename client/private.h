/* libshmview internals shared by client.c (connection, requests) and view.c (views). */
#ifndef SHMVIEW_CLIENT_PRIVATE_H
#define SHMVIEW_CLIENT_PRIVATE_H

#include <stdatomic.h>
#include <stdint.h>

#include "doorbell.h"
#include "request.h"
#include "shmview.h"
#include "wire.h"

/* The calling thread's daemon message (error.c), read with shmv_last_error_message(). Every
 * public call that talks to the daemon clears it first thing, before checking its arguments;
 * an error reply (status > 0) sets it to the reply's message, made safe to print and cut to
 * SHMV__MESSAGE_MAX bytes with the NUL (an empty message leaves it unset). Besides those, only
 * a write refused on a read-only view sets it (view.c), so the cleanup after a failure
 * (releases, disconnects) keeps it. */
#define SHMV__MESSAGE_MAX 512
void shmv__error_clear(void);
void shmv__error_set(const uint8_t *msg, size_t len);
/* Errors the library finds itself get a message too: sets it from fmt and returns err
 * (negative), as in `return shmv__error_setf(-EINVAL, "...", ...)`. */
__attribute__((format(printf, 2, 3))) int shmv__error_setf(int err, const char *fmt, ...);
/* The same for a bad segment name: -EINVAL, with the rule in the message. */
int shmv__error_bad_name(const char *name);
/* Why connect() to the socket at path failed with errno err: -ENOENT (no socket there),
 * -ENOTSOCK (something else is there), -EACCES, -ECONNREFUSED (a socket nobody listens on),
 * or -err, each with a message that names the path. */
int shmv__error_connect(const char *path, int err);

/* A client is reference counted: the caller's handle from shmv_connect() holds one reference,
 * and every live mapping holds one, so a mapping can still tell the daemon it is released
 * after the program called shmv_disconnect() (the connection is closed then; the release is
 * simply dropped). */
void shmv__client_ref(shmv_client *c);
void shmv__client_unref(shmv_client *c);
/* Tells the daemon that view_id, granted on connection conn_gen, is released. One-way;
 * errors are ignored, since the daemon releases everything of a connection that ends (and
 * the id means nothing on a later connection). */
void shmv__client_release_view(shmv_client *c, uint64_t view_id, uint64_t conn_gen);

/* A reply of the daemon, decoded into its own arena (wire.h) within SHMV__DECODE_LIMIT bytes:
 * on the stack of the call that reads it, so most replies cost no allocation. */
typedef struct shmv__reply {
        Shmview__Response *msg;
        /* The descriptor that came with it when its request's reply carries one (request.h),
         * else -1. The reply owns it until the caller takes it (and sets this to -1). */
        int fd;
        uint64_t conn_gen; /* the connection that answered */
        shmv__wire_arena arena;
} shmv__reply;
/* Frees the message and closes the descriptor still held. */
void shmv__reply_free(shmv__reply *reply);

/* The one request/reply exchange: sends req and reads its reply, checked against the request
 * table (request.h). Returns a negative errno for an error status (which sets the thread's
 * daemon message), -EPROTO for a reply body the row does not name, or the failure of the
 * exchange; else 0 with the reply in *ret, to free with shmv__reply_free(). */
int shmv__client_call(shmv_client *c, Shmview__Request *req, shmv__reply *ret);

/* A request answered a page at a time (list, views, clients), by shmv__client_pages(). The
 * caller embeds the pager first in a struct of its own that holds the request's body and the
 * cursor. */
typedef struct shmv__pager {
        size_t entry_size; /* of one entry of the array the caller gets */
        /* Sets req's body to ask for the page after the cursor. */
        void (*ask)(struct shmv__pager *p, Shmview__Request *req);
        /* The entries a page holds, and whether the daemon says more follow. */
        size_t (*count)(const Shmview__Response *resp, bool *ret_more);
        /* Copies a page's entries (at least one) into dst and moves the cursor past them;
         * false when it did not move forward. */
        bool (*take)(struct shmv__pager *p, const Shmview__Response *resp, void *dst);
} shmv__pager;
/* Asks for page after page until the daemon says there is no more (or a page is empty, or its
 * cursor does not move forward), into one malloc()ed array of *ret_count entries (NULL when
 * none) in *ret. */
int shmv__client_pages(shmv_client *c, shmv__pager *p, void **ret, size_t *ret_count);

/* How long one wait request asks the daemon to wait at most (client/wait.c, waitset.c): a
 * longer wait is asked again slice after slice, so that a daemon that stops answering is found
 * out within a slice plus the client's timeout. */
#define SHMV__WAIT_SLICE_MS 5000

/* A connection of c's own for one wait (client/wait.c): an idle one kept from an earlier
 * wait, else a new one to the same socket. Give it back with shmv__client_wait_conn_put(),
 * which keeps it for the next wait while it is connected and c is not disconnected. */
int shmv__client_wait_conn(shmv_client *c, shmv_client **ret);
void shmv__client_wait_conn_put(shmv_client *c, shmv_client *w);
/* c's call timeout (shmv_set_timeout()), -1 for none. */
int shmv__client_timeout(shmv_client *c);
int64_t shmv__mono_ms(void);

/* Points a request's bytes field at name after checking that it is a valid segment name, so
 * that a bad name never costs a round trip. -EINVAL otherwise. */
int shmv__name_field(ProtobufCBinaryData *field, const char *name);

/* Sends req on c (connecting first when c's connection is down) without reading its reply,
 * for a caller that reads replies itself with shmv__client_next_frame() and matches them by
 * req->id, set here. 0 or a negative errno (the connection is dropped then). */
int shmv__client_send(shmv_client *c, Shmview__Request *req);
/* What a reply to a request of kind body says: 0, the negative errno of its error status
 * (which sets the thread's daemon message), or -EPROTO for a body the row does not name. */
int shmv__reply_status(Shmview__Request__BodyCase body, const Shmview__Response *resp);

/* The next frame the daemon pushes (to a watcher), waiting up to timeout_ms (-1: no limit):
 * 0 with it in *ret (free with shmv__reply_free()), -EAGAIN on timeout, -EINTR on a signal,
 * or an error that closes the connection (-ECONNRESET at end of stream, -EPROTO for a frame
 * that cannot be decoded). */
int shmv__client_next_frame(shmv_client *c, int timeout_ms, shmv__reply *ret);
/* The connection's socket, -1 once closed. */
int shmv__client_fd(shmv_client *c);

/* One mmap of the pages holding a view's range, shared by the view handle shmv_view_open()
 * returned and all handles derived from it (slices, casts, read-only copies). The last
 * handle released unmaps it and sends the release. */
typedef struct shmv__mapping {
        atomic_uint refs;
        void *base; /* mmap address (page aligned) */
        size_t size; /* mmap length */
        shmv_client *client;
        uint64_t view_id; /* under the client's lock: a reconnect changes it; 0: none */
        uint64_t conn_gen; /* the connection view_id belongs to, under the lock too */
        bool writable; /* mapped PROT_READ|PROT_WRITE */
        /* What the daemon granted, to register the view again after it restarts. */
        uint64_t segment_id;
        uint64_t offset;
        uint64_t length;
        /* The segment's doorbell page (proto/doorbell.h), mapped read-write with a writable
         * view, read-only otherwise; NULL for a segment without one. In the view's own mmap
         * when the view reaches the segment's last page, else in doorbell_map. */
        struct shmv__doorbell *doorbell;
        void *doorbell_map; /* a mapping of its own, one page, or NULL */
        /* The daemon armed the doorbell for this view (client/doorbell.c): a reconnect arms
         * it again (reattach). */
        atomic_bool armed;
        /* The daemon said the segment is sealed: its generation will not change again. */
        atomic_bool sealed;
        struct shmv__mapping *prev; /* on the client's list, under its lock */
        struct shmv__mapping *next;
        char name[];
} shmv__mapping;

/* A new mapping goes on its client's list, so that a reconnect registers it again... */
void shmv__client_add_mapping(shmv_client *c, shmv__mapping *m);
/* ...and leaves it when it is unmapped, telling the daemon (one-way) when it counts it. */
void shmv__client_remove_mapping(shmv_client *c, shmv__mapping *m);

/* Which view of which segment the daemon granted, on which connection. */
typedef struct shmv__view_origin {
        const char *name;
        uint64_t segment_size;
        uint64_t memfd_size; /* the descriptor's: a doorbell page after the bytes or not */
        uint64_t segment_id;
        uint64_t view_id;
        uint64_t conn_gen; /* counts the client's connections: a reconnect makes a new one */
} shmv__view_origin;

/* Called by client.c once the daemon answered an open: maps fd and returns a new view over
 * [offset, offset + length) of the segment, format "B", read-only unless writable, every page
 * mapped at once with prefault (MAP_POPULATE), its mapping on the client's list. Takes fd on
 * success (it is closed once mapped); on failure the caller still owns it, and releases the
 * view at the daemon. */
int shmv__view_new(shmv_client *c, const shmv__view_origin *origin, int fd, uint64_t offset,
                   uint64_t length, bool writable, bool prefault, shmv_view **ret);

/* The system's page size. */
uint64_t shmv__page_size(void);
/* The mapping a view handle shares with the handles derived from it. */
shmv__mapping *shmv__view_mapping(const shmv_view *v);
/* The doorbell of v's segment (docs/protocol.md, "The doorbell"), NULL for a segment without
 * one (kept from a daemon before doorbells). */
struct shmv__doorbell *shmv__view_doorbell(const shmv_view *v);
/* Has the daemon arm v's doorbell, so that notifies wake its waiters: 0 once it has (a round
 * trip on v's client, under its lock, only the first time per view: slices and casts share
 * it), -EROFS when the segment is sealed (its generation will not change again), -ENOTSUP
 * without a doorbell, or the call's error. */
int shmv__view_doorbell_arm(shmv_view *v);
/* The arm request for m on c, whatever m->armed says (client.c): 0, or the daemon's error. */
int shmv__client_doorbell_arm(shmv_client *c, shmv__mapping *m);

#endif
