/* shmview: shared-memory segments served by shmviewd, seen through memoryview-style views.
 *
 * Every function returning int returns 0 on success or a negative errno value; shmv_strerror()
 * turns it into a sentence, and shmv_last_error_message() gives the daemon's own message when
 * the daemon refused the request. Output parameters (ret, ret_*) are written only on success.
 * Handles are opaque. A client connection may be used from several threads at once; a single
 * view handle must not be released by one thread while another uses it (slices and
 * toreadonly() copies are separate handles and may live in different threads).
 */
#ifndef SHMVIEW_H
#define SHMVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMVIEW_BUILDING) && defined(__GNUC__)
#define SHMV_EXPORT __attribute__((visibility("default")))
#else
#define SHMV_EXPORT
#endif

#define SHMV_VERSION_MAJOR 0
#define SHMV_VERSION_MINOR 1
#define SHMV_VERSION_PATCH 0
#define SHMV_VERSION_STRING "0.1.0"

/* Longest segment name, in bytes, not counting the terminating NUL. */
#define SHMV_NAME_MAX 255

typedef struct shmv_client shmv_client;
typedef struct shmv_view shmv_view;

typedef struct shmv_segment_info {
        char name[SHMV_NAME_MAX + 1];
        uint64_t size; /* bytes, fixed at creation */
        uint32_t uid; /* owner: the creating client's uid */
        uint32_t gid; /* group: the creating client's gid */
        uint32_t mode; /* permission bits, as for a file (0600 by default) */
        bool sealed; /* immutable: no writable view can be opened */
        uint32_t views_ro; /* read-only views open on it, all clients together */
        uint32_t views_rw; /* writable views open on it */
        uint64_t created_usec; /* creation time, CLOCK_REALTIME microseconds */
        uint64_t generation; /* its doorbell's (shmv_view_generation()); 0 without one */
} shmv_segment_info;

/* Connection. socket_path NULL applies the socket-path rule: $SHMVIEW_SOCKET, else
 * $XDG_RUNTIME_DIR/shmview/shmview.sock when not root, else /run/shmview/shmview.sock.
 * Fails with -ENOENT when there is no socket at the path, -ENOTSOCK when something else is
 * there, -EACCES when the socket's permissions refuse, -ECONNREFUSED when nobody listens on
 * it (shmv_last_error_message() says which, with the path).
 * Release the client with shmv_disconnect(); views opened through it stay usable after.
 * When the daemon restarts, views stay usable too; calls return -ECONNREFUSED while no daemon
 * listens, and the first call after it is back connects again and registers the open views
 * with it. A create, unlink or seal whose reply was lost returns -ECONNRESET, its effect
 * unknown; other calls are sent again (docs/systemd.md).
 * A call waits for the daemon at most the client's timeout (shmv_set_timeout()), else fails
 * with -ETIMEDOUT and drops the connection, as when the daemon went away; so does
 * shmv_connect(), whose timeout is $SHMVIEW_TIMEOUT_MS when set, else SHMV_TIMEOUT_DEFAULT_MS. */
SHMV_EXPORT int shmv_connect(const char *socket_path, shmv_client **ret);
SHMV_EXPORT void shmv_disconnect(shmv_client *client); /* NULL is fine */

#define SHMV_TIMEOUT_DEFAULT_MS 30000
/* How long the client's calls wait for the daemon, in milliseconds (-1: without limit): to
 * get a connection accepted, to take a request, and for a reply to start arriving; a reply
 * that has started has as long again to arrive whole. A socket-activated daemon that never
 * comes up, or a daemon that hangs, then costs a call that long, not forever. Returns 0, or
 * -EINVAL for a timeout below -1 or of 0. */
SHMV_EXPORT int shmv_set_timeout(shmv_client *client, int timeout_ms);

/* The socket path that shmv_connect(NULL, ...) would use, into dst (dst_len bytes with NUL).
 * -ENAMETOOLONG when it does not fit. */
SHMV_EXPORT int shmv_default_socket_path(char *dst, size_t dst_len);

/* A static sentence for a negative errno value returned by this library. */
SHMV_EXPORT const char *shmv_strerror(int err);
/* The errno's symbolic name, "ENOENT" for -ENOENT (either sign), as libuv's uv_err_name();
 * "EUNKNOWN" for a value that has none. A static string. */
