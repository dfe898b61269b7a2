/* Decoding and answering requests. */
#ifndef SHMVIEWD_DISPATCH_H
#define SHMVIEWD_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"
#include "server.h"

/* Answers one frame's payload, queueing the reply (if any) on the connection. May mark the
 * connection fail or close after flush (server.h), never closes it. */
void shmv__dispatch(shmv__conn *c, const uint8_t *payload, size_t len);
/* Queues an error reply: status is a positive errno, the message printf-formatted (cut at 511
 * bytes). Shared by every request handler. */
__attribute__((format(printf, 4, 5))) void shmv__reply_error(shmv__conn *c, uint64_t id, int status,
                                                             const char *fmt, ...);
/* The handler of each request in request.h: shmv__handle_<member>() answers req, whose body
 * is the row's, after the gates passed. They live in dispatch.c unless said otherwise
 * (inspect.c: views, clients, daemon_status; watch.c: watch; wait.c: wait). */
#define SHMV__HANDLER_DECLARE(body_, member_, reply_, flags_) \
        void shmv__handle_##member_(shmv__conn *c, const Shmview__Request *req);
SHMV__REQUESTS(SHMV__HANDLER_DECLARE)
#undef SHMV__HANDLER_DECLARE

/* The segment name in a request's field, copied into dst; false after an EINVAL reply. */
bool shmv__take_name(shmv__conn *c, uint64_t id, const ProtobufCBinaryData *field,
                     char dst[static SHMV_NAME_MAX + 1]);
/* The segment a request's field names, its name copied into dst; NULL after an EINVAL or
 * ENOENT reply. */
shmv__segment *shmv__take_segment(shmv__conn *c, uint64_t id, const ProtobufCBinaryData *field,
                                  char name[static SHMV_NAME_MAX + 1]);
/* This daemon's version, for the hello and status replies. */
void shmv__dispatch_version(ProtobufCBinaryData *ret);
/* The limits announced in the hello reply (and in status). */
void shmv__dispatch_limits(const shmv__server *s, Shmview__Limits *ret);

#endif
