/* The daemon's side of the change doorbell (docs/protocol.md, "The doorbell"): arming a
 * segment's doorbell for a client's waits, and ringing it where no client can, at a seal and
 * when a writer goes. The page itself (proto/doorbell.h) is in the segment's memfd, after its
 * bytes; clients grow the generation and wake each other without the daemon. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dispatch.h"
#include "doorbell.h"
#include "log.h"
#include "segment.h"

#define ARMED_OFF offsetof(struct shmv__doorbell, armed)
#define SEALED_OFF offsetof(struct shmv__doorbell, sealed)

/* One word of s's doorbell page written with pwrite(): the daemon never maps the page
 * writable on the loop thread, since a writable mapping, however short, makes a seal running
 * on the threadpool fail with EBUSY. Only the values 0 and 1 are written, so a reader sees
 * one or the other. */
static int doorbell_write(shmv__segment *s, size_t field, uint32_t value)
{
        ssize_t n;
        do
                n = pwrite(s->fd, &value, sizeof(value), (off_t)(s->doorbell_off + field));
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t)sizeof(value))
                return 0;
        return n < 0 ? -errno : -EIO;
}

int shmv__doorbell_arm(shmv__view_table *t, shmv__view *v)
{
        shmv__segment *s = v->segment;
        if (!s->doorbell_off)
                return -ENOTSUP;
        if (s->sealed)
                return -EROFS;
        if (v->armed)
                return 0;
        /* While a seal is on the threadpool the word may already be frozen: the seal grows
         * the generation and wakes every waiter all the same, and seal_end arms the page
         * again when the seal fails. */
        if (s->armed_views == 0 && !s->armed_sticky && !s->sealing) {
                int r = doorbell_write(s, ARMED_OFF, 1);
                if (r < 0)
                        return r;
        }
        v->armed = true;
        t->armed++;
        s->armed_views++;
        shmv__registry_armed_add(s->registry, 1);
        return 0;
}

void shmv__doorbell_disarm(shmv__view *v)
{
        shmv__segment *s = v->segment;
        v->armed = false;
        s->armed_views--;
        shmv__registry_armed_add(s->registry, -1);
        /* A sealed page cannot be written, nor does it matter: nothing notifies any more. A
         * daemon that stops leaves it armed for the waits that sleep through the restart. */
        if (s->armed_views == 0 && !s->armed_sticky && !s->sealed && !s->sealing &&
            !shmv__registry_is_stopping(s->registry))
                (void)doorbell_write(s, ARMED_OFF, 0);
}

/* Maps s's doorbell page read-only through the read-only descriptor (one of the read-write
 * one would count as a writable mapping, VM_MAYWRITE, and fail a seal meanwhile). */
static struct shmv__doorbell *doorbell_map(shmv__segment *s, size_t *ret_len)
{
        int fd = shmv__segment_fd_ro(s);
        if (fd < 0)
                return NULL;
        size_t len = (size_t)shmv__registry_page_size(s->registry);
        void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)s->doorbell_off);
        if (p == MAP_FAILED) {
                log_warning("mapping the doorbell of segment %s: %s", s->name, strerror(errno));
                return NULL;
        }
        *ret_len = len;
        return p;
}

void shmv__doorbell_wake(shmv__segment *s)
{
        if (!s->doorbell_off)
                return;
        size_t len;
        struct shmv__doorbell *d = doorbell_map(s, &len);
        if (!d)
                return;
        shmv__doorbell_futex_wake(d);
        munmap(d, len);
}

void shmv__doorbell_writer_gone(shmv__segment *s)
{
        if (s->armed_views > 0 || s->armed_sticky)
                shmv__doorbell_wake(s);
}

uint64_t shmv__doorbell_generation(const shmv__segment *s)
{
        if (!s->doorbell_off)
                return 0;
        uint64_t gen;
        ssize_t n;
        do
                n = pread(s->fd, &gen, sizeof(gen), (off_t)s->doorbell_off);
        while (n < 0 && errno == EINTR);
        return n == (ssize_t)sizeof(gen) ? gen : 0;
}

void shmv__doorbell_seal_ring(int fd, uint64_t doorbell_off, uint64_t page)
{
        /* Fails only when a writer sealed the memfd itself (F_SEAL_FUTURE_WRITE): then the
         * seal below fails or finds it sealed, and nothing rings. */
        void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                       (off_t)doorbell_off);
        if (p == MAP_FAILED)
                return;
        struct shmv__doorbell *d = p;
        /* The sealed word first: a waiter that sees the new generation sees it set. */
        atomic_store(&d->sealed, 1);
        atomic_fetch_add(&d->generation, 1);
        munmap(p, (size_t)page);
}

void shmv__doorbell_seal_end(shmv__segment *s)
{
        if (!s->doorbell_off)
                return;
        if (!s->sealed) {
                /* Failed (a writable mapping the daemon does not know, a pinned page): not
                 * frozen, so the sealed word goes again, and the armed word says what the
                 * views armed or released meanwhile left (shmv__doorbell_arm and _disarm
                 * leave it alone while a seal runs). */
                (void)doorbell_write(s, SEALED_OFF, 0);
                bool armed = s->armed_views > 0 || s->armed_sticky ||
                             shmv__registry_is_stopping(s->registry);
                (void)doorbell_write(s, ARMED_OFF, armed ? 1 : 0);
        }
        shmv__doorbell_wake(s);
}

void shmv__doorbell_adopted(shmv__segment *s)
{
        if (!s->doorbell_off)
                return;
        uint32_t armed;
        ssize_t n = pread(s->fd, &armed, sizeof(armed), (off_t)(s->doorbell_off + ARMED_OFF));
        s->armed_sticky = n == (ssize_t)sizeof(armed) && armed != 0;
}

void shmv__handle_doorbell_arm(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        const Shmview__DoorbellArmRequest *a = req->doorbell_arm;
        shmv__view_table *t = shmv__conn_views(c);
        shmv__view *v = shmv__view_find(t, a->view_id);
        /* segment_id 0 asks for v's segment, whichever: a client arms only its own views. */
        if (!v || (a->segment_id != 0 && v->segment->id != a->segment_id)) {
                shmv__reply_error(c, id, ENOENT,
                                  "no view %" PRIu64 " of that segment on this "
                                  "connection",
                                  a->view_id);
                return;
        }
        shmv__segment *s = v->segment;
        bool was = v->armed;
        int r = shmv__doorbell_arm(t, v);
        switch (r) {
        case 0:
                break;
        case -ENOTSUP:
                shmv__reply_error(c, id, ENOTSUP,
                                  "segment %s has no doorbell (it was kept from a daemon "
                                  "before doorbells)",
                                  s->name);
                return;
        case -EROFS:
                shmv__reply_error(c, id, EROFS,
                                  "segment %s is sealed: its generation will not change again",
                                  s->name);
                return;
        default:
                log_warning("arming the doorbell of segment %s: %s", s->name, strerror(-r));
                shmv__reply_error(c, id, -r, "cannot arm the doorbell of segment %s: %s", s->name,
                                  strerror(-r));
                return;
        }
        if (!was)
                log_debug("client %" PRIu64 " armed view %" PRIu64 " of %s", shmv__conn_serial(c),
                          v->id, s->name);
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        shmv__conn_send(c, &resp, NULL, -1);
}
