/* Segments (memfds with a name, an owner and permission bits), the registry that names them,
 * and the views clients hold on them. */
#ifndef SHMVIEWD_SEGMENT_H
#define SHMVIEWD_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "shmview.h"

/* Who is asking: the peer credentials of a connection. */
typedef struct shmv__peer {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        unsigned ngroups;
        gid_t *groups; /* supplementary groups */
} shmv__peer;

typedef struct shmv__registry shmv__registry;
typedef struct shmv__view shmv__view;

typedef struct shmv__segment {
        /* One reference held by the registry while the name is linked, one per open view, one
         * per queued reply that carries one of the descriptors. */
        unsigned refs;
        int fd; /* read-write memfd */
        /* A read-only open file description of the same memfd, for read-only views, or -1.
         * Opened at the first read-only open (shmv__segment_fd_ro), not at create, so that a
         * segment nobody reads through a read-only view costs the daemon one descriptor, not
         * two; kept from then on, so that later opens cost no system call. */
        int fd_ro;
        /* The same, read-write, for writable views: the daemon hands out only these reopened
         * descriptions, never fd itself, so that it learns when clients let go of them after
         * the segment is freed (docs/design.md, "Memory held after unlink"). -1 until the
         * first writable open (shmv__segment_fd_rw). */
        int fd_rw;
        uint32_t uid;
        uint32_t gid;
        uint32_t mode;
        uint32_t views_ro;
        uint32_t views_rw;
        bool sealed;
        bool linked; /* still in the registry under its name */
        /* Charged and named but its pages not reserved yet (shmv__segment_create_begin):
         * invisible to every request but a create of the same name, which gets EEXIST. */
        bool creating;
        bool huge; /* reserve its pages as transparent huge pages */
        /* Served again after a restart: the last daemon's descriptions of it may be out. */
        bool adopted;
        unsigned sealing; /* seals of it started and not yet answered */
        uint64_t size;
        /* Where its doorbell page starts in the memfd (daemon/doorbell.c), or 0 for a segment
         * kept from a daemon before doorbells, whose memfd holds its bytes only. */
        uint64_t doorbell_off;
        /* Views armed for doorbell waits, all connections together: the doorbell's armed word
         * is cleared when the last goes, unless armed_sticky (it was armed when this daemon
         * adopted the segment: a waiter of the last daemon may still sleep on it). */
        uint32_t armed_views;
        bool armed_sticky;
        uint64_t created_usec;
        /* Random and nonzero; kept across daemon restarts (daemon/fdstore.c), so that a client
         * reattaching a view after one can say which segment it maps. */
        uint64_t id;
        int64_t store_slot; /* its record in the fd store's metadata, or -1 */
        shmv__registry *registry;
        shmv__view *views; /* every open view, all connections together */
        GTree *views_by_seq; /* the same views by seq, for paged listing (daemon/inspect.c) */
        char name[];
} shmv__segment;

struct shmv__view {
        uint64_t id; /* key in the owner's view table */
        shmv__segment *segment;
        void *owner; /* the connection */
        uint64_t offset;
        uint64_t length;
        bool writable;
        bool armed; /* for doorbell waits (daemon/doorbell.c) */
        shmv__view *seg_prev;
        shmv__view *seg_next;
        uint64_t seq; /* daemon-wide opening order, the key of segment->views_by_seq */
};

typedef struct shmv__fdstore shmv__fdstore;

typedef struct shmv__registry_config {
        uint64_t max_bytes;
        uint32_t max_segments;
        /* Bytes charged for, and number of, the segments one uid owns, for the uids
         * shmv__uid_limited() names; the others are bound by max_bytes and max_segments
         * alone. Bytes are charged by whole pages (shmv__registry_charge). */
        uint64_t max_bytes_per_uid;
        uint32_t max_segments_per_uid;
} shmv__registry_config;

/* Whether the per-uid limits (bytes, segments, clients, views, watchers) bind uid: all but
 * uid 0 and the daemon's own, which could stop the daemon anyway and are bound by the totals
 * alone. The one place that says so. */
bool shmv__uid_limited(uid_t uid);