SHMV_EXPORT const char *shmv_err_name(int err);

/* The message of the calling thread's last failed call, saying what is wrong where
 * shmv_strerror() gives the class: the daemon's own, e.g. "out of memory budget: max_bytes
 * would be passed (1073741824 bytes for frames)", or the library's for what it finds itself
 * ("no socket at /run/x.sock (is shmviewd running?)", "not a segment name (...)",
 * "SHMVIEW_TIMEOUT_MS is 'abc', not a timeout (...)"); NULL when there is none. Per thread,
 * like errno: threads sharing a client each see their own.
 *
 * The functions that talk to the daemon clear it (to NULL) when called, before they check
 * their arguments: shmv_connect(), shmv_watch_open(), shmv_watch_next() and every function
 * that takes a shmv_client but shmv_set_timeout() and shmv_disconnect(). One of them that
 * fails because the daemon answered with an error status sets it to the daemon's message.
 * One that fails on a bad segment name or bad flags, an unusable $SHMVIEW_TIMEOUT_MS or
 * socket path, or because it could not connect (-ENOENT: no socket at the path, -ENOTSOCK:
 * not a socket, -EACCES, -ECONNREFUSED: nobody listening) sets the library's message. Other
 * failures (a NULL argument, a lost connection, a malformed reply, a failed mmap) leave it
 * NULL, as does a daemon error without a message. The view functions that refuse a write
 * to a read-only view with -EROFS (shmv_view_data_mut(), shmv_view_set(), shmv_view_set_at(),
 * shmv_view_write()) set it to a message naming the view's segment and range, without
 * clearing it first. No other function changes it: it still describes the last of those
 * calls after shmv_view_release(), shmv_disconnect() and the like, and after a view function
 * failed otherwise.
 *
 * The message comes from whatever listens on the socket, so it is made safe to print: valid
 * UTF-8 without control characters (each control character, and each byte that is not part
 * of valid UTF-8, becomes '?'), at most 511 bytes (longer ones are cut at a character
 * boundary). The string belongs to the calling thread; it stays valid and unchanged until
 * that thread calls one of the functions above again, or exits. A child process after fork()
 * starts with the forking thread's. */
SHMV_EXPORT const char *shmv_last_error_message(void);

/* Segments. size is in bytes (> 0); mode is permission bits (0 means 0600). */
SHMV_EXPORT int shmv_segment_create(shmv_client *c, const char *name, uint64_t size, uint32_t mode);
/* Back the segment with transparent huge pages where the system allows them
 * (/sys/kernel/mm/transparent_hugepage/shmem_enabled set to advise, within_size, always or
 * force); elsewhere the segment gets normal pages, as without the flag. Fewer, larger pages
 * make reading a large segment for the first time as fast as reading private memory, and
 * make SHMV_PREFAULT cheap (docs/performance.md). */
#define SHMV_SEGMENT_HUGE_PAGES 1u
/* shmv_segment_create() with flags: 0 or SHMV_SEGMENT_HUGE_PAGES; other bits are -EINVAL. */
SHMV_EXPORT int shmv_segment_create_with_flags(shmv_client *c, const char *name, uint64_t size,
                                               uint32_t mode, unsigned flags);
SHMV_EXPORT int shmv_segment_unlink(shmv_client *c, const char *name);
SHMV_EXPORT int shmv_segment_seal(shmv_client *c, const char *name);
SHMV_EXPORT int shmv_segment_stat(shmv_client *c, const char *name, shmv_segment_info *ret);
/* All segments, sorted by name. *ret is an array of *ret_count entries (NULL when there are
 * none), owned by the caller and freed with shmv_segment_list_free(). */
SHMV_EXPORT int shmv_segment_list(shmv_client *c, shmv_segment_info **ret, size_t *ret_count);
SHMV_EXPORT void shmv_segment_list_free(shmv_segment_info *list);

