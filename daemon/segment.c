/* Segments: creation with the memory checks, the name registry, permissions, sealing, and the
 * views that hold them. */
#include "segment.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "clock.h"
#include "doorbell.h"
#include "fdstore.h"
#include "log.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

/* Where the memory limits of the daemon's cgroup are read. */
typedef struct cgroup_limit {
        char *dir; /* the daemon's cgroup directory; NULL when there is no memory controller */
        char *path; /* room for dir + "/" + a file name */
        size_t base_len; /* length of the mount point prefix of dir: the walk stops there */
        const char *max_file;
        const char *current_file;
} cgroup_limit;

struct shmv__registry {
        GTree *by_name; /* name -> segment, linked segments only */
        GHashTable *creating; /* name -> segment whose pages are being reserved */
        shmv__registry_config config;
        /* Charges (shmv__registry_charge: whole pages) of all live segments, unlinked ones and
         * creates in progress included. */
        uint64_t bytes_used;
        GHashTable *uid_bytes; /* owner uid -> uid_usage *, the same per owner; no zeros */
        uint32_t nsegments; /* live segments, unlinked ones and creates in progress included */
        /* Charges of the creates in progress: not yet taken from MemAvailable or the cgroup,
         * which would let concurrent creates each see them free. */
        uint64_t reserving;
        /* Frees the descriptors of segments of at least free_async_min bytes on loop's
         * threadpool (shmv__registry_set_loop); NULL: on the calling thread. */
        uv_loop_t *loop;
        uint64_t free_async_min;
        /* Charges of the segments whose descriptors a close job holds: no longer charged, and
         * not yet back in MemAvailable or the cgroup, which would refuse a create that the
         * free is about to make room for. */
        uint64_t freeing;
        unsigned nclosing; /* close jobs queued or running */
        uint64_t view_seq; /* the last shmv__view.seq handed out */
        uint64_t page_size;
        cgroup_limit cgroup;
        shmv__fdstore *fdstore; /* keeps segments across restarts, or NULL */
        /* Tells when clients let go of the descriptors of segments the daemon freed
         * (segment_held_outside); -1 when the kernel gives no inotify instance. */
        int inotify_fd;
        /* inotify watch -> held_out: segments freed by the daemon whose descriptors clients
         * still hold, so still charged; and the one being looked at by segment_held_outside. */
        GHashTable *held;
        bool watch_warned;
        uint64_t armed_views; /* shmv__registry_armed */
        bool stopping; /* shmv__registry_stopping */
        /* inotify_fd on loop (shmv__registry_set_loop), or NULL. */
        uv_poll_t *watch;
};

/* A segment the daemon freed while clients held its descriptors: its charge stays until the
 * last description it handed out is seen closed (or, when the daemon closed its memfd, until
 * the kernel says the memfd is gone, IN_IGNORED), and the descriptions seen closed
 * meanwhile. */
typedef struct held_out {
        uid_t uid;
        uint64_t charge;
        /* The segment's memfd, kept open while clients hold its descriptions, so that every
         * close inotify reports is theirs; -1 once the daemon closed it (a segment adopted
         * after a restart, or events lost), when IN_IGNORED ends the hold. */
        int fd;
        bool deciding; /* segment_held_outside is still looking */
        bool lost; /* events were lost while it looked: its closes cannot be counted on */
        bool had_rw; /* a read-write description was handed out */
        bool had_ro; /* a read-only one was */
        bool closed_rw; /* IN_CLOSE_WRITE: the last reference to the read-write description */
        bool closed_ro; /* IN_CLOSE_NOWRITE: the same for the read-only one */
} held_out;

static void held_update(shmv__registry *r);

static int name_cmp(gconstpointer a, gconstpointer b)
{
        return strcmp(a, b);
}

static int seq_cmp(gconstpointer a, gconstpointer b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* Reads a small file into buf, NUL-terminated. */
static int read_small_file(const char *path, char *buf, size_t size)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = 0;
        while (len < size - 1) {
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        buf[len] = '\0';
        return 0;
}

/* A file holding one number, or "max" (UINT64_MAX). */
static int read_u64_file(const char *path, uint64_t *ret)
{
        char buf[64];
        int r = read_small_file(path, buf, sizeof(buf));
        if (r < 0)
                return r;
        if (strncmp(buf, "max", 3) == 0) {
                *ret = UINT64_MAX;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno != 0 || end == buf)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int meminfo_available(uint64_t *ret)
{
        char buf[8192];
        int r = read_small_file("/proc/meminfo", buf, sizeof(buf));
        if (r < 0)
                return r;
        const char *p = strstr(buf, "\nMemAvailable:");
        if (!p)
                return -ENOENT;
        unsigned long long kb;
        if (sscanf(p + 1, "MemAvailable: %llu kB", &kb) != 1)
                return -EINVAL;
        *ret = kb > UINT64_MAX / 1024 ? UINT64_MAX : kb * 1024;
        return 0;
}

/* Finds the daemon's cgroup: cgroup v2 ("0::/path", limits in memory.max), else the v1
 * memory controller ("N:memory:/path", limits in memory.limit_in_bytes). */
static void cgroup_init(cgroup_limit *cg)
{
        char buf[8192];
        memset(cg, 0, sizeof(*cg));
        if (read_small_file("/proc/self/cgroup", buf, sizeof(buf)) < 0)
                return;

        const char *base = NULL, *path = NULL;
        size_t path_len = 0;
        bool unified = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        for (char *line = buf, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c1 = *c2 = '\0';
                const char *controllers = c1 + 1;
                if (unified && strcmp(line, "0") == 0 && *controllers == '\0') {
                        base = "/sys/fs/cgroup";
                        cg->max_file = "memory.max";
                        cg->current_file = "memory.current";
                        path = c2 + 1;
                        break;
                }
                if (!unified) {
                        /* v1: the controller list is comma separated. */
                        char *save = NULL;
                        for (char *t = strtok_r(c1 + 1, ",", &save); t;
                             t = strtok_r(NULL, ",", &save))
                                if (strcmp(t, "memory") == 0) {
                                        base = "/sys/fs/cgroup/memory";
                                        cg->max_file = "memory.limit_in_bytes";
                                        cg->current_file = "memory.usage_in_bytes";
                                        path = c2 + 1;
                                }
                        if (path)
                                break;
                }
        }
        if (!path || path[0] != '/')
                return;
        path_len = strlen(path);
        while (path_len > 0 && path[path_len - 1] == '/')
                path_len--;
        size_t base_len = strlen(base);
        cg->dir = malloc(base_len + path_len + 1);
        if (!cg->dir)
                return;
        memcpy(cg->dir, base, base_len);
        memcpy(cg->dir + base_len, path, path_len);
        cg->dir[base_len + path_len] = '\0';
        cg->base_len = base_len;
        cg->path = malloc(base_len + path_len + 64);
        if (!cg->path) {
                free(cg->dir);
                cg->dir = NULL;
        }
}

/* Reads dir[0..len)/file into cg->path and then a number from it. */
static int cgroup_read(const cgroup_limit *cg, size_t len, const char *file, uint64_t *ret)
{
        size_t flen = strlen(file);
        memcpy(cg->path, cg->dir, len);
        cg->path[len] = '/';
        memcpy(cg->path + len + 1, file, flen + 1);
        return read_u64_file(cg->path, ret);
}

/* What the memory limits of the daemon's cgroup and its ancestors leave: UINT64_MAX when
 * none applies. */
static uint64_t cgroup_available(const cgroup_limit *cg)
{
        uint64_t avail = UINT64_MAX;
        if (!cg->dir)
                return avail;
        size_t len = strlen(cg->dir);
        for (;;) {
                uint64_t max, cur;
                if (cgroup_read(cg, len, cg->max_file, &max) == 0 && max != UINT64_MAX) {
                        if (cgroup_read(cg, len, cg->current_file, &cur) < 0)
                                cur = 0;
                        uint64_t left = max > cur ? max - cur : 0;
                        if (left < avail)
                                avail = left;
                }
                if (len <= cg->base_len)
                        break;
                while (len > cg->base_len && cg->dir[len - 1] != '/')
                        len--;
                if (len > cg->base_len)
                        len--; /* the '/' */
        }
        return avail;
}

int shmv__registry_new(const shmv__registry_config *config, shmv__registry **ret)
{
        shmv__registry *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->by_name = g_tree_new(name_cmp);
        r->creating = g_hash_table_new(g_str_hash, g_str_equal);
        r->uid_bytes = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, free);
        r->held = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, free);
        r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (r->inotify_fd < 0)
                log_warning("inotify_init1: %m; segments whose descriptors clients keep after "
                            "they are freed leave the budget at once");
        r->config = *config;
        long ps = sysconf(_SC_PAGESIZE);
        r->page_size = ps > 0 ? (uint64_t)ps : 4096;
        cgroup_init(&r->cgroup);
        if (r->cgroup.dir)
                log_debug("memory limits read from %s/%s", r->cgroup.dir, r->cgroup.max_file);
        *ret = r;
        return 0;
}

