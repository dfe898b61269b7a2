/* Decoding and answering requests. */
#ifndef SHMVIEWD_DISPATCH_H
#define SHMVIEWD_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

/* Answers one frame's payload, queueing the reply (if any) on the connection. May mark the
 * connection fail or close after flush (server.h), never closes it. */
void shmv__dispatch(shmv__conn *c, const uint8_t *payload, size_t len);
/* Queues an error reply: status is a positive errno, the message printf-formatted (cut at 511
 * bytes). Shared by every request handler. */
__attribute__((format(printf, 4, 5))) void shmv__reply_error(shmv__conn *c, uint64_t id, int status,
                                                             const char *fmt, ...);
/* The limits announced in the hello reply (and in status). */
void shmv__dispatch_limits(const shmv__server *s, Shmview__Limits *ret);

#endif
