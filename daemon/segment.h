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
        int fd_ro; /* read-only open file description of the same memfd */
        uint32_t uid;
        uint32_t gid;
        uint32_t mode;
        uint32_t views_ro;
        uint32_t views_rw;
        bool sealed;
        bool linked; /* still in the registry under its name */
        uint64_t size;
        uint64_t created_usec;
        shmv__registry *registry;
        shmv__view *views; /* every open view, all connections together */
        char name[];
} shmv__segment;

struct shmv__view {
        uint64_t id; /* key in the owner's view table */
        shmv__segment *segment;
        void *owner; /* the connection */
        uint64_t offset;
        uint64_t length;
        bool writable;
        shmv__view *seg_prev;
        shmv__view *seg_next;
};

typedef struct shmv__registry_config {
        uint64_t max_bytes;
        uint32_t max_segments;
} shmv__registry_config;

int shmv__registry_new(const shmv__registry_config *config, shmv__registry **ret);
/* Drops the registry's references; segments still referenced elsewhere stay alive. */
void shmv__registry_free(shmv__registry *r);
/* Bytes in all live segments, unlinked ones still held by views included. */
uint64_t shmv__registry_bytes_used(const shmv__registry *r);

void shmv__segment_ref(shmv__segment *s);
/* Closes the descriptors and returns the bytes to the budget at the last reference. */
void shmv__segment_unref(shmv__segment *s);

/* A linked segment by name, borrowed; NULL when there is none. */
shmv__segment *shmv__segment_find(shmv__registry *r, const char *name);

/* Creates and links a segment owned by the peer. name must be valid (shmv__name_check).
 * Returns 0, -EEXIST, or -ENOSPC with *ret_why saying which limit (a static string). */
int shmv__segment_create(shmv__registry *r, const shmv__peer *peer, const char *name, uint64_t size,
                         uint32_t mode, const char **ret_why);
/* -ENOENT, -EPERM unless the peer owns the segment or is uid 0. */
int shmv__segment_unlink(shmv__registry *r, const shmv__peer *peer, const char *name);
/* -ENOENT, -EPERM, -EBUSY (writable views or mappings exist). Sealing twice is fine. */
int shmv__segment_seal(shmv__registry *r, const shmv__peer *peer, const char *name);
/* Whether the peer may open a view: -EPERM for a writable view of a sealed segment, -EACCES
 * when the permission bits do not allow it. */
int shmv__segment_check_access(const shmv__segment *s, const shmv__peer *peer, bool writable);
/* Up to max linked segments (borrowed) with names strictly greater than after (bytewise),
 * sorted; *ret_more tells whether more follow. */
size_t shmv__segment_list(shmv__registry *r, const char *after, shmv__segment **out, size_t max,
                          bool *ret_more);

/* A connection's views, by id. */
typedef struct shmv__view_table {
        GHashTable *by_id;
        uint64_t next_id;
} shmv__view_table;

int shmv__view_table_init(shmv__view_table *t);
/* Releases every view left, then frees the table. */
void shmv__view_table_done(shmv__view_table *t);
unsigned shmv__view_table_count(const shmv__view_table *t);
/* A new view with the next id, holding a reference on the segment. -ENOMEM. */
int shmv__view_open(shmv__view_table *t, shmv__segment *s, void *owner, uint64_t offset,
                    uint64_t length, bool writable, shmv__view **ret);
/* Returns false when no view has that id. */
bool shmv__view_release(shmv__view_table *t, uint64_t id);

#endif