int shmv__registry_new(const shmv__registry_config *config, shmv__registry **ret);
/* Drops the registry's references; segments still referenced elsewhere stay alive. */
void shmv__registry_free(shmv__registry *r);
/* What a segment of size bytes counts against max_bytes, max_bytes_per_uid and the memory
 * left: size rounded up to whole pages, as the kernel holds it. */
uint64_t shmv__registry_charge(const shmv__registry *r, uint64_t size);
/* Bytes charged for all live segments, unlinked ones still held by views or by clients'
 * descriptors, and creates in progress, included. */
uint64_t shmv__registry_bytes_used(shmv__registry *r);
/* The same, for the segments uid owns. */
uint64_t shmv__registry_uid_bytes(const shmv__registry *r, uid_t uid);

struct uv_loop_s;
/* From now on, the descriptors of a segment of at least async_min bytes are closed on loop's
 * threadpool when its last reference goes, since the kernel frees its pages in that close
 * (docs/design.md, "Freeing a segment"); smaller ones, and all of them without a loop, at
 * once. A queued close keeps uv_run() going, as a handle does; the registry must not be freed
 * before shmv__registry_closing() is 0. And the registry watches its inotify descriptor on
 * loop, so that a freed segment's memfd that clients held is closed as they let go. */
void shmv__registry_set_loop(shmv__registry *r, struct uv_loop_s *loop, uint64_t async_min);
/* Stops watching, on the loop given to shmv__registry_set_loop(), for clients letting go of
 * freed segments they still held (docs/design.md, "Memory held after unlink"): the watch is
 * an unreferenced handle, which must be closed before the loop is; shmv__server_stop() does it.
 * From then on, what they let go of is seen when the budget is next looked at. */
void shmv__registry_unwatch(shmv__registry *r);
/* Close jobs queued or running. */
unsigned shmv__registry_closing(const shmv__registry *r);
/* On a threadpool thread, before its first reservation or free: nice 19, so that the loop
 * thread preempts it. */
void shmv__worker_lower_priority(void);

void shmv__segment_ref(shmv__segment *s);
/* At the last reference, returns the bytes to the budget and closes the descriptors, on the
 * threadpool for a large segment (shmv__registry_set_loop). */
void shmv__segment_unref(shmv__segment *s);
/* The descriptor a read-only view is handed: s->fd_ro, opened read-only through
 * /proc/self/fd at the first call and kept until the segment is freed. Borrowed (the caller
 * holds a reference on s while it uses it). Returns it, or -errno (-EMFILE, -ENFILE, -ENOMEM)
 * when it cannot be opened; s is unchanged then, and a later call tries again. */
int shmv__segment_fd_ro(shmv__segment *s);
/* The descriptor a writable view is handed: s->fd_rw, opened read-write through /proc/self/fd
 * at the first call and kept until the segment is freed; as shmv__segment_fd_ro(). */
int shmv__segment_fd_rw(shmv__segment *s);

/* A linked segment by name, borrowed; NULL when there is none. */
shmv__segment *shmv__segment_find(shmv__registry *r, const char *name);

/* Creates and links a segment owned by the peer. name must be valid (shmv__name_check).
 * -EDQUOT when the peer's uid is at max_bytes_per_uid or max_segments_per_uid.
 * With huge_pages its pages are transparent huge pages where the system allows them.
 * Returns 0, -EEXIST, -EDQUOT (max_bytes_per_uid) or -ENOSPC, with *ret_why saying which
 * limit (a static string). The three steps below, one after the other. */
int shmv__segment_create(shmv__registry *r, const shmv__peer *peer, const char *name, uint64_t size,
                         uint32_t mode, bool huge_pages, const char **ret_why);

/* A create in three steps, so that the slow one, reserving the pages, can run on another
 * thread while the loop serves other clients (docs/design.md, "Creating a segment").
 *
 * _begin checks everything that fails cheaply (name taken, limits, memory), charges the
 * segment's bytes and count against the limits at once, so that creates in progress together
 * cannot pass them, makes the memfd and takes the name: *ret is a segment with creating set,
 * which no request sees (shmv__segment_find, list) and whose name a create gets EEXIST for.
 * Errors as shmv__segment_create().
 *
 * _reserve allocates its pages. It touches nothing but the segment's memfd, so any thread may
 * run it while the loop goes on. Returns 0 or an errno value.
 *
 * _end, on the loop thread, with what _reserve returned: seals the size, hands the memfd to
 * the fd store and links the segment under its name (0); or, when anything failed, frees the
 * name, returns the charge, closes the memfd and frees the segment (-ENOSPC, *ret_why
 * saying why). Either way the caller's pointer is no longer its own: a linked segment belongs
 * to the registry. */