void shmv__registry_free(shmv__registry *r)
{
        if (!r)
                return;
        /* The loop has ended, or is not run again: what is freed now is closed here. */
        shmv__registry_unwatch(r);
        r->loop = NULL;
        GTreeNode *node;
        while ((node = g_tree_node_first(r->by_name))) {
                shmv__segment *s = g_tree_node_value(node);
                g_tree_remove(r->by_name, s->name);
                s->linked = false;
                shmv__segment_unref(s);
        }
        /* A create in progress belongs to a worker thread until its end; the loop runs until
         * none is left, so there is none here, unless the caller did not. Leaked, not freed
         * under the worker. */
        if (g_hash_table_size(r->creating) > 0)
                log_warning("%u segments still being created at exit",
                            g_hash_table_size(r->creating));
        else if (r->nsegments > g_hash_table_size(r->held))
                log_warning("%" PRIu32 " segments still referenced at exit",
                            r->nsegments - g_hash_table_size(r->held));
        /* A close job's end updates the registry on the loop thread; the loop runs until none
         * is left, unless the caller did not run it. Leaked then, not freed under it. */
        if (r->nclosing > 0) {
                log_warning("%u segments still being freed at exit", r->nclosing);
                return;
        }
        if (g_hash_table_size(r->held) > 0)
                log_debug("%u freed segments still held by clients at exit",
                          g_hash_table_size(r->held));
        g_tree_destroy(r->by_name);
        g_hash_table_destroy(r->creating);
        g_hash_table_destroy(r->uid_bytes);
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, r->held);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (((held_out *)value)->fd >= 0)
                        close(((held_out *)value)->fd);
        g_hash_table_destroy(r->held);
        if (r->inotify_fd >= 0)
                close(r->inotify_fd);
        free(r->cgroup.dir);
        free(r->cgroup.path);
        free(r);
}

static void watch_closed(uv_handle_t *handle)
{
        free(handle);
}

static void on_watch(uv_poll_t *handle, int status, int events)
{
        (void)status;
        (void)events;
        held_update(handle->data);
}

void shmv__registry_unwatch(shmv__registry *r)
{
        if (!r->watch)
                return;
        /* Off the loop's descriptor table now, before inotify_fd can be closed. */
        uv_close((uv_handle_t *)r->watch, watch_closed);
        r->watch = NULL;
}

void shmv__registry_set_loop(shmv__registry *r, uv_loop_t *loop, uint64_t async_min)
{
        r->loop = loop;
        r->free_async_min = async_min;
        shmv__registry_unwatch(r);
        if (!loop || r->inotify_fd < 0)
                return;
        /* A freed segment that clients still hold keeps its memfd open here until they let
         * go: read then, so that its pages go at once (docs/design.md). Unreferenced: it keeps
         * no loop running by itself. */
        uv_poll_t *w = malloc(sizeof(*w));
        int e = w ? uv_poll_init(loop, w, r->inotify_fd) : UV_ENOMEM;
        if (e < 0) {
                free(w);
        } else {
                w->data = r;
                e = uv_poll_start(w, UV_READABLE, on_watch);
                if (e < 0)
                        uv_close((uv_handle_t *)w, watch_closed);
                else
                        uv_unref((uv_handle_t *)w);
        }
        if (e < 0)
                log_warning("watching for freed segments let go: %s; they are seen when the "
                            "budget is looked at",
                            uv_strerror(e));
        else
                r->watch = w;
}

unsigned shmv__registry_closing(const shmv__registry *r)
{
        return r->nclosing;
}

uint64_t shmv__registry_page_size(const shmv__registry *r)
{
        return r->page_size;
}

void shmv__registry_stopping(shmv__registry *r)
{
        r->stopping = true;
}

bool shmv__registry_is_stopping(const shmv__registry *r)
{
        return r->stopping;
}

uint64_t shmv__registry_armed(const shmv__registry *r)
{
        return r->armed_views;
}

void shmv__registry_armed_add(shmv__registry *r, int delta)
{
        r->armed_views += (uint64_t)(int64_t)delta;
}

uint64_t shmv__registry_bytes_used(shmv__registry *r)
{
        held_update(r);
        return r->bytes_used;
}

/* Whole pages: the kernel holds at least one for every segment, however small, and the last
 * one whole. Saturates (at a page multiple) for sizes no memory holds, which the limits and
 * memory_check refuse. */
uint64_t shmv__registry_charge(const shmv__registry *r, uint64_t size)
{
        uint64_t mask = r->page_size - 1;
        if (size > UINT64_MAX - mask)
                return UINT64_MAX & ~mask;
        return (size + mask) & ~mask;
}

typedef struct seal_job seal_job;

/* What the live segments of one owner hold, and the seals of them waiting for their turn
 * (shmv__segment_seal_start). */
