/* Segments kept across daemon restarts in the service manager's file-descriptor store, with a
 * metadata memfd that says what each stored memfd is. See docs/systemd.md. */
#ifndef SHMVIEWD_FDSTORE_H
#define SHMVIEWD_FDSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "segment.h"
#include "systemd.h"

/* How many segments a restart can hand over. The next daemon gets the names of the stored
 * descriptors in LISTEN_FDNAMES, "LISTEN_FDNAMES=SOCKET:meta:0:1:...", one environment string,
 * and the kernel execs none longer than MAX_ARG_STRLEN, 32 pages with its NUL: 131072 bytes
 * with 4 KiB pages (E2BIG past it, and the daemon never starts). The socket's name is the
 * socket unit's FileDescriptorName=, at most 255 characters ("shmviewd.socket" by default,
 * "socket" under --supervise). Left for the segments' names, each with its ':':
 *     131072 - 1 (NUL) - 15 ("LISTEN_FDNAMES=") - 255 (the socket) - 5 (":meta") = 130796.
 * A segment's name is its record's slot in bijective base 64: 64 names of 1 character (2 bytes
 * with the ':'), 4096 of 2 (3 bytes), the rest of 3 (4 bytes), and the slots in use are the
 * lowest ones, so the most that fit is
 *     64 + 4096 + (130796 - 64 * 2 - 4096 * 3) / 4 = 64 + 4096 + 29595 = 33755.
 * The daemon keeps max_segments at or below it when it stores its segments, the units say it
 * (--max-segments, FileDescriptorStoreMax= 33756 with the metadata), and so does
 * docs/systemd.md. */
#define SHMV__FDNAMES_BYTES (32 * 4096 - 1 - 15 - 255 - 5)
#define SHMV__FDSTORE_SEGMENTS_MAX 33755
_Static_assert(64 * 2 + 4096 * 3 + (SHMV__FDSTORE_SEGMENTS_MAX - 64 - 4096) * 4 <=
                               SHMV__FDNAMES_BYTES &&
                       64 * 2 + 4096 * 3 + (SHMV__FDSTORE_SEGMENTS_MAX + 1 - 64 - 4096) * 4 >
                               SHMV__FDNAMES_BYTES,
               "SHMV__FDSTORE_SEGMENTS_MAX is the most segments whose names fit");

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