int shmv__segment_create_begin(shmv__registry *r, const shmv__peer *peer, const char *name,
                               uint64_t size, uint32_t mode, bool huge_pages, shmv__segment **ret,
                               const char **ret_why);
int shmv__segment_reserve(shmv__segment *s);
int shmv__segment_create_end(shmv__segment *s, int err, const char **ret_why);
/* -ENOENT, -EPERM unless the peer owns the segment or is uid 0. */
int shmv__segment_unlink(shmv__registry *r, const shmv__peer *peer, const char *name);
/* Seals a segment here and now: -ENOENT, -EPERM (not the owner or root), -EBUSY (writable
 * views or mappings exist, or pages are pinned: *ret_why says which, a static string),
 * -ENOLCK (a writer locked the memfd's seals with F_SEAL_SEAL). Sealing twice is fine. The
 * kernel may take 150 ms, and a segment whose pages were punched out is reserved again: for
 * callers that serve nobody else meanwhile. */
int shmv__segment_seal(shmv__registry *r, const shmv__peer *peer, const char *name,
                       const char **ret_why);

/* The end of a seal started by shmv__segment_seal_start(), on the loop thread: ret and why as
 * from shmv__segment_seal(). */
typedef void (*shmv__seal_cb)(void *data, int ret, const char *why);
/* A seal that does its kernel part on the loop's threadpool (docs/design.md, "Sealing a
 * segment"), one at a time for the segments of one owner, in order. Returns what
 * shmv__segment_seal() would when answered at once (always without a loop), or 1 when cb is
 * to be called, later, with the outcome. Writable opens of the segment get -EBUSY
 * (shmv__segment_check_access) until then. */
int shmv__segment_seal_start(shmv__registry *r, const shmv__peer *peer, const char *name,
                             shmv__seal_cb cb, void *data, const char **ret_why);
/* Whether the peer may open a view: -EPERM for a writable view of a sealed segment, -EBUSY
 * for one of a segment being sealed, -EACCES when the permission bits do not allow it. */
int shmv__segment_check_access(const shmv__segment *s, const shmv__peer *peer, bool writable);
/* Whether a holder of the read-write descriptor added F_SEAL_WRITE or F_SEAL_FUTURE_WRITE
 * itself, so that no new writable mapping can be made. Marks the segment sealed when every
 * write is refused (F_SEAL_WRITE). */
bool shmv__segment_write_sealed(shmv__segment *s);
/* Up to max linked segments (borrowed) with names strictly greater than after (bytewise),
 * sorted; *ret_more tells whether more follow. */
size_t shmv__segment_list(shmv__registry *r, const char *after, shmv__segment **out, size_t max,
                          bool *ret_more);

/* From now on every segment created is kept in st (daemon/fdstore.c) until it is unlinked,
 * and a create that cannot be kept fails. */
void shmv__registry_set_fdstore(shmv__registry *r, shmv__fdstore *st);

/* What the daemon knew about a segment before a restart (daemon/fdstore.c). */
typedef struct shmv__segment_meta {
        const char *name; /* valid (shmv__name_check) */
        uint64_t id;
        uint64_t size;
        uint64_t created_usec;
        uint32_t uid;
        uint32_t gid;
        uint32_t mode;
        int64_t store_slot;
} shmv__segment_meta;

/* Serves again the segment whose read-write memfd is fd, kept by the service manager across a
 * restart, after checking that fd is one: a read-write memfd of meta->size bytes, sealed
 * against shrinking and growing. Its sealed state is read from its seals; its read-only
 * descriptor is opened at its first read-only open, as for a new one. Takes fd on success;
 * on failure the caller still owns it and *ret_why says what is wrong (a static string).
 * -EINVAL (not such a memfd), -EEXIST (the name is taken), -errno. */
