/* The listening socket, the client connections and their I/O, on one libuv loop. */
#ifndef SHMVIEWD_SERVER_H
#define SHMVIEWD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
} shmv__config;

typedef struct shmv__server shmv__server;
typedef struct shmv__out shmv__out;

typedef struct shmv__conn {
        uv_poll_t poll; /* on fd; the struct is freed in its close callback */
        shmv__server *server;
        int fd;
        uint64_t serial; /* names the client in logs */
        shmv__peer peer;
        shmv__wire_in in;
        shmv__out *out_head;
        shmv__out *out_tail;
        size_t out_bytes; /* queued and not yet sent */
        shmv__view_table views;
        int events; /* what poll watches */
        bool greeted; /* hello answered */
        bool failed; /* close when the current dispatch is done */
        bool close_after_flush; /* read nothing more; close once the output is sent */
        bool paused; /* too much output queued: read nothing until it drains */
        bool eof;
        bool closing;
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
        uv_signal_t sigterm;
        uv_signal_t sigint;
        bool listener_init;
        bool timer_init;
        bool sigterm_init;
        bool sigint_init;
        bool socket_bound; /* the socket file is ours to unlink */
        bool stopping;
        dev_t sock_dev;
        ino_t sock_ino;
        shmv__conn *conns;
        unsigned nconns;
        uint64_t next_serial;
};

/* Binds the socket and starts accepting. On failure it logs why; call shmv__server_stop()
 * and run the loop to let the handles close either way. */
int shmv__server_init(shmv__server *s, uv_loop_t *loop, const shmv__config *config,
                      shmv__registry *registry);
/* Stops accepting, closes every connection and removes the socket file. uv_run() returns
 * once the handles are closed. */
void shmv__server_stop(shmv__server *s);

/* Queues a reply. When fd >= 0 it rides with the reply and segment is kept referenced until
 * it is sent. On failure the connection is marked failed and will be closed. */
int shmv__conn_send(shmv__conn *c, const Shmview__Response *resp, shmv__segment *segment, int fd);

#endif
