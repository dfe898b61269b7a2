/* Segments that survive a restart of the daemon. Each segment's read-write memfd goes to the
 * service manager's file-descriptor store ("FDSTORE=1") under a name made of the index of its
 * record in the metadata (below), 1 to 3 characters of a 64-character alphabet: the names come
 * back to the next daemon in LISTEN_FDNAMES, one environment string that the kernel will not
 * exec past 128 KiB, so they are as short as they can be (SHMV__FDSTORE_SEGMENTS_MAX in
 * fdstore.h has the arithmetic). FDNAME= may not hold ':', while a segment name may be 255
 * bytes of almost anything, so the segment's own name is in the record. What the daemon must
 * know besides the bytes (name, id, owner, mode, size, creation time) is a 512-byte record in
 * one more memfd, the metadata, itself in the store as "meta". The sealed state needs no
 * record: it is the memfd's own F_SEAL_WRITE.
 *
 * Daemons before this naming stored each memfd as "seg-" and its id in 16 hex digits, 21 bytes
 * in LISTEN_FDNAMES. Such a store is still read (by id), and each memfd adopted from it is
 * stored again under its record's name, so that one restart later every name is short.
 *
 * A record is written with one pwrite() into a page of its own before the memfd is stored,
 * and cleared (its magic zeroed) before the memfd is taken out at unlink. The kernel checks
 * for a fatal signal only between the pages of a write, so a SIGKILL never leaves half a
 * record; a crash between the two steps leaves a record without a memfd or a memfd without a
 * record, and the next daemon drops either. Records never change after they are written:
 * nothing but the seal changes after create. See docs/systemd.md. */
#include "fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "wire.h"

#define META_NAME "meta"
/* Names of the daemons before this one: "seg-" and the id in 16 hex digits. */
#define OLD_SEG_PREFIX "seg-"
/* A record's name: the digits of its slot in bijective base 64 (slot 0 is "0", 63 is "_", 64
 * is "00"), at most 3 of them: "meta" is never one. */
#define SLOT_NAME_MAX 3
#define META_MAGIC "SHMVMETA"
#define META_VERSION 1u
#define RECORD_SIZE 512u
#define RECORD_MAGIC UINT32_C(0x31524d53) /* "SMR1" */
/* Records read per pread() at start-up. */
#define READ_BATCH 64u

typedef struct meta_header {
        char magic[8];
        uint32_t version;
        uint32_t record_size;
} meta_header;

typedef struct meta_record {
        uint32_t magic; /* RECORD_MAGIC while the slot is in use, 0 when free */
        uint32_t mode;
        uint64_t id;
        uint64_t size;
        uint64_t created_usec;
        uint32_t uid;
        uint32_t gid;
        uint16_t name_len;
        char name[SHMV_NAME_MAX]; /* not NUL-terminated */
} meta_record;

_Static_assert(sizeof(meta_record) <= RECORD_SIZE, "a record fits its slot");
_Static_assert(4096 % RECORD_SIZE == 0, "no record straddles a page");

struct shmv__fdstore {
        int meta_fd;
        uint64_t nslots; /* records the file has room for */
        uint64_t next_slot; /* slots from here on were never handed out */
        GArray *free_slots; /* uint64_t, below next_slot */
};

/* Slot i lives after the header, which takes one slot's room. */
static off_t slot_offset(uint64_t slot)
{
        return (off_t)((slot + 1) * RECORD_SIZE);
}

static const char slot_digits[65] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

/* Slots whose names have n characters start at slot_first(n): 64 of 1, 4096 of 2, 262144 of 3. */
static uint64_t slot_first(unsigned n)
{
        uint64_t first = 0, span = 1;
        for (unsigned i = 1; i < n; i++) {
                span *= 64;
                first += span;
        }
        return first;
}

static size_t slot_name_len(uint64_t slot)
{
        size_t n = 1;
        while (n <= SLOT_NAME_MAX && slot >= slot_first((unsigned)n + 1))
                n++;
        return n;
}

/* False past the last 3-character name (slot 266303). */
static bool slot_fdname(uint64_t slot, char buf[static SLOT_NAME_MAX + 1])
{
        size_t n = slot_name_len(slot);
        if (n > SLOT_NAME_MAX)
                return false;
        uint64_t v = slot - slot_first((unsigned)n);
        for (size_t i = n; i-- > 0; v /= 64)
                buf[i] = slot_digits[v % 64];
        buf[n] = '\0';
        return true;
}