typedef struct uid_usage {
        uint64_t bytes;
        uint32_t segments;
        bool sealing; /* a seal of one of its segments is on the threadpool */
        seal_job *seal_head; /* seals of its segments waiting for that one, in order */
        seal_job *seal_tail;
} uid_usage;

uint64_t shmv__registry_uid_bytes(const shmv__registry *r, uid_t uid)
{
        const uid_usage *u = g_hash_table_lookup(r->uid_bytes, GUINT_TO_POINTER(uid));
        return u ? u->bytes : 0;
}

bool shmv__uid_limited(uid_t uid)
{
        return uid != 0 && uid != geteuid();
}

static uint32_t uid_segments(const shmv__registry *r, uid_t uid)
{
        const uid_usage *u = g_hash_table_lookup(r->uid_bytes, GUINT_TO_POINTER(uid));
        return u ? u->segments : 0;
}

/* One segment charged size bytes less for uid. */
static void uid_bytes_sub(shmv__registry *r, uid_t uid, uint64_t size)
{
        uid_usage *u = g_hash_table_lookup(r->uid_bytes, GUINT_TO_POINTER(uid));
        assert(u && u->bytes >= size && u->segments > 0);
        u->bytes -= size;
        if (--u->segments == 0)
                g_hash_table_remove(r->uid_bytes, GUINT_TO_POINTER(uid));
}

/* One segment charged size bytes more for uid. */
static int uid_bytes_add(shmv__registry *r, uid_t uid, uint64_t size)
{
        uid_usage *u = g_hash_table_lookup(r->uid_bytes, GUINT_TO_POINTER(uid));
        if (!u) {
                u = calloc(1, sizeof(*u));
                if (!u)
                        return -ENOMEM;
                g_hash_table_insert(r->uid_bytes, GUINT_TO_POINTER(uid), u);
        }
        u->bytes += size;
        u->segments++;
        return 0;
}

void shmv__segment_ref(shmv__segment *s)
{
        assert(s->refs > 0);
        s->refs++;
}

/* The threads of libuv's threadpool reserve and free pages at the lowest priority, nice 19.
 * On a CPU they share with the loop thread (a daemon pinned to one, a busy machine) the loop
 * then preempts them as soon as a request comes, instead of waiting out the scheduler's slice
 * (the figures are in docs/performance.md, "Where the time goes, and what was changed"). The
 * threads do nothing else, and raising one's own nice value needs no privilege; should it
 * fail, nothing else changes. */
void shmv__worker_lower_priority(void)
{
        static _Thread_local bool lowered;
        if (lowered)
                return;
        lowered = true;
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
}

/* The last close of a segment's memfd, on the threadpool. */
typedef struct close_job {
        uv_work_t work;
        shmv__registry *registry;
        int fd;
        uint64_t freeing; /* in r->freeing until the close has run */
} close_job;

/* The kernel frees the pages here, in the last close(), in time that grows with the size. */
static void close_work(uv_work_t *work)
{
        shmv__worker_lower_priority();
        close_job *job = work->data;
        close(job->fd);
}

static void close_done(uv_work_t *work, int status)
{
        close_job *job = work->data;
        /* Nothing cancels it; were it cancelled, it would not have run. */
        if (status == UV_ECANCELED)
                close(job->fd);
        job->registry->freeing -= job->freeing;
        job->registry->nclosing--;
        free(job);
}

/* Closes a freed segment's memfd: a large one's on the threadpool, so that the loop serves
 * other clients while the kernel frees its pages; a small one's here, since below
 * free_async_min the hop to a thread and back costs more than the close (docs/performance.md).
 * The descriptor stays open, so its number is not reused, until the job has run. Its charge
 * counts in r->freeing meanwhile when freeing (no longer charged, not yet back). */
static void segment_close_fd(shmv__registry *r, int fd, uint64_t charge, bool freeing)
{
        if (r->loop && charge >= r->free_async_min) {
                close_job *job = malloc(sizeof(*job));
                if (job) {
                        *job = (close_job){
                                .registry = r, .fd = fd, .freeing = freeing ? charge : 0};
                        job->work.data = job;
                        if (uv_queue_work(r->loop, &job->work, close_work, close_done) == 0) {
                                r->freeing += job->freeing;
                                r->nclosing++;
                                return;
                        }
                        free(job);
                }
        }
        close(fd);
}

/* A segment's charge and count leave the budget. */
static void uncharge(shmv__registry *r, uid_t uid, uint64_t charge)
{
        r->bytes_used -= charge;
        uid_bytes_sub(r, uid, charge);
        r->nsegments--;
}

/* The inotify path of a descriptor of the daemon's. */
static void fd_path(char *buf, size_t size, int fd)
{
        snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* The last description handed out of h's segment has been seen closed: no client holds it. */
static bool held_let_go(const held_out *h)
{
        return (!h->had_rw || h->closed_rw) && (!h->had_ro || h->closed_ro);
}

/* h's segment is no longer held by any client: its charge leaves the budget and, when the
 * daemon still had its memfd open, the memfd goes the way of any freed segment's (the bytes in
 * r->freeing until the close has run). */
static void held_end(shmv__registry *r, int wd, held_out *h)
{
        log_debug("a freed segment of uid %u let go by its last holder, %" PRIu64 " bytes returned",
                  (unsigned)h->uid, h->charge);
        uncharge(r, h->uid, h->charge);
        if (h->fd >= 0) {
                inotify_rm_watch(r->inotify_fd, wd);
                segment_close_fd(r, h->fd, h->charge, true);
        }
        g_hash_table_remove(r->held, GINT_TO_POINTER(wd));
}

/* Stops counting on close events for h, whose memfd the daemon still has open (after events
 * were lost, which may have been closes): the memfd is closed and the watch narrowed to its
 * end, IN_IGNORED, as for an adopted segment. */
static void held_until_ignored(shmv__registry *r, held_out *h)
{
        char proc[64];
        fd_path(proc, sizeof(proc), h->fd);
        (void)inotify_add_watch(r->inotify_fd, proc, IN_DELETE_SELF);
        segment_close_fd(r, h->fd, h->charge, false);
        h->fd = -1;
}

/* After events were lost: a held segment whose memfd the daemon has open waits for IN_IGNORED
 * from now on (held_until_ignored), and so will the one segment_held_outside looks at; then the
 * watches the kernel still has are read from the inotify descriptor's fdinfo ("inotify wd:HEX
 * ..."), and every held segment whose watch is gone is gone too. */
static void held_recover(shmv__registry *r)
{
        GHashTableIter it;
        gpointer key, value;
        g_hash_table_iter_init(&it, r->held);
        while (g_hash_table_iter_next(&it, &key, &value)) {
                held_out *h = value;
                if (h->deciding)
                        h->lost = true;
                else if (h->fd >= 0)
                        held_until_ignored(r, h);
        }
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", r->inotify_fd);
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        GHashTable *live = g_hash_table_new(g_direct_hash, g_direct_equal);
        char line[512];
        while (fgets(line, sizeof(line), f)) {
                unsigned wd;
                if (sscanf(line, "inotify wd:%x", &wd) == 1)
                        g_hash_table_add(live, GUINT_TO_POINTER(wd));
        }
        fclose(f);
        g_hash_table_iter_init(&it, r->held);
        while (g_hash_table_iter_next(&it, &key, &value)) {
                held_out *h = value;
                if (h->deciding || g_hash_table_contains(live, key))
                        continue;
                uncharge(r, h->uid, h->charge);
                g_hash_table_iter_remove(&it);
        }
        g_hash_table_destroy(live);
}

/* Reads what inotify has to say about held segments: the closes of the descriptions handed
 * out, and IN_IGNORED, which the kernel sends as a memfd goes (its last reference dropped, by
 * whoever dropped it). A held segment whose memfd the daemon keeps open ends with the last of
 * those closes, one whose memfd it closed with IN_IGNORED; its charge then leaves the budget.
 * Called when the inotify descriptor is readable (r->watch), and before anything reads the
 * budget, so that it is up to date when it matters. */
static void held_update(shmv__registry *r)
{
        if (r->inotify_fd < 0)
                return;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool lost = false;
        for (;;) {
                ssize_t n = read(r->inotify_fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *)p;
                        p += sizeof(*e) + e->len;
                        if (e->mask & IN_Q_OVERFLOW) {
                                lost = true;
                                continue;
                        }
                        held_out *h = g_hash_table_lookup(r->held, GINT_TO_POINTER(e->wd));
                        if (!h)
                                continue;
                        if (e->mask & IN_CLOSE_WRITE)
                                h->closed_rw = true;
                        if (e->mask & IN_CLOSE_NOWRITE)
                                h->closed_ro = true;
                        if (h->deciding)
                                continue;
                        if (h->fd >= 0 ? held_let_go(h) : (e->mask & IN_IGNORED) != 0)
                                held_end(r, e->wd, h);
                }
        }
        if (lost)
                held_recover(r);
}