/* Waiting for a segment (docs/protocol.md, "Waiting"). */
#define SHMV_WAIT_EXISTS 1 /* a segment of the name exists */
#define SHMV_WAIT_SEALED 2 /* it exists and is sealed (with SHMV_WAIT_EXISTS or alone) */
/* Returns 0 as soon as what holds for name (at once when it already does), -ETIMEDOUT when
 * it does not within timeout_ms milliseconds (0: check once; below 0: no deadline, as poll()
 * reads it), or the usual errors. It waits for the name, not a segment: when the segment is
 * unlinked before it is sealed, the wait goes on for the next segment of that name. The daemon
 * answers when the condition holds; the wait runs on a connection of its own (one per waiting
 * thread, kept for the next wait), so other threads' calls on c go on meanwhile, and c's
 * timeout (shmv_set_timeout()) bounds only how long the daemon may be silent past the
 * deadline: a daemon that stops answering ends the wait with -ETIMEDOUT at most 5 s plus
 * that timeout later. Each wait costs the daemon a little memory, bounded per connection and
 * per uid: -EUSERS past those bounds (docs/security.md). */
SHMV_EXPORT int shmv_segment_wait(shmv_client *c, const char *name, int what, int timeout_ms);

/* Views. */
#define SHMV_READ 1
#define SHMV_WRITE 2
/* Opt-in for shmv_view_open(): map every page of the range at open (MAP_POPULATE), so that
 * the first pass over the view takes no page faults. Open then costs time that grows with the
 * view's size, much less with huge pages (docs/performance.md, "Reading a large view"), so it
 * is not the default. */
#define SHMV_PREFAULT 4
#define SHMV_TO_END UINT64_MAX
/* An omitted slice bound or step, as in m[:5] or m[::-1]. */
#define SHMV_NONE PTRDIFF_MIN

/* Opens a view over [offset, offset + length) of segment name (length SHMV_TO_END: to the
 * end). flags: SHMV_READ, or SHMV_READ | SHMV_WRITE, either with SHMV_PREFAULT. The new
 * view has format "B" and owns a mapping of exactly the pages that hold the range; release it
 * with shmv_view_release(). -EPROTO when the reply is not for the range asked, or its
 * descriptor could not back it (not a file sealed against shrinking that covers the range):
 * such a view could fault with SIGBUS when touched, so none is made. */
SHMV_EXPORT int shmv_view_open(shmv_client *c, const char *name, uint64_t offset, uint64_t length,
                               int flags, shmv_view **ret);
/* Creates segment name (size, mode as for shmv_segment_create(); flags 0 or
 * SHMV_SEGMENT_HUGE_PAGES and/or SHMV_PREFAULT) and opens a writable view of all of it, the
 * way Python's SharedMemory(create=True).buf is ready to write. When the open fails the
 * segment is unlinked again and the open's error returned. Release the view with
 * shmv_view_release(); the segment lives on until unlinked. */
SHMV_EXPORT int shmv_segment_create_open(shmv_client *c, const char *name, uint64_t size,
                                         uint32_t mode, unsigned flags, shmv_view **ret);
/* Releases one view handle. The mapping goes away, and the daemon is told, when the last
 * view over it (the opened one, its slices, casts and read-only copies) is released.
 * NULL is fine. */
SHMV_EXPORT void shmv_view_release(shmv_view *view);

/* The change doorbell (docs/views.md, "The change doorbell"; docs/protocol.md, "The
 * doorbell"). Every segment carries a 64-bit generation that starts at 0 and only grows, in a
 * page of its own that every view of the segment maps: any view, slice or cast of one reads
 * it and waits on it, only a writable one rings it.
 *
 * Grows the generation by one and wakes every waiter, on the segment's doorbell: through a
 * writable view (any slice or cast of one), with no system call when nobody waits. -EROFS
 * through a read-only view (the kernel refuses the write too: the page is mapped read-only,
 * and frozen by a seal); -ENOTSUP for a segment kept from a daemon before doorbells. */
SHMV_EXPORT int shmv_view_notify(shmv_view *v);
/* The generation now, with no system call (an atomic load); 0 for NULL or a segment without
 * a doorbell. */
