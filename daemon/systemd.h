/* The daemon's side of systemd's documented interfaces: socket activation and descriptors
 * passed at start (sd_listen_fds(3)), readiness, status and the watchdog (sd_notify(3)), and
 * the file-descriptor store. Every notification is a no-op without a service manager. */
#ifndef SHMVIEWD_SYSTEMD_H
#define SHMVIEWD_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct shmv__server shmv__server;

/* A descriptor passed by the service manager (LISTEN_FDS), with its name (LISTEN_FDNAMES). */
typedef struct shmv__passed_fd {
        int fd; /* -1 once taken */
        char *name;
} shmv__passed_fd;

/* Takes the descriptors passed to this process, close-on-exec, and unsets LISTEN_FDS and
 * friends so that no child inherits them. *ret is NULL and *ret_n 0 when there are none.
 * Free with shmv__sd_passed_free(). */
int shmv__sd_listen_fds(shmv__passed_fd **ret, size_t *ret_n);
/* Closes the descriptors not taken and frees the array. */
void shmv__sd_passed_free(shmv__passed_fd *p, size_t n);
/* Whether fd is a listening Unix stream socket. */
bool shmv__sd_is_listener(int fd);
/* Takes the listening Unix stream socket out of p (socket activation), or returns -1 when
 * there is none. The daemon serves one socket: other listening sockets are closed, with a
 * warning; what is not a listening socket stays in p. */
int shmv__sd_take_listener(shmv__passed_fd *p, size_t n);

/* Whether a service manager listens for notifications ($NOTIFY_SOCKET). */
bool shmv__sd_booted(void);
/* Whether that service manager keeps descriptors: systemd 254 and later say how many in
 * $FDSTORE; older ones say nothing, and the unit's FileDescriptorStoreMax= is trusted. */
bool shmv__sd_fdstore_enabled(void);
/* The store's size when the service manager tells it ($FDSTORE), else 0. */
uint64_t shmv__sd_fdstore_max(void);

/* One notification, e.g. "READY=1\nSTATUS=...". Returns 0 (also when there is no service
 * manager) or -errno. */
__attribute__((format(printf, 1, 2))) int shmv__sd_notify(const char *fmt, ...);
/* Hands fd to the store under name ("FDSTORE=1", "FDNAME="). name is at most 255 characters,
 * none of them ':' or a control character. */
int shmv__sd_fdstore(int fd, const char *name);
/* Removes every descriptor stored under name ("FDSTOREREMOVE=1"). */
int shmv__sd_fdstore_remove(const char *name);

/* Keeps the service manager informed while the loop runs: WATCHDOG=1 at half the interval
 * the unit's WatchdogSec= asks for, and a STATUS= line with the counts when they change. */
typedef struct shmv__sd_monitor {
        uv_timer_t watchdog;
        uv_timer_t status;
        bool watchdog_init;
        bool status_init;
        shmv__server *server;
        char last_status[128];
} shmv__sd_monitor;

/* Starts the timers (unreferenced: they do not keep the loop running). Without a service
 * manager it starts nothing. */
int shmv__sd_monitor_start(shmv__sd_monitor *m, uv_loop_t *loop, shmv__server *server);
/* Closes the timers; run the loop again to let them close. */
void shmv__sd_monitor_stop(shmv__sd_monitor *m);
/* The STATUS= text for now's counts, into buf. */
void shmv__sd_status_text(const shmv__server *server, char *buf, size_t size);

#endif
