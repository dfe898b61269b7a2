/* The listening socket, the client connections and their I/O, on one libuv loop. */
#ifndef SHMVIEWD_SERVER_H
#define SHMVIEWD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <glib.h>
#include <uv.h>

#include "segment.h"
#include "wire.h"

typedef struct shmv__config {
        char socket_path[108]; /* fits a sockaddr_un */
        mode_t socket_mode;
        /* Create the socket's directory when missing: for the default path only, not for one
         * given with --socket or $SHMVIEW_SOCKET. */
        bool socket_dir_create;
        /* What the daemon announces (shmv_limits, proto/limits.c). Per uid: uid 0 and the
         * daemon's own uid are bound by the totals alone. max_frame: request payload bytes,
         * at most SHMV__MAX_FRAME; stall_timeout_ms 0: never disconnect a client for not
         * reading. max_fds_per_message, max_name_len and list_page_size are the daemon's
         * constants, filled in where they are announced (shmv__dispatch_limits()). */
        shmv_limits limits;
        /* Creates of at least this many bytes reserve their pages on libuv's threadpool
         * (SHMV__CREATE_ASYNC_MIN; 0: every create), smaller ones on the loop thread. */
        uint64_t create_async_min;
        gid_t socket_group; /* (gid_t)-1: the daemon's */
        /* A listening socket passed by the service manager (socket activation), served
         * instead of binding socket_path; -1 when none. The server owns it. */
        int listen_fd;
        /* shmviewd --supervise (daemon/supervise.c): run the daemon under a supervisor, which
         * kills and restarts it when it has not pinged for watchdog_ms (0: never). */
        bool supervise;
        uint32_t watchdog_ms;
} shmv__config;

typedef struct shmv__server shmv__server;
typedef struct shmv__conn shmv__conn;
typedef struct shmv__watcher shmv__watcher;

/* Segments from this size up are reserved on libuv's threadpool rather than on the loop
 * thread; below it the hop costs more than the reservation (the figures are in
 * docs/performance.md, "Where the time goes, and what was changed"). */
#define SHMV__CREATE_ASYNC_MIN (UINT64_C(1) << 20)

/* What the served connections of one uid hold together (lingering ones included). */
typedef struct shmv__uid_usage {
        unsigned clients;
        unsigned views;
        unsigned fds; /* sent in replies that may still be unread (shmv__conn_fds_unread) */
} shmv__uid_usage;

/* A list of connections, oldest first. */
typedef struct shmv__conn_list {
        shmv__conn *head;
        shmv__conn *tail;
} shmv__conn_list;

struct shmv__server {
        uv_loop_t *loop;
        shmv__config config;
        shmv__registry *registry;
        int listen_fd;
        int reserve_fd; /* given up to accept and drop connections when out of descriptors */
        /* The server's handles, each with data pointing at the server: shmv__server_stop()
         * closes those that are initialized and not closing yet (uv_walk). */
        uv_poll_t listener;
        uv_timer_t accept_timer; /* restarts accepting after running out of descriptors */
        /* Runs while some connection may stall (nstalling) or descriptors may be unread */
        uv_timer_t stall_timer;
        uv_timer_t drain_timer; /* closes what is left when draining takes too long */
        uv_timer_t fds_timer; /* retries replies held for their descriptors */
        unsigned fds_retry_ms; /* its next delay */
        uint64_t fds_sent; /* descriptors sent in all, to see progress */
        uv_signal_t sigterm;
        uv_signal_t sigint;
        bool socket_bound; /* the socket file is ours to unlink */
        bool draining; /* SIGTERM: not accepting or reading; answering what was received */
        bool stopping;
        dev_t sock_dev;
        ino_t sock_ino;
        shmv__conn_list conns; /* served */
        /* Over a client limit, waiting for their first request to be told why: the oldest is
         * closed untold to make room. */
        shmv__conn_list refused;
        /* Closed, but kept until their peer has taken the descriptors sent to it: the daemon's
         * user is charged for descriptors in flight until then (docs/security.md,
         * "Connections"). They count against their uid's clients, and the total. */
        shmv__conn_list lingering;
        unsigned nconns; /* served, refused and lingering ones not included */
        unsigned nrefused;
        unsigned nlingering;
        /* Descriptors sent in replies that may still be unread, and the bound on them: half of
         * the daemon's RLIMIT_NOFILE, the kernel's limit on them (ETOOMANYREFS). */
        unsigned fds_unread;
        unsigned fds_unread_max;
        /* Paused, or to be closed once their output is sent: the stall timer closes those
         * whose output does not move for stall_timeout_ms. */
        unsigned nstalling;
        unsigned nblocked; /* requests in progress on the threadpool, closed connections' too */
        GHashTable *uid_usage; /* uid -> shmv__uid_usage of its served connections, no zeros */
        uint64_t refuse_warned_at; /* uv_now() of the last warning about a refusal */
        unsigned refused_unlogged;
        uint64_t next_serial;
        uint64_t started_usec; /* CLOCK_REALTIME, for status */
        uint64_t started_mono_usec; /* CLOCK_MONOTONIC */
        shmv__watcher *watchers; /* connections watching, daemon/watch.c */
        unsigned nwatchers;
        struct shmv__waits *waits; /* pending waits (daemon/wait.c), NULL when none */
};

