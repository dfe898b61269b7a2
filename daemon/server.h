/* The listening socket, the client connections and their I/O, on one libuv loop. */
#ifndef SHMVIEWD_SERVER_H
#define SHMVIEWD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>
#include <uv.h>

#include "segment.h"
#include "wire.h"

typedef struct shmv__config {
        char socket_path[108]; /* fits a sockaddr_un */
        mode_t socket_mode;
        uint64_t max_bytes;
        uint32_t max_segments;
        uint32_t max_clients;
        uint32_t max_views_per_client;
        /* Per uid; uid 0 and the daemon's own uid are bound by the totals alone. */
        uint32_t max_clients_per_uid;
        uint64_t max_bytes_per_uid;
        uint32_t max_segments_per_uid;
        uint32_t max_views_per_uid; /* on all the connections of one uid together */
        uint32_t max_frame; /* request payload bytes, at most SHMV__MAX_FRAME */
        uint32_t stall_timeout_ms; /* 0: never disconnect a client for not reading */
        /* Creates of at least this many bytes reserve their pages on libuv's threadpool
         * (SHMV__CREATE_ASYNC_MIN; 0: every create), smaller ones on the loop thread. */
        uint64_t create_async_min;
        gid_t socket_group; /* (gid_t)-1: the daemon's */
        /* A listening socket passed by the service manager (socket activation), served
         * instead of binding socket_path; -1 when none. The server owns it. */
        int listen_fd;
} shmv__config;

typedef struct shmv__server shmv__server;
typedef struct shmv__out shmv__out;
typedef struct shmv__watcher shmv__watcher;

/* Segments from this size up are reserved on libuv's threadpool rather than on the loop
 * thread. Measured on the 2-vCPU development machine (Linux 6.18): a uv_queue_work() round
 * trip of an empty job costs 7.7 us (p50; p99 16 to 43 us), fallocate() of a memfd 8 us at
 * 64 KiB, 34 us at 256 KiB, 134 us at 1 MiB, 540 us at 4 MiB, 147 ms at 1 GiB. From 1 MiB the
 * hop adds under 6% to the create; below it the loop stops for at most about 130 us, the time
 * of ten opens, and the hop would cost a create a quarter more at 256 KiB. */
#define SHMV__CREATE_ASYNC_MIN (UINT64_C(1) << 20)

/* What the served connections of one uid hold together. */
typedef struct shmv__uid_usage {
        unsigned clients;
        unsigned views;
} shmv__uid_usage;

typedef struct shmv__conn {
        uv_poll_t poll; /* on fd */
        /* The poll handle's, released in its close callback, and one while a create is in
         * progress (shmv__conn_block): the struct is freed at the last, so that a create can
         * finish after its client went. */
        unsigned refs;
        shmv__server *server;
        int fd;
        uint64_t serial; /* names the client in logs */
        shmv__peer peer;
        shmv__wire_in in;
        shmv__out *out_head;
        shmv__out *out_tail;
        size_t out_bytes; /* queued and not yet sent */
        shmv__view_table views; /* counted in uid_usage->views */
        shmv__uid_usage *uid_usage; /* its uid's, while served; NULL when refused */
        int events; /* what poll watches */
        bool greeted; /* hello answered */
        bool failed; /* close when the current dispatch is done */
        bool close_after_flush; /* read nothing more; close once the output is sent */
        bool paused; /* too much output queued: read nothing until it drains */
        /* A create is reserving its pages: the frames after it wait in `in`, and nothing is
         * read, until it is answered (shmv__conn_unblock). */
        bool blocked;
        uint64_t stalled_since; /* uv_now() when paused, or when a send last made progress */
        /* Over a client limit: the first request gets this status (EUSERS) and the
         * connection is closed. Not counted in nconns. */
        int refuse_status;
        const char *refuse_why;
        bool eof;
        bool closing;
        char comm[16]; /* /proc/PID/comm at accept (daemon/inspect.c), NUL-terminated */
        uint64_t connected_usec; /* CLOCK_REALTIME */
        shmv__watcher *watch; /* set once the connection watches (daemon/watch.c) */
        struct shmv__conn *prev;
        struct shmv__conn *next;
} shmv__conn;