static bool parse_slot_fdname(const char *name, uint64_t *ret)
{
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > SLOT_NAME_MAX)
                return false;
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                const char *d = memchr(slot_digits, name[i], 64);
                if (!d)
                        return false;
                v = v * 64 + (uint64_t)(d - slot_digits);
        }
        *ret = slot_first((unsigned)n) + v;
        return true;
}

static void old_fdname(uint64_t id, char buf[static 32])
{
        snprintf(buf, 32, OLD_SEG_PREFIX "%016" PRIx64, id);
}

/* "seg-" and exactly 16 lowercase hex digits: a name from before the slot names. */
static bool parse_old_fdname(const char *name, uint64_t *ret)
{
        if (!name || strncmp(name, OLD_SEG_PREFIX, strlen(OLD_SEG_PREFIX)) != 0)
                return false;
        const char *p = name + strlen(OLD_SEG_PREFIX);
        uint64_t v = 0;
        size_t n = 0;
        for (; *p; p++, n++) {
                unsigned d;
                if (*p >= '0' && *p <= '9')
                        d = (unsigned)(*p - '0');
                else if (*p >= 'a' && *p <= 'f')
                        d = (unsigned)(*p - 'a' + 10);
                else
                        return false;
                if (n == 16)
                        return false;
                v = v << 4 | d;
        }
        if (n != 16 || v == 0)
                return false;
        *ret = v;
        return true;
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
        const uint8_t *p = buf;
        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t)n;
                off += n;
        }
        return 0;
}

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
        uint8_t *p = buf;
        while (len > 0) {
                ssize_t n = pread(fd, p, len, off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t)n;
                off += n;
        }
        return 0;
}

static int clear_record(shmv__fdstore *st, uint64_t slot)
{
        static const uint32_t zero;
        int r = pwrite_all(st->meta_fd, &zero, sizeof(zero), slot_offset(slot));
        if (r < 0)
                return log_error_errno(r, "clearing fd store record %" PRIu64 ": %m", slot);
        return 0;
}

/* Leaves the metadata memfd room for slot. */
static int grow(shmv__fdstore *st, uint64_t slot)
{
        if (slot < st->nslots)
                return 0;
        uint64_t n = st->nslots < 64 ? 64 : st->nslots * 2;
        while (n <= slot)
                n *= 2;
        if (ftruncate(st->meta_fd, slot_offset(n)) < 0)
                return log_error_errno(
                        errno, "growing the fd store metadata to %" PRIu64 " records: %m", n);
        st->nslots = n;
        return 0;
}

static int take_slot(shmv__fdstore *st, uint64_t *ret)
{
        if (st->free_slots->len > 0) {
                *ret = g_array_index(st->free_slots, uint64_t, st->free_slots->len - 1);
                g_array_set_size(st->free_slots, st->free_slots->len - 1);
                return 0;
        }
        int r = grow(st, st->next_slot);
        if (r < 0)
                return r;
        *ret = st->next_slot++;
        return 0;
}

static void put_slot(shmv__fdstore *st, uint64_t slot)
{
        g_array_append_val(st->free_slots, slot);
}

int shmv__fdstore_add(shmv__fdstore *st, shmv__segment *s)
{
        uint64_t slot;
        char name[SLOT_NAME_MAX + 1];
        int r = take_slot(st, &slot);
        if (r < 0)
                return r;
        /* The slots in use stay below max_segments (a new one is taken only when every
         * lower one is in use), far from the last name; past it only with slots that could
         * not be cleared piling up. */
        if (!slot_fdname(slot, name)) {
                put_slot(st, slot);
                return log_error_errno(ENOSPC, "fd store: slot %" PRIu64 " has no name", slot);
        }
        uint8_t buf[RECORD_SIZE] = {0};
        meta_record rec;
        memset(&rec, 0, sizeof(rec));
        rec.magic = RECORD_MAGIC;
        rec.mode = s->mode;
        rec.id = s->id;
        rec.size = s->size;
        rec.created_usec = s->created_usec;
        rec.uid = s->uid;
        rec.gid = s->gid;
        rec.name_len = (uint16_t)strlen(s->name);
        memcpy(rec.name, s->name, rec.name_len);
        memcpy(buf, &rec, sizeof(rec));
        r = pwrite_all(st->meta_fd, buf, sizeof(buf), slot_offset(slot));
        if (r < 0) {
                put_slot(st, slot);
                return log_error_errno(r, "writing fd store record %" PRIu64 ": %m", slot);
        }
        r = shmv__sd_fdstore(s->fd, name);
        if (r < 0) {
                if (clear_record(st, slot) == 0)
                        put_slot(st, slot);
                return -EIO;
        }
        s->store_slot = (int64_t)slot;
        return 0;
}