SHMV_EXPORT uint64_t shmv_view_generation(const shmv_view *v);
/* Waits until the generation differs from seen: 0 with it in *ret_generation (may be NULL),
 * at once when it already does; -ETIMEDOUT when it does not within timeout_ms milliseconds
 * (0: look once; below 0: no deadline, as poll() reads it); -EROFS when the segment is sealed
 * and the generation is seen (it will not change again: a seal is itself one change, so a
 * wait that began before the seal returns 0 with it first); -ENOTSUP without a doorbell; or
 * the error of the one request a view's first wait makes to the daemon (to arm the doorbell,
 * under the client's lock). Signals do not end it. Waits in other threads, and their other
 * calls on the same client, go on meanwhile. */
SHMV_EXPORT int shmv_view_wait(shmv_view *v, uint64_t seen, int timeout_ms,
                               uint64_t *ret_generation);

/* The name of the segment the view is over, as it was opened; owned by the view (valid until
 * it is released). */
SHMV_EXPORT const char *shmv_view_name(const shmv_view *v);
/* Items along the first dimension; 0 for a zero-dimensional view (which holds one item). */
SHMV_EXPORT size_t shmv_view_len(const shmv_view *v);
SHMV_EXPORT size_t shmv_view_nbytes(const shmv_view *v); /* product(shape) * itemsize */
SHMV_EXPORT size_t shmv_view_itemsize(const shmv_view *v);
SHMV_EXPORT const char *shmv_view_format(const shmv_view *v);
SHMV_EXPORT ptrdiff_t shmv_view_stride(const shmv_view *v); /* strides[0] */
SHMV_EXPORT bool shmv_view_readonly(const shmv_view *v);
/* memoryview.c_contiguous and .f_contiguous (the same in one dimension). */
SHMV_EXPORT bool shmv_view_contiguous(const shmv_view *v);
SHMV_EXPORT bool shmv_view_f_contiguous(const shmv_view *v);

/* Dimensions, as memoryview's ndim, shape and strides: a view has one until a cast with a
 * shape gives it 0 (a single item) to SHMV_MAX_NDIM. shape and strides of a dimension past
 * ndim are 0. */
#define SHMV_MAX_NDIM 64
SHMV_EXPORT size_t shmv_view_ndim(const shmv_view *v);
SHMV_EXPORT size_t shmv_view_shape(const shmv_view *v, size_t dim); /* items along dim */
SHMV_EXPORT ptrdiff_t shmv_view_strides(const shmv_view *v, size_t dim); /* bytes between them */
SHMV_EXPORT const void *shmv_view_data(const shmv_view *v); /* address of item 0 */
/* Address of item 0 for writing, into *ret: 0, or -EROFS when the view is read-only (opened
 * without SHMV_WRITE, or a shmv_view_toreadonly() copy), with shmv_last_error_message()
 * naming the view's segment and range; -EINVAL when v or ret is NULL. */
SHMV_EXPORT int shmv_view_data_mut(shmv_view *v, void **ret);

/* Item access; negative indices count from the end; out of range is -ERANGE.
 * ret_item and item are itemsize bytes, in native byte order. On a view of more than one
 * dimension -ENOTSUP, as memoryview's "sub-views are not implemented". */
SHMV_EXPORT int shmv_view_get(const shmv_view *v, ptrdiff_t index, void *ret_item);
SHMV_EXPORT int shmv_view_set(shmv_view *v, ptrdiff_t index, const void *item);
/* m[i, j, ...]: n indices, one per dimension (-ENOTSUP for fewer, -EINVAL for more). */
SHMV_EXPORT int shmv_view_get_at(const shmv_view *v, const ptrdiff_t *index, size_t n,
                                 void *ret_item);
SHMV_EXPORT int shmv_view_set_at(shmv_view *v, const ptrdiff_t *index, size_t n, const void *item);

/* Python's v[start:stop:step]; SHMV_NONE for an omitted part; the first dimension of a view of
 * more, -EINVAL for a zero-dimensional one. Makes a new handle over the same mapping without
 * talking to the daemon; release it
 * with shmv_view_release(). */
SHMV_EXPORT int shmv_view_slice(const shmv_view *v, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
                                shmv_view **ret);
/* v[:] = src, src in C order: len must equal nbytes; follows the strides; src may overlap the
 * view. */
