/* shmview: shared-memory segments served by shmviewd, seen through memoryview-style views.
 *
 * Every function returning int returns 0 on success or a negative errno value; shmv_strerror()
 * turns it into a sentence. Output parameters (ret, ret_*) are written only on success.
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
        uint64_t size;          /* bytes, fixed at creation */
        uint32_t uid;           /* owner: the creating client's uid */
        uint32_t gid;           /* group: the creating client's gid */
        uint32_t mode;          /* permission bits, as for a file (0600 by default) */
        bool sealed;            /* immutable: no writable view can be opened */
        uint32_t views_ro;      /* read-only views open on it, all clients together */
        uint32_t views_rw;      /* writable views open on it */
        uint64_t created_usec;  /* creation time, CLOCK_REALTIME microseconds */
} shmv_segment_info;

/* Connection. socket_path NULL applies the socket-path rule: $SHMVIEW_SOCKET, else
 * $XDG_RUNTIME_DIR/shmview/shmview.sock when not root, else /run/shmview/shmview.sock.
 * Release the client with shmv_disconnect(); views opened through it stay usable after. */
SHMV_EXPORT int shmv_connect(const char *socket_path, shmv_client **ret);
SHMV_EXPORT void shmv_disconnect(shmv_client *client); /* NULL is fine */

/* The socket path that shmv_connect(NULL, ...) would use, into dst (dst_len bytes with NUL).
 * -ENAMETOOLONG when it does not fit. */
SHMV_EXPORT int shmv_default_socket_path(char *dst, size_t dst_len);

/* A static sentence for a negative errno value returned by this library. */
SHMV_EXPORT const char *shmv_strerror(int err);

/* Segments. size is in bytes (> 0); mode is permission bits (0 means 0600). */
SHMV_EXPORT int shmv_segment_create(shmv_client *c, const char *name, uint64_t size, uint32_t mode);
SHMV_EXPORT int shmv_segment_unlink(shmv_client *c, const char *name);
SHMV_EXPORT int shmv_segment_seal(shmv_client *c, const char *name);
SHMV_EXPORT int shmv_segment_stat(shmv_client *c, const char *name, shmv_segment_info *ret);
/* All segments, sorted by name. *ret is an array of *ret_count entries (NULL when there are
 * none), owned by the caller and freed with shmv_segment_list_free(). */
SHMV_EXPORT int shmv_segment_list(shmv_client *c, shmv_segment_info **ret, size_t *ret_count);
SHMV_EXPORT void shmv_segment_list_free(shmv_segment_info *list);

/* Views. */
#define SHMV_READ 1
#define SHMV_WRITE 2
#define SHMV_TO_END UINT64_MAX
/* An omitted slice bound or step, as in m[:5] or m[::-1]. */
#define SHMV_NONE PTRDIFF_MIN

/* Opens a view over [offset, offset + length) of segment name (length SHMV_TO_END: to the
 * end). flags: SHMV_READ, or SHMV_READ | SHMV_WRITE. The new view has format "B" and owns a
 * mapping of exactly the pages that hold the range; release it with shmv_view_release(). */
SHMV_EXPORT int shmv_view_open(shmv_client *c, const char *name, uint64_t offset,
                               uint64_t length, int flags, shmv_view **ret);
/* Releases one view handle. The mapping goes away, and the daemon is told, when the last
 * view over it (the opened one, its slices, casts and read-only copies) is released.
 * NULL is fine. */
SHMV_EXPORT void shmv_view_release(shmv_view *view);

SHMV_EXPORT size_t shmv_view_len(const shmv_view *v);      /* number of items */
SHMV_EXPORT size_t shmv_view_nbytes(const shmv_view *v);   /* len * itemsize */
SHMV_EXPORT size_t shmv_view_itemsize(const shmv_view *v);
SHMV_EXPORT const char *shmv_view_format(const shmv_view *v);
SHMV_EXPORT ptrdiff_t shmv_view_stride(const shmv_view *v); /* bytes between items */
SHMV_EXPORT bool shmv_view_readonly(const shmv_view *v);
SHMV_EXPORT bool shmv_view_contiguous(const shmv_view *v);
SHMV_EXPORT const void *shmv_view_data(const shmv_view *v); /* address of item 0 */
/* Address of item 0 for writing; NULL with errno EROFS when the view is read-only. */
SHMV_EXPORT void *shmv_view_data_mut(shmv_view *v);

/* Item access; negative indices count from the end; out of range is -ERANGE.
 * ret_item and item are itemsize bytes, in native byte order. */
SHMV_EXPORT int shmv_view_get(const shmv_view *v, ptrdiff_t index, void *ret_item);
SHMV_EXPORT int shmv_view_set(shmv_view *v, ptrdiff_t index, const void *item);

/* Python's v[start:stop:step]; SHMV_NONE for an omitted part. Makes a new handle over the same
 * mapping without talking to the daemon; release it with shmv_view_release(). */
SHMV_EXPORT int shmv_view_slice(const shmv_view *v, ptrdiff_t start, ptrdiff_t stop,
                                ptrdiff_t step, shmv_view **ret);
/* v[:] = src: len must equal nbytes; follows the stride; src may overlap the view. */
SHMV_EXPORT int shmv_view_write(shmv_view *v, const void *src, size_t len);
/* Copies the bytes in logical order into dst (dst_len >= nbytes, else -ENOBUFS). */
SHMV_EXPORT int shmv_view_tobytes(const shmv_view *v, void *dst, size_t dst_len);
/* Python's bytes.hex(sep, bytes_per_sep) of tobytes(), NUL-terminated; sep 0 means none.
 * dst_len must be at least shmv_view_hex_size(v, sep, bytes_per_sep), else -ENOBUFS. */
SHMV_EXPORT int shmv_view_hex(const shmv_view *v, char *dst, size_t dst_len, char sep,
                              int bytes_per_sep);
SHMV_EXPORT size_t shmv_view_hex_size(const shmv_view *v, char sep, int bytes_per_sep);
/* memoryview.cast(format) for 1-D views: native single-character formats
 * (b B h H i I l L q Q n N f d ? c, optional '@'), C-contiguous views only, one side a byte
 * format (b B c), nbytes a multiple of the new itemsize; otherwise -EINVAL. */
SHMV_EXPORT int shmv_view_cast(const shmv_view *v, const char *format, shmv_view **ret);
/* A read-only handle over the same memory. */
SHMV_EXPORT int shmv_view_toreadonly(const shmv_view *v, shmv_view **ret);
/* memoryview ==: same length and equal items, compared as values by their formats.
 * Returns 1 or 0. */
SHMV_EXPORT int shmv_view_equal(const shmv_view *a, const shmv_view *b);

/* One item unpacked into a native value, as memoryview.tolist() does. */
typedef struct shmv_item {
        char format; /* the view's format character */
        union {
                int64_t i;  /* b h i l q n */
                uint64_t u; /* B H I L Q N */
                double f;   /* f d */
                bool b;     /* ? */
                char c;     /* c: one byte */
        };
} shmv_item;

/* Unpacks item index of v. */
SHMV_EXPORT int shmv_view_item(const shmv_view *v, ptrdiff_t index, shmv_item *ret);
/* memoryview.tolist(): unpacks all len items into ret (ret_len >= len, else -ENOBUFS). */
SHMV_EXPORT int shmv_view_tolist(const shmv_view *v, shmv_item *ret, size_t ret_len);

#ifdef __cplusplus
}
#endif

#endif
