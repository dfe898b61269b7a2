/* What each request of the protocol is, declared once for both ends (docs/design.md, "Adding a
 * request"). The daemon takes its gates and the body of its replies from here and adds a
 * handler per row (daemon/dispatch.c); the library takes the retry rule, the expected reply
 * and whether a descriptor comes with it. Internal: never installed. */
#ifndef SHMVIEW_REQUEST_H
#define SHMVIEW_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "shmview.pb-c.h"

/* Properties of a request, or'ed in its row. */
enum {
        /* May be sent again when its reply was lost with the connection: it changes nothing,
         * or (open) what it changed went with the daemon that died. create, unlink and seal
         * are not: the first may have taken effect, and the name may since name another
         * segment. */
        SHMV__REQ_RETRY = 1u << 0,
        /* Allowed before the hello; every other request there is refused (EPROTO) and the
         * connection closed after the reply. */
        SHMV__REQ_UNGREETED = 1u << 1,
        /* Allowed on a connection that watches; every other request there fails the
         * connection. No request has it: a watcher only receives. */
        SHMV__REQ_WATCHING = 1u << 2,
        /* Its successful reply carries a descriptor (SCM_RIGHTS). */
        SHMV__REQ_FD = 1u << 3,
        /* One-way: the daemon sends no reply. */
        SHMV__REQ_NO_REPLY = 1u << 4,
};

/* Every request: X(BODY, member, REPLY, flags), where BODY and member name the Request oneof
 * case (SHMVIEW__REQUEST__BODY_BODY, req->member) and REPLY the Response body of a successful
 * reply (_NOT_SET: none; a client ignores whatever body such a reply has). The daemon's
 * handler for the row is shmv__handle_<member>(). */
#define SHMV__REQUESTS(X)                                               \
        X(HELLO, hello, HELLO, SHMV__REQ_UNGREETED)                     \
        X(CREATE, create, _NOT_SET, 0)                                  \
        X(UNLINK, unlink, _NOT_SET, 0)                                  \
        X(SEAL, seal, _NOT_SET, 0)                                      \
        X(STAT, stat, STAT, SHMV__REQ_RETRY)                            \
        X(LIST, list, LIST, SHMV__REQ_RETRY)                            \
        X(OPEN, open, OPEN, SHMV__REQ_RETRY | SHMV__REQ_FD)             \
        X(RELEASE, release, _NOT_SET, SHMV__REQ_NO_REPLY)               \
        X(VIEWS, views, VIEWS, SHMV__REQ_RETRY)                         \
        X(CLIENTS, clients, CLIENTS, SHMV__REQ_RETRY)                   \
        X(DAEMON_STATUS, daemon_status, DAEMON_STATUS, SHMV__REQ_RETRY) \
        X(WATCH, watch, WATCH, 0)                                       \
        X(REATTACH, reattach, REATTACH, 0)                              \
        X(WAIT, wait, _NOT_SET, SHMV__REQ_RETRY)                        \
        X(DOORBELL_ARM, doorbell_arm, _NOT_SET, 0)

/* One more than the largest Request body case (checked in request.c). */
#define SHMV__REQUEST_CASES 32u

typedef struct shmv__request_spec {
        const char *name; /* the oneof member, as in shmview.proto */
        Shmview__Response__BodyCase reply;
        unsigned flags;
} shmv__request_spec;

/* The row of a request body, or NULL for one this build does not know (or none). */
const shmv__request_spec *shmv__request_find(Shmview__Request__BodyCase body);

/* Whether a successful reply's body is the one its request expects. */
static inline bool shmv__request_reply_ok(const shmv__request_spec *spec,
                                          const Shmview__Response *resp)
{
        return spec->reply == SHMVIEW__RESPONSE__BODY__NOT_SET || resp->body_case == spec->reply;
}

#endif