/* Whether clients still hold descriptors of s, which the daemon is freeing: the read-write
 * and read-only descriptions it handed out (s->fd_rw, s->fd_ro), which it closes here. Closing
 * the last reference to a description, anywhere, makes the kernel send IN_CLOSE_WRITE or
 * IN_CLOSE_NOWRITE at once; no such event means a client still has it (a descriptor, a
 * mapping, or a reply in flight). s->fd, never handed out, keeps the pages meanwhile, so
 * these closes cost nothing. When held, s joins r->held with its charge and takes s->fd with
 * it: kept open, so that the closes inotify reports from then on are the clients' (the
 * charge leaves with the last one, held_update), whatever the order in which a client
 * releases its view and unmaps it. A segment adopted after a restart may have descriptions of
 * the last daemon out there, which cannot be told apart: it counts as held until its memfd
 * goes, its s->fd closed here and the watch narrowed to IN_IGNORED (so is one whose closes
 * were lost while it was looked at). Returns false when s is
 * not held, s->fd still the caller's. */
static bool segment_held_outside(shmv__registry *r, shmv__segment *s, uint64_t charge)
{
        bool had_rw = s->fd_rw >= 0, had_ro = s->fd_ro >= 0;
        int wd = -1;
        char proc[64];
        fd_path(proc, sizeof(proc), s->fd);
        if ((had_rw || had_ro || s->adopted) && r->inotify_fd >= 0) {
                wd = inotify_add_watch(r->inotify_fd, proc, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);
                if (wd < 0 && !r->watch_warned) {
                        r->watch_warned = true;
                        log_warning("watching freed segment %s: %m (fs.inotify.max_user_watches"
                                    "?); its bytes leave the budget though clients may hold it",
                                    s->name);
                }
        }
        held_out *h = NULL;
        if (wd >= 0) {
                held_update(r); /* nothing of an earlier watch with this number is left */
                h = calloc(1, sizeof(*h));
                if (h) {
                        *h = (held_out){.deciding = true, .fd = -1};
                        g_hash_table_replace(r->held, GINT_TO_POINTER(wd), h);
                }
        }
        if (had_rw)
                close(s->fd_rw);
        if (had_ro)
                close(s->fd_ro);
        s->fd_rw = s->fd_ro = -1;
        if (!h) {
                if (wd >= 0)
                        inotify_rm_watch(r->inotify_fd, wd);
                return false;
        }
        held_update(r);
        h->had_rw = had_rw;
        h->had_ro = had_ro;
        if (!s->adopted && held_let_go(h)) {
                g_hash_table_remove(r->held, GINT_TO_POINTER(wd));
                inotify_rm_watch(r->inotify_fd, wd);
                return false;
        }
        h->uid = s->uid;
        h->charge = charge;
        h->deciding = false;
        if (!s->adopted && !h->lost) {
                h->fd = s->fd;
                return true;
        }
        (void)inotify_add_watch(r->inotify_fd, proc, IN_DELETE_SELF);
        segment_close_fd(r, s->fd, charge, false);
        /* The holders may have gone between the look and the close. */
        held_update(r);
        return true;
}

void shmv__segment_unref(shmv__segment *s)
{
        if (!s)
                return;
        assert(s->refs > 0);
        if (--s->refs > 0)
                return;
        assert(!s->linked && !s->views);
        shmv__registry *r = s->registry;
        uint64_t charge = shmv__registry_charge(r, s->size);
        if (s->views_by_seq)
                g_tree_destroy(s->views_by_seq);
        /* Bytes handed out stay charged until the kernel frees them: a client that keeps a
         * descriptor after its view is released and the segment unlinked keeps the pages
         * (docs/security.md, "Memory held after unlink"). */
        if (segment_held_outside(r, s, charge)) {
                log_debug("segment %s freed, still held by clients: its %" PRIu64
                          " bytes stay charged to uid %u",
                          s->name, charge, (unsigned)s->uid);
                free(s);
                return;
        }
        log_debug("segment %s freed, %" PRIu64 " bytes returned", s->name, charge);
        /* Un-charged now, as the last reference goes, not when its pages are back: a client
         * that unlinks a segment and creates another in its place is answered as when the
         * close was here (memory_check counts the bytes still being freed as available). */
        uncharge(r, s->uid, charge);
        segment_close_fd(r, s->fd, charge, true);
        free(s);
}

/* Opens s's memfd again through /proc/self/fd with flags, once, into *slot. The inode is 0600
 * and the daemon's (see shmv__segment_create), so this reopen works for the daemon only. */
static int segment_reopen(shmv__segment *s, int *slot, int flags, const char *how)
{
        if (*slot >= 0)
                return *slot;
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", s->fd);
        int fd = open(proc, flags | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                log_warning("opening segment %s %s: %s", s->name, how, strerror(-r));
                return r;
        }
        *slot = fd;
        return fd;
}