SHMV_EXPORT int shmv_view_write(shmv_view *v, const void *src, size_t len);
/* Copies the bytes in logical (C) order into dst (dst_len >= nbytes, else -ENOBUFS). */
SHMV_EXPORT int shmv_view_tobytes(const shmv_view *v, void *dst, size_t dst_len);
/* Python's bytes.hex(sep, bytes_per_sep) of tobytes(), NUL-terminated; sep 0 means none.
 * dst_len must be at least shmv_view_hex_size(v, sep, bytes_per_sep), else -ENOBUFS. */
SHMV_EXPORT int shmv_view_hex(const shmv_view *v, char *dst, size_t dst_len, char sep,
                              int bytes_per_sep);
SHMV_EXPORT size_t shmv_view_hex_size(const shmv_view *v, char sep, int bytes_per_sep);
/* memoryview.cast(format): a one-dimensional view of native single-character format
 * (b B h H i I l L q Q n N f d ? c P, optional '@', which format then keeps), from a
 * C-contiguous view (of more than one dimension: with no zero in its shape), one side a byte
 * format (b B c), nbytes a multiple of the new itemsize; otherwise -EINVAL. */
SHMV_EXPORT int shmv_view_cast(const shmv_view *v, const char *format, shmv_view **ret);
/* memoryview.cast(format, shape): the same, to ndim (0 to SHMV_MAX_NDIM) dimensions in C order,
 * with memoryview's further rules: one side of the cast has one dimension, no zero in the
 * view's shape nor in shape, product(shape) * itemsize == nbytes (so a zero-dimensional view,
 * shape unread, is one item); otherwise -EINVAL. */
SHMV_EXPORT int shmv_view_cast_shape(const shmv_view *v, const char *format, const size_t *shape,
                                     size_t ndim, shmv_view **ret);
/* A read-only handle over the same memory. */
SHMV_EXPORT int shmv_view_toreadonly(const shmv_view *v, shmv_view **ret);
/* memoryview ==: same shape and equal items, compared as values by their formats.
 * Returns 1 or 0. */
SHMV_EXPORT int shmv_view_equal(const shmv_view *a, const shmv_view *b);

/* One item unpacked into a native value, as memoryview.tolist() does. */
/* An anonymous union: standard in C11 and C++, a GNU extension that __extension__ keeps
 * quiet about in C99 -pedantic. */
#if defined(__GNUC__) && !defined(__cplusplus)
#define SHMV__ANONYMOUS __extension__
#else
#define SHMV__ANONYMOUS
#endif
typedef struct shmv_item {
        char format; /* the view's format character */
        SHMV__ANONYMOUS union {
                int64_t i; /* b h i l q n */
                uint64_t u; /* B H I L Q N P */
                double f; /* f d */
                bool b; /* ? */
                char c; /* c: one byte */
        };
} shmv_item;

/* Unpacks item index of v (of one dimension), or the item at one index per dimension. */
SHMV_EXPORT int shmv_view_item(const shmv_view *v, ptrdiff_t index, shmv_item *ret);
SHMV_EXPORT int shmv_view_item_at(const shmv_view *v, const ptrdiff_t *index, size_t n,
                                  shmv_item *ret);
/* memoryview.tolist(), flattened: unpacks all nbytes / itemsize items, in C order, into ret
 * (ret_len at least that, else -ENOBUFS). */
SHMV_EXPORT int shmv_view_tolist(const shmv_view *v, shmv_item *ret, size_t ret_len);

/* Inspection: who holds what, and the daemon's state (docs/protocol.md, "Inspecting the
 * daemon"). Any client that may connect may ask, as for shmv_segment_stat(). */

/* 0 when name is a valid segment name (1 to SHMV_NAME_MAX bytes, no '/', no control
 * character, no character that shows as nothing or as a blank such as U+200B or U+202E
 * (docs/protocol.md, "Names"), not "." or ".."), else -EINVAL. Asks nothing of the daemon. */
SHMV_EXPORT int shmv_segment_name_check(const char *name);

/* Longest command name the daemon reports (Linux's TASK_COMM_LEN less the NUL). */
#define SHMV_COMM_MAX 15

