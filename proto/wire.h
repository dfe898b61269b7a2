/* The wire layer shared by shmviewd, libshmview and the CLI: length-prefixed frames of
 * protobuf-c messages over a Unix stream socket, with descriptors passed by SCM_RIGHTS.
 * Internal: never installed. See docs/protocol.md for the format. */
#ifndef SHMVIEW_WIRE_H
#define SHMVIEW_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <protobuf-c/protobuf-c.h>

#include "shmview.h"
#include "shmview.pb-c.h"

#define SHMV__PROTOCOL_VERSION 1u
#define SHMV__FRAME_HEADER 4u
/* Largest frame payload either side sends or accepts by default. */
#define SHMV__MAX_FRAME (128u * 1024u)
/* Descriptors one message may carry. Replies carry at most one; requests none. */
#define SHMV__MAX_FDS 1u
/* Descriptors a reader keeps queued before it closes what else arrives. */
#define SHMV__WIRE_FD_QUEUE 4u
/* What decoding one frame of at most max_frame bytes may allocate, in bytes: for the
 * library's replies SHMV__DECODE_LIMIT, for shmviewd's requests its --max-frame's. */
#define SHMV__DECODE_LIMIT_OF(max_frame) ((size_t)8 * (max_frame))
#define SHMV__DECODE_LIMIT SHMV__DECODE_LIMIT_OF(SHMV__MAX_FRAME)

typedef struct shmv__wire_in {
        uint8_t *buf;
        size_t start; /* first unconsumed byte */
        size_t len; /* bytes buffered, from buf[0] */
        size_t cap;
        uint32_t max_frame;
        size_t frame_len; /* payload length of the frame last returned, 0 if none */
        int fds[SHMV__WIRE_FD_QUEUE];
        unsigned nfds;
        unsigned fds_dropped; /* received beyond the queue, or with keep_fds false: closed */
        bool keep_fds; /* false: close every received descriptor at once */
        size_t peeked; /* bytes buffered by shmv__wire_in_peek() and still on the socket */
} shmv__wire_in;

int shmv__wire_in_init(shmv__wire_in *in, uint32_t max_frame, bool keep_fds);
/* Frees the buffer and closes queued descriptors. */
void shmv__wire_in_free(shmv__wire_in *in);
/* One recvmsg(MSG_CMSG_CLOEXEC) into the free space. Returns the bytes read (> 0), 0 at end of
 * stream, or -errno (-EAGAIN on a non-blocking socket with nothing to read). */
ssize_t shmv__wire_in_fill(shmv__wire_in *in, int sock);
/* Most a peek buffers: one take is then a single read into the stack. */
#define SHMV__WIRE_PEEK_MAX 4096u
/* Answer before taking off. shmv__wire_in_peek() buffers what the socket holds, up to
 * SHMV__WIRE_PEEK_MAX bytes, like shmv__wire_in_fill() but leaving it on the socket
 * (MSG_PEEK); shmv__wire_in_take() then takes those bytes off, with their descriptors.
 *
 * Taking bytes off a Unix stream socket wakes the peer if it sleeps in recvmsg() on its end
 * (the write-space wake-up, which recvmsg() does not filter), and a reply sent right after
 * finds the peer awake instead of having to wake it from idle: shmviewd peeks, answers the
 * frames, takes, then sends, and the library waits for a reply in recvmsg() itself, not in
 * poll(), which filters that wake-up out (docs/performance.md has the measurements).
 *
 * Returns as shmv__wire_in_fill(); -EBUSY while a peek is not taken. shmv__wire_in_take()
 * returns 0 or -errno; on a socket nobody else reads it cannot block. */
ssize_t shmv__wire_in_peek(shmv__wire_in *in, int sock);
int shmv__wire_in_take(shmv__wire_in *in, int sock);
/* When a whole frame is buffered, points *ret_payload and *ret_len at its payload and returns 1;
 * returns 0 while incomplete; -EMSGSIZE when the length prefix passes max_frame. The payload
 * stays valid until shmv__wire_in_consume() or the next fill. */