int shmv__segment_fd_ro(shmv__segment *s)
{
        return segment_reopen(s, &s->fd_ro, O_RDONLY, "read-only");
}

int shmv__segment_fd_rw(shmv__segment *s)
{
        return segment_reopen(s, &s->fd_rw, O_RDWR, "read-write");
}

shmv__segment *shmv__segment_find(shmv__registry *r, const char *name)
{
        return g_tree_lookup(r->by_name, name);
}

/* Random rather than counted, so that no daemon, before or after a restart, with or without
 * the fd store, gives the same id to another segment. */
static uint64_t new_segment_id(void)
{
        uint64_t id;
        do
                id = (uint64_t)g_random_int() << 32 | g_random_int();
        while (id == 0);
        return id;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Does the memory the host and the cgroup have left hold a segment of size bytes, charged
 * pages (shmv__registry_charge), more? */
static const char *memory_check(shmv__registry *r, uint64_t size, uint64_t pages)
{
        /* The memfd holds the doorbell page too, after the last page (an off_t). */
        if (size > INT64_MAX - 2 * r->page_size)
                return "larger than any memory";
        /* Creates in progress will take theirs; what they reserved so far is counted twice,
         * which errs on the safe side for as long as they run. */
        uint64_t need = add_sat(pages, r->reserving);
        /* Segments being freed (segment_close_fds) will give theirs back, and no longer
         * count against max_bytes: a create that takes the place of one just unlinked is not
         * refused for pages the kernel is still returning. A free job queued before the
         * create's reservation starts no later on the threadpool (its queue is in order), and
         * freeing runs about twice as fast as reserving. */
        uint64_t avail;
        if (meminfo_available(&avail) == 0 && need > add_sat(avail, r->freeing))
                return "not that much memory available";
        if (need > add_sat(cgroup_available(&r->cgroup), r->freeing))
                return "the daemon's cgroup memory limit";
        return NULL;
}

static int errno_to_why(int err, const char **ret_why)
{
        switch (err) {
        case ENOSPC:
        case ENOMEM:
        case EFBIG:
                *ret_why = "cannot reserve the pages";
                break;
        case EMFILE:
        case ENFILE:
                *ret_why = "the daemon is out of file descriptors";
                break;
        default:
                *ret_why = "the segment cannot be allocated";
                break;
        }
        return -ENOSPC;
}

/* Whether shmem_enabled lets a MADV_HUGEPAGE mapping of a memfd have huge pages. */
static bool shmem_huge_allowed(void)
{
        char buf[256];
        if (read_small_file("/sys/kernel/mm/transparent_hugepage/shmem_enabled", buf, sizeof(buf)) <
            0)
                return false;
        return strstr(buf, "[advise]") || strstr(buf, "[within_size]") || strstr(buf, "[always]") ||
               strstr(buf, "[force]");
}

/* Whether the pages of a segment of size bytes are to be huge: asked for, at least one huge
 * page, and allowed by shmem_enabled. Decided on the loop thread, which logs once when the
 * system says no. */
static bool huge_wanted(uint64_t size, bool huge_pages)
{
        const uint64_t huge = UINT64_C(2) << 20;
        static bool told;
        if (!huge_pages || size < huge)
                return false;
        if (shmem_huge_allowed())
                return true;
        if (!told) {
                told = true;
                log_info("huge pages asked for, but /sys/kernel/mm/transparent_hugepage/"
                         "shmem_enabled allows none (advise does): normal pages");
        }
        return false;
}

/* Allocates every page of the memfd now, so that running out of memory is an error here and
 * not a SIGBUS in a client later. Returns 0 or an errno value. Runs on a worker thread for
 * large segments: it logs nothing and touches nothing but fd.
 *
 * fallocate() never asks for huge pages under shmem_enabled=advise, which is what huge_pages
 * needs: there the pages are faulted in through a mapping marked MADV_HUGEPAGE, over the
 * whole 2 MiB units of the segment (a huge page past the end would hold memory the budget
 * does not count). Faulting costs more than fallocate() for normal pages, hence only then. */
static int reserve_pages(int fd, uint64_t size, bool huge_pages)
{
        const uint64_t huge = UINT64_C(2) << 20;
        if (huge_pages && size <= SIZE_MAX) {
                void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (p != MAP_FAILED) {
                        int err;
                        (void)madvise(p, (size_t)(size & ~(huge - 1)), MADV_HUGEPAGE);
                        do
                                err = madvise(p, (size_t)size, MADV_POPULATE_WRITE) < 0 ? errno : 0;
                        while (err == EINTR);
                        munmap(p, (size_t)size);
                        /* EINVAL: a kernel before 5.14; fallocate() below does the job. */
                        if (err != EINVAL)
                                return err;
                }
        }
        int r;
        do
                r = fallocate(fd, 0, 0, (off_t)size);
        while (r < 0 && errno == EINTR);
        return r < 0 ? errno : 0;
}

int shmv__segment_create_begin(shmv__registry *r, const shmv__peer *peer, const char *name,
                               uint64_t size, uint32_t mode, bool huge_pages, shmv__segment **ret,
                               const char **ret_why)
{
        if (g_tree_lookup(r->by_name, name) || g_hash_table_contains(r->creating, name))
                return -EEXIST;
        held_update(r); /* what clients let go of since is back in the budget */
        if (r->nsegments >= r->config.max_segments) {
                *ret_why = "max_segments reached";
                return -ENOSPC;
        }
        /* Every limit counts whole pages; bytes_used may pass max_bytes after a restart with
         * lower limits (shmv__segment_adopt). */
        uint64_t charge = shmv__registry_charge(r, size);
        if (charge > r->config.max_bytes - MIN(r->config.max_bytes, r->bytes_used)) {
                *ret_why = "max_bytes would be passed";
                return -ENOSPC;
        }
        if (shmv__uid_limited(peer->uid)) {
                if (uid_segments(r, peer->uid) >= r->config.max_segments_per_uid) {
                        *ret_why = "max_segments_per_uid reached";
                        return -EDQUOT;
                }
                uint64_t used = shmv__registry_uid_bytes(r, peer->uid);
                if (charge > r->config.max_bytes_per_uid - MIN(r->config.max_bytes_per_uid, used)) {
                        *ret_why = "max_bytes_per_uid would be passed";
                        return -EDQUOT;
                }
        }
        const char *why = memory_check(r, size, charge);
        if (why) {
                *ret_why = why;
                return -ENOSPC;
        }

        size_t name_len = strlen(name);
        shmv__segment *s = calloc(1, sizeof(*s) + name_len + 1);
        if (!s) {
                *ret_why = "the daemon is out of memory";
                return -ENOSPC;
        }
        memcpy(s->name, name, name_len + 1);

        /* memfd names are at most 249 bytes; this one is only for /proc and debugging. */
        char mname[250];
        snprintf(mname, sizeof(mname), "shmview:%s", name);
        int fd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
        if (fd < 0 && errno == EINVAL) /* kernels before 6.3 */
                fd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        int r_err;
        if (fd < 0) {
                r_err = errno;
                log_warning("memfd_create for segment %s: %s", name, strerror(r_err));
                goto fail_free;
        }
        /* Only the daemon's uid may reopen it through /proc/PID/fd. */
        if (fchmod(fd, 0600) < 0 ||
            ftruncate(fd, (off_t)shmv__doorbell_memfd_size(size, r->page_size)) < 0) {
                r_err = errno;
                log_warning("sizing segment %s: %s", name, strerror(r_err));
                goto fail_close;
        }
        if (uid_bytes_add(r, peer->uid, charge) < 0) {
                r_err = ENOMEM;
                goto fail_close;
        }
        s->refs = 1; /* the registry's, once linked; the creator's until then */
        s->fd = fd;
        s->fd_ro = -1; /* at the first read-only open */
        s->fd_rw = -1; /* at the first writable open */
        s->uid = peer->uid;
        s->gid = peer->gid;
        s->mode = mode ? mode : 0600;
        s->size = size;
        s->doorbell_off = shmv__doorbell_offset(size, r->page_size);
        s->id = new_segment_id();
        s->store_slot = -1;
        s->registry = r;
        s->creating = true;
        s->huge = huge_wanted(size, huge_pages);
        g_hash_table_insert(r->creating, s->name, s);
        r->bytes_used += charge;
        r->nsegments++;
        r->reserving += charge;
        *ret = s;
        return 0;

fail_close:
        close(fd);
fail_free:
        free(s);
        return errno_to_why(r_err, ret_why);
}

/* The bytes of s's memfd: its own and its doorbell page. */
static uint64_t memfd_size(const shmv__segment *s)
{
        return s->doorbell_off ? s->doorbell_off + s->registry->page_size : s->size;
}

int shmv__segment_reserve(shmv__segment *s)
{
        return reserve_pages(s->fd, memfd_size(s), s->huge);
}

/* The create of s is over, done or undone: its name is no longer only reserved, and its
 * pages no longer counted as being reserved. */
static void creating_over(shmv__segment *s)
{
        shmv__registry *r = s->registry;
        g_hash_table_remove(r->creating, s->name);
        r->reserving -= shmv__registry_charge(r, s->size);
        s->creating = false;
}

/* A create that failed: its name, its charge and its memfd go (shmv__segment_unref returns the
 * charge, as for any segment freed). */
static void create_undo(shmv__segment *s)
{
        creating_over(s);
        shmv__segment_unref(s);
}

int shmv__segment_create_end(shmv__segment *s, int err, const char **ret_why)
{
        shmv__registry *r = s->registry;
        assert(s->creating);
        if (err != 0) {
                log_warning("reserving %" PRIu64 " bytes for segment %s: %s", s->size, s->name,
                            strerror(err));
                create_undo(s);
                return errno_to_why(err, ret_why);
        }
        if (fcntl(s->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
                err = errno;
                log_error("sealing the size of segment %s: %s", s->name, strerror(err));
                create_undo(s);
                return errno_to_why(err, ret_why);
        }
        /* Now, when it is whole: the next daemon adopts what is in the store, and a segment
         * the service manager cannot keep would be lost by a restart, so it is refused. */
        s->created_usec = shmv__now_usec();
        if (r->fdstore && shmv__fdstore_add(r->fdstore, s) < 0) {
                *ret_why = "the service manager's descriptor store refused it";
                create_undo(s);
                return -ENOSPC;
        }
        creating_over(s);
        s->linked = true;
        g_tree_insert(r->by_name, s->name, s);
        return 0;
}

int shmv__segment_create(shmv__registry *r, const shmv__peer *peer, const char *name, uint64_t size,
                         uint32_t mode, bool huge_pages, const char **ret_why)
{
        shmv__segment *s;
        int ret = shmv__segment_create_begin(r, peer, name, size, mode, huge_pages, &s, ret_why);
        if (ret < 0)
                return ret;
        return shmv__segment_create_end(s, shmv__segment_reserve(s), ret_why);
}

static bool owner_or_root(const shmv__segment *s, const shmv__peer *peer)
{
        return peer->uid == 0 || peer->uid == s->uid;
}

int shmv__segment_unlink(shmv__registry *r, const shmv__peer *peer, const char *name)
{
        shmv__segment *s = g_tree_lookup(r->by_name, name);
        if (!s)
                return -ENOENT;
        if (!owner_or_root(s, peer))
                return -EPERM;
        g_tree_remove(r->by_name, s->name);
        s->linked = false;
        /* Gone for good: a restart must not bring it back, even while views still map it. */
        if (r->fdstore)
                shmv__fdstore_remove(r->fdstore, s);
        shmv__segment_unref(s);
        return 0;
}

/* When F_SEAL_WRITE finds a page with references beyond the page cache's and the mappings'
 * (pinned by direct I/O, or spliced into a pipe with vmsplice, which keeps it after the
 * mapping is gone), the kernel (memfd_wait_for_pins, mm/memfd.c) sleeps 10, 20, 40 and 80 ms,
 * scanning again after each, then fails with EBUSY: 150 ms (one jiffy less per sleep at
 * worst). A writable mapping makes it fail at once. So an EBUSY that took this long was a
 * pin. */
#define SEAL_PIN_WAIT_MS 100

/* The kernel's part of a seal: the doorbell rung (its generation one more, its sealed word
 * set: a seal is a change, daemon/doorbell.c), F_SEAL_WRITE | F_SEAL_SEAL, then every page
 * reserved again if a writer punched any out while it could. size is the memfd's, in whole
 * pages; doorbell_off where its doorbell page starts (0: none). Touches nothing but fd, so it
 * runs on a worker thread, and logs nothing: *ret_err gets the errno worth a log line, or 0.
 * Returns 0, -EBUSY (*ret_why says why), -ENOLCK (a writer added F_SEAL_SEAL alone) or
 * -EPERM. */
static int seal_pages(int fd, uint64_t size, uint64_t doorbell_off, uint64_t page,
                      const char **ret_why, int *ret_err)
{
        *ret_err = 0;
        /* Before the seal, which freezes the doorbell page with the rest. */
        if (doorbell_off)
                shmv__doorbell_seal_ring(fd, doorbell_off, page);
        uint64_t t0 = shmv__mono_usec();
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                int err = errno;
                uint64_t ms = (shmv__mono_usec() - t0) / 1000;
                if (err == EBUSY) {
                        *ret_why = ms >= SEAL_PIN_WAIT_MS
                                           ? "pages of it are pinned by a process that holds or "
                                             "held it, a reader as well as a writer (spliced "
                                             "into a pipe, or under direct I/O)"
                                           : "writable mappings still exist";
                        return -EBUSY;
                }
                /* A holder of the read-write descriptor sealed it itself: with F_SEAL_WRITE
                 * it is as good as sealed, with F_SEAL_SEAL alone it can never be. */
                int seals = fcntl(fd, F_GET_SEALS);
                if (err != EPERM || seals < 0) {
                        *ret_err = err;
                        return -EPERM;
                }
                if (!(seals & F_SEAL_WRITE))
                        return -ENOLCK;
        }
        /* A writer may have punched holes (fallocate, MADV_REMOVE) while it could write; now
         * that nobody can, give every page back its reservation, for good. Only then: going
         * over every page of a reserved segment again takes time that grows with its size
         * (docs/design.md, "Sealing a segment"). The kernel counts a memfd's pages in
         * st_blocks (512-byte units) whether in memory or in swap. */
        struct stat st;
        if (fstat(fd, &st) == 0 && (uint64_t)st.st_blocks * 512 >= size)
                return 0;
        int fr;
        do
                fr = fallocate(fd, 0, 0, (off_t)size);
        while (fr < 0 && errno == EINTR);
        if (fr < 0)
                *ret_err = errno;
        return 0;
}

/* What a seal leaves behind, on the loop thread. */
static int seal_finish(shmv__segment *s, int r, int err)
{
        if (r == 0)
                s->sealed = true;
        /* Waiters wake to the seal, or to its sealed word cleared again. */
        shmv__doorbell_seal_end(s);
        if (r == -EPERM && err)
                log_warning("sealing segment %s: %s", s->name, strerror(err));
        else if (r == 0 && err)
                log_warning("reserving the pages of sealed segment %s again: %s", s->name,
                            strerror(err));
        return r;
}

/* The checks made before any seal, on the loop thread: 1 when the kernel is to be asked. */
static int seal_check(shmv__registry *r, const shmv__peer *peer, const char *name,
                      shmv__segment **ret, const char **ret_why)
{
        shmv__segment *s = g_tree_lookup(r->by_name, name);
        if (!s)
                return -ENOENT;
        if (!owner_or_root(s, peer))
                return -EPERM;
        if (s->sealed)
                return 0;
        if (s->views_rw > 0) {
                *ret_why = "writable views are open";
                return -EBUSY;
        }
        *ret = s;
        return 1;
}

int shmv__segment_seal(shmv__registry *r, const shmv__peer *peer, const char *name,
                       const char **ret_why)
{
        shmv__segment *s;
        int ret = seal_check(r, peer, name, &s, ret_why);
        if (ret <= 0)
                return ret;
        int err;
        ret = seal_pages(s->fd, shmv__registry_charge(r, memfd_size(s)), s->doorbell_off,
                         r->page_size, ret_why, &err);
        return seal_finish(s, ret, err);
}

/* A seal on the threadpool. */
struct seal_job {
        uv_work_t work;
        shmv__segment *segment; /* referenced until the job ends */
        shmv__seal_cb cb;
        void *data;
        int ret;
        int err;
        const char *why;
        seal_job *next; /* in its owner's queue, while it waits */
};

static void seal_work(uv_work_t *work)
{
        shmv__worker_lower_priority();
        seal_job *job = work->data;
        shmv__segment *s = job->segment;
        job->ret = seal_pages(s->fd, shmv__registry_charge(s->registry, memfd_size(s)),
                              s->doorbell_off, s->registry->page_size, &job->why, &job->err);
}

static void seal_done(uv_work_t *work, int status);

/* Starts the next seal of u's segments unless one is on the threadpool already. */
static void seal_next(shmv__registry *r, uid_usage *u)
{
        seal_job *job = u->seal_head;
        if (u->sealing || !job)
                return;
        u->seal_head = job->next;
        if (!u->seal_head)
                u->seal_tail = NULL;
        u->sealing = true;
        job->work.data = job;
        int q = uv_queue_work(r->loop, &job->work, seal_work, seal_done);
        assert(q == 0); /* fails only for a missing callback */
        (void)q;
}

static void seal_done(uv_work_t *work, int status)
{
        seal_job *job = work->data;
        shmv__segment *s = job->segment;
        shmv__registry *r = s->registry;
        /* UV_ECANCELED would mean the job never ran; nothing cancels it. */
        int ret = status < 0 ? -EPERM : seal_finish(s, job->ret, job->err);
        s->sealing--;
        uid_usage *u = g_hash_table_lookup(r->uid_bytes, GUINT_TO_POINTER(s->uid));
        assert(u && u->sealing); /* s, still referenced, is one of its segments */
        u->sealing = false;
        seal_next(r, u);
        job->cb(job->data, ret, job->why);
        shmv__segment_unref(s);
        free(job);
}

int shmv__segment_seal_start(shmv__registry *r, const shmv__peer *peer, const char *name,
                             shmv__seal_cb cb, void *data, const char **ret_why)
{
        if (!r->loop)
                return shmv__segment_seal(r, peer, name, ret_why);
        shmv__segment *s;
        int ret = seal_check(r, peer, name, &s, ret_why);
        if (ret <= 0)
                return ret;
        seal_job *job = calloc(1, sizeof(*job));
        if (!job)
                return -ENOMEM;
        *job = (seal_job){.segment = s, .cb = cb, .data = data};
        shmv__segment_ref(s);
        s->sealing++;
        uid_usage *u = g_hash_table_lookup(r->uid_bytes, GUINT_TO_POINTER(s->uid));
        assert(u);
        if (u->seal_tail)
                u->seal_tail->next = job;
        else
                u->seal_head = job;
        u->seal_tail = job;
        seal_next(r, u);
        return 1;
}

bool shmv__segment_write_sealed(shmv__segment *s)
{
        if (s->sealed)
                return true;
        int seals = fcntl(s->fd, F_GET_SEALS);
        if (seals < 0 || !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
                return false;
        if (seals & F_SEAL_WRITE)
                s->sealed = true;
        return true;
}

static bool peer_in_group(const shmv__peer *peer, gid_t gid)
{
        if (peer->gid == gid)
                return true;
        for (unsigned i = 0; i < peer->ngroups; i++)
                if (peer->groups[i] == gid)
                        return true;
        return false;
}

int shmv__segment_check_access(const shmv__segment *s, const shmv__peer *peer, bool writable)
{
        /* Like a file on a read-only mount: no write access whatever the bits and the uid. */
        if (writable && s->sealed)
                return -EPERM;
        /* Nor while a seal may make it so: the kernel refuses writable mappings meanwhile. */
        if (writable && s->sealing)
                return -EBUSY;
        if (peer->uid == 0)
                return 0;
        unsigned bits;
        if (peer->uid == s->uid)
                bits = (s->mode >> 6) & 7;
        else if (peer_in_group(peer, s->gid))
                bits = (s->mode >> 3) & 7;
        else
                bits = s->mode & 7;
        unsigned need = writable ? 6 : 4;
        return (bits & need) == need ? 0 : -EACCES;
}

size_t shmv__segment_list(shmv__registry *r, const char *after, shmv__segment **out, size_t max,
                          bool *ret_more)
{
        GTreeNode *node = after && *after ? g_tree_upper_bound(r->by_name, after)
                                          : g_tree_node_first(r->by_name);
        size_t n = 0;
        for (; node && n < max; node = g_tree_node_next(node))
                out[n++] = g_tree_node_value(node);
        *ret_more = node != NULL;
        return n;
}

int shmv__view_table_init(shmv__view_table *t)
{
        t->by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
        t->next_id = 1;
        return 0;
}

static void view_free(shmv__view *v)
{
        shmv__segment *s = v->segment;
        if (v->armed)
                shmv__doorbell_disarm(v);
        if (v->seg_prev)
                v->seg_prev->seg_next = v->seg_next;
        else
                s->views = v->seg_next;
        if (v->seg_next)
                v->seg_next->seg_prev = v->seg_prev;
        g_tree_remove(s->views_by_seq, &v->seq);
        if (v->writable)
                s->views_rw--;
        else
                s->views_ro--;
        free(v);
        shmv__segment_unref(s);
}

void shmv__view_table_done(shmv__view_table *t)
{
        if (!t->by_id)
                return;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, t->by_id);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                g_hash_table_iter_steal(&it);
                if (t->uid_views)
                        --*t->uid_views;
                shmv__view *v = value;
                /* A writer that went may have grown the generation and not woken anyone. */
                if (v->writable)
                        shmv__doorbell_writer_gone(v->segment);
                if (v->armed)
                        t->armed--;
                view_free(v);
        }
        g_hash_table_destroy(t->by_id);
        t->by_id = NULL;
}