void shmv__fdstore_remove(shmv__fdstore *st, shmv__segment *s)
{
        if (s->store_slot < 0)
                return;
        uint64_t slot = (uint64_t)s->store_slot;
        s->store_slot = -1;
        /* A slot that cannot be cleared is not reused; the next daemon drops its record. */
        if (clear_record(st, slot) == 0)
                put_slot(st, slot);
        char name[32];
        if (!slot_fdname(slot, name)) /* adopted and kept under its old name (rename_old()) */
                old_fdname(s->id, name);
        (void)shmv__sd_fdstore_remove(name);
}

/* A fresh metadata memfd, handed to the store. */
static int meta_create(shmv__fdstore *st)
{
        int fd = memfd_create("shmviewd-meta", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r;
        meta_header h = {.version = META_VERSION, .record_size = RECORD_SIZE};
        memcpy(h.magic, META_MAGIC, sizeof(h.magic));
        uint8_t buf[RECORD_SIZE] = {0};
        memcpy(buf, &h, sizeof(h));
        if (fchmod(fd, 0600) < 0) {
                r = -errno;
                goto fail;
        }
        r = pwrite_all(fd, buf, sizeof(buf), 0);
        if (r < 0)
                goto fail;
        r = shmv__sd_fdstore(fd, META_NAME);
        if (r < 0)
                goto fail;
        st->meta_fd = fd;
        return 0;
fail:
        close(fd);
        return r;
}

/* Whether fd is a metadata memfd this daemon can read; sets st->nslots from its size. */
static const char *meta_check(shmv__fdstore *st, int fd)
{
        struct stat sb;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (fl & O_ACCMODE) != O_RDWR ||
            fcntl(fd, F_GET_SEALS) < 0)
                return "not a read-write memfd";
        if (sb.st_size < (off_t)RECORD_SIZE || sb.st_size % RECORD_SIZE != 0)
                return "wrong size";
        meta_header h;
        if (pread_all(fd, &h, sizeof(h), 0) < 0)
                return "unreadable";
        if (memcmp(h.magic, META_MAGIC, sizeof(h.magic)) != 0)
                return "not shmviewd metadata";
        if (h.version != META_VERSION || h.record_size != RECORD_SIZE)
                return "another version";
        st->nslots = (uint64_t)sb.st_size / RECORD_SIZE - 1;
        return NULL;
}

typedef struct loaded {
        meta_record rec;
        uint64_t slot;
        bool adopted;
        bool duplicate; /* of an earlier record's id: never adopted, cleared */
} loaded;

/* Reads every record in use; clears those that make no sense. */
static int meta_load(shmv__fdstore *st, GArray *out, GHashTable *by_id)
{
        uint8_t *buf = malloc((size_t)READ_BATCH * RECORD_SIZE);
        if (!buf)
                return -ENOMEM;
        int r = 0;
        for (uint64_t first = 0; first < st->nslots; first += READ_BATCH) {
                uint64_t n = st->nslots - first < READ_BATCH ? st->nslots - first : READ_BATCH;
                r = pread_all(st->meta_fd, buf, (size_t)n * RECORD_SIZE, slot_offset(first));
                if (r < 0)
                        break;
                for (uint64_t i = 0; i < n; i++) {
                        loaded l = {.slot = first + i};
                        memcpy(&l.rec, buf + i * RECORD_SIZE, sizeof(l.rec));
                        if (l.rec.magic == 0)
                                continue;
                        char name[SHMV_NAME_MAX + 1];
                        bool ok = l.rec.magic == RECORD_MAGIC && l.rec.id != 0 && l.rec.size > 0 &&
                                  !(l.rec.mode & ~07777u) && l.rec.name_len <= SHMV_NAME_MAX &&
                                  shmv__name_check((const uint8_t *)l.rec.name, l.rec.name_len,
                                                   name) == 0;
                        if (!ok) {
                                log_warning("fd store record %" PRIu64 " is damaged, dropped",
                                            l.slot);
                                (void)clear_record(st, l.slot);
                                continue;
                        }
                        g_array_append_val(out, l);
                }
        }
        free(buf);
        if (r < 0)
                return r;
        /* Keys point into out, which no longer grows. */
        for (guint i = 0; i < out->len; i++) {
                loaded *l = &g_array_index(out, loaded, i);
                if (g_hash_table_contains(by_id, &l->rec.id)) {
                        log_warning("fd store record %" PRIu64 " repeats an id, dropped", l->slot);
                        l->duplicate = true;
                        continue;
                }
                g_hash_table_insert(by_id, &l->rec.id, l);
        }
        return 0;
}

