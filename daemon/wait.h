/* Waits: requests answered once a segment of a name exists, or is sealed (docs/protocol.md,
 * "Waiting"). A wait is pending in the daemon until its condition holds, its deadline passes
 * or its connection closes; it holds no reference on any segment, only the name. */
#ifndef SHMVIEWD_WAIT_H
#define SHMVIEWD_WAIT_H

#include "server.h"

/* Pending waits per connection, per uid (the uids shmv__uid_limited() names) and in all:
 * each costs the daemon about SHMV__WAIT_COST bytes plus its name, and a timer; past a bound
 * a wait is refused with EUSERS (docs/security.md). */
#define SHMV__WAITS_PER_CONN 64u
#define SHMV__WAITS_PER_UID 1024u
#define SHMV__WAITS_MAX 16384u

/* The wait request's handler is shmv__handle_wait() (dispatch.h). */

/* After the segment name was created or sealed: answers the waits on name that now hold. */
void shmv__wait_segment_changed(shmv__server *s, const char *name);
/* As a connection closes: forgets its waits. */
void shmv__wait_client_gone(shmv__conn *c);
/* Waits pending on c, and on all connections. */
unsigned shmv__wait_count(const shmv__conn *c);
unsigned shmv__wait_total(const shmv__server *s);
/* The bytes one pending wait costs the daemon, its name aside (for status and the docs). */
size_t shmv__wait_cost(void);

#endif