/* Binds the socket (or takes config->listen_fd) and starts accepting. On failure it logs
 * why; call shmv__server_stop() and run the loop to let the handles close either way. */
int shmv__server_init(shmv__server *s, uv_loop_t *loop, const shmv__config *config,
                      shmv__registry *registry);
/* Stops accepting, closes every connection and removes the socket file. uv_run() returns
 * once the handles are closed. */
void shmv__server_stop(shmv__server *s);

/* Binds and listens on a Unix stream socket at cfg's socket_path, with its socket_group and
 * socket_mode, creating its directory when socket_dir_create says so, refusing a directory
 * that others may write to, and replacing a stale socket file of ours but never a live
 * daemon's. *ret_st is the socket file's stat, for shmv__socket_remove(). Logs why it fails.
 * The supervisor binds with it too (daemon/supervise.c). */
int shmv__socket_listen(const shmv__config *cfg, int *ret_fd, struct stat *ret_st);
/* Unlinks the socket file at path if it is still the one with that device and inode. */
void shmv__socket_remove(const char *path, dev_t dev, ino_t ino);

/* What the stall timer does for descriptors in flight: takes back those the peers have read,
 * and closes the lingering connections whose peer took everything or went. */
void shmv__server_check_fds(shmv__server *s);

/* A graceful stop (SIGTERM): tells the service manager STOPPING=1, stops accepting and
 * reading, answers the complete requests already received, sends every queued reply, then
 * stops; connections that have not drained within a few seconds are closed. */
void shmv__server_shutdown(shmv__server *s);

/* The served connections (refused ones not included), in no particular order: the first
 * when c is NULL, else the one after c; NULL after the last. */
shmv__conn *shmv__server_next_conn(const shmv__server *s, const shmv__conn *c);

/* A connection, from the rest of the daemon's side. Its I/O state (reading, paused, waiting
 * for the threadpool, closing) is server.c's own; the calls below are what a request handler,
 * a watcher or an inspection may do with it. */

shmv__server *shmv__conn_server(const shmv__conn *c);
/* Names the client in logs and inspection replies. */
uint64_t shmv__conn_serial(const shmv__conn *c);
const shmv__peer *shmv__conn_peer(const shmv__conn *c);
/* /proc/PID/comm of the peer at accept, NUL-terminated, possibly empty. */
const char *shmv__conn_comm(const shmv__conn *c);
/* When it connected, CLOCK_REALTIME in microseconds. */
uint64_t shmv__conn_connected_usec(const shmv__conn *c);
/* Its views; their count is also its uid's (max_views_per_uid) while it is served. */
shmv__view_table *shmv__conn_views(shmv__conn *c);
/* Its view view_id, or NULL. */
const shmv__view *shmv__conn_view(const shmv__conn *c, uint64_t view_id);
/* Views all the served connections of its uid hold together (0 when it is refused). */
unsigned shmv__conn_uid_views(const shmv__conn *c);

/* Over a client limit when it connected: why (its first request is answered EUSERS with this
 * and the connection closed), or NULL for a served connection. */
const char *shmv__conn_refused(const shmv__conn *c);
/* Hello answered. */
bool shmv__conn_greeted(const shmv__conn *c);
void shmv__conn_set_greeted(shmv__conn *c);
/* Its watcher once it watches (daemon/watch.c), else NULL. */
shmv__watcher *shmv__conn_watcher(const shmv__conn *c);
void shmv__conn_set_watcher(shmv__conn *c, shmv__watcher *w);

/* Reply bytes queued and not yet sent. */
size_t shmv__conn_queued_bytes(const shmv__conn *c);
/* Something went wrong with c: it is closed once the current dispatch is done, without
 * sending what is queued. */
void shmv__conn_fail(shmv__conn *c);
/* c reads nothing more and is closed once what is queued has been sent. */
void shmv__conn_close_after_flush(shmv__conn *c);
/* Failed or closed: nothing queued on it will be sent. */
bool shmv__conn_is_closing(const shmv__conn *c);

/* Queues a reply. When fd >= 0 it rides with the reply and segment is kept referenced until
 * it is sent. On failure the connection fails (shmv__conn_fail). */
int shmv__conn_send(shmv__conn *c, const Shmview__Response *resp, shmv__segment *segment, int fd);
/* Makes the loop flush c's queue soon: for output queued outside c's own callbacks (events
 * pushed to a watcher). Never closes c. */
void shmv__conn_wake(shmv__conn *c);

/* The request being dispatched goes on on libuv's threadpool (a create reserving its pages):
 * c answers nothing after it and reads nothing more until shmv__conn_pool_done(), so replies
 * keep the order of requests, and c's memory stays valid until then even if c is closed
 * meanwhile (shmv__conn_is_closing() tells). A draining server waits for it. */
void shmv__conn_pool_begin(shmv__conn *c);
/* Once the pool request's reply is queued (or not, c being closed): answers the frames that
 * waited, reads again, and drops what shmv__conn_pool_begin() held. c may be gone after. */
void shmv__conn_pool_done(shmv__conn *c);

#endif
