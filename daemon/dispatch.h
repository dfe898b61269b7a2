/* Decoding and answering requests. */
#ifndef SHMVIEWD_DISPATCH_H
#define SHMVIEWD_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

/* Answers one frame's payload, queueing the reply (if any) on the connection. May mark the
 * connection failed or close_after_flush, never closes it. */
void shmv__dispatch(shmv__conn *c, const uint8_t *payload, size_t len);
/* The limits announced in the hello reply (and in status). */
void shmv__dispatch_limits(const shmv__server *s, Shmview__Limits *ret);

#endif