/* What shmv__fdstore_open() works with while it takes the descriptors passed. */
typedef struct opening {
        shmv__registry *r;
        bool keep;
        /* Names taken out of the store; a descriptor kept under one of them is stored again. */
        GHashTable *removed;
        unsigned adopted, nseg;
} opening;

/* Closes a passed descriptor we do not keep and, when there is a store, takes its name out
 * of it, so that it is not handed to the next daemon again. */
static void drop(opening *o, shmv__passed_fd *p)
{
        close(p->fd);
        p->fd = -1;
        if (!o->keep || !p->name || g_hash_table_contains(o->removed, p->name))
                return;
        (void)shmv__sd_fdstore_remove(p->name);
        g_hash_table_add(o->removed, p->name);
}

/* A descriptor adopted under an old daemon's name goes back under its slot's: out under the
 * old name first, then in under the new one. Not the other way round: the store may be full
 * (FileDescriptorStoreMax=, the supervisor's size), and systemd ignores a descriptor it holds
 * already (the same open file). A SIGKILL between the two notifications would lose this one
 * segment at the next start; it happens once per segment, at the first start after an
 * upgrade. */
static void rename_old(opening *o, shmv__passed_fd *p, uint64_t slot)
{
        char name[SLOT_NAME_MAX + 1];
        if (!slot_fdname(slot, name)) {
                if (g_hash_table_contains(o->removed, p->name))
                        (void)shmv__sd_fdstore(p->fd, p->name);
                return; /* kept under its old name: shmv__fdstore_remove() knows it */
        }
        if (!g_hash_table_contains(o->removed, p->name)) {
                (void)shmv__sd_fdstore_remove(p->name);
                g_hash_table_add(o->removed, p->name);
        }
        if (shmv__sd_fdstore(p->fd, name) < 0)
                log_error("stored segment %s could not be stored again as \"%s\": it will not "
                          "survive the next restart",
                          p->name, name);
}

/* Adopts the segment of l (NULL: there is none) from p, named after l's slot or, when old,
 * after l's id. Takes p->fd either way. */
static void adopt(opening *o, shmv__passed_fd *p, loaded *l, bool old)
{
        o->nseg++;
        if (!l || l->adopted) {
                log_warning("stored segment \"%s\" has %s: dropped", p->name,
                            l ? "a duplicate" : "no metadata");
                drop(o, p);
                return;
        }
        char name[SHMV_NAME_MAX + 1];
        memcpy(name, l->rec.name, l->rec.name_len);
        name[l->rec.name_len] = '\0';
        shmv__segment_meta meta = {
                .name = name,
                .id = l->rec.id,
                .size = l->rec.size,
                .created_usec = l->rec.created_usec,
                .uid = l->rec.uid,
                .gid = l->rec.gid,
                .mode = l->rec.mode,
                .store_slot = o->keep ? (int64_t)l->slot : -1,
        };
        const char *why = NULL;
        int ar = shmv__segment_adopt(o->r, p->fd, &meta, &why);
        if (ar < 0) {
                log_warning("stored segment %s (\"%s\") dropped: %s", name, p->name, why);
                drop(o, p);
                return;
        }
        log_debug("segment %s adopted from the fd store: %" PRIu64 " bytes", name, meta.size);
        l->adopted = true;
        o->adopted++;
        if (o->keep && old)
                rename_old(o, p, l->slot);
        else if (o->keep && g_hash_table_contains(o->removed, p->name))
                (void)shmv__sd_fdstore(p->fd, p->name);
        p->fd = -1; /* the segment's now */
}

