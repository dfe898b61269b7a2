/* Inspecting the daemon: the views open on a segment, the connected clients, the daemon's
 * status. Open to every client that may connect, like stat and list (docs/protocol.md). */
#ifndef SHMVIEWD_INSPECT_H
#define SHMVIEWD_INSPECT_H

#include <stdint.h>
#include <sys/types.h>

#include "server.h"

/* /proc/PID/comm of a peer, read once at accept, into dst (16 bytes with the NUL); empty when
 * the process is gone or not visible in the daemon's pid namespace. */
void shmv__inspect_comm(pid_t pid, char dst[static 16]);
/* Describes c in ref; ref points into c, so it lives as long as c. */
void shmv__inspect_client_ref(const shmv__conn *c, Shmview__ClientRef *ref);

/* The handlers of views, clients and daemon_status are declared in dispatch.h. */

#endif
