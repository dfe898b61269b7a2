/* libshmview internals shared by client.c (connection, requests) and view.c (views). */
#ifndef SHMVIEW_CLIENT_PRIVATE_H
#define SHMVIEW_CLIENT_PRIVATE_H

#include <stdatomic.h>
#include <stdint.h>

#include "shmview.h"

/* A client is reference counted: the caller's handle from shmv_connect() holds one reference,
 * and every live mapping holds one, so a mapping can still tell the daemon it is released
 * after the program called shmv_disconnect() (the connection is closed then; the release is
 * simply dropped). */
void shmv__client_ref(shmv_client *c);
void shmv__client_unref(shmv_client *c);
/* Tells the daemon that view_id is released. One-way; errors are ignored, since the daemon
 * releases everything of a connection that ends. */
void shmv__client_release_view(shmv_client *c, uint64_t view_id);

/* One mmap of the pages holding a view's range, shared by the view handle shmv_view_open()
 * returned and all handles derived from it (slices, casts, read-only copies). The last
 * handle released unmaps it and sends the release. */
typedef struct shmv__mapping {
        atomic_uint refs;
        void *base;        /* mmap address (page aligned) */
        size_t size;       /* mmap length */
        shmv_client *client;
        uint64_t view_id;
        bool writable;     /* mapped PROT_READ|PROT_WRITE */
} shmv__mapping;

/* Called by client.c once the daemon answered an open: maps fd (always closed, on success and
 * failure) and returns a new view over [offset, offset + length) of the segment, format "B",
 * read-only unless writable. On failure the view id is released at the daemon. */
int shmv__view_new(shmv_client *c, uint64_t view_id, int fd, uint64_t offset, uint64_t length,
                   bool writable, shmv_view **ret);

#endif