/* A client connection as the daemon saw it when it accepted it. */
typedef struct shmv_client_ref {
        uint64_t client_id; /* the daemon's number for the connection, from 1 */
        uint32_t pid; /* 0 when not visible in the daemon's pid namespace */
        uint32_t uid;
        uint32_t gid;
        char comm[SHMV_COMM_MAX + 1]; /* /proc/PID/comm at connect; raw bytes, may be "" */
} shmv_client_ref;

/* One view open on a segment. */
typedef struct shmv_view_info {
        shmv_client_ref client; /* who holds it */
        uint64_t view_id; /* its id on that client's connection */
        uint64_t offset;
        uint64_t length;
        bool writable;
} shmv_view_info;

/* The views open on segment name, all clients together, in the order they were opened.
 * *ret is an array of *ret_count entries (NULL when there are none), owned by the caller and
 * freed with shmv_segment_views_free(). */
SHMV_EXPORT int shmv_segment_views(shmv_client *c, const char *name, shmv_view_info **ret,
                                   size_t *ret_count);
SHMV_EXPORT void shmv_segment_views_free(shmv_view_info *views);

/* One connected client. */
typedef struct shmv_client_info {
        shmv_client_ref client;
        uint64_t connected_usec; /* CLOCK_REALTIME microseconds */
        uint32_t views; /* views it holds open */
        uint64_t bytes_mapped; /* the sum of their lengths */
        bool watching; /* a shmv_watch connection */
        bool self; /* the connection c that asked */
        uint32_t waits; /* shmv_segment_wait() calls pending on it */
        uint32_t armed; /* its views armed for shmv_view_wait() (one per view, from its first) */
} shmv_client_info;

/* The connected clients by client_id. *ret is an array of *ret_count entries (NULL when
 * there are none), owned by the caller and freed with shmv_client_list_free(). */
SHMV_EXPORT int shmv_client_list(shmv_client *c, shmv_client_info **ret, size_t *ret_count);
SHMV_EXPORT void shmv_client_list_free(shmv_client_info *list);

/* Whether the pids the daemon reports (shmv_client_ref.pid) name this process's neighbours:
 * 1 when the daemon sees this process under its own getpid(), so that both are in one pid
 * namespace; 0 when it sees it under another pid or none (a daemon on the host and a client
 * in a container, or the other way round), where its pids name other processes or none.
 * The daemon says so in the handshake of c's connection (of the last one, after a restart):
 * asks nothing of it. -EINVAL for NULL. */
SHMV_EXPORT int shmv_client_pids_shared(const shmv_client *c);

/* The daemon's limits, as announced at the handshake; 0 where a daemon announces none. */
typedef struct shmv_limits {
        uint32_t max_frame; /* bytes in one protocol frame */
        uint32_t max_fds_per_message;
        uint32_t max_clients;
        uint32_t max_views_per_client;
        uint32_t max_segments;
        uint64_t max_bytes; /* bytes in all segments together */
        uint32_t max_name_len;
        uint32_t list_page_size;
        uint32_t max_clients_per_uid;
        uint64_t max_bytes_per_uid;
        uint32_t stall_timeout_ms;
        uint32_t max_segments_per_uid;
        uint32_t max_views_per_uid; /* views of one uid on all its connections together */
} shmv_limits;

/* How a field of shmv_limits counts. */
enum {
        SHMV_LIMIT_COUNT = 0,
        SHMV_LIMIT_BYTES = 1,
        SHMV_LIMIT_MS = 2,
};

/* One field of shmv_limits, to print or copy all of them without naming each (as
 * `shmview status` and Python's Limits do): a program built against an older header still
 * sees the fields a newer library knows. */
typedef struct shmv_limits_field {
        const char *name; /* the member's name, "max_bytes" */
        const char *help; /* what it bounds, a short phrase */
        size_t offset; /* offsetof(shmv_limits, member) */
        size_t size; /* sizeof the member: 4 or 8 */
        int unit; /* SHMV_LIMIT_* */
} shmv_limits_field;

/* The fields of shmv_limits in their order in the struct: an array of *ret_count entries,
 * static. */
SHMV_EXPORT const shmv_limits_field *shmv_limits_fields(size_t *ret_count);
/* The value of field f of l, widened. */
SHMV_EXPORT uint64_t shmv_limits_get(const shmv_limits *l, const shmv_limits_field *f);