int shmv__segment_adopt(shmv__registry *r, int fd, const shmv__segment_meta *meta,
                        const char **ret_why);

/* A connection's views, by id. */
typedef struct shmv__view_table {
        GHashTable *by_id;
        uint64_t next_id;
        uint64_t bytes; /* sum of the views' lengths */
        unsigned armed; /* views armed for doorbell waits */
        /* Views of every connection of the owner's uid together (max_views_per_uid), kept up
         * to date by the functions below when set; NULL: not counted. */
        unsigned *uid_views;
} shmv__view_table;

int shmv__view_table_init(shmv__view_table *t);
/* Releases every view left, then frees the table. */
void shmv__view_table_done(shmv__view_table *t);
unsigned shmv__view_table_count(const shmv__view_table *t);
/* A new view with the next id, holding a reference on the segment. -ENOMEM. */
int shmv__view_open(shmv__view_table *t, shmv__segment *s, void *owner, uint64_t offset,
                    uint64_t length, bool writable, shmv__view **ret);
/* The view of that id, or NULL. */
shmv__view *shmv__view_find(shmv__view_table *t, uint64_t id);
/* Returns false when no view has that id. */
bool shmv__view_release(shmv__view_table *t, uint64_t id);

/* Inspection (daemon/inspect.c). Up to max of s's open views (borrowed) with seq strictly
 * greater than after, in opening order; *ret_more tells whether more follow. */
size_t shmv__segment_views(shmv__segment *s, uint64_t after, shmv__view **out, size_t max,
                           bool *ret_more);
/* The doorbell page (daemon/doorbell.c, docs/protocol.md "The doorbell"). */
/* Arms v for doorbell waits: sets the segment's armed word unless a view armed it already.
 * 0, -ENOTSUP (a segment without a doorbell page), -EROFS (sealed: nothing will change), or
 * -errno when the word cannot be written. */
int shmv__doorbell_arm(shmv__view_table *t, shmv__view *v);
/* As an armed view goes: the armed word is cleared with the segment's last armed view. */
void shmv__doorbell_disarm(shmv__view *v);
/* Wakes every waiter on s's doorbell (FUTEX_WAKE through a read-only mapping). */
void shmv__doorbell_wake(shmv__segment *s);
/* A connection that held a writable view of s went: it may have grown the generation and
 * died before it woke anyone, so the waiters are woken when s is armed. */
void shmv__doorbell_writer_gone(shmv__segment *s);
/* s's generation now (0 without a doorbell page). */
uint64_t shmv__doorbell_generation(const shmv__segment *s);
/* Before F_SEAL_WRITE, on the seal's worker thread: sets the sealed word and grows the
 * generation through a writable mapping of fd, unmapped again before the seal. */
void shmv__doorbell_seal_ring(int fd, uint64_t doorbell_off, uint64_t page);
/* After the seal, on the loop thread (s->sealed says how it went): a failed seal's sealed
 * word is cleared; either way every waiter wakes. */
void shmv__doorbell_seal_end(shmv__segment *s);
/* A segment adopted after a restart: an armed word found set stays set for good
 * (armed_sticky), since a waiter of the last daemon may still sleep on it. */
void shmv__doorbell_adopted(shmv__segment *s);

/* The daemon is stopping: the doorbells armed stay armed, for the waits that sleep through
 * the restart (the next daemon keeps them so, shmv__doorbell_adopted). */
void shmv__registry_stopping(shmv__registry *r);
bool shmv__registry_is_stopping(const shmv__registry *r);

/* The page size the registry rounds to. */
uint64_t shmv__registry_page_size(const shmv__registry *r);
/* Views armed for doorbell waits, all connections together, and its change by delta. */
uint64_t shmv__registry_armed(const shmv__registry *r);
void shmv__registry_armed_add(shmv__registry *r, int delta);

/* Linked segments, and live ones (unlinked ones still held by views or by clients'
 * descriptors included; creates in progress not). */
void shmv__registry_counts(shmv__registry *r, uint32_t *ret_linked, uint32_t *ret_live);

#endif
