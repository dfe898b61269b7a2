/* A raw protocol client for tests that must say what the library never would: malformed
 * frames, bad names, descriptors, floods, or that want the segment descriptor itself (the
 * library closes it once mapped). Speaks docs/protocol.md with the wire layer (proto/wire.h)
 * over a real socket to the test daemon. Every helper fails the test on an unexpected error. */
#ifndef SHMVIEW_TEST_RAW_H
#define SHMVIEW_TEST_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct th_raw {
        int fd;
        shmv__wire_in in;
        uint64_t next_id;
} th_raw;

/* How long a reply, or the end of the connection, may take before the test fails. */
#define TH_RAW_TIMEOUT_MS 10000

/* Connects to the socket at path (no hello). */
void th_raw_connect_to(th_raw *r, const char *path);
/* Connects where th_connect() and the library do: $SHMVIEW_SOCKET, the test daemon's socket
 * unless the test started a daemon of its own and named its socket there. */
void th_raw_connect(th_raw *r);
/* Says hello; the reply goes to *ret when given (free it as th_raw_recv's). */
void th_raw_hello(th_raw *r, Shmview__Response **ret);
/* Connects and says hello. */
void th_raw_connect_hello(th_raw *r);
void th_raw_close(th_raw *r);

void th_raw_send_bytes(th_raw *r, const void *buf, size_t len);
/* Sends buf with descriptors attached to its first byte. */
void th_raw_send_with_fds(th_raw *r, const void *buf, size_t len, const int *fds, size_t nfds);
/* A frame around payload, prefix included. */
void th_raw_send_payload(th_raw *r, const void *payload, size_t len);
/* Packs req with id and appends its frame to buf (*len bytes used of cap), to send several
 * frames in one write. */
void th_raw_append_frame(uint8_t *buf, size_t *len, size_t cap, Shmview__Request *req, uint64_t id);
/* Gives req the next id, packs and sends it; returns the id. */
uint64_t th_raw_send(th_raw *r, Shmview__Request *req);

/* The next reply, or NULL when the daemon closed the connection. *ret_fd (when given) gets
 * the descriptor that came with it, or -1. Free with shmview__response__free_unpacked(). */
Shmview__Response *th_raw_recv(th_raw *r, int *ret_fd);
/* th_raw_recv() of the reply to request id: fails the test when the connection ends or the
 * next reply answers another request. */
Shmview__Response *th_raw_recv_reply(th_raw *r, uint64_t id, int *ret_fd);
/* Sends req and returns the reply's status as a negative errno (0 on success); the reply
 * goes to *ret when given, its descriptor to *ret_fd when given. */
int th_raw_call(th_raw *r, Shmview__Request *req, Shmview__Response **ret, int *ret_fd);
/* True once the daemon has closed the connection (what it sent meanwhile is dropped);
 * false when it is still open after timeout_ms. */
bool th_raw_wait_closed(th_raw *r, int timeout_ms);

/* Requests by kind. name is sent as given, NUL bytes and all (name_len of them); it must
 * outlive req. The fill functions make req (its body in *b) without sending it: a create with
 * size and mode, an open of all of the segment, read-only; change b's fields to ask for more. */
void th_raw_fill_create(Shmview__Request *req, Shmview__CreateRequest *b, const char *name,
                        size_t name_len, uint64_t size, uint32_t mode);
void th_raw_fill_open(Shmview__Request *req, Shmview__OpenRequest *b, const char *name,
                      size_t name_len);
int th_raw_create(th_raw *r, const char *name, size_t name_len, uint64_t size, uint32_t mode);
int th_raw_open(th_raw *r, const char *name, size_t name_len, uint64_t offset, uint64_t length,
                bool writable, uint64_t *ret_view_id, int *ret_fd);
int th_raw_named(th_raw *r, Shmview__Request__BodyCase which, const char *name, size_t name_len);
void th_raw_release(th_raw *r, uint64_t view_id);

#endif
