/* Segments kept across daemon restarts in the service manager's file-descriptor store, with a
 * metadata memfd that says what each stored memfd is. See docs/systemd.md. */
#ifndef SHMVIEWD_FDSTORE_H
#define SHMVIEWD_FDSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "segment.h"
#include "systemd.h"

/* Re-adopts into r the segments that a previous daemon left in the store: passed[] are the
 * descriptors the service manager handed over that are not listening sockets. Every
 * descriptor in passed[] is taken (adopted, or closed and removed from the store) and its fd
 * set to -1. With keep true (a service manager with a store is there), *ret is a store that
 * keeps the segments created from now on; else *ret is NULL. Returns the number of segments
 * adopted. Fails (-errno) only when it cannot set up the store it was asked to keep; a
 * descriptor that does not check out is dropped with a log line and does not make it fail. */
int shmv__fdstore_open(shmv__registry *r, shmv__passed_fd *passed, size_t n, bool keep,
                       shmv__fdstore **ret);
/* Closes the metadata memfd (the service manager keeps its own copy). */
void shmv__fdstore_free(shmv__fdstore *st);

/* Records s and hands its memfd to the store. -ENOSPC, -EIO (the service manager did not
 * take it), -errno. */
int shmv__fdstore_add(shmv__fdstore *st, shmv__segment *s);
/* Forgets s and takes its memfd out of the store (at unlink: it must not come back). */
void shmv__fdstore_remove(shmv__fdstore *st, shmv__segment *s);

#endif