typedef struct shmv_daemon_info {
        char version[32]; /* the daemon's version string */
        uint32_t protocol_version;
        uint64_t started_usec; /* CLOCK_REALTIME microseconds */
        uint64_t uptime_usec;
        char socket_path[108]; /* where it listens */
        uint32_t clients; /* connections, the asking one and watchers included */
        uint32_t watchers;
        uint32_t segments; /* with a name */
        uint32_t segments_unlinked; /* unlinked, still held by views */
        uint64_t views; /* open, all clients together */
        uint64_t bytes_used; /* in all segments, unlinked ones included */
        uint32_t watch_queue_bytes; /* unread events a watcher may have before it is dropped */
        shmv_limits limits;
        uint32_t waits; /* shmv_segment_wait() calls pending, all clients together */
        uint32_t armed; /* views armed for shmv_view_wait(), all clients together */
} shmv_daemon_info;

SHMV_EXPORT int shmv_daemon_status(shmv_client *c, shmv_daemon_info *ret);

/* Watching: a connection of its own that receives one event per change in the daemon
 * (docs/protocol.md, "Watching"). A shmv_watch handle is for one thread at a time. */
typedef struct shmv_watch shmv_watch;

enum {
        SHMV_EVENT_CREATED = 1, /* name, size, mode */
        SHMV_EVENT_UNLINKED = 2, /* name */
        SHMV_EVENT_SEALED = 3, /* name */
        SHMV_EVENT_VIEW_OPENED = 4, /* name, view_id, offset, length, writable */
        SHMV_EVENT_VIEW_RELEASED = 5, /* the same */
        SHMV_EVENT_CLIENT_CONNECTED = 6,
        SHMV_EVENT_CLIENT_GONE = 7, /* views: how many it held, released with it */
        SHMV_EVENT_OVERFLOW = 8, /* the watcher fell behind: the last event */
};

typedef struct shmv_event {
        int kind; /* SHMV_EVENT_*; others may come from a newer daemon */
        uint64_t time_usec; /* CLOCK_REALTIME microseconds */
        shmv_client_ref client; /* who did it (for OVERFLOW: the watcher itself) */
        char name[SHMV_NAME_MAX + 1]; /* the segment, "" for client events */
        uint64_t size;
        uint32_t mode;
        uint64_t view_id;
        uint64_t offset;
        uint64_t length;
        bool writable;
        uint32_t views;
} shmv_event;

/* "created", "unlinked", "sealed", "view-opened", "view-released", "client-connected",
 * "client-gone", "overflow", or "unknown". A static string. */
SHMV_EXPORT const char *shmv_event_kind_name(int kind);

/* Connects to the daemon (socket_path as for shmv_connect()) and starts watching. Release
 * the handle with shmv_watch_close(). */
SHMV_EXPORT int shmv_watch_open(const char *socket_path, shmv_watch **ret);
/* The socket, for poll(): readable when shmv_watch_next() may have an event. Events already
 * buffered do not make it readable, so call shmv_watch_next(w, 0, ...) until -EAGAIN before
 * polling again. Owned by the handle. */
SHMV_EXPORT int shmv_watch_fd(const shmv_watch *w);
/* shmv_client_pids_shared() for the watch's connection: whether the pids of its events are
 * this process's neighbours. */
SHMV_EXPORT int shmv_watch_pids_shared(const shmv_watch *w);
/* The next event, waiting up to timeout_ms milliseconds (-1: without limit, 0: not at all).
 * -EAGAIN when none came in time, -EINTR when a signal interrupted the wait, -ECONNRESET
 * once the daemon has closed the watch (after an OVERFLOW event, or when it stopped). */
SHMV_EXPORT int shmv_watch_next(shmv_watch *w, int timeout_ms, shmv_event *ret);
SHMV_EXPORT void shmv_watch_close(shmv_watch *w); /* NULL is fine */

