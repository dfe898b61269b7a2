/* shmviewd --supervise: a small service manager for where there is none (a container's entry
 * point). See docs/containers.md. */
#ifndef SHMVIEWD_SUPERVISE_H
#define SHMVIEWD_SUPERVISE_H

#include <stdint.h>

#include "server.h"

/* Binds cfg's socket, then runs argv (the daemon's command line without the supervisor's
 * options) as the daemon, again and again: the socket and the descriptors the daemon stores
 * are handed to each next one (LISTEN_FDS), as systemd does for a socket-activated service
 * with a file-descriptor store. A daemon that dies is restarted; SIGHUP restarts it from its
 * binary's path (an upgrade); SIGTERM or SIGINT stop both. With watchdog_ms > 0 the daemon
 * is given WATCHDOG_USEC and, once it said READY=1, killed and restarted when it stops
 * pinging, as systemd does. Returns the exit status. */
int shmv__supervise(const shmv__config *cfg, char **argv, uint32_t watchdog_ms);

#endif