unsigned shmv__view_table_count(const shmv__view_table *t)
{
        return g_hash_table_size(t->by_id);
}

int shmv__view_open(shmv__view_table *t, shmv__segment *s, void *owner, uint64_t offset,
                    uint64_t length, bool writable, shmv__view **ret)
{
        shmv__view *v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->id = t->next_id++;
        v->segment = s;
        v->owner = owner;
        v->offset = offset;
        v->length = length;
        v->writable = writable;
        v->seq = ++s->registry->view_seq;
        if (!s->views_by_seq)
                s->views_by_seq = g_tree_new(seq_cmp);
        g_tree_insert(s->views_by_seq, &v->seq, v);
        v->seg_next = s->views;
        if (s->views)
                s->views->seg_prev = v;
        s->views = v;
        if (writable)
                s->views_rw++;
        else
                s->views_ro++;
        shmv__segment_ref(s);
        g_hash_table_insert(t->by_id, &v->id, v);
        t->bytes += length;
        if (t->uid_views)
                ++*t->uid_views;
        *ret = v;
        return 0;
}

shmv__view *shmv__view_find(shmv__view_table *t, uint64_t id)
{
        return g_hash_table_lookup(t->by_id, &id);
}

bool shmv__view_release(shmv__view_table *t, uint64_t id)
{
        shmv__view *v = g_hash_table_lookup(t->by_id, &id);
        if (!v)
                return false;
        g_hash_table_remove(t->by_id, &id);
        t->bytes -= v->length;
        if (v->armed)
                t->armed--;
        if (t->uid_views)
                --*t->uid_views;
        view_free(v);
        return true;
}