/* Waiting from an event loop (docs/protocol.md, "Waiting from an event loop"): a wait set
 * holds any number of one-shot waits, for a segment to exist or be sealed and for a view's
 * generation to move past a value, behind one descriptor that a program built on epoll,
 * poll(), libuv (uv_poll_t) or asyncio (loop.add_reader) polls for reading beside its other
 * work, with no thread of its own per wait. When the descriptor is readable, call
 * shmv_waitset_next() until it returns -EAGAIN: it is readable again only when something
 * new happens, so a level-triggered loop does not spin, and edge-triggered use is fine too.
 *
 * Segment waits are the daemon's wait requests, pipelined on connections of the set's own
 * (up to 64 pending on each, the daemon's bound per connection; a uid's waits on all its
 * connections count against its bound of 1024, docs/security.md): each ends with its own
 * deadline, and a daemon that stops answering ends them with -ETIMEDOUT at most 5 s plus the
 * client's timeout after it stopped, one that goes away with -ECONNRESET. Generation waits
 * cost the daemon nothing once the view is armed: one library thread per 127 of them waits
 * for their doorbells in futex_waitv() (Linux 5.16), looking again at least once a second as
 * shmv_view_wait() does, and wakes the descriptor; the set starts its threads as they are
 * needed and stops them in shmv_waitset_free(). A set is safe to use from several threads,
 * but not in a child after fork(). */
typedef struct shmv_waitset shmv_waitset;

/* One wait that ended, from shmv_waitset_next(). */
typedef struct shmv_waitset_event {
        uint64_t token; /* the one its shmv_waitset_add_*() was given */
        /* 0: the condition holds; -ETIMEDOUT: its deadline passed first (or the daemon stopped
         * answering); -ECONNRESET: the daemon went away; -EUSERS: over the daemon's bounds on
         * waits; other negative errnos as shmv_segment_wait() returns them. */
        int status;
        uint64_t generation; /* a generation wait's generation when it ended; 0 for segments */
} shmv_waitset_event;

/* A new, empty wait set whose segment waits go to c's daemon. The set holds a reference on
 * c (c may be disconnected before it; adding a segment wait is then -ENOTCONN). c may be
 * NULL for a set of generation waits only. Free it with shmv_waitset_free(). */
SHMV_EXPORT int shmv_waitset_new(shmv_client *c, shmv_waitset **ret);
/* The descriptor to poll for reading (POLLIN, EPOLLIN, UV_READABLE). Owned by the set. */
SHMV_EXPORT int shmv_waitset_fd(const shmv_waitset *ws);
/* Adds a wait for segment name (what as for shmv_segment_wait(), with the same meaning of
 * timeout_ms), ending with an event of the given token. Tokens are the caller's: any value,
 * unique within the set (-EEXIST otherwise). When what already holds, the event is ready at
 * once. Sends one request; no round trip but a first connect. */
SHMV_EXPORT int shmv_waitset_add_segment(shmv_waitset *ws, const char *name, int what,
                                         int timeout_ms, uint64_t token);
/* Adds a wait for v's generation (shmv_view_generation()) to differ from seen, ending with an
 * event of the given token whose generation is the one seen then (at once when it already
 * differs), or with -ETIMEDOUT after timeout_ms milliseconds (below 0: no deadline). The set
 * keeps a handle of its own on v's mapping: v may be released meanwhile. The first wait on a
 * view arms its doorbell with the daemon (one round trip, as shmv_view_wait()); -EROFS when
 * the segment is sealed and the generation is seen (it will not change again), -ENOTSUP for
 * a segment without a doorbell. */
SHMV_EXPORT int shmv_waitset_add_generation(shmv_waitset *ws, shmv_view *v, uint64_t seen,
                                            int timeout_ms, uint64_t token);
/* Removes the wait of token, pending or ended and not yet taken: its event never comes.
 * -ENOENT when the set has none. */
SHMV_EXPORT int shmv_waitset_remove(shmv_waitset *ws, uint64_t token);
/* Takes one ended wait: 0 with it in *ret (it leaves the set), or -EAGAIN when none has
 * ended. Never blocks on the daemon. */
SHMV_EXPORT int shmv_waitset_next(shmv_waitset *ws, shmv_waitset_event *ret);
/* Stops the set's threads, closes its descriptor and connections, and frees it with the
 * waits it still holds. NULL is fine. */
SHMV_EXPORT void shmv_waitset_free(shmv_waitset *ws);

#ifdef __cplusplus
}
#endif

#endif
