/* Watchers: connections that sent a watch request and from then on receive one Event frame
 * per change (docs/protocol.md, "Watching"). */
#ifndef SHMVIEWD_WATCH_H
#define SHMVIEWD_WATCH_H

#include <stdint.h>

#include "server.h"

/* Unread events a watcher may have queued; past it, the watcher gets one OVERFLOW event and
 * is closed once that is sent, so a watcher that does not read costs a bounded amount. */
#define SHMV__WATCH_QUEUE_BYTES (64u * 1024u)
/* Watchers at once, and per uid (the uids shmv__uid_limited() names; the others are bound
 * by the total only): each event costs the daemon one frame per watcher. */
#define SHMV__WATCHERS_MAX 64u
#define SHMV__WATCHERS_PER_UID 8u

/* The watch request's handler, shmv__handle_watch() (dispatch.h): c becomes a watcher
 * (replies EBUSY when it holds views, EUSERS past the watcher limits). */

/* Events, each sent to every watcher; cheap when there is none. actor is the connection that
 * caused it. */
void shmv__watch_client_connected(shmv__conn *actor);
/* Called as a connection closes, with the number of views it still held: stops it watching,
 * then tells the others it is gone. */
void shmv__watch_client_gone(shmv__conn *actor, unsigned views);
/* CREATED, UNLINKED or SEALED of the segment named name, after the fact. */
void shmv__watch_segment(shmv__conn *actor, Shmview__Event__Kind kind, const char *name);
void shmv__watch_view_opened(shmv__conn *actor, const shmv__view *v);
/* Before actor releases its view view_id (nothing when it has none). */
void shmv__watch_view_released(shmv__conn *actor, uint64_t view_id);

#endif