int shmv__wire_in_frame(shmv__wire_in *in, const uint8_t **ret_payload, size_t *ret_len);
/* Drops the frame last returned by shmv__wire_in_frame(). */
void shmv__wire_in_consume(shmv__wire_in *in);
/* Takes the oldest queued descriptor, or returns -1. The caller owns it. */
int shmv__wire_in_take_fd(shmv__wire_in *in);
/* Bytes buffered and not yet consumed. */
size_t shmv__wire_in_pending(const shmv__wire_in *in);

/* Packs msg behind a 4-byte little-endian length prefix into a new malloc()ed buffer.
 * Returns -EMSGSIZE when the payload would pass max_frame, -ENOMEM. */
int shmv__wire_pack(const ProtobufCMessage *msg, uint32_t max_frame, uint8_t **ret_buf,
                    size_t *ret_len);
/* The same in two steps, for a caller that has the memory: the frame's length, prefix
 * included (-EMSGSIZE when the payload would pass max_frame), then the frame written into dst
 * of that length. */
ssize_t shmv__wire_frame_size(const ProtobufCMessage *msg, uint32_t max_frame);
void shmv__wire_frame_write(const ProtobufCMessage *msg, size_t frame_size, uint8_t *dst);
/* One sendmsg(MSG_NOSIGNAL) of buf, with fd attached by SCM_RIGHTS when fd >= 0.
 * Returns the bytes sent or -errno. */
ssize_t shmv__wire_send(int sock, const uint8_t *buf, size_t len, int fd);
/* The same for iovcnt buffers in one sendmsg() (at most IOV_MAX). */
ssize_t shmv__wire_sendv(int sock, const struct iovec *iov, size_t iovcnt, int fd);
/* Sends all of buf on a blocking socket (fd, when >= 0, rides with the first byte). */
int shmv__wire_send_all(int sock, const uint8_t *buf, size_t len, int fd);

/* Bytes of its own that an arena hands out before it calls malloc(): room for any request
 * but a long list page, so that decoding one allocates nothing on the heap. */
#define SHMV__ARENA_INLINE 1024u

/* A protobuf-c allocator that refuses to hand out more than limit bytes in total, so that a
 * small frame cannot unpack into a large amount of memory. Blocks come from store while it
 * lasts (freed ones are not reused), then from malloc(). */
typedef struct shmv__wire_arena {
        ProtobufCAllocator allocator;
        size_t used;
        size_t limit;
        size_t store_used;
        size_t heap_blocks; /* blocks from malloc() not yet freed */
        max_align_t store[SHMV__ARENA_INLINE / sizeof(max_align_t)];
} shmv__wire_arena;

void shmv__wire_arena_init(shmv__wire_arena *a, size_t limit);
/* Whether a message decoded with the arena needs its free_unpacked(): not when every block
 * came from the store, which goes with the arena. */
static inline bool shmv__wire_arena_on_heap(const shmv__wire_arena *a)
{
        return a->heap_blocks > 0;
}

/* A NUL-terminated copy of a protobuf bytes field that is a valid segment name (1..255 bytes,
 * no '/', no NUL, no control characters, no characters that show as nothing or as a blank
 * (format characters such as U+200B and U+202E, separators but the space, other invisible
 * ones: docs/protocol.md, "Names"), not "." or ".."), into dst of SHMV_NAME_MAX + 1.
 * Returns 0 or -EINVAL. */
int shmv__name_check(const uint8_t *data, size_t len, char *dst);

/* The socket-path rule: arg when not NULL, else $SHMVIEW_SOCKET, else
 * $XDG_RUNTIME_DIR/shmview/shmview.sock when not root, else /run/shmview/shmview.sock.
 * -ENAMETOOLONG when it does not fit dst_len or a sockaddr_un. */
int shmv__socket_path(const char *arg, char *dst, size_t dst_len);

/* The fields of shmv_limits (proto/limits.c): the table behind shmv_limits_fields(), a
 * field's value, and the copies to and from the Limits message, field by field by name. */
const shmv_limits_field *shmv__limits_fields(size_t *ret_count);
uint64_t shmv__limits_get(const shmv_limits *l, const shmv_limits_field *f);
void shmv__limits_to_wire(const shmv_limits *src, Shmview__Limits *ret);
void shmv__limits_from_wire(const Shmview__Limits *src, shmv_limits *ret);

#endif