struct shmv__server {
        uv_loop_t *loop;
        shmv__config config;
        shmv__registry *registry;
        int listen_fd;
        int reserve_fd; /* given up to accept and drop connections when out of descriptors */
        uv_poll_t listener;
        uv_timer_t accept_timer; /* restarts accepting after running out of descriptors */
        uv_timer_t stall_timer; /* runs while some connection is paused */
        uv_signal_t sigterm;
        uv_signal_t sigint;
        bool listener_init;
        bool timer_init;
        bool stall_timer_init;
        bool sigterm_init;
        bool sigint_init;
        bool socket_bound; /* the socket file is ours to unlink */
        bool draining; /* SIGTERM: not accepting or reading; answering what was received */
        bool drain_timer_init;
        uv_timer_t drain_timer; /* closes what is left when draining takes too long */
        bool stopping;
        dev_t sock_dev;
        ino_t sock_ino;
        shmv__conn *conns;
        unsigned nconns; /* served, refused ones not included */
        unsigned nrefused; /* waiting for their first request, to be told why */
        unsigned npaused;
        unsigned nblocked; /* creates in progress on the threadpool, closed connections' too */
        GHashTable *uid_usage; /* uid -> shmv__uid_usage of its served connections, no zeros */
        uint64_t refuse_warned_at; /* uv_now() of the last warning about a refusal */
        unsigned refused_unlogged;
        uint64_t next_serial;
        uint64_t started_usec; /* CLOCK_REALTIME, for status */
        uint64_t started_mono_usec; /* CLOCK_MONOTONIC */
        shmv__watcher *watchers; /* connections watching, daemon/watch.c */
        unsigned nwatchers;
};

/* Binds the socket (or takes config->listen_fd) and starts accepting. On failure it logs
 * why; call shmv__server_stop() and run the loop to let the handles close either way. */
int shmv__server_init(shmv__server *s, uv_loop_t *loop, const shmv__config *config,
                      shmv__registry *registry);
/* Stops accepting, closes every connection and removes the socket file. uv_run() returns
 * once the handles are closed. */
void shmv__server_stop(shmv__server *s);

/* A graceful stop (SIGTERM): tells the service manager STOPPING=1, stops accepting and
 * reading, answers the complete requests already received, sends every queued reply, then
 * stops; connections that have not drained within a few seconds are closed. */
void shmv__server_shutdown(shmv__server *s);

/* Whether the per-uid limits bind uid: all but uid 0 and the daemon's own, which could stop
 * the daemon anyway and are bound by the totals alone. */
bool shmv__uid_limited(uid_t uid);

/* Queues a reply. When fd >= 0 it rides with the reply and segment is kept referenced until
 * it is sent. On failure the connection is marked failed and will be closed. */
int shmv__conn_send(shmv__conn *c, const Shmview__Response *resp, shmv__segment *segment, int fd);
/* Makes the loop flush c's queue soon: for output queued outside c's own callbacks (events
 * pushed to a watcher). Never closes c. */
void shmv__conn_wake(shmv__conn *c);

/* The request being dispatched goes on off the loop thread (a create reserving its pages):
 * c answers nothing after it and reads nothing more until shmv__conn_unblock(), so replies
 * keep the order of requests, and c's memory stays valid until then even if c is closed
 * meanwhile (c->closing tells). A draining server waits for it. */
void shmv__conn_block(shmv__conn *c);
/* Once the blocking request's reply is queued (or not, c being closed): answers the frames
 * that waited, reads again, and drops what shmv__conn_block() held. c may be gone after. */
void shmv__conn_unblock(shmv__conn *c);

#endif