size_t shmv__segment_views(shmv__segment *s, uint64_t after, shmv__view **out, size_t max,
                           bool *ret_more)
{
        size_t n = 0;
        GTreeNode *node = s->views_by_seq ? g_tree_upper_bound(s->views_by_seq, &after) : NULL;
        for (; node && n < max; node = g_tree_node_next(node))
                out[n++] = g_tree_node_value(node);
        *ret_more = node != NULL;
        return n;
}

void shmv__registry_counts(shmv__registry *r, uint32_t *ret_linked, uint32_t *ret_live)
{
        held_update(r);
        *ret_linked = (uint32_t)g_tree_nnodes(r->by_name);
        *ret_live = r->nsegments - g_hash_table_size(r->creating);
}

void shmv__registry_set_fdstore(shmv__registry *r, shmv__fdstore *st)
{
        r->fdstore = st;
}

int shmv__segment_adopt(shmv__registry *r, int fd, const shmv__segment_meta *meta,
                        const char **ret_why)
{
        struct stat st;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fstat(fd, &st) < 0) {
                *ret_why = "not an open file";
                return -EINVAL;
        }
        if (!S_ISREG(st.st_mode) || (fl & O_ACCMODE) != O_RDWR) {
                *ret_why = "not a read-write memfd";
                return -EINVAL;
        }
        int seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
                *ret_why = "its size is not sealed";
                return -EINVAL;
        }
        /* Its bytes and its doorbell page; or, kept by a daemon from before doorbells, its
         * bytes alone (daemon/doorbell.c answers ENOTSUP for those). */
        bool doorbell = meta->size > 0 && meta->size <= INT64_MAX - 2 * r->page_size &&
                        st.st_size >= 0 &&
                        (uint64_t)st.st_size == shmv__doorbell_memfd_size(meta->size, r->page_size);
        if (meta->size == 0 || st.st_size < 0 ||
            ((uint64_t)st.st_size != meta->size && !doorbell)) {
                *ret_why = "its size is not the recorded one";
                return -EINVAL;
        }
        if (g_tree_lookup(r->by_name, meta->name)) {
                *ret_why = "another segment has its name";
                return -EEXIST;
        }

        size_t name_len = strlen(meta->name);
        shmv__segment *s = calloc(1, sizeof(*s) + name_len + 1);
        if (!s) {
                *ret_why = "out of memory";
                return -ENOMEM;
        }
        memcpy(s->name, meta->name, name_len + 1);
        uint64_t charge = shmv__registry_charge(r, meta->size);
        if (uid_bytes_add(r, meta->uid, charge) < 0) {
                free(s);
                *ret_why = "out of memory";
                return -ENOMEM;
        }
        s->refs = 1; /* the registry's */
        s->fd = fd;
        s->fd_ro = -1; /* at the first read-only open */
        s->fd_rw = -1; /* at the first writable open */
        s->adopted = true;
        s->uid = meta->uid;
        s->gid = meta->gid;
        s->mode = meta->mode;
        s->size = meta->size;
        s->doorbell_off = doorbell ? shmv__doorbell_offset(meta->size, r->page_size) : 0;
        s->created_usec = meta->created_usec;
        s->sealed = (seals & F_SEAL_WRITE) != 0;
        s->id = meta->id;
        s->store_slot = meta->store_slot;
        s->registry = r;
        s->linked = true;
        shmv__doorbell_adopted(s);
        g_tree_insert(r->by_name, s->name, s);
        /* Over the limits if this daemon has lower ones than the last: served all the same,
         * since refusing would destroy data; creates fail until there is room again. */
        r->bytes_used += charge;
        r->nsegments++;
        return 0;
}