int shmv__fdstore_open(shmv__registry *r, shmv__passed_fd *passed, size_t n, bool keep,
                       shmv__fdstore **ret)
{
        shmv__fdstore *st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        st->meta_fd = -1;
        st->free_slots = g_array_new(false, false, sizeof(uint64_t));
        GArray *records = g_array_new(false, false, sizeof(loaded));
        GHashTable *by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
        GHashTable *by_slot = g_hash_table_new(g_int64_hash, g_int64_equal);
        opening o = {
                .r = r,
                .keep = keep,
                .removed = g_hash_table_new(g_str_hash, g_str_equal),
        };
        int ret_r = 0;

        for (size_t i = 0; i < n; i++) {
                if (!passed[i].name || strcmp(passed[i].name, META_NAME) != 0)
                        continue;
                const char *why = st->meta_fd >= 0 ? "a second one" : meta_check(st, passed[i].fd);
                if (why) {
                        log_error("fd store metadata dropped: %s", why);
                        drop(&o, &passed[i]);
                        continue;
                }
                st->meta_fd = passed[i].fd;
                passed[i].fd = -1;
        }
        if (st->meta_fd >= 0) {
                int lr = meta_load(st, records, by_id);
                if (lr < 0)
                        (void)log_error_errno(lr, "reading the fd store metadata: %m");
        }
        for (guint i = 0; i < records->len; i++) {
                loaded *l = &g_array_index(records, loaded, i);
                if (!l->duplicate)
                        g_hash_table_insert(by_slot, &l->slot, l);
        }

        /* The slot names first: a segment stored under both names (a crash while renaming)
         * keeps its slot name, and the old one is dropped. */
        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < n; i++) {
                        shmv__passed_fd *p = &passed[i];
                        uint64_t v;
                        if (p->fd < 0)
                                continue;
                        if (parse_slot_fdname(p->name, &v)) {
                                adopt(&o, p, g_hash_table_lookup(by_slot, &v), false);
                        } else if (pass == 0) {
                                continue;
                        } else if (parse_old_fdname(p->name, &v)) {
                                adopt(&o, p, g_hash_table_lookup(by_id, &v), true);
                        } else {
                                log_warning("descriptor %d named \"%s\" passed by the service "
                                            "manager is not one of shmviewd's: closed",
                                            p->fd, p->name ? p->name : "");
                                drop(&o, p);
                        }
                }
        }
        unsigned adopted = o.adopted, nseg = o.nseg;
        if (nseg > adopted)
                log_warning("%u of %u stored segments could not be adopted", nseg - adopted, nseg);

        if (!keep) {
                if (st->meta_fd >= 0)
                        close(st->meta_fd);
                st->meta_fd = -1;
                goto out_nostore;
        }
        if (st->meta_fd < 0) {
                int mr = meta_create(st);
                if (mr < 0) {
                        (void)log_error_errno(mr, "cannot set up the fd store, segments will "
                                                  "not survive a restart: %m");
                        goto out_nostore;
                }
        } else if (g_hash_table_contains(o.removed, META_NAME)) {
                (void)shmv__sd_fdstore(st->meta_fd, META_NAME);
        }

        /* Every slot not adopted is free; records of segments that did not come back go. */
        GArray *used = g_array_sized_new(false, true, sizeof(bool), (guint)st->nslots);
        g_array_set_size(used, (guint)st->nslots);
        for (guint i = 0; i < records->len; i++) {
                loaded *l = &g_array_index(records, loaded, i);
                if (l->adopted)
                        g_array_index(used, bool, l->slot) = true;
                else
                        (void)clear_record(st, l->slot);
        }
        for (uint64_t s = st->nslots; s-- > 0;)
                if (!g_array_index(used, bool, s))
                        put_slot(st, s);
        g_array_free(used, true);
        st->next_slot = st->nslots;
        *ret = st;
        ret_r = (int)adopted;
        goto out;

out_nostore:
        g_array_free(st->free_slots, true);
        free(st);
        *ret = NULL;
        ret_r = (int)adopted;
out:
        g_hash_table_destroy(o.removed);
        g_hash_table_destroy(by_slot);
        g_hash_table_destroy(by_id);
        g_array_free(records, true);
        return ret_r;
}

void shmv__fdstore_free(shmv__fdstore *st)
{
        if (!st)
                return;
        if (st->meta_fd >= 0)
                close(st->meta_fd);
        g_array_free(st->free_slots, true);
        free(st);
}
